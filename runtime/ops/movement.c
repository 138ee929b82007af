/* The movement family: every copy-like op (copy, permute, flip, roll, repeat, concat, split,
 * slice, write_slice) is turned into "pieces" (strided copies with static offsets), whose dims are
 * merged and whose kernel (vectorized, gather or tiled transpose) is chosen by structure; plus the
 * generators (fill, arange, linspace, eye, triu, tril) and pad with its backward. Kernels:
 * kernel_src/movement.cuh. Descriptor keys: docs/movement.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

enum { MV_THREADS = 256, MV_UNROLL = 4, MAXP = 16, MAX_PIECES = 1024, PRE_RANK = 2 * BRC_MAX_RANK };
enum { K_COPY, K_TILE, K_FILL, K_PAD }; /* kernel templates (the spec tuple's first field) */
enum { OP_COPY, OP_CONCAT, OP_SPLIT, OP_SLICE, OP_WRITE_SLICE };
static const char *const op_names[] = {"copy", "concat", "split", "slice", "write_slice"};
static const brc__family op_family[] = {BRC__FAM_COPY, BRC__FAM_CONCAT, BRC__FAM_SPLIT, BRC__FAM_SLICE,
                                        BRC__FAM_WRITE_SLICE};

/* Mirrors of brc::mv_piece and brc::mv_args<P> (8-byte fields only). */
typedef struct mv_piece_h {
    const void *src;
    void *dst;
    int64_t first, units, vunits, ivec, scalar;
    int64_t shape[8], ss[8], ds[8];
} mv_piece_h;
typedef struct mv_args_h {
    const int64_t *dyn;
    int64_t dyn_max, dyn_ss, dyn_ds, tb, tiles_a, tiles_b, ntiles;
    mv_piece_h pc[MAXP];
} mv_args_h;
_Static_assert(sizeof(mv_piece_h) == 31 * 8, "mv_piece_h must match brc::mv_piece");
_Static_assert(sizeof(mv_args_h) == 8 * 8 + MAXP * 31 * 8 && sizeof(mv_args_h) <= 4096,
               "mv_args_h must match brc::mv_args<16> and fit the 4 KiB of kernel parameters");

static int64_t iabs(int64_t v) { return v < 0 ? -v : v; }

static brc_status check_output(const brc_tensor_desc *t, const char *fam, const char *name) {
    if (!brc__no_self_overlap(t))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has strides under which its elements overlap", fam,
                          name);
    return BRC_STATUS_OK;
}

static brc_status check_tensor(const brc_tensor_desc *t, const char *fam, const char *name) {
    char what[96];
    snprintf(what, sizeof what, "%s: %s", fam, name);
    return brc__tensor_check(t, what);
}

