/* baracuda — elementwise op family: unary, binary, ternary kinds and casts.
 *
 * Each kind is one line of an X-macro table below. A line gives, in order: the enum suffix,
 * the canonical name (used in descriptors, SKUs, manifests and test names), the frozen enum
 * number, the dtype classes it accepts, the input domain its tests draw from, its typical
 * parameters, the device expression (CUDA C++, in the compute type C of the operands; x, y, z
 * are the inputs, a and b the scalar parameters) and the float64 host reference the tests
 * check it against. The table is the specification: the library generates kernels from the
 * device expression, the test suite checks every line against its reference, and the op
 * matrix in docs/ is generated from it.
 *
 * Semantics decided once for the whole family:
 *  - Halves (f16, bf16) and fp8 compute in f32; f32 in f32; f64 in f64; integers in their own
 *    type (results wrap modulo 2^bits as in C after integer promotion). Results are rounded to
 *    the output dtype once, to nearest even.
 *  - NaN propagates through relu, relu6, clamp, hardtanh, maximum, minimum (as PyTorch);
 *    fmax / fmin ignore a NaN operand.
 *  - round is half to even. remainder is floored (sign of the divisor), fmod truncated (sign of
 *    the dividend); floor_divide is floored.
 *  - affine, addcmul and addcdiv are NOT fused: each product and sum is rounded separately
 *    (as PyTorch's eager composition of mul and add). fma is fused.
 *  - gelu has two kinds, gelu_erf (exact) and gelu_tanh (approximation); there is no "gelu".
 *  - Integer division or remainder by zero is undefined (no trap, unspecified value).
 *  - shl/shr with a count outside [0, bits) give 0, except shr of a negative signed value
 *    which gives -1 (as a shift by bits-1 would).
 *  - Casts: float to integer truncates toward zero and saturates to the integer's range, NaN
 *    gives 0; anything to bool is (x != 0) (NaN is true); bool to anything is 0 or 1; integer to
 *    integer wraps; to fp8 rounds to nearest even and saturates (finite values and infinities
 *    beyond the largest finite value give it, NaN stays NaN); f64 to f16/bf16/fp8 rounds
 *    through f32 (as PyTorch).
 *
 * Layouts: every operand is a brc_tensor_desc. Inputs broadcast to the output by numpy rules
 * (dims aligned on the right; a dim of 1, or a stride of 0, is broadcast). Contiguous operands
 * take a vectorized kernel (16-byte accesses where pointers are aligned); anything else takes
 * the general strided kernel over merged dims.
 *
 * In place: the output may alias an input only when they are the same pointer with the same
 * shape and strides (and dtype size); any other overlap is undefined. A run that receives the
 * same pointer for the output and an input whose layout differs fails with
 * BRC_STATUS_INVALID_ARGUMENT.
 */
#ifndef BARACUDA_ELEMENTWISE_H
#define BARACUDA_ELEMENTWISE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Dtype classes (a kind line lists those it accepts). */
#define BRC_CLS_F64 0x01u
#define BRC_CLS_F32 0x02u
#define BRC_CLS_HALF 0x04u /* f16, bf16 */
#define BRC_CLS_FP8 0x08u  /* fp8e4m3, fp8e5m2 (identity/cast only) */
#define BRC_CLS_SINT 0x10u /* i8 i16 i32 i64 */
#define BRC_CLS_UINT 0x20u /* u8 u32 */
#define BRC_CLS_BOOL 0x40u
#define BRC_CLS_FLOAT (BRC_CLS_F64 | BRC_CLS_F32 | BRC_CLS_HALF)
#define BRC_CLS_INT (BRC_CLS_SINT | BRC_CLS_UINT)
#define BRC_CLS_NUM (BRC_CLS_FLOAT | BRC_CLS_INT)
#define BRC_CLS_ALL (BRC_CLS_NUM | BRC_CLS_BOOL)

/* Test input domains: ANY [-4, 4], NZ [-4, -0.125] u [0.125, 4], POS [0.0625, 8],
 * UNIT (-0.95, 0.95), PROB [0.02, 0.98], GE1 [1, 8], SMALL [-1.2, 1.2]. */
enum { BRC_DOM_ANY, BRC_DOM_NZ, BRC_DOM_POS, BRC_DOM_UNIT, BRC_DOM_PROB, BRC_DOM_GE1,
       BRC_DOM_SMALL };

