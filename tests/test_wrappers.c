/*
 * The wrappers, structural and decoding presses of issue 5 (WP1): composed,
 * per_layer_compression, prefill_decoding, key_rerotation, chunk, block, critical_adakv, lukv,
 * dms, merging, compression_ratio_decoding and cam, on the backend under test.
 *  - bad input: every call fails with a clear status and message and leaves the cache as it
 *    was (checksum), out-of-memory at every allocation point included;
 *  - the specification syntax of lists and optional presses;
 *  - properties that kvpress's tests check (re-rotated keys equal RoPE at the new positions,
 *    per-layer lengths, block = top-k for per-token scorers, chunk counts, DMS's window and
 *    threshold), decoding targets, and CAM's merges: exact where the merge probability is 1,
 *    and statistically against probabilities computed here where it is not (the draws are
 *    the library's, not torch's);
 *  - on GPU backends, the same compressions agree with the CPU reference.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "harness.h"

enum { HK = 2, HQ = 4, D = 16, N = 96, LAYERS = 3, DMODEL = 24 };

/* One layer of pre-RoPE keys rotated at positions 0..n-1 (so re-rotation is meaningful),
 * values, pre-RoPE queries and W_o. */
typedef struct layer_set {
    int n;
    float *prerope, *keys, *values, *queries, *wo;
} layer_set;

static void set_make(layer_set *s, const char *name, int n) {
    rng r = rng_for(name, n);
    s->n = n;
    size_t kv = (size_t)HK * n * D, q = (size_t)HQ * n * D;
    s->prerope = malloc(kv * sizeof(float));
    s->keys = malloc(kv * sizeof(float));
    s->values = malloc(kv * sizeof(float));
    s->queries = malloc(q * sizeof(float));
    s->wo = malloc((size_t)DMODEL * HQ * D * sizeof(float));
    fill_normal(&r, s->prerope, kv, 1.0f);
    fill_normal(&r, s->values, kv, 1.0f);
    fill_normal(&r, s->queries, q, 1.0f);
    fill_normal(&r, s->wo, (size_t)DMODEL * HQ * D, 0.2f);
    for (size_t i = 0; i < kv; i += D) s->prerope[i] += 2.0f * rng_uniform(&r, 0, 1);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    kvp_tensor x = kvp_tensor_host(KVP_DTYPE_F32, s->prerope, 3, HK, n, D);
    kvp_tensor o = kvp_tensor_host(KVP_DTYPE_F32, s->keys, 3, HK, n, D);
    ck_assert_int_eq(kvp_rope_apply(H.ref, &rope, &x, 0, &o), KVP_OK);
}

static void set_free(layer_set *s) {
    free(s->prerope);
    free(s->keys);
    free(s->values);
    free(s->queries);
    free(s->wo);
}

typedef struct rig {
    kvp_context *ctx;
    kvp_cache *cache;
    kvp_inputs *in;
} rig;

/* A cache of LAYERS layers with the set in layer `layer` (or every layer when layer < 0). */
static rig rig_make(kvp_context *ctx, const layer_set *s, int layer, kvp_dtype dt, int64_t extra) {
    rig g = {ctx, NULL, NULL};
    kvp_cache_options o = {.n_layers = LAYERS, .n_kv_heads = HK, .head_dim = D,
                           .capacity = s->n + extra, .dtype = dt};
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &g.cache), KVP_OK);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, s->keys, 3, HK, s->n, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, s->values, 3, HK, s->n, D);
    for (int l = 0; l < LAYERS; l++)
        if (layer < 0 || l == layer) ck_assert_int_eq(kvp_cache_append(g.cache, l, &k, &v, 0), KVP_OK);
    ck_assert_int_eq(kvp_inputs_create(ctx, &g.in), KVP_OK);
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, s->queries, 3, HQ, s->n, D);
    ck_assert_int_eq(kvp_inputs_set_queries(g.in, &q, 0), KVP_OK);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    ck_assert_int_eq(kvp_inputs_set_rope(g.in, &rope), KVP_OK);
    kvp_tensor w = kvp_tensor_host(KVP_DTYPE_F32, s->wo, 2, DMODEL, HQ * D, 1);
    ck_assert_int_eq(kvp_inputs_set_wo(g.in, &w), KVP_OK);
    return g;
}

static void rig_free(rig *g) {
    kvp_inputs_destroy(g->in);
    kvp_cache_destroy(g->cache);
}

static kvp_press *press_of(const char *spec) {
    kvp_press *p = NULL;
    kvp_status st = kvp_press_parse(spec, &p);
    ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_last_error());
    return p;
}

/* kept[j * n + t]: the token at position t survives in head j. */
static unsigned char *kept_positions(const kvp_cache *c, int layer, int n, int64_t *lengths) {
    unsigned char *kept = calloc((size_t)HK * n, 1);
    int32_t pos[4096];
    ck_assert_int_eq(kvp_cache_get_lengths(c, layer, lengths), KVP_OK);
    for (int j = 0; j < HK; j++) {
        ck_assert_int_le(lengths[j], 4096);
        ck_assert_int_eq(kvp_cache_read(c, layer, j, NULL, NULL, pos), KVP_OK);
        for (int64_t t = 0; t < lengths[j]; t++) {
            ck_assert(pos[t] >= 0 && pos[t] < n);
            ck_assert(t == 0 || pos[t] > pos[t - 1]);
            kept[(size_t)j * n + pos[t]] = 1;
        }
    }
    return kept;
}

/* Compresses layer 1 with spec on ctx and expects `want`, a message, and no change. */
static void expect_fails(kvp_context *ctx, rig *g, const char *spec, const kvp_inputs *in,
                         kvp_status want) {
    kvp_press *p = press_of(spec);
    uint64_t before = cache_checksum(g->cache);
    ctx->error[0] = 0;
    kvp_status st = kvp_compress(ctx, p, g->cache, 1, in);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", spec, kvp_status_name(st),
                  kvp_context_last_error(ctx), kvp_status_name(want));
    ck_assert_msg(kvp_context_last_error(ctx)[0], "%s: no message", spec);
    ck_assert_msg(cache_checksum(g->cache) == before, "%s: the cache changed", spec);
    kvp_press_destroy(p);
}

/* A LU-KV curve [99, LAYERS, HK]: row x prunes about (x + 1) %, heads spread. */
static kvp_artefact *lukv_curve(int layers, int heads) {
    size_t count = (size_t)99 * layers * heads;
    float *c = malloc(count * sizeof(float));
    for (int x = 0; x < 99; x++)
        for (int l = 0; l < layers; l++)
            for (int j = 0; j < heads; j++) {
                float r = (float)(x + 1) / 100.0f, spread = 0.3f * (float)(j - heads / 2) * r * (1 - r);
                c[((size_t)x * layers + l) * heads + j] = r + spread;
            }
    kvp_artefact *a = st_artefact(&(st_tensor){"prune_ratios", 3, {99, layers, heads}, c}, 1, NULL);
    free(c);
    return a;
}

/* ---- the specification syntax ------------------------------------------------------------ */

