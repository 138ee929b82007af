/* The sort family: sort / argsort along one dim, unique and unique_consecutive. Validates the
 * operands, chooses the path (a warp a row bitonic in registers, bitonic rows in shared memory,
 * or the onesweep radix sort),
 * lays out the workspace, generates the kernels' specialization (kernel_src/sort.cuh) and
 * launches them. Descriptor keys: docs/sort.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_SORT_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

/* Kernels (PH in sort.cuh). */
enum { PH_SMALL, PH_HIST, PH_SCAN, PH_PASS, PH_UCOUNT, PH_UEMIT, PH_UCOUNTS, PH_OSCAN, PH_TIES, PH_WARP, NPH };
enum { PATH_SMALL, PATH_RADIX, PATH_WARP, PATH_NONE };
enum {
    SMALL_MAX = 4096,      /* longest row of the bitonic path (2048 for 8-byte keys: shared memory) */
    SMALL_MIN_E = 2048,    /* keys a CTA of the bitonic path holds at least (several short rows) */
    WARP_MIN_P = 64,       /* warp path: rows padded to 64 .. 1024 keys of up to 4 bytes */
    WARP_MAX_P = 1024,
    WARP_NT = 128,         /* warp path: four rows a CTA */
    WARP_MINB = 4,         /* warp path: CTAs an SM its registers are capped for (128 registers) */
    RADIX_NT = 256,        /* a digit a thread */
    OSCAN_NT = 1024,       /* onesweep scan: four threads a digit sum the chunk counts */
    HIST_KEYS = 1024,      /* the histogram's chunks are multiples of this */
    HIST_PER_SM = 4,       /* the histogram's CTAs an SM (its registers are capped for as many) */
    HIST_SUB = 0,          /* the histogram's counter copies: per pair of warps (0) or per lane & 7 (1) */
    PASS_MINB = 3,         /* onesweep pass: CTAs an SM its registers are capped for */
    FEW_WAVES = 2,         /* onesweep: "few" tiles: at most this many waves of pass CTAs */
    PASS_MATCH = 0,        /* onesweep pass: 8 ballots (0) or match.any (1: measured slower) */
    PASS_TWO = 1,          /* onesweep pass: positions read after the keys are ranked */
    PASS_PREF = 1,         /* onesweep pass: key loads before the trivial-pass flags */
    OSCAN_ZERO_PER_SM = 2, /* onesweep scan: CTAs an SM that zero the first pass's status words */
    SCAN_NT = 256,
    UNIQ_NT = 256,
    UNIQ_ITEMS = 16,
    WS_ALIGN = 256,
    MAX_OTHER = 7
};

/* struct brc::sort_args in sort.cuh: 8-byte fields only. */
typedef struct sort_args {
    const void *x;
    void *vals, *idx, *ws, *inv, *cnts, *num;
    int64_t len, rows, nd, nch, clen, shift, first, last, idx32;
    int64_t kin, kout, iin, iout, cnt, tot, scan_n, ends, consec, flat, xlen;
    int64_t tpr, pass, noskip, toout, kb[2], ib[2], stat[2], ctr, triv, obase;
    const uint64_t *rdev;
    uint64_t seed, offset;
    int64_t npass, rshift;
    int64_t shape[MAX_OTHER];
    int64_t str[3][8];
} sort_args;
_Static_assert(sizeof(sort_args) == (7 + 20 + 13 + 5 + 7 + 24) * 8, "sort_args must match brc::sort_args");

typedef struct sort_impl {
    int kind, desc, path, npass, items, match, minb, look, p, e, nt_small, wminb, hsub, early, two, pref;
    bool few; /* onesweep: few tiles (pass_policy) */
    brc_dtype dt;
    size_t ksize;
    bool want_v, want_i;
    size_t ialign;
    sort_args a;
    int64_t n;                              /* elements of x */
    int64_t keys[2], idxs[2], cnt, tot, ucnt, ends; /* workspace byte offsets */
    unsigned grid_small, grid_warp, grid_rad, grid_pass, grid_scan, uchunks, grid_ucounts;
    CUfunction fn[NPH];
} sort_impl;

static const brc__plan_vt sort_vt = {NULL};

