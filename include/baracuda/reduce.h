/* baracuda — reductions over any set of axes of a strided tensor, forward and backward: sum, mean,
 * prod, max, min, argmax, argmin, var, std, norm, logsumexp, any, all, count_nonzero, and
 * reduce-to-shape (the sum that undoes a broadcast).
 *
 * Layout. x is a brc_tensor_desc of rank 0..8 with any strides (negative and 0 included); axes is a
 * bit mask, bit d reducing dim d of x (0: nothing is reduced, a copy). y has either the keepdim
 * shape (rank of x, each reduced dim of size 1) or the reduced dims removed, and any strides; it
 * must not overlap x. The optional index output (max / min with write_index) has y's shape and its
 * own strides, dtype i64. Dims of size 1 are ignored and adjacent dims that nest in every operand
 * are merged before anything else, so [8, 4096, 4096] reduced over its last dim is the same plan as
 * [32768, 4096] reduced over dim 1.
 *
 * Dtypes. Every op takes f32, f64, f16 and bf16 (f16 / bf16 accumulate in f32, f64 in f64; y has x's
 * dtype). sum, prod, max, min, argmax, argmin, any, all and count_nonzero also take the integer
 * dtypes i8 u8 i16 i32 i64 u32 (accumulated in i64; sum and prod may write x's dtype, wrapping, or
 * i64 as PyTorch does); any, all and count_nonzero also take bool. argmax, argmin and count_nonzero
 * write i64 or i32; any and all write bool.
 *
 * Semantics (PyTorch's):
 *  - sum of no elements is 0, prod 1, mean NaN, any false, all true, count 0, logsumexp -inf, norm
 *    0, var / std NaN; max, min, argmax and argmin of no elements are refused at plan time.
 *  - NaN propagates through sum, mean, prod, var, std, norm, logsumexp; max / min / argmax / argmin
 *    treat NaN as the extreme (the first NaN's index is the argmax). Ties give the first index in
 *    the row-major order of the reduced dims (argmax over several axes returns that flat index).
 *  - var = sum((x - mean)^2) / max(0, n - correction), std its square root (torch.var(correction=)).
 *    Computed from sums shifted by the first element of each reduced slice (exact for a constant
 *    slice, and stable while the spread of a slice is not far below its distance from that element).
 *  - norm: p = 1 (sum |x|), 2 (sqrt of sum x^2), +inf (max |x|), -inf (min |x|), 0 (count of
 *    nonzeros), any other p > 0: (sum |x|^p)^(1/p).
 *  - logsumexp: max + log(sum(exp(x - max))); all -inf gives -inf, any +inf gives +inf.
 *  - any / all: x != 0 (NaN is true).
 *
 * Backward (brc_reduce_backward_plan): dx, shaped like x with its own strides, from dy (shaped like
 * y) and what the op needs: sum dy; mean dy / n; prod dy * (product of the other elements of the
 * slice) — y / x where y != 0, else the product recomputed over the slice (O(n) per such element,
 * 0 at once when the slice holds a second zero); max / min: dy goes to the element the forward's
 * index names, the others get 0 (torch.max(dim) semantics: ties do not share); var: dy * 2 (x -
 * mean) / max(0, n - correction) (the mean is recomputed into the workspace); std: that times 1 /
 * (2 y); norm: dy * sign(x) |x|^(p-1) / y^(p-1) (p = 1: dy * sign(x); 0 where y == 0), p = +-inf
 * and p = 0 are refused; logsumexp: dy * exp(x - y). argmax, argmin, any, all, count_nonzero have
 * no gradient (INVALID_ARGUMENT).
 *
 * Determinism: no atomics; every reduction runs in a fixed order for a plan (per-thread sequential,
 * then a fixed shuffle butterfly, then a fixed order over warps), so two runs are bitwise equal.
 * When a reduction spans CTAs, each CTA writes its partial state to the workspace and a second
 * kernel combines them in a fixed order.
 *
 * Specialization. After merging, the plan bakes the sizes and strides (compile-time constants: the
 * index arithmetic is multiplies and shifts) and picks one of two layouts:
 *  - row: the innermost reduced dim has stride 1: a group of tpr threads per output (rpb outputs per
 *    CTA for short rows) reads it with 16-byte vectors, 4 vectors in flight a thread; when there are
 *    few outputs and long rows, split CTAs share an output, each a contiguous run of it
 *    (deterministic second pass: a warp an output, or a thread an output for many outputs of few
 *    partials; SKU "+fin" / "+fint");
 *  - col: the innermost kept dim has stride 1: consecutive threads take consecutive outputs (vectors
 *    of them), the reduced extent split over threadIdx.y and, when outputs are few, over split CTAs.
 * Anything else runs as row or col with vec = 1 and the strides as they are. The SKU shows it:
 *   bespoke:sum<bf16,layout=row,out=32768,red=4096,vec=8,tpr=128,rpb=2,split=1>@sm_90
 * Canonical descriptors (docs/reduce.md): reduce(op=sum,dtype=bf16,shape=32768x4096,axes=1) — the
 * merged shape, and the strides where they are not contiguous.
 *
 * Running: x (and dx, dy in the backward) aligned to the plan's vector width times the dtype size
 * (MISALIGNED otherwise: make the plan with prefs.vector_width = 1 for unaligned views), the others
 * to their element size; the workspace 256-byte aligned and at least brc_plan_workspace_size()
 * bytes (INVALID_ARGUMENT otherwise). Runs never allocate, never synchronize and are safe under
 * stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_REDUCE_H
#define BARACUDA_REDUCE_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, number, descriptor name). Numbers are frozen. */
#define BRC_REDUCE_KINDS(X)                                                                      \
    X(SUM, 0, sum)                                                                               \
    X(MEAN, 1, mean)                                                                             \
    X(PROD, 2, prod)                                                                             \
    X(MAX, 3, max)                                                                               \
    X(MIN, 4, min)                                                                               \
    X(ARGMAX, 5, argmax)                                                                         \
    X(ARGMIN, 6, argmin)                                                                         \
    X(VAR, 7, var)                                                                               \
    X(STD, 8, std)                                                                               \
    X(NORM, 9, norm)                                                                             \
    X(LOGSUMEXP, 10, logsumexp)                                                                  \
    X(ANY, 11, any)                                                                              \
    X(ALL, 12, all)                                                                              \
    X(COUNT_NONZERO, 13, count_nonzero)

