/* GPU tests of the sort family: sort / argsort in every dtype, ascending and descending, at row
 * lengths 1 2 17 1000 4097 65537 and 2^20 + 3 (many rows, a few rows, one huge row), on keys from
 * a small range (many ties: stability) and on random bit patterns (NaN payloads, +-0, +-inf,
 * subnormals), with transposed inputs, padded and flipped outputs, i32 and i64 indices — values
 * and indices bit-exact against a stable CPU sort, outputs poisoned first. unique and
 * unique_consecutive (inverse, counts, the device count) against a CPU model, strided inputs
 * included. Run-time errors. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- the host model -------------------------------------------------------------------------------- */

typedef struct elem {
    uint64_t bits;
    int64_t pos;
} elem;

static brc_dtype g_dt;
static int g_desc;

static bool is_float(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }
static bool is_signed(brc_dtype t) { return t == BRC_I8 || t == BRC_I16 || t == BRC_I32 || t == BRC_I64; }

static uint64_t get_bits(const void *p, size_t es) {
    uint64_t b = 0;
    memcpy(&b, p, es); /* little-endian */
    return b;
}
static int64_t sext(uint64_t b, size_t es) {
    if (es == 8) return (int64_t)b;
    unsigned sh = (unsigned)(64 - 8 * es);
    return (int64_t)(b << sh) >> sh;
}

/* Order of two keys (ascending): floats by value with NaN last (NaNs equal among themselves, -0
 * equal to +0), integers as integers. */
static int key_cmp(uint64_t a, uint64_t b) {
    size_t es = brc_dtype_size(g_dt);
    if (is_float(g_dt)) {
        double x = tu_decode(g_dt, &a), y = tu_decode(g_dt, &b);
        int xn = isnan(x), yn = isnan(y);
        if (xn || yn) return xn - yn;
        return (x > y) - (x < y);
    }
    if (is_signed(g_dt)) {
        int64_t x = sext(a, es), y = sext(b, es);
        return (x > y) - (x < y);
    }
    return (a > b) - (a < b);
}

