/* baracuda — select family: topk, kthvalue and median along one dim (radix select on the device).
 *
 * x is a brc_tensor_desc of rank 0..8 with any strides (negative included; stride 0 repeats an
 * element); dim follows PyTorch (-rank <= dim < rank; a rank-0 x is one row of one element and
 * takes dim 0 or -1). A row is the line of x along dim; every other coordinate names a row.
 *
 *   kind      outputs (values: x's dtype; indices: i64 or i32)       semantics (PyTorch name)
 *   topk      x's shape with shape[dim] = k (0 <= k <= n)             the k largest (largest = 1) or
 *                                                                     smallest (largest = 0) of each
 *                                                                     row and their positions along
 *                                                                     dim (torch.topk)
 *   kthvalue  x's shape with shape[dim] = 1 (keepdim), or x's shape   the k-th smallest (1 <= k <= n)
 *             without dim                                             and its position (torch.kthvalue)
 *   median    as kthvalue                                             the lower median: kthvalue with
 *                                                                     k = (n + 1) / 2; a row holding a
 *                                                                     NaN gives its first NaN
 *                                                                     (torch.median(dim))
 *
 * Order. Every row is ordered by (value, position): NaN is larger than everything (all NaNs are
 * equal), -0.0 equals +0.0, and among equal values the lower position comes first in both
 * directions. topk returns the first k of that order taken from the requested end: ascending
 * (value, position) for largest = 0, descending value then ascending position for largest = 1.
 * So at the boundary the ties with the lowest positions are the ones returned (deterministic),
 * and kthvalue returns the k-th element of the ascending order (of equal values, the position
 * that rank falls on: for [5, 1, 5, 5] and k = 3 it is position 2). Values are the elements of x
 * as they are stored (a NaN's payload, -0.0 kept).
 * sorted = 1 writes the k results in that order; sorted = 0 writes the same k elements in
 * ascending position order (also deterministic; PyTorch leaves that order unspecified).
 *
 * Dtypes: f32 f64 f16 bf16 i32 i64 i16 i8 u8. Rows of at most 2^31 - 1 elements.
 * Limits: sorted topk needs k <= 4096 (the final sort is in one CTA's shared memory); larger k
 * is UNSUPPORTED for now (sort it with the sort family, or take sorted = 0).
 *
 * Algorithm (docs/select.md): radix select on order-preserving unsigned keys, 8 bits a pass
 * (2 passes for halves, 4 for 32-bit types, 8 for 64-bit), then one pass in position order that
 * writes the elements below the threshold and the first ties; sorted = 1 then sorts the k
 * (key, position) pairs with a bitonic network in shared memory. Many rows: a CTA a row, no
 * workspace. Few long rows (too few to fill the GPU): each row is split over several CTAs that
 * combine their digit histograms through the workspace, one launch a pass; everything
 * data-dependent stays on the device (no host synchronization).
 * SKU: bespoke:select<topk,f32,i64,largest,sorted>@sm_90 (the kernel; how a plan splits its rows
 * shows in its workspace size).
 * Canonical descriptors: select(op=topk,dtype=f32,index=i64,largest=1,sorted=1),
 * select(op=kthvalue,dtype=bf16,index=i64), select(op=median,dtype=f64,index=i32).
 *
 * Deterministic: yes (no atomics whose order reaches a result; counting atomics only). Running
 * never allocates, never synchronizes and is safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_SELECT_H
#define BARACUDA_SELECT_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_SELECT_KINDS(X)                                                                      \
    X(TOPK, topk, 0)                                                                             \
    X(KTHVALUE, kthvalue, 1)                                                                     \
    X(MEDIAN, median, 2)

typedef enum brc_select_kind {
#define BRC_X_(N, n, num) BRC_SELECT_##N = num,
    BRC_SELECT_KINDS(BRC_X_)
#undef BRC_X_
    BRC_SELECT_KIND_COUNT_ = 3
} brc_select_kind;

typedef struct brc_select_desc {
    brc_select_kind kind;
    brc_tensor_desc x, values, indices;
    int dim;
    int64_t k;   /* topk: 0..n; kthvalue: 1..n; median: ignored */
    int largest; /* topk: 1 the largest, 0 the smallest */
    int sorted;  /* topk: 1 in order, 0 in ascending position order */
} brc_select_desc;

/* Select a plan. prefs may be NULL (no preference applies yet). Errors: INVALID_ARGUMENT (NULL
 * pointers, a kind out of range, dim out of range, k out of range, largest / sorted not 0 or 1,
 * outputs whose rank, shape or dtype do not match the table, an index dtype other than i32 /
 * i64, an output whose elements overlap), UNSUPPORTED (a dtype not listed, rows longer than
 * 2^31 - 1, sorted topk with k > 4096), and the compile errors. */
BRC_API brc_status brc_select_plan(brc_context *ctx, const brc_select_desc *desc, const brc_plan_prefs *prefs,
                                   brc_plan **out);

/* Enqueue on stream. x, values and indices are device pointers (borrowed for the call); none
 * may be another's buffer. workspace: brc_plan_workspace_size(plan) bytes, 16-byte aligned (NULL
 * when that is 0); its contents need not be initialized and are scratch. Errors: WRONG_PLAN,
 * INVALID_ARGUMENT (a NULL pointer, aliasing, a workspace too small), MISALIGNED (a pointer not
 * aligned to its element or the workspace to 16 bytes), CUDA_ERROR. */
BRC_API brc_status brc_select_run(const brc_plan *plan, const void *x, void *values, void *indices, void *workspace,
                                  size_t workspace_size, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_SELECT_H */
