/* Indexing family without a GPU: the kernel variants compile for sm_90 (a subset for sm_80) from
 * their canonical descriptors and give them back; plans made through the API pick the layout
 * their strides call for, flag the atomic paths and rebuild from their descriptors; and the
 * validation rules of indexing.h give their status and name the operand. */
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

ParameterizedTestParameters(index_compile, every_kind) {
    static job jobs[] = {{90, 0}, {90, 1}, {80, 0}, {90, 2}, {80, 2}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

/* Part 2: the kinds added in 0.3.0, with the kernels each plan compiles. */
static const char *const variants[3][8] = {
    {"index(op=gather,dtype=f32,index=i64,layout=generic,ix=32)",
     "index(op=index_select,dtype=bf16,index=i32,layout=stage)",
     "index(op=scatter,dtype=bf16,index=i64,reduce=amax,layout=generic,ix=64)",
     "index(op=index_add,dtype=f16,index=i64,layout=rows,vec=8,tpr=256)",
     "index(op=embedding_backward,dtype=bf16,index=i64,atomic=0)",
     "index(op=masked_fill,dtype=f32,layout=generic,ix=32)",
     "index(op=one_hot,dtype=i64,index=i64,layout=rows,vec=2,tpr=32)",
     "index(op=gather,dtype=bf16,index=i64,layout=band)"},
    {"index(op=embedding,dtype=f16,index=i64,layout=rows,vec=8,tpr=256)",
     "index(op=scatter,dtype=f64,index=i32,reduce=none,layout=generic,ix=32)",
     "index(op=scatter,dtype=f32,index=i64,reduce=sum,layout=rows,vec=4,tpr=16)",
     "index(op=scatter,dtype=i64,index=i64,reduce=prod,layout=generic,ix=32)",
     "index(op=embedding_backward,dtype=f32,index=i32,atomic=1,layout=rows,vec=4,tpr=128)",
     "index(op=embedding_backward,dtype=f64,index=i64,atomic=0)",
     "index(op=masked_fill,dtype=bf16,layout=rows,vec=8,tpr=64)"},
    {"index(op=scatter,dtype=bf16,index=i64,reduce=mean,self=0,layout=generic,ix=32)",
     "index(op=index_put,dtype=f32,index=i32,accumulate=1,layout=sorted,vec=4,tpr=256)",
     "index(op=masked_select,dtype=bf16)",
     "index(op=nonzero,dtype=f32,index=i64)",
     "index(op=embedding_bag,dtype=bf16,index=i32,mode=max,layout=rows,vec=8,tpr=128)",
     "index(op=embedding_bag_backward,dtype=f32,index=i64,mode=mean)",
     "index(op=embedding_bag_backward,dtype=bf16,index=i64,mode=max)"},
};
static const int nkernels[3][8] = {{1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 2, 1, 1, 0}, {4, 5, 3, 3, 1, 2, 2, 0}};

ParameterizedTest(job *j, index_compile, every_kind, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    int kernels = 0;
    for (int i = 0; i < 8; i++) {
        const char *text = variants[j->part][i];
        if (!text) continue;
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, text, &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", text, arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), text, "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:index<") == sku && strstr(sku, arch), "%s", sku);
        cr_log_info("%s -> %s", text, sku);
        kernels += nkernels[j->part][i];
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, (uint64_t)kernels, "every kernel was a real compile");
    cr_log_info("%s part %d: %d kernels, %.0f ms", arch, j->part, kernels, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API ------------------------------------------------------------------ */

static brc_tensor_desc vec1(brc_dtype t, int64_t n) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 1, &n);
    return d;
}

Test(index_desc, api_plans_pick_the_layout_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* embedding of a [50000, 4096] bf16 table by [8, 512] i64 indices: rows of 512 vectors, 4 a
     * thread in flight (gather copies), so 128 threads a row. */
    int64_t is[2] = {8, 512}, ys[3] = {8, 512, 4096};
    brc_index_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_EMBEDDING;
    d.x = tu_mat(BRC_BF16, 50000, 4096, 4096);
    brc_tensor_desc_contiguous(&d.index, BRC_I64, 2, is);
    brc_tensor_desc_contiguous(&d.y, BRC_BF16, 3, ys);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=embedding,dtype=bf16,index=i64,layout=rows,vec=8,tpr=128)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:index<embedding,bf16,i64,rows,vec=8,tpr=128>@sm_90");
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    tu_round_trip(ctx, p);
    /* index_select along the last dim: x's rows of 300 staged in shared memory for 77 indices. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_INDEX_SELECT;
    d.x = tu_mat(BRC_F32, 100, 300, 300);
    d.index = vec1(BRC_I32, 77);
    d.y = tu_mat(BRC_F32, 100, 77, 77);
    d.dim = -1;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_select,dtype=f32,index=i32,layout=stage)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:index<index_select,f32,i32,stage>@sm_90");
    tu_round_trip(ctx, p);
    /* ... but not for rows over 32 KiB (9000 f32), nor for 77 of 1000 (a row over 8 times the gathered ones): generic,
     * 32-bit math. */
    d.x = tu_mat(BRC_F32, 100, 9000, 9000);
    d.y = tu_mat(BRC_F32, 100, 1200, 1200);
    d.index = vec1(BRC_I32, 1200);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_select,dtype=f32,index=i32,layout=generic,ix=32)");
    brc_plan_destroy(p);
    d.x = tu_mat(BRC_F32, 100, 1000, 1000);
    d.y = tu_mat(BRC_F32, 100, 77, 77);
    d.index = vec1(BRC_I32, 77);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_select,dtype=f32,index=i32,layout=generic,ix=32)");
    tu_round_trip(ctx, p);
    d.x = tu_mat(BRC_F32, 100, 300, 300);
    /* ... and along dim 0 with an odd row: rows, scalar vectors (301 of them: 128 threads). */
    d.dim = 0;
    d.x = tu_mat(BRC_F32, 100, 301, 301);
    d.y = tu_mat(BRC_F32, 77, 301, 301);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_select,dtype=f32,index=i32,layout=rows,vec=1,tpr=128)");
    tu_round_trip(ctx, p);
    /* gather along dim 0 of a matrix, every operand unit-stride along the columns: the band walk
     * (column bands whose part of x fits L2); a column-major index, or padding between y's columns,
     * stays generic. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_GATHER;
    d.x = tu_mat(BRC_BF16, 8192, 8192, 8192);
    d.index = tu_mat(BRC_I64, 4096, 8192, 8200);
    d.y = tu_mat(BRC_BF16, 4096, 8192, 8192);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=gather,dtype=bf16,index=i64,layout=band)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:index<gather,bf16,i64,band,tile=16x128>@sm_90");
    tu_round_trip(ctx, p);
    d.index.strides[0] = 1, d.index.strides[1] = 4096;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=gather,dtype=bf16,index=i64,layout=generic,ix=32)");
    brc_plan_destroy(p);
    d.index = tu_mat(BRC_I64, 4096, 8192, 8192);
    d.y.strides[1] = 2;
    d.y.strides[0] = 2 * 8192;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=gather,dtype=bf16,index=i64,layout=generic,ix=32)");
    brc_plan_destroy(p);
    /* scatter sum of f32 is atomic; of i32 it is not (integer sums are exact in any order). */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_SCATTER;
    d.reduce = BRC_INDEX_REDUCE_SUM;
    d.y = tu_mat(BRC_F32, 10, 20, 20);
    d.index = tu_mat(BRC_I64, 5, 20, 20);
    d.src = tu_mat(BRC_F32, 6, 20, 20);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_index_plan_deterministic(p), 0);
    cr_expect(strstr(brc_plan_sku(p), "+atomic@") != NULL, "%s", brc_plan_sku(p));
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=scatter,dtype=f32,index=i64,reduce=sum,layout=generic,ix=32)");
    tu_round_trip(ctx, p);
    d.y.dtype = d.src.dtype = BRC_I32;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    brc_plan_destroy(p);
    /* A huge stride takes 64-bit index math. */
    d.y.dtype = d.src.dtype = BRC_F32;
    d.reduce = BRC_INDEX_REDUCE_AMAX;
    d.y.strides[0] = (int64_t)1 << 29;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=scatter,dtype=f32,index=i64,reduce=amax,layout=generic,ix=64)");
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    tu_round_trip(ctx, p);
    /* embedding backward: deterministic by default, atomic on request. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_EMBEDDING_BACKWARD;
    d.y = tu_mat(BRC_F32, 1000, 64, 64);
    d.index = vec1(BRC_I64, 300);
    d.src = tu_mat(BRC_F32, 300, 64, 64);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=embedding_backward,dtype=f32,index=i64,atomic=0)");
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    tu_round_trip(ctx, p);
    d.atomic = 1;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "index(op=embedding_backward,dtype=f32,index=i64,atomic=1,layout=rows,vec=4,tpr=16)");
    cr_expect_eq(brc_index_plan_deterministic(p), 0);
    tu_round_trip(ctx, p);
    /* one_hot: rows of num_classes. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_ONE_HOT;
    d.index = vec1(BRC_I32, 1000);
    d.num_classes = 10;
    d.y = tu_mat(BRC_I64, 1000, 10, 10);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=one_hot,dtype=i64,index=i32,layout=rows,vec=2,tpr=8)");
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(index_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"index(dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'op' key"},
        {"index(op=take,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "one of gather"},
        {"index(op=gather,dtype=f32,layout=generic)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'index' key"},
        {"index(op=gather,dtype=f32,index=f32,layout=generic)", BRC_STATUS_INVALID_ARGUMENT, "not an index dtype"},
        {"index(op=gather,dtype=f32,index=i64)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'layout' key"},
        {"index(op=gather,dtype=f32,index=i64,layout=rows,vec=3)", BRC_STATUS_INVALID_ARGUMENT, "powers of two"},
        {"index(op=gather,dtype=f32,index=i64,layout=generic,ix=48)", BRC_STATUS_INVALID_ARGUMENT, "32 or 64"},
        {"index(op=scatter,dtype=u8,index=i64,reduce=sum,layout=generic)", BRC_STATUS_UNSUPPORTED, "dtype u8"},
        {"index(op=scatter,dtype=f32,index=i64,reduce=median,layout=generic)", BRC_STATUS_INVALID_ARGUMENT, "one of none"},
        {"index(op=scatter,dtype=i32,index=i64,reduce=mean,layout=generic)", BRC_STATUS_UNSUPPORTED, "dtype i32"},
        {"index(op=scatter,dtype=f32,index=i64,reduce=none,self=0,layout=generic)", BRC_STATUS_INVALID_ARGUMENT,
         "self=0 needs a reduction"},
        {"index(op=index_put,dtype=f32,index=i64,accumulate=2,layout=generic)", BRC_STATUS_INVALID_ARGUMENT, "accumulate"},
        {"index(op=index_put,dtype=u8,index=i64,accumulate=1,layout=generic)", BRC_STATUS_UNSUPPORTED, "dtype u8"},
        {"index(op=index_put,dtype=f32,index=i64,accumulate=0,layout=sorted,vec=4,tpr=64)", BRC_STATUS_INVALID_ARGUMENT,
         "layout=sorted is for index_put with accumulate=1"},
        {"index(op=gather,dtype=f32,index=i64,layout=sorted,vec=4,tpr=64)", BRC_STATUS_INVALID_ARGUMENT,
         "layout=sorted is for index_put"},
        {"index(op=scatter,dtype=f32,index=i64,reduce=none,layout=stage)", BRC_STATUS_INVALID_ARGUMENT,
         "layout=stage is for gather"},
        {"index(op=index_select,dtype=f32,index=i64,layout=band)", BRC_STATUS_INVALID_ARGUMENT,
         "layout=band is for gather"},
        {"index(op=gather,dtype=f32,index=i64,layout=tiles)", BRC_STATUS_INVALID_ARGUMENT, "one of rows"},
        {"index(op=masked_select,dtype=f32,index=i64)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'index'"},
        {"index(op=nonzero,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'index' key"},
        {"index(op=embedding_bag,dtype=f32,index=i64,layout=rows,vec=4,tpr=64)", BRC_STATUS_INVALID_ARGUMENT,
         "needs a 'mode' key"},
        {"index(op=embedding_bag,dtype=i32,index=i64,mode=sum,layout=rows,vec=4,tpr=64)", BRC_STATUS_UNSUPPORTED,
         "dtype i32"},
        {"index(op=embedding_bag_backward,dtype=f32,index=i64,mode=min)", BRC_STATUS_INVALID_ARGUMENT, "one of sum"},
        {"index(op=embedding_bag_backward,dtype=f32,index=i64,mode=sum,layout=rows)", BRC_STATUS_INVALID_ARGUMENT,
         "unknown key 'layout'"},
        {"index(op=gather,dtype=f32,index=i64,reduce=sum,layout=generic)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'reduce'"},
        {"index(op=embedding_backward,dtype=f32,index=i64,atomic=0,layout=rows)", BRC_STATUS_INVALID_ARGUMENT,
         "unknown key 'layout'"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ------------------------------------------------------------------------------ */