static brc_status need_dim(int dim, int rank, const char *fam, const char *what, int *out) {
    *out = 0;
    if (dim < -rank || dim >= rank || rank == 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s %d is out of range for rank %d", fam, what, dim,
                          rank);
    *out = dim < 0 ? dim + rank : dim;
    return BRC_STATUS_OK;
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
static const char *bits_type(size_t esize) {
    return esize == 1 ? "u8" : esize == 2 ? "u16" : esize == 4 ? "u32" : "u64";
}

static brc_status compile(brc_context *ctx, const char *desc, int nspec, const int64_t *spec, const char *snippet,
                          CUfunction *fn) {
    static const char *const sources[] = {"prelude.cuh", "movement.cuh", NULL};
    brc__kernel_req req = {.template_name = "movement", .sources = sources, .nspec = nspec, .snippet = snippet,
                           .name_expr = "brc_mv_kernel", .descriptor = desc};
    memcpy(req.spec, spec, (size_t)nspec * sizeof(int64_t));
    const brc__kernel *k = NULL;
    brc_status st = brc__jit_get(ctx, &req, &k);
    if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
    return st;
}

/* Programmatic dependent launch (sm_90 and newer; SKU +pdl): every kernel of the family starts with
 * brc::pdl_enter() (the next kernel of the stream may launch at once; this one waits for the
 * kernels before it before its first memory access) and is launched with programmatic stream
 * serialization, so that a chain of them in a stream or a captured graph overlaps each launch with
 * the tail of the kernel before. BARACUDA_MV_PDL=0 turns it off (experiments; kernel spec, not
 * descriptor). */
enum { MV_PDL = 1 };
static bool mv_pdl(const brc_context *ctx) {
    return ctx->sm_major >= 9 && brc__knob("BARACUDA_MV_PDL", 0, 1, MV_PDL) != 0;
}
static const char *pdl_enter(bool pdl) { return pdl ? "brc::pdl_enter(); " : ""; }

static brc_status launch_n(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned block, void *args, bool pdl,
                           brc_stream stream) {
    void *params[1] = {args};
    return brc__launch(plan, fn, grid, block, 0, pdl, params, stream);
}
static brc_status launch(const brc_plan *plan, CUfunction fn, unsigned grid, void *args, bool pdl,
                         brc_stream stream) {
    return launch_n(plan, fn, grid, MV_THREADS, args, pdl, stream);
}

/* ==== copies ===================================================================================== */

/* One piece as an op states it: a strided copy of shape[0..rank) from run pointer src[sarg] +
 * soff elements to dst[darg] + doff, strides in elements (rank up to 16: repeat splits dims). */
typedef struct piece_req {
    int rank;
    int64_t shape[PRE_RANK], ss[PRE_RANK], ds[PRE_RANK];
    int64_t soff, doff;
    int sarg, darg;
} piece_req;

typedef struct copy_req {
    int op;
    brc_dtype dt;
    int npieces;
    piece_req *pc;
    int nsrc, ndst; /* run pointers */
    bool dyn;       /* slice / write_slice with a device start */
    int64_t dyn_max, dyn_ss, dyn_ds;
    int tile_kind; /* the tiled transpose's tiles: 0 by the tile count, 1 whole (16 KiB), 2 half, 3 wide, 4 long */
    int hint;      /* cache hints (COPY_HINT_BYTES): 0 by the bytes moved, 1 none, 2 on (descriptors) */
    int unroll;    /* units a thread: 0 by the CTA count (COPY_SMALL), else MV_UNROLL or 1 (descriptors) */
    int memcpy;    /* the driver's memcpy: 0 by the bytes (COPY_MEMCPY_BYTES), 2 asked (descriptor memcpy=1) */
} copy_req;

/* Copies of 16-byte vectors moving at least COPY_HINT_BYTES (past the L2 of any current GPU: nothing
 * of them is reused from it) load through the read-only path without allocating in L1 and store
 * streaming (brc::mv_copy HINT; descriptor key hint=1). H100, movement_sweep, interleaved with
 * cudaMemcpyAsync (PyTorch's copy_) over 6 rounds: 256 MiB 0.9895-0.9925x memcpy plain, 0.9950-0.9975x
 * with the hints; 512 MiB 0.9993-1.0003x plain, 1.0025-1.0038x with them. */
enum { COPY_HINT_BYTES = 64 << 20 };

/* A copy that is one contiguous run on both sides (after merging dims) of a multiple of 16 bytes, at
 * most COPY_MEMCPY_BYTES, is the driver's cuMemcpyDtoDAsync (a memcpy node in a captured graph; what
 * PyTorch's copy_ does) instead of a kernel. Measured on the H100 from CUDA graphs (bench_movement.py
 * --cases, bf16 64 KiB to 4 MiB, two runs each way, against PyTorch's copy_): the kernel 0.86-0.96x
 * (4 MiB: 3.13 / 3.16 us against 2.72 / 2.71), the memcpy 0.975-1.016x (2.66 / 2.65 us). A memcpy of
 * an odd byte count was slower than the kernel (bf16 1000003: PyTorch 2.77 us, our kernel 2.20, in
 * bench/results/movement.json at 66f8b8a), so those keep the kernel; past 4 MiB not measured (at 256
 * MiB the kernel and the memcpy are within 1%). Descriptor copy(bytes=N,memcpy=1), SKU
 * driver:memcpy<bN>. BARACUDA_COPY_MEMCPY overrides the bytes (0: never). */
enum { COPY_MEMCPY_BYTES = 4 << 20 };
/* With programmatic dependent launches (mv_pdl) the kernel overlaps its launch with the kernel before
 * and a memcpy node cannot: H100, graphs of 20, 64 x 1024 bf16 / f32: the kernel 1.26 / 1.11 us, the
 * memcpy 1.51-1.63 / 1.49-1.61 (PyTorch 1.52-1.71). Below COPY_MEMCPY_PDL_BYTES only. */
enum { COPY_MEMCPY_PDL_BYTES = 0 };

/* A copy whose CTAs of MV_UNROLL units a thread would not give every SM COPY_SMALL of them (64 x
 * 1024 bf16: 8 CTAs) moves one unit a thread instead (4 times the CTAs, each SM fewer bytes to
 * stream; SKU ,u1, descriptor key unroll=1): the replayed tiny copies, concats and KV-cache appends
 * were 0.72-0.90x PyTorch's device time with 4 (bench_movement.py's graph timing, move8). COPY_SMALL
 * was 1 until the kernels launched as programmatic dependents; then (H100, graphs of 20, two runs,
 * BARACUDA_COPY_SMALL 1 / 4 / 8 / 16 / 32): contiguous copies of 4 MiB 3.19-3.24 us at 1 against
 * 2.28-2.41 at 4 (PyTorch 2.56-2.73), of 8 MiB 4.28-4.66 against 3.67-3.82 (PyTorch 3.85-4.05); from
 * 16 MiB on every setting within 2% (copies to 64 MiB, concats to 64 MiB). */
enum { COPY_SMALL = 4 };

/* A piece after merging. */
typedef struct piece {
    int rank;
    int64_t shape[8], ss[8], ds[8];
    int64_t soff, doff, numel;
    int sarg, darg;
    int64_t units, vunits, ivec, blocks;
} piece;

typedef struct launch_t {
    int p0, np, P;
    unsigned grid;
    CUfunction fn;
} launch_t;

typedef struct copy_impl {
    int op, nsrc, ndst;
    size_t esize;
    int vec, rank, idx64, tile;
    int npieces, nlaunch;
    piece *pc;
    launch_t *L;
    bool dyn;
    int64_t dyn_max, dyn_ss, dyn_ds;
    int64_t tb, tiles_a, tiles_b, ntiles;
    int64_t numel;
    bool mcpy; /* the driver's memcpy of numel elements (COPY_MEMCPY_BYTES) */
    bool pdl;  /* programmatic dependent launches (mv_pdl) */
} copy_impl;

static void copy_destroy(brc_plan *p) {
    copy_impl *im = p->impl;
    if (!im) return;
    free(im->pc);
    free(im->L);
}
static const brc__plan_vt copy_vt = {copy_destroy};

/* Drops size-1 dims, makes the destination's strides positive (moving the base offsets), orders
 * the dims by destination stride and merges the neighbours that nest on both sides. */
static brc_status merge_piece(const piece_req *r, piece *out, const char *fam) {
    int64_t n[PRE_RANK], s[PRE_RANK], d[PRE_RANK];
    int k = 0;
    memset(out, 0, sizeof *out);
    out->soff = r->soff, out->doff = r->doff, out->sarg = r->sarg, out->darg = r->darg;
    out->numel = 1;
    for (int i = 0; i < r->rank; i++) {
        out->numel *= r->shape[i];
        if (r->shape[i] == 1) continue;
        n[k] = r->shape[i], s[k] = r->ss[i], d[k] = r->ds[i];
        k++;
    }
    if (out->numel == 0) {
        out->rank = 1, out->shape[0] = 0, out->ss[0] = out->ds[0] = 1;
        return BRC_STATUS_OK;
    }
    for (int i = 0; i < k; i++)
        if (d[i] < 0) {
            out->doff += (n[i] - 1) * d[i];
            out->soff += (n[i] - 1) * s[i];
            d[i] = -d[i], s[i] = -s[i];
        }
    for (int i = 1; i < k; i++) /* insertion sort: destination stride descending (stable) */
        for (int j = i; j > 0 && d[j] > d[j - 1]; j--) {
            int64_t t;
            t = n[j], n[j] = n[j - 1], n[j - 1] = t;
            t = s[j], s[j] = s[j - 1], s[j - 1] = t;
            t = d[j], d[j] = d[j - 1], d[j - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (m > 0 && d[m - 1] == d[i] * n[i] && s[m - 1] == s[i] * n[i]) {
            n[m - 1] *= n[i], d[m - 1] = d[i], s[m - 1] = s[i];
        } else {
            n[m] = n[i], s[m] = s[i], d[m] = d[i];
            m++;
        }
    }
    if (m == 0) n[0] = 1, s[0] = d[0] = 1, m = 1;
    if (m > 8)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: the copy has %d dims after merging (at most 8)", fam, m);
    out->rank = m;
    for (int i = 0; i < m; i++) out->shape[i] = n[i], out->ss[i] = s[i], out->ds[i] = d[i];
    return BRC_STATUS_OK;
}

/* Does vector width v fit piece p (innermost contiguous on both sides; v divides the outer
 * strides, the static offsets, the dynamic strides and, unless p is one row, the inner size)? */
static bool vec_fits(const piece *p, const copy_req *rq, int v) {
    if (v == 1 || p->numel == 0) return true;
    int R = p->rank;
    if (p->ss[R - 1] != 1 || p->ds[R - 1] != 1) return false;
    bool one_row = true;
    for (int i = 0; i < R - 1; i++) {
        if (p->shape[i] != 1) one_row = false;
        if (p->ss[i] % v || p->ds[i] % v) return false;
    }
    if (!one_row && p->shape[R - 1] % v) return false;
    if (p->soff % v || p->doff % v) return false;
    if (rq->dyn && (rq->dyn_ss % v || rq->dyn_ds % v)) return false;
    return true;
}

/* Largest |offset| (elements) a piece reaches from its base, for the index width. */
static int64_t piece_extent(const piece *p, const copy_req *rq) {
    int64_t es = 0, ed = 0;
    for (int i = 0; i < p->rank; i++) {
        es += (p->shape[i] - 1) * iabs(p->ss[i]);
        ed += (p->shape[i] - 1) * iabs(p->ds[i]);
    }
    if (rq->dyn) es += rq->dyn_max * iabs(rq->dyn_ss), ed += rq->dyn_max * iabs(rq->dyn_ds);
    return es > ed ? es : ed;
}

/* The tiled transpose: CTAs an SM (launch bounds; TILE_WIDE_CTAS for the 32 KiB wide tiles),
 * whether a CTA issues its next tile's loads during this tile's stores, a grid cap in CTAs an SM
 * (0: a CTA a tile), half tiles below TILE_HALF_BELOW whole tiles a CTA slot, and whether 2-byte
 * elements take wide tiles. Measured (H100): a grid capped at 4 CTAs an SM with the prefetch,
 * 8192^2 bf16 106.6-106.9 us against 98.4-98.7 a CTA a tile (f32 211.5 / 188.7; movement_sweep),
 * so the cap is off and the prefetch never acts. Compiled in or out it still shapes the code:
 * its registers (the next tile's vectors, live across this tile's stores) made whole and wide
 * tiles spill in the JIT's relocatable compile (-rdc=true, which nvJitLink needs): whole 2- and
 * 4-byte tiles 64 registers + 40 bytes of local memory, wide 80 + 80 (movement_sweep was built
 * without -rdc: no spills; that was the sweep / library gap: wide 96.5 us there, 112.3 through
 * the library at baf6092; whole 98.4 / 102.6). Without it whole tiles take 62 registers, no spill,
 * and wide tiles at 2 CTAs an SM 100 (at 3: 80 + 32 bytes of local memory). Half tiles do not
 * spill either way and are faster with it (its structure keeps all of a thread's loads in flight
 * before the first use): TILE_PIPE_HALF. H100, movement_sweep -rdc=true, 8192^2 bf16: whole 102.4
 * -102.7 us with it, 98.8-99.0 without (4 or 3 CTAs an SM), wide 97.9-98.0 at 2 CTAs an SM, 101.0
 * -101.1 at 3; 4096 x 1000 bf16: half 7.14 us with, 7.47 without; whole 7.00-7.10, wide 7.28-7.36
 * (2 CTAs an SM); f32 8192^2 whole 196.3 with, 189.5-190.1 without; through the library f32 4096 x
 * 1000 half tiles 13.5 us without (11.5 with, at 23160b0). Wide tiles for 2-byte elements when
 * they fill TILE_WIDE_WAVES waves of the GPU (8192^2: 4096 tiles; 4096 x 1000 takes half tiles).
 * TILE_LONG: 2-byte elements take long tiles (64 x 128, 16 KiB, brc::mv_tgeo H = 3: 256-byte
 * source segments, 128-byte destination ones) where they would take half tiles and there are at
 * least TILE_LONG_MIN long tiles an SM. H100, bench_movement from graphs, 4096 x 1000 bf16 (512
 * long tiles), half / long / half / long: 6.29, 5.92, 6.37, 5.96 us (run 1), 6.71, 6.02, 6.39,
 * 5.68 (run 2); 512 x 512 (32 long tiles) 2.48 / 2.73 / 2.58 / 2.76 (run 1): few tiles want the
 * half tiles. movement_sweep move11 (run 2), long over half: 0.89-0.90 at 4096 x 1000, 4096 x
 * 1024, 8192 x 1000 and 4096 x 2000, 0.94-0.95 at 2000 x 3000 and 1000 x 4096 (whole tiles 0.90
 * there: its destination pitch is the 2000-byte one), 0.94 at 2048 x 1000 (256 long tiles, noisy),
 * 0.99 at 1024 x 1000 (128). BARACUDA_TILE_LONG=0 / 1 overrides the rule (never / wherever half
 * tiles would be taken), for measurements and the GPU test. TILE_PIPE_LONG as TILE_PIPE_HALF for
 * them (without: 52 registers, no spill; with it the sweep's -rdc build has 64 + 4 bytes of local
 * memory and was 0-4% faster: not taken without a library run). */
enum {
    TILE_MIN_CTAS = 4,
    TILE_WIDE_CTAS = 2,
    TILE_PIPE = 0,
    TILE_PIPE_HALF = 1,
    TILE_GRID_CAP = 0,
    TILE_HALF_BELOW = 2,
    TILE_WIDE = 1,
    TILE_WIDE_WAVES = 2,
    TILE_LONG = 1,
    TILE_LONG_MIN = 2,
    TILE_PIPE_LONG = 0
};

/* geo: brc::mv_tgeo's H (0 whole, 1 half, 2 wide, 3 long). */
static void copy_snippet(brc__str *s, int kind, size_t esize, int vec, int R, int idx64, int P, int geo, int hint,
                         int unr, bool pdl) {
    if (kind == K_TILE)
        brc__str_addf(s,
                      "__global__ void __launch_bounds__(256, %d) brc_mv_kernel(const __grid_constant__ brc::mv_args<1> "
                      "a) { %sbrc::mv_tile<%s, %d, %d, %d>(a); }\n",
                      geo == 2 ? TILE_WIDE_CTAS : TILE_MIN_CTAS, pdl_enter(pdl), bits_type(esize), R, geo,
                      geo == 1 ? TILE_PIPE_HALF : geo == 3 ? TILE_PIPE_LONG : TILE_PIPE);
    else
        brc__str_addf(s,
                      "__global__ void __launch_bounds__(256) brc_mv_kernel(const __grid_constant__ brc::mv_args<%d> "
                      "a) { %sbrc::mv_copy<%s, %d, %d, %s, %d%s%s>(a); }\n",
                      P, pdl_enter(pdl), bits_type(esize), vec, R, idx64 ? "u64" : "u32", P,
                      hint || unr == 1 ? hint ? ", 1" : ", 0" : "", unr == 1 ? ", 1" : "");
}

static int bucket(int n) { return n <= 1 ? 1 : n <= 4 ? 4 : 16; }

/* Plans a copy request: merges, picks vec / tile / index width, compiles, publishes. Takes
 * ownership of nothing (rq->pc stays the caller's). */
static brc_status copy_plan_common(brc_context *ctx, const copy_req *rq, const brc_plan_prefs *prefs_in,
                                   brc_plan **out) {
    const char *fam = op_names[rq->op];
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    size_t esize = brc_dtype_size(rq->dt);
    int vmax = (int)(16 / esize);
    int forced = prefs->vector_width;
    if (forced && (forced < 0 || forced > vmax || (forced & (forced - 1))))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fam, forced,
                          vmax);
    piece *pc = calloc((size_t)rq->npieces, sizeof *pc);
    brc_plan *p = NULL;
    brc__str desc = {0}, sku = {0};
    if (!pc) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
    int R = 1, vec = forced ? forced : vmax, idx64 = 0;
    int64_t numel = 0;
    for (int i = 0; i < rq->npieces; i++) {
        if ((st = merge_piece(&rq->pc[i], &pc[i], fam))) goto fail;
        numel += pc[i].numel;
        if (pc[i].numel == 0) continue;
        if (pc[i].rank > R) R = pc[i].rank;
    }
    /* One contiguous run on both sides, small, a multiple of 16 bytes: the driver's memcpy
     * (COPY_MEMCPY_BYTES). */
    const bool pdl = mv_pdl(ctx);
    const int64_t mmax =
        brc__knob("BARACUDA_COPY_MEMCPY", 0, INT32_MAX, pdl ? COPY_MEMCPY_PDL_BYTES : COPY_MEMCPY_BYTES);
    const bool run1 = rq->npieces == 1 && !rq->dyn && R == 1 && pc[0].ss[0] == 1 && pc[0].ds[0] == 1;
    if (rq->memcpy == 2 || (rq->memcpy == 0 && rq->op == OP_COPY && run1 && !prefs->force_strided && !forced &&
                            numel > 0 && numel * (int64_t)esize <= mmax && numel * (int64_t)esize % 16 == 0)) {
        if (!run1) {
            st = brc__error(BRC_STATUS_INTERNAL, "%s: memcpy=1 needs one contiguous run", fam);
            goto fail;
        }
        brc__str_addf(&desc, "%s(bytes=%zu,memcpy=1)", fam, esize);
        brc__str_addf(&sku, "driver:memcpy<b%zu>@%s", esize, ctx->arch);
        if (desc.oom || sku.oom) {
            st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
            goto fail;
        }
        if ((st = brc__plan_new(ctx, op_family[rq->op], &copy_vt, sizeof(copy_impl), &p))) goto fail;
        copy_impl *im = p->impl;
        im->op = rq->op, im->nsrc = im->ndst = 1, im->esize = esize, im->rank = 1, im->vec = 1;
        im->npieces = 1, im->pc = pc, im->numel = numel, im->mcpy = true;
        pc = NULL;
        brc__plan_publish(p, desc.p, sku.p);
        *out = p;
        return BRC_STATUS_OK;
    }
    /* Pad every piece to rank R with leading size-1 dims, so one kernel serves them all. */
    for (int i = 0; i < rq->npieces; i++) {
        piece *q = &pc[i];
        int sh = R - q->rank;
        if (sh <= 0) continue;
        for (int d = q->rank - 1; d >= 0; d--)
            q->shape[d + sh] = q->shape[d], q->ss[d + sh] = q->ss[d], q->ds[d + sh] = q->ds[d];
        for (int d = 0; d < sh; d++) q->shape[d] = 1, q->ss[d] = 0, q->ds[d] = 0;
        q->rank = R;
    }
    /* The tiled transpose: one piece whose destination-innermost dim is not contiguous in the
     * source while another dim is, both long enough to fill tiles. */
    int tile = 0, tb = -1;
    /* The tile (elements along A, the dst's unit dim, by B, the src's): brc::mv_tgeo, 16 KiB; for
     * 2-byte elements and TILE_WIDE twice as wide along B (32 KiB) when such tiles fill
     * TILE_WIDE_WAVES waves (tile_kind 0); else half along A (8 KiB; not for 1-byte elements) when whole tiles
     * would number fewer than TILE_HALF_BELOW a CTA slot of the GPU, so that more tiles are in
     * flight. */
    int ta = esize <= 2 ? 128 : 64, tbn = esize == 1 ? 128 : esize == 8 ? 32 : 64, half = 0;
    if (rq->npieces == 1 && !prefs->force_strided && !forced && R >= 2 && pc[0].numel > 0) {
        const piece *q = &pc[0];
        if (q->ds[R - 1] == 1 && q->ss[R - 1] != 1 && q->shape[R - 1] >= 16)
            for (int d = R - 2; d >= 0 && tb < 0; d--)
                if (q->ss[d] == 1 && q->shape[d] >= 16) tb = d;
        tile = tb >= 0;
    }
    if (tile && ((rq->tile_kind == 2 && esize == 1) || (rq->tile_kind >= 3 && esize != 2))) {
        st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s tiles are not for %zu-byte elements", fam,
                        rq->tile_kind == 2 ? "half" : rq->tile_kind == 3 ? "wide" : "long", esize);
        goto fail;
    }
    if (tile && esize > 1) {
        const piece *q = &pc[0];
        int64_t batch = 1;
        for (int d = 0; d < R - 1; d++)
            if (d != tb) batch *= q->shape[d];
        int64_t nt = brc__cdiv(q->shape[R - 1], ta) * brc__cdiv(q->shape[tb], tbn) * batch,
                nw = brc__cdiv(q->shape[R - 1], ta) * brc__cdiv(q->shape[tb], 2 * tbn) * batch;
        int sms = ctx->sm_count > 0 ? ctx->sm_count : 132, slots = sms * TILE_MIN_CTAS;
        /* 2-byte elements with TILE_WIDE: wide tiles when they fill TILE_WIDE_WAVES waves of
         * TILE_WIDE_CTAS an SM (see TILE_WIDE). */
        bool wide = esize == 2 && (rq->tile_kind == 3 ||
                                   (rq->tile_kind == 0 && TILE_WIDE &&
                                    nw >= (int64_t)TILE_WIDE_WAVES * TILE_WIDE_CTAS * sms));
        half = !wide && (rq->tile_kind == 2 || (rq->tile_kind == 0 && nt < (int64_t)TILE_HALF_BELOW * slots));
        /* Long tiles: 2-byte elements where half tiles would do (TILE_LONG), or asked for. */
        int64_t nl = brc__cdiv(q->shape[R - 1], ta / 2) * brc__cdiv(q->shape[tb], 2 * tbn) * batch;
        int lk = brc__knob("BARACUDA_TILE_LONG", 0, 1, -1);
        bool by_rule = TILE_LONG && nl >= (int64_t)TILE_LONG_MIN * sms;
        bool lng = esize == 2 && (rq->tile_kind == 4 || (rq->tile_kind == 0 && half && (lk >= 0 ? lk == 1 : by_rule)));
        if (lng) half = 3, ta /= 2, tbn *= 2;
        else if (half) ta /= 2;
        else if (wide) half = 2, tbn *= 2;
    }
    if (!tile) {
        for (int i = 0; i < rq->npieces; i++)
            while (vec > 1 && !vec_fits(&pc[i], rq, vec)) {
                if (forced) {
                    st = brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                    "%s: vector_width %d does not fit piece %d (the innermost dim must be contiguous "
                                    "on both sides, its size, the outer strides and the offsets multiples of it)",
                                    fam, forced, i);
                    goto fail;
                }
                vec /= 2;
            }
    } else {
        vec = 1;
    }
    int64_t blocks = 0;
    for (int i = 0; i < rq->npieces; i++) {
        piece *q = &pc[i];
        int64_t rows = 1;
        for (int d = 0; d < R - 1; d++) rows *= q->shape[d];
        q->ivec = q->shape[R - 1] / vec;
        q->vunits = rows * q->ivec;
        q->units = q->numel == 0 ? 0 : q->vunits + (rows == 1 ? q->shape[R - 1] % vec : 0);
        q->blocks = brc__cdiv(q->units, MV_THREADS * MV_UNROLL);
        if (q->units >= ((int64_t)1 << 31) || piece_extent(q, rq) >= ((int64_t)1 << 31)) idx64 = 1;
        blocks += q->blocks;
    }
    const int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    const int unr = tile ? MV_UNROLL
                    : rq->unroll ? rq->unroll
                                 : blocks < brc__knob("BARACUDA_COPY_SMALL", 0, 1 << 20, COPY_SMALL) * sms ? 1
                                                                                                         : MV_UNROLL;
    if (unr != MV_UNROLL) {
        blocks = 0;
        for (int i = 0; i < rq->npieces; i++) blocks += pc[i].blocks = brc__cdiv(pc[i].units, MV_THREADS * unr);
    }
    if (blocks >= ((int64_t)1 << 31) - 1) {
        st = brc__error(BRC_STATUS_UNSUPPORTED, "%s: %lld elements exceed one launch", fam, (long long)numel);
        goto fail;
    }

    const int hint = !tile && (size_t)vec * esize == 16 &&
                     (rq->hint == 2 || (rq->hint == 0 && numel * (int64_t)esize >= COPY_HINT_BYTES));
    if (rq->hint == 2 && !hint) {
        st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: hint=1 needs 16-byte vectors", fam);
        goto fail;
    }
    /* Canonical descriptor and SKU. */
    brc__str_addf(&desc, "%s(bytes=%zu", fam, esize);
    if (rq->npieces > 1) brc__str_addf(&desc, ",pieces=%d", rq->npieces);
    if (tile) brc__str_addf(&desc, ",rank=%d,tile=%d)", R, half + 1);
    else
        brc__str_addf(&desc, ",rank=%d,vec=%d,index=%d%s%s)", R, vec, idx64 ? 64 : 32, hint ? ",hint=1" : "",
                      unr == 1 ? ",unroll=1" : "");
    if (tile)
        brc__str_addf(&sku, "bespoke:copy<b%zu,rank=%d,tile=%dx%d>%s@%s", esize, R, ta, tbn, pdl ? "+pdl" : "",
                      ctx->arch);
    else
        brc__str_addf(&sku, "bespoke:copy<b%zu,rank=%d,vec=%d,i%d,p=%d%s%s>%s%s@%s", esize, R, vec, idx64 ? 64 : 32,
                      bucket(rq->npieces > MAXP ? MAXP : rq->npieces), hint ? ",hint" : "", unr == 1 ? ",u1" : "",
                      rq->npieces > MAXP ? "+more" : "", pdl ? "+pdl" : "", ctx->arch);
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, op_family[rq->op], &copy_vt, sizeof(copy_impl), &p))) goto fail;
    copy_impl *im = p->impl;
    im->op = rq->op, im->nsrc = rq->nsrc, im->ndst = rq->ndst, im->esize = esize;
    im->vec = vec, im->rank = R, im->idx64 = idx64, im->tile = tile, im->pdl = pdl;
    im->npieces = rq->npieces, im->pc = pc, im->numel = numel;
    pc = NULL;
    im->dyn = rq->dyn, im->dyn_max = rq->dyn_max, im->dyn_ss = rq->dyn_ss, im->dyn_ds = rq->dyn_ds;
    int nl = tile ? 1 : (int)brc__cdiv(rq->npieces, MAXP);
    im->L = calloc((size_t)nl, sizeof *im->L);
    if (!im->L) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    im->nlaunch = nl;
    if (tile) {
        const piece *q = &im->pc[0];
        im->tb = tb;
        im->tiles_a = brc__cdiv(q->shape[R - 1], ta);
        im->tiles_b = brc__cdiv(q->shape[tb], tbn);
        im->ntiles = im->tiles_a * im->tiles_b;
        for (int d = 0; d < R - 1; d++)
            if (d != tb) im->ntiles *= q->shape[d];
        int64_t g = im->ntiles < ((int64_t)1 << 30) ? im->ntiles : ((int64_t)1 << 30);
        int64_t cap = (int64_t)TILE_GRID_CAP * (ctx->sm_count > 0 ? ctx->sm_count : 132) *
                      (half == 2 ? TILE_WIDE_CTAS : TILE_MIN_CTAS);
        if (cap > 0 && g > cap) g = cap;
        im->L[0] = (launch_t){0, 1, 1, (unsigned)g, NULL};
    } else {
        for (int l = 0; l < nl; l++) {
            launch_t *L = &im->L[l];
            L->p0 = l * MAXP;
            L->np = rq->npieces - L->p0 < MAXP ? rq->npieces - L->p0 : MAXP;
            L->P = bucket(L->np);
            int64_t g = 0;
            for (int i = 0; i < L->np; i++) g += im->pc[L->p0 + i].blocks;
            L->grid = (unsigned)g;
        }
    }
    for (int l = 0; l < nl; l++) {
        launch_t *L = &im->L[l];
        bool dup = false; /* launches of the same bucket share a kernel */
        for (int m = 0; m < l; m++)
            if (im->L[m].P == L->P) L->fn = im->L[m].fn, dup = true;
        if (dup) continue;
        brc__str snip = {0};
        copy_snippet(&snip, tile ? K_TILE : K_COPY, esize, vec, R, idx64, L->P, half, hint, unr, pdl);
        int64_t spec[8] = {tile ? K_TILE : K_COPY, (int64_t)esize, vec, R, tile ? 1 : idx64, tile ? 1 : L->P,
                           tile ? ta * 1000 + tbn : hint | (unr == 1) << 1, pdl};
        st = snip.oom ? brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam)
                      : compile(ctx, desc.p, 8, spec, snip.p, &L->fn);
        brc__str_free(&snip);
        if (st) goto fail;
    }
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    free(pc);
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* ---- the ops ------------------------------------------------------------------------------------- */

