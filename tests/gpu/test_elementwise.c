/* GPU tests of the elementwise family: every kind x dtype of the tables against float64 host
 * references on random data, with poisoned outputs, at sizes 1, 7, 1000 and 2^20+3, through the
 * vector path, the scalar (misaligned) path, the strided kernel (transposed input, forced
 * general path), broadcasting and in place; and every cast pair. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- references that depend on the dtype under test ------------------------------------------- */

static brc_dtype g_dt; /* dtype of the inputs of the case being checked */

static int bits_of(brc_dtype t) { return (int)brc_dtype_size(t) * 8; }
static bool is_signed_int(brc_dtype t) { return t == BRC_I8 || t == BRC_I16 || t == BRC_I32 || t == BRC_I64; }

static double brc_ref_bnot(double x) { return g_dt == BRC_BOOL ? (x == 0) : (double)~(int64_t)x; }
static double brc_ref_band(double x, double y) { return (double)((int64_t)x & (int64_t)y); }
static double brc_ref_bor(double x, double y) { return (double)((int64_t)x | (int64_t)y); }
static double brc_ref_bxor(double x, double y) { return (double)((int64_t)x ^ (int64_t)y); }
static double brc_ref_shl(double x, double n) {
    if (n < 0 || n >= bits_of(g_dt)) return 0;
    return (double)(int64_t)((uint64_t)(int64_t)x << (int)n);
}
static double brc_ref_shr(double x, double n) {
    if (n < 0 || n >= bits_of(g_dt)) return x < 0 ? -1 : 0;
    return floor(x / ldexp(1.0, (int)n)); /* arithmetic for signed; x >= 0 for unsigned */
}
double brc_ref_nextafter(double x, double y) {
    return g_dt == BRC_F32 ? (double)nextafterf((float)x, (float)y) : nextafter(x, y);
}

static double ref_unary(int kind, double x, double a, double b) {
    (void)a;
    (void)b;
    switch (kind) {
#define X(N, n, num, cls, dom, pa, pb, dev, ref)                                                 \
    case num:                                                                                    \
        return (double)(ref);
        BRC_UNARY_KINDS(X)
#undef X
    }
    return NAN;
}
static double ref_binary(int kind, double x, double y) {
    switch (kind) {
#define X(N, n, num, cls, cmp, dom, dev, ref)                                                    \
    case num:                                                                                    \
        return (double)(ref);
        BRC_BINARY_KINDS(X)
#undef X
    }
    return NAN;
}
static double ref_ternary(int kind, double x, double y, double z, double a) {
    switch (kind) {
#define X(N, n, num, cls, pa, dev, ref)                                                          \
    case num:                                                                                    \
        return (double)(ref);
        BRC_TERNARY_KINDS(X)
#undef X
    }
    return NAN;
}

/* The cast rules of elementwise.h, on exact source values. */
static double ref_cast(brc_dtype from, brc_dtype to, double v) {
    if (to == BRC_BOOL) return v != 0 || isnan(v);
    if (brc_dtype_is_integer(to)) {
        int b = bits_of(to);
        double lo = is_signed_int(to) ? -ldexp(1, b - 1) : 0, hi = is_signed_int(to) ? ldexp(1, b - 1) - 1 : ldexp(1, b) - 1;
        if (brc_dtype_is_float(from)) {
            if (isnan(v)) return 0;
            v = trunc(v);
            return v < lo ? lo : v > hi ? hi : v;
        }
        return v; /* integer -> integer: wraps (tu_encode wraps) */
    }
    return v;
}

/* ---- buffers ---------------------------------------------------------------------------------- */

