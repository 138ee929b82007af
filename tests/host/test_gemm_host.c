/* GEMM family without a GPU: plans made through the API (cuBLASLt and GEMV paths, every storage
 * order, batches, epilogues) in offline sm_80 / sm_90 contexts give descriptors that rebuild the
 * same plan (the GEMV kernels compile for both); each validation rule of gemm.h gives its status
 * and names the problem; bad descriptors name the column; the stored-algorithm table round-trips
 * and deletes a damaged row; and a missing cuBLASLt is a status with the sonames tried. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static brc_tensor_desc mat(brc_dtype t, int64_t r, int64_t c, bool col) {
    brc_tensor_desc d = tu_mat(t, r, c, col ? 1 : c);
    if (col) d.strides[0] = 1, d.strides[1] = r;
    return d;
}

/* D = A B with A [M, K], B = W^T (W [N, K] row-major), D row-major: F.linear. */
static brc_gemm_desc linear(brc_dtype t, int64_t M, int64_t N, int64_t K) {
    brc_gemm_desc g = BRC_GEMM_DESC_INIT;
    g.a = mat(t, M, K, false);
    g.b = mat(t, N, K, false);
    g.trans_b = 1;
    g.d = mat(t, M, N, false);
    return g;
}

static brc_plan *plan_ok(brc_context *ctx, const brc_gemm_desc *g, int backend) {
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.backend = (brc_backend)backend;
    brc_plan *p = NULL;
    brc_status st = brc_gemm_plan(ctx, g, &prefs, &p);
    cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
    return p;
}

static void expect(brc_context *ctx, const brc_gemm_desc *g, int backend, brc_status want, const char *needle) {
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.backend = (brc_backend)backend;
    brc_plan *p = (brc_plan *)1;
    brc_status st = brc_gemm_plan(ctx, g, &prefs, &p);
    tu_expect_fail(st, want, needle, p);
}

