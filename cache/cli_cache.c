/* The `baracuda` cache commands: ls, stats, verify, prune, clear, export, import. They work on
 * the cache the library uses (brc__cache_acquire), so a damaged or foreign database is handled
 * the way the library handles it. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Every column of a row, in schema order, for copying rows between databases. */
#define ROW_COLUMNS                                                                                \
    "key, template, descriptor, arch, output, toolchain, lowered, regs, shared_bytes, local_bytes," \
    " compile_ms, size, checksum, image, created, last_used, hits"
enum { COL_KEY = 0, COL_ARCH = 3, COL_CHECKSUM = 12, COL_IMAGE = 13, COL_LAST_USED = 15, NCOLS = 17 };
static const char insert_sql[] = "INSERT OR IGNORE INTO kernels(" ROW_COLUMNS
                                 ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/* The user cache, locked; prints why and returns NULL when there is none. */
static sqlite3 *cache_open(bool need_write) {
    bool ro = false;
    sqlite3 *db = brc__cache_acquire(&ro);
    if (!db) {
        fprintf(stderr, "baracuda: no usable cache at %s\n",
                brc__cache_path()[0] ? brc__cache_path() : "(disabled by BARACUDA_CACHE_DISABLE)");
        return NULL;
    }
    if (need_write && ro) {
        fprintf(stderr, "baracuda: cache %s is read-only\n", brc__cache_path());
        brc__cache_release();
        return NULL;
    }
    return db;
}

static bool row_checksum_ok(sqlite3_stmt *s, int sum_col, int img_col) {
    int n = sqlite3_column_bytes(s, img_col);
    return n > 0 && brc__cache_checksum_ok(sqlite3_column_blob(s, img_col), (size_t)n, sqlite3_column_blob(s, sum_col),
                                           (size_t)sqlite3_column_bytes(s, sum_col));
}

static void key_hex(sqlite3_stmt *s, int col, char out[33]) {
    const unsigned char *k = sqlite3_column_blob(s, col);
    int n = sqlite3_column_bytes(s, col);
    out[0] = '\0';
    for (int i = 0; k && i < n && i < 16; i++) snprintf(out + 2 * i, 3, "%02x", k[i]);
}

/* Binds "arch IN (list)" as a single ','-joined text matched with instr() (archs contain no ','). */
static bool arch_filter(const char *list, char *joined, size_t n) {
    char archs[32][16];
    int na = cli_arch_list(list, archs, 32);
    if (!na) return false;
    size_t len = 0;
    joined[0] = ',';
    joined[1] = '\0';
    for (int i = 0; i < na; i++) len = strlen(joined), snprintf(joined + len, n - len, "%s,", archs[i]);
    return true;
}

/* ---- ls ------------------------------------------------------------------------------------------ */

