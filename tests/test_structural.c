/*
 * Structural presses that work layer by layer: SimLayerKV (lazy layers) and DuoAttention
 * (streaming heads). On the backend under test and on the CPU reference, against decisions
 * computed here independently in double precision; bad input and bad artefacts leave the cache
 * exactly as it was. DuoAttention's on-the-fly calibration runs through the reference runner
 * on the shared model (skipped without it) and is checked against head scores computed here
 * from the model's weights, as kvpress computes them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/runner.h"
#include "safetensors.h"

#ifndef KVP_SHARED_DIR
#define KVP_SHARED_DIR ""
#endif

typedef struct layer {
    int Hq, Hk, d, n, layers, layer;
    float *keys, *values, *queries;
} layer;

static void layer_make(layer *L, const char *name, int Hq, int Hk, int d, int n) {
    memset(L, 0, sizeof *L);
    L->Hq = Hq, L->Hk = Hk, L->d = d, L->n = n, L->layers = 3, L->layer = 1;
    rng r = rng_for(name, n);
    size_t kv = (size_t)Hk * n * d, q = (size_t)Hq * n * d;
    L->keys = malloc(kv * sizeof(float));
    L->values = malloc(kv * sizeof(float));
    L->queries = malloc(q * sizeof(float));
    fill_normal(&r, L->keys, kv, 1.0f);
    fill_normal(&r, L->values, kv, 1.0f);
    fill_normal(&r, L->queries, q, 1.0f);
}

static void layer_free(layer *L) {
    free(L->keys);
    free(L->values);
    free(L->queries);
}

typedef struct setup {
    kvp_cache *cache;
    kvp_inputs *in;
} setup;

/* A cache of L->layers layers holding the layer in L->layer; queries (the last q_rows) and
 * RoPE as inputs. */
static setup setup_on(kvp_context *ctx, const layer *L, kvp_dtype dt, int q_rows) {
    setup s;
    kvp_cache_options o = {.n_layers = L->layers, .n_kv_heads = L->Hk, .head_dim = L->d,
                           .capacity = L->n + 8, .dtype = dt};
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &s.cache), KVP_OK);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, L->keys, 3, L->Hk, L->n, L->d);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, L->values, 3, L->Hk, L->n, L->d);
    ck_assert_int_eq(kvp_cache_append(s.cache, L->layer, &k, &v, 0), KVP_OK);
    ck_assert_int_eq(kvp_inputs_create(ctx, &s.in), KVP_OK);
    if (q_rows > 0) {
        /* the last q_rows queries, head-major */
        float *q = malloc(sizeof(float) * (size_t)L->Hq * q_rows * L->d);
        for (int h = 0; h < L->Hq; h++)
            memcpy(q + (size_t)h * q_rows * L->d,
                   L->queries + ((size_t)h * L->n + (L->n - q_rows)) * L->d,
                   sizeof(float) * (size_t)q_rows * L->d);
        kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, L->Hq, q_rows, L->d);
        ck_assert_int_eq(kvp_inputs_set_queries(s.in, &qt, L->n - q_rows), KVP_OK);
        free(q);
    }
    kvp_rope rope;
    kvp_rope_init(&rope, L->d);
    ck_assert_int_eq(kvp_inputs_set_rope(s.in, &rope), KVP_OK);
    return s;
}

static void setup_free(setup *s) {
    kvp_inputs_destroy(s->in);
    kvp_cache_destroy(s->cache);
}

/* keep[j * n + t]: whether position t survives in head j; lengths per head in len. */
static unsigned char *kept(const kvp_cache *c, int layer_index, int Hk, int n, int64_t *len) {
    unsigned char *k = calloc((size_t)Hk * n, 1);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    ck_assert_int_eq(kvp_cache_get_lengths(c, layer_index, len), KVP_OK);
    for (int j = 0; j < Hk; j++) {
        ck_assert_int_eq(kvp_cache_read(c, layer_index, j, NULL, NULL, pos), KVP_OK);
        for (int64_t t = 0; t < len[j]; t++) {
            ck_assert(t == 0 || pos[t] > pos[t - 1]);
            k[(size_t)j * n + pos[t]] = 1;
        }
    }
    free(pos);
    return k;
}

