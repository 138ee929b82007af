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
//   STG       0: rows are read from global memory (into registers). 2: long rows are staged
//             through shared memory, double buffered -- each thread copies its own vectors with
//             cp.async (every load of the row in flight at once, no registers held), the passes
//             read them back from there, and a CTA's next row streams in while it computes this
//             one (the grid is then persistent: a CTA group walks many rows)
//   LOG LAYER W B RES   op flags (log_softmax; layer_norm; weight; bias; fused residual add)
//   PK SPLIT  packed rows (ldpk); the norm backward's gradients by colred
//   OWN SB    owned columns (norm_bwd_own*, fwd_own): OWN shared-memory stages; SB the split cluster
//             barrier (2: the layer_norm forward's two statistics phases)
//   PS        with the split cluster barrier: each CTA's warp sums pre-summed by its warp 0 and posted
//             once (presum below), so that a warp combines CL posted values, not NW x CL
//   PV        with the split cluster barrier, how a lane reads the posted pairs through distributed
//             shared memory: 0 each half by a load of its own, 1 a pair by one load, 2 (f32 backward
//             without PS) two neighbouring pairs by one 16-byte load (split_bar::ld2 / ld4)
//   FR        the split cluster barrier's arrive releases the posts only (split_bar, FR)
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
// exp(v - m) for every element of a row. FAST (16-bit storage, f32 compute): 2^(v*log2(e) -
// m*log2(e)) as one FMA and the hardware exp2 (ex2.approx.ftz: 2 ulp, results under 2^-126 flush
// to 0, far below a 16-bit output's rounding); libm's expf costs several more instructions an
// element, which the forward at 16-bit bandwidth cannot afford. Otherwise exp(v - m) as before.
// ml = exl_scale<FAST>(m), once a row.
template <bool FAST, class C> __device__ __forceinline__ C exl_scale(C m) { return FAST ? m * C(1.4426950408889634) : m; }
template <bool FAST> __device__ __forceinline__ float exl_(float v, float ml) {
    if (!FAST) return expf(v - ml);
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(__fmaf_rn(v, 1.4426950408889634f, -ml)));
    return y;
}
template <bool FAST> __device__ __forceinline__ double exl_(double v, double m) { return exp(v - m); }
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

// Thread-block cluster primitives (sm_90, prelude.cuh), plus the load of a (max, sum) pair.
template <int CL> struct cluster : cluster_base<CL> {
    template <class C> static __device__ __forceinline__ pr<C> load(const pr<C>* local, unsigned rank) {
        const unsigned a = cluster_base<CL>::map(local, rank);
        pr<C> v;
        cluster_base<CL>::ld(a, v.a);
        cluster_base<CL>::ld(a + (unsigned)sizeof(C), v.b);
        return v;
    }
};

// The split barrier of the owned-column kernels: arrive(h) after posting row i's sums (h = i & 1),
// wait(h) before reading the posts -- other work between. Over the cluster that shares a row (CL >=
// 2) it is the cluster barrier (release / acquire order the posts; map / ld reach a posted value of
// CTA `rank` through distributed shared memory). For one CTA (CL == 1, split_bar<1> below) it is a
// pair of mbarriers, one per parity of the row, each warp arriving once (lane 0, after __syncwarp,
// so that the warp's reads of the posts two rows back are ordered before it).
// FR (K::FR): the cluster arrive releases only what it must, the posts (shared::cta stores): a fence
// restricted to shared::cta at cluster scope, then a relaxed arrive -- MEMBAR.ALL.CTA instead of the
// MEMBAR.ALL.GPU that `barrier.cluster.arrive.release` compiles to, which waits for every global
// store (dx) and load (the statistics) still in flight; after combining, the remote reads of the
// posts are ordered before the next arrive (that lets their CTA overwrite them) by the acquire
// fence restricted to shared::cluster (after_reads).
// The split barrier's loads of posted pairs from the state space SP ("shared::cluster" across a
// cluster, "shared" in one CTA): ld2 one pair, ld4 two f32 pairs, by one vector load each.
#define BRC_SPLIT_PAIR_LOADS(SP)                                                                         \
    static __device__ __forceinline__ void ld2(unsigned a, pr<float>& v) {                               \
        asm volatile("ld." SP ".v2.f32 {%0, %1}, [%2];" : "=f"(v.a), "=f"(v.b) : "r"(a) : "memory");      \
    }                                                                                                    \
    static __device__ __forceinline__ void ld2(unsigned a, pr<double>& v) {                              \
        asm volatile("ld." SP ".v2.f64 {%0, %1}, [%2];" : "=d"(v.a), "=d"(v.b) : "r"(a) : "memory");      \
    }                                                                                                    \
    static __device__ __forceinline__ void ld4(unsigned a, pr<float>& u, pr<float>& v) {                 \
        asm volatile("ld." SP ".v4.f32 {%0, %1, %2, %3}, [%4];"                                          \
                     : "=f"(u.a), "=f"(u.b), "=f"(v.a), "=f"(v.b) : "r"(a) : "memory");                  \
    }

template <int CL, bool FR = false> struct split_bar {
    static_assert(CL >= 2, "the split barrier over a cluster");
    __device__ __forceinline__ void init(unsigned long long*, int) {}
    __device__ __forceinline__ void arrive(int) {
        if (FR)
            asm volatile("fence.release.sync_restrict::shared::cta.cluster;\n\t"
                         "barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
        else
            asm volatile("barrier.cluster.arrive.release.aligned;" ::: "memory");
    }
    __device__ __forceinline__ void after_reads() {
        if (FR) asm volatile("fence.acquire.sync_restrict::shared::cluster.cluster;" ::: "memory");
    }
    __device__ __forceinline__ void wait(int) { asm volatile("barrier.cluster.wait.acquire.aligned;" ::: "memory"); }
    static __device__ __forceinline__ unsigned map(const void* local, unsigned rank) {
        return cluster_base<CL>::map(local, rank);
    }
    template <class C> static __device__ __forceinline__ void ld(unsigned a, C& v) { cluster_base<CL>::ld(a, v); }
    // A posted pair in one load (K::PV >= 1), two f32 pairs in one (K::PV == 2): one request through
    // distributed shared memory instead of two / four (the posts are 16-byte aligned).
    BRC_SPLIT_PAIR_LOADS("shared::cluster")
    // Before the CTA leaves: no other CTA may still read its posts.
    static __device__ __forceinline__ void done() { cluster_base<CL>::sync(); }
};
template <bool FR> struct split_bar<1, FR> {
    unsigned mb = 0;  // shared address of the two mbarriers (8 bytes each)
    unsigned ph = 0;  // bit h: the parity of mbarrier h's phase now awaited
    // bars: two 8-byte words of shared memory; warps: the arrivals that complete a phase.
    __device__ __forceinline__ void init(unsigned long long* bars, int warps) {
        mb = smem_u32(bars);
        if (threadIdx.x == 0) {
            asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(mb), "r"(warps) : "memory");
            asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(mb + 8u), "r"(warps) : "memory");
        }
        __syncthreads();
    }
    __device__ __forceinline__ void arrive(int h) {
        __syncwarp();
        if ((threadIdx.x & 31) == 0)
            asm volatile("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];" ::"r"(mb + 8u * (unsigned)h) : "memory");
    }
    __device__ __forceinline__ void wait(int h) {
        const unsigned a = mb + 8u * (unsigned)h, parity = (ph >> h) & 1u;
        unsigned done = 0;
        while (!done)
            asm volatile("{\n .reg .pred p;\n mbarrier.try_wait.parity.acquire.cta.shared::cta.b64 p, [%1], %2;\n"
                         " selp.u32 %0, 1, 0, p;\n}"
                         : "=r"(done)
                         : "r"(a), "r"(parity)
                         : "memory");
        ph ^= 1u << h;
    }
    __device__ __forceinline__ void after_reads() {}
    static __device__ __forceinline__ unsigned map(const void* local, unsigned) { return smem_u32(local); }
    static __device__ __forceinline__ void ld(unsigned a, float& v) {
        asm volatile("ld.shared.f32 %0, [%1];" : "=f"(v) : "r"(a) : "memory");
    }
    static __device__ __forceinline__ void ld(unsigned a, double& v) {
        asm volatile("ld.shared.f64 %0, [%1];" : "=d"(v) : "r"(a) : "memory");
    }
    BRC_SPLIT_PAIR_LOADS("shared")
    static __device__ __forceinline__ void done() {}
};

// The per-CTA pre-sum of the split cluster barrier (K::PS, clusters of 2+): after posting its sums
// each warp arrives at named barrier 1 (bar.arrive: no wait; it orders the post before warp 0's
// bar.sync), except warp 0, which waits there, folds the CTA's NW posts in warp order and posts the
// CTA's value before it arrives at the cluster barrier. After the cluster wait a warp then reads CL
// values (a lane each) through distributed shared memory instead of NW x CL: at 16 warps 16 times
// fewer remote loads a row; warp 0's fold is on the barrier's path instead. Where it measured
// faster and where slower: runtime/ops/rows.c, pick_own, and docs/rows.md.
// Named barrier 1 is used by no other code of these kernels; between two uses by a warp lies the
// cluster barrier that warp 0 passes only after its sync, so no warp arrives twice in one phase.
template <int TPR> __device__ __forceinline__ void presum_sync() {
    asm volatile("bar.sync 1, %0;" ::"n"(TPR) : "memory");
}
template <int TPR> __device__ __forceinline__ void presum_arrive() {
    asm volatile("bar.arrive 1, %0;" ::"n"(TPR) : "memory");
}

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

// ---- staging rows through shared memory (K::STG > 0) --------------------------------------------
// The thread's vectors of a row slice are stored compactly in dynamic shared memory, at the same
// (chunk, vector, thread) position in every array; a thread only ever reads back what it copied,
// so no barrier guards the staged data (cp.async.wait_group is enough).
template <class K> struct sg {
    enum { N = K::ITER * K::NV * K::TPR * K::VEC };  // elements of one array in one stage
    static __device__ __forceinline__ int li(int it, int j, int t) { return ((it * K::NV + j) * K::TPR + t) * K::VEC; }
};
__device__ __forceinline__ void cp16(void* s, const void* g) {
    unsigned a;
    asm volatile("{ .reg .u64 s; cvta.to.shared.u64 s, %1; cvt.u32.u64 %0, s; }" : "=r"(a) : "l"(s));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(a), "l"(g) : "memory");
}
// The same to a shared-memory address (the 32-bit window offset, e.g. of __cvta_generic_to_shared).
__device__ __forceinline__ void cp16s(unsigned a, const void* g) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(a), "l"(g) : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

