/* Select family kernels: radix select for topk, kthvalue and median (select.h).
 *
 * Keys: every element maps to an unsigned key whose order is the row order of select.h (NaN
 * above +inf, -0 equal to +0); largest = 1 complements it, so every op takes the k smallest keys
 * with ties in position order. A pass histograms one 8-bit digit (from the top) of the keys whose
 * higher digits match the prefix found so far; the bucket holding the k-th key fixes that digit.
 * After the last pass the threshold T is a whole key, `need` is the rank of the wanted element
 * among the keys equal to T (in position order), and the collect pass writes keys < T and the
 * first `need` ties (topk) or the need-th tie (kthvalue).
 *
 * One kernel per plan, its stage a run-time argument:
 *   ALL      a CTA a row, every pass in shared memory (no workspace);
 *   ZERO, HIST(pass), COLLECT, SORT: a row split over S CTAs of `chunk` positions each. Each pass
 *            adds its CTAs' histograms into the workspace; the next launch re-derives the digits
 *            chosen so far from them (every CTA the same way). The last pass also keeps each
 *            CTA's own histogram and its count of keys below the prefix, from which COLLECT gets
 *            the number of smaller keys and ties before its chunk. SORT is one CTA a row.
 * Workspace (u32 words): hist[PASSES][rows][256], nan[rows] (zeroed by ZERO), then
 * part[rows][S][256], below[rows][S] (written in full by the last HIST).
 */

namespace brc {

/* ops/select.c's sel_args: 8-byte fields only. */
struct sel_args {
    const void *x;
    void *v, *ix;
    u32 *ws;
    i64 rows, n, k, chunk, S, nd, stage, pass, kp, dosort;
    i64 sx, sv, si;
    i64 shape[8];
    i64 str[3][8];
};

enum { SEL_ALL = 0, SEL_ZERO = 1, SEL_HIST = 2, SEL_COLLECT = 3, SEL_SORT = 4 };
/* Positions a thread loads before it uses them (memory-level parallelism; half for 8-byte types,
 * which would spill); shared words of the collect pass's tables (2 x 256 counts for up to SEL_U x
 * 16 (slice, warp) pairs, 2 totals). */
enum { SEL_U = 8, SEL_TAB = 516 };
enum { SEL_TOPK = 0, SEL_KTH = 1, SEL_MEDIAN = 2 };

/* Order-preserving keys. */
template <class T> struct sel_key;
template <> struct sel_key<float> {
    typedef u32 K;
    enum { BITS = 32 };
    static __device__ __forceinline__ bool nan(float v) { return v != v; }
    static __device__ __forceinline__ K get(float v) {
        u32 u = __float_as_uint(v);
        if (v != v) return 0xffffffffu;
        if (u == 0x80000000u) u = 0;
        return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
};
template <> struct sel_key<double> {
    typedef u64 K;
    enum { BITS = 64 };
    static __device__ __forceinline__ bool nan(double v) { return v != v; }
    static __device__ __forceinline__ K get(double v) {
        u64 u = (u64)__double_as_longlong(v);
        const u64 s = 0x8000000000000000ull;
        if (v != v) return ~0ull;
        if (u == s) u = 0;
        return (u & s) ? ~u : (u | s);
    }
};
template <u32 INF> struct sel_half_key {
    typedef u32 K;
    enum { BITS = 16 };
    static __device__ __forceinline__ bool nan_bits(u32 u) { return (u & 0x7fffu) > INF; }
    static __device__ __forceinline__ K get_bits(u32 u) {
        if (nan_bits(u)) return 0xffffu;
        if (u == 0x8000u) u = 0;
        return (u & 0x8000u) ? (~u & 0xffffu) : (u | 0x8000u);
    }
};
template <> struct sel_key<f16> : sel_half_key<0x7c00u> {
    static __device__ __forceinline__ bool nan(f16 v) { return nan_bits(v.b); }
    static __device__ __forceinline__ K get(f16 v) { return get_bits(v.b); }
};
template <> struct sel_key<bf16> : sel_half_key<0x7f80u> {
    static __device__ __forceinline__ bool nan(bf16 v) { return nan_bits(v.b); }
    static __device__ __forceinline__ K get(bf16 v) { return get_bits(v.b); }
};
template <class T, class U, int B> struct sel_int_key {
    typedef U K;
    enum { BITS = B };
    static __device__ __forceinline__ bool nan(T) { return false; }
};
template <> struct sel_key<i64> : sel_int_key<i64, u64, 64> {
    static __device__ __forceinline__ K get(i64 v) { return (u64)v ^ 0x8000000000000000ull; }
};
template <> struct sel_key<i32> : sel_int_key<i32, u32, 32> {
    static __device__ __forceinline__ K get(i32 v) { return (u32)v ^ 0x80000000u; }
};
template <> struct sel_key<i16> : sel_int_key<i16, u32, 16> {
    static __device__ __forceinline__ K get(i16 v) { return (u32)(u16)v ^ 0x8000u; }
};
template <> struct sel_key<i8> : sel_int_key<i8, u32, 8> {
    static __device__ __forceinline__ K get(i8 v) { return (u32)(u8)v ^ 0x80u; }
};
template <> struct sel_key<u8> : sel_int_key<u8, u32, 8> {
    static __device__ __forceinline__ K get(u8 v) { return (u32)v; }
};

template <class C> struct sel_t {
    typedef typename C::T T;
    typedef typename C::IT IT;
    typedef sel_key<T> KF;
    typedef typename KF::K K;
    enum { BITS = KF::BITS, PASSES = KF::BITS / 8, U = sizeof(T) == 8 ? SEL_U / 2 : SEL_U };
    /* All ones in the key's width: the complement for largest, the sort's padding. */
    static __device__ __forceinline__ K mask() { return (K)(~(u64)0 >> (64 - BITS)); }
    static __device__ __forceinline__ K key(T v) { return C::LARGEST ? (K)(KF::get(v) ^ mask()) : KF::get(v); }
};

/* Where row r starts in x, values and indices. */
__device__ __forceinline__ void sel_row(const sel_args &a, i64 r, i64 &xo, i64 &vo, i64 &io) {
    xo = vo = io = 0;
    for (int d = (int)a.nd - 1; d >= 0; d--) {
        i64 c = r % a.shape[d];
        r /= a.shape[d];
        xo += c * a.str[0][d];
        vo += c * a.str[1][d];
        io += c * a.str[2][d];
    }
}

/* Warp-wide (all 32 lanes): the digit whose bucket of h holds the k-th key (1-based) and the
 * number of keys in the buckets below it. */
__device__ __forceinline__ void sel_find(const u32 *h, u32 k, u32 &digit, u32 &below) {
    int lane = threadIdx.x & 31;
    u32 c[8], s = 0;
#pragma unroll
    for (int j = 0; j < 8; j++) c[j] = h[lane * 8 + j], s += c[j];
    u32 incl = s;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        u32 t = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += t;
    }
    u32 excl = incl - s;
    unsigned m = __ballot_sync(0xffffffffu, excl < k && k <= incl);
    int src = m ? __ffs(m) - 1 : 31; /* m is never 0: the counts hold the k-th key */
    u32 d = 255, b = excl;
    if (lane == src) {
        u32 acc = excl;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            if (acc + c[j] >= k) {
                d = (u32)(lane * 8 + j);
                break;
            }
            acc += c[j];
        }
        b = acc;
    }
    digit = __shfl_sync(0xffffffffu, d, src);
    below = __shfl_sync(0xffffffffu, b, src);
}

