/* baracuda — attention family: scaled dot-product attention, forward and backward, in the
 * flash (tiled, online-softmax) formulation: the Sq x Sk score matrix is never stored.
 *
 *   S[i, j] = scale * (q_i . k_j)                         (scale: desc.scale, 0 = 1/sqrt(D))
 *   softcap c > 0:  S = c * tanh(S / c)
 *   ALiBi slopes:   S += -slope[b, h] * |i + (Sk - Sq) - j|
 *   additive mask:  S += mask[b, h, i, j]      (a bool mask instead removes j where it is false)
 *   allowed j:      0 <= j < Sk and  i + (Sk - Sq) - window_left <= j <= i + (Sk - Sq) + window_right
 *                   (causal sets window_right = 0: the diagonal is aligned bottom-right, as in
 *                   FlashAttention and PyTorch's causal_lower_right; PyTorch's is_causal is
 *                   top-left, the same only when Sq = Sk; -1 means unbounded)
 *   GQA: query head h reads KV head h / (H / Hkv). Varlen: the diagonal and ALiBi distances use
 *   each sequence's own lengths.
 *   P = softmax_j(S) over the allowed j;   O = dropout(P) V;   lse[i] = log sum_j exp S[i, j]
 * A row with no allowed j gets O = 0 and lse = -inf (and contributes nothing to the backward).
 *
 * Operands (brc_tensor_desc; the last dim dense, every other stride a multiple of 8 elements):
 *   q, o, dout, dq      [B, Sq, H, D]            (a BHSD tensor is the same view with its strides)
 *   k, v, dk, dv        [B, Sk, Hkv, D]          H a multiple of Hkv (GQA; Hkv = 1 is MQA)
 *   lse                 f32 [B, H, Sq], any strides (written by the forward, read by the backward)
 *   mask (has_mask)     [Bm, Hm, Sq, Sk] with Bm in {1, B}, Hm in {1, H}, any strides; f32, f16,
 *                       bf16 (added) or bool (false removes the key); not with varlen
 *   alibi (has_alibi)   f32 [H] or [B, H] (the slopes, positive for the usual decay)
 * varlen = 1 packs the batch: q, o, dout, dq are [Tq, H, D], k, v, dk, dv [Tk, Hkv, D], lse
 * [H, Tq]; sequence b is rows cu_seqlens_q[b] .. cu_seqlens_q[b + 1] of q (likewise k), both
 * i32 device arrays of batch + 1 entries given at run time; max_seqlen_q / max_seqlen_k bound
 * the lengths (a longer sequence is cut at the bound: the caller must give true bounds).
 * Dtypes: q, k, v, o, dout, dq, dk, dv all f16 or all bf16 (f32 accumulation and softmax), or
 * all f32: a slow path without tensor cores, f32 throughout, with every feature; its backward is
 * always the deterministic one (brc_attention_plan_deterministic == 1, whatever deterministic
 * says; the descriptor says det=1).
 * Head dims: D in {32, 64, 96, 128, 192, 256} (q, k and v share it).
 *
 * Dropout (dropout_p in [0, 1)): element (i, j) of row r is kept when its Philox word w has
 * w 2^-32 >= p, kept values scaled by 1 / (1 - p). r = (b H + h) Sq + i (varlen: h Tq + row of
 * i in the packed q); the word is lane j % 4 of Philox block
 *   counter = offset + r * ceil(Sk / 4) + j / 4      (Sk: max_seqlen_k with varlen)
 * under key = seed, as random.h lays out counter and key. A forward and its backward must be
 * given the same seed and offset; brc_attention_counters says how far to advance the offset.
 *
 * Backward (kind = BACKWARD): from q, k, v, o, dout and the forward's lse, writes dq, dk, dv
 * (the forward's desc fields, the same values, are required). Saved-tensor contract: the
 * forward's o and lse (in f32, as written) and its inputs; nothing else is kept between the
 * two. Determinism:
 *  - deterministic = 0 (the default): FlashAttention-2's scheme, one pass over each key tile
 *    that adds its share of dq to an f32 accumulator with atomic adds. dk and dv are summed in a
 *    fixed order (bitwise reproducible); dq is not: the order of its f32 adds varies from run to
 *    run (differences of a few f32 ulps before the rounding to the dtype).
 *    brc_attention_plan_deterministic(plan) == 0 and the SKU ends in "+atomic". Workspace
 *    (brc_plan_workspace_size): rowsum(dout * o) and the dq accumulator, f32, (D + 1) x 4 bytes
 *    a query row and head, zeroed by the run itself (no memset by the caller).
 *  - deterministic = 1: a rerun gives the same bits. On sm_90 at head dims 64 and 128 (fixed
 *    lengths) the default's kernel with its dq adds made in key-tile order (each key tile waits
 *    for the ones before it; 1.1-1.4x the default's time on the H100), the SKU having
 *    ",ordered"; workspace: the default's plus 8 bytes a query tile and head (counters, zeroed
 *    by the run itself). Elsewhere no atomics: dk / dv of a KV head sum its query heads in a
 *    fixed order and dq has its own pass (slower: S and dP are computed twice); workspace:
 *    rowsum(dout * o), f32, 4 bytes a query row and head.
 * The forward is always deterministic (the split path combines its splits in a fixed order).
 *
 * Selection (plan time): a bespoke tensor-core kernel (mma.sync m16n8k16, sm_80 and newer)
 * specialized on dtype, D, tile shape, and the features in use; the SKU names them, e.g.
 *   bespoke:attention<fwd,bf16,d=128,bm=128,bn=64,warps=4,stages=2,causal>@sm_90
 * On sm_90, at D = 64, 128 and 256, the forward (varlen too; not the decode path) and the default
 * backward (fixed lengths) take wgmma / TMA kernels compiled for sm_90a instead (the SKU says
 * wgmma and ends @sm_90a; BARACUDA_ATTENTION_PATH=mma in the environment at plan time keeps the
 * mma.sync ones). f32: ...<fwd,f32,d=64,bm=16,bn=32,simt>.
 * For short queries (Sq * H / Hkv <= 64 rows of one KV head) the query heads of a KV head are
 * packed into one tile, so each KV head is read once, and the KV length is split across CTAs
 * (split = n in the SKU) with a combine step; the partial results use the workspace. (Plan-time
 * knob BARACUDA_ATTN_DECODE_MERGE, for measurements: 1 merges in the forward's last CTA of each
 * tile, ",fused", its workspace also holding a counter a tile; 2 in a cluster of the splits on
 * sm_90, ",cluster", no workspace; docs/attention.md, "Decode".)
 *
 * Running never allocates, never synchronizes and is safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_ATTENTION_H
#define BARACUDA_ATTENTION_H

#include "baracuda/baracuda.h"
#include "baracuda/random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum brc_attention_kind {
    BRC_ATTENTION_FORWARD = 0,
    BRC_ATTENTION_BACKWARD = 1
} brc_attention_kind;

typedef struct brc_attention_desc {
    brc_attention_kind kind;
    brc_tensor_desc q, k, v, o, lse;
    brc_tensor_desc dout, dq, dk, dv; /* backward only */
    int has_mask;
    brc_tensor_desc mask;
    int has_alibi;
    brc_tensor_desc alibi;
    int causal;                        /* 1: window_right = 0 (window_right must be -1 or 0) */
    int64_t window_left, window_right; /* -1: unbounded */
    double scale;                      /* 0: 1 / sqrt(D) */
    double softcap;                    /* 0: none */
    double dropout_p;                  /* 0: none */
    int varlen;
    int64_t batch;                     /* varlen: the number of sequences */
    int64_t max_seqlen_q, max_seqlen_k; /* varlen: bounds of the lengths */
    int deterministic;                 /* backward: 1 takes the bitwise reproducible path (above) */
} brc_attention_desc;

