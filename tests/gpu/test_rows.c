/* GPU tests of the row-wise family: softmax and log_softmax, rms_norm and layer_norm (weight, bias,
 * fused residual present and absent), forward and backward, every dtype, against float64 host
 * references (backward: the analytic gradient in f64) on random data, poisoned outputs, at odd
 * sizes (cols 1 7 33 1000 4097 16384 32768 32771 100008 131072 262147; rows 1 3 5 6 33 257 600 1500) that
 * reach every geometry (several rows per CTA, one CTA, a cluster, several passes, rows staged through
 * shared memory with a pipeline over more rows than CTAs, rows packed in registers, the norm
 * backward's gradients by a column pass of their own or in the registers of owned columns, owned
 * columns with the split cluster barrier in the forwards and the norm backward, owned columns in one
 * CTA for rows of 4096, with the block barrier and with the split barrier as mbarriers, owned columns
 * in clusters of 16 CTAs), with
 * contiguous, vector-preserving
 * and odd row strides; plus in place (the norm backward with colred too), run-time errors,
 * determinism and graph capture. Skips
 * without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { OP_SOFTMAX, OP_LOG, OP_RMS, OP_LAYER };

typedef struct variant {
    int op, bwd, w, b, res;
    const char *name;
} variant;

static const variant variants[] = {
    {OP_SOFTMAX, 0, 0, 0, 0, "softmax fwd"},
    {OP_LOG, 0, 0, 0, 0, "log_softmax fwd"},
    {OP_SOFTMAX, 1, 0, 0, 0, "softmax bwd"},
    {OP_LOG, 1, 0, 0, 0, "log_softmax bwd"},
    {OP_RMS, 0, 1, 0, 0, "rms_norm fwd weight"},
    {OP_RMS, 0, 0, 0, 0, "rms_norm fwd"},
    {OP_RMS, 0, 1, 0, 1, "rms_norm fwd weight residual"},
    {OP_LAYER, 0, 1, 1, 0, "layer_norm fwd weight bias"},
    {OP_LAYER, 0, 0, 0, 0, "layer_norm fwd"},
    {OP_LAYER, 0, 1, 1, 1, "layer_norm fwd weight bias residual"},
    {OP_RMS, 1, 1, 0, 0, "rms_norm bwd weight"},
    {OP_RMS, 1, 0, 0, 0, "rms_norm bwd"},
    {OP_LAYER, 1, 1, 1, 0, "layer_norm bwd weight bias"},
    {OP_LAYER, 1, 0, 1, 0, "layer_norm bwd bias"},
    {OP_LAYER, 1, 0, 0, 0, "layer_norm bwd"},
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))

static const brc_dtype dtypes[] = {BRC_F32, BRC_F16, BRC_BF16, BRC_F64};

/* (rows, cols). Long rows with few rows keep the host references cheap. */
static const int64_t sizes[][2] = {
    {1, 1},    {3, 1},     {257, 1},    {1, 7},      {257, 7},     {3, 33},     {257, 33},
    {3, 1000}, {257, 1000}, {1, 4097},  {257, 4097}, {1500, 4096}, {3, 32771},  {1, 131072},
    {3, 131072}, {2, 262147},
    /* 16-bit rows staged through shared memory: 16384 and 32768 (the backward; vector-preserving
     * strides), 65536 (the forward too) with more rows than the persistent grid has CTA groups (so
     * the double-buffered pipeline walks several rows each); the odd strides between take the
     * register path. The forwards of 30000 and 32768 take one CTA a row (softmax: packed). */
    {257, 16384}, {33, 16384}, {600, 32768}, {300, 65536}, {33, 30000},
    /* 16-bit rows in clusters: packed for the log_softmax forward (clusters of 4), owned columns for
     * the other forwards and the backwards: a partial last vector group (100008 = 8 x 12501), and
     * 131072 with vector-preserving strides.
     * The 16-bit norm backward's gradients come from colred there, at 262147 (vec=1) and at
     * 300 x 65536 (slabs of 10 rows, the last ones empty). */
    {5, 100008}, {6, 131072},
    /* Owned-column norm backwards with vector-preserving strides and a partial last vector group
     * (16-bit 100008: clusters of 8), one CTA a row with many rows a CTA (8192: 16-bit and f32); the
     * packed layer_norm forward (16-bit 24584: one CTA, a partial last vector group, strided). */
    {70, 100008}, {3, 8200}, {1500, 8192}, {7, 24584},
    /* Owned columns with the split cluster barrier, several rows a cluster (the rows' pipeline:
     * statistics of one row while the previous one is written): the forwards of 16-bit and f32 rows
     * past 32768 columns and the norm backwards in clusters; contiguous, then vector-preserving
     * strides with a partial last vector group. */
    {40, 131072}, {37, 100008},
};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

/* ---- buffers -------------------------------------------------------------------------------------- */

/* Stores v rounded to the buffer's dtype and returns the value actually stored. */
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


/* ---- checking --------------------------------------------------------------------------------------- */

/* Relative tolerance by dtype: the output's rounding plus f32 (f64) accumulation over long rows. */
static double tol_of(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1e-11;
    case BRC_F32: return 2e-5;
    case BRC_F16: return 2e-3;
    default: return 1e-2;
    }
}
/* Below the normal range the dtype's spacing is absolute. */
static double atol_of(brc_dtype t) { return t == BRC_F16 ? 1.2e-7 : 0; }

typedef struct checker {
    const char *what;
    double tol, atol;
    long fails;
    char first[256];
} checker;

/* |o - r| <= tol * (|r| + m) + atol, m: the magnitude of the terms that cancelled into r. */
static void check(checker *c, double o, double r, double m, int64_t row, int64_t col) {
    double err = fabs(o - r);
    if (err <= c->tol * (fabs(r) + m) + c->atol) return; /* false for NaN: poison never passes */
    if (c->fails++ == 0)
        snprintf(c->first, sizeof c->first, "%s: row %lld col %lld: got %.9g, want %.9g (terms %.3g)", c->what,
                 (long long)row, (long long)col, o, r, m);
}
static void report(const checker *c, const char *ctx) {
    cr_expect_eq(c->fails, 0, "%s: %ld mismatches; first %s", ctx, c->fails, c->first);
}

/* ---- one case -------------------------------------------------------------------------------------- */

typedef struct layout {
    int64_t sa, sb, so, ss; /* row strides: input a, input b, output, sum */
} layout;

static layout layout_for(int k, int64_t cols) {
    switch (k % 3) {
    case 1: return (layout){cols + 8, cols + 16, cols + 24, cols + 8}; /* keeps 16-byte vectors */
    case 2: return (layout){cols + 1, cols + 3, cols + 2, cols + 5};   /* odd: vec = 1 */
    default: return (layout){cols, cols, cols, cols};
    }
}
static size_t extent(int64_t rows, int64_t cols, int64_t stride) {
    return rows ? (size_t)((rows - 1) * stride + cols) : 0;
}

