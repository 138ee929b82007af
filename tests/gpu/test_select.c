/* GPU tests of the select family against an exact host model: topk (largest and smallest, sorted
 * and not; k = 1, small, mid, the row length), kthvalue and median, for every dtype, on rows of
 * 1, 17, 1000, 4097 and 131073 positions, many rows (a CTA a row) and few long ones (rows split
 * over CTAs), the split forced onto short rows, data with many ties (a small integer range), NaN,
 * inf and signed zeros, transposed / padded / flipped inputs and outputs, rank 3 along a middle
 * dim, kthvalue with and without dim, rank 0. The model sorts each row by (value, position) with
 * NaN largest and -0 == +0; values are compared bit for bit, indices exactly (the tie rule of
 * select.h). Outputs poisoned; padding checked untouched. Also graph capture and run errors.
 * Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- host tensors placed in a buffer by strides ------------------------------------------------- */

enum { CONTIG, TRANS, PAD, FLIP };

typedef struct ht {
    brc_tensor_desc t;
    int64_t base;
    tu_buf b;
} ht;

static ht ht_new(brc_dtype dt, int rank, const int64_t *shape, int style) {
    ht h;
    memset(&h, 0, sizeof h);
    brc_tensor_desc_contiguous(&h.t, dt, rank, shape);
    if (style == TRANS) { /* column-major */
        int64_t s = 1;
        for (int d = 0; d < rank; d++) h.t.strides[d] = s, s *= shape[d] > 0 ? shape[d] : 1;
    } else if (style == PAD) {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) h.t.strides[d] = s, s = s * shape[d] + 3;
    } else if (style == FLIP && rank > 0) {
        h.t.strides[0] = -h.t.strides[0];
        h.base = (shape[0] - 1) * -h.t.strides[0];
    }
    int64_t hi = h.base;
    for (int d = 0; d < rank; d++)
        if (h.t.strides[d] > 0 && shape[d] > 0) hi += (shape[d] - 1) * h.t.strides[d];
    h.b = tu_buf_new(dt, (size_t)(hi + 1));
    memset(h.b.h, 0xff, h.b.n * brc_dtype_size(dt)); /* poison */
    return h;
}
static void ht_free(ht *h) { tu_buf_free(&h->b); }
static int64_t numel(const ht *h) { return brc_tensor_desc_numel(&h->t); }
static int64_t off(const ht *h, const int64_t *c) {
    int64_t o = h->base;
    for (int d = 0; d < h->t.rank; d++) o += c[d] * h->t.strides[d];
    return o;
}
static const unsigned char *at(const ht *h, const int64_t *c) {
    return h->b.h + (size_t)off(h, c) * brc_dtype_size(h->b.t);
}
static void *dptr(const ht *h) {
    return (void *)(uintptr_t)(h->b.d + (CUdeviceptr)((size_t)h->base * brc_dtype_size(h->b.t)));
}
static void coords(const brc_tensor_desc *t, int64_t lin, int64_t *c) {
    for (int d = t->rank - 1; d >= 0; d--) c[d] = lin % t->shape[d], lin /= t->shape[d];
}
/* Elements of the buffer outside the view that are not poison any more. */
static long strays(const ht *h) {
    size_t es = brc_dtype_size(h->b.t);
    unsigned char *in = calloc(h->b.n, 1);
    cr_assert(in);
    int64_t c[8];
    for (int64_t i = 0; i < numel(h); i++) coords(&h->t, i, c), in[off(h, c)] = 1;
    long n = 0;
    for (size_t e = 0; e < h->b.n; e++) {
        if (in[e]) continue;
        for (size_t k = 0; k < es; k++)
            if (h->b.h[e * es + k] != 0xff) {
                n++;
                break;
            }
    }
    free(in);
    return n;
}

/* ---- data ----------------------------------------------------------------------------------------- */

enum { TIES, WIDE, SPECIAL };