static void piece_from(piece_req *r, const brc_tensor_desc *shape_of, const brc_tensor_desc *src,
                       const brc_tensor_desc *dst) {
    memset(r, 0, sizeof *r);
    r->rank = shape_of->rank;
    for (int d = 0; d < r->rank; d++)
        r->shape[d] = shape_of->shape[d], r->ss[d] = src->strides[d], r->ds[d] = dst->strides[d];
}

static brc_status like(const brc_tensor_desc *a, const brc_tensor_desc *b, const char *fam, const char *an,
                       const char *bn) {
    if (a->dtype != b->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: %s has dtype %s, %s has %s (one dtype; conversions are brc_cast_plan's)", fam, bn,
                          brc_dtype_name(b->dtype), an, brc_dtype_name(a->dtype));
    if (!brc__same_shape(a, b))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s differ in shape", fam, an, bn);
    return BRC_STATUS_OK;
}

/* x and y pass brc__tensor_check, share a dtype, y does not overlap itself. */
static brc_status check_xy(const brc_tensor_desc *x, const brc_tensor_desc *y, const char *fam) {
    brc_status st;
    if ((st = check_tensor(x, fam, "x")) || (st = check_tensor(y, fam, "y"))) return st;
    if (x->dtype != y->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: y has dtype %s, x has %s (one dtype; conversions are brc_cast_plan's)", fam,
                          brc_dtype_name(y->dtype), brc_dtype_name(x->dtype));
    return check_output(y, fam, "y");
}

static brc_status one_piece(brc_context *ctx, int op, brc_dtype dt, piece_req *r, const brc_plan_prefs *prefs,
                            brc_plan **out) {
    copy_req rq = {op, dt, 1, r, 1, 1, false, 0, 0, 0, 0, 0, 0, 0};
    return copy_plan_common(ctx, &rq, prefs, out);
}

brc_status brc_copy_plan(brc_context *ctx, const brc_copy_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_copy_plan");
    if (st || (st = check_xy(&d->x, &d->y, "copy")) || (st = like(&d->x, &d->y, "copy", "x", "y"))) return st;
    piece_req r;
    piece_from(&r, &d->y, &d->x, &d->y);
    return one_piece(ctx, OP_COPY, d->y.dtype, &r, prefs, out);
}

brc_status brc_permute_plan(brc_context *ctx, const brc_permute_desc *d, const brc_plan_prefs *prefs,
                            brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_permute_plan");
    if (st || (st = check_xy(&d->x, &d->y, "permute"))) return st;
    int rank = d->x.rank;
    if (d->y.rank != rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "permute: y has rank %d, x has %d", (int)d->y.rank, rank);
    bool seen[BRC_MAX_RANK] = {false};
    piece_req r;
    memset(&r, 0, sizeof r);
    r.rank = rank;
    for (int i = 0; i < rank; i++) {
        int a = d->perm[i];
        if (a < 0 || a >= rank || seen[a])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "permute: perm[%d] = %d: perm is not a permutation of 0..%d",
                              i, a, rank - 1);
        seen[a] = true;
    }
    for (int i = 0; i < rank; i++) {
        int a = d->perm[i];
        if (d->y.shape[i] != d->x.shape[a])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "permute: y.shape[%d] = %lld, x.shape[perm[%d] = %d] = %lld",
                              i, (long long)d->y.shape[i], i, a, (long long)d->x.shape[a]);
        r.shape[i] = d->y.shape[i], r.ss[i] = d->x.strides[a], r.ds[i] = d->y.strides[i];
    }
    return one_piece(ctx, OP_COPY, d->y.dtype, &r, prefs, out);
}

