/* GPU tests of the GEMM family against a float64 host reference on random data with poisoned
 * outputs: every dtype row of gemm.h (f32 IEEE, f64, f16 and bf16 to themselves and to f32, fp8
 * with scales, i8 -> i32), op(A) / op(B) in N and T, row- and column-major storage with padded
 * leading dimensions, row- and column-major D, strided batches with a broadcast operand, C with
 * alpha and beta, every epilogue (bias in D's dtype and f32, relu, gelu erf, gelu tanh, the aux
 * outputs), at M, N, K of 1, 7, 33, 1000 and more; the bespoke GEMV forced and chosen by default,
 * at odd K; plus graph capture and replay with new inputs, a too-small workspace, the stored
 * algorithm (hit, autotuned, a damaged row) and run-time errors. Skips without a driver. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- a case --------------------------------------------------------------------------------------- */

/* Strings inline, not pointers: Criterion hands parameters to a freshly started process, where a
 * pointer into this one's memory means nothing. */
typedef struct gcase {
    char name[40];
    brc_dtype ta, tb, td;
    int64_t M, N, K, batch;
    int trans_a, trans_b;
    int a_col, b_col, d_col; /* stored column-major */
    int pad;                 /* added to every leading dimension */
    int bcast_b;             /* B is rank 2 (shared by the batches) */
    int use_c;
    double alpha, beta;
    int act, bias, aux;
    brc_dtype tbias;
    int backend;         /* brc_backend */
    char sku_has[40]; /* a piece the SKU must contain ("" for none) */
} gcase;

#define F32 BRC_F32
#define F64 BRC_F64
#define F16 BRC_F16
#define BF BRC_BF16
#define E4 BRC_FP8E4M3
#define E5 BRC_FP8E5M2
#define LIB BRC_BACKEND_LIBRARY
#define BES BRC_BACKEND_BESPOKE

