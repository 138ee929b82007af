// Channel norm kernels over a dense [N, CH, HW] tensor: group_norm and batch_norm, forward and
// backward. A plan runs three or four of them in order, each a function of struct K (generated per
// plan by runtime/ops/channel_norm.c):
//   T, C        storage and compute types (halves compute in f32, f64 in f64)
//   BN          0: group_norm (statistic s = n * G + c / CPG); 1: batch_norm (statistic s = c)
//   CH G CPG HW channels, groups, channels per group, spatial size (compile-time: the divisions
//               by them are multiplications)
//   VS VP VA    elements per vector access of seg (divides HW), plane (divides CH * HW) and apply
//               (divides CH * HW)
//   TPB         threads of a plane (or bn_one) CTA;  BV  bn_one's vectors a thread a chunk
//   W B         weight, bias;  DIR 0 forward, 1 backward;  EVAL batch_norm eval mode;  RUN update
//               the running stats
// Kernels:
//   seg    (group_norm) one warp per part (split a segment) of an (n, c) segment of HW elements:
//          forward a (mean, M2) state, backward (sum dy, sum dy * (x - mean))
//   gn_fin (group_norm) one warp per (n, g): merges the group's CPG * split parts (fixed order) into
//          coef[s] = {mean, rstd, c1, c2}; forward also writes the saved mean / rstd
//   gn_wb  (group_norm backward) one thread per channel: dweight, dbias = sums over n, in order
//   plane  (batch_norm) CTA (chunk of the [CH * HW] plane, slice of N): each thread keeps a state
//          per element of its vector over the slice's samples (merged over the vector when it
//          lies in one channel); part[(slice * UNITS + unit) * 2 + {0, 1}]
//   bn_fin (batch_norm) one CTA per channel: merges the channel's units of every slice (threads
//          strided, then fixed shuffle trees) into coef[c]; running-stat update; dweight, dbias
//   apply  every element: forward y = xhat * w + b; backward dx = rstd * (g - xhat * c1 - c2)
//          (batch_norm eval backward: none, the plane writes dx = rstd * (dy * w) itself)
//   bn_one (batch_norm training, alone) a CTA per unit of a channel: x (and dy) read once, held in
//          registers while the channel's units meet on a counter (below)
// Every reduction has one fixed order, so results are bitwise reproducible; bn_one's atomics hand
// out tickets and count arrivals, never values.
#pragma once

