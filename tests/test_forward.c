/*
 * The presses that select across layers (kvp_compress_all: FastKVzip, KVzip, RestoreKV,
 * KVCompose) and the engine interface they run the model through (kvp_forward).
 *
 * A synthetic engine stands in for a model: its passes show every layer seeded random queries,
 * keys, values, attention inputs and W_o (what a real engine computes), record the tokens and
 * positions it was asked to run, and can misbehave on request (fail, show bad shapes, skip
 * layers, return a foreign status). With it the presses run on every backend against the CPU
 * reference, and their protocol (KVzip's prompts and chunks, RestoreKV's appended tokens,
 * budgets over layers) is checked exactly. Every refused call leaves the cache exactly as it
 * was (checksum of lengths, keys, values and positions). The real model runs these presses in
 * the golden-ext tests (tests/golden/kvpress-0.5.4-ext).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "safetensors.h"

enum { HK = 2, HQ = 4, D = 16, DIM = 24, N = 64, LAYERS = 3 };

/* ---- a synthetic engine ---------------------------------------------------------------------- */

typedef enum misbehave {
    ENGINE_OK = 0,
    ENGINE_FAIL,        /* refuses every pass */
    ENGINE_BAD_KEYS,    /* shows keys of the wrong shape */
    ENGINE_SKIP_LAYERS, /* never calls observe */
    ENGINE_FOREIGN,     /* returns a status that is not a kvp_status */
    ENGINE_FAIL_APPEND  /* fails an append pass after two layers */
} misbehave;

typedef struct engine {
    kvp_cache *cache; /* APPEND passes write here */
    int layers, Hq, Hk, d, dim;
    misbehave mode;
    kvp_rope rope;
    int n_passes;
    int32_t *tokens[8]; /* the tokens of the first passes, as given */
    int n_tokens[8];
    int64_t pos0[8];
    kvp_forward_mode modes[8];
    int had_adapter[8];
} engine;

static void engine_init(engine *e, kvp_cache *cache, int layers, int Hq, int Hk, int d, int dim) {
    memset(e, 0, sizeof *e);
    e->cache = cache;
    e->layers = layers;
    e->Hq = Hq;
    e->Hk = Hk;
    e->d = d;
    e->dim = dim;
    kvp_rope_init(&e->rope, d);
}

static void engine_free(engine *e) {
    for (int i = 0; i < 8; i++) free(e->tokens[i]);
}

static kvp_status engine_run(void *user, const kvp_forward_pass *pass, char *err, size_t size) {
    engine *e = user;
    int idx = e->n_passes++;
    if (idx < 8) {
        e->tokens[idx] = malloc(sizeof(int32_t) * (size_t)(pass->n_tokens + 1));
        e->n_tokens[idx] = pass->n_tokens;
        e->pos0[idx] = pass->pos0;
        e->modes[idx] = pass->mode;
        e->had_adapter[idx] = pass->adapter != NULL;
        if (pass->tokens) memcpy(e->tokens[idx], pass->tokens, sizeof(int32_t) * (size_t)pass->n_tokens);
    }
    if (e->mode == ENGINE_FAIL) {
        snprintf(err, size, "the test engine refuses every pass");
        return KVP_ERR_UNSUPPORTED;
    }
    if (e->mode == ENGINE_FOREIGN) return (kvp_status)5;
    int m = pass->n_tokens;
    rng r = rng_for("engine", (int)(pass->pos0 * 31 + m));
    size_t qn = (size_t)e->Hq * m * e->d, kn = (size_t)e->Hk * m * e->d;
    float *q = malloc(sizeof(float) * qn), *k = malloc(sizeof(float) * kn);
    float *v = malloc(sizeof(float) * kn), *h = malloc(sizeof(float) * (size_t)m * e->dim);
    float *wo = malloc(sizeof(float) * (size_t)e->dim * e->Hq * e->d);
    kvp_status st = KVP_OK;
    for (int l = 0; st == KVP_OK && l < e->layers; l++) {
        fill_normal(&r, q, qn, 1.0f);
        fill_normal(&r, k, kn, 1.0f);
        fill_normal(&r, v, kn, 1.0f);
        fill_normal(&r, h, (size_t)m * e->dim, 1.0f);
        fill_normal(&r, wo, (size_t)e->dim * e->Hq * e->d, 0.2f);
        kvp_forward_layer fl = {
            .layer = l, .pos0 = pass->pos0,
            .queries = kvp_tensor_host(KVP_DTYPE_F32, q, 3, e->Hq, m, e->d),
            .keys = kvp_tensor_host(KVP_DTYPE_F32, k, 3, e->Hk, m - (e->mode == ENGINE_BAD_KEYS), e->d),
            .values = kvp_tensor_host(KVP_DTYPE_F32, v, 3, e->Hk, m, e->d),
            .hidden = kvp_tensor_host(KVP_DTYPE_F32, h, 2, m, e->dim, 1),
            .wo = kvp_tensor_host(KVP_DTYPE_F32, wo, 2, e->dim, e->Hq * e->d, 1)};
        if (pass->mode == KVP_FORWARD_APPEND && e->mode == ENGINE_FAIL_APPEND && l == 2) {
            snprintf(err, size, "the test engine fails its append pass at layer 2");
            st = KVP_ERR_DEVICE_LOST;
            break;
        }
        if (pass->mode == KVP_FORWARD_APPEND) {
            kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, k, 3, e->Hk, m, e->d);
            kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, v, 3, e->Hk, m, e->d);
            st = kvp_cache_append(e->cache, l, &kt, &vt, pass->pos0);
        }
        if (st == KVP_OK && pass->observe && e->mode != ENGINE_SKIP_LAYERS)
            st = pass->observe(pass->observer, &fl);
    }
    if (st != KVP_OK && !err[0]) snprintf(err, size, "stopped by the observer");
    free(q);
    free(k);
    free(v);
    free(h);
    free(wo);
    return st;
}

