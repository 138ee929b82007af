// Decode GEMV: Y[m, n] = act(alpha * sum_k W[n, k] X[m, k] + beta * C[m, n] + bias[n]) for M <= 8
// rows of X. Memory-bound on W (read once, streamed past L1); X is small and stays cached.
//
// One warp owns R consecutive rows of W and walks K in 16-byte vectors, lane l taking vectors
// l, l + 32, ...; each X vector it loads serves all R rows, so X costs 1/R of a W load. U
// vectors per row are loaded before any is used, so R * U * 16 bytes per lane are in flight.
// The R * M partial sums are reduced across the warp by a butterfly, and lane r * M + m writes
// output (m, row0 + r). A scalar loop takes the K % VEC tail (and all of K when VEC = 1).
//
// The specialization snippet defines struct brc_gemv { typedef T, B (bias type); enum M, VEC, R,
// U, WARPS, ACT, HAS_BIAS, HAS_C } and instantiates gemv_main.
namespace brc {

struct gemv_args {
    const void *w, *x, *c, *bias;
    void *y;
    long long n, k, ldw, ldx, ldy, ldc;
    float alpha, beta;
};

__device__ __forceinline__ uint4 ld_stream(const void *p) {
    uint4 r;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}

// The VEC values of a 16-byte (or one-element) load, as f32.
template <class T, int VEC> struct gemv_vec {
    T v[VEC];
    __device__ __forceinline__ float at(int i) const { return io<T>::load(v[i]); }
};

template <class T, int VEC>
__device__ __forceinline__ gemv_vec<T, VEC> gemv_load(const T *p, bool stream) {
    gemv_vec<T, VEC> r;
    if (VEC * sizeof(T) == 16) {
        uint4 u = stream ? ld_stream(p) : __ldg(reinterpret_cast<const uint4 *>(p));
        memcpy(&r, &u, 16);
    } else {
#pragma unroll
        for (int i = 0; i < VEC; i++) r.v[i] = p[i];
    }
    return r;
}

template <int ACT> __device__ __forceinline__ float gemv_act(float v) {
    if (ACT == 1) return v > 0.f ? v : 0.f;
    if (ACT == 2) return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    if (ACT == 3) {
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        return 0.5f * v * (1.f + tanhf(u));
    }
    return v;
}

template <class G>
__device__ __forceinline__ void gemv_main(const gemv_args &a) {
    typedef typename G::T T;
    enum { M = G::M, VEC = G::VEC, R = G::R, U = G::U };
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long row0 = ((long long)blockIdx.x * G::WARPS + warp) * R;
    if (row0 >= a.n) return;
    const T *w = static_cast<const T *>(a.w);
    const T *x = static_cast<const T *>(a.x);
    const T *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        long long row = row0 + r < a.n ? row0 + r : a.n - 1; // past the end: a valid row, unused
        wr[r] = w + row * a.ldw;
    }
    float acc[R][M];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int m = 0; m < M; m++) acc[r][m] = 0.f;

    const long long kv = a.k / VEC;
    for (long long v0 = lane; v0 < kv; v0 += 32 * U) {
        gemv_vec<T, VEC> wv[U][R];
#pragma unroll
        for (int u = 0; u < U; u++) {
            long long v = v0 + 32 * u;
#pragma unroll
            for (int r = 0; r < R; r++)
                if (v < kv) wv[u][r] = gemv_load<T, VEC>(wr[r] + v * VEC, true);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            long long v = v0 + 32 * u;
            if (v < kv) {
#pragma unroll
                for (int m = 0; m < M; m++) {
                    gemv_vec<T, VEC> xv = gemv_load<T, VEC>(x + m * a.ldx + v * VEC, false);
                    float xf[VEC];
#pragma unroll
                    for (int e = 0; e < VEC; e++) xf[e] = xv.at(e);
#pragma unroll
                    for (int r = 0; r < R; r++)
#pragma unroll
                        for (int e = 0; e < VEC; e++) acc[r][m] = fmaf(wv[u][r].at(e), xf[e], acc[r][m]);
                }
            }
        }
    }
    for (long long kk = kv * VEC + lane; kk < a.k; kk += 32) {
#pragma unroll
        for (int m = 0; m < M; m++) {
            float xf = io<T>::load(x[m * a.ldx + kk]);
#pragma unroll
            for (int r = 0; r < R; r++) acc[r][m] = fmaf(io<T>::load(wr[r][kk]), xf, acc[r][m]);
        }
    }
    // Butterfly: every lane ends with every sum.
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int m = 0; m < M; m++) acc[r][m] += __shfl_xor_sync(0xffffffffu, acc[r][m], off);
    float mine = 0.f;
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int m = 0; m < M; m++)
            if (lane == r * M + m) mine = acc[r][m];
    const int r = lane / M, m = lane % M;
    const long long row = row0 + r;
    if (lane < R * M && row < a.n) {
        float v = a.alpha * mine;
        if (G::HAS_C) v += a.beta * io<T>::load(static_cast<const T *>(a.c)[m * a.ldc + row]);
        if (G::HAS_BIAS) v += io<typename G::B>::load(static_cast<const typename G::B *>(a.bias)[row]);
        static_cast<T *>(a.y)[m * a.ldy + row] = io<T>::store(gemv_act<G::ACT>(v));
    }
}

} // namespace brc
