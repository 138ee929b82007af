/* Reductions without a GPU: a handful of descriptors covering each layout (row with and without
 * vectors, rows per CTA, split; col with and without vectors, split; copies; several axes; integer,
 * bool, index outputs) and each backward kernel compile for sm_80 and sm_90 (offline contexts), each
 * giving its descriptor back; plans made through the API have the canonical (merged) descriptor and
 * rebuild the same plan; the validation rules of reduce.h each give their status and name the
 * operand. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *const variants[] = {
    "reduce(op=sum,dtype=bf16,shape=32768x4096,axes=1)",
    "reduce(op=sum,dtype=f32,shape=32768x4096,axes=0)",
    "reduce(op=mean,dtype=f16,shape=268435456,axes=0)",
    "reduce(op=argmax,dtype=f16,shape=7x33x5,axes=1)",
    "reduce(op=var,dtype=f64,shape=1000x7,axes=0,correction=1)",
    "reduce(op=logsumexp,dtype=bf16,shape=64x1024,axes=1)",
    "reduce(op=max,dtype=f32,shape=1000x7,axes=1,index=1)",
    "reduce(op=norm,dtype=f32,shape=4097,axes=0,p=3)",
    "reduce(op=prod,dtype=f32,shape=5x6x7,axes=0+2)",
    "reduce(op=count_nonzero,dtype=i32,out=i32,shape=10000,axes=0)",
    "reduce(op=any,dtype=bool,shape=33x8,axes=0)",
    "reduce(op=sum,dtype=i32,out=i64,shape=5x6,axes=1)",
    "reduce(op=min,dtype=bf16,shape=9x4,axes=none,index=0,xstrides=1x9)",
    "reduce(op=prod,dtype=f32,shape=33x7,axes=1,dir=bwd)",
    "reduce(op=std,dtype=bf16,shape=32x4096,axes=1,correction=0,dir=bwd)",
    "reduce(op=var,dtype=f16,shape=7x1001,axes=1,correction=1,dir=bwd)",
    "reduce(op=var,dtype=f32,shape=3x32768,axes=1,correction=1,dir=bwd)",
    "reduce(op=max,dtype=f32,shape=100x7,axes=0,dir=bwd)",
    "reduce(op=norm,dtype=f16,shape=100x7,axes=0,p=2,dir=bwd)",
    "reduce(op=logsumexp,dtype=f64,shape=3x5x7,axes=0+2,dir=bwd)",
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))

typedef struct job {
    int sm;
} job;

ParameterizedTestParameters(reduce_compile, representative_variants) {
    static job jobs[] = {{80}, {90}};
    return cr_make_param_array(job, jobs, 2);
}

ParameterizedTest(job *j, reduce_compile, representative_variants, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    int splits = 0, rows = 0, cols = 0, onepass = 0;
    for (int i = 0; i < NVARIANTS; i++) {
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, variants[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", variants[i], arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), variants[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:") == sku && strstr(sku, arch), "sku %s", sku);
        splits += strstr(sku, "+fin") != NULL;
        rows += strstr(sku, "layout=row") != NULL;
        cols += strstr(sku, "layout=col") != NULL;
        onepass += strstr(sku, "+onepass@") != NULL;
        cr_log_info("%s -> %s", variants[i], sku);
        brc_plan_destroy(p);
    }
    cr_expect(splits >= 2 && rows >= 4 && cols >= 4, "the variants reach every layout (%d split, %d row, %d col)",
              splits, rows, cols);
    cr_expect_eq(onepass, 3, "the var / std backwards of rows take the one pass (%d)", onepass);
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect(st.compiles >= (uint64_t)NVARIANTS, "every kernel was a real compile (%llu)",
              (unsigned long long)st.compiles);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API: merged, canonical, rebuilt from their descriptors ------------------- */

static brc_tensor_desc nd(brc_dtype t, int rank, const int64_t *shape) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, rank, shape);
    return d;
}

/* The backward of var over the given axes of an f32 [rows, cols] x (correction 1) plans, with
 * BARACUDA_REDUCE_VFUSE set to vfuse when not NULL, to a SKU containing want. */
