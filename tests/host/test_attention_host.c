/* Attention family without a GPU: brc_attention_desc_init fills the dense forward the header
 * describes; each validation rule of attention.h refuses its descriptor with its status, a
 * message and no plan; every head dim x {f16, bf16} x {forward, backward} and every feature
 * variant compiles for sm_80 and sm_90a in offline contexts (44 plans, each (head dim, dtype,
 * direction) on one arch and each feature on both, one direction each), with a bespoke SKU
 * that names the target and a descriptor that rebuilds the same plan; offline plans refuse to
 * run; and the struct layouts bench/bench_attention.py mirrors with ctypes. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "baracuda/attention.h"

/* ---- descriptors ------------------------------------------------------------------------------------- */

static brc_tensor_desc t4(brc_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t shape[4] = {a, b, c, d};
    brc_tensor_desc t;
    brc_tensor_desc_contiguous(&t, dt, 4, shape);
    return t;
}
static brc_tensor_desc t3(brc_dtype dt, int64_t a, int64_t b, int64_t c) {
    int64_t shape[3] = {a, b, c};
    brc_tensor_desc t;
    brc_tensor_desc_contiguous(&t, dt, 3, shape);
    return t;
}
static brc_tensor_desc t2(brc_dtype dt, int64_t a, int64_t b) {
    int64_t shape[2] = {a, b};
    brc_tensor_desc t;
    brc_tensor_desc_contiguous(&t, dt, 2, shape);
    return t;
}

/* A dense BSHD forward (o like q, lse [B, H, Sq]) built by hand, and its backward. */
static brc_attention_desc fwd(brc_dtype dt, int64_t B, int64_t Sq, int64_t Sk, int64_t H, int64_t Hkv, int64_t D) {
    brc_attention_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_ATTENTION_FORWARD;
    d.q = d.o = t4(dt, B, Sq, H, D);
    d.k = d.v = t4(dt, B, Sk, Hkv, D);
    d.lse = t3(BRC_F32, B, H, Sq);
    d.window_left = d.window_right = -1;
    return d;
}
static brc_attention_desc bwd_of(brc_attention_desc d) {
    d.kind = BRC_ATTENTION_BACKWARD;
    d.dout = d.dq = d.q;
    d.dk = d.dv = d.k;
    return d;
}
static brc_attention_desc varlen(brc_dtype dt, int64_t nseq, int64_t Tq, int64_t Tk, int64_t H, int64_t Hkv, int64_t D,
                                 int64_t maxq, int64_t maxk) {
    brc_attention_desc d;
    memset(&d, 0, sizeof d);
    d.kind = BRC_ATTENTION_FORWARD;
    d.q = d.o = t3(dt, Tq, H, D);
    d.k = d.v = t3(dt, Tk, Hkv, D);
    d.lse = t2(BRC_F32, H, Tq);
    d.window_left = d.window_right = -1;
    d.varlen = 1, d.batch = nseq, d.max_seqlen_q = maxq, d.max_seqlen_k = maxk;
    return d;
}

Test(attention_desc, init_fills_a_dense_forward) {
    brc_attention_desc d;
    memset(&d, 0x5a, sizeof d); /* every field must be written */
    cr_assert_eq(brc_attention_desc_init(&d, BRC_BF16, 2, 100, 300, 8, 2, 128), BRC_STATUS_OK, "%s", brc_last_error());
    brc_attention_desc want = fwd(BRC_BF16, 2, 100, 300, 8, 2, 128);
    cr_expect_eq(d.kind, BRC_ATTENTION_FORWARD);
    const brc_tensor_desc *got[5] = {&d.q, &d.k, &d.v, &d.o, &d.lse}, *ref[5] = {&want.q, &want.k, &want.v, &want.o, &want.lse};
    const char *names[5] = {"q", "k", "v", "o", "lse"};
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(got[i]->dtype, ref[i]->dtype, "%s dtype", names[i]);
        cr_expect_eq(got[i]->rank, ref[i]->rank, "%s rank", names[i]);
        for (int r = 0; r < ref[i]->rank; r++) {
            cr_expect_eq(got[i]->shape[r], ref[i]->shape[r], "%s shape[%d] = %lld", names[i], r, (long long)got[i]->shape[r]);
            cr_expect_eq(got[i]->strides[r], ref[i]->strides[r], "%s strides[%d] = %lld", names[i], r,
                         (long long)got[i]->strides[r]);
        }
    }
    cr_expect(d.has_mask == 0 && d.has_alibi == 0 && d.causal == 0 && d.varlen == 0);
    cr_expect(d.window_left == -1 && d.window_right == -1, "no window: %lld %lld", (long long)d.window_left,
              (long long)d.window_right);
    cr_expect(d.scale == 0 && d.softcap == 0 && d.dropout_p == 0);
    cr_expect_eq(brc_attention_desc_init(NULL, BRC_BF16, 2, 100, 300, 8, 2, 128), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_neq(brc_last_error()[0], '\0');
}

/* ---- validation ------------------------------------------------------------------------------------------ */

/* Refused with status a (or b, where the header leaves the choice open), a message, and no plan. */
static void refuse2(brc_context *ctx, const brc_attention_desc *d, brc_status a, brc_status b, const char *what) {
    brc_plan *p = (brc_plan *)(uintptr_t)1;
    brc_status st = brc_attention_plan(ctx, d, NULL, &p);
    cr_expect(st == a || st == b, "%s: %s, want %s (%s)", what, brc_status_name(st), brc_status_name(a), brc_last_error());
    cr_expect(brc_last_error()[0] != '\0', "%s: refused without a message", what);
    cr_expect_null(p, "%s: out is not NULL", what);
    if (st == BRC_STATUS_OK) brc_plan_destroy(p);
}
static void refuse(brc_context *ctx, const brc_attention_desc *d, brc_status want, const char *what) {
    refuse2(ctx, d, want, want, what);
}

#define INVALID BRC_STATUS_INVALID_ARGUMENT
#define UNSUP BRC_STATUS_UNSUPPORTED

