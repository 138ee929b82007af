/* The `baracuda` command-line tool: inspect the installation, warm the kernel cache (also for
 * GPUs that are not present) from a manifest, and maintain the cache. Commands, options and exit
 * codes: docs/cli.md. This file: dispatch, info, warm, ops; cli_cache.c: the rest. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "loader/libs.h"

int cli_usage(void) {
    fprintf(stderr,
            "usage: baracuda info [--json]\n"
            "       baracuda warm [--manifest FILE] [--arch sm_80,sm_90a,...] [-j N] [--json]\n"
            "       baracuda ls [--template T] [--arch LIST] [--spec TEXT] [--json]\n"
            "       baracuda stats [--json]\n"
            "       baracuda verify [--repair] [--json]\n"
            "       baracuda prune [--max-size SIZE] [--older-than AGE] [--other-toolchains]\n"
            "       baracuda clear\n"
            "       baracuda export FILE [--arch LIST] [--manifest FILE]\n"
            "       baracuda import FILE\n"
            "       baracuda ops        (the op matrix, as markdown)\n"
            "exit codes: 0 ok, 1 some work failed, 2 bad usage or input, 3 no usable cache\n");
    return CLI_USAGE;
}

double cli_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

int cli_arch_list(const char *list, char out[][16], int cap) {
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        int ma, mi;
        bool acc;
        if (!brc__arch_parse(a, &ma, &mi, &acc) || strlen(a) >= 16) {
            fprintf(stderr, "baracuda: '%s' is not an arch (like sm_80, sm_90a)\n", a);
            return 0;
        }
        bool dup = false;
        for (int i = 0; i < n; i++) dup = dup || strcmp(out[i], a) == 0;
        if (dup) continue;
        if (n == cap) {
            fprintf(stderr, "baracuda: more than %d archs\n", cap);
            return 0;
        }
        snprintf(out[n++], 16, "%s", a);
    }
    if (n == 0) fprintf(stderr, "baracuda: empty arch list\n");
    return n;
}

bool cli_manifest(const char *path, brc__manifest *m) {
    brc_status st = path ? brc__manifest_read(path, m) : brc__manifest_default(m);
    if (st) fprintf(stderr, "baracuda: %s\n", brc_last_error());
    return st == BRC_STATUS_OK;
}

/* ---- info ------------------------------------------------------------------------------------- */

/* The NVIDIA libraries library-backed plans will call, found the way the loader will find
 * them; each reports its own version. */
typedef struct lib_probe {
    const char *label, *soname, *symbol;
    int kind; /* 0: int fn(int *) ; 1: size_t fn(void); 2: cublasGetProperty(type, int *) */
} lib_probe;

static const lib_probe probes[] = {
    {"cublas", "libcublas.so.13", "cublasGetProperty", 2},
    {"cublaslt", "libcublasLt.so.13", "cublasLtGetVersion", 1},
    {"cudnn", "libcudnn.so.9", "cudnnGetVersion", 1},
    {"cufft", "libcufft.so.12", "cufftGetVersion", 0},
    {"cusolver", "libcusolver.so.12", "cusolverGetVersion", 0},
};

/* "12.1.0" or "not found". */
static void probe_version(const lib_probe *p, char *out, size_t n) {
    snprintf(out, n, "not found");
    void *h = dlopen(p->soname, RTLD_LAZY | RTLD_LOCAL);
    if (!h) return;
    void *fn = dlsym(h, p->symbol);
    if (fn && p->kind == 2) {
        int ma = 0, mi = 0, pa = 0;
        int (*get)(int, int *) = (int (*)(int, int *))fn;
        if (get(0, &ma) == 0 && get(1, &mi) == 0 && get(2, &pa) == 0) snprintf(out, n, "%d.%d.%d", ma, mi, pa);
    } else if (fn && p->kind == 1) {
        size_t v = ((size_t(*)(void))fn)();
        /* cuDNN 9: major*10000 + minor*100 + patch; cuBLASLt: major*10000 + minor*100 + patch. */
        snprintf(out, n, "%zu.%zu.%zu", v / 10000, (v / 100) % 100, v % 100);
    } else if (fn) {
        int v = 0;
        if (((int (*)(int *))fn)(&v) == 0) snprintf(out, n, "%d.%d.%d", v / 1000, (v % 1000) / 100, v % 100);
    }
    dlclose(h);
}

