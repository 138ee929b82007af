/* Declarations shared between the runtime's files (never installed). Naming: brc__<module>_*
 * for cross-file internals; file-local functions are static. */
#ifndef BRC_INTERNAL_H
#define BRC_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;
#include <cuda.h> /* types only: every entry point is reached through brc__cu() */

#include "baracuda/baracuda.h"

#define BRC__INTERNAL __attribute__((visibility("hidden")))
#define BRC__PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- errors (status.c) ---------------------------------------------------------------------- */

/* Starts a public call: clears this thread's message. */
BRC__INTERNAL void brc__error_clear(void);
/* Records a failure and returns s. The first message since brc__error_clear wins. */
BRC__INTERNAL brc_status brc__error(brc_status s, const char *fmt, ...) BRC__PRINTF(2, 3);
BRC__INTERNAL void brc__error_set_log(const char *log);
/* One line on stderr ("baracuda: warning: ..."), once per distinct tag in the process. */
BRC__INTERNAL void brc__warn_once(const char *tag, const char *fmt, ...) BRC__PRINTF(2, 3);

/* A growable string; on allocation failure it records oom and stops growing. */
typedef struct brc__str {
    char *p;
    size_t len, cap;
    bool oom;
} brc__str;
BRC__INTERNAL void brc__str_addf(brc__str *s, const char *fmt, ...) BRC__PRINTF(2, 3);
BRC__INTERNAL void brc__str_add(brc__str *s, const char *text, size_t n);
BRC__INTERNAL void brc__str_free(brc__str *s);

/* ---- loader (loader/loader.c) ----------------------------------------------------------------- */

/* Driver entry points, resolved through cuGetProcAddress at the header's CUDA_VERSION so the
 * versioned symbol (_v2, _v3) that matches the prototype is the one we get. */
#define BRC__CU_FNS(X)                                                                           \
    X(cuInit)                                                                                    \
    X(cuDriverGetVersion)                                                                        \
    X(cuGetErrorName)                                                                            \
    X(cuDeviceGet)                                                                               \
    X(cuDeviceGetCount)                                                                          \
    X(cuDeviceGetAttribute)                                                                      \
    X(cuDeviceGetName)                                                                           \
    X(cuDevicePrimaryCtxRetain)                                                                  \
    X(cuDevicePrimaryCtxRelease)                                                                 \
    X(cuCtxPushCurrent)                                                                          \
    X(cuCtxPopCurrent)                                                                           \
    X(cuCtxGetCurrent)                                                                           \
    X(cuCtxSynchronize)                                                                          \
    X(cuLibraryLoadData)                                                                         \
    X(cuLibraryUnload)                                                                           \
    X(cuLibraryGetKernel)                                                                        \
    X(cuKernelGetFunction)                                                                       \
    X(cuFuncGetAttribute)                                                                        \
    X(cuFuncSetAttribute)                                                                        \
    X(cuOccupancyMaxActiveClusters)                                                              \
    X(cuOccupancyMaxActiveBlocksPerMultiprocessor)                                               \
    X(cuTensorMapEncodeTiled)                                                                    \
    X(cuTensorMapReplaceAddress)                                                                 \
    X(cuLaunchKernel)                                                                            \
    X(cuLaunchKernelEx)                                                                          \
    X(cuMemAlloc)                                                                                \
    X(cuMemFree)                                                                                 \
    X(cuMemcpyHtoD)                                                                              \
    X(cuMemcpyDtoH)                                                                              \
    X(cuMemsetD8)                                                                                \
    X(cuMemsetD8Async)                                                                           \
    X(cuMemsetD16Async)                                                                          \
    X(cuMemsetD32Async)                                                                          \
    X(cuMemcpyDtoDAsync)                                                                         \
    X(cuStreamCreate)                                                                            \
    X(cuStreamDestroy)                                                                           \
    X(cuStreamSynchronize)                                                                       \
    X(cuStreamBeginCapture)                                                                      \
    X(cuStreamEndCapture)                                                                        \
    X(cuGraphInstantiateWithFlags)                                                               \
    X(cuGraphLaunch)                                                                             \
    X(cuGraphDestroy)                                                                            \
    X(cuGraphExecDestroy)                                                                        \
    X(cuEventCreate)                                                                             \
    X(cuEventRecord)                                                                             \
    X(cuEventSynchronize)                                                                        \
    X(cuEventElapsedTime)                                                                        \
    X(cuEventDestroy)

