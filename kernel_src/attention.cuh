// Flash attention on tensor cores (mma.sync m16n8k16, sm_80 and newer): forward with an online
// softmax, an optional KV split with a combine step, and two backwards after a rowsum(dO * O)
// pass: FlashAttention-2's (one kernel per KV tile, dQ by atomic adds; the default) and a
// deterministic one in two kernels (dK/dV per KV tile, dQ per query tile). Semantics: attention.h.
//
// Layout of a CTA. Each warp owns 16 rows of the tile it accumulates (queries in the forward and
// the dQ kernel, keys in the dK/dV kernel). Operand tiles live in shared memory with rows padded
// by 8 elements (row pitch D + 8: 16-byte chunks of consecutive rows fall in distinct banks for
// ldmatrix). S = Q K^T leaves each thread the C fragment (rows g, g + 8; columns 2t, 2t + 1 of
// every n8 tile, g = lane / 4, t = lane % 4), which is the A fragment of the next product once
// packed to halves, so P never goes through shared memory.
//
// Scores are kept in the log2 domain (x = s * log2 e) so that exp2 is one instruction. Rows are
// "packed" when gp > 1: row m of a tile is query i = m % sq of head g0 + m / sq, so the query
// heads of one KV head share each K/V tile (decode reads every KV head once).
//
// The specialization snippet defines struct brc_attn { typedef T (f16 | bf16), MT (mask type);
// enum D, WARPS, MTILES (m16 tiles a warp: queries in the forward, keys in the atomic backward),
// STAGES (K/V buffers, forward; Q/dO buffers, atomic backward), BN, BQ, QREG
// (forward: Q in registers; atomic backward: two dS buffers, dQ deferred a tile), WINDOW, SOFTCAP,
// ALIBI, MASK (0 none, 1 additive, 2 bool), DROPOUT, VARLEN, SPLIT (forward: 0 one split, 1 splits
// and the combine kernel, 2 the merge fused into the last CTA, 3 a cluster of the splits), WHICH
// (dK/dV kernel: 1 dV, 2 dK, 3 both) } and the kernels.
namespace brc {

// 8-byte fields only; mirrored by struct attn_args in ops/attention.c.
struct attn_args {
    const void *q, *k, *v;
    void *o;
    float *lse;
    const void *dout;
    void *dq, *dk, *dv;
    const void *mask;
    const float *alibi;
    const int *cu_q, *cu_k;
    float *dsum;              // backward: rowsum(dO * O) by row id
    float *part_o, *part_lse; // split forward: partial results by (split, row id); backward: part_o the dQ accumulator
    int *dq_sem;              // ordered Hopper backward: a counter a (b H + h, query tile, warpgroup)
    const u64 *dev;           // dropout: {seed, offset} in device memory, or null
    u64 seed, offset;
    i64 B, H, Hkv, Sq, Sk;    // varlen: Sq, Sk are the bounds
    i64 gp, nsplit, tq;       // packed heads a tile; KV splits; varlen: total query rows
    i64 q_s[3], k_s[3], v_s[3], o_s[3], do_s[3], dq_s[3], dk_s[3], dv_s[3]; // (batch, seq, head)
    i64 l_s[3];               // lse: (batch, head, seq)
    i64 m_s[4];               // mask: (batch, head, i, j)
    i64 a_sb;                 // alibi: batch stride (0 for [H])
    i64 wl, wr;               // window (-1: unbounded)
    i64 jblocks;              // dropout: Philox blocks a row, ceil(Sk / 4)
    i64 group;                // Hopper kernels: heads a scheduling group of the 1-D grid (0: the 3-D grid)
    double scale, softcap, p_drop, rkeep;
};

struct attn_seq {
    int sq, sk; // lengths (below 2^31)
    i64 q0, k0; // first rows in the packed tensors (varlen)
};

template <int VARLEN> __device__ __forceinline__ attn_seq attn_seq_of(const attn_args &a, int b) {
    attn_seq s;
    if (VARLEN) {
        s.q0 = a.cu_q[b], s.k0 = a.cu_k[b];
        i64 lq = a.cu_q[b + 1] - s.q0, lk = a.cu_k[b + 1] - s.k0;
        s.sq = (int)(lq < a.Sq ? lq : a.Sq);
        s.sk = (int)(lk < a.Sk ? lk : a.Sk);
        if (s.sq < 0) s.sq = 0;
        if (s.sk < 0) s.sk = 0;
    } else {
        s.q0 = s.k0 = 0, s.sq = (int)a.Sq, s.sk = (int)a.Sk;
    }
    return s;
}

// Row id of (b, head, i): the index of lse-like per-row data in the workspace and of the
// dropout row (attention.h).
template <int VARLEN>
__device__ __forceinline__ i64 attn_row_id(const attn_args &a, int b, i64 head, const attn_seq &s, i64 i) {
    return VARLEN ? head * a.tq + s.q0 + i : ((i64)b * a.H + head) * a.Sq + i;
}

__device__ __forceinline__ u32 smem_addr(const void *p) { return (u32)__cvta_generic_to_shared(p); }

// 16 bytes global -> shared, bypassing L1; the L2 is asked for the whole 256-byte block (a K / V
// row of D = 128 in bf16 is one: the decode path streams them).
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool pred) {
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(pred ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_1() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

__device__ __forceinline__ void ldsm_x4(u32 r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_t(u32 r[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

// The same on 32-bit shared-memory addresses (the forward's). NVRTC's front end, unlike nvcc's,
// keeps the address of a generic pointer into shared memory 64-bit and narrows it at each use,
// which cost the forward about 140 integer instructions a KV tile at D = 128 (and 6 to 9% of its
// speed against the same source built by nvcc); offsets added to a u32 base stay 32-bit.
__device__ __forceinline__ void cp_async16_s(u32 dst, const void *src, bool pred) {
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(pred ? 16 : 0));
}
__device__ __forceinline__ void ldsm_x4_s(u32 r[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_ts(u32 r[4], u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

template <class T> struct attn_mma;
template <> struct attn_mma<f16> {
    static __device__ __forceinline__ void run(float c[4], const u32 a[4], u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};
template <> struct attn_mma<bf16> {
    static __device__ __forceinline__ void run(float c[4], const u32 a[4], u32 b0, u32 b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};

// Shared-memory addresses of this lane's ldmatrix row for a 16x16 block at (r0, c0) of a tile
// with pitch LD: as the A operand (row-major, rows = M), as two B operands from [n][k] storage
// (non-transposed), and as two B operands from [k][n] storage (transposed).
template <int LD> __device__ __forceinline__ int lds_a(int lane, int r0, int c0) {
    return (r0 + (lane & 15)) * LD + c0 + (lane >> 4) * 8;
}
template <int LD> __device__ __forceinline__ int lds_bn(int lane, int r0, int c0) {
    return (r0 + ((lane >> 4) << 3) + (lane & 7)) * LD + c0 + ((lane >> 3) & 1) * 8;
}
template <int LD> __device__ __forceinline__ int lds_bt(int lane, int r0, int c0) {
    return (r0 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + c0 + ((lane >> 4) << 3);
}

// acc[NT8][4] += A(16 x 16*KS, from smem rows ar0 of As) * B^T, B stored [n][k] in Bs (rows
// br0 .. br0 + 8 NT8).
template <class T, int LD, int KS, int NT8>
__device__ __forceinline__ void mma_abt(float (*acc)[4], const T *As, int ar0, const T *Bs, int br0, int lane) {
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
        u32 af[4];
        ldsm_x4(af, As + lds_a<LD>(lane, ar0, kk * 16));
#pragma unroll
        for (int nn = 0; nn < NT8 / 2; nn++) {
            u32 bf[4];
            ldsm_x4(bf, Bs + lds_bn<LD>(lane, br0 + nn * 16, kk * 16));
            attn_mma<T>::run(acc[2 * nn], af, bf[0], bf[1]);
            attn_mma<T>::run(acc[2 * nn + 1], af, bf[2], bf[3]);
        }
    }
}

// acc[ND8][4] += P (16 x 16*KS, packed A fragments in pa) * B, B stored [k][n] in Bs (rows
// br0 .. br0 + 16 KS, columns 0 .. 8 ND8).
template <class T, int LD, int KS, int ND8>
__device__ __forceinline__ void mma_pb(float (*acc)[4], const u32 (*pa)[4], const T *Bs, int br0, int lane) {
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
#pragma unroll
        for (int dn = 0; dn < ND8 / 2; dn++) {
            u32 bf[4];
            ldsm_x4_t(bf, Bs + lds_bt<LD>(lane, br0 + kk * 16, dn * 16));
            attn_mma<T>::run(acc[2 * dn], pa[kk], bf[0], bf[1]);
            attn_mma<T>::run(acc[2 * dn + 1], pa[kk], bf[2], bf[3]);
        }
    }
}

// C fragments (16 x 16*KS as 2 KS n8 tiles) -> A fragments in halves.
template <class T, int KS>
__device__ __forceinline__ void pack_a(u32 (*pa)[4], const float (*c)[4]) {
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
        pa[kk][0] = attn_mma<T>::pack(c[2 * kk][0], c[2 * kk][1]);
        pa[kk][1] = attn_mma<T>::pack(c[2 * kk][2], c[2 * kk][3]);
        pa[kk][2] = attn_mma<T>::pack(c[2 * kk + 1][0], c[2 * kk + 1][1]);
        pa[kk][3] = attn_mma<T>::pack(c[2 * kk + 1][2], c[2 * kk + 1][3]);
    }
}

// rows x D tile rows of a [.., D] operand into shared memory (pitch D + 8) by 16-byte chunks;
// row r's source is rowp(r) (null: zero fill, with any as the never-read address).
template <class T, int D, int NT, class F>
__device__ __forceinline__ void load_tile(T *dst, int rows, const T *any, F rowp) {
    enum { ND = D / 8, LD = D + 8 };
    for (int c = threadIdx.x; c < rows * ND; c += NT) {
        int r = c / ND, ch = c % ND;
        const T *src = rowp(r);
        cp_async16(dst + r * LD + ch * 8, src ? src + ch * 8 : any, src != nullptr);
    }
}

// Loads tiles of BN rows of one K or V head (rows j = t BN + r of the sequence; rows past sk
// zero-filled). With NT a multiple of D / 8 each thread keeps its column chunk and first row, and
// its rows of a tile are one 64-bit pointer step apart: a tile wholly before sk costs two integer
// instructions a row (no multiply, no compare), a tile that crosses sk one compare more.
template <class T, int D, int NT, int BN> struct kv_loader {
    enum { ND = D / 8, LD = D + 8, FAST = NT % ND == 0 && (BN * ND) % NT == 0, RSTEP = NT / ND };
    enum { PER = FAST ? BN * ND / NT : 1 };
    const T *base; // row 0 of the head, at this thread's chunk
    i64 stride, step; // one row; RSTEP rows
    int r0, ch, sk;
    __device__ __forceinline__ kv_loader(const T *p, i64 off, i64 stride_, int sk_) : stride(stride_), sk(sk_) {
        r0 = threadIdx.x / ND, ch = threadIdx.x % ND;
        base = p + off + ch * 8;
        step = stride_ * RSTEP;
    }
    // dst: the tile's shared-memory address.
    __device__ __forceinline__ void load(u32 dst, int t) const {
        enum { E = sizeof(T) };
        if (FAST) {
            const int j0 = t * BN + r0;
            const T *p = base + (i64)j0 * stride;
            const u32 d = dst + (u32)(r0 * LD + ch * 8) * E;
            if (t * BN + BN <= sk) {
#pragma unroll
                for (int i = 0; i < PER; i++, p += step) cp_async16_s(d + i * RSTEP * LD * E, p, true);
            } else {
#pragma unroll
                for (int i = 0; i < PER; i++, p += step) {
                    const bool in = j0 + i * RSTEP < sk;
                    cp_async16_s(d + i * RSTEP * LD * E, in ? p : base, in);
                }
            }
        } else {
            for (int c = threadIdx.x; c < BN * ND; c += NT) {
                int r = c / ND, cc = c % ND, j = t * BN + r;
                cp_async16_s(dst + (u32)(r * LD + cc * 8) * E,
                             base - ch * 8 + cc * 8 + (j < sk ? (i64)j * stride : 0), j < sk);
            }
        }
    }
};

// Writes a warp's 16 rows of f32 accumulators (scaled per row) through its own 16 rows of the
// shared tile st (pitch D + 8) to rows given by rowp(r) (null: skip), 16 bytes a store.
template <class T, int D, class F>
__device__ __forceinline__ void store_rows(T *st, const float (*acc)[4], float s0, float s1, int lane, F rowp) {
    enum { ND = D / 8, LD = D + 8 };
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int n = 0; n < ND; n++) {
        *reinterpret_cast<u32 *>(st + g * LD + n * 8 + 2 * t) = attn_mma<T>::pack(acc[n][0] * s0, acc[n][1] * s0);
        *reinterpret_cast<u32 *>(st + (g + 8) * LD + n * 8 + 2 * t) =
            attn_mma<T>::pack(acc[n][2] * s1, acc[n][3] * s1);
    }
    __syncwarp();
    for (int c = lane; c < 16 * ND; c += 32) {
        int r = c / ND, ch = c % ND;
        T *dst = rowp(r);
        if (dst) *reinterpret_cast<uint4 *>(dst + ch * 8) = *reinterpret_cast<const uint4 *>(st + r * LD + ch * 8);
    }
    __syncwarp();
}

__device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

#define BRC_INF __int_as_float(0x7f800000)
// 2^x in one MUFU instruction (flushes subnormal results to 0: they are below half precision).
__device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
#define BRC_LOG2E 1.4426950408889634f
#define BRC_LN2 0.6931471805599453f

// The score transform of one element in the log2 domain, from raw q.k (acc). th receives
// tanh(s / cap) (softcap's backward needs it). Returns -inf for a removed element.
template <class K>
__device__ __forceinline__ float attn_score(const attn_args &a, float acc, float scale_l2, float slope_l2, int i,
                                            int j, int diag, int sk, const void *mrow, bool check, float *th) {
    float x;
    if (K::SOFTCAP) {
        float cap = (float)a.softcap;
        float t = tanhf(acc * ((float)a.scale / cap));
        *th = t;
        x = cap * t * BRC_LOG2E;
    } else {
        x = acc * scale_l2;
    }
    if (K::ALIBI) {
        int d = i + diag - j;
        x -= slope_l2 * (float)(d < 0 ? -d : d);
    }
    if (K::MASK) {
        typedef typename K::MT MT;
        if (j < sk) {
            MT mv = static_cast<const MT *>(mrow)[(i64)j * a.m_s[3]];
            if (K::MASK == 2) {
                if (!io<MT>::load(mv)) x = -BRC_INF;
            } else {
                x += io<MT>::load(mv) * BRC_LOG2E;
            }
        }
    }
    if (check) {
        const int wl = (int)a.wl, wr = (int)a.wr;
        if (j >= sk || (wr >= 0 && j > i + diag + wr) || (wl >= 0 && j < i + diag - wl)) x = -BRC_INF;
    }
    return x;
}

// Dropout keep factor of element (row id r, column j): 0 or 1 / (1 - p).
__device__ __forceinline__ float attn_keep(u64 seed, u64 offset, i64 jblocks, i64 r, i64 j, float p, float rkeep) {
    u32 w[4];
    philox(offset + (u64)(r * jblocks + (j >> 2)), seed, w);
    return (float)w[j & 3] * 2.3283064365386963e-10f >= p ? rkeep : 0.f;
}

// ALiBi slope of a head in the log2 domain (0 without ALiBi).
template <class K> __device__ __forceinline__ float attn_slope(const attn_args &a, int b, i64 head) {
    return K::ALIBI ? a.alibi[b * a.a_sb + head] * BRC_LOG2E : 0.f;
}

// ---- forward ---------------------------------------------------------------------------------------

// One KV tile of the forward's online softmax for the rows of a warp: s holds raw q.k on entry
// and P on exit; mx (the running max, log2 domain) and l (this thread's share of the running
// sum) are updated and o is rescaled. Without softcap, ALiBi or mask the scores stay raw and the
// scale is folded into the exponent (one FFMA and one ex2 an element); elements are compared
// against the sequence and window bounds only when the tile crosses one (check), in one branch
// around the whole block, so the common path is straight-line code the scheduler can interleave.
template <class K, int MTI, int NN, int ND>
__device__ __forceinline__ void attn_fwd_softmax(const attn_args &a, float (*s)[NN][4], float (*o)[ND][4],
                                                 float (*mx)[2], float (*l)[2], const int (*ri)[2],
                                                 const float (*slope)[2], const void *const (*mrow)[2],
                                                 const i64 (*rid)[2], int c0, int tq, int diag, int sk, bool check,
                                                 float scale_l2, u64 seed, u64 offset) {
    enum { TRANSFORM = K::SOFTCAP || K::ALIBI || K::MASK };
    float th;
    if (TRANSFORM) {
#pragma unroll
        for (int u = 0; u < MTI; u++)
#pragma unroll
            for (int n = 0; n < NN; n++)
#pragma unroll
                for (int x = 0; x < 4; x++) {
                    const int r = x >> 1, j = c0 + n * 8 + 2 * tq + (x & 1);
                    s[u][n][x] = attn_score<K>(a, s[u][n][x], scale_l2, slope[u][r], ri[u][r], j, diag, sk,
                                               mrow[u][r], false, &th);
                }
    }
    if (check) {
        // Keys [lo, hi) of each row (the sequence, then the window; i + diag is the diagonal),
        // relative to this thread's first column, so that an element is one compare per bound
        // against a constant; without a left window (causal, a right window, the last partial
        // tile) only the one with hi.
        int lo[MTI][2], hi[MTI][2];
        const int jt = c0 + 2 * tq;
#pragma unroll
        for (int u = 0; u < MTI; u++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const i64 dg = (i64)ri[u][r] + diag;
                i64 h = sk, w = 0;
                if (a.wr >= 0 && dg + a.wr + 1 < h) h = dg + a.wr + 1;
                if (a.wl >= 0 && dg - a.wl > w) w = dg - a.wl;
                hi[u][r] = (int)(h < 0 ? 0 : h) - jt;
                lo[u][r] = (int)(w > sk ? sk : w) - jt;
            }
        if (a.wl >= 0) {
#pragma unroll
            for (int u = 0; u < MTI; u++)
#pragma unroll
                for (int n = 0; n < NN; n++)
#pragma unroll
                    for (int x = 0; x < 4; x++) {
                        const int r = x >> 1, c = n * 8 + (x & 1);
                        if (c < lo[u][r] || c >= hi[u][r]) s[u][n][x] = -BRC_INF;
                    }
        } else {
#pragma unroll
            for (int u = 0; u < MTI; u++)
#pragma unroll
                for (int n = 0; n < NN; n++)
#pragma unroll
                    for (int x = 0; x < 4; x++)
                        if (n * 8 + (x & 1) >= hi[u][x >> 1]) s[u][n][x] = -BRC_INF;
        }
    }
    // Raw scores: max(s) scale = max(s scale) since scale > 0 (kept off 0, where -inf 0 is NaN).
    const float scl = TRANSFORM ? 1.f : fmaxf(scale_l2, 1.17549435e-38f);
    float rmax[MTI][2], nm[MTI][2];
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float m = s[u][0][2 * r];
#pragma unroll
            for (int n = 0; n < NN; n++) m = fmaxf(m, fmaxf(s[u][n][2 * r], s[u][n][2 * r + 1]));
            rmax[u][r] = m;
        }
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int r = 0; r < 2; r++) rmax[u][r] = fmaxf(rmax[u][r], __shfl_xor_sync(0xffffffffu, rmax[u][r], 1));
    // The running max may be stale: it moves (and O and l are rescaled) only when a row of the
    // warp sees a max above it by more than 8, so P is at most 2^8 (exact in f32, and in f16 /
    // bf16 as much as any P), l and O grow by at most 2^8, and the lse is exact either way. On
    // random data the warp then rescales in the first tiles only, instead of 4 FMULs a column
    // block every tile (128 a thread at D = 128).
    bool need = false;
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            rmax[u][r] = fmaxf(mx[u][r], fmaxf(rmax[u][r], __shfl_xor_sync(0xffffffffu, rmax[u][r], 2)) * scl);
            need |= rmax[u][r] > mx[u][r] + 8.f; // true on the first tile with a key (mx = -inf)
        }
    if (__any_sync(0xffffffffu, need)) {
#pragma unroll
        for (int u = 0; u < MTI; u++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const float mnew = rmax[u][r], muse = mnew == -BRC_INF ? 0.f : mnew;
                const float corr = ex2(mx[u][r] - muse);
                mx[u][r] = mnew, nm[u][r] = -muse;
                l[u][r] *= corr;
#pragma unroll
                for (int n = 0; n < ND; n++) o[u][n][2 * r] *= corr, o[u][n][2 * r + 1] *= corr;
            }
    } else {
#pragma unroll
        for (int u = 0; u < MTI; u++)
#pragma unroll
            for (int r = 0; r < 2; r++) nm[u][r] = mx[u][r] == -BRC_INF ? 0.f : -mx[u][r];
    }
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int n = 0; n < NN; n++)
#pragma unroll
            for (int x = 0; x < 4; x++) {
                const int r = x >> 1;
                float p = ex2(fmaf(s[u][n][x], scl, nm[u][r]));
                l[u][r] += p;
                if (K::DROPOUT) {
                    const int j = c0 + n * 8 + 2 * tq + (x & 1);
                    p *= attn_keep(seed, offset, a.jblocks, rid[u][r], j, (float)a.p_drop, 1.f);
                }
                s[u][n][x] = p;
            }
}

// The combine fused into the split forward (SPLIT = 2): the CTA of a (batch, KV head group,
// m-tile) that writes its partials last, by a ticket counter (a.dq_sem, one a tile, zero at the
// start of the run and set back to zero here), merges the splits of its rows: the partial O of
// every split staged into shared memory with cp.async (each thread stages the float4s it then
// sums: no barrier between), the weights e^(lse_s - max) by a warp a row, each output the sum
// over the splits in split order whichever CTA merges (bitwise reproducible). Shared memory:
// row offsets and statistics (24 BM bytes), R x ns weights, R x D f32 sums, then as many splits
// of R x D f32 as fit (the plan takes this path only where one does at R = BM; R = the tile's
// rows, ns = the splits).
template <class K>
__device__ __forceinline__ void attn_split_merge(const attn_args &a, int b, int h0, int m0, int rows,
                                                 const attn_seq &sq) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, NT = 32 * WARPS, BM = 16 * WARPS * K::MTILES, LD = D + 8 };
    enum { E = sizeof(T), SMEM = (BM + 2 * K::STAGES * K::BN) * LD * E, C4 = D / 4 };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    i64 *rbase = reinterpret_cast<i64 *>(attn_smem), *obase = rbase + BM;
    float *rinv = reinterpret_cast<float *>(obase + BM), *rlse = rinv + BM, *wt = rlse + BM;
    int *last = reinterpret_cast<int *>(wt) - 1; // rlse[BM - 1] is written after the flag is read
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, ns = (int)a.nsplit;
    const int R = rows - m0 < BM ? rows - m0 : BM;
    const i64 total = K::VARLEN ? a.H * a.tq : a.B * a.H * a.Sq;
    int *ctr = a.dq_sem + ((i64)b * gridDim.y + blockIdx.y) * (gridDim.x / ns) + blockIdx.x / ns;
    // The ticket: after the barrier (every thread's partials written, every warp done with shared
    // memory) one thread's acquire-release add publishes the CTA's partials (release is
    // cumulative over the barrier) and, for the last, acquires everyone's; the barrier after it
    // passes that on to the CTA's other threads, whose reads bypass L1 (cp.async.cg, ld.cg).
    __syncthreads();
    if (tid == 0) {
#if __CUDA_ARCH__ >= 900
        // Launched as the programmatic dependent of a kernel that zeroes the counters: wait for it
        // here, after the streaming (returns at once on an ordinary launch).
        asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
        int old;
        asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;" : "=r"(old) : "l"(ctr) : "memory");
        *last = old == ns - 1;
    }
    __syncthreads();
    if (!*last) return;
    if (tid == 0) *ctr = 0; // for the next run (which zeroes it too)
    __syncthreads();        // the flag is read before rlse takes its place
    if (tid < R) {
        const int mm = m0 + tid, i = mm % sq.sq;
        const i64 h = h0 + mm / sq.sq;
        rbase[tid] = attn_row_id<K::VARLEN>(a, b, h, sq, i);
        obase[tid] = b * a.o_s[0] + (sq.q0 + i) * a.o_s[1] + h * a.o_s[2];
    }
    __syncthreads();
    // Shared memory past the row data: the weights (R x ns), the f32 sums (ne float4s: the
    // tile's R x D), then sc splits of the tile staged at once.
    const int wn = (R * ns + 3) & ~3, ne = R * C4;
    float4 *acc = reinterpret_cast<float4 *>(wt + wn);
    const float4 *st4 = acc + ne;
    const u32 stage = smem_addr(st4);
    const int sc = (int)(((int)SMEM - 24 * BM - 4 * wn - 16 * ne) / (16 * ne)); // >= 1 (the plan's rule)
    const i64 sstride = total * D;
    // A thread's elements: float4 e = tid, tid + NT, ... < ne of the tile (row e / C4), every
    // split alike, so that what a thread stages only it reads (no barrier between). Loops kept
    // rolled: the merge runs once a tile, and unrolled it multiplied the compile time.
    auto stage_splits = [&](int s0, int s1) {
#pragma unroll 1
        for (int e = tid; e < ne; e += NT) {
            const float *src = a.part_o + (rbase[e / C4] + (i64)s0 * total) * D + 4 * (e % C4);
            u32 dst = stage + 16u * (u32)e;
            for (int s = s0; s < s1; s++, src += sstride, dst += 16u * (u32)ne) cp_async16_s(dst, src, true);
        }
        cp_async_commit();
    };
    stage_splits(0, sc < ns ? sc : ns);
    for (int x = tid; x < R * ns; x += NT) {
        const int m = x / ns, s = x - m * ns;
        wt[x] = __ldcg(a.part_lse + (i64)s * total + rbase[m]);
    }
    __syncthreads();
    for (int m = warp; m < R; m += WARPS) {
        float mx = -BRC_INF, ws = 0.f;
        for (int s = lane; s < ns; s += 32) mx = fmaxf(mx, wt[m * ns + s]);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        const float mu = mx == -BRC_INF ? 0.f : mx;
        for (int s = lane; s < ns; s += 32) {
            const float w = expf(wt[m * ns + s] - mu);
            wt[m * ns + s] = w, ws += w;
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) ws += __shfl_xor_sync(0xffffffffu, ws, off);
        if (lane == 0) rinv[m] = ws > 0.f ? 1.f / ws : 0.f, rlse[m] = ws > 0.f ? mx + logf(ws) : -BRC_INF;
    }
    __syncthreads();
    T *out = static_cast<T *>(a.o);
    for (int s0 = 0; s0 < ns; s0 += sc) {
        const int s1 = s0 + sc < ns ? s0 + sc : ns;
        cp_async_wait_all();
#pragma unroll 1
        for (int e = tid; e < ne; e += NT) {
            const int m = e / C4;
            float4 x = s0 ? acc[e] : make_float4(0.f, 0.f, 0.f, 0.f);
            const float *w = wt + m * ns + s0;
            const float4 *v = st4 + e;
            for (int s = s0; s < s1; s++, w++, v += ne) {
                const float ws = *w;
                const float4 y = *v;
                x.x += ws * y.x, x.y += ws * y.y, x.z += ws * y.z, x.w += ws * y.w;
            }
            if (s1 < ns) {
                acc[e] = x;
            } else {
                const float iv = rinv[m];
                uint2 o2;
                o2.x = attn_mma<T>::pack(x.x * iv, x.y * iv);
                o2.y = attn_mma<T>::pack(x.z * iv, x.w * iv);
                *reinterpret_cast<uint2 *>(out + obase[m] + 4 * (e % C4)) = o2;
            }
        }
        if (s1 < ns) stage_splits(s1, s1 + sc < ns ? s1 + sc : ns); // this thread's own elements: no barrier
    }
    if (tid < R) {
        const int mm = m0 + tid;
        a.lse[b * a.l_s[0] + (h0 + mm / sq.sq) * a.l_s[1] + (sq.q0 + mm % sq.sq) * a.l_s[2]] = rlse[tid];
    }
}

