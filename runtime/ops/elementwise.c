/* The elementwise family: unary, binary, ternary and cast plans. Validates and broadcasts the
 * descriptors, merges dims, picks the contiguous or strided kernel by structure, generates the
 * op functor from the kind tables, and launches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* ---- the kind tables, as the library sees them ------------------------------------------------- */

typedef struct kind_info {
    const char *name;
    unsigned classes;
    const char *expr;
    int returns_bool;
} kind_info;

static const kind_info unary_kinds[] = {
#define BRC__X(N, n, num, cls, dom, a, b, dev, ref) [num] = {#n, cls, dev, 0},
    BRC_UNARY_KINDS(BRC__X)
#undef BRC__X
};
static const kind_info binary_kinds[] = {
#define BRC__X(N, n, num, cls, cmp, dom, dev, ref) [num] = {#n, cls, dev, cmp},
    BRC_BINARY_KINDS(BRC__X)
#undef BRC__X
};
static const kind_info ternary_kinds[] = {
#define BRC__X(N, n, num, cls, a, dev, ref) [num] = {#n, cls, dev, 0},
    BRC_TERNARY_KINDS(BRC__X)
#undef BRC__X
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(COUNT(unary_kinds) == BRC_UNARY_COUNT_, "BRC_UNARY_COUNT_ is out of date");
_Static_assert(COUNT(binary_kinds) == BRC_BINARY_COUNT_, "BRC_BINARY_COUNT_ is out of date");
_Static_assert(COUNT(ternary_kinds) == BRC_TERNARY_COUNT_, "BRC_TERNARY_COUNT_ is out of date");

static const kind_info *kind_at(const kind_info *t, size_t n, int k) {
    return k >= 0 && (size_t)k < n && t[k].name ? &t[k] : NULL;
}

const char *brc_unary_kind_name(brc_unary_kind k) {
    const kind_info *i = kind_at(unary_kinds, COUNT(unary_kinds), (int)k);
    return i ? i->name : NULL;
}
const char *brc_binary_kind_name(brc_binary_kind k) {
    const kind_info *i = kind_at(binary_kinds, COUNT(binary_kinds), (int)k);
    return i ? i->name : NULL;
}
const char *brc_ternary_kind_name(brc_ternary_kind k) {
    const kind_info *i = kind_at(ternary_kinds, COUNT(ternary_kinds), (int)k);
    return i ? i->name : NULL;
}

static int kind_find(const kind_info *t, size_t n, const char *name) {
    for (size_t i = 0; name && i < n; i++)
        if (t[i].name && strcmp(t[i].name, name) == 0) return (int)i;
    return -1;
}
int brc_unary_kind_from_name(const char *name) { return kind_find(unary_kinds, COUNT(unary_kinds), name); }
int brc_binary_kind_from_name(const char *name) { return kind_find(binary_kinds, COUNT(binary_kinds), name); }
int brc_ternary_kind_from_name(const char *name) { return kind_find(ternary_kinds, COUNT(ternary_kinds), name); }

unsigned brc__dtype_class(brc_dtype t) {
    switch (t) {
    case BRC_F64: return BRC_CLS_F64;
    case BRC_F32: return BRC_CLS_F32;
    case BRC_F16: case BRC_BF16: return BRC_CLS_HALF;
    case BRC_FP8E4M3: case BRC_FP8E5M2: return BRC_CLS_FP8;
    case BRC_I8: case BRC_I16: case BRC_I32: case BRC_I64: return BRC_CLS_SINT;
    case BRC_U8: case BRC_U32: return BRC_CLS_UINT;
    case BRC_BOOL: return BRC_CLS_BOOL;
    case BRC_DTYPE_COUNT_: break;
    }
    return 0;
}

static const char *storage_type(brc_dtype t) {
    switch (t) {
    case BRC_F32: return "float";
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    case BRC_FP8E4M3: return "brc::e4m3";
    case BRC_FP8E5M2: return "brc::e5m2";
    case BRC_I8: return "i8";
    case BRC_U8: return "u8";
    case BRC_I16: return "i16";
    case BRC_I32: return "i32";
    case BRC_I64: return "i64";
    case BRC_U32: return "u32";
    case BRC_BOOL: return "brc::boolean";
    case BRC_DTYPE_COUNT_: break;
    }
    return "void";
}

/* ---- plan state ------------------------------------------------------------------------------------- */

enum { OP_UNARY, OP_BINARY, OP_TERNARY, OP_CAST };
/* Must match kernel_src/elementwise.cuh. */
enum { EW_THREADS = 256, EW_UNROLL = 8 };
static const char *const family_names[] = {"unary", "binary", "ternary", "cast"};

/* A layout after broadcasting and merging: rank dims, strides per operand ([0] output). */
typedef struct ew_layout {
    int32_t rank;
    int64_t shape[BRC_MAX_RANK];
    int64_t stride[4][BRC_MAX_RANK];
} ew_layout;

typedef struct ew_impl {
    int nin;
    int64_t n;
    bool contig;
    int vec;
    int index64;
    size_t in_size[3], out_size;
    bool alias_ok[3];
    double alpha, beta;
    /* The strided kernel's brc::ew_layout<R> argument: shape[R], then stride[4][R]. */
    int64_t packed[5 * BRC_MAX_RANK];
    CUfunction fn;
} ew_impl;

static const brc__plan_vt ew_vt = {NULL};

/* ---- validation and layout ---------------------------------------------------------------------- */

/* Broadcasts input desc to the output's shape: dims aligned on the right, a dim of 1 (or a
 * stride of 0) broadcast. Writes the effective strides (0 where broadcast) over the output's
 * rank. */
static brc_status broadcast(const brc_tensor_desc *in, const brc_tensor_desc *out, const char *what,
                            int64_t strides[BRC_MAX_RANK], bool *same_as_out) {
    if (in->rank > out->rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: rank %d exceeds the output's rank %d", what,
                          (int)in->rank, (int)out->rank);
    int off = out->rank - in->rank;
    *same_as_out = off == 0;
    for (int d = 0; d < out->rank; d++) {
        if (d < off) {
            strides[d] = 0;
            *same_as_out = *same_as_out && out->shape[d] == 1;
            continue;
        }
        int64_t s = in->shape[d - off];
        if (s == out->shape[d]) {
            strides[d] = s == 1 ? 0 : in->strides[d - off];
        } else if (s == 1) {
            strides[d] = 0;
        } else {
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: dim %d of size %lld does not broadcast to the output's %lld", what,
                              d - off, (long long)s, (long long)out->shape[d]);
        }
        if (strides[d] != in->strides[d - off] && out->shape[d] != 1) *same_as_out = false;
        if (in->strides[d - off] != out->strides[d] && out->shape[d] != 1) *same_as_out = false;
    }
    return BRC_STATUS_OK;
}

