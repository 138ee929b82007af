// Decode GEMV: Y[m, n] = act(alpha * sum_k W[n, k] X[m, k] + beta * C[m, n] + bias[n]) for M <= 8
// rows of X (16 in the tensor-core variant below). Memory-bound on W (read once, streamed past
// L1); X is small and stays cached.
//
// One warp owns R consecutive rows of W and walks K in 16-byte vectors, lane l taking vectors
// l, l + 32, ...; each X vector it loads serves all R rows, so X costs 1/R of a W load. U
// vectors per row are loaded before any is used, so R * U * 16 bytes per lane are in flight.
// The R * M partial sums are reduced across the warp by a butterfly, and lane r * M + m writes
// output (m, row0 + r). A scalar loop takes the K % VEC tail (and all of K when VEC = 1).
//
// The specialization snippet defines struct brc_gemv { typedef T, B (bias type); enum M, VEC, R,
// U, WARPS, ACT, HAS_BIAS, HAS_C, BLK, PF, PDL } and instantiates gemv_main or gemv_mma_main.
namespace brc {

struct gemv_args {
    const void *w, *x, *c, *bias;
    void *y;
    long long n, k, ldw, ldx, ldy, ldc;
    float alpha, beta;
};

// A 16-byte load that skips L1 (W is read once); PF asks the L2 for the whole 256-byte block.
template <bool PF = false> __device__ __forceinline__ uint4 ld_stream(const void *p) {
    uint4 r;
    if (PF)
        asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    else
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

// The VEC values of a 16-byte (or one-element) load, as f32.
template <class T, int VEC> struct gemv_vec {
    T v[VEC];
    __device__ __forceinline__ float at(int i) const { return io<T>::load(v[i]); }
};

template <class T, int VEC, int PF = 0>
__device__ __forceinline__ gemv_vec<T, VEC> gemv_load(const T *p, bool stream) {
    gemv_vec<T, VEC> r;
    if (VEC * sizeof(T) == 16) {
        uint4 u = stream ? ld_stream<PF != 0>(p) : __ldg(reinterpret_cast<const uint4 *>(p));
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
    if (G::PDL) {
        asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
        asm volatile("griddepcontrol.wait;" ::: "memory");
    }
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
                if (v < kv) wv[u][r] = gemv_load<T, VEC, G::PF>(wr[r] + v * VEC, true);
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

// The tensor-core variant for f16 / bf16 (sm_80+): the M <= 16 rows of X are the n = 8 side of
// NT = ceil(M / 8) mma.m16n8k16's, so the FMAs cost nothing and the kernel is bound by streaming
// W alone. A block owns 16 rows of W; its KS warps split K and meet in shared memory. K is cut
// into 64-value chunks: with BLK each warp takes a contiguous run of ceil(chunks / KS), else
// chunks w, w + KS, ... Per chunk, lane (g = lane / 4, t = lane % 4) loads 16 bytes at
// k = 64 c + 8t and 64 c + 32 + 8t of W rows g and g + 8 and of X rows g, g + 8, ... (zeros
// past M or K). A dot product does not care which k goes where, so those 16 values per row are
// handed to four mma's in load order, as the fragments' "k" positions, the same for W and X.
// Software-pipelined: U chunks are in flight, and each one's registers are refilled with the
// chunk U ahead as soon as its mma's have read them. With PF the W loads ask the L2 for the
// whole 256-byte block (a warp's row run is 128 bytes a chunk; H100, N = 14336, M = 8: 45.3 ->
// 43.0 us with BLK and PF). Needs K and the leading dimensions to be multiples of 8.
template <class T> struct mma_op;
template <> struct mma_op<bf16> {
    static __device__ __forceinline__ void run(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                               unsigned b0, unsigned b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
};
template <> struct mma_op<f16> {
    static __device__ __forceinline__ void run(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                               unsigned b0, unsigned b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
};

template <class G>
__device__ __forceinline__ void gemv_mma_main(const gemv_args &a) {
    typedef typename G::T T;
    enum { M = G::M, U = G::U, KS = G::WARPS, NT = (G::M + 7) / 8 };
    __shared__ float red[KS][NT][32][4];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const long long row0 = (long long)blockIdx.x * 16;
    const long long ra = row0 + g < a.n ? row0 + g : a.n - 1, rb = row0 + g + 8 < a.n ? row0 + g + 8 : a.n - 1;
    const T *wa = static_cast<const T *>(a.w) + ra * a.ldw, *wb = static_cast<const T *>(a.w) + rb * a.ldw;
    const T *xg[NT];
#pragma unroll
    for (int q = 0; q < NT; q++) xg[q] = static_cast<const T *>(a.x) + (8 * q + g < M ? 8 * q + g : 0) * a.ldx;
    float c[NT][4];
#pragma unroll
    for (int q = 0; q < NT; q++) c[q][0] = c[q][1] = c[q][2] = c[q][3] = 0.f;
    const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
    const long long chunks = (a.k + 63) / 64;
    // Chunks of this warp: interleaved (w, w + KS, ...) or, BLK, a contiguous run of ceil(chunks / KS).
    const long long per = (chunks + KS - 1) / KS;
    const long long mine = G::BLK ? (warp * per >= chunks ? 0 : (chunks - warp * per < per ? chunks - warp * per : per))
                                  : (chunks - warp + KS - 1) / KS;
    uint4 va[U][2], vb[U][2], vx[U][NT][2];
    // Loads chunk j of this warp (j >= mine: zeros) into slot u: W's part, X's part, both.
    auto load_w = [&](int u, long long j) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const long long k = (G::BLK ? warp * per + j : warp + KS * j) * 64 + 32 * h + 8 * t;
            const bool in = j < mine && k < a.k;
            va[u][h] = in ? ld_stream<G::PF != 0>(wa + k) : zero;
            vb[u][h] = in ? ld_stream<G::PF != 0>(wb + k) : zero;
        }
    };
    auto load_x = [&](int u, long long j) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const long long k = (G::BLK ? warp * per + j : warp + KS * j) * 64 + 32 * h + 8 * t;
            const bool in = j < mine && k < a.k;
#pragma unroll
            for (int q = 0; q < NT; q++)
                vx[u][q][h] = in && 8 * q + g < M ? __ldg(reinterpret_cast<const uint4 *>(xg[q] + k)) : zero;
        }
    };
    auto load = [&](int u, long long j) {
        load_w(u, j);
        load_x(u, j);
    };
    // Programmatic dependent launch (PDL, sm_90): let the next kernel in the stream launch now;
    // PDL = 2 streams this warp's first U chunks of W before waiting for the kernels this one
    // depends on (W must not be written by them), PDL = 1 waits before touching memory.
    if (G::PDL) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    if (G::PDL == 2) {
#pragma unroll
        for (int u = 0; u < U; u++) load_w(u, u);
    }
    if (G::PDL) asm volatile("griddepcontrol.wait;" ::: "memory");
#pragma unroll
    for (int u = 0; u < U; u++) {
        if (G::PDL != 2) load_w(u, u);
        load_x(u, u);
    }
    for (long long j0 = 0; j0 < mine; j0 += U) {
#pragma unroll
        for (int u = 0; u < U; u++) {
#pragma unroll
            for (int h = 0; h < 2; h++)
#pragma unroll
                for (int q = 0; q < NT; q++) {
                    mma_op<T>::run(c[q], va[u][h].x, vb[u][h].x, va[u][h].y, vb[u][h].y, vx[u][q][h].x, vx[u][q][h].y);
                    mma_op<T>::run(c[q], va[u][h].z, vb[u][h].z, va[u][h].w, vb[u][h].w, vx[u][q][h].z, vx[u][q][h].w);
                }
            load(u, j0 + U + u);
        }
    }
#pragma unroll
    for (int q = 0; q < NT; q++)
#pragma unroll
        for (int i = 0; i < 4; i++) red[warp][q][lane][i] = c[q][i];
    __syncthreads();
    if (warp != 0) return;
#pragma unroll
    for (int w = 1; w < KS; w++)
#pragma unroll
        for (int q = 0; q < NT; q++)
#pragma unroll
            for (int i = 0; i < 4; i++) c[q][i] += red[w][q][lane][i];
    // c[q][0], c[q][1]: W row g, X rows 8q + 2t, 8q + 2t + 1; c[q][2], c[q][3]: row g + 8, the same.
#pragma unroll
    for (int q = 0; q < NT; q++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int m = 8 * q + 2 * t + (i & 1);
            const long long row = row0 + g + (i >> 1) * 8;
            if (m < M && row < a.n) {
                float v = a.alpha * c[q][i];
                if (G::HAS_C) v += a.beta * io<T>::load(static_cast<const T *>(a.c)[m * a.ldc + row]);
                if (G::HAS_BIAS) v += io<typename G::B>::load(static_cast<const typename G::B *>(a.bias)[row]);
                static_cast<T *>(a.y)[m * a.ldy + row] = io<T>::store(gemv_act<G::ACT>(v));
            }
        }
}

} // namespace brc