Test(attention_rules, bad_descriptors_are_refused) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = (brc_plan *)(uintptr_t)1;
    cr_expect_eq(brc_attention_plan(ctx, NULL, NULL, &p), INVALID);
    cr_expect_null(p);
    brc_attention_desc g = fwd(BRC_BF16, 2, 64, 96, 8, 2, 64), d;
    cr_expect_eq(brc_attention_plan(NULL, &g, NULL, &p), INVALID);
    cr_expect_eq(brc_attention_plan(ctx, &g, NULL, NULL), INVALID);
    d = g, d.kind = (brc_attention_kind)7;
    refuse(ctx, &d, INVALID, "kind 7");

    /* ranks */
    d = g, d.q = t3(BRC_BF16, 2 * 64, 8, 64), d.o = d.q;
    refuse(ctx, &d, INVALID, "q rank 3 without varlen");
    d = g, d.k.rank = 5, d.k.shape[4] = 1, d.k.strides[4] = 1;
    refuse(ctx, &d, INVALID, "k rank 5");
    d = g, d.lse = t2(BRC_F32, 2 * 8, 64);
    refuse(ctx, &d, INVALID, "lse rank 2 without varlen");
    /* shapes that do not agree */
    d = g, d.k = t4(BRC_BF16, 2, 96, 2, 128);
    refuse2(ctx, &d, INVALID, UNSUP, "k head dim 128, q 64");
    d = g, d.v = t4(BRC_BF16, 2, 95, 2, 64);
    refuse(ctx, &d, INVALID, "v Sk 95, k 96");
    d = g, d.v = t4(BRC_BF16, 2, 96, 4, 64);
    refuse(ctx, &d, INVALID, "v 4 heads, k 2");
    d = g, d.k = d.v = t4(BRC_BF16, 3, 96, 2, 64);
    refuse(ctx, &d, INVALID, "k batch 3, q 2");
    d = g, d.o = t4(BRC_BF16, 2, 63, 8, 64);
    refuse(ctx, &d, INVALID, "o Sq 63, q 64");
    d = g, d.lse = t3(BRC_F32, 2, 8, 65);
    refuse(ctx, &d, INVALID, "lse [2, 8, 65]");
    d = g, d.lse = t3(BRC_F32, 2, 4, 64);
    refuse(ctx, &d, INVALID, "lse [2, 4, 64]");
    d = g, d.q = d.o = t4(BRC_BF16, 2, 64, 6, 64), d.lse = t3(BRC_F32, 2, 6, 64), d.k = d.v = t4(BRC_BF16, 2, 96, 4, 64);
    refuse(ctx, &d, INVALID, "H 6 not a multiple of Hkv 4");
    /* dtypes and head dims */
    d = fwd(BRC_BF16, 2, 64, 96, 8, 2, 80);
    refuse(ctx, &d, UNSUP, "head dim 80");
    d = fwd(BRC_BF16, 2, 64, 96, 8, 2, 512);
    refuse(ctx, &d, UNSUP, "head dim 512");
    d = fwd(BRC_F64, 2, 64, 96, 8, 2, 64);
    refuse(ctx, &d, UNSUP, "f64");
    d = fwd(BRC_FP8E4M3, 2, 64, 96, 8, 2, 64);
    refuse(ctx, &d, UNSUP, "fp8");
    d = g, d.k.dtype = d.v.dtype = BRC_F16;
    refuse2(ctx, &d, INVALID, UNSUP, "q bf16, k and v f16");
    d = g, d.o.dtype = BRC_F32;
    refuse2(ctx, &d, INVALID, UNSUP, "o f32");
    d = g, d.lse.dtype = BRC_BF16;
    refuse2(ctx, &d, INVALID, UNSUP, "lse bf16");
    /* strides */
    d = g, d.q.strides[1] = 8 * 64 + 4, d.q.strides[0] = 64 * d.q.strides[1];
    refuse(ctx, &d, INVALID, "q row stride not a multiple of 8");
    d = g, d.k.strides[2] = 68;
    d.k.strides[1] = 2 * 68, d.k.strides[0] = 96 * 2 * 68;
    refuse(ctx, &d, INVALID, "k head stride 68");
    d = g, d.v.strides[3] = 2;
    refuse(ctx, &d, INVALID, "v last dim not dense");
    d = g, d.o.strides[3] = 0;
    refuse(ctx, &d, INVALID, "o last dim stride 0");
    /* windows and scalars */
    d = g, d.causal = 1, d.window_right = 5;
    refuse(ctx, &d, INVALID, "causal with window_right 5");
    d = g, d.window_left = -2;
    refuse(ctx, &d, INVALID, "window_left -2");
    d = g, d.window_right = -3;
    refuse(ctx, &d, INVALID, "window_right -3");
    d = g, d.dropout_p = 1;
    refuse(ctx, &d, INVALID, "dropout_p 1");
    d = g, d.dropout_p = -0.1;
    refuse(ctx, &d, INVALID, "dropout_p -0.1");
    d = g, d.dropout_p = NAN;
    refuse(ctx, &d, INVALID, "dropout_p NaN");
    d = g, d.softcap = -1;
    refuse(ctx, &d, INVALID, "softcap -1");
    d = g, d.softcap = INFINITY;
    refuse(ctx, &d, INVALID, "softcap inf");
    d = g, d.scale = NAN;
    refuse(ctx, &d, INVALID, "scale NaN");
    d = g, d.scale = INFINITY;
    refuse(ctx, &d, INVALID, "scale inf");
    /* masks */
    brc_tensor_desc mk = t4(BRC_F16, 2, 8, 64, 96);
    d = g, d.has_mask = 1, d.mask = t4(BRC_F16, 2, 8, 64, 97);
    refuse(ctx, &d, INVALID, "mask Sk 97");
    d = g, d.has_mask = 1, d.mask = t4(BRC_F16, 2, 8, 65, 96);
    refuse(ctx, &d, INVALID, "mask Sq 65");
    d = g, d.has_mask = 1, d.mask = t4(BRC_F16, 2, 2, 64, 96);
    refuse(ctx, &d, INVALID, "mask Hm 2 (neither 1 nor H)");
    d = g, d.has_mask = 1, d.mask = t4(BRC_F16, 3, 8, 64, 96);
    refuse(ctx, &d, INVALID, "mask Bm 3 (neither 1 nor B)");
    d = g, d.has_mask = 1, d.mask = t3(BRC_F16, 8, 64, 96);
    refuse(ctx, &d, INVALID, "mask rank 3");
    d = g, d.has_mask = 1, d.mask = mk, d.mask.dtype = BRC_I32;
    refuse2(ctx, &d, INVALID, UNSUP, "mask i32");
    d = varlen(BRC_BF16, 3, 150, 200, 8, 2, 64, 100, 120), d.has_mask = 1, d.mask = t4(BRC_F16, 3, 8, 100, 120);
    refuse(ctx, &d, INVALID, "mask with varlen");
    /* ALiBi */
    d = g, d.has_alibi = 1, d.alibi = t2(BRC_F32, 2, 7);
    refuse(ctx, &d, INVALID, "alibi [2, 7]");
    int64_t h9 = 9;
    d = g, d.has_alibi = 1;
    brc_tensor_desc_contiguous(&d.alibi, BRC_F32, 1, &h9);
    refuse(ctx, &d, INVALID, "alibi [9]");
    d = g, d.has_alibi = 1, d.alibi = t2(BRC_F32, 3, 8);
    refuse(ctx, &d, INVALID, "alibi [3, 8] with B 2");
    d = g, d.has_alibi = 1, d.alibi = t2(BRC_BF16, 2, 8);
    refuse2(ctx, &d, INVALID, UNSUP, "alibi bf16");
    /* varlen */
    d = varlen(BRC_BF16, 3, 150, 200, 8, 2, 64, 100, 120), d.q = d.o = t4(BRC_BF16, 1, 150, 8, 64);
    refuse(ctx, &d, INVALID, "varlen q rank 4");
    d = varlen(BRC_BF16, 0, 150, 200, 8, 2, 64, 100, 120);
    refuse(ctx, &d, INVALID, "varlen batch 0");
    d = varlen(BRC_BF16, 3, 150, 200, 8, 2, 64, -5, 120);
    refuse(ctx, &d, INVALID, "varlen max_seqlen_q -5");
    d = varlen(BRC_BF16, 3, 150, 200, 8, 2, 64, 100, -1);
    refuse(ctx, &d, INVALID, "varlen max_seqlen_k -1");
    d = varlen(BRC_BF16, 3, 150, 200, 8, 2, 64, 100, (int64_t)1 << 31);
    refuse(ctx, &d, INVALID, "varlen max_seqlen_k 2^31 (the kernels index with 32-bit ints)");
    d = varlen(BRC_BF16, 70000, 150, 200, 8, 2, 64, 100, 120);
    refuse(ctx, &d, INVALID, "varlen batch 70000 (a grid dim)");
    d = varlen(BRC_BF16, 3, 150, 200, 8, 2, 64, 100, 120), d.lse = t2(BRC_F32, 8, 149);
    refuse(ctx, &d, INVALID, "varlen lse [H, Tq - 1]");
    /* backward operands */
    brc_attention_desc b = bwd_of(g);
    d = b, d.dq = t4(BRC_BF16, 2, 64, 8, 128);
    refuse2(ctx, &d, INVALID, UNSUP, "dq head dim 128");
    d = b, d.dk = t4(BRC_BF16, 2, 96, 8, 64);
    refuse(ctx, &d, INVALID, "dk 8 heads, k 2");
    d = b, d.dv.dtype = BRC_F16;
    refuse2(ctx, &d, INVALID, UNSUP, "dv f16, v bf16");
    d = b, d.dout = t4(BRC_BF16, 2, 65, 8, 64);
    refuse(ctx, &d, INVALID, "dout Sq 65");
    d = b, d.dq.strides[3] = 2;
    refuse(ctx, &d, INVALID, "dq last dim not dense");
    d = b, d.dropout_p = 1.5;
    refuse(ctx, &d, INVALID, "backward dropout_p 1.5");
    d = b, d.deterministic = 2;
    refuse(ctx, &d, INVALID, "deterministic 2");
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, 0, "validation compiled something");
    brc_context_destroy(ctx);
}

