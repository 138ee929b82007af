/* Function tables of NVRTC and nvJitLink, shared by the loader (which fills them) and the JIT
 * (which calls them). The toolkit headers provide the types only. */
#ifndef BRC_LOADER_LIBS_H
#define BRC_LOADER_LIBS_H

#define NVJITLINK_NO_INLINE /* the header's inline wrappers would call the linked symbols */
#include <nvJitLink.h>
#include <nvrtc.h>

#include "../internal.h"

#define BRC__NVRTC_FNS(X)                                                                        \
    X(nvrtcVersion)                                                                              \
    X(nvrtcGetErrorString)                                                                       \
    X(nvrtcGetNumSupportedArchs)                                                                 \
    X(nvrtcGetSupportedArchs)                                                                    \
    X(nvrtcCreateProgram)                                                                        \
    X(nvrtcDestroyProgram)                                                                       \
    X(nvrtcCompileProgram)                                                                       \
    X(nvrtcGetProgramLogSize)                                                                    \
    X(nvrtcGetProgramLog)                                                                        \
    X(nvrtcGetCUBINSize)                                                                         \
    X(nvrtcGetCUBIN)                                                                             \
    X(nvrtcGetPTXSize)                                                                           \
    X(nvrtcGetPTX)                                                                               \
    X(nvrtcAddNameExpression)                                                                    \
    X(nvrtcGetLoweredName)

struct brc__nvrtc_api {
#define BRC__X(fn) __typeof__(&fn) fn;
    BRC__NVRTC_FNS(BRC__X)
#undef BRC__X
    int major, minor;
};

/* nvJitLink exports versioned names (__nvJitLinkCreate_13_0); the loader tries the suffixes of
 * the supported majors. */
typedef nvJitLinkResult (*brc__jl_create_fn)(nvJitLinkHandle *, uint32_t, const char *const *);
typedef nvJitLinkResult (*brc__jl_destroy_fn)(nvJitLinkHandle *);
typedef nvJitLinkResult (*brc__jl_add_data_fn)(nvJitLinkHandle, nvJitLinkInputType, const void *,
                                               size_t, const char *);
typedef nvJitLinkResult (*brc__jl_complete_fn)(nvJitLinkHandle);
typedef nvJitLinkResult (*brc__jl_size_fn)(nvJitLinkHandle, size_t *);
typedef nvJitLinkResult (*brc__jl_get_fn)(nvJitLinkHandle, void *);
typedef nvJitLinkResult (*brc__jl_log_fn)(nvJitLinkHandle, char *);
typedef nvJitLinkResult (*brc__jl_version_fn)(unsigned int *, unsigned int *);

struct brc__jitlink_api {
    brc__jl_create_fn create;
    brc__jl_destroy_fn destroy;
    brc__jl_add_data_fn add_data;
    brc__jl_complete_fn complete;
    brc__jl_size_fn cubin_size;
    brc__jl_get_fn cubin;
    brc__jl_size_fn ptx_size;
    brc__jl_get_fn ptx;
    brc__jl_size_fn error_log_size;
    brc__jl_log_fn error_log;
    brc__jl_version_fn version;
    unsigned major, minor;
};

#endif
