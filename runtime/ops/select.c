/* The select family: topk, kthvalue and median along one dim. Validates the operands, merges the
 * other dims into rows, chooses a CTA a row or a row split over CTAs (with a workspace), generates
 * the kernel's specialization (kernel_src/select.cuh) and launches its stages. Semantics: select.h;
 * algorithm and descriptor keys: docs/select.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_SELECT_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
_Static_assert(NKINDS == BRC_SELECT_KIND_COUNT_, "BRC_SELECT_KIND_COUNT_ is out of date");

/* Stages of select.cuh. */
enum { ST_ALL, ST_ZERO, ST_HIST, ST_COLLECT, ST_SORT };
enum {
    MAX_THREADS = 512,
    SORT_MAX = 4096,     /* largest k the in-CTA sort takes */
    SCRATCH = 3136,      /* bytes of select.cuh's shared state (bins, tables) before the sort reuses them */
    SPLIT_MIN = 2048,    /* fewest positions a split CTA takes */
    SPLIT_MAX = 64,      /* most CTAs a row */
    WS_ALIGN = 16
};

/* struct brc::sel_args in select.cuh: 8-byte fields only. */
typedef struct sel_args {
    const void *x;
    void *v, *ix;
    uint32_t *ws;
    int64_t rows, n, k, chunk, S, nd, stage, pass, kp, dosort;
    int64_t sx, sv, si;
    int64_t shape[8];
    int64_t str[3][8];
} sel_args;
_Static_assert(sizeof(sel_args) == (4 + 10 + 3 + 8 + 24) * 8, "sel_args must match brc::sel_args");

/* What determines the kernel: the canonical descriptor is a function of this alone. */
typedef struct sel_spec {
    int kind, largest, sorted;
    brc_dtype dt, it;
} sel_spec;

typedef struct sel_impl {
    sel_spec spec;
    sel_args a; /* pointers filled per run */
    int passes;
    unsigned threads, smem;
    size_t esize, isize;
    CUfunction fn;
} sel_impl;

static const brc__plan_vt sel_vt = {NULL};
static int split_override;

/* Test hook: split every row over this many CTAs where it has that many positions (0: the
 * plan's own choice). */
void brc__select_split_override(int S) { split_override = S; }

static int64_t pow2ceil(int64_t n) {
    int64_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

static const char *real_type(brc_dtype t) {
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
    default: return NULL;
    }
}
static bool has_dtype(brc_dtype t) { return (int)t >= 0 && t < BRC_DTYPE_COUNT_ && real_type(t) != NULL; }
/* Bits of the key: 8 a pass. */
static int key_bits(brc_dtype t) { return (int)brc_dtype_size(t) * 8; }
static size_t key_bytes(brc_dtype t) { return brc_dtype_size(t) == 8 ? 8 : 4; }

/* ---- descriptor, SKU, kernel ------------------------------------------------------------------------ */

static void spec_strings(const sel_spec *s, const char *arch, brc__str *desc, brc__str *sku) {
    const char *kn = kind_names[s->kind], *dn = brc_dtype_name(s->dt), *in = brc_dtype_name(s->it);
    brc__str_addf(desc, "select(op=%s,dtype=%s,index=%s", kn, dn, in);
    brc__str_addf(sku, "bespoke:select<%s,%s,%s", kn, dn, in);
    if (s->kind == BRC_SELECT_TOPK) {
        brc__str_addf(desc, ",largest=%d,sorted=%d", s->largest, s->sorted);
        brc__str_addf(sku, ",%s,%s", s->largest ? "largest" : "smallest", s->sorted ? "sorted" : "unsorted");
    }
    brc__str_addf(desc, ")");
    brc__str_addf(sku, ">@%s", arch);
}

static void make_snippet(brc__str *s, const void *arg) {
    const sel_spec *sp = arg;
    brc__str_addf(s,
                  "struct brc_sel {\n  typedef %s T;\n  typedef %s IT;\n"
                  "  enum { KIND = %d, LARGEST = %d, SORTED = %d };\n};\n"
                  "__global__ void __launch_bounds__(%d, 2)\n"
                  "brc_select_kernel(brc::sel_args a) { brc::select_main<brc_sel>(a); }\n",
                  real_type(sp->dt), real_type(sp->it), sp->kind, sp->largest, sp->sorted, MAX_THREADS);
}