// The splits of a tile merged over distributed shared memory (SPLIT = 3, sm_90; measured in
// bench/decode_sweep.cu only): the forward is launched in clusters of nsplit CTAs (at most 16,
// the splits of one tile); each CTA leaves its normalized partial O and lse in its own shared
// memory, and after a cluster barrier CTA q merges the float4s q NT + tid, ... of the tile,
// reading every CTA's in rank order (bitwise reproducible); a second barrier keeps each CTA's
// shared memory until the others are done with it. No workspace, no counters.
template <class K, int MTI, int ND>
__device__ __forceinline__ void attn_cluster_merge(const attn_args &a, const float (&o)[MTI][ND][4],
                                                   const float (&inv)[MTI][2], const float (&lse)[MTI][2], int b,
                                                   int h0, int m0, int rows, const attn_seq &sq) {
#if __CUDA_ARCH__ >= 900
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, NT = 32 * WARPS, WR = 16 * MTI, BM = WR * WARPS, C4 = D / 4, MAXC = 16 };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    float *P = reinterpret_cast<float *>(attn_smem), *L = P + BM * D;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, tq = lane & 3;
    __syncthreads(); // every warp is done with the K / V buffers
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int lr = warp * WR + 16 * u + g + 8 * r;
#pragma unroll
            for (int n = 0; n < ND; n++)
                *reinterpret_cast<float2 *>(P + lr * D + n * 8 + 2 * tq) =
                    make_float2(o[u][n][2 * r] * inv[u][r], o[u][n][2 * r + 1] * inv[u][r]);
            if (tq == 0) L[lr] = lse[u][r];
        }
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
    u32 q;
    asm("mov.u32 %0, %%cluster_ctarank;" : "=r"(q));
    const int ns = (int)a.nsplit, R = rows - m0 < BM ? rows - m0 : BM, ne = R * C4;
    T *out = static_cast<T *>(a.o);
    for (int e = (int)q * NT + tid; e < ne; e += ns * NT) {
        const int m = e / C4, mm = m0 + m, i = mm % sq.sq;
        const i64 h = h0 + mm / sq.sq;
        const u32 lp = smem_addr(L + m), pp = smem_addr(P) + 16u * (u32)e;
        float lv[MAXC];
        float4 pv[MAXC];
#pragma unroll
        for (int j = 0; j < MAXC; j++) {
            lv[j] = -BRC_INF, pv[j] = make_float4(0.f, 0.f, 0.f, 0.f);
            if (j < ns) {
                u32 rl, rp;
                asm("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(rl) : "r"(lp), "r"(j));
                asm("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(rp) : "r"(pp), "r"(j));
                asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(lv[j]) : "r"(rl));
                asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];"
                             : "=f"(pv[j].x), "=f"(pv[j].y), "=f"(pv[j].z), "=f"(pv[j].w)
                             : "r"(rp));
            }
        }
        float mx = -BRC_INF;