int cmd_ls(int argc, char **argv) {
    const char *tmpl = NULL, *spec = NULL, *arch = NULL;
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) arch = argv[++i];
        else if (strcmp(argv[i], "--template") == 0 && i + 1 < argc) tmpl = argv[++i];
        else if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc) spec = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) json = true;
        else return cli_usage();
    }
    char archs[600] = "";
    if (arch && !arch_filter(arch, archs, sizeof archs)) return CLI_USAGE;
    sqlite3 *db = cache_open(false);
    if (!db) return CLI_NO_CACHE;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT arch, template, descriptor, size, regs, shared_bytes, local_bytes, compile_ms,"
                                " hits, last_used, output FROM kernels WHERE (?1 IS NULL OR template = ?1)"
                                " AND (?2 IS NULL OR instr(?2, ',' || arch || ',') > 0)"
                                " AND (?3 IS NULL OR instr(descriptor, ?3) > 0) ORDER BY arch, template, descriptor",
                                -1, &s, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "baracuda: %s\n", sqlite3_errmsg(db));
        brc__cache_release();
        return CLI_NO_CACHE;
    }
    if (tmpl) sqlite3_bind_text(s, 1, tmpl, -1, SQLITE_STATIC);
    if (arch) sqlite3_bind_text(s, 2, archs, -1, SQLITE_STATIC);
    if (spec) sqlite3_bind_text(s, 3, spec, -1, SQLITE_STATIC);
    if (json) printf("[");
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(s, 0), *t = (const char *)sqlite3_column_text(s, 1),
                   *d = (const char *)sqlite3_column_text(s, 2);
        if (json) {
            printf("%s\n {\"arch\": ", n ? "," : "");
            cli_json_str(stdout, a);
            printf(", \"template\": ");
            cli_json_str(stdout, t);
            printf(", \"descriptor\": ");
            cli_json_str(stdout, d);
            printf(", \"output\": ");
            cli_json_str(stdout, (const char *)sqlite3_column_text(s, 10));
            printf(", \"bytes\": %d, \"regs\": %d, \"shared_bytes\": %d, \"local_bytes\": %d, \"compile_ms\": %.2f, "
                   "\"hits\": %d, \"last_used\": %lld}",
                   sqlite3_column_int(s, 3), sqlite3_column_int(s, 4), sqlite3_column_int(s, 5),
                   sqlite3_column_int(s, 6), sqlite3_column_double(s, 7), sqlite3_column_int(s, 8),
                   (long long)sqlite3_column_int64(s, 9));
        } else {
            printf("%-8s %-60s %8d B %4d regs %7.1f ms %5d hits\n", a, d, sqlite3_column_int(s, 3),
                   sqlite3_column_int(s, 4), sqlite3_column_double(s, 7), sqlite3_column_int(s, 8));
        }
        n++;
    }
    if (json) printf("%s]\n", n ? "\n" : "");
    sqlite3_finalize(s);
    brc__cache_release();
    return CLI_OK;
}

/* ---- stats --------------------------------------------------------------------------------------- */

static int64_t scalar(sqlite3 *db, const char *sql, const char *arg) {
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

int cmd_stats(int argc, char **argv) {
    bool json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !json)) return cli_usage();
    sqlite3 *db = cache_open(false);
    if (!db) return CLI_NO_CACHE;
    int64_t entries = scalar(db, "SELECT count(*) FROM kernels", NULL);
    int64_t bytes = scalar(db, "SELECT coalesce(sum(size), 0) FROM kernels", NULL);
    int64_t hits = scalar(db, "SELECT coalesce(sum(hits), 0) FROM kernels", NULL);
    int64_t other = scalar(db, "SELECT count(*) FROM kernels WHERE toolchain != ?1", brc__toolchain_id());
    int64_t pages = scalar(db, "PRAGMA page_count", NULL) * scalar(db, "PRAGMA page_size", NULL);
    double mean_ms = 0;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(avg(compile_ms), 0) FROM kernels", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        mean_ms = sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    if (json) {
        printf("{\"path\": ");
        cli_json_str(stdout, brc__cache_path());
        printf(", \"entries\": %lld, \"bytes\": %lld, \"file_bytes\": %lld, \"mean_bytes\": %.0f, "
               "\"mean_compile_ms\": %.2f, \"hits\": %lld, \"other_toolchain_entries\": %lld, \"max_bytes\": %lld, "
               "\"archs\": {",
               (long long)entries, (long long)bytes, (long long)pages, entries ? (double)bytes / (double)entries : 0.0,
               mean_ms, (long long)hits, (long long)other, (long long)brc__cache_max_bytes());
    } else {
        printf("cache %s\nentries %lld\nbinary bytes %lld (mean %.0f per kernel; cap %lld)\ndatabase bytes %lld\n"
               "mean compile %.1f ms\nrecorded hits %lld\nentries of other toolchains %lld\n",
               brc__cache_path(), (long long)entries, (long long)bytes,
               entries ? (double)bytes / (double)entries : 0.0, (long long)brc__cache_max_bytes(), (long long)pages,
               mean_ms, (long long)hits, (long long)other);
    }
    int n = 0;
    if (sqlite3_prepare_v2(db, "SELECT arch, count(*), sum(size) FROM kernels GROUP BY arch ORDER BY arch", -1, &s,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (json)
                printf("%s\"%s\": {\"entries\": %d, \"bytes\": %lld}", n ? ", " : "", sqlite3_column_text(s, 0),
                       sqlite3_column_int(s, 1), (long long)sqlite3_column_int64(s, 2));
            else
                printf("arch %s: %d entries, %lld bytes\n", sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
                       (long long)sqlite3_column_int64(s, 2));
            n++;
        }
    }
    sqlite3_finalize(s);
    if (json) printf("}}\n");
    brc__cache_release();
    return CLI_OK;
}