typedef struct brc__cu_api {
#define BRC__X(fn) __typeof__(&fn) fn;
    BRC__CU_FNS(BRC__X)
#undef BRC__X
} brc__cu_api;

/* nvrtc.h / nvJitLink.h types are not needed by callers: the JIT holds them. */
typedef struct brc__nvrtc_api brc__nvrtc_api;
typedef struct brc__jitlink_api brc__jitlink_api;

/* Loads libcuda and calls cuInit(0) once. NULL with the error set on failure. */
BRC__INTERNAL const brc__cu_api *brc__cu(void);
BRC__INTERNAL const brc__nvrtc_api *brc__nvrtc(void);
BRC__INTERNAL const brc__jitlink_api *brc__jitlink(void);
/* "CUDA_ERROR_INVALID_VALUE" (or the number when the driver cannot name it). */
BRC__INTERNAL const char *brc__cu_errname(CUresult r);
/* An identity of the NVRTC and nvJitLink binaries that would be loaded (their GNU build ids),
 * found without loading them (a dlopen of NVRTC costs ~12 ms; a disk hit must not). Static
 * string; "" if neither can be found. */
BRC__INTERNAL const char *brc__toolchain_id(void);
/* Test hook: replaces the toolchain identity (NULL restores the real one). */
BRC__INTERNAL void brc__toolchain_id_override(const char *id);

/* ceil(a / b) for a >= 0, b > 0: grid and chunk counts in the families' plans. */
static inline int64_t brc__cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Shared memory one CTA may opt into on an architecture (bytes); an SM has 1 KiB more. */
static inline int brc__smem_per_cta(int major, int minor) {
    if (major >= 9 && major != 12) return 227 * 1024;                /* sm_90, sm_100 */
    if (major == 8 && (minor == 0 || minor == 7)) return 163 * 1024; /* A100, Orin */
    return 99 * 1024;                                                /* sm_86, sm_89, sm_120, and below */
}

/* A tuning override from the environment (plan.c): the integer value of variable `name` when
 * set and in [lo, hi], else dflt. The families' knobs (BARACUDA_GEMV_*, BARACUDA_REDUCE_*,
 * BARACUDA_SCAN_*, ...) change a kernel's spec and SKU, never its descriptor, so `warm` builds
 * the defaults. */
BRC__INTERNAL int brc__knob(const char *name, int lo, int hi, int dflt);

/* ---- hashing ---------------------------------------------------------------------------------- */

typedef struct brc__hash128 {
    uint64_t lo, hi;
} brc__hash128;

/* Canonical, length-prefixed record hashed with XXH3-128: every field is tagged and sized, so
 * two different records never hash the same input bytes. */
typedef struct brc__keybuf {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} brc__keybuf;
BRC__INTERNAL void brc__key_str(brc__keybuf *k, const char *tag, const char *s);
BRC__INTERNAL void brc__key_i64(brc__keybuf *k, const char *tag, int64_t v);
BRC__INTERNAL brc__hash128 brc__key_finish(brc__keybuf *k);
BRC__INTERNAL brc__hash128 brc__hash_bytes(const void *p, size_t n);
BRC__INTERNAL uint64_t brc__hash64(const void *p, size_t n);
/* 32 lowercase hex digits. */
BRC__INTERNAL void brc__hash_hex(brc__hash128 h, char out[33]);

/* ---- embedded kernel sources (generated at build time) ---------------------------------------- */

typedef struct brc__source {
    const char *name;   /* "prelude.cuh" */
    const char *text;   /* NUL-terminated */
    size_t len;
    const char *sha256; /* of the file as embedded, computed at build time */
} brc__source;
BRC__INTERNAL const brc__source *brc__source_find(const char *name);
BRC__INTERNAL const brc__source *brc__source_list(size_t *count);

/* ---- context (device.c) ----------------------------------------------------------------------- */

