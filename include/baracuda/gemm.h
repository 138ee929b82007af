/* baracuda — GEMM family: D = act(alpha * op(A) * op(B) + beta * C + bias), through cuBLASLt or,
 * for decode shapes, a bespoke weight-streaming GEMV.
 *
 * Operands are brc_tensor_desc of rank 2 ([rows, cols]) or 3 ([batch, rows, cols]). op(A) is
 * [M, K] and op(B) is [K, N]: with trans_a = 1 the stored A is [K, M] and op(A) its transpose
 * (likewise B). D and C are [M, N]. Every matrix needs a unit stride in one of its two dims
 * (row-major: strides (ld, 1); column-major: (1, ld)); the other stride (ld) is free, so any
 * leading dimension and either order works, per operand. Batch: a rank-3 D gives the batch
 * count; each rank-3 operand has that batch (its stride 0 broadcasts it), a rank-2 A, B, C or
 * bias is shared by every batch (stride 0). D must not overlap itself (nonzero batch stride).
 *
 * Dtypes (A, B -> D; C has D's dtype unless said):
 *   f32 -> f32        IEEE f32 by default; TF32 tensor cores only with prefs.allow_tf32 = 1
 *   f64 -> f64
 *   f16 -> f16 | f32, bf16 -> bf16 | f32       accumulation in f32
 *   fp8e4m3 / fp8e5m2 (not both e5m2) -> f32 | f16 | bf16 | fp8e4m3 | fp8e5m2, sm_89 and newer;
 *                     C is bf16 or f16 when D is fp8; A must be stored K-contiguous and B
 *                     K-contiguous (cuBLASLt's "TN" rule for fp8); per-tensor scales at run
 *   i8 -> i32         int32 accumulation; alpha and beta must be integers
 *
 * Epilogue (applied in this order): alpha * acc + beta * C, + bias[n] (a vector of N added to
 * every row of D, as in F.linear; rank 1 [N], or [batch, N] for a rank-3 D), then act: relu,
 * gelu (erf, exact) or gelu_tanh (the tanh approximation). aux = 1 also writes the activation's
 * input: for gelu / gelu_tanh a matrix of D's shape and dtype (its row stride a multiple of 8
 * elements), for relu a bit mask (u8, [M, bytes] or [batch, M, bytes], row stride a multiple of
 * 16 bytes with 8 * bytes >= N; bit n % 8 of byte n / 8 of row m is set when D[m, n] > 0).
 * Bias and aux need a row-major D (the bias runs along D's rows). gelu (erf) is not a cuBLASLt
 * epilogue: the plan adds one elementwise pass over D after the matmul (the SKU says so).
 *
 * Selection (plan time, never at run):
 *  - cuBLASLt ("library:cublaslt<...>"): its heuristic picks the algorithm within the workspace
 *    limit (prefs.max_workspace, default 32 MiB); with prefs.autotune = 1 a timed search of up
 *    to 8 candidates on random scratch data (each run for ~70 ms, so power-limited shapes are
 *    ranked at their sustained clocks) replaces it when one beats it by more than 2%. The
 *    choice is stored in the cache (table gemm_algos, keyed by the problem, the device and the
 *    cuBLASLt version) so the next process skips the search; a stored choice is re-checked with
 *    cublasLtMatmulAlgoCheck before use.
 *  - GEMV ("bespoke:gemv<...>"): f32, f16 or bf16 with M <= 8 (halves: M <= 16), A stored
 *    K-contiguous (row-major [M, K]) and B stored K-contiguous (B = W^T with W a row-major
 *    [N, K] weight, as F.linear has it), a row-major D, no batch, no aux: W is streamed once
 *    from memory, by tensor cores (mma.m16n8k16: halves, K and leading dimensions multiples of
 *    8; M >= 2 when N >= 8192) or FMAs (f32, halves at M = 1 when N >= 8192, rows not 16-byte
 *    aligned; M <= 8). Chosen by
 *    default there when N and K are at least 256 (measured faster: bench/README.md);
 *    prefs.backend = BRC_BACKEND_LIBRARY forces cuBLASLt, BRC_BACKEND_BESPOKE forces the GEMV
 *    (UNSUPPORTED where it does not apply).
 * Offline contexts validate, compile the GEMV's kernel and choose no cuBLASLt algorithm (that
 * needs the device); their plans cannot run.
 *
 * Canonical descriptor: the column-major problem cuBLASLt sees (a row-major D is computed as
 * D^T = op(B)^T op(A)^T, so m is N there):
 *   gemm(a=bf16,b=bf16,d=bf16,c=none,ta=t,tb=n,m=4096,n=4096,k=4096,lda=4096,ldb=4096,ldd=4096,
 *        batch=1,act=none,bias=none,aux=0,tf32=0,tune=0,path=lt)
 * (docs/gemm.md lists the keys).
 *
 * Running: never allocates, never synchronizes, safe under stream capture; the workspace is the
 * caller's (brc_plan_workspace_size bytes, 256-byte aligned; a smaller one is INVALID_ARGUMENT,
 * never a silent allocation). Pointers must be 16-byte aligned (MISALIGNED otherwise), as the
 * algorithm was chosen for that alignment.
 *
 * Added in 0.2.0.
 */
