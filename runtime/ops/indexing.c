/* The indexing family: gather, index_select, embedding (and its backward), scatter (and its mean),
 * index_add, masked_fill, one_hot, index_put, masked_select, nonzero, embedding_bag (and its
 * backward). Validates the operands, maps each op onto the P / Q / K walk of
 * kernel_src/indexing.cuh (an iteration space with a plain, an indexed and an index operand),
 * merges dims, picks the rows or generic layout by structure, generates the kernels'
 * specialization and launches them. Semantics: indexing.h; descriptor keys: docs/indexing.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static const char *const kind_names[] = {
#define X(N, n, num) #n,
    BRC_INDEX_KINDS(X)
#undef X
};
#define NKINDS ((int)(sizeof kind_names / sizeof kind_names[0]))
_Static_assert(NKINDS == BRC_INDEX_KIND_COUNT_, "BRC_INDEX_KIND_COUNT_ is out of date");
static const char *const reduce_names[] = {
#define X(N, n, num) #n,
    BRC_INDEX_REDUCES(X)
#undef X
};
#define NREDUCES ((int)(sizeof reduce_names / sizeof reduce_names[0]))
_Static_assert(NREDUCES == BRC_INDEX_REDUCE_COUNT_, "BRC_INDEX_REDUCE_COUNT_ is out of date");
static const char *const mode_names[] = {
#define X(N, n, num) #n,
    BRC_INDEX_BAG_MODES(X)
#undef X
};
#define NMODES ((int)(sizeof mode_names / sizeof mode_names[0]))
_Static_assert(NMODES == BRC_INDEX_BAG_MODE_COUNT_, "BRC_INDEX_BAG_MODE_COUNT_ is out of date");

enum { THREADS = 256, EB_ROWS = 64 /* emb_bwd_det in indexing.cuh */, CP_TILE = 4096 /* CT */, WS_ALIGN = 256 };
/* Kernel ops (OP in indexing.cuh). */
enum {
    OP_GATHER, OP_STORE, OP_REDUCE, OP_MASKED_FILL, OP_ONE_HOT, OP_ZERO, OP_EMB_DET, OP_CP_COUNT, OP_CP_SCAN,
    OP_CP_WRITE, OP_INDEX_PUT, OP_BAG, OP_BAG_DET, OP_BAG_MAX_BWD, OP_FILL_ID, OP_MEAN_FIN, OP_BAG_COUNT,
    OP_IP_COUNT, OP_IP_PLACE, OP_IP_SUM
};
/* The rows field of a spec / unit: ROWS in indexing.cuh. */
enum { LAYOUT_GENERIC = 0, LAYOUT_ROWS = 1, LAYOUT_SORTED = 2, LAYOUT_STAGE = 3, LAYOUT_BAND = 4 };
/* The band layout (ix_band): CTA tiles of BAND_ROWS x BAND_COLS, and the bytes of Q's columns that a
 * band may read (bound x band columns x element size): what stays in L2 while the band is walked.
 * Measured on an H100 (gather of [4096, 8192] rows from [8192, 8192]): 6 MiB beat 16 MiB by 6% (bf16)
 * and 13% (f32); 40 MiB lost 40% (L2 is 50 MB, and the index and y stream through it too). */
enum { BAND_ROWS = 16, BAND_COLS = 128, BAND_BYTES = 6 << 20 };
/* The stage layout: Q's row in dynamic shared memory, at most this many bytes. */
enum { STAGE_MAX_BYTES = 32768 };
#define IX_MAX_UNITS 5
/* Run-time pointers a unit's operands come from (brc_index_args, and the workspace). */
enum {
    PTR_NONE = -1, PTR_X, PTR_INDEX, PTR_SRC, PTR_Y, PTR_WS, PTR_COUNT, PTR_OFFSETS, PTR_PSW, PTR_ARGMAX, PTR_I0,
    NPTR = PTR_I0 + BRC_INDEX_MAX_INDICES
};
static const char *const ptr_names[NPTR] = {"x", "index", "src", "y", "workspace", "count", "offsets",
                                            "per_sample_weights", "argmax", "indices[0]", "indices[1]",
                                            "indices[2]", "indices[3]"};

/* struct brc::ix_args in indexing.cuh: 8-byte fields only. */
typedef struct ix_args {
    void *pp, *pq;
    const void *pk;
    int32_t *err;
    int64_t n, nd, bound, qi, skip, rows, row, aligned;
    double value;
    int64_t shape[8];
    int64_t str[3][8];
    void *pc, *pw, *pa;
    const void *po;
    void *pcount;
    const void *pks[4];
    int64_t m, nb, npos, lastoff, ostr;
    int64_t kb[4], kq[4];
    int64_t bshape[8];
    int64_t bstr[5][8];
    int64_t ystr[2];
} ix_args;
_Static_assert(sizeof(ix_args) == (4 + 8 + 1 + 8 + 24 + 5 + 4 + 5 + 8 + 8 + 40 + 2) * 8, "ix_args must match brc::ix_args");

/* What determines the kernels: the canonical descriptor is a function of this alone. */
typedef struct ix_spec {
    int kind, reduce, atomic, exclude_self, accumulate, mode;
    brc_dtype dt, it;
    int rows, vec, tpr, ix64; /* the layout of the main unit (not for the deterministic backward) */
} ix_spec;

/* One kernel launch. */
typedef struct ix_unit {
    int op, red, rows, vec, tpr, ix64;
    int dt_ovr, it_ovr;      /* 1 + the unit's own value / index dtype (scatter mean's counts), or 0 */
    int src_p, src_q, src_k; /* PTR_* */
    /* pc, pw, pa, po, pcount: PTR_* or 0 for none (PTR_X is never one of them); pks from
     * indices[0 .. nks). */
    int src_c, src_w, src_a, src_o, src_cnt, nks;
    int64_t off_c; /* bytes added to pc (scatter mean: where y's offset 0 counts) */
    bool vec_ok;             /* OP_EMB_DET: dy's columns are contiguous and its row stride a multiple of vec */
    ix_args a;
    unsigned grid;
    unsigned smem; /* dynamic shared memory bytes (the stage layout) */
    CUfunction fn;
} ix_unit;

typedef struct ix_impl {
    int kind, nunits, deterministic;
    size_t esize;
    ix_unit u[IX_MAX_UNITS];
    bool contig;      /* masked_select / nonzero: x (and the mask) dense row-major: offsets are indices */
    size_t workspace; /* bytes */
    bool y_is_x_ok; /* masked_fill: x and y have the same strides */
} ix_impl;

static const brc__plan_vt ix_vt = {NULL};
static unsigned grid_override;

void brc__index_grid_override(unsigned grid) { grid_override = grid; }

static int pow2ceil(int64_t n) {
    int p = 1;
    while (p < n && p < (1 << 30)) p <<= 1;
    return p;
}

static const char *real_type(brc_dtype t) {
    switch (t) {
    case BRC_F32: return "float";
    case BRC_F64: return "double";
    case BRC_F16: return "brc::f16";
    case BRC_BF16: return "brc::bf16";
    case BRC_FP8E4M3: return "brc::e4m3";
    case BRC_FP8E5M2: return "brc::e5m2";
    case BRC_I8: return "i8";
    case BRC_U8: return "u8";
    case BRC_I16: return "i16";
    case BRC_I32: return "i32";
    case BRC_I64: return "i64";
    case BRC_U32: return "u32";
    case BRC_BOOL: return "brc::boolean";
    case BRC_DTYPE_COUNT_: break;
    }
    return "void";
}
static const char *bits_type(size_t size) {
    return size == 1 ? "u8" : size == 2 ? "i16" : size == 4 ? "u32" : "i64"; /* types io<> knows */
}
static bool is_float(brc_dtype t) { return t == BRC_F32 || t == BRC_F64 || t == BRC_F16 || t == BRC_BF16; }

/* ---- the spec: descriptor, SKU, determinism ------------------------------------------------------- */

static int spec_deterministic(const ix_spec *s) {
    switch (s->kind) {
    case BRC_INDEX_SCATTER:
        if (s->reduce == BRC_INDEX_REDUCE_NONE) return 0;
        if (s->reduce == BRC_INDEX_REDUCE_AMAX || s->reduce == BRC_INDEX_REDUCE_AMIN) return 1;
        return !is_float(s->dt);
    case BRC_INDEX_INDEX_ADD: return !is_float(s->dt);
    case BRC_INDEX_EMBEDDING_BACKWARD: return !s->atomic;
    case BRC_INDEX_INDEX_PUT: return s->accumulate && !is_float(s->dt);
    case BRC_INDEX_EMBEDDING_BAG_BACKWARD: return s->mode != BRC_INDEX_BAG_MAX;
    default: return 1;
    }
}

static bool has_index_dtype(int kind) { return kind != BRC_INDEX_MASKED_FILL && kind != BRC_INDEX_MASKED_SELECT; }
static bool det_backward(const ix_spec *s) { return s->kind == BRC_INDEX_EMBEDDING_BACKWARD && !s->atomic; }
/* Kinds whose descriptor carries no layout keys (their kernels have a fixed shape). */
static bool fixed_layout(const ix_spec *s) {
    return det_backward(s) || s->kind == BRC_INDEX_MASKED_SELECT || s->kind == BRC_INDEX_NONZERO ||
           s->kind == BRC_INDEX_EMBEDDING_BAG_BACKWARD;
}
/* The element count of a thread's vector in the deterministic backward (its accumulators). */
static int det_vec(brc_dtype dt) { return (int)(16 / brc_dtype_size(dt)); }

