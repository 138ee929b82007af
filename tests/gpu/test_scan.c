/* GPU tests of the scan family: cumsum, cumprod, cummax, cummin and logcumsumexp, forward and
 * backward, from the start and from the end, in f32 f64 f16 bf16, against float64 host references
 * (backward: the analytic gradient in f64) on random data with poisoned outputs, at axis lengths 1
 * 7 33 1000 4097 100003 300007 and 2^21 + 8, along the last, first and a middle dim, with padded,
 * column-major and flipped (negative-stride) views, reaching every layout (rows with and without
 * vectors, a warp per row, cols with and without vectors, and both split paths). Plus hand-checked semantics (ties, NaN,
 * -inf, zeros in cumprod's backward), determinism, graph capture and run-time errors. Skips
 * without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { CUMSUM, CUMPROD, CUMMAX, CUMMIN, LCSE };
static const char *const op_names[] = {"cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"};
static const brc_dtype dtypes[] = {BRC_F32, BRC_F64, BRC_BF16, BRC_F16};

/* ---- views: a logical tensor placed in a buffer by strides ------------------------------------------ */

enum { CONTIG, PAD_ODD, COLMAJOR, FLIP, PAD_VEC };

typedef struct view {
    brc_tensor_desc t;
    int64_t base; /* element offset of index 0 in the buffer (> 0 for negative strides) */
    size_t n;     /* buffer elements */
} view;

static view make_view(brc_dtype dt, int rank, const int64_t *shape, int style, int dim) {
    view v;
    memset(&v, 0, sizeof v);
    brc_tensor_desc_contiguous(&v.t, dt, rank, shape);
    if (style == COLMAJOR) {
        int64_t s = 1;
        for (int d = 0; d < rank; d++) v.t.strides[d] = s, s *= shape[d];
    } else if (style == PAD_ODD || style == PAD_VEC) {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            v.t.strides[d] = s;
            s = s * shape[d] + (d == rank - 1 ? (style == PAD_ODD ? 1 : 16) : 0);
        }
    }
    if (style == FLIP) {
        v.t.strides[dim] = -v.t.strides[dim];
        v.base = (shape[dim] - 1) * -v.t.strides[dim];
    }
    int64_t hi = v.base;
    for (int d = 0; d < rank; d++)
        if (v.t.strides[d] > 0) hi += (shape[d] - 1) * v.t.strides[d];
    v.n = (size_t)(hi + 1);
    return v;
}

/* Buffer offset of the logical (row-major) element lin. */
static int64_t offset_of(const view *v, int64_t lin) {
    int64_t off = v->base;
    for (int d = v->t.rank - 1; d >= 0; d--) {
        int64_t n = v->t.shape[d];
        off += (lin % n) * v->t.strides[d];
        lin /= n;
    }
    return off;
}

static double put(tu_buf *b, int64_t i, double x) {
    tu_encode(b->t, x, b->h + (size_t)i * brc_dtype_size(b->t));
    return tu_buf_at(b, (size_t)i);
}
static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static void *at(const tu_buf *b, const view *v) {
    return (void *)(uintptr_t)(b->d + (CUdeviceptr)((size_t)v->base * brc_dtype_size(b->t)));
}
static int64_t idx_at(const tu_buf *b, int64_t i) {
    int64_t k;
    memcpy(&k, b->h + (size_t)i * 8, 8);
    return k;
}

/* ---- checking ----------------------------------------------------------------------------------------- */

/* Unit roundoffs: of the stored dtype and of the compute type. */
static double u_store(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1.2e-16;
    case BRC_F32: return 6.0e-8;
    case BRC_F16: return 4.9e-4;
    default: return 3.9e-3;
    }
}
static double u_comp(brc_dtype t) { return t == BRC_F64 ? 1.2e-16 : 6.0e-8; }
/* Below the normal range the spacing is absolute: a few of the smallest normals (f16: its
 * subnormal spacing, since f16 results are computed in f32). */
static double tiny(brc_dtype t) { return t == BRC_F64 ? 1e-306 : t == BRC_F16 ? 6e-8 : 5e-38; }

typedef struct checker {
    const char *what;
    long fails;
    char first[300];
} checker;

/* |o - r| <= bound; false for NaN, so poison never passes. */
static void check(checker *c, double o, double r, double bound, int64_t line, int64_t pos) {
    if (fabs(o - r) <= bound) return;
    if (c->fails++ == 0)
        snprintf(c->first, sizeof c->first, "%s: line %lld pos %lld: got %.10g, want %.10g (bound %.3g)", c->what,
                 (long long)line, (long long)pos, o, r, bound);
}

/* ---- one case ----------------------------------------------------------------------------------------- */

typedef struct tcase {
    int rank;
    int64_t shape[3];
    int dim;
    int sx, sy; /* view styles of the inputs and of the outputs */
} tcase;