static int64_t pow2ceil(int64_t n) {
    int64_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

/* Key kind (0 unsigned, 1 signed, 2 float) and the bits of +inf. */
static int key_kind(brc_dtype t, uint64_t *inf) {
    *inf = 0;
    switch (t) {
    case BRC_F16: *inf = 0x7c00u; return 2;
    case BRC_BF16: *inf = 0x7f80u; return 2;
    case BRC_F32: *inf = 0x7f800000u; return 2;
    case BRC_F64: *inf = 0x7ff0000000000000ull; return 2;
    case BRC_I8:
    case BRC_I16:
    case BRC_I32:
    case BRC_I64: return 1;
    default: return 0;
    }
}

/* Keys a thread per radix tile: 16 (8 for 8-byte keys: shared memory); BARACUDA_SORT_ITEMS=4 / 8
 * / 16 / 24 overrides it (a tuning knob for the benchmark; 8-byte keys take at most 8, 24 only
 * keys of up to 2 bytes: the tile's keys and positions then fill 36 of the 48 KB of static shared
 * memory). */
static int radix_items(size_t ksize) {
    int v = brc__knob("BARACUDA_SORT_ITEMS", 4, 24, 0), most = ksize == 8 ? 8 : ksize <= 2 ? 24 : 16;
    if (v != 4 && v != 8 && v != 16 && v != 24) v = ksize == 8 ? 8 : 16;
    return v < most ? v : most;
}

/* The histogram's counter copies: HIST_SUB (0: one per pair of warps, 1: one per lane & 7), or
 * BARACUDA_SORT_HSUB = 0 / 1 (knob). */
static int hist_sub(void) { return brc__knob("BARACUDA_SORT_HSUB", 0, 1, HIST_SUB); }

/* Radix digit grouping: match.any (1) or 8 ballots (0): PASS_MATCH, or BARACUDA_SORT_MATCH (knob). */
static int radix_match(void) { return brc__knob("BARACUDA_SORT_MATCH", 0, 1, PASS_MATCH); }

/* CTAs an SM the onesweep pass's registers are capped for: PASS_MINB, or BARACUDA_SORT_MINB = 1..4
 * (knob). */
static int radix_minb(void) { return brc__knob("BARACUDA_SORT_MINB", 1, 4, PASS_MINB); }

/* Look-back words a step reads at once: BARACUDA_SORT_LOOK = 1..8 (knob), else 0 (the plan's
 * choice: pass_policy). */
static int radix_look(void) { return brc__knob("BARACUDA_SORT_LOOK", 1, 8, 0); }

/* A knob of the onesweep pass read at plan time: the value of environment variable name when it
 * is 0..most, else -1 (the plan's choice). */
static int pass_knob(const char *name, int most) { return brc__knob(name, 0, most, -1); }

/* The onesweep pass's variant (what the knobs left unset). Few tiles (at most FEW_WAVES waves of
 * pass CTAs: every tile's CTA runs at about the same time, so the look-back over the earlier
 * tiles is a long chain): the tile's digit counts first, then the look-back, eight words a step,
 * then the ranking (EARLY = 2, LOOK = 8: 2^20 f32 keys 115.5 -> 97.6 us on an H100). Many tiles
 * (the look-back finds a published prefix a few tiles back): counts published before the ranking,
 * look-back after it, one word a step (EARLY = 1, LOOK = 1; 2^24 f32 945 -> 908 us, bf16 553 ->
 * 527, i32 937 -> 889). Both read positions after the ranking (TWO) and start the key loads
 * before the trivial-pass flags (PREF). */
static void pass_policy(sort_impl *im, bool few) {
    im->few = few;
    if (im->early < 0) im->early = few ? 2 : 1;
    if (im->look <= 0) im->look = few ? 8 : 1;
    if (im->two < 0) im->two = PASS_TWO;
    if (im->pref < 0) im->pref = PASS_PREF;
}

/* The warp path (PH_WARP) for rows padded to WARP_MIN_P .. WARP_MAX_P keys of up to 4 bytes; 0 in
 * BARACUDA_SORT_WARP turns it off (the bitonic shared-memory path then sorts those rows: a knob for
 * the benchmark). */
static bool warp_on(void) { return brc__knob("BARACUDA_SORT_WARP", 0, 1, 1) != 0; }

/* CTAs an SM the warp path's registers are capped for: WARP_MINB, or BARACUDA_SORT_WMINB = 1..8
 * (knob). */
static int warp_minb(void) { return brc__knob("BARACUDA_SORT_WMINB", 1, 8, WARP_MINB); }

static const char *key_type(size_t ksize) {
    return ksize == 1 ? "u8" : ksize == 2 ? "u16" : ksize == 4 ? "u32" : "u64";
}

/* ---- kernels ----------------------------------------------------------------------------------------- */

static brc_status get_kernel(brc_context *ctx, const sort_impl *im, int ph, const char *desc, CUfunction *fn) {
    uint64_t inf;
    int kk = key_kind(im->dt, &inf);
    bool uniq = im->kind != BRC_SORT_SORT;
    int nt = ph == PH_SMALL    ? im->nt_small
             : ph == PH_WARP   ? WARP_NT
             : ph == PH_SCAN   ? SCAN_NT
             : ph == PH_OSCAN  ? OSCAN_NT
             : ph >= PH_UCOUNT ? UNIQ_NT
                               : RADIX_NT;
    int items = ph == PH_UCOUNT || ph == PH_UEMIT || ph == PH_UCOUNTS ? UNIQ_ITEMS : ph == PH_PASS ? im->items : 1;
    int match = ph == PH_PASS ? im->match : 0;
    int minb = ph == PH_PASS ? im->minb : ph == PH_WARP ? im->wminb : ph == PH_HIST ? HIST_PER_SM : 1;
    int look = ph == PH_PASS ? im->look : 1;
    int rp = im->kind == BRC_SORT_RANDPERM && (ph == PH_HIST || ph == PH_PASS || ph == PH_TIES);
    int hsub = ph == PH_HIST ? im->hsub : 0;
    int early = ph == PH_PASS ? im->early : 0, two = ph == PH_PASS ? im->two : 0, pref = ph == PH_PASS ? im->pref : 0;
    int p = ph == PH_SMALL || ph == PH_WARP ? im->p : 1, e = ph == PH_SMALL ? im->e : 1;
    /* The scan does not look at keys: one kernel serves every dtype. */
    size_t ks = ph == PH_SCAN || ph == PH_OSCAN ? 4 : im->ksize;
    int descn = ph == PH_SCAN || ph == PH_OSCAN || uniq ? 0 : im->desc;
    if (ph == PH_SCAN || ph == PH_OSCAN) kk = 0, inf = 0;
    brc__str snip = {0}, kd = {0};
    brc__str_addf(&snip,
                  "struct brc_sort {\n  typedef %s KT;\n"
                  "  enum { KIND = %d, DESC = %d, PH = %d, P = %d, E = %d, NT = %d, ITEMS = %d, MATCH = %d,\n"
                  "         RP = %d, LOOK = %d, HSUB = %d, EARLY = %d, TWO = %d, PREF = %d };\n"
                  "  static constexpr unsigned long long INF = 0x%llxull;\n};\n"
                  "__global__ void __launch_bounds__(%d, %d)\n"
                  "brc_sort_kernel(brc::sort_args a) { brc::sort_main<brc_sort>(a); }\n",
                  key_type(ks), kk, descn, ph, p, e, nt, items, match, rp, look, hsub, early, two, pref, (unsigned long long)inf, nt,
                  minb);
    static const char *const ph_names[] = {"",       "+hist",    "+scan",  "+pass", "+ucount",
                                           "+uemit", "+ucounts", "+oscan", "+ties", ""};
    brc__str_addf(&kd, "%s%s", desc, ph_names[ph]);
    brc_status st;
    if (snip.oom || kd.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "%s: out of memory", desc);
    } else {
        /* random.cuh: Philox (randperm's keys). */
        static const char *const sources[] = {"prelude.cuh", "random.cuh", "sort.cuh", NULL};
        brc__kernel_req req = {.template_name = "sort", .sources = sources, .nspec = 14,
                               .spec = {ph, (int64_t)ks, kk, descn, p, e, nt, items, match, minb, rp, look, hsub,
                                        early | two << 2 | pref << 3},
                               .snippet = snip.p, .name_expr = "brc_sort_kernel", .descriptor = kd.p};
        const brc__kernel *k = NULL;
        st = brc__jit_get(ctx, &req, &k);
        if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, fn);
    }
    brc__str_free(&snip);
    brc__str_free(&kd);
    return st;
}

