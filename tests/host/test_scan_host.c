/* Scan family without a GPU: every op x direction x layout variant (rows, rows split, cols, cols
 * split; forward and reverse) compiles for sm_80 and sm_90 (offline contexts) from its canonical
 * descriptor and gives that descriptor back; plans made through the API pick the layout their
 * strides call for and rebuild from their descriptors; and the validation rules of scan.h each
 * give their status and name the operand. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct job {
    int sm;
    brc_dtype dt;
} job;

ParameterizedTestParameters(scan_compile, every_op_and_layout) {
    static job jobs[] = {{80, BRC_BF16}, {80, BRC_F64}, {90, BRC_F32}, {90, BRC_F16}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

static const char *const kinds[] = {"cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"};

/* A few representative variants per op (not a cross product: CI time). Returns their count. */
static int canonical(brc_dtype dt, char out[][160]) {
    const char *d = brc_dtype_name(dt);
    int n = 0;
    for (int k = 0; k < 5; k++)
        for (int dir = 0; dir < 2; dir++) {
            const char *ds = dir ? "bwd" : "fwd";
            snprintf(out[n++], 160, "scan(op=%s,dtype=%s,inner=1,len=4096,reverse=%d,split=0,dir=%s)", kinds[k], d,
                     k & 1, ds);
            snprintf(out[n++], 160, "scan(op=%s,dtype=%s,inner=0,vec=%d,reverse=%d,split=%d,dir=%s)", kinds[k], d,
                     (int)(16 / brc_dtype_size(dt)) >> (k & 1), !(k & 1), dir, ds);
        }
    /* The split rows path and a narrow row (a warp per row, several rows per CTA). */
    snprintf(out[n++], 160, "scan(op=cumsum,dtype=%s,inner=1,len=16777216,reverse=0,split=1,dir=fwd)", d);
    snprintf(out[n++], 160, "scan(op=cummax,dtype=%s,inner=1,len=16777216,reverse=1,split=1,dir=bwd)", d);
    snprintf(out[n++], 160, "scan(op=logcumsumexp,dtype=%s,inner=1,len=33,reverse=0,split=0,dir=fwd)", d);
    /* The one-pass split rows (split=2): one op a dtype (CI time). */
    static const char *const one[] = {"cumsum", "cummax", "logcumsumexp", "cumprod"};
    int o = dt == BRC_F32 ? 2 : dt == BRC_F64 ? 1 : dt == BRC_BF16 ? 0 : 3;
    if (dt == BRC_BF16)
        snprintf(out[n++], 160, "scan(op=cumsum,dtype=bf16,inner=1,len=16777216,reverse=0,split=2,dir=fwd)");
    else
        snprintf(out[n++], 160, "scan(op=%s,dtype=%s,inner=1,len=16777217,vec=1,reverse=%d,split=2,dir=%s)", one[o], d,
                 o & 1, o == 1 ? "bwd" : "fwd");
    /* The one-pass split columns (split=2, inner=0): one op a dtype, 8-byte vectors but f64's. */
    static const char *const onec[] = {"cumsum", "cummax", "cumprod", "logcumsumexp"};
    int oc = dt == BRC_F32 ? 0 : dt == BRC_BF16 ? 1 : dt == BRC_F64 ? 2 : 3;
    snprintf(out[n++], 160, "scan(op=%s,dtype=%s,inner=0,vec=%d,reverse=%d,split=2,dir=%s)", onec[oc], d,
             (int)(8 / brc_dtype_size(dt)) > 1 ? (int)(8 / brc_dtype_size(dt)) : 2, oc & 1, oc == 2 ? "bwd" : "fwd");
    /* f32 cummax rows of 128 threads (tmax=128: chosen for many long lines). */
    if (dt == BRC_F32) snprintf(out[n++], 160, "scan(op=cummax,dtype=f32,inner=1,len=32768,tmax=128,reverse=0,split=0,dir=fwd)");
    return n;
}

