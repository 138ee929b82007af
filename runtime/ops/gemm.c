/* The GEMM family: D = act(alpha op(A) op(B) + beta C + bias) through cuBLASLt, or through the
 * bespoke decode GEMV (kernel_src/gemv.cuh). Validates the operands, maps them onto the
 * column-major problem cuBLASLt sees, chooses the algorithm once (stored cache, heuristic or a
 * timed search) and runs it with the caller's workspace. Semantics: include/baracuda/gemm.h;
 * decisions: docs/gemm.md. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "../loader/lt.h"

enum { PATH_LT, PATH_GEMV };
/* GEMV: the FMA kernel's warps a block and vectors in flight a row; the tensor-core kernel's
 * 64-value chunks in flight a warp (its warps a block are chosen per shape: gemv_mma_shape). */
enum { ALIGN_BIG = 256, GEMV_WARPS = 4, GEMV_UNROLL = 2, GEMV_MMA_UNROLL = 2, PTR_ALIGN = 16, WS_ALIGN = 256, TUNE_CANDIDATES = 8 };
/* A tuned candidate must beat the heuristic's first by this fraction (bench: +-2% run to run). */
#define TUNE_MARGIN 0.02
static const size_t default_max_workspace = (size_t)32 << 20;

static const char *const act_names[] = {"none", "relu", "gelu", "gelu_tanh"};

/* One operand of the column-major problem: storage rows x cols with leading dimension ld,
 * op = transpose or not, and the stride between batches (0: shared). */
typedef struct cm_mat {
    int64_t rows, cols, ld, bstride;
    int trans;
} cm_mat;

/* The problem after mapping: D' (m x n, column-major) = op(A') (m x k) op(B') (k x n). */
typedef struct problem {
    brc_dtype ta, tb, tc, td, tbias;
    int64_t m, n, k, batch;
    cm_mat a, b, c, d, aux;
    int use_c, use_bias, use_aux, act;
    int64_t bias_bstride;
    bool swapped; /* D was row-major: A' = B^T, B' = A^T */
} problem;

typedef struct gemm_impl {
    problem p;
    int path;
    /* cuBLASLt */
    cublasLtMatmulDescOpaque_t md; /* template: run copies it and sets the pointers */
    cublasLtMatrixLayoutOpaque_t la, lb, lc, ld;
    /* [0]: for pointers aligned to 256 bytes (what frameworks' allocators give), [1]: for 16 */
    cublasLtMatmulAlgo_t algo[2];
    cudaDataType_t scale_type;
    bool post_gelu;       /* erf gelu: an elementwise pass after the matmul */
    brc_plan *post;       /* that pass (unary gelu_erf, D' or aux -> D) */
    /* GEMV */
    CUfunction fn;
    unsigned grid, threads;
    int unroll; /* 16-byte vectors (FMA) or 64-value chunks (mma) in flight a warp (SKU u=) */
    int pdl;    /* launched as a programmatic dependent launch (gemv.cuh PDL) */
} gemm_impl;

static void gemm_destroy(brc_plan *p) {
    gemm_impl *im = p->impl;
    if (im) brc_plan_destroy(im->post);
}
static const brc__plan_vt gemm_vt = {gemm_destroy};

/* ---- the context's cuBLASLt handle ----------------------------------------------------------------- */

/* One handle per context, made on first use behind the context's lock (handle creation raced
 * under parallel tests in the original system). */