namespace brc {

// The one argument block of every channel-norm kernel; 8-byte fields only, mirrored by the host.
struct cn_args {
    const void* x;
    const void* dy;
    const void* w;     // weight [CH] or null
    const void* b;     // bias [CH] or null
    void* out;         // y (forward) or dx (backward)
    void* mean;        // saved statistics, C: forward outputs (null: not saved), backward inputs;
    void* rstd;        //   batch_norm eval: running_mean (mean) for the plane's centring
    void* rmean;       // batch_norm running statistics, C [CH]
    void* rvar;
    void* dw;          // dweight / dbias, T [CH]
    void* db;
    void* part;        // partial states, C [...][2]
    void* coef;        // per statistic {mean, rstd, c1, c2}, C [NSTAT][4]
    i64 n;             // N
    i64 ns;            // batch_norm: samples per slice
    i64 slices;        // batch_norm: slices of N
    double eps;
    double momentum;
    i64 split;         // group_norm: warps (parts) per (n, c) segment; bn_one: units a channel
    void* sync;        // bn_one: ticket and a counter a channel, u32 [1 + CH], zero at launch
};

template <class K> using C_of = typename K::C;
template <class C> struct wf { C n, m, q; };  // count, mean, sum of squared deviations

// Chan's merge of two states; the order of the operands is part of the result's bits.
template <class C> __device__ __forceinline__ wf<C> wmerge(wf<C> a, wf<C> b) {
    if (b.n == C(0)) return a;
    if (a.n == C(0)) return b;
    const C n = a.n + b.n, d = b.m - a.m, f = b.n / n;
    wf<C> r;
    r.n = n;
    r.m = a.m + d * f;
    r.q = a.q + b.q + d * d * a.n * f;
    return r;
}
template <class C> __device__ __forceinline__ wf<C> wshfl_down(wf<C> v, int o) {
    wf<C> r;
    r.n = __shfl_down_sync(0xffffffffu, v.n, o);
    r.m = __shfl_down_sync(0xffffffffu, v.m, o);
    r.q = __shfl_down_sync(0xffffffffu, v.q, o);
    return r;
}
// Lane 0 ends with the merge of lanes 0..31 in a fixed tree; the other lanes' values are partial.
template <class C> __device__ __forceinline__ wf<C> warp_wmerge(wf<C> v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = wmerge(v, wshfl_down(v, o));
    return v;
}
template <class C> __device__ __forceinline__ C warp_sum0(C v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}
// Lane 0 ends with the warp's combine: forward states by Chan's merge, backward (-, sum, sum) added.
template <int DIR, class C> __device__ __forceinline__ wf<C> warp_combine(wf<C> v) {
    if (DIR == 0) return warp_wmerge(v);
    v.m = warp_sum0(v.m);
    v.q = warp_sum0(v.q);
    return v;
}
// The state of V values held in registers: their mean, then the squared deviations from it.
template <class C, int V> __device__ __forceinline__ wf<C> wlocal(const C (&v)[V]) {
    C s = C(0);
#pragma unroll
    for (int k = 0; k < V; k++) s += v[k];
    const C m = s / C(V);
    C q = C(0);
#pragma unroll
    for (int k = 0; k < V; k++) q += (v[k] - m) * (v[k] - m);
    wf<C> r;
    r.n = C(V);
    r.m = m;
    r.q = q;
    return r;
}
__device__ __forceinline__ float rsqrt_(float v) { return 1.0f / sqrtf(v); }
__device__ __forceinline__ double rsqrt_(double v) { return 1.0 / sqrt(v); }

template <class S, class C, int V>
__device__ __forceinline__ void ldv(C (&v)[V], const S* p) {
    const vec<S, V> q = *reinterpret_cast<const vec<S, V>*>(p);
#pragma unroll
    for (int k = 0; k < V; k++) v[k] = (C)io<S>::load(q.v[k]);
}

enum { CN_UNROLL = 4 };

// ---- group_norm: per (n, c) segment, split in parts -----------------------------------------------

template <class K> struct sg_ {
    static constexpr i64 NV = K::HW / K::VS;  // vectors per segment
    // Vectors per part, and the elements of part k (the last parts may be short or empty).
    static __device__ __forceinline__ i64 per(i64 split) { return (NV + split - 1) / split; }
    static __device__ __forceinline__ i64 count(i64 k, i64 split) {
        const i64 lo = k * per(split), hi = lo + per(split) < NV ? lo + per(split) : NV;
        return hi > lo ? (hi - lo) * K::VS : 0;
    }
};

// One warp per part of a segment: forward a (mean, M2) state, backward (sum dy, sum dy * (x - mean)),
// at part[((n * CH + c) * split + k) * 2].
template <class K>
__device__ __forceinline__ void seg(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    const int lane = threadIdx.x & 31;
    const i64 warps = (i64)gridDim.x * (blockDim.x / 32);
    const i64 works = A.n * K::CH * A.split, per = sg_<K>::per(A.split);
    const T* x = (const T*)A.x;
    const T* dy = (const T*)A.dy;
    for (i64 wk = (i64)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; wk < works; wk += warps) {
        const i64 sg = wk / A.split;
        const i64 lo = (wk % A.split) * per, hi = lo + per < sg_<K>::NV ? lo + per : sg_<K>::NV;
        const T* xs = x + sg * K::HW;
        const T* gs = dy + sg * K::HW;
        C* out = (C*)A.part + wk * 2;
        if (K::DIR == 0) {
            wf<C> st;
            st.n = C(0), st.m = C(0), st.q = C(0);
            for (i64 j0 = lo + lane; j0 < hi; j0 += 32 * CN_UNROLL) {
                C v[CN_UNROLL][K::VS];
                bool ok[CN_UNROLL];
#pragma unroll
                for (int u = 0; u < CN_UNROLL; u++) {
                    const i64 j = j0 + (i64)u * 32;
                    ok[u] = j < hi;
                    if (ok[u]) ldv<T, C, K::VS>(v[u], xs + j * K::VS);
                }
#pragma unroll
                for (int u = 0; u < CN_UNROLL; u++)
                    if (ok[u]) st = wmerge(st, wlocal<C, K::VS>(v[u]));
            }
            st = warp_wmerge(st);
            if (lane == 0) out[0] = st.m, out[1] = st.q;
        } else {
            const i64 n = sg / K::CH, c = sg % K::CH;
            const C mean = ((const C*)A.mean)[n * K::G + c / K::CPG];
            C s1 = C(0), s2 = C(0);
            for (i64 j0 = lo + lane; j0 < hi; j0 += 32 * CN_UNROLL) {
                C v[CN_UNROLL][K::VS], g[CN_UNROLL][K::VS];
                bool ok[CN_UNROLL];
#pragma unroll
                for (int u = 0; u < CN_UNROLL; u++) {
                    const i64 j = j0 + (i64)u * 32;
                    ok[u] = j < hi;
                    if (ok[u]) {
                        ldv<T, C, K::VS>(v[u], xs + j * K::VS);
                        ldv<T, C, K::VS>(g[u], gs + j * K::VS);
                    }
                }
#pragma unroll
                for (int u = 0; u < CN_UNROLL; u++)
                    if (ok[u])
#pragma unroll
                        for (int k = 0; k < K::VS; k++) {
                            s1 += g[u][k];
                            s2 += g[u][k] * (v[u][k] - mean);
                        }
            }
            s1 = warp_sum0(s1);
            s2 = warp_sum0(s2);
            if (lane == 0) out[0] = s1, out[1] = s2;
        }
    }
}

// One warp per statistic s = n * G + g: the group's CPG * split parts, lanes strided (four loads in
// flight), then a fixed shuffle tree. (A thread per statistic was serial in CPG * split: slow for
// G = 1.)
template <class K>
__device__ __forceinline__ void gn_fin(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    const int lane = threadIdx.x & 31;
    const i64 s = (i64)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (s >= A.n * K::G) return;
    const i64 split = A.split, total = K::CPG * split;
    const i64 n = s / K::G, c0 = (s % K::G) * K::CPG;
    const C* part = (const C*)A.part + (n * K::CH + c0) * split * 2;
    C* coef = (C*)A.coef + s * 4;
    const C invl = C(1) / (C(K::CPG) * C(K::HW));
    wf<C> st;
    st.n = C(0), st.m = C(0), st.q = C(0);  // backward: m, q hold the two weighted sums
    for (i64 i0 = lane; i0 < total; i0 += 32 * CN_UNROLL) {
        C a[CN_UNROLL], b[CN_UNROLL];
#pragma unroll
        for (int u = 0; u < CN_UNROLL; u++) {
            const i64 i = i0 + (i64)u * 32;
            if (i < total) a[u] = part[2 * i], b[u] = part[2 * i + 1];
        }
#pragma unroll
        for (int u = 0; u < CN_UNROLL; u++) {
            const i64 i = i0 + (i64)u * 32;
            if (i >= total) continue;
            if (K::DIR == 0) {
                wf<C> e;
                e.n = C(sg_<K>::count(i % split, split)), e.m = a[u], e.q = b[u];
                st = wmerge(st, e);
            } else {
                const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c0 + i / split]) : C(1);
                st.m += w * b[u];  // sum of g * (x - mean)
                st.q += w * a[u];  // sum of g
            }
        }
    }
    st = warp_combine<K::DIR>(st);
    if (lane != 0) return;
    if (K::DIR == 0) {
        const C rstd = rsqrt_(st.q * invl + (C)A.eps);
        coef[0] = st.m, coef[1] = rstd, coef[2] = C(0), coef[3] = C(0);
        if (A.mean) ((C*)A.mean)[s] = st.m;
        if (A.rstd) ((C*)A.rstd)[s] = rstd;
    } else {
        const C mean = ((const C*)A.mean)[s], rstd = ((const C*)A.rstd)[s];
        coef[0] = mean, coef[1] = rstd, coef[2] = st.m * rstd * invl, coef[3] = st.q * invl;
    }
}