static void run_case(brc_context *ctx, const variant *v, brc_dtype dt, int64_t R, int64_t C, int k) {
    layout L = layout_for(k, C);
    uint64_t rng = 0x5eed + (uint64_t)k * 7919 + (uint64_t)dt * 104729 + (uint64_t)(v - variants) * 1299709;
    brc_dtype ct = dt == BRC_F64 ? BRC_F64 : BRC_F32; /* the compute type: saved statistics */
    char ctxs[200];
    snprintf(ctxs, sizeof ctxs, "%s %s rows=%lld cols=%lld strides=%lld/%lld/%lld", v->name, brc_dtype_name(dt),
             (long long)R, (long long)C, (long long)L.sa, (long long)L.sb, (long long)L.so);
    size_t N = (size_t)(R * C);
    double *xa = malloc(N * sizeof(double)), *xb = malloc(N * sizeof(double));
    double *w = malloc((size_t)C * sizeof(double)), *bb = malloc((size_t)C * sizeof(double));
    cr_assert(xa && xb && w && bb);
    tu_buf A = tu_buf_new(dt, extent(R, C, L.sa)), B = tu_buf_new(dt, extent(R, C, L.sb));
    tu_buf O = tu_buf_new(dt, extent(R, C, L.so)), S = tu_buf_new(dt, extent(R, C, L.ss));
    tu_buf W = tu_buf_new(dt, (size_t)C), Bi = tu_buf_new(dt, (size_t)C);
    tu_buf MEAN = tu_buf_new(ct, (size_t)R), RSTD = tu_buf_new(ct, (size_t)R);
    tu_buf DW = tu_buf_new(dt, (size_t)C), DB = tu_buf_new(dt, (size_t)C);
    for (int64_t c = 0; c < C; c++) {
        w[c] = put(&W, (size_t)c, tu_uniform(&rng, 0.5, 1.5) * ((tu_rand(&rng) & 1) ? 1 : -1));
        bb[c] = put(&Bi, (size_t)c, tu_uniform(&rng, -1, 1));
    }
    /* Inputs: x (a row offset so that layer_norm's mean matters) and b (residual or dy). */
    for (int64_t r = 0; r < R; r++) {
        double shift = tu_uniform(&rng, -1, 1);
        for (int64_t c = 0; c < C; c++) {
            xa[r * C + c] = tu_uniform(&rng, -3, 3) + shift;
            xb[r * C + c] = tu_uniform(&rng, -1, 1);
        }
    }
    /* Softmax backward takes the forward's output: y = softmax(x) (or log_softmax), rounded. */
    if (v->bwd && v->op <= OP_LOG) {
        for (int64_t r = 0; r < R; r++) {
            double m = -INFINITY, s = 0;
            for (int64_t c = 0; c < C; c++) m = fmax(m, xa[r * C + c]);
            for (int64_t c = 0; c < C; c++) s += exp(xa[r * C + c] - m);
            for (int64_t c = 0; c < C; c++)
                xa[r * C + c] = v->op == OP_LOG ? xa[r * C + c] - m - log(s) : exp(xa[r * C + c] - m) / s;
        }
    }
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            xa[r * C + c] = put(&A, (size_t)(r * L.sa + c), xa[r * C + c]);
            xb[r * C + c] = put(&B, (size_t)(r * L.sb + c), xb[r * C + c]);
        }
    tu_buf_upload(&A);
    tu_buf_upload(&B);
    tu_buf_upload(&W);
    tu_buf_upload(&Bi);
    const double eps = 1e-5;
    /* The normalized input (the rounded sum for the residual variant) and its statistics, f64. */
    double *src = xa;
    double *mean = calloc((size_t)R + 1, sizeof(double)), *rstd = calloc((size_t)R + 1, sizeof(double));
    cr_assert(mean && rstd);
    if (v->op >= OP_RMS) {
        if (v->res) {
            src = malloc(N * sizeof(double));
            cr_assert(src);
            for (size_t i = 0; i < N; i++) {
                unsigned char tmp[8];
                tu_encode(dt, xa[i] + xb[i], tmp);
                src[i] = tu_decode(dt, tmp);
            }
        }
        for (int64_t r = 0; r < R; r++) {
            double s = 0, q = 0;
            for (int64_t c = 0; c < C; c++) s += src[r * C + c];
            double mu = v->op == OP_LAYER ? s / (double)C : 0;
            for (int64_t c = 0; c < C; c++) q += (src[r * C + c] - mu) * (src[r * C + c] - mu);
            mean[r] = mu;
            rstd[r] = 1 / sqrt(q / (double)C + eps);
        }
    }

    brc_plan *p = NULL;
    brc_status st;
    brc_tensor_desc ta = tu_mat(dt, R, C, L.sa), tb = tu_mat(dt, R, C, L.sb), to = tu_mat(dt, R, C, L.so), ts = tu_mat(dt, R, C, L.ss);
    checker ck = {"", tol_of(dt), atol_of(dt), 0, ""};
    tu_buf WS = {0};
    if (!v->bwd && v->op <= OP_LOG) {
        brc_softmax_desc d = {v->op == OP_LOG ? BRC_SOFTMAX_LOG : BRC_SOFTMAX_PLAIN, ta, to};
        st = brc_softmax_plan(ctx, &d, NULL, &p);
        cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", ctxs, brc_last_error(), brc_last_jit_log());
        poison(&O);
        cr_assert_eq(brc_softmax_run(p, dp(&A), dp(&O), NULL, 0, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    } else if (v->bwd && v->op <= OP_LOG) {
        brc_softmax_backward_desc d = {v->op == OP_LOG ? BRC_SOFTMAX_LOG : BRC_SOFTMAX_PLAIN, ta, tb, to};
        st = brc_softmax_backward_plan(ctx, &d, NULL, &p);
        cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", ctxs, brc_last_error(), brc_last_jit_log());
        poison(&O);
        cr_assert_eq(brc_softmax_backward_run(p, dp(&A), dp(&B), dp(&O), NULL, 0, NULL), BRC_STATUS_OK, "%s",
                     brc_last_error());
    } else if (!v->bwd) {
        brc_norm_desc d = {v->op == OP_LAYER ? BRC_NORM_LAYER : BRC_NORM_RMS, ta, to, v->w, v->b, v->res, tb, ts, eps};
        st = brc_norm_plan(ctx, &d, NULL, &p);
        cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", ctxs, brc_last_error(), brc_last_jit_log());
        poison(&O);
        poison(&S);
        poison(&MEAN);
        poison(&RSTD);
        cr_assert_eq(brc_norm_run(p, dp(&A), v->res ? dp(&B) : NULL, v->w ? dp(&W) : NULL, v->b ? dp(&Bi) : NULL,
                                  dp(&O), v->res ? dp(&S) : NULL, dp(&MEAN), dp(&RSTD), NULL, 0, NULL),
                     BRC_STATUS_OK, "%s", brc_last_error());
    } else {
        /* The saved statistics in the compute type, as the forward would have left them. */
        for (int64_t r = 0; r < R; r++) {
            mean[r] = put(&MEAN, (size_t)r, mean[r]);
            rstd[r] = put(&RSTD, (size_t)r, rstd[r]);
        }
        tu_buf_upload(&MEAN);
        tu_buf_upload(&RSTD);
        brc_norm_backward_desc d = {v->op == OP_LAYER ? BRC_NORM_LAYER : BRC_NORM_RMS, ta, tb, to, v->w, v->b};
        st = brc_norm_backward_plan(ctx, &d, NULL, &p);
        cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", ctxs, brc_last_error(), brc_last_jit_log());
        size_t wsz = brc_plan_workspace_size(p);
        cr_expect_eq(wsz > 0, v->w || v->b, "%s: workspace %zu", ctxs, wsz);
        if (wsz) {
            WS = tu_buf_new(BRC_U8, wsz);
            /* Too small by one byte: refused before anything is enqueued. */
            cr_expect_eq(brc_norm_backward_run(p, dp(&A), dp(&B), dp(&W), dp(&MEAN), dp(&RSTD), dp(&O), dp(&DW),
                                               dp(&DB), dp(&WS), wsz - 1, NULL),
                         BRC_STATUS_INVALID_ARGUMENT, "%s: small workspace", ctxs);
            poison(&WS);
        }
        poison(&O);
        poison(&DW);
        poison(&DB);
        cr_assert_eq(brc_norm_backward_run(p, dp(&A), dp(&B), v->w ? dp(&W) : NULL, dp(&MEAN), dp(&RSTD), dp(&O),
                                           v->w ? dp(&DW) : NULL, v->b ? dp(&DB) : NULL, wsz ? dp(&WS) : NULL, wsz,
                                           NULL),
                     BRC_STATUS_OK, "%s", brc_last_error());
    }
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", ctxs);
    cr_log_info("%s: %s", ctxs, brc_plan_sku(p));
    tu_buf_download(&O);

    /* ---- references --------------------------------------------------------------------------------- */
    for (int64_t r = 0; r < R; r++) {
        const double *x = xa + r * C, *g = xb + r * C;
        size_t ob = (size_t)(r * L.so);
        if (!v->bwd && v->op <= OP_LOG) {
            double m = -INFINITY, s = 0;
            for (int64_t c = 0; c < C; c++) m = fmax(m, x[c]);
            for (int64_t c = 0; c < C; c++) s += exp(x[c] - m);
            double lse = m + log(s);
            ck.what = "y";
            for (int64_t c = 0; c < C; c++) {
                if (v->op == OP_LOG) check(&ck, tu_buf_at(&O, ob + (size_t)c), x[c] - lse, fabs(x[c]) + fabs(lse), r, c);
                else check(&ck, tu_buf_at(&O, ob + (size_t)c), exp(x[c] - lse), 0, r, c);
            }
        } else if (v->bwd && v->op <= OP_LOG) {
            double s = 0, sa = 0;
            for (int64_t c = 0; c < C; c++) {
                s += v->op == OP_LOG ? g[c] : x[c] * g[c];
                sa += v->op == OP_LOG ? fabs(g[c]) : fabs(x[c] * g[c]);
            }
            ck.what = "dx";
            for (int64_t c = 0; c < C; c++) {
                double ref = v->op == OP_LOG ? g[c] - exp(x[c]) * s : x[c] * (g[c] - s);
                double m = v->op == OP_LOG ? fabs(g[c]) + exp(x[c]) * sa : fabs(x[c]) * (fabs(g[c]) + sa);
                check(&ck, tu_buf_at(&O, ob + (size_t)c), ref, m, r, c);
            }
        } else if (!v->bwd) {
            const double *sx = src + r * C;
            ck.what = "y";
            for (int64_t c = 0; c < C; c++) {
                double xh = (sx[c] - mean[r]) * rstd[r];
                double ref = xh * (v->w ? w[c] : 1) + (v->b ? bb[c] : 0);
                /* x - mean cancels: the terms are x and mean, scaled. */
                double terms = (fabs(sx[c]) + fabs(mean[r])) * rstd[r] * (v->w ? fabs(w[c]) : 1) + (v->b ? fabs(bb[c]) : 0);
                check(&ck, tu_buf_at(&O, ob + (size_t)c), ref, terms, r, c);
            }
        } else {
            double s1 = 0, s2 = 0, a1 = 0, a2 = 0;
            for (int64_t c = 0; c < C; c++) {
                double xh = (x[c] - mean[r]) * rstd[r], gw = g[c] * (v->w ? w[c] : 1);
                s1 += gw * xh;
                s2 += gw;
                a1 += fabs(gw * xh);
                a2 += fabs(gw);
            }
            double c1 = s1 / (double)C, c2 = v->op == OP_LAYER ? s2 / (double)C : 0;
            double m1 = a1 / (double)C, m2 = v->op == OP_LAYER ? a2 / (double)C : 0;
            ck.what = "dx";
            for (int64_t c = 0; c < C; c++) {
                double xh = (x[c] - mean[r]) * rstd[r], gw = g[c] * (v->w ? w[c] : 1);
                double ref = rstd[r] * (gw - (xh * c1 + c2));
                check(&ck, tu_buf_at(&O, ob + (size_t)c), ref, rstd[r] * (fabs(gw) + fabs(xh) * m1 + m2), r, c);
            }
        }
    }
    report(&ck, ctxs);

    /* Forward norms: the sum and the saved statistics. Backward norms: dweight and dbias. */
    if (v->op >= OP_RMS && !v->bwd) {
        checker cs = {"mean/rstd", ct == BRC_F64 ? 1e-12 : 1e-5, 0, 0, ""};
        tu_buf_download(&MEAN);
        tu_buf_download(&RSTD);
        for (int64_t r = 0; r < R; r++) {
            if (v->op == OP_LAYER) check(&cs, tu_buf_at(&MEAN, (size_t)r), mean[r], 1 + fabs(mean[r]), r, -1);
            check(&cs, tu_buf_at(&RSTD, (size_t)r), rstd[r], 0, r, -1);
        }
        if (v->op == OP_RMS) {
            unsigned char ff[8];
            memset(ff, 0xff, sizeof ff);
            cr_expect(memcmp(MEAN.h, ff, brc_dtype_size(ct)) == 0, "%s: rms_norm must not write mean", ctxs);
        }
        report(&cs, ctxs);
        if (v->res) {
            checker cr = {"sum", 0, 0, 0, ""};
            tu_buf_download(&S);
            for (int64_t r = 0; r < R; r++)
                for (int64_t c = 0; c < C; c++) check(&cr, tu_buf_at(&S, (size_t)(r * L.ss + c)), src[r * C + c], 0, r, c);
            report(&cr, ctxs);
        }
    }
    if (v->op >= OP_RMS && v->bwd && (v->w || v->b)) {
        checker cw = {"dweight", tol_of(dt), atol_of(dt), 0, ""}, cb = {"dbias", tol_of(dt), atol_of(dt), 0, ""};
        tu_buf_download(&DW);
        tu_buf_download(&DB);
        for (int64_t c = 0; c < C; c++) {
            double sw = 0, aw = 0, sb = 0, ab = 0;
            for (int64_t r = 0; r < R; r++) {
                double xh = (xa[r * C + c] - mean[r]) * rstd[r], g = xb[r * C + c];
                sw += g * xh;
                aw += fabs(g * xh);
                sb += g;
                ab += fabs(g);
            }
            if (v->w) check(&cw, tu_buf_at(&DW, (size_t)c), sw, aw, -1, c);
            if (v->b) check(&cb, tu_buf_at(&DB, (size_t)c), sb, ab, -1, c);
        }
        report(&cw, ctxs);
        report(&cb, ctxs);
    }

    brc_plan_destroy(p);
    if (src != xa) free(src);
    free(mean);
    free(rstd);
    free(xa);
    free(xb);
    free(w);
    free(bb);
    tu_buf *all[] = {&A, &B, &O, &S, &W, &Bi, &MEAN, &RSTD, &DW, &DB, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->h) tu_buf_free(all[i]);
}

typedef struct job {
    int v;
    brc_dtype dt;
} job;

ParameterizedTestParameters(rows, every_variant_dtype_and_size) {
    static job jobs[NVARIANTS * 4];
    for (int v = 0; v < NVARIANTS; v++)
        for (int d = 0; d < 4; d++) jobs[v * 4 + d] = (job){v, dtypes[d]};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, rows, every_variant_dtype_and_size, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    for (int k = 0; k < NSIZES; k++) run_case(ctx, &variants[j->v], j->dt, sizes[k][0], sizes[k][1], k);
    brc_context_destroy(ctx);
}

/* ---- softmax along a strided axis ------------------------------------------------------------------- */

/* x is a contiguous tensor and the softmax runs over dim `dim`, described as the permuted view with
 * that dim last (what a framework passes for softmax(x, dim)). y is either the same view of its own
 * buffer or a contiguous tensor of the permuted shape (a different grouping of the dims). */
typedef struct axis_case {
    int rank, dim;
    int64_t shape[4];
} axis_case;
static const axis_case axis_cases[] = {
    {2, 0, {1000, 7}}, {3, 1, {3, 37, 5}}, {4, 1, {2, 33, 17, 9}}, {2, 0, {4097, 3}},
    {3, 0, {5, 300, 2}}, {3, 0, {6, 1, 40}}, {4, 2, {3, 4, 129, 65}},
};

static void axis_case_run(brc_context *ctx, const axis_case *ac, brc_dtype dt, int op, int bwd, int ycontig) {
    uint64_t rng = 0xa715 + (uint64_t)(ac - axis_cases) * 31 + (uint64_t)dt * 7 + (uint64_t)op * 3 + (uint64_t)bwd;
    char what[160];
    snprintf(what, sizeof what, "%s %s dim %d of case %d, y %s", op == OP_LOG ? "log_softmax" : "softmax",
             bwd ? "bwd" : "fwd", ac->dim, (int)(ac - axis_cases), ycontig ? "contiguous" : "the same view");
    int64_t cs[4], n = 1;
    for (int d = ac->rank - 1; d >= 0; d--) {
        cs[d] = n;
        n *= ac->shape[d];
    }
    /* The view: the other dims in order, then dim. */
    brc_tensor_desc xv = {0};
    xv.dtype = dt;
    xv.rank = ac->rank;
    int k = 0;
    for (int d = 0; d < ac->rank; d++)
        if (d != ac->dim) {
            xv.shape[k] = ac->shape[d];
            xv.strides[k++] = cs[d];
        }
    xv.shape[k] = ac->shape[ac->dim];
    xv.strides[k] = cs[ac->dim];
    const int64_t cols = ac->shape[ac->dim], rows = n / cols;
    brc_tensor_desc yv = xv;
    if (ycontig) brc_tensor_desc_contiguous(&yv, dt, ac->rank, xv.shape);
    /* Element (row, c) of the view: its offset in x's buffer and in y's. */
    int64_t *xoff = malloc((size_t)n * sizeof(int64_t)), *yoff = malloc((size_t)n * sizeof(int64_t));
    double *a = malloc((size_t)n * sizeof(double)), *g = malloc((size_t)n * sizeof(double));
    cr_assert(xoff && yoff && a && g);
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, xo = 0, yo = 0;
        for (int d = ac->rank - 2; d >= 0; d--) {
            int64_t i = rem % xv.shape[d];
            rem /= xv.shape[d];
            xo += i * xv.strides[d];
            yo += i * yv.strides[d];
        }
        for (int64_t c = 0; c < cols; c++) {
            xoff[r * cols + c] = xo + c * xv.strides[ac->rank - 1];
            yoff[r * cols + c] = yo + c * yv.strides[ac->rank - 1];
        }
    }
    tu_buf X = tu_buf_new(dt, (size_t)n), G = tu_buf_new(dt, (size_t)n), Y = tu_buf_new(dt, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        /* backward: y as the forward would give it (log-probabilities or probabilities, roughly). */
        double v = bwd ? (op == OP_LOG ? tu_uniform(&rng, -6, 0) : tu_uniform(&rng, 0, 2.0 / (double)cols))
                       : tu_uniform(&rng, -4, 4);
        a[i] = put(&X, (size_t)xoff[i], v);
        g[i] = put(&G, (size_t)(bwd ? yoff[i] : xoff[i]), tu_uniform(&rng, -1, 1));
    }
    /* In the backward, dy lives in y's layout and dx is written there too. */
    tu_buf_upload(&X);
    tu_buf_upload(&G);
    poison(&Y);
    brc_plan *p = NULL;
    brc_softmax_kind kind = op == OP_LOG ? BRC_SOFTMAX_LOG : BRC_SOFTMAX_PLAIN;
    if (!bwd) {
        brc_softmax_desc d = {kind, xv, yv};
        cr_assert_eq(brc_softmax_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
        cr_assert_eq(brc_softmax_run(p, dp(&X), dp(&Y), NULL, 0, NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    } else {
        brc_softmax_backward_desc d = {kind, xv, yv, yv};
        cr_assert_eq(brc_softmax_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
        cr_assert_eq(brc_softmax_backward_run(p, dp(&X), dp(&G), dp(&Y), NULL, 0, NULL), BRC_STATUS_OK, "%s: %s",
                     what, brc_last_error());
    }
    cr_expect(strstr(brc_plan_sku(p), ",strided,") != NULL, "%s: %s", what, brc_plan_sku(p));
    tu_buf_download(&Y);
    checker ck = {what, tol_of(dt), atol_of(dt), 0, ""};
    for (int64_t r = 0; r < rows; r++) {
        const double *ar = a + r * cols, *gr = g + r * cols;
        double m = -INFINITY, s = 0, sg = 0, mag = 0;
        for (int64_t c = 0; c < cols; c++) m = fmax(m, ar[c]);
        for (int64_t c = 0; c < cols; c++) {
            s += exp(ar[c] - m);
            sg += op == OP_LOG ? gr[c] : ar[c] * gr[c];
            mag += op == OP_LOG ? fabs(gr[c]) : fabs(ar[c] * gr[c]);
        }
        for (int64_t c = 0; c < cols; c++) {
            double want, terms;
            if (!bwd) {
                want = op == OP_LOG ? ar[c] - m - log(s) : exp(ar[c] - m) / s;
                terms = op == OP_LOG ? fabs(ar[c]) + fabs(m) + fabs(log(s)) : 0;
            } else {
                want = op == OP_LOG ? gr[c] - exp(ar[c]) * sg : ar[c] * (gr[c] - sg);
                terms = op == OP_LOG ? fabs(gr[c]) + exp(ar[c]) * mag : fabs(ar[c]) * (fabs(gr[c]) + mag);
            }
            check(&ck, tu_buf_at(&Y, (size_t)yoff[r * cols + c]), want, terms, r, c);
        }
    }
    report(&ck, what);
    brc_plan_destroy(p);
    tu_buf_free(&X);
    tu_buf_free(&G);
    tu_buf_free(&Y);
    free(xoff);
    free(yoff);
    free(a);
    free(g);
}

Test(rows, softmax_along_any_axis, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const brc_dtype dts[] = {BRC_F32, BRC_BF16, BRC_F64};
    for (size_t c = 0; c < sizeof axis_cases / sizeof axis_cases[0]; c++)
        for (int t = 0; t < 3; t++)
            for (int op = OP_SOFTMAX; op <= OP_LOG; op++)
                for (int bwd = 0; bwd < 2; bwd++)
                    for (int yc = 0; yc < 2; yc++) axis_case_run(ctx, &axis_cases[c], dts[t], op, bwd, yc);
    brc_context_destroy(ctx);
}

/* In place along a strided axis (y is x, same strides) gives the out-of-place bits; y as x with other
 * strides is refused at run time. */
Test(rows, softmax_strided_in_place, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t A = 300, B = 70; /* softmax over dim 0 of a contiguous [A, B] */
    brc_tensor_desc v = {0};
    v.dtype = BRC_F32;
    v.rank = 2;
    v.shape[0] = B, v.shape[1] = A;
    v.strides[0] = 1, v.strides[1] = B;
    brc_tensor_desc c = tu_mat(BRC_F32, B, A, A); /* y contiguous in the view's order */
    uint64_t rng = 5;
    tu_buf X = tu_buf_new(BRC_F32, (size_t)(A * B)), Y = tu_buf_new(BRC_F32, (size_t)(A * B));
    for (size_t i = 0; i < X.n; i++) put(&X, i, tu_uniform(&rng, -3, 3));
    tu_buf_upload(&X);
    brc_plan *p = NULL, *q = NULL;
    brc_softmax_desc d = {BRC_SOFTMAX_PLAIN, v, v}, e = {BRC_SOFTMAX_PLAIN, v, c};
    cr_assert_eq(brc_softmax_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_softmax_plan(ctx, &e, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    poison(&Y);
    cr_assert_eq(brc_softmax_run(p, dp(&X), dp(&Y), NULL, 0, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&Y);
    unsigned char *want = malloc(X.n * 4);
    cr_assert(want);
    memcpy(want, Y.h, X.n * 4);
    cr_assert_eq(brc_softmax_run(p, dp(&X), dp(&X), NULL, 0, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&X);
    cr_expect(memcmp(X.h, want, X.n * 4) == 0, "in place along dim 0 differs from out of place");
    cr_expect_eq(brc_softmax_run(q, dp(&X), dp(&X), NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "different strides") != NULL, "%s", brc_last_error());
    free(want);
    brc_plan_destroy(p);
    brc_plan_destroy(q);
    tu_buf_free(&X);
    tu_buf_free(&Y);
    brc_context_destroy(ctx);
}

/* ---- behaviour beyond the values --------------------------------------------------------------------- */

/* y may be x (same stride): the result equals the out-of-place one, bit for bit; rows of 4096 and
 * of 131072 (owned columns, rows staged ahead of the one written). */
static void in_place_case(brc_context *ctx, int64_t R, int64_t C) {
    uint64_t rng = 99;
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)(R * C)), Y = tu_buf_new(BRC_BF16, (size_t)(R * C));
    tu_buf W = tu_buf_new(BRC_BF16, (size_t)C);
    for (size_t i = 0; i < X.n; i++) put(&X, i, tu_uniform(&rng, -3, 3));
    for (size_t i = 0; i < W.n; i++) put(&W, i, tu_uniform(&rng, 0.5, 1.5));
    tu_buf_upload(&W);
    brc_tensor_desc t = tu_mat(BRC_BF16, R, C, C);
    brc_plan *sm = NULL, *nm = NULL;
    brc_softmax_desc sd = {BRC_SOFTMAX_PLAIN, t, t};
    brc_norm_desc nd = {BRC_NORM_RMS, t, t, 1, 0, 0, {0}, {0}, 1e-6};
    cr_assert_eq(brc_softmax_plan(ctx, &sd, NULL, &sm), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_norm_plan(ctx, &nd, NULL, &nm), BRC_STATUS_OK, "%s", brc_last_error());
    unsigned char *want = malloc(X.n * 2);
    cr_assert(want);
    for (int which = 0; which < 2; which++) {
        tu_buf_upload(&X);
        poison(&Y);
        if (which == 0) cr_assert_eq(brc_softmax_run(sm, dp(&X), dp(&Y), NULL, 0, NULL), BRC_STATUS_OK);
        else cr_assert_eq(brc_norm_run(nm, dp(&X), NULL, dp(&W), NULL, dp(&Y), NULL, NULL, NULL, NULL, 0, NULL), BRC_STATUS_OK);
        tu_buf_download(&Y);
        memcpy(want, Y.h, X.n * 2);
        if (which == 0) cr_assert_eq(brc_softmax_run(sm, dp(&X), dp(&X), NULL, 0, NULL), BRC_STATUS_OK);
        else cr_assert_eq(brc_norm_run(nm, dp(&X), NULL, dp(&W), NULL, dp(&X), NULL, NULL, NULL, NULL, 0, NULL), BRC_STATUS_OK);
        unsigned char *keep = X.h;
        X.h = malloc(X.n * 2);
        cr_assert(X.h);
        tu_buf_download(&X);
        cr_expect(memcmp(X.h, want, X.n * 2) == 0, "in place differs (%s, %lldx%lld: %s)", which ? "rms_norm" : "softmax",
                  (long long)R, (long long)C, brc_plan_sku(which ? nm : sm));
        free(X.h);
        X.h = keep;
    }
    free(want);
    brc_plan_destroy(sm);
    brc_plan_destroy(nm);
    tu_buf_free(&X);
    tu_buf_free(&Y);
    tu_buf_free(&W);
}

Test(rows, in_place_matches_out_of_place, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    in_place_case(ctx, 64, 4096);
    in_place_case(ctx, 100, 131072);
    brc_context_destroy(ctx);
}

/* The weight and bias gradients are the same bits on every run (no atomics), and a run captured
 * into a CUDA graph gives them again. */
/* The norm backward in place (dx over dy, then over x) where dx is written while other rows are
 * still to be read: with owned columns (bf16 131072 on sm_90: rows staged 2 rows ahead) and where
 * the gradients come from the column pass (bf16 262144: +colred, which runs first). dx, dweight and
 * dbias bitwise as out of place. */
static void norm_backward_in_place_case(brc_context *ctx, int64_t R, int64_t C, const char *sku_part) {
    const size_t N = (size_t)(R * C), hb = N * 2, wb = (size_t)C * 2;
    uint64_t rng = 1234;
    tu_buf X = tu_buf_new(BRC_BF16, N), G = tu_buf_new(BRC_BF16, N), DX = tu_buf_new(BRC_BF16, N);
    tu_buf W = tu_buf_new(BRC_BF16, (size_t)C), DW = tu_buf_new(BRC_BF16, (size_t)C), DB = tu_buf_new(BRC_BF16, (size_t)C);
    tu_buf M = tu_buf_new(BRC_F32, (size_t)R), RS = tu_buf_new(BRC_F32, (size_t)R);
    for (size_t i = 0; i < N; i++) put(&X, i, tu_uniform(&rng, -3, 3)), put(&G, i, tu_uniform(&rng, -1, 1));
    for (size_t i = 0; i < W.n; i++) put(&W, i, tu_uniform(&rng, 0.5, 1.5));
    for (size_t i = 0; i < M.n; i++) put(&M, i, tu_uniform(&rng, -0.1, 0.1)), put(&RS, i, tu_uniform(&rng, 0.5, 0.7));
    tu_buf_upload(&W), tu_buf_upload(&M), tu_buf_upload(&RS);
    brc_tensor_desc t = tu_mat(BRC_BF16, R, C, C);
    brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
    brc_plan *p = NULL;
    cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0)
        cr_expect(strstr(brc_plan_sku(p), sku_part) != NULL, "%s", brc_plan_sku(p));
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz);
    unsigned char *want = malloc(hb + 2 * wb), *xh = malloc(hb), *gh = malloc(hb);
    cr_assert(want && xh && gh);
    memcpy(xh, X.h, hb);
    memcpy(gh, G.h, hb);
    /* which 0: out of place; 1: dx is dy; 2: dx is x. */
    for (int which = 0; which < 3; which++) {
        memcpy(X.h, xh, hb);
        memcpy(G.h, gh, hb);
        tu_buf_upload(&X), tu_buf_upload(&G);
        poison(&DX), poison(&DW), poison(&DB);
        tu_buf *out = which == 0 ? &DX : which == 1 ? &G : &X;
        cr_assert_eq(brc_norm_backward_run(p, dp(&X), dp(&G), dp(&W), dp(&M), dp(&RS), dp(out), dp(&DW), dp(&DB),
                                           dp(&WS), wsz, NULL),
                     BRC_STATUS_OK, "%s", brc_last_error());
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        tu_buf_download(out), tu_buf_download(&DW), tu_buf_download(&DB);
        if (which == 0) {
            memcpy(want, DX.h, hb);
            memcpy(want + hb, DW.h, wb);
            memcpy(want + hb + wb, DB.h, wb);
            for (size_t i = 0; i < (size_t)C; i++) cr_assert(!isnan(tu_buf_at(&DW, i)) && !isnan(tu_buf_at(&DB, i)), "written");
        } else {
            const char *how = which == 1 ? "dx is dy" : "dx is x";
            cr_expect(memcmp(want, out->h, hb) == 0, "%s (%lldx%lld): dx differs", how, (long long)R, (long long)C);
            cr_expect(memcmp(want + hb, DW.h, wb) == 0, "%s (%lldx%lld): dweight differs", how, (long long)R, (long long)C);
            cr_expect(memcmp(want + hb + wb, DB.h, wb) == 0, "%s (%lldx%lld): dbias differs", how, (long long)R, (long long)C);
        }
    }
    free(want), free(xh), free(gh);
    brc_plan_destroy(p);
    tu_buf *all[] = {&X, &G, &DX, &W, &M, &RS, &DW, &DB, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_buf_free(all[i]);
}

Test(rows, norm_backward_in_place, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    norm_backward_in_place_case(ctx, 300, 131072, ",owned,");
    norm_backward_in_place_case(ctx, 3, 262144, "+colred+colsum@");
    brc_context_destroy(ctx);
}

/* f32 R x C layer_norm backward: three runs (the last from a captured graph) give the same bits of
 * dweight and dbias. */
static void norm_backward_deterministic_case(brc_context *ctx, int64_t R, int64_t C, bool owned) {
    uint64_t rng = 7;
    tu_buf X = tu_buf_new(BRC_F32, (size_t)(R * C)), G = tu_buf_new(BRC_F32, (size_t)(R * C));
    tu_buf DX = tu_buf_new(BRC_F32, (size_t)(R * C)), W = tu_buf_new(BRC_F32, (size_t)C);
    tu_buf M = tu_buf_new(BRC_F32, (size_t)R), RS = tu_buf_new(BRC_F32, (size_t)R);
    tu_buf DW = tu_buf_new(BRC_F32, (size_t)C), DB = tu_buf_new(BRC_F32, (size_t)C);
    for (size_t i = 0; i < X.n; i++) put(&X, i, tu_uniform(&rng, -3, 3)), put(&G, i, tu_uniform(&rng, -1, 1));
    for (size_t i = 0; i < W.n; i++) put(&W, i, tu_uniform(&rng, 0.5, 1.5));
    for (size_t i = 0; i < M.n; i++) put(&M, i, tu_uniform(&rng, -0.1, 0.1)), put(&RS, i, tu_uniform(&rng, 0.5, 0.7));
    tu_buf_upload(&X), tu_buf_upload(&G), tu_buf_upload(&W), tu_buf_upload(&M), tu_buf_upload(&RS);
    brc_tensor_desc t = tu_mat(BRC_F32, R, C, C);
    brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
    brc_plan *p = NULL;
    cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0)
        cr_expect((strstr(brc_plan_sku(p), ",owned,") != NULL) == owned, "%s", brc_plan_sku(p));
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz);
    unsigned char *first = malloc(2 * (size_t)C * 4);
    cr_assert(first);
    CUstream s;
    cr_assert_eq(brc__cu()->cuStreamCreate(&s, 0), CUDA_SUCCESS);
    for (int rep = 0; rep < 3; rep++) {
        poison(&DW);
        poison(&DB);
        if (rep < 2) {
            cr_assert_eq(brc_norm_backward_run(p, dp(&X), dp(&G), dp(&W), dp(&M), dp(&RS), dp(&DX), dp(&DW), dp(&DB),
                                               dp(&WS), wsz, (brc_stream)s),
                         BRC_STATUS_OK, "%s", brc_last_error());
        } else {
            tu_capture g = tu_capture_begin(0);
            cr_assert_eq(brc_norm_backward_run(p, dp(&X), dp(&G), dp(&W), dp(&M), dp(&RS), dp(&DX), dp(&DW), dp(&DB),
                                               dp(&WS), wsz, (brc_stream)g.s),
                         BRC_STATUS_OK, "%s", brc_last_error());
            tu_capture_end(&g);
            tu_capture_replay(&g);
            tu_capture_free(&g);
        }
        cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
        tu_buf_download(&DW);
        tu_buf_download(&DB);
        if (rep == 0) {
            memcpy(first, DW.h, (size_t)C * 4);
            memcpy(first + C * 4, DB.h, (size_t)C * 4);
            for (size_t i = 0; i < DW.n; i++) cr_assert(!isnan(tu_buf_at(&DW, i)) && !isnan(tu_buf_at(&DB, i)), "written");
        } else {
            cr_expect(memcmp(first, DW.h, (size_t)C * 4) == 0, "dweight differs on run %d", rep);
            cr_expect(memcmp(first + C * 4, DB.h, (size_t)C * 4) == 0, "dbias differs on run %d", rep);
        }
    }
    brc__cu()->cuStreamDestroy(s);
    free(first);
    brc_plan_destroy(p);
    tu_buf *all[] = {&X, &G, &DX, &W, &M, &RS, &DW, &DB, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_buf_free(all[i]);
}

/* The row kernel's partial rows (2048 columns), owned columns in one CTA of 256 threads (4096) and
 * in one of 512 (16384). */
Test(rows, norm_backward_deterministic_and_capturable, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    norm_backward_deterministic_case(ctx, 3000, 2048, false);
    norm_backward_deterministic_case(ctx, 3000, 4096, true);
    norm_backward_deterministic_case(ctx, 600, 16384, true);
    brc_context_destroy(ctx);
}

/* The owned-column suites below: each forces a setting by the measurement knob BARACUDA_ROWS_OWN in
 * its own process, adding sx=1 (owned columns for every softmax backward pick_own fits, also the
 * 16-bit log_softmax backward and rows of 4096, which keep other layouts by default), so that the
 * softmax element ops (rows.cuh, own_bwd with SMX) run in every layout the suite forces. */
typedef struct knob_job {
    int knob;
    brc_dtype dt;
} knob_job;

static struct criterion_test_params knob_params(knob_job *jobs, int nknobs, const brc_dtype *dts, int ndts) {
    for (int k = 0; k < nknobs; k++)
        for (int d = 0; d < ndts; d++) jobs[k * ndts + d] = (knob_job){k, dts[d]};
    return cr_make_param_array(knob_job, jobs, (size_t)(nknobs * ndts));
}

static void owned_knob(const char *kn) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s,sx=1", kn);
    setenv("BARACUDA_ROWS_OWN", buf, 1);
}

/* Every backward variant (softmax, log_softmax, the norms with and without weight / bias) and, with
 * fwds, the forwards without a residual that take owned columns (the norms; softmax / log_softmax in
 * f32), at cases {rows, cols, layout}; the forwards only where cols >= fwd_min. */
static void run_owned_cases(brc_context *ctx, brc_dtype dt, const int64_t (*cases)[3], size_t n, bool fwds,
                            int64_t fwd_min) {
    for (int v = 0; v < NVARIANTS; v++) {
        const variant *vv = &variants[v];
        bool fwd = fwds && !vv->bwd && !vv->res && (vv->op >= OP_RMS || dt == BRC_F32);
        if (!vv->bwd && !fwd) continue;
        for (size_t c = 0; c < n; c++) {
            if (fwd && cases[c][1] < fwd_min) continue;
            run_case(ctx, vv, dt, cases[c][0], cases[c][1], (int)cases[c][2]);
        }
    }
}

/* The owned-column norm backward in one CTA (rows of 4096 and near; docs/rows.md), forced by the
 * measurement knob in this test's process whatever the default: 256 threads with 16 elements a
 * thread, two CTAs an SM and the split barrier as a pair of mbarriers; 512 threads with 6 stages;
 * and one CTA without the split barrier (norm_bwd_own, the plan that once failed to launch). Every
 * backward variant (softmax and log_softmax too: owned_knob), 16-bit and f32, odd row counts (more rows than the persistent grid has CTAs,
 * and fewer), a partial last vector group (4104), vector-preserving strides; float64 references. */
static const char *const one_cta_knobs[] = {"cl=1,tpr=256,mb=2,s1=1", "cl=1,tpr=512,s1=1,st=6",
                                            "cl=1,tpr=256,mb=2,s1=0"};
enum { NONE_CTA_KNOBS = (int)(sizeof one_cta_knobs / sizeof one_cta_knobs[0]) };

ParameterizedTestParameters(rows, norm_backward_one_cta_owned) {
    static knob_job jobs[NONE_CTA_KNOBS * 3];
    static const brc_dtype dts[3] = {BRC_BF16, BRC_F16, BRC_F32};
    return knob_params(jobs, NONE_CTA_KNOBS, dts, 3);
}

ParameterizedTest(knob_job *j, rows, norm_backward_one_cta_owned, .timeout = 600) {
    tu_fresh_cache();
    owned_knob(one_cta_knobs[j->knob]);
    brc_context *ctx = tu_device_or_skip();
    if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0) { /* the layout is the one asked for */
        brc_tensor_desc t = tu_mat(j->dt, 333, 4096, 4096);
        brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
        brc_plan *p = NULL;
        cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "cluster=1,") && strstr(sku, ",owned,"), "%s: %s", one_cta_knobs[j->knob], sku);
        cr_expect((strstr(sku, ",split_barrier,") != NULL) == (strstr(one_cta_knobs[j->knob], "s1=1") != NULL),
                  "%s: %s", one_cta_knobs[j->knob], sku);
        brc_plan_destroy(p);
    }
    /* (rows, cols, layout): 1 row; 333 rows (more than the persistent grid's CTAs, as 1500 in the
     * sizes above) contiguous and 301 with vector-preserving strides; a partial last vector group. */
    static const int64_t cases[][3] = {{1, 4096, 0}, {333, 4096, 0}, {301, 4096, 1}, {77, 4104, 0}, {45, 4104, 1}};
    run_owned_cases(ctx, j->dt, cases, sizeof cases / sizeof cases[0], false, 0);
    brc_context_destroy(ctx);
    unsetenv("BARACUDA_ROWS_OWN");
}

