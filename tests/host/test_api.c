/* Host tests of the public API surface: statuses, versions, dtypes, descriptors, contexts and
 * the validation of every elementwise descriptor (no GPU, no compilation needed). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

Test(status, every_code_has_a_name_and_a_string) {
#define X(name, num, msg)                                                                        \
    cr_expect_str_eq(brc_status_name(BRC_STATUS_##name), "BRC_STATUS_" #name);                   \
    cr_expect_str_eq(brc_status_string(BRC_STATUS_##name), msg);                                 \
    cr_expect_gt(strlen(msg), 5);
    BRC_STATUS_LIST(X)
#undef X
    cr_expect_str_eq(brc_status_name((brc_status)9999), "BRC_STATUS_UNKNOWN");
    cr_expect_str_eq(brc_status_string((brc_status)9999), "unknown status code");
}

Test(version, header_matches_library) {
    cr_expect_eq(brc_version(), BRC_VERSION);
    cr_expect_eq(brc_version() / 10000, BRC_VERSION_MAJOR);
    cr_expect_str_eq(brc_version_string(), "0.1.0");
}

Test(dtype, traits) {
#define X(name, num, str, size)                                                                  \
    cr_expect_eq(brc_dtype_size(BRC_##name), size);                                              \
    cr_expect_str_eq(brc_dtype_name(BRC_##name), str);
    BRC_DTYPE_LIST(X)
#undef X
    cr_expect_eq(brc_dtype_size((brc_dtype)77), 0);
    cr_expect_str_eq(brc_dtype_name((brc_dtype)77), "?");
    cr_expect(brc_dtype_is_float(BRC_BF16) && !brc_dtype_is_float(BRC_I32));
    cr_expect(brc_dtype_is_integer(BRC_U32) && !brc_dtype_is_integer(BRC_BOOL));
}

Test(tensor, contiguous_and_numel) {
    brc_tensor_desc d;
    int64_t shape[3] = {2, 3, 5};
    cr_assert_eq(brc_tensor_desc_contiguous(&d, BRC_F16, 3, shape), BRC_STATUS_OK);
    cr_expect_eq(d.strides[0], 15);
    cr_expect_eq(d.strides[1], 5);
    cr_expect_eq(d.strides[2], 1);
    cr_expect_eq(brc_tensor_desc_numel(&d), 30);
    cr_expect_eq(brc_tensor_desc_contiguous(&d, BRC_F16, 9, shape), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "rank 9"));
    int64_t neg[1] = {-4};
    cr_expect_eq(brc_tensor_desc_contiguous(&d, BRC_F16, 1, neg), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "negative"));
    int64_t huge[2] = {1LL << 40, 1LL << 40};
    cr_expect_eq(brc_tensor_desc_contiguous(&d, BRC_F16, 2, huge), BRC_STATUS_OK);
    cr_expect_eq(brc_tensor_desc_numel(&d), -1);
    cr_expect_eq(brc_tensor_desc_contiguous(NULL, BRC_F16, 1, shape), BRC_STATUS_INVALID_ARGUMENT);
}

Test(context, offline_arch_validation) {
    const char *bad[] = {NULL, "", "sm_9", "gfx90a", "sm_90b", "compute_90", "sm_1234"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
        o.device = -1;
        o.arch = bad[i];
        brc_context *c = (brc_context *)&o; /* must be overwritten with NULL */
        cr_expect_eq(brc_context_create(&o, &c), BRC_STATUS_INVALID_ARGUMENT, "arch %s", bad[i] ? bad[i] : "NULL");
        cr_expect_null(c);
        cr_expect(strstr(brc_last_error(), "arch"), "message: %s", brc_last_error());
    }
    brc_context *c = tu_offline("sm_90a");
    cr_expect_str_eq(brc_context_arch(c), "sm_90a");
    cr_expect_eq(brc_context_has_device(c), 0);
    brc_context_destroy(c);
    brc_context_destroy(NULL);
    brc_plan_destroy(NULL);
    brc_context_opts small = BRC_CONTEXT_OPTS_INIT;
    small.struct_size = 4;
    cr_expect_eq(brc_context_create(&small, &c), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "struct_size"));
    cr_expect_eq(brc_context_create(NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
}

Test(context, missing_driver_is_a_status_naming_the_sonames) {
    setenv("BARACUDA_FAKE_NO_DRIVER", "1", 1);
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    brc_context *c = NULL;
    cr_assert_eq(brc_context_create(&o, &c), BRC_STATUS_LIBRARY_NOT_FOUND);
    cr_expect_null(c);
    cr_expect(strstr(brc_last_error(), "libcuda"), "message: %s", brc_last_error());
}

Test(kinds, names_round_trip_and_are_unique) {
#define X(N, n, num, cls, dom, a, b, dev, ref)                                                   \
    cr_expect_str_eq(brc_unary_kind_name(BRC_UNARY_##N), #n);                                    \
    cr_expect_eq(brc_unary_kind_from_name(#n), num);
    BRC_UNARY_KINDS(X)
#undef X
#define X(N, n, num, cls, cmp, dom, dev, ref)                                                    \
    cr_expect_str_eq(brc_binary_kind_name(BRC_BINARY_##N), #n);                                  \
    cr_expect_eq(brc_binary_kind_from_name(#n), num);
    BRC_BINARY_KINDS(X)
#undef X
#define X(N, n, num, cls, a, dev, ref)                                                           \
    cr_expect_str_eq(brc_ternary_kind_name(BRC_TERNARY_##N), #n);                                \
    cr_expect_eq(brc_ternary_kind_from_name(#n), num);
    BRC_TERNARY_KINDS(X)
#undef X
    cr_expect_null(brc_unary_kind_name((brc_unary_kind)500));
    cr_expect_eq(brc_unary_kind_from_name("gelu"), -1, "there is no ambiguous 'gelu' kind");
    cr_expect_eq(brc_unary_kind_from_name(NULL), -1);
}

/* ---- validation: every bad descriptor gets a status and a message, before any compile ------- */

static brc_context *ctx;
static void setup(void) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    ctx = tu_offline("sm_90");
}
static void teardown(void) { brc_context_destroy(ctx); }

static brc_unary_desc unary_ok(void) {
    brc_unary_desc d = {.kind = BRC_UNARY_EXP};
    int64_t shape[2] = {4, 8};
    brc_tensor_desc_contiguous(&d.x, BRC_F32, 2, shape);
    d.y = d.x;
    return d;
}

#define EXPECT_PLAN_FAILS(call, status, needle)                                                   \
    do {                                                                                          \
        brc_plan *p_ = (brc_plan *)&p_;                                                           \
        brc_status s_ = (call);                                                                   \
        cr_expect_eq(s_, status, "%s -> %s: %s", #call, brc_status_name(s_), brc_last_error());   \
        cr_expect_null(p_, "out must be NULL on failure");                                        \
        cr_expect(strstr(brc_last_error(), needle), "message '%s' lacks '%s'", brc_last_error(),  \
                  needle);                                                                        \
    } while (0)

Test(validation, null_pointers, .init = setup, .fini = teardown) {
    brc_unary_desc d = unary_ok();
    brc_plan *p = NULL;
    cr_expect_eq(brc_unary_plan(NULL, &d, NULL, &p), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "ctx is NULL"));
    cr_expect_eq(brc_unary_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "desc is NULL"));
    cr_expect_eq(brc_unary_plan(ctx, &d, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_binary_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_ternary_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_cast_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT);
}

Test(validation, sizes_ranks_and_strides, .init = setup, .fini = teardown) {
    brc_unary_desc d = unary_ok();
    d.x.rank = 9;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "rank 9");
    d = unary_ok();
    d.y.rank = -1;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "rank -1");
    d = unary_ok();
    d.x.shape[1] = -3;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "negative");
    d = unary_ok();
    d.x.shape[0] = d.y.shape[0] = 1LL << 40;
    d.x.shape[1] = d.y.shape[1] = 1LL << 40;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "overflow");
    d = unary_ok();
    d.x.strides[0] = INT64_MAX / 2;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "overflow");
    d = unary_ok();
    d.y.strides[0] = 0;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "written twice");
    d = unary_ok();
    d.x.shape[1] = 3;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "does not broadcast");
    d = unary_ok();
    d.x.dtype = (brc_dtype)42;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "not a dtype");
}

Test(validation, kinds_and_dtypes, .init = setup, .fini = teardown) {
    brc_unary_desc d = unary_ok();
    d.kind = (brc_unary_kind)1000;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "not a unary kind");
    d = unary_ok();
    d.kind = BRC_UNARY_SIN;
    d.x.dtype = d.y.dtype = BRC_I32;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported");
    d = unary_ok();
    d.y.dtype = BRC_F16;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, NULL, &p_), BRC_STATUS_UNSUPPORTED, "y has dtype f16");

    brc_binary_desc b = {.kind = BRC_BINARY_LT, .a = d.x, .b = d.x, .y = d.x};
    b.a.dtype = b.b.dtype = b.y.dtype = BRC_F32;
    EXPECT_PLAN_FAILS(brc_binary_plan(ctx, &b, NULL, &p_), BRC_STATUS_UNSUPPORTED, "expected bool");
    b.kind = BRC_BINARY_SHL;
    EXPECT_PLAN_FAILS(brc_binary_plan(ctx, &b, NULL, &p_), BRC_STATUS_UNSUPPORTED, "not supported");
    b.kind = BRC_BINARY_ADD;
    b.b.dtype = BRC_F64;
    EXPECT_PLAN_FAILS(brc_binary_plan(ctx, &b, NULL, &p_), BRC_STATUS_UNSUPPORTED, "b has dtype f64");

    brc_ternary_desc t = {.kind = BRC_TERNARY_FMA, .a = d.x, .b = d.x, .c = d.x, .y = d.x};
    t.a.dtype = t.b.dtype = t.c.dtype = t.y.dtype = BRC_I32;
    EXPECT_PLAN_FAILS(brc_ternary_plan(ctx, &t, NULL, &p_), BRC_STATUS_UNSUPPORTED, "not supported");
    t.kind = BRC_TERNARY_WHERE;
    t.a.dtype = (brc_dtype)42;
    EXPECT_PLAN_FAILS(brc_ternary_plan(ctx, &t, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "not a dtype");
    t.a.dtype = BRC_BOOL;
    t.kind = (brc_ternary_kind)-1;
    EXPECT_PLAN_FAILS(brc_ternary_plan(ctx, &t, NULL, &p_), BRC_STATUS_INVALID_ARGUMENT, "not a ternary kind");
}

Test(validation, preferences, .init = setup, .fini = teardown) {
    brc_unary_desc d = unary_ok();
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.struct_size = 3;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, &pr, &p_), BRC_STATUS_INVALID_ARGUMENT, "struct_size");
    pr = (brc_plan_prefs)BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, &pr, &p_), BRC_STATUS_INVALID_ARGUMENT, "vector_width");
    pr.vector_width = 8; /* 8 x f32 = 32 bytes */
    EXPECT_PLAN_FAILS(brc_unary_plan(ctx, &d, &pr, &p_), BRC_STATUS_INVALID_ARGUMENT, "exceeds 16 bytes");
}