static brc_status lt_handle(const brc_context *cctx, cublasLtHandle_t *out) {
    brc_context *ctx = (brc_context *)cctx; /* the handle slot is the only mutable part */
    const brc__lt_api *lt = brc__lt();
    if (!lt) return BRC_STATUS_LIBRARY_NOT_FOUND;
    pthread_mutex_lock(&ctx->lt_mu);
    brc_status st = BRC_STATUS_OK;
    if (!ctx->lt_handle) {
        bool pushed;
        st = brc__ctx_enter(ctx, &pushed);
        if (!st) {
            cublasLtHandle_t h = NULL;
            cublasStatus_t s = lt->cublasLtCreate(&h);
            if (s != CUBLAS_STATUS_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cublasLtCreate: %s", brc__lt_errname(s));
            else
                ctx->lt_handle = h;
            brc__ctx_leave(pushed);
        }
    }
    *out = ctx->lt_handle;
    pthread_mutex_unlock(&ctx->lt_mu);
    return st;
}

void brc__gemm_context_release(brc_context *ctx) {
    if (ctx->lt_handle) {
        const brc__lt_api *lt = brc__lt();
        if (lt) lt->cublasLtDestroy(ctx->lt_handle);
        ctx->lt_handle = NULL;
    }
}

/* ---- validation and mapping -------------------------------------------------------------------------- */

/* A logical matrix [r, c] with element strides (sr, sc) as column-major storage: trans = 1 when
 * it is stored row-major (the storage is its transpose, c x r). Size-1 dims take any stride, so
 * a vector fits both orders: row-major is tried first unless col_only. */
static bool as_colmajor(int64_t r, int64_t c, int64_t sr, int64_t sc, bool col_only, cm_mat *o) {
    if (!col_only && (sc == 1 || c == 1) && (r == 1 || sr >= c)) {
        *o = (cm_mat){c, r, r == 1 ? (c > 1 ? c : 1) : sr, 0, 1};
        return true;
    }
    if ((sr == 1 || r == 1) && (c == 1 || sc >= r)) {
        *o = (cm_mat){r, c, c == 1 ? (r > 1 ? r : 1) : sc, 0, 0};
        return true;
    }
    return false;
}

/* The matrix part of an operand: its last two dims, as [rows, cols] with strides. */
typedef struct view {
    int64_t r, c, sr, sc, batch, bstride;
} view;

static brc_status view_of(const brc_tensor_desc *t, const char *name, bool trans, view *v) {
    brc_status st;
    char what[48];
    snprintf(what, sizeof what, "brc_gemm_plan: %s", name);
    if ((st = brc__tensor_check(t, what))) return st;
    if (t->rank != 2 && t->rank != 3)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s has rank %d (2 or 3 expected)", what, (int)t->rank);
    int o = t->rank - 2;
    for (int d = 0; d < t->rank; d++)
        if (t->strides[d] < 0)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s has a negative stride in dim %d", what, d);
    v->r = t->shape[o], v->c = t->shape[o + 1], v->sr = t->strides[o], v->sc = t->strides[o + 1];
    v->batch = o ? t->shape[0] : 1;
    v->bstride = o && t->shape[0] > 1 ? t->strides[0] : 0;
    if (trans) {
        int64_t x = v->r;
        v->r = v->c, v->c = x;
        x = v->sr, v->sr = v->sc, v->sc = x;
    }
    return BRC_STATUS_OK;
}

static const char *mt(brc_dtype t) { return brc_dtype_name(t); }

static bool is_half(brc_dtype t) { return t == BRC_F16 || t == BRC_BF16; }
static bool is_fp8(brc_dtype t) { return t == BRC_FP8E4M3 || t == BRC_FP8E5M2; }

/* The dtype table of gemm.h. */
static brc_status check_dtypes(const brc_context *ctx, problem *p, brc_dtype ta, brc_dtype tb) {
    brc_dtype td = p->td;
    bool ok;
    if (ta == BRC_F32 || ta == BRC_F64)
        ok = tb == ta && td == ta;
    else if (is_half(ta))
        ok = tb == ta && (td == ta || td == BRC_F32);
    else if (is_fp8(ta))
        ok = is_fp8(tb) && !(ta == BRC_FP8E5M2 && tb == BRC_FP8E5M2) &&
             (td == BRC_F32 || is_half(td) || is_fp8(td));
    else if (ta == BRC_I8)
        ok = tb == BRC_I8 && td == BRC_I32;
    else
        ok = false;
    if (!ok)
        return brc__error(BRC_STATUS_UNSUPPORTED,
                          "brc_gemm_plan: A %s, B %s -> D %s is not a supported combination (f32, f64, "
                          "f16/bf16 -> same or f32, fp8 -> f32/f16/bf16/fp8, i8 -> i32)",
                          mt(ta), mt(tb), mt(td));
    if (is_fp8(ta) && ctx->sm_major * 10 + ctx->sm_minor < 89)
        return brc__error(BRC_STATUS_UNSUPPORTED, "brc_gemm_plan: fp8 GEMM needs sm_89 or newer (this is %s)",
                          ctx->arch);
    if (p->use_c) {
        bool cok = is_fp8(td) ? is_half(p->tc) : p->tc == td;
        if (!cok)
            return brc__error(BRC_STATUS_UNSUPPORTED, "brc_gemm_plan: C has dtype %s; %s expected", mt(p->tc),
                              is_fp8(td) ? "bf16 or f16 (D is fp8)" : mt(td));
    }
    if (p->use_bias) {
        bool bok = is_fp8(td) ? is_half(p->tbias) : p->tbias == td || (is_half(td) && p->tbias == BRC_F32);
        if (!bok || ta == BRC_I8)
            return brc__error(BRC_STATUS_UNSUPPORTED, "brc_gemm_plan: a %s bias for a %s D is not supported", mt(p->tbias),
                              mt(td));
    }
    return BRC_STATUS_OK;
}

static brc_status batch_of(const view *v, int64_t batch, const char *name, int64_t *bstride) {
    if (v->batch != batch && v->batch != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_plan: %s has batch %lld, D has %lld", name,
                          (long long)v->batch, (long long)batch);
    *bstride = v->batch == 1 ? 0 : v->bstride;
    return BRC_STATUS_OK;
}

static brc_status map_problem(const brc_context *ctx, const brc_gemm_desc *g, problem *p) {
    memset(p, 0, sizeof *p);
    brc_status st;
    if ((unsigned)g->act >= BRC_GEMM_ACT_COUNT_)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_plan: act %d is not a brc_gemm_act", (int)g->act);
    p->use_c = g->use_c != 0, p->use_bias = g->use_bias != 0, p->use_aux = g->use_aux != 0, p->act = (int)g->act;
    view va, vb, vd, vc = {0}, vx = {0};
    if ((st = view_of(&g->a, "A", g->trans_a != 0, &va)) || (st = view_of(&g->b, "B", g->trans_b != 0, &vb)) ||
        (st = view_of(&g->d, "D", false, &vd)))
        return st;
    if (p->use_c && (st = view_of(&g->c, "C", false, &vc))) return st;
    if (p->use_aux && (st = view_of(&g->aux, "aux", false, &vx))) return st;
    int64_t M = vd.r, N = vd.c, K = va.c;
    if (va.r != M || vb.r != K || vb.c != N)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_plan: op(A) is [%lld, %lld], op(B) [%lld, %lld], D [%lld, %lld]: they do not chain "
                          "as [M, K] [K, N] -> [M, N]",
                          (long long)va.r, (long long)va.c, (long long)vb.r, (long long)vb.c, (long long)M, (long long)N);
    if (p->use_c && (vc.r != M || vc.c != N))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_plan: C is [%lld, %lld], D [%lld, %lld]",
                          (long long)vc.r, (long long)vc.c, (long long)M, (long long)N);
    p->td = g->d.dtype, p->tc = g->c.dtype, p->tbias = g->bias.dtype;
    if ((st = check_dtypes(ctx, p, g->a.dtype, g->b.dtype))) return st;
    p->ta = g->a.dtype, p->tb = g->b.dtype;
    p->batch = vd.batch;
    if (g->d.rank == 3 && vd.batch > 1 && vd.bstride < vd.r * vd.sr && vd.bstride < vd.c * vd.sc)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_plan: D's batch stride %lld makes its batches overlap", (long long)vd.bstride);
    int64_t bsa = 0, bsb = 0, bsc = 0;
    if ((st = batch_of(&va, p->batch, "A", &bsa)) || (st = batch_of(&vb, p->batch, "B", &bsb)) ||
        (p->use_c && (st = batch_of(&vc, p->batch, "C", &bsc))))
        return st;

    cm_mat d;
    if (!as_colmajor(M, N, vd.sr, vd.sc, false, &d))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_plan: D (strides %lld, %lld) needs a unit stride in one dim and the other at least "
                          "the extent of that dim",
                          (long long)vd.sr, (long long)vd.sc);
    p->swapped = d.trans == 1;
    /* The problem cuBLASLt sees: D' = D (column-major) or D^T (row-major D, so op(B)^T op(A)^T). */
    view a1 = p->swapped ? vb : va, b1 = p->swapped ? va : vb;
    int64_t bs_a1 = p->swapped ? bsb : bsa, bs_b1 = p->swapped ? bsa : bsb;
    if (p->swapped) { /* transpose both views */
        int64_t x;
        x = a1.r, a1.r = a1.c, a1.c = x, x = a1.sr, a1.sr = a1.sc, a1.sc = x;
        x = b1.r, b1.r = b1.c, b1.c = x, x = b1.sr, b1.sr = b1.sc, b1.sc = x;
        x = vc.r, vc.r = vc.c, vc.c = x, x = vc.sr, vc.sr = vc.sc, vc.sc = x;
        x = vx.r, vx.r = vx.c, vx.c = x, x = vx.sr, vx.sr = vx.sc, vx.sc = x;
    }
    p->m = p->swapped ? N : M, p->n = p->swapped ? M : N, p->k = K;
    p->d = (cm_mat){p->m, p->n, d.ld, vd.batch > 1 ? vd.bstride : 0, 0};
    const char *an = p->swapped ? "B" : "A", *bn = p->swapped ? "A" : "B";
    if (!as_colmajor(a1.r, a1.c, a1.sr, a1.sc, false, &p->a))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_plan: %s (strides %lld, %lld) needs a unit stride in one of its two dims", an,
                          (long long)(p->swapped ? a1.sc : a1.sr), (long long)(p->swapped ? a1.sr : a1.sc));
    if (!as_colmajor(b1.r, b1.c, b1.sr, b1.sc, false, &p->b))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_plan: %s (strides %lld, %lld) needs a unit stride in one of its two dims", bn,
                          (long long)(p->swapped ? b1.sc : b1.sr), (long long)(p->swapped ? b1.sr : b1.sc));
    /* One column of B' with unit stride along K fits both orders: take the untransposed one,
     * which is how the GEMV reads its X. */
    if (p->n == 1 && p->b.trans && p->b.ld == 1) p->b = (cm_mat){p->k, 1, p->k, 0, 0};
    p->a.bstride = bs_a1, p->b.bstride = bs_b1;
    if (p->use_c) {
        cm_mat c;
        if (!as_colmajor(vc.r, vc.c, vc.sr, vc.sc, true, &c))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_gemm_plan: C must be stored in D's order (%s-major, a unit stride along %s)",
                              p->swapped ? "row" : "column", p->swapped ? "N" : "M");
        c.bstride = bsc;
        p->c = c;
    }
    if ((p->use_bias || p->use_aux) && !p->swapped && !(M == 1 && N == 1))
        return brc__error(BRC_STATUS_UNSUPPORTED,
                          "brc_gemm_plan: bias and aux need a row-major D (cuBLASLt adds the bias along D's rows)");
    if (p->use_bias) {
        const brc_tensor_desc *b = &g->bias;
        if ((st = brc__tensor_check(b, "brc_gemm_plan: bias"))) return st;
        bool shape_ok = (b->rank == 1 && b->shape[0] == N && (N == 1 || b->strides[0] == 1)) ||
                        (b->rank == 2 && g->d.rank == 3 && (b->shape[0] == p->batch || b->shape[0] == 1) &&
                         b->shape[1] == N && (N == 1 || b->strides[1] == 1) && b->strides[0] >= 0);
        if (!shape_ok)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_gemm_plan: bias must be [N] = [%lld] (or [batch, N] with a rank-3 D), unit stride "
                              "along N",
                              (long long)N);
        p->bias_bstride = b->rank == 2 && b->shape[0] > 1 ? b->strides[0] : 0;
    }
    if (p->use_aux) {
        if (p->act == BRC_GEMM_ACT_NONE)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_plan: aux needs an activation (relu, gelu, gelu_tanh)");
        int64_t xb;
        if ((st = batch_of(&vx, p->batch, "aux", &xb))) return st;
        if (vx.batch != p->batch && p->batch > 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_plan: aux needs D's batch");
        if (p->act == BRC_GEMM_ACT_RELU) {
            /* swapped views: vx is [bytes, M] with strides (1, ld) */
            if (g->aux.dtype != BRC_U8 || vx.sr != 1 || vx.sc % 16 || vx.r * 8 < N || vx.c != M || xb % 16)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "brc_gemm_plan: a relu aux is a u8 bit mask [M, bytes] with 8 * bytes >= N, unit "
                                  "stride along bytes and a row stride (and batch stride) a multiple of 16");
            p->aux = (cm_mat){N, M, vx.sc * 8, xb * 8, 0};
        } else {
            if (g->aux.dtype != p->td || vx.r != N || vx.c != M || (vx.sr != 1 && N > 1) || vx.sc % 8 ||
                vx.sc < N || xb % 8)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "brc_gemm_plan: a gelu aux has D's dtype and shape, is row-major, and its row "
                                  "stride (and batch stride) is a multiple of 8 elements");
            p->aux = (cm_mat){N, M, vx.sc, xb, 0};
        }
    }
    if (p->act == BRC_GEMM_ACT_GELU && (is_fp8(p->td) || p->td == BRC_I32))
        return brc__error(BRC_STATUS_UNSUPPORTED, "brc_gemm_plan: the erf gelu epilogue needs a float D (f32, f64, f16, "
                                                  "bf16); gelu_tanh is cuBLASLt's own");
    return BRC_STATUS_OK;
}

