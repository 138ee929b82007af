/* The search and count family: searchsorted, bucketize, histc, histogram, bincount. Validates the
 * operands, merges the dims of the walk over x, picks the staged or plain search and the
 * privatized or global counting by structure, sizes the workspace, generates the kernels'
 * specialization (kernel_src/search.cuh) and launches them. Semantics: search.h; descriptor keys
 * and algorithms: docs/search.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_SEARCH_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
_Static_assert(NKINDS == BRC_SEARCH_KIND_COUNT_, "BRC_SEARCH_KIND_COUNT_ is out of date");

enum {
    SEARCH_THREADS = 256,
    COUNT_THREADS = 512,
    OTHER_THREADS = 256,
    FINISH_BINS = 32,      /* bins a finish CTA sums (8 groups of parts, finish_main) */
    SPLIT_BYTES = 32768,   /* the staged search's splitters: 8192 (4096 of 8 bytes) */
    PRIV_BYTES = 48 * 1024, /* one CTA's shared histogram(s) */
    ACC_OFF = 256,         /* SRCH_ACC_OFF in search.cuh */
    WS_ALIGN = 256,
};
/* Kernel ops (OP in search.cuh). */
enum { OP_SEARCH, OP_COUNT, OP_FINISH, OP_RANGE, OP_PREP };
/* Walk slots (srch_args.str). */
enum { S_X, S_Y, S_SEQ, S_SORTER, S_W, NSLOTS };
/* Count modes (MODE in search.cuh). */
enum { M_LINEAR, M_EDGES, M_INT };

/* struct brc::srch_args in search.cuh: 8-byte fields only. */
typedef struct srch_args {
    const void *s, *x, *w, *so;
    void *y, *ws;
    int32_t *err;
    int64_t n, nd, K, s_in, so_in, bins, parts, step, nsplit, ys, aligned;
    double lo, hi;
    int64_t shape[8];
    int64_t str[NSLOTS][8];
} srch_args;
_Static_assert(sizeof(srch_args) == (7 + 11 + 2 + 8 + 40) * 8, "srch_args must match brc::srch_args");

/* What determines the kernels: the canonical descriptor is a function of this alone. */
typedef struct srch_spec {
    int kind;
    brc_dtype dt, out, sorter, weight; /* sorter / weight: BRC_DTYPE_COUNT_ when absent */
    int right, staged, priv, repl, autorange, contig;
} srch_spec;

typedef struct srch_unit {
    int op;
    unsigned grid, threads, smem;
    int regs;
    CUfunction fn;
} srch_unit;

typedef struct srch_impl {
    srch_spec spec;
    int nunits, deterministic;
    srch_unit u[4];
    srch_args a;
    bool used[NSLOTS];
} srch_impl;

static const brc__plan_vt srch_vt = {NULL};
#define NONE_DT BRC_DTYPE_COUNT_

static bool is_float(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }
static bool is_int(brc_dtype t) {
    return t == BRC_I8 || t == BRC_U8 || t == BRC_I16 || t == BRC_I32 || t == BRC_I64;
}
static bool is_count(int kind) { return kind >= BRC_SEARCH_HISTC; }

static const char *ctype(brc_dtype t) {
    switch (t) {
    case BRC_F32: return "float";
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    case BRC_I8: return "i8";
    case BRC_U8: return "u8";
    case BRC_I16: return "i16";
    case BRC_I32: return "i32";
    case BRC_I64: return "i64";
    default: return "float";
    }
}
static const char *dname(brc_dtype t) { return t == NONE_DT ? "none" : brc_dtype_name(t); }

/* The weight accumulator: histogram / histc in f64 for f64 else f32; bincount in y's dtype. */
static brc_dtype acc_type(const srch_spec *s) {
    if (s->kind == BRC_SEARCH_BINCOUNT) return s->out;
    return s->dt == BRC_F64 ? BRC_F64 : BRC_F32;
}
static bool weighted(const srch_spec *s) { return s->weight != NONE_DT; }
/* Bytes of one shared / partial bin and of one global accumulator. */
static size_t priv_size(const srch_spec *s) { return weighted(s) ? brc_dtype_size(acc_type(s)) : 4; }
static size_t glob_size(const srch_spec *s) { return weighted(s) ? brc_dtype_size(acc_type(s)) : 8; }

