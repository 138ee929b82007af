/* The random family: uniform, normal, bernoulli, dropout and dropout's backward from Philox4x32-10.
 * Validates the operands, merges dims, picks the contiguous or strided kernel by structure,
 * generates the kernel's specialization (kernel_src/random.cuh) and launches it. Semantics and the
 * counter layout: random.h; descriptor keys: docs/random.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_RANDOM_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
_Static_assert(NKINDS == BRC_RANDOM_KIND_COUNT_, "BRC_RANDOM_KIND_COUNT_ is out of date");

enum { THREADS = 256 };
/* Dense dropout (dropout_tiles): CTA size and the CTAs an SM the registers must allow (0: the compiler's
 * choice; __launch_bounds__'s second argument). */
enum { DENSE_THREADS = 256, DENSE_MINB = 0 };
/* Operand slots (rnd_args.str[o]). */
enum { S_Y, S_X, S_P, S_MASK, NSLOTS };

/* struct brc::rnd_args in random.cuh: 8-byte fields only. */
typedef struct rnd_args {
    void *y;
    const void *x, *p;
    void *mask;
    const uint64_t *dev;
    uint64_t seed, offset;
    int64_t n, blocks, nd, aligned;
    double a, b, scale;
    int64_t shape[8];
    int64_t str[NSLOTS][8];
} rnd_args;
_Static_assert(sizeof(rnd_args) == (5 + 2 + 4 + 3 + 8 + 32) * 8, "rnd_args must match brc::rnd_args");

/* struct brc::mn_args in random.cuh: 8-byte fields only. */
typedef struct mn_args {
    const void *p;
    void *y;
    const uint64_t *dev;
    uint64_t seed, offset;
    int64_t rows, cats, ns, prs, pcs, yrs, ycs, chunk, nslots, vec4;
} mn_args;
_Static_assert(sizeof(mn_args) == 15 * 8, "mn_args must match brc::mn_args");

enum { MN_THREADS = 256, MN_SLOT_BYTES = 16384, MN_MAX_NOREPL = 1024 };

typedef struct rnd_impl {
    int kind, per;
    int g;       /* dense dropout (backward): elements a lane of dropout_tiles (K::G), else 0 */
    int threads; /* CTA size */
    mn_args m; /* multinomial */
    bool vec4_ok;
    unsigned msmem;
    bool contig, used[NSLOTS], same_as_y[NSLOTS];
    size_t esize;
    rnd_args a;
    unsigned grid;
    CUfunction fn;
} rnd_impl;

static const brc__plan_vt rnd_vt = {NULL};
static unsigned grid_override;

void brc__random_grid_override(unsigned grid) { grid_override = grid; }

static const char *storage_type(brc_dtype t) {
    switch (t) {
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    case BRC_U8: return "u8";
    case BRC_BOOL: return "brc::boolean";
    case BRC_I32: return "i32";
    case BRC_I64: return "i64";
    default: return "float";
    }
}

/* Dense dropout and its backward: elements a lane of dropout_tiles (K::G), or 0 for the other kernels.
 * Measured on an H100 at 2^24 and 2^28 elements against 8, 16 and 32 (docs/random.md): 16-bit
 * dropout is fastest at 32 (more Philox work in flight a lane), 16-bit backward at 8, the rest at 16. */
static int dense_lane(int kind, brc_dtype dt, bool contig) {
    if ((kind != BRC_RANDOM_DROPOUT && kind != BRC_RANDOM_DROPOUT_BACKWARD) || !contig) return 0;
    /* BARACUDA_DROPOUT_G (8, 16 or 32; experiments): elements a lane for every dense dropout plan. */
    const int forced = brc__knob("BARACUDA_DROPOUT_G", 8, 32, 0);
    if (forced == 8 || forced == 16 || forced == 32) return forced;
    if (brc_dtype_size(dt) == 2) return kind == BRC_RANDOM_DROPOUT ? 32 : 8;
    return 16;
}

static bool is_float(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }

typedef struct operand {
    const brc_tensor_desc *t;
    int slot;
    const char *name;
    bool output;
} operand;