/* A tokenizer of the test: one id per word, ids from the word's length. */
static kvp_status engine_tokenize(void *user, const char *text, int32_t *ids, int capacity,
                                  int *n_ids) {
    (void)user;
    int n = 0, len = 0;
    for (const char *c = text;; c++) {
        if (*c && *c != ' ' && *c != '\n') {
            len++;
            continue;
        }
        if (len || *c == '\n') {
            if (n < capacity) ids[n] = 100 + len;
            n++;
        }
        len = 0;
        if (!*c) break;
    }
    *n_ids = n;
    return KVP_OK;
}

static kvp_forward engine_forward(engine *e, const int32_t *context, int64_t n) {
    kvp_forward f;
    memset(&f, 0, sizeof f);
    f.user_data = e;
    f.run = engine_run;
    f.tokenize = engine_tokenize;
    f.rope = &e->rope;
    f.context_tokens = context;
    f.n_context_tokens = n;
    return f;
}

/* ---- fixtures ----------------------------------------------------------------------------------- */

/* A cache of `layers` layers of n tokens (keys, values random per layer) with per-layer inputs
 * (queries, hidden states, RoPE). */
typedef struct world {
    int layers, n;
    kvp_cache *cache;
    kvp_inputs *in[8];
    float *hidden[8];
} world;

static world world_make(kvp_context *ctx, int layers, int n, int capacity, kvp_dtype dt) {
    world w;
    memset(&w, 0, sizeof w);
    w.layers = layers;
    w.n = n;
    kvp_cache_options o = {.n_layers = layers, .n_kv_heads = HK, .head_dim = D,
                           .capacity = capacity, .dtype = dt};
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &w.cache), KVP_OK);
    size_t kv = (size_t)HK * n * D, qn = (size_t)HQ * n * D;
    float *k = malloc(sizeof(float) * kv), *v = malloc(sizeof(float) * kv);
    float *q = malloc(sizeof(float) * qn);
    for (int l = 0; l < layers; l++) {
        rng r = rng_for("world", l * 1000 + n);
        fill_normal(&r, k, kv, 1.0f);
        fill_normal(&r, v, kv, 1.0f);
        fill_normal(&r, q, qn, 1.0f);
        w.hidden[l] = malloc(sizeof(float) * (size_t)n * DIM);
        fill_normal(&r, w.hidden[l], (size_t)n * DIM, 1.0f);
        kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, k, 3, HK, n, D);
        kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, v, 3, HK, n, D);
        ck_assert_int_eq(kvp_cache_append(w.cache, l, &kt, &vt, 0), KVP_OK);
        ck_assert_int_eq(kvp_inputs_create(ctx, &w.in[l]), KVP_OK);
        kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, HQ, n, D);
        kvp_tensor ht = kvp_tensor_host(KVP_DTYPE_F32, w.hidden[l], 2, n, DIM, 1);
        kvp_rope rope;
        kvp_rope_init(&rope, D);
        ck_assert_int_eq(kvp_inputs_set_queries(w.in[l], &qt, 0), KVP_OK);
        ck_assert_int_eq(kvp_inputs_set_hidden(w.in[l], &ht, 0), KVP_OK);
        ck_assert_int_eq(kvp_inputs_set_rope(w.in[l], &rope), KVP_OK);
    }
    free(k);
    free(v);
    free(q);
    return w;
}

static void world_free(world *w) {
    for (int l = 0; l < w->layers; l++) {
        kvp_inputs_destroy(w->in[l]);
        free(w->hidden[l]);
    }
    kvp_cache_destroy(w->cache);
}

static kvp_press *press(const char *spec) {
    kvp_press *p = NULL;
    kvp_status st = kvp_press_parse(spec, &p);
    ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_last_error());
    return p;
}

/* kept[(l * HK + j) * span + t] for every layer; total kept entries; kept per layer. */
static unsigned char *kept_all(const kvp_cache *c, int layers, int span, int64_t *total,
                               int64_t *per_layer) {
    unsigned char *k = calloc((size_t)layers * HK * span, 1);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)span);
    *total = 0;
    for (int l = 0; l < layers; l++) {
        int64_t len[HK];
        ck_assert_int_eq(kvp_cache_get_lengths(c, l, len), KVP_OK);
        if (per_layer) per_layer[l] = 0;
        for (int j = 0; j < HK; j++) {
            ck_assert_int_le(len[j], span);
            ck_assert_int_eq(kvp_cache_read(c, l, j, NULL, NULL, pos), KVP_OK);
            for (int64_t t = 0; t < len[j]; t++) {
                ck_assert(t == 0 || pos[t] > pos[t - 1]);
                ck_assert(pos[t] >= 0 && pos[t] < span);
                k[((size_t)l * HK + j) * span + pos[t]] = 1;
            }
            *total += len[j];
            if (per_layer) per_layer[l] += len[j];
        }
    }
    free(pos);
    return k;
}

