/* The row-wise family: softmax / log_softmax and rms_norm / layer_norm along the last axis, forward
 * and backward. Validates the layouts, chooses the row geometry (vector width, threads per row,
 * rows per CTA, cluster, passes), generates the kernels' specialization (kernel_src/rows.cuh) and
 * launches them. Descriptor keys: docs/rows.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* The kernels of rows.cuh, by the id that the specialization tuple carries. */
enum { K_SOFTMAX_FWD, K_SOFTMAX_BWD, K_NORM_FWD, K_NORM_BWD, K_COLSUM, K_SOFTMAX_STRIDED, K_COLRED };
static const char *const kernel_fns[] = {"softmax_fwd", "softmax_bwd", "norm_fwd", "norm_bwd", "colsum",
                                         "softmax_strided", "colred"};

/* The row count from which the row-dependent layouts apply (pick_own, smx_own): descriptors name it
 * as rows=2048 for every plan of that many rows or more. */
enum { ROWS_CLASS = 2048 };

/* The ops, named as their descriptors' families. */
enum { OP_SOFTMAX, OP_LOG_SOFTMAX, OP_RMS, OP_LAYER };
static const char *const op_names[] = {"softmax", "log_softmax", "rms_norm", "layer_norm"};

#define MAX_COLS ((int64_t)1 << 30)
enum { COLSUM_THREADS = 256, COLSUM_COLS = 32, WS_ALIGN = 256 }; /* colsum: 32 columns a CTA */

/* The kernels' argument block (struct brc::rows_args in rows.cuh): 8-byte fields only, so the
 * two layouts agree without padding rules. */
typedef struct rows_args {
    const void *a, *b, *w, *bias;
    void *out, *sum, *mean, *rstd, *part, *dw, *db;
    int64_t rows, sa, sb, sout, ssum;
    double eps;
    int64_t nparts;
} rows_args;
_Static_assert(sizeof(rows_args) == 18 * 8, "rows_args must match brc::rows_args");

/* The strided softmax's argument block (struct brc::rows_sargs in rows.cuh). */
typedef struct rows_sargs {
    const void *a, *b;
    void *out;
    int64_t outer, inner;
    int64_t so[3], si[3], sc[3];
} rows_sargs;
_Static_assert(sizeof(rows_sargs) == 14 * 8, "rows_sargs must match brc::rows_sargs");

typedef struct rows_geo {
    int vec, tpr, rpb, cl, nv, iter;
    int stg;     /* 0: rows read from global memory; 2: staged through shared memory, double buffered */
    int smem;    /* dynamic shared memory bytes per CTA (staging) */
    int per_sm;  /* CTAs one SM holds (staging: the persistent grid's CTAs per SM) */
    int pk;      /* 1: the row stays in registers as loaded, 16-bit (rows.cuh, ldpk) */
    int split;   /* norm backward: the weight / bias gradients by colred, not by the row kernel */
    int own;     /* norm backward with owned columns (rows.cuh, norm_bwd_own): its shared-memory stages */
    int sb;      /* owned columns: the split cluster barrier (norm_bwd_own_sb, fwd_own); 2: layer_norm's two phases */
    int ps;      /* the split cluster barrier: each CTA's sums pre-summed and posted once (rows.cuh, presum) */
    int pv;      /* the split cluster barrier: posted pairs read by one load (rows.cuh, K::PV; 0: a load a half) */
    int fr;      /* the split cluster barrier's arrive releases the posts only (rows.cuh, split_bar, K::FR) */
    int pr;      /* norm backward of short rows: a persistent grid of per_sm CTAs an SM, each CTA's row slots
                    summed into one partial row (rows.cuh, slot_partials); 0: a partial row a slot */
    int ly;      /* log_softmax backward in one pass of registers: dy held, y read in the output pass (K::LY) */
} rows_geo;

typedef struct rows_impl {
    int kid, op;
    brc_dtype dt;
    size_t esize, csize;
    int64_t rows, cols;
    rows_geo g;
    int w, b, res;
    int64_t stride[4]; /* a, b, out, sum */
    double eps;
    unsigned grid;          /* main kernel; 0 when there are no rows */
    int64_t nparts;         /* norm backward: partial rows per gradient */
    unsigned colsum_grid;   /* norm backward with weight or bias: the column reduction */
    unsigned colred_grid;   /* split norm backward: the partial gradients, slabs x column blocks */
    CUfunction fn, fn_colsum, fn_colred;
    int colsum_seq;         /* measurement knob "cs=0": colsum's previous form, one thread a column */
    /* The strided softmax (kid K_SOFTMAX_STRIDED): the layout and the CTA shape. */
    rows_sargs sa;
    int tx, ty, bwd;
} rows_impl;

static const brc__plan_vt rows_vt = {NULL};

/* ---- layouts ------------------------------------------------------------------------------------- */

typedef struct rows_view {
    int64_t rows, cols, stride;
} rows_view;

/* Flattens t to [rows, cols] with one row stride (see rows.h for what is accepted). */
static brc_status as_rows(const brc_tensor_desc *t, const char *fam, const char *what, rows_view *v) {
    char name[96];
    snprintf(name, sizeof name, "%s: %s", fam, what);
    brc_status st = brc__tensor_check(t, name);
    if (st) return st;
    if (t->rank < 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: rank 0 has no last axis (rank must be >= 1)", name);
    int last = t->rank - 1;
    v->cols = t->shape[last];
    if (v->cols > 1 && t->strides[last] != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: the last dim has stride %lld; rows must be contiguous (stride 1)", name,
                          (long long)t->strides[last]);
    int64_t rows = 1, stride = v->cols, expect = 0;
    bool have = false;
    for (int d = last - 1; d >= 0; d--) {
        rows *= t->shape[d]; /* cannot overflow: brc__tensor_check bounded the element count */
        if (t->shape[d] == 1) continue;
        if (have && t->strides[d] != expect)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: the leading dims do not flatten to rows with one stride (dim %d has stride "
                              "%lld, %lld expected)",
                              name, d, (long long)t->strides[d], (long long)expect);
        if (!have) stride = t->strides[d];
        have = true;
        if (__builtin_mul_overflow(t->strides[d], t->shape[d], &expect)) expect = 0;
    }
    v->rows = rows;
    v->stride = stride;
    return BRC_STATUS_OK;
}

/* Each operand: its descriptor, its name in messages, and whether it is written. */
typedef struct operand {
    const brc_tensor_desc *t;
    const char *name;
    bool output;
} operand;

/* Operand i against the family's dtypes (i == 0) or against operand 0 (dtype and shape). */
static brc_status check_like_first(const char *fam, const operand *ops, int i) {
    brc_dtype dt = ops[0].t->dtype;
    if (i == 0) {
        if (dt != BRC_F32 && dt != BRC_F64 && dt != BRC_F16 && dt != BRC_BF16)
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported (f32, f64, f16, bf16)", fam,
                              brc_dtype_name(dt));
        return BRC_STATUS_OK;
    }
    if (ops[i].t->dtype != dt)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s has %s", fam, ops[i].name,
                          brc_dtype_name(ops[i].t->dtype), ops[0].name, brc_dtype_name(dt));
    if (!brc__same_shape(ops[i].t, ops[0].t))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s and %s differ in shape", fam, ops[i].name, ops[0].name);
    return BRC_STATUS_OK;
}

/* Checks the operands against the first (dtype, shape, flattening) and fills strides[i]. */
static brc_status check_operands(const char *fam, const operand *ops, int n, rows_view *v, int64_t *strides) {
    brc_status st;
    for (int i = 0; i < n; i++) {
        rows_view vi;
        if ((st = as_rows(ops[i].t, fam, ops[i].name, &vi)) || (st = check_like_first(fam, ops, i))) return st;
        if (i == 0) *v = vi;
        int64_t as = vi.stride < 0 ? -vi.stride : vi.stride;
        if (ops[i].output && vi.rows > 1 && as < vi.cols)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: %s has row stride %lld < cols %lld: its rows would overlap", fam, ops[i].name,
                              (long long)vi.stride, (long long)vi.cols);
        strides[i] = vi.stride;
    }
    if (v->cols < 1 || v->cols > MAX_COLS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: cols = %lld is outside 1..2^30", fam, (long long)v->cols);
    return BRC_STATUS_OK;
}

/* ---- geometry --------------------------------------------------------------------------------------- */

static int pow2ceil(int64_t n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
}

/* The widest vector (at most 16 bytes) dividing cols. */
static int default_vec(int64_t cols, size_t esize) {
    int v = (int)(16 / esize);
    while (v > 1 && cols % v) v /= 2;
    return v;
}

/* Elements per thread: what the plan aims at, and the most a thread may hold before the row is
 * read in several passes. The target is in bytes of each array a thread loads (measured on an
 * H100: 64 bytes a thread keep enough loads in flight for the forward kernels; the backward
 * kernels load two arrays, so half of that each). The budget is in registers: half for f64 (two
 * registers an element) and half again for 1024-thread CTAs (64 registers a thread). The norms'
 * backward holds x, dy and two partial-sum arrays, hence its smaller figures. */

/* Staging for rows longer than one CTA holds (rows.cuh, K::STG): 512-thread CTAs, a cluster of
 * 1-4 CTAs per row (sm_90), each staging its slice of the arrays the kernel reads (na of them) in
 * shared memory, plus the norm backward's partial gradient sums (acc bytes a column) when they do
 * not fit in registers, double buffered, with at least two CTAs an SM. The smallest cluster that
 * fits wins (fewer cluster barriers). Needs 16-byte vectors (cp.async.cg).
 * Measured on an H100 (docs/rows.md): staging beats the register layouts for 16-bit rows of 32768
 * (softmax forward 36 -> 46% of copy, rms_norm forward 51 -> 69%, layer_norm forward 33 -> 60%)
 * but loses where it needs clusters of 8 (131072 columns) and for f32 rows, whose register layouts
 * keep the row in fewer, larger loads; so it is used for 16-bit dtypes with clusters up to 4. */