static void spec_strings(const ix_spec *s, const char *arch, brc__str *desc, brc__str *sku) {
    const char *kn = kind_names[s->kind], *dn = brc_dtype_name(s->dt), *in = brc_dtype_name(s->it);
    brc__str_addf(desc, "index(op=%s,dtype=%s", kn, dn);
    brc__str_addf(sku, "bespoke:index<%s,%s", kn, dn);
    if (has_index_dtype(s->kind)) {
        brc__str_addf(desc, ",index=%s", in);
        brc__str_addf(sku, ",%s", in);
    }
    if (s->kind == BRC_INDEX_SCATTER) {
        brc__str_addf(desc, ",reduce=%s", reduce_names[s->reduce]);
        brc__str_addf(sku, ",%s", reduce_names[s->reduce]);
        if (s->exclude_self) {
            brc__str_addf(desc, ",self=0");
            brc__str_addf(sku, ",noself");
        }
    }
    if (s->kind == BRC_INDEX_INDEX_PUT) {
        brc__str_addf(desc, ",accumulate=%d", s->accumulate);
        brc__str_addf(sku, ",%s", s->accumulate ? "add" : "store");
    }
    if (s->kind == BRC_INDEX_EMBEDDING_BAG || s->kind == BRC_INDEX_EMBEDDING_BAG_BACKWARD) {
        brc__str_addf(desc, ",mode=%s", mode_names[s->mode]);
        brc__str_addf(sku, ",%s", mode_names[s->mode]);
    }
    if (s->kind == BRC_INDEX_EMBEDDING_BACKWARD) brc__str_addf(desc, ",atomic=%d", s->atomic);
    if (fixed_layout(s)) {
        brc__str_addf(desc, ")");
        if (s->kind == BRC_INDEX_MASKED_SELECT || s->kind == BRC_INDEX_NONZERO)
            brc__str_addf(sku, ",scan,tile=%d>@%s", CP_TILE, arch);
        else if (s->kind == BRC_INDEX_EMBEDDING_BAG_BACKWARD && s->mode == BRC_INDEX_BAG_MAX)
            brc__str_addf(sku, ",argmax>+atomic@%s", arch);
        else
            brc__str_addf(sku, ",owner,rows=%d,vec=%d>@%s", EB_ROWS, det_vec(s->dt), arch);
        return;
    }
    if (s->rows == LAYOUT_STAGE) {
        brc__str_addf(desc, ",layout=stage)");
        brc__str_addf(sku, ",stage");
    } else if (s->rows == LAYOUT_BAND) {
        brc__str_addf(desc, ",layout=band)");
        brc__str_addf(sku, ",band,tile=%dx%d", BAND_ROWS, BAND_COLS);
    } else if (s->rows) {
        const char *ln = s->rows == LAYOUT_SORTED ? "sorted" : "rows";
        brc__str_addf(desc, ",layout=%s,vec=%d,tpr=%d)", ln, s->vec, s->tpr);
        brc__str_addf(sku, ",%s,vec=%d,tpr=%d", ln, s->vec, s->tpr);
    } else {
        brc__str_addf(desc, ",layout=generic,ix=%d)", s->ix64 ? 64 : 32);
        brc__str_addf(sku, ",generic,ix=%d", s->ix64 ? 64 : 32);
    }
    brc__str_addf(sku, ">%s@%s", spec_deterministic(s) ? "" : "+atomic", arch);
}

/* ---- kernels ---------------------------------------------------------------------------------------- */

typedef struct snip_arg {
    const ix_unit *u;
    brc_dtype dt, it;
} snip_arg;

/* Units that move values without looking at them: their T is an integer of the element size. */
static bool is_copy(const ix_unit *u) {
    return u->op == OP_GATHER || u->op == OP_STORE || u->op == OP_ZERO ||
           ((u->op == OP_CP_COUNT || u->op == OP_CP_SCAN || u->op == OP_CP_WRITE) && u->red == 0) ||
           (u->op == OP_INDEX_PUT && u->red == 0);
}
static brc_dtype unit_dt(const ix_unit *u, brc_dtype dt) { return u->dt_ovr ? (brc_dtype)(u->dt_ovr - 1) : dt; }
static brc_dtype unit_it(const ix_unit *u, brc_dtype it) { return u->it_ovr ? (brc_dtype)(u->it_ovr - 1) : it; }

static void make_snippet(brc__str *s, const void *arg) {
    const snip_arg *sa = arg;
    const ix_unit *u = sa->u;
    const char *t = is_copy(u) ? bits_type(brc_dtype_size(sa->dt)) : real_type(sa->dt);
    const char *it = u->op == OP_MASKED_FILL ? "u8" : u->op == OP_ZERO ? "i64" : real_type(sa->it);
    brc__str_addf(s,
                  "struct brc_ix {\n  typedef %s T;\n  typedef %s IT;\n  typedef %s I;\n"
                  "  enum { OP = %d, RED = %d, ROWS = %d, VEC = %d, TPR = %d };\n};\n"
                  "__global__ void __launch_bounds__(%d)\n"
                  "brc_index_kernel(brc::ix_args a) { brc::index_main<brc_ix>(a); }\n",
                  t, it, u->ix64 ? "i64" : "i32", u->op, u->red, u->rows, u->vec, u->tpr, THREADS);
}

static brc_status get_kernel(brc_context *ctx, ix_unit *u, brc_dtype dt, brc_dtype it, const char *desc) {
    static const char *const sources[] = {"prelude.cuh", "indexing.cuh", NULL};
    dt = unit_dt(u, dt), it = unit_it(u, it);
    int64_t tcode = is_copy(u) ? 100 + (int64_t)brc_dtype_size(dt) : (int64_t)dt;
    int64_t icode = u->op == OP_MASKED_FILL || u->op == OP_ZERO ? -1 : (int64_t)it;
    snip_arg sa = {u, dt, it};
    brc__kernel_req req = {.template_name = "index", .sources = sources, .nspec = 8,
                           .spec = {u->op, tcode, icode, u->red, u->rows, u->vec, u->tpr, u->ix64},
                           .make_snippet = make_snippet, .snippet_arg = &sa, .name_expr = "brc_index_kernel",
                           .descriptor = desc};
    const brc__kernel *k = NULL;
    brc_status st = brc__jit_get(ctx, &req, &k);
    if (!st && ctx->device >= 0) st = brc__jit_function(ctx, k, &u->fn);
    return st;
}

/* ---- the walk: iteration space and the strides of P, Q, K ---------------------------------------- */

typedef struct walk {
    int rank;
    int64_t shape[BRC_MAX_RANK];
    int64_t str[3][BRC_MAX_RANK]; /* P, Q, K */
    bool use[3];
    bool keep_last; /* one_hot: the innermost dim stays its own (its coordinate is the class) */
} walk;

/* Merges the walk's dims into u->a (shape, strides, nd, n). */
static void merge(const walk *w, ix_unit *u) {
    ix_args *a = &u->a;
    int nd = 0;
    a->n = 1;
    for (int d = 0; d < w->rank; d++) {
        int64_t sz = w->shape[d];
        a->n *= sz;
        bool last = w->keep_last && d == w->rank - 1;
        if (sz == 1 && !last) continue;
        bool m = nd > 0 && !last;
        for (int o = 0; m && o < 3; o++) {
            int64_t prod;
            if (w->use[o] && (__builtin_mul_overflow(w->str[o][d], sz, &prod) || a->str[o][nd - 1] != prod)) m = false;
        }
        if (m) {
            a->shape[nd - 1] *= sz;
            for (int o = 0; o < 3; o++) a->str[o][nd - 1] = w->use[o] ? w->str[o][d] : 0;
        } else {
            a->shape[nd] = sz;
            for (int o = 0; o < 3; o++) a->str[o][nd] = w->use[o] ? w->str[o][d] : 0;
            nd++;
        }
    }
    a->nd = nd;
}

/* Largest |offset| an operand reaches over the merged space. */
static int64_t extent(const ix_args *a, int o) {
    int64_t e = 0;
    for (int d = 0; d < a->nd; d++) {
        int64_t s = a->str[o][d] < 0 ? -a->str[o][d] : a->str[o][d];
        e += s * (a->shape[d] - 1);
    }
    return e;
}

/* Picks the layout of a unit (rows or generic) from its merged dims. */
static brc_status choose_layout(ix_unit *u, const brc_plan_prefs *prefs, size_t esize, bool q_indexed,
                                const char *fn) {
    ix_args *a = &u->a;
    int nd = (int)a->nd;
    bool rows = nd >= 1 && !prefs->force_strided && a->shape[nd - 1] >= 2 && u->op != OP_ZERO;
    if (rows) {
        if (a->str[0][nd - 1] != 1) rows = false;
        if (u->src_q != PTR_NONE && a->str[1][nd - 1] != 1) rows = false;
        if (u->src_k != PTR_NONE && a->str[2][nd - 1] != 0) rows = false;
    }
    int vmax = (int)(16 / esize);
    if (prefs->vector_width) {
        int f = prefs->vector_width;
        if (f < 1 || f > vmax || (f & (f - 1)))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fn, f,
                              vmax);
        vmax = f;
    }
    /* stage: a gather copy along Q's innermost dim (Q's row contiguous, the same for a whole row of
     * the iteration space) whose row fits in shared memory and is not much longer than the
     * elements gathered from it. */
    if (!rows && nd >= 1 && u->op == OP_GATHER && q_indexed && !prefs->force_strided && !prefs->vector_width &&
        a->str[1][nd - 1] == 0 && a->qi == 1 && a->bound >= 1 && a->bound * (int64_t)esize <= STAGE_MAX_BYTES &&
        a->shape[nd - 1] * 8 >= a->bound) {
        u->rows = LAYOUT_STAGE;
        u->vec = (int)(16 / esize);
        u->tpr = THREADS;
        u->ix64 = 1;
        a->row = a->shape[nd - 1];
        a->rows = a->n / (a->row > 0 ? a->row : 1);
        u->smem = (unsigned)((a->bound * (int64_t)esize + 15) / 16 * 16);
        return BRC_STATUS_OK;
    }
    /* band: a gather copy along the outer of two dims, all three operands unit-stride along the inner
     * one (gather along dim 0 of a matrix): the walk goes by column bands whose part of Q fits L2. */
    if (!rows && nd == 2 && u->op == OP_GATHER && q_indexed && !prefs->force_strided && !prefs->vector_width &&
        a->str[0][1] == 1 && a->str[1][1] == 1 && a->str[2][1] == 1 && a->str[1][0] == 0 && a->skip < 0 &&
        a->shape[1] >= 2) {
        u->rows = LAYOUT_BAND;
        u->vec = 2;
        u->tpr = BAND_COLS / 2;
        u->ix64 = 1;
        a->rows = a->shape[0];
        a->row = a->shape[1];
        int64_t tile_bytes = (a->bound > 0 ? a->bound : 1) * BAND_COLS * (int64_t)esize;
        a->m = BAND_BYTES / tile_bytes > 1 ? BAND_BYTES / tile_bytes : 1;
        return BRC_STATUS_OK;
    }
    if (rows) {
        int vec = vmax;
        while (vec > 1) {
            bool fits = a->shape[nd - 1] % vec == 0 && (!q_indexed || a->qi % vec == 0);
            for (int d = 0; d < nd - 1; d++) {
                fits = fits && a->str[0][d] % vec == 0;
                if (u->src_q != PTR_NONE) fits = fits && a->str[1][d] % vec == 0;
            }
            if (fits) break;
            vec /= 2;
        }
        int64_t cpr = a->shape[nd - 1] / vec;
        u->rows = 1;
        u->vec = vec;
        /* Gather copies keep 4 vectors in flight a thread (ix_rows): a quarter of the row's vectors. */
        int64_t per = u->op == OP_GATHER ? brc__cdiv(cpr, 4) : cpr;
        u->tpr = pow2ceil(per < 256 ? per : 256);
        a->row = a->shape[nd - 1];
        a->rows = a->n / (a->row > 0 ? a->row : 1);
        u->ix64 = 1;
    } else {
        u->rows = 0;
        u->vec = 1;
        u->tpr = 1;
        /* 2^30: the grid-stride loop's e + step must not overflow either. */
        int64_t lim = (int64_t)1 << 30, eq = extent(a, 1);
        if (q_indexed && a->bound > 0) eq += (a->bound - 1) * (a->qi < 0 ? -a->qi : a->qi);
        u->ix64 = !(a->n <= lim && extent(a, 0) <= lim && eq <= lim && extent(a, 2) <= lim);
    }
    return BRC_STATUS_OK;
}