/* X(NAME, name, number, classes, domain, a, b, "device expression", host reference) */
#define BRC_UNARY_KINDS(X)                                                                       \
    X(NEG, neg, 0, BRC_CLS_FLOAT | BRC_CLS_SINT, BRC_DOM_ANY, 0, 0, "-x", -x)                  \
    X(ABS, abs, 1, BRC_CLS_FLOAT | BRC_CLS_SINT, BRC_DOM_ANY, 0, 0, "brc::abs_(x)", fabs(x))   \
    X(SIGN, sign, 2, BRC_CLS_FLOAT | BRC_CLS_SINT, BRC_DOM_ANY, 0, 0, "brc::sign_(x)",          \
      (x > 0 ? 1.0 : x < 0 ? -1.0 : x))                                                          \
    X(RECIPROCAL, reciprocal, 3, BRC_CLS_FLOAT, BRC_DOM_NZ, 0, 0, "C(1) / x", 1.0 / x)          \
    X(SQUARE, square, 4, BRC_CLS_NUM, BRC_DOM_ANY, 0, 0, "x * x", x * x)                       \
    X(SQRT, sqrt, 5, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "sqrt(x)", sqrt(x))                     \
    X(RSQRT, rsqrt, 6, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "rsqrt(x)", 1.0 / sqrt(x))            \
    X(CBRT, cbrt, 7, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "cbrt(x)", cbrt(x))                     \
    X(EXP, exp, 8, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "exp(x)", exp(x))                         \
    X(EXP2, exp2, 9, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "exp2(x)", exp2(x))                     \
    X(EXPM1, expm1, 10, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "expm1(x)", expm1(x))                \
    X(LOG, log, 11, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "log(x)", log(x))                        \
    X(LOG2, log2, 12, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "log2(x)", log2(x))                    \
    X(LOG10, log10, 13, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "log10(x)", log10(x))                \
    X(LOG1P, log1p, 14, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "log1p(x)", log1p(x))                \
    X(SIN, sin, 15, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "sin(x)", sin(x))                        \
    X(COS, cos, 16, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "cos(x)", cos(x))                        \
    X(TAN, tan, 17, BRC_CLS_FLOAT, BRC_DOM_SMALL, 0, 0, "tan(x)", tan(x))                      \
    X(ASIN, asin, 18, BRC_CLS_FLOAT, BRC_DOM_UNIT, 0, 0, "asin(x)", asin(x))                   \
    X(ACOS, acos, 19, BRC_CLS_FLOAT, BRC_DOM_UNIT, 0, 0, "acos(x)", acos(x))                   \
    X(ATAN, atan, 20, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "atan(x)", atan(x))                    \
    X(SINH, sinh, 21, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "sinh(x)", sinh(x))                    \
    X(COSH, cosh, 22, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "cosh(x)", cosh(x))                    \
    X(TANH, tanh, 23, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "tanh(x)", tanh(x))                    \
    X(ASINH, asinh, 24, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "asinh(x)", asinh(x))                \
    X(ACOSH, acosh, 25, BRC_CLS_FLOAT, BRC_DOM_GE1, 0, 0, "acosh(x)", acosh(x))                \
    X(ATANH, atanh, 26, BRC_CLS_FLOAT, BRC_DOM_UNIT, 0, 0, "atanh(x)", atanh(x))               \
    X(FLOOR, floor, 27, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "floor(x)", floor(x))                \
    X(CEIL, ceil, 28, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "ceil(x)", ceil(x))                    \
    X(ROUND, round, 29, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "rint(x)", nearbyint(x))             \
    X(TRUNC, trunc, 30, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "trunc(x)", trunc(x))                \
    X(FRAC, frac, 31, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "x - trunc(x)", x - trunc(x))          \
    X(ERF, erf, 32, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "erf(x)", erf(x))                        \
    X(ERFC, erfc, 33, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "erfc(x)", erfc(x))                    \
    X(ERFINV, erfinv, 34, BRC_CLS_FLOAT, BRC_DOM_UNIT, 0, 0, "erfinv(x)", brc_ref_erfinv(x))   \
    X(LGAMMA, lgamma, 35, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "lgamma(x)", lgamma(x))            \
    X(DIGAMMA, digamma, 36, BRC_CLS_FLOAT, BRC_DOM_POS, 0, 0, "brc::digamma_(x)",              \
      brc_ref_digamma(x))                                                                        \
    X(RELU, relu, 37, BRC_CLS_FLOAT | BRC_CLS_SINT, BRC_DOM_ANY, 0, 0,                         \
      "(x > C(0) || x != x) ? x : C(0)", (x > 0 || isnan(x)) ? x : 0.0)                          \
    X(RELU6, relu6, 38, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "brc::clampn_(x, C(0), C(6))",       \
      brc_ref_clamp(x, 0, 6))                                                                    \
    X(GELU_ERF, gelu_erf, 39, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0,                                \
      "C(0.5) * x * (C(1) + erf(x * C(0.70710678118654752440)))",                              \
      0.5 * x * (1.0 + erf(x * 0.70710678118654752440)))                                         \
    X(GELU_TANH, gelu_tanh, 40, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0,                              \
      "C(0.5) * x * (C(1) + tanh(C(0.79788456080286535588) * (x + C(0.044715) * x * x * x)))", \
      0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x))))              \
    X(SILU, silu, 41, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "x / (C(1) + exp(-x))",                \
      x / (1.0 + exp(-x)))                                                                       \
    X(MISH, mish, 42, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "x * tanh(brc::softplus_(x, C(1), C(20)))", \
      x * tanh(log1p(exp(x))))                                                                   \
    X(SIGMOID, sigmoid, 43, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "C(1) / (C(1) + exp(-x))",       \
      1.0 / (1.0 + exp(-x)))                                                                     \
    X(LOGIT, logit, 44, BRC_CLS_FLOAT, BRC_DOM_PROB, 0, 0, "log(x / (C(1) - x))",              \
      log(x / (1.0 - x)))                                                                        \
    X(SOFTPLUS, softplus, 45, BRC_CLS_FLOAT, BRC_DOM_ANY, 1, 20, "brc::softplus_(x, a, b)",    \
      (x * a > b ? x : log1p(exp(a * x)) / a))                                                   \
    X(SOFTSIGN, softsign, 46, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0, "x / (C(1) + brc::abs_(x))",   \
      x / (1.0 + fabs(x)))                                                                       \
    X(HARDSWISH, hardswish, 47, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0,                              \
      "x * brc::clampn_(x + C(3), C(0), C(6)) / C(6)", x * brc_ref_clamp(x + 3, 0, 6) / 6)      \
    X(HARDSIGMOID, hardsigmoid, 48, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0,                          \
      "brc::clampn_(x + C(3), C(0), C(6)) / C(6)", brc_ref_clamp(x + 3, 0, 6) / 6)              \
    X(HARDTANH, hardtanh, 49, BRC_CLS_FLOAT, BRC_DOM_ANY, -1, 1, "brc::clampn_(x, a, b)",      \
      brc_ref_clamp(x, a, b))                                                                    \
    X(SELU, selu, 50, BRC_CLS_FLOAT, BRC_DOM_ANY, 0, 0,                                        \
      "C(1.0507009873554804934) * (x > C(0) ? x : C(1.6732632423543772848) * expm1(x))",       \
      1.0507009873554804934 * (x > 0 ? x : 1.6732632423543772848 * expm1(x)))                   \
    X(ELU, elu, 51, BRC_CLS_FLOAT, BRC_DOM_ANY, 1, 0, "x > C(0) ? x : a * expm1(x)",           \
      x > 0 ? x : a * expm1(x))                                                                  \
    X(LEAKY_RELU, leaky_relu, 52, BRC_CLS_FLOAT, BRC_DOM_ANY, 0.01, 0,                         \
      "x > C(0) ? x : a * x", x > 0 ? x : a * x)                                                 \
    X(HARDSHRINK, hardshrink, 53, BRC_CLS_FLOAT, BRC_DOM_ANY, 0.5, 0,                          \
      "(x > a || x < -a) ? x : C(0)", (x > a || x < -a) ? x : 0.0)                               \
    X(SOFTSHRINK, softshrink, 54, BRC_CLS_FLOAT, BRC_DOM_ANY, 0.5, 0,                          \
      "x > a ? x - a : (x < -a ? x + a : C(0))", x > a ? x - a : (x < -a ? x + a : 0.0))         \
    X(THRESHOLD, threshold, 55, BRC_CLS_FLOAT | BRC_CLS_SINT, BRC_DOM_ANY, 0.5, -2,            \
      "x > a ? x : b", x > a ? x : b)                                                            \
    X(STEP, step, 56, BRC_CLS_FLOAT | BRC_CLS_SINT, BRC_DOM_ANY, 0, 0,                         \
      "x > C(0) ? C(1) : C(0)", x > 0 ? 1.0 : 0.0)                                               \
    X(BITWISE_NOT, bitwise_not, 57, BRC_CLS_INT | BRC_CLS_BOOL, BRC_DOM_ANY, 0, 0,              \
      "brc::bnot_(x)", brc_ref_bnot(x))                                                          \
    X(POWF, powf, 58, BRC_CLS_FLOAT, BRC_DOM_POS, 1.7, 0, "pow(x, a)", pow(x, a))              \
    X(AFFINE, affine, 59, BRC_CLS_NUM, BRC_DOM_ANY, 1.5, -0.25, "brc::affine_(x, a, b)",       \
      x * a + b)                                                                                 \
    X(CLAMP, clamp, 60, BRC_CLS_NUM, BRC_DOM_ANY, -0.5, 0.75, "brc::clampn_(x, a, b)",         \
      brc_ref_clamp(x, a, b))                                                                    \
    X(IDENTITY, identity, 61, BRC_CLS_ALL | BRC_CLS_FP8, BRC_DOM_ANY, 0, 0, "x", x)            \
    X(POWI, powi, 62, BRC_CLS_NUM, BRC_DOM_ANY, 3, 0, "brc::powi_(x, (int)a)", pow(x, a))

