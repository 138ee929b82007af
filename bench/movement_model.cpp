// A CPU model of the movement kernels' index math: brc::mv_pad_fwd, brc::mv_pad_staged and
// brc::mv_tile compiled as host C++ (256 std::threads a block, a barrier for __syncthreads, the
// intrinsics written out), run on random shapes, pads, modes, element sizes, alignments and
// strides, and compared with a direct evaluation of the definition (plus a check that nothing
// outside y was written). Not part of the library build; no GPU needed:
//   g++ -std=c++20 -O1 -o movement_model bench/movement_model.cpp -lpthread
//   ./movement_model 50            (row groups)     STAGED=1 ./movement_model 50   (staged)
//   STAGED=2 ./movement_model 50   (flat staged: y contiguous, as the model's y always is)
//   ./movement_model 20 tile       (tiles)
#include <atomic>
#include <barrier>
#include <thread>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <cmath>
#include <algorithm>
#include <functional>
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __grid_constant__
#define BRC_MV_NO_CP_ASYNC
struct uint3_ { unsigned x, y, z; };
thread_local uint3_ threadIdx;
thread_local uint3_ blockIdx;
uint3_ gridDim;
static std::barrier<>* g_bar;
inline void __syncthreads() { g_bar->arrive_and_wait(); }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
template <class T> inline T __shfl_xor_sync(unsigned, T v, int) { return v; }
template <class T> inline T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned sh) {
    sh &= 31; uint64_t v = ((uint64_t)hi << 32) | lo; return (unsigned)(v >> sh);
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    uint8_t b[8]; memcpy(b, &x, 4); memcpy(b + 4, &y, 4); unsigned r = 0;
    for (int i = 0; i < 4; i++) r |= (unsigned)b[(s >> (4 * i)) & 7] << (8 * i);
    return r;
}
#include "../kernel_src/prelude.cuh"
#include "../kernel_src/movement.cuh"
using namespace brc;

template <class F> static void launch(unsigned grid, F body) {
    std::barrier<> bar(256);
    g_bar = &bar;
    gridDim = {grid, 1, 1};
    std::vector<std::thread> th;
    for (int t = 0; t < 256; t++)
        th.emplace_back([&, t] {
            threadIdx = {(unsigned)t, 0, 0};
            for (unsigned b = 0; b < grid; b++) {
                blockIdx = {b, 0, 0};
                body();
                bar.arrive_and_wait();
            }
        });
    for (auto& x : th) x.join();
}

static uint64_t rs = 88172645463325252ull;
static int g_staged = 0;  // 1 staged, 2 flat staged
static uint64_t rnd() { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }

static int64_t pad_windows(int mode, int64_t n, int64_t N, int64_t lo, int64_t h, long long* win) {
    int64_t s[6], e[6];
    int k = 0;
    const int64_t at[4] = {0, lo, lo + N, n};
    for (int i = 0; i < 4; i++) s[k] = at[i] - h, e[k] = at[i] + h, k++;
    if (mode == 1) s[k] = 0, e[k] = lo + h, k++, s[k] = lo + N - h, e[k] = n, k++;
    for (int i = 0; i < k; i++) { if (s[i] < 0) s[i] = 0; if (e[i] > n) e[i] = n; }
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && s[j] < s[j - 1]; j--) std::swap(s[j], s[j - 1]), std::swap(e[j], e[j - 1]);
    int64_t ms[6], me[6];
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (e[i] <= s[i]) continue;
        if (m > 0 && s[i] <= me[m - 1]) { if (e[i] > me[m - 1]) me[m - 1] = e[i]; }
        else ms[m] = s[i], me[m] = e[i], m++;
    }
    if (m > 4) { printf("m=%d\n", m); exit(1); }
    int64_t cum = 0;
    for (int w = 0; w < 4; w++) {
        win[2 * w + 1] = w < m ? ms[w] - cum : 0;
        if (w < m) cum += me[w] - ms[w];
        win[2 * w] = cum;
    }
    return cum;
}

static int64_t src(int mode, int64_t j, int64_t n) {
    if (j >= 0 && j < n) return j;
    if (mode == 0) return -1;
    if (mode == 1) return j < 0 ? -j : 2 * (n - 1) - j;
    if (mode == 2) return j < 0 ? 0 : n - 1;
    return j < 0 ? j + n : j - n;
}