struct brc_context {
    int device;    /* -1 when offline */
    CUdevice cu_device;
    CUcontext cu_ctx; /* the retained primary context */
    int sm_major, sm_minor;
    int sm_count;
    char arch[16]; /* "sm_90", "sm_90a" */
    char *cache_files; /* read-only cache layers of this context (':'-separated), or NULL */
    pthread_mutex_t lt_mu; /* guards lt_handle's creation */
    void *lt_handle;       /* the cuBLASLt handle (cublasLtHandle_t), made on first GEMM plan */
};
/* Destroys the context's cuBLASLt handle (ops/gemm.c). */
BRC__INTERNAL void brc__gemm_context_release(brc_context *ctx);

/* Makes ctx's CUDA context current on this thread if it is not; *pushed says whether to pop. */
BRC__INTERNAL brc_status brc__ctx_enter(const brc_context *ctx, bool *pushed);
BRC__INTERNAL void brc__ctx_leave(bool pushed);
/* Parses "sm_90" / "sm_90a" into its parts; false if malformed. */
BRC__INTERNAL bool brc__arch_parse(const char *arch, int *major, int *minor, bool *accel);

/* ---- JIT (jit/jit.c) -------------------------------------------------------------------------- */

/* What identifies one kernel: the template, the integer specialization tuple (fixed field
 * order per template) and the generated specialization source (the snippet that instantiates
 * the template). The in-process table is keyed on (template, spec tuple, arch); the disk key
 * hashes everything that changes the binary. */
#define BRC__SPEC_MAX 16
typedef struct brc__kernel_req {
    const char *template_name;      /* "elementwise" */
    const char *const *sources;     /* embedded files, in order, NULL-terminated */
    int32_t nspec;
    int64_t spec[BRC__SPEC_MAX];
    const char *snippet;            /* generated source appended after the sources */
    /* Or, with snippet NULL, writes the snippet into out: called only when the in-process
     * table misses, so a re-select never formats it. A function of the spec tuple. */
    void (*make_snippet)(brc__str *out, const void *arg);
    const void *snippet_arg;
    const char *const *options;     /* extra NVRTC options (NULL-terminated), or NULL */
    const char *name_expr;          /* "brc::ew_contig<brc_op, 1, 8>" */
    const char *descriptor;         /* canonical spec string, for metadata and messages */
    int flags;                      /* BRC__JIT_*; 0 for every kernel so far */
} brc__kernel_req;

/* BRC__JIT_ARCH_SPECIFIC: compile for the arch-specific target of the context's arch (sm_90 ->
 * sm_90a, from sm_90 on; wgmma and setmaxnreg exist only there), never for a PTX fallback.
 * BRC__JIT_WHOLE_PROGRAM: a whole-program compile (no -rdc), loaded as NVRTC made it, without
 * nvJitLink (which drops a whole-program cubin's kernels): the register count is the launch
 * bound's, as setmaxnreg needs. Both change the cache key; kernels without them keep theirs. */
enum { BRC__JIT_ARCH_SPECIFIC = 1, BRC__JIT_WHOLE_PROGRAM = 2 };

typedef struct brc__kernel {
    /* Immutable once published. */
    char *lowered;       /* mangled kernel name */
    unsigned char *image;
    size_t image_size;
    int regs, shared_bytes, local_bytes;
    double compile_ms;   /* 0 for a disk hit */
    bool from_disk;
    CUlibrary lib;       /* loaded on first use with a device; NULL offline */
    CUkernel kernel;
} brc__kernel;

/* Returns the kernel for req on ctx's arch: from the in-process table, else the disk cache,
 * else compiled (once, whatever the number of threads asking). With a device, the module is
 * also loaded. The kernel lives until the process ends. */
BRC__INTERNAL brc_status brc__jit_get(const brc_context *ctx, const brc__kernel_req *req,
                                      const brc__kernel **out);
/* The function handle of k in ctx (loads it into ctx's CUDA context). */
BRC__INTERNAL brc_status brc__jit_function(const brc_context *ctx, const brc__kernel *k,
                                           CUfunction *out);
/* The disk key of req for an arch, exposed for tests. */
BRC__INTERNAL brc_status brc__jit_disk_key(const brc__kernel_req *req, const char *arch,
                                           brc__hash128 *out);
/* Test hook: replaces an embedded source's text (and so its hash) for this process; NULL text
 * restores the embedded one. */
BRC__INTERNAL void brc__source_override(const char *name, const char *text);
/* Key-collecting mode, for this thread: while sink is set, selects in offline contexts compile
 * nothing and load nothing; each kernel a plan would use has its disk key appended to sink
 * (`baracuda export --manifest`). NULL ends the mode; the caller frees sink->keys. */
