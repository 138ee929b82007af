/* GPU tests of the random family: every kind and dtype against a host model of random.h's
 * definition (Philox4x32-10 checked against the published known answers; uniform, bernoulli and
 * dropout bit for bit, normal within the rounding of its f32 / f64 math), at odd sizes, with
 * contiguous, padded, column-major and flipped (negative-stride) outputs, poisoned buffers
 * (nothing outside the view written), non-zero seeds and offsets; the same bits whatever the
 * grid (1, 7 CTAs and the plan's own); seed and offset read from device memory, also replayed in
 * a captured graph with new values; moments and Kolmogorov-Smirnov tests; run-time errors.
 * Skips without a driver (the known-answer test runs anyway). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- the host model ----------------------------------------------------------------------------- */

/* The words of Philox block b under (seed, offset), as random.h lays out the counter. */
static void block_words(uint64_t seed, uint64_t offset, uint64_t b, uint32_t w[4]) {
    uint64_t c = offset + b;
    uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), 0, 0}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    tu_philox(ctr, key, w);
}

Test(random_ref, philox_known_answers) { tu_philox_known_answers(); }

static int per_of(int kind, brc_dtype dt) { return dt == BRC_F64 && kind <= BRC_RANDOM_NORMAL ? 2 : 4; }

/* The value random.h defines for logical element i; *exact says whether the device must match it
 * bit for bit (after rounding to the dtype), *tol the allowed error otherwise. xv: dropout's x (or
 * dy), pv: bernoulli's p, mv: the mask (dropout backward). keep: dropout's mask bit. */
static double ref_value(int kind, brc_dtype dt, uint64_t seed, uint64_t offset, int64_t i, double a, double b,
                        double xv, double pv, int mv, int *keep, double *tol) {
    int per = per_of(kind, dt);
    uint32_t w[4] = {0, 0, 0, 0};
    int j = (int)(i % per);
    if (kind != BRC_RANDOM_DROPOUT_BACKWARD) block_words(seed, offset, (uint64_t)(i / per), w);
    *tol = 0;
    bool f64 = dt == BRC_F64;
    switch (kind) {
    case BRC_RANDOM_UNIFORM: {
        double v;
        if (f64) {
            uint64_t m = ((uint64_t)w[2 * j] << 21) | (w[2 * j + 1] >> 11);
            double u = (double)m * 0x1p-53;
            v = (b - a) * u + a; /* C17: no contraction */
        } else {
            float u = (float)(w[j] >> 8) * 0x1p-24f, r = (float)(b - a), lo = (float)a;
            float t = r * u;
            v = (double)(float)(t + lo);
        }
        unsigned char buf[8];
        tu_encode(dt, v, buf);
        double st = tu_decode(dt, buf);
        if (!(st < (f64 ? b : (double)(float)b))) {
            tu_encode(dt, f64 ? a : (double)(float)a, buf);
            st = tu_decode(dt, buf);
        }
        return st;
    }
    case BRC_RANDOM_NORMAL: {
        double u1, u2;
        int k = j & ~1;
        if (f64) {
            u1 = (double)((((uint64_t)w[0] << 21) | (w[1] >> 11)) + 1) * 0x1p-53;
            u2 = (double)(((uint64_t)w[2] << 21) | (w[3] >> 11)) * 0x1p-53;
        } else {
            u1 = (double)((w[k] >> 8) + 1) * 0x1p-24;
            u2 = (double)(w[k + 1] >> 8) * 0x1p-24;
        }
        double r = sqrt(-2 * log(u1)), z = (j & 1) ? r * sin(2 * M_PI * u2) : r * cos(2 * M_PI * u2);
        double v = a + b * z;
        /* f32 math: log and sqrt within a few ulps; sin / cos from the hardware approximations
         * (absolute error under 2^-20.9 plus the angle's rounding, ~7e-7 in all), scaled by r (at
         * most ~5.8). */
        *tol = (f64 ? 1e-13 : 2e-6) * (fabs(b) * (fabs(z) + 1) + fabs(a)) + (f64 ? 0 : 7e-7 * r * fabs(b));
        if (dt == BRC_F16) *tol += fabs(v) * 4.9e-4 + 6e-8;
        if (dt == BRC_BF16) *tol += fabs(v) * 3.9e-3 + 1e-38;
        return v;
    }
    case BRC_RANDOM_BERNOULLI: return (double)w[j] * 0x1p-32 < pv ? 1 : 0;
    default: {
        int kp = kind == BRC_RANDOM_DROPOUT ? (double)w[j] * 0x1p-32 >= a : mv != 0;
        *keep = kp;
        double v;
        if (f64) v = kp ? xv * (a >= 1 ? 0.0 : 1.0 / (1.0 - a)) : 0;
        else {
            float s = (float)(a >= 1 ? 0.0 : 1.0 / (1.0 - a)), x = (float)xv;
            float prod = x * s;
            v = kp ? (double)prod : 0;
        }
        unsigned char buf[8];
        tu_encode(dt, v, buf);
        return tu_decode(dt, buf);
    }
    }
}

/* ---- views --------------------------------------------------------------------------------------------- */

enum { CONTIG, PAD_ODD, COLMAJOR, FLIP, OFF1 /* contiguous, one element into its buffer */ };

typedef struct view {
    brc_tensor_desc t;
    int64_t base;
    size_t n;
} view;

