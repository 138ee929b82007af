/* GPU tests of the indexing family against host references: gather, index_select, embedding
 * (exact copies, every dtype size, i32 and i64 indices, both layouts, padded / column-major /
 * flipped views, unaligned rows), scatter (store without collisions exactly; sum, prod, amax,
 * amin with collisions against float64 within the atomics' rounding, extrema exactly), index_add,
 * embedding_backward (the deterministic path bit for bit against a host model summing in
 * ascending position order, with a skewed index that overflows a CTA's list, padding_idx; the
 * atomic path within tolerance), masked_fill (full and broadcast masks, in place), one_hot; the
 * out-of-range policy (zeros / dropped, the device error flag); launch-shape invariance, graph
 * capture, run-time errors. Poisoned outputs; random data, never zeros. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- host tensors: a logical tensor placed in a buffer by strides ------------------------------------- */

enum { CONTIG, PAD_ODD, COLMAJOR, FLIP, PAD_BIG };

typedef struct ht {
    brc_tensor_desc t;
    int64_t base;
    tu_buf b;
} ht;

static ht ht_new(brc_dtype dt, int rank, const int64_t *shape, int style) {
    ht h;
    memset(&h, 0, sizeof h);
    brc_tensor_desc_contiguous(&h.t, dt, rank, shape);
    if (style == COLMAJOR) {
        int64_t s = 1;
        for (int d = 0; d < rank; d++) h.t.strides[d] = s, s *= shape[d];
    } else if (style == PAD_ODD || style == PAD_BIG) {
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--)
            h.t.strides[d] = s, s = s * shape[d] + (d == rank - 1 ? (style == PAD_ODD ? 1 : 8) : 0);
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
static void coords(const brc_tensor_desc *t, int64_t lin, int64_t *c) {
    for (int d = t->rank - 1; d >= 0; d--) c[d] = lin % t->shape[d], lin /= t->shape[d];
}
static int64_t off(const ht *h, const int64_t *c) {
    int64_t o = h->base;
    for (int d = 0; d < h->t.rank; d++) o += c[d] * h->t.strides[d];
    return o;
}
static double get(const ht *h, const int64_t *c) { return tu_buf_at(&h->b, (size_t)off(h, c)); }
static double set(ht *h, const int64_t *c, double v) {
    int64_t o = off(h, c);
    tu_encode(h->b.t, v, h->b.h + (size_t)o * brc_dtype_size(h->b.t));
    return tu_buf_at(&h->b, (size_t)o);
}
static void *dptr(const ht *h) { return (void *)(uintptr_t)(h->b.d + (CUdeviceptr)((size_t)h->base * brc_dtype_size(h->b.t))); }
static void up(ht *h) { tu_buf_upload(&h->b); }
static void down(ht *h) { tu_buf_download(&h->b); }
static bool is_poison(const ht *h, size_t e) {
    size_t s = brc_dtype_size(h->b.t);
    for (size_t k = 0; k < s; k++)
        if (h->b.h[e * s + k] != 0xff) return false;
    return true;
}
/* Counts elements outside the view that are not poison any more. */
static long strays(const ht *h) {
    unsigned char *in = calloc(h->b.n, 1);
    cr_assert(in);
    int64_t c[8];
    for (int64_t i = 0; i < numel(h); i++) coords(&h->t, i, c), in[off(h, c)] = 1;
    long n = 0;
    for (size_t e = 0; e < h->b.n; e++) n += !in[e] && !is_poison(h, e);
    free(in);
    return n;
}

/* A random value of the dtype (never zero for floats; small integers otherwise). */
static double rval(brc_dtype t, uint64_t *rng) {
    if (brc_dtype_is_float(t)) {
        double v = tu_uniform(rng, 0.25, 2.0);
        return tu_rand(rng) & 1 ? v : -v;
    }
    if (t == BRC_BOOL) return (double)(tu_rand(rng) & 1);
    if (t == BRC_U8 || t == BRC_U32) return (double)(1 + tu_rand(rng) % 200);
    return (double)((int64_t)(tu_rand(rng) % 201) - 100);
}
static void fill(ht *h, uint64_t *rng) {
    int64_t c[8];
    for (int64_t i = 0; i < numel(h); i++) coords(&h->t, i, c), set(h, c, rval(h->t.dtype, rng));
    up(h);
}

static brc_context *g_ctx;
static int32_t *g_err; /* device flag */
static CUdeviceptr g_err_d;

static void setup(void) {
    tu_fresh_cache();
    g_ctx = tu_device_or_skip();
    cr_assert_eq(brc__cu()->cuMemAlloc(&g_err_d, 256), CUDA_SUCCESS);
    g_err = (int32_t *)(uintptr_t)g_err_d;
}
static void clear_err(void) { cr_assert_eq(brc__cu()->cuMemsetD8(g_err_d, 0, 4), CUDA_SUCCESS); }
static int32_t read_err(void) {
    int32_t v = -1;
    cr_assert_eq(brc__cu()->cuMemcpyDtoH(&v, g_err_d, 4), CUDA_SUCCESS);
    return v;
}
static void teardown(void) {
    brc__cu()->cuMemFree(g_err_d);
    brc_context_destroy(g_ctx);
}

/* Plans, runs (error flag cleared first), synchronizes, downloads y. */
static brc_plan *plan_run(const brc_index_desc *d, const ht *x, const ht *ix, const ht *src, ht *y, const char *what) {
    brc_plan *p = NULL;
    cr_assert_eq(brc_index_plan(g_ctx, d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    up(y);
    clear_err();
    cr_assert_eq(brc_index_run(p, x ? dptr(x) : NULL, ix ? dptr(ix) : NULL, src ? dptr(src) : NULL, dptr(y), g_err, NULL),
                 BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed (%s)", what, brc_plan_sku(p));
    down(y);
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    return p;
}

/* Random indices in [0, n) into an index tensor (i32 or i64). */
static void fill_index(ht *ix, int64_t n, uint64_t *rng) {
    int64_t c[8];
    for (int64_t i = 0; i < numel(ix); i++) coords(&ix->t, i, c), set(ix, c, (double)(tu_rand(rng) % (uint64_t)n));
    up(ix);
}

static const brc_dtype copy_dtypes[] = {BRC_F32, BRC_BF16, BRC_I64, BRC_U8};

/* ---- gather and index_select -------------------------------------------------------------------------- */

ParameterizedTestParameters(index, gather_and_select) {
    static int k[] = {0, 1, 2, 3};
    return cr_make_param_array(int, k, 4);
}

ParameterizedTest(int *k, index, gather_and_select, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = copy_dtypes[*k], it = *k % 2 ? BRC_I32 : BRC_I64;
    uint64_t rng = 100 + (uint64_t)*k;
    /* gather along each dim of a padded [5, 37, 9]; the index smaller in the other dims. */
    int64_t xs[3] = {5, 37, 9};
    for (int dim = 0; dim < 3; dim++) {
        int64_t is[3] = {4, dim == 1 ? 50 : 20, 9};
        if (dim == 0) is[0] = 7;
        ht x = ht_new(dt, 3, xs, PAD_ODD), ix = ht_new(it, 3, is, dim == 2 ? COLMAJOR : CONTIG),
           y = ht_new(dt, 3, is, dim == 1 ? FLIP : CONTIG);
        fill(&x, &rng);
        fill_index(&ix, xs[dim], &rng);
        brc_index_desc d = {.kind = BRC_INDEX_GATHER, .x = x.t, .index = ix.t, .y = y.t, .dim = dim - 3 * (dim == 2)};
        char what[96];
        snprintf(what, sizeof what, "gather %s %s dim %d", brc_dtype_name(dt), brc_dtype_name(it), dim);
        brc_plan *p = plan_run(&d, &x, &ix, NULL, &y, what);
        long bad = 0;
        int64_t c[3];
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            int64_t src[3] = {c[0], c[1], c[2]};
            src[dim] = (int64_t)get(&ix, c);
            bad += get(&y, c) != get(&x, src);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong elements", what, bad);
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 0, "%s: the error flag was set", what);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&ix), ht_free(&y);
    }
    /* index_select along each dim of [40, 130] (dim 0: rows layout; 1: generic) and the middle dim
     * of [4, 50, 24]; 77 indices with repeats. */
    for (int c3 = 0; c3 < 3; c3++) {
        int rank = c3 == 2 ? 3 : 2, dim = c3 == 2 ? 1 : c3;
        int64_t xsh[3] = {40, 130, 0}, n = 77;
        if (c3 == 2) xsh[0] = 4, xsh[1] = 50, xsh[2] = 24;
        int64_t ysh[3] = {xsh[0], xsh[1], xsh[2]};
        ysh[dim] = n;
        ht x = ht_new(dt, rank, xsh, c3 == 1 ? COLMAJOR : CONTIG), ix = ht_new(it, 1, &n, FLIP),
           y = ht_new(dt, rank, ysh, c3 == 0 ? PAD_BIG : CONTIG);
        fill(&x, &rng);
        fill_index(&ix, xsh[dim], &rng);
        brc_index_desc d = {.kind = BRC_INDEX_INDEX_SELECT, .x = x.t, .index = ix.t, .y = y.t, .dim = dim};
        char what[96];
        snprintf(what, sizeof what, "index_select %s %s case %d", brc_dtype_name(dt), brc_dtype_name(it), c3);
        brc_plan *p = plan_run(&d, &x, &ix, NULL, &y, what);
        long bad = 0;
        int64_t c[3], one[1];
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            int64_t src[3] = {c[0], c[1], c[2]};
            one[0] = c[dim];
            src[dim] = (int64_t)get(&ix, one);
            bad += get(&y, c) != get(&x, src);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong elements (%s)", what, bad, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 0, "%s: the error flag was set", what);
        /* Out of range (-1 and the dim's size): those slices are zeros and the flag is set. */
        one[0] = 3;
        set(&ix, one, -1);
        one[0] = 50;
        set(&ix, one, (double)xsh[dim]);
        up(&ix);
        memset(y.b.h, 0xff, y.b.n * brc_dtype_size(dt));
        up(&y);
        clear_err();
        cr_assert_eq(brc_index_run(p, dptr(&x), dptr(&ix), NULL, dptr(&y), g_err, NULL), BRC_STATUS_OK, "%s",
                     brc_last_error());
        down(&y);
        cr_expect_eq(read_err(), 1, "%s: out-of-range indices did not set the flag", what);
        bad = 0;
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            if (c[dim] == 3 || c[dim] == 50) bad += get(&y, c) != 0;
        }
        cr_expect_eq(bad, 0, "%s: %ld out-of-range elements not zero", what, bad);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&ix), ht_free(&y);
    }
}

/* Gathers along the last dim whose x row fits in shared memory: the stage layout (a CTA stages x's
 * row, then gathers from it). x a view one element off 16-byte alignment, rows whose starts are
 * not aligned (odd lengths), 3-D with a column-major index, out-of-range indices of both signs,
 * and a row over 32 KiB, which stays generic. */
