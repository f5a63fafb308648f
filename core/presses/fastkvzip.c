/* FastKVzipPress (arXiv 2601.17668, NAVER's Fast KVzip): a small learned gate per layer
 * predicts KVzip's importance of every token from the layer's attention inputs during the
 * prefill (no extra pass), then KVzip's selection across all layers and heads evicts
 * (PRESSES.md 2.28). Head-wise, so a real eviction leaves ragged layers (kvpress masks).
 *
 * Two phases (KVP_NEED_ALL_LAYERS): kvp_compress on each layer computes the layer's scores
 * (FASTKVZIP_GATE) and keeps them in the press; kvp_compress_all selects and compacts.
 * Scores: the gate's probability, then 1 on the first n_sink tokens and on the last
 * W = int(n * window_ratio) tokens (window_size when n >= 32000). kvpress writes
 * scores[..., -W:] = 1, which with W = 0 (n < 50 at the default ratio) is every token:
 * reproduced by default, so such short prompts are cut by position order alone;
 * empty_window_keeps_all=false protects no recent token then (the gate decides).
 *
 * Artefact (tools/artefacts/convert_fastkvzip.py converts the published
 * <model>/q<G>_dim16_sink16.pt), for every layer l = 0 .. L-1, any float dtype:
 *     layers.<l>.q_proj.weight [Hk G e, D]   layers.<l>.q_proj.bias [Hk G e]
 *     layers.<l>.k_proj.weight [Hk e, D]     layers.<l>.q_norm.weight [e]
 *     layers.<l>.k_norm.weight [e]           layers.<l>.k_base [Hk, 1, S, e]
 *     layers.<l>.b [Hk, 1, G]
 * (e = 16 and S = 16 in the published gates; everything is read from the shapes.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

#define FKZ_MAX_LAYERS 4096

typedef struct gate_dims {
    int L, Hk, G, e, S, D;
} gate_dims;

typedef struct fkz_state {
    kvp_context *ctx;       /* the buffers belong to it */
    gate_dims dims;
    const kvp_artefact *packed_from;
    kvp_buffer *weights;    /* every layer's gate, packed as FASTKVZIP_GATE reads it */
    size_t layer_floats;
    int64_t n;              /* tokens of the recorded layers */
    kvp_buffer *scores;     /* [L * Hk, n] */
    unsigned char *recorded;
} fkz_state;

static void fkz_free(void *state) {
    fkz_state *s = state;
    if (!s) return;
    kvp_buffer_free(s->weights);
    kvp_buffer_free(s->scores);
    free(s->recorded);
    free(s);
}

static void fkz_reset(kvp_press *p) {
    fkz_state *s = p->state;
    if (s && s->recorded) memset(s->recorded, 0, (size_t)s->dims.L);
}

static const char *const GATE_TENSORS[7] = {"q_proj.weight", "q_proj.bias", "k_proj.weight",
                                            "q_norm.weight", "k_norm.weight", "k_base", "b"};

/* The 7 tensors of layer l with the shapes of `dims` (or, for l = 0 with dims->L == 0, the
 * shapes that define them). Errors to the thread's message. */
