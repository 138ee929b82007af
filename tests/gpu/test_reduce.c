/* GPU tests of the reductions: every kind against float64 host references on random data with
 * poisoned outputs, in f32, f64, bf16 (f16 for a few kinds) and integers where supported, over axes
 * last, first, middle, several non-adjacent, all and none (a copy), at odd sizes (1, 7, 33, 1000,
 * 4097, 100003), contiguous, padded and transposed inputs, keepdim or not, contiguous or strided
 * outputs; ties (first index) and NaN propagation; every backward against the analytic gradient;
 * determinism of the split paths (two runs bitwise equal); zero-size and rank-0 cases; run-time
 * errors. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- buffers --------------------------------------------------------------------------------------- */

static double put(tu_buf *b, size_t i, double v) {
    tu_encode(b->t, v, b->h + i * brc_dtype_size(b->t));
    return tu_buf_at(b, i);
}
static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static void *dp(const tu_buf *b) { return b->h ? (void *)(uintptr_t)b->d : NULL; }
static int64_t rd_i64(const tu_buf *b, size_t i) {
    if (b->t == BRC_I32) {
        int32_t v;
        memcpy(&v, b->h + i * 4, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, b->h + i * 8, 8);
    return v;
}

/* ---- the cases ------------------------------------------------------------------------------------- */

typedef struct shape_case {
    int rank;
    int64_t shape[4];
    uint32_t axes;
} shape_case;

/* Each is run with several layouts (contiguous, padded rows, transposed) and outputs. */
static const shape_case shapes[] = {
    {1, {1000}, 1},          {2, {7, 33}, 2},         {2, {7, 33}, 1},         {2, {33, 1000}, 2},
    {2, {33, 1000}, 1},      {3, {5, 4097, 3}, 2},    {4, {6, 7, 8, 9}, 5},    {4, {6, 7, 8, 9}, 10},
    {1, {100003}, 1},        {2, {3, 5}, 0},          {3, {2, 3, 4}, 7},       {2, {64, 4096}, 2},
    {2, {64, 4096}, 1},      {2, {4097, 33}, 1},      {2, {1, 7}, 2},          {0, {0}, 0},
    {2, {3, 0}, 2},          {2, {0, 5}, 2},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

typedef struct op_case {
    brc_reduce_kind kind;
    double p; /* norm */
    double corr;
    int wi;
    const char *name;
} op_case;

static const op_case ops[] = {
    {BRC_REDUCE_SUM, 0, 0, 0, "sum"},
    {BRC_REDUCE_MEAN, 0, 0, 0, "mean"},
    {BRC_REDUCE_PROD, 0, 0, 0, "prod"},
    {BRC_REDUCE_MAX, 0, 0, 1, "max+index"},
    {BRC_REDUCE_MIN, 0, 0, 0, "min"},
    {BRC_REDUCE_ARGMAX, 0, 0, 0, "argmax"},
    {BRC_REDUCE_ARGMIN, 0, 0, 0, "argmin"},
    {BRC_REDUCE_VAR, 0, 1, 0, "var"},
    {BRC_REDUCE_STD, 0, 0, 0, "std correction=0"},
    {BRC_REDUCE_NORM, 2, 0, 0, "norm p=2"},
    {BRC_REDUCE_NORM, 1, 0, 0, "norm p=1"},
    {BRC_REDUCE_NORM, INFINITY, 0, 0, "norm p=inf"},
    {BRC_REDUCE_NORM, 3, 0, 0, "norm p=3"},
    {BRC_REDUCE_LOGSUMEXP, 0, 0, 0, "logsumexp"},
    {BRC_REDUCE_ANY, 0, 0, 0, "any"},
    {BRC_REDUCE_ALL, 0, 0, 0, "all"},
    {BRC_REDUCE_COUNT_NONZERO, 0, 0, 0, "count_nonzero"},
};
#define NOPS_ ((int)(sizeof ops / sizeof ops[0]))

static bool is_ext(brc_reduce_kind k) {
    return k == BRC_REDUCE_MAX || k == BRC_REDUCE_MIN || k == BRC_REDUCE_ARGMAX || k == BRC_REDUCE_ARGMIN;
}

static double tol_of(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1e-12;
    case BRC_F32: return 1e-5;
    case BRC_F16: return 2e-3;
    case BRC_BF16: return 1e-2;
    default: return 0;
    }
}

/* The logical view of one case: x's values by (output o, reduced index j), and where each output
 * lives in y. Coordinates are row-major over x's dims; o over the kept dims, j over the reduced. */
typedef struct model {
    int64_t M, N, numel;
    double *g;       /* M * N values as stored */
    int64_t *xoff;   /* M * N: offsets in x */
    int64_t *yoff;   /* M: offsets in y (and index) */
} model;

static int64_t numel_of(int rank, const int64_t *s) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= s[i];
    return n;
}

/* x strides for layout 0 (contiguous), 1 (rows padded by 3 elements), 2 (transposed: dim 0 fastest). */
static void x_strides(const shape_case *c, int layout, int64_t *st, int64_t *extent) {
    int64_t acc = 1;
    if (layout == 2) {
        for (int i = 0; i < c->rank; i++) {
            st[i] = acc;
            acc *= c->shape[i] > 0 ? c->shape[i] : 1;
        }
    } else {
        for (int i = c->rank - 1; i >= 0; i--) {
            st[i] = acc;
            acc *= c->shape[i] > 0 ? c->shape[i] : 1;
            if (layout == 1 && i == c->rank - 1) acc += 3;
        }
    }
    int64_t e = 1;
    for (int i = 0; i < c->rank; i++) e += (c->shape[i] > 0 ? c->shape[i] - 1 : 0) * st[i];
    *extent = numel_of(c->rank, c->shape) ? e : 1;
}

