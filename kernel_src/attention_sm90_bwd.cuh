// The flash attention backward on Hopper (sm_90a), FlashAttention-2's atomic scheme on wgmma: one
// CTA a tile of BNK = 128 keys of one KV head, dK and dV in registers, dQ added into the f32
// accumulator of the workspace. Included after attention_sm90.cuh (barriers, TMA, wgmma wrappers)
// and attention.cuh (score transform, dropout, the rowsum and dQ-conversion kernels it runs
// between); docs/attention-hopper.md, step 13.
//
// A CTA is 3 warpgroups. Warpgroup 0 is the producer: one thread loads K and V once, then for each
// query tile (head of the group, BM queries) Q and dO into a ring of STAGES buffers by TMA, while
// the lanes of its first warp copy the tile's lse (log2 domain, +inf past the end) and rowsum
// dsum into shared memory; the buffer's "full" barrier counts the TMA bytes and the 32 lanes. The
// two consumer warpgroups own 64 keys each and, per query tile, compute (keys are the M rows):
//   S^T = K Q^T, dP^T = V dO^T (both operands from shared memory, K-major),
//   P^T = exp2(S^T scale - lse), dS^T = P^T (dP^T - dsum) on the accumulators,
//   dV += P^T dO, dK += dS^T Q (A from registers: the accumulators as they lie; B N-major),
//   dS^T (the dtype) into shared memory, then dQ = dS K with A = dS read transposed from there
//   and B = K N-major (each warpgroup one 64 x 64 block of the tile's dQ), added to the f32
//   accumulator with f32 reductions.
// dS lives in two buffers: a warpgroup writes tile u's while the other may still read tile
// u - 1's, and one 256-thread barrier a tile (all dS of tile u written) orders the rest. The
// products are serial within a warpgroup: the overlaps tried were slower on the H100
// (docs/attention-hopper.md section 10; OVL keeps one of them for measurement).
namespace brc {

// The kernel parameter: the tensor maps of Q, K, V and dO and the arguments of the mma.sync
// kernels (and, for BULK, the dQ accumulator's). Mirrored by struct attn_args_hb in ops/attention.c.
struct attn_args_hb {
    tmap tq, tk, tv, tdo, tdq; // tdq: the f32 dQ accumulator [B H][Sq][D], boxes of 64 rows x 32 columns
    attn_args a;
};

// d[8][4] (+)= A B, m64n64k16, A and B from descriptors, both MN-major (A [M][K] stored K rows of
// M contiguous elements, transposed on load; B likewise N-major). acc = 0 overwrites d.
template <class T> struct wg_tt;
#define BRC_WG_TT(TT, TS)                                                                                  \
    template <> struct wg_tt<TT> {                                                                         \
        static __device__ __forceinline__ void run(float (&d)[8][4], u64 da, u64 db, int acc) {            \
            asm volatile("{\n .reg .pred p;\n setp.ne.b32 p, %34, 0;\n"                                     \
                         " wgmma.mma_async.sync.aligned.m64n64k16.f32." TS "." TS " {" BRC_WG_R32           \
                         "}, %32, %33, p, 1, 1, 1, 1;\n}"                                                   \
                         : BRC_WG_N64(BRC_WG_ACC, d, 0)                                                     \
                         : "l"(da), "l"(db), "r"(acc));                                                     \
        }                                                                                                  \
    };
BRC_WG_TT(bf16, "bf16")
BRC_WG_TT(f16, "f16")
#undef BRC_WG_TT

// p[0 .. 3] += x, y, z, w (f32, 16-byte aligned): one vector reduction.
__device__ __forceinline__ void attn_red4(float *p, float x, float y, float z, float w) {
    asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(p), "f"(x), "f"(y), "f"(z), "f"(w) : "memory");
}

