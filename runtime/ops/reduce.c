/* The reductions family: sum, mean, prod, max, min, argmax, argmin, var, std, norm, logsumexp, any,
 * all, count_nonzero over any axes, reduce-to-shape, and their backward. Validates, merges dims,
 * chooses the layout (row / col, vector width, threads, splits), generates the kernels'
 * specialization (kernel_src/reduce.cuh) and launches them. Descriptor keys: docs/reduce.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* The kinds, by their descriptor names, and what each takes. */
static const char *const kind_names[] = {
#define BRC_X_(N, num, name) #name,
    BRC_REDUCE_KINDS(BRC_X_)
#undef BRC_X_
};
enum { NKINDS = BRC_REDUCE_KIND_COUNT_ };

static bool is_ext(int k) { return k == BRC_REDUCE_MAX || k == BRC_REDUCE_MIN || k == BRC_REDUCE_ARGMAX || k == BRC_REDUCE_ARGMIN; }
static bool is_arg(int k) { return k == BRC_REDUCE_ARGMAX || k == BRC_REDUCE_ARGMIN; }
/* Kinds that also take integer x (bool: any, all, count_nonzero). */
static bool takes_int(int k) {
    return k == BRC_REDUCE_SUM || k == BRC_REDUCE_PROD || is_ext(k) || k == BRC_REDUCE_ANY || k == BRC_REDUCE_ALL ||
           k == BRC_REDUCE_COUNT_NONZERO;
}
static bool takes_bool(int k) { return k == BRC_REDUCE_ANY || k == BRC_REDUCE_ALL || k == BRC_REDUCE_COUNT_NONZERO; }
static bool has_grad(int k) {
    return !(is_arg(k) || k == BRC_REDUCE_ANY || k == BRC_REDUCE_ALL || k == BRC_REDUCE_COUNT_NONZERO);
}

/* The kernels of reduce.cuh. */
enum { K_ROW, K_COL, K_FIN, K_BWD, K_VBWD };
static const char *const kernel_fns[] = {"reduce_row", "reduce_col", "reduce_fin", "reduce_bwd", "reduce_vbwd"};
enum { LAYOUT_ROW, LAYOUT_COL };
enum { NP_GEN, NP_1, NP_2, NP_INF, NP_NINF, NP_0 };
enum { WS_ALIGN = 256, BWD_THREADS = 256, FIN_THREADS = 256, UNROLL = 4 };

/* The kernels' argument block (struct brc::reduce_args in reduce.cuh): 8-byte fields only. */
typedef struct reduce_args {
    const void *x;
    void *y, *idx, *ws;
    const void *dy, *yin, *iin;
    void *dx;
    int64_t split;
} reduce_args;
_Static_assert(sizeof(reduce_args) == 9 * 8, "reduce_args must match brc::reduce_args");

/* One merged dim: its size, whether it is reduced, and each operand's stride (0 where unused). */
enum { OX, OY, OI, ODX, ODY, NOPS };
typedef struct red_dim {
    int64_t size;
    bool red;
    int64_t s[NOPS];
} red_dim;

/* The problem after validation and merging. */
typedef struct red_problem {
    int kind, np;
    brc_dtype xt, yt;
    double corr, p;
    int wi;
    int nd;
    red_dim d[BRC_MAX_RANK]; /* outer -> inner */
    int64_t M, N, E;
} red_problem;

typedef struct red_geo {
    int layout, vec, tpr, rpb, tx, ty, split;
    int64_t split_max; /* split > 1: the most CTAs per output worth having */
    int bv;            /* backward: elements a thread along the innermost dim */
    int u;             /* vectors in flight a thread a sweep (0: UNROLL) */
    int minb;          /* CTAs an SM the main kernel's registers are capped for (0: no cap) */
    int flat;          /* sweeps without bounds tests, a split CTA a contiguous run (reduce.cuh K::FLAT) */
    int xv;            /* max / min without the index: the value alone (K::XV) */
    int ft;            /* the split's second pass: a thread an output (else a warp) */
    int ou;            /* flat sweeps: the unroll of the sweep loop (1: none) */
    int xi;            /* extrema with an index on vectors: the element's index in the sweep (1), or
                        * the vector's, the element found after the sweep (0) (K::XI) */
    int nvb;           /* backward of var / std in one pass: vectors a thread holds (K::NVB; 0: none) */
} red_geo;

/* One forward pass: the main kernel and, with split > 1, the combining one. */
typedef struct fwd_pass {
    red_geo g;
    unsigned grid[2], block[2], fin_grid;
    size_t ws; /* split partials */
    CUfunction fn, fin;
} fwd_pass;

typedef struct reduce_impl {
    bool bwd;
    int kind, wi, vec, bv;
    size_t esize, isize;
    int64_t M, N, E;
    fwd_pass f;        /* forward; the mean pass of var / std backward */
    size_t mean_bytes; /* backward of var / std: the mean, before the mean pass's partials */
    unsigned bgrid;
    CUfunction bfn;
    red_geo vg;        /* backward of var / std in one pass (vg.nvb > 0): reduce_vbwd's geometry */
    unsigned vgrid;
    CUfunction vfn;
} reduce_impl;

static const brc__plan_vt reduce_vt = {NULL};

static int64_t pow2ceil(int64_t v) {
    int64_t p = 1;
    while (p < v) p *= 2;
    return p;
}
static size_t align_up(size_t v) { return (v + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN; }

static brc_dtype compute_of(brc_dtype t) {
    if (t == BRC_F64) return BRC_F64;
    if (brc_dtype_is_float(t)) return BRC_F32;
    return BRC_I64;
}
/* Bytes of brc::rstate<C>: two C and an i64, 8-aligned. */
static size_t state_size(brc_dtype t) { return compute_of(t) == BRC_F32 ? 16 : 24; }

static const char *ctype_name(brc_dtype t) {
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
    case BRC_U32: return "u32";
    case BRC_BOOL: return "brc::boolean";
    default: return "?";
    }
}

/* ---- validation ------------------------------------------------------------------------------------ */

static bool is_halfish(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }

static brc_status check_x_dtype(int kind, brc_dtype t, const char *fam) {
    if (is_halfish(t)) return BRC_STATUS_OK;
    if (brc_dtype_is_integer(t) && takes_int(kind)) return BRC_STATUS_OK;
    if (t == BRC_BOOL && takes_bool(kind)) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported for %s (f32, f64, f16, bf16%s)", fam,
                      brc_dtype_name(t), kind_names[kind],
                      takes_bool(kind) ? ", integers, bool" : takes_int(kind) ? ", integers" : "");
}

static brc_status check_y_dtype(int kind, brc_dtype xt, brc_dtype yt, const char *fam) {
    bool ok;
    const char *want;
    if (is_arg(kind) || kind == BRC_REDUCE_COUNT_NONZERO) {
        ok = yt == BRC_I64 || yt == BRC_I32;
        want = "i64 or i32";
    } else if (kind == BRC_REDUCE_ANY || kind == BRC_REDUCE_ALL) {
        ok = yt == BRC_BOOL;
        want = "bool";
    } else if (brc_dtype_is_integer(xt) && (kind == BRC_REDUCE_SUM || kind == BRC_REDUCE_PROD)) {
        ok = yt == xt || yt == BRC_I64;
        want = "x's dtype or i64";
    } else {
        ok = yt == xt;
        want = "x's dtype";
    }
    if (ok) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y has dtype %s; %s writes %s (x is %s)", fam,
                      brc_dtype_name(yt), kind_names[kind], want, brc_dtype_name(xt));
}

/* Maps each dim of x to its dim in an output of the reduced shape (keepdim or not); -1 where the
 * output has none. Checks the output's shape. */
static brc_status out_map(const brc_tensor_desc *x, uint32_t axes, const brc_tensor_desc *o, const char *fam,
                          const char *what, int map[BRC_MAX_RANK]) {
    int nred = 0;
    for (int d = 0; d < x->rank; d++) nred += (axes >> d) & 1;
    bool keep = o->rank == x->rank && nred > 0;
    if (!keep && o->rank != x->rank - nred)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: %s has rank %d; reducing %d of x's %d dims gives rank %d (or %d with keepdim)", fam,
                          what, o->rank, nred, x->rank, x->rank - nred, x->rank);
    int k = 0;
    for (int d = 0; d < x->rank; d++) {
        bool r = (axes >> d) & 1;
        if (keep) {
            map[d] = d;
            int64_t want = r ? 1 : x->shape[d];
            if (o->shape[d] != want)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s dim %d has size %lld, %lld expected", fam, what,
                                  d, (long long)o->shape[d], (long long)want);
        } else if (r) {
            map[d] = -1;
        } else {
            map[d] = k;
            if (o->shape[k] != x->shape[d])
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s dim %d has size %lld, %lld expected", fam, what,
                                  k, (long long)o->shape[k], (long long)x->shape[d]);
            k++;
        }
    }
    return BRC_STATUS_OK;
}