static void expect_var_bwd(brc_context *ctx, int64_t rows, int64_t cols, uint32_t axes, const char *vfuse,
                           const char *want) {
    int64_t xs[2] = {rows, cols}, ys[1] = {axes == 1u ? cols : rows};
    brc_reduce_backward_desc b = {BRC_REDUCE_VAR, nd(BRC_F32, 2, xs), nd(BRC_F32, 1, ys), nd(BRC_F32, 1, ys),
                                  nd(BRC_F32, 2, xs), axes, 1, 0, {0}};
    brc_plan *p = NULL;
    if (vfuse) setenv("BARACUDA_REDUCE_VFUSE", vfuse, 1);
    brc_status st = brc_reduce_backward_plan(ctx, &b, NULL, &p);
    unsetenv("BARACUDA_REDUCE_VFUSE");
    cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), want), "%lldx%lld axes %u: %s lacks %s", (long long)rows, (long long)cols, axes,
              brc_plan_sku(p), want);
    brc_plan_destroy(p);
}

Test(reduce_desc, api_plans_merge_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* [8, 4096, 4096] over its last dim is [32768, 4096] over dim 1, keepdim or not. */
    int64_t s3[3] = {8, 4096, 4096}, y2[2] = {8, 4096}, y3[3] = {8, 4096, 1};
    brc_reduce_desc d = {BRC_REDUCE_SUM, nd(BRC_BF16, 3, s3), nd(BRC_BF16, 2, y2), 4u, 0, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=sum,dtype=bf16,shape=32768x4096,axes=1)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:sum<bf16,layout=row,out=32768,red=4096,vec=8,tpr=128,rpb=2,split=1>@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    d.y = nd(BRC_BF16, 3, y3);
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=sum,dtype=bf16,shape=32768x4096,axes=1)");
    brc_plan_destroy(p);

    /* Column sum of [32768, 4096] f32: col layout, split CTAs, a workspace. */
    int64_t m[2] = {32768, 4096}, r1[1] = {4096};
    d = (brc_reduce_desc){BRC_REDUCE_SUM, nd(BRC_F32, 2, m), nd(BRC_F32, 1, r1), 1u, 0, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=sum,dtype=f32,shape=32768x4096,axes=0)");
    cr_expect(strstr(brc_plan_sku(p), "layout=col,") && strstr(brc_plan_sku(p), "vec=4") &&
                  strstr(brc_plan_sku(p), "+fin"), "%s", brc_plan_sku(p));
    cr_expect_gt(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);

    /* A full reduce of 2^28 elements splits over many CTAs. */
    int64_t big[1] = {(int64_t)1 << 28};
    d = (brc_reduce_desc){BRC_REDUCE_SUM, nd(BRC_BF16, 1, big), nd(BRC_BF16, 0, NULL), 1u, 0, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    const char *sp = strstr(brc_plan_sku(p), "split=");
    cr_assert(sp && strstr(sp, ",+fin"), "%s", brc_plan_sku(p));
    cr_expect_geq(atoi(sp + 6), 132, "at least a CTA per SM: %s", brc_plan_sku(p));
    brc_plan_destroy(p);

    /* Non-contiguous x (a row stride of 4100 elements): the strides are in the descriptor; vec=4. */
    brc_tensor_desc xs = nd(BRC_BF16, 2, m);
    xs.strides[0] = 4100;
    d = (brc_reduce_desc){BRC_REDUCE_MAX, xs, nd(BRC_BF16, 1, m), 2u, 0, 0, 1, nd(BRC_I64, 1, m)};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=max,dtype=bf16,shape=32768x4096,axes=1,index=1,xstrides=4100x1)");
    cr_expect(strstr(brc_plan_sku(p), "vec=4,"), "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);

    /* reduce_to_shape: [6, 5, 4] down to [5, 1] sums dims 0 and 2. */
    int64_t x3[3] = {6, 5, 4}, ys[2] = {5, 1};
    brc_tensor_desc tx = nd(BRC_F32, 3, x3), ty = nd(BRC_F32, 2, ys);
    cr_assert_eq(brc_reduce_to_shape_plan(ctx, &tx, &ty, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=sum,dtype=f32,shape=6x5x4,axes=0+2)");
    tu_round_trip(ctx, p);

    /* var with a preference for unaligned views. */
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 1;
    d = (brc_reduce_desc){BRC_REDUCE_VAR, nd(BRC_F32, 2, m), nd(BRC_F32, 1, m), 2u, 1, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, &pr, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=var,dtype=f32,shape=32768x4096,axes=1,correction=1,vec=1)");
    tu_round_trip(ctx, p);

    /* Backward of std over rows: one pass (a row in registers, no workspace); with
     * BARACUDA_REDUCE_VFUSE=0 the mean pass and the elementwise kernel, a workspace for the mean. */
    brc_reduce_backward_desc b = {BRC_REDUCE_STD, nd(BRC_F32, 2, m), nd(BRC_F32, 1, m), nd(BRC_F32, 1, m),
                                  nd(BRC_F32, 2, m), 2u, 1, 0, {0}};
    cr_assert_eq(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=std,dtype=f32,shape=32768x4096,axes=1,correction=1,dir=bwd)");
    cr_expect_str_eq(brc_plan_sku(p),
                     "bespoke:std_bwd<f32,elems=134217728,out=32768,red=4096,vec=4,tpr=256,rpb=1,nv=4>+onepass@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    setenv("BARACUDA_REDUCE_VFUSE", "0", 1);
    cr_assert_eq(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_REDUCE_VFUSE");
    cr_expect(strstr(brc_plan_sku(p), ",vec=4>+mean<layout=row"), "%s", brc_plan_sku(p));
    cr_expect_geq(brc_plan_workspace_size(p), 32768 * 4);
    brc_plan_destroy(p);
    /* Not one pass: the reduced dim is not x's fastest (dim 0), a row needs more than 8 vectors a
     * thread of 1024 (40000 f32: 10), or 8 MiB in 64 rows (fewer CTAs than SMs: the mean pass splits
     * them; BARACUDA_REDUCE_VFUSE=2 takes the one pass anyway). */
    expect_var_bwd(ctx, 32768, 4096, 1u, NULL, "+mean<layout=col");
    expect_var_bwd(ctx, 2, 40000, 2u, NULL, "+mean<layout=row");
    expect_var_bwd(ctx, 64, 32768, 2u, NULL, "+mean<layout=row");
    expect_var_bwd(ctx, 64, 32768, 2u, "2", "tpr=1024,rpb=1,nv=8>+onepass@");

    /* A rank-0 x: a copy; an empty reduced slice of sum is allowed (zeros out). */
    d = (brc_reduce_desc){BRC_REDUCE_SUM, nd(BRC_F32, 0, NULL), nd(BRC_F32, 0, NULL), 0u, 0, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=sum,dtype=f32,shape=1,axes=none)");
    tu_round_trip(ctx, p);
    int64_t e[2] = {3, 0}, e1[1] = {3};
    d = (brc_reduce_desc){BRC_REDUCE_SUM, nd(BRC_F32, 2, e), nd(BRC_F32, 1, e1), 2u, 0, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "reduce(op=sum,dtype=f32,shape=3x0,axes=1)");
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(reduce_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"reduce(op=sum,dtype=f32,axes=0)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'shape' key"},
        {"reduce(op=sum,dtype=f32,shape=4x4)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'axes' key"},
        {"reduce(op=summ,dtype=f32,shape=4,axes=0)", BRC_STATUS_INVALID_ARGUMENT, "op"},
        {"reduce(op=sum,dtype=f32,shape=4x4,axes=2)", BRC_STATUS_INVALID_ARGUMENT, "axes: '2'"},
        {"reduce(op=sum,dtype=f32,shape=4xq,axes=0)", BRC_STATUS_INVALID_ARGUMENT, "shape: '4xq'"},
        {"reduce(op=mean,dtype=i32,shape=4,axes=0)", BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported for mean"},
        {"reduce(op=sum,dtype=f32,shape=4,axes=0,p=2)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'p'"},
        {"reduce(op=max,dtype=f32,shape=4x0,axes=1)", BRC_STATUS_INVALID_ARGUMENT, "empty"},
        {"reduce(op=sum,dtype=f32,shape=4x4,axes=1,vec=8)", BRC_STATUS_INVALID_ARGUMENT, "vector_width 8"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules --------------------------------------------------------------------------------- */

Test(reduce_rules, bad_arguments_name_the_operand) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    int64_t m[2] = {4, 64}, r[1] = {4}, r2[2] = {4, 1}, bad[1] = {5}, z[2] = {4, 0};
    brc_tensor_desc x = nd(BRC_F32, 2, m), y = nd(BRC_F32, 1, r);

    tu_expect_fail(brc_reduce_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_reduce_desc d = {BRC_REDUCE_SUM, x, y, 4u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "names dim 2 but x has rank 2", p);
    d = (brc_reduce_desc){BRC_REDUCE_SUM, x, nd(BRC_F32, 1, bad), 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y dim 0 has size 5, 4 expected", p);
    d = (brc_reduce_desc){BRC_REDUCE_SUM, x, nd(BRC_F32, 2, m), 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y dim 1 has size 64, 1 expected", p);
    d = (brc_reduce_desc){BRC_REDUCE_SUM, x, nd(BRC_F16, 1, r), 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f16", p);
    d = (brc_reduce_desc){BRC_REDUCE_ARGMAX, x, nd(BRC_F32, 1, r), 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "argmax writes i64 or i32", p);
    d = (brc_reduce_desc){BRC_REDUCE_MAX, nd(BRC_F32, 2, z), nd(BRC_F32, 1, r), 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "max of no elements", p);
    d = (brc_reduce_desc){BRC_REDUCE_SUM, x, y, 2u, 0, 0, 1, nd(BRC_I64, 1, r)};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "write_index is for max and min", p);
    d = (brc_reduce_desc){BRC_REDUCE_MAX, x, y, 2u, 0, 0, 1, nd(BRC_I32, 1, r)};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has dtype i32", p);
    d = (brc_reduce_desc){BRC_REDUCE_MAX, x, y, 2u, 0, 0, 1, nd(BRC_I64, 2, r2)};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index and y differ in shape", p);
    d = (brc_reduce_desc){BRC_REDUCE_VAR, x, y, 2u, -1, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "correction = -1", p);
    d = (brc_reduce_desc){BRC_REDUCE_NORM, x, y, 2u, 0, -2, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "norm p = -2", p);
    d = (brc_reduce_desc){BRC_REDUCE_MEAN, nd(BRC_I32, 2, m), nd(BRC_I32, 1, r), 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported for mean", p);
    d = (brc_reduce_desc){(brc_reduce_kind)99, x, y, 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "not a reduce kind", p);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    d = (brc_reduce_desc){BRC_REDUCE_SUM, x, y, 2u, 0, 0, 0, {0}};
    tu_expect_fail(brc_reduce_plan(ctx, &d, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 3", p);

    brc_tensor_desc t1 = nd(BRC_F32, 1, bad);
    tu_expect_fail(brc_reduce_to_shape_plan(ctx, &x, &t1, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "must broadcast to x", p);

    brc_reduce_backward_desc b = {BRC_REDUCE_ARGMAX, x, y, y, x, 2u, 0, 0, {0}};
    tu_expect_fail(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "argmax has no gradient", p);
    b = (brc_reduce_backward_desc){BRC_REDUCE_NORM, x, y, y, x, 2u, 0, INFINITY, {0}};
    tu_expect_fail(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "norm p = inf", p);
    b = (brc_reduce_backward_desc){BRC_REDUCE_SUM, x, y, y, nd(BRC_F32, 1, r), 2u, 0, 0, {0}};
    tu_expect_fail(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dx and x differ in shape", p);
    b = (brc_reduce_backward_desc){BRC_REDUCE_SUM, x, y, nd(BRC_F32, 1, bad), x, 2u, 0, 0, {0}};
    tu_expect_fail(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dy dim 0 has size 5", p);
    b = (brc_reduce_backward_desc){BRC_REDUCE_MAX, x, y, y, x, 2u, 0, 0, nd(BRC_F32, 1, r)};
    tu_expect_fail(brc_reduce_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has dtype f32", p);

    /* Offline plans refuse to run; a forward plan is not a backward one. */
    d = (brc_reduce_desc){BRC_REDUCE_SUM, x, y, 2u, 0, 0, 0, {0}};
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_reduce_run(p, (void *)256, (void *)256, NULL, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_reduce_backward_run(p, (void *)256, NULL, NULL, (void *)256, (void *)256, NULL, 0, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}