brc_status brc_flip_plan(brc_context *ctx, const brc_flip_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_flip_plan");
    if (st || (st = check_xy(&d->x, &d->y, "flip")) || (st = like(&d->x, &d->y, "flip", "x", "y"))) return st;
    if (d->ndims < 0 || d->ndims > d->x.rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "flip: ndims = %d is outside 0..%d", d->ndims, (int)d->x.rank);
    piece_req r;
    piece_from(&r, &d->y, &d->x, &d->y);
    bool seen[BRC_MAX_RANK] = {false};
    for (int i = 0; i < d->ndims; i++) {
        int dim;
        if ((st = need_dim(d->dims[i], d->x.rank, "flip", "dims entry", &dim))) return st;
        if (seen[dim]) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "flip: dim %d appears twice in dims", dim);
        seen[dim] = true;
        /* y[i] = x[n - 1 - i]: x walked backwards from its last element. */
        r.soff += (r.shape[dim] > 0 ? r.shape[dim] - 1 : 0) * r.ss[dim];
        r.ss[dim] = -r.ss[dim];
    }
    return one_piece(ctx, OP_COPY, d->y.dtype, &r, prefs, out);
}

brc_status brc_roll_plan(brc_context *ctx, const brc_roll_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_roll_plan");
    if (st || (st = check_xy(&d->x, &d->y, "roll")) || (st = like(&d->x, &d->y, "roll", "x", "y"))) return st;
    if (d->ndims < 1 || d->ndims > 4)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "roll: ndims = %d is outside 1..4", d->ndims);
    int dims[4];
    int64_t sh[4];
    bool seen[BRC_MAX_RANK] = {false};
    for (int i = 0; i < d->ndims; i++) {
        if ((st = need_dim(d->dims[i], d->x.rank, "roll", "dims entry", &dims[i]))) return st;
        if (seen[dims[i]]) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "roll: dim %d appears twice in dims", dims[i]);
        seen[dims[i]] = true;
        int64_t n = d->x.shape[dims[i]];
        sh[i] = n > 0 ? ((d->shifts[i] % n) + n) % n : 0;
    }
    /* Along a rolled dim of size n and shift s: y[s:n] = x[0:n-s] and y[0:s] = x[n-s:n]; a piece
     * per combination of those halves (an empty half is skipped). */
    piece_req pcs[16];
    int np = 0;
    for (int m = 0; m < (1 << d->ndims); m++) {
        piece_req r;
        piece_from(&r, &d->y, &d->x, &d->y);
        bool empty = false;
        for (int i = 0; i < d->ndims; i++) {
            int dim = dims[i];
            int64_t n = d->x.shape[dim], s = sh[i];
            bool second = (m >> i) & 1;
            int64_t len = second ? s : n - s, xs = second ? n - s : 0, ys = second ? 0 : s;
            if (len == 0) empty = true;
            r.shape[dim] = len;
            r.soff += xs * d->x.strides[dim];
            r.doff += ys * d->y.strides[dim];
        }
        if (!empty) pcs[np++] = r;
    }
    if (np == 0) piece_from(&pcs[np++], &d->y, &d->x, &d->y); /* an empty tensor */
    copy_req rq = {OP_COPY, d->y.dtype, np, pcs, 1, 1, false, 0, 0, 0, 0, 0, 0, 0};
    return copy_plan_common(ctx, &rq, prefs, out);
}

brc_status brc_repeat_plan(brc_context *ctx, const brc_repeat_desc *d, const brc_plan_prefs *prefs,
                           brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_repeat_plan");
    if (st || (st = check_xy(&d->x, &d->y, "repeat"))) return st;
    int ry = d->y.rank, rx = d->x.rank, lead = ry - rx;
    if (lead < 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "repeat: y has rank %d, below x's %d", ry, rx);
    piece_req r;
    memset(&r, 0, sizeof r);
    for (int dd = 0; dd < ry; dd++) {
        int64_t reps = d->repeats[dd];
        int64_t n = dd < lead ? 1 : d->x.shape[dd - lead], xs = dd < lead ? 0 : d->x.strides[dd - lead], prod;
        if (reps < 0)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "repeat: repeats[%d] = %lld is negative", dd, (long long)reps);
        if (__builtin_mul_overflow(reps, n, &prod) || prod != d->y.shape[dd])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "repeat: y.shape[%d] = %lld is not repeats[%d] (%lld) times x's size %lld", dd,
                              (long long)d->y.shape[dd], dd, (long long)reps, (long long)n);
        /* y's dim splits into (repeat, n): the repeat walks y by n strides and x by none. */
        int k = r.rank;
        r.shape[k] = reps, r.ss[k] = 0, r.ds[k] = n * d->y.strides[dd];
        r.shape[k + 1] = n, r.ss[k + 1] = xs, r.ds[k + 1] = d->y.strides[dd];
        r.rank += 2;
    }
    return one_piece(ctx, OP_COPY, d->y.dtype, &r, prefs, out);
}

/* concat (split = 0) or split (split = 1): the big tensor t and the n parts. */
static brc_status cat_plan(brc_context *ctx, int split, const brc_tensor_desc *t, int32_t n,
                           const brc_tensor_desc *parts, int32_t dim_in, const brc_plan_prefs *prefs, brc_plan **out) {
    const char *fam = split ? "split" : "concat";
    const char *tn = split ? "x" : "y", *pn = split ? "ys" : "xs";
    brc_status st;
    if ((st = check_tensor(t, fam, tn))) return st;
    if (n < 1 || n > MAX_PIECES)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: n = %d is outside 1..%d", fam, n, MAX_PIECES);
    if (!parts) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", fam, pn);
    int dim;
    if ((st = need_dim(dim_in, t->rank, fam, "dim", &dim))) return st;
    if (!split && (st = check_output(t, fam, "y"))) return st;
    piece_req *pcs = calloc((size_t)n, sizeof *pcs);
    if (!pcs) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const brc_tensor_desc *q = &parts[i];
        char name[32];
        snprintf(name, sizeof name, "%s[%d]", pn, i);
        if ((st = check_tensor(q, fam, name))) goto done;
        if (q->dtype != t->dtype) {
            st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s has %s", fam, name,
                            brc_dtype_name(q->dtype), tn, brc_dtype_name(t->dtype));
            goto done;
        }
        bool ok = q->rank == t->rank;
        for (int d = 0; ok && d < t->rank; d++)
            if (d != dim && q->shape[d] != t->shape[d]) ok = false;
        if (!ok) {
            st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s's shape differs from %s's outside dim %d", fam, name,
                            tn, dim);
            goto done;
        }
        if (split && (st = check_output(q, fam, name))) goto done;
        piece_req *r = &pcs[i];
        if (split) {
            piece_from(r, q, t, q);
            r->soff = off * t->strides[dim];
            r->darg = i;
        } else {
            piece_from(r, q, q, t);
            r->doff = off * t->strides[dim];
            r->sarg = i;
        }
        off += q->shape[dim];
    }
    if (off != t->shape[dim]) {
        st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: the sizes of %s along dim %d sum to %lld, %s has %lld", fam,
                        pn, dim, (long long)off, tn, (long long)t->shape[dim]);
        goto done;
    }
    copy_req rq = {split ? OP_SPLIT : OP_CONCAT, t->dtype, n, pcs, split ? 1 : n, split ? n : 1, false, 0, 0, 0, 0, 0,
                   0, 0};
    st = copy_plan_common(ctx, &rq, prefs, out);
done:
    free(pcs);
    return st;
}

brc_status brc_concat_plan(brc_context *ctx, const brc_concat_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_concat_plan");
    return st ? st : cat_plan(ctx, 0, &d->y, d->n, d->xs, d->dim, prefs, out);
}

brc_status brc_split_plan(brc_context *ctx, const brc_split_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_split_plan");
    return st ? st : cat_plan(ctx, 1, &d->x, d->n, d->ys, d->dim, prefs, out);
}

/* slice (write = 0): y = x[start::step] along dim; write_slice (write = 1): y[start::step] = x. */
static brc_status slice_plan(brc_context *ctx, int write, const brc_slice_desc *d, const brc_plan_prefs *prefs,
                             brc_plan **out) {
    const char *fam = write ? "write_slice" : "slice";
    brc_status st;
    if ((st = check_xy(&d->x, &d->y, fam))) return st;
    const brc_tensor_desc *full = write ? &d->y : &d->x, *part = write ? &d->x : &d->y;
    const char *fn = write ? "y" : "x", *pn = write ? "x" : "y";
    int dim;
    if ((st = need_dim(d->dim, full->rank, fam, "dim", &dim))) return st;
    bool ok = part->rank == full->rank;
    for (int k = 0; ok && k < full->rank; k++)
        if (k != dim && part->shape[k] != full->shape[k]) ok = false;
    if (!ok)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s's shape differs from %s's outside dim %d", fam, pn, fn,
                          dim);
    if (d->step < 1) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: step = %lld must be >= 1", fam, (long long)d->step);
    if (d->dynamic_start != 0 && d->dynamic_start != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dynamic_start = %d must be 0 or 1", fam, d->dynamic_start);
    int64_t n = full->shape[dim], len = part->shape[dim], span = 0;
    if (len > 0 && (__builtin_mul_overflow(len - 1, d->step, &span) || span >= n))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %lld elements at step %lld do not fit %s's %lld along dim %d",
                          fam, (long long)len, (long long)d->step, fn, (long long)n, dim);
    int64_t maxstart = len > 0 ? n - 1 - span : n;
    if (!d->dynamic_start && (d->start < 0 || d->start > maxstart))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: start = %lld is outside 0..%lld", fam, (long long)d->start,
                          (long long)maxstart);
    piece_req r;
    piece_from(&r, part, &d->x, &d->y);
    int64_t start = d->dynamic_start ? 0 : d->start;
    if (write) r.ds[dim] *= d->step, r.doff = start * d->y.strides[dim];
    else r.ss[dim] *= d->step, r.soff = start * d->x.strides[dim];
    copy_req rq = {write ? OP_WRITE_SLICE : OP_SLICE, d->y.dtype, 1, &r, 1, 1, d->dynamic_start == 1, maxstart,
                   write ? 0 : d->x.strides[dim], write ? d->y.strides[dim] : 0, 0, 0, 0, 0};
    if (part->shape[dim] == 0 || brc_tensor_desc_numel(part) == 0) rq.dyn = false;
    return copy_plan_common(ctx, &rq, prefs, out);
}

brc_status brc_slice_plan(brc_context *ctx, const brc_slice_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_slice_plan");
    return st ? st : slice_plan(ctx, 0, d, prefs, out);
}

brc_status brc_write_slice_plan(brc_context *ctx, const brc_slice_desc *d, const brc_plan_prefs *prefs,
                                brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_write_slice_plan");
    return st ? st : slice_plan(ctx, 1, d, prefs, out);
}

/* ---- running copies ------------------------------------------------------------------------------- */

static brc_status copy_run_common(const brc_plan *plan, brc__family fam, const char *fn, const void *const *src,
                                  void *const *dst, const int64_t *start, brc_stream stream) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, fam, fn);
    if (st) return st;
    const copy_impl *im = plan->impl;
    if (im->numel == 0) return BRC_STATUS_OK;
    const char *sn = im->op == OP_CONCAT ? "xs[i]" : "x", *dn = im->op == OP_SPLIT ? "ys[i]" : "y";
    for (int i = 0; i < im->nsrc; i++)
        if ((st = brc__need_ptr(src[i], im->esize, fn, sn, plan))) return st;
    for (int i = 0; i < im->ndst; i++)
        if ((st = brc__need_ptr(dst[i], im->esize, fn, dn, plan))) return st;
    for (int i = 0; i < im->nsrc; i++)
        for (int j = 0; j < im->ndst; j++)
            if (src[i] == (const void *)dst[j])
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s are one buffer (%s)", fn, sn, dn,
                                  plan->descriptor);
    if (im->dyn && (st = brc__need_ptr(start, 8, fn, "start", plan))) return st;
    if (im->mcpy) {
        const piece *q = &im->pc[0];
        CUresult r = brc__cu()->cuMemcpyDtoDAsync((CUdeviceptr)(uintptr_t)((char *)dst[0] + q->doff * (int64_t)im->esize),
                                                  (CUdeviceptr)(uintptr_t)((const char *)src[0] + q->soff * (int64_t)im->esize),
                                                  (size_t)im->numel * im->esize, (CUstream)stream);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuMemcpyDtoDAsync: %s (%s)", brc__cu_errname(r), plan->descriptor);
        return BRC_STATUS_OK;
    }
    mv_args_h a;
    memset(&a, 0, offsetof(mv_args_h, pc));
    if (im->dyn) a.dyn = start, a.dyn_max = im->dyn_max, a.dyn_ss = im->dyn_ss, a.dyn_ds = im->dyn_ds;
    a.tb = im->tb, a.tiles_a = im->tiles_a, a.tiles_b = im->tiles_b, a.ntiles = im->ntiles;
    size_t vb = (size_t)im->vec * im->esize;
    for (int l = 0; l < im->nlaunch; l++) {
        const launch_t *L = &im->L[l];
        int64_t first = 0;
        for (int i = 0; i < L->P; i++) {
            mv_piece_h *h = &a.pc[i];
            if (i >= L->np) {
                memset(h, 0, sizeof *h);
                h->first = INT64_MAX;
                continue;
            }
            const piece *q = &im->pc[L->p0 + i];
            h->src = (const char *)src[q->sarg] + q->soff * (int64_t)im->esize;
            h->dst = (char *)dst[q->darg] + q->doff * (int64_t)im->esize;
            h->first = first;
            h->units = q->units, h->vunits = q->vunits, h->ivec = q->ivec;
            h->scalar = ((uintptr_t)h->src | (uintptr_t)h->dst) % vb != 0;
            memcpy(h->shape, q->shape, sizeof h->shape);
            memcpy(h->ss, q->ss, sizeof h->ss);
            memcpy(h->ds, q->ds, sizeof h->ds);
            first += q->blocks;
        }
        if (L->grid == 0) continue;
        if ((st = launch(plan, L->fn, L->grid, &a, im->pdl, stream))) return st;
    }
    return BRC_STATUS_OK;
}