static brc_status same_shape(const brc_tensor_desc *a, const brc_tensor_desc *b, const char *fam, const char *an,
                             const char *bn) {
    bool same = a->rank == b->rank;
    for (int d = 0; same && d < a->rank; d++) same = a->shape[d] == b->shape[d];
    if (same) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s differ in shape", fam, an, bn);
}

/* Drops dims of size 1, merges adjacent dims that nest in every operand, counts M, N and E. */
static void merge(red_problem *pb, const brc_tensor_desc *x, uint32_t axes, const brc_tensor_desc *const ops[NOPS],
                  const int map[BRC_MAX_RANK]) {
    red_dim tmp[BRC_MAX_RANK];
    int n = 0;
    for (int d = x->rank - 1; d >= 0; d--) { /* inner -> outer */
        if (x->shape[d] == 1) continue;
        red_dim c = {x->shape[d], (axes >> d) & 1, {0}};
        for (int k = 0; k < NOPS; k++) {
            const brc_tensor_desc *t = ops[k];
            if (!t) continue;
            if (k == OX || k == ODX) c.s[k] = t->strides[d];
            else if (!c.red && map[d] >= 0) c.s[k] = t->strides[map[d]];
        }
        if (n > 0) {
            red_dim *in = &tmp[n - 1];
            bool ok = in->red == c.red;
            for (int k = 0; ok && k < NOPS; k++) ok = c.s[k] == in->size * in->s[k];
            if (ok) {
                in->size *= c.size;
                continue;
            }
        }
        tmp[n++] = c;
    }
    pb->nd = n;
    pb->M = pb->N = 1;
    for (int i = 0; i < n; i++) {
        pb->d[i] = tmp[n - 1 - i];
        if (pb->d[i].red) pb->N *= pb->d[i].size;
        else pb->M *= pb->d[i].size;
    }
    pb->E = pb->M * pb->N;
    /* Nothing is read from an empty x: its strides (and dx's) are made row-major, so that the
     * descriptor and the kernels do not depend on them. */
    if (pb->E == 0) {
        int64_t acc = 1;
        for (int i = n - 1; i >= 0; i--) {
            pb->d[i].s[OX] = pb->d[i].s[ODX] = acc;
            acc *= pb->d[i].size;
        }
    }
}

/* ---- geometry -------------------------------------------------------------------------------------- */

/* The widest vector (<= 16 bytes) such that the dim `inner` has a multiple of it and every other
 * stride of x (and of dx, dy in the backward, which share it) is a multiple of it. */
static int vec_for(const red_problem *pb, int inner, size_t esize) {
    int v = (int)(16 / esize);
    for (; v > 1; v /= 2) {
        bool ok = pb->d[inner].size % v == 0;
        for (int i = 0; ok && i < pb->nd; i++)
            if (i != inner) ok = pb->d[i].s[OX] % v == 0;
        if (ok) break;
    }
    return v;
}

static int last_of(const red_problem *pb, bool red) {
    for (int i = pb->nd - 1; i >= 0; i--)
        if (pb->d[i].red == red) return i;
    return -1;
}


/* The column layout's CTA: tx threads along the outputs (ctx0, or more when the reduced extent
 * is short), ty = cth / tx along the reduced extent (at most its size rounded up). */
static void col_block(int64_t mv, int64_t n, int64_t cth, int64_t ctx0, int64_t *tx, int64_t *ty) {
    int64_t x = pow2ceil(mv) < ctx0 ? pow2ceil(mv) : ctx0;
    int64_t y = cth / x < pow2ceil(n) ? cth / x : pow2ceil(n);
    if (y < 1) y = 1;
    int64_t x2 = cth / y < pow2ceil(mv) ? cth / y : pow2ceil(mv);
    *tx = x2 > x ? x2 : x;
    *ty = y;
}

static brc_status pick_geo(const red_problem *pb, const brc_context *ctx, int forced_vec, const char *fam,
                           red_geo *g, int *natural) {
    size_t esize = brc_dtype_size(pb->xt), ss = state_size(pb->xt);
    int ir = last_of(pb, true), ik = last_of(pb, false);
    int64_t sr = ir >= 0 ? llabs(pb->d[ir].s[OX]) : INT64_MAX, sk = ik >= 0 ? llabs(pb->d[ik].s[OX]) : INT64_MAX;
    *g = (red_geo){LAYOUT_ROW, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0};
    /* scanred8: the unchecked sweeps and the value-only max / min are the defaults (docs/reduce.md);
     * the knobs restore the former kernels for A/B sweeps. */
    g->flat = brc__knob("BARACUDA_REDUCE_FLAT", 0, 1, 1);
    g->xv = brc__knob("BARACUDA_REDUCE_XV", 0, 1, 1);
    g->xi = brc__knob("BARACUDA_REDUCE_XI", 0, 1, 1);
    /* Extrema that carry an index (argmax / argmin, max / min with index): the sweep loop, the
     * 256-thread rows below, no unrolling of the sweeps (scanred8 sweep: argmax f32 4096x131072
     * 797 us with two sweeps or 8 vectors in flight, against 717). */
    bool idx_ext = is_arg(pb->kind) || ((pb->kind == BRC_REDUCE_MAX || pb->kind == BRC_REDUCE_MIN) && pb->wi);
    /* Row when the reduced extent is the fast one in memory; col otherwise (and for copies). */
    g->layout = (ir >= 0 && sr <= sk) ? LAYOUT_ROW : LAYOUT_COL;
    int inner = g->layout == LAYOUT_ROW ? ir : ik;
    int v = 1;
    if (inner >= 0 && pb->d[inner].s[OX] == 1) v = vec_for(pb, inner, esize);
    *natural = v;
    if (forced_vec) {
        int f = forced_vec;
        if (f < 1 || (f & (f - 1)) || f > v)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: vector_width %d must be a power of two <= %d (what the layout allows)", fam, f, v);
        v = f;
    }
    g->vec = v;
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
    if (g->layout == LAYOUT_ROW) {
        int64_t nv = pb->N / v;
        bool ext = pb->kind == BRC_REDUCE_MAX || pb->kind == BRC_REDUCE_MIN || pb->kind == BRC_REDUCE_ARGMAX ||
                   pb->kind == BRC_REDUCE_ARGMIN;
        /* f32 extrema with an index over rows of 2^17 and more, unsplit: 256 threads a row,
         * __launch_bounds__ for 4 CTAs an SM (red6 sweep: argmax f32 4096x131072 718 us against
         * 733 with 512 threads). The value-only max / min take the sums' geometry (scanred8 sweep:
         * amax there 687 us with 512 threads, 692 with this rule). */
        bool long_ext = ext && idx_ext && pb->xt == BRC_F32 && nv >= 32768 && pb->M >= 2 * (int64_t)sms;
        int64_t tpr = pow2ceil(brc__cdiv(nv, UNROLL)),
                tmax = brc__knob("BARACUDA_REDUCE_TPRMAX", 64, 1024, long_ext ? 256 : 512);
        if (tpr > tmax) tpr = tmax;
        /* 4 vectors in flight a thread. 8 for the f32 extrema over long rows was measured worse
         * (ed914aa: amax f32 8192x32768 405 us against 355 with 4); docs/reduce.md. */
        g->u = brc__knob("BARACUDA_REDUCE_U", 1, 16, UNROLL);
        g->tpr = (int)tpr;
        g->rpb = tpr < 256 ? (int)(256 / tpr) : 1;
        /* Two sweeps a loop trip for sum / mean and the value-only max / min (scanred8 sweep, H100,
         * us: sum f32 4096x131072 681 against 687, amax 689 against 692, 8192x32768 and 2^28
         * within 0.5%, no worse) where a row has two sweeps or more; the other kinds are not
         * measured and keep one. */
        bool two = !idx_ext && (pb->kind == BRC_REDUCE_SUM || pb->kind == BRC_REDUCE_MEAN || ext) &&
                   nv >= 2 * (int64_t)g->tpr * g->u;
        g->ou = brc__knob("BARACUDA_REDUCE_OU", 1, 8, two ? 2 : 1);
        int64_t ctas = brc__cdiv(pb->M, g->rpb);
        if (g->tpr == tmax && ctas < 2 * (int64_t)sms) {
            int64_t most = brc__cdiv(nv, tmax * UNROLL);
            g->split_max = most > 65535 ? 65535 : most;
            if (g->split_max >= 2) g->split = 2; /* the count is set from the kernel's occupancy */
        }
        /* Split f32 sums / means: registers capped for 2 CTAs an SM, so the split fills two
         * resident CTAs an SM (red6 sweep: sum f32 2^28 351 us against 358 with one). */
        bool split_sum = g->split > 1 && pb->xt == BRC_F32 &&
                         (pb->kind == BRC_REDUCE_SUM || pb->kind == BRC_REDUCE_MEAN);
        g->minb = brc__knob("BARACUDA_REDUCE_MINB", 0, 8, long_ext ? 4 : split_sum ? 2 : 0);
    } else {
        int64_t mv = pb->M / v, n = pb->N > 0 ? pb->N : 1;
        g->ou = brc__knob("BARACUDA_REDUCE_OU", 1, 8, 1);
        int64_t cth = brc__knob("BARACUDA_REDUCE_CTHREADS", 64, 1024, 256);
        int64_t ctx_set = brc__knob("BARACUDA_REDUCE_CTX", 1, 1024, 0); /* 0: not set */
        int64_t tx, ty;
        col_block(mv, n, cth, ctx_set ? ctx_set : 32, &tx, &ty);
        /* 4- and 8-byte elements: when 16 threads along the outputs give two CTAs an SM where 32
         * would need a split, take 16 and no split (red6 sweep: sum(0) f32 8192x32768 353 us with
         * 16x16 threads, against 368 with 32x8 split over 3). */
        if (!ctx_set && esize >= 4 && brc__cdiv(mv, tx) < 2 * (int64_t)sms && pb->N > ty * UNROLL * 4) {
            int64_t tx16, ty16;
            col_block(mv, n, cth, 16, &tx16, &ty16);
            if (brc__cdiv(mv, tx16) >= 2 * (int64_t)sms) tx = tx16, ty = ty16;
        }
        (void)ss;
        g->tx = (int)tx;
        g->ty = (int)ty;
        int64_t ctas = brc__cdiv(mv, tx);
        if (ctas < 2 * (int64_t)sms && pb->N > ty * UNROLL * 4) {
            int64_t most = brc__cdiv(pb->N, ty * UNROLL * 2);
            g->split_max = most > 65535 ? 65535 : most;
            if (g->split_max >= 2) g->split = 2; /* the count is set from the kernel's occupancy */
        }
        /* Split columns of 2-byte elements: 8 vectors in flight a thread and registers
         * capped for 2 CTAs an SM (red6 sweep: sum(0) bf16 8192x32768 191 us, against 195-196 in
         * the earlier whole-bench runs with 4 and no cap). */
        bool narrow_split = g->split > 1 && esize == 2;
        g->u = brc__knob("BARACUDA_REDUCE_CU", 1, 16, narrow_split ? 8 : UNROLL);
        g->minb = brc__knob("BARACUDA_REDUCE_CMINB", 0, 8, narrow_split ? 2 : 0);
    }
    return BRC_STATUS_OK;
}