static void fill(tu_buf *b, int domain, uint64_t *rng, bool shift_counts) {
    brc_dtype t = b->t;
    for (size_t i = 0; i < b->n; i++) {
        double v;
        if (t == BRC_BOOL) v = (double)(tu_rand(rng) & 1);
        else if (brc_dtype_is_integer(t)) {
            bool u = !is_signed_int(t);
            if (shift_counts) v = (double)(tu_rand(rng) % (uint64_t)(bits_of(t) + 3));
            else if (domain == BRC_DOM_NZ || domain == BRC_DOM_POS) {
                v = (double)(1 + tu_rand(rng) % 9);
                if (!u && domain == BRC_DOM_NZ && (tu_rand(rng) & 1)) v = -v;
            } else v = u ? (double)(tu_rand(rng) % 41) : (double)((int64_t)(tu_rand(rng) % 41) - 20);
        } else {
            static const double lo[] = {-4, 0.125, 0.0625, -0.95, 0.02, 1, -1.2}, hi[] = {4, 4, 8, 0.95, 0.98, 8, 1.2};
            v = tu_uniform(rng, lo[domain], hi[domain]);
            if (domain == BRC_DOM_NZ && (tu_rand(rng) & 1)) v = -v;
        }
        tu_encode(t, v, b->h + i * brc_dtype_size(t));
    }
}

static void poison(tu_buf *b) {
    memset(b->h, brc_dtype_is_float(b->t) ? 0xff : 0xa5, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}

/* Tolerance on |out - ref| <= tol * max(|ref|, 1): the output dtype's rounding plus the
 * compute type's function error. Integers and bool are exact. */
static double tolerance(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1e-12;
    case BRC_F32: return 4e-6;
    case BRC_F16: return 2e-3;
    case BRC_BF16: return 1.6e-2;
    default: return 0;
    }
}

static bool close_enough(brc_dtype t, double o, double r) {
    if (t == BRC_BOOL) return o == (r != 0 || isnan(r));
    if (brc_dtype_is_float(t) && t != BRC_F64) { /* the reference, rounded as the output is */
        unsigned char tmp[8];
        tu_encode(t, r, tmp);
        double rr = tu_decode(t, tmp);
        if (isinf(rr) || t == BRC_FP8E4M3 || t == BRC_FP8E5M2) return (isnan(rr) && isnan(o)) || o == rr;
    }
    if (isnan(r)) return isnan(o);
    if (isinf(r)) return o == r;
    if (!brc_dtype_is_float(t)) {
        unsigned char tmp[8];
        tu_encode(t, r, tmp); /* integer results wrap */
        return o == tu_decode(t, tmp);
    }
    double m = fabs(r) > 1 ? fabs(r) : 1;
    return fabs(o - r) <= tolerance(t) * m;
}

/* ---- one case: an op, a layout, run and checked ---------------------------------------------------- */

typedef struct op {
    int family; /* 0 unary, 1 binary, 2 ternary, 3 cast */
    int kind;
    brc_dtype din[3], dout;
    int nin;
    double a, b;
    int domain[3];
    const char *name;
} op;

static size_t extent(const brc_tensor_desc *d) {
    size_t e = 1;
    for (int i = 0; i < d->rank; i++)
        if (d->shape[i] == 0) return 0;
        else e += (size_t)((d->shape[i] - 1) * d->strides[i]);
    return e;
}

static brc_status make_plan(brc_context *ctx, const op *o, brc_tensor_desc in[3], brc_tensor_desc *out,
                            const brc_plan_prefs *pr, brc_plan **p) {
    switch (o->family) {
    case 0: { brc_unary_desc d = {(brc_unary_kind)o->kind, in[0], *out, o->a, o->b}; return brc_unary_plan(ctx, &d, pr, p); }
    case 1: { brc_binary_desc d = {(brc_binary_kind)o->kind, in[0], in[1], *out}; return brc_binary_plan(ctx, &d, pr, p); }
    case 2: { brc_ternary_desc d = {(brc_ternary_kind)o->kind, in[0], in[1], in[2], *out, o->a}; return brc_ternary_plan(ctx, &d, pr, p); }
    default: { brc_cast_desc d = {in[0], *out}; return brc_cast_plan(ctx, &d, pr, p); }
    }
}

