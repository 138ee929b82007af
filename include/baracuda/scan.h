/* baracuda — scan family: cumsum, cumprod, cummax, cummin and logcumsumexp along one axis of a
 * strided tensor, from the start or from the end, forward and backward.
 *
 * Layout. Operands are brc_tensor_desc of rank 1..8, all of the same shape, each with its own
 * strides (any, negative included; outputs must not overlap themselves). dim picks the scanned
 * axis, PyTorch-style: -rank <= dim < rank, negative counting from the end. Values share one
 * dtype; indices (cummax / cummin) are i64.
 *
 * Dtypes: f32, f16, bf16 (computed in f32) and f64 (computed in f64); cumprod computes in f64
 * for every dtype (a tree of f32 products of values near 1 drifts: 5% after 2^24 of them, as
 * PyTorch's f32 cumprod does). Integer dtypes are not supported (UNSUPPORTED): PyTorch promotes
 * an integer cumsum to i64, which is a different op.
 *
 * Semantics, with positions i, j counted in scan order (from the end when reverse = 1; the
 * saved indices are positions along the axis as stored, whatever the order):
 *  - cumsum y_i = sum_{j<=i} x_j; cumprod y_i = prod_{j<=i} x_j; logcumsumexp y_i =
 *    log(sum_{j<=i} exp(x_j)), kept as (m, s) = (the running max, the sum of exp(x_j - m)) and
 *    output as m + log(s) (no overflow; -inf entries are neutral; +inf gives +inf; NaN
 *    propagates). The forward's exps are exp2(v log2 e) (a few ulp of each term, whose weight
 *    exp(v) is at most 1); the log is the accurate one.
 *  - cummax / cummin: y_i = the running maximum (minimum), index_i its position. Ties: the
 *    later position in scan order wins (PyTorch's rule, >= and <=, on both CPU and CUDA). NaN
 *    propagates: from the first NaN on the value is NaN and the index is the latest NaN's.
 *  - reverse = 1 scans from the end: flip, scan, flip back (indices still count from the start).
 *  - Backward (dx from dy; "j >= i" in scan order):
 *    cumsum dx_i = sum_{j>=i} dy_j.
 *    cumprod dx_i = sum_{j>=i} dy_j prod_{k<=j, k!=i} x_k, computed without division as
 *      y_{i-1} * (dy_i + V_{i+1}) with V_i = x_i (dy_i + V_{i+1}): exact with zeros in x. It
 *      reads x, dy and the forward's output y (y_{i-1} of the stored y).
 *    cummax / cummin dx_i = sum of dy_j over the j whose saved index is i (a segmented sum over
 *      the runs of equal indices; deterministic, no atomics). Reads dy and the forward's index.
 *    logcumsumexp dx_i = sum_{j>=i} dy_j exp(x_i - y_j), kept as s * exp(m) with m the largest
 *      -y_j so far: no term overflows for any |x|. Reads x, dy and the forward's output y (its
 *      rounding to the dtype is the gradient's input, as in PyTorch); dx_i = 0 where x_i = -inf.
 *  - Determinism: one association order per plan, bitwise reproducible. The one-pass split rows
 *    (below) take their chunks from an atomic ticket, but each chunk combines the totals of the
 *    chunks before it in an order fixed by the chunk index, so the results do not depend on
 *    timing; no atomics touch the values.
 *
 * In place: y may be x, and dx may be dy or x (or y, except for cumprod) when they are the same
 * pointer with the same strides; any other overlap is undefined, and the same pointer with other
 * strides is refused (INVALID_ARGUMENT).
 *
 * Specialization (docs/scan.md). The plan picks a layout by structure and bakes it in:
 *  - rows: the axis has stride 1 in every operand: a row group of 32..1024 threads scans a row in
 *    slabs of 16-byte vectors (a shuffle scan, a scan of warp totals, a carry across slabs);
 *  - cols: otherwise: a thread per line, or per 16-byte vector of lines when the innermost other
 *    dim is contiguous (consecutive lines, consecutive threads), walks the axis;
 *  - split: few lines and a long axis: the axis is cut into chunks over CTAs; a first kernel
 *    reduces each chunk (for cumsum / cumprod forward rows, a thread's positions then the threads
 *    in a fixed order: "+lite"), a second scans the chunk totals of each line, a third scans each
 *    chunk from its carry, through a workspace (brc_plan_workspace_size); or one pass: each CTA
 *    scans a chunk and takes its carry from the totals the earlier chunks publish in the
 *    workspace (the run zeroes the workspace's flags first: a memset node under capture), for
 *    rows of logcumsumexp forward and for columns of cumsum and cummax / cummin forward, in 2-
 *    and 4-byte dtypes. Either way the result is bitwise reproducible.
 * SKU: bespoke:scan<cumsum,f32,rows,vec=4,tpr=1024,rpb=1,nv=1,fwd>@sm_90 (",reverse", "+split",
 * "+fused", "+lite", "+onepass").
 * Canonical descriptors: scan(op=cumsum,dtype=f32,inner=1,len=4096,reverse=0,split=0,dir=fwd)
 * (rows; vec=N follows len when a stride or a preference narrowed the vector, then tmax=128 for
 * f32 / bf16 / f16 cummax / cummin forward rows of 128 threads, chosen for many lines longer
 * than one 512-thread tile: 8192 f32, 16384 bf16 / f16), and
 * scan(op=cummax,dtype=bf16,inner=0,vec=8,reverse=1,split=1,dir=bwd) (cols: no len, the kernel
 * does not depend on it; vec lines a thread); split=2 is the one pass (rows only).
 *
 * Running: value pointers aligned to the plan's vector width times the dtype size (MISALIGNED
 * otherwise; prefs.vector_width = 1 takes unaligned views), index pointers to 8 bytes, the
 * workspace to 256 bytes and at least brc_plan_workspace_size() bytes. Runs never allocate,
 * never synchronize and are safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_SCAN_H
#define BARACUDA_SCAN_H

#ifdef __cplusplus
extern "C" {
#endif

/* The scan kinds: X(NAME, name, number). Numbers are frozen. */
#define BRC_SCAN_KINDS(X)                                                                        \
    X(CUMSUM, cumsum, 0)                                                                         \
    X(CUMPROD, cumprod, 1)                                                                       \
    X(CUMMAX, cummax, 2)                                                                         \
    X(CUMMIN, cummin, 3)                                                                         \
    X(LOGCUMSUMEXP, logcumsumexp, 4)

