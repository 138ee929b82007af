/* GPU tests of the channel norm family against float64 host references on random data with
 * large per-channel offsets (so that E[x^2] - mean^2 would fail), poisoned outputs, odd sizes:
 *  - group_norm forward (y, saved mean / rstd) and backward (dx, dweight, dbias against the
 *    analytic gradient) with G in {1, a divisor, C} (C: instance_norm), spatial 1, 7, 33x33, 4097
 *    and round sizes, N in {1, 3}, with and without weight / bias, f32 f64 f16 bf16;
 *  - batch_norm training (y, saved mean / rstd, running stats updated with momentum and the
 *    unbiased variance) and eval forward, both backwards, [N, C] and [N, C, H, W] inputs;
 *  - determinism (bitwise equal repeated runs), in place, and run-time refusals.
 * Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- buffers and checking -------------------------------------------------------------------------- */

static double put(tu_buf *b, size_t i, double v) {
    tu_encode(b->t, v, b->h + i * brc_dtype_size(b->t));
    return tu_buf_at(b, i);
}
/* All bits set: NaN in every float format, so an element the kernel skipped cannot pass. */
static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static void *dp(const tu_buf *b) { return (void *)(uintptr_t)b->d; }

static double tol_of(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1e-11;
    case BRC_F32: return 2e-5;
    case BRC_F16: return 2e-3;
    default: return 1e-2;
    }
}
static double atol_of(brc_dtype t) { return t == BRC_F16 ? 1.2e-7 : 0; }

typedef struct checker {
    const char *what;
    double tol, atol;
    long fails;
    char first[256];
} checker;

/* |o - r| <= tol * (|r| + m) + atol, m: the magnitude of the terms that cancelled into r. */
static void check(checker *c, double o, double r, double m, int64_t i) {
    double err = fabs(o - r);
    if (err <= c->tol * (fabs(r) + m) + c->atol) return; /* false for NaN: poison never passes */
    if (c->fails++ == 0)
        snprintf(c->first, sizeof c->first, "%s: element %lld: got %.9g, want %.9g (terms %.3g)", c->what,
                 (long long)i, o, r, m);
}
static void report(const checker *c, const char *ctx) {
    cr_expect_eq(c->fails, 0, "%s: %ld mismatches; first %s", ctx, c->fails, c->first);
}

/* [N, C, *spatial] */
static brc_tensor_desc nchw(brc_dtype t, int64_t n, int64_t c, int nsp, const int64_t *sp) {
    int64_t shape[8] = {n, c};
    for (int i = 0; i < nsp; i++) shape[2 + i] = sp[i];
    brc_tensor_desc d;
    cr_assert_eq(brc_tensor_desc_contiguous(&d, t, 2 + nsp, shape), BRC_STATUS_OK);
    return d;
}

/* Random x with a large offset per (n, c) (group_norm) or per c (batch_norm), dy, weight, bias. */
typedef struct data {
    brc_dtype dt, ct;
    int64_t N, C, HW, M; /* M = N * C * HW */
    double *x, *g, *w, *b;
    tu_buf X, G, Y, W, B, DW, DB;
} data;

static void data_new(data *d, brc_dtype dt, int64_t N, int64_t C, int64_t HW, uint64_t seed, bool per_sample) {
    memset(d, 0, sizeof *d);
    d->dt = dt;
    d->ct = dt == BRC_F64 ? BRC_F64 : BRC_F32;
    d->N = N, d->C = C, d->HW = HW, d->M = N * C * HW;
    size_t M = (size_t)d->M;
    d->x = malloc(M * sizeof(double));
    d->g = malloc(M * sizeof(double));
    d->w = malloc((size_t)C * sizeof(double));
    d->b = malloc((size_t)C * sizeof(double));
    cr_assert(d->x && d->g && d->w && d->b);
    d->X = tu_buf_new(dt, M), d->G = tu_buf_new(dt, M), d->Y = tu_buf_new(dt, M);
    d->W = tu_buf_new(dt, (size_t)C), d->B = tu_buf_new(dt, (size_t)C);
    d->DW = tu_buf_new(dt, (size_t)C), d->DB = tu_buf_new(dt, (size_t)C);
    uint64_t rng = seed;
    double *shift = malloc((size_t)(N * C) * sizeof(double));
    cr_assert(shift);
    for (int64_t i = 0; i < N * C; i++) shift[i] = tu_uniform(&rng, -20, 20);
    for (int64_t i = 0; i < (int64_t)M; i++) {
        int64_t n = i / (C * HW), c = (i / HW) % C;
        double s = per_sample ? shift[n * C + c] : shift[c];
        d->x[i] = put(&d->X, (size_t)i, s + tu_uniform(&rng, -2, 2));
        d->g[i] = put(&d->G, (size_t)i, tu_uniform(&rng, -1, 1));
    }
    for (int64_t c = 0; c < C; c++) {
        d->w[c] = put(&d->W, (size_t)c, tu_uniform(&rng, 0.5, 1.5) * ((tu_rand(&rng) & 1) ? 1 : -1));
        d->b[c] = put(&d->B, (size_t)c, tu_uniform(&rng, -1, 1));
    }
    free(shift);
    tu_buf_upload(&d->X), tu_buf_upload(&d->G), tu_buf_upload(&d->W), tu_buf_upload(&d->B);
}

static void data_free(data *d) {
    free(d->x), free(d->g), free(d->w), free(d->b);
    tu_buf *all[] = {&d->X, &d->G, &d->Y, &d->W, &d->B, &d->DW, &d->DB};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_buf_free(all[i]);
}

static tu_buf workspace_for(const brc_plan *p) {
    size_t n = brc_plan_workspace_size(p);
    tu_buf ws = tu_buf_new(BRC_U8, n ? n : 1);
    poison(&ws);
    return ws;
}