Test(gemm_desc, api_plans_round_trip) {
    tu_fresh_cache();
    const char *archs[] = {"sm_80", "sm_90"};
    for (int a = 0; a < 2; a++) {
        brc_context *ctx = tu_offline(archs[a]);
        /* cuBLASLt: F.linear, column-major everything, a batch with a shared B, epilogues. */
        brc_gemm_desc g = linear(BRC_BF16, 1000, 33, 7);
        brc_plan *p = plan_ok(ctx, &g, 0);
        cr_assert(strstr(brc_plan_sku(p), "library:cublaslt<bf16,tn"), "%s", brc_plan_sku(p));
        cr_assert(strstr(brc_plan_descriptor(p), "m=33,n=1000,k=7"), "%s", brc_plan_descriptor(p));
        tu_round_trip(ctx, p);

        brc_gemm_desc c = BRC_GEMM_DESC_INIT;
        c.a = mat(BRC_F32, 7, 33, true), c.b = mat(BRC_F32, 33, 5, true), c.d = mat(BRC_F32, 7, 5, true);
        p = plan_ok(ctx, &c, 0);
        cr_assert(strstr(brc_plan_descriptor(p), "ta=n,tb=n,m=7,n=5,k=33"), "%s", brc_plan_descriptor(p));
        tu_round_trip(ctx, p);

        brc_gemm_desc b = linear(BRC_F16, 64, 128, 256);
        b.d.rank = 3, b.d.shape[2] = b.d.shape[1], b.d.shape[1] = b.d.shape[0], b.d.shape[0] = 3;
        b.d.strides[2] = 1, b.d.strides[1] = 128, b.d.strides[0] = 64 * 128;
        b.a.rank = 3, b.a.shape[2] = 256, b.a.shape[1] = 64, b.a.shape[0] = 3;
        b.a.strides[2] = 1, b.a.strides[1] = 256, b.a.strides[0] = 64 * 256;
        b.act = BRC_GEMM_ACT_GELU_TANH, b.use_bias = 1;
        int64_t n = 128;
        brc_tensor_desc_contiguous(&b.bias, BRC_F16, 1, &n);
        b.use_aux = 1, b.aux = b.d;
        p = plan_ok(ctx, &b, 0);
        cr_assert(strstr(brc_plan_descriptor(p), "batch=3,act=gelu_tanh,bias=f16,aux=1"), "%s", brc_plan_descriptor(p));
        tu_round_trip(ctx, p);

        /* erf gelu: the matmul plus a bespoke pass, named in the SKU. */
        brc_gemm_desc e = linear(BRC_F32, 16, 64, 48);
        e.act = BRC_GEMM_ACT_GELU;
        p = plan_ok(ctx, &e, 0);
        cr_assert(strstr(brc_plan_sku(p), "+bespoke:gelu_erf"), "%s", brc_plan_sku(p));
        tu_round_trip(ctx, p);

        /* GEMV: chosen for decode shapes by default, forced at odd K, with its epilogue. */
        brc_gemm_desc v = linear(BRC_BF16, 4, 4096, 4096);
        p = plan_ok(ctx, &v, 0);
        cr_assert(strstr(brc_plan_sku(p), "bespoke:gemv<bf16,m=4,vec=8"), "%s", brc_plan_sku(p));
        tu_round_trip(ctx, p);
        brc_gemm_desc w = linear(BRC_F32, 3, 333, 1001);
        w.act = BRC_GEMM_ACT_RELU, w.use_bias = 1;
        n = 333;
        brc_tensor_desc_contiguous(&w.bias, BRC_F32, 1, &n);
        p = plan_ok(ctx, &w, BRC_BACKEND_BESPOKE);
        cr_assert(strstr(brc_plan_sku(p), "vec=1"), "%s", brc_plan_sku(p));
        tu_round_trip(ctx, p);
        /* Halves take the tensor-core GEMV up to M = 16 (two mma n-tiles); M > 16, an f32 M > 8 or
         * BRC_BACKEND_LIBRARY: cuBLASLt. */
        brc_gemm_desc h = linear(BRC_BF16, 16, 4096, 4096);
        p = plan_ok(ctx, &h, 0);
        cr_assert(strstr(brc_plan_sku(p), "bespoke:gemv<bf16,m=16,vec=8,mma"), "%s", brc_plan_sku(p));
        tu_round_trip(ctx, p);
        /* Warps a block: the most whose blocks all fit at once (an offline context assumes 132 SMs);
         * three chunks in flight for blocks of one or two warps with one n-tile; the tensor-core
         * kernel from M = 2 on where W has 8192 rows or more, from M = 1 below. */
        static const struct { int64_t m, n; const char *warps; } ks[] = {
            {8, 4096, "warps=8,u=2"}, {8, 14336, "warps=2,u=3"}, {4, 30000, "warps=1,u=3"},
            {16, 14336, "warps=2,u=2"}, {2, 14336, "mma,rows=16,warps=2,u=3"}, {1, 14336, ",fma,"},
            {1, 4096, "mma,rows=16,warps=8"}};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            brc_gemm_desc t = linear(BRC_BF16, ks[i].m, ks[i].n, 4096);
            p = plan_ok(ctx, &t, 0);
            cr_assert(strstr(brc_plan_sku(p), ks[i].warps), "%s", brc_plan_sku(p));
            brc_plan_destroy(p);
        }
        brc_gemm_desc l = linear(BRC_BF16, 17, 4096, 4096);
        p = plan_ok(ctx, &l, 0);
        cr_assert(strstr(brc_plan_sku(p), "cublaslt"), "%s", brc_plan_sku(p));
        brc_plan_destroy(p);
        brc_gemm_desc f = linear(BRC_F32, 9, 4096, 4096);
        p = plan_ok(ctx, &f, 0);
        cr_assert(strstr(brc_plan_sku(p), "cublaslt"), "%s", brc_plan_sku(p));
        brc_plan_destroy(p);
        expect(ctx, &f, BRC_BACKEND_BESPOKE, BRC_STATUS_UNSUPPORTED, "M <= 8 (16 for halves");
        p = plan_ok(ctx, &v, BRC_BACKEND_LIBRARY);
        cr_assert(strstr(brc_plan_sku(p), "cublaslt"), "%s", brc_plan_sku(p));
        brc_plan_destroy(p);
        brc_context_destroy(ctx);
    }
}


