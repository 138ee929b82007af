// The flash attention forward on Hopper (sm_90a): wgmma from shared-memory descriptors, TMA
// loads completing on mbarriers, and warp specialization (docs/attention-hopper.md). Included
// after attention.cuh, whose score transform, online softmax and dropout it shares, so that it
// computes what the mma.sync forward computes, element for element.
//
// A CTA is 1 + NC warpgroups for BM = 64 NC query rows of one head. Warpgroup 0 is the producer:
// one thread loads the Q tile once, then K and V tiles of BN keys into a ring of STAGES buffers,
// each buffer on its own "full" barrier (K and V apart, so S = Q K^T starts before V lands), and
// waits on the buffer's "empty" barrier before refilling it. The consumer warpgroups (64 rows
// each) compute S = Q K^T (A and B from shared memory), the online softmax on the accumulators,
// and O += P V (P from registers: the S accumulators of two 8-column blocks are the A fragment
// of one k16 step as they lie; V N-major), then release the buffer. The producer gives its
// registers to the consumers (setmaxnreg): the kernel is compiled whole-program at the launch
// bound's 65536 / (128 (NC + 1)) registers (BRC__JIT_WHOLE_PROGRAM).
//
// Shared memory: every tile is stored as column blocks ("atoms") of 64 elements, 128 bytes a row,
// with TMA's 128-byte swizzle (16-byte chunk j of row r at chunk j ^ (r % 8)); atom a of a tile of
// R rows starts R * 128 bytes after atom a - 1, every atom on a 1024-byte boundary. The matrix
// descriptors (K-major Q and K, N-major V) and the fragment maps are the ones test_hopper_probe
// checks against float64.
namespace brc {

struct __align__(128) tmap {
    u64 opaque[16];
};

// The kernel parameter: the tensor maps of Q, K and V ([D, S, H, B], boxes of 64 columns by BM or
// BN rows) and the arguments the mma.sync kernels take. Mirrored by struct attn_args_h in
// ops/attention.c.
struct attn_args_h {
    tmap tq, tk, tv;
    attn_args a;
};

// ---- barriers and copies -------------------------------------------------------------------------

__device__ __forceinline__ void mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}
// Waits until the phase of the given parity has completed. Unbounded, as a correct wait lasts at
// most one tile's work: a trap here (a bounded wait) would stop ptxas from giving the consumer
// warpgroups the registers setmaxnreg hands them (the whole kernel then lives in 168 and spills).
__device__ __forceinline__ void mbar_wait(u32 bar, u32 parity) {
    u32 done = 0;
    while (!done)
        asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     " selp.u32 %0, 1, 0, p;\n}"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
}
// One box of the 4-d map (coordinates innermost first) into shared memory at dst.
__device__ __forceinline__ void tma_load4(u32 dst, const tmap *m, int c0, int c1, int c2, int c3, u32 bar) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3, %4, %5}], [%6];" ::"r"(dst),
                 "l"(m), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
                 : "memory");
}
// A named barrier of n threads (ids 1 and up; 0 is __syncthreads, unusable once the producer
// warpgroup has exited).
__device__ __forceinline__ void named_sync(int id, int n) { asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void named_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(n) : "memory"); }

// ---- wgmma -----------------------------------------------------------------------------------------

// A shared-memory matrix descriptor with the 128-byte swizzle: the start address and the leading
// byte offset in 16-byte units, 1024 bytes between 8-row groups, base offset 0 (atoms are
// 1024-byte aligned). lbo is unused for K-major operands (1, as the probe runs it).
__device__ __forceinline__ u64 sw128_desc(u32 addr, u32 lbo) {
    return (u64)((addr & 0x3FFFF) >> 4) | ((u64)(lbo >> 4) << 16) | ((u64)(1024 >> 4) << 32) | (1ull << 62);
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wg_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }

// d[N / 8][4] (+)= A B for one k16 step, m64nNk16 with f32 accumulators in the mma.sync C layout
// per 8-column block (rows 16 w + lane / 4 (+ 8), columns 8 n + 2 (lane % 4) (+ 1)); acc = 0
// overwrites d. wg_ss: A and B from descriptors, both K-major. wg_rs: A from registers (the
// m16n8k16 A fragment of the warp's 16 rows), B from a descriptor, N-major.
template <class T, int N> struct wg_ss;
template <class T, int N> struct wg_rs;