/* ---- verify --------------------------------------------------------------------------------------- */

/* Loads a cubin on the GPU of its arch, if one is present: 1 loads, 0 does not, -1 not tried. */
static int try_load(brc_context *const *ctxs, char (*archs)[16], int n, const char *arch, const void *img,
                    const char *lowered) {
    for (int i = 0; i < n; i++) {
        if (strcmp(archs[i], arch) != 0) continue;
        bool pushed = false;
        if (brc__ctx_enter(ctxs[i], &pushed) != BRC_STATUS_OK) return 0;
        const brc__cu_api *cu = brc__cu();
        CUlibrary lib = NULL;
        CUkernel k = NULL;
        CUresult r = cu->cuLibraryLoadData(&lib, img, NULL, NULL, 0, NULL, NULL, 0);
        if (r == CUDA_SUCCESS) r = cu->cuLibraryGetKernel(&k, lib, lowered);
        if (lib) cu->cuLibraryUnload(lib);
        brc__ctx_leave(pushed);
        return r == CUDA_SUCCESS;
    }
    return -1;
}

int cmd_verify(int argc, char **argv) {
    bool json = false, repair = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--repair") == 0) repair = true;
        else return cli_usage();
    }
    char archs[16][16];
    brc_context *ctxs[16] = {0};
    int ndev = cli_present_archs(archs, ctxs, 16);
    brc__error_clear();
    unsigned ev = brc__cache_events();
    sqlite3 *db = cache_open(repair);
    if (!db) {
        for (int i = 0; i < ndev; i++) brc_context_destroy(ctxs[i]);
        return CLI_NO_CACHE;
    }
    char integrity[256] = "not run";
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        snprintf(integrity, sizeof integrity, "%s", (const char *)sqlite3_column_text(s, 0));
    else
        snprintf(integrity, sizeof integrity, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    int64_t rows = 0, bad_sum = 0, bad_elf = 0, loaded = 0, unloadable = 0;
    sqlite3_stmt *del = NULL;
    if (repair) sqlite3_prepare_v2(db, "DELETE FROM kernels WHERE rowid = ?1", -1, &del, NULL);
    if (sqlite3_prepare_v2(db, "SELECT rowid, key, descriptor, arch, output, lowered, checksum, image FROM kernels", -1,
                           &s, NULL) == SQLITE_OK) {
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            rows++;
            const char *desc = (const char *)sqlite3_column_text(s, 2), *arch = (const char *)sqlite3_column_text(s, 3),
                       *lowered = (const char *)sqlite3_column_text(s, 5);
            bool cubin = strcmp((const char *)sqlite3_column_text(s, 4), "cubin") == 0;
            char hex[33];
            key_hex(s, 1, hex);
            const char *problem = NULL;
            int regs, shm, lmem;
            if (!row_checksum_ok(s, 6, 7)) {
                problem = "checksum mismatch";
                bad_sum++;
            } else if (cubin && !brc__cubin_resources(sqlite3_column_blob(s, 7), (size_t)sqlite3_column_bytes(s, 7),
                                                      lowered ? lowered : "", &regs, &shm, &lmem)) {
                problem = "not a cubin holding its kernel";
                bad_elf++;
            } else {
                int l = cubin ? try_load(ctxs, archs, ndev, arch, sqlite3_column_blob(s, 7), lowered) : -1;
                if (l == 0) {
                    problem = "does not load on the GPU";
                    unloadable++;
                } else if (l == 1) {
                    loaded++;
                }
            }
            if (problem && !json) fprintf(stderr, "verify: %s %s (%s): %s%s\n", hex, desc, arch, problem,
                                          repair ? "; deleted" : "");
            if (problem && del) {
                sqlite3_bind_int64(del, 1, sqlite3_column_int64(s, 0));
                sqlite3_step(del);
                sqlite3_reset(del);
            }
        }
        if (rc != SQLITE_DONE && strcmp(integrity, "ok") == 0)
            snprintf(integrity, sizeof integrity, "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(s);
    sqlite3_finalize(del);
    brc__cache_release();
    for (int i = 0; i < ndev; i++) brc_context_destroy(ctxs[i]);
    int64_t bad = bad_sum + bad_elf + unloadable;
    bool integrity_ok = strcmp(integrity, "ok") == 0;
    bool ok = integrity_ok && (bad == 0 || repair) && !(ev & BRC__CACHE_EV_SET_ASIDE);
    if (json) {
        printf("{\"path\": ");
        cli_json_str(stdout, brc__cache_path());
        printf(", \"entries\": %lld, \"checksum_mismatch\": %lld, \"bad_cubin\": %lld, \"unloadable\": %lld, "
               "\"loaded\": %lld, \"integrity\": ",
               (long long)rows, (long long)bad_sum, (long long)bad_elf, (long long)unloadable, (long long)loaded);
        cli_json_str(stdout, integrity);
        printf(", \"set_aside\": %s, \"repaired\": %s, \"ok\": %s}\n", ev & BRC__CACHE_EV_SET_ASIDE ? "true" : "false",
               repair && bad ? "true" : "false", ok ? "true" : "false");
    } else {
        printf("verify %s: %lld kernels: %lld ok, %lld checksum mismatches, %lld bad cubins, %lld unloadable; "
               "%lld loaded on a GPU here; integrity %s%s\n",
               brc__cache_path(), (long long)rows, (long long)(rows - bad), (long long)bad_sum, (long long)bad_elf,
               (long long)unloadable, (long long)loaded, integrity,
               ev & BRC__CACHE_EV_SET_ASIDE ? "; the database was damaged and has been set aside" : "");
    }
    return ok ? CLI_OK : CLI_FAILED;
}

/* ---- prune / clear -------------------------------------------------------------------------------- */

static bool parse_age(const char *s, int64_t *secs) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || v < 0) return false;
    double unit = 0;
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return false;
    }
    if (end[1] != '\0') return false;
    *secs = (int64_t)(v * unit);
    return true;
}

