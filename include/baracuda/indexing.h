/* baracuda — indexing family: gather, index_select, embedding (forward and backward), scatter
 * (store, sum, prod, amax, amin, mean; include_self or not), index_add, masked_fill, one_hot,
 * index_put, masked_select, nonzero, embedding_bag (forward and backward).
 *
 * Operands are brc_tensor_desc of rank 0..8 (the ops below say which ranks) with any strides
 * (negative included; stride 0 broadcasts an input; an output must not overlap itself). Indices
 * are i32 or i64; masks are u8 or bool (nonzero is true). dim follows PyTorch: -rank <= dim <
 * rank, negative counting from the end.
 *
 *   kind                operands                                  semantics (PyTorch name)
 *   gather              x [r dims], index [r], y = index's shape  y[i] = x[i with i_dim := index[i]];
 *                                                                 index.shape[d] <= x.shape[d] for d != dim
 *                                                                 (torch.gather)
 *   index_select        x [r], index [1], y = x's shape with      y[i] = x[i with i_dim := index[i_dim]]
 *                       shape[dim] = len(index)                   (torch.index_select)
 *   embedding           x = weight [V, D], index [any, rank<=7],  y[i, :] = weight[index[i], :]
 *                       y = index.shape + [D]                     (F.embedding; padding_idx changes only
 *                                                                 the backward)
 *   scatter             y (self, updated in place) [r], index [r], y[i with i_dim := index[i]] op= src[i] for i
 *                       src [r] (index.shape[d] <= src.shape[d],  over index's shape; op: reduce (none: store;
 *                       and <= y.shape[d] for d != dim)           sum prod amax amin: include_self = True)
 *                                                                 (Tensor.scatter_, scatter_add_, scatter_reduce_)
 *   index_add           y (self, in place) [r], index [1], src =  y[i with i_dim := index[i_dim]] += value * src[i]
 *                       y's shape with shape[dim] = len(index)    (Tensor.index_add_ with alpha = value; value
 *                                                                 is used as given: 0 adds nothing)
 *   embedding_backward  src = dy [index.shape + [D]], index,      dweight (every element written) = the sum of
 *                       y = dweight [V, D]                        dy rows over the positions of each index;
 *                                                                 rows of padding_idx (use_padding_idx = 1) are 0
 *   masked_fill         x, index = mask (u8 / bool), y (all one   y = mask ? value : x (value converted to y's
 *                       shape; broadcast the mask by stride 0)    dtype by the cast rules) (Tensor.masked_fill)
 *   one_hot             index [rank <= 7], y = index.shape + [C]  y[i, c] = (index[i] == c) (F.one_hot with
 *                       (C = num_classes >= 1)                    num_classes given; y any non-fp8 dtype)
 *   index_put           y (self, in place) [r], indices[0..m)     y[k_0[b], .., k_{m-1}[b], t] = src[b, t], or +=
 *                       (1 <= m <= min(4, r); one shape B, one    with accumulate = 1 (Tensor.index_put_ with a
 *                       dtype: broadcast them by stride 0), src   tuple of index tensors on the leading dims;
 *                       = B + y.shape[m:] (broadcast by stride 0) bool masks: run nonzero first)
 *   masked_select       x [r], index = mask (u8 / bool, x's       y[0 .. count) = x[mask] in row-major order;
 *                       shape; broadcast by stride 0), y 1-D of   count (a device int64) = the number selected;
 *                       >= numel(x) (the worst case)              y[count ..] is not written (torch.masked_select)
 *   nonzero             x [r] (any dtype; -0.0 is zero, NaN is    y[j, :] = the coordinates of the j-th nonzero of
 *                       not), y [>= numel(x), r] i32 or i64       x in row-major order, j < count (device int64);
 *                                                                 later rows not written (torch.nonzero)
 *   embedding_bag       x = weight [V, D], index [B, L] (bags of  y[b, :] = sum / mean / max of weight rows of the
 *                       L) or [N] + offsets [B] (or [B + 1] with  bag's positions (F.embedding_bag; mode, per
 *                       include_last_offset), y [B, D],           sample weights (sum), padding_idx: those positions
 *                       per_sample_weights (index's shape)        do not count). Empty bags give 0. max also writes
 *                                                                 argmax (dense [B, D], the index dtype): the row
 *                                                                 chosen, the first of ties (a later row must be
 *                                                                 strictly greater, so a NaN wins only first, as in
 *                                                                 torch's CUDA kernel), -1 for an empty bag
 *   embedding_bag_      src = dy [B, D], index / offsets /        dweight (every element written) = the sum over
 *     backward          per_sample_weights / mode as the forward, positions of dy[bag] (times the weight; mean:
 *                       y = dweight [V, D]; max: argmax of the    divided by the bag's count); max: dy[b, c] goes to
 *                       forward                                   dweight[argmax[b, c], c]. padding_idx rows are 0
 *
 * scatter extras: reduce mean (scatter_reduce 'mean': the sum over self, if included, and the
 * updates, divided by their number; positions without updates keep self), and exclude_self = 1
 * (include_self = False: a position with updates starts from the reduction's identity instead of
 * self: 0, 1, -inf, +inf). Counts go through the workspace (4 bytes an element of y's span).
 * Offsets of embedding_bag are clamped to [0, N] (ones outside it or decreasing set err); a
 * position whose index is out of range does not count.
 *
 * Dtypes: gather, index_select, embedding, scatter (reduce none), masked_fill, index_put
 * (store) and masked_select move any dtype (copies are by element size); nonzero reads any
 * dtype. scatter with a reduction, index_add and index_put (accumulate): f32 f64 f16 bf16 i32
 * i64 (scatter mean: f32 f64 f16 bf16). embedding_backward and embedding_bag(_backward): f32 f64
 * f16 bf16. index_add, index_put and the scatter reductions compute in f32 for halves (each
 * atomic update rounds to the dtype; on sm_90 the vector reductions of rows also round the
 * addend to the dtype first); embedding_bag accumulates in f32 (f64 for f64).
 *
 * Out-of-range indices (checked for every op, never undefined): an index outside [0, size of
 * the indexed dim) — negative ones included (normalize Python-style negatives first) — never
 * touches memory. gather, index_select and embedding write 0 for that element; scatter,
 * index_add, index_put and embedding_backward drop it; one_hot writes a row of zeros;
 * embedding_bag leaves the position out of its bag. When the run is given err (a device int32, 4-byte aligned),
 * the kernel stores 1 there (it never clears it: zero it before the run, read it when
 * convenient — a capture-safe, synchronization-free status).
 *
 * Collisions and determinism. Plans whose result may depend on the order of colliding writes
 * say so: brc_index_plan_deterministic(plan) == 0 and the SKU ends in "+atomic":
 *  - scatter with reduce none: where several elements of src go to one position, one of them
 *    is stored; which one is not defined (as on any GPU).
 *  - scatter sum / prod, index_add (f32 f64 f16 bf16): atomic updates in an unspecified order,
 *    so the float rounding differs from run to run. Integer sums, amax and amin give the same
 *    value in any order (deterministic = 1). amax / amin propagate NaN.
 *  - embedding_backward is deterministic by default: for each vocabulary row the positions are
 *    summed in ascending order (a CTA owns 64 rows and reads the whole index once; halves
 *    accumulate in f32). atomic = 1 takes zero-fill plus atomic adds instead (faster for a large
 *    vocabulary and few positions; non-deterministic; halves round at every add).
 *  - scatter mean (floats) is atomic (flagged); index_put with accumulate = 0 stores one of the
 *    colliding values (flagged), with accumulate = 1 adds atomically (floats flagged). f32
 *    accumulate of whole rows (layout=sorted) sorts the positions by target row with a counting
 *    sort (atomic slots, so the order of a row's addends varies: flagged) and adds each row's
 *    sum, accumulated in f32, to y once.
 *  - embedding_bag_backward sum / mean: deterministic (the same owner-rows walk, in ascending
 *    position order); max: zero fill + atomic adds through the argmax (flagged).
 *  - masked_select, nonzero, embedding_bag: deterministic (no atomics; compaction by a two-pass
 *    tile scan).
 *
 * Specialization (docs/indexing.md). The iteration space (y's shape for gather-like ops, src's
 * or index's for scatter-like ones) is merged where every operand nests; then
 *  - rows: its innermost dim is contiguous in the value operands and the index is constant
 *    along it (index_select / embedding / index_add of whole rows): a group of threads copies a
 *    row with 16-byte vectors (VEC elements; the vector path is taken when the pointers are
 *    aligned), the index read once a row;
 *  - band (gather along dim 0 of a matrix: two merged dims, x, index and y unit-stride along the
 *    inner one): 16 x 128 tiles walked by column bands whose part of x fits L2 (6 MiB), so the
 *    random rows' sectors are read from DRAM about once; the result does not depend on the walk;
 *  - generic: one element a thread, coordinates from the merged dims (32-bit index math when
 *    every offset fits);
 *  - sorted (index_put, f32, accumulate = 1, rows): counting sort of the positions by target row
 *    (R buckets = the product of the indexed dims, taken when R <= 4 x positions + 65536), then
 *    TPR threads sum a bucket's src rows and write the target row once.
 * SKU: bespoke:index<index_select,bf16,i64,rows,vec=8,tpr=64>@sm_90 (+atomic where it applies).
 * Canonical descriptors: index(op=gather,dtype=f32,index=i64,layout=generic,ix=32),
 * index(op=gather,dtype=bf16,index=i64,layout=band),
 * index(op=embedding,dtype=bf16,index=i32,layout=rows,vec=8,tpr=256),
 * index(op=scatter,dtype=f32,index=i64,reduce=sum,layout=generic,ix=64),
 * index(op=embedding_backward,dtype=f32,index=i64,atomic=0),
 * index(op=scatter,dtype=bf16,index=i64,reduce=mean,self=0,layout=generic,ix=32),
 * index(op=index_put,dtype=f32,index=i64,accumulate=1,layout=rows,vec=4,tpr=64),
 * index(op=index_put,dtype=f32,index=i64,accumulate=1,layout=sorted,vec=4,tpr=256),
 * index(op=masked_select,dtype=f32), index(op=nonzero,dtype=f32,index=i64),
 * index(op=embedding_bag,dtype=bf16,index=i64,mode=sum,layout=rows,vec=8,tpr=128),
 * index(op=embedding_bag_backward,dtype=f32,index=i64,mode=mean).
 *
 * Running never allocates, never synchronizes and is safe under stream capture (masked_select and
 * nonzero write their count to device memory: a captured graph replays with the data's count).
 *
 * Added in 0.2.0; index_put, masked_select, nonzero, embedding_bag(_backward), scatter mean and
 * exclude_self, brc_index_run_args in 0.3.0.
 */