static const tcase cases[] = {
    {1, {1}, 0, CONTIG, CONTIG},
    {1, {7}, 0, CONTIG, CONTIG},
    {1, {33}, -1, CONTIG, CONTIG},
    {2, {3, 1000}, -1, PAD_ODD, CONTIG},      /* rows, vec = 1 */
    {2, {257, 1024}, 1, PAD_VEC, PAD_VEC},    /* rows, vectors, padded lines */
    {2, {64, 33}, -1, CONTIG, CONTIG},        /* a warp per row, 4 rows per CTA */
    {2, {5, 4097}, 1, CONTIG, FLIP},          /* rows for x; y flipped: cols */
    {1, {100003}, 0, CONTIG, CONTIG},         /* rows, split */
    {2, {2, 300007}, 1, PAD_ODD, PAD_ODD},    /* rows, vec = 1, split */
    {2, {1000, 7}, 0, CONTIG, PAD_ODD},       /* first dim: cols, split */
    {3, {3, 33, 7}, 1, COLMAJOR, CONTIG},     /* middle dim, column-major x */
    {3, {4, 1000, 5}, -2, FLIP, CONTIG},      /* middle dim, flipped x: cols, split */
    {2, {4097, 3}, 0, CONTIG, CONTIG},        /* cols, split, long axis */
    {2, {9, 70001}, 0, CONTIG, CONTIG},       /* cols, one pass (many lines) */
    {2, {1000, 64}, 0, CONTIG, PAD_VEC},      /* cols, 16-byte vectors across lines, split */
    {3, {2, 3000, 16}, 1, CONTIG, CONTIG},    /* cols, vectors, middle dim, split */
    {2, {33, 20000}, 0, PAD_VEC, CONTIG},     /* cols, vectors, one pass */
    {1, {(1 << 21) + 8}, 0, CONTIG, CONTIG},  /* > 2^20: rows, multi-CTA */
    {2, {20011, 40}, 0, CONTIG, PAD_VEC},     /* cols, one pass: 157+ chunks, chunk groups of 13+ */
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct variant {
    int op, bwd;
} variant;

/* Host data of one case, logical row-major order, as stored (rounded to the dtype). */
typedef struct host {
    int64_t N, len, outer, inner;
    double *x, *dy, *y; /* y: the forward's output, rounded (backward input) */
    int64_t *k;         /* the forward's index (cummax / cummin) */
} host;

/* Logical index of scan position q of line (o, i). */
static int64_t lin_of(const host *h, int64_t o, int64_t i, int64_t q, int rev) {
    int64_t p = rev ? h->len - 1 - q : q;
    return (o * h->len + p) * h->inner + i;
}

/* The forward in f64 on one line: values r (and index k) in scan order, and the magnitude m that
 * bounds its rounding (running sum of |x| for cumsum, |r| for cumprod, |r| + 1 for logcumsumexp). */
static void ref_forward(int op, const host *h, int64_t o, int64_t i, int rev, double *r, int64_t *k, double *m) {
    double acc = op == CUMPROD ? 1 : 0, mag = 0, best = 0;
    int64_t bk = -1;
    for (int64_t q = 0; q < h->len; q++) {
        int64_t l = lin_of(h, o, i, q, rev);
        double x = h->x[l];
        int64_t pos = rev ? h->len - 1 - q : q;
        switch (op) {
        case CUMSUM: acc += x, mag += fabs(x); r[q] = acc, m[q] = mag; break;
        case CUMPROD: acc *= x; r[q] = acc, m[q] = fabs(acc); break;
        case CUMMAX:
        case CUMMIN: {
            /* Ties: the later position in scan order; NaN wins, a later NaN over an earlier one. */
            bool take = bk < 0 || isnan(x) || (!isnan(best) && (op == CUMMAX ? x >= best : x <= best));
            if (take) best = x, bk = pos;
            r[q] = best, k[q] = bk, m[q] = 0;
            break;
        }
        default: {
            if (q == 0) acc = x;
            else {
                double mx = fmax(acc, x), mn = fmin(acc, x);
                acc = mn == -INFINITY ? mx : mx + log1p(exp(mn - mx));
            }
            r[q] = acc, m[q] = fabs(acc) + 1;
        }
        }
    }
}

/* The backward in f64 on one line (scan order): the analytic gradient r and the magnitude m of
 * the terms that sum into it. */
static void ref_backward(int op, const host *h, int64_t o, int64_t i, int rev, double *r, double *m) {
    int64_t n = h->len;
    double *xs = malloc((size_t)n * sizeof(double)), *gs = malloc((size_t)n * sizeof(double));
    double *ys = malloc((size_t)n * sizeof(double));
    int64_t *ks = malloc((size_t)n * sizeof(int64_t));
    cr_assert(xs && gs && ys && ks);
    for (int64_t q = 0; q < n; q++) {
        int64_t l = lin_of(h, o, i, q, rev);
        xs[q] = h->x[l], gs[q] = h->dy[l], ys[q] = h->y ? h->y[l] : 0, ks[q] = h->k ? h->k[l] : 0;
    }
    if (op == CUMSUM) {
        double s = 0, a = 0;
        for (int64_t q = n - 1; q >= 0; q--) s += gs[q], a += fabs(gs[q]), r[q] = s, m[q] = a;
    } else if (op == CUMPROD) {
        /* dx_i = L_{i-1} T_i, L the exact exclusive product of x, T_i = dy_i + x_{i+1} T_{i+1}. */
        double t = 0, ta = 0;
        for (int64_t q = n - 1; q >= 0; q--) {
            t = gs[q] + (q + 1 < n ? xs[q + 1] * t : 0);
            ta = fabs(gs[q]) + (q + 1 < n ? fabs(xs[q + 1]) * ta : 0);
            r[q] = t, m[q] = ta;
        }
        double L = 1;
        for (int64_t q = 0; q < n; q++) r[q] *= L, m[q] *= fabs(L), L *= xs[q];
        if (n <= 200) /* the O(n) reference against the definition */
            for (int64_t q = 0; q < n; q++) {
                double s = 0;
                for (int64_t j = q; j < n; j++) {
                    double p = gs[j];
                    for (int64_t kk = 0; kk <= j; kk++)
                        if (kk != q) p *= xs[kk];
                    s += p;
                }
                cr_assert(fabs(s - r[q]) <= 1e-9 * (m[q] + 1e-300), "cumprod reference: %g vs %g", s, r[q]);
            }
    } else if (op == CUMMAX || op == CUMMIN) {
        for (int64_t q = 0; q < n; q++) r[q] = 0, m[q] = 0;
        /* Scatter dy_j onto the scan position of its saved index. */
        for (int64_t q = 0; q < n; q++) {
            int64_t tq = rev ? n - 1 - ks[q] : ks[q];
            r[tq] += gs[q], m[tq] += fabs(gs[q]);
        }
    } else {
        /* dx_i = sum_{j>=i} dy_j exp(x_i - y_j), with the stored y: S_i = dy_i + exp(y_i - y_{i+1}) S_{i+1}. */
        double s = 0, a = 0;
        for (int64_t q = n - 1; q >= 0; q--) {
            double f = q + 1 < n ? exp(ys[q] - ys[q + 1]) : 0;
            s = gs[q] + f * s, a = fabs(gs[q]) + f * a;
            r[q] = exp(xs[q] - ys[q]) * s, m[q] = exp(xs[q] - ys[q]) * a;
        }
        if (n <= 200)
            for (int64_t q = 0; q < n; q++) {
                double d = 0;
                for (int64_t j = q; j < n; j++) d += gs[j] * exp(xs[q] - ys[j]);
                cr_assert(fabs(d - r[q]) <= 1e-9 * (m[q] + 1e-300), "logcumsumexp reference: %g vs %g", d, r[q]);
            }
    }
    free(xs), free(gs), free(ys), free(ks);
}

/* mark: a text the plan's SKU must hold (NULL: none). */
static void run_case(brc_context *ctx, variant v, brc_dtype dt, const tcase *tc, int rev, int ci, const char *mark) {
    char what[240];
    snprintf(what, sizeof what, "%s %s %s case %d shape %lldx%lldx%lld dim %d reverse %d", op_names[v.op],
             v.bwd ? "bwd" : "fwd", brc_dtype_name(dt), ci, (long long)tc->shape[0],
             tc->rank > 1 ? (long long)tc->shape[1] : 1LL, tc->rank > 2 ? (long long)tc->shape[2] : 1LL, tc->dim, rev);
    int rank = tc->rank, dim = tc->dim < 0 ? tc->dim + rank : tc->dim;
    host h = {1, tc->shape[dim], 1, 1, NULL, NULL, NULL, NULL};
    for (int d = 0; d < rank; d++) {
        h.N *= tc->shape[d];
        if (d < dim) h.outer *= tc->shape[d];
        if (d > dim) h.inner *= tc->shape[d];
    }
    view vx = make_view(dt, rank, tc->shape, tc->sx, dim), vy = make_view(dt, rank, tc->shape, tc->sy, dim);
    view vk = make_view(BRC_I64, rank, tc->shape, tc->sy, dim), vki = make_view(BRC_I64, rank, tc->shape, tc->sx, dim);
    tu_buf X = tu_buf_new(dt, vx.n), G = tu_buf_new(dt, vx.n), Y = tu_buf_new(dt, vx.n), KI = tu_buf_new(BRC_I64, vki.n);
    tu_buf O = tu_buf_new(dt, vy.n), KO = tu_buf_new(BRC_I64, vk.n);
    size_t N = (size_t)h.N;
    h.x = malloc(N * sizeof(double)), h.dy = malloc(N * sizeof(double));
    h.y = malloc(N * sizeof(double)), h.k = malloc(N * sizeof(int64_t));
    cr_assert(h.x && h.dy && h.y && h.k);

    /* Inputs, by op: see the comments of each. Every value is stored first, then read back. */
    uint64_t rng = 0x5ca1ab1e + (uint64_t)ci * 7919 + (uint64_t)dt * 104729 + (uint64_t)(v.op * 2 + v.bwd) * 1299709 +
                   (uint64_t)rev;
    double big = ci % 2 ? 300 : 3;                     /* logcumsumexp: large magnitudes on odd cases */
    for (int64_t l = 0; l < h.N; l++) {
        double x;
        switch (v.op) {
        case CUMSUM: x = (double)(tu_rand(&rng) % 7) - 3; break; /* integers: exact sums, any drop shows */
        case CUMPROD: x = 1; break;                              /* below, line by line */
        case CUMMAX:
        case CUMMIN: x = (double)(tu_rand(&rng) % 9) * 0.25 - 1; break; /* few values: many ties */
        default: x = tu_uniform(&rng, -big, big);
        }
        h.x[l] = put(&X, offset_of(&vx, l), x);
        /* dy: integers where the gradient is a plain sum (exact), else uniform. */
        double g = v.op == CUMSUM || v.op == CUMMAX || v.op == CUMMIN ? (double)(tu_rand(&rng) % 7) - 3
                                                                      : tu_uniform(&rng, -1, 1);
        h.dy[l] = put(&G, offset_of(&vx, l), g);
    }
    /* cumprod: x = +-exp(u), |u| <= a, u pulled toward keeping |log y| <= 1 along each line (so
     * that long products neither overflow nor drift away through the dtype's rounding); zeros in
     * the backward's x: it must not divide. a is at least a few ulps of bf16, so that a dropped or
     * repeated element shows. */
    if (v.op == CUMPROD) {
        double a = fmax(0.02, fmin(0.5, 3.0 / sqrt((double)h.len)));
        for (int64_t o = 0; o < h.outer; o++)
            for (int64_t i = 0; i < h.inner; i++) {
                double lg = 0;
                for (int64_t q = 0; q < h.len; q++) {
                    int64_t l = lin_of(&h, o, i, q, rev);
                    double u = tu_uniform(&rng, -a, a);
                    if (lg > 1) u = -fabs(u);
                    if (lg < -1) u = fabs(u);
                    double x = exp(u) * ((tu_rand(&rng) & 3) ? 1 : -1);
                    if (v.bwd && tu_rand(&rng) % 97 == 0) x = 0;
                    h.x[l] = put(&X, offset_of(&vx, l), x);
                    if (h.x[l] != 0) lg += log(fabs(h.x[l]));
                }
            }
    }
    /* Backward inputs from the forward in f64: y rounded as the forward stores it; the index. */
    int64_t L = h.len;
    double *r = malloc((size_t)L * sizeof(double)), *m = malloc((size_t)L * sizeof(double));
    int64_t *k = malloc((size_t)L * sizeof(int64_t));
    cr_assert(r && m && k);
    for (int64_t o = 0; o < h.outer; o++)
        for (int64_t i = 0; i < h.inner; i++) {
            ref_forward(v.op, &h, o, i, rev, r, k, m);
            for (int64_t q = 0; q < L; q++) {
                int64_t l = lin_of(&h, o, i, q, rev);
                h.y[l] = put(&Y, offset_of(&vx, l), r[q]);
                h.k[l] = k[q];
                memcpy(KI.h + (size_t)offset_of(&vki, l) * 8, &k[q], 8);
            }
        }
    tu_buf_upload(&X), tu_buf_upload(&G), tu_buf_upload(&Y), tu_buf_upload(&KI);

    bool ext = v.op == CUMMAX || v.op == CUMMIN;
    brc_plan *p = NULL;
    brc_status st;
    if (!v.bwd) {
        brc_scan_desc d = {(brc_scan_kind)v.op, vx.t, vy.t, tc->dim, rev, vk.t};
        st = brc_scan_plan(ctx, &d, NULL, &p);
    } else {
        brc_scan_backward_desc d = {(brc_scan_kind)v.op, vx.t, vx.t, vki.t, vx.t, vy.t, tc->dim, rev};
        st = brc_scan_backward_plan(ctx, &d, NULL, &p);
    }
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(), brc_last_jit_log());
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz ? wsz : 1);
    poison(&WS);
    poison(&O);
    poison(&KO);
    if (!v.bwd)
        st = brc_scan_run(p, at(&X, &vx), at(&O, &vy), ext ? at(&KO, &vk) : NULL, wsz ? (void *)(uintptr_t)WS.d : NULL,
                          wsz, NULL);
    else
        st = brc_scan_backward_run(p, at(&X, &vx), at(&Y, &vx), at(&KI, &vki), at(&G, &vx), at(&O, &vy),
                                   wsz ? (void *)(uintptr_t)WS.d : NULL, wsz, NULL);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", what);
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    if (mark) cr_expect(strstr(brc_plan_sku(p), mark) != NULL, "%s: %s lacks %s", what, brc_plan_sku(p), mark);
    tu_buf_download(&O);
    tu_buf_download(&KO);

    /* Every output element against the reference; the buffer outside the view stays poisoned. */
    checker cv = {"value", 0, ""}, ck = {"index", 0, ""};
    double g = 8 + 4 * sqrt((double)L), gp = 8 + 8 * sqrt((double)L), us = u_store(dt), uc = u_comp(dt);
    unsigned char *written = calloc(vy.n, 1);
    cr_assert(written);
    double ymax = 0;
    for (int64_t o = 0; o < h.outer; o++)
        for (int64_t i = 0; i < h.inner; i++) {
            if (!v.bwd) ref_forward(v.op, &h, o, i, rev, r, k, m);
            else ref_backward(v.op, &h, o, i, rev, r, m);
            if (v.bwd && v.op == LCSE) {
                ymax = 0;
                for (int64_t q = 0; q < L; q++) ymax = fmax(ymax, fabs(h.y[lin_of(&h, o, i, q, rev)]));
            }
            int64_t line = o * h.inner + i;
            for (int64_t q = 0; q < L; q++) {
                int64_t l = lin_of(&h, o, i, q, rev), off = offset_of(&vy, l);
                written[off] = 1;
                double got = tu_buf_at(&O, (size_t)off), bound;
                if (ext && !v.bwd) bound = 0; /* exact */
                /* Products: every multiplication's rounding reaches the result in full; measured
                 * up to ~8 sqrt(len) ulps on bf16 data (short mantissas) at 2^21, hence gp. */
                else if (v.op == CUMPROD && !v.bwd) bound = (us + gp * uc) * m[q];
                else if (v.op == CUMPROD) bound = (2 * us + gp * uc) * m[q];
                else if (v.op == LCSE && v.bwd) bound = us * fabs(r[q]) + (g * uc + 4 * uc * (fabs(h.x[l]) + ymax)) * m[q];
                else if (v.op == CUMSUM || (ext && v.bwd)) bound = us * fabs(r[q]); /* integers: exact sums */
                else bound = us * fabs(r[q]) + g * uc * m[q];
                bound += tiny(dt);
                check(&cv, got, r[q], bound, line, q);
                if (ext && !v.bwd) {
                    int64_t kg = idx_at(&KO, offset_of(&vk, l));
                    if (kg != k[q] && ck.fails++ == 0)
                        snprintf(ck.first, sizeof ck.first, "index: line %lld pos %lld: got %lld, want %lld",
                                 (long long)line, (long long)q, (long long)kg, (long long)k[q]);
                }
            }
        }
    long stray = 0;
    for (size_t e = 0; e < vy.n; e++) {
        if (written[e]) continue;
        unsigned char ff[8];
        memset(ff, 0xff, sizeof ff);
        if (memcmp(O.h + e * brc_dtype_size(dt), ff, brc_dtype_size(dt)) != 0) stray++;
    }
    cr_expect_eq(cv.fails, 0, "%s: %ld mismatches; first %s (%s)", what, cv.fails, cv.first, brc_plan_sku(p));
    cr_expect_eq(ck.fails, 0, "%s: %ld index mismatches; first %s (%s)", what, ck.fails, ck.first, brc_plan_sku(p));
    cr_expect_eq(stray, 0, "%s: %ld elements outside the output view were written", what, stray);

    free(written), free(r), free(m), free(k);
    free(h.x), free(h.dy), free(h.y), free(h.k);
    brc_plan_destroy(p);
    tu_buf *all[] = {&X, &G, &Y, &KI, &O, &KO, &WS};
    for (size_t e = 0; e < sizeof all / sizeof all[0]; e++) tu_buf_free(all[e]);
}

