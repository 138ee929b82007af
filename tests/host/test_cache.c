/* Host tests of the disk cache's failure handling: corrupt rows, a non-database file, a schema
 * from the future, read-only and unwritable locations, the disable switch. Each asserts its
 * outcome (the plan still works) and, where the brief asks, its warning. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"


static brc_jit_stats stats(void) {
    brc_jit_stats s;
    brc_jit_stats_get(&s);
    return s;
}

static void plan_ok(brc_context *ctx, brc_unary_kind kind) {
    brc_unary_desc d = tu_unary(kind, BRC_F32, 1000);
    brc_plan *p = NULL;
    cr_assert_eq(brc_unary_plan(ctx, &d, NULL, &p), BRC_STATUS_OK, "%s", brc_last_error());
    brc_plan_destroy(p);
}

static void sql(const char *dir, const char *stmt) {
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db, stmt, NULL, NULL, &err), SQLITE_OK, "%s", err ? err : "");
    sqlite3_close(db);
}

static int count_rows(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    sqlite3_stmt *s;
    int n = -1;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kernels", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

Test(cache, one_row_per_kernel_with_metadata) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_EXP);
    plan_ok(ctx, BRC_UNARY_LOG);
    plan_ok(ctx, BRC_UNARY_EXP);
    cr_expect_eq(count_rows(dir), 2);
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT template, descriptor, arch, output, lowered, regs, size, "
                                        "length(image), length(checksum), compile_ms FROM kernels ORDER BY descriptor",
                                    -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(s, 0), "elementwise");
    cr_expect_str_eq((const char *)sqlite3_column_text(s, 1), "unary(kind=exp,dtype=f32,layout=contig)");
    cr_expect_str_eq((const char *)sqlite3_column_text(s, 2), "sm_90");
    cr_expect_str_eq((const char *)sqlite3_column_text(s, 3), "cubin");
    cr_expect(strstr((const char *)sqlite3_column_text(s, 4), "ew_contig"));
    cr_expect_gt(sqlite3_column_int(s, 5), 0);
    cr_expect_eq(sqlite3_column_int(s, 6), sqlite3_column_int(s, 7));
    cr_expect_eq(sqlite3_column_int(s, 8), 16);
    cr_expect_gt(sqlite3_column_double(s, 9), 0.0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    brc_context_destroy(ctx);
}

Test(cache, corrupt_row_is_detected_deleted_and_recompiled, .init = cr_redirect_stderr) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_SQRT);
    /* Flip bytes in the middle of the stored binary. */
    sql(dir, "UPDATE kernels SET image = substr(image, 1, 100) || x'deadbeef' || substr(image, 105)");
    brc__jit_forget_memory();
    brc__cache_reset();
    brc_jit_stats s0 = stats();
    plan_ok(ctx, BRC_UNARY_SQRT);
    brc_jit_stats s1 = stats();
    cr_expect_eq(s1.bad_rows, s0.bad_rows + 1, "the bad row was noticed");
    cr_expect_eq(s1.compiles, s0.compiles + 1, "and recompiled");
    cr_expect_eq(s1.disk_hits, s0.disk_hits, "nothing bad was loaded");
    /* The recompiled row replaced it: the next fresh select is a clean disk hit. */
    brc__jit_forget_memory();
    plan_ok(ctx, BRC_UNARY_SQRT);
    cr_expect_eq(stats().disk_hits, s1.disk_hits + 1);
    cr_expect_eq(count_rows(dir), 1);
    fflush(stderr);
    char buf[4096] = {0};
    size_t got = fread(buf, 1, sizeof buf - 1, cr_get_redirected_stderr());
    cr_expect(got > 0 && strstr(buf, "baracuda: warning: cache row") && strstr(buf, "failed its checksum"),
              "one warning names the bad row: '%s'", buf);
    brc_context_destroy(ctx);
}

Test(cache, not_a_database_is_set_aside) {
    const char *dir = tu_fresh_cache();
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs("this is not an SQLite database, it was truncated or overwritten", f);
    fclose(f);
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_COS);
    cr_expect_eq(count_rows(dir), 1, "a fresh database replaced the bad file");
    brc_context_destroy(ctx);
}

Test(cache, future_schema_is_left_alone) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_SIN);
    sql(dir, "PRAGMA user_version = 99");
    brc__jit_forget_memory();
    brc__cache_reset();
    brc_jit_stats s0 = stats();
    plan_ok(ctx, BRC_UNARY_SIN);
    cr_expect_eq(stats().compiles, s0.compiles + 1, "not read");
    cr_expect_eq(count_rows(dir), 1, "not written");
    brc_context_destroy(ctx);
}

/* Root ignores permissions, so the read-only tests drop to an unprivileged user first. */
static void become_nobody(void) {
    if (geteuid() == 0) cr_assert_eq(setresuid(65534, 65534, 65534), 0, "setresuid");
}

Test(cache, read_only_directory_still_serves_hits) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_TANH);
    brc__cache_reset();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R a+rX,a-w %s", dir);
    cr_assert_eq(system(cmd), 0);
    become_nobody();
    brc__jit_forget_memory();
    brc_jit_stats s0 = stats();
    plan_ok(ctx, BRC_UNARY_TANH);
    cr_expect_eq(stats().disk_hits, s0.disk_hits + 1, "a read-only cache still hits");
    plan_ok(ctx, BRC_UNARY_ATAN); /* a miss compiles and is simply not stored */
    cr_expect_eq(stats().compiles, s0.compiles + 1);
    brc_context_destroy(ctx);
}

Test(cache, unwritable_location_compiles_every_time) {
    char parent[256];
    snprintf(parent, sizeof parent, "%s", tu_fresh_cache());
    chmod(parent, 0555);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/cannot/create", parent);
    setenv("BARACUDA_CACHE_DIR", sub, 1);
    become_nobody();
    brc__cache_reset();
    brc_context *ctx = tu_offline("sm_90");
    brc_jit_stats s0 = stats();
    plan_ok(ctx, BRC_UNARY_ERF);
    brc__jit_forget_memory();
    plan_ok(ctx, BRC_UNARY_ERF);
    cr_expect_eq(stats().compiles, s0.compiles + 2, "no disk cache: each fresh select compiles");
    brc_context_destroy(ctx);
}

Test(cache, location_and_disable_switch) {
    setenv("BARACUDA_CACHE_DIR", "/tmp/brc-loc", 1);
    brc__cache_reset();
    cr_expect_str_eq(brc_cache_dir(), "/tmp/brc-loc");
    unsetenv("BARACUDA_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
    brc__cache_reset();
    cr_expect_str_eq(brc_cache_dir(), "/tmp/xdg/baracuda");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/tmp/home", 1);
    brc__cache_reset();
    cr_expect_str_eq(brc_cache_dir(), "/tmp/home/.cache/baracuda");
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    brc__cache_reset();
    cr_expect_str_eq(brc_cache_dir(), "");
}
