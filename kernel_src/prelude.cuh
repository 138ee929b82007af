// baracuda kernel prelude: storage types, conversions, vector access, warp reductions and the
// math helpers that op tables name. Self-contained: compiles with NVRTC alone (no toolkit
// headers), so that a machine with only the driver and the NVRTC redistributable can JIT.
#pragma once

typedef signed char i8;
typedef unsigned char u8;
typedef short i16;
typedef unsigned short u16;
typedef int i32;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

namespace brc {

// Whether two types are one (is_same_<A, B>::v), for if constexpr.
template <class A, class B> struct is_same_ { enum { v = 0 }; };
template <class A> struct is_same_<A, A> { enum { v = 1 }; };

// Programmatic dependent launch (sm_90 and newer; a plan that launches its kernel with
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION calls this first): lets the next kernel of
// the stream start launching now, then waits until every kernel before this one in the stream has
// completed and its writes are visible. Called before the kernel's first global memory access,
// it keeps stream order for every access whatever the kernels around it do; a kernel launched
// without the attribute does not wait here.
__device__ __forceinline__ void pdl_enter() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// ---- storage types -----------------------------------------------------------------------
// Halves and fp8 are stored as bits and computed in f32. bool is one byte holding 0 or 1.
struct f16 { u16 b; };
struct bf16 { u16 b; };
struct e4m3 { u8 b; };
struct e5m2 { u8 b; };
struct boolean { u8 b; };

__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ u16 f32_to_f16(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float((u32)h << 16); }
// Round to nearest even; NaN stays a (quiet) NaN. sm_80 and newer convert in one instruction
// (NaN becomes the canonical 0x7fff, as in PyTorch); the integer sequence it replaces cost a
// 16-bit elementwise op such as gelu 5 issue slots an element, enough to make it issue-bound.
__device__ __forceinline__ u16 f32_to_bf16(float f) {
#if __CUDA_ARCH__ >= 800
    u16 h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#else
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16)(u >> 16);
#endif
}

// fp8 with E exponent bits, M mantissa bits and bias B. e4m3 (E4M3FN: no infinities, one NaN
// pattern per sign, largest 448) and e5m2 (IEEE-like, largest finite 57344).
template <int E, int M, int B, bool HAS_INF>
__device__ __forceinline__ float fp8_to_f32(u8 c) {
    u32 s = (u32)(c >> 7) << 31;
    u32 e = (c >> M) & ((1u << E) - 1u);
    u32 m = c & ((1u << M) - 1u);
    if (HAS_INF) {
        if (e == (1u << E) - 1u) return __uint_as_float(s | (m ? 0x7fc00000u : 0x7f800000u));
    } else if ((c & 0x7fu) == 0x7fu) {
        return __uint_as_float(s | 0x7fc00000u);
    }
    if (e == 0) {  // subnormal: m * 2^(1 - B - M), exact in f32
        float v = (float)m * __uint_as_float((u32)(127 + 1 - B - M) << 23);
        return __uint_as_float(__float_as_uint(v) | s);
    }
    return __uint_as_float(s | ((e - B + 127u) << 23) | (m << (23 - M)));
}
// Round to nearest even, saturating: out-of-range finite values and infinities give the
// largest finite value (MAXC is its code), NaN gives NANC.
template <int E, int M, int B, u32 MAXC, u32 NANC>
__device__ __forceinline__ u8 f32_to_fp8(float f) {
    u32 u = __float_as_uint(f);
    u32 s = (u >> 24) & 0x80u;
    u32 a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (u8)(s | NANC);
    u32 code;
    if (a < ((u32)(127 + 1 - B) << 23)) {  // below the smallest normal: a multiple of the ulp
        float q = rintf(__uint_as_float(a) * __uint_as_float((u32)(127 - 1 + B + M) << 23));
        code = (u32)q;
    } else {
        u32 t = a - ((u32)(127 - B) << 23);  // rebias the exponent, keep the mantissa
        code = (t + ((1u << (22 - M)) - 1u) + ((t >> (23 - M)) & 1u)) >> (23 - M);
    }
    if (code > MAXC) code = MAXC;
    return (u8)(s | code);
}

// ---- storage <-> compute -------------------------------------------------------------------
template <class S> struct io;
#define BRC_IO_SAME(T)                                                                      \
    template <> struct io<T> {                                                              \
        typedef T C;                                                                        \
        static __device__ __forceinline__ C load(T s) { return s; }                         \
        static __device__ __forceinline__ T store(C c) { return c; }                        \
    };
