/* baracuda — row-wise op family: softmax, log_softmax, rms_norm and layer_norm along the last axis,
 * forward and backward.
 *
 * Layout. Every operand is a brc_tensor_desc of rank >= 1 whose last dim is the reduced axis (the
 * "row", cols elements) with stride 1 (any stride when cols == 1), and whose leading dims flatten
 * to one row index with a single row stride (any dims of size 1 are ignored; the others must nest
 * like a row-major array, row stride s, then s * shape, ...). All operands of a plan have the same
 * shape and dtype; each may have its own row stride. Output rows must not overlap (|row stride| >=
 * cols when there is more than one row). Weight and bias are dense vectors of cols elements of
 * the same dtype.
 *
 * Softmax along any axis: softmax and log_softmax (forward and backward) also take operands whose
 * last dim is strided: for softmax over dim d, describe the tensor with dim d moved last (shape
 * and strides permuted: a view, no copy). The other dims must then flatten into at most two groups
 * (an inner one, the dims just before the axis, and an outer one), each with one stride in every
 * operand; operands may differ in strides (y may be contiguous in the permuted order while x is
 * not). Such plans use a strided kernel (SKU "...,strided,tx=32,ty=8,..."), descriptor key
 * inner=N. Strided outputs are not checked for overlap: overlapping output rows are undefined.
 *
 * Dtypes: f32, f16, bf16 (computed in f32) and f64 (computed in f64). Saved statistics (mean,
 * rstd) are f32 [rows] for f32/f16/bf16 and f64 [rows] for f64: they are in the compute type, so
 * that an f64 backward is exact to f64.
 *
 * Semantics:
 *  - softmax: y = exp(x - max) / sum(exp(x - max)); log_softmax: y = x - max - log(sum(...)). A
 *    NaN anywhere in a row makes the whole row NaN; a row of -inf gives NaN (as PyTorch).
 *  - softmax backward: dx = y * (dy - sum(y * dy)); log_softmax backward: dx = dy - exp(y) *
 *    sum(dy), y being the forward's output.
 *  - rms_norm: y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps). No bias.
 *  - layer_norm: y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps), var the
 *    biased variance (divided by cols), computed from the mean in a second pass (not E[x^2] -
 *    mean^2).
 *  - fused residual (forward only): sum = x + residual rounded to the dtype (it is an output, the
 *    residual stream), and y = norm(sum) of that rounded sum, as PyTorch's add followed by norm.
 *    Its backward is the norm backward with x = sum.
 *  - norm backward: with xhat = (x - mean) * rstd and g = dy * weight,
 *    dx = rstd * (g - xhat * mean(g * xhat) - mean(g)) (the mean(g) term for layer_norm only);
 *    dweight = sum over rows of dy * xhat, dbias = sum over rows of dy.
 *  - Determinism: every result is bitwise reproducible for a given plan. The weight and bias
 *    gradients use no atomics: each CTA (on sm_90, for long rows: each cluster, which takes a
 *    fixed set of rows; or, for the longest 16-bit rows, each slab of rows of a column pass that
 *    runs before the dx kernel) writes partial sums to the workspace and a last kernel adds them
 *    in a fixed order (the number of partials depends on rows and the device, so two plans for
 *    different row counts may round differently).
 *
 * In place: y may be x (softmax, norms), dx may be dy or y / x, sum may be x or residual, when
 * they are the same pointer with the same row stride; any other overlap is undefined, and the
 * same pointer with a different row stride is refused (INVALID_ARGUMENT).
 *
 * Specialization: a plan compiles kernels for its exact cols (a compile-time constant: loops
 * unroll, the row stays in registers), with a vector width (16-byte accesses where cols and the
 * row strides allow), threads per row, rows per CTA, and for long rows on sm_90 a thread-block
 * cluster of up to 8 CTAs per row (16, the non-portable size, for the f32 norm backward of rows
 * of more than 98304 and up to 131072 columns, where the GPU holds such clusters: the plan asks
 * the driver, else it takes the layouts of clusters of 8); rows longer still are read in several
 * passes (never an O(cols^2) algorithm). The SKU shows the choice:
 *   bespoke:softmax<bf16,cols=4096,vec=8,tpr=256,rpb=1,cluster=1,passes=1,fwd>@sm_90
 * Canonical descriptors (docs/rows.md): softmax(dtype=bf16,cols=4096,dir=fwd),
 * log_softmax(...), rms_norm(dtype=f32,cols=1024,weight=1,residual=0,dir=fwd),
 * layer_norm(dtype=bf16,cols=4096,weight=1,bias=1,dir=bwd); vec=N appears when a preference
 * or a row stride forced a narrower vector than cols allows.
 *
 * Running: pointers must be aligned to the plan's vector width times the dtype size (MISALIGNED
 * otherwise: make the plan with prefs.vector_width = 1 for unaligned views); mean and rstd to
 * their element size; the workspace (norm backward with weight or bias only) to 256 bytes and at
 * least brc_plan_workspace_size() bytes, else INVALID_ARGUMENT. Runs never allocate, never
 * synchronize and are safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_ROWS_H
#define BARACUDA_ROWS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum brc_softmax_kind {
    BRC_SOFTMAX_PLAIN = 0, /* softmax */
    BRC_SOFTMAX_LOG = 1    /* log_softmax */
} brc_softmax_kind;