Test(gemm_rules, bad_operands_are_named) {
    brc_context *ctx = tu_offline("sm_90");
    brc_gemm_desc g = linear(BRC_F32, 8, 16, 32);
    g.b.shape[1] = 31;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "do not chain");
    g = linear(BRC_F32, 8, 16, 32);
    g.a.strides[1] = 2;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "unit stride");
    g = linear(BRC_F32, 8, 16, 32);
    g.d.rank = 1;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "rank 1");
    g = linear(BRC_F16, 8, 16, 32);
    g.b.dtype = BRC_BF16;
    expect(ctx, &g, 0, BRC_STATUS_UNSUPPORTED, "not a supported combination");
    g = linear(BRC_I8, 8, 16, 32);
    expect(ctx, &g, 0, BRC_STATUS_UNSUPPORTED, "i8 -> i32"); /* D must be i32 */
    g = linear(BRC_F32, 8, 16, 32);
    g.act = (brc_gemm_act)9;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_act");
    g = linear(BRC_F32, 8, 16, 32);
    g.struct_size = 16;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "struct_size");
    g = linear(BRC_F32, 8, 16, 32);
    g.use_aux = 1, g.aux = g.d;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "needs an activation");
    g.act = BRC_GEMM_ACT_GELU, g.aux.strides[0] = 17;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "multiple of 8");
    g = linear(BRC_F32, 8, 16, 32);
    g.use_c = 1, g.c = mat(BRC_F32, 8, 16, true);
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "D's order");
    g = linear(BRC_F32, 8, 16, 32);
    g.d = mat(BRC_F32, 8, 16, true), g.use_bias = 1;
    int64_t n = 16;
    brc_tensor_desc_contiguous(&g.bias, BRC_F32, 1, &n);
    expect(ctx, &g, 0, BRC_STATUS_UNSUPPORTED, "row-major D");
    g = linear(BRC_F32, 8, 16, 32);
    g.use_bias = 1;
    n = 15;
    brc_tensor_desc_contiguous(&g.bias, BRC_F32, 1, &n);
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "bias must be [N]");
    g = linear(BRC_BF16, 33, 256, 128);
    g.use_bias = 1;
    n = 256;
    brc_tensor_desc_contiguous(&g.bias, BRC_F32, 1, &n);
    expect(ctx, &g, 0, BRC_STATUS_UNSUPPORTED, "no f32 bias");
    g = linear(BRC_F32, 16, 4096, 4096);
    expect(ctx, &g, BRC_BACKEND_BESPOKE, BRC_STATUS_UNSUPPORTED, "bespoke GEMV");
    g = linear(BRC_F32, 8, 16, 32);
    g.a.rank = 3, g.a.shape[2] = 32, g.a.shape[1] = 8, g.a.shape[0] = 2, g.a.strides[2] = 1, g.a.strides[1] = 32,
    g.a.strides[0] = 256;
    g.d.rank = 3, g.d.shape[2] = 16, g.d.shape[1] = 8, g.d.shape[0] = 3, g.d.strides[2] = 1, g.d.strides[1] = 16,
    g.d.strides[0] = 128;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "batch 2, D has 3");
    g.a.shape[0] = 3, g.d.strides[0] = 8;
    expect(ctx, &g, 0, BRC_STATUS_INVALID_ARGUMENT, "overlap");
    g = linear(BRC_FP8E4M3, 8, 16, 32);
    g.d.dtype = BRC_FP8E4M3, g.act = BRC_GEMM_ACT_GELU;
    expect(ctx, &g, 0, BRC_STATUS_UNSUPPORTED, "erf gelu");
    brc_context_destroy(ctx);
    brc_context *old = tu_offline("sm_80");
    g = linear(BRC_FP8E4M3, 8, 16, 32);
    g.d.dtype = BRC_BF16;
    expect(old, &g, 0, BRC_STATUS_UNSUPPORTED, "sm_89");
    brc_context_destroy(old);
}