static kvp_press *press(const char *spec) {
    kvp_press *p = NULL;
    kvp_status st = kvp_press_parse(spec, &p);
    ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_last_error());
    return p;
}

/* ---- SimLayerKV ------------------------------------------------------------------------------ */

/* The laziness score of PRESSES.md 2.23 in double, from the keys as the cache holds them. */
static double simlayer_score(const layer *L, const kvp_cache *cache, int n_last, int n_recent,
                             int n_initial) {
    int n = L->n, d = L->d, G = L->Hq / L->Hk;
    kvp_cache_options o;
    kvp_cache_get_options(cache, &o);
    size_t es = kvp_dtype_size(o.dtype);
    float *keys = malloc(sizeof(float) * (size_t)L->Hk * n * d);
    void *raw = malloc(es * (size_t)n * d);
    for (int j = 0; j < L->Hk; j++) {
        ck_assert_int_eq(kvp_cache_read(cache, L->layer, j, raw, NULL, NULL), KVP_OK);
        kvp_convert(o.dtype, raw, KVP_DTYPE_F32, keys + (size_t)j * n * d, (size_t)n * d);
    }
    float *qr = malloc(sizeof(float) * (size_t)L->Hq * n * d);
    kvp_rope rope;
    kvp_rope_init(&rope, d);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, L->queries, 3, L->Hq, n, d);
    kvp_tensor rt = kvp_tensor_host(KVP_DTYPE_F32, qr, 3, L->Hq, n, d);
    ck_assert_int_eq(kvp_rope_apply(H.ref, &rope, &qt, 0, &rt), KVP_OK);
    double *a = calloc((size_t)n, sizeof(double)), *z = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < L->Hq; i++)
        for (int row = n - n_last; row < n; row++) {
            double mx = -INFINITY, sum = 0;
            for (int t = 0; t <= row; t++) {
                double dot = 0;
                for (int c = 0; c < d; c++)
                    dot += (double)qr[((size_t)i * n + row) * d + c] *
                           keys[((size_t)(i / G) * n + t) * d + c];
                z[t] = dot / sqrt((double)d);
                mx = fmax(mx, z[t]);
            }
            for (int t = 0; t <= row; t++) sum += exp(z[t] - mx);
            for (int t = 0; t <= row; t++) a[t] += exp(z[t] - mx) / sum / (L->Hq * n_last);
        }
    int len = n - n_last;
    double score = 0;
    for (int t = 0; t < n_initial; t++) score += a[t];
    for (int t = n_recent > 0 && n_recent < len ? len - n_recent : 0; t < len; t++) score += a[t];
    free(keys);
    free(raw);
    free(qr);
    free(a);
    free(z);
    return score;
}