static double agreement(const unsigned char *a, const unsigned char *b, size_t count) {
    size_t both = 0, kept = 0;
    for (size_t i = 0; i < count; i++) {
        both += a[i] && b[i];
        kept += b[i] != 0;
    }
    return kept ? (double)both / (double)kept : 1.0;
}

/* ---- FastKVzip --------------------------------------------------------------------------------- */

/* A gate artefact for `layers` layers (e = 16, S sinks), random weights. */
static kvp_artefact *gate_artefact(int layers, int Hk, int G, int dim, int S, int broken) {
    st_writer *w = st_writer_create();
    char err[256];
    ck_assert_ptr_nonnull(w);
    int e = 16;
    rng r = rng_for("gates", layers * 100 + S);
    for (int l = 0; l < layers; l++) {
        struct {
            const char *name;
            int ndim;
            int64_t shape[4];
            float scale, base;
        } t[7] = {{"q_proj.weight", 2, {Hk * G * e, dim}, 0.3f, 0},
                  {"q_proj.bias", 1, {Hk * G * e}, 0.3f, 0},
                  {"k_proj.weight", 2, {Hk * e, dim}, 0.3f, 0},
                  {"q_norm.weight", 1, {e}, 0.2f, 1},
                  {"k_norm.weight", 1, {e}, 0.2f, 1},
                  {"k_base", 4, {Hk, 1, S, e}, 0.5f, 0},
                  {"b", 3, {Hk, 1, G}, 0.5f, 2.5f}};
        for (int k = 0; k < 7; k++) {
            if (broken == 1 && l == 1 && k == 5) continue; /* layer 1 without k_base */
            if (broken == 2 && l == 2 && k == 0) t[k].shape[1] = dim + 1;
            size_t count = 1;
            for (int x = 0; x < t[k].ndim; x++) count *= (size_t)t[k].shape[x];
            float *data = malloc(sizeof(float) * count);
            fill_normal(&r, data, count, t[k].scale);
            for (size_t x = 0; x < count; x++) data[x] += t[k].base;
            char name[64];
            snprintf(name, sizeof name, "layers.%d.%s", l, t[k].name);
            ck_assert_msg(!st_writer_add_f32(w, name, t[k].ndim, t[k].shape, data, err, sizeof err),
                          "%s", err);
            free(data);
        }
    }
    kvp_artefact *a = st_load(w);
    st_writer_free(w);
    return a;
}

static void run_fastkvzip(kvp_context *ctx, kvp_press *p, world *w) {
    for (int l = 0; l < w->layers; l++) {
        kvp_status st = kvp_compress(ctx, p, w->cache, l, w->in[l]);
        ck_assert_msg(st == KVP_OK, "fastkvzip layer %d: %s", l, kvp_context_last_error(ctx));
    }
    kvp_status st = kvp_compress_all(ctx, p, w->cache, NULL);
    ck_assert_msg(st == KVP_OK, "fastkvzip: %s", kvp_context_last_error(ctx));
}

START_TEST(test_fastkvzip) {
    kvp_artefact *a = gate_artefact(LAYERS, HK, HQ / HK, DIM, 16, 0);
    const char *specs[] = {"fastkvzip(compression_ratio=0.5)", "fastkvzip(compression_ratio=0.75, layerwise=true)",
                           "fastkvzip(compression_ratio=0.25, n_sink=6, window_ratio=0.1)"};
    int n = 300;
    for (int c = 0; c < 3; c++) {
        kvp_press *pd = press(specs[c]), *pr = press(specs[c]);
        CK_OK(kvp_press_set_artefact(pd, a));
        CK_OK(kvp_press_set_artefact(pr, a));
        world wd = world_make(H.ctx, LAYERS, n, n, c == 1 ? KVP_DTYPE_BF16 : KVP_DTYPE_F32);
        world wr = world_make(H.ref, LAYERS, n, n, c == 1 ? KVP_DTYPE_BF16 : KVP_DTYPE_F32);
        /* the per-layer scores agree with the CPU's */
        size_t count = (size_t)HK * n;
        float *sd = malloc(sizeof(float) * count), *sr = malloc(sizeof(float) * count);
        CK_OK(kvp_press_score(H.ctx, pd, wd.cache, 1, wd.in[1], sd));
        ck_assert_int_eq(kvp_press_score(H.ref, pr, wr.cache, 1, wr.in[1], sr), KVP_OK);
        ck_assert_msg(nmse(sd, sr, count) <= 1e-9, "%s: scores NMSE %g", specs[c], nmse(sd, sr, count));
        double ratio, layerwise, sinks, wr_ratio;
        kvp_press_get(pd, "compression_ratio", &ratio);
        kvp_press_get(pd, "layerwise", &layerwise);
        kvp_press_get(pd, "n_sink", &sinks);
        kvp_press_get(pd, "window_ratio", &wr_ratio);
        int64_t window = (int64_t)(n * wr_ratio);
        for (int64_t t = 0; t < n; t++) /* protected tokens score 1 */
            if (t < sinks || t >= n - window) ck_assert(sd[t] == 1.0f && sd[n + t] == 1.0f);
            else ck_assert(sd[t] < 1.0f);
        run_fastkvzip(H.ctx, pd, &wd);
        run_fastkvzip(H.ref, pr, &wr);
        int64_t td, tr, pl[LAYERS];
        unsigned char *kd = kept_all(wd.cache, LAYERS, n, &td, pl);
        unsigned char *kr = kept_all(wr.cache, LAYERS, n, &tr, NULL);
        int64_t all = (int64_t)LAYERS * HK * n;
        if (layerwise)
            for (int l = 0; l < LAYERS; l++)
                ck_assert_int_eq(pl[l], HK * n - (int64_t)((double)HK * n * ratio));
        else
            ck_assert_int_eq(td, all - (int64_t)((double)all * ratio));
        ck_assert_int_eq(td, tr);
        double ag = agreement(kd, kr, (size_t)all);
        ck_assert_msg(ag >= 0.99, "%s: %.4f of the kept entries agree with the CPU", specs[c], ag);
        for (int l = 0; l < LAYERS; l++) /* protected tokens survive */
            for (int j = 0; j < HK; j++)
                for (int64_t t = 0; t < n; t++)
                    if (t < sinks || t >= n - window) ck_assert(kd[((size_t)l * HK + j) * n + t]);
        free(kd);
        free(kr);
        free(sd);
        free(sr);
        world_free(&wd);
        world_free(&wr);
        kvp_press_destroy(pd);
        kvp_press_destroy(pr);
    }
    kvp_artefact_destroy(a);
}
END_TEST

