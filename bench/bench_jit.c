/* bench_jit: JIT latencies and run overhead of baracuda, measured on a GPU.
 *
 *   bench_jit cold <cache_dir>      plan creation that compiles (NVRTC), per plan
 *   bench_jit disk <cache_dir>      the same plans in a fresh process: disk-cache hits
 *   bench_jit reselect [cache_dir]  re-creating an already-made plan (in-process table hit)
 *   bench_jit overhead [cache_dir]  host cost of brc_unary_run over a bare cuLaunchKernel
 *
 * Run `cold` first on an empty (or absent) cache directory, then `disk` on the same directory
 * in a new process. Each mode prints one JSON object on stdout (make_jit_json.py turns the
 * four into bench/results/jit.json) and human-readable lines on stderr. Exit status: 0 on
 * success, 1 when a call or a check fails (e.g. a `cold` plan that was not a compile), 2 on
 * bad usage. All times are host wall clock (CLOCK_MONOTONIC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Elements of the plans timed by cold/disk/reselect (the size does not change the kernel). */
#define PLAN_NUMEL (INT64_C(1) << 20)
#define RESELECT_ITERS 10000
#define RESELECT_WARMUP 100
/* overhead: elements per launch, launches per timed batch, batches per loop (100000 calls of
 * each). A batch stays well under the driver's launch-queue depth (about a thousand pending
 * launches), so no launch blocks on a full queue and the loops time enqueue cost alone. */
#define OVH_NUMEL 1024
#define OVH_BATCH 500
#define OVH_BATCHES 200

