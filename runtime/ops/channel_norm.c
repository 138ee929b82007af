/* The channel norm family: group_norm (instance_norm as G = C) and batch_norm over dense NCHW
 * tensors, forward and backward. Validates the operands, chooses vector widths and the batch_norm
 * slicing, generates the kernels' specialization (kernel_src/channel_norm.cuh), lays out the
 * workspace and launches the kernel sequence. Descriptor keys: docs/channel_norm.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* The kernels of channel_norm.cuh, by the id that the specialization tuple carries. */
enum { K_SEG, K_GN_FIN, K_GN_WB, K_PLANE, K_BN_FIN, K_APPLY, K_ONE, K_ONE_BWD, K_BN_ONE, K_COUNT };
static const char *const kernel_fns[] = {"seg",   "gn_fin", "gn_wb",      "plane", "bn_fin",
                                         "apply", "gn_one", "gn_one_bwd", "bn_one"};

enum { OP_GROUP, OP_BATCH };
static const char *const op_names[] = {"group_norm", "batch_norm"};

#define MAX_CHANNELS ((int64_t)1 << 24)
#define MAX_SPATIAL ((int64_t)1 << 40)
enum { THREADS = 256, WS_ALIGN = 256, MAX_SLICES = 65535, MAX_KERNELS = 4 };
/* gn_one: a group's slice a CTA in shared memory, at most ONE_SLICE bytes (three CTAs an SM on
 * sm_90; every arch from sm_80 on holds one); ONE_CL CTAs a group at most (a cluster; 1 before
 * sm_90); ONE_MIN bytes a group at least. */
enum { ONE_SLICE = 64 * 1024, ONE_CL = 8, ONE_MIN = 32 * 1024 };
/* bn_one: at most this many units a channel (more keep the two-read sequence); the most vectors a
 * unit can have (1024 threads x 16), for rebuilding a `reads=2` plan. */
enum { ONE_BN_UNITS = 96, ONE_BN_MAX_CHUNK = 1024 * 16 };
#define MAX_GRID ((int64_t)1 << 22)    /* grid-stride kernels (seg, apply) take any larger size */

/* The kernels' argument block (struct brc::cn_args in channel_norm.cuh): 8-byte fields only, so
 * the two layouts agree without padding rules. */
typedef struct cn_args {
    const void *x, *dy, *w, *b;
    void *out, *mean, *rstd, *rmean, *rvar, *dw, *db, *part, *coef;
    int64_t n, ns, slices;
    double eps, momentum;
    int64_t split;
    void *sync;
} cn_args;
_Static_assert(sizeof(cn_args) == 20 * 8, "cn_args must match brc::cn_args");

typedef struct cn_launch {
    int kid;
    CUfunction fn;
} cn_launch;

typedef struct cn_impl {
    int op, dir, eval, run;
    brc_dtype dt;
    size_t esize, csize;
    int64_t n, ch, groups, hw;
    int w, b;
    int vs, vp, va, tpb; /* vector widths of seg, plane, apply; plane threads */
    int cl;              /* group_norm by gn_one / gn_one_bwd: CTAs a group (0: the seg / fin / apply sequence) */
    int bv;              /* batch_norm training by bn_one: vectors a thread a chunk (0: plane / fin / apply) */
    int64_t split;       /* group_norm: warps per (n, c) segment; bn_one: units a channel (run-time values:
                          * they depend on N) */
    int64_t ns, slices;  /* batch_norm: samples per slice, slices */
    int64_t chunks;      /* batch_norm: plane CTAs per sample plane */
    double eps, momentum;
    size_t coef_off, part_off, sync_off; /* workspace layout (bytes) */
    int nk;
    cn_launch k[MAX_KERNELS];
} cn_impl;

static const brc__plan_vt cn_vt = {NULL};

static size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

static int pow2ceil(int64_t n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

/* The widest vector (at most 16 bytes, at most cap elements when cap > 0) dividing n. */
static int widest_vec(int64_t n, size_t esize, int cap) {
    int v = (int)(16 / esize);
    if (cap > 0 && cap < v) v = cap;
    while (v > 1 && n % v) v /= 2;
    return v;
}

/* ---- layouts ------------------------------------------------------------------------------------- */

typedef struct cn_shape {
    int64_t n, ch, hw;
} cn_shape;

/* Dense row-major (strides of dims of size 1 ignored). */
static bool is_dense(const brc_tensor_desc *t) {
    int64_t expect = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

/* Checks the operands against the first (x): rank 2..8, dense, same dtype and shape. */
static brc_status check_operands(const char *fam, const brc_tensor_desc *const *ts, const char *const *names, int n,
                                 cn_shape *s) {
    char what[96];
    for (int i = 0; i < n; i++) {
        const brc_tensor_desc *t = ts[i];
        snprintf(what, sizeof what, "%s: %s", fam, names[i]);
        brc_status st = brc__tensor_check(t, what);
        if (st) return st;
        if (t->rank < 2 || t->rank > 8)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s has rank %d; [N, C, *spatial] needs rank 2..8", what,
                              (int)t->rank);
        if (!is_dense(t))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s is not dense row-major (NCHW contiguous); channels-last and strided views are "
                              "not taken",
                              what);
        if (i == 0) {
            brc_dtype dt = t->dtype;
            if (dt != BRC_F32 && dt != BRC_F64 && dt != BRC_F16 && dt != BRC_BF16)
                return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", fam,
                                  brc_dtype_name(dt));
            continue;
        }
        if (t->dtype != ts[0]->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s has %s", fam, names[i],
                              brc_dtype_name(t->dtype), names[0], brc_dtype_name(ts[0]->dtype));
        if (!brc__same_shape(t, ts[0]))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s differ in shape", fam, names[i], names[0]);
    }
    const brc_tensor_desc *x = ts[0];
    s->n = x->shape[0];
    s->ch = x->shape[1];
    s->hw = 1;
    for (int d = 2; d < x->rank; d++) s->hw *= x->shape[d]; /* bounded by brc__tensor_check */
    if (s->ch < 1 || s->ch > MAX_CHANNELS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: C = %lld channels is outside 1..2^24", fam,
                          (long long)s->ch);
    if (s->hw < 1 || s->hw > MAX_SPATIAL)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: the spatial size %lld is outside 1..2^40 (no empty spatial dims)",
                          fam, (long long)s->hw);
    return BRC_STATUS_OK;
}