static int64_t file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static int cmd_info(int argc, char **argv) {
    bool json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !json)) return cli_usage();
    FILE *o = stdout;
    const char *db = brc__cache_path();
    char wal[4300];
    snprintf(wal, sizeof wal, "%s-wal", db);
    int64_t bytes = db[0] ? file_size(db) + file_size(wal) : 0;
    const brc__nvrtc_api *nv = brc__nvrtc();
    char nvrtc[64], jitlink[64];
    if (nv) snprintf(nvrtc, sizeof nvrtc, "%d.%d", nv->major, nv->minor);
    else snprintf(nvrtc, sizeof nvrtc, "not found");
    const brc__jitlink_api *jl = brc__jitlink();
    if (jl) snprintf(jitlink, sizeof jitlink, "%u.%u", jl->major, jl->minor);
    else snprintf(jitlink, sizeof jitlink, "not found");
    char versions[5][32];
    for (size_t i = 0; i < 5; i++) probe_version(&probes[i], versions[i], sizeof versions[i]);
    brc__error_clear();
    const brc__cu_api *cu = brc__cu();
    int drv = 0, ndev = 0;
    if (cu) {
        cu->cuDriverGetVersion(&drv);
        cu->cuDeviceGetCount(&ndev);
    }
    if (json) {
        fprintf(o, "{\"version\": ");
        cli_json_str(o, brc_version_string());
        fprintf(o, ", \"cache\": ");
        cli_json_str(o, db);
        fprintf(o, ", \"cache_bytes\": %lld, \"toolchain\": ", (long long)bytes);
        cli_json_str(o, brc__toolchain_id());
        fprintf(o, ", \"nvrtc\": \"%s\", \"nvjitlink\": \"%s\"", nvrtc, jitlink);
        for (size_t i = 0; i < 5; i++) fprintf(o, ", \"%s\": \"%s\"", probes[i].label, versions[i]);
        if (cu) fprintf(o, ", \"driver\": \"%d.%d\", \"devices\": [", drv / 1000, (drv % 1000) / 10);
        else fprintf(o, ", \"driver\": null, \"devices\": [");
    } else {
        fprintf(o, "baracuda %s\n", brc_version_string());
        fprintf(o, "cache %s (%lld bytes)\n", db[0] ? db : "(disabled)", (long long)bytes);
        fprintf(o, "toolchain %s\nnvrtc %s\nnvjitlink %s\n", brc__toolchain_id(), nvrtc, jitlink);
        for (size_t i = 0; i < 5; i++) fprintf(o, "%s %s\n", probes[i].label, versions[i]);
        if (cu) fprintf(o, "driver CUDA %d.%d, %d device(s)\n", drv / 1000, (drv % 1000) / 10, ndev);
        else fprintf(o, "driver none (%s)\n", brc_last_error());
    }
    for (int i = 0; i < ndev; i++) {
        CUdevice d;
        char name[128] = "";
        int ma = 0, mi = 0, sms = 0;
        cu->cuDeviceGet(&d, i);
        cu->cuDeviceGetName(name, sizeof name, d);
        cu->cuDeviceGetAttribute(&ma, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
        cu->cuDeviceGetAttribute(&mi, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
        cu->cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d);
        if (json) {
            fprintf(o, "%s{\"index\": %d, \"name\": ", i ? ", " : "", i);
            cli_json_str(o, name);
            fprintf(o, ", \"arch\": \"sm_%d%d\", \"sms\": %d}", ma, mi, sms);
        } else {
            fprintf(o, "device %d %s sm_%d%d %d SMs\n", i, name, ma, mi, sms);
        }
    }
    if (json) fprintf(o, "]}\n");
    return CLI_OK;
}

/* ---- warm ------------------------------------------------------------------------------------------ */

typedef struct warm_job {
    brc_context *ctx;
    const char *arch, *source;
    const brc__manifest *m;
    size_t next; /* shared cursor */
    size_t done, failed;
    pthread_mutex_t mu;
    int tty;
    size_t last_line_pct;
} warm_job;

static void *warm_worker(void *arg) {
    warm_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->m->n) return NULL;
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(j->ctx, j->m->lines[i].text, &p);
        brc_plan_destroy(p);
        pthread_mutex_lock(&j->mu);
        j->done++;
        if (s != BRC_STATUS_OK) {
            j->failed++;
            fprintf(stderr, "%swarm %s: %s:%d: %s\n", j->tty ? "\r\033[K" : "", j->arch, j->source,
                    j->m->lines[i].line, brc_last_error());
        }
        size_t n = j->m->n;
        if (j->tty) {
            int w = 40, filled = (int)((size_t)w * j->done / n);
            fprintf(stderr, "\r%s [%.*s%*s] %zu/%zu", j->arch, filled, "########################################",
                    w - filled, "", j->done, n);
        } else if (j->done * 10 / n > j->last_line_pct || j->done == n) {
            j->last_line_pct = j->done * 10 / n;
            fprintf(stderr, "warm %s: %zu/%zu\n", j->arch, j->done, n);
        }
        pthread_mutex_unlock(&j->mu);
    }
}

/* The distinct archs of the GPUs present, with a device context for each. */
int cli_present_archs(char archs[][16], brc_context **ctxs, int cap) {
    const brc__cu_api *cu = brc__cu();
    int n = 0, ndev = 0;
    if (!cu || cu->cuDeviceGetCount(&ndev) != CUDA_SUCCESS) return 0;
    for (int i = 0; i < ndev && n < cap; i++) {
        brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
        o.device = i;
        brc_context *c = NULL;
        if (brc_context_create(&o, &c) != BRC_STATUS_OK) continue;
        bool dup = false;
        for (int k = 0; k < n; k++) dup = dup || strcmp(archs[k], brc_context_arch(c)) == 0;
        if (dup) {
            brc_context_destroy(c);
            continue;
        }
        snprintf(archs[n], 16, "%s", brc_context_arch(c));
        ctxs[n++] = c;
    }
    return n;
}