// Issues the copies of the thread's vectors of one row slice (p: the row) into buf.
template <class K, class S>
__device__ __forceinline__ void stage(S* buf, const S* p, int r, int t) {
    for (int it = 0; it < K::ITER; it++)
#pragma unroll
        for (int j = 0; j < K::NV; j++) {
            const int c = rg<K>::col(it, r, j, t);
            if (rg<K>::in(c)) cp16(buf + sg<K>::li(it, j, t), p + c);
        }
}

// Chunk it of the thread's vectors, from the staged copy sp when the kernel stages (else from the
// row gp in global memory); columns past the row and missing rows read as 0.
template <class K, class S, class C>
__device__ __forceinline__ void ldx(C (&v)[K::NV][K::VEC], const S* gp, const S* sp, int it, int r, int t, bool ok) {
    if (!K::STG) {
        ld<K>(v, gp, it, r, t, ok);
        return;
    }
#pragma unroll
    for (int j = 0; j < K::NV; j++) {
        const int c = rg<K>::col(it, r, j, t);
        if (ok && rg<K>::in(c)) {
            const vec<S, K::VEC> q = *reinterpret_cast<const vec<S, K::VEC>*>(sp + sg<K>::li(it, j, t));
#pragma unroll
            for (int k = 0; k < K::VEC; k++) v[j][k] = (C)io<S>::load(q.v[k]);
        } else {
#pragma unroll
            for (int k = 0; k < K::VEC; k++) v[j][k] = C(0);
        }
    }
}
template <class K, class S, class C>
__device__ __forceinline__ void stx(S* gp, S* sp, const C (&v)[K::NV][K::VEC], int it, int r, int t, bool ok) {
    if (!K::STG) {
        st<K>(gp, v, it, r, t, ok);
        return;
    }
#pragma unroll
    for (int j = 0; j < K::NV; j++) {
        const int c = rg<K>::col(it, r, j, t);
        if (ok && rg<K>::in(c)) {
            vec<S, K::VEC> q;
#pragma unroll
            for (int k = 0; k < K::VEC; k++) q.v[k] = io<S>::store(v[j][k]);
            *reinterpret_cast<vec<S, K::VEC>*>(sp + sg<K>::li(it, j, t)) = q;
        }
    }
}

// The row pipeline of a staging kernel. issue(g, slot) stages row group g into slot. Before a
// row, the next one is issued into the other slot and this row's copies are awaited; after it,
// the slots swap. (A thread reuses a slot only for its own copies, after reading it.)
template <class K> struct pipe {
    int slot = 0;
    template <class F> __device__ __forceinline__ void start(i64 g, i64 groups, F&& issue) {
        if (!K::STG) return;
        if (g < groups) issue(g, 0);
        cp_commit();
    }
    template <class F> __device__ __forceinline__ void before(i64 g, i64 gstep, i64 groups, F&& issue) {
        if (!K::STG) return;
        if (g + gstep < groups) issue(g + gstep, slot ^ 1);
        cp_commit();
        cp_wait<1>();
    }
    __device__ __forceinline__ void after() { slot ^= 1; }
};

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
        // Lane q of every warp fetches CTA q's value (CL remote loads a warp, in parallel, not CL
        // a thread); the lanes then combine them in rank order, so every thread agrees bitwise.
        pr<C>* slot = cred + (phase & 1);
        if (threadIdx.x == 0) *slot = v;
        cluster<K::CL>::sync();
        const unsigned lane = threadIdx.x & 31u;
        pr<C> mine = v;
        if (lane < (unsigned)K::CL) mine = cluster<K::CL>::load(slot, lane);
        v = mk(__shfl_sync(0xffffffffu, mine.a, 0), __shfl_sync(0xffffffffu, mine.b, 0));
#pragma unroll
        for (int q = 1; q < K::CL; q++)
            v = Op::f(v, mk(__shfl_sync(0xffffffffu, mine.a, q), __shfl_sync(0xffffffffu, mine.b, q)));
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
    extern __shared__ __align__(16) unsigned char dsm[];                                           \
    pipe<K> pp;                                                                                    \
    (void)red; (void)cred; (void)phase; (void)dsm; (void)pp

// (count, mean, sum of squared deviations from the mean) of a set of values, and the union of two
// disjoint sets (Chan et al.'s update); an empty set is all zeros. Not commutative bit for bit:
// callers combine in one fixed order.
template <class C> struct msq { C n, m, q; };
template <class C> __device__ __forceinline__ msq<C> msq_add(msq<C> a, msq<C> b) {
    const C n = a.n + b.n;
    if (n == C(0)) return a;
    const C d = b.m - a.m, f = b.n / n;
    msq<C> o;
    o.n = n;
    o.m = a.m + d * f;
    o.q = a.q + b.q + d * d * a.n * f;
    return o;
}
// Lane 0's union of the 32 lanes' sets, in a fixed tree (lane l takes lane l + o, o = 16 .. 1).
template <class C> __device__ __forceinline__ msq<C> msq_warp(msq<C> v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        msq<C> u;
        u.n = __shfl_down_sync(0xffffffffu, v.n, o);
        u.m = __shfl_down_sync(0xffffffffu, v.m, o);
        u.q = __shfl_down_sync(0xffffffffu, v.q, o);
        if ((threadIdx.x & 31) < (unsigned)o) v = msq_add(v, u);
    }
    return v;
}