static int spec_deterministic(const srch_spec *s) {
    if (!weighted(s)) return 1;
    return s->kind == BRC_SEARCH_BINCOUNT && !is_float(s->weight) && s->out == BRC_F64;
}

/* ---- descriptor and SKU -------------------------------------------------------------------------- */

static void spec_strings(const srch_spec *s, const char *arch, brc__str *desc, brc__str *sku) {
    const char *kn = kind_names[s->kind];
    brc__str_addf(desc, "search(op=%s,dtype=%s", kn, brc_dtype_name(s->dt));
    brc__str_addf(sku, "bespoke:search<%s,%s", kn, brc_dtype_name(s->dt));
    if (!is_count(s->kind)) {
        brc__str_addf(desc, ",out=%s,right=%d", brc_dtype_name(s->out), s->right);
        if (s->kind == BRC_SEARCH_SEARCHSORTED) brc__str_addf(desc, ",sorter=%s", dname(s->sorter));
        brc__str_addf(desc, ",staged=%d)", s->staged);
        brc__str_addf(sku, "->%s,%s%s%s>@%s", brc_dtype_name(s->out), s->right ? "right" : "left",
                      s->sorter != NONE_DT ? ",sorter" : "", s->staged ? ",staged" : ",plain", arch);
        return;
    }
    if (s->kind == BRC_SEARCH_BINCOUNT) brc__str_addf(desc, ",y=%s", brc_dtype_name(s->out));
    if (s->kind != BRC_SEARCH_HISTC) brc__str_addf(desc, ",weight=%s", dname(s->weight));
    brc__str_addf(desc, ",mode=%s", s->priv ? "priv" : "global");
    if (s->priv) brc__str_addf(desc, ",repl=%d", s->repl);
    if (s->kind == BRC_SEARCH_HISTC) brc__str_addf(desc, ",range=%s", s->autorange ? "data" : "given");
    brc__str_addf(desc, ",contig=%d)", s->contig);
    brc__str_addf(sku, "->%s", brc_dtype_name(s->out));
    if (weighted(s)) brc__str_addf(sku, ",weight=%s", brc_dtype_name(s->weight));
    if (s->priv) brc__str_addf(sku, ",priv,repl=%d", s->repl);
    else brc__str_addf(sku, ",global");
    if (s->autorange) brc__str_addf(sku, ",range=data");
    brc__str_addf(sku, s->contig ? ",vec" : ",strided");
    brc__str_addf(sku, ">%s@%s", spec_deterministic(s) ? "" : "+atomic", arch);
}

/* ---- kernels --------------------------------------------------------------------------------------- */

typedef struct snip_arg {
    const srch_spec *s;
    int op;
    unsigned threads;
} snip_arg;

static void make_snippet(brc__str *out, const void *arg) {
    const snip_arg *sa = arg;
    const srch_spec *s = sa->s;
    bool w = weighted(s);
    const char *at = ctype(acc_type(s));
    brc__str_addf(out,
                  "struct brc_srch {\n  typedef %s T;\n  typedef %s OT;\n  typedef %s ST;\n  typedef %s WT;\n"
                  "  typedef %s AT;\n  typedef %s PT;\n  typedef %s GT;\n  typedef %s SUM;\n"
                  "  enum { OP = %d, RIGHT = %d, SORTER = %d, STAGED = %d, MODE = %d, WEIGHT = %d, PRIV = %d, "
                  "REPL = %d, AUTO = %d, CONTIG = %d };\n};\n"
                  "__global__ void __launch_bounds__(%u)\n"
                  "brc_search_kernel(brc::srch_args a) { brc::srch_main<brc_srch>(a); }\n",
                  ctype(s->dt), ctype(s->out), s->sorter == BRC_I32 ? "i32" : "i64", w ? ctype(s->weight) : "float",
                  w ? at : "float", w ? at : "u32", w ? at : "u64", w ? "double" : "u64", sa->op, s->right,
                  s->sorter != NONE_DT, s->staged,
                  s->kind == BRC_SEARCH_HISTC ? M_LINEAR : s->kind == BRC_SEARCH_HISTOGRAM ? M_EDGES : M_INT, w,
                  s->priv, s->repl > 0 ? s->repl : 1, s->autorange, s->contig, sa->threads);
}

