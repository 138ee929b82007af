/* A small example of the API: gelu (erf) of 8 f32 values on device 0, printed. */
#include <stdio.h>

#include "internal.h"

int main(void) {
    brc_context *ctx = NULL;
    if (brc_context_create(NULL, &ctx) != BRC_STATUS_OK) {
        fprintf(stderr, "example: %s\n", brc_last_error());
        return 1;
    }
    const brc__cu_api *cu = brc__cu();
    cu->cuCtxPushCurrent(ctx->cu_ctx);
    float x[8] = {-3, -1.5f, -0.5f, 0, 0.25f, 1, 2, 4}, y[8];
    int64_t n = 8;
    brc_unary_desc d = {.kind = BRC_UNARY_GELU_ERF};
    brc_tensor_desc_contiguous(&d.x, BRC_F32, 1, &n);
    d.y = d.x;
    brc_plan *plan = NULL;
    CUdeviceptr dx, dy;
    if (brc_unary_plan(ctx, &d, NULL, &plan) != BRC_STATUS_OK || cu->cuMemAlloc(&dx, sizeof x) ||
        cu->cuMemAlloc(&dy, sizeof y) || cu->cuMemcpyHtoD(dx, x, sizeof x) ||
        brc_unary_run(plan, (void *)dx, (void *)dy, NULL, NULL) != BRC_STATUS_OK || cu->cuMemcpyDtoH(y, dy, sizeof y)) {
        fprintf(stderr, "example: %s\n", brc_last_error());
        return 1;
    }
    printf("%s\n", brc_plan_sku(plan));
    for (int i = 0; i < 8; i++) printf("gelu_erf(%5.2f) = %.6f\n", (double)x[i], (double)y[i]);
    brc_plan_destroy(plan);
    brc_context_destroy(ctx);
    return 0;
}