Test(attention_rules, before_sm80_is_unsupported) {
    tu_fresh_cache();
    const char *old[2] = {"sm_75", "sm_70"};
    for (int i = 0; i < 2; i++) {
        brc_context *ctx = tu_offline(old[i]);
        brc_attention_desc d = fwd(BRC_F16, 1, 64, 64, 4, 4, 64);
        refuse(ctx, &d, UNSUP, old[i]);
        brc_attention_desc b = bwd_of(d);
        refuse(ctx, &b, UNSUP, old[i]);
        brc_context_destroy(ctx);
    }
    cr_expect_eq(brc_attention_counters(NULL), 0);
    cr_expect_eq(brc_attention_plan_deterministic(NULL), -1);
}

/* Decode splits fill whole waves (an offline sm_90 context assumes 132 SMs; a 1-warp decode CTA
 * of D = 128 with 3 stages of 64 keys takes 106 KiB of shared memory, so 2 an SM and 264 a wave).
 * One split is the unsplit kernel: no combine, no workspace, no split= in the SKU, split=0 in the
 * descriptor, and the descriptor rebuilds it. More splits merge (BARACUDA_ATTN_DECODE_MERGE): by
 * default in a combine kernel (no merge key; workspace: the partial O and lse of every split and
 * row); 1 in the forward's last CTA of each tile (",fused", merge=fused; the workspace also holds
 * a counter a tile); 2 in clusters of the tile's splits (",cluster", merge=cluster; at most 16
 * splits, no workspace). Each descriptor rebuilds its own. */