static view make_view(brc_dtype dt, int rank, const int64_t *shape, int style) {
    view v;
    memset(&v, 0, sizeof v);
    brc_tensor_desc_contiguous(&v.t, dt, rank, shape);
    if (style == COLMAJOR) {
        int64_t s = 1;
        for (int d = 0; d < rank; d++) v.t.strides[d] = s, s *= shape[d];
    } else if (style == PAD_ODD) {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) v.t.strides[d] = s, s = s * shape[d] + (d == rank - 1 ? 3 : 0);
    } else if (style == FLIP && rank > 0) {
        v.t.strides[0] = -v.t.strides[0];
        v.base = (shape[0] - 1) * -v.t.strides[0];
    } else if (style == OFF1) {
        v.base = 1;
    }
    int64_t hi = v.base;
    for (int d = 0; d < rank; d++)
        if (v.t.strides[d] > 0) hi += (shape[d] - 1) * v.t.strides[d];
    v.n = (size_t)(hi + 1);
    return v;
}

static int64_t offset_of(const view *v, int64_t lin) {
    int64_t off = v->base;
    for (int d = v->t.rank - 1; d >= 0; d--) {
        int64_t n = v->t.shape[d];
        off += (lin % n) * v->t.strides[d];
        lin /= n;
    }
    return off;
}

static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static void *at(const tu_buf *b, const view *v) {
    return (void *)(uintptr_t)(b->d + (CUdeviceptr)((size_t)v->base * brc_dtype_size(b->t)));
}
static double put(tu_buf *b, int64_t i, double x) {
    tu_encode(b->t, x, b->h + (size_t)i * brc_dtype_size(b->t));
    return tu_buf_at(b, (size_t)i);
}
static bool poisoned(const tu_buf *b, size_t e) {
    size_t s = brc_dtype_size(b->t);
    for (size_t k = 0; k < s; k++)
        if (b->h[e * s + k] != 0xff) return false;
    return true;
}

/* ---- one case ------------------------------------------------------------------------------------------ */

typedef struct rcase {
    int rank;
    int64_t shape[3];
    int style;
} rcase;