static void unit_grid(ix_unit *u, int sms) {
    int64_t want = u->rows ? brc__cdiv(u->a.rows, THREADS / u->tpr) : brc__cdiv(u->a.n, THREADS);
    int64_t cap = (int64_t)sms * 16;
    if (u->op == OP_EMB_DET || u->op == OP_BAG_DET) want = brc__cdiv(u->a.bound, EB_ROWS), cap = want;
    if (u->op == OP_CP_COUNT || u->op == OP_CP_WRITE) want = u->a.m, cap = want; /* one CTA a tile */
    if (u->op == OP_CP_SCAN) want = u->a.n > 0 ? 1 : 0, cap = 1;
    if (u->op == OP_BAG) want = brc__cdiv(u->a.m, THREADS / u->tpr), cap = (int64_t)sms * 32;
    if (u->rows == LAYOUT_STAGE) { /* a CTA a row; as many CTAs as fit at once (shared memory, 8 an SM) */
        int64_t fit = (int64_t)(228 * 1024) / ((int64_t)u->smem + 1024);
        want = u->a.rows, cap = (int64_t)sms * (fit < 8 ? fit : 8);
    }
    /* Row gathers (index_select, embedding): one pass, a CTA its RPB rows; a grid-stride walk over
     * twice the resident CTAs left 7.76 rows a thread at 131072 rows, the last pass half idle. */
    if (u->rows == LAYOUT_ROWS && u->op == OP_GATHER) cap = INT32_MAX;
    if (u->rows == LAYOUT_BAND)
        want = brc__cdiv(u->a.rows, BAND_ROWS) * brc__cdiv(u->a.row, BAND_COLS), cap = INT32_MAX;
    if (u->op == OP_BAG_COUNT) want = brc__cdiv(u->a.m, THREADS);
    if (u->op == OP_BAG_MAX_BWD) want = brc__cdiv(u->a.m * u->a.row, THREADS);
    u->grid = (unsigned)(want < cap ? want : cap);
}

/* ---- validation ----------------------------------------------------------------------------------- */

static brc_status bad(const char *fn, const char *kn, const char *what) {
    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s", fn, kn, what);
}

static brc_status check_index_dtype(const brc_tensor_desc *t, const char *fn, const char *kn) {
    if (t->dtype != BRC_I32 && t->dtype != BRC_I64)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index has dtype %s (i32 or i64)", fn, kn,
                          brc_dtype_name(t->dtype));
    return BRC_STATUS_OK;
}

static bool reducible(brc_dtype t) { return is_float(t) || t == BRC_I32 || t == BRC_I64; }

/* ---- planning --------------------------------------------------------------------------------------- */

static brc_status finish(brc_context *ctx, const ix_spec *spec, ix_impl *tmpl, brc_plan **out) {
    brc__str desc = {0}, sku = {0};
    spec_strings(spec, ctx->arch, &desc, &sku);
    brc_plan *p = NULL;
    brc_status st;
    if (desc.oom || sku.oom) {
        st = brc__error(BRC_STATUS_OUT_OF_MEMORY, "brc_index_plan: out of memory");
        goto fail;
    }
    if ((st = brc__plan_new(ctx, BRC__FAM_INDEX, &ix_vt, sizeof(ix_impl), &p))) goto fail;
    ix_impl *im = p->impl;
    *im = *tmpl;
    p->workspace = (im->workspace + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
    im->kind = spec->kind;
    im->deterministic = spec_deterministic(spec);
    im->esize = brc_dtype_size(spec->dt);
    int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
    for (int i = 0; i < im->nunits; i++) {
        unit_grid(&im->u[i], sms);
        if ((st = get_kernel(ctx, &im->u[i], spec->dt, spec->it, desc.p))) goto fail;
    }
    brc__plan_publish(p, desc.p, sku.p);
    *out = p;
    return BRC_STATUS_OK;
fail:
    if (p) brc_plan_destroy(p);
    brc__str_free(&desc);
    brc__str_free(&sku);
    return st;
}

/* Fills the spec's layout fields from the main unit. */
static void spec_layout(ix_spec *s, const ix_unit *u) {
    s->rows = u->rows, s->vec = u->vec, s->tpr = u->tpr, s->ix64 = u->ix64;
}

/* ---- the kinds added in 0.3.0: their kernels from the spec, then their arguments ------------------ */

static void unit_none(ix_unit *u) {
    memset(u, 0, sizeof *u);
    u->src_p = u->src_q = u->src_k = PTR_NONE;
    u->vec = u->tpr = 1;
    u->ix64 = 1;
    u->a.skip = -1;
}

/* The units (kernels and pointer sources, no sizes) of masked_select, nonzero, embedding_bag(_backward)
 * and index_put, from the spec alone: brc_index_plan then fills the arguments, the descriptor path
 * leaves them empty. */
static void new_kind_units(const ix_spec *s, ix_impl *im) {
    for (int i = 0; i < IX_MAX_UNITS; i++) unit_none(&im->u[i]);
    ix_unit *u = im->u;
    switch (s->kind) {
    case BRC_INDEX_MASKED_SELECT:
    case BRC_INDEX_NONZERO: {
        int red = s->kind == BRC_INDEX_NONZERO;
        for (int i = 0; i < 3; i++) {
            u[i].op = OP_CP_COUNT + i;
            u[i].red = red;
            u[i].src_c = PTR_WS;
            if (!red) u[i].it_ovr = BRC_U8 + 1;
        }
        u[0].src_k = u[2].src_k = red ? PTR_NONE : PTR_INDEX;
        u[0].src_q = u[2].src_q = PTR_X;
        u[1].src_cnt = PTR_COUNT;
        u[2].src_p = PTR_Y;
        im->nunits = 3;
        break;
    }
    case BRC_INDEX_INDEX_PUT:
        if (s->rows == LAYOUT_SORTED) {
            /* Zero the workspace (list and buckets, as u64), count, scan, place, sum the buckets. */
            u[0].op = OP_ZERO, u[0].src_p = PTR_WS, u[0].dt_ovr = BRC_I64 + 1;
            u[1].op = OP_IP_COUNT, u[3].op = OP_IP_PLACE;
            u[1].src_c = u[3].src_c = PTR_WS;
            u[3].src_a = PTR_WS;
            u[2].op = OP_CP_SCAN, u[2].red = 1, u[2].src_c = PTR_WS;
            u[4].op = OP_IP_SUM, u[4].red = 1;
            u[4].rows = LAYOUT_SORTED, u[4].vec = s->vec, u[4].tpr = s->tpr;
            u[4].src_p = PTR_SRC, u[4].src_q = PTR_Y, u[4].src_c = PTR_WS, u[4].src_a = PTR_WS;
            im->nunits = 5;
            break;
        }
        u->op = OP_INDEX_PUT, u->red = s->accumulate;
        u->rows = s->rows, u->vec = s->vec, u->tpr = s->tpr;
        u->src_p = PTR_SRC, u->src_q = PTR_Y;
        im->nunits = 1;
        break;
    case BRC_INDEX_EMBEDDING_BAG:
        u->op = OP_BAG, u->red = s->mode;
        u->rows = 1, u->vec = s->vec, u->tpr = s->tpr;
        u->src_p = PTR_Y, u->src_q = PTR_X, u->src_k = PTR_INDEX;
        if (s->mode == BRC_INDEX_BAG_MAX) u->src_a = PTR_ARGMAX;
        im->nunits = 1;
        break;
    case BRC_INDEX_EMBEDDING_BAG_BACKWARD:
        if (s->mode == BRC_INDEX_BAG_MAX) {
            u[0].op = OP_ZERO, u[0].src_p = PTR_Y;
            u[1].op = OP_BAG_MAX_BWD, u[1].red = s->mode;
            u[1].src_p = PTR_SRC, u[1].src_q = PTR_Y, u[1].src_a = PTR_ARGMAX;
            im->nunits = 2;
            break;
        }
        im->nunits = 0;
        if (s->mode == BRC_INDEX_BAG_MEAN) {
            u[0].op = OP_BAG_COUNT, u[0].red = s->mode;
            u[0].src_k = PTR_INDEX, u[0].src_w = PTR_WS;
            im->nunits = 1;
        }
        ix_unit *b = &u[im->nunits++];
        b->op = OP_BAG_DET, b->red = s->mode, b->vec = det_vec(s->dt);
        b->src_p = PTR_SRC, b->src_q = PTR_Y, b->src_k = PTR_INDEX;
        if (s->mode == BRC_INDEX_BAG_MEAN) b->src_w = PTR_WS;
        break;
    default: break;
    }
}

/* scatter with reduce mean or exclude_self: around the main unit (already made) come a zero fill of
 * the counts (mean), a fill of the targets with the reduction's identity (exclude_self) and the
 * division (mean). The counts are i32 at y's offsets (shifted by cbase elements so that negative
 * strides stay inside the workspace). */
static void scatter_extra_units(const ix_spec *s, ix_impl *im, const brc_tensor_desc *y, bool sized) {
    ix_unit main = im->u[0];
    bool mean = s->reduce == BRC_INDEX_REDUCE_MEAN;
    int n = 0;
    int64_t cbase = 0, cn = 1;
    if (sized)
        for (int d = 0; d < y->rank; d++) {
            int64_t st = y->strides[d] < 0 ? -y->strides[d] : y->strides[d];
            if (y->shape[d] == 0) cn = 0;
            if (y->strides[d] < 0) cbase += st * (y->shape[d] - 1);
            cn += cn ? st * (y->shape[d] - 1) : 0;
        }
    if (mean) {
        ix_unit *z = &im->u[n++];
        unit_none(z);
        z->op = OP_ZERO, z->dt_ovr = BRC_I32 + 1, z->src_p = PTR_WS;
        if (sized) {
            z->a.nd = 1, z->a.n = cn, z->a.shape[0] = cn, z->a.str[0][0] = 1;
            im->workspace = (size_t)cn * 4;
        }
    }
    if (s->exclude_self) {
        ix_unit *f = &im->u[n++];
        *f = main;
        f->op = OP_FILL_ID, f->rows = 0, f->vec = 1, f->tpr = 1, f->ix64 = 1;
        f->src_p = PTR_NONE;
    }
    ix_unit *r = &im->u[n++];
    *r = main;
    if (mean) r->src_c = PTR_WS, r->off_c = cbase * 4;
    if (mean) {
        ix_unit *f = &im->u[n++];
        unit_none(f);
        f->op = OP_MEAN_FIN, f->red = s->reduce, f->src_p = PTR_Y, f->src_c = PTR_WS, f->off_c = cbase * 4;
        f->a.value = s->exclude_self ? 0.0 : 1.0;
        if (sized) {
            walk w;
            memset(&w, 0, sizeof w);
            w.rank = y->rank;
            for (int d = 0; d < y->rank; d++) w.shape[d] = y->shape[d], w.str[0][d] = w.str[2][d] = y->strides[d];
            w.use[0] = w.use[2] = true;
            merge(&w, f);
        }
    }
    im->nunits = n;
}

/* Largest power-of-two vector (at most 16 bytes) dividing n and every stride in s[0 .. ns). */
static int pick_vec(size_t esize, int64_t n, const int64_t *s, int ns, const brc_plan_prefs *prefs) {
    int vec = (int)(16 / esize);
    if (prefs->vector_width && prefs->vector_width < vec) vec = prefs->vector_width;
    for (; vec > 1; vec /= 2) {
        bool ok = n % vec == 0;
        for (int i = 0; i < ns; i++) ok = ok && s[i] % vec == 0;
        if (ok) break;
    }
    return vec;
}

static bool dense_row_major(const brc_tensor_desc *t) {
    int64_t st = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != st) return false;
        st *= t->shape[d];
    }
    return true;
}

