/* Shared test helpers (see testutil.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

const char *tu_fresh_cache(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/brc-test-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL, "mkdtemp failed");
    setenv("BARACUDA_CACHE_DIR", dir, 1);
    unsetenv("BARACUDA_CACHE_DISABLE");
    brc__cache_reset();
    brc__jit_forget_memory();
    return dir;
}

brc_context *tu_device_or_skip(void) {
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    o.device = 0;
    brc_context *ctx = NULL;
    brc_status s = brc_context_create(&o, &ctx);
    if (s == BRC_STATUS_LIBRARY_NOT_FOUND || s == BRC_STATUS_NO_DEVICE) {
        cr_skip_test("no CUDA device here (%s): GPU test skipped", brc_last_error());
    }
    cr_assert_eq(s, BRC_STATUS_OK, "context: %s", brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxPushCurrent(ctx->cu_ctx), CUDA_SUCCESS);
    return ctx;
}

const char *tu_stderr_text(void) {
    static char buf[1 << 16];
    fflush(stderr);
    size_t n = fread(buf, 1, sizeof buf - 1, cr_get_redirected_stderr());
    buf[n] = '\0';
    return buf;
}

void tu_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

brc_context *tu_offline(const char *arch) {
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    o.device = -1;
    o.arch = arch;
    brc_context *ctx = NULL;
    cr_assert_eq(brc_context_create(&o, &ctx), BRC_STATUS_OK, "%s", brc_last_error());
    return ctx;
}

tu_buf tu_buf_new(brc_dtype t, size_t n) {
    tu_buf b = {t, n, calloc(n ? n : 1, brc_dtype_size(t)), 0};
    cr_assert(b.h);
    cr_assert_eq(brc__cu()->cuMemAlloc(&b.d, (n ? n : 1) * brc_dtype_size(t) + 256), CUDA_SUCCESS);
    return b;
}

void tu_buf_free(tu_buf *b) {
    free(b->h);
    if (b->d) brc__cu()->cuMemFree(b->d);
    memset(b, 0, sizeof *b);
}

void tu_buf_upload(tu_buf *b) {
    cr_assert_eq(brc__cu()->cuMemcpyHtoD(b->d, b->h, b->n * brc_dtype_size(b->t)), CUDA_SUCCESS);
}

void tu_buf_download(tu_buf *b) {
    cr_assert_eq(brc__cu()->cuMemcpyDtoH(b->h, b->d, b->n * brc_dtype_size(b->t)), CUDA_SUCCESS);
}

double tu_buf_at(const tu_buf *b, size_t i) { return tu_decode(b->t, b->h + i * brc_dtype_size(b->t)); }

brc_tensor_desc tu_mat(brc_dtype t, int64_t rows, int64_t cols, int64_t stride) {
    int64_t shape[2] = {rows, cols};
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, 2, shape);
    d.strides[0] = stride;
    return d;
}

brc_unary_desc tu_unary(brc_unary_kind kind, brc_dtype t, int64_t n) {
    brc_unary_desc d = {.kind = kind};
    brc_tensor_desc_contiguous(&d.x, t, 1, &n);
    d.y = d.x;
    return d;
}

uint64_t tu_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_uniform(uint64_t *s, double lo, double hi) {
    return lo + (hi - lo) * ((double)(tu_rand(s) >> 11) / 9007199254740992.0);
}

/* ---- storage formats, modelled independently of the device code -------------------------- */

uint16_t tu_f32_to_f16(float f) {
    _Float16 h = (_Float16)f; /* GCC's conversion rounds to nearest even */
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}

static double f16_value(uint16_t b) {
    _Float16 h;
    memcpy(&h, &b, 2);
    return (double)h;
}

