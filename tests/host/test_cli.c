/* Host tests of the `baracuda` tool, run as a separate process the way operators run it: warm
 * for GPUs that are not present, export/import and read-only layers, several processes warming
 * one cache at once, kill -9 in the middle of a warm, maintenance commands and exit codes. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static const char manifest_text[] = "# six plans\n"
                                    "unary(kind=exp,dtype=f32,layout=contig)\n"
                                    "unary(kind=gelu_tanh,dtype=bf16,layout=contig)\n"
                                    "binary(kind=add,dtype=f16,layout=contig)\n"
                                    "binary(kind=ge,dtype=f32,layout=strided,rank=2)\n"
                                    "cast(from=f32,to=bf16,layout=contig)\n"
                                    "ternary(kind=where,cond=bool,dtype=bf16,layout=contig)\n";
enum { PLANS = 6 };

/* The CLI beside this test executable: build/tests/test_cli -> build/baracuda. */
static const char *cli_path(void) {
    static char path[4096];
    if (!path[0]) {
        char self[4000];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        cr_assert(n > 0);
        self[n] = '\0';
        *strrchr(self, '/') = '\0';
        snprintf(path, sizeof path, "%s/../baracuda", self);
        cr_assert_eq(access(path, X_OK), 0, "no CLI at %s", path);
    }
    return path;
}

/* Runs `baracuda <args>` with this process's environment; its stdout and stderr go to out.
 * Returns the exit status. */