Test(index, gather_last_dim_stage, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        int kind, rank; /* kind 0 gather, 1 index_select (dim = rank - 1) */
        brc_dtype dt, it;
        int64_t xs[3], is[3]; /* index_select: is[0] indices */
        int xstyle, istyle, ystyle, bad; /* xstyle 9: a contiguous view one element into its buffer */
        const char *layout;
    } cs[] = {
        {1, 2, BRC_BF16, BRC_I64, {33, 1000, 0}, {501, 0, 0}, 9, CONTIG, PAD_ODD, 1, ",stage"},
        {0, 2, BRC_F32, BRC_I32, {7, 3001, 0}, {7, 2000, 0}, CONTIG, CONTIG, FLIP, 1, ",stage"},
        {0, 3, BRC_U8, BRC_I64, {3, 4, 8190}, {3, 4, 1100}, CONTIG, COLMAJOR, CONTIG, 0, ",stage"},
        {1, 2, BRC_I64, BRC_I32, {5, 257, 0}, {40, 0, 0}, PAD_ODD, FLIP, CONTIG, 1, ",stage"},
        {0, 2, BRC_F64, BRC_I64, {2, 5000, 0}, {2, 4000, 0}, CONTIG, CONTIG, CONTIG, 1, ",generic"},
    };
    uint64_t rng = 999;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int r = cs[ci].rank, dim = r - 1, sel = cs[ci].kind == 1;
        int64_t ys[3];
        for (int q = 0; q < r; q++) ys[q] = sel ? cs[ci].xs[q] : cs[ci].is[q];
        if (sel) ys[dim] = cs[ci].is[0];
        ht x, ix = ht_new(cs[ci].it, sel ? 1 : r, cs[ci].is, cs[ci].istyle), y = ht_new(cs[ci].dt, r, ys, cs[ci].ystyle);
        if (cs[ci].xstyle == 9) {
            int64_t tot = 1;
            for (int q = 0; q < r; q++) tot *= cs[ci].xs[q];
            tot += 1;
            x = ht_new(cs[ci].dt, 1, &tot, CONTIG);
            brc_tensor_desc_contiguous(&x.t, cs[ci].dt, r, cs[ci].xs);
            x.base = 1;
        } else {
            x = ht_new(cs[ci].dt, r, cs[ci].xs, cs[ci].xstyle);
        }
        fill(&x, &rng);
        int64_t n = cs[ci].xs[dim], c[3];
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            int64_t v = (int64_t)(tu_rand(&rng) % (uint64_t)n);
            if (cs[ci].bad && i % 61 == 7) v = i % 2 ? n : -1;
            set(&ix, c, (double)v);
        }
        up(&ix);
        brc_index_desc d = {.kind = sel ? BRC_INDEX_INDEX_SELECT : BRC_INDEX_GATHER, .x = x.t, .index = ix.t, .y = y.t,
                            .dim = dim};
        char what[96];
        snprintf(what, sizeof what, "%s %s %s along the last dim (case %zu)", sel ? "index_select" : "gather",
                 brc_dtype_name(cs[ci].dt), brc_dtype_name(cs[ci].it), ci);
        brc_plan *p = plan_run(&d, &x, &ix, NULL, &y, what);
        cr_expect(strstr(brc_plan_sku(p), cs[ci].layout), "%s: %s", what, brc_plan_sku(p));
        long bad = 0, oob = 0;
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            int64_t src[3] = {c[0], c[1], c[2]}, one[1] = {c[dim]};
            int64_t k = (int64_t)(sel ? get(&ix, one) : get(&ix, c));
            if (k < 0 || k >= n) {
                oob++;
                bad += get(&y, c) != 0;
                continue;
            }
            src[dim] = k;
            bad += get(&y, c) != get(&x, src);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong elements (%s)", what, bad, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), oob > 0, "%s: the error flag (%ld out of range)", what, oob);
        cr_expect_eq(oob > 0, cs[ci].bad, "%s: the case has out-of-range indices", what);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&ix), ht_free(&y);
    }
}

/* Gathers along dim 0 of a matrix with every operand unit-stride along the columns: the band layout
 * (column bands walked one after the other, 16 x 128 tiles). Odd row and column counts (partial
 * tiles, a last column pair cut), a last band narrower than the others (f64 [3000, 850]: 7 column
 * tiles in bands of 2, the last of 1), i32 and i64 indices with vector and scalar (odd row stride) loads, flipped and
 * padded y, out-of-range indices of both signs (zeros and the flag); the same bits on 1 and 7 CTAs. */
Test(index, gather_dim0_band, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        brc_dtype dt, it;
        int64_t xs[2], is[2];
        int xstyle, istyle, ystyle, bad;
    } cs[] = {
        {BRC_BF16, BRC_I64, {300, 1000}, {77, 1000}, CONTIG, CONTIG, CONTIG, 1},
        {BRC_F32, BRC_I32, {50, 333}, {40, 333}, PAD_ODD, PAD_ODD, FLIP, 1},
        {BRC_F64, BRC_I64, {3000, 850}, {37, 850}, CONTIG, CONTIG, PAD_BIG, 0},
        {BRC_F32, BRC_I32, {64, 512}, {100, 512}, CONTIG, CONTIG, CONTIG, 1},
        {BRC_U8, BRC_I64, {1000, 4099}, {129, 4099}, CONTIG, CONTIG, CONTIG, 0},
    };
    uint64_t rng = 4242;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        ht x = ht_new(cs[ci].dt, 2, cs[ci].xs, cs[ci].xstyle), ix = ht_new(cs[ci].it, 2, cs[ci].is, cs[ci].istyle),
           y = ht_new(cs[ci].dt, 2, cs[ci].is, cs[ci].ystyle);
        fill(&x, &rng);
        int64_t n = cs[ci].xs[0], c[2];
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            int64_t v = (int64_t)(tu_rand(&rng) % (uint64_t)n);
            if (cs[ci].bad && i % 53 == 11) v = i % 2 ? n : -1;
            set(&ix, c, (double)v);
        }
        up(&ix);
        brc_index_desc d = {.kind = BRC_INDEX_GATHER, .x = x.t, .index = ix.t, .y = y.t, .dim = 0};
        char what[96];
        snprintf(what, sizeof what, "gather dim 0 %s %s (case %zu)", brc_dtype_name(cs[ci].dt),
                 brc_dtype_name(cs[ci].it), ci);
        brc_plan *p = plan_run(&d, &x, &ix, NULL, &y, what);
        cr_expect(strstr(brc_plan_sku(p), ",band"), "%s: %s", what, brc_plan_sku(p));
        long bad = 0, oob = 0;
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            int64_t k = (int64_t)get(&ix, c);
            if (k < 0 || k >= n) {
                oob++;
                bad += get(&y, c) != 0;
                continue;
            }
            int64_t src[2] = {k, c[1]};
            bad += get(&y, c) != get(&x, src);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong elements (%s)", what, bad, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), oob > 0, "%s: the error flag (%ld out of range)", what, oob);
        cr_expect_eq(oob > 0, cs[ci].bad, "%s: the case has out-of-range indices", what);
        /* 1 and 7 CTAs walk the same tiles: the same bits. */
        size_t bytes = y.b.n * brc_dtype_size(cs[ci].dt);
        unsigned char *ref = malloc(bytes);
        cr_assert(ref);
        memcpy(ref, y.b.h, bytes);
        static const unsigned grids[2] = {1, 7};
        for (int g = 0; g < 2; g++) {
            brc__index_grid_override(grids[g]);
            memset(y.b.h, 0xff, bytes);
            up(&y);
            cr_assert_eq(brc_index_run(p, dptr(&x), dptr(&ix), NULL, dptr(&y), NULL, NULL), BRC_STATUS_OK, "%s",
                         brc_last_error());
            down(&y);
            brc__index_grid_override(0);
            cr_expect(memcmp(ref, y.b.h, bytes) == 0, "%s: %u CTAs differ", what, grids[g]);
        }
        free(ref);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&ix), ht_free(&y);
    }
}

/* ---- embedding ------------------------------------------------------------------------------------------ */

Test(index, embedding_layouts_grids_and_capture, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        brc_dtype dt, it;
        int64_t V, D;
        int wstyle;
    } cs[] = {
        {BRC_F16, BRC_I64, 1000, 96, CONTIG},   {BRC_BF16, BRC_I32, 300, 4096, CONTIG}, {BRC_F32, BRC_I64, 500, 33, CONTIG},
        {BRC_F64, BRC_I32, 700, 24, PAD_ODD},  {BRC_I64, BRC_I64, 64, 8, FLIP},        {BRC_U8, BRC_I32, 1000, 100, CONTIG},
    };
    uint64_t rng = 7;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t ws[2] = {cs[ci].V, cs[ci].D}, is[2] = {7, 13}, ys[3] = {7, 13, cs[ci].D};
        ht w = ht_new(cs[ci].dt, 2, ws, cs[ci].wstyle), ix = ht_new(cs[ci].it, 2, is, ci % 2 ? COLMAJOR : CONTIG),
           y = ht_new(cs[ci].dt, 3, ys, ci == 2 ? PAD_ODD : CONTIG);
        fill(&w, &rng);
        fill_index(&ix, cs[ci].V, &rng);
        brc_index_desc d = {.kind = BRC_INDEX_EMBEDDING, .x = w.t, .index = ix.t, .y = y.t};
        char what[96];
        snprintf(what, sizeof what, "embedding %s %s [%lld, %lld]", brc_dtype_name(cs[ci].dt),
                 brc_dtype_name(cs[ci].it), (long long)cs[ci].V, (long long)cs[ci].D);
        brc_plan *p = plan_run(&d, &w, &ix, NULL, &y, what);
        long bad = 0;
        int64_t c[3];
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            int64_t wc[2] = {(int64_t)get(&ix, c), c[2]};
            bad += get(&y, c) != get(&w, wc);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong elements (%s)", what, bad, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        /* One CTA, then a captured graph: the same bits. */
        unsigned char *ref = malloc(y.b.n * brc_dtype_size(cs[ci].dt));
        cr_assert(ref);
        memcpy(ref, y.b.h, y.b.n * brc_dtype_size(cs[ci].dt));
        brc__index_grid_override(1);
        memset(y.b.h, 0xff, y.b.n * brc_dtype_size(cs[ci].dt));
        up(&y);
        cr_assert_eq(brc_index_run(p, dptr(&w), dptr(&ix), NULL, dptr(&y), NULL, NULL), BRC_STATUS_OK);
        down(&y);
        brc__index_grid_override(0);
        cr_expect(memcmp(ref, y.b.h, y.b.n * brc_dtype_size(cs[ci].dt)) == 0, "%s: one CTA differs", what);
        memset(y.b.h, 0xff, y.b.n * brc_dtype_size(cs[ci].dt));
        up(&y);
        tu_capture g = tu_capture_begin(0);
        cr_assert_eq(brc_index_run(p, dptr(&w), dptr(&ix), NULL, dptr(&y), g_err, (brc_stream)g.s), BRC_STATUS_OK);
        tu_capture_end(&g);
        tu_capture_replay(&g);
        down(&y);
        cr_expect(memcmp(ref, y.b.h, y.b.n * brc_dtype_size(cs[ci].dt)) == 0, "%s: graph replay differs", what);
        tu_capture_free(&g);
        free(ref);
        brc_plan_destroy(p);
        ht_free(&w), ht_free(&ix), ht_free(&y);
    }
}

/* ---- scatter and index_add -------------------------------------------------------------------------------- */

typedef struct sjob {
    brc_dtype dt;
    int reduce;
} sjob;

