/*
 * API lifecycle and bad input, on the backend under test. Every bad call must return the
 * expected status with a message, and leave the cache exactly as it was (checked by a checksum
 * of lengths, keys, values and positions).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "harness.h"

enum { HK = 2, HQ = 4, D = 16, N = 64, LAYERS = 2 };

/* A fixture: a 2-layer f32 cache with N tokens in layer 0, inputs with queries, RoPE, W_o. */
typedef struct fixture {
    kvp_cache *cache;
    kvp_inputs *in;
    float keys[HK * N * D], values[HK * N * D], queries[HQ * N * D], wo[32 * HQ * D];
} fixture;

static fixture F;

static void fixture_setup(kvp_dtype dt) {
    rng r = rng_for("api-fixture", (int)dt);
    fill_normal(&r, F.keys, HK * N * D, 1.0f);
    fill_normal(&r, F.values, HK * N * D, 1.0f);
    fill_normal(&r, F.queries, HQ * N * D, 1.0f);
    fill_normal(&r, F.wo, 32 * HQ * D, 0.1f);
    kvp_cache_options o = {.n_layers = LAYERS, .n_kv_heads = HK, .head_dim = D, .capacity = N + 8,
                           .dtype = dt};
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
    kvp_tensor w = kvp_tensor_host(KVP_DTYPE_F32, F.wo, 2, 32, HQ * D, 1);
    CK_OK(kvp_inputs_set_wo(F.in, &w));
}

static void setup(void) { fixture_setup(KVP_DTYPE_F32); }

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

/* Runs kvp_compress and expects a failure with `want`, a message, and an untouched cache. */
static void expect_compress_fails(const char *spec, const kvp_inputs *in, int layer,
                                  kvp_status want) {
    kvp_press *p = press(spec);
    uint64_t before = cache_checksum(F.cache);
    H.ctx->error[0] = 0;
    kvp_status st = kvp_compress(H.ctx, p, F.cache, layer, in);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", spec, kvp_status_name(st),
                  kvp_context_last_error(H.ctx), kvp_status_name(want));
    ck_assert_msg(kvp_context_last_error(H.ctx)[0] != 0, "%s: no error message", spec);
    ck_assert_msg(cache_checksum(F.cache) == before, "%s: the cache changed", spec);
    kvp_press_destroy(p);
}

START_TEST(test_version_and_status) {
    ck_assert_int_eq(kvp_version_number(), KVP_VERSION_NUMBER);
    ck_assert_str_eq(kvp_version_string(), KVP_VERSION_STRING);
    ck_assert_int_eq(KVP_VERSION_NUMBER,
                     KVP_VERSION_MAJOR * 10000 + KVP_VERSION_MINOR * 100 + KVP_VERSION_PATCH);
    ck_assert_str_eq(kvp_status_name(KVP_OK), "KVP_OK");
    ck_assert_str_eq(kvp_status_name(KVP_ERR_MISSING_INPUT), "KVP_ERR_MISSING_INPUT");
    for (int s = 0; s >= KVP_ERR_INTERNAL; s--) {
        ck_assert_ptr_nonnull(kvp_status_str((kvp_status)s));
        ck_assert(strncmp(kvp_status_name((kvp_status)s), "KVP_", 4) == 0);
    }
    ck_assert_str_eq(kvp_status_name((kvp_status)-999), "KVP_UNKNOWN_STATUS");
    ck_assert_str_eq(kvp_dtype_name(KVP_DTYPE_BF16), "bf16");
    ck_assert_ptr_null(kvp_dtype_name((kvp_dtype)7));
    ck_assert_uint_eq(kvp_dtype_size(KVP_DTYPE_F16), 2);
}
END_TEST