static brc_status get_kernel(brc_context *ctx, const rnd_impl *im, brc_dtype dt, int pdt, const char *desc,
                             CUfunction *fn) {
    brc__str snip = {0};
    char bounds[32]; /* __launch_bounds__'s arguments */
    if (im->g > 0 && DENSE_MINB > 0) snprintf(bounds, sizeof bounds, "%d, %d", im->threads, DENSE_MINB);
    else snprintf(bounds, sizeof bounds, "%d", im->threads);
    brc__str_addf(&snip,
                  "struct brc_rnd {\n  typedef %s T;\n  typedef %s PT;\n"
                  "  enum { OP = %d, PER = %d, CONTIG = %d, USEP = %d, G = %d };\n};\n"
                  "__global__ void __launch_bounds__(%s)\n"
                  "brc_random_kernel(brc::rnd_args a) { brc::random_main<brc_rnd>(a); }\n",
                  storage_type(dt), pdt >= 0 ? storage_type((brc_dtype)pdt) : "float", im->kind, im->per,
                  im->contig ? 1 : 0, pdt >= 0 ? 1 : 0, im->g > 0 ? im->g : 16, bounds);
    brc_status st;
    if (snip.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "random.cuh", NULL};
        brc__kernel_req req = {.template_name = "random", .sources = sources, .nspec = 7,
                               .spec = {im->kind, dt, pdt, im->per, im->contig, im->g, im->threads},
                               .snippet = snip.p, .name_expr = "brc_random_kernel", .descriptor = desc};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
    }
    brc__str_free(&snip);
    return st;
}

static brc_status check_scalars(const brc_random_desc *d, const char *fn) {
    switch ((int)d->kind) {
    case BRC_RANDOM_UNIFORM:
        if (!isfinite(d->a) || !isfinite(d->b) || !(d->a < d->b) || !isfinite(d->b - d->a))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: uniform needs finite lo = a < hi = b (got %g, %g)", fn,
                              d->a, d->b);
        if (d->y.dtype != BRC_F64 && !isfinite((float)(d->b - d->a)))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: uniform: hi - lo = %g overflows f32", fn,
                              d->b - d->a);
        break;
    case BRC_RANDOM_NORMAL:
        if (!isfinite(d->a) || !isfinite(d->b) || d->b < 0)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: normal needs a finite mean = a and std = b >= 0 (got %g, %g)",
                              fn, d->a, d->b);
        break;
    case BRC_RANDOM_BERNOULLI:
        if (d->use_p != 0 && d->use_p != 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: use_p = %d must be 0 or 1", fn, d->use_p);
        if (!d->use_p && !(d->a >= 0 && d->a <= 1))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: bernoulli p = a = %g is outside [0, 1]", fn, d->a);
        break;
    default:
        if (!(d->a >= 0 && d->a <= 1))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dropout p = a = %g is outside [0, 1]", fn, d->a);
    }
    return BRC_STATUS_OK;
}

/* ---- multinomial ----------------------------------------------------------------------------------- */

static brc_status mn_kernel(brc_context *ctx, rnd_impl *im, brc_dtype dt, brc_dtype out, int repl, const char *desc) {
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_rnd {\n  typedef %s T;\n  typedef %s AT;\n  typedef %s OT;\n  enum { REPL = %d };\n};\n"
                  "__global__ void __launch_bounds__(%d)\n"
                  "brc_random_kernel(brc::mn_args a) { brc::multinomial_main<brc_rnd>(a); }\n",
                  storage_type(dt), dt == BRC_F64 ? "double" : "float", out == BRC_I32 ? "i32" : "i64", repl,
                  MN_THREADS);
    brc_status st;
    if (snip.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "random.cuh", NULL};
        brc__kernel_req req = {.template_name = "random", .sources = sources, .nspec = 5,
                               .spec = {BRC_RANDOM_MULTINOMIAL, dt, out, repl, MN_THREADS},
                               .snippet = snip.p, .name_expr = "brc_random_kernel", .descriptor = desc};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, &im->fn);
    }
    brc__str_free(&snip);
    return st;
}

