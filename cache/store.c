/* The disk cache: one SQLite database (WAL, busy timeout) with one row per kernel holding the
 * binary, its checksum and its metadata. Every failure degrades — a cache that cannot be
 * opened, read or written logs one warning and behaves as empty — and nothing read from it is
 * used before its checksum is verified. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/internal.h"

#define SCHEMA_VERSION 1
/* last_used is refreshed at most this often per row, so hits stay read-only transactions. */
#define LAST_USED_GRANULARITY_S 300

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool opened;        /* an open was attempted */
static sqlite3 *db;        /* NULL: cache disabled or unusable */
static bool read_only;
static char dir[4096];
static sqlite3_stmt *st_lookup, *st_insert, *st_delete, *st_touch;

/* ---- statistics (process-wide counters) ----------------------------------------------------- */

static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static brc_jit_stats stats;

void brc__stats_add(int which, double ms) {
    pthread_mutex_lock(&stats_mu);
    switch (which) {
    case BRC__STAT_MEMORY_HIT: stats.memory_hits++; break;
    case BRC__STAT_DISK_HIT: stats.disk_hits++; break;
    case BRC__STAT_COMPILE: stats.compiles++; stats.compile_ms += ms; break;
    case BRC__STAT_BAD_ROW: stats.bad_rows++; break;
    default: break;
    }
    pthread_mutex_unlock(&stats_mu);
}

void brc_jit_stats_get(brc_jit_stats *out) {
    if (!out) return;
    pthread_mutex_lock(&stats_mu);
    *out = stats;
    pthread_mutex_unlock(&stats_mu);
}

/* ---- location ----------------------------------------------------------------------------------- */

static void resolve_dir(void) {
    const char *off = getenv("BARACUDA_CACHE_DISABLE");
    const char *d = getenv("BARACUDA_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    dir[0] = '\0';
    if (off && *off && strcmp(off, "0") != 0) return;
    if (d && *d) snprintf(dir, sizeof dir, "%s", d);
    else if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/baracuda", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/baracuda", home);
}

const char *brc_cache_dir(void) {
    pthread_mutex_lock(&mu);
    if (!opened) resolve_dir();
    pthread_mutex_unlock(&mu);
    return dir;
}

