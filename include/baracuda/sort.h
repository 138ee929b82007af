/* baracuda — sort family: sort / argsort along one dim of a strided tensor, unique,
 * unique_consecutive and randperm.
 *
 *   kind                operands                                 semantics (PyTorch name)
 *   sort                x [rank 0..8, any strides], values       values, indices = torch.sort(x, dim,
 *                       (x's dtype and shape) and / or indices   descending, stable=True); argsort is sort
 *                       (i64 or i32, x's shape); any strides     with indices only (torch.argsort(stable=True))
 *   unique              x [rank 0..8, any strides], flattened    torch.unique(x, sorted=True, return_inverse,
 *                                                                return_counts) (no dim argument)
 *   unique_consecutive  as unique, without sorting               torch.unique_consecutive(x) (no dim)
 *   randperm            indices [n] (rank 1, i64 or i32, any        torch.randperm(n): a uniformly random
 *                       stride): the output; x and values unused    permutation of 0..n-1 from Philox
 *
 * randperm. Element i (0 <= i < n) takes the key w_(i % 4) >> (32 - B) of Philox4x32-10 block
 * i / 4 (random.h's counter layout: counter (lo32(offset + i / 4), hi32(offset + i / 4), 0, 0),
 * key (lo32(seed), hi32(seed)), words w0..w3), B = 8 ceil(ceil(log2 n) / 8) bits (at least 8);
 * the positions are sorted by key (stable), and each run of equal keys is then shuffled
 * (Fisher-Yates, s = m-1 down to 1, the run of m starting at sorted position j drawing
 * r = (w (s + 1)) >> 32 from the words w0..w3 of blocks offset + ceil(n / 4) + j upward, a word a
 * step). So the permutation is a pure
 * function of (seed, offset, n), whatever the launch shape or GPU; a run consumes at most
 * ceil(n / 4) + n counters (advance the offset by that much between runs). Seed and offset come
 * by value or from device memory (brc_philox, random.h), read when the kernels run
 * (capture-safe). docs/sort.md gives the exact mapping, which the GPU test models bit for bit.
 *
 * Order. Always stable: equal keys keep their original order, descending included (the order is
 * the reverse of the ascending one, ties excepted). Floats order as PyTorch does: NaN after +inf
 * ascending and first descending (NaNs among themselves keep their order); -0.0 and +0.0 are
 * equal (their original order is kept); the values written are the input's bits (NaN payloads
 * and zero signs kept). Integers compare as integers; bool as u8 (0 < 1).
 *
 * Dtypes: f32 f64 f16 bf16 i8 u8 i16 i32 i64 u32 bool (keys; values move as bits). Indices: i64,
 * or i32 when the sorted dim is shorter than 2^31 (always: rows are limited to 2^31 - 1 keys).
 *
 * unique / unique_consecutive. The input is read in row-major order whatever its strides. Outputs
 * are contiguous, sized for the worst case (n = the number of elements of x): values [n] (x's
 * dtype), inverse [n] (i64: the group of each element of x in row-major order, i.e. inverse has
 * x's shape, contiguous), counts [n] (i64), and num, one device int64 that receives the number u
 * of unique values (groups); only values[0..u) and counts[0..u) are written, the rest is left
 * as it was. Nothing is synchronized: read num when convenient (it is capture-safe). NaNs are
 * never equal (each NaN is its own group, as in PyTorch); -0.0 and +0.0 are one group, whose
 * value is the bits of its first element in (stable) sorted order. inverse and counts are
 * optional (NULL at run time).
 *
 * Algorithms (docs/sort.md). Rows of 33 to 1024 keys of up to 4 bytes: a bitonic sort of (key,
 * position) pairs in registers, a warp a row (shuffles across lanes). Other rows of up to 4096
 * keys (2048 for 8-byte keys): a bitonic sort in shared memory, one CTA for one or several rows.
 * Longer rows: an LSB radix sort with 8-bit
 * digits (1, 2, 4 or 8 passes by key size), onesweep: one read of the keys counts the digits of
 * every pass, then a kernel a pass whose CTAs take tiles in order and find their digit offsets
 * by decoupled look-back (passes whose digit is one value for a whole row are skipped; the
 * order of counting, look-back and ranking differs when there are few tiles: tiles=few), keys
 * turned into order-preserving unsigned bits on the first read, u32 positions that become i64
 * indices on the last write. unique sorts the flattened input by the radix path into the workspace, then
 * counts the group starts per chunk, scans them and writes the groups.
 * randperm is that radix sort (8-bit digits, B / 8 passes) with the keys made on the fly in its
 * first read; no x is read.
 * SKU: bespoke:sort<sort,f32,asc,warp,p=1024,nt=128>@sm_90,
 * bespoke:sort<sort,f64,asc,small,p=1024,e=2048,nt=512>@sm_90 or
 * bespoke:sort<sort,f32,desc,radix,passes=4,tile=4096,ballots>@sm_90 (",few" with few tiles),
 * bespoke:sort<unique,f32,radix,passes=4>@sm_90, bespoke:sort<randperm,radix,bits=24,tile=4096>@sm_90.
 * Canonical descriptors: sort(op=sort,dtype=f32,desc=0,path=warp,p=1024),
 * sort(op=sort,dtype=f32,desc=0,path=small,p=1024),
 * sort(op=sort,dtype=bf16,desc=1,path=radix), sort(op=sort,dtype=f32,desc=0,path=radix,tiles=few),
 * sort(op=unique,dtype=i64),
 * sort(op=unique_consecutive,dtype=f32), sort(op=randperm).
 *
 * Determinism: every output is a function of the input alone (no atomics decide an order).
 * Running never allocates and never synchronizes; it needs brc_plan_workspace_size(plan) bytes
 * of workspace (256-byte aligned) and is safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_SORT_H
#define BARACUDA_SORT_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_SORT_KINDS(X)                                                                        \
    X(SORT, sort, 0)                                                                             \
    X(UNIQUE, unique, 1)                                                                         \
    X(UNIQUE_CONSECUTIVE, unique_consecutive, 2)                                                 \
    X(RANDPERM, randperm, 3)

typedef enum brc_sort_kind {
#define BRC_X_(N, n, num) BRC_SORT_##N = num,
    BRC_SORT_KINDS(BRC_X_)
#undef BRC_X_
    BRC_SORT_KIND_COUNT_ = 4
} brc_sort_kind;

typedef struct brc_sort_desc {
    brc_sort_kind kind;
    brc_tensor_desc x; /* randperm: ignored */
    /* sort: the outputs wanted (rank 0 with dtype ignored when unwanted: see want_*). */
    brc_tensor_desc values, indices; /* randperm: indices is the output, values ignored */
    int want_values, want_indices; /* sort: at least one; argsort = indices only */
    int dim;                       /* sort: -rank <= dim < rank (0 or -1 for rank 0) */
    int descending;                /* sort: 0 or 1 */
} brc_sort_desc;