typedef struct job {
    int op, bwd;
    brc_dtype dt;
} job;

ParameterizedTestParameters(scan, every_op_dtype_and_layout) {
    static job jobs[5 * 2 * 4];
    int n = 0;
    for (int op = 0; op < 5; op++)
        for (int bwd = 0; bwd < 2; bwd++)
            for (int d = 0; d < 4; d++) jobs[n++] = (job){op, bwd, dtypes[d]};
    return cr_make_param_array(job, jobs, (size_t)n);
}

ParameterizedTest(job *j, scan, every_op_dtype_and_layout, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    variant v = {j->op, j->bwd};
    for (int c = 0; c < NCASES; c++)
        for (int rev = 0; rev < 2; rev++) run_case(ctx, v, j->dt, &cases[c], rev, c, NULL);
    brc_context_destroy(ctx);
}

/* Split columns by the three kernels (BARACUDA_SCAN_ONEPASS=0) and by the one pass for every op
 * (the default only for cumsum and cummax / cummin forward), with its other geometries (positions a
 * warp, vector bytes): every op both ways on the cases that split along a strided axis, against the
 * float64 host scan, the plan's SKU checked. */
Test(scan, split_columns_every_path, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int picks[] = {9, 11, 14, 18}; /* cases: [1000, 7], [4, 1000, 5] dim -2, [1000, 64], [20011, 40] */
    static const struct {
        const char *knob, *val, *mark;
    } paths[] = {{"BARACUDA_SCAN_ONEPASS", "0", "+split"}, {"BARACUDA_SCAN_ONEPASS", "1", "+onepass"},
                 {"BARACUDA_SCAN_CPW", "1", ",pw=1,"}, {"BARACUDA_SCAN_CPW", "16", ",pw=16,"},
                 {"BARACUDA_SCAN_CVB", "16", "+onepass"}};
    for (size_t pi = 0; pi < sizeof paths / sizeof paths[0]; pi++)
        for (int op = 0; op < 5; op++)
            for (int bwd = 0; bwd < 2; bwd++)
                for (int d = 0; d < 4; d += 2) { /* f32, bf16 */
                    brc_dtype dt = d ? BRC_BF16 : BRC_F32;
                    setenv("BARACUDA_SCAN_ONEPASS", pi > 0 ? "1" : "0", 1);
                    setenv(paths[pi].knob, paths[pi].val, 1);
                    for (size_t c = 0; c < sizeof picks / sizeof picks[0]; c++) {
                        const tcase *tc = &cases[picks[c]];
                        /* GPU-time-sized (every combination took 276 s in session 17's run): the other
                         * geometries on half the ops and dtypes, half the small cases */
                        if (pi >= 2 && (op + bwd + d / 2 + (int)pi) % 2) continue;
                        if (pi > 0 && picks[c] != 18 && (op + bwd + (int)c) % 2) continue;
                        for (int rev = 0; rev < 2; rev++)
                            run_case(ctx, (variant){op, bwd}, dt, tc, rev, picks[c], paths[pi].mark); /* the path that ran */
                    }
                    unsetenv(paths[pi].knob);
                    unsetenv("BARACUDA_SCAN_ONEPASS");
                }
    brc_context_destroy(ctx);
}

/* ---- semantics, checked by hand ------------------------------------------------------------------------ */

/* Runs a forward over a contiguous f32 vector of n; y and index come back on the host. */
static void fwd_f32(brc_context *ctx, int op, int rev, const float *x, int n, float *y, int64_t *k) {
    int64_t s[1] = {n};
    brc_tensor_desc t, ti;
    brc_tensor_desc_contiguous(&t, BRC_F32, 1, s);
    brc_tensor_desc_contiguous(&ti, BRC_I64, 1, s);
    brc_scan_desc d = {(brc_scan_kind)op, t, t, 0, rev, ti};
    brc_plan *p = NULL;
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf X = tu_buf_new(BRC_F32, (size_t)n), Y = tu_buf_new(BRC_F32, (size_t)n), K = tu_buf_new(BRC_I64, (size_t)n);
    memcpy(X.h, x, (size_t)n * 4);
    tu_buf_upload(&X);
    poison(&Y);
    poison(&K);
    cr_assert_eq(brc_scan_run(p, (void *)(uintptr_t)X.d, (void *)(uintptr_t)Y.d, (void *)(uintptr_t)K.d, NULL, 0, NULL),
                 BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&Y);
    tu_buf_download(&K);
    memcpy(y, Y.h, (size_t)n * 4);
    memcpy(k, K.h, (size_t)n * 8);
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
}

static bool same_f(float a, float b) { return (isnan(a) && isnan(b)) || a == b; }