ParameterizedTest(job *j, scan_compile, every_op_and_layout, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    char descs[32][160];
    int n = canonical(j->dt, descs), kernels = 0;
    for (int i = 0; i < n; i++) {
        brc_plan *p = NULL;
        bool onepass = strstr(descs[i], "split=2") != NULL;
        brc_status s = brc__plan_from_descriptor(ctx, descs[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", descs[i], arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), descs[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:scan<") == sku && strstr(sku, arch), "sku %s", sku);
        bool split = strstr(descs[i], "split=1") != NULL;
        cr_expect_eq(strstr(sku, "+split") != NULL, split, "%s", sku);
        cr_expect_eq(strstr(sku, "+onepass") != NULL, onepass, "%s", sku);
        cr_expect_eq(strstr(sku, ",rows,") != NULL, strstr(descs[i], "inner=1") != NULL, "%s", sku);
        cr_expect_eq(brc_plan_workspace_size(p) > 0, split || onepass, "%s: workspace %zu", descs[i],
                     brc_plan_workspace_size(p));
        /* Split rows of f32 cumsum forward and of f32 / 16-bit cumprod forward fold their carry by
         * one ordered reduction in the final pass (+fold), f32 cumsum backward by block scans
         * (+fused): two kernels; other splits run three. On sm_90 the final pass of the +fold
         * plans and of 16-bit cumsum forward is the pass before's programmatic dependent (+pdl). */
        bool rowsplit = split && strstr(descs[i], "inner=1") != NULL, fwd = strstr(descs[i], "dir=fwd") != NULL;
        bool fold = rowsplit && fwd &&
                    ((strstr(descs[i], "op=cumsum,") && j->dt == BRC_F32) || (strstr(descs[i], "op=cumprod,") && j->dt != BRC_F64));
        bool fused = rowsplit && !fold && strstr(descs[i], "op=cumsum,") && j->dt == BRC_F32;
        kernels += split ? (fused || fold ? 2 : 3) : 1; /* one pass: one kernel (and a memset) */
        cr_expect_eq(strstr(sku, "+fused") != NULL, fused, "%s", sku);
        cr_expect_eq(strstr(sku, "+fold") != NULL, fold, "%s", sku);
        bool sum16 = rowsplit && fwd && strstr(descs[i], "op=cumsum,") && brc_dtype_size(j->dt) == 2;
        cr_expect_eq(strstr(sku, "+pdl") != NULL, (fold || sum16) && j->sm >= 90, "%s", sku);
        /* cumprod forward rows of 16-bit data: float-float thread runs (,ff) */
        cr_expect_eq(strstr(sku, ",ff") != NULL,
                     strstr(descs[i], "op=cumprod,") && fwd && strstr(descs[i], "inner=1") && brc_dtype_size(j->dt) == 2,
                     "%s", sku);
        /* logcumsumexp forward in f32 compute: the MUFU exp / log (,lg2) */
        cr_expect_eq(strstr(sku, ",lg2") != NULL, strstr(descs[i], "op=logcumsumexp,") && fwd && j->dt != BRC_F64, "%s", sku);
        if (strstr(descs[i], "op=cummax") && strstr(descs[i], "inner=1") && strstr(descs[i], "dir=fwd"))
            cr_expect(strstr(sku, ",kdirect") != NULL, "%s", sku);
        if (strstr(descs[i], "tmax=128")) cr_expect(strstr(sku, ",tpr=128,") != NULL, "%s -> %s", descs[i], sku);
        cr_log_info("%s -> %s", descs[i], sku);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, (uint64_t)kernels, "every kernel was a real compile");
    cr_log_info("%s %s: %d kernels, %.0f ms", arch, brc_dtype_name(j->dt), kernels, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API --------------------------------------------------------------------- */

Test(scan_desc, api_plans_pick_the_layout_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    /* Last dim, contiguous: rows, 16-byte vectors, 4 a thread: a CTA of 128 threads per row. */
    brc_tensor_desc x = tu_mat(BRC_BF16, 32768, 4096, 4096), xi = tu_mat(BRC_I64, 32768, 4096, 4096);
    brc_scan_desc d = {BRC_SCAN_CUMSUM, x, x, -1, 0, xi};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "scan(op=cumsum,dtype=bf16,inner=1,len=4096,reverse=0,split=0,dir=fwd)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:scan<cumsum,bf16,rows,vec=8,tpr=128,rpb=1,nv=4,minb=8,fwd>@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    tu_round_trip(ctx, p);
    /* dim 0 of the same tensor: cols, split in one pass (4096 lines do not fill the GPU): 8-byte
     * vectors for 16-bit data, 16 positions a warp; 32 column groups of 128 lines x 256 chunks of
     * 128 positions (chunk groups of 16). Workspace: 256 bytes of ticket, the flags of 32 x (256 +
     * 16) slots (34816 bytes), 128 f32 states a slot. */
    d.dim = 0;
    d.reverse = 1;
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "scan(op=cumsum,dtype=bf16,inner=0,vec=4,reverse=1,split=2,dir=fwd)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:scan<cumsum,bf16,cols,vec=4,threads=256,pw=16,reverse,fwd>+onepass@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 256 + 34816 + (size_t)32 * 272 * 128 * 4);
    tu_round_trip(ctx, p);
    /* the three kernels where asked for (BARACUDA_SCAN_ONEPASS=0) */
    setenv("BARACUDA_SCAN_ONEPASS", "0", 1);
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_SCAN_ONEPASS");
    cr_expect_str_eq(brc_plan_descriptor(p), "scan(op=cumsum,dtype=bf16,inner=0,vec=8,reverse=1,split=1,dir=fwd)");
    cr_expect(strstr(brc_plan_sku(p), ",cols,vec=8,") && strstr(brc_plan_sku(p), "+split"), "%s", brc_plan_sku(p));
    cr_expect(brc_plan_workspace_size(p) > 0);
    tu_round_trip(ctx, p);
    /* One very long row: rows, split over CTAs in one pass (look-back through the workspace). */
    int64_t n1[1] = {(int64_t)1 << 24};
    brc_tensor_desc l;
    brc_tensor_desc_contiguous(&l, BRC_F32, 1, n1);
    d = (brc_scan_desc){BRC_SCAN_LOGCUMSUMEXP, l, l, 0, 0, l};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p),
                     "scan(op=logcumsumexp,dtype=f32,inner=1,len=16777216,reverse=0,split=2,dir=fwd)");
    cr_expect(strstr(brc_plan_sku(p), "+onepass@") != NULL, "%s", brc_plan_sku(p));
    cr_expect(brc_plan_workspace_size(p) >= 256, "%zu", brc_plan_workspace_size(p));
    tu_round_trip(ctx, p);
    /* An odd row stride narrows the vector; the descriptor says so. */
    brc_scan_backward_desc b = {BRC_SCAN_CUMMAX, {0}, {0}, tu_mat(BRC_I64, 3, 1000, 1000), tu_mat(BRC_F32, 3, 1000, 1001),
                                tu_mat(BRC_F32, 3, 1000, 1000), 1, 0};
    cr_assert_eq(brc_scan_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "scan(op=cummax,dtype=f32,inner=1,len=1000,vec=1,reverse=0,split=0,dir=bwd)");
    tu_round_trip(ctx, p);
    /* Many long f32 / bf16 cummax rows: 128 threads a row (tmax=128 in the descriptor); fewer
     * lines, rows of one tile or f64: the 512-thread cap. Split logcumsumexp rows: 2 slabs at once. */
    brc_tensor_desc cx = tu_mat(BRC_F32, 8192, 32768, 32768), ci = tu_mat(BRC_I64, 8192, 32768, 32768);
    d = (brc_scan_desc){BRC_SCAN_CUMMAX, cx, cx, -1, 0, ci};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "scan(op=cummax,dtype=f32,inner=1,len=32768,tmax=128,reverse=0,split=0,dir=fwd)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:scan<cummax,f32,rows,vec=4,tpr=128,rpb=1,nv=4,kdirect,fwd>@sm_90");
    tu_round_trip(ctx, p);
    d.kind = BRC_SCAN_CUMMIN;
    d.x = d.y = cx = tu_mat(BRC_F32, 1000, 32768, 32768);
    d.index = tu_mat(BRC_I64, 1000, 32768, 32768);
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",tpr=512,") && !strstr(brc_plan_descriptor(p), "tmax"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    d.x = d.y = tu_mat(BRC_BF16, 8192, 32768, 32768); /* scanred8: bf16 too (one tile: 16384) */
    d.index = ci;
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "scan(op=cummin,dtype=bf16,inner=1,len=32768,tmax=128,reverse=0,split=0,dir=fwd)");
    cr_expect(strstr(brc_plan_sku(p), ",tpr=128,") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    d.x = d.y = tu_mat(BRC_BF16, 8192, 16384, 16384); /* one tile of 512 threads: no */
    d.index = tu_mat(BRC_I64, 8192, 16384, 16384);
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(!strstr(brc_plan_descriptor(p), "tmax"), "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    d.x = d.y = tu_mat(BRC_F64, 8192, 32768, 32768); /* f64: not measured, no */
    d.index = ci;
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(!strstr(brc_plan_descriptor(p), "tmax"), "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    d = (brc_scan_desc){BRC_SCAN_LOGCUMSUMEXP, l, l, 0, 0, l};
    setenv("BARACUDA_SCAN_ONEPASS", "0", 1); /* the three-kernel split */
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_SCAN_ONEPASS");
    cr_expect(strstr(brc_plan_sku(p), ",tpr=256,rpb=1,nv=2,lg2,fwd>+split@") != NULL, "%s", brc_plan_sku(p));
    cr_expect(strstr(brc_plan_descriptor(p), ",split=1,") != NULL, "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    /* cumsum of the same row: three kernels (measured faster than the one pass); one pass when
     * asked (BARACUDA_SCAN_ONEPASS=1), except for rows too long for its look-back (a lane would
     * fold more than 32 group totals). */
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, l, l, 0, 0, l};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",minb=4,l2h=2,fwd>+split+fold+lite+pdl@") != NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    /* cumprod of that row (scan10): the fold, the reduce pass loading 4 slabs at once, PDL */
    d = (brc_scan_desc){BRC_SCAN_CUMPROD, l, l, 0, 0, l};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",nv=2,minb=4,rnv=4,fwd>+split+fold+lite+pdl@") != NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    setenv("BARACUDA_SCAN_ONEPASS", "1", 1);
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "+onepass@") != NULL, "%s", brc_plan_sku(p));
    cr_expect(strstr(brc_plan_descriptor(p), ",split=2,") != NULL, "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    /* The GPU test's one-pass line (2^24 + 17: vec = 1) fits every op. */
    int64_t n17[1] = {((int64_t)1 << 24) + 17};
    brc_tensor_desc_contiguous(&l, BRC_F32, 1, n17);
    brc_tensor_desc l17i;
    brc_tensor_desc_contiguous(&l17i, BRC_I64, 1, n17);
    for (int k = 0; k < 5; k++) {
        d = (brc_scan_desc){(brc_scan_kind)k, l, l, 0, 1, l17i};
        cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_sku(p), "+onepass@") != NULL, "%s", brc_plan_sku(p));
        cr_expect(strstr(brc_plan_sku(p), ",tpr=512,") != NULL, "%s", brc_plan_sku(p));
        brc_plan_destroy(p);
    }
    int64_t n30[1] = {(int64_t)1 << 30};
    brc_tensor_desc_contiguous(&l, BRC_F32, 1, n30);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, l, l, 0, 0, l};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_SCAN_ONEPASS");
    cr_expect(strstr(brc_plan_sku(p), "+split") != NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    /* A middle dim whose inner dims merge: [8, 300, 5, 7] scanned along dim 1 is cols. */
    int64_t s4[4] = {8, 300, 5, 7};
    brc_tensor_desc m;
    brc_tensor_desc_contiguous(&m, BRC_F64, 4, s4);
    d = (brc_scan_desc){BRC_SCAN_CUMPROD, m, m, -3, 0, m};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",cols,vec=1,") != NULL, "35 lines of f64: no pairs (%s)", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    /* The same along dim -2 of [8, 300, 6]: 6 contiguous lines, pairs of f64. */
    int64_t s3[3] = {8, 300, 6};
    brc_tensor_desc_contiguous(&m, BRC_F64, 3, s3);
    d = (brc_scan_desc){BRC_SCAN_CUMPROD, m, m, -2, 0, m};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",cols,vec=2,") != NULL, "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p);
    brc_context_destroy(ctx);
}