static kvp_status gate_layer(const kvp_artefact *a, int l, gate_dims *dims, kvp_tensor *t) {
    char name[96];
    int64_t any2[2] = {-1, -1}, any1[1] = {-1}, any3[3] = {-1, -1, -1}, any4[4] = {-1, -1, -1, -1};
    const int64_t *shapes[7] = {any2, any1, any2, any1, any1, any4, any3};
    const int ndims[7] = {2, 1, 2, 1, 1, 4, 3};
    for (int k = 0; k < 7; k++) {
        snprintf(name, sizeof name, "layers.%d.%s", l, GATE_TENSORS[k]);
        KVP_TRY(kvp__artefact_tensor("fastkvzip", a, name, ndims[k], shapes[k], &t[k]));
    }
    gate_dims g;
    g.e = (int)t[3].shape[0];
    g.D = (int)t[0].shape[1];
    g.Hk = g.e > 0 ? (int)(t[2].shape[0] / g.e) : 0;
    g.G = g.Hk > 0 ? (int)(t[0].shape[0] / ((int64_t)g.Hk * g.e)) : 0;
    g.S = (int)t[5].shape[2];
    g.L = dims->L;
    int ok = g.e > 0 && g.D > 0 && g.Hk > 0 && g.G > 0 && t[2].shape[0] == (int64_t)g.Hk * g.e &&
             t[0].shape[0] == (int64_t)g.Hk * g.G * g.e && t[1].shape[0] == t[0].shape[0] &&
             t[2].shape[1] == g.D && t[4].shape[0] == g.e && t[5].shape[0] == g.Hk &&
             t[5].shape[1] == 1 && t[5].shape[3] == g.e && t[6].shape[0] == g.Hk &&
             t[6].shape[1] == 1 && t[6].shape[2] == g.G;
    if (ok && l > 0)
        ok = g.e == dims->e && g.D == dims->D && g.Hk == dims->Hk && g.G == dims->G && g.S == dims->S;
    if (!ok)
        return kvp__error_tls(
            KVP_ERR_INVALID_ARG,
            "fastkvzip: the gate of layer %d has inconsistent shapes (q_proj.weight [%lld, %lld], "
            "k_proj.weight [%lld, %lld], q_norm [%lld], k_base [%lld, %lld, %lld, %lld], b [%lld, "
            "%lld, %lld])%s",
            l, (long long)t[0].shape[0], (long long)t[0].shape[1], (long long)t[2].shape[0],
            (long long)t[2].shape[1], (long long)t[3].shape[0], (long long)t[5].shape[0],
            (long long)t[5].shape[1], (long long)t[5].shape[2], (long long)t[5].shape[3],
            (long long)t[6].shape[0], (long long)t[6].shape[1], (long long)t[6].shape[2],
            l > 0 ? " or differs from layer 0" : "");
    *dims = g;
    return KVP_OK;
}

static kvp_status gate_dims_of(const kvp_artefact *a, gate_dims *dims) {
    memset(dims, 0, sizeof *dims);
    kvp_tensor t[7];
    KVP_TRY(gate_layer(a, 0, dims, t));
    int L = 1;
    char name[96];
    for (;; L++) {
        snprintf(name, sizeof name, "layers.%d.q_proj.weight", L);
        kvp_tensor probe;
        if (kvp_artefact_get(a, name, &probe) != KVP_OK || L >= FKZ_MAX_LAYERS) break;
        dims->L = L;
        KVP_TRY(gate_layer(a, L, dims, t));
    }
    dims->L = L;
    return KVP_OK;
}

static kvp_status fkz_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    gate_dims dims;
    return gate_dims_of(a, &dims);
}

/* The press state on this context, with every layer's gate packed on the device. */
static kvp_status fkz_state_get(kvp_press *p, kvp_context *ctx, fkz_state **out) {
    fkz_state *s = p->state;
    if (!s) {
        s = kvp__calloc(ctx, 1, sizeof *s);
        if (!s) return KVP_ERR_OUT_OF_HOST_MEMORY;
        s->ctx = ctx;
        p->state = s;
        p->free_state = fkz_free;
    }
    if (s->ctx != ctx)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "fastkvzip: this press keeps its gates and scores on the context it was "
                          "first used with; create one press per context");
    if (s->packed_from == p->artefact && s->weights) {
        *out = s;
        return KVP_OK;
    }
    gate_dims d;
    kvp_status st = gate_dims_of(p->artefact, &d);
    if (st != KVP_OK) {
        kvp__error_tls_to_ctx(ctx);
        return st;
    }
    size_t per = (size_t)d.Hk * d.G * d.e * d.D + (size_t)d.Hk * d.G * d.e +
                 (size_t)d.Hk * d.e * d.D + 2 * (size_t)d.e + (size_t)d.Hk * d.S * d.e +
                 (size_t)d.Hk * d.G;
    float *host = kvp__malloc(ctx, sizeof(float) * per * (size_t)d.L);
    unsigned char *rec = kvp__calloc(ctx, (size_t)d.L, 1);
    kvp_buffer *w = NULL;
    st = host && rec ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int l = 0; st == KVP_OK && l < d.L; l++) {
        kvp_tensor t[7];
        gate_dims dl = d;
        st = gate_layer(p->artefact, l, &dl, t);
        if (st != KVP_OK) kvp__error_tls_to_ctx(ctx);
        float *dst = host + per * (size_t)l;
        for (int k = 0; st == KVP_OK && k < 7; k++) {
            size_t count = (size_t)kvp__tensor_count(&t[k]);
            kvp_convert(t[k].dtype, t[k].data, KVP_DTYPE_F32, dst, count);
            dst += count;
        }
    }
    if (st == KVP_OK) st = kvp__buffer_alloc(ctx, sizeof(float) * per * (size_t)d.L, &w);
    if (st == KVP_OK) st = kvp__upload(ctx, w, 0, host, sizeof(float) * per * (size_t)d.L);
    free(host);
    if (st != KVP_OK) {
        kvp_buffer_free(w);
        free(rec);
        return st;
    }
    kvp_buffer_free(s->weights);
    kvp_buffer_free(s->scores);
    free(s->recorded);
    s->weights = w;
    s->scores = NULL;
    s->recorded = rec;
    s->dims = d;
    s->layer_floats = per;
    s->packed_from = p->artefact;
    s->n = 0;
    *out = s;
    return KVP_OK;
}