brc_status brc_copy_run(const brc_plan *plan, const void *x, void *y, brc_stream stream) {
    return copy_run_common(plan, BRC__FAM_COPY, "brc_copy_run", &x, &y, NULL, stream);
}
brc_status brc_concat_run(const brc_plan *plan, const void *const *xs, void *y, brc_stream stream) {
    if (plan && plan->family == BRC__FAM_CONCAT && !xs)
        return brc__error_clear(), brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_concat_run: xs is NULL");
    return copy_run_common(plan, BRC__FAM_CONCAT, "brc_concat_run", xs, &y, NULL, stream);
}
brc_status brc_split_run(const brc_plan *plan, const void *x, void *const *ys, brc_stream stream) {
    if (plan && plan->family == BRC__FAM_SPLIT && !ys)
        return brc__error_clear(), brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_split_run: ys is NULL");
    return copy_run_common(plan, BRC__FAM_SPLIT, "brc_split_run", &x, ys, NULL, stream);
}
brc_status brc_slice_run(const brc_plan *plan, const void *x, void *y, const int64_t *start, brc_stream stream) {
    return copy_run_common(plan, BRC__FAM_SLICE, "brc_slice_run", &x, &y, start, stream);
}
brc_status brc_write_slice_run(const brc_plan *plan, const void *x, void *y, const int64_t *start,
                               brc_stream stream) {
    return copy_run_common(plan, BRC__FAM_WRITE_SLICE, "brc_write_slice_run", &x, &y, start, stream);
}

/* ---- rebuilding a copy plan from its descriptor ------------------------------------------------------- */

/* copy / concat / split / slice / write_slice (bytes, pieces, rank, vec | tile, index): pieces of
 * the named rank whose dims cannot merge (the source walks a buffer twice as large in every dim),
 * the vector forced; or a transposed innermost pair of tiles for the tiled kernel. */
brc_status brc__move_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int op = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(d->family, op_names[i]) == 0) op = i;
    if (op < 0) return brc__error(BRC_STATUS_INTERNAL, "movement: family %s", d->family);
    static const char *const sizes[] = {"1", "2", "4", "8"}, *const widths[] = {"32", "64"};
    int bi = 0, wi = 0;
    int64_t pieces, rank, vec = 1, tile, index = 32, hint = 0, unroll = MV_UNROLL, mcpy = 0;
    brc_status st;
    static const brc_dtype by_size[9] = {0, BRC_U8, BRC_I16, 0, BRC_F32, 0, 0, 0, BRC_F64};
    if ((st = brc__desc_pick(d, "bytes", sizes, 4, -1, &bi)) ||
        (st = brc__desc_int(d, "memcpy", 0, op == OP_COPY ? 1 : 0, 0, &mcpy)))
        return st;
    if (mcpy) { /* the driver's memcpy (COPY_MEMCPY_BYTES): no kernel */
        piece_req r;
        memset(&r, 0, sizeof r);
        r.rank = 1, r.shape[0] = 16, r.ss[0] = r.ds[0] = 1;
        copy_req rq = {OP_COPY, by_size[(int64_t)1 << bi], 1, &r, 1, 1, false, 0, 0, 0, 0, 0, 0, 2};
        return copy_plan_common(ctx, &rq, NULL, out);
    }
    if ((st = brc__desc_int(d, "pieces", 1, op == OP_CONCAT || op == OP_SPLIT || op == OP_COPY ? MAX_PIECES : 1, 1,
                            &pieces)) ||
        (st = brc__desc_int(d, "rank", 1, 8, 1, &rank)) || (st = brc__desc_int(d, "tile", 0, 4, 0, &tile)))
        return st;
    int64_t bytes = (int64_t)1 << bi;
    if (!tile && ((st = brc__desc_int(d, "vec", 1, 16, 16 / bytes, &vec)) ||
                  (st = brc__desc_pick(d, "index", widths, 2, 0, &wi)) ||
                  (st = brc__desc_int(d, "hint", 0, 1, 0, &hint)) ||
                  (st = brc__desc_int(d, "unroll", 1, MV_UNROLL, MV_UNROLL, &unroll))))
        return st;
    if (unroll != 1 && unroll != MV_UNROLL)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: unroll=%lld (1 or %d)", op_names[op], (long long)unroll,
                          MV_UNROLL);
    if (unroll == 1 && hint)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: unroll=1 is for small copies, hint=1 for large ones",
                          op_names[op]);
    index = wi ? 64 : 32;
    if (tile && (rank < 2 || pieces != 1))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: tile=%lld needs rank >= 2 and one piece", op_names[op],
                          (long long)tile);
    if (tile == 2 && bytes == 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: tile=2 (half tiles) needs bytes >= 2", op_names[op]);
    if (tile == 3 && bytes != 2)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: tile=3 (wide tiles) needs bytes = 2", op_names[op]);
    if (tile == 4 && bytes != 2)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: tile=4 (long tiles) needs bytes = 2", op_names[op]);
    piece_req r;
    memset(&r, 0, sizeof r);
    r.rank = (int)rank;
    int R = (int)rank;
    for (int k = 0; k < R; k++) r.shape[k] = 2;
    if (tile) {
        r.shape[R - 2] = r.shape[R - 1] = 64;
    } else {
        r.shape[R - 1] = 2 * vec;
        /* 64-bit offsets from a long row (one dim with vectors) or a huge outer stride, keeping
         * the work small enough for 1024 pieces in one launch. */
        if (index == 64 && R == 1 && vec > 1) r.shape[0] = ((int64_t)1 << 31) + 2 * vec;
    }
    int64_t sd = 1, ssrc = 1;
    for (int k = R - 1; k >= 0; k--) {
        r.ds[k] = sd;
        sd *= r.shape[k];
        if (tile && k >= R - 2) continue;
        r.ss[k] = ssrc;
        ssrc *= 2 * r.shape[k];
    }
    if (tile) {
        r.ss[R - 2] = 1, r.ss[R - 1] = 64;
        for (int k = R - 3; k >= 0; k--) r.ss[k] = (k == R - 3 ? 2 * 64 * 64 : r.ss[k + 1] * 2 * r.shape[k + 1]);
    }
    if (!tile && index == 64 && !(R == 1 && vec > 1)) r.ss[0] = (int64_t)1 << 31;
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    if (!tile) prefs.vector_width = (int)vec, prefs.force_strided = 1;
    int n = (int)pieces;
    piece_req *pcs = calloc((size_t)n, sizeof *pcs);
    if (!pcs) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", op_names[op]);
    for (int i = 0; i < n; i++) {
        pcs[i] = r;
        if (op == OP_CONCAT) pcs[i].sarg = i;
        if (op == OP_SPLIT) pcs[i].darg = i;
    }
    copy_req rq = {op, by_size[bytes], n, pcs, op == OP_CONCAT ? n : 1, op == OP_SPLIT ? n : 1, false, 0, 0, 0,
                   (int)tile, hint ? 2 : 1, (int)unroll, 0};
    st = copy_plan_common(ctx, &rq, &prefs, out);
    free(pcs);
    return st;
}

/* ==== generators: fill, arange, linspace, eye, triu, tril ============================================= */

static const char *const fill_names[] = {
#define X(N, n, num) #n,
    BRC_FILL_KINDS(X)
#undef X
};
#define NFILL ((int)(sizeof fill_names / sizeof fill_names[0]))

typedef struct mv_fill_args_h {
    void *y;
    const void *x;
    double v0, v1, v2;
    int64_t iv0, iv1, n, k;
    int64_t units, vunits, ivec, scalar;
    int64_t shape[8], ys[8], xs[8];
} mv_fill_args_h;
_Static_assert(sizeof(mv_fill_args_h) == 13 * 8 + 24 * 8, "mv_fill_args_h must match brc::mv_fill_args");

static bool is_int_dtype(brc_dtype t) { return brc_dtype_is_integer(t) != 0; }

/* Integer range of a dtype, for arange's bounds. */
static void int_range(brc_dtype t, double *lo, double *hi) {
    switch (t) {
    case BRC_I8: *lo = -128, *hi = 127; break;
    case BRC_U8: *lo = 0, *hi = 255; break;
    case BRC_I16: *lo = -32768, *hi = 32767; break;
    case BRC_I32: *lo = -2147483648.0, *hi = 2147483647.0; break;
    case BRC_U32: *lo = 0, *hi = 4294967295.0; break;
    default: *lo = -9223372036854775808.0, *hi = 9223372036854775807.0; break;
    }
}

typedef struct fill_impl {
    int kind, vec, rank;
    size_t esize;
    mv_fill_args_h a;
    int64_t soff_y, soff_x; /* element offsets of the merged bases (negative strides made positive) */
    unsigned grid;
    CUfunction fn;
    bool mset;     /* the driver's memset (FILL_MEMSET_BYTES): bytes of y, the value's bits as 32 */
    bool pdl;      /* programmatic dependent launch (mv_pdl) */
    int64_t bytes;
    uint32_t pat;
} fill_impl;
static const brc__plan_vt fill_vt = {NULL};

/* A contiguous fill of at most FILL_MEMSET_BYTES whose value the dtype holds exactly is the driver's
 * cuMemsetD32 / D16 / D8Async (a memset node in a captured graph) instead of a kernel.
 * BARACUDA_FILL_MEMSET overrides the bytes (0: never). Descriptor fill(kind=fill,dtype=T,memset=1),
 * SKU driver:memset<bN>. */
enum { FILL_MEMSET_BYTES = 4 << 20 };
/* With programmatic dependent launches (mv_pdl) the kernel: H100, graphs of 20, 64 x 1024 bf16 / f32:
 * the kernel 0.89 / 0.96 us, the memset 1.42-1.52 / 1.44-1.57 (PyTorch 1.34-1.52). */
enum { FILL_MEMSET_PDL_BYTES = 0 };

/* The bits of v in dt when dt holds v exactly (then every conversion rounds it to itself, so the
 * kernel's mv_from_f64 would store the same bits), repeated to 32 bits; false for NaN, an inexact
 * value, fp8, and 8-byte values whose halves differ (no 64-bit memset). */