/* CTAs of u resident on one SM at once (64K registers, 2048 threads, 227 KiB of shared memory
 * with 1 KiB reserved a CTA, at most 32 CTAs): the H100 / A100 limits. */
static int64_t resident(const srch_unit *u) {
    int64_t warps = u->threads / 32, regs = u->regs > 0 ? u->regs : 64;
    int64_t per_warp = (regs * 32 + 255) / 256 * 256;
    int64_t n = 65536 / (warps * per_warp), t = 2048 / u->threads;
    if (t < n) n = t;
    if (u->smem) {
        int64_t m = (227 * 1024) / ((int64_t)u->smem + 1024);
        if (m < n) n = m;
    }
    if (n > 32) n = 32;
    return n < 1 ? 1 : n;
}

static brc_status get_kernel(brc_context *ctx, const srch_spec *s, srch_unit *u, const char *desc) {
    static const char *const sources[] = {"prelude.cuh", "search.cuh", NULL};
    snip_arg sa = {s, u->op, u->threads};
    brc__kernel_req req = {.template_name = "search", .sources = sources, .nspec = 14,
                           .spec = {u->op, s->kind, s->dt, s->out, s->sorter, s->weight, s->right, s->staged, s->priv,
                                    s->repl, s->autorange, (int64_t)u->threads, s->contig, 0},
                           .make_snippet = make_snippet, .snippet_arg = &sa, .name_expr = "brc_search_kernel",
                           .descriptor = desc};
    const brc__kernel *k = NULL;
    brc_status st = brc__jit_get(ctx, &req, &k);
    if (!st) u->regs = k->regs;
    if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, &u->fn);
    return st;
}

/* The units a spec launches, in order. */
static int spec_units(const srch_spec *s, srch_unit *u) {
    int n = 0;
    if (!is_count(s->kind)) {
        u[n++] = (srch_unit){OP_SEARCH, 0, SEARCH_THREADS, 0, 0, NULL};
        return n;
    }
    if (!s->priv || s->autorange) u[n++] = (srch_unit){OP_PREP, 0, OTHER_THREADS, 0, 0, NULL};
    if (s->autorange) u[n++] = (srch_unit){OP_RANGE, 0, OTHER_THREADS, 0, 0, NULL};
    u[n++] = (srch_unit){OP_COUNT, 0, COUNT_THREADS, 0, 0, NULL};
    u[n++] = (srch_unit){OP_FINISH, 0, OTHER_THREADS, 0, 0, NULL};
    return n;
}

/* ---- the walk ------------------------------------------------------------------------------------ */

typedef struct walk {
    int rank;
    int64_t shape[BRC_MAX_RANK];
    int64_t str[NSLOTS][BRC_MAX_RANK];
    bool use[NSLOTS];
} walk;

static void merge(const walk *w, srch_args *a) {
    int nd = 0;
    a->n = 1;
    for (int d = 0; d < w->rank; d++) {
        int64_t sz = w->shape[d];
        a->n *= sz;
        if (sz == 1) continue;
        bool m = nd > 0;
        for (int o = 0; m && o < NSLOTS; o++) {
            int64_t prod;
            if (w->use[o] && (__builtin_mul_overflow(w->str[o][d], sz, &prod) || a->str[o][nd - 1] != prod)) m = false;
        }
        int at = m ? nd - 1 : nd;
        if (m) a->shape[at] *= sz;
        else a->shape[at] = sz, nd++;
        for (int o = 0; o < NSLOTS; o++) a->str[o][at] = w->use[o] ? w->str[o][d] : 0;
    }
    if (nd == 0) { /* a scalar (or all dims 1): one element at offset 0 */
        a->shape[0] = 1;
        for (int o = 0; o < NSLOTS; o++) a->str[o][0] = 0;
        nd = 1;
    }
    a->nd = nd;
}

/* ---- validation ---------------------------------------------------------------------------------- */

static brc_status bad(const char *fn, const char *kn, const char *what) {
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s", fn, kn, what);
}

static brc_status same_shape(const brc_tensor_desc *a, const brc_tensor_desc *b, const char *fn, const char *kn,
                             const char *an, const char *bn) {
    bool ok = a->rank == b->rank;
    for (int d = 0; ok && d < a->rank; d++) ok = a->shape[d] == b->shape[d];
    if (!ok) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s and %s differ in shape", fn, kn, an, bn);
    return BRC_STATUS_OK;
}

