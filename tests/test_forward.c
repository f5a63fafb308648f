/*
 * The presses that run the model through the engine (kvp_forward) and the presses that select
 * across layers (kvp_compress_all): calls the press kind does not take, missing or failing
 * engines, and bad input of each such press. Every refused call leaves the cache exactly as it
 * was (checksum of lengths, keys, values and positions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { HK = 2, HQ = 4, D = 16, N = 64, LAYERS = 3 };

typedef struct fixture {
    kvp_cache *cache;
    kvp_inputs *in;
    float keys[HK * N * D], values[HK * N * D], queries[HQ * N * D];
} fixture;

static fixture F;

/* Every layer holds the same N tokens. */
static void setup(void) {
    rng r = rng_for("forward-fixture", 0);
    fill_normal(&r, F.keys, HK * N * D, 1.0f);
    fill_normal(&r, F.values, HK * N * D, 1.0f);
    fill_normal(&r, F.queries, HQ * N * D, 1.0f);
    kvp_cache_options o = {.n_layers = LAYERS, .n_kv_heads = HK, .head_dim = D,
                           .capacity = N + 8, .dtype = KVP_DTYPE_F32};
    CK_OK(kvp_cache_create(H.ctx, &o, &F.cache));
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, F.values, 3, HK, N, D);
    for (int l = 0; l < LAYERS; l++) CK_OK(kvp_cache_append(F.cache, l, &k, &v, 0));
    CK_OK(kvp_inputs_create(H.ctx, &F.in));
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, D);
    CK_OK(kvp_inputs_set_queries(F.in, &q, 0));
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    CK_OK(kvp_inputs_set_rope(F.in, &rope));
}

static void teardown(void) {
    kvp_inputs_destroy(F.in);
    kvp_cache_destroy(F.cache);
    memset(&F, 0, sizeof F);
}

static kvp_press *press(const char *spec) {
    kvp_press *p = NULL;
    kvp_status st = kvp_press_parse(spec, &p);
    ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_last_error());
    return p;
}

/* An engine that refuses every pass. */
static kvp_status failing_run(void *user, const kvp_forward_pass *pass, char *err, size_t size) {
    (void)user;
    (void)pass;
    snprintf(err, size, "the test engine refuses every pass");
    return KVP_ERR_UNSUPPORTED;
}

START_TEST(test_wrong_calls) {
    uint64_t before = cache_checksum(F.cache);
    kvp_press *knorm = press("knorm(compression_ratio=0.5)");
    kvp_forward fwd;
    memset(&fwd, 0, sizeof fwd);
    fwd.run = failing_run;
    /* a per-layer press is refused by kvp_compress_all and by kvp_press_calibrate */
    ck_assert_int_eq(kvp_compress_all(H.ctx, knorm, F.cache, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "layer by layer") != NULL);
    int32_t ids[4] = {1, 2, 3, 4};
    const int32_t *samples[1] = {ids};
    int64_t lengths[1] = {4};
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, knorm, &fwd, samples, lengths, 1),
                     KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "does not calibrate") != NULL);
    /* NULL arguments */
    ck_assert_int_eq(kvp_compress_all(NULL, knorm, F.cache, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_compress_all(H.ctx, NULL, F.cache, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_compress_all(H.ctx, knorm, NULL, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, NULL, &fwd, samples, lengths, 1),
                     KVP_ERR_INVALID_ARG);
    ck_assert_uint_eq(cache_checksum(F.cache), before);
    kvp_press_destroy(knorm);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_wrong_calls);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
