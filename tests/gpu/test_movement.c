/* GPU tests of the movement family against host references, bit for bit: copy (every element
 * size; contiguous, padded, column-major, permuted, negative-stride, broadcast and misaligned
 * views; the vector, gather and tiled kernels, forced or chosen), permute, flip, roll, repeat,
 * concat and split (odd sizes, empty pieces, 20 pieces over two launches), slice and write_slice
 * (static, dynamic, clamped, replayed from a captured graph as a KV-cache append), the generators
 * (fill in every dtype, arange, linspace, eye, triu, tril, in place), and pad in every mode, forward
 * and backward. Inputs are random bits (never zeros); outputs are poisoned, and every element of an
 * output buffer outside the written view must keep its poison. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- views: a logical tensor placed in a device buffer by strides ---------------------------------- */

/* S_COLPAD: column-major, each dim's pitch 16 elements longer (16-byte aligned for every size). */
enum { S_CONTIG, S_PAD, S_COLMAJOR, S_NEG, S_PERM, S_STEP, S_BCAST, S_COLPAD };

typedef struct tv {
    brc_tensor_desc t;
    int64_t base; /* element offset of index 0 in the buffer */
    tu_buf b;
    unsigned char *init; /* the buffer's bytes before the run */
} tv;

static size_t esz(const tv *v) { return brc_dtype_size(v->t.dtype); }

/* style: how the dims are laid out. fill: 0 poison (0xA5), 1 random bits. */
static tv tv_new(brc_dtype dt, int rank, const int64_t *shape, int style, int fill, uint64_t *rng) {
    tv v;
    memset(&v, 0, sizeof v);
    brc_tensor_desc_contiguous(&v.t, dt, rank, shape);
    int order[BRC_MAX_RANK];
    for (int d = 0; d < rank; d++) order[d] = rank - 1 - d; /* innermost first */
    if (style == S_COLMAJOR || style == S_COLPAD)
        for (int d = 0; d < rank; d++) order[d] = d;
    if (style == S_PERM)
        for (int d = rank - 1; d > 0; d--) {
            int j = (int)(tu_rand(rng) % (uint64_t)(d + 1)), t = order[d];
            order[d] = order[j], order[j] = t;
        }
    int64_t s = style == S_STEP ? 2 : 1;
    for (int i = 0; i < rank; i++) {
        int d = order[i];
        v.t.strides[d] = s;
        s = s * (shape[d] > 0 ? shape[d] : 1) + (style == S_PAD || style == S_NEG || style == S_STEP ? 1 + 2 * (i & 1) : 0) +
            (style == S_COLPAD ? 16 : 0);
    }
    if (style == S_NEG)
        for (int d = 0; d < rank; d += 2) v.t.strides[d] = -v.t.strides[d];
    if (style == S_BCAST)
        for (int d = 0; d < rank; d += 2) v.t.strides[d] = 0;
    int64_t lo = 0, hi = 0;
    for (int d = 0; d < rank; d++) {
        if (shape[d] == 0) continue;
        int64_t e = (shape[d] - 1) * v.t.strides[d];
        if (e < 0) lo += e;
        else hi += e;
    }
    v.base = -lo;
    size_t n = (size_t)(hi - lo + 1);
    v.b = tu_buf_new(dt, n);
    size_t bytes = n * esz(&v);
    for (size_t i = 0; i < bytes; i++) v.b.h[i] = fill ? (unsigned char)(tu_rand(rng) >> 56) : 0xA5;
    if (fill) /* random bits, but never an all-zero element */
        for (size_t i = 0; i < n; i++) v.b.h[i * esz(&v)] |= 1;
    tu_buf_upload(&v.b);
    v.init = malloc(bytes);
    cr_assert(v.init);
    memcpy(v.init, v.b.h, bytes);
    return v;
}
static void tv_free(tv *v) {
    tu_buf_free(&v->b);
    free(v->init);
}
static void *dptr(const tv *v) { return (void *)(uintptr_t)(v->b.d + (CUdeviceptr)((size_t)v->base * esz(v))); }
static int64_t off_of(const tv *v, const int64_t *c) {
    int64_t o = v->base;
    for (int d = 0; d < v->t.rank; d++) o += c[d] * v->t.strides[d];
    return o;
}

/* What y holds at logical coords yc: the element xc of input k (EX_INPUT), y's own initial value
 * (EX_KEEP), or the bytes in *konst (EX_CONST). */
enum { EX_INPUT, EX_KEEP, EX_CONST };
typedef int (*expect_fn)(const void *arg, const int64_t *yc, int *k, int64_t *xc);

typedef struct result {
    long bad, stray;
    char first[256];
} result;

/* Compares every element of y's view with the expectation; every buffer element outside the view
 * must still hold its initial bytes. y must have been downloaded. */
static result check_y(const tv *y, const tv *const *xs, expect_fn fn, const void *arg, const unsigned char *konst) {
    result r = {0, 0, ""};
    size_t es = esz(y);
    unsigned char *seen = calloc(y->b.n, 1);
    cr_assert(seen);
    int64_t numel = brc_tensor_desc_numel(&y->t), yc[BRC_MAX_RANK] = {0}, xc[BRC_MAX_RANK];
    for (int64_t l = 0; l < numel; l++) {
        int64_t rem = l;
        for (int d = y->t.rank - 1; d >= 0; d--) yc[d] = rem % y->t.shape[d], rem /= y->t.shape[d];
        int k = 0;
        int kind = fn(arg, yc, &k, xc);
        int64_t yo = off_of(y, yc);
        seen[yo] = 1;
        const unsigned char *want = kind == EX_CONST ? konst
                                    : kind == EX_KEEP ? y->init + (size_t)yo * es
                                                      : xs[k]->init + (size_t)off_of(xs[k], xc) * es;
        if (memcmp(y->b.h + (size_t)yo * es, want, es) != 0 && r.bad++ == 0) {
            int n = snprintf(r.first, sizeof r.first, "element %lld (", (long long)l);
            for (int d = 0; d < y->t.rank && n < 200; d++) n += snprintf(r.first + n, sizeof r.first - (size_t)n, "%s%lld", d ? "," : "", (long long)yc[d]);
            snprintf(r.first + n, sizeof r.first - (size_t)n, "): got %02x%02x.., want %02x%02x..", y->b.h[(size_t)yo * es],
                     es > 1 ? y->b.h[(size_t)yo * es + 1] : 0, want[0], es > 1 ? want[1] : 0);
        }
    }
    for (size_t e = 0; e < y->b.n; e++)
        if (!seen[e] && memcmp(y->b.h + e * es, y->init + e * es, es) != 0) r.stray++;
    free(seen);
    return r;
}

#define EXPECT_OK(r, what, plan)                                                                                   \
    do {                                                                                                         \
        cr_expect_eq((r).bad, 0, "%s: %ld wrong elements, first %s (%s)", what, (r).bad, (r).first,             \
                     brc_plan_sku(plan));                                                                        \
        cr_expect_eq((r).stray, 0, "%s: %ld elements outside the view were written (%s)", what, (r).stray,      \
                     brc_plan_sku(plan));                                                                        \
    } while (0)

static void sync_ok(const char *what) {
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", what);
}

/* ---- copy, permute, flip ------------------------------------------------------------------------------ */

/* y[yc] = x[perm-mapped, flipped coords]. */
typedef struct map_arg {
    int rank;
    int perm[BRC_MAX_RANK]; /* y dim i reads x dim perm[i] */
    int flip[BRC_MAX_RANK]; /* per x dim */
    const int64_t *xshape;
} map_arg;
static int ex_map(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const map_arg *m = arg;
    *k = 0;
    for (int i = 0; i < m->rank; i++) {
        int a = m->perm[i];
        xc[a] = m->flip[a] ? m->xshape[a] - 1 - yc[i] : yc[i];
    }
    return EX_INPUT;
}

static const brc_dtype by_size[4] = {BRC_U8, BRC_BF16, BRC_F32, BRC_I64};

typedef struct ccase {
    int rank;
    int64_t shape[4];
    int sx, sy;
} ccase;

static const ccase copy_cases[] = {
    {1, {1}, S_CONTIG, S_CONTIG},
    {1, {7}, S_CONTIG, S_CONTIG},
    {1, {1000003}, S_CONTIG, S_CONTIG},           /* vectors and a tail */
    {2, {33, 65}, S_PAD, S_CONTIG},               /* padded rows: gather or narrow vectors */
    {2, {64, 128}, S_PAD, S_PAD},
    {2, {67, 45}, S_COLMAJOR, S_CONTIG},          /* a transpose: tiled */
    {2, {513, 1025}, S_CONTIG, S_COLMAJOR},       /* a transpose the other way: tiled */
    {3, {5, 70, 33}, S_COLMAJOR, S_CONTIG},       /* batched tiles */
    {2, {200, 130}, S_COLMAJOR, S_CONTIG},        /* even pitches: whole tiles move as words, edges by element */
    {3, {3, 256, 192}, S_CONTIG, S_COLMAJOR},     /* batched, word tiles for every element size */
    {4, {3, 5, 7, 9}, S_NEG, S_CONTIG},           /* negative strides: gather */
    {4, {3, 5, 7, 9}, S_CONTIG, S_NEG},           /* negative output strides */
    {4, {4, 17, 20, 16}, S_PERM, S_PERM},
    {3, {6, 40, 48}, S_PERM, S_CONTIG},
    {3, {9, 10, 11}, S_BCAST, S_CONTIG},          /* broadcast input */
    {2, {100, 300}, S_STEP, S_CONTIG},            /* every other element */
    {2, {0, 5}, S_CONTIG, S_CONTIG},              /* empty */
};
#define NCOPY ((int)(sizeof copy_cases / sizeof copy_cases[0]))

