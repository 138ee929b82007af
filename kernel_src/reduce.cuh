// Reductions over any set of axes (forward) and their gradients (backward). A plan bakes the problem
// into struct K (generated per plan by runtime/ops/reduce.c):
//   T, C, YT   x's storage type, the compute type (f32 for halves, f64, i64 for integers), y's type
//   OP         the reduce kind (R_* below); NK the norm's p class (NP_*), P its value
//   N, M       reduced elements per output, outputs;  CORR  var / std correction
//   VEC        elements per vector access;  U  vectors in flight per thread per sweep
//   row layout: TPR threads per output, RPB outputs per CTA, gridDim.y CTAs per output (split)
//   col layout: TX threads along outputs (VEC outputs each), TY along the reduced extent, gridDim.y
//               CTAs (split). The split is a launch parameter (chosen from the kernel's occupancy).
//   WI         max / min also write the index
//   kept(o, xo, yo, iof)  offsets of output o in x, y and index (merged kept dims, constant sizes)
//   xr(j)                offset in x of reduced element j (row-major over the reduced dims)
// Every state combine is in a fixed order (sequential per thread, a fixed butterfly, warps in
// order, split partials in order): results are bitwise reproducible for a plan.
#pragma once

namespace brc {

// The one argument block of every reduce kernel; 8-byte fields only, mirrored by the host.
struct reduce_args {
    const void* x;
    void* y;
    void* idx;
    void* ws;   // split partials (forward), mean (backward of var / std)
    const void* dy;
    const void* yin;  // the forward's output (backward)
    const void* iin;  // the forward's index (backward)
    void* dx;
    i64 split;  // CTAs per output of the forward (the second pass reads it)
};

enum { R_SUM, R_MEAN, R_PROD, R_MAX, R_MIN, R_ARGMAX, R_ARGMIN, R_VAR, R_STD, R_NORM, R_LSE, R_ANY, R_ALL, R_COUNT };
enum { NP_GEN, NP_1, NP_2, NP_INF, NP_NINF, NP_0 };

// A partial reduction: a, b two compute values, i an index or a count.
template <class C> struct rstate { C a, b; i64 i; };

template <class C> struct ext;
template <> struct ext<float> {
    static __device__ __forceinline__ float lo() { return __int_as_float(0xff800000); }
    static __device__ __forceinline__ float hi() { return __int_as_float(0x7f800000); }
};
template <> struct ext<double> {
    static __device__ __forceinline__ double lo() { return __longlong_as_double(0xfff0000000000000ULL); }
    static __device__ __forceinline__ double hi() { return __longlong_as_double(0x7ff0000000000000ULL); }
};
template <> struct ext<i64> {
    static __device__ __forceinline__ i64 lo() { return lim<i64>::lo(); }
    static __device__ __forceinline__ i64 hi() { return lim<i64>::hi(); }
};

template <class C> __device__ __forceinline__ bool isnan_(C v) { return v != v; }
template <class C> __device__ __forceinline__ C rabs(C v) { return abs_(v); }
// exp(v) as exp2(v * log2(e)): MUFU.EX2 and one multiply (the rounding of the product adds ~1e-7
// relative error per unit of |v|, far below f32's tolerance for the arguments here, <= 0 mostly).
__device__ __forceinline__ float rexp(float v) { return exp2f(v * 1.4426950408889634f); }
__device__ __forceinline__ double rexp(double v) { return exp(v); }
__device__ __forceinline__ float rlog(float v) { return logf(v); }
__device__ __forceinline__ double rlog(double v) { return log(v); }
__device__ __forceinline__ float rpow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double rpow(double a, double b) { return pow(a, b); }
__device__ __forceinline__ float rsqrt_(float v) { return sqrtf(v); }
__device__ __forceinline__ double rsqrt_(double v) { return sqrt(v); }
// Integer compute types never reach the float-only ops; these keep the templates instantiable.
__device__ __forceinline__ i64 rexp(i64 v) { return v; }
__device__ __forceinline__ i64 rlog(i64 v) { return v; }
__device__ __forceinline__ i64 rpow(i64 a, i64) { return a; }
__device__ __forceinline__ i64 rsqrt_(i64 v) { return v; }

// NaN-propagating max (MX) or min of a raw vector, in the compute type. Halves and f32 use the
// packed / NaN-propagating PTX max and min of sm_80 (half a instruction an element for halves):
// the extrema and logsumexp are otherwise bound by instruction issue on 16-byte vectors of halves.
template <bool MX> __device__ __forceinline__ u32 ext_bf2(u32 a, u32 b) {
    u32 d;
    if (MX) asm("max.NaN.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    else asm("min.NaN.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    return d;
}
template <bool MX> __device__ __forceinline__ u32 ext_h2(u32 a, u32 b) {
    u32 d;
    if (MX) asm("max.NaN.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    else asm("min.NaN.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    return d;
}
template <bool MX> __device__ __forceinline__ float ext_f(float a, float b) {
    float d;
    if (MX) asm("max.NaN.f32 %0, %1, %2;" : "=f"(d) : "f"(a), "f"(b));
    else asm("min.NaN.f32 %0, %1, %2;" : "=f"(d) : "f"(a), "f"(b));
    return d;
}
template <bool MX, class C, class T, int V> struct vext {
    static __device__ __forceinline__ C run(const vec<T, V>& r) {
        C m = (C)io<T>::load(r.v[0]);
#pragma unroll
        for (int k = 1; k < V; k++) m = MX ? maxn_(m, (C)io<T>::load(r.v[k])) : minn_(m, (C)io<T>::load(r.v[k]));
        return m;
    }
};
#if __CUDA_ARCH__ >= 800
template <bool MX, class T, int V, bool BF> struct vext_half {
    static __device__ __forceinline__ float run(const vec<T, V>& r) {
        if constexpr (V == 1) {
            return io<T>::load(r.v[0]);
        } else {
            const u32* p = reinterpret_cast<const u32*>(&r);
            u32 a = p[0];
#pragma unroll
            for (int k = 1; k < V / 2; k++) a = BF ? ext_bf2<MX>(a, p[k]) : ext_h2<MX>(a, p[k]);
            const u32 sw = (a >> 16) | (a << 16);
            a = BF ? ext_bf2<MX>(a, sw) : ext_h2<MX>(a, sw);
            T h;
            h.b = (u16)(a & 0xffffu);
            return io<T>::load(h);
        }
    }
};
template <bool MX, int V> struct vext<MX, float, bf16, V> : vext_half<MX, bf16, V, true> {};
template <bool MX, int V> struct vext<MX, float, f16, V> : vext_half<MX, f16, V, false> {};
template <bool MX, int V> struct vext<MX, float, float, V> {
    static __device__ __forceinline__ float run(const vec<float, V>& r) {
        float m = r.v[0];
#pragma unroll
        for (int k = 1; k < V; k++) m = ext_f<MX>(m, r.v[k]);
        return m;
    }
};
#endif

// 2^v, approximate (MUFU.EX2, ~2 ulp; subnormal results flush to 0): the sums of logsumexp.
__device__ __forceinline__ float ex2_(float v) {
    float d;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(d) : "f"(v));
    return d;
}
__device__ __forceinline__ double ex2_(double v) { return exp2(v); }
__device__ __forceinline__ i64 ex2_(i64 v) { return v; }

// The NaN-propagating max (MX) or min of two compute values: one instruction for f32 on sm_80+.
template <bool MX, class C> __device__ __forceinline__ C extn(C a, C b) { return MX ? maxn_(a, b) : minn_(a, b); }
#if __CUDA_ARCH__ >= 800
template <> __device__ __forceinline__ float extn<true, float>(float a, float b) { return ext_f<true>(a, b); }
template <> __device__ __forceinline__ float extn<false, float>(float a, float b) { return ext_f<false>(a, b); }
#endif

template <class K> struct red {
    typedef typename K::C C;
    typedef rstate<C> S;
    enum { OP = K::OP, MAXLIKE = K::OP == R_MAX || K::OP == R_ARGMAX, MINLIKE = K::OP == R_MIN || K::OP == R_ARGMIN };
    // max / min without the index (K::XV): the value alone, a NaN-propagating max / min per vector
    // and per state (no index to carry, compare or refine).
    enum { VALONLY = K::XV != 0 && K::WI == 0 && (K::OP == R_MAX || K::OP == R_MIN) };

    static __device__ __forceinline__ S init() {
        S s;
        s.a = C(0); s.b = C(0); s.i = 0;
        if (OP == R_PROD || OP == R_ALL) s.a = C(1);
        if (MAXLIKE) { s.a = ext<C>::lo(); s.i = lim<i64>::hi(); }
        if (MINLIKE) { s.a = ext<C>::hi(); s.i = lim<i64>::hi(); }
        if (OP == R_NORM && K::NK == NP_NINF) s.a = ext<C>::hi();
        if (OP == R_LSE) s.a = ext<C>::lo();
        return s;
    }
    // t replaces s as the extremum: NaN first, then the larger (smaller), then the lower index.
    static __device__ __forceinline__ bool better(const S& t, const S& s) {
        const bool tn = isnan_(t.a), sn = isnan_(s.a);
        if (tn != sn) return tn;
        if (!tn && t.a != s.a) return MAXLIKE ? t.a > s.a : t.a < s.a;
        return t.i < s.i;
    }
    static __device__ __forceinline__ S lse(const S& s, const S& t) {
        S r = s;
        const C m = maxn_(s.a, t.a);
        if (m == ext<C>::lo()) { r.a = m; r.b = C(0); return r; }
        if (m == ext<C>::hi()) { r.a = m; r.b = C(1); return r; }
        r.a = m;
        r.b = s.b * rexp(s.a - m) + t.b * rexp(t.a - m);
        return r;
    }
    // Element v at reduced index j, with this slice's shift (var / std).
    static __device__ __forceinline__ void elem(S& s, C v, i64 j, C shift) {
        if constexpr (OP == R_SUM || OP == R_MEAN) s.a += v;
        else if constexpr (OP == R_PROD) s.a *= v;
        else if constexpr (VALONLY) s.a = extn<(bool)MAXLIKE, C>(s.a, v);
        else if constexpr (MAXLIKE) { if ((isnan_(v) && !isnan_(s.a)) || v > s.a) { s.a = v; s.i = j; } }
        else if constexpr (MINLIKE) { if ((isnan_(v) && !isnan_(s.a)) || v < s.a) { s.a = v; s.i = j; } }
        else if constexpr (OP == R_VAR || OP == R_STD) { const C d = v - shift; s.a += d; s.b += d * d; }
        else if constexpr (OP == R_NORM) {
            const C av = rabs(v);
            if constexpr (K::NK == NP_1) s.a += av;
            else if constexpr (K::NK == NP_2) s.a += v * v;
            else if constexpr (K::NK == NP_INF) s.a = maxn_(s.a, av);
            else if constexpr (K::NK == NP_NINF) s.a = minn_(s.a, av);
            else if constexpr (K::NK == NP_0) s.a += v != C(0) ? C(1) : C(0);
            else s.a += rpow(av, (C)K::P);
        } else if constexpr (OP == R_LSE) { S t; t.a = v; t.b = C(1); t.i = 0; s = lse(s, t); }
        else if constexpr (OP == R_ANY) { if (v != C(0)) s.a = C(1); }
        else if constexpr (OP == R_ALL) { if (v == C(0)) s.a = C(0); }
        else if constexpr (OP == R_COUNT) s.i += v != C(0) ? 1 : 0;
    }
    // VEC consecutive elements j0, j0+1, ...: logsumexp takes their max first and rescales only
    // when it grows; the extrema look for the index only in a vector that beats the state.
    template <int V>
    static __device__ __forceinline__ void elems(S& s, const C (&v)[V], i64 j0, C shift) {
        if constexpr (OP == R_LSE && V > 1) {
            if (isnan_(s.a)) return;
            C m = v[0];
#pragma unroll
            for (int k = 1; k < V; k++) m = maxn_(m, v[k]);
            if (!(m <= s.a)) {
                s.b = s.a == ext<C>::lo() ? C(0) : s.b * rexp(s.a - m);
                s.a = m;
                if (isnan_(m)) { s.b = m; return; }
            }
            if (s.a == ext<C>::hi()) { s.b = C(1); return; }
            if (s.a == ext<C>::lo()) return;
#pragma unroll
            for (int k = 0; k < V; k++) s.b += rexp(v[k] - s.a);
        } else if constexpr ((MAXLIKE || MINLIKE) && V > 1) {
            if (isnan_(s.a)) return;
            C m = v[0];
#pragma unroll
            for (int k = 1; k < V; k++) m = MAXLIKE ? maxn_(m, v[k]) : minn_(m, v[k]);
            if (isnan_(m) || (MAXLIKE ? m > s.a : m < s.a)) {
                int f = 0;  // the first element equal to m (or NaN)
#pragma unroll
                for (int k = V - 1; k >= 0; k--)
                    if (isnan_(m) ? isnan_(v[k]) : v[k] == m) f = k;
                s.a = m;
                s.i = j0 + f;
            }
        } else {
#pragma unroll
            for (int k = 0; k < V; k++) elem(s, v[k], j0 + k, shift);
        }
    }
    // A raw 16-byte vector at reduced index j0: the extrema and logsumexp take its max (min) with
    // the packed instructions first; everything else converts and goes through elems.
    template <class T, int V>
    static __device__ __forceinline__ void raw(S& s, const vec<T, V>& r, i64 j0, C shift) {
        if constexpr (VALONLY) {
            (void)j0; (void)shift;
            s.a = extn<(bool)MAXLIKE, C>(s.a, vext<(bool)MAXLIKE, C, T, V>::run(r));
        } else if constexpr ((MAXLIKE || MINLIKE) && V > 1) {
            // Branch-free: the vector's extremum replaces the state when it is larger (smaller) or
            // the first NaN (the predicates combined without branches: a short chain through the
            // state). K::XI = 0: the state keeps the vector's first index and refine() finds the
            // element once the thread's sweep is done; 1: the element's index now (the first
            // element equal to the extremum, or the first NaN; off the chain through the state).
            const C m = vext<(bool)MAXLIKE, C, T, V>::run(r);
            const bool upd = (MAXLIKE ? m > s.a : m < s.a) | (isnan_(m) & !isnan_(s.a));
            i64 f = 0;
            if constexpr (K::XI != 0) {
                f = V - 1;
#pragma unroll
                for (int k = V - 2; k >= 0; k--) {
                    const C v = (C)io<T>::load(r.v[k]);
                    f = (v == m) | isnan_(v) ? k : f;
                }
            }
            s.a = upd ? m : s.a;
            s.i = upd ? j0 + f : s.i;
        } else if constexpr (OP == R_LSE && V > 1) {
            if (isnan_(s.a)) return;
            const C m = vext<true, C, T, V>::run(r);
            if (!(m <= s.a)) {
                s.b = s.a == ext<C>::lo() ? C(0) : s.b * rexp(s.a - m);
                s.a = m;
                if (isnan_(m)) { s.b = m; return; }
            }
            if (s.a == ext<C>::hi()) { s.b = C(1); return; }
            if (s.a == ext<C>::lo()) return;
            const C L2E = C(1.4426950408889634), off = -s.a * L2E;
#pragma unroll
            for (int k = 0; k < V; k++) s.b += ex2_((C)io<T>::load(r.v[k]) * L2E + off);
        } else {
            C v[V];
#pragma unroll
            for (int k = 0; k < V; k++) v[k] = (C)io<T>::load(r.v[k]);
            elems(s, v, j0, shift);
        }
    }
    // After raw(): s.i is the first index of the vector holding the extremum; make it the element's.
    template <class T, int V>
    static __device__ __forceinline__ void refine(S& s, const T* x, i64 xo) {
        if constexpr ((MAXLIKE || MINLIKE) && V > 1 && !VALONLY && K::XI == 0) {
            if (s.i == lim<i64>::hi()) return;
            const vec<T, V> r = *(const vec<T, V>*)(x + xo + K::xr(s.i));
            int f = 0;
#pragma unroll
            for (int k = V - 1; k >= 0; k--) {
                const C v = (C)io<T>::load(r.v[k]);
                if (isnan_(s.a) ? isnan_(v) : v == s.a) f = k;
            }
            s.i += f;
        }
    }
    static __device__ __forceinline__ S combine(const S& s, const S& t) {
        S r = s;
        if constexpr (OP == R_SUM || OP == R_MEAN || OP == R_VAR || OP == R_STD || OP == R_COUNT ||
            (OP == R_NORM && K::NK != NP_INF && K::NK != NP_NINF)) {
            r.a = s.a + t.a; r.b = s.b + t.b; r.i = s.i + t.i;
        } else if constexpr (OP == R_PROD) r.a = s.a * t.a;
        else if constexpr (VALONLY) r.a = extn<(bool)MAXLIKE, C>(s.a, t.a);
        else if constexpr (MAXLIKE || MINLIKE) r = better(t, s) ? t : s;
        else if constexpr (OP == R_NORM) r.a = K::NK == NP_INF ? maxn_(s.a, t.a) : minn_(s.a, t.a);
        else if constexpr (OP == R_LSE) r = lse(s, t);
        else if constexpr (OP == R_ANY) r.a = (s.a != C(0) || t.a != C(0)) ? C(1) : C(0);
        else if constexpr (OP == R_ALL) r.a = (s.a != C(0) && t.a != C(0)) ? C(1) : C(0);
        return r;
    }
    static __device__ __forceinline__ C finish(const S& s) {
        const C n = (C)K::N;
        if constexpr (OP == R_MEAN) return s.a / n;
        if constexpr (OP == R_VAR || OP == R_STD) {
            const C dv = n - (C)K::CORR > C(0) ? n - (C)K::CORR : C(0);
            C m2 = s.b - s.a * (s.a / n);
            if (m2 < C(0)) m2 = C(0);  // rounding; NaN passes
            const C v = m2 / dv;
            return OP == R_STD ? rsqrt_(v) : v;
        }
        if constexpr (OP == R_NORM) {
            if constexpr (K::NK == NP_2) return rsqrt_(s.a);
            if constexpr (K::NK == NP_GEN) return rpow(s.a, (C)(1.0 / K::P));
            return s.a;
        }
        if constexpr (OP == R_LSE) return (s.a == ext<C>::lo() || s.a == ext<C>::hi()) ? s.a : s.a + rlog(s.b);
        return s.a;
    }
};

template <class C> __device__ __forceinline__ rstate<C> shfl_state(const rstate<C>& s, int o) {
    rstate<C> t;
    t.a = __shfl_xor_sync(0xffffffffu, s.a, o);
    t.b = __shfl_xor_sync(0xffffffffu, s.b, o);
    t.i = __shfl_xor_sync(0xffffffffu, s.i, o);
    return t;
}

// Writes the result of output o (offsets yo, iof) from its final state.
template <class K>
__device__ __forceinline__ void put(const reduce_args& A, i64 yo, i64 iof, const rstate<typename K::C>& s) {
    typedef typename K::YT YT;
    typedef typename K::C C;
    YT* y = (YT*)A.y;
    if constexpr (K::OP == R_ARGMAX || K::OP == R_ARGMIN || K::OP == R_COUNT) {
        // An extremum never replaced (every element the initial -inf / +inf) is at index 0.
        const i64 v = (K::OP != R_COUNT && (K::N == 0 || s.i == lim<i64>::hi())) ? 0 : s.i;
        y[yo] = (YT)v;
    } else if constexpr (K::OP == R_ANY || K::OP == R_ALL) {
        y[yo] = io<YT>::store(convert<typename io<YT>::C>(s.a != C(0)));
    } else {
        y[yo] = io<YT>::store(convert<typename io<YT>::C>(red<K>::finish(s)));
    }
    if constexpr (K::WI != 0) ((i64*)A.idx)[iof] = s.i == lim<i64>::hi() ? 0 : s.i;
}

template <class K> __device__ __forceinline__ typename K::C shift_of(const typename K::T* x, i64 xo) {
    typedef typename K::C C;
    if (K::OP == R_VAR || K::OP == R_STD) {
        if (K::N > 0) return (C)io<typename K::T>::load(x[xo + K::xr(0)]);
    }
    return C(0);
}

// ---- row layout: TPR threads per output along a stride-1 reduced dim ----------------------------

template <class K>
__device__ __forceinline__ void reduce_row(const reduce_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    typedef rstate<C> S;
    enum { NW = K::TPR > 32 ? K::TPR / 32 : 1, WL = K::TPR < 32 ? K::TPR : 32 };
    __shared__ S sm[K::RPB * NW];
    const T* x = (const T*)A.x;
    const int t = threadIdx.x % K::TPR, rib = threadIdx.x / K::TPR;
    const int sp = (int)blockIdx.y;
    const i64 NV = K::N / K::VEC, groups = (K::M + K::RPB - 1) / K::RPB;
    const int SPLIT = K::SPLIT1 ? 1 : (int)gridDim.y;  // compile-time 1: the sweep unrolls
    const i64 step = (i64)K::TPR * SPLIT;
    for (i64 g = blockIdx.x; g < groups; g += gridDim.x) {
        const i64 o = g * K::RPB + rib;
        const bool ok = K::M % K::RPB == 0 || o < K::M;
        i64 xo = 0, yo = 0, iof = 0;
        if (ok) K::kept(o, xo, yo, iof);
        const C shift = ok ? shift_of<K>(x, xo) : C(0);
        S s = red<K>::init();
        if constexpr (K::FLAT) {
            // Each CTA of a split takes a contiguous run of whole sweeps (the last one the rest);
            // the sweeps' loads need no bounds test (the loop unrolls and pipelines), the
            // remainder goes a vector at a time.
            constexpr i64 SW = (i64)K::TPR * K::U;
            i64 lo = 0, hi = NV;
            if (!K::SPLIT1) {
                const i64 per = ((NV + SW - 1) / SW + SPLIT - 1) / SPLIT * SW;
                lo = (i64)sp * per;
                hi = lo + per < NV ? lo + per : NV;
            }
            const i64 full = ok && hi > lo ? (hi - lo) / SW : 0;
#pragma unroll(K::OU)
            for (i64 it = 0; it < full; it++) {
                const i64 b = lo + it * SW + t;
                vec<T, K::VEC> buf[K::U];
#pragma unroll
                for (int u = 0; u < K::U; u++)
                    buf[u] = *(const vec<T, K::VEC>*)(x + xo + K::xr((b + u * K::TPR) * K::VEC));
#pragma unroll
                for (int u = 0; u < K::U; u++) red<K>::raw(s, buf[u], (b + u * K::TPR) * K::VEC, shift);
            }
            if (ok)
                for (i64 jv = lo + full * SW + t; jv < hi; jv += K::TPR)
                    red<K>::raw(s, *(const vec<T, K::VEC>*)(x + xo + K::xr(jv * K::VEC)), jv * K::VEC, shift);
        } else {
            for (i64 b = (i64)sp * K::TPR + t; b < NV; b += step * K::U) {
                vec<T, K::VEC> buf[K::U];
#pragma unroll
                for (int u = 0; u < K::U; u++) {
                    const i64 jv = b + u * step;
                    if (ok && jv < NV) buf[u] = *(const vec<T, K::VEC>*)(x + xo + K::xr(jv * K::VEC));
                }
#pragma unroll
                for (int u = 0; u < K::U; u++) {
                    const i64 jv = b + u * step;
                    if (ok && jv < NV) red<K>::raw(s, buf[u], jv * K::VEC, shift);
                }
            }
        }
        if (ok) red<K>::template refine<T, K::VEC>(s, x, xo);
#pragma unroll
        for (int off = WL / 2; off > 0; off >>= 1) s = red<K>::combine(s, shfl_state(s, off));
        if (NW > 1) {
            __syncthreads();
            if ((t & 31) == 0) sm[rib * NW + t / 32] = s;
            __syncthreads();
            if (t == 0) {
                s = sm[rib * NW];
#pragma unroll
                for (int w = 1; w < NW; w++) s = red<K>::combine(s, sm[rib * NW + w]);
            }
        }
        if (ok && t == 0) {
            if (SPLIT == 1) put<K>(A, yo, iof, s);
            else ((S*)A.ws)[o * SPLIT + sp] = s;
        }
    }
}

// ---- col layout: consecutive threads take consecutive outputs (stride-1 kept dim) ------------------

template <class K>
__device__ __forceinline__ void reduce_col(const reduce_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    typedef rstate<C> S;
    __shared__ S sm[K::TY > 1 ? K::TY * K::TX : 1];
    const T* x = (const T*)A.x;
    const int tx = threadIdx.x, ty = threadIdx.y, sp = (int)blockIdx.y;
    const i64 MV = K::M / K::VEC, blocks = (MV + K::TX - 1) / K::TX;
    const int SPLIT = K::SPLIT1 ? 1 : (int)gridDim.y;
    const i64 step = (i64)K::TY * SPLIT;
    for (i64 bx = blockIdx.x; bx < blocks; bx += gridDim.x) {
        const i64 ov = bx * K::TX + tx;
        const bool ok = (MV % K::TX == 0 && tx < K::TX) || ov < MV;
        i64 xo = 0, yo = 0, iof = 0;
        if (ok) K::kept(ov * K::VEC, xo, yo, iof);
        S s[K::VEC];
        C shift[K::VEC];
#pragma unroll
        for (int k = 0; k < K::VEC; k++) {
            s[k] = red<K>::init();
            shift[k] = ok ? shift_of<K>(x, xo + k) : C(0);
        }
        if constexpr (K::FLAT) {
            // As in reduce_row: a split CTA takes a contiguous run of whole sweeps of the reduced
            // extent, loaded without bounds tests, then the rest a position at a time.
            constexpr i64 SW = (i64)K::TY * K::U;
            i64 lo = 0, hi = K::N;
            if (!K::SPLIT1) {
                const i64 per = ((K::N + SW - 1) / SW + SPLIT - 1) / SPLIT * SW;
                lo = (i64)sp * per;
                hi = lo + per < K::N ? lo + per : K::N;
            }
            const i64 full = ok && hi > lo ? (hi - lo) / SW : 0;
#pragma unroll(K::OU)
            for (i64 it = 0; it < full; it++) {
                const i64 b = lo + it * SW + ty;
                vec<T, K::VEC> buf[K::U];
#pragma unroll
                for (int u = 0; u < K::U; u++) buf[u] = *(const vec<T, K::VEC>*)(x + xo + K::xr(b + u * K::TY));
#pragma unroll
                for (int u = 0; u < K::U; u++) {
#pragma unroll
                    for (int k = 0; k < K::VEC; k++)
                        red<K>::elem(s[k], (C)io<T>::load(buf[u].v[k]), b + u * K::TY, shift[k]);
                }
            }
            if (ok)
                for (i64 j = lo + full * SW + ty; j < hi; j += K::TY) {
                    const vec<T, K::VEC> r = *(const vec<T, K::VEC>*)(x + xo + K::xr(j));
#pragma unroll
                    for (int k = 0; k < K::VEC; k++) red<K>::elem(s[k], (C)io<T>::load(r.v[k]), j, shift[k]);
                }
        } else {
            for (i64 b = (i64)sp * K::TY + ty; b < K::N; b += step * K::U) {
                vec<T, K::VEC> buf[K::U];
#pragma unroll
                for (int u = 0; u < K::U; u++) {
                    const i64 j = b + u * step;
                    if (ok && j < K::N) buf[u] = *(const vec<T, K::VEC>*)(x + xo + K::xr(j));
                }
#pragma unroll
                for (int u = 0; u < K::U; u++) {
                    const i64 j = b + u * step;
                    if (ok && j < K::N) {
#pragma unroll
                        for (int k = 0; k < K::VEC; k++) red<K>::elem(s[k], (C)io<T>::load(buf[u].v[k]), j, shift[k]);
                    }
                }
            }
        }
        if (K::TY > 1) {  // one output of the vector at a time: the buffer stays TY x TX states
#pragma unroll
            for (int k = 0; k < K::VEC; k++) {
                __syncthreads();
                sm[ty * K::TX + tx] = s[k];
                __syncthreads();
                if (ty == 0)
                    for (int w = 1; w < K::TY; w++) s[k] = red<K>::combine(s[k], sm[w * K::TX + tx]);
            }
        }
        if (ok && ty == 0) {
#pragma unroll
            for (int k = 0; k < K::VEC; k++) {
                const i64 o = ov * K::VEC + k;
                if (SPLIT == 1) put<K>(A, yo + k * K::YIN, iof + k * K::IIN, s[k]);
                else ((S*)A.ws)[o * SPLIT + sp] = s[k];
            }
        }
    }
}

// ---- second pass: a warp per output combines its SPLIT partials in a fixed order ------------------

template <class K>
__device__ __forceinline__ void reduce_fin(const reduce_args& A) {
    typedef typename K::C C;
    typedef rstate<C> S;
    if constexpr (K::FT) {
        // A thread an output: its partials in split order (many outputs, few partials each).
        for (i64 o = (i64)blockIdx.x * blockDim.x + threadIdx.x; o < K::M; o += (i64)gridDim.x * blockDim.x) {
            const S* p = (const S*)A.ws + o * A.split;
            S s = p[0];
            for (i64 q = 1; q < A.split; q++) s = red<K>::combine(s, p[q]);
            i64 xo = 0, yo = 0, iof = 0;
            K::kept(o, xo, yo, iof);
            put<K>(A, yo, iof, s);
        }
        return;
    }
    const int lane = threadIdx.x & 31;
    const i64 w0 = ((i64)blockIdx.x * blockDim.x + threadIdx.x) / 32, nw = (i64)gridDim.x * blockDim.x / 32;
    for (i64 o = w0; o < K::M; o += nw) {
        const S* p = (const S*)A.ws + o * A.split;
        S s = red<K>::init();
        for (i64 q = lane; q < A.split; q += 32) s = red<K>::combine(s, p[q]);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) s = red<K>::combine(s, shfl_state(s, off));
        if (lane == 0) {
            i64 xo = 0, yo = 0, iof = 0;
            K::kept(o, xo, yo, iof);
            put<K>(A, yo, iof, s);
        }
    }
}

// ---- backward: one thread per element of x ------------------------------------------------------------
// K::bdec(e, xo, dxo, yo, dyo, iof, mo, j): offsets of x's element e in x and dx, of its output in y,
// dy and the index, its output's flat index mo, and its reduced flat index j. K::xr as above.

// The gradient of one element: x value xv (unread for sum, mean, max, min), incoming g, its output's
// offsets yo / iof and flat index mo, its reduced index j and its offset xo in x.
template <class K>
__device__ __forceinline__ typename K::C bwd_one(const reduce_args& A, typename K::C xv, typename K::C g, i64 yo,
                                                 i64 iof, i64 mo, i64 j, i64 xo) {
    typedef typename K::T T;
    typedef typename K::C C;
    const T* x = (const T*)A.x;
    const T* y = (const T*)A.yin;
    const C n = (C)K::N;
    if (K::OP == R_SUM) return g;
    if (K::OP == R_MEAN) return g / n;
    if (K::OP == R_MAX || K::OP == R_MIN) return ((const i64*)A.iin)[iof] == j ? g : C(0);
    if (K::OP == R_VAR || K::OP == R_STD) {
        const C dv = n - (C)K::CORR > C(0) ? n - (C)K::CORR : C(0);
        const C mean = ((const C*)A.ws)[mo];
        C r = g * C(2) * (xv - mean) / dv;
        if (K::OP == R_STD) r = r / (C(2) * (C)io<T>::load(y[yo]));
        return r;
    }
    if (K::OP == R_LSE) return g * rexp(xv - (C)io<T>::load(y[yo]));
    const C yv = (C)io<T>::load(y[yo]);
    if (K::OP == R_NORM) {
        const C sg = sign_(xv);
        if (K::NK == NP_1) return g * sg;
        if (yv == C(0)) return C(0);
        if (K::NK == NP_2) return g * xv / yv;
        return g * sg * rpow(rabs(xv) / yv, (C)(K::P - 1.0));
    }
    // prod
    if (yv != C(0) && xv != C(0)) return g * (yv / xv);
    // The product of the others, directly; a zero among them makes it 0 at once.
    const i64 base = xo - K::xr(j);
    C pr = C(1);
    for (i64 q = 0; q < K::N; q++) {
        if (q == j) continue;
        const C v = (C)io<T>::load(x[base + K::xr(q)]);
        if (v == C(0)) { pr = C(0); break; }
        pr *= v;
    }
    return g * pr;
}

// The backward of var / std over rows in one pass (K::NVB > 0): a row group of TPR threads holds a
// slice in registers, NVB vectors a thread (the reduced elements are one dim of stride 1 in x and
// dx), takes its mean (the first element as shift; each thread's elements in order, a xor
// butterfly, the warps in order: bitwise reproducible), then writes dx = s (x - mean), s = dy 2 /
// max(0, N - corr) (var), divided by 2 y more (std). Reads x once and writes dx once: no mean pass,
// no workspace.
template <class K>
__device__ __forceinline__ void reduce_vbwd(const reduce_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    typedef vec<T, K::VEC> V;
    enum { NW = K::TPR > 32 ? K::TPR / 32 : 1, WL = K::TPR < 32 ? K::TPR : 32, NV = K::NVB };
    static_assert(NV > 0, "reduce_vbwd: NVB vectors a thread");
    __shared__ C sm[K::RPB * NW];
    const T* x = (const T*)A.x;
    const T* dy = (const T*)A.dy;
    const T* yin = (const T*)A.yin;
    T* dx = (T*)A.dx;
    const int t = threadIdx.x % K::TPR, rib = threadIdx.x / K::TPR;
    const i64 NVEC = K::N / K::VEC, groups = (K::M + K::RPB - 1) / K::RPB;
    const C n = (C)K::N, dv = n - (C)K::CORR > C(0) ? n - (C)K::CORR : C(0);
    for (i64 g = blockIdx.x; g < groups; g += gridDim.x) {
        const i64 o = g * K::RPB + rib;
        const bool ok = K::M % K::RPB == 0 || o < K::M;
        // Vector i of the thread (row vector i * TPR + t) lies in a row of this group.
        const auto has = [&](int i) { return ok && (NVEC % K::TPR == 0 || (i64)i * K::TPR + t < NVEC); };
        i64 xo = 0, dxo = 0, yo = 0, dyo = 0;
        if (ok) K::bkept(o, xo, dxo, yo, dyo);
        V v[NV];
#pragma unroll
        for (int i = 0; i < NV; i++) {
            if (has(i)) v[i] = *(const V*)(x + xo + ((i64)i * K::TPR + t) * K::VEC);
        }
        const C shift = ok ? (C)io<T>::load(x[xo]) : C(0);
        const C gv = ok ? (C)io<T>::load(dy[dyo]) : C(0);
        const C yv = (K::OP == R_STD && ok) ? (C)io<T>::load(yin[yo]) : C(1);
        C s = C(0);
#pragma unroll
        for (int i = 0; i < NV; i++) {
            if (has(i)) {
#pragma unroll
                for (int k = 0; k < K::VEC; k++) s += (C)io<T>::load(v[i].v[k]) - shift;
            }
        }
#pragma unroll
        for (int off = WL / 2; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
        if (NW > 1) {
            __syncthreads();  // the previous row group's threads have read sm
            if ((t & 31) == 0) sm[rib * NW + t / 32] = s;
            __syncthreads();
            s = sm[rib * NW];
#pragma unroll
            for (int w = 1; w < NW; w++) s += sm[rib * NW + w];
        }
        const C mean = shift + s / n;
        C sc = gv * C(2) / dv;
        if (K::OP == R_STD) sc = sc / (C(2) * yv);
#pragma unroll
        for (int i = 0; i < NV; i++) {
            if (has(i)) {
                V r;
#pragma unroll
                for (int k = 0; k < K::VEC; k++) r.v[k] = io<T>::store(sc * ((C)io<T>::load(v[i].v[k]) - mean));
                *(V*)(dx + dxo + ((i64)i * K::TPR + t) * K::VEC) = r;
            }
        }
    }
}

// BV elements a thread along the innermost dim (stride 1 in x and dx, BV dividing it and every other
// stride): INRED says whether that dim is reduced (the BV elements share one output, j counts up) or
// kept (consecutive outputs at YIN / DYIN / IIN apart, one j).
template <class K>
__device__ __forceinline__ void reduce_bwd(const reduce_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    const T* x = (const T*)A.x;
    const T* dy = (const T*)A.dy;
    T* dx = (T*)A.dx;
    const bool rx = !(K::OP == R_SUM || K::OP == R_MEAN || K::OP == R_MAX || K::OP == R_MIN);
    const i64 EV = K::E / K::BV;
    for (i64 ev = (i64)blockIdx.x * blockDim.x + threadIdx.x; ev < EV; ev += (i64)gridDim.x * blockDim.x) {
        i64 xo, dxo, yo, dyo, iof, mo, j;
        K::bdec(ev * K::BV, xo, dxo, yo, dyo, iof, mo, j);
        vec<T, K::BV> xv, out;
        if (rx) xv = *(const vec<T, K::BV>*)(x + xo);
        C g = (C)io<T>::load(dy[dyo]);
#pragma unroll
        for (int k = 0; k < K::BV; k++) {
            const C xk = rx ? (C)io<T>::load(xv.v[k]) : C(0);
            C r;
            if (K::INRED) {
                r = bwd_one<K>(A, xk, g, yo, iof, mo, j + k, xo + k);
            } else {
                if (k > 0) g = (C)io<T>::load(dy[dyo + k * K::DYIN]);
                r = bwd_one<K>(A, xk, g, yo + k * K::YIN, iof + k * K::IIN, mo + k, j, xo + k);
            }
            out.v[k] = io<T>::store(r);
        }
        *(vec<T, K::BV>*)(dx + dxo) = out;
    }
}

}  // namespace brc
