/* The scan family: cumsum, cumprod, cummax, cummin and logcumsumexp along one axis, forward and
 * backward. Validates the operands, merges the other dims, chooses the layout (rows, cols, split),
 * generates the kernels' specialization (kernel_src/scan.cuh) and launches them. Descriptor keys:
 * docs/scan.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_SCAN_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

/* Kernel phases (PH in scan.cuh): one pass, or reduce / carry / final when the axis is split. */
enum { PH_SINGLE, PH_REDUCE, PH_CARRY, PH_FINAL, PH_ONEPASS };
enum { LAYOUT_ROWS, LAYOUT_COLS };
/* Operand slots of the kernels (scan_args.str[o]). */
enum { O_IN0, O_IN1, O_IN2, O_KIN, O_OUT, O_KOUT, NOPS };
enum { COL_THREADS = 256, CARRY_THREADS = 256, WS_ALIGN = 256, STATE_BYTES = 32, MAX_OTHER = 7 };
/* One-pass split rows: threads a CTA, slabs a tile (at most nvmax), look-back group, and the most
 * group totals a lane folds: by default (OP_PER; measured at 2 a lane), or when asked for with
 * BARACUDA_SCAN_ONEPASS=1 (OP_PER_MAX; the GPU test's 2^24 + 17 line of vec = 1 needs 9); the
 * shared memory of the pipelined variant's two tiles. */
enum { OP_THREADS = 512, OP_NV = 4, OP_LBG = 32, OP_PER = 8, OP_PER_MAX = 32, OP_PIPE_SMEM = 40960 };
/* The pipelined one pass's ring (dynamic shared memory) at most: what a CTA may opt into less 8 KiB
 * for the kernel's static arrays. */
enum { PIPE_STATIC_SMEM = 8192 };

/* struct brc::scan_args in scan.cuh: 8-byte fields only. */
typedef struct scan_args {
    const void *in0, *in1, *in2, *kin;
    void *out, *kout, *ws;
    int64_t len, lines, nd, nch, clen;
    int64_t shape[MAX_OTHER];
    int64_t str[NOPS][8];
} scan_args;
_Static_assert(sizeof(scan_args) == (7 + 5 + 7 + 48) * 8, "scan_args must match brc::scan_args");

typedef struct scan_impl {
    int kind, bwd, rev, layout, split;
    brc_dtype dt;
    size_t esize, csize;
    int vec, tpr, rpb, nv;
    int minb;  /* CTAs an SM the main kernels' registers are capped for (0: no cap) */
    int kst;   /* cummax / cummin: 1 stores the indices from registers, 0 stages them (a warp's) */
    int fast;  /* logcumsumexp forward: 1 the one-exp step and exp2 combines, 0 the generic combine */
    int fuse;  /* split rows: the final pass folds its own carry (two kernels): 1 by block scans, 2 by one
                * ordered reduction; 0 a carry kernel */
    int pdl;   /* split rows, sm_90: the carry / final passes are programmatic dependents of the one before */
    int l2h;   /* split rows: L2 hints (eighths of the chunks the reduce pass keeps; 0 none) */
    int rnv;   /* row_reduce_lite: slabs loaded at once (0: nv) */
    int rminb; /* split rows: the reduce pass's minb when > 0 (else minb) */
    int pf;    /* split rows: the final pass prefetches its chunk's later tiles into L2 */
    int lite;  /* split rows of cumsum / cumprod forward: the reduce pass sums its chunk, no scan */
    int onepass; /* split rows or columns in one pass (PH_ONEPASS): a look-back over chunk totals */
    int lbg;     /* one pass: chunks a look-back group */
    int opad;    /* one pass: a 128-byte workspace slot a chunk (1) or packed flags and states (0) */
    int osleep;  /* one pass: ns a polling lane sleeps between polls (0: spins) */
    int opoll;   /* one pass: 1 relaxed polls and one fence, 0 acquire polls */
    int oticket; /* one pass: 1 chunks from a ticket, 0 the CTA index (an experiment) */
    int opipe;   /* one pass: persistent CTAs, a ring of opipe tiles in shared memory (0: off) */
    int ff;      /* rows of cumprod forward, f32 / 16-bit data: thread runs in float-float (K::FF); bit 0
                  * the scanning passes, bit 1 the light reduce pass */
    size_t dsmem; /* dynamic shared memory of the main kernel (the ring) */
    size_t flag_bytes; /* one pass: the workspace prefix (ticket, flags) the run zeroes */
    bool used[NOPS];
    bool same[NOPS]; /* input o has the output's strides (in place allowed) */
    scan_args a;     /* pointers filled per run */
    unsigned grid, threads, carry_grid, carry_threads;
    CUfunction fn[5]; /* by phase */
} scan_impl;

static const brc__plan_vt scan_vt = {NULL};


static int pow2ceil(int64_t n) {
    int p = 1;
    while (p < n && p < (1 << 30)) p <<= 1;
    return p;
}
/* sizeof(P::S) of the op's kernels (scan.cuh: struct sop): the value; an affine map or (m, s)
 * pair; cummax / cummin forward a value and an i64 index, backward two i64 keys and a sum. */
static size_t state_size(int kind, int bwd, size_t csize) {
    if (kind == BRC_SCAN_CUMMAX || kind == BRC_SCAN_CUMMIN) return bwd ? 24 : 16;
    if (kind == BRC_SCAN_LOGCUMSUMEXP || (kind == BRC_SCAN_CUMPROD && bwd)) return 2 * csize;
    return csize;
}
/* Chunks a chunk group of the columns' one pass: the least g with g * g >= nch (co_groupsize in
 * scan.cuh computes the same). */
static int64_t col_groupsize(int64_t nch) {
    int64_t g = (int64_t)sqrt((double)nch);
    while (g > 1 && g * g > nch) g--;
    while (g * g < nch) g++;
    return g;
}
static int pow2floor(int64_t n) {
    int p = 1;
    while ((int64_t)p * 2 <= n && p < (1 << 30)) p <<= 1;
    return p;
}

/* ---- operands ------------------------------------------------------------------------------------ */

/* One operand of a request: its descriptor, its slot, its name in messages, the dtype it must
 * have (the value dtype, or i64 for indices), and whether it is written. */
typedef struct operand {
    const brc_tensor_desc *t;
    int slot;
    const char *name;
    bool index, output;
} operand;

/* ---- planning -------------------------------------------------------------------------------------- */

static const char *storage_type(brc_dtype t) {
    switch (t) {
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    default: return "float";
    }
}