/* Drops size-1 dims and merges neighbours that are contiguous with each other in every
 * operand. Keeps the element order of the output. */
static void merge_dims(ew_layout *L, int nops) {
    ew_layout m = {0};
    for (int d = 0; d < L->rank; d++) {
        if (L->shape[d] == 1) continue;
        if (m.rank > 0) {
            int last = m.rank - 1;
            bool ok = true;
            for (int k = 0; k < nops && ok; k++) ok = m.stride[k][last] == L->stride[k][d] * L->shape[d];
            if (ok) {
                m.shape[last] *= L->shape[d];
                for (int k = 0; k < nops; k++) m.stride[k][last] = L->stride[k][d];
                continue;
            }
        }
        m.shape[m.rank] = L->shape[d];
        for (int k = 0; k < nops; k++) m.stride[k][m.rank] = L->stride[k][d];
        m.rank++;
    }
    *L = m;
}

/* What the op functor is made from: the storage types of x, y, z and the output, whether the
 * compute type follows y (where), and the kind's expression. */
typedef struct functor_spec {
    brc_dtype t[4];
    bool where;
    const char *expr;
} functor_spec;

static void functor_source(brc__str *out, const void *arg) {
    const functor_spec *f = arg;
    brc__str_addf(out,
                  "struct brc_op {\n"
                  "  typedef %s tx; typedef %s ty; typedef %s tz; typedef %s to;\n"
                  "  typedef brc::io<tx>::C CX; typedef brc::io<ty>::C CY; typedef brc::io<tz>::C CZ;\n"
                  "  typedef brc::io<to>::C CO; typedef %s C;\n"
                  "  static __device__ __forceinline__ CO apply(CX x, CY y, CZ z, C a, C b) {\n"
                  "    (void)y; (void)z; (void)a; (void)b;\n"
                  "    return brc::convert<CO>(%s);\n"
                  "  }\n"
                  "};\n",
                  storage_type(f->t[0]), storage_type(f->t[1]), storage_type(f->t[2]), storage_type(f->t[3]),
                  f->where ? "CY" : "CX", f->expr);
}