Test(scan, ties_nan_and_infinities, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const float nan = NAN, inf = INFINITY;
    float y[9];
    int64_t k[9];
    const float x[8] = {1, 3, 3, 2, nan, 5, nan, 0};
    struct {
        int op, rev;
        float y[8];
        int64_t k[8];
    } want[] = {
        {CUMMAX, 0, {1, 3, 3, 3, nan, nan, nan, nan}, {0, 1, 2, 2, 4, 4, 6, 6}},
        {CUMMIN, 0, {1, 1, 1, 1, nan, nan, nan, nan}, {0, 0, 0, 0, 4, 4, 6, 6}},
        /* From the end: ties go to the later position in scan order, i.e. the lower index. */
        {CUMMAX, 1, {nan, nan, nan, nan, nan, nan, nan, 0}, {4, 4, 4, 4, 4, 6, 6, 7}},
    };
    for (size_t c = 0; c < sizeof want / sizeof want[0]; c++) {
        fwd_f32(ctx, want[c].op, want[c].rev, x, 8, y, k);
        for (int i = 0; i < 8; i++) {
            cr_expect(same_f(y[i], want[c].y[i]), "%s rev %d: y[%d] = %g, want %g", op_names[want[c].op], want[c].rev, i,
                      y[i], want[c].y[i]);
            cr_expect_eq(k[i], want[c].k[i], "%s rev %d: index[%d] = %lld, want %lld", op_names[want[c].op],
                         want[c].rev, i, (long long)k[i], (long long)want[c].k[i]);
        }
    }
    const float t[4] = {1, 3, 3, 2};
    fwd_f32(ctx, CUMMAX, 1, t, 4, y, k);
    const int64_t kt[4] = {1, 1, 2, 3};
    for (int i = 0; i < 4; i++) cr_expect_eq(k[i], kt[i], "reverse cummax ties: index[%d] = %lld", i, (long long)k[i]);
    /* logcumsumexp: -inf is neutral, +inf stays, large values do not overflow. */
    const float l[6] = {-inf, -inf, 0, -inf, 1000, inf};
    fwd_f32(ctx, LCSE, 0, l, 6, y, k);
    const float lw[6] = {-inf, -inf, 0, 0, 1000, inf};
    for (int i = 0; i < 6; i++) cr_expect(same_f(y[i], lw[i]), "logcumsumexp y[%d] = %g, want %g", i, y[i], lw[i]);
    /* The one-exp step's other branches (x equal to the running max, +inf twice, NaN, -inf after
     * finite values), 9 positions so a thread's run spans a new max, a tie and a NaN. */
    const float l2[9] = {2, 2, -inf, 1, inf, inf, 3, nan, 4};
    fwd_f32(ctx, LCSE, 0, l2, 9, y, k);
    const double e2 = 2 + log(2.0), e3 = e2 + log1p(exp(1 - e2));
    const float lw2[9] = {2, (float)e2, (float)e2, (float)e3, inf, inf, inf, nan, nan};
    for (int i = 0; i < 9; i++)
        cr_expect(same_f(y[i], lw2[i]) || fabsf(y[i] - lw2[i]) <= 4e-7f * fabsf(lw2[i]), "logcumsumexp (2) y[%d] = %.9g, want %.9g",
                  i, y[i], lw2[i]);
    brc_context_destroy(ctx);
}

/* The tuning variants (BARACUDA_SCAN_* knobs, runtime/ops/scan.c) compute the same results as the
 * defaults: split rows with the carry folded in the final pass or by a carry kernel (cumsum of
 * small integers: exact, so bitwise equal), cummax indices stored from registers or staged (odd
 * and vector lengths, both directions, f32 and bf16: values and indices equal), logcumsumexp's
 * one-exp step against the generic combine (within 2e-6 relative). */
static void run_variant(brc_context *ctx, const char *knob, const char *val, int op, brc_dtype dt, int64_t R,
                        int64_t C, int rev, const tu_buf *X, tu_buf *Y, tu_buf *K, const char *marker) {
    setenv(knob, val, 1);
    /* the fused carry is a variant of the three-kernel split, not of the one pass */
    if (!strcmp(knob, "BARACUDA_SCAN_FUSE")) setenv("BARACUDA_SCAN_ONEPASS", "0", 1);
    brc_tensor_desc t = tu_mat(dt, R, C, C), tk = tu_mat(BRC_I64, R, C, C);
    brc_scan_desc d = {(brc_scan_kind)op, t, t, 1, rev, tk};
    brc_plan *p = NULL;
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv(knob);
    unsetenv("BARACUDA_SCAN_ONEPASS");
    /* the SKU shows the variant (logcumsumexp's step has no mark) */
    if (marker) cr_expect((strstr(brc_plan_sku(p), marker) != NULL) == (*val != '0'), "%s=%s: %s", knob, val, brc_plan_sku(p));
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz > 0 ? wsz : 1);
    poison(Y);
    poison(K);
    cr_assert_eq(brc_scan_run(p, (void *)(uintptr_t)X->d, (void *)(uintptr_t)Y->d, op == CUMMAX ? (void *)(uintptr_t)K->d : NULL,
                              (void *)(uintptr_t)WS.d, wsz, NULL),
                 BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(Y);
    tu_buf_download(K);
    brc_plan_destroy(p);
    tu_buf_free(&WS);
}

/* A knob's variant against the knob at 0 on one case. val: the variant's value (NULL: "1"); tol: 0
 * bitwise equal, else relative (a different association of the carries). */
typedef struct vcase {
    const char *knob, *on;
    int op;
    brc_dtype dt;
    int64_t R, C;
    int rev;
    const char *val;
    double tol;
} vcase;

static void check_variants(const vcase *vc, size_t nc, uint64_t seed) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = seed;
    for (size_t c = 0; c < nc; c++) {
        size_t n = (size_t)(vc[c].R * vc[c].C), es = brc_dtype_size(vc[c].dt);
        tu_buf X = tu_buf_new(vc[c].dt, n), Y = tu_buf_new(vc[c].dt, n), K = tu_buf_new(BRC_I64, n);
        for (size_t i = 0; i < n; i++) {
            /* small integers with many ties (cumsum exact, cummax ties), or N(0, 3)-ish values */
            double v = vc[c].op == LCSE      ? 3 * tu_uniform(&rng, -2, 2)
                       : vc[c].op == CUMPROD ? 1 + tu_uniform(&rng, -1e-3, 1e-3) /* a product near 1 */
                                                 : floor(tu_uniform(&rng, -4, 5));
            put(&X, (int64_t)i, v);
        }
        tu_buf_upload(&X);
        const char *on = vc[c].val ? vc[c].val : "1";
        run_variant(ctx, vc[c].knob, on, vc[c].op, vc[c].dt, vc[c].R, vc[c].C, vc[c].rev, &X, &Y, &K,
                    vc[c].on);
        unsigned char *y1 = malloc(n * es), *k1 = malloc(n * 8);
        cr_assert(y1 && k1);
        memcpy(y1, Y.h, n * es);
        memcpy(k1, K.h, n * 8);
        const char *what = vc[c].knob;
        if (vc[c].val) {
            /* scan10's variants: the same bits when run again; f32 cumsum of small integers exact
             * against the host (from the end when rev), cumprod and logcumsumexp against float64 */
            run_variant(ctx, vc[c].knob, on, vc[c].op, vc[c].dt, vc[c].R, vc[c].C, vc[c].rev, &X, &Y,
                        &K, vc[c].on);
            cr_expect(memcmp(y1, Y.h, n * es) == 0, "%s=%s: two runs differ (%lldx%lld rev %d)", what, on,
                      (long long)vc[c].R, (long long)vc[c].C, vc[c].rev);
            size_t bad = 0, first = 0;
            for (int64_t r = 0; r < vc[c].R; r++) {
                double acc = vc[c].op == CUMPROD ? 1 : vc[c].op == LCSE ? -INFINITY : 0;
                for (int64_t q = 0; q < vc[c].C; q++) {
                    int64_t i = r * vc[c].C + (vc[c].rev ? vc[c].C - 1 - q : q);
                    double x = tu_buf_at(&X, (size_t)i), got = tu_buf_at(&Y, (size_t)i), bound;
                    if (vc[c].op == CUMPROD) acc *= x, bound = 1e-6 * fabs(acc);
                    else if (vc[c].op == LCSE) acc = fmax(acc, x) + log1p(exp(-fabs(acc - x))), bound = 4e-6 * (fabs(acc) + 1);
                    else acc += x, bound = vc[c].dt == BRC_F32 ? 0 : 1e-2 * fabs(acc) + 1;
                    if (!(fabs(got - acc) <= bound) && bad++ == 0) first = (size_t)i;
                }
            }
            cr_expect_eq(bad, 0, "%s=%s: %zu of %zu off the float64 reference (first at %zu: %.9g)", what, on, bad, n, first,
                         tu_buf_at(&Y, first));
        }
        run_variant(ctx, vc[c].knob, "0", vc[c].op, vc[c].dt, vc[c].R, vc[c].C, vc[c].rev, &X, &Y, &K,
                    vc[c].on);
        if (vc[c].tol > 0) {
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) {
                double a = tu_buf_at(&Y, i), b;
                float f;
                memcpy(&f, y1 + i * 4, 4);
                b = f;
                if (!(fabs(a - b) <= vc[c].tol * fabs(a))) bad++;
            }
            cr_expect_eq(bad, 0, "%s: %zu of %zu differ beyond %g (%lldx%lld)", what, bad, n, vc[c].tol,
                         (long long)vc[c].R, (long long)vc[c].C);
        } else if (vc[c].op == LCSE) {
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) {
                float a, b;
                memcpy(&a, y1 + i * 4, 4);
                memcpy(&b, Y.h + i * 4, 4);
                if (!(fabsf(a - b) <= 2e-6f * fabsf(b) + 1e-6f)) bad++;
            }
            cr_expect_eq(bad, 0, "%s: %zu of %zu differ (%lldx%lld)", what, bad, n, (long long)vc[c].R,
                         (long long)vc[c].C);
        } else {
            cr_expect(memcmp(y1, Y.h, n * es) == 0, "%s: values differ (%lldx%lld rev %d)", what, (long long)vc[c].R,
                      (long long)vc[c].C, vc[c].rev);
            if (vc[c].op == CUMMAX)
                cr_expect(memcmp(k1, K.h, n * 8) == 0, "%s: indices differ (%lldx%lld rev %d)", what,
                          (long long)vc[c].R, (long long)vc[c].C, vc[c].rev);
            /* and every index was written (no poison left) and is a position of the line */
            size_t badk = 0;
            for (size_t i = 0; vc[c].op == CUMMAX && i < n; i++) {
                int64_t k = idx_at(&K, (int64_t)i);
                if (k < 0 || k >= vc[c].C) badk++;
            }
            cr_expect_eq(badk, 0, "%s: %zu indices out of the line", what, badk);
        }
        free(y1), free(k1);
        tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
    }
    brc_context_destroy(ctx);
}