/* X(NAME, name, number, classes, returns bool, domain of y, "device expression", reference) */
#define BRC_BINARY_KINDS(X)                                                                      \
    X(ADD, add, 0, BRC_CLS_NUM, 0, BRC_DOM_ANY, "x + y", x + y)                                 \
    X(SUB, sub, 1, BRC_CLS_NUM, 0, BRC_DOM_ANY, "x - y", x - y)                                 \
    X(MUL, mul, 2, BRC_CLS_NUM, 0, BRC_DOM_ANY, "x * y", x * y)                                 \
    X(DIV, div, 3, BRC_CLS_FLOAT, 0, BRC_DOM_NZ, "x / y", x / y)                                \
    X(FLOOR_DIVIDE, floor_divide, 4, BRC_CLS_NUM, 0, BRC_DOM_NZ, "brc::floordiv_(x, y)",        \
      floor(x / y))                                                                              \
    X(FMOD, fmod, 5, BRC_CLS_NUM, 0, BRC_DOM_NZ, "brc::fmod_(x, y)", fmod(x, y))                \
    X(REMAINDER, remainder, 6, BRC_CLS_NUM, 0, BRC_DOM_NZ, "brc::remainder_(x, y)",             \
      brc_ref_remainder(x, y))                                                                   \
    X(POW, pow, 7, BRC_CLS_FLOAT, 0, BRC_DOM_ANY, "pow(x, y)", pow(x, y))                       \
    X(ATAN2, atan2, 8, BRC_CLS_FLOAT, 0, BRC_DOM_ANY, "atan2(x, y)", atan2(x, y))               \
    X(HYPOT, hypot, 9, BRC_CLS_FLOAT, 0, BRC_DOM_ANY, "hypot(x, y)", hypot(x, y))               \
    X(COPYSIGN, copysign, 10, BRC_CLS_FLOAT, 0, BRC_DOM_ANY, "copysign(x, y)", copysign(x, y))  \
    X(NEXTAFTER, nextafter, 11, BRC_CLS_F32 | BRC_CLS_F64, 0, BRC_DOM_ANY, "nextafter(x, y)",   \
      brc_ref_nextafter(x, y))                                                                   \
    X(MAXIMUM, maximum, 12, BRC_CLS_NUM, 0, BRC_DOM_ANY, "brc::maxn_(x, y)", brc_ref_maxn(x, y)) \
    X(MINIMUM, minimum, 13, BRC_CLS_NUM, 0, BRC_DOM_ANY, "brc::minn_(x, y)", brc_ref_minn(x, y)) \
    X(FMAX, fmax, 14, BRC_CLS_FLOAT, 0, BRC_DOM_ANY, "fmax(x, y)", fmax(x, y))                  \
    X(FMIN, fmin, 15, BRC_CLS_FLOAT, 0, BRC_DOM_ANY, "fmin(x, y)", fmin(x, y))                  \
    X(EQ, eq, 16, BRC_CLS_ALL, 1, BRC_DOM_ANY, "x == y", x == y)                                \
    X(NE, ne, 17, BRC_CLS_ALL, 1, BRC_DOM_ANY, "x != y", x != y)                                \
    X(LT, lt, 18, BRC_CLS_ALL, 1, BRC_DOM_ANY, "x < y", x < y)                                  \
    X(LE, le, 19, BRC_CLS_ALL, 1, BRC_DOM_ANY, "x <= y", x <= y)                                \
    X(GT, gt, 20, BRC_CLS_ALL, 1, BRC_DOM_ANY, "x > y", x > y)                                  \
    X(GE, ge, 21, BRC_CLS_ALL, 1, BRC_DOM_ANY, "x >= y", x >= y)                                \
    X(LOGICAL_AND, logical_and, 22, BRC_CLS_ALL, 1, BRC_DOM_ANY, "(x != C(0)) && (y != C(0))", \
      (x != 0) && (y != 0))                                                                      \
    X(LOGICAL_OR, logical_or, 23, BRC_CLS_ALL, 1, BRC_DOM_ANY, "(x != C(0)) || (y != C(0))",   \
      (x != 0) || (y != 0))                                                                      \
    X(LOGICAL_XOR, logical_xor, 24, BRC_CLS_ALL, 1, BRC_DOM_ANY, "(x != C(0)) != (y != C(0))", \
      (x != 0) != (y != 0))                                                                      \
    X(BITWISE_AND, bitwise_and, 25, BRC_CLS_INT | BRC_CLS_BOOL, 0, BRC_DOM_ANY, "x & y",        \
      brc_ref_band(x, y))                                                                        \
    X(BITWISE_OR, bitwise_or, 26, BRC_CLS_INT | BRC_CLS_BOOL, 0, BRC_DOM_ANY, "x | y",          \
      brc_ref_bor(x, y))                                                                         \
    X(BITWISE_XOR, bitwise_xor, 27, BRC_CLS_INT | BRC_CLS_BOOL, 0, BRC_DOM_ANY, "x ^ y",        \
      brc_ref_bxor(x, y))                                                                        \
    X(SHL, shl, 28, BRC_CLS_INT, 0, BRC_DOM_ANY, "brc::shl_(x, y)", brc_ref_shl(x, y))          \
    X(SHR, shr, 29, BRC_CLS_INT, 0, BRC_DOM_ANY, "brc::shr_(x, y)", brc_ref_shr(x, y))

