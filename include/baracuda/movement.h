/* baracuda — data movement: copy / contiguize between any strides, permute (transpose), flip,
 * roll, repeat (tile), concat and split of N tensors, slice and write_slice (with the start read
 * from device memory, for a KV-cache append under graph capture), the generators fill, arange,
 * linspace, eye, triu and tril, and pad (constant, reflect, replicate, circular) with its backward.
 *
 * Layout. Operands are brc_tensor_desc of rank 0..8 with any strides (negative and broadcast
 * (0) strides included for inputs). Outputs must not overlap themselves (INVALID_ARGUMENT) and
 * must not overlap any input (undefined; the same pointer for an input and an output is refused
 * at run time, except by triu / tril, which run in place). Device pointers point at element 0 of
 * the view (the element whose every index is 0), whatever the signs of the strides.
 *
 * Dtypes. The pure movement ops (copy, permute, flip, roll, repeat, concat, split, slice,
 * write_slice, triu, tril, pad forward) take every dtype and move its bits: the result is
 * bitwise the input, NaN payloads and signed zeros included. Inputs and outputs have one dtype
 * (a conversion is brc_cast_plan's job). fill, arange, linspace and eye compute their values in
 * f64 (integers: i64, exactly) and convert them to the dtype by the cast rules of elementwise.h
 * (round to nearest even; float to integer truncates and saturates). pad's backward sums in f32
 * for f16 / bf16 / f32, in f64 for f64 (no integer dtypes: UNSUPPORTED).
 *
 * Backward passes, and how each is obtained (PyTorch's autograd formulas):
 *   copy, contiguous    dx = dy (a copy into x's layout).
 *   permute(perm)       dx = permute(dy, inverse(perm)).
 *   flip(dims)          dx = flip(dy, dims).
 *   roll(dims, shifts)  dx = roll(dy, dims, -shifts).
 *   repeat(reps)        dx = the sum of dy over the repeats: brc_reduce_to_shape_plan (reduce.h)
 *                       on dy viewed as [r0, n0, r1, n1, ...] (y's dim d split into the repeat
 *                       count r_d and x's size n_d) down to [1, n0, 1, n1, ...]; deterministic.
 *   concat(dim)         dx_i = split(dy, dim) with x_i's sizes; split's backward is concat.
 *   slice(dim, start)   dx = fill(0) then write_slice(dy) at the same start and step.
 *   write_slice         dsrc = slice(dy) at the same start; ddst = dy with the slice zeroed
 *                       (write_slice of a fill(0) tensor, or fill the slice view of dy).
 *   triu / tril(k)      dx = triu / tril(dy, k) (the same op).
 *   pad                 brc_pad_backward_plan: constant mode is a slice of dy (cropped elements,
 *                       where a pad is negative, get 0); reflect, replicate and circular sum every
 *                       dy element that was copied from an x element, in increasing dy order, in
 *                       one thread per dx element: deterministic, no atomics.
 *   fill, arange, linspace, eye: no input, no backward.
 *
 * Kernels (docs/movement.md). Every copy-like op becomes one or more "pieces", each a strided
 * copy; per piece, size-1 dims are dropped, dims are ordered by the destination's strides and
 * merged where both sides nest. Then, by structure:
 *  - vec: the innermost dim is contiguous on both sides: VEC elements (up to 16 bytes) a load and
 *    a store, chosen so that VEC divides the innermost size (a one-row piece may have a tail),
 *    every outer stride and the static offsets; a run whose pointers are not VEC-aligned takes
 *    the same kernel's scalar loop. Otherwise one element at a time (vec=1), gather-style.
 *  - tile: the destination's innermost dim is not contiguous in the source but another dim is,
 *    both at least 16 long (a transpose / permute): 16 KiB tiles through shared memory (64 x 64
 *    elements of 4 bytes; 128 x 64 of 2, 128 x 128 of 1, 64 x 32 of 8; half as long along the
 *    destination's dim when tiles are few, and 128 x 128 for 2 bytes when they are many), 16-byte
 *    reads along the source's contiguous dim and 16-byte writes along the destination's where the
 *    pitches and pointers are 16-byte aligned, element by element otherwise.
 *  - pieces: concat, split and roll put up to 16 pieces in one launch (more: one launch per 16);
 *    a CTA finds its piece by a binary search over the pieces' first blocks.
 * Index arithmetic is 32-bit when every offset fits, else 64-bit (index=64).
 * SKU: bespoke:copy<b2,rank=2,vec=8,i32,p=4>@sm_90, bespoke:copy<b4,rank=3,tile=64x64>@sm_90.
 * Canonical descriptors: concat(bytes=2,pieces=3,rank=2,vec=8,index=32), copy(bytes=4,rank=3,
 * tile=1), fill(kind=arange,dtype=f32,rank=1,vec=4), pad(mode=reflect,dtype=bf16,rank=2,dir=bwd).
 *
 * Running: element pointers aligned to the element size (MISALIGNED otherwise); runs never
 * allocate, never synchronize and are safe under stream capture. A dynamic start is read by the
 * kernel when it runs, so a captured graph replays with whatever the pointed-to int64 holds then.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_MOVEMENT_H
#define BARACUDA_MOVEMENT_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- copy and the ops that are a copy of a view ------------------------------------------------- */