static brc_status check_vector_width(const brc_plan_prefs *prefs, size_t esize, const char *fn) {
    int f = prefs->vector_width, vmax = (int)(16 / esize);
    if (f && (f < 1 || f > vmax || (f & (f - 1))))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: vector_width %d must be a power of two <= %d", fn, f, vmax);
    return BRC_STATUS_OK;
}

static brc_status plan_compact(brc_context *ctx, const brc_index_desc *d, ix_spec *spec, ix_impl *im,
                               brc_plan **out, const char *fn) {
    const char *kn = kind_names[spec->kind];
    bool nz = spec->kind == BRC_INDEX_NONZERO;
    const brc_tensor_desc *x = &d->x, *mk = &d->index, *y = &d->y;
    brc_status st;
    if ((st = brc__operand_check(x, fn, kn, "x", false)) || (!nz && (st = brc__operand_check(mk, fn, kn, "index (mask)", false))) ||
        (st = brc__operand_check(y, fn, kn, "y", true)))
        return st;
    int64_t n = brc_tensor_desc_numel(x);
    if (nz) {
        if (y->dtype != BRC_I32 && y->dtype != BRC_I64)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y has dtype %s (i32 or i64)", fn, kn,
                              brc_dtype_name(y->dtype));
        if (y->rank != 2 || y->shape[1] != x->rank || y->shape[0] < n)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: %s: y must be [n >= numel(x) = %lld, rank(x) = %d] (the worst case)", fn, kn,
                              (long long)n, x->rank);
        spec->dt = x->dtype, spec->it = y->dtype;
    } else {
        if (mk->dtype != BRC_U8 && mk->dtype != BRC_BOOL)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: the mask (index) has dtype %s (u8 or bool)", fn,
                              kn, brc_dtype_name(mk->dtype));
        if (mk->rank != x->rank) return bad(fn, kn, "x and the mask differ in rank");
        for (int dd = 0; dd < x->rank; dd++)
            if (mk->shape[dd] != x->shape[dd])
                return bad(fn, kn, "x and the mask differ in shape (broadcast the mask with stride 0)");
        if (y->rank != 1 || y->shape[0] < n)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y must have rank 1 and >= numel(x) = %lld elements",
                              fn, kn, (long long)n);
        if (y->dtype != x->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has dtype %s, y has %s", fn, kn,
                              brc_dtype_name(x->dtype), brc_dtype_name(y->dtype));
        spec->dt = x->dtype, spec->it = BRC_U8;
    }
    new_kind_units(spec, im);
    int64_t tiles = brc__cdiv(n, CP_TILE);
    ix_args a;
    memset(&a, 0, sizeof a);
    if (nz) {
        a.nd = x->rank;
        for (int dd = 0; dd < x->rank; dd++) a.shape[dd] = x->shape[dd], a.str[1][dd] = x->strides[dd];
        a.qi = y->strides[0], a.row = y->strides[1];
        im->contig = dense_row_major(x);
    } else {
        walk w;
        memset(&w, 0, sizeof w);
        w.rank = x->rank;
        for (int dd = 0; dd < x->rank; dd++)
            w.shape[dd] = x->shape[dd], w.str[1][dd] = x->strides[dd], w.str[2][dd] = mk->strides[dd];
        w.use[1] = w.use[2] = true;
        ix_unit tmp;
        memset(&tmp, 0, sizeof tmp);
        merge(&w, &tmp);
        a = tmp.a;
        a.row = y->strides[0];
        im->contig = a.nd == 0 || (a.nd == 1 && a.str[2][0] == 1 && a.str[1][0] == 1);
    }
    a.n = n, a.m = tiles, a.skip = -1;
    for (int i = 0; i < 3; i++) im->u[i].a = a;
    im->u[1].a.n = 1; /* the scan always runs: it writes the count, 0 for an empty x */
    im->workspace = (size_t)(tiles > 0 ? tiles : 1) * 8;
    return finish(ctx, spec, im, out);
}

static brc_status plan_index_put(brc_context *ctx, const brc_index_desc *d, const brc_plan_prefs *prefs, ix_spec *spec,
                                 ix_impl *im, brc_plan **out, const char *fn) {
    const char *kn = kind_names[spec->kind];
    const brc_tensor_desc *y = &d->y, *src = &d->src;
    brc_status st;
    if ((st = brc__operand_check(y, fn, kn, "y", true)) || (st = brc__operand_check(src, fn, kn, "src", false))) return st;
    int r = y->rank, m = d->nindices;
    if (r < 1) return bad(fn, kn, "y has rank 0 (nothing to index)");
    if (m < 1 || m > BRC_INDEX_MAX_INDICES || m > r)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: nindices = %d must be in [1, min(%d, rank(y) = %d)]",
                          fn, kn, m, BRC_INDEX_MAX_INDICES, r);
    if (d->accumulate != 0 && d->accumulate != 1) return bad(fn, kn, "accumulate must be 0 or 1");
    const brc_tensor_desc *k0 = &d->indices[0];
    int nb = k0->rank;
    for (int j = 0; j < m; j++) {
        const brc_tensor_desc *k = &d->indices[j];
        char name[24];
        snprintf(name, sizeof name, "indices[%d]", j);
        if ((st = brc__operand_check(k, fn, kn, name, false)) || (st = check_index_dtype(k, fn, kn))) return st;
        if (k->dtype != k0->dtype || k->rank != nb)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: %s: indices[%d] differs from indices[0] in dtype or rank (broadcast them with "
                              "stride 0 to one shape)", fn, kn, j);
        for (int dd = 0; dd < nb; dd++)
            if (k->shape[dd] != k0->shape[dd])
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "%s: %s: indices[%d].shape[%d] = %lld, indices[0] has %lld (broadcast with stride 0)",
                                  fn, kn, j, dd, (long long)k->shape[dd], (long long)k0->shape[dd]);
    }
    int nt = r - m;
    if (src->rank != nb + nt)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: src has rank %d, %d expected (the indices' %d + y's %d "
                          "trailing dims)", fn, kn, src->rank, nb + nt, nb, nt);
    for (int dd = 0; dd < nb + nt; dd++) {
        int64_t want = dd < nb ? k0->shape[dd] : y->shape[m + dd - nb];
        if (src->shape[dd] != want)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: src.shape[%d] = %lld, %lld expected (broadcast "
                              "with stride 0)", fn, kn, dd, (long long)src->shape[dd], (long long)want);
    }
    if (src->dtype != y->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: src has dtype %s, y has %s", fn, kn,
                          brc_dtype_name(src->dtype), brc_dtype_name(y->dtype));
    if (d->accumulate && !reducible(y->dtype))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s cannot be accumulated (f32 f64 f16 bf16 i32 i64)",
                          fn, kn, brc_dtype_name(y->dtype));
    if ((st = check_vector_width(prefs, brc_dtype_size(y->dtype), fn))) return st;
    spec->dt = y->dtype, spec->it = k0->dtype, spec->accumulate = d->accumulate;
    /* The tail: y's dims after the indexed ones, merged with src's. */
    ix_unit tu;
    memset(&tu, 0, sizeof tu);
    walk w;
    memset(&w, 0, sizeof w);
    w.rank = nt;
    for (int dd = 0; dd < nt; dd++)
        w.shape[dd] = y->shape[m + dd], w.str[0][dd] = src->strides[nb + dd], w.str[1][dd] = y->strides[m + dd];
    w.use[0] = w.use[1] = true;
    merge(&w, &tu);
    ix_args a = tu.a;
    a.row = a.n; /* tail elements */
    a.rows = 1;
    for (int dd = 0; dd < nb; dd++) {
        a.rows *= k0->shape[dd];
        a.bshape[dd] = k0->shape[dd];
        a.bstr[0][dd] = src->strides[dd];
        for (int j = 0; j < m; j++) a.bstr[1 + j][dd] = d->indices[j].strides[dd];
    }
    a.nb = nb, a.m = m;
    for (int j = 0; j < m; j++) a.kb[j] = y->shape[j], a.kq[j] = y->strides[j];
    a.n = a.rows * a.row;
    a.skip = -1;
    bool rows = !prefs->force_strided && a.nd == 1 && a.shape[0] >= 2 && a.str[0][0] == 1 && a.str[1][0] == 1;
    spec->rows = rows, spec->vec = 1, spec->tpr = 1, spec->ix64 = 1;
    if (rows) {
        int64_t sv[12];
        int ns = 0;
        for (int dd = 0; dd < nb; dd++) sv[ns++] = a.bstr[0][dd];
        for (int j = 0; j < m; j++) sv[ns++] = a.kq[j];
        spec->vec = pick_vec(brc_dtype_size(y->dtype), a.row, sv, ns, prefs);
        int64_t cpr = a.row / spec->vec;
        spec->tpr = pow2ceil(cpr < 256 ? cpr : 256);
    }
    /* f32 accumulate of rows: a counting sort of the positions by target (R buckets, the product of
     * the indexed dims) and one read-modify-write of each touched row, when R is not much larger
     * than the positions (the buckets are zeroed and scanned). The atomic path measured 0.71x
     * PyTorch on the H100 (docs/indexing.md). */
    int64_t R = 1;
    bool fits = true;
    for (int j = 0; j < m; j++) fits = fits && !__builtin_mul_overflow(R, a.kb[j], &R);
    if (rows && d->accumulate && y->dtype == BRC_F32 && !prefs->vector_width && fits && R <= ((int64_t)1 << 28) &&
        R <= 4 * a.rows + 65536 && a.rows <= ((int64_t)1 << 28))
        spec->rows = LAYOUT_SORTED;
    new_kind_units(spec, im);
    if (spec->rows == LAYOUT_SORTED) {
        /* Workspace: the list (i64 src offsets, one a position), then the R buckets (i64). */
        int64_t N = a.rows, lbytes = N * 8;
        for (int i = 0; i < 5; i++) im->u[i].a = a;
        ix_args *z = &im->u[0].a;
        memset(z, 0, sizeof *z);
        z->n = N + R, z->nd = 1, z->shape[0] = N + R, z->str[0][0] = 1, z->skip = -1;
        im->u[1].a.n = im->u[3].a.n = N;
        im->u[1].off_c = im->u[3].off_c = im->u[2].off_c = im->u[4].off_c = lbytes;
        im->u[1].nks = im->u[3].nks = m;
        ix_args *sc = &im->u[2].a;
        sc->m = R, sc->n = N > 0 ? 1 : 0;
        ix_args *su = &im->u[4].a;
        su->rows = R, su->n = N > 0 ? R * a.row : 0;
        im->workspace = (size_t)(N + R) * 8;
        return finish(ctx, spec, im, out);
    }
    im->u[0].a = a;
    im->u[0].nks = m;
    return finish(ctx, spec, im, out);
}