#pragma unroll
        for (int j = 0; j < MAXC; j++) mx = fmaxf(mx, lv[j]);
        const float mu = mx == -BRC_INF ? 0.f : mx;
        float ws = 0.f;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int j = 0; j < MAXC; j++) {
            const float w = expf(lv[j] - mu); // 0 past ns (lv = -inf)
            ws += w, x.x += w * pv[j].x, x.y += w * pv[j].y, x.z += w * pv[j].z, x.w += w * pv[j].w;
        }
        const float iv = ws > 0.f ? 1.f / ws : 0.f;
        uint2 o2;
        o2.x = attn_mma<T>::pack(x.x * iv, x.y * iv);
        o2.y = attn_mma<T>::pack(x.z * iv, x.w * iv);
        *reinterpret_cast<uint2 *>(out + b * a.o_s[0] + (sq.q0 + i) * a.o_s[1] + h * a.o_s[2] + 4 * (e % C4)) = o2;
        if (e % C4 == 0)
            a.lse[b * a.l_s[0] + h * a.l_s[1] + (sq.q0 + i) * a.l_s[2]] = ws > 0.f ? mx + logf(ws) : -BRC_INF;
    }
    // no memory to order here: the reads of the others' shared memory are done (their values used)
    asm volatile("barrier.cluster.arrive.relaxed.aligned;\n\tbarrier.cluster.wait.aligned;" ::: "memory");
#endif
}

template <class K> __device__ __forceinline__ void attn_fwd_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, MTI = K::MTILES, WR = 16 * MTI, BM = WR * WARPS, BN = K::BN, LD = D + 8 };
    enum { NT = 32 * WARPS, KD = D / 16, NN = BN / 8, ND = D / 8, QREG = K::QREG && MTI == 1 };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    // Q, then STAGES K / V buffer pairs (K, then V BN LD elements after it; pair p PAIR bytes
    // after pair 0), addressed by 32-bit shared-memory byte addresses (ldsm_x4_s).
    enum { E = sizeof(T), PAIR = 2 * BN * LD * E };
    T *Qs = reinterpret_cast<T *>(attn_smem);
    const u32 qs_s = smem_addr(Qs), ks_s = qs_s + BM * LD * E, vs_s = ks_s + BN * LD * E;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int b = blockIdx.z, hg = blockIdx.y;
    int mt = blockIdx.x, split = 0;
    if (K::SPLIT) split = mt % (int)a.nsplit, mt /= (int)a.nsplit;
#if __CUDA_ARCH__ >= 900
    // The combine may be launched now (it waits for this grid to finish before it reads):
    // its launch then overlaps this grid's last CTAs instead of following them.
    if (K::SPLIT == 1) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    const int rows = (int)a.gp * sq.sq, m0 = mt * BM;
    if (m0 >= rows) return;
    const int h0 = hg * (int)a.gp, kvh = h0 / (int)(a.H / a.Hkv), diag = sq.sk - sq.sq;
    const T *q = static_cast<const T *>(a.q), *k = static_cast<const T *>(a.k), *v = static_cast<const T *>(a.v);

    // The query range of the tile (conservative when it spans heads) gives its KV range.
    const int mend = m0 + BM < rows ? m0 + BM : rows;
    int imin = 0, imax = sq.sq - 1;
    if (m0 / sq.sq == (mend - 1) / sq.sq) imin = m0 % sq.sq, imax = (mend - 1) % sq.sq;
    i64 nlo = 0, nhi = sq.sk;
    if (a.wr >= 0 && imax + diag + a.wr + 1 < nhi) nhi = imax + diag + a.wr + 1;
    if (a.wl >= 0 && imin + diag - a.wl > nlo) nlo = imin + diag - a.wl;
    int t0 = (int)(nlo / BN), t1 = nhi > nlo ? (int)((nhi + BN - 1) / BN) : t0;
    if (K::SPLIT) {
        int per = (t1 - t0 + (int)a.nsplit - 1) / (int)a.nsplit;
        int s0 = t0 + split * per, s1 = s0 + per < t1 ? s0 + per : t1;
        t0 = s0 < t1 ? s0 : t1, t1 = s1 > t0 ? s1 : t0;
    }

    // This thread's rows: (m-tile u, half r) is row m0 + warp WR + 16 u + g + 8 r.
    int ri[MTI][2];
    i64 rid[MTI][2];
    float slope[MTI][2];
    const void *mrow[MTI][2];
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            int m = m0 + warp * WR + 16 * u + g + 8 * r;
            bool ok = m < rows;
            int rh = h0 + (ok ? m / sq.sq : 0);
            ri[u][r] = ok ? m % sq.sq : sq.sq; // sq.sq marks a row past the end
            slope[u][r] = attn_slope<K>(a, b, rh);
            rid[u][r] = attn_row_id<K::VARLEN>(a, b, rh, sq, ri[u][r]);
            mrow[u][r] = nullptr;
            if (K::MASK)
                mrow[u][r] = static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + rh * a.m_s[1] +
                             (ok ? ri[u][r] : 0) * a.m_s[2];
        }
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];

    auto qrow = [&](int r) -> const T * {
        i64 m = m0 + r;
        if (m >= rows) return nullptr;
        i64 h = h0 + m / sq.sq, i = m % sq.sq;
        return q + b * a.q_s[0] + (sq.q0 + i) * a.q_s[1] + h * a.q_s[2];
    };
    const kv_loader<T, D, NT, BN> kl(k, b * a.k_s[0] + sq.k0 * a.k_s[1] + kvh * a.k_s[2], a.k_s[1], sq.sk);
    const kv_loader<T, D, NT, BN> vl(v, b * a.v_s[0] + sq.k0 * a.v_s[1] + kvh * a.v_s[2], a.v_s[1], sq.sk);

    float o[MTI][ND][4];
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int n = 0; n < ND; n++) o[u][n][0] = o[u][n][1] = o[u][n][2] = o[u][n][3] = 0.f;
    float mx[MTI][2], l[MTI][2];
#pragma unroll
    for (int u = 0; u < MTI; u++) mx[u][0] = mx[u][1] = -BRC_INF, l[u][0] = l[u][1] = 0.f;
    const float scale_l2 = (float)a.scale * BRC_LOG2E;

    if (t0 < t1) {
        load_tile<T, D, NT>(Qs, BM, q, qrow);
        kl.load(ks_s, t0);
        if (K::STAGES >= 2) vl.load(vs_s, t0);
        cp_async_commit();
        // STAGES > 2 (decode): tiles t0 + 1 .. t0 + STAGES - 2 into pairs 1 ..; one commit group a
        // tile, empty past t1, so that the loop's wait counts groups alike on every path.
#pragma unroll
        for (int i = 1; i < K::STAGES - 1; i++) {
            if (t0 + i < t1) kl.load(ks_s + i * PAIR, t0 + i), vl.load(vs_s + i * PAIR, t0 + i);
            cp_async_commit();
        }
    }
    u32 qf[QREG ? KD : 1][4];
    int nb = 0; // the buffer pair of tile t (STAGES >= 2)
    for (int t = t0; t < t1; t++) {
        u32 kb_s = ks_s, vb_s = vs_s; // this tile's buffers
        if (K::STAGES >= 2) {
            // One barrier a tile: after it tile t is in shared memory for every thread and every
            // warp is done with tile t - 1, whose buffer pair then takes tile t + STAGES - 1 (in
            // flight with the STAGES - 2 before it while tile t is computed).
            cp_async_wait<K::STAGES - 2>();
            __syncthreads();
            kb_s += (u32)(nb * PAIR), vb_s += (u32)(nb * PAIR);
            const int lb = nb == 0 ? K::STAGES - 1 : nb - 1; // tile t - 1's pair
            if (t + K::STAGES - 1 < t1) {
                const u32 ob = (u32)(lb * PAIR);
                kl.load(ks_s + ob, t + K::STAGES - 1), vl.load(vs_s + ob, t + K::STAGES - 1);
            }
            cp_async_commit();
            nb = nb + 1 == K::STAGES ? 0 : nb + 1;
        } else {
            cp_async_wait_all();
            __syncthreads();
            vl.load(vs_s, t);
            cp_async_commit();
        }
        float s[MTI][NN][4];
#pragma unroll
        for (int u = 0; u < MTI; u++)
#pragma unroll
            for (int n = 0; n < NN; n++) s[u][n][0] = s[u][n][1] = s[u][n][2] = s[u][n][3] = 0.f;
        if (QREG && t == t0) {
#pragma unroll
            for (int kk = 0; kk < KD; kk++) ldsm_x4_s(qf[kk], qs_s + E * lds_a<LD>(lane, warp * WR, kk * 16));
        }
#pragma unroll
        for (int kk = 0; kk < KD; kk++) {
            u32 af[MTI][4];
#pragma unroll
            for (int u = 0; u < MTI; u++) {
                if (QREG) {
#pragma unroll
                    for (int x = 0; x < 4; x++) af[u][x] = qf[kk][x];
                } else {
                    ldsm_x4_s(af[u], qs_s + E * lds_a<LD>(lane, warp * WR + 16 * u, kk * 16));
                }
            }
#pragma unroll
            for (int nn = 0; nn < NN / 2; nn++) {
                u32 bf[4];
                ldsm_x4_s(bf, kb_s + E * lds_bn<LD>(lane, nn * 16, kk * 16));
#pragma unroll
                for (int u = 0; u < MTI; u++) {
                    attn_mma<T>::run(s[u][2 * nn], af[u], bf[0], bf[1]);
                    attn_mma<T>::run(s[u][2 * nn + 1], af[u], bf[2], bf[3]);
                }
            }
        }
        if (K::STAGES == 1) {
            cp_async_wait_all();
            __syncthreads();
            if (t + 1 < t1) {
                kl.load(ks_s, t + 1);
                cp_async_commit();
            }
        }

        const int c0 = t * BN;
        const bool check = c0 + BN > sq.sk || (a.wr >= 0 && c0 + BN - 1 > imin + diag + a.wr) ||
                           (a.wl >= 0 && c0 < imax + diag - a.wl);
        attn_fwd_softmax<K, MTI, NN, ND>(a, s, o, mx, l, ri, slope, mrow, rid, c0, tq, diag, sq.sk, check, scale_l2,
                                         seed, offset);
        // O += P V, P packed to halves one k-step at a time.
#pragma unroll
        for (int kk = 0; kk < NN / 2; kk++) {
            u32 pa[MTI][4];
#pragma unroll
            for (int u = 0; u < MTI; u++) pack_a<T, 1>(&pa[u], &s[u][2 * kk]);
#pragma unroll
            for (int dn = 0; dn < ND / 2; dn++) {
                u32 bf[4];
                ldsm_x4_ts(bf, vb_s + E * lds_bt<LD>(lane, kk * 16, dn * 16));
#pragma unroll
                for (int u = 0; u < MTI; u++) {
                    attn_mma<T>::run(o[u][2 * dn], pa[u], bf[0], bf[1]);
                    attn_mma<T>::run(o[u][2 * dn + 1], pa[u], bf[2], bf[3]);
                }
            }
        }
    }

    float inv[MTI][2], lse[MTI][2];