typedef enum brc_scan_kind {
#define BRC_X_(N, n, num) BRC_SCAN_##N = num,
    BRC_SCAN_KINDS(BRC_X_)
#undef BRC_X_
    BRC_SCAN_KIND_COUNT_ = 5
} brc_scan_kind;

/* y = scan(x) along dim; index (i64, cummax / cummin only; ignored otherwise) the positions of
 * the running extrema. */
typedef struct brc_scan_desc {
    brc_scan_kind kind;
    brc_tensor_desc x, y;
    int dim;               /* -rank <= dim < rank */
    int reverse;           /* 0: from the start; 1: from the end */
    brc_tensor_desc index; /* cummax / cummin: i64, the shape of x */
} brc_scan_desc;

/* dx from dy and what the forward's gradient needs: cumsum dy only; cumprod x, y, dy;
 * cummax / cummin index, dy; logcumsumexp x, y, dy. Descriptors an op does not read are
 * ignored. kind, dim and reverse are the forward's. */
typedef struct brc_scan_backward_desc {
    brc_scan_kind kind;
    brc_tensor_desc x, y, index, dy, dx;
    int dim;
    int reverse;
} brc_scan_backward_desc;

/* Select (and compile, or load from the cache) a plan for these shapes and strides. prefs may be
 * NULL; prefs.vector_width forces a narrower vector on the rows layout (a power of two <= 16
 * bytes dividing the axis length and the line strides). Errors: INVALID_ARGUMENT (NULL pointers,
 * a kind out of range, rank 0, dim out of range, reverse not 0 or 1, shape or dtype mismatch,
 * index not i64, an output that overlaps itself, a bad vector_width), UNSUPPORTED (a dtype
 * other than f32 f64 f16 bf16), and the compile errors. */
BRC_API brc_status brc_scan_plan(brc_context *ctx, const brc_scan_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);
BRC_API brc_status brc_scan_backward_plan(brc_context *ctx, const brc_scan_backward_desc *desc,
                                          const brc_plan_prefs *prefs, brc_plan **out);

/* Enqueue on stream. Device pointers; index: cummax / cummin only (else ignored, may be NULL).
 * workspace: at least brc_plan_workspace_size(plan) bytes (NULL / 0 when that is 0). Errors:
 * WRONG_PLAN (a plan of another family or direction, or made offline), INVALID_ARGUMENT (a NULL
 * pointer the plan needs, forbidden aliasing, workspace too small), MISALIGNED, CUDA_ERROR. */
BRC_API brc_status brc_scan_run(const brc_plan *plan, const void *x, void *y, void *index, void *workspace,
                                size_t workspace_size, brc_stream stream);
/* Pointers the op does not read (see brc_scan_backward_desc) are ignored and may be NULL. */
BRC_API brc_status brc_scan_backward_run(const brc_plan *plan, const void *x, const void *y, const void *index,
                                         const void *dy, void *dx, void *workspace, size_t workspace_size,
                                         brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_SCAN_H */