static brc_status get_kernel(brc_context *ctx, const scan_impl *im, int ph, const char *desc, CUfunction *fn) {
    bool carry = ph == PH_CARRY;
    int minb = ph == PH_REDUCE && im->rminb > 0 ? im->rminb : im->minb;
    int tpr = carry && im->layout == LAYOUT_ROWS ? CARRY_THREADS : im->tpr;
    int rpb = carry ? 1 : im->rpb;
    unsigned threads = carry ? im->carry_threads : im->threads;
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_scan {\n"
                  "  typedef %s T;\n  typedef %s C;\n"
                  "  enum { OP = %d, BWD = %d, REV = %d, LAYOUT = %d, PH = %d, VEC = %d, TPR = %d, RPB = %d, "
                  "NV = %d, KST = %d, FAST = %d, FUSE = %d, LBG = %d, OPAD = %d, OSLEEP = %d, OPOLL = %d, "
                  "OTICKET = %d, OPIPE = %d, LITE = %d, PDL = %d, L2H = %d, RNV = %d, PF = %d, FF = %d };\n"
                  "};\n",
                  storage_type(im->dt), im->csize == 8 ? "double" : "float", im->kind, im->bwd, im->rev, im->layout,
                  ph, im->vec, tpr, rpb, im->nv, im->kst, im->fast, im->fuse, im->lbg > 0 ? im->lbg : 32, im->opad,
                  im->osleep, im->opoll, im->oticket, im->opipe, im->lite, im->pdl, im->l2h, im->rnv, im->pf,
                  ph == PH_REDUCE && im->lite ? im->ff >> 1 & 1 : im->ff & 1);
    if (!carry && minb > 0) brc__str_addf(&snip, "__global__ void __launch_bounds__(%u, %d)\n", threads, minb);
    else brc__str_addf(&snip, "__global__ void __launch_bounds__(%u)\n", threads);
    brc__str_addf(&snip, "brc_scan_kernel(brc::scan_args a) { brc::scan_main<brc_scan>(a); }\n");
    static const char *const phase_names[] = {"", "+reduce", "+carry", "+final", ""};
    brc__str kd = {0};
    brc__str_addf(&kd, "%s%s", desc, phase_names[ph]);
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "scan.cuh", NULL};
        brc__kernel_req req = {
            .template_name = "scan", .sources = sources, .nspec = 16,
            .spec = {ph, im->layout, im->kind, im->bwd, im->rev, im->dt, im->vec, tpr, rpb, im->nv,
                     (int64_t)im->csize, (int64_t)threads, carry ? 0 : minb, im->kst, im->fast,
                     im->fuse | (int64_t)im->lbg << 4 | (int64_t)im->opad << 12 | (int64_t)im->osleep << 16 |
                         (int64_t)im->opoll << 28 | (int64_t)im->oticket << 29 | (int64_t)(im->opipe != 0) << 30 |
                         (int64_t)im->lite << 31 | (int64_t)im->pdl << 32 | (int64_t)im->l2h << 33 |
                         (int64_t)im->rnv << 37 | (int64_t)im->pf << 41 | (int64_t)im->opipe << 45 |
                         (int64_t)im->ff << 49},
            .snippet = snip.p, .name_expr = "brc_scan_kernel", .descriptor = kd.p};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
        if (!st && ctx->device >= 0 && ph == PH_ONEPASS && im->dsmem > 48 * 1024) {
            CUresult r = brc__cu()->cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                       (int)im->dsmem);
            if (r != CUDA_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cuFuncSetAttribute(%zu bytes of shared memory): %s (%s)",
                                im->dsmem, brc__cu_errname(r), desc);
        }
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* A request after its family-specific checks. ops[0] is the reference operand (x forward, dy
 * backward): the others must have its shape. */
typedef struct scan_request {
    int kind, bwd, dim, reverse;
    const operand *ops;
    int nops;
    int force_split; /* -1: by the heuristic; 0 / 1 / 2 (one pass): the descriptor says (brc__scan_from_desc) */
    int force_narrow; /* rows of f32 cummax / cummin: -1 by the heuristic; 0 / 1 the descriptor's tmax */
} scan_request;