/* Output descriptor: keepdim or not; strides contiguous or doubled. */
static brc_tensor_desc out_desc(const shape_case *c, brc_dtype t, bool keep, bool strided, int64_t *extent) {
    brc_tensor_desc d = {t, 0, {0}, {0}};
    for (int i = 0; i < c->rank; i++) {
        bool r = (c->axes >> i) & 1;
        if (r && !(keep && c->axes)) continue;
        d.shape[d.rank++] = r ? 1 : c->shape[i];
    }
    int64_t acc = 1;
    for (int i = d.rank - 1; i >= 0; i--) {
        d.strides[i] = acc * (strided ? 2 : 1);
        acc *= d.shape[i] > 0 ? d.shape[i] : 1;
    }
    *extent = acc * (strided ? 2 : 1);
    return d;
}

static model build_model(const shape_case *c, const int64_t *xst, const brc_tensor_desc *y) {
    model m = {1, 1, numel_of(c->rank, c->shape), NULL, NULL, NULL};
    for (int i = 0; i < c->rank; i++) {
        if ((c->axes >> i) & 1) m.N *= c->shape[i];
        else m.M *= c->shape[i];
    }
    m.g = calloc((size_t)(m.numel + 1), sizeof(double));
    m.xoff = calloc((size_t)(m.numel + 1), sizeof(int64_t));
    m.yoff = calloc((size_t)(m.M + 1), sizeof(int64_t));
    cr_assert(m.g && m.xoff && m.yoff);
    for (int64_t L = 0; L < m.numel; L++) {
        int64_t q = L, o = 0, j = 0, om = 1, jm = 1, xo = 0, yo = 0;
        int yd = y->rank - 1;
        for (int i = c->rank - 1; i >= 0; i--) {
            int64_t ci = q % c->shape[i];
            q /= c->shape[i];
            xo += ci * xst[i];
            bool r = (c->axes >> i) & 1;
            if (r) {
                j += ci * jm;
                jm *= c->shape[i];
                if (y->rank == c->rank) yd--;
            } else {
                o += ci * om;
                om *= c->shape[i];
                yo += ci * y->strides[yd--];
            }
        }
        m.xoff[o * m.N + j] = xo;
        m.yoff[o] = yo;
    }
    if (m.N == 0) /* outputs exist with no elements: their offsets from the kept coordinates */
        for (int64_t o = 0; o < m.M; o++) {
            int64_t q = o, yo = 0;
            int yd = y->rank - 1;
            for (int i = c->rank - 1; i >= 0; i--) {
                bool r = (c->axes >> i) & 1;
                if (r) {
                    if (y->rank == c->rank) yd--;
                    continue;
                }
                yo += (q % c->shape[i]) * y->strides[yd--];
                q /= c->shape[i];
            }
            m.yoff[o] = yo;
        }
    return m;
}

static void free_model(model *m) {
    free(m->g);
    free(m->xoff);
    free(m->yoff);
}

/* Reference of one output from its slice v[0..n): value (and index), with the magnitude of the terms
 * that could cancel into it (the tolerance scales with it). */
typedef struct ref {
    double v, terms;
    int64_t idx;
} ref;

static ref reference(const op_case *op, const double *v, int64_t n) {
    ref r = {0, 0, 0};
    switch (op->kind) {
    case BRC_REDUCE_SUM:
    case BRC_REDUCE_MEAN:
        for (int64_t i = 0; i < n; i++) r.v += v[i], r.terms += fabs(v[i]);
        if (op->kind == BRC_REDUCE_MEAN) r.v /= (double)n, r.terms /= (double)n;
        break;
    case BRC_REDUCE_PROD:
        r.v = 1;
        for (int64_t i = 0; i < n; i++) r.v *= v[i];
        r.terms = fabs(r.v) * (double)n * 1e-3; /* accumulated rounding of each step */
        break;
    case BRC_REDUCE_MAX: case BRC_REDUCE_ARGMAX:
    case BRC_REDUCE_MIN: case BRC_REDUCE_ARGMIN: {
        bool mx = op->kind == BRC_REDUCE_MAX || op->kind == BRC_REDUCE_ARGMAX;
        r.v = v[0];
        for (int64_t i = 1; i < n; i++) {
            if (isnan(r.v)) break;
            if (isnan(v[i]) || (mx ? v[i] > r.v : v[i] < r.v)) r.v = v[i], r.idx = i;
        }
        break;
    }
    case BRC_REDUCE_VAR:
    case BRC_REDUCE_STD: {
        double mean = 0, q = 0, t = 0;
        for (int64_t i = 0; i < n; i++) mean += v[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) q += (v[i] - mean) * (v[i] - mean), t += (v[i] - v[0]) * (v[i] - v[0]);
        double dv = fmax(0, (double)n - op->corr);
        r.v = q / dv;
        r.terms = t / dv;
        if (op->kind == BRC_REDUCE_STD) {
            r.v = sqrt(r.v);
            r.terms = r.v > 0 ? r.terms / (2 * r.v) : 0;
        }
        break;
    }
    case BRC_REDUCE_NORM:
        if (isinf(op->p)) {
            for (int64_t i = 0; i < n; i++) r.v = isnan(r.v) || isnan(v[i]) ? NAN : fmax(r.v, fabs(v[i]));
        } else {
            for (int64_t i = 0; i < n; i++) r.v += pow(fabs(v[i]), op->p);
            r.v = pow(r.v, 1 / op->p);
        }
        r.terms = fabs(r.v);
        break;
    case BRC_REDUCE_LOGSUMEXP: {
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) mx = isnan(v[i]) || isnan(mx) ? NAN : fmax(mx, v[i]);
        if (isinf(mx) || isnan(mx)) { r.v = mx; break; }
        for (int64_t i = 0; i < n; i++) s += exp(v[i] - mx);
        r.v = mx + log(s);
        r.terms = fabs(mx) + 1;
        break;
    }
    case BRC_REDUCE_ANY:
        for (int64_t i = 0; i < n; i++) r.v = r.v || v[i] != 0;
        break;
    case BRC_REDUCE_ALL:
        r.v = 1;
        for (int64_t i = 0; i < n; i++) r.v = r.v && v[i] != 0;
        break;
    case BRC_REDUCE_COUNT_NONZERO:
        for (int64_t i = 0; i < n; i++) r.v += v[i] != 0;
        break;
    default: break;
    }
    if (n == 0) { /* PyTorch's empty reductions */
        static const double e[] = {0, NAN, 1, 0, 0, 0, 0, NAN, NAN, 0, -INFINITY, 0, 1, 0};
        r.v = e[op->kind];
        r.terms = 0;
    }
    return r;
}

