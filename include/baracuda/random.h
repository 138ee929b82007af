/* baracuda — random family: uniform, normal, bernoulli, dropout (and dropout's backward) from a
 * counter-based generator, Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11).
 *
 * Reproducibility. Every value is a pure function of (seed, offset, its logical index): the
 * strides, the launch shape (grid, threads) and the GPU do not change a single bit. The logical
 * index i of an element counts in row-major order over the output's shape (whatever its
 * strides). Element i draws from Philox block b = i / P (P values a block, below) at lane i % P:
 *   counter = (lo32(offset + b), hi32(offset + b), 0, 0), key = (lo32(seed), hi32(seed)),
 * which gives four 32-bit words w0..w3. A run consumes brc_random_counters(plan) = ceil(n / P)
 * counters (n the element count): a framework advances its offset by that much between calls
 * (as PyTorch advances its philox offset), so consecutive calls never reuse a counter.
 *
 *   op          dtype (y)              P                 the value of element i (lane j)
 *   uniform     f32 f16 bf16           4 (f64: 2)        u = (w_j >> 8) 2^-24 (f64: the 53 high bits of
 *                                                        (w_2j, w_2j+1) over 2^53); y = lo + (hi - lo) u,
 *                                                        computed as fl(fl((hi - lo) u) + lo) in the compute
 *                                                        type (f32; f64 for f64), rounded to the dtype; a
 *                                                        value that rounds to hi or above is lo instead, so
 *                                                        y is in [lo, hi).
 *   normal      f32 f16 bf16           4 (f64: 2)        Box-Muller on pairs (u1, u2): u1 in (0, 1] from one
 *                                                        word ((w >> 8) + 1) 2^-24 (f64: two words, 53 bits),
 *                                                        u2 in [0, 1) as for uniform; r = sqrt(-2 log u1),
 *                                                        z0 = r cos(2 pi u2) (lane 2k), z1 = r sin(2 pi u2)
 *                                                        (lane 2k+1); y = mean + std z (unfused). f32 and
 *                                                        halves take sin / cos from the hardware
 *                                                        approximations (|error| ~7e-7 before the scale).
 *   bernoulli   f32 f64 f16 bf16 u8    4                 y = (w_j 2^-32 < p) ? 1 : 0 (exactly, in f64); p the
 *               bool i32 i64                             scalar a, or the tensor p (f32 f64 f16 bf16, y's
 *                                                        shape, any strides) at the same logical index.
 *   dropout     f32 f64 f16 bf16       4                 keep = w_j 2^-32 >= p; mask = keep (u8 or bool, 1 =
 *                                                        kept); y = keep ? x * scale : 0, scale = 1 / (1 - p)
 *                                                        rounded to the compute type (f32; f64 for f64), one
 *                                                        rounding of the product. p = 1 drops everything (y =
 *                                                        0). A dropped element is 0 even where x is NaN or
 *                                                        inf (PyTorch multiplies by the mask: NaN stays NaN).
 *   dropout_backward  (no counters)      dx = mask ? dy * scale : 0 with the forward's p (the same scale).
 *   multinomial x = probabilities [C] or [R, C] (f32 f64 f16 bf16, any strides; non-negative,
 *               need not sum to 1); y = [ns] or [R, ns] (i64 or i32): num_samples = ns category
 *               indices a row (torch.multinomial). With replacement (replacement = 1), draw s of
 *               row r takes word w = lane i % 4 of block i / 4, i = r ns + s: target t = w 2^-32
 *               S (in f64, S the row's total), the category c with prefix(c - 1) <= t <
 *               prefix(c) over the row's inclusive scan (accumulated in f32, f64 for f64, in a
 *               fixed order, so the same bits every run); a zero-probability category is never
 *               drawn. Without replacement (replacement = 0; 1 <= ns <= min(C, 1024)): the
 *               exponential race (Gumbel top-k): category c of row r gets u from lane i % 4 of
 *               block i / 4 (i = r C + c, u = (w >> 8) 2^-24), E = -log1p(-u), key = E / p_c in
 *               f32 (p_c = 0: +inf); the ns smallest keys, in ascending order (ties by category)
 *               are the draws in order. A row with a negative, NaN or infinite probability, a
 *               zero total, or (without replacement) fewer than ns positive categories gets -1
 *               in every draw (torch raises an error there). Counters: ceil(R ns / 4) with
 *               replacement, ceil(R C / 4) without.
 *
 * Scalars: uniform a = lo, b = hi (lo < hi, both finite; hi - lo must be finite in the compute
 * type); normal a = mean, b = std (std >= 0, finite); bernoulli a = p in [0, 1] (when no p
 * tensor); dropout a = p in [0, 1]. They are run-time values in the plan (not in the kernel).
 *
 * Seed and offset come with each run (brc_philox): by value, or through a device pointer to
 * {seed, offset} (two u64) that the kernel reads when it runs, so a captured CUDA graph replays
 * with whatever the caller wrote there before the replay. The kernel never writes them:
 * advancing the offset between runs (by brc_random_counters(plan)) is the caller's.
 *
 * Operands: brc_tensor_desc of rank 0..8, any strides (negative included; outputs must not
 * overlap themselves, stride 0 is allowed for inputs only), the same shape for y, x, p, mask.
 * Specialization: contig (every operand dense row-major, P-element vector stores) or strided
 * (merged dims, one Philox block a thread either way); multinomial: one CTA a row (with
 * replacement: a shared-memory scan of at most 4096 slot sums (2048 for f64), a slot holding
 * ceil(C / 4096) categories (rounded up to a multiple of 4 when above 1), then a binary search a
 * draw; without: a 4-pass radix select of the
 * keys, recomputed from the counters each pass). SKU:
 * bespoke:random<uniform,f32,contig,per=4>@sm_90. Canonical descriptors:
 * random(op=dropout,dtype=bf16,mask=u8,layout=contig), random(op=bernoulli,dtype=u8,p=f32,
 * layout=strided), random(op=normal,dtype=f32,layout=contig),
 * random(op=multinomial,dtype=f32,out=i64,replacement=1). Docs: docs/random.md.
 *
 * Running never allocates, never synchronizes and is safe under stream capture.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_RANDOM_H
#define BARACUDA_RANDOM_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, name, number). Numbers are frozen. */
#define BRC_RANDOM_KINDS(X)                                                                      \
    X(UNIFORM, uniform, 0)                                                                       \
    X(NORMAL, normal, 1)                                                                         \
    X(BERNOULLI, bernoulli, 2)                                                                   \
    X(DROPOUT, dropout, 3)                                                                       \
    X(DROPOUT_BACKWARD, dropout_backward, 4)                                                     \
    X(MULTINOMIAL, multinomial, 5)