#ifndef BARACUDA_GEMM_H
#define BARACUDA_GEMM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum brc_gemm_act {
    BRC_GEMM_ACT_NONE = 0,
    BRC_GEMM_ACT_RELU = 1,
    BRC_GEMM_ACT_GELU = 2,      /* x * Phi(x), erf */
    BRC_GEMM_ACT_GELU_TANH = 3, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    BRC_GEMM_ACT_COUNT_ = 4
} brc_gemm_act;

typedef struct brc_gemm_desc {
    size_t struct_size; /* sizeof(brc_gemm_desc): initialize with BRC_GEMM_DESC_INIT */
    brc_tensor_desc a, b, d;
    int trans_a, trans_b; /* 1: op(X) = X^T */
    int use_c;            /* 0: C is not read (beta must be 0 at run) */
    brc_tensor_desc c;
    brc_gemm_act act;
    int use_bias;
    brc_tensor_desc bias; /* [N] or [batch, N], unit stride along N */
    int use_aux;
    brc_tensor_desc aux;  /* see above */
} brc_gemm_desc;

#define BRC_GEMM_DESC_INIT {.struct_size = sizeof(brc_gemm_desc)}

typedef struct brc_gemm_args {
    size_t struct_size; /* sizeof(brc_gemm_args): initialize with BRC_GEMM_ARGS_INIT */
    const void *a, *b, *c; /* c: only with use_c */
    void *d;
    const void *bias; /* only with use_bias */
    void *aux;        /* only with use_aux */
    double alpha, beta;
    /* fp8 only (device f32 scalars, NULL means 1): D = d_scale * (a_scale * b_scale * alpha *
     * A B + beta * C ...); amax_d, when not NULL and D is fp8, receives max |D| before scaling. */
    const float *a_scale, *b_scale, *d_scale;
    float *amax_d;
    void *workspace;
    size_t workspace_size;
} brc_gemm_args;

#define BRC_GEMM_ARGS_INIT {.struct_size = sizeof(brc_gemm_args), .alpha = 1.0}

/* Select a plan. Errors: INVALID_ARGUMENT (NULL pointers, struct_size, a rank other than 2 or 3,
 * shapes that do not chain, a matrix without a unit stride, batch mismatch, an overlapping D,
 * bad bias / aux / C descriptors, act out of range), UNSUPPORTED (a dtype combination not in the
 * table, fp8 before sm_89 or in a layout cuBLASLt refuses, bias / aux with a column-major D, a
 * problem no cuBLASLt algorithm serves, BRC_BACKEND_BESPOKE where the GEMV does not apply),
 * LIBRARY_NOT_FOUND (no cuBLASLt), CUDA_ERROR, and the compile errors (GEMV). */
BRC_API brc_status brc_gemm_plan(brc_context *ctx, const brc_gemm_desc *desc, const brc_plan_prefs *prefs,
                                 brc_plan **out);

/* Enqueue on stream. Errors: WRONG_PLAN, INVALID_ARGUMENT (NULL pointer the plan needs, beta != 0
 * without C, a non-integer alpha / beta for i8, workspace too small or misaligned), MISALIGNED,
 * CUDA_ERROR (cuBLASLt or launch failure, named). */
BRC_API brc_status brc_gemm_run(const brc_plan *plan, const brc_gemm_args *args, brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_GEMM_H */