START_TEST(test_registry) {
    int nb = 0, nd = 0;
    CK_OK(kvp_backend_count(&nb));
    ck_assert_int_eq(nb, 4);
    int found_cpu = 0;
    for (int i = 0; i < nb; i++) {
        kvp_backend_info b;
        CK_OK(kvp_backend_get_info(i, &b));
        if (!strcmp(b.name, "cpu")) found_cpu = b.available;
        if (!b.available) ck_assert_msg(b.reason[0], "backend %s absent without a reason", b.name);
    }
    ck_assert(found_cpu);
    ck_assert_int_eq(kvp_backend_get_info(nb, &(kvp_backend_info){0}), KVP_ERR_INVALID_ARG);
    CK_OK(kvp_device_count(&nd));
    ck_assert_int_ge(nd, 1);
    kvp_device *dev;
    CK_OK(kvp_device_by_name("cpu", &dev));
    kvp_device_props p;
    CK_OK(kvp_device_get_props(dev, &p));
    ck_assert_str_eq(p.name, "cpu");
    ck_assert(p.dtype_mask & (1u << KVP_DTYPE_F32));
    ck_assert_int_eq(kvp_device_by_name("tpu0", &dev), KVP_ERR_NOT_FOUND);
    ck_assert_ptr_null(dev);
    ck_assert(strstr(kvp_last_error(), "tpu0"));
    ck_assert_int_eq(kvp_device_get(-1, &dev), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_device_count(NULL), KVP_ERR_INVALID_ARG);
    CK_OK(kvp_device_by_name(H.backend, &dev));
    CK_OK(kvp_device_get_props(dev, &p));
    ck_assert_str_eq(p.backend, H.backend);
}
END_TEST

