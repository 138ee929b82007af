/* Status codes, the thread-local error message, warnings and the small string builder that
 * the rest of the runtime formats with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "internal.h"

int brc_version(void) { return BRC_VERSION; }

const char *brc_version_string(void) {
#define BRC__S2(x) #x
#define BRC__S(x) BRC__S2(x)
    return BRC__S(BRC_VERSION_MAJOR) "." BRC__S(BRC_VERSION_MINOR) "." BRC__S(BRC_VERSION_PATCH);
#undef BRC__S
#undef BRC__S2
}

const char *brc_status_name(brc_status s) {
    switch (s) {
#define BRC__X(name, num, msg)                                                                   \
    case BRC_STATUS_##name:                                                                      \
        return "BRC_STATUS_" #name;
        BRC_STATUS_LIST(BRC__X)
#undef BRC__X
    }
    return "BRC_STATUS_UNKNOWN";
}

const char *brc_status_string(brc_status s) {
    switch (s) {
#define BRC__X(name, num, msg)                                                                   \
    case BRC_STATUS_##name:                                                                      \
        return msg;
        BRC_STATUS_LIST(BRC__X)
#undef BRC__X
    }
    return "unknown status code";
}

/* The message and the JIT log of the last failure on this thread. The log can be large (a
 * compiler's output), so it is heap-allocated and kept until replaced. */
static _Thread_local char tl_msg[1024];
static _Thread_local char *tl_log;

const char *brc_last_error(void) { return tl_msg; }
const char *brc_last_jit_log(void) { return tl_log ? tl_log : ""; }

void brc__error_clear(void) { tl_msg[0] = '\0'; }

brc_status brc__error(brc_status s, const char *fmt, ...) {
    if (tl_msg[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void brc__error_set_log(const char *log) {
    free(tl_log);
    tl_log = log ? strdup(log) : NULL;
}

static pthread_mutex_t warn_mu = PTHREAD_MUTEX_INITIALIZER;
static char *warned[64];
static size_t nwarned;

void brc__warn_once(const char *tag, const char *fmt, ...) {
    pthread_mutex_lock(&warn_mu);
    for (size_t i = 0; i < nwarned; i++) {
        if (strcmp(warned[i], tag) == 0) {
            pthread_mutex_unlock(&warn_mu);
            return;
        }
    }
    if (nwarned < sizeof warned / sizeof warned[0]) {
        char *t = strdup(tag);
        if (t) warned[nwarned++] = t;
    }
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "baracuda: warning: %s\n", line);
    pthread_mutex_unlock(&warn_mu);
}

void brc__str_add(brc__str *s, const char *text, size_t n) {
    if (s->oom) return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) {
            s->oom = true;
            return;
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, text, n);
    s->len += n;
    s->p[s->len] = '\0';
}

void brc__str_addf(brc__str *s, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        brc__str_add(s, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        s->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    brc__str_add(s, big, (size_t)n);
    free(big);
}

void brc__str_free(brc__str *s) {
    free(s->p);
    memset(s, 0, sizeof *s);
}