/* The one-CTA owned layouts' dweight / dbias: the same bits on every run and from a graph. */
Test(rows, norm_backward_one_cta_deterministic, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    bool sm90 = strncmp(brc_context_arch(ctx), "sm_90", 5) == 0;
    for (int k = 0; k < NONE_CTA_KNOBS; k++) {
        setenv("BARACUDA_ROWS_OWN", one_cta_knobs[k], 1);
        norm_backward_deterministic_case(ctx, 3001, 4096, sm90);
    }
    unsetenv("BARACUDA_ROWS_OWN");
    brc_context_destroy(ctx);
}

/* Owned columns in clusters of 16 CTAs (sm_90's non-portable cluster size, given at launch with
 * cuLaunchKernelEx) and the split barrier's per-CTA pre-sum (presum), forced by the measurement knob
 * in this test's process whatever the default: clusters of 16 with the split cluster barrier, without
 * it (the backward; the forwards always split it), with the pre-sum; and the pre-sum in the default
 * clusters (8 at 131072: the 16-bit backward, the forwards). Every backward variant (softmax and
 * log_softmax too: owned_knob) and the forwards without a residual (softmax / log_softmax: f32, whose forwards take owned columns), bf16
 * and f32; one row, an odd row count (37: 5 or 6 rows a cluster of the 7 of 16 an H100 holds), and a
 * partial last vector group with vector-preserving strides; float64 references. */
