/* GPU tests of the attention family against a float64 host model of attention.h: forward (O and
 * lse) and backward (dq, dk, dv) at every head dim in f16 and bf16; odd and unequal lengths (1,
 * 17, 1000, 4097; Sq < Sk and Sq > Sk under the bottom-right causal diagonal, rows with no key);
 * GQA ratios 1, 4, 8; BSHD, BHSD and padded strides (nothing outside the views written); causal,
 * sliding windows left and right, softcap, ALiBi [H] and [B, H], additive masks (f32, f16, bf16,
 * broadcast over B or H, stride 0, -inf entries) and bool masks, dropout bit for bit through the
 * Philox counter the header lays out, varlen (three sequences, one of length 1), decode shapes
 * on the split path; every backward case runs both backwards: the default (atomic dq, its
 * workspace poisoned before each run; dk and dv the same bits twice) and deterministic = 1 (all
 * three the same bits twice), each against the model; a captured forward replays with new inputs
 * and a new device seed, a captured default backward replays correctly twice; run-time errors. Random inputs in [-1, 1] rounded to the
 * dtype (the model uses the rounded values), outputs poisoned with 0xff. Skips without a driver
 * (the Philox known-answer test runs anyway). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "baracuda/attention.h"

/* ---- Philox4x32-10: the dropout bits ------------------------------------------------------------ */

Test(attention_ref, philox_known_answers) { tu_philox_known_answers(); }

/* ---- cases ------------------------------------------------------------------------------------------ */

enum { BSHD, BHSD, PADDED };
/* Mask shapes: [B, H, Sq, Sk]; Bm = 1; Hm = 1; Bm = Hm = 1 with padded rows; [B, ...] at stride 0. */
enum { M_FULL, M_B1, M_H1, M_B1H1_PAD, M_BSTRIDE0 };
enum { NO_MASK, ADD_MASK, BOOL_MASK };

/* Strings inline, not pointers: Criterion hands parameters to a freshly started process. */
typedef struct acase {
    char name[48];
    brc_dtype dt;
    int64_t B, H, Hkv, Sq, Sk, D; /* varlen: B sequences of lengths lq / lk (Sq, Sk unused) */
    int layout;
    int causal;
    int64_t wl, wr; /* window_left / window_right as given in the descriptor */
    double scale;   /* 0: 1 / sqrt(D) */
    double softcap;
    int alibi;      /* 0 none, 1 [H], 2 [B, H] */
    int mask;       /* NO_MASK, ADD_MASK, BOOL_MASK */
    brc_dtype mask_dt;
    int mask_shape; /* M_* */
    double dropout;
    int varlen;
    int64_t lq[3], lk[3];
    int64_t slack_k; /* varlen: max_seqlen_k = max(lk) + slack_k (a loose bound moves the counters) */
    int bwd;
    char sku_has[16]; /* a piece the forward SKU must contain ("" for none) */
} acase;

#define F16 BRC_F16
#define BF BRC_BF16
#define F32 BRC_F32
#define BOOL BRC_BOOL

/* name, dt, B, H, Hkv, Sq, Sk, D, layout, causal, wl, wr, scale, softcap, alibi, mask, mask_dt, mask_shape,
 * dropout, varlen, lq, lk, slack, bwd, sku */
