/* Plan descriptors as text: the parser ("family(key=value,...)"), the accessors the families use
 * to rebuild a plan from one, manifests (one descriptor per line), BARACUDA_RECORD, and the
 * public warm entry points. Grammar and rules: docs/manifest-format.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ---- the families that can be rebuilt from a descriptor ---------------------------------------- */

static const struct {
    const char *family;
    brc__from_desc_fn make;
} families[] = {
    {"unary", brc__ew_from_desc},
    {"binary", brc__ew_from_desc},
    {"ternary", brc__ew_from_desc},
    {"cast", brc__ew_from_desc},
    {"softmax", brc__rows_from_desc},
    {"log_softmax", brc__rows_from_desc},
    {"rms_norm", brc__rows_from_desc},
    {"layer_norm", brc__rows_from_desc},
    {"group_norm", brc__cnorm_from_desc},
    {"batch_norm", brc__cnorm_from_desc},
    {"cross_entropy", brc__loss_from_desc},
    {"nll_loss", brc__loss_from_desc},
    {"mse_loss", brc__loss_from_desc},
    {"l1_loss", brc__loss_from_desc},
    {"smooth_l1_loss", brc__loss_from_desc},
    {"huber_loss", brc__loss_from_desc},
    {"bce_loss", brc__loss_from_desc},
    {"bce_with_logits_loss", brc__loss_from_desc},
    {"kl_div", brc__loss_from_desc},
    {"reduce", brc__reduce_from_desc},
    {"scan", brc__scan_from_desc},
    {"gemm", brc__gemm_from_desc},
    {"copy", brc__move_from_desc},
    {"concat", brc__move_from_desc},
    {"split", brc__move_from_desc},
    {"slice", brc__move_from_desc},
    {"write_slice", brc__move_from_desc},
    {"fill", brc__fill_from_desc},
    {"pad", brc__pad_from_desc},
    {"random", brc__random_from_desc},
    {"attention", brc__attention_from_desc},
    {"index", brc__index_from_desc},
    {"select", brc__select_from_desc},
    {"sort", brc__sort_from_desc},
    {"search", brc__search_from_desc},
};

/* ---- parsing one descriptor --------------------------------------------------------------------- */

static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_name(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
static bool is_value(char c) {
    return is_name(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '+';
}
static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static brc_status parse_fail(brc__desc *d, const char *s, const char *at, const char *what) {
    d->err_col = (int)(at - s) + 1;
    if (*at == '\0') return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s, found the end of the line", what);
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s, found '%c'", what, *at);
}

/* Copies the token [b, e) into out (cap bytes); false if it does not fit. */
static bool take(char *out, size_t cap, const char *b, const char *e) {
    if ((size_t)(e - b) >= cap) return false;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
    return true;
}

brc_status brc__desc_parse(const char *s, brc__desc *d) {
    memset(d, 0, sizeof *d);
    const char *p = s;
    while (is_blank(*p)) p++;
    if (!is_name_start(*p)) return parse_fail(d, s, p, "expected a family name (lowercase)");
    const char *b = p;
    while (is_name(*p)) p++;
    d->family_col = (int)(b - s) + 1;
    if (!take(d->family, sizeof d->family, b, p)) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "family name too long");
    }
    while (is_blank(*p)) p++;
    if (*p != '(') return parse_fail(d, s, p, "expected '(' after the family name");
    p++;
    while (is_blank(*p)) p++;
    if (*p != ')') {
        for (;;) {
            while (is_blank(*p)) p++;
            if (!is_name_start(*p)) return parse_fail(d, s, p, "expected a key (lowercase)");
            if (d->nkv == BRC__DESC_MAX_KV) {
                d->err_col = (int)(p - s) + 1;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "more than %d keys", BRC__DESC_MAX_KV);
            }
            brc__desc_kv *kv = &d->kv[d->nkv];
            b = p;
            while (is_name(*p)) p++;
            kv->key_col = (int)(b - s) + 1;
            if (!take(kv->key, sizeof kv->key, b, p)) {
                d->err_col = kv->key_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "key too long");
            }
            for (int i = 0; i < d->nkv; i++)
                if (strcmp(d->kv[i].key, kv->key) == 0) {
                    d->err_col = kv->key_col;
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "key '%s' given twice", kv->key);
                }
            while (is_blank(*p)) p++;
            if (*p != '=') return parse_fail(d, s, p, "expected '=' after the key");
            p++;
            while (is_blank(*p)) p++;
            b = p;
            while (is_value(*p)) p++;
            kv->val_col = (int)(b - s) + 1;
            if (p == b) return parse_fail(d, s, p, "expected a value");
            if (!take(kv->val, sizeof kv->val, b, p)) {
                d->err_col = kv->val_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "value too long");
            }
            d->nkv++;
            while (is_blank(*p)) p++;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == ')') break;
            return parse_fail(d, s, p, "expected ',' or ')'");
        }
    }
    p++; /* ')' */
    while (is_blank(*p)) p++;
    if (*p != '\0') return parse_fail(d, s, p, "expected the end of the descriptor");
    return BRC_STATUS_OK;
}