// The operand lists: M "+f" (accumulate) or "=f" (overwrite: the first k16 step of S, so that the
// registers the softmax last wrote are not inputs of the product, which made ptxas serialize the
// wgmma pipeline while an earlier product was still in flight).
#define BRC_WG_B4(M, d, n) M(d[n][0]), M(d[n][1]), M(d[n][2]), M(d[n][3])
#define BRC_WG_B16(M, d, n) BRC_WG_B4(M, d, n), BRC_WG_B4(M, d, n + 1), BRC_WG_B4(M, d, n + 2), BRC_WG_B4(M, d, n + 3)
#define BRC_WG_N64(M, d, n) BRC_WG_B16(M, d, n), BRC_WG_B16(M, d, n + 4)
#define BRC_WG_N80(M, d, n) BRC_WG_N64(M, d, n), BRC_WG_B4(M, d, n + 8), BRC_WG_B4(M, d, n + 9)
#define BRC_WG_N128(M, d, n) BRC_WG_N64(M, d, n), BRC_WG_N64(M, d, n + 8)
#define BRC_WG_N256(M, d) BRC_WG_N128(M, d, 0), BRC_WG_N128(M, d, 16)
#define BRC_WG_ACC(x) "+f"(x)
#define BRC_WG_OUT(x) "=f"(x)
#define BRC_WG_R32                                                                                              \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
    "%23, %24, %25, %26, %27, %28, %29, %30, %31"
#define BRC_WG_R40 BRC_WG_R32 ", %32, %33, %34, %35, %36, %37, %38, %39"
#define BRC_WG_R64                                                                                                  \
    BRC_WG_R32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, " \
               "%51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define BRC_WG_R128                                                                                                 \
    BRC_WG_R64 ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, " \
               "%83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, " \
               "%102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, "    \
               "%118, %119, %120, %121, %122, %123, %124, %125, %126, %127"

// PA, PB, PP: the operand numbers of the descriptors (or the first A register) and the predicate.
// wg_ss::run accumulates (acc = 0 overwrites through the predicate), wg_ss::first overwrites.
#define BRC_WG_SS(TT, TS, N, R, DOPS, DOUT, PA, PB, PP)                                                        \
    template <> struct wg_ss<TT, N> {                                                                          \
        static __device__ __forceinline__ void run(float (&d)[N / 8][4], u64 da, u64 db, int acc) {           \
            asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, " PP ", 0;\n"                                       \
                         " wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TS "." TS " {" R "}, " PA ", " PB   \
                         ", p, 1, 1, 0, 0;\n}"                                                                 \
                         : DOPS                                                                                \
                         : "l"(da), "l"(db), "r"(acc));                                                        \
        }                                                                                                      \
        static __device__ __forceinline__ void first(float (&d)[N / 8][4], u64 da, u64 db) {                  \
            asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, 0, 0;\n"                                             \
                         " wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TS "." TS " {" R "}, " PA ", " PB   \
                         ", p, 1, 1, 0, 0;\n}"                                                                 \
                         : DOUT                                                                                \
                         : "l"(da), "l"(db));                                                                  \
        }                                                                                                      \
    };
#define BRC_WG_RS(TT, TS, N, R, DOPS, PA, PB, PP)                                                               \
    template <> struct wg_rs<TT, N> {                                                                           \
        static __device__ __forceinline__ void run(float (&d)[N / 8][4], const u32 (&a)[4], u64 db, int acc) { \
            asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, " PP ", 0;\n"                                        \
                         " wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TS "." TS " {" R "}, " PA ", " PB    \
                         ", p, 1, 1, 1;\n}"                                                                     \
                         : DOPS                                                                                 \
                         : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));                      \
        }                                                                                                       \
    };