static void run_copy(brc_context *ctx, brc_dtype dt, const ccase *c, int ci, const brc_plan_prefs *prefs) {
    uint64_t rng = 0xc0ffee + (uint64_t)ci * 7919 + (uint64_t)dt * 131;
    tv x = tv_new(dt, c->rank, c->shape, c->sx, 1, &rng), y = tv_new(dt, c->rank, c->shape, c->sy, 0, &rng);
    char what[160];
    snprintf(what, sizeof what, "copy %s case %d%s", brc_dtype_name(dt), ci,
             !prefs ? "" : prefs->force_strided ? " (force_strided)" : " (vector_width 2)");
    brc_copy_desc d = {x.t, y.t};
    brc_plan *p = NULL;
    brc_status st = brc_copy_plan(ctx, &d, prefs, &p);
    if (prefs && prefs->vector_width > 1 && st == BRC_STATUS_INVALID_ARGUMENT) goto done; /* the layout refuses it */
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(), brc_last_jit_log());
    void *xp = dptr(&x), *yp = dptr(&y);
    cr_assert_eq(brc_copy_run(p, xp, yp, NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    sync_ok(what);
    tu_buf_download(&y.b);
    map_arg m = {c->rank, {0, 1, 2, 3}, {0}, c->shape};
    const tv *xs[1] = {&x};
    result r = check_y(&y, xs, ex_map, &m, NULL);
    EXPECT_OK(r, what, p);
    cr_log_info("%s: %s -> %s", what, brc_plan_descriptor(p), brc_plan_sku(p));
    brc_plan_destroy(p);
done:
    tv_free(&x), tv_free(&y);
}

ParameterizedTestParameters(movement, copy_every_size_and_layout) {
    static int sizes[] = {0, 1, 2, 3};
    return cr_make_param_array(int, sizes, 4);
}

ParameterizedTest(int *si, movement, copy_every_size_and_layout, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    brc_dtype dt = by_size[*si];
    brc_plan_prefs strided = BRC_PLAN_PREFS_INIT, narrow = BRC_PLAN_PREFS_INIT;
    strided.force_strided = 1;
    narrow.vector_width = 2;
    for (int c = 0; c < NCOPY; c++) {
        run_copy(ctx, dt, &copy_cases[c], c, NULL);
        run_copy(ctx, dt, &copy_cases[c], c, &strided);
        if (brc_dtype_size(dt) < 16) run_copy(ctx, dt, &copy_cases[c], c, &narrow);
    }
    brc_context_destroy(ctx);
}


/* Small contiguous copies of a multiple of 16 bytes take the driver's memcpy (COPY_MEMCPY_BYTES, SKU
 * driver:memcpy): 64 x 1024 of every element size, both views flipped (one contiguous run that
 * starts at the buffers' far ends), and the 4 MiB limit itself; an odd byte count and 16 bytes past
 * the limit take a kernel; bit-exact, nothing outside y written. Then the copy captured in a graph on
 * a stream and replayed over new data: a memcpy node reads x's bytes at replay time. */
Test(movement, small_copies_take_the_driver_memcpy, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const ccase mc[] = {
        {2, {64, 1024}, S_CONTIG, S_CONTIG}, {1, {1001}, S_CONTIG, S_CONTIG}, {2, {3, 336}, S_CONTIG, S_CONTIG}};
    /* Pass 0 without programmatic dependent launches (BARACUDA_MV_PDL=0, as on sm_80): the memcpy
     * rule; pass 1 as the GPU comes: with them (sm_90 and newer) every case is a kernel. */
    const bool pdl = ctx->sm_major >= 9;
    for (int k = 0; k < 8; k++) {
        const int pass = k / 4, si = k % 4;
        if (si == 0) pass == 0 ? setenv("BARACUDA_MV_PDL", "0", 1) : unsetenv("BARACUDA_MV_PDL");
        brc_dtype dt = by_size[si];
        const int64_t es = (int64_t)brc_dtype_size(dt);
        for (int ci = 0; ci < 5; ci++) {
            const bool kernel = ci == 1 || ci == 4 || (pass == 1 && pdl); /* an odd byte count; 4 MiB + 16 bytes */
            ccase c = ci >= 3 ? (ccase){1, {(4 << 20) / es + (ci == 4 ? 16 / es : 0)}, S_CONTIG, S_CONTIG} : mc[ci];
            uint64_t rng = 0x3e3c + (uint64_t)si * 31 + (uint64_t)ci;
            tv x = tv_new(dt, c.rank, c.shape, S_CONTIG, 1, &rng), y = tv_new(dt, c.rank, c.shape, S_CONTIG, 0, &rng);
            if (ci == 2) { /* both flipped along the rows: still one run, based at the last row */
                x.t.strides[0] = y.t.strides[0] = -c.shape[1];
                x.base = y.base = (c.shape[0] - 1) * c.shape[1];
            }
            char what[96];
            snprintf(what, sizeof what, "memcpy copy %s case %d pass %d", brc_dtype_name(dt), ci, pass);
            brc_copy_desc d = {x.t, y.t};
            brc_plan *p = NULL;
            cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
            cr_expect((strstr(brc_plan_sku(p), "driver:memcpy<") == brc_plan_sku(p)) == !kernel, "%s: %s", what,
                      brc_plan_sku(p));
            cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
            sync_ok(what);
            tu_buf_download(&y.b);
            map_arg m = {c.rank, {0, 1, 2, 3}, {0}, c.shape};
            const tv *xs[1] = {&x};
            result r = check_y(&y, xs, ex_map, &m, NULL);
            EXPECT_OK(r, what, p);
            brc_plan_destroy(p);
            tv_free(&x), tv_free(&y);
        }
    }
    /* Captured and replayed: x rewritten between replays (a memcpy node; a kernel on sm_90). */
    uint64_t rng = 77;
    int64_t sh[2] = {64, 1024};
    tv x = tv_new(BRC_BF16, 2, sh, S_CONTIG, 1, &rng), y = tv_new(BRC_BF16, 2, sh, S_CONTIG, 0, &rng);
    brc_copy_desc d = {x.t, y.t};
    brc_plan *p = NULL;
    cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_capture c = tu_capture_begin(0);
    cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), (brc_stream)c.s), BRC_STATUS_OK, "%s", brc_last_error());
    tu_capture_end(&c);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < x.b.n * 2; i++) x.b.h[i] = (unsigned char)(tu_rand(&rng) >> 56);
        tu_buf_upload(&x.b);
        tu_capture_replay(&c);
        tu_buf_download(&y.b);
        cr_expect(memcmp(y.b.h, x.b.h, x.b.n * 2) == 0, "replay %d: y differs from x (%s)", round, brc_plan_sku(p));
    }
    tu_capture_free(&c);
    brc_plan_destroy(p);
    tv_free(&x), tv_free(&y);
    brc_context_destroy(ctx);
}

/* The transpose of a column-major [128, cols] x that starts one element into its buffer into a
 * contiguous y: every tile goes by element (pointer alignment). Every element checked; the plan's
 * SKU must contain `want`. */
static void misaligned_transpose(brc_context *ctx, brc_dtype dt, int64_t cols, uint64_t rng, const char *want,
                                 const char *what) {
    int64_t sh[2] = {128, cols}, big[1] = {128 * cols + 1};
    tv xb = tv_new(dt, 1, big, S_CONTIG, 1, &rng), y = tv_new(dt, 2, sh, S_CONTIG, 0, &rng);
    brc_copy_desc d;
    d.y = y.t;
    d.x = y.t;
    d.x.strides[0] = 1, d.x.strides[1] = 128; /* x column-major, starting at element 1 */
    brc_plan *p = NULL;
    cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_sku(p), want) != NULL, "%s: %s", what, brc_plan_sku(p));
    const size_t es = brc_dtype_size(dt);
    cr_assert_eq(brc_copy_run(p, (char *)dptr(&xb) + es, dptr(&y), NULL), BRC_STATUS_OK, "%s", brc_last_error());
    sync_ok(what);
    tu_buf_download(&y.b);
    long bad = 0;
    for (int64_t i = 0; i < 128; i++)
        for (int64_t j = 0; j < cols; j++)
            if (memcmp(y.b.h + (size_t)(i * cols + j) * es, xb.init + (size_t)(1 + i + j * 128) * es, es) != 0) bad++;
    cr_expect_eq(bad, 0, "%s %s: %ld wrong (%s)", what, brc_dtype_name(dt), bad, brc_plan_sku(p));
    brc_plan_destroy(p);
    tv_free(&xb), tv_free(&y);
}

/* The tiled transpose (brc::mv_tile) for every element size: tiles moved by 16-byte vectors, whole
 * and partial (extents multiples of 16 bytes, not of the tile), through padded source and
 * destination pitches; and element by element (odd extents or pitches, a view one element into
 * its buffer). Every plan must be the tiled one. */
Test(movement, transpose_tiles_every_size, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const ccase tc[] = {
        {2, {96, 160}, S_COLMAJOR, S_CONTIG},   /* whole vectors; partial tiles for most sizes */
        {2, {1000, 144}, S_CONTIG, S_COLMAJOR}, /* the other way round */
        {2, {256, 128}, S_COLMAJOR, S_CONTIG},  /* whole tiles only */
        {3, {48, 3, 272}, S_COLMAJOR, S_CONTIG}, /* batched */
        {2, {80, 208}, S_COLPAD, S_CONTIG},     /* a strided source: pitch 96 */
        {2, {112, 64}, S_CONTIG, S_COLPAD},     /* a strided destination */
        {3, {64, 5, 96}, S_COLPAD, S_CONTIG},   /* strided batch and rows */
        {2, {64, 70}, S_COLMAJOR, S_CONTIG},    /* an odd dst pitch for narrow types: by element */
        {2, {131, 257}, S_COLMAJOR, S_CONTIG},  /* odd everything */
        {2, {4100, 2100}, S_COLMAJOR, S_CONTIG}, /* > 1000 whole tiles: whole tiles, partial edges */
        {2, {2112, 4224}, S_COLMAJOR, S_CONTIG}, /* whole tiles, no partial ones for 1 to 4 bytes */
        {2, {1040, 2064}, S_COLPAD, S_CONTIG},  /* many tiles: a strided source, partial tiles */
        {2, {1104, 1304}, S_CONTIG, S_COLPAD},  /* many tiles, a strided destination */
        {2, {2064, 4160}, S_COLPAD, S_CONTIG},  /* wide tiles for 2 bytes: a strided source, partial tiles */
        {2, {1001, 1999}, S_COLMAJOR, S_CONTIG}, /* many tiles, odd extents: by element */
    };
    int seen[4] = {0, 0, 0, 0}; /* tile=1 / 2 / 3 plans among the cases of elements >= 2 bytes */
    for (int si = 0; si < 4; si++)
        for (int c = 0; c < (int)(sizeof tc / sizeof tc[0]); c++) {
            brc_dtype dt = by_size[si];
            uint64_t rng = 99 + (uint64_t)c * 31 + (uint64_t)si;
            tv x = tv_new(dt, tc[c].rank, tc[c].shape, tc[c].sx, 1, &rng), y = tv_new(dt, tc[c].rank, tc[c].shape, tc[c].sy, 0, &rng);
            char what[96];
            snprintf(what, sizeof what, "transpose %s case %d", brc_dtype_name(dt), c);
            brc_copy_desc d = {x.t, y.t};
            brc_plan *p = NULL;
            cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(), brc_last_jit_log());
            const char *tl = strstr(brc_plan_descriptor(p), "tile=");
            cr_expect(tl != NULL, "%s: %s is not the tiled kernel", what, brc_plan_descriptor(p));
            if (tl && si > 0 && tl[5] >= '1' && tl[5] <= '3') seen[tl[5] - '0'] = 1;
            cr_log_info("%s: %s", what, brc_plan_sku(p));
            cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
            sync_ok(what);
            tu_buf_download(&y.b);
            map_arg m = {tc[c].rank, {0, 1, 2, 3}, {0}, tc[c].shape};
            const tv *xs[1] = {&x};
            result r = check_y(&y, xs, ex_map, &m, NULL);
            EXPECT_OK(r, what, p);
            brc_plan_destroy(p);
            tv_free(&x), tv_free(&y);
        }
    cr_expect(seen[1] && seen[2] && seen[3], "the cases cover whole (%d), half (%d) and wide (%d) tiles", seen[1],
              seen[2], seen[3]);
    /* A source one element into its buffer: every tile by element (pointer alignment). */
    for (int si = 0; si < 3; si++) misaligned_transpose(ctx, by_size[si], 192, 5 + (uint64_t)si, "", "misaligned transpose");
    brc_context_destroy(ctx);
}