/* ---- accessors ------------------------------------------------------------------------------------- */

static brc__desc_kv *find(brc__desc *d, const char *key) {
    for (int i = 0; i < d->nkv; i++)
        if (strcmp(d->kv[i].key, key) == 0) {
            d->kv[i].used = true;
            return &d->kv[i];
        }
    return NULL;
}

const char *brc__desc_get(brc__desc *d, const char *key) {
    brc__desc_kv *kv = find(d, key);
    return kv ? kv->val : NULL;
}

brc_status brc__desc_need(brc__desc *d, const char *key, const char **val) {
    brc__desc_kv *kv = find(d, key);
    *val = kv ? kv->val : NULL;
    if (kv) return BRC_STATUS_OK;
    d->err_col = d->family_col;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s needs a '%s' key", d->family, key);
}

static brc_status bad_value(brc__desc *d, const brc__desc_kv *kv, brc_status s, const char *what) {
    d->err_col = kv->val_col;
    return brc__error(s, "%s: '%s' is not %s", kv->key, kv->val, what);
}

brc_status brc__desc_int(brc__desc *d, const char *key, int64_t lo, int64_t hi, int64_t dflt,
                         int64_t *out) {
    brc__desc_kv *kv = find(d, key);
    *out = dflt;
    if (!kv) return BRC_STATUS_OK;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(kv->val, &end, 10);
    if (errno || !end || *end || end == kv->val) return bad_value(d, kv, BRC_STATUS_INVALID_ARGUMENT, "an integer");
    if (v < lo || v > hi) {
        d->err_col = kv->val_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %lld is outside [%lld, %lld]", key, v, (long long)lo,
                          (long long)hi);
    }
    *out = v;
    return BRC_STATUS_OK;
}

brc_status brc__desc_dtype(brc__desc *d, const char *key, brc_dtype *out) {
    const char *v;
    brc_status st = brc__desc_need(d, key, &v);
    if (st) return st;
    for (int t = 0; t < BRC_DTYPE_COUNT_; t++)
        if (strcmp(brc_dtype_name((brc_dtype)t), v) == 0) {
            *out = (brc_dtype)t;
            return BRC_STATUS_OK;
        }
    return bad_value(d, find(d, key), BRC_STATUS_INVALID_ARGUMENT, "a dtype (f32, bf16, i64, ...)");
}

brc_status brc__desc_pick(brc__desc *d, const char *key, const char *const *names, int n, int dflt,
                          int *out) {
    brc__desc_kv *kv = find(d, key);
    *out = dflt;
    if (!kv) {
        if (dflt >= 0) return BRC_STATUS_OK;
        const char *unused;
        return brc__desc_need(d, key, &unused);
    }
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], kv->val) == 0) {
            *out = i;
            return BRC_STATUS_OK;
        }
    char what[256] = "one of";
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(what) + strlen(names[i]) + 3 < sizeof what) {
            strcat(what, i ? ", " : " ");
            strcat(what, names[i]);
        }
    return bad_value(d, kv, BRC_STATUS_INVALID_ARGUMENT, what);
}