Test(validation, offline_plans_do_not_run, .init = setup, .fini = teardown) {
    brc_unary_desc d = unary_ok();
    brc_plan *p = NULL;
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "unary(kind=exp,dtype=f32,layout=contig)");
    cr_expect_str_eq(brc_plan_sku(p), "bespoke:unary<exp,f32->f32,contig,vec=4>@sm_90");
    cr_expect_eq(brc_plan_workspace_size(p), 0);
    int dummy[4];
    cr_expect_eq(brc_unary_run(p, dummy, dummy, NULL, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect(strstr(brc_last_error(), "offline"));
    cr_expect_eq(brc_binary_run(p, dummy, dummy, dummy, NULL, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect(strstr(brc_last_error(), "another op family"));
    cr_expect_eq(brc_cast_run(NULL, dummy, dummy, NULL, NULL), BRC_STATUS_INVALID_ARGUMENT);
    brc_plan_destroy(p);
}

Test(layout, structure_picks_the_kernel, .init = setup, .fini = teardown) {
    /* A transposed input, a broadcast row and a scalar take the strided kernel with merged dims;
     * a (4, 1, 8) contiguous tensor merges to one dim and takes the vector kernel. */
    brc_binary_desc b = {.kind = BRC_BINARY_ADD};
    int64_t s3[3] = {4, 1, 8}, row[1] = {8};
    brc_tensor_desc_contiguous(&b.a, BRC_F16, 3, s3);
    b.b = b.a;
    b.y = b.a;
    brc_plan *p = NULL;
    cr_assert_eq(brc_binary_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "binary(kind=add,dtype=f16,layout=contig)");
    brc_plan_destroy(p);
    brc_tensor_desc_contiguous(&b.b, BRC_F16, 1, row);
    cr_assert_eq(brc_binary_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "binary(kind=add,dtype=f16,layout=strided,rank=2)");
    brc_plan_destroy(p);
    brc_tensor_desc_contiguous(&b.b, BRC_F16, 0, NULL);
    cr_assert_eq(brc_binary_plan(ctx, &b, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "binary(kind=add,dtype=f16,layout=strided,rank=1)");
    brc_plan_destroy(p);
    brc_cast_desc c;
    int64_t s2[2] = {16, 9};
    brc_tensor_desc_contiguous(&c.x, BRC_F32, 2, s2);
    brc_tensor_desc_contiguous(&c.y, BRC_BF16, 2, s2);
    c.x.strides[0] = 1; /* column-major source */
    c.x.strides[1] = 16;
    cr_assert_eq(brc_cast_plan(ctx, &c, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_str_eq(brc_plan_descriptor(p), "cast(from=f32,to=bf16,layout=strided,rank=2)");
    cr_expect(strstr(brc_plan_sku(p), "index=32"));
    brc_plan_destroy(p);
}
