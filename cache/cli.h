/* Shared pieces of the `baracuda` command-line tool (cli.c: info, warm, ops; cli_cache.c: the
 * cache maintenance commands). Exit codes are documented in docs/cli.md. */
#ifndef BRC_CLI_H
#define BRC_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "internal.h"

enum {
    CLI_OK = 0,       /* success */
    CLI_FAILED = 1,   /* the command ran but some of its work failed (a kernel, a row) */
    CLI_USAGE = 2,    /* bad usage or bad input (unknown option, unreadable manifest, bad arch) */
    CLI_NO_CACHE = 3  /* the cache is disabled or cannot be opened */
};

int cli_usage(void);
double cli_now_ms(void);
/* Writes s as a JSON string literal (quotes included). */
void cli_json_str(FILE *f, const char *s);
/* Splits a ','-separated arch list, checking each ("sm_90", "sm_90a"). Returns the count (0 on
 * a bad entry, with a message on stderr). */
int cli_arch_list(const char *list, char out[][16], int cap);
/* Reads path, or the built-in default when path is NULL; prints the error on failure. */
bool cli_manifest(const char *path, brc__manifest *m);

/* The distinct archs of the GPUs present, each with a device context (destroyed by the caller). */
int cli_present_archs(char archs[][16], brc_context **ctxs, int cap);

int cmd_ls(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_clear(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);

#endif