/* ---- the canonical descriptor ------------------------------------------------------------------------ */

static char *describe(const problem *p, int path, bool tf32, bool tune) {
    brc__str s = {0};
    brc__str_addf(&s, "gemm(a=%s,b=%s,d=%s,c=%s,ta=%c,tb=%c,m=%lld,n=%lld,k=%lld,lda=%lld,ldb=%lld,ldd=%lld,batch=%lld,"
                      "act=%s,bias=%s,aux=%d,tf32=%d,tune=%d,path=%s)",
                  mt(p->swapped ? p->tb : p->ta), mt(p->swapped ? p->ta : p->tb), mt(p->td), p->use_c ? mt(p->tc) : "none",
                  p->a.trans ? 't' : 'n', p->b.trans ? 't' : 'n', (long long)p->m, (long long)p->n, (long long)p->k,
                  (long long)p->a.ld, (long long)p->b.ld, (long long)p->d.ld, (long long)p->batch, act_names[p->act],
                  p->use_bias ? mt(p->tbias) : "none", p->use_aux, tf32, tune, path == PATH_GEMV ? "gemv" : "lt");
    if (s.oom) {
        brc__str_free(&s);
        return NULL;
    }
    return s.p;
}

/* ---- cuBLASLt -------------------------------------------------------------------------------------------- */

static cudaDataType_t cuda_type(brc_dtype t) {
    switch (t) {
    case BRC_F64: return CUDA_R_64F;
    case BRC_F16: return CUDA_R_16F;
    case BRC_BF16: return CUDA_R_16BF;
    case BRC_FP8E4M3: return CUDA_R_8F_E4M3;
    case BRC_FP8E5M2: return CUDA_R_8F_E5M2;
    case BRC_I8: return CUDA_R_8I;
    case BRC_I32: return CUDA_R_32I;
    default: return CUDA_R_32F;
    }
}

#define LT_CALL(call, what)                                                                                 \
    do {                                                                                                    \
        cublasStatus_t s_ = (call);                                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            return brc__error(s_ == CUBLAS_STATUS_NOT_SUPPORTED ? BRC_STATUS_UNSUPPORTED : BRC_STATUS_CUDA_ERROR, \
                              "%s: %s (%s)", what, brc__lt_errname(s_), desc);                              \
    } while (0)

static brc_status layout(const brc__lt_api *lt, cublasLtMatrixLayoutOpaque_t *l, brc_dtype t, const cm_mat *x,
                         int64_t batch, const char *desc) {
    LT_CALL(lt->cublasLtMatrixLayoutInit_internal(l, sizeof *l, cuda_type(t), (uint64_t)x->rows, (uint64_t)x->cols,
                                                  x->ld),
            "cublasLtMatrixLayoutInit");
    if (batch > 1) {
        int32_t b = (int32_t)batch;
        int64_t s = x->bstride;
        LT_CALL(lt->cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b, sizeof b),
                "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
        LT_CALL(lt->cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof s),
                "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
    }
    return BRC_STATUS_OK;
}

static cublasLtEpilogue_t epilogue_of(const problem *p) {
    int e = CUBLASLT_EPILOGUE_DEFAULT;
    switch (p->act) {
    case BRC_GEMM_ACT_RELU: e = p->use_aux ? CUBLASLT_EPILOGUE_RELU_AUX : CUBLASLT_EPILOGUE_RELU; break;
    case BRC_GEMM_ACT_GELU_TANH: e = p->use_aux ? CUBLASLT_EPILOGUE_GELU_AUX : CUBLASLT_EPILOGUE_GELU; break;
    default: break; /* erf gelu: the matmul adds the bias, a pass after it applies gelu */
    }
    if (p->use_bias) {
        if (e == CUBLASLT_EPILOGUE_DEFAULT) e = CUBLASLT_EPILOGUE_BIAS;
        else e |= CUBLASLT_EPILOGUE_BIAS;
    }
    return (cublasLtEpilogue_t)e;
}

/* The per-call pointers of a matmul descriptor; those the problem does not use are ignored. */
typedef struct lt_ptrs {
    const void *bias;
    void *aux;
    const void *a_scale, *b_scale, *d_scale;
    void *amax_d;
} lt_ptrs;

/* Sets q's pointers on md: at plan time placeholders (the heuristic looks at their alignment),
 * at run time the caller's, on a copy of the plan's descriptor. */
static cublasStatus_t set_ptrs(const gemm_impl *im, cublasLtMatmulDescOpaque_t *md, const lt_ptrs *q) {
    const problem *p = &im->p;
    bool fp8 = is_fp8(p->ta), fp8d = fp8 && is_fp8(p->td);
    const struct {
        bool on;
        cublasLtMatmulDescAttributes_t attr;
        const void *val;
    } set[] = {{p->use_bias, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &q->bias},
               {p->use_aux && !im->post_gelu, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &q->aux},
               {fp8, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &q->a_scale},
               {fp8, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &q->b_scale},
               {fp8d, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &q->d_scale},
               {fp8d, CUBLASLT_MATMUL_DESC_AMAX_D_POINTER, &q->amax_d}};
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
        if (!set[i].on) continue;
        cublasStatus_t s = brc__lt()->cublasLtMatmulDescSetAttribute(md, set[i].attr, set[i].val, sizeof(void *));
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

/* alpha or beta in the plan's scale type (cuBLASLt reads the one the descriptor names). */
typedef union lt_scalar {
    double d;
    float f;
    int32_t i;
} lt_scalar;

static lt_scalar scalar_of(const gemm_impl *im, double v) {
    lt_scalar s;
    if (im->scale_type == CUDA_R_64F) s.d = v;
    else if (im->scale_type == CUDA_R_32I) s.i = (int32_t)v;
    else s.f = (float)v;
    return s;
}

/* The matmul descriptor and layouts of the problem (pointers set to 256-aligned placeholders,
 * which is what the heuristic looks at; run sets the real ones on a copy). */
static brc_status lt_describe(gemm_impl *im, bool tf32, const char *desc) {
    const brc__lt_api *lt = brc__lt();
    if (!lt) return BRC_STATUS_LIBRARY_NOT_FOUND;
    const problem *p = &im->p;
    cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    im->scale_type = CUDA_R_32F;
    if (p->ta == BRC_F64) ct = CUBLAS_COMPUTE_64F, im->scale_type = CUDA_R_64F;
    else if (p->ta == BRC_I8) ct = CUBLAS_COMPUTE_32I, im->scale_type = CUDA_R_32I;
    else if (p->ta == BRC_F32 && tf32) ct = CUBLAS_COMPUTE_32F_FAST_TF32;
    cublasLtMatmulDescOpaque_t *md = &im->md;
    LT_CALL(lt->cublasLtMatmulDescInit_internal(md, sizeof *md, ct, im->scale_type), "cublasLtMatmulDescInit");
    cublasOperation_t opa = p->a.trans ? CUBLAS_OP_T : CUBLAS_OP_N, opb = p->b.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa), "TRANSA");
    LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb), "TRANSB");
    cublasLtEpilogue_t epi = epilogue_of(p);
    LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "EPILOGUE");
    if (p->use_bias) {
        cudaDataType_t bt = cuda_type(p->tbias);
        LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt),
                "BIAS_DATA_TYPE");
        if (p->batch > 1)
            LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &p->bias_bstride,
                                                       sizeof p->bias_bstride),
                    "BIAS_BATCH_STRIDE");
    }
    if (p->use_aux && !im->post_gelu) {
        LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &p->aux.ld, sizeof p->aux.ld),
                "EPILOGUE_AUX_LD");
        if (p->batch > 1)
            LT_CALL(lt->cublasLtMatmulDescSetAttribute(md, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE,
                                                       &p->aux.bstride, sizeof p->aux.bstride),
                    "EPILOGUE_AUX_BATCH_STRIDE");
    }
    void *placeholder = (void *)(uintptr_t)256;
    lt_ptrs ph = {placeholder, placeholder, placeholder, placeholder, placeholder, placeholder};
    LT_CALL(set_ptrs(im, md, &ph), "cublasLtMatmulDescSetAttribute(pointers)");
    brc_status st;
    /* With erf gelu and aux, the matmul writes the pre-activation into aux ("D" for cuBLASLt) and
     * the pass writes D from it. */
    const cm_mat *dd = im->post_gelu && p->use_aux ? &p->aux : &p->d;
    if ((st = layout(lt, &im->la, p->swapped ? p->tb : p->ta, &p->a, p->batch, desc)) ||
        (st = layout(lt, &im->lb, p->swapped ? p->ta : p->tb, &p->b, p->batch, desc)) ||
        (st = layout(lt, &im->ld, p->td, dd, p->batch, desc)) ||
        (st = layout(lt, &im->lc, p->use_c ? p->tc : p->td, p->use_c ? &p->c : dd, p->batch, desc)))
        return st;
    return BRC_STATUS_OK;
}