brc_status brc__desc_done(brc__desc *d) {
    for (int i = 0; i < d->nkv; i++)
        if (!d->kv[i].used) {
            d->err_col = d->kv[i].key_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "unknown key '%s' for %s", d->kv[i].key, d->family);
        }
    return BRC_STATUS_OK;
}

/* ---- descriptor -> plan ------------------------------------------------------------------------- */

/* Does the plan's canonical descriptor carry key=value? (The canonical string may add keys the
 * text left at their defaults, and orders them its own way.) */
static bool has_pair(const char *canon, const brc__desc_kv *kv) {
    char want[140];
    snprintf(want, sizeof want, "%s=%s", kv->key, kv->val);
    size_t n = strlen(want);
    for (const char *p = strstr(canon, want); p; p = strstr(p + 1, want))
        if (p > canon && (p[-1] == '(' || p[-1] == ',') && (p[n] == ',' || p[n] == ')')) return true;
    return false;
}

/* Prefixes the current message with the column. */
static brc_status at_column(brc_status st, int col) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", brc_last_error());
    brc__error_clear();
    return brc__error(st, "column %d: %s", col > 0 ? col : 1, msg);
}

static brc_status from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (strcmp(families[i].family, d->family) != 0) continue;
        brc_status st = families[i].make(ctx, d, out);
        if (st == BRC_STATUS_OK && (st = brc__desc_done(d)) != BRC_STATUS_OK) {
            brc_plan_destroy(*out);
            *out = NULL;
        }
        if (st) return st;
        for (int k = 0; k < d->nkv; k++)
            if (!has_pair((*out)->descriptor, &d->kv[k])) {
                d->err_col = d->kv[k].key_col;
                st = brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s=%s does not hold for the plan it makes, %s",
                                d->kv[k].key, d->kv[k].val, (*out)->descriptor);
                brc_plan_destroy(*out);
                *out = NULL;
                return st;
            }
        return BRC_STATUS_OK;
    }
    d->err_col = d->family_col;
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "unknown plan family '%s'", d->family);
}

brc_status brc__plan_from_descriptor(brc_context *ctx, const char *text, brc_plan **out) {
    brc__error_clear(); /* each descriptor's message stands alone */
    *out = NULL;
    brc__desc d;
    brc_status st = brc__desc_parse(text, &d);
    if (st == BRC_STATUS_OK) st = from_desc(ctx, &d, out);
    return st ? at_column(st, d.err_col) : BRC_STATUS_OK;
}

brc_status brc_warm(brc_context *ctx, const char *descriptor) {
    brc__error_clear();
    if (!ctx || !descriptor)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_warm: %s is NULL", ctx ? "descriptor" : "ctx");
    brc_plan *p = NULL;
    brc_status st = brc__plan_from_descriptor(ctx, descriptor, &p);
    brc_plan_destroy(p);
    return st;
}

/* ---- manifests ------------------------------------------------------------------------------------ */

void brc__manifest_free(brc__manifest *m) {
    for (size_t i = 0; i < m->n; i++) free(m->lines[i].text);
    free(m->lines);
    memset(m, 0, sizeof *m);
}