static brc_status plan_common(brc_context *ctx, const scan_request *rq, const brc_plan_prefs *prefs_in,
                              brc_plan **out) {
    const char *fam = rq->bwd ? "scan backward" : "scan";
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    if (rq->kind < 0 || rq->kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not a scan kind", fam, rq->kind);
    if (rq->reverse != 0 && rq->reverse != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: reverse = %d must be 0 or 1", fam, rq->reverse);
    const brc_tensor_desc *ref = rq->ops[0].t;
    brc_dtype dt = ref->dtype;
    for (int i = 0; i < rq->nops; i++) {
        const operand *o = &rq->ops[i];
        char name[64];
        snprintf(name, sizeof name, "%s: %s", fam, o->name);
        if ((st = brc__tensor_check(o->t, name))) return st;
        if (i == 0) {
            if (o->t->rank < 1)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: rank 0 has no axis to scan (rank must be >= 1)",
                                  name);
            if (dt != BRC_F32 && dt != BRC_F64 && dt != BRC_F16 && dt != BRC_BF16)
                return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", name,
                                  brc_dtype_name(dt));
        } else if (!brc__same_shape(o->t, ref)) {
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s differ in shape", fam, o->name,
                              rq->ops[0].name);
        }
        brc_dtype want = o->index ? BRC_I64 : dt;
        if (o->t->dtype != want)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s expected", fam, o->name,
                              brc_dtype_name(o->t->dtype), brc_dtype_name(want));
        if (o->output && !brc__no_self_overlap(o->t))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has strides under which its elements overlap",
                              fam, o->name);
    }
    int rank = ref->rank;
    if (rq->dim < -rank || rq->dim >= rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dim %d is out of range for rank %d (-%d..%d)", fam,
                          rq->dim, rank, rank, rank - 1);
    int dim = rq->dim < 0 ? rq->dim + rank : rq->dim;
    /* cumprod computes in f64 whatever the dtype: a tree of f32 products of values near 1 drifts
     * (measured: 5.7% after 2^24 factors of exp(N(0, 1.2e-4)), against 4e-5 in order). */
    size_t esize = brc_dtype_size(dt), csize = dt == BRC_F64 || rq->kind == BRC_SCAN_CUMPROD ? 8 : 4;

    /* The other dims of size > 1, outer to inner, merged where every operand nests them. */
    scan_args a;
    memset(&a, 0, sizeof a);
    a.len = ref->shape[dim];
    a.lines = 1;
    int nd = 0;
    int slot_of[8];
    for (int i = 0; i < rq->nops; i++) slot_of[i] = rq->ops[i].slot;
    for (int d = 0; d < rank; d++) {
        if (d == dim) continue;
        a.lines *= ref->shape[d]; /* bounded: brc__tensor_check bounded the element count */
        if (ref->shape[d] == 1) continue;
        bool merge = nd > 0;
        for (int i = 0; merge && i < rq->nops; i++) {
            int64_t inner = rq->ops[i].t->strides[d], prod;
            if (__builtin_mul_overflow(inner, ref->shape[d], &prod) || a.str[slot_of[i]][nd - 1] != prod) merge = false;
        }
        if (merge) {
            a.shape[nd - 1] *= ref->shape[d];
            for (int i = 0; i < rq->nops; i++) a.str[slot_of[i]][nd - 1] = rq->ops[i].t->strides[d];
        } else {
            a.shape[nd] = ref->shape[d];
            for (int i = 0; i < rq->nops; i++) a.str[slot_of[i]][nd] = rq->ops[i].t->strides[d];
            nd++;
        }
    }
    a.nd = nd;
    for (int i = 0; i < rq->nops; i++) a.str[slot_of[i]][7] = rq->ops[i].t->strides[dim];

    /* Layout: rows when the axis is contiguous in every operand (and longer than 1). */
    bool rows = a.len > 1;
    for (int i = 0; i < rq->nops; i++)
        if (rq->ops[i].t->strides[dim] != 1) rows = false;
    int vmax = (int)(16 / esize), vec = 1, tpr = 0, rpb = 1, nv = 1;
    /* Vectors a thread loads at once: 4 (64 bytes of each array in flight); 2 for the backward ops
     * that read three arrays and for cumprod's f64 compute of f32 / 16-bit data (registers). */
    bool three = rq->bwd && (rq->kind == BRC_SCAN_CUMPROD || rq->kind == BRC_SCAN_LOGCUMSUMEXP);
    /* Rows of cumprod forward of 16-bit data: each thread's run of a vector (and the light reduce
     * pass's runs of up to 16 factors) multiplied in float-float, converted to f64 once a run, where
     * the factors are in range (kernel_src/scan.cuh, ff_run / ff_out); the states stay f64. Measured
     * (H100, sweeps scan13b / scan13c, the kernel as built): bf16 1x2^24 56.4 -> 52.0 us, 8192x32768
     * 610.6 -> 498.0, 32768x4096 306.4 -> 309.4 uncapped, 240.0 with the 64-register cap below; f32
     * slower (1x2^24 73.4 -> 81.7, 32768x4096 413.6 -> 461.3 for FF=1), so f32 keeps f64 runs.
     * BARACUDA_SCAN_FF (f32 / 16-bit): 0 none, 1 the scanning passes, 2 the light reduce pass, 3 both. */
    int ff = rows && !rq->bwd && rq->kind == BRC_SCAN_CUMPROD && esize < 8
                 ? brc__knob("BARACUDA_SCAN_FF", 0, 3, esize == 2 ? 3 : 0)
                 : 0;
    int nvmax = three || (csize == 8 && esize < 8) ? 2 : 4; /* f64 compute of narrower data: 2 (measured) */
    bool nv_set = brc__knob("BARACUDA_SCAN_NV", 1, 8, 0) != 0;
    nvmax = brc__knob("BARACUDA_SCAN_NV", 1, 8, nvmax);
    /* cummax / cummin stage their indices in shared memory (32 x vec i64 a warp): at most 512
     * threads a CTA keeps that within 32 KiB. */
    bool ext_fwd = (rq->kind == BRC_SCAN_CUMMAX || rq->kind == BRC_SCAN_CUMMIN) && !rq->bwd;
    int tmax = ext_fwd ? 512 : 1024;
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
    /* f32 / bf16 / f16 cummax / cummin over rows longer than one tile of 512 threads (4 vectors of
     * 16 bytes each), with lines enough for 16 CTAs an SM unsplit: 128 threads a row, more tiles
     * (red6 sweep, f32 8192x32768: 1574 us against 2600 with 512 threads, PyTorch 2326; scanred8
     * sweep, bf16 there: 1665 against 2426, PyTorch 2372). The descriptor says so (tmax=128: the
     * line count is not in it). f16 (the bf16 kernel's shape), f64 and other lengths are not
     * measured. */
    bool narrow = rows && ext_fwd && (dt == BRC_F32 || dt == BRC_BF16 || dt == BRC_F16) &&
                  (rq->force_narrow >= 0 ? rq->force_narrow == 1
                                         : a.len > 512 * 4 * (int64_t)(16 / esize) && a.lines >= (int64_t)sms * 16);
    if (narrow) tmax = 128;
    tmax = brc__knob("BARACUDA_SCAN_TMAX", 32, ext_fwd ? 512 : 1024, tmax);
    bool forced = prefs->vector_width != 0;
    if (forced) {
        int f = prefs->vector_width;
        if (f < 1 || f > vmax || (f & (f - 1)) || (rows && a.len % f))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: vector_width %d must be a power of two <= %d dividing the axis length %lld", fam, f,
                              vmax, (long long)a.len);
    }
    int default_vec = 1;
    if (rows) {
        default_vec = vmax;
        while (default_vec > 1 && a.len % default_vec) default_vec /= 2;
        vec = forced ? prefs->vector_width : default_vec;
        for (int i = 0; i < rq->nops; i++) {
            if (rq->ops[i].index) continue; /* indices are accessed one by one */
            for (int d = 0; d < nd; d++) {
                int64_t s = a.str[rq->ops[i].slot][d];
                if (forced && s % vec)
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                      "%s: vector_width %d does not divide the stride %lld of %s", fam, vec,
                                      (long long)s, rq->ops[i].name);
                while (vec > 1 && s % vec) vec /= 2;
            }
        }
        /* nvmax vectors a thread (64 bytes of each array in flight; 32 for the backward ops that
         * read three arrays) over as few threads as cover the row, 32..1024. */
        tpr = pow2ceil(brc__cdiv(a.len, (int64_t)vec * nvmax));
        if (tpr < 32) tpr = 32;
        if (tpr > tmax) tpr = tmax;
        int64_t slabs = brc__cdiv(a.len, (int64_t)tpr * vec);
        nv = pow2floor(slabs);
        if (nv > nvmax) nv = nvmax;
        rpb = tpr < 128 ? 128 / tpr : 1;
    } else if (nd > 0) {
        /* cols: VEC consecutive lines a thread when the innermost other dim is contiguous in
         * every operand and VEC divides its size and every other stride of the value operands. */
        bool contig = true;
        for (int i = 0; i < rq->nops; i++)
            if (a.str[rq->ops[i].slot][nd - 1] != 1) contig = false;
        vec = contig ? (forced ? prefs->vector_width : vmax) : 1;
        while (vec > 1) {
            bool fits = a.shape[nd - 1] % vec == 0;
            for (int i = 0; i < rq->nops; i++) {
                if (rq->ops[i].index) continue;
                for (int d = 0; d < nd - 1; d++) fits = fits && a.str[rq->ops[i].slot][d] % vec == 0;
                fits = fits && a.str[rq->ops[i].slot][7] % vec == 0;
            }
            if (fits) break;
            vec /= 2;
        }
    }
    if (!rows && forced && vec != prefs->vector_width)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: vector_width %d does not fit the strided-axis layout (its innermost other dim must "
                          "be contiguous, its size and the strides multiples of it)",
                          fam, prefs->vector_width);

    /* Split the axis over CTAs when the lines alone would not fill the GPU. */
    int64_t nch = 1, clen = a.len;
    bool split = false, onepass = false;
    int cminb = 0;     /* the columns' one pass: its register cap (CTAs an SM) */
    int64_t cngrp = 0; /* the columns' one pass: column groups (32 vectors of lines) */
    int lbg = 0, opipe = 0;
    if (rows) {
        int64_t tile = (int64_t)nv * tpr * vec, tiles = brc__cdiv(a.len, tile);
        int64_t per_sm = 2048 / (tpr * rpb) > 0 ? 2048 / (tpr * rpb) : 1, cap = sms * per_sm;
        split = rq->force_split >= 0 ? rq->force_split >= 1 : (a.lines < cap && tiles >= 4);
        if (split) {
            /* One pass (reads once, writes once): CTAs of OP_THREADS, one tile of nv slabs each (the
             * chunk stays in registers), a look-back over the chunk totals in groups of lbg. Kept
             * to lines short enough that a lane folds at most OP_PER group totals (else the three
             * kernels below). Measured (scan7 sweep, H100, 1x2^24, 512 threads x 4 slabs, 64
             * registers): faster only for logcumsumexp forward (f32 166 us against 209 with the
             * three kernels, bf16 120 against 152: a position's step is computed twice instead of
             * three times); slower for f32 cumsum (90 against 76) and cumprod (146 against 85),
             * equal for bf16 cumsum (54) and f32 cummax (194 against 191). So the default is the
             * one pass for logcumsumexp forward of 2- and 4-byte data only (f64 not measured);
             * BARACUDA_SCAN_ONEPASS=0/1 overrides it where it fits. */
            /* scanred8 (from scan7's 8f9bdb9 / 84c355d, first measured here): BARACUDA_SCAN_OPIPE=1,
             * persistent CTAs (256 or 512 threads) that copy the next chunk's tile into shared
             * memory (two buffers, at most OP_PIPE_SMEM bytes) while they scan the current one;
             * forward ops and vectors of 4+ bytes only. scan11: a ring of BARACUDA_SCAN_OPST tiles
             * (2-8; more than 2 in dynamic shared memory, up to brc__smem_per_cta less PIPE_STATIC_SMEM). */
            int opst = brc__knob("BARACUDA_SCAN_OPST", 2, 8, 2);
            opipe = brc__knob("BARACUDA_SCAN_OPIPE", 0, 1, 0) && !rq->bwd && (size_t)vec * esize >= 4 ? opst : 0;
            size_t pmax = opst > 2 ? (size_t)brc__smem_per_cta(ctx->sm_major, ctx->sm_minor) - PIPE_STATIC_SMEM
                                   : OP_PIPE_SMEM;
            bool opt_set = brc__knob("BARACUDA_SCAN_OPT", 64, 1024, 0) != 0;
            int opt = pow2floor(brc__knob("BARACUDA_SCAN_OPT", 64, 1024, OP_THREADS));
            int onv = nv_set ? nvmax : nvmax < OP_NV ? nvmax : OP_NV;
            while (opipe && !opt_set && opt > 256 && (size_t)opipe * onv * opt * vec * esize > pmax) opt /= 2;
            while (opipe && onv > 1 && (size_t)opipe * onv * opt * vec * esize > pmax) onv /= 2;
            if ((size_t)opipe * onv * opt * vec * esize > pmax) opipe = 0;
            lbg = brc__knob("BARACUDA_SCAN_LBG", 2, 32, OP_LBG);
            int64_t otile = (int64_t)onv * opt * vec, onch = brc__cdiv(a.len, otile);
            int dflt = rq->kind == BRC_SCAN_LOGCUMSUMEXP && !rq->bwd && esize <= 4;
            int asked = brc__knob("BARACUDA_SCAN_ONEPASS", 0, 1, -1);
            bool fits = onch <= (int64_t)lbg * 32 * (asked == 1 ? OP_PER_MAX : OP_PER);
            onepass = rq->force_split == 2 || (rq->force_split < 0 && fits && (asked >= 0 ? asked : dflt) == 1);
            if (onepass) {
                rpb = 1;
                tpr = opt;
                nv = onv;
                clen = otile;
                nch = onch;
            }
        }
        if (split && !onepass) {
            /* Smaller CTAs (256 threads) and chunks of one tile: more chunks in flight. */
            rpb = 1;
            /* logcumsumexp forward, split, 2- and 4-byte data: 2 slabs at once (red6 sweep, 1x2^24:
             * bf16 152 us against 202 with 4, f32 208 against 219; f64 not measured, keeps 4). */
            bool lse2 = rq->kind == BRC_SCAN_LOGCUMSUMEXP && !rq->bwd && esize <= 4 && !nv_set;
            int nvs = lse2 && nvmax > 2 ? 2 : nvmax;
            if (tpr > 256) {
                tpr = 256;
                nv = (int)(nv * 4 > nvs ? nvs : nv * 4);
                tile = (int64_t)nv * tpr * vec;
                tiles = brc__cdiv(a.len, tile);
                cap = sms * (2048 / tpr);
            } else if (nv > nvs) {
                nv = nvs;
                tile = (int64_t)nv * tpr * vec;
                tiles = brc__cdiv(a.len, tile);
            }
            int64_t want = brc__cdiv(brc__knob("BARACUDA_SCAN_WAVES8", 1, 64, 16) * cap / 8, a.lines > 0 ? a.lines : 1);
            int64_t per = brc__cdiv(tiles, want);
            clen = per * tile;
            nch = brc__cdiv(a.len, clen);
        }
    } else {
        int64_t cap = (int64_t)sms * 2048, threads = a.lines / vec;
        split = rq->force_split >= 0 ? rq->force_split >= 1 : (threads < cap / 4 && a.len >= 64);
        if (split) {
            /* One pass (col_onepass in scan.cuh: reads once, writes once): CTAs of COL_THREADS, a
             * warp's 32 vectors of lines by cpw positions a warp (held in registers through the
             * look-back), chunks of 8 cpw positions, a look-back in chunk groups of ceil(sqrt(nch)).
             * Kept to 2^24 CTAs. The default where it measured faster than the three kernels below
             * (which read the input twice and walk every chunk a thread at a time): cumsum (both
             * ways; the backward is the same scan) and cummax / cummin forward of 2- and 4-byte
             * data. H100, 32768x4096 along dim 0 (bench/sweep_reduce_scan.py --only cols12), us,
             * one pass against three kernels: cumsum f32 464.6 (cpw 16, 16-byte vectors, minb 2)
             * against 667.7, bf16 460.1 (cpw 16, 8-byte) against 478.2; cummax f32 1339.6 (cpw 8,
             * 8-byte) against 1847.3, bf16 1448.3 (cpw 16, 8-byte) against 2583.0; cumsum bf16
             * 65536x1024 342.7 against 544.7, f32 8192x32768 974.6 (cpw 8, 8-byte) against 1151.4.
             * Slower: cumprod (f32 861 against 666, bf16 941 against 529) and logcumsumexp (f32
             * 1099 against 770, bf16 1497 against 690) at their best settings. BARACUDA_SCAN_ONEPASS
             * = 0 / 1 overrides the choice, BARACUDA_SCAN_CPW the positions a warp, BARACUDA_SCAN_CVB
             * the vector bytes. */
            bool ext = rq->kind == BRC_SCAN_CUMMAX || rq->kind == BRC_SCAN_CUMMIN;
            bool cdflt = esize <= 4 && (rq->kind == BRC_SCAN_CUMSUM || (ext && !rq->bwd));
            bool c16 = rq->kind == BRC_SCAN_CUMSUM && esize == 4;
            int cpw = brc__knob("BARACUDA_SCAN_CPW", 1, 32, three ? 4 : ext && esize == 4 ? 8 : 16);
            int cvb = brc__knob("BARACUDA_SCAN_CVB", 1, 16, c16 || esize == 8 ? 16 : 8);
            /* the kernel's static shared memory: a state a line of the CTA's 8 warps, at most 32 KiB */
            size_t ssz = state_size(rq->kind, rq->bwd, csize);
            int cvec = vec;
            while (!forced && rq->force_split != 2 && cvec > 1 &&
                   ((size_t)cvec * esize > (size_t)cvb || (size_t)COL_THREADS * cvec * ssz > 32768))
                cvec /= 2;
            bool smem_ok = (size_t)COL_THREADS * cvec * ssz <= 32768;
            if (!smem_ok && rq->force_split == 2)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "%s: vector_width %d is too wide for the columns' one pass of %s (at most %d)", fam,
                                  cvec, kind_names[rq->kind], pow2floor((int64_t)(32768 / (COL_THREADS * ssz))));
            int64_t cclen = (int64_t)(COL_THREADS / 32) * cpw, cnch = brc__cdiv(a.len, cclen);
            cngrp = brc__cdiv(a.lines / cvec, 32);
            int asked = brc__knob("BARACUDA_SCAN_ONEPASS", 0, 1, -1);
            bool fits = cngrp * cnch <= ((int64_t)1 << 24) && smem_ok;
            onepass = rq->force_split == 2 || (rq->force_split < 0 && fits && (asked >= 0 ? asked == 1 : cdflt));
            if (onepass) {
                cminb = c16 && cpw == 16 && cvec * esize == 16 ? 2 : 0;
                vec = cvec;
                nv = cpw;
                clen = cclen;
                nch = cnch;
            }
        }
        if (split && !onepass) {
            int64_t want = brc__cdiv(cap, threads > 0 ? threads : 1), most = a.len / 16 > 1 ? a.len / 16 : 1;
            nch = want < most ? want : most;
            clen = brc__cdiv(a.len, nch > 0 ? nch : 1);
            nch = clen > 0 ? brc__cdiv(a.len, clen) : 1;
        }
    }
    if (clen < 1) clen = 1;
    if (nch < 1) nch = 1;
    a.nch = nch;
    a.clen = clen;

    int kst = (rq->kind == BRC_SCAN_CUMMAX || rq->kind == BRC_SCAN_CUMMIN) && !rq->bwd && rows
                  ? brc__knob("BARACUDA_SCAN_KST", 0, 1, 1) : 0;
    /* scan10: FAST = 2 (f32 compute) takes the hardware's exp2 / log2 approximations (ex2.approx.ftz,
     * lg2.approx.ftz: one MUFU each) instead of exp2f and the accurate logf; f64 has no such form.
     * Measured (H100, sweep scan10, interleaved with PyTorch): f32 1x2^24 167.7 -> 148.9 us (PyTorch
     * 156.8), bf16 1x2^24 112.7 -> 94.0, f32 32768x4096 1004.8 -> 796.1. */
    int fast = rq->kind == BRC_SCAN_LOGCUMSUMEXP && !rq->bwd ? brc__knob("BARACUDA_SCAN_FAST", 0, 2, csize == 4 ? 2 : 1) : 0;
    if (fast == 2 && csize != 4) fast = 1;
    /* The fused carry (each final CTA folds the chunk totals before it, up to nch / 256 rounds of a
     * block scan, instead of a carry kernel) measured faster only for f32 cumsum (ed914aa, 1x2^24:
     * 73 us against 77.5 forward and backward); bf16 cumsum, cumprod, logcumsumexp and bf16 cummax
     * ran slower fused, so they keep the carry kernel. BARACUDA_SCAN_FUSE=0/1 overrides it. */
    /* scan10: FUSE = 2, the fold as one ordered reduction (a thread ceil(nch / 256) totals, loads
     * first, then the lanes and the warps in order: one barrier pair), for f32 cumsum forward and f32 /
     * 16-bit cumprod forward. Measured (H100, 1x2^24, sweep scan10; with PDL): f32 cumsum 81.8 us
     * with FUSE=1 -> 68.9, f32 cumprod 88.2 with the carry kernel -> 74.5, bf16 cumprod 57.7 -> 55.9;
     * bf16 cumsum 46.6 -> 49.1 (keeps the carry kernel). */
    bool fold2 = !rq->bwd && ((rq->kind == BRC_SCAN_CUMSUM && esize == 4) || (rq->kind == BRC_SCAN_CUMPROD && esize <= 4));
    int fuse = split && rows && !onepass
                   ? brc__knob("BARACUDA_SCAN_FUSE", 0, 2, fold2 ? 2 : rq->kind == BRC_SCAN_CUMSUM && esize == 4)
                   : 0;
    bool sum16 = split && rows && !onepass && !rq->bwd && rq->kind == BRC_SCAN_CUMSUM && esize == 2 && tpr == 256;
    /* scan10, split rows on sm_90: the final pass (and the carry kernel) launched as programmatic
     * dependents (PDL): the final pass's first tile loads overlap the pass before's tail. Measured
     * (1x2^24, FUSE=2): f32 cumsum 72.2 -> 68.9 us, f32 cumprod 79.6 -> 74.5; bf16 cumsum, bf16
     * cumprod and f32 cummax (carry kernel) unchanged within 0.1 us; with the block-scan fold
     * (FUSE=1) slower: f32 cumsum forward 74.7 -> 81.8, backward (the whole bench, run 3) 77.3 ->
     * 84.7; bf16 cumsum forward gains only with its register cap (minb=3: 46.6 -> 42.3). So the
     * default is PDL for the +fold plans and bf16 / f16 cumsum forward, where it was measured. */
    int pdl = split && rows && !onepass && ctx->sm_major >= 9
                  ? brc__knob("BARACUDA_SCAN_PDL", 0, 1, fuse == 2 || sum16)
                  : 0;
    /* scan10: L2 eviction hints on split rows of 16-byte vectors (kernel_src/scan.cuh, L2H): the
     * default 2 for the folded f32 cumsum (sweep scan10b: 67.8 us against 68.9 without; 4: 68.8 and
     * 68.9 in two runs, 6: 70.2); cumprod with RNV=4: 73.1 against 72.9 without. */
    int l2h = split && rows && !onepass && (size_t)vec * esize == 16
                  ? brc__knob("BARACUDA_SCAN_L2H", 0, 8, fuse == 2 && rq->kind == BRC_SCAN_CUMSUM ? 2 : 0)
                  : 0;
    /* scanred8: the reduce pass of split cumsum / cumprod forward rows sums (multiplies) its chunk
     * a thread at a time and combines the threads once (the op commutes), instead of scanning
     * every tile as the final pass does. BARACUDA_SCAN_LITE=0 restores the scanning pass. */
    int lite = split && rows && !onepass && rpb == 1 && !rq->bwd &&
                       (rq->kind == BRC_SCAN_CUMSUM || rq->kind == BRC_SCAN_CUMPROD)
                   ? brc__knob("BARACUDA_SCAN_LITE", 0, 1, 1)
                   : 0;
    /* One pass: registers capped for 1024 threads an SM (64 a thread; uncapped, the look-back's
     * registers on top of the tile's made cumprod 71, logcumsumexp f32 76 / bf16 96 and cummax 120:
     * one 512-thread CTA an SM; logcumsumexp f32 1x2^24 ran 271 us uncapped, 166 capped). */
    /* scan10: the fold's final pass with PDL holds its first tile across the fold (71 registers for
     * f32 cumsum: 3 CTAs of 256 an SM); capped for 4 (64, no spills): 68.9 us against 69.2 uncapped.
     * bf16 cumsum forward split (82 registers with PDL: 2 CTAs an SM) capped for 3: 46.6 -> 42.3. */
    /* scan13: unsplit rows with float-float runs capped at 64 registers (a 1024-thread SM's worth of
     * CTAs): cumprod bf16 32768x4096 (256 threads a row, 70 registers uncapped: 3 CTAs an SM) 309.4 ->
     * 240.0 us (minb=3 239.7; the f64 runs 306.4); 8192x32768 (1024 threads, 64 already) unchanged.
     * scan14 (sweep, 32768x4096 forward): the same cap for cumsum bf16 (74 registers at 128 threads)
     * 218.7 -> 183.9 us (minb=7 181.4), logcumsumexp bf16 (88) 591.5 -> 489.7 (minb=6 536.5), f32 (72,
     * 256 threads) 796.8 -> 688.4; 16-bit cummax / cummin (114) capped at 85 (768 threads an SM):
     * 838.2 -> 779.1 (64 registers: 1014.5); f32 cummax (80) capped at 64 was slower (868.4 against
     * 841.6) and keeps its registers. The cumsum backward (the forward's kernel) takes the cap too;
     * f64 does not (it would spill 8-120 bytes). Some capped kernels spill (bf16 at 4096 columns:
     * cumsum 16 bytes, logcumsumexp 56, cummax 80) and were measured faster all the same. */
    bool cap64 = rows && !split && !onepass && esize <= 4 &&
                 ((ff & 1) || rq->kind == BRC_SCAN_CUMSUM || (rq->kind == BRC_SCAN_LOGCUMSUMEXP && !rq->bwd));
    bool cap85 = rows && !split && !onepass && ext_fwd && esize == 2;
    int minb = brc__knob("BARACUDA_SCAN_MINB", 0, 16,
                         onepass && !rows ? cminb
                         : onepass        ? (tpr < 1024 ? 1024 / tpr : 1)
                         : fuse == 2 && tpr == 256 ? 4
                         : sum16          ? 3
                         : cap64          ? 1024 / (tpr * rpb)
                         : cap85          ? 768 / (tpr * rpb)
                                          : 0);
    /* scan10: the reduce pass's own register cap (BARACUDA_SCAN_RMINB; 0: minb's). Not a default:
     * 5 spills (16 / 24 bytes), f32 cumsum 69.2 against 68.9, cumprod 74.1 against 74.9. */
    int rminb = split && rows && !onepass ? brc__knob("BARACUDA_SCAN_RMINB", 0, 16, 0) : 0;
    /* scan10: the final pass's L2 prefetch of its chunk's later tiles (BARACUDA_SCAN_PF=1; not a
     * default: see docs/scan.md). */
    int pf = split && rows && !onepass ? brc__knob("BARACUDA_SCAN_PF", 0, 1, 0) : 0;
    /* scan10: the light reduce pass's slabs loaded at once (0: nv): 4 for f32 cumprod (2 slabs a
     * tile, 4 tiles a chunk): 74.9 -> 72.9 us (run 2; 74.5 -> 72.4 run 1); 8: 75.6; f32 cumsum 8:
     * 70.5 against 68.9. */
    int rnv = lite ? brc__knob("BARACUDA_SCAN_RNV", 0, 8, rq->kind == BRC_SCAN_CUMPROD && esize == 4 && nv == 2 ? 4 : 0) : 0;

    /* Canonical descriptor (what determines the kernels) and SKU (what was chosen). */
    const char *kn = kind_names[rq->kind];
    brc__str desc = {0}, sku = {0};
    brc__str_addf(&desc, "scan(op=%s,dtype=%s,inner=%d", kn, brc_dtype_name(dt), rows ? 1 : 0);
    if (rows) {
        brc__str_addf(&desc, ",len=%lld", (long long)a.len);
        if (forced || vec != default_vec) brc__str_addf(&desc, ",vec=%d", vec);
        if (narrow) brc__str_addf(&desc, ",tmax=128");
    } else {
        brc__str_addf(&desc, ",vec=%d", vec);
    }
    brc__str_addf(&desc, ",reverse=%d,split=%d,dir=%s)", rq->reverse, onepass ? 2 : split ? 1 : 0,
                  rq->bwd ? "bwd" : "fwd");
    if (rows)
        brc__str_addf(&sku, "bespoke:scan<%s,%s,rows,vec=%d,tpr=%d,rpb=%d,nv=%d", kn, brc_dtype_name(dt), vec, tpr,
                      rpb, nv);
    else
        brc__str_addf(&sku, "bespoke:scan<%s,%s,cols,vec=%d,threads=%d", kn, brc_dtype_name(dt), vec, COL_THREADS);
    if (!rows && onepass) brc__str_addf(&sku, ",pw=%d", nv);
    if (minb) brc__str_addf(&sku, ",minb=%d", minb);
    if (kst) brc__str_addf(&sku, ",kdirect");
    if (fast == 2) brc__str_addf(&sku, ",lg2");
    if (l2h) brc__str_addf(&sku, ",l2h=%d", l2h);
    if (rnv) brc__str_addf(&sku, ",rnv=%d", rnv);
    if (rminb) brc__str_addf(&sku, ",rminb=%d", rminb);
    if (pf) brc__str_addf(&sku, ",pf");
    if (ff) brc__str_addf(&sku, ff == 3 ? ",ff" : ",ff%d", ff);
    /* The one pass's variants (knobs for sweeps; the defaults are the kernel scan7 measured:
     * packed flags and states, acquire polls, a ticket, no pipelining). */
    bool ronepass = onepass && rows; /* the columns' one pass has none of them */
    int opad = ronepass ? brc__knob("BARACUDA_SCAN_OPAD", 0, 1, 0) : 0;
    int osleep = ronepass ? brc__knob("BARACUDA_SCAN_OSLEEP", 0, 1000, 0) : 0;
    if (ronepass) brc__str_addf(&sku, ",lbg=%d%s", lbg, opad ? ",pad" : "");
    int opoll = ronepass ? brc__knob("BARACUDA_SCAN_OPOLL", 0, 1, 0) : 0;
    int oticket = ronepass ? brc__knob("BARACUDA_SCAN_OTICKET", 0, 1, 1) : 0;
    if (!(ronepass && oticket)) opipe = 0;
    if (osleep) brc__str_addf(&sku, ",sleep=%d", osleep);
    if (ronepass && opoll) brc__str_addf(&sku, ",relaxed");
    if (ronepass && !oticket) brc__str_addf(&sku, ",noticket");
    if (ronepass && opipe) brc__str_addf(&sku, opipe > 2 ? ",pipe=%d" : ",pipe", opipe);
    brc__str_addf(&sku, "%s,%s>%s%s%s%s@%s", rq->reverse ? ",reverse" : "", rq->bwd ? "bwd" : "fwd",
                  onepass ? "+onepass" : split ? "+split" : "", fuse == 2 ? "+fold" : fuse ? "+fused" : "",
                  lite ? "+lite" : "", pdl ? "+pdl" : "", ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, rq->bwd ? BRC__FAM_SCAN_BWD : BRC__FAM_SCAN, &scan_vt, sizeof(scan_impl), &p)))
        goto fail;
    scan_impl *im = p->impl;
    im->kind = rq->kind;
    im->bwd = rq->bwd;
    /* The kernels' scan order: the forward's, the opposite one for a backward. */
    im->rev = rq->bwd ? !rq->reverse : rq->reverse;
    im->layout = rows ? LAYOUT_ROWS : LAYOUT_COLS;
    im->split = split;
    im->dt = dt;
    im->esize = esize;
    im->csize = csize;
    im->vec = vec;
    im->tpr = rows ? tpr : COL_THREADS;
    im->rpb = rows ? rpb : 1;
    im->nv = rows || onepass ? nv : 1; /* cols' one pass: positions a warp */
    im->minb = minb;
    im->kst = kst;
    im->fast = fast;
    im->fuse = fuse;
    im->lite = lite;
    im->pdl = pdl;
    im->l2h = l2h;
    im->rnv = rnv;
    im->rminb = rminb;
    im->pf = pf;
    im->onepass = onepass;
    im->lbg = ronepass ? lbg : 0;
    im->opad = opad;
    im->osleep = osleep;
    im->opoll = opoll;
    im->oticket = oticket;
    im->opipe = opipe;
    im->ff = ff;
    im->a = a;
    const brc_tensor_desc *outd = NULL;
    for (int i = 0; i < rq->nops; i++)
        if (rq->ops[i].slot == O_OUT) outd = rq->ops[i].t;
    for (int i = 0; i < rq->nops; i++) {
        im->used[rq->ops[i].slot] = true;
        im->same[rq->ops[i].slot] = outd && brc__same_strides(rq->ops[i].t, outd);
    }
    int64_t units = a.lines * nch, cap = (int64_t)1 << 24;
    if (rows) {
        im->threads = (unsigned)(tpr * im->rpb);
        int64_t groups = brc__cdiv(units, im->rpb);
        im->grid = (unsigned)(a.len == 0 ? 0 : groups < cap ? groups : cap);
        /* the pipelined one pass: persistent CTAs, as many as fit by threads and by the ring's shared
         * memory (more would only wait for a slot; nothing depends on how many run at once) */
        im->dsmem = opipe ? (size_t)opipe * nv * tpr * vec * esize : 0;
        int64_t per = 2048 / tpr;
        if (im->dsmem) {
            const size_t sm = (size_t)brc__smem_per_cta(ctx->sm_major, ctx->sm_minor) + 1024; /* an SM's */
            int64_t by_smem = (int64_t)(sm / (im->dsmem + PIPE_STATIC_SMEM));
            if (by_smem < per) per = by_smem > 0 ? by_smem : 1;
        }
        int64_t resident = (int64_t)sms * per;
        if (opipe && im->grid > resident) im->grid = (unsigned)resident;
        im->carry_threads = CARRY_THREADS;
        im->carry_grid = (unsigned)(a.lines < cap ? a.lines : cap);
    } else if (onepass) {
        im->threads = COL_THREADS;
        im->grid = (unsigned)(a.len == 0 ? 0 : cngrp * nch); /* a unit a CTA */
    } else {
        im->threads = COL_THREADS;
        int64_t blocks = brc__cdiv(units / vec, COL_THREADS);
        im->grid = (unsigned)(a.len == 0 ? 0 : blocks < cap ? blocks : cap);
        im->carry_threads = COL_THREADS;
        int64_t cb = brc__cdiv(a.lines, COL_THREADS);
        im->carry_grid = (unsigned)(cb < cap ? cb : cap);
    }
    if (onepass && !rows) {
        /* kernel_src/scan.cuh, col_onepass: the ticket, the flags of the units and of the chunk
         * groups' slots, then their states, 32 x vec a slot. The run zeroes the ticket and the flags. */
        int64_t g = col_groupsize(nch), slots = cngrp * nch + cngrp * brc__cdiv(nch, g);
        im->flag_bytes = WS_ALIGN + (size_t)(slots * 4 + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
        p->workspace = im->flag_bytes + (size_t)slots * 32 * vec * state_size(rq->kind, rq->bwd, csize);
        if ((st = get_kernel(ctx, im, PH_ONEPASS, desc.p, &im->fn[PH_ONEPASS]))) goto fail;
    } else if (onepass) {
        /* kernel_src/scan.cuh, op_prefix: the ticket, then the flags and states of the chunks and
         * of the groups: a 128-byte slot each (opad), or packed (flags, then states). The run
         * zeroes the ticket and the flags (with opad, the slots). */
        int64_t gunits = a.lines * brc__cdiv(nch, lbg);
        size_t fb = (size_t)((units + gunits) * 4 + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
        im->flag_bytes = WS_ALIGN + (opad ? (size_t)(units + gunits) * 128 : fb);
        p->workspace = im->flag_bytes + (opad ? 0 : (size_t)(units + gunits) * STATE_BYTES);
        if ((st = get_kernel(ctx, im, PH_ONEPASS, desc.p, &im->fn[PH_ONEPASS]))) goto fail;
    } else if (split) {
        size_t ws = (size_t)units * STATE_BYTES;
        p->workspace = (ws + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
        static const int phases[] = {PH_REDUCE, PH_CARRY, PH_FINAL};
        for (int i = 0; i < 3; i++)
            if ((phases[i] != PH_CARRY || !im->fuse) && (st = get_kernel(ctx, im, phases[i], desc.p, &im->fn[phases[i]]))) goto fail;
    } else if ((st = get_kernel(ctx, im, PH_SINGLE, desc.p, &im->fn[PH_SINGLE]))) {
        goto fail;
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

static brc_status scan_plan_forced(brc_context *ctx, const brc_scan_desc *d, const brc_plan_prefs *prefs,
                                   int force_split, int force_narrow, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_scan_plan");
    if (st) return st;
    bool ext = d->kind == BRC_SCAN_CUMMAX || d->kind == BRC_SCAN_CUMMIN;
    const operand ops[] = {{&d->x, O_IN0, "x", false, false},
                           {&d->y, O_OUT, "y", false, true},
                           {&d->index, O_KOUT, "index", true, true}};
    scan_request rq = {(int)d->kind, 0, d->dim, d->reverse, ops, ext ? 3 : 2, force_split, force_narrow};
    return plan_common(ctx, &rq, prefs, out);
}

brc_status brc_scan_plan(brc_context *ctx, const brc_scan_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    return scan_plan_forced(ctx, d, prefs, -1, -1, out);
}

static brc_status scan_backward_plan_forced(brc_context *ctx, const brc_scan_backward_desc *d,
                                            const brc_plan_prefs *prefs, int force_split, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_scan_backward_plan");
    if (st) return st;
    operand ops[4];
    int n = 0;
    ops[n++] = (operand){&d->dy, O_IN0, "dy", false, false};
    switch ((int)d->kind) {
    case BRC_SCAN_CUMPROD:
    case BRC_SCAN_LOGCUMSUMEXP: /* streams x, dy, y */
        ops[0].slot = O_IN1;
        ops[n++] = (operand){&d->x, O_IN0, "x", false, false};
        ops[n++] = (operand){&d->y, O_IN2, "y", false, false};
        break;
    case BRC_SCAN_CUMMAX:
    case BRC_SCAN_CUMMIN: ops[n++] = (operand){&d->index, O_KIN, "index", true, false}; break;
    default: break;
    }
    ops[n++] = (operand){&d->dx, O_OUT, "dx", false, true};
    scan_request rq = {(int)d->kind, 1, d->dim, d->reverse, ops, n, force_split, -1};
    return plan_common(ctx, &rq, prefs, out);
}

brc_status brc_scan_backward_plan(brc_context *ctx, const brc_scan_backward_desc *d, const brc_plan_prefs *prefs,
                                  brc_plan **out) {
    return scan_backward_plan_forced(ctx, d, prefs, -1, out);
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------------ */

brc_status brc__scan_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const dirs[] = {"fwd", "bwd"};
    int kind = 0, dir = 0;
    brc_dtype dt = BRC_F32;
    int64_t inner = 1, len = 0, vec = 0, rev = 0, split = 0, tmax = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &dt)) ||
        (st = brc__desc_int(d, "inner", 0, 1, 1, &inner)) || (st = brc__desc_int(d, "reverse", 0, 1, 0, &rev)) ||
        (st = brc__desc_int(d, "split", 0, 2, 0, &split)) || (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)))
        return st;
    if ((st = brc__desc_int(d, "vec", 1, 16, inner ? 0 : 1, &vec))) return st;
    if (inner) {
        if ((st = brc__desc_int(d, "tmax", 128, 128, 0, &tmax))) return st;
        if (tmax && !((kind == BRC_SCAN_CUMMAX || kind == BRC_SCAN_CUMMIN) && dir == 0 &&
                      (dt == BRC_F32 || dt == BRC_BF16 || dt == BRC_F16)))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "scan descriptor: tmax=128 is for the rows of f32 / bf16 / f16 cummax / cummin forward only");
        if ((st = brc__desc_int(d, "len", 2, (int64_t)1 << 40, -1, &len))) return st;
        if (len < 0) {
            const char *unused;
            return brc__desc_need(d, "len", &unused);
        }
    }
    /* rows: one contiguous line of len; cols: 64 positions down vec lines (the kernels depend on
     * neither count). */
    int64_t shape[2] = {1, len};
    int dim = -1;
    if (!inner) shape[0] = 64, shape[1] = vec > 1 ? vec : 2, dim = 0;
    brc_tensor_desc t, ti;
    brc_tensor_desc_contiguous(&t, dt, 2, shape);
    brc_tensor_desc_contiguous(&ti, BRC_I64, 2, shape);
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.vector_width = (int)vec;
    if (dir == 0) {
        brc_scan_desc s = {(brc_scan_kind)kind, t, t, dim, (int)rev, ti};
        return scan_plan_forced(ctx, &s, &prefs, (int)split, inner ? (tmax ? 1 : 0) : -1, out);
    }
    brc_scan_backward_desc s = {(brc_scan_kind)kind, t, t, ti, t, t, dim, (int)rev};
    return scan_backward_plan_forced(ctx, &s, &prefs, (int)split, out);
}