/* ---- group_norm ------------------------------------------------------------------------------------ */

typedef struct gn_case {
    int64_t N, C, G;
    int nsp;
    int64_t sp[3];
} gn_case;

static const gn_case gn_cases[] = {
    {1, 4, 1, 1, {1}},       {3, 6, 3, 1, {7}},     {1, 8, 4, 2, {33, 33}}, {3, 12, 12, 1, {4097}},
    {3, 16, 4, 1, {64}},     {2, 32, 1, 2, {5, 7}}, {3, 10, 5, 0, {0}},     {1, 64, 32, 2, {16, 16}},
    {3, 5, 5, 3, {3, 1, 3}},     {3, 4, 2, 1, {1 << 20}}, /* segments split over several warps, unevenly */
};

/* When > 0, run_gn asserts that the forward plan took gn_one (the backward gn_one_bwd) with this
 * many CTAs a group. */
static int gn_expect_cl, gn_expect_cl_bwd;

static void run_gn(brc_context *ctx, brc_dtype dt, const gn_case *k, int wb, int idx) {
    int64_t HW = 1;
    for (int i = 0; i < k->nsp; i++) HW *= k->sp[i];
    const int64_t N = k->N, C = k->C, G = k->G, CPG = C / G, L = CPG * HW;
    const int w = wb & 1, b = (wb >> 1) & 1;
    char cs[200];
    snprintf(cs, sizeof cs, "group_norm %s N=%lld C=%lld G=%lld HW=%lld weight=%d bias=%d", brc_dtype_name(dt),
             (long long)N, (long long)C, (long long)G, (long long)HW, w, b);
    data d;
    data_new(&d, dt, N, C, HW, 0x9e37 + (uint64_t)idx * 7919 + (uint64_t)dt * 131 + (uint64_t)wb, true);
    const double eps = 1e-5;
    double *mean = calloc((size_t)(N * G), sizeof(double)), *rstd = calloc((size_t)(N * G), sizeof(double));
    double *amean = calloc((size_t)(N * G), sizeof(double)); /* mean |x|: what cancels into the mean */
    cr_assert(mean && rstd && amean);
    for (int64_t s = 0; s < N * G; s++) {
        const double *xs = d.x + s * L; /* a group is contiguous in NCHW */
        double sum = 0, q = 0, a = 0;
        for (int64_t i = 0; i < L; i++) sum += xs[i], a += fabs(xs[i]);
        amean[s] = a / (double)L;
        double mu = sum / (double)L;
        for (int64_t i = 0; i < L; i++) q += (xs[i] - mu) * (xs[i] - mu);
        mean[s] = mu;
        rstd[s] = 1 / sqrt(q / (double)L + eps);
    }
    brc_tensor_desc t = nchw(dt, N, C, k->nsp, k->sp);

    /* Forward. */
    brc_plan *p = NULL;
    brc_group_norm_desc fd = {t, t, G, w, b, eps};
    cr_assert_eq(brc_group_norm_plan(ctx, &fd, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", cs, brc_last_error(),
                 brc_last_jit_log());
    tu_buf MEAN = tu_buf_new(d.ct, (size_t)(N * G)), RSTD = tu_buf_new(d.ct, (size_t)(N * G));
    tu_buf WS = workspace_for(p);
    poison(&d.Y), poison(&MEAN), poison(&RSTD);
    cr_assert_eq(brc_group_norm_run(p, dp(&d.X), w ? dp(&d.W) : NULL, b ? dp(&d.B) : NULL, dp(&d.Y), dp(&MEAN),
                                    dp(&RSTD), dp(&WS), brc_plan_workspace_size(p), NULL),
                 BRC_STATUS_OK, "%s: %s", cs, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", cs);
    cr_log_info("%s: %s", cs, brc_plan_sku(p));
    if (gn_expect_cl > 0) {
        char want[32];
        snprintf(want, sizeof want, "+one,cl=%d@", gn_expect_cl);
        cr_assert(strstr(brc_plan_sku(p), want), "%s: SKU %s lacks %s", cs, brc_plan_sku(p), want);
    }
    brc_plan_destroy(p);
    tu_buf_download(&d.Y), tu_buf_download(&MEAN), tu_buf_download(&RSTD);
    checker cy = {"y", tol_of(dt), atol_of(dt), 0, ""};
    for (int64_t i = 0; i < d.M; i++) {
        int64_t n = i / (C * HW), c = (i / HW) % C, s = n * G + c / CPG;
        double xh = (d.x[i] - mean[s]) * rstd[s];
        double ref = xh * (w ? d.w[c] : 1) + (b ? d.b[c] : 0);
        double terms = (fabs(d.x[i]) + fabs(mean[s])) * rstd[s] * (w ? fabs(d.w[c]) : 1) + (b ? fabs(d.b[c]) : 0);
        check(&cy, tu_buf_at(&d.Y, (size_t)i), ref, terms, i);
    }
    report(&cy, cs);
    checker cst = {"mean/rstd", d.ct == BRC_F64 ? 1e-12 : 1e-5, 0, 0, ""};
    for (int64_t s = 0; s < N * G; s++) {
        check(&cst, tu_buf_at(&MEAN, (size_t)s), mean[s], amean[s], s);
        check(&cst, tu_buf_at(&RSTD, (size_t)s), rstd[s], 0, s);
    }
    report(&cst, cs);

    /* Backward, from the reference statistics rounded to the compute type. */
    for (int64_t s = 0; s < N * G; s++) mean[s] = put(&MEAN, (size_t)s, mean[s]), rstd[s] = put(&RSTD, (size_t)s, rstd[s]);
    tu_buf_upload(&MEAN), tu_buf_upload(&RSTD);
    brc_group_norm_backward_desc bd = {t, t, t, G, w, b};
    cr_assert_eq(brc_group_norm_backward_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", cs, brc_last_error(),
                 brc_last_jit_log());
    tu_buf_free(&WS);
    WS = workspace_for(p);
    poison(&d.Y), poison(&d.DW), poison(&d.DB);
    cr_assert_eq(brc_group_norm_backward_run(p, dp(&d.X), dp(&d.G), w ? dp(&d.W) : NULL, dp(&MEAN), dp(&RSTD),
                                             dp(&d.Y), w ? dp(&d.DW) : NULL, b ? dp(&d.DB) : NULL, dp(&WS),
                                             brc_plan_workspace_size(p), NULL),
                 BRC_STATUS_OK, "%s: %s", cs, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: backward kernel failed", cs);
    cr_log_info("%s: %s", cs, brc_plan_sku(p));
    if (gn_expect_cl_bwd > 0) {
        char want[32];
        snprintf(want, sizeof want, "+one,cl=%d", gn_expect_cl_bwd);
        cr_assert(strstr(brc_plan_sku(p), want), "%s: SKU %s lacks %s", cs, brc_plan_sku(p), want);
    }
    brc_plan_destroy(p);
    tu_buf_download(&d.Y), tu_buf_download(&d.DW), tu_buf_download(&d.DB);
    checker cx = {"dx", tol_of(dt), atol_of(dt), 0, ""};
    for (int64_t s = 0; s < N * G; s++) {
        int64_t n = s / G, c0 = (s % G) * CPG;
        double s1 = 0, s2 = 0, a1 = 0, a2 = 0;
        for (int64_t i = 0; i < L; i++) {
            int64_t e = s * L + i, c = c0 + i / HW;
            double xh = (d.x[e] - mean[s]) * rstd[s], gw = d.g[e] * (w ? d.w[c] : 1);
            s1 += gw * xh, s2 += gw, a1 += fabs(gw * xh), a2 += fabs(gw);
        }
        double c1 = s1 / (double)L, c2 = s2 / (double)L, m1 = a1 / (double)L, m2 = a2 / (double)L;
        for (int64_t i = 0; i < L; i++) {
            int64_t e = s * L + i, c = c0 + i / HW;
            double xh = (d.x[e] - mean[s]) * rstd[s], gw = d.g[e] * (w ? d.w[c] : 1);
            double ref = rstd[s] * (gw - c2 - xh * c1);
            check(&cx, tu_buf_at(&d.Y, (size_t)e), ref, rstd[s] * (fabs(gw) + m2 + fabs(xh) * m1), e);
        }
        (void)n;
    }
    report(&cx, cs);
    checker cw = {"dweight", tol_of(dt), atol_of(dt), 0, ""}, cb = {"dbias", tol_of(dt), atol_of(dt), 0, ""};
    for (int64_t c = 0; c < C; c++) {
        double sw = 0, aw = 0, sb = 0, ab = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < HW; h++) {
                int64_t e = (n * C + c) * HW + h, s = n * G + c / CPG;
                double xh = (d.x[e] - mean[s]) * rstd[s];
                sw += d.g[e] * xh, aw += fabs(d.g[e] * xh), sb += d.g[e], ab += fabs(d.g[e]);
            }
        if (w) check(&cw, tu_buf_at(&d.DW, (size_t)c), sw, aw, c);
        if (b) check(&cb, tu_buf_at(&d.DB, (size_t)c), sb, ab, c);
    }
    report(&cw, cs);
    report(&cb, cs);
    free(mean), free(rstd), free(amean);
    tu_buf_free(&MEAN), tu_buf_free(&RSTD), tu_buf_free(&WS);
    data_free(&d);
}

typedef struct job {
    brc_dtype dt;
} job;

ParameterizedTestParameters(group_norm, every_case_and_dtype) {
    static job jobs[] = {{BRC_F32}, {BRC_F64}, {BRC_BF16}, {BRC_F16}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, group_norm, every_case_and_dtype, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int n = (int)(sizeof gn_cases / sizeof gn_cases[0]);
    for (int i = 0; i < n; i++) run_gn(ctx, j->dt, &gn_cases[i], i % 4 == 1 ? 0 : i % 4 == 2 ? 1 : 3, i);
    brc_context_destroy(ctx);
}

/* The forward's one-read path (gn_one): a group of CPG * HW elements in the shared memory of one
 * CTA or of a cluster of 2, 4 or 8 (sm_90), each CTA's slice cutting channels at arbitrary places
 * (CPG = 7, HW = 2304: a slice of 8064 elements is 3.5 channels). The expected cluster size is
 * the plan's rule (channel_norm.c, pick_one): the smallest whose slices fit 64 KiB, for groups of
 * at least 32 KiB. */
typedef struct one_case {
    int64_t N, C, G, HW;
} one_case;

static const one_case one_cases[] = {
    {2, 8, 2, 2048}, {3, 14, 2, 2304}, {2, 32, 2, 2048}, {2, 64, 4, 4096}, {1, 16, 2, 16384}, {2, 24, 3, 8200},
    {160, 32, 4, 2048}, /* 640 groups: several waves of clusters */
};

ParameterizedTestParameters(group_norm, one_read_path) {
    static job jobs[] = {{BRC_F32}, {BRC_F64}, {BRC_BF16}, {BRC_F16}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, group_norm, one_read_path, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int cc_major = 0;
    cr_assert_eq(brc__cu()->cuDeviceGetAttribute(&cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0),
                 CUDA_SUCCESS);
    const int64_t esize = (int64_t)brc_dtype_size(j->dt), v = 16 / esize;
    int taken = 0, taken_bwd = 0;
    for (size_t i = 0; i < sizeof one_cases / sizeof one_cases[0]; i++) {
        const one_case *o = &one_cases[i];
        const int64_t E = o->C / o->G * o->HW, bytes = E * esize;
        int cl = 0;
        if (o->HW % v == 0 && bytes >= 32 * 1024)
            for (int c = 1; c <= (cc_major >= 9 ? 8 : 1) && !cl; c *= 2)
                if (bytes / c <= 64 * 1024 && E % (c * v) == 0) cl = c;
        /* The backward's rule: x and dy slices of at most 32 KiB each, whole channels a CTA, and
         * HW / vector a multiple of the 256 threads. */
        int clb = 0;
        if (o->HW % v == 0 && (o->HW / v) % 256 == 0 && bytes >= 32 * 1024)
            for (int c = 1; c <= (cc_major >= 9 ? 8 : 1) && !clb; c *= 2)
                if (bytes / c <= 32 * 1024 && E % (c * v) == 0 && (o->C / o->G) % c == 0) clb = c;
        gn_expect_cl = cl;
        gn_expect_cl_bwd = clb;
        taken += cl > 0;
        taken_bwd += clb > 0;
        gn_case k = {o->N, o->C, o->G, 1, {o->HW}};
        run_gn(ctx, j->dt, &k, (int)(i % 4), 100 + (int)i);
    }
    gn_expect_cl = gn_expect_cl_bwd = 0;
    cr_assert(taken >= 3, "only %d of the cases took gn_one", taken);
    if (j->dt != BRC_F16 && j->dt != BRC_BF16) cr_assert(taken_bwd >= 3, "only %d cases took gn_one_bwd", taken_bwd);
    else cr_assert(taken_bwd >= 2, "only %d cases took gn_one_bwd", taken_bwd);
    brc_context_destroy(ctx);
}

/* ---- batch_norm ------------------------------------------------------------------------------------- */

typedef struct bn_case {
    int64_t N, C;
    int nsp;
    int64_t sp[2];
} bn_case;

static const bn_case bn_cases[] = {
    {257, 33, 0, {0}}, {3, 7, 1, {1}},      {4, 16, 2, {8, 8}},   {3, 5, 2, {33, 33}},
    {17, 24, 2, {7, 7}}, {64, 8, 2, {56, 56}}, {2, 3, 1, {4097}},  {1000, 64, 0, {0}},
    {4, 20, 2, {512, 512}}, /* 1-8 MB a channel */
};

/* mode: 0 train with running update, 1 train without, 2 eval. */
static void run_bn(brc_context *ctx, brc_dtype dt, const bn_case *k, int mode, int wb, int idx) {
    int64_t HW = 1;
    for (int i = 0; i < k->nsp; i++) HW *= k->sp[i];
    const int64_t N = k->N, C = k->C, Mc = N * HW;
    const int w = wb & 1, b = (wb >> 1) & 1, eval = mode == 2, upd = mode == 0;
    const double eps = 1e-5, mom = 0.125;
    char cs[200];
    snprintf(cs, sizeof cs, "batch_norm %s N=%lld C=%lld HW=%lld %s weight=%d bias=%d", brc_dtype_name(dt),
             (long long)N, (long long)C, (long long)HW, eval ? "eval" : upd ? "train+running" : "train", w, b);
    data d;
    data_new(&d, dt, N, C, HW, 0xb0b + (uint64_t)idx * 104729 + (uint64_t)dt * 17 + (uint64_t)mode * 3 + (uint64_t)wb,
             false);
    uint64_t rng = 77 + (uint64_t)idx;
    tu_buf RM = tu_buf_new(d.ct, (size_t)C), RV = tu_buf_new(d.ct, (size_t)C);
    tu_buf MEAN = tu_buf_new(d.ct, (size_t)C), RSTD = tu_buf_new(d.ct, (size_t)C);
    double *rm = malloc((size_t)C * sizeof(double)), *rv = malloc((size_t)C * sizeof(double));
    double *mean = malloc((size_t)C * sizeof(double)), *rstd = malloc((size_t)C * sizeof(double));
    double *var = malloc((size_t)C * sizeof(double));
    cr_assert(rm && rv && mean && rstd && var);
    for (int64_t c = 0; c < C; c++) {
        rm[c] = put(&RM, (size_t)c, tu_uniform(&rng, -20, 20));
        rv[c] = put(&RV, (size_t)c, tu_uniform(&rng, 0.5, 2));
    }
    tu_buf_upload(&RM), tu_buf_upload(&RV);
    for (int64_t c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < HW; h++) s += d.x[(n * C + c) * HW + h];
        double mu = s / (double)Mc;
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < HW; h++) {
                double e = d.x[(n * C + c) * HW + h] - mu;
                q += e * e;
            }
        var[c] = q / (double)Mc;
        /* What normalizes: the batch statistics (train) or the running ones (eval). */
        mean[c] = eval ? rm[c] : mu;
        rstd[c] = 1 / sqrt((eval ? rv[c] : var[c]) + eps);
    }
    brc_tensor_desc t = nchw(dt, N, C, k->nsp, k->sp);

    brc_plan *p = NULL;
    brc_batch_norm_desc fd = {eval ? BRC_BATCH_NORM_EVAL : BRC_BATCH_NORM_TRAIN, t, t, w, b, upd, eps, mom};
    cr_assert_eq(brc_batch_norm_plan(ctx, &fd, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", cs, brc_last_error(),
                 brc_last_jit_log());
    tu_buf WS = workspace_for(p);
    poison(&d.Y), poison(&MEAN), poison(&RSTD);
    cr_assert_eq(brc_batch_norm_run(p, dp(&d.X), w ? dp(&d.W) : NULL, b ? dp(&d.B) : NULL, dp(&d.Y), dp(&MEAN),
                                    dp(&RSTD), dp(&RM), dp(&RV), dp(&WS), brc_plan_workspace_size(p), NULL),
                 BRC_STATUS_OK, "%s: %s", cs, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", cs);
    cr_log_info("%s: %s", cs, brc_plan_sku(p));
    brc_plan_destroy(p);
    tu_buf_download(&d.Y), tu_buf_download(&MEAN), tu_buf_download(&RSTD);
    unsigned char *rm_h = malloc(RM.n * brc_dtype_size(d.ct)), *rv_h = malloc(RV.n * brc_dtype_size(d.ct));
    cr_assert(rm_h && rv_h);
    memcpy(rm_h, RM.h, RM.n * brc_dtype_size(d.ct)), memcpy(rv_h, RV.h, RV.n * brc_dtype_size(d.ct));
    tu_buf_download(&RM), tu_buf_download(&RV);
    checker cy = {"y", tol_of(dt), atol_of(dt), 0, ""};
    for (int64_t i = 0; i < d.M; i++) {
        int64_t c = (i / HW) % C;
        double xh = (d.x[i] - mean[c]) * rstd[c];
        double ref = xh * (w ? d.w[c] : 1) + (b ? d.b[c] : 0);
        double terms = (fabs(d.x[i]) + fabs(mean[c])) * rstd[c] * (w ? fabs(d.w[c]) : 1) + (b ? fabs(d.b[c]) : 0);
        check(&cy, tu_buf_at(&d.Y, (size_t)i), ref, terms, i);
    }
    report(&cy, cs);
    checker cst = {"statistics", d.ct == BRC_F64 ? 1e-12 : 1e-5, 0, 0, ""};
    if (!eval) {
        for (int64_t c = 0; c < C; c++) {
            check(&cst, tu_buf_at(&MEAN, (size_t)c), mean[c], 0, c);
            check(&cst, tu_buf_at(&RSTD, (size_t)c), rstd[c], 0, c);
        }
    } else {
        unsigned char ff[8];
        memset(ff, 0xff, sizeof ff);
        cr_expect(memcmp(MEAN.h, ff, brc_dtype_size(d.ct)) == 0, "%s: eval must not write mean", cs);
    }
    for (int64_t c = 0; c < C; c++) {
        double wm = upd ? (1 - mom) * rm[c] + mom * mean[c] : rm[c];
        double wv = upd ? (1 - mom) * rv[c] + mom * var[c] * (double)Mc / (double)(Mc - 1) : rv[c];
        check(&cst, tu_buf_at(&RM, (size_t)c), wm, upd ? fabs(rm[c]) + fabs(mean[c]) : 0, c);
        check(&cst, tu_buf_at(&RV, (size_t)c), wv, 0, c);
    }
    report(&cst, cs);
    /* Restore the running stats the backward (eval) reads. */
    memcpy(RM.h, rm_h, RM.n * brc_dtype_size(d.ct)), memcpy(RV.h, rv_h, RV.n * brc_dtype_size(d.ct));
    tu_buf_upload(&RM), tu_buf_upload(&RV);
    free(rm_h), free(rv_h);

    /* Backward: training reads the saved statistics (the reference's, rounded to the compute type). */
    if (!eval) {
        for (int64_t c = 0; c < C; c++) mean[c] = put(&MEAN, (size_t)c, mean[c]), rstd[c] = put(&RSTD, (size_t)c, rstd[c]);
        tu_buf_upload(&MEAN), tu_buf_upload(&RSTD);
    }
    brc_batch_norm_backward_desc bd = {eval ? BRC_BATCH_NORM_EVAL : BRC_BATCH_NORM_TRAIN, t, t, t, w, b, eps};
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", cs, brc_last_error(),
                 brc_last_jit_log());
    tu_buf_free(&WS);
    WS = workspace_for(p);
    poison(&d.Y), poison(&d.DW), poison(&d.DB);
    cr_assert_eq(brc_batch_norm_backward_run(p, dp(&d.X), dp(&d.G), w ? dp(&d.W) : NULL, eval ? NULL : dp(&MEAN),
                                             eval ? NULL : dp(&RSTD), eval ? dp(&RM) : NULL, eval ? dp(&RV) : NULL,
                                             dp(&d.Y), w ? dp(&d.DW) : NULL, b ? dp(&d.DB) : NULL, dp(&WS),
                                             brc_plan_workspace_size(p), NULL),
                 BRC_STATUS_OK, "%s: %s", cs, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: backward kernel failed", cs);
    cr_log_info("%s: %s", cs, brc_plan_sku(p));
    brc_plan_destroy(p);
    tu_buf_download(&d.Y), tu_buf_download(&d.DW), tu_buf_download(&d.DB);
    checker cx = {"dx", tol_of(dt), atol_of(dt), 0, ""};
    checker cw = {"dweight", tol_of(dt), atol_of(dt), 0, ""}, cb = {"dbias", tol_of(dt), atol_of(dt), 0, ""};
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sgx = 0, ag = 0, agx = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < HW; h++) {
                int64_t e = (n * C + c) * HW + h;
                double xh = (d.x[e] - mean[c]) * rstd[c];
                sg += d.g[e], sgx += d.g[e] * xh, ag += fabs(d.g[e]), agx += fabs(d.g[e] * xh);
            }
        double wc = w ? d.w[c] : 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t h = 0; h < HW; h++) {
                int64_t e = (n * C + c) * HW + h;
                double xh = (d.x[e] - mean[c]) * rstd[c];
                double ref = eval ? d.g[e] * wc * rstd[c]
                                  : rstd[c] * wc * (d.g[e] - sg / (double)Mc - xh * sgx / (double)Mc);
                double m = eval ? 0 : rstd[c] * fabs(wc) * (fabs(d.g[e]) + ag / (double)Mc + fabs(xh) * agx / (double)Mc);
                check(&cx, tu_buf_at(&d.Y, (size_t)e), ref, m, e);
            }
        if (w) check(&cw, tu_buf_at(&d.DW, (size_t)c), sgx, agx, c);
        if (b) check(&cb, tu_buf_at(&d.DB, (size_t)c), sg, ag, c);
    }
    report(&cx, cs);
    report(&cw, cs);
    report(&cb, cs);
    free(rm), free(rv), free(mean), free(rstd), free(var);
    tu_buf_free(&RM), tu_buf_free(&RV), tu_buf_free(&MEAN), tu_buf_free(&RSTD), tu_buf_free(&WS);
    data_free(&d);
}

ParameterizedTestParameters(batch_norm, every_case_mode_and_dtype) {
    static job jobs[] = {{BRC_F32}, {BRC_F64}, {BRC_BF16}, {BRC_F16}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, batch_norm, every_case_mode_and_dtype, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int n = (int)(sizeof bn_cases / sizeof bn_cases[0]);
    for (int i = 0; i < n; i++)
        for (int mode = 0; mode < 3; mode++)
            run_bn(ctx, j->dt, &bn_cases[i], mode, mode == 2 ? (i + 1) % 4 : (i + mode) % 2 ? 3 : (i % 3 == 0 ? 0 : 1), i);
    brc_context_destroy(ctx);
}

/* bn_one (training, 16-byte vectors dividing HW) with units longer than a chunk, so that all but the
 * register chunk are read again after the channel's wait (BARACUDA_BN_ONE_QMAX caps the units a
 * channel), and with other chunk shapes; every result against float64 as above. */
ParameterizedTestParameters(batch_norm, one_read_units) {
    static job jobs[] = {{BRC_F32}, {BRC_BF16}, {BRC_F64}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, batch_norm, one_read_units, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const bn_case cases[] = {{64, 8, 2, {56, 56}}, {5, 6, 2, {40, 24}}, {4, 3, 2, {512, 512}}};
    static const char *const knobs[][3] = {{"3", "", ""}, {"1", "2", "128"}, {"", "1", "64"}, {"7", "16", "512"}};
    for (int k = 0; k < 4; k++) {
        const char *names[3] = {"BARACUDA_BN_ONE_QMAX", "BARACUDA_BN_ONE_V", "BARACUDA_BN_ONE_TPB"};
        for (int i = 0; i < 3; i++) setenv(names[i], knobs[k][i], 1);
        for (int i = 0; i < 3; i++) run_bn(ctx, j->dt, &cases[i], k % 2, k == 1 ? 1 : 3, 100 + k * 3 + i);
        for (int i = 0; i < 3; i++) unsetenv(names[i]);
    }
    /* The plan takes bn_one here, both ways. */
    const int64_t sp[2] = {56, 56};
    brc_tensor_desc t = nchw(j->dt, 64, 8, 2, sp);
    brc_batch_norm_desc fd = {BRC_BATCH_NORM_TRAIN, t, t, 1, 1, 1, 1e-5, 0.1};
    brc_batch_norm_backward_desc bd = {BRC_BATCH_NORM_TRAIN, t, t, t, 1, 1, 1e-5};
    brc_plan *p = NULL;
    cr_assert_eq(brc_batch_norm_plan(ctx, &fd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",v=16,") && strstr(brc_plan_sku(p), ">+one@"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",v=12,") && strstr(brc_plan_sku(p), ">+one@"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    /* Channels of more than 96 units keep the two-read sequence: [1024, 8, 56, 56] (f64 forward: 784
     * units; bf16: 196), planned only. */
    t = nchw(j->dt, 1024, 8, 2, sp);
    fd.x = fd.y = t;
    cr_assert_eq(brc_batch_norm_plan(ctx, &fd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_descriptor(p), ",reads=2,") && strstr(brc_plan_sku(p), ">+plane+fin+apply@"), "%s",
              brc_plan_sku(p));
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* bn_one captured in a graph: the counters' reset is part of the capture, so replays over a poisoned
 * workspace give the eager run's bits (forward and backward, dx over dy). */
Test(batch_norm, one_read_captured, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t N = 16, C = 32, sp[2] = {24, 40};
    const size_t M = (size_t)(N * C * 960);
    data d;
    data_new(&d, BRC_BF16, N, C, 960, 99, false);
    brc_tensor_desc t = nchw(BRC_BF16, N, C, 2, sp);
    brc_batch_norm_desc fd = {BRC_BATCH_NORM_TRAIN, t, t, 1, 1, 0, 1e-5, 0.1};
    brc_batch_norm_backward_desc bd = {BRC_BATCH_NORM_TRAIN, t, t, t, 1, 1, 1e-5};
    brc_plan *f = NULL, *b = NULL;
    setenv("BARACUDA_BN_ONE_QMAX", "5", 1); /* several units a channel */
    cr_assert_eq(brc_batch_norm_plan(ctx, &fd, NULL, &f), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bd, NULL, &b), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_BN_ONE_QMAX");
    cr_expect(strstr(brc_plan_sku(f), ">+one@") && strstr(brc_plan_sku(b), ">+one@"), "%s / %s", brc_plan_sku(f),
              brc_plan_sku(b));
    tu_buf WF = workspace_for(f), WB = workspace_for(b);
    tu_buf MEAN = tu_buf_new(BRC_F32, (size_t)C), RSTD = tu_buf_new(BRC_F32, (size_t)C);
    tu_buf DX = tu_buf_new(BRC_BF16, M);
    unsigned char *eager = malloc(M * 2 * 2);
    cr_assert(eager);
    tu_capture g = {0};
    for (int pass = 0; pass < 4; pass++) { /* 0 eager, 1 capture, 2-3 replays over poisoned buffers */
        if (pass != 1) {
            poison(&WF), poison(&WB), poison(&d.Y), poison(&MEAN), poison(&RSTD);
            memcpy(DX.h, d.G.h, M * 2); /* dx over dy */
            tu_buf_upload(&DX);
            cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        }
        if (pass >= 2) {
            tu_capture_replay(&g);
        } else {
            if (pass == 1) g = tu_capture_begin(CU_STREAM_NON_BLOCKING);
            brc_stream s = pass == 1 ? (brc_stream)g.s : NULL;
            cr_assert_eq(brc_batch_norm_run(f, dp(&d.X), dp(&d.W), dp(&d.B), dp(&d.Y), dp(&MEAN), dp(&RSTD), NULL, NULL,
                                            dp(&WF), WF.n, s),
                         BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc_batch_norm_backward_run(b, dp(&d.X), dp(&DX), dp(&d.W), dp(&MEAN), dp(&RSTD), NULL, NULL,
                                                     dp(&DX), dp(&d.DW), dp(&d.DB), dp(&WB), WB.n, s),
                         BRC_STATUS_OK, "%s", brc_last_error());
            if (pass == 1) {
                tu_capture_end(&g);
                continue;
            }
        }
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "pass %d", pass);
        tu_buf_download(&d.Y), tu_buf_download(&DX);
        if (pass == 0) {
            long unwritten = 0;
            for (size_t i = 0; i < M; i++) unwritten += isnan(tu_buf_at(&d.Y, i)) || isnan(tu_buf_at(&DX, i));
            cr_assert_eq(unwritten, 0, "the eager run left %ld of y / dx poisoned", unwritten);
            memcpy(eager, d.Y.h, M * 2), memcpy(eager + M * 2, DX.h, M * 2);
        } else {
            cr_expect(memcmp(eager, d.Y.h, M * 2) == 0, "replay %d: y differs from the eager run", pass);
            cr_expect(memcmp(eager + M * 2, DX.h, M * 2) == 0, "replay %d: dx differs from the eager run", pass);
        }
    }
    tu_capture_free(&g);
    free(eager);
    tu_buf_free(&WF), tu_buf_free(&WB), tu_buf_free(&MEAN), tu_buf_free(&RSTD), tu_buf_free(&DX);
    brc_plan_destroy(f), brc_plan_destroy(b);
    data_free(&d);
    brc_context_destroy(ctx);
}

/* ---- behaviour beyond the values --------------------------------------------------------------------- */

/* Repeated backward runs give the same bits (no atomics), and y may be x in the forward. */
Test(channel_norm, deterministic_and_in_place, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t N = 8, C = 64, sp[2] = {32, 32}, HW = 1024;
    data d;
    data_new(&d, BRC_F32, N, C, HW, 4242, true);
    brc_tensor_desc t = nchw(BRC_F32, N, C, 2, sp);
    size_t bytes = (size_t)(N * C * HW) * 4;
    unsigned char *first = malloc(bytes + 2 * (size_t)C * 4);
    cr_assert(first);
    tu_buf MEAN = tu_buf_new(BRC_F32, (size_t)(N * C)), RSTD = tu_buf_new(BRC_F32, (size_t)(N * C));
    for (int op = 0; op < 2; op++) {
        brc_plan *f = NULL, *p = NULL;
        if (op == 0) {
            brc_group_norm_desc fd = {t, t, 8, 1, 1, 1e-5};
            brc_group_norm_backward_desc bd = {t, t, t, 8, 1, 1};
            cr_assert_eq(brc_group_norm_plan(ctx, &fd, NULL, &f), BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc_group_norm_backward_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        } else {
            brc_batch_norm_desc fd = {BRC_BATCH_NORM_TRAIN, t, t, 1, 1, 0, 1e-5, 0.1};
            brc_batch_norm_backward_desc bd = {BRC_BATCH_NORM_TRAIN, t, t, t, 1, 1, 1e-5};
            cr_assert_eq(brc_batch_norm_plan(ctx, &fd, NULL, &f), BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        }
        size_t wsz = brc_plan_workspace_size(f) > brc_plan_workspace_size(p) ? brc_plan_workspace_size(f)
                                                                              : brc_plan_workspace_size(p);
        tu_buf WS = tu_buf_new(BRC_U8, wsz);
        /* Forward out of place (saving the statistics), then in place on a copy of x. */
        tu_buf_upload(&d.X);
        poison(&d.Y);
        brc_status st = op == 0 ? brc_group_norm_run(f, dp(&d.X), dp(&d.W), dp(&d.B), dp(&d.Y), dp(&MEAN), dp(&RSTD),
                                                     dp(&WS), wsz, NULL)
                                : brc_batch_norm_run(f, dp(&d.X), dp(&d.W), dp(&d.B), dp(&d.Y), dp(&MEAN), dp(&RSTD),
                                                     NULL, NULL, dp(&WS), wsz, NULL);
        cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
        tu_buf_download(&d.Y);
        memcpy(first, d.Y.h, bytes);
        tu_buf_upload(&d.Y); /* Y now holds y; overwrite it with x and normalize in place */
        memcpy(d.Y.h, d.X.h, bytes);
        tu_buf_upload(&d.Y);
        st = op == 0 ? brc_group_norm_run(f, dp(&d.Y), dp(&d.W), dp(&d.B), dp(&d.Y), NULL, NULL, dp(&WS), wsz, NULL)
                     : brc_batch_norm_run(f, dp(&d.Y), dp(&d.W), dp(&d.B), dp(&d.Y), NULL, NULL, NULL, NULL, dp(&WS),
                                          wsz, NULL);
        cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
        tu_buf_download(&d.Y);
        cr_expect(memcmp(first, d.Y.h, bytes) == 0, "%s: in place differs", op ? "batch_norm" : "group_norm");
        for (int rep = 0; rep < 3; rep++) {
            poison(&d.Y), poison(&d.DW), poison(&d.DB);
            st = op == 0 ? brc_group_norm_backward_run(p, dp(&d.X), dp(&d.G), dp(&d.W), dp(&MEAN), dp(&RSTD), dp(&d.Y),
                                                       dp(&d.DW), dp(&d.DB), dp(&WS), wsz, NULL)
                         : brc_batch_norm_backward_run(p, dp(&d.X), dp(&d.G), dp(&d.W), dp(&MEAN), dp(&RSTD), NULL,
                                                       NULL, dp(&d.Y), dp(&d.DW), dp(&d.DB), dp(&WS), wsz, NULL);
            cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
            tu_buf_download(&d.Y), tu_buf_download(&d.DW), tu_buf_download(&d.DB);
            for (int64_t c = 0; c < C; c++)
                cr_assert(!isnan(tu_buf_at(&d.DW, (size_t)c)) && !isnan(tu_buf_at(&d.DB, (size_t)c)), "written");
            if (rep == 0) {
                memcpy(first, d.Y.h, bytes);
                memcpy(first + bytes, d.DW.h, (size_t)C * 4);
                memcpy(first + bytes + C * 4, d.DB.h, (size_t)C * 4);
            } else {
                cr_expect(memcmp(first, d.Y.h, bytes) == 0, "op %d: dx differs on run %d", op, rep);
                cr_expect(memcmp(first + bytes, d.DW.h, (size_t)C * 4) == 0, "op %d: dweight differs on run %d", op, rep);
                cr_expect(memcmp(first + bytes + C * 4, d.DB.h, (size_t)C * 4) == 0, "op %d: dbias differs on run %d",
                          op, rep);
            }
        }
        if (op == 0) { /* dx over dy (each CTA of gn_one_bwd stages its slice before it writes) */
            memcpy(d.Y.h, d.G.h, bytes);
            tu_buf_upload(&d.Y);
            st = brc_group_norm_backward_run(p, dp(&d.X), dp(&d.Y), dp(&d.W), dp(&MEAN), dp(&RSTD), dp(&d.Y),
                                             dp(&d.DW), dp(&d.DB), dp(&WS), wsz, NULL);
            cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
            tu_buf_download(&d.Y);
            cr_expect(memcmp(first, d.Y.h, bytes) == 0, "group_norm: backward in place over dy differs");
            cr_expect(strstr(brc_plan_sku(p), "+one,cl=1+wb@"), "this shape takes gn_one_bwd: %s", brc_plan_sku(p));
        }
        tu_buf_free(&WS);
        brc_plan_destroy(f);
        brc_plan_destroy(p);
    }
    free(first);
    tu_buf_free(&MEAN), tu_buf_free(&RSTD);
    data_free(&d);
    brc_context_destroy(ctx);
}

/* Run-time refusals: each names what is wrong and enqueues nothing. */
Test(channel_norm, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t sp[1] = {64};
    brc_tensor_desc t = nchw(BRC_BF16, 2, 8, 1, sp);
    tu_buf X = tu_buf_new(BRC_BF16, 2 * 8 * 64 + 64), Y = tu_buf_new(BRC_BF16, 2 * 8 * 64 + 64);
    brc_plan *p = NULL;
    brc_group_norm_desc gd = {t, t, 4, 1, 0, 1e-5};
    cr_assert_eq(brc_group_norm_plan(ctx, &gd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, 1 << 16); /* enough for every plan below */
    cr_assert(wsz > 0 && wsz <= WS.n, "workspace %zu", wsz);
    cr_expect_eq(brc_group_norm_run(p, dp(&X), dp(&X), NULL, dp(&Y), NULL, NULL, dp(&WS), wsz - 1, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "is smaller than") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_group_norm_run(p, dp(&X), NULL, NULL, dp(&Y), NULL, NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "weight is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_group_norm_run(p, (char *)dp(&X) + 2, dp(&X), NULL, dp(&Y), NULL, NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "x ") != NULL && strstr(brc_last_error(), "not aligned to 16 bytes"), "%s",
              brc_last_error());
    cr_expect_eq(brc_group_norm_run(p, dp(&X), dp(&X), NULL, dp(&Y), (char *)dp(&Y) + 2, NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "mean") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_batch_norm_run(p, dp(&X), NULL, NULL, dp(&Y), NULL, NULL, NULL, NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    brc_batch_norm_desc bd = {BRC_BATCH_NORM_EVAL, t, t, 0, 0, 0, 1e-5, 0.1};
    cr_assert_eq(brc_batch_norm_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_batch_norm_run(p, dp(&X), NULL, NULL, dp(&Y), NULL, NULL, NULL, dp(&Y), dp(&WS), WS.n, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "running_mean is NULL") != NULL, "%s", brc_last_error());
    brc_plan_destroy(p);
    brc_batch_norm_backward_desc bb = {BRC_BATCH_NORM_TRAIN, t, t, t, 0, 1, 1e-5};
    cr_assert_eq(brc_batch_norm_backward_plan(ctx, &bb, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_batch_norm_backward_run(p, dp(&X), dp(&X), NULL, dp(&Y), dp(&Y), NULL, NULL, dp(&Y), NULL, NULL,
                                             dp(&WS), WS.n, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "dbias is NULL") != NULL, "%s", brc_last_error());
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&WS);
    brc_context_destroy(ctx);
}