/* kvpress writes scores[..., -0:] = 1 when the window rounds to 0: every score is 1, and the
 * selection keeps the lowest positions. */
START_TEST(test_fastkvzip_short_prompt) {
    kvp_artefact *a = gate_artefact(LAYERS, HK, HQ / HK, DIM, 16, 0);
    kvp_press *p = press("fastkvzip(compression_ratio=0.5)");
    CK_OK(kvp_press_set_artefact(p, a));
    world w = world_make(H.ctx, LAYERS, 40, 40, KVP_DTYPE_F32);
    float s[HK * 40];
    CK_OK(kvp_press_score(H.ctx, p, w.cache, 0, w.in[0], s));
    for (int i = 0; i < HK * 40; i++) ck_assert(s[i] == 1.0f);
    run_fastkvzip(H.ctx, p, &w);
    int64_t total;
    unsigned char *k = kept_all(w.cache, LAYERS, 40, &total, NULL);
    ck_assert_int_eq(total, LAYERS * HK * 20);
    free(k);
    world_free(&w);
    /* the corrected variant protects only the sinks: the gate scores the rest */
    kvp_press *q = press("fastkvzip(compression_ratio=0.5, empty_window_keeps_all=false)");
    CK_OK(kvp_press_set_artefact(q, a));
    world w2 = world_make(H.ctx, LAYERS, 40, 40, KVP_DTYPE_F32);
    CK_OK(kvp_press_score(H.ctx, q, w2.cache, 0, w2.in[0], s));
    for (int j = 0; j < HK; j++)
        for (int t = 0; t < 40; t++) ck_assert(t < 4 ? s[j * 40 + t] == 1.0f : s[j * 40 + t] < 1.0f);
    world_free(&w2);
    kvp_press_destroy(q);
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
}
END_TEST

static void expect_status(kvp_status got, kvp_status want, const char *what, kvp_context *ctx,
                          const kvp_cache *cache, uint64_t before) {
    ck_assert_msg(got == want, "%s: got %s (%s), want %s", what, kvp_status_name(got),
                  kvp_context_last_error(ctx), kvp_status_name(want));
    ck_assert_msg(kvp_context_last_error(ctx)[0] || kvp_last_error()[0], "%s: no message", what);
    ck_assert_msg(cache_checksum(cache) == before, "%s: the cache changed", what);
}