/* Data for a kind: extremum kinds get values on a grid of 0.25 (ties in every dtype); prod near 1;
 * any / all / count get many zeros; var an offset so that the shift matters. */
static double sample(const op_case *op, brc_dtype dt, uint64_t *rng) {
    if (brc_dtype_is_integer(dt) || dt == BRC_BOOL) {
        int64_t v = (int64_t)(tu_rand(rng) % 7) - 3;
        if (dt == BRC_BOOL || dt == BRC_U8 || dt == BRC_U32) v = v < 0 ? 0 : v;
        if (dt == BRC_BOOL) v = v != 0;
        return (double)v;
    }
    if (is_ext(op->kind)) return floor(tu_uniform(rng, -8, 8)) * 0.25;
    if (op->kind == BRC_REDUCE_PROD) return tu_uniform(rng, 0.97, 1.03) * ((tu_rand(rng) & 7) ? 1 : -1);
    if (op->kind == BRC_REDUCE_ANY || op->kind == BRC_REDUCE_ALL || op->kind == BRC_REDUCE_COUNT_NONZERO)
        return (tu_rand(rng) % 3) ? tu_uniform(rng, -2, 2) : 0;
    if (op->kind == BRC_REDUCE_VAR || op->kind == BRC_REDUCE_STD) return tu_uniform(rng, -1, 1) + 5;
    return tu_uniform(rng, -3, 3);
}

static brc_dtype out_dtype(brc_reduce_kind k, brc_dtype xt, int variant) {
    if (k == BRC_REDUCE_ARGMAX || k == BRC_REDUCE_ARGMIN || k == BRC_REDUCE_COUNT_NONZERO)
        return variant & 1 ? BRC_I32 : BRC_I64;
    if (k == BRC_REDUCE_ANY || k == BRC_REDUCE_ALL) return BRC_BOOL;
    if (brc_dtype_is_integer(xt) && (k == BRC_REDUCE_SUM || k == BRC_REDUCE_PROD)) return BRC_I64;
    return xt;
}

/* One forward case: returns the number of mismatches (expectations raised inside). */
static void run_forward(brc_context *ctx, const op_case *op, brc_dtype dt, const shape_case *c, int layout,
                        int variant, bool with_nan) {
    char name[256];
    snprintf(name, sizeof name, "%s %s rank=%d shape=%lldx%lldx%lldx%lld axes=0x%x layout=%d variant=%d%s", op->name,
             brc_dtype_name(dt), c->rank, (long long)c->shape[0], (long long)c->shape[1], (long long)c->shape[2],
             (long long)c->shape[3], c->axes, layout, variant, with_nan ? " nan" : "");
    int64_t N = 1;
    for (int i = 0; i < c->rank; i++)
        if ((c->axes >> i) & 1) N *= c->shape[i];
    if (is_ext(op->kind) && N == 0) return; /* refused at plan time: test_reduce_host */
    if (op->kind == BRC_REDUCE_PROD && N > 5000) return; /* over/underflows: nothing to compare */
    uint64_t rng = 0x1234 + (uint64_t)variant * 7919 + (uint64_t)dt * 104729 + (uint64_t)layout * 31 +
                   (uint64_t)(op - ops) * 1299709 + (uint64_t)c->shape[0] * 17 + c->axes;
    int64_t xst[4], xext, yext;
    x_strides(c, layout, xst, &xext);
    brc_dtype yt = out_dtype(op->kind, dt, variant);
    brc_tensor_desc x = {dt, c->rank, {0}, {0}};
    for (int i = 0; i < c->rank; i++) x.shape[i] = c->shape[i], x.strides[i] = xst[i];
    brc_tensor_desc y = out_desc(c, yt, variant & 1, variant & 2, &yext);
    brc_tensor_desc ix = y;
    ix.dtype = BRC_I64;
    model m = build_model(c, xst, &y);
    tu_buf X = tu_buf_new(dt, (size_t)xext), Y = tu_buf_new(yt, (size_t)yext), I = tu_buf_new(BRC_I64, (size_t)yext);
    memset(X.h, 0, X.n * brc_dtype_size(dt));
    for (int64_t k = 0; k < m.numel; k++) {
        double v = sample(op, dt, &rng);
        if (with_nan && (tu_rand(&rng) % 97) == 0) v = NAN;
        m.g[k] = put(&X, (size_t)m.xoff[k], v);
    }
    tu_buf_upload(&X);
    brc_reduce_desc d = {op->kind, x, y, c->axes, op->corr, op->p, op->wi, ix};
    brc_plan *p = NULL;
    brc_status st = brc_reduce_plan(ctx, &d, NULL, &p);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", name, brc_last_error(), brc_last_jit_log());
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = {0};
    if (wsz) {
        WS = tu_buf_new(BRC_U8, wsz);
        poison(&WS);
    }
    poison(&Y);
    poison(&I);
    cr_assert_eq(brc_reduce_run(p, dp(&X), dp(&Y), dp(&I), dp(&WS), wsz, NULL), BRC_STATUS_OK, "%s: %s", name,
                 brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", name);
    tu_buf_download(&Y);
    tu_buf_download(&I);
    long fails = 0;
    char first[400] = "";
    double tol = tol_of(dt);
    for (int64_t o = 0; o < m.M; o++) {
        ref r = reference(op, m.g + o * m.N, m.N);
        size_t yo = (size_t)m.yoff[o];
        bool ok;
        double got = 0;
        if (op->kind == BRC_REDUCE_ARGMAX || op->kind == BRC_REDUCE_ARGMIN) {
            got = (double)rd_i64(&Y, yo);
            ok = (int64_t)got == r.idx;
        } else if (op->kind == BRC_REDUCE_COUNT_NONZERO) {
            got = (double)rd_i64(&Y, yo);
            ok = got == r.v;
        } else {
            got = tu_buf_at(&Y, yo);
            /* The reference rounded to y's dtype: exact kinds compare exactly. */
            unsigned char tmp[8];
            tu_encode(yt, r.v, tmp);
            double rr = tu_decode(yt, tmp);
            if (isnan(r.v)) ok = isnan(got);
            else if (isinf(r.v)) ok = got == r.v;
            else ok = fabs(got - rr) <= tol * (fabs(rr) + r.terms) + (dt == BRC_F16 ? 1e-7 : 0);
            if (op->wi && ok) {
                ok = rd_i64(&I, yo) == r.idx;
                if (!ok) got = (double)rd_i64(&I, yo);
            }
        }
        if (!ok && fails++ == 0)
            snprintf(first, sizeof first, "output %lld: got %.9g, want %.9g (index %lld, terms %.3g)", (long long)o,
                     got, r.v, (long long)r.idx, r.terms);
    }
    cr_expect_eq(fails, 0, "%s: %ld of %lld outputs wrong; first %s [%s]", name, fails, (long long)m.M, first,
                 brc_plan_sku(p));
    brc_plan_destroy(p);
    free_model(&m);
    tu_buf_free(&X);
    tu_buf_free(&Y);
    tu_buf_free(&I);
    if (WS.h) tu_buf_free(&WS);
}

typedef struct job {
    int op;
    brc_dtype dt;
} job;

ParameterizedTestParameters(reduce, every_kind_dtype_shape_layout) {
    static job jobs[NOPS_ * 4];
    static const brc_dtype dts[] = {BRC_F32, BRC_BF16, BRC_F64, BRC_F16};
    int n = 0;
    for (int o = 0; o < NOPS_; o++)
        for (int d = 0; d < 4; d++) {
            /* f16 for a few kinds: the storage paths are bf16's. */
            if (dts[d] == BRC_F16 && !(ops[o].kind == BRC_REDUCE_SUM || ops[o].kind == BRC_REDUCE_MAX ||
                                       ops[o].kind == BRC_REDUCE_VAR || ops[o].kind == BRC_REDUCE_LOGSUMEXP))
                continue;
            jobs[n++] = (job){o, dts[d]};
        }
    return cr_make_param_array(job, jobs, (size_t)n);
}

ParameterizedTest(job *j, reduce, every_kind_dtype_shape_layout, .timeout = 1200) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const op_case *op = &ops[j->op];
    for (int s = 0; s < NSHAPES; s++) {
        /* Layouts 1 and 2 only where they differ from 0 (rank >= 2) and not on the biggest shapes. */
        int nl = shapes[s].rank >= 2 && numel_of(shapes[s].rank, shapes[s].shape) < 200000 ? 3 : 1;
        for (int l = 0; l < nl; l++) run_forward(ctx, op, j->dt, &shapes[s], l, s + l, false);
    }
    /* NaN propagation (and NaN as the extremum) for the float kinds that propagate it. */
    if (op->kind != BRC_REDUCE_ANY && op->kind != BRC_REDUCE_ALL && op->kind != BRC_REDUCE_COUNT_NONZERO)
        for (int s = 0; s < 5; s++) run_forward(ctx, op, j->dt, &shapes[s], 0, s, true);
    brc_context_destroy(ctx);
}