static int cli(char *out, size_t cap, const char *fmt, ...) BRC__PRINTF(3, 4);
static int cli(char *out, size_t cap, const char *fmt, ...) {
    char args[2048], cmd[8192], log[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(log, sizeof log, "/tmp/brc-cli-%d.log", (int)getpid());
    snprintf(cmd, sizeof cmd, "'%s' %s > %s 2>&1", cli_path(), args, log);
    int st = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    unlink(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *manifest_in(const char *dir) {
    static char path[512];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    tu_write_file(path, manifest_text);
    return path;
}

static int64_t query(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK, "%s", db_path);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    else cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static const char *db_of(const char *dir) {
    static char p[512];
    snprintf(p, sizeof p, "%s/kernels.db", dir);
    return p;
}

static char out[1 << 16];

/* ---- warm ---------------------------------------------------------------------------------------- */

Test(cli, warm_for_absent_gpus_fills_the_cache_and_a_second_warm_compiles_nothing) {
    const char *dir = tu_fresh_cache();
    const char *m = manifest_in(dir);
    cr_assert_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_80,sm_90a -j 2", m), 0, "%s", out);
    cr_expect(strstr(out, "warm sm_80: 6 plans: 6 compiled, 0 already cached, 0 failed"), "%s", out);
    cr_expect(strstr(out, "warm sm_90a: 6 plans: 6 compiled, 0 already cached, 0 failed"), "%s", out);
    cr_expect(strstr(out, "warm sm_80: 6/6"), "plain progress lines when not on a terminal: %s", out);
    cr_expect_eq(query(db_of(dir), "SELECT count(*) FROM kernels"), 2 * PLANS);
    cr_expect_eq(query(db_of(dir), "SELECT count(*) FROM kernels WHERE arch = 'sm_90a'"), PLANS);

    cr_assert_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_90a,sm_80 --json", m), 0, "%s", out);
    cr_expect(strstr(out, "\"compiled\": 0, \"cached\": 12, \"failed\": 0"), "second warm: %s", out);

    cr_assert_eq(cli(out, sizeof out, "stats --json"), 0, "%s", out);
    cr_expect(strstr(out, "\"entries\": 12,"), "%s", out);
    cr_expect(strstr(out, "\"sm_80\": {\"entries\": 6"), "%s", out);
    cr_assert_eq(cli(out, sizeof out, "ls --arch sm_90a --spec dtype=bf16 --json"), 0, "%s", out);
    cr_expect(strstr(out, "unary(kind=gelu_tanh,dtype=bf16,layout=contig)") &&
                  strstr(out, "ternary(kind=where,cond=bool,dtype=bf16,layout=contig)") && !strstr(out, "sm_80") &&
                  !strstr(out, "dtype=f32"),
              "filtered listing: %s", out);
    cr_assert_eq(cli(out, sizeof out, "ls --template nosuch"), 0, "%s", out);
    cr_expect_str_eq(out, "");
}

Test(cli, warm_without_a_gpu_needs_an_arch) {
    tu_fresh_cache();
    brc_context *dev = NULL;
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    if (brc_context_create(&o, &dev) == BRC_STATUS_OK) {
        brc_context_destroy(dev);
        cr_skip_test("a GPU is present: warm would target it");
    }
    cr_expect_eq(cli(out, sizeof out, "warm"), 2);
    cr_expect(strstr(out, "no GPU present; name the targets with --arch"), "%s", out);
}

/* ---- export, import, layers --------------------------------------------------------------------- */

/* Warms the manifest for sm_90 in the current cache, exports it to file, returns the cache dir. */
static void warm_and_export(const char *dir, const char *file, const char *extra) {
    const char *m = manifest_in(dir);
    cr_assert_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_90,sm_80", m), 0, "%s", out);
    cr_assert_eq(cli(out, sizeof out, "export %s %s", file, extra), 0, "%s", out);
}

/* Selects every manifest plan for sm_90 in this process; returns the stats delta. */
static brc_jit_stats select_manifest(const char *cache_files) {
    brc__cache_reset();
    brc__jit_forget_memory();
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    o.device = -1;
    o.arch = "sm_90";
    o.cache_files = cache_files;
    brc_context *ctx = NULL;
    cr_assert_eq(brc_context_create(&o, &ctx), BRC_STATUS_OK);
    brc__manifest m;
    cr_assert_eq(brc__manifest_parse(manifest_text, "m", &m), BRC_STATUS_OK);
    brc_jit_stats s0, s1;
    brc_jit_stats_get(&s0);
    for (size_t i = 0; i < m.n; i++) cr_assert_eq(brc_warm(ctx, m.lines[i].text), BRC_STATUS_OK, "%s", brc_last_error());
    brc_jit_stats_get(&s1);
    brc__manifest_free(&m);
    brc_context_destroy(ctx);
    return (brc_jit_stats){s1.memory_hits - s0.memory_hits, s1.disk_hits - s0.disk_hits, s1.compiles - s0.compiles,
                           s1.bad_rows - s0.bad_rows, 0};
}

Test(cli, export_then_import_into_an_empty_cache_gives_every_hit) {
    char src[256], file[300];
    snprintf(src, sizeof src, "%s", tu_fresh_cache());
    snprintf(file, sizeof file, "%s/bundle.db", src);
    warm_and_export(src, file, "--arch sm_90");
    cr_expect(strstr(out, "export ") && strstr(out, ": 6 kernels"), "%s", out);
    cr_expect_eq(query(file, "SELECT count(*) FROM kernels WHERE arch = 'sm_90'"), PLANS, "only the arch asked for");
    cr_expect_eq(query(file, "SELECT count(*) FROM kernels"), PLANS);

    const char *dst = tu_fresh_cache();
    cr_assert_eq(cli(out, sizeof out, "import %s", file), 0, "%s", out);
    cr_expect(strstr(out, "6 kernels: 6 imported, 0 already present, 0 corrupt skipped"), "%s", out);
    cr_assert_eq(cli(out, sizeof out, "import %s", file), 0, "%s", out);
    cr_expect(strstr(out, "0 imported, 6 already present"), "importing twice adds nothing: %s", out);
    brc_jit_stats d = select_manifest(NULL);
    cr_expect_eq(d.compiles, 0u, "100%% hits after import");
    cr_expect_eq(d.disk_hits, (uint64_t)PLANS);
    cr_expect_eq(query(db_of(dst), "SELECT count(*) FROM kernels"), PLANS);
}

Test(cli, export_by_manifest_takes_exactly_its_kernels) {
    const char *dir = tu_fresh_cache();
    char file[300], sub[300];
    snprintf(file, sizeof file, "%s/bundle.db", dir);
    snprintf(sub, sizeof sub, "%s/sub.txt", dir);
    tu_write_file(sub, "cast(from=f32,to=bf16)\nbinary(kind=add,dtype=f16)\n");
    char extra[400];
    snprintf(extra, sizeof extra, "--manifest %s", sub);
    warm_and_export(dir, file, extra);
    cr_expect(strstr(out, ": 4 kernels") && strstr(out, "0 of the manifest's 4 kernels are not in the cache"),
              "two plans on the two archs in the cache: %s", out);
    cr_expect_eq(query(file, "SELECT count(*) FROM kernels WHERE descriptor LIKE 'cast(from=f32,to=bf16%'"), 2);
    cr_expect_eq(query(file, "SELECT count(*) FROM kernels"), 4);
    /* A plan that was never warmed: the bundle is incomplete, and the exit status says so. */
    tu_write_file(sub, "unary(kind=lgamma,dtype=f32)\n");
    cr_expect_eq(cli(out, sizeof out, "export %s --manifest %s --arch sm_90", file, sub), 1, "%s", out);
    cr_expect(strstr(out, "1 of the manifest's 1 kernels are not in the cache"), "%s", out);
}

Test(cli, exported_files_serve_as_read_only_layers, .init = cr_redirect_stderr) {
    char file[300];
    const char *src = tu_fresh_cache();
    snprintf(file, sizeof file, "%s/bundle.db", src);
    warm_and_export(src, file, "");
    cr_assert_eq(chmod(file, 0444), 0);

    /* Through BARACUDA_CACHE_PATH, after a missing file that is skipped with a warning. */
    const char *a = tu_fresh_cache();
    char list[700];
    snprintf(list, sizeof list, "/nonexistent/layer.db:%s", file);
    setenv("BARACUDA_CACHE_PATH", list, 1);
    brc_jit_stats d = select_manifest(NULL);
    unsetenv("BARACUDA_CACHE_PATH");
    cr_expect_eq(d.compiles, 0u, "every kernel came from the layer");
    cr_expect_eq(d.disk_hits, (uint64_t)PLANS);
    cr_expect_eq(query(db_of(a), "SELECT count(*) FROM kernels"), 0, "the user cache was not filled from the layer");

    /* Through the context option. */
    tu_fresh_cache();
    d = select_manifest(file);
    cr_expect_eq(d.compiles, 0u);
    cr_expect_eq(d.disk_hits, (uint64_t)PLANS);
    /* Without a layer: compiles. */
    tu_fresh_cache();
    d = select_manifest(NULL);
    cr_expect_eq(d.compiles, (uint64_t)PLANS);

    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "cache file /nonexistent/layer.db cannot be used"), "%s", buf);
}

Test(cli, corrupt_layer_row_is_ignored, .init = cr_redirect_stderr) {
    char file[300];
    const char *src = tu_fresh_cache();
    snprintf(file, sizeof file, "%s/bundle.db", src);
    warm_and_export(src, file, "--arch sm_90");
    query(file, "UPDATE kernels SET image = substr(image, 1, 64) || x'00ff00ff' || substr(image, 69) "
                "WHERE descriptor LIKE 'unary(kind=exp%'");
    tu_fresh_cache();
    brc_jit_stats d = select_manifest(file);
    cr_expect_eq(d.compiles, 1u, "the corrupt row is recompiled, never loaded");
    cr_expect_eq(d.disk_hits, (uint64_t)PLANS - 1);
    cr_expect_eq(d.bad_rows, 1u);
    const char *buf = tu_stderr_text();
    cr_expect(strstr(buf, "has a corrupt row; ignored"), "%s", buf);
}

/* ---- several processes, kill -9 ------------------------------------------------------------------ */

Test(cli, four_processes_warming_one_cache_at_once) {
    const char *dir = tu_fresh_cache();
    const char *m = manifest_in(dir);
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "for i in 1 2 3 4; do ( '%s' warm --manifest %s --arch sm_80 > %s/log.$i 2>&1; echo $? > %s/rc.$i ) & "
             "done; wait",
             cli_path(), m, dir, dir);
    cr_assert_eq(system(cmd), 0);
    for (int i = 1; i <= 4; i++) {
        char p[512], buf[64] = "";
        snprintf(p, sizeof p, "%s/rc.%d", dir, i);
        FILE *f = fopen(p, "r");
        cr_assert(f);
        cr_expect(fgets(buf, sizeof buf, f) && atoi(buf) == 0, "process %d exit %s", i, buf);
        fclose(f);
    }
    cr_expect_eq(query(db_of(dir), "SELECT count(*) FROM kernels"), PLANS, "one row per kernel");
    cr_expect_eq(query(db_of(dir), "SELECT count(DISTINCT key) FROM kernels"), PLANS);
    cr_expect_eq(cli(out, sizeof out, "verify"), 0, "%s", out);
    cr_expect(strstr(out, "6 kernels: 6 ok") && strstr(out, "integrity ok"), "%s", out);
}