/* ---- planning ------------------------------------------------------------------------------------------ */

static brc_status check_output(const brc_tensor_desc *t, const brc_tensor_desc *x, const char *what) {
    brc_status st = brc__tensor_check(t, what);
    if (st) return st;
    if (!brc__same_shape(t, x))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: %s and x differ in shape", what);
    if (!brc__no_self_overlap(t))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                          "brc_sort_plan: %s has strides under which its elements overlap", what);
    return BRC_STATUS_OK;
}

/* force_path: -1 by length, else PATH_SMALL / PATH_RADIX / PATH_WARP; force_few: -1 by the tile
 * count, else 0 / 1 (pass_policy) (descriptors). */
static brc_status sort_plan_forced(brc_context *ctx, const brc_sort_desc *d, const brc_plan_prefs *prefs_in,
                                   int force_path, int force_few, brc_plan **out) {
    brc_status st = brc__plan_start(ctx, d, out, "brc_sort_plan");
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    if ((int)d->kind < 0 || (int)d->kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: kind %d is not a sort kind", (int)d->kind);
    bool rp = d->kind == BRC_SORT_RANDPERM;
    /* randperm: indices is the output and gives the shape; the keys are u32 Philox words. */
    const brc_tensor_desc *x = rp ? &d->indices : &d->x;
    if ((st = brc__tensor_check(x, rp ? "indices" : "x"))) return st;
    brc_dtype dt = rp ? BRC_U32 : d->x.dtype;
    if (dt == BRC_FP8E4M3 || dt == BRC_FP8E5M2)
        return brc__error(BRC_STATUS_UNSUPPORTED, "brc_sort_plan: dtype %s is not supported", brc_dtype_name(dt));
    if (rp) {
        if (x->rank != 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: randperm's indices has rank %d, 1 expected",
                              x->rank);
        if (x->dtype != BRC_I32 && x->dtype != BRC_I64)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_sort_plan: randperm's indices has dtype %s, i32 or i64 expected",
                              brc_dtype_name(x->dtype));
        if (x->shape[0] > INT32_MAX)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: randperm of %lld (at most 2^31 - 1)",
                              (long long)x->shape[0]);
        if (!brc__no_self_overlap(x))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_sort_plan: indices has strides under which its elements overlap");
    }
    int rank = x->rank;
    bool sort = d->kind == BRC_SORT_SORT;
    int dim = 0;
    if (sort) {
        if (d->descending != 0 && d->descending != 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: descending = %d must be 0 or 1",
                              d->descending);
        int lo = rank ? -rank : -1, hi = rank ? rank : 1;
        if (d->dim < lo || d->dim >= hi)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: dim %d is out of range for rank %d",
                              d->dim, rank);
        dim = d->dim < 0 ? d->dim + (rank ? rank : 1) : d->dim;
        if (!d->want_values && !d->want_indices)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_sort_plan: want_values and want_indices are both 0 (nothing to write)");
        if (d->want_values) {
            if ((st = check_output(&d->values, x, "values"))) return st;
            if (d->values.dtype != dt)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: values has dtype %s, %s expected",
                                  brc_dtype_name(d->values.dtype), brc_dtype_name(dt));
        }
        if (d->want_indices) {
            if ((st = check_output(&d->indices, x, "indices"))) return st;
            if (d->indices.dtype != BRC_I32 && d->indices.dtype != BRC_I64)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: indices has dtype %s, i32 or i64 expected",
                                  brc_dtype_name(d->indices.dtype));
        }
    }
    int64_t n = brc_tensor_desc_numel(x);
    sort_args a;
    memset(&a, 0, sizeof a);
    if (sort) {
        a.len = rank ? x->shape[dim] : 1;
        a.str[0][7] = rank ? x->strides[dim] : 0;
        a.str[1][7] = rank && d->want_values ? d->values.strides[dim] : 0;
        a.str[2][7] = rank && d->want_indices ? d->indices.strides[dim] : 0;
        a.rows = 1;
        for (int k = 0; k < rank; k++) {
            if (k == dim || x->shape[k] == 1) continue;
            a.shape[a.nd] = x->shape[k];
            a.str[0][a.nd] = x->strides[k];
            a.str[1][a.nd] = d->want_values ? d->values.strides[k] : 0;
            a.str[2][a.nd] = d->want_indices ? d->indices.strides[k] : 0;
            a.rows *= x->shape[k];
            a.nd++;
        }
        if (a.len > INT32_MAX)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "brc_sort_plan: the sorted dim has %lld keys (at most 2^31 - 1)", (long long)a.len);
        a.idx32 = d->want_indices && d->indices.dtype == BRC_I32;
    } else if (rp) {
        a.len = n;
        a.rows = 1;
        a.str[2][7] = x->strides[0];
        a.idx32 = x->dtype == BRC_I32;
    } else {
        if (n > INT32_MAX)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: %s of %lld elements (at most 2^31 - 1)",
                              kind_names[d->kind], (long long)n);
        /* One row of every element, x unravelled in row-major order. */
        a.flat = 1;
        a.len = n;
        a.rows = 1;
        a.xlen = rank ? x->shape[rank - 1] : 1;
        a.str[0][7] = rank ? x->strides[rank - 1] : 0;
        for (int k = 0; k + 1 < rank; k++) {
            a.shape[a.nd] = x->shape[k];
            a.str[0][a.nd++] = x->strides[k];
        }
        a.consec = d->kind == BRC_SORT_UNIQUE_CONSECUTIVE;
        /* Dims that merge into one stride need no unravelling. */
        bool one = true;
        int64_t s = 0, span = 0;
        for (int k = rank - 1; k >= 0; k--) {
            if (x->shape[k] == 1) continue;
            if (span == 0)
                s = x->strides[k], span = x->shape[k];
            else if (x->strides[k] != s * span)
                one = false;
            else
                span *= x->shape[k];
        }
        if (one) a.flat = 0, a.nd = 0, a.str[0][7] = s;
    }

    size_t ksize = brc_dtype_size(dt);
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132; /* offline: an H100's count */
    int path = PATH_NONE;
    if (d->kind != BRC_SORT_UNIQUE_CONSECUTIVE) {
        int64_t small_max = ksize == 8 ? SMALL_MAX / 2 : SMALL_MAX;
        path = sort && a.len <= small_max ? PATH_SMALL : PATH_RADIX;
        int64_t pl = pow2ceil(a.len);
        if (path == PATH_SMALL && ksize <= 4 && pl >= WARP_MIN_P && pl <= WARP_MAX_P && warp_on()) path = PATH_WARP;
        if (force_path >= 0) path = force_path;
    }
    brc_plan *p = NULL;
    brc__str desc = {0}, sku = {0};
    if ((st = brc__plan_new(ctx, BRC__FAM_SORT, &sort_vt, sizeof(sort_impl), &p))) return st;
    sort_impl *im = p->impl;
    im->kind = (int)d->kind;
    im->desc = sort ? d->descending : 0;
    im->path = path;
    im->dt = dt;
    im->ksize = ksize;
    im->want_v = !rp && (!sort || d->want_values);
    im->want_i = rp || (sort && d->want_indices);
    im->ialign = a.idx32 ? 4 : 8;
    im->n = n;
    im->items = radix_items(ksize);
    im->match = radix_match();
    im->minb = radix_minb();
    im->look = radix_look();
    im->wminb = warp_minb();
    im->hsub = hist_sub();
    im->early = pass_knob("BARACUDA_SORT_EARLY", 2);
    im->two = pass_knob("BARACUDA_SORT_TWO", 1);
    im->pref = pass_knob("BARACUDA_SORT_PREF", 1);
    im->npass = (int)ksize;
    if (rp) {
        /* B = 8 * npass >= ceil(log2 n) bits a key (at least 8). */
        int lg = 0;
        while (lg < 31 && ((int64_t)1 << lg) < n) lg++;
        im->npass = lg <= 8 ? 1 : (lg + 7) / 8;
        a.npass = im->npass;
        a.rshift = 32 - 8 * im->npass;
    }
    const char *dn = brc_dtype_name(dt), *kn = kind_names[d->kind];
    int64_t total = a.len * a.rows, ws = 0;