/* embedding_bag and its backward: the bag operands (index, offsets, per_sample_weights) and B. */
static brc_status bag_operands(const brc_index_desc *d, const brc_tensor_desc *wt, const char *fn, const char *kn,
                               ix_args *a, int64_t *B) {
    const brc_tensor_desc *ix = &d->index, *of = &d->offsets, *pw = &d->per_sample_weights;
    brc_status st;
    if ((st = brc__operand_check(ix, fn, kn, "index", false)) || (st = check_index_dtype(ix, fn, kn))) return st;
    if (d->mode < 0 || (int)d->mode >= NMODES)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: mode %d is not a bag mode", fn, kn, (int)d->mode);
    if (d->include_last_offset != 0 && d->include_last_offset != 1) return bad(fn, kn, "include_last_offset must be 0 or 1");
    if (d->use_per_sample_weights != 0 && d->use_per_sample_weights != 1)
        return bad(fn, kn, "use_per_sample_weights must be 0 or 1");
    if (d->use_padding_idx != 0 && d->use_padding_idx != 1) return bad(fn, kn, "use_padding_idx must be 0 or 1");
    int64_t V = wt->shape[0];
    if (d->use_padding_idx && (d->padding_idx < 0 || d->padding_idx >= V))
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: padding_idx %lld is outside [0, %lld)", fn, kn,
                          (long long)d->padding_idx, (long long)V);
    if (ix->rank == 2) {
        if (of->rank != 0) return bad(fn, kn, "2-D index takes no offsets (offsets.rank must be 0)");
        *B = ix->shape[0];
        a->nb = ix->shape[1];
        a->npos = ix->shape[0] * ix->shape[1];
        a->bstr[0][0] = ix->strides[0], a->bstr[0][1] = ix->strides[1];
        if (a->nb == 0) a->npos = 0;
    } else if (ix->rank == 1) {
        if ((st = brc__operand_check(of, fn, kn, "offsets", false))) return st;
        if (of->rank != 1 || of->dtype != ix->dtype)
            return bad(fn, kn, "1-D index needs offsets of rank 1 with the index's dtype");
        *B = of->shape[0] - d->include_last_offset;
        if (*B < 0) return bad(fn, kn, "include_last_offset needs at least one offset");
        a->nb = 0;
        a->npos = ix->shape[0];
        a->bstr[0][0] = ix->strides[0];
        a->ostr = of->strides[0];
        a->lastoff = d->include_last_offset;
    } else {
        return bad(fn, kn, "index must have rank 1 (with offsets) or 2 (bags of a fixed size)");
    }
    if (d->use_per_sample_weights) {
        if (d->mode != BRC_INDEX_BAG_SUM) return bad(fn, kn, "per_sample_weights need mode sum");
        if ((st = brc__operand_check(pw, fn, kn, "per_sample_weights", false))) return st;
        if (pw->rank != ix->rank || pw->dtype != wt->dtype) return bad(fn, kn, "per_sample_weights must have the index's shape and the table's dtype");
        for (int dd = 0; dd < ix->rank; dd++) {
            if (pw->shape[dd] != ix->shape[dd])
                return bad(fn, kn, "per_sample_weights must have the index's shape and the table's dtype");
            a->bstr[1][dd] = pw->strides[dd];
        }
    }
    a->m = *B;
    a->bound = V;
    a->skip = d->use_padding_idx ? d->padding_idx : -1;
    if (a->npos > INT32_MAX || *B > INT32_MAX)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: more than 2^31 - 1 positions or bags", fn, kn);
    return BRC_STATUS_OK;
}

static brc_status plan_bag(brc_context *ctx, const brc_index_desc *d, const brc_plan_prefs *prefs, ix_spec *spec,
                           ix_impl *im, brc_plan **out, const char *fn) {
    const char *kn = kind_names[spec->kind];
    bool bwd = spec->kind == BRC_INDEX_EMBEDDING_BAG_BACKWARD;
    const brc_tensor_desc *wt = bwd ? &d->y : &d->x, *rows = bwd ? &d->src : &d->y;
    const char *wn = bwd ? "y (dweight)" : "x (weight)", *rn = bwd ? "src (dy)" : "y";
    brc_status st;
    if ((st = brc__operand_check(wt, fn, kn, wn, bwd)) || (st = brc__operand_check(rows, fn, kn, rn, !bwd))) return st;
    if (wt->rank != 2) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s must have rank 2 [V, D]", fn, kn, wn);
    if (!is_float(wt->dtype))
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s (f32 f64 f16 bf16)", fn, kn,
                          brc_dtype_name(wt->dtype));
    if (rows->dtype != wt->dtype)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has dtype %s, %s has %s", fn, kn, rn,
                          brc_dtype_name(rows->dtype), wn, brc_dtype_name(wt->dtype));
    ix_args a;
    memset(&a, 0, sizeof a);
    int64_t B = 0, D = wt->shape[1];
    if ((st = bag_operands(d, wt, fn, kn, &a, &B))) return st;
    if (rows->rank != 2 || rows->shape[0] != B || rows->shape[1] != D)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s must be [B = %lld, D = %lld]", fn, kn, rn,
                          (long long)B, (long long)D);
    if ((st = check_vector_width(prefs, brc_dtype_size(wt->dtype), fn))) return st;
    spec->dt = wt->dtype, spec->it = d->index.dtype, spec->mode = (int)d->mode;
    a.row = D;
    a.qi = wt->strides[0];
    a.str[1][0] = wt->strides[1];
    a.ystr[0] = rows->strides[0], a.ystr[1] = rows->strides[1];
    bool use_o = d->index.rank == 1, use_w = d->use_per_sample_weights;
    if (!bwd) {
        spec->rows = 1;
        int64_t sv[3] = {wt->strides[0], rows->strides[0], 0};
        bool unit = wt->strides[1] == 1 && rows->strides[1] == 1;
        spec->vec = unit ? pick_vec(brc_dtype_size(wt->dtype), D, sv, 2, prefs) : 1;
        int64_t cpr = D / spec->vec;
        spec->tpr = pow2ceil(cpr < 1 ? 1 : cpr < 256 ? cpr : 256);
        new_kind_units(spec, im);
        ix_unit *u = &im->u[0];
        a.n = B * D;
        u->a = a;
        u->vec_ok = unit;
        if (use_o) u->src_o = PTR_OFFSETS;
        if (use_w) u->src_w = PTR_PSW;
        return finish(ctx, spec, im, out);
    }
    new_kind_units(spec, im);
    if (spec->mode == BRC_INDEX_BAG_MAX) {
        ix_unit *z = &im->u[0], *u = &im->u[1];
        walk wz;
        memset(&wz, 0, sizeof wz);
        wz.rank = 2;
        wz.shape[0] = wt->shape[0], wz.shape[1] = D;
        wz.str[0][0] = wt->strides[0], wz.str[0][1] = wt->strides[1];
        wz.use[0] = true;
        merge(&wz, z);
        a.n = B * D;
        u->a = a;
        return finish(ctx, spec, im, out);
    }
    /* sum / mean: the deterministic owner-rows kernel (and the inverse counts before it). */
    ix_unit *b = &im->u[im->nunits - 1];
    a.rows = a.npos;
    a.n = a.npos * D;
    a.str[0][0] = rows->strides[0], a.str[0][1] = rows->strides[1];
    a.str[1][0] = wt->strides[0], a.str[1][1] = wt->strides[1];
    b->a = a;
    b->vec_ok = rows->strides[1] == 1 && rows->strides[0] % b->vec == 0;
    if (use_o) b->src_o = PTR_OFFSETS;
    if (use_w) b->src_w = PTR_PSW;
    if (spec->mode == BRC_INDEX_BAG_MEAN) {
        ix_unit *c = &im->u[0];
        c->a = a;
        c->a.n = B;
        if (use_o) c->src_o = PTR_OFFSETS;
        im->workspace = (size_t)(B > 0 ? B : 1) * (wt->dtype == BRC_F64 ? 8 : 4);
    }
    return finish(ctx, spec, im, out);
}