Test(scan, tuning_variants_give_the_same_results, .timeout = 300) {
    static const vcase vc[] = {
        {"BARACUDA_SCAN_FUSE", "+fused", CUMSUM, BRC_F32, 2, (1 << 21) + 8, 0, NULL, 0},
        {"BARACUDA_SCAN_FUSE", "+fused", CUMSUM, BRC_F32, 1, (1 << 21) + 3, 1, NULL, 0},
        {"BARACUDA_SCAN_FUSE", "+fused", CUMMAX, BRC_F32, 1, (1 << 21) + 8, 0, NULL, 0},
        {"BARACUDA_SCAN_LITE", "+lite", CUMSUM, BRC_F32, 2, (1 << 21) + 8, 0, NULL, 0},
        {"BARACUDA_SCAN_LITE", "+lite", CUMSUM, BRC_F32, 1, (1 << 21) + 8, 1, NULL, 0},
        {"BARACUDA_SCAN_LITE", "+lite", CUMSUM, BRC_BF16, 1, (1 << 21) + 3, 1, NULL, 0},
        {"BARACUDA_SCAN_KST", ",kdirect", CUMMAX, BRC_F32, 37, 4104, 0, NULL, 0},
        {"BARACUDA_SCAN_KST", ",kdirect", CUMMAX, BRC_F32, 5, 1001, 1, NULL, 0},
        {"BARACUDA_SCAN_KST", ",kdirect", CUMMAX, BRC_BF16, 9, 8200, 1, NULL, 0},
        {"BARACUDA_SCAN_KST", ",kdirect", CUMMAX, BRC_BF16, 64, 1024, 0, NULL, 0},
        {"BARACUDA_SCAN_FAST", NULL, LCSE, BRC_F32, 7, 5003, 0, NULL, 0},
        {"BARACUDA_SCAN_FAST", NULL, LCSE, BRC_F32, 1, (1 << 21) + 8, 1, NULL, 0},
        {"BARACUDA_SCAN_FAST", ",lg2", LCSE, BRC_F32, 7, 5003, 0, "2", 0},
    };
    check_variants(vc, sizeof vc / sizeof vc[0], 23);
}

/* scan10's split-row variants on rows of 2^24 + odd (from the end too; bf16 on 3 lines): the fold
 * by one ordered reduction (FUSE=2) against the carry kernel, the final pass as a programmatic
 * dependent (PDL) against plain launches, the L2 hints, the reduce pass's loads (RNV), the MUFU
 * exp / log (FAST=2), the final pass's L2 prefetch (PF); each also run twice (the same bits) and checked against a float64 host scan
 * (f32 cumsum of small integers: exact). Two tests, so they run in parallel. */
Test(scan, split_row_fold_and_pdl, .timeout = 300) {
    static const vcase vc[] = {
        {"BARACUDA_SCAN_FUSE", "+fold", CUMSUM, BRC_F32, 1, (1 << 24) + 5, 1, "2", 0},
        {"BARACUDA_SCAN_FUSE", "+fold", CUMPROD, BRC_F32, 1, (1 << 24) + 4, 0, "2", 1e-6},
        {"BARACUDA_SCAN_PDL", "+pdl", CUMSUM, BRC_F32, 1, (1 << 24) + 5, 0, NULL, 0},
        {"BARACUDA_SCAN_PDL", "+pdl", CUMPROD, BRC_F32, 1, (1 << 24) + 4, 1, NULL, 0},
        {"BARACUDA_SCAN_PDL", "+pdl", CUMSUM, BRC_BF16, 3, (1 << 20) + 7, 0, NULL, 0},
    };
    check_variants(vc, sizeof vc / sizeof vc[0], 31);
}

Test(scan, split_row_hints_loads_and_fast_exp, .timeout = 300) {
    static const vcase vc[] = {
        {"BARACUDA_SCAN_L2H", ",l2h=", CUMSUM, BRC_F32, 1, (1 << 24) + 8, 1, "4", 0},
        {"BARACUDA_SCAN_RNV", ",rnv=", CUMSUM, BRC_F32, 1, (1 << 24) + 8, 0, "8", 0},
        {"BARACUDA_SCAN_FAST", ",lg2", LCSE, BRC_F32, 1, (1 << 24) + 3, 1, "2", 0},
        {"BARACUDA_SCAN_PF", ",pf", CUMPROD, BRC_F32, 1, (1 << 24) + 4, 1, NULL, 0},
    };
    check_variants(vc, sizeof vc / sizeof vc[0], 37);
}

/* The geometries chosen by size (red6): f32 cummax over 16 x SMs + 3 lines of 8196 (more than
 * one 512-thread tile, lines enough for 16 CTAs an SM) takes 128 threads a row (SKU tpr=128):
 * values and indices against a host reference (small integers: many ties, the later position
 * wins) and bitwise against the 512-thread plan (BARACUDA_SCAN_TMAX=512); split logcumsumexp
 * rows load 2 slabs at once (SKU nv=2), within 2e-6 of 4 (BARACUDA_SCAN_NV=4). */
Test(scan, size_tuned_geometries, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 29;
    int64_t R = 16 * (int64_t)ctx->sm_count + 3, C = 8196;
    size_t n = (size_t)(R * C);
    tu_buf X = tu_buf_new(BRC_F32, n), Y = tu_buf_new(BRC_F32, n), K = tu_buf_new(BRC_I64, n);
    float *y1 = malloc(n * 4);
    int64_t *k1 = malloc(n * 8);
    cr_assert(y1 && k1);
    for (size_t i = 0; i < n; i++) put(&X, (int64_t)i, floor(tu_uniform(&rng, -4, 5)));
    tu_buf_upload(&X);
    brc_tensor_desc t = tu_mat(BRC_F32, R, C, C), tk = tu_mat(BRC_I64, R, C, C);
    brc_scan_desc d = {BRC_SCAN_CUMMAX, t, t, 1, 0, tk};
    brc_plan *p = NULL;
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",tpr=128,") != NULL, "%s", brc_plan_sku(p));
    cr_expect(strstr(brc_plan_descriptor(p), ",tmax=128,") != NULL, "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    run_variant(ctx, "BARACUDA_SCAN_TMAX", "", CUMMAX, BRC_F32, R, C, 0, &X, &Y, &K, NULL);
    memcpy(y1, Y.h, n * 4);
    memcpy(k1, K.h, n * 8);
    long bad = 0;
    const float *x = (const float *)X.h;
    for (int64_t r = 0; r < R; r++) {
        float best = 0;
        int64_t bk = -1;
        for (int64_t c = 0; c < C; c++) {
            size_t i = (size_t)(r * C + c);
            if (bk < 0 || x[i] >= best) best = x[i], bk = c;
            if (y1[i] != best || k1[i] != bk) bad++;
        }
    }
    cr_expect_eq(bad, 0, "cummax f32 %lldx%lld, 128 threads a row: %ld positions wrong", (long long)R, (long long)C, bad);
    run_variant(ctx, "BARACUDA_SCAN_TMAX", "512", CUMMAX, BRC_F32, R, C, 0, &X, &Y, &K, NULL);
    cr_expect(memcmp(y1, Y.h, n * 4) == 0 && memcmp(k1, K.h, n * 8) == 0, "tpr=128 and tpr=512 differ");
    free(y1), free(k1);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);

    /* scanred8: bf16 cummax over rows longer than one 512-thread tile (16384): 128 threads too. */
    C = 16392;
    n = (size_t)(R * C);
    X = tu_buf_new(BRC_BF16, n), Y = tu_buf_new(BRC_BF16, n), K = tu_buf_new(BRC_I64, n);
    double *xb = malloc(n * sizeof(double));
    uint16_t *yb = malloc(n * 2);
    k1 = malloc(n * 8);
    cr_assert(xb && yb && k1);
    for (size_t i = 0; i < n; i++) xb[i] = put(&X, (int64_t)i, floor(tu_uniform(&rng, -4, 5)));
    tu_buf_upload(&X);
    t = tu_mat(BRC_BF16, R, C, C), tk = tu_mat(BRC_I64, R, C, C);
    d = (brc_scan_desc){BRC_SCAN_CUMMAX, t, t, 1, 0, tk};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), ",tpr=128,") != NULL, "%s", brc_plan_sku(p));
    cr_expect(strstr(brc_plan_descriptor(p), ",tmax=128,") != NULL, "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
    run_variant(ctx, "BARACUDA_SCAN_TMAX", "", CUMMAX, BRC_BF16, R, C, 0, &X, &Y, &K, NULL);
    memcpy(yb, Y.h, n * 2);
    memcpy(k1, K.h, n * 8);
    bad = 0;
    for (int64_t r = 0; r < R; r++) {
        double best = 0;
        int64_t bk = -1;
        for (int64_t c = 0; c < C; c++) {
            size_t i = (size_t)(r * C + c);
            if (bk < 0 || xb[i] >= best) best = xb[i], bk = c;
            if (tu_buf_at(&Y, i) != best || k1[i] != bk) bad++;
        }
    }
    cr_expect_eq(bad, 0, "cummax bf16 %lldx%lld, 128 threads a row: %ld positions wrong", (long long)R, (long long)C, bad);
    run_variant(ctx, "BARACUDA_SCAN_TMAX", "512", CUMMAX, BRC_BF16, R, C, 0, &X, &Y, &K, NULL);
    cr_expect(memcmp(yb, Y.h, n * 2) == 0 && memcmp(k1, K.h, n * 8) == 0, "bf16: tpr=128 and tpr=512 differ");
    free(xb), free(yb), free(k1);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);

    int64_t L = ((int64_t)1 << 21) + 8;
    X = tu_buf_new(BRC_F32, (size_t)L), Y = tu_buf_new(BRC_F32, (size_t)L), K = tu_buf_new(BRC_I64, (size_t)L);
    for (int64_t i = 0; i < L; i++) put(&X, i, 3 * tu_uniform(&rng, -2, 2));
    tu_buf_upload(&X);
    t = tu_mat(BRC_F32, 1, L, L);
    d = (brc_scan_desc){BRC_SCAN_LOGCUMSUMEXP, t, t, 1, 0, tu_mat(BRC_I64, 1, L, L)};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), "+onepass") != NULL, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    run_variant(ctx, "BARACUDA_SCAN_NV", "", LCSE, BRC_F32, 1, L, 0, &X, &Y, &K, NULL);
    float *a = malloc((size_t)L * 4);
    cr_assert(a);
    memcpy(a, Y.h, (size_t)L * 4);
    run_variant(ctx, "BARACUDA_SCAN_NV", "4", LCSE, BRC_F32, 1, L, 0, &X, &Y, &K, NULL);
    const float *b = (const float *)Y.h;
    long off = 0;
    for (int64_t i = 0; i < L; i++)
        if (!(fabsf(a[i] - b[i]) <= 2e-6f * fabsf(b[i]) + 1e-6f)) off++;
    cr_expect_eq(off, 0, "logcumsumexp one pass, default slabs against 4: %ld of %lld differ", off, (long long)L);
    free(a);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
    brc_context_destroy(ctx);
}