START_TEST(test_spec_lists_and_optional_presses) {
    const char *good[] = {
        "composed(presses=[knorm(compression_ratio=0.25), keydiff(compression_ratio=0.5)])",
        "composed(presses=[])",
        "per_layer_compression(press=knorm, compression_ratios=[0.1, 0.5, 1])",
        "prefill_decoding(prefilling_press=knorm(compression_ratio=0.5), decoding_press=none)",
        "prefill_decoding(prefilling_press=none, decoding_press=decoding(press=knorm))",
        "composed(presses=[composed(presses=[knorm]), adakv(press=knorm)])",
        "dms(press=knorm, threshold=-2, sliding_window_size=8, decoding=true)",
        "lukv", /* its default inner press: expected_attention(epsilon=0.02) */
        "cam(press=streaming_llm, target_size=64, merge_budget=4, seed=9)",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        kvp_press *p = press_of(good[i]);
        char d1[2048], d2[2048];
        CK_OK(kvp_press_describe(p, d1, sizeof d1));
        kvp_press *again = press_of(d1); /* the description parses back to itself */
        CK_OK(kvp_press_describe(again, d2, sizeof d2));
        ck_assert_str_eq(d1, d2);
        kvp_press_destroy(again);
        kvp_press_destroy(p);
    }
    kvp_press *p = press_of("lukv");
    char d[1024];
    CK_OK(kvp_press_describe(p, d, sizeof d));
    ck_assert_msg(strstr(d, "press=expected_attention(") && strstr(d, "epsilon=0.02"), "%s", d);
    kvp_press_destroy(p);
    p = press_of("per_layer_compression(press=knorm, compression_ratios=[0.1, 0.5, 1])");
    double r[4];
    int count = 0;
    CK_OK(kvp_press_get_floats(p, "compression_ratios", r, 4, &count));
    ck_assert_int_eq(count, 3);
    ck_assert(r[0] == 0.1 && r[1] == 0.5 && r[2] == 1.0);
    double mean = 0;
    ck_assert_int_eq(kvp_press_get(p, "compression_ratios", &mean), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, "compression_ratios", 0.5), KVP_ERR_INVALID_ARG);
    double bad[2] = {0.2, 1.5};
    ck_assert_int_eq(kvp_press_set_floats(p, "compression_ratios", bad, 2), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_get_floats(p, "compression_ratios", r, 4, &count), KVP_OK);
    ck_assert_int_eq(count, 3); /* unchanged by the refused call */
    ck_assert_int_eq(kvp_press_set_floats(p, "compression_ratios", NULL, 2), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(p);
    /* add_press checks the member like set_press checks an inner press */
    p = press_of("composed");
    kvp_press *m = press_of("decoding(press=knorm)");
    ck_assert_int_eq(kvp_press_add_press(p, "presses", m), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_press(p, "presses", m), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_add_press(p, "presses", p), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(m);
    m = press_of("knorm");
    CK_OK(kvp_press_add_press(p, "presses", m));
    ck_assert_int_eq(kvp_press_add_press(p, "presses", m), KVP_ERR_INVALID_ARG); /* twice */
    kvp_press_destroy(p);
    const char *bad_specs[] = {
        "composed(presses=[knorm, ])", "composed(presses=knorm)", "composed(presses=[knorm",
        "composed(presses=[decoding(press=knorm)])", "composed(presses=[0.5])",
        "per_layer_compression(press=knorm, compression_ratios=[0.1, x])",
        "per_layer_compression(press=knorm, compression_ratios=[0.1, -0.5])",
        "per_layer_compression(press=knorm, compression_ratios=[knorm])",
        "per_layer_compression(compression_ratios=[0.5])", /* no press */
        "prefill_decoding(decoding_press=knorm)", "prefill_decoding(prefilling_press=decoding(press=knorm))",
        "key_rerotation(press=none)", "chunk(press=adakv(press=knorm))", "block(press=decoding(press=knorm))",
        "cam(press=adakv(press=knorm))", "dms(press=knorm, threshold=nan, decoding=2)",
        "merging(press=knorm, similarity_threshold=1.5)", "compression_ratio_decoding(press=knorm, target_compression_ratio=1)",
        "lukv(compression_ratio=1)", "critical_adakv(press=knorm, first_stage_ratio=2)",
    };
    for (size_t i = 0; i < sizeof bad_specs / sizeof *bad_specs; i++) {
        p = (kvp_press *)1;
        ck_assert_msg(kvp_press_parse(bad_specs[i], &p) != KVP_OK, "'%s' parsed", bad_specs[i]);
        ck_assert_ptr_null(p);
        ck_assert_msg(kvp_last_error()[0], "'%s': no message", bad_specs[i]);
    }
}
END_TEST

/* ---- bad input ---------------------------------------------------------------------------- */

START_TEST(test_bad_input) {
    layer_set s;
    set_make(&s, "bad-input", N);
    rig g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 8);
    kvp_inputs *none;
    CK_OK(kvp_inputs_create(H.ctx, &none));
    /* composed: a head-wise member before the last; a member that fails after the first ran
     * (snapkv's window is the 48 tokens knorm left): restored */
    expect_fails(H.ctx, &g, "composed(presses=[adakv(press=knorm, compression_ratio=0.5), knorm(compression_ratio=0.5)])",
                 g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "composed(presses=[knorm(compression_ratio=0.5), snapkv(compression_ratio=0.5, window_size=48)])",
                 g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "composed(presses=[knorm(compression_ratio=0.5), snapkv(compression_ratio=0.5, window_size=8)])",
                 none, KVP_ERR_MISSING_INPUT);
    /* per-layer: no ratio for layer 1 */
    expect_fails(H.ctx, &g, "per_layer_compression(press=knorm, compression_ratios=[0.5])", g.in,
                 KVP_ERR_INVALID_ARG);
    /* key re-rotation without the RoPE definition */
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, s.queries, 3, HQ, N, D);
    kvp_inputs *no_rope;
    CK_OK(kvp_inputs_create(H.ctx, &no_rope));
    CK_OK(kvp_inputs_set_queries(no_rope, &q, 0));
    expect_fails(H.ctx, &g, "key_rerotation(press=knorm, compression_ratio=0.5)", no_rope, KVP_ERR_MISSING_INPUT);
    /* chunk: the last chunk (16 tokens) is not longer than snapkv's window */
    expect_fails(H.ctx, &g, "chunk(press=snapkv(window_size=16), compression_ratio=0.5, chunk_length=40)",
                 g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "chunk(press=snapkv(window_size=4), compression_ratio=0.5, chunk_length=40)",
                 none, KVP_ERR_MISSING_INPUT);
    expect_fails(H.ctx, &g, "block(press=snapkv(window_size=4), compression_ratio=0.5, block_size=16)",
                 none, KVP_ERR_MISSING_INPUT);
    /* finch: no question length, a question as long as the layer, chunks not longer than
     * window / (1 - r), no RoPE to re-rotate with, a ratio out of [0, 1) */
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.5)", g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.5, window_size=96)", g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.5, window_size=200)", g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.5, window_size=16, chunk_length=32)", g.in,
                 KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.75, window_size=16, chunk_length=60)", g.in,
                 KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.5, window_size=16)", no_rope, KVP_ERR_MISSING_INPUT);
    expect_fails(H.ctx, &g, "finch(compression_ratio=0.5, window_size=16)", none, KVP_ERR_MISSING_INPUT);
    {
        kvp_press *f = press_of("finch(window_size=16)");
        ck_assert_int_eq(kvp_press_set_float(f, "compression_ratio", 1.0), KVP_ERR_INVALID_ARG);
        ck_assert_int_eq(kvp_press_set_float(f, "compression_ratio", -0.1), KVP_ERR_INVALID_ARG);
        ck_assert_int_eq(kvp_press_set_int(f, "window_size", -1), KVP_ERR_INVALID_ARG);
        kvp_press *bad = NULL;
        ck_assert_int_eq(kvp_press_parse("finch(compression_ratio=1.5, window_size=16)", &bad),
                         KVP_ERR_INVALID_ARG);
        ck_assert_ptr_null(bad);
        uint64_t unchanged = cache_checksum(g.cache);
        CK_OK(kvp_compress(H.ctx, f, g.cache, 1, g.in)); /* ratio 0 (kvpress's default): nothing */
        ck_assert(cache_checksum(g.cache) == unchanged);
        kvp_press_destroy(f);
    }
    /* critical_adakv without W_o; lukv without its artefact; dms without a threshold */
    expect_fails(H.ctx, &g, "critical_adakv(press=knorm, compression_ratio=0.5)", none, KVP_ERR_MISSING_INPUT);
    expect_fails(H.ctx, &g, "lukv(press=knorm, compression_ratio=0.5)", g.in, KVP_ERR_MISSING_INPUT);
    expect_fails(H.ctx, &g, "dms(press=knorm)", g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "merging(press=knorm, compression_ratio=0.5, merge_fraction=0)", g.in,
                 KVP_ERR_INVALID_ARG);
    /* decoding presses are not prefill presses, and need their inputs */
    expect_fails(H.ctx, &g, "cam(press=knorm)", g.in, KVP_ERR_INVALID_ARG);
    expect_fails(H.ctx, &g, "compression_ratio_decoding(press=knorm)", g.in, KVP_ERR_INVALID_ARG);
    kvp_press *cam = press_of("cam(press=knorm, compression_interval=1, target_size=8)");
    uint64_t before = cache_checksum(g.cache);
    ck_assert_int_eq(kvp_decode_step(H.ctx, cam, g.cache, 1, none, NULL), KVP_ERR_MISSING_INPUT);
    ck_assert_int_eq(kvp_decode_step(H.ctx, cam, g.cache, 1, no_rope, NULL), KVP_ERR_MISSING_INPUT);
    ck_assert(cache_checksum(g.cache) == before);
    kvp_press_destroy(cam);
    /* a DMS decoding step needs its prefill first */
    kvp_press *dms = press_of("dms(press=knorm, threshold=-3, sliding_window_size=8, decoding=true)");
    ck_assert_int_eq(kvp_decode_step(H.ctx, dms, g.cache, 1, g.in, NULL), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "kvp_compress"));
    ck_assert(cache_checksum(g.cache) == before);
    kvp_press_destroy(dms);
    /* lukv: artefacts of the wrong shape, and a curve of another model */
    kvp_press *lk = press_of("lukv(press=knorm, compression_ratio=0.5)");
    float junk[12] = {0};
    kvp_artefact *a = st_artefact(&(st_tensor){"prune_ratios", 2, {3, 4}, junk}, 1, NULL);
    ck_assert_int_eq(kvp_press_set_artefact(lk, a), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "prune_ratios"));
    kvp_artefact_destroy(a);
    float *wrong = calloc((size_t)98 * 3 * 2, sizeof(float));
    a = st_artefact(&(st_tensor){"prune_ratios", 3, {98, 3, 2}, wrong}, 1, NULL);
    ck_assert_int_eq(kvp_press_set_artefact(lk, a), KVP_ERR_INVALID_ARG);
    kvp_artefact_destroy(a);
    free(wrong);
    /* another press's artefact */
    a = st_artefact(&(st_tensor){"filters", 2, {3, 4}, junk}, 1, NULL);
    ck_assert_int_eq(kvp_press_set_artefact(lk, a), KVP_ERR_NOT_FOUND);
    kvp_artefact_destroy(a);
    a = lukv_curve(LAYERS + 1, HK); /* made for a model of another depth */
    CK_OK(kvp_press_set_artefact(lk, a));
    before = cache_checksum(g.cache);
    ck_assert_int_eq(kvp_compress(H.ctx, lk, g.cache, 1, g.in), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "curve"));
    ck_assert(cache_checksum(g.cache) == before);
    kvp_press_destroy(lk);
    kvp_artefact_destroy(a);
    /* the artefact reaches a press inside a wrapper; a press that takes none refuses it */
    kvp_press *wrapped = press_of("composed(presses=[knorm(compression_ratio=0.5), lukv(press=knorm, compression_ratio=0.5)])");
    a = lukv_curve(LAYERS, HK);
    CK_OK(kvp_press_set_artefact(wrapped, a));
    CK_OK(kvp_compress(H.ctx, wrapped, g.cache, 1, g.in));
    kvp_press *plain = press_of("knorm");
    ck_assert_int_eq(kvp_press_set_artefact(plain, a), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(plain);
    kvp_press_destroy(wrapped);
    kvp_artefact_destroy(a);
    kvp_inputs_destroy(no_rope);
    kvp_inputs_destroy(none);
    rig_free(&g);
    set_free(&s);
}
END_TEST