#pragma unroll
    for (int u = 0; u < MTI; u++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float lt = quad_sum(l[u][r]);
            inv[u][r] = lt > 0.f ? 1.f / lt : 0.f;
            if (K::DROPOUT) inv[u][r] *= (float)a.rkeep;
            lse[u][r] = lt > 0.f ? mx[u][r] * BRC_LN2 + logf(lt) : -BRC_INF;
        }
    if (K::SPLIT == 3) {
        attn_cluster_merge<K, MTI, ND>(a, o, inv, lse, b, h0, m0, rows, sq);
        return;
    }
    if (K::SPLIT) {
        const i64 total = K::VARLEN ? a.H * a.tq : a.B * a.H * a.Sq;
#pragma unroll
        for (int u = 0; u < MTI; u++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                if (ri[u][r] >= sq.sq) continue;
                i64 row = (i64)split * total + rid[u][r];
                float *po = a.part_o + row * D;
#pragma unroll
                for (int n = 0; n < ND; n++)
                    *reinterpret_cast<float2 *>(po + n * 8 + 2 * tq) =
                        make_float2(o[u][n][2 * r] * inv[u][r], o[u][n][2 * r + 1] * inv[u][r]);
                if (tq == 0) a.part_lse[row] = lse[u][r];
            }
        if (K::SPLIT == 2) attn_split_merge<K>(a, b, h0, m0, rows, sq);
        return;
    }
    T *out = static_cast<T *>(a.o);
    __syncthreads(); // Qs may still be in flight or read when the range was empty
#pragma unroll
    for (int u = 0; u < MTI; u++) {
        const int mb = m0 + warp * WR + 16 * u;
        store_rows<T, D>(Qs + (warp * WR + 16 * u) * LD, o[u], inv[u][0], inv[u][1], lane, [&](int r) -> T * {
            i64 m = mb + r;
            if (m >= rows) return nullptr;
            i64 h = h0 + m / sq.sq, i = m % sq.sq;
            return out + b * a.o_s[0] + (sq.q0 + i) * a.o_s[1] + h * a.o_s[2];
        });
        if (tq == 0) {
#pragma unroll
            for (int r = 0; r < 2; r++) {
                int m = mb + g + 8 * r;
                if (m < rows) a.lse[b * a.l_s[0] + (h0 + m / sq.sq) * a.l_s[1] + (sq.q0 + ri[u][r]) * a.l_s[2]] = lse[u][r];
            }
        }
    }
}

// Combine of a split forward: one CTA a row id (grid-stride); O = sum_s e^(lse_s - lse) O_s, lse = log sum e^lse_s.
// Warp 0 weighs the splits (into shared memory); warp w sums its columns over splits w, w + WARPS,
// ... with vector loads; warp 0 then adds the warps' sums in warp order (the same order every run:
// bitwise reproducible). The partials sit in L2, so the time is a few of its latencies: one for
// the lse, one or two for the splits a warp holds (33 at B = 1 on the H100: 5 a warp).
template <class K> __device__ __forceinline__ void attn_combine_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = 8, PER = D / 32, MAXS = 256, LS = MAXS / 32 };
    // a lane's PER columns are 4 PER bytes aligned
    enum { VW = PER % 4 == 0 ? 4 : PER % 2 == 0 ? 2 : 1 };
    __shared__ float wts[MAXS];
    __shared__ __align__(16) float red[WARPS][D];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, ns = (int)a.nsplit;
    const i64 total = K::VARLEN ? a.H * a.tq : a.B * a.H * a.Sq;
#if __CUDA_ARCH__ >= 900
    // Launched as the split forward's programmatic dependent (sm_90): wait for the forward's
    // grid, whose partials this reads (returns at once on an ordinary launch).
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    for (i64 row = blockIdx.x; row < total; row += gridDim.x) {
        i64 b, h, i;
        if (K::VARLEN) {
            h = row / a.tq, i = row % a.tq, b = 0;
            if (i >= a.cu_q[a.B]) continue; // rows no sequence covers (the same for the whole CTA)
        } else {
            i = row % a.Sq, h = (row / a.Sq) % a.H, b = row / (a.Sq * a.H);
        }
        float m = -BRC_INF, ws = 0.f;
        __syncthreads(); // the previous row's wts and red are read
        if (warp == 0) {
            // Lane l weighs splits l, l + 32, ... (up to MAXS).
            float ls[LS];
#pragma unroll
            for (int j = 0; j < LS; j++) {
                ls[j] = lane + 32 * j < ns ? a.part_lse[(lane + 32 * j) * total + row] : -BRC_INF;
                m = fmaxf(m, ls[j]);
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
            const float mu = m == -BRC_INF ? 0.f : m;
#pragma unroll
            for (int j = 0; j < LS; j++) {
                const float w = expf(ls[j] - mu);
                ws += w;
                wts[lane + 32 * j] = w;
            }
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) ws += __shfl_xor_sync(0xffffffffu, ws, off);
        }
        __syncthreads();
        float acc[PER];
#pragma unroll
        for (int x = 0; x < PER; x++) acc[x] = 0.f;
        const float *po = a.part_o + row * D + lane * PER;
#pragma unroll 4
        for (int s = warp; s < ns; s += WARPS) {
            const float w = wts[s];
            const float *p = po + (i64)s * total * D;
#pragma unroll
            for (int x = 0; x < PER; x += VW) {
                if (VW == 4) {
                    const float4 v = *reinterpret_cast<const float4 *>(p + x);
                    acc[x] += w * v.x, acc[x + 1] += w * v.y, acc[x + 2] += w * v.z, acc[x + 3] += w * v.w;
                } else if (VW == 2) {
                    const float2 v = *reinterpret_cast<const float2 *>(p + x);
                    acc[x] += w * v.x, acc[x + 1] += w * v.y;
                } else {
                    acc[x] += w * p[x];
                }
            }
        }
#pragma unroll
        for (int x = 0; x < PER; x++) red[warp][lane * PER + x] = acc[x];
        __syncthreads();
        if (warp == 0) {
            const float inv = ws > 0.f ? 1.f / ws : 0.f;
            T *out = static_cast<T *>(a.o) + b * a.o_s[0] + i * a.o_s[1] + h * a.o_s[2] + lane * PER;
#pragma unroll
            for (int x = 0; x < PER; x++) {
                float v = red[0][lane * PER + x];
#pragma unroll
                for (int w = 1; w < WARPS; w++) v += red[w][lane * PER + x];
                out[x] = io<T>::store(v * inv);
            }
            if (lane == 0) a.lse[b * a.l_s[0] + h * a.l_s[1] + i * a.l_s[2]] = ws > 0.f ? m + logf(ws) : -BRC_INF;
        }
    }
}

// ---- backward -----------------------------------------------------------------------------------------

// dsum[row id] = sum_d dO * O (f32); one warp a row. ZERO (the atomic backward): the row's D f32
// of the dQ accumulator (part_o) are zeroed too, in the same pass, so that a run (or a captured
// graph) needs no memset.
template <class K, bool ZERO> __device__ __forceinline__ void attn_dsum_body(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D };
    const int lane = threadIdx.x & 31, b = blockIdx.z;
    const i64 h = blockIdx.y, i = (i64)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    if (i >= sq.sq) return;
    const T *o = static_cast<const T *>(a.o) + b * a.o_s[0] + (sq.q0 + i) * a.o_s[1] + h * a.o_s[2];
    const T *d = static_cast<const T *>(a.dout) + b * a.do_s[0] + (sq.q0 + i) * a.do_s[1] + h * a.do_s[2];
    float acc = 0.f;
    for (int c = lane; c < D; c += 32) acc += io<T>::load(o[c]) * io<T>::load(d[c]);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    const i64 rid = attn_row_id<K::VARLEN>(a, b, h, sq, i);
    if (lane == 0) a.dsum[rid] = acc;
    if (ZERO) {
        float4 *z = reinterpret_cast<float4 *>(a.part_o + rid * D);
        for (int c = lane; c < D / 4; c += 32) z[c] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
}
template <class K> __device__ __forceinline__ void attn_dsum_main(const attn_args &a) { attn_dsum_body<K, false>(a); }
template <class K> __device__ __forceinline__ void attn_dsumz_main(const attn_args &a) { attn_dsum_body<K, true>(a); }

// lse of a row in the log2 domain for recomputing P: +inf for a row past the end or one with no
// allowed key (its P is then 0, never NaN).
__device__ __forceinline__ float attn_lse_l2(float lse) { return lse == -BRC_INF ? BRC_INF : lse * BRC_LOG2E; }

// dK and dV of 16 WARPS keys of one KV head: loops over the query heads of its group and the
// query tiles that see those keys. Transposed products (keys are the M rows): S^T = K Q^T,
// dP^T = V dO^T, dV += P^T dO, dK += dS^T Q.
template <class K> __device__ __forceinline__ void attn_dkdv_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, BNK = 16 * WARPS, BQ = K::BQ, LD = D + 8, NT = 32 * WARPS };
    enum { KD = D / 16, NQ = BQ / 8, ND = D / 8, DV = K::WHICH & 1, DK = K::WHICH >> 1 };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    T *Ks = reinterpret_cast<T *>(attn_smem), *Vs = Ks + BNK * LD, *Qs = Vs + BNK * LD, *Ds = Qs + BQ * LD;
    float *lse_s = reinterpret_cast<float *>(Ds + BQ * LD), *dsum_s = lse_s + BQ;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int b = blockIdx.z;
    const i64 kvh = blockIdx.y, grp = a.H / a.Hkv;
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    const i64 c0 = (i64)blockIdx.x * BNK;
    if (c0 >= sq.sk) return;
    const i64 diag = sq.sk - sq.sq, cend = c0 + BNK < sq.sk ? c0 + BNK : sq.sk;
    const T *q = static_cast<const T *>(a.q), *k = static_cast<const T *>(a.k), *v = static_cast<const T *>(a.v);
    const T *dout = static_cast<const T *>(a.dout);
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];

    auto kvrow = [&](const T *base, const i64 *s) {
        return [=](int r) -> const T * {
            i64 j = c0 + r;
            return j < sq.sk ? base + b * s[0] + (sq.k0 + j) * s[1] + kvh * s[2] : nullptr;
        };
    };
    load_tile<T, D, NT>(Ks, BNK, k, kvrow(k, a.k_s));
    load_tile<T, D, NT>(Vs, BNK, v, kvrow(v, a.v_s));
    cp_async_commit();

    float dk[DK ? ND : 1][4], dv[DV ? ND : 1][4];