// dweight[c] = sum over n of rstd[n, g] * sum(dy * (x - mean)); dbias[c] = sum over n of sum(dy).
template <class K>
__device__ __forceinline__ void gn_wb(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    const i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= K::CH) return;
    const C* part = (const C*)A.part;
    const C* rstd = (const C*)A.rstd;
    C sw = C(0), sb = C(0);
    for (i64 n = 0; n < A.n; n++) {
        const C* p = part + (n * K::CH + c) * A.split * 2;
        C b1 = C(0), b2 = C(0);
        for (i64 sp = 0; sp < A.split; sp++) b1 += p[2 * sp], b2 += p[2 * sp + 1];
        sb += b1;
        sw += b2 * rstd[n * K::G + c / K::CPG];
    }
    if (K::W) ((T*)A.dw)[c] = io<T>::store(sw);
    if (K::B) ((T*)A.db)[c] = io<T>::store(sb);
}

// ---- batch_norm: per (plane chunk, slice of N) ----------------------------------------------------

template <class K> struct pl {
    static constexpr i64 P = (i64)K::CH * K::HW;           // one sample's plane
    static constexpr bool MERGE = K::HW % K::VP == 0;      // a vector lies in one channel
    static constexpr i64 UNIT = MERGE ? K::VP : 1;         // elements per partial state
    static constexpr i64 UNITS = P / UNIT;
    static constexpr i64 UPC = K::HW / UNIT;               // partial states per channel and slice
};