brc_status brc__manifest_parse(const char *text, const char *name, brc__manifest *m) {
    memset(m, 0, sizeof *m);
    size_t cap = 0;
    int lineno = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        char *line = strndup(p, len);
        if (!line) goto oom;
        p += len + (nl ? 1 : 0);
        /* Strip a comment, a carriage return and trailing blanks. */
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) line[--n] = '\0';
        const char *s = line;
        while (is_blank(*s)) s++;
        if (!*s) {
            free(line);
            continue;
        }
        brc__desc d;
        if (brc__desc_parse(line, &d) != BRC_STATUS_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", brc_last_error());
            brc__error_clear();
            brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s:%d:%d: %s", name, lineno, d.err_col, msg);
            free(line);
            brc__manifest_free(m);
            return BRC_STATUS_INVALID_ARGUMENT;
        }
        if (m->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            brc__manifest_line *nl2 = realloc(m->lines, nc * sizeof *nl2);
            if (!nl2) {
                free(line);
                goto oom;
            }
            m->lines = nl2;
            cap = nc;
        }
        memmove(line, s, strlen(s) + 1);
        m->lines[m->n++] = (brc__manifest_line){line, lineno};
    }
    return BRC_STATUS_OK;
oom:
    brc__manifest_free(m);
    return brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", name);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    brc__str s = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) brc__str_add(&s, buf, n);
    bool err = ferror(f);
    fclose(f);
    if (err || s.oom) {
        brc__str_free(&s);
        return NULL;
    }
    if (!s.p) s.p = strdup("");
    if (len) *len = s.len;
    return s.p;
}

brc_status brc__manifest_read(const char *path, brc__manifest *m) {
    memset(m, 0, sizeof *m);
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: cannot read (%s)", path, strerror(errno));
    if (strlen(text) != len) {
        free(text);
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: not a text file (contains a NUL byte)", path);
    }
    brc_status st = brc__manifest_parse(text, path, m);
    free(text);
    return st;
}

brc_status brc_warm_manifest(brc_context *ctx, const char *path) {
    brc__error_clear();
    if (!ctx || !path)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_warm_manifest: %s is NULL", ctx ? "path" : "ctx");
    brc__manifest m;
    brc_status st = brc__manifest_read(path, &m);
    if (st) return st;
    brc_status first = BRC_STATUS_OK;
    char first_msg[1024] = "";
    for (size_t i = 0; i < m.n; i++) {
        brc__error_clear();
        brc_plan *p = NULL;
        st = brc__plan_from_descriptor(ctx, m.lines[i].text, &p);
        brc_plan_destroy(p);
        if (st && !first) {
            first = st;
            snprintf(first_msg, sizeof first_msg, "%s:%d: %s", path, m.lines[i].line, brc_last_error());
        }
    }
    brc__manifest_free(&m);
    brc__error_clear();
    return first ? brc__error(first, "%s", first_msg) : BRC_STATUS_OK;
}

/* ---- the built-in default manifest (`baracuda warm` without --manifest) --------------------------- */