/* Fills d with a forward on dense [B, S, H, D] tensors (o like q, lse dense [B, H, Sq]) without
 * masks, dropout or window; a starting point to adjust. */
BRC_API brc_status brc_attention_desc_init(brc_attention_desc *d, brc_dtype dtype, int64_t batch, int64_t seqlen_q,
                                           int64_t seqlen_k, int64_t heads, int64_t kv_heads, int64_t head_dim);

typedef struct brc_attention_args {
    const void *q, *k, *v;
    void *o;
    float *lse;                      /* forward: written; backward: read */
    const void *dout;                /* backward */
    void *dq, *dk, *dv;              /* backward */
    const void *mask;                /* has_mask */
    const float *alibi;              /* has_alibi */
    const int32_t *cu_seqlens_q, *cu_seqlens_k; /* varlen */
    brc_philox philox;               /* dropout_p > 0 */
} brc_attention_args;

/* Select a plan. prefs may be NULL. Errors: INVALID_ARGUMENT (NULL pointers, shapes that do not
 * agree, strides the kernels cannot take, lengths of 2^31 or more, B or H above 65535, a window or scalar out of range, mask with varlen),
 * UNSUPPORTED (a dtype or head dim not listed above, an arch before sm_80), and compile errors. */
BRC_API brc_status brc_attention_plan(brc_context *ctx, const brc_attention_desc *desc, const brc_plan_prefs *prefs,
                                      brc_plan **out);

/* 1 when reruns of the plan give the same bits (every forward; a backward with deterministic =
 * 1), 0 for the default backward (atomic dq adds), -1 for a plan that is not an attention plan.
 * Added in 0.3.0. */
BRC_API int brc_attention_plan_deterministic(const brc_plan *plan);

/* Philox counters one run consumes (0 without dropout or for another plan): advance by this. */
BRC_API uint64_t brc_attention_counters(const brc_plan *plan);

/* Enqueue on stream. workspace: brc_plan_workspace_size(plan) bytes, 256-byte aligned (NULL when
 * that is 0). q, k, v, o, dout, dq, dk, dv must be 16-byte aligned, lse, alibi and cu_seqlens 4-byte,
 * mask to its element (MISALIGNED). Errors: WRONG_PLAN,
 * INVALID_ARGUMENT (a pointer the plan needs is NULL, a small workspace, an output aliasing an
 * input), MISALIGNED, CUDA_ERROR. */
BRC_API brc_status brc_attention_run(const brc_plan *plan, const brc_attention_args *args, void *workspace,
                                     size_t workspace_size, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_ATTENTION_H */