template <class K>
__device__ __forceinline__ void plane(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    constexpr int V = K::VP;
    const i64 vi = (i64)blockIdx.x * K::TPB + threadIdx.x;  // the thread's vector in the plane
    if (vi * V >= pl<K>::P) return;
    const i64 p = vi * V, sl = blockIdx.y;
    const i64 n0 = sl * A.ns, n1 = n0 + A.ns < A.n ? n0 + A.ns : A.n;
    const T* x = (const T*)A.x + p;
    const T* dy = (const T*)A.dy + p;
    C* out = (C*)A.part + sl * pl<K>::UNITS * 2;
    if (K::DIR == 0) {
        C m[V], q[V];
#pragma unroll
        for (int k = 0; k < V; k++) m[k] = C(0), q[k] = C(0);
        C cnt = C(0);
        for (i64 n = n0; n < n1; n += CN_UNROLL) {
            C v[CN_UNROLL][V];
#pragma unroll
            for (int u = 0; u < CN_UNROLL; u++)
                if (n + u < n1) ldv<T, C, V>(v[u], x + (n + u) * pl<K>::P);
#pragma unroll
            for (int u = 0; u < CN_UNROLL; u++)
                if (n + u < n1) {
                    cnt += C(1);
                    const C inv = C(1) / cnt;
#pragma unroll
                    for (int k = 0; k < V; k++) {
                        const C d = v[u][k] - m[k];
                        m[k] += d * inv;
                        q[k] += d * (v[u][k] - m[k]);
                    }
                }
        }
        if (pl<K>::MERGE) {
            wf<C> st;
            st.n = cnt, st.m = m[0], st.q = q[0];
#pragma unroll
            for (int k = 1; k < V; k++) {
                wf<C> b;
                b.n = cnt, b.m = m[k], b.q = q[k];
                st = wmerge(st, b);
            }
            out[vi * 2] = st.m, out[vi * 2 + 1] = st.q;
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) out[(p + k) * 2] = m[k], out[(p + k) * 2 + 1] = q[k];
        }
    } else {
        // Eval: dx = rstd * (dy * w) with the running statistics, known before any sum, so the plane
        // writes dx as it reads dy (no apply pass); x is read only for dweight, the sums only for
        // dweight / dbias.
        constexpr bool NEEDX = !K::EVAL || K::W, SUMS = !K::EVAL || K::W || K::B;
        C mean[V], s1[V], s2[V], er[V], ew[V];
#pragma unroll
        for (int k = 0; k < V; k++) {
            const i64 c = (p + k) / K::HW;
            mean[k] = NEEDX ? ((const C*)A.mean)[c] : C(0);
            s1[k] = C(0), s2[k] = C(0);
            er[k] = K::EVAL ? rsqrt_(((const C*)A.rvar)[c] + (C)A.eps) : C(0);
            ew[k] = K::EVAL && K::W ? (C)io<T>::load(((const T*)A.w)[c]) : C(1);
        }
        for (i64 n = n0; n < n1; n += CN_UNROLL) {
            // The loads held as loaded and converted where used (session 21: converted on arrival,
            // the bf16 kernel held 128 registers and its SASS gave 3 of a trip's loads one
            // destination register, so they could not all be in flight).
            vec<T, V> rv[CN_UNROLL], rg[CN_UNROLL];
#pragma unroll
            for (int u = 0; u < CN_UNROLL; u++)
                if (n + u < n1) {
                    if (NEEDX) rv[u] = *reinterpret_cast<const vec<T, V>*>(x + (n + u) * pl<K>::P);
                    rg[u] = *reinterpret_cast<const vec<T, V>*>(dy + (n + u) * pl<K>::P);
                }
#pragma unroll
            for (int u = 0; u < CN_UNROLL; u++)
                if (n + u < n1) {
                    C v[V], g[V];
#pragma unroll
                    for (int k = 0; k < V; k++) {
                        g[k] = (C)io<T>::load(rg[u].v[k]);
                        v[k] = NEEDX ? (C)io<T>::load(rv[u].v[k]) : C(0);
                    }
                    if (K::EVAL) {
                        vec<T, V> o;
#pragma unroll
                        for (int k = 0; k < V; k++) o.v[k] = io<T>::store(er[k] * (g[k] * ew[k]));
                        *reinterpret_cast<vec<T, V>*>((T*)A.out + (n + u) * pl<K>::P + p) = o;
                    }
                    if (SUMS) {
#pragma unroll
                        for (int k = 0; k < V; k++) {
                            s1[k] += g[k];
                            if (NEEDX) s2[k] += g[k] * (v[k] - mean[k]);
                        }
                    }
                }
        }
        if (!SUMS) return;
        if (pl<K>::MERGE) {
            C a = s1[0], b = s2[0];
#pragma unroll
            for (int k = 1; k < V; k++) a += s1[k], b += s2[k];
            out[vi * 2] = a, out[vi * 2 + 1] = b;
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) out[(p + k) * 2] = s1[k], out[(p + k) * 2 + 1] = s2[k];
        }
    }
}

// A training forward's channel statistics out: the saved mean / rstd (where asked) and the running
// stats' momentum update (the unbiased variance, M2 / (M - 1), M the channel's count).
template <class K, class C>
__device__ __forceinline__ void bn_save(const cn_args& A, i64 c, C mean, C rstd, C m2, C M) {
    if (A.mean) ((C*)A.mean)[c] = mean;
    if (A.rstd) ((C*)A.rstd)[c] = rstd;
    if (K::RUN) {
        const C mo = (C)A.momentum;
        C* rm = (C*)A.rmean + c;
        C* rv = (C*)A.rvar + c;
        *rm = (C(1) - mo) * *rm + mo * mean;
        *rv = (C(1) - mo) * *rv + mo * (m2 / (M - C(1)));
    }
}

// One CTA (FIN_THREADS) per channel of the pass: threads take the channel's partial states in a
// strided order (four loads in flight), then a fixed shuffle tree per warp and warp 0's thread 0
// over the warps in order. M = N * HW values per channel.
enum { FIN_THREADS = 256, FIN_WARPS = FIN_THREADS / 32 };

