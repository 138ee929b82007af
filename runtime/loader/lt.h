/* The cuBLASLt function table, filled by the loader (dlopen, never a link dependency) and used
 * by the GEMM family. The toolkit header provides the types only. */
#ifndef BRC_LOADER_LT_H
#define BRC_LOADER_LT_H

#include <cublasLt.h>

#include "../internal.h"

#define BRC__LT_FNS(X)                                                                           \
    X(cublasLtCreate)                                                                            \
    X(cublasLtDestroy)                                                                           \
    X(cublasLtGetVersion)                                                                        \
    X(cublasLtGetStatusName)                                                                     \
    X(cublasLtMatmulDescInit_internal)                                                           \
    X(cublasLtMatmulDescSetAttribute)                                                            \
    X(cublasLtMatrixLayoutInit_internal)                                                         \
    X(cublasLtMatrixLayoutSetAttribute)                                                          \
    X(cublasLtMatmulPreferenceInit_internal)                                                     \
    X(cublasLtMatmulPreferenceSetAttribute)                                                      \
    X(cublasLtMatmulAlgoGetHeuristic)                                                            \
    X(cublasLtMatmulAlgoCheck)                                                                   \
    X(cublasLtMatmul)

typedef struct brc__lt_api {
#define BRC__X(fn) __typeof__(&fn) fn;
    BRC__LT_FNS(BRC__X)
#undef BRC__X
    size_t version; /* cublasLtGetVersion(): 130100 for 13.1.0 */
} brc__lt_api;

/* Loads libcublasLt once. NULL with the error set (LIBRARY_NOT_FOUND, naming the sonames tried
 * and dlerror) when it cannot be loaded. */
BRC__INTERNAL const brc__lt_api *brc__lt(void);
/* "CUBLAS_STATUS_NOT_SUPPORTED" (or the number when the library cannot name it). */
BRC__INTERNAL const char *brc__lt_errname(cublasStatus_t s);

#endif