/* y = x: same dtype, same shape, any strides (x may broadcast with stride 0). Contiguize is a
 * copy into a dense y. */
typedef struct brc_copy_desc {
    brc_tensor_desc x, y;
} brc_copy_desc;

/* y = x.permute(perm): y.shape[i] = x.shape[perm[i]] (perm a permutation of 0..rank-1; entries
 * at i >= rank ignored). A transpose is the permutation that swaps two dims. */
typedef struct brc_permute_desc {
    brc_tensor_desc x, y;
    int32_t perm[BRC_MAX_RANK];
} brc_permute_desc;

/* y = x.flip(dims): ndims distinct dims, each -rank <= d < rank (ndims 0 is a copy). */
typedef struct brc_flip_desc {
    brc_tensor_desc x, y;
    int32_t ndims;
    int32_t dims[BRC_MAX_RANK];
} brc_flip_desc;

/* y = x.roll(shifts, dims): ndims (1..4) distinct dims, y[(i + shift) mod n] = x[i] along each
 * (any int64 shift, negative included). PyTorch's roll without dims is a roll of a rank-1 view. */
typedef struct brc_roll_desc {
    brc_tensor_desc x, y;
    int32_t ndims;
    int32_t dims[4];
    int64_t shifts[4];
} brc_roll_desc;

/* y = x.repeat(repeats) (numpy's tile): y.rank >= x.rank, x aligned with y's trailing dims
 * (missing leading dims of x are 1), y.shape[d] = repeats[d] * x.shape'[d], repeats[d] >= 0.
 * After merging, the copy must have at most 8 dims (UNSUPPORTED otherwise). */
typedef struct brc_repeat_desc {
    brc_tensor_desc x, y;
    int64_t repeats[BRC_MAX_RANK];
} brc_repeat_desc;

/* Select a plan. prefs may be NULL; prefs.vector_width forces the elements per vector access
 * (a power of two, at most 16 bytes, that the layout allows); prefs.force_strided forbids the
 * tiled transpose (for tests and benchmarks). Errors: INVALID_ARGUMENT (NULL pointers, a bad
 * descriptor: dtype or shape mismatch, an output that overlaps itself, bad perm / dims / shifts /
 * repeats, a vector_width the layout does not allow), UNSUPPORTED (repeat: more than 8 dims after
 * merging), and the compile errors. Each run with brc_copy_run. */
BRC_API brc_status brc_copy_plan(brc_context *ctx, const brc_copy_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);
BRC_API brc_status brc_permute_plan(brc_context *ctx, const brc_permute_desc *desc, const brc_plan_prefs *prefs,
                                    brc_plan **out);
BRC_API brc_status brc_flip_plan(brc_context *ctx, const brc_flip_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);
BRC_API brc_status brc_roll_plan(brc_context *ctx, const brc_roll_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);
BRC_API brc_status brc_repeat_plan(brc_context *ctx, const brc_repeat_desc *desc, const brc_plan_prefs *prefs,
                                   brc_plan **out);