template <class K>
__device__ __forceinline__ void bn_fin(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    __shared__ wf<C> red[FIN_WARPS];
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const i64 c = blockIdx.x;
    const C M = C(A.n * K::HW);
    C* coef = (C*)A.coef + c * 4;
    const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c]) : C(1);
    if (K::DIR == 0 && K::EVAL) {
        if (threadIdx.x == 0) {
            coef[0] = ((const C*)A.rmean)[c];
            coef[1] = rsqrt_(((const C*)A.rvar)[c] + (C)A.eps);
            coef[2] = C(0), coef[3] = C(0);
        }
        return;
    }
    constexpr i64 UPC = pl<K>::UPC;
    const i64 total = A.slices * UPC;
    const C* part = (const C*)A.part;
    wf<C> st;
    st.n = C(0), st.m = C(0), st.q = C(0);  // backward: m, q hold the two sums
    for (i64 i0 = threadIdx.x; i0 < total; i0 += FIN_THREADS * CN_UNROLL) {
        C a[CN_UNROLL], b[CN_UNROLL];
        i64 sl[CN_UNROLL];
#pragma unroll
        for (int u = 0; u < CN_UNROLL; u++) {
            const i64 i = i0 + (i64)u * FIN_THREADS;
            sl[u] = i < total ? i / UPC : -1;
            if (sl[u] >= 0) {
                const i64 at = (sl[u] * pl<K>::UNITS + c * UPC + i % UPC) * 2;
                a[u] = part[at], b[u] = part[at + 1];
            }
        }
#pragma unroll
        for (int u = 0; u < CN_UNROLL; u++) {
            if (sl[u] < 0) continue;
            if (K::DIR == 0) {
                const i64 n0 = sl[u] * A.ns, n1 = n0 + A.ns < A.n ? n0 + A.ns : A.n;
                wf<C> e;
                e.n = C((n1 - n0) * pl<K>::UNIT), e.m = a[u], e.q = b[u];
                st = wmerge(st, e);
            } else {
                st.m += a[u], st.q += b[u];
            }
        }
    }
    st = warp_combine<K::DIR>(st);
    if (lane == 0) red[warp] = st;
    __syncthreads();
    if (threadIdx.x != 0) return;
    st = red[0];
    for (int i = 1; i < FIN_WARPS; i++) {
        if (K::DIR == 0) st = wmerge(st, red[i]);
        else st.m += red[i].m, st.q += red[i].q;
    }
    if (K::DIR == 0) {
        const C var = st.q / M, rstd = rsqrt_(var + (C)A.eps);
        coef[0] = st.m, coef[1] = rstd, coef[2] = C(0), coef[3] = C(0);
        bn_save<K>(A, c, st.m, rstd, st.q, M);
    } else {
        const C s1 = st.m, s2 = st.q;
        // mean: the saved mean (training) or running_mean (eval), as the plane used.
        const C mean = ((const C*)A.mean)[c];
        const C rstd = K::EVAL ? rsqrt_(((const C*)A.rvar)[c] + (C)A.eps) : ((const C*)A.rstd)[c];
        const C dwv = s2 * rstd;
        coef[0] = mean, coef[1] = rstd;
        coef[2] = K::EVAL ? C(0) : w * dwv / M;
        coef[3] = K::EVAL ? C(0) : w * s1 / M;
        if (K::W) ((T*)A.dw)[c] = io<T>::store(dwv);
        if (K::B) ((T*)A.db)[c] = io<T>::store(s1);
    }
}

// ---- group_norm forward, one read of x (gn_one) -----------------------------------------------------
// A cluster of CL CTAs (sm_90; CL = 1 elsewhere) holds one (n, g) group of E = CPG * HW contiguous
// elements in shared memory, SL = E / CL elements a CTA, loaded with cp.async (16-byte vectors, all
// in flight at once); one group a cluster, three CTAs an SM. The mean, then the squared deviations from it, are summed from shared memory
// (per thread in order, warps by a fixed shuffle tree, warps in order, the cluster's CTAs in rank
// order through distributed shared memory: every CTA gets the same bits); y is written from shared
// memory. x is read once (the seg / fin / apply sequence reads it twice). VA elements a vector,
// VA dividing HW (a vector lies in one channel) and SL.
// Sums of the threads' values v[0..N-1] over the CTA (per warp a fixed shuffle tree, then the warps
// in order) and, with CLU, over the cluster's CTAs in rank order through distributed shared memory:
// every thread (of every CTA) gets the same bits. red: N * (threads / 32) shared values; slot: N
// shared values, a pair of sums that follow each other must use different slots (a CTA may still
// read the first's while another writes the second).
template <class K, int N, bool CLU>
__device__ __forceinline__ void gn_one_sum(C_of<K> (&v)[N], C_of<K>* red, C_of<K>* slot) {
    typedef C_of<K> C;
    enum { NW = K::ONE_THREADS / 32 };
#pragma unroll
    for (int j = 0; j < N; j++) {
        const C w = warp_sum0(v[j]);
        if ((threadIdx.x & 31) == 0) red[j * NW + threadIdx.x / 32] = w;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < N; j++) {
        C t = red[j * NW];
#pragma unroll
        for (int w = 1; w < NW; w++) t += red[j * NW + w];
        v[j] = t;
    }
    if constexpr (CLU && K::CL > 1) {
        if (threadIdx.x == 0)
#pragma unroll
            for (int j = 0; j < N; j++) slot[j] = v[j];
        cluster_base<K::CL>::sync();
        const unsigned lane = threadIdx.x & 31u;
#pragma unroll
        for (int j = 0; j < N; j++) {
            C q = C(0);
            if (lane < (unsigned)K::CL) cluster_base<K::CL>::ld(cluster_base<K::CL>::map(slot + j, lane), q);
            C t = __shfl_sync(0xffffffffu, q, 0);
#pragma unroll
            for (int r = 1; r < K::CL; r++) t += __shfl_sync(0xffffffffu, q, r);
            v[j] = t;
        }
    }
    __syncthreads();  // red is reused by the next sum
}
template <class K>
__device__ __forceinline__ C_of<K> gn_one_sum1(C_of<K> v, C_of<K>* red, C_of<K>* slot) {
    C_of<K> a[1] = {v};
    gn_one_sum<K, 1, true>(a, red, slot);
    return a[0];
}

// The slice's loads (cp.async, 16 bytes each, one group with the caller's others).
template <class K>
__device__ __forceinline__ void gn_one_load(typename K::T* sm, const typename K::T* x, i64 nv) {
    for (i64 i = threadIdx.x; i < nv; i += K::ONE_THREADS)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_u32(sm + i * K::VA)), "l"(x + i * K::VA)
                     : "memory");
}

