/* Movement family without a GPU: a representative set of kernel variants (copy with and without
 * vectors, 32- and 64-bit indices, the tiled transpose for each element size, launches of 4 and
 * 16 pieces, every generator, every pad mode both ways) compiles for sm_80 and sm_90 (offline
 * contexts) from its canonical descriptor and gives that descriptor back; plans made through the
 * API pick the kernel their strides call for and rebuild from their descriptors; the validation
 * rules of movement.h each give their status and name the operand. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* Kept modest: CI has two cores. Each line is one kernel except the 20-piece concat (two). */
static const char *const variants[] = {
    "copy(bytes=1,rank=1,vec=16,index=32)",
    "copy(bytes=2,rank=3,vec=8,index=32)",
    "copy(bytes=4,rank=2,vec=1,index=64)",
    "copy(bytes=8,rank=8,vec=2,index=32)",
    "copy(bytes=1,rank=2,tile=1)",
    "copy(bytes=2,rank=3,tile=1)",
    "copy(bytes=4,rank=2,tile=2)",
    "copy(bytes=2,rank=2,tile=3)",
    "copy(bytes=2,rank=2,tile=4)",
    "copy(bytes=8,rank=4,tile=1)",
    "concat(bytes=2,pieces=3,rank=2,vec=8,index=32,unroll=1)",
    "concat(bytes=4,pieces=20,rank=3,vec=4,index=32)",
    "split(bytes=4,pieces=16,rank=8,vec=1,index=64)",
    "slice(bytes=2,rank=4,vec=8,index=32)",
    "write_slice(bytes=8,rank=2,vec=1,index=32)",
    "fill(kind=fill,dtype=bf16,rank=1,vec=8)",
    "fill(kind=fill,dtype=fp8e4m3,rank=3,vec=16)",
    "fill(kind=arange,dtype=f32,rank=1,vec=4)",
    "fill(kind=arange,dtype=i64,rank=1,vec=2)",
    "fill(kind=linspace,dtype=f64,rank=1,vec=1)",
    "fill(kind=eye,dtype=f16,rank=3,vec=8)",
    "fill(kind=triu,dtype=bool,rank=2,vec=16)",
    "fill(kind=tril,dtype=i32,rank=4,vec=4)",
    "copy(bytes=2,rank=1,vec=8,index=32,hint=1)",
    "pad(mode=constant,dtype=u8,rank=2,dir=fwd)",
    "pad(mode=reflect,dtype=bf16,rank=3,dir=fwd)",
    "pad(mode=reflect,dtype=bf16,rank=3,dir=fwd,stage=1)",
    "pad(mode=reflect,dtype=bf16,rank=3,dir=fwd,stage=2)",
    "pad(mode=reflect,dtype=bf16,rank=3,dir=fwd,stage=3)",
    "pad(mode=replicate,dtype=f32,rank=1,dir=fwd)",
    "pad(mode=circular,dtype=i64,rank=4,dir=fwd)",
    "pad(mode=constant,dtype=f16,rank=2,dir=bwd)",
    "pad(mode=reflect,dtype=f32,rank=2,dir=bwd)",
    "pad(mode=replicate,dtype=bf16,rank=3,dir=bwd)",
    "pad(mode=circular,dtype=f64,rank=1,dir=bwd)",
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))

ParameterizedTestParameters(movement_compile, every_variant) {
    static int sms[] = {80, 90};
    return cr_make_param_array(int, sms, 2);
}

ParameterizedTest(int *sm, movement_compile, every_variant, .timeout = 900) {
    setenv("BARACUDA_CACHE_DISABLE", "1", 1); /* really compile */
    brc__cache_reset();
    char arch[16];
    snprintf(arch, sizeof arch, "sm_%d", *sm);
    brc_context *ctx = tu_offline(arch);
    int kernels = 0;
    for (int i = 0; i < NVARIANTS; i++) {
        brc_plan *p = NULL;
        brc_status s = brc__plan_from_descriptor(ctx, variants[i], &p);
        cr_expect_eq(s, BRC_STATUS_OK, "%s on %s: %s\n%s", variants[i], arch, brc_last_error(), brc_last_jit_log());
        if (s) continue;
        cr_expect_str_eq(brc_plan_descriptor(p), variants[i], "the descriptor round-trips");
        const char *sku = brc_plan_sku(p);
        cr_expect(strstr(sku, "bespoke:") == sku && strstr(sku, arch), "sku %s", sku);
        /* Programmatic dependent launches from sm_90 on (runtime/ops/movement.c, mv_pdl). */
        cr_expect((strstr(sku, "+pdl@") != NULL) == (*sm >= 90), "sku %s", sku);
        cr_expect_eq(brc_plan_workspace_size(p), 0u);
        kernels += strstr(variants[i], "pieces=20") ? 2 : 1;
        cr_log_info("%s -> %s", variants[i], sku);
        brc_plan_destroy(p);
    }
    brc_jit_stats st;
    brc_jit_stats_get(&st);
    cr_expect_eq(st.compiles, (uint64_t)kernels, "every kernel was a real compile");
    cr_log_info("%s: %d kernels, %.0f ms", arch, kernels, st.compile_ms);
    brc_context_destroy(ctx);
}

/* ---- plans made through the API --------------------------------------------------------------------- */

static brc_tensor_desc dense(brc_dtype t, int rank, const int64_t *shape) {
    brc_tensor_desc d;
    brc_tensor_desc_contiguous(&d, t, rank, shape);
    return d;
}

