// Movement kernels: strided copy (and everything built on it: permute, flip, roll, repeat, slice,
// write_slice, concat, split), the tiled transpose, the generators (fill, arange, linspace, eye,
// triu, tril) and pad forward / backward. A plan bakes into the snippet (runtime/ops/movement.c):
//   copy   T (an unsigned integer of the element size: values move as bits), VEC elements a
//          16-byte-or-narrower vector, R the rank after merging (1..8), I the index type (u32 or
//          u64: offsets are then int or i64), P the pieces a launch serves (1, 4 or 16).
//   tile   T, R: the innermost dst dim is not the src's unit-stride dim (tile shape: mv_tgeo).
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

// A vector word with cache hints (HINT in mv_copy): 16 bytes load through the read-only path without
// allocating in L1 and store marked streaming (evict first); other sizes plainly.
template <class W> __device__ __forceinline__ W mv_ld_hint(const void* p) { return *(const W*)p; }
template <class W> __device__ __forceinline__ void mv_st_hint(void* p, const W& v) { *(W*)p = v; }
template <> __device__ __forceinline__ vec<u32, 4> mv_ld_hint<vec<u32, 4> >(const void* p) {
    vec<u32, 4> v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.v[0]), "=r"(v.v[1]), "=r"(v.v[2]), "=r"(v.v[3]) : "l"(p));
    return v;
}
template <> __device__ __forceinline__ void mv_st_hint<vec<u32, 4> >(void* p, const vec<u32, 4>& v) {
    asm volatile("st.global.cs.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(v.v[0]), "r"(v.v[1]), "r"(v.v[2]),
                 "r"(v.v[3]) : "memory");
}

// The copy kernel: each thread moves UNR units MV_THREADS apart (all loads, then all stores;
// UNR = MV_UNROLL, or 1 for copies that would not give every SM a CTA: runtime/ops/movement.c,
// COPY_SMALL). A launch of P pieces finds its piece by a binary search over first (pieces past
// the launch's count have first = INT64_MAX; P is a power of two). HINT: 16-byte vectors move
// with cache hints (copies past the L2: runtime/ops/movement.c, COPY_HINT_BYTES).
template <class T, int VEC, int R, class I, int P, int HINT = 0, int UNR = MV_UNROLL>
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
    const I q0 = (I)(blk - p.first) * (I)(MV_THREADS * UNR) + (I)threadIdx.x;
    const bool scalar = VEC > 1 && p.scalar != 0;
    typedef typename word_of<VEC * sizeof(T)>::t W;
    wvec<T, VEC> v[UNR];  // words: see wvec
    S so[UNR], dof[UNR];
#pragma unroll
    for (int u = 0; u < UNR; u++) {
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
        } else if (HINT) {
            v[u].w = mv_ld_hint<W>(src + so[u]);
        } else {
            v[u].w = *(const W*)(src + so[u]);
        }
    }
#pragma unroll
    for (int u = 0; u < UNR; u++) {
        const I q = q0 + (I)(u * MV_THREADS);
        if (q >= units) continue;
        if (VEC == 1 || q >= vunits) {
            dst[dof[u]] = v[u].v[0];
        } else if (scalar) {
#pragma unroll
            for (int k = 0; k < VEC; k++) dst[dof[u] + k] = v[u].v[k];
        } else if (HINT) {
            mv_st_hint<W>(dst + dof[u], v[u].w);
        } else {
            *(W*)(dst + dof[u]) = v[u].w;
        }
    }
}

// 32-bit division where both operands fit (the usual case: a uniform branch), else 64-bit.
__device__ __forceinline__ i64 mv_div(i64 x, i64 d) {
    if ((((u64)x | (u64)d) >> 32) == 0) return (i64)((u32)x / (u32)d);
    return x / d;
}

// t / d for 0 <= t < 2^16 and d >= 1 (a thread index split by a count a row), by one approximate
// float division: (t + 0.5) / d lies at least 0.5 / d from every integer, a relative distance of at
// least 2^-17, and __fdividef errs by at most 2 ulp (2^-22), so truncating it is exact (for d past
// 2^24, where (float)d rounds, t < d and the quotient stays below 1). About 6 instructions where an
// integer division takes 20-25; the staged pad did six a thread (ncu: 17% of its instructions).
__device__ __forceinline__ int mv_div16(int t, int d) {
#ifdef __CUDA_ARCH__
    return __float2int_rz(__fdividef((float)t + 0.5f, (float)d));
#else
    return t / d;
#endif
}