static double rval(brc_dtype t, int data, uint64_t *rng) {
    bool fl = brc_dtype_is_float(t);
    if (data == SPECIAL && fl && tu_rand(rng) % 3 == 0) {
        static const double sp[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 2.5};
        return sp[tu_rand(rng) % 8];
    }
    if (data == TIES || data == SPECIAL) {
        double v = (double)(int64_t)(tu_rand(rng) % 9) - 4;
        return t == BRC_U8 ? v + 4 : v;
    }
    switch (t) {
    case BRC_I8: return (double)(int64_t)(tu_rand(rng) % 256) - 128;
    case BRC_U8: return (double)(tu_rand(rng) % 256);
    case BRC_I16: return (double)(int64_t)(tu_rand(rng) % 65536) - 32768;
    case BRC_I32: return (double)(int32_t)(uint32_t)tu_rand(rng);
    case BRC_I64: return (double)((int64_t)(tu_rand(rng) % (1ull << 41)) - ((int64_t)1 << 40));
    default: return tu_uniform(rng, -100.0, 100.0);
    }
}

static void fill(ht *h, int data, uint64_t *rng) {
    int64_t c[8];
    for (int64_t i = 0; i < numel(h); i++) {
        coords(&h->t, i, c);
        tu_encode(h->t.dtype, rval(h->t.dtype, data, rng), h->b.h + (size_t)off(h, c) * brc_dtype_size(h->t.dtype));
    }
    tu_buf_upload(&h->b);
}

/* ---- the model ------------------------------------------------------------------------------------ */

typedef struct elem {
    double v;
    int nan;
    int64_t pos;
} elem;
static int g_desc;

/* (value, position): NaN above everything, -0 == +0 (a double compare), lower position first. */
static int cmp_elem(const void *pa, const void *pb) {
    const elem *a = pa, *b = pb;
    int c = (a->nan || b->nan) ? a->nan - b->nan : (a->v < b->v ? -1 : a->v > b->v);
    if (g_desc) c = -c;
    if (c) return c;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}
