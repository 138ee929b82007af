/* Select family without a GPU: a representative set of kernels compiles for sm_90a and sm_80
 * from their canonical descriptors; plans made through the API name their split, threads and
 * workspace and rebuild from their descriptors; bad descriptors and bad operands are refused with
 * their status and a message naming the problem. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

ParameterizedTestParameters(select_compile, representative) {
    static int sms[] = {90, 80};
    return cr_make_param_array(int, sms, 2);
}

/* Small on purpose (CI has two cores): one kernel per key width and each kind. */
static const char *const variants[] = {
    "select(op=topk,dtype=f32,index=i64,largest=1,sorted=1)",
    "select(op=topk,dtype=bf16,index=i32,largest=0,sorted=0)",
    "select(op=kthvalue,dtype=f64,index=i64)",
    "select(op=median,dtype=u8,index=i64)",
};

ParameterizedTest(int *sm, select_compile, representative, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, *sm == 90 ? "sm_%da" : "sm_%d", *sm);
    brc_context *ctx = tu_offline(arch);
    int n = (int)(sizeof variants / sizeof variants[0]), kernels = 0;
    for (int i = 0; i < n; i++) {
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, variants[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", variants[i], arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        kernels++;
        cr_expect_str_eq(brc_plan_descriptor(p), variants[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:select<") == sku && strstr(sku, arch), "%s", sku);
        cr_log_info("%s -> %s", variants[i], sku);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, (uint64_t)kernels, "every kernel was a real compile");
    cr_log_info("%s: %d kernels, %.0f ms", arch, kernels, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API ------------------------------------------------------------------ */

static brc_select_desc topk_desc(brc_dtype dt, int64_t rows, int64_t n, int64_t k) {
    brc_select_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SELECT_TOPK;
    d.x = tu_mat(dt, rows, n, n);
    d.values = tu_mat(dt, rows, k, k);
    d.indices = tu_mat(BRC_I64, rows, k, k);
    d.dim = 1;
    d.k = k;
    d.largest = 1;
    d.sorted = 1;
    return d;
}

Test(select_desc, api_plans_choose_split_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* Many rows: a CTA a row, no workspace. */
    brc_select_desc d = topk_desc(BRC_F32, 4096, 4096, 50);
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "select(op=topk,dtype=f32,index=i64,largest=1,sorted=1)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:select<topk,f32,i64,largest,sorted>@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    /* Few long rows: split over CTAs, with a workspace of the histograms. */
    d = topk_desc(BRC_BF16, 32, 131072, 64);
    d.sorted = 0;
    d.largest = 0;
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "select(op=topk,dtype=bf16,index=i64,largest=0,sorted=0)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:select<topk,bf16,i64,smallest,unsorted>@sm_90");
    /* 32 rows x (2 passes x 256 + 1 + 8 x 257) words (8 CTAs a row: 256 on 132 SMs, one wave). */
    cr_expect_eq(brc_plan_workspace_size(p), (size_t)(32 * (2 * 256 + 1 + 8 * 257) * 4));
    tu_round_trip(ctx, p);
    /* kthvalue dropping dim, median keeping it; a middle dim of a rank-3 view. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SELECT_KTHVALUE;
    int64_t xs[3] = {3, 1000, 5}, ys[2] = {3, 5}, ks[3] = {3, 1, 5};
    brc_tensor_desc_contiguous(&d.x, BRC_I16, 3, xs);
    brc_tensor_desc_contiguous(&d.values, BRC_I16, 2, ys);
    brc_tensor_desc_contiguous(&d.indices, BRC_I32, 2, ys);
    d.dim = -2;
    d.k = 1000;
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "select(op=kthvalue,dtype=i16,index=i32)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:select<kthvalue,i16,i32>@sm_90");
    tu_round_trip(ctx, p);
    d.kind = BRC_SELECT_MEDIAN;
    d.k = 0;
    brc_tensor_desc_contiguous(&d.values, BRC_I16, 3, ks);
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 3, ks);
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "select(op=median,dtype=i16,index=i64)");
    brc_plan_destroy(p);
    /* Rank 8 along the last dim, and along a middle dim of a permuted view. */
    int64_t s8[8] = {2, 1, 3, 1, 2, 1, 2, 5}, o8[8] = {2, 1, 3, 1, 2, 1, 2, 2};
    memset(&d, 0, sizeof d);
    d.kind = BRC_SELECT_TOPK;
    brc_tensor_desc_contiguous(&d.x, BRC_F16, 8, s8);
    brc_tensor_desc_contiguous(&d.values, BRC_F16, 8, o8);
    brc_tensor_desc_contiguous(&d.indices, BRC_I32, 8, o8);
    d.k = 2;
    d.dim = -1;
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    /* [2, 1, 5, 1, 2, 1, 2, 3] stored densely, viewed with dims 2 and 7 swapped. */
    const int64_t perm[8] = {60, 60, 1, 12, 6, 6, 3, 12};
    memcpy(d.x.strides, perm, sizeof perm);
    d.dim = 2;
    d.k = 3;
    int64_t m8[8] = {2, 1, 3, 1, 2, 1, 2, 5};
    brc_tensor_desc_contiguous(&d.values, BRC_F16, 8, m8);
    brc_tensor_desc_contiguous(&d.indices, BRC_I32, 8, m8);
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    /* A rank-0 x is one row of one element. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SELECT_TOPK;
    brc_tensor_desc_contiguous(&d.x, BRC_F64, 0, NULL);
    brc_tensor_desc_contiguous(&d.values, BRC_F64, 0, NULL);
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 0, NULL);
    d.k = 1;
    d.dim = -1;
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

Test(select_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"select(dtype=f32,index=i64)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'op' key"},
        {"select(op=sort,dtype=f32,index=i64)", BRC_STATUS_INVALID_ARGUMENT, "one of topk"},
        {"select(op=topk,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'index' key"},
        {"select(op=topk,dtype=f32,index=f32)", BRC_STATUS_INVALID_ARGUMENT, "not an index dtype"},
        {"select(op=topk,dtype=f32,index=i64,largest=2)", BRC_STATUS_INVALID_ARGUMENT, "largest"},
        {"select(op=topk,dtype=fp8e4m3,index=i64)", BRC_STATUS_UNSUPPORTED, "dtype fp8e4m3"},
        {"select(op=kthvalue,dtype=f32,index=i64,sorted=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'sorted'"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ------------------------------------------------------------------------------ */

Test(select_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    tu_expect_fail(brc_select_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_select_desc d = topk_desc(BRC_F32, 10, 100, 5);
    d.kind = (brc_select_kind)7;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 7 is not a select kind", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.dim = 2;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim 2 is out of range for rank 2", p);
    d = topk_desc(BRC_F32, 10, 100, 101);
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "k = 101 is outside [0, 100]", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.k = 6;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values.shape[1] = 5, 6 expected", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.largest = 3;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "largest = 3 must be 0 or 1", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.sorted = -1;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "sorted = -1 must be 0 or 1", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.values.dtype = BRC_F16;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values has dtype f16, x has f32", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.values.strides[0] = 0; /* an output whose rows alias */
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT,
                   "values has strides under which its elements overlap", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.indices.dtype = BRC_U32;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "indices has dtype u32 (i32 or i64)", p);
    d = topk_desc(BRC_BOOL, 10, 100, 5);
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype bool", p);
    d = topk_desc(BRC_F32, 10, 100, 5);
    d.values.strides[1] = 0;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values has strides under which", p);
    /* The sorted limit (k > 4096) is UNSUPPORTED; unsorted takes it. */
    d = topk_desc(BRC_F32, 2, 10000, 4097);
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "sorted with k = 4097 > 4096", p);
    d.sorted = 0;
    cr_expect_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    /* kthvalue: 1 <= k <= n, outputs of x's rank (shape 1 along dim) or without dim. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SELECT_KTHVALUE;
    d.x = tu_mat(BRC_F32, 10, 100, 100);
    d.values = tu_mat(BRC_F32, 10, 1, 1);
    d.indices = tu_mat(BRC_I64, 10, 1, 1);
    d.dim = 1;
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "k = 0 is outside [1, 100]", p);
    d.k = 3;
    d.values = tu_mat(BRC_F32, 10, 2, 2);
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values.shape[1] = 2, 1 expected", p);
    int64_t three[3] = {10, 1, 1};
    brc_tensor_desc_contiguous(&d.values, BRC_F32, 3, three);
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "values has rank 3, x has 2", p);
    /* median of empty rows */
    d.kind = BRC_SELECT_MEDIAN;
    d.x = tu_mat(BRC_F32, 10, 0, 1);
    d.values = tu_mat(BRC_F32, 10, 1, 1);
    tu_expect_fail(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "rows of length 0 have no median", p);
    /* An offline plan refuses to run. */
    d = topk_desc(BRC_F32, 10, 100, 5);
    cr_assert_eq(brc_select_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_select_run(p, (void *)256, (void *)512, (void *)1024, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The layout bench/bench_select.py mirrors with ctypes. */
Test(select_desc, struct_layout_matches_the_benchmark) {
    cr_expect_eq(sizeof(brc_select_desc), 440);
    cr_expect_eq(offsetof(brc_select_desc, dim), 416);
    cr_expect_eq(offsetof(brc_select_desc, k), 424);
    cr_expect_eq(offsetof(brc_select_desc, largest), 432);
    cr_expect_eq(offsetof(brc_select_desc, sorted), 436);
}