#define WS_TAKE(off, bytes) ((off) = ws, ws += brc__cdiv((int64_t)(bytes), WS_ALIGN) * WS_ALIGN)
    if (path == PATH_WARP) {
        im->p = (int)pow2ceil(a.len);
        if (im->p < 32) im->p = 32;
        int64_t groups = brc__cdiv(a.rows, WARP_NT / 32), cap = (int64_t)1 << 24;
        im->grid_warp = (unsigned)(total == 0 ? 0 : groups < cap ? groups : cap);
        brc__str_addf(&desc, "sort(op=sort,dtype=%s,desc=%d,path=warp,p=%d)", dn, im->desc, im->p);
        brc__str_addf(&sku, "bespoke:sort<sort,%s,%s,warp,p=%d,nt=%d", dn, im->desc ? "desc" : "asc", im->p, WARP_NT);
        if (im->wminb != WARP_MINB) brc__str_addf(&sku, ",minb=%d", im->wminb);
        brc__str_addf(&sku, ">@%s", ctx->arch);
    } else if (path == PATH_SMALL) {
        im->p = (int)pow2ceil(a.len);
        im->e = im->p > SMALL_MIN_E ? im->p : SMALL_MIN_E;
        im->nt_small = im->e / 2 < 512 ? im->e / 2 : 512;
        int64_t groups = brc__cdiv(a.rows, im->e / im->p), cap = (int64_t)1 << 24;
        im->grid_small = (unsigned)(total == 0 ? 0 : groups < cap ? groups : cap);
        brc__str_addf(&desc, "sort(op=sort,dtype=%s,desc=%d,path=small,p=%d)", dn, im->desc, im->p);
        brc__str_addf(&sku, "bespoke:sort<sort,%s,%s,small,p=%d,e=%d,nt=%d>@%s", dn, im->desc ? "desc" : "asc", im->p,
                      im->e, im->nt_small, ctx->arch);
    } else {
        if (path == PATH_RADIX) {
            /* Onesweep: the histogram in chunks of HIST_KEYS multiples, about three CTAs an SM;
             * a pass in tiles of RADIX_NT * items keys, a CTA a tile. */
            int64_t tile = (int64_t)RADIX_NT * im->items, rows = a.rows > 0 ? a.rows : 1;
            int64_t want = (int64_t)sms * HIST_PER_SM / rows, hk = brc__cdiv(a.len, HIST_KEYS);
            if (want < 1) want = 1;
            int64_t nch = hk < want ? hk : want;
            if (nch < 1) nch = 1;
            a.clen = brc__cdiv(brc__cdiv(a.len, nch), HIST_KEYS) * HIST_KEYS;
            nch = a.len ? brc__cdiv(a.len, a.clen) : 1;
            a.nch = nch;
            a.tpr = a.len ? brc__cdiv(a.len, tile) : 1;
            if (a.rows * a.tpr > INT32_MAX || a.rows * nch > INT32_MAX) {
                brc_plan_destroy(p);
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "brc_sort_plan: %lld rows is too many for the radix path",
                                  (long long)a.rows);
            }
            im->grid_rad = (unsigned)(total == 0 ? 0 : a.rows * nch);
            im->grid_pass = (unsigned)(total == 0 ? 0 : a.rows * a.tpr);
            a.scan_n = a.rows * im->npass;
            int64_t nz = brc__cdiv(a.rows * a.tpr * 256, OSCAN_NT * 8), zmax = (int64_t)OSCAN_ZERO_PER_SM * sms;
            im->grid_scan = (unsigned)(total == 0 ? 0 : a.scan_n + (nz < zmax ? nz : zmax));
            pass_policy(im, force_few >= 0 ? force_few == 1 : a.rows * a.tpr <= (int64_t)FEW_WAVES * sms * im->minb);
            /* Buffers the non-final passes write: sort ends in the outputs, unique in the workspace. */
            int writes = sort ? im->npass - 1 : im->npass;
            for (int b = 0; b < 2 && b < writes; b++) {
                WS_TAKE(im->keys[b], total * (int64_t)ksize);
                WS_TAKE(im->idxs[b], total * 4);
            }
            a.kb[0] = im->keys[0], a.kb[1] = im->keys[1], a.ib[0] = im->idxs[0], a.ib[1] = im->idxs[1];
            WS_TAKE(im->cnt, a.rows * im->npass * nch * 256 * 4);
            WS_TAKE(a.obase, a.rows * im->npass * 256 * 4);
            WS_TAKE(a.triv, a.rows * im->npass * 4);
            WS_TAKE(a.ctr, 8 * 4);
            WS_TAKE(a.stat[0], a.rows * a.tpr * 256 * 8);
            a.stat[1] = a.stat[0];
            if (im->npass > 1) WS_TAKE(a.stat[1], a.rows * a.tpr * 256 * 8);
            a.cnt = im->cnt;
            a.noskip = !sort;
            a.toout = sort;
        }
        if (!sort && !rp) {
            a.clen = path == PATH_RADIX ? a.clen : 0;
            im->uchunks = (unsigned)brc__cdiv(n, UNIQ_NT * UNIQ_ITEMS);
            if (im->uchunks == 0) im->uchunks = 0;
            int64_t g = brc__cdiv(n, UNIQ_NT), cap = (int64_t)1 << 20;
            im->grid_ucounts = (unsigned)(g < cap ? g : cap);
            WS_TAKE(im->ucnt, (int64_t)im->uchunks * 4 + 4);
            WS_TAKE(im->ends, n * 4 + 4);
        }
        if (rp) {
            brc__str_addf(&desc, "sort(op=randperm)");
            brc__str_addf(&sku, "bespoke:sort<randperm,radix,bits=%d,tile=%d>@%s", 8 * im->npass,
                          RADIX_NT * im->items, ctx->arch);
        } else if (sort) {
            brc__str_addf(&desc, "sort(op=sort,dtype=%s,desc=%d,path=radix%s)", dn, im->desc,
                          im->few ? ",tiles=few" : "");
            brc__str_addf(&sku, "bespoke:sort<sort,%s,%s,radix,passes=%d,tile=%d%s%s", dn, im->desc ? "desc" : "asc",
                          im->npass, RADIX_NT * im->items, im->match ? ",match" : ",ballots", im->few ? ",few" : "");
            if (im->minb != PASS_MINB) brc__str_addf(&sku, ",minb=%d", im->minb);
            if (im->hsub != HIST_SUB) brc__str_addf(&sku, ",hsub=%d", im->hsub);
            if (im->look != (im->few ? 8 : 1)) brc__str_addf(&sku, ",look=%d", im->look);
            if (im->early != (im->few ? 2 : 1)) brc__str_addf(&sku, ",early=%d", im->early);
            if (im->two != PASS_TWO) brc__str_addf(&sku, ",two=%d", im->two);
            if (im->pref != PASS_PREF) brc__str_addf(&sku, ",pref=%d", im->pref);
            brc__str_addf(&sku, ">@%s", ctx->arch);
        } else {
            brc__str_addf(&desc, "sort(op=%s,dtype=%s)", kn, dn);
            if (path == PATH_RADIX)
                brc__str_addf(&sku, "bespoke:sort<%s,%s,radix,passes=%d>@%s", kn, dn, im->npass, ctx->arch);
            else
                brc__str_addf(&sku, "bespoke:sort<%s,%s>@%s", kn, dn, ctx->arch);
        }
    }