static brc_status flag01(int v, const char *fn, const char *kn, const char *name) {
    if (v != 0 && v != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s = %d must be 0 or 1", fn, kn, name, v);
    return BRC_STATUS_OK;
}

/* ---- planning ------------------------------------------------------------------------------------- */

/* Fills the launch shape of every unit and the workspace; compiles the kernels; publishes. */
static brc_status finish(brc_context *ctx, srch_impl *tmpl, brc_plan **out) {
    const srch_spec *s = &tmpl->spec;
    brc__str desc = {0}, sku = {0};
    srch_args *a = &tmpl->a;
    spec_strings(s, ctx->arch, &desc, &sku);
    brc_plan *p = NULL;
    brc_status st;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_search_plan: out of memory");
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_SEARCH, &srch_vt, sizeof(srch_impl), &p))) goto fail;
    srch_impl *im = p->impl;
    *im = *tmpl;
    im->deterministic = spec_deterministic(s);
    im->nunits = spec_units(s, im->u);
    int64_t sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    /* Shared memory first (it decides residency), then the kernels (their registers), then the
     * grids: as many CTAs as stay resident at once (one wave), fewer for small problems. */
    int64_t count_grid = 1;
    for (int i = 0; i < im->nunits; i++) {
        srch_unit *u = &im->u[i];
        if (u->op == OP_SEARCH && s->staged)
            u->smem = (unsigned)(a->nsplit * (int64_t)(s->dt == BRC_F64 || s->dt == BRC_I64 ? 8 : 4));
        if (u->op == OP_COUNT && s->priv) u->smem = (unsigned)((size_t)a->bins * (size_t)s->repl * priv_size(s));
        if ((st = get_kernel(ctx, s, u, desc.p))) goto fail;
        int64_t g = 1, per_sm = resident(u);
        switch (u->op) {
        case OP_SEARCH:
            g = s->staged ? brc__cdiv(a->n, SEARCH_THREADS * 4) : brc__cdiv(a->n, SEARCH_THREADS);
            if (g > sms * per_sm) g = sms * per_sm;
            break;
        case OP_COUNT:
            g = brc__cdiv(a->n, COUNT_THREADS * 8);
            if (g > sms * per_sm) g = sms * per_sm;
            if (g < 1) g = 1;
            count_grid = g;
            break;
        case OP_RANGE: g = brc__cdiv(a->n, OTHER_THREADS * 8); break;
        case OP_PREP: g = brc__cdiv(a->bins, OTHER_THREADS); break;
        case OP_FINISH: g = brc__cdiv(a->bins, FINISH_BINS); break;
        default: break;
        }
        if ((u->op == OP_RANGE || u->op == OP_PREP || u->op == OP_FINISH) && g > sms * 8) g = sms * 8;
        u->grid = (unsigned)(g < 1 ? 1 : g);
    }
    if (is_count(s->kind)) {
        im->a.parts = s->priv ? count_grid : 1;
        size_t ws = ACC_OFF + (size_t)im->a.parts * (size_t)a->bins * (s->priv ? priv_size(s) : glob_size(s));
        p->workspace = (ws + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    }
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* The privatized layout when the bins fit: as many copies (a power of two up to the warps of a
 * CTA) as the shared-memory budget allows. */
static void choose_priv(srch_spec *s, int64_t bins, bool force_global) {
    size_t one = (size_t)bins * priv_size(s);
    s->priv = !force_global && one <= PRIV_BYTES;
    s->repl = 0;
    if (!s->priv) return;
    int r = COUNT_THREADS / 32;
    while (r > 1 && (size_t)r * one > PRIV_BYTES) r /= 2;
    s->repl = r;
}

static brc_status plan_search(const brc_search_desc *d, const brc_plan_prefs *prefs,
                              srch_impl *im, const char *fn, const char *kn) {
    brc_status st;
    int kind = (int)d->kind;
    const brc_tensor_desc *sq = &d->sorted, *x = &d->x, *y = &d->y, *so = &d->sorter;
    bool use_sorter = kind == BRC_SEARCH_SEARCHSORTED && d->use_sorter;
    if ((st = flag01(d->right, fn, kn, "right")) ||
        (kind == BRC_SEARCH_SEARCHSORTED && (st = flag01(d->use_sorter, fn, kn, "use_sorter"))))
        return st;
    if ((st = brc__operand_check(sq, fn, kn, kind == BRC_SEARCH_BUCKETIZE ? "sorted (boundaries)" : "sorted", false)) ||
        (st = brc__operand_check(x, fn, kn, "x", false)) || (st = brc__operand_check(y, fn, kn, "y", true)))
        return st;
    if (sq->rank < 1) return bad(fn, kn, "sorted has rank 0 (a sequence has rank >= 1)");
    if (kind == BRC_SEARCH_BUCKETIZE && sq->rank != 1) return bad(fn, kn, "boundaries must have rank 1");
    bool shared = sq->rank == 1;
    int r = x->rank;
    if (!shared) {
        if (r != sq->rank)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has rank %d, an N-D sorted of rank %d needs the same",
                              fn, kn, r, sq->rank);
        for (int dd = 0; dd < r - 1; dd++)
            if (x->shape[dd] != sq->shape[dd])
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "%s: %s: x.shape[%d] = %lld differs from sorted.shape[%d] = %lld (leading dims)", fn,
                                  kn, dd, (long long)x->shape[dd], dd, (long long)sq->shape[dd]);
    }
    if ((st = same_shape(x, y, fn, kn, "x", "y"))) return st;
    if (x->dtype != sq->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has dtype %s, sorted has %s", fn, kn,
                          brc_dtype_name(x->dtype), brc_dtype_name(sq->dtype));
    if (!is_float(x->dtype) && !is_int(x->dtype))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s (f32 f64 f16 bf16 i8 u8 i16 i32 i64)", fn, kn,
                          brc_dtype_name(x->dtype));
    if (y->dtype != BRC_I64 && y->dtype != BRC_I32)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has dtype %s (i64, or i32 for out_int32)", fn, kn,
                          brc_dtype_name(y->dtype));
    int64_t K = sq->shape[sq->rank - 1];
    if (use_sorter) {
        if ((st = brc__operand_check(so, fn, kn, "sorter", false)) || (st = same_shape(so, sq, fn, kn, "sorter", "sorted")))
            return st;
        if (so->dtype != BRC_I64 && so->dtype != BRC_I32)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: sorter has dtype %s (i32 or i64)", fn, kn,
                              brc_dtype_name(so->dtype));
    }
    srch_spec *s = &im->spec;
    s->dt = x->dtype, s->out = y->dtype, s->sorter = use_sorter ? so->dtype : NONE_DT;
    s->right = d->right;
    walk w;
    memset(&w, 0, sizeof w);
    w.rank = r;
    w.use[S_X] = w.use[S_Y] = true;
    w.use[S_SEQ] = !shared;
    w.use[S_SORTER] = use_sorter && !shared;
    for (int dd = 0; dd < r; dd++) {
        w.shape[dd] = x->shape[dd];
        w.str[S_X][dd] = x->strides[dd];
        w.str[S_Y][dd] = y->strides[dd];
        bool lead = !shared && dd < r - 1;
        w.str[S_SEQ][dd] = lead ? sq->strides[dd] : 0;
        w.str[S_SORTER][dd] = lead && use_sorter ? so->strides[dd] : 0;
    }
    merge(&w, &im->a);
    im->used[S_SEQ] = true;
    im->used[S_X] = im->used[S_Y] = true;
    im->used[S_SORTER] = use_sorter;
    im->a.K = K;
    im->a.s_in = sq->strides[sq->rank - 1];
    im->a.so_in = use_sorter ? so->strides[so->rank - 1] : 0;
    int64_t max_split = SPLIT_BYTES / (x->dtype == BRC_F64 || x->dtype == BRC_I64 ? 8 : 4);
    int64_t nsplit = K < max_split ? K : max_split;
    s->staged = shared && !use_sorter && !prefs->force_strided && K >= 1 && im->a.n >= 4 * nsplit;
    if (s->staged) {
        im->a.step = brc__cdiv(K, max_split);
        im->a.nsplit = brc__cdiv(K, im->a.step);
    }
    return BRC_STATUS_OK;
}