ParameterizedTestParameters(index, scatter) {
    static sjob jobs[] = {
        {BRC_F32, 0}, {BRC_BF16, 0}, {BRC_I64, 0}, {BRC_F32, 1}, {BRC_BF16, 1}, {BRC_F64, 1}, {BRC_I32, 1},
        {BRC_I64, 1}, {BRC_F16, 1}, {BRC_F32, 2}, {BRC_F64, 2}, {BRC_I32, 2}, {BRC_F32, 3}, {BRC_BF16, 3},
        {BRC_I64, 3}, {BRC_F64, 4}, {BRC_F16, 4}, {BRC_I32, 4},
    };
    return cr_make_param_array(sjob, jobs, sizeof jobs / sizeof jobs[0]);
}

static double eps_of(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 2.3e-16;
    case BRC_F32: return 1.2e-7;
    case BRC_F16: return 9.8e-4;
    case BRC_BF16: return 7.9e-3;
    default: return 0;
    }
}

ParameterizedTest(sjob *j, index, scatter, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = j->dt;
    uint64_t rng = 500 + (uint64_t)dt * 7 + (uint64_t)j->reduce;
    for (int dim = 0; dim < 2; dim++) {
        /* y [20, 30] (padded); index [15, 24] or [16, 30] smaller than src [16, 31]. */
        int64_t ysh[2] = {20, 30}, ish[2] = {dim ? 16 : 15, dim ? 24 : 30}, ssh[2] = {16, 31};
        if (dim) ysh[0] = 16, ysh[1] = 30;
        ht y = ht_new(dt, 2, ysh, PAD_ODD), ix = ht_new(BRC_I64, 2, ish, dim ? CONTIG : COLMAJOR),
           src = ht_new(dt, 2, ssh, dim ? FLIP : CONTIG);
        int64_t c[2];
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            double v = rval(dt, &rng);
            if (j->reduce == 2 && brc_dtype_is_float(dt)) v = tu_uniform(&rng, 0.5, 1.5);
            if (j->reduce == 2 && !brc_dtype_is_float(dt)) v = (double)(1 + tu_rand(&rng) % 2);
            set(&y, c, v);
        }
        for (int64_t i = 0; i < numel(&src); i++) {
            coords(&src.t, i, c);
            double v = rval(dt, &rng);
            if (j->reduce == 2 && brc_dtype_is_float(dt)) v = tu_uniform(&rng, 0.5, 1.5);
            if (j->reduce == 2 && !brc_dtype_is_float(dt)) v = (double)((int64_t)(tu_rand(&rng) % 3) - 1 ? 2 : -1);
            set(&src, c, v);
        }
        /* reduce none: a permutation along dim for each line (no collisions); else random. */
        int64_t size = ysh[dim];
        for (int64_t l = 0; l < ish[1 - dim]; l++) {
            int64_t perm[64];
            for (int64_t q = 0; q < size; q++) perm[q] = q;
            for (int64_t q = size - 1; q > 0; q--) {
                int64_t r = (int64_t)(tu_rand(&rng) % (uint64_t)(q + 1)), t = perm[q];
                perm[q] = perm[r], perm[r] = t;
            }
            for (int64_t q = 0; q < ish[dim]; q++) {
                int64_t cc[2];
                cc[dim] = q, cc[1 - dim] = l;
                set(&ix, cc, j->reduce ? (double)(tu_rand(&rng) % (uint64_t)size) : (double)perm[q]);
            }
        }
        up(&src), up(&ix);
        /* Reference in f64 from y's stored values. */
        int64_t ny = numel(&y);
        double *ref = malloc((size_t)ny * sizeof(double)), *mag = malloc((size_t)ny * sizeof(double));
        int *cnt = calloc((size_t)ny, sizeof(int));
        cr_assert(ref && mag && cnt);
        for (int64_t i = 0; i < ny; i++) coords(&y.t, i, c), ref[i] = get(&y, c), mag[i] = fabs(ref[i]);
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            int64_t tc[2] = {c[0], c[1]};
            tc[dim] = (int64_t)get(&ix, c);
            int64_t t = tc[0] * ysh[1] + tc[1];
            double v = get(&src, c);
            switch (j->reduce) {
            case 0: ref[t] = v; break;
            case 1: ref[t] += v; break;
            case 2: ref[t] *= v; break;
            case 3: ref[t] = fmax(ref[t], v); break;
            default: ref[t] = fmin(ref[t], v);
            }
            mag[t] = j->reduce == 2 ? fabs(ref[t]) : mag[t] + fabs(v);
            cnt[t]++;
        }
        brc_index_desc d = {.kind = BRC_INDEX_SCATTER, .y = y.t, .index = ix.t, .src = src.t, .dim = dim - 2 * dim,
                            .reduce = (brc_index_reduce)j->reduce};
        char what[96];
        snprintf(what, sizeof what, "scatter %s reduce %d dim %d", brc_dtype_name(dt), j->reduce, dim);
        brc_plan *p = plan_run(&d, NULL, &ix, &src, &y, what);
        long bad = 0;
        char first[200] = "";
        for (int64_t i = 0; i < ny; i++) {
            coords(&y.t, i, c);
            double got = get(&y, c), tol = (j->reduce == 1 || j->reduce == 2) ? (cnt[i] + 1) * eps_of(dt) * mag[i] : 0;
            if (!(fabs(got - ref[i]) <= tol) && bad++ == 0)
                snprintf(first, sizeof first, "[%lld, %lld]: got %.9g, want %.9g (tol %.3g, %d updates)",
                         (long long)c[0], (long long)c[1], got, ref[i], tol, cnt[i]);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 0, "%s: the error flag was set", what);
        bool atomic = j->reduce == 0 || ((j->reduce == 1 || j->reduce == 2) && brc_dtype_is_float(dt));
        cr_expect_eq(brc_index_plan_deterministic(p), !atomic, "%s: deterministic flag", what);
        free(ref), free(mag), free(cnt);
        brc_plan_destroy(p);
        ht_free(&y), ht_free(&ix), ht_free(&src);
    }
}

ParameterizedTestParameters(index, index_add) {
    static brc_dtype dts[] = {BRC_F32, BRC_F16, BRC_F64, BRC_I32, BRC_BF16};
    return cr_make_param_array(brc_dtype, dts, 5);
}

ParameterizedTest(brc_dtype *dtp, index, index_add, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = *dtp;
    uint64_t rng = 900 + (uint64_t)dt;
    double alpha = brc_dtype_is_float(dt) ? 0.5 : 2;
    for (int dim = 0; dim < 2; dim++) {
        int64_t ysh[2] = {50, 64}, n = 80, ssh[2] = {80, 64};
        if (dim) ysh[0] = 64, ysh[1] = 50, ssh[0] = 64, ssh[1] = 80;
        ht y = ht_new(dt, 2, ysh, dim ? PAD_ODD : CONTIG), ix = ht_new(BRC_I32, 1, &n, CONTIG),
           src = ht_new(dt, 2, ssh, dim ? CONTIG : PAD_BIG);
        fill(&y, &rng), fill(&src, &rng), fill_index(&ix, 50, &rng);
        int64_t c[2], one[1];
        int64_t ny = numel(&y);
        double *ref = malloc((size_t)ny * sizeof(double)), *mag = malloc((size_t)ny * sizeof(double));
        int *cnt = calloc((size_t)ny, sizeof(int));
        cr_assert(ref && mag && cnt);
        for (int64_t i = 0; i < ny; i++) coords(&y.t, i, c), ref[i] = get(&y, c), mag[i] = fabs(ref[i]);
        for (int64_t i = 0; i < numel(&src); i++) {
            coords(&src.t, i, c);
            one[0] = c[dim];
            int64_t tc[2] = {c[0], c[1]};
            tc[dim] = (int64_t)get(&ix, one);
            int64_t t = tc[0] * ysh[1] + tc[1];
            double v = get(&src, c) * alpha;
            ref[t] += v, mag[t] += fabs(v), cnt[t]++;
        }
        brc_index_desc d = {.kind = BRC_INDEX_INDEX_ADD, .y = y.t, .index = ix.t, .src = src.t, .dim = dim, .value = alpha};
        char what[96];
        snprintf(what, sizeof what, "index_add %s dim %d", brc_dtype_name(dt), dim);
        brc_plan *p = plan_run(&d, NULL, &ix, &src, &y, what);
        long bad = 0;
        char first[200] = "";
        for (int64_t i = 0; i < ny; i++) {
            coords(&y.t, i, c);
            /* halves: each atomic add rounds (plus the f32 product). */
            double got = get(&y, c), tol = (cnt[i] + 1) * eps_of(dt) * mag[i];
            if (!(fabs(got - ref[i]) <= tol) && bad++ == 0)
                snprintf(first, sizeof first, "[%lld, %lld]: got %.9g, want %.9g (tol %.3g)", (long long)c[0],
                         (long long)c[1], got, ref[i], tol);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        free(ref), free(mag), free(cnt);
        brc_plan_destroy(p);
        ht_free(&y), ht_free(&ix), ht_free(&src);
    }
}

/* ---- embedding backward ------------------------------------------------------------------------------- */

typedef struct ejob {
    brc_dtype dt;
    int atomic;
} ejob;

ParameterizedTestParameters(index, embedding_backward) {
    static ejob jobs[] = {{BRC_F32, 0}, {BRC_BF16, 0}, {BRC_F16, 0}, {BRC_F64, 0}, {BRC_F32, 1}, {BRC_BF16, 1}};
    return cr_make_param_array(ejob, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(ejob *j, index, embedding_backward, .init = setup, .fini = teardown, .timeout = 600) {
    brc_dtype dt = j->dt;
    uint64_t rng = 1300 + (uint64_t)dt * 3 + (uint64_t)j->atomic;
    static const struct {
        int64_t V, D, rows, cols;
        int skew, dystyle, pad;
    } cs[] = {
        {1000, 64, 50, 100, 0, CONTIG, 3},   /* 5000 positions, spread */
        {1000, 200, 50, 100, 1, PAD_ODD, 7}, /* 90% in rows 0..63: CTA 0's list overflows (rounds) */
        {130, 1024, 1, 2000, 0, CONTIG, -1}, /* wide rows: many panels */
        {70, 5, 3, 7, 0, CONTIG, 69},
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t V = cs[ci].V, D = cs[ci].D, is[2] = {cs[ci].rows, cs[ci].cols}, ys[3] = {is[0], is[1], D},
                ws[2] = {V, D};
        ht ix = ht_new(BRC_I64, 2, is, CONTIG), dy = ht_new(dt, 3, ys, cs[ci].dystyle), dw = ht_new(dt, 2, ws, CONTIG);
        fill(&dy, &rng);
        int64_t c[3];
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            uint64_t r = tu_rand(&rng);
            int64_t v = cs[ci].skew && r % 10 != 0 ? (int64_t)(r / 10 % 64) : (int64_t)(r / 10 % (uint64_t)V);
            set(&ix, c, (double)v);
        }
        up(&ix);
        brc_index_desc d = {.kind = BRC_INDEX_EMBEDDING_BACKWARD, .y = dw.t, .index = ix.t, .src = dy.t,
                            .use_padding_idx = cs[ci].pad >= 0, .padding_idx = cs[ci].pad, .atomic = j->atomic};
        char what[120];
        snprintf(what, sizeof what, "embedding_backward %s atomic %d V %lld D %lld", brc_dtype_name(dt), j->atomic,
                 (long long)V, (long long)D);
        brc_plan *p = plan_run(&d, NULL, &ix, &dy, &dw, what);
        cr_expect_eq(brc_index_plan_deterministic(p), !j->atomic);
        /* Host model: per row, the positions in ascending order, summed in the compute type
         * (f32 for halves and f32, f64 for f64), rounded once (the deterministic path's exact
         * result); and the f64 sum with its magnitude (the atomic path's tolerance). */
        int64_t N = numel(&ix);
        double *acc = calloc((size_t)(V * D), sizeof(double)), *ex = calloc((size_t)(V * D), sizeof(double)),
               *mag = calloc((size_t)(V * D), sizeof(double));
        float *accf = calloc((size_t)(V * D), sizeof(float));
        int *cnt = calloc((size_t)V, sizeof(int));
        cr_assert(acc && ex && mag && accf && cnt);
        for (int64_t n = 0; n < N; n++) {
            coords(&ix.t, n, c);
            int64_t v = (int64_t)get(&ix, c);
            cnt[v]++;
            for (int64_t k = 0; k < D; k++) {
                int64_t cc[3] = {c[0], c[1], k};
                double g = get(&dy, cc);
                acc[v * D + k] += g, mag[v * D + k] += fabs(g);
                if (dt == BRC_F64) ex[v * D + k] += g;
                else accf[v * D + k] += (float)g;
            }
        }
        long bad = 0;
        char first[200] = "";
        for (int64_t v = 0; v < V; v++)
            for (int64_t k = 0; k < D; k++) {
                int64_t wc[2] = {v, k};
                double got = get(&dw, wc), want;
                bool pad = v == cs[ci].pad;
                unsigned char b8[8];
                tu_encode(dt, dt == BRC_F64 ? ex[v * D + k] : (double)accf[v * D + k], b8);
                want = pad ? 0 : tu_decode(dt, b8);
                double tol = 0;
                if (j->atomic) {
                    want = pad ? 0 : acc[v * D + k];
                    tol = (cnt[v] + 2) * eps_of(dt) * mag[v * D + k];
                }
                if (!(fabs(got - want) <= tol) && bad++ == 0)
                    snprintf(first, sizeof first, "[%lld, %lld]: got %.9g, want %.9g (tol %.3g, %d positions)",
                             (long long)v, (long long)k, got, want, tol, cnt[v]);
            }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&dw), 0, "%s: writes outside dweight", what);
        cr_expect_eq(read_err(), 0, "%s: the error flag was set", what);
        /* Deterministic: a second run gives the same bits. */
        if (!j->atomic) {
            size_t bytes = dw.b.n * brc_dtype_size(dt);
            unsigned char *first_bits = malloc(bytes);
            cr_assert(first_bits);
            memcpy(first_bits, dw.b.h, bytes);
            memset(dw.b.h, 0xff, bytes);
            up(&dw);
            cr_assert_eq(brc_index_run(p, NULL, dptr(&ix), dptr(&dy), dptr(&dw), NULL, NULL), BRC_STATUS_OK);
            down(&dw);
            cr_expect(memcmp(first_bits, dw.b.h, bytes) == 0, "%s: a second run differs", what);
            free(first_bits);
        }
        /* An out-of-range index is dropped and sets the flag. */
        int64_t z[2] = {0, 0};
        set(&ix, z, (double)V);
        up(&ix);
        clear_err();
        cr_assert_eq(brc_index_run(p, NULL, dptr(&ix), dptr(&dy), dptr(&dw), g_err, NULL), BRC_STATUS_OK);
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        cr_expect_eq(read_err(), 1, "%s: out-of-range index did not set the flag", what);
        free(acc), free(ex), free(mag), free(accf), free(cnt);
        brc_plan_destroy(p);
        ht_free(&ix), ht_free(&dy), ht_free(&dw);
    }
}