static brc_status run_plan(const op *o, const brc_plan *p, CUdeviceptr x[3], CUdeviceptr y) {
    void *yp = (void *)y;
    const void *a = (const void *)x[0], *b = (const void *)x[1], *c = (const void *)x[2];
    switch (o->family) {
    case 0: return brc_unary_run(p, a, yp, NULL, NULL);
    case 1: return brc_binary_run(p, a, b, yp, NULL, NULL);
    case 2: return brc_ternary_run(p, a, b, c, yp, NULL, NULL);
    default: return brc_cast_run(p, a, yp, NULL, NULL);
    }
}

static double eval(const op *o, const double v[3]) {
    g_dt = o->din[o->family == 2 && o->kind == BRC_TERNARY_WHERE ? 1 : 0];
    switch (o->family) {
    case 0: return ref_unary(o->kind, v[0], o->a, o->b);
    case 1: return ref_binary(o->kind, v[0], v[1]);
    case 2: return ref_ternary(o->kind, v[0], v[1], v[2], o->a);
    default: return ref_cast(o->din[0], o->dout, v[0]);
    }
}

/* Layout ids: contiguous (optionally misaligned by one element, optionally forced strided),
 * transposed input 0, broadcast of inputs >= 1 (or of input 0 for unary), in place. */
enum { L_CONTIG, L_MISALIGNED, L_FORCED, L_TRANSPOSED, L_BROADCAST, L_INPLACE };
static const char *const lname[] = {"contig", "misaligned", "forced-strided", "transposed", "broadcast", "in-place"};

static int run_case(brc_context *ctx, const op *o, int layout, int64_t n, uint64_t seed) {
    int64_t R = 37, C = 29;
    brc_tensor_desc in[3], out;
    bool two_d = layout == L_TRANSPOSED || layout == L_BROADCAST;
    int64_t shape2[2] = {R, C};
    if (two_d) brc_tensor_desc_contiguous(&out, o->dout, 2, shape2);
    else brc_tensor_desc_contiguous(&out, o->dout, 1, &n);
    for (int i = 0; i < o->nin; i++) {
        in[i] = out;
        in[i].dtype = o->din[i];
        if (layout == L_TRANSPOSED && i == 0) {
            in[i].strides[0] = 1;
            in[i].strides[1] = R;
        }
        if (layout == L_BROADCAST && (i >= 1 || o->nin == 1)) { /* a row vector */
            brc_tensor_desc_contiguous(&in[i], o->din[i], 1, &C);
        }
    }
    if (layout == L_INPLACE && o->din[0] != o->dout) return 0;
    size_t off = layout == L_MISALIGNED ? 1 : 0;
    uint64_t rng = seed;
    tu_buf bi[3], bo = tu_buf_new(o->dout, extent(&out) + off);
    for (int i = 0; i < o->nin; i++) {
        bi[i] = tu_buf_new(o->din[i], extent(&in[i]) + off);
        fill(&bi[i], o->domain[i], &rng, o->family == 1 && (o->kind == BRC_BINARY_SHL || o->kind == BRC_BINARY_SHR) && i == 1);
        tu_buf_upload(&bi[i]);
    }
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.force_strided = layout == L_FORCED;
    brc_plan *p = NULL;
    brc_status s = make_plan(ctx, o, in, &out, &pr, &p);
    cr_assert_eq(s, BRC_STATUS_OK, "%s %s: %s\n%s", o->name, lname[layout], brc_last_error(), brc_last_jit_log());
    CUdeviceptr x[3] = {0, 0, 0}, y = bo.d + off * brc_dtype_size(o->dout);
    for (int i = 0; i < o->nin; i++) x[i] = bi[i].d + off * brc_dtype_size(o->din[i]);
    for (int i = o->nin; i < 3; i++) x[i] = x[0];
    if (layout == L_INPLACE) { /* the output is input 0's buffer */
        y = x[0];
        bo.n = 0;
    } else {
        poison(&bo);
    }
    s = run_plan(o, p, x, y);
    cr_assert_eq(s, BRC_STATUS_OK, "%s %s: %s", o->name, lname[layout], brc_last_error());
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s %s: kernel failed", o->name, lname[layout]);
    tu_buf res = layout == L_INPLACE ? bi[0] : bo;
    unsigned char *keep = NULL;
    if (layout == L_INPLACE) { /* keep the inputs for the reference, read the result */
        keep = malloc(res.n * brc_dtype_size(res.t));
        memcpy(keep, res.h, res.n * brc_dtype_size(res.t));
    }
    tu_buf_download(&res);
    int bad = 0;
    int64_t total = brc_tensor_desc_numel(&out);
    for (int64_t e = 0; e < total; e++) {
        int64_t r = two_d ? e / C : 0, c = two_d ? e % C : e;
        double v[3] = {0, 0, 0};
        for (int i = 0; i < o->nin; i++) {
            int64_t idx = in[i].rank == 2 ? r * in[i].strides[0] + c * in[i].strides[1] : c * in[i].strides[0];
            const unsigned char *src = (layout == L_INPLACE && i == 0 ? keep : bi[i].h);
            v[i] = tu_decode(o->din[i], src + ((size_t)idx + off) * brc_dtype_size(o->din[i]));
        }
        double ref = eval(o, v);
        double got = tu_decode(o->dout, res.h + ((size_t)e + off) * brc_dtype_size(o->dout));
        if (!close_enough(o->dout, got, ref) && bad++ < 3)
            cr_log_error("%s %s n=%lld [%lld]: in (%.9g, %.9g, %.9g) got %.9g want %.9g", o->name, lname[layout],
                         (long long)total, (long long)e, v[0], v[1], v[2], got, ref);
    }
    cr_expect_eq(bad, 0, "%s (%s) %s n=%lld: %d of %lld elements wrong", o->name, brc_plan_sku(p), lname[layout],
                 (long long)total, bad, (long long)total);
    free(keep);
    brc_plan_destroy(p);
    for (int i = 0; i < o->nin; i++) tu_buf_free(&bi[i]);
    if (layout != L_INPLACE) tu_buf_free(&bo);
    else { bo.h = NULL; tu_buf_free(&bo); }
    return bad;
}