/* Out of memory at every allocation point: a clean failure, the cache unchanged. */
static void sweep(const char *spec, int decode, kvp_artefact *a) {
    layer_set s;
    set_make(&s, "sweep", N);
    for (long after = 0; after < 400; after++) {
        rig g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 8);
        kvp_press *p = press_of(spec);
        if (a) CK_OK(kvp_press_set_artefact(p, a));
        if (decode == 2) /* a DMS decoding step continues a prefill */
            CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
        uint64_t before = cache_checksum(g.cache);
        kvp__test_fail_alloc_after(H.ctx, after);
        kvp_status st = decode ? kvp_decode_step(H.ctx, p, g.cache, 1, g.in, NULL)
                               : kvp_compress(H.ctx, p, g.cache, 1, g.in);
        kvp__test_fail_alloc_after(H.ctx, -1);
        kvp_press_destroy(p);
        uint64_t now = cache_checksum(g.cache);
        rig_free(&g);
        if (st == KVP_OK) {
            set_free(&s);
            return;
        }
        ck_assert_msg(st == KVP_ERR_OUT_OF_HOST_MEMORY || st == KVP_ERR_OUT_OF_DEVICE_MEMORY,
                      "%s, failure after %ld: %s (%s)", spec, after, kvp_status_name(st),
                      kvp_context_last_error(H.ctx));
        ck_assert_msg(now == before, "%s: cache changed after out-of-memory at %ld", spec, after);
    }
    ck_abort_msg("%s still failing after 400 allocations", spec);
}

