/* The loss family: cross_entropy / nll_loss (row kernels over [N, C] class scores) and the pointwise
 * losses, forward and backward. Validates the layouts, chooses the geometry, generates the kernels'
 * specialization (kernel_src/loss.cuh, on top of rows.cuh) and launches them; mean and sum finish
 * through per-CTA partials in the caller's workspace and a one-CTA kernel. Descriptor keys:
 * docs/loss.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* The kernels of loss.cuh, by the id that the specialization tuple carries. */
enum { K_CE_FWD, K_CE_BWD, K_NLL_FWD, K_CE_DENOM, K_FINAL, K_PW };
static const char *const kernel_fns[] = {"ce_fwd", "ce_bwd", "nll_fwd", "ce_denom", "loss_final", "pw_run"};

static const char *const class_names[] = {"cross_entropy", "nll_loss"};
static const char *const pw_names[] = {"mse_loss",    "l1_loss", "smooth_l1_loss", "huber_loss", "bce_loss",
                                       "bce_with_logits_loss", "kl_div"};
#define NPW ((int)(sizeof pw_names / sizeof pw_names[0]))
static const char *const red_names[] = {"none", "mean", "sum", "batchmean"};
static const char *const target_names[] = {"i32", "i64", "prob"};

#define MAX_COLS ((int64_t)1 << 30)
enum { WS_ALIGN = 256, NLL_THREADS = 256, FINAL_THREADS = 1024, DENOM_THREADS = 1024, PW_THREADS = 256 };

/* The kernels' argument block (struct brc::loss_args in loss.cuh): 8-byte fields only. */
typedef struct loss_args {
    const void *x, *t, *w, *pw, *dy;
    void *out, *dx, *lse, *part;
    int64_t rows, sx, st, sdx, ts, ls, ignore;
    double eps;
    int64_t nparts, D;
    double count;
} loss_args;
_Static_assert(sizeof(loss_args) == 20 * 8, "loss_args must match brc::loss_args");

typedef struct loss_geo {
    int vec, tpr, rpb, nv, iter;
} loss_geo;

typedef struct loss_impl {
    int cls;  /* 1: class loss; 0: pointwise */
    int kind; /* brc_class_loss_kind or brc_pointwise_loss_kind */
    int bwd;
    brc_dtype dt;
    size_t esize, csize;
    int prob, idx64, w, smooth, posw, logt, red;
    int64_t rows, cols;            /* class: N and C; pointwise: elements and the last dim */
    int64_t sx, st, sdx, ts, ls;   /* strides (elements) */
    int64_t ignore;
    double eps, count;
    loss_geo g;
    unsigned grid, threads;        /* the main kernel; grid 0: nothing to do */
    int64_t nparts;                /* forward partials */
    CUfunction fn, fn_extra;       /* extra: loss_final (forward mean / sum) or ce_denom */
    bool has_extra;
} loss_impl;

static const brc__plan_vt loss_vt = {NULL};

static int pow2ceil(int64_t n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

/* ---- layouts ------------------------------------------------------------------------------------- */

static bool is_float(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }

/* Flattens t to [rows, cols] with one row stride (the rules of rows.h). */
static brc_status as_rows(const brc_tensor_desc *t, const char *name, int64_t *rows, int64_t *cols,
                          int64_t *stride) {
    brc_status st = brc__tensor_check(t, name);
    if (st) return st;
    if (t->rank < 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: rank 0 has no class axis (rank must be >= 1)", name);
    int last = t->rank - 1;
    *cols = t->shape[last];
    if (*cols > 1 && t->strides[last] != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: the last dim has stride %lld; rows must be contiguous (stride 1)", name,
                          (long long)t->strides[last]);
    int64_t r = 1, s = *cols, expect = 0;
    bool have = false;
    for (int d = last - 1; d >= 0; d--) {
        r *= t->shape[d];
        if (t->shape[d] == 1) continue;
        if (have && t->strides[d] != expect)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: the leading dims do not flatten to rows with one stride (dim %d has stride "
                              "%lld, %lld expected)",
                              name, d, (long long)t->strides[d], (long long)expect);
        if (!have) s = t->strides[d];
        have = true;
        if (__builtin_mul_overflow(t->strides[d], t->shape[d], &expect)) expect = 0;
    }
    *rows = r;
    *stride = s;
    return BRC_STATUS_OK;
}

/* Flattens t to a vector of n elements with one element stride. */
static brc_status as_vector(const brc_tensor_desc *t, const char *name, int64_t *n, int64_t *stride) {
    brc_status st = brc__tensor_check(t, name);
    if (st) return st;
    int64_t cnt = 1, s = 1, expect = 0;
    bool have = false;
    for (int d = t->rank - 1; d >= 0; d--) {
        cnt *= t->shape[d];
        if (t->shape[d] == 1) continue;
        if (have && t->strides[d] != expect)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: the dims do not flatten to one stride (dim %d has stride %lld, %lld expected)",
                              name, d, (long long)t->strides[d], (long long)expect);
        if (!have) s = t->strides[d];
        have = true;
        if (__builtin_mul_overflow(t->strides[d], t->shape[d], &expect)) expect = 0;
    }
    *n = cnt;
    *stride = s;
    return BRC_STATUS_OK;
}

static brc_status same_dtype(const char *fam, const brc_tensor_desc *t, const char *name, brc_dtype want,
                             const char *ref) {
    if (t->dtype == want) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s has %s", fam, name,
                      brc_dtype_name(t->dtype), ref, brc_dtype_name(want));
}