static void decode_splits_case(int merge) {
    tu_fresh_cache();
    if (merge >= 0) setenv("BARACUDA_ATTN_DECODE_MERGE", merge == 1 ? "1" : merge == 2 ? "2" : "0", 1);
    brc_context *ctx = tu_offline("sm_90");
    static const struct { int64_t B, Sk, H, Hkv, split, cluster_split; } c[] = {
        {1, 32768, 32, 8, 33, 16}, /* 8 (b, kv head) CTAs a split: 33 splits = 264 CTAs, one wave */
        {32, 4096, 32, 8, 0, 0},   /* 256 a split: one split fills 97% of a wave */
        {1, 100, 32, 8, 2, 2},     /* no more splits than 64-key tiles */
        {8, 301, 64, 32, 0, 0},    /* test_attention's "decode sq1 gqa2 unsplit" on the H100 */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        brc_attention_desc d = fwd(BRC_BF16, c[i].B, 1, c[i].Sk, c[i].H, c[i].Hkv, 128);
        brc_plan *p = NULL;
        cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        const char *sku = brc_plan_sku(p), *desc = brc_plan_descriptor(p);
        cr_expect(strstr(sku, ",stages=3,packed"), "B=%lld Sk=%lld: %s", (long long)c[i].B, (long long)c[i].Sk, sku);
        if (c[i].split) {
            const int64_t ns = merge == 2 ? c[i].cluster_split : c[i].split, rows = c[i].B * c[i].H;
            char want_split[32];
            snprintf(want_split, sizeof want_split, ",split=%lld,", (long long)ns);
            cr_expect(strstr(sku, want_split), "B=%lld Sk=%lld: %s lacks %s", (long long)c[i].B, (long long)c[i].Sk,
                      sku, want_split);
            cr_expect_eq(strstr(sku, ",fused") != NULL, merge == 1, "%s", sku);
            cr_expect_eq(strstr(sku, ",cluster") != NULL, merge == 2, "%s", sku);
            cr_expect_eq(strstr(desc, ",merge=fused)") != NULL, merge == 1, "%s", desc);
            cr_expect_eq(strstr(desc, ",merge=cluster)") != NULL, merge == 2, "%s", desc);
            cr_expect_eq(strstr(desc, "merge=") != NULL, merge > 0, "%s", desc);
            /* the partial O and lse of every split and row (D + 1 floats), with fused a counter */
            const size_t want = merge == 2 ? 0
                                           : (size_t)(ns * rows * (128 + 1) * 4) +
                                                 (merge == 1 ? (size_t)(c[i].B * c[i].Hkv) * 4 : 0);
            cr_expect(brc_plan_workspace_size(p) >= want && brc_plan_workspace_size(p) < want + 256 + 16,
                      "B=%lld Sk=%lld: workspace %zu, %zu expected", (long long)c[i].B, (long long)c[i].Sk,
                      brc_plan_workspace_size(p), want);
        } else {
            cr_expect(!strstr(sku, "split="), "B=%lld Sk=%lld: %s", (long long)c[i].B, (long long)c[i].Sk, sku);
            cr_expect(strstr(desc, "path=decode") && strstr(desc, ",split=0)"), "%s", desc);
            cr_expect_eq(brc_plan_workspace_size(p), 0, "B=%lld Sk=%lld: workspace %zu", (long long)c[i].B,
                         (long long)c[i].Sk, brc_plan_workspace_size(p));
        }
        tu_round_trip(ctx, p); /* the descriptor rebuilds the same kernels; destroys p */
    }
    /* merge= is a key of split decode descriptors only; a cluster holds at most 16 splits */
    static const char *const bad[] = {
        "attention(pass=fwd,dtype=bf16,d=128,path=decode,warps=1,gqa=4,split=0,merge=fused)",
        "attention(pass=fwd,dtype=bf16,d=128,path=tile,warps=4,merge=kernel,split=2)",
        "attention(pass=fwd,dtype=bf16,d=128,path=decode,warps=1,gqa=4,split=17,merge=cluster)",
        "attention(pass=fwd,dtype=bf16,d=128,path=decode,warps=1,gqa=4,split=8,merge=tree)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        brc_plan *q = NULL;
        cr_expect_eq(brc__plan_from_descriptor(ctx, bad[i], &q), BRC_STATUS_INVALID_ARGUMENT, "%s: %s", bad[i],
                     brc_last_error());
        cr_expect_null(q);
    }
    brc_context_destroy(ctx);
    /* clusters are sm_90's: refused on sm_80 rather than rebuilt as another plan */
    ctx = tu_offline("sm_80");
    brc_plan *q = NULL;
    cr_expect_eq(brc__plan_from_descriptor(
                     ctx, "attention(pass=fwd,dtype=bf16,d=128,path=decode,warps=1,gqa=4,split=8,merge=cluster)", &q),
                 BRC_STATUS_UNSUPPORTED, "%s", brc_last_error());
    cr_expect_null(q);
    brc_context_destroy(ctx);
    unsetenv("BARACUDA_ATTN_DECODE_MERGE");
}
Test(attention_rules, decode_splits_fill_waves, .timeout = 300) { decode_splits_case(-1); }
Test(attention_rules, decode_splits_fused, .timeout = 300) { decode_splits_case(1); }
Test(attention_rules, decode_splits_cluster, .timeout = 300) { decode_splits_case(2); }

/* ---- every variant compiles ------------------------------------------------------------------------------ */

enum { PLAIN, CAUSAL, WINDOW, SOFTCAP, ALIBI, MASK_F16, MASK_BOOL, DROPOUT, VARLEN, DECODE, DET };
static const char *const feature_names[] = {"plain",    "causal",    "window",  "softcap", "alibi", "mask f16",
                                            "mask bool", "dropout", "varlen",  "decode",  "deterministic"};

/* No pointers: Criterion copies parameters into a fresh process. */
typedef struct job {
    int sm; /* 80 or 90 (sm_90a) */
    int part;
} job;

typedef struct variant {
    int feature;
    int bwd;
    brc_dtype dt;
    int64_t D;
} variant;