static void compact(sqlite3 *db) {
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
}

static int64_t exec_count(sqlite3 *db, const char *sql, int64_t arg_i, const char *arg_s, int64_t *bytes) {
    char q[512];
    /* The same WHERE clause first as a sum of sizes, then as the DELETE. */
    snprintf(q, sizeof q, "SELECT count(*), coalesce(sum(size), 0) FROM kernels WHERE %s", sql);
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK) {
        if (arg_s) sqlite3_bind_text(s, 1, arg_s, -1, SQLITE_STATIC);
        else sqlite3_bind_int64(s, 1, arg_i);
        if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0), *bytes += sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    snprintf(q, sizeof q, "DELETE FROM kernels WHERE %s", sql);
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) return -1;
    if (arg_s) sqlite3_bind_text(s, 1, arg_s, -1, SQLITE_STATIC);
    else sqlite3_bind_int64(s, 1, arg_i);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : -1;
}

int cmd_prune(int argc, char **argv) {
    int64_t max_size = -1, age = -1;
    bool other = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--max-size") == 0 && i + 1 < argc) {
            if (!brc__parse_size(argv[++i], &max_size)) {
                fprintf(stderr, "baracuda: --max-size: '%s' is not a size (like 500M, 2G)\n", argv[i]);
                return CLI_USAGE;
            }
        } else if (strcmp(argv[i], "--older-than") == 0 && i + 1 < argc) {
            if (!parse_age(argv[++i], &age)) {
                fprintf(stderr, "baracuda: --older-than: '%s' is not an age (like 30d, 12h, 90m)\n", argv[i]);
                return CLI_USAGE;
            }
        } else if (strcmp(argv[i], "--other-toolchains") == 0) {
            other = true;
        } else {
            return cli_usage();
        }
    }
    if (max_size < 0 && age < 0 && !other) {
        fprintf(stderr, "baracuda: prune needs --max-size, --older-than or --other-toolchains\n");
        return CLI_USAGE;
    }
    sqlite3 *db = cache_open(true);
    if (!db) return CLI_NO_CACHE;
    int64_t n_age = 0, n_tc = 0, n_size = 0, bytes = 0;
    bool ok = true;
    if (age >= 0) ok = ok && (n_age = exec_count(db, "last_used < ?1", (int64_t)time(NULL) - age, NULL, &bytes)) >= 0;
    if (other) ok = ok && (n_tc = exec_count(db, "toolchain != ?1", 0, brc__toolchain_id(), &bytes)) >= 0;
    if (max_size >= 0) {
        int64_t b = 0;
        ok = ok && (n_size = brc__cache_evict(db, max_size, max_size, &b)) >= 0;
        bytes += b;
    }
    if (!ok) fprintf(stderr, "baracuda: prune: %s\n", sqlite3_errmsg(db));
    compact(db);
    int64_t left = scalar(db, "SELECT count(*) FROM kernels", NULL);
    int64_t left_bytes = scalar(db, "SELECT coalesce(sum(size), 0) FROM kernels", NULL);
    brc__cache_release();
    printf("prune: removed %lld kernels (%lld bytes): %lld unused for longer than asked, %lld of other toolchains, "
           "%lld over the size cap; %lld kernels left (%lld bytes)\n",
           (long long)(n_age + n_tc + n_size), (long long)bytes, (long long)n_age, (long long)n_tc, (long long)n_size,
           (long long)left, (long long)left_bytes);
    return ok ? CLI_OK : CLI_FAILED;
}