/* The median's rank: the first NaN when there is one, else the lower middle. */
__device__ __forceinline__ u32 sel_median_k(i64 n, u32 nans) { return nans ? (u32)(n - nans + 1) : (u32)((n + 1) / 2); }

/* Histograms digit `shift` of the keys of positions [lo, hi) that match prefix under pmask into h
 * (shared, zeroed), counting NaNs into *nans and keys below the prefix into *below (shared). */
template <class C>
__device__ void sel_hist(const sel_args &a, i64 xo, i64 lo, i64 hi, typename sel_t<C>::K prefix,
                         typename sel_t<C>::K pmask, int shift, bool count_nan, bool count_below, u32 *h, u32 *nans,
                         u32 *below) {
    typedef sel_t<C> S;
    typedef typename S::K K;
    const typename S::T *xp = (const typename S::T *)a.x;
    u32 nn = 0, nb = 0;
    const i64 tile = (i64)blockDim.x * S::U;
    for (i64 base = lo; base < hi; base += tile) {
        /* S::U loads in flight a thread, then the keys. */
        typename S::T v[S::U];
#pragma unroll
        for (int u = 0; u < S::U; u++) {
            i64 i = base + (i64)u * blockDim.x + threadIdx.x;
            if (i < hi) v[u] = xp[xo + i * a.sx];
        }
#pragma unroll
        for (int u = 0; u < S::U; u++) {
            bool valid = base + (i64)u * blockDim.x + threadIdx.x < hi, in = false;
            u32 bin = 0xffffffffu;
            if (valid) {
                K key = S::key(v[u]);
                in = (key & pmask) == prefix;
                if (in) bin = (u32)(key >> shift) & 255u;
                if (count_nan) nn += S::KF::nan(v[u]);
                if (count_below) nb += (key & pmask) < prefix;
            }
            /* Lanes with one bin add once (skewed data would serialize on a bin otherwise). */
            if (__any_sync(0xffffffffu, in)) {
                unsigned same = __match_any_sync(0xffffffffu, bin);
                if (in && (threadIdx.x & 31) == (unsigned)(__ffs(same) - 1)) atomicAdd(&h[bin], (u32)__popc(same));
            }
        }
    }
    if (count_nan && nn) atomicAdd(nans, nn);
    if (count_below && nb) atomicAdd(below, nb);
}