/* ---- kernel source --------------------------------------------------------------------------------- */

/* Emits "c = q % size; q /= size;" steps from the innermost of dims[] (which are in order outer ->
 * inner) and the offset updates: for each listed stride array, acc[k] += c * stride. */
static void emit_decomp(brc__str *s, const char *q, const int *idx, int n, const red_problem *pb, const char *suffix,
                        const char *const *accs, const int *ops, int nacc, const int64_t *mult) {
    for (int i = n - 1; i >= 0; i--) {
        const red_dim *d = &pb->d[idx[i]];
        if (d->size == 0) brc__str_addf(s, "    c = 0;"); /* unreachable: nothing to index */
        else if (i > 0) brc__str_addf(s, "    c = %s %% %lld%s; %s /= %lld%s;", q, (long long)d->size, suffix, q,
                                      (long long)d->size, suffix);
        else brc__str_addf(s, "    c = %s;", q);
        for (int k = 0; k < nacc; k++) {
            int64_t st = ops[k] >= 0 ? d->s[ops[k]] : mult[(size_t)k * BRC_MAX_RANK + (size_t)i];
            if (st) brc__str_addf(s, " %s += (i64)c * %lldLL;", accs[k], (long long)st);
        }
        brc__str_addf(s, "\n");
    }
}

/* The struct K of a plan (see reduce.cuh). yt: the output's storage; mean_pass: y is the compute-type
 * mean, contiguous over the kept dims. */
static void make_struct(brc__str *s, const red_problem *pb, const red_geo *g, int kind, brc_dtype yt, bool bwd) {
    brc_dtype ct = compute_of(pb->xt);
    bool big = pb->E >= ((int64_t)1 << 32) || pb->M >= ((int64_t)1 << 32) || pb->N >= ((int64_t)1 << 32);
    const char *I = big ? "u64" : "u32", *suf = big ? "ull" : "u";
    int kept[BRC_MAX_RANK], red[BRC_MAX_RANK], all[BRC_MAX_RANK], nk = 0, nr = 0;
    for (int i = 0; i < pb->nd; i++) {
        all[i] = i;
        if (pb->d[i].red) red[nr++] = i;
        else kept[nk++] = i;
    }
    int ik = nk ? kept[nk - 1] : -1;
    char pbuf[64];
    snprintf(pbuf, sizeof pbuf, "%.17g", pb->p);
    if (isinf(pb->p)) snprintf(pbuf, sizeof pbuf, "0.0");
    brc__str_addf(s,
                  "struct brc_red {\n  typedef %s T;\n  typedef %s C;\n  typedef %s YT;\n  typedef %s I;\n"
                  "  enum { OP = %d, NK = %d, VEC = %d, U = %d, TPR = %d, RPB = %d, TX = %d, TY = %d, "
                  "WI = %d, BV = %d, INRED = %d, SPLIT1 = %d, FLAT = %d, XV = %d, FT = %d, OU = %d, XI = %d, NVB = %d };\n"
                  "  static constexpr i64 N = %lldLL, M = %lldLL, E = %lldLL, YIN = %lldLL, IIN = %lldLL, "
                  "DYIN = %lldLL;\n"
                  "  static constexpr double P = %s, CORR = %.17g;\n",
                  ctype_name(pb->xt), ct == BRC_F32 ? "float" : ct == BRC_F64 ? "double" : "i64", ctype_name(yt), I,
                  kind, pb->np, g->vec, g->u > 0 ? g->u : UNROLL, g->tpr, g->rpb, g->tx, g->ty, pb->wi, g->bv,
                  pb->nd > 0 && pb->d[pb->nd - 1].red, g->split == 1, g->flat, g->xv, g->ft, g->ou,
                  g->xi && is_ext(pb->kind) && (is_arg(pb->kind) || pb->wi), g->nvb,
                  (long long)pb->N, (long long)pb->M, (long long)pb->E,
                  ik >= 0 ? (long long)pb->d[ik].s[OY] : 0LL, ik >= 0 ? (long long)pb->d[ik].s[OI] : 0LL,
                  ik >= 0 ? (long long)pb->d[ik].s[ODY] : 0LL, pbuf, pb->corr);
    /* kept(o): offsets in x, y, index. */
    brc__str_addf(s, "  static __device__ __forceinline__ void kept(i64 o_, i64& xo, i64& yo, i64& io) {\n"
                     "    I q = (I)o_, c = 0; (void)c; xo = 0; yo = 0; io = 0;\n");
    static const char *const kacc[] = {"xo", "yo", "io"};
    static const int kops[] = {OX, OY, OI};
    emit_decomp(s, "q", kept, nk, pb, suf, kacc, kops, 3, NULL);
    brc__str_addf(s, "  }\n  static __device__ __forceinline__ i64 xr(i64 j_) {\n"
                     "    I q = (I)j_, c = 0; (void)c; i64 xo = 0;\n");
    static const char *const racc[] = {"xo"};
    static const int rops[] = {OX};
    emit_decomp(s, "q", red, nr, pb, suf, racc, rops, 1, NULL);
    brc__str_addf(s, "    return xo;\n  }\n");
    if (bwd) {
        /* bdec(e): x, dx over every dim; y, dy, index, the flat output index over kept dims; the
         * flat reduced index over reduced dims. */
        int64_t mult[5 * BRC_MAX_RANK];
        memset(mult, 0, sizeof mult);
        int64_t mo = 1, jo = 1;
        for (int i = pb->nd - 1; i >= 0; i--) {
            if (pb->d[i].red) {
                mult[4 * BRC_MAX_RANK + i] = jo;
                jo *= pb->d[i].size;
            } else {
                mult[3 * BRC_MAX_RANK + i] = mo;
                mo *= pb->d[i].size;
            }
        }
        /* The accumulators: x, dx, y, dy, index by operand stride (0 on reduced dims for the
         * output operands: merge() leaves them 0), mo and j by the multipliers above. */
        static const char *const bacc[] = {"xo", "dxo", "yo", "dyo", "io", "mo", "j"};
        static const int bops[] = {OX, ODX, OY, ODY, OI, -1, -1};
        /* emit_decomp takes mult rows by accumulator index: put mo at row 5 and j at row 6. */
        int64_t m7[7 * BRC_MAX_RANK];
        memset(m7, 0, sizeof m7);
        memcpy(m7 + 5 * BRC_MAX_RANK, mult + 3 * BRC_MAX_RANK, BRC_MAX_RANK * sizeof(int64_t));
        memcpy(m7 + 6 * BRC_MAX_RANK, mult + 4 * BRC_MAX_RANK, BRC_MAX_RANK * sizeof(int64_t));
        brc__str_addf(s, "  static __device__ __forceinline__ void bdec(i64 e_, i64& xo, i64& dxo, i64& yo, i64& dyo, "
                         "i64& io, i64& mo, i64& j) {\n"
                         "    I q = (I)e_, c = 0; (void)c; xo = dxo = yo = dyo = io = mo = j = 0;\n");
        emit_decomp(s, "q", all, pb->nd, pb, suf, bacc, bops, 7, m7);
        brc__str_addf(s, "  }\n");
        if (g->nvb > 0) {
            /* bkept(o): output o's offsets in x, dx, y and dy (the one-pass var / std backward). */
            brc__str_addf(s, "  static __device__ __forceinline__ void bkept(i64 o_, i64& xo, i64& dxo, i64& yo, "
                             "i64& dyo) {\n    I q = (I)o_, c = 0; (void)c; xo = dxo = yo = dyo = 0;\n");
            static const char *const vacc[] = {"xo", "dxo", "yo", "dyo"};
            static const int vops[] = {OX, ODX, OY, ODY};
            emit_decomp(s, "q", kept, nk, pb, suf, vacc, vops, 4, NULL);
            brc__str_addf(s, "  }\n");
        }
    }
    brc__str_addf(s, "};\n");
}

