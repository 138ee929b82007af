/* Every elementwise kind x dtype of the tables, and every cast pair, compiles through NVRTC and
 * nvJitLink to a cubin for sm_80 and for sm_90 in an offline context (no GPU); the strided
 * kernel is compiled for one dtype per kind. Each (family, arch) is its own test process. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static const brc_dtype dtypes[] = {BRC_F32, BRC_F64, BRC_F16, BRC_BF16, BRC_FP8E4M3, BRC_FP8E5M2, BRC_I8,
                                   BRC_U8, BRC_I16, BRC_I32, BRC_I64, BRC_U32, BRC_BOOL};
#define NDT (sizeof dtypes / sizeof dtypes[0])


static const unsigned unary_cls[] = {
#define X(N, n, num, cls, dom, a, b, dev, ref) [num] = cls,
    BRC_UNARY_KINDS(X)
#undef X
};
static const unsigned binary_cls[] = {
#define X(N, n, num, cls, cmp, dom, dev, ref) [num] = cls,
    BRC_BINARY_KINDS(X)
#undef X
};
static const int binary_cmp[] = {
#define X(N, n, num, cls, cmp, dom, dev, ref) [num] = cmp,
    BRC_BINARY_KINDS(X)
#undef X
};
static const unsigned ternary_cls[] = {
#define X(N, n, num, cls, a, dev, ref) [num] = cls,
    BRC_TERNARY_KINDS(X)
#undef X
};

/* Parameters are copied into each test process: no pointers in them. */
typedef struct job { int family; int sm; } job;

ParameterizedTestParameters(compile, every_kind_and_dtype) {
    static job jobs[] = {{0, 80}, {0, 90}, {1, 80}, {1, 90}, {2, 80}, {2, 90}, {3, 80}, {3, 90}};
    return cr_make_param_array(job, jobs, sizeof jobs / sizeof jobs[0]);
}

static void expect_plan(brc_status s, brc_plan *p, const char *what, int *count) {
    cr_expect_eq(s, BRC_STATUS_OK, "%s: %s\n%s", what, brc_last_error(), brc_last_jit_log());
    if (s == BRC_STATUS_OK) (*count)++;
    brc_plan_destroy(p);
}

ParameterizedTest(job *j, compile, every_kind_and_dtype, .timeout = 1200) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", j->sm);
    brc_context *ctx = tu_offline(arch);
    int64_t n = 1000, s2[2] = {8, 9};
    brc_tensor_desc c1, t2;
    int count = 0;
    for (size_t t = 0; t < NDT; t++) {
        brc_dtype dt = dtypes[t];
        brc_tensor_desc_contiguous(&c1, dt, 1, &n);
        brc_tensor_desc_contiguous(&t2, dt, 2, s2);
        t2.strides[0] = 1;
        t2.strides[1] = 8;
        brc_tensor_desc y2;
        brc_tensor_desc_contiguous(&y2, dt, 2, s2);
        brc_plan *p = NULL;
        char what[128];
        if (j->family == 0) {
            for (int k = 0; k < BRC_UNARY_COUNT_; k++) {
                if (!(unary_cls[k] & brc__dtype_class(dt))) continue;
                brc_unary_desc d = {(brc_unary_kind)k, c1, c1, 1, 0};
                snprintf(what, sizeof what, "unary %s %s", brc_unary_kind_name((brc_unary_kind)k), brc_dtype_name(dt));
                expect_plan(brc_unary_plan(ctx, &d, NULL, &p), p, what, &count);
                if (dt == BRC_F32) {
                    brc_unary_desc ds = {(brc_unary_kind)k, t2, y2, 1, 0};
                    expect_plan(brc_unary_plan(ctx, &ds, NULL, &p), p, what, &count);
                }
            }
        } else if (j->family == 1) {
            for (int k = 0; k < BRC_BINARY_COUNT_; k++) {
                if (!(binary_cls[k] & brc__dtype_class(dt))) continue;
                brc_tensor_desc y = c1;
                if (binary_cmp[k]) y.dtype = BRC_BOOL;
                brc_binary_desc d = {(brc_binary_kind)k, c1, c1, y};
                snprintf(what, sizeof what, "binary %s %s", brc_binary_kind_name((brc_binary_kind)k), brc_dtype_name(dt));
                expect_plan(brc_binary_plan(ctx, &d, NULL, &p), p, what, &count);
            }
        } else if (j->family == 2) {
            for (int k = 0; k < BRC_TERNARY_COUNT_; k++) {
                if (!(ternary_cls[k] & brc__dtype_class(dt))) continue;
                brc_tensor_desc cond = c1;
                if (k == BRC_TERNARY_WHERE) cond.dtype = BRC_BOOL;
                brc_ternary_desc d = {(brc_ternary_kind)k, cond, c1, c1, c1, 0.5};
                snprintf(what, sizeof what, "ternary %s %s", brc_ternary_kind_name((brc_ternary_kind)k), brc_dtype_name(dt));
                expect_plan(brc_ternary_plan(ctx, &d, NULL, &p), p, what, &count);
            }
        } else {
            for (size_t u = 0; u < NDT; u++) {
                brc_cast_desc d = {c1, c1};
                d.y.dtype = dtypes[u];
                snprintf(what, sizeof what, "cast %s->%s", brc_dtype_name(dt), brc_dtype_name(dtypes[u]));
                expect_plan(brc_cast_plan(ctx, &d, NULL, &p), p, what, &count);
            }
        }
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, (uint64_t)count, "every plan was a real compile");
    cr_log_info("family %d for %s: %d kernels, %.0f ms total, %.1f ms each", j->family, arch, count,
                st.compile_ms, st.compile_ms / (count ? count : 1));
    brc_context_destroy(ctx);
}