template <class T, int MODE>
static long one(int64_t B, int64_t Hx, int64_t Wx, int64_t l2, int64_t h2, int64_t l3, int64_t h3, int xoff, int yoff,
                int xpitch_extra, bool strided_rows, int U, int K) {
    const int E = sizeof(T);
    int64_t Hy = Hx + l2 + h2, Wy = Wx + l3 + h3;
    int64_t xs1 = strided_rows ? 2 : 1;           // x's inner stride
    int64_t xs_row = Wx * xs1 + xpitch_extra, xs_b = xs_row * Hx;
    size_t xn = (size_t)(B * xs_b + 64), yn = (size_t)(B * Hy * Wy + 64);
    std::vector<uint8_t> xb(xn * E + 64), yb(yn * E + 64);
    uint8_t* xa = (uint8_t*)(((uintptr_t)xb.data() + 15) & ~(uintptr_t)15);
    uint8_t* ya = (uint8_t*)(((uintptr_t)yb.data() + 15) & ~(uintptr_t)15);
    for (size_t i = 0; i < xn * E; i++) xa[i] = (uint8_t)rnd() | 1;
    memset(ya, 0xA5, yn * E);
    T* x = (T*)xa + xoff;
    T* y = (T*)ya + yoff;
    mv_pad_args a;
    memset(&a, 0, sizeof a);
    a.x = x, a.y = y, a.value = 0;
    const int R = 3;
    a.shape[0] = B, a.shape[1] = Hy, a.shape[2] = Wy;
    a.ishape[0] = B, a.ishape[1] = Hx, a.ishape[2] = Wx;
    a.lo[1] = l2, a.lo[2] = l3;
    a.os[2] = 1, a.os[1] = Wy, a.os[0] = Wy * Hy;
    a.is[2] = xs1, a.is[1] = xs_row, a.is[0] = xs_b;
    int64_t n = Wy, N = Wx, lo = l3, ve = 16 / E;
    a.units = B * Hy;
    bool contig = xs1 == 1;
    bool pitch16 = (N * E) % 16 == 0 && (xs_row * E) % 16 == 0 && (xs_b * E) % 16 == 0;
    long long winw[8]; int64_t eww;
    if (contig) {
        a.ch = (n * E + 31 - E) / 16;
        a.ew = pad_windows(MODE, n, N, lo, ve, a.win);
        eww = pad_windows(MODE, n, N, lo, 2 * ve, winw);
    } else {
        a.ch = 0, a.ew = eww = n;
        a.win[0] = n;
        for (int w = 1; w < 4; w++) a.win[2 * w] = n;
        memcpy(winw, a.win, sizeof winw);
    }
    int64_t per = a.ch + eww, cta = 256LL * U * K;
    if (per <= cta) a.nseg = 1, a.g = std::min<int64_t>(cta / per, 256);
    else a.g = 1, a.nseg = (per + cta - 1) / cta;
    a.cw = (a.ch + a.nseg - 1) / a.nseg;
    a.ews = (a.ew + a.nseg - 1) / a.nseg;
    int64_t ewsw = (eww + a.nseg - 1) / a.nseg;
    const int SM = 4096, SMF = 12288;  // staged; flat (the library's size: several chunks a thread)
    int64_t xpb = 16 * ((16 - E + N * E + 15) / 16);
    const bool staged = g_staged && contig && xpb <= (g_staged == 2 ? SMF : SM);  // the staged kernel keeps the h = 16 / E windows
    if (!staged && contig && (!pitch16 || (uintptr_t)x % 16)) memcpy(a.win, winw, sizeof winw), a.ew = eww, a.ews = ewsw;
    unsigned grid = (unsigned)(((a.units + a.g - 1) / a.g) * a.nseg);
    if (staged) {
        a.cw = xpb, a.g = std::min<int64_t>(256, (g_staged == 2 ? SMF : SM) / xpb), a.nseg = 1;
        if (g_staged == 2) {  // flat: y is contiguous here; rows a CTA as runtime/ops/movement.c rounds them
            int64_t m = 16, rb = n * E;
            while (rb % 2 == 0 && m > 1) rb /= 2, m /= 2;
            if (a.g >= m) a.g -= a.g % m;
            if (rnd() % 4 == 0) a.g = 1 + rnd() % a.g;  // any rows a CTA must work too
        }
        grid = (unsigned)((a.units + a.g - 1) / a.g);
        if (g_staged == 2) launch(grid, [&] { mv_pad_flat<T, MODE, R, SMF>(a); });
        else launch(grid, [&] { mv_pad_staged<T, MODE, R, SM>(a); });
    } else if (U == 4) launch(grid, [&] { mv_pad_fwd<T, MODE, R, 4>(a); });
    else launch(grid, [&] { mv_pad_fwd<T, MODE, R, 2>(a); });
    // check
    long bad = 0;
    T fill;
    memset(&fill, 0, sizeof fill);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hy; h++)
            for (int64_t w = 0; w < Wy; w++) {
                int64_t jh = src(MODE, h - l2, Hx), jw = src(MODE, w - l3, Wx);
                T want = (jh < 0 || jw < 0) ? fill : x[b * xs_b + jh * xs_row + jw * xs1];
                if (memcmp(&y[(b * Hy + h) * Wy + w], &want, E)) bad++;
            }
    // strays
    for (int64_t i = 0; i < (int64_t)yn; i++) {
        int64_t rel = i - yoff;
        if (rel >= 0 && rel < B * Hy * Wy) continue;
        uint8_t* p = (uint8_t*)((T*)ya + i);
        for (int k = 0; k < E; k++) if (p[k] != 0xA5) { bad++; break; }
    }
    if (bad)
        printf("WRONG E=%d mode=%d [%ld,%ld,%ld] pads %ld %ld %ld %ld xoff %d yoff %d pitchx %d strided %d U %d K %d: %ld bad (g=%ld nseg=%ld ch=%ld ew=%ld)\n",
               E, MODE, (long)B, (long)Hx, (long)Wx, (long)l2, (long)h2, (long)l3, (long)h3, xoff, yoff, xpitch_extra,
               (int)strided_rows, U, K, bad, (long)a.g, (long)a.nseg, (long)a.ch, (long)a.ew);
    return bad;
}

