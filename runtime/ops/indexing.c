/* The indexing family: gather, index_select, embedding (and its backward), scatter, index_add,
 * masked_fill, one_hot. Validates the operands, maps each op onto the P / Q / K walk of
 * kernel_src/indexing.cuh (an iteration space with a plain, an indexed and an index operand),
 * merges dims, picks the rows or generic layout by structure, generates the kernels'
 * specialization and launches them. Semantics: indexing.h; descriptor keys: docs/indexing.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_INDEX_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
_Static_assert(NKINDS == BRC_INDEX_KIND_COUNT_, "BRC_INDEX_KIND_COUNT_ is out of date");
static const char *const reduce_names[] = {
#define X(N, n, num) #n,
    BRC_INDEX_REDUCES(X)
#undef X
};
#define NREDUCES ((int)(sizeof reduce_names / sizeof reduce_names[0]))

enum { THREADS = 256, EB_ROWS = 64 /* emb_bwd_det in indexing.cuh */ };
/* Kernel ops (OP in indexing.cuh). */
enum { OP_GATHER, OP_STORE, OP_REDUCE, OP_MASKED_FILL, OP_ONE_HOT, OP_ZERO, OP_EMB_DET };
/* Run-time pointers a unit's P / Q / K come from. */
enum { PTR_NONE = -1, PTR_X, PTR_INDEX, PTR_SRC, PTR_Y };

/* struct brc::ix_args in indexing.cuh: 8-byte fields only. */
typedef struct ix_args {
    void *pp, *pq;
    const void *pk;
    int32_t *err;
    int64_t n, nd, bound, qi, skip, rows, row, aligned;
    double value;
    int64_t shape[8];
    int64_t str[3][8];
} ix_args;
_Static_assert(sizeof(ix_args) == (4 + 8 + 1 + 8 + 24) * 8, "ix_args must match brc::ix_args");

/* What determines the kernels: the canonical descriptor is a function of this alone. */
typedef struct ix_spec {
    int kind, reduce, atomic;
    brc_dtype dt, it;
    int rows, vec, tpr, ix64; /* the layout of the main unit (not for the deterministic backward) */
} ix_spec;

/* One kernel launch. */
typedef struct ix_unit {
    int op, red, rows, vec, tpr, ix64;
    int src_p, src_q, src_k; /* PTR_* */
    bool vec_ok;             /* OP_EMB_DET: dy's columns are contiguous and its row stride a multiple of vec */
    ix_args a;
    unsigned grid;
    CUfunction fn;
} ix_unit;

typedef struct ix_impl {
    int kind, nunits, deterministic;
    size_t esize;
    ix_unit u[2];
    bool y_is_x_ok; /* masked_fill: x and y have the same strides */
} ix_impl;

static const brc__plan_vt ix_vt = {NULL};
static unsigned grid_override;

void brc__index_grid_override(unsigned grid) { grid_override = grid; }

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int pow2ceil(int64_t n) {
    int p = 1;
    while (p < n && p < (1 << 30)) p <<= 1;
    return p;
}