static brc_status get_kernel(brc_context *ctx, const sel_spec *sp, const char *desc, CUfunction *fn) {
    static const char *const sources[] = {"prelude.cuh", "select.cuh", NULL};
    brc__kernel_req req = {.template_name = "select", .sources = sources, .nspec = 5,
                           .spec = {sp->kind, sp->dt, sp->it, sp->largest, sp->sorted},
                           .make_snippet = make_snippet, .snippet_arg = sp, .name_expr = "brc_select_kernel",
                           .descriptor = desc};
    const brc__kernel *k = NULL;
    brc_status st = brc__jit_get(ctx, &req, &k);
    if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
    return st;
}

/* An output of x's rank: x's shape with shape[dim] = want. A kthvalue output may also drop dim
 * (*keep = false). */
static brc_status check_out(const brc_tensor_desc *x, const brc_tensor_desc *o, int dim, int64_t want, bool may_drop,
                            bool *keep, const char *fn, const char *kn, const char *name) {
    int r = x->rank;
    *keep = true;
    if (r > 0 && may_drop && o->rank == r - 1) {
        *keep = false;
        for (int d = 0, e = 0; d < r; d++) {
            if (d == dim) continue;
            if (o->shape[e] != x->shape[d])
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s.shape[%d] = %lld, %lld expected", fn, kn,
                                  name, e, (long long)o->shape[e], (long long)x->shape[d]);
            e++;
        }
        return BRC_STATUS_OK;
    }
    if (o->rank != r)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has rank %d, x has %d%s", fn, kn, name, o->rank, r,
                          may_drop && r > 0 ? " (rank - 1 drops dim)" : "");
    for (int d = 0; d < r; d++) {
        int64_t w = d == dim ? want : x->shape[d];
        if (o->shape[d] != w)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s.shape[%d] = %lld, %lld expected%s", fn, kn,
                              name, d, (long long)o->shape[d], (long long)w, d == dim ? " (along dim)" : "");
    }
    if (r == 0 && want != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: a rank-0 x gives rank-0 outputs only for k = 1", fn,
                          kn);
    return BRC_STATUS_OK;
}

/* ---- planning --------------------------------------------------------------------------------------- */