START_TEST(test_null_handles) {
    kvp_context *ctx = (kvp_context *)1;
    ck_assert_int_eq(kvp_context_create(NULL, NULL, &ctx), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(kvp_context_create(NULL, NULL, NULL), KVP_ERR_INVALID_ARG);
    kvp_context_destroy(NULL);
    kvp_cache_destroy(NULL);
    kvp_inputs_destroy(NULL);
    kvp_press_destroy(NULL);
    kvp_qstats_destroy(NULL);
    kvp_buffer_free(NULL);
    ck_assert_str_eq(kvp_context_last_error(NULL), "kvp_context_last_error: context is NULL");
    kvp_buffer *b = (kvp_buffer *)1;
    ck_assert_int_eq(kvp_buffer_alloc(NULL, 16, &b), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_buffer_alloc(H.ctx, 0, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(b);
    kvp_cache *c = (kvp_cache *)1;
    ck_assert_int_eq(kvp_cache_create(H.ctx, NULL, &c), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(kvp_cache_append(NULL, 0, NULL, NULL, 0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_compress(NULL, NULL, NULL, 0, NULL), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_compress(H.ctx, NULL, NULL, 0, NULL), KVP_ERR_INVALID_ARG);
    kvp_press *p = press("knorm(compression_ratio=0.5)");
    ck_assert_int_eq(kvp_compress(H.ctx, p, NULL, 0, NULL), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_score(H.ctx, p, NULL, 0, NULL, NULL), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_attention(H.ctx, NULL, 0, NULL, 0, 1.0f, NULL), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(NULL, "compression_ratio", 0.5), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, NULL, 0.5), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(p);
    kvp_inputs *in = (kvp_inputs *)1;
    ck_assert_int_eq(kvp_inputs_create(NULL, &in), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_inputs_set_queries(NULL, NULL, 0), KVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_buffers) {
    kvp_buffer *b;
    CK_OK(kvp_buffer_alloc(H.ctx, 1000, &b));
    ck_assert_uint_eq(kvp_buffer_size(b), 1000);
    unsigned char in[1000], out[1000];
    for (int i = 0; i < 1000; i++) in[i] = (unsigned char)(i * 7);
    CK_OK(kvp_buffer_upload(H.ctx, b, 0, in, 1000));
    CK_OK(kvp_buffer_download(H.ctx, b, 100, out, 900));
    ck_assert(!memcmp(out, in + 100, 900));
    ck_assert_int_eq(kvp_buffer_upload(H.ctx, b, 1, in, 1000), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_buffer_download(H.ctx, b, 1001, out, 0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_buffer_upload(H.ctx, b, 0, NULL, 10), KVP_ERR_INVALID_ARG);
    kvp_buffer_free(b);
}
END_TEST

START_TEST(test_cache_lifecycle) {
    int64_t len[HK];
    CK_OK(kvp_cache_get_lengths(F.cache, 0, len));
    ck_assert_int_eq(len[0], N);
    CK_OK(kvp_cache_get_lengths(F.cache, 1, len));
    ck_assert_int_eq(len[1], 0);
    float k[N * D];
    int32_t pos[N];
    CK_OK(kvp_cache_read(F.cache, 0, 1, k, NULL, pos));
    ck_assert(!memcmp(k, F.keys + N * D, sizeof k));
    for (int t = 0; t < N; t++) ck_assert_int_eq(pos[t], t);
    /* truncate to position 40, append back at 40 */
    CK_OK(kvp_cache_truncate(F.cache, 0, 40));
    CK_OK(kvp_cache_get_lengths(F.cache, 0, len));
    ck_assert_int_eq(len[0], 40);
    ck_assert_int_eq(len[1], 40);
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, 8, D);
    CK_OK(kvp_cache_append(F.cache, 0, &kt, &kt, 40));
    kvp_cache_memory m;
    CK_OK(kvp_cache_get_memory(F.cache, &m));
    ck_assert_uint_eq(m.entries, 2 * 48);
    /* repack to tight storage, then grow it again */
    uint64_t sum = cache_checksum(F.cache);
    CK_OK(kvp_cache_repack(F.cache, 0, 0));
    ck_assert_uint_eq(cache_checksum(F.cache), sum);
    CK_OK(kvp_cache_get_memory(F.cache, &m));
    /* layer 0: 2 heads x 48 rows; layer 1 keeps its initial 2 x (N + 8) rows */
    ck_assert_uint_eq(m.allocated_bytes, (uint64_t)(2 * 48 + 2 * (N + 8)) * (2 * D * 4 + 4));
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &kt, &kt, 48), KVP_ERR_CAPACITY);
    CK_OK(kvp_cache_repack(F.cache, 0, 16));
    CK_OK(kvp_cache_append(F.cache, 0, &kt, &kt, 48));
    /* an empty layer can be given memory by repack */
    CK_OK(kvp_cache_repack(F.cache, 1, 4));
    CK_OK(kvp_cache_append(F.cache, 1, &(kvp_tensor){.dtype = KVP_DTYPE_F32, .ndim = 3,
                                                     .shape = {HK, 4, D}, .data = F.keys},
                           &(kvp_tensor){.dtype = KVP_DTYPE_F32, .ndim = 3, .shape = {HK, 4, D},
                                         .data = F.values},
                           0));
}
END_TEST

START_TEST(test_bad_append) {
    uint64_t before = cache_checksum(F.cache);
    float bad[HK * 4 * D];
    memcpy(bad, F.keys, sizeof bad);
    kvp_tensor good = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, 4, D);
    kvp_tensor t = kvp_tensor_host(KVP_DTYPE_F32, bad, 3, HK, 4, D);
    bad[17] = NAN;
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &t, &good, N), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "NaN"));
    bad[17] = 0;
    bad[3] = INFINITY;
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &good, &t, N), KVP_ERR_INVALID_ARG);
    /* wrong head count, head_dim, ndim, dtype, positions, capacity */
    kvp_tensor w = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK + 1, 4, D);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &w, &w, N), KVP_ERR_INVALID_ARG);
    w = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, 4, D - 2);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &w, &w, N), KVP_ERR_INVALID_ARG);
    w = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 2, HK, 4 * D, 1);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &w, &w, N), KVP_ERR_INVALID_ARG);
    w = kvp_tensor_host((kvp_dtype)9, F.keys, 3, HK, 4, D);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &w, &good, N), KVP_ERR_INVALID_ARG);
    w = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, 0, D);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &w, &w, N), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &good, &good, N - 1), KVP_ERR_INVALID_ARG);
    w = kvp_tensor_host(KVP_DTYPE_F32, F.keys, 3, HK, 9, D);
    ck_assert_int_eq(kvp_cache_append(F.cache, 0, &w, &w, N), KVP_ERR_CAPACITY);
    ck_assert_int_eq(kvp_cache_append(F.cache, 7, &good, &good, N), KVP_ERR_INVALID_ARG);
    ck_assert_uint_eq(cache_checksum(F.cache), before);
    /* an f16 cache needs an even head_dim */
    kvp_cache *c;
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = 1, .head_dim = 7, .capacity = 4,
                           .dtype = KVP_DTYPE_F16};
    ck_assert_int_eq(kvp_cache_create(H.ctx, &o, &c), KVP_ERR_INVALID_ARG);
    o.head_dim = 8;
    o.n_layers = 0;
    ck_assert_int_eq(kvp_cache_create(H.ctx, &o, &c), KVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_bad_inputs) {
    float q[HQ * N * D];
    memcpy(q, F.queries, sizeof q);
    q[100] = NAN;
    kvp_tensor t = kvp_tensor_host(KVP_DTYPE_F32, q, 3, HQ, N, D);
    ck_assert_int_eq(kvp_inputs_set_queries(F.in, &t, 0), KVP_ERR_INVALID_ARG);
    kvp_qstats *qs;
    CK_OK(kvp_qstats_create(H.ctx, HQ, D, 4, &qs));
    ck_assert_int_eq(kvp_qstats_add(qs, &t, 0), KVP_ERR_INVALID_ARG);
    int64_t count = -1;
    CK_OK(kvp_qstats_get(qs, &count, NULL, NULL));
    ck_assert_int_eq(count, 0);
    float mean[HQ * D];
    ck_assert_int_eq(kvp_qstats_get(qs, NULL, mean, NULL), KVP_ERR_INVALID_ARG);
    kvp_tensor wrong = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ + 1, N, D);
    ck_assert_int_eq(kvp_qstats_add(qs, &wrong, 0), KVP_ERR_INVALID_ARG);
    kvp_qstats_destroy(qs);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    rope.head_dim = 7;
    ck_assert_int_eq(kvp_inputs_set_rope(F.in, &rope), KVP_ERR_INVALID_ARG);
    kvp_rope_init(&rope, D);
    rope.theta = -1;
    ck_assert_int_eq(kvp_inputs_set_rope(F.in, &rope), KVP_ERR_INVALID_ARG);
    kvp_tensor probs = kvp_tensor_host(KVP_DTYPE_F16, F.queries, 3, HQ, 4, N);
    ck_assert_int_eq(kvp_inputs_set_attention(F.in, &probs), KVP_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_bad_press_config) {
    kvp_press *p;
    ck_assert_int_eq(kvp_press_create("snapkvv", &p), KVP_ERR_NOT_FOUND);
    ck_assert_ptr_null(p);
    ck_assert(strstr(kvp_last_error(), "snapkvv"));
    CK_OK(kvp_press_create("snapkv", &p));
    ck_assert_int_eq(kvp_press_set_float(p, "compression_ratio", 1.0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, "compression_ratio", -0.1), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, "compression_ratio", NAN), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, "window_sise", 3), KVP_ERR_NOT_FOUND);
    ck_assert_int_eq(kvp_press_set_float(p, "window_size", 3.5), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_int(p, "window_size", 0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_bool(p, "window_size", 1), KVP_ERR_INVALID_ARG);
    double v = 0;
    CK_OK(kvp_press_get(p, "compression_ratio", &v));
    ck_assert(v == 0.0);
    CK_OK(kvp_press_set_float(p, "compression_ratio", 0.25));
    CK_OK(kvp_press_get(p, "compression_ratio", &v));
    ck_assert(v == 0.25);
    ck_assert_int_eq(kvp_press_set_press(p, "press", p), KVP_ERR_NOT_FOUND);
    kvp_press_destroy(p);
    const char *bad_specs[] = {"", "knorm(", "knorm(compression_ratio=)", "knorm(x=1)",
                               "knorm(compression_ratio=0.5", "adakv", "adakv(press=adakv(press=knorm))",
                               "knorm(compression_ratio=0.5) extra", "knorm(compression_ratio=abc)",
                               "criticalkv(press=decoding(press=knorm))"};
    for (size_t i = 0; i < sizeof bad_specs / sizeof *bad_specs; i++) {
        p = (kvp_press *)1;
        ck_assert_msg(kvp_press_parse(bad_specs[i], &p) != KVP_OK, "'%s' parsed", bad_specs[i]);
        ck_assert_ptr_null(p);
        ck_assert(kvp_last_error()[0]);
    }
    p = press("adakv(press=expected_attention(epsilon=0.01, use_covariance=false), "
              "compression_ratio=0.25, alpha_safeguard=0.3)");
    char desc[512];
    CK_OK(kvp_press_describe(p, desc, sizeof desc));
    ck_assert_msg(strstr(desc, "use_covariance=false") && strstr(desc, "alpha_safeguard=0.3"), "%s", desc);
    kvp_press *again = press(desc); /* the description parses back */
    char desc2[512];
    CK_OK(kvp_press_describe(again, desc2, sizeof desc2));
    ck_assert_str_eq(desc, desc2);
    kvp_press_destroy(again);
    kvp_press_destroy(p);
    ck_assert_int_eq(kvp_n_keep(100, 0.7), 30);
}
END_TEST