static brc_status check_flag(const char *fam, const char *name, int v) {
    if (v == 0 || v == 1) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s = %d must be 0 or 1", fam, name, v);
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

/* gn_one's dynamic shared memory: a group's slice (the backward's: of x and of dy). */
static size_t one_smem(const cn_impl *im) {
    return im->cl > 0 ? (size_t)(im->ch / im->groups * im->hw / im->cl) * im->esize * (im->dir ? 2 : 1) : 0;
}

/* Threads of a gn_one / gn_one_bwd CTA; BARACUDA_GN_THREADS (128..1024) for measurements. */
static int one_threads(void) {
    int t = brc__knob("BARACUDA_GN_THREADS", 128, 1024, THREADS);
    return t & (t - 1) ? THREADS : t;
}

/* gn_one's (dir 1: gn_one_bwd's) CTAs a group, or 0 where group_norm keeps the seg / fin / apply
 * sequence:
 * 16-byte vectors must divide HW; the group (CPG * HW contiguous elements) must be at least
 * ONE_MIN bytes and split into at most ONE_CL slices (clusters: sm_90) of at most ONE_SLICE
 * bytes, whole vectors each; the smallest such cluster. BARACUDA_GN_ONE=0 turns the path off
 * (measurements). */
static int pick_one(const brc_context *ctx, int64_t cpg, int64_t hw, size_t esize, int dir) {
    int major = 0, minor = 0;
    bool accel = false;
    brc__arch_parse(ctx->arch, &major, &minor, &accel);
    const int64_t v = 16 / (int64_t)esize, bytes = cpg * hw * (int64_t)esize;
    if (!brc__knob("BARACUDA_GN_ONE", 0, 1, 1) || hw % v || bytes < ONE_MIN) return 0;
    /* The backward (gn_one_bwd) holds x and dy (half the slice each) and whole channels a CTA, and
     * every thread the same vectors a channel. */
    if (dir && (hw / v) % one_threads()) return 0;
    for (int cl = 1; cl <= (major >= 9 ? ONE_CL : 1); cl *= 2)
        if (bytes / cl <= (dir ? ONE_SLICE / 2 : ONE_SLICE) && (cpg * hw) % (cl * v) == 0 && (!dir || cpg % cl == 0))
            return cl;
    return 0;
}

static unsigned threads_of(const cn_impl *im, int kid) {
    if (kid == K_PLANE || kid == K_BN_ONE) return (unsigned)im->tpb;
    return kid == K_ONE || kid == K_ONE_BWD ? (unsigned)one_threads() : THREADS;
}

static brc_status get_kernel(brc_context *ctx, const cn_impl *im, int kid, const char *desc, CUfunction *fn) {
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_cn {\n"
                  "  typedef %s T;\n  typedef %s C;\n"
                  "  static constexpr i64 CH = %lldLL, G = %lldLL, CPG = %lldLL, HW = %lldLL;\n"
                  "  enum { BN = %d, VS = %d, VP = %d, VA = %d, TPB = %d, W = %d, B = %d, DIR = %d, EVAL = %d,\n"
                  "         RUN = %d, CL = %d, ONE_THREADS = %d, BV = %d };\n"
                  "};\n"
                  "__global__ void __launch_bounds__(%u)",
                  storage_type(im->dt), im->csize == 8 ? "double" : "float", (long long)im->ch,
                  (long long)im->groups, (long long)(im->ch / im->groups), (long long)im->hw, im->op == OP_BATCH,
                  im->vs, im->vp, im->va, im->tpb, im->w, im->b, im->dir, im->eval, im->run, im->cl > 0 ? im->cl : 1,
                  one_threads(), im->bv > 0 ? im->bv : 1, threads_of(im, kid));
    if ((kid == K_ONE || kid == K_ONE_BWD) && im->cl > 1) brc__str_addf(&snip, " __cluster_dims__(%d, 1, 1)", im->cl);
    brc__str_addf(&snip, "\nbrc_cn_kernel(brc::cn_args a) { brc::%s<brc_cn>(a); }\n", kernel_fns[kid]);
    brc__str kd = {0};
    brc__str_addf(&kd, "%s+%s", desc, kernel_fns[kid]);
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "channel_norm.cuh", NULL};
        brc__kernel_req req = {
            .template_name = "channel_norm", .sources = sources, .nspec = 16,
            .spec = {kid, im->dt, im->op, im->ch, im->groups, im->hw, im->vs, im->vp, im->va, im->tpb | im->bv << 16,
                     im->w, im->b, im->dir, im->eval, im->run, im->cl ? im->cl | one_threads() << 8 : 0},
            .snippet = snip.p, .name_expr = "brc_cn_kernel", .descriptor = kd.p};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
        size_t smem = one_smem(im);
        if (!st && ctx->device >= 0 && (kid == K_ONE || kid == K_ONE_BWD) && smem > 48 * 1024) {
            CUresult r = brc__cu()->cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem);
            if (r != CUDA_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cuFuncSetAttribute(%zu bytes of shared memory): %s (%s)", smem,
                                brc__cu_errname(r), desc);
        }
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* ---- planning ------------------------------------------------------------------------------------ */