#pragma unroll
    for (int n = 0; n < ND; n++) {
        if (DK) dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = 0.f;
        if (DV) dv[n][0] = dv[n][1] = dv[n][2] = dv[n][3] = 0.f;
    }
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    // Queries that see keys c0 .. cend - 1.
    i64 ilo = 0, ihi = sq.sq;
    if (a.wr >= 0 && c0 - diag - a.wr > ilo) ilo = c0 - diag - a.wr;
    if (a.wl >= 0 && cend - 1 - diag + a.wl + 1 < ihi) ihi = cend - 1 - diag + a.wl + 1;
    const i64 j0 = c0 + warp * 16 + g; // this thread's keys: j0, j0 + 8

    for (i64 h = kvh * grp; h < (kvh + 1) * grp; h++) {
        const float slope = attn_slope<K>(a, b, h);
        for (i64 i0 = ilo / BQ * BQ; i0 < ihi; i0 += BQ) {
            __syncthreads(); // the previous tile is consumed
            auto qr = [&](const T *base, const i64 *s) {
                return [=](int r) -> const T * {
                    i64 i = i0 + r;
                    return i < sq.sq ? base + b * s[0] + (sq.q0 + i) * s[1] + h * s[2] : nullptr;
                };
            };
            load_tile<T, D, NT>(Qs, BQ, q, qr(q, a.q_s));
            load_tile<T, D, NT>(Ds, BQ, dout, qr(dout, a.do_s));
            cp_async_commit();
            for (int r = threadIdx.x; r < BQ; r += NT) {
                i64 i = i0 + r;
                bool ok = i < sq.sq;
                lse_s[r] = ok ? attn_lse_l2(a.lse[b * a.l_s[0] + h * a.l_s[1] + (sq.q0 + i) * a.l_s[2]]) : BRC_INF;
                dsum_s[r] = ok ? a.dsum[attn_row_id<K::VARLEN>(a, b, h, sq, i)] : 0.f;
            }
            cp_async_wait_all();
            __syncthreads();

            float s[NQ][4], dp[NQ][4];
#pragma unroll
            for (int n = 0; n < NQ; n++) {
                s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
                dp[n][0] = dp[n][1] = dp[n][2] = dp[n][3] = 0.f;
            }
            mma_abt<T, LD, KD, NQ>(s, Ks, warp * 16, Qs, 0, lane);
            if (DK) mma_abt<T, LD, KD, NQ>(dp, Vs, warp * 16, Ds, 0, lane);
            const bool check = c0 + BNK > sq.sk || a.wr >= 0 || a.wl >= 0;
            const void *mbase = K::MASK ? static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1]
                                        : nullptr;
#pragma unroll
            for (int n = 0; n < NQ; n++)
#pragma unroll
                for (int e4 = 0; e4 < 4; e4++) {
                    const int ci = n * 8 + 2 * tq + (e4 & 1);
                    const i64 i = i0 + ci, j = j0 + 8 * (e4 >> 1);
                    float th = 0.f;
                    const void *mrow = K::MASK ? static_cast<const typename K::MT *>(mbase) +
                                                     (i < sq.sq ? i : 0) * a.m_s[2]
                                               : nullptr;
                    float x = attn_score<K>(a, s[n][e4], scale_l2, slope, i, j, diag, sq.sk, mrow, check, &th);
                    float p = ex2(x - lse_s[ci]);
                    float z = 1.f;
                    if (K::DROPOUT)
                        z = attn_keep(seed, offset, a.jblocks, attn_row_id<K::VARLEN>(a, b, h, sq, i), j,
                                      (float)a.p_drop, (float)a.rkeep);
                    if (DK) {
                        float ds = p * (dp[n][e4] * z - dsum_s[ci]);
                        if (K::SOFTCAP) ds *= 1.f - th * th;
                        dp[n][e4] = ds;
                    }
                    s[n][e4] = p * z;
                }
            u32 pa[NQ / 2][4];
            if (DV) {
                pack_a<T, NQ / 2>(pa, s);
                mma_pb<T, LD, NQ / 2, ND>(dv, pa, Ds, 0, lane);
            }
            if (DK) {
                pack_a<T, NQ / 2>(pa, dp);
                mma_pb<T, LD, NQ / 2, ND>(dk, pa, Qs, 0, lane);
            }
        }
    }
    __syncthreads();
    auto krow = [&](T *base, const i64 *s, int warp_) {
        return [=](int r) -> T * {
            i64 j = c0 + warp_ * 16 + r;
            return j < sq.sk ? base + b * s[0] + (sq.k0 + j) * s[1] + kvh * s[2] : nullptr;
        };
    };
    const float sc = (float)a.scale;
    if (DK) store_rows<T, D>(Ks + warp * 16 * LD, dk, sc, sc, lane, krow(static_cast<T *>(a.dk), a.dk_s, warp));
    if (DV) store_rows<T, D>(Vs + warp * 16 * LD, dv, 1.f, 1.f, lane, krow(static_cast<T *>(a.dv), a.dv_s, warp));
}

// dQ of 16 WARPS queries of one head: S = Q K^T, dP = dO V^T, dQ += dS K over the KV tiles.
template <class K> __device__ __forceinline__ void attn_dq_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, BM = 16 * WARPS, BN = K::BN, LD = D + 8, NT = 32 * WARPS };
    enum { KD = D / 16, NN = BN / 8, ND = D / 8 };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    T *Qs = reinterpret_cast<T *>(attn_smem), *Ds = Qs + BM * LD, *Ks = Ds + BM * LD, *Vs = Ks + BN * LD;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int b = blockIdx.z;
    const i64 h = blockIdx.y, kvh = h / (a.H / a.Hkv);
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    const i64 m0 = (i64)blockIdx.x * BM;
    if (m0 >= sq.sq) return;
    const i64 diag = sq.sk - sq.sq, mend = m0 + BM < sq.sq ? m0 + BM : sq.sq;
    const T *q = static_cast<const T *>(a.q), *k = static_cast<const T *>(a.k), *v = static_cast<const T *>(a.v);
    const T *dout = static_cast<const T *>(a.dout);
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];

    auto qr = [&](const T *base, const i64 *s) {
        return [=](int r) -> const T * {
            i64 i = m0 + r;
            return i < sq.sq ? base + b * s[0] + (sq.q0 + i) * s[1] + h * s[2] : nullptr;
        };
    };
    load_tile<T, D, NT>(Qs, BM, q, qr(q, a.q_s));
    load_tile<T, D, NT>(Ds, BM, dout, qr(dout, a.do_s));
    cp_async_commit();

    i64 ri[2], rid[2];
    float lse[2], dsum[2];
    const void *mrow[2] = {nullptr, nullptr};
#pragma unroll
    for (int r = 0; r < 2; r++) {
        i64 i = m0 + warp * 16 + g + 8 * r;
        bool ok = i < sq.sq;
        ri[r] = ok ? i : sq.sq;
        rid[r] = attn_row_id<K::VARLEN>(a, b, h, sq, ok ? i : 0);
        lse[r] = ok ? attn_lse_l2(a.lse[b * a.l_s[0] + h * a.l_s[1] + (sq.q0 + i) * a.l_s[2]]) : BRC_INF;
        dsum[r] = ok ? a.dsum[rid[r]] : 0.f;
        if (K::MASK)
            mrow[r] = static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1] +
                      (ok ? i : 0) * a.m_s[2];
    }
    const float slope = attn_slope<K>(a, b, h);
    i64 nlo = 0, nhi = sq.sk;
    if (a.wr >= 0 && mend - 1 + diag + a.wr + 1 < nhi) nhi = mend - 1 + diag + a.wr + 1;
    if (a.wl >= 0 && m0 + diag - a.wl > nlo) nlo = m0 + diag - a.wl;
    const int t0 = (int)(nlo / BN), t1 = nhi > nlo ? (int)((nhi + BN - 1) / BN) : t0;

    float dq[ND][4];
#pragma unroll
    for (int n = 0; n < ND; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    for (int t = t0; t < t1; t++) {
        const i64 c0 = (i64)t * BN;
        __syncthreads(); // the previous K/V tile is consumed
        auto kr = [&](const T *base, const i64 *s) {
            return [=](int r) -> const T * {
                i64 j = c0 + r;
                return j < sq.sk ? base + b * s[0] + (sq.k0 + j) * s[1] + kvh * s[2] : nullptr;
            };
        };
        load_tile<T, D, NT>(Ks, BN, k, kr(k, a.k_s));
        load_tile<T, D, NT>(Vs, BN, v, kr(v, a.v_s));
        cp_async_commit();
        cp_async_wait_all();
        __syncthreads();
        float s[NN][4], dp[NN][4];
#pragma unroll
        for (int n = 0; n < NN; n++) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
            dp[n][0] = dp[n][1] = dp[n][2] = dp[n][3] = 0.f;
        }
        mma_abt<T, LD, KD, NN>(s, Qs, warp * 16, Ks, 0, lane);
        mma_abt<T, LD, KD, NN>(dp, Ds, warp * 16, Vs, 0, lane);
        const bool check = c0 + BN > sq.sk || (a.wr >= 0 && c0 + BN - 1 > m0 + diag + a.wr) ||
                           (a.wl >= 0 && c0 < mend - 1 + diag - a.wl);
#pragma unroll
        for (int n = 0; n < NN; n++)
#pragma unroll
            for (int e4 = 0; e4 < 4; e4++) {
                const int r = e4 >> 1;
                const i64 j = c0 + n * 8 + 2 * tq + (e4 & 1);
                float th = 0.f;
                float x = attn_score<K>(a, s[n][e4], scale_l2, slope, ri[r], j, diag, sq.sk,
                                        mrow[r], check, &th);
                float p = ex2(x - lse[r]);
                float z = 1.f;
                if (K::DROPOUT) z = attn_keep(seed, offset, a.jblocks, rid[r], j, (float)a.p_drop, (float)a.rkeep);
                float ds = p * (dp[n][e4] * z - dsum[r]);
                if (K::SOFTCAP) ds *= 1.f - th * th;
                s[n][e4] = ds;
            }
        u32 pa[NN / 2][4];
        pack_a<T, NN / 2>(pa, s);
        mma_pb<T, LD, NN / 2, ND>(dq, pa, Ks, 0, lane);
    }
    __syncthreads();
    T *dqp = static_cast<T *>(a.dq);
    const float sc = (float)a.scale;
    store_rows<T, D>(Qs + warp * 16 * LD, dq, sc, sc, lane, [&](int r) -> T * {
        i64 i = m0 + warp * 16 + r;
        return i < sq.sq ? dqp + b * a.dq_s[0] + (sq.q0 + i) * a.dq_s[1] + h * a.dq_s[2] : nullptr;
    });
}

// ---- backward, FlashAttention-2's scheme: one pass, dQ by atomic adds ------------------------------------

// 4 bytes global -> shared through L1 (lse and dsum rows: any stride); zero fill when !pred.
__device__ __forceinline__ void cp_async4(void *dst, const void *src, bool pred) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(smem_addr(dst)), "l"(src), "r"(pred ? 4 : 0));
}

// ldmatrix row address of this lane for a 16 x 16 A operand at (m0, k0) read from [k][m] storage
// (transposed load: rows of the storage are k).
template <int LD> __device__ __forceinline__ int lds_at(int lane, int k0, int m0) {
    return (k0 + (lane >> 4) * 8 + (lane & 7)) * LD + m0 + ((lane >> 3) & 1) * 8;
}

__device__ __forceinline__ void cp_async4_s(u32 dst, const void *src, bool pred) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(pred ? 4 : 0));
}
__device__ __forceinline__ float2 ld_shared_f2(u32 addr) {
    float2 r;
    asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];" : "=f"(r.x), "=f"(r.y) : "r"(addr) : "memory");
    return r;
}
__device__ __forceinline__ void st_shared_u32(u32 addr, u32 x) {
    asm volatile("st.shared.u32 [%0], %1;" ::"r"(addr), "r"(x) : "memory");
}

// p[0], p[1] += x, y (f32, 8-byte aligned): one vector reduction on sm_90, two elsewhere.
__device__ __forceinline__ void attn_red2(float *p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" ::"l"(p), "f"(x), "f"(y) : "memory");
#else
    atomicAdd(p, x);
    atomicAdd(p + 1, y);
#endif
}

// Named barriers of n threads (the warp pairs' hand-over; 0 is __syncthreads'): arrive releases
// this warp's prior shared-memory writes to the warps that sync on the same id.
__device__ __forceinline__ void bar_sync_n(int id, int n) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void bar_arrive_n(int id, int n) {
    asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(n) : "memory");
}
__device__ __forceinline__ void st_shared_f4(u32 addr, const float x[4]) {
    asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "f"(x[0]), "f"(x[1]), "f"(x[2]), "f"(x[3])
                 : "memory");
}
__device__ __forceinline__ void ld_shared_f4(float x[4], u32 addr) {
    asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(x[0]), "=f"(x[1]), "=f"(x[2]), "=f"(x[3]) : "r"(addr)
                 : "memory");
}