#ifndef BARACUDA_INDEXING_H
#define BARACUDA_INDEXING_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_INDEX_KINDS(X)                                                                       \
    X(GATHER, gather, 0)                                                                         \
    X(INDEX_SELECT, index_select, 1)                                                             \
    X(EMBEDDING, embedding, 2)                                                                   \
    X(SCATTER, scatter, 3)                                                                       \
    X(INDEX_ADD, index_add, 4)                                                                   \
    X(EMBEDDING_BACKWARD, embedding_backward, 5)                                                 \
    X(MASKED_FILL, masked_fill, 6)                                                               \
    X(ONE_HOT, one_hot, 7)                                                                       \
    X(INDEX_PUT, index_put, 8)                                                                   \
    X(MASKED_SELECT, masked_select, 9)                                                           \
    X(NONZERO, nonzero, 10)                                                                      \
    X(EMBEDDING_BAG, embedding_bag, 11)                                                          \
    X(EMBEDDING_BAG_BACKWARD, embedding_bag_backward, 12)

typedef enum brc_index_kind {
#define BRC_X_(N, n, num) BRC_INDEX_##N = num,
    BRC_INDEX_KINDS(BRC_X_)
#undef BRC_X_
    BRC_INDEX_KIND_COUNT_ = 13
} brc_index_kind;