brc_status brc_index_plan(brc_context *ctx, const brc_index_desc *d, const brc_plan_prefs *prefs_in, brc_plan **out) {
    static const char *fn = "brc_index_plan";
    brc_status st = brc__plan_start(ctx, d, out, fn);
    if (st) return st;
    const brc_plan_prefs *prefs = brc__prefs_or_default(prefs_in, &st);
    if (!prefs) return st;
    int kind = (int)d->kind;
    if (kind < 0 || kind >= NKINDS)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: kind %d is not an indexing kind", fn, kind);
    const char *kn = kind_names[kind];
    ix_spec spec = {kind, 0, 0, 0, 0, 0, BRC_F32, BRC_I64, 0, 1, 1, 0};
    ix_impl im;
    memset(&im, 0, sizeof im);
    im.nunits = 1;
    ix_unit *u = &im.u[0];
    u->src_p = u->src_q = u->src_k = PTR_NONE;
    u->a.skip = -1;
    switch (kind) {
    case BRC_INDEX_MASKED_SELECT:
    case BRC_INDEX_NONZERO: return plan_compact(ctx, d, &spec, &im, out, fn);
    case BRC_INDEX_INDEX_PUT: return plan_index_put(ctx, d, prefs, &spec, &im, out, fn);
    case BRC_INDEX_EMBEDDING_BAG:
    case BRC_INDEX_EMBEDDING_BAG_BACKWARD: return plan_bag(ctx, d, prefs, &spec, &im, out, fn);
    default: break;
    }
    walk w;
    memset(&w, 0, sizeof w);
    const brc_tensor_desc *x = &d->x, *ix = &d->index, *src = &d->src, *y = &d->y;
    bool q_indexed = true;

    switch (kind) {
    case BRC_INDEX_GATHER:
    case BRC_INDEX_INDEX_SELECT:
    case BRC_INDEX_SCATTER:
    case BRC_INDEX_INDEX_ADD: {
        bool sc = kind == BRC_INDEX_SCATTER || kind == BRC_INDEX_INDEX_ADD;
        bool sel = kind == BRC_INDEX_INDEX_SELECT || kind == BRC_INDEX_INDEX_ADD;
        /* self: the tensor indexed along dim (x, or y for the scatters); other: the one walked
         * in full (y, or src for the scatters). */
        const brc_tensor_desc *self = sc ? y : x, *other = sc ? src : y;
        const char *sname = sc ? "y" : "x", *oname = sc ? "src" : "y";
        if ((st = brc__operand_check(self, fn, kn, sname, sc)) || (st = brc__operand_check(ix, fn, kn, "index", false)) ||
            (st = brc__operand_check(other, fn, kn, oname, !sc)) || (st = check_index_dtype(ix, fn, kn)))
            return st;
        int r = self->rank;
        if (r < 1) return bad(fn, kn, "rank 0 has no dim to index (rank must be >= 1)");
        if (d->dim < -r || d->dim >= r)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: dim %d is out of range for rank %d", fn, kn,
                              d->dim, r);
        int dim = d->dim < 0 ? d->dim + r : d->dim;
        if (other->rank != r)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has rank %d, %s has %d", fn, kn, oname,
                              other->rank, sname, r);
        if (other->dtype != self->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has dtype %s, %s has %s", fn, kn, oname,
                              brc_dtype_name(other->dtype), sname, brc_dtype_name(self->dtype));
        spec.dt = self->dtype;
        spec.it = ix->dtype;
        if (sel) {
            if (ix->rank != 1) return bad(fn, kn, "index must have rank 1");
            for (int dd = 0; dd < r; dd++) {
                int64_t want = dd == dim ? ix->shape[0] : self->shape[dd];
                if (other->shape[dd] != want)
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                      "%s: %s: %s.shape[%d] = %lld, %lld expected (%s)", fn, kn, oname, dd,
                                      (long long)other->shape[dd], (long long)want,
                                      dd == dim ? "the index length" : "as the indexed tensor");
            }
            w.rank = r;
            for (int dd = 0; dd < r; dd++) {
                w.shape[dd] = other->shape[dd];
                w.str[0][dd] = other->strides[dd];
                w.str[1][dd] = dd == dim ? 0 : self->strides[dd];
                w.str[2][dd] = dd == dim ? ix->strides[0] : 0;
            }
        } else {
            if (ix->rank != r)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index has rank %d, %s has %d", fn, kn,
                                  ix->rank, sname, r);
            for (int dd = 0; dd < r; dd++) {
                if (sc ? ix->shape[dd] > other->shape[dd] : ix->shape[dd] != other->shape[dd])
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index.shape[%d] = %lld %s %s.shape[%d] = %lld",
                                      fn, kn, dd, (long long)ix->shape[dd], sc ? "exceeds" : "differs from", oname, dd,
                                      (long long)other->shape[dd]);
                if (dd != dim && ix->shape[dd] > self->shape[dd])
                    return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: index.shape[%d] = %lld exceeds %s.shape[%d] = %lld",
                                      fn, kn, dd, (long long)ix->shape[dd], sname, dd, (long long)self->shape[dd]);
            }
            w.rank = r;
            for (int dd = 0; dd < r; dd++) {
                w.shape[dd] = ix->shape[dd];
                w.str[0][dd] = other->strides[dd];
                w.str[1][dd] = dd == dim ? 0 : self->strides[dd];
                w.str[2][dd] = ix->strides[dd];
            }
        }
        u->a.bound = self->shape[dim];
        u->a.qi = self->strides[dim];
        if (sc) {
            u->src_p = PTR_SRC, u->src_q = PTR_Y;
            int red = kind == BRC_INDEX_INDEX_ADD ? BRC_INDEX_REDUCE_SUM : (int)d->reduce;
            if (red < 0 || red >= NREDUCES)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: reduce %d is not a reduction", fn, kn, red);
            spec.reduce = kind == BRC_INDEX_SCATTER ? red : 0;
            if (red != BRC_INDEX_REDUCE_NONE && !reducible(spec.dt))
                return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s cannot be reduced (f32 f64 f16 bf16 i32 i64)",
                                  fn, kn, brc_dtype_name(spec.dt));
            if (red == BRC_INDEX_REDUCE_MEAN && !is_float(spec.dt))
                return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: reduce mean of dtype %s (f32 f64 f16 bf16)", fn, kn,
                                  brc_dtype_name(spec.dt));
            if (kind == BRC_INDEX_SCATTER) {
                if (d->exclude_self != 0 && d->exclude_self != 1) return bad(fn, kn, "exclude_self must be 0 or 1");
                if (d->exclude_self && red == BRC_INDEX_REDUCE_NONE)
                    return bad(fn, kn, "exclude_self needs a reduction (reduce none stores)");
                spec.exclude_self = d->exclude_self;
            }
            u->op = red == BRC_INDEX_REDUCE_NONE ? OP_STORE : OP_REDUCE;
            u->red = red;
            u->a.value = kind == BRC_INDEX_INDEX_ADD ? d->value : 1.0;
        } else {
            u->src_p = PTR_Y, u->src_q = PTR_X;
            u->op = OP_GATHER;
        }
        u->src_k = PTR_INDEX;
        break;
    }
    case BRC_INDEX_EMBEDDING:
    case BRC_INDEX_EMBEDDING_BACKWARD: {
        bool bwd = kind == BRC_INDEX_EMBEDDING_BACKWARD;
        const brc_tensor_desc *wt = bwd ? y : x, *rows = bwd ? src : y;
        const char *wn = bwd ? "y (dweight)" : "x (weight)", *rn = bwd ? "src (dy)" : "y";
        if ((st = brc__operand_check(wt, fn, kn, wn, bwd)) || (st = brc__operand_check(ix, fn, kn, "index", false)) ||
            (st = brc__operand_check(rows, fn, kn, rn, !bwd)) || (st = check_index_dtype(ix, fn, kn)))
            return st;
        if (wt->rank != 2) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s must have rank 2 [V, D]", fn, kn, wn);
        if (ix->rank > 7) return bad(fn, kn, "index has rank > 7");
        if (rows->rank != ix->rank + 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s must have index's rank + 1 (%d), not %d", fn, kn,
                              rn, ix->rank + 1, rows->rank);
        for (int dd = 0; dd <= ix->rank; dd++) {
            int64_t want = dd < ix->rank ? ix->shape[dd] : wt->shape[1];
            if (rows->shape[dd] != want)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s.shape[%d] = %lld, %lld expected", fn, kn, rn,
                                  dd, (long long)rows->shape[dd], (long long)want);
        }
        if (rows->dtype != wt->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %s has dtype %s, %s has %s", fn, kn, rn,
                              brc_dtype_name(rows->dtype), wn, brc_dtype_name(wt->dtype));
        spec.dt = wt->dtype;
        spec.it = ix->dtype;
        int64_t V = wt->shape[0], D = wt->shape[1];
        w.rank = ix->rank + 1;
        for (int dd = 0; dd < ix->rank; dd++) {
            w.shape[dd] = ix->shape[dd];
            w.str[0][dd] = rows->strides[dd];
            w.str[1][dd] = 0;
            w.str[2][dd] = ix->strides[dd];
        }
        w.shape[ix->rank] = D;
        w.str[0][ix->rank] = rows->strides[ix->rank];
        w.str[1][ix->rank] = wt->strides[1];
        w.str[2][ix->rank] = 0;
        u->a.bound = V;
        u->a.qi = wt->strides[0];
        u->src_k = PTR_INDEX;
        if (!bwd) {
            u->src_p = PTR_Y, u->src_q = PTR_X;
            u->op = OP_GATHER;
            break;
        }
        if (!is_float(spec.dt))
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: dtype %s (f32 f64 f16 bf16)", fn, kn,
                              brc_dtype_name(spec.dt));
        if (d->use_padding_idx != 0 && d->use_padding_idx != 1) return bad(fn, kn, "use_padding_idx must be 0 or 1");
        if (d->atomic != 0 && d->atomic != 1) return bad(fn, kn, "atomic must be 0 or 1");
        if (d->use_padding_idx && (d->padding_idx < 0 || d->padding_idx >= V))
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: padding_idx %lld is outside [0, %lld)", fn, kn,
                              (long long)d->padding_idx, (long long)V);
        spec.atomic = d->atomic;
        int64_t skip = d->use_padding_idx ? d->padding_idx : -1;
        if (!d->atomic) {
            /* The positions: index's dims merged into one (and dy's leading dims with them). */
            int64_t N = 1, ks = 0, rs = 0;
            int nd = 0;
            for (int dd = 0; dd < ix->rank; dd++) {
                N *= ix->shape[dd];
                if (ix->shape[dd] == 1) continue;
                if (nd == 1 && (ks != ix->strides[dd] * ix->shape[dd] || rs != rows->strides[dd] * ix->shape[dd]))
                    return brc__error(BRC_STATUS_UNSUPPORTED,
                                      "%s: %s: the deterministic path needs index and dy's leading dims to merge into "
                                      "one (dense as a group); atomic = 1 takes any strides",
                                      fn, kn);
                ks = ix->strides[dd], rs = rows->strides[dd], nd = 1;
            }
            if (N > INT32_MAX)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: %lld positions (at most 2^31 - 1)", fn, kn,
                                  (long long)N);
            memset(&u->a, 0, sizeof u->a);
            u->op = OP_EMB_DET;
            u->vec = det_vec(spec.dt);
            u->tpr = 1, u->ix64 = 1, u->rows = 0;
            u->src_p = PTR_SRC, u->src_q = PTR_Y, u->src_k = PTR_INDEX;
            u->a.rows = N, u->a.row = D, u->a.bound = V, u->a.skip = skip;
            u->a.str[2][0] = ks;
            u->a.str[0][0] = rs, u->a.str[0][1] = rows->strides[ix->rank];
            u->a.str[1][0] = wt->strides[0], u->a.str[1][1] = wt->strides[1];
            u->a.n = N * D;
            u->vec_ok = rows->strides[ix->rank] == 1 && rs % u->vec == 0;
            return finish(ctx, &spec, &im, out);
        }
        /* Atomic: zero dweight (unit 0, generic, 64-bit), then add dy rows into it (unit 1). */
        ix_unit *z = &im.u[0];
        im.u[1] = *u;
        u = &im.u[1];
        memset(z, 0, sizeof *z);
        z->op = OP_ZERO, z->src_p = PTR_Y, z->src_q = z->src_k = PTR_NONE, z->ix64 = 1, z->vec = 1, z->tpr = 1;
        z->a.skip = -1;
        walk wz;
        memset(&wz, 0, sizeof wz);
        wz.rank = 2;
        wz.shape[0] = V, wz.shape[1] = D;
        wz.str[0][0] = wt->strides[0], wz.str[0][1] = wt->strides[1];
        wz.use[0] = true;
        merge(&wz, z);
        im.nunits = 2;
        u->op = OP_REDUCE, u->red = BRC_INDEX_REDUCE_SUM;
        u->src_p = PTR_SRC, u->src_q = PTR_Y;
        u->a.skip = skip;
        u->a.value = 1.0;
        break;
    }
    case BRC_INDEX_MASKED_FILL: {
        if ((st = brc__operand_check(x, fn, kn, "x", false)) || (st = brc__operand_check(ix, fn, kn, "index (mask)", false)) ||
            (st = brc__operand_check(y, fn, kn, "y", true)))
            return st;
        if (ix->dtype != BRC_U8 && ix->dtype != BRC_BOOL)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: the mask (index) has dtype %s (u8 or bool)", fn, kn,
                              brc_dtype_name(ix->dtype));
        if (x->rank != y->rank || ix->rank != y->rank) return bad(fn, kn, "x, mask and y differ in rank");
        for (int dd = 0; dd < y->rank; dd++)
            if (x->shape[dd] != y->shape[dd] || ix->shape[dd] != y->shape[dd])
                return bad(fn, kn, "x, mask and y differ in shape (broadcast the mask with stride 0)");
        if (x->dtype != y->dtype)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: x has dtype %s, y has %s", fn, kn,
                              brc_dtype_name(x->dtype), brc_dtype_name(y->dtype));
        spec.dt = y->dtype;
        spec.it = BRC_U8;
        w.rank = y->rank;
        for (int dd = 0; dd < y->rank; dd++) {
            w.shape[dd] = y->shape[dd];
            w.str[0][dd] = y->strides[dd];
            w.str[1][dd] = x->strides[dd];
            w.str[2][dd] = ix->strides[dd];
        }
        u->op = OP_MASKED_FILL;
        u->src_p = PTR_Y, u->src_q = PTR_X, u->src_k = PTR_INDEX;
        u->a.value = d->value;
        q_indexed = false;
        bool same = true;
        for (int dd = 0; dd < y->rank; dd++)
            if (y->shape[dd] > 1 && x->strides[dd] != y->strides[dd]) same = false;
        im.y_is_x_ok = same;
        break;
    }
    case BRC_INDEX_ONE_HOT: {
        if ((st = brc__operand_check(ix, fn, kn, "index", false)) || (st = brc__operand_check(y, fn, kn, "y", true)) ||
            (st = check_index_dtype(ix, fn, kn)))
            return st;
        if (ix->rank > 7) return bad(fn, kn, "index has rank > 7");
        if (d->num_classes < 1)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: num_classes = %lld must be >= 1", fn, kn,
                              (long long)d->num_classes);
        if (y->rank != ix->rank + 1) return bad(fn, kn, "y must have index's rank + 1");
        for (int dd = 0; dd <= ix->rank; dd++) {
            int64_t want = dd < ix->rank ? ix->shape[dd] : d->num_classes;
            if (y->shape[dd] != want)
                return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s: y.shape[%d] = %lld, %lld expected", fn, kn, dd,
                                  (long long)y->shape[dd], (long long)want);
        }
        if (y->dtype == BRC_FP8E4M3 || y->dtype == BRC_FP8E5M2)
            return brc__error(BRC_STATUS_UNSUPPORTED, "%s: %s: y has dtype %s (fp8 is not an output of one_hot)", fn,
                              kn, brc_dtype_name(y->dtype));
        spec.dt = y->dtype;
        spec.it = ix->dtype;
        w.rank = y->rank;
        w.keep_last = true;
        for (int dd = 0; dd < y->rank; dd++) {
            w.shape[dd] = y->shape[dd];
            w.str[0][dd] = y->strides[dd];
            w.str[2][dd] = dd < ix->rank ? ix->strides[dd] : 0;
        }
        u->op = OP_ONE_HOT;
        u->src_p = PTR_Y, u->src_k = PTR_INDEX;
        u->a.bound = d->num_classes;
        q_indexed = false;
        break;
    }
    default: break;
    }
    w.use[0] = u->src_p != PTR_NONE;
    w.use[1] = u->src_q != PTR_NONE;
    w.use[2] = u->src_k != PTR_NONE;
    int64_t bound = u->a.bound, qi = u->a.qi, skip = u->a.skip;
    double value = u->a.value;
    merge(&w, u);
    u->a.bound = bound, u->a.qi = qi, u->a.skip = skip, u->a.value = value;
    if ((st = choose_layout(u, prefs, brc_dtype_size(spec.dt), q_indexed, fn))) return st;
    if (kind == BRC_INDEX_MASKED_FILL && u->rows && u->a.str[2][u->a.nd - 1] != 0) u->rows = 0;
    spec_layout(&spec, u);
    if (kind == BRC_INDEX_SCATTER && (spec.reduce == BRC_INDEX_REDUCE_MEAN || spec.exclude_self))
        scatter_extra_units(&spec, &im, y, true);
    return finish(ctx, &spec, &im, out);
}

