/* baracuda — channel norm family: group_norm (and instance_norm, its G = C case) and batch_norm
 * over NCHW tensors, forward and backward.
 *
 * Layout. x is a brc_tensor_desc of rank 2..8, [N, C, *spatial], dense row-major (C order;
 * strides of dims of size 1 are ignored). HW below is the product of the spatial dims (1 for
 * rank 2). Every operand of a plan (x, y; x, dy, dx) has the same shape, dtype and layout.
 * Weight and bias are dense vectors of C elements of x's dtype, and so are dweight and dbias.
 * Channels-last layouts are not taken (INVALID_ARGUMENT): make the tensor contiguous first.
 *
 * Dtypes: f32, f16, bf16 (computed in f32) and f64 (computed in f64). Statistics — the saved
 * mean / rstd and batch_norm's running_mean / running_var — are always in the compute type: f32
 * for f32, f16 and bf16; f64 for f64. (PyTorch keeps running stats in the weight's dtype, which
 * under mixed precision is usually f32 too; here the rule is fixed by x's dtype alone.)
 *
 * Semantics (xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), var the biased variance):
 *  - group_norm: C is split into G groups of C / G consecutive channels; mean and var are taken
 *    per (sample, group) over (C / G) * HW elements; y = xhat * weight[c] + bias[c]. Saved mean
 *    and rstd are [N, G]. instance_norm is group_norm with G = C (statistics per (sample,
 *    channel)); layer norm over (C, *spatial) is G = 1.
 *  - batch_norm, training mode: mean and var per channel over N * HW elements; y as above; saved
 *    mean and rstd are [C]. With update_running, running_mean = (1 - momentum) * running_mean +
 *    momentum * mean and running_var = (1 - momentum) * running_var + momentum * var * M / (M -
 *    1), M = N * HW (the unbiased variance, as PyTorch), in place. Training needs M >= 2.
 *  - batch_norm, eval mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias;
 *    nothing is written but y.
 *  - Variance: never E[x^2] - mean^2. Each reduction keeps (count, mean, M2) states, built per
 *    thread with Welford updates and merged with Chan's formula in a fixed order.
 *  - Backward, with g = dy * weight[c] (dy without a weight) and the means over a statistic's
 *    elements: group_norm and training batch_norm give dx = rstd * (g - mean(g) - xhat *
 *    mean(g * xhat)); eval batch_norm gives dx = dy * weight * rstd_running. dweight[c] = sum of
 *    dy * xhat and dbias[c] = sum of dy over the channel's elements (xhat from the running stats
 *    in eval mode). The backward reads the saved mean / rstd (training) or the running stats
 *    (eval); it does not recompute them.
 *  - Determinism: no atomics. Partial states go to the caller's workspace (or, for group_norm
 *    groups that fit a CTA's or a cluster's shared memory, stay on chip) and are combined in a
 *    fixed order, so every result is bitwise reproducible for a given plan (the number of
 *    partials of batch_norm depends on N and the device: plans for different N may round
 *    differently).
 *
 * In place: y may be x, dx may be x or dy (the same pointer); any other overlap is undefined.
 *
 * Specialization: a plan compiles its kernels for the exact C, G and HW (compile-time constants),
 * the dtype, the flags and vector widths; N, eps and momentum are run-time values. The SKU shows
 * the kernels and their choices, e.g.
 *   bespoke:group_norm<bf16,channels=512,groups=32,spatial=4096,vec=8/8,weight,bias,fwd>+one,cl=2@sm_90
 *   bespoke:group_norm<bf16,channels=512,groups=32,spatial=4100,vec=4/4,weight,bias,fwd>+seg+fin+apply@sm_90
 *   bespoke:batch_norm<bf16,channels=256,spatial=3136,train,vec=8,tpb=256,running,fwd>+plane+fin+apply@sm_90
 * Canonical descriptors (docs/channel_norm.md):
 *   group_norm(dtype=bf16,channels=512,groups=32,spatial=4096,weight=1,bias=1,dir=fwd)
 *   batch_norm(dtype=f32,channels=256,spatial=3136,mode=train,weight=1,bias=1,running=1,dir=fwd)
 *
 * Running: x, y, dy, dx aligned to the plan's vector width times the element size (MISALIGNED
 * otherwise; prefs.vector_width = 1 makes a plan for unaligned views); weight, bias, dweight,
 * dbias and the statistics to their element size; the workspace to 256 bytes and at least
 * brc_plan_workspace_size() bytes (the per-statistic coefficients and the partial states live
 * there; it may be 0: a group_norm forward that reads x once needs none). Runs never
 * allocate, never synchronize and are safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_CHANNEL_NORM_H
#define BARACUDA_CHANNEL_NORM_H

#ifdef __cplusplus
extern "C" {
#endif

/* y = group_norm(x). */
typedef struct brc_group_norm_desc {
    brc_tensor_desc x, y;
    int64_t groups;   /* G >= 1 dividing C; G = C is instance_norm */
    int has_weight;   /* 0 or 1 */
    int has_bias;     /* 0 or 1 */
    double eps;       /* >= 0; PyTorch's default is 1e-5 */
} brc_group_norm_desc;