/* ---- masked_fill and one_hot -------------------------------------------------------------------------------- */

ParameterizedTestParameters(index, masked_fill) {
    static brc_dtype dts[] = {BRC_F32, BRC_BF16, BRC_I64, BRC_BOOL, BRC_F64};
    return cr_make_param_array(brc_dtype, dts, 5);
}

ParameterizedTest(brc_dtype *dtp, index, masked_fill, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = *dtp;
    uint64_t rng = 77 + (uint64_t)dt;
    double value = dt == BRC_BOOL ? 1 : dt == BRC_I64 ? 7 : dt == BRC_F32 ? -INFINITY : 2.5;
    for (int mc = 0; mc < 4; mc++) {
        /* mask: full; broadcast along dim 1 (rows layout, constant along a row); along dim 0; in place. */
        int64_t sh[2] = {33, 65}, msh[2] = {33, mc == 1 ? 1 : 65};
        if (mc == 2) msh[0] = 1;
        ht x = ht_new(dt, 2, sh, mc == 0 ? PAD_ODD : CONTIG), y = ht_new(dt, 2, sh, mc == 0 ? FLIP : CONTIG);
        ht m = ht_new(mc % 2 ? BRC_U8 : BRC_BOOL, 2, msh, CONTIG);
        fill(&x, &rng);
        int64_t c[2];
        for (int64_t i = 0; i < numel(&m); i++) coords(&m.t, i, c), set(&m, c, (double)(tu_rand(&rng) % 2));
        up(&m);
        brc_tensor_desc mt = m.t;
        mt.shape[0] = sh[0], mt.shape[1] = sh[1];
        if (mc == 1) mt.strides[1] = 0;
        if (mc == 2) mt.strides[0] = 0;
        bool inplace = mc == 3;
        brc_index_desc d = {.kind = BRC_INDEX_MASKED_FILL, .x = x.t, .index = mt, .y = inplace ? x.t : y.t, .value = value};
        char what[96];
        snprintf(what, sizeof what, "masked_fill %s mask case %d", brc_dtype_name(dt), mc);
        ht *out = inplace ? &x : &y;
        double *xv = malloc((size_t)numel(&x) * sizeof(double));
        cr_assert(xv);
        for (int64_t i = 0; i < numel(&x); i++) coords(&x.t, i, c), xv[i] = get(&x, c);
        brc_plan *p = plan_run(&d, &x, &m, NULL, out, what);
        long bad = 0;
        for (int64_t i = 0; i < numel(out); i++) {
            coords(&out->t, i, c);
            int64_t mcc[2] = {msh[0] == 1 ? 0 : c[0], msh[1] == 1 ? 0 : c[1]};
            double want = get(&m, mcc) != 0 ? value : xv[i], got = get(out, c);
            bad += !(got == want);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong (%s)", what, bad, brc_plan_sku(p));
        if (!inplace) cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        free(xv);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&y), ht_free(&m);
    }
}

Test(index, one_hot, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        brc_dtype yt, it;
        int64_t C;
        int rank;
    } cs[] = {{BRC_I64, BRC_I64, 10, 1}, {BRC_F32, BRC_I32, 7, 2}, {BRC_BF16, BRC_I64, 1, 1}, {BRC_BOOL, BRC_I32, 300, 0},
              {BRC_U8, BRC_I64, 16, 2}};
    uint64_t rng = 31;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t is[2] = {cs[ci].rank == 2 ? 4 : 100, 25}, ys[3];
        int r = cs[ci].rank;
        for (int dd = 0; dd < r; dd++) ys[dd] = is[dd];
        ys[r] = cs[ci].C;
        ht ix = ht_new(cs[ci].it, r, is, CONTIG), y = ht_new(cs[ci].yt, r + 1, ys, ci == 1 ? PAD_ODD : CONTIG);
        fill_index(&ix, cs[ci].C, &rng);
        int64_t c[3], z[2] = {0, 0};
        bool oob = numel(&ix) > 1;
        if (oob) set(&ix, z, (double)cs[ci].C), up(&ix); /* the first one out of range: a zero row */
        brc_index_desc d = {.kind = BRC_INDEX_ONE_HOT, .index = ix.t, .y = y.t, .num_classes = cs[ci].C};
        char what[96];
        snprintf(what, sizeof what, "one_hot %s %s C %lld rank %d", brc_dtype_name(cs[ci].yt), brc_dtype_name(cs[ci].it),
                 (long long)cs[ci].C, r);
        brc_plan *p = plan_run(&d, NULL, &ix, NULL, &y, what);
        long bad = 0;
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            bad += get(&y, c) != (get(&ix, c) == (double)c[r] ? 1.0 : 0.0);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong (%s)", what, bad, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), oob ? 1 : 0, "%s: error flag", what);
        brc_plan_destroy(p);
        ht_free(&ix), ht_free(&y);
    }
}

/* ---- run-time errors ------------------------------------------------------------------------------------- */