static bool fill_pattern(brc_dtype dt, double v, uint32_t *pat) {
    if (v != v) return false;
    uint64_t b = 0;
    const float f = (float)v;
    uint32_t fb;
    memcpy(&fb, &f, 4);
    switch (dt) {
    case BRC_F64: memcpy(&b, &v, 8); break;
    case BRC_F32:
        if ((double)f != v) return false;
        b = fb;
        break;
    case BRC_BF16:
        if ((double)f != v || (fb & 0xffffu)) return false;
        b = fb >> 16;
        break;
    case BRC_F16: {
        if ((double)f != v) return false;
        const uint32_t sign = (fb >> 16) & 0x8000u;
        const double a = fabs(v), sub = a * 16777216.0; /* a / 2^-24: f16's subnormal step */
        if (a == 0) {
            b = sign;
        } else if (isinf(a)) {
            b = sign | 0x7c00u;
        } else if (sub < 1024 && sub == floor(sub)) {
            b = sign | (uint32_t)sub;
        } else {
            int ex;
            const double m = frexp(a, &ex), frac = (2 * m - 1) * 1024; /* a = (1 + frac / 1024) 2^(ex-1) */
            const int E = ex - 1 + 15;
            if (E < 1 || E > 30 || frac != floor(frac)) return false;
            b = sign | (uint32_t)E << 10 | (uint32_t)frac;
        }
        break;
    }
    case BRC_BOOL:
        if (v != 0 && v != 1) return false;
        b = v != 0;
        break;
    case BRC_I8: case BRC_U8: case BRC_I16: case BRC_I32: case BRC_U32: case BRC_I64: {
        double lo, hi;
        int_range(dt, &lo, &hi);
        if (v != floor(v) || v < lo || v > hi || (dt == BRC_I64 && v >= 9223372036854775807.0)) return false;
        b = dt == BRC_U32 ? (uint64_t)v : (uint64_t)(int64_t)v;
        break;
    }
    default: return false;
    }
    const size_t es = brc_dtype_size(dt);
    if (es == 8) {
        if ((uint32_t)b != (uint32_t)(b >> 32)) return false;
        *pat = (uint32_t)b;
    } else {
        b &= es == 4 ? 0xffffffffu : es == 2 ? 0xffffu : 0xffu;
        *pat = (uint32_t)(es == 4 ? b : es == 2 ? b * 0x10001u : b * 0x1010101u);
    }
    return true;
}

/* mreq: the driver's memset 0 by the bytes (FILL_MEMSET_BYTES), 1 never, 2 asked (descriptor memset=1). */
static brc_status fill_plan_forced(brc_context *ctx, const brc_fill_desc *d, const brc_plan_prefs *prefs_in, int mreq,
                                   brc_plan **out) {
    const char *fam = "fill";
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NFILL)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "fill: kind %d is not a fill kind", kind);
    const char *kn = fill_names[kind];
    char fk[32];
    snprintf(fk, sizeof fk, "fill(%s)", kn);
    fam = fk;
    const brc_tensor_desc *y = &d->y, *x = &d->x;
    if ((st = check_tensor(y, fam, "y")) || (st = check_output(y, fam, "y"))) return st;
    bool tri = kind == BRC_FILL_TRIU || kind == BRC_FILL_TRIL, mat = tri || kind == BRC_FILL_EYE;
    bool line = kind == BRC_FILL_ARANGE || kind == BRC_FILL_LINSPACE;
    brc_dtype dt = y->dtype;
    if (tri && ((st = check_tensor(x, fam, "x")) || (st = like(y, x, fam, "y", "x")))) return st;
    if (mat && y->rank < 2)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y has rank %d (rows and columns: rank >= 2)", fam,
                          (int)y->rank);
    if (line && y->rank != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y has rank %d (rank 1 expected)", fam, (int)y->rank);
    if (line && dt == BRC_BOOL)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype bool is not supported", fam);
    size_t esize = brc_dtype_size(dt);
    fill_impl tmp;
    memset(&tmp, 0, sizeof tmp);
    mv_fill_args_h *a = &tmp.a;
    a->v0 = d->a, a->v1 = d->b, a->k = d->k;
    int64_t n0 = y->rank ? y->shape[0] : 1;
    if (kind == BRC_FILL_ARANGE && is_int_dtype(dt)) {
        double lo, hi, last = d->a + (double)(n0 > 0 ? n0 - 1 : 0) * d->b;
        int_range(dt, &lo, &hi);
        if (d->a != (double)(int64_t)d->a || d->b != (double)(int64_t)d->b || d->a < lo || d->a > hi ||
            last < lo || last > hi)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: start %g and step %g must be integers whose values fit %s", fam, d->a, d->b,
                              brc_dtype_name(dt));
        a->iv0 = (int64_t)d->a, a->iv1 = (int64_t)d->b;
    }
    if (kind == BRC_FILL_LINSPACE) {
        a->n = n0;
        a->v1 = n0 > 1 ? (d->b - d->a) / (double)(n0 - 1) : 0;
        a->v2 = d->b;
    }
    /* Dims: fill merges everything (after making strides positive); eye / triu / tril merge only
     * the batch dims, keeping rows and columns; arange / linspace are one dim. */
    int64_t sh[8], ys[8], xs[8];
    int m = 0, rank = y->rank, keep = mat ? 2 : line ? 1 : 0;
    for (int k = 0; k < rank; k++) {
        bool kept = k >= rank - keep;
        if (!kept && y->shape[k] == 1) continue;
        int64_t s_y = y->strides[k], s_x = tri ? x->strides[k] : 0;
        if (kind == BRC_FILL_FILL && s_y < 0) {
            tmp.soff_y += (y->shape[k] - 1) * s_y;
            s_y = -s_y;
        }
        sh[m] = y->shape[k], ys[m] = s_y, xs[m] = s_x;
        m++;
    }
    if (kind == BRC_FILL_FILL)
        for (int i = 1; i < m; i++)
            for (int j = i; j > 0 && ys[j] > ys[j - 1]; j--) {
                int64_t t;
                t = sh[j], sh[j] = sh[j - 1], sh[j - 1] = t;
                t = ys[j], ys[j] = ys[j - 1], ys[j - 1] = t;
            }
    int R = 0;
    for (int i = 0; i < m; i++) { /* the kept dims (rows, columns) come last and never merge */
        bool batch = i < m - keep;
        if (batch && R > 0 && ys[R - 1] == ys[i] * sh[i] && xs[R - 1] == xs[i] * sh[i]) {
            sh[R - 1] *= sh[i], ys[R - 1] = ys[i], xs[R - 1] = xs[i];
        } else {
            sh[R] = sh[i], ys[R] = ys[i], xs[R] = xs[i];
            R++;
        }
    }
    if (R == 0) sh[0] = 1, ys[0] = xs[0] = 1, R = 1;
    int64_t numel = brc_tensor_desc_numel(y);
    /* Vectors: the innermost dim contiguous (in x too for triu / tril). */
    int vmax = (int)(16 / esize), forced = prefs->vector_width, vec = forced ? forced : vmax;
    if (forced && (forced < 0 || forced > vmax || (forced & (forced - 1))))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fam, forced,
                          vmax);
    int64_t rows = 1;
    for (int i = 0; i < R - 1; i++) rows *= sh[i];
    for (; vec > 1; vec /= 2) {
        bool fits = ys[R - 1] == 1 && (!tri || xs[R - 1] == 1) && (rows == 1 || sh[R - 1] % vec == 0);
        for (int i = 0; i < R - 1; i++) fits = fits && ys[i] % vec == 0 && xs[i] % vec == 0;
        fits = fits && tmp.soff_y % vec == 0;
        if (fits) break;
        if (forced)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: vector_width %d does not fit (the innermost dim must be contiguous, its size and "
                              "the outer strides multiples of it)",
                              fam, forced);
    }
    memcpy(a->shape, sh, sizeof sh);
    memcpy(a->ys, ys, sizeof ys);
    memcpy(a->xs, xs, sizeof xs);
    a->ivec = sh[R - 1] / vec;
    a->vunits = rows * a->ivec;
    a->units = numel == 0 ? 0 : a->vunits + (rows == 1 ? sh[R - 1] % vec : 0);
    int64_t grid = brc__cdiv(a->units, MV_THREADS);
    if (grid >= ((int64_t)1 << 31) - 1)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %lld elements exceed one launch", fam, (long long)numel);

    brc__str desc = {0}, sku = {0}, snip = {0};
    brc_plan *p = NULL;
    /* A contiguous fill of a value the dtype holds exactly, small: the driver's memset
     * (FILL_MEMSET_BYTES). */
    const bool pdl = mv_pdl(ctx);
    const int64_t mmax =
        brc__knob("BARACUDA_FILL_MEMSET", 0, INT32_MAX, pdl ? FILL_MEMSET_PDL_BYTES : FILL_MEMSET_BYTES);
    const bool run1 = kind == BRC_FILL_FILL && R == 1 && ys[0] == 1;
    uint32_t pat = 0;
    if (mreq == 2 || (mreq == 0 && run1 && !forced && numel > 0 && numel * (int64_t)esize <= mmax &&
                      fill_pattern(dt, d->a, &pat))) {
        if (!run1 || !fill_pattern(dt, d->a, &pat))
            return brc__error(BRC_STATUS_INTERNAL, "%s: memset=1 needs one contiguous run and an exact value", fam);
        brc__str_addf(&desc, "fill(kind=fill,dtype=%s,memset=1)", brc_dtype_name(dt));
        brc__str_addf(&sku, "driver:memset<b%zu>@%s", esize, ctx->arch);
        if (desc.oom || sku.oom) {
            st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
            goto fail;
        }
        if ((st = brc__plan_new(ctx, BRC__FAM_FILL, &fill_vt, sizeof(fill_impl), &p))) goto fail;
        fill_impl *im = p->impl;
        *im = tmp;
        im->kind = kind, im->vec = 1, im->rank = 1, im->esize = esize, im->grid = (unsigned)grid;
        im->mset = true, im->bytes = numel * (int64_t)esize, im->pat = pat;
        brc__plan_publish(p, desc.p, sku.p);
        *out = p;
        return BRC_STATUS_OK;
    }
    brc__str_addf(&desc, "fill(kind=%s,dtype=%s,rank=%d,vec=%d)", kn, brc_dtype_name(dt), R, vec);
    brc__str_addf(&sku, "bespoke:fill<%s,%s,rank=%d,vec=%d>%s@%s", kn, brc_dtype_name(dt), R, vec, pdl ? "+pdl" : "",
                  ctx->arch);
    brc__str_addf(&snip,
                  "__global__ void __launch_bounds__(256) brc_mv_kernel(const __grid_constant__ brc::mv_fill_args a) "
                  "{ %sbrc::mv_fill<%s, %d, %d, %d>(a); }\n",
                  pdl_enter(pdl), storage_type(dt), kind, vec, R);
    if (desc.oom || sku.oom || snip.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_FILL, &fill_vt, sizeof(fill_impl), &p))) goto fail;
    fill_impl *im = p->impl;
    *im = tmp;
    im->kind = kind, im->vec = vec, im->rank = R, im->esize = esize, im->grid = (unsigned)grid, im->pdl = pdl;
    int64_t spec[6] = {K_FILL, dt, kind, vec, R, pdl};
    if ((st = compile(ctx, desc.p, 6, spec, snip.p, &im->fn))) goto fail;
    brc__str_free(&snip);
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    brc__str_free(&snip);
    return st;
}

brc_status brc_fill_plan(brc_context *ctx, const brc_fill_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_fill_plan");
    return st ? st : fill_plan_forced(ctx, d, prefs, 0, out);
}

brc_status brc_fill_run(const brc_plan *plan, const void *x, void *y, brc_stream stream) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_FILL, "brc_fill_run");
    if (st) return st;
    const fill_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    bool tri = im->kind == BRC_FILL_TRIU || im->kind == BRC_FILL_TRIL;
    if ((st = brc__need_ptr(y, im->esize, "brc_fill_run", "y", plan)) ||
        (tri && (st = brc__need_ptr(x, im->esize, "brc_fill_run", "x", plan))))
        return st;
    if (im->mset) { /* D32 where y and its bytes allow, else D16 (2-byte elements), else D8 */
        const CUdeviceptr yp = (CUdeviceptr)(uintptr_t)((char *)y + im->soff_y * (int64_t)im->esize);
        const CUstream s = (CUstream)stream;
        CUresult r;
        if (yp % 4 == 0 && im->bytes % 4 == 0)
            r = brc__cu()->cuMemsetD32Async(yp, im->pat, (size_t)im->bytes / 4, s);
        else if (im->esize == 2)
            r = brc__cu()->cuMemsetD16Async(yp, (unsigned short)im->pat, (size_t)im->bytes / 2, s);
        else
            r = brc__cu()->cuMemsetD8Async(yp, (unsigned char)im->pat, (size_t)im->bytes, s);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuMemsetAsync: %s (%s)", brc__cu_errname(r), plan->descriptor);
        return BRC_STATUS_OK;
    }
    mv_fill_args_h a = im->a;
    a.y = (char *)y + im->soff_y * (int64_t)im->esize;
    a.x = tri ? x : NULL;
    size_t vb = (size_t)im->vec * im->esize;
    a.scalar = ((uintptr_t)a.y | (uintptr_t)a.x) % vb != 0;
    return launch(plan, im->fn, im->grid, &a, im->pdl, stream);
}