/* bn_one's units a channel (im->split) and its workspace: as many units as a chunk of every thread
 * needs to hold the channel in registers, at most half the CTAs the GPU holds at once (a channel's
 * units wait for each other; offline, where nothing runs, two an SM) and at most the channel's
 * vectors (BARACUDA_BN_ONE_QMAX lowers the cap: tests). Workspace: coef (unused), the partials
 * [CH][Q][2], the ticket and counters u32 [1 + CH]. */
static brc_status bn_one_units(brc_context *ctx, cn_impl *im, int sms, brc_plan *p) {
    int64_t m = im->n * (im->hw / im->vp), q = brc__cdiv(m, (int64_t)im->tpb * im->bv), most = 2 * (int64_t)sms;
    if (ctx->device >= 0) {
        int occ = 0;
        CUresult r = brc__cu()->cuOccupancyMaxActiveBlocksPerMultiprocessor(&occ, im->k[0].fn, im->tpb, 0);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuOccupancyMaxActiveBlocksPerMultiprocessor: %s (batch_norm)",
                              brc__cu_errname(r));
        most = (int64_t)occ * sms / 2;
    }
    int64_t cap = brc__knob("BARACUDA_BN_ONE_QMAX", 1, 1 << 20, 0); /* tests: units longer than a chunk */
    if (cap > 0 && q > cap) q = cap;
    if (q > most) q = most;
    if (q > m) q = m;
    if (q < 1) q = 1;
    im->split = q;
    im->sync_off = round_up(im->part_off + (size_t)(im->ch * q) * 2 * im->csize, WS_ALIGN);
    p->workspace = im->n > 0 ? im->sync_off + (size_t)(1 + im->ch) * 4 : 0;
    return BRC_STATUS_OK;
}

/* What a request is, after its family-specific checks. */
typedef struct cn_request {
    int op, dir, eval, run, w, b;
    int64_t groups;
    double eps, momentum;
    cn_shape s;
    brc_dtype dt;
} cn_request;

