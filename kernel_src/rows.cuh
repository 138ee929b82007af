// Row-wise kernels over the last axis of a [rows, cols] tensor: softmax and log_softmax, rms_norm
// and layer_norm, forward and backward, and the column reduction that finishes the weight and bias
// gradients. A plan bakes the geometry into struct K (generated per plan by runtime/ops/rows.c):
//   T, C      storage and compute types (halves compute in f32, f64 in f64)
//   COLS      the row length;  VEC  elements per vector access (COLS % VEC == 0)
//   TPR       threads per row in one CTA;  RPB  rows per CTA (TPR * RPB threads)
//   CL        CTAs per row: a thread-block cluster (sm_90) that splits the row; 1 otherwise
//   NV        vectors per thread per chunk;  ITER  chunks per CTA. ITER == 1 keeps the row in
//             registers between the passes (one read, one write: copy speed); ITER > 1 re-reads
//             it from memory (rows too long for the registers of one CTA or cluster)
//   LOG LAYER W B RES   op flags (log_softmax; layer_norm; weight; bias; fused residual add)
// Thread t of CTA rank r owns, in chunk it, vectors j = 0..NV-1 at columns
//   ((it * CL + r) * NV * TPR + j * TPR + t) * VEC       (consecutive threads, consecutive vectors)
// and owns the same columns in every pass and every row, so a pass may reuse what an earlier
// one loaded and the backward's per-column partial sums stay in the thread's registers.
// Reductions are deterministic: a fixed shuffle butterfly, then a fixed order over warps and
// over the cluster's CTAs; every thread of a row ends with the bitwise same value.
#pragma once

namespace brc {

// The one argument block of every row kernel; 8-byte fields only, mirrored by the host.
struct rows_args {
    const void* a;     // x (forward, norm backward) or y (softmax backward)
    const void* b;     // residual (forward) or dy (backward)
    const void* w;     // weight [COLS] or null
    const void* bias;  // bias [COLS] or null
    void* out;         // y (forward) or dx (backward)
    void* sum;         // x + residual (fused residual forward)
    void* mean;        // saved statistics, C [rows]; null: not saved (forward)
    void* rstd;
    void* part;        // norm backward: partial dweight / dbias sums, C [W + B][nparts][COLS]
    void* dw;
    void* db;
    i64 rows;
    i64 sa, sb, sout, ssum;  // row strides in elements
    double eps;
    i64 nparts;        // partial rows per gradient (CTA groups of the grid * RPB)
};

template <class C> struct pr { C a, b; };
template <class C> __device__ __forceinline__ pr<C> mk(C a, C b) { pr<C> p; p.a = a; p.b = b; return p; }
template <class C> __device__ __forceinline__ C ninf();
template <> __device__ __forceinline__ float ninf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double ninf<double>() { return __longlong_as_double(0xfff0000000000000ULL); }
__device__ __forceinline__ float ex_(float x) { return expf(x); }
__device__ __forceinline__ double ex_(double x) { return exp(x); }
__device__ __forceinline__ float lg_(float x) { return logf(x); }
__device__ __forceinline__ double lg_(double x) { return log(x); }
__device__ __forceinline__ float sqrt_(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt_(double x) { return sqrt(x); }

struct add_op {
    template <class C> static __device__ __forceinline__ pr<C> f(pr<C> x, pr<C> y) { return mk(x.a + y.a, x.b + y.b); }
};
// (max, sum of exp(v - max)) pairs. Commutative bit for bit (the sum's two terms swap), so a
// butterfly leaves every lane with the same pair. An empty side is (-inf, 0).
struct lse_op {
    template <class C> static __device__ __forceinline__ pr<C> f(pr<C> x, pr<C> y) {
        const C m = x.a > y.a ? x.a : y.a;
        if (m == ninf<C>()) return mk(m, x.b + y.b);
        return mk(m, x.b * ex_(x.a - m) + y.b * ex_(y.a - m));
    }
};

// Thread-block cluster primitives (sm_90). Members of a class template, so that nothing here is
// compiled unless a CL > 1 kernel uses it.
template <int CL> struct cluster {
    static __device__ __forceinline__ void sync() {
        asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
    }
    static __device__ __forceinline__ unsigned map(const void* local, unsigned rank) {
        unsigned a, ra;
        asm volatile("{ .reg .u64 s; cvta.to.shared.u64 s, %1; cvt.u32.u64 %0, s; }" : "=r"(a) : "l"(local));
        asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(ra) : "r"(a), "r"(rank));
        return ra;
    }
    static __device__ __forceinline__ void ld(unsigned a, float& v) {
        asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(a) : "memory");
    }
    static __device__ __forceinline__ void ld(unsigned a, double& v) {
        asm volatile("ld.shared::cluster.f64 %0, [%1];" : "=d"(v) : "r"(a) : "memory");
    }
    template <class C> static __device__ __forceinline__ pr<C> load(const pr<C>* local, unsigned rank) {
        const unsigned a = map(local, rank);
        pr<C> v;
        ld(a, v.a);
        ld(a + (unsigned)sizeof(C), v.b);
        return v;
    }
};