typedef struct ew_request {
    int op;
    int kind;                  /* -1 for cast */
    const kind_info *info;     /* NULL for cast */
    int nin;
    const brc_tensor_desc *in[3];
    const brc_tensor_desc *out;
    double alpha, beta;
} ew_request;

/* The ops that are a few instructions an element (a load-compute-store stream at any size):
 * casts, the ternaries, the arithmetic and comparison binaries and the common activations. The others
 * (pow, atan2, the special functions, ...) cost enough compile time unrolled that they keep the
 * shorter pipeline (see ahead in the plan). */
static bool streaming_op(const ew_request *rq) {
    static const int unary[] = {BRC_UNARY_NEG,      BRC_UNARY_ABS,       BRC_UNARY_SQUARE, BRC_UNARY_SQRT,
                                BRC_UNARY_RSQRT,    BRC_UNARY_EXP,       BRC_UNARY_LOG,    BRC_UNARY_TANH,
                                BRC_UNARY_RELU,     BRC_UNARY_GELU_ERF,  BRC_UNARY_GELU_TANH, BRC_UNARY_SILU,
                                BRC_UNARY_SIGMOID,  BRC_UNARY_RECIPROCAL};
    static const int binary[] = {BRC_BINARY_ADD,     BRC_BINARY_SUB,     BRC_BINARY_MUL,  BRC_BINARY_DIV,
                                 BRC_BINARY_MAXIMUM, BRC_BINARY_MINIMUM, BRC_BINARY_FMAX, BRC_BINARY_FMIN,
                                 BRC_BINARY_EQ,      BRC_BINARY_NE,      BRC_BINARY_LT,   BRC_BINARY_LE,
                                 BRC_BINARY_GT,      BRC_BINARY_GE};
    if (rq->op == OP_CAST || rq->op == OP_TERNARY) return true; /* ternary: where, clamp, fma, addc*, lerp */
    const int *list = rq->op == OP_UNARY ? unary : binary;
    size_t n = rq->op == OP_UNARY ? sizeof unary / sizeof *unary : sizeof binary / sizeof *binary;
    for (size_t i = 0; i < n; i++)
        if (list[i] == rq->kind) return true;
    return false;
}

