/* Shared test helpers: temporary cache directories, the driver/device probe for GPU tests,
 * float64 references for the conversions, and random data. */
#ifndef BRC_TESTUTIL_H
#define BRC_TESTUTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

/* A fresh empty directory under /tmp; BARACUDA_CACHE_DIR points at it and the store is reset. */
const char *tu_fresh_cache(void);
/* Creates a context on device 0 or skips the test (cr_skip_test) with the reason. */
brc_context *tu_device_or_skip(void);
/* What the test wrote on stderr so far (its .init must be cr_redirect_stderr), NUL-terminated. */
const char *tu_stderr_text(void);
/* Writes text to path (replacing it) or fails the test. */
void tu_write_file(const char *path, const char *text);
/* Offline context for arch or fails the test. */
brc_context *tu_offline(const char *arch);

/* A host array and a device array of n elements of t (the device one padded by 256 bytes, for
 * misaligned views); the GPU tests' buffers. */
typedef struct tu_buf {
    brc_dtype t;
    size_t n; /* elements */
    unsigned char *h;
    CUdeviceptr d;
} tu_buf;
tu_buf tu_buf_new(brc_dtype t, size_t n);
void tu_buf_free(tu_buf *b);
void tu_buf_upload(tu_buf *b);
void tu_buf_download(tu_buf *b);
/* Element i of the host array, decoded to double. */
double tu_buf_at(const tu_buf *b, size_t i);
/* A [rows, cols] descriptor with row stride `stride` (elements). */
brc_tensor_desc tu_mat(brc_dtype t, int64_t rows, int64_t cols, int64_t stride);

/* Philox4x32-10 (Salmon et al., SC'11), written from the paper: ten rounds, the key bumped by the
 * Weyl constants after each. The host model of random.h's and attention.h's dropout bits. */
void tu_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Checks tu_philox against Random123's known answers (counter, key, result). */
void tu_philox_known_answers(void);

/* Host tests of the families' descriptors and validation. */
/* Rebuilds p from its descriptor: the same descriptor and SKU (the same kernels). Destroys p. */
void tu_round_trip(brc_context *ctx, brc_plan *p);
/* A stream whose work between tu_capture_begin and tu_capture_end becomes an instantiated CUDA graph
 * (flags: cuStreamCreate's); tu_capture_replay launches it and waits for it on that stream. */
typedef struct tu_capture {
    CUstream s;
    CUgraph g;
    CUgraphExec ge;
} tu_capture;
tu_capture tu_capture_begin(unsigned flags);
void tu_capture_end(tu_capture *c);
void tu_capture_replay(const tu_capture *c);
void tu_capture_free(tu_capture *c);
/* A plan call failed with status want, a message containing needle, and no plan. */
void tu_expect_fail(brc_status got, brc_status want, const char *needle, brc_plan *p);
/* A descriptor that must be refused: its status and a piece of its message. */
typedef struct tu_bad_desc {
    const char *text;
    brc_status st;
    const char *msg;
} tu_bad_desc;
/* Each text is refused with its status, a message naming the column first, and no plan. */
void tu_expect_bad_descriptors(brc_context *ctx, const tu_bad_desc *cases, size_t n);

/* A contiguous 1-D unary descriptor of n elements (x and y alike). */
brc_unary_desc tu_unary(brc_unary_kind kind, brc_dtype t, int64_t n);

/* Deterministic random numbers (splitmix64). */
uint64_t tu_rand(uint64_t *s);
double tu_uniform(uint64_t *s, double lo, double hi);

/* Host float64 models of the storage formats (independent of the device code). */
double tu_decode(brc_dtype t, const void *p);       /* storage -> double */
void tu_encode(brc_dtype t, double v, void *p);     /* double -> storage, the library's cast rules */
uint16_t tu_f32_to_bf16(float f);
uint16_t tu_f32_to_f16(float f);
uint8_t tu_f32_to_fp8(brc_dtype t, float f);
double tu_fp8_value(brc_dtype t, uint8_t code);

/* References the kind tables name. */
double brc_ref_erfinv(double x);
double brc_ref_digamma(double x);
double brc_ref_clamp(double x, double lo, double hi);
double brc_ref_maxn(double x, double y);
double brc_ref_minn(double x, double y);
double brc_ref_remainder(double x, double y);
double brc_ref_nextafter(double x, double y);

#endif