START_TEST(test_simlayerkv) {
    const kvp_dtype dts[] = {KVP_DTYPE_F32, KVP_DTYPE_BF16};
    layer L;
    layer_make(&L, "simlayerkv", 8, 4, 32, 300);
    int n_last = 3, n_recent = 40, n_initial = 4;
    for (int di = 0; di < 2; di++) {
        setup probe = setup_on(H.ref, &L, dts[di], n_last);
        double s = simlayer_score(&L, probe.cache, n_last, n_recent, n_initial);
        setup_free(&probe);
        ck_assert(s > 0.02 && s < 0.98);
        /* just above the score: not lazy; just below: lazy; 1: never */
        const double taus[] = {s + 1e-3, s - 1e-3, 1.0};
        for (int k = 0; k < 3; k++) {
            char spec[256];
            snprintf(spec, sizeof spec,
                     "simlayerkv(lazy_threshold=%.9f, n_last=%d, n_recent=%d, n_initial=%d)", taus[k],
                     n_last, n_recent, n_initial);
            kvp_press *p = press(spec);
            setup dev = setup_on(H.ctx, &L, dts[di], 16), ref = setup_on(H.ref, &L, dts[di], 16);
            uint64_t before = cache_checksum(dev.cache);
            kvp_status st = kvp_compress(H.ctx, p, dev.cache, L.layer, dev.in);
            ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_context_last_error(H.ctx));
            CK_OK(kvp_compress(H.ref, p, ref.cache, L.layer, ref.in));
            int64_t len[4], len_ref[4];
            unsigned char *kd = kept(dev.cache, L.layer, L.Hk, L.n, len);
            unsigned char *kr = kept(ref.cache, L.layer, L.Hk, L.n, len_ref);
            ck_assert_msg(!memcmp(kd, kr, (size_t)L.Hk * L.n), "%s: device and CPU differ", spec);
            if (k == 1) {
                for (int j = 0; j < L.Hk; j++) {
                    ck_assert_int_eq(len[j], n_initial + n_recent - n_last);
                    for (int t = 0; t < L.n; t++)
                        ck_assert_int_eq(kd[(size_t)j * L.n + t],
                                         t < n_initial || t >= L.n - (n_recent - n_last));
                }
            } else {
                ck_assert_uint_eq(cache_checksum(dev.cache), before);
            }
            free(kd);
            free(kr);
            setup_free(&dev);
            setup_free(&ref);
            kvp_press_destroy(p);
        }
    }
    layer_free(&L);
}
END_TEST

/* kvpress's x[-0:] slices: n_recent == n_last keeps every token (kvpress even duplicates the
 * initial ones), n_recent < n_last starts the recent part at n_last - n_recent. */
START_TEST(test_simlayerkv_slices) {
    layer L;
    layer_make(&L, "simlayerkv-slices", 4, 2, 16, 120);
    const struct {
        int n_last, n_recent, n_initial, recent0;
    } cases[] = {{2, 2, 4, 0}, {5, 2, 1, 3}, {1, 9, 0, 120 - 8}};
    for (int c = 0; c < 3; c++) {
        char spec[200];
        snprintf(spec, sizeof spec, "simlayerkv(lazy_threshold=0, n_last=%d, n_recent=%d, n_initial=%d)",
                 cases[c].n_last, cases[c].n_recent, cases[c].n_initial);
        kvp_press *p = press(spec);
        setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, 8);
        CK_OK(kvp_compress(H.ctx, p, s.cache, L.layer, s.in));
        int64_t len[2];
        unsigned char *k = kept(s.cache, L.layer, L.Hk, L.n, len);
        for (int j = 0; j < L.Hk; j++)
            for (int t = 0; t < L.n; t++)
                ck_assert_msg(k[(size_t)j * L.n + t] == (t < cases[c].n_initial || t >= cases[c].recent0),
                              "%s: head %d token %d", spec, j, t);
        free(k);
        setup_free(&s);
        kvp_press_destroy(p);
    }
    layer_free(&L);
}
END_TEST

static void expect_fails(const char *spec, kvp_press *given, setup *s, int layer_index,
                         kvp_status want) {
    kvp_press *p = given ? given : press(spec);
    uint64_t before = cache_checksum(s->cache);
    kvp_status st = kvp_compress(H.ctx, p, s->cache, layer_index, s->in);
    ck_assert_msg(st == want, "%s: got %s (%s), want %s", spec, kvp_status_name(st),
                  kvp_context_last_error(H.ctx), kvp_status_name(want));
    ck_assert_msg(kvp_context_last_error(H.ctx)[0], "%s: no message", spec);
    ck_assert_msg(cache_checksum(s->cache) == before, "%s: the cache changed", spec);
    if (!given) kvp_press_destroy(p);
}