static kvp_status fkz_check(const kvp_press *p, const kvp_press_run *run) {
    fkz_state *s;
    KVP_TRY(fkz_state_get((kvp_press *)p, run->ctx, &s));
    const gate_dims *d = &s->dims;
    const kvp_input_tensor *h = &run->in->hidden;
    if (d->L != run->cache->opt.n_layers || d->Hk != run->Hk)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "fastkvzip: the gates are for %d layers x %d kv heads, the cache has "
                          "%d x %d",
                          d->L, d->Hk, run->cache->opt.n_layers, run->Hk);
    if (h->t.shape[1] != d->D)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "fastkvzip: the hidden states have %lld features, the gates expect %d",
                          (long long)h->t.shape[1], d->D);
    return kvp__need(run, "fastkvzip", h->pos0 == 0 && h->t.shape[0] == run->n,
                     "needs the attention inputs of every cached token (hidden states of "
                     "positions 0 .. n-1)");
}

/* The layer's scores [Hk, n] into `out` at byte offset `off`: gate, then protection. */
static kvp_status fkz_scores_into(const kvp_press *p, const kvp_press_run *run, fkz_state *s,
                                  kvp_buffer *out, size_t off) {
    const gate_dims *d = &s->dims;
    const kvp_tensor *h = &run->in->hidden.t;
    int64_t n = run->n;
    kvp_p_fastkvzip_gate g = {.n = (int)n, .D = d->D, .Hk = d->Hk, .G = d->G, .e = d->e,
                              .S = d->S, .h_dtype = (int)h->dtype, .eps = 1e-6f,
                              .inv_scale = (float)(1.0 / sqrt((double)d->e))};
    size_t woff = sizeof(float) * s->layer_floats * (size_t)run->layer;
    KVP_TRY(KVP_RUN(run->ctx, FASTKVZIP_GATE, &g, KVP_BO(h->buffer, h->offset),
                    KVP_BO(s->weights, woff), KVP_BO(out, off)));
    /* scores[..., :n_sink] = 1 and scores[..., -W:] = 1 (all of them when W = 0) */
    int64_t n_sink = kvp__press_int(p, "n_sink");
    int64_t W = n < 32000 ? (int64_t)((double)n * kvp__press_param(p, "window_ratio"))
                          : kvp__press_int(p, "window_size");
    int quirk = (int)kvp__press_int(p, "empty_window_keeps_all");
    int64_t w0 = W > 0 ? (W < n ? n - W : 0) : (quirk ? 0 : n);
    size_t count = (size_t)run->Hk * (size_t)n;
    int32_t *mask = kvp__malloc(run->ctx, sizeof(int32_t) * count);
    if (!mask) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int j = 0; j < run->Hk; j++)
        for (int64_t t = 0; t < n; t++) mask[(size_t)j * (size_t)n + (size_t)t] = t < n_sink || t >= w0;
    kvp_buffer *mb;
    kvp_status st = kvp__mask_alloc(run, run->Hk, &mb);
    if (st == KVP_OK) st = kvp__upload(run->ctx, mb, 0, mask, sizeof(int32_t) * count);
    free(mask);
    KVP_TRY(st);
    kvp_p_masked_fill mf = {.H = run->Hk, .n = (int)n, .value = 1.0f};
    return KVP_RUN(run->ctx, MASKED_FILL, &mf, KVP_BO(out, off), KVP_B(mb));
}