static gcase cases[] = {
    /* name, ta, tb, td, M, N, K, batch, tA, tB, aC, bC, dC, pad, bcast, C, alpha, beta, act, bias, aux, tbias, be, sku */
    {"f32 ieee nn", F32, F32, F32, 33, 7, 1000, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, 0, "cublaslt<f32,"},
    {"f32 tn colD", F32, F32, F32, 1000, 33, 7, 1, 1, 0, 0, 0, 1, 3, 0, 0, 1, 0, 0, 0, 0, F32, 0, ""},
    {"f32 1x1x1", F32, F32, F32, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, 0, ""},
    {"f64 nt padded", F64, F64, F64, 7, 33, 1000, 1, 0, 1, 0, 0, 0, 5, 0, 0, 1, 0, 0, 0, 0, F64, 0, ""},
    {"f64 C alpha beta", F64, F64, F64, 33, 33, 33, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0.5, -1.25, 0, 0, 0, F64, 0, ""},
    {"f16 nn", F16, F16, F16, 257, 129, 1000, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F16, 0, ""},
    {"f16 -> f32 tt", F16, F16, F32, 33, 1000, 65, 1, 1, 1, 0, 0, 0, 8, 0, 0, 1, 0, 0, 0, 0, F16, 0, ""},
    {"bf16 col A", BF, BF, BF, 1000, 7, 33, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, ""},
    {"bf16 -> f32 C", BF, BF, F32, 65, 127, 255, 1, 0, 1, 0, 0, 0, 0, 0, 1, 2.0, 0.5, 0, 0, 0, BF, 0, ""},
    {"bf16 batch", BF, BF, BF, 33, 65, 129, 3, 0, 1, 0, 0, 0, 8, 0, 0, 1, 0, 0, 0, 0, BF, 0, ""},
    {"f32 batch bcast B", F32, F32, F32, 17, 33, 65, 4, 1, 0, 0, 1, 0, 0, 1, 1, 1, -1, 0, 0, 0, F32, 0, ""},
    {"f16 batch col D", F16, F16, F16, 40, 24, 72, 2, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, F16, 0, ""},
    {"bf16 bias", BF, BF, BF, 64, 1000, 256, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, BF, 0, ""},
    {"gemv bf16 bias f32", BF, BF, BF, 6, 256, 256, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, F32, 0, "gemv"},
    {"f32 relu", F32, F32, F32, 33, 96, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_RELU, 0, 0, F32, 0, ""},
    {"f32 bias relu aux", F32, F32, F32, 40, 200, 64, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_RELU, 1, 1, F32, 0, ""},
    {"f32 gelu erf", F32, F32, F32, 33, 64, 100, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU, 0, 0, F32, 0, "gelu_erf"},
    {"f32 bias gelu erf aux", F32, F32, F32, 16, 64, 48, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU, 1, 1, F32, 0, ""},
    {"f32 gelu tanh", F32, F32, F32, 33, 64, 100, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU_TANH, 0, 0, F32, 0, ""},
    {"bf16 bias gelu tanh aux", BF, BF, BF, 64, 128, 64, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU_TANH, 1, 1, BF, 0, ""},
    {"bf16 batch bias relu", BF, BF, BF, 24, 128, 40, 3, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_RELU, 1, 0, BF, 0, ""},
    /* fp8 and i8 in the layout cuBLASLt requires (both K-contiguous: F.linear's), D either order */
    {"fp8 e4m3 -> bf16", E4, E4, BF, 64, 48, 96, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, ""},
    {"fp8 e4m3 x e5m2 -> f32 colD", E4, E5, F32, 32, 80, 64, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, F32, 0, ""},
    {"i8 -> i32", BRC_I8, BRC_I8, BRC_I32, 32, 64, 128, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, 0, ""},
    {"lib forced decode", BF, BF, BF, 4, 1000, 512, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, LIB, "cublaslt"},
    /* The bespoke GEMV (M <= 8, A row-major, B = W^T). */
    {"gemv bf16 m1 auto", BF, BF, BF, 1, 4096, 4096, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, "gemv<bf16,m=1,vec=8,mma"},
    {"gemv bf16 m1 tall auto", BF, BF, BF, 1, 9000, 512, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, "gemv<bf16,m=1,vec=8,fma"},
    {"gemv bf16 m2 tall auto", BF, BF, BF, 2, 9000, 512, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, "gemv<bf16,m=2,vec=8,mma"},
    {"gemv f16 m1 K136 bias", F16, F16, F16, 1, 333, 136, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, F16, BES, "gemv<f16,m=1,vec=8,mma"},
    {"gemv f16 m8 auto", F16, F16, F16, 8, 1000, 2048, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F16, 0, "gemv<f16,m=8,vec=8,mma"},
    {"gemv f32 m3 odd K", F32, F32, F32, 3, 333, 1001, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, BES, "vec=1"},
    {"gemv bf16 m5 bias gelu", BF, BF, BF, 5, 700, 520, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU, 1, 0, F32, BES, "gemv"},
    {"gemv f16 m2 C relu", F16, F16, F16, 2, 257, 4104, 1, 0, 1, 0, 0, 0, 8, 0, 1, 0.5, 2, BRC_GEMM_ACT_RELU, 1, 0, F16, BES, "gemv"},
    {"gemv bf16 m7 tanh K33", BF, BF, BF, 7, 64, 33, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU_TANH, 0, 0, BF, BES, "gemv"},
    /* Two mma n-tiles (M 9..16), a partial last 64-value chunk of K, chunks fewer than warps. */
    {"gemv bf16 m16 auto", BF, BF, BF, 16, 4096, 4096, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, "gemv<bf16,m=16,vec=8,mma"},
    {"gemv f16 m11 C bias tanh", F16, F16, F16, 11, 300, 1000, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0.75, -0.5, BRC_GEMM_ACT_GELU_TANH, 1, 0, F32, BES, "gemv<f16,m=11,vec=8,mma"},
    {"gemv bf16 m3 K8", BF, BF, BF, 3, 33, 8, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, BES, "gemv<bf16,m=3,vec=8,mma"},
    /* Tall W: 2-warp blocks (all tiles in one wave on 132 SMs), and 1-warp blocks. */
    {"gemv bf16 m5 tall bias", BF, BF, BF, 5, 7001, 520, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, BF, 0, "gemv<bf16,m=5,vec=8,mma"},
    {"gemv f16 m16 taller", F16, F16, F16, 16, 30000, 64, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F16, BES, "gemv<f16,m=16,vec=8,mma"},
    /* Three chunks in flight (two-warp blocks): fewer chunks a warp than three, and a count that
     * is not a multiple of three. */
    {"gemv bf16 m5 u3 short K", BF, BF, BF, 5, 20000, 200, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, BF, BES, "warps=2,u=3"},
    {"gemv f16 m3 u3 K1000", F16, F16, F16, 3, 13000, 1000, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F16, 0, "warps=2,u=3"},
    {"gemv bf16 m9 K136 pad relu", BF, BF, BF, 9, 257, 136, 1, 0, 1, 0, 0, 0, 8, 0, 0, 1, 0, BRC_GEMM_ACT_RELU, 1, 0, BF, BES, "gemv<bf16,m=9,vec=8,mma"},
};