/* pdl: launched as the programmatic dependent of the kernel before in the stream (its CTAs may
 * start once that one's have all started; they wait in the kernel before reading its results). */
static brc_status launch(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned threads, scan_args *a,
                         bool pdl, size_t smem, brc_stream stream) {
    void *args[1] = {a};
    return brc__launch(plan, fn, grid, threads, (unsigned)smem, pdl, args, stream);
}

/* Checks the pointers the plan uses (slot order: in0 in1 in2 kin out kout), the aliasing rules
 * and the workspace, then launches the one or three kernels. */
static brc_status run_common(const brc_plan *plan, brc__family fam, const char *fn, const void *const ptr[NOPS],
                             const char *const names[NOPS], void *ws, size_t ws_size, brc_stream stream) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, fam, fn);
    if (st) return st;
    const scan_impl *im = plan->impl;
    if (plan->workspace) {
        if (ws_size < plan->workspace)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: workspace of %zu bytes is smaller than the %zu required (%s)", fn, ws_size,
                              plan->workspace, plan->descriptor);
        if ((st = brc__need_ptr(ws, WS_ALIGN, fn, "workspace", plan))) return st;
    }
    if (im->grid == 0) return BRC_STATUS_OK;
    size_t al = (size_t)im->vec * im->esize;
    for (int o = 0; o < NOPS; o++) {
        if (!im->used[o]) continue;
        bool index = o == O_KIN || o == O_KOUT;
        if ((st = brc__need_ptr(ptr[o], index ? 8 : al, fn, names[o], plan))) return st;
    }
    for (int o = 0; o < NOPS; o++) {
        if (!im->used[o] || o == O_OUT || o == O_KOUT || ptr[o] != ptr[O_OUT]) continue;
        bool neighbour = o == O_IN2 && im->bwd && im->kind == BRC_SCAN_CUMPROD; /* reads y one position away */
        if (!im->same[o] || neighbour)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s are one buffer %s (%s)", fn, names[O_OUT],
                              names[o], neighbour ? "(not allowed for cumprod)" : "with different strides",
                              plan->descriptor);
    }
    if (im->used[O_KOUT] && ptr[O_KOUT] == ptr[O_OUT])
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y and index are one buffer (%s)", fn, plan->descriptor);
    scan_args a = im->a;
    a.in0 = ptr[O_IN0], a.in1 = ptr[O_IN1], a.in2 = ptr[O_IN2], a.kin = ptr[O_KIN];
    a.out = (void *)(uintptr_t)ptr[O_OUT], a.kout = (void *)(uintptr_t)ptr[O_KOUT], a.ws = ws;
    if (!im->split) return launch(plan, im->fn[PH_SINGLE], im->grid, im->threads, &a, false, 0, stream);
    if (im->onepass) {
        /* The ticket and the flags start at zero every run (a memset node under capture). */
        CUresult r = brc__cu()->cuMemsetD32Async((CUdeviceptr)(uintptr_t)ws, 0, im->flag_bytes / 4, (CUstream)stream);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuMemsetD32Async: %s (%s)", brc__cu_errname(r),
                              plan->descriptor);
        return launch(plan, im->fn[PH_ONEPASS], im->grid, im->threads, &a, false, im->dsmem, stream);
    }
    bool pdl = im->pdl != 0;
    if ((st = launch(plan, im->fn[PH_REDUCE], im->grid, im->threads, &a, false, 0, stream)) ||
        (!im->fuse && (st = launch(plan, im->fn[PH_CARRY], im->carry_grid, im->carry_threads, &a, pdl, 0, stream))))
        return st;
    return launch(plan, im->fn[PH_FINAL], im->grid, im->threads, &a, pdl, 0, stream);
}