static brc_status plan_common(brc_context *ctx, const cn_request *rq, const brc_plan_prefs *prefs_in,
                              brc__family family, brc_plan **out) {
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    const char *fam = op_names[rq->op];
    size_t esize = brc_dtype_size(rq->dt), csize = rq->dt == BRC_F64 ? 8 : 4;
    int vmax = (int)(16 / esize), cap = prefs->vector_width;
    if (cap != 0 && (cap < 1 || cap > vmax || (cap & (cap - 1))))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fam, cap,
                          vmax);
    const int64_t P = rq->s.ch * rq->s.hw;
    int vs = widest_vec(rq->s.hw, esize, cap), va = widest_vec(P, esize, cap);
    bool forced = cap != 0 && cap < vmax;

    /* batch_norm's plane: one thread per vector of a sample's [C * HW] plane, up to 256 a CTA;
     * slices of N so that about four CTAs per SM run (each thread then walks ns samples; at
     * least 8, so that the partial states stay a small fraction of x). */
    int tpb = 0;
    if (rq->op == OP_BATCH) tpb = P / va >= THREADS ? THREADS : P / va <= 32 ? 32 : pow2ceil(P / va);
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
    bool reduce_bn = rq->op == OP_BATCH && !(rq->eval && rq->dir == 0);
    /* batch_norm eval backward: dx = rstd * dy * w needs no statistic of the pass, so the plane writes
     * it (x, dy read once, dx written once; before: plane + fin + apply read x and dy twice), and
     * bn_fin runs only for dweight / dbias. */
    bool eval_bwd = rq->op == OP_BATCH && rq->eval && rq->dir == 1;
    /* batch_norm training reads x (backward: x and dy) once by bn_one where 16-byte vectors divide HW:
     * units of a channel a CTA, held in registers across a wait for the channel's other units
     * (docs/channel_norm.md). 128 threads of 16 vectors (forward) or 12 of x and of dy (backward)
     * measured best on an H100 among 2-16 vectors and 64-256 threads (the more of x an SM holds,
     * the better, and more CTAs an SM for the same bytes). A channel of more than ONE_BN_UNITS
     * such units keeps the two-read sequence (its units wait too long for each other; H100, bn_one
     * against the sequence: f32 [32, 64, 112, 112] backward, 66 units, 154.6 / 182.0 us; bf16 [128,
     * 64, 112, 112] forward, 98 units, 228.6 / 229.4; f32 [128, 64, 112, 112] forward, 196 units,
     * 473.0 / 425.3), and its descriptor says `reads=2` (the choice depends on N, which descriptors
     * leave out). BARACUDA_BN_ONE=0 turns bn_one off; BARACUDA_BN_ONE_V (vectors a thread a chunk)
     * and BARACUDA_BN_ONE_TPB are for measurements. */
    int bv = 0, two = 0;
    if (reduce_bn && !rq->eval && !forced && rq->s.hw % vmax == 0 && brc__knob("BARACUDA_BN_ONE", 0, 1, 1)) {
        int v = brc__knob("BARACUDA_BN_ONE_V", 1, 16, rq->dir ? 12 : 16);
        int t = brc__knob("BARACUDA_BN_ONE_TPB", 64, 1024, 128);
        if (t & (t - 1)) t = 128;
        if (brc__cdiv(rq->s.n * (rq->s.hw / vmax), (int64_t)t * v) > ONE_BN_UNITS) two = 1;
        if (!two) bv = v, tpb = t, reduce_bn = false;
    }
    int64_t chunks = rq->op == OP_BATCH ? brc__cdiv(P / va, tpb) : 0, slices = 1, ns = rq->s.n;
    if (reduce_bn && rq->s.n > 0) {
        slices = brc__cdiv(brc__knob("BARACUDA_BN_CTAS", 1, 64, 4) * (int64_t)sms, chunks); /* measurements */
        int64_t most = brc__cdiv(rq->s.n, 8);
        if (slices > most) slices = most;
        if (slices > MAX_SLICES) slices = MAX_SLICES;
        if (slices < 1) slices = 1;
        ns = brc__cdiv(rq->s.n, slices);
        slices = brc__cdiv(rq->s.n, ns);
    }

    /* group_norm splits each (n, c) segment over `split` warps so that seg has about a full wave
     * of warps (64 an SM), each part keeping at least 128 vectors. (Measured on an H100: running
     * the sequence in L2-sized passes of samples or channels, so that apply re-reads from L2, was
     * slower at every benchmark shape than one pass: the launches and tails cost more.) */
    int64_t split = 1;
    if (rq->op == OP_GROUP && rq->s.n > 0) {
        int64_t nv = rq->s.hw / vs, most = nv / 128 > 1 ? nv / 128 : 1;
        split = brc__cdiv((int64_t)sms * 64, rq->s.n * rq->s.ch);
        if (split > most) split = most;
        if (split < 1) split = 1;
    }

    /* group_norm reads x (and dy) once where a group fits the shared memory of a CTA or a cluster
     * (gn_one, gn_one_bwd); H100 figures in docs/channel_norm.md. */
    int cl = rq->op == OP_GROUP && !forced ? pick_one(ctx, rq->s.ch / rq->groups, rq->s.hw, esize, rq->dir) : 0;
    if (cl) split = 1; /* gn_one_bwd's per-channel sums: one part a segment (gn_wb's input) */

    /* Canonical descriptor (what determines the kernels) and SKU (what was chosen). */
    brc__str desc = {0}, sku = {0};
    const char *dts = brc_dtype_name(rq->dt), *dirs = rq->dir ? "bwd" : "fwd";
    if (rq->op == OP_GROUP) {
        brc__str_addf(&desc, "group_norm(dtype=%s,channels=%lld,groups=%lld,spatial=%lld,weight=%d,bias=%d", dts,
                      (long long)rq->s.ch, (long long)rq->groups, (long long)rq->s.hw, rq->w, rq->b);
        brc__str_addf(&sku, "bespoke:group_norm<%s,channels=%lld,groups=%lld,spatial=%lld,vec=%d/%d%s%s,%s>",
                      dts, (long long)rq->s.ch, (long long)rq->groups, (long long)rq->s.hw, vs, va,
                      rq->w ? ",weight" : "", rq->b ? ",bias" : "", dirs);
        if (cl) brc__str_addf(&sku, "+one,cl=%d%s", cl, rq->dir && (rq->w || rq->b) ? "+wb" : "");
        else brc__str_addf(&sku, "%s", rq->dir && (rq->w || rq->b) ? "+seg+fin+wb+apply" : "+seg+fin+apply");
    } else {
        brc__str_addf(&desc, "batch_norm(dtype=%s,channels=%lld,spatial=%lld,mode=%s,weight=%d,bias=%d", dts,
                      (long long)rq->s.ch, (long long)rq->s.hw, rq->eval ? "eval" : "train", rq->w, rq->b);
        if (!rq->dir && !rq->eval) brc__str_addf(&desc, ",running=%d", rq->run);
        if (two) brc__str_addf(&desc, ",reads=2");
        brc__str_addf(&sku, "bespoke:batch_norm<%s,channels=%lld,spatial=%lld,%s,vec=%d", dts, (long long)rq->s.ch,
                      (long long)rq->s.hw, rq->eval ? "eval" : "train", va);
        if (reduce_bn) brc__str_addf(&sku, ",tpb=%d", tpb);
        if (bv) brc__str_addf(&sku, ",tpb=%d,v=%d", tpb, bv);
        brc__str_addf(&sku, "%s%s%s,%s>%s", rq->w ? ",weight" : "", rq->b ? ",bias" : "", rq->run ? ",running" : "",
                      dirs, eval_bwd ? (rq->w || rq->b ? "+plane_dx+fin" : "+plane_dx")
                            : bv        ? "+one"
                            : reduce_bn ? "+plane+fin+apply"
                                        : "+fin+apply");
    }
    if (forced) brc__str_addf(&desc, ",vec=%d", cap);
    brc__str_addf(&desc, ",dir=%s)", dirs);
    brc__str_addf(&sku, "@%s", ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, family, &cn_vt, sizeof(cn_impl), &p))) goto fail;
    cn_impl *im = p->impl;
    im->op = rq->op;
    im->dir = rq->dir;
    im->eval = rq->eval;
    im->run = rq->run;
    im->dt = rq->dt;
    im->esize = esize;
    im->csize = csize;
    im->n = rq->s.n;
    im->ch = rq->s.ch;
    im->groups = rq->op == OP_GROUP ? rq->groups : 1;
    im->hw = rq->s.hw;
    im->w = rq->w;
    im->b = rq->b;
    im->vs = rq->op == OP_GROUP ? vs : 1;
    im->vp = bv ? vmax : rq->op == OP_BATCH ? va : 1;
    im->va = va;
    im->tpb = reduce_bn || bv ? tpb : 0;
    im->bv = bv;
    im->cl = cl;
    im->split = split;
    im->ns = ns;
    im->slices = slices;
    im->eps = rq->eps;
    im->momentum = rq->momentum;

    /* Workspace: coef [NSTAT][4], then the partial states. */
    int64_t nstat = rq->op == OP_GROUP ? rq->s.n * rq->groups : rq->s.ch;
    int64_t units = 0;
    if (rq->op == OP_GROUP) units = rq->s.n * rq->s.ch * split;
    else if (reduce_bn) units = slices * (rq->s.hw % va == 0 ? P / va : P);
    im->coef_off = 0;
    im->part_off = round_up((size_t)nstat * 4 * csize, WS_ALIGN);
    /* gn_one: only the backward's for gn_wb; batch_norm eval backward: only for dweight / dbias */
    bool parts = eval_bwd ? rq->w || rq->b : !cl || (rq->dir && (rq->w || rq->b));
    p->workspace = rq->s.n > 0 && parts ? im->part_off + (size_t)units * 2 * csize : 0;

    im->chunks = chunks;

    /* The kernel sequence. */
    int seq[MAX_KERNELS], nk = 0;
    if (bv) {
        seq[nk++] = K_BN_ONE;
    } else if (cl) {
        seq[nk++] = rq->dir ? K_ONE_BWD : K_ONE;
        if (rq->dir && (rq->w || rq->b)) seq[nk++] = K_GN_WB;
    } else if (rq->op == OP_GROUP) {
        seq[nk++] = K_SEG;
        seq[nk++] = K_GN_FIN;
        if (rq->dir && (rq->w || rq->b)) seq[nk++] = K_GN_WB;
        seq[nk++] = K_APPLY;
    } else if (eval_bwd) {
        seq[nk++] = K_PLANE;
        if (rq->w || rq->b) seq[nk++] = K_BN_FIN;
    } else {
        if (reduce_bn) seq[nk++] = K_PLANE;
        seq[nk++] = K_BN_FIN;
        seq[nk++] = K_APPLY;
    }
    im->nk = nk;
    for (int i = 0; i < nk; i++) {
        im->k[i].kid = seq[i];
        if ((st = get_kernel(ctx, im, seq[i], desc.p, &im->k[i].fn))) goto fail;
    }
    if (bv && (st = bn_one_units(ctx, im, sms, p))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;

fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

static brc_status check_eps(const char *fam, double eps) {
    if (eps >= 0) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: eps = %g must be >= 0", fam, eps);
}

static brc_status check_groups(const cn_shape *s, int64_t groups) {
    if (groups < 1 || s->ch % groups)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "group_norm: groups = %lld must be >= 1 and divide C = %lld",
                          (long long)groups, (long long)s->ch);
    return BRC_STATUS_OK;
}