static const char *real_type(brc_dtype t) {
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
static const char *bits_type(size_t size) {
    return size == 1 ? "u8" : size == 2 ? "i16" : size == 4 ? "u32" : "i64"; /* types io<> knows */
}
static bool is_float(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }

/* ---- the spec: descriptor, SKU, determinism ------------------------------------------------------- */

static int spec_deterministic(const ix_spec *s) {
    switch (s->kind) {
    case BRC_INDEX_SCATTER:
        if (s->reduce == BRC_INDEX_REDUCE_NONE) return 0;
        if (s->reduce == BRC_INDEX_REDUCE_AMAX || s->reduce == BRC_INDEX_REDUCE_AMIN) return 1;
        return !is_float(s->dt);
    case BRC_INDEX_INDEX_ADD: return !is_float(s->dt);
    case BRC_INDEX_EMBEDDING_BACKWARD: return !s->atomic;
    default: return 1;
    }
}

static bool has_index_dtype(int kind) { return kind != BRC_INDEX_MASKED_FILL; }
static bool det_backward(const ix_spec *s) { return s->kind == BRC_INDEX_EMBEDDING_BACKWARD && !s->atomic; }
/* The element count of a thread's vector in the deterministic backward (its accumulators). */
static int det_vec(brc_dtype dt) { return (int)(16 / brc_dtype_size(dt)); }

static void spec_strings(const ix_spec *s, const char *arch, brc__str *desc, brc__str *sku) {
    const char *kn = kind_names[s->kind], *dn = brc_dtype_name(s->dt), *in = brc_dtype_name(s->it);
    brc__str_addf(desc, "index(op=%s,dtype=%s", kn, dn);
    brc__str_addf(sku, "bespoke:index<%s,%s", kn, dn);
    if (has_index_dtype(s->kind)) {
        brc__str_addf(desc, ",index=%s", in);
        brc__str_addf(sku, ",%s", in);
    }
    if (s->kind == BRC_INDEX_SCATTER) {
        brc__str_addf(desc, ",reduce=%s", reduce_names[s->reduce]);
        brc__str_addf(sku, ",%s", reduce_names[s->reduce]);
    }
    if (s->kind == BRC_INDEX_EMBEDDING_BACKWARD) brc__str_addf(desc, ",atomic=%d", s->atomic);
    if (det_backward(s)) {
        brc__str_addf(desc, ")");
        brc__str_addf(sku, ",owner,rows=%d,vec=%d>@%s", EB_ROWS, det_vec(s->dt), arch);
        return;
    }
    if (s->rows) {
        brc__str_addf(desc, ",layout=rows,vec=%d,tpr=%d)", s->vec, s->tpr);
        brc__str_addf(sku, ",rows,vec=%d,tpr=%d", s->vec, s->tpr);
    } else {
        brc__str_addf(desc, ",layout=generic,ix=%d)", s->ix64 ? 64 : 32);
        brc__str_addf(sku, ",generic,ix=%d", s->ix64 ? 64 : 32);
    }
    brc__str_addf(sku, ">%s@%s", spec_deterministic(s) ? "" : "+atomic", arch);
}

/* ---- kernels ---------------------------------------------------------------------------------------- */

typedef struct snip_arg {
    const ix_unit *u;
    brc_dtype dt, it;
} snip_arg;

static bool is_copy(int op) { return op == OP_GATHER || op == OP_STORE || op == OP_ZERO; }

static void make_snippet(brc__str *s, const void *arg) {
    const snip_arg *sa = arg;
    const ix_unit *u = sa->u;
    const char *t = is_copy(u->op) ? bits_type(brc_dtype_size(sa->dt)) : real_type(sa->dt);
    const char *it = u->op == OP_MASKED_FILL ? "u8" : u->op == OP_ZERO ? "i64" : real_type(sa->it);
    brc__str_addf(s,
                  "struct brc_ix {\n  typedef %s T;\n  typedef %s IT;\n  typedef %s I;\n"
                  "  enum { OP = %d, RED = %d, ROWS = %d, VEC = %d, TPR = %d };\n};\n"
                  "__global__ void __launch_bounds__(%d)\n"
                  "brc_index_kernel(brc::ix_args a) { brc::index_main<brc_ix>(a); }\n",
                  t, it, u->ix64 ? "i64" : "i32", u->op, u->red, u->rows, u->vec, u->tpr, THREADS);
}

static brc_status get_kernel(brc_context *ctx, ix_unit *u, brc_dtype dt, brc_dtype it, const char *desc) {
    static const char *const sources[] = {"prelude.cuh", "indexing.cuh", NULL};
    int64_t tcode = is_copy(u->op) ? 100 + (int64_t)brc_dtype_size(dt) : (int64_t)dt;
    int64_t icode = u->op == OP_MASKED_FILL || u->op == OP_ZERO ? -1 : (int64_t)it;
    snip_arg sa = {u, dt, it};
    brc__kernel_req req = {.template_name = "index", .sources = sources, .nspec = 8,
                           .spec = {u->op, tcode, icode, u->red, u->rows, u->vec, u->tpr, u->ix64},
                           .make_snippet = make_snippet, .snippet_arg = &sa, .name_expr = "brc_index_kernel",
                           .descriptor = desc};
    const brc__kernel *k = NULL;
    brc_status st = brc__jit_get(ctx, &req, &k);
    if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, &u->fn);
    return st;
}

/* ---- the walk: iteration space and the strides of P, Q, K ---------------------------------------- */

typedef struct walk {
    int rank;
    int64_t shape[BRC_MAX_RANK];
    int64_t str[3][BRC_MAX_RANK]; /* P, Q, K */
    bool use[3];
    bool keep_last; /* one_hot: the innermost dim stays its own (its coordinate is the class) */
} walk;

/* Merges the walk's dims into u->a (shape, strides, nd, n). */
static void merge(const walk *w, ix_unit *u) {
    ix_args *a = &u->a;
    int nd = 0;
    a->n = 1;
    for (int d = 0; d < w->rank; d++) {
        int64_t sz = w->shape[d];
        a->n *= sz;
        bool last = w->keep_last && d == w->rank - 1;
        if (sz == 1 && !last) continue;
        bool m = nd > 0 && !last;
        for (int o = 0; m && o < 3; o++) {
            int64_t prod;
            if (w->use[o] && (__builtin_mul_overflow(w->str[o][d], sz, &prod) || a->str[o][nd - 1] != prod)) m = false;
        }
        if (m) {
            a->shape[nd - 1] *= sz;
            for (int o = 0; o < 3; o++) a->str[o][nd - 1] = w->use[o] ? w->str[o][d] : 0;
        } else {
            a->shape[nd] = sz;
            for (int o = 0; o < 3; o++) a->str[o][nd] = w->use[o] ? w->str[o][d] : 0;
            nd++;
        }
    }
    a->nd = nd;
}

