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
/* overhead: elements per launch, launches per timed batch, batches per loop. */
#define OVH_NUMEL 1024
#define OVH_BATCH 1000
#define OVH_BATCHES 100

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