template <class K>
__device__ __forceinline__ void gn_one(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    enum { V = K::VA, NT = K::ONE_THREADS, CL = K::CL };
    constexpr i64 E = K::CPG * K::HW, SL = E / CL, NV = SL / V;
    extern __shared__ __align__(16) unsigned char dsm[];
    __shared__ C red[NT / 32];
    __shared__ C slots[2];
    T* sm = reinterpret_cast<T*>(dsm);
    const unsigned rank = CL > 1 ? blockIdx.x % CL : 0;
    const i64 s = blockIdx.x / CL;  // the statistic: n * G + g
    const i64 off = s * E + (i64)rank * SL;
    gn_one_load<K>(sm, (const T*)A.x + off, NV);
    asm volatile("cp.async.commit_group;\n\tcp.async.wait_group 0;" ::: "memory");
    __syncthreads();
    C a = C(0);
    for (i64 i = threadIdx.x; i < NV; i += NT) {
        C v[V];
        ldv<T, C, V>(v, sm + i * V);
#pragma unroll
        for (int k = 0; k < V; k++) a += v[k];
    }
    const C mean = gn_one_sum1<K>(a, red, slots) / C(E);
    C q = C(0);
    for (i64 i = threadIdx.x; i < NV; i += NT) {
        C v[V];
        ldv<T, C, V>(v, sm + i * V);
#pragma unroll
        for (int k = 0; k < V; k++) q += (v[k] - mean) * (v[k] - mean);
    }
    const C rstd = rsqrt_(gn_one_sum1<K>(q, red, slots + 1) / C(E) + (C)A.eps);
    if (rank == 0 && threadIdx.x == 0) {
        if (A.mean) ((C*)A.mean)[s] = mean;
        if (A.rstd) ((C*)A.rstd)[s] = rstd;
    }
    const i64 c0 = (s % K::G) * K::CPG;
    T* y = (T*)A.out + off;
    for (i64 i = threadIdx.x; i < NV; i += NT) {
        C v[V];
        ldv<T, C, V>(v, sm + i * V);
        const i64 c = c0 + ((i64)rank * SL + i * V) / K::HW;
        const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c]) * rstd : rstd;
        const C b = K::B ? (C)io<T>::load(((const T*)A.b)[c]) : C(0);
        vec<T, V> o;
#pragma unroll
        for (int k = 0; k < V; k++) o.v[k] = io<T>::store((v[k] - mean) * w + b);
        *reinterpret_cast<vec<T, V>*>(y + i * V) = o;
    }
    if constexpr (CL > 1) cluster_base<CL>::sync();  // no CTA leaves while its slots may be read
}

// group_norm backward, one read of x and dy (gn_one_bwd): as gn_one, the group's x and dy slices in
// shared memory (SL elements each a CTA, a slice holding whole channels: CPS = SL / HW of them);
// per channel (sum dy, sum dy (x - mean)) by the whole CTA in a fixed order, written to part (split 1:
// gn_wb's input for dweight / dbias); the group's sum w sumdy and sum w sum dy (x - mean) over the
// channels in order, then the cluster in rank order; dx from shared memory as apply computes it.
// HW / VA is a multiple of the CTA's threads (every thread the same number of vectors a channel).
template <class K>
__device__ __forceinline__ void gn_one_bwd(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    enum { V = K::VA, NT = K::ONE_THREADS, CL = K::CL };
    constexpr i64 E = K::CPG * K::HW, SL = E / CL, NV = SL / V, CPS = SL / K::HW, VPC = K::HW / V;
    extern __shared__ __align__(16) unsigned char dsm[];
    __shared__ C red[2 * (NT / 32)];
    __shared__ C slots[2];
    T* xs = reinterpret_cast<T*>(dsm);
    T* gs = xs + SL;
    const unsigned rank = CL > 1 ? blockIdx.x % CL : 0;
    const i64 s = blockIdx.x / CL, n = s / K::G;
    const i64 off = s * E + (i64)rank * SL, c0 = (s % K::G) * K::CPG + (i64)rank * CPS;
    gn_one_load<K>(xs, (const T*)A.x + off, NV);
    gn_one_load<K>(gs, (const T*)A.dy + off, NV);
    asm volatile("cp.async.commit_group;\n\tcp.async.wait_group 0;" ::: "memory");
    __syncthreads();
    const C mean = ((const C*)A.mean)[s], rstd = ((const C*)A.rstd)[s];
    C acc[2] = {C(0), C(0)};  // sum over the slice's channels of w sum dy, w sum dy (x - mean)
    for (int ch = 0; ch < (int)CPS; ch++) {
        C p[2] = {C(0), C(0)};
        for (i64 i = ch * VPC + threadIdx.x; i < (ch + 1) * VPC; i += NT) {
            C v[V], g[V];
            ldv<T, C, V>(v, xs + i * V);
            ldv<T, C, V>(g, gs + i * V);
#pragma unroll
            for (int k = 0; k < V; k++) p[0] += g[k], p[1] += g[k] * (v[k] - mean);
        }
        gn_one_sum<K, 2, false>(p, red, slots);
        const i64 c = c0 + ch;
        if ((K::W || K::B) && threadIdx.x == 0) {
            C* part = (C*)A.part + (n * K::CH + c) * 2;
            part[0] = p[0], part[1] = p[1];
        }
        const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c]) : C(1);
        acc[0] += w * p[0], acc[1] += w * p[1];
    }
    // acc is the same in every thread: thread 0's (the others' zeros add exactly) summed over the
    // cluster in rank order.
    if (threadIdx.x != 0) acc[0] = acc[1] = C(0);
    gn_one_sum<K, 2, true>(acc, red, slots);
    const C c2 = acc[0] / C(E), c1 = acc[1] * rstd / C(E);
    T* dx = (T*)A.out + off;
    for (i64 i = threadIdx.x; i < NV; i += NT) {
        C v[V], g[V];
        ldv<T, C, V>(v, xs + i * V);
        ldv<T, C, V>(g, gs + i * V);
        const i64 c = c0 + i / VPC;
        const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c]) : C(1);
        vec<T, V> o;
