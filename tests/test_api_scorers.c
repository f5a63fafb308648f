/*
 * Bad input of the presses of issue 5 on the backend under test: every bad call returns the
 * expected status with a message and leaves the cache exactly as it was (checksum of lengths,
 * keys, values and positions) — missing inputs and artefacts, windows and sinks not smaller
 * than the sequence, inputs of the wrong shape, malformed or mismatched artefacts, bad
 * parameters, and a simulated allocation failure at every allocation point.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "harness.h"

enum { HK = 2, HQ = 4, D = 16, N = 64, HID = 24, LAYERS = 2 };

typedef struct fixture {
    kvp_cache *cache;
    kvp_inputs *in; /* queries, RoPE and hidden states of the N tokens */
    float keys[HK * N * D], values[HK * N * D], queries[HQ * N * D], hidden[N * HID];
} fixture;

static fixture F;

static void setup(void) {
    rng r = rng_for("api-scorers", 0);
    fill_normal(&r, F.keys, HK * N * D, 1.0f);
    fill_normal(&r, F.values, HK * N * D, 1.0f);
    fill_normal(&r, F.queries, HQ * N * D, 1.0f);
    fill_normal(&r, F.hidden, N * HID, 1.0f);
    kvp_cache_options o = {.n_layers = LAYERS, .n_kv_heads = HK, .head_dim = D, .capacity = N + 8,
                           .dtype = KVP_DTYPE_F32};
    CK_OK(kvp_cache_create(H.ctx, &o, &F.cache));
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, F.values, 3, HK, N, D);
    CK_OK(kvp_cache_append(F.cache, 0, &k, &v, 0));
    CK_OK(kvp_inputs_create(H.ctx, &F.in));
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, D);
    CK_OK(kvp_inputs_set_queries(F.in, &q, 0));
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    CK_OK(kvp_inputs_set_rope(F.in, &rope));
    kvp_tensor h = kvp_tensor_host(KVP_DTYPE_F32, F.hidden, 2, N, HID, 1);
    CK_OK(kvp_inputs_set_hidden(F.in, &h, 0));
}

static void teardown(void) {
    kvp_inputs_destroy(F.in);
    kvp_cache_destroy(F.cache);
    memset(&F, 0, sizeof F);
}

/* ---- artefacts in the published layouts, right or deliberately wrong ---------------------- */

static float ones[LAYERS * HQ * D * D * 4];

static void ones_init(void) {
    for (size_t i = 0; i < sizeof ones / sizeof *ones; i++) ones[i] = (i % 7) * 0.1f;
}

static kvp_artefact *stats_artefact(int layers, int heads, int d, const char *const *metadata) {
    st_tensor t[] = {{"query_mean", 3, {layers, heads, d}, ones},
                     {"query_cov", 4, {layers, heads, d, d}, ones}};
    return st_artefact(t, 2, metadata);
}

static kvp_artefact *filters_artefact(int layers, int hk, int d) {
    st_tensor t[] = {{"q_filters", 3, {layers, hk, d}, ones}};
    return st_artefact(t, 1, NULL);
}

static kvp_artefact *kvzap_linear(int layers, int out, int in) {
    static char names[8][32];
    st_tensor t[8];
    for (int l = 0; l < layers; l++) {
        snprintf(names[2 * l], 32, "layers.%d.weight", l);
        snprintf(names[2 * l + 1], 32, "layers.%d.bias", l);
        t[2 * l] = (st_tensor){names[2 * l], 2, {out, in}, ones};
        t[2 * l + 1] = (st_tensor){names[2 * l + 1], 1, {out}, ones};
    }
    return st_artefact(t, 2 * layers, NULL);
}

/* Runs kvp_compress and expects `want`, a message, and an untouched cache. */
static void expect_fails(const char *spec, kvp_artefact *art, const kvp_inputs *in, int layer,
                         kvp_status want) {
    kvp_press *p = NULL;
    kvp_status st = kvp_press_parse(spec, &p);
    ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_last_error());
    if (art) CK_OK(kvp_press_set_artefact(p, art));
    uint64_t before = cache_checksum(F.cache);
    H.ctx->error[0] = 0;
    st = kvp_compress(H.ctx, p, F.cache, layer, in);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", spec, kvp_status_name(st),
                  kvp_context_last_error(H.ctx), kvp_status_name(want));
    ck_assert_msg(kvp_context_last_error(H.ctx)[0] != 0, "%s: no error message", spec);
    ck_assert_msg(cache_checksum(F.cache) == before, "%s: the cache changed", spec);
    kvp_press_destroy(p);
}