#undef WS_TAKE
    im->a = a;
    p->workspace = (size_t)ws;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_sort_plan: out of memory");
        goto fail;
    }
    int phs[NPH], nph = 0;
    if (path == PATH_SMALL) phs[nph++] = PH_SMALL;
    if (path == PATH_WARP) phs[nph++] = PH_WARP;
    if (path == PATH_RADIX) phs[nph++] = PH_HIST, phs[nph++] = PH_OSCAN, phs[nph++] = PH_PASS;
    if (!sort && !rp) phs[nph++] = PH_SCAN;
    if (!sort && !rp) phs[nph++] = PH_UCOUNT, phs[nph++] = PH_UEMIT, phs[nph++] = PH_UCOUNTS;
    if (rp) phs[nph++] = PH_TIES;
    for (int i = 0; i < nph; i++)
        if ((st = get_kernel(ctx, im, phs[i], desc.p, &im->fn[phs[i]]))) goto fail;
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

brc_status brc_sort_plan(brc_context *ctx, const brc_sort_desc *desc, const brc_plan_prefs *prefs, brc_plan **out) {
    return sort_plan_forced(ctx, desc, prefs, -1, -1, out);
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------------ */

brc_status brc__sort_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const paths[] = {"small", "radix", "warp"}, *const tiles[] = {"many", "few"};
    int kind = 0, path = 1, few = -1;
    brc_dtype dt = BRC_F32;
    int64_t dsc = 0, pp = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind))) return st;
    brc_sort_desc s;
    memset(&s, 0, sizeof s);
    s.kind = (brc_sort_kind)kind;
    if (kind == BRC_SORT_RANDPERM) {
        int64_t shape[1] = {(int64_t)1 << 20};
        brc_tensor_desc_contiguous(&s.indices, BRC_I64, 1, shape);
        return sort_plan_forced(ctx, &s, NULL, -1, -1, out);
    }
    if ((st = brc__desc_dtype(d, "dtype", &dt))) return st;
    int64_t len = 1000;
    int force = -1;
    if (kind == BRC_SORT_SORT) {
        if ((st = brc__desc_int(d, "desc", 0, 1, 0, &dsc)) || (st = brc__desc_pick(d, "path", paths, 3, -1, &path)))
            return st;
        int64_t most = brc_dtype_size(dt) == 8 ? SMALL_MAX / 2 : SMALL_MAX, least = 1;
        if (path == PATH_WARP) {
            if (brc_dtype_size(dt) > 4) {
                d->err_col = d->family_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "path=warp takes keys of up to 4 bytes, not %s",
                                  brc_dtype_name(dt));
            }
            least = WARP_MIN_P, most = WARP_MAX_P;
        }
        if (path == PATH_SMALL || path == PATH_WARP) {
            if ((st = brc__desc_int(d, "p", least, most, -1, &pp))) return st;
            if (pp < 0) {
                const char *unused;
                return brc__desc_need(d, "p", &unused);
            }
            if (pp & (pp - 1)) {
                d->err_col = d->family_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "p = %lld must be a power of two", (long long)pp);
            }
            len = pp;
        } else {
            /* The pass variant by tile count (pass_policy): 2 tiles, or 2^26 keys (more tiles than
             * FEW_WAVES waves of any GPU's CTAs). */
            if ((st = brc__desc_pick(d, "tiles", tiles, 2, 0, &few))) return st;
            len = few ? most * 2 : (int64_t)1 << 26;
        }
        force = path;
    }
    int64_t shape[1] = {len};
    brc_tensor_desc_contiguous(&s.x, dt, 1, shape);
    s.values = s.x;
    brc_tensor_desc_contiguous(&s.indices, BRC_I64, 1, shape);
    s.want_values = 1;
    s.want_indices = 1;
    s.descending = (int)dsc;
    return sort_plan_forced(ctx, &s, NULL, force, few, out);
}