typedef struct brc__key_sink {
    brc__hash128 *keys;
    size_t n, cap;
} brc__key_sink;
BRC__INTERNAL void brc__jit_collect_keys(brc__key_sink *sink);
/* Test hook: forget the in-process table (kernels stay allocated: plans may hold them). */
BRC__INTERNAL void brc__jit_forget_memory(void);

/* Register count, static shared and local memory of a kernel, read from its cubin's ELF
 * sections (works offline). false if the image is not a cubin holding that kernel. */
BRC__INTERNAL bool brc__cubin_resources(const void *image, size_t size, const char *lowered,
                                        int *regs, int *shared_bytes, int *local_bytes);

/* ---- cache store (cache/store.c) ---------------------------------------------------------------- */

typedef struct brc__cache_row {
    brc__hash128 key;
    const char *template_name, *descriptor, *arch, *output_kind, *toolchain, *lowered;
    int regs, shared_bytes, local_bytes;
    double compile_ms;
    const unsigned char *image;
    size_t image_size;
} brc__cache_row;

/* A loaded row: owned by the caller, freed with brc__cache_loaded_free. */
typedef struct brc__cache_loaded {
    char *lowered;
    unsigned char *image;
    size_t image_size;
    int regs, shared_bytes, local_bytes;
} brc__cache_loaded;

/* All of these degrade instead of failing: a cache that cannot be opened, read or written
 * logs one warning and behaves as empty. lookup returns true on a verified hit. */
BRC__INTERNAL bool brc__cache_lookup(const brc_context *ctx, brc__hash128 key, brc__cache_loaded *out);
BRC__INTERNAL void brc__cache_insert(const brc__cache_row *row);
BRC__INTERNAL void brc__cache_delete(brc__hash128 key);
BRC__INTERNAL void brc__cache_loaded_free(brc__cache_loaded *l);
/* Test hook: close the database so the next use reopens it (after BARACUDA_CACHE_DIR changed). */
BRC__INTERNAL void brc__cache_reset(void);
/* Test hook: pretend the cache directory is on this network filesystem ("" for local; NULL
 * restores the real probe). */
BRC__INTERNAL void brc__cache_fs_override(const char *name);

/* What happened when the user cache was opened (since the last reset); opens it if needed. */
enum {
    BRC__CACHE_EV_SET_ASIDE = 1,      /* a damaged file was moved aside */
    BRC__CACHE_EV_READ_ONLY = 2,      /* lookups only */
    BRC__CACHE_EV_DISABLED = 4,       /* no disk cache at all */
    BRC__CACHE_EV_FOREIGN_SCHEMA = 8, /* another schema version: left alone */
    BRC__CACHE_EV_NETWORK_FS = 16     /* rollback journal instead of WAL */
};
BRC__INTERNAL unsigned brc__cache_events(void);
/* The user cache's handle for the CLI's maintenance commands, with the store's lock held until
 * brc__cache_release. NULL (lock not held) when there is no usable cache. */
BRC__INTERNAL struct sqlite3 *brc__cache_acquire(bool *read_only);
BRC__INTERNAL void brc__cache_release(void);
/* "<dir>/kernels.db", or "" when the cache is disabled. */
BRC__INTERNAL const char *brc__cache_path(void);
BRC__INTERNAL const char *brc__cache_schema_sql(void);
BRC__INTERNAL int brc__cache_schema_version(void);
BRC__INTERNAL bool brc__cache_checksum_ok(const void *image, size_t n, const void *sum, size_t sum_n);
/* When the binaries total more than cap bytes, deletes least recently used rows until they
 * total at most target. Returns the rows removed (-1 on an SQLite error). */
BRC__INTERNAL int64_t brc__cache_evict(struct sqlite3 *db, int64_t cap, int64_t target, int64_t *removed_bytes);
/* The size cap in force (BARACUDA_CACHE_MAX_SIZE, default 2 GiB; 0: none). */
BRC__INTERNAL int64_t brc__cache_max_bytes(void);
/* "500M", "2G", "1.5GiB", "4096" -> bytes. */
BRC__INTERNAL bool brc__parse_size(const char *s, int64_t *out);
BRC__INTERNAL void brc__stats_add(int which, double ms);

