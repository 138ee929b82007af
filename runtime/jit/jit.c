/* The JIT: specialization source -> NVRTC -> cubin for the exact target -> nvJitLink -> loaded
 * module, behind an in-process table (single flight per kernel) and the disk cache. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../loader/libs.h"

/* Bumped whenever the key record or the generated-code contract changes. */
#define BRC__KEY_SCHEMA 1

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* ---- options -------------------------------------------------------------------------------- */

/* The options every kernel is compiled with, besides the target; part of the key.
 * -rdc=true: nvJitLink links relocatable objects (a whole-program cubin passed to it comes out
 * with no kernel in it). -no-cache: baracuda keeps its own cache; NVRTC's would duplicate it on
 * disk and make cold compiles look warm. -minimal and -default-device keep the front end
 * cheap. */
static const char *const base_options[] = {"--std=c++17", "-default-device", "-minimal",
                                           "-no-cache", "-rdc=true", NULL};

/* The NVRTC options of req besides the target (at most 15): base_options, without -rdc=true for
 * a whole-program compile, then req's own. */
static int options_of(const brc__kernel_req *req, const char *opts[16]) {
    int n = 0;
    for (int i = 0; base_options[i]; i++)
        if (!(req->flags & BRC__JIT_WHOLE_PROGRAM) || strcmp(base_options[i], "-rdc=true") != 0)
            opts[n++] = base_options[i];
    for (int i = 0; req->options && req->options[i] && n < 15; i++) opts[n++] = req->options[i];
    return n;
}

/* The arch a request compiles for on a context of `arch`: its arch-specific variant (an "a"
 * appended, from sm_90 on) with BRC__JIT_ARCH_SPECIFIC, else arch itself. */
static void target_of(const char *arch, int flags, char out[16]) {
    int major = 0, minor = 0;
    bool accel = false;
    brc__arch_parse(arch, &major, &minor, &accel);
    bool add = (flags & BRC__JIT_ARCH_SPECIFIC) && major >= 9 && !accel;
    snprintf(out, 16, "%s%s", arch, add ? "a" : "");
}

/* ---- the in-process table --------------------------------------------------------------------- */

typedef enum { E_COMPILING, E_READY, E_FAILED } entry_state;

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    const char *template_name;
    int32_t nspec;
    int64_t spec[BRC__SPEC_MAX];
    char arch[16];
    int flags;
    entry_state state;
    brc_status error;
    char message[512];
    brc__kernel *kernel;
} entry;

#define NBUCKETS 4096
static entry *buckets[NBUCKETS];
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mem_hash(const brc__kernel_req *req, const char *arch) {
    int64_t buf[BRC__SPEC_MAX + 2];
    buf[0] = (int64_t)brc__hash64(req->template_name, strlen(req->template_name));
    buf[1] = (int64_t)brc__hash64(arch, strlen(arch));
    memcpy(buf + 2, req->spec, sizeof(int64_t) * (size_t)req->nspec);
    return brc__hash64(buf, sizeof(int64_t) * (size_t)(req->nspec + 2)) ^ (uint64_t)req->flags;
}

static bool entry_matches(const entry *e, uint64_t h, const brc__kernel_req *req, const char *arch) {
    return e->hash == h && e->nspec == req->nspec && e->flags == req->flags &&
           strcmp(e->template_name, req->template_name) == 0 && strcmp(e->arch, arch) == 0 &&
           memcmp(e->spec, req->spec, sizeof(int64_t) * (size_t)req->nspec) == 0;
}

void brc__jit_forget_memory(void) {
    pthread_mutex_lock(&table_mu);
    for (size_t i = 0; i < NBUCKETS; i++) {
        entry *e = buckets[i];
        while (e) {
            entry *n = e->next;
            if (e->state != E_COMPILING) free(e); /* kernels stay: plans may hold them */
            e = n;
        }
        buckets[i] = NULL;
    }
    pthread_mutex_unlock(&table_mu);
}

/* ---- sources (with a test override) ----------------------------------------------------------- */

static brc__source override_src;
static char override_sha[40];