START_TEST(test_fastkvzip_bad_input) {
    kvp_artefact *a = gate_artefact(LAYERS, HK, HQ / HK, DIM, 16, 0);
    world w = world_make(H.ctx, LAYERS, 80, 80, KVP_DTYPE_F32);
    uint64_t before = cache_checksum(w.cache);
    kvp_press *p = press("fastkvzip(compression_ratio=0.5)");
    /* no artefact */
    expect_status(kvp_compress(H.ctx, p, w.cache, 0, w.in[0]), KVP_ERR_MISSING_INPUT,
                  "fastkvzip without gates", H.ctx, w.cache, before);
    CK_OK(kvp_press_set_artefact(p, a));
    /* phase 2 before phase 1, or with a layer missing */
    expect_status(kvp_compress_all(H.ctx, p, w.cache, NULL), KVP_ERR_MISSING_INPUT,
                  "kvp_compress_all before any layer", H.ctx, w.cache, before);
    CK_OK(kvp_compress(H.ctx, p, w.cache, 0, w.in[0]));
    CK_OK(kvp_compress(H.ctx, p, w.cache, 2, w.in[2]));
    ck_assert_uint_eq(cache_checksum(w.cache), before); /* phase 1 changes nothing */
    expect_status(kvp_compress_all(H.ctx, p, w.cache, NULL), KVP_ERR_MISSING_INPUT,
                  "kvp_compress_all with layer 1 not scored", H.ctx, w.cache, before);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "layer 1") != NULL);
    /* no hidden states; hidden states of the wrong width or length */
    kvp_inputs *in;
    CK_OK(kvp_inputs_create(H.ctx, &in));
    expect_status(kvp_compress(H.ctx, p, w.cache, 1, in), KVP_ERR_MISSING_INPUT,
                  "fastkvzip without hidden states", H.ctx, w.cache, before);
    kvp_tensor wide = kvp_tensor_host(KVP_DTYPE_F32, w.hidden[1], 2, 80, DIM - 1, 1);
    CK_OK(kvp_inputs_set_hidden(in, &wide, 0));
    expect_status(kvp_compress(H.ctx, p, w.cache, 1, in), KVP_ERR_INVALID_ARG,
                  "fastkvzip with DIM-1 features", H.ctx, w.cache, before);
    kvp_tensor part = kvp_tensor_host(KVP_DTYPE_F32, w.hidden[1], 2, 40, DIM, 1);
    CK_OK(kvp_inputs_set_hidden(in, &part, 40));
    expect_status(kvp_compress(H.ctx, p, w.cache, 1, in), KVP_ERR_INVALID_ARG,
                  "fastkvzip with half the hidden states", H.ctx, w.cache, before);
    kvp_inputs_destroy(in);
    /* another context */
    world wr = world_make(H.ref, LAYERS, 80, 80, KVP_DTYPE_F32);
    if (H.ref != H.ctx)
        ck_assert_int_eq(kvp_compress(H.ref, p, wr.cache, 0, wr.in[0]), KVP_ERR_INVALID_ARG);
    world_free(&wr);
    /* gates of another model: 2 layers; malformed gates */
    kvp_press *q = press("fastkvzip(compression_ratio=0.5)");
    kvp_artefact *two = gate_artefact(2, HK, HQ / HK, DIM, 16, 0);
    CK_OK(kvp_press_set_artefact(q, two));
    expect_status(kvp_compress(H.ctx, q, w.cache, 0, w.in[0]), KVP_ERR_INVALID_ARG,
                  "fastkvzip with 2-layer gates", H.ctx, w.cache, before);
    kvp_artefact *no_base = gate_artefact(LAYERS, HK, HQ / HK, DIM, 16, 1);
    ck_assert_int_eq(kvp_press_set_artefact(q, no_base), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "k_base") != NULL);
    kvp_artefact *ragged = gate_artefact(LAYERS, HK, HQ / HK, DIM, 16, 2);
    ck_assert_int_eq(kvp_press_set_artefact(q, ragged), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "layer 2") != NULL);
    /* after compression the layers are ragged: a new phase 1 on them is refused */
    CK_OK(kvp_compress(H.ctx, p, w.cache, 1, w.in[1]));
    CK_OK(kvp_compress_all(H.ctx, p, w.cache, NULL));
    uint64_t after = cache_checksum(w.cache);
    expect_status(kvp_compress(H.ctx, p, w.cache, 0, w.in[0]), KVP_ERR_UNSUPPORTED,
                  "fastkvzip on a ragged layer", H.ctx, w.cache, after);
    kvp_press_destroy(q);
    kvp_press_destroy(p);
    kvp_artefact_destroy(two);
    kvp_artefact_destroy(no_base);
    kvp_artefact_destroy(ragged);
    kvp_artefact_destroy(a);
    world_free(&w);
}
END_TEST

/* ---- KVzip, RestoreKV, KVCompose through the synthetic engine -------------------------------- */

static int32_t *context_ids(int n) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) ids[i] = 1000 + i;
    return ids;
}

/* Runs a model-running press on a fresh world of `n` tokens on ctx. */
static world run_model_press(kvp_context *ctx, kvp_press *p, int n, int capacity, engine *e,
                             const int32_t *ids, int template_prefix) {
    world w = world_make(ctx, LAYERS, n, capacity, KVP_DTYPE_F32);
    engine_init(e, w.cache, LAYERS, HQ, HK, D, DIM);
    kvp_forward f = engine_forward(e, ids, n);
    f.template_prefix = template_prefix;
    for (int l = 0; l < LAYERS; l++) CK_OK(kvp_compress(ctx, p, w.cache, l, w.in[l]));
    kvp_status st = kvp_compress_all(ctx, p, w.cache, &f);
    ck_assert_msg(st == KVP_OK, "%s", kvp_context_last_error(ctx));
    return w;
}

