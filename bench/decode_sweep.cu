// Standalone sweep of the decode forward (kernel_src/attention.cuh, the packed and split path) on
// the GPU (not part of the library build): where the time of a split decode goes (the forward
// alone, the combine alone, both, with and without programmatic dependent launch) and how the
// K / V pipeline depth, tile width and split count move it, against a device copy and a read-only
// stream of the same bytes. bf16, D = 128, H = 32, Hkv = 8, Sq = 1 (the bench's decode shapes).
//   nvcc -O3 -arch=sm_90 -std=c++17 -rdc=true -o decode_sweep bench/decode_sweep.cu
//   ./decode_sweep (every variant), ./decode_sweep quick (B = 1: 2 and 3 stages of 64 keys, auto splits),
//   ./decode_sweep fused (the combine fused into the forward's last CTA: zeroing modes, split counts),
//   ./decode_sweep cluster (B = 1: the splits of a KV head in one cluster, merged over its shared memory)
// Every variant's output is checked against a float64 reference of the first batch before it is
// timed (relative L2). Times: CUDA events around 40 launches, median of 7, K / V rotated over
// copies (more than 150 MB) so that every launch reads DRAM.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <vector>
#include <algorithm>
#include <cuda_runtime.h>
#include "../kernel_src/prelude.cuh"
#include "../kernel_src/random.cuh"
#include "../kernel_src/attention.cuh"
using namespace brc;
#define CK(x) do { cudaError_t e_ = (x); if (e_) { printf("CUDA %s at %d: %s\n", #x, __LINE__, cudaGetErrorString(e_)); exit(1); } } while (0)

// SP: 0 unsplit, 1 split with the combine kernel, 2 split with the combine fused (ticket counters)
template <int ST, int BN_, int SP = 1> struct cfg {
    typedef bf16 T;
    typedef float MT;
    enum { D = 128, WARPS = 1, MTILES = 1, STAGES = ST, BN = BN_, BQ = 0, QREG = 1, SOFTCAP = 0, ALIBI = 0,
           MASK = 0, DROPOUT = 0, VARLEN = 0, SPLIT = SP, WHICH = 0 };
};
template <class K> __global__ void __launch_bounds__(32, 1) kfwd(attn_args a) { attn_fwd_main<K>(a); }
template <class K> __global__ void __launch_bounds__(256, 1) kcomb(attn_args a) { attn_combine_main<K>(a); }
// The counters' zeroing as a kernel whose programmatic dependent is the fused forward.
__global__ void kzero(int *c, int n) {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
    for (int i = threadIdx.x; i < n; i += blockDim.x) c[i] = 0;
}

__global__ void kfill(u16 *p, size_t n, unsigned seed) {
    for (size_t i = (size_t)blockIdx.x * 256 + threadIdx.x; i < n; i += (size_t)gridDim.x * 256) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15, h *= 2246822519u, h ^= h >> 13, h *= 3266489917u, h ^= h >> 16;
        float u = ((h & 0xffffff) + 0.5f) / 16777216.f; // (0, 1)
        float x = (u - 0.5f) * 3.4f;                     // ~ N(0, 1)-ish spread
        unsigned b = __float_as_uint(x);
        p[i] = (u16)((b + 0x7fff + ((b >> 16) & 1)) >> 16);
    }
}
// Read-only stream: every byte once, 16 B a load, 4 loads in flight a thread.
__global__ void kread(const uint4 *p, size_t n, unsigned *sink) {
    unsigned acc = 0;
    size_t i = (size_t)blockIdx.x * 256 + threadIdx.x, st = (size_t)gridDim.x * 256;
    for (; i + 3 * st < n; i += 4 * st) {
        uint4 a = __ldcs(p + i), b = __ldcs(p + i + st), c = __ldcs(p + i + 2 * st), d = __ldcs(p + i + 3 * st);
        acc ^= a.x ^ b.y ^ c.z ^ d.w;
    }
    for (; i < n; i += st) acc ^= __ldcs(p + i).x;
    if (acc == 0x12345678u) *sink = acc;
}