/* Extrema of f32 / f64 over long rows: 270 rows of 32776 (16 vectors a thread, not split) and a
 * row of 2^17 + 4 split over CTAs, with and without NaN (ties: the test's small-integer samples). */
Test(reduce, extrema_long_rows, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const shape_case longs[] = {{2, {270, 32776}, 2}, {1, {(1 << 17) + 4}, 1}};
    static const brc_dtype dts[] = {BRC_F32, BRC_F64};
    for (int o = 0; o < (int)(sizeof ops / sizeof ops[0]); o++) {
        if (!is_ext(ops[o].kind)) continue;
        for (int d = 0; d < 2; d++)
            for (int s = 0; s < 2; s++) {
                run_forward(ctx, &ops[o], dts[d], &longs[s], 0, 40 + s, false);
                run_forward(ctx, &ops[o], dts[d], &longs[s], 0, 42 + s, true);
            }
    }
    brc_context_destroy(ctx);
}

/* The plan of a contiguous case: its SKU must contain `has` and not `lacks` (NULL: no check). */
static void expect_sku(brc_context *ctx, const op_case *op, brc_dtype dt, const shape_case *c, const char *has,
                       const char *lacks) {
    int64_t ext;
    brc_tensor_desc x;
    cr_assert_eq(brc_tensor_desc_contiguous(&x, dt, c->rank, c->shape), BRC_STATUS_OK);
    brc_tensor_desc y = out_desc(c, out_dtype(op->kind, dt, 0), false, false, &ext), ix = y;
    ix.dtype = BRC_I64;
    brc_reduce_desc d = {op->kind, x, y, c->axes, op->corr, op->p, op->wi, ix};
    brc_plan *p = NULL;
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    const char *sku = brc_plan_sku(p);
    cr_expect(strstr(sku, has) != NULL, "%s %s: want '%s' in %s", op->name, brc_dtype_name(dt), has, sku);
    if (lacks) cr_expect(strstr(sku, lacks) == NULL, "%s %s: no '%s' in %s", op->name, brc_dtype_name(dt), lacks, sku);
    brc_plan_destroy(p);
}

/* The geometries chosen by size (red6), sized from the device's SM count so that each rule
 * applies: (1) columns of 4- / 8-byte elements that 32 threads along the outputs would split
 * and 16 do not (16x16 threads, no split); (2) f32 extrema over rows of 2^17 + 4 with two CTAs an
 * SM of rows (256 threads a row, minb=4), with and without NaN; (3) a split f32 sum / mean of one
 * long row (minb=2); (4) split bf16 columns (u=8, minb=2). Each checked against the f64
 * reference as the other cases, and its SKU. */