/* scatter's reduction. X(NAME, name, number); numbers frozen. */
#define BRC_INDEX_REDUCES(X)                                                                     \
    X(NONE, none, 0)                                                                             \
    X(SUM, sum, 1)                                                                               \
    X(PROD, prod, 2)                                                                             \
    X(AMAX, amax, 3)                                                                             \
    X(AMIN, amin, 4)                                                                             \
    X(MEAN, mean, 5)

typedef enum brc_index_reduce {
#define BRC_X_(N, n, num) BRC_INDEX_REDUCE_##N = num,
    BRC_INDEX_REDUCES(BRC_X_)
#undef BRC_X_
    BRC_INDEX_REDUCE_COUNT_ = 6
} brc_index_reduce;

/* embedding_bag's mode. X(NAME, name, number); numbers frozen (those of F.embedding_bag). */
#define BRC_INDEX_BAG_MODES(X)                                                                   \
    X(SUM, sum, 0)                                                                               \
    X(MEAN, mean, 1)                                                                             \
    X(MAX, max, 2)

typedef enum brc_index_bag_mode {
#define BRC_X_(N, n, num) BRC_INDEX_BAG_##N = num,
    BRC_INDEX_BAG_MODES(BRC_X_)
#undef BRC_X_
    BRC_INDEX_BAG_MODE_COUNT_ = 3
} brc_index_bag_mode;

/* index_put takes at most this many index tensors. */
#define BRC_INDEX_MAX_INDICES 4

/* Operands by kind: see the table above; descriptors a kind does not use are ignored. The fields
 * after atomic were added in 0.3.0 (a zeroed struct keeps the 0.2.0 behaviour). */
