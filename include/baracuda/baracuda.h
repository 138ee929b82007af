/* baracuda — GPU ops for ML frameworks through one plan-based C API.
 *
 * This header is the manual. Everything public is declared here or in the family headers it
 * includes at the end. Conventions that hold for every function unless its comment says
 * otherwise:
 *
 *  - Every function returns a brc_status. On failure a thread-local message naming the call,
 *    the native error code and the object is available from brc_last_error(); the first error
 *    of a call wins and cleanup never overwrites it.
 *  - Out-parameters are written on every path: NULL (or 0) on failure.
 *  - Pointers passed in are borrowed for the duration of the call; descriptors are copied.
 *    Strings returned by the library are owned by the object they came from and live as long as
 *    it does (or, for static strings, forever).
 *  - brc_*_destroy(NULL) is a no-op.
 *  - Nothing reachable from this API aborts the process.
 *
 * Thread safety: contexts and plans may be shared between threads. Plan creation is
 * thread-safe (concurrent creators of one kernel compile it once). Running a plan is
 * thread-safe, stream-ordered, never allocates device memory, never synchronizes, and is safe
 * under CUDA graph capture.
 *
 * Added in 0.1.0 unless stated otherwise.
 */
#ifndef BARACUDA_H
#define BARACUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BRC_BUILDING_LIBRARY) && !defined(BRC_STATIC_DEFINE)
#define BRC_API __attribute__((visibility("default")))
#else
#define BRC_API
#endif

/* ---- Version ---------------------------------------------------------------------------- */

#define BRC_VERSION_MAJOR 0
#define BRC_VERSION_MINOR 1
#define BRC_VERSION_PATCH 0
/* One integer that orders versions: major * 10000 + minor * 100 + patch. */
#define BRC_VERSION (BRC_VERSION_MAJOR * 10000 + BRC_VERSION_MINOR * 100 + BRC_VERSION_PATCH)

/* The version of the library actually loaded, as BRC_VERSION encodes it. A program can compare
 * it with the BRC_VERSION it was compiled against; the major numbers must match. */
BRC_API int brc_version(void);
/* "0.1.0" */
BRC_API const char *brc_version_string(void);

/* ---- Status codes ------------------------------------------------------------------------- */

/* X(NAME, number, message). Numbers are frozen: new codes are appended, none is renumbered. */
#define BRC_STATUS_LIST(X)                                                                       \
    X(OK, 0, "success")                                                                          \
    X(INVALID_ARGUMENT, 1, "an argument or descriptor field is invalid")                         \
    X(UNSUPPORTED, 2, "the combination of kind, dtype, layout or target is not supported")       \
    X(OUT_OF_MEMORY, 3, "a host allocation failed")                                              \
    X(LIBRARY_NOT_FOUND, 4, "a required NVIDIA library could not be loaded")                     \
    X(NO_DEVICE, 5, "no CUDA driver or device is available to this operation")                   \
    X(COMPILE_FAILED, 6, "run-time compilation (NVRTC) failed")                                  \
    X(LINK_FAILED, 7, "linking (nvJitLink) failed")                                              \
    X(CUDA_ERROR, 8, "a CUDA driver call failed")                                                \
    X(CACHE_ERROR, 9, "the kernel cache could not be used")                                      \
    X(INTERNAL, 10, "an internal invariant failed (a bug in baracuda)")                          \
    X(MISALIGNED, 11, "a pointer is not aligned as the operation requires")                      \
    X(WRONG_PLAN, 12, "the plan belongs to another op family or was made offline")

typedef enum brc_status {
#define BRC_X_(name, num, msg) BRC_STATUS_##name = num,
    BRC_STATUS_LIST(BRC_X_)
#undef BRC_X_
} brc_status;

/* "BRC_STATUS_INVALID_ARGUMENT"; "BRC_STATUS_UNKNOWN" for a number not in the table. */
BRC_API const char *brc_status_name(brc_status s);
/* A one-line English description of the code; never NULL. */
BRC_API const char *brc_status_string(brc_status s);

/* The message of the last failed call on this thread, e.g.
 *   "nvrtcCompileProgram: NVRTC_ERROR_COMPILATION (unary(kind=exp,dtype=f16) for sm_90)".
 * Empty string when the last call succeeded. Valid until the next baracuda call on this
 * thread. */
BRC_API const char *brc_last_error(void);
/* The full NVRTC or nvJitLink log of the last failed compilation on this thread (empty if
 * none). Same lifetime as brc_last_error(). */
BRC_API const char *brc_last_jit_log(void);

/* ---- Data types ----------------------------------------------------------------------------- */

/* X(NAME, number, short name, size in bytes). Numbers are frozen. */
#define BRC_DTYPE_LIST(X)                                                                        \
    X(F32, 0, "f32", 4)                                                                          \
    X(F64, 1, "f64", 8)                                                                          \
    X(F16, 2, "f16", 2)                                                                          \
    X(BF16, 3, "bf16", 2)                                                                        \
    X(FP8E4M3, 4, "fp8e4m3", 1)                                                                  \
    X(FP8E5M2, 5, "fp8e5m2", 1)                                                                  \
    X(I8, 6, "i8", 1)                                                                            \
    X(U8, 7, "u8", 1)                                                                            \
    X(I16, 8, "i16", 2)                                                                          \
    X(I32, 9, "i32", 4)                                                                          \
    X(I64, 10, "i64", 8)                                                                         \
    X(U32, 11, "u32", 4)                                                                         \
    X(BOOL, 12, "bool", 1)