Test(index_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_index_desc d;
    tu_expect_fail(brc_index_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    memset(&d, 0, sizeof d);
    d.kind = (brc_index_kind)13;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 13 is not an indexing kind", p);
    /* gather */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_GATHER;
    d.x = tu_mat(BRC_F32, 10, 20, 20);
    d.index = tu_mat(BRC_I64, 10, 5, 5);
    d.y = tu_mat(BRC_F32, 10, 5, 5);
    d.dim = 2;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim 2 is out of range for rank 2", p);
    d.dim = 1;
    d.index.dtype = BRC_F32;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has dtype f32 (i32 or i64)", p);
    d.index.dtype = BRC_I32;
    d.y = tu_mat(BRC_F32, 10, 6, 6);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index.shape[1] = 5 differs", p);
    d.y = tu_mat(BRC_F16, 10, 5, 5);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f16, x has f32", p);
    d.y = tu_mat(BRC_F32, 10, 5, 0);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has strides under which", p);
    d.x = tu_mat(BRC_F32, 9, 20, 20);
    d.y = tu_mat(BRC_F32, 10, 5, 5);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index.shape[0] = 10 exceeds x.shape[0] = 9", p);
    /* index_select */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_INDEX_SELECT;
    d.x = tu_mat(BRC_F32, 10, 20, 20);
    d.index = tu_mat(BRC_I64, 2, 2, 2);
    d.y = tu_mat(BRC_F32, 4, 20, 20);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index must have rank 1", p);
    d.index = vec1(BRC_I64, 3);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[0] = 4, 3 expected", p);
    /* scatter */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_SCATTER;
    d.y = tu_mat(BRC_U8, 10, 20, 20);
    d.index = tu_mat(BRC_I64, 5, 20, 20);
    d.src = tu_mat(BRC_U8, 6, 20, 20);
    d.reduce = BRC_INDEX_REDUCE_PROD;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype u8 cannot be reduced", p);
    d.reduce = (brc_index_reduce)7;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "reduce 7 is not a reduction", p);
    d.reduce = BRC_INDEX_REDUCE_NONE;
    d.src = tu_mat(BRC_U8, 4, 20, 20);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index.shape[0] = 5 exceeds src.shape[0] = 4", p);
    /* embedding and its backward */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_EMBEDDING;
    d.x = vec1(BRC_F32, 10);
    d.index = vec1(BRC_I64, 3);
    d.y = tu_mat(BRC_F32, 3, 10, 10);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x (weight) must have rank 2", p);
    d.x = tu_mat(BRC_F32, 100, 10, 10);
    d.y = tu_mat(BRC_F32, 3, 11, 11);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[1] = 11, 10 expected", p);
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_EMBEDDING_BACKWARD;
    d.y = tu_mat(BRC_I32, 100, 10, 10);
    d.index = vec1(BRC_I64, 3);
    d.src = tu_mat(BRC_I32, 3, 10, 10);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32 (f32 f64 f16 bf16)", p);
    d.y.dtype = d.src.dtype = BRC_F32;
    d.use_padding_idx = 1;
    d.padding_idx = 100;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "padding_idx 100 is outside [0, 100)", p);
    d.padding_idx = 5;
    d.index = tu_mat(BRC_I64, 3, 4, 8); /* positions that do not merge into one dim */
    int64_t s3[3] = {3, 4, 10};
    brc_tensor_desc_contiguous(&d.src, BRC_F32, 3, s3);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "merge into one", p);
    d.atomic = 1;
    cr_expect_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "the atomic path takes any strides: %s",
                 brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    /* masked_fill, one_hot */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_MASKED_FILL;
    d.x = d.y = tu_mat(BRC_F32, 4, 4, 4);
    d.index = tu_mat(BRC_I32, 4, 4, 4);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "the mask (index) has dtype i32", p);
    d.index = tu_mat(BRC_BOOL, 4, 3, 3);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "differ in shape", p);
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_ONE_HOT;
    d.index = vec1(BRC_I64, 4);
    d.y = tu_mat(BRC_F32, 4, 5, 5);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "num_classes = 0 must be >= 1", p);
    d.num_classes = 6;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[1] = 5, 6 expected", p);
    /* An offline plan refuses to run. */
    d.num_classes = 5;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_index_run(p, NULL, (void *)256, NULL, (void *)512, NULL, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_index_plan_deterministic(NULL), -1);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The layouts bench/bench_indexing.py mirrors with ctypes. */
