/* Loss family without a GPU: representative variants of every op and direction compile for sm_80 and
 * sm_90 (offline contexts), each plan made from its canonical descriptor and giving it back; plans
 * made through the API rebuild from their descriptors; and the validation rules of loss.h each give
 * their status and a message naming the operand. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* A handful of variants (not a cross product): each kernel template with each of its flags at
 * least once, short rows (several rows a CTA), one CTA a row, and several chunks a row. */
static const char *const compile_descs[] = {
    "cross_entropy(dtype=bf16,classes=32768,target=i64,weight=0,smoothing=0,reduction=mean,dir=fwd)",
    "cross_entropy(dtype=bf16,classes=32768,target=i64,weight=0,smoothing=0,reduction=mean,dir=bwd)",
    "cross_entropy(dtype=f32,classes=7,target=i32,weight=1,smoothing=1,reduction=sum,dir=fwd)",
    "cross_entropy(dtype=f32,classes=7,target=i32,weight=1,smoothing=1,reduction=none,dir=bwd)",
    "cross_entropy(dtype=f64,classes=1000,target=prob,weight=1,smoothing=1,reduction=mean,dir=fwd)",
    "cross_entropy(dtype=f16,classes=4097,target=prob,weight=0,smoothing=0,reduction=mean,dir=bwd)",
    "nll_loss(dtype=bf16,classes=1000,target=i64,weight=1,reduction=mean,dir=fwd)",
    "nll_loss(dtype=f32,classes=1000,target=i32,weight=0,reduction=mean,dir=bwd)",
    "mse_loss(dtype=f32,reduction=mean,dir=fwd)",
    "l1_loss(dtype=bf16,reduction=none,dir=bwd)",
    "smooth_l1_loss(dtype=f64,reduction=sum,dir=fwd)",
    "huber_loss(dtype=f16,reduction=mean,dir=bwd)",
    "bce_loss(dtype=f32,weight=1,reduction=mean,dir=bwd)",
    "bce_with_logits_loss(dtype=bf16,weight=1,pos_weight=1,reduction=sum,dir=fwd)",
    "kl_div(dtype=f32,log_target=1,reduction=batchmean,dir=fwd)",
    "kl_div(dtype=bf16,log_target=0,reduction=batchmean,dir=bwd)",
};
#define NCOMPILE ((int)(sizeof compile_descs / sizeof compile_descs[0]))

typedef struct job {
    int sm;
    int first, n;
} job;

ParameterizedTestParameters(loss_compile, representative_variants) {
    static job jobs[] = {{80, 0, 8}, {80, 8, 8}, {90, 0, 8}, {90, 8, 8}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, loss_compile, representative_variants, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    for (int i = j->first; i < j->first + j->n && i < NCOMPILE; i++) {
        brc_plan *p = NULL;
        brc__error_clear();
        brc_status s = brc__plan_from_descriptor(ctx, compile_descs[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", compile_descs[i], arch, brc_last_error(),
                     brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), compile_descs[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:") == sku && strstr(sku, arch), "sku %s", sku);
        cr_log_info("%s -> %s", compile_descs[i], sku);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect(st.compiles > 0, "real compiles");
    brc_context_destroy(ctx);
}

/* ---- plans made through the API, rebuilt from their descriptors ---------------------------------- */

static brc_tensor_desc vec1(brc_dtype t, int64_t n) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 1, &n);
    return d;
}
static brc_tensor_desc scalar(brc_dtype t) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 0, NULL);
    return d;
}

static brc_cross_entropy_desc ce(brc_dtype dt, int64_t N, int64_t C) {
    brc_cross_entropy_desc d = {0};
    d.kind = BRC_LOSS_CROSS_ENTROPY;
    d.input = tu_mat(dt, N, C, C);
    d.target = vec1(BRC_I64, N);
    d.target_kind = BRC_TARGET_INDEX;
    d.weight = vec1(dt, C);
    d.ignore_index = -100;
    d.reduction = BRC_REDUCTION_MEAN;
    d.loss = scalar(dt);
    return d;
}

static brc_pointwise_loss_desc pwd(brc_pointwise_loss_kind k, brc_dtype dt, int64_t R, int64_t C) {
    brc_pointwise_loss_desc d = {0};
    d.kind = k;
    d.input = tu_mat(dt, R, C, C);
    d.target = d.input;
    d.weight = d.input;
    d.pos_weight = vec1(dt, C);
    d.reduction = BRC_REDUCTION_MEAN;
    d.param = 1.0;
    d.loss = scalar(dt);
    return d;
}