Test(cli, kill_9_during_warm_leaves_a_cache_that_verifies, .timeout = 300) {
    static const char big[] = "unary(kind=exp,dtype=f32)\nunary(kind=log,dtype=f16)\nunary(kind=sin,dtype=bf16)\n"
                              "unary(kind=erf,dtype=f32)\nunary(kind=tanh,dtype=f16)\nunary(kind=silu,dtype=bf16)\n"
                              "binary(kind=pow,dtype=f32)\nbinary(kind=atan2,dtype=f16)\nbinary(kind=mul,dtype=bf16)\n"
                              "cast(from=f32,to=fp8e4m3)\ncast(from=bf16,to=fp8e5m2)\ncast(from=f16,to=bf16)\n"
                              "unary(kind=cos,dtype=f32)\nunary(kind=expm1,dtype=f16)\nunary(kind=sigmoid,dtype=bf16)\n"
                              "binary(kind=sub,dtype=f32)\nbinary(kind=div,dtype=f16)\nbinary(kind=maximum,dtype=bf16)\n";
    uint64_t seed = (uint64_t)time(NULL);
    int interrupted = 0;
    for (int trial = 0; trial < 5; trial++) {
        const char *dir = tu_fresh_cache();
        char m[512];
        snprintf(m, sizeof m, "%s/big.txt", dir);
        tu_write_file(m, big);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            execl(cli_path(), "baracuda", "warm", "--manifest", m, "--arch", "sm_86", "-j", "2", (char *)NULL);
            _exit(127);
        }
        /* 30 to 450 ms: a warm of these 18 kernels takes longer than that, so most kills land
         * in the middle of it (and the test checks that at least one did). */
        useconds_t delay = (useconds_t)(30000 + tu_rand(&seed) % 420000);
        usleep(delay);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) &&
            (access(db_of(dir), F_OK) != 0 || query(db_of(dir), "SELECT count(*) FROM kernels") < 18))
            interrupted++;
        int rc = cli(out, sizeof out, "verify");
        cr_expect_eq(rc, 0, "trial %d (killed after %u ms): verify: %s", trial, delay / 1000, out);
        cr_expect(strstr(out, "integrity ok"), "%s", out);
        /* The interrupted warm resumes: the rest compiles, then nothing does. */
        cr_expect_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_86", m), 0, "%s", out);
        cr_expect(strstr(out, "0 failed"), "%s", out);
        cr_expect_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_86", m), 0, "%s", out);
        cr_expect(strstr(out, "18 plans: 0 compiled, 18 already cached"), "%s", out);
    }
    cr_expect_gt(interrupted, 0, "at least one warm was killed before it finished");
}