Test(index_desc, struct_layouts_match_the_benchmark) {
    cr_expect_eq(sizeof(brc_index_desc), 1440);
    cr_expect_eq(offsetof(brc_index_desc, exclude_self), 596);
    cr_expect_eq(offsetof(brc_index_desc, nindices), 604);
    cr_expect_eq(offsetof(brc_index_desc, indices), 608);
    cr_expect_eq(offsetof(brc_index_desc, mode), 1152);
    cr_expect_eq(offsetof(brc_index_desc, offsets), 1160);
    cr_expect_eq(offsetof(brc_index_desc, include_last_offset), 1296);
    cr_expect_eq(offsetof(brc_index_desc, per_sample_weights), 1304);
    cr_expect_eq(sizeof(brc_index_args), 104);
    cr_expect_eq(offsetof(brc_index_args, count), 96);
    cr_expect_eq(offsetof(brc_index_desc, dim), 552);
    cr_expect_eq(offsetof(brc_index_desc, value), 560);
    cr_expect_eq(offsetof(brc_index_desc, num_classes), 568);
    cr_expect_eq(offsetof(brc_index_desc, padding_idx), 584);
    cr_expect_eq(offsetof(brc_index_desc, atomic), 592);
}

/* ---- the kinds added in 0.3.0 ------------------------------------------------------------------------ */