Test(index, run_errors, .init = setup, .fini = teardown, .timeout = 120) {
    int64_t ys[2] = {10, 8}, n = 4, ss[2] = {4, 8};
    ht y = ht_new(BRC_F32, 2, ys, CONTIG), ix = ht_new(BRC_I64, 1, &n, CONTIG), src = ht_new(BRC_F32, 2, ss, CONTIG);
    uint64_t rng = 1;
    fill(&y, &rng), fill(&src, &rng), fill_index(&ix, 10, &rng);
    brc_index_desc d = {.kind = BRC_INDEX_INDEX_ADD, .y = y.t, .index = ix.t, .src = src.t, .value = 1};
    brc_plan *p = NULL;
    cr_assert_eq(brc_index_plan(g_ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_index_run(p, NULL, NULL, dptr(&src), dptr(&y), NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "index is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_index_run(p, NULL, dptr(&ix), dptr(&y), dptr(&y), NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "y and src are one buffer") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_index_run(p, NULL, dptr(&ix), dptr(&src), dptr(&y), (int32_t *)((char *)g_err + 2), NULL),
                 BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_index_run(p, NULL, dptr(&ix), dptr(&src), dptr(&y), g_err, NULL), BRC_STATUS_OK, "%s",
                 brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    brc_plan_destroy(p);
    ht_free(&y), ht_free(&ix), ht_free(&src);
}

/* ==== the kinds added in 0.3.0 ============================================================================ */

/* A device buffer of n bytes (freed by the caller with cuMemFree), poisoned with 0xff. */
static CUdeviceptr dalloc(size_t n) {
    CUdeviceptr p = 0;
    cr_assert_eq(brc__cu()->cuMemAlloc(&p, n > 0 ? n : 1), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuMemsetD8(p, 0xff, n > 0 ? n : 1), CUDA_SUCCESS);
    return p;
}

/* Plans d, runs it with args (err, workspace filled in here), synchronizes. */
static brc_plan *plan_run_args(const brc_index_desc *d, brc_index_args *args, const char *what) {
    brc_plan *p = NULL;
    cr_assert_eq(brc_index_plan(g_ctx, d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    size_t wsz = brc_plan_workspace_size(p);
    CUdeviceptr ws = wsz ? dalloc(wsz) : 0;
    clear_err();
    args->err = g_err;
    cr_assert_eq(brc_index_run_args(p, args, (void *)(uintptr_t)ws, wsz, NULL), BRC_STATUS_OK, "%s: %s", what,
                 brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed (%s)", what, brc_plan_sku(p));
    if (ws) brc__cu()->cuMemFree(ws);
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    return p;
}

static int64_t read_count(CUdeviceptr c) {
    int64_t v = -7;
    cr_assert_eq(brc__cu()->cuMemcpyDtoH(&v, c, 8), CUDA_SUCCESS);
    return v;
}

/* ---- scatter_reduce mean, and include_self = False ------------------------------------------------------ */

typedef struct mjob {
    brc_dtype dt, it;
    int reduce, exclude;
} mjob;

ParameterizedTestParameters(index, scatter_mean_and_exclude_self) {
    static mjob jobs[] = {
        {BRC_F32, BRC_I64, 5, 0}, {BRC_F32, BRC_I32, 5, 1}, {BRC_BF16, BRC_I64, 5, 1}, {BRC_F64, BRC_I32, 5, 0},
        {BRC_F16, BRC_I64, 5, 0}, {BRC_F32, BRC_I64, 1, 1}, {BRC_I32, BRC_I64, 3, 1}, {BRC_BF16, BRC_I32, 4, 1},
        {BRC_F64, BRC_I64, 2, 1}, {BRC_I64, BRC_I32, 1, 1},
    };
    return cr_make_param_array(mjob, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(mjob *j, index, scatter_mean_and_exclude_self, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = j->dt;
    uint64_t rng = 900 + (uint64_t)dt * 7 + (uint64_t)j->reduce + 100 * (uint64_t)j->exclude;
    for (int dim = 0; dim < 2; dim++) {
        /* y [20, 30] (flipped rows for dim 0: negative strides for the counts; padded for dim 1). */
        int64_t ysh[2] = {20, 30}, ish[2] = {dim ? 16 : 15, dim ? 24 : 30}, ssh[2] = {16, 31};
        if (dim) ysh[0] = 16;
        ht y = ht_new(dt, 2, ysh, dim ? PAD_ODD : FLIP), ix = ht_new(j->it, 2, ish, dim ? CONTIG : COLMAJOR),
           src = ht_new(dt, 2, ssh, CONTIG);
        int64_t c[2];
        for (int64_t i = 0; i < numel(&y); i++) {
            coords(&y.t, i, c);
            set(&y, c, j->reduce == 2 ? tu_uniform(&rng, 0.5, 1.5) : rval(dt, &rng));
        }
        for (int64_t i = 0; i < numel(&src); i++) {
            coords(&src.t, i, c);
            set(&src, c, j->reduce == 2 ? tu_uniform(&rng, 0.5, 1.5) : rval(dt, &rng));
        }
        /* Collisions: indices in [0, size); two out of range (dropped, flagged). */
        int64_t size = ysh[dim];
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            set(&ix, c, (double)(tu_rand(&rng) % (uint64_t)size));
        }
        int64_t o1[2] = {3, 5}, o2[2] = {7, 1};
        set(&ix, o1, -1.0);
        set(&ix, o2, (double)size);
        up(&src), up(&ix), up(&y);
        int64_t ny = numel(&y);
        double *y0 = malloc((size_t)ny * sizeof(double)), *acc = malloc((size_t)ny * sizeof(double)),
               *mag = malloc((size_t)ny * sizeof(double));
        int *cnt = calloc((size_t)ny, sizeof(int));
        cr_assert(y0 && acc && mag && cnt);
        for (int64_t i = 0; i < ny; i++) {
            coords(&y.t, i, c);
            y0[i] = get(&y, c), mag[i] = j->exclude ? 0 : fabs(y0[i]);
            acc[i] = j->reduce == 2 ? 1 : j->reduce == 3 ? -INFINITY : j->reduce == 4 ? INFINITY : 0;
        }
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            int64_t k = (int64_t)get(&ix, c);
            if (k < 0 || k >= size) continue;
            int64_t tc[2] = {c[0], c[1]};
            tc[dim] = k;
            int64_t t = tc[0] * ysh[1] + tc[1];
            double v = get(&src, c);
            switch (j->reduce) {
            case 2: acc[t] *= v; break;
            case 3: acc[t] = fmax(acc[t], v); break;
            case 4: acc[t] = fmin(acc[t], v); break;
            default: acc[t] += v;
            }
            mag[t] += fabs(v);
            cnt[t]++;
        }
        brc_index_desc d = {.kind = BRC_INDEX_SCATTER, .y = y.t, .index = ix.t, .src = src.t, .dim = dim,
                            .reduce = (brc_index_reduce)j->reduce, .exclude_self = j->exclude};
        char what[96];
        snprintf(what, sizeof what, "scatter %s %s reduce %d exclude_self %d dim %d", brc_dtype_name(dt),
                 brc_dtype_name(j->it), j->reduce, j->exclude, dim);
        brc_index_args args = {.index = dptr(&ix), .src = dptr(&src), .y = dptr(&y)};
        brc_plan *p = plan_run_args(&d, &args, what);
        down(&y);
        long bad = 0;
        char first[200] = "";
        double eps = eps_of(dt);
        for (int64_t i = 0; i < ny; i++) {
            coords(&y.t, i, c);
            double want = y0[i], tol = 0;
            if (cnt[i]) {
                int incl = !j->exclude;
                switch (j->reduce) {
                case 1: want = (incl ? y0[i] : 0) + acc[i], tol = (cnt[i] + 2) * eps * mag[i]; break;
                case 2: want = (incl ? y0[i] : 1) * acc[i], tol = (cnt[i] + 2) * eps * fabs(want); break;
                case 3: want = incl ? fmax(y0[i], acc[i]) : acc[i]; break;
                case 4: want = incl ? fmin(y0[i], acc[i]) : acc[i]; break;
                default:
                    want = ((incl ? y0[i] : 0) + acc[i]) / (cnt[i] + incl);
                    tol = (cnt[i] + 2) * eps * mag[i] / (cnt[i] + incl) + eps * fabs(want);
                }
            }
            double got = get(&y, c);
            if (!(fabs(got - want) <= tol) && bad++ == 0)
                snprintf(first, sizeof first, "[%lld, %lld]: got %.9g, want %.9g (tol %.3g, %d updates)",
                         (long long)c[0], (long long)c[1], got, want, tol, cnt[i]);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 1, "%s: the out-of-range indices set the flag", what);
        bool atomic = (j->reduce == 1 || j->reduce == 2 || j->reduce == 5) && brc_dtype_is_float(dt);
        cr_expect_eq(brc_index_plan_deterministic(p), !atomic, "%s: deterministic flag", what);
        free(y0), free(acc), free(mag), free(cnt);
        brc_plan_destroy(p);
        ht_free(&y), ht_free(&ix), ht_free(&src);
    }
}

/* ---- index_put --------------------------------------------------------------------------------------------- */

typedef struct pjob {
    brc_dtype dt, it;
    int accumulate;
} pjob;

ParameterizedTestParameters(index, index_put) {
    static pjob jobs[] = {
        {BRC_F32, BRC_I64, 0}, {BRC_BF16, BRC_I32, 0}, {BRC_F64, BRC_I32, 0}, {BRC_U8, BRC_I64, 0},
        {BRC_F32, BRC_I64, 1}, {BRC_F16, BRC_I32, 1}, {BRC_I64, BRC_I64, 1}, {BRC_BF16, BRC_I64, 1},
    };
    return cr_make_param_array(pjob, jobs, sizeof jobs / sizeof jobs[0]);
}

/* A random permutation's first n of [0, size). */
static void perm_prefix(int64_t *out, int64_t n, int64_t size, uint64_t *rng) {
    int64_t *p = malloc((size_t)size * sizeof *p);
    cr_assert(p);
    for (int64_t q = 0; q < size; q++) p[q] = q;
    for (int64_t q = size - 1; q > 0; q--) {
        int64_t r = (int64_t)(tu_rand(rng) % (uint64_t)(q + 1)), t = p[q];
        p[q] = p[r], p[r] = t;
    }
    memcpy(out, p, (size_t)n * sizeof *p);
    free(p);
}

ParameterizedTest(pjob *j, index, index_put, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = j->dt;
    uint64_t rng = 1300 + (uint64_t)dt * 3 + (uint64_t)j->accumulate;
    int64_t ysh[3] = {13, 11, 40};
    for (int cs = 0; cs < 3; cs++) {
        /* cs 0: y[i0[b0], i1[b1], :] with i0 [5] and i1 [6] broadcast to [5, 6] (rows of 40);
         * cs 1: the same on a padded y and src with an odd tail (y [13, 11, 39]);
         * cs 2: three 1-D indices [7] and nothing left over (one element a thread). */
        int64_t yshape[3] = {13, 11, cs == 1 ? 39 : 40};
        ht y = ht_new(dt, 3, yshape, cs == 1 ? PAD_ODD : CONTIG);
        int m = cs == 2 ? 3 : 2;
        int64_t B0 = cs == 2 ? 7 : 5, B1 = cs == 2 ? 1 : 6;
        int64_t nidx[3] = {B0, cs == 2 ? 7 : B1, 7};
        ht idx[3];
        int64_t vals[3][16];
        for (int q = 0; q < m; q++) {
            idx[q] = ht_new(j->it, 1, &nidx[q], CONTIG);
            if (j->accumulate) {
                for (int64_t e = 0; e < nidx[q]; e++) vals[q][e] = (int64_t)(tu_rand(&rng) % 3);
            } else {
                perm_prefix(vals[q], nidx[q], ysh[q], &rng); /* distinct positions: no collisions */
            }
        }
        /* One out-of-range entry: its positions are dropped and flagged. */
        vals[m - 1][2] = cs == 1 ? -1 : ysh[m - 1];
        for (int q = 0; q < m; q++) {
            for (int64_t e = 0; e < nidx[q]; e++) set(&idx[q], &e, (double)vals[q][e]);
            up(&idx[q]);
        }
        brc_index_desc d;
        memset(&d, 0, sizeof d);
        d.kind = BRC_INDEX_INDEX_PUT;
        d.accumulate = j->accumulate;
        d.nindices = m;
        d.y = y.t;
        int64_t srcsh[3];
        int srank;
        if (cs < 2) {
            for (int q = 0; q < 2; q++) {
                d.indices[q].dtype = j->it;
                d.indices[q].rank = 2;
                d.indices[q].shape[0] = B0, d.indices[q].shape[1] = B1;
                d.indices[q].strides[q] = 1, d.indices[q].strides[1 - q] = 0; /* broadcast */
            }
            srcsh[0] = B0, srcsh[1] = B1, srcsh[2] = yshape[2], srank = 3;
        } else {
            for (int q = 0; q < 3; q++) d.indices[q] = idx[q].t;
            srcsh[0] = 7, srank = 1;
        }
        ht src = ht_new(dt, srank, srcsh, cs == 1 ? PAD_ODD : cs == 2 ? FLIP : CONTIG);
        fill(&src, &rng);
        fill(&y, &rng);
        d.src = src.t;
        int64_t ny = numel(&y);
        double *want = malloc((size_t)ny * sizeof(double)), *mag = malloc((size_t)ny * sizeof(double));
        int *cnt = calloc((size_t)ny, sizeof(int));
        cr_assert(want && mag && cnt);
        int64_t c[3];
        for (int64_t i = 0; i < ny; i++) coords(&y.t, i, c), want[i] = get(&y, c), mag[i] = fabs(want[i]);
        for (int64_t i = 0; i < numel(&src); i++) {
            coords(&src.t, i, c);
            int64_t t[3], b0 = c[0], b1 = cs < 2 ? c[1] : 0;
            bool in = true;
            if (cs < 2) t[0] = vals[0][b0], t[1] = vals[1][b1], t[2] = c[2];
            else t[0] = vals[0][b0], t[1] = vals[1][b0], t[2] = vals[2][b0];
            for (int q = 0; q < 3; q++) in = in && t[q] >= 0 && t[q] < yshape[q];
            if (!in) continue;
            int64_t lin = (t[0] * yshape[1] + t[1]) * yshape[2] + t[2];
            double v = get(&src, c);
            want[lin] = j->accumulate ? want[lin] + v : v;
            mag[lin] += fabs(v);
            cnt[lin]++;
        }
        brc_index_args args = {.src = dptr(&src), .y = dptr(&y)};
        for (int q = 0; q < m; q++) args.indices[q] = dptr(&idx[q]);
        char what[128];
        snprintf(what, sizeof what, "index_put %s %s accumulate %d case %d", brc_dtype_name(dt), brc_dtype_name(j->it),
                 j->accumulate, cs);
        brc_plan *p = plan_run_args(&d, &args, what);
        down(&y);
        long bad = 0;
        char first[200] = "";
        for (int64_t i = 0; i < ny; i++) {
            coords(&y.t, i, c);
            double got = get(&y, c), tol = j->accumulate ? (cnt[i] + 1) * eps_of(dt) * mag[i] : 0;
            if (!(fabs(got - want[i]) <= tol) && bad++ == 0)
                snprintf(first, sizeof first, "[%lld, %lld, %lld]: got %.9g, want %.9g (%d updates)", (long long)c[0],
                         (long long)c[1], (long long)c[2], got, want[i], cnt[i]);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 1, "%s: the out-of-range index set the flag", what);
        bool atomic = !j->accumulate || brc_dtype_is_float(dt);
        cr_expect_eq(brc_index_plan_deterministic(p), !atomic, "%s: deterministic flag", what);
        free(want), free(mag), free(cnt);
        brc_plan_destroy(p);
        for (int q = 0; q < m; q++) ht_free(&idx[q]);
        ht_free(&y), ht_free(&src);
    }
}

/* index_put, f32 accumulate of rows: the sorted layout (counting sort by target row, one write a
 * row). Many positions a row (more than the 4 loads in flight), rows longer than a CTA's
 * threads x vectors, out-of-range indices of both signs, an odd padded tail (scalar vectors), and
 * a src view one element off 16-byte alignment (the element path). */
Test(index, index_put_sorted, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        int64_t V, C, N;
        brc_dtype it;
        int ystyle, sstyle; /* sstyle 9: a contiguous view one element into its buffer */
    } cs[] = {{37, 2000, 1500, BRC_I64, CONTIG, CONTIG}, {50, 33, 301, BRC_I32, PAD_ODD, PAD_ODD},
              {20, 64, 700, BRC_I64, CONTIG, 9}, {4000, 8, 100, BRC_I32, CONTIG, CONTIG}};
    uint64_t rng = 4242;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t V = cs[ci].V, C = cs[ci].C, N = cs[ci].N, ysh[2] = {V, C}, ssh[2] = {N, C};
        ht y = ht_new(BRC_F32, 2, ysh, cs[ci].ystyle), ix = ht_new(cs[ci].it, 1, &N, CONTIG), src;
        if (cs[ci].sstyle == 9) {
            int64_t tot = N * C + 1;
            src = ht_new(BRC_F32, 1, &tot, CONTIG);
            brc_tensor_desc_contiguous(&src.t, BRC_F32, 2, ssh);
            src.base = 1;
        } else {
            src = ht_new(BRC_F32, 2, ssh, cs[ci].sstyle);
        }
        fill(&y, &rng);
        fill(&src, &rng);
        int64_t *k = malloc((size_t)N * sizeof *k);
        cr_assert(k);
        for (int64_t e = 0; e < N; e++) {
            k[e] = (int64_t)(tu_rand(&rng) % (uint64_t)V);
            if (e % 97 == 5) k[e] = e % 2 ? V : -1; /* out of range: dropped, flagged */
            set(&ix, &e, (double)k[e]);
        }
        up(&ix);
        int64_t ny = numel(&y), c[2];
        double *want = malloc((size_t)ny * sizeof(double)), *mag = malloc((size_t)ny * sizeof(double));
        int *cnt = calloc((size_t)ny, sizeof(int));
        cr_assert(want && mag && cnt);
        for (int64_t i = 0; i < ny; i++) coords(&y.t, i, c), want[i] = get(&y, c), mag[i] = fabs(want[i]);
        for (int64_t e = 0; e < N; e++) {
            if (k[e] < 0 || k[e] >= V) continue;
            for (int64_t q = 0; q < C; q++) {
                int64_t sc[2] = {e, q};
                double v = get(&src, sc);
                want[k[e] * C + q] += v, mag[k[e] * C + q] += fabs(v), cnt[k[e] * C + q]++;
            }
        }
        brc_index_desc d;
        memset(&d, 0, sizeof d);
        d.kind = BRC_INDEX_INDEX_PUT;
        d.accumulate = 1;
        d.nindices = 1;
        d.indices[0] = ix.t;
        d.y = y.t;
        d.src = src.t;
        brc_index_args args = {.src = dptr(&src), .y = dptr(&y)};
        args.indices[0] = dptr(&ix);
        char what[96];
        snprintf(what, sizeof what, "index_put sorted [%lld, %lld] += %lld rows (case %zu)", (long long)V, (long long)C,
                 (long long)N, ci);
        brc_plan *p = plan_run_args(&d, &args, what);
        cr_expect(strstr(brc_plan_sku(p), ",sorted,"), "%s: %s", what, brc_plan_sku(p));
        down(&y);
        long bad = 0;
        char first[200] = "";
        for (int64_t i = 0; i < ny; i++) {
            coords(&y.t, i, c);
            double got = get(&y, c), tol = (cnt[i] + 1) * eps_of(BRC_F32) * mag[i];
            if (!(fabs(got - want[i]) <= tol) && bad++ == 0)
                snprintf(first, sizeof first, "[%lld, %lld]: got %.9g, want %.9g (%d updates)", (long long)c[0],
                         (long long)c[1], got, want[i], cnt[i]);
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 1, "%s: the out-of-range indices set the flag", what);
        cr_expect_eq(brc_index_plan_deterministic(p), 0, "%s: flagged", what);
        free(want), free(mag), free(cnt), free(k);
        brc_plan_destroy(p);
        ht_free(&y), ht_free(&ix), ht_free(&src);
    }
}

/* ---- masked_select and nonzero ----------------------------------------------------------------------------- */

Test(index, masked_select, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        brc_dtype dt;
        int64_t r, c;
        int xstyle, mstyle, fill; /* mstyle 9: broadcast along dim 0; fill: 0 random, 1 all false, 2 all true */
    } cs[] = {
        {BRC_F32, 37, 1001, CONTIG, CONTIG, 0}, {BRC_BF16, 37, 1001, PAD_ODD, 9, 0}, {BRC_F64, 3, 1000, CONTIG, CONTIG, 1},
        {BRC_I64, 5, 1000, CONTIG, CONTIG, 2},  {BRC_F32, 3, 1000003, CONTIG, CONTIG, 0}, {BRC_F16, 41, 77, FLIP, FLIP, 0},
        {BRC_U8, 1, 4095, CONTIG, COLMAJOR, 0},
    };
    uint64_t rng = 77;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t sh[2] = {cs[ci].r, cs[ci].c}, n = sh[0] * sh[1];
        ht x = ht_new(cs[ci].dt, 2, sh, cs[ci].xstyle), y = ht_new(cs[ci].dt, 1, &n, CONTIG);
        ht mk = cs[ci].mstyle == 9 ? ht_new(BRC_BOOL, 1, &sh[1], CONTIG) : ht_new(BRC_U8, 2, sh, cs[ci].mstyle);
        fill(&x, &rng);
        int64_t c[2];
        for (int64_t i = 0; i < numel(&mk); i++) {
            coords(&mk.t, i, c);
            double v = cs[ci].fill == 1 ? 0 : cs[ci].fill == 2 ? (double)(1 + tu_rand(&rng) % 200) : (double)(tu_rand(&rng) % 2);
            if (mk.t.dtype == BRC_U8 && v != 0) v = (double)(1 + tu_rand(&rng) % 255); /* any nonzero byte is true */
            set(&mk, c, v);
        }
        up(&mk), up(&y);
        brc_tensor_desc md = mk.t;
        if (cs[ci].mstyle == 9) {
            md.rank = 2;
            md.shape[0] = sh[0], md.shape[1] = sh[1], md.strides[0] = 0, md.strides[1] = 1;
        }
        brc_index_desc d = {.kind = BRC_INDEX_MASKED_SELECT, .x = x.t, .index = md, .y = y.t};
        CUdeviceptr cnt = dalloc(8);
        brc_index_args args = {.x = dptr(&x), .index = dptr(&mk), .y = dptr(&y), .count = (int64_t *)(uintptr_t)cnt};
        char what[96];
        snprintf(what, sizeof what, "masked_select %s [%lld, %lld] case %zu", brc_dtype_name(cs[ci].dt),
                 (long long)sh[0], (long long)sh[1], ci);
        brc_plan *p = plan_run_args(&d, &args, what);
        down(&y);
        int64_t k = 0, got = read_count(cnt);
        long bad = 0;
        size_t es = brc_dtype_size(cs[ci].dt);
        for (int64_t i = 0; i < n; i++) {
            coords(&x.t, i, c);
            int64_t mc[2] = {c[0], c[1]};
            bool m = cs[ci].mstyle == 9 ? get(&mk, &c[1]) != 0 : get(&mk, mc) != 0;
            if (!m) continue;
            if (k < n) bad += memcmp(y.b.h + (size_t)k * es, x.b.h + (size_t)off(&x, c) * es, es) != 0;
            k++;
        }
        cr_expect_eq(got, k, "%s: count %lld, want %lld", what, (long long)got, (long long)k);
        cr_expect_eq(bad, 0, "%s: %ld wrong elements (%s)", what, bad, brc_plan_sku(p));
        long untouched = 0;
        for (int64_t i = k; i < n; i++) untouched += is_poison(&y, (size_t)i);
        cr_expect_eq(untouched, n - k, "%s: y[count:] must not be written", what);
        cr_expect_eq(read_err(), 0, "%s: error flag", what);
        brc__cu()->cuMemFree(cnt);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&y), ht_free(&mk);
    }
}

Test(index, nonzero, .init = setup, .fini = teardown, .timeout = 300) {
    static const struct {
        brc_dtype dt, ot;
        int rank;
        int64_t sh[3];
        int style, fill; /* fill: 0 about half zero (with -0.0 and NaN for floats), 1 all zero, 2 none zero */
    } cs[] = {
        {BRC_F32, BRC_I64, 3, {3, 517, 129}, CONTIG, 0}, {BRC_F32, BRC_I32, 3, {3, 517, 129}, COLMAJOR, 0},
        {BRC_U8, BRC_I64, 1, {10000, 0, 0}, CONTIG, 1},  {BRC_BOOL, BRC_I32, 2, {77, 3, 0}, CONTIG, 2},
        {BRC_BF16, BRC_I64, 1, {100003, 0, 0}, CONTIG, 0}, {BRC_I64, BRC_I64, 2, {300, 41, 0}, FLIP, 0},
    };
    uint64_t rng = 99;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int r = cs[ci].rank;
        ht x = ht_new(cs[ci].dt, r, cs[ci].sh, cs[ci].style);
        int64_t n = numel(&x), ysh[2] = {n, r};
        ht y = ht_new(cs[ci].ot, 2, ysh, CONTIG);
        bool fl = brc_dtype_is_float(cs[ci].dt);
        int64_t c[3];
        for (int64_t i = 0; i < n; i++) {
            coords(&x.t, i, c);
            double v = rval(cs[ci].dt, &rng);
            if (cs[ci].dt == BRC_BOOL) v = 1;
            if (cs[ci].fill == 1 || (cs[ci].fill == 0 && tu_rand(&rng) % 2)) v = 0;
            if (cs[ci].fill == 0 && fl && tu_rand(&rng) % 16 == 0) v = tu_rand(&rng) % 2 ? -0.0 : NAN;
            if (cs[ci].fill == 2 && v == 0) v = 1;
            set(&x, c, v);
        }
        up(&x), up(&y);
        brc_index_desc d = {.kind = BRC_INDEX_NONZERO, .x = x.t, .y = y.t};
        CUdeviceptr cnt = dalloc(8);
        brc_index_args args = {.x = dptr(&x), .y = dptr(&y), .count = (int64_t *)(uintptr_t)cnt};
        char what[96];
        snprintf(what, sizeof what, "nonzero %s -> %s case %zu", brc_dtype_name(cs[ci].dt), brc_dtype_name(cs[ci].ot), ci);
        brc_plan *p = plan_run_args(&d, &args, what);
        down(&y);
        int64_t k = 0, got = read_count(cnt);
        long bad = 0;
        for (int64_t i = 0; i < n; i++) {
            coords(&x.t, i, c);
            double v = get(&x, c);
            if (v == 0) continue; /* -0.0 is zero; NaN is not */
            for (int dd = 0; dd < r && k < n; dd++) {
                int64_t yc[2] = {k, dd};
                bad += get(&y, yc) != (double)c[dd];
            }
            k++;
        }
        cr_expect_eq(got, k, "%s: count %lld, want %lld", what, (long long)got, (long long)k);
        cr_expect_eq(bad, 0, "%s: %ld wrong coordinates (%s)", what, bad, brc_plan_sku(p));
        long untouched = 0;
        for (int64_t i = k * r; i < n * r; i++) untouched += is_poison(&y, (size_t)i);
        cr_expect_eq(untouched, (n - k) * r, "%s: rows past the count must not be written", what);
        brc__cu()->cuMemFree(cnt);
        brc_plan_destroy(p);
        ht_free(&x), ht_free(&y);
    }
}