static bool pick_staged(int64_t cols, int vec, size_t esize, int na, int acc, int major, int minor,
                        bool cluster_ok, rows_geo *g) {
    if ((size_t)vec * esize != 16 || esize != 2) return false;
    const int tpr = 512, limit = brc__smem_per_cta(major, minor), clmax = cluster_ok ? 4 : 1;
    int64_t nvec = cols / vec;
    for (int cl = 1; cl <= clmax; cl *= 2) {
        int64_t iter = brc__cdiv(nvec, (int64_t)cl * tpr), n = iter * tpr * vec;
        int64_t bytes = 2 * na * n * (int64_t)esize + (iter > 1 ? acc * n : 0);
        if (bytes > limit / 2 - 1024) continue;
        int per_sm = (int)((limit + 1024) / (bytes + 1024));
        *g = (rows_geo){vec, tpr, 1, cl, 1, (int)iter, 2, (int)bytes, per_sm < 4 ? per_sm : 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        return true;
    }
    return false;
}

/* Packed rows (rows.cuh, ldpk): 512-thread CTAs, a cluster of up to 8 on sm_90 (one CTA
 * elsewhere), each thread holding up to nvmax (<= 8) 16-byte vectors of the row as loaded, two CTAs
 * an SM. */
static bool pick_packed(int64_t nvec, int vec, size_t esize, bool cluster_ok, int nvmax, rows_geo *g) {
    if (esize != 2 || (size_t)vec * esize != 16) return false;
    int cl = pow2ceil(brc__cdiv(nvec, 512 * nvmax));
    if (cl > (cluster_ok ? 8 : 1)) return false;
    g->tpr = 512;
    g->cl = cl;
    g->nv = (int)brc__cdiv(nvec, (int64_t)512 * cl);
    g->pk = 1;
    return true;
}

/* Owned columns (rows.cuh, norm_bwd_own / norm_bwd_own_sb / fwd_own), sm_90: 16-byte vectors of 2-
 * or 4-byte elements, 512-thread CTAs, a persistent grid, the rows' slices staged in shared memory
 * (as many stages as fit, one CTA an SM).
 * The norm backward (fwd == 0): the smallest cluster (1..8) whose threads hold at most 4 vectors of
 * the row each, at least 16 elements a thread. What each row costs beyond its bytes (the block and
 * cluster reductions) must be spread over enough elements: measured on the H100 before the split
 * barrier, rms_norm bf16 8192 x 32768 took 1101 us in the earlier layout, 722 us in clusters of 2
 * with 32 elements a thread, 877 in clusters of 4 with 16, 1250 in clusters of 8 with 8; two CTAs an
 * SM 728 us, 2 stages instead of 3 719 us. In clusters (2+) with 3 stages, the split cluster barrier
 * (norm_bwd_own_sb: the reduction of row i completes while row i - 1 is written): bf16 8192 x 32768
 * rms_norm 654 -> 582 us, layer_norm 705 -> 575; f32 8192 x 32768 1272 -> 1124, 1287 -> 1131; bf16
 * 4096 x 131072 1331 -> 1191, 1452 -> 1202 (same-run interleaved sweeps).
 * The forwards without a residual (fwd == 1), rows longer than one CTA takes (16-bit past 32768
 * columns, where 16-bit softmax / log_softmax keep the packed clusters, which measured faster; f32
 * past 32768): the smallest cluster with at most 8 vectors a thread and 3 stages, the split barrier.
 * Measured on the H100 against the layouts they replace (4096 x 131072, same-run sweeps): f32
 * softmax 2107 -> 1656 us, log_softmax 2103 -> 1632, rms_norm 1649 -> 1493, layer_norm 2056 -> 1709;
 * bf16 rms_norm 776 -> 770 (a tie), layer_norm 1310 -> 1023; bf16 softmax 806 -> 853 and log_softmax
 * 774 -> 840 (slower: they keep the packed clusters).
 * layer_norm has two forms. Two phases (lv=2, 16-bit): the mean of row i, then the variance of row i
 * - 1 from its mean, posted together, so one more row is held in the stages (4 at least: 16-bit
 * rows of 131072 take clusters of 8 with 6 stages). One phase (lv=1, f32, whose 64 KiB stages of
 * 131072 columns fit 3 only): (count, mean, squared deviations) per thread, then combined per warp
 * and over the cluster in one fixed order (Chan's update): f32 2056 -> 1709 us; bf16 1371 us, slower
 * than two phases (1023) and than the old layout.
 * BARACUDA_ROWS_OWN (a measurement knob for bench/sweep_rows.py): "0" turns the layouts off;
 * "cl=N,nv=N,st=N,mb=2" force the cluster (1..16; 16 where clmax allows), the most vectors a thread,
 * the most stages and two CTAs an SM; "sb=0" the backward without the split barrier; "fw=0" the
 * forwards off; "lv=1" / "lv=2" the layer_norm forward's form; "ps=0" / "ps=1" the split barrier's
 * pre-sum; "pv=0|1|2" how the split barrier's posted pairs are read (K::PV); "fr=1" its arrive's release restricted
 * to the posts (K::FR); "fit16=0" plays a GPU that cannot hold clusters of 16 (own_clusters); "sf=1" the
 * 16-bit log_softmax forward owned too. */
static bool pick_own(int64_t cols, int vec, size_t esize, int major, int minor, int fwd, int op,
                     int clmax, rows_geo *g) {
    if ((esize != 2 && esize != 4) || (size_t)vec * esize != 16 || major < 9) return false;
    /* The 16-bit log_softmax forward keeps the packed clusters past 32768 columns (measured faster);
     * the 16-bit softmax forward, whose packed kernel takes exp twice an element, takes owned columns
     * with the restricted release (bench/sweep_rows.py, smx12 runs 3 and 5, bf16 4096 x 131072,
     * clusters of 4, us): softmax packed 800.6 -> owned 786.2 (pv=1, fr=1) in run 3; 800.6 -> 783.1
     * (pv=0, fr=1; 89.6 -> 91.6% of copy), 796.4 (pv=1, fr=1), 853.6 (pv=1, fr=0) in run 5;
     * log_softmax 772.7 -> 786.3 and 775.2 -> 784.4. */
    const char *knob = getenv("BARACUDA_ROWS_OWN");
    if (fwd && esize == 2 && op == OP_LOG_SOFTMAX && !(knob && strstr(knob, "sf=1"))) return false;
    /* 16-bit layer_norm forwards hold weight and bias as loaded: with 8 vectors a thread they spill.
     * 16-bit rms_norm forwards take 4 vectors a thread too (clusters of 8 at 131072, with the split
     * barrier's pair loads and restricted release): measured on the H100 at bf16 4096 x 131072
     * (bench/sweep_rows.py --group fwd131k, smx12 run 3, interleaved) 770.3 us in clusters of 4 with
     * 8 vectors a thread (92.7% of copy) -> 743.3 (96.1%). */
    const bool fwd4 = fwd && esize == 2 && (op == OP_LAYER || op == OP_RMS);
    int fcl = 0, nvmax = fwd && !fwd4 ? 8 : 4, smax = fwd ? 6 : 4, mb = 1, sb = 1, fw = 1;
    int tpr = 0, s1 = 0; /* the backward's threads a CTA (0: as below); the split barrier for one CTA */
    int ps = -1;         /* the split cluster barrier's per-CTA pre-sum (presum); -1: as below */
    int pv = -1;         /* the split cluster barrier's loads of the posted pairs (rows.cuh, K::PV); -1: as below */
    int fr = -1;         /* the split cluster barrier's restricted release (rows.cuh, split_bar, K::FR); -1: as below */
    int lv = esize == 2 ? 2 : 1; /* layer_norm forward: 16-bit two phases, f32 one (measured, above) */
    if (knob && (strcmp(knob, "0") == 0 || strstr(knob, "ow=0"))) return false;
    if (knob) {
        const char *p;
        if ((p = strstr(knob, "cl="))) fcl = atoi(p + 3);
        if ((p = strstr(knob, "nv="))) nvmax = atoi(p + 3);
        if ((p = strstr(knob, "st="))) smax = atoi(p + 3);
        if ((p = strstr(knob, "mb="))) mb = atoi(p + 3) >= 2 && atoi(p + 3) <= 8 ? atoi(p + 3) : 1;
        if ((p = strstr(knob, "tpr=")) && !fwd) tpr = atoi(p + 4) == 128 || atoi(p + 4) == 256 ? atoi(p + 4) : 512;
        if ((p = strstr(knob, "s1="))) s1 = atoi(p + 3) != 0;
        if ((p = strstr(knob, "sb="))) sb = atoi(p + 3) != 0;
        if ((p = strstr(knob, "fw="))) fw = atoi(p + 3) != 0;
        if ((p = strstr(knob, "lv="))) lv = atoi(p + 3) == 2 ? 2 : 1;
        if ((p = strstr(knob, "ps="))) ps = atoi(p + 3) != 0;
        if ((p = strstr(knob, "pv="))) pv = atoi(p + 3) >= 2 ? 2 : atoi(p + 3) == 1;
        if ((p = strstr(knob, "fr="))) fr = atoi(p + 3) != 0;
    }
    if (fwd && !fw) return false;
    const int na = fwd ? 1 : 2, phases = fwd && op == OP_LAYER ? lv : 1;
    int64_t nvec = cols / vec;
    /* The backward of rows that 512 threads would hold with fewer than 16 elements a thread (rows of
     * 4096; the one-CTA layouts, one = true): 16-bit rows whose 256 threads hold exactly 16 elements
     * (2056-4096 bf16 columns) take one CTA of 256 threads a row, two CTAs an SM, 4 stages; f32 rows
     * whose 512 threads hold exactly 2 vectors (2052-4096 columns), one CTA of 512 threads an SM, 4
     * stages. The block barrier in both. Measured on the H100 at 32768 x 4096 (bench/sweep_rows.py
     * --group rows4k / rows4k2, two runs, docs/rows.md), against the row kernel with the same colsum
     * (run 2): bf16 rms_norm 317.2 -> 293.9 us, layer_norm 333.0 -> 290.8; f32 576.9 -> 557.8, 639.0 ->
     * 557.8. f32 in 256-thread CTAs two an SM: 562.7 / 563.4; bf16 in 512-thread CTAs: 301.5 / 314.2;
     * three or four CTAs an SM, 128-thread CTAs, 6 stages: slower or the same. The split barrier as
     * a pair of mbarriers (s1) measured slower (bf16 303.5 / 306.6 us, f32 581.7 / 584.2): with two
     * CTAs an SM one CTA computes while the other waits at its barrier. */
    bool one = false;
    if (!tpr) {
        tpr = 512;
        if (!fwd && !fcl && esize == 2 && brc__cdiv(nvec, 512) * vec < 16 && brc__cdiv(nvec, 256) * vec == 16) {
            tpr = 256, one = true;
            if (mb == 1) mb = 2;
        }
        if (!fwd && !fcl && esize == 4 && brc__cdiv(nvec, 512) == 2) one = true;
    }
    /* Rows that one CTA takes (16-bit up to 32768 columns: packed, f32: 1024 threads) keep those layouts. */
    /* ... except the softmax / log_softmax forwards of f32 rows of 16388-32768 columns (4097+ vectors; one
     * 1024-thread CTA a row, one an SM at 64-68 registers, otherwise): clusters of 2 with the restricted
     * release. (Session 15 took f32 rows from 8192 columns too, and 16-bit rows of 16384 from 2048 rows;
     * since session 16 pick_geo gives f32 rows of 8192-16384 one CTA two an SM -- the knob rk=0 brings
     * them back here -- and 16-bit rows of 8193-16384 the packed kernel.) Measured on the H100
     * (bench/sweep_rows.py --fwd, us, the row kernel ->
     * clusters of 2 / of 4): smx12 run 14, f32 8192 x 32768: softmax 783.4 -> 762.7 (91.4 -> 93.9% of
     * copy), log_softmax 773.8 -> 762.4; layer_norm 743.8 -> 759.5 and rms_norm 719.6 -> 754.2 (slower:
     * the norms keep the row kernel). Session 15 (group f32few and the sweep of 8192 / 16384, one run
     * each, interleaved with PyTorch): f32 softmax x 32768 at 1 / 8 / 64 / 128 / 256 / 1024 rows 12.7 /
     * 13.2 / 14.2 / 16.4 / 39.7 / 114.4 -> 7.7 / 8.1 / 9.4 / 13.8 / 28.3 / 107.0 (PyTorch 10.9 / 10.9 /
     * 10.9 / 13.2 / 36.1 / 164.7); f32 softmax 4096 x 16384 288.8 -> 197.7 / 301.3, 256 x 16384 21.9
     * -> 15.7 / 20.9, 8192 x 8192 317.4 -> 224.3 / 415.9, 1024 x 8192 46.1 -> 38.6, 256 x 8192 11.2 ->
     * 11.2 (log_softmax alike); bf16 softmax / log_softmax 4096 x 16384 154.0 / 181.2 -> 120.9 / 113.4
     * (packed since: 103.6 / 100.7). */
    const bool rk0 = knob && strstr(knob, "rk=0"); /* f32 rows of 2048-4096 vectors too (pick_geo) */
    const bool smxf = fwd && (op == OP_SOFTMAX || op == OP_LOG_SOFTMAX) && !fcl && esize == 4 &&
                      nvec >= (rk0 ? 2048 : 4097) && nvec <= 1024 * 8;
    if (fwd && nvec <= (esize == 4 ? 1024 : 512) * 8 && !fcl && !smxf) return false;
    if (smxf) fcl = 2; /* as the knob's cl=2 (one CTA would hold these rows: the loop below would refuse it) */
    /* Clusters of 16 (sm_90, the non-portable size; clmax says whether the GPU may hold them): the
     * f32 backward, whose rows of 131072 need them for 4 vectors a thread (3 stages of 64 KiB; the
     * cluster of 8 would hold 8), and where the knob asks for them (cl=16). Measured on the H100 at
     * f32 4096 x 131072 (bench/sweep_rows.py --group c16bwd, rows11 runs 1 and 2, interleaved, against
     * the row kernel's 2 passes, +colred for layer_norm): rms_norm 3545 -> 2488 us and 3528 -> 2488
     * (61 -> 87% of copy); layer_norm 4204 -> 4029 and 4201 -> 4034 with the split barrier, 3259 /
     * 3265 with the block barrier (sb=0), 3159 (68%) with the split barrier's pre-sum (presum, below).
     * Clusters of 16 lost everywhere else they were tried (the same runs): bf16 131072 backward
     * (rms_norm 1147 -> 2136 us, layer_norm 1224 -> 3065; 1767 / 2315 with the pre-sum) and every
     * forward at 131072 (twice the time of clusters of 8: f32 softmax 1682 -> 3419 us, bf16
     * layer_norm 1025 -> 3035; with the pre-sum 2705 / 2130). An H100 holds 7 clusters of 16 (112 of
     * its 132 SMs; cuOccupancyMaxActiveClusters). */
    const int cltop = fcl > 8 || (!fwd && esize == 4) ? clmax : 8;
    for (int cl = 1; cl <= cltop; cl *= 2) {
        if (fcl && cl != fcl) continue;
        int64_t nv = brc__cdiv(nvec, (int64_t)cl * tpr);
        if (nv > nvmax) continue;
        if (nv * vec < 16 && !fcl && !one) return false;
        int stage = na * tpr * (int)nv * 16, limit = brc__smem_per_cta(major, minor) / mb - 2048;
        int st = limit / stage < smax ? limit / stage : smax;
        if (st < (fwd ? phases + 2 : 2)) continue;
        /* The split barrier: a cluster barrier (2+ CTAs; the forwards need it), or for one CTA of the
         * backward a pair of mbarriers (s1). */
        int barrier = fwd ? (cl > 1 ? phases : 0) : (cl > 1 || s1) && sb && st >= 3;
        if (fwd && !barrier) return false;
        /* The split barrier's per-CTA pre-sum (rows.cuh, presum): off. It paid (rows11 run 2) only
         * where every warp read both halves of NW x CL posted pairs by loads of their own: the f32
         * layer_norm backward in clusters of 16 (4034 -> 3159 us at 4096 x 131072) and the 16-bit
         * layer_norm forward in clusters of 8 (bf16 1022 -> 939 us); with a pair a load (pv, below)
         * it lost there too (ln131k run 1: f32 layer_norm backward 2541.6 -> 2892.3 us, with fr=1
         * 2214.5 -> 2435.9; bf16 layer_norm forward with fr=1 755.8 -> 787.0). Slower elsewhere: f32 rms_norm backward in clusters of 16 2488 ->
         * 2814; bf16 backward at 131072 (clusters of 8) 1148 -> 1332 and 1227 -> 1334, at 8192 x 32768
         * (2) 580 -> 598 and 575 -> 634; f32 at 8192 x 32768 (4) 1105 -> 1278 and 1101 -> 1292; the
         * other forwards at 131072 (f32 softmax 1665 -> 1682, rms_norm 1492 -> 1645, layer_norm 1698 ->
         * 2050; bf16 rms_norm 773 -> 823). The knob's ps=0 / ps=1 override the rule. */
        if (ps < 0) ps = 0;
        /* A posted pair by one load (pv, rows.cuh K::PV; 2: two f32 pairs a 16-byte load, the f32
         * backward without the pre-sum only) and the arrive's release restricted to the posts (fr,
         * split_bar: MEMBAR.ALL.CTA, not the MEMBAR.ALL.GPU of `barrier.cluster.arrive.release`, which
         * waits for the dx / y stores and the statistics loads in flight). Measured on the H100
         * (bench/sweep_rows.py --group ln131k / ln131kf, ln131k run 1, same-run interleaved sweeps,
         * us, copy 2994 GB/s; docs/rows.md): at 4096 x 131072 the f32 backward in clusters of 16,
         * layer_norm 3168.9 (pre-sum) -> 2541.6 with pv=1 and no pre-sum -> 2214.5 with fr=1 too,
         * rms_norm 2488.9 -> 2201.0; the bf16 layer_norm backward in clusters of 8 1220.1 -> 1095.2;
         * the forwards in clusters of 8: bf16 layer_norm 936.7 (pre-sum) -> 755.8 (pv=1, fr=1, no
         * pre-sum), f32 layer_norm (one phase) 1715.1 -> 1522.4 with fr=1 (1596.0 with pv=1 too),
         * f32 softmax 1652.5 -> 1541.6 with fr=1. Not taken where it did not pay: the bf16 rms_norm
         * backward at 131072 (1133.4 -> 1139.5 with fr=1), every backward at 8192 x 32768 (clusters
         * of 2 and 4; f32 rms_norm 1103.2 -> 1128.1, layer_norm 1098.1 -> 1133.9 with fr=1), the
         * rms_norm forwards (a tie: f32 1485.8 / 1496.3, bf16 770.8 / 763.4). The f32 log_softmax
         * forward (the softmax kernel) with fr=1, measured after: 1635.2 -> 1550.7 us (same-call sweep).
         * smx12 run 3 (--group fwd131k, 4096 x 131072): the f32 softmax / log_softmax forwards with
         * pv=1 too 1522.2 -> 1525.8 / 1509.8 and 1542.3 -> 1506.6 / 1511.8 us (two settings that
         * plan the same; f32 layer_norm 1528.0 -> 1592.6 with pv=1 keeps pv=0); the bf16 rms_norm
         * forward in clusters of 8 with both (nvmax above). Clusters of 16 for the forwards lost
         * again with both (f32 softmax 1522 -> 2287 us, layer_norm 1528 -> 3260, bf16 rms_norm 770 ->
         * 1006). */
        const bool smx = op == OP_SOFTMAX || op == OP_LOG_SOFTMAX;
        const bool c8fwd = fwd && cl == 8 && (op == OP_LAYER || (smx && esize == 4) || (op == OP_RMS && esize == 2));
        const bool bwdpair = !fwd && ((esize == 4 && cl == 16) || (esize == 2 && op == OP_LAYER && cl == 8));
        if (pv < 0) pv = bwdpair || (c8fwd && (esize == 2 || smx));
        if (fr < 0) fr = bwdpair || c8fwd || (fwd && smx);
        if (pv == 2 && (fwd || esize != 4 || ps)) pv = 1;
        *g = (rows_geo){vec, tpr, 1, cl, (int)nv, 1, 0, st * stage, mb, 0, 0, st, barrier, ps && barrier && cl > 1,
                        barrier && cl > 1 ? pv : 0, barrier && cl > 1 ? fr : 0, 0, 0};
        return true;
    }
    return false;
}

/* Whether the softmax backward takes owned columns (pick_geo says where and why). The 16-bit softmax
 * backward of up to 32768 columns (one packed CTA a row otherwise) only from 2048 rows: a cluster then
 * walks 16+ rows, which its pipeline needs. Measured on the H100 (bench/sweep_rows.py --smx, smx12 run
 * 10, bf16 x 32768, us owned / packed): 128 rows 10.5 / 8.7, 256 23.0 / 20.6, 512 40.7 / 39.9, 1024
 * 76.5 / 76.0, 2048 145.5 / 148.7 (8192: 559.5 / 604.7, run 2). Past 32768 columns owned columns won
 * from 64 rows (f32 softmax 41.1 / 48.8 us, bf16 128 x 131072 42.1 / 46.7) but the bf16 softmax at
 * 64 x 131072 (25.7 / 24.7). */
static bool smx_own(int op, int64_t nvec, int vec, size_t esize, int64_t rows) {
    const char *knob = getenv("BARACUDA_ROWS_OWN"), *p = knob ? strstr(knob, "sx=") : NULL;
    if (p) return atoi(p + 3) != 0;
    int64_t cols = nvec * vec;
    /* Session 15 (bench/sweep_rows.py --smx, one run, "sx=1" against the layouts before, us): rows of
     * 8193-16384 columns take owned columns too -- bf16 16384: softmax 64 / 256 / 1024 / 4096 rows 7.9 /
     * 14.6 / 49.9 / 173.3 -> 7.5 / 8.1 / 38.4 / 143.7, log_softmax 8.4 / 16.2 / 54.1 / 183.0 -> 7.9 / 8.0 /
     * 37.3 / 143.5 (PyTorch 12.6 / 13.2 / 37.9 / 138.3); f32 16384 softmax 25.0 / 78.5 / 291.2 -> 23.1 /
     * 77.1 / 284.8 at 256 / 1024 / 4096 rows (log_softmax alike; 64 rows 7.6 -> 7.8); and the bf16
     * log_softmax of 8192 (1024 / 4096 / 8192 rows 23.5 / 79.5 / 154.6 -> 19.3 / 72.6 / 142.3, 256 a tie).
     * Not at 8192 elsewhere: bf16 softmax 70.0 -> 72.5, f32 136.2 -> 142.7 (4096 rows). */
    const bool mid = cols > 8192 && cols <= 16384;
    if (esize == 2)
        return op == OP_SOFTMAX ? cols > 32768 || (cols > 16384 && rows >= 2048) || mid
                                : cols > 32768 || (cols >= 8192 && cols <= 16384);
    return esize == 4 && (cols > 32768 || mid);
}

static rows_geo pick_geo(int kid, int op, int64_t rows, int64_t cols, int vec, size_t esize, size_t csize, bool cluster_ok,
                         int ownmax, int na, int acc, int major, int minor) {
    int target = kid == K_NORM_BWD ? (int)(32 / esize) : kid == K_SOFTMAX_BWD ? 16 : (int)(64 / esize);
    int budget = kid == K_NORM_BWD ? 16 : 32;
    if (csize == 8) budget /= 2;
    if (target > budget) target = budget;
    int64_t nvec = cols / vec;
    int64_t nvt = target / vec > 1 ? target / vec : 1;
    int64_t need = brc__cdiv(nvec, nvt); /* threads for the row at the target */
    /* One CTA a row up to 1024 threads for the forwards that read one array (their registers fit
     * the 64 a thread that allows; with a residual they spill); the others keep 512 on sm_90,
     * where clusters serve longer rows. Measured on an H100 at 8192 x 32768 bf16 (1024 threads
     * against the staged 512-thread clusters of 2): rms_norm forward 68 -> 85% of copy,
     * layer_norm 60 -> 74%. */
    bool fwd = (kid == K_SOFTMAX_FWD || kid == K_NORM_FWD) && na == 1;
    int maxcta = cluster_ok && !fwd ? 512 : 1024;
    const char *knob = getenv("BARACUDA_ROWS_OWN");
    rows_geo g = {vec, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    /* The forwards without a residual, rows longer than one CTA takes: owned columns in clusters with
     * the split cluster barrier (rows.cuh, fwd_own; pick_own says where and what was measured). */
    if (fwd && cluster_ok && pick_own(cols, vec, esize, major, minor, 1, op, ownmax, &g)) return g;
    /* The f32 softmax / log_softmax forward of 8192-16384 columns (2048-4096 16-byte vectors): one CTA
     * a row of 256 threads (up to 2560 vectors: 9-10 a thread) or 512 (up to 8 a thread), two CTAs an
     * SM (__launch_bounds__: up to 128 / 64 registers a thread, no spill). Before (session 15), owned
     * columns in clusters of 2 (pick_own), and before that the 512- or 1024-thread row kernel at one
     * CTA an SM. Measured on the H100 (bench/sweep_rows.py --fwd, session 16, one run, interleaved
     * with PyTorch, us, clusters of 2 -> now (PyTorch); softmax / log_softmax): 3000 x 12000 129.9 /
     * 120.0 -> 103.6 / 103.2 (115.7 / 111.2), 256 x 16384 15.7 / 14.2 -> 13.0 / 12.8 (15.0 / 13.6), 256 x
     * 12000 14.5 / 13.3 -> 11.0 / 10.7 (14.4 / 14.1), 1024 x 16384 57.4 / 54.8 -> 52.1 / 52.1, 4096 x
     * 16384 198.6 / 195.4 -> 187.1 / 186.6, 512 x 10000 27.2 / 24.4 -> 19.8 / 17.0 (20.1 / 18.7), 2048 x
     * 9000 90.3 / 80.0 -> 54.8 / 54.8 (83.2 / 76.8), 8192 x 8192 225.3 / 202.4 -> 182.6 / 182.7 (291.4
     * / 265.7). (256 threads at 12000-16384 columns: 1-12% slower than 512; 512 at 9000-10000: up to
     * 17% slower than 256; 256 threads four an SM spilled at 16384.) Knob "rk=0" keeps this off (the
     * clusters of 2 again). sm_90 only: compiled for sm_80 the kernel spills 32-64 bytes a thread at
     * the 64 registers of two 512-thread CTAs (baracuda ls), and it was not measured there. */
    if (kid == K_SOFTMAX_FWD && cluster_ok && esize == 4 && vec == 4 && nvec >= 2048 && nvec <= 4096 &&
        !(knob && strstr(knob, "rk=0"))) {
        g.tpr = nvec <= 2560 ? 256 : 512;
        g.nv = (int)brc__cdiv(nvec, g.tpr);
        g.per_sm = 2;
        return g;
    }
    /* f32 forwards of up to 1024 x 8 vectors (32768 columns): one 1024-thread CTA a row, up to 32
     * elements a thread, past the 16 of the target. Measured on the H100 at 8192 x 32768 against
     * the clusters of 8 below: layer_norm 47 -> 96% of copy, rms_norm 77 -> 100%, softmax and
     * log_softmax 74 -> 91%. */
    if (fwd && esize == 4 && need > 1024 && nvec <= 1024 * 8) {
        g.tpr = 1024;
        g.nv = (int)brc__cdiv(nvec, 1024);
        return g;
    }
    /* The softmax forward of 16-bit rows that need more than 512 threads at the target (past
     * 16384 bf16 columns): 512 threads holding up to 64 elements packed (rows.cuh,
     * softmax_fwd_packed), two CTAs an SM; one CTA a row up to 32768 columns, a cluster of up to 8
     * beyond (measured at 4096 x 131072 bf16 against the L2 re-reading clusters of 8: 958 -> 925
     * us). */
    /* Measured again (session 16) for 16-bit rows of 8193-16384 columns (257-512 threads at the
     * target), against the 512-thread row kernel (87 registers a thread, one CTA an SM) and the owned
     * columns in clusters of 2 that rows of 16384 took from 2048 rows (bench/sweep_rows.py --fwd, one
     * run, interleaved, us, before -> packed (PyTorch)): softmax / log_softmax 3000 x 12000 102.7 /
     * 102.6 -> 72.0 / 64.8 (84.8 / 71.4), 1024 x 16384 44.2 / 47.9 -> 31.8 / 30.6 (40.8 / 33.8), 4096 x
     * 16384 (owned before) 120.7 / 115.7 -> 103.6 / 100.7 (132.2 / 115.2), 2048 x 10000 71.0 / 70.9 ->
     * 48.5 / 45.4, 8192 x 8200 253.8 / 252.6 -> 171.8 / 161.3, 256 x 16384 10.7 / 10.6 -> 9.7 / 9.1;
     * 64 x 16384 a tie. So packed from 257 threads. Knob "pk=0": from 513 (before); "pk=2": from 129. */
    const char *pk = knob ? strstr(knob, "pk=") : NULL;
    const int64_t pkfrom = pk ? (atoi(pk + 3) == 0 ? 512 : atoi(pk + 3) == 2 ? 128 : 256) : 256;
    if (kid == K_SOFTMAX_FWD && cluster_ok && need > pkfrom && pick_packed(nvec, vec, esize, cluster_ok, 8, &g))
        return g;
    /* The softmax / log_softmax backward in the owned-column layout of the norm backward (rows.cuh,
     * own_bwd with SMX; pick_own chooses the cluster, the stages and the split barrier's form as for
     * the norm backward): where the layouts below stay under the copy speed -- the 16-bit softmax
     * backward past 16384 columns (packed, y read twice; up to 32768 columns from 2048 rows, smx_own),
     * the 16-bit log_softmax backward past 32768
     * (packed in clusters) and the f32 backwards past 32768 (clusters of 8 holding the row in
     * registers, one CTA an SM). Measured on the H100 (bench/sweep_rows.py --group smxbwd, one run,
     * interleaved, us; docs/rows.md): bf16 8192 x 32768 softmax 604.7 -> 559.5 (89.1 -> 96.3% of
     * copy); bf16 4096 x 131072 softmax 1168.9 -> 1073.1 (92.1 -> 100.4%), log_softmax 1136.3 ->
     * 1071.0 (94.8 -> 100.6%); f32 4096 x 131072 softmax 2330.7 -> 2197.4 (92.4 -> 98.0%),
     * log_softmax 2323.4 -> 2174.4 (92.7 -> 99.1%). Not taken where it lost: the bf16 log_softmax
     * backward at 32768 (one packed CTA a row: 531.8 against 558.4), f32 at 32768 (the L2 re-reading
     * clusters of 8: softmax 1076.1 against 1095.4, log_softmax 1052.0 against 1101.7); the split
     * barrier's pair loads and restricted release where pick_own does not take them (bf16 131072:
     * 1107.1 against 1074.0). BARACUDA_ROWS_OWN's "sx=0" / "sx=1" turn the layout off / on for every
     * softmax backward pick_own fits. */
    /* The f32 log_softmax backward of 8193-16384 columns (2049-4096 16-byte vectors): one CTA of 512
     * threads a row, two an SM (64 registers a thread, no spill), dy held in registers (up to 8 vectors
     * a thread), y read once, in the output pass (rows.cuh, softmax_bwd_regs, K::LY; SKU late_y).
     * Before: owned columns in clusters of 2 (smx_own) or, where pick_own refuses the row (12000), the
     * L2 re-reading clusters of 8. Measured on the H100 (bench/sweep_rows.py --smx, session 16, one run,
     * interleaved with PyTorch, us, before -> now (PyTorch)): 3000 x 12000 179.3 ->
     * 145.1 (150.0), 1024 x 10000 62.1 -> 44.3 (46.2), 4096 x 16384 284.5 -> 269.6 (320.1), 256 x 16384
     * 22.7 -> 20.9 (19.4); 4096 x 8192 (the row kernel, not owned) 134.9 / 135.0, and 32768 x 4096 529.8
     * / 529.3, ties, so not there. 16-bit rows lost (their dy as f32 spills at 64 registers: bf16 3000 x
     * 12000 82.8 -> 81.6 but 4096 x 16384 144.0 -> 162.0, 1024 x 10000 25.4 -> 27.3). Knob "ly=0" turns it
     * off; "ly=1" / "ly=2" take it for every log_softmax backward whose dy 512 threads hold in up to 8
     * vectors a thread, past 256 / 128 threads at the target. sm_90 only (measured there). */
    const char *lyk = knob ? strstr(knob, "ly=") : NULL;
    const int lyn = lyk ? atoi(lyk + 3) : -1;
    if (kid == K_SOFTMAX_BWD && op == OP_LOG_SOFTMAX && cluster_ok && csize == 4 && nvec <= 512 * 8 &&
        (lyn < 0 ? esize == 4 && vec == 4 && nvec > 2048 : lyn > 0 && need > (lyn == 2 ? 128 : 256))) {
        g.tpr = 512;
        g.nv = (int)brc__cdiv(nvec, 512);
        g.per_sm = 2;
        g.ly = 1;
        return g;
    }
    if (kid == K_SOFTMAX_BWD && cluster_ok && smx_own(op, nvec, vec, esize, rows) &&
        pick_own(cols, vec, esize, major, minor, 0, op, ownmax, &g))
        return g;
    /* The softmax / log_softmax backward of 16-bit rows past 16384 columns (more than 512 threads
     * at 32 elements a thread): packed dy; y read once, in the output pass, for log_softmax, in
     * both passes for softmax (the second read from L2) (rows.cuh, softmax_bwd_packed). Measured on
     * the H100 against the staged clusters of 4 / the L2 re-reading clusters of 8: log_softmax
     * bf16 8192 x 32768 67 -> 100% of copy (0.88 -> 1.31x PyTorch), 4096 x 131072 73 -> 95%
     * (0.98 -> 1.27x); softmax 737 -> 601 us and 1390 -> 1168 us. */
    /* (Session 16: packed for 16-bit rows of 8193-16384 columns too, against the owned columns they take
     * (smx_own), us, owned -> packed: bf16 log_softmax 3000 x 12000 82.7 -> 80.2, 4096 x 16384 146.2 ->
     * 140.6, but 1024 x 10000 25.0 -> 26.9 and softmax 256 x 16384 7.8 -> 8.3: not taken.) */
    if (kid == K_SOFTMAX_BWD && cluster_ok && nvec > 512 * 4 && pick_packed(nvec, vec, esize, cluster_ok, 8, &g))
        return g;
    /* The rms_norm forward without a residual, 16-bit rows longer than the 1024-thread CTA takes
     * (layer_norm's packed kernel spills 224-384 bytes a thread at the 64 registers of two CTAs
     * an SM, with any weight / bias, so it keeps the layouts below). */
    /* Measured on the H100: bf16 4096 x 131072 59 -> 90% of copy (0.94 -> 1.42x PyTorch). */
    if (kid == K_NORM_FWD && op == OP_RMS && na == 1 && cluster_ok && need > 1024 &&
        pick_packed(nvec, vec, esize, cluster_ok, 8, &g))
        return g;
    /* The layer_norm forward without a residual, 16-bit rows that need 513-1024 threads at the
     * target (16385-32768 bf16 columns): packed, one 512-thread CTA a row (its kernel spills 32-376
     * bytes a thread in clusters, so longer rows keep the layouts below). Measured on the H100 at
     * bf16 8192 x 32768 against the 1024-thread CTA: 485 -> 369 us, 74 -> 97% of copy (1.6x
     * PyTorch). */
    if (kid == K_NORM_FWD && op == OP_LAYER && na == 1 && cluster_ok && need > 512 && nvec <= 512 * 8 &&
        pick_packed(nvec, vec, esize, cluster_ok, 8, &g))
        return g;
    if (kid == K_NORM_BWD && cluster_ok && pick_own(cols, vec, esize, major, minor, 0, op, ownmax, &g)) return g;
    if (need <= maxcta) { /* one CTA (or part of a warp) per row */
        g.tpr = pow2ceil(need);
        /* Measurement knob "ft=N": the softmax forward's row kernel in CTAs of N threads (32..1024). */
        const char *ft = knob ? strstr(knob, "ft=") : NULL;
        if (ft && kid == K_SOFTMAX_FWD && atoi(ft + 3) >= 32 && atoi(ft + 3) <= 1024) g.tpr = pow2ceil(atoi(ft + 3));
        g.nv = (int)brc__cdiv(nvec, g.tpr);
        g.rpb = g.tpr < 128 ? 128 / g.tpr : 1;
        /* The norm backward with weight or bias gradients (acc > 0) of rows that 128 threads take (256
         * for f32): a persistent grid of 256-thread CTAs (512 for f32 rows of 256 threads), two an SM,
         * each CTA's row slots summed into one partial row before it leaves (rows.cuh, slot_partials).
         * Before, every row slot of a wave of 128-thread CTAs (up to 16 an SM) left a partial row: up
         * to 4224 rows of f32 partials for colsum to read back, which outweighed x, dy and dx for rows
         * of 512-2048 columns. Measured on the H100 (bench/sweep_rows.py, one run, interleaved with
         * PyTorch, us, before -> now (PyTorch)): bf16 layer_norm 4096 x 1024 97.6 -> 16.6 (127.4),
         * 32768 x 1024 160.7 -> 85.6, 16384 x 512 163.5 -> 36.3 (119.5), 8192 x 2048 98.6 -> 50.5;
         * bf16 rms_norm 16384 x 512 108.3 -> 27.8 (102.7), 4096 x 1024 56.1 -> 14.4; f32 layer_norm
         * 4096 x 1024 53.4 -> 27.8, 32768 x 1024 183.3 -> 151.9, 8192 x 2048 (512-thread CTAs) 96.2 ->
         * 81.7; 64 x 1024 and 1000 x 1000 13.7-20.5 -> 12.7-14.2. One CTA of 512 an SM, four of 128 or
         * of 256 with one vector a thread were within 10% of this or slower. The knob "pr=N,prt=T"
         * (T threads a CTA, N an SM; "pe=1": one vector a thread) overrides it, "pr=0" turns it off. */
        const char *pr = knob ? strstr(knob, "pr=") : NULL, *prt = knob ? strstr(knob, "prt=") : NULL;
        int prn = pr ? atoi(pr + 3) : 2, threads = prt ? atoi(prt + 4) : g.tpr <= 128 ? 256 : 512;
        if (threads != 128 && threads != 256) threads = 512;
        if (!pr && g.tpr > 128 && esize != 4) prn = 0; /* 16-bit rows of 256 threads: not measured */
        const char *pe = knob ? strstr(knob, "pe=1") : NULL; /* one vector a thread */
        if (kid == K_NORM_BWD && acc > 0 && prn > 0 && prn * threads <= 2048 && g.iter == 1) {
            if (pe && nvec <= threads / 2) {
                g.tpr = pow2ceil(nvec);
                g.nv = (int)brc__cdiv(nvec, g.tpr);
            }
            if (g.tpr <= threads / 2) {
                g.rpb = threads / g.tpr;
                g.pr = 1;
                g.per_sm = prn;
            }
        }
        return g;
    }
    if (pick_staged(cols, vec, esize, na, acc, major, minor, cluster_ok, &g)) return g;
    /* Rows longer than one CTA takes, on sm_90: small CTAs (256 threads) in clusters of 8, each
     * reading its slice of the row again for the later passes, from L2, rather than holding it in
     * registers — when the slices of the arrays the kernel reads (x; or y and dy, x and dy) stay
     * within 64 KiB a CTA, so that they are still in L2 when re-read. Measured on an H100 (bench/
     * results/memory_bound.json, docs/rows.md): 1.2-2x the register-resident 512-thread clusters
     * there, which keep too few CTAs per SM; beyond 64 KiB (f32 backward at 131072 columns) the
     * re-reads miss L2 and the register-resident layout below is faster. */
    int arrays = kid == K_SOFTMAX_BWD || kid == K_NORM_BWD ? 2 : 1;
    if (cluster_ok && (int64_t)arrays * brc__cdiv(cols, 8) * (int64_t)esize <= 64 * 1024) {
        g.tpr = 256;
        g.cl = 8;
        g.nv = (int)(brc__cdiv(nvec, 8 * 256) < nvt ? brc__cdiv(nvec, 8 * 256) : nvt);
        g.iter = (int)brc__cdiv(nvec, (int64_t)8 * 256 * g.nv);
        return g;
    }
    if (cluster_ok) {
        g.tpr = 512;
        int cl = pow2ceil(brc__cdiv(need, 512));
        g.cl = cl < 8 ? cl : 8;
    } else {
        g.tpr = 1024;
        budget /= 2;
    }
    int64_t per = (int64_t)g.cl * g.tpr, nv = brc__cdiv(nvec, per);
    if (nv * vec <= budget) {
        g.nv = (int)nv;
        return g;
    }
    g.nv = budget / vec > 1 ? budget / vec : 1;
    g.iter = (int)brc__cdiv(nvec, per * g.nv);
    return g;
}

/* ---- planning ------------------------------------------------------------------------------------------ */

static const char *storage_type(brc_dtype t) {
    switch (t) {
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    default: return "float";
    }
}

/* Whether the norm forward's row kernel loads weight and bias in its output pass (rows.cuh, hold;
 * K::NH; SKU late_weights) instead of holding them in registers from the start: the layer_norm forward
 * without a residual, one row a CTA (not staged), where hold would apply (the row in registers, at most
 * 16 elements a thread). A CTA takes one row there, so holding saves no load and costs 13 registers a
 * thread. Measured on the H100 (bench/sweep_rows.py --fwd, smx12 run 12, 5 interleaved rounds): f32
 * layer_norm 32768 x 4096 379.8 -> 358.4 us (94.4 -> 100.0% of copy; 81 -> 68 registers); the rms_norm
 * forward a tie (356.7 / 359.6) and bf16 (not held there: 32 elements a thread) unchanged, so those
 * keep the rule; f32 8192 x 32768 (not held) 746.5 / 746.8. Adding __launch_bounds__ for 4 CTAs an SM
 * (knob lb=4) spilled and lost (422.9; with nh=1 361.0). BARACUDA_ROWS_OWN "nh=0" / "nh=1" override. */
static int nohold(int kid, int op, int res, const rows_geo *g) {
    const char *knob = getenv("BARACUDA_ROWS_OWN"), *p = knob ? strstr(knob, "nh=") : NULL;
    if (kid != K_NORM_FWD || g->own || g->pk) return 0;
    if (p) return atoi(p + 3) != 0;
    return op == OP_LAYER && !res && !g->stg && g->iter == 1 && g->nv * g->vec <= 16;
}

static brc_status get_kernel(brc_context *ctx, const rows_impl *im, int kid, const char *desc, CUfunction *fn) {
    const rows_geo *g = &im->g;
    bool aux = kid == K_COLSUM || kid == K_COLRED; /* the column passes: 256 threads, no row geometry */
    int threads = aux ? COLSUM_THREADS : g->tpr * g->rpb;
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_rows {\n"
                  "  typedef %s T;\n  typedef %s C;\n"
                  "  enum { COLS = %lld, VEC = %d, TPR = %d, RPB = %d, CL = %d, NV = %d, ITER = %d, STG = %d,\n"
                  "         LOG = %d, LAYER = %d, W = %d, B = %d, RES = %d, PK = %d, SPLIT = %d, OWN = %d, SB = %d,\n"
                  "         PS = %d, PV = %d, FR = %d, CSEQ = %d, NH = %d, PR = %d, LY = %d };\n"
                  "};\n",
                  storage_type(im->dt), im->csize == 8 ? "double" : "float", (long long)im->cols, g->vec, g->tpr,
                  g->rpb, g->cl, g->nv, g->iter, aux ? 0 : g->stg, im->op == OP_LOG_SOFTMAX,
                  im->op == OP_LAYER, im->w, im->b, im->res, aux ? 0 : g->pk, aux ? 0 : g->split, aux ? 0 : g->own,
                  aux ? 0 : g->sb, aux ? 0 : g->ps, aux ? 0 : g->pv, aux ? 0 : g->fr, kid == K_COLSUM && im->colsum_seq,
                  nohold(kid, im->op, im->res, &im->g), aux ? 0 : g->pr, aux ? 0 : g->ly);
    /* Packed rows: two CTAs an SM (owned columns: one, or as many as the knob asks, pick_own). */
    int minb = aux ? 1 : g->pk ? 2 : g->own ? g->per_sm : !g->stg && g->per_sm > 1 ? g->per_sm : 1;
    /* Measurement knob "lb=N": the norm / softmax forward's row kernel asks N CTAs an SM of __launch_bounds__. */
    const char *lbk = getenv("BARACUDA_ROWS_OWN");
    lbk = lbk && (kid == K_NORM_FWD || kid == K_SOFTMAX_FWD) && !g->own && !g->pk ? strstr(lbk, "lb=") : NULL;
    if (lbk && atoi(lbk + 3) > 1 && atoi(lbk + 3) <= 16) minb = atoi(lbk + 3);
    brc__str_addf(&snip, "__global__ void __launch_bounds__(%d", threads);
    if (minb > 1) brc__str_addf(&snip, ", %d", minb);
    brc__str_addf(&snip, ")");
    /* Clusters of up to 8 (the portable size) are the kernel's own; 16 is given at launch (launch(),
     * cuLaunchKernelEx), the function allowing the non-portable size. */
    if (!aux && g->cl > 1 && g->cl <= 8) brc__str_addf(&snip, " __cluster_dims__(%d, 1, 1)", g->cl);
    brc__str_addf(&snip, "\n");
    brc__str_addf(&snip, "brc_rows_kernel(brc::rows_args a) { brc::%s<brc_rows>(a); }\n", kernel_fns[kid]);
    brc__str kd = {0};
    brc__str_addf(&kd, "%s%s", desc, kid == K_COLSUM ? "+colsum" : kid == K_COLRED ? "+colred" : "");
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "rows.cuh", NULL};
        brc__kernel_req req = {
            .template_name = "rows", .sources = sources, .nspec = 16,
            .spec = {kid, im->dt, im->cols, g->vec, g->tpr, g->rpb, g->cl, g->nv, g->iter, im->op, im->w, im->b,
                     im->res, im->csize, aux ? 0 : g->stg,
                     aux ? kid == K_COLSUM && im->colsum_seq
                         : g->pk + 2 * g->split + 4 * g->own + (g->own ? 64 * (g->per_sm - 1) : 0) + 256 * g->sb +
                               4096 * g->ps + 65536 * g->pv + 262144 * g->fr + 1048576 * nohold(kid, im->op, im->res, &im->g) +
                               2097152 * (int64_t)(minb > 1 && !g->pk && !g->own ? minb : 0) +
                               67108864 * (int64_t)g->pr + 134217728 * (int64_t)g->ly},
            .snippet = snip.p, .name_expr = "brc_rows_kernel", .descriptor = kd.p};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
        /* Shared memory beyond 48 KiB, static included, must be asked for: asked for whenever a
         * kernel has dynamic shared memory. (Asked only past 48 KiB of dynamic, a one-CTA owned plan
         * with 3 stages of 16 KiB -- 48 KiB exactly, plus 256 static bytes -- failed to launch with
         * CUDA_ERROR_INVALID_VALUE: reproduced on the H100, docs/rows.md.) */
        if (!st && ctx->device >= 0 && !aux && g->smem > 0) {
            CUresult r = brc__cu()->cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, g->smem);
            if (r != CUDA_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cuFuncSetAttribute(%d bytes of shared memory): %s (%s)",
                                g->smem, brc__cu_errname(r), desc);
        }
        if (!st && ctx->device >= 0 && !aux && g->cl > 8) {
            CUresult r = brc__cu()->cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);
            if (r != CUDA_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cuFuncSetAttribute(non-portable cluster size %d): %s (%s)",
                                g->cl, brc__cu_errname(r), desc);
        }
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* Clusters of the owned-column norm backward that one GPU runs at once: the driver's occupancy
 * answer for the compiled kernel; offline (or if the driver cannot say), the SMs in groups of 8.
 * Clusters of 16 (non-portable): 0 where the driver says none fits or cannot say (the plan then
 * takes clusters of at most 8, plan_common). */
