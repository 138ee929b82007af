// Attention in f32: the slow, correct path (no tensor cores, f32 throughout). Included after
// attention.cuh, whose score transform (attn_score), dropout bits (attn_keep), sequence bounds and
// row ids it shares, so that it computes what the half-precision kernels compute, in f32 and
// with every feature they have (causal, windows, softcap, ALiBi, masks, dropout, GQA, varlen).
//
// A row (a query in the forward and the dQ kernel, a key in the dK/dV kernel) belongs to a group
// of G consecutive lanes (8, or 16 for D > 128 so that a lane holds at most 16 columns of each
// vector); lane e of the group holds columns e, e + G, ... of the row's vectors (the G lanes read
// consecutive words of a shared-memory row: no bank conflicts), and a dot product is the lanes'
// partial sums added over the group by shuffles. A CTA is 128 threads: 128 / G rows. The other operand
// streams through shared memory in tiles of BN rows. The backward is deterministic: dQ and dK / dV
// are each written once by the CTA that owns the row, summing in a fixed order (no atomics).
namespace brc {

enum { F32_BN = 32 };
template <int D> struct f32_shape {
    enum { G = D > 128 ? 16 : 8, R = 128 / G, PD = D / G };
};

// The sum over the G lanes of a group (every lane of the warp takes part).
template <int G> __device__ __forceinline__ float f32_group_sum(float v) {
#pragma unroll
    for (int m = 1; m < G; m <<= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
    return v;
}

// rows x D floats into shared memory (pitch D) by 16-byte chunks; row r from rowp(r), zeros
// where it is null. The plan requires 16-byte strides and pointers.
template <int D, class F> __device__ __forceinline__ void f32_load_rows(float *dst, int rows, F rowp) {
    for (int c = threadIdx.x; c < rows * (D / 4); c += blockDim.x) {
        const int r = c / (D / 4), x = c % (D / 4);
        const float *src = rowp(r);
        reinterpret_cast<float4 *>(dst)[c] =
            src ? reinterpret_cast<const float4 *>(src)[x] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
}

// The query rows [ilo, ihi) that see some key of [c0, cend) under the windows (causal: wr = 0).
__device__ __forceinline__ void f32_query_range(const attn_args &a, i64 c0, i64 cend, int sq, int diag, i64 *ilo,
                                                i64 *ihi) {
    i64 lo = 0, hi = sq;
    if (a.wr >= 0 && c0 - diag - a.wr > lo) lo = c0 - diag - a.wr;
    if (a.wl >= 0 && cend - 1 - diag + a.wl + 1 < hi) hi = cend - 1 - diag + a.wl + 1;
    *ilo = lo, *ihi = hi > lo ? hi : lo;
}

// The key range [nlo, nhi) that queries [imin, imax] see.
__device__ __forceinline__ void f32_key_range(const attn_args &a, int imin, int imax, int sk, int diag, i64 *nlo,
                                              i64 *nhi) {
    i64 lo = 0, hi = sk;
    if (a.wr >= 0 && imax + diag + a.wr + 1 < hi) hi = imax + diag + a.wr + 1;
    if (a.wl >= 0 && imin + diag - a.wl > lo) lo = imin + diag - a.wl;
    *nlo = lo, *nhi = hi > lo ? hi : lo;
}

// The query side of the forward and the dQ kernel: 128 / G query rows of one head a CTA, this
// lane's row i (live: below the sequence's end), the CTA's key range, the per-row constants of the
// score transform, and a walk over the key tiles.
template <class K> struct f32_qrows {
    enum { D = K::D, G = f32_shape<D>::G, R = f32_shape<D>::R, BN = F32_BN, PD = D / G };
    const attn_args &a;
    attn_seq sq;
    int b, m0, i, e, diag;
    i64 h, kvh, nlo, nhi, rid;
    bool live;
    float scale_l2, slope;
    const void *mrow;
    u64 seed, offset;
    __device__ __forceinline__ f32_qrows(const attn_args &a_) : a(a_) {
        b = blockIdx.z, h = blockIdx.y, kvh = h / (a.H / a.Hkv);
        sq = attn_seq_of<K::VARLEN>(a, b);
        m0 = blockIdx.x * R, i = m0 + (int)threadIdx.x / G, e = (int)threadIdx.x % G, diag = sq.sk - sq.sq;
        live = i < sq.sq;
        f32_key_range(a, m0, (m0 + R < sq.sq ? m0 + R : sq.sq) - 1, sq.sk, diag, &nlo, &nhi);
        scale_l2 = (float)a.scale * BRC_LOG2E, slope = attn_slope<K>(a, b, h);
        mrow = K::MASK ? static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] + h * a.m_s[1] +
                             (live ? i : 0) * a.m_s[2]
                       : nullptr;
        rid = attn_row_id<K::VARLEN>(a, b, h, sq, live ? i : 0);
        seed = a.seed, offset = a.offset;
        if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];
    }
    // This lane's columns of the row in a [B, S, H, D]-like f32 tensor with strides st.
    __device__ __forceinline__ void load(const void *base, const i64 *st, float (&r)[PD]) const {
        const float *p = static_cast<const float *>(base) + b * st[0] + (sq.q0 + (live ? i : 0)) * st[1] + h * st[2];
#pragma unroll
        for (int c = 0; c < PD; c++) r[c] = p[e + G * c];
    }
    __device__ __forceinline__ void store(void *base, const i64 *st, const float (&r)[PD], float scale) const {
        float *p = static_cast<float *>(base) + b * st[0] + (sq.q0 + i) * st[1] + h * st[2];
#pragma unroll
        for (int c = 0; c < PD; c++) p[e + G * c] = r[c] * scale;
    }
    // Every key tile of the range into Ks / Vs (zeros past the end), then body(jj, j) for its keys.
    template <class F> __device__ __forceinline__ void walk(float *Ks, float *Vs, F body) const {
        const float *k = static_cast<const float *>(a.k) + b * a.k_s[0] + sq.k0 * a.k_s[1] + kvh * a.k_s[2];
        const float *v = static_cast<const float *>(a.v) + b * a.v_s[0] + sq.k0 * a.v_s[1] + kvh * a.v_s[2];
        for (i64 j0 = nlo / BN * BN; j0 < nhi; j0 += BN) {
            __syncthreads(); // every row is done with the previous tile
            f32_load_rows<D>(Ks, BN, [&](int r) { return j0 + r < sq.sk ? k + (j0 + r) * a.k_s[1] : nullptr; });
            f32_load_rows<D>(Vs, BN, [&](int r) { return j0 + r < sq.sk ? v + (j0 + r) * a.v_s[1] : nullptr; });
            __syncthreads();
            for (int jj = 0; jj < BN; jj++) body(jj, (int)j0 + jj);
        }
    }
};

// Forward: online softmax one key at a time.
template <class K> __device__ __forceinline__ void attn_fwd32_main(const attn_args &a) {
    typedef f32_qrows<K> Q;
    enum { D = Q::D, G = Q::G, BN = Q::BN, PD = Q::PD };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    float *Ks = reinterpret_cast<float *>(attn_smem), *Vs = Ks + BN * D;
    const Q r(a);
    if (r.m0 >= r.sq.sq) return;
    const int e = r.e;
    float qr[PD], o[PD];
    r.load(a.q, a.q_s, qr);
#pragma unroll
    for (int p = 0; p < PD; p++) o[p] = 0.f;
    float mx = -BRC_INF, l = 0.f;
    r.walk(Ks, Vs, [&](int jj, int j) {
        float part = 0.f;
#pragma unroll
        for (int p = 0; p < PD; p++) part = fmaf(qr[p], Ks[jj * D + e + G * p], part);
        float th;
        const float x =
            attn_score<K>(a, f32_group_sum<G>(part), r.scale_l2, r.slope, r.i, j, r.diag, r.sq.sk, r.mrow, true, &th);
        if (r.live && x != -BRC_INF) {
            if (x > mx) {
                const float c = ex2(mx - x); // 0 on the first key
                l *= c;
#pragma unroll
                for (int p = 0; p < PD; p++) o[p] *= c;
                mx = x;
            }
            const float pr = ex2(x - mx);
            l += pr;
            const float w =
                K::DROPOUT ? pr * attn_keep(r.seed, r.offset, a.jblocks, r.rid, j, (float)a.p_drop, 1.f) : pr;
#pragma unroll
            for (int p = 0; p < PD; p++) o[p] = fmaf(w, Vs[jj * D + e + G * p], o[p]);
        }
    });
    if (!r.live) return;
    float inv = l > 0.f ? 1.f / l : 0.f;
    if (K::DROPOUT) inv *= (float)a.rkeep;
    r.store(a.o, a.o_s, o, inv);
    if (e == 0)
        a.lse[r.b * a.l_s[0] + r.h * a.l_s[1] + (r.sq.q0 + r.i) * a.l_s[2]] =
            l > 0.f ? mx * BRC_LN2 + logf(l) : -BRC_INF;
}

// dQ over the keys the rows see; dQ = scale sum_j dS_ij K_j.
template <class K> __device__ __forceinline__ void attn_dq32_main(const attn_args &a) {
    typedef f32_qrows<K> Q;
    enum { D = Q::D, G = Q::G, BN = Q::BN, PD = Q::PD };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    float *Ks = reinterpret_cast<float *>(attn_smem), *Vs = Ks + BN * D;
    const Q r(a);
    if (r.m0 >= r.sq.sq) return;
    const int e = r.e;
    float qr[PD], dor[PD], dq[PD];
    r.load(a.q, a.q_s, qr);
    r.load(a.dout, a.do_s, dor);
#pragma unroll
    for (int p = 0; p < PD; p++) dq[p] = 0.f;
    const float lse_l2 =
        r.live ? attn_lse_l2(a.lse[r.b * a.l_s[0] + r.h * a.l_s[1] + (r.sq.q0 + r.i) * a.l_s[2]]) : BRC_INF;
    const float dsum = r.live ? a.dsum[r.rid] : 0.f;
    r.walk(Ks, Vs, [&](int jj, int j) {
        float ps = 0.f, pd = 0.f;
#pragma unroll
        for (int p = 0; p < PD; p++)
            ps = fmaf(qr[p], Ks[jj * D + e + G * p], ps), pd = fmaf(dor[p], Vs[jj * D + e + G * p], pd);
        const float s = f32_group_sum<G>(ps), dp = f32_group_sum<G>(pd);
        float th = 0.f;
        const float x = attn_score<K>(a, s, r.scale_l2, r.slope, r.i, j, r.diag, r.sq.sk, r.mrow, true, &th);
        if (r.live && x != -BRC_INF) {
            const float pr = ex2(x - lse_l2);
            const float z = K::DROPOUT
                                ? attn_keep(r.seed, r.offset, a.jblocks, r.rid, j, (float)a.p_drop, (float)a.rkeep)
                                : 1.f;
            float ds = pr * (dp * z - dsum);
            if (K::SOFTCAP) ds *= 1.f - th * th;
#pragma unroll
            for (int p = 0; p < PD; p++) dq[p] = fmaf(ds, Ks[jj * D + e + G * p], dq[p]);
        }
    });
    if (r.live) r.store(a.dq, a.dq_s, dq, (float)a.scale);
}

// dK and dV: 128 / G keys of one KV head a CTA, over the query heads of its group and the queries
// that see those keys: dV = sum P_ij dO_i (dropout-scaled), dK = scale sum dS_ij Q_i.
template <class K> __device__ __forceinline__ void attn_dkdv32_main(const attn_args &a) {
    enum { D = K::D, G = f32_shape<D>::G, R = f32_shape<D>::R, BQ = F32_BN, PD = D / G };
    extern __shared__ __align__(16) unsigned char attn_smem[];
    float *Qs = reinterpret_cast<float *>(attn_smem), *Ds = Qs + BQ * D, *lse_s = Ds + BQ * D, *dsum_s = lse_s + BQ;
    const int gi = threadIdx.x / G, e = threadIdx.x % G, b = blockIdx.z;
    const i64 kvh = blockIdx.y, grp = a.H / a.Hkv;
    const attn_seq sq = attn_seq_of<K::VARLEN>(a, b);
    const int c0 = blockIdx.x * R, j = c0 + gi, diag = sq.sk - sq.sq;
    if (c0 >= sq.sk) return;
    const bool live = j < sq.sk;
    const float *kr = static_cast<const float *>(a.k) + b * a.k_s[0] + (sq.k0 + (live ? j : 0)) * a.k_s[1] +
                      kvh * a.k_s[2];
    const float *vr = static_cast<const float *>(a.v) + b * a.v_s[0] + (sq.k0 + (live ? j : 0)) * a.v_s[1] +
                      kvh * a.v_s[2];
    float kk[PD], vv[PD], dk[PD], dv[PD];
#pragma unroll
    for (int p = 0; p < PD; p++) kk[p] = kr[e + G * p], vv[p] = vr[e + G * p], dk[p] = dv[p] = 0.f;
    i64 ilo, ihi;
    f32_query_range(a, c0, c0 + R < sq.sk ? c0 + R : sq.sk, sq.sq, diag, &ilo, &ihi);
    const float scale_l2 = (float)a.scale * BRC_LOG2E;
    u64 seed = a.seed, offset = a.offset;
    if (K::DROPOUT && a.dev) seed = a.dev[0], offset = a.dev[1];
    for (i64 h = kvh * grp; h < (kvh + 1) * grp; h++) {
        const float slope = attn_slope<K>(a, b, h);
        const float *q = static_cast<const float *>(a.q) + b * a.q_s[0] + sq.q0 * a.q_s[1] + h * a.q_s[2];
        const float *dout = static_cast<const float *>(a.dout) + b * a.do_s[0] + sq.q0 * a.do_s[1] + h * a.do_s[2];
        for (i64 i0 = ilo / BQ * BQ; i0 < ihi; i0 += BQ) {
            __syncthreads();
            f32_load_rows<D>(Qs, BQ, [&](int r) { return i0 + r < sq.sq ? q + (i0 + r) * a.q_s[1] : nullptr; });
            f32_load_rows<D>(Ds, BQ, [&](int r) { return i0 + r < sq.sq ? dout + (i0 + r) * a.do_s[1] : nullptr; });
            for (int r = threadIdx.x; r < BQ; r += blockDim.x) {
                const i64 i = i0 + r;
                const bool ok = i < sq.sq;
                lse_s[r] = ok ? attn_lse_l2(a.lse[b * a.l_s[0] + h * a.l_s[1] + (sq.q0 + i) * a.l_s[2]]) : BRC_INF;
                dsum_s[r] = ok ? a.dsum[attn_row_id<K::VARLEN>(a, b, h, sq, i)] : 0.f;
            }
            __syncthreads();
            for (int ii = 0; ii < BQ; ii++) {
                const int i = (int)i0 + ii;
                float ps = 0.f, pd = 0.f;
#pragma unroll
                for (int p = 0; p < PD; p++)
                    ps = fmaf(kk[p], Qs[ii * D + e + G * p], ps), pd = fmaf(vv[p], Ds[ii * D + e + G * p], pd);
                const float s = f32_group_sum<G>(ps), dp = f32_group_sum<G>(pd);
                if (!live || i >= sq.sq) continue; // the whole group alike; the shuffles above are done
                const void *mrow = K::MASK ? static_cast<const typename K::MT *>(a.mask) + b * a.m_s[0] +
                                                 h * a.m_s[1] + (i64)i * a.m_s[2]
                                           : nullptr;
                float th = 0.f;
                const float x = attn_score<K>(a, s, scale_l2, slope, i, j, diag, sq.sk, mrow, true, &th);
                if (x == -BRC_INF) continue;
                const float pr = ex2(x - lse_s[ii]);
                const float z =
                    K::DROPOUT ? attn_keep(seed, offset, a.jblocks, attn_row_id<K::VARLEN>(a, b, h, sq, i), j,
                                           (float)a.p_drop, (float)a.rkeep)
                               : 1.f;
                float ds = pr * (dp * z - dsum_s[ii]);
                if (K::SOFTCAP) ds *= 1.f - th * th;
                const float w = pr * z;
#pragma unroll
                for (int p = 0; p < PD; p++)
                    dv[p] = fmaf(w, Ds[ii * D + e + G * p], dv[p]), dk[p] = fmaf(ds, Qs[ii * D + e + G * p], dk[p]);
            }
        }
    }
    if (!live) return;
    float *dko = static_cast<float *>(a.dk) + b * a.dk_s[0] + (sq.k0 + j) * a.dk_s[1] + kvh * a.dk_s[2];
    float *dvo = static_cast<float *>(a.dv) + b * a.dv_s[0] + (sq.k0 + j) * a.dv_s[1] + kvh * a.dv_s[2];
    const float sc = (float)a.scale;
#pragma unroll
    for (int p = 0; p < PD; p++) dko[e + G * p] = dk[p] * sc, dvo[e + G * p] = dv[p];
}

} // namespace brc