template <class K> struct rg {
    enum {
        THREADS = K::TPR * K::RPB,
        SLAB = K::NV * K::TPR * K::VEC,
        NW = K::TPR > 32 ? K::TPR / 32 : 1,  // warps per row
        WL = K::TPR < 32 ? K::TPR : 32,      // lanes per row within a warp
        FULL = (K::CL * K::ITER * K::NV * K::TPR * K::VEC == K::COLS)
    };
    static __device__ __forceinline__ int col(int it, int r, int j, int t) {
        return ((it * K::CL + r) * (K::NV * K::TPR) + j * K::TPR + t) * K::VEC;
    }
    static __device__ __forceinline__ bool in(int c) { return FULL || c < K::COLS; }
};

// Loads the thread's vectors of chunk it of one row (p: the row's first element) into v, in the
// compute type; columns past the row, and rows that do not exist (!ok), read as 0.
template <class K, class S, class C>
__device__ __forceinline__ void ld(C (&v)[K::NV][K::VEC], const S* p, int it, int r, int t, bool ok) {
#pragma unroll
    for (int j = 0; j < K::NV; j++) {
        const int c = rg<K>::col(it, r, j, t);
        if (ok && rg<K>::in(c)) {
            const vec<S, K::VEC> q = *reinterpret_cast<const vec<S, K::VEC>*>(p + c);
#pragma unroll
            for (int k = 0; k < K::VEC; k++) v[j][k] = (C)io<S>::load(q.v[k]);
        } else {
#pragma unroll
            for (int k = 0; k < K::VEC; k++) v[j][k] = C(0);
        }
    }
}

template <class K, class S, class C>
__device__ __forceinline__ void st(S* p, const C (&v)[K::NV][K::VEC], int it, int r, int t, bool ok) {
#pragma unroll
    for (int j = 0; j < K::NV; j++) {
        const int c = rg<K>::col(it, r, j, t);
        if (ok && rg<K>::in(c)) {
            vec<S, K::VEC> q;
#pragma unroll
            for (int k = 0; k < K::VEC; k++) q.v[k] = io<S>::store(v[j][k]);
            *reinterpret_cast<vec<S, K::VEC>*>(p + c) = q;
        }
    }
}

// Reduces v over the row (the TPR threads of the row in this CTA, then the CL CTAs) with Op.
// red holds 2 * RPB * NW pairs, cred 2: consecutive calls alternate halves, and between two uses
// of one half lies a whole barrier of the call in between, so no reader is overtaken.
template <class K, class Op, class C>
__device__ __forceinline__ pr<C> allreduce(pr<C> v, pr<C>* red, pr<C>* cred, int& phase) {
#pragma unroll
    for (int o = rg<K>::WL / 2; o > 0; o >>= 1)
        v = Op::f(v, mk(__shfl_xor_sync(0xffffffffu, v.a, o), __shfl_xor_sync(0xffffffffu, v.b, o)));
    if (K::TPR > 32) {
        const int NW = rg<K>::NW;
        pr<C>* buf = red + (phase & 1) * (K::RPB * NW);
        const int rib = threadIdx.x / K::TPR, w = (threadIdx.x % K::TPR) / 32;
        if ((threadIdx.x & 31) == 0) buf[rib * NW + w] = v;
        __syncthreads();
        v = buf[rib * NW];
#pragma unroll
        for (int i = 1; i < NW; i++) v = Op::f(v, buf[rib * NW + i]);
    }
    if constexpr (K::CL > 1) {
        pr<C>* slot = cred + (phase & 1);
        if (threadIdx.x == 0) *slot = v;
        cluster<K::CL>::sync();
        v = cluster<K::CL>::load(slot, 0u);
#pragma unroll
        for (unsigned q = 1; q < (unsigned)K::CL; q++) v = Op::f(v, cluster<K::CL>::load(slot, q));
    }
    phase++;
    return v;
}