START_TEST(test_simlayerkv_bad_input) {
    layer L;
    layer_make(&L, "simlayerkv-bad", 4, 2, 16, 100);
    setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, 2);
    /* fewer queries than n_last */
    expect_fails("simlayerkv(lazy_threshold=0.5, n_last=3, n_recent=10)", NULL, &s, L.layer,
                 KVP_ERR_INVALID_ARG);
    /* no queries at all */
    setup bare = setup_on(H.ctx, &L, KVP_DTYPE_F32, 0);
    expect_fails("simlayerkv(lazy_threshold=0.5, n_recent=10)", NULL, &bare, L.layer,
                 KVP_ERR_MISSING_INPUT);
    /* an empty layer */
    expect_fails("simlayerkv(lazy_threshold=0.5, n_recent=10)", NULL, &s, 0, KVP_ERR_INVALID_ARG);
    /* parameters out of range */
    kvp_press *p = press("simlayerkv");
    ck_assert_int_eq(kvp_press_set_float(p, "lazy_threshold", 1.5), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_int(p, "n_last", 0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_int(p, "n_recent", -1), KVP_ERR_INVALID_ARG);
    /* not a scorer: cannot be wrapped, has no score */
    float scores[2 * 100];
    ck_assert_int_eq(kvp_press_score(H.ctx, p, s.cache, L.layer, s.in, scores), KVP_ERR_UNSUPPORTED);
    kvp_press *w = press("adakv(press=knorm)");
    ck_assert_int_eq(kvp_press_set_press(w, "press", p), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(w);
    kvp_press_destroy(p);
    setup_free(&bare);
    setup_free(&s);
    layer_free(&L);
}
END_TEST

/* ---- DuoAttention ------------------------------------------------------------------------------ */

static kvp_artefact *duo_artefact(int L, int Hk, const float *scores, const char *sink,
                                  const char *recent) {
    st_writer *w = st_writer_create();
    char err[256];
    ck_assert_ptr_nonnull(w);
    int64_t shape[2] = {L, Hk};
    ck_assert(!st_writer_add_f32(w, "head_scores", 2, shape, scores, err, sizeof err));
    if (sink) ck_assert(!st_writer_add_meta(w, "sink_size", sink, err, sizeof err));
    if (recent) ck_assert(!st_writer_add_meta(w, "recent_size", recent, err, sizeof err));
    kvp_artefact *a = st_load(w);
    st_writer_free(w);
    return a;
}

START_TEST(test_duo_attention) {
    layer L;
    layer_make(&L, "duo", 8, 4, 16, 200);
    /* 3 layers x 4 heads; 1.5 and 1.2 clip to 1 and tie (lower flat index first) */
    const float scores[12] = {0.9f, 0.2f, 0.8f, 1.5f, 0.1f, 0.7f, 0.05f, 0.6f, 1.2f, 0.3f, 0.95f, 0.4f};
    kvp_artefact *a = duo_artefact(3, 4, scores, "4", "16");
    /* ascending: (1,2) 0.05, (1,0) 0.1, (0,1) 0.2, (2,1) 0.3, (2,3) 0.4, (1,3) 0.6, (1,1) 0.7,
     * (0,2) 0.8, (0,0) 0.9, (2,2) 0.95, then the clipped tie (0,3) before (2,0) */
    const struct {
        double rho;
        const char *extra;
        int sink, recent, layer;
        int stream[4];
    } cases[] = {
        {1.0 / 24, "", 4, 16, 1, {0, 0, 0, 0}},  /* round(0.5) = 0 (half to even) */
        {0.125, "", 4, 16, 1, {1, 0, 1, 0}},     /* round(1.5) = 2 */
        {0.5, ", sink_size=10, recent_size=30", 10, 30, 1, {1, 0, 1, 1}},
        {0.5, ", recent_size=0", 4, 0, 1, {0, 0, 0, 0}}, /* [sink:-0] is empty */
        {11.0 / 12, "", 4, 16, 2, {0, 1, 1, 1}},  /* the tie: (0,3) streams, (2,0) does not */
        {1.0, "", 4, 16, 0, {1, 1, 1, 1}},
    };
    for (int c = 0; c < 6; c++) {
        char spec[200];
        snprintf(spec, sizeof spec, "duo_attention(head_compression_ratio=%.17g%s)", cases[c].rho,
                 cases[c].extra);
        kvp_press *p = press(spec);
        CK_OK(kvp_press_set_artefact(p, a));
        L.layer = cases[c].layer;
        setup dev = setup_on(H.ctx, &L, KVP_DTYPE_F16, 0), ref = setup_on(H.ref, &L, KVP_DTYPE_F16, 0);
        kvp_status st = kvp_compress(H.ctx, p, dev.cache, L.layer, dev.in);
        ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_context_last_error(H.ctx));
        CK_OK(kvp_compress(H.ref, p, ref.cache, L.layer, ref.in));
        int64_t len[4], len_ref[4];
        unsigned char *kd = kept(dev.cache, L.layer, L.Hk, L.n, len);
        unsigned char *kr = kept(ref.cache, L.layer, L.Hk, L.n, len_ref);
        ck_assert(!memcmp(kd, kr, (size_t)L.Hk * L.n));
        for (int j = 0; j < L.Hk; j++)
            for (int t = 0; t < L.n; t++) {
                int want = !cases[c].stream[j] || t < cases[c].sink || t >= L.n - cases[c].recent;
                ck_assert_msg(kd[(size_t)j * L.n + t] == want, "%s: head %d token %d", spec, j, t);
            }
        free(kd);
        free(kr);
        setup_free(&dev);
        setup_free(&ref);
        kvp_press_destroy(p);
    }
    kvp_artefact_destroy(a);
    layer_free(&L);
}
END_TEST