BRC_IO_SAME(float)
BRC_IO_SAME(double)
BRC_IO_SAME(i8)
BRC_IO_SAME(u8)
BRC_IO_SAME(i16)
BRC_IO_SAME(i32)
BRC_IO_SAME(i64)
BRC_IO_SAME(u32)
#undef BRC_IO_SAME
template <> struct io<f16> {
    typedef float C;
    static __device__ __forceinline__ C load(f16 s) { return f16_to_f32(s.b); }
    static __device__ __forceinline__ f16 store(C c) { f16 r; r.b = f32_to_f16(c); return r; }
};
template <> struct io<bf16> {
    typedef float C;
    static __device__ __forceinline__ C load(bf16 s) { return bf16_to_f32(s.b); }
    static __device__ __forceinline__ bf16 store(C c) { bf16 r; r.b = f32_to_bf16(c); return r; }
};
template <> struct io<e4m3> {
    typedef float C;
    static __device__ __forceinline__ C load(e4m3 s) { return fp8_to_f32<4, 3, 7, false>(s.b); }
    static __device__ __forceinline__ e4m3 store(C c) {
        e4m3 r; r.b = f32_to_fp8<4, 3, 7, 0x7eu, 0x7fu>(c); return r;
    }
};
template <> struct io<e5m2> {
    typedef float C;
    static __device__ __forceinline__ C load(e5m2 s) { return fp8_to_f32<5, 2, 15, true>(s.b); }
    static __device__ __forceinline__ e5m2 store(C c) {
        e5m2 r; r.b = f32_to_fp8<5, 2, 15, 0x7bu, 0x7eu>(c); return r;
    }
};
template <> struct io<boolean> {
    typedef bool C;
    static __device__ __forceinline__ C load(boolean s) { return s.b != 0; }
    static __device__ __forceinline__ boolean store(C c) { boolean r; r.b = c ? 1 : 0; return r; }
};

// ---- compute -> compute conversion (the cast semantics) ------------------------------------
template <class T> struct lim;
template <> struct lim<i8> { static __device__ i8 lo() { return -128; } static __device__ i8 hi() { return 127; } };
template <> struct lim<u8> { static __device__ u8 lo() { return 0; } static __device__ u8 hi() { return 255; } };
template <> struct lim<i16> { static __device__ i16 lo() { return -32768; } static __device__ i16 hi() { return 32767; } };
template <> struct lim<i32> { static __device__ i32 lo() { return (-2147483647 - 1); } static __device__ i32 hi() { return 2147483647; } };
template <> struct lim<u32> { static __device__ u32 lo() { return 0u; } static __device__ u32 hi() { return 4294967295u; } };
template <> struct lim<i64> { static __device__ i64 lo() { return (-9223372036854775807LL - 1); } static __device__ i64 hi() { return 9223372036854775807LL; } };

template <class F> struct is_fp { enum { v = 0 }; };
template <> struct is_fp<float> { enum { v = 1 }; };
template <> struct is_fp<double> { enum { v = 1 }; };

// Float to integer: truncate toward zero, saturate, NaN -> 0. The comparisons are done in
// double so that the integer bounds are exact.
template <class I, class F>
__device__ __forceinline__ I f2i(F f) {
    double d = (double)f;
    if (d != d) return (I)0;
    if (d <= (double)lim<I>::lo()) return lim<I>::lo();
    if (d >= (double)lim<I>::hi()) return lim<I>::hi();
    return (I)d;
}

template <class To, class From, int FROM_FP = is_fp<From>::v, int TO_FP = is_fp<To>::v>
struct cvt { static __device__ __forceinline__ To run(From v) { return (To)v; } };
template <class To, class From>
struct cvt<To, From, 1, 0> { static __device__ __forceinline__ To run(From v) { return f2i<To>(v); } };
// To bool: nonzero (NaN is nonzero). From bool: 0 or 1.
template <class From>
struct cvt<bool, From, 1, 0> { static __device__ __forceinline__ bool run(From v) { return v != (From)0; } };
template <class From>
struct cvt<bool, From, 0, 0> { static __device__ __forceinline__ bool run(From v) { return v != (From)0; } };
template <class To>
struct cvt<To, bool, 0, 1> { static __device__ __forceinline__ To run(bool v) { return v ? (To)1 : (To)0; } };
template <class To>
struct cvt<To, bool, 0, 0> { static __device__ __forceinline__ To run(bool v) { return v ? (To)1 : (To)0; } };
template <> struct cvt<bool, bool, 0, 0> { static __device__ __forceinline__ bool run(bool v) { return v; } };
// f64 -> f32 storage for halves: explicit, so that f64 -> f16 rounds through f32.
template <class To, class From>
__device__ __forceinline__ To convert(From v) { return cvt<To, From>::run(v); }