START_TEST(test_kvzip_protocol) {
    /* 2100 tokens after a chat-template prefix of 6: chunks [6, 2054) and [2054, 2100) */
    int n = 2100, prefix = 6;
    int32_t *ids = context_ids(n);
    kvp_press *p = press("kvzip(compression_ratio=0.5)");
    engine e;
    world w = run_model_press(H.ctx, p, n, n, &e, ids, prefix);
    ck_assert_int_eq(e.n_passes, 2);
    int32_t first[16], next[32], suffix[4];
    int n_first, n_next, n_suffix;
    engine_tokenize(NULL, "\n\nRepeat the previous context exactly.", first, 16, &n_first);
    engine_tokenize(NULL, "\n\nRepeat the part of the previous context exactly, starting with", next,
                    32, &n_next);
    engine_tokenize(NULL, "\n", suffix, 4, &n_suffix);
    /* pass 0: prompt, suffix (no template suffix given: the tokens of "\n"), the chunk */
    ck_assert_int_eq(e.n_tokens[0], n_first + n_suffix + 2048);
    ck_assert_int_eq(e.pos0[0], n);
    ck_assert(e.modes[0] == KVP_FORWARD_PROBE);
    ck_assert(!memcmp(e.tokens[0], first, sizeof(int32_t) * (size_t)n_first));
    ck_assert(!memcmp(e.tokens[0] + n_first, suffix, sizeof(int32_t) * (size_t)n_suffix));
    ck_assert(!memcmp(e.tokens[0] + n_first + n_suffix, ids + prefix, sizeof(int32_t) * 2048));
    /* pass 1: the next prompt, the last 8 tokens of chunk 0, suffix, the rest */
    ck_assert_int_eq(e.n_tokens[1], n_next + 8 + n_suffix + 46);
    ck_assert_int_eq(e.pos0[1], n);
    ck_assert(!memcmp(e.tokens[1], next, sizeof(int32_t) * (size_t)n_next));
    ck_assert(!memcmp(e.tokens[1] + n_next, ids + 2046, sizeof(int32_t) * 8));
    ck_assert(!memcmp(e.tokens[1] + n_next + 8 + n_suffix, ids + 2054, sizeof(int32_t) * 46));
    int64_t total;
    unsigned char *k = kept_all(w.cache, LAYERS, n, &total, NULL);
    int64_t all = (int64_t)LAYERS * HK * n;
    ck_assert_int_eq(total, all - (int64_t)((double)all * 0.5));
    for (int r = 0; r < LAYERS * HK; r++) {
        for (int t = 0; t < 4; t++) ck_assert(k[(size_t)r * n + t]);         /* sinks score 1 */
        for (int t = 4; t < prefix; t++) ck_assert(!k[(size_t)r * n + t]);  /* never scored: 0 */
    }
    free(k);
    world_free(&w);
    engine_free(&e);
    kvp_press_destroy(p);
    /* without a template prefix the first chunk overwrites the sink scores (kvpress) */
    kvp_press *q = press("kvzip(compression_ratio=0.9)");
    engine e2;
    world w2 = run_model_press(H.ctx, q, 200, 200, &e2, ids, 0);
    ck_assert_int_eq(e2.n_passes, 1);
    ck_assert(!memcmp(e2.tokens[0] + n_first + n_suffix, ids, sizeof(int32_t) * 200));
    world_free(&w2);
    engine_free(&e2);
    kvp_press_destroy(q);
    free(ids);
}
END_TEST

/* KVzip, KVzip+, RestoreKV and KVCompose on the device under test against the CPU. */
START_TEST(test_model_presses_backends) {
    int n = 150;
    int32_t *ids = context_ids(n);
    st_writer *aw = st_writer_create();
    char err[256];
    ck_assert_ptr_nonnull(aw);
    float emb[8 * DIM];
    rng r = rng_for("restore", 0);
    fill_normal(&r, emb, 8 * DIM, 1.0f);
    int64_t es[2] = {8, DIM};
    ck_assert(!st_writer_add_f32(aw, "restore_embeddings", 2, es, emb, err, sizeof err));
    float lora[4 * DIM];
    fill_normal(&r, lora, 4 * DIM, 0.1f);
    int64_t ls[2] = {4, DIM};
    ck_assert(!st_writer_add_f32(aw, "lora.0.q.A", 2, ls, lora, err, sizeof err));
    ck_assert(!st_writer_add_meta(aw, "lora_alpha", "8", err, sizeof err));
    kvp_artefact *art = st_load(aw);
    st_writer_free(aw);
    const char *specs[] = {
        "kvzip(compression_ratio=0.5)",
        "kvzip(compression_ratio=0.75, layerwise=true, kvzip_plus_normalization=true)",
        "restorekv(compression_ratio=0.25)",
        "kvcompose(compression_ratio=0.5)",
        ("kvcompose(compression_ratio=0.6, structured=false, agg_task=mean, agg_group=max, "
         "add_v_norm=true, keep_token_lower_bound=5)"),
        "kvcompose(compression_ratio=0.3, agg_head=max, add_mean_across_heads=false)",
    };
    for (int c = 0; c < 6; c++) {
        kvp_press *pd = press(specs[c]), *pr = press(specs[c]);
        int restore = strncmp(specs[c], "restorekv", 9) == 0;
        if (restore) {
            CK_OK(kvp_press_set_artefact(pd, art));
            CK_OK(kvp_press_set_artefact(pr, art));
        }
        engine ed, er;
        world wd = run_model_press(H.ctx, pd, n, n + 8, &ed, ids, 0);
        world wr = run_model_press(H.ref, pr, n, n + 8, &er, ids, 0);
        int span = n + 8 * restore;
        int64_t td, tr, pl[LAYERS];
        unsigned char *kd = kept_all(wd.cache, LAYERS, span, &td, pl);
        unsigned char *kr = kept_all(wr.cache, LAYERS, span, &tr, NULL);
        double ratio;
        kvp_press_get(pd, "compression_ratio", &ratio);
        int64_t all = (int64_t)LAYERS * HK * n;
        if (restore) {
            /* 8 restore tokens appended through the adapter, always kept, ratio + 8 / n */
            ck_assert_int_eq(ed.n_passes, 2);
            ck_assert(ed.modes[1] == KVP_FORWARD_APPEND && ed.had_adapter[1] && ed.pos0[1] == n);
            ck_assert_int_eq(td, (int64_t)LAYERS * HK * 8 + all - (int64_t)((double)all * fmin(1.0, ratio + 8.0 / n)));
            for (int rr = 0; rr < LAYERS * HK; rr++)
                for (int t = n; t < n + 8; t++) ck_assert(kd[(size_t)rr * span + t]);
        } else if (strstr(specs[c], "layerwise=true")) {
            for (int l = 0; l < LAYERS; l++)
                ck_assert_int_eq(pl[l], HK * n - (int64_t)((double)HK * n * ratio));
        } else if (strncmp(specs[c], "kvzip", 5) == 0) {
            ck_assert_int_eq(td, all - (int64_t)((double)all * ratio)); /* int(L Hk n r) evicted */
        } else if (strstr(specs[c], "structured=false")) {
            ck_assert_int_eq(td, kvp_n_keep(all, ratio)); /* int(L Hk n (1 - r)) kept */
        } else {
            /* structured: every head of a layer keeps the layer's count, int(L n (1 - r)) in all */
            int64_t sum = 0;
            for (int l = 0; l < LAYERS; l++) {
                int64_t len[HK];
                CK_OK(kvp_cache_get_lengths(wd.cache, l, len));
                for (int j = 1; j < HK; j++) ck_assert_int_eq(len[j], len[0]);
                sum += len[0];
            }
            ck_assert_int_eq(sum, kvp_n_keep((int64_t)LAYERS * n, ratio));
        }
        ck_assert_int_eq(td, tr);
        double ag = agreement(kd, kr, (size_t)LAYERS * HK * span);
        ck_assert_msg(ag >= 0.99, "%s: %.4f of the kept entries agree with the CPU", specs[c], ag);
        free(kd);
        free(kr);
        world_free(&wd);
        world_free(&wr);
        engine_free(&ed);
        engine_free(&er);
        kvp_press_destroy(pd);
        kvp_press_destroy(pr);
    }
    kvp_artefact_destroy(art);
    free(ids);
}
END_TEST