/* Stored GEMM algorithm choices (table gemm_algos): the cuBLASLt algorithm bytes, the workspace
 * it needs and whether it was timed. A row whose checksum fails is deleted (and counted as a bad
 * row); lookup returns true on a verified hit. Same degradation rules as the kernels. */
typedef struct brc__algo_row {
    unsigned char algo[128];
    size_t algo_size;
    int64_t workspace;
    bool tuned;
} brc__algo_row;
BRC__INTERNAL bool brc__algo_lookup(brc__hash128 key, brc__algo_row *out);
BRC__INTERNAL void brc__algo_insert(brc__hash128 key, const char *descriptor, const char *device, const void *algo,
                                    size_t n, int64_t workspace, bool tuned);
BRC__INTERNAL void brc__algo_delete(brc__hash128 key);
enum { BRC__STAT_MEMORY_HIT, BRC__STAT_DISK_HIT, BRC__STAT_COMPILE, BRC__STAT_BAD_ROW };

/* The BRC_CLS_* bit of a dtype (ops/elementwise.c); 0 for a value that is not a dtype. */
BRC__INTERNAL unsigned brc__dtype_class(brc_dtype t);

/* ---- descriptors and manifests (manifest.c) --------------------------------------------------- */

/* A parsed plan descriptor: "family(key=value,key=value)". Columns are 1-based byte offsets
 * into the text it was parsed from, so errors can point at the offending token. */
#define BRC__DESC_MAX_KV 24
typedef struct brc__desc_kv {
    char key[32];
    char val[96];
    int key_col, val_col;
    bool used;
} brc__desc_kv;

typedef struct brc__desc {
    char family[32];
    int family_col;
    int nkv;
    brc__desc_kv kv[BRC__DESC_MAX_KV];
    int err_col; /* where the first reported problem is (0: the whole descriptor) */
} brc__desc;

/* Parses one descriptor (surrounding blanks allowed, nothing else). On failure: INVALID_ARGUMENT,
 * the message (without a position) in brc_last_error and the column in d->err_col. */
BRC__INTERNAL brc_status brc__desc_parse(const char *text, brc__desc *d);
/* Accessors used by the families' from-descriptor functions. Each marks its key used; on a bad
 * value each returns INVALID_ARGUMENT (or UNSUPPORTED) with d->err_col at the value. */
BRC__INTERNAL const char *brc__desc_get(brc__desc *d, const char *key); /* NULL if absent */
BRC__INTERNAL brc_status brc__desc_need(brc__desc *d, const char *key, const char **val);
BRC__INTERNAL brc_status brc__desc_int(brc__desc *d, const char *key, int64_t lo, int64_t hi,
                                       int64_t dflt, int64_t *out);
BRC__INTERNAL brc_status brc__desc_dtype(brc__desc *d, const char *key, brc_dtype *out);
/* value must be one of names[0..n); absent gives dflt (a negative dflt makes the key required). */
BRC__INTERNAL brc_status brc__desc_pick(brc__desc *d, const char *key, const char *const *names,
                                        int n, int dflt, int *out);
/* Fails on the first key no accessor asked for. */
BRC__INTERNAL brc_status brc__desc_done(brc__desc *d);

/* Each family that can be warmed from a descriptor provides one of these: it makes a plan
 * (any sizes will do, as long as the kernels are the ones the descriptor names) in ctx. The
 * table of families is in manifest.c. */