Test(reduce, size_tuned_geometries, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int64_t sms = ctx->sm_count;
    const op_case *sum = &ops[0], *mean = &ops[1], *maxi = &ops[3], *argmin = &ops[6];
    /* (1) f32: 4 outputs a vector, 40 sms vectors (+ an odd row count); f64: 2 a vector. */
    shape_case c32 = {2, {301, 160 * sms}, 1}, c64 = {2, {301, 80 * sms}, 1};
    expect_sku(ctx, sum, BRC_F32, &c32, "tx=16,ty=16,split=1>", "+fin");
    expect_sku(ctx, sum, BRC_F64, &c64, "tx=16,ty=16,split=1>", "+fin");
    run_forward(ctx, sum, BRC_F32, &c32, 0, 50, false);
    run_forward(ctx, mean, BRC_F32, &c32, 0, 51, false);
    run_forward(ctx, sum, BRC_F64, &c64, 0, 52, false);
    /* bf16 there: 8 outputs a vector, 20 sms vectors: split, with 8 vectors in flight, minb=2. */
    expect_sku(ctx, sum, BRC_BF16, &c32, ",u=8,minb=2,+fint>", NULL);
    run_forward(ctx, sum, BRC_BF16, &c32, 0, 59, false);
    run_forward(ctx, mean, BRC_BF16, &c32, 0, 60, false);
    /* (2) */
    shape_case r = {2, {2 * sms + 5, (1 << 17) + 4}, 2};
    expect_sku(ctx, maxi, BRC_F32, &r, "tpr=256,rpb=1,split=1,minb=4,xi>", NULL);
    expect_sku(ctx, argmin, BRC_F32, &r, "tpr=256,rpb=1,split=1,minb=4,xi>", NULL);
    run_forward(ctx, maxi, BRC_F32, &r, 0, 53, false);
    run_forward(ctx, maxi, BRC_F32, &r, 0, 54, true);
    run_forward(ctx, argmin, BRC_F32, &r, 0, 55, false);
    run_forward(ctx, argmin, BRC_F32, &r, 0, 56, true);
    /* (3) */
    shape_case l = {1, {(1 << 21) + 12}, 1};
    expect_sku(ctx, sum, BRC_F32, &l, ",minb=2,ou=2,+fin>", NULL);
    expect_sku(ctx, mean, BRC_F32, &l, ",minb=2,ou=2,+fin>", NULL);
    run_forward(ctx, sum, BRC_F32, &l, 0, 57, false);
    run_forward(ctx, mean, BRC_F32, &l, 0, 58, false);
    brc_context_destroy(ctx);
}

/* scanred8: the sweeps without bounds tests (a split CTA a contiguous run of whole sweeps, the rest
 * a vector at a time), the value-only max / min (min here; max with its index, argmax), and the
 * thread-an-output second pass are the defaults; the knobs bring back the former kernels, or take
 * the other index search (the element's index inside the sweep, XI) with three sweeps a loop trip.
 * Each, on shapes whose sweeps do not divide (partial and empty split CTAs, rows of several a CTA
 * with a partial last CTA), against the f64 reference, with and without NaN. */
Test(reduce, flat_sweeps_and_former_kernels, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int64_t sms = ctx->sm_count;
    const op_case *sum = &ops[0], *mini = &ops[4], *argmax = &ops[5], *lse = &ops[13];
    shape_case one = {1, {(1 << 21) + 12}, 1}, rows = {2, {2 * sms + 5, (1 << 17) + 4}, 2},
               shortr = {2, {1001, 70}, 2}, cols = {2, {301, 160 * sms}, 1}, few = {2, {5, 1000003}, 2};
    const op_case *maxi = &ops[3], *row_ops[] = {sum, maxi, mini, argmax, lse};
    for (int variant = 0; variant < 3; variant++) {
        if (variant == 1) {
            setenv("BARACUDA_REDUCE_FLAT", "0", 1);
            setenv("BARACUDA_REDUCE_XV", "0", 1);
            setenv("BARACUDA_REDUCE_FINT", "0", 1);
            expect_sku(ctx, mini, BRC_F32, &rows, ",flat=0,xv=0>", NULL);
            expect_sku(ctx, sum, BRC_BF16, &cols, ",flat=0,+fin>", NULL);
        } else if (variant == 2) {
            unsetenv("BARACUDA_REDUCE_FLAT");
            unsetenv("BARACUDA_REDUCE_XV");
            unsetenv("BARACUDA_REDUCE_FINT");
            setenv("BARACUDA_REDUCE_XI", "1", 1);
            setenv("BARACUDA_REDUCE_OU", "3", 1);
            expect_sku(ctx, argmax, BRC_F32, &rows, ",ou=3,xi>", NULL);
        } else {
            expect_sku(ctx, mini, BRC_F32, &rows, "tpr=512,rpb=1,split=1,ou=2>", ",flat=0");
            expect_sku(ctx, argmax, BRC_F32, &rows, "tpr=256,rpb=1,split=1,minb=4,xi>", ",flat=0");
            expect_sku(ctx, sum, BRC_BF16, &cols, ",+fint>", ",flat=0");
            expect_sku(ctx, sum, BRC_F32, &one, ",+fin>", ",flat=0");
        }
        for (int k = 0; k < 5; k++) {
            const shape_case *cs[] = {&one, &rows, &shortr, &few};
            for (int c = 0; c < 4; c++) {
                /* the long rows (long_ext's geometry): the extrema, not the former kernels; the
                 * other index search: the kinds with an index only (a GPU run's time limit) */
                if (c == 1 && (k == 0 || k == 4 || variant == 1)) continue;
                if (variant == 2 && (k == 0 || k == 2 || k == 4)) continue;
                if (variant == 1 && c == 3) continue;
                run_forward(ctx, row_ops[k], BRC_F32, cs[c], 0, 70 + 10 * k + c, false);
                if (k > 0 && k < 4 && (c != 1 || variant == 0)) /* NaN: the long rows once */
                    run_forward(ctx, row_ops[k], BRC_F32, cs[c], 0, 70 + 10 * k + c, true);
            }
            if (variant != 2 || k == 1 || k == 3) run_forward(ctx, row_ops[k], BRC_BF16, &shortr, 0, 120 + k, k > 0 && k < 4);
        }
        run_forward(ctx, sum, BRC_BF16, &cols, 0, 130, false);
        run_forward(ctx, mini, BRC_BF16, &cols, 0, 131, true);
        run_forward(ctx, argmax, BRC_F32, &cols, 0, 132, true);
    }
    unsetenv("BARACUDA_REDUCE_XI");
    unsetenv("BARACUDA_REDUCE_OU");
    brc_context_destroy(ctx);
}