/* cumprod forward rows can multiply each thread's runs in float-float (SKU ,ff;
 * kernel_src/scan.cuh ff_run / ff_out) where the factors lie within 2^+-8 and the product before
 * them within 2^+-62, and in f64 elsewhere. Lines whose running product walks (log2 steps of 2 to
 * 11) to 2^115 and to 2^-135 (f32 subnormals), staying a while near each and near 1 (steps of
 * 2^+-0.03), so both forms and the switches between them are taken: against a float64 host
 * product, within one unit in the last place (the f64 form rounds once; the float-float one is
 * exact to about 2^-45 before its one rounding; an f32 product chain is off by hundreds of units
 * after 2^21 factors), with and without BARACUDA_SCAN_FF, from either end, a split row and short
 * rows of odd length (BARACUDA_SCAN_FF=3: every pass in float-float, the default of 16-bit data;
 * 0: none, f32's default). Then lines with a zero, infinities and a NaN: the host's values. */
static void ff_walk(tu_buf *X, int64_t R, int64_t C, int rev, uint64_t *rng) {
    static const double targets[] = {0, 115, 0, -135, 40, -70, 0};
    for (int64_t r = 0; r < R; r++) {
        double lg = 0;
        int ti = (int)(r % 7), stay = 0;
        for (int64_t q = 0; q < C; q++) {
            double tg = targets[ti], u;
            if (lg < tg - 6) u = tu_uniform(rng, 2, 11);
            else if (lg > tg + 6) u = -tu_uniform(rng, 2, 11);
            else {
                u = tu_uniform(rng, -0.03, 0.03);
                if (++stay > 40 + (int)(tu_rand(rng) % (C > 4000 ? 2000 : 200))) stay = 0, ti = (ti + 1) % 7;
            }
            double x = put(X, r * C + (rev ? C - 1 - q : q), exp2(u) * ((tu_rand(rng) & 7) ? 1 : -1)); /* scan order */
            lg += log2(fabs(x));
        }
    }
}
static size_t ff_check(const tu_buf *X, const tu_buf *Y, int64_t R, int64_t C, int rev, brc_dtype dt, size_t *first) {
    double ulp = dt == BRC_F32 ? 0x1p-23 : dt == BRC_BF16 ? 0x1p-7 : 0x1p-10; /* one unit */
    double sub = dt == BRC_F32 ? 0x1p-149 : dt == BRC_BF16 ? 0x1p-133 : 0x1p-24;
    size_t bad = 0;
    for (int64_t r = 0; r < R; r++) {
        double acc = 1;
        for (int64_t q = 0; q < C; q++) {
            size_t i = (size_t)(r * C + (rev ? C - 1 - q : q));
            acc *= tu_buf_at(X, i);
            double got = tu_buf_at(Y, i);
            bool ok = isnan(acc) ? isnan(got) : isinf(acc) ? got == acc : fabs(got - acc) <= ulp * fabs(acc) + sub;
            if (!ok && bad++ == 0) *first = i;
        }
    }
    return bad;
}
Test(scan, cumprod_float_float, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 41;
    static const struct { brc_dtype dt; int64_t R, C; int rev; } cs[] = {
        {BRC_F32, 1, (1 << 21) + 4, 0}, {BRC_F32, 5, 40003, 1}, {BRC_F32, 33, 1001, 0}, {BRC_F32, 7, 4096, 1},
        {BRC_BF16, 1, (1 << 21) + 8, 1}, {BRC_BF16, 9, 8200, 0}, {BRC_F16, 3, 5000, 0},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        size_t n = (size_t)(cs[c].R * cs[c].C);
        tu_buf X = tu_buf_new(cs[c].dt, n), Y = tu_buf_new(cs[c].dt, n), K = tu_buf_new(BRC_I64, n);
        if (cs[c].dt == BRC_F16) {
            /* f16's range is 2^+-15: factors near 1 only (the float-float runs, f64 outputs) */
            for (size_t i = 0; i < n; i++) put(&X, (int64_t)i, exp2(tu_uniform(&rng, -0.01, 0.01)));
        } else {
            ff_walk(&X, cs[c].R, cs[c].C, cs[c].rev, &rng);
        }
        tu_buf_upload(&X);
        for (int ff = 1; ff >= 0; ff--) {
            run_variant(ctx, "BARACUDA_SCAN_FF", ff ? "3" : "0", CUMPROD, cs[c].dt, cs[c].R, cs[c].C, cs[c].rev, &X, &Y,
                        &K, ",ff");
            size_t first = 0, bad = ff_check(&X, &Y, cs[c].R, cs[c].C, cs[c].rev, cs[c].dt, &first);
            cr_expect_eq(bad, 0, "%s %lldx%lld rev %d FF=%d: %zu of %zu off the float64 product (first at %zu: %.9g)",
                         brc_dtype_name(cs[c].dt), (long long)cs[c].R, (long long)cs[c].C, cs[c].rev, ff, bad, n, first,
                         tu_buf_at(&Y, first));
        }
        tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
    }
    /* zeros, infinities and a NaN (line 0: a zero at 500; 1: +inf at 300 then a zero at 700, inf * 0 =
     * NaN; 2: a NaN at 10; 3: -inf at 999 (the last vector); the rest factors near 1. */
    {
        int64_t R = 4, C = 1003;
        size_t n = (size_t)(R * C);
        tu_buf X = tu_buf_new(BRC_F32, n), Y = tu_buf_new(BRC_F32, n), K = tu_buf_new(BRC_I64, n);
        for (size_t i = 0; i < n; i++) put(&X, (int64_t)i, exp2(tu_uniform(&rng, -0.05, 0.05)));
        put(&X, 500, 0), put(&X, C + 300, INFINITY), put(&X, C + 700, 0), put(&X, 2 * C + 10, NAN);
        put(&X, 3 * C + 999, -INFINITY);
        tu_buf_upload(&X);
        run_variant(ctx, "BARACUDA_SCAN_FF", "3", CUMPROD, BRC_F32, R, C, 0, &X, &Y, &K, ",ff");
        size_t first = 0, bad = ff_check(&X, &Y, R, C, 0, BRC_F32, &first);
        cr_expect_eq(bad, 0, "zeros, infinities, NaN: %zu off (first at %zu: %.9g)", bad, first, tu_buf_at(&Y, first));
        cr_expect(tu_buf_at(&Y, 600) == 0 && isinf(tu_buf_at(&Y, C + 400)) && isnan(tu_buf_at(&Y, C + 800)),
                  "zero %g, inf %g, NaN %g", tu_buf_at(&Y, 600), tu_buf_at(&Y, C + 400), tu_buf_at(&Y, C + 800));
        tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
    }
    brc_context_destroy(ctx);
}