START_TEST(test_bad_compress) {
    /* zero tokens: layer 1 is empty */
    expect_compress_fails("knorm(compression_ratio=0.5)", F.in, 1, KVP_ERR_INVALID_ARG);
    /* layer out of range */
    expect_compress_fails("knorm(compression_ratio=0.5)", F.in, 5, KVP_ERR_INVALID_ARG);
    /* window or n_sink not smaller than n */
    expect_compress_fails("snapkv(compression_ratio=0.5, window_size=64)", F.in, 0, KVP_ERR_INVALID_ARG);
    expect_compress_fails("snapkv(compression_ratio=0.5, window_size=8, kernel_size=4)", F.in, 0,
                          KVP_ERR_INVALID_ARG);
    expect_compress_fails("streaming_llm(compression_ratio=0.5, n_sink=64)", F.in, 0, KVP_ERR_INVALID_ARG);
    expect_compress_fails("expected_attention(compression_ratio=0.5, n_sink=64)", F.in, 0,
                          KVP_ERR_INVALID_ARG);
    expect_compress_fails("lagkv(compression_ratio=0.5, n_sink=100)", F.in, 0, KVP_ERR_INVALID_ARG);
    /* missing inputs */
    kvp_inputs *empty;
    CK_OK(kvp_inputs_create(H.ctx, &empty));
    expect_compress_fails("snapkv(compression_ratio=0.5, window_size=8)", empty, 0, KVP_ERR_MISSING_INPUT);
    expect_compress_fails("tova(compression_ratio=0.5)", NULL, 0, KVP_ERR_MISSING_INPUT);
    expect_compress_fails("expected_attention(compression_ratio=0.5)", empty, 0, KVP_ERR_MISSING_INPUT);
    expect_compress_fails("criticalkv(press=knorm, compression_ratio=0.5)", empty, 0,
                          KVP_ERR_MISSING_INPUT);
    /* queries but no RoPE */
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, D);
    CK_OK(kvp_inputs_set_queries(empty, &q, 0));
    expect_compress_fails("expected_attention(compression_ratio=0.5)", empty, 0, KVP_ERR_MISSING_INPUT);
    expect_compress_fails("observed_attention(compression_ratio=0.5)", empty, 0, KVP_ERR_MISSING_INPUT);
    /* mismatched shapes: 3 query heads for 2 kv heads; head_dim 8 vs 16 */
    kvp_inputs *bad;
    CK_OK(kvp_inputs_create(H.ctx, &bad));
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    CK_OK(kvp_inputs_set_rope(bad, &rope));
    q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, 3, N, D);
    CK_OK(kvp_inputs_set_queries(bad, &q, 0));
    expect_compress_fails("snapkv(compression_ratio=0.5, window_size=8)", bad, 0, KVP_ERR_INVALID_ARG);
    q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, 8);
    CK_OK(kvp_inputs_set_queries(bad, &q, 0));
    expect_compress_fails("tova(compression_ratio=0.5)", bad, 0, KVP_ERR_INVALID_ARG);
    /* fewer queries than the window */
    q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, 4, D);
    CK_OK(kvp_inputs_set_queries(bad, &q, 60));
    expect_compress_fails("snapkv(compression_ratio=0.5, window_size=8)", bad, 0, KVP_ERR_INVALID_ARG);
    /* W_o of the wrong width */
    kvp_tensor w = kvp_tensor_host(KVP_DTYPE_F32, F.wo, 2, 32, HQ * D - 1, 1);
    CK_OK(kvp_inputs_set_wo(bad, &w));
    expect_compress_fails("criticalkv(press=knorm, compression_ratio=0.5)", bad, 0, KVP_ERR_INVALID_ARG);
    /* statistics that skipped a different number of sinks */
    kvp_qstats *qs;
    CK_OK(kvp_qstats_create(H.ctx, HQ, D, 2, &qs));
    q = kvp_tensor_host(KVP_DTYPE_F32, F.queries, 3, HQ, N, D);
    CK_OK(kvp_qstats_add(qs, &q, 0));
    kvp_inputs *st_in;
    CK_OK(kvp_inputs_create(H.ctx, &st_in));
    CK_OK(kvp_inputs_set_rope(st_in, &rope));
    CK_OK(kvp_inputs_set_query_stats(st_in, qs));
    expect_compress_fails("expected_attention(compression_ratio=0.5, n_sink=4)", st_in, 0,
                          KVP_ERR_INVALID_ARG);
    /* the wrong call for the press kind */
    expect_compress_fails("decoding(press=knorm)", F.in, 0, KVP_ERR_INVALID_ARG);
    kvp_press *p = press("knorm(compression_ratio=0.5)");
    ck_assert_int_eq(kvp_decode_step(H.ctx, p, F.cache, 0, F.in, NULL), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(p);
    kvp_inputs_destroy(st_in);
    kvp_qstats_destroy(qs);
    kvp_inputs_destroy(bad);
    kvp_inputs_destroy(empty);
}
END_TEST

