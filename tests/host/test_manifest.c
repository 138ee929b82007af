/* Host tests of descriptors and manifests: the parser's errors name the line and column, every
 * plan's descriptor rebuilds the same plan (the whole default manifest, checked without
 * compiling through the key-collecting mode), brc_warm/brc_warm_manifest, and BARACUDA_RECORD
 * (deduplicated, also with several processes appending at once). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static brc_jit_stats stats(void) {
    brc_jit_stats s;
    brc_jit_stats_get(&s);
    return s;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot read %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* ---- syntax ------------------------------------------------------------------------------------ */

typedef struct bad_case {
    const char *text;
    int line, col;
    const char *says;
} bad_case;

Test(manifest, syntax_errors_name_line_and_column) {
    static const bad_case cases[] = {
        {"unary(kind=exp,dtype=f32)\n\n  unary(kind exp)\n", 3, 14, "expected '=' after the key"},
        {"# comment\nUnary(kind=exp)\n", 2, 1, "expected a family name"},
        {"unary(kind=exp,dtype=f32\n", 1, 25, "expected ',' or ')', found the end of the line"},
        {"unary(kind=exp,,dtype=f32)\n", 1, 16, "expected a key"},
        {"unary(kind=exp) x\n", 1, 17, "expected the end of the descriptor"},
        {"unary kind=exp)\n", 1, 7, "expected '(' after the family name"},
        {"unary(kind=)\n", 1, 12, "expected a value"},
        {"unary(kind=exp,kind=log)\n", 1, 16, "key 'kind' given twice"},
        {"cast(from=f32;to=f16)\n", 1, 14, "expected ',' or ')', found ';'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        brc__manifest m;
        cr_expect_eq(brc__manifest_parse(cases[i].text, "m.txt", &m), BRC_STATUS_INVALID_ARGUMENT, "case %zu", i);
        char want[64];
        snprintf(want, sizeof want, "m.txt:%d:%d: ", cases[i].line, cases[i].col);
        cr_expect(strncmp(brc_last_error(), want, strlen(want)) == 0 && strstr(brc_last_error(), cases[i].says),
                  "case %zu: got '%s', want '%s...%s'", i, brc_last_error(), want, cases[i].says);
        cr_expect_eq(m.n, 0u, "nothing is kept from a bad manifest");
        brc__error_clear();
    }
}

Test(manifest, comments_blanks_and_crlf) {
    brc__manifest m;
    cr_assert_eq(brc__manifest_parse("# header\r\n\r\n  unary(kind=exp, dtype=f32) # trailing\r\n\t\n"
                                     "cast(from=f32,to=bf16)",
                                     "m", &m),
                 BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(m.n, 2u);
    cr_expect_str_eq(m.lines[0].text, "unary(kind=exp, dtype=f32)");
    cr_expect_eq(m.lines[0].line, 3);
    cr_expect_str_eq(m.lines[1].text, "cast(from=f32,to=bf16)");
    cr_expect_eq(m.lines[1].line, 5);
    brc__manifest_free(&m);
}

/* ---- meaning --------------------------------------------------------------------------------------- */

typedef struct family_case {
    const char *text;
    brc_status status;
    int col;
    const char *says;
} family_case;

Test(manifest, family_errors_name_the_column) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    static const family_case cases[] = {
        {"unray(kind=exp,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, 1, "unknown plan family 'unray'"},
        {"unary(kind=exq,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, 12, "kind: 'exq' is not one of"},
        {"unary(kind=exp,dtype=f33)", BRC_STATUS_INVALID_ARGUMENT, 22, "'f33' is not a dtype"},
        {"unary(kind=exp,dtype=f32,dtyp=f16)", BRC_STATUS_INVALID_ARGUMENT, 26, "unknown key 'dtyp'"},
        {"unary(dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, 1, "needs a 'kind' key"},
        {"unary(kind=exp,dtype=f32,layout=strided)", BRC_STATUS_INVALID_ARGUMENT, 1, "needs a 'rank' key"},
        {"unary(kind=exp,dtype=f32,layout=tiled)", BRC_STATUS_INVALID_ARGUMENT, 33, "one of contig, strided"},
        {"unary(kind=exp,dtype=f32,layout=strided,rank=9)", BRC_STATUS_INVALID_ARGUMENT, 46, "outside [1, 8]"},
        {"unary(kind=exp,dtype=f32,vec=x)", BRC_STATUS_INVALID_ARGUMENT, 30, "'x' is not an integer"},
        {"unary(kind=exp,dtype=i32)", BRC_STATUS_UNSUPPORTED, 1, "dtype i32 is not supported"},
        {"unary(kind=exp,dtype=f32,layout=strided,rank=2,vec=4)", BRC_STATUS_INVALID_ARGUMENT, 48,
         "vec=4 does not hold for the plan it makes"},
        {"ternary(kind=where,dtype=f32)", BRC_STATUS_INVALID_ARGUMENT, 1, "needs a 'cond' key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        brc_status st = brc_warm(ctx, cases[i].text);
        char want[32];
        snprintf(want, sizeof want, "column %d: ", cases[i].col);
        cr_expect_eq(st, cases[i].status, "case %zu: status %s (%s)", i, brc_status_name(st), brc_last_error());
        cr_expect(strncmp(brc_last_error(), want, strlen(want)) == 0 && strstr(brc_last_error(), cases[i].says),
                  "case %zu: got '%s', want '%s...%s'", i, brc_last_error(), want, cases[i].says);
    }
    cr_expect_eq(brc_warm(NULL, "unary(kind=exp,dtype=f32)"), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect_eq(brc_warm(ctx, NULL), BRC_STATUS_INVALID_ARGUMENT);
    brc_context_destroy(ctx);
}

/* Makes the plan text names, in key-collecting mode (nothing compiled); returns its descriptor
 * and the disk keys of its kernels. */
static void plan_keys(brc_context *ctx, const char *text, char *desc, size_t n, brc__key_sink *sink) {
    brc_plan *p = NULL;
    brc__jit_collect_keys(sink);
    brc_status st = brc__plan_from_descriptor(ctx, text, &p);
    brc__jit_collect_keys(NULL);
    cr_assert_eq(st, BRC_STATUS_OK, "%s: %s", text, brc_last_error());
    snprintf(desc, n, "%s", brc_plan_descriptor(p));
    brc_plan_destroy(p);
}

Test(manifest, every_default_line_is_canonical_and_round_trips) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    brc__manifest m;
    cr_assert_eq(brc__manifest_default(&m), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_gt(m.n, 250u);
    brc_jit_stats s0 = stats();
    for (size_t i = 0; i < m.n; i++) {
        char desc[256];
        brc__key_sink sink = {0};
        plan_keys(ctx, m.lines[i].text, desc, sizeof desc, &sink);
        cr_expect_str_eq(desc, m.lines[i].text, "line %d is the canonical descriptor of its plan", m.lines[i].line);
        /* cross_entropy mean: the row kernel and the final reduction (fwd) or the divisor (bwd);
         * a split reduction two; a channel norm several; an elementwise or row-wise plan one. */
        if (strncmp(desc, "cross_entropy(", 14) == 0)
            cr_expect_eq(sink.n, 2u, "%s: %zu kernels per plan", desc, sink.n);
        else if (strncmp(desc, "reduce(", 7) == 0)
            cr_expect(sink.n == 1u || sink.n == 2u, "%s: %zu kernels", desc, sink.n);
        else
            cr_expect_geq(sink.n, 1u, "%s: every plan has a kernel", desc);
        free(sink.keys);
    }
    cr_expect_eq(stats().compiles, s0.compiles, "key collection compiles nothing");
    brc__manifest_free(&m);
    brc_context_destroy(ctx);
}

/* Plans made through the API, of each layout kind: their descriptors rebuild plans with the
 * same descriptor, SKU and kernel key. */
Test(manifest, api_plans_round_trip_through_their_descriptors) {
    tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_80");
    brc_plan_prefs vec2 = BRC_PLAN_PREFS_INIT;
    vec2.vector_width = 2;
    int64_t shape[3] = {5, 6, 7};
    int64_t shape_t[3] = {5, 7, 6};
    brc_tensor_desc c3, t3, ct3, big, b1;
    brc_tensor_desc_contiguous(&c3, BRC_F16, 3, shape);
    brc_tensor_desc_contiguous(&ct3, BRC_F16, 3, shape_t);
    t3 = c3; /* a transposed view of c3's last two dims: strided, rank 3 after merging */
    t3.shape[1] = 7, t3.shape[2] = 6, t3.strides[1] = 1, t3.strides[2] = 7;
    int64_t n = (int64_t)3 << 30;
    brc_tensor_desc_contiguous(&big, BRC_BF16, 1, &n);
    int64_t one = 7;
    brc_tensor_desc_contiguous(&b1, BRC_F16, 1, &one);
    brc_plan *plans[6] = {0};
    brc__key_sink ks = {0};
    brc__jit_collect_keys(&ks);
    brc_unary_desc u1 = {BRC_UNARY_SILU, c3, c3, 1, 0};
    brc_unary_desc u2 = {BRC_UNARY_SILU, t3, ct3, 1, 0};
    brc_unary_desc u3 = {BRC_UNARY_EXP, big, big, 1, 0};
    brc_binary_desc b = {BRC_BINARY_LT, c3, b1, c3};
    b.y.dtype = BRC_BOOL;
    brc_cast_desc c = {c3, c3};
    c.y.dtype = BRC_FP8E4M3;
    brc_ternary_desc w = {BRC_TERNARY_WHERE, c3, c3, c3, c3, 0};
    w.a.dtype = BRC_BOOL;
    cr_assert_eq(brc_unary_plan(ctx, &u1, &vec2, &plans[0]), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_unary_plan(ctx, &u2, NULL, &plans[1]), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_unary_plan(ctx, &u3, NULL, &plans[2]), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_binary_plan(ctx, &b, NULL, &plans[3]), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_cast_plan(ctx, &c, NULL, &plans[4]), BRC_STATUS_OK, "%s", brc_last_error());
    cr_assert_eq(brc_ternary_plan(ctx, &w, NULL, &plans[5]), BRC_STATUS_OK, "%s", brc_last_error());
    brc__jit_collect_keys(NULL);
    cr_assert_eq(ks.n, 6u);
    const char *expect_desc[6] = {"unary(kind=silu,dtype=f16,layout=contig,vec=2)",
                                  "unary(kind=silu,dtype=f16,layout=strided,rank=3)",
                                  "unary(kind=exp,dtype=bf16,layout=contig,index=64)",
                                  "binary(kind=lt,dtype=f16,layout=strided,rank=2)",
                                  "cast(from=f16,to=fp8e4m3,layout=contig)",
                                  "ternary(kind=where,cond=bool,dtype=f16,layout=contig)"};
    for (int i = 0; i < 6; i++) {
        const char *d = brc_plan_descriptor(plans[i]);
        cr_expect_str_eq(d, expect_desc[i]);
        char again[256];
        brc__key_sink sink = {0};
        plan_keys(ctx, d, again, sizeof again, &sink);
        cr_expect_str_eq(again, d, "descriptor -> plan -> the same descriptor");
        cr_expect(sink.n == 1 && sink.keys[0].lo == ks.keys[i].lo && sink.keys[0].hi == ks.keys[i].hi,
                  "%s: the rebuilt plan uses the same kernel", d);
        brc_plan *p = NULL;
        brc__jit_collect_keys(&sink);
        cr_assert_eq(brc__plan_from_descriptor(ctx, d, &p), BRC_STATUS_OK);
        brc__jit_collect_keys(NULL);
        cr_expect_str_eq(brc_plan_sku(p), brc_plan_sku(plans[i]));
        brc_plan_destroy(p);
        brc_plan_destroy(plans[i]);
        free(sink.keys);
    }
    free(ks.keys);
    brc_context_destroy(ctx);
}

/* ---- warming ------------------------------------------------------------------------------------- */

Test(manifest, warm_manifest_compiles_each_line_then_hits) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    char path[512];
    snprintf(path, sizeof path, "%s/m.txt", dir);
    tu_write_file(path, "unary(kind=relu,dtype=f32,layout=contig)\nbinary(kind=mul,dtype=bf16)\n"
                     "cast(from=f16,to=f32,layout=strided,rank=2)\n");
    brc_jit_stats s0 = stats();
    cr_assert_eq(brc_warm_manifest(ctx, path), BRC_STATUS_OK, "%s", brc_last_error());
    brc_jit_stats s1 = stats();
    cr_expect_eq(s1.compiles, s0.compiles + 3);
    brc__jit_forget_memory();
    cr_assert_eq(brc_warm_manifest(ctx, path), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(stats().compiles, s1.compiles, "the second warm compiles nothing");
    cr_expect_eq(stats().disk_hits, s1.disk_hits + 3);

    /* A syntax error anywhere stops before anything is compiled. */
    tu_write_file(path, "unary(kind=sin,dtype=f32)\nunary(kind=cos dtype=f32)\n");
    brc_jit_stats s2 = stats();
    cr_expect_eq(brc_warm_manifest(ctx, path), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "m.txt:2:16: expected ',' or ')'"), "%s", brc_last_error());
    cr_expect_eq(stats().compiles, s2.compiles);
    /* A line that is well formed but wrong fails alone; the others are warmed. */
    tu_write_file(path, "unary(kind=sin,dtype=f32)\nunary(kind=sin,dtype=u8)\nunary(kind=cos,dtype=f32)\n");
    cr_expect_eq(brc_warm_manifest(ctx, path), BRC_STATUS_UNSUPPORTED);
    cr_expect(strstr(brc_last_error(), "m.txt:2: column 1: unary(kind=sin): dtype u8 is not supported"), "%s",
              brc_last_error());
    cr_expect_eq(stats().compiles, s2.compiles + 2);
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    cr_expect_eq(brc_warm_manifest(ctx, path), BRC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(brc_last_error(), "cannot read"), "%s", brc_last_error());
    brc_context_destroy(ctx);
}

/* ---- BARACUDA_RECORD ---------------------------------------------------------------------------- */

static const char *const recorded[] = {
    "unary(kind=exp,dtype=f32,layout=contig)",          "unary(kind=log,dtype=f16,layout=contig)",
    "binary(kind=add,dtype=bf16,layout=contig)",        "binary(kind=eq,dtype=f32,layout=strided,rank=2)",
    "cast(from=f32,to=bf16,layout=contig)",             "ternary(kind=fma,dtype=f32,layout=contig)",
    "unary(kind=tanh,dtype=bf16,layout=strided,rank=3)", "unary(kind=sqrt,dtype=f64,layout=contig)",
};
enum { NREC = sizeof recorded / sizeof recorded[0] };

/* Selects every recorded descriptor (in key-collecting mode: the record is written either way),
 * starting at a different one per process, each twice. */
static void select_all(int start) {
    brc_context *ctx = tu_offline("sm_90");
    brc__key_sink sink = {0};
    brc__jit_collect_keys(&sink);
    for (int r = 0; r < 2 * NREC; r++) {
        brc_plan *p = NULL;
        if (brc__plan_from_descriptor(ctx, recorded[(start + r) % NREC], &p) != BRC_STATUS_OK) exit(3);
        brc_plan_destroy(p);
    }
    brc__jit_collect_keys(NULL);
    free(sink.keys);
    brc_context_destroy(ctx);
}

static void expect_record(const char *path) {
    brc__manifest m;
    cr_assert_eq(brc__manifest_read(path, &m), BRC_STATUS_OK, "%s", brc_last_error());
    cr_expect_eq(m.n, (size_t)NREC, "each plan recorded exactly once:\n%s", read_file(path));
    for (int i = 0; i < NREC; i++) {
        int found = 0;
        for (size_t k = 0; k < m.n; k++) found += strcmp(m.lines[k].text, recorded[i]) == 0;
        cr_expect_eq(found, 1, "%s recorded once", recorded[i]);
    }
    brc__manifest_free(&m);
}

Test(record, each_selected_plan_once) {
    const char *dir = tu_fresh_cache();
    char path[512];
    snprintf(path, sizeof path, "%s/record.txt", dir);
    setenv("BARACUDA_RECORD", path, 1);
    select_all(0);
    select_all(3);
    expect_record(path);
    cr_expect(strncmp(read_file(path), "# baracuda manifest", 19) == 0, "the record starts with a header");
    unsetenv("BARACUDA_RECORD");
}

Test(record, several_processes_append_without_duplicates) {
    const char *dir = tu_fresh_cache();
    char path[512];
    snprintf(path, sizeof path, "%s/record.txt", dir);
    setenv("BARACUDA_RECORD", path, 1);
    /* An existing manifest with one of the lines already in it (not at the end). */
    char seed[256];
    snprintf(seed, sizeof seed, "# seeded\n%s\n", recorded[5]);
    tu_write_file(path, seed);
    pid_t kids[6];
    for (int i = 0; i < 6; i++) {
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            select_all(i);
            _exit(0);
        }
    }
    for (int i = 0; i < 6; i++) {
        int status = 0;
        cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d", i);
    }
    expect_record(path);
    unsetenv("BARACUDA_RECORD");
}

Test(record, unwritable_record_warns_once_and_plans_still_work, .init = cr_redirect_stderr) {
    tu_fresh_cache();
    setenv("BARACUDA_RECORD", "/nonexistent-dir/record.txt", 1);
    brc_context *ctx = tu_offline("sm_90");
    brc__key_sink sink = {0};
    brc__jit_collect_keys(&sink);
    for (int i = 0; i < 3; i++) cr_expect_eq(brc_warm(ctx, recorded[i]), BRC_STATUS_OK, "%s", brc_last_error());
    brc__jit_collect_keys(NULL);
    free(sink.keys);
    const char *buf = tu_stderr_text();
    size_t got = strlen(buf);
    const char *first = strstr(buf, "BARACUDA_RECORD: cannot open /nonexistent-dir/record.txt");
    cr_expect(got > 0 && first, "a warning names the file: '%s'", buf);
    cr_expect(first && !strstr(first + 1, "BARACUDA_RECORD"), "once: '%s'", buf);
    unsetenv("BARACUDA_RECORD");
    brc_context_destroy(ctx);
}