/* ---- small helpers ------------------------------------------------------------------------- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + (int64_t)ts.tv_nsec;
}

static double ns_to_ms(int64_t ns) { return (double)ns * 1e-6; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (v is left untouched); 0 for n == 0. */
static double median(const double *v, size_t n) {
    if (n == 0) return 0;
    double *s = malloc(n * sizeof *s);
    if (!s) return -1;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static double mean(const double *v, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v[i];
    return n ? sum / (double)n : 0;
}

static int fail_brc(const char *what, brc_status st) {
    fprintf(stderr, "bench_jit: %s: %s: %s\n", what, brc_status_name(st), brc_last_error());
    const char *log = brc_last_jit_log();
    if (log && *log) fprintf(stderr, "%s\n", log);
    return 1;
}

static int fail_cu(const char *what, CUresult r) {
    fprintf(stderr, "bench_jit: %s: %s\n", what, brc__cu_errname(r));
    return 1;
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
static void json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void json_doubles(const double *v, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++) printf("%s%.4f", i ? "," : "", v[i]);
    putchar(']');
}

static brc_status make_context(brc_context **ctx, double *ms) {
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    o.device = 0;
    int64_t t0 = now_ns();
    brc_status st = brc_context_create(&o, ctx);
    if (ms) *ms = ns_to_ms(now_ns() - t0);
    return st;
}

static brc_unary_desc unary_desc(brc_unary_kind kind, brc_dtype dtype, int64_t n) {
    brc_unary_desc d;
    memset(&d, 0, sizeof d);
    d.kind = kind;
    brc_tensor_desc_contiguous(&d.x, dtype, 1, &n);
    d.y = d.x;
    return d;
}

/* ---- cold / disk: one plan per distinct kernel ------------------------------------------------- */

typedef struct plan_spec {
    brc_unary_kind kind;
    brc_dtype dtype;
} plan_spec;

/* Twelve distinct kernels (relu f32, used by reselect/overhead, is deliberately absent). */
static const plan_spec jit_plans[] = {
    {BRC_UNARY_EXP, BRC_F32},        {BRC_UNARY_GELU_ERF, BRC_BF16}, {BRC_UNARY_GELU_TANH, BRC_F16},
    {BRC_UNARY_SILU, BRC_F32},       {BRC_UNARY_SIGMOID, BRC_BF16},  {BRC_UNARY_TANH, BRC_F16},
    {BRC_UNARY_LOG, BRC_F32},        {BRC_UNARY_SQRT, BRC_BF16},     {BRC_UNARY_RSQRT, BRC_F16},
    {BRC_UNARY_RELU, BRC_BF16},      {BRC_UNARY_EXP, BRC_F16},       {BRC_UNARY_GELU_ERF, BRC_F32},
};
#define NPLANS (sizeof jit_plans / sizeof jit_plans[0])


/* cold (disk = false): every plan must compile; disk (disk = true): every plan must be a disk
 * hit. */
static int run_cold_or_disk(bool disk) {
    const char *mode = disk ? "disk" : "cold";
    double ctx_ms = 0;
    brc_context *ctx = NULL;
    brc_status st = make_context(&ctx, &ctx_ms);
    if (st) return fail_brc("brc_context_create", st);
    char arch[16];
    snprintf(arch, sizeof arch, "%s", brc_context_arch(ctx));

    double values[NPLANS];
    char names[NPLANS][128];
    brc_jit_stats start, before, after;
    brc_jit_stats_get(&start);
    int rc = 0;
    for (size_t i = 0; i < NPLANS && rc == 0; i++) {
        brc_unary_desc d = unary_desc(jit_plans[i].kind, jit_plans[i].dtype, PLAN_NUMEL);
        brc_plan *p = NULL;
        brc_jit_stats_get(&before);
        int64_t t0 = now_ns();
        st = brc_unary_plan(ctx, &d, NULL, &p);
        int64_t t1 = now_ns();
        brc_jit_stats_get(&after);
        if (st) {
            rc = fail_brc("brc_unary_plan", st);
            break;
        }
        values[i] = ns_to_ms(t1 - t0);
        snprintf(names[i], sizeof names[i], "%s", brc_plan_descriptor(p));
        brc_plan_destroy(p);
        bool ok = disk ? after.disk_hits == before.disk_hits + 1 && after.compiles == before.compiles
                       : after.compiles == before.compiles + 1;
        if (!ok) {
            fprintf(stderr,
                    "bench_jit: %s: %s was not a %s (compiles +%llu, disk hits +%llu, memory hits +%llu)%s\n",
                    mode, names[i], disk ? "disk hit" : "compile",
                    (unsigned long long)(after.compiles - before.compiles),
                    (unsigned long long)(after.disk_hits - before.disk_hits),
                    (unsigned long long)(after.memory_hits - before.memory_hits),
                    disk ? "; run `cold` on this cache directory first"
                         : "; pass an empty or absent cache directory");
            rc = 1;
        } else {
            fprintf(stderr, "%s %-50s %9.3f ms\n", mode, names[i], values[i]);
        }
    }
    brc_context_destroy(ctx);
    if (rc) return rc;

    /* The first plan of the process also pays one-time costs (the NVRTC and nvJitLink loads
     * for cold, the SQLite open for both); median_ms is over the other plans. */
    double first = values[0], med = median(values + 1, NPLANS - 1);
    fprintf(stderr, "%s: context %.3f ms, first plan %.3f ms, median of the other %zu: %.3f ms\n",
            mode, ctx_ms, first, NPLANS - 1, med);
    printf("{\"mode\":\"%s\",\"arch\":", mode);
    json_str(arch);
    printf(",\"cache_dir\":");
    json_str(brc_cache_dir());
    printf(",\"context_ms\":%.4f,\"first_ms\":%.4f,\"median_ms\":%.4f,\"median_of\":\"values_ms[1:]\"",
           ctx_ms, first, med);
    printf(",\"values_ms\":");
    json_doubles(values, NPLANS);
    printf(",\"plans\":[");
    for (size_t i = 0; i < NPLANS; i++) {
        if (i) putchar(',');
        json_str(names[i]);
    }
    printf("],\"compiles\":%llu,\"disk_hits\":%llu,\"nvrtc_total_ms\":%.4f}\n",
           (unsigned long long)(after.compiles - start.compiles),
           (unsigned long long)(after.disk_hits - start.disk_hits), after.compile_ms - start.compile_ms);
    return 0;
}

/* ---- reselect: an already-made plan, made again ------------------------------------------------- */

static int run_reselect(void) {
    brc_context *ctx = NULL;
    brc_status st = make_context(&ctx, NULL);
    if (st) return fail_brc("brc_context_create", st);
    brc_unary_desc d = unary_desc(BRC_UNARY_RELU, BRC_F32, PLAN_NUMEL);
    brc_plan *first = NULL, *p = NULL;
    /* The first creation (compile or disk hit, untimed) puts the kernel in the in-process table. */
    if ((st = brc_unary_plan(ctx, &d, NULL, &first))) {
        brc_context_destroy(ctx);
        return fail_brc("brc_unary_plan", st);
    }
    static double sel_us[RESELECT_ITERS], destroy_us[RESELECT_ITERS];
    brc_jit_stats before, after;
    int rc = 0;
    for (int i = 0; i < RESELECT_WARMUP && rc == 0; i++) {
        if ((st = brc_unary_plan(ctx, &d, NULL, &p))) rc = fail_brc("brc_unary_plan", st);
        brc_plan_destroy(p);
    }
    brc_jit_stats_get(&before);
    for (int i = 0; i < RESELECT_ITERS && rc == 0; i++) {
        int64_t t0 = now_ns();
        st = brc_unary_plan(ctx, &d, NULL, &p);
        int64_t t1 = now_ns();
        brc_plan_destroy(p);
        int64_t t2 = now_ns();
        if (st) rc = fail_brc("brc_unary_plan", st);
        sel_us[i] = (double)(t1 - t0) * 1e-3;
        destroy_us[i] = (double)(t2 - t1) * 1e-3;
    }
    brc_jit_stats_get(&after);
    char sku[160];
    snprintf(sku, sizeof sku, "%s", brc_plan_sku(first));
    brc_plan_destroy(first);
    brc_context_destroy(ctx);
    if (rc) return rc;
    if (after.memory_hits - before.memory_hits != RESELECT_ITERS || after.compiles != before.compiles ||
        after.disk_hits != before.disk_hits) {
        fprintf(stderr, "bench_jit: reselect: expected %d memory hits, got %llu (compiles +%llu, disk +%llu)\n",
                RESELECT_ITERS, (unsigned long long)(after.memory_hits - before.memory_hits),
                (unsigned long long)(after.compiles - before.compiles),
                (unsigned long long)(after.disk_hits - before.disk_hits));
        return 1;
    }
    double med = median(sel_us, RESELECT_ITERS), avg = mean(sel_us, RESELECT_ITERS);
    double dmed = median(destroy_us, RESELECT_ITERS);
    fprintf(stderr, "reselect %s: median %.3f us, mean %.3f us per select (destroy median %.3f us), %d iterations\n",
            sku, med, avg, dmed, RESELECT_ITERS);
    printf("{\"mode\":\"reselect\",\"sku\":");
    json_str(sku);
    printf(",\"iterations\":%d,\"median_us\":%.4f,\"mean_us\":%.4f,\"destroy_median_us\":%.4f}\n",
           RESELECT_ITERS, med, avg, dmed);
    return 0;
}

/* ---- overhead: brc_unary_run vs a bare cuLaunchKernel -------------------------------------------- */

/* The bare kernel has the contiguous elementwise kernel's parameter list (out, x, y, z, n, a, b,
 * aligned), so both loops marshal the same arguments and the difference is the library's
 * host-side work (validation, alignment checks, argument setup). */
static const char bare_snippet[] =
    "extern \"C\" __global__ void bench_empty(float* y, const float* x, const float* x1,\n"
    "    const float* x2, long long n, double a, double b, int aligned) {\n"
    "  (void)x1; (void)x2; (void)a; (void)b; (void)aligned;\n"
    "  long long i = blockIdx.x * 256ll + threadIdx.x;\n"
    "  if (i < n) y[i] = x[i] > 0.f ? x[i] : 0.f;\n"
    "}\n";

/* Reads back y (n floats) and checks it is relu(x). */
static int check_relu(const brc__cu_api *cu, CUdeviceptr y, const float *hx, const char *what) {
    static float hy[OVH_NUMEL];
    CUresult r = cu->cuMemcpyDtoH(hy, y, sizeof hy);
    if (r != CUDA_SUCCESS) return fail_cu("cuMemcpyDtoH", r);
    for (int i = 0; i < OVH_NUMEL; i++) {
        float want = hx[i] > 0.f ? hx[i] : 0.f;
        if (hy[i] != want) {
            fprintf(stderr, "bench_jit: overhead: %s output[%d] = %g, expected %g\n", what, i, (double)hy[i],
                    (double)want);
            return 1;
        }
    }
    return 0;
}

static int run_overhead(void) {
    brc_context *ctx = NULL;
    brc_status st = make_context(&ctx, NULL);
    if (st) return fail_brc("brc_context_create", st);
    const brc__cu_api *cu = brc__cu();
    CUresult r = cu->cuCtxPushCurrent(ctx->cu_ctx);
    if (r != CUDA_SUCCESS) {
        brc_context_destroy(ctx);
        return fail_cu("cuCtxPushCurrent", r);
    }

    int rc = 0;
    brc_plan *plan = NULL;
    CUdeviceptr dx = 0, dy = 0, dy_bare = 0;
    CUstream stream = NULL;
    CUfunction fn = NULL;
    static float hx[OVH_NUMEL];
    static double ours_batch[OVH_BATCHES], bare_batch[OVH_BATCHES];
    int64_t ours_ns = 0, bare_ns = 0;
    char sku[160] = "";

    brc_unary_desc d = unary_desc(BRC_UNARY_RELU, BRC_F32, OVH_NUMEL);
    if ((st = brc_unary_plan(ctx, &d, NULL, &plan))) {
        rc = fail_brc("brc_unary_plan", st);
        goto done;
    }
    snprintf(sku, sizeof sku, "%s", brc_plan_sku(plan));

    static const char *const sources[] = {"prelude.cuh", NULL};
    brc__kernel_req req = {.template_name = "bench_empty", .sources = sources, .nspec = 1, .spec = {1},
                           .snippet = bare_snippet, .name_expr = "bench_empty", .descriptor = "bench_empty"};
    const brc__kernel *k = NULL;
    if ((st = brc__jit_get(ctx, &req, &k)) || (st = brc__jit_function(ctx, k, &fn))) {
        rc = fail_brc("bare kernel", st);
        goto done;
    }

    const size_t bytes = sizeof hx;
    if ((r = cu->cuMemAlloc(&dx, bytes)) || (r = cu->cuMemAlloc(&dy, bytes)) ||
        (r = cu->cuMemAlloc(&dy_bare, bytes))) {
        rc = fail_cu("cuMemAlloc", r);
        goto done;
    }
    for (int i = 0; i < OVH_NUMEL; i++) hx[i] = (float)((i * 37) % 101 - 50) * 0.125f + 0.0625f;
    if ((r = cu->cuMemcpyHtoD(dx, hx, bytes)) || (r = cu->cuMemsetD8(dy, 0xff, bytes)) ||
        (r = cu->cuMemsetD8(dy_bare, 0xff, bytes))) {
        rc = fail_cu("cuMemcpyHtoD/cuMemsetD8", r);
        goto done;
    }
    if ((r = cu->cuStreamCreate(&stream, 0))) {
        rc = fail_cu("cuStreamCreate", r);
        goto done;
    }

    void *x = (void *)(uintptr_t)dx, *y = (void *)(uintptr_t)dy, *yb = (void *)(uintptr_t)dy_bare;
    const void *x1 = x, *x2 = x;
    long long n = OVH_NUMEL;
    double a = 0, b = 0;
    int aligned = 1;
    void *args[8] = {&yb, &x, &x1, &x2, &n, &a, &b, &aligned};
    const unsigned grid = (OVH_NUMEL + 255) / 256;

    /* Batches alternate which loop goes first; each batch starts on an empty queue (synchronized
     * before, outside the timed region) so no launch blocks on a full queue. Batch -1 warms up. */
    for (int bi = -1; bi < OVH_BATCHES && rc == 0; bi++) {
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
            bool ours = (pass == 0) == (bi % 2 == 0);
            if ((r = cu->cuStreamSynchronize(stream))) {
                rc = fail_cu("cuStreamSynchronize", r);
                break;
            }
            int64_t t0 = now_ns();
            if (ours) {
                for (int i = 0; i < OVH_BATCH; i++)
                    if ((st = brc_unary_run(plan, x, y, NULL, (brc_stream)stream))) {
                        rc = fail_brc("brc_unary_run", st);
                        break;
                    }
            } else {
                for (int i = 0; i < OVH_BATCH; i++)
                    if ((r = cu->cuLaunchKernel(fn, grid, 1, 1, 256, 1, 1, 0, stream, args, NULL))) {
                        rc = fail_cu("cuLaunchKernel", r);
                        break;
                    }
            }
            int64_t dt = now_ns() - t0;
            if (bi < 0) continue;
            (ours ? ours_batch : bare_batch)[bi] = (double)dt / OVH_BATCH;
            *(ours ? &ours_ns : &bare_ns) += dt;
        }
    }
    if (rc == 0 && (r = cu->cuStreamSynchronize(stream))) rc = fail_cu("cuStreamSynchronize", r);
    if (rc == 0) rc = check_relu(cu, dy, hx, "brc_unary_run");
    if (rc == 0) rc = check_relu(cu, dy_bare, hx, "bare kernel");

done:
    if (stream) cu->cuStreamDestroy(stream);
    if (dx) cu->cuMemFree(dx);
    if (dy) cu->cuMemFree(dy);
    if (dy_bare) cu->cuMemFree(dy_bare);
    brc_plan_destroy(plan);
    CUcontext popped;
    cu->cuCtxPopCurrent(&popped);
    brc_context_destroy(ctx);
    if (rc) return rc;

    const double calls = (double)OVH_BATCH * OVH_BATCHES;
    double ours_per = (double)ours_ns / calls, bare_per = (double)bare_ns / calls;
    double ours_med = median(ours_batch, OVH_BATCHES), bare_med = median(bare_batch, OVH_BATCHES);
    fprintf(stderr, "overhead %s: brc_unary_run %.1f ns/call, cuLaunchKernel %.1f ns/call, difference %.3f us "
            "(batch medians %.1f / %.1f ns)\n", sku, ours_per, bare_per, (ours_per - bare_per) * 1e-3, ours_med,
            bare_med);
    printf("{\"mode\":\"overhead\",\"sku\":");
    json_str(sku);
    printf(",\"numel\":%d,\"calls\":%d,\"batch\":%d,\"ours_ns_per_call\":%.2f,\"bare_ns_per_call\":%.2f,"
           "\"overhead_us\":%.4f,\"ours_median_batch_ns\":%.2f,\"bare_median_batch_ns\":%.2f}\n",
           OVH_NUMEL, OVH_BATCH * OVH_BATCHES, OVH_BATCH, ours_per, bare_per, (ours_per - bare_per) * 1e-3,
           ours_med, bare_med);
    return 0;
}

/* ---- main ---------------------------------------------------------------------------------------- */

static int usage(void) {
    fprintf(stderr, "usage: bench_jit cold <cache_dir> | disk <cache_dir> | reselect [cache_dir] | "
                    "overhead [cache_dir]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) return usage();
    const char *mode = argv[1];
    bool needs_dir = strcmp(mode, "cold") == 0 || strcmp(mode, "disk") == 0;
    if (needs_dir && argc != 3) return usage();
    /* Before any baracuda call: the cache location is read once per process. */
    if (argc == 3 && (setenv("BARACUDA_CACHE_DIR", argv[2], 1) != 0 ||
                      (needs_dir && unsetenv("BARACUDA_CACHE_DISABLE") != 0))) {
        perror("bench_jit: setenv");
        return 1;
    }
    if (strcmp(mode, "cold") == 0) return run_cold_or_disk(false);
    if (strcmp(mode, "disk") == 0) return run_cold_or_disk(true);
    if (strcmp(mode, "reselect") == 0) return run_reselect();
    if (strcmp(mode, "overhead") == 0) return run_overhead();
    return usage();
}