// K: the brc_attn of the snippet with WARPS = 12, BQ = BM queries a tile (64 at D = 128 and 256,
// 128 at D = 64), STAGES Q / dO buffers, WHICH: 3 dK, dV and dQ; at D = 256, whose dK and dV do not
// fit in registers together, two launches: 1 dV alone (no V, no dP, no dS), 2 dK and dQ; no VARLEN.
template <class K> __device__ __forceinline__ void attn_bwdh_main(const attn_args_hb &p) {
    typedef typename K::T T;
    enum { D = K::D, NC = 2, BNK = 64 * NC, BM = K::BQ, ST = K::STAGES, AT = D / 64, MA = BM / 64 };
    // Bytes: QB / KB one 64-column atom of a Q (dO) / K (V) tile, SB one atom of the dS^T tile (BNK
    // key rows of 64 queries).
    enum { QB = BM * 128, KB = BNK * 128, SB = BNK * 128, QTILE = AT * QB, KTILE = AT * KB, STILE = MA * SB };
    enum { NM = BM / 8, ND = D / 8, DQB = MA * AT / NC, DV = K::WHICH & 1, DK = K::WHICH >> 1 };
    enum { TRANSFORM = K::SOFTCAP || K::ALIBI || K::MASK || K::DROPOUT };
    // QREG bit 0, OVL: P computed while dP^T is in flight, and dQ by 4-column reductions (else
    // serial, 2 columns). Bit 1, BULK: each warpgroup's 64 x 64 dQ block staged in shared memory
    // (two boxes of 64 rows x 32 f32, 128-byte swizzle) and added to the accumulator by two tensor
    // reductions that a producer warp issues.
    // Bit 2, ORD (det = 1): BULK's reductions in key-tile order (below, the writers).
    enum { OVL = (K::QREG & 1) && (K::WHICH >> 1), BULK = (K::QREG >> 1) & 1, DQBOX = 64 * 128 }; // 8192 (immediates)
    enum { ORD = (K::QREG >> 2) & 1 };
    static_assert((D == 64 || D == 128 || D == 256) && (BM == 64 || BM == 128) && DQB >= 1 && DQB <= 2 &&
                      (DV || DK) && !K::VARLEN,
                  "attn_bwdh_main: shape");
    static_assert(!BULK || (DK && DQB == 1), "attn_bwdh_main: bulk dQ reductions: one dQ block a warpgroup");
    static_assert(!ORD || BULK, "attn_bwdh_main: ordered reductions are bulk ones");
    const attn_args &a = p.a;
    extern __shared__ __align__(16) unsigned char attn_smem[];
    __shared__ __align__(8) u64 bars[1 + 2 * ST]; // K / V full; Q / dO full[ST]; empty[ST]
    __shared__ float lsed[ST][2][BM];              // per buffer: lse (log2 domain), dsum
    const u32 k_s = (smem_addr(attn_smem) + 1023u) & ~1023u, v_s = k_s + KTILE, q_s = v_s + (DK ? KTILE : 0);
    const u32 do_s = q_s + ST * QTILE, ds_s = do_s + ST * QTILE, dq_s = ds_s + (DK ? 2 * STILE : 0);
    const u32 bar_kv = smem_addr(bars), bar_q = bar_kv + 8, bar_e = bar_q + 8 * ST;
    // Grid (key tiles, H_kv, B), or 1-D in groups of a.group KV heads (b H_kv + h): a group's key
    // tiles first to last (under a causal mask the first see the most queries), its heads fastest.
    int b, kvh, kt;
    if (a.group > 0) {
        const int mt = (int)((a.Sk + BNK - 1) / BNK), nh = (int)(a.B * a.Hkv), G = (int)a.group;
        const int g = (int)blockIdx.x / (G * mt), r = (int)blockIdx.x - g * G * mt;
        const int gh = nh - g * G < G ? nh - g * G : G, head = g * G + r % gh;
        kt = r / gh, b = head / (int)a.Hkv, kvh = head - b * (int)a.Hkv;
    } else {
        b = blockIdx.z, kvh = blockIdx.y, kt = blockIdx.x;
    }
    const int c0 = kt * BNK;
    const int sq = (int)a.Sq, sk = (int)a.Sk, diag = sk - sq, grp = (int)(a.H / a.Hkv);
    const attn_seq sqs = attn_seq_of<0>(a, b);

    // The query tiles that see keys c0 .. cend - 1, for each head of the group; the walk starts at
    // another tile in neighbouring CTAs (rot), so that they add into other dQ rows at a time.
    const int cend = c0 + BNK < sk ? c0 + BNK : sk;
    i64 ilo = 0, ihi = sq;
    if (a.wr >= 0 && c0 - diag - a.wr > ilo) ilo = c0 - diag - a.wr;
    if (a.wl >= 0 && cend - 1 - diag + a.wl + 1 < ihi) ihi = cend - 1 - diag + a.wl + 1;
    ilo = ilo / BM * BM;
    const int nth = ihi > ilo ? (int)((ihi - ilo + BM - 1) / BM) : 0, ntiles = nth * grp;
    // Tile u of the walk is query tile (u + rot) % nth of head (u + rot) / nth of the group (mod
    // ntiles): a walk's state (hi, qi) starts from rot and steps without divisions (registers: the
    // producer warps run with 24). ORD: no rotation and the query tiles last to first, so that the
    // key tiles of a head reach a query tile in their order (under a causal mask every key tile
    // starts at once, at the last query tile, instead of waiting for the earlier ones to get to
    // its first).
    const int rot = ntiles > 0 && !ORD ? kt % ntiles : 0;
    struct walk {
        int hi, qi;
    };
    auto walk_start = [&]() { return walk{rot / (nth > 0 ? nth : 1), rot % (nth > 0 ? nth : 1)}; };
    auto tile = [&](walk &t, int &h, int &i0) {
        h = kvh * grp + t.hi, i0 = (int)ilo + (ORD ? nth - 1 - t.qi : t.qi) * BM;
        if (++t.qi == nth) t.qi = 0, t.hi = t.hi + 1 == grp ? 0 : t.hi + 1;
    };
    // The same tile from u alone (the consumers: one loop-carried register fewer).
    auto tile_at = [&](int u, int &h, int &i0) {
        u = u + rot < ntiles ? u + rot : u + rot - ntiles;
        const int q = u % nth;
        h = kvh * grp + u / nth, i0 = (int)ilo + (ORD ? nth - 1 - q : q) * BM;
    };

    if (threadIdx.x == 0) {
        mbar_init(bar_kv, 1);
        for (int s = 0; s < ST; s++) {
            mbar_init(bar_q + 8 * s, 1 + 32); // the TMA bytes' arrival and the producer warp's lanes
            mbar_init(bar_e + 8 * s, 8);      // one arrival a consumer warp
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (threadIdx.x < 128) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;");
        if (BULK && threadIdx.x >= 32 && threadIdx.x < 96) {
            // BULK: warp 1 + w of the producer adds consumer warpgroup w's dQ block of each tile
            // into the accumulator (its lane 0: a tensor reduction a box; rows past Sq fall
            // outside the map) once the block is staged ("full", named barrier 2 + 2w), and hands
            // the staging back ("free", 3 + 2w) once the reductions have read it.
            const int w = threadIdx.x / 32 - 1, lane = threadIdx.x & 31;
            const u32 stg = dq_s + w * 2 * DQBOX;
            if (ntiles > 0) named_arrive(3 + 2 * w, 160);
            walk t = walk_start();
#pragma unroll 1
            for (int u = 0; u < ntiles; u++) {
                int h, i0;
                tile(t, h, i0);
                named_sync(2 + 2 * w, 160);
                int *sem = nullptr;
                if (ORD && lane == 0) {
                    // This block's reductions follow those of the key tiles before this one that
                    // see the query tile (a contiguous run of key tiles from cmin; with a left
                    // window cmin > 0): wait until the counter says so, add, and count this one.
                    const int nqt = (sq + BM - 1) / BM, x = i0 + diag - (int)a.wl;
                    const int cmin = a.wl >= 0 && x > 0 ? x / BNK : 0;
                    sem = a.dq_sem + (((i64)b * a.H + h) * nqt + i0 / BM) * 2 + w;
                    int seen;
                    do
                        asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(seen) : "l"(sem) : "memory");
                    while (seen != kt - cmin);
                    asm volatile("fence.proxy.async.global;" ::: "memory");
                }
                if (lane == 0) {
#pragma unroll
                    for (int bx = 0; bx < 2; bx++)
                        asm volatile("cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.tile.bulk_group"
                                     " [%0, {%1, %2, %3}], [%4];" ::"l"(&p.tdq),
                                     "r"(64 * (w % AT) + 32 * bx), "r"(i0 + 64 * (w / AT)), "r"(b * (int)a.H + h),
                                     "r"(stg + bx * DQBOX)
                                     : "memory");
                    asm volatile("cp.async.bulk.commit_group;" ::: "memory");
                    if (ORD) {
                        // complete (not only read) before the next key tile's reductions
                        asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
                        asm volatile("fence.proxy.async.global;" ::: "memory");
                        asm volatile("red.release.gpu.global.add.s32 [%0], 1;" ::"l"(sem) : "memory");
                    } else {
                        asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
                    }
                }
                __syncwarp();
                if (u + 1 < ntiles) named_arrive(3 + 2 * w, 160);
            }
            if (lane == 0) asm volatile("cp.async.bulk.wait_group 0;" ::: "memory"); // done before the CTA ends
            return;
        }
        if (threadIdx.x >= 32) return;
        const int lane = threadIdx.x;
        if (lane == 0) {
            mbar_expect(bar_kv, (1 + DK) * KTILE);
#pragma unroll
            for (int at = 0; at < AT; at++) tma_load4(k_s + at * KB, &p.tk, 64 * at, c0, kvh, b, bar_kv);
            if (DK)
#pragma unroll
                for (int at = 0; at < AT; at++) tma_load4(v_s + at * KB, &p.tv, 64 * at, c0, kvh, b, bar_kv);
        }
        walk t = walk_start();
        for (int u = 0; u < ntiles; u++) {
            const int s = u % ST;
            int h, i0;
            tile(t, h, i0);
            mbar_wait(bar_e + 8 * s, ((u / ST) & 1) ^ 1); // the first lap passes at once
            if (lane == 0) {
                mbar_expect(bar_q + 8 * s, 2 * QTILE);
#pragma unroll
                for (int at = 0; at < AT; at++)
                    tma_load4(q_s + s * QTILE + at * QB, &p.tq, 64 * at, i0, h, b, bar_q + 8 * s);
#pragma unroll
                for (int at = 0; at < AT; at++)
                    tma_load4(do_s + s * QTILE + at * QB, &p.tdo, 64 * at, i0, h, b, bar_q + 8 * s);
            }
            for (int r = lane; r < BM; r += 32) {
                const int i = i0 + r;
                const bool ok = i < sq;
                lsed[s][0][r] = ok ? attn_lse_l2(a.lse[b * a.l_s[0] + h * a.l_s[1] + (i64)i * a.l_s[2]]) : BRC_INF;
                lsed[s][1][r] = ok ? a.dsum[attn_row_id<0>(a, b, h, sqs, i)] : 0.f;
            }
            mbar_arrive(bar_q + 8 * s);
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;");

    const int cw = threadIdx.x / 128 - 1, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3;
    const u32 ka = k_s + 8192 * cw, va = v_s + 8192 * cw; // this warpgroup's 64 keys in each atom
    const int kr = 64 * cw + 16 * warp + g;               // this thread's key rows kr, kr + 8 (in the tile)
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    const float scl = fmaxf(scale_l2, 1.17549435e-38f); // kept off 0: a masked -inf times 0 is NaN

    float *const dqacc = a.part_o;
    float dk[ND][4], dv[ND][4]; // the one a launch does not compute is dead code
#pragma unroll
    for (int n = 0; n < ND; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[n][e] = dv[n][e] = 0.f;

    mbar_wait(bar_kv, 0);
    for (int u = 0; u < ntiles; u++) {
        const int s = u % ST;
        int h, i0;
        tile_at(u, h, i0);
        const u32 qb = q_s + s * QTILE, db = do_s + s * QTILE, dsb = ds_s + (u & 1) * STILE;
        mbar_wait(bar_q + 8 * s, (u / ST) & 1);

        // S^T = K Q^T and dP^T = V dO^T.
        float st[NM][4], dp[NM][4];
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const u32 off = (kk / 4) * KB + 32 * (kk % 4), offq = (kk / 4) * QB + 32 * (kk % 4);
            if (kk == 0) wg_ss<T, BM>::first(st, sw128_desc(ka + off, 16), sw128_desc(qb + offq, 16));
            else wg_ss<T, BM>::run(st, sw128_desc(ka + off, 16), sw128_desc(qb + offq, 16), 1);
        }
        wg_commit();
        if (DK) {
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++) {
                const u32 off = (kk / 4) * KB + 32 * (kk % 4), offq = (kk / 4) * QB + 32 * (kk % 4);
                if (kk == 0) wg_ss<T, BM>::first(dp, sw128_desc(va + off, 16), sw128_desc(db + offq, 16));
                else wg_ss<T, BM>::run(dp, sw128_desc(va + off, 16), sw128_desc(db + offq, 16), 1);
            }
            wg_commit();
        }

        // P^T and dS^T. Rows (keys) kr, kr + 8; columns (queries) 8 n + 2 tq (+ 1).
        const float *lse_t = lsed[s][0], *dsum_t = lsed[s][1];
        const bool check = c0 + BNK > sk || (a.wr >= 0 && c0 + BNK - 1 > i0 + diag + a.wr) ||
                           (a.wl >= 0 && c0 < i0 + BM - 1 + diag - a.wl);
        if (!TRANSFORM && !check) {
            // Straight-line: no bounds, no features. OVL: P while dP^T is still in flight.
            if (OVL) asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory"); // S^T
            else wg_wait0();
#pragma unroll
            for (int n = 0; n < NM; n++) {
                const float2 lp = *reinterpret_cast<const float2 *>(lse_t + 8 * n + 2 * tq);
                const float nl[2] = {-lp.x, -lp.y};
#pragma unroll
                for (int e = 0; e < 4; e++) st[n][e] = ex2(fmaf(st[n][e], scl, nl[e & 1]));
            }
            if (OVL) wg_wait0(); // dP^T
#pragma unroll
            for (int n = 0; n < (DK ? NM : 0); n++) {
                const float2 dd = *reinterpret_cast<const float2 *>(dsum_t + 8 * n + 2 * tq);
                const float dsm[2] = {dd.x, dd.y};
#pragma unroll
                for (int e = 0; e < 4; e++) dp[n][e] = st[n][e] * (dp[n][e] - dsm[e & 1]);
            }
        } else {
            wg_wait0();
            const float slope = attn_slope<K>(a, b, h);
            const void *mbase = K::MASK ? static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1]
                                        : nullptr;
#pragma unroll
            for (int n = 0; n < NM; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int ci = 8 * n + 2 * tq + (e & 1), i = i0 + ci, j = c0 + kr + 8 * (e >> 1);
                    float th = 0.f;
                    const void *mrow =
                        K::MASK ? static_cast<const typename K::MT *>(mbase) + (i < sq ? i : 0) * a.m_s[2] : nullptr;
                    const float x = attn_score<K>(a, st[n][e], scale_l2, slope, i, j, diag, sk, mrow, check, &th);
                    const float pr = ex2(x - lse_t[ci]);
                    float z = 1.f;
                    if (K::DROPOUT)
                        z = attn_keep(seed, offset, a.jblocks, attn_row_id<0>(a, b, h, sqs, i), j, (float)a.p_drop,
                                      (float)a.rkeep);
                    if (DK) {
                        float ds = pr * (dp[n][e] * z - dsum_t[ci]);
                        if (K::SOFTCAP) ds *= 1.f - th * th;
                        dp[n][e] = ds;
                    }
                    st[n][e] = pr * z;
                }
        }

        if (!DK) {
            // dV += P^T dO alone (the first of two launches at D = 256).
            u32 pa[NM / 2][4];
            pack_a<T, NM / 2>(pa, st);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < NM / 2; kk++) wg_rs<T, D>::run(dv, pa[kk], sw128_desc(db + 2048 * kk, QB), 1);
            wg_commit();
            wg_wait0();
            __syncwarp();
            if (lane == 0) mbar_arrive(bar_e + 8 * s); // Q, dO, lse of buffer s are consumed
            continue;
        }

        // dS^T into this tile's buffer: row kr (+ 8), columns 2 tq, 2 tq + 1 of block n at the
        // swizzled chunk of atom n / 8.
#pragma unroll
        for (int n = 0; n < NM; n++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int row = kr + 8 * r;
                const u32 addr = dsb + (n / 8) * SB + 128 * row + 16 * ((n % 8) ^ (row % 8)) + 4 * tq;
                st_shared_u32(addr, attn_mma<T>::pack(dp[n][2 * r], dp[n][2 * r + 1]));
            }
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");

        // dV += P^T dO (unless a launch of its own does it), dK += dS^T Q.
        u32 pd[NM / 2][4];
        pack_a<T, NM / 2>(pd, dp);
        if (DV) {
            u32 pa[NM / 2][4];
            pack_a<T, NM / 2>(pa, st);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < NM / 2; kk++) wg_rs<T, D>::run(dv, pa[kk], sw128_desc(db + 2048 * kk, QB), 1);
        } else {
            wg_fence();
        }
