/* The `baracuda` command-line tool: inspect the installation and the kernel cache, and warm
 * the cache for GPUs that may not be present. Exit codes: 0 success, 1 some work failed,
 * 2 bad usage. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "loader/libs.h"

static int usage(void) {
    fprintf(stderr,
            "usage: baracuda info\n"
            "       baracuda warm [--arch sm_80,sm_90,...] [-j N]\n"
            "       baracuda ls [--arch ARCH]\n"
            "       baracuda stats [--json]\n"
            "       baracuda ops        (the op matrix, as markdown)\n");
    return 2;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- info ------------------------------------------------------------------------------------- */

static int cmd_info(void) {
    printf("baracuda %s\n", brc_version_string());
    printf("cache %s\n", brc_cache_dir()[0] ? brc_cache_dir() : "(disabled)");
    printf("toolchain %s\n", brc__toolchain_id());
    const brc__nvrtc_api *nv = brc__nvrtc();
    if (nv) printf("nvrtc %d.%d\n", nv->major, nv->minor);
    else printf("nvrtc not found: %s\n", brc_last_error());
    const brc__jitlink_api *jl = brc__jitlink();
    if (jl) printf("nvjitlink %u.%u\n", jl->major, jl->minor);
    const brc__cu_api *cu = brc__cu();
    if (!cu) {
        printf("driver none (%s)\n", brc_last_error());
        return 0;
    }
    int v = 0, n = 0;
    cu->cuDriverGetVersion(&v);
    cu->cuDeviceGetCount(&n);
    printf("driver CUDA %d.%d, %d device(s)\n", v / 1000, (v % 1000) / 10, n);
    for (int i = 0; i < n; i++) {
        CUdevice d;
        char name[128] = "";
        int ma = 0, mi = 0, sms = 0;
        cu->cuDeviceGet(&d, i);
        cu->cuDeviceGetName(name, sizeof name, d);
        cu->cuDeviceGetAttribute(&ma, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
        cu->cuDeviceGetAttribute(&mi, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
        cu->cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d);
        printf("device %d %s sm_%d%d %d SMs\n", i, name, ma, mi, sms);
    }
    return 0;
}

/* ---- warm: the built-in default manifest -------------------------------------------------------- */

typedef struct warm_item {
    int family, kind;
    brc_dtype a, y;
} warm_item;

static const brc_dtype warm_floats[] = {BRC_F32, BRC_F16, BRC_BF16};

static size_t default_manifest(warm_item *out, size_t cap) {
    size_t n = 0;
    for (size_t t = 0; t < 3; t++) {
        brc_dtype dt = warm_floats[t];
        for (int k = 0; k < BRC_UNARY_COUNT_ && n < cap; k++) out[n++] = (warm_item){0, k, dt, dt};
        for (int k = 0; k < BRC_BINARY_COUNT_ && n < cap; k++) out[n++] = (warm_item){1, k, dt, dt};
    }
    static const brc_dtype casts[] = {BRC_F32, BRC_F16, BRC_BF16, BRC_FP8E4M3, BRC_FP8E5M2};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5 && n < cap; j++)
            if (i != j) out[n++] = (warm_item){3, -1, casts[i], casts[j]};
    return n;
}

typedef struct warm_job {
    brc_context *ctx;
    const warm_item *items;
    size_t n;
    size_t next; /* shared cursor */
    size_t done, ok, failed, skipped;
    pthread_mutex_t mu;
    int tty;
} warm_job;

static brc_status warm_one(brc_context *ctx, const warm_item *it) {
    int64_t n = 4096;
    brc_tensor_desc a;
    brc_tensor_desc_contiguous(&a, it->a, 1, &n);
    brc_tensor_desc y = a;
    y.dtype = it->y;
    brc_plan *p = NULL;
    brc_status s;
    if (it->family == 0) {
        brc_unary_desc d = {(brc_unary_kind)it->kind, a, y, 1, 0};
        s = brc_unary_plan(ctx, &d, NULL, &p);
    } else if (it->family == 1) {
        brc_binary_desc d = {(brc_binary_kind)it->kind, a, a, y};
        s = brc_binary_plan(ctx, &d, NULL, &p);
        if (s == BRC_STATUS_UNSUPPORTED) { /* comparisons return bool */
            d.y.dtype = BRC_BOOL;
            s = brc_binary_plan(ctx, &d, NULL, &p);
        }
    } else {
        brc_cast_desc d = {a, y};
        s = brc_cast_plan(ctx, &d, NULL, &p);
    }
    brc_plan_destroy(p);
    return s;
}