/* Integer and bool inputs for the kinds that take them. */
Test(reduce, integer_and_bool_inputs, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int kinds[] = {0, 2, 3, 4, 5, 6, 14, 15, 16};
    static const brc_dtype its[] = {BRC_I32, BRC_I64, BRC_U8, BRC_I16};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int t = 0; t < 4; t++)
            for (int s = 0; s < 6; s++) {
                if (ops[kinds[k]].kind == BRC_REDUCE_PROD && s != 1 && s != 2) continue;
                run_forward(ctx, &ops[kinds[k]], its[t], &shapes[s], s % 3, s, false);
            }
    for (int k = 14; k <= 16; k++)
        for (int s = 0; s < 6; s++) run_forward(ctx, &ops[k], BRC_BOOL, &shapes[s], s % 3, s, false);
    brc_context_destroy(ctx);
}

/* ---- backward ---------------------------------------------------------------------------------------- */

static const op_case bops[] = {
    {BRC_REDUCE_SUM, 0, 0, 0, "sum"},       {BRC_REDUCE_MEAN, 0, 0, 0, "mean"},
    {BRC_REDUCE_PROD, 0, 0, 0, "prod"},     {BRC_REDUCE_MAX, 0, 0, 1, "max"},
    {BRC_REDUCE_MIN, 0, 0, 1, "min"},       {BRC_REDUCE_VAR, 0, 1, 0, "var"},
    {BRC_REDUCE_STD, 0, 1, 0, "std"},       {BRC_REDUCE_NORM, 2, 0, 0, "norm p=2"},
    {BRC_REDUCE_NORM, 1, 0, 0, "norm p=1"}, {BRC_REDUCE_NORM, 3, 0, 0, "norm p=3"},
    {BRC_REDUCE_LOGSUMEXP, 0, 0, 0, "logsumexp"},
};
#define NBOPS ((int)(sizeof bops / sizeof bops[0]))

