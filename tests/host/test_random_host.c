/* Random family without a GPU: every kind compiles for sm_90 (and a subset for sm_80) from its
 * canonical descriptor and gives that descriptor back; plans made through the API pick the layout
 * their strides call for, report the Philox counters they consume and rebuild from their
 * descriptors; and each validation rule of random.h gives its status and names the operand. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct job {
    int sm;
    int part;
} job;

ParameterizedTestParameters(random_compile, every_kind) {
    static job jobs[] = {{90, 0}, {90, 1}, {80, 0}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

/* Every kind and both layouts across the dtypes, in two halves (CI time); sm_80 gets the first. */
static const char *const variants[2][6] = {
    {"random(op=uniform,dtype=f32,layout=contig)", "random(op=normal,dtype=f64,layout=strided)",
     "random(op=bernoulli,dtype=u8,p=f32,layout=strided)", "random(op=dropout,dtype=bf16,layout=contig)",
     "random(op=dropout_backward,dtype=f16,layout=strided)", "random(op=normal,dtype=bf16,layout=contig)"},
    {"random(op=uniform,dtype=f64,layout=strided)", "random(op=uniform,dtype=f16,layout=contig)",
     "random(op=bernoulli,dtype=bool,p=scalar,layout=contig)", "random(op=bernoulli,dtype=i64,p=bf16,layout=contig)",
     "random(op=dropout_backward,dtype=f64,layout=contig)", "random(op=normal,dtype=f32,layout=strided)"},
};

ParameterizedTest(job *j, random_compile, every_kind, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    for (int i = 0; i < 6; i++) {
        const char *text = variants[j->part][i];
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, text, &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", text, arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), text, "the descriptor round-trips");
        cr_expect(strstr(brc_plan_sku(p), "bespoke:random<") == brc_plan_sku(p) && strstr(brc_plan_sku(p), arch),
                  "%s", brc_plan_sku(p));
        cr_expect_eq(brc_plan_workspace_size(p), 0);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, 6, "every kernel was a real compile");
    cr_log_info("%s part %d: %.0f ms", arch, j->part, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API ------------------------------------------------------------------ */

static brc_random_desc rdesc(brc_random_kind k, brc_tensor_desc t, double a, double b) {
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = k;
    d.x = d.y = d.p = t;
    d.mask = t;
    d.mask.dtype = BRC_U8;
    d.a = a, d.b = b;
    return d;
}

Test(random_desc, api_plans_layout_counters_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* Dense: contig; 1001 f32 values are 251 Philox blocks of 4. */
    brc_tensor_desc t = tu_mat(BRC_F32, 7, 143, 143);
    brc_random_desc d = rdesc(BRC_RANDOM_UNIFORM, t, -1, 2);
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "random(op=uniform,dtype=f32,layout=contig)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:random<uniform,f32,contig,per=4>@sm_90");
    cr_expect_eq(brc_random_counters(p), 251);
    tu_round_trip(ctx, p);
    /* f64 normal: 2 a block; a padded row stride: strided. */
    d = rdesc(BRC_RANDOM_NORMAL, tu_mat(BRC_F64, 7, 143, 150), 0, 1);
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "random(op=normal,dtype=f64,layout=strided)");
    cr_expect_eq(brc_random_counters(p), 501);
    tu_round_trip(ctx, p);
    /* bernoulli from a probability tensor; dropout; dropout backward consumes nothing. */
    d = rdesc(BRC_RANDOM_BERNOULLI, tu_mat(BRC_BOOL, 4, 4, 4), 0, 0);
    d.use_p = 1;
    d.p = tu_mat(BRC_BF16, 4, 4, 4);
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "random(op=bernoulli,dtype=bool,p=bf16,layout=contig)");
    tu_round_trip(ctx, p);
    d = rdesc(BRC_RANDOM_DROPOUT, tu_mat(BRC_BF16, 4, 4, 4), 0.1, 0);
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_random_counters(p), 4);
    tu_round_trip(ctx, p);
    d.kind = BRC_RANDOM_DROPOUT_BACKWARD;
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.force_strided = 1;
    cr_assert_eq(brc_random_plan(ctx, &d, &pr, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "random(op=dropout_backward,dtype=bf16,layout=strided)");
    cr_expect_eq(brc_random_counters(p), 0);
    tu_round_trip(ctx, p);
    cr_expect_eq(brc_random_counters(NULL), 0);
    brc_context_destroy(ctx);
}

Test(random_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"random(dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'op' key"},
        {"random(op=gamma,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "one of uniform"},
        {"random(op=uniform,dtype=i32)", BRC_STATUS_UNSUPPORTED, "y has dtype i32"},
        {"random(op=uniform,dtype=f32,layout=dense)", BRC_STATUS_INVALID_ARGUMENT, "one of contig, strided"},
        {"random(op=uniform,dtype=f32,p=f32)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'p'"},
        {"random(op=bernoulli,dtype=f32,p=i8)", BRC_STATUS_UNSUPPORTED, "p has dtype i8"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- multinomial ----------------------------------------------------------------------------------- */

/* Both methods compile for sm_80 and sm_90a (kept to two kernels a target: CI time). */
Test(random_compile, multinomial, .timeout = 600) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    static const char *const arches[] = {"sm_80", "sm_90a"};
    static const char *const texts[] = {"random(op=multinomial,dtype=f32,out=i64,replacement=1)",
                                        "random(op=multinomial,dtype=bf16,out=i32,replacement=0)"};
    for (int a = 0; a < 2; a++) {
        brc_context *ctx = tu_offline(arches[a]);
        for (int i = 0; i < 2; i++) {
            brc_plan *p = NULL;
            brc_status s = brc__plan_from_descriptor(ctx, texts[i], &p);
            cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", texts[i], arches[a], brc_last_error(),
                         brc_last_jit_log());
            if (s) continue;
            cr_expect_str_eq(brc_plan_descriptor(p), texts[i], "the descriptor round-trips");
            cr_log_info("%s -> %s", texts[i], brc_plan_sku(p));
            brc_plan_destroy(p);
        }
        brc_context_destroy(ctx);
    }
}