/* Runs a copy, permute, flip, roll or repeat plan. Errors: WRONG_PLAN, INVALID_ARGUMENT (NULL,
 * x == y), MISALIGNED, CUDA_ERROR. */
BRC_API brc_status brc_copy_run(const brc_plan *plan, const void *x, void *y, brc_stream stream);

/* ---- concat and split ------------------------------------------------------------------------------ */

/* y = cat(xs[0..n), dim): every x has y's rank and dtype and y's shape except along dim; their
 * sizes along dim sum to y's. 1 <= n <= 1024; xs is borrowed for the call. */
typedef struct brc_concat_desc {
    int32_t n;
    const brc_tensor_desc *xs;
    brc_tensor_desc y;
    int32_t dim; /* -rank <= dim < rank */
} brc_concat_desc;

/* ys[i] = x.narrow(dim, offset_i, ys[i].shape[dim]), offset_i the sum of the sizes before it;
 * the sizes along dim sum to x's. 1 <= n <= 1024; ys is borrowed for the call. */
typedef struct brc_split_desc {
    brc_tensor_desc x;
    int32_t n;
    const brc_tensor_desc *ys;
    int32_t dim;
} brc_split_desc;

BRC_API brc_status brc_concat_plan(brc_context *ctx, const brc_concat_desc *desc, const brc_plan_prefs *prefs,
                                   brc_plan **out);
BRC_API brc_status brc_split_plan(brc_context *ctx, const brc_split_desc *desc, const brc_plan_prefs *prefs,
                                  brc_plan **out);
/* xs / ys: n device pointers (a host array, read during the call). One launch per 16 tensors. */
BRC_API brc_status brc_concat_run(const brc_plan *plan, const void *const *xs, void *y, brc_stream stream);
BRC_API brc_status brc_split_run(const brc_plan *plan, const void *x, void *const *ys, brc_stream stream);

/* ---- slice and write_slice ---------------------------------------------------------------------------- */

/* slice: y = x[..., start : start + len * step : step, ...] along dim (len = y.shape[dim]);
 * write_slice: y[..., start : start + len * step : step, ...] = x (len = x.shape[dim]), the rest
 * of y untouched. The sliced operand has the other's shape except along dim. step >= 1.
 * Static start (dynamic_start = 0): 0 <= start and start + (len - 1) * step < n (n the full
 * size along dim), else INVALID_ARGUMENT. dynamic_start = 1: start is ignored here; the run
 * reads it from a device int64 when the kernel runs, clamped into [0, n - (len - 1) * step - 1]
 * (a GPU cannot report an error: an out-of-range start writes at the nearest valid position). */
typedef struct brc_slice_desc {
    brc_tensor_desc x, y;
    int32_t dim;
    int32_t dynamic_start;
    int64_t start;
    int64_t step;
} brc_slice_desc;

BRC_API brc_status brc_slice_plan(brc_context *ctx, const brc_slice_desc *desc, const brc_plan_prefs *prefs,
                                  brc_plan **out);
BRC_API brc_status brc_write_slice_plan(brc_context *ctx, const brc_slice_desc *desc, const brc_plan_prefs *prefs,
                                        brc_plan **out);
/* start: a device pointer to one int64 (8-byte aligned), required by dynamic-start plans and
 * ignored (may be NULL) by the others. */
BRC_API brc_status brc_slice_run(const brc_plan *plan, const void *x, void *y, const int64_t *start,
                                 brc_stream stream);
BRC_API brc_status brc_write_slice_run(const brc_plan *plan, const void *x, void *y, const int64_t *start,
                                       brc_stream stream);

/* ---- generators and triangles ------------------------------------------------------------------------- */

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_FILL_KINDS(X)                                                                        \
    X(FILL, fill, 0)                                                                             \
    X(ARANGE, arange, 1)                                                                         \
    X(LINSPACE, linspace, 2)                                                                     \
    X(EYE, eye, 3)                                                                               \
    X(TRIU, triu, 4)                                                                             \
    X(TRIL, tril, 5)

typedef enum brc_fill_kind {
#define BRC_X_(N, n, num) BRC_FILL_##N = num,
    BRC_FILL_KINDS(BRC_X_)
#undef BRC_X_
    BRC_FILL_KIND_COUNT_ = 6
} brc_fill_kind;