static brc_status lt_preference(cublasLtMatmulPreferenceOpaque_t *pref, size_t max_ws, uint32_t align,
                                const char *desc) {
    const brc__lt_api *lt = brc__lt();
    LT_CALL(lt->cublasLtMatmulPreferenceInit_internal(pref, sizeof *pref), "cublasLtMatmulPreferenceInit");
    uint64_t ws = max_ws;
    LT_CALL(lt->cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
            "MAX_WORKSPACE_BYTES");
    uint32_t al = align;
    static const cublasLtMatmulPreferenceAttributes_t which[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++)
        LT_CALL(lt->cublasLtMatmulPreferenceSetAttribute(pref, which[i], &al, sizeof al), "MIN_ALIGNMENT");
    return BRC_STATUS_OK;
}

/* The stored choice's key: the problem (its descriptor plus what the descriptor leaves out), the
 * device and the library. */
static brc_status algo_key(const brc_context *ctx, const gemm_impl *im, const char *desc, size_t max_ws,
                           uint32_t align, brc__hash128 *key, char *device, size_t device_cap) {
    const brc__lt_api *lt = brc__lt();
    const brc__cu_api *cu = brc__cu();
    if (!lt || !cu) return BRC_STATUS_LIBRARY_NOT_FOUND;
    if (cu->cuDeviceGetName(device, (int)device_cap, ctx->cu_device) != CUDA_SUCCESS) snprintf(device, device_cap, "?");
    const problem *p = &im->p;
    brc__keybuf k = {0};
    brc__key_str(&k, "kind", "gemm-algo/1");
    brc__key_str(&k, "descriptor", desc);
    brc__key_str(&k, "device", device);
    brc__key_str(&k, "arch", ctx->arch);
    brc__key_i64(&k, "sms", ctx->sm_count);
    brc__key_i64(&k, "cublaslt", (int64_t)lt->version);
    brc__key_i64(&k, "ldc", p->c.ld);
    brc__key_i64(&k, "bsa", p->a.bstride);
    brc__key_i64(&k, "bsb", p->b.bstride);
    brc__key_i64(&k, "bsc", p->c.bstride);
    brc__key_i64(&k, "bsd", p->d.bstride);
    brc__key_i64(&k, "aux_ld", p->aux.ld);
    brc__key_i64(&k, "bias_bs", p->bias_bstride);
    brc__key_i64(&k, "max_ws", (int64_t)max_ws);
    brc__key_i64(&k, "align", align);
    if (k.oom) {
        free(k.p);
        return brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_gemm_plan: out of memory");
    }
    *key = brc__key_finish(&k);
    return BRC_STATUS_OK;
}

/* Times one candidate on scratch buffers, in us per run: `runs` runs between two events (0 when
 * a run fails). */
static double time_runs(cublasLtHandle_t h, gemm_impl *im, const cublasLtMatmulHeuristicResult_t *r,
                        CUdeviceptr buf[4], CUdeviceptr ws, CUstream stream, CUevent ev[2], int runs) {
    const brc__lt_api *lt = brc__lt();
    const brc__cu_api *cu = brc__cu();
    lt_scalar alpha = scalar_of(im, 1), beta = scalar_of(im, 0);
    cublasLtMatmulDescOpaque_t md = im->md;
    /* Scale pointers and the bias read a buffer of ones-ish bytes; aux writes into buf[3]. */
    void *any = (void *)(uintptr_t)buf[3];
    lt_ptrs scratch = {any, any, any, any, any, any};
    if (set_ptrs(im, &md, &scratch) != CUBLAS_STATUS_SUCCESS) return 0;
    cu->cuEventRecord(ev[0], stream);
    for (int i = 0; i < runs; i++)
        if (lt->cublasLtMatmul(h, &md, &alpha, (void *)buf[0], &im->la, (void *)buf[1], &im->lb, &beta,
                               (void *)buf[2], &im->lc, (void *)buf[2], &im->ld, &r->algo, (void *)ws,
                               r->workspaceSize, stream) != CUBLAS_STATUS_SUCCESS)
            return 0;
    cu->cuEventRecord(ev[1], stream);
    float ms = 0;
    if (cu->cuEventSynchronize(ev[1]) != CUDA_SUCCESS || cu->cuEventElapsedTime(&ms, ev[0], ev[1]) != CUDA_SUCCESS)
        return 0;
    return ms * 1000.0 / runs;
}

/* A candidate's sustained time: ~20 ms of runs to reach the clocks and power draw of a long run
 * (a large GEMM is power-limited on the H100; a short burst runs at boost clocks and ranks the
 * algorithms differently), then ~50 ms timed. INFINITY when it fails. */
static double time_candidate(cublasLtHandle_t h, gemm_impl *im, const cublasLtMatmulHeuristicResult_t *r,
                             CUdeviceptr buf[4], CUdeviceptr ws, CUstream stream, CUevent ev[2]) {
    double one = time_runs(h, im, r, buf, ws, stream, ev, 1);
    if (one <= 0) return INFINITY;
    int warm = (int)fmin(2000, ceil(20000.0 / one)), timed = (int)fmin(5000, fmax(5, ceil(50000.0 / one)));
    if (time_runs(h, im, r, buf, ws, stream, ev, warm) <= 0) return INFINITY;
    double us = time_runs(h, im, r, buf, ws, stream, ev, timed);
    return us > 0 ? us : INFINITY;
}

/* One element of scratch data in dtype t: sign and mantissa random, magnitude in [0.25, 1) for
 * floats (so sums stay finite and no value is NaN), small integers for i8 / i32. Random bits
 * matter: the tensor cores draw more power on them than on a constant pattern, and a GEMM near
 * the power limit ranks its algorithms differently on the two. */
static uint64_t scratch_value(brc_dtype t, uint64_t r) {
    uint64_t s = r >> 63, e = (r >> 62) & 1, m = r;
    switch (t) {
    case BRC_F64: return s << 63 | (1021 + e) << 52 | (m & ((1ull << 52) - 1));
    case BRC_F32: return s << 31 | (125 + e) << 23 | (m & ((1u << 23) - 1));
    case BRC_F16: return s << 15 | (13 + e) << 10 | (m & 1023);
    case BRC_BF16: return s << 15 | (125 + e) << 7 | (m & 127);
    case BRC_FP8E4M3: return s << 7 | (5 + e) << 3 | (m & 7);
    case BRC_FP8E5M2: return s << 7 | (13 + e) << 2 | (m & 3);
    case BRC_I8: return (uint64_t)(uint8_t)(int8_t)((int)(m & 127) - 64);
    default: return (uint64_t)(uint32_t)((int32_t)(m & 255) - 128);
    }
}

/* Fills a scratch buffer with scratch_value's of dtype t, 1 MiB of host pattern at a time. */
static CUresult fill_scratch(CUdeviceptr d, size_t bytes, brc_dtype t, uint64_t seed) {
    enum { CHUNK = 1 << 20 };
    unsigned char *h = malloc(CHUNK);
    if (!h) return CUDA_ERROR_OUT_OF_MEMORY;
    size_t es = brc_dtype_size(t) ? brc_dtype_size(t) : 1;
    uint64_t x = seed;
    for (size_t i = 0; i + es <= CHUNK; i += es) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t v = scratch_value(t, x ^ x >> 29);
        memcpy(h + i, &v, es); /* little-endian: the low bytes are the element */
    }
    CUresult r = CUDA_SUCCESS;
    for (size_t off = 0; off < bytes && r == CUDA_SUCCESS; off += CHUNK)
        r = brc__cu()->cuMemcpyHtoD(d + off, h, bytes - off < CHUNK ? bytes - off : CHUNK);
    free(h);
    return r;
}

/* Bytes a matrix spans (batch included). */
static size_t span(const cm_mat *x, int64_t batch, brc_dtype t, bool bits) {
    int64_t elems = x->ld * (x->cols - 1) + x->rows + x->bstride * (batch - 1);
    return bits ? (size_t)(elems + 7) / 8 : (size_t)elems * brc_dtype_size(t);
}