typedef enum brc_random_kind {
#define BRC_X_(N, n, num) BRC_RANDOM_##N = num,
    BRC_RANDOM_KINDS(BRC_X_)
#undef BRC_X_
    BRC_RANDOM_KIND_COUNT_ = 6
} brc_random_kind;

/* Operands by kind (descriptors a kind does not use are ignored):
 *   uniform, normal:   y
 *   bernoulli:         y; p when use_p = 1
 *   dropout:           x, y, mask
 *   dropout_backward:  x (dy), mask, y (dx)
 *   multinomial:       x (the probabilities), y (the draws)                                    */
typedef struct brc_random_desc {
    brc_random_kind kind;
    brc_tensor_desc x, y, p, mask;
    int use_p;    /* bernoulli: 1 reads the probabilities from p, 0 uses the scalar a */
    double a, b;  /* the scalars of the table above */
    /* multinomial (added in 0.2.0, after the fields above): draws a row, and 1 / 0 for with /
     * without replacement. */
    int64_t num_samples;
    int replacement;
} brc_random_desc;

/* Where a run takes its seed and offset. With device == NULL the kernel uses seed and offset;
 * otherwise device points to two u64 in device memory, {seed, offset}, read when the kernel
 * runs (seed and offset are then ignored). device must be 8-byte aligned. */
typedef struct brc_philox {
    uint64_t seed, offset;
    const uint64_t *device;
} brc_philox;

/* Select a plan. prefs may be NULL (prefs.force_strided takes the strided kernel for dense
 * operands: the same values, for tests). Errors: INVALID_ARGUMENT (NULL pointers, a kind out of
 * range, a shape mismatch, an output that overlaps itself, a scalar out of its range, use_p not
 * 0 or 1, a mask dtype other than u8 / bool; multinomial: x of rank other than 1 / 2, C = 0,
 * num_samples < 1, more than min(C, 1024) without replacement, replacement not 0 or 1, y not
 * i64 / i32 or not [R, num_samples]), UNSUPPORTED (a dtype the kind does not have), and
 * the compile errors. */
BRC_API brc_status brc_random_plan(brc_context *ctx, const brc_random_desc *desc, const brc_plan_prefs *prefs,
                                   brc_plan **out);

/* Philox counters one run of the plan consumes: ceil(elements / P) (multinomial: above; 0 for
 * dropout_backward and for a plan that is not a random plan). Advance the offset by this much between runs. */
BRC_API uint64_t brc_random_counters(const brc_plan *plan);

/* Enqueue on stream. Device pointers: x (dropout: the input; dropout_backward: dy), p
 * (bernoulli with use_p), y (the output; dropout_backward: dx), mask (dropout: written;
 * dropout_backward: read). Pointers a kind does not use are ignored and may be NULL. philox
 * (host pointer, read during the call) is required for every kind but dropout_backward. In
 * place: y may be x (dropout, dropout_backward) with the same strides. Errors: WRONG_PLAN,
 * INVALID_ARGUMENT (a NULL pointer the kind needs, philox->device misaligned, forbidden
 * aliasing), CUDA_ERROR. Any alignment of the data pointers works (the vector path is taken
 * only for aligned ones). */
BRC_API brc_status brc_random_run(const brc_plan *plan, const void *x, const void *p, void *y, void *mask,
                                  const brc_philox *philox, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_RANDOM_H */