static brc_status plan_common(brc_context *ctx, const ew_request *rq, const brc_plan_prefs *prefs_in,
                              brc_plan **out) {
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    const char *fam = family_names[rq->op];
    char what[64];
    snprintf(what, sizeof what, "%s: output", fam);
    if ((st = brc__tensor_check(rq->out, what))) return st;
    for (int i = 0; i < rq->nin; i++) {
        snprintf(what, sizeof what, "%s: input %d", fam, i);
        if ((st = brc__tensor_check(rq->in[i], what))) return st;
    }
    const brc_tensor_desc *y = rq->out;
    for (int d = 0; d < y->rank; d++)
        if (y->strides[d] == 0 && y->shape[d] > 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: output dim %d is broadcast (stride 0): elements would be written twice",
                              fam, d);
    if (prefs->vector_width != 0 &&
        (prefs->vector_width < 0 || prefs->vector_width > 16 ||
         (prefs->vector_width & (prefs->vector_width - 1)) != 0))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d is not 0 or a power of two <= 16",
                          fam, prefs->vector_width);

    ew_layout L = {0};
    L.rank = y->rank;
    bool same[3] = {false, false, false};
    for (int d = 0; d < y->rank; d++) {
        L.shape[d] = y->shape[d];
        L.stride[0][d] = y->strides[d];
    }
    for (int i = 0; i < rq->nin; i++) {
        snprintf(what, sizeof what, "%s: input %d", fam, i);
        if ((st = broadcast(rq->in[i], y, what, L.stride[1 + i], &same[i]))) return st;
    }
    int64_t n = brc_tensor_desc_numel(y);
    merge_dims(&L, 1 + rq->nin);
    if (n / EW_THREADS >= INT32_MAX)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %lld elements exceed one launch", fam, (long long)n);

    bool contig = !prefs->force_strided && L.rank <= 1;
    for (int k = 0; contig && L.rank == 1 && k <= rq->nin; k++) contig = L.stride[k][0] == 1;
    if (!contig && L.rank == 0) L.rank = 1, L.shape[0] = 1; /* a scalar through the strided kernel */

    size_t maxsz = brc_dtype_size(y->dtype);
    for (int i = 0; i < rq->nin; i++)
        if (brc_dtype_size(rq->in[i]->dtype) > maxsz) maxsz = brc_dtype_size(rq->in[i]->dtype);
    int vec = prefs->vector_width ? prefs->vector_width : (int)(16 / maxsz);
    if ((size_t)vec * maxsz > 16)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d x %zu bytes exceeds 16 bytes", fam,
                          vec, maxsz);

    /* 32-bit index math where every offset fits. */
    int index64 = n > INT32_MAX;
    for (int k = 0; k <= rq->nin && !index64; k++) {
        int64_t span = 0;
        for (int d = 0; d < L.rank; d++) {
            int64_t s = L.stride[k][d] < 0 ? -L.stride[k][d] : L.stride[k][d];
            span += s * (L.shape[d] - 1);
        }
        index64 = span > INT32_MAX;
    }

    /* Dtypes of the three input slots (unused slots repeat the first). */
    brc_dtype dt[3];
    for (int i = 0; i < 3; i++) dt[i] = rq->in[i < rq->nin ? i : 0]->dtype;

    /* Descriptor (canonical, kernel-determining fields only) and SKU. */
    brc__str desc = {0}, sku = {0};
    if (rq->op == OP_CAST)
        brc__str_addf(&desc, "cast(from=%s,to=%s", brc_dtype_name(dt[0]), brc_dtype_name(y->dtype));
    else if (rq->op == OP_TERNARY && rq->kind == BRC_TERNARY_WHERE)
        brc__str_addf(&desc, "ternary(kind=where,cond=%s,dtype=%s", brc_dtype_name(dt[0]),
                      brc_dtype_name(y->dtype));
    else
        brc__str_addf(&desc, "%s(kind=%s,dtype=%s", fam, rq->info->name, brc_dtype_name(dt[0]));
    if (contig) brc__str_addf(&desc, ",layout=contig");
    else brc__str_addf(&desc, ",layout=strided,rank=%d", (int)L.rank);
    if (index64) brc__str_addf(&desc, ",index=64");
    if (contig && prefs->vector_width) brc__str_addf(&desc, ",vec=%d", vec);
    brc__str_addf(&desc, ")");
    brc__str_addf(&sku, "bespoke:%s<%s,%s->%s,", fam, rq->info ? rq->info->name : "cast", brc_dtype_name(dt[0]),
                  brc_dtype_name(y->dtype));
    if (contig) brc__str_addf(&sku, "contig,vec=%d>@%s", vec, ctx->arch);
    else brc__str_addf(&sku, "strided,rank=%d,index=%d>@%s", (int)L.rank, index64 ? 64 : 32, ctx->arch);

    /* Vectors in flight a thread and operand on the contiguous path (elementwise.cuh AHEAD): 8
     * for the streaming ops (streaming_op), except the activations that cost tens of
     * instructions an element (gelu_erf, gelu_tanh, tanh) in 8-element (16-bit) vectors, where
     * the ring's registers cost more than its loads in flight gain; 2 for the rest. H100, 2^28
     * elements, of 2 / 4 / 8 in flight: f32 unary ops 97.4-98.7% / 98.2-99.2% / 98.9-100.9% of
     * copy, binary f32 99.3-99.5 / 99.8-99.9 / 101.2-101.3. bf16 with the one-instruction f32 ->
     * bf16 conversion (prelude.cuh), same run: relu 97.6 / 98.8 / 98.8, exp 97.5 / 99.0 / 100.1,
     * add 99.2 / 100.2 / 100.8 (0.97 / 0.99 / 0.99x PyTorch), sigmoid 98.2 / 97.7 / 98.4; gelu_erf
     * 95.2 / 89.4 / 88.5 and gelu_tanh 98.9 / 99.6 / 90.1 (registers). The 8-deep ring unrolls
     * the op 8 VEC times, which multiplies the compile time of the costly ops (f32 digamma 316
     * -> 1361 ms, lgamma 230 -> 1127, tan 164 -> 485): they keep 2. BARACUDA_EW_AHEAD (2..8)
     * overrides it for experiments. */
    const bool heavy16 = vec > 4 && rq->op == OP_UNARY &&
                         (rq->kind == BRC_UNARY_GELU_ERF || rq->kind == BRC_UNARY_GELU_TANH ||
                          rq->kind == BRC_UNARY_TANH);
    const int ahead = brc__knob("BARACUDA_EW_AHEAD", 2, EW_UNROLL, streaming_op(rq) && !heavy16 ? 8 : 2);
    /* The specialization source (the op functor), made only on an in-process miss. */
    const char *expr = rq->info ? rq->info->expr : "x";
    bool where = rq->op == OP_TERNARY && rq->kind == BRC_TERNARY_WHERE;
    const functor_spec fs = {{dt[0], dt[1], dt[2], y->dtype}, where, expr};
    char name_expr[128];
    if (contig)
        snprintf(name_expr, sizeof name_expr, "brc::ew_contig<brc_op, %d, %d, %d>", rq->nin, vec, ahead);
    else
        snprintf(name_expr, sizeof name_expr, "brc::ew_strided<brc_op, %d, %d, %s>", rq->nin, (int)L.rank,
                 index64 ? "i64" : "i32");

    static const char *const sources[] = {"prelude.cuh", "elementwise.cuh", NULL};
    brc__kernel_req req = {
        .template_name = "elementwise", .sources = sources, .nspec = 11,
        .spec = {rq->op, rq->kind, rq->nin, dt[0], dt[1], dt[2], y->dtype, contig ? 0 : 1,
                 contig ? vec : L.rank, index64, contig ? ahead : 0},
        .make_snippet = functor_source, .snippet_arg = &fs, .name_expr = name_expr, .descriptor = desc.p};
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    const brc__kernel *k = NULL;
    if ((st = brc__jit_get(ctx, &req, &k))) goto fail;
    if ((st = brc__plan_new(ctx, (brc__family)(BRC__FAM_UNARY + rq->op), &ew_vt, sizeof(ew_impl), &p)))
        goto fail;
    ew_impl *im = p->impl;
    im->nin = rq->nin;
    im->n = n;
    im->contig = contig;
    im->vec = vec;
    im->index64 = index64;
    im->out_size = brc_dtype_size(y->dtype);
    for (int i = 0; i < rq->nin; i++) {
        im->in_size[i] = brc_dtype_size(rq->in[i]->dtype);
        im->alias_ok[i] = same[i] && im->in_size[i] == im->out_size;
    }
    im->alpha = rq->alpha;
    im->beta = rq->beta;
    for (int d = 0; d < L.rank; d++) im->packed[d] = L.shape[d];
    for (int kk = 0; kk < 4; kk++)
        for (int d = 0; d < L.rank; d++) im->packed[L.rank + kk * L.rank + d] = kk <= rq->nin ? L.stride[kk][d] : 0;
    if (ctx->device >= 0 && (st = brc__jit_function(ctx, k, &im->fn))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;

fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* ---- public plan functions ------------------------------------------------------------------------ */

static brc_status check_kind(const kind_info *info, int kind, const char *fam, brc_dtype t) {
    if (!info)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not a %s kind", fam, kind, fam);
    if (!(info->classes & brc__dtype_class(t)))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s(kind=%s): dtype %s is not supported", fam, info->name,
                          brc_dtype_name(t));
    return BRC_STATUS_OK;
}