// The tiled transpose: dim R-1 (A) is contiguous in dst (ds = 1) and dim a.tb (B) in src (ss = 1);
// other dims are batch. A CTA moves one 16 KiB tile of TA x TB elements at a time through shared
// memory, 16-byte vectors on both global sides (4 loads in flight a thread, then 4 stores):
//  - Shared memory holds words W (u32; u64 for 8-byte elements), each packing PK = 4 / E elements
//    that are consecutive along A (1 for 4- and 8-byte elements), in word rows along B. A thread
//    loads PK src rows of one 16-byte vector each and regroups their bytes with __byte_perm, so
//    that every word already holds the PK elements of one dst vector: the tile is then a
//    transpose of words, and the smem traffic is 16-byte stores and word loads for every size.
//  - The 16-byte chunks of a word row are XOR-swizzled by the row's chunk-row index (row / CW,
//    mod 8): both the 16-byte stores (8 lanes one row, 8 chunks) and the word loads (8 chunk-rows
//    by CW words of a chunk) are free of bank conflicts. For PK > 1 a unit's PK chunks are stored
//    in an order rotated by its position, so the 8 lanes of a store phase hit 8 distinct banks.
//  - Tiles whose extents are multiples of the vector and whose rows are 16-byte aligned on both
//    sides move by vectors (partial edge tiles too: each vector is checked against the edge);
//    others move element by element through the same layout.
// Geometry per element size (every tile is 16 KiB; TA and TB are mirrored in movement.c).
// H = 1 halves TAW (8 KiB tiles, for transposes with few tiles; not for 1-byte elements, whose
// 256 threads would then have half a load unit each). H = 2 (2-byte elements only) doubles TB:
// 128 x 128 tiles of 32 KiB, 256-byte segments on both sides as for 4-byte elements. H = 3 (2-byte
// elements only, "long" tiles): 64 x 128, 16 KiB, 256-byte src segments (as 4-byte half tiles
// have) and 128-byte dst ones, for transposes that would take half tiles but have many tiles
// (H100: 10-11% faster than half tiles at 4096 x 1000 and 4096 x 1024 bf16; docs/movement.md).
template <int E, int H> struct mv_tgeo;
template <int H> struct mv_tgeo<1, H> { typedef u32 W; enum { PK = 4, TAW = 32, TB = 128 }; };
template <int H> struct mv_tgeo<2, H> {
    typedef u32 W;
    enum { PK = 2, TAW = H == 1 || H == 3 ? 32 : 64, TB = H >= 2 ? 128 : 64 };
};
template <int H> struct mv_tgeo<4, H> { typedef u32 W; enum { PK = 1, TAW = 64 >> (H & 1), TB = 64 }; };
template <int H> struct mv_tgeo<8, H> { typedef u64 W; enum { PK = 1, TAW = 64 >> (H & 1), TB = 32 }; };

typedef vec<u32, 4> mv_v4;  // a 16-byte vector as four words

// Chunk c (c < PK) of the words built from PK src vectors (rows a..a+PK-1, 16 bytes each, word k
// of row r holding elements 4k / E.. of that row): the word for column b holds rows a..a+PK-1.
template <int PK>
__device__ __forceinline__ mv_v4 mv_pack(const mv_v4* r, int c) {
    mv_v4 o;
    if (PK == 1) return r[0];
    if (PK == 2) {  // 16-bit: chunk c from row words 2c, 2c+1; each gives columns 2k, 2k+1
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const u32 x = r[0].v[2 * c + h], y = r[1].v[2 * c + h];
            o.v[2 * h] = __byte_perm(x, y, 0x5410);
            o.v[2 * h + 1] = __byte_perm(x, y, 0x7632);
        }
        return o;
    }
    // 8-bit: chunk c from row word c of the four rows; columns 4c + h, h = 0..3
    const u32 t0 = __byte_perm(r[0].v[c], r[1].v[c], 0x5140), t1 = __byte_perm(r[0].v[c], r[1].v[c], 0x7362);
    const u32 u0 = __byte_perm(r[2].v[c], r[3].v[c], 0x5140), u1 = __byte_perm(r[2].v[c], r[3].v[c], 0x7362);
    o.v[0] = __byte_perm(t0, u0, 0x5410);
    o.v[1] = __byte_perm(t0, u0, 0x7632);
    o.v[2] = __byte_perm(t1, u1, 0x5410);
    o.v[3] = __byte_perm(t1, u1, 0x7632);
    return o;
}

// Byte offset in the tile of element (a along A, b along B).
template <class G, class W, int E>
__device__ __forceinline__ int mv_tile_at(int a, int b) {
    enum { CW = 16 / sizeof(W) };
    const int ar = a / G::PK, phys = (b / CW) ^ ((ar / CW) & 7);
    return (ar * G::TB + phys * CW + b % CW) * (int)sizeof(W) + (a % G::PK) * E;
}

// One tile's place: its src / dst corners, extents (ra along A, rb along B) and whether it moves by
// vectors.
template <class T, int R, int TA, int TB>
__device__ __forceinline__ bool mv_tile_geo(const mv_args<1>& a, const T* src, T* dst, i64 t, bool pitches,
                                            const T*& s0, T*& d0, int& ra, int& rb) {
    enum { VE = 16 / sizeof(T) };
    const mv_piece& p = a.pc[0];
    const int b = (int)a.tb;
    i64 r = mv_div(t, a.tiles_a);
    const i64 ta = t - r * a.tiles_a;
    i64 tb = r;
    r = mv_div(r, a.tiles_b);
    tb -= r * a.tiles_b;
    i64 so = 0, dof = 0;
#pragma unroll
    for (int k = R - 2; k >= 0; k--) {
        if (k == b) continue;
        const i64 n = p.shape[k], q = mv_div(r, n), c = r - q * n;
        r = q;
        so += c * p.ss[k];
        dof += c * p.ds[k];
    }
    const i64 nA = p.shape[R - 1], nB = p.shape[b], a0 = ta * TA, b0 = tb * TB;
    ra = (int)(nA - a0 < TA ? nA - a0 : TA), rb = (int)(nB - b0 < TB ? nB - b0 : TB);
    s0 = src + so + a0 * p.ss[R - 1] + b0;
    d0 = dst + dof + b0 * p.ds[b] + a0;
    return pitches && (ra | rb) % VE == 0 && ((size_t)s0 | (size_t)d0) % 16 == 0;
}

