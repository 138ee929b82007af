/* GPU tests of the loss family against float64 host references on random data with poisoned
 * outputs: cross_entropy (index targets i32 / i64 with ignored rows, class weights, label
 * smoothing; probability targets) and nll_loss, every reduction, forward (loss and the saved lse)
 * and backward (with the saved lse and recomputing it) against the analytic gradient, at classes
 * 1 7 1000 4097 32003 and rows 1 7 33 257 with contiguous, vector-preserving and odd row strides;
 * the pointwise losses (each kind and reduction, weights, pos_weight, log_target, beta = 0) forward
 * and backward at 1 to 2^20 + 5 elements; f32 f64 bf16 (and f16 for a few); plus determinism
 * (bitwise reruns), graph capture, out-of-range class indices (NaN, no fault) and run-time errors.
 * Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- buffers and checking ------------------------------------------------------------------------ */

static double put(tu_buf *b, size_t i, double v) {
    tu_encode(b->t, v, b->h + i * brc_dtype_size(b->t));
    return tu_buf_at(b, i);
}
static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static void *dp(const tu_buf *b) { return (void *)(uintptr_t)b->d; }
static void put_index(tu_buf *b, size_t i, int64_t v) {
    if (b->t == BRC_I64) ((int64_t *)b->h)[i] = v;
    else ((int32_t *)b->h)[i] = (int32_t)v;
}

static double tol_of(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1e-11;
    case BRC_F32: return 2e-5;
    case BRC_F16: return 3e-3;
    default: return 1.2e-2;
    }
}

typedef struct checker {
    const char *what;
    double tol, atol;
    long fails;
    char first[256];
} checker;

/* Below f16's normal range its spacing is absolute (2^-24): half of it. */
static double atol_of(brc_dtype t) { return t == BRC_F16 ? 6e-8 : 0; }

/* |o - r| <= tol * (|r| + m) + atol, m: the magnitude of the terms that cancelled into r. */
static void check(checker *c, double o, double r, double m, int64_t i, int64_t j) {
    double err = fabs(o - r);
    if (err <= c->tol * (fabs(r) + m) + c->atol) return; /* false for NaN: poison never passes */
    if (c->fails++ == 0)
        snprintf(c->first, sizeof c->first, "%s: [%lld, %lld]: got %.9g, want %.9g (terms %.3g)", c->what,
                 (long long)i, (long long)j, o, r, m);
}
static void report(const checker *c, const char *ctx) {
    cr_expect_eq(c->fails, 0, "%s: %ld mismatches; first %s", ctx, c->fails, c->first);
}

static brc_tensor_desc vec1(brc_dtype t, int64_t n) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 1, &n);
    return d;
}
static brc_tensor_desc scalar(brc_dtype t) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 0, NULL);
    return d;
}
static size_t extent(int64_t rows, int64_t cols, int64_t stride) {
    return rows ? (size_t)((rows - 1) * stride + cols) : 0;
}

/* ---- class losses -------------------------------------------------------------------------------- */

typedef struct cvariant {
    int nll, prob, i64, weight, red;
    double smoothing;
    const char *name;
} cvariant;

static const cvariant cvariants[] = {
    {0, 0, 1, 0, BRC_REDUCTION_MEAN, 0, "cross_entropy i64 mean"},
    {0, 0, 1, 0, BRC_REDUCTION_NONE, 0, "cross_entropy i64 none"},
    {0, 0, 0, 0, BRC_REDUCTION_SUM, 0, "cross_entropy i32 sum"},
    {0, 0, 1, 1, BRC_REDUCTION_MEAN, 0, "cross_entropy weight mean"},
    {0, 0, 0, 0, BRC_REDUCTION_MEAN, 0.1, "cross_entropy smoothing mean"},
    {0, 0, 1, 1, BRC_REDUCTION_NONE, 0.25, "cross_entropy weight smoothing none"},
    {0, 0, 1, 1, BRC_REDUCTION_MEAN, 0.25, "cross_entropy weight smoothing mean"},
    {0, 1, 0, 0, BRC_REDUCTION_MEAN, 0, "cross_entropy prob mean"},
    {0, 1, 0, 1, BRC_REDUCTION_SUM, 0.2, "cross_entropy prob weight smoothing sum"},
    {0, 1, 0, 0, BRC_REDUCTION_NONE, 0.1, "cross_entropy prob smoothing none"},
    {1, 0, 1, 1, BRC_REDUCTION_MEAN, 0, "nll_loss weight mean"},
    {1, 0, 0, 0, BRC_REDUCTION_NONE, 0, "nll_loss none"},
    {1, 0, 1, 0, BRC_REDUCTION_SUM, 0, "nll_loss sum"},
};
#define NCV ((int)(sizeof cvariants / sizeof cvariants[0]))

/* (rows, classes) */
static const int64_t csizes[][2] = {{1, 1}, {7, 7}, {257, 7}, {33, 1000}, {7, 4097}, {3, 32003}, {2, 131072}};
#define NCS ((int)(sizeof csizes / sizeof csizes[0]))