static int cmd_warm(int argc, char **argv) {
    const char *arch_list = NULL, *manifest = NULL;
    int jobs = 1;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) arch_list = argv[++i];
        else if (strcmp(argv[i], "--manifest") == 0 && i + 1 < argc) manifest = argv[++i];
        else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) jobs = atoi(argv[++i]);
        else if (strncmp(argv[i], "-j", 2) == 0 && argv[i][2]) jobs = atoi(argv[i] + 2);
        else if (strcmp(argv[i], "--json") == 0) json = true;
        else return cli_usage();
    }
    if (jobs < 1 || jobs > 64) {
        fprintf(stderr, "baracuda: -j takes 1 to 64\n");
        return CLI_USAGE;
    }
    brc__manifest m;
    if (!cli_manifest(manifest, &m)) return CLI_USAGE;
    enum { MAX_ARCHS = 32 };
    char archs[MAX_ARCHS][16];
    brc_context *ctxs[MAX_ARCHS] = {0};
    int narch;
    if (arch_list) {
        narch = cli_arch_list(arch_list, archs, MAX_ARCHS);
        /* A GPU present of a named arch gets a device context: its kernels are also loaded. */
        brc_context *dev[MAX_ARCHS] = {0};
        char devarch[MAX_ARCHS][16];
        int ndev = narch ? cli_present_archs(devarch, dev, MAX_ARCHS) : 0;
        brc__error_clear();
        for (int a = 0; a < narch; a++) {
            for (int k = 0; k < ndev; k++)
                if (dev[k] && strcmp(devarch[k], archs[a]) == 0) ctxs[a] = dev[k], dev[k] = NULL;
            if (ctxs[a]) continue;
            brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
            o.device = -1;
            o.arch = archs[a];
            if (brc_context_create(&o, &ctxs[a]) != BRC_STATUS_OK) {
                fprintf(stderr, "baracuda: %s\n", brc_last_error());
                narch = 0;
            }
        }
        for (int k = 0; k < ndev; k++) brc_context_destroy(dev[k]);
    } else {
        narch = cli_present_archs(archs, ctxs, MAX_ARCHS);
        if (!narch) fprintf(stderr, "baracuda: no GPU present; name the targets with --arch sm_80,sm_90,...\n");
    }
    if (!narch) {
        for (int a = 0; a < MAX_ARCHS; a++) brc_context_destroy(ctxs[a]);
        brc__manifest_free(&m);
        return CLI_USAGE;
    }
    int rc = CLI_OK;
    const char *source = manifest ? manifest : "(default manifest)";
    double t_all = cli_now_ms();
    uint64_t compiled_all = 0, cached_all = 0;
    size_t failed_all = 0;
    if (json) printf("{\"manifest\": "), cli_json_str(stdout, source), printf(", \"plans\": %zu, \"jobs\": %d, \"archs\": [", m.n, jobs);
    for (int a = 0; a < narch; a++) {
        brc_jit_stats s0, s1;
        brc_jit_stats_get(&s0);
        warm_job j = {.ctx = ctxs[a], .arch = archs[a], .source = source, .m = &m, .tty = isatty(2)};
        pthread_mutex_init(&j.mu, NULL);
        double t0 = cli_now_ms();
        pthread_t th[64];
        int started = 0;
        for (int t = 0; t < jobs; t++)
            if (pthread_create(&th[started], NULL, warm_worker, &j) == 0) started++;
        if (!started) warm_worker(&j);
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        pthread_mutex_destroy(&j.mu);
        brc_jit_stats_get(&s1);
        double secs = (cli_now_ms() - t0) / 1e3;
        if (j.tty) fprintf(stderr, "\r\033[K");
        uint64_t compiled = s1.compiles - s0.compiles;
        uint64_t cached = s1.disk_hits + s1.memory_hits - s0.disk_hits - s0.memory_hits;
        compiled_all += compiled;
        cached_all += cached;
        failed_all += j.failed;
        if (json)
            printf("%s{\"arch\": \"%s\", \"compiled\": %llu, \"cached\": %llu, \"failed\": %zu, \"seconds\": %.3f, "
                   "\"compile_ms\": %.1f}",
                   a ? ", " : "", archs[a], (unsigned long long)compiled, (unsigned long long)cached, j.failed, secs,
                   s1.compile_ms - s0.compile_ms);
        else
            printf("warm %s: %zu plans: %llu compiled, %llu already cached, %zu failed; %.2f s (-j %d, %.0f ms "
                   "compiling)\n",
                   archs[a], m.n, (unsigned long long)compiled, (unsigned long long)cached, j.failed, secs, jobs,
                   s1.compile_ms - s0.compile_ms);
        if (j.failed) rc = CLI_FAILED;
        brc_context_destroy(ctxs[a]);
    }
    double total = (cli_now_ms() - t_all) / 1e3;
    if (json)
        printf("], \"compiled\": %llu, \"cached\": %llu, \"failed\": %zu, \"seconds\": %.3f}\n",
               (unsigned long long)compiled_all, (unsigned long long)cached_all, failed_all, total);
    else if (narch > 1)
        printf("warm total: %d archs: %llu compiled, %llu already cached, %zu failed; %.2f s\n", narch,
               (unsigned long long)compiled_all, (unsigned long long)cached_all, failed_all, total);
    brc__manifest_free(&m);
    return rc;
}