static brc_status same_dtype(const char *fam, const char *name, brc_dtype want, brc_dtype got,
                             const char *what) {
    if (want == got) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_UNSUPPORTED, "%s(kind=%s): %s has dtype %s, expected %s", fam, name, what,
                      brc_dtype_name(got), brc_dtype_name(want));
}

brc_status brc_unary_plan(brc_context *ctx, const brc_unary_desc *d, const brc_plan_prefs *prefs,
                          brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_unary_plan");
    if (st) return st;
    const kind_info *info = kind_at(unary_kinds, COUNT(unary_kinds), (int)d->kind);
    if ((st = brc__tensor_check(&d->x, "unary: x")) || (st = check_kind(info, (int)d->kind, "unary", d->x.dtype)) ||
        (st = same_dtype("unary", info->name, d->x.dtype, d->y.dtype, "y")))
        return st;
    ew_request rq = {OP_UNARY, (int)d->kind, info, 1, {&d->x}, &d->y, d->alpha, d->beta};
    return plan_common(ctx, &rq, prefs, out);
}

brc_status brc_binary_plan(brc_context *ctx, const brc_binary_desc *d, const brc_plan_prefs *prefs,
                           brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_binary_plan");
    if (st) return st;
    const kind_info *info = kind_at(binary_kinds, COUNT(binary_kinds), (int)d->kind);
    if ((st = brc__tensor_check(&d->a, "binary: a")) ||
        (st = check_kind(info, (int)d->kind, "binary", d->a.dtype)) ||
        (st = same_dtype("binary", info->name, d->a.dtype, d->b.dtype, "b")) ||
        (st = same_dtype("binary", info->name, info->returns_bool ? BRC_BOOL : d->a.dtype, d->y.dtype, "y")))
        return st;
    ew_request rq = {OP_BINARY, (int)d->kind, info, 2, {&d->a, &d->b}, &d->y, 0, 0};
    return plan_common(ctx, &rq, prefs, out);
}