/* fill      y = a (any rank, any dtype).
 * arange    y[i] = a + i * b (rank 1; f64 unfused: one multiply, one add, each rounded; integer
 *           dtypes: a and b integers and every value representable, computed in i64; not bool).
 * linspace  y[i] = a + i * step for i < n / 2, b - (n - 1 - i) * step above, step = (b - a) /
 *           (n - 1) (PyTorch's symmetric form; rank 1, n = y.shape[0]; n == 1 gives a; not bool).
 * eye       y[..., i, j] = (j - i == k) (rank >= 2, batched over the leading dims).
 * triu      y = x where j - i >= k, else 0 (rank >= 2; x like y; in place allowed: x == y with
 *           the same strides). tril: where j - i <= k. */
typedef struct brc_fill_desc {
    brc_fill_kind kind;
    brc_tensor_desc y;
    brc_tensor_desc x; /* triu / tril only */
    double a, b;
    int64_t k;
} brc_fill_desc;

/* Errors: INVALID_ARGUMENT (kind out of range, rank rules above, x unlike y, arange bounds for
 * an integer dtype, an output overlapping itself, a bad vector_width), UNSUPPORTED (bool for
 * arange / linspace). */
BRC_API brc_status brc_fill_plan(brc_context *ctx, const brc_fill_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);
/* x: triu / tril only (else ignored, may be NULL). */
BRC_API brc_status brc_fill_run(const brc_plan *plan, const void *x, void *y, brc_stream stream);

/* ---- pad ------------------------------------------------------------------------------------------------- */

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_PAD_MODES(X)                                                                         \
    X(CONSTANT, constant, 0)                                                                     \
    X(REFLECT, reflect, 1)                                                                       \
    X(REPLICATE, replicate, 2)                                                                   \
    X(CIRCULAR, circular, 3)

typedef enum brc_pad_mode {
#define BRC_X_(N, n, num) BRC_PAD_##N = num,
    BRC_PAD_MODES(BRC_X_)
#undef BRC_X_
    BRC_PAD_MODE_COUNT_ = 4
} brc_pad_mode;

/* y.shape[d] = x.shape[d] + lo[d] + hi[d] for every dim (rank 1..8; PyTorch's pad list names
 * the last dims first: its (left, right, top, bottom) is lo/hi of dims rank-1 and rank-2).
 * constant: y = value outside x (converted by the cast rules); lo / hi may be negative (crop).
 * reflect: 0 <= lo, hi < n (the edge is not repeated: [1 0 | 0 1 2 | 2 1] is not reflect,
 * [2 1 | 0 1 2 | 1 0] is). replicate: lo, hi >= 0 (n >= 1 where a pad is > 0). circular:
 * 0 <= lo, hi <= n. */
typedef struct brc_pad_desc {
    brc_pad_mode mode;
    brc_tensor_desc x, y;
    int64_t lo[BRC_MAX_RANK], hi[BRC_MAX_RANK];
    double value;
} brc_pad_desc;

/* dx from dy; mode, lo and hi are the forward's (dy has y's shape, dx x's). */
typedef struct brc_pad_backward_desc {
    brc_pad_mode mode;
    brc_tensor_desc dy, dx;
    int64_t lo[BRC_MAX_RANK], hi[BRC_MAX_RANK];
} brc_pad_backward_desc;

/* Errors: INVALID_ARGUMENT (mode out of range, shapes that do not match the pads, pads the mode
 * does not allow, dtype mismatch, an output overlapping itself), UNSUPPORTED (a non-float dtype
 * for the backward), and the compile errors. */
BRC_API brc_status brc_pad_plan(brc_context *ctx, const brc_pad_desc *desc, const brc_plan_prefs *prefs,
                                brc_plan **out);
BRC_API brc_status brc_pad_backward_plan(brc_context *ctx, const brc_pad_backward_desc *desc,
                                         const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_pad_run(const brc_plan *plan, const void *x, void *y, brc_stream stream);
BRC_API brc_status brc_pad_backward_run(const brc_plan *plan, const void *dy, void *dx, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_MOVEMENT_H */
