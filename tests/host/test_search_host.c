/* Search and count family without a GPU: a representative set of kernels compiles for sm_80 and
 * sm_90a from canonical descriptors that round-trip; plans made through the API pick the staged
 * or plain search and the privatized or global counting by structure, size their workspace, flag
 * the atomic paths and rebuild from their descriptors; each validation rule of search.h gives its
 * status and names the operand; the struct layout the benchmark mirrors. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* Kept small (CI has 2 cores): every kernel op of the family appears once per target. */
static const char *const variants[2][3] = {
    {"search(op=searchsorted,dtype=f32,out=i64,right=0,sorter=none,staged=1)",
     "search(op=histc,dtype=f32,mode=priv,repl=16,range=data,contig=1)",
     "search(op=bucketize,dtype=i64,out=i32,right=1,staged=0)"},
    {"search(op=searchsorted,dtype=bf16,out=i64,right=1,sorter=i32,staged=0)",
     "search(op=bincount,dtype=i32,y=f64,weight=f32,mode=global,contig=0)",
     "search(op=histogram,dtype=f64,weight=f64,mode=priv,repl=4,contig=1)"},
};
static const int kernels_of[2][3] = {{1, 4, 1}, {1, 3, 2}};

Test(search_compile, representative_kernels, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    static const char *const arches[] = {"sm_80", "sm_90a"};
    for (int a = 0; a < 2; a++) {
        brc__cache_reset();
        brc_context *ctx = tu_offline(arches[a]);
        brc_jit_stats st0;
        brc_jit_stats_get(&st0);
        int kernels = 0;
        for (int i = 0; i < 3; i++) {
            const char *text = variants[a][i];
            brc_plan *p = NULL;
            brc_status s = brc__plan_from_descriptor(ctx, text, &p);
            cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", text, arches[a], brc_last_error(), brc_last_jit_log());
            if (s) continue;
            cr_expect_str_eq(brc_plan_descriptor(p), text, "the descriptor round-trips");
            const char *sku = brc_plan_sku(p);
            cr_expect(strstr(sku, "bespoke:search<") == sku && strstr(sku, arches[a]), "%s", sku);
            cr_log_info("%s -> %s", text, sku);
            kernels += kernels_of[a][i];
            brc_plan_destroy(p);
        }
        brc_jit_stats st;
        brc_jit_stats_get(&st);
        cr_expect_eq(st.compiles - st0.compiles, (uint64_t)kernels, "every kernel was a real compile on %s", arches[a]);
        cr_log_info("%s: %d kernels, %.0f ms", arches[a], kernels, st.compile_ms - st0.compile_ms);
        brc_context_destroy(ctx);
    }
}

/* ---- plans made through the API ------------------------------------------------------------------ */

static brc_tensor_desc vec1(brc_dtype t, int64_t n) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 1, &n);
    return d;
}