int cmd_clear(int argc, char **argv) {
    (void)argv;
    if (argc) return cli_usage();
    sqlite3 *db = cache_open(true);
    if (!db) return CLI_NO_CACHE;
    int64_t bytes = 0;
    int64_t n = exec_count(db, "1 = 1 OR ?1", 0, NULL, &bytes);
    /* The stored GEMM algorithm choices go too (a table an older cache may lack). */
    if (n >= 0) sqlite3_exec(db, "DELETE FROM gemm_algos", NULL, NULL, NULL);
    if (n >= 0) compact(db);
    else fprintf(stderr, "baracuda: clear: %s\n", sqlite3_errmsg(db));
    brc__cache_release();
    if (n >= 0) printf("clear: removed %lld kernels (%lld bytes) from %s\n", (long long)n, (long long)bytes, brc__cache_path());
    return n >= 0 ? CLI_OK : CLI_FAILED;
}

/* ---- export / import ----------------------------------------------------------------------------- */

/* Binds every column of src's current row to ins and steps it. 1 inserted, 0 already there,
 * -1 error. */
static int copy_row(sqlite3_stmt *src, sqlite3_stmt *ins, sqlite3 *dst, bool touch) {
    for (int c = 0; c < NCOLS; c++) sqlite3_bind_value(ins, c + 1, sqlite3_column_value(src, c));
    if (touch) sqlite3_bind_int64(ins, COL_LAST_USED + 1, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_clear_bindings(ins);
    return rc != SQLITE_DONE ? -1 : sqlite3_changes(dst) > 0;
}

/* The disk keys of every kernel the manifest's plans use on each arch, into temp.want. */
static int collect_manifest_keys(sqlite3 *db, const char *manifest, char (*archs)[16], int narch) {
    brc__manifest m;
    if (!cli_manifest(manifest, &m)) return CLI_USAGE;
    sqlite3_exec(db, "CREATE TEMP TABLE IF NOT EXISTS want(key BLOB PRIMARY KEY); DELETE FROM temp.want;", NULL, NULL,
                 NULL);
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO temp.want VALUES(?1)", -1, &ins, NULL) != SQLITE_OK) {
        brc__manifest_free(&m);
        fprintf(stderr, "baracuda: %s\n", sqlite3_errmsg(db));
        return CLI_FAILED;
    }
    int rc = CLI_OK;
    for (int a = 0; a < narch && rc == CLI_OK; a++) {
        brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
        o.device = -1;
        o.arch = archs[a];
        brc_context *ctx = NULL;
        if (brc_context_create(&o, &ctx) != BRC_STATUS_OK) {
            fprintf(stderr, "baracuda: %s\n", brc_last_error());
            rc = CLI_USAGE;
            break;
        }
        brc__key_sink sink = {0};
        brc__jit_collect_keys(&sink);
        for (size_t i = 0; i < m.n; i++) {
            brc_plan *p = NULL;
            if (brc__plan_from_descriptor(ctx, m.lines[i].text, &p) != BRC_STATUS_OK) {
                fprintf(stderr, "baracuda: %s:%d: %s\n", manifest, m.lines[i].line, brc_last_error());
                rc = CLI_USAGE;
            }
            brc_plan_destroy(p);
        }
        brc__jit_collect_keys(NULL);
        for (size_t i = 0; i < sink.n; i++) {
            unsigned char k[16];
            memcpy(k, &sink.keys[i].lo, 8);
            memcpy(k + 8, &sink.keys[i].hi, 8);
            sqlite3_bind_blob(ins, 1, k, 16, SQLITE_TRANSIENT);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        free(sink.keys);
        brc_context_destroy(ctx);
    }
    sqlite3_finalize(ins);
    brc__manifest_free(&m);
    return rc;
}

static sqlite3 *open_export(const char *tmp) {
    unlink(tmp);
    sqlite3 *out = NULL;
    char *sql = NULL;
    if (sqlite3_open_v2(tmp, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        sqlite3_exec(out, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(out, brc__cache_schema_sql(), NULL, NULL, NULL) != SQLITE_OK ||
        !(sql = sqlite3_mprintf("PRAGMA user_version = %d", brc__cache_schema_version())) ||
        sqlite3_exec(out, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(out, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "baracuda: export: cannot create %s (%s)\n", tmp, out ? sqlite3_errmsg(out) : "out of memory");
        sqlite3_free(sql);
        sqlite3_close(out);
        unlink(tmp);
        return NULL;
    }
    sqlite3_free(sql);
    return out;
}

int cmd_export(int argc, char **argv) {
    const char *file = NULL, *arch = NULL, *manifest = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) arch = argv[++i];
        else if (strcmp(argv[i], "--manifest") == 0 && i + 1 < argc) manifest = argv[++i];
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else return cli_usage();
    }
    if (!file) return cli_usage();
    char joined[600] = "";
    char archs[32][16];
    int narch = 0;
    if (arch && (!arch_filter(arch, joined, sizeof joined) || !(narch = cli_arch_list(arch, archs, 32))))
        return CLI_USAGE;
    sqlite3 *db = cache_open(false);
    if (!db) return CLI_NO_CACHE;
    int rc = CLI_OK;
    if (manifest && !arch) {
        /* Every cubin arch the cache holds. */
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, "SELECT DISTINCT arch FROM kernels WHERE output = 'cubin' ORDER BY arch", -1, &s,
                               NULL) == SQLITE_OK)
            while (sqlite3_step(s) == SQLITE_ROW && narch < 32)
                snprintf(archs[narch++], 16, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    if (manifest) rc = collect_manifest_keys(db, manifest, archs, narch);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", file, (long)getpid());
    sqlite3 *out = rc == CLI_OK ? open_export(tmp) : NULL;
    if (!out) {
        brc__cache_release();
        return rc == CLI_OK ? CLI_FAILED : rc;
    }
    sqlite3_stmt *s = NULL, *ins = NULL;
    int64_t n = 0, bytes = 0, corrupt = 0, wanted = manifest ? scalar(db, "SELECT count(*) FROM temp.want", NULL) : 0;
    char q[512];
    snprintf(q, sizeof q,
             "SELECT " ROW_COLUMNS " FROM kernels WHERE (?1 IS NULL OR instr(?1, ',' || arch || ',') > 0)%s",
             manifest ? " AND key IN (SELECT key FROM temp.want)" : "");
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(out, insert_sql, -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "baracuda: export: %s\n", sqlite3_errmsg(s ? out : db));
        rc = CLI_FAILED;
    } else {
        if (arch) sqlite3_bind_text(s, 1, joined, -1, SQLITE_STATIC);
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (!row_checksum_ok(s, COL_CHECKSUM, COL_IMAGE)) {
                corrupt++;
                continue;
            }
            int r = copy_row(s, ins, out, false);
            if (r < 0) {
                fprintf(stderr, "baracuda: export: %s\n", sqlite3_errmsg(out));
                rc = CLI_FAILED;
                break;
            }
            n += r;
            bytes += r ? sqlite3_column_bytes(s, COL_IMAGE) : 0;
        }
    }
    sqlite3_finalize(s);
    sqlite3_finalize(ins);
    if (manifest) sqlite3_exec(db, "DROP TABLE IF EXISTS temp.want", NULL, NULL, NULL);
    brc__cache_release();
    if (rc == CLI_OK && sqlite3_exec(out, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "baracuda: export: %s\n", sqlite3_errmsg(out));
        rc = CLI_FAILED;
    }
    sqlite3_close(out);
    if (rc != CLI_OK || rename(tmp, file) != 0) {
        if (rc == CLI_OK) perror("baracuda: export: rename");
        unlink(tmp);
        return CLI_FAILED;
    }
    printf("export %s: %lld kernels (%lld bytes)", file, (long long)n, (long long)bytes);
    if (manifest) printf("; %lld of the manifest's %lld kernels are not in the cache", (long long)(wanted - n),
                         (long long)wanted);
    if (corrupt) printf("; %lld corrupt rows skipped", (long long)corrupt);
    printf("\n");
    return (manifest && wanted > n) || corrupt ? CLI_FAILED : CLI_OK;
}