#pragma unroll
        for (int kk = 0; kk < NM / 2; kk++) wg_rs<T, D>::run(dk, pd[kk], sw128_desc(qb + 2048 * kk, QB), 1);
        wg_commit();

        // Every warpgroup's dS^T of this tile is in the buffer: dQ = dS K for this warpgroup's
        // DQB 64 x 64 blocks of the tile's dQ (block bi: query atom bi / AT, column atom bi % AT).
        named_sync(1, 256);
#pragma unroll
        for (int blk = 0; blk < DQB; blk++) {
            const int bi = cw * DQB + blk, qa_ = bi / AT, da_ = bi % AT;
            float dq[8][4];
#pragma unroll
            for (int kk = 0; kk < BNK / 16; kk++)
                wg_tt<T>::run(dq, sw128_desc(dsb + qa_ * SB + 2048 * kk, SB),
                              sw128_desc(k_s + da_ * KB + 2048 * kk, KB), kk > 0);
            wg_commit();
            wg_wait0();
            if (blk == DQB - 1) {
                __syncwarp();
                if (lane == 0) mbar_arrive(bar_e + 8 * s); // Q, dO, lse and dsum of buffer s are consumed
            }

            // dQ into the accumulator. BULK: staged for the writer warp once it has handed the
            // staging back. OVL: 4 columns of one row a reduction (lanes tq and tq ^ 1 swap
            // halves: the even one takes row g, columns 2 tq .. 2 tq + 3, the odd one row g + 8,
            // columns 2 tq - 2 ..); else 2.
            if (BULK) {
                // Row 16 warp + g (+ 8) of the block, columns 8 n + 2 tq (+ 1): box n / 4, its
                // 16-byte chunk 2 (n % 4) + tq / 2 swizzled by the row (XOR g): bits 5-6 of the
                // offset are (n % 4) ^ (g >> 1), bit 4 (tq >> 1) ^ (g & 1); the rest is immediate.
                const u32 row0 = dq_s + cw * 2 * DQBOX + 128 * (16 * warp + g) + 16 * ((tq >> 1) ^ (g & 1)) + 8 * (tq & 1);
                named_sync(3 + 2 * cw, 160); // free: the writer has read the previous tile's block
#pragma unroll
                for (int m = 0; m < 4; m++) {
                    const u32 ad = row0 + 32 * (m ^ (g >> 1));
                    asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n\t"
                                 "st.shared.v2.f32 [%0+1024], {%3, %4};\n\t"
                                 "st.shared.v2.f32 [%0+8192], {%5, %6};\n\t"
                                 "st.shared.v2.f32 [%0+9216], {%7, %8};" ::"r"(ad),
                                 "f"(dq[m][0]), "f"(dq[m][1]), "f"(dq[m][2]), "f"(dq[m][3]), "f"(dq[4 + m][0]),
                                 "f"(dq[4 + m][1]), "f"(dq[4 + m][2]), "f"(dq[4 + m][3])
                                 : "memory");
                }
                asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                named_arrive(2 + 2 * cw, 160); // full
            } else if (OVL) {
                const int odd = tq & 1, i = i0 + 64 * qa_ + 16 * warp + g + 8 * odd;
                float *dst = dqacc + attn_row_id<0>(a, b, h, sqs, i < sq ? i : 0) * D + 64 * da_ + 2 * (tq - odd);
#pragma unroll
                for (int n = 0; n < 8; n++) {
                    const float x0 = __shfl_xor_sync(0xffffffffu, odd ? dq[n][0] : dq[n][2], 1);
                    const float x1 = __shfl_xor_sync(0xffffffffu, odd ? dq[n][1] : dq[n][3], 1);
                    if (i < sq) {
                        if (odd) attn_red4(dst + 8 * n, x0, x1, dq[n][2], dq[n][3]);
                        else attn_red4(dst + 8 * n, dq[n][0], dq[n][1], x0, x1);
                    }
                }
            } else {
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    const int i = i0 + 64 * qa_ + 16 * warp + g + 8 * r;
                    if (i < sq) {
                        float *dst = dqacc + attn_row_id<0>(a, b, h, sqs, i) * D + 64 * da_ + 2 * tq;
#pragma unroll
                        for (int n = 0; n < 8; n++) attn_red2(dst + 8 * n, dq[n][2 * r], dq[n][2 * r + 1]);
                    }
                }
            }
        }
    }

    // dK (times the scale) and dV of this thread's rows, 2 columns a store.
    const float sc = (float)a.scale;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int j = c0 + kr + 8 * r;
        if (j >= sk) continue;
        T *ok = static_cast<T *>(a.dk) + b * a.dk_s[0] + (i64)j * a.dk_s[1] + kvh * a.dk_s[2] + 2 * tq;
        T *ov = static_cast<T *>(a.dv) + b * a.dv_s[0] + (i64)j * a.dv_s[1] + kvh * a.dv_s[2] + 2 * tq;
#pragma unroll
        for (int n = 0; n < ND; n++) {
            if (DK) *reinterpret_cast<u32 *>(ok + 8 * n) = attn_mma<T>::pack(dk[n][2 * r] * sc, dk[n][2 * r + 1] * sc);
            if (DV) *reinterpret_cast<u32 *>(ov + 8 * n) = attn_mma<T>::pack(dv[n][2 * r], dv[n][2 * r + 1]);
        }
    }
}

} // namespace brc