/* Engines that fail or misbehave: the press reports it and the cache is as it was. */
START_TEST(test_engine_errors) {
    int n = 60;
    int32_t *ids = context_ids(n);
    world w = world_make(H.ctx, LAYERS, n, n + 16, KVP_DTYPE_F32);
    uint64_t before = cache_checksum(w.cache);
    const char *specs[] = {"kvzip(compression_ratio=0.5)", "kvcompose(compression_ratio=0.5)"};
    for (int c = 0; c < 2; c++) {
        kvp_press *p = press(specs[c]);
        engine e;
        engine_init(&e, w.cache, LAYERS, HQ, HK, D, DIM);
        kvp_forward f = engine_forward(&e, ids, n);
        /* no engine at all */
        expect_status(kvp_compress_all(H.ctx, p, w.cache, NULL), KVP_ERR_MISSING_INPUT,
                      "no kvp_forward", H.ctx, w.cache, before);
        /* a failing engine: its status and message come back */
        e.mode = ENGINE_FAIL;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_UNSUPPORTED, "failing engine",
                      H.ctx, w.cache, before);
        ck_assert(strstr(kvp_context_last_error(H.ctx), "refuses every pass") != NULL);
        e.mode = ENGINE_FOREIGN;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_INTERNAL, "foreign status",
                      H.ctx, w.cache, before);
        /* keys of the wrong shape: the press's observer refuses them */
        e.mode = ENGINE_BAD_KEYS;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_INVALID_ARG, "bad keys",
                      H.ctx, w.cache, before);
        ck_assert(strstr(kvp_context_last_error(H.ctx), "keys") != NULL);
        /* no layer shown */
        e.mode = ENGINE_SKIP_LAYERS;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_INVALID_ARG, "no layer shown",
                      H.ctx, w.cache, before);
        /* the prompt's tokens missing or of the wrong count; no RoPE */
        e.mode = ENGINE_OK;
        kvp_forward g = f;
        g.context_tokens = NULL;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &g), KVP_ERR_MISSING_INPUT, "no context",
                      H.ctx, w.cache, before);
        g = f;
        g.n_context_tokens = n - 1;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &g), KVP_ERR_MISSING_INPUT,
                      "context of n - 1 tokens", H.ctx, w.cache, before);
        g = f;
        g.rope = NULL;
        expect_status(kvp_compress_all(H.ctx, p, w.cache, &g), KVP_ERR_MISSING_INPUT, "no RoPE",
                      H.ctx, w.cache, before);
        engine_free(&e);
        kvp_press_destroy(p);
    }
    /* KVzip needs a tokenizer; a template prefix as long as the context is refused */
    kvp_press *p = press("kvzip(compression_ratio=0.5)");
    engine e;
    engine_init(&e, w.cache, LAYERS, HQ, HK, D, DIM);
    kvp_forward f = engine_forward(&e, ids, n);
    f.tokenize = NULL;
    expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_MISSING_INPUT, "no tokenizer",
                  H.ctx, w.cache, before);
    f = engine_forward(&e, ids, n);
    f.template_prefix = n;
    expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_INVALID_ARG, "prefix of n tokens",
                  H.ctx, w.cache, before);
    kvp_press_destroy(p);
    /* RestoreKV: no artefact; artefacts without embeddings or without the LoRA scale */
    p = press("restorekv(compression_ratio=0.5)");
    f = engine_forward(&e, ids, n);
    expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_MISSING_INPUT, "restorekv without artefact",
                  H.ctx, w.cache, before);
    st_writer *aw = st_writer_create();
    char err[256];
    ck_assert_ptr_nonnull(aw);
    float x[4 * DIM] = {0};
    int64_t s2[2] = {4, DIM};
    ck_assert(!st_writer_add_f32(aw, "lora.0.q.A", 2, s2, x, err, sizeof err));
    kvp_artefact *bad = st_load(aw);
    ck_assert_int_eq(kvp_press_set_artefact(p, bad), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "restore_embeddings") != NULL);
    ck_assert(!st_writer_add_f32(aw, "restore_embeddings", 2, s2, x, err, sizeof err));
    kvp_artefact *no_alpha = st_load(aw);
    ck_assert_int_eq(kvp_press_set_artefact(p, no_alpha), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "lora_alpha") != NULL);
    ck_assert(!st_writer_add_meta(aw, "lora_alpha", "8", err, sizeof err));
    kvp_artefact *good = st_load(aw);
    CK_OK(kvp_press_set_artefact(p, good));
    /* an engine that fails the restore pass after appending two layers: the press takes the
     * appended tokens out again */
    e.mode = ENGINE_FAIL_APPEND;
    f = engine_forward(&e, ids, n);
    expect_status(kvp_compress_all(H.ctx, p, w.cache, &f), KVP_ERR_DEVICE_LOST,
                  "restore pass failing at layer 2", H.ctx, w.cache, before);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "restore") != NULL);
    st_writer_free(aw);
    kvp_press_destroy(p);
    kvp_artefact_destroy(bad);
    kvp_artefact_destroy(no_alpha);
    kvp_artefact_destroy(good);
    engine_free(&e);
    world_free(&w);
    free(ids);
}
END_TEST