int cmd_import(int argc, char **argv) {
    if (argc != 1 || argv[0][0] == '-') return cli_usage();
    const char *file = argv[0];
    sqlite3 *src = NULL;
    char *uri = sqlite3_mprintf("file:%s?immutable=1", file);
    sqlite3_stmt *s = NULL;
    if (access(file, R_OK) != 0 || !uri ||
        sqlite3_open_v2(uri, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK ||
        scalar(src, "PRAGMA user_version", NULL) != brc__cache_schema_version() ||
        sqlite3_prepare_v2(src, "SELECT " ROW_COLUMNS " FROM kernels", -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "baracuda: import: %s is not a baracuda cache file of schema %d\n", file,
                brc__cache_schema_version());
        sqlite3_free(uri);
        sqlite3_close(src);
        return CLI_USAGE;
    }
    sqlite3_free(uri);
    sqlite3 *db = cache_open(true);
    if (!db) {
        sqlite3_finalize(s);
        sqlite3_close(src);
        return CLI_NO_CACHE;
    }
    sqlite3_stmt *ins = NULL;
    int64_t total = 0, added = 0, corrupt = 0;
    int rc = CLI_OK;
    if (sqlite3_prepare_v2(db, insert_sql, -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "baracuda: import: %s\n", sqlite3_errmsg(db));
        rc = CLI_FAILED;
    } else {
        int step;
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            total++;
            if (!row_checksum_ok(s, COL_CHECKSUM, COL_IMAGE)) {
                corrupt++;
                continue;
            }
            int r = copy_row(s, ins, db, true);
            if (r < 0) {
                fprintf(stderr, "baracuda: import: %s\n", sqlite3_errmsg(db));
                rc = CLI_FAILED;
                break;
            }
            added += r;
        }
        if (step != SQLITE_DONE && rc == CLI_OK) {
            fprintf(stderr, "baracuda: import: %s: %s\n", file, sqlite3_errmsg(src));
            rc = CLI_FAILED;
        }
        if (sqlite3_exec(db, rc == CLI_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) rc = CLI_FAILED;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(s);
    sqlite3_close(src);
    int64_t cap = brc__cache_max_bytes(), evicted_bytes = 0, evicted = 0;
    if (rc == CLI_OK && cap > 0) evicted = brc__cache_evict(db, cap, cap - cap / 10, &evicted_bytes);
    brc__cache_release();
    if (rc != CLI_OK) return rc;
    printf("import %s: %lld kernels: %lld imported, %lld already present, %lld corrupt skipped", file,
           (long long)total, (long long)added, (long long)(total - added - corrupt), (long long)corrupt);
    if (evicted > 0) printf("; %lld least recently used evicted to stay under the size cap", (long long)evicted);
    printf("\n");
    return corrupt ? CLI_FAILED : CLI_OK;
}