static brc_status check_flag(const char *fam, const char *name, int v) {
    if (v == 0 || v == 1) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s = %d must be 0 or 1", fam, name, v);
}

/* A contiguous tensor: element strides of a row-major array (dims of size 1 excepted). */
static brc_status check_contig(const char *fam, const brc_tensor_desc *t, const char *name) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s", fam, name);
    brc_status st = brc__tensor_check(t, what);
    if (st) return st;
    int64_t expect = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: %s must be contiguous (dim %d has stride %lld, %lld expected)", fam, name, d,
                              (long long)t->strides[d], (long long)expect);
        expect *= t->shape[d];
    }
    return BRC_STATUS_OK;
}

/* The loss (forward output) or dy (backward input): none: n elements with one stride; else one. */
static brc_status check_loss(const char *fam, const brc_tensor_desc *t, const char *name, brc_dtype dt, int red,
                             int64_t n, int64_t *stride) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s", fam, name);
    int64_t cnt = 0;
    brc_status st = as_vector(t, what, &cnt, stride);
    if (st) return st;
    if ((st = same_dtype(fam, t, name, dt, "input"))) return st;
    int64_t want = red == 0 ? n : 1;
    if (cnt != want)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has %lld elements; reduction %s needs %lld", fam, name,
                          (long long)cnt, red_names[red], (long long)want);
    return BRC_STATUS_OK;
}

static int default_vec(int64_t cols, size_t esize) {
    int v = (int)(16 / esize);
    while (v > 1 && cols % v) v /= 2;
    return v;
}

/* The class losses' row geometry: a thread holds `target` bytes of a row per chunk (64 forward, 32
 * per array backward), up to 256 (forward) or 512 (backward) threads a row, several rows a CTA for
 * short rows (128 threads), and as many chunks as the row needs. */
static loss_geo pick_geo(int64_t cols, int vec, size_t esize, bool bwd) {
    /* Forward rows longer than 256 threads' worth stream in more chunks rather than wider CTAs
     * (measured on an H100: 8192x32768 bf16 51% -> 72% of copy, f32 90% -> 101%), and 16-bit rows
     * that take several chunks do so with 32 bytes a thread (bf16 32768: 80% -> 88%, 131072: 91% ->
     * 94%; one-chunk rows lose with it: 4096 85% -> 60%). */
    int maxtpr = bwd ? 512 : 256;
    int bytes = bwd ? 32 : 64;
    if (!bwd && esize == 2 && cols / vec > (int64_t)maxtpr * (64 / (int64_t)esize / vec)) bytes = 32;
    bytes = brc__knob("BARACUDA_LOSS_BYTES", 16, 256, bytes); /* a thread's bytes a chunk (measurements) */
    int target = (int)(bytes / (int)esize);
    if (target < vec) target = vec;
    int64_t nvec = cols / vec, nvt = target / vec;
    int64_t need = brc__cdiv(nvec, nvt);
    loss_geo g = {vec, 1, 1, 1, 1};
    if (need <= maxtpr) {
        g.tpr = pow2ceil(need);
        g.nv = (int)brc__cdiv(nvec, g.tpr);
        g.rpb = g.tpr < 128 ? 128 / g.tpr : 1;
        return g;
    }
    g.tpr = maxtpr;
    g.nv = (int)nvt;
    g.iter = (int)brc__cdiv(nvec, (int64_t)maxtpr * g.nv);
    return g;
}

/* ---- kernels ------------------------------------------------------------------------------------- */

static const char *storage_type(brc_dtype t) {
    switch (t) {
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    default: return "float";
    }
}

