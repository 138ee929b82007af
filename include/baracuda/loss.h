/* baracuda — loss family: cross_entropy and nll_loss over class scores, and the pointwise losses
 * (mse, l1, smooth_l1, huber, binary_cross_entropy, binary_cross_entropy_with_logits, kl_div),
 * forward and backward, with PyTorch's semantics.
 *
 * Class losses (brc_cross_entropy_desc). input: [N, C] (any rank >= 1 whose last dim is the class
 * axis with stride 1 and whose leading dims flatten to N rows with one row stride, as rows.h),
 * logits for cross_entropy, log-probabilities for nll_loss. target: class indices (i32 or i64,
 * N elements with one element stride: [N] or the leading dims of input) or, cross_entropy only,
 * probabilities (the input's shape and dtype, its own row stride). weight: optional [C] class
 * weights of the input's dtype, contiguous. loss: reduction none: N elements of the input's
 * dtype with one element stride; mean / sum: one element (rank 0, or any shape of one element).
 *  - index targets: l_n = w[y_n] * (lse_n - x_{n,y_n}) with lse_n = log(sum_c exp(x_{n,c}))
 *    (nll_loss: l_n = -w[y_n] * x_{n,y_n}); with label smoothing e (cross_entropy, 0 <= e <= 1):
 *    l_n = (1 - e) * that + e / C * sum_c w_c * (lse_n - x_{n,c}) (w_c = 1 without weights).
 *    Rows whose target is ignore_index give 0. mean divides the sum of l_n by the sum of w[y_n]
 *    over the rows not ignored (their count without weights), so all rows ignored give NaN, as
 *    PyTorch. An index outside [0, C) that is not ignore_index is a caller error: that row's
 *    loss (and its gradient row) is NaN, so the mean and sum are NaN; nothing is read or written
 *    out of bounds (PyTorch raises a device assertion instead).
 *  - probability targets (cross_entropy): t' = (1 - e) * t + e / C; l_n = -sum_c w_c t'_c *
 *    (x_{n,c} - lse_n); mean divides by N. ignore_index does not apply.
 *  - Backward: dinput = g_n * d l_n / d x_n with g_n = dy[n] (none), dy (sum) or dy / the mean's
 *    divisor (mean; recomputed from the targets and weights: a one-CTA pre-pass), i.e. for index
 *    targets g * (((1 - e) w_y + e W / C) softmax_c - (1 - e) w_y [c == y] - e w_c / C), W = sum
 *    of the weights (C without), and for probability targets g * ((sum_c w_c t'_c) softmax_c -
 *    w_c t'_c). nll_loss: dinput = -g w_y at the target class, 0 elsewhere. No gradient is
 *    produced for the target or the weight.
 *  - The forward can save lse_n (f32 [N] for f32/f16/bf16, f64 for f64, contiguous); the
 *    backward uses it when given and recomputes it (one more pass over the row when it does not
 *    stay in registers) when it is NULL.
 *
 * Pointwise losses (brc_pointwise_loss_desc): input, target (and the optional weight) have the
 * same shape and dtype and are contiguous; pos_weight (binary_cross_entropy_with_logits) is a
 * contiguous vector of the last dim's length, broadcast over the leading dims. d = x - y:
 *    mse (x - y)^2;  l1 |d|;  smooth_l1 |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta (beta = 0 is l1);
 *    huber |d| <= delta ? 0.5 d^2 : delta (|d| - 0.5 delta);
 *    binary_cross_entropy -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100));
 *    binary_cross_entropy_with_logits w ((1 - y) x + (1 + (p - 1) y)(log1p(exp(-|x|)) + max(-x, 0)));
 *    kl_div y (log y - x) (0 where y = 0), or with log_target exp(y) (y - x).
 * reduction none writes the input's shape; mean divides the sum by the element count (NaN for
 * none), sum; batchmean (kl_div only) divides by the first dim. Backward: dinput only (the
 * input's shape and dtype) from dy (the loss's shape: the input's for none, one element else);
 * gradients as PyTorch (bce: w (x - y) / max(x (1 - x), 1e-12); smooth_l1/huber: the clamped d).
 *
 * Dtypes: f32, f16, bf16 (computed in f32) and f64 (computed in f64); the loss and the gradients
 * are in the input's dtype. Reductions accumulate in the compute type. In f32, exp (softmax,
 * sigmoid) goes through the hardware's exp2 approximation: relative error about 1e-6 for
 * arguments within +-20, and values below 2^-126 flush to 0 (f64 uses the exact exp).
 *
 * Determinism: no atomics. A reduction over rows or elements writes one partial (sum of losses,
 * sum of divisors) per CTA to the caller's workspace and a one-CTA kernel adds them in a fixed
 * order: results are bitwise reproducible for a given plan (the partial count depends on the row
 * or element count and the device, so plans for different sizes may round differently).
 *
 * Specialization. cross_entropy / nll_loss backward are row kernels compiled for the exact class
 * count with 16-byte vector loads where C and the row strides allow, threads per row, rows per
 * CTA and the chunks per row (one streaming pass: online max and sum of exponentials, the target
 * logit and the smoothing or probability sums together; rows of any length, no O(C^2)). The
 * backward makes one pass writing dinput (a second, reading, pass only when lse is not given,
 * or for the sums that probability targets or weighted smoothing need, when the row does not stay
 * in registers). nll_loss forward is one thread per row. Pointwise losses are a vectorized
 * grid-stride loop with per-CTA partials. SKUs:
 *   bespoke:cross_entropy<bf16,classes=32768,target=i64,vec=8,tpr=256,rpb=1,chunks=8,mean,fwd>+final@sm_90
 *   bespoke:mse_loss<f32,vec=4,threads=256,mean,fwd>+final@sm_90
 * Canonical descriptors (docs/loss.md): cross_entropy(dtype=bf16,classes=32768,target=i64,weight=0,
 * smoothing=0,reduction=mean,dir=fwd), nll_loss(dtype=f32,classes=1000,target=i64,weight=1,
 * reduction=sum,dir=bwd), mse_loss(dtype=f32,reduction=mean,dir=fwd), smooth_l1_loss(...),
 * huber_loss, l1_loss, bce_loss(dtype=..,weight=0,...) (binary_cross_entropy), bce_with_logits_loss
 * (dtype=..,weight=0,pos_weight=0,...), kl_div(dtype=..,log_target=0,reduction=batchmean,...).
 *
 * Running: input, target (probabilities), weight, pos_weight, dy (none) and dinput must be
 * aligned to the plan's vector width times the dtype size (MISALIGNED; make the plan with
 * prefs.vector_width = 1 for unaligned views); index targets, lse and scalar operands to their
 * element size; the workspace to 256 bytes and at least brc_plan_workspace_size() bytes (mean
 * and sum forwards; cross_entropy / nll_loss mean backward with index targets). dinput may be
 * the input (same pointer, same row stride) in the backward. Runs never allocate, never
 * synchronize and are safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_LOSS_H
#define BARACUDA_LOSS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum brc_loss_reduction {
    BRC_REDUCTION_NONE = 0,
    BRC_REDUCTION_MEAN = 1,
    BRC_REDUCTION_SUM = 2,
    BRC_REDUCTION_BATCHMEAN = 3 /* kl_div only: sum / input.shape[0] */
} brc_loss_reduction;