ParameterizedTestParameters(gemm, matches_float64) {
    return cr_make_param_array(gcase, cases, sizeof cases / sizeof cases[0]);
}

/* ---- operands ------------------------------------------------------------------------------------------ */

/* A stored matrix [batch?][r][c], row- or column-major with ld = (inner extent) + pad. */
typedef struct mat {
    brc_tensor_desc t;
    int64_t r, c, ld, bs, batch;
    bool col;
} mat;

static mat make_mat(brc_dtype dt, int64_t batch, int64_t r, int64_t c, bool col, int pad, bool rank3) {
    mat m = {.r = r, .c = c, .batch = batch, .col = col};
    m.ld = (col ? r : c) + pad;
    m.bs = m.ld * (col ? c : r);
    m.t.dtype = dt;
    m.t.rank = rank3 ? 3 : 2;
    int o = rank3 ? 1 : 0;
    if (rank3) m.t.shape[0] = batch, m.t.strides[0] = m.bs;
    m.t.shape[o] = r, m.t.shape[o + 1] = c;
    m.t.strides[o] = col ? 1 : m.ld;
    m.t.strides[o + 1] = col ? m.ld : 1;
    return m;
}
static size_t mat_elems(const mat *m) { return (size_t)(m->bs * (m->t.rank == 3 ? m->batch : 1)); }
static int64_t mat_off(const mat *m, int64_t b, int64_t i, int64_t j) {
    return (m->t.rank == 3 ? b * m->bs : 0) + (m->col ? i + j * m->ld : i * m->ld + j);
}

/* Operands start this many bytes into their buffers (16: not 256-aligned, the fallback choice). */
static size_t shift;
static void upload(tu_buf *b) {
    cr_assert_eq(brc__cu()->cuMemcpyHtoD(b->d + shift, b->h, b->n * brc_dtype_size(b->t)), CUDA_SUCCESS);
}
static void download(tu_buf *b) {
    cr_assert_eq(brc__cu()->cuMemcpyDtoH(b->h, b->d + shift, b->n * brc_dtype_size(b->t)), CUDA_SUCCESS);
}
static void *dptr(const tu_buf *b) { return (void *)(uintptr_t)(b->d + shift); }

static double put(tu_buf *b, int64_t i, double x) {
    tu_encode(b->t, x, b->h + (size_t)i * brc_dtype_size(b->t));
    return tu_buf_at(b, (size_t)i);
}
/* Floats: all bits set (NaN in every format). i32: 0x7f7f7f7f, beyond any result here. */
static void poison(tu_buf *b) {
    memset(b->h, b->t == BRC_I32 ? 0x7f : 0xff, b->n * brc_dtype_size(b->t));
    upload(b);
}
static void fill(tu_buf *b, uint64_t *seed) {
    for (size_t i = 0; i < b->n; i++) {
        double v = b->t == BRC_I8 ? (double)((int)(tu_rand(seed) % 17) - 8) : tu_uniform(seed, -1, 1);
        if (brc_dtype_size(b->t) == 1 && b->t != BRC_I8) v *= 2;
        put(b, (int64_t)i, v);
    }
    upload(b);
}