/* Largest |offset| an operand reaches over the merged space. */
static int64_t extent(const ix_args *a, int o) {
    int64_t e = 0;
    for (int d = 0; d < a->nd; d++) {
        int64_t s = a->str[o][d] < 0 ? -a->str[o][d] : a->str[o][d];
        e += s * (a->shape[d] - 1);
    }
    return e;
}

/* Picks the layout of a unit (rows or generic) from its merged dims. */
static brc_status choose_layout(ix_unit *u, const brc_plan_prefs *prefs, size_t esize, bool q_indexed,
                                const char *fn) {
    ix_args *a = &u->a;
    int nd = (int)a->nd;
    bool rows = nd >= 1 && !prefs->force_strided && a->shape[nd - 1] >= 2 && u->op != OP_ZERO;
    if (rows) {
        if (a->str[0][nd - 1] != 1) rows = false;
        if (u->src_q != PTR_NONE && a->str[1][nd - 1] != 1) rows = false;
        if (u->src_k != PTR_NONE && a->str[2][nd - 1] != 0) rows = false;
    }
    int vmax = (int)(16 / esize);
    if (prefs->vector_width) {
        int f = prefs->vector_width;
        if (f < 1 || f > vmax || (f & (f - 1)))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fn, f,
                              vmax);
        vmax = f;
    }
    if (rows) {
        int vec = vmax;
        while (vec > 1) {
            bool fits = a->shape[nd - 1] % vec == 0 && (!q_indexed || a->qi % vec == 0);
            for (int d = 0; d < nd - 1; d++) {
                fits = fits && a->str[0][d] % vec == 0;
                if (u->src_q != PTR_NONE) fits = fits && a->str[1][d] % vec == 0;
            }
            if (fits) break;
            vec /= 2;
        }
        int64_t cpr = a->shape[nd - 1] / vec;
        u->rows = 1;
        u->vec = vec;
        u->tpr = pow2ceil(cpr < 256 ? cpr : 256);
        a->row = a->shape[nd - 1];
        a->rows = a->n / (a->row > 0 ? a->row : 1);
        u->ix64 = 1;
    } else {
        u->rows = 0;
        u->vec = 1;
        u->tpr = 1;
        /* 2^30: the grid-stride loop's e + step must not overflow either. */
        int64_t lim = (int64_t)1 << 30, eq = extent(a, 1);
        if (q_indexed && a->bound > 0) eq += (a->bound - 1) * (a->qi < 0 ? -a->qi : a->qi);
        u->ix64 = !(a->n <= lim && extent(a, 0) <= lim && eq <= lim && extent(a, 2) <= lim);
    }
    return BRC_STATUS_OK;
}

static void unit_grid(ix_unit *u, int sms) {
    int64_t want = u->rows ? cdiv(u->a.rows, THREADS / u->tpr) : cdiv(u->a.n, THREADS), cap = (int64_t)sms * 16;
    if (u->op == OP_EMB_DET) want = cdiv(u->a.bound, EB_ROWS), cap = want;
    u->grid = (unsigned)(want < cap ? want : cap);
}

/* ---- validation ----------------------------------------------------------------------------------- */

static brc_status bad(const char *fn, const char *kn, const char *what) {
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s", fn, kn, what);
}

static bool no_self_overlap(const brc_tensor_desc *t) {
    int64_t st[BRC_MAX_RANK], sz[BRC_MAX_RANK];
    int n = 0;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] == 0) return true;
        if (t->shape[d] == 1) continue;
        st[n] = t->strides[d] < 0 ? -t->strides[d] : t->strides[d];
        sz[n++] = t->shape[d];
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            int64_t a = st[j], b = sz[j];
            st[j] = st[j - 1], sz[j] = sz[j - 1];
            st[j - 1] = a, sz[j - 1] = b;
        }
    int64_t ext = 0;
    for (int i = 0; i < n; i++) {
        if (st[i] <= ext) return false;
        ext += st[i] * (sz[i] - 1);
    }
    return true;
}

static brc_status check_t(const brc_tensor_desc *t, const char *fn, const char *kn, const char *name, bool output) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s: %s", fn, kn, name);
    brc_status st = brc__tensor_check(t, what);
    if (st) return st;
    if (output && !no_self_overlap(t))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has strides under which its elements overlap", fn,
                          kn, name);
    return BRC_STATUS_OK;
}

static brc_status check_index_dtype(const brc_tensor_desc *t, const char *fn, const char *kn) {
    if (t->dtype != BRC_I32 && t->dtype != BRC_I64)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index has dtype %s (i32 or i64)", fn, kn,
                          brc_dtype_name(t->dtype));
    return BRC_STATUS_OK;
}

static bool reducible(brc_dtype t) { return is_float(t) || t == BRC_I32 || t == BRC_I64; }