/* kvp_press_set_artefact refuses it with a message. */
static void expect_artefact_refused(const char *spec, kvp_artefact *art) {
    kvp_press *p;
    CK_OK(kvp_press_parse(spec, &p));
    ck_assert_int_eq(kvp_press_set_artefact(p, art), KVP_ERR_INVALID_ARG);
    ck_assert_msg(kvp_last_error()[0] != 0, "%s: no message", spec);
    kvp_press_destroy(p);
    kvp_artefact_destroy(art);
}

START_TEST(test_missing_inputs) {
    kvp_inputs *empty;
    CK_OK(kvp_inputs_create(H.ctx, &empty));
    kvp_artefact *stats = stats_artefact(LAYERS, HQ, D, NULL);
    kvp_artefact *filt = filters_artefact(LAYERS, HK, D);
    kvp_artefact *zap = kvzap_linear(LAYERS, HK, HID);
    /* the artefact itself */
    expect_fails("expected_attention_stats(compression_ratio=0.5)", NULL, F.in, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("qfilter(compression_ratio=0.5)", NULL, F.in, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("kvzap(compression_ratio=0.5, model_type=linear)", NULL, F.in, 0, KVP_ERR_MISSING_INPUT);
    /* inputs */
    expect_fails("expected_attention_stats(compression_ratio=0.5)", stats, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("cap(compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("leverage_score(compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("leverage_score(compression_ratio=0.5)", NULL, NULL, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("non_causal_attn(compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("compactor(compression_ratio=0.5)", NULL, NULL, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("kvzap(compression_ratio=0.5, model_type=linear)", zap, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("think(key_channel_compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    /* queries without RoPE */
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, D);
    CK_OK(kvp_inputs_set_queries(empty, &q, 0));
    expect_fails("cap(compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("non_causal_attn(compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    expect_fails("think(key_channel_compression_ratio=0.5)", NULL, empty, 0, KVP_ERR_MISSING_INPUT);
    /* the presses that need none of these still run: cur reads only the cache, leverage_score
     * the pre-RoPE keys when given (no RoPE needed then) */
    kvp_press *p;
    CK_OK(kvp_press_parse("cur(compression_ratio=0.5)", &p));
    CK_OK(kvp_compress(H.ctx, p, F.cache, 0, NULL));
    kvp_press_destroy(p);
    kvp_inputs *keys_only;
    CK_OK(kvp_inputs_create(H.ctx, &keys_only));
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, N / 2, D); /* cur kept N/2 */
    CK_OK(kvp_inputs_set_keys(keys_only, &kt, 0));
    CK_OK(kvp_press_parse("leverage_score(compression_ratio=0.5)", &p));
    CK_OK(kvp_compress(H.ctx, p, F.cache, 0, keys_only));
    kvp_press_destroy(p);
    kvp_inputs_destroy(keys_only);
    kvp_inputs_destroy(empty);
    kvp_artefact_destroy(stats);
    kvp_artefact_destroy(filt);
    kvp_artefact_destroy(zap);
}
END_TEST

START_TEST(test_windows_and_shapes) {
    /* sinks and windows not smaller than the sequence; an empty layer */
    expect_fails("cap(compression_ratio=0.5, n_sink=64)", NULL, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact *stats = stats_artefact(LAYERS, HQ, D, NULL);
    expect_fails("expected_attention_stats(compression_ratio=0.5, n_sink=64)", stats, F.in, 0,
                 KVP_ERR_INVALID_ARG);
    expect_fails("compactor(compression_ratio=0.5, sink_size_start=60, sink_size_end=4)", NULL, F.in, 0,
                 KVP_ERR_INVALID_ARG);
    expect_fails("compactor(compression_ratio=0.5, sink_size_start=100)", NULL, F.in, 0, KVP_ERR_INVALID_ARG);
    expect_fails("cur(compression_ratio=0.5)", NULL, F.in, 1, KVP_ERR_INVALID_ARG);
    expect_fails("think(key_channel_compression_ratio=0.5)", NULL, F.in, 1, KVP_ERR_INVALID_ARG);
    /* prefill presses given the queries of fewer tokens than are cached */
    kvp_inputs *part;
    CK_OK(kvp_inputs_create(H.ctx, &part));
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    CK_OK(kvp_inputs_set_rope(part, &rope));
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N - 8, D);
    CK_OK(kvp_inputs_set_queries(part, &q, 8));
    expect_fails("non_causal_attn(compression_ratio=0.5)", NULL, part, 0, KVP_ERR_INVALID_ARG);
    expect_fails("compactor(compression_ratio=0.5)", NULL, part, 0, KVP_ERR_INVALID_ARG);
    /* cap: every query sits among the sinks */
    q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, 3, D);
    CK_OK(kvp_inputs_set_queries(part, &q, 0));
    expect_fails("cap(compression_ratio=0.5)", NULL, part, 0, KVP_ERR_INVALID_ARG);
    /* cap: statistics that skipped another number of sinks */
    kvp_qstats *qs;
    CK_OK(kvp_qstats_create(H.ctx, HQ, D, 2, &qs));
    q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, D);
    CK_OK(kvp_qstats_add(qs, &q, 0));
    kvp_inputs *st_in;
    CK_OK(kvp_inputs_create(H.ctx, &st_in));
    CK_OK(kvp_inputs_set_rope(st_in, &rope));
    CK_OK(kvp_inputs_set_query_stats(st_in, qs));
    expect_fails("cap(compression_ratio=0.5)", NULL, st_in, 0, KVP_ERR_INVALID_ARG);
    kvp_press *p; /* with matching statistics it runs */
    CK_OK(kvp_press_parse("cap(compression_ratio=0.5, n_sink=2)", &p));
    CK_OK(kvp_compress(H.ctx, p, F.cache, 0, st_in));
    kvp_press_destroy(p);
    /* pre-RoPE keys of the wrong shape */
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, N - 1, D);
    kvp_inputs *keys_in;
    CK_OK(kvp_inputs_create(H.ctx, &keys_in));
    CK_OK(kvp_inputs_set_rope(keys_in, &rope));
    CK_OK(kvp_inputs_set_queries(keys_in, &q, 0));
    CK_OK(kvp_inputs_set_keys(keys_in, &k, 0));
    expect_fails("leverage_score(compression_ratio=0.5)", NULL, keys_in, 0, KVP_ERR_INVALID_ARG);
    expect_fails("compactor(compression_ratio=0.5)", NULL, keys_in, 0, KVP_ERR_INVALID_ARG);
    float nan_keys[HK * N * D];
    memcpy(nan_keys, F.keys, sizeof nan_keys);
    nan_keys[7] = NAN;
    k = kvp_tensor_host(KVP_DTYPE_F32, nan_keys, 3, HK, N, D);
    ck_assert_int_eq(kvp_inputs_set_keys(keys_in, &k, 0), KVP_ERR_INVALID_ARG);
    /* RoPE whose scaling is 0: the keys cannot be rotated back */
    kvp_inputs *zero;
    CK_OK(kvp_inputs_create(H.ctx, &zero));
    kvp_rope z = rope;
    z.attention_scaling = 0.0f;
    CK_OK(kvp_inputs_set_rope(zero, &z));
    expect_fails("leverage_score(compression_ratio=0.5)", NULL, zero, 0, KVP_ERR_INVALID_ARG);
    /* kvzap: hidden states of the wrong count or width */
    kvp_artefact *zap = kvzap_linear(LAYERS, HK, HID);
    kvp_inputs *hid;
    CK_OK(kvp_inputs_create(H.ctx, &hid));
    kvp_tensor h = kvp_tensor_host(KVP_DTYPE_F32, F.hidden, 2, N - 4, HID, 1);
    CK_OK(kvp_inputs_set_hidden(hid, &h, 4));
    expect_fails("kvzap(compression_ratio=0.5, model_type=linear)", zap, hid, 0, KVP_ERR_INVALID_ARG);
    h = kvp_tensor_host(KVP_DTYPE_F32, F.hidden, 2, N / 2, HID * 2, 1);
    CK_OK(kvp_inputs_set_hidden(hid, &h, 0));
    expect_fails("kvzap(compression_ratio=0.5, model_type=linear)", zap, hid, 0, KVP_ERR_INVALID_ARG);
    kvp_inputs_destroy(hid);
    kvp_inputs_destroy(zero);
    kvp_inputs_destroy(keys_in);
    kvp_inputs_destroy(st_in);
    kvp_qstats_destroy(qs);
    kvp_inputs_destroy(part);
    kvp_artefact_destroy(stats);
    kvp_artefact_destroy(zap);
}
END_TEST

START_TEST(test_bad_artefacts) {
    ones_init();
    /* refused when given: wrong names, ranks or inconsistent shapes */
    expect_artefact_refused("qfilter", stats_artefact(LAYERS, HQ, D, NULL));
    st_tensor f2[] = {{"q_filters", 2, {HK, D}, ones}};
    expect_artefact_refused("qfilter", st_artefact(f2, 1, NULL));
    st_tensor mean_only[] = {{"query_mean", 3, {LAYERS, HQ, D}, ones}};
    expect_artefact_refused("expected_attention_stats", st_artefact(mean_only, 1, NULL));
    st_tensor mism[] = {{"query_mean", 3, {LAYERS, HQ, D}, ones},
                        {"query_cov", 4, {LAYERS, HQ, D, D / 2}, ones}};
    expect_artefact_refused("expected_attention_stats", st_artefact(mism, 2, NULL));
    expect_artefact_refused("kvzap", filters_artefact(LAYERS, HK, D));
    st_tensor zap_bad[] = {{"layers.0.weight", 2, {HK, HID}, ones}, {"layers.0.bias", 1, {HK}, ones},
                           {"layers.1.weight", 2, {HK, HID + 1}, ones}, {"layers.1.bias", 1, {HK}, ones}};
    expect_artefact_refused("kvzap", st_artefact(zap_bad, 4, NULL));
    expect_artefact_refused("cap", filters_artefact(LAYERS, HK, D)); /* takes none */

    /* accepted, but not for this cache or press configuration */
    kvp_artefact *a = stats_artefact(LAYERS, HQ, D / 2, NULL); /* head_dim 8, cache 16 */
    expect_fails("expected_attention_stats(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    a = stats_artefact(LAYERS, 3, D, NULL); /* 3 heads over 2 kv heads */
    expect_fails("expected_attention_stats(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    a = stats_artefact(LAYERS, 0, D, NULL); /* no head at all */
    expect_fails("expected_attention_stats(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    a = stats_artefact(1, HQ, D, NULL); /* no statistics for layer 1 */
    kvp_cache_options o = {.n_layers = 2, .n_kv_heads = HK, .head_dim = D, .capacity = N,
                           .dtype = KVP_DTYPE_F32};
    kvp_cache *c2;
    CK_OK(kvp_cache_create(H.ctx, &o, &c2));
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, F.values, 3, HK, N, D);
    CK_OK(kvp_cache_append(c2, 1, &k, &v, 0));
    kvp_press *p;
    CK_OK(kvp_press_parse("expected_attention_stats(compression_ratio=0.5)", &p));
    CK_OK(kvp_press_set_artefact(p, a));
    uint64_t before = cache_checksum(c2);
    ck_assert_int_eq(kvp_compress(H.ctx, p, c2, 1, F.in), KVP_ERR_INVALID_ARG);
    ck_assert(cache_checksum(c2) == before);
    kvp_press_destroy(p);
    kvp_cache_destroy(c2);
    kvp_artefact_destroy(a);
    /* built without 8 sinks */
    a = stats_artefact(LAYERS, HQ, D, (const char *const[]){"n_sink", "8", NULL});
    expect_fails("expected_attention_stats(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    a = stats_artefact(LAYERS, HQ, D, (const char *const[]){"num_samples", "50", NULL});
    expect_fails("expected_attention_stats(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    a = filters_artefact(LAYERS, HK + 1, D);
    expect_fails("qfilter(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    a = kvzap_linear(LAYERS, HK, HID);
    expect_fails("kvzap(compression_ratio=0.5)", a, F.in, 0, KVP_ERR_INVALID_ARG); /* mlp asked */
    kvp_artefact_destroy(a);
    a = kvzap_linear(LAYERS, HK + 2, HID); /* 4 scores for 2 kv heads */
    expect_fails("kvzap(compression_ratio=0.5, model_type=linear)", a, F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
}
END_TEST

START_TEST(test_bad_parameters) {
    static const char *bad[] = {
        "cur(leverage_type=svd)",
        "cur(local_window_size=0)",
        "cur(leverage_type=1.5)",
        "leverage_score(sketch_dimension=0)",
        "leverage_score(seed=-2)",
        "non_causal_attn(chunk_size=0)",
        "compactor(blending=-0.5)",
        "compactor(sink_size_end=-1)",
        "kvzap(model_type=conv)",
        "think(key_channel_compression_ratio=1)",
        "think(window_size=0)",
        "think(compression_ratio=0.5)", /* ThinK's ratio is not settable (kvpress raises) */
        "cap(n_future_positions=0)",
        "cap(n_sink=-1)",
        "expected_attention_stats(num_samples=0)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kvp_press *p = (kvp_press *)1;
        kvp_status st = kvp_press_parse(bad[i], &p);
        ck_assert_msg(st == KVP_ERR_INVALID_ARG || st == KVP_ERR_NOT_FOUND, "%s: %s", bad[i],
                      kvp_status_name(st));
        ck_assert_ptr_null(p);
        ck_assert_msg(kvp_last_error()[0] != 0, "%s: no message", bad[i]);
    }
    /* wrappers take scorers only: ThinK has no score */
    kvp_press *w, *t;
    CK_OK(kvp_press_create("adakv", &w));
    CK_OK(kvp_press_create("think", &t));
    ck_assert_int_eq(kvp_press_set_press(w, "press", t), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(t);
    kvp_press_destroy(w);
}
END_TEST

static void sweep_alloc_failures(const char *spec, kvp_artefact *art) {
    for (long after = 0; after < 300; after++) {
        teardown();
        setup();
        kvp_press *p;
        CK_OK(kvp_press_parse(spec, &p));
        if (art) CK_OK(kvp_press_set_artefact(p, art));
        uint64_t before = cache_checksum(F.cache);
        kvp__test_fail_alloc_after(H.ctx, after);
        kvp_status st = kvp_compress(H.ctx, p, F.cache, 0, F.in);
        kvp__test_fail_alloc_after(H.ctx, -1);
        kvp_press_destroy(p);
        if (st == KVP_OK) return;
        ck_assert_msg(st == KVP_ERR_OUT_OF_HOST_MEMORY || st == KVP_ERR_OUT_OF_DEVICE_MEMORY,
                      "%s, failure after %ld: %s (%s)", spec, after, kvp_status_name(st),
                      kvp_context_last_error(H.ctx));
        ck_assert_msg(cache_checksum(F.cache) == before, "%s: cache changed after OOM at %ld", spec,
                      after);
    }
    ck_abort_msg("%s still failing after 300 allocations", spec);
}

START_TEST(test_alloc_failures) {
    ones_init();
    kvp_artefact *stats = stats_artefact(LAYERS, HQ, D, NULL);
    kvp_artefact *filt = filters_artefact(LAYERS, HK, D);
    kvp_artefact *zap = kvzap_linear(LAYERS, HK, HID);
    sweep_alloc_failures("expected_attention_stats(compression_ratio=0.5)", stats);
    sweep_alloc_failures("cap(compression_ratio=0.5)", NULL);
    sweep_alloc_failures("qfilter(compression_ratio=0.5)", filt);
    sweep_alloc_failures("cur(compression_ratio=0.5, use_random_leverage=true)", NULL);
    sweep_alloc_failures("leverage_score(compression_ratio=0.5)", NULL);
    sweep_alloc_failures("non_causal_attn(compression_ratio=0.5, chunk_size=24)", NULL);
    sweep_alloc_failures("compactor(compression_ratio=0.5, chunk_size=24)", NULL);
    sweep_alloc_failures("kvzap(compression_ratio=0.5, model_type=linear)", zap);
    sweep_alloc_failures("think(key_channel_compression_ratio=0.5, window_size=8)", NULL);
    kvp_artefact_destroy(stats);
    kvp_artefact_destroy(filt);
    kvp_artefact_destroy(zap);
}
END_TEST

int main(void) {
    harness_init();
    ones_init();
    Suite *s = suite_create("api-scorers");
    TCase *tc = tcase_create("bad input");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_missing_inputs);
    tcase_add_test(tc, test_windows_and_shapes);
    tcase_add_test(tc, test_bad_artefacts);
    tcase_add_test(tc, test_bad_parameters);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