static brc_status launch(const brc_plan *plan, CUfunction fn, unsigned grid, unsigned threads, sort_args *a,
                         brc_stream stream) {
    if (grid == 0) return BRC_STATUS_OK;
    void *args[1] = {a};
    CUresult r = brc__cu()->cuLaunchKernel(fn, grid, 1, 1, threads, 1, 1, 0, (CUstream)stream, args, NULL);
    if (r != CUDA_SUCCESS)
        return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    return BRC_STATUS_OK;
}

/* The radix sort: the histogram of every pass, its scan, then a kernel a pass (the kernels
 * decide on the device which passes a row skips and which buffers they read and write). */
static brc_status run_radix(const brc_plan *plan, const sort_impl *im, sort_args *a, brc_stream stream) {
    brc_status st;
    if ((st = launch(plan, im->fn[PH_HIST], im->grid_rad, RADIX_NT, a, stream)) ||
        (st = launch(plan, im->fn[PH_OSCAN], im->grid_scan, OSCAN_NT, a, stream)))
        return st;
    for (int ps = 0; ps < im->npass; ps++) {
        a->pass = ps;
        if ((st = launch(plan, im->fn[PH_PASS], im->grid_pass, RADIX_NT, a, stream))) return st;
    }
    return BRC_STATUS_OK;
}