// mma_abt and mma_pb on 32-bit shared addresses, for MT m16 tiles of A: as, bs are this lane's
// ldmatrix addresses of the A block's (row 0, k 0) and of the B block's (n 0 / k 0, column 0);
// the other blocks are constant offsets (folded into the instructions).
// acc[MT][NT8][4] += A B^T for MT m16 tiles of A (rows 16 m apart from as) against NT8 n8 tiles of
// B (rows from bs), over 16 KS columns: each B fragment feeds MT MMAs, each A fragment NT8.
template <class T, int LD, int KS, int MT, int NT8>
__device__ __forceinline__ void mma_abt_m(float (*acc)[NT8][4], u32 as, u32 bs) {
    enum { E = sizeof(T) };
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
        u32 af[MT][4];
#pragma unroll
        for (int m = 0; m < MT; m++) ldsm_x4_s(af[m], as + (m * 16 * LD + kk * 16) * E);
#pragma unroll
        for (int nn = 0; nn < NT8 / 2; nn++) {
            u32 bf[4];
            ldsm_x4_s(bf, bs + (nn * 16 * LD + kk * 16) * E);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                attn_mma<T>::run(acc[m][2 * nn], af[m], bf[0], bf[1]);
                attn_mma<T>::run(acc[m][2 * nn + 1], af[m], bf[2], bf[3]);
            }
        }
    }
}
// acc[MT][ND8][4] += P B for MT m16 tiles of packed A fragments pa[m][k16] against B stored [k][n]
// (rows from bs): each B fragment feeds MT MMAs.
template <class T, int LD, int KS, int MT, int ND8>
__device__ __forceinline__ void mma_pb_m(float (*acc)[ND8][4], const u32 (*pa)[KS][4], u32 bs) {
    enum { E = sizeof(T) };
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
#pragma unroll
        for (int dn = 0; dn < ND8 / 2; dn++) {
            u32 bf[4];
            ldsm_x4_ts(bf, bs + (kk * 16 * LD + dn * 16) * E);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                attn_mma<T>::run(acc[m][2 * dn], pa[m][kk], bf[0], bf[1]);
                attn_mma<T>::run(acc[m][2 * dn + 1], pa[m][kk], bf[2], bf[3]);
            }
        }
    }
}

// What the two one-pass backwards (attn_bwd_main, attn_bwdp_main) share: a CTA owns BNK keys from c0
// of KV head kvh and walks the (query head, query tile of BQ) pairs whose queries see those keys,
// starting at another pair in neighbouring CTAs (rot), so that they do not add into the same dQ
// rows at the same moment; the loads of K, V and of a tile's Q, dO, lse and dsum (NT threads), and
// the tile's dQ = dS K added to the f32 accumulator.
template <class K, int NT, int BNK, int BQ> struct attn_bwd_walk {
    typedef typename K::T T;
    enum { D = K::D, LD = D + 8, LDS = BQ + 8, E = sizeof(T) };
    const attn_args &a;
    const attn_seq &sq;
    int b, nth, ntiles, rot, t_lo;
    i64 kvh, grp, c0, ilo;
    __device__ __forceinline__ attn_bwd_walk(const attn_args &a_, const attn_seq &sq_, int b_, i64 kvh_, i64 c0_)
        : a(a_), sq(sq_), b(b_), kvh(kvh_), grp(a_.H / a_.Hkv), c0(c0_) {
        const i64 diag = sq.sk - sq.sq, cend = c0 + BNK < sq.sk ? c0 + BNK : sq.sk;
        i64 ihi = sq.sq;
        ilo = 0;
        if (a.wr >= 0 && c0 - diag - a.wr > ilo) ilo = c0 - diag - a.wr;
        if (a.wl >= 0 && cend - 1 - diag + a.wl + 1 < ihi) ihi = cend - 1 - diag + a.wl + 1;
        ilo = ilo / BQ * BQ;
        nth = ihi > ilo ? (int)((ihi - ilo + BQ - 1) / BQ) : 0, ntiles = nth * (int)grp;
        rot = ntiles > 0 ? (int)(blockIdx.x % (unsigned)ntiles) : 0;
        t_lo = (int)(ilo / BQ);
    }
    // Pair u of the walk (rotated): u of the unrotated order.
    __device__ __forceinline__ int turn(int u) const { return u + rot < ntiles ? u + rot : u + rot - ntiles; }
    // Query head and first query of pair u.
    __device__ __forceinline__ void tile(int u, i64 &h, i64 &i0) const {
        const int ur = turn(u);
        h = kvh * grp + ur / nth, i0 = ilo + (i64)(ur % nth) * BQ;
    }
    // The CTA's K and V rows (zero past the end) into ks_s / vs_s.
    static __device__ __forceinline__ void load_kv(const attn_args &a, const attn_seq &sq, int b, i64 kvh, u32 ks_s,
                                                   u32 vs_s) {
        const kv_loader<T, D, NT, BNK> kl(static_cast<const T *>(a.k), b * a.k_s[0] + sq.k0 * a.k_s[1] + kvh * a.k_s[2], a.k_s[1], sq.sk);
        const kv_loader<T, D, NT, BNK> vl(static_cast<const T *>(a.v), b * a.v_s[0] + sq.k0 * a.v_s[1] + kvh * a.v_s[2], a.v_s[1], sq.sk);
        kl.load(ks_s, (int)blockIdx.x), vl.load(vs_s, (int)blockIdx.x);
    }
    // Pair u into stage st: Q and dO rows (zero past the end, through the K / V loader: one 64-bit
    // step a row) at qs_s / ds_s, raw lse and dsum at lse_s / dsum_s.
    __device__ __forceinline__ void load_q(int u, int st, u32 qs_s, u32 ds_s, u32 lse_s, u32 dsum_s) const {
        const int ur = turn(u), tu = t_lo + ur % nth;
        const i64 h = kvh * grp + ur / nth;
        const kv_loader<T, D, NT, BQ> ql(static_cast<const T *>(a.q), b * a.q_s[0] + sq.q0 * a.q_s[1] + h * a.q_s[2], a.q_s[1], sq.sq);
        const kv_loader<T, D, NT, BQ> dl(static_cast<const T *>(a.dout), b * a.do_s[0] + sq.q0 * a.do_s[1] + h * a.do_s[2], a.do_s[1],
                                         sq.sq);
        ql.load(qs_s + st * BQ * LD * E, tu), dl.load(ds_s + st * BQ * LD * E, tu);
        for (int r = threadIdx.x; r < BQ; r += NT) { // one pass when BQ <= NT
            const i64 i = (i64)tu * BQ + r;
            const bool ok = i < sq.sq;
            cp_async4_s(lse_s + (st * BQ + r) * 4,
                        ok ? a.lse + b * a.l_s[0] + h * a.l_s[1] + (sq.q0 + i) * a.l_s[2] : a.lse, ok);
            cp_async4_s(dsum_s + (st * BQ + r) * 4, ok ? a.dsum + attn_row_id<K::VARLEN>(a, b, h, sq, i) : a.dsum, ok);
            if (BQ <= NT) break;
        }
    }
    // dQ of the pair (head h, first query i0) whose dS is in the buffer at ssb: dQ = dS K, this
    // warp MU m16 tiles of queries from mt MU and the NDC n8 columns from cb DC (lane offsets sa_o
    // into dS, kt_o into K at ks_s), added to the f32 accumulator.
    template <int MU, int NDC, int DC>
    __device__ __forceinline__ void dq(u32 ssb, i64 h, i64 i0, u32 ks_s, u32 sa_o, u32 kt_o, int mt, int cb, int lane)
        const {
        const int g = lane >> 2, tq = lane & 3;
        float dq[MU][NDC][4];
#pragma unroll
        for (int m = 0; m < MU; m++)
#pragma unroll
            for (int n = 0; n < NDC; n++) dq[m][n][0] = dq[m][n][1] = dq[m][n][2] = dq[m][n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < BNK / 16; kk++) {
            u32 af[MU][4];
#pragma unroll
            for (int m = 0; m < MU; m++) ldsm_x4_ts(af[m], ssb + sa_o + (kk * 16 * LDS + m * 16) * E);
#pragma unroll
            for (int dn = 0; dn < NDC / 2; dn++) {
                u32 bf[4];
                ldsm_x4_ts(bf, ks_s + kt_o + (kk * 16 * LD + dn * 16) * E);
#pragma unroll
                for (int m = 0; m < MU; m++) {
                    attn_mma<T>::run(dq[m][2 * dn], af[m], bf[0], bf[1]);
                    attn_mma<T>::run(dq[m][2 * dn + 1], af[m], bf[2], bf[3]);
                }
            }
        }
        float *dqacc = a.part_o; // the backward's f32 dQ accumulator rides in the split forward's field
#pragma unroll
        for (int m = 0; m < MU; m++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const i64 i = i0 + (mt * MU + m) * 16 + g + 8 * r;
                if (i < sq.sq) {
                    float *dst = dqacc + attn_row_id<K::VARLEN>(a, b, h, sq, i) * D + cb * DC + 2 * tq;
#pragma unroll
                    for (int n = 0; n < NDC; n++) attn_red2(dst + n * 8, dq[m][n][2 * r], dq[m][n][2 * r + 1]);
                }
            }
    }
};

// dK, dV and dQ in one kernel: 16 MTILES WARPS keys of one KV head (each warp owns KT = MTILES m16
// tiles of keys, the M rows of its products: each Q / dO fragment feeds KT MMAs);
// loops over the query heads of the group and the query tiles that see those keys, with Q, dO,
// lse and dsum of tile u + 1 loading while tile u is computed (STAGES = 2). Per tile, in column
// blocks of BN queries (fewer live accumulators: no spills at D = 128 with BQ = 64, BN = 32):
// S^T = K Q^T, dP^T = V dO^T; dV += P^T dO and dK += dS^T Q in registers (P^T and dS^T are the
// A fragments as they stand); dS goes to shared memory ([key][query]) and the CTA computes the
// tile's dQ = dS K (warp w: m16 tile w % (BQ / 16) and a D / (WARPS / (BQ / 16)) column block),
// added to the f32 accumulator in the workspace (part_o, by row id) with reductions: the order of
// the adds across key tiles is not fixed, so dQ is not bitwise reproducible. WHICH = 2: dK and dQ
// only, WHICH = 1 dV only (D >= 192: the accumulators of both do not fit; two passes). Shape
// from brc_attn: WARPS, BQ, STAGES (Q / dO buffers), BN (queries a column block), WHICH.
template <class K> __device__ __forceinline__ void attn_bwd_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, KT = K::MTILES, BNK = 16 * KT * WARPS, BQ = K::BQ, LD = D + 8 };
    enum { NT = 32 * WARPS, ST = K::STAGES };
    enum { KD = D / 16, NQ = BQ / 8, ND = D / 8, DV = K::WHICH & 1, DK = K::WHICH >> 1, LDS = BQ + 8 };
    // The dQ product's split over the warps: MU m16 tiles of queries a warp (2 where the column
    // blocks stay multiples of 16: 4 ldmatrix for 8 MMAs instead of 5) times a block of DC columns.
    enum { MU2 = BQ % 32 == 0 && WARPS % (BQ / 32 > 0 ? BQ / 32 : 1) == 0 &&
                 (D / (WARPS / (BQ / 32 > 0 ? BQ / 32 : 1))) % 16 == 0 };
    enum { MU = MU2 ? 2 : 1, MQ = BQ / (16 * MU), CB = WARPS / MQ, DC = D / CB, NDC = DC / 8 };
    enum { SQ = K::BN, NS = SQ / 8, E = sizeof(T) };
    enum { TRANSFORM = K::SOFTCAP || K::ALIBI || K::MASK || K::DROPOUT };
    // QREG (backward): two dS buffers, and the dQ product of tile u - 1 is done in tile u, after
    // its one barrier (which already orders the dS writes before the reads): one barrier a tile.
    enum { DEFER = K::QREG && DK, NSS = DEFER ? 2 : 1 };
    static_assert(BQ % SQ == 0 && SQ % 16 == 0, "query sub-blocks");
    static_assert(WARPS % MQ == 0 && DC % 16 == 0, "dQ tile split");
    extern __shared__ __align__(16) unsigned char attn_smem[];
    // 32-bit shared-memory byte addresses of the tiles (NVRTC narrows 64-bit generic ones at
    // every use otherwise; see cp_async16_s): K, V, ST stages of Q and dO, dS, lse, dsum.
    const u32 ks_s = smem_addr(attn_smem), vs_s = ks_s + BNK * LD * E, qs_s = vs_s + BNK * LD * E;
    const u32 ds_s = qs_s + ST * BQ * LD * E, ss_s = ds_s + ST * BQ * LD * E;
    const u32 lse_s = ss_s + NSS * BNK * LDS * E, dsum_s = lse_s + ST * BQ * 4;
    const float *lse_p = reinterpret_cast<const float *>(attn_smem + (lse_s - ks_s));
    const float *dsum_p = reinterpret_cast<const float *>(attn_smem + (dsum_s - ks_s));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int b = blockIdx.z;
    const i64 kvh = blockIdx.y;
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    const i64 c0 = (i64)blockIdx.x * BNK;
    if (c0 >= sq.sk) return;
    const i64 diag = sq.sk - sq.sq;
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];

    // The (head, query tile) pairs that see keys c0 .. ; K and V, then pair 0's Q, dO, lse, dsum.
    attn_bwd_walk<K, NT, BNK, BQ>::load_kv(a, sq, b, kvh, ks_s, vs_s);
    const attn_bwd_walk<K, NT, BNK, BQ> w(a, sq, b, kvh, c0);
    const int ntiles = w.ntiles;
    auto load_q = [&](int u, int st) { w.load_q(u, st, qs_s, ds_s, lse_s, dsum_s); };
    if (ntiles > 0) load_q(0, 0);
    cp_async_commit();

    float dk[KT][ND][4], dv[KT][ND][4]; // only those of WHICH are used
#pragma unroll
    for (int m = 0; m < KT; m++)
