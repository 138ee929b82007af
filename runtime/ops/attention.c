/* The attention family: flash attention forward (tiled, or packed and split for short queries)
 * and its deterministic backward. Validates the operands, picks the path and tile shape, compiles
 * the kernels of kernel_src/attention.cuh specialized to them, and launches them. Semantics:
 * attention.h; descriptor keys: docs/attention.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* struct brc::attn_args in attention.cuh: 8-byte fields only. */
typedef struct attn_args {
    const void *q, *k, *v;
    void *o;
    float *lse;
    const void *dout;
    void *dq, *dk, *dv;
    const void *mask;
    const float *alibi;
    const int32_t *cu_q, *cu_k;
    float *dsum, *part_o, *part_lse;
    int32_t *dq_sem;
    const uint64_t *dev;
    uint64_t seed, offset;
    int64_t B, H, Hkv, Sq, Sk;
    int64_t gp, nsplit, tq;
    int64_t q_s[3], k_s[3], v_s[3], o_s[3], do_s[3], dq_s[3], dk_s[3], dv_s[3];
    int64_t l_s[3], m_s[4], a_sb, wl, wr, jblocks, group;
    double scale, softcap, p_drop, rkeep;
} attn_args;
_Static_assert(sizeof(attn_args) == (18 + 2 + 5 + 3 + 24 + 3 + 4 + 5 + 4) * 8, "attn_args must match brc::attn_args");

/* struct brc::attn_args_h in attention_sm90.cuh: the Hopper forward's parameter. */
typedef struct attn_args_h {
    CUtensorMap tq, tk, tv;
    attn_args a;
} attn_args_h;
_Static_assert(sizeof(attn_args_h) == 1024, "attn_args_h must match brc::attn_args_h");

/* struct brc::attn_args_hb in attention_sm90_bwd.cuh: the Hopper backward's parameter. */
typedef struct attn_args_hb {
    CUtensorMap tq, tk, tv, tdo, tdq;
    attn_args a;
} attn_args_hb;
_Static_assert(sizeof(attn_args_hb) == 1280, "attn_args_hb must match brc::attn_args_hb");

/* The kernels of one plan. */
enum {
    K_FWD, K_COMBINE, K_DSUM, K_DKDV, K_DKDV2, K_DQ, K_DSUMZ, K_BWD, K_BWD2, K_BWDP, K_DQCVT, K_FWDH,
    K_BWDH, K_BWDH2, K_FWD32, K_DQ32, K_DKDV32, NKERNELS
};
static const char *const kernel_fns[NKERNELS] = {
    "attn_fwd_main",   "attn_combine_main", "attn_dsum_main",  "attn_dkdv_main",  "attn_dkdv_main",
    "attn_dq_main",    "attn_dsumz_main",   "attn_bwd_main",   "attn_bwd_main",   "attn_bwdp_main",
    "attn_dqcvt_main", "attn_fwdh_main",    "attn_bwdh_main",  "attn_bwdh_main",  "attn_fwd32_main",
    "attn_dq32_main",  "attn_dkdv32_main"};
static const char *const kernel_tags[NKERNELS] = {"fwd",  "combine", "dsum",  "dkdv", "dkdv2", "dq",
                                                  "dsumz", "bwd",    "bwd2",  "bwdp", "dqcvt", "fwdh",
                                                  "bwdh", "bwdh2",   "fwd32", "dq32", "dkdv32"};
/* Launch order: the rowsum (and the zeroed dQ accumulator) before the kernels that read them. */
static const int launch_order[NKERNELS] = {K_FWD,  K_FWDH, K_FWD32,  K_COMBINE, K_DSUM, K_DSUMZ, K_DKDV,  K_DKDV2,
                                           K_DQ,   K_DQ32, K_DKDV32, K_BWD,     K_BWD2, K_BWDP,  K_BWDH2, K_BWDH,
                                           K_DQCVT};

/* The compile-time shape of one kernel (the brc_attn struct of the snippet). */
typedef struct attn_cfg {
    int warps, mtiles, stages, bn, bq, qreg, split, which, threads, smem;
} attn_cfg;

/* Features (the same for every kernel of a plan). */
typedef struct attn_feat {
    brc_dtype dt;
    int d, softcap, alibi, mask, dropout, varlen;
    int mt; /* mask dtype, -1 without */
} attn_feat;

typedef struct attn_impl {
    int kind;
    bool decode;
    attn_feat f;
    attn_args a;
    attn_cfg cfg[NKERNELS];
    bool used[NKERNELS];
    CUfunction fn[NKERNELS];
    unsigned grid[NKERNELS][3];
    size_t part_lse_off; /* split forward: the partial lse after the partial O (at 0) */
    size_t dqacc_off;    /* atomic and ordered backwards: the f32 dQ accumulator after the rowsum (at 0) */
    bool atomic;         /* backward: FlashAttention-2's scheme, dQ by atomic adds (not bitwise reproducible) */
    bool ordered;        /* backward, det = 1 on Hopper: that scheme with the dQ reductions in key-tile order */
    size_t sem_off;      /* ordered: the int32 counters a (b, h, query tile, warpgroup) after the accumulator */
    size_t sem_count;
    bool pdl;            /* split forward, sm_90+: the combine is the forward's programmatic dependent */
    bool fused;          /* split forward with the combine fused (SPLIT = 2): the last CTA of a tile merges */
    bool cluster;        /* split forward in clusters of its splits (SPLIT = 3), merged over their shared memory */
    size_t ctr_off;      /* fused: its ticket counters (int32, one a tile) after the partial lse */
    size_t ctr_count;
    uint64_t counters;
    CUtensorMap maps[5]; /* Hopper kernels: Q, K, V (and dO, the dQ accumulator) maps encoded at a placeholder
                          * address; run sets it */
} attn_impl;

static const brc__plan_vt attn_vt = {NULL};

static const char *mask_names[] = {"none", "f32", "f16", "bf16", "bool"};
static int mask_code(int mt) {
    switch (mt) {
    case BRC_F32: return 1;
    case BRC_F16: return 2;
    case BRC_BF16: return 3;
    case BRC_BOOL: return 4;
    default: return 0;
    }
}
static const char *mask_type(int mt) {
    switch (mt) {
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    case BRC_BOOL: return "brc::boolean";
    default: return "float";
    }
}

static brc_status get_kernel(brc_context *ctx, const attn_feat *f, int kid, const attn_cfg *c, const char *desc,
                             CUfunction *fn) {
    brc__str snip = {0}, kd = {0};
    /* The Hopper forward: arch-specific (wgmma, setmaxnreg) and whole-program, so that it runs
     * with the launch bound's registers (docs/attention-hopper.md). */
    const bool hopper_bwd = kid == K_BWDH || kid == K_BWDH2, hopper = kid == K_FWDH || hopper_bwd;
    brc__str_addf(&snip,
                  "struct brc_attn {\n  typedef %s T;\n  typedef %s MT;\n"
                  "  enum { D = %d, WARPS = %d, MTILES = %d, STAGES = %d, BN = %d, BQ = %d, QREG = %d,\n"
                  "         SOFTCAP = %d, ALIBI = %d, MASK = %d, DROPOUT = %d, VARLEN = %d, SPLIT = %d, WHICH = %d };\n"
                  "};\n"
                  "__global__ void __launch_bounds__(%d, 1)\n"
                  "brc_attn_kernel(%s) { brc::%s<brc_attn>(a); }\n",
                  f->dt == BRC_F16 ? "brc::f16" : f->dt == BRC_BF16 ? "brc::bf16" : "float", mask_type(f->mt), f->d, c->warps, c->mtiles, c->stages,
                  c->bn, c->bq, c->qreg, f->softcap, f->alibi, f->mask, f->dropout, f->varlen, c->split, c->which, c->threads,
                  hopper_bwd ? "const __grid_constant__ brc::attn_args_hb a"
                  : hopper      ? "const __grid_constant__ brc::attn_args_h a"
                                : "brc::attn_args a",
                  kernel_fns[kid]);
    brc__str_addf(&kd, "%s+%s", desc, kernel_tags[kid]);
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        static const char *const sources[] = {"prelude.cuh", "random.cuh", "attention.cuh", NULL};
        static const char *const sources_h[] = {"prelude.cuh", "random.cuh", "attention.cuh", "attention_sm90.cuh", NULL};
        static const char *const sources_f[] = {"prelude.cuh", "random.cuh", "attention.cuh", "attention_f32.cuh", NULL};
        static const char *const sources_hb[] = {"prelude.cuh",        "random.cuh",             "attention.cuh",
                                                 "attention_sm90.cuh", "attention_sm90_bwd.cuh", NULL};
        const bool f32 = kid == K_FWD32 || kid == K_DQ32 || kid == K_DKDV32;
        brc__kernel_req req = {.template_name = "attention",
                               .sources = hopper_bwd ? sources_hb : hopper ? sources_h : f32 ? sources_f : sources,
                               .nspec = 16,
                               .spec = {kid, f->dt, f->d, c->warps, c->mtiles, c->stages, c->bn, c->bq, c->qreg,
                                        f->softcap, f->alibi, f->mt, f->dropout, f->varlen, c->split, c->which},
                               .snippet = snip.p, .name_expr = "brc_attn_kernel", .descriptor = kd.p,
                               .flags = hopper ? BRC__JIT_ARCH_SPECIFIC | BRC__JIT_WHOLE_PROGRAM : 0};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
        if (!st && ctx->device >= 0 && c->smem > 48 * 1024) {
            CUresult r = brc__cu()->cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, c->smem);
            if (r != CUDA_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cuFuncSetAttribute(%d bytes of shared memory): %s (%s)",
                                c->smem, brc__cu_errname(r), desc);
        }
        if (!st && ctx->device >= 0 && kid == K_FWD && c->split == 3) {
            /* clusters of up to 16 split CTAs: above 8 the non-portable size */
            CUresult r = brc__cu()->cuFuncSetAttribute(*fn, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);
            if (r != CUDA_SUCCESS)
                st = brc__error(BRC_STATUS_CUDA_ERROR, "cuFuncSetAttribute(non-portable cluster size): %s (%s)",
                                brc__cu_errname(r), desc);
        }
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* ---- validation -------------------------------------------------------------------------------------- */