static brc_status autotune(const brc_context *ctx, cublasLtHandle_t h, gemm_impl *im,
                           const cublasLtMatmulHeuristicResult_t *cand, int n, size_t max_ws, int *best,
                           const char *desc) {
    const brc__cu_api *cu = brc__cu();
    const problem *p = &im->p;
    size_t bytes[4] = {span(&p->a, p->batch, p->swapped ? p->tb : p->ta, false),
                       span(&p->b, p->batch, p->swapped ? p->ta : p->tb, false),
                       span(&p->d, p->batch, p->td, false) + span(&p->c, p->batch, p->tc, false) +
                           span(&p->aux, p->batch, p->td, p->act == BRC_GEMM_ACT_RELU),
                       0};
    const brc_dtype dt[3] = {p->swapped ? p->tb : p->ta, p->swapped ? p->ta : p->tb, p->td};
    size_t extra = span(&p->aux, p->batch, p->td, p->act == BRC_GEMM_ACT_RELU) + (size_t)p->m * 8 * p->batch + 256;
    bytes[3] = extra;
    CUdeviceptr buf[4] = {0}, ws = 0;
    CUstream stream = NULL;
    CUevent ev[2] = {NULL, NULL};
    brc_status st = BRC_STATUS_OK;
    bool pushed;
    if ((st = brc__ctx_enter(ctx, &pushed))) return st;
    CUresult r = CUDA_SUCCESS;
    for (int i = 0; i < 4 && r == CUDA_SUCCESS; i++) {
        r = cu->cuMemAlloc(&buf[i], bytes[i]);
        /* A', B' and D' (with C and aux) get random values of their dtypes; buf[3], read as
         * bias and fp8 scales, bytes 0x3c (f32 0.0115, half and fp8 small normals). */
        if (r == CUDA_SUCCESS)
            r = i < 3 ? fill_scratch(buf[i], bytes[i], dt[i], 0x9e3779b97f4a7c15ull * (i + 1))
                      : cu->cuMemsetD8(buf[i], 0x3c, bytes[i]);
    }
    if (r == CUDA_SUCCESS && max_ws) r = cu->cuMemAlloc(&ws, max_ws);
    if (r == CUDA_SUCCESS) r = cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING);
    if (r == CUDA_SUCCESS) r = cu->cuEventCreate(&ev[0], CU_EVENT_DEFAULT);
    if (r == CUDA_SUCCESS) r = cu->cuEventCreate(&ev[1], CU_EVENT_DEFAULT);
    if (r != CUDA_SUCCESS) {
        st = brc__error(BRC_STATUS_CUDA_ERROR, "brc_gemm_plan: autotune scratch: %s (%s)", brc__cu_errname(r), desc);
    } else {
        /* Rounds over every candidate in turn, so clock and temperature drift fall on all of them
         * alike; each candidate's median over the rounds. The heuristic's first stays unless
         * another is faster by more than the run-to-run noise (TUNE_MARGIN). */
        enum { ROUNDS = 3 };
        double t[TUNE_CANDIDATES][ROUNDS];
        for (int round = 0; round < ROUNDS; round++)
            for (int i = 0; i < n; i++) t[i][round] = time_candidate(h, im, &cand[i], buf, ws, stream, ev);
        double med[TUNE_CANDIDATES];
        for (int i = 0; i < n; i++) {
            double *v = t[i];
            for (int a = 1; a < ROUNDS; a++)
                for (int b = a; b > 0 && v[b] < v[b - 1]; b--) {
                    double x = v[b];
                    v[b] = v[b - 1], v[b - 1] = x;
                }
            med[i] = v[ROUNDS / 2];
        }
        *best = 0;
        for (int i = 1; i < n; i++)
            if (med[i] < med[*best] && med[i] < med[0] * (1.0 - TUNE_MARGIN)) *best = i;
    }
    if (stream) cu->cuStreamSynchronize(stream);
    for (int i = 0; i < 2; i++)
        if (ev[i]) cu->cuEventDestroy(ev[i]);
    if (stream) cu->cuStreamDestroy(stream);
    for (int i = 0; i < 4; i++)
        if (buf[i]) cu->cuMemFree(buf[i]);
    if (ws) cu->cuMemFree(ws);
    brc__ctx_leave(pushed);
    return st;
}


/* Chooses the algorithm: the stored choice when it still checks, else the heuristic (or a timed
 * search), stored for the next process. Sets plan->workspace. */
static brc_status lt_select(brc_context *ctx, gemm_impl *im, size_t max_ws, bool tune, uint32_t align,
                            cublasLtMatmulAlgo_t *algo, size_t *workspace, const char *desc, const char **how) {
    const brc__lt_api *lt = brc__lt();
    cublasLtHandle_t h;
    brc_status st;
    if ((st = lt_handle(ctx, &h))) return st;
    brc__hash128 key;
    char device[128];
    if ((st = algo_key(ctx, im, desc, max_ws, align, &key, device, sizeof device))) return st;
    /* BARACUDA_GEMM_ALGO = i (experiments): the heuristic's i-th candidate, not stored. */
    const int forced = brc__knob("BARACUDA_GEMM_ALGO", 0, TUNE_CANDIDATES - 1, -1);
    bool pushed;
    if ((st = brc__ctx_enter(ctx, &pushed))) return st;
    brc__algo_row row;
    if (forced < 0 && brc__algo_lookup(key, &row) && row.algo_size == sizeof *algo) {
        cublasLtMatmulHeuristicResult_t chk;
        memcpy(algo, row.algo, sizeof *algo);
        memset(&chk, 0, sizeof chk);
        if (lt->cublasLtMatmulAlgoCheck(h, &im->md, &im->la, &im->lb, &im->lc, &im->ld, algo, &chk) ==
                CUBLAS_STATUS_SUCCESS &&
            chk.workspaceSize <= max_ws) {
            *workspace = chk.workspaceSize;
            *how = row.tuned ? "stored-tuned" : "stored";
            brc__ctx_leave(pushed);
            return BRC_STATUS_OK;
        }
        brc__algo_delete(key); /* another library build or a damaged row: choose again */
    }
    cublasLtMatmulPreferenceOpaque_t pref;
    cublasLtMatmulHeuristicResult_t cand[TUNE_CANDIDATES];
    int n = 0;
    st = lt_preference(&pref, max_ws, align, desc);
    if (!st) {
        memset(cand, 0, sizeof cand);
        cublasStatus_t s = lt->cublasLtMatmulAlgoGetHeuristic(h, &im->md, &im->la, &im->lb, &im->lc, &im->ld, &pref,
                                                              tune || forced >= 0 ? TUNE_CANDIDATES : 1, cand, &n);
        if (s != CUBLAS_STATUS_SUCCESS || n == 0)
            st = brc__error(BRC_STATUS_UNSUPPORTED, "brc_gemm_plan: cuBLASLt has no algorithm for %s on %s (%s)", desc,
                            device, s != CUBLAS_STATUS_SUCCESS ? brc__lt_errname(s) : "none returned");
    }
    brc__ctx_leave(pushed);
    if (st) return st;
    int best = 0;
    if (forced >= 0) {
        best = forced < n ? forced : n - 1;
        *algo = cand[best].algo;
        *workspace = cand[best].workspaceSize;
        *how = "forced";
        return BRC_STATUS_OK;
    }
    if (tune && n > 1 && (st = autotune(ctx, h, im, cand, n, max_ws, &best, desc))) return st;
    *algo = cand[best].algo;
    *workspace = cand[best].workspaceSize;
    *how = tune ? "tuned" : "heuristic";
    brc__algo_insert(key, desc, device, algo, sizeof *algo, (int64_t)*workspace, tune);
    return BRC_STATUS_OK;
}

/* ---- GEMV ------------------------------------------------------------------------------------------------ */

/* Whether the tensor-core GEMV takes the problem: halves in 16-byte vectors (K and both leading
 * dimensions multiples of 8) on sm_80+ (an offline context's arch counts). */
static bool gemv_mma_ok(const problem *p, int sm_major) {
    return is_half(p->ta) && p->k % 8 == 0 && p->a.ld % 8 == 0 && p->b.ld % 8 == 0 && sm_major >= 8;
}

/* The smallest M the tensor-core kernel takes (halves below it take the FMA kernel): 1 while W
 * has fewer than 8192 rows, else 2 (H100, M = 1 and 2, in a CUDA graph: N = 4096, K = 4096
 * 13.1-13.8 us against the FMA kernel's 14.1-16.3, K = 14336 41.5-41.8 against 42.6-42.7.
 * N = 14336, kernel time, since the tensor-core kernel keeps three chunks in flight there
 * (bench/sweep_gemv.py): M = 2 bf16 / f16 41.00 / 40.87 us against the FMA kernel's 41.54 /
 * 41.36 (PyTorch 41.12 / 41.13); M = 1 a draw, 40.43 / 40.53 against 40.64 / 40.28).
 * Override BARACUDA_GEMV_MMA_MIN_M (1..16). */