/* mark: a text the plan's SKU must contain (NULL: none). */
static void run_backward(brc_context *ctx, const op_case *op, brc_dtype dt, const shape_case *c, int layout,
                         int variant, const char *mark) {
    char name[256];
    snprintf(name, sizeof name, "bwd %s %s shape=%lldx%lldx%lldx%lld axes=0x%x layout=%d variant=%d", op->name,
             brc_dtype_name(dt), (long long)c->shape[0], (long long)c->shape[1], (long long)c->shape[2],
             (long long)c->shape[3], c->axes, layout, variant);
    uint64_t rng = 0xbead + (uint64_t)variant * 7919 + (uint64_t)dt * 104729 + (uint64_t)(op - bops) * 1299709 +
                   (uint64_t)c->shape[0];
    int64_t xst[4], xext, yext;
    x_strides(c, layout, xst, &xext);
    brc_tensor_desc x = {dt, c->rank, {0}, {0}};
    for (int i = 0; i < c->rank; i++) x.shape[i] = c->shape[i], x.strides[i] = xst[i];
    brc_tensor_desc y = out_desc(c, dt, variant & 1, variant & 2, &yext);
    brc_tensor_desc ix = y;
    ix.dtype = BRC_I64;
    model m = build_model(c, xst, &y);
    if (m.N == 0 && is_ext(op->kind)) {
        free_model(&m);
        return;
    }
    tu_buf X = tu_buf_new(dt, (size_t)xext), DX = tu_buf_new(dt, (size_t)xext);
    tu_buf Y = tu_buf_new(dt, (size_t)yext), DY = tu_buf_new(dt, (size_t)yext), I = tu_buf_new(BRC_I64, (size_t)yext);
    memset(X.h, 0, X.n * brc_dtype_size(dt));
    memset(Y.h, 0, Y.n * brc_dtype_size(dt));
    memset(DY.h, 0, DY.n * brc_dtype_size(dt));
    memset(I.h, 0, I.n * 8);
    for (int64_t k = 0; k < m.numel; k++) {
        double v = sample(op, dt, &rng);
        /* prod: zeros, one in some slices and two in others */
        if (op->kind == BRC_REDUCE_PROD && (k % m.N == 3 || ((k / m.N) % 3 == 0 && k % m.N == 5))) v = 0;
        m.g[k] = put(&X, (size_t)m.xoff[k], v);
    }
    /* y (rounded as the forward would store it), the index, and dy. */
    double *yv = calloc((size_t)m.M + 1, sizeof(double)), *gv = calloc((size_t)m.M + 1, sizeof(double));
    int64_t *iv = calloc((size_t)m.M + 1, sizeof(int64_t));
    cr_assert(yv && gv && iv);
    for (int64_t o = 0; o < m.M; o++) {
        ref r = reference(op, m.g + o * m.N, m.N);
        yv[o] = put(&Y, (size_t)m.yoff[o], r.v);
        iv[o] = r.idx;
        memcpy(I.h + m.yoff[o] * 8, &r.idx, 8);
        gv[o] = put(&DY, (size_t)m.yoff[o], tu_uniform(&rng, -1, 1));
    }
    tu_buf_upload(&X);
    tu_buf_upload(&Y);
    tu_buf_upload(&DY);
    tu_buf_upload(&I);
    /* dx: padded rows of its own (layout 1 padding) so that its strides differ from x's. */
    brc_tensor_desc dxd = x;
    brc_reduce_backward_desc d = {op->kind, x, y, y, dxd, c->axes, op->corr, op->p, ix};
    brc_plan *p = NULL;
    cr_assert_eq(brc_reduce_backward_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", name, brc_last_error(),
                 brc_last_jit_log());
    if (mark) cr_expect(strstr(brc_plan_sku(p), mark), "%s: SKU %s lacks %s", name, brc_plan_sku(p), mark);
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = {0};
    if (wsz) {
        WS = tu_buf_new(BRC_U8, wsz);
        poison(&WS);
    }
    poison(&DX);
    cr_assert_eq(brc_reduce_backward_run(p, dp(&X), dp(&Y), dp(&I), dp(&DY), dp(&DX), dp(&WS), wsz, NULL),
                 BRC_STATUS_OK, "%s: %s", name, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", name);
    tu_buf_download(&DX);
    long fails = 0;
    char first[300] = "";
    double tol = tol_of(dt);
    double n = (double)m.N;
    for (int64_t o = 0; o < m.M; o++) {
        const double *v = m.g + o * m.N;
        double mean = 0;
        for (int64_t j = 0; j < m.N; j++) mean += v[j];
        mean /= n;
        double dv = fmax(0, n - op->corr);
        for (int64_t j = 0; j < m.N; j++) {
            double want = 0, terms = 0, g = gv[o];
            switch (op->kind) {
            case BRC_REDUCE_SUM: want = g; break;
            case BRC_REDUCE_MEAN: want = g / n; break;
            case BRC_REDUCE_PROD: {
                double pr = 1;
                for (int64_t q = 0; q < m.N; q++)
                    if (q != j) pr *= v[q];
                want = g * pr;
                terms = fabs(want) * n * 1e-3;
                break;
            }
            case BRC_REDUCE_MAX: case BRC_REDUCE_MIN: want = j == iv[o] ? g : 0; break;
            case BRC_REDUCE_VAR: want = g * 2 * (v[j] - mean) / dv; terms = fabs(g) * 2 * (fabs(v[j]) + fabs(mean)) / dv; break;
            case BRC_REDUCE_STD:
                want = g * (v[j] - mean) / (dv * yv[o]);
                terms = fabs(g) * (fabs(v[j]) + fabs(mean)) / (dv * yv[o]);
                break;
            case BRC_REDUCE_NORM:
                if (op->p == 1) want = g * (v[j] > 0 ? 1 : v[j] < 0 ? -1 : 0);
                else want = yv[o] == 0 ? 0 : g * (v[j] > 0 ? 1 : v[j] < 0 ? -1 : 0) * pow(fabs(v[j]) / yv[o], op->p - 1);
                terms = fabs(want);
                break;
            case BRC_REDUCE_LOGSUMEXP: want = g * exp(v[j] - yv[o]); terms = fabs(want) * (fabs(v[j]) + fabs(yv[o])); break;
            default: break;
            }
            double got = tu_buf_at(&DX, (size_t)m.xoff[o * m.N + j]);
            if (!(fabs(got - want) <= tol * (fabs(want) + terms) + (dt == BRC_F16 ? 1e-7 : 0)) && fails++ == 0)
                snprintf(first, sizeof first, "output %lld element %lld: got %.9g, want %.9g", (long long)o,
                         (long long)j, got, want);
        }
    }
    cr_expect_eq(fails, 0, "%s: %ld of %lld wrong; first %s [%s]", name, fails, (long long)m.numel, first,
                 brc_plan_sku(p));
    brc_plan_destroy(p);
    free(yv);
    free(gv);
    free(iv);
    free_model(&m);
    tu_buf *all[] = {&X, &DX, &Y, &DY, &I, &WS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->h) tu_buf_free(all[i]);
}

ParameterizedTestParameters(reduce, backward_every_kind) {
    static job jobs[NBOPS * 3];
    static const brc_dtype dts[] = {BRC_F32, BRC_BF16, BRC_F64};
    for (int o = 0; o < NBOPS; o++)
        for (int d = 0; d < 3; d++) jobs[o * 3 + d] = (job){o, dts[d]};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, reduce, backward_every_kind, .timeout = 1200) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int which[] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 13, 14, 16};
    for (size_t s = 0; s < sizeof which / sizeof which[0]; s++) {
        const shape_case *c = &shapes[which[s]];
        if (bops[j->op].kind == BRC_REDUCE_PROD && numel_of(c->rank, c->shape) > 40000) continue; /* O(n^2) ref */
        int nl = c->rank >= 2 ? 3 : 1;
        for (int l = 0; l < nl; l++) run_backward(ctx, &bops[j->op], j->dt, c, l, (int)s + l, NULL);
    }
    brc_context_destroy(ctx);
}

/* The backward of var / std over rows in one pass (reduce_vbwd) and through the mean pass and the
 * elementwise kernel (BARACUDA_REDUCE_VFUSE=2 and 0), every dtype: odd rows of 8191 (a vector an element, 8
 * a thread of 1024), rows of 32768 (8 f32 vectors a thread), 3-element rows (a thread a row, 256 rows
 * a CTA), rows of 1000 (4 rows a CTA), padded rows (layout 1); the SKU says which path ran. */