brc_status brc_group_norm_plan(brc_context *ctx, const brc_group_norm_desc *d, const brc_plan_prefs *prefs,
                               brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_group_norm_plan");
    if (st) return st;
    cn_request rq = {OP_GROUP, 0, 0, 0, d->has_weight, d->has_bias, d->groups, d->eps, 0, {0, 0, 0}, d->x.dtype};
    const brc_tensor_desc *ts[] = {&d->x, &d->y};
    const char *names[] = {"x", "y"};
    if ((st = check_flag("group_norm", "has_weight", d->has_weight)) ||
        (st = check_flag("group_norm", "has_bias", d->has_bias)) || (st = check_eps("group_norm", d->eps)) ||
        (st = check_operands("group_norm", ts, names, 2, &rq.s)) || (st = check_groups(&rq.s, d->groups)))
        return st;
    return plan_common(ctx, &rq, prefs, BRC__FAM_GROUP_NORM, out);
}

brc_status brc_group_norm_backward_plan(brc_context *ctx, const brc_group_norm_backward_desc *d,
                                        const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_group_norm_backward_plan");
    if (st) return st;
    cn_request rq = {OP_GROUP, 1, 0, 0, d->has_weight, d->has_bias, d->groups, 0, 0, {0, 0, 0}, d->x.dtype};
    const brc_tensor_desc *ts[] = {&d->x, &d->dy, &d->dx};
    const char *names[] = {"x", "dy", "dx"};
    if ((st = check_flag("group_norm backward", "has_weight", d->has_weight)) ||
        (st = check_flag("group_norm backward", "has_bias", d->has_bias)) ||
        (st = check_operands("group_norm backward", ts, names, 3, &rq.s)) || (st = check_groups(&rq.s, d->groups)))
        return st;
    return plan_common(ctx, &rq, prefs, BRC__FAM_GROUP_NORM_BWD, out);
}

static brc_status check_mode(const char *fam, int mode) {
    if (mode == BRC_BATCH_NORM_TRAIN || mode == BRC_BATCH_NORM_EVAL) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: mode %d is not a batch_norm mode", fam, mode);
}