START_TEST(test_alloc_failures) {
    static const char *specs[] = {
        "composed(presses=[knorm(compression_ratio=0.25), keydiff(compression_ratio=0.5)])",
        "per_layer_compression(press=knorm, compression_ratios=[0.1, 0.5, 0.3])",
        "key_rerotation(press=knorm, compression_ratio=0.5)",
        "chunk(press=snapkv(window_size=8), compression_ratio=0.5, chunk_length=40)",
        "block(press=keydiff, compression_ratio=0.5, block_size=16)",
        "critical_adakv(press=snapkv(window_size=8), compression_ratio=0.5)",
        "dms(press=knorm, threshold=-4, sliding_window_size=16)",
        "merging(press=knorm, compression_ratio=0.5, merge_fraction=0.5)",
        "prefill_decoding(prefilling_press=knorm(compression_ratio=0.5))",
        "finch(compression_ratio=0.5, window_size=16)",
        "finch(compression_ratio=0.5, window_size=16, chunk_length=40)",
        "finch(compression_ratio=0.5, window_size=16, chunk_length=48)",
    };
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) sweep(specs[i], 0, NULL);
    kvp_artefact *a = lukv_curve(LAYERS, HK);
    sweep("lukv(press=knorm, compression_ratio=0.5)", 0, a);
    kvp_artefact_destroy(a);
    sweep("cam(press=knorm, compression_interval=1, target_size=40, merge_budget=4)", 1, NULL);
    sweep("compression_ratio_decoding(press=knorm, compression_interval=1)", 1, NULL);
    sweep("dms(press=knorm, threshold=-4, sliding_window_size=8, decoding=true)", 2, NULL);
}
END_TEST

/* ---- properties --------------------------------------------------------------------------- */

/* kvpress's check: re-rotated keys equal the pre-RoPE keys rotated at their new positions,
 * and the layer then takes the next tokens right after the compressed length. */
START_TEST(test_key_rerotation_is_rope_at_new_positions) {
    static const kvp_dtype dts[] = {KVP_DTYPE_F32, KVP_DTYPE_F16, KVP_DTYPE_BF16};
    for (int k = 0; k < 3; k++) {
        layer_set s;
        set_make(&s, "rerotation", 200);
        rig g = rig_make(H.ctx, &s, 1, dts[k], 8);
        kvp_press *p = press_of("key_rerotation(press=keydiff, compression_ratio=0.6)");
        CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
        int64_t len[HK];
        CK_OK(kvp_cache_get_lengths(g.cache, 1, len));
        int64_t m = kvp_n_keep(200, 0.6);
        size_t es = kvp_dtype_size(dts[k]);
        void *keys = malloc((size_t)m * D * es), *vals = malloc((size_t)m * D * es);
        int32_t pos[200];
        double tol = dts[k] == KVP_DTYPE_F32 ? 1e-5 : dts[k] == KVP_DTYPE_F16 ? 4e-3 : 3e-2;
        for (int j = 0; j < HK; j++) {
            ck_assert_int_eq(len[j], m);
            CK_OK(kvp_cache_read(g.cache, 1, j, keys, vals, pos));
            int64_t t = 0;
            for (int64_t u = 0; u < m; u++, t++) {
                ck_assert_int_eq(pos[u], u);
                /* the token of row u, by its value (values are not re-rotated) */
                float first = kvp__load(dts[k], vals, (size_t)u * D);
                void *one = to_dtype(&s.values[((size_t)j * 200 + t) * D], 1, dts[k]);
                while (t < 200) {
                    free(one);
                    one = to_dtype(&s.values[((size_t)j * 200 + t) * D], 1, dts[k]);
                    if (kvp__load(dts[k], one, 0) == first) break;
                    t++;
                }
                free(one);
                ck_assert_int_lt(t, 200);
                /* RoPE of the pre-RoPE key at position u, half-split, theta 1e4 */
                const float *x = &s.prerope[((size_t)j * 200 + t) * D];
                for (int f = 0; f < D / 2; f++) {
                    double a = (double)u * pow(10000.0, -2.0 * f / D);
                    double want_u = x[f] * cos(a) - x[f + D / 2] * sin(a);
                    double want_v = x[f + D / 2] * cos(a) + x[f] * sin(a);
                    double got_u = kvp__load(dts[k], keys, (size_t)u * D + f);
                    double got_v = kvp__load(dts[k], keys, (size_t)u * D + f + D / 2);
                    ck_assert_msg(fabs(got_u - want_u) <= tol * (1 + fabs(want_u)) &&
                                      fabs(got_v - want_v) <= tol * (1 + fabs(want_v)),
                                  "%s head %d row %lld pair %d: (%g, %g) vs (%g, %g)",
                                  kvp_dtype_name(dts[k]), j, (long long)u, f, got_u, got_v, want_u, want_v);
                }
            }
        }
        /* the next token goes right after the compressed cache */
        float one_row[HK * D] = {0};
        kvp_tensor t1 = kvp_tensor_host(KVP_DTYPE_F32, one_row, 3, HK, 1, D);
        CK_OK(kvp_cache_append(g.cache, 1, &t1, &t1, m));
        free(keys);
        free(vals);
        kvp_press_destroy(p);
        rig_free(&g);
        set_free(&s);
    }
}
END_TEST

/* kvpress's test: ratios [0.1, 1] on 256 tokens leave 230 and 0 tokens. */
START_TEST(test_per_layer_lengths) {
    layer_set s;
    set_make(&s, "per-layer", 256);
    rig g = rig_make(H.ctx, &s, -1, KVP_DTYPE_F32, 0);
    kvp_press *p = press_of("per_layer_compression(press=knorm, compression_ratios=[0.1, 1, 0.5])");
    int64_t want[3] = {230, 0, 128};
    for (int l = 0; l < LAYERS; l++) {
        CK_OK(kvp_compress(H.ctx, p, g.cache, l, g.in));
        int64_t len[HK];
        CK_OK(kvp_cache_get_lengths(g.cache, l, len));
        for (int j = 0; j < HK; j++) ck_assert_int_eq(len[j], want[l]);
    }
    kvp_press_destroy(p);
    rig_free(&g);
    set_free(&s);
}
END_TEST

/* kvpress's test: for a scorer of per-token information, any block size gives the set of
 * plain top-k. */
START_TEST(test_block_equals_topk_for_per_token_scores) {
    layer_set s;
    set_make(&s, "block", 256);
    rig ref = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 0);
    kvp_press *plain = press_of("knorm(compression_ratio=0.5)");
    CK_OK(kvp_compress(H.ctx, plain, ref.cache, 1, ref.in));
    uint64_t want = cache_checksum(ref.cache);
    int sizes[] = {2, 4, 8, 128, 256, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        rig g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 0);
        char spec[128];
        snprintf(spec, sizeof spec, "block(press=knorm, compression_ratio=0.5, block_size=%d)", sizes[i]);
        kvp_press *p = press_of(spec);
        CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
        ck_assert_msg(cache_checksum(g.cache) == want, "%s differs from plain top-k", spec);
        kvp_press_destroy(p);
        rig_free(&g);
    }
    kvp_press_destroy(plain);
    rig_free(&ref);
    set_free(&s);
}
END_TEST

/* kvpress's test: chunk(knorm 0.5) keeps 128 of 256 tokens for chunk lengths 2 .. 128; and
 * each chunk keeps its own best max(1, int(len (1 - r))). */