static const char *const c16_knobs[] = {"cl=16,ps=0", "cl=16,sb=0", "cl=16,ps=1", "ps=1"};
enum { NC16_KNOBS = (int)(sizeof c16_knobs / sizeof c16_knobs[0]) };

ParameterizedTestParameters(rows, owned_cluster16) {
    static knob_job jobs[NC16_KNOBS * 2];
    static const brc_dtype dts[2] = {BRC_F32, BRC_BF16};
    return knob_params(jobs, NC16_KNOBS, dts, 2);
}

ParameterizedTest(knob_job *j, rows, owned_cluster16, .timeout = 600) {
    tu_fresh_cache();
    owned_knob(c16_knobs[j->knob]);
    brc_context *ctx = tu_device_or_skip();
    const int64_t C = 131072, Cp = j->dt == BRC_F32 ? 131068 : 131064; /* Cp: a partial last vector group */
    if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0) { /* the layout is the one asked for */
        brc_tensor_desc t = tu_mat(j->dt, 37, C, C);
        brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
        brc_norm_desc f = {BRC_NORM_LAYER, t, t, 1, 1, 0, {0}, {0}, 1e-5};
        brc_plan *p = NULL, *q = NULL;
        cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_assert_eq(brc_norm_plan(ctx, &f, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
        const char *sku = brc_plan_sku(p), *fsku = brc_plan_sku(q), *kn = c16_knobs[j->knob];
        const char *ps = strstr(kn, "ps="); /* the pre-sum as the knob says (else the plan's rule) */
        bool c16 = strstr(kn, "cl=16") != NULL;
        const char *skus[2] = {sku, fsku};
        for (int i = 0; i < 2; i++) {
            const char *k = skus[i];
            /* Clusters of 16: where the knob asks, and by default for the f32 backward of 131072. */
            bool want16 = c16 || (i == 0 && j->dt == BRC_F32);
            cr_expect((strstr(k, "cluster=16,") != NULL) == want16, "%s: %s", kn, k);
            if (want16) cr_expect(strstr(k, ",owned,") != NULL, "%s: %s", kn, k);
            if (ps && strstr(k, ",owned,")) cr_expect((strstr(k, ",presum") != NULL) == (ps[3] == '1'), "%s: %s", kn, k);
        }
        if (c16) cr_expect((strstr(sku, ",split_barrier,") != NULL) == (strstr(kn, "sb=0") == NULL), "%s: %s", kn, sku);
        cr_log_info("%s: %s; %s", c16_knobs[j->knob], sku, fsku);
        brc_plan_destroy(p);
        brc_plan_destroy(q);
    }
    const int64_t cases[][3] = {{1, C, 0}, {37, C, 0}, {21, Cp, 1}};
    run_owned_cases(ctx, j->dt, cases, sizeof cases / sizeof cases[0], j->knob != 1, 0);
    brc_context_destroy(ctx);
    unsetenv("BARACUDA_ROWS_OWN");
}

/* Clusters of 16 (with and without the split barrier, with the pre-sum): dweight / dbias the same
 * bits on every run and from a graph (f32 layer_norm, 37 rows of 131072: clusters taking 5 or 6
 * rows). */
Test(rows, owned_cluster16_deterministic, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    bool sm90 = strncmp(brc_context_arch(ctx), "sm_90", 5) == 0;
    for (int k = 0; k < NC16_KNOBS; k++) {
        if (!strstr(c16_knobs[k], "cl=16")) continue; /* f32 131072 takes owned columns in clusters of 16 only */
        setenv("BARACUDA_ROWS_OWN", c16_knobs[k], 1);
        norm_backward_deterministic_case(ctx, 37, 131072, sm90);
    }
    unsetenv("BARACUDA_ROWS_OWN");
    brc_context_destroy(ctx);
}

/* How the split cluster barrier reads its posted pairs (one load a pair, two f32 pairs a 16-byte load,
 * or a load a half) and whether its arrive releases only the posts (shared_release), forced by the
 * measurement knob in this test's process whatever the default: the previous form (pv=0,fr=0, the
 * default before ln131k), the new one everywhere (also where it is not the default: the bf16 rms_norm
 * backward, the rms_norm forwards), two pairs a load, and the pre-sum with both. Every backward
 * variant (the norms with and without weight / bias, softmax and log_softmax: owned_knob) and the forwards without a residual (softmax / log_softmax
 * f32), bf16 and f32; rows of 131072 (clusters of 16 for the f32 backward, else 8), of 16384 (f32:
 * clusters of 2, 32 posted pairs) and of 32768 (bf16: clusters of 2), one row, odd row counts, a
 * partial last vector group with vector-preserving strides; float64 references. */
static const char *const pair_knobs[] = {"pv=0,fr=0", "pv=1,fr=1", "ps=0,pv=2,fr=1", "ps=1,pv=1,fr=1"};
enum { NPAIR_KNOBS = (int)(sizeof pair_knobs / sizeof pair_knobs[0]) };

ParameterizedTestParameters(rows, owned_pair_loads) {
    static knob_job jobs[NPAIR_KNOBS * 2];
    static const brc_dtype dts[2] = {BRC_F32, BRC_BF16};
    return knob_params(jobs, NPAIR_KNOBS, dts, 2);
}

ParameterizedTest(knob_job *j, rows, owned_pair_loads, .timeout = 600) {
    tu_fresh_cache();
    const char *kn = pair_knobs[j->knob];
    owned_knob(kn);
    brc_context *ctx = tu_device_or_skip();
    const int64_t C = 131072, Cp = j->dt == BRC_F32 ? 131068 : 131064; /* Cp: a partial last vector group */
    if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0) { /* the form is the one asked for */
        brc_tensor_desc t = tu_mat(j->dt, 37, C, C);
        brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
        brc_norm_desc f = {BRC_NORM_RMS, t, t, 1, 0, 0, {0}, {0}, 1e-5};
        brc_plan *p = NULL, *q = NULL;
        cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_assert_eq(brc_norm_plan(ctx, &f, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
        const char *skus[2] = {brc_plan_sku(p), brc_plan_sku(q)};
        for (int i = 0; i < 2; i++) {
            const char *k = skus[i];
            cr_expect(strstr(k, ",split_barrier,") != NULL, "%s: %s", kn, k);
            /* two pairs a load: the f32 backward only (the others one pair a load) */
            const char *want = strstr(kn, "pv=0") ? NULL
                               : strstr(kn, "pv=2") && i == 0 && j->dt == BRC_F32 ? ",pair_loads=2," : ",pair_loads,";
            if (want) cr_expect(strstr(k, want) != NULL, "%s: %s", kn, k);
            else cr_expect(strstr(k, ",pair_loads") == NULL, "%s: %s", kn, k);
            cr_expect((strstr(k, ",shared_release,") != NULL) == (strstr(kn, "fr=1") != NULL), "%s: %s", kn, k);
        }
        cr_log_info("%s: %s; %s", kn, skus[0], skus[1]);
        brc_plan_destroy(p);
        brc_plan_destroy(q);
    }
    const int64_t cases[][3] = {{1, C, 0}, {37, C, 0}, {21, Cp, 1}, {45, 16384, 0}, {19, 16380, 1}, {7, 32768, 0}};
    run_owned_cases(ctx, j->dt, cases, sizeof cases / sizeof cases[0], true, C); /* 16384: one-CTA forwards */
    brc_context_destroy(ctx);
    unsetenv("BARACUDA_ROWS_OWN");
}

/* The same forms: dweight / dbias the same bits on every run and from a graph (f32 layer_norm, 37
 * rows of 131072 in clusters of 16, and 45 rows of 16384 in clusters of 2). */
Test(rows, owned_pair_loads_deterministic, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    bool sm90 = strncmp(brc_context_arch(ctx), "sm_90", 5) == 0;
    for (int k = 0; k < NPAIR_KNOBS; k++) {
        setenv("BARACUDA_ROWS_OWN", pair_knobs[k], 1);
        norm_backward_deterministic_case(ctx, 37, 131072, sm90);
        norm_backward_deterministic_case(ctx, 45, 16384, sm90);
    }
    unsetenv("BARACUDA_ROWS_OWN");
    brc_context_destroy(ctx);
}

/* The softmax / log_softmax forwards of long rows that one CTA does not take at the usual target. In
 * owned columns, clusters of 2 with the restricted release (rows.c pick_own): f32 rows of 16388-32768
 * columns at any row count -- 2049 rows of 32768 (clusters walking 31-32 rows), 2051 of 20000 (5 vectors
 * a thread of 8 places), 2049 of 32764 with vector-preserving strides (a partial last vector group), 1
 * and 7 rows of 32768, 300 of 16388. f32 rows of 8192-16384 columns in one CTA of 256 or 512 threads, two
 * an SM (pick_geo, session 16): 300 of 8192, 5 of 16384 strided, 2001 of 10244 (a partial last vector
 * group of 512 threads). The packed 16-bit rows of 8193-16384 columns (pick_geo, session 16): 2049 and 5
 * rows of 16384, 2050 strided, 3001 of 12000, f16 1023 of 8200 strided. The plan is checked on sm_90;
 * float64 references. */
Test(rows, softmax_forward_owned_columns, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int64_t cases[][4] = {{2049, 32768, 0, BRC_F32}, {2051, 20000, 0, BRC_F32}, {2049, 32764, 1, BRC_F32},
                                       {1, 32768, 0, BRC_F32},    {7, 32768, 1, BRC_F32},    {300, 16388, 0, BRC_F32},
                                       {300, 8192, 0, BRC_F32},   {5, 16384, 1, BRC_F32},    {2049, 16384, 0, BRC_BF16},
                                       {2050, 16384, 1, BRC_BF16}, {5, 16384, 0, BRC_BF16},  {3001, 12000, 0, BRC_BF16},
                                       {1023, 8200, 1, BRC_F16},  {2001, 10244, 0, BRC_F32}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const brc_dtype dt = (brc_dtype)cases[c][3];
        if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0) {
            brc_tensor_desc t = tu_mat(dt, cases[c][0], cases[c][1], cases[c][1]);
            brc_softmax_desc d = {BRC_SOFTMAX_PLAIN, t, t};
            brc_plan *p = NULL;
            cr_assert_eq(brc_softmax_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
            const char *want = dt != BRC_F32            ? "cluster=1,passes=1,packed,"
                               : cases[c][1] <= 16384 ? "cluster=1,passes=1,2_per_sm,"
                                                      : "cluster=2,passes=1,owned,";
            cr_expect(strstr(brc_plan_sku(p), want) != NULL, "%s", brc_plan_sku(p));
            brc_plan_destroy(p);
        }
        for (int v = 0; v < NVARIANTS; v++)
            if (!variants[v].bwd && variants[v].op <= OP_LOG)
                run_case(ctx, &variants[v], dt, cases[c][0], cases[c][1], (int)cases[c][2]);
    }
    brc_context_destroy(ctx);
}

/* The norm backward of short rows with weight / bias gradients: 256-thread CTAs (512 for f32 rows of 256
 * threads), two an SM, each summing its row slots' partial gradients into one partial row
 * (slot_partials; rows.c pick_geo). Row counts many times the persistent grid's row slots (20011 rows
 * of 200: 16 slots a CTA; 9001 of 1000), fewer (3 rows of 2048), vector-preserving and odd strides;
 * every norm backward variant, f32 / f16 / bf16, against float64; then the f32 layer_norm's dweight /
 * dbias the same bits on every run and from a graph. The plan is checked on every GPU. */
Test(rows, norm_backward_slot_partials, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    {
        brc_tensor_desc t = tu_mat(BRC_BF16, 9001, 1000, 1000);
        brc_norm_backward_desc d = {BRC_NORM_LAYER, t, t, t, 1, 1};
        brc_plan *p = NULL;
        cr_assert_eq(brc_norm_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_sku(p), ",slot_partials,2_per_sm,") != NULL, "%s", brc_plan_sku(p));
        brc_plan_destroy(p);
    }
    static const int64_t cases[][4] = {{20011, 200, 0, BRC_BF16}, {9001, 1000, 1, BRC_F16}, {9001, 1000, 0, BRC_F32},
                                       {3, 2048, 0, BRC_F32},      {4099, 2048, 1, BRC_F32}, {777, 520, 2, BRC_BF16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int v = 0; v < NVARIANTS; v++)
            if (variants[v].bwd && variants[v].op >= OP_RMS)
                run_case(ctx, &variants[v], (brc_dtype)cases[c][3], cases[c][0], cases[c][1], (int)cases[c][2]);
    norm_backward_deterministic_case(ctx, 9001, 1000, false);
    norm_backward_deterministic_case(ctx, 4099, 2048, false);
    brc_context_destroy(ctx);
}

/* The f32 log_softmax backward of 8193-16384 columns on sm_90: one 512-thread CTA a row, two an SM, dy
 * held, y read in the output pass (late_y; rows.c pick_geo): 3000 rows of 12000, 5 of 16384 with
 * vector-preserving strides, 777 of 10244 (a partial last vector group), 1 of 8196; float64
 * references; the plan is checked on sm_90. */
Test(rows, log_softmax_backward_late_y, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int64_t cases[][3] = {{3000, 12000, 0}, {5, 16384, 1}, {777, 10244, 0}, {1, 8196, 0}};
    const variant *lv = NULL;
    for (int v = 0; v < NVARIANTS; v++)
        if (variants[v].bwd && variants[v].op == OP_LOG) lv = &variants[v];
    cr_assert(lv);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (strncmp(brc_context_arch(ctx), "sm_90", 5) == 0) {
            brc_tensor_desc t = tu_mat(BRC_F32, cases[c][0], cases[c][1], cases[c][1]);
            brc_softmax_backward_desc d = {BRC_SOFTMAX_LOG, t, t, t};
            brc_plan *p = NULL;
            cr_assert_eq(brc_softmax_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
            cr_expect(strstr(brc_plan_sku(p), "tpr=512,rpb=1,cluster=1,passes=1,2_per_sm,late_y,bwd>") != NULL,
                      "%s", brc_plan_sku(p));
            brc_plan_destroy(p);
        }
        run_case(ctx, lv, BRC_F32, cases[c][0], cases[c][1], (int)cases[c][2]);
    }
    brc_context_destroy(ctx);
}

/* Run-time refusals: each names what is wrong and enqueues nothing. */
Test(rows, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t R = 4, C = 256;
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)(R * C + 64)), Y = tu_buf_new(BRC_BF16, (size_t)(R * C + 64));
    brc_tensor_desc t = tu_mat(BRC_BF16, R, C, C);
    brc_plan *p = NULL, *q = NULL;
    brc_softmax_desc sd = {BRC_SOFTMAX_PLAIN, t, t};
    cr_assert_eq(brc_softmax_plan(ctx, &sd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_softmax_run(p, NULL, dp(&Y), NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "x is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_softmax_run(p, (char *)dp(&X) + 2, dp(&Y), NULL, 0, NULL), BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "not aligned to 16 bytes") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_softmax_backward_run(p, dp(&X), dp(&X), dp(&Y), NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    /* A narrower vector, chosen by preference, takes the unaligned view. */
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 1;
    cr_assert_eq(brc_softmax_plan(ctx, &sd, &pr, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_softmax_run(q, (char *)dp(&X) + 2, dp(&Y), NULL, 0, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(q);
    /* In place with another stride is refused. */
    brc_softmax_desc sd2 = {BRC_SOFTMAX_PLAIN, tu_mat(BRC_BF16, R, C, C + 8), t};
    cr_assert_eq(brc_softmax_plan(ctx, &sd2, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_softmax_run(q, dp(&X), dp(&X), NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "different row stride") != NULL, "%s", brc_last_error());
    brc_plan_destroy(q);
    /* A norm with a weight needs it. */
    brc_norm_desc nd = {BRC_NORM_LAYER, t, t, 1, 1, 0, {0}, {0}, 1e-5};
    cr_assert_eq(brc_norm_plan(ctx, &nd, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_norm_run(q, dp(&X), NULL, NULL, dp(&Y), dp(&Y), NULL, NULL, NULL, NULL, 0, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "weight is NULL") != NULL, "%s", brc_last_error());
    brc_plan_destroy(q);
    brc_norm_backward_desc bd = {BRC_NORM_RMS, t, t, t, 1, 0};
    cr_assert_eq(brc_norm_backward_plan(ctx, &bd, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_norm_backward_run(q, dp(&X), dp(&X), dp(&X), NULL, dp(&Y), dp(&Y), dp(&Y), NULL, NULL, 0, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "workspace of 0 bytes is smaller") != NULL, "%s", brc_last_error());
    brc_plan_destroy(q);
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_free(&X);
    tu_buf_free(&Y);
    brc_context_destroy(ctx);
}
