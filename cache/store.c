/* The disk cache: one SQLite database (WAL, busy timeout) with one row per kernel holding the
 * binary, its checksum and its metadata, plus read-only layers (exported cache files) searched
 * after it. Every failure degrades — a cache that cannot be opened, read or written logs one
 * warning and behaves as empty — and nothing read from any of them is used before its checksum
 * is verified. Format and guarantees: docs/cache-format.md. */
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
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/internal.h"

#define SCHEMA_VERSION 1
/* last_used is refreshed at most this often per row, so hits stay read-only transactions. */
#define LAST_USED_GRANULARITY_S 300
/* Default cap on the binaries' total size (BARACUDA_CACHE_MAX_SIZE overrides; 0 = no cap). */
#define DEFAULT_MAX_BYTES ((int64_t)2 << 30)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool opened;        /* an open was attempted */
static sqlite3 *db;        /* NULL: cache disabled or unusable */
static bool read_only;
static unsigned events;    /* BRC__CACHE_EV_* seen since the last reset */
static char dir[4096];
static char db_path[4200];
static int64_t max_bytes;
static sqlite3_stmt *st_lookup, *st_insert, *st_delete, *st_touch;
static const char *fs_override; /* test hook */

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

/* ---- location and settings ---------------------------------------------------------------------- */

static void resolve_dir(void) {
    const char *off = getenv("BARACUDA_CACHE_DISABLE");
    const char *d = getenv("BARACUDA_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    dir[0] = db_path[0] = '\0';
    if (off && *off && strcmp(off, "0") != 0) return;
    if (d && *d) snprintf(dir, sizeof dir, "%s", d);
    else if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/baracuda", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/baracuda", home);
    if (dir[0]) snprintf(db_path, sizeof db_path, "%s/kernels.db", dir);
}

const char *brc_cache_dir(void) {
    pthread_mutex_lock(&mu);
    if (!opened) resolve_dir();
    pthread_mutex_unlock(&mu);
    return dir;
}

bool brc__parse_size(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return false;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' && mult > 1) end++; /* "MiB" */
    if (*end == 'B' || *end == 'b') end++;
    if (*end != '\0' || v * mult > 9.0e18) return false;
    *out = (int64_t)(v * mult);
    return true;
}