static acase cases[] = {
    /* every head dim, both dtypes, forward and backward */
    {"d32 f16", F16, 2, 4, 2, 129, 257, 32, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d32 bf16 bhsd causal", BF, 2, 4, 2, 129, 257, 32, BHSD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, "causal"},
    {"d64 f16", F16, 2, 4, 4, 200, 200, 64, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d64 bf16 padded causal", BF, 2, 4, 4, 200, 200, 64, PADDED, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, "causal"},
    {"d96 f16 bhsd", F16, 1, 4, 1, 150, 300, 96, BHSD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d96 bf16 causal sq>sk", BF, 1, 4, 2, 300, 150, 96, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d128 f16 padded", F16, 2, 4, 2, 256, 256, 128, PADDED, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d128 bf16", BF, 2, 4, 2, 256, 256, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d192 f16 causal sq<sk", F16, 1, 2, 1, 100, 333, 192, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d192 bf16 bhsd", BF, 1, 2, 2, 100, 333, 192, BHSD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d256 f16", F16, 1, 2, 2, 128, 200, 256, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"d256 bf16 padded causal", BF, 1, 2, 1, 200, 128, 256, PADDED, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    /* odd and unequal lengths */
    {"len 1x1", BF, 2, 2, 2, 1, 1, 64, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"len 1x17 f16", F16, 2, 2, 1, 1, 17, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"len 17x1 causal empty rows", BF, 2, 2, 2, 17, 1, 64, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"len 17x1000 causal", F16, 1, 4, 2, 17, 1000, 64, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"len 1000x17 causal", BF, 1, 4, 2, 1000, 17, 128, BHSD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"len 1000x1000", F16, 1, 2, 1, 1000, 1000, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"len 4097 causal", F16, 1, 1, 1, 4097, 4097, 64, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    /* GQA 4 and 8 (1 throughout the rest) */
    {"gqa 4", BF, 1, 8, 2, 100, 100, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"gqa 8 mqa bhsd", F16, 1, 8, 1, 77, 99, 64, BHSD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    /* windows */
    {"window left", BF, 1, 4, 2, 200, 200, 64, BSHD, 0, 32, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"window left right sq<sk", F16, 1, 2, 2, 150, 250, 128, BSHD, 0, 20, 10, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"window right sq>sk", BF, 1, 2, 1, 120, 100, 64, PADDED, 0, -1, 7, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"causal window left", F16, 2, 2, 1, 180, 180, 64, BSHD, 1, 48, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    /* softcap (a larger scale, so that tanh saturates) */
    {"softcap", BF, 1, 4, 2, 150, 170, 128, BSHD, 0, -1, -1, 0.5, 3.0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"softcap causal f16", F16, 1, 2, 2, 130, 130, 64, BHSD, 1, -1, -1, 0.4, 2.0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    /* large scales: row maxima (log2 domain) that grow by more than 8 between later KV tiles,
     * so that the forward's stale running max is moved mid-row (O and l rescaled) as well as
     * kept (P above 1) */
    {"scale 2 max jumps", BF, 1, 4, 2, 300, 1000, 64, BSHD, 0, -1, -1, 2.0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, ""},
    {"scale 4 max jumps f16 causal", F16, 1, 2, 1, 260, 700, 128, BHSD, 1, -1, -1, 4.0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, ""},
    /* ALiBi */
    {"alibi [H] causal", BF, 2, 4, 2, 100, 150, 64, BSHD, 1, -1, -1, 0, 0, 1, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"alibi [B,H] f16", F16, 2, 4, 4, 90, 90, 128, BSHD, 0, -1, -1, 0, 0, 2, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    /* masks */
    {"mask f32 full", BF, 2, 2, 1, 70, 130, 64, BSHD, 0, -1, -1, 0, 0, 0, ADD_MASK, F32, M_FULL, 0, 0, {0}, {0}, 0, 1, ""},
    {"mask f16 Bm=1 causal", F16, 2, 4, 2, 64, 100, 128, BSHD, 1, -1, -1, 0, 0, 0, ADD_MASK, F16, M_B1, 0, 0, {0}, {0}, 0, 1, ""},
    {"mask bf16 Hm=1", BF, 3, 2, 2, 50, 90, 64, BHSD, 0, -1, -1, 0, 0, 0, ADD_MASK, BF, M_H1, 0, 0, {0}, {0}, 0, 1, ""},
    {"mask f32 bcast padded rows", F16, 2, 2, 2, 40, 77, 64, BSHD, 0, -1, -1, 0, 0, 0, ADD_MASK, F32, M_B1H1_PAD, 0, 0, {0}, {0}, 0, 1, ""},
    {"mask f32 batch stride 0", BF, 2, 2, 1, 33, 65, 96, BSHD, 0, -1, -1, 0, 0, 0, ADD_MASK, F32, M_BSTRIDE0, 0, 0, {0}, {0}, 0, 0, ""},
    {"mask bool", F16, 2, 2, 2, 65, 129, 64, BSHD, 0, -1, -1, 0, 0, 0, BOOL_MASK, BOOL, M_FULL, 0, 0, {0}, {0}, 0, 1, ""},
    {"mask bool Hm=1 window", BF, 2, 4, 2, 100, 100, 128, PADDED, 0, 30, 30, 0, 0, 0, BOOL_MASK, BOOL, M_H1, 0, 0, {0}, {0}, 0, 1, ""},
    /* dropout (Sk % 4 != 0 in the second: the counter stride is ceil(Sk / 4)) */
    {"dropout", BF, 2, 4, 2, 100, 150, 64, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0.2, 0, {0}, {0}, 0, 1, ""},
    {"dropout causal f16 odd sk", F16, 1, 2, 1, 33, 1001, 128, BHSD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0.5, 0, {0}, {0}, 0, 1, ""},
    /* varlen: three sequences, one of length 1 */
    {"varlen", BF, 3, 4, 2, 0, 0, 64, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {100, 1, 37}, {120, 1, 300}, 0, 1, ""},
    {"varlen causal f16 padded", F16, 3, 4, 1, 0, 0, 128, PADDED, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {1, 64, 17}, {50, 64, 200}, 0, 1, ""},
    {"varlen dropout loose bound", BF, 3, 2, 2, 0, 0, 64, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0.25, 1, {5, 1, 40}, {7, 90, 40}, 5, 1, ""},
    {"varlen window alibi", F16, 3, 4, 2, 0, 0, 64, BHSD, 0, 16, 4, 0, 0, 1, 0, F32, 0, 0, 1, {60, 1, 9}, {60, 33, 1}, 0, 1, ""},
    /* decode: Sq * H / Hkv <= 64, the packed and split path */
    {"decode sq1 gqa8", BF, 2, 16, 2, 1, 1000, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    {"decode sq4 gqa4 f16", F16, 2, 8, 2, 4, 1000, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    {"decode sq1 gqa4 bhsd causal", BF, 3, 8, 2, 1, 1000, 64, BHSD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    {"decode sq4 gqa8 causal bwd", BF, 1, 8, 1, 4, 1000, 128, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, "split="},
    {"decode sq1 gqa8 window alibi", F16, 2, 8, 1, 1, 1000, 256, BSHD, 0, 255, -1, 0, 0, 2, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    {"decode sq1 gqa8 softcap padded", BF, 1, 16, 2, 1, 1000, 64, PADDED, 0, -1, -1, 0, 30.0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    /* f32: the slow path without tensor cores, every feature, a deterministic backward */
    {"f32 d64 causal gqa", F32, 2, 4, 2, 100, 150, 64, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ",simt"},
    {"f32 d128 bhsd window alibi", F32, 1, 4, 1, 77, 200, 128, BHSD, 0, 20, 10, 0, 0, 1, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"f32 d32 padded mask bool dropout", F32, 2, 2, 2, 65, 129, 32, PADDED, 0, -1, -1, 0, 0, 0, BOOL_MASK, BOOL, M_FULL, 0.2, 0, {0}, {0}, 0, 1, ""},
    {"f32 d256 softcap", F32, 1, 2, 1, 40, 70, 256, BSHD, 0, -1, -1, 0.5, 3.0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""},
    {"f32 d96 varlen causal", F32, 3, 4, 2, 0, 0, 96, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {30, 1, 17}, {40, 1, 60}, 0, 1, ""},
    {"f32 d192 short queries gqa8 mask f16", F32, 1, 8, 1, 4, 300, 192, BSHD, 0, -1, -1, 0, 0, 0, ADD_MASK, F16, M_H1, 0, 0, {0}, {0}, 0, 1, ""},
    /* a long KV cache: many tiles a split, so the decode pipeline's every stage turns over */
    {"decode sq1 gqa4 long", BF, 1, 32, 8, 1, 20011, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    /* enough (batch, KV head) CTAs to fill a wave alone (256 of the H100's 264): one split, no combine */
    {"decode sq1 gqa2 unsplit", F16, 8, 64, 32, 1, 301, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "packed"},
    /* the merge of the splits (here the combine kernel; attention_fused and attention_cluster
     * the other two): GQA 1 with odd lengths, 3 queries of 8 heads in 5 batches, and at D = 256
     * more splits than the fused merge stages at once (several rounds) */
    {"decode sq1 gqa1 odd b3", BF, 3, 4, 4, 1, 1537, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    {"decode sq3 gqa8 b5 f16", F16, 5, 16, 2, 3, 777, 64, BHSD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
    {"decode sq1 gqa8 d256 rounds", F16, 1, 8, 1, 1, 3001, 256, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, "split="},
};

ParameterizedTestParameters(attention, matches_float64) {
    return cr_make_param_array(acase, cases, sizeof cases / sizeof cases[0]);
}

/* Every `every`-th of the cases keep() takes, copied into sel (room for all the cases); their count.
 * The suites below run such a selection under a knob. */
static size_t select_cases(acase *sel, bool (*keep)(const acase *), size_t every) {
    size_t n = 0, k = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (keep(&cases[i]) && k++ % every == 0) sel[n++] = cases[i];
    return n;
}

/* ---- the host model ----------------------------------------------------------------------------- */

/* A q-like ([B, S, H, D], or [T, H, D] packed) or k-like view in its buffer. S is the rows of one
 * batch (T when packed), so a packed row r is at batch r / S, position r % S either way. */
typedef struct view {
    brc_tensor_desc t;
    int64_t S, sb, ss, sh;
    size_t n; /* buffer elements */
} view;

static view make_view(brc_dtype dt, int layout, int packed, int64_t B, int64_t S, int64_t heads, int64_t D) {
    view v;
    memset(&v, 0, sizeof v);
    v.S = S;
    if (layout == BHSD) v.sh = S * D, v.ss = D, v.sb = heads * S * D;
    else if (layout == PADDED) v.sh = D + 8, v.ss = heads * (D + 8) + 8, v.sb = S * v.ss + 16;
    else v.sh = D, v.ss = heads * D, v.sb = S * heads * D;
    v.n = (size_t)(B * v.sb);
    v.t.dtype = dt;
    if (packed) {
        int64_t shape[3] = {S, heads, D}, st[3] = {v.ss, v.sh, 1};
        v.t.rank = 3;
        memcpy(v.t.shape, shape, sizeof shape), memcpy(v.t.strides, st, sizeof st);
    } else {
        int64_t shape[4] = {B, S, heads, D}, st[4] = {v.sb, v.ss, v.sh, 1};
        v.t.rank = 4;
        memcpy(v.t.shape, shape, sizeof shape), memcpy(v.t.strides, st, sizeof st);
    }
    return v;
}
static int64_t voff(const view *v, int64_t row, int64_t h, int64_t d) {
    return (row / v->S) * v->sb + (row % v->S) * v->ss + h * v->sh + d;
}

/* lse: [B, H, Sq] (packed: [H, Tq]); padded: every row of Sq (Tq) padded by 3, every batch by 5. */
typedef struct lview {
    brc_tensor_desc t;
    int64_t S, lb, lh;
    size_t n;
} lview;

static lview make_lview(int padded, int packed, int64_t B, int64_t H, int64_t S) {
    lview l;
    memset(&l, 0, sizeof l);
    l.S = S;
    l.lh = S + (padded ? 3 : 0);
    l.lb = H * l.lh + (padded ? 5 : 0);
    l.n = (size_t)(B * l.lb);
    l.t.dtype = BRC_F32;
    if (packed) {
        int64_t shape[2] = {H, S}, st[2] = {l.lh, 1};
        l.t.rank = 2;
        memcpy(l.t.shape, shape, sizeof shape), memcpy(l.t.strides, st, sizeof st);
    } else {
        int64_t shape[3] = {B, H, S}, st[3] = {l.lb, l.lh, 1};
        l.t.rank = 3;
        memcpy(l.t.shape, shape, sizeof shape), memcpy(l.t.strides, st, sizeof st);
    }
    return l;
}
static int64_t loff(const lview *l, int64_t row, int64_t h) { return (row / l->S) * l->lb + h * l->lh + row % l->S; }

/* Everything one case needs: the model's sizes and values, the device buffers, the plans. */
typedef struct setup {
    acase c;
    int64_t nb, H, Hkv, D, G;       /* G = H / Hkv */
    int64_t Sq, Sk, Tq, Tk;         /* Sq, Sk: one batch's rows (the maxima when packed) */
    int64_t lq[8], lk[8], cq[9], ck[9];
    int64_t msk;                    /* the Sk of the Philox counter: Sk, or max_seqlen_k */
    int64_t wl, wr;                 /* the windows in effect (wr = 0 when causal) */
    double scale;
    uint64_t seed, offset;
    /* host values as stored: [Tq][H][D] and [Tk][Hkv][D] */
    double *q, *k, *v, *dout, *o_in; /* o_in: the o the backward reads (the model's, rounded) */
    double *slope;                   /* [nb][H] (ALiBi) */
    double *mask;                    /* [Bm][Hm][Sq][Sk]: the value added, or 0 / 1 for bool */
    int64_t Bm, Hm, mb, mh, mi;      /* the mask's shape and strides (elements) */
    /* the model's results */
    double *o, *lse, *dq, *dk, *dv;
    /* device side */
    view vq, vk, vo, vdo, vdq, vdk;
    lview vl;
    tu_buf bq, bk, bv, bo, blse, bdo, bdq, bdk, bdv, bmask, balibi, bcq, bck, bws, bws2, bws3;
    brc_attention_desc fwd, bwd;
    brc_plan *pf, *pb, *pbd; /* pb: the default (atomic) backward; pbd: deterministic = 1 */
    size_t wsf, wsb, wsbd;
    int det_now; /* the backward being checked: 0 pb, 1 pbd */
} setup;

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static double put(tu_buf *b, int64_t i, double x) {
    tu_encode(b->t, x, b->h + (size_t)i * brc_dtype_size(b->t));
    return tu_buf_at(b, (size_t)i);
}
static void *dp(const tu_buf *b) { return (void *)(uintptr_t)b->d; }
static void poison(tu_buf *b) {
    memset(b->h, 0xff, b->n * brc_dtype_size(b->t));
    tu_buf_upload(b);
}
static bool poisoned(const tu_buf *b, size_t e) {
    size_t s = brc_dtype_size(b->t);
    for (size_t k = 0; k < s; k++)
        if (b->h[e * s + k] != 0xff) return false;
    return true;
}
static double *dalloc(int64_t n) {
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    cr_assert(p);
    return p;
}

static double mask_at(const setup *s, int64_t b, int64_t h, int64_t i, int64_t j) {
    int64_t bm = s->Bm == 1 ? 0 : b, hm = s->Hm == 1 ? 0 : h;
    return s->mask[((bm * s->Hm + hm) * s->Sq + i) * s->Sk + j];
}

/* Row (b, h, i): s[j] the final score of every allowed j (-inf elsewhere), t[j] = scale q.k (the
 * softcap's argument); *lo, *hi the allowed range before the bool mask (lo > hi: none). */
static void row_scores(const setup *s, int64_t b, int64_t h, int64_t i, double *sc, double *t, int64_t *lo,
                       int64_t *hi) {
    const acase *c = &s->c;
    int64_t Lq = s->lq[b], Lk = s->lk[b], diag = i + Lk - Lq;
    int64_t a = 0, z = Lk - 1;
    if (s->wl >= 0 && diag - s->wl > a) a = diag - s->wl;
    if (s->wr >= 0 && diag + s->wr < z) z = diag + s->wr;
    *lo = a, *hi = z;
    const double *qi = s->q + ((s->cq[b] + i) * s->H + h) * s->D;
    int64_t hk = h / s->G;
    for (int64_t j = 0; j < Lk; j++) {
        sc[j] = -INFINITY, t[j] = 0;
        if (j < a || j > z) continue;
        if (c->mask == BOOL_MASK && mask_at(s, b, h, i, j) == 0) continue;
        const double *kj = s->k + ((s->ck[b] + j) * s->Hkv + hk) * s->D;
        double x = s->scale * dot(qi, kj, s->D), v = x;
        if (c->softcap > 0) v = c->softcap * tanh(x / c->softcap);
        if (c->alibi) v -= s->slope[b * s->H + h] * fabs((double)(diag - j));
        if (c->mask == ADD_MASK) v += mask_at(s, b, h, i, j);
        sc[j] = v, t[j] = x;
    }
}

/* z[j] = the dropout factor of row r: 1 / (1 - p) where Philox keeps it, 0 where it drops. */
static void drop_row(const setup *s, uint64_t seed, uint64_t offset, uint64_t r, int64_t n, double *z) {
    double p = s->c.dropout;
    if (p <= 0) {
        for (int64_t j = 0; j < n; j++) z[j] = 1;
        return;
    }
    uint64_t per = (uint64_t)((s->msk + 3) / 4);
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (int64_t j = 0; j < n; j += 4) {
        uint64_t cnt = offset + r * per + (uint64_t)(j / 4);
        uint32_t ctr[4] = {(uint32_t)cnt, (uint32_t)(cnt >> 32), 0, 0}, w[4];
        tu_philox(ctr, key, w);
        for (int64_t l = 0; l < 4 && j + l < n; l++) z[j + l] = (double)w[l] * 0x1p-32 >= p ? 1.0 / (1.0 - p) : 0.0;
    }
}

/* The Philox row of (b, h, i): (b H + h) Sq + i, or h Tq + the packed row. */
static uint64_t philox_row(const setup *s, int64_t b, int64_t h, int64_t i) {
    if (s->c.varlen) return (uint64_t)(h * s->Tq + s->cq[b] + i);
    return (uint64_t)((b * s->H + h) * s->Sq + i);
}

/* O and lse of every row under (seed, offset). */
static void model_forward(const setup *s, uint64_t seed, uint64_t offset, double *o, double *lse) {
    double *sc = dalloc(s->Sk), *t = dalloc(s->Sk), *z = dalloc(s->Sk);
    for (int64_t b = 0; b < s->nb; b++)
        for (int64_t h = 0; h < s->H; h++)
            for (int64_t i = 0; i < s->lq[b]; i++) {
                int64_t row = s->cq[b] + i, lo, hi, Lk = s->lk[b], hk = h / s->G;
                double *oi = o + (row * s->H + h) * s->D;
                row_scores(s, b, h, i, sc, t, &lo, &hi);
                double m = -INFINITY;
                for (int64_t j = 0; j < Lk; j++) m = fmax(m, sc[j]);
                memset(oi, 0, (size_t)s->D * sizeof(double));
                if (m == -INFINITY) {
                    lse[row * s->H + h] = -INFINITY;
                    continue;
                }
                double sum = 0;
                for (int64_t j = 0; j < Lk; j++) sum += exp(sc[j] - m);
                lse[row * s->H + h] = m + log(sum);
                drop_row(s, seed, offset, philox_row(s, b, h, i), Lk, z);
                for (int64_t j = 0; j < Lk; j++) {
                    double p = exp(sc[j] - m) / sum * z[j];
                    if (p == 0) continue;
                    const double *vj = s->v + ((s->ck[b] + j) * s->Hkv + hk) * s->D;
                    for (int64_t d = 0; d < s->D; d++) oi[d] += p * vj[d];
                }
            }
    free(sc), free(t), free(z);
}

/* dq, dk, dv from q, k, v, dout and o_in: P recomputed, dS = P (dP Z - rowsum(dO o)), the softcap's
 * chain factor 1 - tanh^2, dk / dv summed over the query heads of a KV head. */
static void model_backward(setup *s) {
    double *sc = dalloc(s->Sk), *t = dalloc(s->Sk), *z = dalloc(s->Sk);
    memset(s->dq, 0, (size_t)(s->Tq * s->H * s->D) * sizeof(double));
    memset(s->dk, 0, (size_t)(s->Tk * s->Hkv * s->D) * sizeof(double));
    memset(s->dv, 0, (size_t)(s->Tk * s->Hkv * s->D) * sizeof(double));
    const double cap = s->c.softcap;
    for (int64_t b = 0; b < s->nb; b++)
        for (int64_t h = 0; h < s->H; h++)
            for (int64_t i = 0; i < s->lq[b]; i++) {
                int64_t row = s->cq[b] + i, lo, hi, Lk = s->lk[b], hk = h / s->G;
                double lse = s->lse[row * s->H + h];
                if (lse == -INFINITY) continue;
                row_scores(s, b, h, i, sc, t, &lo, &hi);
                drop_row(s, s->seed, s->offset, philox_row(s, b, h, i), Lk, z);
                const double *qi = s->q + (row * s->H + h) * s->D, *doi = s->dout + (row * s->H + h) * s->D;
                const double *oi = s->o_in + (row * s->H + h) * s->D;
                double *dqi = s->dq + (row * s->H + h) * s->D;
                double Di = dot(doi, oi, s->D);
                for (int64_t j = 0; j < Lk; j++) {
                    double p = exp(sc[j] - lse);
                    if (p == 0) continue;
                    int64_t kr = (s->ck[b] + j) * s->Hkv + hk;
                    const double *kj = s->k + kr * s->D, *vj = s->v + kr * s->D;
                    double dP = dot(doi, vj, s->D);
                    double dS = p * (dP * z[j] - Di);
                    if (cap > 0) {
                        double th = tanh(t[j] / cap);
                        dS *= 1 - th * th;
                    }
                    double *dkj = s->dk + kr * s->D, *dvj = s->dv + kr * s->D, pz = p * z[j];
                    for (int64_t d = 0; d < s->D; d++) {
                        dqi[d] += s->scale * dS * kj[d];
                        dkj[d] += s->scale * dS * qi[d];
                        dvj[d] += pz * doi[d];
                    }
                }
            }
    free(sc), free(t), free(z);
}

/* ---- setting a case up ----------------------------------------------------------------------------- */

/* x rounded to dtype t as stored. */
static double rnd(brc_dtype t, double x) {
    unsigned char buf[8];
    tu_encode(t, x, buf);
    return tu_decode(t, buf);
}

/* New model values: q, k, v, dout uniform in [-1, 1] as stored; slopes; the mask. */
static void fill_inputs(setup *s, uint64_t rng) {
    const acase *c = &s->c;
    for (int64_t e = 0; e < s->Tq * s->H * s->D; e++)
        s->q[e] = rnd(c->dt, tu_uniform(&rng, -1, 1)), s->dout[e] = rnd(c->dt, tu_uniform(&rng, -1, 1));
    for (int64_t e = 0; e < s->Tk * s->Hkv * s->D; e++)
        s->k[e] = rnd(c->dt, tu_uniform(&rng, -1, 1)), s->v[e] = rnd(c->dt, tu_uniform(&rng, -1, 1));
    for (int64_t b = 0; b < s->nb && c->alibi; b++)
        for (int64_t h = 0; h < s->H; h++)
            /* [H]: the usual geometric slopes; [B, H]: random ones, each batch its own */
            s->slope[b * s->H + h] = (float)(c->alibi == 1 ? pow(2.0, -8.0 * (double)(h + 1) / (double)s->H)
                                                          : tu_uniform(&rng, 0.01, 0.5));
    if (!c->mask) return;
    for (int64_t bm = 0; bm < s->Bm; bm++)
        for (int64_t hm = 0; hm < s->Hm; hm++)
            for (int64_t i = 0; i < s->Sq; i++)
                for (int64_t j = 0; j < s->Sk; j++) {
                    double x;
                    if (c->mask == BOOL_MASK) {
                        /* mostly true; one row of (0, 0) entirely false (no key left) */
                        x = (bm == 0 && hm == 0 && i == (s->Sq > 2 ? 2 : 0)) ? 0 : tu_rand(&rng) % 10 < 7;
                    } else {
                        x = rnd(c->mask_dt, tu_uniform(&rng, -2, 2));
                        /* -inf entries, where j = 0 stays (so that no row loses every key) */
                        if (s->wl < 0 && j > 0 && tu_rand(&rng) % 8 == 0) x = -INFINITY;
                    }
                    s->mask[((bm * s->Hm + hm) * s->Sq + i) * s->Sk + j] = x;
                }
}

/* The host side of a case: sizes, windows, Philox state, arrays, values. No device needed. */
static void model_make(setup *s, const acase *c, uint64_t rng) {
    memset(s, 0, sizeof *s);
    s->c = *c;
    s->nb = c->B, s->H = c->H, s->Hkv = c->Hkv, s->D = c->D, s->G = c->H / c->Hkv;
    cr_assert(c->B <= 8);
    for (int64_t b = 0; b < s->nb; b++) {
        s->lq[b] = c->varlen ? c->lq[b] : c->Sq, s->lk[b] = c->varlen ? c->lk[b] : c->Sk;
        s->cq[b + 1] = s->cq[b] + s->lq[b], s->ck[b + 1] = s->ck[b] + s->lk[b];
        if (s->lq[b] > s->Sq) s->Sq = s->lq[b];
        if (s->lk[b] > s->Sk) s->Sk = s->lk[b];
    }
    s->Tq = s->cq[s->nb], s->Tk = s->ck[s->nb];
    s->msk = s->Sk + (c->varlen ? c->slack_k : 0);
    s->wl = c->wl, s->wr = c->causal ? 0 : c->wr;
    s->scale = c->scale > 0 ? c->scale : 1 / sqrt((double)c->D);
    s->seed = 0x243f6a8885a308d3ull ^ rng, s->offset = ((uint64_t)1 << 32) - 5; /* counters cross 2^32 */
    s->q = dalloc(s->Tq * s->H * s->D), s->dout = dalloc(s->Tq * s->H * s->D), s->o_in = dalloc(s->Tq * s->H * s->D);
    s->o = dalloc(s->Tq * s->H * s->D), s->dq = dalloc(s->Tq * s->H * s->D), s->lse = dalloc(s->Tq * s->H);
    s->k = dalloc(s->Tk * s->Hkv * s->D), s->v = dalloc(s->Tk * s->Hkv * s->D);
    s->dk = dalloc(s->Tk * s->Hkv * s->D), s->dv = dalloc(s->Tk * s->Hkv * s->D);
    s->slope = dalloc(s->nb * s->H);
    if (c->mask) {
        /* a batch at stride 0 is one stored batch: the model indexes it as Bm = 1 */
        s->Bm = c->mask_shape == M_FULL || c->mask_shape == M_H1 ? s->nb : 1;
        s->Hm = c->mask_shape == M_H1 || c->mask_shape == M_B1H1_PAD ? 1 : s->H;
        s->mi = s->Sk + (c->mask_shape == M_B1H1_PAD ? 5 : 0);
        s->mh = s->Sq * s->mi;
        s->mb = c->mask_shape == M_BSTRIDE0 ? 0 : s->Hm * s->mh;
        s->mask = dalloc(s->Bm * s->Hm * s->Sq * s->Sk);
    }
    fill_inputs(s, rng);
}

/* Writes the model's inputs into the device buffers (padding stays poison: NaN if read). */
static void upload_inputs(setup *s) {
    const acase *c = &s->c;
    tu_buf *in[4] = {&s->bq, &s->bdo, &s->bk, &s->bv};
    for (int i = 0; i < 4; i++) memset(in[i]->h, 0xff, in[i]->n * brc_dtype_size(in[i]->t));
    for (int64_t r = 0; r < s->Tq; r++)
        for (int64_t h = 0; h < s->H; h++)
            for (int64_t d = 0; d < s->D; d++) {
                int64_t e = (r * s->H + h) * s->D + d;
                put(&s->bq, voff(&s->vq, r, h, d), s->q[e]), put(&s->bdo, voff(&s->vdo, r, h, d), s->dout[e]);
            }
    for (int64_t r = 0; r < s->Tk; r++)
        for (int64_t h = 0; h < s->Hkv; h++)
            for (int64_t d = 0; d < s->D; d++) {
                int64_t e = (r * s->Hkv + h) * s->D + d;
                put(&s->bk, voff(&s->vk, r, h, d), s->k[e]), put(&s->bv, voff(&s->vk, r, h, d), s->v[e]);
            }
    for (int i = 0; i < 4; i++) tu_buf_upload(in[i]);
    if (c->alibi) {
        for (int64_t e = 0; e < (c->alibi == 1 ? s->H : s->nb * s->H); e++) put(&s->balibi, e, s->slope[e]);
        tu_buf_upload(&s->balibi);
    }
    if (c->mask) {
        memset(s->bmask.h, 0, s->bmask.n * brc_dtype_size(s->bmask.t));
        for (int64_t bm = 0; bm < s->Bm; bm++)
            for (int64_t hm = 0; hm < s->Hm; hm++)
                for (int64_t i = 0; i < s->Sq; i++)
                    for (int64_t j = 0; j < s->Sk; j++)
                        put(&s->bmask, bm * s->mb + hm * s->mh + i * s->mi + j,
                            s->mask[((bm * s->Hm + hm) * s->Sq + i) * s->Sk + j]);
        tu_buf_upload(&s->bmask);
    }
}

/* The model, then device buffers holding its inputs, the descriptors and the plans. */
static void setup_make(brc_context *ctx, setup *s, const acase *c, uint64_t rng) {
    model_make(s, c, rng);
    /* device views: packed ones are one batch of T rows */
    int64_t nbv = c->varlen ? 1 : s->nb, sq = c->varlen ? s->Tq : s->Sq, sk = c->varlen ? s->Tk : s->Sk;
    s->vq = make_view(c->dt, c->layout, c->varlen, nbv, sq, s->H, s->D);
    s->vk = make_view(c->dt, c->layout, c->varlen, nbv, sk, s->Hkv, s->D);
    s->vo = s->vdo = s->vdq = s->vq, s->vdk = s->vk;
    s->vl = make_lview(c->layout == PADDED, c->varlen, nbv, s->H, sq);
    s->bq = tu_buf_new(c->dt, s->vq.n), s->bo = tu_buf_new(c->dt, s->vq.n), s->bdo = tu_buf_new(c->dt, s->vq.n);
    s->bdq = tu_buf_new(c->dt, s->vq.n);
    s->bk = tu_buf_new(c->dt, s->vk.n), s->bv = tu_buf_new(c->dt, s->vk.n), s->bdk = tu_buf_new(c->dt, s->vk.n);
    s->bdv = tu_buf_new(c->dt, s->vk.n);
    s->blse = tu_buf_new(BRC_F32, s->vl.n);
    if (c->alibi) s->balibi = tu_buf_new(BRC_F32, (size_t)(c->alibi == 1 ? s->H : s->nb * s->H));
    if (c->mask) s->bmask = tu_buf_new(c->mask_dt, (size_t)(s->Bm * s->Hm * s->mh));
    if (c->varlen) {
        s->bcq = tu_buf_new(BRC_I32, (size_t)(s->nb + 1)), s->bck = tu_buf_new(BRC_I32, (size_t)(s->nb + 1));
        for (int64_t b = 0; b <= s->nb; b++) put(&s->bcq, b, (double)s->cq[b]), put(&s->bck, b, (double)s->ck[b]);
        tu_buf_upload(&s->bcq), tu_buf_upload(&s->bck);
    }
    upload_inputs(s);

    /* descriptors */
    brc_attention_desc *f = &s->fwd;
    memset(f, 0, sizeof *f);
    f->kind = BRC_ATTENTION_FORWARD;
    f->q = s->vq.t, f->k = s->vk.t, f->v = s->vk.t, f->o = s->vq.t, f->lse = s->vl.t;
    f->causal = c->causal, f->window_left = c->wl, f->window_right = c->wr;
    f->scale = c->scale, f->softcap = c->softcap, f->dropout_p = c->dropout;
    if (c->alibi) {
        f->has_alibi = 1;
        int64_t shape[2] = {s->nb, s->H};
        if (c->alibi == 1) brc_tensor_desc_contiguous(&f->alibi, BRC_F32, 1, shape + 1);
        else brc_tensor_desc_contiguous(&f->alibi, BRC_F32, 2, shape);
    }
    if (c->mask) {
        f->has_mask = 1;
        f->mask.dtype = c->mask_dt, f->mask.rank = 4;
        int64_t shape[4] = {c->mask_shape == M_BSTRIDE0 ? s->nb : s->Bm, s->Hm, s->Sq, s->Sk};
        int64_t st[4] = {s->mb, s->mh, s->mi, 1};
        memcpy(f->mask.shape, shape, sizeof shape), memcpy(f->mask.strides, st, sizeof st);
    }
    if (c->varlen) {
        f->varlen = 1, f->batch = s->nb;
        f->max_seqlen_q = s->Sq, f->max_seqlen_k = s->msk;
    }
    s->bwd = *f;
    s->bwd.kind = BRC_ATTENTION_BACKWARD;
    s->bwd.dout = s->vq.t, s->bwd.dq = s->vq.t, s->bwd.dk = s->vk.t, s->bwd.dv = s->vk.t;

    brc_status st = brc_attention_plan(ctx, f, NULL, &s->pf);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", c->name, brc_last_error(), brc_last_jit_log());
    const char *sku = brc_plan_sku(s->pf);
    cr_assert(strncmp(sku, "bespoke:attention<", 18) == 0, "%s: SKU %s", c->name, sku);
    if (c->sku_has[0]) cr_assert(strstr(sku, c->sku_has), "%s: SKU %s lacks %s", c->name, sku, c->sku_has);
    s->wsf = brc_plan_workspace_size(s->pf);
    s->bws = tu_buf_new(BRC_U8, s->wsf ? s->wsf : 1);
    if (c->bwd) {
        st = brc_attention_plan(ctx, &s->bwd, NULL, &s->pb);
        cr_assert_eq(st, BRC_STATUS_OK, "%s backward: %s\n%s", c->name, brc_last_error(), brc_last_jit_log());
        cr_assert(strncmp(brc_plan_sku(s->pb), "bespoke:attention<", 18) == 0, "%s", brc_plan_sku(s->pb));
        s->wsb = brc_plan_workspace_size(s->pb);
        /* the header: the default backward's workspace holds rowsum(dout * o) and the dq
         * accumulator in f32; the deterministic one's the rowsum (f32: always deterministic) */
        const bool f32 = c->dt == BRC_F32;
        cr_expect(s->wsb >= (size_t)(s->Tq * s->H * (f32 ? 1 : s->D + 1)) * 4, "%s: backward workspace %zu", c->name,
                  s->wsb);
        s->bws2 = tu_buf_new(BRC_U8, s->wsb ? s->wsb : 1);
        brc_attention_desc det = s->bwd;
        det.deterministic = 1;
        st = brc_attention_plan(ctx, &det, NULL, &s->pbd);
        cr_assert_eq(st, BRC_STATUS_OK, "%s deterministic backward: %s\n%s", c->name, brc_last_error(),
                     brc_last_jit_log());
        s->wsbd = brc_plan_workspace_size(s->pbd);
        cr_expect(s->wsbd >= (size_t)(s->Tq * s->H) * 4, "%s: deterministic backward workspace %zu", c->name, s->wsbd);
        s->bws3 = tu_buf_new(BRC_U8, s->wsbd ? s->wsbd : 1);
        /* the plans say which they are (attention.h) */
        cr_expect_eq(brc_attention_plan_deterministic(s->pb), f32, "%s", c->name);
        cr_expect_eq(brc_attention_plan_deterministic(s->pbd), 1, "%s", c->name);
        cr_expect_eq(brc_attention_plan_deterministic(s->pf), 1, "%s: the forward", c->name);
        cr_expect_eq(strstr(brc_plan_sku(s->pb), ">+atomic@") != NULL, !f32, "%s: SKU %s", c->name,
                     brc_plan_sku(s->pb));
        cr_expect(strstr(brc_plan_sku(s->pbd), "+atomic") == NULL, "%s: SKU %s", c->name, brc_plan_sku(s->pbd));
    }
}

static void setup_free(setup *s) {
    brc_plan_destroy(s->pf);
    brc_plan_destroy(s->pb);
    brc_plan_destroy(s->pbd);
    tu_buf *all[] = {&s->bq, &s->bk, &s->bv, &s->bo, &s->blse, &s->bdo, &s->bdq, &s->bdk,
                     &s->bdv, &s->bmask, &s->balibi, &s->bcq, &s->bck, &s->bws, &s->bws2, &s->bws3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]->h) tu_buf_free(all[i]);
    double *arr[] = {s->q, s->k, s->v, s->dout, s->o_in, s->slope, s->mask, s->o, s->lse, s->dq, s->dk, s->dv};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) free(arr[i]);
}

static brc_attention_args args_of(const setup *s) {
    brc_attention_args a;
    memset(&a, 0, sizeof a);
    a.q = dp(&s->bq), a.k = dp(&s->bk), a.v = dp(&s->bv), a.o = dp(&s->bo);
    a.lse = (float *)dp(&s->blse);
    a.dout = dp(&s->bdo), a.dq = dp(&s->bdq), a.dk = dp(&s->bdk), a.dv = dp(&s->bdv);
    if (s->c.mask) a.mask = dp(&s->bmask);
    if (s->c.alibi) a.alibi = (const float *)dp(&s->balibi);
    if (s->c.varlen) a.cu_seqlens_q = (const int32_t *)dp(&s->bcq), a.cu_seqlens_k = (const int32_t *)dp(&s->bck);
    a.philox = (brc_philox){s->seed, s->offset, NULL};
    return a;
}

static void run_forward(setup *s, brc_stream stream) {
    brc_attention_args a = args_of(s);
    brc_status st = brc_attention_run(s->pf, &a, s->wsf ? dp(&s->bws) : NULL, s->wsf, stream);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", s->c.name, brc_last_error());
}

static void run_backward(setup *s, int det) {
    brc_attention_args a = args_of(s);
    brc_status st = det ? brc_attention_run(s->pbd, &a, s->wsbd ? dp(&s->bws3) : NULL, s->wsbd, NULL)
                        : brc_attention_run(s->pb, &a, s->wsb ? dp(&s->bws2) : NULL, s->wsb, NULL);
    cr_assert_eq(st, BRC_STATUS_OK, "%s backward: %s", s->c.name, brc_last_error());
}

/* ---- comparing ------------------------------------------------------------------------------------- */

/* |got - ref| <= atol + rtol |ref| everywhere, with atol a share of max |ref| plus 1e-5 (f32
 * rounding where the exact value is 0, as dS = P (dP - rowsum(dO O)) with one key; half-precision
 * inputs and outputs, f32 accumulation), the max taken over each group of `group` elements (o:
 * one row of one head, whose scale is its own) or over everything (group 0: the gradients, where
 * a key that no query attends much has a tiny row that f16 may flush); and the relative L2 error
 * under a tighter bound than that elementwise slack implies. Returns the relative L2 error. */
static double check_close(const setup *s, const char *what, size_t n, size_t group, const double *ref,
                          const double *got) {
    bool bf = s->c.dt == BRC_BF16;
    double atol_share = bf ? 2e-2 : 5e-3, rtol = bf ? 2e-2 : 1e-2, l2 = bf ? 6e-3 : 2e-3;
    if (s->c.dt == BRC_F32 && s->c.softcap == 0) atol_share = 1e-4, rtol = 1e-4, l2 = 2e-5; /* f32 throughout */
    if (s->c.softcap > 0) l2 *= 1.5; /* a tanh.approx (2^-11 relative) in the scores and the chain factor */
    if (group == 0) group = n;
    double num = 0, den = 0;
    long bad = 0;
    char first[200] = "";
    for (size_t g0 = 0; g0 < n; g0 += group) {
        double mx = 0;
        for (size_t i = g0; i < g0 + group && i < n; i++) mx = fmax(mx, fabs(ref[i]));
        for (size_t i = g0; i < g0 + group && i < n; i++) {
            double e = got[i] - ref[i];
            if (!(fabs(e) <= 1e-5 + atol_share * mx + rtol * fabs(ref[i])) && bad++ == 0)
                snprintf(first, sizeof first, "element %zu: got %.6g want %.6g", i, got[i], ref[i]);
            num += e * e, den += ref[i] * ref[i];
        }
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    const char *sku = brc_plan_sku(strcmp(what, "o") == 0 ? s->pf : s->det_now ? s->pbd : s->pb);
    cr_expect_eq(bad, 0, "%s %s (%s): %ld of %zu elements out of tolerance; first %s", s->c.name, what, sku, bad, n,
                 first);
    cr_expect(rel <= l2, "%s %s (%s): relative L2 error %.3g > %.3g", s->c.name, what, sku, rel, l2);
    return rel;
}

/* Elements of a buffer outside a view that are no longer poison. */
static long strays(const tu_buf *b, const view *v, int64_t rows, int64_t heads, int64_t D) {
    unsigned char *in = calloc(b->n, 1);
    cr_assert(in);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t d = 0; d < D; d++) in[voff(v, r, h, d)] = 1;
    long n = 0;
    for (size_t e = 0; e < b->n; e++) n += !in[e] && !poisoned(b, e);
    free(in);
    return n;
}

/* Gathers a q-like or k-like output into model order. */
static double *gather(const tu_buf *b, const view *v, int64_t rows, int64_t heads, int64_t D) {
    double *g = dalloc(rows * heads * D);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t d = 0; d < D; d++) g[(r * heads + h) * D + d] = tu_buf_at(b, (size_t)voff(v, r, h, d));
    return g;
}

/* The forward's o and lse against the model's (already computed into s->o, s->lse). Returns the
 * relative L2 error of o. */
static double check_forward(setup *s) {
    tu_buf_download(&s->bo), tu_buf_download(&s->blse);
    size_t n = (size_t)(s->Tq * s->H * s->D);
    double *got = gather(&s->bo, &s->vo, s->Tq, s->H, s->D);
    double rel = check_close(s, "o", n, (size_t)s->D, s->o, got);
    /* empty rows: exactly 0 and lse = -inf; lse elsewhere within 1e-3 (tanh.approx's 2^-11
     * relative error times the softcap may add up to that much again) */
    double ltol = 1e-3 + (s->c.softcap > 0 ? fmin(s->c.softcap, 10.0) * 0x1p-11 : 0);
    long lbad = 0, zbad = 0, empty = 0;
    char first[200] = "";
    for (int64_t r = 0; r < s->Tq; r++)
        for (int64_t h = 0; h < s->H; h++) {
            double want = s->lse[r * s->H + h], l = tu_buf_at(&s->blse, (size_t)loff(&s->vl, r, h));
            if (want == -INFINITY) {
                empty++;
                if (l != -INFINITY && lbad++ == 0) snprintf(first, sizeof first, "row %lld head %lld: lse %g, want -inf", (long long)r, (long long)h, l);
                for (int64_t d = 0; d < s->D; d++) zbad += got[(r * s->H + h) * s->D + d] != 0;
            } else if (!(fabs(l - want) <= ltol) && lbad++ == 0) {
                snprintf(first, sizeof first, "row %lld head %lld: lse %.7g, want %.7g", (long long)r, (long long)h, l, want);
            }
        }
    cr_expect_eq(lbad, 0, "%s: %ld lse values wrong; first %s (%s)", s->c.name, lbad, first, brc_plan_sku(s->pf));
    cr_expect_eq(zbad, 0, "%s: %ld elements of rows with no key are not 0", s->c.name, zbad);
    cr_expect_eq(strays(&s->bo, &s->vo, s->Tq, s->H, s->D), 0, "%s: o written outside its view", s->c.name);
    long ls = 0;
    unsigned char *in = calloc(s->blse.n, 1);
    cr_assert(in);
    for (int64_t r = 0; r < s->Tq; r++)
        for (int64_t h = 0; h < s->H; h++) in[loff(&s->vl, r, h)] = 1;
    for (size_t e = 0; e < s->blse.n; e++) ls += !in[e] && !poisoned(&s->blse, e);
    free(in);
    cr_expect_eq(ls, 0, "%s: lse written outside its view", s->c.name);
    if (empty) cr_log_info("%s: %ld rows with no key", s->c.name, empty);
    free(got);
    return rel;
}

static unsigned char *snapshot(const tu_buf *b) {
    size_t n = b->n * brc_dtype_size(b->t);
    unsigned char *p = malloc(n);
    cr_assert(p);
    memcpy(p, b->h, n);
    return p;
}

/* ---- the model checks itself (no GPU) ----------------------------------------------------------------- */

/* sum(dout * O) of the model's forward. */
static double model_loss(const setup *s, double *o, double *lse) {
    model_forward(s, s->seed, s->offset, o, lse);
    return dot(s->dout, o, s->Tq * s->H * s->D);
}

/* The model's backward is the gradient of its forward: central differences of sum(dout * O) in
 * every element of q, k and v, through softcap, ALiBi, masks (-inf entries, bool, empty rows),
 * windows, dropout, GQA and varlen. */
Test(attention_ref, model_backward_is_the_gradient_of_its_forward) {
    static const acase fd[] = {
        {"fd softcap alibi mask dropout window gqa2", F16, 2, 4, 2, 5, 7, 8, BSHD, 0, 3, 1, 0.7, 1.5, 2, ADD_MASK, F32,
         M_H1, 0.3, 0, {0}, {0}, 0, 1, ""},
        {"fd varlen causal dropout alibi gqa4", BF, 3, 4, 1, 0, 0, 8, BSHD, 1, -1, -1, 0, 0, 1, 0, F32, 0, 0.4, 1,
         {3, 1, 4}, {5, 2, 3}, 2, 1, ""},
        {"fd bool mask causal sq>sk", F16, 1, 2, 2, 6, 4, 8, BSHD, 1, -1, -1, 0, 0, 0, BOOL_MASK, BOOL, M_FULL, 0, 0,
         {0}, {0}, 0, 1, ""},
        {"fd mask -inf Bm=1 softcap", BF, 2, 2, 1, 4, 9, 8, BSHD, 0, -1, -1, 0, 2.0, 0, ADD_MASK, F16, M_B1, 0, 0, {0},
         {0}, 0, 1, ""},
    };
    for (size_t ci = 0; ci < sizeof fd / sizeof fd[0]; ci++) {
        setup s;
        model_make(&s, &fd[ci], 42 + ci);
        model_forward(&s, s.seed, s.offset, s.o, s.lse);
        memcpy(s.o_in, s.o, (size_t)(s.Tq * s.H * s.D) * sizeof(double)); /* exact O: the exact gradient */
        model_backward(&s);
        double *o = dalloc(s.Tq * s.H * s.D), *lse = dalloc(s.Tq * s.H);
        double *xs[3] = {s.q, s.k, s.v}, *gs[3] = {s.dq, s.dk, s.dv};
        int64_t ns[3] = {s.Tq * s.H * s.D, s.Tk * s.Hkv * s.D, s.Tk * s.Hkv * s.D};
        long empty = 0, nonzero = 0;
        for (int64_t e = 0; e < s.Tq * s.H; e++) empty += s.lse[e] == -INFINITY;
        for (int t = 0; t < 3; t++) {
            double gmax = 0, worst = 0;
            for (int64_t e = 0; e < ns[t]; e++) gmax = fmax(gmax, fabs(gs[t][e]));
            for (int64_t e = 0; e < ns[t]; e++) {
                const double h = 1e-5, x0 = xs[t][e];
                xs[t][e] = x0 + h;
                double lp = model_loss(&s, o, lse);
                xs[t][e] = x0 - h;
                double lm = model_loss(&s, o, lse);
                xs[t][e] = x0;
                worst = fmax(worst, fabs((lp - lm) / (2 * h) - gs[t][e]));
                nonzero += gs[t][e] != 0;
            }
            cr_expect(worst <= 1e-7 * (1 + gmax), "%s: d%c differs from the finite differences by %.3g (max %.3g)",
                      fd[ci].name, "qkv"[t], worst, gmax);
        }
        cr_expect(nonzero > 0, "%s: every gradient is 0", fd[ci].name);
        if (fd[ci].mask == BOOL_MASK || fd[ci].varlen)
            cr_expect(empty > 0, "%s: meant to have rows with no key", fd[ci].name);
        free(o), free(lse);
        setup_free(&s);
    }
}

/* With q = 0 every score is 0 (plus ALiBi), so lse counts the allowed keys: the window and the
 * bottom-right diagonal as the header draws them, per sequence under varlen. */
Test(attention_ref, model_windows_are_bottom_right_aligned) {
    /* name, dt, B, H, Hkv, Sq, Sk, D, layout, causal, wl, wr; no other feature */
#define Z_ 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, ""
    static const struct {
        acase c;
        int64_t want[6]; /* allowed keys of rows 0..5 of sequence 0 */
    } t[] = {
        {{"causal sq<sk", F16, 1, 1, 1, 2, 5, 8, BSHD, 1, -1, -1, Z_}, {4, 5}},
        {{"causal sq>sk", F16, 1, 1, 1, 5, 2, 8, BSHD, 1, -1, -1, Z_}, {0, 0, 0, 1, 2}},
        {{"causal = window right 0", F16, 1, 1, 1, 4, 4, 8, BSHD, 0, -1, 0, Z_}, {1, 2, 3, 4}},
        {{"window left 1 right 1", F16, 1, 1, 1, 4, 6, 8, BSHD, 0, 1, 1, Z_}, {3, 3, 3, 2}},
        {{"window left 2 causal sq<sk", F16, 1, 1, 1, 3, 8, 8, BSHD, 1, 2, -1, Z_}, {3, 3, 3}},
        {{"window right 1 sq>sk", F16, 1, 1, 1, 6, 3, 8, BSHD, 0, -1, 1, Z_}, {0, 0, 1, 2, 3, 3}},
        {{"varlen causal", F16, 2, 1, 1, 0, 0, 8, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {3, 2}, {4, 1}, 0, 0, ""}, {2, 3, 4}},
    };
#undef Z_
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        setup s;
        model_make(&s, &t[k].c, 1);
        memset(s.q, 0, (size_t)(s.Tq * s.H * s.D) * sizeof(double));
        model_forward(&s, s.seed, s.offset, s.o, s.lse);
        for (int64_t i = 0; i < s.lq[0]; i++) {
            double want = t[k].want[i] ? log((double)t[k].want[i]) : -INFINITY;
            cr_expect(s.lse[i] == want || fabs(s.lse[i] - want) < 1e-12, "%s row %lld: lse %g, want %g", t[k].c.name,
                      (long long)i, s.lse[i], want);
        }
        setup_free(&s);
    }
    /* ALiBi: scores -slope |i + Sk - Sq - j|; row 0 of Sq = 1, Sk = 3 sees distances 2, 1, 0 */
    acase al = {"alibi", F16, 1, 1, 1, 1, 3, 8, BSHD, 0, -1, -1, 0, 0, 1, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, ""};
    setup s;
    model_make(&s, &al, 1);
    memset(s.q, 0, (size_t)(s.Tq * s.H * s.D) * sizeof(double));
    model_forward(&s, s.seed, s.offset, s.o, s.lse);
    double m = s.slope[0];
    cr_expect(fabs(m - 1.0 / 256) < 1e-12, "slope of head 0 of 1: 2^-8, got %g", m);
    cr_expect(fabs(s.lse[0] - log(exp(-2 * m) + exp(-m) + 1)) < 1e-12, "alibi lse %g", s.lse[0]);
    setup_free(&s);
}

/* The backward reads the model's o (rounded as stored: o_in) and lse (as f32). */
static void upload_model_o_lse(setup *s) {
    memset(s->bo.h, 0xff, s->bo.n * brc_dtype_size(s->c.dt)), memset(s->blse.h, 0xff, s->blse.n * 4);
    for (int64_t r = 0; r < s->Tq; r++)
        for (int64_t h = 0; h < s->H; h++) {
            for (int64_t d = 0; d < s->D; d++) {
                int64_t e = (r * s->H + h) * s->D + d;
                s->o_in[e] = put(&s->bo, voff(&s->vo, r, h, d), s->o[e]);
            }
            put(&s->blse, loff(&s->vl, r, h), s->lse[r * s->H + h]);
        }
    tu_buf_upload(&s->bo), tu_buf_upload(&s->blse);
}

/* ---- the parameterized test -------------------------------------------------------------------------- */

/* The forward of a case against the float64 model: poisoned outputs, the same bits twice, and
 * with dropout a check that sees the mask bits. Returns O's relative L2 error. */
static double forward_checks(setup *s, const acase *c) {
    /* counters: 0 without dropout; with it, at least every counter the layout above uses */
    uint64_t rows = (uint64_t)(s->H * s->Tq), need = c->dropout > 0 ? rows * (uint64_t)((s->msk + 3) / 4) : 0;
    if (c->dropout > 0) cr_expect(brc_attention_counters(s->pf) >= need, "%s: counters %llu < %llu", c->name,
                                  (unsigned long long)brc_attention_counters(s->pf), (unsigned long long)need);
    else cr_expect_eq(brc_attention_counters(s->pf), 0, "%s", c->name);

    /* forward, twice: the same bits (the split path's combine too); the workspace poisoned (the
     * fused merge's counters are zeroed by the run) */
    poison(&s->bo), poison(&s->blse);
    if (s->wsf) poison(&s->bws);
    run_forward(s, NULL);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: kernel failed", c->name);
    model_forward(s, s->seed, s->offset, s->o, s->lse);
    double rel = check_forward(s);
    unsigned char *o1 = snapshot(&s->bo), *l1 = snapshot(&s->blse);
    poison(&s->bo), poison(&s->blse);
    if (s->wsf) poison(&s->bws);
    run_forward(s, NULL);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_download(&s->bo), tu_buf_download(&s->blse);
    cr_expect(memcmp(o1, s->bo.h, s->bo.n * brc_dtype_size(c->dt)) == 0 && memcmp(l1, s->blse.h, s->blse.n * 4) == 0,
              "%s: a second forward gives other bits", c->name);
    free(o1), free(l1);
    if (c->dropout > 0) {
        /* the check above sees the bits: other counters give a far larger error */
        double *o2 = dalloc(s->Tq * s->H * s->D), *l2 = dalloc(s->Tq * s->H);
        model_forward(s, s->seed, s->offset + 1, o2, l2);
        double *got = gather(&s->bo, &s->vo, s->Tq, s->H, s->D), num = 0, den = 0;
        for (int64_t e = 0; e < s->Tq * s->H * s->D; e++) num += (got[e] - o2[e]) * (got[e] - o2[e]), den += o2[e] * o2[e];
        cr_expect(sqrt(num / den) > 10 * rel, "%s: the dropout check cannot tell counters apart (%.3g vs %.3g)", c->name,
                  sqrt(num / den), rel);
        free(o2), free(l2), free(got);
    }
    return rel;
}

/* The cases the Hopper (wgmma) forward takes on an sm_90 device (docs/attention-hopper.md: f16 /
 * bf16, head dims 64, 128, 256, more than 64 query rows a KV head). */
static bool wgmma_case(const acase *c) {
    int64_t sq = c->Sq;
    if (c->varlen) /* max_seqlen_q */
        for (int b = 0; b < c->B; b++) sq = c->lq[b] > sq ? c->lq[b] : sq;
    return c->dt != BRC_F32 && (c->D == 64 || c->D == 128 || c->D == 256) && sq * (c->H / c->Hkv) > 64;
}

/* The cases the Hopper (wgmma) backward takes on an sm_90 device: the atomic backward in f16 / bf16,
 * fixed lengths, head dims 64, 128 and 256. */
static bool wgmma_bwd_case(const acase *c) {
    return c->bwd && c->dt != BRC_F32 && !c->varlen && (c->D == 64 || c->D == 128 || c->D == 256);
}

static uint64_t case_seed(const acase *c) {
    return 0x9e3779b97f4a7c15ull ^ (uint64_t)(c->D * 131 + c->Sq * 7 + c->Sk + c->B * 1009 + c->H * 31);
}

/* The backward of a case against the float64 model (model_backward run): dets = 1 the atomic
 * backward only, 2 the deterministic one too. */
static void backward_checks(setup *s, const acase *c, int dets) {
    /* det = 0: the default (atomic dq), its workspace poisoned (the run zeroes the accumulator
     * itself); dk and dv still the same bits twice. det = 1: every output the same bits. */
    for (int det = 0; det < dets; det++) {
        s->det_now = det;
        tu_buf *outs[3] = {&s->bdq, &s->bdk, &s->bdv};
        unsigned char *first[3];
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < 3; i++) poison(outs[i]);
            poison(det ? &s->bws3 : &s->bws2);
            run_backward(s, det);
            cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS, "%s: backward kernel failed (det %d)",
                         c->name, det);
            for (int i = 0; i < 3; i++) tu_buf_download(outs[i]);
            if (pass == 0) {
                for (int i = 0; i < 3; i++) first[i] = snapshot(outs[i]);
            } else {
                for (int i = det || c->dt == BRC_F32 ? 0 : 1; i < 3; i++)
                    cr_expect(memcmp(first[i], outs[i]->h, outs[i]->n * brc_dtype_size(c->dt)) == 0,
                              "%s: backward (det %d) run twice: %s differs", c->name, det,
                              i == 0 ? "dq" : i == 1 ? "dk" : "dv");
                for (int i = 0; i < 3; i++) free(first[i]);
            }
        }
        double *gq = gather(&s->bdq, &s->vdq, s->Tq, s->H, s->D);
        double *gk = gather(&s->bdk, &s->vdk, s->Tk, s->Hkv, s->D), *gv = gather(&s->bdv, &s->vdk, s->Tk, s->Hkv, s->D);
        double rq = check_close(s, "dq", (size_t)(s->Tq * s->H * s->D), 0, s->dq, gq);
        double rk = check_close(s, "dk", (size_t)(s->Tk * s->Hkv * s->D), 0, s->dk, gk);
        double rv = check_close(s, "dv", (size_t)(s->Tk * s->Hkv * s->D), 0, s->dv, gv);
        cr_expect_eq(strays(&s->bdq, &s->vdq, s->Tq, s->H, s->D) + strays(&s->bdk, &s->vdk, s->Tk, s->Hkv, s->D) +
                         strays(&s->bdv, &s->vdk, s->Tk, s->Hkv, s->D),
                     0, "%s: dq, dk or dv written outside its view (det %d)", c->name, det);
        cr_log_info("%s: backward (det %d) rel L2 dq %.2e dk %.2e dv %.2e, %s", c->name, det, rq, rk, rv,
                    brc_plan_sku(det ? s->pbd : s->pb));
        free(gq), free(gk), free(gv);
    }
}

ParameterizedTest(acase *c, attention, matches_float64, .timeout = 900) {
    brc_context *ctx = tu_device_or_skip();
    setup s;
    setup_make(ctx, &s, c, case_seed(c));
    /* on an sm_90 device the Hopper forward takes the cases it can (the default path) */
    if (!strcmp(brc_context_arch(ctx), "sm_90"))
        cr_expect_eq(strstr(brc_plan_sku(s.pf), ",wgmma") != NULL, wgmma_case(c), "%s: SKU %s", c->name,
                     brc_plan_sku(s.pf));
    double rel = forward_checks(&s, c);
    cr_log_info("%s: forward rel L2 %.2e, %s", c->name, rel, brc_plan_sku(s.pf));

    if (c->bwd) {
        if (!strcmp(brc_context_arch(ctx), "sm_90")) {
            cr_expect_eq(strstr(brc_plan_sku(s.pb), ",wgmma") != NULL, wgmma_bwd_case(c), "%s: SKU %s", c->name,
                         brc_plan_sku(s.pb));
            /* dQ by tensor reductions at D = 64 and 128 (D = 256: the f32 reductions from registers);
             * det = 1 there: the same kernel, its reductions in key-tile order */
            cr_expect_eq(strstr(brc_plan_sku(s.pb), ",dqbulk") != NULL, wgmma_bwd_case(c) && c->D <= 128,
                         "%s: SKU %s", c->name, brc_plan_sku(s.pb));
            cr_expect_eq(strstr(brc_plan_sku(s.pbd), ",wgmma,dqbulk,ordered") != NULL,
                         wgmma_bwd_case(c) && c->D <= 128, "%s: SKU %s", c->name, brc_plan_sku(s.pbd));
        }
        upload_model_o_lse(&s);
        model_backward(&s);
        backward_checks(&s, c, 2);
    }
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- the split decode's merge: a combine kernel, fused, or over a cluster ------------------------------ */

/* The decode cases that split (matches_float64 runs them with the default merge, the combine
 * kernel) with BARACUDA_ATTN_DECODE_MERGE=1 (the forward's last CTA of each tile merges: ",fused")
 * and =2 (clusters of the tile's splits, sm_90: ",cluster"), checked the same way: float64 model,
 * poisoned outputs and workspace, the same bits twice. */
static bool split_case(const acase *c) { return !strcmp(c->sku_has, "split="); }

/* The forward of case c planned under knob = val, checked as matches_float64 checks the forward; its
 * SKU must name the variant (`want`) on an sm_90 device, or on any with any_arch. */
static void knob_forward_case(const acase *c, const char *knob, const char *val, const char *want, bool any_arch) {
    setenv(knob, val, 1);
    brc_context *ctx = tu_device_or_skip();
    setup s;
    setup_make(ctx, &s, c, case_seed(c));
    if (any_arch || !strcmp(brc_context_arch(ctx), "sm_90"))
        cr_expect(strstr(brc_plan_sku(s.pf), want) != NULL, "%s: SKU %s", c->name, brc_plan_sku(s.pf));
    cr_log_info("%s: forward rel L2 %.2e, %s", c->name, forward_checks(&s, c), brc_plan_sku(s.pf));
    setup_free(&s);
    brc_context_destroy(ctx);
}

ParameterizedTestParameters(attention_fused, matches_float64) {
    static acase sel[sizeof cases / sizeof cases[0]];
    return cr_make_param_array(acase, sel, select_cases(sel, split_case, 1));
}
ParameterizedTest(acase *c, attention_fused, matches_float64, .timeout = 600) {
    knob_forward_case(c, "BARACUDA_ATTN_DECODE_MERGE", "1", ",fused", true);
}

ParameterizedTestParameters(attention_cluster, matches_float64) {
    static acase sel[sizeof cases / sizeof cases[0]];
    return cr_make_param_array(acase, sel, select_cases(sel, split_case, 1));
}
ParameterizedTest(acase *c, attention_cluster, matches_float64, .timeout = 600) {
    knob_forward_case(c, "BARACUDA_ATTN_DECODE_MERGE", "2", ",cluster", false);
}

/* ---- varlen on the Hopper forward --------------------------------------------------------------------- */

/* varlen on the Hopper forward: a KV tile past a sequence's end holds the next sequence's rows
 * (TMA fills zeros only past the whole tensor); they must not reach the sequence's output even
 * when they are not finite (the kernel zeroes those V rows). Sequence 0's o and lse are the same
 * bits with NaN in every k and v row of sequence 1 as without; its 90 keys are one 128-key tile
 * whose last 38 rows are sequence 1's. */
Test(attention, varlen_neighbour_nan_does_not_leak, .timeout = 300) {
    brc_context *ctx = tu_device_or_skip();
    static const acase c = {"varlen nan neighbour", BF, 2, 4, 2, 0, 0, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1,
                            {100, 70}, {90, 150}, 0, 0, ""};
    setup s;
    setup_make(ctx, &s, &c, 4242);
    if (!strcmp(brc_context_arch(ctx), "sm_90"))
        cr_expect(strstr(brc_plan_sku(s.pf), ",wgmma"), "SKU %s", brc_plan_sku(s.pf));
    unsigned char *o[2], *l[2];
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            for (int64_t r = s.ck[1]; r < s.ck[2]; r++)
                for (int64_t h = 0; h < s.Hkv; h++)
                    for (int64_t d = 0; d < s.D; d++)
                        put(&s.bk, voff(&s.vk, r, h, d), NAN), put(&s.bv, voff(&s.vk, r, h, d), NAN);
            tu_buf_upload(&s.bk), tu_buf_upload(&s.bv);
        }
        poison(&s.bo), poison(&s.blse);
        run_forward(&s, NULL);
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        tu_buf_download(&s.bo), tu_buf_download(&s.blse);
        o[pass] = snapshot(&s.bo), l[pass] = snapshot(&s.blse);
    }
    long diff = 0, nan = 0;
    for (int64_t r = s.cq[0]; r < s.cq[1]; r++)
        for (int64_t h = 0; h < s.H; h++) {
            for (int64_t d = 0; d < s.D; d++) {
                size_t e = (size_t)voff(&s.vo, r, h, d) * 2;
                diff += memcmp(o[0] + e, o[1] + e, 2) != 0;
                nan += isnan(tu_buf_at(&s.bo, (size_t)voff(&s.vo, r, h, d)));
            }
            size_t e = (size_t)(h * s.vl.lh + r) * 4; /* lse [H, Tq] */
            diff += memcmp(l[0] + e, l[1] + e, 4) != 0;
        }
    cr_expect_eq(diff, 0, "sequence 0 changed with NaN in sequence 1 (%ld elements; %s)", diff, brc_plan_sku(s.pf));
    cr_expect_eq(nan, 0, "NaN in sequence 0's o");
    for (int i = 0; i < 2; i++) free(o[i]), free(l[i]);
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- the mma.sync kernels on sm_90 ------------------------------------------------------------------- */

/* The cases the Hopper kernels take on an sm_90 device (wgmma_case: the forward; wgmma_bwd_case:
 * the atomic backward), which matches_float64 runs on them there (the default) and asserts so,
 * run on the mma.sync kernels (BARACUDA_ATTENTION_PATH=mma), which every other GPU takes, checked
 * the same way: the forward, and the backward from the model's o and lse. */
static bool mma_case(const acase *c) { return wgmma_case(c) || wgmma_bwd_case(c); }

ParameterizedTestParameters(attention_mma, matches_float64) {
    static acase sel[sizeof cases / sizeof cases[0]];
    return cr_make_param_array(acase, sel, select_cases(sel, mma_case, 1));
}

ParameterizedTest(acase *c, attention_mma, matches_float64, .timeout = 600) {
    setenv("BARACUDA_ATTENTION_PATH", "mma", 1);
    brc_context *ctx = tu_device_or_skip();
    acase mc = *c;
    mc.bwd = wgmma_bwd_case(c);
    setup s;
    setup_make(ctx, &s, &mc, case_seed(&mc));
    const brc_plan *plans[2] = {s.pf, mc.bwd ? s.pb : NULL};
    for (int k = 0; k < 2; k++)
        if (plans[k])
            cr_assert(!strstr(brc_plan_sku(plans[k]), "wgmma") && !strstr(brc_plan_descriptor(plans[k]), "path=wgmma"),
                      "%s: SKU %s, descriptor %s", c->name, brc_plan_sku(plans[k]), brc_plan_descriptor(plans[k]));
    if (wgmma_case(c)) cr_log_info("%s: mma.sync forward rel L2 %.2e, %s", c->name, forward_checks(&s, &mc),
                                   brc_plan_sku(s.pf));
    if (mc.bwd) {
        /* the backward's o and lse are the model's, so the forward path does not matter here */
        model_forward(&s, s.seed, s.offset, s.o, s.lse);
        upload_model_o_lse(&s);
        model_backward(&s);
        backward_checks(&s, &mc, 2); /* and the mma.sync deterministic backward */
    }
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- the grouped grid (BARACUDA_ATTN_GROUP) ---------------------------------------------------------- */

/* The Hopper kernels' 1-D grid in groups of heads (BARACUDA_ATTN_GROUP, off by default): every
 * third case those kernels take at fixed lengths, planned with 3 heads a group (a partial last
 * group where B H or B H_kv is not a multiple of 3), checked as matches_float64 checks them. */
static bool group_case(const acase *c) { return !c->varlen && (wgmma_case(c) || wgmma_bwd_case(c)); }

ParameterizedTestParameters(attention_group, matches_float64) {
    static acase sel[sizeof cases / sizeof cases[0]];
    return cr_make_param_array(acase, sel, select_cases(sel, group_case, 3));
}

ParameterizedTest(acase *c, attention_group, matches_float64, .timeout = 600) {
    setenv("BARACUDA_ATTN_GROUP", "3", 1);
    brc_context *ctx = tu_device_or_skip();
    setup s;
    setup_make(ctx, &s, c, case_seed(c));
    if (!strcmp(brc_context_arch(ctx), "sm_90")) {
        /* 3 heads a group, or all of them where there are fewer */
        cr_expect_eq(strstr(brc_plan_sku(s.pf), ",group=") != NULL, wgmma_case(c), "%s: SKU %s", c->name,
                     brc_plan_sku(s.pf));
        if (c->bwd)
            cr_expect_eq(strstr(brc_plan_sku(s.pb), ",group=") != NULL, wgmma_bwd_case(c), "%s: SKU %s", c->name,
                         brc_plan_sku(s.pb));
    }
    cr_log_info("%s: forward rel L2 %.2e, %s", c->name, forward_checks(&s, c), brc_plan_sku(s.pf));
    if (c->bwd) {
        upload_model_o_lse(&s);
        model_backward(&s);
        backward_checks(&s, c, 1);
    }
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- persistent CTAs (BARACUDA_ATTN_PERSIST) ------------------------------------------------------------ */

/* The Hopper forward with persistent CTAs (BARACUDA_ATTN_PERSIST, off by default): every case that
 * forward takes at fixed lengths, planned with 3 CTAs, so that each walks several tiles (the K / V
 * ring running on from tile to tile, the Q buffer refilled once a tile's S products have read it,
 * O written from registers), checked as matches_float64 checks the forward (float64 model, the
 * same bits twice, nothing written outside the views). */
static bool persist_case(const acase *c) { return !c->varlen && wgmma_case(c); }

ParameterizedTestParameters(attention_persist, matches_float64) {
    static acase sel[sizeof cases / sizeof cases[0]];
    return cr_make_param_array(acase, sel, select_cases(sel, persist_case, 1));
}

ParameterizedTest(acase *c, attention_persist, matches_float64, .timeout = 600) {
    knob_forward_case(c, "BARACUDA_ATTN_PERSIST", "3", ",persist", false);
}

/* ---- capture ------------------------------------------------------------------------------------------ */

/* A captured forward replays with new q, k, v (written into the same buffers after capture) and,
 * for dropout, a new seed and offset read from device memory: the new result each time. */
Test(attention, capture_and_replay_with_new_inputs, .timeout = 600) {
    brc_context *ctx = tu_device_or_skip();
    static const acase cs[] = {
        {"capture decode", BF, 2, 16, 2, 1, 1000, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, ""},
        {"capture dropout causal", F16, 1, 4, 2, 64, 200, 64, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0.3, 0, {0}, {0}, 0, 0, ""},
    };
    for (int i = 0; i < 2; i++) {
        setup s;
        setup_make(ctx, &s, &cs[i], 100 + (uint64_t)i);
        tu_buf dev = tu_buf_new(BRC_I64, 2);
        brc_attention_args a = args_of(&s);
        a.philox = (brc_philox){0, 0, (const uint64_t *)dp(&dev)};
        tu_capture g = tu_capture_begin(CU_STREAM_NON_BLOCKING);
        cr_assert_eq(brc_attention_run(s.pf, &a, s.wsf ? dp(&s.bws) : NULL, s.wsf, (brc_stream)g.s), BRC_STATUS_OK,
                     "%s: %s", cs[i].name, brc_last_error());
        tu_capture_end(&g);
        for (int rep = 0; rep < 2; rep++) {
            fill_inputs(&s, 5000 + (uint64_t)(10 * i + rep)); /* new inputs after capture */
            upload_inputs(&s);
            s.seed = 777 + (uint64_t)rep * 0x100000001ull, s.offset = (uint64_t)rep * 12345;
            uint64_t so[2] = {s.seed, s.offset};
            memcpy(dev.h, so, sizeof so);
            tu_buf_upload(&dev);
            poison(&s.bo), poison(&s.blse);
            /* a pageable upload may still be in flight, and this stream does not wait for the legacy one */
            cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
            tu_capture_replay(&g);
            model_forward(&s, s.seed, s.offset, s.o, s.lse);
            check_forward(&s);
        }
        tu_capture_free(&g);
        tu_buf_free(&dev);
        setup_free(&s);
    }
    brc_context_destroy(ctx);
}

/* The default (atomic) backward captured once replays correctly twice: the run zeroes its dq
 * accumulator inside the graph (the workspace and the outputs are poisoned before each replay). */
Test(attention, capture_backward_replays, .timeout = 600) {
    brc_context *ctx = tu_device_or_skip();
    acase c = {"capture bwd gqa causal", BF, 2, 8, 2, 300, 333, 128, BSHD, 1, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 1, ""};
    setup s;
    setup_make(ctx, &s, &c, 21);
    model_forward(&s, s.seed, s.offset, s.o, s.lse);
    upload_model_o_lse(&s);
    model_backward(&s);
    brc_attention_args a = args_of(&s);
    tu_capture g = tu_capture_begin(CU_STREAM_NON_BLOCKING);
    cr_assert_eq(brc_attention_run(s.pb, &a, dp(&s.bws2), s.wsb, (brc_stream)g.s), BRC_STATUS_OK, "%s",
                 brc_last_error());
    tu_capture_end(&g);
    for (int rep = 0; rep < 2; rep++) {
        poison(&s.bdq), poison(&s.bdk), poison(&s.bdv), poison(&s.bws2);
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        tu_capture_replay(&g);
        tu_buf_download(&s.bdq), tu_buf_download(&s.bdk), tu_buf_download(&s.bdv);
        double *gq = gather(&s.bdq, &s.vdq, s.Tq, s.H, s.D);
        double *gk = gather(&s.bdk, &s.vdk, s.Tk, s.Hkv, s.D), *gv = gather(&s.bdv, &s.vdk, s.Tk, s.Hkv, s.D);
        double rq = check_close(&s, "dq", (size_t)(s.Tq * s.H * s.D), 0, s.dq, gq);
        check_close(&s, "dk", (size_t)(s.Tk * s.Hkv * s.D), 0, s.dk, gk);
        check_close(&s, "dv", (size_t)(s.Tk * s.Hkv * s.D), 0, s.dv, gv);
        cr_log_info("%s: replay %d rel L2 dq %.2e, %s", c.name, rep, rq, brc_plan_sku(s.pb));
        free(gq), free(gk), free(gv);
    }
    tu_capture_free(&g);
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- run-time errors ------------------------------------------------------------------------------------- */

static void expect_run(const brc_plan *p, const brc_attention_args *a, void *ws, size_t wss, brc_status want,
                       const char *what) {
    brc_status st = brc_attention_run(p, a, ws, wss, NULL);
    cr_expect_eq(st, want, "%s: %s, want %s (%s)", what, brc_status_name(st), brc_status_name(want), brc_last_error());
    if (want != BRC_STATUS_OK) cr_expect(brc_last_error()[0] != '\0', "%s: no message", what);
}

Test(attention, run_errors, .timeout = 300) {
    brc_context *ctx = tu_device_or_skip();
    /* a mask, ALiBi and a backward: every optional pointer is needed by one of the plans */
    acase c = {"errors", BF, 2, 4, 2, 64, 96, 64, BSHD, 0, -1, -1, 0, 0, 1, ADD_MASK, F16, M_FULL, 0, 0, {0}, {0}, 0, 1, ""};
    setup s;
    setup_make(ctx, &s, &c, 3);
    cr_assert(s.wsb > 0, "the backward needs a workspace (rowsum)");
    void *wf = s.wsf ? dp(&s.bws) : NULL, *wb = dp(&s.bws2);
    brc_attention_args a = args_of(&s);
    /* the base arguments are fine */
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_OK, "forward");
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_OK, "backward");
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    /* NULL pointers the plan needs */
    a = args_of(&s), a.q = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "q NULL");
    a = args_of(&s), a.k = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "k NULL");
    a = args_of(&s), a.v = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "v NULL");
    a = args_of(&s), a.o = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "o NULL");
    a = args_of(&s), a.lse = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "lse NULL");
    a = args_of(&s), a.mask = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "mask NULL");
    a = args_of(&s), a.alibi = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "alibi NULL");
    a = args_of(&s), a.dout = NULL;
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_INVALID_ARGUMENT, "dout NULL");
    a = args_of(&s), a.dq = NULL;
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_INVALID_ARGUMENT, "dq NULL");
    a = args_of(&s), a.dk = NULL;
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_INVALID_ARGUMENT, "dk NULL");
    a = args_of(&s), a.dv = NULL;
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_INVALID_ARGUMENT, "dv NULL");
    a = args_of(&s), a.lse = NULL;
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_INVALID_ARGUMENT, "backward lse NULL");
    /* misaligned q (2 bytes: one element off) */
    a = args_of(&s), a.q = (const char *)a.q + 2;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_MISALIGNED, "q + 2 bytes");
    a = args_of(&s), a.dq = (char *)a.dq + 2;
    expect_run(s.pb, &a, wb, s.wsb, BRC_STATUS_MISALIGNED, "dq + 2 bytes");
    a = args_of(&s), a.lse = (float *)((char *)a.lse + 2);
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_MISALIGNED, "lse + 2 bytes (f32 element access)");
    a = args_of(&s), a.alibi = (const float *)((const char *)a.alibi + 1);
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_MISALIGNED, "alibi + 1 byte");
    /* the workspace: one byte short, or NULL with the size given */
    a = args_of(&s);
    expect_run(s.pb, &a, wb, s.wsb - 1, BRC_STATUS_INVALID_ARGUMENT, "workspace one byte short");
    expect_run(s.pb, &a, NULL, s.wsb, BRC_STATUS_INVALID_ARGUMENT, "workspace NULL");
    /* an output aliasing an input */
    a = args_of(&s), a.o = (void *)(uintptr_t)a.q;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "o is q");
    /* a plan of another family */
    brc_unary_desc u = tu_unary(BRC_UNARY_EXP, BRC_BF16, 64);
    brc_plan *up = NULL;
    cr_assert_eq(brc_unary_plan(ctx, &u, NULL, &up), BRC_STATUS_OK, "%s", brc_last_error());
    a = args_of(&s);
    expect_run(up, &a, wf, s.wsf, BRC_STATUS_WRONG_PLAN, "unary plan");
    cr_expect_eq(brc_attention_counters(up), 0, "another family's plan: no counters");
    brc_plan_destroy(up);
    cr_expect_neq(brc_attention_run(NULL, &a, wf, s.wsf, NULL), BRC_STATUS_OK, "NULL plan");
    expect_run(s.pf, NULL, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "NULL args");
    cr_expect_eq(brc_attention_counters(s.pf), 0, "no dropout: no counters");
    /* nothing of the refused runs reached the GPU: a last good run still gives the right answer */
    poison(&s.bo), poison(&s.blse);
    a = args_of(&s);
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_OK, "forward after the errors");
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    model_forward(&s, s.seed, s.offset, s.o, s.lse);
    check_forward(&s);
    setup_free(&s);
    /* varlen: the sequence starts are needed */
    acase cv = {"errors varlen", F16, 2, 2, 2, 0, 0, 64, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {3, 9}, {5, 9}, 0, 0, ""};
    setup_make(ctx, &s, &cv, 4);
    wf = s.wsf ? dp(&s.bws) : NULL;
    a = args_of(&s);
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_OK, "varlen forward");
    a.cu_seqlens_q = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "cu_seqlens_q NULL");
    a = args_of(&s), a.cu_seqlens_k = NULL;
    expect_run(s.pf, &a, wf, s.wsf, BRC_STATUS_INVALID_ARGUMENT, "cu_seqlens_k NULL");
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* ---- decode over a varlen KV cache ---------------------------------------------------------------------- */

