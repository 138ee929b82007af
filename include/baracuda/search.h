/* baracuda — search and count family: searchsorted, bucketize, histc, histogram (explicit bin
 * edges), bincount.
 *
 * Operands are brc_tensor_desc with any strides (negative included; stride 0 broadcasts an input;
 * the output must not overlap itself).
 *
 *   kind          operands                                  semantics (PyTorch name)
 *   searchsorted  sorted [K] (1-D, shared by every value)    y[i] = the insertion point of x[i] in its
 *                 or [..., K] (leading dims = x's leading    sequence: left (right = 0) the first j with
 *                 dims); x (values) any shape (rank >= 1     !(s[j] < v) as !(s[j] >= v) is false, i.e.
 *                 for N-D sorted); sorter (use_sorter = 1,   the count of elements < v; right = 1: the
 *                 i32 / i64, sorted's shape) gives the       count of elements <= v (torch.searchsorted
 *                 sorting order of an unsorted sequence;     with side / right, sorter, out_int32).
 *                 y = x's shape, i64 or i32
 *   bucketize     sorted = boundaries [K]; x any shape;      torch.bucketize(x, boundaries, right) ==
 *                 y = x's shape, i64 or i32                  searchsorted(boundaries, x, right)
 *   histc         x any shape; y [bins]                      torch.histc(x, bins, min, max): element v
 *                                                            counts in bin (int)(((v - min) * bins) /
 *                                                            (max - min)) (computed in f32, f64 for f64,
 *                                                            as torch's CUDA kernel; bin == bins is the
 *                                                            last bin) when min <= v <= max; others and
 *                                                            NaN are ignored. min == max: the range of
 *                                                            the data, found on the device (below).
 *   histogram     x any shape; sorted = edges [B + 1]        torch.histogram(x, bins=edges, weight):
 *                 (increasing); weight (use_weight, x's      v counts in bin upper_bound(edges, v) - 1,
 *                 shape and dtype); y [B]                    the last edge inclusive; v outside
 *                                                            [edges[0], edges[B]] and NaN ignored.
 *   bincount      x 1-D integers; weight (use_weight,        y[b] = the count (or weight sum) of the
 *                 x's shape); y [L] (L >= 0, the caller's    elements equal to b. Values < 0 or >= L
 *                 output length: max(x) + 1 or minlength)    are dropped and set err (below).
 *
 * Dtypes. searchsorted / bucketize: sorted and x of one dtype among f32 f64 f16 bf16 i8 u8 i16
 * i32 i64 (halves compare in f32, exactly); y i64 or i32. histc / histogram: x (edges, weight,
 * y) f32 f64 f16 bf16, all of one dtype; counts accumulate as integers (weights: f32, f64 for
 * f64) and are converted to y's dtype once. bincount: x i8 u8 i16 i32 i64; y i64 or i32 without
 * weight; with weight (f32 f64 f16 bf16 i32 i64) y is f32 or f64 (torch: f32 for f32 weights,
 * f64 otherwise) and accumulates in y's dtype.
 *
 * NaN. searchsorted / bucketize use torch's comparisons, so a NaN value gets K (both sides); a
 * sequence is expected sorted without NaN (with NaNs at its end, as torch.sort leaves them, the
 * insertion point of a finite value is that of torch's plain binary search only where the
 * staged search agrees with it: leave NaN out of sequences). histc and histogram ignore NaN
 * elements. histc with min == max (the data's range): a NaN or an infinity in x makes the range
 * non-finite; torch raises an error there, this sets err and leaves y all zeros. A range of one
 * value v becomes [v - 1, v + 1] as in torch.
 *
 * Errors on the device (capture-safe, no synchronization): when a run is given err (a device
 * int32, 4-byte aligned) the kernels store 1 there for a bincount value outside [0, L), a sorter
 * entry outside [0, K) (that value's result is then unspecified) and histc's non-finite data
 * range. They never clear it: zero it before the run. Without err those conditions are silent
 * (the elements are still dropped).
 *
 * Determinism. Counts are integers added in shared memory and summed in a fixed order:
 * deterministic. Float weights (histogram, bincount with f32 / f64 / f16 / bf16 weights)
 * accumulate with atomic adds in an unspecified order: brc_search_plan_deterministic(plan) == 0
 * and the SKU ends in "+atomic". Integer weights into an f64 y are exact, so deterministic too
 * while the sums stay below 2^53.
 *
 * Algorithms (docs/search.md). searchsorted with one shared sequence (1-D, no sorter) is staged:
 * each CTA keeps the last element of every block of step elements of the sequence (at most 8192
 * splitters, 4096 of 8 bytes) in shared memory, searches them, then finishes in log2(step) probes
 * of the sequence itself, four values a thread in lockstep; otherwise a plain binary search per
 * value. Counting: a privatized histogram in shared memory (replicated
 * per group of warps when the bins are few, against contention) when the bins fit in 48 KiB,
 * flushed as per-CTA partial rows into the workspace and summed in a fixed order; global atomics
 * into a workspace accumulator otherwise; dense inputs are read in 16-byte vectors.
 *
 * Workspace: brc_plan_workspace_size(plan) bytes (0 for searchsorted / bucketize), 256-byte
 * aligned, contents need not be initialized.
 * SKU: bespoke:search<histc,f32->f32,priv,repl=16,vec>@sm_90. Canonical descriptors:
 * search(op=searchsorted,dtype=f32,out=i64,right=0,sorter=none,staged=1),
 * search(op=histc,dtype=f32,mode=priv,repl=16,range=given,contig=1),
 * search(op=bincount,dtype=i32,y=f64,weight=f32,mode=priv,repl=8,contig=1).
 *
 * Running never allocates, never synchronizes and is safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_SEARCH_H
#define BARACUDA_SEARCH_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_SEARCH_KINDS(X)                                                                      \
    X(SEARCHSORTED, searchsorted, 0)                                                             \
    X(BUCKETIZE, bucketize, 1)                                                                   \
    X(HISTC, histc, 2)                                                                           \
    X(HISTOGRAM, histogram, 3)                                                                   \
    X(BINCOUNT, bincount, 4)

typedef enum brc_search_kind {
#define BRC_X_(N, n, num) BRC_SEARCH_##N = num,
    BRC_SEARCH_KINDS(BRC_X_)
#undef BRC_X_
    BRC_SEARCH_KIND_COUNT_ = 5
} brc_search_kind;

/* Operands by kind: see the table above; descriptors and fields a kind does not use are ignored. */
typedef struct brc_search_desc {
    brc_search_kind kind;
    brc_tensor_desc sorted; /* searchsorted: the sequence; bucketize: boundaries; histogram: edges */
    brc_tensor_desc x;      /* values (searchsorted, bucketize), the input (histc, histogram, bincount) */
    brc_tensor_desc weight; /* histogram, bincount with use_weight = 1 */
    brc_tensor_desc sorter; /* searchsorted with use_sorter = 1 */
    brc_tensor_desc y;      /* the output */
    int right;              /* searchsorted, bucketize: 1 = side "right" */
    int use_weight;         /* histogram, bincount */
    int use_sorter;         /* searchsorted */
    int64_t bins;           /* histc: >= 1 (y.shape[0]) */
    double min, max;        /* histc: min <= max, finite; min == max takes the data's range */
} brc_search_desc;