Test(random_rules, multinomial_operands_and_counters) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_RANDOM_MULTINOMIAL;
    d.x = tu_mat(BRC_F32, 1024, 32000, 32000);
    d.y = tu_mat(BRC_I64, 1024, 64, 64);
    d.num_samples = 64;
    d.replacement = 1;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_random_counters(p), 1024 * 64 / 4);
    cr_expect_str_eq(brc_plan_descriptor(p), "random(op=multinomial,dtype=f32,out=i64,replacement=1)");
    cr_expect(strstr(brc_plan_sku(p), "multinomial,f32->i64,scan>") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    p = NULL;
    d.replacement = 0;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_random_counters(p), 1024 * 32000 / 4, "without replacement: a counter lane a category");
    brc_plan_destroy(p);
    p = NULL;
    d.num_samples = 1025;
    d.y = tu_mat(BRC_I64, 1024, 1025, 1025);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "exceeds min(C = 32000, 1024)", p);
    d.replacement = 2;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "replacement = 2", p);
    d.replacement = 1;
    d.num_samples = 0;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "num_samples = 0", p);
    d.num_samples = 64;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y must be [R, 64]", p);
    d.y = tu_mat(BRC_F32, 1024, 64, 64);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f32", p);
    d.y = tu_mat(BRC_I32, 1024, 64, 64);
    d.x.dtype = BRC_I32;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "x has dtype i32", p);
    int64_t s3[3] = {2, 3, 4};
    brc_tensor_desc_contiguous(&d.x, BRC_F32, 3, s3);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x has rank 3", p);
    d.x = tu_mat(BRC_F32, 1024, 32000, 32000);
    d.y.strides[0] = 0;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has strides under which", p);
    brc_context_destroy(ctx);
}

/* ---- validation rules ------------------------------------------------------------------------------ */

Test(random_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_tensor_desc g = tu_mat(BRC_F32, 4, 64, 64);
    tu_expect_fail(brc_random_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_random_desc d = rdesc((brc_random_kind)9, g, 0, 1);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 9 is not a random kind", p);
    d = rdesc(BRC_RANDOM_UNIFORM, g, 1, 1);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "uniform needs finite lo", p);
    d = rdesc(BRC_RANDOM_UNIFORM, g, -3e38, 3e38);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "overflows f32", p);
    d = rdesc(BRC_RANDOM_NORMAL, g, 0, -1);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "std = b >= 0", p);
    d = rdesc(BRC_RANDOM_BERNOULLI, g, 1.5, 0);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "bernoulli p = a = 1.5", p);
    d.use_p = 2;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "use_p = 2", p);
    d = rdesc(BRC_RANDOM_DROPOUT, g, -0.1, 0);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dropout p = a = -0.1", p);
    d = rdesc(BRC_RANDOM_NORMAL, tu_mat(BRC_I32, 4, 64, 64), 0, 1);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "y has dtype i32", p);
    d = rdesc(BRC_RANDOM_DROPOUT, g, 0.5, 0);
    d.x = tu_mat(BRC_F32, 4, 63, 64);
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x and y differ in shape", p);
    d = rdesc(BRC_RANDOM_DROPOUT, g, 0.5, 0);
    d.mask.dtype = BRC_I32;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mask has dtype i32", p);
    d = rdesc(BRC_RANDOM_DROPOUT, g, 0.5, 0);
    d.x.dtype = BRC_F16;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x has dtype f16", p);
    d = rdesc(BRC_RANDOM_UNIFORM, g, 0, 1);
    d.y.strides[0] = 0;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has strides under which", p);
    d = rdesc(BRC_RANDOM_DROPOUT, g, 0.5, 0);
    d.mask.strides[1] = 0;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mask has strides under which", p);
    d = rdesc(BRC_RANDOM_BERNOULLI, g, 0, 0);
    d.use_p = 1;
    d.p.dtype = BRC_U8;
    tu_expect_fail(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "p has dtype u8", p);
    /* A broadcast input is fine; an offline plan refuses to run. */
    d = rdesc(BRC_RANDOM_DROPOUT_BACKWARD, g, 0.5, 0);
    d.x.strides[0] = 0;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_philox ph = {1, 0, NULL};
    cr_expect_eq(brc_random_run(p, (void *)256, NULL, (void *)512, (void *)768, &ph, NULL), BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The layouts bench/bench_random.py mirrors with ctypes. */
Test(random_desc, struct_layouts_match_the_benchmark) {
    cr_expect_eq(sizeof(brc_random_desc), 592);
    cr_expect_eq(offsetof(brc_random_desc, y), 144);
    cr_expect_eq(offsetof(brc_random_desc, use_p), 552);
    cr_expect_eq(offsetof(brc_random_desc, a), 560);
    cr_expect_eq(offsetof(brc_random_desc, num_samples), 576);
    cr_expect_eq(offsetof(brc_random_desc, replacement), 584);
    cr_expect_eq(sizeof(brc_philox), 24);
}