/* Writes the selected elements among positions [lo, hi): keys < T, and keys == T whose rank
 * among the row's ties (eq0 of them before lo) is below need (topk, total k), or the tie of rank
 * need - 1 (kthvalue, median). lt0: keys < T before lo. A tile is S::U slices of blockDim
 * positions; the counts of (slice, warp) are scanned by warp 0 in tab (SEL_TAB shared words). */
template <class C>
__device__ void sel_collect(const sel_args &a, i64 xo, i64 vo, i64 io, i64 lo, i64 hi, typename sel_t<C>::K T,
                            u32 need, u32 total, u32 lt0, u32 eq0, u32 *scr) {
    typedef sel_t<C> S;
    typedef typename S::K K;
    const typename S::T *xp = (const typename S::T *)a.x;
    typename S::T *vp = (typename S::T *)a.v;
    typename S::IT *ip = (typename S::IT *)a.ix;
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5, m = S::U * nw;
    unsigned lower = (1u << lane) - 1u;
    u32 *tl = scr, *te = scr + 256, *tot = scr + 512;
    u32 run_lt = lt0, run_eq = eq0;
    const i64 tile = (i64)blockDim.x * S::U;
    for (i64 base = lo; base < hi; base += tile) {
        if (C::KIND == SEL_TOPK ? run_lt + min(run_eq, need) >= total : run_eq >= need) break; /* uniform */
        unsigned bl[S::U], be[S::U];
        typename S::T v[S::U];
        {
#pragma unroll
            for (int u = 0; u < S::U; u++) {
                i64 i = base + (i64)u * blockDim.x + threadIdx.x;
                if (i < hi) v[u] = xp[xo + i * a.sx];
            }
#pragma unroll
            for (int u = 0; u < S::U; u++) {
                bool valid = base + (i64)u * blockDim.x + threadIdx.x < hi;
                K key = valid ? S::key(v[u]) : (K)0;
                bl[u] = __ballot_sync(0xffffffffu, valid && key < T);
                be[u] = __ballot_sync(0xffffffffu, valid && key == T);
                if (lane == 0) tl[u * nw + w] = (u32)__popc(bl[u]), te[u * nw + w] = (u32)__popc(be[u]);
            }
        }
        __syncthreads();
        if (w == 0) { /* exclusive scan of the (slice, warp) counts, in position order */
            int per = (m + 31) >> 5, s0 = lane * per;
            u32 sl = 0, se = 0;
            for (int j = s0; j < s0 + per && j < m; j++) sl += tl[j], se += te[j];
            u32 il = sl, ie = se;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                u32 t1 = __shfl_up_sync(0xffffffffu, il, o), t2 = __shfl_up_sync(0xffffffffu, ie, o);
                if (lane >= o) il += t1, ie += t2;
            }
            u32 xl = il - sl, xe = ie - se;
            for (int j = s0; j < s0 + per && j < m; j++) {
                u32 cl = tl[j], ce = te[j];
                tl[j] = xl, te[j] = xe;
                xl += cl, xe += ce;
            }
            if (lane == 31) tot[0] = il, tot[1] = ie;
        }
        __syncthreads();
#pragma unroll
        for (int u = 0; u < S::U; u++) {
            bool lt = (bl[u] >> lane) & 1u, eq = (be[u] >> lane) & 1u;
            if (!lt && !eq) continue;
            u32 plt = run_lt + tl[u * nw + w] + (u32)__popc(bl[u] & lower);
            u32 peq = run_eq + te[u * nw + w] + (u32)__popc(be[u] & lower);
            i64 i = base + (i64)u * blockDim.x + threadIdx.x;
            if (C::KIND == SEL_TOPK) {
                if (lt || peq < need) {
                    i64 pos = (i64)plt + (lt ? min(peq, need) : peq);
                    if (!a.dosort) vp[vo + pos * a.sv] = v[u];
                    ip[io + pos * a.si] = (typename S::IT)i;
                }
            } else if (eq && peq == need - 1) {
                vp[vo] = v[u];
                ip[io] = (typename S::IT)i;
            }
        }
        run_lt += tot[0], run_eq += tot[1];
        __syncthreads(); /* the tables are rewritten by the next tile */
    }
}