static void *warm_worker(void *arg) {
    warm_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n) return NULL;
        brc_status s = warm_one(j->ctx, &j->items[i]);
        pthread_mutex_lock(&j->mu);
        j->done++;
        if (s == BRC_STATUS_OK) j->ok++;
        else if (s == BRC_STATUS_UNSUPPORTED) j->skipped++; /* kind/dtype pair outside the tables */
        else {
            j->failed++;
            fprintf(stderr, "\nwarm: %s\n", brc_last_error());
        }
        if (j->tty) {
            int w = 40, filled = (int)(w * j->done / j->n);
            fprintf(stderr, "\r[%.*s%*s] %zu/%zu", filled, "########################################", w - filled,
                    "", j->done, j->n);
        }
        pthread_mutex_unlock(&j->mu);
    }
}

static int cmd_warm(int argc, char **argv) {
    const char *archs = NULL;
    int jobs = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) archs = argv[++i];
        else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) jobs = atoi(argv[++i]);
        else return usage();
    }
    if (jobs < 1 || jobs > 64) return usage();
    static warm_item items[1024];
    size_t n = default_manifest(items, 1024);
    char list[256];
    brc_context *dev = NULL;
    if (!archs) { /* the GPUs present */
        brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
        if (brc_context_create(&o, &dev) != BRC_STATUS_OK) {
            fprintf(stderr, "warm: no GPU present (%s); name targets with --arch\n", brc_last_error());
            return 1;
        }
        snprintf(list, sizeof list, "%s", brc_context_arch(dev));
    } else {
        snprintf(list, sizeof list, "%s", archs);
    }
    int rc = 0;
    for (char *save = NULL, *arch = strtok_r(list, ",", &save); arch; arch = strtok_r(NULL, ",", &save)) {
        brc_context *ctx = dev;
        if (!ctx || strcmp(arch, brc_context_arch(dev)) != 0) {
            brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
            o.device = -1;
            o.arch = arch;
            if (brc_context_create(&o, &ctx) != BRC_STATUS_OK) {
                fprintf(stderr, "warm: %s\n", brc_last_error());
                return 2;
            }
        }
        brc_jit_stats s0, s1;
        brc_jit_stats_get(&s0);
        warm_job j = {.ctx = ctx, .items = items, .n = n, .tty = isatty(2)};
        pthread_mutex_init(&j.mu, NULL);
        double t0 = now_ms();
        pthread_t th[64];
        for (int t = 0; t < jobs; t++) pthread_create(&th[t], NULL, warm_worker, &j);
        for (int t = 0; t < jobs; t++) pthread_join(th[t], NULL);
        brc_jit_stats_get(&s1);
        if (j.tty) fprintf(stderr, "\n");
        printf("warm %s: %zu plans: %llu compiled, %llu already cached, %zu failed, %zu not applicable; %.1f s "
               "(-j %d)\n",
               arch, n, (unsigned long long)(s1.compiles - s0.compiles),
               (unsigned long long)(s1.disk_hits + s1.memory_hits - s0.disk_hits - s0.memory_hits), j.failed,
               j.skipped, (now_ms() - t0) / 1e3, jobs);
        if (j.failed) rc = 1;
        if (ctx != dev) brc_context_destroy(ctx);
    }
    brc_context_destroy(dev);
    return rc;
}

/* ---- ops: the op matrix, generated from the kind tables ------------------------------------------ */

static void classes(unsigned c, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s%s%s%s", c & BRC_CLS_F64 ? "f64 " : "", c & BRC_CLS_F32 ? "f32 " : "",
             c & BRC_CLS_HALF ? "f16 bf16 " : "", c & BRC_CLS_FP8 ? "fp8 " : "",
             c & BRC_CLS_SINT ? "i8 i16 i32 i64 " : "", c & BRC_CLS_UINT ? "u8 u32 " : "");
    if (c & BRC_CLS_BOOL) snprintf(buf + strlen(buf), n - strlen(buf), "bool");
}