/* ---- planning --------------------------------------------------------------------------------------- */

static brc_status finish(brc_context *ctx, const ix_spec *spec, ix_impl *tmpl, brc_plan **out) {
    brc__str desc = {0}, sku = {0};
    spec_strings(spec, ctx->arch, &desc, &sku);
    brc_plan *p = NULL;
    brc_status st;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_index_plan: out of memory");
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_INDEX, &ix_vt, sizeof(ix_impl), &p))) goto fail;
    ix_impl *im = p->impl;
    *im = *tmpl;
    im->kind = spec->kind;
    im->deterministic = spec_deterministic(spec);
    im->esize = brc_dtype_size(spec->dt);
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    for (int i = 0; i < im->nunits; i++) {
        unit_grid(&im->u[i], sms);
        if ((st = get_kernel(ctx, &im->u[i], spec->dt, spec->it, desc.p))) goto fail;
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

/* Fills the spec's layout fields from the main unit. */
static void spec_layout(ix_spec *s, const ix_unit *u) {
    s->rows = u->rows, s->vec = u->vec, s->tpr = u->tpr, s->ix64 = u->ix64;
}

brc_status brc_index_plan(brc_context *ctx, const brc_index_desc *d, const brc_plan_prefs *prefs_in, brc_plan **out) {
    static const char *fn = "brc_index_plan";
    brc_status st = brc__plan_start(ctx, d, out, fn);
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not an indexing kind", fn, kind);
    const char *kn = kind_names[kind];
    ix_spec spec = {kind, 0, 0, BRC_F32, BRC_I64, 0, 1, 1, 0};
    ix_impl im;
    memset(&im, 0, sizeof im);
    im.nunits = 1;
    ix_unit *u = &im.u[0];
    u->src_p = u->src_q = u->src_k = PTR_NONE;
    u->a.skip = -1;
    walk w;
    memset(&w, 0, sizeof w);
    const brc_tensor_desc *x = &d->x, *ix = &d->index, *src = &d->src, *y = &d->y;
    bool q_indexed = true;

    switch (kind) {
    case BRC_INDEX_GATHER:
    case BRC_INDEX_INDEX_SELECT:
    case BRC_INDEX_SCATTER:
    case BRC_INDEX_INDEX_ADD: {
        bool sc = kind == BRC_INDEX_SCATTER || kind == BRC_INDEX_INDEX_ADD;
        bool sel = kind == BRC_INDEX_INDEX_SELECT || kind == BRC_INDEX_INDEX_ADD;
        /* self: the tensor indexed along dim (x, or y for the scatters); other: the one walked
         * in full (y, or src for the scatters). */
        const brc_tensor_desc *self = sc ? y : x, *other = sc ? src : y;
        const char *sname = sc ? "y" : "x", *oname = sc ? "src" : "y";
        if ((st = check_t(self, fn, kn, sname, sc)) || (st = check_t(ix, fn, kn, "index", false)) ||
            (st = check_t(other, fn, kn, oname, !sc)) || (st = check_index_dtype(ix, fn, kn)))
            return st;
        int r = self->rank;
        if (r < 1) return bad(fn, kn, "rank 0 has no dim to index (rank must be >= 1)");
        if (d->dim < -r || d->dim >= r)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: dim %d is out of range for rank %d", fn, kn,
                              d->dim, r);
        int dim = d->dim < 0 ? d->dim + r : d->dim;
        if (other->rank != r)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has rank %d, %s has %d", fn, kn, oname,
                              other->rank, sname, r);
        if (other->dtype != self->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has dtype %s, %s has %s", fn, kn, oname,
                              brc_dtype_name(other->dtype), sname, brc_dtype_name(self->dtype));
        spec.dt = self->dtype;
        spec.it = ix->dtype;
        if (sel) {
            if (ix->rank != 1) return bad(fn, kn, "index must have rank 1");
            for (int dd = 0; dd < r; dd++) {
                int64_t want = dd == dim ? ix->shape[0] : self->shape[dd];
                if (other->shape[dd] != want)
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                      "%s: %s: %s.shape[%d] = %lld, %lld expected (%s)", fn, kn, oname, dd,
                                      (long long)other->shape[dd], (long long)want,
                                      dd == dim ? "the index length" : "as the indexed tensor");
            }
            w.rank = r;
            for (int dd = 0; dd < r; dd++) {
                w.shape[dd] = other->shape[dd];
                w.str[0][dd] = other->strides[dd];
                w.str[1][dd] = dd == dim ? 0 : self->strides[dd];
                w.str[2][dd] = dd == dim ? ix->strides[0] : 0;
            }
        } else {
            if (ix->rank != r)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index has rank %d, %s has %d", fn, kn,
                                  ix->rank, sname, r);
            for (int dd = 0; dd < r; dd++) {
                if (sc ? ix->shape[dd] > other->shape[dd] : ix->shape[dd] != other->shape[dd])
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index.shape[%d] = %lld %s %s.shape[%d] = %lld",
                                      fn, kn, dd, (long long)ix->shape[dd], sc ? "exceeds" : "differs from", oname, dd,
                                      (long long)other->shape[dd]);
                if (dd != dim && ix->shape[dd] > self->shape[dd])
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index.shape[%d] = %lld exceeds %s.shape[%d] = %lld",
                                      fn, kn, dd, (long long)ix->shape[dd], sname, dd, (long long)self->shape[dd]);
            }
            w.rank = r;
            for (int dd = 0; dd < r; dd++) {
                w.shape[dd] = ix->shape[dd];
                w.str[0][dd] = other->strides[dd];
                w.str[1][dd] = dd == dim ? 0 : self->strides[dd];
                w.str[2][dd] = ix->strides[dd];
            }
        }
        u->a.bound = self->shape[dim];
        u->a.qi = self->strides[dim];
        if (sc) {
            u->src_p = PTR_SRC, u->src_q = PTR_Y;
            int red = kind == BRC_INDEX_INDEX_ADD ? BRC_INDEX_REDUCE_SUM : (int)d->reduce;
            if (red < 0 || red >= NREDUCES)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: reduce %d is not a reduction", fn, kn, red);
            spec.reduce = kind == BRC_INDEX_SCATTER ? red : 0;
            if (red != BRC_INDEX_REDUCE_NONE && !reducible(spec.dt))
                return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s cannot be reduced (f32 f64 f16 bf16 i32 i64)",
                                  fn, kn, brc_dtype_name(spec.dt));
            u->op = red == BRC_INDEX_REDUCE_NONE ? OP_STORE : OP_REDUCE;
            u->red = red;
            u->a.value = kind == BRC_INDEX_INDEX_ADD ? d->value : 1.0;
        } else {
            u->src_p = PTR_Y, u->src_q = PTR_X;
            u->op = OP_GATHER;
        }
        u->src_k = PTR_INDEX;
        break;
    }
    case BRC_INDEX_EMBEDDING:
    case BRC_INDEX_EMBEDDING_BACKWARD: {
        bool bwd = kind == BRC_INDEX_EMBEDDING_BACKWARD;
        const brc_tensor_desc *wt = bwd ? y : x, *rows = bwd ? src : y;
        const char *wn = bwd ? "y (dweight)" : "x (weight)", *rn = bwd ? "src (dy)" : "y";
        if ((st = check_t(wt, fn, kn, wn, bwd)) || (st = check_t(ix, fn, kn, "index", false)) ||
            (st = check_t(rows, fn, kn, rn, !bwd)) || (st = check_index_dtype(ix, fn, kn)))
            return st;
        if (wt->rank != 2) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s must have rank 2 [V, D]", fn, kn, wn);
        if (ix->rank > 7) return bad(fn, kn, "index has rank > 7");
        if (rows->rank != ix->rank + 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s must have index's rank + 1 (%d), not %d", fn, kn,
                              rn, ix->rank + 1, rows->rank);
        for (int dd = 0; dd <= ix->rank; dd++) {
            int64_t want = dd < ix->rank ? ix->shape[dd] : wt->shape[1];
            if (rows->shape[dd] != want)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s.shape[%d] = %lld, %lld expected", fn, kn, rn,
                                  dd, (long long)rows->shape[dd], (long long)want);
        }
        if (rows->dtype != wt->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has dtype %s, %s has %s", fn, kn, rn,
                              brc_dtype_name(rows->dtype), wn, brc_dtype_name(wt->dtype));
        spec.dt = wt->dtype;
        spec.it = ix->dtype;
        int64_t V = wt->shape[0], D = wt->shape[1];
        w.rank = ix->rank + 1;
        for (int dd = 0; dd < ix->rank; dd++) {
            w.shape[dd] = ix->shape[dd];
            w.str[0][dd] = rows->strides[dd];
            w.str[1][dd] = 0;
            w.str[2][dd] = ix->strides[dd];
        }
        w.shape[ix->rank] = D;
        w.str[0][ix->rank] = rows->strides[ix->rank];
        w.str[1][ix->rank] = wt->strides[1];
        w.str[2][ix->rank] = 0;
        u->a.bound = V;
        u->a.qi = wt->strides[0];
        u->src_k = PTR_INDEX;
        if (!bwd) {
            u->src_p = PTR_Y, u->src_q = PTR_X;
            u->op = OP_GATHER;
            break;
        }
        if (!is_float(spec.dt))
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s (f32 f64 f16 bf16)", fn, kn,
                              brc_dtype_name(spec.dt));
        if (d->use_padding_idx != 0 && d->use_padding_idx != 1) return bad(fn, kn, "use_padding_idx must be 0 or 1");
        if (d->atomic != 0 && d->atomic != 1) return bad(fn, kn, "atomic must be 0 or 1");
        if (d->use_padding_idx && (d->padding_idx < 0 || d->padding_idx >= V))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: padding_idx %lld is outside [0, %lld)", fn, kn,
                              (long long)d->padding_idx, (long long)V);
        spec.atomic = d->atomic;
        int64_t skip = d->use_padding_idx ? d->padding_idx : -1;
        if (!d->atomic) {
            /* The positions: index's dims merged into one (and dy's leading dims with them). */
            int64_t N = 1, ks = 0, rs = 0;
            int nd = 0;
            for (int dd = 0; dd < ix->rank; dd++) {
                N *= ix->shape[dd];
                if (ix->shape[dd] == 1) continue;
                if (nd == 1 && (ks != ix->strides[dd] * ix->shape[dd] || rs != rows->strides[dd] * ix->shape[dd]))
                    return brc__error(BRC_STATUS_UNSUPPORTED,
                                      "%s: %s: the deterministic path needs index and dy's leading dims to merge into "
                                      "one (dense as a group); atomic = 1 takes any strides",
                                      fn, kn);
                ks = ix->strides[dd], rs = rows->strides[dd], nd = 1;
            }
            if (N > INT32_MAX)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %lld positions (at most 2^31 - 1)", fn, kn,
                                  (long long)N);
            memset(&u->a, 0, sizeof u->a);
            u->op = OP_EMB_DET;
            u->vec = det_vec(spec.dt);
            u->tpr = 1, u->ix64 = 1, u->rows = 0;
            u->src_p = PTR_SRC, u->src_q = PTR_Y, u->src_k = PTR_INDEX;
            u->a.rows = N, u->a.row = D, u->a.bound = V, u->a.skip = skip;
            u->a.str[2][0] = ks;
            u->a.str[0][0] = rs, u->a.str[0][1] = rows->strides[ix->rank];
            u->a.str[1][0] = wt->strides[0], u->a.str[1][1] = wt->strides[1];
            u->a.n = N * D;
            u->vec_ok = rows->strides[ix->rank] == 1 && rs % u->vec == 0;
            return finish(ctx, &spec, &im, out);
        }
        /* Atomic: zero dweight (unit 0, generic, 64-bit), then add dy rows into it (unit 1). */
        ix_unit *z = &im.u[0];
        im.u[1] = *u;
        u = &im.u[1];
        memset(z, 0, sizeof *z);
        z->op = OP_ZERO, z->src_p = PTR_Y, z->src_q = z->src_k = PTR_NONE, z->ix64 = 1, z->vec = 1, z->tpr = 1;
        z->a.skip = -1;
        walk wz;
        memset(&wz, 0, sizeof wz);
        wz.rank = 2;
        wz.shape[0] = V, wz.shape[1] = D;
        wz.str[0][0] = wt->strides[0], wz.str[0][1] = wt->strides[1];
        wz.use[0] = true;
        merge(&wz, z);
        im.nunits = 2;
        u->op = OP_REDUCE, u->red = BRC_INDEX_REDUCE_SUM;
        u->src_p = PTR_SRC, u->src_q = PTR_Y;
        u->a.skip = skip;
        u->a.value = 1.0;
        break;
    }
    case BRC_INDEX_MASKED_FILL: {
        if ((st = check_t(x, fn, kn, "x", false)) || (st = check_t(ix, fn, kn, "index (mask)", false)) ||
            (st = check_t(y, fn, kn, "y", true)))
            return st;
        if (ix->dtype != BRC_U8 && ix->dtype != BRC_BOOL)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: the mask (index) has dtype %s (u8 or bool)", fn, kn,
                              brc_dtype_name(ix->dtype));
        if (x->rank != y->rank || ix->rank != y->rank) return bad(fn, kn, "x, mask and y differ in rank");
        for (int dd = 0; dd < y->rank; dd++)
            if (x->shape[dd] != y->shape[dd] || ix->shape[dd] != y->shape[dd])
                return bad(fn, kn, "x, mask and y differ in shape (broadcast the mask with stride 0)");
        if (x->dtype != y->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has dtype %s, y has %s", fn, kn,
                              brc_dtype_name(x->dtype), brc_dtype_name(y->dtype));
        spec.dt = y->dtype;
        spec.it = BRC_U8;
        w.rank = y->rank;
        for (int dd = 0; dd < y->rank; dd++) {
            w.shape[dd] = y->shape[dd];
            w.str[0][dd] = y->strides[dd];
            w.str[1][dd] = x->strides[dd];
            w.str[2][dd] = ix->strides[dd];
        }
        u->op = OP_MASKED_FILL;
        u->src_p = PTR_Y, u->src_q = PTR_X, u->src_k = PTR_INDEX;
        u->a.value = d->value;
        q_indexed = false;
        bool same = true;
        for (int dd = 0; dd < y->rank; dd++)
            if (y->shape[dd] > 1 && x->strides[dd] != y->strides[dd]) same = false;
        im.y_is_x_ok = same;
        break;
    }
    case BRC_INDEX_ONE_HOT: {
        if ((st = check_t(ix, fn, kn, "index", false)) || (st = check_t(y, fn, kn, "y", true)) ||
            (st = check_index_dtype(ix, fn, kn)))
            return st;
        if (ix->rank > 7) return bad(fn, kn, "index has rank > 7");
        if (d->num_classes < 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: num_classes = %lld must be >= 1", fn, kn,
                              (long long)d->num_classes);
        if (y->rank != ix->rank + 1) return bad(fn, kn, "y must have index's rank + 1");
        for (int dd = 0; dd <= ix->rank; dd++) {
            int64_t want = dd < ix->rank ? ix->shape[dd] : d->num_classes;
            if (y->shape[dd] != want)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y.shape[%d] = %lld, %lld expected", fn, kn, dd,
                                  (long long)y->shape[dd], (long long)want);
        }
        if (y->dtype == BRC_FP8E4M3 || y->dtype == BRC_FP8E5M2)
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: y has dtype %s (fp8 is not an output of one_hot)", fn,
                              kn, brc_dtype_name(y->dtype));
        spec.dt = y->dtype;
        spec.it = ix->dtype;
        w.rank = y->rank;
        w.keep_last = true;
        for (int dd = 0; dd < y->rank; dd++) {
            w.shape[dd] = y->shape[dd];
            w.str[0][dd] = y->strides[dd];
            w.str[2][dd] = dd < ix->rank ? ix->strides[dd] : 0;
        }
        u->op = OP_ONE_HOT;
        u->src_p = PTR_Y, u->src_k = PTR_INDEX;
        u->a.bound = d->num_classes;
        q_indexed = false;
        break;
    }
    default: break;
    }
    w.use[0] = u->src_p != PTR_NONE;
    w.use[1] = u->src_q != PTR_NONE;
    w.use[2] = u->src_k != PTR_NONE;
    int64_t bound = u->a.bound, qi = u->a.qi, skip = u->a.skip;
    double value = u->a.value;
    merge(&w, u);
    u->a.bound = bound, u->a.qi = qi, u->a.skip = skip, u->a.value = value;
    if ((st = choose_layout(u, prefs, brc_dtype_size(spec.dt), q_indexed, fn))) return st;
    if (kind == BRC_INDEX_MASKED_FILL && u->rows && u->a.str[2][u->a.nd - 1] != 0) u->rows = 0;
    spec_layout(&spec, u);
    return finish(ctx, &spec, &im, out);
}