/* ---- maintenance and exit codes ---------------------------------------------------------------- */

Test(cli, verify_finds_corrupt_rows_and_repair_removes_them) {
    const char *dir = tu_fresh_cache();
    const char *m = manifest_in(dir);
    cr_assert_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_90", m), 0, "%s", out);
    query(db_of(dir), "UPDATE kernels SET image = substr(image, 1, 100) || x'deadbeef' || substr(image, 105) "
                      "WHERE descriptor LIKE 'cast%'");
    query(db_of(dir), "UPDATE kernels SET lowered = 'no_such_kernel', "
                      "checksum = checksum WHERE descriptor LIKE 'binary(kind=add%'");
    cr_expect_eq(cli(out, sizeof out, "verify"), 1, "%s", out);
    cr_expect(strstr(out, "cast(from=f32,to=bf16,layout=contig) (sm_90): checksum mismatch"), "%s", out);
    cr_expect(strstr(out, "binary(kind=add,dtype=f16,layout=contig) (sm_90): not a cubin holding its kernel"), "%s",
              out);
    cr_expect(strstr(out, "6 kernels: 4 ok, 1 checksum mismatches, 1 bad cubins"), "%s", out);
    cr_expect_eq(cli(out, sizeof out, "verify --json"), 1, "%s", out);
    cr_expect(strstr(out, "\"checksum_mismatch\": 1") && strstr(out, "\"ok\": false"), "%s", out);
    cr_expect_eq(cli(out, sizeof out, "verify --repair"), 0, "%s", out);
    cr_expect_eq(cli(out, sizeof out, "verify"), 0, "%s", out);
    cr_expect(strstr(out, "4 kernels: 4 ok"), "%s", out);
}

