/* Host tests of the JIT and the cache key: real NVRTC + nvJitLink compiles for offline
 * targets, miss -> memory hit -> disk hit, key sensitivity, single flight, failures. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"


static brc_jit_stats stats(void) {
    brc_jit_stats s;
    brc_jit_stats_get(&s);
    return s;
}

Test(jit, miss_then_memory_hit_then_disk_hit) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_unary_desc d = tu_unary(BRC_UNARY_GELU_TANH, BRC_BF16, 4096);
    brc_plan *p = NULL;
    brc_jit_stats s0 = stats();
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_jit_stats s1 = stats();
    cr_expect_eq(s1.compiles, s0.compiles + 1, "first select compiles");
    brc_plan_destroy(p);

    d.x.shape[0] = d.y.shape[0] = 77; /* another size: same kernel (sizes are run-time) */
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK);
    brc_jit_stats s2 = stats();
    cr_expect_eq(s2.compiles, s1.compiles);
    cr_expect_eq(s2.memory_hits, s1.memory_hits + 1, "re-select is an in-process hit");
    brc_plan_destroy(p);

    brc__jit_forget_memory(); /* as a fresh process would be */
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK);
    brc_jit_stats s3 = stats();
    cr_expect_eq(s3.compiles, s2.compiles, "nothing compiled");
    cr_expect_eq(s3.disk_hits, s2.disk_hits + 1, "loaded from the disk cache");
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

Test(jit, archs_are_separate_kernels) {
    tu_fresh_cache();
    brc_context *a = tu_offline("sm_80"), *b = tu_offline("sm_90");
    brc_unary_desc d = tu_unary(BRC_UNARY_SILU, BRC_F16, 100);
    brc_plan *p = NULL, *q = NULL;
    brc_jit_stats s0 = stats();
    cr_assert_eq(brc_unary_plan(a, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_unary_plan(b, &d, NULL, &q), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(stats().compiles, s0.compiles + 2);
    cr_expect(strstr(brc_plan_sku(p), "@sm_80") && strstr(brc_plan_sku(q), "@sm_90"));
    brc_plan_destroy(p);
    brc_plan_destroy(q);
    brc_context_destroy(a);
    brc_context_destroy(b);
}

/* ---- the disk key ------------------------------------------------------------------------------ */

static const char *const srcs[] = {"prelude.cuh", "elementwise.cuh", NULL};

static brc__kernel_req base_req(void) {
    brc__kernel_req r = {.template_name = "keytest", .sources = srcs, .nspec = 3, .spec = {1, 2, 3},
                         .snippet = "extern \"C\" __global__ void k(float *y) { y[threadIdx.x] = 1.f; }",
                         .name_expr = "k", .descriptor = "keytest(a=1)"};
    return r;
}

static brc__hash128 key_of(const brc__kernel_req *r, const char *arch) {
    brc__hash128 h;
    cr_assert_eq(brc__jit_disk_key(r, arch, &h), BRC_STATUS_OK, "%s", brc_last_error());
    return h;
}

static bool same(brc__hash128 a, brc__hash128 b) { return a.lo == b.lo && a.hi == b.hi; }

Test(key, changes_with_what_changes_the_binary_and_nothing_else) {
    brc__kernel_req r = base_req();
    brc__hash128 k0 = key_of(&r, "sm_90");
    cr_expect(same(k0, key_of(&r, "sm_90")), "stable");

    brc__kernel_req m = base_req();
    m.descriptor = "other metadata";
    cr_expect(same(k0, key_of(&m, "sm_90")), "the descriptor is metadata, not part of the key");

    cr_expect(!same(k0, key_of(&r, "sm_80")), "arch");
    cr_expect(!same(k0, key_of(&r, "sm_90a")), "arch-specific target");
    m = base_req();
    m.spec[2] = 4;
    cr_expect(!same(k0, key_of(&m, "sm_90")), "specialization value");
    m = base_req();
    m.nspec = 2;
    cr_expect(!same(k0, key_of(&m, "sm_90")), "specialization length");
    m = base_req();
    m.snippet = "extern \"C\" __global__ void k(float *y) { y[threadIdx.x] = 2.f; }";
    cr_expect(!same(k0, key_of(&m, "sm_90")), "generated source");
    static const char *const opt[] = {"-lineinfo", NULL};
    m = base_req();
    m.options = opt;
    cr_expect(!same(k0, key_of(&m, "sm_90")), "options");
    m = base_req();
    m.name_expr = "k2";
    cr_expect(!same(k0, key_of(&m, "sm_90")), "kernel name");

    brc__source_override("elementwise.cuh", "// edited\n");
    cr_expect(!same(k0, key_of(&r, "sm_90")), "embedded source text");
    brc__source_override(NULL, NULL);
    cr_expect(same(k0, key_of(&r, "sm_90")), "restored source gives the old key");

    brc__toolchain_id_override("nvrtc:other;nvjitlink:other");
    cr_expect(!same(k0, key_of(&r, "sm_90")), "toolchain (NVRTC / nvJitLink build)");
    brc__toolchain_id_override(NULL);
    cr_expect(same(k0, key_of(&r, "sm_90")));

    /* Length prefixes: moving a character between two fields changes the key. */
    brc__kernel_req a = base_req(), b = base_req();
    a.template_name = "ab";
    a.name_expr = "c";
    b.template_name = "a";
    b.name_expr = "bc";
    cr_expect(!same(key_of(&a, "sm_90"), key_of(&b, "sm_90")));
}

Test(key, toolchain_identity_is_found_without_loading) {
    const char *id = brc__toolchain_id();
    cr_expect(strstr(id, "nvrtc:") == id, "%s", id);
    cr_expect(strstr(id, "nvrtc:none") == NULL, "NVRTC file located: %s", id);
    cr_expect(strstr(id, "nvjitlink:none") == NULL, "nvJitLink file located: %s", id);
}

Test(jit, edited_source_recompiles) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_unary_desc d = tu_unary(BRC_UNARY_ABS, BRC_F32, 10);
    brc_plan *p = NULL;
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK);
    brc_plan_destroy(p);
    const brc__source *orig = brc__source_find("elementwise.cuh");
    size_t n = orig->len + 32;
    char *edited = malloc(n);
    snprintf(edited, n, "%s\n// an edit\n", orig->text);
    brc__source_override("elementwise.cuh", edited);
    brc__jit_forget_memory();
    brc_jit_stats s0 = stats();
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(stats().compiles, s0.compiles + 1, "an edited source is a cache miss");
    brc_plan_destroy(p);
    brc__source_override(NULL, NULL);
    free(edited);
    brc_context_destroy(ctx);
}