/* X(NAME, name, number, classes, a, "device expression", reference). For where, x is the
 * condition and may have any dtype (nonzero is true, NaN is true); the other kinds take three
 * operands of the output dtype. */
#define BRC_TERNARY_KINDS(X)                                                                     \
    X(WHERE, where, 0, BRC_CLS_ALL, 0, "x != CX(0) ? y : z", x != 0 ? y : z)                    \
    X(CLAMP, clamp, 1, BRC_CLS_NUM, 0, "brc::clampn_(x, y, z)", brc_ref_clamp(x, y, z))         \
    X(FMA, fma, 2, BRC_CLS_FLOAT, 0, "fma(x, y, z)", x * y + z)                                 \
    X(ADDCMUL, addcmul, 3, BRC_CLS_FLOAT, 0.5, "brc::addcmul_(x, y, z, a)", x + a * y * z)      \
    X(ADDCDIV, addcdiv, 4, BRC_CLS_FLOAT, 0.5, "brc::addcdiv_(x, y, z, a)", x + a * y / z)      \
    X(LERP, lerp, 5, BRC_CLS_FLOAT, 0, "brc::lerp_(x, y, z)", x + z * (y - x))

typedef enum brc_unary_kind {
#define BRC_X_(N, n, num, cls, dom, a, b, dev, ref) BRC_UNARY_##N = num,
    BRC_UNARY_KINDS(BRC_X_)
#undef BRC_X_
    BRC_UNARY_COUNT_ = 63
} brc_unary_kind;

