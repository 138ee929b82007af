/* The Hopper path of docs/attention-hopper.md, step by step (its section 8).
 *
 * Compile-only (every machine, CI included): NVRTC (the library's own JIT path, offline contexts,
 * no GPU) must accept for sm_90a a probe kernel that uses wgmma.fence / wgmma.mma_async (bf16 in,
 * f32 accumulate, m64n64k16, once with A and B from shared-memory descriptors and once with A from
 * registers) / wgmma.commit_group / wgmma.wait_group, mbarrier.init / mbarrier.arrive.expect_tx /
 * mbarrier.try_wait.parity, cp.async.bulk.tensor.2d (TMA) reading a `const __grid_constant__`
 * tensor map parameter, setmaxnreg and fence.proxy.async; and must refuse it, as COMPILE_FAILED
 * with the assembler's reason in the JIT log, for sm_80 (none of it exists there) and for plain
 * sm_90 (wgmma and setmaxnreg need the arch-specific sm_90a target). The JIT flags of step 1
 * (arch-specific target, whole-program compile) and the kernels of steps 2-6 compile too.
 *
 * On a device of sm_90 or newer (skipped elsewhere, visibly, as every GPU test): step 1 (a
 * whole-program sm_90a kernel loads and runs with setmaxnreg), step 2 (a TMA box lands swizzled),
 * steps 3-5 (S = Q K^T and O = P V by wgmma at D = 64 / 128 / 256, exact against float64), step 6
 * (a serial one-warpgroup forward against float64). These kernels live here until the plan path
 * of step 6 takes them into kernel_src. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
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

/* ---- steps 2 and 3 of docs/attention-hopper.md on the device -------------------------------------- */

/* The shared prologue of the two kernels below: a 128-byte-aligned tensor map parameter type, an
 * mbarrier, TMA loads of 64 x 64 bf16 boxes with the 128-byte swizzle, and a bounded wait (a
 * wrong byte count sets *flag instead of hanging). */
#define TMA_PRELUDE                                                                                       \
    "struct __align__(128) brc_tmap { unsigned long long opaque[16]; };\n"                               \
    "__device__ __forceinline__ void bar_init(unsigned bar) {\n"                                          \
    "    asm volatile(\"mbarrier.init.shared::cta.b64 [%0], 1;\" ::\"r\"(bar) : \"memory\");\n"            \
    "    asm volatile(\"fence.mbarrier_init.release.cluster;\" ::: \"memory\");\n"                      \
    "    asm volatile(\"fence.proxy.async.shared::cta;\" ::: \"memory\");\n"                            \
    "}\n"                                                                                                 \
    "__device__ __forceinline__ void tma_box(unsigned dst, const brc_tmap *m, int x, int y, unsigned bar) {\n" \
    "    asm volatile(\"cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes\"\n"  \
    "                 \" [%0], [%1, {%2, %3}], [%4];\" ::\"r\"(dst), \"l\"(m), \"r\"(x), \"r\"(y), \"r\"(bar) : \"memory\");\n" \
    "}\n"                                                                                                 \
    "__device__ __forceinline__ bool bar_wait(unsigned bar, unsigned parity = 0) {\n"                    \
    "    unsigned done = 0;\n"                                                                            \
    "    for (int it = 0; it < (1 << 22) && !done; it++)\n"                                               \
    "        asm volatile(\"{\\n .reg .pred p;\\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\\n\"\n" \
    "                     \" selp.u32 %0, 1, 0, p;\\n}\" : \"=r\"(done) : \"r\"(bar), \"r\"(parity) : \"memory\");\n" \
    "    return done != 0;\n"                                                                             \
    "}\n"                                                                                                 \
    "__device__ __forceinline__ void tx_arrive(unsigned bar, unsigned bytes) {\n"                          \
    "    asm volatile(\"mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\" ::\"r\"(bar), \"r\"(bytes) : \"memory\");\n" \
    "}\n"

/* Step 2: one box at (x, y) into shared memory, its raw bytes copied out as they lie there. */
static const char box_src[] = TMA_PRELUDE
    "extern \"C\" __global__ void __launch_bounds__(128, 1)\n"
    "tma_box_copy(const __grid_constant__ brc_tmap tm, int x, int y, unsigned short *out, int *flag) {\n"
    "    __shared__ __align__(1024) unsigned short box[64 * 64];\n"
    "    __shared__ __align__(8) unsigned long long bar;\n"
    "    const unsigned bar_s = (unsigned)__cvta_generic_to_shared(&bar);\n"
    "    if (threadIdx.x == 0) bar_init(bar_s);\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x == 0) {\n"
    "        asm volatile(\"mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\" ::\"r\"(bar_s), \"r\"(64 * 64 * 2) : \"memory\");\n"
    "        tma_box((unsigned)__cvta_generic_to_shared(box), &tm, x, y, bar_s);\n"
    "    }\n"
    "    if (!bar_wait(bar_s)) { atomicExch(flag, 1); return; }\n"
    "    for (int i = threadIdx.x; i < 64 * 64; i += 128) out[i] = box[i];\n"
    "}\n";