static int64_t gemv_mma_min_m(const problem *p) {
    return brc__knob("BARACUDA_GEMV_MMA_MIN_M", 1, 16, p->m < 8192 ? 1 : 2);
}

/* The tensor-core GEMV's block: KS warps split the K of one 16-row tile, and __launch_bounds__
 * promises MINB blocks an SM, which caps the registers at what the kernel needs (80 with one mma
 * n-tile, 104 with two; measured 80-88 and 108 unbounded). The largest KS of 8, 4, 2, 1 whose
 * blocks all fit on the SMs at once is chosen: a second, partly filled wave of blocks leaves
 * the memory system idle at the end (H100, bf16 M = 8, N = 14336, K = 4096: KS = 8 in 2.3 waves
 * 46.5 us, KS = 2 in one wave 44.7 us; N = 4096: KS = 8 fits and is fastest, KS = 2 at
 * K = 14336 57 us). Past one wave at KS = 1 (more than ~3300 tiles) KS = 1 stays. */
static void gemv_mma_shape(const problem *p, int sms, int *ks, int *minb, int *unroll) {
    const int64_t tiles = (p->m + 15) / 16;
    const int regs = p->n > 8 ? 104 : 80;
    for (int k = 8; k >= 1; k /= 2) {
        int b = 65536 / (k * 32 * regs);
        if (b > 64 / k) b = 64 / k;
        if (b > 32) b = 32;
        *ks = k, *minb = b;
        if (tiles <= (int64_t)sms * b || k == 1) break;
    }
    /* MINB: the blocks an SM one wave needs (fewer promised, more registers allowed). Blocks of
     * one or two warps with one n-tile keep three chunks in flight, which those registers allow
     * (H100, N = 14336, KS = 2, MINB 12 -> 7, U 2 -> 3, kernel time: M = 4 and 8 41.2-41.7 ->
     * 40.6-41.0 us; U = 3 at KS = 8 (N = 4096) and at two n-tiles measured no gain or a loss). */
    int64_t need = (tiles + sms - 1) / sms;
    if (need < *minb) *minb = need < 1 ? 1 : (int)need;
    /* Eight-warp blocks, at most two an SM: promise one. The kernel's registers (80-106) let two
     * 256-thread blocks share an SM either way, but ptxas schedules the MINB = 1 build better: H100,
     * bf16 4096 x 4096, kernel time, M = 1 / 4 / 8: 12.94 / 13.29 / 13.30 -> 12.72 / 13.03 /
     * 13.13 us (bench/sweep_gemv.py, 3 interleaved rounds, 86.9-84.8 -> 88.4-85.9% of copy). */
    if (*ks == 8 && need <= 2) *minb = 1;
    *unroll = *ks <= 2 && p->n <= 8 ? 3 : GEMV_MMA_UNROLL;
}

/* M up to 8 for every GEMV dtype; 16 for halves in 16-byte vectors (two mma n-tiles). */
static int64_t gemv_max_m(const problem *p) { return gemv_mma_ok(p, 8) ? 16 : 8; }

/* The GEMV serves: a floating dtype with f32 accumulation, D' = W X^T with W K-contiguous
 * (op(A') = A'^T) and X K-contiguous (op(B') = B'), n <= 8 columns of D', no batch, no aux. */
static bool gemv_applies(const problem *p) {
    return (p->ta == BRC_F32 || is_half(p->ta)) && p->td == p->ta && p->a.trans && !p->b.trans &&
           p->n <= gemv_max_m(p) && p->n >= 1 && p->batch == 1 && !p->use_aux && p->m >= 1 && p->k >= 1 &&
           (!p->use_bias || p->tbias == p->td || p->tbias == BRC_F32);
}

static const char *storage_type(brc_dtype t) {
    switch (t) {
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    default: return "float";
    }
}

static brc_status gemv_build(brc_context *ctx, gemm_impl *im, const char *desc, int *vec_out, int *rows_out,
                             bool *mma_out) {
    const problem *p = &im->p;
    int esize = (int)brc_dtype_size(p->ta);
    int vec = 16 / esize;
    if (p->a.ld % vec || p->b.ld % vec) vec = 1; /* the FMA kernel takes the K % vec tail itself */
    /* Halves with 16-byte rows take the tensor-core kernel (16 rows a block, K split over its
     * warps) from gemv_mma_min_m up; the FMA kernel serves f32, unaligned rows and M = 1 for W
     * of 8192 rows or more. */
    bool mma = gemv_mma_ok(p, ctx->sm_major) && p->n >= gemv_mma_min_m(p);
    if (!mma && p->n > 8)
        return brc__error(BRC_STATUS_UNSUPPORTED, "brc_gemm_plan: a GEMV of M = %lld > 8 needs the tensor-core "
                          "kernel (f16/bf16, sm_80+, K and leading dimensions multiples of 8) (%s)",
                          (long long)p->n, desc);
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    int rows = 16, unroll = GEMV_MMA_UNROLL, warps = GEMV_WARPS, minb = 1, blk = 0, pf = 0;
    if (mma) {
        gemv_mma_shape(p, sms, &warps, &minb, &unroll);
        /* Tuning overrides (see knob). */
        if (getenv("BARACUDA_GEMV_KS")) warps = brc__knob("BARACUDA_GEMV_KS", 1, 16, warps), minb = 1;
        unroll = brc__knob("BARACUDA_GEMV_U", 1, 8, unroll);
        minb = brc__knob("BARACUDA_GEMV_MINB", 1, 32, minb);
        blk = brc__knob("BARACUDA_GEMV_BLK", 0, 1, 1);
    }
    pf = brc__knob("BARACUDA_GEMV_PF", 0, 1, mma ? 1 : 0);
    /* Programmatic dependent launch (gemv.cuh PDL), sm_90+: off by default. Measured in a CUDA
     * graph of GEMVs (H100): M = 16 at 4096 x 4096 14.0 -> 12.4-12.6 us, but M <= 8 there 0-1.5 us
     * slower and N = 14336 (two-warp blocks, free block slots an SM) 42 -> 50 us. Override
     * BARACUDA_GEMV_PDL = 1 (wait before any load) or 2 (the first chunks of W before the wait:
     * only when W is not written by the kernels before it in the stream). */
    int pdl = ctx->sm_major >= 9 ? brc__knob("BARACUDA_GEMV_PDL", 0, 2, 0) : 0;
    if (!mma && pdl == 2) pdl = 1; /* the FMA kernel always waits before its loads */
    if (!mma) {
        /* Rows per warp: the most that still fills every SM once (an offline context assumes 132). */
        rows = 4;
        while (rows > 1 && (p->m + GEMV_WARPS * rows - 1) / (GEMV_WARPS * rows) < sms) rows >>= 1;
        if (rows * p->n > 32) rows = (int)(32 / p->n);
        unroll = GEMV_UNROLL;
    }
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_gemv {\n  typedef %s T;\n  typedef %s B;\n"
                  "  enum { M = %d, VEC = %d, R = %d, U = %d, WARPS = %d, ACT = %d, HAS_BIAS = %d, HAS_C = %d, BLK = %d, "
                  "PF = %d, PDL = %d };\n};\n"
                  "__global__ void __launch_bounds__(%d, %d)\n"
                  "brc_gemv_kernel(brc::gemv_args a) { brc::%s<brc_gemv>(a); }\n",
                  storage_type(p->ta), p->use_bias ? storage_type(p->tbias) : "float", (int)p->n, vec, rows, unroll,
                  warps, p->act, p->use_bias, p->use_c, blk, pf, pdl, warps * 32, minb,
                  mma ? "gemv_mma_main" : "gemv_main");
    brc_status st;
    if (snip.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_gemm_plan: out of memory");
    } else {
        static const char *const sources[] = {"prelude.cuh", "gemv.cuh", NULL};
        brc__kernel_req req = {.template_name = "gemv", .sources = sources, .nspec = 15,
                               .spec = {p->ta, p->n, vec, rows, unroll, warps, p->act, p->use_bias,
                                        p->use_bias ? (int64_t)p->tbias : -1, p->use_c, mma, minb, blk, pf, pdl},
                               .snippet = snip.p, .name_expr = "brc_gemv_kernel", .descriptor = desc};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, &im->fn);
    }
    brc__str_free(&snip);
    im->threads = (unsigned)warps * 32;
    im->unroll = unroll;
    im->pdl = pdl;
    im->grid = mma ? (unsigned)((p->m + 15) / 16) : (unsigned)((p->m + GEMV_WARPS * rows - 1) / (GEMV_WARPS * rows));
    *vec_out = vec;
    *rows_out = rows;
    *mma_out = mma;
    return st;
}