START_TEST(test_duo_attention_bad_input) {
    layer L;
    layer_make(&L, "duo-bad", 8, 4, 16, 60);
    setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, 0);
    float scores[12] = {0};
    kvp_press *p = press("duo_attention(head_compression_ratio=0.5)");
    /* no artefact, no calibration */
    expect_fails("duo_attention without its artefact", p, &s, L.layer, KVP_ERR_MISSING_INPUT);
    /* malformed artefacts are refused when set */
    kvp_artefact *no_meta = duo_artefact(3, 4, scores, NULL, "8");
    ck_assert_int_eq(kvp_press_set_artefact(p, no_meta), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "sink_size") != NULL);
    kvp_artefact *bad_meta = duo_artefact(3, 4, scores, "4", "-2");
    ck_assert_int_eq(kvp_press_set_artefact(p, bad_meta), KVP_ERR_INVALID_ARG);
    const char *const sizes[] = {"sink_size", "4", "recent_size", "8", NULL};
    kvp_artefact *flat = st_artefact(&(st_tensor){"head_scores", 1, {12}, scores}, 1, sizes);
    ck_assert_int_eq(kvp_press_set_artefact(p, flat), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "shape") != NULL);
    scores[3] = NAN;
    kvp_artefact *nan = duo_artefact(3, 4, scores, "4", "8");
    ck_assert_int_eq(kvp_press_set_artefact(p, nan), KVP_ERR_INVALID_ARG);
    scores[3] = 0;
    /* an artefact for another geometry: 2 layers x 4 heads, 3 x 2 */
    kvp_artefact *two = duo_artefact(2, 4, scores, "4", "8");
    CK_OK(kvp_press_set_artefact(p, two));
    expect_fails("duo_attention with a 2-layer artefact", p, &s, L.layer, KVP_ERR_INVALID_ARG);
    kvp_artefact *narrow = duo_artefact(3, 2, scores, "4", "8");
    CK_OK(kvp_press_set_artefact(p, narrow));
    expect_fails("duo_attention with a 2-head artefact", p, &s, L.layer, KVP_ERR_INVALID_ARG);
    /* on the fly without calibration */
    kvp_press *otf = press("duo_attention(head_compression_ratio=0.5, on_the_fly_scoring=true)");
    expect_fails("duo_attention on the fly, not calibrated", otf, &s, L.layer, KVP_ERR_MISSING_INPUT);
    kvp_press_destroy(otf);
    kvp_press_destroy(p);
    kvp_artefact *arts[] = {no_meta, bad_meta, flat, nan, two, narrow};
    for (int i = 0; i < 6; i++) kvp_artefact_destroy(arts[i]);
    setup_free(&s);
    layer_free(&L);
}
END_TEST

/* ---- DuoAttention calibration through the runner --------------------------------------------- */

static char path_gguf[1024], path_windows[1024];

