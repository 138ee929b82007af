/* Dtype traits, tensor descriptors and their validation, and the canonical hashing used by
 * cache keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"

size_t brc_dtype_size(brc_dtype t) {
    switch (t) {
#define BRC__X(name, num, str, size)                                                             \
    case BRC_##name:                                                                             \
        return size;
        BRC_DTYPE_LIST(BRC__X)
#undef BRC__X
    case BRC_DTYPE_COUNT_:
        break;
    }
    return 0;
}

const char *brc_dtype_name(brc_dtype t) {
    switch (t) {
#define BRC__X(name, num, str, size)                                                             \
    case BRC_##name:                                                                             \
        return str;
        BRC_DTYPE_LIST(BRC__X)
#undef BRC__X
    case BRC_DTYPE_COUNT_:
        break;
    }
    return "?";
}

int brc_dtype_is_float(brc_dtype t) {
    return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16 || t == BRC_FP8E4M3 ||
           t == BRC_FP8E5M2;
}

int brc_dtype_is_integer(brc_dtype t) {
    return t == BRC_I8 || t == BRC_U8 || t == BRC_I16 || t == BRC_I32 || t == BRC_I64 ||
           t == BRC_U32;
}

brc_status brc_tensor_desc_contiguous(brc_tensor_desc *d, brc_dtype dtype, int32_t rank,
                                      const int64_t *shape) {
    brc__error_clear();
    if (!d) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_tensor_desc_contiguous: d is NULL");
    memset(d, 0, sizeof *d);
    if (rank < 0 || rank > BRC_MAX_RANK)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_tensor_desc_contiguous: rank %d outside 0..%d", (int)rank,
                          BRC_MAX_RANK);
    if (rank > 0 && !shape)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_tensor_desc_contiguous: shape is NULL");
    d->dtype = dtype;
    d->rank = rank;
    int64_t stride = 1;
    for (int i = rank - 1; i >= 0; i--) {
        if (shape[i] < 0)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_tensor_desc_contiguous: shape[%d] = %lld is negative", i,
                              (long long)shape[i]);
        d->shape[i] = shape[i];
        d->strides[i] = stride;
        if (shape[i] > 0 && __builtin_mul_overflow(stride, shape[i], &stride)) stride = INT64_MAX;
    }
    return BRC_STATUS_OK;
}

int64_t brc_tensor_desc_numel(const brc_tensor_desc *d) {
    if (!d || d->rank < 0 || d->rank > BRC_MAX_RANK) return -1;
    int64_t n = 1;
    for (int i = 0; i < d->rank; i++) {
        if (d->shape[i] < 0) return -1;
        if (__builtin_mul_overflow(n, d->shape[i], &n)) return -1;
    }
    return n;
}

brc_status brc__tensor_check(const brc_tensor_desc *d, const char *what) {
    if (d->rank < 0 || d->rank > BRC_MAX_RANK)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: rank %d outside 0..%d", what,
                          (int)d->rank, BRC_MAX_RANK);
    if (brc_dtype_size(d->dtype) == 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: dtype %d is not a dtype", what,
                          (int)d->dtype);
    for (int i = 0; i < d->rank; i++)
        if (d->shape[i] < 0)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: shape[%d] = %lld is negative",
                              what, i, (long long)d->shape[i]);
    if (brc_tensor_desc_numel(d) < 0)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: element count overflows int64", what);
    /* The furthest element reachable must be addressable in bytes. */
    int64_t span = 0, size = (int64_t)brc_dtype_size(d->dtype);
    for (int i = 0; i < d->rank; i++) {
        int64_t s = d->strides[i] < 0 ? -d->strides[i] : d->strides[i], t;
        if (d->shape[i] == 0) return BRC_STATUS_OK;
        if (d->strides[i] == INT64_MIN || __builtin_mul_overflow(s, d->shape[i] - 1, &t) ||
            __builtin_add_overflow(span, t, &span))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: strides overflow int64", what);
    }
    if (__builtin_mul_overflow(span + 1, size, &span))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: byte extent overflows int64", what);
    return BRC_STATUS_OK;
}

/* ---- canonical key records ---------------------------------------------------------------------- */

static void key_put(brc__keybuf *k, const void *p, size_t n) {
    if (k->oom) return;
    if (k->len + n > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 1024;
        while (cap < k->len + n) cap *= 2;
        unsigned char *q = realloc(k->p, cap);
        if (!q) {
            k->oom = true;
            return;
        }
        k->p = q;
        k->cap = cap;
    }
    memcpy(k->p + k->len, p, n);
    k->len += n;
}

static void key_field(brc__keybuf *k, const char *tag, char type, const void *p, uint64_t n) {
    uint64_t tl = strlen(tag);
    key_put(k, &tl, sizeof tl);
    key_put(k, tag, tl);
    key_put(k, &type, 1);
    key_put(k, &n, sizeof n);
    key_put(k, p, n);
}

void brc__key_str(brc__keybuf *k, const char *tag, const char *s) {
    key_field(k, tag, 's', s ? s : "", s ? strlen(s) : 0);
}

void brc__key_i64(brc__keybuf *k, const char *tag, int64_t v) { key_field(k, tag, 'i', &v, sizeof v); }

brc__hash128 brc__key_finish(brc__keybuf *k) {
    brc__hash128 h = brc__hash_bytes(k->p, k->len);
    free(k->p);
    memset(k, 0, sizeof *k);
    return h;
}

brc__hash128 brc__hash_bytes(const void *p, size_t n) {
    XXH128_hash_t x = XXH3_128bits(p, n);
    brc__hash128 h = {x.low64, x.high64};
    return h;
}

uint64_t brc__hash64(const void *p, size_t n) { return XXH3_64bits(p, n); }

void brc__hash_hex(brc__hash128 h, char out[33]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        uint64_t w = i < 8 ? h.hi : h.lo;
        unsigned b = (unsigned)(w >> (8 * (7 - (i % 8)))) & 0xffu;
        out[2 * i] = hex[b >> 4];
        out[2 * i + 1] = hex[b & 15];
    }
    out[32] = '\0';
}

bool brc__same_shape(const brc_tensor_desc *a, const brc_tensor_desc *b) {
    if (a->rank != b->rank) return false;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

bool brc__same_strides(const brc_tensor_desc *a, const brc_tensor_desc *b) {
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] > 1 && a->strides[d] != b->strides[d]) return false;
    return true;
}

bool brc__no_self_overlap(const brc_tensor_desc *t) {
    int64_t st[BRC_MAX_RANK], sz[BRC_MAX_RANK];
    int n = 0;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] == 0) return true;
        if (t->shape[d] == 1) continue;
        st[n] = t->strides[d] < 0 ? -t->strides[d] : t->strides[d];
        sz[n++] = t->shape[d];
    }
    for (int i = 1; i < n; i++) /* insertion sort by |stride| */
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            int64_t a = st[j], b = sz[j];
            st[j] = st[j - 1], sz[j] = sz[j - 1];
            st[j - 1] = a, sz[j - 1] = b;
        }
    int64_t extent = 0;
    for (int i = 0; i < n; i++) {
        if (st[i] <= extent) return false;
        extent += st[i] * (sz[i] - 1);
    }
    return true;
}

brc_status brc__operand_check(const brc_tensor_desc *t, const char *fn, const char *kn, const char *name,
                              bool output) {
    char what[160];
    snprintf(what, sizeof what, "%s: %s: %s", fn, kn, name);
    brc_status st = brc__tensor_check(t, what);
    if (st) return st;
    if (output && !brc__no_self_overlap(t))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s has strides under which its elements overlap", what);
    return BRC_STATUS_OK;
}
