/* Sort family without a GPU: representative plans (bitonic rows, radix sort, unique,
 * unique_consecutive) compile for sm_80 and sm_90 (offline contexts) from their canonical
 * descriptors and give them back; plans made through the API pick their path by row length and
 * rebuild from their descriptors; and the validation rules of sort.h each give their status and
 * a message naming the operand. */
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

ParameterizedTestParameters(sort_compile, representative) {
    static job jobs[] = {{90, 0}, {80, 1}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

/* Kernels a descriptor compiles: small 1; radix histogram + its scan + pass (onesweep: the pass
 * variant for many tiles, and for few: tiles=few; unique and randperm plan few); unique
 * the radix three + scan + 3; unique_consecutive scan + 3; randperm the radix three + the tie
 * shuffle. The onesweep scan kernel is one for every dtype and kind (each part compiles it once
 * for two plans). */
static const struct {
    const char *text;
    int kernels;
} variants[2][4] = {
    {{"sort(op=sort,dtype=f32,desc=0,path=small,p=1024)", 1},
     {"sort(op=sort,dtype=bf16,desc=1,path=radix)", 3},
     {"sort(op=unique,dtype=i64)", 7},
     {"sort(op=sort,dtype=f32,desc=0,path=warp,p=1024)", 1}},
    {{"sort(op=sort,dtype=f64,desc=1,path=small,p=2048)", 1},
     {"sort(op=sort,dtype=i8,desc=0,path=radix,tiles=few)", 3},
     {"sort(op=unique_consecutive,dtype=f16)", 4},
     {"sort(op=randperm)", 4}},
};

ParameterizedTest(job *j, sort_compile, representative, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    int kernels = 0;
    for (int i = 0; i < 4; i++) {
        const char *text = variants[j->part][i].text;
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, text, &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", text, arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), text, "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:sort<") == sku && strstr(sku, arch), "%s", sku);
        cr_log_info("%s -> %s", text, sku);
        kernels += variants[j->part][i].kernels;
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    /* The onesweep scan is shared between two plans of each part. */
    int shared = 1;
    cr_expect_eq(st.compiles, (uint64_t)(kernels - shared), "every kernel was a real compile, the scan once (%llu of %d)",
                 (unsigned long long)st.compiles, kernels);
    cr_log_info("%s part %d: %d kernels, %.0f ms", arch, j->part, kernels, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API ------------------------------------------------------------------ */

static brc_sort_desc sort_desc(brc_dtype t, int rank, const int64_t *shape, int dim, int desc) {
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SORT_SORT;
    brc_tensor_desc_contiguous(&d.x, t, rank, shape);
    d.values = d.x;
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, rank, shape);
    d.want_values = d.want_indices = 1;
    d.dim = dim;
    d.descending = desc;
    return d;
}

Test(sort_desc, api_plans_pick_the_path_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    int64_t s2[2] = {16384, 1000};
    brc_sort_desc d = sort_desc(BRC_F32, 2, s2, -1, 0);
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "sort(op=sort,dtype=f32,desc=0,path=warp,p=1024)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:sort<sort,f32,asc,warp,p=1024,nt=128>@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    /* The warp path takes rows of 33 .. 1024 keys of up to 4 bytes; 8-byte keys, rows of 32 and of
     * 1025 .. 4096 go to the shared-memory bitonic path. */
    static const struct {
        brc_dtype t;
        int64_t len;
        const char *want;
    } paths[] = {{BRC_BF16, 33, "path=warp,p=64)"},  {BRC_U8, 129, "path=warp,p=256)"},
                 {BRC_F32, 32, "path=small,p=32)"},  {BRC_F32, 1025, "path=small,p=2048)"},
                 {BRC_F64, 1000, "path=small,p=1024)"}, {BRC_I64, 64, "path=small,p=64)"}};
    for (int i = 0; i < (int)(sizeof paths / sizeof paths[0]); i++) {
        int64_t sp[2] = {5, paths[i].len};
        d = sort_desc(paths[i].t, 2, sp, 1, i % 2);
        cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_descriptor(p), paths[i].want) != NULL, "len %lld: %s", (long long)paths[i].len,
                  brc_plan_descriptor(p));
        tu_round_trip(ctx, p);
    }
    /* dim 0 of the same: 1000 rows of 16384, radix. */
    d = sort_desc(BRC_F32, 2, s2, 0, 1);
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "sort(op=sort,dtype=f32,desc=1,path=radix)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:sort<sort,f32,desc,radix,passes=4,tile=4096,ballots>@sm_90");
    cr_expect(brc_plan_workspace_size(p) >= (size_t)16384 * 1000 * 16, "%zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    /* One huge row. */
    int64_t big[1] = {(int64_t)1 << 28};
    d = sort_desc(BRC_F32, 1, big, 0, 0);
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",radix,passes=4,tile=4096,ballots>") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    /* 8-byte keys: the bitonic path stops at 2048. */
    int64_t s3[1] = {3000};
    d = sort_desc(BRC_I64, 1, s3, 0, 0);
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "sort(op=sort,dtype=i64,desc=0,path=radix,tiles=few)");
    cr_expect(strstr(brc_plan_sku(p), "passes=8,tile=2048,ballots,few>") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    /* The pass variant by tile count: few tiles (at most two waves of pass CTAs: 2 * 132 SMs * 3
     * of 4096 keys) or many, and the knobs that override it (named in the SKU). */
    static const struct {
        int64_t len;
        const char *early, *look, *want_desc, *want_sku;
    } few[] = {
        {(int64_t)1 << 20, NULL, NULL, "path=radix,tiles=few)", ",tile=4096,ballots,few>@"},
        {792 * 4096, NULL, NULL, "path=radix,tiles=few)", ",tile=4096,ballots,few>@"},
        {792 * 4096 + 1, NULL, NULL, "path=radix)", ",tile=4096,ballots>@"},
        {(int64_t)1 << 24, "2", "8", "path=radix)", ",tile=4096,ballots,look=8,early=2>@"},
        {(int64_t)1 << 20, "1", "1", "path=radix,tiles=few)", ",tile=4096,ballots,few,look=1,early=1>@"},
    };
    for (int i = 0; i < (int)(sizeof few / sizeof few[0]); i++) {
        int64_t sf[1] = {few[i].len};
        if (few[i].early) setenv("BARACUDA_SORT_EARLY", few[i].early, 1);
        if (few[i].look) setenv("BARACUDA_SORT_LOOK", few[i].look, 1);
        d = sort_desc(BRC_F32, 1, sf, 0, 0);
        cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        unsetenv("BARACUDA_SORT_EARLY");
        unsetenv("BARACUDA_SORT_LOOK");
        cr_expect(strstr(brc_plan_descriptor(p), few[i].want_desc) != NULL, "len %lld: %s", (long long)few[i].len,
                  brc_plan_descriptor(p));
        cr_expect(strstr(brc_plan_sku(p), few[i].want_sku) != NULL, "len %lld: %s", (long long)few[i].len,
                  brc_plan_sku(p));
        brc_plan_destroy(p);
    }
    /* Rank 0: one row of one key. */
    d = sort_desc(BRC_BF16, 0, NULL, 0, 0);
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "sort(op=sort,dtype=bf16,desc=0,path=small,p=1)");
    tu_round_trip(ctx, p);
    /* unique over a strided 3-d tensor; unique_consecutive. */
    int64_t s4[3] = {7, 9, 11};
    d = sort_desc(BRC_U8, 3, s4, 0, 0);
    d.kind = BRC_SORT_UNIQUE;
    d.x.strides[0] = -300;
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "sort(op=unique,dtype=u8)");
    cr_expect(strstr(brc_plan_sku(p), "bespoke:sort<unique,u8,radix,passes=1>") != NULL, "%s", brc_plan_sku(p));
    cr_expect(brc_plan_workspace_size(p) > 0);
    tu_round_trip(ctx, p);
    d.kind = BRC_SORT_UNIQUE_CONSECUTIVE;
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:sort<unique_consecutive,u8>@sm_90");
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(sort_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"sort(dtype=f32,path=radix)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'op' key"},
        {"sort(op=sort,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'path' key"},
        {"sort(op=sort,dtype=f32,path=small)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'p' key"},
        {"sort(op=sort,dtype=f32,path=small,p=24)", BRC_STATUS_INVALID_ARGUMENT, "power of two"},
        {"sort(op=sort,dtype=f32,path=warp,p=96)", BRC_STATUS_INVALID_ARGUMENT, "power of two"},
        {"sort(op=sort,dtype=f32,path=warp,p=32)", BRC_STATUS_INVALID_ARGUMENT, "p"},
        {"sort(op=sort,dtype=f32,path=warp,p=2048)", BRC_STATUS_INVALID_ARGUMENT, "p"},
        {"sort(op=sort,dtype=i64,path=warp,p=256)", BRC_STATUS_INVALID_ARGUMENT, "up to 4 bytes"},
        {"sort(op=sort,dtype=f64,path=small,p=4096)", BRC_STATUS_INVALID_ARGUMENT, "p"},
        {"sort(op=sort,dtype=f32,path=merge)", BRC_STATUS_INVALID_ARGUMENT, "one of small, radix"},
        {"sort(op=shuffle,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "one of sort"},
        {"sort(op=unique,dtype=f32,path=radix)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'path'"},
        {"sort(op=sort,dtype=fp8e4m3,path=radix)", BRC_STATUS_UNSUPPORTED, "fp8e4m3 is not supported"},
        {"sort(op=sort,dtype=f32,desc=2,path=radix)", BRC_STATUS_INVALID_ARGUMENT, "desc"},
        {"sort(op=sort,dtype=f32,path=radix,tiles=all)", BRC_STATUS_INVALID_ARGUMENT, "one of many, few"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ---------------------------------------------------------------------------------- */

Test(sort_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    int64_t s2[2] = {4, 64};
    tu_expect_fail(brc_sort_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_sort_desc d = sort_desc(BRC_F32, 2, s2, -1, 0);
    d.kind = (brc_sort_kind)7;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 7 is not a sort kind", p);
    d = sort_desc(BRC_F32, 2, s2, 2, 0);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim 2 is out of range for rank 2", p);
    d = sort_desc(BRC_F32, 2, s2, -3, 0);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim -3 is out of range", p);
    d = sort_desc(BRC_F32, 2, s2, 0, 2);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "descending = 2", p);
    d = sort_desc(BRC_F32, 2, s2, 0, 0);
    d.want_values = d.want_indices = 0;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "nothing to write", p);
    d = sort_desc(BRC_F32, 2, s2, 0, 0);
    d.values.dtype = BRC_F16;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values has dtype f16, f32 expected",
                   p);
    d = sort_desc(BRC_F32, 2, s2, 0, 0);
    d.indices.dtype = BRC_U32;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "indices has dtype u32", p);
    d = sort_desc(BRC_F32, 2, s2, 0, 0);
    d.indices.shape[1] = 65;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "indices and x differ in shape", p);
    d = sort_desc(BRC_F32, 2, s2, 0, 0);
    d.values.strides[0] = 0;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values has strides under which", p);
    d = sort_desc(BRC_FP8E5M2, 2, s2, 0, 0);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "fp8e5m2 is not supported", p);
    int64_t huge[1] = {(int64_t)1 << 31};
    d = sort_desc(BRC_U8, 1, huge, 0, 0);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "at most 2^31 - 1", p);
    d.kind = BRC_SORT_UNIQUE;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "unique of 2147483648 elements", p);
    /* Unwanted outputs are not checked; a broadcast input is fine. */
    d = sort_desc(BRC_F32, 2, s2, 1, 0);
    d.want_values = 0;
    d.values.dtype = BRC_BOOL;
    d.x.strides[0] = 0;
    cr_expect_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    /* Offline plans refuse to run; a sort plan refuses brc_unique_run. */
    cr_expect_eq(brc_sort_run(p, (void *)256, NULL, (void *)256, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_unique_run(p, (void *)256, (void *)256, NULL, NULL, (int64_t *)256, NULL, 0, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* randperm: the plan from its shape, the descriptor round trip, the key width by n, its rules;
 * the run functions refuse each other's plans. */
Test(sort_rules, randperm_plans_and_rules) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SORT_RANDPERM;
    int64_t n[1] = {(int64_t)1 << 24};
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 1, n);
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "sort(op=randperm)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:sort<randperm,radix,bits=24,tile=4096>@sm_90");
    cr_expect(brc_plan_workspace_size(p) >= ((size_t)1 << 24) * 16, "%zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    int64_t small[1] = {200}, mid[1] = {70000}, odd[1] = {(1 << 24) + 1};
    const struct {
        int64_t *shape;
        const char *bits;
    } widths[] = {{small, "bits=8,"}, {mid, "bits=24,"}, {odd, "bits=32,"}};
    for (int i = 0; i < 3; i++) {
        brc_tensor_desc_contiguous(&d.indices, BRC_I32, 1, widths[i].shape);
        cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_sku(p), widths[i].bits) != NULL, "%s", brc_plan_sku(p));
        /* Offline plans refuse to run; a randperm plan refuses the other run functions. */
        brc_philox ph = {1, 0, NULL};
        cr_expect_eq(brc_randperm_run(p, (void *)256, &ph, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
        cr_expect_eq(brc_sort_run(p, (void *)256, NULL, (void *)256, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
        brc_plan_destroy(p);
        p = NULL;
    }
    int64_t s2[2] = {4, 5};
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 2, s2);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "randperm's indices has rank 2", p);
    brc_tensor_desc_contiguous(&d.indices, BRC_F32, 1, n);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT,
                   "randperm's indices has dtype f32, i32 or i64 expected", p);
    int64_t huge[1] = {(int64_t)1 << 31};
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 1, huge);
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "randperm of 2147483648", p);
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 1, n);
    d.indices.strides[0] = 0;
    tu_expect_fail(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "overlap", p);
    brc_context_destroy(ctx);
}

/* The layout bench/bench_sort.py mirrors with ctypes. */
Test(sort_desc, struct_layout_matches_the_benchmark) {
    cr_expect_eq(sizeof(brc_tensor_desc), 136);
    cr_expect_eq(offsetof(brc_sort_desc, x), 8);
    cr_expect_eq(offsetof(brc_sort_desc, want_values), 416);
    cr_expect_eq(offsetof(brc_sort_desc, descending), 428);
    cr_expect_eq(sizeof(brc_sort_desc), 432);
}