typedef enum brc_dtype {
#define BRC_X_(name, num, str, size) BRC_##name = num,
    BRC_DTYPE_LIST(BRC_X_)
#undef BRC_X_
    BRC_DTYPE_COUNT_ = 13
} brc_dtype;

/* Bytes per element; 0 for a value that is not a dtype. */
BRC_API size_t brc_dtype_size(brc_dtype t);
/* "bf16"; "?" for a value that is not a dtype. */
BRC_API const char *brc_dtype_name(brc_dtype t);
/* 1 for f32 f64 f16 bf16 fp8e4m3 fp8e5m2, else 0. */
BRC_API int brc_dtype_is_float(brc_dtype t);
/* 1 for i8 u8 i16 i32 i64 u32, else 0 (bool is not an integer here). */
BRC_API int brc_dtype_is_integer(brc_dtype t);

/* ---- Tensor descriptors --------------------------------------------------------------------- */

#define BRC_MAX_RANK 8

/* A strided view. shape[i] >= 0; strides are in elements (not bytes), may be negative, and 0
 * means the dimension is broadcast (every index reads one element). Entries at i >= rank are
 * ignored. A rank-0 descriptor is a scalar (one element). */
typedef struct brc_tensor_desc {
    brc_dtype dtype;
    int32_t rank;
    int64_t shape[BRC_MAX_RANK];
    int64_t strides[BRC_MAX_RANK];
} brc_tensor_desc;

/* Fills *d as a dense row-major (C-order) tensor of the given shape. shape may be NULL when
 * rank is 0. Fails (INVALID_ARGUMENT) for rank outside 0..8 or a negative size. */
BRC_API brc_status brc_tensor_desc_contiguous(brc_tensor_desc *d, brc_dtype dtype, int32_t rank,
                                              const int64_t *shape);
/* The number of elements (product of the shape), or -1 if the descriptor is invalid or the
 * product overflows int64. */
BRC_API int64_t brc_tensor_desc_numel(const brc_tensor_desc *d);

/* ---- Streams -------------------------------------------------------------------------------- */

/* A CUDA stream: a CUstream or a cudaStream_t, passed as it is. NULL is the legacy default
 * stream of the context. */
typedef struct CUstream_st *brc_stream;

/* ---- Contexts ------------------------------------------------------------------------------- */

typedef struct brc_context brc_context;

/* Options for brc_context_create. Always initialize with BRC_CONTEXT_OPTS_INIT so that fields
 * added later get their defaults. */
typedef struct brc_context_opts {
    size_t struct_size; /* sizeof(brc_context_opts) as the caller was compiled */
    /* The CUDA device ordinal to bind, or -1 for an offline context (see arch). */
    int device;
    /* Offline contexts only: the target to compile for, "sm_80", "sm_90", "sm_90a" ... An
     * offline context needs no driver and no GPU: it selects and compiles plans (filling the
     * cache) but cannot run them (runs fail with BRC_STATUS_WRONG_PLAN). Ignored when device
     * >= 0. The string is copied. */
    const char *arch;
    /* Read-only cache files (made by `baracuda export`), ':'-separated, searched in order
     * after the user cache and after those BARACUDA_CACHE_PATH names, for this context's
     * selects. A file that is missing or not a cache is skipped with one warning. Copied. */
    const char *cache_files;
} brc_context_opts;

#define BRC_CONTEXT_OPTS_INIT {sizeof(brc_context_opts), 0, NULL, NULL}

/* Creates a context. With opts->device >= 0 it retains that device's primary CUDA context
 * (the one the CUDA runtime and PyTorch use), so pointers and streams of those frameworks work
 * as they are. opts may be NULL (device 0).
 * Errors: LIBRARY_NOT_FOUND (no libcuda), NO_DEVICE (no such device), CUDA_ERROR,
 * INVALID_ARGUMENT (bad arch string, struct_size too small), OUT_OF_MEMORY. */
BRC_API brc_status brc_context_create(const brc_context_opts *opts, brc_context **out);
/* Destroys a context. Plans made from it must be destroyed first. */
BRC_API void brc_context_destroy(brc_context *ctx);
/* The compile target of the context: "sm_90". Owned by the context. */
BRC_API const char *brc_context_arch(const brc_context *ctx);
/* 1 if the context is bound to a device (can run plans), 0 if offline. */
BRC_API int brc_context_has_device(const brc_context *ctx);

/* ---- Plans ---------------------------------------------------------------------------------- */

/* A selected, compiled, immutable operation. Made by a family's brc_<family>_plan function,
 * run by that family's typed brc_<family>_run function, destroyed with brc_plan_destroy. */
typedef struct brc_plan brc_plan;