/* Makes the plan, checks its descriptor (and SKU piece, when given), and round-trips it. */
#define EXPECT_PLAN(call, want_desc, sku_part)                                                           \
    do {                                                                                                 \
        brc_plan *p_ = NULL;                                                                             \
        cr_assert_eq((call), BRC_STATUS_OK, "%s\n%s", brc_last_error(), brc_last_jit_log());            \
        cr_expect_str_eq(brc_plan_descriptor(p_), want_desc);                                            \
        const char *part_ = (sku_part);                                                                  \
        if (part_) cr_expect(strstr(brc_plan_sku(p_), part_) != NULL, "%s", brc_plan_sku(p_));          \
        tu_round_trip(ctx, p_);                                                                          \
    } while (0)

Test(movement_desc, api_plans_pick_the_kernel_and_round_trip) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan_prefs strided = BRC_PLAN_PREFS_INIT;
    strided.force_strided = 1;
    /* Contiguous: one dim, 16-byte vectors. */
    int64_t s2[2] = {1000, 4096};
    brc_copy_desc c = {dense(BRC_F32, 2, s2), dense(BRC_F32, 2, s2)};
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=4,rank=1,vec=4,index=32)", "p=1>+pdl@sm_90");
    /* BARACUDA_MV_PDL=0: the same descriptor, launched without programmatic dependence. */
    setenv("BARACUDA_MV_PDL", "0", 1);
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=4,rank=1,vec=4,index=32)", "p=1>@sm_90");
    unsetenv("BARACUDA_MV_PDL");
    /* 64 MiB and more: the same kernel with cache hints (COPY_HINT_BYTES); just below, none. */
    int64_t sh64[2] = {16384, 2048}, below[2] = {16383, 2048};
    brc_copy_desc cb = {dense(BRC_BF16, 2, sh64), dense(BRC_BF16, 2, sh64)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,hint=1)", "p=1,hint>+pdl@sm_90");
    cb = (brc_copy_desc){dense(BRC_BF16, 2, below), dense(BRC_BF16, 2, below)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32)", "p=1>+pdl@sm_90");
    /* With programmatic dependent launches (sm_90) a small contiguous copy is a kernel too
     * (COPY_MEMCPY_PDL_BYTES). */
    int64_t tiny[2] = {64, 1024}, mc[1] = {(4 << 20) / 2}, mc1[1] = {(4 << 20) / 2 + 8}, odd[1] = {1001};
    cb = (brc_copy_desc){dense(BRC_BF16, 2, tiny), dense(BRC_BF16, 2, tiny)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", "p=1,u1>+pdl@sm_90");
    /* Without them (BARACUDA_MV_PDL=0 here, as on sm_80): a contiguous run of a multiple of 16 bytes,
     * at most COPY_MEMCPY_BYTES (4 MiB), is the driver's memcpy, no kernel; 16 bytes more, an odd
     * byte count, a padded copy of the same size, or with BARACUDA_COPY_MEMCPY=0: a kernel. */
    setenv("BARACUDA_MV_PDL", "0", 1);
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,memcpy=1)", "driver:memcpy<b2>@sm_90");
    brc_copy_desc cm = {dense(BRC_BF16, 1, mc), dense(BRC_BF16, 1, mc)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cm, NULL, &p_), "copy(bytes=2,memcpy=1)", "driver:memcpy<b2>@sm_90");
    cm = (brc_copy_desc){dense(BRC_F32, 1, mc), dense(BRC_F32, 1, mc)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cm, NULL, &p_), "copy(bytes=4,rank=1,vec=4,index=32,unroll=1)", "p=1,u1>@sm_90");
    cm = (brc_copy_desc){dense(BRC_BF16, 1, mc1), dense(BRC_BF16, 1, mc1)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cm, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", "p=1,u1>@sm_90");
    cm = (brc_copy_desc){dense(BRC_BF16, 1, odd), dense(BRC_BF16, 1, odd)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cm, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", "p=1,u1>@sm_90");
    cm = (brc_copy_desc){dense(BRC_BF16, 2, tiny), dense(BRC_BF16, 2, tiny)};
    cm.x.strides[0] = 1032;
    EXPECT_PLAN(brc_copy_plan(ctx, &cm, NULL, &p_), "copy(bytes=2,rank=2,vec=8,index=32,unroll=1)", "p=1,u1>@sm_90");
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, &strided, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", NULL);
    unsetenv("BARACUDA_MV_PDL");
    setenv("BARACUDA_COPY_MEMCPY", "0", 1);
    /* Fewer CTAs than COPY_SMALL (4) an SM at MV_UNROLL units a thread: one unit a thread. 64 x 1024
     * bf16 is 8192 units of 8, 8 CTAs of 1024; the offline GPU has 132 SMs: 527 CTAs' worth takes
     * one unit a thread, 528 keep MV_UNROLL. */
    int64_t under[1] = {527 * 1024 * 8}, at[1] = {528 * 1024 * 8};
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", "p=1,u1>+pdl@sm_90");
    cb = (brc_copy_desc){dense(BRC_BF16, 1, under), dense(BRC_BF16, 1, under)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", "p=1,u1>+pdl@sm_90");
    cb = (brc_copy_desc){dense(BRC_BF16, 1, at), dense(BRC_BF16, 1, at)};
    EXPECT_PLAN(brc_copy_plan(ctx, &cb, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32)", "p=1>+pdl@sm_90");
    unsetenv("BARACUDA_COPY_MEMCPY");
    /* A padded source row (odd stride): rows of 4096 still vectorize. */
    c.x.strides[0] = 4100;
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=4,rank=2,vec=4,index=32)", NULL);
    /* An odd row stride: no vectors. */
    c.x.strides[0] = 4097;
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=4,rank=2,vec=1,index=32)", NULL);
    /* Both flipped along the rows: still one contiguous run. */
    c = (brc_copy_desc){dense(BRC_BF16, 2, s2), dense(BRC_BF16, 2, s2)};
    c.x.strides[0] = c.y.strides[0] = -4096;
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=2,rank=1,vec=8,index=32,unroll=1)", NULL);
    /* x walked backwards along the inner dim: a gather. */
    c.x.strides[0] = 4096, c.x.strides[1] = -1, c.y.strides[0] = 4096;
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=2,rank=2,vec=1,index=32)", NULL);
    /* A transpose: tiled; for 2-byte elements wide tiles where they fill two waves of the offline
     * 132-SM GPU at 2 CTAs an SM (8192^2 bf16: 4096 of 528); else half tiles below two whole tiles a
     * CTA slot (512 x 512: 32; for 2-byte elements long tiles where they are many: below), whole
     * tiles above (8192^2 f32: 16384); forced strided: a gather. */
    int64_t t2[2] = {4096, 1000}, sq[2] = {8192, 8192}, s5[2] = {512, 512};
    brc_permute_desc pm = {dense(BRC_BF16, 2, s2), dense(BRC_BF16, 2, t2), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pm, NULL, &p_), "copy(bytes=2,rank=2,tile=4)", "tile=64x128");
    brc_permute_desc ps = {dense(BRC_BF16, 2, s5), dense(BRC_BF16, 2, s5), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &ps, NULL, &p_), "copy(bytes=2,rank=2,tile=2)", "tile=64x64");
    brc_permute_desc pg = {dense(BRC_F32, 2, s2), dense(BRC_F32, 2, t2), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pg, NULL, &p_), "copy(bytes=4,rank=2,tile=2)", "tile=32x64");
    brc_permute_desc pq = {dense(BRC_BF16, 2, sq), dense(BRC_BF16, 2, sq), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pq, NULL, &p_), "copy(bytes=2,rank=2,tile=3)", "tile=128x128");
    brc_permute_desc pf = {dense(BRC_F32, 2, sq), dense(BRC_F32, 2, sq), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pf, NULL, &p_), "copy(bytes=4,rank=2,tile=1)", "tile=64x64");
    brc_permute_desc pu = {dense(BRC_U8, 2, s2), dense(BRC_U8, 2, t2), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pu, NULL, &p_), "copy(bytes=1,rank=2,tile=1)", "tile=128x128");
    EXPECT_PLAN(brc_permute_plan(ctx, &pm, &strided, &p_), "copy(bytes=2,rank=2,vec=1,index=32)", NULL);
    /* Long tiles (64 x 128) for 2-byte transposes that would take half tiles where there are at
     * least two long tiles an SM: x [4096, 1000] bf16 (the bench's: 512 long tiles) and pm (x
     * [1000, 4096]: 512); not x [1000, 1000] (128 long tiles), nor 512 x 512 (32);
     * BARACUDA_TILE_LONG=1 takes them wherever half tiles would be taken, 0 never. */
    int64_t t3[2] = {1000, 1000};
    brc_permute_desc pl = {dense(BRC_BF16, 2, t2), dense(BRC_BF16, 2, s2), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pl, NULL, &p_), "copy(bytes=2,rank=2,tile=4)", "tile=64x128");
    brc_permute_desc pk = {dense(BRC_F16, 2, t3), dense(BRC_F16, 2, t3), {1, 0}};
    EXPECT_PLAN(brc_permute_plan(ctx, &pk, NULL, &p_), "copy(bytes=2,rank=2,tile=2)", "tile=64x64");
    setenv("BARACUDA_TILE_LONG", "1", 1);
    EXPECT_PLAN(brc_permute_plan(ctx, &pk, NULL, &p_), "copy(bytes=2,rank=2,tile=4)", "tile=64x128");
    EXPECT_PLAN(brc_permute_plan(ctx, &pm, NULL, &p_), "copy(bytes=2,rank=2,tile=4)", "tile=64x128");
    EXPECT_PLAN(brc_permute_plan(ctx, &ps, NULL, &p_), "copy(bytes=2,rank=2,tile=4)", "tile=64x128");
    EXPECT_PLAN(brc_permute_plan(ctx, &pg, NULL, &p_), "copy(bytes=4,rank=2,tile=2)", "tile=32x64");
    EXPECT_PLAN(brc_permute_plan(ctx, &pq, NULL, &p_), "copy(bytes=2,rank=2,tile=3)", "tile=128x128");
    setenv("BARACUDA_TILE_LONG", "0", 1);
    EXPECT_PLAN(brc_permute_plan(ctx, &pl, NULL, &p_), "copy(bytes=2,rank=2,tile=2)", "tile=64x64");
    EXPECT_PLAN(brc_permute_plan(ctx, &pm, NULL, &p_), "copy(bytes=2,rank=2,tile=2)", "tile=64x64");
    unsetenv("BARACUDA_TILE_LONG");
    /* [B, S, H, D] -> [B, H, S, D]: the innermost dim stays: vectors, 3 dims. */
    int64_t bshd[4] = {2, 128, 8, 64}, bhsd[4] = {2, 8, 128, 64};
    brc_permute_desc kv = {dense(BRC_F16, 4, bshd), dense(BRC_F16, 4, bhsd), {0, 2, 1, 3}};
    EXPECT_PLAN(brc_permute_plan(ctx, &kv, NULL, &p_), "copy(bytes=2,rank=4,vec=8,index=32,unroll=1)", NULL);
    /* NCHW -> NHWC with C = 3: the source's unit dim is too short to tile. */
    int64_t nchw[4] = {8, 3, 224, 224}, nhwc[4] = {8, 224, 224, 3};
    brc_permute_desc cl = {dense(BRC_U8, 4, nchw), dense(BRC_U8, 4, nhwc), {0, 2, 3, 1}};
    EXPECT_PLAN(brc_permute_plan(ctx, &cl, NULL, &p_), "copy(bytes=1,rank=3,vec=1,index=32)", NULL);
    /* More than 2^31 elements: 64-bit indices (offline: nothing is allocated); cache hints (4 GiB). */
    int64_t big[2] = {65536, 65536};
    c = (brc_copy_desc){dense(BRC_U8, 2, big), dense(BRC_U8, 2, big)};
    EXPECT_PLAN(brc_copy_plan(ctx, &c, NULL, &p_), "copy(bytes=1,rank=1,vec=16,index=64,hint=1)", "i64");
    /* flip of the last dim of x: a gather; roll: two pieces; repeat: four dims. */
    int64_t s35[2] = {3, 5}, s615[2] = {6, 15};
    brc_flip_desc fl = {dense(BRC_F32, 2, s2), dense(BRC_F32, 2, s2), 1, {-1}};
    EXPECT_PLAN(brc_flip_plan(ctx, &fl, NULL, &p_), "copy(bytes=4,rank=2,vec=1,index=32)", NULL);
    brc_roll_desc rl = {dense(BRC_F32, 2, s2), dense(BRC_F32, 2, s2), 1, {1}, {-7}};
    EXPECT_PLAN(brc_roll_plan(ctx, &rl, NULL, &p_), "copy(bytes=4,pieces=2,rank=2,vec=1,index=32)", "p=4");
    rl.shifts[0] = 4;
    EXPECT_PLAN(brc_roll_plan(ctx, &rl, NULL, &p_), "copy(bytes=4,pieces=2,rank=2,vec=4,index=32)", "p=4");
    brc_repeat_desc rp = {dense(BRC_F64, 2, s35), dense(BRC_F64, 2, s615), {2, 3}};
    EXPECT_PLAN(brc_repeat_plan(ctx, &rp, NULL, &p_), "copy(bytes=8,rank=4,vec=1,index=32,unroll=1)", NULL);
    /* concat of three along dim 1, split back. */
    int64_t a1[2] = {64, 128}, a2[2] = {64, 64}, a3[2] = {64, 256}, all[2] = {64, 448};
    brc_tensor_desc parts[3] = {dense(BRC_BF16, 2, a1), dense(BRC_BF16, 2, a2), dense(BRC_BF16, 2, a3)};
    brc_concat_desc cc = {3, parts, dense(BRC_BF16, 2, all), -1};
    EXPECT_PLAN(brc_concat_plan(ctx, &cc, NULL, &p_), "concat(bytes=2,pieces=3,rank=2,vec=8,index=32,unroll=1)", "p=4");
    brc_split_desc sp = {dense(BRC_BF16, 2, all), 3, parts, 1};
    EXPECT_PLAN(brc_split_plan(ctx, &sp, NULL, &p_), "split(bytes=2,pieces=3,rank=2,vec=8,index=32,unroll=1)", NULL);
    /* Along dim 0 the pieces are each one contiguous run. */
    int64_t b1[2] = {3, 448}, b2[2] = {5, 448}, ball[2] = {8, 448};
    brc_tensor_desc rows[2] = {dense(BRC_BF16, 2, b1), dense(BRC_BF16, 2, b2)};
    brc_concat_desc cr = {2, rows, dense(BRC_BF16, 2, ball), 0};
    EXPECT_PLAN(brc_concat_plan(ctx, &cr, NULL, &p_), "concat(bytes=2,pieces=2,rank=1,vec=8,index=32,unroll=1)", NULL);
    /* KV-cache append: [2, 8, 1, 64] written at a device position of [2, 8, 1024, 64]. */
    int64_t cache[4] = {2, 8, 1024, 64}, tok[4] = {2, 8, 1, 64};
    brc_slice_desc ws = {dense(BRC_F16, 4, tok), dense(BRC_F16, 4, cache), 2, 1, 0, 1};
    EXPECT_PLAN(brc_write_slice_plan(ctx, &ws, NULL, &p_), "write_slice(bytes=2,rank=2,vec=8,index=32,unroll=1)", NULL);
    /* A dynamic start along the innermost dim forbids vectors (the start is any integer). */
    int64_t row[2] = {4, 4096}, part[2] = {4, 64};
    brc_slice_desc sl = {dense(BRC_F32, 2, row), dense(BRC_F32, 2, part), 1, 1, 0, 1};
    EXPECT_PLAN(brc_slice_plan(ctx, &sl, NULL, &p_), "slice(bytes=4,rank=2,vec=1,index=32,unroll=1)", NULL);
    sl.dynamic_start = 0, sl.start = 64;
    EXPECT_PLAN(brc_slice_plan(ctx, &sl, NULL, &p_), "slice(bytes=4,rank=2,vec=4,index=32,unroll=1)", NULL);
    /* Generators. */
    int64_t z[2] = {1000, 4097}, m3[3] = {5, 7, 9}, n1[1] = {1001};
    brc_fill_desc f = {BRC_FILL_FILL, dense(BRC_F32, 2, z), {0}, 0, 0, 0};
    EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=fill,dtype=f32,rank=1,vec=4)", NULL);
    /* With programmatic dependent launches (sm_90) a small fill is a kernel (FILL_MEMSET_PDL_BYTES).
     * Without them (BARACUDA_MV_PDL=0 here, as on sm_80): a contiguous fill of at most
     * FILL_MEMSET_BYTES (4 MiB) whose value the dtype holds exactly is the driver's memset, no kernel.
     * An inexact value, NaN, fp8, an 8-byte value whose halves differ, a strided y, 4 MiB + 4 bytes,
     * or BARACUDA_FILL_MEMSET=0: a kernel. */
    {
        int64_t sm2[2] = {64, 1024}, m4[1] = {(4 << 20) / 4}, m4p[1] = {(4 << 20) / 4 + 1};
        brc_fill_desc f0 = {BRC_FILL_FILL, dense(BRC_F32, 2, sm2), {0}, 0, 0, 0};
        EXPECT_PLAN(brc_fill_plan(ctx, &f0, NULL, &p_), "fill(kind=fill,dtype=f32,rank=1,vec=4)",
                    "bespoke:fill<fill,f32,rank=1,vec=4>+pdl@sm_90");
        setenv("BARACUDA_MV_PDL", "0", 1);
        static const struct {
            brc_dtype dt;
            double v;
            bool mset;
        } fv[] = {{BRC_F32, 0, true},       {BRC_F32, -2.5, true},        {BRC_F32, 0.1, false},
                  {BRC_F32, NAN, false},    {BRC_F32, INFINITY, true},    {BRC_BF16, 1.5, true},
                  {BRC_BF16, 0.1, false},   {BRC_BF16, 1.0 / 3, false},   {BRC_F16, 65504, true},
                  {BRC_F16, 65520, false},  {BRC_F16, 0x1p-24, true},     {BRC_F16, 0x1p-25, false},
                  {BRC_F16, -0x1.ff8p-15, true}, {BRC_F16, -3.0, true}, {BRC_F16, 0x1.0p-14 + 0x1p-25, false},
                  {BRC_F64, 0, true},       {BRC_F64, 1, false},          {BRC_I64, -1, true},
                  {BRC_I64, 1, false},      {BRC_I8, -1, true},           {BRC_I8, 300, false},
                  {BRC_I8, 1.5, false},     {BRC_U32, 4294967295.0, true}, {BRC_U8, 255, true},
                  {BRC_BOOL, 1, true},      {BRC_BOOL, 0.5, false},       {BRC_FP8E4M3, 0, false}};
        for (size_t i = 0; i < sizeof fv / sizeof fv[0]; i++) {
            brc_fill_desc fm = {BRC_FILL_FILL, dense(fv[i].dt, 2, sm2), {0}, fv[i].v, 0, 0};
            brc_plan *p = NULL;
            cr_assert_eq(brc_fill_plan(ctx, &fm, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
            char want[64];
            snprintf(want, sizeof want, "driver:memset<b%zu>@sm_90", brc_dtype_size(fv[i].dt));
            cr_expect_eq(strcmp(brc_plan_sku(p), want) == 0, fv[i].mset, "%s %a: %s", brc_dtype_name(fv[i].dt), fv[i].v,
                         brc_plan_sku(p));
            if (fv[i].mset) {
                char wd[64];
                snprintf(wd, sizeof wd, "fill(kind=fill,dtype=%s,memset=1)", brc_dtype_name(fv[i].dt));
                cr_expect_str_eq(brc_plan_descriptor(p), wd);
            }
            tu_round_trip(ctx, p);
        }
        f = (brc_fill_desc){BRC_FILL_FILL, dense(BRC_F32, 1, m4), {0}, 1, 0, 0};
        EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=fill,dtype=f32,memset=1)", "driver:memset<b4>@sm_90");
        f = (brc_fill_desc){BRC_FILL_FILL, dense(BRC_F32, 1, m4p), {0}, 1, 0, 0};
        EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=fill,dtype=f32,rank=1,vec=4)", NULL);
        f = (brc_fill_desc){BRC_FILL_FILL, dense(BRC_BF16, 2, sm2), {0}, 0, 0, 0};
        f.y.strides[0] = 2048;
        EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=fill,dtype=bf16,rank=2,vec=8)", NULL);
        setenv("BARACUDA_FILL_MEMSET", "0", 1);
        f = (brc_fill_desc){BRC_FILL_FILL, dense(BRC_F32, 2, sm2), {0}, 0, 0, 0};
        EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=fill,dtype=f32,rank=1,vec=4)", NULL);
        unsetenv("BARACUDA_FILL_MEMSET");
        unsetenv("BARACUDA_MV_PDL");
    }
    f = (brc_fill_desc){BRC_FILL_TRIU, dense(BRC_F16, 3, m3), dense(BRC_F16, 3, m3), 0, 0, 1};
    EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=triu,dtype=f16,rank=3,vec=1)", NULL);
    f = (brc_fill_desc){BRC_FILL_LINSPACE, dense(BRC_BF16, 1, n1), {0}, -1, 1, 0};
    EXPECT_PLAN(brc_fill_plan(ctx, &f, NULL, &p_), "fill(kind=linspace,dtype=bf16,rank=1,vec=8)", NULL);
    /* pad of the last two dims of NCHW: N and C merge; rows this short are staged (the flat
     * staged kernel, for a contiguous y, is off: PAD_FLAT; stage=2 by descriptor). Rows too long
     * for the staged kernel (80 KiB), or not contiguous, go by row groups. */
    int64_t img[4] = {2, 3, 8, 8}, imgp[4] = {2, 3, 10, 12};
    brc_pad_desc pd = {BRC_PAD_REFLECT, dense(BRC_F32, 4, img), dense(BRC_F32, 4, imgp), {0, 0, 1, 2}, {0, 0, 1, 2}, 0};
    EXPECT_PLAN(brc_pad_plan(ctx, &pd, NULL, &p_), "pad(mode=reflect,dtype=f32,rank=3,dir=fwd,stage=1)", ",staged>");
    /* So are 1- and 2-byte elements. */
    pd = (brc_pad_desc){BRC_PAD_REFLECT, dense(BRC_BF16, 4, img), dense(BRC_BF16, 4, imgp), {0, 0, 1, 2}, {0, 0, 1, 2}, 0};
    EXPECT_PLAN(brc_pad_plan(ctx, &pd, NULL, &p_), "pad(mode=reflect,dtype=bf16,rank=3,dir=fwd,stage=1)", ",staged>");
    pd = (brc_pad_desc){BRC_PAD_CIRCULAR, dense(BRC_U8, 4, img), dense(BRC_U8, 4, imgp), {0, 0, 1, 2}, {0, 0, 1, 2}, 0};
    EXPECT_PLAN(brc_pad_plan(ctx, &pd, NULL, &p_), "pad(mode=circular,dtype=u8,rank=3,dir=fwd,stage=1)", ",staged>");
    /* A y whose rows are padded (not contiguous): staged. */
    pd = (brc_pad_desc){BRC_PAD_REFLECT, dense(BRC_BF16, 4, img), dense(BRC_BF16, 4, imgp), {0, 0, 1, 2}, {0, 0, 1, 2}, 0};
    pd.y.strides[2] = 16, pd.y.strides[1] = 160, pd.y.strides[0] = 480;
    EXPECT_PLAN(brc_pad_plan(ctx, &pd, NULL, &p_), "pad(mode=reflect,dtype=bf16,rank=3,dir=fwd,stage=1)", ",staged>");
    int64_t lrow[2] = {4, 20000}, lrowp[2] = {4, 20010};
    pd = (brc_pad_desc){BRC_PAD_CONSTANT, dense(BRC_F32, 2, lrow), dense(BRC_F32, 2, lrowp), {0, 3}, {0, 7}, 1};
    EXPECT_PLAN(brc_pad_plan(ctx, &pd, NULL, &p_), "pad(mode=constant,dtype=f32,rank=2,dir=fwd)", "fwd>");
    pd = (brc_pad_desc){BRC_PAD_REFLECT, dense(BRC_F32, 4, img), dense(BRC_F32, 4, imgp), {0, 0, 1, 2}, {0, 0, 1, 2}, 0};
    pd.x.strides[3] = 2, pd.x.strides[2] = 16, pd.x.strides[1] = 128, pd.x.strides[0] = 384;
    EXPECT_PLAN(brc_pad_plan(ctx, &pd, NULL, &p_), "pad(mode=reflect,dtype=f32,rank=3,dir=fwd)", "fwd>");
    brc_pad_backward_desc pb = {BRC_PAD_CIRCULAR, dense(BRC_F32, 4, imgp), dense(BRC_F32, 4, img), {0, 0, 1, 2},
                                {0, 0, 1, 2}};
    EXPECT_PLAN(brc_pad_backward_plan(ctx, &pb, NULL, &p_), "pad(mode=circular,dtype=f32,rank=3,dir=bwd)", NULL);
    brc_context_destroy(ctx);
}