/* Captured once, replayed on new data: the count follows the data (no host round trip). */
Test(index, compaction_under_capture, .init = setup, .fini = teardown, .timeout = 120) {
    int64_t n = 50000;
    ht x = ht_new(BRC_F32, 1, &n, CONTIG), y = ht_new(BRC_F32, 1, &n, CONTIG), mk = ht_new(BRC_U8, 1, &n, CONTIG);
    uint64_t rng = 5;
    fill(&x, &rng);
    brc_index_desc d = {.kind = BRC_INDEX_MASKED_SELECT, .x = x.t, .index = mk.t, .y = y.t};
    brc_plan *p = NULL;
    cr_assert_eq(brc_index_plan(g_ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    size_t wsz = brc_plan_workspace_size(p);
    CUdeviceptr ws = dalloc(wsz), cnt = dalloc(8);
    brc_index_args args = {.x = dptr(&x), .index = dptr(&mk), .y = dptr(&y), .count = (int64_t *)(uintptr_t)cnt};
    tu_capture g = tu_capture_begin(0);
    cr_assert_eq(brc_index_run_args(p, &args, (void *)(uintptr_t)ws, wsz, (brc_stream)g.s), BRC_STATUS_OK, "%s",
                 brc_last_error());
    tu_capture_end(&g);
    for (int round = 0; round < 2; round++) {
        int64_t want = 0;
        for (int64_t i = 0; i < n; i++) {
            bool m = round ? i % 3 == 0 : tu_rand(&rng) % 2;
            mk.b.h[i] = m;
            want += m;
        }
        up(&mk);
        tu_capture_replay(&g);
        cr_expect_eq(read_count(cnt), want, "round %d", round);
        down(&y);
        long bad = 0;
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (mk.b.h[i]) bad += memcmp(y.b.h + 4 * k++, x.b.h + 4 * i, 4) != 0;
        cr_expect_eq(bad, 0, "round %d: %ld wrong", round, bad);
    }
    tu_capture_free(&g);
    brc__cu()->cuMemFree(ws), brc__cu()->cuMemFree(cnt);
    brc_plan_destroy(p);
    ht_free(&x), ht_free(&y), ht_free(&mk);
}

/* ---- embedding_bag and its backward ------------------------------------------------------------------------ */

typedef struct bjob {
    brc_dtype dt, it;
    int mode;
} bjob;

ParameterizedTestParameters(index, embedding_bag) {
    static bjob jobs[] = {
        {BRC_F32, BRC_I64, 0}, {BRC_BF16, BRC_I32, 0}, {BRC_F32, BRC_I32, 1}, {BRC_F16, BRC_I64, 1},
        {BRC_F32, BRC_I64, 2}, {BRC_BF16, BRC_I64, 2}, {BRC_F64, BRC_I32, 0}, {BRC_F64, BRC_I64, 2},
    };
    return cr_make_param_array(bjob, jobs, sizeof jobs / sizeof jobs[0]);
}

/* The bags of a case: position ranges [s[b], e[b]) and each position's weight row (or -1). */
typedef struct bags {
    int64_t B, N, L; /* L > 0: 2-D input */
    int64_t s[64], e[64];
} bags;

ParameterizedTest(bjob *j, index, embedding_bag, .init = setup, .fini = teardown, .timeout = 300) {
    brc_dtype dt = j->dt, it = j->it;
    int mode = j->mode;
    uint64_t rng = 1700 + (uint64_t)dt * 5 + (uint64_t)mode + (uint64_t)it;
    for (int cs = 0; cs < 3; cs++) {
        /* cs 0: 2-D input [37, 5], D 72, psw for sum, padding_idx; cs 1: 1-D input of 200 with 40
         * offsets (empty bags), D 33 (scalar path), a padded table; cs 2: include_last_offset with
         * trailing positions in no bag. */
        int64_t V = 1000, D = cs == 1 ? 33 : 72;
        bags bg;
        memset(&bg, 0, sizeof bg);
        int64_t ish[2];
        ht ix, of, psw;
        memset(&of, 0, sizeof of);
        memset(&psw, 0, sizeof psw);
        if (cs == 0) {
            bg.B = 37, bg.L = 5, bg.N = 185;
            ish[0] = 37, ish[1] = 5;
            ix = ht_new(it, 2, ish, COLMAJOR);
            for (int64_t b = 0; b < bg.B; b++) bg.s[b % 64] = 0; /* unused in 2-D */
        } else {
            bg.N = 200, bg.B = 40;
            ix = ht_new(it, 1, &bg.N, CONTIG);
            int64_t no = bg.B + (cs == 2);
            of = ht_new(it, 1, &no, CONTIG);
            int64_t o[64];
            for (int64_t b = 0; b < no; b++) o[b] = (int64_t)(tu_rand(&rng) % (uint64_t)(cs == 2 ? 180 : 200));
            o[0] = 0;
            for (int64_t b = 1; b < no; b++)
                for (int64_t q = b; q > 0 && o[q] < o[q - 1]; q--) {
                    int64_t t = o[q];
                    o[q] = o[q - 1], o[q - 1] = t;
                }
            o[5] = o[4]; /* an empty bag at least */
            for (int64_t b = 0; b < no; b++) set(&of, &b, (double)o[b]);
            up(&of);
            for (int64_t b = 0; b < bg.B; b++) bg.s[b] = o[b], bg.e[b] = b + 1 < no ? o[b + 1] : bg.N;
        }
        int64_t c[2];
        int64_t pad = 17;
        for (int64_t i = 0; i < numel(&ix); i++) {
            coords(&ix.t, i, c);
            int64_t k = (int64_t)(tu_rand(&rng) % (uint64_t)V);
            if (tu_rand(&rng) % 8 == 0) k = pad;
            set(&ix, c, (double)k);
        }
        int64_t oc[2] = {3, 1};
        set(&ix, cs == 0 ? oc : &oc[0], (double)V); /* out of range: skipped, flagged */
        up(&ix);
        int64_t wsh[2] = {V, D}, ysh[2] = {bg.B, D};
        ht w = ht_new(dt, 2, wsh, cs == 1 ? PAD_ODD : CONTIG), y = ht_new(dt, 2, ysh, cs == 2 ? PAD_ODD : CONTIG);
        fill(&w, &rng);
        up(&y);
        bool use_psw = mode == 0 && cs != 1;
        if (use_psw) {
            psw = ht_new(dt, ix.t.rank, ix.t.shape, CONTIG);
            fill(&psw, &rng);
        }
        CUdeviceptr am = dalloc((size_t)(bg.B * D) * brc_dtype_size(it));
        brc_index_desc d;
        memset(&d, 0, sizeof d);
        d.kind = BRC_INDEX_EMBEDDING_BAG;
        d.mode = (brc_index_bag_mode)mode;
        d.x = w.t, d.index = ix.t, d.y = y.t;
        if (cs) d.offsets = of.t;
        d.include_last_offset = cs == 2;
        d.use_padding_idx = cs != 1, d.padding_idx = pad;
        d.use_per_sample_weights = use_psw;
        if (use_psw) d.per_sample_weights = psw.t;
        brc_index_args args = {.x = dptr(&w), .index = dptr(&ix), .y = dptr(&y), .argmax = (void *)(uintptr_t)am};
        if (cs) args.offsets = dptr(&of);
        if (use_psw) args.per_sample_weights = dptr(&psw);
        char what[128];
        snprintf(what, sizeof what, "embedding_bag %s %s mode %d case %d", brc_dtype_name(dt), brc_dtype_name(it), mode, cs);
        brc_plan *p = plan_run_args(&d, &args, what);
        down(&y);
        int64_t *amh = malloc((size_t)(bg.B * D) * sizeof(int64_t));
        tu_buf amb = {.t = it, .n = (size_t)(bg.B * D), .h = malloc((size_t)(bg.B * D) * brc_dtype_size(it)), .d = am};
        cr_assert(amh && amb.h);
        cr_assert_eq(brc__cu()->cuMemcpyDtoH(amb.h, am, amb.n * brc_dtype_size(it)), CUDA_SUCCESS);
        for (size_t q = 0; q < amb.n; q++) amh[q] = (int64_t)tu_buf_at(&amb, q);
        long bad = 0;
        char first[200] = "";
        for (int64_t b = 0; b < bg.B; b++) {
            int64_t s0 = cs == 0 ? b * bg.L : bg.s[b], e0 = cs == 0 ? s0 + bg.L : bg.e[b];
            for (int64_t col = 0; col < D; col++) {
                double acc = 0, mag = 0, best = 0;
                int64_t cnt = 0, arg = -1;
                for (int64_t q = s0; q < e0; q++) {
                    int64_t ic[2] = {cs == 0 ? q / bg.L : q, q % (bg.L ? bg.L : 1)};
                    int64_t k = (int64_t)get(&ix, ic);
                    if (k < 0 || k >= V || (d.use_padding_idx && k == pad)) continue;
                    int64_t wc[2] = {k, col};
                    double v = get(&w, wc), sc = use_psw ? get(&psw, ic) : 1;
                    if (mode == 2) {
                        if (cnt == 0 || v > best) best = v, arg = k;
                    } else {
                        acc += v * sc;
                        mag += fabs(v * sc);
                    }
                    cnt++;
                }
                double want = mode == 2 ? best : mode == 1 && cnt ? acc / (double)cnt : acc;
                double tol = mode == 2 ? 0 : (double)(cnt + 2) * eps_of(dt) * (mode == 1 && cnt ? mag / (double)cnt : mag);
                int64_t yc[2] = {b, col};
                double got = get(&y, yc);
                bool ok = fabs(got - want) <= tol;
                if (mode == 2) ok = ok && amh[b * D + col] == arg;
                if (!ok && bad++ == 0)
                    snprintf(first, sizeof first, "bag %lld col %lld: got %.9g (argmax %lld), want %.9g (%lld), %lld rows",
                             (long long)b, (long long)col, got, (long long)amh[b * D + col], want, (long long)arg,
                             (long long)cnt);
            }
        }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&y), 0, "%s: writes outside y", what);
        cr_expect_eq(read_err(), 1, "%s: the out-of-range index set the flag", what);
        cr_expect_eq(brc_index_plan_deterministic(p), 1);
        brc_plan_destroy(p);

        /* The backward of the same bags: dweight (poisoned) from dy. */
        ht dy = ht_new(dt, 2, ysh, cs == 1 ? PAD_ODD : CONTIG), dw = ht_new(dt, 2, wsh, cs == 2 ? PAD_ODD : CONTIG);
        fill(&dy, &rng);
        up(&dw);
        brc_index_desc db = d;
        db.kind = BRC_INDEX_EMBEDDING_BAG_BACKWARD;
        memset(&db.x, 0, sizeof db.x);
        db.src = dy.t, db.y = dw.t;
        brc_index_args ab = {.index = dptr(&ix), .src = dptr(&dy), .y = dptr(&dw), .argmax = (void *)(uintptr_t)am};
        if (cs) ab.offsets = dptr(&of);
        if (use_psw) ab.per_sample_weights = dptr(&psw);
        snprintf(what, sizeof what, "embedding_bag_backward %s %s mode %d case %d", brc_dtype_name(dt), brc_dtype_name(it),
                 mode, cs);
        p = plan_run_args(&db, &ab, what);
        down(&dw);
        double *want = calloc((size_t)(V * D), sizeof(double)), *mag = calloc((size_t)(V * D), sizeof(double));
        int *cnt = calloc((size_t)(V * D), sizeof(int));
        cr_assert(want && mag && cnt);
        for (int64_t b = 0; b < bg.B; b++) {
            int64_t s0 = cs == 0 ? b * bg.L : bg.s[b], e0 = cs == 0 ? s0 + bg.L : bg.e[b], n = 0;
            for (int64_t q = s0; q < e0; q++) {
                int64_t ic[2] = {cs == 0 ? q / bg.L : q, q % (bg.L ? bg.L : 1)};
                int64_t k = (int64_t)get(&ix, ic);
                n += !(k < 0 || k >= V || (d.use_padding_idx && k == pad));
            }
            for (int64_t col = 0; col < D; col++) {
                int64_t yc[2] = {b, col};
                double g = get(&dy, yc);
                if (mode == 2) {
                    int64_t k = amh[b * D + col];
                    if (k >= 0) want[k * D + col] += g, mag[k * D + col] += fabs(g), cnt[k * D + col]++;
                    continue;
                }
                for (int64_t q = s0; q < e0; q++) {
                    int64_t ic[2] = {cs == 0 ? q / bg.L : q, q % (bg.L ? bg.L : 1)};
                    int64_t k = (int64_t)get(&ix, ic);
                    if (k < 0 || k >= V || (d.use_padding_idx && k == pad)) continue;
                    double v = g * (use_psw ? get(&psw, ic) : 1) / (mode == 1 ? (double)n : 1.0);
                    want[k * D + col] += v, mag[k * D + col] += fabs(v), cnt[k * D + col]++;
                }
            }
        }
        bad = 0;
        first[0] = 0;
        for (int64_t k = 0; k < V; k++)
            for (int64_t col = 0; col < D; col++) {
                int64_t wc[2] = {k, col};
                double got = get(&dw, wc), tol = (cnt[k * D + col] + 2) * eps_of(dt) * mag[k * D + col];
                if (!(fabs(got - want[k * D + col]) <= tol) && bad++ == 0)
                    snprintf(first, sizeof first, "dweight[%lld, %lld]: got %.9g, want %.9g (%d terms)", (long long)k,
                             (long long)col, got, want[k * D + col], cnt[k * D + col]);
            }
        cr_expect_eq(bad, 0, "%s: %ld wrong; first %s (%s)", what, bad, first, brc_plan_sku(p));
        cr_expect_eq(strays(&dw), 0, "%s: writes outside dweight", what);
        cr_expect_eq(brc_index_plan_deterministic(p), mode != 2, "%s: deterministic flag", what);
        if (mode != 2) { /* the same bits again */
            unsigned char *ref = malloc(dw.b.n * brc_dtype_size(dt));
            cr_assert(ref);
            memcpy(ref, dw.b.h, dw.b.n * brc_dtype_size(dt));
            memset(dw.b.h, 0xff, dw.b.n * brc_dtype_size(dt));
            up(&dw);
            brc_plan_destroy(plan_run_args(&db, &ab, what));
            down(&dw);
            cr_expect(memcmp(ref, dw.b.h, dw.b.n * brc_dtype_size(dt)) == 0, "%s: a rerun differs", what);
            free(ref);
        }
        free(want), free(mag), free(cnt), free(amh), free(amb.h);
        brc_plan_destroy(p);
        brc__cu()->cuMemFree(am);
        ht_free(&dy), ht_free(&dw), ht_free(&w), ht_free(&y), ht_free(&ix);
        if (cs) ht_free(&of);
        if (use_psw) ht_free(&psw);
    }
}