// H: half tiles (mv_tgeo). PIPE = 1: a CTA with more tiles issues the next tile's loads right after
// this tile reached shared memory, so they are in flight during this tile's stores.
template <class T, int R, int H, int PIPE>
__device__ __forceinline__ void mv_tile(const mv_args<1>& a) {
    typedef mv_tgeo<sizeof(T), H> G;
    typedef typename G::W W;
    enum {
        E = sizeof(T), PK = G::PK, CW = 16 / sizeof(W), LCW = CW == 4 ? 2 : 1, TAW = G::TAW, TA = TAW * PK,
        TB = G::TB,
        VE = 16 / E,                       // elements a vector
        BCN = TB / VE,                     // src vectors a tile row
        LU = TAW * BCN / MV_THREADS,       // load units a thread (PK vectors each)
        AV = TAW / CW,                     // dst vectors a tile column
        AS = 32 / CW,                      // of which a warp covers
        SU = TB * AV / MV_THREADS          // dst vectors a thread
    };
    __shared__ __align__(16) W sm[TAW * TB];
    char* const smb = (char*)sm;
    const mv_piece& p = a.pc[0];
    const T* src = (const T*)p.src;
    T* dst = (T*)p.dst;
    if (a.dyn) {
        const i64 s = mv_clamp_start(a.dyn, a.dyn_max);
        src += s * a.dyn_ss;
        dst += s * a.dyn_ds;
    }
    const int b = (int)a.tb, tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const i64 sA = p.ss[R - 1], dB = p.ds[b];
    const bool pitches = (sA * E) % 16 == 0 && (dB * E) % 16 == 0;
    // Load phase: unit u of a thread is word row ar0 + u (MV_THREADS / BCN), src vector bc.
    const int bc = tid % BCN, ar0 = tid / BCN;
    // Store phase: a warp covers CW dst rows (blo = lane's row in them) by AS vectors (ac); the
    // AV / AS warps of a row group side by side, groups GS apart from one s to the next.
    enum { GA = AV / AS, GS = MV_THREADS / 32 / GA };
    const int ac = (warp % GA) * AS + (lane & 7) + 8 * (lane >> (3 + LCW)), blo = (lane >> 3) & (CW - 1),
              gb0 = warp / GA;
    mv_v4 ld[LU][PK];
    bool have = false;  // ld holds this tile's vectors (PIPE)
    for (i64 t = blockIdx.x; t < a.ntiles; t += gridDim.x) {
        const T* s0;
        T* d0;
        int ra, rb;
        const bool vecs = mv_tile_geo<T, R, TA, TB>(a, src, dst, t, pitches, s0, d0, ra, rb);
        if (vecs) {
            const bool bin = bc * VE < rb;
            if (!have) {
                const T* sp = s0 + (i64)(ar0 * PK) * sA + bc * VE;
#pragma unroll
                for (int u = 0; u < LU; u++) {
                    const int ar = ar0 + u * (MV_THREADS / BCN);
                    if (ar * PK < ra && bin)
#pragma unroll
                        for (int k = 0; k < PK; k++)
                            ld[u][k] = *(const mv_v4*)(sp + (i64)(u * (MV_THREADS / BCN) * PK + k) * sA);
                }
            }
#pragma unroll
            for (int u = 0; u < LU; u++) {
                const int ar = ar0 + u * (MV_THREADS / BCN);
                if (ar * PK < ra && bin) {
                    mv_v4 ch[PK];
#pragma unroll
                    for (int c = 0; c < PK; c++) ch[c] = mv_pack<PK>(ld[u], c);
                    // The 8 lanes of a quarter-warp store to 8 distinct chunk positions mod 8.
                    const int rot = PK == 1 ? 0 : (tid & 7) / (8 / PK), sw = (ar / CW) & 7;
#pragma unroll
                    for (int k = 0; k < PK; k++) {
                        const int c = (k + rot) & (PK - 1);
                        mv_v4 v = ch[0];
#pragma unroll
                        for (int j = 1; j < PK; j++)
                            if (c == j) v = ch[j];
                        *(mv_v4*)&sm[ar * TB + ((bc * PK + c) ^ sw) * CW] = v;
                    }
                }
            }
            __syncthreads();
            have = false;
            if (PIPE && t + gridDim.x < a.ntiles) {  // the next tile's loads, in flight during the stores
                const T* s1;
                T* d1;
                int ra1, rb1;
                if (mv_tile_geo<T, R, TA, TB>(a, src, dst, t + gridDim.x, pitches, s1, d1, ra1, rb1)) {
                    const T* sp = s1 + (i64)(ar0 * PK) * sA + bc * VE;
                    const bool bin1 = bc * VE < rb1;
#pragma unroll
                    for (int u = 0; u < LU; u++) {
                        const int ar = ar0 + u * (MV_THREADS / BCN);
                        if (ar * PK < ra1 && bin1)
#pragma unroll
                            for (int k = 0; k < PK; k++)
                                ld[u][k] = *(const mv_v4*)(sp + (i64)(u * (MV_THREADS / BCN) * PK + k) * sA);
                    }
                    have = true;
                }
            }
            T* dp = d0 + (i64)(gb0 * CW + blo) * dB + ac * VE;
            const bool ain = ac * VE < ra;
#pragma unroll
            for (int s = 0; s < SU; s++) {
                const int gb = gb0 + s * GS;  // the group of CW dst rows
                if (gb * CW + blo < rb && ain) {
                    vec<W, CW> w;
                    const W* sr = sm + ac * CW * TB + ((gb ^ (ac & 7)) * CW + blo);
#pragma unroll
                    for (int j = 0; j < CW; j++) w.v[j] = sr[j * TB];
                    *(vec<W, CW>*)(dp + (i64)(s * GS * CW) * dB) = w;
                }
            }
        } else {
#pragma unroll 1
            for (int e = tid; e < TA * TB; e += MV_THREADS) {
                const int ea = e / TB, eb = e % TB;
                if (ea < ra && eb < rb) *(T*)(smb + mv_tile_at<G, W, E>(ea, eb)) = s0[(i64)ea * sA + eb];
            }
            __syncthreads();
#pragma unroll 1
            for (int e = tid; e < TA * TB; e += MV_THREADS) {
                const int eb = e / TA, ea = e % TA;
                if (ea < ra && eb < rb) d0[(i64)eb * dB + ea] = *(const T*)(smb + mv_tile_at<G, W, E>(ea, eb));
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
// MODE: 0 constant, 1 reflect, 2 replicate, 3 circular. Forward: a CTA per group of y rows
// (mv_pad_fwd). Backward: one thread per dx element sums, in C and in increasing dy order, the dy
// elements that map to it: per dim at most three runs of dy coordinates (the mirror on the left,
// itself, the mirror on the right; replicate's edges own a run as long as the pad). Deterministic:
// no atomics.
struct mv_pad_args {
    const void* x;  // forward: x; backward: dy
    void* y;        // forward: y; backward: dx
    double value;
    i64 units;      // backward: dx elements; forward: y rows (the product of the outer dims)
    // Forward only (mv_pad_fwd): 16-byte chunk units a row (0: the rows are not contiguous on both
    // sides), edge units a row, rows a CTA, segments a row, chunk and edge units a segment, and the
    // edge windows (up to 4 column ranges, sorted and disjoint): win[2w] is where window w ends in
    // the edge units of a row (cumulative; unused windows repeat ew), win[2w + 1] what unit e in it
    // adds to become a column.
    i64 ch, ew, g, nseg, cw, ews;
    i64 win[8];
    i64 shape[8];  // the output's (y forward, dx backward)
    i64 ishape[8]; // the input's
    i64 lo[8];
    i64 os[8];     // output strides
    i64 is[8];     // input strides
};

template <int MODE, class I>
__device__ __forceinline__ I mv_pad_src(I j, I n) {  // j = y coord - lo; -1: constant
    if (j >= 0 && j < n) return j;
    if (MODE == 0) return -1;
    if (MODE == 1) return j < 0 ? -j : 2 * (n - 1) - j;
    if (MODE == 2) return j < 0 ? 0 : n - 1;
    return j < 0 ? j + n : j - n;
}

template <int E> struct mv_bits;
template <> struct mv_bits<1> { typedef u8 t; };
template <> struct mv_bits<2> { typedef u16 t; };
template <> struct mv_bits<4> { typedef u32 t; };
template <> struct mv_bits<8> { typedef u64 t; };

// 16 bytes of copies of an element's bits.
template <int E>
__device__ __forceinline__ mv_v4 mv_splat(u64 b) {
    const u32 w = E == 1 ? (u32)(b & 0xffu) * 0x01010101u : E == 2 ? (u32)(b & 0xffffu) * 0x00010001u : (u32)b;
    mv_v4 o;
    o.v[0] = o.v[2] = w;
    o.v[1] = o.v[3] = E == 8 ? (u32)(b >> 32) : w;
    return o;
}

// What the whole 16-byte-aligned chunk of y columns [c0, c0 + 16 / E) of a contiguous row is, x
// being the source row (nullptr: the row lies in a constant pad) of N columns, lo the pad before:
// 1 the constant, 2 copies of x column sc, 3 a copy of x columns [sc, sc + 16 / E); 0 none of them
// (not whole, across a region boundary, reflect's mirrored columns, or a copy whose two aligned
// x blocks would leave x's row): the edge phase writes its columns one by one.
template <int E, int MODE>
__device__ __forceinline__ int mv_pad_chunk(const char* x, i64 c0, i64 n, i64 N, i64 lo, i64& sc) {
    enum { VE = 16 / E };
    if (c0 < 0 || c0 + VE > n) return 0;
    if (!x) return 1;
    if (c0 >= lo && c0 + VE <= lo + N) {
        sc = c0 - lo;
    } else if (c0 + VE <= lo || c0 >= lo + N) {
        const bool left = c0 + VE <= lo;
        if (MODE == 0) return 1;
        if (MODE == 1) return 0;
        if (MODE == 2) {
            sc = left ? 0 : N - 1;
            return 2;
        }
        sc = left ? c0 - lo + N : c0 - lo - N;
    } else {
        return 0;
    }
    const size_t s = (size_t)(x + sc * E), mis = s & 15;
    return mis == 0 || (s - mis >= (size_t)x && s - mis + 32 <= (size_t)(x + N * E)) ? 3 : 0;
}

// The pad forwards' common start: the fill value's bits, and the addresses of the group's rows
// r0 .. r0 + gn - 1 (dim R - 1; the outer dims flattened), one thread a row, into shared memory:
// the y row (when yrow is given) and the x row it reads (null inside a constant pad of the outer
// dims). The caller syncs before reading them.
template <class T, int MODE, int R>
__device__ __forceinline__ typename mv_bits<sizeof(T)>::t mv_pad_rows(const mv_pad_args& a, i64 r0, int gn, int tid,
                                                                      const char** xrow, char** yrow) {
    enum { E = sizeof(T) };
    if (tid < gn) {
        i64 r = r0 + tid, xo = 0, yo = 0;
        bool inside = true;
#pragma unroll
        for (int d = R - 2; d >= 0; d--) {
            i64 c = r;
            if (d > 0) {
                r = mv_div(c, a.shape[d]);
                c -= r * a.shape[d];
            }
            yo += c * a.os[d];
            const i64 j = mv_pad_src<MODE>(c - a.lo[d], a.ishape[d]);
            if (j < 0) inside = false;
            xo += j * a.is[d];
        }
        if (yrow) yrow[tid] = (char*)a.y + yo * E;
        xrow[tid] = inside && a.x ? (const char*)a.x + xo * E : nullptr;
    }
    const T f = mv_from_f64<T>(a.value);
    return *(const typename mv_bits<E>::t*)&f;  // the storage types are their bits
}

// The forward. A CTA takes a.g consecutive y rows (dim R-1; the outer dims flattened), or one
// segment of one row when rows are long (a.nseg segments). Its threads first work out each row's
// y and x row addresses (x: nullptr inside a constant pad) into shared memory, then:
//  - chunk phase (rows contiguous on both sides): unit k of a row is the k-th 16-byte-aligned chunk
//    of memory the row touches. A whole chunk that mv_pad_chunk classifies is stored as one
//    vector: the constant, a broadcast x element, or a shifted copy of x (one aligned 16-byte load
//    when x's address is aligned too, else the two aligned blocks it straddles joined with funnel
//    shifts). Others are left to the edge phase.
//  - edge phase: the columns of the edge windows (around the row's ends and the region boundaries;
//    reflect: the pads whole), one element a unit, skipping those whose chunk the chunk phase
//    stored; for rows that are not contiguous the window is the whole row, through the strides.
// A thread moves U units MV_THREADS apart at a time: all loads, then all stores. Values move as
// bits.
template <class T, int MODE, int R, int U>
__device__ __forceinline__ void mv_pad_fwd(const mv_pad_args& a) {
    enum { E = sizeof(T), VE = 16 / E };
    typedef typename mv_bits<E>::t B;
    __shared__ const char* xrow[MV_THREADS];
    __shared__ char* yrow[MV_THREADS];
    const i64 n = a.shape[R - 1], N = a.ishape[R - 1], lo = a.lo[R - 1], os = a.os[R - 1], is = a.is[R - 1];
    const int tid = (int)threadIdx.x;
    const u32 nseg = (u32)a.nseg, grp = blockIdx.x / nseg, seg = blockIdx.x - grp * nseg;
    const i64 r0 = (i64)grp * a.g;
    const int gn = (int)(a.units - r0 < a.g ? a.units - r0 : a.g);
    const B fill = mv_pad_rows<T, MODE, R>(a, r0, gn, tid, xrow, yrow);
    __syncthreads();
    // Chunk phase.
    const i64 k0 = (i64)seg * a.cw;
    const int cend = (int)(a.ch - k0 < a.cw ? a.ch - k0 : a.cw);  // chunk units of this segment, a row
    if (cend > 0) {
        const int dg = mv_div16(MV_THREADS, cend), dk = MV_THREADS - dg * cend;
        int g = mv_div16(tid, cend), kk = tid - g * cend;
        while (g < gn) {
            mv_v4 v0[U], v1[U];
            // at: -1 nothing; else store v0:v1 from byte at (0: v0 as is); the chunk is the row's
            // k0 + (pos >> 8)-th, pos & 255 the row in the group (registers: no pointers kept).
            int at[U], pos[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                at[u] = -1;
                if (g < gn) {
                    const char* const yr = yrow[g];
                    const char* const xr = xrow[g];
                    const size_t ya = ((size_t)yr & ~(size_t)15) + (size_t)(16 * (k0 + kk));
                    i64 sc = 0;
                    const int t = mv_pad_chunk<E, MODE>(xr, (i64)(ya - (size_t)yr) / E, n, N, lo, sc);
                    pos[u] = kk << 8 | g;
                    if (t == 1) {
                        v0[u] = mv_splat<E>((u64)fill);
                        at[u] = 0;
                    } else if (t == 2) {
                        v0[u] = mv_splat<E>((u64) * (const B*)(xr + sc * E));
                        at[u] = 0;
                    } else if (t == 3) {
                        const char* s = xr + sc * E;
                        const int mis = (int)((size_t)s & 15);
                        v0[u] = *(const mv_v4*)(s - mis);
                        if (mis) v1[u] = *(const mv_v4*)(s - mis + 16);
                        at[u] = mis;
                    }
                }
                g += dg, kk += dk;
                if (kk >= cend) kk -= cend, g++;
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                if (at[u] < 0) continue;
                if (at[u] > 0) {
                    const int d4 = at[u] >> 2, bits = (at[u] & 3) * 8;
                    u32 w[8], t[5];
#pragma unroll
                    for (int i = 0; i < 4; i++) w[i] = v0[u].v[i], w[i + 4] = v1[u].v[i];
#pragma unroll
                    for (int i = 0; i < 5; i++) t[i] = d4 == 0 ? w[i] : d4 == 1 ? w[i + 1] : d4 == 2 ? w[i + 2] : w[i + 3];
#pragma unroll
                    for (int i = 0; i < 4; i++) v0[u].v[i] = __funnelshift_r(t[i], t[i + 1], bits);
                }
                const size_t ya = ((size_t)yrow[pos[u] & 255] & ~(size_t)15) + (size_t)(16 * (k0 + (pos[u] >> 8)));
                *(mv_v4*)ya = v0[u];
            }
        }
    }
    // Edge phase.
    const i64 e0 = (i64)seg * a.ews;
    const int eend = (int)(a.ew - e0 < a.ews ? a.ew - e0 : a.ews);
    if (eend > 0) {
        const bool contig = a.ch != 0;
        const int dg = mv_div16(MV_THREADS, eend), dk = MV_THREADS - dg * eend;
        int g = mv_div16(tid, eend), kk = tid - g * eend;
        while (g < gn) {
            B v[U];
            B* dp[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                dp[u] = nullptr;
                if (g < gn) {
                    char* const yr = yrow[g];
                    const char* const xr = xrow[g];
                    const i64 e = e0 + kk;  // the column: e + the shift of the window e falls in
                    i64 c = e + a.win[1];
#pragma unroll
                    for (int w = 1; w < 4; w++)
                        if (e >= a.win[2 * w - 2]) c = e + a.win[2 * w + 1];
                    i64 sc = 0;
                    if (!contig ||
                        !mv_pad_chunk<E, MODE>(xr, c - (i64)(((size_t)yr + (size_t)(c * E)) & 15) / E, n, N, lo, sc)) {
                        const i64 j = mv_pad_src<MODE>(c - lo, N);
                        v[u] = xr && j >= 0 ? *(const B*)(xr + j * is * E) : fill;
                        dp[u] = (B*)(yr + c * os * E);
                    }
                }
                g += dg, kk += dk;
                if (kk >= eend) kk -= eend, g++;
            }
#pragma unroll
            for (int u = 0; u < U; u++)
                if (dp[u]) *dp[u] = v[u];
        }
    }
}

// 16 bytes global -> shared without registers (cp.async, sm_80+), and the wait for all of a
// thread's. BRC_MV_NO_CP_ASYNC: a plain load and store instead (for host-side models of the index
// math; never defined by the library).
__device__ __forceinline__ void mv_cp16(void* sm, const void* g) {
#ifdef BRC_MV_NO_CP_ASYNC
    *(mv_v4*)sm = *(const mv_v4*)g;
#else
    u32 s;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(s) : "l"(sm));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(g) : "memory");
#endif
}
__device__ __forceinline__ void mv_cp_wait() {
#ifndef BRC_MV_NO_CP_ASYNC
    asm volatile("cp.async.wait_all;" ::: "memory");
#endif
}

// What the whole 16-byte-aligned chunk of y columns [c0, c0 + VE) of a staged row is: -4 not whole
// (the row's partial first or last chunk), -1 by element (reflect's pads; a chunk across a region
// boundary), -2 the constant (also every chunk of a row without x), -3 one x element repeated
// (replicate's pads), else a copy of x from that column on. Every column of a -4 or -1 chunk lies in
// the edge windows (a.win with h = VE).
template <int MODE, int VE>
__device__ __forceinline__ int mv_staged_chunk(bool hasx, int c0, int n, int N, int lo) {
    if (c0 < 0 || c0 + VE > n) return -4;
    if (!hasx) return -2;
    if (c0 >= lo && c0 + VE <= lo + N) return c0 - lo;
    if (c0 + VE <= lo || c0 >= lo + N) {
        if (MODE == 0) return -2;
        if (MODE == 2) return -3;
        if (MODE == 3) return c0 + VE <= lo ? c0 - lo + N : c0 - lo - N;
    }
    return -1;
}

// The 16-byte chunk mv_staged_chunk classified as src (not -1): -2 the constant, -3 replicate's
// pad (the row's first element when left, else its last), else x from element src of the staged
// row at sr (in shared memory at sx), joined from the two 16-byte blocks it straddles by funnel
// shifts when it is not aligned.
template <int E, class B>
__device__ __forceinline__ mv_v4 mv_staged_vec(int src, const char* sr, const char* sx, B fill, bool left, int N) {
    if (src == -2) return mv_splat<E>((u64)fill);
    if (src == -3) return mv_splat<E>((u64) * (const B*)(sr + (left ? 0 : (N - 1) * E)));
    const int o = (int)(sr + src * E - sx), sh = o & 15;
    const mv_v4 w0 = *(const mv_v4*)(sx + (o - sh));
    if (!sh) return w0;
    const mv_v4 w1 = *(const mv_v4*)(sx + (o - sh) + 16);
    const int d4 = sh >> 2, bits = (sh & 3) * 8;
    u32 w[8], t[5];
#pragma unroll
    for (int i = 0; i < 4; i++) w[i] = w0.v[i], w[i + 4] = w1.v[i];
#pragma unroll
    for (int i = 0; i < 5; i++) t[i] = d4 == 0 ? w[i] : d4 == 1 ? w[i + 1] : d4 == 2 ? w[i + 2] : w[i + 3];
    mv_v4 v;
#pragma unroll
    for (int i = 0; i < 4; i++) v.v[i] = __funnelshift_r(t[i], t[i + 1], bits);
    return v;
}

// The staged pads' x rows -> shared memory: gn rows (xrow[g]; null: nothing to load) of nx bytes
// each, at a pitch of xp bytes (nb 16-byte blocks), every 16-byte block a thread (of NT), all in
// flight (cp.async); a row that does not start 16-byte aligned is staged from its aligned base, so that
// its bytes sit at their address's offset within the block (xr & 15), the partial blocks at
// either end element by element. The caller waits (mv_cp_wait) and syncs.
template <int E, class B, int NT = MV_THREADS>
__device__ __forceinline__ void mv_stage_rows(char* sx, const char* const* xrow, int gn, int nb, int xp, int nx,
                                              int tid) {
    enum { VE = 16 / E };
    const int dg = mv_div16(NT, nb), dk = NT - dg * nb;
    int g = mv_div16(tid, nb), b = tid - g * nb;
    for (; g < gn;) {
        const char* const xr = xrow[g];
        if (xr) {
            const int xm = (int)((size_t)xr & 15), o = 16 * b;  // o: the block's offset from xr - xm
            const char* const base = xr - xm;
            char* const dst = sx + g * xp + o;
            if (o >= xm && o + 16 <= xm + nx) {
                mv_cp16(dst, base + o);
            } else if (o < xm + nx && o + 16 > xm) {
#pragma unroll
                for (int e = 0; e < VE; e++)
                    if (o + e * E >= xm && o + e * E < xm + nx) *(B*)(dst + e * E) = *(const B*)(base + o + e * E);
            }
        }
        g += dg, b += dk;
        if (b >= nb) b -= nb, g++;
    }
}

// The staged forward, for rows contiguous on both sides whose x rows fit SMEM bytes of shared
// memory a.g at a time (and whose y rows are below 2^31 bytes: column math in 32 bits): a CTA of
// NT threads (a.g <= NT) takes a.g consecutive y rows; its threads
//  - work out each row's y and x row addresses (as mv_pad_fwd);
//  - copy the x rows into shared memory (row g at g * a.cw bytes, x's aligned 16-byte blocks at
//    their offsets, so x element j lies at (x row address & 15) + j E): whole blocks by cp.async,
//    the row's partial first and last blocks element by element (no byte outside the row read);
//    all of them in flight at once;
//  - store the whole 16-byte-aligned chunks of memory the y rows touch (a.ch a row) that
//    mv_staged_chunk classifies as one vector each: the constant, a broadcast element, or a
//    shifted copy of x joined from two shared 16-byte blocks with funnel shifts;
//  - write the columns of the other chunks (reflect's mirrored pads, chunks across a region
//    boundary, the row's partial first and last chunks) one element a lane: the columns of the
//    edge windows (a.win, a.ew a row), skipping those whose chunk went whole. (Element by element
//    inside one lane, as first written, kept the warp waiting: bf16 took as long as f32; a chunk a
//    lane, gathered and stored whole, made every mode 10% slower: docs/movement.md.)
template <class T, int MODE, int R, int SMEM, int NT = MV_THREADS>
__device__ __forceinline__ void mv_pad_staged(const mv_pad_args& a) {
    enum { E = sizeof(T), VE = 16 / E };
    typedef typename mv_bits<E>::t B;
    __shared__ __align__(16) char sx[SMEM];
    __shared__ const char* xrow[NT];
    __shared__ char* yrow[NT];
    const int n = (int)a.shape[R - 1], N = (int)a.ishape[R - 1], lo = (int)a.lo[R - 1];
    const int tid = (int)threadIdx.x, xp = (int)a.cw, nb = xp / 16, ch = (int)a.ch, ew = (int)a.ew;
    const i64 r0 = (i64)blockIdx.x * a.g;
    const int gn = (int)(a.units - r0 < a.g ? a.units - r0 : a.g);
    const int nx = N * E;  // x row bytes
    const B fill = mv_pad_rows<T, MODE, R>(a, r0, gn, tid, xrow, yrow);
    __syncthreads();
    mv_stage_rows<E, B, NT>(sx, xrow, gn, nb, xp, nx, tid);  // x rows -> shared memory
    mv_cp_wait();
    __syncthreads();
    {  // whole y chunks from shared memory
        const int dg = mv_div16(NT, ch), dk = NT - dg * ch;
        int g = mv_div16(tid, ch), k = tid - g * ch;
#pragma unroll 2
        for (; g < gn;) {
            char* const yr = yrow[g];
            const char* const xr = xrow[g];
            char* const ya = (char*)(((size_t)yr & ~(size_t)15) + (size_t)16 * k);
            const int c0 = (int)(ya - yr) / E;
            const int src = mv_staged_chunk<MODE, VE>(xr != nullptr, c0, n, N, lo);
            if (src >= -3 && src != -1) {
                const char* const sr = sx + g * xp + ((size_t)xr & 15);  // x element j at sr + j E
                const mv_v4 v = mv_staged_vec<E, B>(src, sr, sx, fill, c0 < lo, N);
                *(mv_v4*)ya = v;
            }
            g += dg, k += dk;
            if (k >= ch) k -= ch, g++;
        }
    }
    if (ew > 0) {  // the other chunks' columns, one element a lane
        const int dg = mv_div16(NT, ew), dk = NT - dg * ew;
        int g = mv_div16(tid, ew), e = tid - g * ew;
        for (; g < gn;) {
            char* const yr = yrow[g];
            const char* const xr = xrow[g];
            int c = e + (int)a.win[1];  // the column: e + the shift of the window e falls in
#pragma unroll
            for (int w = 1; w < 4; w++)
                if (e >= (int)a.win[2 * w - 2]) c = e + (int)a.win[2 * w + 1];
            const int c0 = c - (int)(((size_t)yr + (size_t)c * E) & 15) / E;
            const int src = mv_staged_chunk<MODE, VE>(xr != nullptr, c0, n, N, lo);
            if (src == -1 || src == -4) {
                const int j = mv_pad_src<MODE>(c - lo, N);
                B v = fill;
                if (xr && j >= 0) v = *(const B*)(sx + g * xp + ((size_t)xr & 15) + j * E);
                *(B*)(yr + (size_t)c * E) = v;
            }
            g += dg, e += dk;
            if (e >= ew) e -= ew, g++;
        }
    }
}

// Element i (of 16 / E) of a 16-byte vector set to the bits v.
template <int E, class B>
__device__ __forceinline__ void mv_put(mv_v4& o, int i, B v) {
    if (E == 8) {
        o.v[2 * i] = (u32)(u64)v, o.v[2 * i + 1] = (u32)((u64)v >> 32);
    } else if (E == 4) {
        o.v[i] = (u32)v;
    } else {
        const int w = i * E / 4, sh = (i * E % 4) * 8;
        const u32 mask = E == 1 ? 0xffu : 0xffffu;
        o.v[w] = (o.v[w] & ~(mask << sh)) | ((u32)v << sh);
    }
}

enum { MV_FLAT_LIST = 512 };  // chunks a CTA of mv_pad_flat defers to its second pass

// The 16 bytes of y elements from row g, column c on (rows of n columns, continuing into the next
// rows), each from the staged x rows (mv_pad_flat's layout) or the constant.
template <int E, int MODE, class B>
__device__ __forceinline__ mv_v4 mv_flat_gather(const char* const* xrow, const char* sx, int xp, int g, int c, int n,
                                                int N, int lo, B fill) {
    mv_v4 v;
    v.v[0] = v.v[1] = v.v[2] = v.v[3] = 0;
#pragma unroll
    for (int i = 0; i < 16 / E; i++) {
        while (c >= n) c -= n, g++;
        const char* const xr = xrow[g];
        const int j = mv_pad_src<MODE>(c - lo, N);
        B b = fill;
        if (xr && j >= 0) b = *(const B*)(sx + g * xp + ((size_t)xr & 15) + j * E);
        mv_put<E>(v, i, b);
        c++;
    }
    return v;
}

// The flat staged forward: mv_pad_staged for a y contiguous in every dim (then the a.g rows of a
// CTA are one byte range of y, [y0, y0 + a.g n E), below 2^31 bytes). The x rows go to shared
// memory as in mv_pad_staged (xrow: the x row addresses; no y row table). Then the range is
// written by its 16-byte-aligned chunks, wherever rows begin and end inside them, each as one
// 16-byte store:
//  - first pass: a chunk of one row that mv_staged_chunk classifies (a shifted copy of x, the
//    constant, a repeated element) is built as in mv_pad_staged; any other (reflect's mirrored
//    columns, a region boundary, two rows) is put on a list (MV_FLAT_LIST a CTA; past that it is
//    built in place);
//  - second pass: the listed chunks, one a thread, element by element (mv_flat_gather).
// (Built in place in the first pass, as first written, these chunks made most warps run both
// paths: bf16 139 us against 105 for mv_pad_staged on the bench's shape.) The range's partial
// first and last chunks (when its ends are not 16-byte aligned) are written element by element,
// one a thread. A thread's chunks are MV_THREADS apart: their (row, column) advance by a fixed
// step (no division past the first).
template <class T, int MODE, int R, int SMEM>
__device__ __forceinline__ void mv_pad_flat(const mv_pad_args& a) {
    enum { E = sizeof(T), VE = 16 / E };
    typedef typename mv_bits<E>::t B;
    __shared__ __align__(16) char sx[SMEM];
    __shared__ const char* xrow[MV_THREADS];
    __shared__ int list[MV_FLAT_LIST], nlist;
    const int n = (int)a.shape[R - 1], N = (int)a.ishape[R - 1], lo = (int)a.lo[R - 1];
    const int tid = (int)threadIdx.x, xp = (int)a.cw, nb = xp / 16;
    const i64 r0 = (i64)blockIdx.x * a.g;
    const int gn = (int)(a.units - r0 < a.g ? a.units - r0 : a.g);
    const int nx = N * E;
    if (tid == 0) nlist = 0;
    const B fill = mv_pad_rows<T, MODE, R>(a, r0, gn, tid, xrow, nullptr);
    __syncthreads();
    mv_stage_rows<E, B>(sx, xrow, gn, nb, xp, nx, tid);  // x rows -> shared memory
    mv_cp_wait();
    __syncthreads();
    char* const y0 = (char*)a.y + (size_t)r0 * (size_t)n * E;
    const int total = gn * n;  // elements of the range
    // hn elements before the first aligned chunk, nch whole chunks, the rest after them.
    int hn = (int)((16 - ((size_t)y0 & 15)) & 15) / E;
    if (hn > total) hn = total;
    const int nch = (total - hn) / VE, tail = hn + nch * VE;
    {  // the partial chunks, an element a thread
        const int e = tid < hn ? tid : tail + (tid - hn);
        if (tid < hn + (total - tail)) {
            const int g = e / n, c = e - g * n;
            const char* const xr = xrow[g];
            const int j = mv_pad_src<MODE>(c - lo, N);
            B v = fill;
            if (xr && j >= 0) v = *(const B*)(sx + g * xp + ((size_t)xr & 15) + j * E);
            *(B*)(y0 + (size_t)e * E) = v;
        }
    }
    if (nch > 0) {
        const int STEP = MV_THREADS * VE;
        const int dg = STEP / n, dc = STEP - dg * n;
        int e0 = hn + tid * VE, g = e0 / n, c = e0 - g * n;
        char* yp = y0 + (size_t)hn * E + 16 * tid;
#pragma unroll 2
        for (int k = tid; k < nch; k += MV_THREADS) {
            const char* const xr = xrow[g];
            const char* const sr = sx + g * xp + ((size_t)xr & 15);  // x element j of row g at sr + j E
            const int src = c + VE <= n ? mv_staged_chunk<MODE, VE>(xr != nullptr, c, n, N, lo) : -1;
            if (src >= -3 && src != -1) {
                const mv_v4 v = mv_staged_vec<E, B>(src, sr, sx, fill, c < lo, N);
                *(mv_v4*)yp = v;
            } else {  // element by element: in the second pass (the list), or here when it is full
                const int s = atomicAdd(&nlist, 1);
                if (s < MV_FLAT_LIST) list[s] = k;
                else *(mv_v4*)yp = mv_flat_gather<E, MODE>(xrow, sx, xp, g, c, n, N, lo, fill);
            }
            yp += 16 * MV_THREADS;
            c += dc, g += dg;
            if (c >= n) c -= n, g++;
        }
    }
    __syncthreads();
    const int nl = nlist < MV_FLAT_LIST ? nlist : MV_FLAT_LIST;
    for (int i = tid; i < nl; i += MV_THREADS) {
        const int k = list[i], e = hn + k * VE, g = e / n;
        *(mv_v4*)(y0 + (size_t)e * E) = mv_flat_gather<E, MODE>(xrow, sx, xp, g, e - g * n, n, N, lo, fill);
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
