/* Row-wise family without a GPU: every op x direction compiles for sm_80 and sm_90 (offline
 * contexts) at a handful of (dtype, cols) pairs that reach each geometry (several rows per CTA, one
 * CTA per row, a cluster or several passes), each plan made from its canonical descriptor and
 * giving that descriptor back; descriptors of plans made through the API rebuild the same plan;
 * and the validation rules of rows.h each give their status. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct job {
    int sm;
    brc_dtype dt;
    int64_t cols;
} job;

ParameterizedTestParameters(rows_compile, every_op_and_direction) {
    static job jobs[] = {
        {80, BRC_BF16, 33}, {80, BRC_BF16, 4096}, {80, BRC_F32, 131072}, {80, BRC_F64, 1000},
        {90, BRC_BF16, 33}, {90, BRC_BF16, 4096}, {90, BRC_BF16, 131072}, {90, BRC_F32, 32771},
        {90, BRC_F16, 1000}, {90, BRC_F64, 32768}, {90, BRC_F32, 100008},
    };
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

/* The canonical descriptors of every op of the family for (dtype, cols). */
static int canonical(brc_dtype dt, int64_t cols, char out[][160]) {
    const char *d = brc_dtype_name(dt);
    long long c = (long long)cols;
    int n = 0;
    for (int dir = 0; dir < 2; dir++) {
        const char *ds = dir ? "bwd" : "fwd";
        snprintf(out[n++], 160, "softmax(dtype=%s,cols=%lld,dir=%s)", d, c, ds);
        snprintf(out[n++], 160, "log_softmax(dtype=%s,cols=%lld,dir=%s)", d, c, ds);
        if (dir == 0) {
            snprintf(out[n++], 160, "rms_norm(dtype=%s,cols=%lld,weight=1,residual=0,dir=fwd)", d, c);
            snprintf(out[n++], 160, "layer_norm(dtype=%s,cols=%lld,weight=1,bias=1,residual=1,dir=fwd)", d, c);
            snprintf(out[n++], 160, "layer_norm(dtype=%s,cols=%lld,weight=0,bias=0,residual=0,dir=fwd)", d, c);
        } else {
            snprintf(out[n++], 160, "rms_norm(dtype=%s,cols=%lld,weight=1,dir=bwd)", d, c);
            snprintf(out[n++], 160, "layer_norm(dtype=%s,cols=%lld,weight=1,bias=1,dir=bwd)", d, c);
            snprintf(out[n++], 160, "layer_norm(dtype=%s,cols=%lld,weight=0,bias=1,dir=bwd)", d, c);
        }
    }
    return n;
}