START_TEST(test_chunk_counts) {
    layer_set s;
    set_make(&s, "chunk", 256);
    int lengths[] = {2, 4, 8, 128};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        rig g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 0);
        char spec[128];
        snprintf(spec, sizeof spec, "chunk(press=knorm, compression_ratio=0.5, chunk_length=%d)", lengths[i]);
        kvp_press *p = press_of(spec);
        CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
        int64_t len[HK];
        CK_OK(kvp_cache_get_lengths(g.cache, 1, len));
        for (int j = 0; j < HK; j++) ck_assert_int_eq(len[j], 128);
        kvp_press_destroy(p);
        rig_free(&g);
    }
    /* 256 tokens in chunks of 100, 100, 56 at ratio 0.7: 30 + 30 + 16 kept, the best of each */
    rig g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 0);
    kvp_press *p = press_of("chunk(press=knorm, compression_ratio=0.7, chunk_length=100)");
    CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
    int64_t len[HK];
    unsigned char *kept = kept_positions(g.cache, 1, 256, len);
    int bounds[4] = {0, 100, 200, 256}, want[3] = {30, 30, 16};
    for (int j = 0; j < HK; j++)
        for (int c = 0; c < 3; c++) {
            int count = 0;
            float worst_kept = INFINITY, best_evicted = -INFINITY;
            for (int t = bounds[c]; t < bounds[c + 1]; t++) {
                const float *k = &s.keys[((size_t)j * 256 + t) * D];
                double nrm = 0;
                for (int e = 0; e < D; e++) nrm += (double)k[e] * k[e];
                float score = -(float)sqrt(nrm);
                if (kept[(size_t)j * 256 + t]) count++, worst_kept = fminf(worst_kept, score);
                else best_evicted = fmaxf(best_evicted, score);
            }
            ck_assert_int_eq(count, want[c]);
            ck_assert_msg(worst_kept >= best_evicted - 1e-5f, "chunk %d of head %d", c, j);
        }
    free(kept);
    kvp_press_destroy(p);
    rig_free(&g);
    set_free(&s);
}
END_TEST

/* finch keeps the question (the last window_size tokens), counts per chunk as kvpress
 * (max(1, int(len (1 - r)))), and re-rotates the kept keys to positions 0, 1, ... */
START_TEST(test_finch_question_and_chunks) {
    layer_set s;
    set_make(&s, "finch", N);
    /* global, not re-rotated: the 16 question tokens survive in every head */
    rig g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 0);
    kvp_press *p = press_of("finch(compression_ratio=0.75, window_size=16, rerotate_keys=false)");
    CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
    int64_t len[HK];
    unsigned char *kept = kept_positions(g.cache, 1, N, len);
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(len[j], kvp_n_keep(N, 0.75));
        for (int t = N - 16; t < N; t++) ck_assert(kept[(size_t)j * N + t]);
    }
    free(kept);
    kvp_press_destroy(p);
    rig_free(&g);
    /* chunks of 40, 40, 16 at ratio 0.5: 20 + 20 + 8 */
    g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 0);
    p = press_of("finch(compression_ratio=0.5, window_size=16, chunk_length=40, rerotate_keys=false)");
    CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
    kept = kept_positions(g.cache, 1, N, len);
    int bounds[4] = {0, 40, 80, N}, want[3] = {20, 20, 8};
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(len[j], 48);
        for (int c = 0; c < 3; c++) {
            int count = 0;
            for (int t = bounds[c]; t < bounds[c + 1]; t++) count += kept[(size_t)j * N + t];
            ck_assert_int_eq(count, want[c]);
        }
    }
    free(kept);
    kvp_press_destroy(p);
    rig_free(&g);
    /* re-rotated: positions 0 .. 47, and the next token goes right after them */
    g = rig_make(H.ctx, &s, 1, KVP_DTYPE_F32, 1);
    p = press_of("finch(compression_ratio=0.5, window_size=16, chunk_length=40)");
    CK_OK(kvp_compress(H.ctx, p, g.cache, 1, g.in));
    CK_OK(kvp_cache_get_lengths(g.cache, 1, len));
    int32_t pos[N];
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(len[j], 48);
        CK_OK(kvp_cache_read(g.cache, 1, j, NULL, NULL, pos));
        for (int u = 0; u < 48; u++) ck_assert_int_eq(pos[u], u);
    }
    float one_row[HK * D] = {0};
    kvp_tensor t1 = kvp_tensor_host(KVP_DTYPE_F32, one_row, 3, HK, 1, D);
    CK_OK(kvp_cache_append(g.cache, 1, &t1, &t1, 48));
    kvp_press_destroy(p);
    rig_free(&g);
    set_free(&s);
}
END_TEST

/* A chain equals its presses applied one after another; its ratio is 1 - prod(1 - r). */
START_TEST(test_composed_is_the_sequence) {
    layer_set s;
    set_make(&s, "composed", N);
    rig a = rig_make(H.ctx, &s, 1, KVP_DTYPE_BF16, 0), b = rig_make(H.ctx, &s, 1, KVP_DTYPE_BF16, 0);
    kvp_press *chain = press_of("composed(presses=[snapkv(compression_ratio=0.25, window_size=8), "
                                "keydiff(compression_ratio=0.5), merging(press=knorm, compression_ratio=0.2)])");
    const char *steps[] = {"snapkv(compression_ratio=0.25, window_size=8)", "keydiff(compression_ratio=0.5)",
                           "merging(press=knorm, compression_ratio=0.2)"};
    CK_OK(kvp_compress(H.ctx, chain, a.cache, 1, a.in));
    for (int k = 0; k < 3; k++) {
        kvp_press *p = press_of(steps[k]);
        CK_OK(kvp_compress(H.ctx, p, b.cache, 1, b.in));
        kvp_press_destroy(p);
    }
    ck_assert(cache_checksum(a.cache) == cache_checksum(b.cache));
    int64_t len[HK];
    CK_OK(kvp_cache_get_lengths(a.cache, 1, len));
    ck_assert_int_eq(len[0], kvp_n_keep(kvp_n_keep(kvp_n_keep(N, 0.25), 0.5), 0.2));
    /* a chain that ends head-wise leaves a ragged layer */
    kvp_press *ragged = press_of("composed(presses=[knorm(compression_ratio=0.25), "
                                 "adakv(press=keydiff, compression_ratio=0.5)])");
    CK_OK(kvp_compress(H.ctx, ragged, b.cache, 1, b.in));
    kvp_press_destroy(ragged);
    kvp_press_destroy(chain);
    rig_free(&a);
    rig_free(&b);
    set_free(&s);
}
END_TEST

/* -||k|| of a token (knorm's score), from the host data. */
static float knorm_score(const float *keys, int n, int j, int t) {
    double nrm = 0;
    for (int e = 0; e < D; e++) nrm += (double)keys[((size_t)j * n + t) * D + e] * keys[((size_t)j * n + t) * D + e];
    return -(float)sqrt(nrm);
}

/* DMS over knorm (a per-token score): after the prefill and after every decoding step, a
 * token is gone exactly when it left the window of the W newest tokens with a score below the
 * threshold; the other backend's layer equals the CPU's. */