/* Sorts a row's k results (their positions read back from indices) by (key, position) with a
 * bitonic network of kp (a power of two >= k) in shared memory; writes values and indices. */
template <class C>
__device__ void sel_sort(const sel_args &a, i64 xo, i64 vo, i64 io, u32 k, unsigned char *smem) {
    typedef sel_t<C> S;
    typedef typename S::K K;
    const typename S::T *xp = (const typename S::T *)a.x;
    typename S::T *vp = (typename S::T *)a.v;
    typename S::IT *ip = (typename S::IT *)a.ix;
    u32 kp = (u32)a.kp;
    K *ks = (K *)smem;
    u32 *is = (u32 *)(ks + kp);
    for (u32 j = threadIdx.x; j < kp; j += blockDim.x) {
        if (j < k) {
            u32 p = (u32)ip[io + (i64)j * a.si];
            ks[j] = S::key(xp[xo + (i64)p * a.sx]);
            is[j] = p;
        } else {
            ks[j] = S::mask();
            is[j] = 0xffffffffu;
        }
    }
    __syncthreads();
    for (u32 size = 2; size <= kp; size <<= 1) {
        for (u32 stride = size >> 1; stride > 0; stride >>= 1) {
            for (u32 j = threadIdx.x; j < kp / 2; j += blockDim.x) {
                u32 l = 2 * j - (j & (stride - 1)), r = l + stride;
                K kl = ks[l], kr = ks[r];
                u32 il = is[l], ir = is[r];
                bool gt = kl > kr || (kl == kr && il > ir);
                if (gt == ((l & size) == 0)) ks[l] = kr, ks[r] = kl, is[l] = ir, is[r] = il;
            }
            __syncthreads();
        }
    }
    for (u32 j = threadIdx.x; j < k; j += blockDim.x) {
        u32 p = is[j];
        vp[vo + (i64)j * a.sv] = xp[xo + (i64)p * a.sx];
        ip[io + (i64)j * a.si] = (typename S::IT)p;
    }
}

/* The digits chosen by passes [0, upto) of a split row, re-derived from the workspace by warp 0
 * and left in shared memory: prefix, pmask (as K) and the remaining rank k. */
template <class C>
__device__ void sel_state(const sel_args &a, i64 r, int upto, typename sel_t<C>::K *st, u32 *stk) {
    typedef sel_t<C> S;
    typedef typename S::K K;
    if (threadIdx.x < 32) {
        u32 k = (u32)a.k;
        const u32 *hist = a.ws, *nanw = a.ws + (i64)S::PASSES * a.rows * 256;
        if (C::KIND == SEL_MEDIAN && upto > 0) k = sel_median_k(a.n, nanw[r]);
        K prefix = 0, pmask = 0;
        for (int q = 0; q < upto; q++) {
            u32 d, below;
            sel_find(hist + ((i64)q * a.rows + r) * 256, k, d, below);
            int shift = S::BITS - 8 * (q + 1);
            k -= below;
            prefix |= (K)d << shift;
            pmask |= (K)255 << shift;
        }
        if (threadIdx.x == 0) st[0] = prefix, st[1] = pmask, *stk = k;
    }
    __syncthreads();
}