/* NaN inside the cache itself (wrapped caller memory bypasses the append check): the scores
 * of a press that reads the keys become NaN and the compression is refused. */
START_TEST(test_nan_in_wrapped_cache) {
    if (strcmp(H.backend, "cpu")) return; /* host wrapping is the CPU device's feature */
    static float k[HK * N * D] __attribute__((aligned(64))), v[HK * N * D] __attribute__((aligned(64)));
    memcpy(k, F.keys, sizeof k);
    memcpy(v, F.values, sizeof v);
    k[5 * D + 3] = NAN;
    kvp_buffer *kb, *vb;
    CK_OK(kvp_buffer_wrap_host(H.ctx, k, sizeof k, &kb));
    CK_OK(kvp_buffer_wrap_host(H.ctx, v, sizeof v, &vb));
    int64_t lengths[HK] = {N, N};
    CK_OK(kvp_cache_wrap_layer(F.cache, 1, N, kb, 0, vb, 0, lengths));
    expect_compress_fails("knorm(compression_ratio=0.5)", F.in, 1, KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "NaN"));
    ck_assert_int_eq(kvp_cache_repack(F.cache, 1, 0), KVP_ERR_UNSUPPORTED);
    kvp_cache_destroy(F.cache); /* before the buffers it wraps */
    F.cache = NULL;
    kvp_buffer_free(kb);
    kvp_buffer_free(vb);
}
END_TEST