static float bf2f(u16 h) { unsigned b = (unsigned)h << 16; float f; memcpy(&f, &b, 4); return f; }

struct shape { int B, H, Hkv, Sk; };
enum { D = 128 };

struct prob {
    shape s;
    int copies;
    std::vector<u16 *> k, v;
    u16 *q, *o;
    float *lse, *ws;
    int *ctr; // fused combine: a ticket counter a KV head and batch
    size_t kv_bytes;
    std::vector<double> ref; // batch 0: H x D
};

static void fill(u16 *p, size_t n, unsigned seed) { kfill<<<1024, 256>>>(p, n, seed); }

static prob make(shape s) {
    prob p;
    p.s = s;
    size_t kvn = (size_t)s.B * s.Sk * s.Hkv * D;
    p.kv_bytes = 2 * kvn * 2;
    p.copies = (int)std::max<size_t>(1, (size_t)(3 * 50 * (1 << 20)) / p.kv_bytes + 1);
    for (int c = 0; c < p.copies; c++) {
        u16 *k, *v;
        CK(cudaMalloc(&k, kvn * 2));
        CK(cudaMalloc(&v, kvn * 2));
        fill(k, kvn, 11 + 2 * c), fill(v, kvn, 12 + 2 * c);
        p.k.push_back(k), p.v.push_back(v);
    }
    size_t qn = (size_t)s.B * s.H * D;
    CK(cudaMalloc(&p.q, qn * 2));
    CK(cudaMalloc(&p.o, qn * 2));
    CK(cudaMalloc(&p.lse, (size_t)s.B * s.H * 4));
    CK(cudaMalloc(&p.ws, (size_t)256 * s.B * s.H * (D + 1) * 4));
    CK(cudaMalloc(&p.ctr, (size_t)s.B * s.Hkv * 4));
    CK(cudaMemset(p.ctr, 0, (size_t)s.B * s.Hkv * 4));
    fill(p.q, qn, 7);
    CK(cudaDeviceSynchronize());
    // float64 reference of batch 0 on copy 0
    size_t bn = (size_t)s.Sk * s.Hkv * D;
    std::vector<u16> hk(bn), hv(bn), hq((size_t)s.H * D);
    CK(cudaMemcpy(hk.data(), p.k[0], bn * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hv.data(), p.v[0], bn * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hq.data(), p.q, hq.size() * 2, cudaMemcpyDeviceToHost));
    p.ref.assign((size_t)s.H * D, 0.0);
    const double scale = 1.0 / sqrt((double)D);
    std::vector<double> sc(s.Sk);
    for (int h = 0; h < s.H; h++) {
        int kh = h / (s.H / s.Hkv);
        double mx = -1e300;
        for (int j = 0; j < s.Sk; j++) {
            double acc = 0;
            const u16 *kr = &hk[((size_t)j * s.Hkv + kh) * D];
            for (int d = 0; d < D; d++) acc += (double)bf2f(hq[(size_t)h * D + d]) * bf2f(kr[d]);
            sc[j] = acc * scale;
            mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int j = 0; j < s.Sk; j++) sc[j] = exp(sc[j] - mx), sum += sc[j];
        for (int j = 0; j < s.Sk; j++) {
            const u16 *vr = &hv[((size_t)j * s.Hkv + kh) * D];
            for (int d = 0; d < D; d++) p.ref[(size_t)h * D + d] += sc[j] * bf2f(vr[d]);
        }
        for (int d = 0; d < D; d++) p.ref[(size_t)h * D + d] /= sum;
    }
    return p;
}

