// Standalone sweep of the movement pad and tile kernels on the GPU (not part of the library build):
// each candidate is checked byte for byte against a one-thread-per-element reference kernel, then
// timed (CUDA events, median of 5 x 20 launches), against a 1 GiB cudaMemcpy's bandwidth. The
// configurations are those the library can be built with (runtime/ops/movement.c's constants).
//   nvcc -O3 -arch=sm_90 -std=c++17 --extended-lambda -rdc=true -o movement_sweep bench/movement_sweep.cu
//   ./movement_sweep (every candidate), ./movement_sweep pick (the staged pad at 16 or 12 KiB a CTA),
//   ./movement_sweep move7 (the flat staged pad; tiles without the prefetch), ./movement_sweep move7pick
//   (the flat pad at 12 or 16 KiB a CTA or staged only: prints PICK a12|a16|b), ./movement_sweep move8
//   [rounds] (the staged pad's rows a CTA and CTAs of 128 / 512 threads; then large copies: the
//   library's mv_copy with and without cache hints, a plain and a TMA bulk copy, against
//   cudaMemcpyAsync in interleaved rounds), ./movement_sweep move11 [rounds] (transposes with few
//   tiles: half, whole, long and wide tiles, launch bounds, in interleaved rounds)
// -rdc=true: the library's JIT compiles relocatable code (nvJitLink needs it), and ptxas allocates
// registers differently there: built without it, the sweep's tile kernels did not spill where the
// library's did (64 registers + 40 bytes of local memory for whole tiles with the prefetch).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <functional>
#include <string>
#include <cuda_runtime.h>
#include "../kernel_src/prelude.cuh"
#include "../kernel_src/movement.cuh"
using namespace brc;
#define CK(x) do { cudaError_t e_ = (x); if (e_) { printf("CUDA %s at %d: %s\n", #x, __LINE__, cudaGetErrorString(e_)); exit(1); } } while (0)

template <class T, int MODE, int U, int LB>
__global__ void __launch_bounds__(256, LB) kpad(const __grid_constant__ mv_pad_args a) { mv_pad_fwd<T, MODE, 3, U>(a); }
template <class T, int MODE, int SM, int LB, int NT = 256>
__global__ void __launch_bounds__(NT, LB) kstaged(const __grid_constant__ mv_pad_args a) { mv_pad_staged<T, MODE, 3, SM, NT>(a); }
template <class T, int MODE, int SM, int LB>
__global__ void __launch_bounds__(256, LB) kflat(const __grid_constant__ mv_pad_args a) { mv_pad_flat<T, MODE, 3, SM>(a); }
template <class T, int H, int P, int LB>
__global__ void __launch_bounds__(256, LB) ktile(const __grid_constant__ mv_args<1> a) { mv_tile<T, 2, H, P>(a); }

// reference: one thread per y element (contiguous y [rows, n], x rows of N contiguous, rank 3 [B, H, W])
template <class T, int MODE>
__global__ void refpad(const T* x, T* y, long B, long Hx, long Wx, long lo2, long lo3, long Hy, long Wy, T fill) {
    long i = (long)blockIdx.x * 256 + threadIdx.x;
    if (i >= B * Hy * Wy) return;
    long w = i % Wy, h = (i / Wy) % Hy, b = i / (Wy * Hy);
    long jh = h - lo2, jw = w - lo3;
    auto m = [](long j, long n) -> long {
        if (j >= 0 && j < n) return j;
        if (MODE == 0) return -1;
        if (MODE == 1) return j < 0 ? -j : 2 * (n - 1) - j;
        if (MODE == 2) return j < 0 ? 0 : n - 1;
        return j < 0 ? j + n : j - n;
    };
    jh = m(jh, Hx), jw = m(jw, Wx);
    y[i] = (jh < 0 || jw < 0) ? fill : x[(b * Hx + jh) * Wx + jw];
}

__global__ void kfill(unsigned char* p, size_t n, unsigned seed) {
    for (size_t i = (size_t)blockIdx.x * 256 + threadIdx.x; i < n; i += (size_t)gridDim.x * 256) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
        p[i] = (unsigned char)h | 1;
    }
}
__global__ void kcmp(const unsigned char* a, const unsigned char* b, size_t n, unsigned long long* bad) {
    for (size_t i = (size_t)blockIdx.x * 256 + threadIdx.x; i < n; i += (size_t)gridDim.x * 256)
        if (a[i] != b[i]) atomicAdd(bad, 1ull);
}
static long dcmp(const void* a, const void* b, size_t n) {
    static unsigned long long* d = nullptr;
    if (!d) CK(cudaMalloc(&d, 8));
    CK(cudaMemset(d, 0, 8));
    kcmp<<<4096, 256>>>((const unsigned char*)a, (const unsigned char*)b, n, d);
    unsigned long long h;
    CK(cudaMemcpy(&h, d, 8, cudaMemcpyDeviceToHost));
    return (long)h;
}
template <class F> static float timeit(F f) {
    for (int i = 0; i < 3; i++) f();
    CK(cudaDeviceSynchronize());
    cudaEvent_t a, b;
    cudaEventCreate(&a), cudaEventCreate(&b);
    std::vector<float> v;
    for (int r = 0; r < 5; r++) {
        cudaEventRecord(a);
        for (int i = 0; i < 20; i++) f();
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        v.push_back(ms * 1000 / 20);
    }
    CK(cudaGetLastError());
    std::sort(v.begin(), v.end());
    return v[2];
}

static double copy_gbps;