typedef struct shape4 {
    int64_t b, s, h, d;
} shape4;

/* A [B, S, H, D] operand (varlen: [T, H, D]): rank, dtype, dense last dim, strides in 16-byte
 * units; fills its (batch, seq, head) strides. */
static brc_status check_bshd(const brc_tensor_desc *t, const char *name, brc_dtype dt, int varlen, shape4 *sh,
                             int64_t str[3]) {
    static const char *fn = "brc_attention_plan";
    char what[64];
    snprintf(what, sizeof what, "%s: %s", fn, name);
    brc_status st = brc__tensor_check(t, what);
    if (st) return st;
    int rank = varlen ? 3 : 4;
    if (t->rank != rank)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has rank %d, %d expected (%s)", fn, name, t->rank, rank,
                          varlen ? "[T, H, D] with varlen" : "[B, S, H, D]");
    if (t->dtype != dt)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s has dtype %s, %s (q's) expected", fn, name,
                          brc_dtype_name(t->dtype), brc_dtype_name(dt));
    int o = varlen ? -1 : 0;
    sh->b = varlen ? 1 : t->shape[0];
    sh->s = t->shape[1 + o], sh->h = t->shape[2 + o], sh->d = t->shape[3 + o];
    if (t->strides[3 + o] != 1 && sh->d > 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s's last dim has stride %lld (it must be dense)", fn, name,
                          (long long)t->strides[3 + o]);
    str[0] = varlen ? 0 : t->strides[0];
    str[1] = t->strides[1 + o], str[2] = t->strides[2 + o];
    for (int i = 0; i < 3; i++)
        if (str[i] % 8)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: %s has a stride of %lld elements; the kernels need multiples of 8 (16 bytes)", fn,
                              name, (long long)str[i]);
    return BRC_STATUS_OK;
}

static bool same4(shape4 a, shape4 b) { return a.b == b.b && a.s == b.s && a.h == b.h && a.d == b.d; }

static brc_status shape_error(const char *name, shape4 got, shape4 want) {
    return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                      "brc_attention_plan: %s is [%lld, %lld, %lld, %lld], [%lld, %lld, %lld, %lld] expected", name,
                      (long long)got.b, (long long)got.s, (long long)got.h, (long long)got.d, (long long)want.b,
                      (long long)want.s, (long long)want.h, (long long)want.d);
}

/* The shared memory one CTA may have on the context's arch, in KiB (an SM has 1 KiB more). */
static int smem_kib(const brc_context *ctx) { return brc__smem_per_cta(ctx->sm_major, ctx->sm_minor) / 1024; }

/* Dynamic shared memory a CTA may use on the context's arch (less 1 KiB of static use). */
static int smem_cap(const brc_context *ctx) { return (smem_kib(ctx) - 1) * 1024; }

/* CTAs of a config one SM holds at once, by shared memory (1 KiB reserved a CTA) and threads. */
static int64_t ctas_per_sm(const brc_context *ctx, const attn_cfg *c) {
    int64_t by_smem = (int64_t)(smem_kib(ctx) + 1) * 1024 / (c->smem + 1024), by_threads = 2048 / c->threads;
    int64_t n = by_smem < by_threads ? by_smem : by_threads;
    return n < 1 ? 1 : n > 32 ? 32 : n;
}

/* KV splits of a decode forward: `ctas` CTAs a split, `slots` CTAs the GPU holds at once. The
 * CTAs should fill whole waves (a last wave partly full leaves the memory idle at the end): the
 * fewest waves (up to 4) whose splits fill them to 90%, else the best filled; at most one KV tile
 * a split and MAX_SPLITS (the combine's limit). H100, B = 1, H_kv = 8, S = 32768: 64 splits in
 * 1.3 waves ran at 60% of copy (bench/results/attention.json). */
enum { MAX_SPLITS = 256 };
/* The decode forward's K / V pipeline: stages and keys a tile (docs/attention.md, "Decode"). */
enum { DECODE_STAGES = 3, DECODE_BN = 64 };
/* How the split decode forward merges its splits: a combine kernel (0), the forward's last CTA of
 * each tile (1, "fused"), or a cluster of the tile's splits over distributed shared memory (2,
 * "cluster", sm_90+): docs/attention.md, "Decode"; BARACUDA_ATTN_DECODE_MERGE overrides it. */
enum { DECODE_MERGE = 0 };
static const char *const merge_names[] = {"kernel", "fused", "cluster"};
static int64_t decode_splits(int64_t ctas, int64_t ntiles, int64_t slots) {
    int64_t cap = ntiles < MAX_SPLITS ? ntiles : MAX_SPLITS, best = 1;
    double best_fill = 0;
    if (ctas < 1 || cap < 1) return 1;
    for (int64_t k = 1; k <= 4; k++) {
        int64_t n = k * slots / ctas;
        if (n > cap) n = cap;
        if (n < 1) continue;
        int64_t waves = (ctas * n + slots - 1) / slots;
        double fill = (double)(ctas * n) / (double)(waves * slots);
        if (fill > best_fill + 1e-9) best_fill = fill, best = n;
        if (fill >= 0.9) return n;
    }
    return best;
}

static bool head_dim_ok(int64_t d) { return d == 32 || d == 64 || d == 96 || d == 128 || d == 192 || d == 256; }

/* Shared memory of the atomic backward kernels: K, V (bnk rows each: 16 kt warps keys, or 8 kt
 * warps with warp pairs), stages x (Q, dO) of bq rows, nss x dS (bnk x (bq + 8)), with warp pairs
 * the P hand-over (bnk x bq f32), stages x (lse, dsum). */
static int bwd_smem(int d, int pairs, int warps, int kt, int bq, int stages, int nss) {
    const int bnk = (pairs ? 8 : 16) * kt * warps;
    return (2 * bnk + 2 * stages * bq) * (d + 8) * 2 + nss * bnk * (bq + 8) * 2 + (pairs ? bnk * bq * 4 : 0) +
           2 * stages * bq * 4;
}

/* The atomic backward's kernel and tile shape (plan time, from the head dim and the arch only,
 * so that a descriptor rebuilds it): the first of a preference list that fits the arch's shared
 * memory. `bwd` (pairs = 0): each warp owns 16 kt keys and accumulates their dK and dV; `bwdp`
 * (pairs = 1): the warps come in pairs that share 16 kt keys, one computing P and dV, the other
 * dS and dK (each holds half the accumulators: 32 keys a warp at D = 128). A query tile of bq
 * rows is worked in column blocks of bn queries (the live S / dP accumulators); the dQ product
 * splits the bq / 16 m-tiles times column blocks of a multiple of 16 columns over the warps. With
 * two dS buffers (qreg = 1 in the kernel's specialization) the dQ product of a tile is deferred
 * into the next one: one CTA barrier a tile. BARACUDA_ATTN_BWD_SHAPE = i starts the list at its
 * entry i (measurements only). Measured on the H100: docs/attention.md ("Backward speed (attnb3)"). */
static brc_status bwd_shape(const brc_context *ctx, int d, attn_cfg *c, int *pairs_out) {
    /* pairs, warps, kt (m16 key tiles a warp), bq, stages, bn (queries a column block), dS buffers */
    static const int d64[][7] = {{0, 4, 2, 64, 2, 32, 2}, {0, 8, 2, 64, 2, 32, 2}, {0, 8, 1, 128, 2, 64, 2},
                                 {0, 8, 2, 64, 2, 16, 2}, {1, 8, 2, 64, 2, 64, 2}, {0, 8, 1, 64, 2, 32, 2},
                                 {0, 8, 1, 64, 1, 32, 1}, {0, 4, 1, 64, 1, 32, 1}, {0, 4, 1, 32, 1, 32, 1}};
    static const int d128[][7] = {{1, 8, 2, 64, 2, 32, 2}, {0, 8, 1, 64, 2, 32, 2}, {1, 8, 2, 64, 2, 32, 1},
                                  {0, 8, 1, 64, 2, 32, 1}, {0, 8, 1, 64, 1, 32, 1}, {0, 4, 1, 64, 1, 32, 1},
                                  {0, 4, 1, 32, 1, 32, 1}};
    static const int d256[][7] = {{0, 8, 1, 32, 2, 32, 2}, {1, 8, 1, 32, 2, 32, 2}, {0, 8, 1, 32, 2, 32, 1},
                                  {0, 8, 1, 32, 1, 32, 1}, {0, 4, 1, 32, 1, 32, 1}};
    const int(*cand)[7] = d <= 64 ? d64 : d <= 128 ? d128 : d256;
    const int n = d <= 64 ? 9 : d <= 128 ? 7 : 5;
    for (int i = brc__knob("BARACUDA_ATTN_BWD_SHAPE", 0, n - 1, 0); i < n; i++) {
        const int pairs = cand[i][0], w = cand[i][1], kt = cand[i][2], bq = cand[i][3], stages = cand[i][4];
        const int nss = cand[i][6], mq = bq / 16, smem = bwd_smem(d, pairs, w, kt, bq, stages, nss);
        if (w % mq || (d / (w / mq)) % 16 || smem > smem_cap(ctx)) continue;
        *c = (attn_cfg){.warps = w, .mtiles = kt, .stages = stages, .bq = bq, .bn = cand[i][5], .qreg = nss - 1,
                        .which = pairs || d < 192 ? 3 : 2, .threads = 32 * w, .smem = smem};
        *pairs_out = pairs;
        return BRC_STATUS_OK;
    }
    return brc__error(BRC_STATUS_UNSUPPORTED, "brc_attention_plan: no backward tile of head dim %d fits %s", d,
                      ctx->arch);
}

/* ---- the Hopper forward --------------------------------------------------------------------------------- */