/* Training normalizes by the batch: one value per channel has no variance (PyTorch refuses too). */
static brc_status check_count(const char *fam, const cn_shape *s) {
    if (s->n * s->hw >= 2) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                      "%s: training needs more than one value per channel (N * spatial = %lld)", fam,
                      (long long)(s->n * s->hw));
}

brc_status brc_batch_norm_plan(brc_context *ctx, const brc_batch_norm_desc *d, const brc_plan_prefs *prefs,
                               brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_batch_norm_plan");
    if (st) return st;
    int eval = d->mode == BRC_BATCH_NORM_EVAL;
    cn_request rq = {OP_BATCH, 0, eval, d->update_running, d->has_weight, d->has_bias, 1, d->eps, d->momentum,
                     {0, 0, 0}, d->x.dtype};
    const brc_tensor_desc *ts[] = {&d->x, &d->y};
    const char *names[] = {"x", "y"};
    if ((st = check_mode("batch_norm", (int)d->mode)) || (st = check_flag("batch_norm", "has_weight", d->has_weight)) ||
        (st = check_flag("batch_norm", "has_bias", d->has_bias)) ||
        (st = check_flag("batch_norm", "update_running", d->update_running)) || (st = check_eps("batch_norm", d->eps)))
        return st;
    if (!(d->momentum >= 0 && d->momentum <= 1))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "batch_norm: momentum = %g must be in [0, 1]", d->momentum);
    if (eval && d->update_running)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "batch_norm: update_running = 1 in eval mode (running stats are only read there)");
    if ((st = check_operands("batch_norm", ts, names, 2, &rq.s)) || (!eval && (st = check_count("batch_norm", &rq.s))))
        return st;
    return plan_common(ctx, &rq, prefs, BRC__FAM_BATCH_NORM, out);
}

brc_status brc_batch_norm_backward_plan(brc_context *ctx, const brc_batch_norm_backward_desc *d,
                                        const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_batch_norm_backward_plan");
    if (st) return st;
    int eval = d->mode == BRC_BATCH_NORM_EVAL;
    cn_request rq = {OP_BATCH, 1, eval, 0, d->has_weight, d->has_bias, 1, eval ? d->eps : 0, 0, {0, 0, 0},
                     d->x.dtype};
    const brc_tensor_desc *ts[] = {&d->x, &d->dy, &d->dx};
    const char *names[] = {"x", "dy", "dx"};
    const char *fam = "batch_norm backward";
    if ((st = check_mode(fam, (int)d->mode)) || (st = check_flag(fam, "has_weight", d->has_weight)) ||
        (st = check_flag(fam, "has_bias", d->has_bias)) || (eval && (st = check_eps(fam, d->eps))) ||
        (st = check_operands(fam, ts, names, 3, &rq.s)) || (!eval && (st = check_count(fam, &rq.s))))
        return st;
    return plan_common(ctx, &rq, prefs, BRC__FAM_BATCH_NORM_BWD, out);
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------------ */

brc_status brc__cnorm_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int op = strcmp(d->family, "group_norm") == 0 ? OP_GROUP : strcmp(d->family, "batch_norm") == 0 ? OP_BATCH : -1;
    if (op < 0) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "'%s' is not a channel norm family", d->family);
    }
    static const char *const dirs[] = {"fwd", "bwd"};
    static const char *const modes[] = {"train", "eval"};
    brc_dtype dt = BRC_F32;
    int64_t ch = 0, hw = 0, groups = 1, vec = 0, w = 0, b = 0, run = 0;
    int dir = 0, mode = 0;
    brc_status st;
    if ((st = brc__desc_dtype(d, "dtype", &dt)) || (st = brc__desc_int(d, "channels", 1, MAX_CHANNELS, -1, &ch)) ||
        (st = brc__desc_int(d, "spatial", 1, MAX_SPATIAL, -1, &hw)) ||
        (op == OP_GROUP && (st = brc__desc_int(d, "groups", 1, MAX_CHANNELS, -1, &groups))) ||
        (op == OP_BATCH && (st = brc__desc_pick(d, "mode", modes, 2, 0, &mode))) ||
        (st = brc__desc_int(d, "weight", 0, 1, 0, &w)) || (st = brc__desc_int(d, "bias", 0, 1, 0, &b)) ||
        (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)) || (st = brc__desc_int(d, "vec", 1, 16, 0, &vec)))
        return st;
    const char *unused;
    if (ch < 0) return brc__desc_need(d, "channels", &unused);
    if (hw < 0) return brc__desc_need(d, "spatial", &unused);
    if (groups < 0) return brc__desc_need(d, "groups", &unused);
    if (op == OP_BATCH && dir == 0 && mode == 0 && (st = brc__desc_int(d, "running", 0, 1, 0, &run))) return st;
    int64_t reads = 1;
    if (op == OP_BATCH && mode == 0 && (st = brc__desc_int(d, "reads", 1, 2, 1, &reads))) return st;
    /* Two samples (training batch_norm needs two values a channel): the kernels do not depend on N,
     * except that a `reads=2` batch_norm is one whose channels are too long for bn_one: enough
     * samples for that. */
    int64_t samples = 2, vmax = 16 / (int64_t)brc_dtype_size(dt);
    if (reads == 2) {
        if (hw % vmax) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "reads=2 is for spatial sizes that 16-byte vectors divide (%lld does not)", (long long)hw);
        }
        samples = (int64_t)ONE_BN_UNITS * ONE_BN_MAX_CHUNK / (hw / vmax) + 1;
    }
    int64_t shape[3] = {samples, ch, hw};
    brc_tensor_desc t;
    brc_tensor_desc_contiguous(&t, dt, 3, shape);
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.vector_width = (int)vec;
    if (op == OP_GROUP) {
        if (dir == 0) {
            brc_group_norm_desc g = {t, t, groups, (int)w, (int)b, 1e-5};
            return brc_group_norm_plan(ctx, &g, &prefs, out);
        }
        brc_group_norm_backward_desc g = {t, t, t, groups, (int)w, (int)b};
        return brc_group_norm_backward_plan(ctx, &g, &prefs, out);
    }
    brc_batch_norm_mode m = mode ? BRC_BATCH_NORM_EVAL : BRC_BATCH_NORM_TRAIN;
    if (dir == 0) {
        brc_batch_norm_desc n = {m, t, t, (int)w, (int)b, (int)run, 1e-5, 0.1};
        return brc_batch_norm_plan(ctx, &n, &prefs, out);
    }
    brc_batch_norm_backward_desc n = {m, t, t, t, (int)w, (int)b, 1e-5};
    return brc_batch_norm_backward_plan(ctx, &n, &prefs, out);
}