ParameterizedTest(job *j, rows_compile, every_op_and_direction, .timeout = 600) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    char descs[16][160];
    int n = canonical(j->dt, j->cols, descs), kernels = 0;
    for (int i = 0; i < n; i++) {
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, descs[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", descs[i], arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), descs[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:") == sku && strstr(sku, arch), "sku %s", sku);
        kernels += 1 + (strstr(sku, "+colsum") != NULL) + (strstr(sku, "+colred") != NULL);
        /* On sm_80 no cluster; on sm_90 the 131072-column rows take one. */
        if (j->sm == 80) cr_expect(strstr(sku, "cluster=1,") != NULL, "%s", sku);
        if (j->sm == 90 && j->cols == 131072) cr_expect(strstr(sku, "cluster=1,") == NULL, "%s", sku);
        /* bf16 131072 on sm_90: packed rows in clusters of 4 for the log_softmax forward, owned
         * columns in clusters of 4 for the softmax forward, as the norm backward's for their backward; owned columns with the split
         * cluster barrier for the norm forwards without a residual (clusters of 8, 4 vectors a
         * thread, 6 stages) and the norm backwards (clusters of 8, 4 vectors a thread, 3 stages); at
         * 4096 columns one CTA of 256 threads a row, two an SM, 4 stages. */
        bool nbwd = strstr(descs[i], "norm(") && strstr(descs[i], "bwd");
        if (j->sm == 90 && j->cols == 131072 && j->dt == BRC_BF16) {
            bool fwd = strstr(descs[i], "dir=fwd") != NULL, sm = strstr(descs[i], "softmax(") != NULL;
            bool res = strstr(descs[i], "residual=1") != NULL;
            bool smb = sm && !fwd, logf = fwd && strstr(descs[i], "log_softmax(") == descs[i];
            if (logf) cr_expect(strstr(sku, "cluster=4,passes=1,packed,") != NULL, "%s", sku);
            if (sm && fwd && !logf)
                cr_expect(strstr(sku, "cluster=4,passes=1,owned,smem_stages=3,split_barrier,shared_release,fwd>") != NULL,
                          "%s", sku);
            if (smb)
                cr_expect(strstr(sku, "tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,bwd>") != NULL,
                          "%s", sku);
            if (fwd && !res && !sm)
                cr_expect(strstr(sku, "cluster=8,passes=1,owned,smem_stages=6,split_barrier,") != NULL, "%s", sku);
            if (nbwd)
                cr_expect(strstr(sku, "tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,") != NULL,
                          "%s", sku);
        }
        if (j->sm == 90 && j->cols == 4096 && nbwd)
            cr_expect(strstr(sku, "tpr=256,rpb=1,cluster=1,passes=1,owned,smem_stages=4,2_per_sm,") != NULL, "%s", sku);
        if (j->sm == 80) cr_expect(strstr(sku, ",owned,") == NULL, "%s", sku);
        cr_log_info("%s -> %s", descs[i], sku);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, (uint64_t)kernels, "every kernel was a real compile");
    cr_log_info("%s %s cols=%lld: %d kernels, %.0f ms", arch, brc_dtype_name(j->dt), (long long)j->cols, kernels,
                st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API, rebuilt from their descriptors ---------------------------------------- */

Test(rows_desc, api_plans_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* A row stride of 1001 (odd) forces vec=1 for 1000 columns; the descriptor says so. */
    brc_softmax_desc s = {BRC_SOFTMAX_LOG, tu_mat(BRC_F32, 3, 1000, 1001), tu_mat(BRC_F32, 3, 1000, 1000)};
    cr_assert_eq(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "log_softmax(dtype=f32,cols=1000,vec=1,dir=fwd)");
    cr_expect(strstr(brc_plan_sku(p), "vec=1,") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    brc_norm_desc n = {BRC_NORM_RMS, tu_mat(BRC_BF16, 8, 4096, 4096), tu_mat(BRC_BF16, 8, 4096, 4096), 1, 0, 0, {0}, {0}, 1e-6};
    cr_assert_eq(brc_norm_plan(ctx, &n, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "rms_norm(dtype=bf16,cols=4096,weight=1,residual=0,dir=fwd)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:rms_norm<bf16,cols=4096,vec=8,tpr=128,rpb=1,cluster=1,passes=1,weight,fwd>@sm_90");
    tu_round_trip(ctx, p);
    brc_norm_backward_desc b = {BRC_NORM_LAYER, tu_mat(BRC_F16, 257, 7, 7), tu_mat(BRC_F16, 257, 7, 7),
                                tu_mat(BRC_F16, 257, 7, 7), 1, 1};
    cr_assert_eq(brc_norm_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "layer_norm(dtype=f16,cols=7,weight=1,bias=1,dir=bwd)");
    cr_expect(brc_plan_workspace_size(p) > 0, "partial sums for dweight and dbias");
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(rows_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"softmax(dtype=f32,cols=0)", BRC_STATUS_INVALID_ARGUMENT, "cols: 0 is outside"},
        {"softmax(dtype=bf16,cols=16384,rows=1,dir=fwd)", BRC_STATUS_INVALID_ARGUMENT, "rows: 1 is outside"},
        {"softmax(dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'cols' key"},
        {"softmax(dtype=i32,cols=8)", BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported"},
        {"softmax(dtype=f32,cols=8,weight=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'weight'"},
        {"rms_norm(dtype=f32,cols=8,bias=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'bias'"},
        {"layer_norm(dtype=f32,cols=8,residual=1,dir=bwd)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'residual'"},
        {"layer_norm(dtype=f32,cols=8,dir=sideways)", BRC_STATUS_INVALID_ARGUMENT, "one of fwd, bwd"},
        {"softmax(dtype=f32,cols=12,vec=8)", BRC_STATUS_INVALID_ARGUMENT, "vector_width 8"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ---------------------------------------------------------------------------------- */

Test(rows_rules, bad_layouts_and_arguments) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_tensor_desc good = tu_mat(BRC_F32, 4, 64, 64);

    tu_expect_fail(brc_softmax_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_softmax_desc s = {BRC_SOFTMAX_PLAIN, good, good};
    brc_norm_desc nc = {BRC_NORM_RMS, good, good, 0, 0, 0, {0}, {0}, 1e-6};
    nc.x.strides[1] = 2; /* the norms take contiguous rows only (softmax takes a strided axis) */
    tu_expect_fail(brc_norm_plan(ctx, &nc, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "rows must be contiguous", p);
    /* [2, 3, 64] whose dims 0 and 1 do not nest: stride of dim 0 is not 3 * stride of dim 1. */
    int64_t s3[3] = {2, 3, 64};
    brc_tensor_desc t3;
    brc_tensor_desc_contiguous(&t3, BRC_F32, 3, s3);
    t3.strides[0] = 1000;
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, t3, t3};
    s.y.strides[0] = 192;
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "do not flatten", p);
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, good, tu_mat(BRC_F32, 4, 64, 32)};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "would overlap", p);
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, good, tu_mat(BRC_F16, 4, 64, 64)};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has dtype f16", p);
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, good, tu_mat(BRC_F32, 4, 65, 65)};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "differ in shape", p);
    s = (brc_softmax_desc){(brc_softmax_kind)7, good, good};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "not a softmax kind", p);
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, tu_mat(BRC_I32, 4, 64, 64), tu_mat(BRC_I32, 4, 64, 64)};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32", p);
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, tu_mat(BRC_F32, 4, 0, 64), tu_mat(BRC_F32, 4, 0, 64)};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "cols = 0", p);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, good, good};
    tu_expect_fail(brc_softmax_plan(ctx, &s, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 3", p);
    pr.vector_width = 4;
    s.x.strides[0] = 66;
    tu_expect_fail(brc_softmax_plan(ctx, &s, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "does not divide the row stride", p);

    brc_norm_desc n = {BRC_NORM_RMS, good, good, 1, 1, 0, {0}, {0}, 1e-6};
    tu_expect_fail(brc_norm_plan(ctx, &n, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "rms_norm: has no bias", p);
    n = (brc_norm_desc){BRC_NORM_LAYER, good, good, 1, 1, 0, {0}, {0}, -1};
    tu_expect_fail(brc_norm_plan(ctx, &n, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "eps", p);
    n = (brc_norm_desc){BRC_NORM_LAYER, good, good, 2, 1, 0, {0}, {0}, 1e-5};
    tu_expect_fail(brc_norm_plan(ctx, &n, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has_weight = 2", p);
    n = (brc_norm_desc){BRC_NORM_LAYER, good, good, 1, 1, 1, good, tu_mat(BRC_F32, 4, 64, 16), 1e-5};
    tu_expect_fail(brc_norm_plan(ctx, &n, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "sum has row stride 16", p);
    brc_norm_backward_desc nb = {BRC_NORM_RMS, good, good, good, 1, 1};
    tu_expect_fail(brc_norm_backward_plan(ctx, &nb, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "has no bias", p);

    /* Offline plans refuse to run; a plan of another family is refused. */
    s = (brc_softmax_desc){BRC_SOFTMAX_PLAIN, good, good};
    cr_assert_eq(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_softmax_run(p, (void *)256, (void *)256, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_softmax_backward_run(p, (void *)256, (void *)256, (void *)256, NULL, 0, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* ---- softmax along a strided axis ------------------------------------------------------------------- */

/* Softmax over dim 1 of a contiguous [N, C, H, W] (the channels): the view [N, H, W, C] groups into
 * N outer rows of H * W inner ones; the plan says so, compiles for sm_80 and sm_90, and its
 * descriptor rebuilds the same kernels. */
Test(rows_strided, channel_softmax_plans_compile_and_round_trip, .timeout = 300) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    static const char *const archs[] = {"sm_80", "sm_90"};
    for (int a = 0; a < 2; a++) {
        brc_context *ctx = tu_offline(archs[a]);
        brc_tensor_desc v = {0};
        v.dtype = BRC_BF16;
        v.rank = 4;
        int64_t shape[4] = {2, 7, 9, 1000}, strides[4] = {1000 * 63, 9, 1, 63};
        memcpy(v.shape, shape, sizeof shape);
        memcpy(v.strides, strides, sizeof strides);
        for (int bwd = 0; bwd < 2; bwd++)
            for (int log = 0; log < 2; log++) {
                brc_plan *p = NULL;
                brc_softmax_kind k = log ? BRC_SOFTMAX_LOG : BRC_SOFTMAX_PLAIN;
                brc_softmax_desc f = {k, v, v};
                brc_softmax_backward_desc b = {k, v, v, v};
                brc_status st = bwd ? brc_softmax_backward_plan(ctx, &b, NULL, &p) : brc_softmax_plan(ctx, &f, NULL, &p);
                cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", archs[a], brc_last_error(), brc_last_jit_log());
                char want[128];
                snprintf(want, sizeof want, "%s(dtype=bf16,cols=1000,inner=32,dir=%s)", log ? "log_softmax" : "softmax",
                         bwd ? "bwd" : "fwd");
                cr_expect_str_eq(brc_plan_descriptor(p), want);
                cr_expect(strstr(brc_plan_sku(p), ",strided,tx=32,ty=8,") != NULL, "%s", brc_plan_sku(p));
                tu_round_trip(ctx, p); /* destroys p */
            }
        brc_context_destroy(ctx);
    }
}

Test(rows_strided, bad_strided_layouts) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* [2, 3, 5, 64] viewed with the axis strided and three leading groups that do not nest. */
    brc_tensor_desc v = {0};
    v.dtype = BRC_F32;
    v.rank = 4;
    int64_t shape[4] = {2, 3, 5, 64}, strides[4] = {100000, 1000, 1, 5};
    memcpy(v.shape, shape, sizeof shape);
    memcpy(v.strides, strides, sizeof strides);
    brc_softmax_desc s = {BRC_SOFTMAX_PLAIN, v, v};
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "two groups", p);
    s.x.strides[0] = 15, s.x.strides[1] = 5 * 64 * 2;
    s.y = s.x;
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 4;
    tu_expect_fail(brc_softmax_plan(ctx, &s, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "the softmax axis is strided", p);
    s.y.shape[3] = 63;
    tu_expect_fail(brc_softmax_plan(ctx, &s, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "differ in shape", p);
    brc__error_clear();
    tu_expect_fail(brc__plan_from_descriptor(ctx, "softmax(dtype=f32,cols=8,inner=3,dir=fwd)", &p),
                BRC_STATUS_INVALID_ARGUMENT, "power of two", p);
    brc_context_destroy(ctx);
}

/* Long 16-bit rows on sm_90 are staged through shared memory (double buffered, a cluster of 2 for
 * 32768 columns); f32 rows and rows needing a cluster of 8 keep the register layouts (rows.c,
 * pick_staged); the staged plans rebuild from their descriptors. */
/* A plan's expected SKU for rows of `cols` columns of dt. */
typedef struct sku_case {
    brc_dtype dt;
    int64_t cols;
    const char *sku;
} sku_case;

typedef brc_status (*make_fn)(brc_context *, brc_tensor_desc, brc_plan **);

/* Plans rows x cols with make and checks its SKU; by_rows: whether the descriptor carries rows=2048 (a
 * layout chosen by the row count); then the descriptor round trip. */
static void expect_rows_sku(brc_context *ctx, make_fn make, brc_dtype dt, int64_t rows, int64_t cols, const char *sku,
                            bool by_rows) {
    brc_plan *p = NULL;
    cr_assert_eq(make(ctx, tu_mat(dt, rows, cols, cols), &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_sku(p), sku);
    cr_expect_eq(strstr(brc_plan_descriptor(p), ",rows=2048,") != NULL, by_rows, "%s", brc_plan_descriptor(p));
    tu_round_trip(ctx, p);
}

/* A plan of rows x cols by make: its SKU, and whether its descriptor carries rows=2048 (expect_rows_sku). */
typedef struct rows_case {
    make_fn make;
    brc_dtype dt;
    int64_t rows, cols;
    const char *sku;
    bool by_rows;
} rows_case;

static void expect_rows_cases(brc_context *ctx, const rows_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++)
        expect_rows_sku(ctx, cases[i].make, cases[i].dt, cases[i].rows, cases[i].cols, cases[i].sku, cases[i].by_rows);
}

/* Plans 1000 x cols rows with make, checks each SKU and the descriptor round trip. */
static void expect_skus(brc_context *ctx, const sku_case *cases, size_t n, make_fn make) {
    for (size_t i = 0; i < n; i++) expect_rows_sku(ctx, make, cases[i].dt, 1000, cases[i].cols, cases[i].sku, false);
}

static brc_status make_softmax(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_softmax_desc d = {BRC_SOFTMAX_PLAIN, t, t};
    return brc_softmax_plan(ctx, &d, NULL, p);
}

static brc_status make_log_softmax(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_softmax_desc d = {BRC_SOFTMAX_LOG, t, t};
    return brc_softmax_plan(ctx, &d, NULL, p);
}

static brc_status make_layer_norm_bwd(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
    return brc_norm_backward_plan(ctx, &d, NULL, p);
}

static brc_status make_rms_norm_bwd(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_norm_backward_desc d = {BRC_NORM_RMS, t, t, t, 1, 0};
    return brc_norm_backward_plan(ctx, &d, NULL, p);
}

Test(rows_desc, staging_choice) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const sku_case cases[] = {
        /* 16-bit rows past 16384: packed, two 512-thread CTAs an SM, one a row up to 32768; past
         * that owned columns in clusters with the split barrier's restricted release (log_softmax:
         * packed clusters, rows_compile); f32 softmax of 16385-32768: owned columns in clusters of 2. */
        {BRC_BF16, 32768, "bespoke:softmax<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90"},
        {BRC_F16, 32768, "bespoke:softmax<f16,cols=32768,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90"},
        {BRC_F32, 32768, "bespoke:softmax<f32,cols=32768,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,shared_release,fwd>@sm_90"},
        {BRC_BF16, 65536, "bespoke:softmax<bf16,cols=65536,vec=8,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,shared_release,fwd>@sm_90"},
        {BRC_BF16, 131072, "bespoke:softmax<bf16,cols=131072,vec=8,tpr=512,rpb=1,cluster=4,passes=1,owned,smem_stages=3,split_barrier,shared_release,fwd>@sm_90"},
        /* Longer f32 rows: owned columns in clusters, rows staged, the split cluster barrier. */
        {BRC_F32, 131072, "bespoke:softmax<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,pair_loads,shared_release,fwd>@sm_90"},
    };
    expect_skus(ctx, cases, sizeof cases / sizeof cases[0], make_softmax);
    /* Softmax / log_softmax forwards in owned columns, clusters of 2 with the restricted release (rows.c
     * pick_own): f32 rows of 4097-8192 vectors (16388-32768 columns) at any rows; f32 rows of 2048-4096
     * vectors (8192-16384 columns) one CTA a row of 256 threads (up to 2560 vectors) or 512, two an SM
     * (pick_geo); f32 rows of fewer vectors keep the one-CTA row kernel. 16-bit rows of 8193-16384 columns: packed, one 512-thread CTA
     * a row (pick_geo), at any rows; 16-bit rows of 8192 keep the 256-thread row kernel. None depends
     * on the row count (no rows= in the descriptor). */
    static const rows_case own[] = {
        {make_softmax, BRC_F32, 2048, 32768, "bespoke:softmax<f32,cols=32768,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,shared_release,fwd>@sm_90", false},
        {make_log_softmax, BRC_F32, 4099, 20000, "bespoke:log_softmax<f32,cols=20000,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=5,split_barrier,shared_release,fwd>@sm_90", false},
        {make_softmax, BRC_F32, 1, 32768, "bespoke:softmax<f32,cols=32768,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,shared_release,fwd>@sm_90", false},
        {make_log_softmax, BRC_F32, 300, 16388, "bespoke:log_softmax<f32,cols=16388,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=5,split_barrier,shared_release,fwd>@sm_90", false},
        {make_softmax, BRC_F32, 4096, 16384, "bespoke:softmax<f32,cols=16384,vec=4,tpr=512,rpb=1,cluster=1,passes=1,2_per_sm,fwd>@sm_90", false},
        {make_log_softmax, BRC_F32, 1, 8192, "bespoke:log_softmax<f32,cols=8192,vec=4,tpr=256,rpb=1,cluster=1,passes=1,2_per_sm,fwd>@sm_90", false},
        {make_softmax, BRC_F32, 7, 10240, "bespoke:softmax<f32,cols=10240,vec=4,tpr=256,rpb=1,cluster=1,passes=1,2_per_sm,fwd>@sm_90", false},
        {make_log_softmax, BRC_F32, 3000, 10244, "bespoke:log_softmax<f32,cols=10244,vec=4,tpr=512,rpb=1,cluster=1,passes=1,2_per_sm,fwd>@sm_90", false},
        {make_softmax, BRC_F32, 4096, 8188, "bespoke:softmax<f32,cols=8188,vec=4,tpr=512,rpb=1,cluster=1,passes=1,fwd>@sm_90", false},
        {make_softmax, BRC_BF16, 2048, 16384, "bespoke:softmax<bf16,cols=16384,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90", false},
        {make_log_softmax, BRC_BF16, 4096, 16384, "bespoke:log_softmax<bf16,cols=16384,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90", false},
        {make_softmax, BRC_BF16, 2047, 16384, "bespoke:softmax<bf16,cols=16384,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90", false},
        {make_log_softmax, BRC_F16, 3000, 12000, "bespoke:log_softmax<f16,cols=12000,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90", false},
        {make_softmax, BRC_BF16, 7, 8200, "bespoke:softmax<bf16,cols=8200,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,fwd>@sm_90", false},
        {make_log_softmax, BRC_BF16, 4096, 8192, "bespoke:log_softmax<bf16,cols=8192,vec=8,tpr=256,rpb=1,cluster=1,passes=1,fwd>@sm_90", false},
    };
    expect_rows_cases(ctx, own, sizeof own / sizeof own[0]);
    brc_context_destroy(ctx);
}

/* The norm backward's layouts on sm_90: owned columns (512-thread CTAs, the smallest cluster (f32: up
 * to 16, sm_90's non-portable size; 16-bit up to 8) with at
 * most 4 vectors a thread, at least 16 elements a thread, shared-memory stages as fit; rows of 4096:
 * 16-bit in 256-thread CTAs two an SM, f32 in one 512-thread CTA, 4 stages) for 16-byte
 * vectors of 2- and 4-byte elements; colred past that for 16-bit rows; f64, odd rows, short rows and
 * longer f32 rows keep the row kernel's partial rows. */
Test(rows_desc, norm_backward_choice) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const sku_case cases[] = {
        /* Rows of 4096: one CTA a row, 16-bit in 256 threads (16 elements a thread) two an SM, f32 in
         * 512 (8 elements a thread) one an SM; bf16 2048 keeps the row kernel. */
        {BRC_BF16, 4096, "bespoke:layer_norm<bf16,cols=4096,vec=8,tpr=256,rpb=1,cluster=1,passes=1,owned,smem_stages=4,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F32, 4096, "bespoke:layer_norm<f32,cols=4096,vec=4,tpr=512,rpb=1,cluster=1,passes=1,owned,smem_stages=4,weight,bias,bwd>+colsum@sm_90"},
        /* Rows that 128 threads take: 256-thread CTAs, two an SM, one partial row a CTA (slot_partials);
         * f32 rows of 256 threads: 512-thread CTAs; 16-bit rows of 256 threads and f64 rows of 256
         * keep a partial row a row slot. */
        {BRC_BF16, 2048, "bespoke:layer_norm<bf16,cols=2048,vec=8,tpr=128,rpb=2,cluster=1,passes=1,slot_partials,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_BF16, 1024, "bespoke:layer_norm<bf16,cols=1024,vec=8,tpr=64,rpb=4,cluster=1,passes=1,slot_partials,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F16, 500, "bespoke:layer_norm<f16,cols=500,vec=4,tpr=32,rpb=8,cluster=1,passes=1,slot_partials,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F32, 1000, "bespoke:layer_norm<f32,cols=1000,vec=4,tpr=128,rpb=2,cluster=1,passes=1,slot_partials,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F32, 2048, "bespoke:layer_norm<f32,cols=2048,vec=4,tpr=256,rpb=2,cluster=1,passes=1,slot_partials,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F64, 1024, "bespoke:layer_norm<f64,cols=1024,vec=2,tpr=256,rpb=1,cluster=1,passes=1,weight,bias,bwd>+colsum@sm_90"},
        {BRC_BF16, 3000, "bespoke:layer_norm<bf16,cols=3000,vec=8,tpr=256,rpb=1,cluster=1,passes=1,owned,smem_stages=4,2_per_sm,weight,bias,bwd>+colsum@sm_90"},
        {BRC_BF16, 16384, "bespoke:layer_norm<bf16,cols=16384,vec=8,tpr=512,rpb=1,cluster=1,passes=1,owned,smem_stages=3,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F32, 8192, "bespoke:layer_norm<f32,cols=8192,vec=4,tpr=512,rpb=1,cluster=1,passes=1,owned,smem_stages=3,weight,bias,bwd>+colsum@sm_90"},
        /* In clusters, the split cluster barrier. */
        {BRC_BF16, 32768, "bespoke:layer_norm<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F16, 100008, "bespoke:layer_norm<f16,cols=100008,vec=8,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,pair_loads,shared_release,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F32, 32768, "bespoke:layer_norm<f32,cols=32768,vec=4,tpr=512,rpb=1,cluster=4,passes=1,owned,smem_stages=3,split_barrier,weight,bias,bwd>+colsum@sm_90"},
        {BRC_BF16, 262144, "bespoke:layer_norm<bf16,cols=262144,vec=8,tpr=512,rpb=1,cluster=8,passes=4,weight,bias,bwd>+colred+colsum@sm_90"},
        /* f32 rows of 131072: clusters of 16 (sm_90's non-portable size), 4 vectors a thread, the
         * split barrier, for layer_norm with its pre-sum; past owned columns f32 layer_norm takes
         * colred (rms_norm keeps the row kernel's partials). */
        {BRC_F32, 131072, "bespoke:layer_norm<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=16,passes=1,owned,smem_stages=3,split_barrier,pair_loads,shared_release,weight,bias,bwd>+colsum@sm_90"},
        {BRC_F32, 262144, "bespoke:layer_norm<f32,cols=262144,vec=4,tpr=512,rpb=1,cluster=8,passes=4,weight,bias,bwd>+colred+colsum@sm_90"},
        {BRC_BF16, 32771, "bespoke:layer_norm<bf16,cols=32771,vec=1,tpr=256,rpb=1,cluster=8,passes=2,weight,bias,bwd>+colred+colsum@sm_90"},
    };
    expect_skus(ctx, cases, sizeof cases / sizeof cases[0], make_layer_norm_bwd);
    static const sku_case rms[] = {
        {BRC_F32, 131072, "bespoke:rms_norm<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=16,passes=1,owned,smem_stages=3,split_barrier,pair_loads,shared_release,weight,bwd>+colsum@sm_90"},
        {BRC_F32, 262144, "bespoke:rms_norm<f32,cols=262144,vec=4,tpr=512,rpb=1,cluster=8,passes=4,weight,bwd>+colsum@sm_90"},
        {BRC_BF16, 512, "bespoke:rms_norm<bf16,cols=512,vec=8,tpr=32,rpb=8,cluster=1,passes=1,slot_partials,2_per_sm,weight,bwd>+colsum@sm_90"},
    };
    expect_skus(ctx, rms, sizeof rms / sizeof rms[0], make_rms_norm_bwd);
    /* No weight, no bias: no partial rows, so the row kernel's layout as before (128 threads a CTA). */
    {
        brc_tensor_desc t = tu_mat(BRC_BF16, 1000, 512, 512);
        brc_norm_backward_desc d = {BRC_NORM_RMS, t, t, t, 0, 0};
        brc_plan *p = NULL;
        cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect_str_eq(brc_plan_sku(p), "bespoke:rms_norm<bf16,cols=512,vec=8,tpr=32,rpb=4,cluster=1,passes=1,bwd>@sm_90");
        cr_expect_eq(brc_plan_workspace_size(p), 0);
        brc_plan_destroy(p);
    }
    brc_context_destroy(ctx);
}

static brc_status make_softmax_bwd(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_softmax_backward_desc d = {BRC_SOFTMAX_PLAIN, t, t, t};
    return brc_softmax_backward_plan(ctx, &d, NULL, p);
}

static brc_status make_log_softmax_bwd(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_softmax_backward_desc d = {BRC_SOFTMAX_LOG, t, t, t};
    return brc_softmax_backward_plan(ctx, &d, NULL, p);
}

/* The softmax backward on sm_90 takes the norm backward's owned columns where the row layouts stay
 * under the copy speed: 16-bit softmax past 16384 columns (up to 32768 from 2048 rows), 16-bit
 * log_softmax past 32768, f32 (both ops) past 32768, and every softmax / log_softmax backward of
 * 8193-16384 columns (the 16-bit log_softmax from 8192); the 16-bit log_softmax backward of 32768 keeps
 * one packed CTA a row, rows of 4096 and 8192 (but that log_softmax) and f32 rows of 16385-32768 the
 * row kernel. */
Test(rows_desc, softmax_backward_choice) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const sku_case plain[] = {
        /* (1000 rows: the 16-bit rows of up to 32768 columns keep one packed CTA a row, below) */
        {BRC_BF16, 32768, "bespoke:softmax<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,bwd>@sm_90"},
        {BRC_BF16, 131072, "bespoke:softmax<bf16,cols=131072,vec=8,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90"},
        {BRC_F32, 131072, "bespoke:softmax<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=16,passes=1,owned,smem_stages=3,split_barrier,pair_loads,shared_release,bwd>@sm_90"},
        {BRC_F32, 65536, "bespoke:softmax<f32,cols=65536,vec=4,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90"},
        {BRC_BF16, 4096, "bespoke:softmax<bf16,cols=4096,vec=8,tpr=256,rpb=1,cluster=1,passes=1,bwd>@sm_90"},
        {BRC_F32, 32768, "bespoke:softmax<f32,cols=32768,vec=4,tpr=256,rpb=1,cluster=8,passes=1,bwd>@sm_90"},
    };
    expect_skus(ctx, plain, sizeof plain / sizeof plain[0], make_softmax_bwd);
    /* 16-bit rows of 16385-32768 columns: owned columns from 2048 rows (rows.c, smx_own). */
    static const rows_case by_rows[] = {
        {make_softmax_bwd, BRC_BF16, 2047, 32768, "bespoke:softmax<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,bwd>@sm_90", false},
        {make_softmax_bwd, BRC_BF16, 2048, 32768, "bespoke:softmax<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90", true},
        {make_softmax_bwd, BRC_F16, 4000, 24584, "bespoke:softmax<f16,cols=24584,vec=8,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90", true},
        {make_softmax_bwd, BRC_BF16, 64, 131072, "bespoke:softmax<bf16,cols=131072,vec=8,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90", false},
        /* 8193-16384 columns: owned at any rows (bf16 one CTA, f32 clusters of 2); 8192: not. */
        {make_softmax_bwd, BRC_BF16, 64, 16384, "bespoke:softmax<bf16,cols=16384,vec=8,tpr=512,rpb=1,cluster=1,passes=1,owned,smem_stages=3,bwd>@sm_90", false},
        {make_softmax_bwd, BRC_F32, 300, 16384, "bespoke:softmax<f32,cols=16384,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90", false},
        {make_softmax_bwd, BRC_BF16, 4096, 8192, "bespoke:softmax<bf16,cols=8192,vec=8,tpr=512,rpb=1,cluster=1,passes=1,bwd>@sm_90", false},
        {make_softmax_bwd, BRC_F32, 4096, 8192, "bespoke:softmax<f32,cols=8192,vec=4,tpr=512,rpb=1,cluster=1,passes=1,bwd>@sm_90", false},
    };
    /* The row-dependent layout is in the descriptor (rows=2048: 2048 rows or more), which rebuilds it. */
    expect_rows_cases(ctx, by_rows, sizeof by_rows / sizeof by_rows[0]);
    static const sku_case logs[] = {
        {BRC_BF16, 32768, "bespoke:log_softmax<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,bwd>@sm_90"},
        {BRC_BF16, 131072, "bespoke:log_softmax<bf16,cols=131072,vec=8,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,bwd>@sm_90"},
        {BRC_F32, 131072, "bespoke:log_softmax<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=16,passes=1,owned,smem_stages=3,split_barrier,pair_loads,shared_release,bwd>@sm_90"},
    };
    expect_skus(ctx, logs, sizeof logs / sizeof logs[0], make_log_softmax_bwd);
    /* The f32 log_softmax backward of 8193-16384 columns: one 512-thread CTA a row, two an SM, y read in
     * the output pass (late_y); 8192 and 16388 columns and the softmax backward keep their layouts. The
     * 16-bit log_softmax backward of 8192-16384 columns: owned columns, one CTA. */
    static const rows_case more[] = {
        {make_log_softmax_bwd, BRC_F32, 3000, 12000, "bespoke:log_softmax<f32,cols=12000,vec=4,tpr=512,rpb=1,cluster=1,passes=1,2_per_sm,late_y,bwd>@sm_90", false},
        {make_log_softmax_bwd, BRC_F32, 5, 16384, "bespoke:log_softmax<f32,cols=16384,vec=4,tpr=512,rpb=1,cluster=1,passes=1,2_per_sm,late_y,bwd>@sm_90", false},
        {make_log_softmax_bwd, BRC_F32, 4096, 8192, "bespoke:log_softmax<f32,cols=8192,vec=4,tpr=512,rpb=1,cluster=1,passes=1,bwd>@sm_90", false},
        {make_log_softmax_bwd, BRC_F32, 300, 16388, "bespoke:log_softmax<f32,cols=16388,vec=4,tpr=256,rpb=1,cluster=8,passes=1,bwd>@sm_90", false},
        {make_softmax_bwd, BRC_F32, 3000, 12000, "bespoke:softmax<f32,cols=12000,vec=4,tpr=256,rpb=1,cluster=8,passes=1,bwd>@sm_90", false},
        {make_log_softmax_bwd, BRC_BF16, 4096, 8192, "bespoke:log_softmax<bf16,cols=8192,vec=8,tpr=512,rpb=1,cluster=1,passes=1,owned,smem_stages=4,bwd>@sm_90", false},
    };
    expect_rows_cases(ctx, more, sizeof more / sizeof more[0]);
    brc_context_destroy(ctx);
}

static brc_status make_layer_norm(brc_context *ctx, brc_tensor_desc t, brc_plan **p) {
    brc_norm_desc d = {BRC_NORM_LAYER, t, t, 1, 1, 0, t, t, 1e-5};
    return brc_norm_plan(ctx, &d, NULL, p);
}

/* The norm forwards past one CTA's rows (16-bit past 32768 columns, f32 past 32768) take owned
 * columns in clusters with the split barrier (3 stages at least; 16-bit layer_norm with at most 4
 * vectors a thread, its weight and bias held as loaded, and two statistics phases, 4 stages at
 * least; f32 layer_norm one phase). */
Test(rows_desc, norm_forward_choice) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const sku_case cases[] = {
        {BRC_BF16, 32768, "bespoke:layer_norm<bf16,cols=32768,vec=8,tpr=512,rpb=1,cluster=1,passes=1,packed,weight,bias,fwd>@sm_90"},
        {BRC_BF16, 131072, "bespoke:layer_norm<bf16,cols=131072,vec=8,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=6,split_barrier,mean_then_var,pair_loads,shared_release,weight,bias,fwd>@sm_90"},
        {BRC_F32, 100008, "bespoke:layer_norm<f32,cols=100008,vec=4,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=4,split_barrier,shared_release,weight,bias,fwd>@sm_90"},
        {BRC_F32, 131072, "bespoke:layer_norm<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=8,passes=1,owned,smem_stages=3,split_barrier,shared_release,weight,bias,fwd>@sm_90"},
    };
    expect_skus(ctx, cases, sizeof cases / sizeof cases[0], make_layer_norm);
    /* The layer_norm forward in one CTA a row with at most 16 elements a thread loads weight and bias
     * in its output pass (late_weights; rows.c nohold): f32 4096 (and on sm_80); not bf16 4096 (32
     * elements a thread), not with a residual, not rms_norm; the knob nh=0 turns it off. */
    static const sku_case late[] = {
        {BRC_F32, 4096, "bespoke:layer_norm<f32,cols=4096,vec=4,tpr=256,rpb=1,cluster=1,passes=1,late_weights,weight,bias,fwd>@sm_90"},
        {BRC_BF16, 4096, "bespoke:layer_norm<bf16,cols=4096,vec=8,tpr=128,rpb=1,cluster=1,passes=1,weight,bias,fwd>@sm_90"},
    };
    expect_skus(ctx, late, sizeof late / sizeof late[0], make_layer_norm);
    brc_tensor_desc t = tu_mat(BRC_F32, 1000, 4096, 4096);
    brc_norm_desc rd = {BRC_NORM_LAYER, t, t, 1, 1, 1, t, t, 1e-5}, rms = {BRC_NORM_RMS, t, t, 1, 0, 0, t, t, 1e-5};
    brc_plan *p = NULL;
    cr_assert_eq(brc_norm_plan(ctx, &rd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "late_weights") == NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    cr_assert_eq(brc_norm_plan(ctx, &rms, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "late_weights") == NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    setenv("BARACUDA_ROWS_OWN", "nh=0", 1);
    cr_assert_eq(make_layer_norm(ctx, t, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "late_weights") == NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    unsetenv("BARACUDA_ROWS_OWN");
    brc_context_destroy(ctx);
    brc_context *c80 = tu_offline("sm_80");
    cr_assert_eq(make_layer_norm(c80, t, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",late_weights,") != NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    brc_context_destroy(c80);
}

/* Session 16's layouts off sm_90: sm_80 takes the slot partials of the short-row norm backward (every
 * GPU), but neither the f32 forwards of 8192-16384 columns two CTAs an SM nor the f32 log_softmax
 * backward's late y (sm_90 only: compiled for sm_80 the forward spilled); and on sm_90 the measurement
 * knobs pr=0 / rk=0 / ly=0 restore the layouts before. */
Test(rows_desc, session16_layouts_by_arch) {
    tu_fresh_cache();
    brc_context *c80 = tu_offline("sm_80"), *c90 = tu_offline("sm_90");
    static const struct { int kind; int64_t rows, cols; brc_dtype dt; const char *knob, *sm80, *sm90; } cases[] = {
        {0, 4096, 1024, BRC_BF16, "pr=0", "bespoke:layer_norm<bf16,cols=1024,vec=8,tpr=64,rpb=4,cluster=1,passes=1,slot_partials,2_per_sm,weight,bias,bwd>+colsum@sm_80",
         "bespoke:layer_norm<bf16,cols=1024,vec=8,tpr=64,rpb=2,cluster=1,passes=1,weight,bias,bwd>+colsum@sm_90"},
        {1, 3000, 12000, BRC_F32, "rk=0", "bespoke:softmax<f32,cols=12000,vec=4,tpr=1024,rpb=1,cluster=1,passes=1,fwd>@sm_80",
         "bespoke:softmax<f32,cols=12000,vec=4,tpr=512,rpb=1,cluster=2,passes=1,owned,smem_stages=6,split_barrier,shared_release,fwd>@sm_90"},
        {2, 3000, 12000, BRC_F32, "ly=0", "bespoke:log_softmax<f32,cols=12000,vec=4,tpr=1024,rpb=1,cluster=1,passes=1,bwd>@sm_80",
         "bespoke:log_softmax<f32,cols=12000,vec=4,tpr=256,rpb=1,cluster=8,passes=1,bwd>@sm_90"},
    };
    const make_fn makes[3] = {make_layer_norm_bwd, make_softmax, make_log_softmax_bwd};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_rows_sku(c80, makes[cases[i].kind], cases[i].dt, cases[i].rows, cases[i].cols, cases[i].sm80, false);
        setenv("BARACUDA_ROWS_OWN", cases[i].knob, 1);
        expect_rows_sku(c90, makes[cases[i].kind], cases[i].dt, cases[i].rows, cases[i].cols, cases[i].sm90, false);
        unsetenv("BARACUDA_ROWS_OWN");
    }
    brc_context_destroy(c80);
    brc_context_destroy(c90);
}

/* Clusters of 16 CTAs (the non-portable size) for the owned columns, asked for by the measurement
 * knob (cl=16): on sm_90a the f32 rows of 131072 take them (4 vectors a thread, 3 stages,
 * the split barrier; offline, 8 clusters: the workspace holds 8 partial rows a gradient) and the
 * kernels compile (the norm backward and its colsum, the softmax forward: 6 stages of 2 vectors);
 * sm_80 never asks for a cluster. */
Test(rows_desc, cluster16_compiles_on_sm90_only, .timeout = 600) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    setenv("BARACUDA_ROWS_OWN", "cl=16", 1);
    static const char *const archs[] = {"sm_90a", "sm_80"};
    for (int a = 0; a < 2; a++) {
        brc_context *ctx = tu_offline(archs[a]);
        bool sm90 = a == 0;
        brc_tensor_desc t = tu_mat(BRC_F32, 1000, 131072, 131072);
        brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
        brc_softmax_desc s = {BRC_SOFTMAX_PLAIN, t, t};
        brc_plan *p = NULL, *q = NULL;
        cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", archs[a],
                     brc_last_error(), brc_last_jit_log());
        cr_assert_eq(brc_softmax_plan(ctx, &s, NULL, &q), BRC_STATUS_OK, "%s: %s\n%s", archs[a], brc_last_error(),
                     brc_last_jit_log());
        char want[256], wantf[256];
        snprintf(want, sizeof want,
                 "bespoke:layer_norm<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=16,passes=1,owned,smem_stages=3,"
                 "split_barrier,pair_loads,shared_release,weight,bias,bwd>+colsum@%s", archs[a]);
        snprintf(wantf, sizeof wantf,
                 "bespoke:softmax<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=16,passes=1,owned,smem_stages=6,"
                 "split_barrier,shared_release,fwd>@%s", archs[a]);
        if (sm90) {
            cr_expect_str_eq(brc_plan_sku(p), want);
            cr_expect_str_eq(brc_plan_sku(q), wantf);
            cr_expect_eq(brc_plan_workspace_size(p), (size_t)2 * 8 * 131072 * 4, "8 clusters of 16 on 132 SMs");
        } else {
            cr_expect(strstr(brc_plan_sku(p), "cluster=1,") && !strstr(brc_plan_sku(p), ",owned,"), "%s",
                      brc_plan_sku(p));
            cr_expect(strstr(brc_plan_sku(q), "cluster=1,") != NULL, "%s", brc_plan_sku(q));
        }
        cr_log_info("%s: %s; %s", archs[a], brc_plan_sku(p), brc_plan_sku(q));
        tu_round_trip(ctx, p); /* destroys p */
        brc_plan_destroy(q);
        brc_context_destroy(ctx);
    }
    unsetenv("BARACUDA_ROWS_OWN");
}

/* Where the GPU cannot hold a cluster of 16 (the occupancy query says none fits; the knob's fit16=0
 * plays that), the plan falls back at plan time to the layouts of clusters of at most 8: f32 rows of
 * 131072 take the row kernel's two passes (layer_norm: +colred) as before clusters of 16. */
Test(rows_desc, cluster16_falls_back_where_it_cannot_fit) {
    tu_fresh_cache();
    setenv("BARACUDA_ROWS_OWN", "fit16=0", 1);
    brc_context *ctx = tu_offline("sm_90");
    static const sku_case cases[] = {
        {BRC_F32, 131072, "bespoke:layer_norm<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=8,passes=2,weight,bias,bwd>+colred+colsum@sm_90"},
    };
    expect_skus(ctx, cases, sizeof cases / sizeof cases[0], make_layer_norm_bwd);
    static const sku_case rms[] = {
        {BRC_F32, 131072, "bespoke:rms_norm<f32,cols=131072,vec=4,tpr=512,rpb=1,cluster=8,passes=2,weight,bwd>+colsum@sm_90"},
    };
    expect_skus(ctx, rms, sizeof rms / sizeof rms[0], make_rms_norm_bwd);
    unsetenv("BARACUDA_ROWS_OWN");
    brc_context_destroy(ctx);
}