/* ---- planning ---------------------------------------------------------------------------------------------- */

static brc_status gemm_plan_impl(brc_context *ctx, const brc_gemm_desc *g, const brc_plan_prefs *prefs_in, int force_path,
                                 brc_plan **out) {
    brc_status st = brc__plan_start(ctx, g, out, "brc_gemm_plan");
    if (st) return st;
    if (g->struct_size < sizeof *g)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_plan: desc->struct_size %zu too small (initialize with BRC_GEMM_DESC_INIT)",
                          g->struct_size);
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    problem p;
    if ((st = map_problem(ctx, g, &p))) return st;
    /* autotune 1: time the candidates (the choice is stored, so the search runs once per shape and
     * device); 0 (default) and -1: cuBLASLt's heuristic's first. A default
     * search for large problems was tried: at 8192^3 its choice ran 3-5% slower in the benchmark
     * than the heuristic's first (bench/results/gemm.json history, docs/gemm.md). */
    bool tf32 = prefs->allow_tf32 != 0 && p.ta == BRC_F32;
    bool tune = prefs->autotune > 0;
    size_t max_ws = prefs->max_workspace ? prefs->max_workspace : default_max_workspace;
    int path = PATH_LT;
    if (force_path >= 0) {
        path = force_path;
    } else if (prefs->backend == BRC_BACKEND_BESPOKE) {
        path = PATH_GEMV;
    } else if (prefs->backend == BRC_BACKEND_AUTO && gemv_applies(&p) && p.m >= 256 && p.k >= 256) {
        path = PATH_GEMV; /* small problems stay on cuBLASLt: nothing to stream */
    }
    if (path == PATH_GEMV && !gemv_applies(&p))
        return brc__error(BRC_STATUS_UNSUPPORTED,
                          "brc_gemm_plan: the bespoke GEMV needs f32/f16/bf16 (D in that dtype), M <= 8 (16 for halves "
                          "with K and leading dimensions multiples of 8), A row-major "
                          "[M, K], B = W^T with W row-major [N, K], a row-major D, no batch and no aux");
    if (path == PATH_GEMV) tf32 = false, tune = false;
    if (path == PATH_LT && p.use_bias && p.tbias == BRC_F32 && is_half(p.td))
        return brc__error(BRC_STATUS_UNSUPPORTED,
                          "brc_gemm_plan: cuBLASLt takes no f32 bias for a %s D (the bespoke GEMV does, at M <= 16)",
                          mt(p.td));
    brc_plan *plan;
    if ((st = brc__plan_new(ctx, BRC__FAM_GEMM, &gemm_vt, sizeof(gemm_impl), &plan))) return st;
    gemm_impl *im = plan->impl;
    im->p = p;
    im->path = path;
    char *desc = describe(&p, path, tf32, tune);
    brc__str sku = {0};
    if (!desc) {
        brc_plan_destroy(plan);
        return brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_gemm_plan: out of memory");
    }
    if (path == PATH_GEMV) {
        int vec = 0, rows = 0;
        bool mma = false;
        st = gemv_build(ctx, im, desc, &vec, &rows, &mma);
        static const char *const pdl_names[] = {"", ",pdl", ",pdl=w"};
        brc__str_addf(&sku, "bespoke:gemv<%s,m=%lld,vec=%d,%s,rows=%d,warps=%u,u=%d,act=%s%s%s%s>@%s", mt(p.ta),
                      (long long)p.n, vec, mma ? "mma" : "fma", rows, im->threads / 32, im->unroll, act_names[p.act],
                      p.use_bias ? ",bias" : "", p.use_c ? ",c" : "", pdl_names[im->pdl], ctx->arch);
    } else {
        im->post_gelu = p.act == BRC_GEMM_ACT_GELU;
        const char *how = "offline";
        st = lt_describe(im, tf32, desc);
        if (!st && ctx->device >= 0) {
            /* One choice for 256-byte aligned operands, one for 16 (the run picks by the pointers). */
            size_t ws[2] = {0, 0};
            const char *how16 = "";
            st = lt_select(ctx, im, max_ws, tune, ALIGN_BIG, &im->algo[0], &ws[0], desc, &how);
            if (!st) st = lt_select(ctx, im, max_ws, false, PTR_ALIGN, &im->algo[1], &ws[1], desc, &how16);
            plan->workspace = ws[0] > ws[1] ? ws[0] : ws[1];
        }
        if (!st && im->post_gelu) {
            /* gelu(erf) over D (from aux when aux keeps the pre-activation). */
            brc_unary_desc u = {.kind = BRC_UNARY_GELU_ERF, .x = g->use_aux ? g->aux : g->d, .y = g->d};
            st = brc_unary_plan(ctx, &u, NULL, &im->post);
        }
        brc__str_addf(&sku, "library:cublaslt<%s%s,%s%s,%s,algo=%s>%s@%s", mt(p.ta), tf32 ? "+tf32" : "",
                      p.a.trans ? "t" : "n", p.b.trans ? "t" : "n", act_names[p.act], how,
                      im->post_gelu ? "+bespoke:gelu_erf" : "", ctx->arch);
    }
    if (!st && sku.oom) st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_gemm_plan: out of memory");
    if (st) {
        free(desc);
        brc__str_free(&sku);
        brc_plan_destroy(plan);
        return st;
    }
    brc__plan_publish(plan, desc, sku.p);
    *out = plan;
    return BRC_STATUS_OK;
}

brc_status brc_gemm_plan(brc_context *ctx, const brc_gemm_desc *desc, const brc_plan_prefs *prefs, brc_plan **out) {
    return gemm_plan_impl(ctx, desc, prefs, -1, out);
}

/* gemm(...): the column-major problem, built as column-major operands (ta/tb say how A' and B'
 * are stored), so the plan made has the same descriptor. */