START_TEST(test_dms_window_and_threshold) {
    enum { W = 24, STEPS = 40, TOTAL = N + STEPS };
    layer_set s;
    set_make(&s, "dms", TOTAL);
    const float thr = -4.0f;
    kvp_press *p[2];
    rig g[2];
    for (int c = 0; c < 2; c++) {
        p[c] = press_of("dms(press=knorm, threshold=-4, sliding_window_size=24, decoding=true)");
        layer_set prompt = s;
        prompt.n = N; /* the first N tokens: rows of each head are not contiguous, copy them */
        float *k = malloc(sizeof(float) * HK * N * D), *v = malloc(sizeof(float) * HK * N * D);
        for (int j = 0; j < HK; j++) {
            memcpy(k + (size_t)j * N * D, s.keys + (size_t)j * TOTAL * D, sizeof(float) * N * D);
            memcpy(v + (size_t)j * N * D, s.values + (size_t)j * TOTAL * D, sizeof(float) * N * D);
        }
        prompt.keys = k, prompt.values = v;
        g[c] = rig_make(c ? H.ref : H.ctx, &prompt, 1, KVP_DTYPE_F32, STEPS);
        free(k);
        free(v);
        CK_OK(kvp_compress(g[c].ctx, p[c], g[c].cache, 1, g[c].in));
    }
    for (int step = 0; step <= STEPS; step++) {
        int n = N + step;
        for (int c = 0; c < 2; c++) {
            if (step > 0) {
                float k[HK * D], v[HK * D];
                for (int j = 0; j < HK; j++) {
                    memcpy(k + j * D, &s.keys[((size_t)j * TOTAL + n - 1) * D], sizeof(float) * D);
                    memcpy(v + j * D, &s.values[((size_t)j * TOTAL + n - 1) * D], sizeof(float) * D);
                }
                kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, k, 3, HK, 1, D);
                kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, v, 3, HK, 1, D);
                CK_OK(kvp_cache_append(g[c].cache, 1, &kt, &vt, n - 1));
                int done = -1;
                kvp_status st = kvp_decode_step(g[c].ctx, p[c], g[c].cache, 1, g[c].in, &done);
                ck_assert_msg(st == KVP_OK, "step %d: %s", step, kvp_context_last_error(g[c].ctx));
            }
        }
        int64_t len[2][HK];
        unsigned char *kept = kept_positions(g[0].cache, 1, TOTAL, len[0]);
        unsigned char *kept_ref = kept_positions(g[1].cache, 1, TOTAL, len[1]);
        ck_assert(!memcmp(kept, kept_ref, (size_t)HK * TOTAL));
        for (int j = 0; j < HK; j++)
            for (int t = 0; t < n; t++) {
                int left = t < n - W && n > W;
                int want = !(left && knorm_score(s.keys, TOTAL, j, t) < thr);
                ck_assert_msg(kept[(size_t)j * TOTAL + t] == want, "step %d head %d token %d", step, j, t);
            }
        free(kept);
        free(kept_ref);
    }
    for (int c = 0; c < 2; c++) {
        kvp_press_destroy(p[c]);
        rig_free(&g[c]);
    }
    set_free(&s);
}
END_TEST

/* Appends token `t` of the set (one row per head) to layer 1 at position t. */
static void append_token(rig *g, const layer_set *s, int t) {
    float k[HK * D], v[HK * D];
    for (int j = 0; j < HK; j++) {
        memcpy(k + j * D, &s->keys[((size_t)j * s->n + t) * D], sizeof(float) * D);
        memcpy(v + j * D, &s->values[((size_t)j * s->n + t) * D], sizeof(float) * D);
    }
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, k, 3, HK, 1, D);
    kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, v, 3, HK, 1, D);
    CK_OK(kvp_cache_append(g->cache, 1, &kt, &vt, t));
}

/* The step's pre-RoPE query (token t of the set) as the inputs of a decoding step. */
static void step_inputs(rig *g, const layer_set *s, int t, float *q) {
    for (int h = 0; h < HQ; h++) memcpy(q + h * D, &s->queries[((size_t)h * s->n + t) * D], sizeof(float) * D);
    kvp_inputs_reset(g->in);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    CK_OK(kvp_inputs_set_rope(g->in, &rope));
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, HQ, 1, D);
    CK_OK(kvp_inputs_set_queries(g->in, &qt, t));
}

/* The first n tokens of a set as a prompt set (rows copied: the set's heads are strided). */
static layer_set prefix(const layer_set *s, int n) {
    layer_set p;
    memset(&p, 0, sizeof p);
    p.n = n;
    p.keys = malloc(sizeof(float) * HK * n * D);
    p.values = malloc(sizeof(float) * HK * n * D);
    p.queries = malloc(sizeof(float) * HQ * n * D);
    p.wo = malloc(sizeof(float) * DMODEL * HQ * D);
    p.prerope = NULL;
    for (int j = 0; j < HK; j++) {
        memcpy(p.keys + (size_t)j * n * D, s->keys + (size_t)j * s->n * D, sizeof(float) * n * D);
        memcpy(p.values + (size_t)j * n * D, s->values + (size_t)j * s->n * D, sizeof(float) * n * D);
    }
    for (int h = 0; h < HQ; h++)
        memcpy(p.queries + (size_t)h * n * D, s->queries + (size_t)h * s->n * D, sizeof(float) * n * D);
    memcpy(p.wo, s->wo, sizeof(float) * DMODEL * HQ * D);
    return p;
}

/* compression_ratio_decoding: every `interval` steps the layer keeps
 * max(1, int(T (1 - r))) tokens, T = the step's position + 1 (kvpress's example: position
 * 107 -> T = 108 -> 54; a cache already below the target is left as it is). */
START_TEST(test_compression_ratio_decoding_targets) {
    enum { STEPS = 30 };
    layer_set s;
    set_make(&s, "ratio-decoding", N + STEPS);
    layer_set prompt = prefix(&s, N);
    rig g = rig_make(H.ctx, &prompt, 1, KVP_DTYPE_F32, STEPS);
    kvp_press *p = press_of("compression_ratio_decoding(press=knorm, target_compression_ratio=0.4, "
                            "compression_interval=7)");
    int64_t length = N;
    for (int step = 0; step < STEPS; step++) {
        int t = N + step;
        float q[HQ * D];
        append_token(&g, &s, t);
        length++;
        step_inputs(&g, &s, t, q);
        int done = -1;
        CK_OK(kvp_decode_step(H.ctx, p, g.cache, 1, g.in, &done));
        int64_t target = (int64_t)((double)(t + 1) * (1.0 - 0.4));
        if ((step + 1) % 7 == 0 && length > target) length = target;
        ck_assert_int_eq(done, (step + 1) % 7 == 0 && length == target);
        int64_t len[HK];
        CK_OK(kvp_cache_get_lengths(g.cache, 1, len));
        for (int j = 0; j < HK; j++) ck_assert_int_eq(len[j], length);
    }
    kvp_press_destroy(p);
    rig_free(&g);
    set_free(&prompt);
    set_free(&s);
}
END_TEST

/* The attention of the pre-RoPE query q (heads HQ) at position qpos over the cache rows
 * (layer 1), averaged over each kv head's query heads: a [HK, n] in double. */
static void last_query_attention(const rig *g, const float *q, int qpos, double *a, int64_t *n_out) {
    int64_t len[HK];
    CK_OK(kvp_cache_get_lengths(g->cache, 1, len));
    int64_t n = len[0];
    *n_out = n;
    float qr[HQ * D];
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, (void *)q, 3, HQ, 1, D);
    kvp_tensor ot = kvp_tensor_host(KVP_DTYPE_F32, qr, 3, HQ, 1, D);
    CK_OK(kvp_rope_apply(H.ref, &rope, &qt, qpos, &ot));
    float *k = malloc(sizeof(float) * (size_t)n * D);
    double *z = malloc(sizeof(double) * (size_t)n);
    for (int j = 0; j < HK; j++) {
        CK_OK(kvp_cache_read(g->cache, 1, j, k, NULL, NULL));
        for (int64_t t = 0; t < n; t++) a[(size_t)j * n + t] = 0;
        for (int i = j * (HQ / HK); i < (j + 1) * (HQ / HK); i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t t = 0; t < n; t++) {
                double dot = 0;
                for (int e = 0; e < D; e++) dot += (double)qr[i * D + e] * k[t * D + e];
                z[t] = dot / sqrt((double)D);
                mx = fmax(mx, z[t]);
            }
            for (int64_t t = 0; t < n; t++) sum += exp(z[t] - mx);
            for (int64_t t = 0; t < n; t++) a[(size_t)j * n + t] += exp(z[t] - mx) / sum / (HQ / HK);
        }
    }
    free(k);
    free(z);
}