brc_status brc_ternary_plan(brc_context *ctx, const brc_ternary_desc *d, const brc_plan_prefs *prefs,
                            brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_ternary_plan");
    if (st) return st;
    const kind_info *info = kind_at(ternary_kinds, COUNT(ternary_kinds), (int)d->kind);
    bool where = d->kind == BRC_TERNARY_WHERE;
    if ((st = brc__tensor_check(&d->a, "ternary: a")) || (st = brc__tensor_check(&d->b, "ternary: b")) ||
        (st = check_kind(info, (int)d->kind, "ternary", where ? d->b.dtype : d->a.dtype)))
        return st;
    if ((!where && (st = same_dtype("ternary", info->name, d->a.dtype, d->b.dtype, "b"))) ||
        (st = same_dtype("ternary", info->name, d->b.dtype, d->c.dtype, "c")) ||
        (st = same_dtype("ternary", info->name, d->b.dtype, d->y.dtype, "y")))
        return st;
    ew_request rq = {OP_TERNARY, (int)d->kind, info, 3, {&d->a, &d->b, &d->c}, &d->y, d->alpha, 0};
    return plan_common(ctx, &rq, prefs, out);
}

brc_status brc_cast_plan(brc_context *ctx, const brc_cast_desc *d, const brc_plan_prefs *prefs,
                         brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_cast_plan");
    if (st) return st;
    ew_request rq = {OP_CAST, -1, NULL, 1, {&d->x}, &d->y, 0, 0};
    return plan_common(ctx, &rq, prefs, out);
}