static int cmp_pos(const void *pa, const void *pb) {
    const elem *a = pa, *b = pb;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

typedef struct scase {
    brc_select_kind kind;
    brc_dtype dt, it;
    int rank;
    int64_t shape[3];
    int dim; /* normalized */
    int xstyle, ostyle;
    int keep; /* kthvalue / median: keep dim */
    int64_t k;
    int largest, sorted, data, split;
} scase;

static brc_context *g_ctx;
static void setup(void) {
    tu_fresh_cache();
    g_ctx = tu_device_or_skip();
}
static void teardown(void) {
    brc__select_split_override(0);
    brc_context_destroy(g_ctx);
}

static const char *kname(brc_select_kind k) { return k == BRC_SELECT_TOPK ? "topk" : k == BRC_SELECT_KTHVALUE ? "kthvalue" : "median"; }

/* Runs one case; returns the number of wrong output elements (0 expected). */
static long run_case(const scase *c, uint64_t seed) {
    uint64_t rng = seed;
    int r = c->rank, dim = c->dim;
    int64_t n = r ? c->shape[dim] : 1;
    bool topk = c->kind == BRC_SELECT_TOPK;
    int64_t k = topk ? c->k : c->kind == BRC_SELECT_KTHVALUE ? c->k : (n + 1) / 2;
    ht x = ht_new(c->dt, r, c->shape, c->xstyle);
    fill(&x, c->data, &rng);
    int64_t os[3];
    int orank = r;
    for (int d = 0; d < r; d++) os[d] = c->shape[d];
    if (r) os[dim] = topk ? k : 1;
    if (!topk && !c->keep && r) {
        orank = r - 1;
        for (int d = dim; d < r - 1; d++) os[d] = c->shape[d + 1];
    }
    ht v = ht_new(c->dt, orank, os, c->ostyle), ix = ht_new(c->it, orank, os, c->ostyle);
    tu_buf_upload(&v.b), tu_buf_upload(&ix.b);
    brc_select_desc d = {.kind = c->kind, .x = x.t, .values = v.t, .indices = ix.t, .dim = dim, .k = c->k,
                         .largest = c->largest, .sorted = c->sorted};
    char what[200];
    snprintf(what, sizeof what, "%s %s/%s [%lld %lld %lld] rank %d dim %d k %lld %s %s x%d o%d keep %d data %d split %d",
             kname(c->kind), brc_dtype_name(c->dt), brc_dtype_name(c->it), (long long)c->shape[0],
             (long long)c->shape[1], (long long)c->shape[2], r, dim, (long long)k, c->largest ? "largest" : "smallest",
             c->sorted ? "sorted" : "unsorted", c->xstyle, c->ostyle, c->keep, c->data, c->split);
    brc__select_split_override(c->split);
    brc_plan *p = NULL;
    cr_assert_eq(brc_select_plan(g_ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    size_t wsz = brc_plan_workspace_size(p);
    CUdeviceptr ws = 0;
    if (wsz) {
        cr_assert_eq(brc__cu()->cuMemAlloc(&ws, wsz), CUDA_SUCCESS);
        cr_assert_eq(brc__cu()->cuMemsetD8(ws, 0xab, wsz), CUDA_SUCCESS); /* scratch need not be clean */
    }
    cr_assert_eq(brc_select_run(p, dptr(&x), dptr(&v), dptr(&ix), (void *)(uintptr_t)ws, wsz, NULL), BRC_STATUS_OK,
                 "%s: %s", what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed (%s)", what, brc_plan_sku(p));
    tu_buf_download(&v.b), tu_buf_download(&ix.b);

    /* The model, row by row: every coordinate of x with c[dim] = 0. */
    size_t es = brc_dtype_size(c->dt);
    elem *row = malloc(sizeof(elem) * (size_t)(n > 0 ? n : 1));
    cr_assert(row);
    int64_t rows = 1;
    for (int dd = 0; dd < r; dd++)
        if (dd != dim) rows *= c->shape[dd];
    long bad = 0;
    for (int64_t ri = 0; ri < rows; ri++) {
        int64_t xc[3] = {0, 0, 0}, rem = ri;
        for (int dd = r - 1; dd >= 0; dd--)
            if (dd != dim) xc[dd] = rem % c->shape[dd], rem /= c->shape[dd];
        int64_t nan_count = 0;
        for (int64_t j = 0; j < n; j++) {
            if (r) xc[dim] = j;
            double val = tu_decode(c->dt, at(&x, xc));
            row[j].v = val, row[j].nan = isnan(val), row[j].pos = j;
            nan_count += row[j].nan;
        }
        g_desc = topk && c->largest;
        qsort(row, (size_t)n, sizeof(elem), cmp_elem);
        int64_t first = 0, cnt = k;
        if (c->kind == BRC_SELECT_KTHVALUE) first = k - 1, cnt = 1;
        if (c->kind == BRC_SELECT_MEDIAN) first = nan_count ? n - nan_count : (n + 1) / 2 - 1, cnt = 1;
        if (topk && !c->sorted) qsort(row, (size_t)k, sizeof(elem), cmp_pos);
        for (int64_t j = 0; j < cnt; j++) {
            int64_t oc[3] = {0, 0, 0};
            if (topk || c->keep) {
                for (int dd = 0; dd < r; dd++) oc[dd] = xc[dd];
                if (r) oc[dim] = topk ? j : 0;
            } else {
                for (int dd = 0, e = 0; dd < r; dd++)
                    if (dd != dim) oc[e++] = xc[dd];
            }
            int64_t want = row[first + j].pos, got = (int64_t)tu_decode(c->it, at(&ix, oc));
            if (r) xc[dim] = want;
            bool ok = got == want && memcmp(at(&v, oc), at(&x, xc), es) == 0;
            if (!ok && bad < 5)
                cr_log_error("%s: row %lld, output %lld: index %lld value %g, want index %lld value %g", what,
                             (long long)ri, (long long)j, (long long)got, tu_decode(c->dt, at(&v, oc)),
                             (long long)want, tu_decode(c->dt, at(&x, xc)));
            bad += !ok;
        }
    }
    free(row);
    long s = strays(&v) + strays(&ix);
    cr_expect_eq(s, 0, "%s: %ld writes outside the outputs", what, s);
    cr_log_info("%s: %s, workspace %zu, %ld wrong", what, brc_plan_sku(p), wsz, bad);
    if (ws) brc__cu()->cuMemFree(ws);
    brc_plan_destroy(p);
    ht_free(&x), ht_free(&v), ht_free(&ix);
    brc__select_split_override(0);
    return bad + s;
}

/* ---- topk over every dtype -------------------------------------------------------------------------- */

static const brc_dtype all_dtypes[] = {BRC_F32, BRC_F64, BRC_F16, BRC_BF16, BRC_I32, BRC_I64, BRC_I16, BRC_I8, BRC_U8};

ParameterizedTestParameters(select, topk) {
    static int p[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    return cr_make_param_array(int, p, 9);
}

ParameterizedTest(int *pi, select, topk, .init = setup, .fini = teardown, .timeout = 600) {
    brc_dtype dt = all_dtypes[*pi], it = *pi % 2 ? BRC_I32 : BRC_I64;
    bool fl = brc_dtype_is_float(dt);
    /* rows x n, [k...]: many short rows (a CTA a row) and a few long ones (split). */
    static const struct {
        int64_t rows, n, ks[4];
    } shapes[] = {
        {5, 1, {1, 0, 1, 1}},        {300, 17, {1, 5, 17, 16}},      {150, 1000, {1, 7, 1000, 100}},
        {140, 4097, {1, 33, 4097, 2048}}, {40, 4097, {1, 64, 4096, 4097}}, {3, 131073, {1, 16, 1024, 4096}},
    };
    long bad = 0;
    int cases = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        for (int lg = 1; lg >= 0; lg--)
            for (int so = 1; so >= 0; so--)
                for (int ki = 0; ki < 4; ki++) {
                    int64_t k = shapes[si].ks[ki];
                    if (so && k > 4096) k = 4096;
                    /* Long rows: a few (k, direction) pairs only (the model sorts each row). */
                    if (shapes[si].n > 10000 && (ki + lg + so) % 2) continue;
                    int data = (ki + (int)si) % 3;
                    if (data == SPECIAL && !fl) data = TIES;
                    scase c = {BRC_SELECT_TOPK, dt, it, 2, {shapes[si].rows, shapes[si].n, 0}, 1, CONTIG, CONTIG, 1,
                               k, lg, so, data, 0};
                    /* Strides: the row along dim 0 of a transposed view, padded outputs, flips. */
                    if (si == 2 && ki == 1) c.xstyle = TRANS;
                    if (si == 1 && ki == 2) c.xstyle = FLIP, c.ostyle = PAD;
                    if (si == 3 && ki == 3) c.ostyle = TRANS;
                    bad += run_case(&c, 1000 + si * 100 + (uint64_t)ki * 10 + (uint64_t)(lg * 2 + so));
                    cases++;
                }
    }
    cr_log_info("topk %s: %d cases", brc_dtype_name(dt), cases);
    cr_expect_eq(bad, 0, "topk %s: %ld wrong elements", brc_dtype_name(dt), bad);
}

/* ---- kthvalue and median ---------------------------------------------------------------------------- */

ParameterizedTestParameters(select, kthvalue_and_median) {
    static int p[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    return cr_make_param_array(int, p, 9);
}

ParameterizedTest(int *pi, select, kthvalue_and_median, .init = setup, .fini = teardown, .timeout = 600) {
    brc_dtype dt = all_dtypes[*pi], it = *pi % 2 ? BRC_I64 : BRC_I32;
    bool fl = brc_dtype_is_float(dt);
    static const struct {
        int64_t rows, n;
    } shapes[] = {{7, 1}, {300, 17}, {200, 1000}, {150, 4097}, {20, 4097}, {3, 131073}};
    long bad = 0;
    int cases = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int64_t n = shapes[si].n, ks[3] = {1, (n + 2) / 3, n};
        for (int kind = 0; kind < 2; kind++)
            for (int ki = 0; ki < (kind ? 1 : 3); ki++)
                for (int data = 0; data < 3; data++) {
                    if (data == SPECIAL && !fl) continue;
                    if (n > 10000 && (ki + data) % 2) continue;
                    scase c = {kind ? BRC_SELECT_MEDIAN : BRC_SELECT_KTHVALUE, dt, it, 2, {shapes[si].rows, n, 0},
                               1, CONTIG, CONTIG, (ki + data) % 2, ks[ki], 0, 0, data, 0};
                    if (si == 2 && data == 1) c.xstyle = TRANS;
                    if (si == 1 && data == 0) c.xstyle = FLIP, c.ostyle = PAD;
                    bad += run_case(&c, 5000 + si * 100 + (uint64_t)kind * 10 + (uint64_t)ki * 3 + (uint64_t)data);
                    cases++;
                }
    }
    cr_log_info("kthvalue / median %s: %d cases", brc_dtype_name(dt), cases);
    cr_expect_eq(bad, 0, "kthvalue / median %s: %ld wrong elements", brc_dtype_name(dt), bad);
}

/* ---- the split path forced onto short rows, rank 3, rank 0 ------------------------------------------------ */

Test(select, split_rows_and_views, .init = setup, .fini = teardown, .timeout = 600) {
    long bad = 0;
    /* Splits of 3 and 7 CTAs a row: ties straddle the chunk boundaries. */
    const brc_dtype dts[] = {BRC_F32, BRC_I8, BRC_BF16, BRC_F64};
    for (int t = 0; t < 4; t++)
        for (int split = 3; split <= 7; split += 4)
            for (int kind = 0; kind < 3; kind++) {
                int64_t k = kind == 0 ? 50 : kind == 1 ? 333 : 0;
                for (int lg = 0; lg < (kind ? 1 : 2); lg++) {
                    scase c = {(brc_select_kind)kind, dts[t], BRC_I64, 2, {6, 1000, 0}, 1, CONTIG, CONTIG, 1, k,
                               lg, 1, t == 0 ? SPECIAL : TIES, split};
                    bad += run_case(&c, 7000 + (uint64_t)t * 100 + (uint64_t)split * 10 + (uint64_t)kind * 2 +
                                            (uint64_t)lg);
                    c.sorted = 0, c.k = kind == 0 ? 1000 : c.k;
                    if (kind == 0) bad += run_case(&c, 7500 + (uint64_t)t * 100 + (uint64_t)split * 10 + (uint64_t)lg);
                }
            }
    /* Rank 3 along the middle dim (rows do not merge), padded and column-major. */
    for (int kind = 0; kind < 3; kind++) {
        scase c = {(brc_select_kind)kind, BRC_F32, BRC_I32, 3, {4, 301, 7}, 1, PAD, TRANS, 0,
                   kind == 0 ? 20 : 150, 1, 1, TIES, 0};
        bad += run_case(&c, 8000 + (uint64_t)kind);
        c.xstyle = TRANS, c.ostyle = PAD, c.keep = 1, c.dim = 0, c.shape[0] = 301, c.shape[1] = 4;
        bad += run_case(&c, 8100 + (uint64_t)kind);
        c.dim = 2, c.split = 3, c.k = kind == 0 ? 7 : 4;
        bad += run_case(&c, 8200 + (uint64_t)kind);
    }
    /* Rank 0: one row of one element. */
    scase c0 = {BRC_SELECT_TOPK, BRC_F16, BRC_I64, 0, {0, 0, 0}, 0, CONTIG, CONTIG, 1, 1, 1, 1, WIDE, 0};
    bad += run_case(&c0, 9000);
    c0.kind = BRC_SELECT_MEDIAN;
    bad += run_case(&c0, 9001);
    cr_expect_eq(bad, 0, "%ld wrong elements", bad);
}

/* ---- graph capture, run errors ------------------------------------------------------------------------ */

Test(select, capture_and_run_errors, .init = setup, .fini = teardown, .timeout = 300) {
    int64_t xs[2] = {4, 50000}, os[2] = {4, 100};
    ht x = ht_new(BRC_F32, 2, xs, CONTIG), v = ht_new(BRC_F32, 2, os, CONTIG), ix = ht_new(BRC_I64, 2, os, CONTIG);
    uint64_t rng = 42;
    fill(&x, WIDE, &rng);
    brc_select_desc d = {.kind = BRC_SELECT_TOPK, .x = x.t, .values = v.t, .indices = ix.t, .dim = 1, .k = 100,
                         .largest = 1, .sorted = 1};
    brc_plan *p = NULL;
    cr_assert_eq(brc_select_plan(g_ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    size_t wsz = brc_plan_workspace_size(p);
    cr_assert(wsz > 0, "4 rows of 50000 are split");
    CUdeviceptr ws;
    cr_assert_eq(brc__cu()->cuMemAlloc(&ws, wsz + 64), CUDA_SUCCESS);
    void *w = (void *)(uintptr_t)ws;
    /* Eager reference, then the same from a captured graph, replayed twice. */
    cr_assert_eq(brc_select_run(p, dptr(&x), dptr(&v), dptr(&ix), w, wsz, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_download(&v.b), tu_buf_download(&ix.b);
    size_t vb = v.b.n * 4, ib = ix.b.n * 8;
    unsigned char *rv = malloc(vb), *ri = malloc(ib);
    cr_assert(rv && ri);
    memcpy(rv, v.b.h, vb), memcpy(ri, ix.b.h, ib);
    CUstream s;
    CUgraph g;
    CUgraphExec ge;
    cr_assert_eq(brc__cu()->cuStreamCreate(&s, 0), CUDA_SUCCESS);
    memset(v.b.h, 0xff, vb), memset(ix.b.h, 0xff, ib);
    tu_buf_upload(&v.b), tu_buf_upload(&ix.b);
    cr_assert_eq(brc__cu()->cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
    cr_assert_eq(brc_select_run(p, dptr(&x), dptr(&v), dptr(&ix), w, wsz, (brc_stream)s), BRC_STATUS_OK);
    cr_assert_eq(brc__cu()->cuStreamEndCapture(s, &g), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuGraphInstantiateWithFlags(&ge, g, 0), CUDA_SUCCESS);
    for (int rep = 0; rep < 2; rep++) cr_assert_eq(brc__cu()->cuGraphLaunch(ge, s), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
    tu_buf_download(&v.b), tu_buf_download(&ix.b);
    cr_expect(memcmp(rv, v.b.h, vb) == 0 && memcmp(ri, ix.b.h, ib) == 0, "graph replay differs from the eager run");
    brc__cu()->cuGraphExecDestroy(ge);
    brc__cu()->cuGraphDestroy(g);
    brc__cu()->cuStreamDestroy(s);
    /* Run errors. */
    void *px = dptr(&x), *pv = dptr(&v), *pi = dptr(&ix);
    cr_expect_eq(brc_select_run(p, NULL, pv, pi, w, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "x is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_select_run(p, px, pv, pi, w, wsz - 1, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "is smaller than") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_select_run(p, px, pv, pi, NULL, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_select_run(p, px, pv, pi, (char *)w + 4, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_select_run(p, px, (char *)pv + 2, pi, w, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_select_run(p, px, pv, (char *)pi + 4, w, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_select_run(p, px, px, pi, w, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "three buffers") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_select_run(NULL, px, pv, pi, w, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    free(rv), free(ri);
    brc__cu()->cuMemFree(ws);
    brc_plan_destroy(p);
    ht_free(&x), ht_free(&v), ht_free(&ix);
}
