/* Channel norm family without a GPU: group_norm and batch_norm, every direction and mode, compile
 * for sm_80 and sm_90 (offline contexts) at a handful of shapes (odd spatial sizes: scalar vectors;
 * round ones: 16-byte vectors; f64), each plan made from its canonical descriptor and giving it
 * back; plans made through the API rebuild the same plan from their descriptors; and the
 * validation rules of channel_norm.h each give their status and name the operand. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct job {
    int sm;
    brc_dtype dt;
    int64_t ch, groups, hw;
} job;

ParameterizedTestParameters(cnorm_compile, every_op_mode_and_direction) {
    static job jobs[] = {
        {80, BRC_BF16, 512, 32, 4096}, {80, BRC_F32, 6, 3, 7},   {90, BRC_BF16, 256, 32, 3136},
        {90, BRC_F64, 12, 4, 1089},    {90, BRC_F16, 1024, 1024, 1},
    };
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

/* The canonical descriptors of every op of the family for (dtype, C, G, HW). */
static int canonical(const job *j, char out[][200]) {
    const char *d = brc_dtype_name(j->dt);
    long long c = (long long)j->ch, g = (long long)j->groups, hw = (long long)j->hw;
    int n = 0;
    snprintf(out[n++], 200, "group_norm(dtype=%s,channels=%lld,groups=%lld,spatial=%lld,weight=1,bias=1,dir=fwd)", d,
             c, g, hw);
    snprintf(out[n++], 200, "group_norm(dtype=%s,channels=%lld,groups=%lld,spatial=%lld,weight=0,bias=0,dir=fwd)", d,
             c, g, hw);
    snprintf(out[n++], 200, "group_norm(dtype=%s,channels=%lld,groups=%lld,spatial=%lld,weight=1,bias=1,dir=bwd)", d,
             c, g, hw);
    snprintf(out[n++], 200,
             "batch_norm(dtype=%s,channels=%lld,spatial=%lld,mode=train,weight=1,bias=1,running=1,dir=fwd)", d, c, hw);
    snprintf(out[n++], 200, "batch_norm(dtype=%s,channels=%lld,spatial=%lld,mode=eval,weight=1,bias=0,dir=fwd)", d, c,
             hw);
    snprintf(out[n++], 200, "batch_norm(dtype=%s,channels=%lld,spatial=%lld,mode=train,weight=1,bias=1,dir=bwd)", d, c,
             hw);
    snprintf(out[n++], 200, "batch_norm(dtype=%s,channels=%lld,spatial=%lld,mode=eval,weight=0,bias=1,dir=bwd)", d, c,
             hw);
    return n;
}

ParameterizedTest(job *j, cnorm_compile, every_op_mode_and_direction, .timeout = 600) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    char descs[8][200];
    int n = canonical(j, descs), kernels = 0;
    for (int i = 0; i < n; i++) {
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, descs[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", descs[i], arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), descs[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:") == sku && strstr(sku, arch), "sku %s", sku);
        for (const char *q = strchr(sku, '+'); q; q = strchr(q + 1, '+')) kernels++;
        cr_log_info("%s -> %s", descs[i], sku);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    /* Kernels shared between plans (the same specialization) compile once. */
    cr_expect(st.compiles > 0 && st.compiles <= (uint64_t)kernels, "%llu compiles for %d kernels",
              (unsigned long long)st.compiles, kernels);
    cr_log_info("%s %s: %d kernels, %llu compiles, %.0f ms", arch, brc_dtype_name(j->dt), kernels,
                (unsigned long long)st.compiles, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API, rebuilt from their descriptors ---------------------------------------- */

static brc_tensor_desc nchw(brc_dtype t, int64_t n, int64_t c, int64_t h, int64_t w) {
    int64_t shape[4] = {n, c, h, w};
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 4, shape);
    return d;
}