/* Whether the wgmma forward (attention_sm90.cuh) can take a problem: an sm_90 context (the kernel
 * is sm_90a code), head dims of whole 64-column atoms, and the strides a tensor map can hold
 * (positive below 2^40 bytes, on every dim longer than 1). nb, tq, tk: the maps' batches and rows
 * (varlen: 1 and the packed tensors' rows). */
static bool hopper_fits(const brc_context *ctx, const attn_args *a, int64_t D, int64_t nb, int64_t tq, int64_t tk) {
    if (ctx->sm_major != 9 || ctx->sm_minor != 0 || (D != 64 && D != 128 && D != 256) || a->Sq < 1 || a->Sk < 1 ||
        tq < 1 || tk < 1)
        return false;
    const int64_t *str[3] = {a->q_s, a->k_s, a->v_s};
    for (int t = 0; t < 3; t++) {
        const int64_t len[3] = {nb, t ? tk : tq, t ? a->Hkv : a->H};
        for (int i = 0; i < 3; i++)
            if (len[i] > 1 && (str[t][i] <= 0 || str[t][i] >= ((int64_t)1 << 39))) return false;
    }
    return true;
}

/* The map of a [B, S, H, D] operand as dims (D, S, H, B), boxes of 64 columns by rows, the
 * 128-byte swizzle, zeros past the ends; at a placeholder address that run replaces. A dim of
 * length 1 gets a stride the encoder accepts (it is never stepped). */
static brc_status hopper_map(CUtensorMap *m, brc_dtype dt, int64_t D, int64_t S, int64_t H, int64_t B,
                             const int64_t str[3], int rows) {
    const cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)S, (cuuint64_t)H, (cuuint64_t)B};
    const int64_t el[3] = {str[1], str[2], str[0]}, len[3] = {S, H, B};
    cuuint64_t strides[3];
    for (int i = 0; i < 3; i++) strides[i] = len[i] > 1 ? (cuuint64_t)el[i] * 2 : (cuuint64_t)D * 2;
    const cuuint32_t box[4] = {64, (cuuint32_t)rows, 1, 1}, estr[4] = {1, 1, 1, 1};
    CUresult r = brc__cu()->cuTensorMapEncodeTiled(
        m, dt == BRC_F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
        (void *)(uintptr_t)0x100000, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "brc_attention_plan: cuTensorMapEncodeTiled: %s",
                          brc__cu_errname(r));
    return BRC_STATUS_OK;
}

/* The f32 dQ accumulator of the Hopper backward's bulk reductions: [heads][S][D] (head = b H + h),
 * boxes of 32 columns (128 bytes, swizzled) x 64 rows; rows past S are out of the map. */
static brc_status dq_map(CUtensorMap *m, int64_t D, int64_t S, int64_t heads) {
    const cuuint64_t dims[3] = {(cuuint64_t)D, (cuuint64_t)S, (cuuint64_t)heads};
    const cuuint64_t strides[2] = {(cuuint64_t)D * 4, (cuuint64_t)(S * D * 4)};
    const cuuint32_t box[3] = {32, 64, 1}, estr[3] = {1, 1, 1};
    CUresult r = brc__cu()->cuTensorMapEncodeTiled(
        m, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 3, (void *)(uintptr_t)0x100000, dims, strides, box, estr,
        CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_NONE,
        CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "brc_attention_plan: cuTensorMapEncodeTiled (dQ): %s",
                          brc__cu_errname(r));
    return BRC_STATUS_OK;
}

/* The Hopper kernels' scheduling group (attn_args.group): heads a group of the 1-D grid, whose
 * CTAs walk a group's tiles long to short with its heads fastest (the last group may be partial);
 * 0 keeps the 3-D grid (tiles fastest, one head at a time). dflt: 8 for the causal forward at
 * D <= 128 (H100, bench/sweep_attn_fwd.py, three runs: D = 64 +4-5%, D = 128 +0-1%; the
 * non-causal forward and the backward lost or moved within the spread: docs/attention-hopper.md
 * section 11), 4 for the causal forward at D = 256 (two sweeps: 2028.0 -> 1904.5 us and 1958.9 ->
 * 1942.3; G = 2 and 8 between; the D = 256 backward: causal +2% at G = 2 / 4, non-causal 2-7%
 * slower, so it keeps the 3-D grid), else 0. BARACUDA_ATTN_GROUP overrides it (0-64). */
static int64_t sched_group(int64_t heads, int64_t tiles, int dflt) {
    const int g = brc__knob("BARACUDA_ATTN_GROUP", 0, 64, dflt);
    return heads * tiles > INT32_MAX ? 0 : g;
}

/* BARACUDA_ATTENTION_PATH: "wgmma" (the Hopper kernels where they fit: the default), "mma" (the
 * mma.sync kernels everywhere). 1, 0, or -1 for another value. */
static int path_knob(void) {
    const char *v = getenv("BARACUDA_ATTENTION_PATH");
    if (!v || !*v) return 1;
    return !strcmp(v, "wgmma") ? 1 : !strcmp(v, "mma") ? 0 : -1;
}

/* Whether the wgmma backward (attention_sm90_bwd.cuh) can take a problem: what the Hopper forward
 * needs (head dim 64, 128 or 256; at 256 dV and dK take a launch each), fixed lengths, and a dO a
 * tensor map can hold. The default for the atomic backward there (1.27-1.43x the
 * mma.sync one on the H100); BARACUDA_ATTENTION_PATH=mma keeps the mma.sync one. */
static bool hopper_bwd_fits(const brc_context *ctx, const attn_args *a, int64_t D, int vl) {
    if (vl || !hopper_fits(ctx, a, D, a->B, a->Sq, a->Sk)) return false;
    const int64_t len[3] = {a->B, a->Sq, a->H};
    for (int i = 0; i < 3; i++)
        if (len[i] > 1 && (a->do_s[i] <= 0 || a->do_s[i] >= ((int64_t)1 << 39))) return false;
    return true;
}

/* ---- plan ---------------------------------------------------------------------------------------------- */