/* An optional pointer: NULL is fine, else aligned. */
static brc_status opt_ptr(const void *p, size_t align, const char *fn, const char *what, const brc_plan *plan) {
    return p ? brc__need_ptr(p, align, fn, what, plan) : BRC_STATUS_OK;
}

/* The big operands: aligned to the widest vector any kernel of the plan uses on them. */
static size_t big_align(const cn_impl *im) {
    int v = im->va > im->vs ? im->va : im->vs;
    return (size_t)v * im->esize;
}

static brc_status launch(const brc_plan *plan, int i, int64_t gx, unsigned gy, cn_args *a, brc_stream stream) {
    const cn_impl *im = plan->impl;
    const cn_launch *l = &im->k[i];
    if (gx <= 0) return BRC_STATUS_OK;
    if (gx > MAX_GRID && (l->kid == K_SEG || l->kid == K_APPLY)) gx = MAX_GRID; /* grid-stride loops */
    if (gx > INT32_MAX)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %lld CTAs for %s exceed the grid limit", plan->descriptor,
                          (long long)gx, kernel_fns[l->kid]);
    void *args[1] = {a};
    CUresult r = brc__cu()->cuLaunchKernel(l->fn, (unsigned)gx, gy, 1, threads_of(im, l->kid), 1, 1,
                                           l->kid == K_ONE || l->kid == K_ONE_BWD ? (unsigned)one_smem(im) : 0,
                                           (CUstream)stream, args, NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s+%s)", brc__cu_errname(r), plan->descriptor,
                          kernel_fns[l->kid]);
    return BRC_STATUS_OK;
}

/* The grid of kernel kid. */
static int64_t grid_of(const cn_impl *im, int kid) {
    switch (kid) {
    case K_SEG: return brc__cdiv(im->n * im->ch * im->split, THREADS / 32);
    case K_GN_FIN: return brc__cdiv(im->n * im->groups, THREADS / 32); /* a warp per statistic */
    case K_GN_WB: return brc__cdiv(im->ch, THREADS);
    case K_PLANE: return im->chunks;
    case K_BN_FIN: return im->ch; /* a CTA per channel */
    case K_BN_ONE: return im->ch * im->split; /* a CTA per unit */
    case K_ONE:
    case K_ONE_BWD: return im->n * im->groups * im->cl;
    default: return brc__cdiv(im->n * (im->ch * im->hw / im->va), THREADS);
    }
}

static brc_status launch_all(const brc_plan *plan, cn_args *a, void *ws, brc_stream stream) {
    const cn_impl *im = plan->impl;
    a->part = (char *)ws + im->part_off;
    a->coef = (char *)ws + im->coef_off;
    a->n = im->n;
    a->ns = im->ns;
    a->slices = im->slices;
    a->split = im->split;
    if (im->bv) { /* bn_one's ticket and counters start at zero */
        a->sync = (char *)ws + im->sync_off;
        CUresult r = brc__cu()->cuMemsetD32Async((CUdeviceptr)(uintptr_t)a->sync, 0, (size_t)(1 + im->ch),
                                                 (CUstream)stream);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuMemsetD32Async: %s (%s)", brc__cu_errname(r),
                              plan->descriptor);
    }
    for (int i = 0; i < im->nk; i++) {
        int kid = im->k[i].kid;
        brc_status st = launch(plan, i, grid_of(im, kid), kid == K_PLANE ? (unsigned)im->slices : 1, a, stream);
        if (st) return st;
    }
    return BRC_STATUS_OK;
}

brc_status brc_group_norm_run(const brc_plan *plan, const void *x, const void *weight, const void *bias, void *y,
                              void *mean, void *rstd, void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_group_norm_run";
    brc_status st = brc__run_start(plan, BRC__FAM_GROUP_NORM, fn, workspace, workspace_size);
    if (st) return st;
    const cn_impl *im = plan->impl;
    if (im->n == 0) return BRC_STATUS_OK;
    size_t al = big_align(im);
    if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(y, al, fn, "y", plan)) ||
        (im->w && (st = brc__need_ptr(weight, im->esize, fn, "weight", plan))) ||
        (im->b && (st = brc__need_ptr(bias, im->esize, fn, "bias", plan))) ||
        (st = opt_ptr(mean, im->csize, fn, "mean", plan)) || (st = opt_ptr(rstd, im->csize, fn, "rstd", plan)))
        return st;
    cn_args a = {.x = x, .w = im->w ? weight : NULL, .b = im->b ? bias : NULL, .out = y, .mean = mean, .rstd = rstd,
                 .eps = im->eps};
    return launch_all(plan, &a, workspace, stream);
}