#pragma unroll
        for (int k = 0; k < V; k++) o.v[k] = io<T>::store(rstd * (g[k] * w - ((v[k] - mean) * rstd * c1 + c2)));
        *reinterpret_cast<vec<T, V>*>(dx + i * V) = o;
    }
    if constexpr (CL > 1) cluster_base<CL>::sync();  // no CTA leaves while its slots may be read
}

// ---- batch_norm training, one read of x (and dy): bn_one ------------------------------------------
// A CTA takes a unit by ticket: unit u of channel c is the channel's vectors [u M / Q, (u + 1) M / Q)
// (M = N * HW / VP vectors, sample-major; Q = A.split units a channel), walked in chunks of TPB * BV
// vectors, the last chunk held in registers. The unit's partial (forward: mean and M2 of its values;
// backward: sum dy and sum dy * (x - mean)) goes to part[c][u]; a counter a channel (sync[1 + c],
// release add, acquire spin) says when the channel's Q partials are all there; every CTA of the
// channel then merges them in unit order (the same bits in each), and normalizes its unit: the
// register chunk without a second read, earlier chunks (units longer than a chunk) read again.
// Tickets are taken in order, so a CTA waits only for CTAs that hold tickets or will get the next
// ones: no deadlock while Q CTAs can be resident at once (the plan keeps Q <= half of what the GPU
// holds). sync[0] is the ticket; the plan zeroes sync[0 .. CH] before every launch.
template <class K> struct bo {
    typedef typename K::T T;
    typedef typename K::C C;
    enum { VEC = K::VP, V = K::BV, NW = K::TPB / 32 };
    static constexpr i64 VPH = K::HW / VEC;  // vectors of an (n, c) segment
    static constexpr i64 CHUNK = (i64)K::TPB * V;
    static __device__ __forceinline__ i64 at(i64 c, i64 k) {
        const i64 n = k / VPH;
        return (n * K::CH + c) * K::HW + (k - n * VPH) * VEC;
    }
    // Held as machine words (16- and 8-bit elements one a register would double the registers).
    typedef wvec<T, VEC> W;
    static __device__ __forceinline__ void load(W (&r)[V], const T* p, i64 c, i64 kb, i64 k1) {
#pragma unroll
        for (int j = 0; j < V; j++) {
            const i64 k = kb + (i64)j * K::TPB;
            if (k < k1) r[j].w = *reinterpret_cast<const decltype(r[j].w)*>(p + at(c, k));
        }
    }
};

__device__ __forceinline__ void bo_release_add(u32* p) {
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(p) : "memory");
}
__device__ __forceinline__ u32 bo_acquire(const u32* p) {
    u32 v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

template <class K>
__device__ __forceinline__ void bn_one(const cn_args& A) {
    typedef bo<K> B;
    typedef typename B::T T;
    typedef typename B::C C;
    constexpr int VEC = B::VEC, V = B::V, NW = B::NW;
    __shared__ u32 s_unit;
    __shared__ wf<C> red[NW];
    __shared__ C s_co[4];
    u32* sync = (u32*)A.sync;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    if (tid == 0) s_unit = atomicAdd(sync, 1u);
    __syncthreads();
    const i64 Q = A.split, unit = s_unit, c = unit / Q, u = unit - c * Q;
    const i64 M = A.n * B::VPH;
    const i64 k0 = u * M / Q, k1 = (u + 1) * M / Q, nch = (k1 - k0 + B::CHUNK - 1) / B::CHUNK;
    const T* x = (const T*)A.x;
    const T* dy = (const T*)A.dy;
    typename B::W r[V], g[V];
    // This thread's partial over its vectors of every chunk: forward (n, mean, M2), a chunk's own
    // mean and deviations merged by Chan's formula; backward (-, sum dy, sum dy * (x - mean)).
    wf<C> st;
    st.n = C(0), st.m = C(0), st.q = C(0);
    const C cmean = K::DIR ? ((const C*)A.mean)[c] : C(0);
#pragma unroll 1
    for (i64 h = 0; h < nch; h++) {
        const i64 kb = k0 + h * B::CHUNK + tid;
        B::load(r, x, c, kb, k1);
        if (K::DIR) B::load(g, dy, c, kb, k1);
        if (K::DIR == 0) {
            // a vector's own mean and deviations, merged into the thread's state in order
#pragma unroll
            for (int j = 0; j < V; j++)
                if (kb + (i64)j * K::TPB < k1) {
                    C v[VEC];
#pragma unroll
                    for (int e = 0; e < VEC; e++) v[e] = (C)io<T>::load(r[j].v[e]);
                    st = wmerge(st, wlocal<C, VEC>(v));
                }
        } else {
#pragma unroll
            for (int j = 0; j < V; j++)
                if (kb + (i64)j * K::TPB < k1) {
#pragma unroll
                    for (int e = 0; e < VEC; e++) {
                        const C gv = (C)io<T>::load(g[j].v[e]);
                        st.m += gv;
                        st.q += gv * ((C)io<T>::load(r[j].v[e]) - cmean);
                    }
                }
        }
    }
    // The unit's partial: a fixed tree a warp, the warps in order.
    st = warp_combine<K::DIR>(st);
    if (lane == 0) red[warp] = st;
    __syncthreads();
    C* part = (C*)A.part + c * Q * 2;
    if (tid == 0) {
        wf<C> t = red[0];
#pragma unroll
        for (int i = 1; i < NW; i++) {
            if (K::DIR == 0) t = wmerge(t, red[i]);
            else t.m += red[i].m, t.q += red[i].q;
        }
        __stcg(part + u * 2, t.m);
        __stcg(part + u * 2 + 1, t.q);
        bo_release_add(sync + 1 + c);
        while (bo_acquire(sync + 1 + c) < (u32)Q) __nanosleep(32);
    }
    __syncthreads();
    // The channel's statistics from its Q partials, in unit order (lane l: units l, l + 32, ...;
    // then the warp's fixed tree): every CTA of the channel computes the same bits.
    if (warp == 0) {
        wf<C> t;
        t.n = C(0), t.m = C(0), t.q = C(0);
        for (i64 v = lane; v < Q; v += 32) {
            wf<C> e;
            e.n = C(((v + 1) * M / Q - v * M / Q) * VEC);
            e.m = __ldcg(part + v * 2), e.q = __ldcg(part + v * 2 + 1);
            if (K::DIR == 0) t = wmerge(t, e);
            else t.m += e.m, t.q += e.q;
        }
        t = warp_combine<K::DIR>(t);
        if (lane == 0) {
            const C cnt = C(M * VEC);
            const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c]) : C(1);
            if (K::DIR == 0) {
                const C rstd = rsqrt_(t.q / cnt + (C)A.eps);
                s_co[0] = t.m, s_co[1] = rstd, s_co[2] = w, s_co[3] = K::B ? (C)io<T>::load(((const T*)A.b)[c]) : C(0);
                if (u == 0) bn_save<K>(A, c, t.m, rstd, t.q, cnt);
            } else {
                const C rstd = ((const C*)A.rstd)[c], dwv = t.q * rstd;
                s_co[0] = rstd, s_co[1] = w, s_co[2] = w * dwv / cnt, s_co[3] = w * t.m / cnt;
                if (u == 0) {
                    if (K::W) ((T*)A.dw)[c] = io<T>::store(dwv);
                    if (K::B) ((T*)A.db)[c] = io<T>::store(t.m);
                }
            }
        }
    }
    __syncthreads();
    // Normalize: the register chunk first, then the earlier chunks read again.
    const C a0 = s_co[0], a1 = s_co[1], a2 = s_co[2], a3 = s_co[3];
    T* out = (T*)A.out;