static brc_status plan_impl(brc_context *ctx, const brc_attention_desc *d, int force_decode, int force_split,
                            int force_merge, brc_plan **out) {
    static const char *fn = "brc_attention_plan";
    brc_status st;
    if (d->kind != BRC_ATTENTION_FORWARD && d->kind != BRC_ATTENTION_BACKWARD)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not an attention kind", fn, (int)d->kind);
    const bool bwd = d->kind == BRC_ATTENTION_BACKWARD;
    const brc_dtype dt = d->q.dtype;
    if (dt != BRC_F16 && dt != BRC_BF16 && dt != BRC_F32)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: q has dtype %s; attention takes f16, bf16 or f32", fn,
                          brc_dtype_name(dt));
    if (ctx->sm_major < 8)
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: attention needs sm_80 or newer (the context is %s)", fn,
                          ctx->arch);
    if (d->varlen != 0 && d->varlen != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: varlen = %d must be 0 or 1", fn, d->varlen);
    const int vl = d->varlen;
    attn_args a;
    memset(&a, 0, sizeof a);
    shape4 qs, ks, vs, os;
    if ((st = check_bshd(&d->q, "q", dt, vl, &qs, a.q_s)) || (st = check_bshd(&d->k, "k", dt, vl, &ks, a.k_s)) ||
        (st = check_bshd(&d->v, "v", dt, vl, &vs, a.v_s)) || (st = check_bshd(&d->o, "o", dt, vl, &os, a.o_s)))
        return st;
    if (!head_dim_ok(qs.d))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: head dim %lld is not one of 32, 64, 96, 128, 192, 256", fn,
                          (long long)qs.d);
    if (!same4(ks, (shape4){qs.b, ks.s, ks.h, qs.d})) return shape_error("k", ks, (shape4){qs.b, ks.s, ks.h, qs.d});
    if (!same4(vs, ks)) return shape_error("v", vs, ks);
    if (!same4(os, qs)) return shape_error("o", os, qs);
    if (ks.h < 1 || qs.h % ks.h)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: q has %lld heads, not a multiple of k's %lld", fn,
                          (long long)qs.h, (long long)ks.h);
    if (bwd) {
        shape4 s;
        if ((st = check_bshd(&d->dout, "dout", dt, vl, &s, a.do_s))) return st;
        if (!same4(s, qs)) return shape_error("dout", s, qs);
        if ((st = check_bshd(&d->dq, "dq", dt, vl, &s, a.dq_s))) return st;
        if (!same4(s, qs)) return shape_error("dq", s, qs);
        if ((st = check_bshd(&d->dk, "dk", dt, vl, &s, a.dk_s))) return st;
        if (!same4(s, ks)) return shape_error("dk", s, ks);
        if ((st = check_bshd(&d->dv, "dv", dt, vl, &s, a.dv_s))) return st;
        if (!same4(s, ks)) return shape_error("dv", s, ks);
    }
    int64_t B = qs.b, H = qs.h, Hkv = ks.h, D = qs.d, Sq = qs.s, Sk = ks.s, tq = 0;
    if (vl) {
        if (d->batch < 1 || d->max_seqlen_q < 0 || d->max_seqlen_k < 0 || d->batch > (1 << 24))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: varlen needs batch >= 1 and max_seqlen_q, max_seqlen_k >= 0 (got %lld, %lld, %lld)",
                              fn, (long long)d->batch, (long long)d->max_seqlen_q, (long long)d->max_seqlen_k);
        tq = qs.s;
        B = d->batch, Sq = d->max_seqlen_q, Sk = d->max_seqlen_k;
    }
    /* The kernels index a sequence with 32-bit ints; B and the heads are grid dims. */
    if (Sq > INT32_MAX || Sk > INT32_MAX || tq > INT32_MAX || B > 65535 || H > 65535)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: lengths must be below 2^31 and B, H at most 65535 (got Sq %lld, Sk %lld, B %lld, H %lld)",
                          fn, (long long)Sq, (long long)Sk, (long long)B, (long long)H);
    /* lse: f32 [B, H, Sq] (varlen [H, Tq]) */
    {
        char what[64];
        snprintf(what, sizeof what, "%s: lse", fn);
        if ((st = brc__tensor_check(&d->lse, what))) return st;
        const brc_tensor_desc *l = &d->lse;
        if (l->dtype != BRC_F32)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: lse has dtype %s, f32 expected", fn,
                              brc_dtype_name(l->dtype));
        bool ok = vl ? l->rank == 2 && l->shape[0] == H && l->shape[1] == tq
                     : l->rank == 3 && l->shape[0] == B && l->shape[1] == H && l->shape[2] == Sq;
        if (!ok)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: lse must be %s", fn,
                              vl ? "[H, Tq] (Tq = q's rows)" : "[B, H, Sq]");
        a.l_s[0] = vl ? 0 : l->strides[0];
        a.l_s[1] = l->strides[vl ? 0 : 1], a.l_s[2] = l->strides[vl ? 1 : 2];
    }
    /* mask */
    int mt = -1;
    if (d->has_mask != 0 && d->has_mask != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: has_mask = %d must be 0 or 1", fn, d->has_mask);
    if (d->has_mask) {
        if (vl) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: a mask cannot be used with varlen", fn);
        const brc_tensor_desc *m = &d->mask;
        char what[64];
        snprintf(what, sizeof what, "%s: mask", fn);
        if ((st = brc__tensor_check(m, what))) return st;
        if (m->dtype != BRC_F32 && m->dtype != BRC_F16 && m->dtype != BRC_BF16 && m->dtype != BRC_BOOL)
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: mask has dtype %s (f32, f16, bf16 or bool)", fn,
                              brc_dtype_name(m->dtype));
        if (m->rank != 4 || (m->shape[0] != 1 && m->shape[0] != B) || (m->shape[1] != 1 && m->shape[1] != H) ||
            m->shape[2] != Sq || m->shape[3] != Sk)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: mask must be [1 or %lld, 1 or %lld, %lld, %lld]", fn,
                              (long long)B, (long long)H, (long long)Sq, (long long)Sk);
        for (int i = 0; i < 4; i++) a.m_s[i] = m->shape[i] == 1 ? 0 : m->strides[i];
        mt = m->dtype;
    }
    if (d->has_alibi != 0 && d->has_alibi != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: has_alibi = %d must be 0 or 1", fn, d->has_alibi);
    if (d->has_alibi) {
        const brc_tensor_desc *s = &d->alibi;
        char what[64];
        snprintf(what, sizeof what, "%s: alibi", fn);
        if ((st = brc__tensor_check(s, what))) return st;
        bool ok = s->dtype == BRC_F32 && ((s->rank == 1 && s->shape[0] == H) ||
                                          (s->rank == 2 && s->shape[0] == B && s->shape[1] == H)) &&
                  (H == 1 || s->strides[s->rank - 1] == 1);
        if (!ok)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: alibi must be f32 [H] or [B, H] with a dense last dim",
                              fn);
        a.a_sb = s->rank == 2 && B > 1 ? s->strides[0] : 0;
    }
    if (d->causal != 0 && d->causal != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: causal = %d must be 0 or 1", fn, d->causal);
    if (d->deterministic != 0 && d->deterministic != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: deterministic = %d must be 0 or 1", fn, d->deterministic);
    if (d->window_left < -1 || d->window_right < -1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: window (%lld, %lld): each must be -1 (unbounded) or >= 0",
                          fn, (long long)d->window_left, (long long)d->window_right);
    if (d->causal && d->window_right > 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: causal with window_right = %lld (causal means 0)", fn,
                          (long long)d->window_right);
    a.wl = d->window_left, a.wr = d->causal ? 0 : d->window_right;
    if (!(d->scale >= 0) || !isfinite(d->scale))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: scale = %g must be finite and >= 0 (0: 1/sqrt(D))", fn,
                          d->scale);
    if (!(d->softcap >= 0) || !isfinite(d->softcap))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: softcap = %g must be finite and >= 0", fn, d->softcap);
    if (!(d->dropout_p >= 0 && d->dropout_p < 1))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dropout_p = %g is outside [0, 1)", fn, d->dropout_p);
    a.scale = d->scale > 0 ? d->scale : 1.0 / sqrt((double)D);
    a.softcap = d->softcap;
    a.p_drop = d->dropout_p;
    a.rkeep = 1.0 / (1.0 - d->dropout_p);
    a.B = B, a.H = H, a.Hkv = Hkv, a.Sq = Sq, a.Sk = Sk, a.tq = tq;
    a.jblocks = (Sk + 3) / 4;

    attn_feat f = {.dt = dt, .d = (int)D, .softcap = d->softcap > 0, .alibi = d->has_alibi,
                   .mask = mt < 0 ? 0 : (mt == BRC_BOOL ? 2 : 1), .dropout = d->dropout_p > 0, .varlen = vl, .mt = mt};
    const int64_t rows_total = vl ? H * tq : B * H * Sq;
    const int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    const int64_t grp = H / Hkv;

    brc_plan *p = NULL;
    brc__str desc = {0}, sku = {0};
    if ((st = brc__plan_new(ctx, BRC__FAM_ATTENTION, &attn_vt, sizeof(attn_impl), &p))) return st;
    attn_impl *im = p->impl;
    im->kind = d->kind;
    im->f = f;
    size_t ws = 0;
    const int ld = (int)D + 8;
    const int knob = path_knob();
    if (knob < 0) {
        st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: BARACUDA_ATTENTION_PATH=%s (wgmma or mma)", fn,
                        getenv("BARACUDA_ATTENTION_PATH"));
        goto fail;
    }
    const bool f32 = dt == BRC_F32;
    const bool hopper = !bwd && !f32 && (force_decode == 2 || (force_decode < 0 && knob && grp * Sq > 64)) &&
                        hopper_fits(ctx, &a, D, vl ? 1 : B, vl ? tq : Sq, vl ? ks.s : Sk);
    /* det = 1 on the Hopper backward: its dQ tensor reductions in key-tile order (D = 64, 128;
     * BARACUDA_ATTN_WGMMA_BWD_DET=0 or BARACUDA_ATTN_WGMMA_BWD_DQ=0 keep the mma.sync kernels) */
    const bool ordered = bwd && d->deterministic && (D == 64 || D == 128) &&
                         brc__knob("BARACUDA_ATTN_WGMMA_BWD_DET", 0, 1, 1) &&
                         brc__knob("BARACUDA_ATTN_WGMMA_BWD_DQ", 0, 1, 1);
    const bool hopper_b = bwd && !f32 && (!d->deterministic || ordered) &&
                          (force_decode == 2 || (force_decode < 0 && knob)) && hopper_bwd_fits(ctx, &a, D, vl);
    if (force_decode == 2 && bwd && !hopper_b) {
        st = brc__error(BRC_STATUS_UNSUPPORTED,
                        "%s: a path=wgmma backward needs an sm_90 context, head dim 64, 128 or 256 (det=0) or 64 or "
                        "128 (det=1), and no varlen (%s, d=%lld)",
                        fn, ctx->arch, (long long)D);
        goto fail;
    }
    if (force_decode == 2 && !bwd && !hopper) {
        st = brc__error(BRC_STATUS_UNSUPPORTED,
                        "%s: path=wgmma needs an sm_90 context and head dim 64, 128 or 256 (%s, d=%lld)", fn,
                        ctx->arch, (long long)D);
        goto fail;
    }
    if (f32) {
        /* The f32 path (attention_f32.cuh): 128-thread CTAs of 16 rows of 8 lanes (8 of 16 lanes
         * above D = 128), tiles of 32 rows of the other operand in shared memory; the backward is
         * the deterministic pair. */
        a.gp = 1, a.nsplit = 1;
        const int tile = 2 * 32 * (int)D * 4, rows = D > 128 ? 8 : 16;
        if (!bwd) {
            im->cfg[K_FWD32] = (attn_cfg){.warps = 4, .bn = 32, .threads = 128, .smem = tile};
            im->used[K_FWD32] = true;
            im->grid[K_FWD32][0] = (unsigned)((Sq + rows - 1) / rows), im->grid[K_FWD32][1] = (unsigned)H;
            im->grid[K_FWD32][2] = (unsigned)B;
        } else {
            im->cfg[K_DSUM] = (attn_cfg){.threads = 256};
            im->used[K_DSUM] = true;
            im->grid[K_DSUM][0] = (unsigned)((Sq + 7) / 8), im->grid[K_DSUM][1] = (unsigned)H;
            im->grid[K_DSUM][2] = (unsigned)B;
            im->cfg[K_DQ32] = (attn_cfg){.warps = 4, .bn = 32, .threads = 128, .smem = tile};
            im->used[K_DQ32] = true;
            im->grid[K_DQ32][0] = (unsigned)((Sq + rows - 1) / rows), im->grid[K_DQ32][1] = (unsigned)H;
            im->grid[K_DQ32][2] = (unsigned)B;
            im->cfg[K_DKDV32] = (attn_cfg){.warps = 4, .bq = 32, .threads = 128, .smem = tile + 2 * 32 * 4};
            im->used[K_DKDV32] = true;
            im->grid[K_DKDV32][0] = (unsigned)((Sk + rows - 1) / rows), im->grid[K_DKDV32][1] = (unsigned)Hkv;
            im->grid[K_DKDV32][2] = (unsigned)B;
            ws = (size_t)rows_total * 4; /* dsum */
        }
    } else if (hopper) {
        /* 1 + NC warpgroups (a producer, NC consumers of 64 query rows), BN keys a tile, STAGES K / V
         * buffers; the first that fits the shared memory. */
        attn_cfg *c = &im->cfg[K_FWDH];
        /* Consumer warpgroups: a rebuilt descriptor's (its warps, passed in force_split), else the
         * knob's; 3 at D = 64 (BM = 192: 1.05x cuDNN against 0.98x with 2 in one H100 sweep) unless
         * dropout, softcap, ALiBi or a mask add live state: at three's 160 registers a consumer
         * those spilled 216-304 bytes. */
        const bool lean = !f.dropout && !f.softcap && !f.alibi && !f.mask;
        const int nc = force_decode == 2 && force_split >= 2 && force_split <= 3
                           ? force_split
                           : brc__knob("BARACUDA_ATTN_WGMMA_NC", 2, 3, D == 64 && lean ? 3 : 2);
        const int at = (int)D / 64, bm = 64 * nc;
        int bn = brc__knob("BARACUDA_ATTN_WGMMA_BN", 64, 128, D == 256 ? 64 : 128);
        bn = bn > 80 ? 128 : bn > 64 ? 80 : 64;
        int stages = brc__knob("BARACUDA_ATTN_WGMMA_STAGES", 1, 4, D == 256 ? 2 : 3);
        while (stages > 1 && 1024 + at * (bm + 2 * stages * bn) * 128 > smem_cap(ctx)) stages--;
        if (1024 + at * (bm + 2 * stages * bn) * 128 > smem_cap(ctx)) bn = 64;
        /* The consumers' schedule: bit 0 the intra-warpgroup overlap, bit 1 ping-pong. The H100
         * sweep (bench/sweep_attn_fwd.py, docs/attention-hopper.md): the overlap with 3 stages at
         * D = 64 / 128, neither at D = 256 (its 2 stages leave the overlap waiting); ping-pong
         * never paid. */
        const int sched = brc__knob("BARACUDA_ATTN_WGMMA_SCHED", 0, 3, D == 256 ? 0 : 1);
        /* Persistent CTAs (qreg bit 1; attention_sm90.cuh, PERSIST): fixed lengths, no ping-pong;
         * BARACUDA_ATTN_PERSIST=1 (a measurement knob): one CTA an SM; N >= 2: N CTAs (tests). */
        const int pknob = brc__knob("BARACUDA_ATTN_PERSIST", 0, 4096, 0);
        const int persist = !vl && !(sched >> 1) && (Sq + bm - 1) / bm * H * B <= INT32_MAX && pknob > 0;
        *c = (attn_cfg){.warps = 4 * (1 + nc), .mtiles = 1, .stages = stages, .bn = bn, .qreg = (sched & 1) | persist << 1,
                        .which = sched >> 1, .threads = 128 * (1 + nc), .smem = 1024 + at * (bm + 2 * stages * bn) * 128};
        a.gp = 1, a.nsplit = 1;
        im->used[K_FWDH] = true;
        im->grid[K_FWDH][0] = (unsigned)((Sq + bm - 1) / bm);
        im->grid[K_FWDH][1] = (unsigned)H, im->grid[K_FWDH][2] = (unsigned)B;
        if (!vl && (a.group = sched_group(B * H, (Sq + bm - 1) / bm, !d->causal ? 0 : D <= 128 ? 8 : 4)))
            im->grid[K_FWDH][0] *= (unsigned)(H * B), im->grid[K_FWDH][1] = im->grid[K_FWDH][2] = 1;
        if (persist) {
            /* one CTA an SM (the shared memory allows no more), each walking tiles v, v + grid, ... */
            const int64_t tiles = (Sq + bm - 1) / bm * H * B, ctas = pknob > 1 ? pknob : sms;
            im->grid[K_FWDH][0] = (unsigned)(tiles < ctas ? tiles : ctas), im->grid[K_FWDH][1] = im->grid[K_FWDH][2] = 1;
        }
        if (ctx->device >= 0 &&
            ((st = hopper_map(&im->maps[0], dt, D, vl ? tq : Sq, H, vl ? 1 : B, a.q_s, bm)) ||
             (st = hopper_map(&im->maps[1], dt, D, vl ? ks.s : Sk, Hkv, vl ? 1 : B, a.k_s, bn)) ||
             (st = hopper_map(&im->maps[2], dt, D, vl ? ks.s : Sk, Hkv, vl ? 1 : B, a.v_s, bn))))
            goto fail;
    } else if (!bwd) {
        bool decode = force_decode >= 0 ? force_decode : grp * Sq <= 64;
        im->decode = decode;
        attn_cfg *c = &im->cfg[K_FWD];
        /* Shapes in order of preference; the first whose shared memory fits the arch wins. Two
         * m16 tiles a warp where the accumulators fit (each K / V fragment read from shared memory
         * then feeds two MMAs), double-buffered K / V where the memory allows. */
        int64_t rows = decode ? grp * Sq : Sq;
        int dw = (int)((rows + 15) / 16);
        dw = dw < 1 ? 1 : dw > 4 ? 4 : dw;
        /* Decode: a deeper K / V pipeline first where two CTAs an SM still fit (sm_90 at D <= 128,
         * sm_80 at D <= 96; measured on the H100 at D = 128 only), else two stages as before;
         * BARACUDA_ATTN_DECODE_STAGES and BARACUDA_ATTN_DECODE_BN override its depth and tile width
         * (measurements only). */
        const bool dknob = getenv("BARACUDA_ATTN_DECODE_STAGES") || getenv("BARACUDA_ATTN_DECODE_BN");
        const int dst = decode ? brc__knob("BARACUDA_ATTN_DECODE_STAGES", 2, 8, DECODE_STAGES) : 2;
        const int dbn = decode ? brc__knob("BARACUDA_ATTN_DECODE_BN", 32, 64, DECODE_BN) > 32 ? 64 : 32 : 64;
        const int cand[][4] = {/* warps, m-tiles, stages, bn */
                               {4, 2, 2, 64}, {4, 2, 1, 64}, {8, 1, 2, 64}, {8, 1, 1, 64}, {4, 1, 1, 64},
                               {4, 1, 1, 32}, {dw, 1, dst, dbn}, {dw, 1, 2, 64}, {dw, 1, 1, 64}, {dw, 1, 1, 32}};
        int first = decode ? 6 : D <= 128 ? 0 : 2, ncand = (int)(sizeof cand / sizeof cand[0]);
        if (!decode) ncand = 6;
        int pick = -1;
        for (int i = first; i < ncand && pick < 0; i++) {
            const int sm = (16 * cand[i][0] * cand[i][1] + 2 * cand[i][2] * cand[i][3]) * ld * 2;
            if (sm > smem_cap(ctx)) continue;
            if (decode && i == 6 && !dknob && (smem_kib(ctx) + 1) * 1024 / (sm + 1024) < 2) continue;
            pick = i;
        }
        if (pick < 0) pick = ncand - 1;
        c->warps = cand[pick][0], c->mtiles = cand[pick][1], c->stages = cand[pick][2], c->bn = cand[pick][3];
        c->qreg = D <= 128;
        const int bm = 16 * c->warps * c->mtiles;
        const int64_t mtiles = (rows + bm - 1) / bm;
        c->threads = 32 * c->warps;
        c->smem = (16 * c->warps * c->mtiles + 2 * c->stages * c->bn) * ld * 2;
        if (decode) {
            /* force_split < 0: one split (the descriptor's split=0). One split writes O itself: no
             * combine, no workspace. */
            a.gp = grp;
            if (!force_split) force_split = brc__knob("BARACUDA_ATTN_DECODE_SPLIT", 0, MAX_SPLITS, 0);
            a.nsplit = force_split < 0 ? 1
                       : force_split > 0 ? force_split
                                         : decode_splits(B * Hkv * mtiles, (Sk + c->bn - 1) / c->bn,
                                                         (int64_t)sms * ctas_per_sm(ctx, c));
            /* The merge of the splits (force_merge: a descriptor's merge key; -1: the default or
             * its knob). Fused: where the merge's shared memory (row offsets, the weights of a
             * tile's rows, their f32 sums and one split of them staged: attn_split_merge, at the
             * most rows a tile holds, so that a descriptor rebuilds the same choice) fits the CTA's.
             * Cluster: at most 16 splits (8, the portable size, where one CTA takes an SM), a
             * tile's rows of f32 in each CTA's shared memory. */
            const int mg = force_merge >= 0 ? force_merge
                                            : brc__knob("BARACUDA_ATTN_DECODE_MERGE", 0, 2, DECODE_MERGE);
            if (mg == 2 && ctx->sm_major >= 9 && force_split == 0) {
                const int64_t cap = ctas_per_sm(ctx, c) >= 2 ? 16 : 8;
                if (a.nsplit > cap) a.nsplit = cap;
            }
            c->split = a.nsplit > 1;
            const int64_t need = 24 * bm + 4 * ((bm * a.nsplit + 3) / 4 * 4) + 8 * bm * D;
            if (c->split && mg == 1 && need <= c->smem) c->split = 2, im->fused = true;
            if (c->split && mg == 2 && ctx->sm_major >= 9 && a.nsplit <= 16 && 4 * bm * (D + 1) <= c->smem)
                c->split = 3, im->cluster = true;
            im->grid[K_FWD][1] = (unsigned)Hkv;
        } else {
            a.gp = 1, a.nsplit = 1;
            im->grid[K_FWD][1] = (unsigned)H;
        }
        im->grid[K_FWD][0] = (unsigned)(mtiles * a.nsplit);
        im->grid[K_FWD][2] = (unsigned)B;
        im->used[K_FWD] = true;
        if (im->cluster) {
            /* no workspace: the partials stay in the cluster's shared memory */
        } else if (im->fused) {
            ws = (size_t)(a.nsplit * rows_total * D * 4);
            im->part_lse_off = ws;
            ws += (size_t)(a.nsplit * rows_total * 4);
            im->ctr_off = (ws + 15) / 16 * 16;
            im->ctr_count = (size_t)(mtiles * Hkv * B);
            ws = im->ctr_off + im->ctr_count * 4;
        } else if (c->split) {
            attn_cfg *cc = &im->cfg[K_COMBINE];
            cc->threads = 256;
            im->used[K_COMBINE] = true;
            im->pdl = ctx->sm_major >= 9 && brc__knob("BARACUDA_ATTN_COMBINE_PDL", 0, 1, 1);
            im->grid[K_COMBINE][0] = (unsigned)(rows_total < (1 << 20) ? rows_total : (1 << 20)); /* a CTA a row */
            im->grid[K_COMBINE][1] = im->grid[K_COMBINE][2] = 1;
            ws = (size_t)(a.nsplit * rows_total * D * 4);
            im->part_lse_off = ws;
            ws += (size_t)(a.nsplit * rows_total * 4);
        }
    } else if (!d->deterministic || hopper_b) {
        /* FlashAttention-2's scheme: one kernel a key tile; dQ summed with atomics in f32 (det = 1
         * on Hopper: in key-tile order). */
        a.gp = 1, a.nsplit = 1;
        im->atomic = !d->deterministic;
        im->ordered = d->deterministic;
        attn_cfg *c = &im->cfg[K_DSUMZ];
        c->threads = 256;
        im->used[K_DSUMZ] = true;
        im->grid[K_DSUMZ][0] = (unsigned)((Sq + 7) / 8), im->grid[K_DSUMZ][1] = (unsigned)H,
        im->grid[K_DSUMZ][2] = (unsigned)B;
        attn_cfg bc;
        int pairs = 0;
        if (hopper_b) {
            /* 3 warpgroups (a producer, two consumers of 64 keys), BQ queries a tile (64 at D = 128
             * and 256, 128 at D = 64), STAGES Q / dO buffers; K, V, the Q and dO ring and two dS^T
             * buffers. D = 256: dV in a launch of its own (which = 1: K and the ring only), then dK
             * and dQ (which = 2) with one Q / dO buffer (224 KiB). */
            const int at = (int)D / 64, bm = D == 64 ? 128 : 64, bnk = 128, split = D == 256;
            const int kids[2] = {K_BWDH, K_BWDH2};
            a.group = sched_group(B * Hkv, (Sk + bnk - 1) / bnk, 0);
            for (int pass = 0; pass <= split; pass++) {
                const int which = split ? 2 - pass : 3, dk = which >> 1;
                int fixed = 1024 + (at * bnk * (1 + dk) + (dk ? 2 * bnk * (bm / 64) : 0)) * 128;
                int stages = brc__knob("BARACUDA_ATTN_WGMMA_BWD_STAGES", 1, 4, 2);
                /* dQ staged in shared memory and added by tensor reductions (the 64 x 64 f32 block
                 * each consumer warpgroup owns), where that fits beside 2 stages (D = 64, 128; not
                 * 256): the default, 1.09-1.23x the f32 reductions from registers on the H100
                 * (docs/attention-hopper.md section 11); BARACUDA_ATTN_WGMMA_BWD_DQ=0 keeps those. */
                const int stage_dq = dk ? 2 * ((bm / 64) * at / 2) * 64 * 256 : 0;
                int bulk = dk ? brc__knob("BARACUDA_ATTN_WGMMA_BWD_DQ", 0, 1, 1) : 0;
                /* (det = 1 is planned here only where the staging fits: D = 64, 128) */
                if (bulk && fixed + stage_dq + 2 * 2 * at * bm * 128 + 16 * bm > smem_cap(ctx)) bulk = 0;
                if (bulk) fixed += stage_dq;
                /* dynamic, plus the static lse / dsum rows of each stage */
                while (stages > 1 && fixed + 2 * stages * at * bm * 128 + 8 * stages * bm > smem_cap(ctx)) stages--;
                attn_cfg *hc = &im->cfg[kids[pass]];
                *hc = (attn_cfg){.warps = 12, .mtiles = 1, .stages = stages, .bq = bm, .bn = bnk, .which = which,
                                 .qreg = brc__knob("BARACUDA_ATTN_WGMMA_BWD_OVL", 0, 1, 0) | bulk << 1 |
                                         (im->ordered && bulk) << 2,
                                 .threads = 384, .smem = fixed + 2 * stages * at * bm * 128};
                im->used[kids[pass]] = true;
                im->grid[kids[pass]][0] = (unsigned)((Sk + bnk - 1) / bnk), im->grid[kids[pass]][1] = (unsigned)Hkv,
                im->grid[kids[pass]][2] = (unsigned)B;
                if (a.group)
                    im->grid[kids[pass]][0] *= (unsigned)(Hkv * B), im->grid[kids[pass]][1] = im->grid[kids[pass]][2] = 1;
            }
            if (ctx->device >= 0 &&
                ((st = hopper_map(&im->maps[0], dt, D, Sq, H, B, a.q_s, bm)) ||
                 (st = hopper_map(&im->maps[1], dt, D, Sk, Hkv, B, a.k_s, bnk)) ||
                 (st = hopper_map(&im->maps[2], dt, D, Sk, Hkv, B, a.v_s, bnk)) ||
                 (st = hopper_map(&im->maps[3], dt, D, Sq, H, B, a.do_s, bm)) ||
                 (im->cfg[K_BWDH].qreg & 2 && (st = dq_map(&im->maps[4], D, Sq, H * B)))))
                goto fail;
        } else if ((st = bwd_shape(ctx, (int)D, &bc, &pairs))) {
            goto fail;
        }
        if (!hopper_b) {
            const int kb = pairs ? K_BWDP : K_BWD, bnk = (pairs ? 8 : 16) * bc.mtiles * bc.warps; /* keys a CTA */
            im->cfg[kb] = bc;
            im->used[kb] = true;
            im->grid[kb][0] = (unsigned)((Sk + bnk - 1) / bnk), im->grid[kb][1] = (unsigned)Hkv,
            im->grid[kb][2] = (unsigned)B;
            if (kb == K_BWD && D >= 192) {
                /* dV in a pass of its own (which = 1): the accumulators of dK and dV do not fit */
                im->cfg[K_BWD2] = bc;
                im->cfg[K_BWD2].which = 1, im->cfg[K_BWD2].qreg = 0; /* no dS */
                im->used[K_BWD2] = true;
                memcpy(im->grid[K_BWD2], im->grid[K_BWD], sizeof im->grid[K_BWD]);
            }
        }
        c = &im->cfg[K_DQCVT];
        c->threads = 256;
        im->used[K_DQCVT] = true;
        memcpy(im->grid[K_DQCVT], im->grid[K_DSUMZ], sizeof im->grid[K_DSUMZ]);
        im->dqacc_off = ((size_t)rows_total * 4 + 255) / 256 * 256;
        ws = im->dqacc_off + (size_t)(rows_total * D * 4);
        if (im->ordered) {
            if (!(im->cfg[K_BWDH].qreg & 4)) {
                st = brc__error(BRC_STATUS_INTERNAL, "%s: the ordered backward lost its dQ staging (d=%lld)", fn,
                                (long long)D);
                goto fail;
            }
            /* counters: (b H + h) nqt + query tile, two a tile (a warpgroup's 64 x 64 dQ block each) */
            const int64_t nqt = (Sq + im->cfg[K_BWDH].bq - 1) / im->cfg[K_BWDH].bq;
            im->sem_off = (ws + 255) / 256 * 256;
            im->sem_count = (size_t)(B * H * nqt * 2);
            ws = im->sem_off + im->sem_count * 4;
        }
    } else {
        a.gp = 1, a.nsplit = 1;
        attn_cfg *c = &im->cfg[K_DSUM];
        c->threads = 256;
        im->used[K_DSUM] = true;
        im->grid[K_DSUM][0] = (unsigned)((Sq + 7) / 8), im->grid[K_DSUM][1] = (unsigned)H,
        im->grid[K_DSUM][2] = (unsigned)B;
        c = &im->cfg[K_DKDV];
        c->warps = 4, c->mtiles = 1, c->stages = 1, c->bq = D <= 64 ? 64 : 32, c->which = D >= 192 ? 1 : 3;
        c->threads = 128;
        c->smem = (2 * 16 * c->warps + 2 * c->bq) * ld * 2 + 2 * c->bq * 4;
        im->used[K_DKDV] = true;
        im->grid[K_DKDV][0] = (unsigned)((Sk + 63) / 64), im->grid[K_DKDV][1] = (unsigned)Hkv,
        im->grid[K_DKDV][2] = (unsigned)B;
        if (D >= 192) {
            im->cfg[K_DKDV2] = *c;
            im->cfg[K_DKDV2].which = 2;
            im->used[K_DKDV2] = true;
            memcpy(im->grid[K_DKDV2], im->grid[K_DKDV], sizeof im->grid[K_DKDV]);
        }
        c = &im->cfg[K_DQ];
        c->warps = 4, c->mtiles = 1, c->stages = 1, c->bn = D <= 128 ? 64 : 32, c->threads = 128;
        c->smem = (2 * 16 * c->warps + 2 * c->bn) * ld * 2;
        im->used[K_DQ] = true;
        im->grid[K_DQ][0] = (unsigned)((Sq + 63) / 64), im->grid[K_DQ][1] = (unsigned)H,
        im->grid[K_DQ][2] = (unsigned)B;
        ws = (size_t)rows_total * 4; /* dsum */
    }
    p->workspace = (ws + 255) / 256 * 256;
    im->counters = f.dropout && !bwd ? (uint64_t)(rows_total * a.jblocks) : 0;
    im->a = a;

    /* descriptor and SKU */
    const int kb = im->used[K_BWDP] ? K_BWDP : K_BWD;
    const attn_cfg *c0 = f32        ? &im->cfg[bwd ? K_DQ32 : K_FWD32]
                         : hopper_b ? &im->cfg[K_BWDH]
                         : bwd      ? &im->cfg[im->atomic ? kb : K_DKDV]
                                    : &im->cfg[hopper ? K_FWDH : K_FWD];
    const int window = !d->causal && (a.wl >= 0 || a.wr >= 0);
    const int64_t nsplit = !bwd && im->cfg[K_FWD].split ? a.nsplit : 0; /* 0: one (decode) or none (tile) */
    brc__str_addf(&desc, "attention(pass=%s,dtype=%s,d=%d,path=%s,warps=%d,causal=%d,window=%d,gqa=%lld,mask=%s,"
                         "alibi=%d,softcap=%d,dropout=%d,varlen=%d,split=%lld",
                  bwd ? "bwd" : "fwd", brc_dtype_name(dt), (int)D,
                  hopper || hopper_b ? "wgmma" : im->decode ? "decode" : "tile", c0->warps,
                  d->causal, window, (long long)grp, mask_names[mask_code(mt)], f.alibi, f.softcap, f.dropout, vl,
                  (long long)nsplit);
    if (im->fused || im->cluster) brc__str_addf(&desc, ",merge=%s", merge_names[im->fused ? 1 : 2]);
    brc__str_addf(&desc, bwd ? ",det=%d)" : ")", !im->atomic);
    if (f32)
        brc__str_addf(&sku, bwd ? "bespoke:attention<bwd,f32,d=%lld,bk=%d,bq=32,bm=%d,bn=32,simt"
                                : "bespoke:attention<fwd,f32,d=%lld,bm=%d,bn=32,simt",
                      (long long)D, D > 128 ? 8 : 16, D > 128 ? 8 : 16);
    else if (hopper_b)
        brc__str_addf(&sku, "bespoke:attention<bwd,%s,d=%lld,bk=%d,bq=%d,warps=%d,stages=%d,wgmma%s%s%s",
                      brc_dtype_name(dt), (long long)D, c0->bn, c0->bq, c0->warps, c0->stages,
                      c0->qreg & 1 ? ",ovl" : "", c0->qreg & 4 ? ",dqbulk,ordered" : c0->qreg & 2 ? ",dqbulk" : "",
                      im->used[K_BWDH2] ? ",dv|dk+dq" : "");
    else if (im->atomic)
        brc__str_addf(&sku, "bespoke:attention<bwd,%s,d=%lld,bk=%d,bq=%d,bn=%d,warps=%d,stages=%d,ds=%d%s",
                      brc_dtype_name(dt), (long long)D, (kb == K_BWDP ? 8 : 16) * c0->mtiles * c0->warps,
                      c0->bq, c0->bn, c0->warps, c0->stages, 1 + c0->qreg,
                      kb == K_BWDP ? ",pairs" : D >= 192 ? ",dv|dk+dq" : "");
    else if (bwd)
        brc__str_addf(&sku, "bespoke:attention<bwd,%s,d=%lld,bk=%d,bq=%d,bm=%d,bn=%d%s", brc_dtype_name(dt),
                      (long long)D, 16 * im->cfg[K_DKDV].warps, im->cfg[K_DKDV].bq, 16 * im->cfg[K_DQ].warps,
                      im->cfg[K_DQ].bn, D >= 192 ? ",dk|dv" : "");
    else if (hopper)
        brc__str_addf(&sku, "bespoke:attention<fwd,%s,d=%lld,bm=%d,bn=%d,warps=%d,stages=%d,wgmma%s%s%s",
                      brc_dtype_name(dt), (long long)D, 16 * (c0->warps - 4), c0->bn, c0->warps, c0->stages,
                      c0->qreg & 1 ? ",ovl" : "", c0->which ? ",pp" : "", c0->qreg & 2 ? ",persist" : "");
    else
        brc__str_addf(&sku, "bespoke:attention<fwd,%s,d=%lld,bm=%d,bn=%d,warps=%d,stages=%d%s", brc_dtype_name(dt),
                      (long long)D, 16 * c0->warps * c0->mtiles, c0->bn, c0->warps, c0->stages,
                      im->decode ? ",packed" : "");
    if (nsplit)
        brc__str_addf(&sku, ",split=%lld%s", (long long)nsplit, im->fused ? ",fused" : im->cluster ? ",cluster" : "");
    if (a.group) brc__str_addf(&sku, ",group=%lld", (long long)a.group);
    if (d->causal) brc__str_addf(&sku, ",causal");
    else if (window) brc__str_addf(&sku, ",window");
    if (f.softcap) brc__str_addf(&sku, ",softcap");
    if (f.alibi) brc__str_addf(&sku, ",alibi");
    if (f.mask) brc__str_addf(&sku, ",mask=%s", mask_names[mask_code(mt)]);
    if (f.dropout) brc__str_addf(&sku, ",dropout");
    if (vl) brc__str_addf(&sku, ",varlen");
    if (grp > 1) brc__str_addf(&sku, ",gqa=%lld", (long long)grp);
    brc__str_addf(&sku, ">%s@%s%s", im->atomic ? "+atomic" : "", ctx->arch,
                  (hopper || hopper_b) && ctx->arch[strlen(ctx->arch) - 1] != 'a' ? "a" : "");
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", fn);
        goto fail;
    }
    for (int kid = 0; kid < NKERNELS; kid++)
        if (im->used[kid] && (st = get_kernel(ctx, &f, kid, &im->cfg[kid], desc.p, &im->fn[kid]))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

brc_status brc_attention_plan(brc_context *ctx, const brc_attention_desc *desc, const brc_plan_prefs *prefs,
                              brc_plan **out) {
    brc_status st = brc__plan_start(ctx, desc, out, "brc_attention_plan");
    if (st) return st;
    if (!brc__prefs_or_default(prefs, &st)) return st;
    return plan_impl(ctx, desc, -1, 0, -1, out);
}

int brc_attention_plan_deterministic(const brc_plan *plan) {
    if (!plan || plan->family != BRC__FAM_ATTENTION) return -1;
    return !((const attn_impl *)plan->impl)->atomic;
}

uint64_t brc_attention_counters(const brc_plan *plan) {
    if (!plan || plan->family != BRC__FAM_ATTENTION) return 0;
    return ((const attn_impl *)plan->impl)->counters;
}

brc_status brc_attention_desc_init(brc_attention_desc *d, brc_dtype dtype, int64_t batch, int64_t seqlen_q,
                                   int64_t seqlen_k, int64_t heads, int64_t kv_heads, int64_t head_dim) {
    brc__error_clear();
    if (!d) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_attention_desc_init: d is NULL");
    memset(d, 0, sizeof *d);
    int64_t qs[4] = {batch, seqlen_q, heads, head_dim}, ks[4] = {batch, seqlen_k, kv_heads, head_dim};
    int64_t ls[3] = {batch, heads, seqlen_q};
    brc_status st;
    if ((st = brc_tensor_desc_contiguous(&d->q, dtype, 4, qs)) ||
        (st = brc_tensor_desc_contiguous(&d->k, dtype, 4, ks)) ||
        (st = brc_tensor_desc_contiguous(&d->lse, BRC_F32, 3, ls)))
        return st;
    d->v = d->k, d->o = d->q;
    d->dout = d->q, d->dq = d->q, d->dk = d->k, d->dv = d->k;
    d->window_left = d->window_right = -1;
    return BRC_STATUS_OK;
}

/* ---- rebuilding a plan from its descriptor --------------------------------------------------------- */

brc_status brc__attention_from_desc(brc_context *ctx, brc__desc *dd, brc_plan **out) {
    static const char *const passes[] = {"fwd", "bwd"}, *const paths[] = {"tile", "decode", "wgmma"};
    int pass = 0, path = 0, mask = 0;
    int64_t dim = 0, warps = 0, causal = 0, window = 0, gqa = 1, alibi = 0, softcap = 0, dropout = 0, varlen = 0,
            split = 0, det = 0;
    int merge = 0;
    brc_dtype dt = BRC_BF16;
    brc_status st;
    if ((st = brc__desc_pick(dd, "pass", passes, 2, -1, &pass)) || (st = brc__desc_dtype(dd, "dtype", &dt)) ||
        (st = brc__desc_int(dd, "d", 1, 4096, -1, &dim)) || (st = brc__desc_pick(dd, "path", paths, 3, 0, &path)) ||
        (st = brc__desc_int(dd, "warps", 1, 16, 4, &warps)) || (st = brc__desc_int(dd, "causal", 0, 1, 0, &causal)) ||
        (st = brc__desc_int(dd, "window", 0, 1, 0, &window)) || (st = brc__desc_int(dd, "gqa", 1, 64, 1, &gqa)) ||
        (st = brc__desc_pick(dd, "mask", mask_names, 5, 0, &mask)) ||
        (st = brc__desc_int(dd, "alibi", 0, 1, 0, &alibi)) || (st = brc__desc_int(dd, "softcap", 0, 1, 0, &softcap)) ||
        (st = brc__desc_int(dd, "dropout", 0, 1, 0, &dropout)) ||
        (st = brc__desc_int(dd, "varlen", 0, 1, 0, &varlen)) ||
        (st = brc__desc_int(dd, "split", 0, MAX_SPLITS, 0, &split)) ||
        (st = brc__desc_int(dd, "det", 0, 1, 0, &det)) || (st = brc__desc_pick(dd, "merge", merge_names, 3, 0, &merge)))
        return st;
    if (det && !pass) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "attention: det=1 is a backward key");
    if (path == 1 && (warps > 4 || pass))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "attention: path=decode is a forward with warps <= 4");
    if (path == 2 && pass && det && dim != 64 && dim != 128)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "attention: a path=wgmma backward with det=1 is for head dims 64 and 128");
    if (split && path != 1)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "attention: split=%lld needs path=decode", (long long)split);
    if (merge && split < 2)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "attention: merge=%s needs path=decode and split >= 2",
                          merge_names[merge]);
    if (merge == 2 && ctx->sm_major < 9)
        return brc__error(BRC_STATUS_UNSUPPORTED, "attention: merge=cluster needs sm_90 or newer (the context is %s)",
                          ctx->arch);
    if (merge == 2 && split > 16)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "attention: merge=cluster takes at most 16 splits (split=%lld)",
                          (long long)split);
    /* A problem that selects these kernels. Decode: one KV head of gqa query heads and the most
     * queries that fit 16 warps rows, so the plan picks the same warps. */
    int64_t kvh = path == 1 ? 1 : 2, heads = gqa * kvh, b = varlen ? 1 : 2, sk = 256;
    int64_t sq = path == 1 ? (16 * warps / gqa > 0 ? 16 * warps / gqa : 1) : 128;
    brc_attention_desc d;
    brc_attention_desc_init(&d, dt, b, sq, sk, heads, kvh, dim);
    d.kind = pass ? BRC_ATTENTION_BACKWARD : BRC_ATTENTION_FORWARD;
    d.causal = (int)causal;
    d.deterministic = (int)det;
    if (window) d.window_left = 16, d.window_right = 16;
    d.has_alibi = (int)alibi;
    d.softcap = softcap ? 30.0 : 0.0;
    d.dropout_p = dropout ? 0.1 : 0.0;
    if (alibi) {
        int64_t h[1] = {heads};
        brc_tensor_desc_contiguous(&d.alibi, BRC_F32, 1, h);
    }
    static const brc_dtype mts[] = {BRC_F32, BRC_F32, BRC_F16, BRC_BF16, BRC_BOOL};
    if (mask) {
        int64_t ms[4] = {1, 1, sq, sk};
        brc_tensor_desc_contiguous(&d.mask, mts[mask], 4, ms);
        d.has_mask = 1;
    }
    if (varlen) {
        int64_t q3[3] = {sq, heads, dim}, k3[3] = {sk, kvh, dim}, l2[2] = {heads, sq};
        brc_tensor_desc_contiguous(&d.q, dt, 3, q3);
        brc_tensor_desc_contiguous(&d.k, dt, 3, k3);
        brc_tensor_desc_contiguous(&d.lse, BRC_F32, 2, l2);
        d.v = d.k, d.o = d.q, d.dout = d.q, d.dq = d.q, d.dk = d.k, d.dv = d.k;
        d.varlen = 1, d.batch = 1, d.max_seqlen_q = sq, d.max_seqlen_k = sk;
    }
    /* path=wgmma: the consumer warpgroups its warps say, in the split argument (unused there);
     * path=decode with split=0: the unsplit kernel */
    return plan_impl(ctx, &d, pass && path != 2 ? -1 : path,
                     path == 2 ? (int)(warps / 4 - 1) : path == 1 && !split ? -1 : (int)split,
                     path == 1 && split ? merge : -1, out);
}