static int cmd_ops(void) {
    char c[128];
    printf("# Op matrix (generated by `baracuda ops` from include/baracuda/elementwise.h)\n\n");
    printf("Every line is tested on the GPU against a float64 reference (tests/gpu/test_elementwise.c) and\n"
           "compiled for sm_80 and sm_90 in CI (tests/host/test_compile_all.c). Backward passes are not\n"
           "implemented yet. JAX: `lax.select_n` with two cases and `jnp.where` map to `where`.\n\n");
    printf("## Unary (`brc_unary_plan`)\n\n| kind | dtypes | device expression |\n|---|---|---|\n");
#define X(N, n, num, cls, dom, a, b, dev, ref) classes(cls, c, sizeof c); printf("| %s | %s | `%s` |\n", #n, c, dev);
    BRC_UNARY_KINDS(X)
#undef X
    printf("\n## Binary (`brc_binary_plan`)\n\n| kind | dtypes | output | device expression |\n|---|---|---|---|\n");
#define X(N, n, num, cls, cmp, dom, dev, ref) classes(cls, c, sizeof c); printf("| %s | %s | %s | `%s` |\n", #n, c, cmp ? "bool" : "same", dev);
    BRC_BINARY_KINDS(X)
#undef X
    printf("\n## Ternary (`brc_ternary_plan`)\n\n| kind | dtypes | device expression |\n|---|---|---|\n");
#define X(N, n, num, cls, a, dev, ref) classes(cls, c, sizeof c); printf("| %s | %s | `%s` |\n", #n, c, dev);
    BRC_TERNARY_KINDS(X)
#undef X
    printf("\n## Cast (`brc_cast_plan`)\n\nEvery pair of the 13 dtypes (f32 f64 f16 bf16 fp8e4m3 fp8e5m2 i8 u8 i16 i32 i64 u32\n"
           "bool), rules in elementwise.h.\n");
    return 0;
}

/* ---- ls / stats ------------------------------------------------------------------------------------ */

static sqlite3 *open_cache(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/kernels.db", brc_cache_dir());
    sqlite3 *db = NULL;
    if (!brc_cache_dir()[0] || sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "baracuda: no cache at %s\n", path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int cmd_ls(int argc, char **argv) {
    const char *arch = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) arch = argv[++i];
        else return usage();
    }
    sqlite3 *db = open_cache();
    if (!db) return 1;
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "SELECT arch, descriptor, size, regs, compile_ms, hits FROM kernels "
                           "WHERE ?1 IS NULL OR arch = ?1 ORDER BY arch, descriptor", -1, &s, NULL);
    if (arch) sqlite3_bind_text(s, 1, arch, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW)
        printf("%-8s %-60s %8d B %4d regs %7.1f ms %d hits\n", sqlite3_column_text(s, 0), sqlite3_column_text(s, 1),
               sqlite3_column_int(s, 2), sqlite3_column_int(s, 3), sqlite3_column_double(s, 4), sqlite3_column_int(s, 5));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return 0;
}

static int cmd_stats(int argc, char **argv) {
    int json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !json)) return usage();
    sqlite3 *db = open_cache();
    if (!db) return 1;
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(size), 0), coalesce(avg(size), 0), "
                           "coalesce(avg(compile_ms), 0) FROM kernels", -1, &s, NULL);
    if (sqlite3_step(s) == SQLITE_ROW) {
        if (json)
            printf("{\"path\": \"%s\", \"entries\": %d, \"bytes\": %lld, \"mean_bytes\": %.0f, \"mean_compile_ms\": %.1f}\n",
                   brc_cache_dir(), sqlite3_column_int(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_double(s, 2),
                   sqlite3_column_double(s, 3));
        else
            printf("cache %s\nentries %d\nbinary bytes %lld (mean %.0f per kernel)\nmean compile %.1f ms\n",
                   brc_cache_dir(), sqlite3_column_int(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_double(s, 2),
                   sqlite3_column_double(s, 3));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    if (strcmp(argv[1], "info") == 0) return cmd_info();
    if (strcmp(argv[1], "warm") == 0) return cmd_warm(argc - 2, argv + 2);
    if (strcmp(argv[1], "ops") == 0) return cmd_ops();
    if (strcmp(argv[1], "ls") == 0) return cmd_ls(argc - 2, argv + 2);
    if (strcmp(argv[1], "stats") == 0) return cmd_stats(argc - 2, argv + 2);
    return usage();
}