ParameterizedTestParameters(reduce, var_std_backward_one_pass) {
    static job jobs[8];
    static const brc_dtype dts[] = {BRC_F32, BRC_BF16, BRC_F16, BRC_F64};
    for (int o = 0; o < 2; o++)
        for (int d = 0; d < 4; d++) jobs[o * 4 + d] = (job){5 + o, dts[d]};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

/* Whether a row (the last dim, reduced, padded by 3 in layout 1) fits the one pass: at most 8 vectors
 * a thread of 1024, the vector the widest of at most 16 bytes dividing the row and its pitch. */
static bool one_pass_fits(brc_dtype dt, const shape_case *c, int layout) {
    int64_t n = c->shape[c->rank - 1], pitch = layout == 1 ? n + 3 : n;
    int64_t v = 16 / (int64_t)brc_dtype_size(dt);
    while (v > 1 && (n % v || pitch % v)) v /= 2;
    return n / v <= 8 * 1024;
}

ParameterizedTest(job *j, reduce, var_std_backward_one_pass, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const shape_case cs[] = {
        {2, {7, 8191}, 2}, {2, {3, 32768}, 2}, {3, {5, 41, 3}, 4}, {2, {33, 1000}, 2}, {2, {64, 4096}, 2},
    };
    for (int fuse = 1; fuse >= 0; fuse--) {
        setenv("BARACUDA_REDUCE_VFUSE", fuse ? "2" : "0", 1);
        for (size_t s = 0; s < sizeof cs / sizeof cs[0]; s++)
            for (int l = 0; l < 2; l++)
                run_backward(ctx, &bops[j->op], j->dt, &cs[s], l, 100 + (int)s * 2 + l,
                             fuse && one_pass_fits(j->dt, &cs[s], l) ? ">+onepass@" : "+mean<");
    }
    unsetenv("BARACUDA_REDUCE_VFUSE");
    brc_context_destroy(ctx);
}

/* ---- determinism, the split paths, run-time errors ----------------------------------------------------- */

/* Two runs of the split paths (a full reduce; a column reduce with few outputs) are bitwise equal,
 * and so is a run captured in a CUDA graph. */
Test(reduce, split_paths_deterministic, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t n = (int64_t)1 << 22;
    uint64_t rng = 5;
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)n);
    double want = 0, terms = 0;
    for (size_t i = 0; i < X.n; i++) {
        double v = put(&X, i, tu_uniform(&rng, -1, 1) + 0.25);
        want += v;
        terms += fabs(v);
    }
    tu_buf_upload(&X);
    int64_t s1[1] = {n}, s2[2] = {n / 64, 64}, s64[1] = {64};
    brc_tensor_desc x1, y0, x2, y1;
    brc_tensor_desc_contiguous(&x1, BRC_BF16, 1, s1);
    brc_tensor_desc_contiguous(&y0, BRC_F32, 0, NULL);
    brc_tensor_desc_contiguous(&x2, BRC_BF16, 2, s2);
    brc_tensor_desc_contiguous(&y1, BRC_BF16, 1, s64);
    y0.dtype = BRC_BF16;
    brc_reduce_desc ds[2] = {{BRC_REDUCE_SUM, x1, y0, 1u, 0, 0, 0, {0}}, {BRC_REDUCE_VAR, x2, y1, 1u, 1, 0, 0, {0}}};
    CUstream s;
    cr_assert_eq(brc__cu()->cuStreamCreate(&s, 0), CUDA_SUCCESS);
    for (int k = 0; k < 2; k++) {
        brc_plan *p = NULL;
        cr_assert_eq(brc_reduce_plan(ctx, &ds[k], NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_sku(p), "+fin") != NULL, "the split path: %s", brc_plan_sku(p));
        size_t wsz = brc_plan_workspace_size(p);
        cr_assert_gt(wsz, 0);
        tu_buf WS = tu_buf_new(BRC_U8, wsz), Y = tu_buf_new(BRC_BF16, 64);
        /* One byte short: refused. */
        cr_expect_eq(brc_reduce_run(p, dp(&X), dp(&Y), NULL, dp(&WS), wsz - 1, (brc_stream)s),
                     BRC_STATUS_INVALID_ARGUMENT);
        unsigned char first[128];
        for (int rep = 0; rep < 3; rep++) {
            poison(&Y);
            poison(&WS);
            if (rep < 2) {
                cr_assert_eq(brc_reduce_run(p, dp(&X), dp(&Y), NULL, dp(&WS), wsz, (brc_stream)s), BRC_STATUS_OK, "%s",
                             brc_last_error());
            } else {
                tu_capture g = tu_capture_begin(0);
                cr_assert_eq(brc_reduce_run(p, dp(&X), dp(&Y), NULL, dp(&WS), wsz, (brc_stream)g.s), BRC_STATUS_OK);
                tu_capture_end(&g);
                tu_capture_replay(&g);
                tu_capture_free(&g);
            }
            cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
            tu_buf_download(&Y);
            if (rep == 0) {
                memcpy(first, Y.h, 128);
                if (k == 0) {
                    double got = tu_buf_at(&Y, 0);
                    cr_expect(fabs(got - want) <= 1e-2 * (fabs(want) + terms * 1e-4), "sum %g, want %g", got, want);
                } else {
                    for (size_t i = 0; i < 64; i++) cr_expect(fabs(tu_buf_at(&Y, i) - 1.0 / 3) < 0.02, "var %g", tu_buf_at(&Y, i));
                }
            } else {
                cr_expect(memcmp(first, Y.h, (size_t)(k == 0 ? 2 : 128)) == 0, "run %d differs (%s)", rep,
                          brc_plan_sku(p));
            }
        }
        tu_buf_free(&WS);
        tu_buf_free(&Y);
        brc_plan_destroy(p);
    }
    brc__cu()->cuStreamDestroy(s);
    tu_buf_free(&X);
    brc_context_destroy(ctx);
}

Test(reduce, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int64_t m[2] = {4, 256}, r[1] = {4};
    brc_tensor_desc x, y, ix;
    brc_tensor_desc_contiguous(&x, BRC_BF16, 2, m);
    brc_tensor_desc_contiguous(&y, BRC_BF16, 1, r);
    brc_tensor_desc_contiguous(&ix, BRC_I64, 1, r);
    tu_buf X = tu_buf_new(BRC_BF16, 1100), Y = tu_buf_new(BRC_BF16, 8), I = tu_buf_new(BRC_I64, 8);
    brc_reduce_desc d = {BRC_REDUCE_MAX, x, y, 2u, 0, 0, 1, ix};
    brc_plan *p = NULL, *q = NULL;
    cr_assert_eq(brc_reduce_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_reduce_run(p, NULL, dp(&Y), dp(&I), NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "x is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_reduce_run(p, dp(&X), dp(&Y), NULL, NULL, 0, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "index is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_reduce_run(p, (char *)dp(&X) + 2, dp(&Y), dp(&I), NULL, 0, NULL), BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "not aligned to 16 bytes") != NULL, "%s", brc_last_error());
    /* A narrower vector takes the unaligned view. */
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 1;
    cr_assert_eq(brc_reduce_plan(ctx, &d, &pr, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_reduce_run(q, (char *)dp(&X) + 2, dp(&Y), dp(&I), NULL, 0, NULL), BRC_STATUS_OK, "%s",
                 brc_last_error());
    cr_expect_eq(brc_reduce_backward_run(q, dp(&X), dp(&Y), dp(&I), dp(&Y), dp(&X), NULL, 0, NULL),
                 BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(q);
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_free(&X);
    tu_buf_free(&Y);
    tu_buf_free(&I);
    brc_context_destroy(ctx);
}