/* ---- rebuilding a plan from its descriptor (manifests, `baracuda warm`) ---------------------------- */

/* Operands whose merged layout is exactly what the descriptor says: contiguous, or rank dims
 * of 2 that cannot merge (each stride leaves a gap) — with one huge stride for index=64. */
static void layout_for(brc_tensor_desc *t, brc_dtype dt, bool contig, int rank, bool index64) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    if (contig) {
        int64_t n = index64 ? (int64_t)INT32_MAX + 1 : 4096;
        brc_tensor_desc_contiguous(t, dt, 1, &n);
        return;
    }
    t->rank = rank;
    int64_t stride = 2;
    for (int d = rank - 1; d >= 0; d--) {
        t->shape[d] = 2;
        t->strides[d] = stride;
        stride = stride * 2 + 1;
    }
    if (index64) t->strides[0] = (int64_t)1 << 31;
}

brc_status brc__ew_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int op = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(d->family, family_names[i]) == 0) op = i;
    const kind_info *table = op == OP_UNARY ? unary_kinds : op == OP_BINARY ? binary_kinds : ternary_kinds;
    size_t count = op == OP_UNARY ? COUNT(unary_kinds) : op == OP_BINARY ? COUNT(binary_kinds) : COUNT(ternary_kinds);
    const char *names[BRC_UNARY_COUNT_ + BRC_BINARY_COUNT_];
    for (size_t i = 0; i < count; i++) names[i] = table[i].name;
    static const char *const layouts[] = {"contig", "strided"};
    int kind = -1, layout = 0;
    int64_t rank = 0, index = 32, vec = 0;
    brc_dtype x = BRC_F32, y = BRC_F32, cond = BRC_BOOL;
    brc_status st;
    if (op == OP_CAST) {
        if ((st = brc__desc_dtype(d, "from", &x)) || (st = brc__desc_dtype(d, "to", &y))) return st;
    } else if ((st = brc__desc_pick(d, "kind", names, (int)count, -1, &kind)) ||
               (op == OP_TERNARY && kind == BRC_TERNARY_WHERE && (st = brc__desc_dtype(d, "cond", &cond))) ||
               (st = brc__desc_dtype(d, "dtype", &x))) {
        return st;
    }
    if ((st = brc__desc_pick(d, "layout", layouts, 2, 0, &layout)) ||
        (st = brc__desc_int(d, "rank", layout ? 1 : 0, layout ? BRC_MAX_RANK : 0, layout ? -1 : 0, &rank)) ||
        (st = brc__desc_int(d, "index", 32, 64, 32, &index)) || (st = brc__desc_int(d, "vec", 1, 16, 0, &vec)))
        return st;
    if (layout && rank < 0) {
        const char *unused;
        return brc__desc_need(d, "rank", &unused);
    }
    if (index != 32 && index != 64) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "index must be 32 or 64");
    }
    if (op != OP_CAST) y = op == OP_BINARY && table[kind].returns_bool ? BRC_BOOL : x;
    brc_tensor_desc a, b, o;
    layout_for(&a, op == OP_TERNARY && kind == BRC_TERNARY_WHERE ? cond : x, !layout, (int)rank, index == 64);
    layout_for(&b, x, !layout, (int)rank, index == 64);
    layout_for(&o, y, !layout, (int)rank, index == 64);
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.vector_width = (int)vec;
    switch (op) {
    case OP_UNARY: {
        brc_unary_desc u = {(brc_unary_kind)kind, a, o, 1, 0};
        return brc_unary_plan(ctx, &u, &prefs, out);
    }
    case OP_BINARY: {
        brc_binary_desc bd = {(brc_binary_kind)kind, a, b, o};
        return brc_binary_plan(ctx, &bd, &prefs, out);
    }
    case OP_TERNARY: {
        brc_ternary_desc t = {(brc_ternary_kind)kind, a, b, b, o, 0};
        return brc_ternary_plan(ctx, &t, &prefs, out);
    }
    default: {
        brc_cast_desc c = {a, o};
        return brc_cast_plan(ctx, &c, &prefs, out);
    }
    }
}