int brc_index_plan_deterministic(const brc_plan *plan) {
    if (!plan || plan->family != BRC__FAM_INDEX) return -1;
    return ((const ix_impl *)plan->impl)->deterministic;
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------ */

/* The descriptor names the kernels exactly, so the plan is made from the spec itself (with an
 * empty iteration space: such a plan compiles and caches its kernels and runs nothing). */
brc_status brc__index_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const layouts[] = {"rows", "generic"};
    int kind = 0, reduce = 0, layout = 1;
    brc_dtype dt = BRC_F32, it = BRC_I64;
    int64_t vec = 1, tpr = 1, ix = 32, atomic = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &dt)))
        return st;
    if (has_index_dtype(kind)) {
        if ((st = brc__desc_dtype(d, "index", &it))) return st;
        if (it != BRC_I32 && it != BRC_I64) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "index: %s is not an index dtype (i32, i64)",
                              brc_dtype_name(it));
        }
    }
    if (kind == BRC_INDEX_SCATTER && (st = brc__desc_pick(d, "reduce", reduce_names, NREDUCES, 0, &reduce))) return st;
    if (kind == BRC_INDEX_EMBEDDING_BACKWARD && (st = brc__desc_int(d, "atomic", 0, 1, 0, &atomic))) return st;
    ix_spec spec = {kind, reduce, (int)atomic, dt, it, 0, 1, 1, 0};
    if (!det_backward(&spec)) {
        if ((st = brc__desc_pick(d, "layout", layouts, 2, -1, &layout))) return st;
        if (layout == 0) {
            if ((st = brc__desc_int(d, "vec", 1, 16, 1, &vec)) || (st = brc__desc_int(d, "tpr", 1, 256, 1, &tpr)))
                return st;
            if ((vec & (vec - 1)) || (tpr & (tpr - 1)) || (size_t)vec * brc_dtype_size(dt) > 16) {
                d->err_col = d->family_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "vec = %lld and tpr = %lld must be powers of two, vec at most 16 bytes of %s",
                                  (long long)vec, (long long)tpr, brc_dtype_name(dt));
            }
        } else if ((st = brc__desc_int(d, "ix", 32, 64, 32, &ix))) {
            return st;
        } else if (ix != 32 && ix != 64) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "ix = %lld must be 32 or 64", (long long)ix);
        }
        spec.rows = layout == 0, spec.vec = (int)vec, spec.tpr = (int)tpr, spec.ix64 = ix == 64;
    }
    /* The dtype rules of brc_index_plan. */
    bool red = (kind == BRC_INDEX_SCATTER && reduce) || kind == BRC_INDEX_INDEX_ADD;
    if ((red && !reducible(dt)) || (kind == BRC_INDEX_EMBEDDING_BACKWARD && !is_float(dt)) ||
        (kind == BRC_INDEX_ONE_HOT && (dt == BRC_FP8E4M3 || dt == BRC_FP8E5M2))) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported", kind_names[kind], brc_dtype_name(dt));
    }
    ix_impl im;
    memset(&im, 0, sizeof im);
    im.nunits = 1;
    ix_unit *u = &im.u[0];
    u->a.skip = -1;
    static const int ops[] = {OP_GATHER, OP_GATHER, OP_GATHER, OP_STORE, OP_REDUCE, OP_REDUCE, OP_MASKED_FILL, OP_ONE_HOT};
    u->op = ops[kind];
    if (kind == BRC_INDEX_SCATTER && reduce) u->op = OP_REDUCE;
    u->red = kind == BRC_INDEX_SCATTER ? reduce : kind == BRC_INDEX_INDEX_ADD || kind == BRC_INDEX_EMBEDDING_BACKWARD;
    u->rows = spec.rows, u->vec = spec.vec, u->tpr = spec.tpr, u->ix64 = spec.ix64;
    if (det_backward(&spec)) {
        u->op = OP_EMB_DET, u->red = 0, u->rows = 0, u->vec = det_vec(dt), u->tpr = 1, u->ix64 = 1;
    } else if (kind == BRC_INDEX_EMBEDDING_BACKWARD) {
        im.u[1] = *u;
        memset(&im.u[0], 0, sizeof im.u[0]);
        im.u[0].op = OP_ZERO, im.u[0].ix64 = 1, im.u[0].vec = 1, im.u[0].tpr = 1;
        im.nunits = 2;
    }
    return finish(ctx, &spec, &im, out);
}