// Host-side pad args (mirrors runtime/ops/movement.c): rank-3 [B, H, W] contiguous, pads on dims 1, 2.
static void pad_args(mv_pad_args& a, int E, int mode, long B, long Hx, long Wx, long l2, long h2, long l3, long h3,
                     bool xaligned, int U, int K) {
    memset(&a, 0, sizeof a);
    long Hy = Hx + l2 + h2, Wy = Wx + l3 + h3;
    a.shape[0] = B, a.shape[1] = Hy, a.shape[2] = Wy;
    a.ishape[0] = B, a.ishape[1] = Hx, a.ishape[2] = Wx;
    a.lo[1] = l2, a.lo[2] = l3;
    a.os[2] = 1, a.os[1] = Wy, a.os[0] = Wy * Hy;
    a.is[2] = 1, a.is[1] = Wx, a.is[0] = Wx * Hx;
    a.units = B * Hy;
    long n = Wy, N = Wx, lo = l3, VE = 16 / E, h = xaligned ? VE : 2 * VE;
    a.ch = (n * E + 31 - E) / 16;
    long iv[6][2];
    int ni = 0;
    long bs[4] = {0, lo, lo + N, n};
    for (int k = 0; k < 4; k++) iv[ni][0] = bs[k] - h, iv[ni][1] = bs[k] + h, ni++;
    if (mode == 1) iv[ni][0] = 0, iv[ni][1] = lo + h, ni++, iv[ni][0] = lo + N - h, iv[ni][1] = n, ni++;
    for (int k = 0; k < ni; k++) iv[k][0] = std::max(iv[k][0], 0L), iv[k][1] = std::min(iv[k][1], n);
    long s[6], e[6];
    for (int k = 0; k < ni; k++) s[k] = iv[k][0], e[k] = iv[k][1];
    for (int i = 1; i < ni; i++) for (int j = i; j > 0 && s[j] < s[j - 1]; j--) std::swap(s[j], s[j - 1]), std::swap(e[j], e[j - 1]);
    long ms[6], me[6];
    int m = 0;
    for (int k = 0; k < ni; k++) {
        if (e[k] <= s[k]) continue;
        if (m && s[k] <= me[m - 1]) me[m - 1] = std::max(me[m - 1], e[k]);
        else ms[m] = s[k], me[m] = e[k], m++;
    }
    if (m > 4) { printf("windows %d\n", m); exit(1); }
    long cum = 0;
    for (int w = 0; w < 4; w++) {
        if (w < m) {
            a.win[2 * w + 1] = ms[w] - cum;
            cum += me[w] - ms[w];
            a.win[2 * w] = cum;
        } else a.win[2 * w] = cum, a.win[2 * w + 1] = 0;
    }
    a.ew = cum;
    long per = a.ch + a.ew, T = 256L * U * K;
    if (per <= T) a.nseg = 1, a.g = std::min(256L, T / per), a.cw = a.ch, a.ews = a.ew;
    else a.g = 1, a.nseg = (per + T - 1) / T, a.cw = (a.ch + a.nseg - 1) / a.nseg, a.ews = (a.ew + a.nseg - 1) / a.nseg;
}

template <class T, int MODE, int U, int LB>
static float run_pad(const char* name, long B, long Hx, long Wx, long p, int K, int xoff, int yoff, bool timed, bool diag = false) {
    long Hy = Hx + 2 * p, Wy = Wx + 2 * p;
    size_t nx = B * Hx * Wx, ny = B * Hy * Wy;
    T *x, *y, *r;
    CK(cudaMalloc(&x, (nx + 16) * sizeof(T)));
    CK(cudaMalloc(&y, (ny + 16) * sizeof(T)));
    CK(cudaMalloc(&r, ny * sizeof(T)));
    kfill<<<4096, 256>>>((unsigned char*)x, (nx + 16) * sizeof(T), 77);
    T* xp = x + xoff;
    T* yp = y + yoff;
    mv_pad_args a;
    bool xal = ((size_t)xp % 16 == 0) && (Wx * sizeof(T)) % 16 == 0;
    pad_args(a, sizeof(T), MODE, B, Hx, Wx, p, p, p, p, xal, U, K);
    a.x = xp, a.y = yp, a.value = 0.0;
    unsigned grid = (unsigned)(((a.units + a.g - 1) / a.g) * a.nseg);
    CK(cudaMemset(y, 0xA5, (ny + 16) * sizeof(T)));
    kpad<T, MODE, U, LB><<<grid, 256>>>(a);
    CK(cudaGetLastError());
    T fill;
    memset(&fill, 0, sizeof fill);
    refpad<T, MODE><<<(ny + 255) / 256, 256>>>(xp, r, B, Hx, Wx, p, p, Hy, Wy, fill);
    CK(cudaDeviceSynchronize());
    long bad = dcmp(yp, r, ny * sizeof(T)), first = -1;
    float us = 0;
    if (timed) us = timeit([&] { kpad<T, MODE, U, LB><<<grid, 256>>>(a); });
    double gbps = (nx + ny) * sizeof(T) / (us * 1e-6) / 1e9;
    printf("pad %-8s E=%zu mode=%d U=%d LB=%d K=%d [%ld,%ld,%ld]+%ld xoff=%d yoff=%d g=%ld nseg=%ld ch=%ld ew=%ld grid=%u: %s",
           name, sizeof(T), MODE, U, LB, K, B, Hx, Wx, p, xoff, yoff, (long)a.g, (long)a.nseg, (long)a.ch, (long)a.ew, grid,
           bad ? "WRONG" : "ok");
    if (bad) printf(" (%ld bytes, first %ld)", bad, first);
    if (timed) printf(" %.1f us %.1f GB/s %.1f%%", us, gbps, 100 * gbps / copy_gbps);
    printf("\n");
    if (timed && diag) {
        mv_pad_args b = a;
        b.ew = 0, b.ews = 0;  // chunk phase only
        float u1 = timeit([&] { kpad<T, MODE, U, LB><<<grid, 256>>>(b); });
        b = a;
        b.cw = 0;  // edge phase only
        float u2 = timeit([&] { kpad<T, MODE, U, LB><<<grid, 256>>>(b); });
        b = a;
        b.cw = 0, b.ew = 0, b.ews = 0;  // row setup only
        float u3 = timeit([&] { kpad<T, MODE, U, LB><<<grid, 256>>>(b); });
        printf("    diag: chunks only %.1f us, edges only %.1f us, setup only %.1f us\n", u1, u2, u3);
    }
    cudaFree(x), cudaFree(y), cudaFree(r);
    return bad ? 1e9f : us;  // (this return was missing: flowing off the end is undefined behaviour)
}