/* Step 3: S = Q K^T of one 64 x 64 tile (K = 64) by four wgmma.m64n64k16 from shared-memory
 * descriptors (K-major, 128-byte swizzle, 8-row groups 1024 bytes apart; each k16 step advances
 * the start address 32 bytes). Step 4: O = P V with P = S in registers (bf16 pairs, the S
 * accumulators of two 8-column blocks making one k16 A fragment, as the forward will hand P on)
 * and V [keys, D] N-major from its swizzled tile (trans-b = 1; 8 key rows 1024 bytes apart, each
 * k16 step 2048 bytes). Every thread writes its accumulators where the fragment map of
 * docs/attention-hopper.md section 3 says they belong (warp w: rows 16 w + lane / 4 (+ 8),
 * columns 8 (i / 4) + 2 (lane % 4) (+ 1)). */
#define QK_PRELUDE                                                                                        \
    TMA_PRELUDE                                                                                           \
    "#define BRC_D8(d, i) \"+f\"(d[i]), \"+f\"(d[i + 1]), \"+f\"(d[i + 2]), \"+f\"(d[i + 3]), \"+f\"(d[i + 4]), \"+f\"(d[i + 5]), \"+f\"(d[i + 6]), \"+f\"(d[i + 7])\n" \
    "#define BRC_D32(d) BRC_D8(d, 0), BRC_D8(d, 8), BRC_D8(d, 16), BRC_D8(d, 24)\n"                     \
    "#define BRC_REGS \" {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,\" \\\n"   \
    "    \" %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31},\"\n"         \
    "__device__ __forceinline__ unsigned long long sw128_desc(unsigned addr, unsigned lbo = 16) {\n"      \
    "    return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)(lbo >> 4) << 16) |\n"   \
    "           ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);\n"                                \
    "}\n"                                                                                                 \
    "/* S = Q K^T for a head dim of D: D / 64 swizzle atoms (64 x 64 boxes, 8 KiB apart) a tile. */\n"   \
    "template <int D> __device__ __forceinline__ void s_tile(float (&d)[32], unsigned q_s, unsigned k_s) {\n" \
    "#pragma unroll\n"                                                                                    \
    "    for (int i = 0; i < 32; i++) d[i] = 0.f;\n"                                                     \
    "    asm volatile(\"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"                                 \
    "#pragma unroll\n"                                                                                    \
    "    for (int kk = 0; kk < D / 16; kk++) {\n"                                                         \
    "        const unsigned off = 8192 * (kk / 4) + 32 * (kk % 4);\n"                                     \
    "        const unsigned long long da = sw128_desc(q_s + off), db = sw128_desc(k_s + off);\n"          \
    "        asm volatile(\"{\\n .reg .pred p;\\n setp.ne.b32 p, %34, 0;\\n\"\n"                           \
    "                     \" wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16\" BRC_REGS\n"             \
    "                     \" %32, %33, p, 1, 1, 0, 0;\\n}\" : BRC_D32(d) : \"l\"(da), \"l\"(db), \"r\"(1));\n" \
    "    }\n"                                                                                             \
    "    asm volatile(\"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"                          \
    "    asm volatile(\"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"                          \
    "}\n"                                                                                                 \
    "template <int N> __device__ __forceinline__ void store_tile(const float (&d)[N / 2], float *out) {\n" \
    "    const int w = threadIdx.x / 32, l = threadIdx.x % 32;\n"                                        \
    "#pragma unroll\n"                                                                                    \
    "    for (int i = 0; i < N / 2; i++)\n"                                                               \
    "        out[(16 * w + l / 4 + ((i & 2) ? 8 : 0)) * N + 8 * (i / 4) + 2 * (l % 4) + (i & 1)] = d[i];\n" \
    "}\n"                                                                                                 \
    "__device__ __forceinline__ bool load_tiles(unsigned bar_s, const brc_tmap *const *maps, const int *xs,\n" \
    "                                           const unsigned *dst, int n) {\n"                          \
    "    if (threadIdx.x == 0) bar_init(bar_s);\n"                                                        \
    "    __syncthreads();\n"                                                                              \
    "    if (threadIdx.x == 0) {\n"                                                                       \
    "        asm volatile(\"mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\" ::\"r\"(bar_s), \"r\"(n * 64 * 64 * 2) : \"memory\");\n" \
    "        for (int i = 0; i < n; i++) tma_box(dst[i], maps[i], xs[i], 0, bar_s);\n"                   \
    "    }\n"                                                                                             \
    "    return __syncthreads_and(bar_wait(bar_s));\n"                                                    \
    "}\n"

static const char qk_src[] = QK_PRELUDE
    "extern \"C\" __global__ void __launch_bounds__(128, 1)\n"
    "tma_qk(const __grid_constant__ brc_tmap tq, const __grid_constant__ brc_tmap tk, float *out, int *flag) {\n"
    "    __shared__ __align__(1024) unsigned short qs[64 * 64], ks[64 * 64];\n"
    "    __shared__ __align__(8) unsigned long long bar;\n"
    "    const brc_tmap *maps[2] = {&tq, &tk};\n"
    "    const unsigned dst[2] = {(unsigned)__cvta_generic_to_shared(qs), (unsigned)__cvta_generic_to_shared(ks)};\n"
    "    const int xs[2] = {0, 0};\n"
    "    if (!load_tiles((unsigned)__cvta_generic_to_shared(&bar), maps, xs, dst, 2)) { if (threadIdx.x == 0) atomicExch(flag, 1); return; }\n"
    "    float d[32];\n"
    "    s_tile<64>(d, dst[0], dst[1]);\n"
    "    store_tile<64>(d, out);\n"
    "}\n";

