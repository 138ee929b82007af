/* Opens libcuda, NVRTC and nvJitLink with dlopen on first use and resolves their entry points
 * into function tables. libbaracuda has no link-time dependency on any NVIDIA library. Also
 * finds the NVRTC / nvJitLink files without loading them, to identify the toolchain cheaply. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libs.h"
#include "lt.h"

static const char *const cuda_sonames[] = {"libcuda.so.1", "libcuda.so", NULL};
static const char *const nvrtc_sonames[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", NULL};
static const char *const jitlink_sonames[] = {"libnvJitLink.so.13", "libnvJitLink.so.12",
                                              "libnvJitLink.so", NULL};
static const char *const lt_sonames[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so", NULL};

/* ---- locating a library file the way the dynamic loader would ------------------------------- */

static bool is_elf64_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    unsigned char id[EI_NIDENT];
    bool ok = read(fd, id, sizeof id) == (ssize_t)sizeof id && memcmp(id, ELFMAG, SELFMAG) == 0 &&
              id[EI_CLASS] == ELFCLASS64;
    close(fd);
    return ok;
}

static bool try_dir(const char *dir, size_t dlen, const char *soname, char *out, size_t cap) {
    if (dlen == 0) return false;
    int n = snprintf(out, cap, "%.*s/%s", (int)dlen, dir, soname);
    return n > 0 && (size_t)n < cap && is_elf64_file(out);
}

/* /etc/ld.so.cache in glibc's "glibc-ld.so.cache1.1" format (optionally after the old
 * "ld.so-1.7.0" table): a header, fixed-size entries, string offsets from the new header. */
static bool ldcache_find(const char *soname, char *out, size_t cap) {
    int fd = open("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) == 0 && st.st_size > 64) {
        size_t len = (size_t)st.st_size;
        const char *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            const char *hdr = map;
            size_t off = 0;
            if (memcmp(map, "ld.so-1.7.0", 11) == 0) {
                uint32_t nold;
                memcpy(&nold, map + 12, 4);
                off = (16 + (size_t)nold * 12 + 7) & ~(size_t)7;
                hdr = off < len ? map + off : map;
            }
            if (off + 48 <= len && memcmp(hdr, "glibc-ld.so.cache1.1", 20) == 0) {
                uint32_t nlibs;
                memcpy(&nlibs, hdr + 20, 4);
                size_t hlen = len - off;
                for (uint32_t i = 0; i < nlibs && !found; i++) {
                    size_t e = 48 + (size_t)i * 24;
                    if (e + 24 > hlen) break;
                    int32_t flags;
                    uint32_t key, value;
                    memcpy(&flags, hdr + e, 4);
                    memcpy(&key, hdr + e + 4, 4);
                    memcpy(&value, hdr + e + 8, 4);
                    if (key >= hlen || value >= hlen) continue;
                    if ((flags & 0xff00) != 0x0300) continue; /* FLAG_X8664_LIB64 */
                    const char *k = hdr + key, *v = hdr + value;
                    if (!memchr(k, 0, hlen - key) || !memchr(v, 0, hlen - value)) continue;
                    if (strcmp(k, soname) == 0 && strlen(v) < cap && is_elf64_file(v)) {
                        strcpy(out, v);
                        found = true;
                    }
                }
            }
            munmap((void *)map, len);
        }
    }
    close(fd);
    return found;
}

static bool locate(const char *soname, char *out, size_t cap) {
    const char *lp = getenv("LD_LIBRARY_PATH");
    while (lp && *lp) {
        const char *c = strchr(lp, ':');
        size_t n = c ? (size_t)(c - lp) : strlen(lp);
        if (try_dir(lp, n, soname, out, cap)) return true;
        lp = c ? c + 1 : NULL;
    }
    if (ldcache_find(soname, out, cap)) return true;
    static const char *const dirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                       "/lib64", "/usr/lib64", "/usr/local/cuda/lib64", NULL};
    for (int i = 0; dirs[i]; i++)
        if (try_dir(dirs[i], strlen(dirs[i]), soname, out, cap)) return true;
    return false;
}

