/* GPU tests of the search and count family against exact host models: searchsorted / bucketize
 * (every dtype, left and right, ties and duplicates, NaN values, sequences of 1 to 70000 so the
 * staged search runs with one and with many elements a splitter, the plain search, N-D sequences,
 * a sorter, strided and flipped views, i32 / i64 outputs), histc (values on edges, the max edge,
 * out of range, NaN; every float dtype; few and many bins, privatized and global; the data's range,
 * with its error flag), histogram with edges (weights), bincount (i8 i32 i64 inputs, i32 weights
 * exactly, f32 weights within rounding, out-of-range values and the flag). Poisoned outputs,
 * random data with ties, never zeros; run-time errors. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static brc_context *g_ctx;
static CUdeviceptr g_err_d, g_ws_d;
static const size_t WS_BYTES = 64 << 20;

static void setup(void) {
    tu_fresh_cache();
    g_ctx = tu_device_or_skip();
    cr_assert_eq(brc__cu()->cuMemAlloc(&g_err_d, 256), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuMemAlloc(&g_ws_d, WS_BYTES), CUDA_SUCCESS);
}
static void teardown(void) {
    brc__cu()->cuMemFree(g_err_d);
    brc__cu()->cuMemFree(g_ws_d);
    brc_context_destroy(g_ctx);
}
static void clear_err(void) { cr_assert_eq(brc__cu()->cuMemsetD8(g_err_d, 0, 4), CUDA_SUCCESS); }
static int32_t read_err(void) {
    int32_t v = -1;
    cr_assert_eq(brc__cu()->cuMemcpyDtoH(&v, g_err_d, 4), CUDA_SUCCESS);
    return v;
}
static void *dp(const tu_buf *b, int64_t base) {
    return b ? (void *)(uintptr_t)(b->d + (CUdeviceptr)((size_t)base * brc_dtype_size(b->t))) : NULL;
}
static double put(tu_buf *b, int64_t i, double v) {
    tu_encode(b->t, v, b->h + (size_t)i * brc_dtype_size(b->t));
    return tu_buf_at(b, (size_t)i);
}
static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static bool poisoned(const tu_buf *b, size_t e) {
    size_t s = brc_dtype_size(b->t);
    for (size_t k = 0; k < s; k++)
        if (b->h[e * s + k] != 0xff) return false;
    return true;
}

/* Plans, poisons y, runs (flag cleared), synchronizes, downloads y. */
static brc_plan *plan_run(const brc_search_desc *d, const brc_plan_prefs *pr, const tu_buf *s, int64_t sb,
                          const tu_buf *x, int64_t xb, const tu_buf *w, const tu_buf *so, tu_buf *y, int64_t yb,
                          const char *what) {
    brc_plan *p = NULL;
    cr_assert_eq(brc_search_plan(g_ctx, d, pr, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    cr_assert(brc_plan_workspace_size(p) <= WS_BYTES, "%s: workspace %zu", what, brc_plan_workspace_size(p));
    poison(y);
    clear_err();
    cr_assert_eq(brc_search_run(p, dp(s, sb), dp(x, xb), dp(w, 0), dp(so, 0), dp(y, yb), (void *)(uintptr_t)g_ws_d,
                                WS_BYTES, (int32_t *)(uintptr_t)g_err_d, NULL),
                 BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed (%s)", what, brc_plan_sku(p));
    tu_buf_download(y);
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    return p;
}

/* torch's binary search (cus_lower_bound / cus_upper_bound), over seq[0..K) (through sorter). */
static int64_t ref_search(const double *seq, const int64_t *sorter, int64_t K, double v, int right) {
    int64_t lo = 0, hi = K;
    while (lo < hi) {
        int64_t mid = lo + ((hi - lo) >> 1);
        double m = seq[sorter ? sorter[mid] : mid];
        bool go = right ? !(m > v) : !(m >= v);
        if (go) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* A random value for a dtype from a small pool (ties), never all zero. */
static double pool_val(brc_dtype t, uint64_t *rng, int pool) {
    int64_t k = (int64_t)(tu_rand(rng) % (uint64_t)pool) - pool / 3;
    if (t == BRC_U8) return (double)(k + pool / 3);
    if (brc_dtype_is_float(t)) return (double)k * 0.375 + 0.125;
    return (double)k;
}
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- searchsorted / bucketize over one sequence ------------------------------------------------------ */

typedef struct sjob {
    brc_dtype dt, ot;
    int64_t K, n;
    int right, force_plain, flip, bucketize;
} sjob;

ParameterizedTestParameters(search, shared_sequence) {
    static sjob jobs[] = {
        {BRC_F32, BRC_I64, 70000, 300001, 0, 0, 0, 0}, {BRC_F32, BRC_I64, 70000, 300001, 1, 0, 1, 0},
        {BRC_F64, BRC_I32, 4095, 100003, 1, 0, 0, 0},  {BRC_BF16, BRC_I64, 1000, 50001, 0, 0, 0, 1},
        {BRC_F16, BRC_I64, 3, 20000, 1, 0, 1, 1},      {BRC_I32, BRC_I64, 1, 9999, 0, 0, 0, 0},
        {BRC_I64, BRC_I32, 5000, 77777, 1, 1, 0, 0},   {BRC_I8, BRC_I64, 40, 4097, 0, 0, 0, 0},
        {BRC_U8, BRC_I32, 17, 333, 1, 1, 1, 1},        {BRC_I16, BRC_I64, 9000, 123457, 0, 0, 0, 0},
        {BRC_F32, BRC_I64, 65536, 1 << 20, 1, 0, 0, 1}, {BRC_F32, BRC_I32, 100, 37, 0, 0, 0, 0},
    };
    return cr_make_param_array(sjob, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(sjob *j, search, shared_sequence, .init = setup, .fini = teardown, .timeout = 300) {
    const int64_t K = j->K, n = j->n;
    int pool = j->dt == BRC_I8 || j->dt == BRC_U8 ? 100 : j->dt == BRC_F16 || j->dt == BRC_BF16 ? 400 : (int)(K / 2 + 3);
    uint64_t rng = 11 + (uint64_t)K;
    tu_buf S = tu_buf_new(j->dt, (size_t)K), X = tu_buf_new(j->dt, (size_t)n), Y = tu_buf_new(j->ot, (size_t)n * 2);
    double *seq = malloc((size_t)K * sizeof(double)), *xv = malloc((size_t)n * sizeof(double));
    cr_assert(seq && xv);
    for (int64_t i = 0; i < K; i++) seq[i] = put(&S, i, pool_val(j->dt, &rng, pool)); /* rounded to the dtype */
    qsort(seq, (size_t)K, sizeof(double), cmp_d);
    for (int64_t i = 0; i < K; i++) put(&S, i, seq[i]);
    tu_buf_upload(&S);
    /* values: mostly elements of the sequence (ties) or from the pool; NaN for floats; a flip view */
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = tu_rand(&rng) % 8;
        double v = r < 3 ? seq[tu_rand(&rng) % (uint64_t)K] : pool_val(j->dt, &rng, pool + 20);
        if (r == 7 && brc_dtype_is_float(j->dt) && i % 3 == 0) v = NAN;
        xv[i] = put(&X, i, v);
    }
    tu_buf_upload(&X);
    brc_search_desc d;
    memset(&d, 0, sizeof d);
    d.kind = j->bucketize ? BRC_SEARCH_BUCKETIZE : BRC_SEARCH_SEARCHSORTED;
    brc_tensor_desc_contiguous(&d.sorted, j->dt, 1, &K);
    brc_tensor_desc_contiguous(&d.x, j->dt, 1, &n);
    int64_t xb = 0, yb = 0;
    if (j->flip) d.x.strides[0] = -1, xb = n - 1; /* x read backwards */
    brc_tensor_desc_contiguous(&d.y, j->ot, 1, &n);
    d.y.strides[0] = 2; /* every other element: the others must stay poisoned */
    d.right = j->right;
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.force_strided = j->force_plain;
    char what[128];
    snprintf(what, sizeof what, "%s %s->%s K %lld n %lld right %d", j->bucketize ? "bucketize" : "searchsorted",
             brc_dtype_name(j->dt), brc_dtype_name(j->ot), (long long)K, (long long)n, j->right);
    brc_plan *p = plan_run(&d, &pr, &S, 0, &X, xb, NULL, NULL, &Y, yb, what);
    long bad = 0, stray = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = j->flip ? xv[n - 1 - i] : xv[i];
        int64_t want = ref_search(seq, NULL, K, v, j->right);
        double got = tu_buf_at(&Y, (size_t)(2 * i));
        if (got != (double)want && bad++ < 5)
            cr_log_error("%s: y[%lld] = %g, want %lld (v = %g)", what, (long long)i, got, (long long)want, v);
        stray += !poisoned(&Y, (size_t)(2 * i + 1));
    }
    cr_expect_eq(bad, 0, "%s: %ld wrong (%s)", what, bad, brc_plan_sku(p));
    cr_expect_eq(stray, 0, "%s: %ld writes outside y's view", what, stray);
    int64_t ms = brc_dtype_size(j->dt) == 8 ? 4096 : 8192;
    cr_expect(strstr(brc_plan_sku(p), j->force_plain || n < 4 * (K < ms ? K : ms) ? ",plain" : ",staged") != NULL,
              "%s: %s", what, brc_plan_sku(p));
    brc_plan_destroy(p);
    free(seq), free(xv);
    tu_buf_free(&S), tu_buf_free(&X), tu_buf_free(&Y);
}

/* ---- N-D sequences and the sorter ---------------------------------------------------------------------- */

Test(search, batched_sequences_and_sorter, .init = setup, .fini = teardown, .timeout = 300) {
    const int64_t B = 7, K = 301, M = 129;
    for (int mode = 0; mode < 3; mode++) { /* 0 sorted rows; 1 rows through an i64 sorter; 2 i32 sorter, right */
        uint64_t rng = 101 + (uint64_t)mode;
        /* sequence rows padded (stride K + 3), values column-major */
        tu_buf S = tu_buf_new(BRC_F32, (size_t)(B * (K + 3))), X = tu_buf_new(BRC_F32, (size_t)(B * M)),
               Y = tu_buf_new(BRC_I64, (size_t)(B * M)),
               SO = tu_buf_new(mode == 2 ? BRC_I32 : BRC_I64, (size_t)(B * K));
        double *seq = malloc((size_t)(B * K) * sizeof(double));
        int64_t *ord = malloc((size_t)(B * K) * sizeof(int64_t));
        cr_assert(seq && ord);
        for (int64_t b = 0; b < B; b++) {
            double *row = seq + b * K;
            for (int64_t k = 0; k < K; k++) row[k] = (double)(int64_t)(tu_rand(&rng) % 200) - 50.5;
            qsort(row, (size_t)K, sizeof(double), cmp_d);
            for (int64_t k = 0; k < K; k++) ord[b * K + k] = k;
            if (mode) /* shuffle the stored row; the sorter gives its sorted order */
                for (int64_t k = K - 1; k > 0; k--) {
                    int64_t r = (int64_t)(tu_rand(&rng) % (uint64_t)(k + 1)), t = ord[b * K + k];
                    ord[b * K + k] = ord[b * K + r], ord[b * K + r] = t;
                }
            /* stored[ord[k]] = row[k]: sorted order through the sorter is ord */
            for (int64_t k = 0; k < K; k++) {
                put(&S, b * (K + 3) + ord[b * K + k], row[k]);
                put(&SO, b * K + k, (double)ord[b * K + k]);
            }
        }
        tu_buf_upload(&S), tu_buf_upload(&SO);
        for (int64_t i = 0; i < B * M; i++) put(&X, i, (double)(int64_t)(tu_rand(&rng) % 220) - 60 + (i % 2 ? 0.5 : 0));
        tu_buf_upload(&X);
        brc_search_desc d;
        memset(&d, 0, sizeof d);
        d.kind = BRC_SEARCH_SEARCHSORTED;
        d.sorted = tu_mat(BRC_F32, B, K, K + 3);
        d.x = tu_mat(BRC_F32, B, M, 1);
        d.x.strides[0] = 1, d.x.strides[1] = B; /* column-major values */
        d.y = tu_mat(BRC_I64, B, M, M);
        d.right = mode == 2;
        d.use_sorter = mode > 0;
        d.sorter = tu_mat(SO.t, B, K, K);
        char what[96];
        snprintf(what, sizeof what, "searchsorted N-D mode %d", mode);
        brc_plan *p = plan_run(&d, NULL, &S, 0, &X, 0, NULL, mode ? &SO : NULL, &Y, 0, what);
        long bad = 0;
        double *stored = malloc((size_t)K * sizeof(double));
        cr_assert(stored);
        for (int64_t b = 0; b < B; b++) {
            for (int64_t k = 0; k < K; k++) stored[k] = tu_buf_at(&S, (size_t)(b * (K + 3) + k));
            for (int64_t m = 0; m < M; m++) {
                double v = tu_buf_at(&X, (size_t)(b + m * B));
                int64_t want = ref_search(mode ? stored : seq + b * K, mode ? ord + b * K : NULL, K, v, d.right);
                bad += tu_buf_at(&Y, (size_t)(b * M + m)) != (double)want;
            }
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong (%s)", what, bad, brc_plan_sku(p));
        cr_expect_eq(read_err(), 0, "%s: error flag", what);
        brc_plan_destroy(p);
        /* A sorter entry out of range sets the flag. */
        if (mode == 1) {
            put(&SO, 3, (double)K + 5);
            tu_buf_upload(&SO);
            p = plan_run(&d, NULL, &S, 0, &X, 0, NULL, &SO, &Y, 0, "searchsorted bad sorter");
            cr_expect_eq(read_err(), 1, "a sorter entry outside [0, K) sets err");
            brc_plan_destroy(p);
        }
        free(stored), free(seq), free(ord);
        tu_buf_free(&S), tu_buf_free(&X), tu_buf_free(&Y), tu_buf_free(&SO);
    }
}

/* ---- histc ------------------------------------------------------------------------------------------------ */

/* The bin torch's CUDA histc gives v (f32 math, f64 for f64), or -1. */
static int64_t ref_histc_bin(brc_dtype dt, double v, double lo, double hi, int64_t bins) {
    if (!(v >= lo && v <= hi)) return -1;
    int64_t b;
    if (dt == BRC_F64) {
        volatile double t = (v - lo) * (double)bins;
        b = (int64_t)(int)(t / (hi - lo));
    } else {
        volatile float a = (float)v - (float)lo, t = a * (float)bins, r = (float)hi - (float)lo;
        volatile float q = t / r;
        b = (int64_t)(int)q;
    }
    if (b >= bins) b = bins - 1;
    return b;
}

typedef struct hjob {
    brc_dtype dt;
    int64_t n, bins;
    int force_global, autorange, strided;
} hjob;

ParameterizedTestParameters(search, histc) {
    static hjob jobs[] = {
        {BRC_F32, 1000003, 100, 0, 0, 0}, {BRC_F32, 65537, 4096, 0, 0, 1}, {BRC_F64, 30001, 20000, 0, 0, 0},
        {BRC_BF16, 5001, 7, 0, 0, 1},     {BRC_F16, 5001, 1, 1, 0, 0},     {BRC_F32, 200001, 333, 1, 1, 0},
        {BRC_F64, 77, 10, 0, 1, 1},
    };
    return cr_make_param_array(hjob, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(hjob *j, search, histc, .init = setup, .fini = teardown, .timeout = 300) {
    const int64_t n = j->n, bins = j->bins, ld = j->strided ? 3 : 1;
    const double lo = -2.0, hi = 3.0;
    uint64_t rng = 7 + (uint64_t)n;
    tu_buf X = tu_buf_new(j->dt, (size_t)(n * ld)), Y = tu_buf_new(j->dt, (size_t)bins);
    double *xv = malloc((size_t)n * sizeof(double)), *want = calloc((size_t)bins, sizeof(double));
    cr_assert(xv && want);
    double dmin = INFINITY, dmax = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = tu_rand(&rng) % 16;
        double v = tu_uniform(&rng, -2.5, 3.5);
        if (r == 0) v = lo + (hi - lo) * (double)(tu_rand(&rng) % (uint64_t)(bins + 1)) / (double)bins; /* edges */
        if (r == 1) v = hi;                                                                          /* max edge */
        if (r == 2) v = lo;
        if (r == 3 && !j->autorange) v = NAN;
        xv[i] = put(&X, i * ld, v);
        if (xv[i] == xv[i]) dmin = fmin(dmin, xv[i]), dmax = fmax(dmax, xv[i]);
    }
    tu_buf_upload(&X);
    double l = lo, h = hi;
    if (j->autorange) l = dmin, h = dmax;
    for (int64_t i = 0; i < n; i++) {
        int64_t b = ref_histc_bin(j->dt, xv[i], l, h, bins);
        if (b >= 0) want[b] += 1;
    }
    brc_search_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_HISTC;
    d.x = tu_mat(j->dt, 1, n, n * ld);
    d.x.strides[1] = ld;
    brc_tensor_desc_contiguous(&d.y, j->dt, 1, &bins);
    d.bins = bins;
    d.min = j->autorange ? 1.5 : lo, d.max = j->autorange ? 1.5 : hi;
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.force_strided = j->force_global;
    char what[128];
    snprintf(what, sizeof what, "histc %s n %lld bins %lld%s%s", brc_dtype_name(j->dt), (long long)n, (long long)bins,
             j->force_global ? " global" : "", j->autorange ? " data range" : "");
    brc_plan *p = plan_run(&d, &pr, NULL, 0, &X, 0, NULL, NULL, &Y, 0, what);
    long bad = 0;
    for (int64_t b = 0; b < bins; b++) {
        char enc[8];
        tu_encode(j->dt, want[b], enc); /* the count rounded to the dtype */
        double w = tu_decode(j->dt, enc), got = tu_buf_at(&Y, (size_t)b);
        if (got != w && bad++ < 5) cr_log_error("%s: bin %lld = %g, want %g", what, (long long)b, got, w);
    }
    cr_expect_eq(bad, 0, "%s: %ld bins wrong (%s)", what, bad, brc_plan_sku(p));
    cr_expect_eq(read_err(), 0, "%s: error flag", what);
    cr_expect_eq(brc_search_plan_deterministic(p), 1);
    /* A second run gives the same bits. */
    unsigned char *first = malloc(Y.n * brc_dtype_size(Y.t));
    cr_assert(first);
    memcpy(first, Y.h, Y.n * brc_dtype_size(Y.t));
    cr_assert_eq(brc_search_run(p, NULL, dp(&X, 0), NULL, NULL, dp(&Y, 0), (void *)(uintptr_t)g_ws_d, WS_BYTES, NULL,
                                NULL),
                 BRC_STATUS_OK);
    tu_buf_download(&Y);
    cr_expect(memcmp(first, Y.h, Y.n * brc_dtype_size(Y.t)) == 0, "%s: a second run differs", what);
    free(first);
    if (j->autorange) {
        /* NaN (or an infinity) in the data: a non-finite range sets err and leaves zeros. */
        put(&X, 0, NAN);
        tu_buf_upload(&X);
        brc_plan_destroy(p);
        p = plan_run(&d, &pr, NULL, 0, &X, 0, NULL, NULL, &Y, 0, "histc data range with NaN");
        double s = 0;
        for (int64_t b = 0; b < bins; b++) s += fabs(tu_buf_at(&Y, (size_t)b));
        cr_expect_eq(read_err(), 1, "NaN in the data range sets err");
        cr_expect_eq(s, 0.0, "and y is zeros");
        /* constant data v: the range [v - 1, v + 1] */
        for (int64_t i = 0; i < n; i++) put(&X, i * ld, 0.75);
        tu_buf_upload(&X);
        brc_plan_destroy(p);
        p = plan_run(&d, &pr, NULL, 0, &X, 0, NULL, NULL, &Y, 0, "histc constant data");
        int64_t b = ref_histc_bin(j->dt, 0.75, -0.25, 1.75, bins);
        for (int64_t k = 0; k < bins; k++)
            cr_expect_eq(tu_buf_at(&Y, (size_t)k), k == b ? (double)n : 0.0, "constant data: bin %lld", (long long)k);
    }
    brc_plan_destroy(p);
    free(xv), free(want);
    tu_buf_free(&X), tu_buf_free(&Y);
}

/* ---- histogram with edges ------------------------------------------------------------------------------ */

Test(search, histogram_edges_and_weights, .init = setup, .fini = teardown, .timeout = 300) {
    static const brc_dtype dts[] = {BRC_F32, BRC_F64, BRC_BF16};
    for (size_t t = 0; t < 3; t++)
        for (int weighted = 0; weighted < 2; weighted++) {
            brc_dtype dt = dts[t];
            const int64_t n = 100003, E = t == 1 ? 9001 : 37;
            uint64_t rng = 3 + t * 2 + (uint64_t)weighted;
            tu_buf X = tu_buf_new(dt, (size_t)n), W = tu_buf_new(dt, (size_t)n), ED = tu_buf_new(dt, (size_t)E),
                   Y = tu_buf_new(dt, (size_t)(E - 1));
            double *e = malloc((size_t)E * sizeof(double)), *want = calloc((size_t)E, sizeof(double));
            double *xv = malloc((size_t)n * sizeof(double));
            cr_assert(e && want && xv);
            for (int64_t k = 0; k < E; k++) e[k] = put(&ED, k, -4.0 + 8.0 * (double)k / (double)(E - 1) + (E < 100 ? (double)(k % 3) * 1e-3 : 0.0));
            tu_buf_upload(&ED);
            for (int64_t i = 0; i < n; i++) {
                uint64_t r = tu_rand(&rng) % 10;
                double v = r == 0 ? e[tu_rand(&rng) % (uint64_t)E] : r == 1 ? NAN : tu_uniform(&rng, -5, 5);
                xv[i] = put(&X, i, v); /* the value as stored (rounded to the dtype) decides */
                double wv = weighted ? put(&W, i, (double)(1 + tu_rand(&rng) % 4) * 0.25) : 1.0;
                if (!(xv[i] >= e[0] && xv[i] <= e[E - 1])) continue;
                int64_t lo = 0, hi = E;
                while (lo < hi) {
                    int64_t m = (lo + hi) / 2;
                    if (!(xv[i] < e[m])) lo = m + 1;
                    else hi = m;
                }
                int64_t b = lo - 1 >= E - 1 ? E - 2 : lo - 1;
                want[b] += wv;
            }
            tu_buf_upload(&X), tu_buf_upload(&W);
            brc_search_desc d;
            memset(&d, 0, sizeof d);
            d.kind = BRC_SEARCH_HISTOGRAM;
            brc_tensor_desc_contiguous(&d.x, dt, 1, &n);
            d.weight = d.x;
            d.use_weight = weighted;
            brc_tensor_desc_contiguous(&d.sorted, dt, 1, &E);
            int64_t B = E - 1;
            brc_tensor_desc_contiguous(&d.y, dt, 1, &B);
            char what[96];
            snprintf(what, sizeof what, "histogram %s edges %lld weight %d", brc_dtype_name(dt), (long long)E, weighted);
            brc_plan *p = plan_run(&d, NULL, &ED, 0, &X, 0, weighted ? &W : NULL, NULL, &Y, 0, what);
            long bad = 0;
            for (int64_t b = 0; b < B; b++) {
                char enc[8];
                tu_encode(dt, want[b], enc);
                double w = tu_decode(dt, enc), got = tu_buf_at(&Y, (size_t)b);
                /* quarter weights sum exactly in f32 at these counts; bf16 rounds the total once */
                if (got != w && bad++ < 5) cr_log_error("%s: bin %lld = %g, want %g", what, (long long)b, got, w);
            }
            cr_expect_eq(bad, 0, "%s: %ld bins wrong (%s)", what, bad, brc_plan_sku(p));
            cr_expect_eq(brc_search_plan_deterministic(p), !weighted);
            brc_plan_destroy(p);
            free(e), free(want), free(xv);
            tu_buf_free(&X), tu_buf_free(&W), tu_buf_free(&ED), tu_buf_free(&Y);
        }
}

/* ---- bincount -------------------------------------------------------------------------------------------- */

typedef struct bjob {
    brc_dtype xt, wt, yt;
    int64_t n, L;
    int force_global;
} bjob;

ParameterizedTestParameters(search, bincount) {
    static bjob jobs[] = {
        {BRC_I32, BRC_DTYPE_COUNT_, BRC_I64, 1000003, 1000, 0}, {BRC_I64, BRC_DTYPE_COUNT_, BRC_I32, 5001, 50000, 0},
        {BRC_I8, BRC_DTYPE_COUNT_, BRC_I64, 4097, 100, 1},      {BRC_I32, BRC_I32, BRC_F64, 300001, 1000, 0},
        {BRC_I64, BRC_F32, BRC_F32, 300001, 999, 0},            {BRC_U8, BRC_F64, BRC_F64, 1001, 256, 1},
        {BRC_I32, BRC_BF16, BRC_F32, 20001, 7, 0},
    };
    return cr_make_param_array(bjob, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(bjob *j, search, bincount, .init = setup, .fini = teardown, .timeout = 300) {
    const int64_t n = j->n, L = j->L;
    bool weighted = j->wt != BRC_DTYPE_COUNT_;
    uint64_t rng = 19 + (uint64_t)n;
    tu_buf X = tu_buf_new(j->xt, (size_t)n), W = tu_buf_new(weighted ? j->wt : BRC_F32, (size_t)n),
           Y = tu_buf_new(j->yt, (size_t)L);
    double *want = calloc((size_t)L, sizeof(double)), *mag = calloc((size_t)L, sizeof(double));
    cr_assert(want && mag);
    long oob = 0;
    int64_t hi = j->xt == BRC_I8 ? 127 : j->xt == BRC_U8 ? 255 : L;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)(tu_rand(&rng) % (uint64_t)(hi + 1));
        if (j->xt != BRC_U8 && i % 997 == 5) v = -1 - (int64_t)(tu_rand(&rng) % 3); /* negative */
        if (i % 1009 == 7 && j->xt != BRC_I8 && j->xt != BRC_U8) v = L + (int64_t)(tu_rand(&rng) % 5);
        put(&X, i, (double)v);
        double w = 1.0;
        if (weighted) {
            w = j->wt == BRC_I32 ? (double)((int64_t)(tu_rand(&rng) % 2001) - 1000) : tu_uniform(&rng, -1.0, 2.0);
            w = put(&W, i, w);
        }
        if (v < 0 || v >= L) {
            oob++;
            continue;
        }
        want[v] += w, mag[v] += fabs(w);
    }
    tu_buf_upload(&X), tu_buf_upload(&W);
    brc_search_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_BINCOUNT;
    brc_tensor_desc_contiguous(&d.x, j->xt, 1, &n);
    d.use_weight = weighted;
    brc_tensor_desc_contiguous(&d.weight, W.t, 1, &n);
    brc_tensor_desc_contiguous(&d.y, j->yt, 1, &L);
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.force_strided = j->force_global;
    char what[128];
    snprintf(what, sizeof what, "bincount %s weight %s -> %s n %lld L %lld%s", brc_dtype_name(j->xt),
             weighted ? brc_dtype_name(j->wt) : "none", brc_dtype_name(j->yt), (long long)n, (long long)L,
             j->force_global ? " global" : "");
    brc_plan *p = plan_run(&d, &pr, NULL, 0, &X, 0, weighted ? &W : NULL, NULL, &Y, 0, what);
    bool exact = !weighted || j->wt == BRC_I32;
    long bad = 0;
    for (int64_t b = 0; b < L; b++) {
        double got = tu_buf_at(&Y, (size_t)b), tol = exact ? 0 : (j->yt == BRC_F32 ? 2e-6 : 1e-13) * (mag[b] + 1);
        if (!(fabs(got - want[b]) <= tol) && bad++ < 5)
            cr_log_error("%s: y[%lld] = %.17g, want %.17g", what, (long long)b, got, want[b]);
    }
    cr_expect_eq(bad, 0, "%s: %ld wrong (%s)", what, bad, brc_plan_sku(p));
    cr_expect_eq(read_err(), oob > 0 ? 1 : 0, "%s: %ld values out of range: the error flag", what, oob);
    cr_expect_eq(brc_search_plan_deterministic(p), exact ? 1 : 0, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    free(want), free(mag);
    tu_buf_free(&X), tu_buf_free(&W), tu_buf_free(&Y);
}

/* ---- run-time errors ------------------------------------------------------------------------------------ */

Test(search, run_errors, .init = setup, .fini = teardown, .timeout = 120) {
    const int64_t n = 1000, L = 10;
    tu_buf X = tu_buf_new(BRC_I32, (size_t)n), Y = tu_buf_new(BRC_I64, (size_t)L);
    for (int64_t i = 0; i < n; i++) put(&X, i, (double)(i % 10));
    tu_buf_upload(&X);
    brc_search_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SEARCH_BINCOUNT;
    brc_tensor_desc_contiguous(&d.x, BRC_I32, 1, &n);
    brc_tensor_desc_contiguous(&d.y, BRC_I64, 1, &L);
    brc_plan *p = NULL;
    cr_assert_eq(brc_search_plan(g_ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    size_t ws = brc_plan_workspace_size(p);
    cr_expect(ws > 0);
    void *wsp = (void *)(uintptr_t)g_ws_d, *x = dp(&X, 0), *y = dp(&Y, 0);
    cr_expect_eq(brc_search_run(p, NULL, NULL, NULL, NULL, y, wsp, ws, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "x is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_search_run(p, NULL, x, NULL, NULL, y, NULL, ws, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "workspace is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_search_run(p, NULL, x, NULL, NULL, y, wsp, ws - 1, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "smaller than") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_search_run(p, NULL, x, NULL, NULL, y, (char *)wsp + 8, ws, NULL, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_search_run(p, NULL, x, NULL, NULL, y, wsp, ws, (int32_t *)((char *)(uintptr_t)g_err_d + 2), NULL),
                 BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_search_run(p, NULL, x, NULL, NULL, x, wsp, ws, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "y and x are one buffer") != NULL, "%s", brc_last_error());
    poison(&Y);
    cr_expect_eq(brc_search_run(p, NULL, x, NULL, NULL, y, wsp, ws, NULL, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_download(&Y);
    for (int64_t b = 0; b < L; b++) cr_expect_eq(tu_buf_at(&Y, (size_t)b), 100.0, "bin %lld", (long long)b);
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&Y);
}