// Common prologue: the thread's place. Rows are walked by CTA groups (CL CTAs share a row), a
// grid-stride loop so that any grid size is correct.
#define BRC_ROWS_SETUP                                                                             \
    typedef typename K::T T;                                                                       \
    typedef typename K::C C;                                                                       \
    __shared__ pr<C> red[2 * K::RPB * rg<K>::NW];                                                  \
    __shared__ pr<C> cred[2];                                                                      \
    int phase = 0;                                                                                 \
    const int t = threadIdx.x % K::TPR, rib = threadIdx.x / K::TPR;                               \
    const int r = K::CL > 1 ? (int)(blockIdx.x % K::CL) : 0;                                      \
    const i64 groups = (A.rows + K::RPB - 1) / K::RPB;                                             \
    const i64 gstep = gridDim.x / K::CL;                                                           \
    (void)red; (void)cred; (void)phase

// ---- softmax / log_softmax ---------------------------------------------------------------------

template <class K>
__device__ __forceinline__ void softmax_fwd(const rows_args& A) {
    BRC_ROWS_SETUP;
    const T* x = (const T*)A.a;
    T* y = (T*)A.out;
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* xr = x + (ok ? row : 0) * A.sa;
        T* yr = y + (ok ? row : 0) * A.sout;
        C v[K::NV][K::VEC];
        pr<C> acc = mk(ninf<C>(), C(0));
        C mloc = ninf<C>();
        for (int it = 0; it < K::ITER; it++) {
            ld<K>(v, xr, it, r, t, ok);
            C m = ninf<C>();
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    if (ok && rg<K>::in(rg<K>::col(it, r, j, t))) m = v[j][k] > m ? v[j][k] : m;
            C s = C(0);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    const bool in = ok && rg<K>::in(rg<K>::col(it, r, j, t)) && m != ninf<C>();
                    const C e = in ? ex_(v[j][k] - m) : C(0);
                    s += e;
                    // Plain softmax with the row in registers keeps exp(v - m_local) and rescales
                    // it by exp(m_local - m_row) below: one exp per element, not two.
                    if (!K::LOG && K::ITER == 1) v[j][k] = e;
                }
            mloc = m;
            acc = lse_op::f(acc, mk(m, s));
        }
        acc = allreduce<K, lse_op>(acc, red, cred, phase);
        const C m = acc.a, inv = C(1) / acc.b, lse = acc.a + lg_(acc.b);
        const C scale = mloc == ninf<C>() ? C(0) : ex_(mloc - m) * inv;
        for (int it = 0; it < K::ITER; it++) {
            if (K::ITER > 1) ld<K>(v, xr, it, r, t, ok);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    if (K::LOG) v[j][k] = v[j][k] - lse;
                    else if (K::ITER == 1) v[j][k] = v[j][k] * scale;
                    else v[j][k] = ex_(v[j][k] - m) * inv;
                }
            st<K>(yr, v, it, r, t, ok);
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();  // no CTA leaves while its smem may be read
}