static brc_status plan_count(const brc_search_desc *d, const brc_plan_prefs *prefs, srch_impl *im, const char *fn,
                             const char *kn) {
    brc_status st;
    int kind = (int)d->kind;
    const brc_tensor_desc *x = &d->x, *y = &d->y, *wt = &d->weight, *e = &d->sorted;
    bool use_w = kind != BRC_SEARCH_HISTC && d->use_weight;
    if (kind != BRC_SEARCH_HISTC && (st = flag01(d->use_weight, fn, kn, "use_weight"))) return st;
    if ((st = brc__operand_check(x, fn, kn, "x", false)) || (st = brc__operand_check(y, fn, kn, "y", true))) return st;
    if (y->rank != 1) return bad(fn, kn, "y must have rank 1");
    if (use_w && ((st = brc__operand_check(wt, fn, kn, "weight", false)) || (st = same_shape(wt, x, fn, kn, "weight", "x"))))
        return st;
    srch_spec *s = &im->spec;
    s->dt = x->dtype, s->out = y->dtype, s->sorter = NONE_DT, s->weight = use_w ? wt->dtype : NONE_DT;
    int64_t bins = y->shape[0];
    if (kind == BRC_SEARCH_BINCOUNT) {
        if (x->rank != 1) return bad(fn, kn, "x must have rank 1");
        if (!is_int(x->dtype))
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: x has dtype %s (i8 u8 i16 i32 i64)", fn, kn,
                              brc_dtype_name(x->dtype));
        if (bins > INT32_MAX)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has %lld bins (at most 2^31 - 1)", fn, kn,
                              (long long)bins);
        if (use_w) {
            if (!is_float(wt->dtype) && wt->dtype != BRC_I32 && wt->dtype != BRC_I64)
                return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: weight has dtype %s (f32 f64 f16 bf16 i32 i64)", fn,
                                  kn, brc_dtype_name(wt->dtype));
            if (y->dtype != BRC_F32 && y->dtype != BRC_F64)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has dtype %s (f32 or f64 with a weight)", fn,
                                  kn, brc_dtype_name(y->dtype));
        } else if (y->dtype != BRC_I64 && y->dtype != BRC_I32) {
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has dtype %s (i64 or i32 without a weight)", fn,
                              kn, brc_dtype_name(y->dtype));
        }
    } else {
        if (!is_float(x->dtype))
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: x has dtype %s (f32 f64 f16 bf16)", fn, kn,
                              brc_dtype_name(x->dtype));
        if (y->dtype != x->dtype || (use_w && wt->dtype != x->dtype))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y%s must have x's dtype %s", fn, kn,
                              use_w ? " and weight" : "", brc_dtype_name(x->dtype));
    }
    if (kind == BRC_SEARCH_HISTC) {
        if (d->bins < 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: bins = %lld must be >= 1", fn, kn,
                              (long long)d->bins);
        if (bins != d->bins)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y.shape[0] = %lld, bins = %lld expected", fn, kn,
                              (long long)bins, (long long)d->bins);
        if (!isfinite(d->min) || !isfinite(d->max) || d->min > d->max)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: min = %g, max = %g (finite, min <= max)", fn, kn,
                              d->min, d->max);
        if (x->dtype != BRC_F64 && (!isfinite((float)d->min) || !isfinite((float)d->max)))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: min = %g, max = %g overflow f32", fn, kn, d->min,
                              d->max);
        s->autorange = d->min == d->max;
        im->a.lo = d->min, im->a.hi = d->max;
    }
    if (kind == BRC_SEARCH_HISTOGRAM) {
        if ((st = brc__operand_check(e, fn, kn, "sorted (edges)", false))) return st;
        if (e->rank != 1 || e->shape[0] < 2) return bad(fn, kn, "the edges (sorted) must have rank 1 and >= 2 elements");
        if (e->dtype != x->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: the edges have dtype %s, x has %s", fn, kn,
                              brc_dtype_name(e->dtype), brc_dtype_name(x->dtype));
        if (bins != e->shape[0] - 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y.shape[0] = %lld, %lld expected (edges - 1)", fn,
                              kn, (long long)bins, (long long)(e->shape[0] - 1));
        im->a.K = e->shape[0];
        im->a.s_in = e->strides[0];
        im->used[S_SEQ] = true;
    }
    choose_priv(s, bins, prefs->force_strided != 0);
    walk w;
    memset(&w, 0, sizeof w);
    w.rank = x->rank;
    w.use[S_X] = true;
    w.use[S_W] = use_w;
    for (int dd = 0; dd < x->rank; dd++) {
        w.shape[dd] = x->shape[dd];
        w.str[S_X][dd] = x->strides[dd];
        w.str[S_W][dd] = use_w ? wt->strides[dd] : 0;
    }
    merge(&w, &im->a);
    s->contig = !prefs->force_strided && im->a.nd == 1 && im->a.str[S_X][0] == 1 && (!use_w || im->a.str[S_W][0] == 1);
    im->used[S_X] = im->used[S_Y] = true;
    im->used[S_W] = use_w;
    im->a.bins = bins;
    im->a.ys = y->strides[0];
    return BRC_STATUS_OK;
}