static int64_t own_clusters(const brc_context *ctx, const rows_impl *im) {
    /* The knob's "fit16=0" plays a GPU that cannot hold a cluster of 16 (tests of the fallback). */
    const char *knob = getenv("BARACUDA_ROWS_OWN");
    if (im->g.cl > 8 && knob && strstr(knob, "fit16=0")) return 0;
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
    int64_t n = (sms / 8 * 8) / im->g.cl;
    /* One CTA: per_sm CTAs on every SM (__launch_bounds__ and the stages' size were chosen for that
     * many), without asking the cluster occupancy of a kernel that is no cluster. */
    if (im->g.cl == 1) return (int64_t)sms * (im->g.per_sm > 1 ? im->g.per_sm : 1);
    if (ctx->device >= 0 && im->fn) {
        CUlaunchAttribute at = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION};
        at.value.clusterDim.x = (unsigned)im->g.cl;
        at.value.clusterDim.y = 1;
        at.value.clusterDim.z = 1;
        CUlaunchConfig cfg = {.gridDimX = (unsigned)im->g.cl, .gridDimY = 1, .gridDimZ = 1,
                              .blockDimX = (unsigned)im->g.tpr, .blockDimY = 1, .blockDimZ = 1,
                              .sharedMemBytes = (unsigned)im->g.smem, .attrs = &at, .numAttrs = 1};
        int k = 0;
        CUresult r = brc__cu()->cuOccupancyMaxActiveClusters(&k, im->fn, &cfg);
        if (r == CUDA_SUCCESS && k > 0) n = k;
        else if (im->g.cl > 8) return 0;
    }
    return n > 1 ? n : 1;
}