int brc_index_plan_deterministic(const brc_plan *plan) {
    if (!plan || plan->family != BRC__FAM_INDEX) return -1;
    return ((const ix_impl *)plan->impl)->deterministic;
}

/* ---- rebuilding a plan from its descriptor ------------------------------------------------------ */

/* The descriptor names the kernels exactly, so the plan is made from the spec itself (with an
 * empty iteration space: such a plan compiles and caches its kernels and runs nothing). */
brc_status brc__index_from_desc(brc_context *ctx, brc__desc *d, brc_plan **out) {
    static const char *const layouts[] = {"rows", "generic", "sorted", "stage", "band"};
    int kind = 0, reduce = 0, layout = 1;
    brc_dtype dt = BRC_F32, it = BRC_I64;
    int64_t vec = 1, tpr = 1, ix = 32, atomic = 0;
    brc_status st;
    if ((st = brc__desc_pick(d, "op", kind_names, NKINDS, -1, &kind)) || (st = brc__desc_dtype(d, "dtype", &dt)))
        return st;
    if (has_index_dtype(kind)) {
        if ((st = brc__desc_dtype(d, "index", &it))) return st;
        if (it != BRC_I32 && it != BRC_I64) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "index: %s is not an index dtype (i32, i64)",
                              brc_dtype_name(it));
        }
    }
    int64_t self = 1, accumulate = 0;
    int mode = 0;
    if (kind == BRC_INDEX_SCATTER && ((st = brc__desc_pick(d, "reduce", reduce_names, NREDUCES, 0, &reduce)) ||
                                      (st = brc__desc_int(d, "self", 0, 1, 1, &self))))
        return st;
    if (kind == BRC_INDEX_SCATTER && !self && !reduce) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "self=0 needs a reduction");
    }
    if (kind == BRC_INDEX_INDEX_PUT && (st = brc__desc_int(d, "accumulate", 0, 1, 0, &accumulate))) return st;
    if ((kind == BRC_INDEX_EMBEDDING_BAG || kind == BRC_INDEX_EMBEDDING_BAG_BACKWARD) &&
        (st = brc__desc_pick(d, "mode", mode_names, NMODES, -1, &mode)))
        return st;
    if (kind == BRC_INDEX_EMBEDDING_BACKWARD && (st = brc__desc_int(d, "atomic", 0, 1, 0, &atomic))) return st;
    ix_spec spec = {kind, reduce, (int)atomic, !self, (int)accumulate, mode, dt, it, 0, 1, 1, 0};
    if (kind == BRC_INDEX_MASKED_SELECT) spec.it = BRC_U8;
    if (!fixed_layout(&spec)) {
        if ((st = brc__desc_pick(d, "layout", layouts, 5, -1, &layout))) return st;
        if (layout == 4 && kind != BRC_INDEX_GATHER) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "layout=band is for gather");
        }
        if (layout == 3 && kind != BRC_INDEX_GATHER && kind != BRC_INDEX_INDEX_SELECT && kind != BRC_INDEX_EMBEDDING) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "layout=stage is for gather, index_select and embedding");
        }
        if (layout == 2 && !(kind == BRC_INDEX_INDEX_PUT && accumulate)) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "layout=sorted is for index_put with accumulate=1");
        }
        if (layout == 0 || layout == 2) {
            if ((st = brc__desc_int(d, "vec", 1, 16, 1, &vec)) || (st = brc__desc_int(d, "tpr", 1, 256, 1, &tpr)))
                return st;
            if ((vec & (vec - 1)) || (tpr & (tpr - 1)) || (size_t)vec * brc_dtype_size(dt) > 16) {
                d->err_col = d->family_col;
                return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                                  "vec = %lld and tpr = %lld must be powers of two, vec at most 16 bytes of %s",
                                  (long long)vec, (long long)tpr, brc_dtype_name(dt));
            }
        } else if (layout == 1 && (st = brc__desc_int(d, "ix", 32, 64, 32, &ix))) {
            return st;
        } else if (ix != 32 && ix != 64) {
            d->err_col = d->family_col;
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "ix = %lld must be 32 or 64", (long long)ix);
        }
        static const int layout_of[] = {LAYOUT_ROWS, LAYOUT_GENERIC, LAYOUT_SORTED, LAYOUT_STAGE, LAYOUT_BAND};
        spec.rows = layout_of[layout];
        spec.vec = (int)vec, spec.tpr = (int)tpr, spec.ix64 = ix == 64;
        if (layout == 3) spec.vec = (int)(16 / brc_dtype_size(dt)), spec.tpr = THREADS, spec.ix64 = 1;
        if (layout == 4) spec.vec = 2, spec.tpr = BAND_COLS / 2, spec.ix64 = 1;
    }
    /* The dtype rules of brc_index_plan. */
    bool red = (kind == BRC_INDEX_SCATTER && reduce) || kind == BRC_INDEX_INDEX_ADD ||
               (kind == BRC_INDEX_INDEX_PUT && accumulate);
    bool floats = kind == BRC_INDEX_EMBEDDING_BACKWARD || kind == BRC_INDEX_EMBEDDING_BAG ||
                  kind == BRC_INDEX_EMBEDDING_BAG_BACKWARD || (kind == BRC_INDEX_SCATTER && reduce == BRC_INDEX_REDUCE_MEAN);
    if ((red && !reducible(dt)) || (floats && !is_float(dt)) ||
        (kind == BRC_INDEX_ONE_HOT && (dt == BRC_FP8E4M3 || dt == BRC_FP8E5M2))) {
        d->err_col = d->family_col;
        return brc__error(BRC_STATUS_UNSUPPORTED, "%s: dtype %s is not supported", kind_names[kind], brc_dtype_name(dt));
    }
    ix_impl im;
    memset(&im, 0, sizeof im);
    im.nunits = 1;
    if (kind >= BRC_INDEX_INDEX_PUT) {
        new_kind_units(&spec, &im);
        return finish(ctx, &spec, &im, out);
    }
    ix_unit *u = &im.u[0];
    u->a.skip = -1;
    static const int ops[] = {OP_GATHER, OP_GATHER, OP_GATHER, OP_STORE, OP_REDUCE, OP_REDUCE, OP_MASKED_FILL, OP_ONE_HOT};
    u->op = ops[kind];
    if (kind == BRC_INDEX_SCATTER && reduce) u->op = OP_REDUCE;
    u->red = kind == BRC_INDEX_SCATTER ? reduce : kind == BRC_INDEX_INDEX_ADD || kind == BRC_INDEX_EMBEDDING_BACKWARD;
    u->rows = spec.rows, u->vec = spec.vec, u->tpr = spec.tpr, u->ix64 = spec.ix64;
    if (det_backward(&spec)) {
        u->op = OP_EMB_DET, u->red = 0, u->rows = 0, u->vec = det_vec(dt), u->tpr = 1, u->ix64 = 1;
    } else if (kind == BRC_INDEX_EMBEDDING_BACKWARD) {
        im.u[1] = *u;
        memset(&im.u[0], 0, sizeof im.u[0]);
        im.u[0].op = OP_ZERO, im.u[0].ix64 = 1, im.u[0].vec = 1, im.u[0].tpr = 1;
        im.nunits = 2;
    }
    if (kind == BRC_INDEX_SCATTER && (reduce == BRC_INDEX_REDUCE_MEAN || spec.exclude_self))
        scatter_extra_units(&spec, &im, NULL, false);
    return finish(ctx, &spec, &im, out);
}