/* Step 4 and step 5: O = P V with P = Q K^T handed from the S accumulators to wgmma's register A
 * operand (bf16 pairs: the S accumulators of 8-column blocks 2 kk and 2 kk + 1 are the A fragment of
 * k16 step kk as they lie) and V [keys, D] N-major from its swizzled tile (trans-b = 1; 8 key rows
 * 1024 bytes apart, 2048 bytes a k16 step). A head dim of D is D / 64 swizzle atoms (64 x 64
 * boxes, 8 KiB apart): S's k16 steps walk them in turn, and V's descriptor spans them (its leading
 * byte offset the 8 KiB between atoms) for wgmma.m64nDk16. Q and K / V rows past the tensors'
 * ends (Sq, Sk < 64) arrive as TMA's zeros. Tiles in dynamic shared memory, their base rounded
 * up to 1024 bytes (1 KiB more requested). */
#define PV_PRELUDE \
    QK_PRELUDE \
    "__device__ __forceinline__ unsigned bf2(float lo, float hi) {\n" \
    "    unsigned r;\n" \
    "    asm(\"cvt.rn.bf16x2.f32 %0, %1, %2;\" : \"=r\"(r) : \"f\"(hi), \"f\"(lo));\n" \
    "    return r;\n" \
    "}\n" \
    "template <int N> struct pv_mma;\n" \
    "template <> struct pv_mma<64> {\n" \
    "    static __device__ __forceinline__ void run(float (&o)[32], unsigned a0, unsigned a1, unsigned a2, unsigned a3,\n" \
    "                                               unsigned long long db) {\n" \
    "        asm volatile(\"{\\n .reg .pred p;\\n setp.ne.b32 p, %37, 0;\\n\"\n" \
    "                     \" wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {\"\n" \
    "                     \" %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31},\"\n" \
    "                     \" {%32, %33, %34, %35}, %36, p, 1, 1, 1;\\n}\"\n" \
    "                     : BRC_D8(o, 0), BRC_D8(o, 8), BRC_D8(o, 16), BRC_D8(o, 24)\n" \
    "                     : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"l\"(db), \"r\"(1));\n" \
    "    }\n" \
    "};\n" \
    "template <> struct pv_mma<128> {\n" \
    "    static __device__ __forceinline__ void run(float (&o)[64], unsigned a0, unsigned a1, unsigned a2, unsigned a3,\n" \
    "                                               unsigned long long db) {\n" \
    "        asm volatile(\"{\\n .reg .pred p;\\n setp.ne.b32 p, %69, 0;\\n\"\n" \
    "                     \" wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {\"\n" \
    "                     \" %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,\"\n" \
    "                     \" %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63},\"\n" \
    "                     \" {%64, %65, %66, %67}, %68, p, 1, 1, 1;\\n}\"\n" \
    "                     : BRC_D8(o, 0), BRC_D8(o, 8), BRC_D8(o, 16), BRC_D8(o, 24), BRC_D8(o, 32), BRC_D8(o, 40), BRC_D8(o, 48), BRC_D8(o, 56)\n" \
    "                     : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"l\"(db), \"r\"(1));\n" \
    "    }\n" \
    "};\n" \
    "template <> struct pv_mma<256> {\n" \
    "    static __device__ __forceinline__ void run(float (&o)[128], unsigned a0, unsigned a1, unsigned a2, unsigned a3,\n" \
    "                                               unsigned long long db) {\n" \
    "        asm volatile(\"{\\n .reg .pred p;\\n setp.ne.b32 p, %133, 0;\\n\"\n" \
    "                     \" wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {\"\n" \
    "                     \" %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,\"\n" \
    "                     \" %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63,\"\n" \
    "                     \" %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95,\"\n" \
    "                     \" %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127},\"\n" \
    "                     \" {%128, %129, %130, %131}, %132, p, 1, 1, 1;\\n}\"\n" \
    "                     : BRC_D8(o, 0), BRC_D8(o, 8), BRC_D8(o, 16), BRC_D8(o, 24), BRC_D8(o, 32), BRC_D8(o, 40), BRC_D8(o, 48), BRC_D8(o, 56), BRC_D8(o, 64), BRC_D8(o, 72), BRC_D8(o, 80), BRC_D8(o, 88), BRC_D8(o, 96), BRC_D8(o, 104), BRC_D8(o, 112), BRC_D8(o, 120)\n" \
    "                     : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"l\"(db), \"r\"(1));\n" \
    "    }\n" \
    "};\n"