/* Decode over a varlen KV cache: Sq = 1 per sequence, KV lengths 1000, 1 and 513, GQA 8; forward
 * only (the serving path), against the model. */
Test(attention, varlen_decode, .timeout = 300) {
    brc_context *ctx = tu_device_or_skip();
    acase c = {"varlen decode gqa8", BF, 3, 16, 2, 0, 0, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {1, 1, 1}, {1000, 1, 513}, 0, 0, ""};
    setup s;
    setup_make(ctx, &s, &c, 11);
    poison(&s.bo), poison(&s.blse);
    run_forward(&s, NULL);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    model_forward(&s, s.seed, s.offset, s.o, s.lse);
    check_forward(&s);
    cr_log_info("%s: %s", c.name, brc_plan_sku(s.pf));
    setup_free(&s);
    brc_context_destroy(ctx);
}

/* The other merges of the split decode under capture and over a varlen KV cache: a captured
 * forward replays with new inputs and a poisoned workspace (the fused merge's counters are zeroed
 * by a node of the graph), and the varlen decode above, each against the model. */
static void merge_capture_varlen(int merge) {
    setenv("BARACUDA_ATTN_DECODE_MERGE", merge == 1 ? "1" : "2", 1);
    brc_context *ctx = tu_device_or_skip();
    const bool sm90 = !strcmp(brc_context_arch(ctx), "sm_90");
    const char *tag = merge == 1 ? ",fused" : ",cluster";
    acase c = {"capture decode merge", BF, 2, 16, 2, 1, 1000, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 0, {0}, {0}, 0, 0, ""};
    setup s;
    setup_make(ctx, &s, &c, 300 + (uint64_t)merge);
    if (merge == 1 || sm90) cr_expect(strstr(brc_plan_sku(s.pf), tag), "SKU %s", brc_plan_sku(s.pf));
    brc_attention_args a = args_of(&s);
    tu_capture g = tu_capture_begin(CU_STREAM_NON_BLOCKING);
    cr_assert_eq(brc_attention_run(s.pf, &a, s.wsf ? dp(&s.bws) : NULL, s.wsf, (brc_stream)g.s), BRC_STATUS_OK,
                 "%s", brc_last_error());
    tu_capture_end(&g);
    for (int rep = 0; rep < 2; rep++) {
        fill_inputs(&s, 7000 + (uint64_t)rep);
        upload_inputs(&s);
        poison(&s.bo), poison(&s.blse);
        if (s.wsf) poison(&s.bws);
        cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
        tu_capture_replay(&g);
        model_forward(&s, s.seed, s.offset, s.o, s.lse);
        cr_log_info("capture decode %s replay %d: rel L2 %.2e", tag, rep, check_forward(&s));
    }
    tu_capture_free(&g);
    setup_free(&s);

    acase v = {"varlen decode gqa8 merge", BF, 3, 16, 2, 0, 0, 128, BSHD, 0, -1, -1, 0, 0, 0, 0, F32, 0, 0, 1, {1, 1, 1}, {1000, 1, 513}, 0, 0, ""};
    setup_make(ctx, &s, &v, 12);
    if (merge == 1 || sm90) cr_expect(strstr(brc_plan_sku(s.pf), tag), "SKU %s", brc_plan_sku(s.pf));
    cr_log_info("varlen decode %s: forward rel L2 %.2e, %s", tag, forward_checks(&s, &v), brc_plan_sku(s.pf));
    setup_free(&s);
    brc_context_destroy(ctx);
}
Test(attention_fused, capture_and_varlen, .timeout = 300) { merge_capture_varlen(1); }
Test(attention_cluster, capture_and_varlen, .timeout = 300) { merge_capture_varlen(2); }