/* ---- single flight -------------------------------------------------------------------------------- */

static brc_context *sf_ctx;
static void *sf_worker(void *arg) {
    (void)arg;
    brc_unary_desc d = tu_unary(BRC_UNARY_LGAMMA, BRC_F64, 1000);
    brc_plan *p = NULL;
    brc_status s = brc_unary_plan(sf_ctx, &d, NULL, &p);
    brc_plan_destroy(p);
    return (void *)(intptr_t)s;
}

Test(jit, concurrent_selects_compile_once) {
    tu_fresh_cache();
    sf_ctx = tu_offline("sm_90");
    brc_jit_stats s0 = stats();
    pthread_t t[8];
    for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, sf_worker, NULL);
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_expect_eq((brc_status)(intptr_t)r, BRC_STATUS_OK);
    }
    brc_jit_stats s1 = stats();
    cr_expect_eq(s1.compiles, s0.compiles + 1, "8 threads, one compile (got %llu)",
                 (unsigned long long)(s1.compiles - s0.compiles));
    cr_expect_eq(s1.memory_hits, s0.memory_hits + 7);
    brc_context_destroy(sf_ctx);
}

/* ---- failures -------------------------------------------------------------------------------------- */

Test(jit, compile_error_is_a_status_with_the_log) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_90");
    brc__kernel_req r = base_req();
    r.snippet = "extern \"C\" __global__ void k(float *y) { y[threadIdx.x] = undeclared_thing; }";
    const brc__kernel *k = (const brc__kernel *)&r;
    brc__error_clear();
    cr_expect_eq(brc__jit_get(ctx, &r, &k), BRC_STATUS_COMPILE_FAILED);
    cr_expect_null(k);
    cr_expect(strstr(brc_last_error(), "nvrtcCompileProgram"), "%s", brc_last_error());
    cr_expect(strstr(brc_last_error(), "keytest(a=1) for sm_90"), "%s", brc_last_error());
    cr_expect(strstr(brc_last_jit_log(), "undeclared_thing"), "log: %s", brc_last_jit_log());
    brc_context_destroy(ctx);
}

Test(jit, arch_newer_than_nvrtc_is_unsupported_offline) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_990");
    brc_unary_desc d = tu_unary(BRC_UNARY_NEG, BRC_F32, 10);
    brc_plan *p = NULL;
    cr_expect_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_UNSUPPORTED);
    cr_expect(strstr(brc_last_error(), "cannot target sm_990"), "%s", brc_last_error());
    cr_expect_null(p);
    brc_context_destroy(ctx);
}

Test(jit, resources_are_read_from_the_cubin) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc__kernel_req r = base_req();
    r.snippet = "extern \"C\" __global__ void k(float *y) { __shared__ float s[300]; s[threadIdx.x] = y[threadIdx.x];"
                " __syncthreads(); y[threadIdx.x] = s[299 - threadIdx.x]; }";
    const brc__kernel *k = NULL;
    cr_assert_eq(brc__jit_get(ctx, &r, &k), BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());
    cr_expect_str_eq(k->lowered, "k");
    cr_expect(k->regs > 0 && k->regs <= 255, "regs %d", k->regs);
    /* The section may include the block's system-reserved shared memory (1 KiB on sm_90). */
    cr_expect(k->shared_bytes >= 1200 && k->shared_bytes <= 1200 + 1024, "static shared %d", k->shared_bytes);
    cr_expect_eq(k->local_bytes, 0);
    cr_expect(k->image_size > 0 && memcmp(k->image, "\177ELF", 4) == 0, "a cubin (ELF)");
    brc_context_destroy(ctx);
}