/* cls: the run function's class of kinds, 0 sort, 1 unique / unique_consecutive, 2 randperm. */
static int kind_class(int kind) {
    return kind == BRC_SORT_SORT ? 0 : kind == BRC_SORT_RANDPERM ? 2 : 1;
}

static brc_status check_common(const brc_plan *plan, const char *fn, int cls, const void *x, void *ws,
                               size_t ws_size) {
    static const char *const run_fns[] = {"brc_sort_run", "brc_unique_run", "brc_randperm_run"};
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_SORT, fn);
    if (st) return st;
    const sort_impl *im = plan->impl;
    if (kind_class(im->kind) != cls)
        return brc__error(BRC_STATUS_WRONG_PLAN, "%s: %s is a %s plan (use %s)", fn, plan->descriptor,
                          kind_names[im->kind], run_fns[kind_class(im->kind)]);
    if (plan->workspace) {
        if (ws_size < plan->workspace)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: workspace of %zu bytes is smaller than the %zu required (%s)", fn, ws_size,
                              plan->workspace, plan->descriptor);
        if ((st = brc__need_ptr(ws, WS_ALIGN, fn, "workspace", plan))) return st;
    }
    if ((im->n == 0 && cls == 0) || cls == 2) return BRC_STATUS_OK;
    return brc__need_ptr(x, im->ksize, fn, "x", plan);
}