/* ---- running ------------------------------------------------------------------------------------------- */

static brc_status launch(const brc_plan *plan, int kid, const void *param, CUstream stream) {
    const attn_impl *im = plan->impl;
    const unsigned *g = im->grid[kid];
    if (!g[0] || !g[1] || !g[2]) return BRC_STATUS_OK;
    void *args[1] = {(void *)param};
    CUresult r;
    if (kid == K_FWD && im->cluster) {
        /* the splits of a tile in one cluster (attn_cluster_merge) */
        CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION};
        attr.value.clusterDim.x = (unsigned)im->a.nsplit;
        attr.value.clusterDim.y = attr.value.clusterDim.z = 1;
        CUlaunchConfig cfg = {.gridDimX = g[0], .gridDimY = g[1], .gridDimZ = g[2],
                              .blockDimX = (unsigned)im->cfg[kid].threads, .blockDimY = 1, .blockDimZ = 1,
                              .sharedMemBytes = (unsigned)im->cfg[kid].smem, .hStream = stream, .attrs = &attr,
                              .numAttrs = 1};
        r = brc__cu()->cuLaunchKernelEx(&cfg, im->fn[kid], args, NULL);
    } else if (kid == K_COMBINE && im->pdl) {
        /* Programmatic dependent launch: the combine's CTAs may start while the forward's last
         * ones run; they wait (griddepcontrol.wait) for the whole forward before reading. */
        CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION};
        attr.value.programmaticStreamSerializationAllowed = 1;
        CUlaunchConfig cfg = {.gridDimX = g[0], .gridDimY = g[1], .gridDimZ = g[2],
                              .blockDimX = (unsigned)im->cfg[kid].threads, .blockDimY = 1, .blockDimZ = 1,
                              .sharedMemBytes = (unsigned)im->cfg[kid].smem, .hStream = stream, .attrs = &attr,
                              .numAttrs = 1};
        r = brc__cu()->cuLaunchKernelEx(&cfg, im->fn[kid], args, NULL);
    } else {
        r = brc__cu()->cuLaunchKernel(im->fn[kid], g[0], g[1], g[2], (unsigned)im->cfg[kid].threads, 1, 1,
                                      (unsigned)im->cfg[kid].smem, stream, args, NULL);
    }
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel (%s): %s (%s)", kernel_fns[kid],
                          brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc_attention_run(const brc_plan *plan, const brc_attention_args *x, void *workspace,
                             size_t workspace_size, brc_stream stream) {
    static const char *fn = "brc_attention_run";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_ATTENTION, fn);
    if (st) return st;
    if (!x) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: args is NULL (%s)", fn, plan->descriptor);
    const attn_impl *im = plan->impl;
    const bool bwd = im->kind == BRC_ATTENTION_BACKWARD;
    /* Tensor data is read 16 bytes at a time; the rest element by element. */
    const size_t msize = im->f.mt >= 0 ? brc_dtype_size((brc_dtype)im->f.mt) : 1;
    struct {
        const void *p;
        const char *name;
        bool need;
        size_t align;
    } ptrs[] = {
        {x->q, "q", true, 16},
        {x->k, "k", true, 16},
        {x->v, "v", true, 16},
        {x->o, "o", true, 16},
        {x->lse, "lse", true, 4},
        {x->dout, "dout", bwd, 16},
        {x->dq, "dq", bwd, 16},
        {x->dk, "dk", bwd, 16},
        {x->dv, "dv", bwd, 16},
        {x->mask, "mask", im->f.mask != 0, msize},
        {x->alibi, "alibi", im->f.alibi != 0, 4},
        {x->cu_seqlens_q, "cu_seqlens_q", im->f.varlen != 0, 4},
        {x->cu_seqlens_k, "cu_seqlens_k", im->f.varlen != 0, 4},
    };
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
        if (!ptrs[i].need) continue;
        if (!ptrs[i].p)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (%s)", fn, ptrs[i].name, plan->descriptor);
        if ((uintptr_t)ptrs[i].p % ptrs[i].align)
            return brc__error(BRC_STATUS_MISALIGNED, "%s: %s = %p is not %zu-byte aligned (%s)", fn, ptrs[i].name,
                              ptrs[i].p, ptrs[i].align, plan->descriptor);
    }
    if (bwd) {
        const void *outs[3] = {x->dq, x->dk, x->dv}, *ins[5] = {x->q, x->k, x->v, x->o, x->dout};
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
                if (outs[i] == ins[j])
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: an output (dq, dk or dv) is an input (%s)", fn,
                                      plan->descriptor);
    } else if (x->o == x->q || x->o == x->k || x->o == x->v) {
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: o is one of q, k, v (%s)", fn, plan->descriptor);
    }
    if (im->f.dropout && x->philox.device && (uintptr_t)x->philox.device % 8)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: philox.device %p is not aligned to 8 bytes (%s)", fn,
                          (const void *)x->philox.device, plan->descriptor);
    if (plan->workspace && (!workspace || workspace_size < plan->workspace || (uintptr_t)workspace % 256))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "%s: the plan needs a workspace of %zu bytes aligned to 256 (got %p, %zu bytes) (%s)", fn,
                          plan->workspace, workspace, workspace_size, plan->descriptor);
    attn_args a = im->a;
    a.q = x->q, a.k = x->k, a.v = x->v, a.o = x->o, a.lse = x->lse;
    a.dout = x->dout, a.dq = x->dq, a.dk = x->dk, a.dv = x->dv;
    a.mask = x->mask, a.alibi = x->alibi, a.cu_q = x->cu_seqlens_q, a.cu_k = x->cu_seqlens_k;
    a.dev = im->f.dropout ? x->philox.device : NULL;
    a.seed = x->philox.seed, a.offset = x->philox.offset;
    char *ws = workspace;
    if (im->used[K_COMBINE] || im->fused) a.part_o = (float *)ws, a.part_lse = (float *)(ws + im->part_lse_off);
    if (bwd) a.dsum = (float *)ws;
    if (im->atomic || im->ordered) a.part_o = (float *)(ws + im->dqacc_off);
    /* The int32 counters in the workspace start at zero every run (a memset node under capture): the
     * fused decode merge's tickets (the merging CTA also sets its own back to zero) or the ordered
     * backward's. */
    if (im->fused || im->ordered) {
        a.dq_sem = (int32_t *)(ws + (im->fused ? im->ctr_off : im->sem_off));
        const size_t n = im->fused ? im->ctr_count : im->sem_count;
        CUresult r = brc__cu()->cuMemsetD32Async((CUdeviceptr)(uintptr_t)a.dq_sem, 0, n, (CUstream)stream);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "%s: cuMemsetD32Async: %s (%s)", fn, brc__cu_errname(r),
                              plan->descriptor);
    }
    /* The Hopper kernels: the plan's maps with this run's addresses (Q, K, V, and dO for the
     * backward; the dQ accumulator for its bulk reductions), host work only, captured with the launch. */
    const void *ptr[5] = {x->q, x->k, x->v, x->dout, a.part_o};
    attn_args_h h;
    attn_args_hb hb;
    CUtensorMap *maps[5] = {NULL, NULL, NULL, NULL, NULL};
    if (im->used[K_FWDH]) maps[0] = &h.tq, maps[1] = &h.tk, maps[2] = &h.tv, h.a = a;
    if (im->used[K_BWDH]) maps[0] = &hb.tq, maps[1] = &hb.tk, maps[2] = &hb.tv, maps[3] = &hb.tdo, hb.a = a;
    if (im->used[K_BWDH] && im->cfg[K_BWDH].qreg & 2) maps[4] = &hb.tdq;
    for (int i = 0; i < 5 && maps[i]; i++) {
        *maps[i] = im->maps[i];
        CUresult r = brc__cu()->cuTensorMapReplaceAddress(maps[i], (void *)ptr[i]);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "%s: cuTensorMapReplaceAddress: %s (%s)", fn, brc__cu_errname(r),
                              plan->descriptor);
    }
    if (im->used[K_FWDH]) return launch(plan, K_FWDH, &h, (CUstream)stream);
    for (int i = 0; i < NKERNELS; i++) {
        const int kid = launch_order[i];
        if (im->used[kid] &&
            (st = launch(plan, kid, kid == K_BWDH || kid == K_BWDH2 ? (const void *)&hb : &a, (CUstream)stream)))
            return st;
    }
    return BRC_STATUS_OK;
}