// Rows a staged CTA (runtime/ops/movement.c, pad_stage_rows): of gmax, one fewer while the chunk
// phase's last round of NT threads would be under 1/8 full, at most gmax / 8 fewer.
static long pad_rows_pick(long gmax, long ch, long nt) {
    long g = gmax;
    while (g > 1 && 8 * (gmax - g + 1) <= gmax && (g * ch) % nt != 0 && 8 * ((g * ch) % nt) < nt) g--;
    return g;
}

template <class T, int MODE, int SM, int LB, int NT = 256>
static float run_staged(const char* tag, long B, long Hx, long Wx, long p, int xoff, int yoff, long gover = 0,
                        bool noedge = false) {
    long Hy = Hx + 2 * p, Wy = Wx + 2 * p;
    size_t nx = B * Hx * Wx, ny = B * Hy * Wy;
    T *x, *y, *r;
    CK(cudaMalloc(&x, (nx + 16) * sizeof(T)));
    CK(cudaMalloc(&y, (ny + 16) * sizeof(T)));
    CK(cudaMalloc(&r, ny * sizeof(T)));
    kfill<<<4096, 256>>>((unsigned char*)x, (nx + 16) * sizeof(T), 77);
    T* xp = x + xoff;
    T* yp = y + yoff;
    mv_pad_args a;
    pad_args(a, sizeof(T), MODE, B, Hx, Wx, p, p, p, p, true, 4, 2);
    const long E = sizeof(T), xpb = 16 * ((16 - E + Wx * E + 15) / 16);
    if (xpb > SM) { printf("staged: row too long\n"); return 0; }
    a.cw = xpb, a.nseg = 1, a.g = std::min((long)NT, SM / xpb);
    if (gover > 0 && gover < a.g) a.g = gover;
    if (gover < 0) a.g = pad_rows_pick(a.g, a.ch, NT);
    if (noedge) a.ew = 0;  // timing only: the element-by-element columns are left unwritten
    a.x = xp, a.y = yp, a.value = 0.0;
    unsigned grid = (unsigned)((a.units + a.g - 1) / a.g);
    CK(cudaMemset(y, 0xA5, (ny + 16) * sizeof(T)));
    kstaged<T, MODE, SM, LB, NT><<<grid, NT>>>(a);
    CK(cudaGetLastError());
    T fill;
    memset(&fill, 0, sizeof fill);
    refpad<T, MODE><<<(ny + 255) / 256, 256>>>(xp, r, B, Hx, Wx, p, p, Hy, Wy, fill);
    CK(cudaDeviceSynchronize());
    long bad = dcmp(yp, r, ny * sizeof(T));
    float us = timeit([&] { kstaged<T, MODE, SM, LB, NT><<<grid, NT>>>(a); });
    double gbps = (nx + ny) * sizeof(T) / (us * 1e-6) / 1e9;
    printf("%s staged%s E=%zu mode=%d SMEM=%d LB=%d [%ld,%ld,%ld]+%ld xoff=%d yoff=%d g=%ld%s grid=%u: %s %.1f us %.1f%%\n", tag,
           NT != 256 ? (NT == 128 ? "-nt128" : "-nt512") : "", sizeof(T), MODE, SM, LB, B, Hx, Wx, p, xoff, yoff, (long)a.g, noedge ? " (no edges)" : "", grid,
           bad ? (noedge ? "unchecked" : "WRONG") : "ok", us,
           100 * gbps / copy_gbps);
    cudaFree(x), cudaFree(y), cudaFree(r);
    return bad && !noedge ? 1e9f : us;
}
// The flat staged pad (y contiguous: a CTA's rows one byte range of y), rows a CTA rounded as the library does.
template <class T, int MODE, int SM, int LB>
static float run_flat(const char* tag, long B, long Hx, long Wx, long p, int xoff, int yoff) {
    long Hy = Hx + 2 * p, Wy = Wx + 2 * p;
    size_t nx = B * Hx * Wx, ny = B * Hy * Wy;
    T *x, *y, *r;
    CK(cudaMalloc(&x, (nx + 16) * sizeof(T)));
    CK(cudaMalloc(&y, (ny + 16) * sizeof(T)));
    CK(cudaMalloc(&r, ny * sizeof(T)));
    kfill<<<4096, 256>>>((unsigned char*)x, (nx + 16) * sizeof(T), 77);
    T* xp = x + xoff;
    T* yp = y + yoff;
    mv_pad_args a;
    pad_args(a, sizeof(T), MODE, B, Hx, Wx, p, p, p, p, true, 4, 2);
    const long E = sizeof(T), xpb = 16 * ((16 - E + Wx * E + 15) / 16);
    if (xpb > SM) { printf("flat: row too long\n"); return 0; }
    a.cw = xpb, a.nseg = 1, a.g = std::min(256L, SM / xpb);
    long m = 16, rb = Wy * E;
    while (rb % 2 == 0 && m > 1) rb /= 2, m /= 2;
    if (a.g >= m) a.g -= a.g % m;
    a.x = xp, a.y = yp, a.value = 0.0;
    unsigned grid = (unsigned)((a.units + a.g - 1) / a.g);
    CK(cudaMemset(y, 0xA5, (ny + 16) * sizeof(T)));
    kflat<T, MODE, SM, LB><<<grid, 256>>>(a);
    CK(cudaGetLastError());
    T fill;
    memset(&fill, 0, sizeof fill);
    refpad<T, MODE><<<(ny + 255) / 256, 256>>>(xp, r, B, Hx, Wx, p, p, Hy, Wy, fill);
    CK(cudaDeviceSynchronize());
    long bad = dcmp(yp, r, ny * sizeof(T));
    float us = timeit([&] { kflat<T, MODE, SM, LB><<<grid, 256>>>(a); });
    double gbps = (nx + ny) * sizeof(T) / (us * 1e-6) / 1e9;
    printf("%s flat E=%zu mode=%d SMEM=%d LB=%d [%ld,%ld,%ld]+%ld xoff=%d yoff=%d g=%ld grid=%u: %s %.1f us %.1f%%\n", tag,
           sizeof(T), MODE, SM, LB, B, Hx, Wx, p, xoff, yoff, (long)a.g, grid, bad ? "WRONG" : "ok", us,
           100 * gbps / copy_gbps);
    cudaFree(x), cudaFree(y), cudaFree(r);
    return bad ? 1e9f : us;
}
// The tiled transpose's arguments: x [M, Kd] contiguous -> y [Kd, M] contiguous.
template <class T, int H> static mv_args<1> tile_args(const T* x, T* y, long M, long Kd) {
    typedef mv_tgeo<sizeof(T), H> G;
    const long TA = G::TAW * G::PK, TB = G::TB;
    mv_args<1> a;
    memset(&a, 0, sizeof a);
    a.tb = 0;
    a.pc[0].src = (const char*)x, a.pc[0].dst = (char*)y;
    a.pc[0].shape[0] = Kd, a.pc[0].ss[0] = 1, a.pc[0].ds[0] = M;
    a.pc[0].shape[1] = M, a.pc[0].ss[1] = Kd, a.pc[0].ds[1] = 1;
    a.tiles_a = (M + TA - 1) / TA, a.tiles_b = (Kd + TB - 1) / TB, a.ntiles = a.tiles_a * a.tiles_b;
    return a;
}
template <class T> __global__ void reft(const T* x, T* y, long M, long Kd) {
    long i = (long)blockIdx.x * 256 + threadIdx.x;
    if (i >= M * Kd) return;
    long j = i / M, m = i % M;  // y[j][m] = x[m][j]
    y[i] = x[m * Kd + j];
}
template <class T, int H, int P, int LB>
static float run_tile(long M, long Kd, int cap) {
    // x [M, Kd] contiguous -> y [Kd, M] contiguous
    size_t nel = M * Kd;
    T *x, *y;
    CK(cudaMalloc(&x, nel * sizeof(T)));
    CK(cudaMalloc(&y, nel * sizeof(T)));
    kfill<<<4096, 256>>>((unsigned char*)x, nel * sizeof(T), 5);
    const mv_args<1> a = tile_args<T, H>(x, y, M, Kd);
    int nsm;
    cudaDeviceGetAttribute(&nsm, cudaDevAttrMultiProcessorCount, 0);
    long grid = a.ntiles;
    if (cap > 0 && grid > (long)nsm * cap) grid = (long)nsm * cap;
    CK(cudaMemset(y, 0xA5, nel * sizeof(T)));
    ktile<T, H, P, LB><<<(unsigned)grid, 256>>>(a);
    CK(cudaDeviceSynchronize());
    long bad = 0;
    {
        // reference: the copy kernel's gather path is not here; use a naive transpose kernel
        T* r;
        CK(cudaMalloc(&r, nel * sizeof(T)));
        reft<T><<<(unsigned)((nel + 255) / 256), 256>>>(x, r, M, Kd);
        bad = dcmp(y, r, nel * sizeof(T));
        cudaFree(r);
    }
    float us = timeit([&] { ktile<T, H, P, LB><<<(unsigned)grid, 256>>>(a); });
    double gbps = 2.0 * nel * sizeof(T) / (us * 1e-6) / 1e9;
    printf("tile E=%zu H=%d PIPE=%d LB=%d cap=%d %ldx%ld tiles=%ld grid=%ld: %s %.2f us %.1f%%\n", sizeof(T), H, P, LB, cap, M,
           Kd, (long)a.ntiles, grid, bad ? "WRONG" : "ok", us, 100 * gbps / copy_gbps);
    cudaFree(x), cudaFree(y);
    return bad ? 1e9f : us;
}