uint16_t tu_f32_to_bf16(float f) {
    if (isnan(f)) return 0x7fc0;
    /* Nearest of the two bf16 neighbours; ties to the even one. */
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    float flo, fhi;
    memcpy(&flo, &lo, 4);
    memcpy(&fhi, &hi, 4);
    double dlo = fabs((double)f - (double)flo), dhi = fabs((double)fhi - (double)f);
    if (isinf(f)) return (uint16_t)(u >> 16);
    if (dlo < dhi || (dlo == dhi && ((lo >> 16) & 1u) == 0)) return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

static double bf16_value(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

double tu_fp8_value(brc_dtype t, uint8_t c) {
    bool e4 = t == BRC_FP8E4M3;
    int E = e4 ? 4 : 5, M = e4 ? 3 : 2, B = e4 ? 7 : 15;
    int s = c >> 7, e = (c >> M) & ((1 << E) - 1), m = c & ((1 << M) - 1);
    double v;
    if (e4 && (c & 0x7f) == 0x7f) return NAN;
    if (!e4 && e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m, 1 - B - M);
    else v = ldexp(1.0 + (double)m / (1 << M), e - B);
    return s ? -v : v;
}

/* Brute force: the nearest finite code (ties to the even code), saturating. */
uint8_t tu_f32_to_fp8(brc_dtype t, float f) {
    bool e4 = t == BRC_FP8E4M3;
    if (isnan(f)) return e4 ? 0x7f : 0x7e;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    if (isinf(f)) return (uint8_t)(sign | (e4 ? 0x7e : 0x7b)); /* saturating */
    double a = fabs((double)f);
    int best = 0;
    double bestd = INFINITY;
    for (int c = 0; c < 128; c++) {
        double v = tu_fp8_value(t, (uint8_t)c);
        if (isnan(v) || isinf(v)) continue;
        double d = fabs(v - a);
        if (d < bestd || (d == bestd && (c & 1) == 0)) {
            best = c;
            bestd = d;
        }
    }
    return (uint8_t)(sign | best);
}

double tu_decode(brc_dtype t, const void *p) {
    switch (t) {
    case BRC_F32: { float v; memcpy(&v, p, 4); return v; }
    case BRC_F64: { double v; memcpy(&v, p, 8); return v; }
    case BRC_F16: { uint16_t v; memcpy(&v, p, 2); return f16_value(v); }
    case BRC_BF16: { uint16_t v; memcpy(&v, p, 2); return bf16_value(v); }
    case BRC_FP8E4M3: case BRC_FP8E5M2: return tu_fp8_value(t, *(const uint8_t *)p);
    case BRC_I8: return *(const int8_t *)p;
    case BRC_U8: return *(const uint8_t *)p;
    case BRC_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case BRC_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case BRC_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case BRC_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case BRC_BOOL: { uint8_t v = *(const uint8_t *)p; return v > 1 ? NAN : v; }
    default: return NAN;
    }
}

/* Floats: round to f32 first for the halves and fp8 (the library's rule). Integers: wrap
 * modulo 2^bits (the value must be an integer). bool: nonzero. */
void tu_encode(brc_dtype t, double v, void *p) {
    switch (t) {
    case BRC_F32: { float f = (float)v; memcpy(p, &f, 4); return; }
    case BRC_F64: memcpy(p, &v, 8); return;
    case BRC_F16: { uint16_t b = tu_f32_to_f16((float)v); memcpy(p, &b, 2); return; }
    case BRC_BF16: { uint16_t b = tu_f32_to_bf16((float)v); memcpy(p, &b, 2); return; }
    case BRC_FP8E4M3: case BRC_FP8E5M2: *(uint8_t *)p = tu_f32_to_fp8(t, (float)v); return;
    case BRC_BOOL: *(uint8_t *)p = v != 0; return;
    default: break;
    }
    int64_t i = v >= 0x1p63 ? INT64_MAX : v <= -0x1p63 ? INT64_MIN : (int64_t)v;
    uint64_t u = (uint64_t)i;
    switch (t) {
    case BRC_I8: case BRC_U8: { uint8_t b = (uint8_t)u; memcpy(p, &b, 1); return; }
    case BRC_I16: { uint16_t b = (uint16_t)u; memcpy(p, &b, 2); return; }
    case BRC_I32: case BRC_U32: { uint32_t b = (uint32_t)u; memcpy(p, &b, 4); return; }
    case BRC_I64: memcpy(p, &i, 8); return;
    default: return;
    }
}

/* ---- references the kind tables name ----------------------------------------------------- */

double brc_ref_erfinv(double x) {
    /* Newton on erf from a rough start; erf is exact enough in double. */
    if (x <= -1) return -INFINITY;
    if (x >= 1) return INFINITY;
    double y = 0.886226925452758 * x;
    for (int i = 0; i < 100; i++) {
        double e = erf(y) - x;
        double step = e / (1.1283791670955126 * exp(-y * y));
        y -= step;
        if (fabs(step) < 1e-17 * (1 + fabs(y))) break;
    }
    return y;
}

double brc_ref_digamma(double x) {
    double acc = 0;
    while (x < 12) {
        acc -= 1 / x;
        x += 1;
    }
    double r = 1 / x, r2 = r * r;
    return acc + log(x) - 0.5 * r -
           r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132)))));
}