/* ---- running ----------------------------------------------------------------------------------------- */

static bool is_compact(int op) { return op == OP_CP_COUNT || op == OP_CP_SCAN || op == OP_CP_WRITE; }

/* The run of both entry points (the plan checked; fn names the caller). */
static brc_status run_units(const brc_plan *plan, const brc_index_args *args, void *workspace, size_t workspace_size,
                            brc_stream stream, const char *fn) {
    if (!args) return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: args is NULL (%s)", fn, plan->descriptor);
    const ix_impl *im = plan->impl;
    const void *ptr[NPTR] = {args->x, args->index, args->src, args->y, workspace, args->count, args->offsets,
                             args->per_sample_weights, args->argmax};
    for (int j = 0; j < BRC_INDEX_MAX_INDICES; j++) ptr[PTR_I0 + j] = args->indices[j];
    const void *y = args->y;
    int32_t *err = args->err;
    if (err && (uintptr_t)err % 4)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: err %p is not aligned to 4 bytes (%s)", fn, (void *)err,
                          plan->descriptor);
    if (args->count && (uintptr_t)args->count % 8)
        return brc__error(BRC_STATUS_MISALIGNED, "%s: count %p is not aligned to 8 bytes (%s)", fn,
                          (void *)args->count, plan->descriptor);
    if (plan->workspace) {
        if (workspace_size < plan->workspace)
            return brc__error(BRC_STATUS_INVALID_ARGUMENT,
                              "%s: workspace of %zu bytes is smaller than the %zu required (%s)", fn, workspace_size,
                              plan->workspace, plan->descriptor);
        if (workspace && (uintptr_t)workspace % WS_ALIGN)
            return brc__error(BRC_STATUS_MISALIGNED, "%s: workspace %p is not aligned to %d bytes (%s)", fn, workspace,
                              WS_ALIGN, plan->descriptor);
    }
    bool used[NPTR];
    memset(used, 0, sizeof used);
    for (int i = 0; i < im->nunits; i++) {
        const ix_unit *u = &im->u[i];
        const int srcs[8] = {u->src_p, u->src_q, u->src_k, u->src_c, u->src_w, u->src_a, u->src_o, u->src_cnt};
        for (int k = 0; k < 8; k++)
            if (srcs[k] > 0 || (k < 3 && srcs[k] == 0)) used[srcs[k]] = true;
        for (int j = 0; j < u->nks; j++) used[PTR_I0 + j] = true;
    }
    for (int o = 0; o < NPTR; o++)
        if (used[o] && !ptr[o])
            return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (%s)", fn, ptr_names[o], plan->descriptor);
    for (int o = 0; o < NPTR; o++) {
        if (!used[o] || o == PTR_Y || ptr[o] != y) continue;
        if (o == PTR_X && im->kind == BRC_INDEX_MASKED_FILL && im->y_is_x_ok) continue;
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: y and %s are one buffer%s (%s)", fn, ptr_names[o],
                          o == PTR_X && im->kind == BRC_INDEX_MASKED_FILL ? " with different strides" : "",
                          plan->descriptor);
    }
    for (int i = 0; i < im->nunits; i++) {
        const ix_unit *u = &im->u[i];
        bool owner = u->op == OP_EMB_DET || u->op == OP_BAG_DET;
        if (u->grid == 0 || u->a.n == 0) {
            if (!owner || u->a.bound == 0 || u->a.row == 0) continue; /* owners write zeros for no positions */
        }
        ix_args a = u->a;
        a.pp = u->src_p >= 0 ? (void *)(uintptr_t)ptr[u->src_p] : NULL;
        a.pq = u->src_q >= 0 ? (void *)(uintptr_t)ptr[u->src_q] : NULL;
        a.pk = u->src_k >= 0 ? ptr[u->src_k] : NULL;
        a.pc = u->src_c > 0 ? (char *)(uintptr_t)ptr[u->src_c] + u->off_c : NULL;
        a.pw = u->src_w > 0 ? (void *)(uintptr_t)ptr[u->src_w] : NULL;
        a.pa = u->src_a > 0 ? (void *)(uintptr_t)ptr[u->src_a] : NULL;
        a.po = u->src_o > 0 ? ptr[u->src_o] : NULL;
        a.pcount = u->src_cnt > 0 ? (void *)(uintptr_t)ptr[u->src_cnt] : NULL;
        for (int j = 0; j < u->nks; j++) a.pks[j] = ptr[PTR_I0 + j];
        a.err = err;
        size_t vb = (size_t)u->vec * im->esize;
        a.aligned = (!a.pp || (uintptr_t)a.pp % vb == 0) && (!a.pq || (uintptr_t)a.pq % vb == 0);
        if (owner) a.aligned = u->vec_ok && (uintptr_t)a.pp % vb == 0;
        if (u->op == OP_BAG) a.aligned = a.aligned && u->vec_ok;
        if (is_compact(u->op)) a.aligned = im->contig; /* here: dense, an element's offset is its index */
        unsigned grid = u->grid;
        if (grid_override && !owner && !is_compact(u->op) && u->op != OP_BAG_COUNT) grid = grid_override;
        void *kargs[1] = {&a};
        CUresult r =
            brc__cu()->cuLaunchKernel(u->fn, grid, 1, 1, THREADS, 1, 1, u->smem, (CUstream)stream, kargs, NULL);
        if (r != CUDA_SUCCESS)
            return brc__error(BRC_STATUS_CUDA_ERROR, "cuLaunchKernel: %s (%s)", brc__cu_errname(r), plan->descriptor);
    }
    return BRC_STATUS_OK;
}

brc_status brc_index_run_args(const brc_plan *plan, const brc_index_args *args, void *workspace, size_t workspace_size,
                              brc_stream stream) {
    static const char *fn = "brc_index_run_args";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_INDEX, fn);
    if (st) return st;
    return run_units(plan, args, workspace, workspace_size, stream, fn);
}

brc_status brc_index_run(const brc_plan *plan, const void *x, const void *index, const void *src, void *y,
                         int32_t *err, brc_stream stream) {
    static const char *fn = "brc_index_run";
    brc__error_clear();
    brc_status st = brc__plan_check_run(plan, BRC__FAM_INDEX, fn);
    if (st) return st;
    const ix_impl *im = plan->impl;
    bool more = plan->workspace > 0;
    for (int i = 0; i < im->nunits; i++) {
        const ix_unit *u = &im->u[i];
        more = more || u->src_c || u->src_w || u->src_a || u->src_o || u->src_cnt || u->nks;
    }
    if (more)
        return brc__error(BRC_STATUS_INVALID_ARGUMENT, "%s: this plan takes more operands or a workspace: run it with "
                          "brc_index_run_args (%s)", fn, plan->descriptor);
    brc_index_args a;
    memset(&a, 0, sizeof a);
    a.x = x, a.index = index, a.src = src, a.y = y, a.err = err;
    return run_units(plan, &a, NULL, 0, stream, fn);
}