static void resolve_max_bytes(void) {
    const char *s = getenv("BARACUDA_CACHE_MAX_SIZE");
    max_bytes = DEFAULT_MAX_BYTES;
    if (s && *s && !brc__parse_size(s, &max_bytes)) {
        brc__warn_once("cache-max-size", "BARACUDA_CACHE_MAX_SIZE=%s is not a size (like 500M or 2G); using 2G", s);
        max_bytes = DEFAULT_MAX_BYTES;
    }
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

/* The name of the network filesystem path is on, or NULL for a local one. WAL needs shared
 * memory between the processes, which network filesystems do not give. */
static const char *network_fs(const char *path) {
    if (fs_override) return *fs_override ? fs_override : NULL;
    struct statfs sb;
    if (statfs(path, &sb) != 0) return NULL;
    switch ((unsigned long)sb.f_type) {
    case 0x6969UL: return "nfs";
    case 0x517BUL: return "smb";
    case 0xFF534D42UL: return "cifs";
    case 0xFE534D42UL: return "smb2";
    case 0x01021997UL: return "9p";
    case 0x00C36400UL: return "ceph";
    case 0x0BD00BD0UL: return "lustre";
    case 0x47504653UL: return "gpfs";
    case 0x5346414FUL: return "afs";
    case 0x73757245UL: return "coda";
    default: return NULL;
    }
}

void brc__cache_fs_override(const char *name) { fs_override = name; }

/* ---- opening -------------------------------------------------------------------------------------- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS kernels("
    " key BLOB NOT NULL UNIQUE,"
    " template TEXT NOT NULL, descriptor TEXT NOT NULL, arch TEXT NOT NULL, output TEXT NOT NULL,"
    " toolchain TEXT NOT NULL, lowered TEXT NOT NULL,"
    " regs INTEGER NOT NULL, shared_bytes INTEGER NOT NULL, local_bytes INTEGER NOT NULL,"
    " compile_ms REAL NOT NULL, size INTEGER NOT NULL, checksum BLOB NOT NULL, image BLOB NOT NULL,"
    " created INTEGER NOT NULL, last_used INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS kernels_last_used ON kernels(last_used);"
    /* Added in 0.2.0 without a version change: older libraries never read it. */
    "CREATE TABLE IF NOT EXISTS gemm_algos("
    " key BLOB NOT NULL UNIQUE, descriptor TEXT NOT NULL, device TEXT NOT NULL, algo BLOB NOT NULL,"
    " workspace INTEGER NOT NULL, tuned INTEGER NOT NULL, checksum BLOB NOT NULL, created INTEGER NOT NULL);";

const char *brc__cache_schema_sql(void) { return schema_sql; }
int brc__cache_schema_version(void) { return SCHEMA_VERSION; }

static void close_db(void) {
    sqlite3_finalize(st_lookup);
    sqlite3_finalize(st_insert);
    sqlite3_finalize(st_delete);
    sqlite3_finalize(st_touch);
    st_lookup = st_insert = st_delete = st_touch = NULL;
    if (db) sqlite3_close(db);
    db = NULL;
}

/* Opens path read-write and makes sure the schema is ours. Returns an SQLite code. */
static int open_rw(const char *path) {
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_busy_timeout(db, 10000);
    const char *netfs = network_fs(dir);
    if (netfs) {
        events |= BRC__CACHE_EV_NETWORK_FS;
        brc__warn_once("cache-netfs",
                       "cache %s is on a network filesystem (%s): using a rollback journal instead of WAL "
                       "(slower writes; writers are serialized by file locks)", path, netfs);
    }
    rc = sqlite3_exec(db, netfs ? "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
                                : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
    return rc;
}

static int user_version(sqlite3 *h) {
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static bool is_damage(int rc) {
    int primary = rc & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || rc == SQLITE_IOERR_SHORT_READ;
}

/* Moves a damaged database aside (for inspection) so a fresh one can be made. */
static bool set_aside(const char *why) {
    char aside[4300];
    snprintf(aside, sizeof aside, "%s.corrupt-%ld", db_path, (long)getpid());
    events |= BRC__CACHE_EV_SET_ASIDE;
    brc__warn_once("cache-corrupt", "cache %s is damaged (%s); moved to %s, starting a new one", db_path, why, aside);
    if (rename(db_path, aside) != 0) return false;
    char side[4300];
    snprintf(side, sizeof side, "%s-wal", db_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db_path);
    unlink(side);
    return true;
}

static void open_locked(void) {
    opened = true;
    resolve_dir();
    resolve_max_bytes();
    if (!dir[0]) return;
    if (mkdirs(dir) != 0) {
        events |= BRC__CACHE_EV_DISABLED;
        brc__warn_once("cache-dir", "cannot create cache directory %s (%s); compiling without a disk cache",
                       dir, strerror(errno));
        return;
    }
    int rc = open_rw(db_path);
    if (is_damage(rc)) {
        /* Not a database (truncated to garbage, overwritten): keep it aside, start anew. */
        close_db();
        if (set_aside(sqlite3_errstr(rc))) rc = open_rw(db_path);
    }
    if (rc != SQLITE_OK) {
        close_db();
        /* A read-only directory or file: lookups still work through an immutable open. */
        char uri[4300];
        snprintf(uri, sizeof uri, "file:%s?immutable=1", db_path);
        if (access(db_path, R_OK) == 0 &&
            sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK &&
            sqlite3_exec(db, "SELECT 1 FROM kernels LIMIT 1", NULL, NULL, NULL) == SQLITE_OK) {
            read_only = true;
            events |= BRC__CACHE_EV_READ_ONLY;
            brc__warn_once("cache-ro", "cache %s is read-only; using it for lookups only", db_path);
        } else {
            close_db();
            events |= BRC__CACHE_EV_DISABLED;
            brc__warn_once("cache-open", "cannot open cache %s (%s); compiling without a disk cache", db_path,
                           sqlite3_errstr(rc));
            return;
        }
    }
    int v = user_version(db);
    if (v == 0 && !read_only) {
        sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL);
        v = SCHEMA_VERSION;
    }
    if (v != SCHEMA_VERSION) {
        events |= BRC__CACHE_EV_FOREIGN_SCHEMA;
        brc__warn_once("cache-schema", "cache %s has schema version %d, this library knows %d; not using it",
                       db_path, v, SCHEMA_VERSION);
        close_db();
        return;
    }
    /* Only the lookup is prepared now: a process that only hits never pays for the others. */
    if (sqlite3_prepare_v2(db,
                           "SELECT lowered, regs, shared_bytes, local_bytes, checksum, image, last_used"
                           " FROM kernels WHERE key = ?1",
                           -1, &st_lookup, NULL) != SQLITE_OK) {
        brc__warn_once("cache-prepare", "cache %s: %s; compiling without a disk cache", db_path, sqlite3_errmsg(db));
        events |= BRC__CACHE_EV_DISABLED;
        close_db();
    }
}

static bool ready_locked(void) {
    if (!opened) open_locked();
    return db != NULL;
}

/* A statement prepared on first use; false (with one warning) if it cannot be. */
static bool lazy(sqlite3_stmt **st, const char *sql) {
    if (*st) return true;
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK) return true;
    brc__warn_once("cache-prepare", "cache %s: %s", db_path, sqlite3_errmsg(db));
    return false;
}

/* A read or write found the file damaged: set it aside and continue with a new, empty one. */
static void damaged_locked(int rc) {
    close_db();
    opened = true;
    if (read_only || !set_aside(sqlite3_errstr(rc))) {
        events |= BRC__CACHE_EV_DISABLED;
        return;
    }
    opened = false;
    ready_locked();
}

static void layers_close(void);

void brc__cache_reset(void) {
    pthread_mutex_lock(&mu);
    close_db();
    layers_close();
    opened = false;
    read_only = false;
    events = 0;
    pthread_mutex_unlock(&mu);
}

unsigned brc__cache_events(void) {
    pthread_mutex_lock(&mu);
    ready_locked();
    unsigned e = events;
    pthread_mutex_unlock(&mu);
    return e;
}

struct sqlite3 *brc__cache_acquire(bool *is_read_only) {
    pthread_mutex_lock(&mu);
    if (!ready_locked()) {
        pthread_mutex_unlock(&mu);
        return NULL;
    }
    if (is_read_only) *is_read_only = read_only;
    return db; /* released by brc__cache_release */
}

void brc__cache_release(void) { pthread_mutex_unlock(&mu); }

const char *brc__cache_path(void) {
    if (!opened) brc_cache_dir();
    return db_path;
}

/* ---- rows -------------------------------------------------------------------------------------------- */

static void bind_key(sqlite3_stmt *s, brc__hash128 key) {
    unsigned char k[16];
    memcpy(k, &key.lo, 8);
    memcpy(k + 8, &key.hi, 8);
    sqlite3_bind_blob(s, 1, k, 16, SQLITE_TRANSIENT);
}

bool brc__cache_checksum_ok(const void *image, size_t n, const void *sum, size_t sum_n) {
    if (!image || n == 0 || sum_n != 16) return false;
    brc__hash128 h = brc__hash_bytes(image, n);
    unsigned char hb[16];
    memcpy(hb, &h.lo, 8);
    memcpy(hb + 8, &h.hi, 8);
    return memcmp(sum, hb, 16) == 0;
}

static void delete_locked(brc__hash128 key) {
    if (read_only || !db || !lazy(&st_delete, "DELETE FROM kernels WHERE key = ?1")) return;
    bind_key(st_delete, key);
    sqlite3_step(st_delete);
    sqlite3_reset(st_delete);
}

enum { ROW_MISS, ROW_HIT, ROW_BAD, ROW_ERROR };

/* Steps a bound lookup statement (columns as st_lookup's) into out. */
static int read_row(sqlite3_stmt *s, brc__cache_loaded *out, int64_t *last_used, int *rc_out) {
    int rc = sqlite3_step(s);
    *rc_out = rc;
    if (rc == SQLITE_DONE) return ROW_MISS;
    if (rc != SQLITE_ROW) return ROW_ERROR;
    const unsigned char *lowered = sqlite3_column_text(s, 0);
    const void *sum = sqlite3_column_blob(s, 4);
    int sum_n = sqlite3_column_bytes(s, 4);
    const void *img = sqlite3_column_blob(s, 5);
    int img_n = sqlite3_column_bytes(s, 5);
    if (!lowered || img_n <= 0 || !brc__cache_checksum_ok(img, (size_t)img_n, sum, (size_t)sum_n)) return ROW_BAD;
    out->lowered = strdup((const char *)lowered);
    out->image = malloc((size_t)img_n);
    if (!out->lowered || !out->image) {
        brc__cache_loaded_free(out);
        return ROW_ERROR;
    }
    memcpy(out->image, img, (size_t)img_n);
    out->image_size = (size_t)img_n;
    out->regs = sqlite3_column_int(s, 1);
    out->shared_bytes = sqlite3_column_int(s, 2);
    out->local_bytes = sqlite3_column_int(s, 3);
    *last_used = sqlite3_column_int64(s, 6);
    return ROW_HIT;
}

static bool user_lookup_locked(brc__hash128 key, brc__cache_loaded *out) {
    if (!ready_locked()) return false;
    int64_t last_used = 0;
    int rc = 0;
    bind_key(st_lookup, key);
    int r = read_row(st_lookup, out, &last_used, &rc);
    sqlite3_reset(st_lookup);
    if (r == ROW_ERROR && is_damage(rc)) {
        damaged_locked(rc);
        return false;
    }
    if (r == ROW_ERROR && rc != SQLITE_ROW)
        brc__warn_once("cache-read", "cache read failed (%s); compiling instead", sqlite3_errstr(rc));
    if (r == ROW_BAD) {
        char hex[33];
        brc__hash_hex(key, hex);
        brc__warn_once("cache-bad-row", "cache row %s failed its checksum; deleted, recompiling", hex);
        delete_locked(key);
        brc__stats_add(BRC__STAT_BAD_ROW, 0);
    }
    if (r != ROW_HIT) return false;
    int64_t now = (int64_t)time(NULL);
    if (!read_only && now - last_used >= LAST_USED_GRANULARITY_S &&
        lazy(&st_touch, "UPDATE kernels SET last_used = ?2, hits = hits + 1 WHERE key = ?1")) {
        bind_key(st_touch, key);
        sqlite3_bind_int64(st_touch, 2, now);
        sqlite3_step(st_touch);
        sqlite3_reset(st_touch);
    }
    return true;
}

/* ---- read-only layers (exported cache files) ------------------------------------------------------ */

typedef struct layer {
    struct layer *next;
    char *path;
    sqlite3 *db; /* NULL: unusable (warned once) */
    sqlite3_stmt *lookup;
} layer;
static layer *layers;

static void layers_close(void) {
    while (layers) {
        layer *l = layers;
        layers = l->next;
        sqlite3_finalize(l->lookup);
        if (l->db) sqlite3_close(l->db);
        free(l->path);
        free(l);
    }
}

static layer *layer_get_locked(const char *path, size_t len) {
    for (layer *l = layers; l; l = l->next)
        if (strlen(l->path) == len && strncmp(l->path, path, len) == 0) return l;
    layer *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strndup(path, len))) {
        free(l);
        return NULL;
    }
    l->next = layers;
    layers = l;
    char uri[4300];
    snprintf(uri, sizeof uri, "file:%s?immutable=1", l->path);
    const char *why = NULL;
    if (access(l->path, R_OK) != 0) why = strerror(errno);
    else if (sqlite3_open_v2(uri, &l->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        why = sqlite3_errmsg(l->db);
    else if (user_version(l->db) != SCHEMA_VERSION)
        why = "not a baracuda cache of this schema version";
    else if (sqlite3_prepare_v2(l->db,
                                "SELECT lowered, regs, shared_bytes, local_bytes, checksum, image, 0"
                                " FROM kernels WHERE key = ?1",
                                -1, &l->lookup, NULL) != SQLITE_OK)
        why = sqlite3_errmsg(l->db);
    if (why) {
        char tag[300];
        snprintf(tag, sizeof tag, "layer:%s", l->path);
        brc__warn_once(tag, "cache file %s cannot be used (%s); skipped", l->path, why);
        sqlite3_finalize(l->lookup);
        l->lookup = NULL;
        if (l->db) sqlite3_close(l->db);
        l->db = NULL;
    }
    return l;
}

/* Searches the ':'-separated cache files of list in order. */
static bool layers_lookup_locked(const char *list, brc__hash128 key, brc__cache_loaded *out) {
    for (const char *p = list; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        layer *l = len ? layer_get_locked(p, len) : NULL;
        p += len + (colon ? 1 : 0);
        if (!l || !l->lookup) continue;
        int64_t unused = 0;
        int rc = 0;
        bind_key(l->lookup, key);
        int r = read_row(l->lookup, out, &unused, &rc);
        sqlite3_reset(l->lookup);
        if (r == ROW_HIT) return true;
        if (r == ROW_BAD || r == ROW_ERROR) {
            char tag[300];
            snprintf(tag, sizeof tag, "layer-row:%s", l->path);
            brc__warn_once(tag, "cache file %s has a %s row; ignored", l->path,
                           r == ROW_BAD ? "corrupt" : "unreadable");
            if (r == ROW_BAD) brc__stats_add(BRC__STAT_BAD_ROW, 0);
        }
    }
    return false;
}

bool brc__cache_lookup(const brc_context *ctx, brc__hash128 key, brc__cache_loaded *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&mu);
    bool hit = user_lookup_locked(key, out);
    /* BARACUDA_CACHE_DISABLE turns off every disk cache, layers included. */
    if (!hit && dir[0]) hit = layers_lookup_locked(getenv("BARACUDA_CACHE_PATH"), key, out);
    if (!hit && dir[0] && ctx) hit = layers_lookup_locked(ctx->cache_files, key, out);
    pthread_mutex_unlock(&mu);
    return hit;
}