static double gelu_erf(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double gelu_tanh(double x) { return 0.5 * x * (1 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }
static double act_of(int act, double v) {
    switch (act) {
    case BRC_GEMM_ACT_RELU: return v > 0 ? v : 0;
    case BRC_GEMM_ACT_GELU: return gelu_erf(v);
    case BRC_GEMM_ACT_GELU_TANH: return gelu_tanh(v);
    default: return v;
    }
}

/* Unit roundoff of a stored dtype (0 for the exact integer path). */
static double u_of(brc_dtype t) {
    switch (t) {
    case BRC_F64: return 1.2e-16;
    case BRC_F32: return 6e-8;
    case BRC_F16: return 4.9e-4;
    case BRC_BF16: return 3.9e-3;
    case BRC_FP8E4M3: return 6.3e-2;
    case BRC_FP8E5M2: return 1.3e-1;
    default: return 0;
    }
}
/* Relative L2 error allowed over the whole output (f32 IEEE must not look like TF32's ~1e-4). */
static double l2_tol(brc_dtype td) {
    switch (td) {
    case BRC_F64: return 1e-13;
    case BRC_F32: return 2e-6;
    case BRC_F16: return 1e-3;
    case BRC_BF16: return 8e-3;
    default: return 0;
    }
}

/* Everything one run needs: buffers, descriptors, the plan. */
typedef struct setup {
    gcase c;
    mat A, B, C, D, X; /* X: aux */
    tu_buf a, b, cc, d, bias, aux, ws, sc;
    brc_gemm_desc g;
    brc_plan *plan;
} setup;

static void setup_make(brc_context *ctx, setup *s, const gcase *c, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->c = *c;
    bool r3 = c->batch > 1;
    s->A = make_mat(c->ta, c->batch, c->trans_a ? c->K : c->M, c->trans_a ? c->M : c->K, c->a_col, c->pad, r3);
    s->B = make_mat(c->tb, c->batch, c->trans_b ? c->N : c->K, c->trans_b ? c->K : c->N, c->b_col, c->pad,
                    r3 && !c->bcast_b);
    s->D = make_mat(c->td, c->batch, c->M, c->N, c->d_col, c->pad, r3);
    brc_dtype tc = c->td;
    s->C = make_mat(tc, c->batch, c->M, c->N, c->d_col, c->pad + 1, r3);
    s->a = tu_buf_new(c->ta, mat_elems(&s->A));
    s->b = tu_buf_new(c->tb, mat_elems(&s->B));
    s->d = tu_buf_new(c->td, mat_elems(&s->D));
    fill(&s->a, &seed);
    fill(&s->b, &seed);
    s->g = (brc_gemm_desc)BRC_GEMM_DESC_INIT;
    s->g.a = s->A.t, s->g.b = s->B.t, s->g.d = s->D.t;
    s->g.trans_a = c->trans_a, s->g.trans_b = c->trans_b;
    s->g.act = (brc_gemm_act)c->act;
    if (c->use_c) {
        s->cc = tu_buf_new(tc, mat_elems(&s->C));
        fill(&s->cc, &seed);
        s->g.use_c = 1, s->g.c = s->C.t;
    }
    if (c->bias) {
        s->bias = tu_buf_new(c->tbias, (size_t)(c->N * c->batch));
        fill(&s->bias, &seed);
        s->g.use_bias = 1;
        int64_t shape[2] = {c->batch, c->N};
        if (r3) brc_tensor_desc_contiguous(&s->g.bias, c->tbias, 2, shape);
        else brc_tensor_desc_contiguous(&s->g.bias, c->tbias, 1, shape + 1);
    }
    if (c->aux) {
        s->g.use_aux = 1;
        if (c->act == BRC_GEMM_ACT_RELU) {
            int64_t bytes = (c->N + 127) / 128 * 16;
            s->X = make_mat(BRC_U8, c->batch, c->M, bytes, false, 0, r3);
        } else {
            s->X = make_mat(c->td, c->batch, c->M, c->N, false, (int)((8 - c->N % 8) % 8), r3);
        }
        s->aux = tu_buf_new(s->X.t.dtype, mat_elems(&s->X));
        s->g.aux = s->X.t;
    }
    /* fp8 scales: a_scale, b_scale (device f32). */
    s->sc = tu_buf_new(BRC_F32, 128); /* a_scale at 0, b_scale at 256 bytes */
    float scales[2] = {0.5f, 4.0f};
    cr_assert_eq(brc__cu()->cuMemcpyHtoD(s->sc.d, &scales[0], 4), CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuMemcpyHtoD(s->sc.d + 256, &scales[1], 4), CUDA_SUCCESS);
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.backend = (brc_backend)c->backend;
    brc_status st = brc_gemm_plan(ctx, &s->g, &prefs, &s->plan);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", c->name, brc_last_error());
    if (c->sku_has[0])
        cr_assert(strstr(brc_plan_sku(s->plan), c->sku_has), "%s: SKU %s lacks %s", c->name, brc_plan_sku(s->plan),
                  c->sku_has);
    size_t w = brc_plan_workspace_size(s->plan);
    s->ws = tu_buf_new(BRC_U8, w ? w : 1);
}

static brc_gemm_args args_of(setup *s) {
    brc_gemm_args x = BRC_GEMM_ARGS_INIT;
    x.a = dptr(&s->a), x.b = dptr(&s->b), x.d = dptr(&s->d);
    if (s->c.use_c) x.c = dptr(&s->cc);
    if (s->c.bias) x.bias = dptr(&s->bias);
    if (s->c.aux) x.aux = dptr(&s->aux);
    x.alpha = s->c.alpha, x.beta = s->c.beta;
    x.a_scale = (const float *)(uintptr_t)s->sc.d, x.b_scale = (const float *)(uintptr_t)(s->sc.d + 256);
    x.workspace = (void *)(uintptr_t)s->ws.d, x.workspace_size = brc_plan_workspace_size(s->plan);
    return x;
}

static void setup_free(setup *s) {
    brc_plan_destroy(s->plan);
    tu_buf *all[] = {&s->a, &s->b, &s->cc, &s->d, &s->bias, &s->aux, &s->ws, &s->sc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->h) tu_buf_free(all[i]);
}

/* Compares D (and aux) with the float64 reference. */
static void check_result(setup *s) {
    const gcase *c = &s->c;
    download(&s->d);
    if (c->aux) download(&s->aux);
    bool fp8 = brc_dtype_size(c->ta) == 1 && c->ta != BRC_I8;
    double scale = fp8 ? 0.5 * 4.0 : 1.0;
    /* Per-term accumulation error: the inputs' unit roundoff for f32 / f64, f32's for halves; fp8
     * products accumulate at the tensor cores' own precision (measured ~1e-4 relative on the
     * H100, not IEEE f32), so 4e-6 per term. */
    double u = u_of(c->td), uin = c->ta == BRC_F32 || c->ta == BRC_F64 ? u_of(c->ta) : fp8 ? 4e-6 : 6e-8;
    double num = 0, den = 0;
    long fails = 0;
    char first[256] = "";
    for (int64_t bt = 0; bt < c->batch; bt++)
        for (int64_t i = 0; i < c->M; i++)
            for (int64_t j = 0; j < c->N; j++) {
                double acc = 0, mag = 0;
                for (int64_t k = 0; k < c->K; k++) {
                    double av = tu_buf_at(&s->a, (size_t)mat_off(&s->A, bt, c->trans_a ? k : i, c->trans_a ? i : k));
                    double bv = tu_buf_at(&s->b, (size_t)mat_off(&s->B, bt, c->trans_b ? j : k, c->trans_b ? k : j));
                    acc += av * bv;
                    mag += fabs(av * bv);
                }
                double pre = c->alpha * scale * acc, pmag = fabs(c->alpha * scale) * mag;
                if (c->use_c) {
                    double cv = tu_buf_at(&s->cc, (size_t)mat_off(&s->C, bt, i, j));
                    pre += c->beta * cv, pmag += fabs(c->beta * cv);
                }
                if (c->bias) {
                    double bv = tu_buf_at(&s->bias, (size_t)(bt * c->N + j));
                    pre += bv, pmag += fabs(bv);
                }
                double want = act_of(c->act, pre);
                double got = tu_buf_at(&s->d, (size_t)mat_off(&s->D, bt, i, j));
                /* rounding of the output, the accumulation, and of the pre-activation's rounding
                 * where it is stored in D's dtype before the activation */
                double bound = 2 * u * (fabs(want) + pmag) + 4 * uin * (double)c->K * pmag + 1e-30;
                if (c->td == BRC_I32) bound = 0;
                if (!(fabs(got - want) <= bound) && fails++ == 0)
                    snprintf(first, sizeof first, "[%lld,%lld,%lld] got %.9g want %.9g (bound %.3g)", (long long)bt,
                             (long long)i, (long long)j, got, want, bound);
                num += (got - want) * (got - want), den += want * want;
                if (c->aux && c->act == BRC_GEMM_ACT_RELU) {
                    unsigned char byte = s->aux.h[mat_off(&s->X, bt, i, j / 8)];
                    bool bit = (byte >> (j % 8)) & 1;
                    if (fabs(pre) > bound && bit != (pre > 0) && fails++ == 0)
                        snprintf(first, sizeof first, "aux bit [%lld,%lld,%lld] = %d, pre-activation %.6g",
                                 (long long)bt, (long long)i, (long long)j, bit, pre);
                } else if (c->aux) {
                    double xa = tu_buf_at(&s->aux, (size_t)mat_off(&s->X, bt, i, j));
                    if (!(fabs(xa - pre) <= bound) && fails++ == 0)
                        snprintf(first, sizeof first, "aux [%lld,%lld,%lld] got %.9g want %.9g", (long long)bt,
                                 (long long)i, (long long)j, xa, pre);
                }
            }
    cr_assert_eq(fails, 0, "%s (%s): %ld elements wrong, first %s", c->name, brc_plan_sku(s->plan), fails, first);
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    double tol = l2_tol(c->td);
    if (fp8) tol = c->td == BRC_F32 ? 3e-4 : 8e-3;
    cr_assert(rel <= tol, "%s (%s): relative L2 error %.3g > %.3g", c->name, brc_plan_sku(s->plan), rel, tol);
}

static void run_ok(setup *s, brc_stream stream) {
    brc_gemm_args x = args_of(s);
    brc_status st = brc_gemm_run(s->plan, &x, stream);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", s->c.name, brc_last_error());
}

ParameterizedTest(gcase *c, gemm, matches_float64) {
    brc_context *ctx = tu_device_or_skip();
    setup s;
    setup_make(ctx, &s, c, 0x9e3779b97f4a7c15ull ^ (uint64_t)c->M * 131 ^ (uint64_t)c->K);
    poison(&s.d);
    if (c->aux) poison(&s.aux);
    run_ok(&s, NULL);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    check_result(&s);
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- capture, workspace, stored algorithms, errors ------------------------------------------------------- */

/* A captured run replays with new inputs (cuBLASLt and the GEMV). */
Test(gemm, capture_and_replay_with_new_inputs) {
    brc_context *ctx = tu_device_or_skip();
    gcase cs[] = {
        {"capture lt", BF, BF, BF, 1000, 1000, 1000, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, BRC_GEMM_ACT_GELU, 1, 0, BF, 0, ""},
        {"capture gemv", BF, BF, BF, 4, 4096, 4096, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, BF, 0, "gemv"},
    };
    for (int i = 0; i < 2; i++) {
        setup s;
        setup_make(ctx, &s, &cs[i], 77 + (uint64_t)i);
        tu_capture g = tu_capture_begin(CU_STREAM_NON_BLOCKING);
        run_ok(&s, (brc_stream)g.s);
        tu_capture_end(&g);
        uint64_t seed = 1234 + (uint64_t)i;
        fill(&s.a, &seed); /* new inputs after capture */
        fill(&s.bias, &seed);
        poison(&s.d);
        tu_capture_replay(&g);
        check_result(&s);
        tu_capture_free(&g);
        setup_free(&s);
    }
    brc_context_destroy(ctx);
}

/* Programmatic dependent launch of the GEMV (BARACUDA_GEMV_PDL = 1 and 2, sm_90+): a GEMV whose X
 * is the output of the GEMV before it in the stream waits for it (griddepcontrol.wait). The first
 * one's output is poisoned before every pair, so a second one that read X early would see NaN. */
Test(gemm, gemv_programmatic_launch_waits_for_its_input) {
    brc_context *ctx = tu_device_or_skip();
    static const char *const modes[] = {"1", "2"};
    gcase pairs[][2] = {
        {{"pdl mma first", BF, BF, BF, 8, 4096, 4096, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, 0, "mma"},
         {"pdl mma second", BF, BF, BF, 8, 1000, 4096, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, BF, 0, "mma"}},
        {{"pdl fma first", F32, F32, F32, 2, 520, 300, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, 0, "fma"},
         {"pdl fma second", F32, F32, F32, 2, 97, 520, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, BES, "fma"}},
    };
    for (int m = 0; m < 2; m++) {
        setenv("BARACUDA_GEMV_PDL", modes[m], 1);
        for (int q = 0; q < 2; q++) {
            setup s1, s2;
            setup_make(ctx, &s1, &pairs[q][0], 501 + (uint64_t)q);
            setup_make(ctx, &s2, &pairs[q][1], 601 + (uint64_t)q);
            const char *sku = brc_plan_sku(s2.plan);
            if (!strstr(sku, "@sm_8"))
                cr_assert(strstr(sku, ",pdl"), "%s: %s (BARACUDA_GEMV_PDL=%s)", s2.c.name, sku, modes[m]);
            /* The second one's X, as the reference sees it: the first one's output (the GEMV is
             * deterministic, so every run writes the same bits). */
            run_ok(&s1, NULL);
            cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
            check_result(&s1);
            memcpy(s2.a.h, s1.d.h, s1.d.n * brc_dtype_size(s1.d.t));
            CUstream stream;
            cr_assert_eq(brc__cu()->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
            for (int rep = 0; rep < 8; rep++) {
                poison(&s1.d);
                poison(&s2.d);
                run_ok(&s1, (brc_stream)stream);
                brc_gemm_args x = args_of(&s2);
                x.a = dptr(&s1.d);
                cr_assert_eq(brc_gemm_run(s2.plan, &x, (brc_stream)stream), BRC_STATUS_OK, "%s", brc_last_error());
                cr_assert_eq(brc__cu()->cuStreamSynchronize(stream), CUDA_SUCCESS);
                check_result(&s2);
            }
            brc__cu()->cuStreamDestroy(stream);
            setup_free(&s1);
            setup_free(&s2);
        }
    }
    unsetenv("BARACUDA_GEMV_PDL");
    brc_context_destroy(ctx);
}

/* A plan that needs a workspace refuses a smaller one (never allocating instead). */
Test(gemm, workspace_too_small_is_refused) {
    brc_context *ctx = tu_device_or_skip();
    /* Long K, small M and N: shapes cuBLASLt splits along K (through the workspace). */
    gcase cs[] = {
        {"ws1", F32, F32, F32, 64, 64, 262144, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, LIB, ""},
        {"ws2", BF, BF, BF, 128, 128, 131072, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, LIB, ""},
        {"ws3", F16, F16, F16, 16, 16, 524288, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F16, LIB, ""},
    };
    int tested = 0;
    for (int i = 0; i < 3; i++) {
        setup s;
        setup_make(ctx, &s, &cs[i], 5);
        size_t need = brc_plan_workspace_size(s.plan);
        if (need > 0) {
            brc_gemm_args x = args_of(&s);
            x.workspace_size = need - 1;
            cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
            cr_assert(strstr(brc_last_error(), "workspace"), "%s", brc_last_error());
            x.workspace = NULL, x.workspace_size = need;
            cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
            x = args_of(&s);
            poison(&s.d);
            cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_OK, "%s", brc_last_error());
            cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
            download(&s.d);
            cr_assert(!isnan(tu_buf_at(&s.d, 0)));
            tested++;
        }
        setup_free(&s);
    }
    cr_assert(tested > 0, "no split-K shape needed a workspace: the test proves nothing");
    brc_context_destroy(ctx);
}

static void plan_sku(brc_context *ctx, const gcase *c, int autotune, char *sku, size_t cap) {
    setup s;
    memset(&s, 0, sizeof s);
    bool r3 = false;
    mat A = make_mat(c->ta, 1, c->M, c->K, false, 0, r3), B = make_mat(c->tb, 1, c->N, c->K, false, 0, r3),
        D = make_mat(c->td, 1, c->M, c->N, false, 0, r3);
    brc_gemm_desc g = BRC_GEMM_DESC_INIT;
    g.a = A.t, g.b = B.t, g.d = D.t, g.trans_b = 1;
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.backend = BRC_BACKEND_LIBRARY;
    prefs.autotune = autotune;
    brc_plan *p = NULL;
    cr_assert_eq(brc_gemm_plan(ctx, &g, &prefs, &p), BRC_STATUS_OK, "%s", brc_last_error());
    snprintf(sku, cap, "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
}

/* The chosen algorithm is stored; the next plan takes it; a damaged row is deleted and chosen
 * again; an autotuned choice is stored apart from the heuristic's. */
Test(gemm, stored_algorithm_round_trip) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    gcase c = {"store", BF, BF, BF, 512, 768, 1024, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, BF, LIB, ""};
    char sku[256];
    plan_sku(ctx, &c, 0, sku, sizeof sku);
    cr_assert(strstr(sku, "algo=heuristic"), "%s", sku);
    plan_sku(ctx, &c, 0, sku, sizeof sku);
    cr_assert(strstr(sku, "algo=stored"), "%s", sku);
    plan_sku(ctx, &c, 1, sku, sizeof sku);
    cr_assert(strstr(sku, "algo=tuned"), "%s", sku);
    plan_sku(ctx, &c, 1, sku, sizeof sku);
    cr_assert(strstr(sku, "algo=stored-tuned"), "%s", sku);
    /* Damage every stored choice behind the library's back. */
    char path[4200];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "UPDATE gemm_algos SET algo = zeroblob(64)", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_changes(db), 4); /* heuristic and tuned, each for 256- and 16-byte alignment */
    sqlite3_close(db);
    brc_jit_stats before, after;
    brc_jit_stats_get(&before);
    plan_sku(ctx, &c, 0, sku, sizeof sku);
    brc_jit_stats_get(&after);
    cr_assert(strstr(sku, "algo=heuristic"), "a damaged row was used: %s", sku);
    cr_assert_eq(after.bad_rows, before.bad_rows + 2);
    plan_sku(ctx, &c, 0, sku, sizeof sku);
    cr_assert(strstr(sku, "algo=stored"), "%s", sku);
    brc_context_destroy(ctx);
}

Test(gemm, run_errors_are_named) {
    brc_context *ctx = tu_device_or_skip();
    gcase c = {"errors", F32, F32, F32, 64, 64, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, LIB, ""};
    setup s;
    setup_make(ctx, &s, &c, 9);
    brc_gemm_args x = args_of(&s);
    x.beta = 1;
    cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_assert(strstr(brc_last_error(), "beta"), "%s", brc_last_error());
    x = args_of(&s);
    x.a = NULL;
    cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
    x = args_of(&s);
    x.d = (char *)x.d + 4;
    cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_MISALIGNED);
    x = args_of(&s);
    x.struct_size = 8;
    cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_assert_eq(brc_gemm_run(NULL, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
    setup_free(&s);
    gcase ci = {"i8", BRC_I8, BRC_I8, BRC_I32, 32, 32, 64, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, LIB, ""};
    setup_make(ctx, &s, &ci, 9);
    x = args_of(&s);
    x.alpha = 0.5;
    cr_assert_eq(brc_gemm_run(s.plan, &x, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_assert(strstr(brc_last_error(), "int32"), "%s", brc_last_error());
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* Operands 16 bytes off a 256-byte boundary run the plan's second choice, correctly. */
Test(gemm, operands_aligned_to_16_bytes_only) {
    brc_context *ctx = tu_device_or_skip();
    gcase cs[] = {
        {"shifted bf16", BF, BF, BF, 256, 384, 512, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, BRC_GEMM_ACT_RELU, 1, 0, BF, LIB, "cublaslt"},
        {"shifted f32 batch", F32, F32, F32, 33, 65, 129, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, F32, LIB, "cublaslt"},
    };
    shift = 16;
    for (int i = 0; i < 2; i++) {
        setup s;
        setup_make(ctx, &s, &cs[i], 31 + (uint64_t)i);
        poison(&s.d);
        run_ok(&s, NULL);
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        check_result(&s);
        setup_free(&s);
    }
    brc_context_destroy(ctx);
}