typedef enum brc_binary_kind {
#define BRC_X_(N, n, num, cls, cmp, dom, dev, ref) BRC_BINARY_##N = num,
    BRC_BINARY_KINDS(BRC_X_)
#undef BRC_X_
    BRC_BINARY_COUNT_ = 30
} brc_binary_kind;

typedef enum brc_ternary_kind {
#define BRC_X_(N, n, num, cls, a, dev, ref) BRC_TERNARY_##N = num,
    BRC_TERNARY_KINDS(BRC_X_)
#undef BRC_X_
    BRC_TERNARY_COUNT_ = 6
} brc_ternary_kind;

/* Canonical names ("gelu_erf"), NULL for a number not in the table; and the reverse lookup
 * (-1 when unknown). */
BRC_API const char *brc_unary_kind_name(brc_unary_kind k);
BRC_API const char *brc_binary_kind_name(brc_binary_kind k);
BRC_API const char *brc_ternary_kind_name(brc_ternary_kind k);
BRC_API int brc_unary_kind_from_name(const char *name);
BRC_API int brc_binary_kind_from_name(const char *name);
BRC_API int brc_ternary_kind_from_name(const char *name);

/* y = kind(x; alpha, beta). x and y have the same dtype. alpha and beta are the kind's scalar
 * parameters a and b (see the table; unused ones are ignored). */