/* The GNU build id of an ELF file, as hex, from its PT_NOTE segments; else size and mtime. */
static void file_identity(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "?");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    Elf64_Ehdr eh;
    struct stat st;
    if (fstat(fd, &st) == 0) snprintf(out, cap, "size=%lld,mtime=%lld", (long long)st.st_size,
                                      (long long)st.st_mtime);
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
        for (int i = 0; i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph)
                break;
            if (ph.p_type != PT_NOTE || ph.p_filesz > 4096) continue;
            unsigned char buf[4096];
            if (pread(fd, buf, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz) continue;
            for (size_t o = 0; o + 12 <= ph.p_filesz;) {
                uint32_t namesz, descsz, type;
                memcpy(&namesz, buf + o, 4);
                memcpy(&descsz, buf + o + 4, 4);
                memcpy(&type, buf + o + 8, 4);
                size_t name_o = o + 12, desc_o = name_o + ((namesz + 3u) & ~3u);
                if (desc_o + descsz > ph.p_filesz) break;
                if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(buf + name_o, "GNU", 4) == 0 &&
                    descsz * 2 + 1 <= cap) {
                    for (uint32_t j = 0; j < descsz; j++) snprintf(out + 2 * j, 3, "%02x", buf[desc_o + j]);
                    close(fd);
                    return;
                }
                o = desc_o + ((descsz + 3u) & ~3u);
            }
        }
    }
    close(fd);
}

/* ---- opening ------------------------------------------------------------------------------ */

typedef struct lib_slot {
    pthread_once_t once;
    void *handle;
    char path[512];    /* the file found by locate(), "" if none */
    char tried[256];   /* sonames tried, for messages */
    char dlerr[256];
} lib_slot;

static lib_slot cuda_slot = {PTHREAD_ONCE_INIT, NULL, "", "", ""};
static lib_slot nvrtc_slot = {PTHREAD_ONCE_INIT, NULL, "", "", ""};
static lib_slot jitlink_slot = {PTHREAD_ONCE_INIT, NULL, "", "", ""};
static lib_slot lt_slot = {PTHREAD_ONCE_INIT, NULL, "", "", ""};

/* Opens the first soname that loads. When locate() found the file, it is opened by that path
 * so the identity computed without loading is the identity of what gets loaded. */
static void open_lib(lib_slot *s, const char *const *sonames) {
    for (int i = 0; sonames[i]; i++) {
        size_t used = strlen(s->tried);
        snprintf(s->tried + used, sizeof s->tried - used, "%s%s", used ? ", " : "", sonames[i]);
        char path[512];
        const char *what = locate(sonames[i], path, sizeof path) ? path : sonames[i];
        s->handle = dlopen(what, RTLD_NOW | RTLD_LOCAL);
        if (s->handle) return;
        const char *e = dlerror();
        snprintf(s->dlerr, sizeof s->dlerr, "%s", e ? e : "unknown dlopen error");
    }
}

static void *sym(void *h, const char *name) { return h ? dlsym(h, name) : NULL; }

/* ---- libcuda --------------------------------------------------------------------------------- */

static brc__cu_api cu_api;
static brc_status cu_status = BRC_STATUS_OK;
static char cu_error[1024];