/* kvpress's on-the-fly head scores of one sample, from the model's weights: per layer the
 * attention inputs (the runner's capture), the mean pre-RoPE query and key, RoPE at 0..499,
 * the last query's softmax and the area under the cumulative curve, group means. */
static void expected_duo_scores(const llama_model *m, const llama_capture *cap, int n,
                                double *acc) {
    const llama_config *c = &m->cfg;
    int d = c->head_dim, Hq = c->n_heads, Hk = c->n_kv_heads, D = c->dim, G = Hq / Hk, half = d / 2;
    for (int l = 0; l < c->n_layers; l++) {
        const float *keys, *values, *queries, *hidden;
        ck_assert_int_eq(llama_capture_layer(cap, l, &keys, &values, &queries, &hidden), 0);
        double *hm = calloc((size_t)D, sizeof(double));
        for (int t = 0; t < n; t++)
            for (int i = 0; i < D; i++) hm[i] += hidden[(size_t)t * D + i] / n;
        double qm[64][256], km[64][256];
        for (int o = 0; o < Hq * d; o++) {
            double s = 0;
            for (int i = 0; i < D; i++) s += (double)m->layers[l].wq[(size_t)o * D + i] * hm[i];
            qm[o / d][o % d] = s;
        }
        for (int o = 0; o < Hk * d; o++) {
            double s = 0;
            for (int i = 0; i < D; i++) s += (double)m->layers[l].wk[(size_t)o * D + i] * hm[i];
            km[o / d][o % d] = s;
        }
        free(hm);
        for (int i = 0; i < Hq; i++) {
            int j = i / G;
            double z[500], mx = -INFINITY, sum = 0, area = 0, q[256], k[256];
            for (int t = 0; t < 500; t++) {
                for (int pass = 0; pass < 2; pass++) {
                    const double *x = pass ? km[j] : qm[i];
                    double *y = pass ? k : q;
                    int pos = pass ? t : 499;
                    for (int f = 0; f < half; f++) {
                        /* the runner's layout: interleaved for the llama2.c checkpoints */
                        int u = c->rope_layout == KVP_ROPE_HALF_SPLIT ? f : 2 * f;
                        int v = c->rope_layout == KVP_ROPE_HALF_SPLIT ? f + half : 2 * f + 1;
                        double th = pos * pow(c->rope_theta, -2.0 * f / d);
                        y[u] = x[u] * cos(th) - x[v] * sin(th);
                        y[v] = x[v] * cos(th) + x[u] * sin(th);
                    }
                }
                double dot = 0;
                for (int e = 0; e < d; e++) dot += q[e] * k[e];
                z[t] = dot / sqrt((double)d);
                mx = fmax(mx, z[t]);
            }
            for (int t = 0; t < 500; t++) sum += exp(z[t] - mx);
            for (int t = 0; t < 500; t++) area += exp(z[t] - mx) / sum * (500 - t) / 500.0;
            acc[(size_t)l * Hk + j] += area / G;
        }
    }
}

typedef struct ranked {
    double s;
    int i;
} ranked;

static int by_s(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    return x->i - y->i;
}