void brc__source_override(const char *name, const char *text) {
    pthread_mutex_lock(&table_mu);
    free((char *)override_src.name);
    free((char *)override_src.text);
    memset(&override_src, 0, sizeof override_src);
    if (name && text) {
        override_src.name = strdup(name);
        override_src.text = strdup(text);
        override_src.len = strlen(text);
        char hex[33];
        brc__hash_hex(brc__hash_bytes(text, override_src.len), hex);
        snprintf(override_sha, sizeof override_sha, "x%s", hex);
        override_src.sha256 = override_sha;
    }
    pthread_mutex_unlock(&table_mu);
}

static const brc__source *source_get(const char *name) {
    if (override_src.name && strcmp(override_src.name, name) == 0) return &override_src;
    return brc__source_find(name);
}

/* ---- keys --------------------------------------------------------------------------------------- */

/* full = req with its snippet made when it is generated lazily; tmp owns the text. */
static brc_status with_snippet(const brc__kernel_req *req, brc__kernel_req *full, brc__str *tmp) {
    *full = *req;
    if (req->snippet) return BRC_STATUS_OK;
    if (!req->make_snippet) return brc__error(BRC_STATUS_INTERNAL, "%s: no specialization source", req->descriptor);
    req->make_snippet(tmp, req->snippet_arg);
    if (tmp->oom || !tmp->p) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", req->descriptor);
    full->snippet = tmp->p;
    return BRC_STATUS_OK;
}

static brc_status disk_key(const brc__kernel_req *req, const char *target, const char *output,
                           int driver_version, brc__hash128 *out) {
    brc__keybuf k = {0};
    brc__key_i64(&k, "schema", BRC__KEY_SCHEMA);
    brc__key_str(&k, "template", req->template_name);
    for (int i = 0; req->sources[i]; i++) {
        const brc__source *s = source_get(req->sources[i]);
        if (!s) {
            free(k.p);
            return brc__error(BRC_STATUS_INTERNAL, "kernel source %s is not embedded", req->sources[i]);
        }
        brc__key_str(&k, "source", s->name);
        brc__key_str(&k, "sha256", s->sha256);
    }
    brc__key_i64(&k, "nspec", req->nspec);
    for (int i = 0; i < req->nspec; i++) brc__key_i64(&k, "spec", req->spec[i]);
    brc__key_str(&k, "snippet", req->snippet);
    brc__key_str(&k, "name", req->name_expr);
    const char *opts[16];
    int nopt = options_of(req, opts);
    for (int i = 0; i < nopt; i++) brc__key_str(&k, "option", opts[i]);
    if (req->flags) brc__key_i64(&k, "flags", req->flags); /* keys of flagless kernels unchanged */
    brc__key_str(&k, "toolchain", brc__toolchain_id());
    brc__key_str(&k, "target", target);
    brc__key_str(&k, "output", output);
    if (strcmp(output, "ptx") == 0) brc__key_i64(&k, "driver", driver_version);
    if (k.oom) {
        free(k.p);
        return brc__error(BRC_STATUS_OUT_OF_MEMORY, "cache key for %s: out of memory", req->descriptor);
    }
    *out = brc__key_finish(&k);
    return BRC_STATUS_OK;
}

brc_status brc__jit_disk_key(const brc__kernel_req *req, const char *arch, brc__hash128 *out) {
    brc__kernel_req full;
    brc__str tmp = {0};
    char target[16];
    target_of(arch, req->flags, target);
    brc_status st = with_snippet(req, &full, &tmp);
    if (st == BRC_STATUS_OK) st = disk_key(&full, target, "cubin", 0, out);
    brc__str_free(&tmp);
    return st;
}

/* ---- compiling ------------------------------------------------------------------------------------ */

static const char *nvrtc_err(const brc__nvrtc_api *nv, nvrtcResult r) {
    const char *s = nv->nvrtcGetErrorString(r);
    return s ? s : "NVRTC_ERROR_UNKNOWN";
}