#define BRC_WG_ALL(TT, TS)                                                                                            \
    BRC_WG_SS(TT, TS, 64, BRC_WG_R32, BRC_WG_N64(BRC_WG_ACC, d, 0), BRC_WG_N64(BRC_WG_OUT, d, 0), "%32", "%33", "%34") \
    BRC_WG_SS(TT, TS, 80, BRC_WG_R40, BRC_WG_N80(BRC_WG_ACC, d, 0), BRC_WG_N80(BRC_WG_OUT, d, 0), "%40", "%41", "%42") \
    BRC_WG_SS(TT, TS, 128, BRC_WG_R64, BRC_WG_N128(BRC_WG_ACC, d, 0), BRC_WG_N128(BRC_WG_OUT, d, 0), "%64", "%65",     \
              "%66")                                                                                                  \
    BRC_WG_RS(TT, TS, 64, BRC_WG_R32, BRC_WG_N64(BRC_WG_ACC, d, 0), "{%32, %33, %34, %35}", "%36", "%37")             \
    BRC_WG_RS(TT, TS, 128, BRC_WG_R64, BRC_WG_N128(BRC_WG_ACC, d, 0), "{%64, %65, %66, %67}", "%68", "%69")           \
    BRC_WG_RS(TT, TS, 256, BRC_WG_R128, BRC_WG_N256(BRC_WG_ACC, d), "{%128, %129, %130, %131}", "%132", "%133")
BRC_WG_ALL(bf16, "bf16")
BRC_WG_ALL(f16, "f16")
#undef BRC_WG_ALL
#undef BRC_WG_RS
#undef BRC_WG_SS

// ---- the forward -------------------------------------------------------------------------------------