brc_status brc_scan_run(const brc_plan *plan, const void *x, void *y, void *index, void *workspace,
                        size_t workspace_size, brc_stream stream) {
    const void *ptr[NOPS] = {x, NULL, NULL, NULL, y, index};
    static const char *const names[NOPS] = {"x", "", "", "", "y", "index"};
    return run_common(plan, BRC__FAM_SCAN, "brc_scan_run", ptr, names, workspace, workspace_size, stream);
}

brc_status brc_scan_backward_run(const brc_plan *plan, const void *x, const void *y, const void *index,
                                 const void *dy, void *dx, void *workspace, size_t workspace_size, brc_stream stream) {
    static const char *const n_dy[NOPS] = {"dy", "", "", "index", "dx", ""};
    static const char *const n_xdy[NOPS] = {"x", "dy", "y", "", "dx", ""};
    const scan_impl *im = plan && plan->family == BRC__FAM_SCAN_BWD ? plan->impl : NULL;
    bool xy = im && (im->kind == BRC_SCAN_CUMPROD || im->kind == BRC_SCAN_LOGCUMSUMEXP);
    const void *p_dy[NOPS] = {dy, NULL, NULL, index, dx, NULL};
    const void *p_xdy[NOPS] = {x, dy, y, NULL, dx, NULL};
    return run_common(plan, BRC__FAM_SCAN_BWD, "brc_scan_backward_run", xy ? p_xdy : p_dy, xy ? n_xdy : n_dy,
                      workspace, workspace_size, stream);
}