static brc_status plan_multinomial(brc_context *ctx, const brc_random_desc *d, const char *fn, brc_plan **out) {
    static const char *kn = "multinomial";
    brc_status st;
    const brc_tensor_desc *x = &d->x, *y = &d->y;
    char name[80];
    snprintf(name, sizeof name, "%s: %s x", fn, kn);
    if ((st = brc__tensor_check(x, name))) return st;
    snprintf(name, sizeof name, "%s: %s y", fn, kn);
    if ((st = brc__tensor_check(y, name))) return st;
    if (x->rank != 1 && x->rank != 2)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has rank %d (1 or 2)", fn, kn, x->rank);
    if (!is_float(x->dtype))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: x has dtype %s (f32 f64 f16 bf16)", fn, kn,
                          brc_dtype_name(x->dtype));
    if (y->dtype != BRC_I64 && y->dtype != BRC_I32)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has dtype %s (i64 or i32)", fn, kn,
                          brc_dtype_name(y->dtype));
    if (d->replacement != 0 && d->replacement != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: replacement = %d must be 0 or 1", fn, kn,
                          d->replacement);
    int64_t R = x->rank == 2 ? x->shape[0] : 1, C = x->shape[x->rank - 1], ns = d->num_samples;
    if (C < 1) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has no categories", fn, kn);
    if (ns < 1) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: num_samples = %lld must be >= 1", fn, kn,
                                  (long long)ns);
    if (!d->replacement && (ns > C || ns > MN_MAX_NOREPL))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: %s: num_samples = %lld without replacement exceeds min(C = %lld, %d)", fn, kn,
                          (long long)ns, (long long)C, MN_MAX_NOREPL);
    if (R > INT32_MAX || C > INT32_MAX)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %lld rows of %lld (each at most 2^31 - 1)", fn, kn,
                          (long long)R, (long long)C);
    if (y->rank != x->rank || (x->rank == 2 && y->shape[0] != R) || y->shape[y->rank - 1] != ns)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y must be [%s%lld] (x's rows by num_samples)", fn, kn,
                          x->rank == 2 ? "R, " : "", (long long)ns);
    if (!brc__no_self_overlap(y))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has strides under which its elements overlap", fn,
                          kn);
    brc_dtype dt = x->dtype;
    mn_args m;
    memset(&m, 0, sizeof m);
    m.rows = R, m.cats = C, m.ns = ns;
    m.prs = x->rank == 2 ? x->strides[0] : 0, m.pcs = x->strides[x->rank - 1];
    m.yrs = y->rank == 2 ? y->strides[0] : 0, m.ycs = y->strides[y->rank - 1];
    int64_t maxslots = MN_SLOT_BYTES / (dt == BRC_F64 ? 8 : 4);
    m.chunk = (C + maxslots - 1) / maxslots;
    if (m.chunk > 1) m.chunk = (m.chunk + 3) / 4 * 4; /* whole groups of four: the vector path */
    m.nslots = (C + m.chunk - 1) / m.chunk;
    brc__str desc = {0}, sku = {0};
    const char *on = brc_dtype_name(y->dtype);
    brc__str_addf(&desc, "random(op=multinomial,dtype=%s,out=%s,replacement=%d)", brc_dtype_name(dt), on,
                  d->replacement);
    if (d->replacement)
        brc__str_addf(&sku, "bespoke:random<multinomial,%s->%s,scan>@%s", brc_dtype_name(dt), on, ctx->arch);
    else
        brc__str_addf(&sku, "bespoke:random<multinomial,%s->%s,race,radix>@%s", brc_dtype_name(dt), on, ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fn);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_RANDOM, &rnd_vt, sizeof(rnd_impl), &p))) goto fail;
    rnd_impl *im = p->impl;
    im->kind = BRC_RANDOM_MULTINOMIAL;
    im->m = m;
    im->used[S_X] = im->used[S_Y] = true;
    im->vec4_ok = dt == BRC_F32 && m.pcs == 1 && m.chunk % 4 == 0 && m.chunk <= 16 && m.prs % 4 == 0;
    im->msmem = (unsigned)(d->replacement ? m.nslots * (dt == BRC_F64 ? 8 : 4) : ns * 8);
    im->grid = (unsigned)R;
    uint64_t draws = d->replacement ? (uint64_t)R * (uint64_t)ns : (uint64_t)R * (uint64_t)C;
    im->a.blocks = (int64_t)((draws + 3) / 4);
    im->a.n = R;
    if ((st = mn_kernel(ctx, im, dt, y->dtype, d->replacement, desc.p))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

static brc_status plan_forced(brc_context *ctx, const brc_random_desc *d, const brc_plan_prefs *prefs_in,
                              brc_plan **out) {
    static const char *fn = "brc_random_plan";
    brc_status st = brc__plan_start(ctx, d, out, fn);
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not a random kind", fn, kind);
    if (kind == BRC_RANDOM_MULTINOMIAL) return plan_multinomial(ctx, d, fn, out);
    if ((st = check_scalars(d, fn))) return st;
    const char *kn = kind_names[kind];
    operand ops[3];
    int nops = 0;
    ops[nops++] = (operand){&d->y, S_Y, kind == BRC_RANDOM_DROPOUT_BACKWARD ? "y (dx)" : "y", true};
    if (kind == BRC_RANDOM_BERNOULLI && d->use_p) ops[nops++] = (operand){&d->p, S_P, "p", false};
    if (kind == BRC_RANDOM_DROPOUT) {
        ops[nops++] = (operand){&d->x, S_X, "x", false};
        ops[nops++] = (operand){&d->mask, S_MASK, "mask", true};
    }
    if (kind == BRC_RANDOM_DROPOUT_BACKWARD) {
        ops[nops++] = (operand){&d->x, S_X, "x (dy)", false};
        ops[nops++] = (operand){&d->mask, S_MASK, "mask", false};
    }
    brc_dtype dt = d->y.dtype;
    for (int i = 0; i < nops; i++) {
        const operand *o = &ops[i];
        char name[80];
        snprintf(name, sizeof name, "%s: %s %s", fn, kn, o->name);
        if ((st = brc__tensor_check(o->t, name))) return st;
        if (i > 0 && !brc__same_shape(o->t, &d->y))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s and y differ in shape", fn, kn, o->name);
        if (o->output && !brc__no_self_overlap(o->t))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has strides under which its elements overlap",
                              fn, kn, o->name);
    }
    /* dtypes */
    bool ok = kind == BRC_RANDOM_BERNOULLI ? is_float(dt) || dt == BRC_U8 || dt == BRC_BOOL || dt == BRC_I32 ||
                                                 dt == BRC_I64
                                           : is_float(dt);
    if (!ok)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: y has dtype %s, which %s does not produce (%s)", fn, kn,
                          brc_dtype_name(dt), kn,
                          kind == BRC_RANDOM_BERNOULLI ? "f32 f64 f16 bf16 u8 bool i32 i64" : "f32 f64 f16 bf16");
    int pdt = -1;
    if (kind == BRC_RANDOM_BERNOULLI && d->use_p) {
        if (!is_float(d->p.dtype))
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: bernoulli: p has dtype %s (f32 f64 f16 bf16)", fn,
                              brc_dtype_name(d->p.dtype));
        pdt = (int)d->p.dtype;
    }
    if (kind >= BRC_RANDOM_DROPOUT) {
        if (d->x.dtype != dt)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has dtype %s, %s (y's) expected", fn, kn,
                              brc_dtype_name(d->x.dtype), brc_dtype_name(dt));
        if (d->mask.dtype != BRC_U8 && d->mask.dtype != BRC_BOOL)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: mask has dtype %s (u8 or bool)", fn, kn,
                              brc_dtype_name(d->mask.dtype));
    }

    /* Merge dims where every operand nests them; dims of size 1 drop out. */
    rnd_args a;
    memset(&a, 0, sizeof a);
    a.n = 1;
    int nd = 0;
    for (int dd = 0; dd < d->y.rank; dd++) {
        int64_t sz = d->y.shape[dd];
        a.n *= sz; /* bounded: brc__tensor_check bounded the element count */
        if (sz == 1) continue;
        bool merge = nd > 0;
        for (int i = 0; merge && i < nops; i++) {
            int64_t prod;
            if (__builtin_mul_overflow(ops[i].t->strides[dd], sz, &prod) || a.str[ops[i].slot][nd - 1] != prod)
                merge = false;
        }
        if (merge) {
            a.shape[nd - 1] *= sz;
            for (int i = 0; i < nops; i++) a.str[ops[i].slot][nd - 1] = ops[i].t->strides[dd];
        } else {
            a.shape[nd] = sz;
            for (int i = 0; i < nops; i++) a.str[ops[i].slot][nd] = ops[i].t->strides[dd];
            nd++;
        }
    }
    a.nd = nd;
    bool contig = nd == 0 || (nd == 1 && !prefs->force_strided);
    for (int i = 0; contig && nd == 1 && i < nops; i++)
        if (a.str[ops[i].slot][0] != 1) contig = false;
    int per = (dt == BRC_F64 && kind <= BRC_RANDOM_NORMAL) ? 2 : 4;
    a.blocks = (a.n + per - 1) / per;
    a.a = d->a;
    a.b = d->b;
    if (kind == BRC_RANDOM_UNIFORM) a.scale = d->b - d->a;
    if (kind >= BRC_RANDOM_DROPOUT) a.scale = d->a >= 1 ? 0.0 : 1.0 / (1.0 - d->a);

    brc__str desc = {0}, sku = {0};
    const char *layout = contig ? "contig" : "strided";
    brc__str_addf(&desc, "random(op=%s,dtype=%s", kn, brc_dtype_name(dt));
    brc__str_addf(&sku, "bespoke:random<%s,%s", kn, brc_dtype_name(dt));
    if (kind == BRC_RANDOM_BERNOULLI) {
        const char *ps = pdt >= 0 ? brc_dtype_name((brc_dtype)pdt) : "scalar";
        brc__str_addf(&desc, ",p=%s", ps);
        brc__str_addf(&sku, ",p=%s", ps);
    }
    brc__str_addf(&desc, ",layout=%s)", layout);
    brc__str_addf(&sku, ",%s,per=%d", layout, per);
    int g = dense_lane(kind, dt, contig);
    if (g) brc__str_addf(&sku, ",lane=%d", g);
    brc__str_addf(&sku, ">@%s", ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fn);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_RANDOM, &rnd_vt, sizeof(rnd_impl), &p))) goto fail;
    rnd_impl *im = p->impl;
    im->kind = kind;
    im->per = per;
    im->contig = contig;
    im->esize = brc_dtype_size(dt);
    im->g = g;
    im->a = a;
    for (int i = 0; i < nops; i++) {
        im->used[ops[i].slot] = true;
        im->same_as_y[ops[i].slot] = brc__same_strides(ops[i].t, &d->y);
    }
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    im->threads = g ? DENSE_THREADS : THREADS;
    int64_t want = (a.blocks + THREADS - 1) / THREADS, cap = (int64_t)sms * 16;
    if (g) { /* dropout_tiles: a tile of 32 * g elements a warp, one pass */
        want = (a.n + (int64_t)im->threads * g - 1) / ((int64_t)im->threads * g);
        cap = (int64_t)1 << 30;
    }
    im->grid = (unsigned)(want < cap ? want : cap);
    if ((st = get_kernel(ctx, im, dt, pdt, desc.p, &im->fn))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

brc_status brc_random_plan(brc_context *ctx, const brc_random_desc *desc, const brc_plan_prefs *prefs,
                           brc_plan **out) {
    return plan_forced(ctx, desc, prefs, out);
}

uint64_t brc_random_counters(const brc_plan *plan) {
    if (!plan || plan->family != BRC__FAM_RANDOM) return 0;
    const rnd_impl *im = plan->impl;
    return im->kind == BRC_RANDOM_DROPOUT_BACKWARD ? 0 : (uint64_t)im->a.blocks;
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------ */

brc_status brc__random_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const layouts[] = {"contig", "strided"};
    int kind = 0, layout = 0;
    brc_dtype dt = BRC_F32;
    brc_status st;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &dt)))
        return st;
    brc_random_desc r;
    memset(&r, 0, sizeof r);
    if (kind == BRC_RANDOM_MULTINOMIAL) {
        brc_dtype ot = BRC_I64;
        int64_t repl = 1;
        if ((st = brc__desc_dtype(d, "out", &ot)) || (st = brc__desc_int(d, "replacement", 0, 1, 1, &repl))) return st;
        int64_t xs[1] = {8}, ys[1] = {4};
        r.kind = BRC_RANDOM_MULTINOMIAL;
        brc_tensor_desc_contiguous(&r.x, dt, 1, xs);
        brc_tensor_desc_contiguous(&r.y, ot, 1, ys);
        r.num_samples = 4, r.replacement = (int)repl;
        brc_status s2 = plan_multinomial(ctx, &r, "brc_random_plan", out);
        if (s2) d->err_col = d->family_col;
        return s2;
    }
    if ((st = brc__desc_pick(d, "layout", layouts, 2, 0, &layout))) return st;
    r.kind = (brc_random_kind)kind;
    int64_t shape[1] = {64};
    brc_tensor_desc_contiguous(&r.y, dt, 1, shape);
    r.x = r.y;
    brc_tensor_desc_contiguous(&r.mask, BRC_U8, 1, shape);
    r.a = 0.25, r.b = 1;
    if (kind == BRC_RANDOM_BERNOULLI) {
        const char *p = brc__desc_get(d, "p");
        if (p && strcmp(p, "scalar") != 0) {
            brc_dtype pt = BRC_F32;
            if ((st = brc__desc_dtype(d, "p", &pt))) return st;
            r.use_p = 1;
            brc_tensor_desc_contiguous(&r.p, pt, 1, shape);
        }
    }
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.force_strided = layout;
    return plan_forced(ctx, &r, &prefs, out);
}