/* What a request is, after its family-specific checks. */
typedef struct rows_request {
    int kid, op;
    const char *fam;
    const operand *ops;
    int nops;
    int w, b, res;
    double eps;
} rows_request;

/* ownmax: the largest cluster the owned-column layouts may take (16 on sm_90, 8 elsewhere or where
 * a GPU cannot hold a cluster of 16). */
static brc_status plan_rows(brc_context *ctx, const rows_request *rq, const brc_plan_prefs *prefs_in,
                            brc__family family, int ownmax, brc_plan **out) {
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    rows_view v = {0, 0, 0};
    int64_t strides[4] = {0, 0, 0, 0};
    if ((st = check_operands(rq->fam, rq->ops, rq->nops, &v, strides))) return st;
    brc_dtype dt = rq->ops[0].t->dtype;
    size_t esize = brc_dtype_size(dt), csize = dt == BRC_F64 ? 8 : 4;

    /* Vector width: 16 bytes where cols and every row stride allow; a preference may narrow it. */
    int vmax = (int)(16 / esize), vec = default_vec(v.cols, esize);
    bool forced = prefs->vector_width != 0;
    if (forced) {
        int f = prefs->vector_width;
        if (f < 1 || f > vmax || (f & (f - 1)) || v.cols % f)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: vector_width %d must be a power of two <= %d dividing cols = %lld", rq->fam, f,
                              vmax, (long long)v.cols);
        vec = f;
    }
    if (v.rows > 1)
        for (int i = 0; i < rq->nops; i++) {
            if (forced && strides[i] % vec)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "%s: vector_width %d does not divide the row stride %lld of %s", rq->fam, vec,
                                  (long long)strides[i], rq->ops[i].name);
            while (vec > 1 && strides[i] % vec) vec /= 2;
        }

    int cc_major = 0, cc_minor = 0;
    bool accel = false;
    brc__arch_parse(ctx->arch, &cc_major, &cc_minor, &accel);
    bool cluster_ok = cc_major >= 9;
    int na = rq->kid == K_SOFTMAX_FWD ? 1 : rq->kid == K_NORM_FWD ? 1 + rq->res : 2;
    int acc = rq->kid == K_NORM_BWD ? (rq->w + rq->b) * (int)csize : 0;
    rows_geo g = pick_geo(rq->kid, rq->op, v.rows, v.cols, vec, esize, csize, cluster_ok, ownmax, na, acc, cc_major,
                          cc_minor);
    bool bwd = rq->kid == K_SOFTMAX_BWD || rq->kid == K_NORM_BWD;
    bool colsum = rq->kid == K_NORM_BWD && (rq->w || rq->b);
    /* A norm backward whose rows take several passes from global memory reads and writes its
     * partial gradient rows in every pass (for bf16 4096 x 131072, layer_norm: 16 bytes a column a
     * row, against the 6 of x, dy and dx, from DRAM: the partial rows of a wave outgrow L2). For
     * 16-bit rows those gradients are a column reduction of their own instead (colred: x and dy
     * read again, 4 bytes). Measured on the H100 (bf16 4096 x 131072): layer_norm 4719 -> 2533 us
     * (0.60 -> 1.12x PyTorch), rms_norm 2775 -> 2571 us. f32 rows, where the partials cost less
     * against the data, lost at 3 of 4 shapes (rms_norm 8192 x 32768 1543 -> 2090 us, 4096 x
     * 131072 3508 -> 4383; layer_norm 8192 x 32768 1896 -> 2125; layer_norm 4096 x 131072 won,
     * 4966 -> 4179) and keep the partials in the row kernel; so does sm_80 (not measured). Measured
     * again in one run (interleaved, f32 4096 x 131072): layer_norm 5023 -> 4194 us with colred,
     * rms_norm 3534 -> 4422; so f32 layer_norm takes colred, f32 rms_norm not ("cr=1" in the
     * measurement knob BARACUDA_ROWS_OWN forces it for f32 rows). */
    const char *knob = getenv("BARACUDA_ROWS_OWN"), *cr = knob ? strstr(knob, "cr=") : NULL;
    bool split_f32 = cr && atoi(cr + 3) == 1;
    g.split = colsum && cluster_ok && (esize == 2 || (esize == 4 && (split_f32 || rq->op == OP_LAYER))) &&
              g.iter > 1 && !g.stg;

    /* Canonical descriptor (what determines the kernels) and SKU (what was chosen). */
    brc__str desc = {0}, sku = {0};
    const char *on = op_names[rq->op];
    brc__str_addf(&desc, "%s(dtype=%s,cols=%lld", on, brc_dtype_name(dt), (long long)v.cols);
    if (rq->op >= OP_RMS) brc__str_addf(&desc, ",weight=%d", rq->w);
    if (rq->op == OP_LAYER) brc__str_addf(&desc, ",bias=%d", rq->b);
    if (rq->op >= OP_RMS && !bwd) brc__str_addf(&desc, ",residual=%d", rq->res);
    if (forced || vec != default_vec(v.cols, esize)) brc__str_addf(&desc, ",vec=%d", vec);
    /* rows: where the layout depends on the row count (the owned columns that pick_own / smx_own take
     * from 2048 rows), the class it was chosen for: 2048 (meaning "2048 or more"), else the rows. */
    if (v.rows > 1) {
        rows_geo g1 = pick_geo(rq->kid, rq->op, 1, v.cols, vec, esize, csize, cluster_ok, ownmax, na, acc, cc_major,
                               cc_minor);
        rows_geo g0 = g;
        g0.split = 0; /* set below pick_geo, from the geometry */
        if (memcmp(&g1, &g0, sizeof g0) != 0) {
            rows_geo g2 = pick_geo(rq->kid, rq->op, ROWS_CLASS, v.cols, vec, esize, csize, cluster_ok, ownmax, na,
                                   acc, cc_major, cc_minor);
            const bool cls = v.rows >= ROWS_CLASS && memcmp(&g2, &g0, sizeof g0) == 0;
            brc__str_addf(&desc, ",rows=%lld", (long long)(cls ? ROWS_CLASS : v.rows));
        }
    }
    brc__str_addf(&desc, ",dir=%s)", bwd ? "bwd" : "fwd");
    brc__str_addf(&sku, "bespoke:%s<%s,cols=%lld,vec=%d,tpr=%d,rpb=%d,cluster=%d,passes=%d", on, brc_dtype_name(dt),
                  (long long)v.cols, g.vec, g.tpr, g.rpb, g.cl, g.iter);
    if (g.stg) brc__str_addf(&sku, ",smem_stages=%d", g.stg);
    if (g.pk) brc__str_addf(&sku, ",packed");
    if (g.pr) brc__str_addf(&sku, ",slot_partials");
    if (!g.own && !g.stg && (g.pr || g.per_sm > 1)) brc__str_addf(&sku, ",%d_per_sm", g.per_sm);
    if (g.ly) brc__str_addf(&sku, ",late_y");
    if (g.own)
        brc__str_addf(&sku, ",owned,smem_stages=%d%s%s%s%s%s", g.own, g.sb ? ",split_barrier" : "",
                      g.sb == 2 ? ",mean_then_var" : "", g.ps ? ",presum" : "",
                      g.pv == 2 ? ",pair_loads=2" : g.pv ? ",pair_loads" : "", g.fr ? ",shared_release" : "");
    if (g.own && g.per_sm > 1) brc__str_addf(&sku, ",%d_per_sm", g.per_sm);
    if (nohold(rq->kid, rq->op, rq->res, &g)) brc__str_addf(&sku, ",late_weights");
    brc__str_addf(&sku, "%s%s%s,%s>", rq->w ? ",weight" : "", rq->b ? ",bias" : "", rq->res ? ",residual" : "",
                  bwd ? "bwd" : "fwd");
    brc__str_addf(&sku, "%s%s@%s", g.split ? "+colred" : "", colsum ? "+colsum" : "", ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", rq->fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, family, &rows_vt, sizeof(rows_impl), &p))) goto fail;
    rows_impl *im = p->impl;
    im->kid = rq->kid;
    im->op = rq->op;
    im->dt = dt;
    im->esize = esize;
    im->csize = csize;
    im->rows = v.rows;
    im->cols = v.cols;
    im->g = g;
    im->w = rq->w;
    im->b = rq->b;
    im->res = rq->res;
    im->eps = rq->eps;
    memcpy(im->stride, strides, sizeof strides);

    /* Grid: every row group once (a grid-stride loop covers any excess); the norm backward keeps
     * one wave of CTA groups, each owning a partial row of the weight / bias gradients. */
    int64_t groups = brc__cdiv(v.rows, g.rpb), cap = ((int64_t)1 << 24);
    if (rq->kid == K_NORM_BWD || g.stg) { /* staging: a persistent grid that walks the rows */
        int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
        int per_sm = g.stg || g.pr ? g.per_sm : 2048 / (g.tpr * g.rpb);
        int64_t wave = (int64_t)sms * (per_sm > 1 ? per_sm : 1) / g.cl;
        cap = wave > 1 ? wave : 1;
    }
    /* The owned-column norm backward: as many clusters as the GPU holds at once (a second wave
     * would take a whole share of the rows again). */
    if (g.own) {
        if ((st = get_kernel(ctx, im, rq->kid, desc.p, &im->fn))) goto fail;
        cap = own_clusters(ctx, im);
        /* A cluster of 16 that this GPU cannot hold (the driver's answer, at plan time): the plan is
         * made again with clusters of at most 8. */
        if (cap == 0) {
            brc_plan_destroy(p);
            brc__str_free(&desc);
            brc__str_free(&sku);
            return plan_rows(ctx, rq, prefs_in, family, 8, out);
        }
    }
    int64_t used = groups < cap ? groups : cap;
    im->grid = (unsigned)(used * g.cl);
    if (rq->kid == K_NORM_BWD) {
        im->nparts = used * (g.pr ? 1 : g.rpb); /* pr: one partial row a CTA */
        if (g.split) { /* slabs of rows for colred: about one wave of 256-thread CTAs in all */
            int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
            int64_t cblocks = brc__cdiv(v.cols / vec, COLSUM_THREADS), slabs = brc__cdiv((int64_t)sms * 8, cblocks);
            im->nparts = slabs < v.rows ? slabs : v.rows;
            im->colred_grid = (unsigned)(im->nparts * cblocks);
        }
        p->workspace = (size_t)(rq->w + rq->b) * (size_t)im->nparts * (size_t)v.cols * csize;
        const char *cs = knob ? strstr(knob, "cs=") : NULL;
        im->colsum_seq = cs && atoi(cs + 3) == 0;
        im->colsum_grid = colsum ? (unsigned)brc__cdiv(v.cols, im->colsum_seq ? COLSUM_THREADS : COLSUM_COLS) : 0;
    }

    if (!g.own && (st = get_kernel(ctx, im, rq->kid, desc.p, &im->fn))) goto fail;
    if (colsum && (st = get_kernel(ctx, im, K_COLSUM, desc.p, &im->fn_colsum))) goto fail;
    if (g.split && (st = get_kernel(ctx, im, K_COLRED, desc.p, &im->fn_colred))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;

fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* Clusters of 16 CTAs (the non-portable size) are asked for on sm_90 only, where the H100 was
 * measured (docs/rows.md); other architectures keep the portable 8. */
static brc_status plan_common(brc_context *ctx, const rows_request *rq, const brc_plan_prefs *prefs,
                              brc__family family, brc_plan **out) {
    int major = 0, minor = 0;
    bool accel = false;
    brc__arch_parse(ctx->arch, &major, &minor, &accel);
    return plan_rows(ctx, rq, prefs, family, major == 9 ? 16 : 8, out);
}

/* ---- softmax along a strided axis ------------------------------------------------------------------- */

/* Flattens the leading dims (those before the axis) of every operand into at most two groups,
 * the same for all: the inner group (the dims just before the axis) and the outer group (the rest).
 * Two neighbouring dims are one group where every operand's strides nest there. */
static brc_status as_groups(const rows_request *rq, int64_t *outer, int64_t *inner, int64_t *so, int64_t *si,
                            int64_t *sc) {
    const brc_tensor_desc *t0 = rq->ops[0].t;
    int last = t0->rank - 1, prev = -1, grp = 1;
    int64_t n[2] = {1, 1};
    for (int i = 0; i < rq->nops; i++) {
        sc[i] = rq->ops[i].t->strides[last];
        so[i] = si[i] = 0;
    }
    for (int d = last - 1; d >= 0; d--) {
        if (t0->shape[d] == 1) continue;
        if (prev >= 0) {
            bool nest = true;
            for (int i = 0; i < rq->nops; i++) {
                const brc_tensor_desc *t = rq->ops[i].t;
                nest = nest && t->strides[d] == t->strides[prev] * t->shape[prev];
            }
            if (!nest) {
                if (grp == 0)
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                      "%s: the dims before the softmax axis do not flatten into two groups with one "
                                      "stride each in every operand (dim %d)", rq->fam, d);
                grp = 0;
                prev = -1;
            }
        }
        if (prev < 0)
            for (int i = 0; i < rq->nops; i++) (grp ? si : so)[i] = rq->ops[i].t->strides[d];
        n[grp] *= t0->shape[d];
        prev = d;
    }
    *outer = n[0];
    *inner = n[1];
    return BRC_STATUS_OK;
}

static brc_status strided_kernel(brc_context *ctx, const rows_impl *im, const char *desc, CUfunction *fn) {
    brc__str snip = {0};
    brc__str_addf(&snip,
                  "struct brc_rows {\n  typedef %s T;\n  typedef %s C;\n"
                  "  enum { COLS = %lld, LOG = %d, BWD = %d, TX = %d, TY = %d };\n};\n"
                  "__global__ void __launch_bounds__(%d)\n"
                  "brc_rows_kernel(brc::rows_sargs a) { brc::softmax_strided<brc_rows>(a); }\n",
                  storage_type(im->dt), im->csize == 8 ? "double" : "float", (long long)im->cols,
                  im->op == OP_LOG_SOFTMAX, im->bwd, im->tx, im->ty, im->tx * im->ty);
    brc_status st;
    if (snip.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "rows.cuh", NULL};
        brc__kernel_req req = {.template_name = "rows", .sources = sources, .nspec = 8,
                               .spec = {K_SOFTMAX_STRIDED, im->dt, im->cols, im->op, im->bwd, im->tx, im->ty,
                                        im->csize},
                               .snippet = snip.p, .name_expr = "brc_rows_kernel", .descriptor = desc};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
    }
    brc__str_free(&snip);
    return st;
}