typedef enum brc_norm_kind {
    BRC_NORM_RMS = 0,  /* rms_norm */
    BRC_NORM_LAYER = 1 /* layer_norm */
} brc_norm_kind;

/* y = softmax(x) or log_softmax(x) along the last dim. */
typedef struct brc_softmax_desc {
    brc_softmax_kind kind;
    brc_tensor_desc x, y;
} brc_softmax_desc;

/* dx from the forward's output y and the incoming gradient dy. */
typedef struct brc_softmax_backward_desc {
    brc_softmax_kind kind;
    brc_tensor_desc y, dy, dx;
} brc_softmax_backward_desc;

/* y = norm(x) (or norm(x + residual), writing sum = x + residual). */
typedef struct brc_norm_desc {
    brc_norm_kind kind;
    brc_tensor_desc x, y;
    int has_weight;            /* 0 or 1 */
    int has_bias;              /* 0 or 1; layer_norm only */
    int has_residual;          /* 0 or 1: residual and sum below are used */
    brc_tensor_desc residual;  /* same shape and dtype as x */
    brc_tensor_desc sum;       /* output: x + residual */
    double eps;                /* > 0 or 0; PyTorch's defaults are 1e-5 (layer) and 1e-6 (rms, often) */
} brc_norm_desc;

/* dx (and dweight, dbias) from the forward's normalized input x (the sum, for the residual
 * variant), dy, weight and the saved mean / rstd. */
typedef struct brc_norm_backward_desc {
    brc_norm_kind kind;
    brc_tensor_desc x, dy, dx;
    int has_weight; /* the forward had a weight: it is read, and dweight is produced */
    int has_bias;   /* the forward had a bias: dbias is produced (layer_norm only) */
} brc_norm_backward_desc;

/* Select (and compile, or load from the cache) a plan. prefs may be NULL; prefs.vector_width
 * forces a narrower vector (a power of two dividing cols). The plan is made for the descriptor's
 * row count (the kernels are not: another row count with the same cols reuses them).
 * Errors: INVALID_ARGUMENT (NULL pointers, a layout the family cannot take, shape or dtype
 * mismatch between operands, cols == 0 or > 2^30, bias on rms_norm, eps < 0 or NaN),
 * UNSUPPORTED (a dtype other than f32 f64 f16 bf16), and the compile errors. */
BRC_API brc_status brc_softmax_plan(brc_context *ctx, const brc_softmax_desc *desc,
                                    const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_softmax_backward_plan(brc_context *ctx, const brc_softmax_backward_desc *desc,
                                             const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_norm_plan(brc_context *ctx, const brc_norm_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);
BRC_API brc_status brc_norm_backward_plan(brc_context *ctx, const brc_norm_backward_desc *desc,
                                          const brc_plan_prefs *prefs, brc_plan **out);

/* Enqueue on stream. Device pointers. workspace / workspace_size: the caller's scratch memory
 * (may be NULL / 0 when brc_plan_workspace_size(plan) is 0). Errors: WRONG_PLAN (a plan of
 * another family or direction, or made offline), INVALID_ARGUMENT (a NULL pointer the plan needs,
 * forbidden aliasing, workspace too small), MISALIGNED, CUDA_ERROR (the launch failed). */
BRC_API brc_status brc_softmax_run(const brc_plan *plan, const void *x, void *y, void *workspace,
                                   size_t workspace_size, brc_stream stream);
BRC_API brc_status brc_softmax_backward_run(const brc_plan *plan, const void *y, const void *dy, void *dx,
                                            void *workspace, size_t workspace_size, brc_stream stream);
/* residual / sum: used only by a plan with has_residual (else ignored, may be NULL). weight / bias:
 * required when the plan has them. mean / rstd: optional outputs (NULL: not saved); mean is never
 * written by rms_norm. */
BRC_API brc_status brc_norm_run(const brc_plan *plan, const void *x, const void *residual, const void *weight,
                                const void *bias, void *y, void *sum, void *mean, void *rstd, void *workspace,
                                size_t workspace_size, brc_stream stream);
/* weight: required with has_weight. mean: required for layer_norm (ignored by rms_norm). rstd:
 * required. dweight / dbias: required with has_weight / has_bias. */
BRC_API brc_status brc_norm_backward_run(const brc_plan *plan, const void *x, const void *dy, const void *weight,
                                         const void *mean, const void *rstd, void *dx, void *dweight, void *dbias,
                                         void *workspace, size_t workspace_size, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_ROWS_H */
