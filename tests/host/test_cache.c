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

static int64_t query_i64(const char *dir, const char *q) {
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t v = -1;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static int count_rows(const char *dir) { return (int)query_i64(dir, "SELECT count(*) FROM kernels"); }


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
    const char *buf = tu_stderr_text();
    size_t got = strlen(buf);
    cr_expect(got > 0 && strstr(buf, "baracuda: warning: cache row") && strstr(buf, "failed its checksum"),
              "one warning names the bad row: '%s'", buf);
    brc_context_destroy(ctx);
}

Test(cache, not_a_database_is_set_aside, .init = cr_redirect_stderr) {
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
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "baracuda: warning: cache") && strstr(buf, "is damaged (file is not a database); moved to"),
              "'%s'", buf);
    brc_context_destroy(ctx);
}

Test(cache, future_schema_is_left_alone, .init = cr_redirect_stderr) {
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
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "has schema version 99, this library knows 1; not using it"), "'%s'", buf);
    brc_context_destroy(ctx);
}

/* Root ignores permissions, so the read-only tests drop to an unprivileged user first. */
static void become_nobody(void) {
    if (geteuid() == 0) cr_assert_eq(setresuid(65534, 65534, 65534), 0, "setresuid");
}

Test(cache, read_only_directory_still_serves_hits, .init = cr_redirect_stderr) {
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
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "is read-only; using it for lookups only"), "'%s'", buf);
    brc_context_destroy(ctx);
}

Test(cache, unwritable_location_compiles_every_time, .init = cr_redirect_stderr) {
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
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "cannot create cache directory") && strstr(buf, "compiling without a disk cache"), "'%s'",
              buf);
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

/* ---- damage found after opening, full disk, network filesystems, the size cap ------------------ */


static const brc_unary_kind some_kinds[] = {BRC_UNARY_EXP, BRC_UNARY_LOG, BRC_UNARY_SIN, BRC_UNARY_COS,
                                            BRC_UNARY_TAN, BRC_UNARY_ERF, BRC_UNARY_SILU, BRC_UNARY_GELU_TANH};
enum { NSOME = sizeof some_kinds / sizeof some_kinds[0] };

Test(cache, truncated_database_is_set_aside_and_nothing_bad_is_loaded, .init = cr_redirect_stderr) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    for (int i = 0; i < NSOME; i++) plan_ok(ctx, some_kinds[i]);
    brc__cache_reset(); /* closes: the WAL is folded into kernels.db */
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(truncate(path, sb.st_size * 2 / 5), 0);
    brc__jit_forget_memory();
    brc_jit_stats s0 = stats();
    for (int i = 0; i < NSOME; i++) plan_ok(ctx, some_kinds[i]);
    brc_jit_stats s1 = stats();
    cr_expect_eq(s1.disk_hits + s1.compiles - s0.disk_hits - s0.compiles, (uint64_t)NSOME, "every plan was made");
    cr_expect_gt(s1.compiles, s0.compiles, "what the truncation lost was recompiled");
    cr_expect(brc__cache_events() & BRC__CACHE_EV_SET_ASIDE, "the damaged file was set aside");
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "is damaged") && strstr(buf, "moved to"), "one warning says so: '%s'", buf);
    /* The cache in place now is sound and serves what was recompiled. */
    brc__cache_reset();
    brc__jit_forget_memory();
    brc_jit_stats s2 = stats();
    for (int i = 0; i < NSOME; i++) plan_ok(ctx, some_kinds[i]);
    cr_expect_leq(stats().compiles - s2.compiles, s1.disk_hits - s0.disk_hits,
                 "at most the kernels read before the damage was found compile again");
    char aside[600];
    snprintf(aside, sizeof aside, "ls %s/kernels.db.corrupt-* > /dev/null", dir);
    cr_expect_eq(system(aside), 0, "the damaged file is kept for inspection");
    brc_context_destroy(ctx);
}

/* A VFS that passes everything to the default one, except that writes fail with SQLITE_FULL
 * while disk_full is set: a full disk, seen the way SQLite reports it. */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;
static volatile int disk_full;
static const sqlite3_io_methods *real_methods;
static sqlite3_io_methods full_methods;

typedef struct shim_file {
    sqlite3_file base;
    sqlite3_file *real; /* follows the struct */
} shim_file;

#define REAL(f) (((shim_file *)(f))->real)
static int shim_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
    return disk_full ? SQLITE_FULL : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int shim_sync(sqlite3_file *f, int fl) { return REAL(f)->pMethods->xSync(REAL(f), fl); }
static int shim_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int shim_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int shim_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int shim_check(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int shim_fctl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int shim_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int shim_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int shim_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **p) {
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int shim_shmlock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void shim_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int shim_shmunmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }

static int shim_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
    (void)v;
    shim_file *s = (shim_file *)f;
    s->real = (sqlite3_file *)(s + 1);
    int rc = real_vfs->xOpen(real_vfs, name, s->real, flags, out);
    if (rc != SQLITE_OK) {
        f->pMethods = NULL;
        return rc;
    }
    if (!real_methods) real_methods = s->real->pMethods;
    full_methods = (sqlite3_io_methods){2, shim_close, shim_read, shim_write, shim_truncate, shim_sync, shim_size,
                                        shim_lock, shim_unlock, shim_check, shim_fctl, shim_sector, shim_dev,
                                        shim_shmmap, shim_shmlock, shim_shmbarrier, shim_shmunmap, NULL, NULL};
    f->pMethods = &full_methods;
    return SQLITE_OK;
}