// dx = y * (dy - sum(y * dy))  (softmax);  dx = dy - exp(y) * sum(dy)  (log_softmax)
template <class K>
__device__ __forceinline__ void softmax_bwd(const rows_args& A) {
    BRC_ROWS_SETUP;
    const T* y = (const T*)A.a;
    const T* dy = (const T*)A.b;
    T* dx = (T*)A.out;
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* yr = y + (ok ? row : 0) * A.sa;
        const T* gr = dy + (ok ? row : 0) * A.sb;
        T* xr = dx + (ok ? row : 0) * A.sout;
        C v[K::NV][K::VEC], q[K::NV][K::VEC];
        C s = C(0);
        for (int it = 0; it < K::ITER; it++) {
            ld<K>(v, yr, it, r, t, ok);
            ld<K>(q, gr, it, r, t, ok);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) s += K::LOG ? q[j][k] : v[j][k] * q[j][k];
        }
        const C S = allreduce<K, add_op>(mk(s, C(0)), red, cred, phase).a;
        for (int it = 0; it < K::ITER; it++) {
            if (K::ITER > 1) {
                ld<K>(v, yr, it, r, t, ok);
                ld<K>(q, gr, it, r, t, ok);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    v[j][k] = K::LOG ? q[j][k] - ex_(v[j][k]) * S : v[j][k] * (q[j][k] - S);
            st<K>(xr, v, it, r, t, ok);
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// ---- rms_norm / layer_norm ------------------------------------------------------------------------

// Weight and bias stay in registers across rows when the row does and they are few.
template <class K> struct hold { enum { V = K::ITER == 1 && K::NV * K::VEC <= 16 }; };

// y = (v - mean) * rstd * w + b, v = x (or round(x + residual), also stored to sum).
// layer_norm: mean = sum(v) / COLS, var = sum((v - mean)^2) / COLS (two passes over registers);
// rms_norm: mean = 0, var = sum(v^2) / COLS. rstd = 1 / sqrt(var + eps).
template <class K>
__device__ __forceinline__ void norm_fwd(const rows_args& A) {
    BRC_ROWS_SETUP;
    const T* x = (const T*)A.a;
    const T* res = (const T*)A.b;
    T* y = (T*)A.out;
    T* sum = (T*)A.sum;
    const C eps = (C)A.eps, invn = C(1) / C(K::COLS);
    C wv[K::NV][K::VEC], bv[K::NV][K::VEC];
    if (hold<K>::V) {
        if (K::W) ld<K>(wv, (const T*)A.w, 0, r, t, true);
        if (K::B) ld<K>(bv, (const T*)A.bias, 0, r, t, true);
    }
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* xr = x + (ok ? row : 0) * A.sa;
        const T* rr = res + (ok ? row : 0) * A.sb;
        T* yr = y + (ok ? row : 0) * A.sout;
        T* sr = sum + (ok ? row : 0) * A.ssum;
        // Where later passes re-read the row from: the stored sum in the residual variant.
        const T* src = K::RES ? (const T*)sr : xr;
        C v[K::NV][K::VEC];
        C s1 = C(0);
        for (int it = 0; it < K::ITER; it++) {
            ld<K>(v, xr, it, r, t, ok);
            if (K::RES) {
                C q[K::NV][K::VEC];
                ld<K>(q, rr, it, r, t, ok);
#pragma unroll
                for (int j = 0; j < K::NV; j++)
#pragma unroll
                    for (int k = 0; k < K::VEC; k++) v[j][k] = (C)io<T>::load(io<T>::store(v[j][k] + q[j][k]));
                st<K>(sr, v, it, r, t, ok);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) s1 += K::LAYER ? v[j][k] : v[j][k] * v[j][k];
        }
        C mean = C(0), var;
        if (K::LAYER) {
            mean = allreduce<K, add_op>(mk(s1, C(0)), red, cred, phase).a * invn;
            C s2 = C(0);
            for (int it = 0; it < K::ITER; it++) {
                if (K::ITER > 1) ld<K>(v, src, it, r, t, ok);
#pragma unroll
                for (int j = 0; j < K::NV; j++)
#pragma unroll
                    for (int k = 0; k < K::VEC; k++) {
                        const C d = v[j][k] - mean;
                        if (ok && rg<K>::in(rg<K>::col(it, r, j, t))) s2 += d * d;
                    }
            }
            var = allreduce<K, add_op>(mk(s2, C(0)), red, cred, phase).a * invn;
        } else {
            var = allreduce<K, add_op>(mk(s1, C(0)), red, cred, phase).a * invn;
        }
        const C rstd = C(1) / sqrt_(var + eps);
        if (ok && t == 0 && r == 0) {
            if (A.mean) ((C*)A.mean)[row] = mean;
            if (A.rstd) ((C*)A.rstd)[row] = rstd;
        }
        for (int it = 0; it < K::ITER; it++) {
            if (K::ITER > 1) ld<K>(v, src, it, r, t, ok);
            if (!hold<K>::V) {
                if (K::W) ld<K>(wv, (const T*)A.w, it, r, t, true);
                if (K::B) ld<K>(bv, (const T*)A.bias, it, r, t, true);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    C o = (v[j][k] - mean) * rstd;
                    if (K::W) o = o * wv[j][k];
                    if (K::B) o = o + bv[j][k];
                    v[j][k] = o;
                }
            st<K>(yr, v, it, r, t, ok);
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// xhat = (x - mean) * rstd, g = dy * w:
//   layer_norm: dx = rstd * (g - (xhat * sum(g * xhat) + sum(g)) / COLS)
//   rms_norm:   dx = rstd * (g - xhat * sum(g * xhat) / COLS)
// dweight = sum over rows of dy * xhat, dbias = sum over rows of dy: each (CTA group, row slot)
// accumulates its own partial row of part (no atomics); colsum adds the partials in a fixed order.
template <class K>
__device__ __forceinline__ void norm_bwd(const rows_args& A) {
    BRC_ROWS_SETUP;
    const T* x = (const T*)A.a;
    const T* dy = (const T*)A.b;
    T* dx = (T*)A.out;
    const C invn = C(1) / C(K::COLS);
    const i64 prow = (i64)(blockIdx.x / K::CL) * K::RPB + rib;
    C* pw = (C*)A.part + prow * K::COLS;
    C* pb = (C*)A.part + ((K::W ? A.nparts : 0) + prow) * K::COLS;
    C wv[K::NV][K::VEC], aw[K::NV][K::VEC], ab[K::NV][K::VEC];
#pragma unroll
    for (int j = 0; j < K::NV; j++)
#pragma unroll
        for (int k = 0; k < K::VEC; k++) aw[j][k] = ab[j][k] = C(0);
    if (hold<K>::V && K::W) ld<K>(wv, (const T*)A.w, 0, r, t, true);
    if (K::ITER > 1) {  // partials live in memory: start them at zero
        for (int it = 0; it < K::ITER; it++) {
            if (K::W) st<K>(pw, aw, it, r, t, true);
            if (K::B) st<K>(pb, ab, it, r, t, true);
        }
    }
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* xr = x + (ok ? row : 0) * A.sa;
        const T* gr = dy + (ok ? row : 0) * A.sb;
        T* dxr = dx + (ok ? row : 0) * A.sout;
        const C mean = (K::LAYER && ok) ? ((const C*)A.mean)[row] : C(0);
        const C rstd = ok ? ((const C*)A.rstd)[row] : C(0);
        C v[K::NV][K::VEC], q[K::NV][K::VEC];
        C s1 = C(0), s2 = C(0);
        for (int it = 0; it < K::ITER; it++) {
            ld<K>(v, xr, it, r, t, ok);
            ld<K>(q, gr, it, r, t, ok);
            if (!hold<K>::V && K::W) ld<K>(wv, (const T*)A.w, it, r, t, true);
            if (K::ITER > 1) {
                if (K::W) ld<K>(aw, (const C*)pw, it, r, t, true);
                if (K::B) ld<K>(ab, (const C*)pb, it, r, t, true);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    const C xh = (v[j][k] - mean) * rstd;
                    const C gw = K::W ? q[j][k] * wv[j][k] : q[j][k];
                    s1 += gw * xh;
                    s2 += gw;
                    aw[j][k] += q[j][k] * xh;
                    ab[j][k] += q[j][k];
                }
            if (K::ITER > 1) {
                if (K::W) st<K>(pw, aw, it, r, t, true);
                if (K::B) st<K>(pb, ab, it, r, t, true);
            }
        }
        const pr<C> S = allreduce<K, add_op>(mk(s1, s2), red, cred, phase);
        const C c1 = S.a * invn, c2 = K::LAYER ? S.b * invn : C(0);
        for (int it = 0; it < K::ITER; it++) {
            if (K::ITER > 1) {
                ld<K>(v, xr, it, r, t, ok);
                ld<K>(q, gr, it, r, t, ok);
                if (!hold<K>::V && K::W) ld<K>(wv, (const T*)A.w, it, r, t, true);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    const C xh = (v[j][k] - mean) * rstd;
                    const C gw = K::W ? q[j][k] * wv[j][k] : q[j][k];
                    v[j][k] = rstd * (gw - (xh * c1 + c2));
                }
            st<K>(dxr, v, it, r, t, ok);
        }
    }
    if (K::ITER == 1) {
        if (K::W) st<K>(pw, aw, 0, r, t, true);
        if (K::B) st<K>(pb, ab, 0, r, t, true);
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// dweight[c] = sum over p of part[p][c] (and dbias from the second half), in a fixed order:
// four interleaved accumulators, then (0 + 1) + (2 + 3). 256 threads, one column each.
template <class K>
__device__ __forceinline__ void colsum(const rows_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    const i64 c = (i64)blockIdx.x * 256 + threadIdx.x;
    if (c >= K::COLS) return;
    for (int h = 0; h < 2; h++) {
        if ((h == 0 && !K::W) || (h == 1 && !K::B)) continue;
        const C* p = (const C*)A.part + ((h == 1 && K::W) ? A.nparts : 0) * K::COLS + c;
        C s0 = C(0), s1 = C(0), s2 = C(0), s3 = C(0);
        i64 i = 0;
        for (; i + 4 <= A.nparts; i += 4) {
            s0 += p[(i + 0) * K::COLS];
            s1 += p[(i + 1) * K::COLS];
            s2 += p[(i + 2) * K::COLS];
            s3 += p[(i + 3) * K::COLS];
        }
        for (; i < A.nparts; i++) s0 += p[i * K::COLS];
        const C s = (s0 + s1) + (s2 + s3);
        ((T*)(h == 0 ? A.dw : A.db))[c] = io<T>::store(s);
    }
}

}  // namespace brc