brc_status brc__manifest_default(brc__manifest *m) {
    static const brc_dtype floats[] = {BRC_F32, BRC_F16, BRC_BF16};
    static const brc_dtype casts[] = {BRC_F32, BRC_F16, BRC_BF16, BRC_FP8E4M3, BRC_FP8E5M2};
    brc__str s = {0};
    brc__str_addf(&s, "# built-in default manifest\n");
    for (size_t t = 0; t < 3; t++) {
        const char *dt = brc_dtype_name(floats[t]);
        unsigned cls = brc__dtype_class(floats[t]);
#define X(N, n, num, c, dom, a, b, dev, ref) \
    if ((c) & cls) brc__str_addf(&s, "unary(kind=%s,dtype=%s,layout=contig)\n", #n, dt);
        BRC_UNARY_KINDS(X)
#undef X
#define X(N, n, num, c, cmp, dom, dev, ref) \
    if ((c) & cls) brc__str_addf(&s, "binary(kind=%s,dtype=%s,layout=contig)\n", #n, dt);
        BRC_BINARY_KINDS(X)
#undef X
    }
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 5; j++)
            if (i != j)
                brc__str_addf(&s, "cast(from=%s,to=%s,layout=contig)\n", brc_dtype_name(casts[i]),
                              brc_dtype_name(casts[j]));
    /* Channel norms: the common diffusion / ResNet shapes, f32 and bf16. */
    for (size_t t = 0; t < 3; t += 2) {
        const char *dt = brc_dtype_name(floats[t]);
        for (int dir = 0; dir < 2; dir++) {
            const char *ds = dir ? "bwd" : "fwd";
            brc__str_addf(&s, "group_norm(dtype=%s,channels=512,groups=32,spatial=4096,weight=1,bias=1,dir=%s)\n", dt,
                          ds);
            brc__str_addf(&s, "batch_norm(dtype=%s,channels=256,spatial=3136,mode=train,weight=1,bias=1%s,dir=%s)\n",
                          dt, dir ? "" : ",running=1", ds);
        }
        brc__str_addf(&s, "batch_norm(dtype=%s,channels=256,spatial=3136,mode=eval,weight=1,bias=1,dir=fwd)\n", dt);
    }
    /* Losses: cross_entropy (index targets, mean) at two vocabulary sizes, both directions. */
    for (size_t t = 0; t < 3; t += 2)
        for (int dir = 0; dir < 2; dir++)
            for (int c = 0; c < 2; c++)
                brc__str_addf(&s, "cross_entropy(dtype=%s,classes=%d,target=i64,weight=0,smoothing=0,reduction=mean,"
                              "dir=%s)\n", brc_dtype_name(floats[t]), c ? 32768 : 4096, dir ? "bwd" : "fwd");
    /* Reductions: kernels are specialized to sizes, so a few common shapes (rows of 4096, both
     * layouts) in f32 and bf16. */
    static const char *const red_ops[] = {"op=sum", "op=mean", "op=max", "op=argmax", "op=var", "op=logsumexp"};
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof red_ops / sizeof red_ops[0]; i++) {
            const char *dt = t ? "bf16" : "f32";
            const char *extra = strcmp(red_ops[i], "op=max") == 0   ? ",index=0"
                                : strcmp(red_ops[i], "op=var") == 0 ? ",correction=1"
                                                                    : "";
            brc__str_addf(&s, "reduce(%s,dtype=%s,shape=32768x4096,axes=1%s)\n", red_ops[i], dt, extra);
            if (i == 0) brc__str_addf(&s, "reduce(%s,dtype=%s,shape=32768x4096,axes=0)\n", red_ops[i], dt);
        }
    /* Scans: the rows layout at the two most common row lengths and the cols layout, f32 and
     * bf16, for every kind forward, and cumsum backward. */
    static const char *const scan_kinds[] = {"cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"};
    for (size_t t = 0; t < 3; t += 2) {
        const char *dt = brc_dtype_name(floats[t]);
        for (size_t k = 0; k < 5; k++) {
            brc__str_addf(&s, "scan(op=%s,dtype=%s,inner=1,len=4096,reverse=0,split=0,dir=fwd)\n", scan_kinds[k], dt);
            brc__str_addf(&s, "scan(op=%s,dtype=%s,inner=0,vec=%d,reverse=0,split=0,dir=fwd)\n", scan_kinds[k], dt,
                          (int)(16 / brc_dtype_size(floats[t])));
        }
        brc__str_addf(&s, "scan(op=cumsum,dtype=%s,inner=1,len=4096,reverse=0,split=0,dir=bwd)\n", dt);
    }
    /* Movement: contiguous copies, rows with vectors (both for small copies too: unroll=1) and the
     * tiled transpose by element size, concat / split of a few tensors, zero fills and aranges. */
    for (int b = 1; b <= 8; b *= 2) {
        for (int u = 0; u < 2; u++) {
            brc__str_addf(&s, "copy(bytes=%d,rank=1,vec=%d,index=32%s)\n", b, 16 / b, u ? ",unroll=1" : "");
            brc__str_addf(&s, "copy(bytes=%d,rank=2,vec=%d,index=32%s)\n", b, 16 / b, u ? ",unroll=1" : "");
        }
        brc__str_addf(&s, "copy(bytes=%d,rank=2,tile=1)\n", b);
        brc__str_addf(&s, "copy(bytes=%d,rank=3,tile=1)\n", b);
        if (b >= 2) brc__str_addf(&s, "copy(bytes=%d,rank=2,tile=2)\n", b);
        if (b == 2) brc__str_addf(&s, "copy(bytes=2,rank=2,tile=4)\n");
    }
    for (int b = 2; b <= 4; b *= 2)
        for (int n = 2; n <= 4; n++) {
            for (int u = 0; u < 2; u++) {
                brc__str_addf(&s, "concat(bytes=%d,pieces=%d,rank=2,vec=%d,index=32%s)\n", b, n, 16 / b,
                              u ? ",unroll=1" : "");
                brc__str_addf(&s, "split(bytes=%d,pieces=%d,rank=2,vec=%d,index=32%s)\n", b, n, 16 / b,
                              u ? ",unroll=1" : "");
            }
        }
    for (size_t t = 0; t < 3; t++)
        brc__str_addf(&s, "fill(kind=fill,dtype=%s,rank=1,vec=%d)\n", brc_dtype_name(floats[t]),
                      (int)(16 / brc_dtype_size(floats[t])));
    brc__str_addf(&s, "fill(kind=arange,dtype=i64,rank=1,vec=2)\nfill(kind=arange,dtype=f32,rank=1,vec=4)\n");
    /* Random: the draws and dropout (both directions) in f32 and bf16, contiguous. */
    static const char *const rnd_ops[] = {"uniform", "normal", "dropout", "dropout_backward"};
    for (size_t t = 0; t < 3; t += 2)
        for (size_t k = 0; k < 4; k++)
            brc__str_addf(&s, "random(op=%s,dtype=%s,layout=contig)\n", rnd_ops[k], brc_dtype_name(floats[t]));
    brc__str_addf(&s, "random(op=bernoulli,dtype=f32,p=scalar,layout=contig)\n");
    /* Indexing: embedding / index_select of rows of 4096 (i64 indices; a quarter of the row's
     * vectors as threads), the embedding backward (deterministic), a generic gather and the band gather
     * (along dim 0 of a matrix). */
    for (size_t t = 0; t < 3; t += 2) {
        const char *dt = brc_dtype_name(floats[t]);
        int vec = (int)(16 / brc_dtype_size(floats[t])), tpr = 4096 / vec / 4;
        brc__str_addf(&s, "index(op=embedding,dtype=%s,index=i64,layout=rows,vec=%d,tpr=%d)\n", dt, vec, tpr);
        brc__str_addf(&s, "index(op=index_select,dtype=%s,index=i64,layout=rows,vec=%d,tpr=%d)\n", dt, vec, tpr);
        brc__str_addf(&s, "index(op=embedding_backward,dtype=%s,index=i64,atomic=0)\n", dt);
        brc__str_addf(&s, "index(op=gather,dtype=%s,index=i64,layout=generic,ix=32)\n", dt);
        brc__str_addf(&s, "index(op=gather,dtype=%s,index=i64,layout=band)\n", dt);
    }
    /* Select: topk (largest, sorted) and kthvalue in f32 and bf16 with i64 indices. */
    for (size_t t = 0; t < 3; t += 2) {
        const char *dt = brc_dtype_name(floats[t]);
        brc__str_addf(&s, "select(op=topk,dtype=%s,index=i64,largest=1,sorted=1)\n", dt);
        brc__str_addf(&s, "select(op=kthvalue,dtype=%s,index=i64)\n", dt);
    }
    /* Sort: rows of 1024 (a warp a row, in registers) and the radix sort (the pass variants for many
     * and for few tiles), ascending, f32 and bf16; randperm. */
    for (size_t t = 0; t < 3; t += 2) {
        const char *dt = brc_dtype_name(floats[t]);
        brc__str_addf(&s, "sort(op=sort,dtype=%s,desc=0,path=warp,p=1024)\nsort(op=sort,dtype=%s,desc=0,path=radix)\n",
                      dt, dt);
        brc__str_addf(&s, "sort(op=sort,dtype=%s,desc=0,path=radix,tiles=few)\n", dt);
    }
    brc__str_addf(&s, "sort(op=randperm)\n");
    /* Search and count: searchsorted / bucketize over one f32 sequence, histc and bincount as benchmarked;
     * multinomial with replacement (f32, bf16). */
    brc__str_addf(&s, "search(op=searchsorted,dtype=f32,out=i64,right=0,sorter=none,staged=1)\n"
                      "search(op=bucketize,dtype=f32,out=i64,right=0,staged=1)\n"
                      "search(op=histc,dtype=f32,mode=priv,repl=16,range=given,contig=1)\n"
                      "search(op=bincount,dtype=i32,y=i64,weight=none,mode=priv,repl=8,contig=1)\n"
                      "random(op=multinomial,dtype=f32,out=i64,replacement=1)\n"
                      "random(op=multinomial,dtype=bf16,out=i64,replacement=1)\n");
    if (s.oom) return brc__error(BRC_STATUS_OUT_OF_MEMORY, "default manifest: out of memory");
    brc_status st = brc__manifest_parse(s.p, "(default manifest)", m);
    brc__str_free(&s);
    return st;
}