/* cumprod's backward with zeros, by hand: x = [2, 0, 3, 0, 5], dy = 1 gives dx = [1, 8, 0, 0, 0]. */
Test(scan, cumprod_backward_with_zeros, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int64_t s[1] = {5};
    brc_tensor_desc t;
    brc_tensor_desc_contiguous(&t, BRC_F64, 1, s);
    brc_scan_backward_desc d = {BRC_SCAN_CUMPROD, t, t, {0}, t, t, 0, 0};
    brc_plan *p = NULL;
    cr_assert_eq(brc_scan_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf X = tu_buf_new(BRC_F64, 5), Y = tu_buf_new(BRC_F64, 5), G = tu_buf_new(BRC_F64, 5), DX = tu_buf_new(BRC_F64, 5);
    const double x[5] = {2, 0, 3, 0, 5}, y[5] = {2, 0, 0, 0, 0}, g[5] = {1, 1, 1, 1, 1}, want[5] = {1, 8, 0, 0, 0};
    memcpy(X.h, x, 40), memcpy(Y.h, y, 40), memcpy(G.h, g, 40);
    tu_buf_upload(&X), tu_buf_upload(&Y), tu_buf_upload(&G);
    poison(&DX);
    cr_assert_eq(brc_scan_backward_run(p, (void *)(uintptr_t)X.d, (void *)(uintptr_t)Y.d, NULL, (void *)(uintptr_t)G.d,
                                       (void *)(uintptr_t)DX.d, NULL, 0, NULL),
                 BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&DX);
    for (int i = 0; i < 5; i++) cr_expect_eq(tu_buf_at(&DX, (size_t)i), want[i], "dx[%d] = %g", i, tu_buf_at(&DX, (size_t)i));
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&G), tu_buf_free(&DX);
    brc_context_destroy(ctx);
}

/* ---- the one-pass split rows ------------------------------------------------------------------------ */

/* One f32 line of 2^24 + 17 (odd: the last chunk is partial, vec = 1), forward and from the end, in
 * one pass (SKU +onepass; BARACUDA_SCAN_ONEPASS=1 where it is not the default): cumsum of small
 * integers and cummax / cummin with many ties exact against the host; cumprod and logcumsumexp
 * against float64 host references; each bitwise equal to itself when run twice back to back in
 * one stream (the run zeroes the ticket and flags) and when captured into a CUDA graph replayed
 * twice; and equal to the three-kernel split (BARACUDA_SCAN_ONEPASS=0; bitwise for cumsum and
 * cummax / cummin, within 2e-6 for cumprod and logcumsumexp, whose association differs). All of it
 * twice: the default one pass, then the pipelined one with a ring of 4 tiles (`,pipe=4`). */
static void run_plan_into(brc_plan *p, const tu_buf *X, tu_buf *Y, tu_buf *K, tu_buf *WS, CUstream s) {
    cr_assert_eq(brc_scan_run(p, (void *)(uintptr_t)X->d, (void *)(uintptr_t)Y->d, (void *)(uintptr_t)K->d,
                              (void *)(uintptr_t)WS->d, brc_plan_workspace_size(p), (brc_stream)s),
                 BRC_STATUS_OK, "%s", brc_last_error());
}

Test(scan, one_pass_rows, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t L = ((int64_t)1 << 24) + 17;
    const size_t n = (size_t)L;
    tu_buf X = tu_buf_new(BRC_F32, n), Y = tu_buf_new(BRC_F32, n), K = tu_buf_new(BRC_I64, n);
    float *y1 = malloc(n * 4), *ref = malloc(n * 4);
    int64_t *k1 = malloc(n * 8), *kref = malloc(n * 8);
    cr_assert(y1 && ref && k1 && kref);
    CUstream s;
    cr_assert_eq(brc__cu()->cuStreamCreate(&s, 0), CUDA_SUCCESS);
    brc_tensor_desc t, tk;
    int64_t shp[1] = {L};
    brc_tensor_desc_contiguous(&t, BRC_F32, 1, shp);
    brc_tensor_desc_contiguous(&tk, BRC_I64, 1, shp);
    uint64_t rng = 41;
    const int ops[] = {CUMSUM, CUMPROD, CUMMAX, CUMMIN, LCSE};
    for (int oi = 0; oi < 5; oi++)
        for (int rev = 0; rev < 2; rev++) {
            const int op = ops[oi];
            const bool ext = op == CUMMAX || op == CUMMIN;
            float *x = (float *)X.h;
            for (size_t i = 0; i < n; i++) {
                double v;
                if (op == LCSE) v = tu_uniform(&rng, -6, 6);
                else if (op == CUMPROD) v = exp(tu_uniform(&rng, -0.02, 0.02)); /* drifts slowly; below */
                else v = floor(tu_uniform(&rng, -4, 5));
                x[i] = (float)v;
            }
            /* host reference in f64, in scan order */
            double acc = op == CUMPROD ? 1 : 0, mx = 0, lse_m = -INFINITY, lse_s = 0, lg = 0;
            int64_t bk = -1;
            for (int64_t q = 0; q < L; q++) {
                int64_t m = rev ? L - 1 - q : q;
                double v = x[m];
                if (op == CUMPROD) {
                    /* keep |log y| <= 1: flip the factor's side where the product wandered */
                    if ((lg > 1 && v > 1) || (lg < -1 && v < 1)) v = x[m] = (float)(1.0 / v);
                    lg += log((double)x[m]);
                    v = x[m];
                }
                switch (op) {
                case CUMSUM: acc += v, ref[m] = (float)acc; break;
                case CUMPROD: acc *= v, ref[m] = (float)acc; break;
                case CUMMAX:
                case CUMMIN:
                    if (bk < 0 || (op == CUMMAX ? v >= mx : v <= mx)) mx = v, bk = m;
                    ref[m] = (float)mx, kref[m] = bk;
                    break;
                default:
                    if (v > lse_m) lse_s = lse_s * exp(lse_m - v) + 1, lse_m = v;
                    else lse_s += exp(v - lse_m);
                    ref[m] = (float)(lse_m + log(lse_s));
                }
            }
            tu_buf_upload(&X);
            brc_scan_desc d = {(brc_scan_kind)op, t, t, 0, rev, tk};
            /* the three-kernel split first: the one passes are compared with it */
            brc_plan *p3 = NULL;
            setenv("BARACUDA_SCAN_ONEPASS", "0", 1);
            cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p3), BRC_STATUS_OK, "%s", brc_last_error());
            unsetenv("BARACUDA_SCAN_ONEPASS");
            cr_expect(strstr(brc_plan_sku(p3), "+split") != NULL, "%s", brc_plan_sku(p3));
            tu_buf WS3 = tu_buf_new(BRC_U8, brc_plan_workspace_size(p3));
            poison(&Y), poison(&K);
            run_plan_into(p3, &X, &Y, &K, &WS3, s);
            cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
            tu_buf_download(&Y), tu_buf_download(&K);
            float *y3 = malloc(n * 4);
            int64_t *k3 = malloc(n * 8);
            cr_assert(y3 && k3);
            memcpy(y3, Y.h, n * 4), memcpy(k3, K.h, n * 8);
            tu_buf_free(&WS3);
            brc_plan_destroy(p3);
            /* variant 1: the pipelined one pass with a ring of 4 tiles (persistent CTAs, each tile's
             * total published ahead of the look-back) */
            for (int pv = 0; pv < 2; pv++) {
                brc_plan *p = NULL;
                setenv("BARACUDA_SCAN_ONEPASS", "1", 1); /* the default only for logcumsumexp */
                if (pv == 1) {
                    setenv("BARACUDA_SCAN_OPIPE", "1", 1), setenv("BARACUDA_SCAN_OPST", "4", 1);
                    setenv("BARACUDA_SCAN_NV", "4", 1), setenv("BARACUDA_SCAN_MINB", "1", 1);
                }
                cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
                unsetenv("BARACUDA_SCAN_ONEPASS"), unsetenv("BARACUDA_SCAN_OPIPE"), unsetenv("BARACUDA_SCAN_OPST");
                unsetenv("BARACUDA_SCAN_NV"), unsetenv("BARACUDA_SCAN_MINB");
                const char *sku = brc_plan_sku(p);
                cr_expect(strstr(sku, "+onepass") != NULL && strstr(brc_plan_descriptor(p), ",split=2,") != NULL,
                          "%s / %s", sku, brc_plan_descriptor(p));
                cr_expect(pv == 0 || strstr(sku, ",pipe=4") != NULL, "%s", sku);
                tu_buf WS = tu_buf_new(BRC_U8, brc_plan_workspace_size(p));
                /* 1: against the host */
                poison(&Y), poison(&K), poison(&WS);
                run_plan_into(p, &X, &Y, &K, &WS, s);
                cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS, "%s: kernel failed", sku);
                tu_buf_download(&Y), tu_buf_download(&K);
                memcpy(y1, Y.h, n * 4), memcpy(k1, K.h, n * 8);
                long bad = 0, badk = 0, off = 0;
                int64_t first = -1;
                for (size_t i = 0; i < n; i++) {
                    double got = y1[i], r = ref[i];
                    double bound = op == LCSE ? 2e-6 * fabs(r) + 2e-6 : op == CUMPROD ? 1e-6 * fabs(r) : 0;
                    if (!(fabs(got - r) <= bound)) {
                        if (bad++ == 0) first = (int64_t)i;
                    }
                    if (ext && k1[i] != kref[i]) badk++;
                    bool same = op == CUMPROD || op == LCSE ? fabsf(y1[i] - y3[i]) <= 2e-6f * fabsf(y3[i]) + 2e-6f
                                                            : y1[i] == y3[i];
                    if (!same || (ext && k1[i] != k3[i])) off++;
                }
                cr_expect_eq(bad, 0, "%s rev %d: %ld of %lld values off; first at %lld: got %.9g want %.9g", sku, rev,
                             bad, (long long)L, (long long)first, first >= 0 ? y1[first] : 0.0,
                             first >= 0 ? ref[first] : 0.0);
                cr_expect_eq(badk, 0, "%s rev %d: %ld indices differ", sku, rev, badk);
                cr_expect_eq(off, 0, "%s rev %d: %ld positions differ from the three-kernel split", sku, rev, off);
                /* 2: twice back to back in one stream; the second run's bits */
                poison(&Y);
                run_plan_into(p, &X, &Y, &K, &WS, s);
                run_plan_into(p, &X, &Y, &K, &WS, s);
                cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
                tu_buf_download(&Y), tu_buf_download(&K);
                cr_expect(memcmp(y1, Y.h, n * 4) == 0 && (!ext || memcmp(k1, K.h, n * 8) == 0),
                          "%s rev %d: a second run in the stream differs", sku, rev);
                /* 3: captured once, replayed twice */
                tu_capture g = tu_capture_begin(0);
                run_plan_into(p, &X, &Y, &K, &WS, g.s);
                tu_capture_end(&g);
                for (int r = 0; r < 2; r++) {
                    poison(&Y);
                    tu_capture_replay(&g);
                    tu_buf_download(&Y);
                    cr_expect(memcmp(y1, Y.h, n * 4) == 0, "%s rev %d: graph replay %d differs", sku, rev, r);
                }
                tu_capture_free(&g);
                cr_log_info("%s rev %d: %s checked", op_names[op], rev, sku);
                tu_buf_free(&WS);
                brc_plan_destroy(p);
            }
            free(y3), free(k3);
        }
    brc__cu()->cuStreamDestroy(s);
    free(y1), free(ref), free(k1), free(kref);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
    brc_context_destroy(ctx);
}