brc_status brc_sort_run(const brc_plan *plan, const void *x, void *values, void *indices, void *workspace,
                        size_t workspace_size, brc_stream stream) {
    static const char fn[] = "brc_sort_run";
    brc_status st = check_common(plan, fn, 0, x, workspace, workspace_size);
    if (st) return st;
    const sort_impl *im = plan->impl;
    if (im->n == 0) return BRC_STATUS_OK;
    if (im->want_v && (st = brc__need_ptr(values, im->ksize, fn, "values", plan))) return st;
    if (im->want_i && (st = brc__need_ptr(indices, im->ialign, fn, "indices", plan))) return st;
    if (im->want_v && im->want_i && values == indices)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: values and indices are one buffer (%s)", fn,
                          plan->descriptor);
    if ((im->want_v && values == x) || (im->want_i && indices == x))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: an output is x (sorting in place is not supported) (%s)",
                          fn, plan->descriptor);
    sort_args a = im->a;
    a.x = x;
    a.vals = im->want_v ? values : NULL;
    a.idx = im->want_i ? indices : NULL;
    a.ws = workspace;
    if (im->path == PATH_SMALL) return launch(plan, im->fn[PH_SMALL], im->grid_small, (unsigned)im->nt_small, &a, stream);
    if (im->path == PATH_WARP) return launch(plan, im->fn[PH_WARP], im->grid_warp, WARP_NT, &a, stream);
    return run_radix(plan, im, &a, stream);
}

brc_status brc_unique_run(const brc_plan *plan, const void *x, void *values, int64_t *inverse, int64_t *counts,
                          int64_t *num, void *workspace, size_t workspace_size, brc_stream stream) {
    static const char fn[] = "brc_unique_run";
    brc_status st = check_common(plan, fn, 1, x, workspace, workspace_size);
    if (st) return st;
    const sort_impl *im = plan->impl;
    if ((st = brc__need_ptr(num, 8, fn, "num", plan))) return st;
    if (im->n > 0 && (st = brc__need_ptr(values, im->ksize, fn, "values", plan))) return st;
    if (inverse && (st = brc__need_ptr(inverse, 8, fn, "inverse", plan))) return st;
    if (counts && (st = brc__need_ptr(counts, 8, fn, "counts", plan))) return st;
    sort_args a = im->a;
    a.x = x;
    a.ws = workspace;
    if (im->n > 0 && im->path == PATH_RADIX && (st = run_radix(plan, im, &a, stream))) return st;
    int fin = (im->npass - 1) & 1;
    a.kin = im->path == PATH_RADIX ? im->keys[fin] : 0;
    a.iin = im->path == PATH_RADIX ? im->idxs[fin] : 0;
    a.first = a.last = 0;
    a.clen = UNIQ_NT * UNIQ_ITEMS;
    a.cnt = im->ucnt;
    a.tot = -1;
    a.ends = im->ends;
    a.vals = values;
    a.inv = inverse;
    a.cnts = counts;
    a.num = num;
    a.scan_n = im->uchunks;
    if ((st = launch(plan, im->fn[PH_UCOUNT], im->uchunks, UNIQ_NT, &a, stream)) ||
        (st = launch(plan, im->fn[PH_SCAN], 1, SCAN_NT, &a, stream)) ||
        (st = launch(plan, im->fn[PH_UEMIT], im->uchunks, UNIQ_NT, &a, stream)))
        return st;
    if (counts) return launch(plan, im->fn[PH_UCOUNTS], im->grid_ucounts, UNIQ_NT, &a, stream);
    return BRC_STATUS_OK;
}

brc_status brc_randperm_run(const brc_plan *plan, void *out, const brc_philox *philox, void *workspace,
                            size_t workspace_size, brc_stream stream) {
    static const char fn[] = "brc_randperm_run";
    brc_status st = check_common(plan, fn, 2, NULL, workspace, workspace_size);
    if (st) return st;
    const sort_impl *im = plan->impl;
    if (!philox) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: philox is NULL (%s)", fn, plan->descriptor);
    if (philox->device && (st = brc__need_ptr(philox->device, 8, fn, "philox->device", plan))) return st;
    if (im->n == 0) return BRC_STATUS_OK;
    if ((st = brc__need_ptr(out, im->ialign, fn, "out", plan))) return st;
    sort_args a = im->a;
    a.idx = out;
    a.ws = workspace;
    a.rdev = philox->device;
    a.seed = philox->seed;
    a.offset = philox->offset;
    if ((st = run_radix(plan, im, &a, stream))) return st;
    int fin = (im->npass - 1) & 1;
    a.kin = im->keys[fin];
    a.iin = im->idxs[fin];
    return launch(plan, im->fn[PH_TIES], (unsigned)brc__cdiv(im->n, UNIQ_NT), UNIQ_NT, &a, stream);
}