Test(scan_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"scan(dtype=f32,len=8)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'op' key"},
        {"scan(op=cumsum,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'len' key"},
        {"scan(op=cumsum,dtype=f32,inner=0,len=8)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'len'"},
        {"scan(op=cumavg,dtype=f32,len=8)", BRC_STATUS_INVALID_ARGUMENT, "one of cumsum"},
        {"scan(op=cumsum,dtype=i32,len=8)", BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported"},
        {"scan(op=cumsum,dtype=f32,len=8,reverse=2)", BRC_STATUS_INVALID_ARGUMENT, "reverse"},
        {"scan(op=cumsum,dtype=f32,len=12,vec=8)", BRC_STATUS_INVALID_ARGUMENT, "vector_width 8"},
        {"scan(op=cumsum,dtype=f32,len=4096,split=1,dir=up)", BRC_STATUS_INVALID_ARGUMENT, "one of fwd, bwd"},
        {"scan(op=cumsum,dtype=f32,len=9000,tmax=128)", BRC_STATUS_INVALID_ARGUMENT, "cummax / cummin forward only"},
        {"scan(op=cummax,dtype=f64,len=9000,tmax=128)", BRC_STATUS_INVALID_ARGUMENT, "cummax / cummin forward only"},
        {"scan(op=cummax,dtype=f32,len=9000,tmax=64)", BRC_STATUS_INVALID_ARGUMENT, "outside [128, 128]"},
        {"scan(op=cummax,dtype=f32,inner=0,vec=4,tmax=128)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'tmax'"},
        {"scan(op=cummax,dtype=bf16,inner=0,vec=8,reverse=0,split=2,dir=bwd)", BRC_STATUS_INVALID_ARGUMENT,
         "too wide for the columns' one pass of cummax (at most 4)"},
        {"scan(op=cumsum,dtype=f32,len=4096,split=3)", BRC_STATUS_INVALID_ARGUMENT, "split"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ---------------------------------------------------------------------------------- */

Test(scan_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    brc_tensor_desc g = tu_mat(BRC_F32, 4, 64, 64), gi = tu_mat(BRC_I64, 4, 64, 64);

    tu_expect_fail(brc_scan_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_scan_desc d = {(brc_scan_kind)9, g, g, -1, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 9 is not a scan kind", p);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, g, 2, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim 2 is out of range for rank 2", p);
    d.dim = -3;
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim -3 is out of range", p);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, g, 0, 3, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "reverse = 3", p);
    brc_tensor_desc s0;
    brc_tensor_desc_contiguous(&s0, BRC_F32, 0, NULL);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, s0, s0, 0, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x: rank 0", p);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, tu_mat(BRC_I32, 4, 64, 64), tu_mat(BRC_I32, 4, 64, 64), 0, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32", p);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, tu_mat(BRC_F16, 4, 64, 64), 0, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f16, f32 expected", p);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, tu_mat(BRC_F32, 4, 65, 65), 0, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y and x differ in shape", p);
    d = (brc_scan_desc){BRC_SCAN_CUMMAX, g, g, 0, 0, g};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has dtype f32, i64 expected", p);
    d = (brc_scan_desc){BRC_SCAN_CUMMAX, g, g, 0, 0, tu_mat(BRC_I64, 4, 64, 32)};
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has strides under which", p);
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, g, 0, 0, gi};
    d.y.strides[0] = 0;
    tu_expect_fail(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has strides under which", p);
    /* A broadcast input is fine. */
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, g, 1, 0, gi};
    d.x.strides[0] = 0;
    cr_expect_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    d = (brc_scan_desc){BRC_SCAN_CUMSUM, g, g, 1, 0, gi};
    tu_expect_fail(brc_scan_plan(ctx, &d, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 3", p);
    pr.vector_width = 4;
    d.x.strides[0] = 66;
    tu_expect_fail(brc_scan_plan(ctx, &d, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "does not divide the stride 66 of x", p);

    /* Backward: each op checks the operands it reads, and only those. */
    brc_scan_backward_desc b = {BRC_SCAN_CUMPROD, g, tu_mat(BRC_F32, 4, 63, 63), {0}, g, g, -1, 0};
    tu_expect_fail(brc_scan_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y and dy differ in shape", p);
    b = (brc_scan_backward_desc){BRC_SCAN_CUMMIN, {0}, {0}, g, g, g, -1, 0};
    tu_expect_fail(brc_scan_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "index has dtype f32", p);
    b = (brc_scan_backward_desc){BRC_SCAN_CUMSUM, {0}, {0}, {0}, g, g, -1, 0};
    cr_expect_eq(brc_scan_backward_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "cumsum reads only dy: %s", brc_last_error());

    /* Offline plans refuse to run; a plan of the other direction is refused. */
    cr_expect_eq(brc_scan_backward_run(p, NULL, NULL, NULL, (void *)256, (void *)256, NULL, 0, NULL),
                 BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_scan_run(p, (void *)256, (void *)256, NULL, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The layouts bench/bench_scan.py mirrors with ctypes. */
Test(scan_desc, struct_layouts_match_the_benchmark) {
    cr_expect_eq(sizeof(brc_scan_desc), 424);
    cr_expect_eq(offsetof(brc_scan_desc, dim), 280);
    cr_expect_eq(offsetof(brc_scan_desc, index), 288);
    cr_expect_eq(sizeof(brc_scan_backward_desc), 696);
    cr_expect_eq(offsetof(brc_scan_backward_desc, dx), 552);
    cr_expect_eq(offsetof(brc_scan_backward_desc, dim), 688);
}