static int mkdirs(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- opening -------------------------------------------------------------------------------------- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kernels("
    " key BLOB NOT NULL UNIQUE,"
    " template TEXT NOT NULL, descriptor TEXT NOT NULL, arch TEXT NOT NULL, output TEXT NOT NULL,"
    " toolchain TEXT NOT NULL, lowered TEXT NOT NULL,"
    " regs INTEGER NOT NULL, shared_bytes INTEGER NOT NULL, local_bytes INTEGER NOT NULL,"
    " compile_ms REAL NOT NULL, size INTEGER NOT NULL, checksum BLOB NOT NULL, image BLOB NOT NULL,"
    " created INTEGER NOT NULL, last_used INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0);";

static void close_db(void) {
    sqlite3_finalize(st_lookup);
    sqlite3_finalize(st_insert);
    sqlite3_finalize(st_delete);
    sqlite3_finalize(st_touch);
    st_lookup = st_insert = st_delete = st_touch = NULL;
    if (db) sqlite3_close(db);
    db = NULL;
}

static bool prepare_all(void) {
    return sqlite3_prepare_v2(db,
                              "SELECT lowered, regs, shared_bytes, local_bytes, checksum, image,"
                              " last_used FROM kernels WHERE key = ?1",
                              -1, &st_lookup, NULL) == SQLITE_OK &&
           sqlite3_prepare_v2(db,
                              "INSERT OR IGNORE INTO kernels(key, template, descriptor, arch, output,"
                              " toolchain, lowered, regs, shared_bytes, local_bytes, compile_ms, size,"
                              " checksum, image, created, last_used, hits) VALUES(?1, ?2, ?3, ?4, ?5,"
                              " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, 0)",
                              -1, &st_insert, NULL) == SQLITE_OK &&
           sqlite3_prepare_v2(db, "DELETE FROM kernels WHERE key = ?1", -1, &st_delete, NULL) ==
               SQLITE_OK &&
           sqlite3_prepare_v2(db, "UPDATE kernels SET last_used = ?2, hits = hits + 1 WHERE key = ?1",
                              -1, &st_touch, NULL) == SQLITE_OK;
}

/* Opens path read-write and makes sure the schema is ours. Returns an SQLite code. */
static int open_rw(const char *path) {
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_busy_timeout(db, 10000);
    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    return rc;
}

static int user_version(void) {
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void open_locked(void) {
    opened = true;
    resolve_dir();
    if (!dir[0]) return;
    if (mkdirs(dir) != 0) {
        brc__warn_once("cache-dir", "cannot create cache directory %s (%s); compiling without a disk cache",
                       dir, strerror(errno));
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/kernels.db", dir);
    int rc = open_rw(path);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
        /* Not a database (truncated, overwritten): keep it aside for inspection, start anew. */
        close_db();
        char aside[4300];
        snprintf(aside, sizeof aside, "%s.corrupt-%ld", path, (long)getpid());
        brc__warn_once("cache-corrupt", "cache %s is not a valid database; moved to %s", path, aside);
        if (rename(path, aside) == 0) rc = open_rw(path);
    }
    if (rc != SQLITE_OK) {
        close_db();
        /* A read-only directory or file: lookups still work through an immutable open. */
        char uri[4300];
        snprintf(uri, sizeof uri, "file:%s?immutable=1", path);
        if (access(path, R_OK) == 0 &&
            sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK &&
            sqlite3_exec(db, "SELECT 1 FROM kernels LIMIT 1", NULL, NULL, NULL) == SQLITE_OK) {
            read_only = true;
            brc__warn_once("cache-ro", "cache %s is read-only; using it for lookups only", path);
        } else {
            close_db();
            brc__warn_once("cache-open", "cannot open cache %s (%s); compiling without a disk cache",
                           path, sqlite3_errstr(rc));
            return;
        }
    }
    int v = user_version();
    if (v == 0 && !read_only) {
        sqlite3_exec(db, "PRAGMA user_version = " "1", NULL, NULL, NULL);
        v = SCHEMA_VERSION;
    }
    if (v != SCHEMA_VERSION) {
        brc__warn_once("cache-schema", "cache %s has schema version %d, this library knows %d; not using it",
                       path, v, SCHEMA_VERSION);
        close_db();
        return;
    }
    if (!prepare_all()) {
        brc__warn_once("cache-prepare", "cache %s: %s; compiling without a disk cache", path, sqlite3_errmsg(db));
        close_db();
    }
}

static bool ready_locked(void) {
    if (!opened) open_locked();
    return db != NULL;
}

void brc__cache_reset(void) {
    pthread_mutex_lock(&mu);
    close_db();
    opened = false;
    read_only = false;
    pthread_mutex_unlock(&mu);
}

/* ---- rows -------------------------------------------------------------------------------------------- */

static void bind_key(sqlite3_stmt *s, brc__hash128 key) {
    unsigned char k[16];
    memcpy(k, &key.lo, 8);
    memcpy(k + 8, &key.hi, 8);
    sqlite3_bind_blob(s, 1, k, 16, SQLITE_TRANSIENT);
}

static void delete_locked(brc__hash128 key) {
    if (read_only) return;
    bind_key(st_delete, key);
    sqlite3_step(st_delete);
    sqlite3_reset(st_delete);
}

bool brc__cache_lookup(brc__hash128 key, brc__cache_loaded *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&mu);
    if (!ready_locked()) {
        pthread_mutex_unlock(&mu);
        return false;
    }
    bool hit = false, bad = false;
    int64_t last_used = 0;
    bind_key(st_lookup, key);
    int rc = sqlite3_step(st_lookup);
    if (rc == SQLITE_ROW) {
        const unsigned char *lowered = sqlite3_column_text(st_lookup, 0);
        const void *sum = sqlite3_column_blob(st_lookup, 4);
        int sum_n = sqlite3_column_bytes(st_lookup, 4);
        const void *img = sqlite3_column_blob(st_lookup, 5);
        int img_n = sqlite3_column_bytes(st_lookup, 5);
        brc__hash128 h = brc__hash_bytes(img, (size_t)img_n);
        unsigned char hb[16];
        memcpy(hb, &h.lo, 8);
        memcpy(hb + 8, &h.hi, 8);
        if (!lowered || !img || img_n <= 0 || sum_n != 16 || memcmp(sum, hb, 16) != 0) {
            bad = true;
        } else {
            out->lowered = strdup((const char *)lowered);
            out->image = malloc((size_t)img_n);
            if (out->lowered && out->image) {
                memcpy(out->image, img, (size_t)img_n);
                out->image_size = (size_t)img_n;
                out->regs = sqlite3_column_int(st_lookup, 1);
                out->shared_bytes = sqlite3_column_int(st_lookup, 2);
                out->local_bytes = sqlite3_column_int(st_lookup, 3);
                last_used = sqlite3_column_int64(st_lookup, 6);
                hit = true;
            } else {
                brc__cache_loaded_free(out);
            }
        }
    } else if (rc != SQLITE_DONE) {
        brc__warn_once("cache-read", "cache read failed (%s); compiling instead", sqlite3_errmsg(db));
    }
    sqlite3_reset(st_lookup);
    if (bad) {
        char hex[33];
        brc__hash_hex(key, hex);
        brc__warn_once("cache-bad-row", "cache row %s failed its checksum; deleted, recompiling", hex);
        delete_locked(key);
        brc__stats_add(BRC__STAT_BAD_ROW, 0);
    }
    int64_t now = (int64_t)time(NULL);
    if (hit && !read_only && now - last_used >= LAST_USED_GRANULARITY_S) {
        bind_key(st_touch, key);
        sqlite3_bind_int64(st_touch, 2, now);
        sqlite3_step(st_touch);
        sqlite3_reset(st_touch);
    }
    pthread_mutex_unlock(&mu);
    return hit;
}

void brc__cache_insert(const brc__cache_row *row) {
    pthread_mutex_lock(&mu);
    if (!ready_locked() || read_only) {
        pthread_mutex_unlock(&mu);
        return;
    }
    sqlite3_stmt *s = st_insert;
    brc__hash128 sum = brc__hash_bytes(row->image, row->image_size);
    unsigned char sb[16];
    memcpy(sb, &sum.lo, 8);
    memcpy(sb + 8, &sum.hi, 8);
    bind_key(s, row->key);
    sqlite3_bind_text(s, 2, row->template_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, row->descriptor, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, row->arch, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, row->output_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, row->toolchain, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, row->lowered, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 8, row->regs);
    sqlite3_bind_int(s, 9, row->shared_bytes);
    sqlite3_bind_int(s, 10, row->local_bytes);
    sqlite3_bind_double(s, 11, row->compile_ms);
    sqlite3_bind_int64(s, 12, (sqlite3_int64)row->image_size);
    sqlite3_bind_blob(s, 13, sb, 16, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(s, 14, row->image, row->image_size, SQLITE_STATIC);
    sqlite3_bind_int64(s, 15, (sqlite3_int64)time(NULL));
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        brc__warn_once("cache-write", "cache write failed (%s); kernels will be recompiled next time",
                       sqlite3_errmsg(db));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&mu);
}

void brc__cache_delete(brc__hash128 key) {
    pthread_mutex_lock(&mu);
    if (ready_locked()) delete_locked(key);
    pthread_mutex_unlock(&mu);
}

void brc__cache_loaded_free(brc__cache_loaded *l) {
    free(l->lowered);
    free(l->image);
    memset(l, 0, sizeof *l);
}