// ---- vector access ---------------------------------------------------------------------------
template <class T, int N>
struct __align__(sizeof(T) * N) vec { T v[N]; };
// A vector of N elements held as the machine words of its size (16 bytes: four 32-bit registers,
// whatever T is), loaded and stored through w; v is the element view. Held element-wise, 16- and
// 8-bit elements take a register each (a bf16 copy kernel needed 62 registers instead of 40).
template <int BYTES> struct word_of { typedef vec<u32, BYTES / 4> t; };
template <> struct word_of<2> { typedef u16 t; };
template <> struct word_of<1> { typedef u8 t; };
template <class T, int N> union wvec {
    typename word_of<N * sizeof(T)>::t w;
    T v[N];
};

// ---- math helpers named by the op tables -----------------------------------------------------
__device__ __forceinline__ float abs_(float x) { return fabsf(x); }
__device__ __forceinline__ double abs_(double x) { return fabs(x); }
template <class T> __device__ __forceinline__ T abs_(T x) { return x < 0 ? (T)-x : x; }

template <class T> __device__ __forceinline__ T sign_(T x) {
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);  // 0 -> 0, NaN -> NaN
}
// NaN-propagating max / min / clamp (PyTorch's maximum, minimum, clamp).
template <class T> __device__ __forceinline__ T maxn_(T x, T y) {
    return (x != x) ? x : ((y != y) ? y : (x > y ? x : y));
}
template <class T> __device__ __forceinline__ T minn_(T x, T y) {
    return (x != x) ? x : ((y != y) ? y : (x < y ? x : y));
}
template <class T> __device__ __forceinline__ T clampn_(T x, T lo, T hi) {
    return minn_(maxn_(x, lo), hi);
}
template <class T> __device__ __forceinline__ T softplus_(T x, T beta, T threshold) {
    return x * beta > threshold ? x : log1p(exp(beta * x)) / beta;
}
// Unfused a*x + b (each step rounded), as PyTorch's eager mul followed by add.
__device__ __forceinline__ float affine_(float x, float a, float b) { return __fadd_rn(__fmul_rn(x, a), b); }
__device__ __forceinline__ double affine_(double x, double a, double b) { return __dadd_rn(__dmul_rn(x, a), b); }
template <class T> __device__ __forceinline__ T affine_(T x, T a, T b) { return (T)(x * a + b); }
__device__ __forceinline__ float addcmul_(float x, float y, float z, float a) { return __fadd_rn(x, __fmul_rn(__fmul_rn(a, y), z)); }
__device__ __forceinline__ double addcmul_(double x, double y, double z, double a) { return __dadd_rn(x, __dmul_rn(__dmul_rn(a, y), z)); }
__device__ __forceinline__ float addcdiv_(float x, float y, float z, float a) { return __fadd_rn(x, __fmul_rn(a, y / z)); }
__device__ __forceinline__ double addcdiv_(double x, double y, double z, double a) { return __dadd_rn(x, __dmul_rn(a, y / z)); }
// PyTorch's lerp: accurate at both ends.
template <class T> __device__ __forceinline__ T lerp_(T s, T e, T w) {
    return (abs_(w) < T(0.5)) ? s + w * (e - s) : e - (e - s) * (T(1) - w);
}
template <class T> __device__ __forceinline__ T powi_(T x, int n) {
    if (n < 0) return (T)(T(1) / powi_(x, -n));
    T r = T(1);
    while (n) { if (n & 1) r = (T)(r * x); x = (T)(x * x); n >>= 1; }
    return r;
}
__device__ __forceinline__ bool bnot_(bool x) { return !x; }
template <class T> __device__ __forceinline__ T bnot_(T x) { return (T)~x; }