static void run_all_layouts(brc_context *ctx, const op *o) {
    static const int64_t sizes[] = {1, 7, 1000, (1 << 20) + 3};
    for (size_t i = 0; i < 4; i++) run_case(ctx, o, L_CONTIG, sizes[i], 1234 + i);
    run_case(ctx, o, L_MISALIGNED, 1000, 99);
    run_case(ctx, o, L_FORCED, 1000, 98);
    run_case(ctx, o, L_TRANSPOSED, 0, 97);
    run_case(ctx, o, L_BROADCAST, 0, 96);
    run_case(ctx, o, L_INPLACE, 1000, 95);
}

static const brc_dtype all_dtypes[] = {BRC_F32, BRC_F64, BRC_F16, BRC_BF16, BRC_I8, BRC_U8, BRC_I16,
                                       BRC_I32, BRC_I64, BRC_U32, BRC_BOOL};


/* Integer parameters: the float defaults of the table would truncate to dull values. */
static void int_params(int kind, double *a, double *b) {
    if (kind == BRC_UNARY_AFFINE) *a = 3, *b = -2;
    if (kind == BRC_UNARY_CLAMP) *a = -5, *b = 7;
    if (kind == BRC_UNARY_THRESHOLD) *a = 2, *b = -7;
}

typedef struct uinfo { unsigned cls; int dom; double a, b; const char *name; } uinfo;
static const uinfo unary_info[] = {
#define X(N, n, num, cls, dom, pa, pb, dev, ref) [num] = {cls, dom, pa, pb, #n},
    BRC_UNARY_KINDS(X)
#undef X
};
typedef struct binfo { unsigned cls; int cmp, dom; const char *name; } binfo;
static const binfo binary_info[] = {
#define X(N, n, num, cls, cmp, dom, dev, ref) [num] = {cls, cmp, dom, #n},
    BRC_BINARY_KINDS(X)
#undef X
};
typedef struct tinfo { unsigned cls; double a; const char *name; } tinfo;
static const tinfo ternary_info[] = {
#define X(N, n, num, cls, pa, dev, ref) [num] = {cls, pa, #n},
    BRC_TERNARY_KINDS(X)
#undef X
};