/* softmax / log_softmax (forward or backward) whose axis -- the descriptors' last dim -- is not
 * contiguous in some operand. */
static brc_status plan_strided(brc_context *ctx, const rows_request *rq, const brc_plan_prefs *prefs_in,
                               brc__family family, brc_plan **out) {
    brc_status st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    if (prefs->vector_width > 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: vector_width %d: the softmax axis is strided, its accesses are scalar", rq->fam,
                          prefs->vector_width);
    int64_t outer = 0, inner = 0, so[3] = {0}, si[3] = {0}, sc[3] = {0};
    const brc_tensor_desc *t0 = rq->ops[0].t;
    for (int i = 0; i < rq->nops; i++) {
        const brc_tensor_desc *t = rq->ops[i].t;
        char name[96];
        snprintf(name, sizeof name, "%s: %s", rq->fam, rq->ops[i].name);
        if ((st = brc__tensor_check(t, name))) return st;
        if (t->rank < 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: rank 0 has no axis (rank must be >= 1)", name);
        if ((st = check_like_first(rq->fam, rq->ops, i))) return st;
    }
    if ((st = as_groups(rq, &outer, &inner, so, si, sc))) return st;
    int64_t cols = t0->shape[t0->rank - 1];
    if (cols < 1 || cols > MAX_COLS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: cols = %lld is outside 1..2^30", rq->fam, (long long)cols);
    brc_dtype dt = t0->dtype;
    bool bwd = rq->kid == K_SOFTMAX_BWD;
    /* CTA: up to 32 consecutive rows of the inner group, times threads along the axis, 256 in all. */
    int tx = pow2ceil(inner < 32 ? inner : 32), ty = 256 / tx;
    if (ty > pow2ceil(cols)) ty = pow2ceil(cols);
    brc__str desc = {0}, sku = {0};
    const char *on = op_names[rq->op];
    brc__str_addf(&desc, "%s(dtype=%s,cols=%lld,inner=%d,dir=%s)", on, brc_dtype_name(dt), (long long)cols, tx,
                  bwd ? "bwd" : "fwd");
    brc__str_addf(&sku, "bespoke:%s<%s,cols=%lld,strided,tx=%d,ty=%d,%s>@%s", on, brc_dtype_name(dt), (long long)cols,
                  tx, ty, bwd ? "bwd" : "fwd", ctx->arch);
    brc_plan *p = NULL;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", rq->fam);
        goto fail;
    }
    if ((st = brc__plan_new(ctx, family, &rows_vt, sizeof(rows_impl), &p))) goto fail;
    rows_impl *im = p->impl;
    im->kid = K_SOFTMAX_STRIDED;
    im->op = rq->op;
    im->dt = dt;
    im->esize = brc_dtype_size(dt);
    im->csize = dt == BRC_F64 ? 8 : 4;
    im->rows = outer * inner;
    im->cols = cols;
    im->g = (rows_geo){1, tx * ty, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    im->tx = tx;
    im->ty = ty;
    im->bwd = bwd;
    im->sa = (rows_sargs){.outer = outer, .inner = inner};
    /* Operand order: forward (x, y), backward (y, dy, dx); the kernel's (a, b, out). */
    int map[3] = {0, 2, 1};
    if (bwd) map[1] = 1, map[2] = 2;
    for (int i = 0; i < rq->nops; i++) {
        im->sa.so[map[i]] = so[i];
        im->sa.si[map[i]] = si[i];
        im->sa.sc[map[i]] = sc[i];
    }
    int64_t blocks = brc__cdiv(im->rows, tx);
    im->grid = (unsigned)(blocks < ((int64_t)1 << 20) ? blocks : ((int64_t)1 << 20));
    if ((st = strided_kernel(ctx, im, desc.p, &im->fn))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;

fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* Whether some operand's last dim (the softmax axis) is not contiguous. */
static bool axis_strided(const operand *ops, int n) {
    for (int i = 0; i < n; i++) {
        const brc_tensor_desc *t = ops[i].t;
        if (t->rank >= 1 && t->rank <= BRC_MAX_RANK && t->shape[t->rank - 1] > 1 && t->strides[t->rank - 1] != 1)
            return true;
    }
    return false;
}

static brc_status check_flag(const char *fam, const char *name, int v) {
    if (v == 0 || v == 1) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s = %d must be 0 or 1", fam, name, v);
}

brc_status brc_softmax_plan(brc_context *ctx, const brc_softmax_desc *d, const brc_plan_prefs *prefs,
                            brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_softmax_plan");
    if (st) return st;
    if (d->kind != BRC_SOFTMAX_PLAIN && d->kind != BRC_SOFTMAX_LOG)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "softmax: kind %d is not a softmax kind", (int)d->kind);
    int op = d->kind == BRC_SOFTMAX_LOG ? OP_LOG_SOFTMAX : OP_SOFTMAX;
    const operand ops[] = {{&d->x, "x", false}, {&d->y, "y", true}};
    rows_request rq = {K_SOFTMAX_FWD, op, op_names[op], ops, 2, 0, 0, 0, 0};
    if (axis_strided(ops, 2)) return plan_strided(ctx, &rq, prefs, BRC__FAM_SOFTMAX, out);
    return plan_common(ctx, &rq, prefs, BRC__FAM_SOFTMAX, out);
}

brc_status brc_softmax_backward_plan(brc_context *ctx, const brc_softmax_backward_desc *d,
                                     const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_softmax_backward_plan");
    if (st) return st;
    if (d->kind != BRC_SOFTMAX_PLAIN && d->kind != BRC_SOFTMAX_LOG)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "softmax backward: kind %d is not a softmax kind",
                          (int)d->kind);
    int op = d->kind == BRC_SOFTMAX_LOG ? OP_LOG_SOFTMAX : OP_SOFTMAX;
    const operand ops[] = {{&d->y, "y", false}, {&d->dy, "dy", false}, {&d->dx, "dx", true}};
    rows_request rq = {K_SOFTMAX_BWD, op, op_names[op], ops, 3, 0, 0, 0, 0};
    if (axis_strided(ops, 3)) return plan_strided(ctx, &rq, prefs, BRC__FAM_SOFTMAX_BWD, out);
    return plan_common(ctx, &rq, prefs, BRC__FAM_SOFTMAX_BWD, out);
}

static brc_status norm_kind(int kind, const char *what, int has_bias, int *op) {
    if (kind != BRC_NORM_RMS && kind != BRC_NORM_LAYER)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not a norm kind", what, kind);
    *op = kind == BRC_NORM_LAYER ? OP_LAYER : OP_RMS;
    if (*op == OP_RMS && has_bias)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "rms_norm: has no bias (has_bias must be 0)");
    return BRC_STATUS_OK;
}

brc_status brc_norm_plan(brc_context *ctx, const brc_norm_desc *d, const brc_plan_prefs *prefs, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_norm_plan");
    if (st) return st;
    int op = 0;
    if ((st = check_flag("norm", "has_weight", d->has_weight)) || (st = check_flag("norm", "has_bias", d->has_bias)) ||
        (st = check_flag("norm", "has_residual", d->has_residual)) ||
        (st = norm_kind((int)d->kind, "norm", d->has_bias, &op)))
        return st;
    if (!(d->eps >= 0))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: eps = %g must be >= 0", op_names[op], d->eps);
    const operand ops[] = {{&d->x, "x", false}, {&d->y, "y", true}, {&d->residual, "residual", false},
                           {&d->sum, "sum", true}};
    rows_request rq = {K_NORM_FWD, op, op_names[op], ops, d->has_residual ? 4 : 2,
                       d->has_weight, d->has_bias, d->has_residual, d->eps};
    return plan_common(ctx, &rq, prefs, BRC__FAM_NORM, out);
}

brc_status brc_norm_backward_plan(brc_context *ctx, const brc_norm_backward_desc *d, const brc_plan_prefs *prefs,
                                  brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_norm_backward_plan");
    if (st) return st;
    int op = 0;
    if ((st = check_flag("norm backward", "has_weight", d->has_weight)) ||
        (st = check_flag("norm backward", "has_bias", d->has_bias)) ||
        (st = norm_kind((int)d->kind, "norm backward", d->has_bias, &op)))
        return st;
    const operand ops[] = {{&d->x, "x", false}, {&d->dy, "dy", false}, {&d->dx, "dx", true}};
    rows_request rq = {K_NORM_BWD, op, op_names[op], ops, 3, d->has_weight, d->has_bias, 0, 0};
    return plan_common(ctx, &rq, prefs, BRC__FAM_NORM_BWD, out);
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------------ */

brc_status brc__rows_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    int op = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(d->family, op_names[i]) == 0) op = i;
    if (op < 0) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "'%s' is not a row-wise family", d->family);
    }
    static const char *const dirs[] = {"fwd", "bwd"};
    brc_dtype dt = BRC_F32;
    int64_t cols = 0, vec = 0, w = 0, b = 0, res = 0;
    int dir = 0;
    brc_status st;
    if ((st = brc__desc_dtype(d, "dtype", &dt)) || (st = brc__desc_int(d, "cols", 1, MAX_COLS, -1, &cols)) ||
        (st = brc__desc_pick(d, "dir", dirs, 2, 0, &dir)) || (st = brc__desc_int(d, "vec", 1, 16, 0, &vec)))
        return st;
    if (cols < 0) {
        const char *unused;
        return brc__desc_need(d, "cols", &unused);
    }
    if (op >= OP_RMS && (st = brc__desc_int(d, "weight", 0, 1, 0, &w))) return st;
    if (op == OP_LAYER && (st = brc__desc_int(d, "bias", 0, 1, 0, &b))) return st;
    if (op >= OP_RMS && dir == 0 && (st = brc__desc_int(d, "residual", 0, 1, 0, &res))) return st;
    int64_t inner = 0;
    if (op <= OP_LOG_SOFTMAX && (st = brc__desc_int(d, "inner", 1, 32, 0, &inner))) return st;
    if (inner & (inner - 1)) {
        for (int i = 0; i < d->nkv; i++)
            if (strcmp(d->kv[i].key, "inner") == 0) d->err_col = d->kv[i].val_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "inner = %lld must be a power of two", (long long)inner);
    }
    /* One contiguous row, or as many as rows= says (layouts chosen by the row count). */
    int64_t nrows = 1;
    if ((st = brc__desc_int(d, "rows", 2, (int64_t)1 << 40, 1, &nrows))) return st;
    int64_t shape[2] = {nrows, cols};
    brc_tensor_desc t;
    brc_tensor_desc_contiguous(&t, dt, 2, shape);
    brc_plan_prefs prefs = BRC_PLAN_PREFS_INIT;
    prefs.vector_width = (int)vec;
    if (inner > 0) { /* the strided softmax: [inner, cols], the axis of stride inner + 1 (never 1) */
        int64_t sh[2] = {inner, cols}, sd[2] = {1, inner + 1};
        memcpy(t.shape, sh, sizeof sh);
        memcpy(t.strides, sd, sizeof sd);
    }
    if (op <= OP_LOG_SOFTMAX) {
        brc_softmax_kind k = op == OP_LOG_SOFTMAX ? BRC_SOFTMAX_LOG : BRC_SOFTMAX_PLAIN;
        if (dir == 0) {
            brc_softmax_desc s = {k, t, t};
            return brc_softmax_plan(ctx, &s, &prefs, out);
        }
        brc_softmax_backward_desc s = {k, t, t, t};
        return brc_softmax_backward_plan(ctx, &s, &prefs, out);
    }
    brc_norm_kind k = op == OP_LAYER ? BRC_NORM_LAYER : BRC_NORM_RMS;
    if (dir == 0) {
        brc_norm_desc n = {k, t, t, (int)w, (int)b, (int)res, t, t, 1e-5};
        return brc_norm_plan(ctx, &n, &prefs, out);
    }
    brc_norm_backward_desc n = {k, t, t, t, (int)w, (int)b};
    return brc_norm_backward_plan(ctx, &n, &prefs, out);
}