static const char pvd_src[] = PV_PRELUDE
    "template <int D>\n"
    "__device__ __forceinline__ void qkv_body(const brc_tmap &tq, const brc_tmap &tk, const brc_tmap &tv, float *out,\n"
    "                                         int *flag) {\n"
    "    enum { A = D / 64 };\n"
    "    extern __shared__ unsigned char dsm[];\n"
    "    __shared__ __align__(8) unsigned long long bar;\n"
    "    const unsigned q_s = ((unsigned)__cvta_generic_to_shared(dsm) + 1023u) & ~1023u, k_s = q_s + 8192 * A,\n"
    "                   v_s = k_s + 8192 * A;\n"
    "    const brc_tmap *maps[3 * A];\n"
    "    int xs[3 * A];\n"
    "    unsigned dst[3 * A];\n"
    "#pragma unroll\n"
    "    for (int a = 0; a < A; a++) {\n"
    "        maps[a] = &tq, maps[A + a] = &tk, maps[2 * A + a] = &tv;\n"
    "        xs[a] = xs[A + a] = xs[2 * A + a] = 64 * a;\n"
    "        dst[a] = q_s + 8192 * a, dst[A + a] = k_s + 8192 * a, dst[2 * A + a] = v_s + 8192 * a;\n"
    "    }\n"
    "    if (!load_tiles((unsigned)__cvta_generic_to_shared(&bar), maps, xs, dst, 3 * A)) { if (threadIdx.x == 0) atomicExch(flag, 1); return; }\n"
    "    float s[32], o[D / 2];\n"
    "    s_tile<D>(s, q_s, k_s);\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < D / 2; i++) o[i] = 0.f;\n"
    "    asm volatile(\"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "#pragma unroll\n"
    "    for (int kk = 0; kk < 4; kk++) {\n"
    "        const float *p = s + 8 * kk;  /* columns 16 kk .. 16 kk + 15 of S: the k16 slice */\n"
    "        pv_mma<D>::run(o, bf2(p[0], p[1]), bf2(p[2], p[3]), bf2(p[4], p[5]), bf2(p[6], p[7]),\n"
    "                       sw128_desc(v_s + 2048 * kk, 8192));\n"
    "    }\n"
    "    asm volatile(\"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "    asm volatile(\"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "    store_tile<D>(o, out);\n"
    "}\n"
    "#define QKV(D) extern \"C\" __global__ void __launch_bounds__(128, 1) tma_qkv_d##D(\\\n"
    "    const __grid_constant__ brc_tmap tq, const __grid_constant__ brc_tmap tk, const __grid_constant__ brc_tmap tv,\\\n"
    "    float *out, int *flag) { qkv_body<D>(tq, tk, tv, out, flag); }\n"
    "QKV(64)\n"
    "QKV(128)\n"
    "QKV(256)\n";

/* Step 6: the serial one-warpgroup forward, one CTA a 64-query tile: Q by TMA once (barrier phase
 * 0), then for each 64-key tile j the K and V boxes (phase j + 1, the one barrier re-armed after
 * every thread is done with the tile before), S = Q K^T, keys past Sk masked to -inf, the scores
 * in the log2 domain, the online softmax on the S fragments (a row's 64 scores live in the 4
 * lanes of a quad: its max and sum by two xor shuffles), O rescaled, O += P V from registers; at
 * the end O / l and lse = (m + log2 l) ln 2 for the rows below Sq. No pipelining, no warp
 * specialization (steps 7 and 8). */
static const char fwd_src[] = PV_PRELUDE
    "#define BRC_NEG_INF __int_as_float(0xff800000)\n"
    "template <int D>\n"
    "__device__ __forceinline__ void fwd_body(const brc_tmap &tq, const brc_tmap &tk, const brc_tmap &tv, int sq, int sk,\n"
    "                                         float scale_log2, float *out, float *lse, int *flag) {\n"
    "    enum { A = D / 64 };\n"
    "    extern __shared__ unsigned char dsm[];\n"
    "    __shared__ __align__(8) unsigned long long bar;\n"
    "    const unsigned q_s = ((unsigned)__cvta_generic_to_shared(dsm) + 1023u) & ~1023u, k_s = q_s + 8192 * A,\n"
    "                   v_s = k_s + 8192 * A, bar_s = (unsigned)__cvta_generic_to_shared(&bar);\n"
    "    const int q0 = blockIdx.x * 64, w = threadIdx.x / 32, l = threadIdx.x % 32, g = l / 4, t = l % 4;\n"
    "    if (threadIdx.x == 0) bar_init(bar_s);\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x == 0) {\n"
    "        tx_arrive(bar_s, 8192 * A);\n"
    "        for (int a = 0; a < A; a++) tma_box(q_s + 8192 * a, &tq, 64 * a, q0, bar_s);\n"
    "    }\n"
    "    if (!__syncthreads_and(bar_wait(bar_s, 0))) { if (threadIdx.x == 0) atomicExch(flag, 1); return; }\n"
    "    float o[D / 2], m[2] = {BRC_NEG_INF, BRC_NEG_INF}, lsum[2] = {0.f, 0.f};\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < D / 2; i++) o[i] = 0.f;\n"
    "    const int ntiles = (sk + 63) / 64;\n"
    "    for (int j = 0; j < ntiles; j++) {\n"
    "        __syncthreads();  /* every warp is done with tile j - 1 before its buffers are refilled */\n"
    "        if (threadIdx.x == 0) {\n"
    "            tx_arrive(bar_s, 2 * 8192 * A);\n"
    "            for (int a = 0; a < A; a++) {\n"
    "                tma_box(k_s + 8192 * a, &tk, 64 * a, 64 * j, bar_s);\n"
    "                tma_box(v_s + 8192 * a, &tv, 64 * a, 64 * j, bar_s);\n"
    "            }\n"
    "        }\n"
    "        if (!__syncthreads_and(bar_wait(bar_s, (j + 1) & 1))) { if (threadIdx.x == 0) atomicExch(flag, 1); return; }\n"
    "        float s[32];\n"
    "        s_tile<D>(s, q_s, k_s);\n"
    "        float mx[2] = {m[0], m[1]};\n"
    "#pragma unroll\n"
    "        for (int i = 0; i < 32; i++) {\n"
    "            const int key = 64 * j + 8 * (i / 4) + 2 * t + (i & 1);\n"
    "            s[i] = key < sk ? s[i] * scale_log2 : BRC_NEG_INF;\n"
    "            mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);\n"
    "        }\n"
    "        float alpha[2], rs[2] = {0.f, 0.f};\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < 2; r++) {\n"
    "            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));\n"
    "            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));\n"
    "            alpha[r] = exp2f(m[r] - mx[r]);  /* m = -inf on the first tile: 0 */\n"
    "            m[r] = mx[r];\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int i = 0; i < 32; i++) {\n"
    "            s[i] = exp2f(s[i] - m[(i >> 1) & 1]);\n"
    "            rs[(i >> 1) & 1] += s[i];\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < 2; r++) {\n"
    "            rs[r] += __shfl_xor_sync(0xffffffffu, rs[r], 1);\n"
    "            rs[r] += __shfl_xor_sync(0xffffffffu, rs[r], 2);\n"
    "            lsum[r] = lsum[r] * alpha[r] + rs[r];\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int i = 0; i < D / 2; i++) o[i] *= alpha[(i >> 1) & 1];\n"
    "        asm volatile(\"wgmma.fence.sync.aligned;\" ::: \"memory\");\n"
    "#pragma unroll\n"
    "        for (int kk = 0; kk < 4; kk++) {\n"
    "            const float *p = s + 8 * kk;\n"
    "            pv_mma<D>::run(o, bf2(p[0], p[1]), bf2(p[2], p[3]), bf2(p[4], p[5]), bf2(p[6], p[7]),\n"
    "                           sw128_desc(v_s + 2048 * kk, 8192));\n"
    "        }\n"
    "        asm volatile(\"wgmma.commit_group.sync.aligned;\" ::: \"memory\");\n"
    "        asm volatile(\"wgmma.wait_group.sync.aligned 0;\" ::: \"memory\");\n"
    "    }\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < D / 2; i++) {\n"
    "        const int r = (i >> 1) & 1, row = q0 + 16 * w + g + 8 * r;\n"
    "        if (row < sq) out[(long long)row * D + 8 * (i / 4) + 2 * t + (i & 1)] = o[i] / lsum[r];\n"
    "    }\n"
    "#pragma unroll\n"
    "    for (int r = 0; r < 2; r++) {\n"
    "        const int row = q0 + 16 * w + g + 8 * r;\n"
    "        if (t == 0 && row < sq) lse[row] = (m[r] + log2f(lsum[r])) * 0.6931471805599453f;\n"
    "    }\n"
    "}\n"
    "#define FWD(D) extern \"C\" __global__ void __launch_bounds__(128, 1) wgmma_fwd_d##D(\\\n"
    "    const __grid_constant__ brc_tmap tq, const __grid_constant__ brc_tmap tk, const __grid_constant__ brc_tmap tv,\\\n"
    "    int sq, int sk, float scale_log2, float *out, float *lse, int *flag) {\\\n"
    "    fwd_body<D>(tq, tk, tv, sq, sk, scale_log2, out, lse, flag); }\n"
    "FWD(64)\n"
    "FWD(128)\n"
    "FWD(256)\n";

static const brc__kernel *hopper_kernel(brc_context *ctx, const char *name, const char *src) {
    brc__kernel_req r = {.template_name = name, .sources = no_sources, .nspec = 1, .spec = {1}, .snippet = src,
                         .name_expr = name, .descriptor = name, .flags = BRC__JIT_ARCH_SPECIFIC | BRC__JIT_WHOLE_PROGRAM};
    const brc__kernel *k = NULL;
    brc_status st = brc__jit_get(ctx, &r, &k);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s: %s\n%s", name, brc_status_name(st), brc_last_error(), brc_last_jit_log());
    cr_expect_eq(k->local_bytes, 0, "%s: no spills", name);
    return k;
}

/* Both kernels compile for the arch-specific target of a plain sm_90 context (CI: no GPU). */
Test(hopper_probe, tma_and_wgmma_kernels_compile) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_90");
    hopper_kernel(ctx, "tma_box_copy", box_src);
    hopper_kernel(ctx, "tma_qk", qk_src);
    hopper_kernel(ctx, "tma_qkv_d256", pvd_src); /* the module holds d64 and d128 too */
    hopper_kernel(ctx, "wgmma_fwd_d256", fwd_src);
    brc_context_destroy(ctx);
}