/* Each (head dim, dtype, direction) on one arch: sm_90a gets f16 at 32, 96, 192 and bf16 at 64,
 * 128, 256, sm_80 the other way round. Each feature on both archs, forward on one and backward
 * on the other (decode: forward on both; deterministic: the backward with deterministic = 1 on
 * both). Two parts per arch (CI time): 11 plans each. */
static void variants_of(int sm, int part, variant *v, int *n) {
    static const int64_t dims[2][3] = {{32, 64, 96}, {128, 192, 256}};
    *n = 0;
    for (int i = 0; i < 3; i++) {
        int64_t D = dims[part][i];
        bool f16_here = (D == 32 || D == 96 || D == 192) == (sm == 90);
        for (int b = 0; b < 2; b++) v[(*n)++] = (variant){PLAIN, b, f16_here ? BRC_F16 : BRC_BF16, D};
    }
    static const int feats[2][5] = {{CAUSAL, WINDOW, SOFTCAP, ALIBI, DET}, {MASK_F16, MASK_BOOL, DROPOUT, VARLEN, DECODE}};
    for (int i = 0; i < 5 && feats[part][i] >= 0; i++) {
        int f = feats[part][i];
        /* the direction alternates feature by feature and flips between the archs */
        int bwd = f == DECODE ? 0 : f == DET ? 1 : ((f % 2) == (sm == 90));
        brc_dtype dt = (f % 3 == 0) == (sm == 90) ? BRC_BF16 : BRC_F16;
        v[(*n)++] = (variant){f, bwd, dt, f == WINDOW || f == DROPOUT || (f == DET && sm == 90) ? 64 : 128};
    }
}

static brc_attention_desc desc_of(const variant *v) {
    brc_attention_desc d;
    if (v->feature == VARLEN) d = varlen(v->dt, 3, 300, 500, 8, 2, v->D, 200, 256);
    else if (v->feature == DECODE) d = fwd(v->dt, 4, 1, 4096, 16, 2, v->D); /* GQA 8 */
    else d = fwd(v->dt, 2, 256, 256, 8, 2, v->D);
    switch (v->feature) {
    case CAUSAL: d.causal = 1; break;
    case WINDOW: d.window_left = 128, d.window_right = 16; break;
    case SOFTCAP: d.softcap = 30; break;
    case ALIBI: d.has_alibi = 1, d.alibi = t2(BRC_F32, 2, 8); break;
    case MASK_F16: d.has_mask = 1, d.mask = t4(BRC_F16, 1, 8, 256, 256); break;
    case MASK_BOOL: d.has_mask = 1, d.mask = t4(BRC_BOOL, 2, 1, 256, 256); break;
    case DROPOUT: d.dropout_p = 0.1; break;
    case DET: d.deterministic = 1; break;
    default: break;
    }
    return v->bwd ? bwd_of(d) : d;
}