static attn_args args_of(const prob &p, int c, int nsplit) {
    attn_args a;
    memset(&a, 0, sizeof a);
    const shape &s = p.s;
    a.q = p.q, a.k = p.k[c], a.v = p.v[c], a.o = p.o, a.lse = p.lse;
    a.part_o = p.ws, a.part_lse = p.ws + (size_t)nsplit * s.B * s.H * D;
    a.dq_sem = p.ctr;
    a.B = s.B, a.H = s.H, a.Hkv = s.Hkv, a.Sq = 1, a.Sk = s.Sk, a.gp = s.H / s.Hkv, a.nsplit = nsplit;
    const i64 qs[3] = {(i64)s.H * D, (i64)s.H * D, D}, ks[3] = {(i64)s.Sk * s.Hkv * D, (i64)s.Hkv * D, D};
    for (int i = 0; i < 3; i++) a.q_s[i] = a.o_s[i] = qs[i], a.k_s[i] = a.v_s[i] = ks[i];
    a.l_s[0] = s.H, a.l_s[1] = 1, a.l_s[2] = 1;
    a.wl = a.wr = -1;
    a.scale = 1.0 / sqrt((double)D);
    a.jblocks = (s.Sk + 3) / 4;
    return a;
}

static int g_sms;

// runtime/ops/attention.c's decode_splits
static int decode_splits(long ctas, long ntiles, long slots) {
    long cap = ntiles < 256 ? ntiles : 256, best = 1;
    double best_fill = 0;
    for (long k = 1; k <= 4; k++) {
        long n = k * slots / ctas;
        if (n > cap) n = cap;
        if (n < 1) continue;
        long waves = (ctas * n + slots - 1) / slots;
        double fill = (double)(ctas * n) / (double)(waves * slots);
        if (fill > best_fill + 1e-9) best_fill = fill, best = n;
        if (fill >= 0.9) return (int)n;
    }
    return (int)best;
}

// launches: 1 forward only, 2 combine only, 3 both, 4 both with the combine a programmatic dependent
// (the forward's CTAs trigger it as they start; it waits for the whole forward)
template <class K> static void launch(const prob &p, int c, int ns, int what) {
    const shape &s = p.s;
    attn_args a = args_of(p, c, ns);
    const int smem = (16 + 2 * K::STAGES * K::BN) * (D + 8) * 2;
    if (what & 5) kfwd<K><<<dim3(ns, s.Hkv, s.B), 32, smem>>>(a);
    if (what == 2 || what == 3) kcomb<K><<<s.B * s.H, 256>>>(a); // a CTA a row
    if (what == 4) {
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t lc = {};
        lc.gridDim = dim3(s.B * s.H), lc.blockDim = dim3(256), lc.attrs = at, lc.numAttrs = 1;
        CK(cudaLaunchKernelEx(&lc, kcomb<K>, a));
    }
}

// The fused forward (SPLIT = 2). how: 0 the kernel alone (its last CTAs set the counters back to
// zero: the lower bound), 1 a memset of the counters then the kernel, 2 the zeroing kernel then
// the forward as its programmatic dependent (waits for it only before its ticket).
template <class K> static void launch_fused(const prob &p, int c, int ns, int how) {
    const shape &s = p.s;
    attn_args a = args_of(p, c, ns);
    const int smem = (16 + 2 * K::STAGES * K::BN) * (D + 8) * 2;
    if (how == 1) CK(cudaMemsetAsync(p.ctr, 0, (size_t)s.B * s.Hkv * 4));
    if (how == 2) {
        kzero<<<1, 32>>>(p.ctr, s.B * s.Hkv);
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t lc = {};
        lc.gridDim = dim3(ns, s.Hkv, s.B), lc.blockDim = dim3(32), lc.dynamicSmemBytes = smem, lc.attrs = at;
        lc.numAttrs = 1;
        CK(cudaLaunchKernelEx(&lc, kfwd<K>, a));
        return;
    }
    kfwd<K><<<dim3(ns, s.Hkv, s.B), 32, smem>>>(a);
}

template <class F> static float time_us(F fn, int reps = 40) {
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 5; i++) fn(i);
    std::vector<float> t;
    for (int r = 0; r < 7; r++) {
        CK(cudaEventRecord(e0));
        for (int i = 0; i < reps; i++) fn(i);
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1e3f / reps);
    }
    CK(cudaGetLastError());
    std::sort(t.begin(), t.end());
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    return t[3];
}