static const rcase cases[] = {
    {0, {0}, CONTIG},           {1, {1}, CONTIG},           {1, {7}, CONTIG},
    {2, {7, 143}, CONTIG},      {2, {7, 143}, PAD_ODD},     {2, {33, 65}, COLMAJOR},
    {3, {3, 5, 67}, FLIP},      {1, {65537}, CONTIG},       {2, {257, 1023}, PAD_ODD},
    /* Dense dropout: whole warp tiles of 512 only, tiles and a tail; y (and the mask) off alignment. */
    {1, {8192}, CONTIG},        {1, {100003}, CONTIG},      {1, {4099}, OFF1},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

typedef struct rjob {
    int kind;
    brc_dtype dt;
    int use_p; /* bernoulli: p tensor of this dtype's sibling (f32 or bf16) */
} rjob;

static void run_case(brc_context *ctx, const rjob *j, const rcase *c, int ci) {
    brc_dtype dt = j->dt;
    char what[200];
    snprintf(what, sizeof what, "random %d %s use_p %d case %d (rank %d, %lldx%lldx%lld, style %d)", j->kind,
             brc_dtype_name(dt), j->use_p, ci, c->rank, (long long)c->shape[0], (long long)c->shape[1],
             (long long)c->shape[2], c->style);
    view vy = make_view(dt, c->rank, c->shape, c->style);
    /* Inputs in another layout than the output (contig unless the output is). */
    view vx = make_view(dt, c->rank, c->shape, c->style == CONTIG ? PAD_ODD : CONTIG);
    brc_dtype pdt = ci % 2 ? BRC_BF16 : BRC_F32;
    view vp = make_view(pdt, c->rank, c->shape, c->style);
    view vm = make_view(BRC_U8, c->rank, c->shape, c->style);
    view vmi = make_view(BRC_U8, c->rank, c->shape, c->style == CONTIG ? PAD_ODD : CONTIG);
    int64_t N = brc_tensor_desc_numel(&vy.t);
    tu_buf Y = tu_buf_new(dt, vy.n), X = tu_buf_new(dt, vx.n), P = tu_buf_new(pdt, vp.n), M = tu_buf_new(BRC_U8, vm.n);
    tu_buf MI = tu_buf_new(BRC_U8, vmi.n);
    uint64_t rng = 77 + (uint64_t)ci * 1000 + (uint64_t)j->kind * 31 + (uint64_t)dt;
    double *xs = malloc((size_t)(N + 1) * sizeof(double)), *ps = malloc((size_t)(N + 1) * sizeof(double));
    int *ms = malloc((size_t)(N + 1) * sizeof(int));
    cr_assert(xs && ps && ms);
    for (int64_t i = 0; i < N; i++) {
        xs[i] = put(&X, offset_of(&vx, i), tu_uniform(&rng, -4, 4));
        ps[i] = put(&P, offset_of(&vp, i), tu_uniform(&rng, 0, 1));
        ms[i] = (int)(tu_rand(&rng) % 3 != 0) * (int)(1 + tu_rand(&rng) % 2); /* 0, 1 or 2 (nonzero keeps) */
        MI.h[offset_of(&vmi, i)] = (unsigned char)ms[i];
    }
    tu_buf_upload(&X), tu_buf_upload(&P), tu_buf_upload(&MI);
    double a = 0, b = 0;
    switch (j->kind) {
    case BRC_RANDOM_UNIFORM: a = -1.5, b = 2.75; break;
    case BRC_RANDOM_NORMAL: a = 0.5, b = 2; break;
    case BRC_RANDOM_BERNOULLI: a = 0.3; break;
    default: a = ci == 1 ? 1.0 : ci == 2 ? 0.0 : 0.3;
    }
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = (brc_random_kind)j->kind;
    d.y = vy.t;
    d.x = vx.t;
    d.p = vp.t;
    d.mask = j->kind == BRC_RANDOM_DROPOUT_BACKWARD ? vmi.t : vm.t;
    d.use_p = j->use_p;
    d.a = a, d.b = b;
    brc_plan *p = NULL;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)ci, offset = ((uint64_t)1 << 32) - 3 + (uint64_t)ci * 12345;
    brc_philox ph = {seed, offset, NULL};
    /* Three launch shapes: the same bits. */
    unsigned char *first = NULL;
    for (int g = 0; g < 3; g++) {
        static const unsigned grids[3] = {0, 1, 7};
        brc__random_grid_override(grids[g]);
        poison(&Y);
        poison(&M);
        void *mp = j->kind == BRC_RANDOM_DROPOUT_BACKWARD ? at(&MI, &vmi) : at(&M, &vm);
        cr_assert_eq(brc_random_run(p, at(&X, &vx), at(&P, &vp), at(&Y, &vy), mp, &ph, NULL), BRC_STATUS_OK, "%s: %s",
                     what, brc_last_error());
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", what);
        tu_buf_download(&Y);
        tu_buf_download(&M);
        if (g == 0) {
            first = malloc(Y.n * brc_dtype_size(dt) + M.n);
            cr_assert(first);
            memcpy(first, Y.h, Y.n * brc_dtype_size(dt));
            memcpy(first + Y.n * brc_dtype_size(dt), M.h, M.n);
        } else {
            cr_expect(memcmp(first, Y.h, Y.n * brc_dtype_size(dt)) == 0 &&
                          memcmp(first + Y.n * brc_dtype_size(dt), M.h, M.n) == 0,
                      "%s: grid %u gives other bits than the plan's grid", what, grids[g]);
        }
    }
    brc__random_grid_override(0);
    free(first);
    /* Every element against the model; nothing outside the views written. */
    long fails = 0, mfails = 0;
    char msg[300] = "";
    unsigned char *wy = calloc(Y.n, 1), *wm = calloc(M.n, 1);
    cr_assert(wy && wm);
    for (int64_t i = 0; i < N; i++) {
        int keep = 0;
        double tol, pv = j->use_p ? ps[i] : a;
        double want = ref_value(j->kind, dt, seed, offset, i, a, b, xs[i], pv, ms[i], &keep, &tol);
        int64_t oy = offset_of(&vy, i);
        wy[oy] = 1;
        double got = tu_buf_at(&Y, (size_t)oy);
        bool ok = tol == 0 ? got == want : fabs(got - want) <= tol;
        if (!ok && fails++ == 0)
            snprintf(msg, sizeof msg, "element %lld: got %.9g, want %.9g (tol %.3g)", (long long)i, got, want, tol);
        if (j->kind == BRC_RANDOM_DROPOUT) {
            int64_t om = offset_of(&vm, i);
            wm[om] = 1;
            if (M.h[om] != keep) mfails++;
        }
    }
    long stray = 0;
    for (size_t e = 0; e < Y.n; e++) stray += !wy[e] && !poisoned(&Y, e);
    for (size_t e = 0; e < M.n; e++) stray += !wm[e] && M.h[e] != 0xff;
    cr_expect_eq(fails, 0, "%s: %ld mismatches; first %s (%s)", what, fails, msg, brc_plan_sku(p));
    cr_expect_eq(mfails, 0, "%s: %ld mask mismatches (%s)", what, mfails, brc_plan_sku(p));
    cr_expect_eq(stray, 0, "%s: %ld elements outside the views written", what, stray);
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    free(wy), free(wm), free(xs), free(ps), free(ms);
    brc_plan_destroy(p);
    tu_buf *all[] = {&Y, &X, &P, &M, &MI};
    for (size_t e = 0; e < 5; e++) tu_buf_free(all[e]);
}