Test(index_desc, new_kinds_plan_round_trip_and_flag) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_index_desc d;
    /* scatter mean without self: 4 kernels, a count per element of y in the workspace. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_SCATTER;
    d.reduce = BRC_INDEX_REDUCE_MEAN;
    d.exclude_self = 1;
    d.y = tu_mat(BRC_F32, 10, 20, 20);
    d.index = tu_mat(BRC_I64, 5, 20, 20);
    d.src = tu_mat(BRC_F32, 6, 20, 20);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=scatter,dtype=f32,index=i64,reduce=mean,self=0,layout=generic,ix=32)");
    cr_expect_eq(brc_index_plan_deterministic(p), 0);
    cr_expect_eq(brc_plan_workspace_size(p), 1024, "200 counts of 4 bytes, rounded to 256: %zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    /* index_put of rows: x[i] = v on [1000, 64] by 300 indices; accumulate flags the atomics. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_INDEX_PUT;
    d.y = tu_mat(BRC_BF16, 1000, 64, 64);
    d.nindices = 1;
    d.indices[0] = vec1(BRC_I32, 300);
    d.src = tu_mat(BRC_BF16, 300, 64, 64);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_put,dtype=bf16,index=i32,accumulate=0,layout=rows,vec=8,tpr=8)");
    cr_expect_eq(brc_index_plan_deterministic(p), 0, "colliding stores");
    tu_round_trip(ctx, p);
    d.accumulate = 1;
    d.y.dtype = d.src.dtype = BRC_I64;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_index_plan_deterministic(p), 1, "integer sums are exact in any order");
    brc_plan_destroy(p);
    /* f32 accumulate of rows: the counting sort (300 positions and 1000 buckets of workspace). */
    d.y.dtype = d.src.dtype = BRC_F32;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_put,dtype=f32,index=i32,accumulate=1,layout=sorted,vec=4,tpr=16)");
    cr_expect_eq(brc_index_plan_deterministic(p), 0, "the order of a row's addends varies");
    cr_expect_eq(brc_plan_workspace_size(p), 10496, "(300 + 1000) x 8 bytes, rounded to 256: %zu",
                 brc_plan_workspace_size(p));
    cr_expect(strstr(brc_plan_sku(p), ",sorted,vec=4,tpr=16>+atomic@"), "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    /* Far more buckets than positions: the atomic rows. */
    d.y = tu_mat(BRC_F32, 100000, 64, 64);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_put,dtype=f32,index=i32,accumulate=1,layout=rows,vec=4,tpr=16)");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    brc_plan_destroy(p);
    /* Two indices on a [30, 40] with nothing left over: one element a thread. */
    d.y = tu_mat(BRC_F32, 30, 40, 40);
    d.nindices = 2;
    d.indices[0] = d.indices[1] = vec1(BRC_I64, 7);
    d.src = vec1(BRC_F32, 7);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=index_put,dtype=f32,index=i64,accumulate=1,layout=generic,ix=64)");
    cr_expect_eq(brc_index_plan_deterministic(p), 0);
    tu_round_trip(ctx, p);
    /* masked_select and nonzero: 8 bytes a tile of workspace. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_MASKED_SELECT;
    d.x = tu_mat(BRC_F16, 100, 100, 100);
    d.index = tu_mat(BRC_BOOL, 100, 100, 100);
    d.y = vec1(BRC_F16, 10000);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=masked_select,dtype=f16)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:index<masked_select,f16,scan,tile=4096>@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 256);
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    cr_expect_eq(brc_index_run(p, NULL, NULL, NULL, NULL, NULL, NULL), BRC_STATUS_WRONG_PLAN, "offline");
    tu_round_trip(ctx, p);
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_NONZERO;
    int64_t xs[3] = {300, 7, 1000};
    brc_tensor_desc_contiguous(&d.x, BRC_U8, 3, xs);
    d.y = tu_mat(BRC_I32, 2100000, 3, 3);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=nonzero,dtype=u8,index=i32)");
    cr_expect_eq(brc_plan_workspace_size(p), 4352, "513 tiles of 8 bytes, rounded to 256: %zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    /* embedding_bag: rows of vectors; its backward deterministic for sum / mean, atomic for max. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_EMBEDDING_BAG;
    d.mode = BRC_INDEX_BAG_MEAN;
    d.x = tu_mat(BRC_BF16, 32000, 1024, 1024);
    d.index = vec1(BRC_I64, 5000);
    d.offsets = vec1(BRC_I64, 100);
    d.y = tu_mat(BRC_BF16, 100, 1024, 1024);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=embedding_bag,dtype=bf16,index=i64,mode=mean,layout=rows,vec=8,tpr=128)");
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    d.kind = BRC_INDEX_EMBEDDING_BAG_BACKWARD;
    d.src = d.y;
    d.y = d.x;
    memset(&d.x, 0, sizeof d.x);
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "index(op=embedding_bag_backward,dtype=bf16,index=i64,mode=mean)");
    cr_expect_eq(brc_index_plan_deterministic(p), 1);
    cr_expect_eq(brc_plan_workspace_size(p), 512, "100 inverse counts: %zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    d.mode = BRC_INDEX_BAG_MAX;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_index_plan_deterministic(p), 0);
    cr_expect(strstr(brc_plan_sku(p), "+atomic@") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(index_rules, new_kinds_bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_index_desc d;
    /* scatter: exclude_self needs a reduction; mean needs floats. */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_SCATTER;
    d.y = tu_mat(BRC_I32, 10, 20, 20);
    d.index = tu_mat(BRC_I64, 5, 20, 20);
    d.src = tu_mat(BRC_I32, 6, 20, 20);
    d.exclude_self = 1;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "exclude_self needs a reduction", p);
    d.reduce = BRC_INDEX_REDUCE_MEAN;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "reduce mean of dtype i32", p);
    d.reduce = BRC_INDEX_REDUCE_SUM;
    d.exclude_self = 2;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "exclude_self must be 0 or 1", p);
    /* index_put */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_INDEX_PUT;
    d.y = tu_mat(BRC_F32, 10, 20, 20);
    d.src = tu_mat(BRC_F32, 5, 20, 20);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "nindices = 0 must be in [1", p);
    d.nindices = 3;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "nindices = 3 must be in [1", p);
    d.nindices = 1;
    d.indices[0] = vec1(BRC_F32, 5);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has dtype f32", p);
    d.indices[0] = vec1(BRC_I64, 6);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "src.shape[0] = 5, 6 expected", p);
    d.nindices = 2;
    d.indices[1] = vec1(BRC_I32, 6);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "indices[1] differs from indices[0]", p);
    d.indices[1] = vec1(BRC_I64, 7);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "indices[1].shape[0] = 7", p);
    d.nindices = 1;
    d.indices[0] = vec1(BRC_I64, 5);
    d.src.dtype = BRC_F16;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "src has dtype f16, y has f32", p);
    d.src = vec1(BRC_F32, 5);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "src has rank 1, 2 expected", p);
    d.y = tu_mat(BRC_BOOL, 10, 20, 20);
    d.src = tu_mat(BRC_BOOL, 5, 20, 20);
    d.accumulate = 1;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype bool cannot be accumulated", p);
    /* masked_select, nonzero */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_MASKED_SELECT;
    d.x = tu_mat(BRC_F32, 4, 4, 4);
    d.index = tu_mat(BRC_I32, 4, 4, 4);
    d.y = vec1(BRC_F32, 16);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "the mask (index) has dtype i32", p);
    d.index.dtype = BRC_BOOL;
    d.y = vec1(BRC_F32, 15);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, ">= numel(x) = 16", p);
    d.y = vec1(BRC_F16, 16);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x has dtype f32, y has f16", p);
    d.kind = BRC_INDEX_NONZERO;
    d.y = tu_mat(BRC_I64, 16, 3, 3);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y must be [n >= numel(x) = 16, rank(x) = 2]", p);
    d.y = tu_mat(BRC_F32, 16, 2, 2);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f32 (i32 or i64)", p);
    /* embedding_bag */
    memset(&d, 0, sizeof d);
    d.kind = BRC_INDEX_EMBEDDING_BAG;
    d.x = tu_mat(BRC_F32, 100, 16, 16);
    d.index = tu_mat(BRC_I64, 8, 5, 5);
    d.y = tu_mat(BRC_F32, 8, 16, 16);
    d.mode = (brc_index_bag_mode)3;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mode 3 is not a bag mode", p);
    d.mode = BRC_INDEX_BAG_MAX;
    d.use_per_sample_weights = 1;
    d.per_sample_weights = d.index;
    d.per_sample_weights.dtype = BRC_F32;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "per_sample_weights need mode sum", p);
    d.mode = BRC_INDEX_BAG_SUM;
    d.per_sample_weights.dtype = BRC_F16;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "the index's shape and the table's dtype", p);
    d.use_per_sample_weights = 0;
    d.offsets = vec1(BRC_I64, 8);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "2-D index takes no offsets", p);
    d.index = vec1(BRC_I64, 40);
    d.offsets = vec1(BRC_I32, 8);
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "offsets of rank 1 with the index's dtype", p);
    d.offsets = vec1(BRC_I64, 8);
    d.include_last_offset = 1;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y must be [B = 7, D = 16]", p);
    d.include_last_offset = 0;
    d.use_padding_idx = 1;
    d.padding_idx = 100;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "padding_idx 100 is outside [0, 100)", p);
    d.padding_idx = 0;
    d.x.dtype = d.y.dtype = BRC_I32;
    tu_expect_fail(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32 (f32 f64 f16 bf16)", p);
    d.x.dtype = d.y.dtype = BRC_F32;
    cr_assert_eq(brc_index_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    brc_context_destroy(ctx);
}