static brc_status get_kernel(brc_context *ctx, const loss_impl *im, int kid, const char *desc, CUfunction *fn) {
    /* Fields a kernel does not read are zeroed, so that plans share it (loss_final, ce_denom). */
    loss_geo g = im->g;
    int64_t cols = im->cols;
    int nll = im->cls && im->kind == BRC_LOSS_NLL, prob = im->prob, idx64 = im->idx64, w = im->w;
    int smooth = im->smooth, posw = im->posw, logt = im->logt, red = im->red, kind = im->kind, bwd = im->bwd;
    unsigned threads = im->threads;
    const char *suffix = "";
    if (kid == K_FINAL || kid == K_CE_DENOM || kid == K_NLL_FWD || kid == K_PW) {
        g = (loss_geo){kid == K_PW ? g.vec : 1, 1, 1, 1, 1};
        if (kid == K_FINAL) nll = prob = idx64 = w = smooth = posw = logt = kind = bwd = 0;
        if (kid == K_CE_DENOM) nll = prob = smooth = posw = logt = kind = bwd = 0, red = 1;
        if (kid == K_FINAL || kid == K_PW) cols = 0; /* pos_weight's length is a run-time argument */
        threads = kid == K_FINAL ? FINAL_THREADS : kid == K_CE_DENOM ? DENOM_THREADS : threads;
        suffix = kid == K_FINAL ? "+final" : kid == K_CE_DENOM ? "+denom" : "";
    }
    int cls = im->cls;
    int flags = nll | prob << 1 | idx64 << 2 | w << 3 | smooth << 4 | posw << 5 | logt << 6 | cls << 7 | bwd << 8;
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_loss {\n"
                  "  typedef %s T;\n  typedef %s C;\n"
                  "  enum { COLS = %lld, VEC = %d, TPR = %d, RPB = %d, CL = 1, NV = %d, ITER = %d,\n"
                  "         NLL = %d, PROB = %d, IDX64 = %d, W = %d, SMOOTH = %d, RED = %d, CLASS = %d,\n"
                  "         KIND = %d, POSW = %d, LOGT = %d, BWD = %d };\n"
                  "};\n"
                  "__global__ void __launch_bounds__(%u)\n"
                  "brc_loss_kernel(brc::loss_args a) { brc::%s<brc_loss>(a); }\n",
                  storage_type(im->dt), im->csize == 8 ? "double" : "float", (long long)cols, g.vec, g.tpr, g.rpb,
                  g.nv, g.iter, nll, prob, idx64, w, smooth, red, cls, cls ? 0 : kind, posw, logt, bwd, threads,
                  kernel_fns[kid]);
    brc__str kd = {0};
    brc__str_addf(&kd, "%s%s", desc, suffix);
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "rows.cuh", "loss.cuh", NULL};
        brc__kernel_req req = {
            .template_name = "loss", .sources = sources, .nspec = 12,
            .spec = {kid, im->dt, cols, g.vec, g.tpr, g.rpb, g.nv, g.iter, cls ? 0 : kind, flags, red, threads},
            .snippet = snip.p, .name_expr = "brc_loss_kernel", .descriptor = kd.p};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* A grid for `groups` units of work: every unit once, at most `waves` waves of CTAs (a
 * grid-stride loop covers the rest); the partial count of a reduction is this grid. */
static unsigned grid_for(const brc_context *ctx, int64_t groups, unsigned threads, int waves) {
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
    int per_sm = 2048 / (int)threads;
    int64_t cap = (int64_t)sms * (per_sm > 1 ? per_sm : 1) * waves;
    return (unsigned)(groups < cap ? groups : cap);
}

/* Vector width: the widest that divides `cols` (class losses) and every stride, or the preference. */
static brc_status pick_vec(const char *fam, const brc_plan_prefs *prefs, int64_t cols, size_t esize,
                           const int64_t *strides, const char *const *snames, int ns, int64_t rows, int *vec,
                           bool *noted) {
    int vmax = (int)(16 / esize), v = cols > 0 ? default_vec(cols, esize) : vmax;
    bool forced = prefs->vector_width != 0;
    if (forced) {
        int f = prefs->vector_width;
        if (f < 1 || f > vmax || (f & (f - 1)) || (cols > 0 && cols % f))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: vector_width %d must be a power of two <= %d%s", fam, f, vmax,
                              cols > 0 ? " dividing the class count" : "");
        v = f;
    }
    if (rows > 1)
        for (int i = 0; i < ns; i++) {
            if (forced && strides[i] % v)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d does not divide the row stride %lld of %s",
                                  fam, v, (long long)strides[i], snames[i]);
            while (v > 1 && strides[i] % v) v /= 2;
        }
    *vec = v;
    *noted = forced || v != (cols > 0 ? default_vec(cols, esize) : vmax);
    return BRC_STATUS_OK;
}

/* ---- class losses: planning ---------------------------------------------------------------------- */

