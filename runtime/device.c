/* Contexts: a device's retained primary CUDA context and its compile target, or an offline
 * target alone (for compiling and warming caches on machines without a GPU). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool brc__arch_parse(const char *arch, int *major, int *minor, bool *accel) {
    if (!arch || strncmp(arch, "sm_", 3) != 0) return false;
    const char *p = arch + 3;
    int digits = 0, v = 0;
    while (p[digits] >= '0' && p[digits] <= '9') v = v * 10 + (p[digits++] - '0');
    if (digits < 2 || digits > 3) return false;
    const char *rest = p + digits;
    if (*rest != '\0' && !(rest[0] == 'a' && rest[1] == '\0') && !(rest[0] == 'f' && rest[1] == '\0'))
        return false;
    *major = v / 10;
    *minor = v % 10;
    *accel = *rest != '\0';
    return *major >= 5;
}

static void context_free(brc_context *c) {
    brc__gemm_context_release(c);
    pthread_mutex_destroy(&c->lt_mu);
    free(c->cache_files);
    free(c);
}

brc_status brc_context_create(const brc_context_opts *opts, brc_context **out) {
    brc__error_clear();
    if (!out) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_context_create: out is NULL");
    *out = NULL;
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    if (opts) {
        if (opts->struct_size < offsetof(brc_context_opts, arch) + sizeof(const char *))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_context_create: opts->struct_size %zu too small (initialize with "
                              "BRC_CONTEXT_OPTS_INIT)", opts->struct_size);
        o.device = opts->device;
        o.arch = opts->arch;
        if (opts->struct_size >= offsetof(brc_context_opts, cache_files) + sizeof(const char *))
            o.cache_files = opts->cache_files;
    }
    brc_context *c = calloc(1, sizeof *c);
    if (!c) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_context_create: out of memory");
    c->device = -1;
    pthread_mutex_init(&c->lt_mu, NULL);
    if (o.cache_files && *o.cache_files && !(c->cache_files = strdup(o.cache_files))) {
        free(c);
        return brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_context_create: out of memory");
    }

    if (o.device < 0) {
        int major, minor;
        bool accel;
        if (!brc__arch_parse(o.arch, &major, &minor, &accel)) {
            context_free(c);
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_context_create: offline context needs an arch like \"sm_90\", got \"%s\"",
                              o.arch ? o.arch : "(null)");
        }
        snprintf(c->arch, sizeof c->arch, "%s", o.arch);
        c->sm_major = major;
        c->sm_minor = minor;
        *out = c;
        return BRC_STATUS_OK;
    }

    const brc__cu_api *cu = brc__cu();
    if (!cu) {
        context_free(c);
        return brc__error(BRC_STATUS_LIBRARY_NOT_FOUND, "brc_context_create: no driver");
    }
    int count = 0;
    CUresult r = cu->cuDeviceGetCount(&count);
    if (r == CUDA_SUCCESS && o.device >= count) {
        context_free(c);
        return brc__error(BRC_STATUS_NO_DEVICE, "brc_context_create: device %d requested, %d present",
                          o.device, count);
    }
    if (r == CUDA_SUCCESS) r = cu->cuDeviceGet(&c->cu_device, o.device);
    if (r == CUDA_SUCCESS)
        r = cu->cuDeviceGetAttribute(&c->sm_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, c->cu_device);
    if (r == CUDA_SUCCESS)
        r = cu->cuDeviceGetAttribute(&c->sm_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, c->cu_device);
    if (r == CUDA_SUCCESS)
        r = cu->cuDeviceGetAttribute(&c->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, c->cu_device);
    if (r == CUDA_SUCCESS) r = cu->cuDevicePrimaryCtxRetain(&c->cu_ctx, c->cu_device);
    if (r != CUDA_SUCCESS) {
        context_free(c);
        return brc__error(BRC_STATUS_CUDA_ERROR, "brc_context_create: %s (device %d)", brc__cu_errname(r),
                          o.device);
    }
    c->device = o.device;
    snprintf(c->arch, sizeof c->arch, "sm_%d%d", c->sm_major, c->sm_minor);
    *out = c;
    return BRC_STATUS_OK;
}

void brc_context_destroy(brc_context *ctx) {
    if (!ctx) return;
    brc__gemm_context_release(ctx); /* while its CUDA context is still retained */
    if (ctx->device >= 0) {
        const brc__cu_api *cu = brc__cu();
        if (cu) cu->cuDevicePrimaryCtxRelease(ctx->cu_device);
    }
    context_free(ctx);
}

const char *brc_context_arch(const brc_context *ctx) { return ctx ? ctx->arch : ""; }

int brc_context_has_device(const brc_context *ctx) { return ctx && ctx->device >= 0; }

brc_status brc__ctx_enter(const brc_context *ctx, bool *pushed) {
    *pushed = false;
    const brc__cu_api *cu = brc__cu();
    if (!cu) return BRC_STATUS_LIBRARY_NOT_FOUND;
    CUcontext cur = NULL;
    cu->cuCtxGetCurrent(&cur);
    if (cur == ctx->cu_ctx) return BRC_STATUS_OK;
    CUresult r = cu->cuCtxPushCurrent(ctx->cu_ctx);
    if (r != CUDA_SUCCESS) return brc__error(BRC_STATUS_CUDA_ERROR, "cuCtxPushCurrent: %s", brc__cu_errname(r));
    *pushed = true;
    return BRC_STATUS_OK;
}

void brc__ctx_leave(bool pushed) {
    if (!pushed) return;
    CUcontext dummy;
    const brc__cu_api *cu = brc__cu();
    if (cu) cu->cuCtxPopCurrent(&dummy);
}