/* Simulated allocation failure at every allocation point of a call: each must fail cleanly
 * with an out-of-memory status and leave the cache unchanged; without the hook, it succeeds. */
static void sweep_alloc_failures(const char *spec, int decode) {
    for (long after = 0; after < 200; after++) {
        teardown();
        setup();
        kvp_press *p = press(spec);
        uint64_t before = cache_checksum(F.cache);
        kvp__test_fail_alloc_after(H.ctx, after);
        kvp_status st = decode ? kvp_decode_step(H.ctx, p, F.cache, 0, F.in, NULL)
                               : kvp_compress(H.ctx, p, F.cache, 0, F.in);
        kvp__test_fail_alloc_after(H.ctx, -1);
        kvp_press_destroy(p);
        if (st == KVP_OK) return; /* every allocation point was covered */
        ck_assert_msg(st == KVP_ERR_OUT_OF_HOST_MEMORY || st == KVP_ERR_OUT_OF_DEVICE_MEMORY,
                      "%s, failure after %ld: %s (%s)", spec, after, kvp_status_name(st),
                      kvp_context_last_error(H.ctx));
        ck_assert_msg(cache_checksum(F.cache) == before, "%s: cache changed after OOM at %ld", spec,
                      after);
    }
    ck_abort_msg("%s still failing after 200 allocations", spec);
}