typedef struct brc_index_desc {
    brc_index_kind kind;
    brc_tensor_desc x, index, src, y;
    int dim;                 /* gather, index_select, scatter, index_add */
    brc_index_reduce reduce; /* scatter */
    double value;            /* masked_fill: the fill; index_add: alpha */
    int64_t num_classes;     /* one_hot */
    int use_padding_idx;     /* embedding_backward: 1 zeroes the gradient row padding_idx */
    int64_t padding_idx;     /* 0 <= padding_idx < V (normalize negative values first) */
    int atomic;              /* embedding_backward: 1 takes the atomic (non-deterministic) path */
    int exclude_self;        /* scatter with a reduction: 1 is torch's include_self = False */
    int accumulate;          /* index_put: 0 stores, 1 adds */
    int nindices;            /* index_put: 1 .. BRC_INDEX_MAX_INDICES */
    brc_tensor_desc indices[BRC_INDEX_MAX_INDICES]; /* index_put */
    brc_index_bag_mode mode; /* embedding_bag(_backward) */
    brc_tensor_desc offsets; /* embedding_bag(_backward): rank 1 with 1-D input; rank 0 with 2-D input */
    int include_last_offset; /* embedding_bag(_backward): offsets has B + 1 entries */
    int use_per_sample_weights;          /* embedding_bag(_backward), mode sum */
    brc_tensor_desc per_sample_weights; /* index's shape, the table's dtype */
} brc_index_desc;

/* Select a plan. prefs may be NULL; prefs.vector_width narrows the rows layout's vector (a power
 * of two); prefs.force_strided takes the generic layout. Errors: INVALID_ARGUMENT (NULL
 * pointers, a kind, reduce or mode out of range, dim out of range, ranks or shapes that do not
 * match the table, an index dtype other than i32 / i64, a mask other than u8 / bool, an output
 * that overlaps itself, num_classes < 1, padding_idx out of range, more than 2^31 - 1 positions
 * in embedding_backward's deterministic path or in embedding_bag, exclude_self without a
 * reduction, nindices out of range, index tensors of different shapes or dtypes,
 * per_sample_weights without mode sum, offsets with 2-D input), UNSUPPORTED (a dtype the op
 * does not have, index and dy of embedding_backward's deterministic path whose leading dims do
 * not merge into one), and the compile errors. Plans of scatter mean, masked_select, nonzero,
 * embedding_bag_backward mean and index_put's sorted layout (8 bytes a position and a bucket)
 * need a workspace (brc_plan_workspace_size). */
BRC_API brc_status brc_index_plan(brc_context *ctx, const brc_index_desc *desc, const brc_plan_prefs *prefs,
                                  brc_plan **out);

/* 1 when a run's result does not depend on the order of colliding writes or of atomic updates
 * (see above), 0 when it may; -1 for a plan that is not an indexing plan. */
BRC_API int brc_index_plan_deterministic(const brc_plan *plan);

/* Enqueue on stream. Device pointers as the kind uses them (others ignored, may be NULL): x,
 * index (or the mask), src, y. err: NULL, or a device int32 set to 1 when an index is out of
 * range. In place: masked_fill's y may be x with the same strides; scatter / index_add update y
 * and src / index must not overlap it. Errors: WRONG_PLAN, INVALID_ARGUMENT (a NULL pointer the
 * kind needs, forbidden aliasing), MISALIGNED (err not 4-byte aligned), CUDA_ERROR. */
BRC_API brc_status brc_index_run(const brc_plan *plan, const void *x, const void *index, const void *src, void *y,
                                 int32_t *err, brc_stream stream);

/* Every device pointer a run may take (brc_index_run's five, and those of the kinds added in
 * 0.3.0). Borrowed for the call; unused ones are ignored. */
typedef struct brc_index_args {
    const void *x, *index, *src;
    void *y;
    int32_t *err;
    const void *indices[BRC_INDEX_MAX_INDICES]; /* index_put */
    const void *offsets;            /* embedding_bag(_backward) with 1-D input */
    const void *per_sample_weights; /* embedding_bag(_backward) with use_per_sample_weights */
    void *argmax;                   /* embedding_bag max: written by the forward, read by the backward */
    int64_t *count;                 /* masked_select, nonzero: the device int64 the count goes to */
} brc_index_args;

/* Enqueue on stream, for every kind. workspace: brc_plan_workspace_size(plan) bytes, 256-byte
 * aligned (NULL when that is 0): scatter mean (a count per element of y), masked_select and
 * nonzero (8 bytes a tile of 4096 elements), embedding_bag_backward mean (a count per bag).
 * Errors: those of brc_index_run, and INVALID_ARGUMENT for a small or missing workspace,
 * MISALIGNED (count not 8-byte aligned). brc_index_run is this call with the five pointers, no
 * workspace and the other pointers NULL; it refuses (INVALID_ARGUMENT) a plan that needs more.
 * Added in 0.3.0. */
BRC_API brc_status brc_index_run_args(const brc_plan *plan, const brc_index_args *args, void *workspace,
                                      size_t workspace_size, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_INDEXING_H */