ParameterizedTestParameters(random, every_kind_and_dtype) {
    static rjob jobs[] = {
        {BRC_RANDOM_UNIFORM, BRC_F32, 0},    {BRC_RANDOM_UNIFORM, BRC_F64, 0},  {BRC_RANDOM_UNIFORM, BRC_F16, 0},
        {BRC_RANDOM_UNIFORM, BRC_BF16, 0},   {BRC_RANDOM_NORMAL, BRC_F32, 0},   {BRC_RANDOM_NORMAL, BRC_F64, 0},
        {BRC_RANDOM_NORMAL, BRC_F16, 0},     {BRC_RANDOM_NORMAL, BRC_BF16, 0},  {BRC_RANDOM_BERNOULLI, BRC_F32, 0},
        {BRC_RANDOM_BERNOULLI, BRC_U8, 1},   {BRC_RANDOM_BERNOULLI, BRC_BOOL, 0}, {BRC_RANDOM_BERNOULLI, BRC_I64, 1},
        {BRC_RANDOM_BERNOULLI, BRC_F64, 1},  {BRC_RANDOM_BERNOULLI, BRC_I32, 0}, {BRC_RANDOM_DROPOUT, BRC_F32, 0},
        {BRC_RANDOM_DROPOUT, BRC_F64, 0},    {BRC_RANDOM_DROPOUT, BRC_BF16, 0}, {BRC_RANDOM_DROPOUT, BRC_F16, 0},
        {BRC_RANDOM_DROPOUT_BACKWARD, BRC_F32, 0}, {BRC_RANDOM_DROPOUT_BACKWARD, BRC_BF16, 0},
    };
    return cr_make_param_array(rjob, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(rjob *j, random, every_kind_and_dtype, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    for (int c = 0; c < NCASES; c++) run_case(ctx, j, &cases[c], c);
    brc_context_destroy(ctx);
}

/* ---- statistics ------------------------------------------------------------------------------------------ */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov distance of sorted v against cdf. */
static double ks(const double *v, size_t n, double (*cdf)(double)) {
    double dmax = 0;
    for (size_t i = 0; i < n; i++) {
        double f = cdf(v[i]), lo = f - (double)i / (double)n, hi = (double)(i + 1) / (double)n - f;
        dmax = fmax(dmax, fmax(lo, hi));
    }
    return dmax;
}
static double cdf_unit(double x) { return x <= 0 ? 0 : x >= 1 ? 1 : x; }
static double cdf_normal(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Draws n values of kind into host doubles (contiguous f32 or f64 output). */
static double *draw(brc_context *ctx, int kind, brc_dtype dt, int64_t n, double a, double b, uint64_t seed,
                    uint64_t offset) {
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = (brc_random_kind)kind;
    brc_tensor_desc_contiguous(&d.y, dt, 1, &n);
    d.a = a, d.b = b;
    brc_plan *p = NULL;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf Y = tu_buf_new(dt, (size_t)n);
    brc_philox ph = {seed, offset, NULL};
    cr_assert_eq(brc_random_run(p, NULL, NULL, (void *)(uintptr_t)Y.d, NULL, &ph, NULL), BRC_STATUS_OK, "%s",
                 brc_last_error());
    tu_buf_download(&Y);
    double *v = malloc((size_t)n * sizeof(double));
    cr_assert(v);
    for (int64_t i = 0; i < n; i++) v[i] = tu_buf_at(&Y, (size_t)i);
    tu_buf_free(&Y);
    brc_plan_destroy(p);
    return v;
}

static void moments(const double *v, size_t n, double *mean, double *var) {
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *var = q / (double)(n - 1);
}

Test(random, moments_and_ks, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t n = 1 << 20;
    const double nd = (double)n;
    /* KS at the 0.1% level: D < 1.95 / sqrt(n). Moments within 5 standard errors. */
    const double dcrit = 1.95 / sqrt((double)n);
    for (int t = 0; t < 2; t++) {
        brc_dtype dt = t ? BRC_F64 : BRC_F32;
        double mean, var;
        double *u = draw(ctx, BRC_RANDOM_UNIFORM, dt, n, 0, 1, 1234 + (uint64_t)t, 99);
        moments(u, (size_t)n, &mean, &var);
        cr_expect(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / nd), "%s uniform mean %g", brc_dtype_name(dt), mean);
        cr_expect(fabs(var - 1.0 / 12) < 5 * sqrt(1.0 / 180 / nd), "%s uniform var %g", brc_dtype_name(dt), var);
        qsort(u, (size_t)n, sizeof(double), cmp_d);
        cr_expect(u[0] >= 0 && u[n - 1] < 1, "range [%g, %g]", u[0], u[n - 1]);
        double D = ks(u, (size_t)n, cdf_unit);
        cr_expect(D < dcrit, "%s uniform KS D = %g >= %g", brc_dtype_name(dt), D, dcrit);
        free(u);
        double *z = draw(ctx, BRC_RANDOM_NORMAL, dt, n, 0, 1, 777 + (uint64_t)t, 5);
        moments(z, (size_t)n, &mean, &var);
        cr_expect(fabs(mean) < 5 / sqrt((double)n), "%s normal mean %g", brc_dtype_name(dt), mean);
        cr_expect(fabs(var - 1) < 5 * sqrt(2.0 / nd), "%s normal var %g", brc_dtype_name(dt), var);
        qsort(z, (size_t)n, sizeof(double), cmp_d);
        D = ks(z, (size_t)n, cdf_normal);
        cr_expect(D < dcrit, "%s normal KS D = %g >= %g", brc_dtype_name(dt), D, dcrit);
        /* Scaled: mean 3, std 0.5. */
        free(z);
        z = draw(ctx, BRC_RANDOM_NORMAL, dt, n, 3, 0.5, 778, 0);
        moments(z, (size_t)n, &mean, &var);
        cr_expect(fabs(mean - 3) < 5 * 0.5 / sqrt((double)n) && fabs(var - 0.25) < 5 * 0.25 * sqrt(2.0 / nd),
                  "%s normal(3, 0.5): mean %g var %g", brc_dtype_name(dt), mean, var);
        free(z);
    }
    /* Bernoulli p = 0.3 and dropout p = 0.25: frequencies. */
    double *bv = draw(ctx, BRC_RANDOM_BERNOULLI, BRC_F32, n, 0.3, 0, 42, 0);
    double mean, var;
    moments(bv, (size_t)n, &mean, &var);
    cr_expect(fabs(mean - 0.3) < 5 * sqrt(0.21 / nd), "bernoulli mean %g", mean);
    free(bv);
    /* Consecutive offsets advanced by brc_random_counters do not repeat: two draws differ. */
    double *a1 = draw(ctx, BRC_RANDOM_UNIFORM, BRC_F32, 1000, 0, 1, 5, 0);
    double *a2 = draw(ctx, BRC_RANDOM_UNIFORM, BRC_F32, 1000, 0, 1, 5, 250);
    double *a3 = draw(ctx, BRC_RANDOM_UNIFORM, BRC_F32, 1000, 0, 1, 6, 0);
    int same12 = 0, same13 = 0;
    for (int i = 0; i < 1000; i++) same12 += a1[i] == a2[i], same13 += a1[i] == a3[i];
    cr_expect(same12 < 5 && same13 < 5, "streams overlap: %d, %d equal values", same12, same13);
    free(a1), free(a2), free(a3);
    brc_context_destroy(ctx);
}

/* ---- seed and offset from device memory, captured ----------------------------------------------------- */

Test(random, device_seed_offset_and_graph_replay, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t n = 100003;
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_RANDOM_DROPOUT;
    brc_tensor_desc_contiguous(&d.y, BRC_BF16, 1, &n);
    d.x = d.y;
    brc_tensor_desc_contiguous(&d.mask, BRC_BOOL, 1, &n);
    d.a = 0.4;
    brc_plan *p = NULL;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_random_counters(p), (uint64_t)((n + 3) / 4));
    tu_buf X = tu_buf_new(BRC_BF16, (size_t)n), Y = tu_buf_new(BRC_BF16, (size_t)n), M = tu_buf_new(BRC_U8, (size_t)n);
    tu_buf R = tu_buf_new(BRC_BF16, (size_t)n), RM = tu_buf_new(BRC_U8, (size_t)n), S = tu_buf_new(BRC_I64, 2);
    uint64_t rng = 3;
    for (int64_t i = 0; i < n; i++) put(&X, i, tu_uniform(&rng, -2, 2));
    tu_buf_upload(&X);
    void *x = (void *)(uintptr_t)X.d, *y = (void *)(uintptr_t)Y.d, *m = (void *)(uintptr_t)M.d;
    /* Capture once with the seed/offset in device memory. */
    brc_philox dev = {0, 0, (const uint64_t *)(uintptr_t)S.d};
    tu_capture g = tu_capture_begin(0);
    cr_assert_eq(brc_random_run(p, x, NULL, y, m, &dev, (brc_stream)g.s), BRC_STATUS_OK, "%s", brc_last_error());
    tu_capture_end(&g);
    const uint64_t states[3][2] = {{1, 0}, {1, 25001}, {0xdeadbeefcafef00dull, (uint64_t)-7}};
    for (int k = 0; k < 3; k++) {
        /* Replay with new values written into device memory ... */
        memcpy(S.h, states[k], 16);
        tu_buf_upload(&S);
        poison(&Y);
        poison(&M);
        tu_capture_replay(&g);
        tu_buf_download(&Y);
        tu_buf_download(&M);
        /* ... equals a run with the same values by value. */
        brc_philox byval = {states[k][0], states[k][1], NULL};
        cr_assert_eq(brc_random_run(p, x, NULL, (void *)(uintptr_t)R.d, (void *)(uintptr_t)RM.d, &byval, NULL),
                     BRC_STATUS_OK, "%s", brc_last_error());
        tu_buf_download(&R);
        tu_buf_download(&RM);
        cr_expect(memcmp(Y.h, R.h, (size_t)n * 2) == 0 && memcmp(M.h, RM.h, (size_t)n) == 0,
                  "replay %d differs from the by-value run", k);
        long kept = 0;
        for (int64_t i = 0; i < n; i++) kept += M.h[i];
        cr_expect(fabs((double)kept / (double)n - 0.6) < 0.01, "replay %d kept %ld of %lld", k, kept, (long long)n);
    }
    tu_capture_free(&g);
    brc_plan_destroy(p);
    tu_buf *all[] = {&X, &Y, &M, &R, &RM, &S};
    for (size_t e = 0; e < 6; e++) tu_buf_free(all[e]);
    brc_context_destroy(ctx);
}

/* ---- run-time errors and in place ------------------------------------------------------------------- */

Test(random, run_errors_and_in_place, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t n = 1000;
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_RANDOM_DROPOUT;
    brc_tensor_desc_contiguous(&d.y, BRC_F32, 1, &n);
    d.x = d.y;
    brc_tensor_desc_contiguous(&d.mask, BRC_U8, 1, &n);
    d.a = 0.5;
    brc_plan *p = NULL;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf X = tu_buf_new(BRC_F32, (size_t)n), Y = tu_buf_new(BRC_F32, (size_t)n), M = tu_buf_new(BRC_U8, (size_t)n);
    uint64_t rng = 9;
    for (int64_t i = 0; i < n; i++) put(&X, i, tu_uniform(&rng, 1, 2));
    tu_buf_upload(&X);
    void *x = (void *)(uintptr_t)X.d, *y = (void *)(uintptr_t)Y.d, *m = (void *)(uintptr_t)M.d;
    brc_philox ph = {11, 22, NULL};
    cr_expect_eq(brc_random_run(p, x, NULL, y, m, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "philox is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_random_run(p, x, NULL, y, NULL, &ph, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "mask is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_random_run(p, x, NULL, y, y, &ph, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "y and mask are one buffer") != NULL, "%s", brc_last_error());
    brc_philox bad = {0, 0, (const uint64_t *)((uintptr_t)M.d + 4)};
    cr_expect_eq(brc_random_run(p, x, NULL, y, m, &bad, NULL), BRC_STATUS_MISALIGNED);
    /* Misaligned data pointers take the scalar path: the same values one element later. */
    cr_assert_eq(brc_random_run(p, x, NULL, y, m, &ph, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&Y);
    float ref[1000];
    memcpy(ref, Y.h, sizeof ref);
    /* In place gives the same bits. */
    cr_assert_eq(brc_random_run(p, x, NULL, x, m, &ph, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&X);
    cr_expect(memcmp(X.h, ref, sizeof ref) == 0, "in place differs");
    brc_plan_destroy(p);
    /* A 999-element view at a 4-byte offset: unaligned for the vector path. */
    int64_t n2 = 999;
    d.kind = BRC_RANDOM_UNIFORM;
    d.a = 0, d.b = 1;
    brc_tensor_desc_contiguous(&d.y, BRC_F32, 1, &n2);
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    poison(&Y);
    cr_assert_eq(brc_random_run(p, NULL, NULL, (char *)y + 4, NULL, &ph, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf_download(&Y);
    cr_expect(poisoned(&Y, 0), "element before the view written");
    for (int64_t i = 0; i < n2; i++) {
        int keep;
        double tol, want = ref_value(BRC_RANDOM_UNIFORM, BRC_F32, 11, 22, i, 0, 1, 0, 0, 0, &keep, &tol);
        if (tu_buf_at(&Y, (size_t)i + 1) != want) {
            cr_expect(0, "unaligned uniform element %lld: %g, want %g", (long long)i, tu_buf_at(&Y, (size_t)i + 1), want);
            break;
        }
    }
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&M);
    brc_context_destroy(ctx);
}

/* ---- multinomial ------------------------------------------------------------------------------------- */

/* Probabilities of R rows of C categories (about one in five zero), in a [R, C] view with row
 * stride ld (>= C); p64 gets the values as stored (after rounding to the dtype). */
static void mn_fill(tu_buf *P, double *p64, int64_t R, int64_t C, int64_t ld, uint64_t *rng) {
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            double v = tu_rand(rng) % 5 == 0 ? 0.0 : tu_uniform(rng, 0.05, 3.0);
            p64[r * C + c] = put(P, r * ld + c, v);
        }
    tu_buf_upload(P);
}

static brc_plan *mn_plan(brc_context *ctx, brc_dtype dt, brc_dtype ot, int64_t R, int64_t C, int64_t ld, int64_t ns,
                         int repl) {
    brc_random_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_RANDOM_MULTINOMIAL;
    d.x = tu_mat(dt, R, C, ld);
    d.y = tu_mat(ot, R, ns, ns);
    d.num_samples = ns;
    d.replacement = repl;
    brc_plan *p = NULL;
    cr_assert_eq(brc_random_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());
    return p;
}

typedef struct mnjob {
    brc_dtype dt, ot;
    int64_t R, C, ld;
} mnjob;

ParameterizedTestParameters(multinomial, with_replacement) {
    static mnjob jobs[] = {{BRC_F32, BRC_I64, 6, 1000, 1000}, {BRC_F64, BRC_I32, 3, 37, 41},
                           {BRC_BF16, BRC_I64, 2, 40000, 40003}, {BRC_F16, BRC_I64, 5, 1, 1},
                           {BRC_F32, BRC_I64, 3, 32000, 32000}};
    return cr_make_param_array(mnjob, jobs, sizeof jobs / sizeof jobs[0]);
}

/* Every draw against the float64 inverse CDF of its own counter word (exact but for targets within
 * the f32 scan's rounding of a boundary), zero-probability categories never drawn, a chi-square of
 * the counts against p, the same bits from a device seed, the plan's counters. */
ParameterizedTest(mnjob *j, multinomial, with_replacement, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t R = j->R, C = j->C, ld = j->ld, ns = C == 1 ? 100 : 20011;
    tu_buf P = tu_buf_new(j->dt, (size_t)(R * ld)), Y = tu_buf_new(j->ot, (size_t)(R * ns)),
           Y2 = tu_buf_new(j->ot, (size_t)(R * ns)), S = tu_buf_new(BRC_I64, 2);
    double *p64 = malloc((size_t)(R * C) * sizeof(double)), *pre = malloc((size_t)(C + 1) * sizeof(double));
    long *cnt = calloc((size_t)C, sizeof(long));
    cr_assert(p64 && pre && cnt);
    uint64_t rng = 77 + (uint64_t)C;
    mn_fill(&P, p64, R, C, ld, &rng);
    if (C == 1)
        for (int64_t r = 0; r < R; r++) p64[r] = put(&P, r * ld, 0.5);
    else
        p64[1] = put(&P, 1, 0.0); /* at least one zero */
    tu_buf_upload(&P);
    brc_plan *p = mn_plan(ctx, j->dt, j->ot, R, C, ld, ns, 1);
    cr_expect_eq(brc_random_counters(p), (uint64_t)((R * ns + 3) / 4));
    const uint64_t seed = 0x1234567890abull, offset = 987654321;
    brc_philox ph = {seed, offset, NULL};
    memset(Y.h, 0xff, Y.n * brc_dtype_size(Y.t));
    tu_buf_upload(&Y);
    cr_assert_eq(brc_random_run(p, (void *)(uintptr_t)P.d, NULL, (void *)(uintptr_t)Y.d, NULL, &ph, NULL),
                 BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s", brc_plan_sku(p));
    tu_buf_download(&Y);
    long hard = 0, soft = 0, zero = 0, range = 0;
    double worst_chi = 0;
    for (int64_t r = 0; r < R; r++) {
        pre[0] = 0;
        for (int64_t c = 0; c < C; c++) pre[c + 1] = pre[c] + p64[r * C + c];
        const double total = pre[C];
        memset(cnt, 0, (size_t)C * sizeof(long));
        for (int64_t s = 0; s < ns; s++) {
            int64_t g = (int64_t)tu_buf_at(&Y, (size_t)(r * ns + s));
            if (g < 0 || g >= C) {
                range++;
                continue;
            }
            cnt[g]++;
            zero += p64[r * C + g] == 0;
            uint64_t i = (uint64_t)(r * ns + s);
            uint32_t w[4];
            block_words(seed, offset, i / 4, w);
            double t = (double)w[i % 4] * 2.3283064365386963e-10 * total;
            int64_t lo = 0, hi = C; /* the first c with pre[c + 1] > t */
            while (lo < hi) {
                int64_t m = (lo + hi) / 2;
                if (pre[m + 1] > t) hi = m;
                else lo = m + 1;
            }
            if (lo == C) lo = C - 1;
            if (g != lo) {
                double gap = fmin(fabs(pre[g] - t), fabs(pre[g + 1] - t));
                if (gap <= 1e-5 * total) soft++;
                else hard++;
            }
        }
        double chi = 0;
        int df = -1;
        for (int64_t c = 0; c < C; c++) {
            double e = (double)ns * p64[r * C + c] / total;
            if (e > 0) chi += ((double)cnt[c] - e) * ((double)cnt[c] - e) / e, df++;
        }
        if (df > 0 && C <= 2000) { /* expected counts of at least ~3 a category */
            double z = (chi - df) / sqrt(2.0 * df);
            worst_chi = fmax(worst_chi, z);
        }
    }
    cr_expect_eq(range, 0, "%ld draws outside [0, C) (%s)", range, brc_plan_sku(p));
    cr_expect_eq(zero, 0, "%ld draws of zero-probability categories", zero);
    cr_expect_eq(hard, 0, "%ld draws differ from the inverse CDF of their counter (%ld near a boundary)", hard, soft);
    cr_expect(soft <= R * ns / 1000, "%ld draws near a boundary differ", soft);
    cr_expect(worst_chi < 6.0, "chi-square %.2f standard deviations above its mean", worst_chi);
    cr_log_info("multinomial %s C %lld: %ld near-boundary differences, worst chi z %.2f (%s)",
                brc_dtype_name(j->dt), (long long)C, soft, worst_chi, brc_plan_sku(p));
    /* The same bits from a device {seed, offset}; another offset gives other draws. */
    uint64_t so[2] = {seed, offset};
    memcpy(S.h, so, 16);
    tu_buf_upload(&S);
    brc_philox dev = {0, 0, (const uint64_t *)(uintptr_t)S.d};
    memset(Y2.h, 0xff, Y2.n * brc_dtype_size(Y2.t));
    tu_buf_upload(&Y2);
    cr_assert_eq(brc_random_run(p, (void *)(uintptr_t)P.d, NULL, (void *)(uintptr_t)Y2.d, NULL, &dev, NULL),
                 BRC_STATUS_OK);
    tu_buf_download(&Y2);
    cr_expect(memcmp(Y.h, Y2.h, Y.n * brc_dtype_size(Y.t)) == 0, "device seed/offset: not the same bits");
    if (C > 1) {
        brc_philox other = {seed, offset + brc_random_counters(p), NULL};
        cr_assert_eq(brc_random_run(p, (void *)(uintptr_t)P.d, NULL, (void *)(uintptr_t)Y2.d, NULL, &other, NULL),
                     BRC_STATUS_OK);
        tu_buf_download(&Y2);
        cr_expect(memcmp(Y.h, Y2.h, Y.n * brc_dtype_size(Y.t)) != 0, "the next offset drew the same");
    }
    brc_plan_destroy(p);
    free(p64), free(pre), free(cnt);
    tu_buf *all[] = {&P, &Y, &Y2, &S};
    for (size_t e = 0; e < 4; e++) tu_buf_free(all[e]);
    brc_context_destroy(ctx);
}

/* Without replacement: no repeats, no zero-probability category, the first draw distributed as p
 * (chi-square over many identical rows), the k-th draw's key order against a host model of the
 * race, bit-reproducible; invalid rows (a negative probability, fewer positives than draws) are
 * all -1. */
Test(multinomial, without_replacement, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t R = 4096, C = 50, ns = 10;
    tu_buf P = tu_buf_new(BRC_F32, (size_t)(R * C)), Y = tu_buf_new(BRC_I64, (size_t)(R * ns)),
           Y2 = tu_buf_new(BRC_I64, (size_t)(R * ns));
    double base[50];
    uint64_t rng = 5;
    for (int64_t c = 0; c < C; c++) base[c] = c % 7 == 3 ? 0.0 : tu_uniform(&rng, 0.1, 2.0);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) put(&P, r * C + c, base[c]);
    put(&P, 5 * C + 7, -1.0);                                                /* row 5: invalid */
    for (int64_t c = 0; c < C; c++) put(&P, 9 * C + c, c < 4 ? 1.0 : 0.0); /* row 9: 4 positives < 10 */
    tu_buf_upload(&P);
    brc_plan *p = mn_plan(ctx, BRC_F32, BRC_I64, R, C, C, ns, 0);
    cr_expect_eq(brc_random_counters(p), (uint64_t)(R * C / 4));
    brc_philox ph = {42, 1000, NULL};
    memset(Y.h, 0xee, Y.n * 8);
    tu_buf_upload(&Y);
    cr_assert_eq(brc_random_run(p, (void *)(uintptr_t)P.d, NULL, (void *)(uintptr_t)Y.d, NULL, &ph, NULL),
                 BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s", brc_plan_sku(p));
    tu_buf_download(&Y);
    const int64_t *y = (const int64_t *)(const void *)Y.h;
    long repeats = 0, zeros = 0, bad_rows = 0, model_diff = 0, first[50] = {0};
    double total = 0;
    for (int64_t c = 0; c < C; c++) total += base[c];
    for (int64_t r = 0; r < R; r++) {
        if (r == 5 || r == 9) {
            for (int64_t s = 0; s < ns; s++) bad_rows += y[r * ns + s] != -1;
            continue;
        }
        bool seen[50] = {false};
        for (int64_t s = 0; s < ns; s++) {
            int64_t g = y[r * ns + s];
            if (g < 0 || g >= C) {
                repeats++;
                continue;
            }
            repeats += seen[g];
            seen[g] = true;
            zeros += base[g] == 0;
        }
        if (y[r * ns] >= 0 && y[r * ns] < C) first[y[r * ns]]++;
        /* host model: keys E / p from the same counter words, the ns smallest in order */
        double key[50];
        for (int64_t c = 0; c < C; c++) {
            uint64_t i = (uint64_t)(r * C + c);
            uint32_t w[4];
            block_words(42, 1000, i / 4, w);
            double u = (double)(w[i % 4] >> 8) * 5.9604644775390625e-08;
            key[c] = base[c] > 0 ? -log1p(-u) / base[c] : INFINITY;
        }
        for (int64_t s = 0; s < ns; s++) {
            int64_t best = -1;
            for (int64_t c = 0; c < C; c++) {
                bool taken = false;
                for (int64_t q = 0; q < s; q++) taken |= y[r * ns + q] == c;
                if (!taken && (best < 0 || key[c] < key[best])) best = c;
            }
            if (best != y[r * ns + s]) {
                model_diff++;
                break;
            }
        }
    }
    cr_expect_eq(repeats, 0, "%ld repeated (or out-of-range) draws (%s)", repeats, brc_plan_sku(p));
    cr_expect_eq(zeros, 0, "%ld zero-probability draws", zeros);
    cr_expect_eq(bad_rows, 0, "invalid rows must be all -1 (%ld are not)", bad_rows);
    cr_expect(model_diff <= R / 200, "%ld rows differ from the host race (f32 key rounding allows a few)", model_diff);
    double chi = 0;
    int df = -1;
    for (int64_t c = 0; c < C; c++) {
        double e = (double)(R - 2) * base[c] / total;
        if (e > 0) chi += ((double)first[c] - e) * ((double)first[c] - e) / e, df++;
    }
    double z = (chi - df) / sqrt(2.0 * df);
    cr_expect(z < 6.0, "first draws: chi-square %.2f sd above its mean", z);
    cr_log_info("multinomial without replacement: %ld rows differ from the host race, first-draw chi z %.2f (%s)",
                model_diff, z, brc_plan_sku(p));
    cr_assert_eq(brc_random_run(p, (void *)(uintptr_t)P.d, NULL, (void *)(uintptr_t)Y2.d, NULL, &ph, NULL),
                 BRC_STATUS_OK);
    tu_buf_download(&Y2);
    cr_expect(memcmp(Y.h, Y2.h, Y.n * 8) == 0, "not bit-reproducible");
    brc_plan_destroy(p);
    /* ties at the threshold: equal probabilities, many rows; still no repeats */
    const int64_t C2 = 3000, R2 = 64, ns2 = 1000;
    tu_buf Q = tu_buf_new(BRC_F32, (size_t)(R2 * C2)), Z = tu_buf_new(BRC_I32, (size_t)(R2 * ns2));
    for (int64_t i = 0; i < R2 * C2; i++) put(&Q, i, 1.0);
    tu_buf_upload(&Q);
    p = mn_plan(ctx, BRC_F32, BRC_I32, R2, C2, C2, ns2, 0);
    cr_assert_eq(brc_random_run(p, (void *)(uintptr_t)Q.d, NULL, (void *)(uintptr_t)Z.d, NULL, &ph, NULL),
                 BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_download(&Z);
    const int32_t *z32 = (const int32_t *)(const void *)Z.h;
    long rep2 = 0;
    unsigned char *seen = malloc((size_t)C2);
    cr_assert(seen);
    for (int64_t r = 0; r < R2; r++) {
        memset(seen, 0, (size_t)C2);
        for (int64_t s = 0; s < ns2; s++) {
            int32_t g = z32[r * ns2 + s];
            if (g < 0 || g >= C2 || seen[g]) rep2++;
            else seen[g] = 1;
        }
    }
    cr_expect_eq(rep2, 0, "1000 of 3000 uniform categories: %ld repeats or bad draws", rep2);
    free(seen);
    brc_plan_destroy(p);
    tu_buf *all[] = {&P, &Y, &Y2, &Q, &Z};
    for (size_t e = 0; e < 5; e++) tu_buf_free(all[e]);
    brc_context_destroy(ctx);
}