// ---- move11: transposes with few tiles, tile shapes and launch bounds in interleaved rounds ----
// x [M, Kd] contiguous -> y [Kd, M]; every variant is checked against reft once, then each round
// times every variant in turn (timeit: median of 5 x 20 launches); printed: the median, min and max
// over the rounds, and the median of each round's time over the first variant's.
struct tvar {
    std::string name;
    std::function<void()> go;
    long tiles;
    std::vector<float> t;
};
template <class T, int H, int P, int LB>
static tvar tile_var(const T* x, T* y, long M, long Kd) {
    typedef mv_tgeo<sizeof(T), H> G;
    const long TA = G::TAW * G::PK, TB = G::TB;
    const mv_args<1> a = tile_args<T, H>(x, y, M, Kd);
    const unsigned grid = (unsigned)a.ntiles;
    char nm[96];
    snprintf(nm, sizeof nm, "E=%zu %ldx%ld H=%d PIPE=%d LB=%d", sizeof(T), TA, TB, H, P, LB);
    return tvar{nm, [a, grid] { ktile<T, H, P, LB><<<grid, 256>>>(a); }, (long)a.ntiles, {}};
}
static void tile_rounds(const char* shape, size_t bytes, void* y, const void* r, std::vector<tvar>& v, int rounds) {
    for (auto& k : v) {
        CK(cudaMemset(y, 0xA5, bytes));
        k.go();
        CK(cudaDeviceSynchronize());
        const long bad = dcmp(y, r, bytes);
        printf("check %s %s tiles=%ld: %s\n", shape, k.name.c_str(), k.tiles, bad ? "WRONG" : "ok");
        if (bad) k.go = nullptr;
    }
    for (int rd = 0; rd < rounds; rd++)
        for (auto& k : v)
            if (k.go) k.t.push_back(timeit(k.go));
    for (auto& k : v) {
        if (!k.go) continue;
        std::vector<float> s = k.t, q;
        for (size_t i = 0; i < k.t.size(); i++) q.push_back(k.t[i] / v[0].t[i]);
        std::sort(s.begin(), s.end()), std::sort(q.begin(), q.end());
        const float med = s[s.size() / 2];
        printf("T %-12s %-28s median %7.2f us (min %.2f max %.2f) %5.1f%% of copy, x first %.3f (%.3f-%.3f)\n", shape,
               k.name.c_str(), med, s.front(), s.back(), 100.0 * (2.0 * bytes / (med * 1e-6) / 1e9) / copy_gbps,
               q[q.size() / 2], q.front(), q.back());
    }
}
template <class T>
static void tile_shape(long M, long Kd, int rounds, const std::function<void(std::vector<tvar>&, const T*, T*)>& add) {
    const size_t nel = (size_t)M * Kd, bytes = nel * sizeof(T);
    T *x, *y, *r;
    CK(cudaMalloc(&x, bytes));
    CK(cudaMalloc(&y, bytes));
    CK(cudaMalloc(&r, bytes));
    kfill<<<4096, 256>>>((unsigned char*)x, bytes, 11);
    reft<T><<<(unsigned)((nel + 255) / 256), 256>>>(x, r, M, Kd);
    CK(cudaDeviceSynchronize());
    std::vector<tvar> v;
    add(v, x, y);
    char shape[48];
    snprintf(shape, sizeof shape, "%ldx%ld/%zu", M, Kd, sizeof(T));
    tile_rounds(shape, bytes, y, r, v, rounds);
    cudaFree(x), cudaFree(y), cudaFree(r);
}
static void move11(int rounds) {
    // 2-byte, few tiles: half (the library's), half without the prefetch's code shape at 4, 6 and 8
    // CTAs an SM (with it, 6 and 8 spill 92 / 168 bytes: -rdc build), whole, long (64 x 128) with and
    // without the prefetch's code shape and at 3 CTAs an SM, wide.
    auto few = [](std::vector<tvar>& v, const u16* x, u16* y, long M, long K) {
        v.push_back(tile_var<u16, 1, 1, 4>(x, y, M, K));
        v.push_back(tile_var<u16, 1, 0, 4>(x, y, M, K));
        v.push_back(tile_var<u16, 1, 0, 6>(x, y, M, K));
        v.push_back(tile_var<u16, 1, 0, 8>(x, y, M, K));
        v.push_back(tile_var<u16, 0, 0, 4>(x, y, M, K));
        v.push_back(tile_var<u16, 3, 0, 4>(x, y, M, K));
        v.push_back(tile_var<u16, 3, 1, 4>(x, y, M, K));
        v.push_back(tile_var<u16, 3, 0, 3>(x, y, M, K));
        v.push_back(tile_var<u16, 2, 0, 2>(x, y, M, K));
    };
    const long sh[][2] = {{4096, 1000}, {4096, 1024}, {1000, 4096}, {2000, 3000}, {8192, 1000}, {4096, 2000},
                          {2048, 1000}, {1024, 1000}, {512, 512}};
    for (auto& m : sh)
        tile_shape<u16>(m[0], m[1], rounds, [&](std::vector<tvar>& v, const u16* x, u16* y) { few(v, x, y, m[0], m[1]); });
    // many tiles: wide (the library's) against long, for the record
    tile_shape<u16>(8192, 8192, 3, [](std::vector<tvar>& v, const u16* x, u16* y) {
        v.push_back(tile_var<u16, 2, 0, 2>(x, y, 8192, 8192));
        v.push_back(tile_var<u16, 3, 0, 4>(x, y, 8192, 8192));
        v.push_back(tile_var<u16, 0, 0, 4>(x, y, 8192, 8192));
    });
    // f32 at the bench's small shape: half (the library's) at 4 and 6 CTAs an SM, whole
    tile_shape<u32>(4096, 1000, rounds, [](std::vector<tvar>& v, const u32* x, u32* y) {
        v.push_back(tile_var<u32, 1, 1, 4>(x, y, 4096, 1000));
        v.push_back(tile_var<u32, 1, 1, 6>(x, y, 4096, 1000));
        v.push_back(tile_var<u32, 0, 0, 4>(x, y, 4096, 1000));
    });
}