/* A [rows, cols] row-major bf16 tensor's map with 64 x 64 boxes and the 128-byte swizzle. */
static CUtensorMap box_map(CUdeviceptr base, uint64_t rows, uint64_t cols) {
    CUtensorMap m;
    const cuuint64_t dims[2] = {cols, rows}, strides[1] = {cols * 2};
    const cuuint32_t box[2] = {64, 64}, estr[2] = {1, 1};
    CUresult r = brc__cu()->cuTensorMapEncodeTiled(&m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *)base, dims, strides,
                                                   box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                                   CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    cr_assert_eq(r, CUDA_SUCCESS, "cuTensorMapEncodeTiled: %s", brc__cu_errname(r));
    return m;
}

static brc_context *sm90_device_or_skip(void) {
    tu_fresh_cache();
    brc_context *ctx = tu_device_or_skip();
    if (ctx->sm_major < 9) {
        brc_context_destroy(ctx);
        cr_skip_test("device is sm_%d%d: TMA and wgmma need sm_90+", ctx->sm_major, ctx->sm_minor);
    }
    return ctx;
}

static void launch128(const brc__kernel *k, brc_context *ctx, void **args, unsigned smem, unsigned grid) {
    CUfunction fn = NULL;
    cr_assert_eq(brc__jit_function(ctx, k, &fn), BRC_STATUS_OK, "%s", brc_last_error());
    CUresult r = smem ? brc__cu()->cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)smem)
                      : CUDA_SUCCESS;
    cr_assert_eq(r, CUDA_SUCCESS, "cuFuncSetAttribute: %s", brc__cu_errname(r));
    r = brc__cu()->cuLaunchKernel(fn, grid, 1, 1, 128, 1, 1, smem, NULL, args, NULL);
    cr_assert_eq(r, CUDA_SUCCESS, "cuLaunchKernel: %s", brc__cu_errname(r));
    r = brc__cu()->cuCtxSynchronize();
    cr_assert_eq(r, CUDA_SUCCESS, "kernel: %s", brc__cu_errname(r));
}