/* One transpose case through a plan that must take the long tiles: bit-exact, poison kept. */
static void long_tile_case(brc_context *ctx, brc_dtype dt, const ccase *tc, uint64_t rng, const char *what) {
    tv x = tv_new(dt, tc->rank, tc->shape, tc->sx, 1, &rng), y = tv_new(dt, tc->rank, tc->shape, tc->sy, 0, &rng);
    brc_copy_desc d = {x.t, y.t};
    brc_plan *p = NULL;
    cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(), brc_last_jit_log());
    cr_expect(strstr(brc_plan_descriptor(p), "tile=4") != NULL && strstr(brc_plan_sku(p), "tile=64x128") != NULL,
              "%s: %s (%s) is not the long-tile kernel", what, brc_plan_descriptor(p), brc_plan_sku(p));
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    sync_ok(what);
    tu_buf_download(&y.b);
    map_arg m = {tc->rank, {0, 1, 2, 3}, {0}, tc->shape};
    const tv *xs[1] = {&x};
    result r = check_y(&y, xs, ex_map, &m, NULL);
    EXPECT_OK(r, what, p);
    brc_plan_destroy(p);
    tv_free(&x), tv_free(&y);
}

/* Long tiles (64 x 128, 2-byte elements): the bench's 4096 x 1000 by the plan's rule (512 long
 * tiles; a source pitch of 2000 bytes, 16 but not 32 bytes aligned); then, with
 * BARACUDA_TILE_LONG=1 (long tiles wherever half tiles would be taken), by vectors, whole and
 * partial (edges of 104 and 8 of 128 columns), batched, strided on either side; and element by
 * element (odd extents or pitches, a source one element into its buffer). */
Test(movement, transpose_long_tiles, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const ccase tc[] = {
        {2, {1000, 4096}, S_COLMAJOR, S_CONTIG}, /* the bench's transpose: partial tiles of 104 columns */
        {2, {1000, 520}, S_COLMAJOR, S_CONTIG},  /* partial along both dims */
        {2, {96, 160}, S_COLMAJOR, S_CONTIG},    /* one partial tile along B */
        {2, {256, 128}, S_COLMAJOR, S_CONTIG},   /* whole tiles only */
        {2, {136, 1000}, S_CONTIG, S_COLMAJOR},  /* the other way round */
        {3, {48, 3, 272}, S_COLMAJOR, S_CONTIG}, /* batched */
        {2, {80, 208}, S_COLPAD, S_CONTIG},      /* a strided source: pitch 96 */
        {2, {112, 64}, S_CONTIG, S_COLPAD},      /* a strided destination */
        {3, {64, 5, 96}, S_COLPAD, S_CONTIG},    /* strided batch and rows */
        {2, {64, 70}, S_COLMAJOR, S_CONTIG},     /* an odd dst pitch: by element */
        {2, {131, 257}, S_COLMAJOR, S_CONTIG},   /* odd everything */
        {2, {1001, 1999}, S_COLMAJOR, S_CONTIG}, /* many tiles, odd extents: by element */
    };
    unsetenv("BARACUDA_TILE_LONG");
    long_tile_case(ctx, BRC_BF16, &tc[0], 700, "long-tile transpose bf16 by the rule");
    setenv("BARACUDA_TILE_LONG", "1", 1);
    static const brc_dtype dts[2] = {BRC_BF16, BRC_I16};
    for (int di = 0; di < 2; di++)
        for (int c = 0; c < (int)(sizeof tc / sizeof tc[0]); c++) {
            char what[96];
            snprintf(what, sizeof what, "long-tile transpose %s case %d", brc_dtype_name(dts[di]), c);
            long_tile_case(ctx, dts[di], &tc[c], 701 + (uint64_t)c * 37 + (uint64_t)di, what);
        }
    /* A source one element into its buffer: every tile by element (pointer alignment). */
    misaligned_transpose(ctx, BRC_BF16, 392, 77, "tile=64x128", "misaligned long-tile transpose");
    unsetenv("BARACUDA_TILE_LONG");
    brc_context_destroy(ctx);
}

/* Runs a copy plan of n contiguous elements from x + sx into y + sy for the four shifts sx, sy in
 * {0, 1} (x and y hold n + 1 elements; y reset to its initial bits each time) and checks every
 * element of y: the n copied ones against x, the other one unchanged. */
static void copy_at_every_shift(const brc_plan *p, const tv *x, tv *y, int64_t n, const char *what) {
    const size_t es = esz(y);
    for (int sx = 0; sx < 2; sx++)
        for (int sy = 0; sy < 2; sy++) {
            memcpy(y->b.h, y->init, y->b.n * es);
            tu_buf_upload(&y->b);
            cr_assert_eq(brc_copy_run(p, (char *)dptr(x) + sx * es, (char *)dptr(y) + sy * es, NULL), BRC_STATUS_OK,
                         "%s", brc_last_error());
            sync_ok(what);
            tu_buf_download(&y->b);
            long bad = 0, stray = 0;
            for (int64_t i = 0; i <= n; i++) {
                bool in = i >= sy && i < sy + n;
                const unsigned char *want = in ? x->init + (size_t)(i - sy + sx) * es : y->init + (size_t)i * es;
                if (memcmp(y->b.h + (size_t)i * es, want, es) != 0) (in ? bad++ : stray++);
            }
            cr_expect(bad == 0 && stray == 0, "%s shift x %d y %d: %ld wrong, %ld stray (%s)", what, sx, sy, bad,
                      stray, brc_plan_sku(p));
        }
}

/* Views that start one element into their buffers: the vector kernel's scalar fallback. */
Test(movement, copy_misaligned_views_take_the_scalar_path, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    for (int si = 0; si < 3; si++) {
        brc_dtype dt = by_size[si];
        uint64_t rng = 77 + (uint64_t)si;
        int64_t n[1] = {100001}, n1[1] = {100002};
        tv x = tv_new(dt, 1, n1, S_CONTIG, 1, &rng), y = tv_new(dt, 1, n1, S_CONTIG, 0, &rng);
        brc_copy_desc d;
        brc_tensor_desc_contiguous(&d.x, dt, 1, n);
        d.y = d.x;
        brc_plan *p = NULL;
        cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        copy_at_every_shift(p, &x, &y, n[0], brc_dtype_name(dt));
        brc_plan_destroy(p);
        tv_free(&x), tv_free(&y);
    }
    brc_context_destroy(ctx);
}

/* A copy of 64 MiB and more takes the kernel with cache hints (COPY_HINT_BYTES: ld.global.nc, st.global.cs):
 * bit-exact, aligned or one element off (the scalar path of the same kernel), nothing outside y written. */
Test(movement, copy_of_64_mib_takes_cache_hints, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 4242;
    int64_t n[1] = {((int64_t)32 << 20) + 24}, n1[1] = {n[0] + 1};
    tv x = tv_new(BRC_BF16, 1, n1, S_CONTIG, 1, &rng), y = tv_new(BRC_BF16, 1, n1, S_CONTIG, 0, &rng);
    brc_copy_desc d;
    brc_tensor_desc_contiguous(&d.x, BRC_BF16, 1, n);
    d.y = d.x;
    brc_plan *p = NULL;
    cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(strstr(brc_plan_descriptor(p), ",hint=1") != NULL, "64 MiB copy without hints: %s", brc_plan_descriptor(p));
    copy_at_every_shift(p, &x, &y, n[0], "64 MiB copy");
    brc_plan_destroy(p);
    tv_free(&x), tv_free(&y);
    brc_context_destroy(ctx);
}

/* Programmatic dependent launches (sm_90 and newer, SKU +pdl): each kernel of the family waits for
 * the kernels before it in the stream before it touches memory. A chain of rounds in one stream, then
 * the same chain captured into a graph and replayed; round r: an 8 MiB copy from X0 or X1
 * (alternating) into B (one wave of CTAs on an H100, all started, so the next kernel may launch while
 * they stream), then small copies of B's last 64 Ki elements into T1, T1 into T2 and T2 into slot r
 * of D, and the next round overwriting B, T1 and T2 while the copies before may still read them. A
 * dependent that did not wait would read the round before's bytes, or a buffer half written. */