/* ---- running ----------------------------------------------------------------------------------------- */

brc_status brc_random_run(const brc_plan *plan, const void *x, const void *p, void *y, void *mask,
                          const brc_philox *philox, brc_stream stream) {
    static const char *fn = "brc_random_run";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_RANDOM, fn);
    if (st) return st;
    const rnd_impl *im = plan->impl;
    const void *ptr[NSLOTS] = {y, x, p, mask};
    static const char *const names[NSLOTS] = {"y", "x", "p", "mask"};
    for (int o = 0; o < NSLOTS; o++)
        if (im->used[o] && !ptr[o])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (%s)", fn, names[o], plan->descriptor);
    bool draws = im->kind != BRC_RANDOM_DROPOUT_BACKWARD;
    if (im->kind == BRC_RANDOM_MULTINOMIAL && x == y)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y and x are one buffer (%s)", fn, plan->descriptor);
    if (draws && !philox)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: philox is NULL (%s)", fn, plan->descriptor);
    if (draws && philox->device && (uintptr_t)philox->device % 8)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: philox->device %p is not aligned to 8 bytes (%s)", fn,
                          (const void *)philox->device, plan->descriptor);
    /* An input may be y itself only under the same strides; the mask is never y or x. */
    for (int o = S_X; o < NSLOTS; o++) {
        if (!im->used[o] || ptr[o] != y) continue;
        if (o == S_MASK || !im->same_as_y[o])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y and %s are one buffer%s (%s)", fn, names[o],
                              o == S_MASK ? "" : " with different strides", plan->descriptor);
    }
    if (im->used[S_MASK] && mask == x && im->kind == BRC_RANDOM_DROPOUT)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: x and mask are one buffer (%s)", fn, plan->descriptor);
    if (im->a.n == 0) return BRC_STATUS_OK;
    if (im->kind == BRC_RANDOM_MULTINOMIAL) {
        mn_args m = im->m;
        m.p = x, m.y = y, m.dev = philox->device, m.seed = philox->seed, m.offset = philox->offset;
        m.vec4 = im->vec4_ok && (uintptr_t)x % 16 == 0;
        void *margs[1] = {&m};
        CUresult r = brc__cu()->cuLaunchKernel(im->fn, im->grid, 1, 1, MN_THREADS, 1, 1, im->msmem, (CUstream)stream,
                                               margs, NULL);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
        return BRC_STATUS_OK;
    }
    rnd_args a = im->a;
    a.y = y, a.x = x, a.p = p, a.mask = mask;
    if (draws) {
        a.dev = philox->device;
        a.seed = philox->seed;
        a.offset = philox->offset;
    }
    size_t vb = (size_t)im->per * im->esize;
    a.aligned = (uintptr_t)y % vb == 0 && (!im->used[S_X] || (uintptr_t)x % vb == 0) &&
                (!im->used[S_MASK] || (uintptr_t)mask % (size_t)im->per == 0);
    unsigned grid = grid_override ? grid_override : im->grid;
    void *args[1] = {&a};
    CUresult r =
        brc__cu()->cuLaunchKernel(im->fn, grid, 1, 1, (unsigned)im->threads, 1, 1, 0, (CUstream)stream, args, NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}