// ---- forwards with owned columns and a split cluster barrier (K::OWN: shared-memory stages) -------
// sm_90, 16-byte vectors of 2- or 4-byte elements, TPR-thread CTAs, a cluster of CL a row, ITER == 1.
// A persistent grid (cluster q takes rows q, q + nq, ...) stages each row's slice with cp.async
// (each thread its own vectors, as norm_bwd_own_sb does) and keeps P + 1 rows in its stages: the
// statistics of row i are computed while the output of row i - P is written, with one split cluster
// barrier an iteration. softmax / log_softmax (P = 1): the (max, sum of exp) pairs of row i;
// rms_norm (P = 1): sum(x^2) of row i; layer_norm with SB == 2 (P = 2): sum(x) of row i and, in the
// same posted pair, sum((x - mean)^2) of row i - 1 (whose mean the previous iteration gave) -- the
// variance from the mean, as the register layouts compute it; layer_norm with SB == 1 (CHAN, P = 1):
// each thread's (count, mean, squared deviations from it), combined per warp and over the cluster by
// Chan's update in one fixed tree (msq). Every warp combines the NW * CL posted values in one fixed
// order (lane l takes entries l, l + 32, ...; then a butterfly of a commutative op, or msq's fixed
// tree and a broadcast), so every thread agrees bitwise. Weight and bias stay in registers as loaded.
template <class K, bool SOFTMAX>
__device__ __forceinline__ void fwd_own(const rows_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    enum { P = !SOFTMAX && K::LAYER && K::SB == 2 ? 2 : 1, CHAN = !SOFTMAX && K::LAYER && P == 1, S = K::OWN,
           NV = K::NV, TPR = K::TPR, VEC = K::VEC, AN = NV * TPR * VEC, NW = TPR / 32, NP = NW * K::CL,
           PS = K::PS && K::CL > 1, NE = PS ? K::CL : NP /* the posted values a warp combines */,
           PL = (NE + 31) / 32, FAST = sizeof(T) == 2 && sizeof(C) == 4 };
    static_assert(S >= P + 2 && K::ITER == 1 && K::RPB == 1 && K::STG == 0 && !K::RES && sizeof(T) * VEC == 16 &&
                      TPR % 32 == 0, "owned-column forward");
    __shared__ __align__(16) pr<C> post[2][NW];
    __shared__ C postn[2][NW];  // CHAN: the posted sets' counts
    __shared__ __align__(16) pr<C> cpost[2];  // PS: the CTA's value (its count: cpostn)
    __shared__ C cpostn[2];
    extern __shared__ __align__(16) unsigned char dsm[];
    const int t = threadIdx.x, lane = t & 31, w = t >> 5;
    const int r = K::CL > 1 ? (int)(blockIdx.x % K::CL) : 0;
    const i64 q = blockIdx.x / K::CL, nq = gridDim.x / K::CL;
    const T* x = (const T*)A.a;
    T* y = (T*)A.out;
    C nt = C(0);  // the thread's columns
#pragma unroll
    for (int j = 0; j < NV; j++)
        if (rg<K>::in(rg<K>::col(0, r, j, t))) nt += C(VEC);
    T* sbuf = (T*)dsm;  // [S][NV][TPR] vectors
    const C invn = C(1) / C(K::COLS), eps = (C)A.eps;
    vec<T, VEC> wq[NV], bq[NV];
#pragma unroll
    for (int j = 0; j < NV; j++) {
        const int c = rg<K>::col(0, r, j, t);
        if (!SOFTMAX && K::W && rg<K>::in(c)) wq[j] = *reinterpret_cast<const vec<T, VEC>*>((const T*)A.w + c);
        if (!SOFTMAX && K::B && rg<K>::in(c)) bq[j] = *reinterpret_cast<const vec<T, VEC>*>((const T*)A.bias + c);
    }
    auto issue = [&](i64 g, int s) {
#pragma unroll
        for (int j = 0; j < NV; j++) {
            const int c = rg<K>::col(0, r, j, t);
            if (rg<K>::in(c)) cp16(sbuf + s * AN + (j * TPR + t) * VEC, x + g * A.sa + c);
        }
    };
    auto at = [&](int s, int j) { return *reinterpret_cast<const vec<T, VEC>*>(sbuf + s * AN + (j * TPR + t) * VEC); };
#pragma unroll
    for (int i = 0; i < S - 1 - P; i++) {
        if (q + i * nq < A.rows) issue(q + i * nq, i);
        cp_commit();
    }
    unsigned pa[PL];
#pragma unroll
    for (int p = 0; p < PL; p++) {
        const int e = lane + 32 * p < NE ? lane + 32 * p : 0;
        pa[p] = PS ? split_bar<K::CL>::map(&cpost[0], (unsigned)e)
                   : split_bar<K::CL>::map(&post[0][e % NW], (unsigned)(e / NW));
    }
    const unsigned HB = (unsigned)((PS ? 1 : NW) * sizeof(pr<C>)), HN = (unsigned)((PS ? 1 : NW) * sizeof(C));
    unsigned pn[CHAN ? PL : 1];  // CHAN: the addresses of the posted counts
#pragma unroll
    for (int p = 0; p < (CHAN ? PL : 1); p++) {
        const int e = lane + 32 * p < NE ? lane + 32 * p : 0;
        pn[p] = PS ? split_bar<K::CL>::map(&cpostn[0], (unsigned)e)
                   : split_bar<K::CL>::map(&postn[0][e % NW], (unsigned)(e / NW));
    }
    split_bar<K::CL, K::FR> bar;
    // Row statistics in flight: softmax (m1, m2) = (max, 1 / sum) of the row being written; norms
    // m1 = the mean of row i - 1 (layer_norm), (o1, o2) = (mean, rstd) of the row being written.
    C m1 = C(0), m2 = C(0), o1 = C(0), o2 = C(0);
    int s = 0, h = 0;
    for (i64 g = q; g < A.rows + P * nq; g += nq) {
        const bool cur = g < A.rows, mid = P == 2 && g - nq >= q && g - nq < A.rows, out = g - P * nq >= q;
        const i64 gn = g + (S - 1 - P) * nq;
        if (gn < A.rows) issue(gn, s >= P + 1 ? s - P - 1 : s + S - P - 1);
        cp_commit();
        cp_wait<S - 1 - P>();
        pr<C> v = SOFTMAX ? mk(ninf<C>(), C(0)) : mk(C(0), C(0));
        if (cur) {
            if (SOFTMAX) {
                C m = ninf<C>();
#pragma unroll
                for (int j = 0; j < NV; j++) {
                    if (!rg<K>::in(rg<K>::col(0, r, j, t))) continue;
                    const vec<T, VEC> u = at(s, j);
#pragma unroll
                    for (int k = 0; k < VEC; k++) {
                        const C e = (C)io<T>::load(u.v[k]);
                        m = e > m ? e : m;
                    }
                }
                C sum = C(0);
                const C ml = exl_scale<FAST>(m);
                if (m != ninf<C>())
#pragma unroll
                    for (int j = 0; j < NV; j++) {
                        if (!rg<K>::in(rg<K>::col(0, r, j, t))) continue;
                        const vec<T, VEC> u = at(s, j);
#pragma unroll
                        for (int k = 0; k < VEC; k++) sum += exl_<FAST>((C)io<T>::load(u.v[k]), ml);
                    }
                v = mk(m, sum);
            } else {
#pragma unroll
                for (int j = 0; j < NV; j++) {
                    if (!rg<K>::in(rg<K>::col(0, r, j, t))) continue;
                    const vec<T, VEC> u = at(s, j);
#pragma unroll
                    for (int k = 0; k < VEC; k++) {
                        const C e = (C)io<T>::load(u.v[k]);
                        v.a += K::LAYER ? e : e * e;
                    }
                }
                if (CHAN) {  // (mean, sum of squared deviations) of the thread's columns
                    const C mt = nt > C(0) ? v.a / nt : C(0);
#pragma unroll
                    for (int j = 0; j < NV; j++) {
                        if (!rg<K>::in(rg<K>::col(0, r, j, t))) continue;
                        const vec<T, VEC> u = at(s, j);
#pragma unroll
                        for (int k = 0; k < VEC; k++) {
                            const C d = (C)io<T>::load(u.v[k]) - mt;
                            v.b += d * d;
                        }
                    }
                    v.a = mt;
                }
            }
        }
        if (mid) {  // layer_norm: sum((x - mean)^2) of row i - 1
            const int sm = s == 0 ? S - 1 : s - 1;
#pragma unroll
            for (int j = 0; j < NV; j++) {
                if (!rg<K>::in(rg<K>::col(0, r, j, t))) continue;
                const vec<T, VEC> u = at(sm, j);
#pragma unroll
                for (int k = 0; k < VEC; k++) {
                    const C d = (C)io<T>::load(u.v[k]) - m1;
                    v.b += d * d;
                }
            }
        }
        if (CHAN) {
            msq<C> z;
            z.n = cur ? nt : C(0);
            z.m = v.a;
            z.q = v.b;
            z = msq_warp(z);
            if (lane == 0) {
                post[h][w] = mk(z.m, z.q);
                postn[h][w] = z.n;
            }
        } else {
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                const pr<C> u = mk(__shfl_xor_sync(0xffffffffu, v.a, o), __shfl_xor_sync(0xffffffffu, v.b, o));
                v = SOFTMAX ? lse_op::f(v, u) : add_op::f(v, u);
            }
            if (lane == 0) post[h][w] = v;
        }
        if (PS) {  // the CTA's value, by warp 0 (presum)
            if (w == 0) {
                presum_sync<TPR>();
                if (CHAN) {
                    msq<C> z;
                    z.n = lane < NW ? postn[h][lane] : C(0);
                    z.m = lane < NW ? post[h][lane].a : C(0);
                    z.q = lane < NW ? post[h][lane].b : C(0);
                    z = msq_warp(z);
                    if (lane == 0) {
                        cpost[h] = mk(z.m, z.q);
                        cpostn[h] = z.n;
                    }
                } else {
                    pr<C> c = lane < NW ? post[h][lane] : SOFTMAX ? mk(ninf<C>(), C(0)) : mk(C(0), C(0));
#pragma unroll
                    for (int o = 16; o > 0; o >>= 1) {
                        const pr<C> u = mk(__shfl_xor_sync(0xffffffffu, c.a, o), __shfl_xor_sync(0xffffffffu, c.b, o));
                        c = SOFTMAX ? lse_op::f(c, u) : add_op::f(c, u);
                    }
                    if (lane == 0) cpost[h] = c;
                }
            } else {
                presum_arrive<TPR>();
            }
        }
        bar.arrive(h);
        if (out) {  // the output of row g - P nq
            const int so = s >= P ? s - P : s + S - P;
            const i64 go = g - P * nq;
            T* yr = y + go * A.sout;
            const C ml = exl_scale<FAST>(m1);
#pragma unroll
            for (int j = 0; j < NV; j++) {
                const int c = rg<K>::col(0, r, j, t);
                if (!rg<K>::in(c)) continue;
                const vec<T, VEC> u = at(so, j);
                vec<T, VEC> o;
#pragma unroll
                for (int k = 0; k < VEC; k++) {
                    const C e = (C)io<T>::load(u.v[k]);
                    C z;
                    if (SOFTMAX) {
                        z = K::LOG ? e - m1 : m1 == ninf<C>() ? C(0) : exl_<FAST>(e, ml) * m2;
                    } else {
                        z = (e - o1) * o2;
                        if (K::W) z = z * (C)io<T>::load(wq[j].v[k]);
                        if (K::B) z = z + (C)io<T>::load(bq[j].v[k]);
                    }
                    o.v[k] = io<T>::store(z);
                }
                *reinterpret_cast<vec<T, VEC>*>(yr + c) = o;
            }
        }
        bar.wait(h);
        if (CHAN && cur) {  // row g's (mean, rstd), the sets combined in one fixed order
            msq<C> z;
            z.n = z.m = z.q = C(0);
#pragma unroll
            for (int p = 0; p < PL; p++) {
                if (lane + 32 * p >= NE) continue;
                const unsigned ad = pa[p] + (unsigned)h * HB;
                msq<C> e;
                if constexpr (K::PV > 0) {  // (mean, squared deviations) in one load
                    pr<C> u;
                    split_bar<K::CL>::ld2(ad, u);
                    e.m = u.a;
                    e.q = u.b;
                } else {
                    split_bar<K::CL>::ld(ad, e.m);
                    split_bar<K::CL>::ld(ad + (unsigned)sizeof(C), e.q);
                }
                split_bar<K::CL>::ld(pn[p] + (unsigned)h * HN, e.n);
                z = msq_add(z, e);
            }
            bar.after_reads();
            z = msq_warp(z);
            o1 = __shfl_sync(0xffffffffu, z.m, 0);
            o2 = C(1) / sqrt_(__shfl_sync(0xffffffffu, z.q, 0) * invn + eps);
            if (t == 0 && r == 0) {
                if (A.mean) ((C*)A.mean)[g] = o1;
                if (A.rstd) ((C*)A.rstd)[g] = o2;
            }
        } else if (!CHAN && (cur || mid)) {
            pr<C> c = SOFTMAX ? mk(ninf<C>(), C(0)) : mk(C(0), C(0));
            bool first = true;
#pragma unroll
            for (int p = 0; p < PL; p++) {
                if (lane + 32 * p >= NE) continue;
                const unsigned ad = pa[p] + (unsigned)h * HB;
                pr<C> e;
                if constexpr (K::PV > 0) {
                    split_bar<K::CL>::ld2(ad, e);
                } else {
                    split_bar<K::CL>::ld(ad, e.a);
                    split_bar<K::CL>::ld(ad + (unsigned)sizeof(C), e.b);
                }
                c = first ? e : SOFTMAX ? lse_op::f(c, e) : add_op::f(c, e);
                first = false;
            }
            bar.after_reads();
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                const pr<C> u = mk(__shfl_xor_sync(0xffffffffu, c.a, o), __shfl_xor_sync(0xffffffffu, c.b, o));
                c = SOFTMAX ? lse_op::f(c, u) : add_op::f(c, u);
            }
            if (SOFTMAX) {  // row g: (max, 1 / sum) or, for log_softmax, (lse, -)
                m1 = K::LOG ? c.a + lg_(c.b) : c.a;
                m2 = C(1) / c.b;
            } else if (K::LAYER) {  // row g's mean, row g - nq's (mean, rstd)
                if (mid) {
                    o1 = m1;
                    o2 = C(1) / sqrt_(c.b * invn + eps);
                }
                m1 = c.a * invn;
                if (mid && t == 0 && r == 0) {
                    if (A.mean) ((C*)A.mean)[g - nq] = o1;
                    if (A.rstd) ((C*)A.rstd)[g - nq] = o2;
                }
            } else {  // rms_norm: row g's rstd
                o1 = C(0);
                o2 = C(1) / sqrt_(c.a * invn + eps);
                if (cur && t == 0 && r == 0) {
                    if (A.mean) ((C*)A.mean)[g] = C(0);
                    if (A.rstd) ((C*)A.rstd)[g] = o2;
                }
            }
        }
        s = s == S - 1 ? 0 : s + 1;
        h ^= 1;
    }
    cp_wait<0>();
    split_bar<K::CL>::done();
}

// ---- softmax / log_softmax ---------------------------------------------------------------------

