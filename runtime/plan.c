/* The generic plan object: a small vtable, the SKU and canonical descriptor strings, the
 * workspace size; and the preference defaults. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const brc_plan_prefs default_prefs = BRC_PLAN_PREFS_INIT;

int brc__knob(const char *name, int lo, int hi, int dflt) {
    const char *e = getenv(name);
    if (!e || !*e) return dflt;
    char *end;
    long v = strtol(e, &end, 10);
    return !*end && v >= lo && v <= hi ? (int)v : dflt;
}

const brc_plan_prefs *brc__prefs_or_default(const brc_plan_prefs *p, brc_status *st) {
    *st = BRC_STATUS_OK;
    if (!p) return &default_prefs;
    if (p->struct_size < offsetof(brc_plan_prefs, vector_width) + sizeof(int)) {
        *st = brc__error(BRC_STATUS_INVALID_ARGUMENT,
                         "plan prefs: struct_size %zu too small (initialize with BRC_PLAN_PREFS_INIT)",
                         p->struct_size);
        return NULL;
    }
    if (p->struct_size >= sizeof *p) return p;
    /* A caller compiled against an older header: its fields, then the defaults. */
    static _Thread_local brc_plan_prefs widened;
    widened = default_prefs;
    memcpy(&widened, p, p->struct_size);
    widened.struct_size = sizeof widened;
    return &widened;
}

brc_status brc__plan_new(const brc_context *ctx, brc__family fam, const brc__plan_vt *vt,
                         size_t impl_size, brc_plan **out) {
    *out = NULL;
    brc_plan *p = calloc(1, sizeof *p);
    void *impl = impl_size ? calloc(1, impl_size) : NULL;
    if (!p || (impl_size && !impl)) {
        free(p);
        free(impl);
        return brc__error(BRC_STATUS_OUT_OF_MEMORY, "plan: out of memory");
    }
    p->vt = vt;
    p->family = fam;
    p->ctx = ctx;
    p->impl = impl;
    *out = p;
    return BRC_STATUS_OK;
}

void brc_plan_destroy(brc_plan *plan) {
    if (!plan) return;
    if (plan->vt && plan->vt->destroy) plan->vt->destroy(plan);
    free(plan->impl);
    free(plan->sku);
    free(plan->descriptor);
    free(plan);
}

size_t brc_plan_workspace_size(const brc_plan *plan) { return plan ? plan->workspace : 0; }
const char *brc_plan_sku(const brc_plan *plan) { return plan && plan->sku ? plan->sku : ""; }
const char *brc_plan_descriptor(const brc_plan *plan) {
    return plan && plan->descriptor ? plan->descriptor : "";
}

brc_status brc__plan_check_run(const brc_plan *plan, brc__family fam, const char *fn) {
    if (!plan) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: plan is NULL", fn);
    if (plan->family != fam)
        return brc__error(BRC_STATUS_WRONG_PLAN, "%s: plan %s belongs to another op family", fn,
                          brc_plan_descriptor(plan));
    if (plan->ctx->device < 0)
        return brc__error(BRC_STATUS_WRONG_PLAN, "%s: plan %s was made in an offline context (%s)", fn,
                          brc_plan_descriptor(plan), plan->ctx->arch);
    return BRC_STATUS_OK;
}

brc_status brc__launch(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned block, unsigned smem, bool pdl,
                       void **args, brc_stream stream) {
    CUresult r;
    if (pdl) {
        CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION};
        attr.value.programmaticStreamSerializationAllowed = 1;
        CUlaunchConfig cfg = {.gridDimX = grid, .gridDimY = 1, .gridDimZ = 1, .blockDimX = block, .blockDimY = 1,
                              .blockDimZ = 1, .sharedMemBytes = smem, .hStream = (CUstream)stream, .attrs = &attr,
                              .numAttrs = 1};
        r = brc__cu()->cuLaunchKernelEx(&cfg, fn, args, NULL);
    } else {
        r = brc__cu()->cuLaunchKernel(fn, grid, 1, 1, block, 1, 1, smem, (CUstream)stream, args, NULL);
    }
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc__need_ptr(const void *p, size_t align, const char *fn, const char *what, const brc_plan *plan) {
    if (!p) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (%s)", fn, what, plan->descriptor);
    if ((uintptr_t)p % align)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: %s %p is not aligned to %zu bytes (%s)", fn, what, p, align,
                          plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc__run_start(const brc_plan *plan, brc__family fam, const char *fn, void *ws, size_t ws_size) {
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, fam, fn);
    if (st) return st;
    if (plan->workspace == 0) return BRC_STATUS_OK;
    if (ws_size < plan->workspace)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: workspace of %zu bytes is smaller than the %zu required (%s)",
                          fn, ws_size, plan->workspace, plan->descriptor);
    if (!ws) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: workspace is NULL (%s)", fn, plan->descriptor);
    if ((uintptr_t)ws % BRC__WS_ALIGN)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: workspace %p is not aligned to %d bytes (%s)", fn, ws,
                          BRC__WS_ALIGN, plan->descriptor);
    return BRC_STATUS_OK;
}

brc_status brc__plan_start(brc_context *ctx, const void *desc, brc_plan **out, const char *fn) {
    brc__error_clear();
    if (out) *out = NULL;
    if (!ctx || !desc || !out)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          !ctx ? "ctx" : !desc ? "desc" : "out");
    return BRC_STATUS_OK;
}

void brc__plan_publish(brc_plan *p, char *descriptor, char *sku) {
    p->descriptor = descriptor;
    p->sku = sku;
    brc__record(descriptor);
}