typedef brc_status (*brc__from_desc_fn)(brc_context *ctx, brc__desc *d, brc_plan **out);
BRC__INTERNAL brc_status brc__ew_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* softmax, log_softmax, rms_norm, layer_norm (ops/rows.c). */
BRC__INTERNAL brc_status brc__rows_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* group_norm, batch_norm (ops/channel_norm.c). */
BRC__INTERNAL brc_status brc__cnorm_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* cross_entropy, nll_loss and the pointwise losses (ops/loss.c). */
BRC__INTERNAL brc_status brc__loss_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* reduce (ops/reduce.c). */
BRC__INTERNAL brc_status brc__reduce_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* scan (ops/scan.c). */
BRC__INTERNAL brc_status brc__scan_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* gemm (ops/gemm.c). */
BRC__INTERNAL brc_status brc__gemm_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* copy, concat, split, slice, write_slice; fill; pad (ops/movement.c). */
BRC__INTERNAL brc_status brc__move_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
BRC__INTERNAL brc_status brc__fill_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
BRC__INTERNAL brc_status brc__pad_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* random (ops/random.c). */
BRC__INTERNAL brc_status brc__random_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* Test hook: launch random plans on this many CTAs (0: the plan's own grid). Values must not change. */
BRC__INTERNAL void brc__random_grid_override(unsigned grid);
/* index (ops/indexing.c). */
BRC__INTERNAL brc_status brc__index_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* Test hook: launch indexing plans on this many CTAs (0: the plan's own grid). */
BRC__INTERNAL void brc__index_grid_override(unsigned grid);

/* select: topk, kthvalue, median (ops/select.c). */
BRC__INTERNAL brc_status brc__select_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* Test hook: split rows over this many CTAs (0: the plan's own choice). */
BRC__INTERNAL void brc__select_split_override(int S);

/* attention (ops/attention.c). */
BRC__INTERNAL brc_status brc__attention_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);
/* ops/search.c */
BRC__INTERNAL brc_status brc__search_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);

/* sort (ops/sort.c). */
BRC__INTERNAL brc_status brc__sort_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out);

/* Makes the plan a descriptor names. Errors name the column: "column 12: unknown key 'foo'". */
BRC__INTERNAL brc_status brc__plan_from_descriptor(brc_context *ctx, const char *text,
                                                   brc_plan **out);

typedef struct brc__manifest_line {
    char *text; /* the descriptor, trimmed */
    int line;   /* 1-based */
} brc__manifest_line;
typedef struct brc__manifest {
    brc__manifest_line *lines;
    size_t n;
} brc__manifest;
/* Reads and checks the syntax of every line (no plan is made). Errors: "path:line:col: ...". */
BRC__INTERNAL brc_status brc__manifest_read(const char *path, brc__manifest *m);
BRC__INTERNAL brc_status brc__manifest_parse(const char *text, const char *name, brc__manifest *m);
BRC__INTERNAL void brc__manifest_free(brc__manifest *m);
/* The built-in default manifest (`baracuda warm` without --manifest): every unary and binary
 * kind in f32, f16 and bf16, the casts among f32, f16, bf16 and the two fp8 formats, a few
 * reductions (sum, mean, max, argmax, var, logsumexp of 32768x4096 rows in f32 and bf16), the
 * scans (each kind forward in f32 and bf16, rows of 4096 and cols; cumsum backward), common
 * shapes of the channel norms, cross_entropy and the row-wise family, the movement kernels
 * (copies and transposes by element size, concat / split of 2..4 tensors, fills, aranges), the
 * random draws and dropout, embedding / index_select / gather of rows of 4096 with the
 * embedding backward, topk (largest, sorted) and kthvalue in f32 and bf16, and sorts (rows of
 * 1024 and the radix sort in f32 and bf16). */
BRC__INTERNAL brc_status brc__manifest_default(brc__manifest *m);

/* BARACUDA_RECORD: appends descriptor to the record manifest unless it is there already
 * (deduplicated in the process and, under an flock, in the file). Families call it once a plan
 * is made. A no-op when the variable is unset. */
BRC__INTERNAL void brc__record(const char *descriptor);

/* ---- plans (plan.c) ------------------------------------------------------------------------------ */

typedef enum brc__family {
    BRC__FAM_UNARY = 1,
    BRC__FAM_BINARY,
    BRC__FAM_TERNARY,
    BRC__FAM_CAST,
    BRC__FAM_SOFTMAX,
    BRC__FAM_SOFTMAX_BWD,
    BRC__FAM_NORM,
    BRC__FAM_NORM_BWD,
    BRC__FAM_GROUP_NORM,
    BRC__FAM_GROUP_NORM_BWD,
    BRC__FAM_BATCH_NORM,
    BRC__FAM_BATCH_NORM_BWD,
    BRC__FAM_CLASS_LOSS,
    BRC__FAM_CLASS_LOSS_BWD,
    BRC__FAM_PW_LOSS,
    BRC__FAM_PW_LOSS_BWD,
    BRC__FAM_REDUCE,
    BRC__FAM_REDUCE_BWD,
    BRC__FAM_SCAN,
    BRC__FAM_SCAN_BWD,
    BRC__FAM_GEMM,
    BRC__FAM_COPY, /* copy, permute, flip, roll, repeat */
    BRC__FAM_CONCAT,
    BRC__FAM_SPLIT,
    BRC__FAM_SLICE,
    BRC__FAM_WRITE_SLICE,
    BRC__FAM_FILL,
    BRC__FAM_PAD,
    BRC__FAM_PAD_BWD,
    BRC__FAM_RANDOM,
    BRC__FAM_INDEX,
    BRC__FAM_ATTENTION,
    BRC__FAM_SELECT,
    BRC__FAM_SORT,
    BRC__FAM_SEARCH
} brc__family;