/* ---- determinism, capture, errors ------------------------------------------------------------------- */

/* Each split path (rows, cols) and the segmented backward give the same bits on every run, and
 * again when captured into a CUDA graph (the one pass: one_pass_rows). */
Test(scan, deterministic_and_capturable, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t R = 3, C = (1 << 20) + 16;
    uint64_t rng = 11;
    tu_buf X = tu_buf_new(BRC_F32, (size_t)(R * C)), Y = tu_buf_new(BRC_F32, (size_t)(R * C));
    tu_buf K = tu_buf_new(BRC_I64, (size_t)(R * C));
    for (size_t i = 0; i < X.n; i++) put(&X, (int64_t)i, tu_uniform(&rng, -1, 1));
    tu_buf_upload(&X);
    brc_tensor_desc t = tu_mat(BRC_F32, R, C, C), tk = tu_mat(BRC_I64, R, C, C);
    brc_plan *plans[3] = {NULL, NULL, NULL};
    /* The same memory as [C, 3] scanned along dim 0: three long columns. */
    brc_tensor_desc tc = tu_mat(BRC_F32, C, R, R);
    brc_scan_desc d0 = {BRC_SCAN_CUMSUM, t, t, 1, 0, tk}, d1 = {BRC_SCAN_LOGCUMSUMEXP, tc, tc, 0, 1, tk};
    cr_assert_eq(brc_scan_plan(ctx, &d0, NULL, &plans[0]), BRC_STATUS_OK, "%s", brc_last_error());
    setenv("BARACUDA_SCAN_ONEPASS", "1", 1); /* the columns' one pass (logcumsumexp's default is three kernels) */
    cr_assert_eq(brc_scan_plan(ctx, &d1, NULL, &plans[1]), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_SCAN_ONEPASS");
    brc_scan_backward_desc d2 = {BRC_SCAN_CUMSUM, t, t, tk, t, t, 1, 1};
    cr_assert_eq(brc_scan_backward_plan(ctx, &d2, NULL, &plans[2]), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(plans[0]), "+split") && strstr(brc_plan_sku(plans[1]), "+onepass"), "%s / %s",
              brc_plan_sku(plans[0]), brc_plan_sku(plans[1]));
    size_t wsz = 0;
    for (int i = 0; i < 3; i++)
        if (brc_plan_workspace_size(plans[i]) > wsz) wsz = brc_plan_workspace_size(plans[i]);
    tu_buf WS = tu_buf_new(BRC_U8, wsz);
    unsigned char *first = malloc(Y.n * 4);
    cr_assert(first);
    CUstream s;
    cr_assert_eq(brc__cu()->cuStreamCreate(&s, 0), CUDA_SUCCESS);
    void *x = (void *)(uintptr_t)X.d, *y = (void *)(uintptr_t)Y.d, *ws = (void *)(uintptr_t)WS.d;
    for (int i = 0; i < 3; i++)
        for (int rep = 0; rep < 3; rep++) {
            poison(&Y);
            poison(&WS);
            brc_status st;
            tu_capture g = {0};
            CUstream rs = s; /* the third run: captured on the capture's own stream, then replayed */
            if (rep == 2) g = tu_capture_begin(0), rs = g.s;
            if (i < 2) st = brc_scan_run(plans[i], x, y, NULL, ws, wsz, (brc_stream)rs);
            else st = brc_scan_backward_run(plans[i], NULL, NULL, NULL, x, y, ws, wsz, (brc_stream)rs);
            cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
            if (rep == 2) tu_capture_end(&g), tu_capture_replay(&g), tu_capture_free(&g);
            cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
            tu_buf_download(&Y);
            if (rep == 0) {
                memcpy(first, Y.h, Y.n * 4);
                for (size_t e = 0; e < Y.n; e += 4099) cr_assert(!isnan(tu_buf_at(&Y, e)), "written");
            } else {
                cr_expect(memcmp(first, Y.h, Y.n * 4) == 0, "%s differs on run %d", brc_plan_sku(plans[i]), rep);
            }
        }
    brc__cu()->cuStreamDestroy(s);
    free(first);
    for (int i = 0; i < 3; i++) brc_plan_destroy(plans[i]);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K), tu_buf_free(&WS);
    brc_context_destroy(ctx);
}

/* Run-time refusals name what is wrong; in place with the same strides is allowed. */
Test(scan, run_errors_and_in_place, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t R = 4, C = 256;
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)(R * C)), Y = tu_buf_new(BRC_BF16, (size_t)(R * C));
    tu_buf K = tu_buf_new(BRC_I64, (size_t)(R * C));
    uint64_t rng = 5;
    for (size_t i = 0; i < X.n; i++) put(&X, (int64_t)i, tu_uniform(&rng, -1, 1));
    tu_buf_upload(&X);
    void *x = (void *)(uintptr_t)X.d, *y = (void *)(uintptr_t)Y.d, *k = (void *)(uintptr_t)K.d;
    brc_tensor_desc t = tu_mat(BRC_BF16, R, C, C), tk = tu_mat(BRC_I64, R, C, C);
    brc_plan *p = NULL, *q = NULL;
    brc_scan_desc d = {BRC_SCAN_CUMMAX, t, t, -1, 0, tk};
    cr_assert_eq(brc_scan_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_scan_run(p, x, y, NULL, NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "index is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_scan_run(p, (char *)x + 2, y, k, NULL, 0, NULL), BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "x ") && strstr(brc_last_error(), "not aligned to 16 bytes"), "%s",
              brc_last_error());
    cr_expect_eq(brc_scan_run(p, x, y, (char *)k + 4, NULL, 0, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_scan_backward_run(p, x, y, k, x, y, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN);
    /* In place: the same bits as out of place. */
    cr_assert_eq(brc_scan_run(p, x, y, k, NULL, 0, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&Y);
    cr_assert_eq(brc_scan_run(p, x, x, k, NULL, 0, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&X);
    cr_expect(memcmp(X.h, Y.h, X.n * 2) == 0, "in place differs");
    /* The same buffer under other strides is refused. */
    brc_scan_desc d2 = {BRC_SCAN_CUMSUM, tu_mat(BRC_BF16, R, C / 2, C), tu_mat(BRC_BF16, R, C / 2, C / 2), -1, 0, tk};
    cr_assert_eq(brc_scan_plan(ctx, &d2, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_scan_run(q, x, x, NULL, NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "with different strides") != NULL, "%s", brc_last_error());
    brc_plan_destroy(q);
    /* cumprod's backward reads y next door: dx may not be y. */
    brc_scan_backward_desc b = {BRC_SCAN_CUMPROD, t, t, tk, t, t, -1, 0};
    cr_assert_eq(brc_scan_backward_plan(ctx, &b, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_scan_backward_run(q, x, y, NULL, x, y, NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "not allowed for cumprod") != NULL, "%s", brc_last_error());
    brc_plan_destroy(q);
    /* A split plan needs its workspace. */
    int64_t n1[1] = {1 << 22};
    brc_tensor_desc l;
    brc_tensor_desc_contiguous(&l, BRC_F32, 1, n1);
    brc_scan_desc d3 = {BRC_SCAN_CUMSUM, l, l, 0, 0, l};
    cr_assert_eq(brc_scan_plan(ctx, &d3, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    size_t wsz = brc_plan_workspace_size(q);
    cr_expect(wsz > 0);
    cr_expect_eq(brc_scan_run(q, x, y, NULL, (void *)(uintptr_t)K.d, wsz - 1, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "is smaller than the") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_scan_run(q, x, y, NULL, NULL, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "workspace is NULL") != NULL, "%s", brc_last_error());
    brc_plan_destroy(q);
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&K);
    brc_context_destroy(ctx);
}