Test(cli, prune_and_clear) {
    const char *dir = tu_fresh_cache();
    const char *m = manifest_in(dir);
    cr_assert_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_90", m), 0, "%s", out);
    query(db_of(dir), "UPDATE kernels SET last_used = last_used - 40 * 86400 WHERE template = 'elementwise' AND "
                      "descriptor LIKE 'unary%'");
    query(db_of(dir), "UPDATE kernels SET toolchain = 'nvrtc:old;nvjitlink:old' WHERE descriptor LIKE 'cast%'");
    cr_assert_eq(cli(out, sizeof out, "prune --older-than 30d"), 0, "%s", out);
    cr_expect(strstr(out, "removed 2 kernels") && strstr(out, "4 kernels left"), "%s", out);
    cr_assert_eq(cli(out, sizeof out, "prune --other-toolchains"), 0, "%s", out);
    cr_expect(strstr(out, "removed 1 kernels") && strstr(out, "3 kernels left"), "%s", out);
    int64_t total = query(db_of(dir), "SELECT sum(size) FROM kernels");
    int64_t smallest = query(db_of(dir), "SELECT min(size) FROM kernels");
    /* Keep the most recently used: make one row the newest, then cap just above it. */
    query(db_of(dir), "UPDATE kernels SET last_used = last_used + 1000 WHERE size = (SELECT min(size) FROM kernels)");
    cr_assert_eq(cli(out, sizeof out, "prune --max-size %lld", (long long)smallest + 1), 0, "%s", out);
    cr_expect(strstr(out, "removed 2 kernels") && strstr(out, "1 kernels left"), "total was %lld: %s", (long long)total,
              out);
    cr_expect_eq(query(db_of(dir), "SELECT size FROM kernels"), smallest, "the most recently used stayed");
    cr_assert_eq(cli(out, sizeof out, "clear"), 0, "%s", out);
    cr_assert_eq(cli(out, sizeof out, "stats --json"), 0, "%s", out);
    cr_expect(strstr(out, "\"entries\": 0,"), "%s", out);
}

Test(cli, bad_usage_and_bad_input_exit_2_no_cache_exits_3) {
    const char *dir = tu_fresh_cache();
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    tu_write_file(bad, "unary(kind=exp,dtype=f32)\n\nbinary(kind=add dtype=f32)\n");
    cr_expect_eq(cli(out, sizeof out, "frobnicate"), 2);
    cr_expect(strstr(out, "usage: baracuda"), "%s", out);
    cr_expect_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_90", bad), 2);
    cr_expect(strstr(out, "bad.txt:3:17: expected ',' or ')'"), "%s", out);
    cr_expect_eq(cli(out, sizeof out, "warm --arch sm_7x"), 2);
    cr_expect(strstr(out, "'sm_7x' is not an arch"), "%s", out);
    cr_expect_eq(cli(out, sizeof out, "warm --arch sm_90 -j 0"), 2);
    cr_expect_eq(cli(out, sizeof out, "prune"), 2);
    cr_expect_eq(cli(out, sizeof out, "prune --max-size lots"), 2);
    cr_expect_eq(cli(out, sizeof out, "prune --older-than 3 days"), 2);
    cr_expect_eq(cli(out, sizeof out, "import %s/nonexistent.db", dir), 2);
    cr_expect_eq(cli(out, sizeof out, "import %s", bad), 2, "a text file is not a cache: %s", out);
    cr_expect_eq(cli(out, sizeof out, "export"), 2);
    setenv("BARACUDA_CACHE_DISABLE", "1", 1);
    cr_expect_eq(cli(out, sizeof out, "ls"), 3);
    cr_expect(strstr(out, "no usable cache"), "%s", out);
    cr_expect_eq(cli(out, sizeof out, "stats --json"), 3);
    unsetenv("BARACUDA_CACHE_DISABLE");
    cr_expect_eq(cli(out, sizeof out, "ops"), 0);
    cr_expect_eq(cli(out, sizeof out, "info --json"), 0, "%s", out);
    cr_expect(strstr(out, "\"nvrtc\": \"13.") && strstr(out, "\"cache\": "), "%s", out);
}