Test(loss_desc, api_plans_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_cross_entropy_desc d = ce(BRC_BF16, 8192, 32768);
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "cross_entropy(dtype=bf16,classes=32768,target=i64,weight=0,smoothing=0,reduction=mean,dir=fwd)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:cross_entropy<bf16,classes=32768,target=i64,vec=8,tpr=256,rpb=1,"
                                      "chunks=8,mean,fwd>+final@sm_90");
    cr_expect(brc_plan_workspace_size(p) > 0, "partials for the mean");
    tu_round_trip(ctx, p);
    /* An odd row stride forces vec=1: the descriptor says so. */
    d = ce(BRC_F32, 3, 1000);
    d.input.strides[0] = 1001;
    d.reduction = BRC_REDUCTION_NONE;
    d.loss = vec1(BRC_F32, 3);
    d.has_weight = 1;
    d.label_smoothing = 0.2;
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "cross_entropy(dtype=f32,classes=1000,target=i64,weight=1,smoothing=1,reduction=none,vec=1,dir=fwd)");
    cr_expect_eq(brc_plan_workspace_size(p), 0, "no reduction, no workspace");
    tu_round_trip(ctx, p);
    /* nll_loss backward, mean: the divisor pre-pass. */
    d = ce(BRC_F16, 257, 7);
    d.kind = BRC_LOSS_NLL;
    d.target = vec1(BRC_I32, 257);
    brc_cross_entropy_backward_desc b = {d, d.input};
    cr_assert_eq(brc_cross_entropy_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "nll_loss(dtype=f16,classes=7,target=i32,weight=0,reduction=mean,dir=bwd)");
    cr_expect(strstr(brc_plan_sku(p), "+denom@") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    brc_pointwise_loss_desc w = pwd(BRC_LOSS_BCE_WITH_LOGITS, BRC_BF16, 33, 7);
    w.has_pos_weight = 1;
    cr_assert_eq(brc_pointwise_loss_plan(ctx, &w, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "bce_with_logits_loss(dtype=bf16,weight=0,pos_weight=1,reduction=mean,dir=fwd)");
    tu_round_trip(ctx, p);
    w = pwd(BRC_LOSS_MSE, BRC_F32, 4, 1000);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 1;
    cr_assert_eq(brc_pointwise_loss_plan(ctx, &w, &pr, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "mse_loss(dtype=f32,reduction=mean,vec=1,dir=fwd)");
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(loss_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"cross_entropy(dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'classes' key"},
        {"cross_entropy(dtype=f32,classes=0)", BRC_STATUS_INVALID_ARGUMENT, "classes: 0 is outside"},
        {"cross_entropy(dtype=i32,classes=8)", BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported"},
        {"cross_entropy(dtype=f32,classes=8,reduction=batchmean)", BRC_STATUS_INVALID_ARGUMENT, "one of none, mean, sum"},
        {"nll_loss(dtype=f32,classes=8,target=prob)", BRC_STATUS_INVALID_ARGUMENT, "one of i32, i64"},
        {"nll_loss(dtype=f32,classes=8,smoothing=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'smoothing'"},
        {"mse_loss(dtype=f32,weight=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'weight'"},
        {"mse_loss(dtype=f32,reduction=batchmean)", BRC_STATUS_INVALID_ARGUMENT, "one of none, mean, sum"},
        {"kl_div(dtype=f32,dir=sideways)", BRC_STATUS_INVALID_ARGUMENT, "one of fwd, bwd"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ---------------------------------------------------------------------------- */

Test(loss_rules, class_loss_validation) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    tu_expect_fail(brc_cross_entropy_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_cross_entropy_desc d = ce(BRC_F32, 4, 64);
    d.kind = (brc_class_loss_kind)5;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 5", p);
    d = ce(BRC_F32, 4, 64);
    d.input.strides[1] = 2;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "input: the last dim has stride 2", p);
    d = ce(BRC_I32, 4, 64);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported", p);
    d = ce(BRC_F32, 4, 64);
    d.target = vec1(BRC_F32, 4);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "target has dtype f32", p);
    d = ce(BRC_F32, 4, 64);
    d.target = vec1(BRC_I64, 5);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "target has 5 elements", p);
    d = ce(BRC_F32, 4, 64);
    d.target_kind = BRC_TARGET_PROB;
    d.target = tu_mat(BRC_F32, 4, 65, 65);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "target and input differ in shape", p);
    d.target = tu_mat(BRC_F16, 4, 64, 64);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "target has dtype f16", p);
    d = ce(BRC_F32, 4, 64);
    d.label_smoothing = 1.5;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "label_smoothing = 1.5 is outside [0, 1]", p);
    d.label_smoothing = -0.1;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "outside [0, 1]", p);
    d = ce(BRC_F32, 4, 64);
    d.kind = BRC_LOSS_NLL;
    d.label_smoothing = 0.1;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "nll_loss: has no label smoothing", p);
    d.label_smoothing = 0;
    d.target_kind = BRC_TARGET_PROB;
    d.target = d.input;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "not probability targets", p);
    d = ce(BRC_F32, 4, 64);
    d.reduction = (brc_loss_reduction)9;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "reduction 9 is not a reduction", p);
    d.reduction = BRC_REDUCTION_BATCHMEAN;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "batchmean is kl_div's only", p);
    d = ce(BRC_F32, 4, 64);
    d.reduction = BRC_REDUCTION_NONE; /* loss is still a scalar */
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "loss has 1 elements; reduction none needs 4", p);
    d = ce(BRC_F32, 4, 64);
    d.loss = scalar(BRC_BF16);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "loss has dtype bf16", p);
    d = ce(BRC_F32, 4, 64);
    d.has_weight = 1;
    d.weight = vec1(BRC_F32, 63);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "weight has 63 elements", p);
    d.has_weight = 2;
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has_weight = 2", p);
    d = ce(BRC_F32, 4, 64);
    brc_cross_entropy_backward_desc b = {d, tu_mat(BRC_F32, 4, 64, 32)};
    tu_expect_fail(brc_cross_entropy_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dinput has row stride 32", p);
    b.dinput = tu_mat(BRC_F32, 4, 63, 64);
    tu_expect_fail(brc_cross_entropy_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dinput and input differ in shape", p);
    b.dinput = tu_mat(BRC_F32, 4, 64, 64);
    b.forward.loss = vec1(BRC_F32, 4);
    tu_expect_fail(brc_cross_entropy_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dy has 4 elements", p);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    d = ce(BRC_F32, 4, 64);
    tu_expect_fail(brc_cross_entropy_plan(ctx, &d, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 3", p);

    /* Offline plans refuse to run; a plan of another family or direction is refused. */
    d = ce(BRC_F32, 4, 64);
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    void *a = (void *)256;
    cr_expect_eq(brc_cross_entropy_run(p, a, a, a, a, a, a, 4096, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_cross_entropy_backward_run(p, a, a, a, a, a, a, a, 4096, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_pointwise_loss_run(p, a, a, a, a, a, a, 4096, NULL), BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

Test(loss_rules, pointwise_loss_validation) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_pointwise_loss_desc d = pwd((brc_pointwise_loss_kind)11, BRC_F32, 4, 64);
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 11", p);
    d = pwd(BRC_LOSS_MSE, BRC_F32, 4, 64);
    d.target = tu_mat(BRC_F32, 4, 63, 63);
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "target and input differ in shape", p);
    d.target = tu_mat(BRC_BF16, 4, 64, 64);
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mse_loss: target has dtype bf16", p);
    d = pwd(BRC_LOSS_MSE, BRC_F32, 4, 64);
    d.input.strides[0] = 65;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "input must be contiguous", p);
    d = pwd(BRC_LOSS_MSE, BRC_I64, 4, 64);
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i64 is not supported", p);
    d = pwd(BRC_LOSS_MSE, BRC_F32, 4, 64);
    d.has_weight = 1;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mse_loss: has no weight", p);
    d = pwd(BRC_LOSS_BCE, BRC_F32, 4, 64);
    d.has_pos_weight = 1;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has no pos_weight", p);
    d = pwd(BRC_LOSS_BCE_WITH_LOGITS, BRC_F32, 4, 64);
    d.has_pos_weight = 1;
    d.pos_weight = vec1(BRC_F32, 4);
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "pos_weight has 4 elements", p);
    d = pwd(BRC_LOSS_L1, BRC_F32, 4, 64);
    d.log_target = 1;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has no log_target", p);
    d = pwd(BRC_LOSS_MSE, BRC_F32, 4, 64);
    d.reduction = BRC_REDUCTION_BATCHMEAN;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "batchmean is kl_div's only", p);
    d.reduction = (brc_loss_reduction)-1;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "is not a reduction", p);
    d = pwd(BRC_LOSS_SMOOTH_L1, BRC_F32, 4, 64);
    d.param = -1;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "beta = -1", p);
    d = pwd(BRC_LOSS_HUBER, BRC_F32, 4, 64);
    d.param = 0;
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "delta = 0", p);
    d = pwd(BRC_LOSS_MSE, BRC_F32, 4, 64);
    d.reduction = BRC_REDUCTION_NONE; /* loss is still a scalar */
    tu_expect_fail(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "loss and input differ in shape", p);
    d = pwd(BRC_LOSS_MSE, BRC_F32, 4, 64);
    brc_pointwise_loss_backward_desc b = {d, tu_mat(BRC_F16, 4, 64, 64)};
    tu_expect_fail(brc_pointwise_loss_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dinput has dtype f16", p);
    b.forward.loss = vec1(BRC_F32, 2);
    b.dinput = d.input;
    tu_expect_fail(brc_pointwise_loss_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dy has 2 elements", p);
    brc_context_destroy(ctx);
}