// ---- packed rows (K::PK): the row stays in registers as loaded, 16-bit ---------------------------
// 512-thread CTAs (a cluster of CL of them for rows longer than 512 x NV vectors), one row group at
// a time, each thread keeping its NV vectors of the row as loaded (half the registers of f32), so
// that two CTAs fit an SM (__launch_bounds__(512, 2)) and one computes while the other loads.
// Columns past the row and missing rows (!ok) are not loaded: every use of them is guarded by
// pin() (zero-filling them instead made the compiler spill at the 64 registers of two CTAs an SM).
template <class K, class T>
__device__ __forceinline__ void ldpk(vec<T, K::VEC> (&q)[K::NV], const T* p, int r, int t, bool ok) {
#pragma unroll
    for (int j = 0; j < K::NV; j++) {
        const int c = rg<K>::col(0, r, j, t);
        if (ok && rg<K>::in(c)) q[j] = *reinterpret_cast<const vec<T, K::VEC>*>(p + c);
    }
}
template <class K> __device__ __forceinline__ bool pin(bool ok, int r, int j, int t) {
    return ok && rg<K>::in(rg<K>::col(0, r, j, t));
}
// Outputs k and k + 1 of 16-bit storage as one 32-bit word (element k in the low half), for the
// packed norm forward. bf16 rounds by integer arithmetic here (round to nearest even, as
// io<bf16>::store; NaN stays a quiet NaN of its sign rather than the canonical one): with the
// prelude's one-instruction cvt.rn.bf16.f32 (fac76ff) the packed layer_norm forward spills 184 bytes
// a thread at its 64 registers (bf16 32768 with weight and bias; baracuda ls), and this one does not.
template <class T> __device__ __forceinline__ unsigned st2(float lo, float hi) {
    return (unsigned)io<T>::store(lo).b | ((unsigned)io<T>::store(hi).b << 16);
}
__device__ __forceinline__ unsigned bf16_rn_int(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}
template <> __device__ __forceinline__ unsigned st2<bf16>(float lo, float hi) {
    return bf16_rn_int(lo) | (bf16_rn_int(hi) << 16);
}
#define BRC_ROWS_PACKED_CHECK \
    static_assert(K::ITER == 1 && K::STG == 0 && K::RPB == 1 && sizeof(T) == 2, "packed rows")