/* With a GPU: verify loads each kernel of the GPU's arch; a cubin filed under the wrong arch
 * passes its checksum and ELF checks but does not load, and verify says so. */
Test(cli, verify_loads_kernels_on_the_gpu_present) {
    const char *dir = tu_fresh_cache();
    brc_context *dev = NULL;
    brc_context_opts o = BRC_CONTEXT_OPTS_INIT;
    if (brc_context_create(&o, &dev) != BRC_STATUS_OK) cr_skip_test("no GPU here (%s): GPU check skipped", brc_last_error());
    char arch[16], other[16];
    snprintf(arch, sizeof arch, "%s", brc_context_arch(dev));
    snprintf(other, sizeof other, "%s", strcmp(arch, "sm_80") == 0 ? "sm_90" : "sm_80");
    brc_context_destroy(dev);
    const char *m = manifest_in(dir);
    cr_assert_eq(cli(out, sizeof out, "warm --manifest %s --arch %s,%s", m, arch, other), 0, "%s", out);
    cr_assert_eq(cli(out, sizeof out, "verify"), 0, "%s", out);
    cr_expect(strstr(out, "12 kernels: 12 ok") && strstr(out, "6 loaded on a GPU here"), "%s", out);
    char q[300];
    snprintf(q, sizeof q, "UPDATE kernels SET arch = '%s' WHERE arch = '%s' AND descriptor LIKE 'cast%%'", arch, other);
    char del[300];
    snprintf(del, sizeof del, "DELETE FROM kernels WHERE arch = '%s' AND descriptor LIKE 'cast%%'", arch);
    query(db_of(dir), del);
    query(db_of(dir), q);
    cr_expect_eq(cli(out, sizeof out, "verify"), 1, "%s", out);
    cr_expect(strstr(out, "does not load on the GPU") && strstr(out, "1 unloadable"), "%s", out);
}

/* Every arch of the list compiles with no GPU; failing lines are reported one by one,
 * each with its own message, and do not stop the others. */
Test(cli, warm_every_listed_arch_and_report_each_failure) {
    const char *dir = tu_fresh_cache();
    char m[512];
    snprintf(m, sizeof m, "%s/m.txt", dir);
    tu_write_file(m, "nosuch(a=b)\nunary(kind=exp,dtype=bf16)\nunary(kind=exp,dtype=i8)\n");
    cr_expect_eq(cli(out, sizeof out, "warm --manifest %s --arch sm_80,sm_86,sm_89,sm_90,sm_90a,sm_100,sm_120", m), 1,
                 "%s", out);
    static const char *const archs[] = {"sm_80", "sm_86", "sm_89", "sm_90", "sm_90a", "sm_100", "sm_120"};
    for (int i = 0; i < 7; i++) {
        char want[700];
        snprintf(want, sizeof want, "warm %s: 3 plans: 1 compiled, 0 already cached, 2 failed", archs[i]);
        cr_expect(strstr(out, want), "%s in: %s", want, out);
        snprintf(want, sizeof want, "warm %s: %s:1: column 1: unknown plan family 'nosuch'\n", archs[i], m);
        cr_expect(strstr(out, want), "%s in: %s", want, out);
        snprintf(want, sizeof want, "warm %s: %s:3: column 1: unary(kind=exp): dtype i8 is not supported\n", archs[i], m);
        cr_expect(strstr(out, want), "%s in: %s", want, out);
    }
    cr_expect_eq(query(db_of(dir), "SELECT count(DISTINCT arch) FROM kernels"), 7);
}