/* Select a plan. prefs may be NULL; prefs.force_strided takes the plain (unstaged) search and
 * the global-atomic counting (for tests). Errors: INVALID_ARGUMENT (NULL pointers, a kind out of
 * range, ranks, shapes or dtypes that do not match the table, flags not 0 or 1, bins < 1, min >
 * max or a non-finite min / max, an output that overlaps itself, a bincount length >= 2^31),
 * UNSUPPORTED (a dtype the op does not have), and the compile errors. */
BRC_API brc_status brc_search_plan(brc_context *ctx, const brc_search_desc *desc, const brc_plan_prefs *prefs,
                                   brc_plan **out);

/* 1 when a run's result is the same bits whatever the order of atomic updates, 0 when it may
 * vary (float weights); -1 for a plan that is not a search plan. */
BRC_API int brc_search_plan_deterministic(const brc_plan *plan);

/* Enqueue on stream. Device pointers as the kind uses them (others ignored, may be NULL): sorted
 * (sequence / boundaries / edges), x, weight, sorter, y; workspace of workspace_size >=
 * brc_plan_workspace_size(plan) bytes (256-byte aligned) when that is not 0; err NULL or a device
 * int32. y must not be any input. Errors: WRONG_PLAN, INVALID_ARGUMENT (a NULL pointer the kind
 * needs, a workspace too small, y aliasing an input), MISALIGNED (err, workspace), CUDA_ERROR. */
BRC_API brc_status brc_search_run(const brc_plan *plan, const void *sorted, const void *x, const void *weight,
                                  const void *sorter, void *y, void *workspace, size_t workspace_size, int32_t *err,
                                  brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_SEARCH_H */