typedef enum brc_backend {
    BRC_BACKEND_AUTO = 0,    /* let the library choose */
    BRC_BACKEND_BESPOKE = 1, /* a kernel compiled by baracuda */
    BRC_BACKEND_LIBRARY = 2  /* an NVIDIA library (cuBLASLt, cuDNN, ...) */
} brc_backend;

/* Preferences that steer selection; NULL means all defaults. Initialize with
 * BRC_PLAN_PREFS_INIT. */
typedef struct brc_plan_prefs {
    size_t struct_size;
    brc_backend backend;
    /* Elementwise: force the general strided kernel even where the operands are contiguous
     * (the fast path is otherwise chosen by structure). For tests and benchmarks. */
    int force_strided;
    /* Elements per vector access on the contiguous path; 0 chooses 16 bytes' worth. Must be a
     * power of two such that a vector is at most 16 bytes. */
    int vector_width;
    /* GEMM (added in 0.2.0; a caller compiled against 0.1 gets the defaults): allow_tf32 = 1
     * lets f32 GEMMs use TF32 tensor cores (default IEEE f32); autotune = 1 times cuBLASLt's
     * candidate algorithms at plan time instead of taking its heuristic's first, 0 (default)
     * and -1 do not; max_workspace bounds the workspace a plan may ask for (0: 32 MiB). */
    int allow_tf32;
    int autotune;
    size_t max_workspace;
} brc_plan_prefs;

#define BRC_PLAN_PREFS_INIT {sizeof(brc_plan_prefs), BRC_BACKEND_AUTO, 0, 0, 0, 0, 0}

/* Destroys a plan (NULL is a no-op). Not while a run of it is being enqueued on another
 * thread; enqueued GPU work may still be in flight (the kernel code stays loaded for the life
 * of the process). */
BRC_API void brc_plan_destroy(brc_plan *plan);
/* Bytes of device workspace a run needs (the caller allocates it); 0 for most plans. */
BRC_API size_t brc_plan_workspace_size(const brc_plan *plan);
/* What was selected, e.g. "bespoke:unary<kind=exp,f16->f16,contig,vec=8>@sm_90". Owned by the
 * plan. */
BRC_API const char *brc_plan_sku(const brc_plan *plan);
/* The canonical descriptor: "unary(kind=exp,dtype=f16,layout=contig)". The same string is
 * used in errors, logs, manifests and benchmark rows. Owned by the plan. */
BRC_API const char *brc_plan_descriptor(const brc_plan *plan);

/* ---- Cache ---------------------------------------------------------------------------------- */

/* Where the kernel cache lives for this process: $BARACUDA_CACHE_DIR, else
 * $XDG_CACHE_HOME/baracuda, else $HOME/.cache/baracuda. BARACUDA_CACHE_DISABLE=1 turns the
 * disk cache off. Returns a static string ("" when disabled). */
BRC_API const char *brc_cache_dir(void);

/* Counters of this process since start (for tests, benchmarks and the CLI). */
typedef struct brc_jit_stats {
    uint64_t memory_hits; /* kernel found in the in-process table */
    uint64_t disk_hits;   /* kernel loaded from the disk cache */
    uint64_t compiles;    /* kernels compiled by NVRTC */
    uint64_t bad_rows;    /* cache rows found corrupt and deleted */
    double compile_ms;    /* total NVRTC + nvJitLink time */
} brc_jit_stats;

BRC_API void brc_jit_stats_get(brc_jit_stats *out);

/* ---- Warming: plans named by descriptors and manifests --------------------------------------- */

/* Selects the plan a canonical descriptor names ("unary(kind=gelu,dtype=f16,layout=contig)",
 * the string brc_plan_descriptor prints), so its kernels are compiled or loaded into the
 * cache, then releases it. Works in offline contexts. Keys may come in any order and keys at
 * their defaults may be left out. Errors: INVALID_ARGUMENT ("column 7: unknown key 'dtyp' for
 * unary"), UNSUPPORTED (a kind/dtype pair the family does not have), and the compile errors. */
BRC_API brc_status brc_warm(brc_context *ctx, const char *descriptor);
/* Warms every descriptor of a manifest file (format: docs/manifest-format.md). The whole file
 * is parsed first; a syntax error ("path:line:column: ...") stops before anything is compiled.
 * Otherwise every line is warmed and the first failure is returned ("path:line: ..."). Setting
 * BARACUDA_RECORD=path makes the library append each plan it selects to that manifest. */
BRC_API brc_status brc_warm_manifest(brc_context *ctx, const char *path);

#ifdef __cplusplus
}
#endif

#include "baracuda/elementwise.h"
#include "baracuda/rows.h"
#include "baracuda/channel_norm.h"
#include "baracuda/loss.h"
#include "baracuda/reduce.h"
#include "baracuda/scan.h"
#include "baracuda/gemm.h"
#include "baracuda/movement.h"
#include "baracuda/random.h"
#include "baracuda/indexing.h"
#include "baracuda/select.h"
#include "baracuda/search.h"
#include "baracuda/attention.h"
#include "baracuda/sort.h"

#endif /* BARACUDA_H */