static brc_status finish(brc_context *ctx, sel_impl *tmpl, brc_plan **out) {
    brc__str desc = {0}, sku = {0};
    spec_strings(&tmpl->spec, ctx->arch, &desc, &sku);
    brc_plan *p = NULL;
    brc_status st;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_select_plan: out of memory");
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_SELECT, &sel_vt, sizeof(sel_impl), &p))) goto fail;
    sel_impl *im = p->impl;
    *im = *tmpl;
    if (im->a.S > 1) {
        int64_t words = im->a.rows * ((int64_t)im->passes * 256 + 1 + im->a.S * 257);
        p->workspace = (size_t)brc__cdiv(words * 4, WS_ALIGN) * WS_ALIGN;
    }
    if ((st = get_kernel(ctx, &im->spec, desc.p, &im->fn))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* Rows, threads, split and shared memory from the merged shape. */
static void choose_shape(sel_impl *im, int sms) {
    sel_args *a = &im->a;
    int64_t n = a->n, rows = a->rows;
    a->S = 1;
    a->chunk = n;
    if (split_override > 1 && n >= split_override) {
        a->chunk = brc__cdiv(n, split_override);
        a->S = brc__cdiv(n, a->chunk);
    } else if (!split_override && rows > 0 && rows < sms && n >= 2 * SPLIT_MIN) {
        /* At most two CTAs an SM (one wave): a second, partial wave would double the time. */
        int64_t S = 2 * (int64_t)sms / rows, most = n / SPLIT_MIN;
        if (S > most) S = most;
        if (S > SPLIT_MAX) S = SPLIT_MAX;
        if (S > 1) {
            a->chunk = brc__cdiv(brc__cdiv(n, S), MAX_THREADS) * MAX_THREADS;
            a->S = brc__cdiv(n, a->chunk);
        }
    }
    if (a->S > 1) im->threads = MAX_THREADS;
    else im->threads = n <= 1024 ? 128 : n <= 8192 ? 256 : MAX_THREADS;
    int64_t sm = SCRATCH;
    if (a->dosort) {
        int64_t need = a->kp * (int64_t)(key_bytes(im->spec.dt) + 4);
        if (need > sm) sm = need;
    }
    im->smem = (unsigned)sm;
}

brc_status brc_select_plan(brc_context *ctx, const brc_select_desc *d, const brc_plan_prefs *prefs_in,
                           brc_plan **out) {
    static const char *fn = "brc_select_plan";
    brc_status st = brc__plan_start(ctx, d, out, fn);
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not a select kind", fn, kind);
    const char *kn = kind_names[kind];
    const brc_tensor_desc *x = &d->x, *v = &d->values, *ix = &d->indices;
    if ((st = brc__operand_check(x, fn, kn, "x", false)) || (st = brc__operand_check(v, fn, kn, "values", true)) ||
        (st = brc__operand_check(ix, fn, kn, "indices", true)))
        return st;
    if (!has_dtype(x->dtype))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s (f32 f64 f16 bf16 i32 i64 i16 i8 u8)", fn, kn,
                          brc_dtype_name(x->dtype));
    if (v->dtype != x->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: values has dtype %s, x has %s", fn, kn,
                          brc_dtype_name(v->dtype), brc_dtype_name(x->dtype));
    if (ix->dtype != BRC_I32 && ix->dtype != BRC_I64)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: indices has dtype %s (i32 or i64)", fn, kn,
                          brc_dtype_name(ix->dtype));
    int r = x->rank, lo = r > 0 ? -r : -1, hi = r > 0 ? r : 1;
    if (d->dim < lo || d->dim >= hi)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: dim %d is out of range for rank %d", fn, kn, d->dim,
                          r);
    int dim = d->dim < 0 ? d->dim + (r > 0 ? r : 1) : d->dim;
    int64_t n = r > 0 ? x->shape[dim] : 1;
    if (n > INT32_MAX)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: rows of %lld positions (at most 2^31 - 1)", fn, kn,
                          (long long)n);
    sel_spec spec = {kind, 0, 0, x->dtype, ix->dtype};
    int64_t k = d->k;
    if (kind == BRC_SELECT_TOPK) {
        if (d->largest != 0 && d->largest != 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: largest = %d must be 0 or 1", fn, kn, d->largest);
        if (d->sorted != 0 && d->sorted != 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: sorted = %d must be 0 or 1", fn, kn, d->sorted);
        if (k < 0 || k > n)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: k = %lld is outside [0, %lld] (the row length)",
                              fn, kn, (long long)k, (long long)n);
        if (d->sorted && k > SORT_MAX)
            return brc__error(BRC_STATUS_UNSUPPORTED,
                              "%s: %s: sorted with k = %lld > %d (the in-CTA sort's limit; take sorted = 0 and sort "
                              "the result)",
                              fn, kn, (long long)k, SORT_MAX);
        spec.largest = d->largest, spec.sorted = d->sorted;
    } else if (kind == BRC_SELECT_KTHVALUE) {
        if (k < 1 || k > n)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: k = %lld is outside [1, %lld] (the row length)",
                              fn, kn, (long long)k, (long long)n);
    } else {
        if (n < 1) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: rows of length 0 have no median", fn, kn);
        k = (n + 1) / 2;
    }
    bool topk = kind == BRC_SELECT_TOPK, vkeep, ikeep;
    if ((st = check_out(x, v, dim, topk ? k : 1, !topk, &vkeep, fn, kn, "values")) ||
        (st = check_out(x, ix, dim, topk ? k : 1, !topk, &ikeep, fn, kn, "indices")))
        return st;

    sel_impl im;
    memset(&im, 0, sizeof im);
    im.spec = spec;
    im.passes = key_bits(spec.dt) / 8;
    im.esize = brc_dtype_size(spec.dt);
    im.isize = brc_dtype_size(spec.it);
    sel_args *a = &im.a;
    a->n = n, a->k = k;
    a->dosort = topk && spec.sorted && k > 1;
    a->kp = a->dosort ? pow2ceil(k) : 0;
    a->sx = r > 0 ? x->strides[dim] : 0;
    a->sv = vkeep && r > 0 ? v->strides[dim] : 0;
    a->si = ikeep && r > 0 ? ix->strides[dim] : 0;
    /* The rows: every dim but dim, merged where x, values and indices all nest. */
    a->rows = 1;
    int nd = 0;
    for (int dd = 0, e = 0; dd < r; dd++) {
        if (dd == dim) continue;
        int64_t sz = x->shape[dd], s[3] = {x->strides[dd], v->strides[vkeep ? dd : e], ix->strides[ikeep ? dd : e]};
        e++;
        a->rows *= sz;
        if (sz == 1) continue;
        bool m = nd > 0;
        for (int o = 0; m && o < 3; o++) {
            int64_t prod;
            if (__builtin_mul_overflow(s[o], sz, &prod) || a->str[o][nd - 1] != prod) m = false;
        }
        if (m) {
            a->shape[nd - 1] *= sz;
            for (int o = 0; o < 3; o++) a->str[o][nd - 1] = s[o];
        } else {
            a->shape[nd] = sz;
            for (int o = 0; o < 3; o++) a->str[o][nd] = s[o];
            nd++;
        }
    }
    a->nd = nd;
    if (a->rows > INT32_MAX)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: %lld rows (at most 2^31 - 1)", fn, kn, (long long)a->rows);
    choose_shape(&im, ctx->sm_count > 0 ? ctx->sm_count : 132);
    if (a->rows * a->S > INT32_MAX)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: %lld rows split %lld ways (at most 2^31 - 1 CTAs)", fn, kn,
                          (long long)a->rows, (long long)a->S);
    return finish(ctx, &im, out);
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------ */