static double check(const prob &p) {
    std::vector<u16> ho((size_t)p.s.H * D);
    CK(cudaMemcpy(ho.data(), p.o, ho.size() * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (size_t i = 0; i < ho.size(); i++) {
        double d = bf2f(ho[i]) - p.ref[i];
        num += d * d, den += p.ref[i] * p.ref[i];
    }
    return sqrt(num / den);
}

static double g_copy;

// The plan's split count, then the extra ones asked for that a tile count allows, each once.
static std::vector<int> split_list(int aut, const std::vector<int> &extra, long ntiles) {
    std::vector<int> splits = {aut};
    for (int e : extra)
        if (e > 0 && e <= 256 && e <= ntiles && std::find(splits.begin(), splits.end(), e) == splits.end())
            splits.push_back(e);
    return splits;
}

// The split counts a variant times: the plan's (aut, for the CTAs an SM holds at smem bytes) and the
// extra ones (split_list); per_sm and aut for the report.
template <class K>
static std::vector<int> variant_splits(const prob &p, const std::vector<int> &extra, int smem, int &per_sm, int &aut) {
    CK(cudaFuncSetAttribute(kfwd<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    per_sm = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kfwd<K>, 32, smem));
    const long ntiles = (p.s.Sk + K::BN - 1) / K::BN;
    aut = decode_splits((long)p.s.B * p.s.Hkv, ntiles, (long)g_sms * per_sm);
    return split_list(aut, extra, ntiles);
}

template <int ST, int BN> static void variant(const prob &p, const std::vector<int> &extra) {
    typedef cfg<ST, BN> K;
    const int smem = (16 + 2 * ST * BN) * (D + 8) * 2;
    int per_sm, aut;
    const std::vector<int> splits = variant_splits<K>(p, extra, smem, per_sm, aut);
    const shape &s = p.s;
    for (int ns : splits) {
        CK(cudaMemset(p.o, 0xff, (size_t)s.B * s.H * D * 2));
        launch<K>(p, 0, ns, 3);
        CK(cudaDeviceSynchronize());
        const double err = check(p);
        const int cp = p.copies;
        const float tf = time_us([&](int i) { launch<K>(p, i % cp, ns, 1); });
        const float tc = time_us([&](int i) { launch<K>(p, i % cp, ns, 2); });
        const float tb = time_us([&](int i) { launch<K>(p, i % cp, ns, 3); });
        const float tp = time_us([&](int i) { launch<K>(p, i % cp, ns, 4); });
        const double gb = p.kv_bytes / (std::min(tb, tp) * 1e3);
        printf("B=%-2d Sk=%-5d stages=%d bn=%-3d ctas/sm=%d split=%-3d%s fwd %7.2f  comb %6.2f  fwd+comb %7.2f  "
               "pdl %7.2f us  best %6.0f GB/s %5.1f%% copy  fwd-only %5.1f%%  rel_l2 %.2e\n",
               s.B, s.Sk, ST, BN, per_sm, ns, ns == aut ? "*" : " ", tf, tc, tb, tp, gb, 100 * gb / g_copy,
               100 * (p.kv_bytes / (tf * 1e3)) / g_copy, err);
        fflush(stdout);
        if (!(err < 2e-2)) printf("  BAD rel_l2\n");
    }
}

template <int ST, int BN> static void variant_fused(const prob &p, const std::vector<int> &extra) {
    typedef cfg<ST, BN, 2> K;
    typedef cfg<ST, BN, 1> K1;
    const int smem = (16 + 2 * ST * BN) * (D + 8) * 2;
    CK(cudaFuncSetAttribute(kfwd<K1>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    int per_sm, aut;
    const std::vector<int> splits = variant_splits<K>(p, extra, smem, per_sm, aut);
    const shape &s = p.s;
    const size_t on = (size_t)s.B * s.H * D;
    std::vector<u16> first(on), again(on);
    for (int ns : splits) {
        // correctness and reproducibility: every zeroing mode, twice, the same bits
        double err = 0;
        bool same = true;
        for (int how = 1; how <= 2; how++)
            for (int rep = 0; rep < 2; rep++) {
                CK(cudaMemset(p.o, 0xff, on * 2));
                CK(cudaMemset(p.ctr, 0x7f, (size_t)s.B * s.Hkv * 4)); // garbage: the run zeroes it
                launch_fused<K>(p, 0, ns, how);
                CK(cudaDeviceSynchronize());
                err = std::max(err, check(p));
                CK(cudaMemcpy(how == 1 && rep == 0 ? first.data() : again.data(), p.o, on * 2, cudaMemcpyDeviceToHost));
                if (!(how == 1 && rep == 0)) same = same && first == again;
            }
        const int cp = p.copies;
        const float tu = time_us([&](int i) { launch_fused<K>(p, i % cp, ns, 0); });
        const float tm = time_us([&](int i) { launch_fused<K>(p, i % cp, ns, 1); });
        const float tz = time_us([&](int i) { launch_fused<K>(p, i % cp, ns, 2); });
        const float tf = time_us([&](int i) { launch<K1>(p, i % cp, ns, 1); });
        const float tp = time_us([&](int i) { launch<K1>(p, i % cp, ns, 4); });
        const float tu2 = time_us([&](int i) { launch_fused<K>(p, i % cp, ns, 0); });
        const float tz2 = time_us([&](int i) { launch_fused<K>(p, i % cp, ns, 2); });
        const float best = std::min(tz, tz2);
        printf("FUSED B=%-2d Sk=%-5d stages=%d bn=%-3d ctas/sm=%d split=%-3d%s self-reset %7.2f/%7.2f  memset %7.2f  "
               "zero+pdl %7.2f/%7.2f | split fwd %7.2f  fwd+comb pdl %7.2f us | zero+pdl %5.1f%% copy  rel_l2 %.2e  "
               "bitwise %s\n",
               s.B, s.Sk, ST, BN, per_sm, ns, ns == aut ? "*" : " ", tu, tu2, tm, tz, tz2, tf, tp,
               100 * (p.kv_bytes / (best * 1e3)) / g_copy, err, same ? "same" : "DIFFER");
        fflush(stdout);
        if (!(err < 2e-2)) printf("  BAD rel_l2\n");
    }
}

// The splits merged over distributed shared memory (SPLIT = 3): clusters of ns CTAs, the splits
// of one (batch, KV head); ns <= 16 (above 8 the non-portable cluster size).
template <class K> static cudaError_t launch_cluster(const prob &p, int c, int ns) {
    const shape &s = p.s;
    attn_args a = args_of(p, c, ns);
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeClusterDimension;
    at[0].val.clusterDim.x = ns, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
    cudaLaunchConfig_t lc = {};
    lc.gridDim = dim3(ns, s.Hkv, s.B), lc.blockDim = dim3(32);
    lc.dynamicSmemBytes = (16 + 2 * K::STAGES * K::BN) * (D + 8) * 2, lc.attrs = at, lc.numAttrs = 1;
    return cudaLaunchKernelEx(&lc, kfwd<K>, a);
}

template <int ST, int BN> static void variant_cluster(const prob &p, const std::vector<int> &splits) {
    typedef cfg<ST, BN, 3> K;
    typedef cfg<3, 64, 1> K1; // the library's split forward and combine, for the same-run baseline
    const int smem = (16 + 2 * ST * BN) * (D + 8) * 2, smem1 = (16 + 2 * 3 * 64) * (D + 8) * 2;
    CK(cudaFuncSetAttribute(kfwd<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CK(cudaFuncSetAttribute(kfwd<K>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    CK(cudaFuncSetAttribute(kfwd<K1>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem1));
    const shape &s = p.s;
    const size_t on = (size_t)s.B * s.H * D;
    std::vector<u16> first(on), again(on);
    const int cp = p.copies;
    for (int ns : splits) {
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = ns, at[0].val.clusterDim.y = 1, at[0].val.clusterDim.z = 1;
        cudaLaunchConfig_t lc = {};
        lc.gridDim = dim3(ns, s.Hkv, s.B), lc.blockDim = dim3(32), lc.dynamicSmemBytes = smem, lc.attrs = at;
        lc.numAttrs = 1;
        int nclu = -1;
        cudaError_t oe = cudaOccupancyMaxActiveClusters(&nclu, kfwd<K>, &lc);
        if (oe) printf("  cudaOccupancyMaxActiveClusters: %s\n", cudaGetErrorString(oe)), cudaGetLastError();
        double err = 0;
        bool same = true, ok = true;
        for (int rep = 0; rep < 2 && ok; rep++) {
            CK(cudaMemset(p.o, 0xff, on * 2));
            cudaError_t e = launch_cluster<K>(p, 0, ns);
            if (e == cudaSuccess) e = cudaDeviceSynchronize();
            if (e) {
                printf("CLUSTER B=%d stages=%d bn=%d split=%d: %s\n", s.B, ST, BN, ns, cudaGetErrorString(e));
                cudaGetLastError();
                ok = false;
                break;
            }
            err = std::max(err, check(p));
            CK(cudaMemcpy(rep ? again.data() : first.data(), p.o, on * 2, cudaMemcpyDeviceToHost));
            if (rep) same = first == again;
        }
        if (!ok) continue;
        const int aut = 33;
        const float tc = time_us([&](int i) { launch_cluster<K>(p, i % cp, ns); });
        const float tb = time_us([&](int i) { launch<K1>(p, i % cp, aut, 4); });
        const float tc2 = time_us([&](int i) { launch_cluster<K>(p, i % cp, ns); });
        const float tb2 = time_us([&](int i) { launch<K1>(p, i % cp, aut, 4); });
        const float best = std::min(tc, tc2);
        printf("CLUSTER B=%-2d Sk=%-5d stages=%d bn=%-3d split=%-2d (clusters at once %d) cluster %7.2f/%7.2f us  "
               "%5.1f%% copy | 3x64 split=33 fwd+comb pdl %7.2f/%7.2f | rel_l2 %.2e bitwise %s\n",
               s.B, s.Sk, ST, BN, ns, nclu, tc, tc2, 100 * (p.kv_bytes / (best * 1e3)) / g_copy, tb, tb2, err,
               same ? "same" : "DIFFER");
        fflush(stdout);
        if (!(err < 2e-2)) printf("  BAD rel_l2\n");
    }
}

// The unsplit kernel (what the plan runs at B = 32).
template <int ST, int BN> static void variant_unsplit(const prob &p) {
    typedef cfg<ST, BN, 0> K;
    const int smem = (16 + 2 * ST * BN) * (D + 8) * 2;
    CK(cudaFuncSetAttribute(kfwd<K>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CK(cudaMemset(p.o, 0xff, (size_t)p.s.B * p.s.H * D * 2));
    launch<K>(p, 0, 1, 1);
    CK(cudaDeviceSynchronize());
    const double err = check(p);
    const int cp = p.copies;
    const float t = time_us([&](int i) { launch<K>(p, i % cp, 1, 1); });
    printf("UNSPLIT B=%-2d Sk=%-5d stages=%d bn=%-3d %7.2f us %5.1f%% copy rel_l2 %.2e\n", p.s.B, p.s.Sk, ST, BN, t,
           100 * (p.kv_bytes / (t * 1e3)) / g_copy, err);
}

int main(int argc, char **argv) {
    const bool quick = argc > 1 && !strcmp(argv[1], "quick"); // B = 1 only, the library's shapes old and new
    const bool fused = argc > 1 && !strcmp(argv[1], "fused"); // the fused combine's variants
    const bool cluster = argc > 1 && !strcmp(argv[1], "cluster"); // the splits merged over a cluster
    cudaDeviceProp pr;
    CK(cudaGetDeviceProperties(&pr, 0));
    g_sms = pr.multiProcessorCount;
    printf("%s, %d SMs\n", pr.name, g_sms);
    {
        size_t n = (size_t)1 << 28;
        float *x, *y;
        CK(cudaMalloc(&x, n * 4));
        CK(cudaMalloc(&y, n * 4));
        CK(cudaMemset(x, 1, n * 4));
        const float t = time_us([&](int) { CK(cudaMemcpyAsync(y, x, n * 4, cudaMemcpyDeviceToDevice)); }, 10);
        g_copy = 2.0 * n * 4 / (t * 1e3);
        unsigned *sink;
        CK(cudaMalloc(&sink, 4));
        const float tr = time_us([&](int) { kread<<<g_sms * 8, 256>>>((const uint4 *)x, n * 4 / 16, sink); }, 10);
        printf("copy 1 GiB: %.1f GB/s (read + write); read-only stream 1 GiB: %.1f GB/s\n", g_copy, n * 4 / (tr * 1e3));
        CK(cudaFree(x));
        CK(cudaFree(y));
    }
    const shape shapes[2] = {{1, 32, 8, 32768}, {32, 32, 8, 4096}};
    for (const shape &s : shapes) {
        if (quick && s.B != 1) continue;
        prob p = make(s);
        {
            // read-only stream of the K / V bytes of one copy (the bytes the decode must read)
            unsigned *sink;
            CK(cudaMalloc(&sink, 4));
            const size_t n = p.kv_bytes / 2 / 16;
            const int cp = p.copies;
            const float tr = time_us([&](int i) {
                kread<<<g_sms * 8, 256>>>((const uint4 *)p.k[i % cp], n, sink);
                kread<<<g_sms * 8, 256>>>((const uint4 *)p.v[i % cp], n, sink);
            });
            printf("B=%d Sk=%d: K/V %.1f MB, %d copies; read-only stream (2 launches) %.2f us = %.0f GB/s (%.1f%% copy)\n",
                   s.B, s.Sk, p.kv_bytes / 1e6, p.copies, tr, p.kv_bytes / (tr * 1e3), 100 * p.kv_bytes / (tr * 1e3) / g_copy);
        }
        const bool big = s.B == 1;
        if (cluster) {
            if (big) {
                variant_cluster<3, 64>(p, {16, 8, 12});
                variant_cluster<4, 64>(p, {16});
                variant_cluster<2, 64>(p, {16});
                variant_cluster<6, 32>(p, {16});
            }
            continue;
        }
        if (fused) {
            if (big) {
                variant_fused<3, 64>(p, {32, 24, 16, 66});
                variant_fused<4, 32>(p, {33});
                variant_fused<2, 64>(p, {33});
                variant_fused<6, 32>(p, {});
            } else {
                variant_unsplit<3, 64>(p);
                variant_fused<3, 64>(p, {2});
                variant_unsplit<3, 64>(p);
            }
            continue;
        }
        if (quick) {
            variant<2, 64>(p, {});
            variant<3, 64>(p, {});
            continue;
        }
        variant<2, 64>(p, big ? std::vector<int>{32, 64, 96, 128} : std::vector<int>{2, 4});
        variant<3, 64>(p, big ? std::vector<int>{33, 66} : std::vector<int>{1, 2});
        variant<4, 64>(p, big ? std::vector<int>{17, 33, 50} : std::vector<int>{1, 2});
        variant<2, 32>(p, big ? std::vector<int>{49, 98} : std::vector<int>{4});
        variant<4, 32>(p, big ? std::vector<int>{33, 66} : std::vector<int>{2});
        variant<6, 32>(p, big ? std::vector<int>{33, 66} : std::vector<int>{2});
        variant<8, 32>(p, big ? std::vector<int>{17, 33} : std::vector<int>{1});
        for (int c = 0; c < p.copies; c++) cudaFree(p.k[c]), cudaFree(p.v[c]);
        cudaFree(p.q), cudaFree(p.o), cudaFree(p.lse), cudaFree(p.ws);
    }
    return 0;
}