static void cu_init_once(void) {
    /* Tests set BARACUDA_FAKE_NO_DRIVER=1 to take the driverless path on any host. */
    static const char *const fake[] = {"libcuda-absent-for-test.so.1", NULL};
    const char *off = getenv("BARACUDA_FAKE_NO_DRIVER");
    open_lib(&cuda_slot, off && *off == '1' ? fake : cuda_sonames);
    if (!cuda_slot.handle) {
        cu_status = BRC_STATUS_LIBRARY_NOT_FOUND;
        snprintf(cu_error, sizeof cu_error, "dlopen: no CUDA driver library (tried %s): %s",
                 cuda_slot.tried, cuda_slot.dlerr);
        return;
    }
    typedef CUresult (*gpa_fn)(const char *, void **, int, cuuint64_t,
                               CUdriverProcAddressQueryResult *);
    gpa_fn gpa = (gpa_fn)sym(cuda_slot.handle, "cuGetProcAddress_v2");
    if (!gpa) {
        cu_status = BRC_STATUS_LIBRARY_NOT_FOUND;
        snprintf(cu_error, sizeof cu_error,
                 "dlsym: cuGetProcAddress_v2 missing from libcuda (driver older than CUDA 12)");
        return;
    }
#define BRC__X(fn)                                                                               \
    do {                                                                                         \
        void *p = NULL;                                                                          \
        CUdriverProcAddressQueryResult q;                                                        \
        if (gpa(#fn, &p, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &q) != CUDA_SUCCESS || !p) { \
            cu_status = BRC_STATUS_LIBRARY_NOT_FOUND;                                            \
            snprintf(cu_error, sizeof cu_error, "cuGetProcAddress: %s not found in the driver",  \
                     #fn);                                                                       \
            return;                                                                              \
        }                                                                                        \
        memcpy(&cu_api.fn, &p, sizeof p);                                                        \
    } while (0);
    BRC__CU_FNS(BRC__X)
#undef BRC__X
    CUresult r = cu_api.cuInit(0);
    if (r != CUDA_SUCCESS) {
        cu_status = r == CUDA_ERROR_NO_DEVICE ? BRC_STATUS_NO_DEVICE : BRC_STATUS_CUDA_ERROR;
        snprintf(cu_error, sizeof cu_error, "cuInit: %s", brc__cu_errname(r));
    }
}

static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

const brc__cu_api *brc__cu(void) {
    pthread_once(&cu_once, cu_init_once);
    if (cu_status != BRC_STATUS_OK) {
        brc__error(cu_status, "%s", cu_error);
        return NULL;
    }
    return &cu_api;
}

const char *brc__cu_errname(CUresult r) {
    static _Thread_local char buf[48];
    const char *s = NULL;
    if (cu_api.cuGetErrorName && cu_api.cuGetErrorName(r, &s) == CUDA_SUCCESS && s) return s;
    snprintf(buf, sizeof buf, "CUresult %d", (int)r);
    return buf;
}

/* ---- NVRTC and nvJitLink --------------------------------------------------------------------- */

static struct brc__nvrtc_api nvrtc_api;
static bool nvrtc_ok;
static struct brc__jitlink_api jl_api;
static bool jl_ok;
static char nvrtc_error[1024], jl_error[1024];

static void nvrtc_init_once(void) {
    open_lib(&nvrtc_slot, nvrtc_sonames);
    if (!nvrtc_slot.handle) {
        snprintf(nvrtc_error, sizeof nvrtc_error, "dlopen: NVRTC not found (tried %s): %s",
                 nvrtc_slot.tried, nvrtc_slot.dlerr);
        return;
    }
#define BRC__X(fn)                                                                               \
    do {                                                                                         \
        void *p = sym(nvrtc_slot.handle, #fn);                                                   \
        if (!p) {                                                                                \
            snprintf(nvrtc_error, sizeof nvrtc_error, "dlsym: %s missing from NVRTC", #fn);      \
            return;                                                                              \
        }                                                                                        \
        memcpy(&nvrtc_api.fn, &p, sizeof p);                                                     \
    } while (0);
    BRC__NVRTC_FNS(BRC__X)
#undef BRC__X
    nvrtc_api.nvrtcVersion(&nvrtc_api.major, &nvrtc_api.minor);
    nvrtc_ok = true;
}

static void jl_init_once(void) {
    open_lib(&jitlink_slot, jitlink_sonames);
    if (!jitlink_slot.handle) {
        snprintf(jl_error, sizeof jl_error, "dlopen: nvJitLink not found (tried %s): %s",
                 jitlink_slot.tried, jitlink_slot.dlerr);
        return;
    }
    static const char *const suffixes[] = {"_13_0", "_12_0", NULL};
    for (int i = 0; suffixes[i] && !jl_ok; i++) {
        char name[64];
#define BRC__R(field, base)                                                                      \
    snprintf(name, sizeof name, "__%s%s", base, suffixes[i]);                                    \
    void *p_##field = sym(jitlink_slot.handle, name);                                            \
    memcpy(&jl_api.field, &p_##field, sizeof(void *));
        BRC__R(create, "nvJitLinkCreate")
        BRC__R(destroy, "nvJitLinkDestroy")
        BRC__R(add_data, "nvJitLinkAddData")
        BRC__R(complete, "nvJitLinkComplete")
        BRC__R(cubin_size, "nvJitLinkGetLinkedCubinSize")
        BRC__R(cubin, "nvJitLinkGetLinkedCubin")
        BRC__R(ptx_size, "nvJitLinkGetLinkedPtxSize")
        BRC__R(ptx, "nvJitLinkGetLinkedPtx")
        BRC__R(error_log_size, "nvJitLinkGetErrorLogSize")
        BRC__R(error_log, "nvJitLinkGetErrorLog")
#undef BRC__R
        jl_ok = p_create && p_destroy && p_add_data && p_complete && p_cubin_size && p_cubin &&
                p_ptx_size && p_ptx && p_error_log_size && p_error_log;
    }
    void *v = sym(jitlink_slot.handle, "nvJitLinkVersion");
    memcpy(&jl_api.version, &v, sizeof v);
    if (!jl_ok || !v) {
        jl_ok = false;
        snprintf(jl_error, sizeof jl_error,
                 "dlsym: nvJitLink entry points (__nvJitLinkCreate_13_0 / _12_0) not found");
        return;
    }
    jl_api.version(&jl_api.major, &jl_api.minor);
}

static pthread_once_t nvrtc_once = PTHREAD_ONCE_INIT, jl_once = PTHREAD_ONCE_INIT;

const brc__nvrtc_api *brc__nvrtc(void) {
    pthread_once(&nvrtc_once, nvrtc_init_once);
    if (!nvrtc_ok) {
        brc__error(BRC_STATUS_LIBRARY_NOT_FOUND, "%s", nvrtc_error);
        return NULL;
    }
    return &nvrtc_api;
}

const brc__jitlink_api *brc__jitlink(void) {
    pthread_once(&jl_once, jl_init_once);
    if (!jl_ok) {
        brc__error(BRC_STATUS_LIBRARY_NOT_FOUND, "%s", jl_error);
        return NULL;
    }
    return &jl_api;
}

/* ---- cuBLASLt --------------------------------------------------------------------------------- */

static brc__lt_api lt_api;
static bool lt_ok;
static char lt_error[1024];

static void lt_init_once(void) {
    /* Tests set BARACUDA_FAKE_NO_CUBLASLT=1 to see the missing-library path on any host. */
    static const char *const fake[] = {"libcublasLt-absent-for-test.so.13", NULL};
    const char *off = getenv("BARACUDA_FAKE_NO_CUBLASLT");
    open_lib(&lt_slot, off && *off == '1' ? fake : lt_sonames);
    if (!lt_slot.handle) {
        snprintf(lt_error, sizeof lt_error, "dlopen: cuBLASLt not found (tried %s): %s", lt_slot.tried,
                 lt_slot.dlerr);
        return;
    }
#define BRC__X(fn)                                                                               \
    do {                                                                                         \
        void *p = sym(lt_slot.handle, #fn);                                                      \
        if (!p) {                                                                                \
            snprintf(lt_error, sizeof lt_error, "dlsym: %s missing from cuBLASLt", #fn);         \
            return;                                                                              \
        }                                                                                        \
        memcpy(&lt_api.fn, &p, sizeof p);                                                        \
    } while (0);
    BRC__LT_FNS(BRC__X)
#undef BRC__X
    lt_api.version = lt_api.cublasLtGetVersion();
    lt_ok = true;
}

static pthread_once_t lt_once = PTHREAD_ONCE_INIT;

const brc__lt_api *brc__lt(void) {
    pthread_once(&lt_once, lt_init_once);
    if (!lt_ok) {
        brc__error(BRC_STATUS_LIBRARY_NOT_FOUND, "%s", lt_error);
        return NULL;
    }
    return &lt_api;
}

const char *brc__lt_errname(cublasStatus_t s) {
    static _Thread_local char buf[48];
    const char *n = lt_ok ? lt_api.cublasLtGetStatusName(s) : NULL;
    if (n) return n;
    snprintf(buf, sizeof buf, "cublasStatus %d", (int)s);
    return buf;
}

/* ---- toolchain identity ------------------------------------------------------------------------ */

static char toolchain[256];
static pthread_once_t toolchain_once = PTHREAD_ONCE_INIT;
static _Atomic(const char *) toolchain_override;

static void first_found(const char *const *sonames, char *id, size_t cap) {
    char path[512];
    snprintf(id, cap, "none");
    for (int i = 0; sonames[i]; i++) {
        if (locate(sonames[i], path, sizeof path)) {
            file_identity(path, id, cap);
            return;
        }
    }
}

static void toolchain_init_once(void) {
    char a[96], b[96];
    first_found(nvrtc_sonames, a, sizeof a);
    first_found(jitlink_sonames, b, sizeof b);
    snprintf(toolchain, sizeof toolchain, "nvrtc:%s;nvjitlink:%s", a, b);
}

const char *brc__toolchain_id(void) {
    const char *o = toolchain_override;
    if (o) return o;
    pthread_once(&toolchain_once, toolchain_init_once);
    return toolchain;
}

void brc__toolchain_id_override(const char *id) { toolchain_override = id; }