START_TEST(test_alloc_failures) {
    static const char *specs[] = {
        "knorm(compression_ratio=0.5)",
        "snapkv(compression_ratio=0.5, window_size=8)",
        "expected_attention(compression_ratio=0.5)",
        "adakv(press=expected_attention(epsilon=0.01), compression_ratio=0.5)",
        "criticalkv(press=snapkv(window_size=8), compression_ratio=0.5)",
        "chunkkv(press=knorm, compression_ratio=0.5, chunk_length=8)",
        "random(compression_ratio=0.5, seed=3)",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) sweep_alloc_failures(specs[i], 0);
    sweep_alloc_failures("decoding(press=knorm, compression_interval=1, target_size=32)", 1);
}
END_TEST

START_TEST(test_alloc_failure_append) {
    void *bf = to_dtype(F.keys, HK * 4 * D, KVP_DTYPE_BF16);
    kvp_tensor t = kvp_tensor_host(KVP_DTYPE_BF16, bf, 3, HK, 4, D); /* forces a conversion */
    uint64_t before = cache_checksum(F.cache);
    for (long after = 0; after < 50; after++) {
        kvp__test_fail_alloc_after(H.ctx, after);
        kvp_status st = kvp_cache_append(F.cache, 0, &t, &t, N);
        kvp__test_fail_alloc_after(H.ctx, -1);
        if (st == KVP_OK) {
            free(bf);
            return;
        }
        ck_assert_msg(st == KVP_ERR_OUT_OF_HOST_MEMORY, "%s: %s", kvp_status_name(st),
                      kvp_context_last_error(H.ctx));
        ck_assert_uint_eq(cache_checksum(F.cache), before);
    }
    ck_abort_msg("append still failing");
}
END_TEST

START_TEST(test_ratio_zero_is_noop) {
    uint64_t before = cache_checksum(F.cache);
    kvp_press *p = press("snapkv(window_size=8)");
    CK_OK(kvp_compress(H.ctx, p, F.cache, 0, F.in));
    ck_assert_uint_eq(cache_checksum(F.cache), before);
    kvp_press_destroy(p);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("api");
    TCase *plain = tcase_create("plain");
    tcase_add_test(plain, test_version_and_status);
    tcase_add_test(plain, test_registry);
    tcase_add_test(plain, test_null_handles);
    tcase_add_test(plain, test_buffers);
    tcase_add_test(plain, test_bad_press_config);
    suite_add_tcase(s, plain);
    TCase *cached = tcase_create("with a cache");
    tcase_set_timeout(cached, 300);
    tcase_add_checked_fixture(cached, setup, teardown);
    tcase_add_test(cached, test_cache_lifecycle);
    tcase_add_test(cached, test_bad_append);
    tcase_add_test(cached, test_bad_inputs);
    tcase_add_test(cached, test_bad_compress);
    tcase_add_test(cached, test_nan_in_wrapped_cache);
    tcase_add_test(cached, test_alloc_failures);
    tcase_add_test(cached, test_alloc_failure_append);
    tcase_add_test(cached, test_ratio_zero_is_noop);
    suite_add_tcase(s, cached);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