static void class_case(brc_context *ctx, const cvariant *v, brc_dtype dt, int64_t N, int64_t C, int k) {
    /* Row strides: contiguous; + 8 (keeps 16-byte vectors); odd (vec = 1). */
    int64_t sx = k % 3 == 0 ? C : k % 3 == 1 ? C + 8 : C + 3;
    int64_t sdx = k % 3 == 0 ? C : k % 3 == 1 ? C + 16 : C + 5;
    int64_t stp = k % 3 == 0 ? C : k % 3 == 1 ? C + 24 : C + 1;
    uint64_t rng = 0xc0ffee + (uint64_t)k * 7919 + (uint64_t)dt * 104729 + (uint64_t)(v - cvariants) * 1299709;
    brc_dtype ct = dt == BRC_F64 ? BRC_F64 : BRC_F32, it = v->i64 ? BRC_I64 : BRC_I32;
    char cx[200];
    snprintf(cx, sizeof cx, "%s %s N=%lld C=%lld strides=%lld/%lld", v->name, brc_dtype_name(dt), (long long)N,
             (long long)C, (long long)sx, (long long)sdx);
    const double eps = v->smoothing;
    const int64_t ignore = -100;
    tu_buf X = tu_buf_new(dt, extent(N, C, sx)), TP = tu_buf_new(dt, extent(N, C, stp));
    tu_buf TI = tu_buf_new(it, (size_t)N), W = tu_buf_new(dt, (size_t)C);
    tu_buf L = tu_buf_new(dt, (size_t)N + 1), LSE = tu_buf_new(ct, (size_t)N);
    tu_buf DY = tu_buf_new(dt, (size_t)N + 1), DX = tu_buf_new(dt, extent(N, C, sdx));
    double *x = malloc((size_t)(N * C) * sizeof(double)), *tp = malloc((size_t)(N * C) * sizeof(double));
    double *w = malloc((size_t)C * sizeof(double)), *dy = malloc((size_t)(N + 1) * sizeof(double));
    int64_t *y = malloc((size_t)N * sizeof(int64_t));
    cr_assert(x && tp && w && dy && y);
    for (int64_t c = 0; c < C; c++) w[c] = v->weight ? put(&W, (size_t)c, tu_uniform(&rng, 0.5, 1.5)) : 1.0;
    for (int64_t r = 0; r < N; r++) {
        double shift = tu_uniform(&rng, -2, 2);
        /* nll_loss takes log-probabilities: any values <= 0 will do for the reference. */
        for (int64_t c = 0; c < C; c++)
            x[r * C + c] = put(&X, (size_t)(r * sx + c), v->nll ? tu_uniform(&rng, -8, 0) : tu_uniform(&rng, -3, 3) + shift);
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += tp[r * C + c] = tu_uniform(&rng, 0, 1);
        for (int64_t c = 0; c < C; c++) tp[r * C + c] = put(&TP, (size_t)(r * stp + c), tp[r * C + c] / s);
        /* Every 5th row ignored; the single row of the first size too (a mean of nothing: NaN). */
        bool ign = (N > 1 && r % 5 == 3) || (N == 1 && k == 0);
        y[r] = ign ? ignore : (int64_t)(tu_rand(&rng) % (uint64_t)C);
        put_index(&TI, (size_t)r, y[r]);
        dy[r] = put(&DY, (size_t)r, tu_uniform(&rng, -1, 1));
    }
    if (v->red != BRC_REDUCTION_NONE) dy[0] = put(&DY, 0, tu_uniform(&rng, 0.5, 1.5));
    tu_buf_upload(&X), tu_buf_upload(&TP), tu_buf_upload(&TI), tu_buf_upload(&W), tu_buf_upload(&DY);

    /* ---- reference ---- */
    double *lse = malloc((size_t)N * sizeof(double)), *l = malloc((size_t)N * sizeof(double));
    double *lm = malloc((size_t)N * sizeof(double)), *dd = malloc((size_t)N * sizeof(double));
    cr_assert(lse && l && lm && dd);
    double W_all = 0, Wabs = 0;
    for (int64_t c = 0; c < C; c++) W_all += w[c], Wabs += fabs(w[c]);
    double suml = 0, summ = 0, sumd = 0;
    for (int64_t r = 0; r < N; r++) {
        const double *xr = x + r * C, *tr = tp + r * C;
        double m = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++) m = fmax(m, xr[c]);
        for (int64_t c = 0; c < C; c++) s += exp(xr[c] - m);
        lse[r] = m + log(s);
        if (v->prob) {
            double a = 0, mag = 0;
            for (int64_t c = 0; c < C; c++) {
                double t2 = (1 - eps) * tr[c] + eps / (double)C;
                a += -w[c] * t2 * (xr[c] - lse[r]);
                mag += fabs(w[c] * t2) * (fabs(xr[c]) + fabs(lse[r]));
            }
            l[r] = a, lm[r] = mag, dd[r] = 1;
        } else if (y[r] == ignore) {
            l[r] = 0, lm[r] = 0, dd[r] = 0;
        } else if (v->nll) {
            l[r] = -w[y[r]] * xr[y[r]], lm[r] = 0, dd[r] = w[y[r]];
        } else {
            double wy = w[y[r]], nl = wy * (lse[r] - xr[y[r]]), sm = 0, smm = 0;
            for (int64_t c = 0; c < C; c++) {
                sm += w[c] * (lse[r] - xr[c]);
                smm += fabs(w[c]) * (fabs(lse[r]) + fabs(xr[c]));
            }
            l[r] = (1 - eps) * nl + eps / (double)C * sm;
            lm[r] = (1 - eps) * wy * (fabs(lse[r]) + fabs(xr[y[r]])) + eps / (double)C * smm;
            dd[r] = wy;
        }
        suml += l[r], summ += lm[r] + fabs(l[r]), sumd += dd[r];
    }

    brc_cross_entropy_desc d = {0};
    d.kind = v->nll ? BRC_LOSS_NLL : BRC_LOSS_CROSS_ENTROPY;
    d.input = tu_mat(dt, N, C, sx);
    d.target_kind = v->prob ? BRC_TARGET_PROB : BRC_TARGET_INDEX;
    d.target = v->prob ? tu_mat(dt, N, C, stp) : vec1(it, N);
    d.has_weight = v->weight;
    d.weight = vec1(dt, C);
    d.ignore_index = ignore;
    d.label_smoothing = eps;
    d.reduction = (brc_loss_reduction)v->red;
    d.loss = v->red == BRC_REDUCTION_NONE ? vec1(dt, N) : scalar(dt);
    brc_plan *p = NULL, *pb = NULL;
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", cx, brc_last_error(),
                 brc_last_jit_log());
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz + 512);
    poison(&WS);
    poison(&L);
    poison(&LSE);
    const void *tgt = v->prob ? dp(&TP) : dp(&TI);
    cr_assert_eq(brc_cross_entropy_run(p, dp(&X), tgt, dp(&W), dp(&L), dp(&LSE), dp(&WS), wsz, NULL), BRC_STATUS_OK,
                 "%s: %s", cx, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", cx);
    cr_log_info("%s: %s", cx, brc_plan_sku(p));
    tu_buf_download(&L);
    tu_buf_download(&LSE);
    checker ck = {"loss", tol_of(dt), atol_of(dt), 0, ""};
    if (v->red == BRC_REDUCTION_NONE) {
        for (int64_t r = 0; r < N; r++) check(&ck, tu_buf_at(&L, (size_t)r), l[r], lm[r], r, -1);
    } else {
        double ref = v->red == BRC_REDUCTION_SUM ? suml : suml / sumd;
        double mag = v->red == BRC_REDUCTION_SUM ? summ : summ / sumd;
        if (v->red == BRC_REDUCTION_MEAN && sumd == 0)
            cr_expect(isnan(tu_buf_at(&L, 0)), "%s: every row ignored: NaN, got %g", cx, tu_buf_at(&L, 0));
        else
            check(&ck, tu_buf_at(&L, 0), ref, mag, -1, -1);
        unsigned char ff[8];
        memset(ff, 0xff, sizeof ff);
        cr_expect(memcmp(L.h + brc_dtype_size(dt), ff, brc_dtype_size(dt)) == 0, "%s: wrote past the scalar", cx);
    }
    report(&ck, cx);
    if (!v->nll) {
        checker cl = {"lse", ct == BRC_F64 ? 1e-12 : 2e-6, 0, 0, ""};
        for (int64_t r = 0; r < N; r++) check(&cl, tu_buf_at(&LSE, (size_t)r), lse[r], 4 + fabs(lse[r]), r, -1);
        report(&cl, cx);
    }

    /* ---- backward: with the saved lse (the reference's, rounded to the compute type) and without ---- */
    brc_cross_entropy_backward_desc bd = {d, tu_mat(dt, N, C, sdx)};
    cr_assert_eq(brc_cross_entropy_backward_plan(ctx, &bd, NULL, &pb), BRC_STATUS_OK, "%s bwd: %s\n%s", cx,
                 brc_last_error(), brc_last_jit_log());
    size_t wsb = brc_plan_workspace_size(pb);
    cr_expect_eq(wsb > 0, v->red == BRC_REDUCTION_MEAN && !v->prob, "%s: backward workspace %zu", cx, wsb);
    for (int64_t r = 0; r < N; r++) lse[r] = put(&LSE, (size_t)r, lse[r]);
    tu_buf_upload(&LSE);
    for (int pass = 0; pass < (v->nll ? 1 : 2); pass++) {
        poison(&DX);
        poison(&WS);
        const void *lp = pass == 0 ? dp(&LSE) : NULL;
        cr_assert_eq(brc_cross_entropy_backward_run(pb, v->nll ? NULL : dp(&X), tgt, dp(&W), lp, dp(&DY), dp(&DX),
                                                    wsb ? dp(&WS) : NULL, wsb, NULL),
                     BRC_STATUS_OK, "%s bwd: %s", cx, brc_last_error());
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: backward kernel failed", cx);
        tu_buf_download(&DX);
        checker cg = {pass == 0 ? "dinput (saved lse)" : "dinput (recomputed lse)", tol_of(dt), atol_of(dt), 0, ""};
        for (int64_t r = 0; r < N; r++) {
            double g = v->red == BRC_REDUCTION_NONE ? dy[r] : v->red == BRC_REDUCTION_SUM ? dy[0] : dy[0] / sumd;
            if (v->red == BRC_REDUCTION_MEAN && v->prob) g = dy[0] / (double)N;
            const double *xr = x + r * C, *tr = tp + r * C;
            double S = 0;
            if (v->prob)
                for (int64_t c = 0; c < C; c++) S += w[c] * ((1 - eps) * tr[c] + eps / (double)C);
            for (int64_t c = 0; c < C; c++) {
                double ref, mag;
                if (v->prob) {
                    double pc = exp(xr[c] - lse[r]), u = w[c] * ((1 - eps) * tr[c] + eps / (double)C);
                    ref = g * (S * pc - u);
                    mag = fabs(g) * (fabs(S) * pc + fabs(u));
                } else if (y[r] == ignore) {
                    ref = 0, mag = 0;
                } else if (v->nll) {
                    ref = c == y[r] ? -g * w[y[r]] : 0, mag = 0;
                } else {
                    double pc = exp(xr[c] - lse[r]), wy = w[y[r]], hit = c == y[r] ? 1 : 0;
                    ref = g * ((1 - eps) * wy * (pc - hit) + eps / (double)C * (W_all * pc - w[c]));
                    mag = fabs(g) * ((1 - eps) * wy * (pc + hit) + eps / (double)C * (Wabs * pc + fabs(w[c])));
                }
                check(&cg, tu_buf_at(&DX, (size_t)(r * sdx + c)), ref, mag, r, c);
            }
        }
        report(&cg, cx);
    }
    brc_plan_destroy(p);
    brc_plan_destroy(pb);
    free(x), free(tp), free(w), free(dy), free(y), free(lse), free(l), free(lm), free(dd);
    tu_buf *all[] = {&X, &TP, &TI, &W, &L, &LSE, &DY, &DX, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_buf_free(all[i]);
}

typedef struct job {
    int v;
    brc_dtype dt;
} job;

static const brc_dtype dtypes[] = {BRC_F32, BRC_F64, BRC_BF16, BRC_F16};

ParameterizedTestParameters(loss, class_losses) {
    static job jobs[NCV * 4];
    for (int v = 0; v < NCV; v++)
        for (int d = 0; d < 4; d++) jobs[v * 4 + d] = (job){v, dtypes[d]};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, loss, class_losses, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    /* f16 at a few sizes only: its kernels are the bf16 ones with another conversion. */
    for (int k = 0; k < NCS; k++)
        if (j->dt != BRC_F16 || k % 3 == 1) class_case(ctx, &cvariants[j->v], j->dt, csizes[k][0], csizes[k][1], k);
    brc_context_destroy(ctx);
}

/* ---- pointwise losses ---------------------------------------------------------------------------- */

typedef struct pvariant {
    brc_pointwise_loss_kind kind;
    int weight, posw, logt;
    double param;
    const char *name;
} pvariant;

static const pvariant pvariants[] = {
    {BRC_LOSS_MSE, 0, 0, 0, 0, "mse"},
    {BRC_LOSS_L1, 0, 0, 0, 0, "l1"},
    {BRC_LOSS_SMOOTH_L1, 0, 0, 0, 0.5, "smooth_l1 beta=0.5"},
    {BRC_LOSS_SMOOTH_L1, 0, 0, 0, 0, "smooth_l1 beta=0"},
    {BRC_LOSS_HUBER, 0, 0, 0, 0.7, "huber delta=0.7"},
    {BRC_LOSS_BCE, 0, 0, 0, 0, "bce"},
    {BRC_LOSS_BCE, 1, 0, 0, 0, "bce weight"},
    {BRC_LOSS_BCE_WITH_LOGITS, 0, 0, 0, 0, "bce_with_logits"},
    {BRC_LOSS_BCE_WITH_LOGITS, 1, 1, 0, 0, "bce_with_logits weight pos_weight"},
    {BRC_LOSS_KL_DIV, 0, 0, 0, 0, "kl_div"},
    {BRC_LOSS_KL_DIV, 0, 0, 1, 0, "kl_div log_target"},
};
#define NPV ((int)(sizeof pvariants / sizeof pvariants[0]))

/* (rows, cols): the element count and the last dim (pos_weight, batchmean's first dim). */
static const int64_t psizes[][2] = {{1, 1}, {1, 7}, {8, 125}, {3, 4097}, {1031, 1021}};
#define NPS ((int)(sizeof psizes / sizeof psizes[0]))

/* Loss and d loss / d x in float64 (PyTorch's definitions, loss.h). */
static void pw_ref(const pvariant *v, double x, double y, double w, double q, double *l, double *lm, double *g,
                   double *gm) {
    double d = x - y, a = fabs(d), p = v->param;
    switch (v->kind) {
    case BRC_LOSS_MSE: *l = d * d, *lm = 0, *g = 2 * d, *gm = 2 * (fabs(x) + fabs(y)); return;
    case BRC_LOSS_L1: *l = a, *lm = fabs(x) + fabs(y), *g = d > 0 ? 1 : d < 0 ? -1 : 0, *gm = 0; return;
    case BRC_LOSS_SMOOTH_L1:
        if (p == 0) *l = a, *g = d > 0 ? 1 : d < 0 ? -1 : 0;
        else *l = a < p ? 0.5 * d * d / p : a - 0.5 * p, *g = d < -p ? -1 : d > p ? 1 : d / p;
        *lm = fabs(x) + fabs(y), *gm = (fabs(x) + fabs(y)) / (p > 0 ? p : 1);
        return;
    case BRC_LOSS_HUBER:
        *l = a <= p ? 0.5 * d * d : p * (a - 0.5 * p), *g = d < -p ? -p : d > p ? p : d;
        *lm = (fabs(x) + fabs(y)) * (1 + p), *gm = fabs(x) + fabs(y);
        return;
    case BRC_LOSS_BCE: {
        double lx = fmax(log(x), -100), l1x = fmax(log1p(-x), -100);
        *l = -w * (y * lx + (1 - y) * l1x), *lm = fabs(w) * (fabs(y * lx) + fabs((1 - y) * l1x));
        double den = fmax((1 - x) * x, 1e-12);
        *g = w * d / den, *gm = fabs(w) * (fabs(x) + fabs(y)) / den;
        return;
    }
    case BRC_LOSS_BCE_WITH_LOGITS: {
        double lw = v->posw ? 1 + (q - 1) * y : 1, sp = log1p(exp(-fabs(x))) + fmax(-x, 0);
        *l = w * ((1 - y) * x + lw * sp), *lm = fabs(w) * (fabs((1 - y) * x) + fabs(lw * sp));
        double sg = 1 / (1 + exp(-x));
        *g = v->posw ? w * ((q * y + 1 - y) * sg - q * y) : w * (sg - y);
        *gm = fabs(w) * ((fabs(q * y) + 1 + fabs(y)) * sg + fabs(q * y));
        return;
    }
    default:
        if (v->logt) *l = exp(y) * (y - x), *lm = exp(y) * (fabs(x) + fabs(y)), *g = -exp(y), *gm = 0;
        else *l = (y == 0 ? 0 : y * log(y)) - y * x, *lm = fabs(y == 0 ? 0 : y * log(y)) + fabs(y * x), *g = -y, *gm = 0;
        return;
    }
}

static void pw_case(brc_context *ctx, const pvariant *v, brc_dtype dt, int red, int64_t R, int64_t C, int k) {
    int64_t n = R * C;
    uint64_t rng = 0xbead + (uint64_t)k * 7919 + (uint64_t)dt * 104729 + (uint64_t)(v - pvariants) * 1299709 +
                   (uint64_t)red * 15485863;
    char cx[200];
    snprintf(cx, sizeof cx, "%s %s reduction=%d shape=%lldx%lld", v->name, brc_dtype_name(dt), red, (long long)R,
             (long long)C);
    tu_buf X = tu_buf_new(dt, (size_t)n), Y = tu_buf_new(dt, (size_t)n), Wt = tu_buf_new(dt, (size_t)n);
    tu_buf Q = tu_buf_new(dt, (size_t)C), L = tu_buf_new(dt, (size_t)n + 1), DY = tu_buf_new(dt, (size_t)n);
    tu_buf DX = tu_buf_new(dt, (size_t)n);
    double *x = malloc((size_t)n * sizeof(double)), *y = malloc((size_t)n * sizeof(double));
    double *w = malloc((size_t)n * sizeof(double)), *q = malloc((size_t)C * sizeof(double));
    double *dy = malloc((size_t)n * sizeof(double));
    cr_assert(x && y && w && q && dy);
    for (int64_t c = 0; c < C; c++) q[c] = v->posw ? put(&Q, (size_t)c, tu_uniform(&rng, 0.3, 3)) : 1;
    for (int64_t i = 0; i < n; i++) {
        double xv, yv;
        switch (v->kind) {
        case BRC_LOSS_BCE: xv = tu_uniform(&rng, 0.02, 0.98), yv = tu_uniform(&rng, 0, 1); break;
        case BRC_LOSS_BCE_WITH_LOGITS: xv = tu_uniform(&rng, -6, 6), yv = tu_uniform(&rng, 0, 1); break;
        case BRC_LOSS_KL_DIV:
            xv = tu_uniform(&rng, -5, 0);
            yv = v->logt ? tu_uniform(&rng, -5, 0) : (i % 10 == 3 ? 0 : tu_uniform(&rng, 0, 1));
            break;
        default: xv = tu_uniform(&rng, -2, 2), yv = tu_uniform(&rng, -2, 2);
        }
        x[i] = put(&X, (size_t)i, xv);
        y[i] = put(&Y, (size_t)i, yv);
        w[i] = v->weight ? put(&Wt, (size_t)i, tu_uniform(&rng, 0.5, 1.5)) : 1;
        dy[i] = put(&DY, (size_t)i, tu_uniform(&rng, -1, 1));
    }
    if (red != BRC_REDUCTION_NONE) dy[0] = put(&DY, 0, tu_uniform(&rng, 0.5, 1.5));
    tu_buf_upload(&X), tu_buf_upload(&Y), tu_buf_upload(&Wt), tu_buf_upload(&Q), tu_buf_upload(&DY);

    brc_pointwise_loss_desc d = {0};
    d.kind = v->kind;
    d.input = tu_mat(dt, R, C, C);
    d.target = d.input;
    d.has_weight = v->weight;
    d.weight = d.input;
    d.has_pos_weight = v->posw;
    d.pos_weight = vec1(dt, C);
    d.reduction = (brc_loss_reduction)red;
    d.param = v->param;
    d.log_target = v->logt;
    d.loss = red == BRC_REDUCTION_NONE ? d.input : scalar(dt);
    brc_plan *p = NULL, *pb = NULL;
    cr_assert_eq(brc_pointwise_loss_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", cx, brc_last_error(),
                 brc_last_jit_log());
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz + 256);
    poison(&WS);
    poison(&L);
    cr_assert_eq(brc_pointwise_loss_run(p, dp(&X), dp(&Y), dp(&Wt), dp(&Q), dp(&L), dp(&WS), wsz, NULL), BRC_STATUS_OK,
                 "%s: %s", cx, brc_last_error());
    brc_pointwise_loss_backward_desc bd = {d, d.input};
    cr_assert_eq(brc_pointwise_loss_backward_plan(ctx, &bd, NULL, &pb), BRC_STATUS_OK, "%s bwd: %s\n%s", cx,
                 brc_last_error(), brc_last_jit_log());
    cr_expect_eq(brc_plan_workspace_size(pb), 0, "%s: the backward needs no workspace", cx);
    poison(&DX);
    cr_assert_eq(brc_pointwise_loss_backward_run(pb, dp(&X), dp(&Y), dp(&Wt), dp(&Q), dp(&DY), dp(&DX), NULL, 0, NULL),
                 BRC_STATUS_OK, "%s bwd: %s", cx, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", cx);
    cr_log_info("%s: %s / %s", cx, brc_plan_sku(p), brc_plan_sku(pb));
    tu_buf_download(&L);
    tu_buf_download(&DX);
    double div = red == BRC_REDUCTION_MEAN ? (double)n : red == BRC_REDUCTION_BATCHMEAN ? (double)R : 1;
    checker cl = {"loss", tol_of(dt), 0, 0, ""}, cg = {"dinput", tol_of(dt), 0, 0, ""};
    double sum = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        double l, lm, g, gm;
        pw_ref(v, x[i], y[i], w[i], q[i % C], &l, &lm, &g, &gm);
        sum += l, mag += fabs(l) + lm;
        if (red == BRC_REDUCTION_NONE) check(&cl, tu_buf_at(&L, (size_t)i), l, lm, i, -1);
        double gs = red == BRC_REDUCTION_NONE ? dy[i] : dy[0] / div;
        check(&cg, tu_buf_at(&DX, (size_t)i), gs * g, fabs(gs) * gm, i, -1);
    }
    if (red != BRC_REDUCTION_NONE) {
        check(&cl, tu_buf_at(&L, 0), sum / div, mag / div, -1, -1);
        unsigned char ff[8];
        memset(ff, 0xff, sizeof ff);
        cr_expect(memcmp(L.h + brc_dtype_size(dt), ff, brc_dtype_size(dt)) == 0, "%s: wrote past the scalar", cx);
    }
    report(&cl, cx);
    report(&cg, cx);
    brc_plan_destroy(p);
    brc_plan_destroy(pb);
    free(x), free(y), free(w), free(q), free(dy);
    tu_buf *all[] = {&X, &Y, &Wt, &Q, &L, &DY, &DX, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_buf_free(all[i]);
}

ParameterizedTestParameters(loss, pointwise_losses) {
    static job jobs[NPV * 3];
    for (int v = 0; v < NPV; v++)
        for (int d = 0; d < 3; d++) jobs[v * 3 + d] = (job){v, dtypes[d]};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, loss, pointwise_losses, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const pvariant *v = &pvariants[j->v];
    int nred = v->kind == BRC_LOSS_KL_DIV ? 4 : 3;
    for (int red = 0; red < nred; red++)
        for (int k = 0; k < NPS; k++) pw_case(ctx, v, j->dt, red, psizes[k][0], psizes[k][1], k);
    brc_context_destroy(ctx);
}

/* ---- behaviour beyond the values ----------------------------------------------------------------- */

/* Mean losses are the same bits on every run (no atomics), also from a captured graph; gradients too. */
Test(loss, deterministic_and_capturable, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t N = 3001, C = 4097, n = (1 << 20) + 5;
    uint64_t rng = 17;
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)(N * C)), T = tu_buf_new(BRC_I64, (size_t)N);
    tu_buf A = tu_buf_new(BRC_F32, (size_t)n), B = tu_buf_new(BRC_F32, (size_t)n);
    tu_buf L = tu_buf_new(BRC_BF16, 1), M = tu_buf_new(BRC_F32, 1), DY = tu_buf_new(BRC_BF16, 1);
    tu_buf DX = tu_buf_new(BRC_BF16, (size_t)(N * C));
    for (size_t i = 0; i < X.n; i++) put(&X, i, tu_uniform(&rng, -4, 4));
    for (size_t i = 0; i < T.n; i++) ((int64_t *)T.h)[i] = (int64_t)(tu_rand(&rng) % (uint64_t)C);
    for (size_t i = 0; i < A.n; i++) put(&A, i, tu_uniform(&rng, -2, 2)), put(&B, i, tu_uniform(&rng, -2, 2));
    put(&DY, 0, 1.0);
    tu_buf_upload(&X), tu_buf_upload(&T), tu_buf_upload(&A), tu_buf_upload(&B), tu_buf_upload(&DY);
    brc_cross_entropy_desc d = {0};
    d.kind = BRC_LOSS_CROSS_ENTROPY;
    d.input = tu_mat(BRC_BF16, N, C, C);
    d.target = vec1(BRC_I64, N);
    d.weight = vec1(BRC_BF16, C);
    d.ignore_index = -100;
    d.label_smoothing = 0.1;
    d.reduction = BRC_REDUCTION_MEAN;
    d.loss = scalar(BRC_BF16);
    brc_pointwise_loss_desc pd = {0};
    pd.kind = BRC_LOSS_MSE;
    pd.input = vec1(BRC_F32, n);
    pd.target = pd.input;
    pd.reduction = BRC_REDUCTION_MEAN;
    pd.loss = scalar(BRC_F32);
    brc_plan *p = NULL, *pb = NULL, *q = NULL;
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_cross_entropy_backward_desc bd = {d, d.input};
    cr_assert_eq(brc_cross_entropy_backward_plan(ctx, &bd, NULL, &pb), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_pointwise_loss_plan(ctx, &pd, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    size_t w1 = brc_plan_workspace_size(p), w2 = brc_plan_workspace_size(q), w3 = brc_plan_workspace_size(pb);
    size_t wmax = w1 > w2 ? w1 : w2;
    wmax = wmax > w3 ? wmax : w3;
    tu_buf WS = tu_buf_new(BRC_U8, wmax);
    CUstream s;
    cr_assert_eq(brc__cu()->cuStreamCreate(&s, 0), CUDA_SUCCESS);
    uint16_t l0 = 0;
    float m0 = 0;
    unsigned char *dx0 = malloc(DX.n * 2);
    cr_assert(dx0);
    for (int rep = 0; rep < 3; rep++) {
        poison(&L), poison(&M), poison(&DX);
        tu_capture g = {0};
        brc_stream st = (brc_stream)s; /* the third run: captured on the capture's own stream, then replayed */
        if (rep == 2) g = tu_capture_begin(0), st = (brc_stream)g.s;
        cr_assert_eq(brc_cross_entropy_run(p, dp(&X), dp(&T), NULL, dp(&L), NULL, dp(&WS), w1, st), BRC_STATUS_OK,
                     "%s", brc_last_error());
        cr_assert_eq(brc_pointwise_loss_run(q, dp(&A), dp(&B), NULL, NULL, dp(&M), dp(&WS), w2, st), BRC_STATUS_OK,
                     "%s", brc_last_error());
        cr_assert_eq(brc_cross_entropy_backward_run(pb, dp(&X), dp(&T), NULL, NULL, dp(&DY), dp(&DX), dp(&WS), w3, st),
                     BRC_STATUS_OK, "%s", brc_last_error());
        if (rep == 2) tu_capture_end(&g), tu_capture_replay(&g), tu_capture_free(&g);
        cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
        tu_buf_download(&L), tu_buf_download(&M), tu_buf_download(&DX);
        uint16_t lb;
        float mb;
        memcpy(&lb, L.h, 2);
        memcpy(&mb, M.h, 4);
        if (rep == 0) {
            l0 = lb, m0 = mb;
            memcpy(dx0, DX.h, DX.n * 2);
            cr_expect(!isnan(tu_buf_at(&L, 0)) && !isnan(tu_buf_at(&M, 0)), "written");
        } else {
            cr_expect_eq(lb, l0, "cross_entropy mean differs on run %d", rep);
            cr_expect(memcmp(&mb, &m0, 4) == 0, "mse mean differs on run %d", rep);
            cr_expect(memcmp(dx0, DX.h, DX.n * 2) == 0, "dlogits differ on run %d", rep);
        }
    }
    brc__cu()->cuStreamDestroy(s);
    free(dx0);
    brc_plan_destroy(p), brc_plan_destroy(pb), brc_plan_destroy(q);
    tu_buf *all[] = {&X, &T, &A, &B, &L, &M, &DY, &DX, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tu_buf_free(all[i]);
    brc_context_destroy(ctx);
}

/* A class index outside [0, C) that is not ignore_index: that row's loss and gradient are NaN, the
 * rest are right, and nothing outside the buffers is touched (the padding stays poisoned). */
Test(loss, out_of_range_index_is_nan_and_memory_safe, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t N = 4, C = 64;
    tu_buf X = tu_buf_new(BRC_F32, (size_t)(N * C)), T = tu_buf_new(BRC_I32, (size_t)N);
    tu_buf L = tu_buf_new(BRC_F32, (size_t)N + 8), DX = tu_buf_new(BRC_F32, (size_t)(N * C) + 8);
    tu_buf DY = tu_buf_new(BRC_F32, (size_t)N);
    uint64_t rng = 5;
    for (size_t i = 0; i < X.n; i++) put(&X, i, tu_uniform(&rng, -1, 1));
    int32_t tv[4] = {3, 64, -7, 10};
    memcpy(T.h, tv, sizeof tv);
    for (size_t i = 0; i < DY.n; i++) put(&DY, i, 1.0);
    tu_buf_upload(&X), tu_buf_upload(&T), tu_buf_upload(&DY);
    brc_cross_entropy_desc d = {0};
    d.input = tu_mat(BRC_F32, N, C, C);
    d.target = vec1(BRC_I32, N);
    d.weight = vec1(BRC_F32, C);
    d.ignore_index = -100;
    d.reduction = BRC_REDUCTION_NONE;
    d.loss = vec1(BRC_F32, N);
    brc_plan *p = NULL, *pb = NULL;
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_cross_entropy_backward_desc bd = {d, d.input};
    cr_assert_eq(brc_cross_entropy_backward_plan(ctx, &bd, NULL, &pb), BRC_STATUS_OK, "%s", brc_last_error());
    poison(&L), poison(&DX);
    cr_assert_eq(brc_cross_entropy_run(p, dp(&X), dp(&T), NULL, dp(&L), NULL, NULL, 0, NULL), BRC_STATUS_OK);
    cr_assert_eq(brc_cross_entropy_backward_run(pb, dp(&X), dp(&T), NULL, NULL, dp(&DY), dp(&DX), NULL, 0, NULL),
                 BRC_STATUS_OK);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "no fault");
    tu_buf_download(&L), tu_buf_download(&DX);
    cr_expect(!isnan(tu_buf_at(&L, 0)) && !isnan(tu_buf_at(&L, 3)), "valid rows have a loss");
    cr_expect(isnan(tu_buf_at(&L, 1)) && isnan(tu_buf_at(&L, 2)), "out-of-range rows are NaN");
    for (int64_t c = 0; c < C; c++) {
        cr_expect(!isnan(tu_buf_at(&DX, (size_t)c)), "row 0 gradient");
        cr_expect(isnan(tu_buf_at(&DX, (size_t)(C + c))), "row 1 gradient is NaN");
    }
    unsigned char ff[32];
    memset(ff, 0xff, sizeof ff);
    cr_expect(memcmp(L.h + N * 4, ff, 32) == 0, "nothing written past the loss");
    cr_expect(memcmp(DX.h + N * C * 4, ff, 32) == 0, "nothing written past dinput");
    brc_plan_destroy(p), brc_plan_destroy(pb);
    tu_buf_free(&X), tu_buf_free(&T), tu_buf_free(&L), tu_buf_free(&DX), tu_buf_free(&DY);
    brc_context_destroy(ctx);
}

/* Run-time refusals: each names what is wrong. */
Test(loss, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t N = 4, C = 256;
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)(N * C)), T = tu_buf_new(BRC_I64, (size_t)N);
    tu_buf L = tu_buf_new(BRC_BF16, 8);
    brc_cross_entropy_desc d = {0};
    d.input = tu_mat(BRC_BF16, N, C, C);
    d.target = vec1(BRC_I64, N);
    d.weight = vec1(BRC_BF16, C);
    d.has_weight = 1;
    d.ignore_index = -100;
    d.reduction = BRC_REDUCTION_MEAN;
    d.loss = scalar(BRC_BF16);
    brc_plan *p = NULL;
    cr_assert_eq(brc_cross_entropy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz);
    cr_expect_eq(brc_cross_entropy_run(p, dp(&X), dp(&T), dp(&X), dp(&L), NULL, dp(&WS), wsz - 1, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "smaller than") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_cross_entropy_run(p, dp(&X), dp(&T), NULL, dp(&L), NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "weight is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_cross_entropy_run(p, (char *)dp(&X) + 2, dp(&T), dp(&X), dp(&L), NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "input") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_cross_entropy_run(p, dp(&X), (char *)dp(&T) + 4, dp(&X), dp(&L), NULL, dp(&WS), wsz, NULL),
                 BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "target") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_cross_entropy_backward_run(p, dp(&X), dp(&T), dp(&X), NULL, dp(&L), dp(&X), dp(&WS), wsz, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_free(&X), tu_buf_free(&T), tu_buf_free(&L), tu_buf_free(&WS);
    brc_context_destroy(ctx);
}
