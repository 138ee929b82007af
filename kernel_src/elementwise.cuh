// Elementwise kernels: one output, up to three inputs, an op functor generated per plan
// (struct brc_op in the specialization source). Two shapes of kernel: contiguous (16-byte
// vector accesses, AHEAD vectors in flight per thread and operand, chosen by the plan) and
// strided (merged dims, rank and index width fixed at compile time).
#pragma once

namespace brc {

enum { EW_THREADS = 256, EW_UNROLL = 8 };

template <int R> struct ew_layout {
    i64 shape[R];
    i64 stride[4][R];  // [0] output, [1..3] inputs; 0 = broadcast
};

template <class Op, int NIN>
__device__ __forceinline__ typename Op::to ew_apply(typename Op::tx x, typename Op::ty y,
                                                    typename Op::tz z, typename Op::C a,
                                                    typename Op::C b) {
    return io<typename Op::to>::store(Op::apply(io<typename Op::tx>::load(x),
                                                io<typename Op::ty>::load(y),
                                                io<typename Op::tz>::load(z), a, b));
}

template <class Op, int NIN, int VEC, int AHEAD>
__global__ void __launch_bounds__(EW_THREADS)
ew_contig(typename Op::to* out, const typename Op::tx* x, const typename Op::ty* y,
          const typename Op::tz* z, i64 n, double pa, double pb, int aligned) {
    typedef typename Op::tx TX;
    typedef typename Op::ty TY;
    typedef typename Op::tz TZ;
    typedef typename Op::to TO;
    const typename Op::C a = convert<typename Op::C>(pa), b = convert<typename Op::C>(pb);
    const i64 tile = (i64)EW_THREADS * VEC * EW_UNROLL;
    const i64 base = (i64)blockIdx.x * tile;
    if (aligned && base + tile <= n) {
        // EW_UNROLL steps of one vector per operand and thread, AHEAD steps' vectors in flight
        // (the plan's choice and its measurements: ops/elementwise.c).
        const TX* xp = x + base + (i64)threadIdx.x * VEC;
        const TY* yp = y + base + (i64)threadIdx.x * VEC;
        const TZ* zp = z + base + (i64)threadIdx.x * VEC;
        TO* op = out + base + (i64)threadIdx.x * VEC;
        const int step = EW_THREADS * VEC;
        if constexpr (AHEAD <= 2) {
            // Two in flight: the next step's vectors loaded before this step's math, in a loop
            // that is not unrolled (the op body is inlined VEC times, not VEC * UNROLL times:
            // compile time grows with the copies).
            vec<TX, VEC> cx = *reinterpret_cast<const vec<TX, VEC>*>(xp);
            vec<TY, VEC> cy;
            vec<TZ, VEC> cz;
            if (NIN > 1) cy = *reinterpret_cast<const vec<TY, VEC>*>(yp);
            if (NIN > 2) cz = *reinterpret_cast<const vec<TZ, VEC>*>(zp);
#pragma unroll 1
            for (int u = 0; u < EW_UNROLL; u++) {
                vec<TX, VEC> nx;
                vec<TY, VEC> ny;
                vec<TZ, VEC> nz;
                const i64 next = (i64)(u + 1 < EW_UNROLL ? u + 1 : u) * step;
                nx = *reinterpret_cast<const vec<TX, VEC>*>(xp + next);
                if (NIN > 1) ny = *reinterpret_cast<const vec<TY, VEC>*>(yp + next);
                if (NIN > 2) nz = *reinterpret_cast<const vec<TZ, VEC>*>(zp + next);
                vec<TO, VEC> vo;
#pragma unroll
                for (int k = 0; k < VEC; k++)
                    vo.v[k] = ew_apply<Op, NIN>(cx.v[k], NIN > 1 ? cy.v[k] : TY(), NIN > 2 ? cz.v[k] : TZ(), a, b);
                *reinterpret_cast<vec<TO, VEC>*>(op + (i64)u * step) = vo;
                cx = nx;
                if (NIN > 1) cy = ny;
                if (NIN > 2) cz = nz;
            }
        } else {
            // A ring of AHEAD vectors per operand, the loop unrolled (static ring indices).
            vec<TX, VEC> cx[AHEAD];
            vec<TY, VEC> cy[AHEAD];
            vec<TZ, VEC> cz[AHEAD];
#pragma unroll
            for (int u = 0; u < AHEAD; u++) {
                cx[u] = *reinterpret_cast<const vec<TX, VEC>*>(xp + (i64)u * step);
                if (NIN > 1) cy[u] = *reinterpret_cast<const vec<TY, VEC>*>(yp + (i64)u * step);
                if (NIN > 2) cz[u] = *reinterpret_cast<const vec<TZ, VEC>*>(zp + (i64)u * step);
            }
#pragma unroll
            for (int u = 0; u < EW_UNROLL; u++) {
                const int r = u % AHEAD;
                vec<TO, VEC> vo;
#pragma unroll
                for (int k = 0; k < VEC; k++)
                    vo.v[k] = ew_apply<Op, NIN>(cx[r].v[k], NIN > 1 ? cy[r].v[k] : TY(),
                                                NIN > 2 ? cz[r].v[k] : TZ(), a, b);
                if (u + AHEAD < EW_UNROLL) {
                    const i64 next = (i64)(u + AHEAD) * step;
                    cx[r] = *reinterpret_cast<const vec<TX, VEC>*>(xp + next);
                    if (NIN > 1) cy[r] = *reinterpret_cast<const vec<TY, VEC>*>(yp + next);
                    if (NIN > 2) cz[r] = *reinterpret_cast<const vec<TZ, VEC>*>(zp + next);
                }
                *reinterpret_cast<vec<TO, VEC>*>(op + (i64)u * step) = vo;
            }
        }
    } else {
        const i64 end = base + tile < n ? base + tile : n;
        for (i64 i = base + threadIdx.x; i < end; i += EW_THREADS)
            out[i] = ew_apply<Op, NIN>(x[i], NIN > 1 ? y[i] : TY(), NIN > 2 ? z[i] : TZ(), a, b);
    }
}

template <class Op, int NIN, int R, class IDX>
__global__ void __launch_bounds__(EW_THREADS)
ew_strided(typename Op::to* out, const typename Op::tx* x, const typename Op::ty* y,
           const typename Op::tz* z, i64 n, double pa, double pb, ew_layout<R> L) {
    const typename Op::C a = convert<typename Op::C>(pa), b = convert<typename Op::C>(pb);
    const IDX i = (IDX)blockIdx.x * EW_THREADS + (IDX)threadIdx.x;
    if ((i64)i >= n) return;
    IDX rem = i, o0 = 0, o1 = 0, o2 = 0, o3 = 0;
#pragma unroll
    for (int d = R - 1; d >= 0; d--) {
        IDX c = rem;
        if (d > 0) {
            const IDX s = (IDX)L.shape[d];
            const IDX q = rem / s;
            c = rem - q * s;
            rem = q;
        }
        o0 += c * (IDX)L.stride[0][d];
        o1 += c * (IDX)L.stride[1][d];
        if (NIN > 1) o2 += c * (IDX)L.stride[2][d];
        if (NIN > 2) o3 += c * (IDX)L.stride[3][d];
    }
    out[o0] = ew_apply<Op, NIN>(x[o1], NIN > 1 ? y[o2] : typename Op::ty(),
                                NIN > 2 ? z[o3] : typename Op::tz(), a, b);
}

}  // namespace brc