static int ints_0_to(int n, int *out) {
    for (int i = 0; i < n; i++) out[i] = i;
    return n;
}

ParameterizedTestParameters(unary, every_dtype) {
    static int k[BRC_UNARY_COUNT_];
    return cr_make_param_array(int, k, (size_t)ints_0_to(BRC_UNARY_COUNT_, k));
}
ParameterizedTest(int *kind, unary, every_dtype, .timeout = 600) {
    brc_context *ctx = tu_device_or_skip();
    const uinfo *u = &unary_info[*kind];
    int tested = 0;
    for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++) {
        brc_dtype dt = all_dtypes[t];
        if (!(u->cls & brc__dtype_class(dt))) continue;
        char name[96];
        snprintf(name, sizeof name, "unary(kind=%s,dtype=%s)", u->name, brc_dtype_name(dt));
        op o = {0, *kind, {dt, dt, dt}, dt, 1, u->a, u->b, {u->dom, 0, 0}, name};
        if (!brc_dtype_is_float(dt)) { /* parameters convert to the compute type by the cast rules */
            int_params(*kind, &o.a, &o.b);
            o.a = ref_cast(BRC_F64, dt, o.a);
            o.b = ref_cast(BRC_F64, dt, o.b);
        }
        run_all_layouts(ctx, &o);
        tested++;
    }
    cr_expect_gt(tested, 0, "kind %s has no dtype", u->name);
}

ParameterizedTestParameters(binary, every_dtype) {
    static int k[BRC_BINARY_COUNT_];
    return cr_make_param_array(int, k, (size_t)ints_0_to(BRC_BINARY_COUNT_, k));
}
ParameterizedTest(int *kind, binary, every_dtype, .timeout = 600) {
    brc_context *ctx = tu_device_or_skip();
    const binfo *b = &binary_info[*kind];
    int tested = 0;
    for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++) {
        brc_dtype dt = all_dtypes[t];
        if (!(b->cls & brc__dtype_class(dt))) continue;
        char name[96];
        snprintf(name, sizeof name, "binary(kind=%s,dtype=%s)", b->name, brc_dtype_name(dt));
        int dx = *kind == BRC_BINARY_POW ? BRC_DOM_POS : BRC_DOM_ANY;
        op o = {1, *kind, {dt, dt, dt}, b->cmp ? BRC_BOOL : dt, 2, 0, 0, {dx, b->dom, 0}, name};
        run_all_layouts(ctx, &o);
        tested++;
    }
    cr_expect_gt(tested, 0);
}

ParameterizedTestParameters(ternary, every_dtype) {
    static int k[BRC_TERNARY_COUNT_];
    return cr_make_param_array(int, k, (size_t)ints_0_to(BRC_TERNARY_COUNT_, k));
}
ParameterizedTest(int *kind, ternary, every_dtype, .timeout = 600) {
    brc_context *ctx = tu_device_or_skip();
    const tinfo *ti = &ternary_info[*kind];
    for (size_t t = 0; t < sizeof all_dtypes / sizeof all_dtypes[0]; t++) {
        brc_dtype dt = all_dtypes[t];
        if (!(ti->cls & brc__dtype_class(dt))) continue;
        char name[96];
        snprintf(name, sizeof name, "ternary(kind=%s,dtype=%s)", ti->name, brc_dtype_name(dt));
        bool where = *kind == BRC_TERNARY_WHERE;
        int dz = *kind == BRC_TERNARY_ADDCDIV ? BRC_DOM_NZ : BRC_DOM_ANY;
        op o = {2, *kind, {where ? BRC_BOOL : dt, dt, dt}, dt, 3, ti->a, 0, {BRC_DOM_ANY, BRC_DOM_ANY, dz}, name};
        run_all_layouts(ctx, &o);
        if (where) { /* a float condition too (nonzero is true) */
            o.din[0] = BRC_F32;
            run_case(ctx, &o, L_CONTIG, 1000, 5);
        }
    }
}

