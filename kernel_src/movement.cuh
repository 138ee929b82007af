// Movement kernels: strided copy (and everything built on it: permute, flip, roll, repeat, slice,
// write_slice, concat, split), the tiled transpose, the generators (fill, arange, linspace, eye,
// triu, tril) and pad forward / backward. A plan bakes into the snippet (runtime/ops/movement.c):
//   copy   T (an unsigned integer of the element size: values move as bits), VEC elements a
//          16-byte-or-narrower vector, R the rank after merging (1..8), I the index type (u32 or
//          u64: offsets are then int or i64), P the pieces a launch serves (1, 4 or 16).
//   tile   T, R and TD (the tile edge): the innermost dst dim is not the src's unit-stride dim.
//   fill   T the storage type, OP the generator, VEC, R.
//   pad    T the storage type, MODE, R, BWD (the backward sums into C, the compute type).
// Every launch is 256 threads; no kernel allocates, synchronizes with the host or uses atomics.
#pragma once

namespace brc {

enum { MV_THREADS = 256, MV_UNROLL = 4 };

// One copy problem ("piece") of a launch, after its dims were merged: shape[R-1] is the innermost
// dim (elements), shape[0..R-2] the outer ones; strides in elements. src / dst are written per run
// (the user's pointers plus the piece's offsets); the rest is fixed at plan time.
struct mv_piece {
    const char* src;
    char* dst;
    i64 first;   // the first block of the launch that works on this piece
    i64 units;   // work units: whole vectors, then (one-row pieces only) single tail elements
    i64 vunits;  // of which whole vectors
    i64 ivec;    // vectors per row: shape[R-1] / VEC
    i64 scalar;  // 1: a pointer is not aligned to the vector (set per run): VEC scalar accesses
    i64 shape[8];
    i64 ss[8];
    i64 ds[8];
};

// Kernel parameters of the copy and tile kernels (under 4 KiB for P = 16). dyn: slice /
// write_slice with a start read on the device: src += clamp(*dyn, 0, dyn_max) * dyn_ss elements,
// dst likewise with dyn_ds (piece 0 of one-piece launches only). tb, tiles_a, tiles_b, ntiles:
// the tile kernel's src unit-stride dim and its tile counts.
template <int P> struct mv_args {
    const i64* dyn;
    i64 dyn_max, dyn_ss, dyn_ds;
    i64 tb, tiles_a, tiles_b, ntiles;
    mv_piece pc[P];
};

template <class I> struct mv_off;
template <> struct mv_off<u32> { typedef int T; };
template <> struct mv_off<u64> { typedef i64 T; };

__device__ __forceinline__ i64 mv_clamp_start(const i64* dyn, i64 hi) {
    i64 s = *dyn;
    return s < 0 ? 0 : (s > hi ? hi : s);
}

// Offsets (src, dst; elements) of work unit q, a whole vector, in piece p.
template <int VEC, int R, class I>
__device__ __forceinline__ void mv_offsets(const mv_piece& p, I q, typename mv_off<I>::T& so,
                                           typename mv_off<I>::T& dof) {
    typedef typename mv_off<I>::T S;
    I r = q, iv = q;
    if (R > 1) {
        const I ivec = (I)p.ivec;
        iv = q % ivec;
        r = q / ivec;
    }
    const S e = (S)(iv * (I)VEC);
    so = VEC > 1 ? e : e * (S)p.ss[R - 1];  // VEC > 1: the innermost strides are 1
    dof = VEC > 1 ? e : e * (S)p.ds[R - 1];
#pragma unroll
    for (int k = R - 2; k >= 0; k--) {
        I c = r;
        if (k > 0) {
            const I n = (I)p.shape[k];
            c = r % n;
            r = r / n;
        }
        so += (S)c * (S)p.ss[k];
        dof += (S)c * (S)p.ds[k];
    }
}

// The copy kernel: each thread moves MV_UNROLL units MV_THREADS apart (all loads, then all
// stores). A launch of P pieces finds its piece by a binary search over first (pieces past the
// launch's count have first = INT64_MAX; P is a power of two).
template <class T, int VEC, int R, class I, int P>
__device__ __forceinline__ void mv_copy(const mv_args<P>& a) {
    typedef typename mv_off<I>::T S;
    const i64 blk = (i64)blockIdx.x;
    int pi = 0;
    if (P > 1) {
#pragma unroll
        for (int s = P / 2; s > 0; s >>= 1)
            if (a.pc[pi + s].first <= blk) pi += s;
    }
    const mv_piece& p = a.pc[pi];
    const T* src = (const T*)p.src;
    T* dst = (T*)p.dst;
    if (P == 1 && a.dyn) {
        const i64 s = mv_clamp_start(a.dyn, a.dyn_max);
        src += s * a.dyn_ss;
        dst += s * a.dyn_ds;
    }
    const I units = (I)p.units, vunits = (I)p.vunits;
    const I q0 = (I)(blk - p.first) * (I)(MV_THREADS * MV_UNROLL) + (I)threadIdx.x;
    const bool scalar = VEC > 1 && p.scalar != 0;
    typedef typename word_of<VEC * sizeof(T)>::t W;
    wvec<T, VEC> v[MV_UNROLL];  // words: see wvec
    S so[MV_UNROLL], dof[MV_UNROLL];
#pragma unroll
    for (int u = 0; u < MV_UNROLL; u++) {
        const I q = q0 + (I)(u * MV_THREADS);
        if (q >= units) continue;
        if (VEC > 1 && q >= vunits) {  // a tail element of a one-row piece (inner strides 1)
            so[u] = dof[u] = (S)(vunits * (I)VEC + (q - vunits));
            v[u].v[0] = src[so[u]];
            continue;
        }
        mv_offsets<VEC, R, I>(p, q, so[u], dof[u]);
        if (VEC == 1) {
            v[u].v[0] = src[so[u]];
        } else if (scalar) {
#pragma unroll
            for (int k = 0; k < VEC; k++) v[u].v[k] = src[so[u] + k];
        } else {
            v[u].w = *(const W*)(src + so[u]);
        }
    }
#pragma unroll
    for (int u = 0; u < MV_UNROLL; u++) {
        const I q = q0 + (I)(u * MV_THREADS);
        if (q >= units) continue;
        if (VEC == 1 || q >= vunits) {
            dst[dof[u]] = v[u].v[0];
        } else if (scalar) {
#pragma unroll
            for (int k = 0; k < VEC; k++) dst[dof[u] + k] = v[u].v[k];
        } else {
            *(W*)(dst + dof[u]) = v[u].w;
        }
    }
}

// The tiled transpose: dim R-1 is contiguous in dst (ds = 1) and dim a.tb in src (ss = 1). A CTA
// moves a TD x TD tile through shared memory: it reads rows of the tile along tb (coalesced in
// src) and writes them along R-1 (coalesced in dst). Other dims: batch. TD (movement.c) is 32
// for 4- and 8-byte elements, 64 for 2-byte and 128 for 1-byte ones: measured on an H100 at
// 8192 x 8192, f32 moves 2.7x faster in 32-element tiles than in 64 (64% of copy against 24%),
// bf16 (in words) 1.1x faster in 64 than in 32. Visiting the tiles diagonally (to spread the CTAs
// in flight over the column bands) measured no faster than this plain order, or slower.
//  - Elements narrower than 4 bytes move as 32-bit words of V elements on both sides (a word
//    along B read from src; a word along A assembled from V tile rows written to dst) wherever a
//    tile is whole and both sides are word-aligned; other tiles move element by element.
//  - The tile rows are padded by a 4-byte bank shift (PAD elements), so the column reads are
//    free of bank conflicts for 4- and 8-byte elements (2-way for 2-byte, 4-way for 1-byte).
template <class T, int R, int TD>
__device__ __forceinline__ void mv_tile(const mv_args<1>& a) {
    enum { V = sizeof(T) >= 4 ? 1 : 4 / (int)sizeof(T), PAD = V, PER = TD * TD / MV_THREADS, W = TD / V };
    typedef vec<T, V> word;
    __shared__ __align__(16) T tile[TD][TD + PAD];
    const mv_piece& p = a.pc[0];
    const T* src = (const T*)p.src;
    T* dst = (T*)p.dst;
    if (a.dyn) {
        const i64 s = mv_clamp_start(a.dyn, a.dyn_max);
        src += s * a.dyn_ss;
        dst += s * a.dyn_ds;
    }
    const int b = (int)a.tb;
    const i64 nA = p.shape[R - 1], nB = p.shape[b], sA = p.ss[R - 1], dB = p.ds[b];
    for (i64 t = blockIdx.x; t < a.ntiles; t += gridDim.x) {
        const i64 ta = t % a.tiles_a;
        i64 r = t / a.tiles_a;
        const i64 tb = r % a.tiles_b;
        r /= a.tiles_b;
        i64 so = 0, dof = 0;
#pragma unroll
        for (int k = R - 2; k >= 0; k--) {
            if (k == b) continue;
            const i64 n = p.shape[k], c = r % n;
            r /= n;
            so += c * p.ss[k];
            dof += c * p.ds[k];
        }
        const i64 a0 = ta * TD, b0 = tb * TD;
        const T* s0 = src + so + a0 * sA + b0;
        T* d0 = dst + dof + b0 * dB + a0;
        const bool words = V > 1 && a0 + TD <= nA && b0 + TD <= nB && sA % V == 0 && dB % V == 0 &&
                           ((size_t)s0 | (size_t)d0) % (V * sizeof(T)) == 0;
        if (words) {
#pragma unroll
            for (int i = 0; i < PER / V; i++) {
                const int e = i * MV_THREADS + (int)threadIdx.x, k = e / W, c = e % W * V;  // k along A, c along B
                *(word*)&tile[k][c] = *(const word*)(s0 + k * sA + c);
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < PER / V; i++) {
                const int e = i * MV_THREADS + (int)threadIdx.x, k = e / W, c = e % W * V;  // k along B, c along A
                word w;
#pragma unroll
                for (int j = 0; j < V; j++) w.v[j] = tile[c + j][k];
                *(word*)(d0 + k * dB + c) = w;
            }
        } else {
#pragma unroll
            for (int i = 0; i < PER; i++) {
                const int e = i * MV_THREADS + (int)threadIdx.x, k = e / TD, c = e % TD;  // k along A, c along B
                if (a0 + k < nA && b0 + c < nB) tile[k][c] = s0[k * sA + c];
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < PER; i++) {
                const int e = i * MV_THREADS + (int)threadIdx.x, k = e / TD, c = e % TD;  // k along B, c along A
                if (a0 + c < nA && b0 + k < nB) d0[k * dB + c] = tile[c][k];
            }
        }
        __syncthreads();
    }
}

// ---- generators: fill, arange, linspace, eye, triu, tril ------------------------------------------
// OP: 0 fill (v0), 1 arange (v0 + i * v1, unfused, in f64; integers in i64: iv0 + i * iv1),
// 2 linspace (v0 + i * v1 below steps / 2, else v2 - (n - 1 - i) * v1: PyTorch's symmetric
// form, in f64), 3 eye (1 where col - row == k), 4 triu (x where col - row >= k, else 0), 5 tril
// (x where col - row <= k). Rows and cols are the last two dims (dims R-2 and R-1, never merged).
struct mv_fill_args {
    void* y;
    const void* x;
    double v0, v1, v2;
    i64 iv0, iv1, n, k;
    i64 units, vunits, ivec, scalar;
    i64 shape[8];
    i64 ys[8];
    i64 xs[8];
};

template <class T> struct mv_is_int { enum { v = 0 }; };
template <> struct mv_is_int<i8> { enum { v = 1 }; };
template <> struct mv_is_int<u8> { enum { v = 1 }; };
template <> struct mv_is_int<i16> { enum { v = 1 }; };
template <> struct mv_is_int<i32> { enum { v = 1 }; };
template <> struct mv_is_int<i64> { enum { v = 1 }; };
template <> struct mv_is_int<u32> { enum { v = 1 }; };

template <class T>
__device__ __forceinline__ T mv_from_f64(double v) {
    return io<T>::store(convert<typename io<T>::C>(v));
}
template <class T> __device__ __forceinline__ T mv_zero() { return T(); }  // all-zero bits for every storage type

template <class T, int OP>
__device__ __forceinline__ T mv_gen(const mv_fill_args& a, i64 row, i64 col, T fillv, const T* x, i64 xo) {
    if (OP == 0) return fillv;
    if (OP == 1) {
        if (mv_is_int<T>::v) return io<T>::store(convert<typename io<T>::C>(a.iv0 + col * a.iv1));
        return mv_from_f64<T>(__dadd_rn(a.v0, __dmul_rn((double)col, a.v1)));
    }
    if (OP == 2) {
        const double v = col < a.n / 2 ? __dadd_rn(a.v0, __dmul_rn((double)col, a.v1))
                                       : __dsub_rn(a.v2, __dmul_rn((double)(a.n - 1 - col), a.v1));
        return mv_from_f64<T>(v);
    }
    if (OP == 3) return mv_from_f64<T>(col - row == a.k ? 1.0 : 0.0);
    const bool keep = OP == 4 ? col - row >= a.k : col - row <= a.k;
    return keep ? x[xo] : mv_zero<T>();
}

// Units are VEC consecutive elements of the innermost dim (its strides 1 when VEC > 1), or
// single tail elements of a one-row tensor, as in mv_copy. Offsets in i64.
template <class T, int OP, int VEC, int R>
__device__ __forceinline__ void mv_fill(const mv_fill_args& a) {
    const i64 q = (i64)blockIdx.x * MV_THREADS + threadIdx.x;
    if (q >= a.units) return;
    T* y = (T*)a.y;
    const T* x = (const T*)a.x;
    const T fillv = OP == 0 ? mv_from_f64<T>(a.v0) : mv_zero<T>();
    i64 col, row = 0, yo = 0, xo = 0;
    int n = VEC;
    if (q >= a.vunits) {
        col = a.vunits * VEC + (q - a.vunits);
        n = 1;
    } else {
        i64 r = q;
        if (R > 1) {
            col = (q % a.ivec) * VEC;
            r = q / a.ivec;
        } else {
            col = q * VEC;
        }
#pragma unroll
        for (int k = R - 2; k >= 0; k--) {
            i64 c = r;
            if (k > 0) {
                c = r % a.shape[k];
                r /= a.shape[k];
            }
            if (k == R - 2) row = c;
            yo += c * a.ys[k];
            xo += c * a.xs[k];
        }
    }
    const i64 ysi = a.ys[R - 1], xsi = a.xs[R - 1];
    if (VEC > 1 && n == VEC && !a.scalar) {
        vec<T, VEC> v, xv;
        if (OP >= 4) xv = *(const vec<T, VEC>*)(x + xo + col);
#pragma unroll
        for (int e = 0; e < VEC; e++) v.v[e] = mv_gen<T, OP>(a, row, col + e, fillv, xv.v, e);
        *(vec<T, VEC>*)(y + yo + col) = v;
        return;
    }
    for (int e = 0; e < n; e++)
        y[yo + (col + e) * ysi] = mv_gen<T, OP>(a, row, col + e, fillv, x, xo + (col + e) * xsi);
}

// ---- pad ---------------------------------------------------------------------------------------------
// MODE: 0 constant, 1 reflect, 2 replicate, 3 circular. Forward: one thread per y element reads
// the x element its coordinates map to (or writes value). Backward: one thread per dx element
// sums, in C and in increasing dy order, the dy elements that map to it: per dim at most three
// runs of dy coordinates (the mirror on the left, itself, the mirror on the right; replicate's
// edges own a run as long as the pad). Deterministic: no atomics.
struct mv_pad_args {
    const void* x;  // forward: x; backward: dy
    void* y;        // forward: y; backward: dx
    double value;
    i64 units;
    i64 shape[8];  // the output's (y forward, dx backward)
    i64 ishape[8]; // the input's
    i64 lo[8];
    i64 os[8];     // output strides
    i64 is[8];     // input strides
};

template <int MODE>
__device__ __forceinline__ i64 mv_pad_src(i64 j, i64 n) {  // j = y coord - lo; -1: constant
    if (j >= 0 && j < n) return j;
    if (MODE == 0) return -1;
    if (MODE == 1) return j < 0 ? -j : 2 * (n - 1) - j;
    if (MODE == 2) return j < 0 ? 0 : n - 1;
    return j < 0 ? j + n : j - n;
}

// The forward: a warp a unit of up to MV_PAD_SEG consecutive elements of one output row (dim
// R-1), a.units units in all. The row's outer coordinates, and whether its source row exists, are
// worked out once per unit; the lanes then walk the row with 32-bit steps.
enum { MV_PAD_SEG = 512 };
template <class T, int MODE, int R>
__device__ __forceinline__ void mv_pad_fwd(const mv_pad_args& a) {
    const i64 w = ((i64)blockIdx.x * MV_THREADS + threadIdx.x) >> 5;
    if (w >= a.units) return;
    const int lane = (int)threadIdx.x & 31;
    const i64 n = a.shape[R - 1], segs = (n + MV_PAD_SEG - 1) / MV_PAD_SEG;
    i64 r = w / segs, xo = 0, yo = 0;
    const i64 c0 = (w - r * segs) * MV_PAD_SEG;
    bool inside = true;
#pragma unroll
    for (int d = R - 2; d >= 0; d--) {
        i64 c = r;
        if (d > 0) {
            c = r % a.shape[d];
            r /= a.shape[d];
        }
        yo += c * a.os[d];
        const i64 j = mv_pad_src<MODE>(c - a.lo[d], a.ishape[d]);
        if (j < 0) inside = false;
        xo += j * a.is[d];
    }
    const T* x = (const T*)a.x + (inside ? xo : 0);
    T* y = (T*)a.y + yo;
    const T fill = mv_from_f64<T>(a.value);
    const i64 N = a.ishape[R - 1], lo = a.lo[R - 1], os = a.os[R - 1], is = a.is[R - 1];
    const int m = (int)(n - c0 < MV_PAD_SEG ? n - c0 : MV_PAD_SEG);
#pragma unroll 4
    for (int k = lane; k < m; k += 32) {
        const i64 c = c0 + k, j = mv_pad_src<MODE>(c - lo, N);
        y[c * os] = inside && j >= 0 ? x[j * is] : fill;
    }
}

template <class T, int MODE, int R>
__device__ __forceinline__ void mv_pad_bwd(const mv_pad_args& a) {
    typedef typename io<T>::C C;
    const i64 q = (i64)blockIdx.x * MV_THREADS + threadIdx.x;
    if (q >= a.units) return;
    i64 r = q, xo = 0;
    i64 rs[R][3], rn[R][3];  // runs of dy coordinates: start, length
    int nr[R];
    bool empty = false;
#pragma unroll
    for (int d = R - 1; d >= 0; d--) {
        i64 c = r;
        if (d > 0) {
            c = r % a.shape[d];
            r /= a.shape[d];
        }
        xo += c * a.os[d];
        const i64 n = a.shape[d], lo = a.lo[d], N = a.ishape[d], j = c + lo;
        int m = 0;
        if (MODE == 1 && c >= 1 && c <= lo) rs[d][m] = lo - c, rn[d][m++] = 1;
        if (MODE == 2 && c == 0 && lo > 0) rs[d][m] = 0, rn[d][m++] = lo;
        if (MODE == 3 && j - n >= 0) rs[d][m] = j - n, rn[d][m++] = 1;
        if (j >= 0 && j < N) rs[d][m] = j, rn[d][m++] = 1;
        if (MODE == 1 && c <= n - 2 && lo + 2 * (n - 1) - c < N) rs[d][m] = lo + 2 * (n - 1) - c, rn[d][m++] = 1;
        if (MODE == 2 && c == n - 1 && lo + n < N) rs[d][m] = lo + n, rn[d][m++] = N - lo - n;
        if (MODE == 3 && j + n < N) rs[d][m] = j + n, rn[d][m++] = 1;
        nr[d] = m;
        if (m == 0) empty = true;
    }
    C acc = C(0);
    if (!empty) {
        int ri[R];
        i64 off[R];
#pragma unroll
        for (int d = 0; d < R; d++) ri[d] = 0, off[d] = 0;
        const T* dy = (const T*)a.x;
        for (;;) {
            i64 o = 0;
#pragma unroll
            for (int d = 0; d < R; d++) o += (rs[d][ri[d]] + off[d]) * a.is[d];
            acc += io<T>::load(dy[o]);
            int d = R - 1;
            for (; d >= 0; d--) {
                if (++off[d] < rn[d][ri[d]]) break;
                off[d] = 0;
                if (++ri[d] < nr[d]) break;
                ri[d] = 0;
            }
            if (d < 0) break;
        }
    }
    ((T*)a.y)[xo] = io<T>::store(acc);
}

}  // namespace brc