/* An output that is the same pointer as an input must have its row stride. */
static brc_status alias_ok(const void *out, int64_t sout, const void *in, int64_t sin, const char *fn,
                           const char *what, const brc_plan *plan) {
    const rows_impl *im = plan->impl;
    if (out != in || im->rows <= 1 || sout == sin) return BRC_STATUS_OK;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s with a different row stride (%s)", fn, what,
                      plan->descriptor);
}

static brc_status launch(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned threads, rows_args *a,
                         brc_stream stream) {
    const rows_impl *im = plan->impl;
    unsigned smem = fn == im->fn ? (unsigned)im->g.smem : 0;
    void *args[1] = {a};
    CUresult r;
    if (fn == im->fn && im->g.cl > 8) { /* a cluster of 16: its size is given here (get_kernel) */
        CUlaunchAttribute at = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION};
        at.value.clusterDim.x = (unsigned)im->g.cl;
        at.value.clusterDim.y = 1;
        at.value.clusterDim.z = 1;
        CUlaunchConfig cfg = {.gridDimX = grid, .gridDimY = 1, .gridDimZ = 1, .blockDimX = threads, .blockDimY = 1,
                              .blockDimZ = 1, .sharedMemBytes = smem, .hStream = (CUstream)stream, .attrs = &at,
                              .numAttrs = 1};
        r = brc__cu()->cuLaunchKernelEx(&cfg, fn, args, NULL);
    } else {
        r = brc__cu()->cuLaunchKernel(fn, grid, 1, 1, threads, 1, 1, smem, (CUstream)stream, args, NULL);
    }
    if (r != CUDA_SUCCESS) {
        /* What the launch asked and what the kernel allows, so that a refusal can be read. */
        int at[4] = {-1, -1, -1, -1};
        const CUfunction_attribute ids[4] = {CU_FUNC_ATTRIBUTE_NUM_REGS, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                             CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
                                             CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES};
        for (int i = 0; i < 4; i++) (void)brc__cu()->cuFuncGetAttribute(&at[i], ids[i], fn);
        return brc__error(BRC_STATUS_CUDA_ERROR,
                          "cuLaunchKernel: %s (%s%s: grid %u, %u threads, cluster %d, %u bytes of dynamic shared memory; the "
                          "kernel: %d registers, at most %d threads, %d bytes static, at most %d dynamic)",
                          brc__cu_errname(r), plan->descriptor,
                          fn == im->fn_colsum ? "+colsum" : fn == im->fn_colred ? "+colred" : "", grid, threads,
                          fn == im->fn ? im->g.cl : 1, smem,
                          at[0], at[1], at[2], at[3]);
    }
    return BRC_STATUS_OK;
}