static brc_status get_kernel(brc_context *ctx, const red_problem *pb, const red_geo *g, int kind, brc_dtype yt,
                             int kid, const char *desc, CUfunction *fn, const brc__kernel **kout) {
    brc__str snip = {0};
    make_struct(&snip, pb, g, kind, yt, kid == K_BWD || kid == K_VBWD);
    int threads = kid == K_ROW || kid == K_VBWD ? g->tpr * g->rpb
                  : kid == K_COL                ? g->tx * g->ty
                  : kid == K_FIN                ? FIN_THREADS
                                                : BWD_THREADS;
    if ((kid == K_ROW || kid == K_COL) && g->minb > 0)
        brc__str_addf(&snip, "__global__ void __launch_bounds__(%d, %d)\n", threads, g->minb);
    else
        brc__str_addf(&snip, "__global__ void __launch_bounds__(%d)\n", threads);
    brc__str_addf(&snip, "brc_reduce_kernel(brc::reduce_args a) { brc::%s<brc_red>(a); }\n", kernel_fns[kid]);
    brc__str kd = {0};
    brc__str_addf(&kd, "%s+%s", desc, kernel_fns[kid]);
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "reduce.cuh", NULL};
        /* The snippet is the whole specialization: its hash identifies the kernel. */
        brc__hash128 h = brc__hash_bytes(snip.p, snip.len);
        brc__kernel_req req = {.template_name = "reduce", .sources = sources, .nspec = 4,
                               .spec = {kid, (int64_t)h.lo, (int64_t)h.hi, (int64_t)snip.len},
                               .snippet = snip.p, .name_expr = "brc_reduce_kernel", .descriptor = kd.p};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
        if (kout) *kout = st ? NULL : k;
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* CTAs of kernel k (threads each) resident on one SM, from its registers and shared memory and the
 * arch's limits (64K registers, 2048 threads, 32 CTAs; 228 / 164 / 100 KiB of shared memory). A
 * kernel with unknown resources (key collection) counts by threads alone. */
static int64_t ctas_per_sm(const brc_context *ctx, const brc__kernel *k, int threads) {
    int64_t n = 2048 / threads;
    if (n > 32) n = 32;
    if (!k) return n > 0 ? n : 1;
    int64_t warps = brc__cdiv(threads, 32);
    if (k->regs > 0) {
        int64_t per_warp = brc__cdiv((int64_t)k->regs * 32, 256) * 256;
        int64_t r = 65536 / (per_warp * warps);
        if (r < n) n = r;
    }
    int64_t smem_sm = ctx->sm_major >= 9 ? 233472 : ctx->sm_major == 8 && ctx->sm_minor == 0 ? 167936 : 102400;
    if (k->shared_bytes > 0) {
        int64_t m = smem_sm / (k->shared_bytes + 1024);
        if (m < n) n = m;
    }
    return n > 0 ? n : 1;
}

/* Geometry, launch shape and kernels of one forward pass. With a split, its count fills one wave
 * of the main kernel's resident CTAs (known once it is compiled), at most split_max. */
static brc_status make_pass(brc_context *ctx, const red_problem *pb, int kind, brc_dtype yt, int forced_vec,
                            const char *fam, const char *desc, fwd_pass *f, int *natural, bool compile) {
    brc_status st = pick_geo(pb, ctx, forced_vec, fam, &f->g, natural);
    if (st) return st;
    red_geo *g = &f->g;
    int64_t cap = 0x7fffffff, n;
    if (g->layout == LAYOUT_ROW) {
        n = brc__cdiv(pb->M, g->rpb);
        f->block[0] = (unsigned)(g->tpr * g->rpb);
        f->block[1] = 1;
    } else {
        n = brc__cdiv(pb->M / g->vec, g->tx);
        f->block[0] = (unsigned)g->tx;
        f->block[1] = (unsigned)g->ty;
    }
    f->grid[0] = (unsigned)(n < cap ? n : cap);
    if (pb->M == 0) f->grid[0] = 0;
    if (!compile || f->grid[0] == 0) return BRC_STATUS_OK;
    const brc__kernel *k = NULL;
    if ((st = get_kernel(ctx, pb, g, kind, yt, g->layout == LAYOUT_ROW ? K_ROW : K_COL, desc, &f->fn, &k))) return st;
    if (g->split > 1) {
        int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
        /* Split columns of 4- and 8-byte elements: splits for two waves of resident CTAs (ed914aa:
         * sum(0) f32 8192x32768 368 us against 380 with one wave; bf16 measured worse with two,
         * 201 against 196, and keeps one). BARACUDA_REDUCE_WAVES overrides it. */
        bool two = g->layout == LAYOUT_COL && brc_dtype_size(pb->xt) >= 4;
        int64_t wave = (int64_t)sms * ctas_per_sm(ctx, k, (int)(f->block[0] * f->block[1])) *
                       brc__knob("BARACUDA_REDUCE_WAVES", 1, 8, two ? 2 : 1);
        int64_t s = wave / (int64_t)f->grid[0];
        if (s > g->split_max) s = g->split_max;
        g->split = (int)(s < 2 ? 2 : s);
        f->ws = align_up((size_t)pb->M * (size_t)g->split * state_size(pb->xt));
        /* Many outputs of few partials each: a thread an output combines them (a warp an output
         * leaves most lanes idle; scanred8 sweep: sum(0) bf16 8192x32768, split 2, 180.5 us
         * against 191.0; at split 16, 32768x4096, 97.5 against 96.2 with the warps, so only up
         * to 4 partials). */
        g->ft = brc__knob("BARACUDA_REDUCE_FINT", 0, 1, g->split <= 4 && pb->M >= 64 * (int64_t)g->split ? 1 : 0);
        int64_t nf = brc__cdiv(pb->M, g->ft ? FIN_THREADS : FIN_THREADS / 32);
        f->fin_grid = (unsigned)(nf < 65535 ? nf : 65535);
        if ((st = get_kernel(ctx, pb, g, kind, yt, K_FIN, desc, &f->fin, NULL))) return st;
    }
    f->grid[1] = (unsigned)g->split;
    return BRC_STATUS_OK;
}