static void install_full_vfs(void) {
    real_vfs = sqlite3_vfs_find(NULL);
    full_vfs = *real_vfs;
    full_vfs.zName = "brc-test-full";
    full_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
    full_vfs.xOpen = shim_open;
    cr_assert_eq(sqlite3_vfs_register(&full_vfs, 1), SQLITE_OK);
}

Test(cache, full_disk_warns_once_and_plans_still_work, .init = cr_redirect_stderr) {
    const char *dir = tu_fresh_cache();
    install_full_vfs();
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_EXP); /* opens the cache and stores one row while there is room */
    cr_expect_eq(count_rows(dir), 1);
    disk_full = 1;
    brc_jit_stats s0 = stats();
    plan_ok(ctx, BRC_UNARY_LOG);
    plan_ok(ctx, BRC_UNARY_SIN);
    cr_expect_eq(stats().compiles, s0.compiles + 2, "compiled and handed out although they cannot be stored");
    disk_full = 0;
    cr_expect_eq(count_rows(dir), 1, "nothing half-written");
    const char *buf = tu_stderr_text();
    const char *w = strstr(buf, "the disk is full");
    cr_expect(w && !strstr(w + 1, "the disk is full"), "one warning: '%s'", buf);
    /* Room again: the cache works (the stored row still hits, new rows are stored). */
    brc__jit_forget_memory();
    brc_jit_stats s1 = stats();
    plan_ok(ctx, BRC_UNARY_EXP);
    cr_expect_eq(stats().disk_hits, s1.disk_hits + 1);
    plan_ok(ctx, BRC_UNARY_COS);
    cr_expect_eq(count_rows(dir), 2);
    brc_context_destroy(ctx);
}

Test(cache, network_filesystem_uses_a_rollback_journal, .init = cr_redirect_stderr) {
    const char *dir = tu_fresh_cache();
    brc__cache_fs_override("nfs");
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_TANH);
    cr_expect(brc__cache_events() & BRC__CACHE_EV_NETWORK_FS);
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "network filesystem (nfs)") && strstr(buf, "rollback journal"), "'%s'", buf);
    char wal[512];
    snprintf(wal, sizeof wal, "%s/kernels.db-wal", dir);
    cr_expect_neq(access(wal, F_OK), 0, "no WAL file on a network filesystem");
    brc__jit_forget_memory();
    brc_jit_stats s0 = stats();
    plan_ok(ctx, BRC_UNARY_TANH);
    cr_expect_eq(stats().disk_hits, s0.disk_hits + 1, "and the cache works");
    brc__cache_fs_override(NULL);
    brc_context_destroy(ctx);
}

Test(cache, size_cap_evicts_least_recently_used, .init = cr_redirect_stderr) {
    const char *dir = tu_fresh_cache();
    brc_context *ctx = tu_offline("sm_90");
    plan_ok(ctx, BRC_UNARY_EXP);
    plan_ok(ctx, BRC_UNARY_LOG);
    plan_ok(ctx, BRC_UNARY_SIN);
    int64_t sizes[3];
    const char *const kinds[3] = {"exp", "log", "sin"};
    for (int i = 0; i < 3; i++) {
        char q[200];
        snprintf(q, sizeof q, "SELECT size FROM kernels WHERE descriptor LIKE 'unary(kind=%s,%%'", kinds[i]);
        sizes[i] = query_i64(dir, q);
    }
    sql(dir, "DELETE FROM kernels WHERE descriptor LIKE 'unary(kind=sin,%'");
    brc__jit_forget_memory();
    cr_assert_eq(count_rows(dir), 2);
    /* exp was used long ago, log recently. */
    sql(dir, "UPDATE kernels SET last_used = last_used - 100000 WHERE descriptor LIKE 'unary(kind=exp,%'");
    sql(dir, "UPDATE kernels SET last_used = last_used - 10 WHERE descriptor LIKE 'unary(kind=log,%'");
    /* A cap that log and sin fit under at 90%, and all three exceed. */
    int64_t cap_bytes = (sizes[1] + sizes[2]) * 10 / 9 + 1;
    cr_assert_gt(sizes[0] + sizes[1] + sizes[2], cap_bytes);
    char cap[32];
    snprintf(cap, sizeof cap, "%lld", (long long)cap_bytes);
    setenv("BARACUDA_CACHE_MAX_SIZE", cap, 1);
    brc__cache_reset();
    plan_ok(ctx, BRC_UNARY_SIN);
    unsetenv("BARACUDA_CACHE_MAX_SIZE");
    char path[512];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    sqlite3 *db;
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT group_concat(substr(descriptor, 12, 3), ' '), sum(size) FROM "
                                        "(SELECT descriptor, size FROM kernels ORDER BY descriptor)",
                                    -1, &s, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(s, 0), "log sin", "the least recently used (exp) went (total %lld)",
                     (long long)sqlite3_column_int64(s, 1));
    cr_expect_leq(sqlite3_column_int64(s, 1), cap_bytes - cap_bytes / 10, "down to 90%% of the cap");
    sqlite3_finalize(s);
    sqlite3_close(db);
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "reached its size cap"), "'%s'", buf);
    brc_context_destroy(ctx);
}