static unsigned threads_of(const rows_impl *im) { return (unsigned)(im->g.tpr * im->g.rpb); }

/* The strided softmax: operands a, b (backward) and out; an output may be an input only with the
 * same strides. */
static brc_status run_strided(const brc_plan *plan, const char *fn, const void *a, const void *b, void *out,
                              brc_stream stream) {
    const rows_impl *im = plan->impl;
    brc_status st;
    if ((st = brc__need_ptr(a, im->esize, fn, im->bwd ? "y" : "x", plan)) ||
        (im->bwd && (st = brc__need_ptr(b, im->esize, fn, "dy", plan))) ||
        (st = brc__need_ptr(out, im->esize, fn, im->bwd ? "dx" : "y", plan)))
        return st;
    rows_sargs sa = im->sa;
    for (int i = 0; i < 2; i++) {
        const void *in = i == 0 ? a : b;
        if (in == out && (sa.so[i] != sa.so[2] || sa.si[i] != sa.si[2] || sa.sc[i] != sa.sc[2]))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is %s with different strides (%s)", fn,
                              im->bwd ? "dx" : "y", i == 0 ? (im->bwd ? "y" : "x") : "dy", plan->descriptor);
    }
    sa.a = a;
    sa.b = b;
    sa.out = out;
    void *args[1] = {&sa};
    CUresult r = brc__cu()->cuLaunchKernel(im->fn, im->grid, 1, 1, threads_of(im), 1, 1, 0, (CUstream)stream, args,
                                           NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc_softmax_run(const brc_plan *plan, const void *x, void *y, void *workspace, size_t workspace_size,
                           brc_stream stream) {
    const char *fn = "brc_softmax_run";
    brc_status st = brc__run_start(plan, BRC__FAM_SOFTMAX, fn, workspace, workspace_size);
    if (st) return st;
    const rows_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    if (im->kid == K_SOFTMAX_STRIDED) return run_strided(plan, fn, x, NULL, y, stream);
    size_t al = (size_t)im->g.vec * im->esize;
    if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(y, al, fn, "y", plan)) ||
        (st = alias_ok(y, im->stride[1], x, im->stride[0], fn, "y is x", plan)))
        return st;
    rows_args a = {.a = x, .out = y, .rows = im->rows, .sa = im->stride[0], .sout = im->stride[1]};
    return launch(plan, im->fn, im->grid, threads_of(im), &a, stream);
}