/* The descriptor names the kernel; a plan of one row of two elements compiles it. */
brc_status brc__select_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int kind = 0;
    brc_dtype dt = BRC_F32, it = BRC_I64;
    int64_t largest = 0, sorted = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &dt)) ||
        (st = brc__desc_dtype(d, "index", &it)))
        return st;
    if (kind == BRC_SELECT_TOPK &&
        ((st = brc__desc_int(d, "largest", 0, 1, 1, &largest)) || (st = brc__desc_int(d, "sorted", 0, 1, 1, &sorted))))
        return st;
    if (it != BRC_I32 && it != BRC_I64) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "index: %s is not an index dtype (i32, i64)", brc_dtype_name(it));
    }
    if (!has_dtype(dt)) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported", kind_names[kind], brc_dtype_name(dt));
    }
    brc_select_desc sd;
    memset(&sd, 0, sizeof sd);
    int64_t xs[1] = {2}, os[1] = {kind == BRC_SELECT_TOPK ? 2 : 1};
    sd.kind = (brc_select_kind)kind;
    brc_tensor_desc_contiguous(&sd.x, dt, 1, xs);
    brc_tensor_desc_contiguous(&sd.values, dt, 1, os);
    brc_tensor_desc_contiguous(&sd.indices, it, 1, os);
    sd.k = kind == BRC_SELECT_MEDIAN ? 0 : kind == BRC_SELECT_TOPK ? 2 : 1;
    sd.largest = (int)largest, sd.sorted = (int)sorted;
    return brc_select_plan(ctx, &sd, NULL, out);
}

static brc_status launch(const brc_plan *plan, const sel_impl *im, sel_args *a, int stage, int pass, int64_t grid,
                         brc_stream stream) {
    a->stage = stage, a->pass = pass;
    void *args[1] = {a};
    CUresult r = brc__cu()->cuLaunchKernel(im->fn, (unsigned)grid, 1, 1, im->threads, 1, 1, im->smem,
                                           (CUstream)stream, args, NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc_select_run(const brc_plan *plan, const void *x, void *values, void *indices, void *workspace,
                          size_t workspace_size, brc_stream stream) {
    static const char *fn = "brc_select_run";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_SELECT, fn);
    if (st) return st;
    const sel_impl *im = plan->impl;
    if ((st = brc__need_ptr(x, im->esize, fn, "x", plan)) || (st = brc__need_ptr(values, im->esize, fn, "values", plan)) ||
        (st = brc__need_ptr(indices, im->isize, fn, "indices", plan)))
        return st;
    if (x == values || x == indices || values == indices)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: x, values and indices must be three buffers (%s)", fn,
                          plan->descriptor);
    if (plan->workspace) {
        if (workspace_size < plan->workspace)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: workspace of %zu bytes is smaller than the %zu required (%s)", fn, workspace_size,
                              plan->workspace, plan->descriptor);
        if ((st = brc__need_ptr(workspace, WS_ALIGN, fn, "workspace", plan))) return st;
    }
    sel_args a = im->a;
    if (a.rows == 0 || (im->spec.kind == BRC_SELECT_TOPK && a.k == 0)) return BRC_STATUS_OK;
    a.x = x, a.v = values, a.ix = indices, a.ws = workspace;
    if (a.S == 1) return launch(plan, im, &a, ST_ALL, 0, a.rows, stream);
    int64_t zero = a.rows * ((int64_t)im->passes * 256 + 1), zgrid = brc__cdiv(zero, im->threads);
    if ((st = launch(plan, im, &a, ST_ZERO, 0, zgrid < 1024 ? zgrid : 1024, stream))) return st;
    for (int p = 0; p < im->passes; p++)
        if ((st = launch(plan, im, &a, ST_HIST, p, a.rows * a.S, stream))) return st;
    if ((st = launch(plan, im, &a, ST_COLLECT, 0, a.rows * a.S, stream))) return st;
    if (a.dosort && (st = launch(plan, im, &a, ST_SORT, 0, a.rows, stream))) return st;
    return BRC_STATUS_OK;
}