Test(gemm_desc, bad_descriptors_name_the_column) {
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"gemm(a=bf16,b=bf16,d=bf16,n=4,k=4)", BRC_STATUS_INVALID_ARGUMENT, "'m'"},
        {"gemm(a=bf16,b=bf16,d=bf16,m=4,n=4,k=4,ta=x)", BRC_STATUS_INVALID_ARGUMENT, "ta"},
        {"gemm(a=bf16,b=bf16,d=bf16,m=4,n=4,k=4,colour=red)", BRC_STATUS_INVALID_ARGUMENT, "colour"},
        {"gemm(a=bf16,b=f16,d=bf16,m=4,n=4,k=4)", BRC_STATUS_UNSUPPORTED, "combination"},
        {"gemm(a=bf16,b=bf16,d=bf16,m=4,n=4,k=4,path=gemv)", BRC_STATUS_UNSUPPORTED, "GEMV"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

Test(gemm_desc, missing_cublaslt_is_a_status) {
    setenv("BARACUDA_FAKE_NO_CUBLASLT", "1", 1);
    brc_context *ctx = tu_offline("sm_90");
    brc_gemm_desc g = linear(BRC_BF16, 64, 64, 64);
    expect(ctx, &g, 0, BRC_STATUS_LIBRARY_NOT_FOUND, "cuBLASLt not found (tried libcublasLt");
    /* The GEMV needs no cuBLASLt. */
    brc_gemm_desc v = linear(BRC_BF16, 2, 512, 512);
    brc_plan *p = plan_ok(ctx, &v, 0);
    cr_assert(strstr(brc_plan_sku(p), "gemv"));
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The stored-algorithm table: a row comes back as stored, a damaged one is deleted and missed. */
Test(gemm_store, algorithm_rows_round_trip) {
    const char *dir = tu_fresh_cache();
    brc__hash128 k1 = {1, 2}, k2 = {3, 4};
    unsigned char algo[64];
    for (int i = 0; i < 64; i++) algo[i] = (unsigned char)(i * 7 + 1);
    brc__algo_insert(k1, "gemm(test)", "dev", algo, sizeof algo, 4096, true);
    brc__algo_row row;
    cr_assert(brc__algo_lookup(k1, &row));
    cr_assert_eq(row.algo_size, 64);
    cr_assert_eq(memcmp(row.algo, algo, 64), 0);
    cr_assert_eq(row.workspace, 4096);
    cr_assert(row.tuned);
    cr_assert(!brc__algo_lookup(k2, &row));
    /* Replacing a choice keeps one row. */
    algo[0] ^= 0xff;
    brc__algo_insert(k1, "gemm(test)", "dev", algo, sizeof algo, 0, false);
    cr_assert(brc__algo_lookup(k1, &row));
    cr_assert_eq(row.algo[0], algo[0]);
    cr_assert(!row.tuned);
    char path[4200];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "UPDATE gemm_algos SET workspace = 1", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_changes(db), 1);
    brc_jit_stats before, after;
    brc_jit_stats_get(&before);
    cr_assert(!brc__algo_lookup(k1, &row), "a row with a wrong checksum was used");
    brc_jit_stats_get(&after);
    cr_assert_eq(after.bad_rows, before.bad_rows + 1);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM gemm_algos", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(s, 0), 0, "the damaged row was not deleted");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* bench/bench_gemm.py mirrors these layouts in ctypes. */
Test(gemm_desc, struct_layouts_match_the_benchmark) {
    cr_assert_eq(sizeof(brc_gemm_desc), 856);
    cr_assert_eq(offsetof(brc_gemm_desc, c), 432);
    cr_assert_eq(offsetof(brc_gemm_desc, bias), 576);
    cr_assert_eq(offsetof(brc_gemm_desc, aux), 720);
    cr_assert_eq(sizeof(brc_gemm_args), 120);
    cr_assert_eq(sizeof(brc_plan_prefs), 40);
}