brc_status brc__gemm_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const tn[] = {"n", "t"}, *const paths[] = {"lt", "gemv"};
    brc_dtype ta = BRC_F32, tb = BRC_F32, td = BRC_F32, tc = BRC_F32, tbias = BRC_F32;
    int opa = 0, opb = 0, act = 0, path = 0;
    int64_t m, n, k, lda, ldb, ldd, batch, aux, tf32, tune;
    const int64_t big = (int64_t)1 << 40;
    brc_status st;
    const char *cs = brc__desc_get(d, "c"), *bs = brc__desc_get(d, "bias");
    bool use_c = cs && strcmp(cs, "none") != 0, use_bias = bs && strcmp(bs, "none") != 0;
    if ((st = brc__desc_dtype(d, "a", &ta)) || (st = brc__desc_dtype(d, "b", &tb)) || (st = brc__desc_dtype(d, "d", &td)) ||
        (use_c && (st = brc__desc_dtype(d, "c", &tc))) || (use_bias && (st = brc__desc_dtype(d, "bias", &tbias))) ||
        (st = brc__desc_pick(d, "ta", tn, 2, 0, &opa)) || (st = brc__desc_pick(d, "tb", tn, 2, 0, &opb)) ||
        (st = brc__desc_int(d, "m", 1, big, -1, &m)) || (st = brc__desc_int(d, "n", 1, big, -1, &n)) ||
        (st = brc__desc_int(d, "k", 1, big, -1, &k)) || (st = brc__desc_int(d, "batch", 1, big, 1, &batch)) ||
        (st = brc__desc_pick(d, "act", act_names, 4, 0, &act)) || (st = brc__desc_int(d, "aux", 0, 1, 0, &aux)) ||
        (st = brc__desc_int(d, "tf32", 0, 1, 0, &tf32)) || (st = brc__desc_int(d, "tune", 0, 1, 0, &tune)) ||
        (st = brc__desc_pick(d, "path", paths, 2, 0, &path)))
        return st;
    const char *unused;
    if (m < 0 || n < 0 || k < 0) return brc__desc_need(d, m < 0 ? "m" : n < 0 ? "n" : "k", &unused);
    if ((st = brc__desc_int(d, "lda", 1, big, opa ? k : m, &lda)) || (st = brc__desc_int(d, "ldb", 1, big, opb ? n : k, &ldb)) ||
        (st = brc__desc_int(d, "ldd", 1, big, m, &ldd)))
        return st;
    /* The column-major problem D' = op(A') op(B') as the public API's operands: A = A' stored
     * column-major (strides (1, lda)), trans_a = ta; likewise B; D column-major. With bias or aux
     * the public D must be row-major: give D^T = op(B')^T op(A')^T instead. */
    brc_gemm_desc g = BRC_GEMM_DESC_INIT;
    int64_t ar = opa ? k : m, ac = opa ? m : k, br = opb ? n : k, bc = opb ? k : n;
    bool rowd = use_bias || aux;
    int r3 = batch > 1 ? 1 : 0;
    brc_tensor_desc A = {ta, 2 + r3, {0}, {0}}, B = {tb, 2 + r3, {0}, {0}}, D = {td, 2 + r3, {0}, {0}};
    if (r3) {
        A.shape[0] = B.shape[0] = D.shape[0] = batch;
        A.strides[0] = lda * ac, B.strides[0] = ldb * bc, D.strides[0] = ldd * n;
    }
    if (!rowd) {
        A.shape[r3] = ar, A.shape[r3 + 1] = ac, A.strides[r3] = 1, A.strides[r3 + 1] = lda;
        B.shape[r3] = br, B.shape[r3 + 1] = bc, B.strides[r3] = 1, B.strides[r3 + 1] = ldb;
        D.shape[r3] = m, D.shape[r3 + 1] = n, D.strides[r3] = 1, D.strides[r3 + 1] = ldd;
        g.a = A, g.b = B, g.trans_a = opa, g.trans_b = opb;
    } else {
        /* public A = B'^T (row-major view of B's storage), public B = A'^T */
        A.shape[r3] = bc, A.shape[r3 + 1] = br, A.strides[r3] = ldb, A.strides[r3 + 1] = 1;
        B.shape[r3] = ac, B.shape[r3 + 1] = ar, B.strides[r3] = lda, B.strides[r3 + 1] = 1;
        D.shape[r3] = n, D.shape[r3 + 1] = m, D.strides[r3] = ldd, D.strides[r3 + 1] = 1;
        A.dtype = tb, B.dtype = ta;
        g.a = A, g.b = B, g.trans_a = opb, g.trans_b = opa;
    }
    g.d = D;
    if (use_c) g.use_c = 1, g.c = D, g.c.dtype = tc;
    g.act = (brc_gemm_act)act;
    if (use_bias) {
        g.use_bias = 1;
        int64_t shape[1] = {m};
        brc_tensor_desc_contiguous(&g.bias, tbias, 1, shape);
    }
    if (aux) {
        g.use_aux = 1;
        g.aux = D;
        if (act == BRC_GEMM_ACT_RELU) {
            int64_t bytes = ((m + 127) / 128) * 16;
            g.aux.dtype = BRC_U8, g.aux.shape[r3 + 1] = bytes, g.aux.strides[r3] = bytes;
            if (r3) g.aux.strides[0] = bytes * n;
        }
    }
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.allow_tf32 = (int)tf32, prefs.autotune = (int)tune;
    return gemm_plan_impl(ctx, &g, &prefs, path, out);
}

/* ---- running ---------------------------------------------------------------------------------------------------- */

static brc_status need(const void *ptr, const char *what, const brc_plan *plan) {
    if (!ptr) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_run: %s is NULL (%s)", what, plan->descriptor);
    if ((uintptr_t)ptr % PTR_ALIGN)
        return brc__error(BRC_STATUS_MISALIGNED, "brc_gemm_run: %s %p is not aligned to %d bytes (%s)", what, ptr,
                          PTR_ALIGN, plan->descriptor);
    return BRC_STATUS_OK;
}

static brc_status run_gemv(const brc_plan *plan, const gemm_impl *im, const brc_gemm_args *x, const void *w,
                           const void *xx, brc_stream stream) {
    const problem *p = &im->p;
    struct {
        const void *w, *x, *c, *bias;
        void *y;
        long long n, k, ldw, ldx, ldy, ldc;
        float alpha, beta;
    } a = {w, xx, x->c, x->bias, x->d, p->m, p->k, p->a.ld, p->b.ld, p->d.ld, p->c.ld, (float)x->alpha, (float)x->beta};
    void *args[1] = {&a};
    return brc__launch(plan, im->fn, im->grid, im->threads, 0, im->pdl, args, stream);
}

brc_status brc_gemm_run(const brc_plan *plan, const brc_gemm_args *x, brc_stream stream) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_GEMM, "brc_gemm_run");
    if (st) return st;
    if (!x) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_run: args is NULL");
    if (x->struct_size < sizeof *x)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_run: args->struct_size %zu too small (initialize with BRC_GEMM_ARGS_INIT)",
                          x->struct_size);
    const gemm_impl *im = plan->impl;
    const problem *p = &im->p;
    if ((st = need(x->a, "a", plan)) || (st = need(x->b, "b", plan)) || (st = need(x->d, "d", plan)) ||
        (p->use_c && (st = need(x->c, "c", plan))) || (p->use_bias && (st = need(x->bias, "bias", plan))) ||
        (p->use_aux && (st = need(x->aux, "aux", plan))))
        return st;
    if (!p->use_c && x->beta != 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_run: beta = %g but the plan reads no C (%s)", x->beta,
                          plan->descriptor);
    if (p->ta == BRC_I8 && (x->alpha != floor(x->alpha) || x->beta != floor(x->beta) || fabs(x->alpha) > 2147483647.0 ||
                            fabs(x->beta) > 2147483647.0))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_gemm_run: an i8 GEMM scales by int32: alpha = %g, beta = %g (%s)",
                          x->alpha, x->beta, plan->descriptor);
    /* The problem's A' and B' (swapped when D is row-major). */
    const void *a1 = p->swapped ? x->b : x->a, *b1 = p->swapped ? x->a : x->b;
    if (im->path == PATH_GEMV) return run_gemv(plan, im, x, a1, b1, stream);

    if (plan->workspace && (!x->workspace || x->workspace_size < plan->workspace || (uintptr_t)x->workspace % WS_ALIGN))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_run: the plan needs a workspace of %zu bytes aligned to %d (got %p, %zu bytes) (%s)",
                          plan->workspace, WS_ALIGN, x->workspace, x->workspace_size, plan->descriptor);
    const brc__lt_api *lt = brc__lt();
    cublasLtHandle_t h = plan->ctx->lt_handle;
    if (is_fp8(p->ta) && (!x->a_scale || !x->b_scale || (is_fp8(p->td) && !x->d_scale)))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_gemm_run: an fp8 GEMM needs a_scale, b_scale%s (device f32; pass a pointer to 1.0f "
                          "for no scaling) (%s)",
                          is_fp8(p->td) ? " and d_scale" : "", plan->descriptor);
    /* With erf gelu and aux the matmul keeps the pre-activation in aux, the pass writes D. */
    void *dout = p->use_aux && im->post_gelu ? x->aux : x->d;
    /* A' and B' are B and A when D is row-major: so are their scales. */
    lt_ptrs q = {x->bias, x->aux, p->swapped ? x->b_scale : x->a_scale, p->swapped ? x->a_scale : x->b_scale,
                 x->d_scale, x->amax_d};
    cublasLtMatmulDescOpaque_t md = im->md;
    set_ptrs(im, &md, &q); /* the same attributes took placeholders at plan time */
    lt_scalar alpha = scalar_of(im, x->alpha), beta = scalar_of(im, x->beta);
    uintptr_t any = (uintptr_t)x->a | (uintptr_t)x->b | (uintptr_t)x->d | (p->use_c ? (uintptr_t)x->c : 0) |
                    (p->use_aux ? (uintptr_t)x->aux : 0) | (p->use_bias ? (uintptr_t)x->bias : 0);
    const cublasLtMatmulAlgo_t *algo = &im->algo[any % ALIGN_BIG ? 1 : 0];
    bool pushed;
    if ((st = brc__ctx_enter(plan->ctx, &pushed))) return st;
    /* cuBLASLt takes the layouts as non-const; it does not write them. */
    cublasLtMatrixLayout_t la = (cublasLtMatrixLayout_t)&im->la, lb = (cublasLtMatrixLayout_t)&im->lb,
                           lc = (cublasLtMatrixLayout_t)&im->lc, ld = (cublasLtMatrixLayout_t)&im->ld;
    cublasStatus_t s = lt->cublasLtMatmul(h, &md, &alpha, a1, la, b1, lb, &beta, p->use_c ? x->c : dout, lc, dout, ld,
                                          algo, plan->workspace ? x->workspace : NULL,
                                          plan->workspace, (cudaStream_t)stream);
    brc__ctx_leave(pushed);
    if (s != CUBLAS_STATUS_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cublasLtMatmul: %s (%s)", brc__lt_errname(s), plan->descriptor);
    if (im->post) return brc_unary_run(im->post, p->use_aux ? x->aux : x->d, x->d, NULL, stream);
    return BRC_STATUS_OK;
}