/* ---- descriptors ------------------------------------------------------------------------------------ */

static void add_list(brc__str *s, const char *key, const red_problem *pb, int op, int which /* 0 all, 1 kept */) {
    brc__str_addf(s, ",%s=", key);
    bool first = true;
    for (int i = 0; i < pb->nd; i++) {
        if (which == 1 && pb->d[i].red) continue;
        brc__str_addf(s, "%s%lld", first ? "" : "x", (long long)(op < 0 ? pb->d[i].size : pb->d[i].s[op]));
        first = false;
    }
    if (first) brc__str_addf(s, "1");
}

/* Is operand op row-major over the dims it has (all dims, or the kept ones)? */
static bool contiguous(const red_problem *pb, int op, bool kept_only) {
    int64_t expect = 1;
    for (int i = pb->nd - 1; i >= 0; i--) {
        if (kept_only && pb->d[i].red) continue;
        if (pb->d[i].s[op] != expect) return false;
        expect *= pb->d[i].size;
    }
    return true;
}

static bool default_out(int kind, brc_dtype xt, brc_dtype yt) {
    if (is_arg(kind) || kind == BRC_REDUCE_COUNT_NONZERO) return yt == BRC_I64;
    if (kind == BRC_REDUCE_ANY || kind == BRC_REDUCE_ALL) return yt == BRC_BOOL;
    return yt == xt;
}

static void fmt_double(char *buf, size_t n, double v) {
    if (isinf(v)) snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
    else snprintf(buf, n, "%.17g", v);
}

static void make_desc(brc__str *s, const red_problem *pb, bool bwd, int vec_key) {
    brc__str_addf(s, "reduce(op=%s,dtype=%s", kind_names[pb->kind], brc_dtype_name(pb->xt));
    if (!bwd && !default_out(pb->kind, pb->xt, pb->yt)) brc__str_addf(s, ",out=%s", brc_dtype_name(pb->yt));
    add_list(s, "shape", pb, -1, 0);
    brc__str_addf(s, ",axes=");
    bool first = true;
    for (int i = 0; i < pb->nd; i++)
        if (pb->d[i].red) {
            brc__str_addf(s, "%s%d", first ? "" : "+", i);
            first = false;
        }
    if (first) brc__str_addf(s, "none");
    char b[64];
    if (pb->kind == BRC_REDUCE_VAR || pb->kind == BRC_REDUCE_STD) {
        fmt_double(b, sizeof b, pb->corr);
        brc__str_addf(s, ",correction=%s", b);
    }
    if (pb->kind == BRC_REDUCE_NORM) {
        fmt_double(b, sizeof b, pb->p);
        brc__str_addf(s, ",p=%s", b);
    }
    if (!bwd && (pb->kind == BRC_REDUCE_MAX || pb->kind == BRC_REDUCE_MIN)) brc__str_addf(s, ",index=%d", pb->wi);
    if (!contiguous(pb, OX, false)) add_list(s, "xstrides", pb, OX, 0);
    if (!bwd) {
        if (!contiguous(pb, OY, true)) add_list(s, "ystrides", pb, OY, 1);
        if (pb->wi && !contiguous(pb, OI, true)) add_list(s, "istrides", pb, OI, 1);
    } else {
        bool ry = pb->kind == BRC_REDUCE_PROD || pb->kind == BRC_REDUCE_STD || pb->kind == BRC_REDUCE_NORM ||
                  pb->kind == BRC_REDUCE_LOGSUMEXP;
        if (ry && !contiguous(pb, OY, true)) add_list(s, "ystrides", pb, OY, 1);
        if (is_ext(pb->kind) && !contiguous(pb, OI, true)) add_list(s, "istrides", pb, OI, 1);
        if (!contiguous(pb, ODX, false)) add_list(s, "dxstrides", pb, ODX, 0);
        if (!contiguous(pb, ODY, true)) add_list(s, "dystrides", pb, ODY, 1);
    }
    if (vec_key) brc__str_addf(s, ",vec=%d", vec_key);
    if (bwd) brc__str_addf(s, ",dir=bwd");
    brc__str_addf(s, ")");
}

static void add_geo(brc__str *s, const red_problem *pb, const red_geo *g) {
    brc__str_addf(s, "layout=%s,out=%lld,red=%lld,vec=%d,", g->layout == LAYOUT_ROW ? "row" : "col",
                  (long long)pb->M, (long long)pb->N, g->vec);
    if (g->layout == LAYOUT_ROW) brc__str_addf(s, "tpr=%d,rpb=%d,split=%d", g->tpr, g->rpb, g->split);
    else brc__str_addf(s, "tx=%d,ty=%d,split=%d", g->tx, g->ty, g->split);
    if (g->u > 0 && g->u != UNROLL) brc__str_addf(s, ",u=%d", g->u);
    if (g->minb > 0) brc__str_addf(s, ",minb=%d", g->minb);
    if (!g->flat) brc__str_addf(s, ",flat=0");
    else if (g->ou != 1) brc__str_addf(s, ",ou=%d", g->ou);
    if (g->xi && is_ext(pb->kind) && (is_arg(pb->kind) || pb->wi)) brc__str_addf(s, ",xi");
    if (!g->xv && (pb->kind == BRC_REDUCE_MAX || pb->kind == BRC_REDUCE_MIN) && !pb->wi) brc__str_addf(s, ",xv=0");
}

/* ---- planning ---------------------------------------------------------------------------------------- */

static brc_status check_params(int kind, double corr, double p, const char *fam, int *np) {
    if ((kind == BRC_REDUCE_VAR || kind == BRC_REDUCE_STD) && !(corr >= 0 && corr < 1e18))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: correction = %g must be >= 0", fam, corr);
    *np = NP_GEN;
    if (kind != BRC_REDUCE_NORM) return BRC_STATUS_OK;
    if (isnan(p) || (p < 0 && !isinf(p)))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: norm p = %g must be > 0, 0 or +-inf", fam, p);
    *np = p == 1 ? NP_1 : p == 2 ? NP_2 : p == 0 ? NP_0 : isinf(p) ? (p > 0 ? NP_INF : NP_NINF) : NP_GEN;
    return BRC_STATUS_OK;
}

static brc_status check_axes(const brc_tensor_desc *x, uint32_t axes, const char *fam) {
    for (int d = x->rank; d < 32; d++)
        if ((axes >> d) & 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: axes 0x%x names dim %d but x has rank %d", fam,
                              (unsigned)axes, d, x->rank);
    return BRC_STATUS_OK;
}

static brc_status finish_plan(brc_context *ctx, reduce_impl *tmpl, brc__str *desc, brc__str *sku, brc__family fam,
                              brc_plan **out) {
    brc_plan *p = NULL;
    brc_status st;
    if (desc->oom || sku->oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "reduce: out of memory");
        goto fail;
    }
    if ((st = brc__plan_new(ctx, fam, &reduce_vt, sizeof(reduce_impl), &p))) goto fail;
    *(reduce_impl *)p->impl = *tmpl;
    p->workspace = tmpl->bwd ? tmpl->mean_bytes + tmpl->f.ws : tmpl->f.ws;
    brc__plan_publish(p, desc->p, sku->p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    brc__str_free(desc);
    brc__str_free(sku);
    return st;
}