brc_status brc_group_norm_backward_run(const brc_plan *plan, const void *x, const void *dy, const void *weight,
                                       const void *mean, const void *rstd, void *dx, void *dweight, void *dbias,
                                       void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_group_norm_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_GROUP_NORM_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const cn_impl *im = plan->impl;
    if (im->n == 0) return BRC_STATUS_OK; /* dweight, dbias: sums over no samples are not written */
    size_t al = big_align(im);
    if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(dy, al, fn, "dy", plan)) ||
        (st = brc__need_ptr(dx, al, fn, "dx", plan)) || (st = brc__need_ptr(mean, im->csize, fn, "mean", plan)) ||
        (st = brc__need_ptr(rstd, im->csize, fn, "rstd", plan)) ||
        (im->w && (st = brc__need_ptr(weight, im->esize, fn, "weight", plan))) ||
        (im->w && (st = brc__need_ptr(dweight, im->esize, fn, "dweight", plan))) ||
        (im->b && (st = brc__need_ptr(dbias, im->esize, fn, "dbias", plan))))
        return st;
    cn_args a = {.x = x, .dy = dy, .w = im->w ? weight : NULL, .out = dx, .mean = (void *)(uintptr_t)mean,
                 .rstd = (void *)(uintptr_t)rstd, .dw = im->w ? dweight : NULL, .db = im->b ? dbias : NULL};
    return launch_all(plan, &a, workspace, stream);
}

brc_status brc_batch_norm_run(const brc_plan *plan, const void *x, const void *weight, const void *bias, void *y,
                              void *mean, void *rstd, void *running_mean, void *running_var, void *workspace,
                              size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_batch_norm_run";
    brc_status st = brc__run_start(plan, BRC__FAM_BATCH_NORM, fn, workspace, workspace_size);
    if (st) return st;
    const cn_impl *im = plan->impl;
    if (im->n == 0) return BRC_STATUS_OK;
    size_t al = big_align(im);
    bool need_running = im->eval || im->run;
    if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(y, al, fn, "y", plan)) ||
        (im->w && (st = brc__need_ptr(weight, im->esize, fn, "weight", plan))) ||
        (im->b && (st = brc__need_ptr(bias, im->esize, fn, "bias", plan))) ||
        (!im->eval && (st = opt_ptr(mean, im->csize, fn, "mean", plan))) ||
        (!im->eval && (st = opt_ptr(rstd, im->csize, fn, "rstd", plan))) ||
        (need_running && (st = brc__need_ptr(running_mean, im->csize, fn, "running_mean", plan))) ||
        (need_running && (st = brc__need_ptr(running_var, im->csize, fn, "running_var", plan))))
        return st;
    cn_args a = {.x = x, .w = im->w ? weight : NULL, .b = im->b ? bias : NULL, .out = y,
                 .mean = im->eval ? NULL : mean, .rstd = im->eval ? NULL : rstd,
                 .rmean = need_running ? running_mean : NULL, .rvar = need_running ? running_var : NULL,
                 .eps = im->eps, .momentum = im->momentum};
    return launch_all(plan, &a, workspace, stream);
}

brc_status brc_batch_norm_backward_run(const brc_plan *plan, const void *x, const void *dy, const void *weight,
                                       const void *mean, const void *rstd, const void *running_mean,
                                       const void *running_var, void *dx, void *dweight, void *dbias, void *workspace,
                                       size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_batch_norm_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_BATCH_NORM_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const cn_impl *im = plan->impl;
    if (im->n == 0) return BRC_STATUS_OK;
    size_t al = big_align(im);
    if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(dy, al, fn, "dy", plan)) ||
        (st = brc__need_ptr(dx, al, fn, "dx", plan)) ||
        (!im->eval && (st = brc__need_ptr(mean, im->csize, fn, "mean", plan))) ||
        (!im->eval && (st = brc__need_ptr(rstd, im->csize, fn, "rstd", plan))) ||
        (im->eval && (st = brc__need_ptr(running_mean, im->csize, fn, "running_mean", plan))) ||
        (im->eval && (st = brc__need_ptr(running_var, im->csize, fn, "running_var", plan))) ||
        (im->w && (st = brc__need_ptr(weight, im->esize, fn, "weight", plan))) ||
        (im->w && (st = brc__need_ptr(dweight, im->esize, fn, "dweight", plan))) ||
        (im->b && (st = brc__need_ptr(dbias, im->esize, fn, "dbias", plan))))
        return st;
    /* The plane centres on the statistics' mean: the saved one, or running_mean in eval mode. */
    cn_args a = {.x = x, .dy = dy, .w = im->w ? weight : NULL, .out = dx,
                 .mean = (void *)(uintptr_t)(im->eval ? running_mean : mean),
                 .rstd = (void *)(uintptr_t)(im->eval ? NULL : rstd),
                 .rvar = (void *)(uintptr_t)(im->eval ? running_var : NULL), .dw = im->w ? dweight : NULL,
                 .db = im->b ? dbias : NULL, .eps = im->eps};
    return launch_all(plan, &a, workspace, stream);
}