brc_status brc_search_plan(brc_context *ctx, const brc_search_desc *d, const brc_plan_prefs *prefs_in,
                           brc_plan **out) {
    static const char *fn = "brc_search_plan";
    brc_status st = brc__plan_start(ctx, d, out, fn);
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not a search kind", fn, kind);
    const char *kn = kind_names[kind];
    srch_impl im;
    memset(&im, 0, sizeof im);
    im.spec.kind = kind;
    im.spec.sorter = im.spec.weight = NONE_DT;
    if (is_count(kind)) st = plan_count(d, prefs, &im, fn, kn);
    else st = plan_search(d, prefs, &im, fn, kn);
    if (st) return st;
    return finish(ctx, &im, out);
}

int brc_search_plan_deterministic(const brc_plan *plan) {
    if (!plan || plan->family != BRC__FAM_SEARCH) return -1;
    return ((const srch_impl *)plan->impl)->deterministic;
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------ */

static brc_status desc_dtype_or_none(brc__desc *d, const char *key, brc_dtype *out) {
    const char *v = brc__desc_get(d, key);
    *out = NONE_DT;
    if (!v || strcmp(v, "none") == 0) return BRC_STATUS_OK;
    return brc__desc_dtype(d, key, out);
}

static brc_status desc_fail(brc__desc *d, brc_status st, const char *what) {
    d->err_col = d->family_col;
    return brc__error(st, "%s", what);
}

/* The descriptor names the kernels exactly: the plan is made from the spec itself, with an empty
 * problem (it compiles and caches the kernels and runs nothing). */
brc_status brc__search_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const modes[] = {"priv", "global"}, *const ranges[] = {"given", "data"};
    int kind = 0, mode = 0, range = 0;
    int64_t right = 0, staged = 0, repl = 1, contig = 0;
    brc_status st;
    srch_impl im;
    memset(&im, 0, sizeof im);
    srch_spec *s = &im.spec;
    s->sorter = s->weight = NONE_DT;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &s->dt)))
        return st;
    s->kind = kind;
    if (!is_count(kind)) {
        if ((st = brc__desc_dtype(d, "out", &s->out)) || (st = brc__desc_int(d, "right", 0, 1, 0, &right)) ||
            (kind == BRC_SEARCH_SEARCHSORTED && (st = desc_dtype_or_none(d, "sorter", &s->sorter))) ||
            (st = brc__desc_int(d, "staged", 0, 1, 0, &staged)))
            return st;
        if (!is_float(s->dt) && !is_int(s->dt)) return desc_fail(d, BRC_STATUS_UNSUPPORTED, "dtype is not searchable");
        if (s->out != BRC_I32 && s->out != BRC_I64) return desc_fail(d, BRC_STATUS_INVALID_ARGUMENT, "out: i32 or i64");
        if (s->sorter != NONE_DT && s->sorter != BRC_I32 && s->sorter != BRC_I64)
            return desc_fail(d, BRC_STATUS_INVALID_ARGUMENT, "sorter: none, i32 or i64");
        if (staged && s->sorter != NONE_DT)
            return desc_fail(d, BRC_STATUS_INVALID_ARGUMENT, "a staged search has no sorter");
        s->right = (int)right, s->staged = (int)staged;
        if (staged) im.a.step = 1, im.a.nsplit = 1;
    } else {
        s->out = s->dt;
        if (kind == BRC_SEARCH_BINCOUNT && (st = brc__desc_dtype(d, "y", &s->out))) return st;
        if (kind != BRC_SEARCH_HISTC && (st = desc_dtype_or_none(d, "weight", &s->weight))) return st;
        if ((st = brc__desc_pick(d, "mode", modes, 2, -1, &mode))) return st;
        if (mode == 0 && (st = brc__desc_int(d, "repl", 1, COUNT_THREADS / 32, 1, &repl))) return st;
        if (kind == BRC_SEARCH_HISTC && (st = brc__desc_pick(d, "range", ranges, 2, 0, &range))) return st;
        if ((st = brc__desc_int(d, "contig", 0, 1, 0, &contig))) return st;
        if (repl & (repl - 1)) return desc_fail(d, BRC_STATUS_INVALID_ARGUMENT, "repl must be a power of two");
        bool ok = kind == BRC_SEARCH_BINCOUNT
                      ? is_int(s->dt) && (s->weight == NONE_DT ? (s->out == BRC_I32 || s->out == BRC_I64)
                                                               : ((s->out == BRC_F32 || s->out == BRC_F64) &&
                                                                  (is_float(s->weight) || s->weight == BRC_I32 ||
                                                                   s->weight == BRC_I64)))
                      : is_float(s->dt) && (s->weight == NONE_DT || s->weight == s->dt);
        if (!ok) return desc_fail(d, BRC_STATUS_UNSUPPORTED, "these dtypes are not supported by the op");
        s->priv = mode == 0, s->repl = mode == 0 ? (int)repl : 0, s->autorange = range, s->contig = (int)contig;
        im.a.bins = 0;
    }
    return finish(ctx, &im, out);
}