#pragma unroll
        for (int n = 0; n < ND; n++) {
            if (DK) dk[m][n][0] = dk[m][n][1] = dk[m][n][2] = dk[m][n][3] = 0.f;
            if (DV) dv[m][n][0] = dv[m][n][1] = dv[m][n][2] = dv[m][n][3] = 0.f;
        }
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    // Raw scores times scl: kept off 0 (a masked -inf times 0 is NaN).
    const float scl = fmaxf(scale_l2, 1.17549435e-38f);
    const int kr0 = warp * 16 * KT; // the warp's first key row in the CTA's tile
    const i64 j0 = c0 + kr0 + g;    // this thread's keys: j0 + 16 m, + 8
    const int mt = warp % MQ, cb = warp / MQ;
    // This lane's ldmatrix offsets (bytes) for the products, relative to row / column 0.
    const u32 ka_o = E * lds_a<LD>(lane, kr0, 0), qb_o = E * lds_bn<LD>(lane, 0, 0);
    const u32 bt_o = E * lds_bt<LD>(lane, 0, 0), sa_o = E * lds_at<LDS>(lane, 0, mt * MU * 16);
    const u32 kt_o = E * lds_bt<LD>(lane, 0, cb * DC), st_o = E * ((kr0 + g) * LDS + 2 * tq);

    // dQ of the query tile (head h, first query i0) whose dS is in the buffer at ssb (warp w: m16
    // tiles MU mt .. and columns cb DC ..).
    auto dq_tile = [&](u32 ssb, i64 h, i64 i0) { w.template dq<MU, NDC, DC>(ssb, h, i0, ks_s, sa_o, kt_o, mt, cb, lane); };
    i64 ph = 0, pi0 = 0; // DEFER: the previous tile's head and first query

    for (int u = 0; u < ntiles; u++) {
        const int st = ST == 2 ? u & 1 : 0;
        i64 h, i0;
        w.tile(u, h, i0);
        if (ST == 1 && u > 0) {
            __syncthreads(); // tile u - 1 is consumed
            load_q(u, 0);
            cp_async_commit();
        }
        cp_async_wait_all();
        // Tile u is visible; tile u - 1 (its stage, Ss) is consumed. DEFER: every warp's dS of tile
        // u - 1 is written and tile u - 2's (the buffer tile u writes) consumed.
        __syncthreads();
        if (ST == 2 && u + 1 < ntiles) {
            load_q(u + 1, st ^ 1);
            cp_async_commit();
        }
        if (DEFER && u > 0) dq_tile(ss_s + ((u - 1) & 1) * BNK * LDS * E, ph, pi0);
        const u32 qt_s = qs_s + st * BQ * LD * E, dt_s = ds_s + st * BQ * LD * E;
        const u32 ssw = ss_s + (DEFER ? (u & 1) * BNK * LDS * E : 0); // this tile's dS buffer
        const float *lse_t = lse_p + st * BQ, *dsum_t = dsum_p + st * BQ;

        // Elements need checks only on tiles that cross the end of the keys or a window bound
        // (and, on the straight-line path below, the end of the queries).
        const bool check = c0 + BNK > sq.sk || (a.wr >= 0 && c0 + BNK - 1 > i0 + diag + a.wr) ||
                           (a.wl >= 0 && c0 < i0 + BQ - 1 + diag - a.wl);
        const bool fast = !TRANSFORM && !check && i0 + BQ <= sq.sq;
        const float slope = attn_slope<K>(a, b, h);
        const void *mbase = K::MASK ? static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1]
                                    : nullptr;
        // The query tile in NSUB column blocks of SQ queries (fewer live accumulators a block).
#pragma unroll 1
        for (int qo = 0; qo < BQ; qo += SQ) {
            float s[KT][NS][4], dp[KT][NS][4];
#pragma unroll
            for (int m = 0; m < KT; m++)
#pragma unroll
                for (int n = 0; n < NS; n++) {
                    s[m][n][0] = s[m][n][1] = s[m][n][2] = s[m][n][3] = 0.f;
                    dp[m][n][0] = dp[m][n][1] = dp[m][n][2] = dp[m][n][3] = 0.f;
                }
            mma_abt_m<T, LD, KD, KT, NS>(s, ks_s + ka_o, qt_s + qb_o + qo * LD * E);
            if (DK) mma_abt_m<T, LD, KD, KT, NS>(dp, vs_s + ka_o, dt_s + qb_o + qo * LD * E);
            if (fast) {
                // Straight-line: no bounds, no features; one FFMA and one ex2 an element, the
                // lse and dsum of this thread's 2 NS columns read once (pairs, 8 bytes).
#pragma unroll
                for (int n = 0; n < NS; n++) {
                    const int ci = qo + n * 8 + 2 * tq;
                    const float2 lp = ld_shared_f2(lse_s + (st * BQ + ci) * 4);
                    const float2 dd = ld_shared_f2(dsum_s + (st * BQ + ci) * 4);
                    const float nl[2] = {lp.x == -BRC_INF ? -BRC_INF : -lp.x * BRC_LOG2E,
                                         lp.y == -BRC_INF ? -BRC_INF : -lp.y * BRC_LOG2E};
                    const float dsm[2] = {dd.x, dd.y};
#pragma unroll
                    for (int m = 0; m < KT; m++)
#pragma unroll
                        for (int e4 = 0; e4 < 4; e4++) {
                            const float p = ex2(fmaf(s[m][n][e4], scl, nl[e4 & 1]));
                            if (DK) dp[m][n][e4] = p * (dp[m][n][e4] - dsm[e4 & 1]);
                            s[m][n][e4] = p;
                        }
                }
            } else {
#pragma unroll
                for (int m = 0; m < KT; m++)
#pragma unroll
                    for (int n = 0; n < NS; n++)
#pragma unroll
                        for (int e4 = 0; e4 < 4; e4++) {
                            const int ci = qo + n * 8 + 2 * tq + (e4 & 1);
                            const i64 i = i0 + ci, j = j0 + 16 * m + 8 * (e4 >> 1);
                            float th = 0.f;
                            const void *mrow = K::MASK ? static_cast<const typename K::MT *>(mbase) +
                                                             (i < sq.sq ? i : 0) * a.m_s[2]
                                                       : nullptr;
                            float x =
                                attn_score<K>(a, s[m][n][e4], scale_l2, slope, i, j, diag, sq.sk, mrow, check, &th);
                            const float l2 = i < sq.sq ? attn_lse_l2(lse_t[ci]) : BRC_INF;
                            float p = ex2(x - l2);
                            float z = 1.f;
                            if (K::DROPOUT)
                                z = attn_keep(seed, offset, a.jblocks, attn_row_id<K::VARLEN>(a, b, h, sq, i), j,
                                              (float)a.p_drop, (float)a.rkeep);
                            if (DK) {
                                float ds = p * (dp[m][n][e4] * z - dsum_t[ci]);
                                if (K::SOFTCAP) ds *= 1.f - th * th;
                                dp[m][n][e4] = ds;
                            }
                            s[m][n][e4] = p * z;
                        }
            }
            u32 pa[KT][NS / 2][4];
            if (DV) {
#pragma unroll
                for (int m = 0; m < KT; m++) pack_a<T, NS / 2>(pa[m], s[m]);
                mma_pb_m<T, LD, NS / 2, KT, ND>(dv, pa, dt_s + bt_o + qo * LD * E);
            }
            if (DK) {
#pragma unroll
                for (int m = 0; m < KT; m++) pack_a<T, NS / 2>(pa[m], dp[m]);
                mma_pb_m<T, LD, NS / 2, KT, ND>(dk, pa, qt_s + bt_o + qo * LD * E);
                // dS (this warp's 16 KT keys x SQ queries) into Ss[key][query].
#pragma unroll
                for (int m = 0; m < KT; m++)
#pragma unroll
                    for (int kk = 0; kk < NS / 2; kk++) {
                        const u32 r0 = ssw + st_o + (m * 16 * LDS + qo + kk * 16) * E;
                        st_shared_u32(r0, pa[m][kk][0]);
                        st_shared_u32(r0 + 8 * LDS * E, pa[m][kk][1]);
                        st_shared_u32(r0 + 8 * E, pa[m][kk][2]);
                        st_shared_u32(r0 + (8 * LDS + 8) * E, pa[m][kk][3]);
                    }
            }
        }
        if (!DK) continue; // WHICH = 1: dV only
        if (DEFER) {
            ph = h, pi0 = i0;
        } else {
            __syncthreads(); // every warp's dS is in Ss
            dq_tile(ss_s, h, i0);
        }
    }
    if (DEFER && ntiles > 0) {
        __syncthreads(); // every warp's dS of the last tile is in its buffer
        dq_tile(ss_s + ((ntiles - 1) & 1) * BNK * LDS * E, ph, pi0);
    }
    cp_async_wait_all();
    __syncthreads(); // Ks / Vs are free for the stores
    T *Ks = reinterpret_cast<T *>(attn_smem), *Vs = Ks + BNK * LD;
    auto krow = [&](T *base, const i64 *s, int r0) {
        return [=](int r) -> T * {
            i64 j = c0 + r0 + r;
            return j < sq.sk ? base + b * s[0] + (sq.k0 + j) * s[1] + kvh * s[2] : nullptr;
        };
    };
    const float sc = (float)a.scale;
#pragma unroll
    for (int m = 0; m < KT; m++) {
        const int r0 = kr0 + 16 * m;
        if (DK) store_rows<T, D>(Ks + r0 * LD, dk[m], sc, sc, lane, krow(static_cast<T *>(a.dk), a.dk_s, r0));
        if (DV) store_rows<T, D>(Vs + r0 * LD, dv[m], 1.f, 1.f, lane, krow(static_cast<T *>(a.dv), a.dv_s, r0));
    }
}

// dK, dV and dQ in one kernel with warp pairs (the plan's choice at D = 96 and 128, where one
// warp cannot hold dK and dV of 32 keys). A CTA owns BNK = 16 KT (WARPS / 2) keys of one KV head
// and walks the query heads of the group and the query tiles that see those keys, with Q, dO,
// lse and dsum of tile u + 1 loading while tile u is computed (STAGES = 2). The warps come in
// pairs that share 16 KT keys (KT = MTILES m16 tiles a warp: each Q / dO fragment feeds KT MMAs)
// and split the work by role: warp w < WARPS / 2 computes S^T = K Q^T, P^T (in registers, the A
// fragments of dV += P^T dO) and hands P (f32, times 1 - tanh^2 with softcap) to its partner
// through shared memory; warp w + WARPS / 2 computes dP^T = V dO^T, takes P, forms dS^T and
// accumulates dK += dS^T Q, and writes dS ([key][query], the dtype) for the CTA's dQ = dS K (warp
// w: m16 tiles MU mt .. and a block of DC columns), added to the f32 accumulator (part_o, by row
// id) with reductions: the order of the adds across key tiles is not fixed, so dQ is not bitwise
// reproducible. A warp holds dV or dK of its keys, not both (D = 256 would run in one pass; the
// plan prefers attn_bwd_main's two there, measured). The pair's hand-over of column block qb is
// the named barrier 1 + pair NQB + qb (arrive / sync). Shape from brc_attn: WARPS, MTILES, BQ,
// STAGES, BN (queries a column block), QREG (two dS buffers, the dQ product of a tile deferred
// into the next: one CTA barrier a tile).
template <class K> __device__ __forceinline__ void attn_bwdp_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D, WARPS = K::WARPS, KT = K::MTILES, NG = WARPS / 2, BNK = 16 * KT * NG, BQ = K::BQ };
    enum { LD = D + 8, NT = 32 * WARPS, ST = K::STAGES, KD = D / 16, ND = D / 8, LDS = BQ + 8 };
    // The dQ product's split over the warps: MU m16 tiles of queries a warp (2 where the column
    // blocks stay multiples of 16: 4 ldmatrix for 8 MMAs instead of 5) times a block of DC columns.
    enum { MU2 = BQ % 32 == 0 && WARPS % (BQ / 32 > 0 ? BQ / 32 : 1) == 0 &&
                 (D / (WARPS / (BQ / 32 > 0 ? BQ / 32 : 1))) % 16 == 0 };
    enum { MU = MU2 ? 2 : 1, MQ = BQ / (16 * MU), CB = WARPS / MQ, DC = D / CB, NDC = DC / 8 };
    enum { SQ = K::BN, NS = SQ / 8, NQB = BQ / SQ, E = sizeof(T) };
    enum { TRANSFORM = K::SOFTCAP || K::ALIBI || K::MASK || K::DROPOUT };
    enum { DEFER = K::QREG, NSS = DEFER ? 2 : 1 };
    static_assert(BQ % SQ == 0 && SQ % 16 == 0, "query sub-blocks");
    static_assert(WARPS % MQ == 0 && DC % 16 == 0, "dQ tile split");
    static_assert(WARPS % 2 == 0 && NG * NQB <= 15, "warp pairs and their named barriers");
    extern __shared__ __align__(16) unsigned char attn_smem[];
    // 32-bit shared-memory byte addresses of the tiles (NVRTC narrows 64-bit generic ones at
    // every use otherwise; see cp_async16_s): K, V, ST stages of Q and dO, dS, P, lse, dsum.
    const u32 ks_s = smem_addr(attn_smem), vs_s = ks_s + BNK * LD * E, qs_s = vs_s + BNK * LD * E;
    const u32 ds_s = qs_s + ST * BQ * LD * E, ss_s = ds_s + ST * BQ * LD * E;
    const u32 px_s = ss_s + NSS * BNK * LDS * E, lse_s = px_s + BNK * BQ * 4, dsum_s = lse_s + ST * BQ * 4;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    const int role = warp / NG, pw = warp % NG; // role 0: S, P, dV; role 1: dP, dS, dK; pw: the pair
    const int b = blockIdx.z;
    const i64 kvh = blockIdx.y;
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    const i64 c0 = (i64)blockIdx.x * BNK;
    if (c0 >= sq.sk) return;
    const i64 diag = sq.sk - sq.sq;
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];

    // The (head, query tile) pairs that see keys c0 .. ; K and V, then pair 0's Q, dO, lse, dsum.
    attn_bwd_walk<K, NT, BNK, BQ>::load_kv(a, sq, b, kvh, ks_s, vs_s);
    const attn_bwd_walk<K, NT, BNK, BQ> w(a, sq, b, kvh, c0);
    const int ntiles = w.ntiles;
    auto load_q = [&](int u, int st) { w.load_q(u, st, qs_s, ds_s, lse_s, dsum_s); };
    if (ntiles > 0) load_q(0, 0);
    cp_async_commit();

    float acc[KT][ND][4]; // dV (role 0) or dK (role 1) of this warp's keys