START_TEST(test_duo_attention_calibration) {
    FILE *probe = fopen(path_gguf, "rb");
    if (!probe) return; /* no shared model: covered by the artefact tests */
    fclose(probe);
    char err[512];
    llama_model *m;
    ck_assert_msg(llama_model_load(path_gguf, &m, err, sizeof err) == 0, "%s", err);
    const llama_config *c = &m->cfg;
    enum { SAMPLES = 3, LEN = 96 };
    int32_t ids[SAMPLES][LEN];
    FILE *f = fopen(path_windows, "r");
    ck_assert_ptr_nonnull(f);
    for (int s = 0; s < SAMPLES; s++)
        for (int t = 0; t < 448; t++) {
            int v;
            ck_assert_int_eq(fscanf(f, "%d", &v), 1);
            if (t < LEN) ids[s][t] = v;
        }
    fclose(f);
    llama_runner_options o;
    llama_runner_options_init(&o);
    o.capacity = LEN;
    llama_runner *r;
    ck_assert_msg(llama_runner_create(m, H.ctx, &o, &r, err, sizeof err) == 0, "%s", err);
    /* the expected scores, from the attention inputs of a plain prefill of each sample */
    int heads = c->n_layers * c->n_kv_heads;
    double *acc = calloc((size_t)heads, sizeof(double));
    llama_capture *cap;
    ck_assert_int_eq(llama_capture_create(m, LEN, &cap, err, sizeof err), 0);
    for (int s = 0; s < SAMPLES; s++) {
        llama_runner_set_capture(r, cap);
        ck_assert_int_eq(llama_runner_rewind(r, 0, err, sizeof err), 0);
        ck_assert_msg(llama_forward(r, ids[s], LEN, NULL, LLAMA_LOGITS_NONE, NULL, err, sizeof err) == 0,
                      "%s", err);
        llama_runner_set_capture(r, NULL);
        expected_duo_scores(m, cap, LEN, acc);
    }
    ranked order[64];
    for (int i = 0; i < heads; i++) order[i] = (ranked){acc[i] / SAMPLES, i};
    qsort(order, (size_t)heads, sizeof(ranked), by_s);
    ck_assert(order[0].s > 0 && order[heads - 1].s < 1);

    /* calibrate, then compress a synthetic cache of the model's geometry with n > 128 + 256 */
    kvp_press *p = press("duo_attention(on_the_fly_scoring=true)");
    const int32_t *samples[SAMPLES] = {ids[0], ids[1], ids[2]};
    int64_t lengths[SAMPLES] = {LEN, LEN, LEN};
    ck_assert_msg(llama_runner_calibrate(r, p, samples, lengths, SAMPLES, err, sizeof err) == 0, "%s",
                  err);
    /* the runner's cache is untouched by calibration passes */
    ck_assert_int_eq(llama_runner_position(r), LEN);
    layer L;
    layer_make(&L, "duo-calibrated", c->n_heads, c->n_kv_heads, c->head_dim, 400);
    L.layers = c->n_layers;
    for (int k = 1; k < heads; k++) {
        if (order[k].s - order[k - 1].s < 1e-6) continue; /* a near tie: order not checkable */
        double rho = (k + 0.25) / heads; /* round(heads * rho) = k */
        ck_assert_int_eq(kvp_press_set_float(p, "head_compression_ratio", rho), KVP_OK);
        for (int l = 0; l < c->n_layers; l++) {
            L.layer = l;
            setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, 0);
            kvp_status st = kvp_compress(H.ctx, p, s.cache, l, s.in);
            ck_assert_msg(st == KVP_OK, "%s", kvp_context_last_error(H.ctx));
            int64_t len[64];
            CK_OK(kvp_cache_get_lengths(s.cache, l, len));
            for (int j = 0; j < c->n_kv_heads; j++) {
                int stream = 0;
                for (int q = 0; q < k; q++) stream |= order[q].i == l * c->n_kv_heads + j;
                ck_assert_msg(len[j] == (stream ? 128 + 256 : 400),
                              "k=%d: layer %d head %d kept %lld (streaming expected: %d)", k, l, j,
                              (long long)len[j], stream);
            }
            setup_free(&s);
        }
    }
    layer_free(&L);
    kvp_press_destroy(p);
    free(acc);
    llama_capture_free(cap);
    llama_runner_free(r);
    llama_model_free(m);
}
END_TEST

int main(void) {
    harness_init();
    snprintf(path_gguf, sizeof path_gguf, "%s/models/stories260K.gguf", KVP_SHARED_DIR);
    snprintf(path_windows, sizeof path_windows, "%s/golden/eval/windows_public.txt", KVP_SHARED_DIR);
    Suite *s = suite_create("structural");
    TCase *tc = tcase_create("layer by layer");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_simlayerkv);
    tcase_add_test(tc, test_simlayerkv_slices);
    tcase_add_test(tc, test_simlayerkv_bad_input);
    tcase_add_test(tc, test_duo_attention);
    tcase_add_test(tc, test_duo_attention_bad_input);
    tcase_add_test(tc, test_duo_attention_calibration);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