typedef enum brc_reduce_kind {
#define BRC_X_(N, num, name) BRC_REDUCE_##N = num,
    BRC_REDUCE_KINDS(BRC_X_)
#undef BRC_X_
    BRC_REDUCE_KIND_COUNT_ = 14
} brc_reduce_kind;

/* y = op(x) over the dims whose bit is set in axes. */
typedef struct brc_reduce_desc {
    brc_reduce_kind kind;
    brc_tensor_desc x, y;
    uint32_t axes;         /* bit d reduces dim d of x; bits >= x.rank must be 0 */
    double correction;     /* var, std: subtracted from n in the divisor (1: unbiased); >= 0 */
    double p;              /* norm: > 0, or +-INFINITY, or 0; ignored by the other kinds */
    int write_index;       /* max, min: 0 or 1; 1 also writes the index of the first extremum */
    brc_tensor_desc index; /* with write_index: y's shape, dtype i64 */
} brc_reduce_desc;

/* dx from dy (and x, y, index where the op needs them, see above). x, y, axes, correction, p as in
 * the forward; y is read (and its descriptor checked) by prod, std, norm and logsumexp only; index
 * by max and min only (the forward must have written it). dy has y's shape, dx has x's. */
typedef struct brc_reduce_backward_desc {
    brc_reduce_kind kind;
    brc_tensor_desc x, y, dy, dx;
    uint32_t axes;
    double correction;
    double p;
    brc_tensor_desc index;
} brc_reduce_backward_desc;

/* Select (and compile, or load from the cache) a plan. prefs may be NULL; prefs.vector_width forces
 * a narrower vector (a power of two no wider than the layout allows).
 * Errors: INVALID_ARGUMENT (NULL pointers, an axis bit >= rank, y or index of the wrong shape or
 * dtype, max / min / argmax / argmin of an empty slice, correction < 0 or NaN, norm p < 0 or NaN,
 * write_index on a kind other than max / min, a vector width the layout does not allow),
 * UNSUPPORTED (a dtype the kind does not take), and the compile errors. */
BRC_API brc_status brc_reduce_plan(brc_context *ctx, const brc_reduce_desc *desc, const brc_plan_prefs *prefs,
                                   brc_plan **out);
/* The sum of x down to y's shape, y broadcasting to x (numpy rules: y's dims align with x's last
 * ones; each y dim is x's size or 1). The plan runs with brc_reduce_run (index NULL). */
BRC_API brc_status brc_reduce_to_shape_plan(brc_context *ctx, const brc_tensor_desc *x, const brc_tensor_desc *y,
                                            const brc_plan_prefs *prefs, brc_plan **out);
/* Errors: those of brc_reduce_plan; INVALID_ARGUMENT for a kind with no gradient or norm p = +-inf
 * or 0, dx / dy of the wrong shape or dtype. */
BRC_API brc_status brc_reduce_backward_plan(brc_context *ctx, const brc_reduce_backward_desc *desc,
                                            const brc_plan_prefs *prefs, brc_plan **out);

/* Enqueue on stream. Device pointers. index: required by a plan with write_index, else ignored.
 * workspace / workspace_size: the caller's scratch (may be NULL / 0 when brc_plan_workspace_size
 * is 0). Errors: WRONG_PLAN (a plan of another family or direction, or made offline),
 * INVALID_ARGUMENT (a NULL pointer the plan needs, workspace too small), MISALIGNED, CUDA_ERROR. */
BRC_API brc_status brc_reduce_run(const brc_plan *plan, const void *x, void *y, void *index, void *workspace,
                                  size_t workspace_size, brc_stream stream);
/* x, y, index: required where the op reads them (see above), else ignored (may be NULL). */
BRC_API brc_status brc_reduce_backward_run(const brc_plan *plan, const void *x, const void *y, const void *index,
                                           const void *dy, void *dx, void *workspace, size_t workspace_size,
                                           brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_REDUCE_H */