Test(search_desc, api_plans_pick_the_path_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_search_desc d;
    /* 2^24 values into 2^16 boundaries: staged, 4096 splitters. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_SEARCHSORTED;
    d.sorted = vec1(BRC_F32, 1 << 16);
    d.x = vec1(BRC_F32, 1 << 24);
    d.y = vec1(BRC_I64, 1 << 24);
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "search(op=searchsorted,dtype=f32,out=i64,right=0,sorter=none,staged=1)");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    cr_expect_eq(brc_search_plan_deterministic(p), 1);
    tu_round_trip(ctx, p);
    /* An N-D sequence, a sorter or few values: the plain search. */
    d.sorted = tu_mat(BRC_F32, 4, 100, 100);
    d.x = tu_mat(BRC_F32, 4, 7, 7);
    d.y = tu_mat(BRC_I32, 4, 7, 7);
    d.right = 1;
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "search(op=searchsorted,dtype=f32,out=i32,right=1,sorter=none,staged=0)");
    tu_round_trip(ctx, p);
    /* histc of 2^26 into 100 bins: privatized, 16 copies; 4 kernels with the data's range. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_HISTC;
    d.x = vec1(BRC_F32, 1 << 26);
    d.y = vec1(BRC_F32, 100);
    d.bins = 100, d.min = -3, d.max = 3;
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "search(op=histc,dtype=f32,mode=priv,repl=16,range=given,contig=1)");
    /* one partial row a CTA (1 to 4 resident a SM of 132, by registers) behind the 256-byte header */
    size_t ws = brc_plan_workspace_size(p);
    cr_expect(ws % 256 == 0 && ws >= 256 + 132 * 400 && ws <= 256 + 528 * 400 + 255, "workspace %zu", ws);
    cr_log_info("histc 100 bins: workspace %zu bytes (%zu CTAs)", ws, (ws - 256) / 400);
    cr_expect_eq(brc_search_plan_deterministic(p), 1);
    tu_round_trip(ctx, p);
    d.y = vec1(BRC_F32, 4096), d.bins = 4096;
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_descriptor(p), "mode=priv,repl=2,") != NULL, "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    d.min = d.max = 0;
    d.y = vec1(BRC_F64, 20000), d.bins = 20000;
    d.x.dtype = BRC_F64;
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "search(op=histc,dtype=f64,mode=global,range=data,contig=1)");
    cr_expect_eq(brc_plan_workspace_size(p), (size_t)(256 + 20000 * 8 + 255) / 256 * 256);
    tu_round_trip(ctx, p);
    /* bincount with f32 weights: atomic; with i64 weights into f64: deterministic. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_BINCOUNT;
    d.x = vec1(BRC_I32, 1 << 20);
    d.weight = vec1(BRC_F32, 1 << 20);
    d.use_weight = 1;
    d.y = vec1(BRC_F32, 1000);
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_search_plan_deterministic(p), 0);
    cr_expect(strstr(brc_plan_sku(p), "+atomic@") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    d.weight.dtype = BRC_I64;
    d.y.dtype = BRC_F64;
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_search_plan_deterministic(p), 1);
    brc_plan_destroy(p);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.force_strided = 1;
    d.use_weight = 0;
    d.y.dtype = BRC_I64;
    cr_assert_eq(brc_search_plan(ctx, &d, &pr, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "search(op=bincount,dtype=i32,y=i64,weight=none,mode=global,contig=0)");
    tu_round_trip(ctx, p);
    cr_expect_eq(brc_search_plan_deterministic(NULL), -1);
    brc_context_destroy(ctx);
}

Test(search_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"search(dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'op' key"},
        {"search(op=sort,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "one of searchsorted"},
        {"search(op=searchsorted,dtype=f32,out=f32,right=0,staged=0)", BRC_STATUS_INVALID_ARGUMENT, "out: i32 or i64"},
        {"search(op=searchsorted,dtype=f32,out=i64,sorter=i64,staged=1)", BRC_STATUS_INVALID_ARGUMENT,
         "a staged search has no sorter"},
        {"search(op=bucketize,dtype=f32,out=i64,sorter=i64)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'sorter'"},
        {"search(op=histc,dtype=i32,mode=priv,repl=4)", BRC_STATUS_UNSUPPORTED, "not supported"},
        {"search(op=histc,dtype=f32,mode=priv,repl=3)", BRC_STATUS_INVALID_ARGUMENT, "power of two"},
        {"search(op=histc,dtype=f32,mode=shared)", BRC_STATUS_INVALID_ARGUMENT, "one of priv, global"},
        {"search(op=bincount,dtype=i32,y=i64,weight=f32,mode=global)", BRC_STATUS_UNSUPPORTED, "not supported"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ------------------------------------------------------------------------------ */