/* CAM's merge draws: one decoding step that compresses (interval 1), merge budget 1, so the
 * single merge candidate e (the evicted token with the best knorm score) adds v_e to the next
 * kept token t in kv head j with probability p_j = A[j, e] / A[j, t] (clamped to 1), A the
 * step's attention. Over many seeds the frequency of each head's merge matches p_j, and a
 * merged value is exactly v_t + v_e. */
START_TEST(test_cam_merge_frequencies) {
    enum { SEEDS = 160, TARGET = N - 24 };
    layer_set s;
    set_make(&s, "cam", N + 1);
    layer_set prompt = prefix(&s, N);
    int merges[HK] = {0};
    double p_want[HK] = {0};
    int e_tok = -1, t_tok = -1;
    for (int seed = 0; seed < SEEDS; seed++) {
        rig g = rig_make(H.ctx, &prompt, 1, KVP_DTYPE_F32, 1);
        char spec[160];
        snprintf(spec, sizeof spec, "cam(press=knorm, compression_interval=1, target_size=%d, "
                 "merge_budget=1, seed=%d)", TARGET, seed);
        kvp_press *p = press_of(spec);
        float q[HQ * D];
        append_token(&g, &s, N);
        step_inputs(&g, &s, N, q);
        if (seed == 0) {
            /* the candidate and its target, and p, computed here from the definitions */
            double *a = malloc(sizeof(double) * HK * (N + 1));
            int64_t n;
            last_query_attention(&g, q, N, a, &n);
            float mu[N + 1];
            for (int t = 0; t <= N; t++)
                mu[t] = 0.5f * (knorm_score(s.keys, N + 1, 0, t) + knorm_score(s.keys, N + 1, 1, t));
            /* kept: the TARGET best mu; evicted: the rest; the candidate: the best evicted */
            int order[N + 1];
            for (int t = 0; t <= N; t++) order[t] = t;
            for (int x = 0; x <= N; x++)
                for (int y = x + 1; y <= N; y++)
                    if (mu[order[y]] > mu[order[x]]) {
                        int tmp = order[x];
                        order[x] = order[y];
                        order[y] = tmp;
                    }
            e_tok = order[TARGET];
            char kept[N + 1] = {0};
            for (int r = 0; r < TARGET; r++) kept[order[r]] = 1;
            for (int t = e_tok + 1; t <= N && t_tok < 0; t++)
                if (kept[t]) t_tok = t;
            ck_assert_int_ge(t_tok, 0);
            for (int j = 0; j < HK; j++) {
                double r = a[(size_t)j * n + e_tok] / a[(size_t)j * n + t_tok];
                p_want[j] = r > 1 ? 1 : r;
            }
            free(a);
        }
        int done = 0;
        CK_OK(kvp_decode_step(H.ctx, p, g.cache, 1, g.in, &done));
        ck_assert_int_eq(done, 1);
        float vals[(N + 1) * D];
        int32_t pos[N + 1];
        for (int j = 0; j < HK; j++) {
            CK_OK(kvp_cache_read(g.cache, 1, j, NULL, vals, pos));
            int row = 0;
            while (pos[row] != t_tok) row++;
            const float *vt = &s.values[((size_t)j * (N + 1) + t_tok) * D];
            const float *ve = &s.values[((size_t)j * (N + 1) + e_tok) * D];
            int same = !memcmp(&vals[row * D], vt, sizeof(float) * D), merged = 1;
            for (int c = 0; c < D; c++) merged &= fabsf(vals[row * D + c] - (vt[c] + ve[c])) <= 1e-6f * (1 + fabsf(vt[c]));
            ck_assert_msg(same != merged, "head %d: the target value is neither v_t nor v_t + v_e", j);
            merges[j] += merged;
            /* every other kept value is untouched */
            for (int r2 = 0; r2 < TARGET; r2++)
                if (pos[r2] != t_tok)
                    ck_assert(!memcmp(&vals[r2 * D], &s.values[((size_t)j * (N + 1) + pos[r2]) * D],
                                      sizeof(float) * D));
        }
        kvp_press_destroy(p);
        rig_free(&g);
    }
    for (int j = 0; j < HK; j++) {
        double mean = SEEDS * p_want[j], sd = sqrt(SEEDS * p_want[j] * (1 - p_want[j]));
        if (getenv("KVP_TEST_VERBOSE")) printf("cam head %d: e %d t %d p %.4f merges %d/%d\n", j, e_tok, t_tok, p_want[j], merges[j], SEEDS);
        ck_assert_msg(fabs(merges[j] - mean) <= 4 * sd + 1, "head %d: %d merges in %d draws, p = %.3f",
                      j, merges[j], SEEDS, p_want[j]);
    }
    set_free(&prompt);
    set_free(&s);
}
END_TEST

/* CAM with probability 1 everywhere (equal keys: every token gets the same attention, and the
 * window tokens, newer, have summed less): after each compression every candidate's value,
 * divided by its window's size, is in each of its window's values. Checked against a host
 * model of PRESSES.md 2.44 with streaming_llm, whose kept and evicted sets are known. The
 * other backend gives the same layer as the CPU. */