ParameterizedTestParameters(attention_compile, every_variant) {
    static job jobs[] = {{90, 0}, {90, 1}, {80, 0}, {80, 1}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

ParameterizedTest(job *j, attention_compile, every_variant, .timeout = 1200) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    const char *arch = j->sm == 90 ? "sm_90a" : "sm_80";
    brc_context *ctx = tu_offline(arch);
    variant v[16];
    int n;
    variants_of(j->sm, j->part, v, &n);
    for (int i = 0; i < n; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s %s %s d=%lld on %s", feature_names[v[i].feature], v[i].bwd ? "bwd" : "fwd",
                 brc_dtype_name(v[i].dt), (long long)v[i].D, arch);
        brc_attention_desc d = desc_of(&v[i]);
        brc_plan *p = NULL;
        brc_status s = brc_attention_plan(ctx, &d, NULL, &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        const char *sku = brc_plan_sku(p);
        char dpart[16];
        snprintf(dpart, sizeof dpart, "d=%lld", (long long)v[i].D);
        cr_expect(strncmp(sku, "bespoke:attention<", 18) == 0, "%s: SKU %s", what, sku);
        cr_expect(strstr(sku, arch) && strstr(sku, dpart) && strstr(sku, brc_dtype_name(v[i].dt)),
                  "%s: SKU %s does not name the target, the head dim and the dtype", what, sku);
        if (v[i].feature == CAUSAL) cr_expect(strstr(sku, "causal"), "%s: SKU %s", what, sku);
        /* the Hopper kernels on sm_90a, head dims 64 / 128 / 256: the forward of training shapes
         * (varlen too), the backward at fixed lengths (det = 1: its ordered form at 64 / 128) */
        const bool hopper =
            j->sm == 90 && (v[i].D == 64 || v[i].D == 128 || v[i].D == 256) &&
            (v[i].bwd ? v[i].feature != VARLEN && (v[i].feature != DET || v[i].D <= 128)
                      : v[i].feature != DECODE);
        cr_expect_eq(strstr(sku, ",wgmma") != NULL, hopper, "%s: SKU %s", what, sku);
        cr_expect_eq(strstr(brc_plan_descriptor(p), "path=wgmma") != NULL, hopper, "%s: %s", what,
                     brc_plan_descriptor(p));
        if (v[i].feature == DECODE) cr_expect(strstr(sku, "split="), "%s: SKU %s", what, sku);
        /* the default backward is the atomic one, and says so (attention.h) */
        const int atomic = v[i].bwd && v[i].feature != DET;
        cr_expect_eq(brc_attention_plan_deterministic(p), !atomic, "%s", what);
        cr_expect_eq(strstr(sku, ">+atomic@") != NULL, atomic, "%s: SKU %s", what, sku);
        /* two dS buffers (dQ deferred a tile) where shared memory allows: always in sm_90's 227 KiB,
         * not at D = 128 in sm_80's 163 (173 KiB with two) */
        if (atomic && !hopper && (j->sm == 90 || v[i].D == 128))
            cr_expect(strstr(sku, j->sm == 90 ? ",ds=2" : ",ds=1"), "%s: SKU %s", what, sku);
        /* D = 96 / 128: warp pairs (one warp P and dV, its partner dS and dK) where their 205 KiB
         * fit (sm_90), 16 keys a warp with both elsewhere; D <= 64: 32 keys a warp in 4-warp CTAs
         * (bk = 128, two CTAs an SM; sm_80 takes that shape too) */
        if (atomic && v[i].feature == PLAIN && v[i].D == 128)
            cr_expect_eq(strstr(sku, ",pairs") != NULL, j->sm != 90 ? false : !hopper, "%s: SKU %s", what, sku);
        if (atomic && v[i].feature == PLAIN && v[i].D <= 64 && j->sm == 90 && !hopper)
            cr_expect(strstr(sku, ",bk=128,") && strstr(sku, ",warps=4,"), "%s: SKU %s", what, sku);
        cr_expect_eq(strstr(brc_plan_descriptor(p), "det=1") != NULL, v[i].feature == DET, "%s: %s", what,
                     brc_plan_descriptor(p));
        cr_expect_eq(strstr(sku, ",ordered") != NULL, hopper && v[i].feature == DET, "%s: SKU %s", what, sku);
        /* counters: a dropout forward uses B H Sq rows of ceil(Sk / 4) blocks, a plan without
         * dropout none (whether a dropout backward, which rereads the forward's, reports them is
         * left open by the header) */
        if (v[i].feature == DROPOUT && !v[i].bwd)
            cr_expect(brc_attention_counters(p) >= 2ull * 8 * 256 * 64, "%s: counters %llu", what,
                      (unsigned long long)brc_attention_counters(p));
        else if (v[i].feature != DROPOUT)
            cr_expect_eq(brc_attention_counters(p), 0, "%s", what);
        if (v[i].bwd) cr_expect(brc_plan_workspace_size(p) > 0, "%s: a backward without its rowsum workspace", what);
        if (atomic) /* rowsum and the dq accumulator: B H Sq (D + 1) f32 */
            cr_expect(brc_plan_workspace_size(p) >= (size_t)(2 * 8 * 256 * (v[i].D + 1) * 4) ||
                          v[i].feature == VARLEN,
                      "%s: workspace %zu", what, brc_plan_workspace_size(p));
        /* an offline plan does not run */
        brc_attention_args a;
        memset(&a, 0, sizeof a);
        a.q = a.k = a.v = (const void *)(uintptr_t)256;
        a.o = a.dq = a.dk = a.dv = (void *)(uintptr_t)512;
        a.lse = (float *)(uintptr_t)768;
        a.dout = a.mask = (const void *)(uintptr_t)1024;
        a.alibi = (const float *)(uintptr_t)1280;
        a.cu_seqlens_q = a.cu_seqlens_k = (const int32_t *)(uintptr_t)1536;
        if (i == 0) cr_expect_eq(brc_attention_run(p, &a, NULL, 0, NULL), BRC_STATUS_WRONG_PLAN, "%s", what);
        cr_log_info("%s: %s", what, sku);
        tu_round_trip(ctx, p); /* the descriptor rebuilds the same plan (from memory: no compile) */
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect(st.compiles >= (uint64_t)n, "%llu compiles for %d plans", (unsigned long long)st.compiles, n);
    cr_log_info("%s part %d: %d plans, %llu compiles, %.0f ms", arch, j->part, n, (unsigned long long)st.compiles,
                st.compile_ms);
    brc_context_destroy(ctx);
}

/* f32 takes the slow path (attention_f32.cuh): its forward and its backward compile, the SKU
 * says simt, and the backward is deterministic whatever the descriptor asked. */
Test(attention_compile, f32_path) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_80");
    brc_attention_desc d = fwd(BRC_F32, 2, 100, 150, 8, 2, 64);
    d.causal = 1, d.dropout_p = 0.1;
    for (int pass = 0; pass < 2; pass++) {
        brc_attention_desc x = pass ? bwd_of(d) : d;
        brc_plan *p = NULL;
        cr_assert_eq(brc_attention_plan(ctx, &x, NULL, &p), BRC_STATUS_OK, "%s\n%s", brc_last_error(),
                     brc_last_jit_log());
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, pass ? "<bwd,f32,d=64," : "<fwd,f32,d=64,") && strstr(sku, ",simt") &&
                      strstr(sku, ",causal") && strstr(sku, ",dropout") && !strstr(sku, "+atomic"),
                  "SKU %s", sku);
        cr_expect_eq(brc_attention_plan_deterministic(p), 1, "%s", sku);
        if (pass) cr_expect(brc_plan_workspace_size(p) >= 2 * 8 * 100 * 4, "workspace %zu", brc_plan_workspace_size(p));
        tu_round_trip(ctx, p); /* destroys p */
    }
    brc_context_destroy(ctx);
}

/* The Hopper kernels keep their registers: compiled whole-program at the launch bound's count, a
 * consumer warpgroup gets setmaxnreg's 240 (160 with three) only when ptxas can allocate its code
 * at that count, and a trap anywhere in it (a bounded wait) silently held the whole kernel to 168
 * and spilled 256 bytes and more (docs/attention.md, "The forward on Hopper"). The cache rows of
 * the plain forward and backward kernels at every head dim: 0 local bytes, 8 at D = 64 (three
 * consumer warpgroups at 160 registers: one value stored once before the loop, read once after),
 * 16 in the D = 128 backward (prologue values kept for its 24-register producer and dQ-writer warps). */