/* ---- ops: the op matrix, generated from the kind tables ------------------------------------------ */

static void classes(unsigned c, char *buf, size_t n) {
    snprintf(buf, n, "%s%s%s%s%s%s", c & BRC_CLS_F64 ? "f64 " : "", c & BRC_CLS_F32 ? "f32 " : "",
             c & BRC_CLS_HALF ? "f16 bf16 " : "", c & BRC_CLS_FP8 ? "fp8 " : "",
             c & BRC_CLS_SINT ? "i8 i16 i32 i64 " : "", c & BRC_CLS_UINT ? "u8 u32 " : "");
    if (c & BRC_CLS_BOOL) snprintf(buf + strlen(buf), n - strlen(buf), "bool");
}

static int cmd_ops(int argc, char **argv) {
    (void)argv;
    if (argc) return cli_usage();
    char c[128];
    printf("# Op matrix (generated by `baracuda ops` from the kind tables and the family headers)\n\n");
    printf("Every line is tested on the GPU against a float64 reference (tests/gpu/test_elementwise.c) and\n"
           "compiled for sm_80 and sm_90 in CI (tests/host/test_compile_all.c). Elementwise backward\n"
           "passes are not implemented yet. JAX: `lax.select_n` with two cases and `jnp.where` map to `where`.\n\n");
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
    printf("\n## Row-wise, along the last axis (`rows.h`; descriptors and kernel choice in docs/rows.md)\n\n"
           "Tested on the GPU against float64 references (tests/gpu/test_rows.c), backward against the\n"
           "analytic gradient; compiled for sm_80 and sm_90 in CI (tests/host/test_rows_host.c).\n\n"
           "| op | plan functions | dtypes | options |\n|---|---|---|---|\n"
           "| softmax | `brc_softmax_plan`, `brc_softmax_backward_plan` | f64 f32 f16 bf16 | row stride |\n"
           "| log_softmax | `brc_softmax_plan`, `brc_softmax_backward_plan` | f64 f32 f16 bf16 | row stride |\n"
           "| rms_norm | `brc_norm_plan`, `brc_norm_backward_plan` | f64 f32 f16 bf16 | weight; fused residual add "
           "(forward); deterministic dweight |\n"
           "| layer_norm | `brc_norm_plan`, `brc_norm_backward_plan` | f64 f32 f16 bf16 | weight, bias; fused residual "
           "add (forward); deterministic dweight, dbias |\n");
    printf("\n## Channel norms, NCHW (`channel_norm.h`; descriptors and kernel choice in docs/channel_norm.md)\n\n"
           "Tested on the GPU against float64 references (tests/gpu/test_channel_norm.c), backward against the\n"
           "analytic gradient; compiled for sm_80 and sm_90 in CI (tests/host/test_channel_norm_host.c).\n\n"
           "| op | plan functions | dtypes | options |\n|---|---|---|---|\n"
           "| group_norm | `brc_group_norm_plan`, `brc_group_norm_backward_plan` | f64 f32 f16 bf16 | groups (G = C: "
           "instance_norm); weight, bias; rank 2..8; deterministic dweight, dbias |\n"
           "| batch_norm | `brc_batch_norm_plan`, `brc_batch_norm_backward_plan` | f64 f32 f16 bf16 | train (running "
           "stats updated, unbiased var) or eval; weight, bias; rank 2..8; deterministic dweight, dbias |\n");
    printf("\n## Losses (`loss.h`; descriptors and kernel choice in docs/loss.md)\n\n"
           "Forward and backward (dinput), reductions none / mean / sum (kl_div: batchmean too) through\n"
           "deterministic per-CTA partials. Tested on the GPU against float64 references (tests/gpu/test_loss.c),\n"
           "backward against the analytic gradient; compiled for sm_80 and sm_90 in CI\n"
           "(tests/host/test_loss_host.c).\n\n"
           "| op | plan functions | dtypes | options |\n|---|---|---|---|\n"
           "| cross_entropy | `brc_cross_entropy_plan`, `brc_cross_entropy_backward_plan` | f64 f32 f16 bf16 | "
           "index (i32, i64) or probability targets; class weights; ignore_index; label smoothing; saved lse; "
           "row stride |\n"
           "| nll_loss | `brc_cross_entropy_plan`, `brc_cross_entropy_backward_plan` (kind nll) | f64 f32 f16 bf16 | "
           "index targets; class weights; ignore_index; row stride |\n"
           "| mse_loss, l1_loss | `brc_pointwise_loss_plan`, `brc_pointwise_loss_backward_plan` | f64 f32 f16 bf16 | "
           "contiguous |\n"
           "| smooth_l1_loss, huber_loss | `brc_pointwise_loss_plan`, `brc_pointwise_loss_backward_plan` | "
           "f64 f32 f16 bf16 | beta / delta |\n"
           "| bce_loss (binary_cross_entropy) | `brc_pointwise_loss_plan`, `brc_pointwise_loss_backward_plan` | "
           "f64 f32 f16 bf16 | weight; logs clamped at -100 |\n"
           "| bce_with_logits_loss | `brc_pointwise_loss_plan`, `brc_pointwise_loss_backward_plan` | "
           "f64 f32 f16 bf16 | weight; pos_weight over the last dim |\n"
           "| kl_div | `brc_pointwise_loss_plan`, `brc_pointwise_loss_backward_plan` | f64 f32 f16 bf16 | "
           "log_target; batchmean |\n");
    printf("\n## Reductions over any axes (`reduce.h`; descriptors and kernel choice in docs/reduce.md)\n\n"
           "`brc_reduce_plan` (any set of axes of a strided tensor of rank 0-8, keepdim or not), `brc_reduce_to_shape_plan`\n"
           "(sum down to a broadcast shape), `brc_reduce_backward_plan`. Tested on the GPU against float64 references\n"
           "(tests/gpu/test_reduce.c), backward against the analytic gradient; compiled for sm_80 and sm_90 in CI\n"
           "(tests/host/test_reduce_host.c). Deterministic (no atomics).\n\n"
           "| kind | x dtypes | y | backward |\n|---|---|---|---|\n");
    static const char *const rnotes[][3] = {
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32", "x's dtype (integers: or i64)", "dy"},
        {"f64 f32 f16 bf16", "x's dtype", "dy / n"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32", "x's dtype (integers: or i64)", "product of the others (zeros handled)"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32", "x's dtype; optional i64 index", "to the saved index"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32", "x's dtype; optional i64 index", "to the saved index"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32", "i64 or i32 (first index)", "none"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32", "i64 or i32 (first index)", "none"},
        {"f64 f32 f16 bf16", "x's dtype; correction", "2 (x - mean) / (n - correction); rows in one pass"},
        {"f64 f32 f16 bf16", "x's dtype; correction", "(x - mean) / ((n - correction) y); rows in one pass"},
        {"f64 f32 f16 bf16", "x's dtype; p = 1, 2, inf, -inf, 0, > 0", "p finite > 0"},
        {"f64 f32 f16 bf16", "x's dtype", "exp(x - y)"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32 bool", "bool", "none"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32 bool", "bool", "none"},
        {"f64 f32 f16 bf16 i8 i16 i32 i64 u8 u32 bool", "i64 or i32", "none"},
    };
    int rk = 0;
#define X(N, num, name) printf("| %s | %s | %s | %s |\n", #name, rnotes[rk][0], rnotes[rk][1], rnotes[rk][2]), rk++;
    BRC_REDUCE_KINDS(X)
#undef X
    printf("\n## Scans along any axis (`scan.h`; descriptors and kernel choice in docs/scan.md)\n\n"
           "Any rank 1..8, any dim (negative allowed) and strides, from the start or the end (`reverse`).\n"
           "Tested on the GPU against float64 references (tests/gpu/test_scan.c), backward against the\n"
           "analytic gradient; compiled for sm_80 and sm_90 in CI (tests/host/test_scan_host.c).\n\n"
           "| op | plan functions | dtypes | backward reads | notes |\n|---|---|---|---|---|\n");
    static const char *const scan_notes[][2] = {
        {"dy", "-"},
        {"x, y, dy", "backward exact with zeros in x (no division)"},
        {"index, dy", "i64 index; ties: the later position in scan order; NaN propagates"},
        {"index, dy", "i64 index; ties: the later position in scan order; NaN propagates"},
        {"x, y, dy", "no overflow for any magnitude"},
    };
#define X(N, n, num)                                                                                       \
    printf("| %s | `brc_scan_plan`, `brc_scan_backward_plan` | f64 f32 f16 bf16 | %s | %s |\n", #n,       \
           scan_notes[num][0], scan_notes[num][1]);
    BRC_SCAN_KINDS(X)
#undef X
    printf("\n## GEMM (`gemm.h`; descriptors, selection and figures in docs/gemm.md)\n\n"
           "D = act(alpha op(A) op(B) + beta C + bias), op in {N, T}, either storage order per operand, any\n"
           "leading dimension, strided batch (stride 0 broadcasts). Tested on the GPU against float64\n"
           "references (tests/gpu/test_gemm.c); validation and descriptors in CI (tests/host/test_gemm_host.c).\n\n"
           "| A, B | D | path | epilogues | notes |\n|---|---|---|---|---|\n"
           "| f32 | f32 | cuBLASLt | bias, relu, gelu, gelu_tanh, aux | IEEE unless prefs.allow_tf32 |\n"
           "| f64 | f64 | cuBLASLt | bias, relu, gelu, gelu_tanh, aux | |\n"
           "| f16, bf16 | same or f32 | cuBLASLt | bias, relu, gelu, gelu_tanh, aux | f32 accumulation |\n"
           "| fp8e4m3 / fp8e5m2 | f32 f16 bf16 fp8 | cuBLASLt | bias, relu, gelu_tanh | sm_89+, K-contiguous A and "
           "B, per-tensor scales |\n"
           "| i8 | i32 | cuBLASLt | - | integer alpha, beta |\n"
           "| f32, f16, bf16 | same | bespoke GEMV | bias (also f32), relu, gelu, gelu_tanh, C | M <= 8 (f16 / "
           "bf16: 16), F.linear layout; default there |\n");
    printf("\n## Data movement (`movement.h`; descriptors and kernel choice in docs/movement.md)\n\n"
           "Any rank 0..8 and strides (negative and broadcast inputs included). Pure movement moves bits: every\n"
           "dtype, exact. Tested on the GPU bit for bit against host references (tests/gpu/test_movement.c);\n"
           "compiled for sm_80 and sm_90 in CI (tests/host/test_movement_host.c).\n\n"
           "| op | plan function | dtypes | backward |\n|---|---|---|---|\n"
           "| copy / contiguize | `brc_copy_plan` | all | a copy |\n"
           "| transpose / permute | `brc_permute_plan` | all | permute by the inverse |\n"
           "| flip | `brc_flip_plan` | all | flip |\n"
           "| roll | `brc_roll_plan` (1..4 dims) | all | roll by -shifts |\n"
           "| repeat / tile | `brc_repeat_plan` | all | reduce_to_shape over the repeats |\n"
           "| concat (cat) | `brc_concat_plan` (1..1024 tensors, 16 a launch) | all | split |\n"
           "| split | `brc_split_plan` | all | concat |\n"
           "| slice (narrow, step) | `brc_slice_plan` (start static or read on the device) | all | fill 0 + "
           "write_slice |\n"
           "| write_slice (slice_scatter, KV-cache append) | `brc_write_slice_plan` (start static or read on the "
           "device) | all | slice |\n"
           "| pad | `brc_pad_plan`, `brc_pad_backward_plan` (constant, reflect, replicate, circular) | all (backward: "
           "f64 f32 f16 bf16) | deterministic gather-sum |\n");
    printf("\n### Generators and triangles (`brc_fill_plan`)\n\n| kind | dtypes | notes |\n|---|---|---|\n");
    static const char *const fill_notes[][2] = {
        {"all", "value converted by the cast rules"},
        {"all but bool", "f64 unfused (integers: i64, exact); rank 1"},
        {"all but bool", "PyTorch's symmetric form, in f64; rank 1"},
        {"all", "batched over leading dims; diagonal offset k"},
        {"all", "in place allowed; backward: triu of dy"},
        {"all", "in place allowed; backward: tril of dy"},
    };
#define X(N, n, num) printf("| %s | %s | %s |\n", #n, fill_notes[num][0], fill_notes[num][1]);
    BRC_FILL_KINDS(X)
#undef X
    printf("\n## Random, counter-based (`random.h`; counters, descriptors and kernel choice in docs/random.md)\n\n"
           "Philox4x32-10; every value a function of (seed, offset, logical index) alone: the same bits for any\n"
           "strides and launch shape. Seed and offset by value or read from device memory (graph replay). Tested\n"
           "on the GPU bit for bit against a host model (normal: within its f32 / f64 math), with moments and\n"
           "Kolmogorov-Smirnov tests (tests/gpu/test_random.c); compiled for sm_80 and sm_90 in CI\n"
           "(tests/host/test_random_host.c).\n\n"
           "| op | plan function | dtypes | counters a run (n elements) | notes |\n|---|---|---|---|---|\n");
    static const char *const rnd_notes[][3] = {
        {"f64 f32 f16 bf16", "ceil(n / 4) (f64: n / 2)", "[lo, hi): a value rounding to hi is lo"},
        {"f64 f32 f16 bf16", "ceil(n / 4) (f64: n / 2)", "Box-Muller; mean + std z unfused"},
        {"y: f64 f32 f16 bf16 u8 bool i32 i64; p: scalar or f64 f32 f16 bf16 tensor", "ceil(n / 4)", "u < p"},
        {"f64 f32 f16 bf16; mask u8 / bool", "ceil(n / 4)", "y = mask ? x / (1 - p) : 0; writes the mask"},
        {"f64 f32 f16 bf16; mask u8 / bool", "0", "dx = mask ? dy / (1 - p) : 0"},
        {"p: f64 f32 f16 bf16 [C] or [R, C]; y: i64 i32", "ceil(R ns / 4); without replacement ceil(R C / 4)",
         "torch.multinomial; with replacement: row scan + binary search; without (ns <= 1024): exponential race"},
    };
#define X(N, n, num)                                                                                       \
    printf("| %s | `brc_random_plan` | %s | %s | %s |\n", #n, rnd_notes[num][0], rnd_notes[num][1],       \
           rnd_notes[num][2]);
    BRC_RANDOM_KINDS(X)
#undef X
    printf("\n## Indexing (`indexing.h`; descriptors and kernel choice in docs/indexing.md)\n\n"
           "i32 and i64 indices, any strides. Out-of-range indices never touch memory (gather-like ops write 0,\n"
           "scatter-like ops drop the element) and set an optional device error flag. Plans whose result depends\n"
           "on the order of colliding or atomic writes are flagged (`brc_index_plan_deterministic`, SKU `+atomic`).\n"
           "Tested on the GPU against host references (tests/gpu/test_indexing.c); compiled for sm_80 and sm_90\n"
           "in CI (tests/host/test_indexing_host.c). JAX: `jnp.take_along_axis` is gather; `jnp.take` along an axis\n"
           "is index_select; `lax.scatter_add` with one scatter dim is scatter(sum).\n\n"
           "| op | plan function | dtypes | deterministic | notes |\n|---|---|---|---|---|\n");
    static const char *const ix_notes[][3] = {
        {"all", "yes", "torch.gather"},
        {"all", "yes", "torch.index_select"},
        {"all", "yes", "F.embedding; rows of 16-byte vectors"},
        {"none: all; sum prod amax amin: f64 f32 f16 bf16 i32 i64; mean: f64 f32 f16 bf16", "none: no (collisions); "
         "sum / prod / mean: floats no, integers yes; amax / amin: yes", "scatter_, scatter_add_, scatter_reduce_ "
         "(include_self True or False); NaN propagates"},
        {"f64 f32 f16 bf16 i32 i64", "floats no (atomics), integers yes", "index_add_ with alpha"},
        {"f64 f32 f16 bf16", "yes (default; positions summed in ascending order), or atomic", "padding_idx"},
        {"all", "yes", "mask u8 / bool, broadcast by stride 0; in place"},
        {"all but fp8", "yes", "F.one_hot with num_classes given"},
        {"store: all; accumulate: f64 f32 f16 bf16 i32 i64", "store: no (collisions); accumulate: floats no, integers "
         "yes", "index_put_ with up to 4 index tensors on the leading dims (broadcast by stride 0)"},
        {"all; mask u8 / bool", "yes", "torch.masked_select; y sized for the worst case, the count to a device int64 "
         "(no sync); two-pass tile compaction"},
        {"all in; i32 / i64 out", "yes", "torch.nonzero ([n, rank], row-major order); count to a device int64"},
        {"f64 f32 f16 bf16", "yes", "F.embedding_bag: sum / mean / max, 2-D or 1-D + offsets (include_last_offset), "
         "per_sample_weights, padding_idx; max writes the argmax"},
        {"f64 f32 f16 bf16", "sum / mean: yes (owner rows); max: no (atomics)", "embedding_bag's backward"},
    };
#define X(N, n, num)                                                                                       \
    printf("| %s | `brc_index_plan` | %s | %s | %s |\n", #n, ix_notes[num][0], ix_notes[num][1], ix_notes[num][2]);
    BRC_INDEX_KINDS(X)
#undef X
    printf("\n## Select (`select.h`; algorithm, split rows and descriptors in docs/select.md)\n\n"
           "Radix select on the device (8 bits a pass), a CTA a row or few long rows split over CTAs through a\n"
           "workspace; any dim and strides, rank 0..8, i64 or i32 indices. NaN is larger than everything; among equal\n"
           "values the lowest positions come first (deterministic). Tested on the GPU against an exact host model\n"
           "(tests/gpu/test_select.c); compiled for sm_80 and sm_90a in CI (tests/host/test_select_host.c).\n\n"
           "| op | plan function | dtypes | notes |\n|---|---|---|---|\n");
    static const char *const sel_notes[] = {
        "torch.topk (largest / smallest; sorted: k <= 4096; unsorted: ascending position order)",
        "torch.kthvalue (with or without dim)",
        "torch.median(dim): the lower median; a row with a NaN gives its first NaN",
    };
#define X(N, n, num)                                                                                       \
    printf("| %s | `brc_select_plan` | f64 f32 f16 bf16 i64 i32 i16 i8 u8 | %s |\n", #n, sel_notes[num]);
    BRC_SELECT_KINDS(X)
#undef X
    printf("\n## Search and count (`search.h`; algorithms and descriptors in docs/search.md)\n\n"
           "Any strides. Tested on the GPU against exact host models (tests/gpu/test_search.c); compiled for sm_80 and\n"
           "sm_90a in CI (tests/host/test_search_host.c). Counts are deterministic; float weights accumulate with\n"
           "atomics (`brc_search_plan_deterministic`, SKU `+atomic`).\n\n"
           "| op | plan function | dtypes | notes |\n|---|---|---|---|\n");
    static const char *const srch_notes[][2] = {
        {"f64 f32 f16 bf16 i8 u8 i16 i32 i64; y i64 / i32", "torch.searchsorted (right, sorter, 1-D or N-D sequence); "
         "staged through shared-memory splitters for a shared sequence"},
        {"f64 f32 f16 bf16 i8 u8 i16 i32 i64; y i64 / i32", "torch.bucketize (right)"},
        {"f64 f32 f16 bf16", "torch.histc; min == max: the data's range found on the device"},
        {"f64 f32 f16 bf16 (weight: the same)", "torch.histogram with bin edges; optional weight"},
        {"x i8 u8 i16 i32 i64; weight f64 f32 f16 bf16 i32 i64", "torch.bincount; the caller gives the length; values "
         "outside set the err flag"},
    };
#define X(N, n, num) printf("| %s | `brc_search_plan` | %s | %s |\n", #n, srch_notes[num][0], srch_notes[num][1]);
    BRC_SEARCH_KINDS(X)
#undef X
    printf("\n## Attention (`attention.h`; paths, tiles, descriptors and the saved-tensor contract in "
           "docs/attention.md)\n\n"
           "Flash attention on tensor cores (mma.sync, sm_80 and newer; the forward on sm_90 by wgmma / TMA), f16 and\n"
           "bf16, and f32 on a slow exact path (no tensor cores, deterministic backward); head dims 32 64 96 128 192 256;\n"
           "BSHD or BHSD strides; GQA / MQA; causal (bottom-right), sliding window, softcap, ALiBi, additive or bool\n"
           "mask, Philox dropout, varlen. Tested on the GPU against a float64 reference (tests/gpu/test_attention.c);\n"
           "compiled for sm_80 and sm_90a in CI (tests/host/test_attention_host.c).\n\n"
           "| op | plan function | notes |\n|---|---|---|\n"
           "| scaled dot-product attention, forward | `brc_attention_plan` (kind FORWARD) | writes O and the "
           "log-sum-exp; short queries (decode) pack the query heads of a KV head and split the KV length |\n"
           "| scaled dot-product attention, backward | `brc_attention_plan` (kind BACKWARD) | dq, dk, dv from o, dout "
           "and lse; atomic dq adds by default (FlashAttention-2's scheme), deterministic = 1 for bitwise "
           "reproducible results |\n");
    printf("\n## Sort (`sort.h`; algorithms, descriptors and figures in docs/sort.md)\n\n"
           "Stable, any dim of a rank 0-8 tensor with any strides; floats order as PyTorch (NaN last ascending,\n"
           "first descending; -0.0 equals +0.0; output values are the input's bits). Deterministic (no atomics).\n"
           "Tested on the GPU bit-exact against a stable CPU sort (tests/gpu/test_sort.c); compiled for sm_80 and\n"
           "sm_90 in CI (tests/host/test_sort_host.c).\n\n"
           "| op | plan function | dtypes | notes |\n|---|---|---|---|\n");
    static const char *const sort_notes[] = {
        "torch.sort(stable=True) / torch.argsort(stable=True): values and / or i64 or i32 indices; "
        "bitonic rows up to 4096 keys (2048 for 8-byte keys), LSB radix sort beyond",
        "torch.unique(sorted=True, return_inverse, return_counts) over the flattened input; outputs sized "
        "for the worst case, the count written to a device int64; each NaN its own group",
        "torch.unique_consecutive (flattened; inverse, counts); count on the device",
        "torch.randperm(n): Philox keys (seed / offset by value or from device memory) radix-sorted with "
        "their positions, ties shuffled; bit-reproducible from (seed, offset, n)",
    };
#define X(N, n, num)                                                                                       \
    printf("| %s | `brc_sort_plan`, `%s` | %s | %s |\n", #n,                                                  \
           num == 3 ? "brc_randperm_run" : num ? "brc_unique_run" : "brc_sort_run",                         \
           num == 3 ? "i64 i32 (output)" : "f64 f32 f16 bf16 i8 u8 i16 i32 i64 u32 bool", sort_notes[num]);
    BRC_SORT_KINDS(X)
#undef X
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return cli_usage();
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"info", cmd_info},   {"warm", cmd_warm},     {"ops", cmd_ops},       {"ls", cmd_ls},
        {"stats", cmd_stats}, {"verify", cmd_verify}, {"prune", cmd_prune},   {"clear", cmd_clear},
        {"export", cmd_export}, {"import", cmd_import},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) return cmds[i].fn(argc - 2, argv + 2);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        cli_usage();
        return CLI_OK;
    }
    return cli_usage();
}