START_TEST(test_cam_certain_merges) {
    enum { STEPS = 6, TARGET = 40, M = 3, SINK = 4 };
    layer_set s;
    set_make(&s, "cam-certain", N + STEPS);
    for (size_t i = 0; i < (size_t)HK * (N + STEPS) * D; i++) s.keys[i] = 0.5f;
    layer_set prompt = prefix(&s, N);
    /* the host model: values and positions of each head's entries */
    int n = N, posv[N + STEPS];
    float *model = malloc(sizeof(float) * HK * (N + STEPS) * D);
    for (int t = 0; t < N; t++) posv[t] = t;
    for (int j = 0; j < HK; j++)
        for (int t = 0; t < N; t++)
            memcpy(&model[((size_t)j * (N + STEPS) + t) * D], &s.values[((size_t)j * (N + STEPS) + t) * D], sizeof(float) * D);
    rig g[2];
    kvp_press *p[2];
    for (int c = 0; c < 2; c++) {
        g[c] = rig_make(c ? H.ref : H.ctx, &prompt, 1, KVP_DTYPE_F32, STEPS);
        p[c] = press_of("cam(press=streaming_llm(n_sink=4), compression_interval=3, target_size=40, merge_budget=3)");
    }
    int steps = 0;
    for (int step = 0; step < STEPS; step++) {
        int t = N + step;
        for (int j = 0; j < HK; j++)
            memcpy(&model[((size_t)j * (N + STEPS) + n) * D], &s.values[((size_t)j * (N + STEPS) + t) * D], sizeof(float) * D);
        posv[n++] = t;
        steps++;
        if (steps >= 3 && n > TARGET) {
            /* streaming_llm keeps the sinks and the newest; the evicted are the middle, the
             * candidates the `steps` newest of them (equal scores: later first) */
            int E = n - TARGET, first_kept_recent = SINK + E;
            for (int j = 0; j < HK; j++) {
                float *rows = &model[(size_t)j * (N + STEPS) * D];
                float add[N + STEPS][D];
                memset(add, 0, sizeof add);
                for (int e = first_kept_recent - steps; e < first_kept_recent; e++) {
                    int width = TARGET - SINK < M ? TARGET - SINK : M;
                    for (int w = 0; w < width; w++)
                        for (int c = 0; c < D; c++) add[first_kept_recent + w][c] += rows[e * D + c] / (float)width;
                }
                for (int r = first_kept_recent; r < n; r++)
                    for (int c = 0; c < D; c++) rows[r * D + c] += add[r][c];
                memmove(&rows[SINK * D], &rows[first_kept_recent * D], sizeof(float) * D * (size_t)(n - first_kept_recent));
            }
            memmove(&posv[SINK], &posv[first_kept_recent], sizeof(int) * (size_t)(n - first_kept_recent));
            n = TARGET;
            steps = 0;
        }
        for (int c = 0; c < 2; c++) {
            float q[HQ * D];
            append_token(&g[c], &s, t);
            step_inputs(&g[c], &s, t, q);
            CK_OK(kvp_decode_step(g[c].ctx, p[c], g[c].cache, 1, g[c].in, NULL));
            int64_t len[HK];
            CK_OK(kvp_cache_get_lengths(g[c].cache, 1, len));
            float vals[(N + STEPS) * D];
            int32_t pos[N + STEPS];
            for (int j = 0; j < HK; j++) {
                ck_assert_int_eq(len[j], n);
                CK_OK(kvp_cache_read(g[c].cache, 1, j, NULL, vals, pos));
                for (int r = 0; r < n; r++) {
                    ck_assert_int_eq(pos[r], posv[r]);
                    for (int e = 0; e < D; e++) {
                        float want = model[((size_t)j * (N + STEPS) + r) * D + e];
                        ck_assert_msg(fabsf(vals[r * D + e] - want) <= 1e-5f * (1 + fabsf(want)),
                                      "step %d head %d row %d: %g vs %g", step, j, r, vals[r * D + e], want);
                    }
                }
            }
        }
    }
    for (int c = 0; c < 2; c++) {
        kvp_press_destroy(p[c]);
        rig_free(&g[c]);
    }
    free(model);
    set_free(&prompt);
    set_free(&s);
}
END_TEST

/* The prefill presses of this package on both backends: the same kept tokens, and the same
 * cache contents (merged values, re-rotated keys) to rounding. */
START_TEST(test_backends_agree) {
    static const char *specs[] = {
        "key_rerotation(press=snapkv(window_size=8), compression_ratio=0.5)",
        "merging(press=keydiff, compression_ratio=0.6, merge_fraction=0.7, similarity_threshold=0.05)",
        "critical_adakv(press=keydiff, compression_ratio=0.5)",
        "block(press=keydiff, compression_ratio=0.5, block_size=20)",
        "chunk(press=keydiff, compression_ratio=0.5, chunk_length=30)",
        "dms(press=keydiff, threshold=-0.05, sliding_window_size=16)",
    };
    static const kvp_dtype dts[] = {KVP_DTYPE_F32, KVP_DTYPE_BF16};
    layer_set s;
    set_make(&s, "agree", 300);
    kvp_artefact *a = lukv_curve(LAYERS, HK);
    for (size_t i = 0; i < sizeof specs / sizeof *specs + 1; i++)
        for (int k = 0; k < 2; k++) {
            const char *spec = i < sizeof specs / sizeof *specs ? specs[i] : "lukv(press=keydiff, compression_ratio=0.4)";
            rig dev = rig_make(H.ctx, &s, 1, dts[k], 0), ref = rig_make(H.ref, &s, 1, dts[k], 0);
            kvp_press *p = press_of(spec);
            if (i == sizeof specs / sizeof *specs) CK_OK(kvp_press_set_artefact(p, a));
            CK_OK(kvp_compress(H.ctx, p, dev.cache, 1, dev.in));
            CK_OK(kvp_compress(H.ref, p, ref.cache, 1, ref.in));
            int64_t ld[HK], lr[HK];
            CK_OK(kvp_cache_get_lengths(dev.cache, 1, ld));
            CK_OK(kvp_cache_get_lengths(ref.cache, 1, lr));
            size_t es = kvp_dtype_size(dts[k]);
            for (int j = 0; j < HK; j++) {
                ck_assert_msg(ld[j] == lr[j], "%s: head %d keeps %lld, cpu %lld", spec, j,
                              (long long)ld[j], (long long)lr[j]);
                size_t m = (size_t)ld[j] * D;
                void *kd = malloc(m * es), *vd = malloc(m * es), *kr = malloc(m * es), *vr = malloc(m * es);
                int32_t *pd = malloc(sizeof(int32_t) * (size_t)ld[j]), *pr = malloc(sizeof(int32_t) * (size_t)ld[j]);
                CK_OK(kvp_cache_read(dev.cache, 1, j, kd, vd, pd));
                CK_OK(kvp_cache_read(ref.cache, 1, j, kr, vr, pr));
                ck_assert_msg(!memcmp(pd, pr, sizeof(int32_t) * (size_t)ld[j]), "%s: positions differ", spec);
                float *x = malloc(m * sizeof(float)), *y = malloc(m * sizeof(float));
                for (int w = 0; w < 2; w++) {
                    for (size_t e = 0; e < m; e++) {
                        x[e] = kvp__load(dts[k], w ? vd : kd, e);
                        y[e] = kvp__load(dts[k], w ? vr : kr, e);
                    }
                    double err = nmse(x, y, m);
                    ck_assert_msg(err <= (dts[k] == KVP_DTYPE_F32 ? 1e-10 : 1e-5), "%s [%s]: %s NMSE %.3g",
                                  spec, kvp_dtype_name(dts[k]), w ? "values" : "keys", err);
                }
                free(x), free(y), free(kd), free(vd), free(kr), free(vr), free(pd), free(pr);
            }
            kvp_press_destroy(p);
            rig_free(&dev);
            rig_free(&ref);
        }
    kvp_artefact_destroy(a);
    set_free(&s);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("wrappers");
    TCase *api = tcase_create("api");
    tcase_set_timeout(api, 900);
    tcase_add_test(api, test_spec_lists_and_optional_presses);
    tcase_add_test(api, test_bad_input);
    tcase_add_test(api, test_alloc_failures);
    suite_add_tcase(s, api);
    TCase *props = tcase_create("properties");
    tcase_set_timeout(props, 900);
    tcase_add_test(props, test_key_rerotation_is_rope_at_new_positions);
    tcase_add_test(props, test_per_layer_lengths);
    tcase_add_test(props, test_block_equals_topk_for_per_token_scores);
    tcase_add_test(props, test_chunk_counts);
    tcase_add_test(props, test_finch_question_and_chunks);
    tcase_add_test(props, test_composed_is_the_sequence);
    tcase_add_test(props, test_dms_window_and_threshold);
    tcase_add_test(props, test_compression_ratio_decoding_targets);
    tcase_add_test(props, test_cam_merge_frequencies);
    tcase_add_test(props, test_cam_certain_merges);
    tcase_add_test(props, test_backends_agree);
    suite_add_tcase(s, props);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