/* ---- running ------------------------------------------------------------------------------------- */

static brc_status run_common(const brc_plan *plan, brc__family fam, const char *fn, const void *const in[3],
                             void *y, brc_stream stream) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, fam, fn);
    if (st) return st;
    const ew_impl *im = plan->impl;
    if (im->n == 0) return BRC_STATUS_OK;
    if (!y) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: output pointer is NULL (%s)", fn, plan->descriptor);
    if ((uintptr_t)y % im->out_size)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: output %p not aligned to %zu bytes (%s)", fn, y,
                          im->out_size, plan->descriptor);
    for (int i = 0; i < im->nin; i++) {
        if (!in[i])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: input %d pointer is NULL (%s)", fn, i,
                              plan->descriptor);
        if ((uintptr_t)in[i] % im->in_size[i])
            return brc__error(BRC_STATUS_MISALIGNED, "%s: input %d %p not aligned to %zu bytes (%s)", fn, i,
                              in[i], im->in_size[i], plan->descriptor);
        if (in[i] == y && !im->alias_ok[i])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: output aliases input %d with a different layout or dtype size (%s)", fn, i,
                              plan->descriptor);
    }
    /* Unused input slots repeat input 0 (the kernel never reads them). */
    const void *x0 = in[0], *x1 = im->nin > 1 ? in[1] : in[0], *x2 = im->nin > 2 ? in[2] : in[0];
    int64_t n = im->n;
    double a = im->alpha, b = im->beta;
    int aligned = 1;
    void *args[8] = {&y, &x0, &x1, &x2, &n, &a, &b, NULL};
    unsigned grid;
    if (im->contig) {
        /* The vector path needs every pointer aligned to a whole vector; else the kernel takes
         * its scalar path. */
        const uintptr_t ptrs[4] = {(uintptr_t)y, (uintptr_t)x0, (uintptr_t)x1, (uintptr_t)x2};
        const size_t sizes[4] = {im->out_size, im->in_size[0], im->in_size[im->nin > 1 ? 1 : 0],
                                 im->in_size[im->nin > 2 ? 2 : 0]};
        for (int i = 0; i < 4; i++)
            if (ptrs[i] % ((size_t)im->vec * sizes[i])) aligned = 0;
        args[7] = &aligned;
        int64_t tile = (int64_t)EW_THREADS * im->vec * EW_UNROLL;
        grid = (unsigned)((n + tile - 1) / tile);
    } else {
        args[7] = (void *)im->packed;
        grid = (unsigned)((n + EW_THREADS - 1) / EW_THREADS);
    }
    CUresult r = brc__cu()->cuLaunchKernel(im->fn, grid, 1, 1, EW_THREADS, 1, 1, 0, (CUstream)stream, args, NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc_unary_run(const brc_plan *plan, const void *x, void *y, void *workspace, brc_stream stream) {
    (void)workspace;
    const void *in[3] = {x, NULL, NULL};
    return run_common(plan, BRC__FAM_UNARY, "brc_unary_run", in, y, stream);
}

brc_status brc_binary_run(const brc_plan *plan, const void *a, const void *b, void *y, void *workspace,
                          brc_stream stream) {
    (void)workspace;
    const void *in[3] = {a, b, NULL};
    return run_common(plan, BRC__FAM_BINARY, "brc_binary_run", in, y, stream);
}

brc_status brc_ternary_run(const brc_plan *plan, const void *a, const void *b, const void *c, void *y,
                           void *workspace, brc_stream stream) {
    (void)workspace;
    const void *in[3] = {a, b, c};
    return run_common(plan, BRC__FAM_TERNARY, "brc_ternary_run", in, y, stream);
}

brc_status brc_cast_run(const brc_plan *plan, const void *x, void *y, void *workspace, brc_stream stream) {
    (void)workspace;
    const void *in[3] = {x, NULL, NULL};
    return run_common(plan, BRC__FAM_CAST, "brc_cast_run", in, y, stream);
}