typedef struct brc__plan_vt {
    void (*destroy)(brc_plan *p); /* frees the family's private state */
} brc__plan_vt;

struct brc_plan {
    const brc__plan_vt *vt;
    brc__family family;
    const brc_context *ctx;
    char *sku;
    char *descriptor;
    size_t workspace;
    void *impl; /* family state */
};

/* Allocates a plan (zeroed impl of impl_size bytes). */
BRC__INTERNAL brc_status brc__plan_new(const brc_context *ctx, brc__family fam,
                                       const brc__plan_vt *vt, size_t impl_size,
                                       brc_plan **out);
/* Starts a public plan function: clears the error, NULLs *out, checks the pointers. */
BRC__INTERNAL brc_status brc__plan_start(brc_context *ctx, const void *desc, brc_plan **out,
                                         const char *fn);
/* Gives a made plan its canonical descriptor and SKU (taking ownership of both) and records the
 * descriptor (BARACUDA_RECORD). Every family calls it once a plan is complete. */
BRC__INTERNAL void brc__plan_publish(brc_plan *p, char *descriptor, char *sku);
/* Checks that plan is of family fam and can run (made with a device). */
BRC__INTERNAL brc_status brc__plan_check_run(const brc_plan *plan, brc__family fam,
                                             const char *fn);
/* Launches fn on a 1-D grid of block-thread CTAs with smem bytes of dynamic shared memory and the
 * kernel parameters args; pdl: as the programmatic dependent of the kernel before it in the stream
 * (CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the kernel must wait, griddepcontrol.wait,
 * before it reads what the kernels before it wrote). A failed launch is CUDA_ERROR, naming the plan. */
BRC__INTERNAL brc_status brc__launch(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned block, unsigned smem,
                                     bool pdl, void **args, brc_stream stream);
/* A run's device pointer what: not NULL (INVALID_ARGUMENT), aligned to align bytes (MISALIGNED). */
BRC__INTERNAL brc_status brc__need_ptr(const void *p, size_t align, const char *fn, const char *what,
                                       const brc_plan *plan);
/* The start of a run with a workspace: clears the error, brc__plan_check_run, and checks the
 * caller's workspace against the plan's (size, not NULL when one is needed, aligned to
 * BRC__WS_ALIGN). */
enum { BRC__WS_ALIGN = 256 };
BRC__INTERNAL brc_status brc__run_start(const brc_plan *plan, brc__family fam, const char *fn, void *ws,
                                        size_t ws_size);
/* Validates the fields common to every descriptor. */
BRC__INTERNAL brc_status brc__tensor_check(const brc_tensor_desc *d, const char *what);
/* Equal ranks and shapes. */
BRC__INTERNAL bool brc__same_shape(const brc_tensor_desc *a, const brc_tensor_desc *b);
/* Equal strides in every dim longer than 1 (a's rank). */
BRC__INTERNAL bool brc__same_strides(const brc_tensor_desc *a, const brc_tensor_desc *b);
/* Distinct indices of t reach distinct elements: sorted by |stride|, each dim's stride clears the
 * extent of the dims inside it (sufficient; a few exotic interleavings are refused too). An empty
 * tensor passes. */
BRC__INTERNAL bool brc__no_self_overlap(const brc_tensor_desc *t);
/* brc__tensor_check of operand name (messages start "fn: kn: name"), and for an output
 * brc__no_self_overlap. */
BRC__INTERNAL brc_status brc__operand_check(const brc_tensor_desc *t, const char *fn, const char *kn,
                                            const char *name, bool output);
BRC__INTERNAL const brc_plan_prefs *brc__prefs_or_default(const brc_plan_prefs *p,
                                                          brc_status *st);

#endif /* BRC_INTERNAL_H */