/* Select a plan. prefs may be NULL. Errors: INVALID_ARGUMENT (NULL pointers, a kind out of range,
 * dim out of range, descending not 0 / 1, no output wanted, values or indices not of x's shape,
 * values not of x's dtype, indices not i32 / i64, an output whose strides make it overlap itself,
 * a sorted dim of 2^31 keys or more, more than 2^31 - 1 elements for unique; randperm: indices
 * not of rank 1, not i32 / i64, more than 2^31 - 1 elements, or overlapping itself),
 * UNSUPPORTED (fp8 dtypes), and the compile errors. */
BRC_API brc_status brc_sort_plan(brc_context *ctx, const brc_sort_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);

/* Enqueue a sort. x, and values / indices as the plan wants them (others ignored, may be NULL);
 * workspace of at least brc_plan_workspace_size(plan) bytes (256-byte aligned; NULL when 0).
 * Pointers are aligned to their element size. Outputs must not overlap x or each other (the same
 * pointer is refused; partial overlaps are undefined). Errors: WRONG_PLAN (not a sort plan, a
 * unique plan, or made offline), INVALID_ARGUMENT (a NULL pointer the plan needs, workspace too
 * small, values and indices or an output and x one pointer), MISALIGNED, CUDA_ERROR. */
BRC_API brc_status brc_sort_run(const brc_plan *plan, const void *x, void *values, void *indices, void *workspace,
                                size_t workspace_size, brc_stream stream);

/* Enqueue a unique / unique_consecutive: values [n], inverse [n] (i64, or NULL), counts [n] (i64,
 * or NULL) and num (one i64) as described above. Errors as brc_sort_run. */
BRC_API brc_status brc_unique_run(const brc_plan *plan, const void *x, void *values, int64_t *inverse,
                                  int64_t *counts, int64_t *num, void *workspace, size_t workspace_size,
                                  brc_stream stream);

/* Enqueue a randperm: out [n] (the plan's indices: i64 or i32, its stride), philox as in random.h
 * (seed and offset by value, or device points to {seed, offset}). Errors: WRONG_PLAN (not a
 * randperm plan, or made offline), INVALID_ARGUMENT (out NULL while n > 0, philox NULL, workspace
 * too small), MISALIGNED (out, workspace, philox->device), CUDA_ERROR. */
BRC_API brc_status brc_randperm_run(const brc_plan *plan, void *out, const brc_philox *philox, void *workspace,
                                    size_t workspace_size, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_SORT_H */