template <class T, int MODE> static long rnd_case() {
    int64_t B = 1 + rnd() % 3, Hx = 1 + rnd() % 6, Wx = 1 + rnd() % (rnd() % 4 == 0 ? 3000 : 70);
    int64_t mx = MODE == 1 ? Wx - 1 : MODE == 3 ? Wx : 40, mh = MODE == 1 ? Hx - 1 : MODE == 3 ? Hx : 3;
    int64_t l3 = mx ? rnd() % (mx + 1) : 0, h3 = mx ? rnd() % (mx + 1) : 0, l2 = mh ? rnd() % (mh + 1) : 0, h2 = mh ? rnd() % (mh + 1) : 0;
    if (rnd() % 3 == 0) { int64_t lim = MODE == 1 ? Wx - 1 : MODE == 3 ? Wx : 1000; l3 = rnd() % (lim + 1); h3 = rnd() % (lim + 1); }
    int xoff = rnd() % 3 == 0 ? (int)(rnd() % 8) : 0, yoff = (int)(rnd() % 8);
    int pe = rnd() % 3 == 0 ? (int)(rnd() % 5) : 0;
    bool st = rnd() % 8 == 0;
    int U = rnd() % 2 ? 4 : 2, K = 1 + (int)(rnd() % 2);
    if (rnd() % 5 == 0) K = 0;  // tiny CTA work: segments
    if (K == 0) { U = 2; K = 1; }
    return one<T, MODE>(B, Hx, Wx, l2, h2, l3, h3, xoff, yoff, pe, st, U, K);
}