/* Step 2: every element of a box lands at the byte the 128-byte swizzle predicts (the 16-byte
 * chunk c of row r at chunk c ^ (r % 8)), and the parts of a box past the tensor's end read 0. */
Test(hopper_probe, tma_box_lands_swizzled) {
    brc_context *ctx = sm90_device_or_skip();
    const brc__kernel *k = hopper_kernel(ctx, "tma_box_copy", box_src);
    const int rows = 200, cols = 96; /* a row is 192 bytes: a multiple of 16, as TMA needs */
    tu_buf g = tu_buf_new(BRC_BF16, (size_t)rows * cols), out = tu_buf_new(BRC_BF16, 64 * 64),
           flag = tu_buf_new(BRC_I32, 1);
    uint16_t *gh = (uint16_t *)g.h, *oh = (uint16_t *)out.h;
    for (int i = 0; i < rows * cols; i++) gh[i] = (uint16_t)(0x1000 + i); /* distinct, nonzero bits */
    tu_buf_upload(&g);
    CUtensorMap m = box_map(g.d, rows, cols);
    static const int at[][2] = {{0, 0}, {32, 70}, {64, 150}}; /* (x = column, y = row); the last overhangs */
    for (size_t b = 0; b < sizeof at / sizeof at[0]; b++) {
        int x = at[b][0], y = at[b][1];
        memset(out.h, 0xA5, 64 * 64 * 2);
        memset(flag.h, 0, 4);
        tu_buf_upload(&out);
        tu_buf_upload(&flag);
        void *args[] = {&m, &x, &y, &out.d, &flag.d};
        launch128(k, ctx, args, 0, 1);
        tu_buf_download(&out);
        tu_buf_download(&flag);
        cr_assert_eq(*(int *)flag.h, 0, "box (%d, %d): the mbarrier never completed", x, y);
        int bad = 0;
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < 64; c++) {
                const int chunk = (c / 8) ^ (r % 8), pos = r * 64 + chunk * 8 + c % 8;
                const int gr = y + r, gc = x + c;
                const uint16_t want = gr < rows && gc < cols ? gh[gr * cols + gc] : 0;
                if (oh[pos] != want && bad++ < 5)
                    cr_log_error("box (%d, %d) element (%d, %d): 0x%04x at %d, want 0x%04x", x, y, r, c, oh[pos], pos,
                                 want);
            }
        cr_expect_eq(bad, 0, "box (%d, %d): %d elements off", x, y, bad);
    }
    tu_buf_free(&g);
    tu_buf_free(&out);
    tu_buf_free(&flag);
    brc_context_destroy(ctx);
}

/* Step 3: S = Q K^T from TMA-loaded, swizzled tiles by wgmma equals the float64 product exactly
 * (small integers: every partial sum is exact in f32), each accumulator where the fragment map
 * puts it. */
Test(hopper_probe, wgmma_qk_tile_matches_float64) {
    brc_context *ctx = sm90_device_or_skip();
    const brc__kernel *k = hopper_kernel(ctx, "tma_qk", qk_src);
    tu_buf q = tu_buf_new(BRC_BF16, 64 * 64), kt = tu_buf_new(BRC_BF16, 64 * 64), s = tu_buf_new(BRC_F32, 64 * 64),
           flag = tu_buf_new(BRC_I32, 1);
    uint16_t *qh = (uint16_t *)q.h, *kh = (uint16_t *)kt.h;
    float *sh = (float *)s.h;
    int qv[64 * 64], kv[64 * 64];
    uint64_t st = 11;
    for (int i = 0; i < 64 * 64; i++) {
        qv[i] = (int)(tu_rand(&st) % 7) - 3, kv[i] = (int)(tu_rand(&st) % 9) - 4;
        qh[i] = tu_f32_to_bf16((float)qv[i]), kh[i] = tu_f32_to_bf16((float)kv[i]);
        sh[i] = NAN;
    }
    tu_buf_upload(&q);
    tu_buf_upload(&kt);
    tu_buf_upload(&s);
    memset(flag.h, 0, 4);
    tu_buf_upload(&flag);
    CUtensorMap mq = box_map(q.d, 64, 64), mk = box_map(kt.d, 64, 64);
    void *args[] = {&mq, &mk, &s.d, &flag.d};
    launch128(k, ctx, args, 0, 1);
    tu_buf_download(&s);
    tu_buf_download(&flag);
    cr_assert_eq(*(int *)flag.h, 0, "the mbarrier never completed");
    int bad = 0;
    for (int m = 0; m < 64; m++)
        for (int n = 0; n < 64; n++) {
            double want = 0;
            for (int j = 0; j < 64; j++) want += (double)qv[m * 64 + j] * kv[n * 64 + j];
            if (!(sh[m * 64 + n] == want) && bad++ < 5) cr_log_error("S[%d][%d] = %g, want %g", m, n, sh[m * 64 + n], want);
        }
    cr_expect_eq(bad, 0, "%d of 4096 elements of S off", bad);
    tu_buf_free(&q);
    tu_buf_free(&kt);
    tu_buf_free(&s);
    tu_buf_free(&flag);
    brc_context_destroy(ctx);
}