// The softmax forward, packed. exp is taken twice an element (for the sum, then for the output)
// with FMA + ex2.approx. Chosen by rows.c for rows of 16-bit softmax / log_softmax that need more
// than 512 threads at the 32-element target and fit 512 x NV vectors.
template <class K>
__device__ __forceinline__ void softmax_fwd_packed(const rows_args& A) {
    BRC_ROWS_SETUP;
    BRC_ROWS_PACKED_CHECK;
    const T* x = (const T*)A.a;
    T* y = (T*)A.out;
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const bool ok = g < A.rows;
        const T* xr = x + (ok ? g : 0) * A.sa;
        T* yr = y + (ok ? g : 0) * A.sout;
        vec<T, K::VEC> q[K::NV];
        ldpk<K>(q, xr, r, t, ok);
        C m = ninf<C>();
#pragma unroll
        for (int j = 0; j < K::NV; j++)
#pragma unroll
            for (int k = 0; k < K::VEC; k++)
                if (ok && rg<K>::in(rg<K>::col(0, r, j, t))) {
                    const C v = (C)io<T>::load(q[j].v[k]);
                    m = v > m ? v : m;
                }
        C s = C(0);
        const C ml = exl_scale<true>(m);
        if (m != ninf<C>())
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    if (ok && rg<K>::in(rg<K>::col(0, r, j, t))) s += exl_<true>((C)io<T>::load(q[j].v[k]), ml);
        const pr<C> acc = allreduce<K, lse_op>(mk(m, s), red, cred, phase);
        const C M = acc.a, inv = C(1) / acc.b, lse = acc.a + lg_(acc.b), Ml = exl_scale<true>(M);
#pragma unroll
        for (int j = 0; j < K::NV; j++) {
            const int c = rg<K>::col(0, r, j, t);
            if (!ok || !rg<K>::in(c)) continue;
            vec<T, K::VEC> o;
#pragma unroll
            for (int k = 0; k < K::VEC; k++) {
                const C v = (C)io<T>::load(q[j].v[k]);
                o.v[k] = io<T>::store(K::LOG ? v - lse : M == ninf<C>() ? C(0) : exl_<true>(v, Ml) * inv);
            }
            *reinterpret_cast<vec<T, K::VEC>*>(yr + c) = o;
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();  // no CTA leaves while its smem may be read
}

// The softmax backward, packed: dy stays in registers; y is read where it is needed -- in the
// output pass only for log_softmax (dx = dy - exp(y) * sum(dy): one read of each array), in both
// passes for softmax (the second read of the CTA's slice of y mostly hits L2). rows.c chooses it
// for both, for 16-bit rows past 16384 columns.
template <class K>
__device__ __forceinline__ void softmax_bwd_packed(const rows_args& A) {
    BRC_ROWS_SETUP;
    BRC_ROWS_PACKED_CHECK;
    const T* y = (const T*)A.a;
    const T* dy = (const T*)A.b;
    T* dx = (T*)A.out;
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const bool ok = g < A.rows;
        const T* yr = y + (ok ? g : 0) * A.sa;
        const T* gr = dy + (ok ? g : 0) * A.sb;
        T* xr = dx + (ok ? g : 0) * A.sout;
        vec<T, K::VEC> q[K::NV];
        ldpk<K>(q, gr, r, t, ok);
        C s = C(0);
        if (K::LOG) {
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    if (pin<K>(ok, r, j, t)) s += (C)io<T>::load(q[j].v[k]);
        } else {
#pragma unroll
            for (int j = 0; j < K::NV; j++) {
                const int c = rg<K>::col(0, r, j, t);
                if (!ok || !rg<K>::in(c)) continue;
                const vec<T, K::VEC> u = *reinterpret_cast<const vec<T, K::VEC>*>(yr + c);
#pragma unroll
                for (int k = 0; k < K::VEC; k++) s += (C)io<T>::load(u.v[k]) * (C)io<T>::load(q[j].v[k]);
            }
        }
        const C S = allreduce<K, add_op>(mk(s, C(0)), red, cred, phase).a;
#pragma unroll
        for (int j = 0; j < K::NV; j++) {
            const int c = rg<K>::col(0, r, j, t);
            if (!ok || !rg<K>::in(c)) continue;
            const vec<T, K::VEC> u = *reinterpret_cast<const vec<T, K::VEC>*>(yr + c);
            vec<T, K::VEC> o;
#pragma unroll
            for (int k = 0; k < K::VEC; k++) {
                const C v = (C)io<T>::load(u.v[k]), d = (C)io<T>::load(q[j].v[k]);
                o.v[k] = io<T>::store(K::LOG ? d - exl_<true>(v, C(0)) * S : v * (d - S));
            }
            *reinterpret_cast<vec<T, K::VEC>*>(xr + c) = o;
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// The forward with the row in f32 registers (ITER == 1) or read again per pass, from global memory
// or the shared-memory staging.
template <class K>
__device__ __forceinline__ void softmax_fwd_regs(const rows_args& A) {
    BRC_ROWS_SETUP;
    enum { FAST = sizeof(T) == 2 && sizeof(C) == 4 };
    const T* x = (const T*)A.a;
    T* y = (T*)A.out;
    T* sbuf = (T*)dsm;  // staging: [2][N] (x)
    auto issue = [&](i64 gg, int sl) { stage<K>(sbuf + sl * sg<K>::N, x + gg * A.sa, r, t); };
    pp.start(blockIdx.x / K::CL, groups, issue);
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        pp.before(g, gstep, groups, issue);
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* xr = x + (ok ? row : 0) * A.sa;
        T* yr = y + (ok ? row : 0) * A.sout;
        const T* sx = sbuf + pp.slot * sg<K>::N;
        C v[K::NV][K::VEC];
        pr<C> acc = mk(ninf<C>(), C(0));
        C mloc = ninf<C>();
        for (int it = 0; it < K::ITER; it++) {
            ldx<K>(v, xr, sx, it, r, t, ok);
            C m = ninf<C>();
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    if (ok && rg<K>::in(rg<K>::col(it, r, j, t))) m = v[j][k] > m ? v[j][k] : m;
            C s = C(0);
            const C ml = exl_scale<FAST>(m);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    const bool in = ok && rg<K>::in(rg<K>::col(it, r, j, t)) && m != ninf<C>();
                    const C e = in ? exl_<FAST>(v[j][k], ml) : C(0);
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
        const C scale = mloc == ninf<C>() ? C(0) : ex_(mloc - m) * inv, mrl = exl_scale<FAST>(m);
        for (int it = 0; it < K::ITER; it++) {
            if (K::ITER > 1) ldx<K>(v, xr, sx, it, r, t, ok);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    if (K::LOG) v[j][k] = v[j][k] - lse;
                    else if (K::ITER == 1) v[j][k] = v[j][k] * scale;
                    else v[j][k] = exl_<FAST>(v[j][k], mrl) * inv;
                }
            st<K>(yr, v, it, r, t, ok);
        }
        pp.after();
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();  // no CTA leaves while its smem may be read
}

template <class K>
__device__ __forceinline__ void softmax_fwd(const rows_args& A) {
    if constexpr (K::OWN > 0) fwd_own<K, true>(A);
    else if constexpr (K::PK) softmax_fwd_packed<K>(A);
    else softmax_fwd_regs<K>(A);
}

// dx = y * (dy - sum(y * dy))  (softmax);  dx = dy - exp(y) * sum(dy)  (log_softmax)
template <class K>
__device__ __forceinline__ void softmax_bwd_regs(const rows_args& A) {
    BRC_ROWS_SETUP;
    // K::LY (log_softmax, one pass of registers, not staged): the first pass needs only dy, so y is
    // read once, in the output pass, and only dy is held across the reduction.
    constexpr bool LY = K::LY && K::LOG && K::ITER == 1 && !K::STG;
    const T* y = (const T*)A.a;
    const T* dy = (const T*)A.b;
    T* dx = (T*)A.out;
    T* sbuf = (T*)dsm;  // staging: [2][y, dy][N]
    auto issue = [&](i64 gg, int sl) {
        stage<K>(sbuf + (2 * sl) * sg<K>::N, y + gg * A.sa, r, t);
        stage<K>(sbuf + (2 * sl + 1) * sg<K>::N, dy + gg * A.sb, r, t);
    };
    pp.start(blockIdx.x / K::CL, groups, issue);
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        pp.before(g, gstep, groups, issue);
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* yr = y + (ok ? row : 0) * A.sa;
        const T* gr = dy + (ok ? row : 0) * A.sb;
        T* xr = dx + (ok ? row : 0) * A.sout;
        const T* sy = sbuf + (2 * pp.slot) * sg<K>::N;
        const T* sd = sy + sg<K>::N;
        C v[K::NV][K::VEC], q[K::NV][K::VEC];
        C s = C(0);
        for (int it = 0; it < K::ITER; it++) {
            if (!LY) ldx<K>(v, yr, sy, it, r, t, ok);
            ldx<K>(q, gr, sd, it, r, t, ok);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) s += K::LOG ? q[j][k] : v[j][k] * q[j][k];
        }
        const C S = allreduce<K, add_op>(mk(s, C(0)), red, cred, phase).a;
        for (int it = 0; it < K::ITER; it++) {
            if (LY) ldx<K>(v, yr, sy, it, r, t, ok);
            if (K::ITER > 1) {
                ldx<K>(v, yr, sy, it, r, t, ok);
                ldx<K>(q, gr, sd, it, r, t, ok);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    v[j][k] = K::LOG ? q[j][k] - ex_(v[j][k]) * S : v[j][k] * (q[j][k] - S);
            st<K>(xr, v, it, r, t, ok);
        }
        pp.after();
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}


// ---- rms_norm / layer_norm ------------------------------------------------------------------------

// Weight and bias stay in registers across rows when the row does and they are few.
template <class K> struct hold { enum { V = !K::NH && K::ITER == 1 && K::NV * K::VEC <= 16 }; };

// y = (v - mean) * rstd * w + b, v = x (or round(x + residual), also stored to sum).
// layer_norm: mean = sum(v) / COLS, var = sum((v - mean)^2) / COLS (two passes over registers);
// rms_norm: mean = 0, var = sum(v^2) / COLS. rstd = 1 / sqrt(var + eps).
template <class K>
__device__ __forceinline__ void norm_fwd_regs(const rows_args& A) {
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
    T* sbuf = (T*)dsm;  // staging: [2][x, residual][N]; the residual's sum replaces x there
    const int NA = K::RES ? 2 : 1;
    auto issue = [&](i64 gg, int sl) {
        stage<K>(sbuf + (NA * sl) * sg<K>::N, x + gg * A.sa, r, t);
        if (K::RES) stage<K>(sbuf + (NA * sl + 1) * sg<K>::N, res + gg * A.sb, r, t);
    };
    pp.start(blockIdx.x / K::CL, groups, issue);
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        pp.before(g, gstep, groups, issue);
        const i64 row = g * K::RPB + rib;
        const bool ok = row < A.rows;
        const T* xr = x + (ok ? row : 0) * A.sa;
        const T* rr = res + (ok ? row : 0) * A.sb;
        T* yr = y + (ok ? row : 0) * A.sout;
        T* sr = sum + (ok ? row : 0) * A.ssum;
        T* sx = sbuf + (NA * pp.slot) * sg<K>::N;
        const T* sres = sx + sg<K>::N;
        // Where later passes re-read the row from: the stored sum in the residual variant.
        const T* src = K::RES ? (const T*)sr : xr;
        C v[K::NV][K::VEC];
        C s1 = C(0);
        for (int it = 0; it < K::ITER; it++) {
            ldx<K>(v, xr, sx, it, r, t, ok);
            if (K::RES) {
                C q[K::NV][K::VEC];
                ldx<K>(q, rr, sres, it, r, t, ok);
#pragma unroll
                for (int j = 0; j < K::NV; j++)
#pragma unroll
                    for (int k = 0; k < K::VEC; k++) v[j][k] = (C)io<T>::load(io<T>::store(v[j][k] + q[j][k]));
                st<K>(sr, v, it, r, t, ok);
                if (K::STG && K::ITER > 1) stx<K>(sr, sx, v, it, r, t, ok);
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
                if (K::ITER > 1) ldx<K>(v, src, sx, it, r, t, ok);
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
            if (K::ITER > 1) ldx<K>(v, src, sx, it, r, t, ok);
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
        pp.after();
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// The norm forward without a residual, packed (see ldpk): x stays in registers as loaded, weight
// and bias are read (from L2) in the output pass. Chosen by rows.c for 16-bit rms_norm rows longer
// than the 1024-thread CTA takes (a cluster of up to 8 CTAs of 512 threads, up to 64 elements a
// thread), and for 16-bit layer_norm rows of 16385-32768 columns in one CTA (in clusters its two
// reductions make it spill at the 64 registers of two CTAs an SM).
template <class K>
__device__ __forceinline__ void norm_fwd_packed(const rows_args& A) {
    BRC_ROWS_SETUP;
    BRC_ROWS_PACKED_CHECK;
    static_assert(!K::RES, "packed norm forward: no residual");
    const T* x = (const T*)A.a;
    T* y = (T*)A.out;
    const C eps = (C)A.eps, invn = C(1) / C(K::COLS);
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        const bool ok = g < A.rows;
        const T* xr = x + (ok ? g : 0) * A.sa;
        T* yr = y + (ok ? g : 0) * A.sout;
        vec<T, K::VEC> q[K::NV];
        ldpk<K>(q, xr, r, t, ok);
        C s1 = C(0);
#pragma unroll
        for (int j = 0; j < K::NV; j++)
#pragma unroll
            for (int k = 0; k < K::VEC; k++)
                if (pin<K>(ok, r, j, t)) {
                    const C v = (C)io<T>::load(q[j].v[k]);
                    s1 += K::LAYER ? v : v * v;
                }
        C mean = C(0), var;
        if (K::LAYER) {
            mean = allreduce<K, add_op>(mk(s1, C(0)), red, cred, phase).a * invn;
            C s2 = C(0);
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++)
                    if (pin<K>(ok, r, j, t)) {
                        const C d = (C)io<T>::load(q[j].v[k]) - mean;
                        s2 += d * d;
                    }
            var = allreduce<K, add_op>(mk(s2, C(0)), red, cred, phase).a * invn;
        } else {
            var = allreduce<K, add_op>(mk(s1, C(0)), red, cred, phase).a * invn;
        }
        const C rstd = C(1) / sqrt_(var + eps);
        if (ok && t == 0 && r == 0) {
            if (A.mean) ((C*)A.mean)[g] = mean;
            if (A.rstd) ((C*)A.rstd)[g] = rstd;
        }
#pragma unroll
        for (int j = 0; j < K::NV; j++) {
            const int c = rg<K>::col(0, r, j, t);
            if (!ok || !rg<K>::in(c)) continue;
            vec<T, K::VEC> wq, bq;
            if (K::W) wq = *reinterpret_cast<const vec<T, K::VEC>*>((const T*)A.w + c);
            if (K::B) bq = *reinterpret_cast<const vec<T, K::VEC>*>((const T*)A.bias + c);
            uint4 o;  // K::VEC == 8 16-bit outputs
            unsigned* ow = reinterpret_cast<unsigned*>(&o);
#pragma unroll
            for (int k = 0; k < K::VEC; k += 2) {
                C v[2];
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    v[e] = ((C)io<T>::load(q[j].v[k + e]) - mean) * rstd;
                    if (K::W) v[e] = v[e] * (C)io<T>::load(wq.v[k + e]);
                    if (K::B) v[e] = v[e] + (C)io<T>::load(bq.v[k + e]);
                }
                ow[k / 2] = st2<T>(v[0], v[1]);
            }
            *reinterpret_cast<uint4*>(yr + c) = o;
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

template <class K>
__device__ __forceinline__ void norm_fwd(const rows_args& A) {
    if constexpr (K::OWN > 0) fwd_own<K, false>(A);
    else if constexpr (K::PK) norm_fwd_packed<K>(A);
    else norm_fwd_regs<K>(A);
}

// xhat = (x - mean) * rstd, g = dy * w:
//   layer_norm: dx = rstd * (g - (xhat * sum(g * xhat) + sum(g)) / COLS)
//   rms_norm:   dx = rstd * (g - xhat * sum(g * xhat) / COLS)
// dweight = sum over rows of dy * xhat, dbias = sum over rows of dy: each (CTA group, row slot)
// accumulates its own partial row of part (no atomics); colsum adds the partials in a fixed order.
// K::PR (short rows, rows.c): the CTA's row slots are summed into one partial row a CTA first.

// The row slots' partial gradients of one CTA summed in slot order (0, 1, ..., RPB - 1) through
// shared memory, then written as the CTA's one partial row pw / pb (K::PR; one row in registers, ITER 1).
template <class K, class C>
__device__ __forceinline__ void slot_partials(C* pw, C* pb, const C (&aw)[K::NV][K::VEC], const C (&ab)[K::NV][K::VEC],
                                              int rib, int t) {
    enum { NG = (K::W ? 1 : 0) + (K::B ? 1 : 0) };
    __shared__ C sp[NG * K::COLS];
    C* sw = sp;
    C* sb = sp + (K::W ? K::COLS : 0);
    for (int s = 0; s < K::RPB; s++) {
        if (rib == s) {
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    const int c = rg<K>::col(0, 0, j, t) + k;
                    if (!rg<K>::in(c)) continue;
                    if (K::W) sw[c] = s == 0 ? aw[j][k] : sw[c] + aw[j][k];
                    if (K::B) sb[c] = s == 0 ? ab[j][k] : sb[c] + ab[j][k];
                }
        }
        __syncthreads();
    }
    for (int c = threadIdx.x; c < K::COLS; c += K::TPR * K::RPB) {
        if (K::W) pw[c] = sw[c];
        if (K::B) pb[c] = sb[c];
    }
}

template <class K>
__device__ __forceinline__ void norm_bwd_regs(const rows_args& A) {
    BRC_ROWS_SETUP;
    const T* x = (const T*)A.a;
    const T* dy = (const T*)A.b;
    T* dx = (T*)A.out;
    const C invn = C(1) / C(K::COLS);
    // The partial gradients this kernel accumulates (none with SPLIT: colred computes them).
    enum { AW = K::W && !K::SPLIT, AB = K::B && !K::SPLIT };
    const i64 prow = K::PR ? (i64)blockIdx.x : (i64)(blockIdx.x / K::CL) * K::RPB + rib;
    C* pw = (C*)A.part + prow * K::COLS;
    C* pb = (C*)A.part + ((K::W ? A.nparts : 0) + prow) * K::COLS;
    (void)pw; (void)pb;
    C wv[K::NV][K::VEC], aw[K::NV][K::VEC], ab[K::NV][K::VEC];
#pragma unroll
    for (int j = 0; j < K::NV; j++)
#pragma unroll
        for (int k = 0; k < K::VEC; k++) aw[j][k] = ab[j][k] = C(0);
    if (hold<K>::V && K::W) ld<K>(wv, (const T*)A.w, 0, r, t, true);
    // Staging: [2][x, dy][N] of T, then the partial sums [W + B][N] of C (when they do not fit
    // in registers: ITER > 1).
    T* sbuf = (T*)dsm;
    C* spw = (C*)(sbuf + 4 * sg<K>::N);
    C* spb = spw + (K::W ? sg<K>::N : 0);
    if (K::ITER > 1 && (AW || AB)) {  // partials live in memory: start them at zero
        for (int it = 0; it < K::ITER; it++) {
            if (AW) stx<K>(pw, spw, aw, it, r, t, true);
            if (AB) stx<K>(pb, spb, ab, it, r, t, true);
        }
    }
    auto issue = [&](i64 gg, int sl) {
        stage<K>(sbuf + (2 * sl) * sg<K>::N, x + gg * A.sa, r, t);
        stage<K>(sbuf + (2 * sl + 1) * sg<K>::N, dy + gg * A.sb, r, t);
    };
    pp.start(blockIdx.x / K::CL, groups, issue);
    for (i64 g = blockIdx.x / K::CL; g < groups; g += gstep) {
        pp.before(g, gstep, groups, issue);
        const T* sx = sbuf + (2 * pp.slot) * sg<K>::N;
        const T* sd = sx + sg<K>::N;
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
            ldx<K>(v, xr, sx, it, r, t, ok);
            ldx<K>(q, gr, sd, it, r, t, ok);
            if (!hold<K>::V && K::W) ld<K>(wv, (const T*)A.w, it, r, t, true);
            if (K::ITER > 1) {
                if (AW) ldx<K>(aw, (const C*)pw, (const C*)spw, it, r, t, true);
                if (AB) ldx<K>(ab, (const C*)pb, (const C*)spb, it, r, t, true);
            }
#pragma unroll
            for (int j = 0; j < K::NV; j++)
#pragma unroll
                for (int k = 0; k < K::VEC; k++) {
                    const C xh = (v[j][k] - mean) * rstd;
                    const C gw = K::W ? q[j][k] * wv[j][k] : q[j][k];
                    s1 += gw * xh;
                    s2 += gw;
                    if (AW) aw[j][k] += q[j][k] * xh;
                    if (AB) ab[j][k] += q[j][k];
                }
            if (K::ITER > 1) {
                if (AW) stx<K>(pw, spw, aw, it, r, t, true);
                if (AB) stx<K>(pb, spb, ab, it, r, t, true);
            }
        }
        const pr<C> S = allreduce<K, add_op>(mk(s1, s2), red, cred, phase);
        const C c1 = S.a * invn, c2 = K::LAYER ? S.b * invn : C(0);
        for (int it = 0; it < K::ITER; it++) {
            if (K::ITER > 1) {
                ldx<K>(v, xr, sx, it, r, t, ok);
                ldx<K>(q, gr, sd, it, r, t, ok);
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
        pp.after();
    }
    if constexpr (K::PR) {
        static_assert(K::ITER == 1 && K::CL == 1 && !K::SPLIT && !K::STG, "slot partials: one row in registers");
        slot_partials<K>(pw, pb, aw, ab, rib, t);  // pw / pb: the CTA's partial row (prow, K::PR)
    } else if (K::ITER == 1) {
        if (AW) st<K>(pw, aw, 0, r, t, true);
        if (AB) st<K>(pb, ab, 0, r, t, true);
    } else if (K::STG && (AW || AB)) {  // the staged partials go out to the workspace
        for (int it = 0; it < K::ITER; it++) {
            if (AW) {
                ldx<K>(aw, (const C*)pw, (const C*)spw, it, r, t, true);
                st<K>(pw, aw, it, r, t, true);
            }
            if (AB) {
                ldx<K>(ab, (const C*)pb, (const C*)spb, it, r, t, true);
                st<K>(pb, ab, it, r, t, true);
            }
        }
    }
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// The cluster's partial row q of the owned-column gradients (zeros for a cluster that took no row).
template <class K, class C>
__device__ __forceinline__ void own_partials(const rows_args& A, const C (&aw)[K::NV][K::VEC],
                                             const C (&ab)[K::NV][K::VEC], i64 q, int r, int t) {
    if (!K::W && !K::B) return;
    C* pw = (C*)A.part + q * K::COLS;
    C* pb = (C*)A.part + ((K::W ? A.nparts : 0) + q) * K::COLS;
#pragma unroll
    for (int j = 0; j < K::NV; j++) {
        const int c = rg<K>::col(0, r, j, t);
        if (!rg<K>::in(c)) continue;
        vec<C, K::VEC> o;
        if (K::W) {
#pragma unroll
            for (int k = 0; k < K::VEC; k++) o.v[k] = aw[j][k];
            *reinterpret_cast<vec<C, K::VEC>*>(pw + c) = o;
        }
        if (K::B) {
#pragma unroll
            for (int k = 0; k < K::VEC; k++) o.v[k] = ab[j][k];
            *reinterpret_cast<vec<C, K::VEC>*>(pb + c) = o;
        }
    }
}

// A 16-byte vector's elements in the compute type. bf16 by a shift or a mask of its 32-bit words, one
// instruction an element (io<bf16>::load takes two for the upper half of a word: a PRMT and a shift);
// the others by io<T>::load.
template <class T> struct unpack_bf16 { enum { V = 0 }; };
template <> struct unpack_bf16<bf16> { enum { V = 1 }; };
template <class T, class C, int VEC>
__device__ __forceinline__ void unpack(const vec<T, VEC>& v, C (&f)[VEC]) {
    if constexpr (unpack_bf16<T>::V && sizeof(C) == 4) {
        const u32* w = reinterpret_cast<const u32*>(&v);
#pragma unroll
        for (int i = 0; i < VEC / 2; i++) {
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    } else {
#pragma unroll
        for (int k = 0; k < VEC; k++) f[k] = (C)io<T>::load(v.v[k]);
    }
}

// What the two owned-column norm backwards (norm_bwd_own, norm_bwd_own_sb) share: this thread's
// columns of the row (CTA r of a cluster, thread t: NV vectors), its weight vectors in registers as
// loaded and its f32 dweight / dbias partials over the rows the cluster takes, the stages of x and
// dy in shared memory (sbuf: [S][x, dy][NV][TPR] vectors), and the two passes over a staged row.
// SMX: the softmax / log_softmax backward in the same layout (x is y; no statistics, no weight):
// one sum, sum(y dy) or sum(dy) (K::LOG), and dx = y (dy - S) or dy - exp(y) S.
template <class K, bool SMX = false> struct own_bwd {
    typedef typename K::T T;
    typedef typename K::C C;
    enum { NV = K::NV, TPR = K::TPR, VEC = K::VEC, AN = NV * TPR * VEC /* one array of a stage */ };
    const rows_args& A;
    const int r, t;
    T* sbuf;
    unsigned sa0;  // the shared-memory address of this thread's first vector in stage 0
    vec<T, VEC> wq[NV];
    C aw[NV][VEC], ab[NV][VEC];
    __device__ __forceinline__ own_bwd(const rows_args& A_, int r_, int t_, T* sbuf_)
        : A(A_), r(r_), t(t_), sbuf(sbuf_), sa0((unsigned)__cvta_generic_to_shared(sbuf_ + t_ * VEC)) {
#pragma unroll
        for (int j = 0; j < NV; j++) {
#pragma unroll
            for (int k = 0; k < VEC; k++) aw[j][k] = ab[j][k] = C(0);
            const int c = rg<K>::col(0, r, j, t);
            if (K::W && rg<K>::in(c)) wq[j] = *reinterpret_cast<const vec<T, VEC>*>((const T*)A.w + c);
        }
    }
    // Row g's x and dy (this thread's vectors) into stage s, by cp.async (the addresses from the two
    // row pointers and the stage's 32-bit shared address: generic shared pointers cost a conversion
    // a copy, and 64-bit offsets a vector, about 17 instructions a copy in all).
    __device__ __forceinline__ void issue(i64 g, int s) const {
        const unsigned b = sa0 + (unsigned)(2 * s * AN * sizeof(T));
        const T* ga = (const T*)A.a + g * A.sa;
        const T* gb = (const T*)A.b + g * A.sb;
#pragma unroll
        for (int j = 0; j < NV; j++) {
            const int c = rg<K>::col(0, r, j, t);
            if (rg<K>::in(c)) {
                cp16s(b + (unsigned)(j * TPR * VEC * sizeof(T)), ga + c);
                cp16s(b + (unsigned)((AN + j * TPR * VEC) * sizeof(T)), gb + c);
            }
        }
    }
    // This thread's vector j of x (or y) and dy in stage s, and of the weight, in the compute type.
    __device__ __forceinline__ void at(int s, int j, C (&x)[VEC], C (&d)[VEC], C (&w)[VEC]) const {
        const T* sx = sbuf + (2 * s) * AN + (j * TPR + t) * VEC;
        unpack(*reinterpret_cast<const vec<T, VEC>*>(sx), x);
        unpack(*reinterpret_cast<const vec<T, VEC>*>(sx + AN), d);
        if (K::W) unpack(wq[j], w);
    }
    // The first pass over the row in stage s (statistics mu, rs): this thread's shares of
    // sum(gw xhat) and sum(gw) into s1, s2, and its dweight / dbias partials. xhat = (x - mu) rs, the
    // difference first: as one FMA, x rs - mu rs, it lost 5e-5 relative where x is near mu (an f32
    // dweight of one row failed test_rows, smx12 run 4).
    __device__ __forceinline__ void sums(int s, C mu, C rs, C& s1, C& s2) {
#pragma unroll
        for (int j = 0; j < NV; j++) {
            if (!rg<K>::in(rg<K>::col(0, r, j, t))) continue;
            C x[VEC], d[VEC], w[VEC];
            at(s, j, x, d, w);
#pragma unroll
            for (int k = 0; k < VEC; k++) {
                if (SMX) {
                    s1 += K::LOG ? d[k] : x[k] * d[k];
                    continue;
                }
                const C xh = (x[k] - mu) * rs, gw = K::W ? d[k] * w[k] : d[k];
                s1 += gw * xh;
                if (K::LAYER) s2 += gw;  // rms_norm has no c2
                if (K::W) aw[j][k] += d[k] * xh;
                if (K::B) ab[j][k] += d[k];
            }
        }
    }
    // The output pass: dx of row g from stage s, dx = rs (gw - (xhat c1 + c2)), as rs gw - ((x - mu) a
    // + b) with a = rs^2 c1 and b = rs c2 once a row.
    __device__ __forceinline__ void out(int s, i64 g, C mu, C rs, C c1, C c2) const {
        T* dr = (T*)A.out + g * A.sout;
        const C a = rs * rs * c1, b = rs * c2;
#pragma unroll
        for (int j = 0; j < NV; j++) {
            const int c = rg<K>::col(0, r, j, t);
            if (!rg<K>::in(c)) continue;
            C x[VEC], d[VEC], w[VEC];
            at(s, j, x, d, w);
            vec<T, VEC> o;
#pragma unroll
            for (int k = 0; k < VEC; k++) {
                if (SMX) {  // c1 is the row's sum
                    o.v[k] = io<T>::store(K::LOG ? d[k] - exl_<sizeof(T) == 2>(x[k], C(0)) * c1 : x[k] * (d[k] - c1));
                    continue;
                }
                const C gw = K::W ? d[k] * w[k] : d[k];
                o.v[k] = io<T>::store(rs * gw - ((x[k] - mu) * a + b));
            }
            *reinterpret_cast<vec<T, VEC>*>(dr + c) = o;
        }
    }
};

// The norm backward with owned columns (K::OWN: the number of shared-memory stages, >= 2; sm_90,
// 16-byte vectors of 2- or 4-byte elements, 512-thread CTAs, a cluster of CL a row, ITER == 1).
// A persistent grid: cluster q takes rows q, q + nq, q + 2 nq, ... (nq clusters; fixed, so the
// gradients are deterministic), and each thread owns the same NV vectors of every row, so dweight /
// dbias of its columns stay in f32 registers over all the rows the cluster takes and leave once, as
// the cluster's partial row q (colsum adds the nq partials in a fixed order). The weight stays in
// registers as loaded. x and dy of a row are copied into shared memory with cp.async, OWN - 1 rows
// ahead of the row being computed (each thread copies and reads back only its own vectors: no
// barrier guards the stages); both passes read them from there: one read of x and dy from memory,
// one write of dx, 4 bytes a column of partials per cluster at the end.
template <class K, bool SMX = false>
__device__ __forceinline__ void norm_bwd_own(const rows_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    static_assert(K::OWN >= 2 && K::ITER == 1 && K::RPB == 1 && K::STG == 0 && sizeof(T) * K::VEC == 16,
                  "owned-column norm backward");
    enum { S = K::OWN };
    __shared__ pr<C> red[2 * rg<K>::NW];
    __shared__ pr<C> cred[2];
    extern __shared__ __align__(16) unsigned char dsm[];
    int phase = 0;
    const int t = threadIdx.x;
    const int r = K::CL > 1 ? (int)(blockIdx.x % K::CL) : 0;
    const i64 q = blockIdx.x / K::CL, nq = gridDim.x / K::CL;
    const C* mean = (const C*)A.mean;
    const C* rstd = (const C*)A.rstd;
    const C invn = C(1) / C(K::COLS);
    own_bwd<K, SMX> ob(A, r, t, (T*)dsm);
    auto issue = [&](i64 g, int s) { ob.issue(g, s); };
#pragma unroll
    for (int i = 0; i < S - 1; i++) {
        if (q + i * nq < A.rows) issue(q + i * nq, i);
        cp_commit();
    }
    // The statistics of the row are loaded one row ahead, in registers.
    C mean_n = C(0), rstd_n = C(0);
    if (!SMX && q < A.rows) {
        if (K::LAYER) mean_n = mean[q];
        rstd_n = rstd[q];
    }
    int s = 0;
    for (i64 g = q; g < A.rows; g += nq) {
        // Row g + (S - 1) nq into the stage row g - nq used (this thread has read its copies there).
        const i64 gn = g + (S - 1) * nq;
        if (gn < A.rows) issue(gn, s == 0 ? S - 1 : s - 1);
        cp_commit();
        cp_wait<S - 1>();
        const C mu = mean_n, rs = rstd_n;
        if (!SMX && g + nq < A.rows) {
            if (K::LAYER) mean_n = mean[g + nq];
            rstd_n = rstd[g + nq];
        }
        C s1 = C(0), s2 = C(0);
        ob.sums(s, mu, rs, s1, s2);
        const pr<C> R = allreduce<K, add_op>(mk(s1, s2), red, cred, phase);
        const C c1 = SMX ? R.a : R.a * invn, c2 = K::LAYER ? R.b * invn : C(0);
        ob.out(s, g, mu, rs, c1, c2);
        s = s == S - 1 ? 0 : s + 1;
    }
    cp_wait<0>();
    own_partials<K>(A, ob.aw, ob.ab, q, r, t);
    if constexpr (K::CL > 1) cluster<K::CL>::sync();
}

// The owned-column norm backward with a split cluster barrier (K::SB; otherwise as norm_bwd_own
// above, whose layout, ownership and staging it shares; for one CTA, CL == 1, the barrier is a pair
// of mbarriers, split_bar<1>: measured slower than norm_bwd_own there, so only the knob s1=1 asks
// for it). Row i's partial sums go through one cluster barrier whose arrive and wait are apart: each warp reduces its sums by shuffles and
// posts them in shared memory, arrives, computes the output pass of row i - 1 (whose sums were
// combined one iteration earlier), and only then waits and combines row i's NW * CL posted sums --
// every warp reads them all (through distributed shared memory) and adds them in one fixed order,
// so every thread agrees bitwise. No block barrier: the barrier's latency and the warps' skew are
// covered by a row's output pass. Row i - 1 stays staged while row i is computed, so OWN stages
// hold OWN - 2 rows ahead (OWN >= 3). With K::PS each CTA's warp sums are pre-summed by its warp 0
// and a warp combines CL posted pairs instead of NW * CL (presum, above).
template <class K, bool SMX = false>
__device__ __forceinline__ void norm_bwd_own_sb(const rows_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    static_assert(K::OWN >= 3 && K::ITER == 1 && K::RPB == 1 && K::STG == 0 && sizeof(T) * K::VEC == 16 &&
                      K::TPR % 32 == 0, "owned-column norm backward, split barrier");
    enum { S = K::OWN, NW = K::TPR / 32, NP = NW * K::CL, PS = K::PS && K::CL > 1, NE = PS ? K::CL : NP,
           PV = K::PV == 2 && !PS && sizeof(C) == 4 && NW % 2 == 0 ? 2 : K::PV ? 1 : 0,
           PE = PV == 2 ? 2 : 1,               /* posted pairs one load reads */
           PL = (NE / PE + 31) / 32 /* loads a lane makes */ };
    __shared__ __align__(16) pr<C> post[2][NW];  // each warp's sums of the two rows in flight (alternating)
    __shared__ __align__(16) pr<C> cpost[2];     // PS: the CTA's sums (presum)
    __shared__ unsigned long long mbar[2];  // one CTA (CL == 1): the split barrier's mbarriers
    extern __shared__ __align__(16) unsigned char dsm[];
    const int t = threadIdx.x, lane = t & 31, w = t >> 5;
    const int r = K::CL > 1 ? (int)(blockIdx.x % K::CL) : 0;
    const i64 q = blockIdx.x / K::CL, nq = gridDim.x / K::CL;
    const C* mean = (const C*)A.mean;
    const C* rstd = (const C*)A.rstd;
    const C invn = C(1) / C(K::COLS);
    own_bwd<K, SMX> ob(A, r, t, (T*)dsm);
    auto issue = [&](i64 g, int s) { ob.issue(g, s); };
#pragma unroll
    for (int i = 0; i < S - 2; i++) {
        if (q + i * nq < A.rows) issue(q + i * nq, i);
        cp_commit();
    }
    // The addresses of the posted sums this lane combines (entry e = PE (lane + 32 p), and with PE
    // == 2 entry e + 1 too: warp e % NW of CTA e / NW) in the cluster's shared window, in the first
    // half (the second is HB further).
    unsigned pa[PL];
#pragma unroll
    for (int p = 0; p < PL; p++) {
        const int e = lane + 32 * p < NE / PE ? PE * (lane + 32 * p) : 0;
        pa[p] = PS ? split_bar<K::CL>::map(&cpost[0], (unsigned)e)
                   : split_bar<K::CL>::map(&post[0][e % NW], (unsigned)(e / NW));
    }
    const unsigned HB = (unsigned)((PS ? 1 : NW) * sizeof(pr<C>));
    split_bar<K::CL, K::FR> bar;
    bar.init(mbar, NW);
    // Statistics: this row's (mu, rs), the previous row's (mp, rp), the next row's (mn, rn).
    C mu = C(0), rs = C(0), mp = C(0), rp = C(0), c1 = C(0), c2 = C(0);
    C mn = C(0), rn = C(0);
    if (!SMX && q < A.rows) {
        if (K::LAYER) mn = mean[q];
        rn = rstd[q];
    }
    int s = 0, h = 0;
    for (i64 g = q; g < A.rows + nq; g += nq) {
        const bool cur = g < A.rows, prev = g > q;
        // Row g + (S - 2) nq into the stage of row g - 2 nq (its output pass is done).
        const i64 gn = g + (S - 2) * nq;
        if (gn < A.rows) issue(gn, s >= 2 ? s - 2 : s + S - 2);
        cp_commit();
        cp_wait<S - 2>();
        mu = mn;
        rs = rn;
        if (!SMX && g + nq < A.rows) {
            if (K::LAYER) mn = mean[g + nq];
            rn = rstd[g + nq];
        }
        if (cur) {
            C s1 = C(0), s2 = C(0);
            ob.sums(s, mu, rs, s1, s2);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                s1 += __shfl_xor_sync(0xffffffffu, s1, o);
                s2 += __shfl_xor_sync(0xffffffffu, s2, o);
            }
            if (lane == 0) post[h][w] = mk(s1, s2);
            if (PS) {  // the CTA's sums, by warp 0 (presum)
                if (w == 0) {
                    presum_sync<K::TPR>();
                    pr<C> c = lane < NW ? post[h][lane] : mk(C(0), C(0));
#pragma unroll
                    for (int o = 16; o > 0; o >>= 1)
                        c = add_op::f(c, mk(__shfl_xor_sync(0xffffffffu, c.a, o), __shfl_xor_sync(0xffffffffu, c.b, o)));
                    if (lane == 0) cpost[h] = c;
                } else {
                    presum_arrive<K::TPR>();
                }
            }
        }
        bar.arrive(h);
        if (prev) ob.out(s == 0 ? S - 1 : s - 1, g - nq, mp, rp, c1, c2); // the output pass of row g - nq
        bar.wait(h);
        if (cur) {
            // Lane l adds entries l, l + 32, ... in that order (PE == 2: 2 l, 2 l + 1, 2 l + 64, ...),
            // then the lanes combine by a butterfly: the same order in every warp of the cluster.
            C v1 = C(0), v2 = C(0);
#pragma unroll
            for (int p = 0; p < PL; p++) {
                if (lane + 32 * p >= NE / PE) continue;
                const unsigned ad = pa[p] + (unsigned)h * HB;
                if constexpr (PV == 2) {
                    pr<C> u, v;
                    split_bar<K::CL>::ld4(ad, u, v);
                    v1 += u.a;
                    v2 += u.b;
                    v1 += v.a;
                    v2 += v.b;
                } else if constexpr (PV == 1) {
                    pr<C> u;
                    split_bar<K::CL>::ld2(ad, u);
                    v1 += u.a;
                    v2 += u.b;
                } else {
                    C a, b;
                    split_bar<K::CL>::ld(ad, a);
                    split_bar<K::CL>::ld(ad + (unsigned)sizeof(C), b);
                    v1 += a;
                    v2 += b;
                }
            }
            bar.after_reads();
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                v1 += __shfl_xor_sync(0xffffffffu, v1, o);
                v2 += __shfl_xor_sync(0xffffffffu, v2, o);
            }
            c1 = SMX ? v1 : v1 * invn;
            c2 = K::LAYER ? v2 * invn : C(0);
            mp = mu;
            rp = rs;
        }
        s = s == S - 1 ? 0 : s + 1;
        h ^= 1;
    }
    cp_wait<0>();
    own_partials<K>(A, ob.aw, ob.ab, q, r, t);
    split_bar<K::CL>::done();
}

template <class K>
__device__ __forceinline__ void norm_bwd(const rows_args& A) {
    if constexpr (K::OWN > 0 && K::SB) norm_bwd_own_sb<K>(A);
    else if constexpr (K::OWN > 0) norm_bwd_own<K>(A);
    else norm_bwd_regs<K>(A);
}

// The softmax / log_softmax backward; owned columns (rows.c, pick_own) take the norm backward's
// kernels with the softmax element ops (own_bwd, SMX).
template <class K>
__device__ __forceinline__ void softmax_bwd(const rows_args& A) {
    if constexpr (K::OWN > 0 && K::SB) norm_bwd_own_sb<K, true>(A);
    else if constexpr (K::OWN > 0) norm_bwd_own<K, true>(A);
    else if constexpr (K::PK) softmax_bwd_packed<K>(A);
    else softmax_bwd_regs<K>(A);
}

// SPLIT (rows.c: a norm backward whose row takes several passes, which would otherwise read and
// write its partial gradient rows in global memory every pass): the weight / bias gradients as a
// column reduction of their own. The rows are cut into nparts slabs of consecutive rows; thread
// (slab, column vector) adds dy * xhat and dy over its slab in row order, 4 rows' loads in flight,
// and writes part[slab] (then colsum adds the slabs in a fixed order). 256 threads, VEC columns a
// thread; the grid is slabs x column blocks.
template <class K>
__device__ __forceinline__ void colred(const rows_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    enum { NCV = K::COLS / K::VEC, CB = (NCV + 255) / 256, U = 4 };
    const int cb = (int)(blockIdx.x % CB);
    const i64 slab = blockIdx.x / CB;
    const int cv = cb * 256 + (int)threadIdx.x;
    if (cv >= NCV || slab >= A.nparts) return;
    const int c = cv * K::VEC;
    const i64 per = (A.rows + A.nparts - 1) / A.nparts, r0 = slab * per;
    const i64 r1 = r0 + per < A.rows ? r0 + per : A.rows;
    const T* x = (const T*)A.a + c;
    const T* dy = (const T*)A.b + c;
    const C* mean = (const C*)A.mean;
    const C* rstd = (const C*)A.rstd;
    C aw[K::VEC], ab[K::VEC];
#pragma unroll
    for (int k = 0; k < K::VEC; k++) aw[k] = ab[k] = C(0);
    for (i64 row = r0; row < r1; row += U) {
        vec<T, K::VEC> xv[U], gv[U];
        C mu[U], rs[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const i64 rr = row + u < r1 ? row + u : r1 - 1;  // past the slab: loaded, not added
            xv[u] = *reinterpret_cast<const vec<T, K::VEC>*>(x + rr * A.sa);
            gv[u] = *reinterpret_cast<const vec<T, K::VEC>*>(dy + rr * A.sb);
            mu[u] = K::LAYER ? mean[rr] : C(0);
            rs[u] = rstd[rr];
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (row + u >= r1) break;
#pragma unroll
            for (int k = 0; k < K::VEC; k++) {
                const C d = (C)io<T>::load(gv[u].v[k]);
                aw[k] += d * (((C)io<T>::load(xv[u].v[k]) - mu[u]) * rs[u]);
                ab[k] += d;
            }
        }
    }
    C* pw = (C*)A.part + slab * K::COLS + c;
    C* pb = (C*)A.part + ((K::W ? A.nparts : 0) + slab) * K::COLS + c;
#pragma unroll
    for (int k = 0; k < K::VEC; k++) {
        if (K::W) pw[k] = aw[k];
        if (K::B) pb[k] = ab[k];
    }
}

// dweight[c] = sum over p of part[p][c] (and dbias from the second half), in a fixed order. A CTA
// takes CW = 32 consecutive columns (a warp reads 128 contiguous bytes of a partial row) and its RG =
// 8 warps split the partial rows: warp g adds rows g, g + RG, g + 2 RG, ... into 4 interleaved
// accumulators (8 loads in flight a lane with both gradients), then the RG warp sums are added in
// warp order. 256 threads; grid: the columns / 32. (K::CSEQ, a measurement knob: the previous form,
// one thread a column walking every partial row, 4 loads in flight: latency-bound, 16 CTAs at 4096
// columns.)
template <class K>
__device__ __forceinline__ void colsum(const rows_args& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    if constexpr (K::CSEQ) {
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
        return;
    }
    enum { CW = 32, RG = 8, U = 4 };
    __shared__ C red[2][RG][CW];
    const int lane = threadIdx.x & 31, g = threadIdx.x >> 5;
    const i64 c = (i64)blockIdx.x * CW + lane, n = A.nparts;
    const bool ok = c < K::COLS;
    const C* pw = (const C*)A.part + c;
    const C* pb = (const C*)A.part + (K::W ? n : 0) * K::COLS + c;
    C aw[U], ab[U];
#pragma unroll
    for (int u = 0; u < U; u++) aw[u] = ab[u] = C(0);
    i64 p = g;
    if (ok) {
        for (; p + (U - 1) * RG < n; p += U * RG) {
            C lw[U], lb[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                if (K::W) lw[u] = pw[(p + u * RG) * K::COLS];
                if (K::B) lb[u] = pb[(p + u * RG) * K::COLS];
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                if (K::W) aw[u] += lw[u];
                if (K::B) ab[u] += lb[u];
            }
        }
        for (; p < n; p += RG) {
            if (K::W) aw[0] += pw[p * K::COLS];
            if (K::B) ab[0] += pb[p * K::COLS];
        }
    }
    red[0][g][lane] = (aw[0] + aw[1]) + (aw[2] + aw[3]);
    red[1][g][lane] = (ab[0] + ab[1]) + (ab[2] + ab[3]);
    __syncthreads();
    if (g >= 2 || !ok || (g == 0 && !K::W) || (g == 1 && !K::B)) return;
    C s = red[g][0][lane];
#pragma unroll
    for (int q = 1; q < RG; q++) s += red[g][q][lane];
    ((T*)(g == 0 ? A.dw : A.db))[c] = io<T>::store(s);
}

}  // namespace brc

namespace brc {

// ---- softmax along a strided axis --------------------------------------------------------------
// The softmax axis is not the contiguous one (a permuted view: softmax over dim 0 or over the
// channels of an NCHW tensor). The rows -- every position of the other dims -- flatten to an outer
// group and an inner group (each with one stride per operand, the inner one usually 1); a CTA takes
// TX consecutive rows of the inner group (coalesced when its stride is 1) times TY threads along the
// axis, each thread walking the axis with stride TY. Two passes over the row (statistics, then the
// output; the second read mostly hits L2). K: T, C, COLS, LOG, BWD, TX, TY.
struct rows_sargs {
    const void* a;  // x (forward) or y (backward)
    const void* b;  // dy (backward)
    void* out;      // y (forward) or dx (backward)
    i64 outer, inner;
    i64 so[3], si[3], sc[3];  // a, b, out: outer-group, inner-group and axis strides (elements)
};

template <class K>
__device__ __forceinline__ void softmax_strided(const rows_sargs& A) {
    typedef typename K::T T;
    typedef typename K::C C;
    __shared__ pr<C> red[K::TY][K::TX];
    const int tx = threadIdx.x % K::TX, ty = threadIdx.x / K::TX;
    const i64 nrows = A.outer * A.inner;
    for (i64 base = (i64)blockIdx.x * K::TX; base < nrows; base += (i64)gridDim.x * K::TX) {
        const i64 row = base + tx;
        const bool ok = row < nrows;
        const i64 o = ok ? row / A.inner : 0, i = ok ? row % A.inner : 0;
        const T* pa = (const T*)A.a + o * A.so[0] + i * A.si[0];
        const T* pb = (const T*)A.b + o * A.so[1] + i * A.si[1];
        T* po = (T*)A.out + o * A.so[2] + i * A.si[2];
        pr<C> acc = mk(K::BWD ? C(0) : ninf<C>(), C(0));
        if (ok) {
            for (int c = ty; c < K::COLS; c += K::TY) {
                const C v = (C)io<T>::load(pa[c * A.sc[0]]);
                if (K::BWD) {
                    const C g = (C)io<T>::load(pb[c * A.sc[1]]);
                    acc.a += K::LOG ? g : v * g;
                } else if (v > acc.a) {  // online (max, sum of exp(v - max)); NaN falls through and poisons
                    acc.b = acc.b * ex_(acc.a - v) + C(1);
                    acc.a = v;
                } else {
                    acc.b += v == ninf<C>() ? C(0) : ex_(v - acc.a);
                }
            }
        }
        red[ty][tx] = acc;
        __syncthreads();
        acc = red[0][tx];
#pragma unroll
        for (int q = 1; q < K::TY; q++) acc = K::BWD ? add_op::f(acc, red[q][tx]) : lse_op::f(acc, red[q][tx]);
        __syncthreads();  // red is rewritten by the next group of rows
        if (!ok) continue;
        const C m = acc.a, inv = C(1) / acc.b, lse = acc.a + lg_(acc.b), S = acc.a;
        for (int c = ty; c < K::COLS; c += K::TY) {
            const C v = (C)io<T>::load(pa[c * A.sc[0]]);
            C r;
            if (K::BWD) {
                const C g = (C)io<T>::load(pb[c * A.sc[1]]);
                r = K::LOG ? g - ex_(v) * S : v * (g - S);
            } else {
                r = K::LOG ? v - lse : ex_(v - m) * inv;
            }
            po[c * A.sc[2]] = io<T>::store(r);
        }
    }
}

}  // namespace brc