/* fill(kind, dtype, rank, vec): y of the rank (rows x cols last for the matrix kinds) whose dims
 * cannot merge (strides of a buffer twice as large), the vector forced. */
brc_status brc__fill_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int kind = 0;
    brc_dtype dt = BRC_F32;
    int64_t rank, vec, mset = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "kind", fill_names, NFILL, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &dt)) ||
        (st = brc__desc_int(d, "memset", 0, kind == BRC_FILL_FILL ? 1 : 0, 0, &mset)))
        return st;
    brc_fill_desc f;
    memset(&f, 0, sizeof f);
    if (mset) { /* the driver's memset (FILL_MEMSET_BYTES): no kernel */
        f.kind = BRC_FILL_FILL;
        const int64_t n16 = 16;
        if ((st = brc_tensor_desc_contiguous(&f.y, dt, 1, &n16))) return st;
        return fill_plan_forced(ctx, &f, NULL, 2, out);
    }
    if ((st = brc__desc_int(d, "rank", 1, 8, 1, &rank)) ||
        (st = brc__desc_int(d, "vec", 1, 16, (int64_t)(16 / brc_dtype_size(dt)), &vec)))
        return st;
    f.kind = (brc_fill_kind)kind;
    f.y.dtype = dt, f.y.rank = (int32_t)rank;
    int R = (int)rank;
    int64_t s = 1;
    for (int k = R - 1; k >= 0; k--) {
        f.y.shape[k] = k == R - 1 ? 2 * vec : k == R - 2 ? 3 : 2;
        f.y.strides[k] = s;
        s *= 2 * f.y.shape[k];
    }
    f.x = f.y;
    f.a = 1, f.b = 1;
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.vector_width = (int)vec;
    return fill_plan_forced(ctx, &f, &prefs, 1, out);
}

/* ==== pad ============================================================================================== */

static const char *const pad_names[] = {
#define X(N, n, num) #n,
    BRC_PAD_MODES(X)
#undef X
};
#define NPAD ((int)(sizeof pad_names / sizeof pad_names[0]))

typedef struct mv_pad_args_h {
    const void *x;
    void *y;
    double value;
    int64_t units, ch, ew, g, nseg, cw, ews;
    int64_t win[8];
    int64_t shape[8], ishape[8], lo[8], os[8], is[8];
} mv_pad_args_h;
_Static_assert(sizeof(mv_pad_args_h) == 10 * 8 + 8 * 8 + 40 * 8, "mv_pad_args_h must match brc::mv_pad_args");

/* The forward's kernels (docs/movement.md, "pad"). Staged (brc::mv_pad_staged): elements of at
 * least PAD_STAGE_MIN_BYTES bytes in rows contiguous on both sides whose x rows fit
 * PAD_STAGE_BYTES of shared memory (with their alignment slack) and whose y rows are below 2 GiB,
 * PAD_STAGE_CTAS CTAs an SM; PAD_STAGED = 0 turns it off. (H100, movement_sweep, reflect
 * 16x64x256^2, the element-by-element columns one a lane: bf16 103.4-103.6 us staged at 12 KiB x 8
 * CTAs, 103.7-103.9 at 16 KiB x 8, 104.7 at 8 KiB, 106.5 at 20 KiB x 6, 117.3 by row groups; f32
 * 190.2-190.5 / 192.8-193.4 / 194.2 / 194.7 / 210.6; u8 66.4 staged at 20 KiB, 98.6 by row
 * groups.) Flat (brc::mv_pad_flat, stage=2): the staged kernel where y is contiguous as well,
 * for elements of at least PAD_FLAT_MIN_BYTES when PAD_FLAT (BARACUDA_PAD_FLAT=1 for measurements
 * and the GPU test; the descriptor says stage=2, so warm rebuilds it); off: movement_sweep -rdc, the same
 * shape, bf16 107.4 us at 12 KiB (staged 104.3-105.0), 103.8-103.9 at 16 KiB but f32 194.8-196.4
 * there (staged 190.2-190.5); faster for u8 (61.7 / 69.4) and the constant mode (101.8 / 104.2),
 * slower with x or y off their alignment (docs/movement.md). Row groups (brc::mv_pad_fwd): every
 * other forward; PAD_U units a thread at a time, PAD_MIN_CTAS CTAs an SM, a CTA's work PAD_CTA_ROUNDS
 * rounds of MV_THREADS x PAD_U units. Staged in small CTAs (stage=3; PAD_SMALL, off:
 * BARACUDA_PAD_SMALL=1 for measurements and the GPU test): PAD_SMALL_THREADS threads, x rows within
 * PAD_SMALL_BYTES, PAD_SMALL_CTAS an SM (more x bytes in flight an SM: 160 KiB against 96). */
enum {
    PAD_STAGED = 1,
    PAD_FLAT = 0,
    PAD_FLAT_MIN_BYTES = 2,
    PAD_STAGE_MIN_BYTES = 1,
    PAD_STAGE_BYTES = 12288,
    PAD_STAGE_CTAS = 8,
    PAD_SMALL = 0,
    PAD_SMALL_THREADS = 128,
    PAD_SMALL_BYTES = 10240,
    PAD_SMALL_CTAS = 16,
    PAD_U = 2,
    PAD_MIN_CTAS = 6,
    PAD_CTA_ROUNDS = 4
};

typedef struct pad_impl {
    int bwd, staged; /* staged: 0 row groups, 1 staged, 2 flat, 3 staged in small CTAs */
    bool in_empty; /* the input has no elements (a constant pad of an empty x): it may be NULL */
    bool pdl;      /* programmatic dependent launch (mv_pdl) */
    size_t esize;
    mv_pad_args_h a;
    /* Forward, rows contiguous on both sides: the edge windows for x rows that are not all
     * 16-byte aligned at both ends (a.win / a.ew / a.ews: for rows that are, when x is aligned). */
    bool x_pitch16;          /* x's outer strides and row length are multiples of 16 bytes */
    int64_t win_w[8], ew_w, ews_w;
    unsigned grid;
    CUfunction fn;
} pad_impl;

/* The forward's edge windows of a contiguous row (brc::mv_pad_fwd): the columns within h of the
 * row's ends and of the interior's ends (reflect: the pads whole and h past them), merged; into
 * win (brc::mv_pad_args.win's form). Returns the edge units a row. */
static int64_t pad_windows(int mode, int64_t n, int64_t N, int64_t lo, int64_t h, int64_t *win) {
    int64_t s[6], e[6];
    int k = 0;
    const int64_t at[4] = {0, lo, lo + N, n};
    for (int i = 0; i < 4; i++) s[k] = at[i] - h, e[k] = at[i] + h, k++;
    if (mode == BRC_PAD_REFLECT) s[k] = 0, e[k] = lo + h, k++, s[k] = lo + N - h, e[k] = n, k++;
    for (int i = 0; i < k; i++) {
        if (s[i] < 0) s[i] = 0;
        if (e[i] > n) e[i] = n;
    }
    for (int i = 1; i < k; i++) /* insertion sort by start */
        for (int j = i; j > 0 && s[j] < s[j - 1]; j--) {
            int64_t t = s[j];
            s[j] = s[j - 1], s[j - 1] = t;
            t = e[j], e[j] = e[j - 1], e[j - 1] = t;
        }
    int64_t ms[6], me[6];
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (e[i] <= s[i]) continue;
        if (m > 0 && s[i] <= me[m - 1]) {
            if (e[i] > me[m - 1]) me[m - 1] = e[i];
        } else {
            ms[m] = s[i], me[m] = e[i], m++;
        }
    }
    /* At most 4: the windows around 0 and lo overlap reflect's left one, those around lo + N and
     * n its right one. */
    int64_t cum = 0;
    for (int w = 0; w < 4; w++) {
        win[2 * w + 1] = w < m ? ms[w] - cum : 0;
        if (w < m) cum += me[w] - ms[w];
        win[2 * w] = cum;
    }
    return cum;
}
/* Rows a staged CTA of nt threads: gmax (as many as fit its shared memory), one fewer while the
 * last round of the ch chunk units a row would keep under 1/8 of the threads busy, at most gmax / 8
 * fewer. (H100, movement_sweep, bf16 reflect 16x64x256^2 pad 3: 23 rows a CTA leave 14 of 782 units
 * to a fourth round; 22 rows 102.7-104.3 us against 103.5-105.3 for 23, four runs.) */
static int64_t pad_stage_rows(int64_t gmax, int64_t ch, int64_t nt) {
    int64_t g = gmax;
    while (g > 1 && 8 * (gmax - g + 1) <= gmax && (g * ch) % nt != 0 && 8 * ((g * ch) % nt) < nt) g--;
    return g;
}
static const brc__plan_vt pad_vt = {NULL};

/* in: x forward, dy backward; out: y forward, dx backward. The kernel's "output" is out. */
/* stage: the forward's kernel: -1 by the rows (staged where they fit, flat where y is also
 * contiguous), 0 row groups, 1 staged, 2 flat staged (the caller made rows that fit and a
 * contiguous y: descriptors), 3 staged in CTAs of PAD_SMALL_THREADS. */