static void keep_nvrtc_log(const brc__nvrtc_api *nv, nvrtcProgram prog) {
    size_t n = 0;
    if (nv->nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return;
    char *log = malloc(n);
    if (log && nv->nvrtcGetProgramLog(prog, log) == NVRTC_SUCCESS) brc__error_set_log(log);
    free(log);
}

/* Is "sm_XY" a target this NVRTC can emit a cubin for? */
static bool nvrtc_knows(const brc__nvrtc_api *nv, int major, int minor, int *newest) {
    int n = 0;
    *newest = 0;
    if (nv->nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0 || n > 256) return true;
    int archs[256];
    if (nv->nvrtcGetSupportedArchs(archs) != NVRTC_SUCCESS) return true;
    bool ok = false;
    for (int i = 0; i < n; i++) {
        if (archs[i] == major * 10 + minor) ok = true;
        if (archs[i] > *newest) *newest = archs[i];
    }
    return ok;
}

/* Compiles req for target ("sm_90", "sm_90a", or "compute_120" for a PTX fallback). */
static brc_status compile(const brc__kernel_req *req, const char *target, bool ptx,
                          brc__kernel *k) {
    const brc__nvrtc_api *nv = brc__nvrtc();
    if (!nv) return BRC_STATUS_LIBRARY_NOT_FOUND;
    const brc__jitlink_api *jl = ptx ? NULL : brc__jitlink();
    if (!ptx && !jl) return BRC_STATUS_LIBRARY_NOT_FOUND;
    double t0 = now_ms();

    brc__str src = {0};
    for (int i = 0; req->sources[i]; i++) {
        const brc__source *s = source_get(req->sources[i]);
        if (!s) {
            brc__str_free(&src);
            return brc__error(BRC_STATUS_INTERNAL, "kernel source %s is not embedded", req->sources[i]);
        }
        brc__str_addf(&src, "#line 1 \"%s\"\n", s->name);
        brc__str_add(&src, s->text, s->len);
        brc__str_add(&src, "\n", 1);
    }
    brc__str_add(&src, "#line 1 \"specialization\"\n", 25);
    brc__str_add(&src, req->snippet, strlen(req->snippet));
    if (src.oom) {
        brc__str_free(&src);
        return brc__error(BRC_STATUS_OUT_OF_MEMORY, "compiling %s: out of memory", req->descriptor);
    }

    brc_status st = BRC_STATUS_OK;
    nvrtcProgram prog = NULL;
    char arch_opt[48];
    snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=%s", target);
    const char *opts[16];
    int nopt = options_of(req, opts);
    opts[nopt++] = arch_opt;

    nvrtcResult r = nv->nvrtcCreateProgram(&prog, src.p, req->template_name, 0, NULL, NULL);
    if (r != NVRTC_SUCCESS) {
        st = brc__error(r == NVRTC_ERROR_OUT_OF_MEMORY ? BRC_STATUS_OUT_OF_MEMORY : BRC_STATUS_COMPILE_FAILED,
                        "nvrtcCreateProgram: %s (%s for %s)", nvrtc_err(nv, r), req->descriptor, target);
        goto done;
    }
    r = nv->nvrtcAddNameExpression(prog, req->name_expr);
    if (r == NVRTC_SUCCESS) r = nv->nvrtcCompileProgram(prog, nopt, opts);
    if (r != NVRTC_SUCCESS) {
        keep_nvrtc_log(nv, prog);
        st = brc__error(BRC_STATUS_COMPILE_FAILED, "nvrtcCompileProgram: %s (%s for %s)",
                        nvrtc_err(nv, r), req->descriptor, target);
        goto done;
    }
    const char *lowered = NULL;
    r = nv->nvrtcGetLoweredName(prog, req->name_expr, &lowered);
    if (r != NVRTC_SUCCESS || !lowered) {
        st = brc__error(BRC_STATUS_COMPILE_FAILED, "nvrtcGetLoweredName: %s (%s)", nvrtc_err(nv, r),
                        req->name_expr);
        goto done;
    }
    k->lowered = strdup(lowered);
    size_t n = 0;
    r = ptx ? nv->nvrtcGetPTXSize(prog, &n) : nv->nvrtcGetCUBINSize(prog, &n);
    unsigned char *obj = r == NVRTC_SUCCESS ? malloc(n) : NULL;
    if (!k->lowered || !obj) {
        free(obj);
        st = brc__error(r == NVRTC_SUCCESS ? BRC_STATUS_OUT_OF_MEMORY : BRC_STATUS_COMPILE_FAILED,
                        "nvrtcGet%sSize: %s (%s)", ptx ? "PTX" : "CUBIN", nvrtc_err(nv, r), req->descriptor);
        goto done;
    }
    r = ptx ? nv->nvrtcGetPTX(prog, (char *)obj) : nv->nvrtcGetCUBIN(prog, (char *)obj);
    if (r != NVRTC_SUCCESS) {
        free(obj);
        st = brc__error(BRC_STATUS_COMPILE_FAILED, "nvrtcGet%s: %s (%s)", ptx ? "PTX" : "CUBIN",
                        nvrtc_err(nv, r), req->descriptor);
        goto done;
    }
    if (ptx || (req->flags & BRC__JIT_WHOLE_PROGRAM)) {
        k->image = obj;
        k->image_size = n;
        if (!ptx && !brc__cubin_resources(obj, n, k->lowered, &k->regs, &k->shared_bytes, &k->local_bytes))
            k->regs = k->shared_bytes = k->local_bytes = -1;
    } else {
        /* A single fragment: nvJitLink passes the cubin through; multi-fragment plans (user
         * epilogues, device libraries) compile to LTO-IR and link here. */
        nvJitLinkHandle h = NULL;
        char jl_arch[48];
        snprintf(jl_arch, sizeof jl_arch, "-arch=%s", target);
        const char *jopts[] = {jl_arch};
        nvJitLinkResult jr = jl->create(&h, 1, jopts);
        if (jr == NVJITLINK_SUCCESS) jr = jl->add_data(h, NVJITLINK_INPUT_CUBIN, obj, n, req->template_name);
        if (jr == NVJITLINK_SUCCESS) jr = jl->complete(h);
        size_t out_n = 0;
        if (jr == NVJITLINK_SUCCESS) jr = jl->cubin_size(h, &out_n);
        unsigned char *linked = jr == NVJITLINK_SUCCESS ? malloc(out_n) : NULL;
        if (linked) jr = jl->cubin(h, linked);
        if (jr != NVJITLINK_SUCCESS || !linked) {
            size_t ln = 0;
            if (h && jl->error_log_size(h, &ln) == NVJITLINK_SUCCESS && ln > 1) {
                char *log = malloc(ln);
                if (log && jl->error_log(h, log) == NVJITLINK_SUCCESS) brc__error_set_log(log);
                free(log);
            }
            st = brc__error(linked ? BRC_STATUS_LINK_FAILED : BRC_STATUS_OUT_OF_MEMORY,
                            "nvJitLink: error %d (%s for %s)", (int)jr, req->descriptor, target);
            free(linked);
            linked = NULL;
        }
        if (h) jl->destroy(&h);
        free(obj);
        if (!linked) goto done;
        k->image = linked;
        k->image_size = out_n;
        if (!brc__cubin_resources(linked, out_n, k->lowered, &k->regs, &k->shared_bytes, &k->local_bytes))
            k->regs = k->shared_bytes = k->local_bytes = -1;
    }
    k->compile_ms = now_ms() - t0;

done:
    if (prog) nv->nvrtcDestroyProgram(&prog);
    brc__str_free(&src);
    return st;
}

/* ---- loading ----------------------------------------------------------------------------------- */

static brc_status load_library(const brc__kernel *kc, const char *descriptor) {
    brc__kernel *k = (brc__kernel *)kc; /* lib/kernel are set once, under load_mu */
    const brc__cu_api *cu = brc__cu();
    if (!cu) return BRC_STATUS_LIBRARY_NOT_FOUND;
    brc_status st = BRC_STATUS_OK;
    pthread_mutex_lock(&load_mu);
    if (!k->lib) {
        CUlibrary lib = NULL;
        CUkernel kern = NULL;
        CUresult r = cu->cuLibraryLoadData(&lib, k->image, NULL, NULL, 0, NULL, NULL, 0);
        if (r == CUDA_SUCCESS) r = cu->cuLibraryGetKernel(&kern, lib, k->lowered);
        if (r != CUDA_SUCCESS) {
            st = brc__error(BRC_STATUS_CUDA_ERROR, "cuLibraryLoadData: %s (%s)", brc__cu_errname(r),
                            descriptor);
        } else {
            k->lib = lib;
            k->kernel = kern;
        }
    }
    pthread_mutex_unlock(&load_mu);
    return st;
}

brc_status brc__jit_function(const brc_context *ctx, const brc__kernel *k, CUfunction *out) {
    *out = NULL;
    const brc__cu_api *cu = brc__cu();
    if (!cu) return BRC_STATUS_LIBRARY_NOT_FOUND;
    brc_status st = load_library(k, "kernel");
    if (st) return st;
    bool pushed = false;
    st = brc__ctx_enter(ctx, &pushed);
    if (st) return st;
    CUresult r = cu->cuKernelGetFunction(out, k->kernel);
    brc__ctx_leave(pushed);
    if (r != CUDA_SUCCESS) {
        *out = NULL;
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuKernelGetFunction: %s", brc__cu_errname(r));
    }
    return BRC_STATUS_OK;
}

/* ---- the get path: memory, disk, compile --------------------------------------------------------- */

static void kernel_free(brc__kernel *k) {
    if (!k) return;
    free(k->lowered);
    free(k->image);
    free(k);
}

/* Disk, then compile. Runs without the table lock; the entry marks the flight. */
static brc_status produce(const brc_context *ctx, const char *arch, const brc__kernel_req *req,
                          brc__kernel **out) {
    *out = NULL;
    brc__kernel *k = calloc(1, sizeof *k);
    if (!k) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", req->descriptor);
    brc__hash128 key;
    brc_status st = disk_key(req, arch, "cubin", 0, &key);
    if (st) {
        free(k);
        return st;
    }
    brc__cache_loaded hit;
    if (brc__cache_lookup(ctx, key, &hit)) {
        k->lowered = hit.lowered;
        k->image = hit.image;
        k->image_size = hit.image_size;
        k->regs = hit.regs;
        k->shared_bytes = hit.shared_bytes;
        k->local_bytes = hit.local_bytes;
        k->from_disk = true;
        /* A row that does not load is as bad as a corrupt one: drop it and compile afresh. */
        if (ctx->device < 0 || load_library(k, req->descriptor) == BRC_STATUS_OK) {
            brc__stats_add(BRC__STAT_DISK_HIT, 0);
            *out = k;
            return BRC_STATUS_OK;
        }
        brc__warn_once("unloadable-row", "cache row for %s does not load (%s); recompiling",
                       req->descriptor, brc_last_error());
        brc__error_clear();
        brc__cache_delete(key);
        brc__stats_add(BRC__STAT_BAD_ROW, 0);
        free(k->lowered);
        free(k->image);
        memset(k, 0, sizeof *k);
    }

    int major = 0, minor = 0;
    bool accel = false;
    brc__arch_parse(arch, &major, &minor, &accel);
    const brc__nvrtc_api *nv = brc__nvrtc();
    if (!nv) {
        free(k);
        return BRC_STATUS_LIBRARY_NOT_FOUND;
    }
    int newest = 0;
    bool ptx = !nvrtc_knows(nv, major, minor, &newest);
    char target[24];
    const char *output = "cubin";
    snprintf(target, sizeof target, "%s", arch);
    int driver = 0;
    if (ptx) {
        /* A GPU newer than this NVRTC: PTX for the newest compute_XX it knows, finished by the
         * driver. Never an older cubin, and never for an arch-specific kernel (its instructions
         * exist on its arch only). */
        if (ctx->device < 0 || (req->flags & BRC__JIT_ARCH_SPECIFIC)) {
            free(k);
            return brc__error(BRC_STATUS_UNSUPPORTED, "NVRTC %d.%d cannot target %s (%s)", nv->major,
                              nv->minor, arch, req->descriptor);
        }
        const brc__cu_api *cu = brc__cu();
        if (cu) cu->cuDriverGetVersion(&driver);
        snprintf(target, sizeof target, "compute_%d", newest);
        output = "ptx";
        st = disk_key(req, target, output, driver, &key);
        if (st == BRC_STATUS_OK && brc__cache_lookup(ctx, key, &hit)) {
            k->lowered = hit.lowered;
            k->image = hit.image;
            k->image_size = hit.image_size;
            k->from_disk = true;
            if (load_library(k, req->descriptor) == BRC_STATUS_OK) {
                brc__stats_add(BRC__STAT_DISK_HIT, 0);
                *out = k;
                return BRC_STATUS_OK;
            }
            brc__error_clear();
            brc__cache_delete(key);
            free(k->lowered);
            free(k->image);
            memset(k, 0, sizeof *k);
        }
    }
    st = compile(req, target, ptx, k);
    if (st == BRC_STATUS_OK && ctx->device >= 0) st = load_library(k, req->descriptor);
    if (st) {
        kernel_free(k);
        return st;
    }
    brc__stats_add(BRC__STAT_COMPILE, k->compile_ms);
    brc__cache_row row = {
        .key = key, .template_name = req->template_name, .descriptor = req->descriptor,
        .arch = target, .output_kind = output, .toolchain = brc__toolchain_id(),
        .lowered = k->lowered, .regs = k->regs, .shared_bytes = k->shared_bytes,
        .local_bytes = k->local_bytes, .compile_ms = k->compile_ms, .image = k->image,
        .image_size = k->image_size};
    brc__cache_insert(&row);
    *out = k;
    return BRC_STATUS_OK;
}

static _Thread_local brc__key_sink *key_sink;

void brc__jit_collect_keys(brc__key_sink *sink) { key_sink = sink; }

/* Key-collecting mode: record the disk key a select would use and hand back a kernel that has
 * nothing in it (offline contexts only, which never load or launch it). */
static brc_status collect_key(const brc_context *ctx, const brc__kernel_req *req, const brc__kernel **out) {
    static brc__kernel empty = {.lowered = (char *)""};
    if (ctx->device >= 0)
        return brc__error(BRC_STATUS_INTERNAL, "key collection needs an offline context (%s)", req->descriptor);
    brc__hash128 key;
    brc_status st = brc__jit_disk_key(req, ctx->arch, &key);
    if (st) return st;
    if (key_sink->n == key_sink->cap) {
        size_t nc = key_sink->cap ? key_sink->cap * 2 : 64;
        brc__hash128 *k = realloc(key_sink->keys, nc * sizeof *k);
        if (!k) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", req->descriptor);
        key_sink->keys = k;
        key_sink->cap = nc;
    }
    key_sink->keys[key_sink->n++] = key;
    *out = &empty;
    return BRC_STATUS_OK;
}

brc_status brc__jit_get(const brc_context *ctx, const brc__kernel_req *req, const brc__kernel **out) {
    *out = NULL;
    if (req->nspec < 0 || req->nspec > BRC__SPEC_MAX)
        return brc__error(BRC_STATUS_INTERNAL, "spec tuple of %d fields", (int)req->nspec);
    if (key_sink) return collect_key(ctx, req, out);
    char arch[16];
    target_of(ctx->arch, req->flags, arch);
    uint64_t h = mem_hash(req, arch);
    size_t b = h % NBUCKETS;

    pthread_mutex_lock(&table_mu);
    entry *e = buckets[b];
    while (e && !entry_matches(e, h, req, arch)) e = e->next;
    if (e) {
        bool waited = false;
        while (e->state == E_COMPILING) {
            pthread_cond_wait(&table_cv, &table_mu);
            waited = true;
        }
        if (e->state == E_FAILED && waited) { /* the flight we joined failed: share its error */
            brc_status st = e->error;
            char msg[512];
            snprintf(msg, sizeof msg, "%s", e->message);
            pthread_mutex_unlock(&table_mu);
            return brc__error(st, "%s", msg);
        }
        if (e->state == E_READY) {
            brc__kernel *k = e->kernel;
            pthread_mutex_unlock(&table_mu);
            if (ctx->device >= 0 && !k->lib) {
                brc_status st = load_library(k, req->descriptor);
                if (st) return st;
            }
            brc__stats_add(BRC__STAT_MEMORY_HIT, 0);
            *out = k;
            return BRC_STATUS_OK;
        }
        e->state = E_COMPILING; /* a failed entry: this caller retries */
    } else {
        e = calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&table_mu);
            return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", req->descriptor);
        }
        e->hash = h;
        e->template_name = req->template_name;
        e->nspec = req->nspec;
        memcpy(e->spec, req->spec, sizeof(int64_t) * (size_t)req->nspec);
        snprintf(e->arch, sizeof e->arch, "%s", arch);
        e->flags = req->flags;
        e->state = E_COMPILING;
        e->next = buckets[b];
        buckets[b] = e;
    }
    pthread_mutex_unlock(&table_mu);

    brc__kernel *k = NULL;
    brc__kernel_req full;
    brc__str tmp = {0};
    brc_status st = with_snippet(req, &full, &tmp);
    if (st == BRC_STATUS_OK) st = produce(ctx, arch, &full, &k);
    brc__str_free(&tmp);

    pthread_mutex_lock(&table_mu);
    if (st == BRC_STATUS_OK) {
        e->kernel = k;
        e->state = E_READY;
    } else {
        e->state = E_FAILED;
        e->error = st;
        snprintf(e->message, sizeof e->message, "%s", brc_last_error());
    }
    pthread_cond_broadcast(&table_cv);
    pthread_mutex_unlock(&table_mu);
    *out = k;
    return st;
}