static const brc_dtype cast_dtypes[] = {BRC_F32, BRC_F64, BRC_F16, BRC_BF16, BRC_FP8E4M3, BRC_FP8E5M2, BRC_I8,
                                        BRC_U8, BRC_I16, BRC_I32, BRC_I64, BRC_U32, BRC_BOOL};

ParameterizedTestParameters(cast, from_each_dtype) {
    static int k[13];
    return cr_make_param_array(int, k, (size_t)ints_0_to(13, k));
}
ParameterizedTest(int *from, cast, from_each_dtype, .timeout = 600) {
    brc_context *ctx = tu_device_or_skip();
    brc_dtype src = cast_dtypes[*from];
    for (size_t t = 0; t < 13; t++) {
        brc_dtype dst = cast_dtypes[t];
        char name[96];
        snprintf(name, sizeof name, "cast(from=%s,to=%s)", brc_dtype_name(src), brc_dtype_name(dst));
        op o = {3, -1, {src, src, src}, dst, 1, 0, 0, {BRC_DOM_ANY, 0, 0}, name};
        run_case(ctx, &o, L_CONTIG, 1000, 7 + t);
        run_case(ctx, &o, L_CONTIG, (1 << 20) + 3, 8 + t);
        run_case(ctx, &o, L_TRANSPOSED, 0, 9 + t);
    }
}