// Truncated and floored remainders and floored division, floats and integers.
__device__ __forceinline__ float fmod_(float x, float y) { return fmodf(x, y); }
__device__ __forceinline__ double fmod_(double x, double y) { return fmod(x, y); }
template <class T> __device__ __forceinline__ T fmod_(T x, T y) { return (T)(x % y); }
template <class T> __device__ __forceinline__ T remainder_(T x, T y) {
    T r = fmod_(x, y);
    return (r != T(0) && ((r < T(0)) != (y < T(0)))) ? (T)(r + y) : r;
}
// Floored division that stays exact when x/y is an integer up to rounding: divide the exact
// multiple (x - fmod) and snap to the nearest integer.
template <class T> __device__ __forceinline__ T floordiv_f(T x, T y) {
    T m = fmod_(x, y);
    T d = (x - m) / y;
    if (m != T(0) && ((y < T(0)) != (m < T(0)))) d -= T(1);
    if (d == T(0)) return copysign(T(0), x / y);
    T f = floor(d);
    return (d - f > T(0.5)) ? f + T(1) : f;
}
__device__ __forceinline__ float floordiv_(float x, float y) { return floordiv_f(x, y); }
__device__ __forceinline__ double floordiv_(double x, double y) { return floordiv_f(x, y); }
template <class T> __device__ __forceinline__ T floordiv_(T x, T y) {
    T q = (T)(x / y);
    return (T)(((x % y) != 0 && ((x < 0) != (y < 0))) ? q - 1 : q);
}
template <class T> __device__ __forceinline__ T shl_(T x, T n) {
    const int bits = (int)(sizeof(T) * 8);
    return (n < 0 || n >= (T)bits) ? (T)0 : (T)(x << n);
}
template <class T> __device__ __forceinline__ T shr_(T x, T n) {
    const int bits = (int)(sizeof(T) * 8);
    if (n < 0 || n >= (T)bits) return x < 0 ? (T)-1 : (T)0;
    return (T)(x >> n);
}
// digamma: recurrence up to x >= 10, then the asymptotic series; reflection for x < 0.
template <class T> __device__ __forceinline__ T digamma_(T x) {
    if (x == T(0)) return copysign(T(1) / T(0), -x);
    T acc = T(0);
    if (x < T(0)) {
        if (x == floor(x)) return T(0) / T(0);
        const T pi = T(3.14159265358979323846);
        acc = -pi / tan(pi * x);
        x = T(1) - x;
    }
#pragma unroll 1
    while (x < T(10)) { acc -= T(1) / x; x += T(1); }
    T r = T(1) / x, r2 = r * r;
    T s = r2 * (T(1) / 12 - r2 * (T(1) / 120 - r2 * (T(1) / 252 - r2 * (T(1) / 240 - r2 * (T(1) / 132)))));
    return acc + log(x) - T(0.5) * r - s;
}

// ---- warp reductions ---------------------------------------------------------------------------
template <class T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <class T> __device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) { T w = __shfl_xor_sync(0xffffffffu, v, o); v = w > v ? w : v; }
    return v;
}

// ---- shared memory and thread-block clusters ----------------------------------------------------
// The 32-bit shared-window address of a generic pointer into shared memory.
__device__ __forceinline__ unsigned smem_u32(const void* p) {
    unsigned a;
    asm("{ .reg .u64 s; cvta.to.shared.u64 s, %1; cvt.u32.u64 %0, s; }" : "=r"(a) : "l"(p));
    return a;
}
// Cluster primitives (sm_90). Members of a class template, so that nothing here is compiled
// unless a kernel with CL > 1 uses it.
template <int CL> struct cluster_base {
    static __device__ __forceinline__ void sync() {
        asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
    }
    // Shared-memory address `local` of CTA `rank` of the cluster, in the cluster's window.
    static __device__ __forceinline__ unsigned map(const void* local, unsigned rank) {
        unsigned ra;
        asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(ra) : "r"(smem_u32(local)), "r"(rank));
        return ra;
    }
    static __device__ __forceinline__ void ld(unsigned a, float& v) {
        asm volatile("ld.shared::cluster.f32 %0, [%1];" : "=f"(v) : "r"(a) : "memory");
    }
    static __device__ __forceinline__ void ld(unsigned a, double& v) {
        asm volatile("ld.shared::cluster.f64 %0, [%1];" : "=d"(v) : "r"(a) : "memory");
    }
};

}  // namespace brc