static brc_status class_plan(brc_context *ctx, const brc_cross_entropy_desc *d, const brc_tensor_desc *dinput,
                             const brc_plan_prefs *prefs_in, brc_plan **out) {
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    bool bwd = dinput != NULL;
    if (d->kind != BRC_LOSS_CROSS_ENTROPY && d->kind != BRC_LOSS_NLL)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "class loss: kind %d is neither cross_entropy nor nll_loss",
                          (int)d->kind);
    const char *fam = class_names[d->kind];
    bool nll = d->kind == BRC_LOSS_NLL;
    char what[96];
    int64_t N = 0, C = 0, sx = 0;
    snprintf(what, sizeof what, "%s: input", fam);
    if ((st = as_rows(&d->input, what, &N, &C, &sx))) return st;
    brc_dtype dt = d->input.dtype;
    if (!is_float(dt))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", fam,
                          brc_dtype_name(dt));
    if (C < 1 || C > MAX_COLS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: classes = %lld is outside 1..2^30", fam, (long long)C);
    if ((st = check_flag(fam, "has_weight", d->has_weight))) return st;
    if (d->target_kind != BRC_TARGET_INDEX && d->target_kind != BRC_TARGET_PROB)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: target_kind %d is not a target kind", fam,
                          (int)d->target_kind);
    bool prob = d->target_kind == BRC_TARGET_PROB;
    if (prob && nll)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "nll_loss: takes class indices, not probability targets");
    if ((int)d->reduction < 0 || (int)d->reduction > 3)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: reduction %d is not a reduction", fam, (int)d->reduction);
    if (d->reduction == BRC_REDUCTION_BATCHMEAN)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: reduction batchmean is kl_div's only (none, mean, sum)",
                          fam);
    if (!(d->label_smoothing >= 0 && d->label_smoothing <= 1))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: label_smoothing = %g is outside [0, 1]", fam,
                          d->label_smoothing);
    if (nll && d->label_smoothing != 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "nll_loss: has no label smoothing (label_smoothing must be 0)");

    int64_t st_row = 0, ts = 0, ls = 0, sdx = 0;
    int idx64 = 0;
    snprintf(what, sizeof what, "%s: target", fam);
    if (prob) {
        int64_t tr = 0, tc = 0;
        if ((st = as_rows(&d->target, what, &tr, &tc, &st_row))) return st;
        if ((st = same_dtype(fam, &d->target, "target", dt, "input"))) return st;
        if (!brc__same_shape(&d->target, &d->input))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: target and input differ in shape (probability targets)",
                              fam);
    } else {
        int64_t tn = 0;
        if ((st = as_vector(&d->target, what, &tn, &ts))) return st;
        if (d->target.dtype != BRC_I32 && d->target.dtype != BRC_I64)
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: target has dtype %s; class indices are i32 or i64", fam,
                              brc_dtype_name(d->target.dtype));
        if (tn != N)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: target has %lld elements, input has %lld rows", fam,
                              (long long)tn, (long long)N);
        idx64 = d->target.dtype == BRC_I64;
    }
    if (d->has_weight) {
        if ((st = check_contig(fam, &d->weight, "weight")) || (st = same_dtype(fam, &d->weight, "weight", dt, "input")))
            return st;
        if (brc_tensor_desc_numel(&d->weight) != C)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: weight has %lld elements, not the %lld classes", fam,
                              (long long)brc_tensor_desc_numel(&d->weight), (long long)C);
    }
    if ((st = check_loss(fam, &d->loss, bwd ? "dy" : "loss", dt, (int)d->reduction, N, &ls))) return st;
    if (bwd) {
        int64_t r2 = 0, c2 = 0;
        snprintf(what, sizeof what, "%s: dinput", fam);
        if ((st = as_rows(dinput, what, &r2, &c2, &sdx)) || (st = same_dtype(fam, dinput, "dinput", dt, "input")))
            return st;
        if (!brc__same_shape(dinput, &d->input))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dinput and input differ in shape", fam);
        int64_t as = sdx < 0 ? -sdx : sdx;
        if (N > 1 && as < C)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dinput has row stride %lld < classes %lld: its rows "
                              "would overlap", fam, (long long)sdx, (long long)C);
    }

    size_t esize = brc_dtype_size(dt), csize = dt == BRC_F64 ? 8 : 4;
    int64_t strides[3] = {sx, st_row, sdx};
    const char *snames[3] = {"input", "target", "dinput"};
    /* The strides a vectorized kernel walks: input (not read by nll_loss backward), the probability
     * target, dinput. nll_loss forward reads single elements: its vector width is the backward's. */
    int64_t vs[3];
    const char *vn[3];
    int nvs = 0;
    if (!(nll && bwd)) vs[nvs] = sx, vn[nvs++] = snames[0];
    if (prob) vs[nvs] = st_row, vn[nvs++] = snames[1];
    if (bwd) vs[nvs] = sdx, vn[nvs++] = snames[2];
    (void)strides;
    int vec = 1;
    bool vnote = false;
    if ((st = pick_vec(fam, prefs, C, esize, vs, vn, nvs, N, &vec, &vnote))) return st;

    int smooth = d->label_smoothing > 0;
    int red = (int)d->reduction;
    brc__str desc = {0}, sku = {0};
    const char *tn = prob ? target_names[2] : target_names[idx64];
    brc__str_addf(&desc, "%s(dtype=%s,classes=%lld,target=%s,weight=%d", fam, brc_dtype_name(dt), (long long)C, tn,
                  d->has_weight);
    if (!nll) brc__str_addf(&desc, ",smoothing=%d", smooth);
    brc__str_addf(&desc, ",reduction=%s", red_names[red]);
    if (vnote) brc__str_addf(&desc, ",vec=%d", vec);
    brc__str_addf(&desc, ",dir=%s)", bwd ? "bwd" : "fwd");

    loss_geo g = pick_geo(C, vec, esize, bwd);
    bool nll_fwd = nll && !bwd;
    bool extra = bwd ? (red == 1 && !prob) : red != 0;
    if (nll_fwd)
        brc__str_addf(&sku, "bespoke:%s<%s,classes=%lld,target=%s,threads=%d%s,%s,fwd>", fam, brc_dtype_name(dt),
                      (long long)C, tn, NLL_THREADS, d->has_weight ? ",weight" : "", red_names[red]);
    else
        brc__str_addf(&sku, "bespoke:%s<%s,classes=%lld,target=%s,vec=%d,tpr=%d,rpb=%d,chunks=%d%s%s,%s,%s>", fam,
                      brc_dtype_name(dt), (long long)C, tn, g.vec, g.tpr, g.rpb, g.iter,
                      d->has_weight ? ",weight" : "", smooth ? ",smoothing" : "", red_names[red], bwd ? "bwd" : "fwd");
    brc__str_addf(&sku, "%s@%s", extra ? (bwd ? "+denom" : "+final") : "", ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, bwd ? BRC__FAM_CLASS_LOSS_BWD : BRC__FAM_CLASS_LOSS, &loss_vt, sizeof(loss_impl), &p)))
        goto fail;
    loss_impl *im = p->impl;
    *im = (loss_impl){.cls = 1, .kind = (int)d->kind, .bwd = bwd, .dt = dt, .esize = esize, .csize = csize,
                      .prob = prob, .idx64 = idx64, .w = d->has_weight, .smooth = smooth, .red = red, .rows = N,
                      .cols = C, .sx = sx, .st = st_row, .sdx = sdx, .ts = ts, .ls = ls, .ignore = d->ignore_index,
                      .eps = d->label_smoothing, .count = (double)N, .g = g, .has_extra = extra};
    if (nll_fwd) {
        im->threads = NLL_THREADS;
        im->grid = grid_for(ctx, brc__cdiv(N, NLL_THREADS), NLL_THREADS, 1);
    } else {
        im->threads = (unsigned)(g.tpr * g.rpb);
        /* Up to 4 waves: CTAs that finish early are replaced (a one-wave persistent grid idles
         * up to a row per CTA at the end), and the partials stay few enough for one CTA to add. */
        im->grid = grid_for(ctx, brc__cdiv(N, g.rpb), im->threads, 4);
    }
    if (!bwd && red != 0) {
        im->nparts = im->grid;
        p->workspace = (size_t)im->nparts * 2 * csize;
    }
    if (bwd && extra) p->workspace = csize;
    if (p->workspace) p->workspace = (p->workspace + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;

    int kid = bwd ? K_CE_BWD : nll ? K_NLL_FWD : K_CE_FWD;
    if ((st = get_kernel(ctx, im, kid, desc.p, &im->fn))) goto fail;
    if (extra && (st = get_kernel(ctx, im, bwd ? K_CE_DENOM : K_FINAL, desc.p, &im->fn_extra))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;

fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

brc_status brc_cross_entropy_plan(brc_context *ctx, const brc_cross_entropy_desc *d, const brc_plan_prefs *prefs,
                                  brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_cross_entropy_plan");
    if (st) return st;
    return class_plan(ctx, d, NULL, prefs, out);
}

brc_status brc_cross_entropy_backward_plan(brc_context *ctx, const brc_cross_entropy_backward_desc *d,
                                           const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_cross_entropy_backward_plan");
    if (st) return st;
    return class_plan(ctx, &d->forward, &d->dinput, prefs, out);
}

/* ---- pointwise losses: planning ------------------------------------------------------------------ */

static brc_status pw_plan(brc_context *ctx, const brc_pointwise_loss_desc *d, const brc_tensor_desc *dinput,
                          const brc_plan_prefs *prefs_in, brc_plan **out) {
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    bool bwd = dinput != NULL;
    if ((int)d->kind < 0 || (int)d->kind >= NPW)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "pointwise loss: kind %d is not a pointwise loss kind",
                          (int)d->kind);
    int kind = (int)d->kind;
    const char *fam = pw_names[kind];
    if ((st = check_contig(fam, &d->input, "input"))) return st;
    brc_dtype dt = d->input.dtype;
    if (!is_float(dt))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", fam,
                          brc_dtype_name(dt));
    if ((st = check_contig(fam, &d->target, "target")) || (st = same_dtype(fam, &d->target, "target", dt, "input")))
        return st;
    if (!brc__same_shape(&d->target, &d->input))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: target and input differ in shape", fam);
    if ((st = check_flag(fam, "has_weight", d->has_weight)) ||
        (st = check_flag(fam, "has_pos_weight", d->has_pos_weight)) ||
        (st = check_flag(fam, "log_target", d->log_target)))
        return st;
    if (d->has_weight && kind != BRC_LOSS_BCE && kind != BRC_LOSS_BCE_WITH_LOGITS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: has no weight (bce_loss and "
                          "bce_with_logits_loss only)", fam);
    if (d->has_pos_weight && kind != BRC_LOSS_BCE_WITH_LOGITS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: has no pos_weight (bce_with_logits_loss only)",
                          fam);
    if (d->log_target && kind != BRC_LOSS_KL_DIV)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: has no log_target (kl_div only)", fam);
    int64_t n = brc_tensor_desc_numel(&d->input);
    int64_t D = d->input.rank > 0 ? d->input.shape[d->input.rank - 1] : 1;
    if (d->has_weight) {
        if ((st = check_contig(fam, &d->weight, "weight")) || (st = same_dtype(fam, &d->weight, "weight", dt, "input")))
            return st;
        if (!brc__same_shape(&d->weight, &d->input))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: weight and input differ in shape", fam);
    }
    if (d->has_pos_weight) {
        if ((st = check_contig(fam, &d->pos_weight, "pos_weight")) ||
            (st = same_dtype(fam, &d->pos_weight, "pos_weight", dt, "input")))
            return st;
        if (brc_tensor_desc_numel(&d->pos_weight) != D)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: pos_weight has %lld elements, not the last dim's %lld",
                              fam, (long long)brc_tensor_desc_numel(&d->pos_weight), (long long)D);
    }
    int red = (int)d->reduction;
    if (red < 0 || red > 3)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: reduction %d is not a reduction", fam, red);
    if (red == BRC_REDUCTION_BATCHMEAN && kind != BRC_LOSS_KL_DIV)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: reduction batchmean is kl_div's only (none, mean, sum)", fam);
    if (red == BRC_REDUCTION_BATCHMEAN && d->input.rank < 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: batchmean needs a batch dim (rank >= 1)", fam);
    if (kind == BRC_LOSS_SMOOTH_L1 && !(d->param >= 0 && isfinite(d->param)))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: beta = %g must be >= 0 and finite", fam, d->param);
    if (kind == BRC_LOSS_HUBER && !(d->param > 0 && isfinite(d->param)))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: delta = %g must be > 0 and finite", fam, d->param);
    const char *lname = bwd ? "dy" : "loss";
    if (red == 0) {
        if ((st = check_contig(fam, &d->loss, lname)) || (st = same_dtype(fam, &d->loss, lname, dt, "input"))) return st;
        if (!brc__same_shape(&d->loss, &d->input))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and input differ in shape (reduction none)", fam,
                              lname);
    } else {
        int64_t ls = 0;
        if ((st = check_loss(fam, &d->loss, lname, dt, red, n, &ls))) return st;
    }
    if (bwd) {
        if ((st = check_contig(fam, dinput, "dinput")) || (st = same_dtype(fam, dinput, "dinput", dt, "input")))
            return st;
        if (!brc__same_shape(dinput, &d->input))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dinput and input differ in shape", fam);
    }
    size_t esize = brc_dtype_size(dt), csize = dt == BRC_F64 ? 8 : 4;
    int vec = 1;
    bool vnote = false;
    if ((st = pick_vec(fam, prefs, 0, esize, NULL, NULL, 0, 0, &vec, &vnote))) return st;

    brc__str desc = {0}, sku = {0};
    brc__str_addf(&desc, "%s(dtype=%s", fam, brc_dtype_name(dt));
    if (kind == BRC_LOSS_BCE || kind == BRC_LOSS_BCE_WITH_LOGITS) brc__str_addf(&desc, ",weight=%d", d->has_weight);
    if (kind == BRC_LOSS_BCE_WITH_LOGITS) brc__str_addf(&desc, ",pos_weight=%d", d->has_pos_weight);
    if (kind == BRC_LOSS_KL_DIV) brc__str_addf(&desc, ",log_target=%d", d->log_target);
    brc__str_addf(&desc, ",reduction=%s", red_names[red]);
    if (vnote) brc__str_addf(&desc, ",vec=%d", vec);
    brc__str_addf(&desc, ",dir=%s)", bwd ? "bwd" : "fwd");
    bool extra = !bwd && red != 0;
    brc__str_addf(&sku, "bespoke:%s<%s,vec=%d,threads=%d%s%s%s,%s,%s>%s@%s", fam, brc_dtype_name(dt), vec, PW_THREADS,
                  d->has_weight ? ",weight" : "", d->has_pos_weight ? ",pos_weight" : "",
                  d->log_target ? ",log_target" : "", red_names[red], bwd ? "bwd" : "fwd", extra ? "+final" : "",
                  ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, bwd ? BRC__FAM_PW_LOSS_BWD : BRC__FAM_PW_LOSS, &loss_vt, sizeof(loss_impl), &p)))
        goto fail;
    loss_impl *im = p->impl;
    double count = red == BRC_REDUCTION_BATCHMEAN ? (double)d->input.shape[0] : (double)n;
    *im = (loss_impl){.cls = 0, .kind = kind, .bwd = bwd, .dt = dt, .esize = esize, .csize = csize,
                      .w = d->has_weight, .posw = d->has_pos_weight, .logt = d->log_target, .red = red, .rows = n,
                      .cols = D, .eps = d->param, .count = count, .g = {vec, 1, 1, 1, 1}, .threads = PW_THREADS,
                      .has_extra = extra};
    int64_t nv = n / vec;
    im->grid = n == 0 ? 0 : grid_for(ctx, nv > 0 ? brc__cdiv(nv, PW_THREADS) : 1, PW_THREADS, 1);
    if (extra) {
        im->nparts = im->grid;
        p->workspace = (size_t)(im->nparts > 0 ? im->nparts : 1) * 2 * csize;
        p->workspace = (p->workspace + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    }
    if ((st = get_kernel(ctx, im, K_PW, desc.p, &im->fn))) goto fail;
    if (extra && (st = get_kernel(ctx, im, K_FINAL, desc.p, &im->fn_extra))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;

fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

brc_status brc_pointwise_loss_plan(brc_context *ctx, const brc_pointwise_loss_desc *d, const brc_plan_prefs *prefs,
                                   brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_pointwise_loss_plan");
    if (st) return st;
    return pw_plan(ctx, d, NULL, prefs, out);
}

brc_status brc_pointwise_loss_backward_plan(brc_context *ctx, const brc_pointwise_loss_backward_desc *d,
                                            const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_pointwise_loss_backward_plan");
    if (st) return st;
    return pw_plan(ctx, &d->forward, &d->dinput, prefs, out);
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------- */

brc_status brc__loss_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int cls = -1, pw = -1;
    for (int i = 0; i < 2; i++)
        if (strcmp(d->family, class_names[i]) == 0) cls = i;
    for (int i = 0; i < NPW; i++)
        if (strcmp(d->family, pw_names[i]) == 0) pw = i;
    if (cls < 0 && pw < 0) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "'%s' is not a loss family", d->family);
    }
    static const char *const dirs[] = {"fwd", "bwd"};
    brc_dtype dt = BRC_F32;
    int64_t vec = 0, w = 0, sm = 0, posw = 0, logt = 0, classes = 0;
    int dir = 0, red = 0, tk = 0;
    brc_status st;
    if ((st = brc__desc_dtype(d, "dtype", &dt))) return st;
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    if (cls >= 0) {
        if ((st = brc__desc_int(d, "classes", 1, MAX_COLS, -1, &classes))) return st;
        if (classes < 0) {
            const char *unused;
            return brc__desc_need(d, "classes", &unused);
        }
        if ((st = brc__desc_pick(d, "target", target_names, cls == 0 ? 3 : 2, 1, &tk)) ||
            (st = brc__desc_int(d, "weight", 0, 1, 0, &w)) ||
            (cls == 0 && (st = brc__desc_int(d, "smoothing", 0, 1, 0, &sm))) ||
            (st = brc__desc_pick(d, "reduction", red_names, 3, 1, &red)) ||
            (st = brc__desc_int(d, "vec", 1, 16, 0, &vec)) || (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)))
            return st;
        prefs.vector_width = (int)vec;
        /* One row: the kernels do not depend on the row count. */
        int64_t shape[2] = {1, classes}, one = 1;
        brc_cross_entropy_desc c = {0};
        c.kind = cls == 1 ? BRC_LOSS_NLL : BRC_LOSS_CROSS_ENTROPY;
        brc_tensor_desc_contiguous(&c.input, dt, 2, shape);
        c.target_kind = tk == 2 ? BRC_TARGET_PROB : BRC_TARGET_INDEX;
        if (tk == 2) c.target = c.input;
        else brc_tensor_desc_contiguous(&c.target, tk == 1 ? BRC_I64 : BRC_I32, 1, &one);
        c.has_weight = (int)w;
        brc_tensor_desc_contiguous(&c.weight, dt, 1, &classes);
        c.ignore_index = -100;
        c.label_smoothing = sm ? 0.1 : 0;
        c.reduction = (brc_loss_reduction)red;
        brc_tensor_desc_contiguous(&c.loss, dt, red == 0 ? 1 : 0, &one);
        if (dir == 0) return brc_cross_entropy_plan(ctx, &c, &prefs, out);
        brc_cross_entropy_backward_desc b = {c, c.input};
        return brc_cross_entropy_backward_plan(ctx, &b, &prefs, out);
    }
    bool bce = pw == BRC_LOSS_BCE || pw == BRC_LOSS_BCE_WITH_LOGITS;
    if ((bce && (st = brc__desc_int(d, "weight", 0, 1, 0, &w))) ||
        (pw == BRC_LOSS_BCE_WITH_LOGITS && (st = brc__desc_int(d, "pos_weight", 0, 1, 0, &posw))) ||
        (pw == BRC_LOSS_KL_DIV && (st = brc__desc_int(d, "log_target", 0, 1, 0, &logt))) ||
        (st = brc__desc_pick(d, "reduction", red_names, pw == BRC_LOSS_KL_DIV ? 4 : 3, 1, &red)) ||
        (st = brc__desc_int(d, "vec", 1, 16, 0, &vec)) || (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)))
        return st;
    prefs.vector_width = (int)vec;
    int64_t shape[2] = {4, 256}, one = 1, last = 256;
    brc_pointwise_loss_desc p = {0};
    p.kind = (brc_pointwise_loss_kind)pw;
    brc_tensor_desc_contiguous(&p.input, dt, 2, shape);
    p.target = p.input;
    p.has_weight = (int)w;
    p.weight = p.input;
    p.has_pos_weight = (int)posw;
    brc_tensor_desc_contiguous(&p.pos_weight, dt, 1, &last);
    p.reduction = (brc_loss_reduction)red;
    p.param = 1.0;
    p.log_target = (int)logt;
    if (red == 0) p.loss = p.input;
    else brc_tensor_desc_contiguous(&p.loss, dt, 0, &one);
    if (dir == 0) return brc_pointwise_loss_plan(ctx, &p, &prefs, out);
    brc_pointwise_loss_backward_desc b = {p, p.input};
    return brc_pointwise_loss_backward_plan(ctx, &b, &prefs, out);
}