/* Saturation, NaN and rounding edges of the casts, on chosen values. */
Test(cast, edge_values) {
    brc_context *ctx = tu_device_or_skip();
    static const float vals[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -2.5f, 448.0f, 449.0f,
                                 464.0f, 480.0f, 1e6f, -1e6f, 57344.0f, 61440.0f, 65504.0f, 65520.0f, 3e9f, -3e9f,
                                 1e-8f, 0.0009765625f, 127.6f, -128.9f, 255.5f, 4294967296.0f, 9.3e18f, -9.3e18f};
    size_t n = sizeof vals / sizeof vals[0];
    tu_buf x = tu_buf_new(BRC_F32, n);
    memcpy(x.h, vals, sizeof vals);
    tu_buf_upload(&x);
    for (size_t t = 0; t < 13; t++) {
        brc_dtype dst = cast_dtypes[t];
        tu_buf y = tu_buf_new(dst, n);
        poison(&y);
        brc_cast_desc d;
        int64_t nn = (int64_t)n;
        brc_tensor_desc_contiguous(&d.x, BRC_F32, 1, &nn);
        brc_tensor_desc_contiguous(&d.y, dst, 1, &nn);
        brc_plan *p = NULL;
        cr_assert_eq(brc_cast_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_assert_eq(brc_cast_run(p, (void *)x.d, (void *)y.d, NULL, NULL), BRC_STATUS_OK);
        tu_buf_download(&y);
        for (size_t i = 0; i < n; i++) {
            double ref = ref_cast(BRC_F32, dst, vals[i]);
            double got = tu_buf_at(&y, i);
            bool ok = close_enough(dst, got, ref);
            if (dst == BRC_F32 || dst == BRC_F64) ok = (isnan(ref) && isnan(got)) || got == ref;
            cr_expect(ok, "cast f32->%s of %.9g: got %.9g want %.9g", brc_dtype_name(dst), (double)vals[i], got, ref);
        }
        brc_plan_destroy(p);
        tu_buf_free(&y);
    }
    tu_buf_free(&x);
}

/* NaN propagation decided in elementwise.h: relu, clamp, maximum propagate; fmax does not. */
Test(semantics, nan_propagation_and_round_half_even) {
    brc_context *ctx = tu_device_or_skip();
    float xs[6] = {NAN, 2.5f, -2.5f, 0.5f, 1.5f, -0.5f}, ys[6] = {1, NAN, 1, 1, 1, 1};
    int64_t n = 6;
    tu_buf x = tu_buf_new(BRC_F32, 6), y = tu_buf_new(BRC_F32, 6), o = tu_buf_new(BRC_F32, 6);
    memcpy(x.h, xs, sizeof xs);
    memcpy(y.h, ys, sizeof ys);
    tu_buf_upload(&x);
    tu_buf_upload(&y);
    brc_unary_desc ud = {.kind = BRC_UNARY_ROUND};
    brc_tensor_desc_contiguous(&ud.x, BRC_F32, 1, &n);
    ud.y = ud.x;
    brc_plan *p;
    cr_assert_eq(brc_unary_plan(ctx, &ud, NULL, &p), BRC_STATUS_OK);
    cr_assert_eq(brc_unary_run(p, (void *)x.d, (void *)o.d, NULL, NULL), BRC_STATUS_OK);
    tu_buf_download(&o);
    float want_round[6] = {NAN, 2.0f, -2.0f, 0.0f, 2.0f, -0.0f};
    for (int i = 1; i < 6; i++) cr_expect_eq(((float *)o.h)[i], want_round[i], "round(%g)", (double)xs[i]);
    brc_plan_destroy(p);
    ud.kind = BRC_UNARY_RELU;
    cr_assert_eq(brc_unary_plan(ctx, &ud, NULL, &p), BRC_STATUS_OK);
    cr_assert_eq(brc_unary_run(p, (void *)x.d, (void *)o.d, NULL, NULL), BRC_STATUS_OK);
    tu_buf_download(&o);
    cr_expect(isnan(((float *)o.h)[0]), "relu(NaN) is NaN");
    brc_plan_destroy(p);
    brc_binary_desc bd = {.kind = BRC_BINARY_MAXIMUM, .a = ud.x, .b = ud.x, .y = ud.x};
    cr_assert_eq(brc_binary_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK);
    cr_assert_eq(brc_binary_run(p, (void *)x.d, (void *)y.d, (void *)o.d, NULL, NULL), BRC_STATUS_OK);
    tu_buf_download(&o);
    cr_expect(isnan(((float *)o.h)[0]) && isnan(((float *)o.h)[1]), "maximum propagates NaN");
    brc_plan_destroy(p);
    bd.kind = BRC_BINARY_FMAX;
    cr_assert_eq(brc_binary_plan(ctx, &bd, NULL, &p), BRC_STATUS_OK);
    cr_assert_eq(brc_binary_run(p, (void *)x.d, (void *)y.d, (void *)o.d, NULL, NULL), BRC_STATUS_OK);
    tu_buf_download(&o);
    cr_expect(((float *)o.h)[0] == 1.0f && ((float *)o.h)[1] == 2.5f, "fmax ignores NaN");
    brc_plan_destroy(p);
    tu_buf_free(&x);
    tu_buf_free(&y);
    tu_buf_free(&o);
}

/* A run with a forbidden alias or a misaligned pointer is refused before launch. */
Test(run, bad_pointers_are_refused) {
    brc_context *ctx = tu_device_or_skip();
    int64_t s2[2] = {4, 8};
    brc_unary_desc d = {.kind = BRC_UNARY_NEG};
    brc_tensor_desc_contiguous(&d.x, BRC_F32, 2, s2);
    d.y = d.x;
    d.x.strides[0] = 1;
    d.x.strides[1] = 4; /* x transposed: may not alias y */
    brc_plan *p;
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK);
    tu_buf b = tu_buf_new(BRC_F32, 64);
    cr_expect_eq(brc_unary_run(p, (void *)b.d, (void *)b.d, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "aliases"));
    cr_expect_eq(brc_unary_run(p, (void *)(b.d + 2), (void *)(b.d + 128), NULL, NULL), BRC_STATUS_MISALIGNED);
    cr_expect_eq(brc_unary_run(p, NULL, (void *)b.d, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    brc_plan_destroy(p);
    tu_buf_free(&b);
}