static brc_status plan_forward(brc_context *ctx, const brc_reduce_desc *d, const brc_plan_prefs *prefs_in,
                               brc_plan **out) {
    const char *fam = "reduce";
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "reduce: kind %d is not a reduce kind", kind);
    char fb[64];
    snprintf(fb, sizeof fb, "reduce %s", kind_names[kind]);
    fam = fb;
    char what[96];
    snprintf(what, sizeof what, "%s: x", fam);
    if ((st = brc__tensor_check(&d->x, what))) return st;
    snprintf(what, sizeof what, "%s: y", fam);
    if ((st = brc__tensor_check(&d->y, what))) return st;
    if ((st = check_x_dtype(kind, d->x.dtype, fam)) || (st = check_y_dtype(kind, d->x.dtype, d->y.dtype, fam)) ||
        (st = check_axes(&d->x, d->axes, fam)))
        return st;
    red_problem pb = {.kind = kind, .xt = d->x.dtype, .yt = d->y.dtype, .corr = d->correction, .p = d->p};
    if ((st = check_params(kind, d->correction, d->p, fam, &pb.np))) return st;
    if (kind != BRC_REDUCE_VAR && kind != BRC_REDUCE_STD) pb.corr = 0;
    if (kind != BRC_REDUCE_NORM) pb.p = 0;
    if (d->write_index != 0 && d->write_index != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: write_index = %d must be 0 or 1", fam, d->write_index);
    if (d->write_index && kind != BRC_REDUCE_MAX && kind != BRC_REDUCE_MIN)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: write_index is for max and min only", fam);
    pb.wi = d->write_index;
    int map[BRC_MAX_RANK];
    if ((st = out_map(&d->x, d->axes, &d->y, fam, "y", map))) return st;
    if (pb.wi) {
        snprintf(what, sizeof what, "%s: index", fam);
        if ((st = brc__tensor_check(&d->index, what)) || (st = same_shape(&d->index, &d->y, fam, "index", "y")))
            return st;
        if (d->index.dtype != BRC_I64)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: index has dtype %s, i64 expected", fam,
                              brc_dtype_name(d->index.dtype));
    }
    const brc_tensor_desc *ops[NOPS] = {&d->x, &d->y, pb.wi ? &d->index : NULL, NULL, NULL};
    merge(&pb, &d->x, d->axes, ops, map);
    if (is_ext(kind) && pb.N == 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: the reduced slices are empty (%s of no elements)", fam,
                          kind_names[kind]);

    reduce_impl im = {.kind = kind, .wi = pb.wi, .esize = brc_dtype_size(pb.xt), .M = pb.M, .N = pb.N, .E = pb.E};
    int natural = 1;
    if ((st = make_pass(ctx, &pb, kind, pb.yt, prefs->vector_width, fam, "", &im.f, &natural, false))) return st;
    im.vec = im.f.g.vec;
    brc__str desc = {0}, sku = {0};
    make_desc(&desc, &pb, false, prefs->vector_width ? im.vec : 0);
    if (!desc.oom && (st = make_pass(ctx, &pb, kind, pb.yt, prefs->vector_width, fam, desc.p, &im.f, &natural, true))) {
        brc__str_free(&desc);
        return st;
    }
    brc__str_addf(&sku, "bespoke:%s<%s,", kind_names[kind], brc_dtype_name(pb.xt));
    add_geo(&sku, &pb, &im.f.g);
    brc__str_addf(&sku, "%s>@%s", im.f.g.split > 1 ? (im.f.g.ft ? ",+fint" : ",+fin") : "", ctx->arch);
    return finish_plan(ctx, &im, &desc, &sku, BRC__FAM_REDUCE, out);
}

brc_status brc_reduce_plan(brc_context *ctx, const brc_reduce_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_reduce_plan");
    if (st) return st;
    return plan_forward(ctx, d, prefs, out);
}

brc_status brc_reduce_to_shape_plan(brc_context *ctx, const brc_tensor_desc *x, const brc_tensor_desc *y,
                                    const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, x, out, "brc_reduce_to_shape_plan");
    if (st) return st;
    if (!y) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_reduce_to_shape_plan: y is NULL");
    if ((st = brc__tensor_check(x, "reduce_to_shape: x")) || (st = brc__tensor_check(y, "reduce_to_shape: y")))
        return st;
    if (y->rank > x->rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "reduce_to_shape: y has rank %d > x's %d: it does not broadcast to x",
                          y->rank, x->rank);
    brc_reduce_desc d = {.kind = BRC_REDUCE_SUM, .x = *x};
    int lead = x->rank - y->rank;
    d.y.dtype = y->dtype;
    d.y.rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        int64_t ys = i < lead ? 1 : y->shape[i - lead];
        if (ys != x->shape[i] && ys != 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "reduce_to_shape: y dim %d has size %lld; x's dim %d has %lld (y must broadcast to x)",
                              i - lead, (long long)ys, i, (long long)x->shape[i]);
        d.y.shape[i] = ys;
        d.y.strides[i] = i < lead ? 0 : y->strides[i - lead];
        if (ys == 1 && x->shape[i] != 1) d.axes |= 1u << i;
    }
    return plan_forward(ctx, &d, prefs, out);
}