template <class T, int H, int P>
static long tile_case(int64_t M, int64_t Kd, int64_t pitch_extra, unsigned cap, int off) {
    // x [M, Kd] with row pitch Kd + pitch_extra -> y [Kd, M] contiguous (y^T = x)
    typedef mv_tgeo<sizeof(T), H> G;
    const int64_t TA = G::TAW * G::PK, TB = G::TB, xp = Kd + pitch_extra;
    std::vector<T> xb(M * xp + 32), yb(M * Kd + 32);
    T* xa = (T*)(((uintptr_t)xb.data() + 15) & ~(uintptr_t)15) + off;
    T* ya = (T*)(((uintptr_t)yb.data() + 15) & ~(uintptr_t)15);
    for (int64_t i = 0; i < M * xp; i++) xa[i] = (T)rnd();
    memset(ya, 0xA5, M * Kd * sizeof(T));
    mv_args<1> a;
    memset(&a, 0, sizeof a);
    a.tb = 0;
    a.pc[0].src = (const char*)xa, a.pc[0].dst = (char*)ya;
    a.pc[0].shape[0] = Kd, a.pc[0].ss[0] = 1, a.pc[0].ds[0] = M;
    a.pc[0].shape[1] = M, a.pc[0].ss[1] = xp, a.pc[0].ds[1] = 1;
    a.tiles_a = (M + TA - 1) / TA, a.tiles_b = (Kd + TB - 1) / TB, a.ntiles = a.tiles_a * a.tiles_b;
    unsigned grid = (unsigned)std::min<int64_t>(a.ntiles, cap);
    launch(grid, [&] { mv_tile<T, 2, H, P>(a); });
    long bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < Kd; j++)
            if (ya[j * M + i] != xa[i * xp + j]) bad++;
    if (bad) printf("TILE WRONG E=%zu H=%d P=%d %ldx%ld pitch+%ld cap %u off %d: %ld\n", sizeof(T), H, P, (long)M, (long)Kd, (long)pitch_extra, cap, off, bad);
    return bad != 0;
}
template <class T, int H> static long tiles(int n) {
    long bad = 0;
    for (int i = 0; i < n; i++) {
        int64_t M = 16 + rnd() % 300, K = 16 + rnd() % 300;
        if (rnd() % 2) M = (M + 15) / 16 * 16, K = (K + 15) / 16 * 16;
        int64_t pe = rnd() % 3 == 0 ? 16 * (rnd() % 3) : (rnd() % 4 == 0 ? 1 : 0);
        unsigned cap = rnd() % 2 ? 3 : 1000;
        int off = rnd() % 6 == 0 ? 1 : 0;
        bad += tile_case<T, H, 1>(M, K, pe, cap, off) + tile_case<T, H, 0>(M, K, pe, cap, off);
    }
    return bad;
}

template <int MODE> static long modes(int n) {
    long bad = 0;
    for (int i = 0; i < n; i++) {
        bad += rnd_case<uint8_t, MODE>() != 0;
        bad += rnd_case<int16_t, MODE>() != 0;
        bad += rnd_case<float, MODE>() != 0;
        bad += rnd_case<double, MODE>() != 0;
    }
    return bad;
}

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 20;
    g_staged = getenv("STAGED") ? atoi(getenv("STAGED")) : 0;
    long bad = 0;
    bad += one<int16_t, 1>(2, 8, 256, 3, 3, 3, 3, 0, 0, 0, false, 4, 2);
    bad += one<float, 1>(2, 8, 256, 3, 3, 3, 3, 0, 0, 0, false, 4, 2);
    bad += one<uint8_t, 1>(2, 8, 256, 3, 3, 3, 3, 0, 0, 0, false, 4, 2);
    // Many rows a CTA (the flat kernel's threads take several chunks each; y and x off alignment).
    bad += one<int16_t, 1>(4, 64, 256, 3, 3, 3, 3, 0, 0, 0, false, 4, 2);
    bad += one<int16_t, 1>(4, 64, 256, 3, 3, 3, 3, 1, 3, 0, false, 4, 2);
    bad += one<uint8_t, 1>(8, 50, 20, 2, 1, 5, 4, 0, 5, 0, false, 4, 2);
    bad += one<float, 3>(8, 50, 21, 2, 1, 5, 4, 3, 1, 0, false, 4, 2);
    bad += one<double, 2>(6, 40, 33, 1, 2, 3, 7, 0, 1, 0, false, 4, 2);
    bad += one<int16_t, 0>(8, 60, 7, 2, 2, 9, 9, 0, 2, 0, false, 4, 2);
    bad += one<int16_t, 1>(3, 90, 5, 1, 1, 2, 1, 0, 7, 0, false, 4, 2);
    bad += one<float, 1>(2, 3, 1500, 1, 1, 700, 699, 1, 0, 0, false, 4, 2);  // more listed chunks than the list
    if (argc > 2) {
        bad += tiles<uint8_t, 0>(n) + tiles<uint16_t, 0>(n) + tiles<uint16_t, 1>(n) + tiles<uint16_t, 2>(n) + tiles<uint16_t, 3>(n) + tiles<uint32_t, 0>(n) +
               tiles<uint32_t, 1>(n) + tiles<uint64_t, 0>(n) + tiles<uint64_t, 1>(n);
        printf("tile failing: %ld\n", bad);
        return bad != 0;
    }
    bad += modes<0>(n) + modes<1>(n) + modes<2>(n) + modes<3>(n);
    printf("failing cases: %ld\n", bad);
    return bad != 0;
}