/* dx (and dweight, dbias) from x, dy, weight and the forward's saved mean / rstd. */
typedef struct brc_group_norm_backward_desc {
    brc_tensor_desc x, dy, dx;
    int64_t groups;
    int has_weight; /* the forward had a weight: it is read, and dweight is produced */
    int has_bias;   /* the forward had a bias: dbias is produced */
} brc_group_norm_backward_desc;

typedef enum brc_batch_norm_mode {
    BRC_BATCH_NORM_TRAIN = 0, /* batch statistics */
    BRC_BATCH_NORM_EVAL = 1   /* running statistics */
} brc_batch_norm_mode;

/* y = batch_norm(x). */
typedef struct brc_batch_norm_desc {
    brc_batch_norm_mode mode;
    brc_tensor_desc x, y;
    int has_weight;     /* 0 or 1 */
    int has_bias;       /* 0 or 1 */
    int update_running; /* 0 or 1; training mode only: running_mean / running_var updated in place */
    double eps;         /* >= 0; PyTorch's default is 1e-5 */
    double momentum;    /* in [0, 1]; PyTorch's default is 0.1 (its None, a cumulative average, is not offered) */
} brc_batch_norm_desc;

/* dx (and dweight, dbias). Training mode reads the saved mean / rstd; eval mode the running stats. */
typedef struct brc_batch_norm_backward_desc {
    brc_batch_norm_mode mode;
    brc_tensor_desc x, dy, dx;
    int has_weight; /* the forward had a weight: it is read, and dweight is produced */
    int has_bias;   /* the forward had a bias: dbias is produced */
    double eps;     /* eval mode: the forward's eps (rstd = 1 / sqrt(running_var + eps)); else unused */
} brc_batch_norm_backward_desc;

/* Select (and compile, or load from the cache) a plan. prefs may be NULL; prefs.vector_width
 * forces a narrower vector (a power of two). The plan is made for the descriptor's N (the kernels
 * are not: another N with the same C, G and spatial size reuses them).
 * Errors: INVALID_ARGUMENT (NULL pointers, rank outside 2..8, a layout that is not dense, shape or
 * dtype mismatch between operands, C = 0, groups < 1 or not dividing C, a flag not 0 or 1, eps < 0
 * or NaN, momentum outside [0, 1], update_running in eval mode, training batch_norm with N * HW
 * < 2), UNSUPPORTED (a dtype other than f32 f64 f16 bf16), and the compile errors. */
BRC_API brc_status brc_group_norm_plan(brc_context *ctx, const brc_group_norm_desc *desc,
                                       const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_group_norm_backward_plan(brc_context *ctx, const brc_group_norm_backward_desc *desc,
                                                const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_batch_norm_plan(brc_context *ctx, const brc_batch_norm_desc *desc,
                                       const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_batch_norm_backward_plan(brc_context *ctx, const brc_batch_norm_backward_desc *desc,
                                                const brc_plan_prefs *prefs, brc_plan **out);

/* Enqueue on stream. Device pointers. Errors: WRONG_PLAN (a plan of another family or direction,
 * or made offline), INVALID_ARGUMENT (a NULL pointer the plan needs, workspace too small),
 * MISALIGNED, CUDA_ERROR (a launch failed).
 *
 * group_norm: weight / bias required when the plan has them; mean / rstd ([N, G], compute type):
 * optional outputs (NULL: not saved). */
BRC_API brc_status brc_group_norm_run(const brc_plan *plan, const void *x, const void *weight, const void *bias,
                                      void *y, void *mean, void *rstd, void *workspace, size_t workspace_size,
                                      brc_stream stream);
/* weight: required with has_weight. mean / rstd: required. dweight / dbias: required with
 * has_weight / has_bias. */
BRC_API brc_status brc_group_norm_backward_run(const brc_plan *plan, const void *x, const void *dy,
                                               const void *weight, const void *mean, const void *rstd, void *dx,
                                               void *dweight, void *dbias, void *workspace, size_t workspace_size,
                                               brc_stream stream);
/* batch_norm, training mode: mean / rstd ([C], compute type) optional outputs; running_mean /
 * running_var ([C], compute type) required and updated in place with update_running, else
 * ignored. Eval mode: running_mean / running_var required inputs; mean / rstd ignored. */
BRC_API brc_status brc_batch_norm_run(const brc_plan *plan, const void *x, const void *weight, const void *bias,
                                      void *y, void *mean, void *rstd, void *running_mean, void *running_var,
                                      void *workspace, size_t workspace_size, brc_stream stream);
/* Training mode: mean / rstd (the forward's saved statistics) required, running stats ignored.
 * Eval mode: running_mean / running_var required, mean / rstd ignored. */
BRC_API brc_status brc_batch_norm_backward_run(const brc_plan *plan, const void *x, const void *dy,
                                               const void *weight, const void *mean, const void *rstd,
                                               const void *running_mean, const void *running_var, void *dx,
                                               void *dweight, void *dbias, void *workspace, size_t workspace_size,
                                               brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_CHANNEL_NORM_H */