static brc_status launch(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned threads, loss_args *a,
                         brc_stream stream) {
    void *args[1] = {a};
    CUresult r = brc__cu()->cuLaunchKernel(fn, grid, 1, 1, threads, 1, 1, 0, (CUstream)stream, args, NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

static loss_args args_of(const loss_impl *im, void *ws) {
    return (loss_args){.part = ws, .rows = im->rows, .sx = im->sx, .st = im->st, .sdx = im->sdx, .ts = im->ts,
                       .ls = im->ls, .ignore = im->ignore, .eps = im->eps, .nparts = im->nparts, .D = im->cols,
                       .count = im->count};
}

brc_status brc_cross_entropy_run(const brc_plan *plan, const void *input, const void *target, const void *weight,
                                 void *loss, void *lse, void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_cross_entropy_run";
    brc_status st = brc__run_start(plan, BRC__FAM_CLASS_LOSS, fn, workspace, workspace_size);
    if (st) return st;
    const loss_impl *im = plan->impl;
    bool nll = im->kind == BRC_LOSS_NLL;
    size_t al = nll ? im->esize : (size_t)im->g.vec * im->esize;
    if (im->rows > 0 || im->red != 0)
        if ((st = brc__need_ptr(loss, im->esize, fn, "loss", plan))) return st;
    if (im->grid > 0) {
        if ((st = brc__need_ptr(input, al, fn, "input", plan)) ||
            (st = brc__need_ptr(target, im->prob ? al : (im->idx64 ? 8 : 4), fn, "target", plan)) ||
            (im->w && (st = brc__need_ptr(weight, al, fn, "weight", plan))) ||
            (lse && !nll && (st = brc__need_ptr(lse, im->csize, fn, "lse", plan))))
            return st;
    }
    loss_args a = args_of(im, workspace);
    a.x = input;
    a.t = target;
    a.w = im->w ? weight : NULL;
    a.out = loss;
    a.lse = nll ? NULL : lse;
    if (im->grid > 0 && (st = launch(plan, im->fn, im->grid, im->threads, &a, stream))) return st;
    if (im->has_extra) return launch(plan, im->fn_extra, 1, FINAL_THREADS, &a, stream);
    return BRC_STATUS_OK;
}

brc_status brc_cross_entropy_backward_run(const brc_plan *plan, const void *input, const void *target,
                                          const void *weight, const void *lse, const void *dy, void *dinput,
                                          void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_cross_entropy_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_CLASS_LOSS_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const loss_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    bool nll = im->kind == BRC_LOSS_NLL;
    size_t al = (size_t)im->g.vec * im->esize;
    if ((!nll && (st = brc__need_ptr(input, al, fn, "input", plan))) ||
        (st = brc__need_ptr(target, im->prob ? al : (im->idx64 ? 8 : 4), fn, "target", plan)) ||
        (im->w && (st = brc__need_ptr(weight, al, fn, "weight", plan))) ||
        (lse && !nll && (st = brc__need_ptr(lse, im->csize, fn, "lse", plan))) ||
        (st = brc__need_ptr(dy, im->esize, fn, "dy", plan)) || (st = brc__need_ptr(dinput, al, fn, "dinput", plan)))
        return st;
    if (!nll && dinput == input && im->rows > 1 && im->sdx != im->sx)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dinput is input with a different row stride (%s)", fn,
                          plan->descriptor);
    loss_args a = args_of(im, workspace);
    a.x = nll ? NULL : input;
    a.t = target;
    a.w = im->w ? weight : NULL;
    a.lse = nll ? NULL : (void *)(uintptr_t)lse;
    a.dy = dy;
    a.dx = dinput;
    if (im->has_extra && (st = launch(plan, im->fn_extra, 1, DENOM_THREADS, &a, stream))) return st;
    return launch(plan, im->fn, im->grid, im->threads, &a, stream);
}

static brc_status pw_check(const brc_plan *plan, const char *fn, const void *input, const void *target,
                           const void *weight, const void *pos_weight) {
    const loss_impl *im = plan->impl;
    size_t al = (size_t)im->g.vec * im->esize;
    brc_status st;
    if ((st = brc__need_ptr(input, al, fn, "input", plan)) || (st = brc__need_ptr(target, al, fn, "target", plan)) ||
        (im->w && (st = brc__need_ptr(weight, al, fn, "weight", plan))) ||
        (im->posw && (st = brc__need_ptr(pos_weight, im->esize, fn, "pos_weight", plan))))
        return st;
    return BRC_STATUS_OK;
}

brc_status brc_pointwise_loss_run(const brc_plan *plan, const void *input, const void *target, const void *weight,
                                  const void *pos_weight, void *loss, void *workspace, size_t workspace_size,
                                  brc_stream stream) {
    const char *fn = "brc_pointwise_loss_run";
    brc_status st = brc__run_start(plan, BRC__FAM_PW_LOSS, fn, workspace, workspace_size);
    if (st) return st;
    const loss_impl *im = plan->impl;
    if (im->grid == 0 && im->red == 0) return BRC_STATUS_OK;
    size_t al = (size_t)im->g.vec * im->esize;
    if ((st = brc__need_ptr(loss, im->red == 0 ? al : im->esize, fn, "loss", plan))) return st;
    if (im->grid > 0 && (st = pw_check(plan, fn, input, target, weight, pos_weight))) return st;
    loss_args a = args_of(im, workspace);
    a.x = input;
    a.t = target;
    a.w = im->w ? weight : NULL;
    a.pw = im->posw ? pos_weight : NULL;
    a.out = loss;
    if (im->grid > 0 && (st = launch(plan, im->fn, im->grid, PW_THREADS, &a, stream))) return st;
    if (im->has_extra) return launch(plan, im->fn_extra, 1, FINAL_THREADS, &a, stream);
    return BRC_STATUS_OK;
}

brc_status brc_pointwise_loss_backward_run(const brc_plan *plan, const void *input, const void *target,
                                           const void *weight, const void *pos_weight, const void *dy, void *dinput,
                                           void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_pointwise_loss_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_PW_LOSS_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const loss_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    size_t al = (size_t)im->g.vec * im->esize;
    if ((st = pw_check(plan, fn, input, target, weight, pos_weight)) ||
        (st = brc__need_ptr(dy, im->red == 0 ? al : im->esize, fn, "dy", plan)) ||
        (st = brc__need_ptr(dinput, al, fn, "dinput", plan)))
        return st;
    loss_args a = args_of(im, workspace);
    a.x = input;
    a.t = target;
    a.w = im->w ? weight : NULL;
    a.pw = im->posw ? pos_weight : NULL;
    a.dy = dy;
    a.dx = dinput;
    return launch(plan, im->fn, im->grid, PW_THREADS, &a, stream);
}