brc_status brc_reduce_backward_plan(brc_context *ctx, const brc_reduce_backward_desc *d, const brc_plan_prefs *prefs_in,
                                    brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_reduce_backward_plan");
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "reduce backward: kind %d is not a reduce kind", kind);
    char fam[64], what[96];
    snprintf(fam, sizeof fam, "reduce backward %s", kind_names[kind]);
    if (!has_grad(kind))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has no gradient", fam, kind_names[kind]);
    const brc_tensor_desc *tv[] = {&d->x, &d->dy, &d->dx};
    const char *tn[] = {"x", "dy", "dx"};
    for (int i = 0; i < 3; i++) {
        snprintf(what, sizeof what, "%s: %s", fam, tn[i]);
        if ((st = brc__tensor_check(tv[i], what))) return st;
    }
    if (!is_halfish(d->x.dtype))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", fam,
                          brc_dtype_name(d->x.dtype));
    if (d->dx.dtype != d->x.dtype || d->dy.dtype != d->x.dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, x has %s", fam,
                          d->dx.dtype != d->x.dtype ? "dx" : "dy",
                          brc_dtype_name(d->dx.dtype != d->x.dtype ? d->dx.dtype : d->dy.dtype),
                          brc_dtype_name(d->x.dtype));
    if ((st = check_axes(&d->x, d->axes, fam)) || (st = same_shape(&d->dx, &d->x, fam, "dx", "x"))) return st;
    red_problem pb = {.kind = kind, .xt = d->x.dtype, .yt = d->x.dtype, .corr = d->correction, .p = d->p};
    if ((st = check_params(kind, d->correction, d->p, fam, &pb.np))) return st;
    if (kind == BRC_REDUCE_NORM && (pb.np == NP_INF || pb.np == NP_NINF || pb.np == NP_0))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: the backward of norm p = %g is not provided", fam, d->p);
    if (kind != BRC_REDUCE_VAR && kind != BRC_REDUCE_STD) pb.corr = 0;
    if (kind != BRC_REDUCE_NORM) pb.p = 0;
    int map[BRC_MAX_RANK];
    if ((st = out_map(&d->x, d->axes, &d->dy, fam, "dy", map))) return st;
    bool ry = kind == BRC_REDUCE_PROD || kind == BRC_REDUCE_STD || kind == BRC_REDUCE_NORM || kind == BRC_REDUCE_LOGSUMEXP;
    if (ry) {
        snprintf(what, sizeof what, "%s: y", fam);
        if ((st = brc__tensor_check(&d->y, what)) || (st = same_shape(&d->y, &d->dy, fam, "y", "dy"))) return st;
        if (d->y.dtype != d->x.dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y has dtype %s, x has %s", fam,
                              brc_dtype_name(d->y.dtype), brc_dtype_name(d->x.dtype));
    }
    if (is_ext(kind)) {
        snprintf(what, sizeof what, "%s: index", fam);
        if ((st = brc__tensor_check(&d->index, what)) || (st = same_shape(&d->index, &d->dy, fam, "index", "dy")))
            return st;
        if (d->index.dtype != BRC_I64)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: index has dtype %s, i64 expected", fam,
                              brc_dtype_name(d->index.dtype));
    }
    const brc_tensor_desc *ops[NOPS] = {&d->x, ry ? &d->y : NULL, is_ext(kind) ? &d->index : NULL, &d->dx, &d->dy};
    merge(&pb, &d->x, d->axes, ops, map);
    if (is_ext(kind) && pb.N == 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: the reduced slices are empty (%s of no elements)", fam,
                          kind_names[kind]);

    reduce_impl im = {.bwd = true, .kind = kind, .esize = brc_dtype_size(pb.xt), .M = pb.M, .N = pb.N, .E = pb.E};
    bool rx = !(kind == BRC_REDUCE_SUM || kind == BRC_REDUCE_MEAN || is_ext(kind));
    int f = prefs->vector_width, vmax = (int)(16 / im.esize);
    if (f && (f < 1 || (f & (f - 1)) || f > vmax))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fam, f, vmax);
    /* The elementwise kernel's vector: along the innermost dim when it has stride 1 in dx (and x,
     * when x is read) and every other stride of those is a multiple of it. */
    int bv = 1, in = pb.nd - 1;
    if (in >= 0 && pb.d[in].s[ODX] == 1 && (!rx || pb.d[in].s[OX] == 1)) {
        for (bv = vmax; bv > 1; bv /= 2) {
            bool ok = pb.d[in].size % bv == 0;
            for (int i = 0; ok && i < in; i++) ok = pb.d[i].s[ODX] % bv == 0 && (!rx || pb.d[i].s[OX] % bv == 0);
            if (ok) break;
        }
    }
    if (f && bv > f) bv = f;
    int vec = 1, natural = 1;
    bool mean_pass = kind == BRC_REDUCE_VAR || kind == BRC_REDUCE_STD;
    /* var / std whose reduced elements are one dim of stride 1 in x and dx, at most 8 vectors a thread
     * of a 1024-thread row (32768 f32, 65536 16-bit elements): one kernel holds each slice in
     * registers, takes its mean and writes dx (reduce_vbwd), instead of the mean pass and the
     * elementwise kernel, so x is read once, not twice. A CTA takes whole rows, so the rows must give
     * a CTA an SM at least, or the problem be small (1 MiB of x) enough for few CTAs to read it at once;
     * otherwise the mean pass splits long rows over more CTAs. BARACUDA_REDUCE_VFUSE: 0 the two
     * kernels, 2 one pass wherever a row fits (the tests' setting). */
    int vfuse = brc__knob("BARACUDA_REDUCE_VFUSE", 0, 2, 1);
    if (mean_pass && pb.E > 0 && pb.nd > 0 && vfuse) {
        int ir = pb.nd - 1;
        bool one = pb.d[ir].red && pb.d[ir].s[OX] == 1 && pb.d[ir].s[ODX] == 1;
        for (int i = 0; one && i < ir; i++) one = !pb.d[i].red;
        int64_t nvec = pb.N / bv, tpr = pow2ceil(brc__cdiv(nvec, 4));
        if (tpr > 1024) tpr = 1024;
        int64_t nvb = brc__cdiv(nvec, tpr);
        int64_t rpb = tpr < 256 ? 256 / tpr : 1;
        bool fills = brc__cdiv(pb.M, rpb) >= (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 132) ||
                     pb.E * (int64_t)brc_dtype_size(pb.xt) <= ((int64_t)1 << 20);
        if (one && nvb <= 8 && (fills || vfuse == 2)) {
            im.vg = (red_geo){LAYOUT_ROW, bv, (int)tpr, (int)rpb, 1, 1, 1, 0, bv, 0, 0, 1, 1, 0, 1, 0, 0};
            im.vg.nvb = (int)nvb;
            mean_pass = false;
        }
    }
    red_problem mp = pb;
    if (mean_pass) {
        /* The mean of each slice, into the workspace in the compute type, contiguous over the kept
         * dims in order (the backward's flat output index). */
        mp.kind = BRC_REDUCE_MEAN;
        mp.yt = compute_of(pb.xt);
        int64_t st_ = 1;
        for (int i = mp.nd - 1; i >= 0; i--) {
            mp.d[i].s[OY] = mp.d[i].red ? 0 : st_;
            if (!mp.d[i].red) st_ *= mp.d[i].size;
            mp.d[i].s[OI] = mp.d[i].s[ODX] = mp.d[i].s[ODY] = 0;
        }
        if ((st = make_pass(ctx, &mp, BRC_REDUCE_MEAN, mp.yt, 0, fam, "", &im.f, &natural, false))) return st;
        if (f && f < natural &&
            (st = make_pass(ctx, &mp, BRC_REDUCE_MEAN, mp.yt, f, fam, "", &im.f, &natural, false)))
            return st;
        vec = im.f.g.vec;
        im.mean_bytes = align_up((size_t)pb.M * brc_dtype_size(mp.yt));
    }
    im.vec = vec;
    im.bv = bv;
    brc__str desc = {0}, sku = {0};
    make_desc(&desc, &pb, true, f);
    int64_t blocks = brc__cdiv(pb.E / bv, BWD_THREADS), capb = (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 132) * 64;
    im.bgrid = (unsigned)(blocks < capb ? blocks : capb);
    if (im.vg.nvb > 0) {
        int64_t groups = brc__cdiv(pb.M, im.vg.rpb);
        im.vgrid = (unsigned)(groups < 0x7fffffff ? groups : 0x7fffffff);
        im.bgrid = 0;
        im.vec = bv;
        if (!desc.oom && (st = get_kernel(ctx, &pb, &im.vg, kind, pb.xt, K_VBWD, desc.p, &im.vfn, NULL))) goto fail;
    } else if (!desc.oom) {
        if (mean_pass && (st = make_pass(ctx, &mp, BRC_REDUCE_MEAN, mp.yt, f && f < natural ? f : 0, fam, desc.p,
                                         &im.f, &natural, true)))
            goto fail;
        if (im.bgrid > 0 && (st = get_kernel(ctx, &pb, &(red_geo){LAYOUT_ROW, 1, 1, 1, 1, 1, 1, 0, bv, 0, 0, 1, 1, 0, 1, 0, 0}, kind,
                                             pb.xt, K_BWD, desc.p, &im.bfn, NULL)))
            goto fail;
    }
    brc__str_addf(&sku, "bespoke:%s_bwd<%s,elems=%lld,out=%lld,red=%lld,vec=%d", kind_names[kind],
                  brc_dtype_name(pb.xt), (long long)pb.E, (long long)pb.M, (long long)pb.N, bv);
    if (im.vg.nvb > 0)
        brc__str_addf(&sku, ",tpr=%d,rpb=%d,nv=%d>+onepass", im.vg.tpr, im.vg.rpb, im.vg.nvb);
    else
        brc__str_addf(&sku, ">");
    if (mean_pass) {
        brc__str_addf(&sku, "+mean<");
        add_geo(&sku, &mp, &im.f.g);
        brc__str_addf(&sku, "%s>", im.f.g.split > 1 ? (im.f.g.ft ? ",+fint" : ",+fin") : "");
    }
    brc__str_addf(&sku, "@%s", ctx->arch);
    return finish_plan(ctx, &im, &desc, &sku, BRC__FAM_REDUCE_BWD, out);
fail:
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* ---- rebuilding a plan from its descriptor ----------------------------------------------------------- */

/* "4096x1x-3" -> values; false on a malformed list. */
static bool parse_list(const char *v, int64_t *out, int *n) {
    *n = 0;
    while (*v) {
        if (*n == BRC_MAX_RANK) return false;
        char *end = NULL;
        long long x = strtoll(v, &end, 10);
        if (end == v) return false;
        out[(*n)++] = x;
        v = end;
        if (*v == 'x') v++;
        else if (*v) return false;
    }
    return *n > 0;
}

static brc_status list_key(brc__desc *d, const char *key, int64_t *out, int *n, int want) {
    const char *v = brc__desc_get(d, key);
    if (!v) return BRC_STATUS_OK;
    int got = 0;
    if (!parse_list(v, out, &got) || (want >= 0 && got != want)) {
        for (int i = 0; i < d->nkv; i++)
            if (strcmp(d->kv[i].key, key) == 0) d->err_col = d->kv[i].val_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: '%s' is not a list of %d integers joined by 'x'", key, v,
                          want);
    }
    *n = got;
    return BRC_STATUS_OK;
}

static brc_status double_key(brc__desc *d, const char *key, double dflt, double *out) {
    const char *v = brc__desc_get(d, key);
    *out = dflt;
    if (!v) return BRC_STATUS_OK;
    char *end = NULL;
    double x = strtod(v, &end);
    if (!end || *end || end == v) {
        for (int i = 0; i < d->nkv; i++)
            if (strcmp(d->kv[i].key, key) == 0) d->err_col = d->kv[i].val_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: '%s' is not a number", key, v);
    }
    *out = x;
    return BRC_STATUS_OK;
}

