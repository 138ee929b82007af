/* Compile-only probe of the Hopper instructions docs/attention-hopper.md builds on: NVRTC (the
 * library's own JIT path, offline contexts, no GPU) must accept for sm_90a a kernel that uses
 * wgmma.fence / wgmma.mma_async (bf16 in, f32 accumulate, m64n64k16, once with A and B from
 * shared-memory descriptors and once with A from registers) / wgmma.commit_group /
 * wgmma.wait_group, mbarrier.init / mbarrier.arrive.expect_tx / mbarrier.try_wait.parity,
 * cp.async.bulk.tensor.2d (TMA) reading a `const __grid_constant__` tensor map parameter,
 * setmaxnreg and fence.proxy.async; and must refuse it, as COMPILE_FAILED with the assembler's
 * reason in the JIT log, for sm_80 (none of it exists there) and for plain sm_90 (wgmma and
 * setmaxnreg need the arch-specific sm_90a target). The kernel is not wired into any plan and
 * is never run: it only proves the toolchain. One compile per target. The register count it
 * logs is that of the relocatable compile the JIT does (-rdc=true), which is not the launch count
 * setmaxnreg needs (docs/attention-hopper.md, section 1). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* brc_tmap mirrors CUtensorMap (CUDA 13.0 cuda.h: 16 x 64-bit words, alignas(128)), which NVRTC code
 * cannot include. The descriptor is for a K-major tile whose rows are 128 bytes (64 bf16) with
 * the 128-byte swizzle: 8-row core-matrix groups 1024 bytes apart. */