Test(movement_desc, bad_descriptors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const tu_bad_desc cases[] = {
        {"copy(rank=2)", BRC_STATUS_INVALID_ARGUMENT, "needs a 'bytes' key"},
        {"copy(bytes=3,rank=1)", BRC_STATUS_INVALID_ARGUMENT, "one of 1, 2, 4, 8"},
        {"copy(bytes=4,rank=2,tile=1,vec=4)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'vec'"},
        {"copy(bytes=4,rank=1,tile=1)", BRC_STATUS_INVALID_ARGUMENT, "tile=1 needs rank >= 2"},
        {"copy(bytes=1,rank=2,tile=2)", BRC_STATUS_INVALID_ARGUMENT, "tile=2 (half tiles) needs bytes >= 2"},
        {"copy(bytes=4,rank=2,tile=3)", BRC_STATUS_INVALID_ARGUMENT, "tile=3 (wide tiles) needs bytes = 2"},
        {"copy(bytes=4,rank=2,tile=4)", BRC_STATUS_INVALID_ARGUMENT, "tile=4 (long tiles) needs bytes = 2"},
        {"copy(bytes=2,rank=2,tile=5)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 4]"},
        {"copy(bytes=4,rank=2,vec=8)", BRC_STATUS_INVALID_ARGUMENT, "vector_width 8"},
        {"copy(bytes=4,rank=2,index=48)", BRC_STATUS_INVALID_ARGUMENT, "one of 32, 64"},
        {"slice(bytes=4,pieces=2,rank=1)", BRC_STATUS_INVALID_ARGUMENT, "outside [1, 1]"},
        {"split(bytes=4,pieces=2000,rank=1)", BRC_STATUS_INVALID_ARGUMENT, "outside [1, 1024]"},
        {"fill(kind=zeros,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "one of fill"},
        {"fill(kind=eye,dtype=f32,rank=1)", BRC_STATUS_INVALID_ARGUMENT, "rank >= 2"},
        {"fill(kind=arange,dtype=bool,rank=1)", BRC_STATUS_UNSUPPORTED, "dtype bool"},
        {"pad(mode=edge,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, "one of constant"},
        {"pad(mode=reflect,dtype=i32,rank=2,dir=bwd)", BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported"},
        {"pad(mode=reflect,dtype=f32,rank=2,dir=bwd,stage=1)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 0]"},
        {"pad(mode=reflect,dtype=f32,rank=2,dir=fwd,stage=4)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 3]"},
        {"copy(bytes=2,rank=2,vec=4,index=32,hint=1)", BRC_STATUS_INVALID_ARGUMENT, "hint=1 needs 16-byte vectors"},
        {"copy(bytes=2,rank=1,vec=8,index=32,hint=2)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 1]"},
        {"copy(bytes=2,rank=1,vec=8,index=32,unroll=2)", BRC_STATUS_INVALID_ARGUMENT, "unroll=2 (1 or 4)"},
        {"copy(bytes=2,rank=1,vec=8,index=32,unroll=5)", BRC_STATUS_INVALID_ARGUMENT, "outside [1, 4]"},
        {"copy(bytes=2,rank=1,vec=8,index=32,hint=1,unroll=1)", BRC_STATUS_INVALID_ARGUMENT,
         "unroll=1 is for small copies"},
        {"copy(bytes=2,memcpy=1,rank=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'rank'"},
        {"copy(bytes=2,memcpy=2)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 1]"},
        {"concat(bytes=2,memcpy=1)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 0]"},
        {"fill(kind=fill,dtype=f32,memset=1,rank=1)", BRC_STATUS_INVALID_ARGUMENT, "unknown key 'rank'"},
        {"fill(kind=fill,dtype=f32,memset=2)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 1]"},
        {"fill(kind=eye,dtype=f32,rank=2,memset=1)", BRC_STATUS_INVALID_ARGUMENT, "outside [0, 0]"},
    };
    tu_expect_bad_descriptors(ctx, cases, sizeof cases / sizeof cases[0]);
    brc_context_destroy(ctx);
}

/* ---- validation rules ---------------------------------------------------------------------------------- */

Test(movement_rules, bad_operands_are_named) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc_plan *p = NULL;
    int64_t s2[2] = {4, 6}, s3[2] = {4, 7}, t2[2] = {6, 4};
    brc_tensor_desc a = dense(BRC_F32, 2, s2), b = dense(BRC_F32, 2, s3), h = dense(BRC_F16, 2, s2);

    tu_expect_fail(brc_copy_plan(ctx, NULL, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "desc is NULL", p);
    brc_copy_desc c = {a, h};
    tu_expect_fail(brc_copy_plan(ctx, &c, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has dtype f16, x has f32", p);
    c = (brc_copy_desc){a, b};
    tu_expect_fail(brc_copy_plan(ctx, &c, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x and y differ in shape", p);
    c = (brc_copy_desc){a, a};
    c.y.strides[0] = 0;
    tu_expect_fail(brc_copy_plan(ctx, &c, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y has strides under which", p);
    c = (brc_copy_desc){a, a};
    c.x.shape[1] = -1;
    tu_expect_fail(brc_copy_plan(ctx, &c, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "copy: x: shape[1] = -1", p);
    c = (brc_copy_desc){a, a};
    c.x.strides[0] = 0; /* a broadcast input is fine */
    cr_expect_eq(brc_copy_plan(ctx, &c, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    brc_plan_prefs pr = BRC_PLAN_PREFS_INIT;
    pr.vector_width = 3;
    c = (brc_copy_desc){a, a};
    tu_expect_fail(brc_copy_plan(ctx, &c, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 3", p);
    pr.vector_width = 4;
    c.x.strides[0] = 7;
    tu_expect_fail(brc_copy_plan(ctx, &c, &pr, &p), BRC_STATUS_INVALID_ARGUMENT, "vector_width 4 does not fit piece 0",
                   p);

    brc_permute_desc pm = {a, dense(BRC_F32, 2, t2), {0, 0}};
    tu_expect_fail(brc_permute_plan(ctx, &pm, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "perm is not a permutation", p);
    pm.perm[1] = 1;
    tu_expect_fail(brc_permute_plan(ctx, &pm, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[0] = 6", p);
    brc_flip_desc fl = {a, a, 2, {1, -1}};
    tu_expect_fail(brc_flip_plan(ctx, &fl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dim 1 appears twice", p);
    fl = (brc_flip_desc){a, a, 1, {2}};
    tu_expect_fail(brc_flip_plan(ctx, &fl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dims entry 2 is out of range", p);
    brc_roll_desc rl = {a, a, 5, {0}, {1}};
    tu_expect_fail(brc_roll_plan(ctx, &rl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "ndims = 5", p);
    brc_repeat_desc rp = {a, a, {1, 2}};
    tu_expect_fail(brc_repeat_plan(ctx, &rp, NULL, &p), BRC_STATUS_INVALID_ARGUMENT,
                   "y.shape[1] = 6 is not repeats[1] (2) times x's size 6", p);
    rp = (brc_repeat_desc){b, a, {1, 1}};
    rp.x.rank = 3;
    tu_expect_fail(brc_repeat_plan(ctx, &rp, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "below x's 3", p);

    brc_tensor_desc parts[2] = {a, b};
    int64_t s13[2] = {4, 13};
    brc_concat_desc cc = {2, parts, dense(BRC_F32, 2, s13), 0};
    tu_expect_fail(brc_concat_plan(ctx, &cc, NULL, &p), BRC_STATUS_INVALID_ARGUMENT,
                   "xs[0]'s shape differs from y's outside dim 0", p);
    cc.dim = 1;
    cc.y.shape[1] = 12;
    tu_expect_fail(brc_concat_plan(ctx, &cc, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "sum to 13, y has 12", p);
    cc.n = 0;
    tu_expect_fail(brc_concat_plan(ctx, &cc, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "n = 0", p);
    parts[1] = h;
    cc = (brc_concat_desc){2, parts, dense(BRC_F32, 2, s13), 1};
    tu_expect_fail(brc_concat_plan(ctx, &cc, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "xs[1] has dtype f16", p);
    parts[1] = b;
    parts[1].strides[0] = 0;
    brc_split_desc sp = {dense(BRC_F32, 2, s13), 2, parts, 1};
    tu_expect_fail(brc_split_plan(ctx, &sp, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "ys[1] has strides under which", p);
    sp.ys = NULL;
    tu_expect_fail(brc_split_plan(ctx, &sp, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "ys is NULL", p);

    int64_t full[2] = {4, 100}, part[2] = {4, 10};
    brc_slice_desc sl = {dense(BRC_F32, 2, full), dense(BRC_F32, 2, part), 1, 0, 91, 1};
    tu_expect_fail(brc_slice_plan(ctx, &sl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "start = 91 is outside 0..90", p);
    sl.start = 0, sl.step = 12;
    tu_expect_fail(brc_slice_plan(ctx, &sl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "10 elements at step 12", p);
    sl.step = 0;
    tu_expect_fail(brc_slice_plan(ctx, &sl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "step = 0", p);
    sl = (brc_slice_desc){dense(BRC_F32, 2, part), dense(BRC_F32, 2, full), 1, 2, 0, 1};
    tu_expect_fail(brc_write_slice_plan(ctx, &sl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "dynamic_start = 2", p);
    sl.dynamic_start = 0, sl.dim = 0;
    tu_expect_fail(brc_write_slice_plan(ctx, &sl, NULL, &p), BRC_STATUS_INVALID_ARGUMENT,
                   "x's shape differs from y's outside dim 0", p);

    brc_fill_desc f = {(brc_fill_kind)9, a, {0}, 0, 0, 0};
    tu_expect_fail(brc_fill_plan(ctx, &f, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "kind 9 is not a fill kind", p);
    f = (brc_fill_desc){BRC_FILL_ARANGE, a, {0}, 0, 1, 0};
    tu_expect_fail(brc_fill_plan(ctx, &f, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "fill(arange): y has rank 2", p);
    int64_t n300[1] = {300};
    f = (brc_fill_desc){BRC_FILL_ARANGE, dense(BRC_I8, 1, n300), {0}, 0, 1, 0};
    tu_expect_fail(brc_fill_plan(ctx, &f, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "whose values fit i8", p);
    f.y.dtype = BRC_I32, f.b = 0.5;
    tu_expect_fail(brc_fill_plan(ctx, &f, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "must be integers", p);
    f = (brc_fill_desc){BRC_FILL_TRIL, a, h, 0, 0, 0};
    tu_expect_fail(brc_fill_plan(ctx, &f, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "x has dtype f16", p);

    int64_t x3[2] = {4, 3}, y3[2] = {4, 9};
    brc_pad_desc pd = {BRC_PAD_REFLECT, dense(BRC_F32, 2, x3), dense(BRC_F32, 2, y3), {0, 3}, {0, 3}, 0};
    tu_expect_fail(brc_pad_plan(ctx, &pd, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "reflect pads (3, 3) of dim 1", p);
    pd.mode = BRC_PAD_CIRCULAR;
    cr_expect_eq(brc_pad_plan(ctx, &pd, NULL, &p), BRC_STATUS_OK, "circular allows pad == size: %s", brc_last_error());
    brc_plan_destroy(p);
    p = NULL;
    pd.hi[1] = 2;
    tu_expect_fail(brc_pad_plan(ctx, &pd, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "y.shape[1] = 9 is not 3 + lo 3 + hi 2",
                   p);
    pd = (brc_pad_desc){(brc_pad_mode)7, dense(BRC_F32, 2, x3), dense(BRC_F32, 2, y3), {0, 3}, {0, 3}, 0};
    tu_expect_fail(brc_pad_plan(ctx, &pd, NULL, &p), BRC_STATUS_INVALID_ARGUMENT, "mode 7 is not a pad mode", p);
    brc_pad_backward_desc pb = {BRC_PAD_REPLICATE, dense(BRC_I32, 2, y3), dense(BRC_I32, 2, x3), {0, 3}, {0, 3}};
    tu_expect_fail(brc_pad_backward_plan(ctx, &pb, NULL, &p), BRC_STATUS_UNSUPPORTED, "dtype i32 is not supported", p);
    /* Negative pads crop in constant mode only. */
    int64_t y1[2] = {4, 1};
    pd = (brc_pad_desc){BRC_PAD_CONSTANT, dense(BRC_F32, 2, x3), dense(BRC_F32, 2, y1), {0, -1}, {0, -1}, 2.5};
    cr_expect_eq(brc_pad_plan(ctx, &pd, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());

    /* Offline plans refuse to run; a plan of another family is refused. */
    cr_expect_eq(brc_pad_run(p, (void *)256, (void *)512, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect_eq(brc_copy_run(p, (void *)256, (void *)512, NULL), BRC_STATUS_WRONG_PLAN);
    cr_expect(strstr(brc_last_error(), "another op family") != NULL, "%s", brc_last_error());
    brc_plan_destroy(p);
    brc_context_destroy(ctx);
}

/* The layouts bench/bench_movement.py mirrors with ctypes. */
Test(movement_desc, struct_layouts_match_the_benchmark) {
    cr_expect_eq(sizeof(brc_copy_desc), 272);
    cr_expect_eq(sizeof(brc_permute_desc), 304);
    cr_expect_eq(sizeof(brc_concat_desc), 160);
    cr_expect_eq(offsetof(brc_concat_desc, y), 16);
    cr_expect_eq(offsetof(brc_concat_desc, dim), 152);
    cr_expect_eq(sizeof(brc_split_desc), 160);
    cr_expect_eq(offsetof(brc_split_desc, ys), 144);
    cr_expect_eq(sizeof(brc_slice_desc), 296);
    cr_expect_eq(offsetof(brc_slice_desc, start), 280);
    cr_expect_eq(sizeof(brc_pad_desc), 416);
    cr_expect_eq(offsetof(brc_pad_desc, value), 408);
}