typedef enum brc_class_loss_kind {
    BRC_LOSS_CROSS_ENTROPY = 0, /* input: logits */
    BRC_LOSS_NLL = 1            /* input: log-probabilities (nll_loss) */
} brc_class_loss_kind;

typedef enum brc_class_target_kind {
    BRC_TARGET_INDEX = 0, /* class indices, i32 or i64 (target's dtype) */
    BRC_TARGET_PROB = 1   /* class probabilities: the input's shape and dtype (cross_entropy) */
} brc_class_target_kind;

/* loss = cross_entropy(input, target) or nll_loss(input, target). */
typedef struct brc_cross_entropy_desc {
    brc_class_loss_kind kind;
    brc_tensor_desc input;   /* [..., C] */
    brc_tensor_desc target;  /* indices [...] (i32 / i64) or probabilities [..., C] */
    brc_class_target_kind target_kind;
    int has_weight;          /* 0 or 1 */
    brc_tensor_desc weight;  /* [C], the input's dtype */
    int64_t ignore_index;    /* index targets; PyTorch's default is -100 */
    double label_smoothing;  /* 0..1; cross_entropy only */
    brc_loss_reduction reduction; /* none, mean, sum */
    brc_tensor_desc loss;    /* none: [...] (N elements); mean / sum: one element */
} brc_cross_entropy_desc;

/* dinput from dy. forward: the forward's description, whose loss field describes dy. */
typedef struct brc_cross_entropy_backward_desc {
    brc_cross_entropy_desc forward;
    brc_tensor_desc dinput;  /* the input's shape and dtype */
} brc_cross_entropy_backward_desc;