Test(movement, programmatic_launches_wait_for_the_kernel_before, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    setenv("BARACUDA_COPY_MEMCPY", "0", 1); /* the small copies are kernels on every GPU */
    enum { ROUNDS = 16, LINKS = 3 };
    const int64_t n = (int64_t)2 << 20, t = (int64_t)1 << 16;
    uint64_t rng = 77;
    tu_buf X[2] = {tu_buf_new(BRC_I32, (size_t)n), tu_buf_new(BRC_I32, (size_t)n)};
    tu_buf B = tu_buf_new(BRC_I32, (size_t)n), T = tu_buf_new(BRC_I32, (size_t)(2 * t));
    tu_buf D = tu_buf_new(BRC_I32, (size_t)(ROUNDS * t));
    for (int k = 0; k < 2; k++) {
        for (int64_t i = 0; i < n; i++) ((uint32_t *)X[k].h)[i] = (uint32_t)tu_rand(&rng);
        tu_buf_upload(&X[k]);
    }
    int64_t nn[1] = {n}, tt[1] = {t};
    brc_copy_desc big, tail;
    brc_tensor_desc_contiguous(&big.x, BRC_I32, 1, nn);
    big.y = big.x;
    brc_tensor_desc_contiguous(&tail.x, BRC_I32, 1, tt);
    tail.y = tail.x;
    brc_plan *pb = NULL, *pt = NULL;
    cr_assert_eq(brc_copy_plan(ctx, &big, NULL, &pb), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_copy_plan(ctx, &tail, NULL, &pt), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_COPY_MEMCPY");
    const bool pdl = ctx->sm_major >= 9;
    cr_expect((strstr(brc_plan_sku(pb), "+pdl@") != NULL) == pdl, "%s", brc_plan_sku(pb));
    cr_expect((strstr(brc_plan_sku(pt), "+pdl@") != NULL) == pdl, "%s", brc_plan_sku(pt));
    char *b = (char *)(uintptr_t)B.d, *tb = (char *)(uintptr_t)T.d, *db = (char *)(uintptr_t)D.d;
    /* link l of a round: its source and destination */
    const char *src[LINKS] = {b + (n - t) * 4, tb, tb + t * 4};
    char *dst[LINKS] = {tb, tb + t * 4, NULL};
    for (int graph = 0; graph < 2; graph++) {
        memset(D.h, 0xA5, D.n * 4);
        tu_buf_upload(&D);
        tu_capture cg = {0};
        CUstream s = NULL;
        if (graph) {
            cg = tu_capture_begin(CU_STREAM_NON_BLOCKING);
            s = cg.s;
        } else {
            cr_assert_eq(brc__cu()->cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
        }
        for (int r = 0; r < ROUNDS; r++) {
            cr_assert_eq(brc_copy_run(pb, (const void *)(uintptr_t)X[r & 1].d, b, (brc_stream)s), BRC_STATUS_OK,
                         "%s", brc_last_error());
            for (int l = 0; l < LINKS; l++)
                cr_assert_eq(brc_copy_run(pt, src[l], dst[l] ? dst[l] : db + r * t * 4, (brc_stream)s),
                             BRC_STATUS_OK, "%s", brc_last_error());
        }
        if (graph) {
            tu_capture_end(&cg);
            tu_capture_replay(&cg);
            tu_capture_free(&cg);
        } else {
            cr_assert_eq(brc__cu()->cuStreamSynchronize(s), CUDA_SUCCESS);
            brc__cu()->cuStreamDestroy(s);
        }
        tu_buf_download(&D);
        long bad = 0;
        for (int r = 0; r < ROUNDS; r++)
            for (int64_t i = 0; i < t; i++)
                bad += ((const uint32_t *)D.h)[r * t + i] != ((const uint32_t *)X[r & 1].h)[n - t + i];
        cr_expect_eq(bad, 0, "%s: %ld of %lld elements at the chain's end wrong (%s, %s)", graph ? "graph" : "stream",
                     bad, (long long)(ROUNDS * t), brc_plan_sku(pb), brc_plan_sku(pt));
    }
    brc_plan_destroy(pb);
    brc_plan_destroy(pt);
    tu_buf_free(&X[0]), tu_buf_free(&X[1]), tu_buf_free(&B), tu_buf_free(&T), tu_buf_free(&D);
    brc_context_destroy(ctx);
}

Test(movement, permute_and_flip, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 4242;
    static const struct {
        int rank;
        int64_t shape[4];
        int perm[4];
        int sx;
    } pc[] = {
        {2, {300, 200}, {1, 0}, S_CONTIG},         {3, {4, 33, 65}, {0, 2, 1}, S_CONTIG},
        {4, {2, 37, 8, 64}, {0, 2, 1, 3}, S_CONTIG}, {4, {3, 5, 7, 9}, {3, 1, 0, 2}, S_PAD},
        {4, {2, 3, 40, 50}, {0, 3, 1, 2}, S_NEG},   {3, {17, 18, 19}, {2, 0, 1}, S_PERM},
    };
    for (int si = 0; si < 4; si++)
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++) {
            brc_dtype dt = by_size[si];
            int64_t ys[4];
            for (int i = 0; i < pc[c].rank; i++) ys[i] = pc[c].shape[pc[c].perm[i]];
            tv x = tv_new(dt, pc[c].rank, pc[c].shape, pc[c].sx, 1, &rng), y = tv_new(dt, pc[c].rank, ys, S_CONTIG, 0, &rng);
            brc_permute_desc d = {x.t, y.t, {0}};
            memcpy(d.perm, pc[c].perm, sizeof pc[c].perm);
            brc_plan *p = NULL;
            cr_assert_eq(brc_permute_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s", brc_last_error());
            sync_ok("permute");
            tu_buf_download(&y.b);
            map_arg m = {pc[c].rank, {0}, {0}, pc[c].shape};
            memcpy(m.perm, pc[c].perm, sizeof m.perm);
            const tv *xs[1] = {&x};
            char what[64];
            snprintf(what, sizeof what, "permute %s case %zu", brc_dtype_name(dt), c);
            result r = check_y(&y, xs, ex_map, &m, NULL);
            EXPECT_OK(r, what, p);
            brc_plan_destroy(p);
            tv_free(&y);
            /* flip: dims 0 and the last, then every dim. */
            for (int f = 0; f < 2; f++) {
                y = tv_new(dt, pc[c].rank, pc[c].shape, f ? S_NEG : S_CONTIG, 0, &rng);
                brc_flip_desc fd = {x.t, y.t, f ? pc[c].rank : 2, {0, -1, 1, 2}};
                cr_assert_eq(brc_flip_plan(ctx, &fd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
                cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s", brc_last_error());
                sync_ok("flip");
                tu_buf_download(&y.b);
                map_arg fm = {pc[c].rank, {0, 1, 2, 3}, {0}, pc[c].shape};
                for (int i = 0; i < fd.ndims; i++) fm.flip[(fd.dims[i] + pc[c].rank) % pc[c].rank] = 1;
                snprintf(what, sizeof what, "flip %s case %zu all %d", brc_dtype_name(dt), c, f);
                r = check_y(&y, xs, ex_map, &fm, NULL);
                EXPECT_OK(r, what, p);
                brc_plan_destroy(p);
                tv_free(&y);
            }
            tv_free(&x);
        }
    brc_context_destroy(ctx);
}

/* ---- roll, repeat ------------------------------------------------------------------------------------- */

typedef struct roll_arg {
    int rank, ndims, dims[4];
    int64_t shifts[4];
    const int64_t *shape;
} roll_arg;
static int ex_roll(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const roll_arg *a = arg;
    *k = 0;
    for (int d = 0; d < a->rank; d++) xc[d] = yc[d];
    for (int i = 0; i < a->ndims; i++) {
        int d = a->dims[i];
        int64_t n = a->shape[d], s = ((a->shifts[i] % n) + n) % n;
        xc[d] = ((yc[d] - s) % n + n) % n; /* y[(i + s) mod n] = x[i] */
    }
    return EX_INPUT;
}

typedef struct rep_arg {
    int ry, rx;
    const int64_t *xshape;
} rep_arg;
static int ex_rep(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const rep_arg *a = arg;
    *k = 0;
    for (int d = 0; d < a->rx; d++) xc[d] = yc[d + a->ry - a->rx] % a->xshape[d];
    return EX_INPUT;
}

Test(movement, roll_and_repeat, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 99;
    for (int si = 0; si < 4; si++) {
        brc_dtype dt = by_size[si];
        int64_t s3[3] = {6, 35, 64};
        static const struct {
            int nd, dims[2];
            int64_t sh[2];
        } rc[] = {{1, {2}, {5}}, {1, {2}, {-3}}, {1, {1}, {35}}, {2, {0, 2}, {-7, 130}}, {2, {1, 2}, {8, 32}}};
        for (size_t c = 0; c < sizeof rc / sizeof rc[0]; c++)
            for (int lay = 0; lay < 2; lay++) {
                tv x = tv_new(dt, 3, s3, lay ? S_NEG : S_CONTIG, 1, &rng), y = tv_new(dt, 3, s3, lay ? S_PAD : S_CONTIG, 0, &rng);
                brc_roll_desc d = {x.t, y.t, rc[c].nd, {rc[c].dims[0], rc[c].dims[1]}, {rc[c].sh[0], rc[c].sh[1]}};
                brc_plan *p = NULL;
                cr_assert_eq(brc_roll_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
                cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s", brc_last_error());
                sync_ok("roll");
                tu_buf_download(&y.b);
                roll_arg a = {3, rc[c].nd, {rc[c].dims[0], rc[c].dims[1]}, {rc[c].sh[0], rc[c].sh[1]}, s3};
                const tv *xs[1] = {&x};
                char what[64];
                snprintf(what, sizeof what, "roll %s case %zu layout %d", brc_dtype_name(dt), c, lay);
                result r = check_y(&y, xs, ex_roll, &a, NULL);
                EXPECT_OK(r, what, p);
                brc_plan_destroy(p);
                tv_free(&x), tv_free(&y);
            }
        /* repeat: [5, 7] by (3, 2); [33] into rank 3 by (2, 3, 4); [4, 1, 8] by (1, 5, 2) (strided x). */
        static const struct {
            int rx, ry;
            int64_t xs[3], reps[3];
            int sx;
        } pc[] = {{2, 2, {5, 7}, {3, 2}, S_CONTIG}, {1, 3, {33}, {2, 3, 4}, S_CONTIG}, {3, 3, {4, 1, 8}, {1, 5, 2}, S_PAD}};
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++) {
            int64_t ys[3];
            for (int d = 0; d < pc[c].ry; d++) {
                int xd = d - (pc[c].ry - pc[c].rx);
                ys[d] = pc[c].reps[d] * (xd >= 0 ? pc[c].xs[xd] : 1);
            }
            tv x = tv_new(dt, pc[c].rx, pc[c].xs, pc[c].sx, 1, &rng), y = tv_new(dt, pc[c].ry, ys, S_PAD, 0, &rng);
            brc_repeat_desc d = {x.t, y.t, {pc[c].reps[0], pc[c].reps[1], pc[c].reps[2]}};
            brc_plan *p = NULL;
            cr_assert_eq(brc_repeat_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc_copy_run(p, dptr(&x), dptr(&y), NULL), BRC_STATUS_OK, "%s", brc_last_error());
            sync_ok("repeat");
            tu_buf_download(&y.b);
            rep_arg a = {pc[c].ry, pc[c].rx, pc[c].xs};
            const tv *xs[1] = {&x};
            char what[64];
            snprintf(what, sizeof what, "repeat %s case %zu", brc_dtype_name(dt), c);
            result r = check_y(&y, xs, ex_rep, &a, NULL);
            EXPECT_OK(r, what, p);
            brc_plan_destroy(p);
            tv_free(&x), tv_free(&y);
        }
    }
    brc_context_destroy(ctx);
}

/* ---- concat and split ------------------------------------------------------------------------------------ */

typedef struct cat_arg {
    int dim, n;
    int64_t off[32];
} cat_arg;
static int ex_cat(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const cat_arg *a = arg;
    int i = 0;
    while (i + 1 < a->n && yc[a->dim] >= a->off[i + 1]) i++;
    *k = i;
    for (int d = 0; d < BRC_MAX_RANK; d++) xc[d] = yc[d];
    xc[a->dim] -= a->off[i];
    return EX_INPUT;
}
/* Split output i: x at coords shifted by the piece's offset. */
typedef struct split_arg {
    int dim;
    int64_t off;
} split_arg;
static int ex_split(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const split_arg *a = arg;
    *k = 0;
    for (int d = 0; d < BRC_MAX_RANK; d++) xc[d] = yc[d];
    xc[a->dim] += a->off;
    return EX_INPUT;
}

static void run_cat(brc_context *ctx, brc_dtype dt, int rank, const int64_t *shape, int dim, int n,
                    const int64_t *sizes, int style, uint64_t *rng, const char *name) {
    tv parts[32];
    brc_tensor_desc pd[32];
    cat_arg a = {dim, n, {0}};
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t s[4];
        memcpy(s, shape, sizeof s);
        s[dim] = sizes[i];
        a.off[i] = total;
        total += sizes[i];
        parts[i] = tv_new(dt, rank, s, (i % 3 == 1) ? style : S_CONTIG, 1, rng);
        pd[i] = parts[i].t;
    }
    int64_t ys[4];
    memcpy(ys, shape, sizeof ys);
    ys[dim] = total;
    tv y = tv_new(dt, rank, ys, style == S_NEG ? S_PAD : style, 0, rng);
    brc_concat_desc d = {n, pd, y.t, dim - rank};
    brc_plan *p = NULL;
    cr_assert_eq(brc_concat_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s", name, brc_last_error());
    const void *xp[32];
    for (int i = 0; i < n; i++) xp[i] = dptr(&parts[i]);
    cr_assert_eq(brc_concat_run(p, xp, dptr(&y), NULL), BRC_STATUS_OK, "%s: %s", name, brc_last_error());
    sync_ok(name);
    tu_buf_download(&y.b);
    const tv *xs[32];
    for (int i = 0; i < n; i++) xs[i] = &parts[i];
    char what[96];
    snprintf(what, sizeof what, "concat %s %s", brc_dtype_name(dt), name);
    result r = check_y(&y, xs, ex_cat, &a, NULL);
    EXPECT_OK(r, what, p);
    cr_log_info("%s: %s", what, brc_plan_sku(p));
    brc_plan_destroy(p);
    /* split y (now holding the concatenation) back into fresh poisoned parts. */
    tv outs[32];
    for (int i = 0; i < n; i++) {
        int64_t s[4];
        memcpy(s, shape, sizeof s);
        s[dim] = sizes[i];
        outs[i] = tv_new(dt, rank, s, (i % 2) ? S_PAD : S_CONTIG, 0, rng);
        pd[i] = outs[i].t;
    }
    memcpy(y.init, y.b.h, y.b.n * esz(&y)); /* x of the split: its current bytes */
    brc_split_desc sd = {y.t, n, pd, dim};
    cr_assert_eq(brc_split_plan(ctx, &sd, NULL, &p), BRC_STATUS_OK, "%s: %s", name, brc_last_error());
    void *yp[32];
    for (int i = 0; i < n; i++) yp[i] = dptr(&outs[i]);
    cr_assert_eq(brc_split_run(p, dptr(&y), yp, NULL), BRC_STATUS_OK, "%s: %s", name, brc_last_error());
    sync_ok(name);
    snprintf(what, sizeof what, "split %s %s", brc_dtype_name(dt), name);
    const tv *src[1] = {&y};
    for (int i = 0; i < n; i++) {
        tu_buf_download(&outs[i].b);
        split_arg sa = {dim, a.off[i]};
        r = check_y(&outs[i], src, ex_split, &sa, NULL);
        EXPECT_OK(r, what, p);
        tv_free(&outs[i]);
    }
    brc_plan_destroy(p);
    for (int i = 0; i < n; i++) tv_free(&parts[i]);
    tv_free(&y);
}

Test(movement, concat_and_split, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 31337;
    for (int si = 0; si < 4; si++) {
        brc_dtype dt = by_size[si];
        int64_t sh[4] = {3, 40, 17, 64}, aligned[3] = {8, 24, 32};
        int64_t odd[3] = {13, 1, 50}, with0[4] = {16, 0, 24, 7}, many[20];
        for (int i = 0; i < 20; i++) many[i] = 1 + (i * 7) % 13;
        run_cat(ctx, dt, 4, sh, 0, 3, odd, S_CONTIG, &rng, "dim 0");
        run_cat(ctx, dt, 4, sh, 1, 3, odd, S_PAD, &rng, "dim 1 padded");
        run_cat(ctx, dt, 4, sh, 3, 4, with0, S_CONTIG, &rng, "dim 3 with an empty part");
        run_cat(ctx, dt, 4, sh, 2, 20, many, S_NEG, &rng, "dim 2, 20 parts, negative strides");
        run_cat(ctx, dt, 4, sh, 3, 20, many, S_PERM, &rng, "dim 3, 20 parts, permuted");
        int64_t sh3[3] = {5, 7, 64};
        run_cat(ctx, dt, 3, sh3, 2, 3, aligned, S_CONTIG, &rng, "dim 2 aligned");
    }
    brc_context_destroy(ctx);
}

/* ---- slice and write_slice -------------------------------------------------------------------------------- */

typedef struct sl_arg {
    int dim, write;
    int64_t start, step, len;
} sl_arg;
static int ex_slice(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const sl_arg *a = arg;
    *k = 0;
    for (int d = 0; d < BRC_MAX_RANK; d++) xc[d] = yc[d];
    if (!a->write) {
        xc[a->dim] = a->start + yc[a->dim] * a->step;
        return EX_INPUT;
    }
    int64_t r = yc[a->dim] - a->start;
    if (r < 0 || r % a->step || r / a->step >= a->len) return EX_KEEP;
    xc[a->dim] = r / a->step;
    return EX_INPUT;
}

static void upload_start(tu_buf *s, int64_t v) {
    memcpy(s->h, &v, 8);
    tu_buf_upload(s);
}

Test(movement, slice_and_write_slice, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 555;
    tu_buf S = tu_buf_new(BRC_I64, 1);
    static const struct {
        int dim;
        int64_t len, step, start;
        int dyn;
    } sc[] = {{1, 10, 1, 5, 0}, {1, 64, 1, 30, 0}, {2, 7, 3, 2, 0}, {0, 2, 2, 0, 0}, {1, 10, 1, 17, 1},
              {2, 5, 2, 0, 1},  {1, 10, 1, -5, 1}, {1, 10, 1, 1000, 1}, {3, 16, 1, 48, 1}};
    int64_t full[4] = {3, 100, 30, 64};
    for (int si = 0; si < 4; si++) {
        brc_dtype dt = by_size[si];
        for (size_t c = 0; c < sizeof sc / sizeof sc[0]; c++)
            for (int write = 0; write < 2; write++) {
                int64_t ps[4];
                memcpy(ps, full, sizeof ps);
                ps[sc[c].dim] = sc[c].len;
                int64_t n = full[sc[c].dim], maxs = n - 1 - (sc[c].len - 1) * sc[c].step;
                int64_t eff = sc[c].start < 0 ? 0 : sc[c].start > maxs ? maxs : sc[c].start; /* the clamp */
                tv x = write ? tv_new(dt, 4, ps, S_PAD, 1, &rng) : tv_new(dt, 4, full, c % 2 ? S_NEG : S_CONTIG, 1, &rng);
                tv y = write ? tv_new(dt, 4, full, c % 2 ? S_PAD : S_CONTIG, 1, &rng) : tv_new(dt, 4, ps, S_CONTIG, 0, &rng);
                brc_slice_desc d = {x.t, y.t, sc[c].dim, sc[c].dyn, sc[c].dyn ? 0 : sc[c].start, sc[c].step};
                brc_plan *p = NULL;
                brc_status st = write ? brc_write_slice_plan(ctx, &d, NULL, &p) : brc_slice_plan(ctx, &d, NULL, &p);
                cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
                upload_start(&S, sc[c].start);
                const int64_t *sp = sc[c].dyn ? (const int64_t *)(uintptr_t)S.d : NULL;
                st = write ? brc_write_slice_run(p, dptr(&x), dptr(&y), sp, NULL) : brc_slice_run(p, dptr(&x), dptr(&y), sp, NULL);
                cr_assert_eq(st, BRC_STATUS_OK, "%s", brc_last_error());
                sync_ok("slice");
                tu_buf_download(&y.b);
                sl_arg a = {sc[c].dim, write, eff, sc[c].step, sc[c].len};
                const tv *xs[1] = {&x};
                char what[96];
                snprintf(what, sizeof what, "%s %s case %zu", write ? "write_slice" : "slice", brc_dtype_name(dt), c);
                result r = check_y(&y, xs, ex_slice, &a, NULL);
                EXPECT_OK(r, what, p);
                brc_plan_destroy(p);
                tv_free(&x), tv_free(&y);
            }
    }
    tu_buf_free(&S);
    brc_context_destroy(ctx);
}

/* A KV-cache append captured once into a CUDA graph and replayed at positions 0..5: the start is
 * read from device memory at each replay. */
Test(movement, write_slice_replays_from_a_captured_graph, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 8;
    int64_t cache[4] = {2, 4, 16, 64}, tok[4] = {2, 4, 1, 64};
    tv k = tv_new(BRC_BF16, 4, tok, S_CONTIG, 1, &rng), c = tv_new(BRC_BF16, 4, cache, S_CONTIG, 0, &rng);
    brc_slice_desc d = {k.t, c.t, 2, 1, 0, 1};
    brc_plan *p = NULL;
    cr_assert_eq(brc_write_slice_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf S = tu_buf_new(BRC_I64, 1);
    tu_capture cg = tu_capture_begin(0);
    cr_assert_eq(brc_write_slice_run(p, dptr(&k), dptr(&c), (const int64_t *)(uintptr_t)S.d, (brc_stream)cg.s),
                 BRC_STATUS_OK, "%s", brc_last_error());
    tu_capture_end(&cg);
    for (int64_t pos = 0; pos < 6; pos++) {
        upload_start(&S, pos);
        tu_capture_replay(&cg);
    }
    tu_buf_download(&c.b);
    long bad = 0;
    size_t es = 2;
    for (int64_t b = 0; b < 2; b++)
        for (int64_t h = 0; h < 4; h++)
            for (int64_t t = 0; t < 16; t++)
                for (int64_t e = 0; e < 64; e++) {
                    int64_t co = ((b * 4 + h) * 16 + t) * 64 + e, ko = (b * 4 + h) * 64 + e;
                    const unsigned char *want = t < 6 ? k.init + ko * es : c.init + co * es;
                    if (memcmp(c.b.h + co * es, want, es) != 0) bad++;
                }
    cr_expect_eq(bad, 0, "%ld elements differ after 6 replays (%s)", bad, brc_plan_sku(p));
    tu_capture_free(&cg);
    brc_plan_destroy(p);
    tu_buf_free(&S);
    tv_free(&k), tv_free(&c);
    brc_context_destroy(ctx);
}

/* ---- generators ---------------------------------------------------------------------------------------------- */

typedef struct gen_arg {
    int kind, rank;
    double a, b, step;
    int64_t n, k;
    brc_dtype dt;
    unsigned char konst[8];
} gen_arg;
/* Fills konst with the expected bytes (EX_CONST) or names the x element (EX_INPUT). */
static int ex_gen(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    gen_arg *g = (gen_arg *)(uintptr_t)arg;
    *k = 0;
    int64_t i = g->rank >= 2 ? yc[g->rank - 2] : 0, j = yc[g->rank - 1];
    double v = 0;
    switch (g->kind) {
    case BRC_FILL_FILL: v = g->a; break;
    case BRC_FILL_ARANGE:
        if (brc_dtype_is_integer(g->dt)) v = (double)((int64_t)g->a + j * (int64_t)g->b);
        else v = g->a + (double)j * g->b;
        break;
    case BRC_FILL_LINSPACE: v = j < g->n / 2 ? g->a + (double)j * g->step : g->b - (double)(g->n - 1 - j) * g->step; break;
    case BRC_FILL_EYE: v = j - i == g->k ? 1 : 0; break;
    default: {
        bool keep = g->kind == BRC_FILL_TRIU ? j - i >= g->k : j - i <= g->k;
        if (keep) {
            for (int d = 0; d < g->rank; d++) xc[d] = yc[d];
            return EX_INPUT;
        }
        memset(g->konst, 0, sizeof g->konst);
        return EX_CONST;
    }
    }
    tu_encode(g->dt, v, g->konst);
    return EX_CONST;
}

Test(movement, generators, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 2024;
    static const brc_dtype all[] = {BRC_F32, BRC_F64, BRC_F16, BRC_BF16, BRC_FP8E4M3, BRC_FP8E5M2, BRC_I8,
                                    BRC_U8,  BRC_I16, BRC_I32, BRC_I64,  BRC_U32,     BRC_BOOL};
    for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) {
        brc_dtype dt = all[t];
        bool isint = brc_dtype_is_integer(dt) != 0;
        struct {
            int kind, rank;
            int64_t shape[3];
            int style;
            double a, b;
            int64_t k;
        } gc[] = {
            {BRC_FILL_FILL, 2, {1000, 4097}, S_CONTIG, 3.25, 0, 0},
            {BRC_FILL_FILL, 3, {5, 7, 9}, S_NEG, dt == BRC_U8 || dt == BRC_U32 ? 2.5 : -2.5, 0, 0},
            {BRC_FILL_ARANGE, 1, {100003}, S_CONTIG, isint ? 5 : 0.5, isint ? 1 : 0.25, 0},
            {BRC_FILL_ARANGE, 1, {77}, S_STEP, isint ? 100 : -3, isint ? -1 : 0.1, 0},
            /* Unsigned: the cast saturates negatives to 0 where the host model would wrap. */
            {BRC_FILL_LINSPACE, 1, {1001}, S_CONTIG, dt == BRC_U8 || dt == BRC_U32 ? 1 : -1, 2, 0},
            {BRC_FILL_LINSPACE, 1, {1}, S_CONTIG, 4, 9, 0},
            {BRC_FILL_EYE, 2, {33, 64}, S_CONTIG, 0, 0, 0},
            {BRC_FILL_EYE, 3, {3, 17, 9}, S_PAD, 0, 0, -2},
            {BRC_FILL_TRIU, 3, {4, 33, 64}, S_CONTIG, 0, 0, 1},
            {BRC_FILL_TRIU, 2, {40, 30}, S_COLMAJOR, 0, 0, -3},
            {BRC_FILL_TRIL, 3, {2, 64, 48}, S_NEG, 0, 0, 0},
            {BRC_FILL_TRIL, 2, {9, 128}, S_CONTIG, 0, 0, 5},
        };
        for (size_t c = 0; c < sizeof gc / sizeof gc[0]; c++) {
            if (dt == BRC_BOOL && (gc[c].kind == BRC_FILL_ARANGE || gc[c].kind == BRC_FILL_LINSPACE)) continue;
            /* Integer arange: every value must fit (the plan refuses others). */
            if (gc[c].kind == BRC_FILL_ARANGE && (dt == BRC_I8 || dt == BRC_U8 || dt == BRC_I16) && gc[c].shape[0] > 200)
                continue;
            bool tri = gc[c].kind == BRC_FILL_TRIU || gc[c].kind == BRC_FILL_TRIL;
            tv y = tv_new(dt, gc[c].rank, gc[c].shape, gc[c].style, 0, &rng), x = {0};
            if (tri) x = tv_new(dt, gc[c].rank, gc[c].shape, S_PAD, 1, &rng);
            brc_fill_desc d = {(brc_fill_kind)gc[c].kind, y.t, tri ? x.t : y.t, gc[c].a, gc[c].b, gc[c].k};
            brc_plan *p = NULL;
            char what[96];
            snprintf(what, sizeof what, "fill kind %d %s case %zu", gc[c].kind, brc_dtype_name(dt), c);
            cr_assert_eq(brc_fill_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                         brc_last_jit_log());
            cr_assert_eq(brc_fill_run(p, tri ? dptr(&x) : NULL, dptr(&y), NULL), BRC_STATUS_OK, "%s", brc_last_error());
            sync_ok(what);
            tu_buf_download(&y.b);
            int64_t n = gc[c].shape[0];
            gen_arg g = {gc[c].kind, gc[c].rank, gc[c].a, gc[c].b, n > 1 ? (gc[c].b - gc[c].a) / (double)(n - 1) : 0,
                         n, gc[c].k, dt, {0}};
            const tv *xs[1] = {&x};
            result r = check_y(&y, xs, ex_gen, &g, g.konst);
            EXPECT_OK(r, what, p);
            brc_plan_destroy(p);
            tv_free(&y);
            if (tri) {
                /* In place: x becomes its own triangle. */
                brc_fill_desc ip = {(brc_fill_kind)gc[c].kind, x.t, x.t, 0, 0, gc[c].k};
                cr_assert_eq(brc_fill_plan(ctx, &ip, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
                cr_assert_eq(brc_fill_run(p, dptr(&x), dptr(&x), NULL), BRC_STATUS_OK, "%s", brc_last_error());
                sync_ok(what);
                tu_buf_download(&x.b);
                r = check_y(&x, xs, ex_gen, &g, g.konst);
                EXPECT_OK(r, what, p);
                brc_plan_destroy(p);
                tv_free(&x);
            }
        }
    }
    brc_context_destroy(ctx);
}

/* Small contiguous fills of a value the dtype holds exactly take the driver's memset (FILL_MEMSET_BYTES,
 * SKU driver:memset): every dtype it covers at 64 x 1024 (D32), 1001 elements (odd bytes: D16 for 2-byte
 * elements, D8 for 1-byte) and 1001 elements based one element into the buffer (a y that is not 4-byte
 * aligned), each checked against the host's encoding with the buffer around it untouched; an 8-byte value
 * whose halves differ keeps the kernel. Then one captured and replayed with y poisoned between replays. */
Test(movement, small_fills_take_the_driver_memset, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 4242;
    static const struct {
        brc_dtype dt;
        double v;
        bool mset;
    } fv[] = {{BRC_F32, -2.5, true}, {BRC_F32, 0, true},     {BRC_BF16, 1.5, true}, {BRC_F16, -0x1.ff8p-15, true},
              {BRC_F16, 65504, true}, {BRC_F64, 0, true},    {BRC_F64, -2.5, false}, {BRC_I64, -1, true},
              {BRC_I8, -7, true},     {BRC_U8, 255, true},   {BRC_I16, -300, true},  {BRC_I32, 123456789, true},
              {BRC_U32, 4294967295.0, true}, {BRC_BOOL, 1, true}};
    /* Pass 0 without programmatic dependent launches (BARACUDA_MV_PDL=0, as on sm_80): the memset
     * rule; pass 1 as the GPU comes: with them (sm_90 and newer) every case is a kernel. */
    const bool pdl = ctx->sm_major >= 9;
    const size_t nf = sizeof fv / sizeof fv[0];
    for (size_t k = 0; k < 2 * nf; k++) {
        const size_t pass = k / nf, i = k % nf;
        if (i == 0) pass == 0 ? setenv("BARACUDA_MV_PDL", "0", 1) : unsetenv("BARACUDA_MV_PDL");
        for (int ci = 0; ci < 3; ci++) {
            int64_t sh[2] = {64, 1024}, n1[1] = {1001 + 2};
            tv y = ci == 0 ? tv_new(fv[i].dt, 2, sh, S_CONTIG, 0, &rng) : tv_new(fv[i].dt, 1, n1, S_CONTIG, 0, &rng);
            if (ci > 0) y.t.shape[0] = 1001, y.base = ci == 2 ? 1 : 0;
            char what[96];
            snprintf(what, sizeof what, "memset fill %s %g case %d pass %zu", brc_dtype_name(fv[i].dt), fv[i].v, ci,
                     pass);
            brc_fill_desc d = {BRC_FILL_FILL, y.t, y.t, fv[i].v, 0, 0};
            brc_plan *p = NULL;
            cr_assert_eq(brc_fill_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
            cr_expect((strstr(brc_plan_sku(p), "driver:memset<") == brc_plan_sku(p)) == (fv[i].mset && !(pass && pdl)),
                      "%s: %s", what, brc_plan_sku(p));
            cr_assert_eq(brc_fill_run(p, NULL, dptr(&y), NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
            sync_ok(what);
            tu_buf_download(&y.b);
            gen_arg g = {BRC_FILL_FILL, y.t.rank, fv[i].v, 0, 0, 0, 0, fv[i].dt, {0}};
            result r = check_y(&y, NULL, ex_gen, &g, g.konst);
            EXPECT_OK(r, what, p);
            brc_plan_destroy(p);
            tv_free(&y);
        }
    }
    /* Captured: a memset node (BARACUDA_MV_PDL=0); y poisoned again before each replay. */
    int64_t sh[2] = {64, 1024};
    tv y = tv_new(BRC_F32, 2, sh, S_CONTIG, 0, &rng);
    brc_fill_desc d = {BRC_FILL_FILL, y.t, y.t, 0.75, 0, 0};
    brc_plan *p = NULL;
    setenv("BARACUDA_MV_PDL", "0", 1);
    cr_assert_eq(brc_fill_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    unsetenv("BARACUDA_MV_PDL");
    cr_expect(strstr(brc_plan_sku(p), "driver:memset<b4>") == brc_plan_sku(p), "%s", brc_plan_sku(p));
    tu_capture c = tu_capture_begin(0);
    cr_assert_eq(brc_fill_run(p, NULL, dptr(&y), (brc_stream)c.s), BRC_STATUS_OK, "%s", brc_last_error());
    tu_capture_end(&c);
    for (int round = 0; round < 3; round++) {
        memcpy(y.b.h, y.init, y.b.n * 4);
        tu_buf_upload(&y.b);
        tu_capture_replay(&c);
        tu_buf_download(&y.b);
        gen_arg g = {BRC_FILL_FILL, 2, 0.75, 0, 0, 0, 0, BRC_F32, {0}};
        result r = check_y(&y, NULL, ex_gen, &g, g.konst);
        EXPECT_OK(r, "memset fill replay", p);
    }
    tu_capture_free(&c);
    brc_plan_destroy(p);
    tv_free(&y);
    brc_context_destroy(ctx);
}

/* ---- pad ------------------------------------------------------------------------------------------------------ */

/* The x coordinate a padded coordinate c reads (-1: the constant), by unfolding the definition. */
static int64_t pad_src(int mode, int64_t c, int64_t n) {
    if (c >= 0 && c < n) return c;
    switch (mode) {
    case BRC_PAD_CONSTANT: return -1;
    case BRC_PAD_REFLECT: return c < 0 ? -c : (n - 1) - (c - (n - 1));
    case BRC_PAD_REPLICATE: return c < 0 ? 0 : n - 1;
    default: return ((c % n) + n) % n;
    }
}

typedef struct pad_arg {
    int mode, rank;
    const int64_t *lo, *xshape;
} pad_arg;
static int ex_pad(const void *arg, const int64_t *yc, int *k, int64_t *xc) {
    const pad_arg *a = arg;
    *k = 0;
    for (int d = 0; d < a->rank; d++) {
        xc[d] = pad_src(a->mode, yc[d] - a->lo[d], a->xshape[d]);
        if (xc[d] < 0) return EX_CONST;
    }
    return EX_INPUT;
}

/* Plans and runs a pad forward, checks y against the host model and frees x and y. */
static void pad_fwd_check(brc_context *ctx, const brc_pad_desc *d, tv *x, tv *y, int rank, const int64_t *lo,
                          const int64_t *xshape, double value, const char *what) {
    brc_plan *p = NULL;
    cr_assert_eq(brc_pad_plan(ctx, d, NULL, &p), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    cr_assert_eq(brc_pad_run(p, dptr(x), dptr(y), NULL), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    sync_ok(what);
    tu_buf_download(&y->b);
    unsigned char konst[8];
    tu_encode(d->x.dtype, value, konst);
    pad_arg a = {(int)d->mode, rank, lo, xshape};
    const tv *xs[1] = {x};
    result r = check_y(y, xs, ex_pad, &a, konst);
    EXPECT_OK(r, what, p);
    brc_plan_destroy(p);
    tv_free(x), tv_free(y);
}

Test(movement, pad_forward_and_backward, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 1234;
    static const struct {
        int rank;
        int64_t shape[4], lo[4], hi[4];
    } pc[] = {
        {1, {7}, {3}, {2}},
        {2, {5, 9}, {4, 0}, {1, 8}},
        {4, {2, 3, 8, 8}, {0, 0, 1, 2}, {0, 0, 3, 1}},
        {3, {4, 1, 6}, {1, 0, 5}, {0, 0, 5}},
        {3, {3, 33, 20}, {0, 2, 2}, {0, 3, 2}},
        {2, {3, 1500}, {1, 700}, {2, 9}},   /* rows of several 512-element units */
        {1, {1100}, {3}, {600}},
    };
    static const brc_dtype fwd_dt[] = {BRC_F32, BRC_BF16, BRC_U8, BRC_I64};
    static const brc_dtype bwd_dt[] = {BRC_F32, BRC_F64, BRC_BF16, BRC_F16};
    for (int mode = 0; mode < 4; mode++)
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++) {
            int64_t lo[8] = {0}, hi[8] = {0}, ys[4];
            bool ok = true;
            for (int d = 0; d < pc[c].rank; d++) {
                lo[d] = pc[c].lo[d], hi[d] = pc[c].hi[d];
                int64_t n = pc[c].shape[d];
                if (mode == BRC_PAD_REFLECT && (lo[d] >= n || hi[d] >= n)) ok = false;
                if (mode == BRC_PAD_CIRCULAR && (lo[d] > n || hi[d] > n)) ok = false;
                ys[d] = n + lo[d] + hi[d];
            }
            if (!ok) {
                /* The pads this mode refuses; make them legal by clamping (still padding). */
                for (int d = 0; d < pc[c].rank; d++) {
                    int64_t n = pc[c].shape[d], m = mode == BRC_PAD_REFLECT ? n - 1 : n;
                    if (lo[d] > m) lo[d] = m;
                    if (hi[d] > m) hi[d] = m;
                    ys[d] = n + lo[d] + hi[d];
                }
            }
            for (int t = 0; t < 4; t++) {
                brc_dtype dt = fwd_dt[t];
                tv x = tv_new(dt, pc[c].rank, pc[c].shape, t % 2 ? S_NEG : S_CONTIG, 1, &rng);
                tv y = tv_new(dt, pc[c].rank, ys, t % 2 ? S_CONTIG : S_PAD, 0, &rng);
                double value = dt == BRC_U8 ? 2.5 : -1.5; /* u8: the cast saturates, the host model wraps */
                brc_pad_desc d = {(brc_pad_mode)mode, x.t, y.t, {0}, {0}, value};
                memcpy(d.lo, lo, sizeof d.lo);
                memcpy(d.hi, hi, sizeof d.hi);
                char what[96];
                snprintf(what, sizeof what, "pad fwd mode %d %s case %zu", mode, brc_dtype_name(dt), c);
                pad_fwd_check(ctx, &d, &x, &y, pc[c].rank, lo, pc[c].shape, value, what);
            }
            /* Backward: small integers in dy, so every sum is exact in any order; the reference
             * scatters each dy element onto the x element it was read from. */
            for (int t = 0; t < 4; t++) {
                brc_dtype dt = bwd_dt[t];
                tv dy = tv_new(dt, pc[c].rank, ys, t % 2 ? S_PAD : S_NEG, 1, &rng);
                tv dx = tv_new(dt, pc[c].rank, pc[c].shape, t % 2 ? S_NEG : S_CONTIG, 0, &rng);
                int64_t ny = brc_tensor_desc_numel(&dy.t), nx = brc_tensor_desc_numel(&dx.t), yc[4], xc[4];
                double *ref = calloc((size_t)nx, sizeof(double));
                cr_assert(ref);
                for (int64_t l = 0; l < ny; l++) {
                    int64_t rem = l;
                    for (int d = pc[c].rank - 1; d >= 0; d--) yc[d] = rem % ys[d], rem /= ys[d];
                    double v = (double)(int64_t)(tu_rand(&rng) % 9) - 4;
                    tu_encode(dt, v, dy.b.h + (size_t)off_of(&dy, yc) * esz(&dy));
                    int64_t xl = 0;
                    bool in = true;
                    for (int d = 0; d < pc[c].rank; d++) {
                        xc[d] = pad_src(mode, yc[d] - lo[d], pc[c].shape[d]);
                        if (xc[d] < 0) in = false;
                        xl = xl * pc[c].shape[d] + (xc[d] < 0 ? 0 : xc[d]);
                    }
                    if (in) ref[xl] += v;
                }
                tu_buf_upload(&dy.b);
                brc_pad_backward_desc bd = {(brc_pad_mode)mode, dy.t, dx.t, {0}, {0}};
                memcpy(bd.lo, lo, sizeof bd.lo);
                memcpy(bd.hi, hi, sizeof bd.hi);
                brc_plan *p = NULL;
                cr_assert_eq(brc_pad_backward_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
                cr_assert_eq(brc_pad_backward_run(p, dptr(&dy), dptr(&dx), NULL), BRC_STATUS_OK, "%s", brc_last_error());
                char what[96];
                snprintf(what, sizeof what, "pad bwd mode %d %s case %zu", mode, brc_dtype_name(dt), c);
                sync_ok(what);
                tu_buf_download(&dx.b);
                long bad = 0;
                char first[160] = "";
                unsigned char want[8];
                for (int64_t l = 0; l < nx; l++) {
                    int64_t rem = l;
                    for (int d = pc[c].rank - 1; d >= 0; d--) xc[d] = rem % pc[c].shape[d], rem /= pc[c].shape[d];
                    tu_encode(dt, ref[l], want);
                    if (memcmp(dx.b.h + (size_t)off_of(&dx, xc) * esz(&dx), want, esz(&dx)) != 0 && bad++ == 0)
                        snprintf(first, sizeof first, "dx element %lld: got %g, want %g", (long long)l,
                                 tu_buf_at(&dx.b, (size_t)off_of(&dx, xc)), ref[l]);
                }
                cr_expect_eq(bad, 0, "%s: %ld wrong, first %s (%s)", what, bad, first, brc_plan_sku(p));
                free(ref);
                brc_plan_destroy(p);
                tv_free(&dy), tv_free(&dx);
            }
        }
    brc_context_destroy(ctx);
}

/* The forward's vector path (brc::mv_pad_fwd): rows long enough for many 16-byte chunks, at every
 * alignment (odd pitches move each row's start), interior chunks that are aligned with x and that
 * straddle two x chunks, mirrored / clamped / wrapped / constant edges wider than a chunk, every
 * element size and mode; x rows read through padded pitches and backwards (by element). */
Test(movement, pad_forward_rows_by_vectors, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 777;
    static const struct {
        int rank;
        int64_t shape[3], lo[3], hi[3];
        int sx, sy;
    } pc[] = {
        {2, {6, 77}, {0, 3}, {0, 5}, S_CONTIG, S_PAD},
        {2, {5, 200}, {1, 17}, {2, 40}, S_PAD, S_PAD},
        {3, {3, 9, 130}, {0, 1, 0}, {0, 1, 9}, S_PAD, S_CONTIG},
        {2, {4, 256}, {0, 8}, {0, 8}, S_CONTIG, S_CONTIG}, /* x and y rows aligned alike */
        {2, {3, 64}, {0, 1}, {0, 63}, S_CONTIG, S_PAD},
        {2, {7, 100}, {0, 5}, {0, 2}, S_NEG, S_CONTIG},    /* x rows read backwards: by element */
        {3, {6, 40, 256}, {0, 3, 3}, {0, 3, 3}, S_CONTIG, S_CONTIG}, /* the bench's rows: staged, many a CTA */
    };
    static const brc_dtype dts[] = {BRC_U8, BRC_BF16, BRC_F32, BRC_I64};
    for (int mode = 0; mode < 4; mode++)
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++)
            for (int t = 0; t < 4; t++) {
                brc_dtype dt = dts[t];
                int64_t lo[8] = {0}, hi[8] = {0}, ys[3];
                for (int d = 0; d < pc[c].rank; d++) {
                    lo[d] = pc[c].lo[d], hi[d] = pc[c].hi[d];
                    ys[d] = pc[c].shape[d] + lo[d] + hi[d];
                }
                tv x = tv_new(dt, pc[c].rank, pc[c].shape, pc[c].sx, 1, &rng);
                tv y = tv_new(dt, pc[c].rank, ys, pc[c].sy, 0, &rng);
                if (pc[c].sx == S_NEG) /* flip the rows only: x's inner stride negative */
                    for (int d = 0; d < pc[c].rank; d++)
                        if (d == pc[c].rank - 1 && x.t.strides[d] > 0) {
                            x.base += (x.t.shape[d] - 1) * x.t.strides[d];
                            x.t.strides[d] = -x.t.strides[d];
                        }
                double value = dt == BRC_U8 ? 7 : -1.5;
                brc_pad_desc d = {(brc_pad_mode)mode, x.t, y.t, {0}, {0}, value};
                memcpy(d.lo, lo, sizeof d.lo);
                memcpy(d.hi, hi, sizeof d.hi);
                char what[96];
                snprintf(what, sizeof what, "pad fwd (vectors) mode %d %s case %zu", mode, brc_dtype_name(dt), c);
                pad_fwd_check(ctx, &d, &x, &y, pc[c].rank, lo, pc[c].shape, value, what);
            }
    brc_context_destroy(ctx);
}

/* The forward's row groups (brc::mv_pad_fwd) at the edges of its work split: rows long enough to
 * be cut into segments (wide constant / clamped / wrapped pads stored as whole chunks), many rows
 * shorter than a chunk in one CTA, an interior shorter than a chunk, pads in the outer dims (the
 * constant's missing rows), and x rows that are not 16-byte aligned: an odd pitch, or x starting
 * one element into its buffer (the wider edge windows); every element size and mode. */
Test(movement, pad_forward_row_groups, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 4242;
    static const struct {
        int rank;
        int64_t shape[4], lo[4], hi[4];
        int sx, sy, shift; /* shift: x starts one element into its buffer */
    } pc[] = {
        {2, {3, 70000}, {1, 40}, {2, 1000}, S_CONTIG, S_CONTIG, 0}, /* segments of long rows */
        {2, {2, 40000}, {0, 333}, {0, 77}, S_CONTIG, S_PAD, 1},     /* and x misaligned */
        {3, {600, 2, 5}, {0, 1, 2}, {0, 1, 2}, S_CONTIG, S_CONTIG, 0}, /* short rows, many a CTA */
        {2, {4, 3}, {1, 2}, {2, 2}, S_CONTIG, S_PAD, 0},           /* interior shorter than a chunk */
        {2, {37, 1001}, {2, 33}, {3, 17}, S_CONTIG, S_CONTIG, 1},  /* x one element in */
        {2, {9, 517}, {1, 20}, {1, 64}, S_PAD, S_CONTIG, 0},       /* x's odd pitch */
        {4, {2, 3, 17, 40}, {1, 0, 2, 5}, {0, 2, 3, 9}, S_PAD, S_PAD, 0}, /* outer pads, strided */
    };
    static const brc_dtype dts[] = {BRC_U8, BRC_BF16, BRC_F32, BRC_F64};
    for (int mode = 0; mode < 4; mode++)
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++)
            for (int t = 0; t < 4; t++) {
                brc_dtype dt = dts[t];
                int rank = pc[c].rank;
                int64_t lo[8] = {0}, hi[8] = {0}, ys[4];
                for (int d = 0; d < rank; d++) {
                    int64_t n = pc[c].shape[d], m = mode == BRC_PAD_REFLECT ? n - 1 : mode == BRC_PAD_CIRCULAR ? n : INT64_MAX;
                    lo[d] = pc[c].lo[d] < m ? pc[c].lo[d] : m, hi[d] = pc[c].hi[d] < m ? pc[c].hi[d] : m;
                    ys[d] = n + lo[d] + hi[d];
                }
                tv x;
                if (pc[c].shift) { /* a dense x one element into a buffer one element longer */
                    int64_t n1 = 1;
                    for (int d = 0; d < rank; d++) n1 *= pc[c].shape[d];
                    n1 += 1;
                    x = tv_new(dt, 1, &n1, S_CONTIG, 1, &rng);
                    brc_tensor_desc_contiguous(&x.t, dt, rank, pc[c].shape);
                    x.base = 1;
                } else {
                    x = tv_new(dt, rank, pc[c].shape, pc[c].sx, 1, &rng);
                }
                tv y = tv_new(dt, rank, ys, pc[c].sy, 0, &rng);
                double value = dt == BRC_U8 ? 9 : 2.25;
                brc_pad_desc d = {(brc_pad_mode)mode, x.t, y.t, {0}, {0}, value};
                memcpy(d.lo, lo, sizeof d.lo);
                memcpy(d.hi, hi, sizeof d.hi);
                char what[96];
                snprintf(what, sizeof what, "pad fwd (row groups) mode %d %s case %zu", mode, brc_dtype_name(dt), c);
                pad_fwd_check(ctx, &d, &x, &y, rank, lo, pc[c].shape, value, what);
            }
    brc_context_destroy(ctx);
}

/* The flat staged forward (brc::mv_pad_flat: y contiguous, a CTA's rows one byte range of y,
 * written by 16-byte chunks whatever rows they cross): y dense at 0, 1 and 3 elements into its
 * buffer (the range's partial first and last chunks; nothing outside y may change), rows whose
 * bytes are not a multiple of 16, rows shorter than a chunk (a chunk spans several rows), many
 * rows a CTA (several chunks a thread), constant pads of the outer dims (rows without x), x
 * through padded pitches or one element into its buffer; every element size and mode. Each plan
 * must be staged: flat where the build takes it (PAD_FLAT, off: then these cases run the staged
 * kernel on the same dense, misaligned ys; the host test pins which). */
/* The pad forward's cases for the staged kernels: by default (flat off: the staged kernel), with
 * BARACUDA_PAD_FLAT=1 (force 1: the flat kernel wherever its conditions hold, elements of 2+ bytes),
 * or with BARACUDA_PAD_SMALL=1 (force 2: the staged kernel in CTAs of 128 threads, stage=3,
 * wherever an x row fits its 10 KiB). */
static void pad_flat_cases(brc_context *ctx, int force) {
    uint64_t rng = 9090;
    static const struct {
        int rank;
        int64_t shape[4], lo[4], hi[4];
        int sx, xshift, yshift;
    } pc[] = {
        {3, {6, 40, 256}, {0, 3, 3}, {0, 3, 3}, S_CONTIG, 0, 0},  /* the bench's rows */
        {3, {6, 40, 256}, {0, 3, 3}, {0, 3, 3}, S_CONTIG, 1, 3},  /* x and y off their alignment */
        {3, {5, 33, 251}, {0, 2, 5}, {0, 1, 4}, S_PAD, 0, 1},     /* odd rows, x padded pitches */
        {2, {700, 3}, {2, 1}, {1, 2}, S_CONTIG, 0, 1},            /* rows shorter than a chunk */
        {4, {3, 4, 21, 37}, {1, 0, 2, 9}, {2, 1, 3, 6}, S_PAD, 0, 0}, /* outer pads: rows without x */
        {2, {2, 1500}, {1, 700}, {1, 699}, S_CONTIG, 1, 0},       /* f64: one long row a CTA */
    };
    static const brc_dtype dts[] = {BRC_U8, BRC_BF16, BRC_F32, BRC_F64};
    if (force == 1) setenv("BARACUDA_PAD_FLAT", "1", 1);
    if (force == 2) setenv("BARACUDA_PAD_SMALL", "1", 1);
    int nflat = 0, nsmall = 0;
    for (int mode = 0; mode < 4; mode++)
        for (size_t c = 0; c < sizeof pc / sizeof pc[0]; c++)
            for (int t = 0; t < 4; t++) {
                brc_dtype dt = dts[t];
                int rank = pc[c].rank;
                int64_t lo[8] = {0}, hi[8] = {0}, ys[4], nx = 1, ny = 1;
                for (int d = 0; d < rank; d++) {
                    int64_t n = pc[c].shape[d], m = mode == BRC_PAD_REFLECT ? n - 1 : mode == BRC_PAD_CIRCULAR ? n : INT64_MAX;
                    lo[d] = pc[c].lo[d] < m ? pc[c].lo[d] : m, hi[d] = pc[c].hi[d] < m ? pc[c].hi[d] : m;
                    ys[d] = n + lo[d] + hi[d];
                    nx *= n, ny *= ys[d];
                }
                tv x;
                if (pc[c].xshift) { /* a dense x one element into a buffer one element longer */
                    int64_t n1 = nx + pc[c].xshift;
                    x = tv_new(dt, 1, &n1, S_CONTIG, 1, &rng);
                    brc_tensor_desc_contiguous(&x.t, dt, rank, pc[c].shape);
                    x.base = pc[c].xshift;
                } else {
                    x = tv_new(dt, rank, pc[c].shape, pc[c].sx, 1, &rng);
                }
                /* a dense y yshift elements into a poisoned buffer 4 elements longer */
                int64_t n1 = ny + 4;
                tv y = tv_new(dt, 1, &n1, S_CONTIG, 0, &rng);
                brc_tensor_desc_contiguous(&y.t, dt, rank, ys);
                y.base = pc[c].yshift;
                double value = dt == BRC_U8 ? 9 : -3.25;
                brc_pad_desc d = {(brc_pad_mode)mode, x.t, y.t, {0}, {0}, value};
                memcpy(d.lo, lo, sizeof d.lo);
                memcpy(d.hi, hi, sizeof d.hi);
                char what[96];
                snprintf(what, sizeof what, "pad fwd (flat) mode %d %s case %zu", mode, brc_dtype_name(dt), c);
                brc_plan *p = NULL;
                cr_assert_eq(brc_pad_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s", what, brc_last_error());
                const char *sd = brc_plan_descriptor(p);
                cr_expect(strstr(sd, "stage=2") || strstr(sd, "stage=1") || strstr(sd, "stage=3"),
                          "%s: %s is not a staged kernel", what, sd);
                if (strstr(sd, "stage=2")) nflat++;
                if (strstr(sd, "stage=3")) nsmall++;
                cr_log_info("%s: %s", what, sd);
                brc_plan_destroy(p);
                pad_fwd_check(ctx, &d, &x, &y, rank, lo, pc[c].shape, value, what);
            }
    cr_log_info("pad_forward_flat (force %d): %d of %d plans flat, %d in small CTAs", force, nflat,
                4 * 4 * (int)(sizeof pc / sizeof pc[0]), nsmall);
    if (force == 1) /* every case qualifies for elements of 2+ bytes (bf16, f32, f64): 3 of the 4 dtypes */
        cr_expect_eq(nflat, 4 * 3 * (int)(sizeof pc / sizeof pc[0]), "BARACUDA_PAD_FLAT=1: %d plans flat", nflat);
    else
        cr_expect_eq(nflat, 0, "flat is off by default, yet %d plans took it", nflat);
    if (force == 2) /* all but f64's 1500-element rows (12000 bytes), in every mode */
        cr_expect_eq(nsmall, 4 * (4 * (int)(sizeof pc / sizeof pc[0]) - 1), "BARACUDA_PAD_SMALL=1: %d plans small",
                     nsmall);
    else
        cr_expect_eq(nsmall, 0, "small CTAs are off by default, yet %d plans took them", nsmall);
    unsetenv("BARACUDA_PAD_FLAT");
    unsetenv("BARACUDA_PAD_SMALL");
}

Test(movement, pad_forward_flat, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    pad_flat_cases(ctx, 0);
    pad_flat_cases(ctx, 1);
    pad_flat_cases(ctx, 2);
    brc_context_destroy(ctx);
}

/* ---- run-time errors ----------------------------------------------------------------------------------------- */

Test(movement, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    uint64_t rng = 3;
    int64_t s[2] = {8, 64};
    tv x = tv_new(BRC_F32, 2, s, S_CONTIG, 1, &rng), y = tv_new(BRC_F32, 2, s, S_CONTIG, 0, &rng);
    brc_copy_desc d = {x.t, y.t};
    brc_plan *p = NULL;
    cr_assert_eq(brc_copy_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_copy_run(p, NULL, dptr(&y), NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "x is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_copy_run(p, (char *)dptr(&x) + 2, dptr(&y), NULL), BRC_STATUS_MISALIGNED);
    cr_expect(strstr(brc_last_error(), "not aligned to 4 bytes") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_copy_run(p, dptr(&x), dptr(&x), NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "one buffer") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_slice_run(p, dptr(&x), dptr(&y), NULL, NULL), BRC_STATUS_WRONG_PLAN);
    brc_plan_destroy(p);
    int64_t part[2] = {8, 4};
    brc_slice_desc sd = {x.t, x.t, 1, 1, 0, 1};
    brc_tensor_desc_contiguous(&sd.y, BRC_F32, 2, part);
    cr_assert_eq(brc_slice_plan(ctx, &sd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc_slice_run(p, dptr(&x), dptr(&y), NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "start is NULL") != NULL, "%s", brc_last_error());
    brc_plan_destroy(p);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tv_free(&x), tv_free(&y);
    brc_context_destroy(ctx);
}