Test(attention_compile, hopper_kernels_do_not_spill) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const char *const descs[] = {
        "attention(pass=fwd,dtype=bf16,d=64,path=wgmma,warps=16)",
        "attention(pass=fwd,dtype=bf16,d=128,path=wgmma,warps=12)",
        "attention(pass=fwd,dtype=f16,d=256,path=wgmma,warps=12,causal=1)",
        "attention(pass=bwd,dtype=bf16,d=128,path=wgmma,warps=12)",
        "attention(pass=bwd,dtype=bf16,d=256,path=wgmma,warps=12)",
    };
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++)
        cr_assert_eq(brc_warm(ctx, descs[i]), BRC_STATUS_OK, "%s: %s\n%s", descs[i], brc_last_error(),
                     brc_last_jit_log());
    brc_context_destroy(ctx);
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT descriptor, arch, regs, local_bytes FROM kernels WHERE descriptor LIKE "
                                    "'%+fwdh' OR descriptor LIKE '%+bwdh' OR descriptor LIKE '%+bwdh2'",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0), *arch = (const char *)sqlite3_column_text(st, 1);
        const int regs = sqlite3_column_int(st, 2), local = sqlite3_column_int(st, 3);
        cr_expect_str_eq(arch, "sm_90a", "%s", d);
        cr_expect(local <= 32, "%s: %d bytes of local memory", d, local);
        cr_expect(regs == 168 || regs == 128, "%s: %d registers (the launch bound's: 168, or 128 at 512 threads)", d,
                  regs);
        rows++;
    }
    cr_expect_eq(rows, 6, "%d Hopper kernels in the cache (3 forwards, 1 + 2 backwards)", rows);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The path knob and the wgmma descriptor: BARACUDA_ATTENTION_PATH=mma keeps the mma.sync forward
 * on sm_90, another value is refused, and path=wgmma is refused where the Hopper forward cannot
 * run (sm_80, a head dim of 96). */
Test(attention_rules, the_path_knob_and_path_wgmma) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_90");
    brc_attention_desc d = fwd(BRC_BF16, 2, 256, 256, 8, 2, 128);
    brc_plan *p = NULL;
    setenv("BARACUDA_ATTENTION_PATH", "mma", 1);
    cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(!strstr(brc_plan_sku(p), "wgmma") && strstr(brc_plan_descriptor(p), "path=tile"), "%s",
              brc_plan_sku(p));
    brc_plan_destroy(p);
    unsetenv("BARACUDA_ATTENTION_PATH");
    /* The Hopper forward's grid: groups of 8 heads when causal at D <= 128 (BARACUDA_ATTN_GROUP=0
     * keeps the 3-D grid; the SKU says which, the descriptor and the kernel are the same). */
    const char *want[3] = {"", ",group=8", ""};
    for (int k = 0; k < 3; k++) {
        d.causal = k > 0;
        if (k == 2) setenv("BARACUDA_ATTN_GROUP", "0", 1);
        p = NULL;
        cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_sku(p), ",wgmma") && (*want[k] ? strstr(brc_plan_sku(p), want[k]) != NULL
                                                                : !strstr(brc_plan_sku(p), ",group=")),
                  "%d: %s", k, brc_plan_sku(p));
        if (k == 1) tu_round_trip(ctx, p); /* the descriptor rebuilds the same SKU; destroys p */
        else brc_plan_destroy(p);
    }
    unsetenv("BARACUDA_ATTN_GROUP");
    /* groups of 4 heads for the causal forward at D = 256; its non-causal forward keeps the 3-D grid */
    brc_attention_desc d256 = fwd(BRC_BF16, 2, 256, 256, 8, 2, 256);
    for (int k = 0; k < 2; k++) {
        d256.causal = k;
        p = NULL;
        cr_assert_eq(brc_attention_plan(ctx, &d256, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect(strstr(brc_plan_sku(p), ",wgmma") &&
                      (k ? strstr(brc_plan_sku(p), ",group=4,") != NULL : !strstr(brc_plan_sku(p), ",group=")),
                  "D = 256 causal %d: %s", k, brc_plan_sku(p));
        if (k) tu_round_trip(ctx, p); /* the descriptor rebuilds the same SKU; destroys p */
        else brc_plan_destroy(p);
    }
    d.causal = 0;
    /* The whole SKU, one kernel named once: the default forward, then with persistent CTAs
     * (BARACUDA_ATTN_PERSIST, a measurement knob). */
    static const char *const whole[2] = {
        "bespoke:attention<fwd,bf16,d=128,bm=128,bn=128,warps=12,stages=3,wgmma,ovl,gqa=4>@sm_90a",
        "bespoke:attention<fwd,bf16,d=128,bm=128,bn=128,warps=12,stages=3,wgmma,ovl,persist,gqa=4>@sm_90a"};
    for (int k = 0; k < 2; k++) {
        if (k) setenv("BARACUDA_ATTN_PERSIST", "1", 1);
        p = NULL;
        cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
        cr_expect_str_eq(brc_plan_sku(p), whole[k]);
        brc_plan_destroy(p);
    }
    unsetenv("BARACUDA_ATTN_PERSIST");
    setenv("BARACUDA_ATTENTION_PATH", "tensor-cores", 1);
    p = NULL;
    cr_expect_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "BARACUDA_ATTENTION_PATH"), "%s", brc_last_error());
    cr_expect_null(p);
    unsetenv("BARACUDA_ATTENTION_PATH");
    cr_expect_eq(brc_warm(ctx, "attention(pass=fwd,dtype=bf16,d=96,path=wgmma)"), BRC_STATUS_UNSUPPORTED, "%s",
                 brc_last_error());
    cr_expect_eq(brc_warm(ctx, "attention(pass=bwd,dtype=bf16,d=256,path=wgmma,det=1)"), BRC_STATUS_INVALID_ARGUMENT,
                 "%s", brc_last_error());
    cr_expect_eq(brc_warm(ctx, "attention(pass=bwd,dtype=bf16,d=192,path=wgmma)"), BRC_STATUS_UNSUPPORTED, "%s",
                 brc_last_error());
    brc_context_destroy(ctx);
    ctx = tu_offline("sm_80");
    cr_expect_eq(brc_warm(ctx, "attention(pass=fwd,dtype=bf16,d=128,path=wgmma)"), BRC_STATUS_UNSUPPORTED, "%s",
                 brc_last_error());
    brc_context_destroy(ctx);
}

/* The Hopper backward (attention_sm90_bwd.cuh): taken on BARACUDA_ATTENTION_PATH=wgmma only, for
 * the atomic backward at head dims 64 and 128 on sm_90a, and compiles there (D = 64 causal bf16
 * and D = 128 f16 with softcap and GQA, its descriptor rebuilding the plan); the mma.sync backward
 * otherwise (the knob unset, det = 1, D = 96). */