typedef struct brc_unary_desc {
    brc_unary_kind kind;
    brc_tensor_desc x, y;
    double alpha, beta;
} brc_unary_desc;

/* y = kind(a, b). a and b have one dtype; y has it too, or bool for comparisons and logical
 * kinds. */
typedef struct brc_binary_desc {
    brc_binary_kind kind;
    brc_tensor_desc a, b, y;
} brc_binary_desc;

/* y = kind(a, b, c; alpha). For where, a is the condition (any dtype). */
typedef struct brc_ternary_desc {
    brc_ternary_kind kind;
    brc_tensor_desc a, b, c, y;
    double alpha;
} brc_ternary_desc;

/* y = (y.dtype) x, between any two dtypes (semantics above). */
typedef struct brc_cast_desc {
    brc_tensor_desc x, y;
} brc_cast_desc;

/* Select (and compile, or load from the cache) a plan. prefs may be NULL.
 * Errors: INVALID_ARGUMENT (NULL pointers, bad rank, negative sizes, shapes that do not
 * broadcast, element counts that overflow), UNSUPPORTED (kind/dtype pair, dtype mismatch),
 * LIBRARY_NOT_FOUND, COMPILE_FAILED, LINK_FAILED, CUDA_ERROR, OUT_OF_MEMORY. */
BRC_API brc_status brc_unary_plan(brc_context *ctx, const brc_unary_desc *desc,
                                  const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_binary_plan(brc_context *ctx, const brc_binary_desc *desc,
                                   const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_ternary_plan(brc_context *ctx, const brc_ternary_desc *desc,
                                    const brc_plan_prefs *prefs, brc_plan **out);
BRC_API brc_status brc_cast_plan(brc_context *ctx, const brc_cast_desc *desc,
                                 const brc_plan_prefs *prefs, brc_plan **out);

/* Enqueue the op on stream. Device pointers; each must be aligned to its dtype's size.
 * workspace is unused (size 0) and may be NULL. Errors: WRONG_PLAN (plan of another family,
 * or made offline), INVALID_ARGUMENT (NULL pointer with a non-empty tensor, forbidden
 * aliasing), MISALIGNED, CUDA_ERROR (the launch failed). */
BRC_API brc_status brc_unary_run(const brc_plan *plan, const void *x, void *y, void *workspace,
                                 brc_stream stream);
BRC_API brc_status brc_binary_run(const brc_plan *plan, const void *a, const void *b, void *y,
                                  void *workspace, brc_stream stream);
BRC_API brc_status brc_ternary_run(const brc_plan *plan, const void *a, const void *b,
                                   const void *c, void *y, void *workspace, brc_stream stream);
BRC_API brc_status brc_cast_run(const brc_plan *plan, const void *x, void *y, void *workspace,
                                brc_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* BARACUDA_ELEMENTWISE_H */