static brc_status pad_common(brc_context *ctx, int bwd, int mode, const brc_tensor_desc *small,
                             const brc_tensor_desc *big, const int64_t *lo, const int64_t *hi, double value,
                             const brc_plan_prefs *prefs_in, int stage, brc_plan **out) {
    const char *fam = bwd ? "pad backward" : "pad";
    const char *sn = bwd ? "dx" : "x", *bn = bwd ? "dy" : "y";
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    if (mode < 0 || mode >= NPAD) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: mode %d is not a pad mode", fam, mode);
    if ((st = check_tensor(small, fam, sn)) || (st = check_tensor(big, fam, bn))) return st;
    if (small->dtype != big->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s has %s", fam, bn,
                          brc_dtype_name(big->dtype), sn, brc_dtype_name(small->dtype));
    brc_dtype dt = small->dtype;
    if (bwd && dt != BRC_F32 && dt != BRC_F64 && dt != BRC_F16 && dt != BRC_BF16)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", fam,
                          brc_dtype_name(dt));
    if ((st = check_output(bwd ? small : big, fam, bwd ? "dx" : "y"))) return st;
    int rank = small->rank;
    if (rank < 1 || big->rank != rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has rank %d, %s %d (equal, 1..8)", fam, sn, rank, bn,
                          (int)big->rank);
    for (int d = 0; d < rank; d++) {
        int64_t n = small->shape[d], l = lo[d], h = hi[d], want;
        if (__builtin_add_overflow(n, l, &want) || __builtin_add_overflow(want, h, &want) || want != big->shape[d])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s.shape[%d] = %lld is not %lld + lo %lld + hi %lld", fam,
                              bn, d, (long long)big->shape[d], (long long)n, (long long)l, (long long)h);
        bool ok = true;
        const char *rule = "";
        switch (mode) {
        case BRC_PAD_REFLECT: ok = l >= 0 && h >= 0 && l < n && h < n, rule = "0 <= pad < size"; break;
        case BRC_PAD_REPLICATE: ok = l >= 0 && h >= 0 && (n > 0 || (l == 0 && h == 0)), rule = "pad >= 0, size >= 1"; break;
        case BRC_PAD_CIRCULAR: ok = l >= 0 && h >= 0 && l <= n && h <= n, rule = "0 <= pad <= size"; break;
        default: break;
        }
        if (!ok)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s pads (%lld, %lld) of dim %d (size %lld) break %s", fam,
                              pad_names[mode], (long long)l, (long long)h, d, (long long)n, rule);
    }
    /* Merge neighbouring unpadded dims that nest in both tensors; drop unpadded size-1 dims. */
    pad_impl tmp;
    memset(&tmp, 0, sizeof tmp);
    mv_pad_args_h *a = &tmp.a;
    const brc_tensor_desc *o = bwd ? small : big, *in = bwd ? big : small;
    int R = 0;
    bool prev_plain = false;
    for (int d = 0; d < rank; d++) {
        bool plain = lo[d] == 0 && hi[d] == 0;
        if (plain && small->shape[d] == 1) continue;
        if (R > 0 && plain && prev_plain && a->os[R - 1] == o->strides[d] * o->shape[d] &&
            a->is[R - 1] == in->strides[d] * in->shape[d]) {
            a->shape[R - 1] *= o->shape[d], a->ishape[R - 1] *= in->shape[d];
            a->os[R - 1] = o->strides[d], a->is[R - 1] = in->strides[d];
            continue;
        }
        a->shape[R] = o->shape[d], a->ishape[R] = in->shape[d], a->lo[R] = lo[d];
        a->os[R] = o->strides[d], a->is[R] = in->strides[d];
        prev_plain = plain;
        R++;
    }
    if (R == 0) a->shape[0] = a->ishape[0] = 1, a->os[0] = a->is[0] = 1, R = 1;
    a->value = value;
    /* The forward: slots of 16 bytes of a y row, MV_UNROLL a thread: the aligned chunks a row
     * contiguous on both sides touches (at most (n E + 31 - E) / 16 at any E-aligned start), else
     * runs of 16 / E columns (brc::mv_pad_fwd). The backward: a thread per dx element. */
    a->units = brc_tensor_desc_numel(o);
    int64_t grid = brc__cdiv(a->units, MV_THREADS);
    if (!bwd && a->units > 0) {
        /* The forward: a CTA per group of rows (brc::mv_pad_fwd). Rows contiguous on both sides
         * take chunk units (the 16-byte-aligned chunks a row touches: at most (n E + 31 - E) / 16 at
         * any E-aligned start) and edge units (the windows, h = 16 / E columns around each end
         * when x's rows are 16-byte aligned at both ends, else twice that); other rows edge units
         * only, the whole row. */
        int64_t n = a->shape[R - 1], N = a->ishape[R - 1], es = (int64_t)brc_dtype_size(dt), ve = 16 / es;
        bool contig = a->os[R - 1] == 1 && a->is[R - 1] == 1;
        a->units /= n; /* rows */
        tmp.x_pitch16 = (N * es) % 16 == 0;
        for (int d = 0; d < R - 1; d++)
            if ((a->is[d] * es) % 16) tmp.x_pitch16 = false;
        if (contig) {
            a->ch = (n * es + 31 - es) / 16;
            a->ew = pad_windows(mode, n, N, a->lo[R - 1], ve, a->win);
            tmp.ew_w = pad_windows(mode, n, N, a->lo[R - 1], 2 * ve, tmp.win_w);
        } else {
            a->ch = 0, a->ew = tmp.ew_w = n;
            a->win[0] = n;
            for (int w = 1; w < 4; w++) a->win[2 * w] = n;
            memcpy(tmp.win_w, a->win, sizeof a->win);
        }
        int64_t per = a->ch + tmp.ew_w, cta = (int64_t)MV_THREADS * PAD_U * PAD_CTA_ROUNDS;
        if (per <= cta) {
            a->nseg = 1, a->g = cta / per < MV_THREADS ? cta / per : MV_THREADS;
        } else {
            a->g = 1, a->nseg = brc__cdiv(per, cta);
        }
        a->cw = brc__cdiv(a->ch, a->nseg);
        a->ews = brc__cdiv(a->ew, a->nseg), tmp.ews_w = brc__cdiv(tmp.ew_w, a->nseg);
        grid = brc__cdiv(a->units, a->g);
        if (grid > (((int64_t)1 << 31) - 1) / a->nseg) grid = (int64_t)1 << 31;
        else grid *= a->nseg;
        /* Staged: a.cw becomes the shared-memory bytes of an x row (its aligned 16-byte blocks at
         * any E-aligned start), a.g the rows a CTA. */
        int64_t xpb = 16 * brc__cdiv(16 - es + N * es, 16);
        bool ydense = a->os[R - 1] == 1;
        for (int d = R - 2; d >= 0; d--)
            if (a->os[d] != a->os[d + 1] * a->shape[d + 1]) ydense = false;
        if (contig && xpb <= PAD_STAGE_BYTES && n * es < ((int64_t)1 << 31) &&
            (stage >= 1 || (stage < 0 && PAD_STAGED && es >= PAD_STAGE_MIN_BYTES))) {
            tmp.staged = 1;
            a->cw = xpb, a->nseg = 1;
            const int64_t gfit = PAD_STAGE_BYTES / xpb < MV_THREADS ? PAD_STAGE_BYTES / xpb : MV_THREADS;
            a->g = gfit;
            if (xpb <= PAD_SMALL_BYTES &&
                (stage == 3 || (stage < 0 && brc__knob("BARACUDA_PAD_SMALL", 0, 1, PAD_SMALL)))) {
                tmp.staged = 3;
                a->g = PAD_SMALL_BYTES / xpb < PAD_SMALL_THREADS ? PAD_SMALL_BYTES / xpb : PAD_SMALL_THREADS;
            }
            a->g = pad_stage_rows(a->g, a->ch, tmp.staged == 3 ? PAD_SMALL_THREADS : MV_THREADS);
            /* Flat (a CTA's rows one byte range of y): y contiguous, the range below 2^31 bytes;
             * rows a CTA rounded down to a multiple of 16 / gcd(row bytes, 16) where that leaves
             * some, so that the ranges of a 16-byte-aligned y start and end on 16 bytes. */
            if (tmp.staged == 1 && ydense && gfit * n * es < ((int64_t)1 << 31) &&
                (stage == 2 ||
                 (stage < 0 && brc__knob("BARACUDA_PAD_FLAT", 0, 1, PAD_FLAT) && es >= PAD_FLAT_MIN_BYTES))) {
                int64_t m = 16, rb = n * es;
                a->g = gfit; /* the flat kernel has no chunk rounds: rows rounded below instead */
                while (rb % 2 == 0 && m > 1) rb /= 2, m /= 2;
                if (a->g >= m) a->g -= a->g % m;
                tmp.staged = 2;
            }
            grid = brc__cdiv(a->units, a->g);
        }
    }
    if (grid >= ((int64_t)1 << 31) - 1)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %lld elements exceed one launch", fam, (long long)a->units);
    brc__str desc = {0}, sku = {0}, snip = {0};
    brc_plan *p = NULL;
    const char *dir = bwd ? "bwd" : "fwd";
    brc__str_addf(&desc, "pad(mode=%s,dtype=%s,rank=%d,dir=%s%s)", pad_names[mode], brc_dtype_name(dt), R, dir,
                  tmp.staged == 3 ? ",stage=3" : tmp.staged == 2 ? ",stage=2" : tmp.staged ? ",stage=1" : "");
    const bool pdl = mv_pdl(ctx);
    brc__str_addf(&sku, "bespoke:pad<%s,%s,rank=%d,%s%s>%s@%s", pad_names[mode], brc_dtype_name(dt), R, dir,
                  tmp.staged == 3 ? ",staged,small" : tmp.staged == 2 ? ",flat" : tmp.staged ? ",staged" : "",
                  pdl ? "+pdl" : "", ctx->arch);
    if (bwd)
        brc__str_addf(&snip,
                      "__global__ void __launch_bounds__(256, 1) brc_mv_kernel(const __grid_constant__ brc::mv_pad_args "
                      "a) { %sbrc::mv_pad_bwd<%s, %d, %d>(a); }\n",
                      pdl_enter(pdl), storage_type(dt), mode, R);
    else if (tmp.staged == 2)
        brc__str_addf(&snip,
                      "__global__ void __launch_bounds__(256, %d) brc_mv_kernel(const __grid_constant__ brc::mv_pad_args "
                      "a) { %sbrc::mv_pad_flat<%s, %d, %d, %d>(a); }\n",
                      PAD_STAGE_CTAS, pdl_enter(pdl), storage_type(dt), mode, R, PAD_STAGE_BYTES);
    else if (tmp.staged)
        brc__str_addf(&snip,
                      "__global__ void __launch_bounds__(%d, %d) brc_mv_kernel(const __grid_constant__ brc::mv_pad_args "
                      "a) { %sbrc::mv_pad_staged<%s, %d, %d, %d, %d>(a); }\n",
                      tmp.staged == 3 ? PAD_SMALL_THREADS : MV_THREADS,
                      tmp.staged == 3 ? PAD_SMALL_CTAS : PAD_STAGE_CTAS, pdl_enter(pdl), storage_type(dt), mode, R,
                      tmp.staged == 3 ? PAD_SMALL_BYTES : PAD_STAGE_BYTES,
                      tmp.staged == 3 ? PAD_SMALL_THREADS : MV_THREADS);
    else
        brc__str_addf(&snip,
                      "__global__ void __launch_bounds__(256, %d) brc_mv_kernel(const __grid_constant__ brc::mv_pad_args "
                      "a) { %sbrc::mv_pad_fwd<%s, %d, %d, %d>(a); }\n",
                      PAD_MIN_CTAS, pdl_enter(pdl), storage_type(dt), mode, R, PAD_U);
    if (desc.oom || sku.oom || snip.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, bwd ? BRC__FAM_PAD_BWD : BRC__FAM_PAD, &pad_vt, sizeof(pad_impl), &p))) goto fail;
    pad_impl *im = p->impl;
    *im = tmp;
    im->bwd = bwd, im->esize = brc_dtype_size(dt), im->grid = (unsigned)grid, im->pdl = pdl;
    im->in_empty = brc_tensor_desc_numel(in) == 0;
    int64_t spec[7] = {K_PAD, dt, mode, R, bwd, tmp.staged, pdl};
    if ((st = compile(ctx, desc.p, 7, spec, snip.p, &im->fn))) goto fail;
    brc__str_free(&snip);
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    brc__str_free(&snip);
    return st;
}

brc_status brc_pad_plan(brc_context *ctx, const brc_pad_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_pad_plan");
    return st ? st : pad_common(ctx, 0, (int)d->mode, &d->x, &d->y, d->lo, d->hi, d->value, prefs, -1, out);
}

brc_status brc_pad_backward_plan(brc_context *ctx, const brc_pad_backward_desc *d, const brc_plan_prefs *prefs,
                                 brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_pad_backward_plan");
    return st ? st : pad_common(ctx, 1, (int)d->mode, &d->dx, &d->dy, d->lo, d->hi, 0, prefs, -1, out);
}

static brc_status pad_run_common(const brc_plan *plan, brc__family fam, const char *fn, const void *in, void *o,
                                 const char *in_name, const char *out_name, brc_stream stream) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, fam, fn);
    if (st) return st;
    const pad_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    if ((st = brc__need_ptr(o, im->esize, fn, out_name, plan))) return st;
    if (in || !im->in_empty)
        if ((st = brc__need_ptr(in, im->esize, fn, in_name, plan))) return st;
    if (in == (const void *)o)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s are one buffer (%s)", fn, in_name, out_name,
                          plan->descriptor);
    mv_pad_args_h a = im->a;
    a.x = in, a.y = o;
    if (!im->bwd && !im->staged && a.ch > 0 && (!im->x_pitch16 || (uintptr_t)in % 16)) { /* x rows not all aligned */
        memcpy(a.win, im->win_w, sizeof a.win);
        a.ew = im->ew_w, a.ews = im->ews_w;
    }
    return launch_n(plan, im->fn, im->grid, im->staged == 3 ? PAD_SMALL_THREADS : MV_THREADS, &a, im->pdl, stream);
}

brc_status brc_pad_run(const brc_plan *plan, const void *x, void *y, brc_stream stream) {
    return pad_run_common(plan, BRC__FAM_PAD, "brc_pad_run", x, y, "x", "y", stream);
}
brc_status brc_pad_backward_run(const brc_plan *plan, const void *dy, void *dx, brc_stream stream) {
    return pad_run_common(plan, BRC__FAM_PAD_BWD, "brc_pad_backward_run", dy, dx, "dy", "dx", stream);
}

/* pad(mode, dtype, rank, dir[, stage]): a [3]^rank x padded by 1 on both sides of every dim;
 * forward by row groups, staged (stage=1), flat staged (stage=2) or staged in small CTAs (stage=3). */
brc_status brc__pad_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const dirs[] = {"fwd", "bwd"};
    int mode = 0, dir = 0;
    brc_dtype dt = BRC_F32;
    int64_t rank, stage = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "mode", pad_names, NPAD, -1, &mode)) || (st = brc__desc_dtype(d, "dtype", &dt)) ||
        (st = brc__desc_int(d, "rank", 1, 8, 1, &rank)) || (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)) ||
        (st = brc__desc_int(d, "stage", 0, dir ? 0 : 3, 0, &stage)))
        return st;
    int64_t s3[8], s5[8], lo[8], hi[8];
    for (int k = 0; k < 8; k++) s3[k] = 3, s5[k] = 5, lo[k] = hi[k] = 1;
    brc_tensor_desc small, big;
    brc_tensor_desc_contiguous(&small, dt, (int32_t)rank, s3);
    brc_tensor_desc_contiguous(&big, dt, (int32_t)rank, s5);
    return pad_common(ctx, dir, mode, &small, &big, lo, hi, 0, NULL, dir ? -1 : (int)stage, out);
}