/* ---- writing and the size cap --------------------------------------------------------------------- */

/* Lock-free: the CLI calls these while it holds the store (brc__cache_acquire). */
int64_t brc__cache_max_bytes(void) {
    if (!opened) resolve_max_bytes();
    return max_bytes;
}

int64_t brc__cache_evict(struct sqlite3 *h, int64_t cap, int64_t target, int64_t *removed_bytes) {
    *removed_bytes = 0;
    sqlite3_stmt *s = NULL;
    int64_t total = 0, removed = 0;
    if (sqlite3_prepare_v2(h, "SELECT total(size) FROM kernels", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        total = (int64_t)sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    if (total <= cap) return 0;
    if (sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) return -1;
    sqlite3_stmt *del = NULL;
    s = NULL;
    if (sqlite3_prepare_v2(h, "SELECT rowid, size FROM kernels ORDER BY last_used, created, rowid", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(h, "DELETE FROM kernels WHERE rowid = ?1", -1, &del, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    while (total > target && sqlite3_step(s) == SQLITE_ROW) {
        sqlite3_bind_int64(del, 1, sqlite3_column_int64(s, 0));
        if (sqlite3_step(del) == SQLITE_DONE) {
            total -= sqlite3_column_int64(s, 1);
            *removed_bytes += sqlite3_column_int64(s, 1);
            removed++;
        }
        sqlite3_reset(del);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(del);
    if (sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return removed;
}

void brc__cache_insert(const brc__cache_row *row) {
    pthread_mutex_lock(&mu);
    if (!ready_locked() || read_only ||
        !lazy(&st_insert, "INSERT OR IGNORE INTO kernels(key, template, descriptor, arch, output,"
                          " toolchain, lowered, regs, shared_bytes, local_bytes, compile_ms, size,"
                          " checksum, image, created, last_used, hits) VALUES(?1, ?2, ?3, ?4, ?5,"
                          " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, 0)")) {
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
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc == SQLITE_DONE && sqlite3_changes(db) > 0 && max_bytes > 0) {
        int64_t bytes = 0;
        /* Down to 90% of the cap, so that a full cache does not evict on every insert. */
        int64_t n = brc__cache_evict(db, max_bytes, max_bytes - max_bytes / 10, &bytes);
        if (n > 0)
            brc__warn_once("cache-evict", "cache %s reached its size cap (%lld bytes): evicted %lld least recently "
                           "used kernels", db_path, (long long)max_bytes, (long long)n);
    } else if (rc != SQLITE_DONE && is_damage(rc)) {
        damaged_locked(rc);
    } else if (rc != SQLITE_DONE) {
        brc__warn_once("cache-write", "cache write to %s failed (%s); kernels will be recompiled next time",
                       db_path, (rc & 0xff) == SQLITE_FULL ? "the disk is full" : sqlite3_errstr(rc));
    }
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

/* ---- stored GEMM algorithm choices ------------------------------------------------------------------ */

/* The checksum of a choice covers the algorithm bytes, the workspace and the tuned flag. */
static brc__hash128 algo_sum(const void *algo, size_t n, int64_t workspace, int tuned) {
    unsigned char buf[128 + 16];
    size_t m = n < 128 ? n : 128;
    memcpy(buf, algo, m);
    memcpy(buf + m, &workspace, 8);
    int64_t t = tuned;
    memcpy(buf + m + 8, &t, 8);
    return brc__hash_bytes(buf, m + 16);
}

static void algo_delete_locked(brc__hash128 key) {
    sqlite3_stmt *s = NULL;
    if (read_only || !db || sqlite3_prepare_v2(db, "DELETE FROM gemm_algos WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
        return;
    bind_key(s, key);
    sqlite3_step(s);
    sqlite3_finalize(s);
}

bool brc__algo_lookup(brc__hash128 key, brc__algo_row *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&mu);
    sqlite3_stmt *s = NULL;
    bool hit = false;
    if (ready_locked() &&
        sqlite3_prepare_v2(db, "SELECT algo, workspace, tuned, checksum FROM gemm_algos WHERE key = ?1", -1, &s, NULL) ==
            SQLITE_OK) {
        bind_key(s, key);
        if (sqlite3_step(s) == SQLITE_ROW) {
            const void *a = sqlite3_column_blob(s, 0);
            int an = sqlite3_column_bytes(s, 0);
            int64_t ws = sqlite3_column_int64(s, 1);
            int tuned = sqlite3_column_int(s, 2);
            const void *sum = sqlite3_column_blob(s, 3);
            int sn = sqlite3_column_bytes(s, 3);
            brc__hash128 h = an > 0 && an <= (int)sizeof out->algo ? algo_sum(a, (size_t)an, ws, tuned) : (brc__hash128){0, 0};
            unsigned char hb[16];
            memcpy(hb, &h.lo, 8);
            memcpy(hb + 8, &h.hi, 8);
            if (a && an > 0 && an <= (int)sizeof out->algo && sum && sn == 16 && memcmp(sum, hb, 16) == 0 && ws >= 0) {
                memcpy(out->algo, a, (size_t)an);
                out->algo_size = (size_t)an;
                out->workspace = ws;
                out->tuned = tuned != 0;
                hit = true;
            } else {
                sqlite3_finalize(s);
                s = NULL;
                brc__warn_once("cache-bad-algo", "a stored GEMM algorithm failed its checksum; deleted, choosing again");
                algo_delete_locked(key);
                brc__stats_add(BRC__STAT_BAD_ROW, 0);
            }
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&mu);
    return hit;
}

void brc__algo_insert(brc__hash128 key, const char *descriptor, const char *device, const void *algo, size_t n,
                      int64_t workspace, bool tuned) {
    pthread_mutex_lock(&mu);
    sqlite3_stmt *s = NULL;
    if (ready_locked() && !read_only && n <= 128 &&
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO gemm_algos(key, descriptor, device, algo, workspace, tuned, checksum,"
                           " created) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &s, NULL) == SQLITE_OK) {
        brc__hash128 h = algo_sum(algo, n, workspace, tuned);
        unsigned char hb[16];
        memcpy(hb, &h.lo, 8);
        memcpy(hb + 8, &h.hi, 8);
        bind_key(s, key);
        sqlite3_bind_text(s, 2, descriptor, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, device, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 4, algo, (int)n, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, workspace);
        sqlite3_bind_int(s, 6, tuned ? 1 : 0);
        sqlite3_bind_blob(s, 7, hb, 16, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 8, (sqlite3_int64)time(NULL));
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE && is_damage(rc)) {
            sqlite3_finalize(s);
            s = NULL;
            damaged_locked(rc);
        } else if (rc != SQLITE_DONE) {
            brc__warn_once("cache-write-algo", "cache write to %s failed (%s); the GEMM algorithm will be chosen again",
                           db_path, sqlite3_errstr(rc));
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&mu);
}

void brc__algo_delete(brc__hash128 key) {
    pthread_mutex_lock(&mu);
    if (ready_locked()) algo_delete_locked(key);
    pthread_mutex_unlock(&mu);
}