// ---- large contiguous copies (move8): variants against cudaMemcpyAsync (PyTorch's copy_ path) ----
// K1: a plain copy (a CTA 256 x U units of 16 bytes, units 256 apart, all loads then all stores)
// with ld.global.nc.L1::no_allocate / st.global.cs (NC); K4: TMA bulk copies global -> shared ->
// global (cp.async.bulk, sm_90), a persistent CTA of one warp, S stages of CB bytes; K5 / K6: the
// library's mv_copy without / with its cache hints (HINT). (The first run also had K1 without the
// hints at U = 4 and 8 and a persistent grid-stride copy: 0.94, 0.95 and 0.89x memcpy at 256 MiB.)
struct v4u { unsigned a, b, c, d; };
template <int U, int NC>
__global__ void __launch_bounds__(256) kcopy(const v4u* __restrict__ x, v4u* __restrict__ y, long n16) {
    const long q0 = (long)blockIdx.x * 256 * U + threadIdx.x;
    v4u v[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
        const long q = q0 + u * 256;
        if (q < n16) {
            if (NC)
                asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                             : "=r"(v[u].a), "=r"(v[u].b), "=r"(v[u].c), "=r"(v[u].d) : "l"(x + q));
            else
                v[u] = x[q];
        }
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
        const long q = q0 + u * 256;
        if (q < n16) {
            if (NC)
                asm volatile("st.global.cs.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(y + q), "r"(v[u].a), "r"(v[u].b),
                             "r"(v[u].c), "r"(v[u].d) : "memory");
            else
                y[q] = v[u];
        }
    }
}
template <int S, int CB>
__global__ void __launch_bounds__(32) kcopy_tma(const char* x, char* y, long nchunks) {
    extern __shared__ __align__(128) char sm[];
    __shared__ __align__(8) unsigned long long bar[S];
    if (threadIdx.x != 0) return;
    unsigned sb[S], sd[S];
    for (int s = 0; s < S; s++) {
        asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(sb[s]) : "l"(&bar[s]));
        asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(sd[s]) : "l"(sm + s * CB));
        asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(sb[s]));
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    const long c0 = blockIdx.x, dc = gridDim.x;
    long mine = c0 < nchunks ? (nchunks - 1 - c0) / dc + 1 : 0;
    auto load = [&](long i) {  // my i-th chunk into stage i % S
        const int s = (int)(i % S);
        const char* g = x + (c0 + i * dc) * CB;
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(sb[s]), "r"(CB) : "memory");
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(sd[s]),
                     "l"(g), "r"(CB), "r"(sb[s]) : "memory");
    };
    for (long i = 0; i < S && i < mine; i++) load(i);
    for (long i = 0; i < mine; i++) {
        const int s = (int)(i % S);
        const unsigned par = (unsigned)((i / S) & 1);
        unsigned ok = 0;
        while (!ok)
            asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                         : "=r"(ok) : "r"(sb[s]), "r"(par) : "memory");
        char* g = y + (c0 + i * dc) * CB;
        asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(g), "r"(sd[s]), "r"(CB) : "memory");
        asm volatile("cp.async.bulk.commit_group;" ::: "memory");
        if (i >= 1 && i - 1 + S < mine) {  // refill the stage of chunk i - 1 once its store has read it
            asm volatile("cp.async.bulk.wait_group.read 1;" ::: "memory");
            load(i - 1 + S);
        }
    }
    asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
}