/* ---- running ----------------------------------------------------------------------------------------- */

brc_status brc_search_run(const brc_plan *plan, const void *sorted, const void *x, const void *weight,
                          const void *sorter, void *y, void *workspace, size_t workspace_size, int32_t *err,
                          brc_stream stream) {
    static const char *fn = "brc_search_run";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_SEARCH, fn);
    if (st) return st;
    const srch_impl *im = plan->impl;
    const void *ptr[NSLOTS] = {x, y, sorted, sorter, weight};
    static const char *const names[NSLOTS] = {"x", "y", "sorted", "sorter", "weight"};
    for (int o = 0; o < NSLOTS; o++)
        if (im->used[o] && !ptr[o])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (%s)", fn, names[o], plan->descriptor);
    for (int o = 0; o < NSLOTS; o++)
        if (o != S_Y && im->used[o] && ptr[o] == y)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y and %s are one buffer (%s)", fn, names[o],
                              plan->descriptor);
    if (err && (uintptr_t)err % 4)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: err %p is not aligned to 4 bytes (%s)", fn, (void *)err,
                          plan->descriptor);
    if (plan->workspace) {
        if (!workspace)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: workspace is NULL (%zu bytes needed) (%s)", fn,
                              plan->workspace, plan->descriptor);
        if (workspace_size < plan->workspace)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: workspace of %zu bytes is smaller than the %zu required (%s)", fn, workspace_size,
                              plan->workspace, plan->descriptor);
        if ((uintptr_t)workspace % WS_ALIGN)
            return brc__error(BRC_STATUS_MISALIGNED, "%s: workspace %p is not aligned to %d bytes (%s)", fn, workspace,
                              WS_ALIGN, plan->descriptor);
    }
    srch_args a = im->a;
    a.s = sorted, a.x = x, a.w = weight, a.so = sorter, a.y = y, a.ws = workspace, a.err = err;
    a.aligned = (uintptr_t)x % 16 == 0 && (!im->used[S_W] || (uintptr_t)weight % 16 == 0);
    if (!is_count(im->spec.kind) && a.n == 0) return BRC_STATUS_OK;
    if (is_count(im->spec.kind) && a.bins == 0 && im->spec.kind != BRC_SEARCH_BINCOUNT) return BRC_STATUS_OK;
    for (int i = 0; i < im->nunits; i++) {
        const srch_unit *u = &im->u[i];
        if (u->op == OP_RANGE && a.n == 0) continue;
        void *args[1] = {&a};
        CUresult r = brc__cu()->cuLaunchKernel(u->fn, u->grid, 1, 1, u->threads, 1, 1, u->smem, (CUstream)stream,
                                               args, NULL);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    }
    return BRC_STATUS_OK;
}