/* Calls the press kind does not take. */
START_TEST(test_wrong_calls) {
    world w = world_make(H.ctx, LAYERS, N, N, KVP_DTYPE_F32);
    uint64_t before = cache_checksum(w.cache);
    kvp_press *knorm = press("knorm(compression_ratio=0.5)");
    engine e;
    engine_init(&e, w.cache, LAYERS, HQ, HK, D, DIM);
    kvp_forward fwd = engine_forward(&e, NULL, 0);
    /* a per-layer press is refused by kvp_compress_all and by kvp_press_calibrate */
    ck_assert_int_eq(kvp_compress_all(H.ctx, knorm, w.cache, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "layer by layer") != NULL);
    int32_t ids[4] = {1, 2, 3, 4};
    const int32_t *samples[1] = {ids};
    int64_t lengths[1] = {4};
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, knorm, &fwd, samples, lengths, 1),
                     KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_context_last_error(H.ctx), "does not calibrate") != NULL);
    /* bad calibration samples */
    kvp_press *duo = press("duo_attention(on_the_fly_scoring=true)");
    lengths[0] = 0;
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, duo, &fwd, samples, lengths, 1), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, duo, &fwd, samples, lengths, 0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, duo, NULL, samples, lengths, 1), KVP_ERR_MISSING_INPUT);
    lengths[0] = 4;
    e.mode = ENGINE_FAIL;
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, duo, &fwd, samples, lengths, 1), KVP_ERR_UNSUPPORTED);
    /* NULL arguments */
    ck_assert_int_eq(kvp_compress_all(NULL, knorm, w.cache, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_compress_all(H.ctx, NULL, w.cache, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_compress_all(H.ctx, knorm, NULL, &fwd), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_calibrate(H.ctx, NULL, &fwd, samples, lengths, 1),
                     KVP_ERR_INVALID_ARG);
    /* layers of different lengths */
    kvp_press *kz = press("kvzip(compression_ratio=0.5)");
    kvp_cache_truncate(w.cache, 2, N - 1);
    before = cache_checksum(w.cache);
    expect_status(kvp_compress_all(H.ctx, kz, w.cache, &fwd), KVP_ERR_INVALID_ARG,
                  "layers of different lengths", H.ctx, w.cache, before);
    ck_assert_uint_eq(cache_checksum(w.cache), before);
    kvp_press_destroy(kz);
    kvp_press_destroy(duo);
    kvp_press_destroy(knorm);
    engine_free(&e);
    world_free(&w);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("cross-layer presses and engines");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_wrong_calls);
    tcase_add_test(tc, test_fastkvzip);
    tcase_add_test(tc, test_fastkvzip_short_prompt);
    tcase_add_test(tc, test_fastkvzip_bad_input);
    tcase_add_test(tc, test_kvzip_protocol);
    tcase_add_test(tc, test_model_presses_backends);
    tcase_add_test(tc, test_engine_errors);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