brc_status brc_softmax_backward_run(const brc_plan *plan, const void *y, const void *dy, void *dx, void *workspace,
                                    size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_softmax_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_SOFTMAX_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const rows_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    if (im->kid == K_SOFTMAX_STRIDED) return run_strided(plan, fn, y, dy, dx, stream);
    size_t al = (size_t)im->g.vec * im->esize;
    if ((st = brc__need_ptr(y, al, fn, "y", plan)) || (st = brc__need_ptr(dy, al, fn, "dy", plan)) ||
        (st = brc__need_ptr(dx, al, fn, "dx", plan)) ||
        (st = alias_ok(dx, im->stride[2], y, im->stride[0], fn, "dx is y", plan)) ||
        (st = alias_ok(dx, im->stride[2], dy, im->stride[1], fn, "dx is dy", plan)))
        return st;
    rows_args a = {.a = y, .b = dy, .out = dx, .rows = im->rows, .sa = im->stride[0], .sb = im->stride[1],
                   .sout = im->stride[2]};
    return launch(plan, im->fn, im->grid, threads_of(im), &a, stream);
}

brc_status brc_norm_run(const brc_plan *plan, const void *x, const void *residual, const void *weight,
                        const void *bias, void *y, void *sum, void *mean, void *rstd, void *workspace,
                        size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_norm_run";
    brc_status st = brc__run_start(plan, BRC__FAM_NORM, fn, workspace, workspace_size);
    if (st) return st;
    const rows_impl *im = plan->impl;
    if (im->grid == 0) return BRC_STATUS_OK;
    size_t al = (size_t)im->g.vec * im->esize;
    if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(y, al, fn, "y", plan)) ||
        (im->w && (st = brc__need_ptr(weight, al, fn, "weight", plan))) ||
        (im->b && (st = brc__need_ptr(bias, al, fn, "bias", plan))) ||
        (mean && im->op == OP_LAYER && (st = brc__need_ptr(mean, im->csize, fn, "mean", plan))) ||
        (rstd && (st = brc__need_ptr(rstd, im->csize, fn, "rstd", plan))) ||
        (st = alias_ok(y, im->stride[1], x, im->stride[0], fn, "y is x", plan)))
        return st;
    if (im->res) {
        if ((st = brc__need_ptr(residual, al, fn, "residual", plan)) || (st = brc__need_ptr(sum, al, fn, "sum", plan)) ||
            (st = alias_ok(sum, im->stride[3], x, im->stride[0], fn, "sum is x", plan)) ||
            (st = alias_ok(sum, im->stride[3], residual, im->stride[2], fn, "sum is residual", plan)) ||
            (st = alias_ok(y, im->stride[1], residual, im->stride[2], fn, "y is residual", plan)))
            return st;
        if (sum == y) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: sum and y are one buffer (%s)", fn, plan->descriptor);
    }
    rows_args a = {.a = x, .b = im->res ? residual : NULL, .w = im->w ? weight : NULL, .bias = im->b ? bias : NULL,
                   .out = y, .sum = im->res ? sum : NULL, .mean = im->op == OP_LAYER ? mean : NULL, .rstd = rstd,
                   .rows = im->rows, .sa = im->stride[0], .sb = im->stride[2], .sout = im->stride[1],
                   .ssum = im->stride[3], .eps = im->eps};
    return launch(plan, im->fn, im->grid, threads_of(im), &a, stream);
}

brc_status brc_norm_backward_run(const brc_plan *plan, const void *x, const void *dy, const void *weight,
                                 const void *mean, const void *rstd, void *dx, void *dweight, void *dbias,
                                 void *workspace, size_t workspace_size, brc_stream stream) {
    const char *fn = "brc_norm_backward_run";
    brc_status st = brc__run_start(plan, BRC__FAM_NORM_BWD, fn, workspace, workspace_size);
    if (st) return st;
    const rows_impl *im = plan->impl;
    size_t al = (size_t)im->g.vec * im->esize;
    if (im->w && (st = brc__need_ptr(dweight, im->esize, fn, "dweight", plan))) return st;
    if (im->b && (st = brc__need_ptr(dbias, im->esize, fn, "dbias", plan))) return st;
    if (im->grid > 0) {
        if ((st = brc__need_ptr(x, al, fn, "x", plan)) || (st = brc__need_ptr(dy, al, fn, "dy", plan)) ||
            (st = brc__need_ptr(dx, al, fn, "dx", plan)) || (st = brc__need_ptr(rstd, im->csize, fn, "rstd", plan)) ||
            (im->w && (st = brc__need_ptr(weight, al, fn, "weight", plan))) ||
            (im->op == OP_LAYER && (st = brc__need_ptr(mean, im->csize, fn, "mean", plan))) ||
            (st = alias_ok(dx, im->stride[2], x, im->stride[0], fn, "dx is x", plan)) ||
            (st = alias_ok(dx, im->stride[2], dy, im->stride[1], fn, "dx is dy", plan)))
            return st;
    }
    rows_args a = {.a = x, .b = dy, .w = im->w ? weight : NULL, .out = dx, .mean = (void *)(uintptr_t)mean,
                   .rstd = (void *)(uintptr_t)rstd, .part = workspace, .dw = dweight, .db = dbias, .rows = im->rows,
                   .sa = im->stride[0], .sb = im->stride[1], .sout = im->stride[2], .nparts = im->nparts};
    /* colred reads x and dy only: it runs before the row kernel, which may write dx over either. */
    if (im->colred_grid > 0 && (st = launch(plan, im->fn_colred, im->colred_grid, COLSUM_THREADS, &a, stream)))
        return st;
    if (im->grid > 0 && (st = launch(plan, im->fn, im->grid, threads_of(im), &a, stream))) return st;
    if (im->colsum_grid > 0) return launch(plan, im->fn_colsum, im->colsum_grid, COLSUM_THREADS, &a, stream);
    return BRC_STATUS_OK;
}