#pragma unroll 1
    for (i64 h = nch - 1; h >= 0; h--) {
        const i64 kb = k0 + h * B::CHUNK + tid;
        if (h != nch - 1) {
            B::load(r, x, c, kb, k1);
            if (K::DIR) B::load(g, dy, c, kb, k1);
        }
#pragma unroll
        for (int j = 0; j < V; j++) {
            const i64 k = kb + (i64)j * K::TPB;
            if (k >= k1) continue;
            typename B::W o;
#pragma unroll
            for (int e = 0; e < VEC; e++) {
                const C xv = (C)io<T>::load(r[j].v[e]);
                C y;
                if (K::DIR == 0) {
                    y = (xv - a0) * a1 * a2 + a3;  // mean, rstd, w, b
                } else {
                    const C xh = (xv - cmean) * a0;  // rstd, w, c1, c2
                    y = a0 * ((C)io<T>::load(g[j].v[e]) * a1 - (xh * a2 + a3));
                }
                o.v[e] = io<T>::store(y);
            }
            *reinterpret_cast<decltype(o.w)*>(out + B::at(c, k)) = o.w;
        }
    }
}

// ---- every element -------------------------------------------------------------------------------

template <class K>
__device__ __forceinline__ void apply(const cn_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    constexpr int V = K::VA;
    constexpr i64 P = (i64)K::CH * K::HW;
    constexpr bool ONE = K::HW % K::VA == 0;  // a vector lies in one channel
    const i64 nvec = A.n * (P / V), step = (i64)gridDim.x * blockDim.x;
    const C* coef = (const C*)A.coef;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < nvec; i += step) {
        const i64 e = i * V, n = e / P, r = e % P;
        C v[V], g[V];
        ldv<T, C, V>(v, (const T*)A.x + e);
        if (K::DIR == 1) ldv<T, C, V>(g, (const T*)A.dy + e);
        vec<T, V> o;
#pragma unroll
        for (int k = 0; k < V; k++) {
            const i64 c = ONE ? r / K::HW : (r + k) / K::HW;
            const i64 s = K::BN ? c : n * K::G + c / K::CPG;
            const C mean = coef[s * 4], rstd = coef[s * 4 + 1];
            const C w = K::W ? (C)io<T>::load(((const T*)A.w)[c]) : C(1);
            const C xh = (v[k] - mean) * rstd;
            C y;
            if (K::DIR == 0) {
                y = xh * w;
                if (K::B) y += (C)io<T>::load(((const T*)A.b)[c]);
            } else {
                y = rstd * (g[k] * w - (xh * coef[s * 4 + 2] + coef[s * 4 + 3]));
            }
            o.v[k] = io<T>::store(y);
        }
        *reinterpret_cast<vec<T, V>*>((T*)A.out + e) = o;
    }
}

}  // namespace brc