typedef enum brc_pointwise_loss_kind {
    BRC_LOSS_MSE = 0,
    BRC_LOSS_L1 = 1,
    BRC_LOSS_SMOOTH_L1 = 2,  /* param: beta >= 0 (PyTorch's default 1) */
    BRC_LOSS_HUBER = 3,      /* param: delta > 0 (default 1) */
    BRC_LOSS_BCE = 4,        /* binary_cross_entropy: input probabilities */
    BRC_LOSS_BCE_WITH_LOGITS = 5,
    BRC_LOSS_KL_DIV = 6      /* input: log-probabilities; log_target */
} brc_pointwise_loss_kind;

typedef struct brc_pointwise_loss_desc {
    brc_pointwise_loss_kind kind;
    brc_tensor_desc input, target; /* same shape and dtype, contiguous */
    int has_weight;                /* bce, bce_with_logits: elementwise weight, input's shape */
    brc_tensor_desc weight;
    int has_pos_weight;            /* bce_with_logits: [last dim] */
    brc_tensor_desc pos_weight;
    brc_loss_reduction reduction;
    double param;                  /* smooth_l1: beta; huber: delta; else ignored */
    int log_target;                /* kl_div: 0 or 1 */
    brc_tensor_desc loss;          /* none: the input's shape; else one element */
} brc_pointwise_loss_desc;

typedef struct brc_pointwise_loss_backward_desc {
    brc_pointwise_loss_desc forward; /* its loss field describes dy */
    brc_tensor_desc dinput;          /* the input's shape and dtype, contiguous */
} brc_pointwise_loss_backward_desc;

/* Select (and compile, or load from the cache) a plan. prefs may be NULL; prefs.vector_width
 * forces a narrower vector. The plan is made for the descriptor's sizes (the kernels depend on
 * the class count, not on N or the element count).
 * Errors: INVALID_ARGUMENT (NULL pointers, a layout the family cannot take, shape or dtype
 * mismatch, a bad kind / target kind / reduction, label_smoothing outside [0, 1] or on nll_loss,
 * probability targets on nll_loss, beta < 0, delta <= 0, flags not 0 or 1, batchmean on another
 * loss than kl_div), UNSUPPORTED (a dtype other than f32 f64 f16 bf16, index targets other than
 * i32 / i64), and the compile errors. */
BRC_API brc_status brc_cross_entropy_plan(brc_context *ctx, const brc_cross_entropy_desc *desc,
                                          const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_cross_entropy_backward_plan(brc_context *ctx, const brc_cross_entropy_backward_desc *desc,
                                                   const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_pointwise_loss_plan(brc_context *ctx, const brc_pointwise_loss_desc *desc,
                                           const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_pointwise_loss_backward_plan(brc_context *ctx,
                                                    const brc_pointwise_loss_backward_desc *desc,
                                                    const brc_plan_prefs *prefs, brc_plan **out);

/* Enqueue on stream. Device pointers. weight: required with has_weight (else ignored). lse:
 * optional output [N] in the compute type (NULL: not saved). Errors: WRONG_PLAN (another family
 * or direction, or an offline plan), INVALID_ARGUMENT (a NULL pointer the plan needs, workspace
 * too small), MISALIGNED, CUDA_ERROR. */
BRC_API brc_status brc_cross_entropy_run(const brc_plan *plan, const void *input, const void *target,
                                         const void *weight, void *loss, void *lse, void *workspace,
                                         size_t workspace_size, brc_stream stream);
/* lse: the forward's saved lse or NULL (recomputed; ignored by nll_loss). input: may be NULL for
 * nll_loss (not read). dy: the loss's shape. */
BRC_API brc_status brc_cross_entropy_backward_run(const brc_plan *plan, const void *input, const void *target,
                                                  const void *weight, const void *lse, const void *dy,
                                                  void *dinput, void *workspace, size_t workspace_size,
                                                  brc_stream stream);
/* weight / pos_weight: required when the plan has them (else ignored, may be NULL). */
BRC_API brc_status brc_pointwise_loss_run(const brc_plan *plan, const void *input, const void *target,
                                          const void *weight, const void *pos_weight, void *loss,
                                          void *workspace, size_t workspace_size, brc_stream stream);
BRC_API brc_status brc_pointwise_loss_backward_run(const brc_plan *plan, const void *input, const void *target,
                                                   const void *weight, const void *pos_weight, const void *dy,
                                                   void *dinput, void *workspace, size_t workspace_size,
                                                   brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_LOSS_H */