/* ---- BARACUDA_RECORD ---------------------------------------------------------------------------- */

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *rec_seen; /* hashes of descriptors recorded (or found) by this process */
static size_t rec_n, rec_cap;

static bool seen_locked(uint64_t h) {
    for (size_t i = 0; i < rec_n; i++)
        if (rec_seen[i] == h) return true;
    return false;
}

/* Is line already in the file? Reads it whole: record manifests are small (one line per plan). */
static bool file_has_line(int fd, const char *line) {
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size == 0) return false;
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf) return false;
    ssize_t got = pread(fd, buf, (size_t)sb.st_size, 0);
    bool found = false;
    if (got > 0) {
        buf[got] = '\0';
        size_t n = strlen(line);
        for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
            if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) {
                found = true;
                break;
            }
    }
    free(buf);
    return found;
}

void brc__record(const char *descriptor) {
    const char *path = getenv("BARACUDA_RECORD");
    if (!path || !*path || !descriptor || !*descriptor) return;
    uint64_t h = brc__hash64(descriptor, strlen(descriptor));
    pthread_mutex_lock(&rec_mu);
    if (seen_locked(h)) {
        pthread_mutex_unlock(&rec_mu);
        return;
    }
    if (rec_n == rec_cap) {
        size_t nc = rec_cap ? rec_cap * 2 : 256;
        uint64_t *p = realloc(rec_seen, nc * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&rec_mu);
            return;
        }
        rec_seen = p;
        rec_cap = nc;
    }
    rec_seen[rec_n++] = h;
    /* Several processes may record into one file: an exclusive flock around check-and-append,
     * and each line goes out in one write() on an O_APPEND descriptor. */
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        brc__warn_once("record", "BARACUDA_RECORD: cannot open %s (%s); plans are not recorded", path,
                       strerror(errno));
        pthread_mutex_unlock(&rec_mu);
        return;
    }
    if (flock(fd, LOCK_EX) == 0) {
        if (!file_has_line(fd, descriptor)) {
            brc__str s = {0};
            struct stat sb;
            if (fstat(fd, &sb) == 0 && sb.st_size == 0)
                brc__str_addf(&s, "# baracuda manifest (recorded by BARACUDA_RECORD)\n");
            brc__str_addf(&s, "%s\n", descriptor);
            if (s.oom || write(fd, s.p, s.len) != (ssize_t)s.len)
                brc__warn_once("record-write", "BARACUDA_RECORD: cannot write %s (%s)", path, strerror(errno));
            brc__str_free(&s);
        }
        flock(fd, LOCK_UN);
    } else {
        brc__warn_once("record-lock", "BARACUDA_RECORD: cannot lock %s (%s); plans are not recorded", path,
                       strerror(errno));
    }
    close(fd);
    pthread_mutex_unlock(&rec_mu);
}