template <class T, int VEC, int HINT>
__global__ void __launch_bounds__(256) klibcopy(const __grid_constant__ mv_args<1> a) { mv_copy<T, VEC, 1, u32, 1, HINT>(a); }
static mv_args<1> lib_copy_args(const void* x, void* y, size_t bytes) {  // as runtime/ops/movement.c: rank 1, vec 16 bytes
    mv_args<1> a;
    memset(&a, 0, sizeof a);
    a.pc[0].src = (const char*)x, a.pc[0].dst = (char*)y;
    const long n = (long)(bytes / 2), vec = 8;
    a.pc[0].shape[0] = n, a.pc[0].ss[0] = 1, a.pc[0].ds[0] = 1;
    a.pc[0].ivec = n / vec, a.pc[0].vunits = n / vec, a.pc[0].units = n / vec + n % vec;
    return a;
}

static void copy_variants(int rounds) {
    const size_t nb = (size_t)32768 * 4096 * 2;  // the bench's bf16 row (f32: twice)
    int nsm;
    cudaDeviceGetAttribute(&nsm, cudaDevAttrMultiProcessorCount, 0);
    for (int big = 0; big < 2; big++) {
        const size_t bytes = nb << big;
        char *x, *y;
        CK(cudaMalloc(&x, bytes));
        CK(cudaMalloc(&y, bytes));
        kfill<<<4096, 256>>>((unsigned char*)x, bytes, 9);
        const long n16 = (long)(bytes / 16);
        auto chk = [&](const char* nm) {
            CK(cudaDeviceSynchronize());
            CK(cudaGetLastError());
            if (dcmp(x, y, bytes)) printf("copy %s WRONG\n", nm), exit(1);
            CK(cudaMemset(y, 0x5a, bytes));
        };
        const int CB = 16384, S = 4;
        CK(cudaFuncSetAttribute(kcopy_tma<S, CB>, cudaFuncAttributeMaxDynamicSharedMemorySize, S * CB));
        const char* names[] = {"memcpy", "K5 lib mv_copy", "K6 lib mv_copy nc/cs", "K1 nc/cs", "K4 tma 4x16K x2/SM"};
        const mv_args<1> la = lib_copy_args(x, y, bytes);
        const unsigned lgrid = (unsigned)((la.pc[0].units + 1023) / 1024);
        auto go = [&](int v) {
            switch (v) {
                case 0: cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice); break;
                case 1: klibcopy<u16, 8, 0><<<lgrid, 256>>>(la); break;
                case 2: klibcopy<u16, 8, 1><<<lgrid, 256>>>(la); break;
                case 3: kcopy<4, 1><<<(unsigned)((n16 + 1023) / 1024), 256>>>((const v4u*)x, (v4u*)y, n16); break;
                case 4: kcopy_tma<S, CB><<<nsm * 2, 32, S * CB>>>(x, y, (long)(bytes / CB)); break;
            }
        };
        const int NV = 5;
        for (int v = 0; v < NV; v++) go(v), chk(names[v]);
        std::vector<float> t[NV];
        for (int r = 0; r < rounds; r++)
            for (int v = 0; v < NV; v++) t[(r & 1) ? NV - 1 - v : v].push_back(timeit([&] { go((r & 1) ? NV - 1 - v : v); }));
        for (int v = 0; v < NV; v++) {
            std::vector<float> u = t[v];
            std::sort(u.begin(), u.end());
            printf("copy %zu MB %-22s ok  median %.2f us  min %.2f  max %.2f  %.1f GB/s  memcpy / this by round:", bytes >> 20,
                   names[v], u[u.size() / 2], u.front(), u.back(), 2.0 * bytes / (u[u.size() / 2] * 1e-6) / 1e9);
            for (int r = 0; r < rounds; r++) printf(" %.4f", t[0][r] / t[v][r]);
            printf("\n");
        }
        cudaFree(x), cudaFree(y);
    }
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    {
        size_t nb = 1ul << 30;
        void *a, *b;
        CK(cudaMalloc(&a, nb));
        CK(cudaMalloc(&b, nb));
        CK(cudaMemset(a, 1, nb));
        float us = timeit([&] { cudaMemcpyAsync(b, a, nb, cudaMemcpyDeviceToDevice); });
        copy_gbps = 2.0 * nb / (us * 1e-6) / 1e9;
        printf("copy %.1f GB/s\n", copy_gbps);
        cudaFree(a), cudaFree(b);
    }
    if (argc > 1 && !strcmp(argv[1], "pick")) {
        // The staged pad's shared memory a CTA (8 CTAs an SM): 16 or 12 KiB, by the sum of bf16 and
        // f32 over two interleaved rounds; prints "PICK <bytes>" (used to choose between two builds).
        float t16 = 0, t12 = 0;
        for (int rep = 0; rep < 2; rep++) {
            t16 += run_staged<i16, 1, 16384, 8>("K", 1024, 256, 256, 3, 0, 0) + run_staged<float, 1, 16384, 8>("K", 1024, 256, 256, 3, 0, 0);
            t12 += run_staged<i16, 1, 12288, 8>("K", 1024, 256, 256, 3, 0, 0) + run_staged<float, 1, 12288, 8>("K", 1024, 256, 256, 3, 0, 0);
        }
        run_staged<i16, 1, 8192, 8>("K", 1024, 256, 256, 3, 0, 0);
        run_staged<float, 1, 8192, 8>("K", 1024, 256, 256, 3, 0, 0);
        printf("sum 16384: %.1f us, 12288: %.1f us\nPICK %d\n", t16, t12, t12 < t16 ? 12288 : 16384);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "move7pick")) {
        // The pad's build: flat (second pass for the element-by-element chunks) at 12 or 16 KiB a
        // CTA, or staged only, by the sum of bf16 and f32 (the bench's rows) over three interleaved
        // rounds; prints "PICK a12|a16|b". Then other shapes and the tiles, for the record.
        float ts = 0, t12 = 0, t16 = 0;
        for (int rep = 0; rep < 3; rep++) {
            ts += run_staged<i16, 1, 12288, 8>("K", 1024, 256, 256, 3, 0, 0) + run_staged<float, 1, 12288, 8>("K", 1024, 256, 256, 3, 0, 0);
            t12 += run_flat<i16, 1, 12288, 8>("K", 1024, 256, 256, 3, 0, 0) + run_flat<float, 1, 12288, 8>("K", 1024, 256, 256, 3, 0, 0);
            t16 += run_flat<i16, 1, 16384, 8>("K", 1024, 256, 256, 3, 0, 0) + run_flat<float, 1, 16384, 8>("K", 1024, 256, 256, 3, 0, 0);
        }
        const char* pk = t12 <= t16 && t12 < ts ? "a12" : t16 < t12 && t16 < ts ? "a16" : "b";
        printf("sum staged %.1f us, flat 12 KiB %.1f, flat 16 KiB %.1f\nPICK %s\n", ts, t12, t16, pk);
        run_flat<i16, 1, 8192, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 1, 12288, 6>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 1, 3);
        run_staged<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 1, 3);
        run_flat<u8, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_staged<u8, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 0, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_staged<i16, 0, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 2, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 3, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<double, 1, 12288, 8>("P", 512, 256, 256, 3, 0, 0);
        run_staged<double, 1, 12288, 8>("P", 512, 256, 256, 3, 0, 0);
        run_flat<i16, 1, 12288, 8>("P", 1000, 255, 253, 5, 1, 0);
        run_staged<i16, 1, 12288, 8>("P", 1000, 255, 253, 5, 1, 0);
        for (int rep = 0; rep < 2; rep++) {
            run_tile<u16, 0, 0, 4>(8192, 8192, 0);
            run_tile<u16, 2, 0, 2>(8192, 8192, 0);
            run_tile<u16, 1, 1, 4>(4096, 1000, 0);
            run_tile<u16, 0, 0, 4>(4096, 1000, 0);
            run_tile<u32, 1, 1, 4>(4096, 1000, 0);
            run_tile<u32, 0, 0, 4>(4096, 1000, 0);
        }
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "move11")) {
        move11(argc > 2 ? atoi(argv[2]) : 7);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "move8")) {
        // The bf16 reflect pad (the bench's shape), staged: rows a CTA (the library's rule, -1),
        // CTAs of 128 threads (16 an SM at 8 or 10 KiB, 12 at 12 KiB) against 256 (8 an SM);
        // f32 and other element sizes / modes / alignments; then the large copies (the library's
        // mv_copy with and without cache hints against cudaMemcpyAsync), interleaved.
        for (int rep = 0; rep < 2; rep++) {
            run_staged<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
            run_staged<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0, -1);
            run_staged<i16, 1, 10240, 16, 128>("P", 1024, 256, 256, 3, 0, 0, -1);
            run_staged<i16, 1, 8192, 16, 128>("P", 1024, 256, 256, 3, 0, 0, -1);
            run_staged<i16, 1, 12288, 12, 128>("P", 1024, 256, 256, 3, 0, 0, -1);
            run_staged<float, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0, -1);
            run_staged<float, 1, 10240, 16, 128>("P", 1024, 256, 256, 3, 0, 0, -1);
        }
        run_staged<i16, 1, 24576, 4, 512>("P", 1024, 256, 256, 3, 0, 0, -1);
        run_staged<u8, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0, -1);
        run_staged<u8, 1, 10240, 16, 128>("P", 1024, 256, 256, 3, 0, 0, -1);
        run_staged<double, 1, 12288, 8>("P", 512, 256, 256, 3, 0, 0, -1);
        run_staged<double, 1, 10240, 16, 128>("P", 512, 256, 256, 3, 0, 0, -1);
        run_staged<i16, 0, 12288, 8>("P", 1024, 256, 256, 3, 0, 0, -1);
        run_staged<i16, 0, 10240, 16, 128>("P", 1024, 256, 256, 3, 0, 0, -1);
        run_staged<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 1, 3, -1);
        run_staged<i16, 1, 10240, 16, 128>("P", 1024, 256, 256, 3, 1, 3, -1);
        run_staged<i16, 1, 12288, 8>("P", 1000, 255, 253, 5, 1, 0, -1);
        run_staged<i16, 1, 10240, 16, 128>("P", 1000, 255, 253, 5, 1, 0, -1);
        copy_variants(argc > 2 ? atoi(argv[2]) : 4);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "move7")) {
        // Built with -rdc=true, as the library's JIT compiles (its register allocation: the
        // prefetch's registers made the tiles spill there). Pads: staged (baseline) against flat;
        // tiles without the prefetch (PIPE 0) at several launch bounds, and the old PIPE 1.
        for (int rep = 0; rep < 2; rep++) {
            run_staged<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
            run_flat<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
            run_flat<i16, 1, 16384, 8>("P", 1024, 256, 256, 3, 0, 0);
            run_flat<i16, 1, 8192, 8>("P", 1024, 256, 256, 3, 0, 0);
            run_flat<i16, 1, 12288, 6>("P", 1024, 256, 256, 3, 0, 0);
            run_staged<float, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
            run_flat<float, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        }
        run_flat<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 1, 3);
        run_staged<i16, 1, 12288, 8>("P", 1024, 256, 256, 3, 1, 3);
        run_flat<u8, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_staged<u8, 1, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 0, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 2, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<i16, 3, 12288, 8>("P", 1024, 256, 256, 3, 0, 0);
        run_flat<double, 1, 12288, 8>("P", 512, 256, 256, 3, 0, 0);
        run_flat<i16, 1, 12288, 8>("P", 1000, 255, 253, 5, 1, 0);
        for (int rep = 0; rep < 2; rep++) {
            run_tile<u16, 0, 1, 4>(8192, 8192, 0);  // the library's kernel before (spills under -rdc)
            run_tile<u16, 0, 0, 4>(8192, 8192, 0);
            run_tile<u16, 0, 0, 3>(8192, 8192, 0);
            run_tile<u16, 2, 0, 2>(8192, 8192, 0);
            run_tile<u16, 2, 0, 3>(8192, 8192, 0);
            run_tile<u16, 1, 0, 4>(8192, 8192, 0);
        }
        for (int rep = 0; rep < 2; rep++) {
            run_tile<u16, 1, 1, 4>(4096, 1000, 0);
            run_tile<u16, 1, 0, 4>(4096, 1000, 0);
            run_tile<u16, 1, 0, 6>(4096, 1000, 0);
            run_tile<u16, 1, 0, 8>(4096, 1000, 0);
            run_tile<u16, 0, 0, 4>(4096, 1000, 0);
            run_tile<u16, 2, 0, 2>(4096, 1000, 0);
            run_tile<u16, 2, 0, 3>(4096, 1000, 0);
        }
        run_tile<u32, 0, 1, 4>(8192, 8192, 0);
        run_tile<u32, 0, 0, 4>(8192, 8192, 0);
        run_tile<u32, 0, 0, 3>(8192, 8192, 0);
        run_tile<u32, 1, 0, 4>(4096, 1000, 0);
        run_tile<u32, 1, 0, 6>(4096, 1000, 0);
        run_tile<u8, 0, 0, 4>(8192, 8192, 0);
        return 0;
    }
    // Pads: reflect [16 * 64, 256, 256] + 3 (the bench's shape), staged for every element size (one
    // element a lane for the chunks that do not go whole) against the row groups.
    run_staged<i16, 1, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<float, 1, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<u8, 1, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_pad<i16, 1, 2, 6>("P", 1024, 256, 256, 3, 4, 0, 0, true);
    run_pad<float, 1, 2, 6>("P", 1024, 256, 256, 3, 4, 0, 0, true);
    run_pad<u8, 1, 2, 6>("P", 1024, 256, 256, 3, 4, 0, 0, true);
    run_staged<i16, 1, 20480, 8>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<float, 1, 20480, 8>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<i16, 1, 16384, 8>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<float, 1, 16384, 8>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<i16, 1, 24576, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<float, 1, 24576, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<i16, 1, 20480, 6>("P", 1024, 256, 256, 3, 1, 3);
    run_staged<float, 1, 20480, 6>("P", 1024, 256, 256, 3, 1, 3);
    run_staged<i16, 0, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<i16, 2, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<i16, 3, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<float, 3, 20480, 6>("P", 1024, 256, 256, 3, 0, 0);
    run_staged<double, 1, 20480, 6>("P", 512, 256, 256, 3, 0, 0);
    run_staged<u8, 0, 20480, 6>("P", 1024, 255, 253, 5, 1, 0);
    // Tiles, bf16 8192^2 twice over (the order varied), then 4096 x 1000, then f32.
    // <T, H (0 whole, 1 half, 2 wide), PIPE, CTAs an SM>(M, K, grid cap in CTAs an SM; 0: a CTA a tile)
    for (int rep = 0; rep < 2; rep++) {
        run_tile<u16, 0, 1, 4>(8192, 8192, 0);
        run_tile<u16, 2, 1, 3>(8192, 8192, 0);
        run_tile<u16, 2, 1, 2>(8192, 8192, 0);
        run_tile<u16, 0, 1, 2>(8192, 8192, 0);
        run_tile<u16, 0, 1, 3>(8192, 8192, 0);
        run_tile<u16, 0, 1, 4>(8192, 8192, 4);
        run_tile<u16, 0, 1, 4>(8192, 8192, 2);
        run_tile<u16, 2, 1, 3>(8192, 8192, 3);
        run_tile<u16, 2, 1, 2>(8192, 8192, 2);
        run_tile<u16, 1, 1, 4>(8192, 8192, 0);
        run_tile<u16, 1, 1, 6>(8192, 8192, 0);
    }
    run_tile<u16, 1, 1, 4>(4096, 1000, 0);
    run_tile<u16, 1, 1, 6>(4096, 1000, 0);
    run_tile<u16, 1, 1, 8>(4096, 1000, 0);
    run_tile<u16, 1, 1, 4>(4096, 1000, 2);
    run_tile<u16, 1, 1, 4>(4096, 1000, 1);
    run_tile<u16, 0, 1, 4>(4096, 1000, 0);
    run_tile<u16, 2, 1, 3>(4096, 1000, 0);
    run_tile<u16, 1, 1, 4>(4096, 1000, 0);
    run_tile<u32, 0, 1, 4>(8192, 8192, 0);
    run_tile<u32, 0, 1, 4>(8192, 8192, 4);
    run_tile<u32, 0, 1, 2>(8192, 8192, 0);
    run_tile<u32, 0, 1, 3>(8192, 8192, 0);
    run_tile<u32, 1, 1, 4>(4096, 1000, 0);
    run_tile<u32, 1, 1, 6>(4096, 1000, 0);
    run_tile<u32, 1, 1, 4>(4096, 1000, 2);
    run_tile<u8, 0, 1, 4>(8192, 8192, 0);
    run_tile<u8, 0, 1, 4>(8192, 8192, 4);
    return 0;
}