/* Steps 4 and 5: O = (Q K^T) V of one 64-query, 64-key tile at head dim D on the device, against
 * float64, exactly: Q and K in {-1, 0, 1} keep |S| <= D (exact in bf16 for D <= 256), V in
 * {-2 .. 2} keeps O exact in f32. Sq, Sk < 64 leave the tile's last rows to TMA's zero fill (their
 * S entries 0, their rows of O 0). A wrong A fragment map, descriptor, k step or atom stride shows
 * as misplaced or wrong sums. */
static void check_qkv(int D, int sq, int sk, uint64_t seed) {
    brc_context *ctx = sm90_device_or_skip();
    char name[32];
    snprintf(name, sizeof name, "tma_qkv_d%d", D);
    const brc__kernel *k = hopper_kernel(ctx, name, pvd_src);
    tu_buf q = tu_buf_new(BRC_BF16, (size_t)sq * D), kt = tu_buf_new(BRC_BF16, (size_t)sk * D),
           v = tu_buf_new(BRC_BF16, (size_t)sk * D), o = tu_buf_new(BRC_F32, (size_t)64 * D),
           flag = tu_buf_new(BRC_I32, 1);
    int *qv = malloc(sizeof(int) * (size_t)sq * D), *kv = malloc(sizeof(int) * (size_t)sk * D),
        *vv = malloc(sizeof(int) * (size_t)sk * D);
    double *sref = malloc(sizeof(double) * 64 * 64);
    cr_assert(qv && kv && vv && sref);
    uint64_t st = seed;
    for (int i = 0; i < sq * D; i++) qv[i] = (int)(tu_rand(&st) % 3) - 1, ((uint16_t *)q.h)[i] = tu_f32_to_bf16((float)qv[i]);
    for (int i = 0; i < sk * D; i++) {
        kv[i] = (int)(tu_rand(&st) % 3) - 1, vv[i] = (int)(tu_rand(&st) % 5) - 2;
        ((uint16_t *)kt.h)[i] = tu_f32_to_bf16((float)kv[i]), ((uint16_t *)v.h)[i] = tu_f32_to_bf16((float)vv[i]);
    }
    float *oh = (float *)o.h;
    for (int i = 0; i < 64 * D; i++) oh[i] = NAN;
    tu_buf_upload(&q);
    tu_buf_upload(&kt);
    tu_buf_upload(&v);
    tu_buf_upload(&o);
    memset(flag.h, 0, 4);
    tu_buf_upload(&flag);
    CUtensorMap mq = box_map(q.d, (uint64_t)sq, (uint64_t)D), mk = box_map(kt.d, (uint64_t)sk, (uint64_t)D),
                mv = box_map(v.d, (uint64_t)sk, (uint64_t)D);
    void *args[] = {&mq, &mk, &mv, &o.d, &flag.d};
    launch128(k, ctx, args, (unsigned)(3 * 8192 * (D / 64) + 1024), 1);
    tu_buf_download(&o);
    tu_buf_download(&flag);
    cr_assert_eq(*(int *)flag.h, 0, "D %d: the mbarrier never completed", D);
    for (int m = 0; m < 64; m++)
        for (int n = 0; n < 64; n++) {
            sref[m * 64 + n] = 0;
            if (m < sq && n < sk)
                for (int j = 0; j < D; j++) sref[m * 64 + n] += (double)qv[m * D + j] * kv[n * D + j];
        }
    int bad = 0;
    for (int m = 0; m < 64; m++)
        for (int d = 0; d < D; d++) {
            double want = 0;
            for (int n = 0; n < sk; n++) want += sref[m * 64 + n] * vv[n * D + d];
            if (!(oh[m * D + d] == want) && bad++ < 5)
                cr_log_error("D %d, Sq %d, Sk %d: O[%d][%d] = %g, want %g", D, sq, sk, m, d, oh[m * D + d], want);
        }
    cr_expect_eq(bad, 0, "D %d, Sq %d, Sk %d: %d of %d elements of O off", D, sq, sk, bad, 64 * D);
    free(qv), free(kv), free(vv), free(sref);
    tu_buf_free(&q);
    tu_buf_free(&kt);
    tu_buf_free(&v);
    tu_buf_free(&o);
    tu_buf_free(&flag);
    brc_context_destroy(ctx);
}

Test(hopper_probe, wgmma_pv_from_registers_matches_float64) {
    check_qkv(64, 64, 64, 23);
    check_qkv(64, 1, 17, 31); /* one query row, a partial key tile */
}

Test(hopper_probe, wgmma_d128_across_atoms_matches_float64) {
    check_qkv(128, 64, 64, 29);
    check_qkv(128, 50, 37, 37);
}