template <class C>
__device__ void select_main(const sel_args &a) {
    typedef sel_t<C> S;
    typedef typename S::K K;
    extern __shared__ __align__(16) unsigned char smem[];
    u32 *h = (u32 *)smem;   /* 256 bins */
    u32 *scr = h + 256;     /* SEL_TAB words */
    K *st = (K *)(scr + SEL_TAB); /* prefix, pmask */
    u32 *misc = (u32 *)(st + 2); /* k, nans, below */
    const bool fp_median = C::KIND == SEL_MEDIAN;
    i64 xo, vo, io;

    if (a.stage == SEL_ZERO) {
        i64 words = (i64)S::PASSES * a.rows * 256 + a.rows;
        for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < words; i += (i64)gridDim.x * blockDim.x)
            a.ws[i] = 0;
        return;
    }
    if (a.stage == SEL_SORT) {
        i64 r = blockIdx.x;
        sel_row(a, r, xo, vo, io);
        u32 k = (u32)a.k;
        sel_sort<C>(a, xo, vo, io, k, smem);
        return;
    }
    if (a.stage == SEL_ALL) {
        i64 r = blockIdx.x;
        sel_row(a, r, xo, vo, io);
        u32 k = (u32)a.k;
        K prefix = 0, pmask = 0;
        for (int p = 0; p < S::PASSES; p++) {
            int shift = S::BITS - 8 * (p + 1);
            for (int i = threadIdx.x; i < 256; i += blockDim.x) h[i] = 0;
            if (threadIdx.x == 0) misc[1] = 0;
            __syncthreads();
            sel_hist<C>(a, xo, 0, a.n, prefix, pmask, shift, fp_median && p == 0, false, h, &misc[1], &misc[2]);
            __syncthreads();
            if (fp_median && p == 0) k = sel_median_k(a.n, misc[1]);
            if (threadIdx.x < 32) {
                u32 d, below;
                sel_find(h, k, d, below);
                if (threadIdx.x == 0) scr[0] = d, scr[1] = below;
            }
            __syncthreads();
            k -= scr[1];
            prefix |= (K)scr[0] << shift;
            pmask |= (K)255 << shift;
            __syncthreads();
        }
        u32 total = C::KIND == SEL_TOPK ? (u32)a.k : 0;
        sel_collect<C>(a, xo, vo, io, 0, a.n, prefix, k, total, 0, 0, scr);
        if (a.dosort) {
            __syncthreads();
            sel_sort<C>(a, xo, vo, io, (u32)a.k, smem);
        }
        return;
    }

    /* Split stages: CTA (r, c) owns positions [c * chunk, min(n, (c + 1) * chunk)) of row r. */
    i64 r = blockIdx.x / a.S, c = blockIdx.x % a.S;
    i64 lo = c * a.chunk, hi = min(a.n, lo + a.chunk);
    u32 *ghist = a.ws, *gnan = a.ws + (i64)S::PASSES * a.rows * 256;
    u32 *part = gnan + a.rows, *gbelow = part + a.rows * a.S * 256;
    sel_row(a, r, xo, vo, io);
    if (a.stage == SEL_HIST) {
        int p = (int)a.pass;
        bool last = p == S::PASSES - 1;
        sel_state<C>(a, r, p, st, &misc[0]);
        K prefix = st[0], pmask = st[1];
        for (int i = threadIdx.x; i < 256; i += blockDim.x) h[i] = 0;
        if (threadIdx.x == 0) misc[1] = 0, misc[2] = 0;
        __syncthreads();
        sel_hist<C>(a, xo, lo, hi, prefix, pmask, S::BITS - 8 * (p + 1), fp_median && p == 0, last, h, &misc[1],
                    &misc[2]);
        __syncthreads();
        u32 *gh = ghist + ((i64)p * a.rows + r) * 256;
        for (int i = threadIdx.x; i < 256; i += blockDim.x) {
            u32 v = h[i];
            if (v) atomicAdd(&gh[i], v);
            if (last) part[(r * a.S + c) * 256 + i] = v;
        }
        if (threadIdx.x == 0) {
            if (fp_median && p == 0 && misc[1]) atomicAdd(&gnan[r], misc[1]);
            if (last) gbelow[r * a.S + c] = misc[2];
        }
        return;
    }
    /* SEL_COLLECT */
    sel_state<C>(a, r, S::PASSES, st, &misc[0]);
    K T = st[0];
    u32 need = misc[0], d = (u32)(T & (K)255);
    if (threadIdx.x == 0) misc[1] = 0, misc[2] = 0;
    __syncthreads();
    u32 lt = 0, eq = 0;
    for (i64 j = threadIdx.x; j < c * 256; j += blockDim.x) {
        u32 b = (u32)(j & 255), v = part[r * a.S * 256 + j];
        if (b < d) lt += v;
        else if (b == d) eq += v;
    }
    for (i64 j = threadIdx.x; j < c; j += blockDim.x) lt += gbelow[r * a.S + j];
    if (lt) atomicAdd(&misc[1], lt);
    if (eq) atomicAdd(&misc[2], eq);
    __syncthreads();
    u32 lt0 = misc[1], eq0 = misc[2];
    u32 total = (u32)a.k;
    if (C::KIND == SEL_MEDIAN) total = need; /* unused by kthvalue-like collection */
    sel_collect<C>(a, xo, vo, io, lo, hi, T, need, total, lt0, eq0, scr);
}

}  // namespace brc