Test(search_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_search_desc d;
    tu_expect_fail(brc_search_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    memset(&d, 0, sizeof d);
    d.kind = (brc_search_kind)9;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 9 is not a search kind", p);
    /* searchsorted */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_SEARCHSORTED;
    d.sorted = tu_mat(BRC_F32, 4, 100, 100);
    d.x = tu_mat(BRC_F32, 5, 7, 7);
    d.y = tu_mat(BRC_I64, 5, 7, 7);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT,
                   "x.shape[0] = 5 differs from sorted.shape[0] = 4", p);
    d.x = tu_mat(BRC_F32, 4, 7, 7);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x and y differ in shape", p);
    d.y = tu_mat(BRC_I64, 4, 7, 7);
    d.x.dtype = BRC_F64;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x has dtype f64, sorted has f32", p);
    d.x.dtype = BRC_F32;
    d.y.dtype = BRC_F32;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f32 (i64", p);
    d.y.dtype = BRC_I64;
    d.y.strides[1] = 0;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has strides under which", p);
    d.y.strides[1] = 1;
    d.use_sorter = 1;
    d.sorter = tu_mat(BRC_F32, 4, 100, 100);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "sorter has dtype f32", p);
    d.sorter = tu_mat(BRC_I64, 4, 99, 99);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "sorter and sorted differ", p);
    d.use_sorter = 3;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "use_sorter = 3", p);
    d.use_sorter = 0;
    d.right = 2;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "right = 2 must be 0 or 1", p);
    d.right = 0;
    d.sorted.dtype = d.x.dtype = BRC_BOOL;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype bool", p);
    d.kind = BRC_SEARCH_BUCKETIZE;
    d.sorted.dtype = d.x.dtype = BRC_F32;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "boundaries must have rank 1", p);
    /* histc */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_HISTC;
    d.x = tu_mat(BRC_F32, 10, 10, 10);
    d.y = vec1(BRC_F32, 10);
    d.bins = 0;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "bins = 0 must be >= 1", p);
    d.bins = 11;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[0] = 10, bins = 11", p);
    d.bins = 10, d.min = 2, d.max = 1;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "min = 2, max = 1", p);
    d.min = -1e39, d.max = 1;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "overflow f32", p);
    d.min = 0;
    d.y.dtype = BRC_F64;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y must have x's dtype f32", p);
    d.x.dtype = d.y.dtype = BRC_I32;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "x has dtype i32 (f32", p);
    /* histogram */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_HISTOGRAM;
    d.x = vec1(BRC_F32, 100);
    d.sorted = vec1(BRC_F32, 1);
    d.y = vec1(BRC_F32, 0);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, ">= 2 elements", p);
    d.sorted = vec1(BRC_F32, 5);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[0] = 0, 4 expected", p);
    d.y = vec1(BRC_F32, 4);
    d.use_weight = 1;
    d.weight = vec1(BRC_F32, 99);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "weight and x differ in shape", p);
    /* bincount */
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_BINCOUNT;
    d.x = vec1(BRC_F32, 100);
    d.y = vec1(BRC_I64, 10);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "x has dtype f32 (i8", p);
    d.x = tu_mat(BRC_I32, 2, 50, 50);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x must have rank 1", p);
    d.x = vec1(BRC_I32, 100);
    d.y.dtype = BRC_F32;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "(i64 or i32 without a weight)", p);
    d.use_weight = 1;
    d.weight = vec1(BRC_U8, 100);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "weight has dtype u8", p);
    d.weight.dtype = BRC_F16;
    d.y.dtype = BRC_I64;
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "(f32 or f64 with a weight)", p);
    d.y = vec1(BRC_F64, (int64_t)1 << 31);
    tu_expect_fail(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "at most 2^31 - 1", p);
    /* An offline plan refuses to run. */
    d.y = vec1(BRC_F64, 10);
    cr_assert_eq(brc_search_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_search_run(p, NULL, (void *)256, (void *)512, NULL, (void *)768, (void *)1024, 1 << 20, NULL, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The layouts bench/bench_search.py mirrors with ctypes. */
Test(search_desc, struct_layouts_match_the_benchmark) {
    cr_expect_eq(sizeof(brc_search_desc), 728);
    cr_expect_eq(offsetof(brc_search_desc, x), 144);
    cr_expect_eq(offsetof(brc_search_desc, y), 552);
    cr_expect_eq(offsetof(brc_search_desc, right), 688);
    cr_expect_eq(offsetof(brc_search_desc, bins), 704);
    cr_expect_eq(offsetof(brc_search_desc, min), 712);
}