static const char probe_src[] =
    "struct __align__(128) brc_tmap { unsigned long long opaque[16]; };\n"
    "\n"
    "#define BRC_D8(i) \"+f\"(d[i]), \"+f\"(d[i + 1]), \"+f\"(d[i + 2]), \"+f\"(d[i + 3]), \"+f\"(d[i + 4]), \"+f\"(d[i + 5]), \"+f\"(d[i + 6]), \"+f\"(d[i + 7])\n"
    "\n"
    "__device__ __forceinline__ unsigned long long brc_smem_desc(unsigned addr) {\n"
    "    unsigned long long desc = 0;\n"
    "    desc |= (unsigned long long)((addr & 0x3FFFF) >> 4);        /* bits 0-13: start address >> 4 */\n"
    "    desc |= (unsigned long long)(16 >> 4) << 16;                 /* bits 16-29: leading byte offset >> 4 */\n"
    "    desc |= (unsigned long long)(1024 >> 4) << 32;               /* bits 32-45: stride byte offset >> 4 */\n"
    "    desc |= 1ull << 62;                                          /* bits 62-63: 1 = 128-byte swizzle */\n"
    "    return desc;\n"
    "}\n"
    "\n"
    "extern \"C\" __global__ void __launch_bounds__(384, 1)\n"
    "hopper_probe(const __grid_constant__ brc_tmap tmap, float *out) {\n"
    "    __shared__ __align__(1024) unsigned short qs[64 * 64];\n"
    "    __shared__ __align__(1024) unsigned short ks[64 * 64];\n"
    "    __shared__ __align__(8) unsigned long long bar;\n"
    "    const unsigned bar_s = (unsigned)__cvta_generic_to_shared(&bar);\n"
    "    const unsigned q_s = (unsigned)__cvta_generic_to_shared(qs);\n"
    "    const unsigned k_s = (unsigned)__cvta_generic_to_shared(ks);\n"
    "    const int wg = threadIdx.x / 128;\n"
    "    if (threadIdx.x == 0) {\n"
    "        asm volatile(\"mbarrier.init.shared::cta.b64 [%0], %1;\" ::\"r\"(bar_s), \"r\"(1) : \"memory\");\n"
    "        asm volatile(\"fence.mbarrier_init.release.cluster;\" ::: \"memory\");\n"
    "        asm volatile(\"fence.proxy.async.shared::cta;\" ::: \"memory\");\n"
    "    }\n"
    "    __syncthreads();\n"
    "    if (wg == 0) {\n"
    "        asm volatile(\"setmaxnreg.dec.sync.aligned.u32 40;\" ::: \"memory\");\n"
    "        if (threadIdx.x == 0) {\n"
    "            asm volatile(\"mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\"\n"
    "                         ::\"r\"(bar_s), \"r\"(2 * 64 * 64 * 2) : \"memory\");\n"
    "            asm volatile(\"cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes\"\n"
    "                         \" [%0], [%1, {%2, %3}], [%4];\"\n"
    "                         ::\"r\"(q_s), \"l\"(&tmap), \"r\"(0), \"r\"((int)blockIdx.x * 64), \"r\"(bar_s) : \"memory\");\n"
    "            asm volatile(\"cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes\"\n"
    "                         \" [%0], [%1, {%2, %3}], [%4];\"\n"
    "                         ::\"r\"(k_s), \"l\"(&tmap), \"r\"(0), \"r\"(64), \"r\"(bar_s) : \"memory\");\n"
    "        }\n"
    "        return;\n"
    "    }\n"
    "    asm volatile(\"setmaxnreg.inc.sync.aligned.u32 232;\" ::: \"memory\");\n"
    "    unsigned done = 0;\n"
    "    while (!done) {\n"
    "        asm volatile(\"{\\n .reg .pred p;\\n\"\n"
    "                     \" mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\\n\"\n"
    "                     \" selp.u32 %0, 1, 0, p;\\n}\"\n"
    "                     : \"=r\"(done) : \"r\"(bar_s), \"r\"(0) : \"memory\");\n"
    "    }\n"
    "    float d[32];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 32; i++) d[i] = 0.f;\n"
    "    const unsigned long long da = brc_smem_desc(q_s), db = brc_smem_desc(k_s);\n"
    "    asm volatile(\"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "    /* S = Q K^T: A (64 x 16) and B (16 x 64) from shared-memory descriptors, D += A B. */\n"
    "    asm volatile(\"{\\n .reg .pred p;\\n setp.ne.b32 p, %34, 0;\\n\"\n"
    "                 \" wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16\"\n"
    "                 \" {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,\"\n"
    "                 \" %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31},\"\n"
    "                 \" %32, %33, p, 1, 1, 0, 0;\\n}\"\n"
    "                 : BRC_D8(0), BRC_D8(8), BRC_D8(16), BRC_D8(24)\n"
    "                 : \"l\"(da), \"l\"(db), \"r\"(0));\n"
    "    asm volatile(\"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "    asm volatile(\"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "    /* O += P V with P from registers (four .b32 of two bf16 each) and V from shared memory. */\n"
    "    unsigned a[4];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 4; i++) {\n"
    "        unsigned lo = __float_as_uint(d[2 * i]) >> 16, hi = __float_as_uint(d[2 * i + 1]) & 0xFFFF0000u;\n"
    "        a[i] = lo | hi;\n"
    "    }\n"
    "    asm volatile(\"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "    asm volatile(\"{\\n .reg .pred p;\\n setp.ne.b32 p, %37, 0;\\n\"\n"
    "                 \" wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16\"\n"
    "                 \" {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,\"\n"
    "                 \" %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31},\"\n"
    "                 \" {%32, %33, %34, %35}, %36, p, 1, 1, 1;\\n}\"\n"
    "                 : BRC_D8(0), BRC_D8(8), BRC_D8(16), BRC_D8(24)\n"
    "                 : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"l\"(db), \"r\"(1));\n"
    "    asm volatile(\"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "    asm volatile(\"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 32; i++) out[(blockIdx.x * 256 + threadIdx.x - 128) * 32 + i] = d[i];\n"
    "}\n";

static const char *const no_sources[] = {NULL};

static brc_status compile_probe_flags(const char *arch, int flags, const brc__kernel **k) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* compile for real; write nothing to disk */
    brc__cache_reset();
    brc_context *ctx = tu_offline(arch);
    brc__kernel_req r = {.template_name = "hopper_probe", .sources = no_sources, .nspec = 1, .spec = {1},
                         .snippet = probe_src, .name_expr = "hopper_probe",
                         .descriptor = "hopper_probe(v=1)", .flags = flags};
    *k = NULL;
    brc__error_clear();
    brc_status st = brc__jit_get(ctx, &r, k);
    brc_context_destroy(ctx);
    return st;
}

static brc_status compile_probe(const char *arch, const brc__kernel **k) { return compile_probe_flags(arch, 0, k); }

Test(hopper_probe, compiles_for_sm_90a) {
    const brc__kernel *k = NULL;
    brc_status st = compile_probe("sm_90a", &k);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", brc_status_name(st), brc_last_error(), brc_last_jit_log());
    cr_assert_not_null(k);
    cr_expect_str_eq(k->lowered, "hopper_probe");
    cr_expect(k->image_size > 4 && memcmp(k->image, "\177ELF", 4) == 0, "a cubin (ELF)");
    cr_expect(k->regs > 0 && k->regs <= 255, "regs %d", k->regs);
    cr_expect(k->shared_bytes >= 2 * 64 * 64 * 2, "static shared %d (two 8 KiB tiles)", k->shared_bytes);
    cr_expect_eq(k->local_bytes, 0, "no spills");
    cr_log_info("sm_90a: %zu-byte cubin, %d registers, %d bytes static shared, %.0f ms", k->image_size, k->regs,
                k->shared_bytes, k->compile_ms);
}

/* Refused with a status and the assembler's reason naming an instruction the plan relies on. */
static void expect_refused(const char *arch, const char *needle) {
    const brc__kernel *k = (const brc__kernel *)1;
    brc_status st = compile_probe(arch, &k);
    cr_expect_eq(st, BRC_STATUS_COMPILE_FAILED, "%s: %s (%s)", arch, brc_status_name(st), brc_last_error());
    cr_expect_null(k);
    cr_expect(strstr(brc_last_error(), "hopper_probe(v=1) for ") != NULL, "%s", brc_last_error());
    cr_expect(strstr(brc_last_jit_log(), needle) != NULL, "%s: log lacks \"%s\":\n%s", arch, needle,
              brc_last_jit_log());
    const char *log = brc_last_jit_log();
    cr_log_info("%s: %s; first log line: %.*s", arch, brc_status_name(st), (int)strcspn(log, "\n"), log);
}

Test(hopper_probe, refused_for_sm_80) { expect_refused("sm_80", "wgmma"); }

Test(hopper_probe, refused_for_plain_sm_90) { expect_refused("sm_90", "wgmma"); }

/* The JIT's flags for the Hopper path (docs/attention-hopper.md, step 1): on a plain sm_90 context
 * (what a device context on an H100 is), BRC__JIT_ARCH_SPECIFIC compiles for sm_90a, so the probe
 * that plain sm_90 refuses is accepted; BRC__JIT_WHOLE_PROGRAM skips -rdc and nvJitLink, and the
 * cubin then has the launch bound's registers (384 threads, one CTA an SM: 168), which setmaxnreg
 * redistributes, where the relocatable compile gives the code's own count. */
Test(hopper_probe, arch_specific_flag_on_a_plain_sm_90_context) {
    const brc__kernel *k = NULL;
    brc_status st = compile_probe_flags("sm_90", BRC__JIT_ARCH_SPECIFIC, &k);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", brc_status_name(st), brc_last_error(), brc_last_jit_log());
    cr_expect(k->regs > 0 && k->regs < 168, "relocatable: the code's registers (%d)", k->regs);
    const brc__kernel *w = NULL;
    st = compile_probe_flags("sm_90", BRC__JIT_ARCH_SPECIFIC | BRC__JIT_WHOLE_PROGRAM, &w);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", brc_status_name(st), brc_last_error(), brc_last_jit_log());
    cr_expect(w->image_size > 4 && memcmp(w->image, "\177ELF", 4) == 0, "a cubin (ELF)");
    cr_expect_str_eq(w->lowered, "hopper_probe");
    cr_expect_eq(w->regs, 168, "whole program: the launch bound's registers (got %d)", w->regs);
    cr_expect_eq(w->local_bytes, 0, "no spills");
    cr_log_info("sm_90 + arch-specific: relocatable %d registers, whole program %d", k->regs, w->regs);
    /* The flags are part of the cache key; a kernel without them keeps its key. */
    brc__kernel_req r = {.template_name = "hopper_probe", .sources = no_sources, .nspec = 1, .spec = {1},
                         .snippet = probe_src, .name_expr = "hopper_probe", .descriptor = "hopper_probe(v=1)"};
    brc__hash128 k0, k1, k2, k3;
    cr_assert_eq(brc__jit_disk_key(&r, "sm_90", &k0), BRC_STATUS_OK);
    cr_assert_eq(brc__jit_disk_key(&r, "sm_90a", &k3), BRC_STATUS_OK);
    r.flags = BRC__JIT_ARCH_SPECIFIC;
    cr_assert_eq(brc__jit_disk_key(&r, "sm_90", &k1), BRC_STATUS_OK);
    r.flags = BRC__JIT_ARCH_SPECIFIC | BRC__JIT_WHOLE_PROGRAM;
    cr_assert_eq(brc__jit_disk_key(&r, "sm_90", &k2), BRC_STATUS_OK);
    cr_expect(memcmp(&k0, &k1, sizeof k0) != 0 && memcmp(&k1, &k2, sizeof k1) != 0 && memcmp(&k0, &k2, sizeof k0) != 0,
              "distinct keys");
    cr_expect(memcmp(&k1, &k3, sizeof k1) != 0, "the flag is in the key, not only the target");
}

/* Arch-specific kernels are refused for archs before sm_90 as before (no "a" target there). */
Test(hopper_probe, arch_specific_flag_before_sm_90) {
    const brc__kernel *k = (const brc__kernel *)1;
    brc_status st = compile_probe_flags("sm_80", BRC__JIT_ARCH_SPECIFIC, &k);
    cr_expect_eq(st, BRC_STATUS_COMPILE_FAILED, "%s (%s)", brc_status_name(st), brc_last_error());
    cr_expect_null(k);
}

/* On a device of sm_90 or newer (skipped elsewhere, as every GPU test is): an arch-specific,
 * whole-program kernel goes through brc__jit_get on the device's own context, loads without
 * nvJitLink, keeps its launch bound's registers, and runs: one warpgroup gives registers back
 * with setmaxnreg.dec (sm_90a only), two take more with setmaxnreg.inc, and every thread writes a
 * value the host checks. A second get of the same request is the in-process table's entry; after
 * the table is forgotten, the disk cache's, with the same cubin. */
static const char regs_src[] =
    "extern \"C\" __global__ void __launch_bounds__(384, 1)\n"
    "hopper_regs(const float *in, float *out, int n) {\n"
    "    const int i = blockIdx.x * 384 + threadIdx.x, wg = threadIdx.x / 128;\n"
    "    if (wg == 0) {\n"
    "        asm volatile(\"setmaxnreg.dec.sync.aligned.u32 40;\" ::: \"memory\");\n"
    "        if (i < n) out[i] = 2.f * in[i];\n"
    "        return;\n"
    "    }\n"
    "    asm volatile(\"setmaxnreg.inc.sync.aligned.u32 232;\" ::: \"memory\");\n"
    "    if (i < n) out[i] = 3.f * in[i] + (float)wg;\n"
    "}\n";

Test(hopper_probe, whole_program_sm_90a_kernel_runs_on_the_device) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    if (ctx->sm_major < 9) {
        brc_context_destroy(ctx);
        cr_skip_test("device is sm_%d%d: the arch-specific Hopper target needs sm_90+", ctx->sm_major, ctx->sm_minor);
    }
    brc__kernel_req r = {.template_name = "hopper_regs", .sources = no_sources, .nspec = 1, .spec = {1},
                         .snippet = regs_src, .name_expr = "hopper_regs", .descriptor = "hopper_regs(v=1)",
                         .flags = BRC__JIT_ARCH_SPECIFIC | BRC__JIT_WHOLE_PROGRAM};
    const brc__kernel *k = NULL, *again = NULL;
    brc_status st = brc__jit_get(ctx, &r, &k);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s\n%s", brc_status_name(st), brc_last_error(), brc_last_jit_log());
    cr_expect_eq(k->regs, 168, "whole program: the launch bound's registers (got %d)", k->regs);
    cr_assert_eq(brc__jit_get(ctx, &r, &again), BRC_STATUS_OK);
    cr_expect_eq(again, k, "the in-process entry");
    CUfunction fn = NULL;
    cr_assert_eq(brc__jit_function(ctx, k, &fn), BRC_STATUS_OK, "%s", brc_last_error());
    int dev_regs = 0;
    cr_assert_eq(brc__cu()->cuFuncGetAttribute(&dev_regs, CU_FUNC_ATTRIBUTE_NUM_REGS, fn), CUDA_SUCCESS);
    cr_expect_eq(dev_regs, 168, "the loaded function's registers (got %d)", dev_regs);
    const int n = 384 * 5 - 7;
    tu_buf in = tu_buf_new(BRC_F32, (size_t)n), out = tu_buf_new(BRC_F32, (size_t)n);
    float *hi = (float *)in.h, *ho = (float *)out.h;
    uint64_t s = 7;
    for (int i = 0; i < n; i++) hi[i] = (float)tu_uniform(&s, -4.0, 4.0), ho[i] = NAN;
    tu_buf_upload(&in);
    tu_buf_upload(&out);
    int nn = n;
    void *args[] = {&in.d, &out.d, &nn};
    cr_assert_eq(brc__cu()->cuLaunchKernel(fn, (unsigned)((n + 383) / 384), 1, 1, 384, 1, 1, 0, NULL, args, NULL),
                 CUDA_SUCCESS);
    cr_assert_eq(brc__cu()->cuCtxSynchronize(), CUDA_SUCCESS);
    tu_buf_download(&out);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int wg = (i % 384) / 128;
        /* 3 x + wg may be one fused multiply-add on the device: within an ulp or two. */
        double want = wg == 0 ? 2.0 * hi[i] : 3.0 * hi[i] + wg;
        if (!(fabs(ho[i] - want) <= 1e-6 * (1.0 + fabs(want))) && bad++ < 5) cr_log_error("out[%d] = %g, want %g", i, ho[i], want);
    }
    cr_expect_eq(bad, 0, "%d wrong outputs", bad);
    cr_log_info("sm_90a whole-program kernel ran: %d registers, %zu-byte cubin", k->regs, k->image_size);
    /* From the disk cache in a process that forgot it: the same image, the same registers. */
    brc__jit_forget_memory();
    const brc__kernel *disk = NULL;
    cr_assert_eq(brc__jit_get(ctx, &r, &disk), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect(disk->from_disk, "a disk hit");
    cr_expect(disk->image_size == k->image_size && memcmp(disk->image, k->image, k->image_size) == 0, "same cubin");
    cr_expect_eq(disk->regs, 168);
    tu_buf_free(&in);
    tu_buf_free(&out);
    brc_context_destroy(ctx);
}