// K: the brc_attn of the snippet, with WARPS = 4 (1 + NC), BN keys a tile (64, 80 or 128), STAGES
// buffers; D = 64, 128 or 256; no SPLIT, gp = 1 (VARLEN: the packed tensors' maps, below).
// QREG bit 0: the intra-warpgroup overlap; bit 1 (PERSIST, fixed lengths, no ping-pong): persistent
// CTAs, each walking the tiles v = blockIdx.x, blockIdx.x + gridDim.x, ... of the grid the kernel
// would otherwise have (same order), the K / V ring running on across tiles, the next tile's Q
// loaded once the current tile's last S product has read the Q buffer (q_empty), and O written
// from registers, so that a tile's epilogue overlaps the next tile's loads.
template <class K> __device__ __forceinline__ void attn_fwdh_main(const attn_args_h &p) {
    typedef typename K::T T;
    enum { D = K::D, NC = K::WARPS / 4 - 1, BM = 64 * NC, BN = K::BN, ST = K::STAGES, AT = D / 64 };
    enum { QB = BM * 128, KB = BN * 128, KTILE = AT * KB, NN = BN / 8, ND = D / 8 };
    enum { REGS = NC == 2 ? 240 : 160 }; // the consumers' share: 24 (producer) + NC * REGS <= 65536 / 128
    // QREG: the intra-warpgroup overlap (S of tile t + 1 and P V of tile t in flight during the
    // softmax); WHICH: ping-pong between two consumer warpgroups.
    enum { OVERLAP = K::QREG & 1, PERSIST = (K::QREG >> 1) & 1, PINGPONG = K::WHICH && NC == 2 };
    static_assert(D % 64 == 0 && (BN == 64 || BN == 80 || BN == 128) && !K::SPLIT, "attn_fwdh_main: shape");
    static_assert(!PERSIST || (!PINGPONG && !K::VARLEN), "attn_fwdh_main: persistent CTAs take fixed lengths, no ping-pong");
    const attn_args &a = p.a;
    extern __shared__ __align__(16) unsigned char attn_smem[];
    __shared__ __align__(8) u64 bars[2 + 3 * ST]; // q full; q empty; K full[ST]; V full[ST]; empty[ST]
    const u32 q_s = (smem_addr(attn_smem) + 1023u) & ~1023u, k_s = q_s + AT * QB, v_s = k_s + ST * KTILE;
    const u32 bar_q = smem_addr(bars), bar_qe = bar_q + 8, bar_k = bar_qe + 8, bar_v = bar_k + 8 * ST,
              bar_e = bar_v + 8 * ST;
    const int mt = (int)((a.Sq + BM - 1) / BM);
    const int ntiles = PERSIST ? mt * (int)a.H * (int)a.B : 1;

    if (threadIdx.x == 0) {
        mbar_init(bar_q, 1);
        mbar_init(bar_qe, 4 * NC); // PERSIST: one arrival a consumer warp once Q is read
        for (int s = 0; s < ST; s++) {
            mbar_init(bar_k + 8 * s, 1), mbar_init(bar_v + 8 * s, 1);
            mbar_init(bar_e + 8 * s, 4 * NC); // one arrival a consumer warp
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    // Tile v of the grid (v = blockIdx.x without PERSIST): its batch, head, first query row. Query
    // tiles last to first: under a causal mask the long ones start first. Grid (tiles, H, B), or
    // 1-D in groups of a.group heads (b H + h; fixed lengths): a group's tiles last to first, its
    // heads fastest, so that the CTAs running at once share a few heads' K / V in L2 and each
    // group's long tiles start before its short ones.
    struct tile_pos { int b, h, m0; };
    auto tile_of = [&](int v) {
        tile_pos q;
        if (a.group > 0) {
            const int nh = (int)(a.B * a.H), G = (int)a.group;
            const int g = v / (G * mt), r = v - g * G * mt;
            const int gh = nh - g * G < G ? nh - g * G : G, t = r / gh, head = g * G + (r - t * gh);
            q.b = head / (int)a.H, q.h = head - q.b * (int)a.H, q.m0 = (mt - 1 - t) * BM;
        } else if (PERSIST) {
            const int x = v % mt, yz = v / mt;
            q.b = yz / (int)a.H, q.h = yz - q.b * (int)a.H, q.m0 = (mt - 1 - x) * BM;
        } else {
            q.b = blockIdx.z, q.h = blockIdx.y, q.m0 = (gridDim.x - 1 - blockIdx.x) * BM;
        }
        return q;
    };
    // The KV tiles [t0, t1) of the query rows [imin, imax] (the producer and the consumers loop over
    // the same ones).
    auto kv_range = [&](int imin, int imax, int sk, int diag, int &t0, int &t1) {
        i64 nlo = 0, nhi = sk;
        if (a.wr >= 0 && imax + diag + a.wr + 1 < nhi) nhi = imax + diag + a.wr + 1;
        if (a.wl >= 0 && imin + diag - a.wl > nlo) nlo = imin + diag - a.wl;
        t0 = (int)(nlo / BN), t1 = nhi > nlo ? (int)((nhi + BN - 1) / BN) : t0;
    };

    if (threadIdx.x < 128) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
        if (threadIdx.x == 0) {
            int it = 0, qn = 0; // the K / V ring's position and the Q tiles loaded, across tiles
            for (int v = blockIdx.x, tn = 0; PERSIST ? v < ntiles : tn < 1; v += gridDim.x, tn++) {
                const tile_pos q = tile_of(v);
                const int bt = K::VARLEN ? 0 : q.b;
                const attn_seq sqs = attn_seq_of<K::VARLEN>(a, q.b);
                const int sq = sqs.sq, sk = sqs.sk;
                if (q.m0 >= sq) continue; // the whole tile (a varlen sequence shorter than the grid)
                int t0, t1;
                kv_range(q.m0, (q.m0 + BM < sq ? q.m0 + BM : sq) - 1, sk, sk - sq, t0, t1);
                if (PERSIST) mbar_wait(bar_qe, (qn & 1) ^ 1); // the previous tile's S products are done
                mbar_expect(bar_q, AT * QB);
#pragma unroll
                for (int at = 0; at < AT; at++)
                    tma_load4(q_s + at * QB, &p.tq, 64 * at, (int)sqs.q0 + q.m0, q.h, bt, bar_q);
                qn++;
                const int kvh = q.h / (int)(a.H / a.Hkv);
                for (int t = t0; t < t1; t++, it++) {
                    const int s = it % ST;
                    mbar_wait(bar_e + 8 * s, ((it / ST) & 1) ^ 1); // the first lap passes at once
                    mbar_expect(bar_k + 8 * s, KTILE);
#pragma unroll
                    for (int at = 0; at < AT; at++)
                        tma_load4(k_s + s * KTILE + at * KB, &p.tk, 64 * at, (int)sqs.k0 + t * BN, kvh, bt, bar_k + 8 * s);
                    mbar_expect(bar_v + 8 * s, KTILE);
#pragma unroll
                    for (int at = 0; at < AT; at++)
                        tma_load4(v_s + s * KTILE + at * KB, &p.tv, 64 * at, (int)sqs.k0 + t * BN, kvh, bt, bar_v + 8 * s);
                }
            }
        }
        return;
    }
    if (REGS == 240) asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");
    else asm volatile("setmaxnreg.inc.sync.aligned.u32 160;");

    const int cw = threadIdx.x / 128 - 1, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3;
    const u32 qa = q_s + 8192 * cw; // this warpgroup's 64 rows in each Q atom
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    int itb = 0, qn = 0; // the K / V ring's position of this tile's first KV tile; the Q tiles used

    for (int v = blockIdx.x, tn = 0; PERSIST ? v < ntiles : tn < 1; v += gridDim.x, tn++) {
    const tile_pos tp = tile_of(v);
    const int b = tp.b, h = tp.h, m0 = tp.m0;
    // varlen: sequence b is rows q0 / k0 on of the packed tensors, whose maps have one batch; TMA
    // fills zeros past the whole tensor's end only, so a tile past the sequence's end holds the
    // next sequence's rows: its keys are masked, and the V rows are zeroed (below), since 0 times
    // a non-finite value would be NaN.
    const attn_seq sqs = attn_seq_of<K::VARLEN>(a, b);
    const int sq = sqs.sq, sk = sqs.sk, diag = sk - sq;
    const int qrow0 = (int)sqs.q0;
    if (m0 >= sq) {
        if (PERSIST) continue;
        return; // the whole CTA (a varlen sequence shorter than the grid)
    }
    const int imin = m0, imax = (m0 + BM < sq ? m0 + BM : sq) - 1;
    int t0, t1;
    kv_range(imin, imax, sk, diag, t0, t1);

    // This thread's rows: half r is row m0 + 64 cw + 16 warp + g + 8 r.
    int ri[1][2];
    i64 rid[1][2];
    float slope[1][2];
    const void *mrow[1][2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int m = m0 + 64 * cw + 16 * warp + g + 8 * r;
        ri[0][r] = m < sq ? m : sq; // sq marks a row past the end
        slope[0][r] = attn_slope<K>(a, b, h);
        rid[0][r] = attn_row_id<K::VARLEN>(a, b, h, sqs, ri[0][r]);
        mrow[0][r] = nullptr;
        if (K::MASK)
            mrow[0][r] = static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1] +
                         (m < sq ? m : 0) * a.m_s[2];
    }

    float o[1][ND][4], s[1][NN][4], mx[1][2] = {{-BRC_INF, -BRC_INF}}, l[1][2] = {{0.f, 0.f}};
#pragma unroll
    for (int n = 0; n < ND; n++) o[0][n][0] = o[0][n][1] = o[0][n][2] = o[0][n][3] = 0.f;
#pragma unroll
    for (int n = 0; n < NN; n++) s[0][n][0] = s[0][n][1] = s[0][n][2] = s[0][n][3] = 0.f;

    // The ring slot and lap of tile t's K and V.
    auto slot = [&](int t) { return (itb + t - t0) % ST; };
    auto lap = [&](int t) { return ((itb + t - t0) / ST) & 1; };
    auto wait_k = [&](int t) { mbar_wait(bar_k + 8 * slot(t), lap(t)); };
    // V of tile t landed; varlen: its rows past the sequence's end zeroed by this warpgroup (both
    // consumer warpgroups write the same zeros, each before its own product reads them).
    auto wait_v = [&](int t) {
        mbar_wait(bar_v + 8 * slot(t), lap(t));
        if (K::VARLEN && (t + 1) * BN > sk) {
            const u32 vb = v_s + slot(t) * KTILE;
            const int r0 = sk - t * BN; // the first row past the end
            for (int c = threadIdx.x % 128; c < AT * (BN - r0) * 8; c += 128) {
                const int at = c / ((BN - r0) * 8), rc = c % ((BN - r0) * 8);
                const u32 addr = vb + at * KB + 128 * (r0 + rc / 8) + 16 * (rc % 8);
                asm volatile("st.shared.v4.b32 [%0], {%1, %1, %1, %1};" ::"r"(addr), "r"(0) : "memory");
            }
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
            named_sync(3 + cw, 128);
        }
    };
    // S = Q K^T of tile t into s, issued (after wgmma.fence) and committed, not waited for.
    auto issue_s = [&](int t) {
        const u32 kb = k_s + slot(t) * KTILE;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const u32 off = 32 * (kk % 4);
            const u64 da = sw128_desc(qa + (kk / 4) * QB + off, 16), db = sw128_desc(kb + (kk / 4) * KB + off, 16);
            if (kk == 0) wg_ss<T, BN>::first(s[0], da, db);
            else wg_ss<T, BN>::run(s[0], da, db, 1);
        }
        wg_commit();
    };
    // O += P V of tile t, issued (after wgmma.fence) and committed.
    auto issue_pv = [&](int t, const u32 (*pp)[4]) {
        const u32 vb = v_s + slot(t) * KTILE;
#pragma unroll
        for (int kk = 0; kk < NN / 2; kk++) wg_rs<T, D>::run(o[0], pp[kk], sw128_desc(vb + 2048 * kk, KB), 1);
        wg_commit();
    };
    // This warp is done with tile t's K and V buffer.
    auto release = [&](int t) {
        __syncwarp();
        if (lane == 0) mbar_arrive(bar_e + 8 * slot(t));
    };
    // PERSIST: this warp's S products of the tile have read the Q buffer (the producer may refill it).
    auto q_done = [&]() {
        if (PERSIST) {
            __syncwarp();
            if (lane == 0) mbar_arrive(bar_qe);
        }
    };
    // The online softmax of tile t on s (raw scores in, P out), packed into pp (unless null); O is
    // rescaled here without OVERLAP, else the factor is left in corr for after the P V product in
    // flight.
    auto softmax = [&](int t, u32 (*pp)[4], float (*corr)[2]) {
        const int c0 = t * BN;
        const bool check = c0 + BN > sk || (a.wr >= 0 && c0 + BN - 1 > imin + diag + a.wr) ||
                           (a.wl >= 0 && c0 < imax + diag - a.wl);
        if (OVERLAP) {
            float old[2] = {mx[0][0], mx[0][1]}, none[1][1][4];
            attn_fwd_softmax<K, 1, NN, 1>(a, s, none, mx, l, ri, slope, mrow, rid, c0, tq, diag, sk, check, scale_l2,
                                          seed, offset);
#pragma unroll
            for (int r = 0; r < 2; r++)
                corr[0][r] = mx[0][r] == old[r] ? 1.f : ex2(old[r] - (mx[0][r] == -BRC_INF ? 0.f : mx[0][r]));
        } else {
            attn_fwd_softmax<K, 1, NN, ND>(a, s, o, mx, l, ri, slope, mrow, rid, c0, tq, diag, sk, check, scale_l2,
                                           seed, offset);
        }
        if (pp) pack_a<T, NN / 2>(pp, s[0]);
    };
    // Ping-pong: the two consumer warpgroups take turns issuing their products (named barriers 1
    // and 2, 256 threads: the issuer's sync meets the other's arrive), so that one's softmax runs
    // while the other's GEMMs do. Warpgroup 1 opens warpgroup 0's first turn.
    auto turn_wait = [&]() {
        if (PINGPONG) asm volatile("bar.sync %0, 256;" ::"r"(1 + cw) : "memory");
    };
    auto turn_pass = [&]() {
        if (PINGPONG) asm volatile("bar.arrive %0, 256;" ::"r"(2 - cw) : "memory");
    };

    u32 pa[NN / 2][4];
    mbar_wait(bar_q, qn & 1);
    if (t0 == t1) q_done();
    if (PINGPONG && cw == 1) asm volatile("bar.arrive 1, 256;" ::: "memory");
    if (OVERLAP && t0 < t1) {
        // S of tile t is issued with P V of tile t - 1 (both operand sets landed first, so that
        // nothing but wgmma runs between the two chains): the softmax of t runs while P V of
        // t - 1 does, and O is rescaled once that product has landed.
        wait_k(t0);
        turn_wait();
        wg_fence();
        issue_s(t0);
        turn_pass();
        wg_wait0();
        if (t1 == t0 + 1) q_done();
        float corr[1][2];
        softmax(t0, pa, corr); // O is 0: no rescale
        for (int t = t0 + 1; t < t1; t++) {
            wait_k(t);
            wait_v(t - 1);
            turn_wait();
            wg_fence();
            issue_s(t);
            issue_pv(t - 1, pa);
            turn_pass();
            asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory"); // S of t
            if (t == t1 - 1) q_done();
            softmax(t, nullptr, corr);
            wg_wait0(); // P V of t - 1
            release(t - 1);
            // P packed only now: registers that a later product reads, written while one is in
            // flight, make ptxas serialize the whole wgmma pipeline (C7513).
            pack_a<T, NN / 2>(pa, s[0]);
#pragma unroll
            for (int n = 0; n < ND; n++)
                o[0][n][0] *= corr[0][0], o[0][n][1] *= corr[0][0], o[0][n][2] *= corr[0][1], o[0][n][3] *= corr[0][1];
        }
        wait_v(t1 - 1);
        turn_wait();
        wg_fence();
        issue_pv(t1 - 1, pa);
        turn_pass();
        wg_wait0();
        release(t1 - 1);
    } else {
        for (int t = t0; t < t1; t++) {
            wait_k(t);
            turn_wait();
            wg_fence();
            issue_s(t);
            turn_pass();
            wg_wait0();
            if (t == t1 - 1) q_done();
            softmax(t, pa, nullptr);
            wait_v(t);
            turn_wait();
            wg_fence();
            issue_pv(t, pa);
            turn_pass();
            wg_wait0();
            release(t);
        }
    }
    itb += t1 - t0, qn++;

    float inv[2], lse[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const float lt = quad_sum(l[0][r]);
        inv[r] = lt > 0.f ? 1.f / lt : 0.f;
        if (K::DROPOUT) inv[r] *= (float)a.rkeep;
        lse[r] = lt > 0.f ? mx[0][r] * BRC_LN2 + logf(lt) : -BRC_INF;
    }
    T *out = static_cast<T *>(a.o);
    if (PERSIST) {
        // O from the registers (the Q buffer is the next tile's): row r, columns 8 n + 2 tq, + 1.
#pragma unroll
        for (int r = 0; r < 2; r++) {
            if (ri[0][r] >= sq) continue;
            T *orow = out + b * a.o_s[0] + (qrow0 + (i64)ri[0][r]) * a.o_s[1] + h * a.o_s[2] + 2 * tq;
#pragma unroll
            for (int n = 0; n < ND; n++)
                *reinterpret_cast<u32 *>(orow + 8 * n) = attn_mma<T>::pack(o[0][n][2 * r] * inv[r], o[0][n][2 * r + 1] * inv[r]);
        }
    } else {
        // O through this warpgroup's rows of the Q tile (its last reader was this warpgroup's final
        // S product, complete): row r, columns 2 tq, 2 tq + 1 of block n at the swizzled chunk, then
        // 16-byte rows out to global memory.
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        named_sync(3 + cw, 128);
#pragma unroll
        for (int n = 0; n < ND; n++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int row = 16 * warp + g + 8 * r;
                const u32 addr = qa + (n / 8) * QB + 128 * row + 16 * ((n % 8) ^ (row % 8)) + 4 * tq;
                const u32 v = attn_mma<T>::pack(o[0][n][2 * r] * inv[r], o[0][n][2 * r + 1] * inv[r]);
                asm volatile("st.shared.b32 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
            }
        named_sync(3 + cw, 128);
        const int tid = threadIdx.x % 128;
#pragma unroll
        for (int e = tid; e < 64 * ND; e += 128) {
            const int row = e / ND, c = e % ND, m = m0 + 64 * cw + row;
            if (m >= sq) continue;
            const u32 addr = qa + (c / 8) * QB + 128 * row + 16 * ((c % 8) ^ (row % 8));
            uint4 v;
            asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];"
                         : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                         : "r"(addr));
            *reinterpret_cast<uint4 *>(out + b * a.o_s[0] + (qrow0 + (i64)m) * a.o_s[1] + h * a.o_s[2] + 8 * c) = v;
        }
    }
    if (tq == 0) {
#pragma unroll
        for (int r = 0; r < 2; r++)
            if (ri[0][r] < sq) a.lse[b * a.l_s[0] + h * a.l_s[1] + (qrow0 + (i64)ri[0][r]) * a.l_s[2]] = lse[r];
    }
    } // the tiles (one without PERSIST)
}

} // namespace brc