static kvp_status fkz_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    fkz_state *s;
    KVP_TRY(fkz_state_get((kvp_press *)p, run->ctx, &s));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    return fkz_scores_into(p, run, s, *out, 0);
}

/* Phase 1: the layer's scores are kept until kvp_compress_all. */
static kvp_status fkz_record(kvp_press *p, const kvp_press_run *run) {
    fkz_state *s;
    KVP_TRY(fkz_state_get(p, run->ctx, &s));
    const gate_dims *d = &s->dims;
    if (!s->scores || s->n != run->n) {
        kvp_buffer *b;
        KVP_TRY(kvp__buffer_alloc(run->ctx, sizeof(float) * (size_t)d->L * d->Hk * (size_t)run->n, &b));
        kvp_buffer_free(s->scores);
        s->scores = b;
        s->n = run->n;
        memset(s->recorded, 0, (size_t)d->L);
    }
    size_t off = sizeof(float) * (size_t)run->layer * d->Hk * (size_t)run->n;
    KVP_TRY(fkz_scores_into(p, run, s, s->scores, off));
    if (run->ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, s->scores, off, 2, run->Hk, run->n, 1);
        KVP_TRY(kvp__tensor_check_finite(run->ctx, &t, "fastkvzip: the gate scores"));
    }
    s->recorded[run->layer] = 1;
    return KVP_OK;
}

static kvp_status fkz_compress_all(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                                   const kvp_forward *fwd) {
    (void)fwd;
    double ratio = kvp__press_ratio(p);
    if (ratio == 0) return KVP_OK;
    int64_t n;
    KVP_TRY(kvp__cache_all_uniform(ctx, cache, "fastkvzip", &n));
    fkz_state *s = p->state;
    if (!s || s->ctx != ctx || !s->scores)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "fastkvzip: no layer was scored: call kvp_compress on every layer "
                          "during the prefill, then kvp_compress_all");
    if (s->dims.L != cache->opt.n_layers || s->dims.Hk != cache->opt.n_kv_heads || s->n != n)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "fastkvzip: the scored layers (%d x %d heads x %lld tokens) are not "
                          "this cache's (%d x %d x %lld)",
                          s->dims.L, s->dims.Hk, (long long)s->n, cache->opt.n_layers,
                          cache->opt.n_kv_heads, (long long)n);
    for (int l = 0; l < s->dims.L; l++)
        if (!s->recorded[l])
            return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                              "fastkvzip: layer %d was not scored (kvp_compress on every layer "
                              "before kvp_compress_all)",
                              l);
    KVP_TRY(kvp__kvzip_select(ctx, cache, s->scores, n, n, ratio,
                              (int)kvp__press_int(p, "layerwise")));
    fkz_reset(p);
    return KVP_OK;
}

static const kvp_param_info fkz_params[] = {
    KVP_PARAM_RATIO,
    {"layerwise", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "every layer evicts the same share (else one budget over all layers)"},
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens always kept"},
    {"window_size", KVP_PARAM_INT, 4096, 0, 1e9, 0,
     "recent tokens always kept when the prompt has 32000 tokens or more"},
    {"window_ratio", KVP_PARAM_FLOAT, 0.02, 0, 1, 0,
     "share of recent tokens always kept below 32000 tokens"},
    {"empty_window_keeps_all", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "kvpress's scores[..., -0:] = 1: a window of 0 tokens protects every token (false: none)"},
};

const kvp_press_vtable kvp_press_fastkvzip = {
    .info = {.name = "fastkvzip",
             .summary = "learned gates predict KVzip's scores; budget across all layers",
             .paper = "arXiv:2601.17668",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_HIDDEN | KVP_NEED_ARTEFACT | KVP_NEED_ALL_LAYERS,
             .n_params = KVP_COUNT(fkz_params),
             .params = fkz_params},
    .check = fkz_check,
    .score = fkz_score,
    .compress = fkz_record,
    .reset = fkz_reset,
    .check_artefact = fkz_check_artefact,
    .compress_all = fkz_compress_all,
};