Test(hopper_probe, wgmma_d256_across_atoms_matches_float64) {
    check_qkv(256, 64, 64, 41);
    check_qkv(256, 63, 1, 43);
}

/* Step 6: the serial wgmma forward against float64 attention (bf16-rounded random inputs, scale
 * 1 / sqrt(D)): O by relative L2 (P is rounded to bf16 before P V, as FlashAttention does), lse
 * within 1e-3. Several query tiles, partial first and last tiles, and up to 65 key tiles (the
 * barrier's phase flips 66 times). */
static void check_fwd(int D, int sq, int sk, uint64_t seed) {
    brc_context *ctx = sm90_device_or_skip();
    char name[32];
    snprintf(name, sizeof name, "wgmma_fwd_d%d", D);
    const brc__kernel *k = hopper_kernel(ctx, name, fwd_src);
    tu_buf q = tu_buf_new(BRC_BF16, (size_t)sq * D), kt = tu_buf_new(BRC_BF16, (size_t)sk * D),
           v = tu_buf_new(BRC_BF16, (size_t)sk * D), o = tu_buf_new(BRC_F32, (size_t)sq * D),
           lse = tu_buf_new(BRC_F32, (size_t)sq), flag = tu_buf_new(BRC_I32, 1);
    uint64_t st = seed;
    tu_buf *ins[] = {&q, &kt, &v};
    for (int b = 0; b < 3; b++)
        for (size_t i = 0; i < ins[b]->n; i++)
            ((uint16_t *)ins[b]->h)[i] = tu_f32_to_bf16((float)tu_uniform(&st, -1.0, 1.0));
    for (size_t i = 0; i < o.n; i++) ((float *)o.h)[i] = NAN;
    for (size_t i = 0; i < lse.n; i++) ((float *)lse.h)[i] = NAN;
    tu_buf_upload(&q);
    tu_buf_upload(&kt);
    tu_buf_upload(&v);
    tu_buf_upload(&o);
    tu_buf_upload(&lse);
    memset(flag.h, 0, 4);
    tu_buf_upload(&flag);
    CUtensorMap mq = box_map(q.d, (uint64_t)sq, (uint64_t)D), mk = box_map(kt.d, (uint64_t)sk, (uint64_t)D),
                mv = box_map(v.d, (uint64_t)sk, (uint64_t)D);
    const double scale = 1.0 / sqrt((double)D);
    float scale_log2 = (float)(scale * 1.4426950408889634);
    int sqa = sq, ska = sk;
    void *args[] = {&mq, &mk, &mv, &sqa, &ska, &scale_log2, &o.d, &lse.d, &flag.d};
    launch128(k, ctx, args, (unsigned)(3 * 8192 * (D / 64) + 1024), (unsigned)((sq + 63) / 64));
    tu_buf_download(&o);
    tu_buf_download(&lse);
    tu_buf_download(&flag);
    cr_assert_eq(*(int *)flag.h, 0, "D %d: the mbarrier never completed", D);
    double *p = malloc(sizeof(double) * (size_t)sk), num = 0, den = 0, lse_err = 0;
    cr_assert(p);
    for (int m = 0; m < sq; m++) {
        double mx = -INFINITY, sum = 0;
        for (int n = 0; n < sk; n++) {
            double dot = 0;
            for (int j = 0; j < D; j++) dot += tu_buf_at(&q, (size_t)m * D + j) * tu_buf_at(&kt, (size_t)n * D + j);
            p[n] = dot * scale;
            mx = fmax(mx, p[n]);
        }
        for (int n = 0; n < sk; n++) p[n] = exp(p[n] - mx), sum += p[n];
        for (int d = 0; d < D; d++) {
            double want = 0;
            for (int n = 0; n < sk; n++) want += p[n] * tu_buf_at(&v, (size_t)n * D + d);
            want /= sum;
            const double got = ((float *)o.h)[(size_t)m * D + d];
            num += (got - want) * (got - want), den += want * want;
            if (isnan(got)) num = INFINITY;
        }
        const double e = fabs(((float *)lse.h)[m] - (mx + log(sum)));
        lse_err = isnan(e) ? INFINITY : fmax(lse_err, e);
    }
    const double rel = sqrt(num / den);
    cr_expect(rel < 1e-2, "D %d, Sq %d, Sk %d: O relative L2 %.3g", D, sq, sk, rel);
    cr_expect(lse_err < 1e-3, "D %d, Sq %d, Sk %d: lse off by %.3g", D, sq, sk, lse_err);
    cr_log_info("wgmma forward D %d, Sq %d, Sk %d: O relative L2 %.2e, lse max error %.2e", D, sq, sk, rel, lse_err);
    free(p);
    tu_buf_free(&q);
    tu_buf_free(&kt);
    tu_buf_free(&v);
    tu_buf_free(&o);
    tu_buf_free(&lse);
    tu_buf_free(&flag);
    brc_context_destroy(ctx);
}

Test(hopper_probe, wgmma_forward_d64_matches_float64) {
    check_fwd(64, 64, 64, 51);
    check_fwd(64, 100, 1000, 53);
}

Test(hopper_probe, wgmma_forward_d128_matches_float64) {
    check_fwd(128, 1, 4097, 57);
    check_fwd(128, 130, 17, 59);
}

Test(hopper_probe, wgmma_forward_d256_matches_float64) { check_fwd(256, 65, 130, 61); }
