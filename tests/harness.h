/* Test harness shared by the Check suites: the backend under test (KVP_TEST_BACKEND, default
 * cpu) and a CPU reference context, seeded random data, comparisons. A backend without a device
 * makes the suite exit 77 (meson: SKIP). */
#ifndef KVP_TEST_HARNESS_H
#define KVP_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "kvpress/kvpress.h"

typedef struct harness {
    const char *backend;   /* "cpu", "opencl", "vulkan", "cuda" */
    kvp_context *ctx;      /* the device under test */
    kvp_context *ref;      /* the CPU reference */
} harness;

extern harness H;

/* Opens H for the backend named by KVP_TEST_BACKEND; exits 77 when it has no device. */
void harness_init(void);
void harness_done(void);
/* Runs a Check suite with the fork mode GPU runtimes need (no fork), returns the exit code. */
int harness_run(Suite *s);

/* Deterministic random numbers: the seed is a hash of the case name. */
typedef struct rng {
    uint64_t s;
} rng;
rng rng_for(const char *name, int variant);
uint64_t rng_u64(rng *r);
float rng_uniform(rng *r, float lo, float hi);
float rng_normal(rng *r);
int rng_int(rng *r, int lo, int hi); /* [lo, hi] */
void fill_normal(rng *r, float *x, size_t n, float scale);
void fill_uniform(rng *r, float *x, size_t n, float lo, float hi);

/* Host data in a given dtype (f32 values rounded), freshly allocated. */
void *to_dtype(const float *x, size_t n, kvp_dtype dt);

/* Normalised mean squared error sum (a-b)^2 / sum b^2 (0 when both are 0), NaN when the
 * NaN/Inf patterns differ. */
double nmse(const float *a, const float *b, size_t n);

/* A checksum of everything observable in a cache: lengths, keys, values and positions of every
 * head of every layer. */
uint64_t cache_checksum(const kvp_cache *cache);

/* ---- Artefacts, built with the safetensors writer kvpress-tool ships (tools/safetensors.h).
 * Suites that add tensors one at a time use that writer directly, then st_load. */

/* A float32 tensor for st_artefact; the data is copied by the call. */
typedef struct st_tensor {
    const char *name;
    int ndim; /* 1 to 4 */
    int64_t shape[4];
    const float *data;
} st_tensor;

/* The n tensors (in that order) and the metadata `meta` (key, value, key, value, ..., NULL; or
 * NULL for none) loaded as an artefact. The test fails on any error. */
kvp_artefact *st_artefact(const st_tensor *t, int n, const char *const *meta);
struct st_writer;
/* The writer's file loaded as an artefact; the test fails on error. */
kvp_artefact *st_load(const struct st_writer *w);

#define CK_OK(expr)                                                                          \
    do {                                                                                     \
        kvp_status st_ = (expr);                                                             \
        ck_assert_msg(st_ == KVP_OK, "%s -> %s: %s", #expr, kvp_status_name(st_),            \
                      kvp_context_last_error(H.ctx)[0] ? kvp_context_last_error(H.ctx)       \
                                                       : kvp_last_error());                  \
    } while (0)

#endif