Test(attention_compile, hopper_backward) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_90");
    brc_attention_desc d = bwd_of(fwd(BRC_BF16, 2, 300, 300, 4, 4, 64));
    d.causal = 1;
    brc_plan *p = NULL;
    setenv("BARACUDA_ATTENTION_PATH", "mma", 1);
    cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(!strstr(brc_plan_sku(p), "wgmma"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    unsetenv("BARACUDA_ATTENTION_PATH"); /* the default on sm_90 */
    p = NULL;
    cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());
    cr_expect(strstr(brc_plan_sku(p), ",wgmma,dqbulk") && strstr(brc_plan_sku(p), ">+atomic@sm_90a"), "%s",
              brc_plan_sku(p));
    cr_expect(strstr(brc_plan_descriptor(p), "path=wgmma") != NULL, "%s", brc_plan_descriptor(p));
    cr_expect_eq(brc_attention_plan_deterministic(p), 0);
    cr_expect(brc_plan_workspace_size(p) >= (size_t)(2 * 4 * 300 * 65 * 4), "%zu", brc_plan_workspace_size(p));
    brc_plan_destroy(p);
    /* the f32 reductions from registers on request */
    setenv("BARACUDA_ATTN_WGMMA_BWD_DQ", "0", 1);
    p = NULL;
    cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());
    cr_expect(strstr(brc_plan_sku(p), ",wgmma") && !strstr(brc_plan_sku(p), "dqbulk"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    unsetenv("BARACUDA_ATTN_WGMMA_BWD_DQ");
    /* det = 1: the same kernel with its dQ reductions in key-tile order (counters after the
     * accumulator), rebuilt from its descriptor; BARACUDA_ATTN_WGMMA_BWD_DET=0 keeps the mma.sync
     * kernels */
    d.deterministic = 1;
    p = NULL;
    cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());
    cr_expect(strstr(brc_plan_sku(p), ",wgmma,dqbulk,ordered") && !strstr(brc_plan_sku(p), "+atomic"), "%s",
              brc_plan_sku(p));
    cr_expect(strstr(brc_plan_descriptor(p), "path=wgmma") && strstr(brc_plan_descriptor(p), "det=1"), "%s",
              brc_plan_descriptor(p));
    cr_expect_eq(brc_attention_plan_deterministic(p), 1);
    cr_expect(brc_plan_workspace_size(p) >= (size_t)(2 * 4 * 300 * 65 * 4 + 2 * 4 * 3 * 2 * 4), "%zu",
              brc_plan_workspace_size(p));
    tu_round_trip(ctx, p); /* destroys p */
    setenv("BARACUDA_ATTN_WGMMA_BWD_DET", "0", 1);
    p = NULL;
    cr_assert_eq(brc_attention_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(!strstr(brc_plan_sku(p), "wgmma"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    unsetenv("BARACUDA_ATTN_WGMMA_BWD_DET");
    /* D = 256: dV, then dK and dQ, a launch each */
    brc_attention_desc d256 = bwd_of(fwd(BRC_BF16, 1, 200, 200, 2, 1, 256));
    p = NULL;
    cr_assert_eq(brc_attention_plan(ctx, &d256, NULL, &p), BRC_STATUS_OK, "%s\n%s", brc_last_error(),
                 brc_last_jit_log());
    cr_expect(strstr(brc_plan_sku(p), ",wgmma,dv|dk+dq") && strstr(brc_plan_sku(p), ",stages=1,") &&
                  !strstr(brc_plan_sku(p), "dqbulk"),
              "%s", brc_plan_sku(p));
    tu_round_trip(ctx, p); /* destroys p */
    brc_attention_desc d96 = bwd_of(fwd(BRC_F16, 1, 128, 128, 2, 2, 96));
    p = NULL;
    cr_assert_eq(brc_attention_plan(ctx, &d96, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(!strstr(brc_plan_sku(p), "wgmma"), "%s", brc_plan_sku(p));
    brc_plan_destroy(p);
    unsetenv("BARACUDA_ATTENTION_PATH");
    cr_expect_eq(brc_warm(ctx, "attention(pass=bwd,dtype=f16,d=128,path=wgmma,warps=12,softcap=1,gqa=4)"),
                 BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());
    brc_context_destroy(ctx);
}

/* The layouts bench/bench_attention.py mirrors with ctypes (x86-64 / aarch64 Linux). */
Test(attention_desc, struct_layouts_match_the_benchmark) {
    cr_expect_eq(sizeof(brc_attention_desc), 1608);
    cr_expect_eq(offsetof(brc_attention_desc, deterministic), 1600);
    cr_expect_eq(offsetof(brc_attention_desc, q), 8);
    cr_expect_eq(offsetof(brc_attention_desc, lse), 552);
    cr_expect_eq(offsetof(brc_attention_desc, dout), 688);
    cr_expect_eq(offsetof(brc_attention_desc, has_mask), 1232);
    cr_expect_eq(offsetof(brc_attention_desc, mask), 1240);
    cr_expect_eq(offsetof(brc_attention_desc, alibi), 1384);
    cr_expect_eq(offsetof(brc_attention_desc, causal), 1520);
    cr_expect_eq(offsetof(brc_attention_desc, window_left), 1528);
    cr_expect_eq(offsetof(brc_attention_desc, scale), 1544);
    cr_expect_eq(offsetof(brc_attention_desc, varlen), 1568);
    cr_expect_eq(offsetof(brc_attention_desc, max_seqlen_k), 1592);
    cr_expect_eq(sizeof(brc_attention_args), 128);
    cr_expect_eq(offsetof(brc_attention_args, lse), 32);
    cr_expect_eq(offsetof(brc_attention_args, mask), 72);
    cr_expect_eq(offsetof(brc_attention_args, cu_seqlens_k), 96);
    cr_expect_eq(offsetof(brc_attention_args, philox), 104);
    cr_expect_eq(sizeof(brc_philox), 24);
}