#pragma unroll
    for (int m = 0; m < KT; m++)
#pragma unroll
        for (int n = 0; n < ND; n++) acc[m][n][0] = acc[m][n][1] = acc[m][n][2] = acc[m][n][3] = 0.f;
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    // Raw scores times scl: kept off 0 (a masked -inf times 0 is NaN).
    const float scl = fmaxf(scale_l2, 1.17549435e-38f);
    const int kr0 = pw * 16 * KT;          // the pair's first key row in the CTA's tile
    const i64 j0 = c0 + kr0 + g;           // this thread's keys: j0 + 16 m, + 8
    const int mt = warp % MQ, cb = warp / MQ;
    // This lane's ldmatrix offsets (bytes) for the products, relative to row / column 0.
    const u32 ka_o = E * lds_a<LD>(lane, kr0, 0), qb_o = E * lds_bn<LD>(lane, 0, 0);
    const u32 bt_o = E * lds_bt<LD>(lane, 0, 0), sa_o = E * lds_at<LDS>(lane, 0, mt * MU * 16);
    const u32 kt_o = E * lds_bt<LD>(lane, 0, cb * DC), st_o = E * ((kr0 + g) * LDS + 2 * tq);
    // This lane's slot of the pair's P hand-over: [pair][column block][m16][n8][lane] float4.
    const u32 px_o = px_s + (pw * NQB * KT * NS * 32 + lane) * 16;

    // dQ of the query tile (head h, first query i0) whose dS is in the buffer at ssb (warp w: m16
    // tiles MU mt .. and columns cb DC ..).
    auto dq_tile = [&](u32 ssb, i64 h, i64 i0) { w.template dq<MU, NDC, DC>(ssb, h, i0, ks_s, sa_o, kt_o, mt, cb, lane); };
    i64 ph = 0, pi0 = 0; // DEFER: the previous tile's head and first query

    for (int u = 0; u < ntiles; u++) {
        const int st = ST == 2 ? u & 1 : 0;
        i64 h, i0;
        w.tile(u, h, i0);
        if (ST == 1 && u > 0) {
            __syncthreads(); // tile u - 1 is consumed
            load_q(u, 0);
            cp_async_commit();
        }
        cp_async_wait_all();
        // Tile u is visible; tile u - 1 (its stage, P) is consumed. DEFER: every warp's dS of tile
        // u - 1 is written and tile u - 2's (the buffer tile u writes) consumed.
        __syncthreads();
        if (ST == 2 && u + 1 < ntiles) {
            load_q(u + 1, st ^ 1);
            cp_async_commit();
        }
        if (DEFER && u > 0) dq_tile(ss_s + ((u - 1) & 1) * BNK * LDS * E, ph, pi0);
        const u32 qt_s = qs_s + st * BQ * LD * E, dt_s = ds_s + st * BQ * LD * E;
        const u32 ssw = ss_s + (DEFER ? (u & 1) * BNK * LDS * E : 0); // this tile's dS buffer

        // Elements need checks only on tiles that cross the end of the keys or a window bound
        // (and, on the straight-line path below, the end of the queries).
        const bool check = c0 + BNK > sq.sk || (a.wr >= 0 && c0 + BNK - 1 > i0 + diag + a.wr) ||
                           (a.wl >= 0 && c0 < i0 + BQ - 1 + diag - a.wl);
        const bool fast = !TRANSFORM && !check && i0 + BQ <= sq.sq;
#pragma unroll 1
        for (int qb = 0; qb < NQB; qb++) {
            const int qo = qb * SQ;
            float s[KT][NS][4];
#pragma unroll
            for (int m = 0; m < KT; m++)
#pragma unroll
                for (int n = 0; n < NS; n++) s[m][n][0] = s[m][n][1] = s[m][n][2] = s[m][n][3] = 0.f;
            u32 pa[KT][NS / 2][4];
            const u32 pxb = px_o + qb * KT * NS * 32 * 16;
            if (role == 0) {
                // S^T, then P = exp2(s scale log2 e - lse log2 e) (times the dropout keep factor for
                // dV); P (pre-dropout, times 1 - tanh^2 with softcap) to the partner.
                mma_abt_m<T, LD, KD, KT, NS>(s, ks_s + ka_o, qt_s + qb_o + qo * LD * E);
                if (fast) {
#pragma unroll
                    for (int n = 0; n < NS; n++) {
                        const int ci = qo + n * 8 + 2 * tq;
                        const float2 lp = ld_shared_f2(lse_s + (st * BQ + ci) * 4);
                        const float nl[2] = {lp.x == -BRC_INF ? -BRC_INF : -lp.x * BRC_LOG2E,
                                             lp.y == -BRC_INF ? -BRC_INF : -lp.y * BRC_LOG2E};
#pragma unroll
                        for (int m = 0; m < KT; m++) {
#pragma unroll
                            for (int e4 = 0; e4 < 4; e4++) s[m][n][e4] = ex2(fmaf(s[m][n][e4], scl, nl[e4 & 1]));
                            st_shared_f4(pxb + (m * NS + n) * 32 * 16, s[m][n]);
                        }
                    }
                } else {
                    const float slope = attn_slope<K>(a, b, h);
                    const void *mbase =
                        K::MASK ? static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1] : nullptr;
                    const float *lse_t = reinterpret_cast<const float *>(attn_smem + (lse_s - ks_s)) + st * BQ;
#pragma unroll
                    for (int m = 0; m < KT; m++)
#pragma unroll
                        for (int n = 0; n < NS; n++) {
                            float px[4];
#pragma unroll
                            for (int e4 = 0; e4 < 4; e4++) {
                                const int ci = qo + n * 8 + 2 * tq + (e4 & 1);
                                const i64 i = i0 + ci, j = j0 + 16 * m + 8 * (e4 >> 1);
                                float th = 0.f;
                                const void *mrow = K::MASK ? static_cast<const typename K::MT *>(mbase) +
                                                                 (i < sq.sq ? i : 0) * a.m_s[2]
                                                           : nullptr;
                                const float x = attn_score<K>(a, s[m][n][e4], scale_l2, slope, i, j, diag, sq.sk,
                                                              mrow, check, &th);
                                const float l2 = i < sq.sq ? attn_lse_l2(lse_t[ci]) : BRC_INF;
                                const float p = ex2(x - l2);
                                px[e4] = K::SOFTCAP ? p * (1.f - th * th) : p;
                                float z = 1.f;
                                if (K::DROPOUT)
                                    z = attn_keep(seed, offset, a.jblocks, attn_row_id<K::VARLEN>(a, b, h, sq, i), j,
                                                  (float)a.p_drop, (float)a.rkeep);
                                s[m][n][e4] = p * z;
                            }
                            st_shared_f4(pxb + (m * NS + n) * 32 * 16, px);
                        }
                }
                bar_arrive_n(1 + pw * NQB + qb, 64);
#pragma unroll
                for (int m = 0; m < KT; m++) pack_a<T, NS / 2>(pa[m], s[m]);
                mma_pb_m<T, LD, NS / 2, KT, ND>(acc, pa, dt_s + bt_o + qo * LD * E);
            } else {
                // dP^T, then dS = P (dP z - dsum) with P from the partner; dK += dS^T Q; dS to
                // shared memory for the dQ product.
                mma_abt_m<T, LD, KD, KT, NS>(s, vs_s + ka_o, dt_s + qb_o + qo * LD * E);
                bar_sync_n(1 + pw * NQB + qb, 64);
                if (fast) {
#pragma unroll
                    for (int n = 0; n < NS; n++) {
                        const int ci = qo + n * 8 + 2 * tq;
                        const float2 dd = ld_shared_f2(dsum_s + (st * BQ + ci) * 4);
#pragma unroll
                        for (int m = 0; m < KT; m++) {
                            float p[4];
                            ld_shared_f4(p, pxb + (m * NS + n) * 32 * 16);
                            s[m][n][0] = p[0] * (s[m][n][0] - dd.x);
                            s[m][n][1] = p[1] * (s[m][n][1] - dd.y);
                            s[m][n][2] = p[2] * (s[m][n][2] - dd.x);
                            s[m][n][3] = p[3] * (s[m][n][3] - dd.y);
                        }
                    }
                } else {
                    const float *dsum_t = reinterpret_cast<const float *>(attn_smem + (dsum_s - ks_s)) + st * BQ;
#pragma unroll
                    for (int m = 0; m < KT; m++)
#pragma unroll
                        for (int n = 0; n < NS; n++) {
                            float p[4];
                            ld_shared_f4(p, pxb + (m * NS + n) * 32 * 16);
#pragma unroll
                            for (int e4 = 0; e4 < 4; e4++) {
                                const int ci = qo + n * 8 + 2 * tq + (e4 & 1);
                                float z = 1.f;
                                if (K::DROPOUT) {
                                    const i64 i = i0 + ci, j = j0 + 16 * m + 8 * (e4 >> 1);
                                    z = attn_keep(seed, offset, a.jblocks, attn_row_id<K::VARLEN>(a, b, h, sq, i), j,
                                                  (float)a.p_drop, (float)a.rkeep);
                                }
                                s[m][n][e4] = p[e4] * (s[m][n][e4] * z - dsum_t[ci]);
                            }
                        }
                }
#pragma unroll
                for (int m = 0; m < KT; m++) pack_a<T, NS / 2>(pa[m], s[m]);
                mma_pb_m<T, LD, NS / 2, KT, ND>(acc, pa, qt_s + bt_o + qo * LD * E);
                // dS (this warp's 16 KT keys x SQ queries) into Ss[key][query].
#pragma unroll
                for (int m = 0; m < KT; m++)
#pragma unroll
                    for (int kk = 0; kk < NS / 2; kk++) {
                        const u32 r0 = ssw + st_o + (m * 16 * LDS + qo + kk * 16) * E;
                        st_shared_u32(r0, pa[m][kk][0]);
                        st_shared_u32(r0 + 8 * LDS * E, pa[m][kk][1]);
                        st_shared_u32(r0 + 8 * E, pa[m][kk][2]);
                        st_shared_u32(r0 + (8 * LDS + 8) * E, pa[m][kk][3]);
                    }
            }
        }
        if (DEFER) {
            ph = h, pi0 = i0;
        } else {
            __syncthreads(); // every warp's dS is in Ss
            dq_tile(ss_s, h, i0);
        }
    }
    if (DEFER && ntiles > 0) {
        __syncthreads(); // every warp's dS of the last tile is in its buffer
        dq_tile(ss_s + ((ntiles - 1) & 1) * BNK * LDS * E, ph, pi0);
    }
    cp_async_wait_all();
    __syncthreads(); // Ks / Vs are free for the stores
    T *Ks = reinterpret_cast<T *>(attn_smem), *Vs = Ks + BNK * LD;
    const float sc = role ? (float)a.scale : 1.f;
    const i64 os0 = role ? a.dk_s[0] : a.dv_s[0], os1 = role ? a.dk_s[1] : a.dv_s[1];
    T *const out = static_cast<T *>(role ? a.dk : a.dv) + b * os0 + kvh * (role ? a.dk_s[2] : a.dv_s[2]);
#pragma unroll
    for (int m = 0; m < KT; m++) {
        const int r0 = kr0 + 16 * m;
        store_rows<T, D>((role ? Ks : Vs) + r0 * LD, acc[m], sc, sc, lane, [=](int r) -> T * {
            const i64 j = c0 + r0 + r;
            return j < sq.sk ? out + (sq.k0 + j) * os1 : nullptr;
        });
    }
}

// dq = scale * the f32 accumulator of the atomic backward; one warp a row, 4 columns a lane.
template <class K> __device__ __forceinline__ void attn_dqcvt_main(const attn_args &a) {
    typedef typename K::T T;
    enum { D = K::D };
    const int lane = threadIdx.x & 31, b = blockIdx.z;
    const i64 h = blockIdx.y, i = (i64)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    if (i >= sq.sq) return;
    const float *src = a.part_o + attn_row_id<K::VARLEN>(a, b, h, sq, i) * D;
    T *dst = static_cast<T *>(a.dq) + b * a.dq_s[0] + (sq.q0 + i) * a.dq_s[1] + h * a.dq_s[2];
    const float sc = (float)a.scale;
    for (int c = lane * 4; c < D; c += 128) {
        const float4 x = *reinterpret_cast<const float4 *>(src + c);
        uint2 w;
        w.x = attn_mma<T>::pack(x.x * sc, x.y * sc);
        w.y = attn_mma<T>::pack(x.z * sc, x.w * sc);
        *reinterpret_cast<uint2 *>(dst + c) = w;
    }
}

} // namespace brc