Test(cnorm_desc, api_plans_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_tensor_desc x = nchw(BRC_BF16, 32, 512, 64, 64);
    brc_group_norm_desc g = {x, x, 32, 1, 1, 1e-5};
    cr_assert_eq(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "group_norm(dtype=bf16,channels=512,groups=32,spatial=4096,weight=1,bias=1,dir=fwd)");
    /* A group of 16 x 4096 bf16 (128 KiB) is read once, by a cluster of two CTAs (gn_one). */
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:group_norm<bf16,channels=512,groups=32,spatial=4096,vec=8/8,"
                                      "weight,bias,fwd>+one,cl=2@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0, "gn_one keeps its statistics on chip");
    tu_round_trip(ctx, p);
    /* HW not a multiple of the 16-byte vector: the seg / fin / apply sequence. */
    brc_tensor_desc xo = nchw(BRC_BF16, 32, 512, 63, 65);
    g.x = g.y = xo;
    cr_assert_eq(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "+seg+fin+apply@sm_90"), "%s", brc_plan_sku(p));
    cr_expect(brc_plan_workspace_size(p) >= (size_t)32 * 512 * 2 * 4, "the segments' states");
    tu_round_trip(ctx, p);
    /* Instance norm of [3, 5, 7, 1]: G = C, odd spatial size, so scalar accesses. */
    brc_tensor_desc xi = nchw(BRC_F32, 3, 5, 7, 1);
    brc_group_norm_backward_desc gb = {xi, xi, xi, 5, 1, 0};
    cr_assert_eq(brc_group_norm_backward_plan(ctx, &gb, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "group_norm(dtype=f32,channels=5,groups=5,spatial=7,weight=1,bias=0,dir=bwd)");
    cr_expect(strstr(brc_plan_sku(p), "vec=1/1,") && strstr(brc_plan_sku(p), "+wb+apply@"), "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    brc_tensor_desc xb = nchw(BRC_F32, 64, 256, 56, 56);
    brc_batch_norm_desc b = {BRC_BATCH_NORM_TRAIN, xb, xb, 1, 1, 1, 1e-5, 0.1};
    cr_assert_eq(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "batch_norm(dtype=f32,channels=256,spatial=3136,mode=train,weight=1,bias=1,running=1,dir=fwd)");
    /* Training with 16-byte vectors dividing HW: bn_one, 25 units a channel (64 * 784 vectors in
     * chunks of 128 threads x 16), workspace for the partials and the 1 + C counters. */
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:batch_norm<f32,channels=256,spatial=3136,train,vec=4,tpb=128,v=16,"
                                      "weight,bias,running,fwd>+one@sm_90");
    cr_expect(brc_plan_workspace_size(p) >= (size_t)256 * 25 * 2 * 4 + 257 * 4, "%zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    brc_batch_norm_backward_desc bt = {BRC_BATCH_NORM_TRAIN, xb, xb, xb, 1, 1, 1e-5};
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bt, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:batch_norm<f32,channels=256,spatial=3136,train,vec=4,tpb=128,v=12,"
                                      "weight,bias,bwd>+one@sm_90");
    cr_expect(brc_plan_workspace_size(p) >= (size_t)256 * 33 * 2 * 4 + 257 * 4, "%zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    setenv("BARACUDA_BN_ONE", "0", 1); /* the two-read sequence, for measurements */
    cr_assert_eq(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_BN_ONE");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:batch_norm<f32,channels=256,spatial=3136,train,vec=4,tpb=256,weight,"
                                      "bias,running,fwd>+plane+fin+apply@sm_90");
    brc_plan_destroy(p);
    /* Channels of more than 64 bn_one units (f32 [128, 64, 112, 112]: 196 forward, 262 backward) keep
     * the sequence, and the descriptor says so: the choice depends on N. */
    brc_tensor_desc xl = nchw(BRC_F32, 128, 64, 112, 112);
    brc_batch_norm_desc bl = {BRC_BATCH_NORM_TRAIN, xl, xl, 1, 1, 1, 1e-5, 0.1};
    cr_assert_eq(brc_batch_norm_plan(ctx, &bl, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "batch_norm(dtype=f32,channels=64,spatial=12544,mode=train,weight=1,"
                                             "bias=1,running=1,reads=2,dir=fwd)");
    cr_expect(strstr(brc_plan_sku(p), "+plane+fin+apply@sm_90"), "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    brc_batch_norm_backward_desc bbl = {BRC_BATCH_NORM_TRAIN, xl, xl, xl, 1, 1, 1e-5};
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bbl, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_descriptor(p), ",reads=2,dir=bwd)"), "%s", brc_plan_descriptor(p));
    tu_round_trip(ctx, p);
    /* f32 [128, 64, 32, 32] forward: 128 * 256 / 2048 = 16 units a channel, bn_one. */
    brc_tensor_desc xm = nchw(BRC_F32, 128, 64, 32, 32);
    brc_batch_norm_desc bm = {BRC_BATCH_NORM_TRAIN, xm, xm, 1, 1, 1, 1e-5, 0.1};
    cr_assert_eq(brc_batch_norm_plan(ctx, &bm, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ">+one@sm_90") && !strstr(brc_plan_descriptor(p), "reads"), "%s",
              brc_plan_sku(p));
    tu_round_trip(ctx, p);
    /* HW = 49: no 16-byte vectors along HW, so the sequence. */
    brc_tensor_desc x7 = nchw(BRC_BF16, 32, 512, 7, 7);
    brc_batch_norm_desc b7 = {BRC_BATCH_NORM_TRAIN, x7, x7, 1, 1, 1, 1e-5, 0.1};
    cr_assert_eq(brc_batch_norm_plan(ctx, &b7, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "+plane+fin+apply@sm_90"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    /* [N, C] input, eval, with a forced scalar vector: the descriptor says vec=1. */
    int64_t s2[2] = {256, 1024};
    brc_tensor_desc x2;
    brc_tensor_desc_contiguous(&x2, BRC_BF16, 2, s2);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 1;
    brc_batch_norm_backward_desc bb = {BRC_BATCH_NORM_EVAL, x2, x2, x2, 0, 0, 1e-5};
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bb, &pr, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "batch_norm(dtype=bf16,channels=1024,spatial=1,mode=eval,weight=0,bias=0,vec=1,dir=bwd)");
    /* Eval backward: the plane writes dx (no apply); without dweight / dbias nothing else runs and no
     * workspace is needed, with them bn_fin sums the plane's partials. */
    cr_expect(strstr(brc_plan_sku(p), ",bwd>+plane_dx@sm_90"), "%s", brc_plan_sku(p));
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    brc_batch_norm_backward_desc be = {BRC_BATCH_NORM_EVAL, xb, xb, xb, 1, 1, 1e-5};
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &be, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:batch_norm<f32,channels=256,spatial=3136,eval,vec=4,tpb=256,weight,"
                                      "bias,bwd>+plane_dx+fin@sm_90");
    cr_expect_gt(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(cnorm_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"group_norm(dtype=f32,channels=6,groups=4,spatial=7)", BRC_STATUS_INVALID_ARGUMENT, "must be >= 1 and divide"},
        {"group_norm(dtype=f32,channels=6,spatial=7)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'groups' key"},
        {"batch_norm(dtype=f32,channels=6,spatial=7,groups=2)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'groups'"},
        {"batch_norm(dtype=f32,channels=6,spatial=7,mode=eval,running=1)", BRC_STATUS_INVALID_ARGUMENT,
         "unknown key 'running'"},
        {"batch_norm(dtype=f32,channels=6,spatial=7,mode=test)", BRC_STATUS_INVALID_ARGUMENT, "one of train, eval"},
        {"batch_norm(dtype=i32,channels=6,spatial=7)", BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported"},
        {"batch_norm(dtype=f32,channels=0,spatial=7)", BRC_STATUS_INVALID_ARGUMENT, "channels: 0 is outside"},
        {"batch_norm(dtype=f32,channels=6,spatial=7,reads=2)", BRC_STATUS_INVALID_ARGUMENT, "reads=2 is for spatial"},
        {"batch_norm(dtype=f32,channels=6,spatial=8,mode=eval,reads=2)", BRC_STATUS_INVALID_ARGUMENT,
         "unknown key 'reads'"},
        {"group_norm(dtype=f32,channels=6,groups=2,spatial=8,reads=2)", BRC_STATUS_INVALID_ARGUMENT,
         "unknown key 'reads'"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ---------------------------------------------------------------------------------- */

Test(cnorm_rules, bad_shapes_and_arguments) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_tensor_desc x = nchw(BRC_F32, 2, 6, 5, 5);

    tu_expect_fail(brc_group_norm_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_group_norm_desc g = {x, x, 4, 1, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "groups = 4 must be >= 1 and divide C = 6", p);
    g.groups = 0;
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "groups = 0", p);
    g = (brc_group_norm_desc){x, nchw(BRC_F32, 2, 6, 5, 4), 3, 1, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y and x differ in shape", p);
    g = (brc_group_norm_desc){x, nchw(BRC_F16, 2, 6, 5, 5), 3, 1, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f16", p);
    g = (brc_group_norm_desc){x, x, 3, 1, 1, -1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "eps = -1e-05 must be >= 0", p);
    g.eps = NAN;
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "eps", p);
    g = (brc_group_norm_desc){x, x, 3, 2, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has_weight = 2", p);
    /* Channels-last strides (N, C, H, W with C innermost) are not taken. */
    brc_tensor_desc cl = x;
    cl.strides[1] = 1, cl.strides[3] = 6, cl.strides[2] = 30, cl.strides[0] = 150;
    g = (brc_group_norm_desc){cl, cl, 3, 1, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "group_norm: x is not dense", p);
    int64_t s1[1] = {6};
    brc_tensor_desc r1;
    brc_tensor_desc_contiguous(&r1, BRC_F32, 1, s1);
    g = (brc_group_norm_desc){r1, r1, 3, 1, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x has rank 1", p);
    g = (brc_group_norm_desc){nchw(BRC_I32, 2, 6, 5, 5), nchw(BRC_I32, 2, 6, 5, 5), 3, 1, 1, 1e-5};
    tu_expect_fail(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32", p);
    brc_group_norm_backward_desc gb = {x, x, nchw(BRC_F32, 2, 6, 5, 6), 3, 1, 1};
    tu_expect_fail(brc_group_norm_backward_plan(ctx, &gb, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dx and x differ", p);
    gb = (brc_group_norm_backward_desc){x, x, x, 5, 1, 1};
    tu_expect_fail(brc_group_norm_backward_plan(ctx, &gb, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "divide C = 6", p);

    brc_batch_norm_desc b = {BRC_BATCH_NORM_TRAIN, x, x, 1, 1, 1, 1e-5, 1.5};
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "momentum = 1.5 must be in [0, 1]", p);
    b.momentum = -0.1;
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "momentum = -0.1", p);
    b.momentum = 0.1, b.eps = -1;
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "batch_norm: eps = -1", p);
    b = (brc_batch_norm_desc){BRC_BATCH_NORM_EVAL, x, x, 1, 1, 1, 1e-5, 0.1};
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "update_running = 1 in eval mode", p);
    b = (brc_batch_norm_desc){(brc_batch_norm_mode)3, x, x, 1, 1, 0, 1e-5, 0.1};
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mode 3 is not a batch_norm mode", p);
    b = (brc_batch_norm_desc){BRC_BATCH_NORM_TRAIN, x, nchw(BRC_F32, 2, 5, 5, 5), 1, 1, 0, 1e-5, 0.1};
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y and x differ in shape", p);
    /* One value per channel: no batch variance in training (eval takes it). */
    brc_tensor_desc one = nchw(BRC_F32, 1, 6, 1, 1);
    b = (brc_batch_norm_desc){BRC_BATCH_NORM_TRAIN, one, one, 1, 1, 0, 1e-5, 0.1};
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "more than one value per channel", p);
    b.mode = BRC_BATCH_NORM_EVAL;
    cr_expect_eq(brc_batch_norm_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    brc_batch_norm_backward_desc bb = {BRC_BATCH_NORM_TRAIN, x, nchw(BRC_BF16, 2, 6, 5, 5), x, 1, 1, 1e-5};
    tu_expect_fail(brc_batch_norm_backward_plan(ctx, &bb, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dy has dtype bf16", p);
    bb = (brc_batch_norm_backward_desc){BRC_BATCH_NORM_EVAL, x, x, x, 1, 1, -2};
    tu_expect_fail(brc_batch_norm_backward_plan(ctx, &bb, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "eps = -2", p);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    b = (brc_batch_norm_desc){BRC_BATCH_NORM_TRAIN, x, x, 1, 1, 0, 1e-5, 0.1};
    tu_expect_fail(brc_batch_norm_plan(ctx, &b, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 3", p);

    /* Offline plans refuse to run; a plan of another family is refused. */
    g = (brc_group_norm_desc){x, x, 3, 0, 0, 1e-5};
    cr_assert_eq(brc_group_norm_plan(ctx, &g, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_group_norm_run(p, (void *)256, NULL, NULL, (void *)256, NULL, NULL, (void *)256, 1 << 20, NULL),
                 BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_batch_norm_run(p, (void *)256, NULL, NULL, (void *)256, NULL, NULL, NULL, NULL, (void *)256,
                                    1 << 20, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}