double brc_ref_clamp(double x, double lo, double hi) {
    return brc_ref_minn(brc_ref_maxn(x, lo), hi); /* min(max(x, lo), hi), even when lo > hi */
}
double brc_ref_maxn(double x, double y) { return isnan(x) || isnan(y) ? NAN : (x > y ? x : y); }
double brc_ref_minn(double x, double y) { return isnan(x) || isnan(y) ? NAN : (x < y ? x : y); }
double brc_ref_remainder(double x, double y) {
    double r = fmod(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}

/* ---- descriptors and validation (host tests) ---------------------------------------------------- */

void tu_round_trip(brc_context *ctx, brc_plan *p) {
    brc_plan *q = NULL;
    cr_assert_eq(brc__plan_from_descriptor(ctx, brc_plan_descriptor(p), &q), BRC_STATUS_OK, "%s: %s",
                 brc_plan_descriptor(p), brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(q), brc_plan_descriptor(p));
    cr_expect_str_eq(brc_plan_sku(q), brc_plan_sku(p), "the same kernels");
    brc_plan_destroy(q);
    brc_plan_destroy(p);
}

tu_capture tu_capture_begin(unsigned flags) {
    tu_capture c;
    cr_assert_eq(brc__cu()->cuStreamCreate(&c.s, flags), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuStreamBeginCapture(c.s, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_SUCCESS);
    return c;
}

void tu_capture_end(tu_capture *c) {
    cr_assert_eq(brc__cu()->cuStreamEndCapture(c->s, &c->g), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuGraphInstantiateWithFlags(&c->ge, c->g, 0), CUDA_SUCCESS);
}

void tu_capture_replay(const tu_capture *c) {
    cr_assert_eq(brc__cu()->cuGraphLaunch(c->ge, c->s), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuStreamSynchronize(c->s), CUDA_SUCCESS);
}

void tu_capture_free(tu_capture *c) {
    brc__cu()->cuGraphExecDestroy(c->ge);
    brc__cu()->cuGraphDestroy(c->g);
    brc__cu()->cuStreamDestroy(c->s);
}

void tu_expect_fail(brc_status got, brc_status want, const char *needle, brc_plan *p) {
    cr_expect_eq(got, want, "status %s, message: %s", brc_status_name(got), brc_last_error());
    cr_expect(strstr(brc_last_error(), needle) != NULL, "message '%s' lacks '%s'", brc_last_error(), needle);
    cr_expect_null(p);
}

void tu_expect_bad_descriptors(brc_context *ctx, const tu_bad_desc *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        brc_plan *p = NULL;
        brc__error_clear(); /* brc_warm would; the internal entry point does not */
        brc_status s = brc__plan_from_descriptor(ctx, cases[i].text, &p);
        cr_expect_eq(s, cases[i].st, "%s: %s", cases[i].text, brc_last_error());
        cr_expect(strstr(brc_last_error(), cases[i].msg) != NULL, "%s: message '%s'", cases[i].text, brc_last_error());
        cr_expect(strstr(brc_last_error(), "column ") == brc_last_error(), "%s", brc_last_error());
        cr_expect_null(p);
    }
}

/* ---- Philox4x32-10 ---------------------------------------------------------------------------- */

void tu_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t a = (uint64_t)c0 * 0xD2511F53u, b = (uint64_t)c2 * 0xCD9E8D57u;
        uint32_t n0 = (uint32_t)(b >> 32) ^ c1 ^ k0, n2 = (uint32_t)(a >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)b, c3 = (uint32_t)a, c0 = n0, c2 = n2;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void tu_philox_known_answers(void) {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
         0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
         0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        tu_philox(kat[i], kat[i] + 4, out);
        for (int j = 0; j < 4; j++) cr_expect_eq(out[j], kat[i][6 + j], "vector %d word %d: %08x", i, j, out[j]);
    }
}