Test(index, new_kinds_run_errors, .init = setup, .fini = teardown, .timeout = 120) {
    int64_t n = 100;
    ht x = ht_new(BRC_F32, 1, &n, CONTIG), y = ht_new(BRC_F32, 1, &n, CONTIG), mk = ht_new(BRC_U8, 1, &n, CONTIG);
    brc_index_desc d = {.kind = BRC_INDEX_MASKED_SELECT, .x = x.t, .index = mk.t, .y = y.t};
    brc_plan *p = NULL;
    cr_assert_eq(brc_index_plan(g_ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    CUdeviceptr ws = dalloc(256), cnt = dalloc(16);
    cr_expect_eq(brc_index_run(p, dptr(&x), dptr(&mk), NULL, dptr(&y), NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "brc_index_run_args") != NULL, "%s", brc_last_error());
    brc_index_args a = {.x = dptr(&x), .index = dptr(&mk), .y = dptr(&y)};
    cr_expect_eq(brc_index_run_args(p, &a, (void *)(uintptr_t)ws, 256, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "count is NULL") != NULL, "%s", brc_last_error());
    a.count = (int64_t *)(uintptr_t)(cnt + 4);
    cr_expect_eq(brc_index_run_args(p, &a, (void *)(uintptr_t)ws, 256, NULL), BRC_STATUS_MISALIGNED);
    a.count = (int64_t *)(uintptr_t)cnt;
    cr_expect_eq(brc_index_run_args(p, &a, (void *)(uintptr_t)ws, 8, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "smaller than the 256 required") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_index_run_args(p, &a, NULL, 256, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "workspace is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_index_run_args(p, NULL, (void *)(uintptr_t)ws, 256, NULL), BRC_STATUS_INVALID_ARGUMENT);
    a.index = dptr(&y);
    cr_expect_eq(brc_index_run_args(p, &a, (void *)(uintptr_t)ws, 256, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "y and index are one buffer") != NULL, "%s", brc_last_error());
    a.index = dptr(&mk);
    cr_expect_eq(brc_index_run_args(p, &a, (void *)(uintptr_t)ws, 256, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    brc__cu()->cuMemFree(ws), brc__cu()->cuMemFree(cnt);
    brc_plan_destroy(p);
    ht_free(&x), ht_free(&y), ht_free(&mk);
}

/* Bags of no positions (2-D input [3, 0]): zeros, argmax -1; the backward writes zeros. */
Test(index, embedding_bag_without_positions, .init = setup, .fini = teardown, .timeout = 120) {
    int64_t ws[2] = {50, 8}, is[2] = {3, 0}, ys[2] = {3, 8};
    ht w = ht_new(BRC_F32, 2, ws, CONTIG), ix = ht_new(BRC_I64, 2, is, CONTIG), y = ht_new(BRC_F32, 2, ys, CONTIG);
    uint64_t rng = 3;
    fill(&w, &rng);
    up(&y);
    for (int mode = 0; mode < 3; mode++) {
        CUdeviceptr am = dalloc(3 * 8 * 8);
        brc_index_desc d = {.kind = BRC_INDEX_EMBEDDING_BAG, .x = w.t, .index = ix.t, .y = y.t,
                            .mode = (brc_index_bag_mode)mode};
        brc_index_args a = {.x = dptr(&w), .index = dptr(&ix), .y = dptr(&y), .argmax = (void *)(uintptr_t)am};
        brc_plan *p = plan_run_args(&d, &a, "embedding_bag of empty bags");
        down(&y);
        long bad = 0;
        for (size_t e = 0; e < y.b.n; e++) bad += tu_buf_at(&y.b, e) != 0;
        cr_expect_eq(bad, 0, "mode %d: empty bags give 0", mode);
        if (mode == 2) {
            int64_t amh[24];
            cr_assert_eq(brc__cu()->cuMemcpyDtoH(amh, am, sizeof amh), CUDA_SUCCESS);
            long nm = 0;
            for (int q = 0; q < 24; q++) nm += amh[q] != -1;
            cr_expect_eq(nm, 0, "argmax of an empty bag is -1");
        }
        brc_plan_destroy(p);
        ht dw = ht_new(BRC_F32, 2, ws, CONTIG);
        up(&dw);
        brc_index_desc db = {.kind = BRC_INDEX_EMBEDDING_BAG_BACKWARD, .src = y.t, .index = ix.t, .y = dw.t,
                             .mode = (brc_index_bag_mode)mode};
        brc_index_args ab = {.src = dptr(&y), .index = dptr(&ix), .y = dptr(&dw), .argmax = (void *)(uintptr_t)am};
        p = plan_run_args(&db, &ab, "embedding_bag_backward of empty bags");
        down(&dw);
        bad = 0;
        for (size_t e = 0; e < dw.b.n; e++) bad += tu_buf_at(&dw.b, e) != 0;
        cr_expect_eq(bad, 0, "mode %d: dweight is all zeros", mode);
        brc_plan_destroy(p);
        ht_free(&dw);
        brc__cu()->cuMemFree(am);
        memset(y.b.h, 0xff, y.b.n * 4);
        up(&y);
    }
    ht_free(&w), ht_free(&ix), ht_free(&y);
}