/* ---- running ----------------------------------------------------------------------------------------- */

brc_status brc_index_run(const brc_plan *plan, const void *x, const void *index, const void *src, void *y,
                         int32_t *err, brc_stream stream) {
    static const char *fn = "brc_index_run";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_INDEX, fn);
    if (st) return st;
    const ix_impl *im = plan->impl;
    const void *ptr[4] = {x, index, src, y};
    static const char *const names[4] = {"x", "index", "src", "y"};
    if (err && (uintptr_t)err % 4)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: err %p is not aligned to 4 bytes (%s)", fn, (void *)err,
                          plan->descriptor);
    bool used[4] = {false, false, false, false};
    for (int i = 0; i < im->nunits; i++) {
        const ix_unit *u = &im->u[i];
        if (u->src_p >= 0) used[u->src_p] = true;
        if (u->src_q >= 0) used[u->src_q] = true;
        if (u->src_k >= 0) used[u->src_k] = true;
    }
    for (int o = 0; o < 4; o++)
        if (used[o] && !ptr[o])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (%s)", fn, names[o], plan->descriptor);
    for (int o = 0; o < 3; o++) {
        if (!used[o] || ptr[o] != y) continue;
        if (o == 0 && im->kind == BRC_INDEX_MASKED_FILL && im->y_is_x_ok) continue;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y and %s are one buffer%s (%s)", fn, names[o],
                          o == 0 && im->kind == BRC_INDEX_MASKED_FILL ? " with different strides" : "",
                          plan->descriptor);
    }
    for (int i = 0; i < im->nunits; i++) {
        const ix_unit *u = &im->u[i];
        if (u->grid == 0 || u->a.n == 0) {
            if (u->op != OP_EMB_DET || u->a.bound == 0 || u->a.row == 0) continue;
        }
        ix_args a = u->a;
        a.pp = u->src_p >= 0 ? (void *)(uintptr_t)ptr[u->src_p] : NULL;
        a.pq = u->src_q >= 0 ? (void *)(uintptr_t)ptr[u->src_q] : NULL;
        a.pk = u->src_k >= 0 ? ptr[u->src_k] : NULL;
        a.err = err;
        size_t vb = (size_t)u->vec * im->esize;
        a.aligned = (!a.pp || (uintptr_t)a.pp % vb == 0) && (!a.pq || (uintptr_t)a.pq % vb == 0);
        if (u->op == OP_EMB_DET) a.aligned = u->vec_ok && (uintptr_t)a.pp % vb == 0;
        unsigned grid = grid_override && u->op != OP_EMB_DET ? grid_override : u->grid;
        void *args[1] = {&a};
        CUresult r = brc__cu()->cuLaunchKernel(u->fn, grid, 1, 1, THREADS, 1, 1, 0, (CUstream)stream, args, NULL);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    }
    return BRC_STATUS_OK;
}