static int elem_cmp(const void *pa, const void *pb) {
    const elem *a = pa, *b = pb;
    int c = key_cmp(a->bits, b->bits);
    if (g_desc) c = -c;
    if (c) return c;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* ---- data ------------------------------------------------------------------------------------------------ */

/* Keys from a small range with a few specials (ties everywhere) (wide 0), random bit patterns
 * (1), bit patterns that differ in their low 9 bits only (2: the radix sort skips its higher
 * passes), or one key for all (3: every pass trivial). */
static uint64_t gen(brc_dtype t, int wide, uint64_t *rng) {
    uint64_t r = tu_rand(rng);
    size_t es = brc_dtype_size(t);
    uint64_t mask = es == 8 ? ~0ull : ((1ull << (8 * es)) - 1);
    if (t == BRC_BOOL) return r & 1;
    if (wide == 2) return (0x3c01ull | (r % 300)) & mask; /* f16 / bf16 / f32 / f64: positive */
    if (wide == 3) return 0x4242424242424242ull & mask;
    if (wide) return r & mask;
    if (is_float(t)) {
        unsigned char buf[8] = {0};
        int s = (int)((r >> 8) % 24);
        double v;
        switch (s) {
        case 0: v = NAN; break;
        case 1: v = -NAN; break;
        case 2: v = INFINITY; break;
        case 3: v = -INFINITY; break;
        case 4: v = -0.0; break;
        case 5: v = 0.0; break;
        default: v = ((double)(r % 16) - 8.0) * 0.5;
        }
        tu_encode(t, v, buf);
        uint64_t b = get_bits(buf, es);
        if (s <= 1) b |= (r >> 20) & 1; /* a payload bit on some NaNs */
        return b;
    }
    int64_t v = (int64_t)(r % 7) - (is_signed(t) ? 3 : 0);
    return (uint64_t)v & mask;
}

static void poison(tu_buf *b) {
    memset(b->h, 0xa5, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static void *dptr(const tu_buf *b, int64_t elem_off) {
    return (void *)(uintptr_t)(b->d + (CUdeviceptr)(elem_off * (int64_t)brc_dtype_size(b->t)));
}

/* ---- one sort case --------------------------------------------------------------------------------------- */

enum { S_CONTIG, S_TRANSPOSED, S_PADDED_FLIPPED };

typedef struct scase {
    int64_t rows, len;
    int style;
    int wide; /* gen's mode; 4: odd rows random bits (1), even rows low bits only (2) */
} scase;

/* x: [rows, len] sorted along dim 1. S_TRANSPOSED: x is the transpose of a row-major [len, rows]
 * buffer. S_PADDED_FLIPPED: values' rows are padded by 3 and flipped along the axis, indices' rows
 * padded by 5. */
static void run_sort(brc_context *ctx, brc_dtype dt, const scase *c, int desc, brc_dtype it, uint64_t seed) {
    char what[200];
    snprintf(what, sizeof what, "sort %s rows=%lld len=%lld style=%d wide=%d desc=%d idx=%s", brc_dtype_name(dt),
             (long long)c->rows, (long long)c->len, c->style, c->wide, desc, brc_dtype_name(it));
    size_t es = brc_dtype_size(dt), n = (size_t)(c->rows * c->len);
    int64_t shape[2] = {c->rows, c->len};
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SORT_SORT;
    brc_tensor_desc_contiguous(&d.x, dt, 2, shape);
    brc_tensor_desc_contiguous(&d.values, dt, 2, shape);
    brc_tensor_desc_contiguous(&d.indices, it, 2, shape);
    d.want_values = d.want_indices = 1;
    d.dim = 1;
    d.descending = desc;
    int64_t vbase = 0, vrow = c->len, irow = c->len;
    if (c->style == S_TRANSPOSED) d.x.strides[0] = 1, d.x.strides[1] = c->rows;
    if (c->style == S_PADDED_FLIPPED) {
        vrow = c->len + 3, irow = c->len + 5;
        d.values.strides[0] = vrow, d.values.strides[1] = -1, vbase = c->len - 1;
        d.indices.strides[0] = irow;
    }
    brc_plan *p = NULL;
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    tu_buf X = tu_buf_new(dt, n), V = tu_buf_new(dt, (size_t)(c->rows * vrow)), I = tu_buf_new(it, (size_t)(c->rows * irow));
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz ? wsz : 1);
    uint64_t rng = seed;
    elem *ref = malloc(n * sizeof *ref);
    cr_assert(ref);
    for (int64_t r = 0; r < c->rows; r++)
        for (int64_t j = 0; j < c->len; j++) {
            uint64_t b = gen(dt, c->wide == 4 ? (r % 2 ? 1 : 2) : c->wide, &rng);
            int64_t off = c->style == S_TRANSPOSED ? j * c->rows + r : r * c->len + j;
            memcpy(X.h + (size_t)off * es, &b, es);
            ref[r * c->len + j] = (elem){b, j};
        }
    tu_buf_upload(&X);
    poison(&V);
    poison(&I);
    poison(&WS);
    brc_status st = brc_sort_run(p, dptr(&X, 0), dptr(&V, vbase), dptr(&I, 0), wsz ? dptr(&WS, 0) : NULL, wsz, NULL);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", what);
    tu_buf_download(&V);
    tu_buf_download(&I);
    g_dt = dt;
    g_desc = desc;
    long fails = 0;
    char first[300] = "";
    for (int64_t r = 0; r < c->rows; r++) {
        elem *row = ref + r * c->len;
        qsort(row, (size_t)c->len, sizeof *row, elem_cmp);
        for (int64_t j = 0; j < c->len; j++) {
            int64_t vo = c->style == S_PADDED_FLIPPED ? r * vrow + vbase - j : r * vrow + j;
            uint64_t vb = get_bits(V.h + (size_t)vo * es, es);
            int64_t ix = it == BRC_I32 ? (int64_t)sext(get_bits(I.h + (size_t)(r * irow + j) * 4, 4), 4)
                                       : (int64_t)get_bits(I.h + (size_t)(r * irow + j) * 8, 8);
            if (vb != row[j].bits || ix != row[j].pos) {
                if (fails++ == 0)
                    snprintf(first, sizeof first, "row %lld pos %lld: got bits 0x%llx index %lld, want 0x%llx %lld",
                             (long long)r, (long long)j, (unsigned long long)vb, (long long)ix,
                             (unsigned long long)row[j].bits, (long long)row[j].pos);
            }
        }
    }
    /* The padding between rows is never written. */
    if (c->style == S_PADDED_FLIPPED && c->rows > 0) {
        uint64_t pv = get_bits(V.h + (size_t)c->len * es, es), want = 0;
        memset(&want, 0xa5, es);
        cr_expect_eq(pv, want, "%s: padding written", what);
    }
    cr_expect_eq(fails, 0, "%s: %ld mismatches (%s); first: %s", what, fails, brc_plan_sku(p), first);
    cr_log_info("%s: %s ok", what, brc_plan_sku(p));
    free(ref);
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&V), tu_buf_free(&I), tu_buf_free(&WS);
}

static const brc_dtype all_dtypes[] = {BRC_F32, BRC_F64, BRC_F16, BRC_BF16, BRC_I8,
                                       BRC_U8,  BRC_I16, BRC_I32, BRC_I64,  BRC_U32, BRC_BOOL};

ParameterizedTestParameters(sort, every_dtype_and_length) {
    static brc_dtype jobs[sizeof all_dtypes / sizeof all_dtypes[0]];
    memcpy(jobs, all_dtypes, sizeof jobs);
    return cr_make_param_array(brc_dtype, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(brc_dtype *dt, sort, every_dtype_and_length, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const scase cases[] = {
        {1, 1, S_CONTIG, 0},          {4999, 1, S_TRANSPOSED, 1},         {3001, 2, S_CONTIG, 1},
        {700, 17, S_PADDED_FLIPPED, 0}, {300, 17, S_TRANSPOSED, 1},        {64, 1000, S_CONTIG, 0},
        {33, 1000, S_PADDED_FLIPPED, 1}, {7, 2048, S_CONTIG, 1},           {5, 4097, S_CONTIG, 0},
        {6, 4097, S_TRANSPOSED, 1},     {3, 65537, S_PADDED_FLIPPED, 0}, {2, 65537, S_CONTIG, 1},
        {1, (1 << 20) + 3, S_CONTIG, 0}, {1, (1 << 20) + 3, S_PADDED_FLIPPED, 1},
    };
    int nc = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < nc; i++)
        for (int desc = 0; desc < 2; desc++)
            run_sort(ctx, *dt, &cases[i], desc, (i + desc) % 3 == 2 ? BRC_I32 : BRC_I64,
                     0x9e3779b97f4a7c15ull * (uint64_t)(i * 2 + desc + 1) + (uint64_t)*dt);
    brc_context_destroy(ctx);
}

/* The warp path (a warp a row, bitonic in registers: rows padded to 64 .. 1024 keys of up to 4
 * bytes) at the lengths around its thresholds and the power-of-two boundaries inside it, every
 * dtype of up to 4 bytes, ascending and descending, ties / NaN / +-0 (wide 0) and random bits
 * (wide 1), the three layouts, i32 and i64 indices; the rows just outside (32, 1025) go to the
 * shared-memory bitonic path. The plan's SKU says which path ran. */
static const int64_t warp_lens[] = {32, 33, 63, 64, 65, 127, 129, 255, 256, 257, 511, 513, 1000, 1023, 1024, 1025};
#define NWARP_LENS ((int)(sizeof warp_lens / sizeof warp_lens[0]))

ParameterizedTestParameters(sort, warp_path_lengths) {
    static brc_dtype jobs[] = {BRC_F32, BRC_BF16, BRC_F16, BRC_I32, BRC_U32, BRC_I16, BRC_I8, BRC_U8, BRC_BOOL};
    return cr_make_param_array(brc_dtype, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(brc_dtype *dt, sort, warp_path_lengths, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    for (int li = 0; li < NWARP_LENS; li++) {
        int k = (int)*dt * NWARP_LENS + li;
        scase c = {(int64_t)(37 + 29 * (k % 5)), warp_lens[li], k % 3, k % 2};
        run_sort(ctx, *dt, &c, (k / 2) % 2, k % 4 == 3 ? BRC_I32 : BRC_I64, 5000 + (uint64_t)k);
    }
    brc_context_destroy(ctx);
}

/* The path each length takes (planned only), and many rows (several rows a CTA: 4 a CTA, rows not
 * a multiple of 4). */
Test(sort, warp_path_choice_and_many_rows, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int64_t *lens = warp_lens;
    int nl = NWARP_LENS;
    for (int li = 0; li < nl; li++) {
        int64_t shape[2] = {3, lens[li]};
        brc_sort_desc d;
        memset(&d, 0, sizeof d);
        d.kind = BRC_SORT_SORT;
        brc_tensor_desc_contiguous(&d.x, BRC_F32, 2, shape);
        d.values = d.x;
        brc_tensor_desc_contiguous(&d.indices, BRC_I64, 2, shape);
        d.want_values = d.want_indices = 1;
        d.dim = 1;
        brc_plan *p = NULL;
        cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        bool warp = strstr(brc_plan_sku(p), ",warp,") != NULL;
        cr_expect_eq(warp, lens[li] > 32 && lens[li] <= 1024, "len %lld: %s", (long long)lens[li], brc_plan_sku(p));
        brc_plan_destroy(p);
    }
    scase many = {16387, 1024, S_CONTIG, 0};
    run_sort(ctx, BRC_F32, &many, 0, BRC_I64, 6001);
    scase many2 = {4093, 128, S_TRANSPOSED, 1};
    run_sort(ctx, BRC_F32, &many2, 1, BRC_I64, 6002);
    brc_context_destroy(ctx);
}

/* The radix tuning knobs that change the kernels (read at plan time): tiles of 24 keys a thread
 * for 1- and 2-byte keys with registers for two CTAs an SM, and the histogram's counters copied
 * per lane group (HSUB) with skewed high bytes (wide 0: few distinct values) and random bits. */
Test(sort, radix_knob_variants, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    setenv("BARACUDA_SORT_ITEMS", "24", 1);
    setenv("BARACUDA_SORT_MINB", "2", 1);
    setenv("BARACUDA_SORT_HSUB", "1", 1);
    scase bf = {1, (1 << 22) + 1, S_CONTIG, 1};
    run_sort(ctx, BRC_BF16, &bf, 1, BRC_I64, 7001);
    scase bf0 = {3, 100003, S_PADDED_FLIPPED, 0};
    run_sort(ctx, BRC_BF16, &bf0, 0, BRC_I32, 7002);
    scase h = {5, 30011, S_TRANSPOSED, 1};
    run_sort(ctx, BRC_I16, &h, 0, BRC_I64, 7003);
    run_sort(ctx, BRC_U8, &h, 1, BRC_I64, 7004);
    scase skip = {2, 100003, S_CONTIG, 2};
    run_sort(ctx, BRC_F16, &skip, 0, BRC_I64, 7005);
    scase f = {1, (1 << 20) + 3, S_CONTIG, 0};
    run_sort(ctx, BRC_F32, &f, 1, BRC_I64, 7006);
    scase d8 = {2, 70001, S_CONTIG, 1};
    run_sort(ctx, BRC_F64, &d8, 0, BRC_I64, 7007);
    unsetenv("BARACUDA_SORT_ITEMS");
    unsetenv("BARACUDA_SORT_MINB");
    unsetenv("BARACUDA_SORT_HSUB");
    brc_context_destroy(ctx);
}

/* The onesweep pass's variants (knobs read at plan time): the tile's digit counts published
 * before the ranking (EARLY = 1) and the look-back done there too (EARLY = 2), positions read
 * after the ranking (TWO), key loads started before the trivial-pass flags (PREF: rows that skip
 * passes load again), registers for four CTAs an SM (MINB). Skewed keys (wide 0), skipped passes
 * (wide 2; rows of both kinds side by side, wide 4), random bits; ascending and descending; one combination a test. */
static const char *const pass_variants[][4] = {
    /* EARLY, TWO, PREF, MINB */
    {"1", "1", "1", "3"},
    {"2", "1", "1", "4"},
    {"2", "0", "0", "3"},
    {"0", "1", "1", "4"},
};

ParameterizedTestParameters(sort, radix_pass_variants) {
    static int jobs[] = {0, 1, 2, 3};
    return cr_make_param_array(int, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(int *v, sort, radix_pass_variants, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    setenv("BARACUDA_SORT_EARLY", pass_variants[*v][0], 1);
    setenv("BARACUDA_SORT_TWO", pass_variants[*v][1], 1);
    setenv("BARACUDA_SORT_PREF", pass_variants[*v][2], 1);
    setenv("BARACUDA_SORT_MINB", pass_variants[*v][3], 1);
    uint64_t seed = 8000 + 10 * (uint64_t)*v;
    scase bf = {1, (1 << 22) + 1, S_CONTIG, 0};
    run_sort(ctx, BRC_BF16, &bf, *v & 1, BRC_I64, seed + 1);
    scase skip = {2, 100003, S_PADDED_FLIPPED, 2};
    run_sort(ctx, BRC_F32, &skip, 0, BRC_I64, seed + 2);
    run_sort(ctx, BRC_F16, &skip, 1, BRC_I32, seed + 3);
    scase h = {5, 30011, S_TRANSPOSED, 1};
    run_sort(ctx, BRC_I16, &h, 1, BRC_I64, seed + 4);
    scase f = {1, (1 << 20) + 3, S_CONTIG, 1};
    run_sort(ctx, BRC_F32, &f, 0, BRC_I64, seed + 5);
    scase seg = {37, 9001, S_TRANSPOSED, 4};
    run_sort(ctx, BRC_I32, &seg, 1, BRC_I64, seed + 6);
    scase d8 = {2, 70001, S_CONTIG, 1};
    run_sort(ctx, BRC_F64, &d8, 0, BRC_I64, seed + 7);
    unsetenv("BARACUDA_SORT_EARLY");
    unsetenv("BARACUDA_SORT_TWO");
    unsetenv("BARACUDA_SORT_PREF");
    unsetenv("BARACUDA_SORT_MINB");
    brc_context_destroy(ctx);
}

/* Many rows of a long axis and one huge row (f32 and bf16: the benchmark's shapes, smaller). */
Test(sort, huge_rows, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    scase big = {1, (1 << 24) + 5, S_CONTIG, 1};
    run_sort(ctx, BRC_F32, &big, 0, BRC_I64, 11);
    scase seg = {64, 70001, S_CONTIG, 0};
    run_sort(ctx, BRC_F32, &seg, 1, BRC_I64, 12);
    scase bf = {1, (1 << 22) + 1, S_CONTIG, 1};
    run_sort(ctx, BRC_BF16, &bf, 1, BRC_I32, 13);
    brc_context_destroy(ctx);
}

/* The radix sort skips the passes whose digit is one value for a whole row: keys that share
 * their high bytes (two rows of them, every dtype of 2 bytes or more), one key everywhere (every
 * pass trivial: the last one still moves the keys), rows that skip different passes side by
 * side; and many rows of a medium length (a few tiles a row). */
Test(sort, radix_passes_skipped_and_medium_rows, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const brc_dtype dts[] = {BRC_F32, BRC_F64, BRC_BF16, BRC_I16, BRC_I32, BRC_I64, BRC_U32};
    for (int i = 0; i < (int)(sizeof dts / sizeof dts[0]); i++) {
        scase low = {2, 100003, i % 2 ? S_PADDED_FLIPPED : S_CONTIG, 2};
        run_sort(ctx, dts[i], &low, i % 2, i % 3 ? BRC_I64 : BRC_I32, 100 + (uint64_t)i);
        scase one = {3, 9001, S_TRANSPOSED, 3};
        run_sort(ctx, dts[i], &one, (i + 1) % 2, BRC_I64, 200 + (uint64_t)i);
    }
    scase mixed = {64, 70001, S_CONTIG, 4};
    run_sort(ctx, BRC_I32, &mixed, 0, BRC_I64, 301);
    run_sort(ctx, BRC_F32, &mixed, 1, BRC_I32, 302);
    scase med = {1000, 9000, S_CONTIG, 0};
    run_sort(ctx, BRC_F32, &med, 0, BRC_I64, 303);
    scase med2 = {300, 5001, S_TRANSPOSED, 1};
    run_sort(ctx, BRC_BF16, &med2, 1, BRC_I64, 304);
    scase med3 = {257, 4099, S_PADDED_FLIPPED, 1};
    run_sort(ctx, BRC_I64, &med3, 0, BRC_I64, 305);
    brc_context_destroy(ctx);
}

/* Rank 3 along the middle dim with a negative input stride; rank 0; indices only (argsort);
 * values only. */
Test(sort, ranks_and_output_subsets, .timeout = 300) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int64_t shape[3] = {3, 300, 5};
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SORT_SORT;
    brc_tensor_desc_contiguous(&d.x, BRC_F32, 3, shape);
    d.x.strides[1] = -5; /* x[a][b][c] at base + a*1500 - b*5 + c, base = 299*5 */
    brc_tensor_desc_contiguous(&d.values, BRC_F32, 3, shape);
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 3, shape);
    d.dim = -2;
    for (int mode = 0; mode < 3; mode++) {
        d.want_values = mode != 1;
        d.want_indices = mode != 2;
        brc_plan *p = NULL;
        cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        tu_buf X = tu_buf_new(BRC_F32, 4500), V = tu_buf_new(BRC_F32, 4500), I = tu_buf_new(BRC_I64, 4500);
        uint64_t rng = 77;
        for (int i = 0; i < 4500; i++) {
            float f = (float)((int)(tu_rand(&rng) % 50) - 25) * 0.25f;
            memcpy(X.h + i * 4, &f, 4);
        }
        tu_buf_upload(&X);
        poison(&V), poison(&I);
        cr_assert_eq(brc_sort_run(p, dptr(&X, 299 * 5), d.want_values ? dptr(&V, 0) : NULL,
                                  d.want_indices ? dptr(&I, 0) : NULL, NULL, 0, NULL),
                     BRC_STATUS_OK, "%s", brc_last_error());
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        tu_buf_download(&V), tu_buf_download(&I);
        g_dt = BRC_F32, g_desc = 0;
        long fails = 0;
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 5; c++) {
                elem row[300];
                for (int b = 0; b < 300; b++)
                    row[b] = (elem){get_bits(X.h + (size_t)(299 * 5 + a * 1500 - b * 5 + c) * 4, 4), b};
                qsort(row, 300, sizeof row[0], elem_cmp);
                for (int b = 0; b < 300; b++) {
                    size_t o = (size_t)(a * 1500 + b * 5 + c);
                    if (d.want_values && get_bits(V.h + o * 4, 4) != row[b].bits) fails++;
                    if (d.want_indices && (int64_t)get_bits(I.h + o * 8, 8) != row[b].pos) fails++;
                }
            }
        cr_expect_eq(fails, 0, "mode %d: %ld mismatches", mode, fails);
        /* The output not asked for is untouched. */
        if (!d.want_values) cr_expect_eq(V.h[0], 0xa5);
        if (!d.want_indices) cr_expect_eq(I.h[0], 0xa5);
        brc_plan_destroy(p);
        tu_buf_free(&X), tu_buf_free(&V), tu_buf_free(&I);
    }
    /* Rank 0. */
    brc_sort_desc z;
    memset(&z, 0, sizeof z);
    brc_tensor_desc_contiguous(&z.x, BRC_F64, 0, NULL);
    z.values = z.x;
    brc_tensor_desc_contiguous(&z.indices, BRC_I64, 0, NULL);
    z.want_values = z.want_indices = 1;
    brc_plan *p = NULL;
    cr_assert_eq(brc_sort_plan(ctx, &z, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    tu_buf X = tu_buf_new(BRC_F64, 1), V = tu_buf_new(BRC_F64, 1), I = tu_buf_new(BRC_I64, 1);
    double v = -2.5;
    memcpy(X.h, &v, 8);
    tu_buf_upload(&X);
    poison(&V), poison(&I);
    cr_assert_eq(brc_sort_run(p, dptr(&X, 0), dptr(&V, 0), dptr(&I, 0), NULL, 0, NULL), BRC_STATUS_OK);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_download(&V), tu_buf_download(&I);
    cr_expect_eq(memcmp(V.h, X.h, 8), 0);
    cr_expect_eq(get_bits(I.h, 8), 0);
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&V), tu_buf_free(&I);
    brc_context_destroy(ctx);
}

/* ---- unique ------------------------------------------------------------------------------------------------ */

/* x of shape [a, b] (transposed storage when tr) through unique (consec = 0) or
 * unique_consecutive, against the model: groups of equal keys (NaN equal to nothing) in sorted
 * (or original) order; the value of a group is the bits of its first element. */
static void run_unique(brc_context *ctx, brc_dtype dt, int64_t a, int64_t b, int tr, int consec, int wide,
                       uint64_t seed) {
    char what[160];
    snprintf(what, sizeof what, "%s %s [%lld, %lld] tr=%d wide=%d", consec ? "unique_consecutive" : "unique",
             brc_dtype_name(dt), (long long)a, (long long)b, tr, wide);
    size_t es = brc_dtype_size(dt), n = (size_t)(a * b);
    int64_t shape[2] = {a, b};
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    d.kind = consec ? BRC_SORT_UNIQUE_CONSECUTIVE : BRC_SORT_UNIQUE;
    brc_tensor_desc_contiguous(&d.x, dt, 2, shape);
    if (tr) d.x.strides[0] = 1, d.x.strides[1] = a;
    brc_plan *p = NULL;
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(),
                 brc_last_jit_log());
    tu_buf X = tu_buf_new(dt, n), V = tu_buf_new(dt, n), INV = tu_buf_new(BRC_I64, n), CNT = tu_buf_new(BRC_I64, n),
           NUM = tu_buf_new(BRC_I64, 1);
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf WS = tu_buf_new(BRC_U8, wsz ? wsz : 1);
    elem *m = malloc((n ? n : 1) * sizeof *m);
    cr_assert(m);
    uint64_t rng = seed;
    for (int64_t i = 0; i < a; i++)
        for (int64_t j = 0; j < b; j++) {
            uint64_t bits = gen(dt, wide, &rng);
            /* Runs of repeats for unique_consecutive. */
            if (consec && (tu_rand(&rng) & 3) && i * b + j > 0) bits = m[i * b + j - 1].bits;
            int64_t off = tr ? j * a + i : i * b + j;
            memcpy(X.h + (size_t)off * es, &bits, es);
            m[i * b + j] = (elem){bits, i * b + j};
        }
    tu_buf_upload(&X);
    poison(&V), poison(&INV), poison(&CNT), poison(&NUM), poison(&WS);
    brc_status st = brc_unique_run(p, dptr(&X, 0), dptr(&V, 0), (int64_t *)dptr(&INV, 0), (int64_t *)dptr(&CNT, 0),
                                   (int64_t *)dptr(&NUM, 0), wsz ? dptr(&WS, 0) : NULL, wsz, NULL);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", what);
    tu_buf_download(&V), tu_buf_download(&INV), tu_buf_download(&CNT), tu_buf_download(&NUM);
    g_dt = dt, g_desc = 0;
    if (!consec) qsort(m, n, sizeof *m, elem_cmp);
    int64_t *inv = malloc((n ? n : 1) * 8), *cnt = malloc((n ? n : 1) * 8);
    uint64_t *val = malloc((n ? n : 1) * 8);
    int64_t u = 0;
    for (size_t j = 0; j < n; j++) {
        bool start = j == 0 || key_cmp(m[j].bits, m[j - 1].bits) != 0 ||
                     (is_float(dt) && isnan(tu_decode(dt, &m[j].bits)));
        if (start) val[u] = m[j].bits, cnt[u] = 0, u++;
        cnt[u - 1]++;
        inv[m[j].pos] = u - 1;
    }
    int64_t got_u = (int64_t)get_bits(NUM.h, 8);
    cr_expect_eq(got_u, u, "%s: num %lld, want %lld", what, (long long)got_u, (long long)u);
    long fails = 0;
    char first[200] = "";
    for (int64_t g = 0; g < u && g < got_u; g++) {
        uint64_t vb = get_bits(V.h + (size_t)g * es, es);
        int64_t cg = (int64_t)get_bits(CNT.h + (size_t)g * 8, 8);
        if (vb != val[g] || cg != cnt[g])
            if (fails++ == 0)
                snprintf(first, sizeof first, "group %lld: bits 0x%llx count %lld, want 0x%llx %lld", (long long)g,
                         (unsigned long long)vb, (long long)cg, (unsigned long long)val[g], (long long)cnt[g]);
    }
    for (size_t j = 0; j < n; j++)
        if ((int64_t)get_bits(INV.h + j * 8, 8) != inv[j])
            if (fails++ == 0) snprintf(first, sizeof first, "inverse[%zu] = %lld, want %lld", j,
                                       (long long)get_bits(INV.h + j * 8, 8), (long long)inv[j]);
    /* Past the count nothing is written. */
    if ((size_t)u < n) cr_expect_eq(V.h[(size_t)u * es], 0xa5, "%s: values past num written", what);
    cr_expect_eq(fails, 0, "%s: %ld mismatches (%s); first: %s", what, fails, brc_plan_sku(p), first);
    cr_log_info("%s: %lld groups, %s ok", what, (long long)u, brc_plan_sku(p));
    free(m), free(inv), free(cnt), free(val);
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&V), tu_buf_free(&INV), tu_buf_free(&CNT), tu_buf_free(&NUM), tu_buf_free(&WS);
}

ParameterizedTestParameters(unique, against_the_model) {
    static brc_dtype jobs[] = {BRC_F32, BRC_F64, BRC_BF16, BRC_I32, BRC_U8, BRC_I64, BRC_BOOL};
    return cr_make_param_array(brc_dtype, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(brc_dtype *dt, unique, against_the_model, .timeout = 900) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int64_t shapes[][2] = {{1, 1}, {1, 17}, {40, 25}, {7, 10001}, {1, (1 << 20) + 3}};
    for (int consec = 0; consec < 2; consec++)
        for (int s = 0; s < 5; s++)
            for (int wide = 0; wide < 2; wide++)
                run_unique(ctx, *dt, shapes[s][0], shapes[s][1], s == 2 || s == 3, consec, wide,
                           (uint64_t)(s * 4 + wide * 2 + consec + 1) * 0x2545f4914f6cdd1dull);
    brc_context_destroy(ctx);
}

/* ---- run-time errors -------------------------------------------------------------------------------------- */

Test(sort, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    int64_t shape[1] = {100000};
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    brc_tensor_desc_contiguous(&d.x, BRC_F32, 1, shape);
    d.values = d.x;
    brc_tensor_desc_contiguous(&d.indices, BRC_I64, 1, shape);
    d.want_values = d.want_indices = 1;
    brc_plan *p = NULL;
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    size_t wsz = brc_plan_workspace_size(p);
    cr_assert(wsz > 0);
    tu_buf X = tu_buf_new(BRC_F32, 100000), V = tu_buf_new(BRC_F32, 100000), I = tu_buf_new(BRC_I64, 100000),
           WS = tu_buf_new(BRC_U8, wsz);
    void *x = dptr(&X, 0), *v = dptr(&V, 0), *i = dptr(&I, 0), *ws = dptr(&WS, 0);
    cr_expect_eq(brc_sort_run(p, x, v, i, NULL, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "workspace is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_sort_run(p, x, v, i, ws, wsz - 1, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "smaller than") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_sort_run(p, x, v, i, (char *)ws + 8, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_sort_run(p, NULL, v, i, ws, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "x is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_sort_run(p, x, NULL, i, ws, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_sort_run(p, x, v, (char *)i + 4, ws, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_sort_run(p, x, v, v, ws, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "one buffer") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_unique_run(p, x, v, NULL, NULL, (int64_t *)i, ws, wsz, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_sort_run(p, x, v, i, ws, wsz, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    brc_plan_destroy(p);
    tu_buf_free(&X), tu_buf_free(&V), tu_buf_free(&I), tu_buf_free(&WS);
    brc_context_destroy(ctx);
}

/* ---- randperm ------------------------------------------------------------------------------------------ */

/* Philox4x32-10 as random.h states it: counter (lo32(ctr), hi32(ctr), 0, 0), key (lo32, hi32). */
static void philox_ref(uint64_t ctr, uint64_t key, uint32_t w[4]) {
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1, c3 = (uint32_t)p0, c0 = n0, c2 = n2;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    w[0] = c0, w[1] = c1, w[2] = c2, w[3] = c3;
}

static int pos_cmp(const void *pa, const void *pb) {
    const elem *a = pa, *b = pb;
    if (a->bits != b->bits) return a->bits < b->bits ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* The permutation sort.h documents: keys, stable sort, each run of equal keys shuffled. */
static void randperm_ref(int64_t n, uint64_t seed, uint64_t off, int64_t *out) {
    int lg = 0;
    while (lg < 31 && ((int64_t)1 << lg) < n) lg++;
    int bits = lg <= 8 ? 8 : (lg + 7) / 8 * 8;
    elem *e = malloc((size_t)(n ? n : 1) * sizeof *e);
    cr_assert(e);
    for (int64_t i = 0; i < n; i++) {
        uint32_t w[4];
        philox_ref(off + (uint64_t)(i / 4), seed, w);
        e[i] = (elem){(uint64_t)(w[i % 4] >> (32 - bits)), i};
    }
    qsort(e, (size_t)n, sizeof *e, pos_cmp);
    for (int64_t j = 0; j < n; j++) out[j] = e[j].pos;
    for (int64_t j = 0; j < n;) {
        int64_t m = 1;
        while (j + m < n && e[j + m].bits == e[j].bits) m++;
        uint64_t ctr = off + (uint64_t)((n + 3) / 4) + (uint64_t)j;
        uint32_t w[4];
        int used = 4;
        for (int64_t s = m - 1; s >= 1; s--) {
            if (used == 4) philox_ref(ctr++, seed, w), used = 0;
            int64_t r = (int64_t)(((uint64_t)w[used++] * (uint64_t)(s + 1)) >> 32);
            int64_t t = out[j + s];
            out[j + s] = out[j + r], out[j + r] = t;
        }
        j += m;
    }
    free(e);
}

static brc_plan *randperm_plan(brc_context *ctx, int64_t n, brc_dtype it, int64_t stride) {
    brc_sort_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_SORT_RANDPERM;
    brc_tensor_desc_contiguous(&d.indices, it, 1, &n);
    d.indices.strides[0] = stride;
    brc_plan *p = NULL;
    cr_assert_eq(brc_sort_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "randperm %lld: %s\n%s", (long long)n,
                 brc_last_error(), brc_last_jit_log());
    return p;
}

static int64_t out_at(const tu_buf *b, int64_t k) {
    if (b->t == BRC_I32) return (int64_t)sext(get_bits(b->h + (size_t)k * 4, 4), 4);
    return (int64_t)get_bits(b->h + (size_t)k * 8, 8);
}

/* Runs randperm(n) (output stride 1 or 2, i64 or i32; seed / offset by value or from device
 * memory) and checks it is a permutation, equal to the documented mapping, padding untouched. */
static void run_randperm(brc_context *ctx, int64_t n, brc_dtype it, int64_t stride, int dev, uint64_t seed,
                         uint64_t off, int64_t *got) {
    char what[160];
    snprintf(what, sizeof what, "randperm n=%lld %s stride=%lld dev=%d seed=%llu offset=%llu", (long long)n,
             brc_dtype_name(it), (long long)stride, dev, (unsigned long long)seed, (unsigned long long)off);
    brc_plan *p = randperm_plan(ctx, n, it, stride);
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf O = tu_buf_new(it, (size_t)(n * stride + 1)), WS = tu_buf_new(BRC_U8, wsz ? wsz : 1),
           S = tu_buf_new(BRC_I64, 2);
    poison(&O);
    poison(&WS);
    memcpy(S.h, &seed, 8), memcpy(S.h + 8, &off, 8);
    tu_buf_upload(&S);
    brc_philox ph = {dev ? 0 : seed, dev ? 0 : off, dev ? (const uint64_t *)dptr(&S, 0) : NULL};
    cr_assert_eq(brc_randperm_run(p, dptr(&O, 0), &ph, wsz ? dptr(&WS, 0) : NULL, wsz, NULL), BRC_STATUS_OK, "%s: %s",
                 what, brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", what);
    tu_buf_download(&O);
    int64_t *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
    unsigned char *seen = calloc((size_t)(n ? n : 1), 1);
    cr_assert(ref && seen);
    randperm_ref(n, seed, off, ref);
    long bad = 0, dup = 0, mism = 0;
    for (int64_t j = 0; j < n; j++) {
        int64_t v = out_at(&O, j * stride);
        got[j] = v;
        if (v < 0 || v >= n)
            bad++;
        else if (seen[v]++)
            dup++;
        if (v != ref[j] && mism++ == 0)
            cr_log_error("%s: first mismatch at %lld: %lld, want %lld", what, (long long)j, (long long)v,
                         (long long)ref[j]);
    }
    cr_expect(bad == 0 && dup == 0, "%s: not a permutation (%ld out of range, %ld repeated)", what, bad, dup);
    cr_expect_eq(mism, 0, "%s: %ld positions differ from the documented mapping (%s)", what, mism, brc_plan_sku(p));
    if (stride == 2 && n > 1) {
        uint64_t pad = get_bits(O.h + brc_dtype_size(it), brc_dtype_size(it)), want = 0;
        memset(&want, 0xa5, brc_dtype_size(it));
        cr_expect_eq(pad, want, "%s: padding written", what);
    }
    free(ref), free(seen);
    brc_plan_destroy(p);
    tu_buf_free(&O), tu_buf_free(&WS), tu_buf_free(&S);
}

/* Sizes from 1 to 2^20 + 3 (1 to 3 passes; ties in every size above 256), i64 and i32, strided
 * outputs, seed and offset from device memory: a permutation, bit-equal to the CPU model of the
 * documented mapping; by value and from device memory the same; other seeds and offsets give
 * other permutations. */
Test(randperm, permutation_and_reproducible, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    static const int64_t ns[] = {1, 2, 3, 17, 256, 1000, 4099, 70001, (1 << 20) + 3};
    int64_t *a = malloc(((1 << 20) + 3) * sizeof *a), *b = malloc(((1 << 20) + 3) * sizeof *b);
    cr_assert(a && b);
    for (int i = 0; i < (int)(sizeof ns / sizeof ns[0]); i++) {
        brc_dtype it = i % 2 ? BRC_I32 : BRC_I64;
        run_randperm(ctx, ns[i], it, 1 + (i % 3 == 1), 0, 0x1234 + (uint64_t)i, 7 * (uint64_t)i, a);
        run_randperm(ctx, ns[i], it, 1, 1, 0x1234 + (uint64_t)i, 7 * (uint64_t)i, b);
        cr_expect_eq(memcmp(a, b, (size_t)ns[i] * sizeof *a), 0, "n=%lld: by value and from device memory differ",
                     (long long)ns[i]);
        if (ns[i] < 17) continue;
        run_randperm(ctx, ns[i], it, 1, 0, 0x1235 + (uint64_t)i, 7 * (uint64_t)i, b);
        cr_expect_neq(memcmp(a, b, (size_t)ns[i] * sizeof *a), 0, "n=%lld: another seed, the same permutation",
                      (long long)ns[i]);
        run_randperm(ctx, ns[i], it, 1, 0, 0x1234 + (uint64_t)i, 7 * (uint64_t)i + 1000003, b);
        cr_expect_neq(memcmp(a, b, (size_t)ns[i] * sizeof *a), 0, "n=%lld: another offset, the same permutation",
                      (long long)ns[i]);
    }
    free(a), free(b);
    brc_context_destroy(ctx);
}

static int cmpd(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Uniformity: where element 0 lands in randperm(10) over 5000 offsets (chi-square, 9 degrees of
 * freedom, below 27.88: p = 0.001), and where element 0 lands in randperm(70001) over 2000
 * offsets (Kolmogorov-Smirnov against the uniform distribution, D below 1.95 / sqrt(2000): p =
 * 0.001). Offsets advance by the counters a run consumes. */
Test(randperm, uniform_positions, .timeout = 600) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    const int runs[2] = {5000, 2000};
    const int64_t ns[2] = {10, 70001};
    for (int c = 0; c < 2; c++) {
        int64_t n = ns[c];
        brc_plan *p = randperm_plan(ctx, n, BRC_I64, 1);
        size_t wsz = brc_plan_workspace_size(p);
        tu_buf O = tu_buf_new(BRC_I64, (size_t)(n * runs[c])), WS = tu_buf_new(BRC_U8, wsz);
        poison(&O);
        uint64_t step = (uint64_t)((n + 3) / 4 + n);
        for (int r = 0; r < runs[c]; r++) {
            brc_philox ph = {99, step * (uint64_t)r, NULL};
            cr_assert_eq(brc_randperm_run(p, dptr(&O, n * r), &ph, dptr(&WS, 0), wsz, NULL), BRC_STATUS_OK, "%s",
                         brc_last_error());
        }
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        tu_buf_download(&O);
        double *where = malloc((size_t)runs[c] * sizeof *where);
        int64_t cnt[10] = {0};
        cr_assert(where);
        for (int r = 0; r < runs[c]; r++) {
            const int64_t *o = (const int64_t *)O.h + n * r;
            int64_t at = -1;
            for (int64_t j = 0; j < n; j++)
                if (o[j] == 0) at = j;
            cr_assert(at >= 0, "run %d: 0 is missing", r);
            where[r] = ((double)at + 0.5) / (double)n;
            if (c == 0) cnt[at]++;
        }
        if (c == 0) {
            double chi = 0, want = runs[c] / 10.0;
            for (int k = 0; k < 10; k++) chi += ((double)cnt[k] - want) * ((double)cnt[k] - want) / want;
            cr_expect_lt(chi, 27.88, "randperm(10): chi-square %.2f of element 0's positions", chi);
            cr_log_info("randperm(10): chi-square %.2f (9 dof)", chi);
        } else {
            qsort(where, (size_t)runs[c], sizeof *where, cmpd);
            double dmax = 0;
            for (int r = 0; r < runs[c]; r++) {
                double lo = where[r] - (double)r / runs[c], hi = (double)(r + 1) / runs[c] - where[r];
                if (lo > dmax) dmax = lo;
                if (hi > dmax) dmax = hi;
            }
            cr_expect_lt(dmax, 1.95 / sqrt((double)runs[c]), "randperm(70001): KS D = %.4f", dmax);
            cr_log_info("randperm(70001): KS D = %.4f", dmax);
        }
        free(where);
        brc_plan_destroy(p);
        tu_buf_free(&O), tu_buf_free(&WS);
    }
    brc_context_destroy(ctx);
}

/* Run-time errors of brc_randperm_run. */
Test(randperm, run_errors, .timeout = 120) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    brc_plan *p = randperm_plan(ctx, 5000, BRC_I64, 1);
    size_t wsz = brc_plan_workspace_size(p);
    tu_buf O = tu_buf_new(BRC_I64, 5000), WS = tu_buf_new(BRC_U8, wsz);
    void *o = dptr(&O, 0), *ws = dptr(&WS, 0);
    brc_philox ph = {1, 2, NULL}, bad = {1, 2, (const uint64_t *)((char *)ws + 4)};
    cr_expect_eq(brc_randperm_run(p, o, NULL, ws, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "philox is NULL") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_randperm_run(p, o, &bad, ws, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_randperm_run(p, NULL, &ph, ws, wsz, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_randperm_run(p, (char *)o + 4, &ph, ws, wsz, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_randperm_run(p, o, &ph, ws, wsz - 1, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_sort_run(p, o, o, NULL, ws, wsz, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect(strstr(brc_last_error(), "use brc_randperm_run") != NULL, "%s", brc_last_error());
    cr_expect_eq(brc_randperm_run(p, o, &ph, ws, wsz, NULL), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    brc_plan_destroy(p);
    tu_buf_free(&O), tu_buf_free(&WS);
    brc_context_destroy(ctx);
}