brc_status brc__reduce_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int kind = 0;
    brc_dtype xt = BRC_F32, yt;
    brc_status st;
    static const char *const dirs[] = {"fwd", "bwd"};
    int dir = 0;
    int64_t shape[BRC_MAX_RANK], wi = 0, vec = 0;
    int nd = 0, nax = 0;
    double corr = 1, p = 2;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &xt)) ||
        (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)) || (st = brc__desc_int(d, "vec", 1, 16, 0, &vec)))
        return st;
    yt = is_arg(kind) || kind == BRC_REDUCE_COUNT_NONZERO ? BRC_I64
         : kind == BRC_REDUCE_ANY || kind == BRC_REDUCE_ALL ? BRC_BOOL
                                                              : xt;
    if (dir == 0 && brc__desc_get(d, "out") && (st = brc__desc_dtype(d, "out", &yt))) return st;
    const char *sv;
    if ((st = brc__desc_need(d, "shape", &sv)) || (st = list_key(d, "shape", shape, &nd, -1))) return st;
    for (int i = 0; i < nd; i++)
        if (shape[i] < 0) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "shape: a size is negative");
    const char *av;
    if ((st = brc__desc_need(d, "axes", &av))) return st;
    uint32_t axes = 0;
    if (strcmp(av, "none") != 0) {
        const char *q = av;
        while (*q) {
            char *end = NULL;
            long a = strtol(q, &end, 10);
            if (end == q || a < 0 || a >= nd || (*end && *end != '+')) {
                for (int i = 0; i < d->nkv; i++)
                    if (strcmp(d->kv[i].key, "axes") == 0) d->err_col = d->kv[i].val_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "axes: '%s' is not 'none' or dims of shape joined by '+'",
                                  av);
            }
            axes |= 1u << a;
            nax++;
            q = *end ? end + 1 : end;
        }
    }
    if ((kind == BRC_REDUCE_VAR || kind == BRC_REDUCE_STD) && (st = double_key(d, "correction", 1, &corr))) return st;
    if (kind == BRC_REDUCE_NORM && (st = double_key(d, "p", 2, &p))) return st;
    if (dir == 0 && (kind == BRC_REDUCE_MAX || kind == BRC_REDUCE_MIN) && (st = brc__desc_int(d, "index", 0, 1, 0, &wi)))
        return st;
    int nk = nd - nax;
    brc_tensor_desc x, y, ix, dx, dy;
    brc_tensor_desc_contiguous(&x, xt, nd, shape);
    dx = x;
    int64_t ks[BRC_MAX_RANK];
    for (int i = 0, k = 0; i < nd; i++)
        if (!((axes >> i) & 1)) ks[k++] = shape[i];
    /* The outputs: keepdim, strides row-major over the kept dims unless listed. */
    brc_tensor_desc *outs[] = {&y, &ix, &dy};
    const char *okeys[] = {"ystrides", "istrides", "dystrides"};
    for (int o = 0; o < 3; o++) {
        brc_tensor_desc *t = outs[o];
        brc_tensor_desc_contiguous(t, o == 1 ? BRC_I64 : o == 0 && dir == 0 ? yt : xt, nk, ks);
        int64_t ls[BRC_MAX_RANK];
        int nl = 0;
        if ((st = list_key(d, okeys[o], ls, &nl, nk > 0 ? nk : 1))) return st;
        if (nl) memcpy(t->strides, ls, (size_t)nk * sizeof(int64_t));
        brc_tensor_desc kd = *t;
        t->rank = nd;
        for (int i = 0, k = 0; i < nd; i++) {
            if ((axes >> i) & 1) {
                t->shape[i] = 1;
                t->strides[i] = 0;
            } else {
                t->shape[i] = kd.shape[k];
                t->strides[i] = kd.strides[k++];
            }
        }
        if (nax == 0) *t = kd; /* nothing reduced: same rank, no keepdim */
    }
    int nl = 0;
    if ((st = list_key(d, "xstrides", x.strides, &nl, nd))) return st;
    if ((st = list_key(d, "dxstrides", dx.strides, &nl, nd))) return st;
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.vector_width = (int)vec;
    if (dir == 0) {
        brc_reduce_desc r = {(brc_reduce_kind)kind, x, y, axes, corr, p, (int)wi, ix};
        return brc_reduce_plan(ctx, &r, &prefs, out);
    }
    y.dtype = xt;
    brc_reduce_backward_desc b = {(brc_reduce_kind)kind, x, y, dy, dx, axes, corr, p, ix};
    return brc_reduce_backward_plan(ctx, &b, &prefs, out);
}

static brc_status launch(const brc_plan *plan, CUfunction fn, const unsigned grid[2], const unsigned block[2],
                         reduce_args *a, brc_stream stream) {
    void *args[1] = {a};
    CUresult r = brc__cu()->cuLaunchKernel(fn, grid[0], grid[1], 1, block[0], block[1], 1, 0, (CUstream)stream, args,
                                           NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

static brc_status run_pass(const brc_plan *plan, const fwd_pass *f, reduce_args *a, brc_stream stream) {
    brc_status st;
    if (f->grid[0] == 0) return BRC_STATUS_OK;
    a->split = f->g.split;
    if ((st = launch(plan, f->fn, f->grid, f->block, a, stream))) return st;
    if (f->g.split > 1) {
        unsigned g[2] = {f->fin_grid, 1}, b[2] = {FIN_THREADS, 1};
        return launch(plan, f->fin, g, b, a, stream);
    }
    return BRC_STATUS_OK;
}

brc_status brc_reduce_run(const brc_plan *plan, const void *x, void *y, void *index, void *workspace,
                          size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_reduce_run";
    brc_status st = brc__run_start(plan, BRC__FAM_REDUCE, fn, workspace, workspace_size);
    if (st) return st;
    const reduce_impl *im = plan->impl;
    if (im->M == 0) return BRC_STATUS_OK;
    const char *desc = plan->descriptor;
    (void)desc;
    size_t ysz = 1;
    if (is_arg(im->kind) || im->kind == BRC_REDUCE_COUNT_NONZERO) ysz = 4; /* i32 or i64 */
    if ((im->N > 0 && (st = brc__need_ptr(x, (size_t)im->vec * im->esize, fn, "x", plan))) ||
        (st = brc__need_ptr(y, ysz, fn, "y", plan)) || (im->wi && (st = brc__need_ptr(index, 8, fn, "index", plan))))
        return st;
    reduce_args a = {.x = x, .y = y, .idx = im->wi ? index : NULL, .ws = workspace};
    return run_pass(plan, &im->f, &a, stream);
}

brc_status brc_reduce_backward_run(const brc_plan *plan, const void *x, const void *y, const void *index,
                                   const void *dy, void *dx, void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_reduce_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_REDUCE_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const reduce_impl *im = plan->impl;
    if (im->E == 0) return BRC_STATUS_OK;
    int k = im->kind;
    bool rx = !(k == BRC_REDUCE_SUM || k == BRC_REDUCE_MEAN || is_ext(k));
    bool ry = k == BRC_REDUCE_PROD || k == BRC_REDUCE_STD || k == BRC_REDUCE_NORM || k == BRC_REDUCE_LOGSUMEXP;
    bool mean_pass = k == BRC_REDUCE_VAR || k == BRC_REDUCE_STD;
    size_t xal = (size_t)(im->vec > im->bv ? im->vec : im->bv) * im->esize;
    if ((rx && (st = brc__need_ptr(x, xal, fn, "x", plan))) || (ry && (st = brc__need_ptr(y, im->esize, fn, "y", plan))) ||
        (is_ext(k) && (st = brc__need_ptr(index, 8, fn, "index", plan))) || (st = brc__need_ptr(dy, im->esize, fn, "dy", plan)) ||
        (st = brc__need_ptr(dx, (size_t)im->bv * im->esize, fn, "dx", plan)))
        return st;
    reduce_args a = {.x = x, .dy = dy, .yin = ry ? y : NULL, .iin = is_ext(k) ? index : NULL, .dx = dx};
    if (im->vg.nvb > 0) {
        unsigned g[2] = {im->vgrid, 1}, b[2] = {(unsigned)(im->vg.tpr * im->vg.rpb), 1};
        return launch(plan, im->vfn, g, b, &a, stream);
    }
    if (mean_pass) {
        reduce_args m = {.x = x, .y = workspace, .ws = (char *)workspace + im->mean_bytes};
        if ((st = run_pass(plan, &im->f, &m, stream))) return st;
        a.ws = workspace;
    }
    unsigned g[2] = {im->bgrid, 1}, b[2] = {BWD_THREADS, 1};
    return launch(plan, im->bfn, g, b, &a, stream);
}
