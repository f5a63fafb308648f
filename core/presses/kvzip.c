/* KVzipPress (arXiv 2505.23416; PRESSES.md 2.26): a cached token matters as much as the model
 * attends to it while reconstructing the context. After the prefill, the engine runs the
 * reconstruction prompt over the cache (kvp_forward, KVP_FORWARD_PROBE) for every chunk of at
 * most 2048 context tokens: "\n\nRepeat the previous context exactly." (later chunks: "...the
 * part of the previous context exactly, starting with" and the previous chunk's last 8
 * tokens), the chat template's suffix, then the chunk itself. In every layer, the pass's
 * queries attend to the cache's first min(n_sink, s) tokens, the chunk [s, e) and the pass's
 * own keys (causally); a chunk token's score is the maximum of that attention over the pass's
 * rows and over the query heads of its kv head (PASS_SCORE). KVzip+ divides each row by the
 * norm of its attention input and multiplies each token's column by the norm of its value
 * through the head's output projection (WOV_NORM). Scores start at 0, with 1 on the first
 * n_sink tokens; the template prefix [n_sink, p) is never scored (so it goes first) and with
 * p < n_sink the first chunk overwrites the sinks: both as in kvpress.
 *
 * The selection is global (KVP_NEED_ALL_LAYERS): the int(L Hk n r) lowest scores of all layers
 * and heads are evicted (layerwise: int(Hk n r) per layer), for real, so layers become ragged.
 * Phase 1 (kvp_compress per layer) has nothing to record; kvp_compress_all does the work.
 *
 * The engine provides: the prompt's tokens, a tokenizer, the RoPE, the template's prefix
 * length and suffix tokens (kvp_forward), and in every observed layer the queries and keys
 * (KVzip+: also the attention inputs and W_o). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

#define KVZIP_CHUNK 2048
#define KVZIP_PREV_POSTFIX 8
#define KVZIP_PROMPT_FIRST "\n\nRepeat the previous context exactly."
#define KVZIP_PROMPT_NEXT "\n\nRepeat the part of the previous context exactly, starting with"

typedef struct kvzip_pass {
    kvp_context *ctx;
    const char *name;
    kvp_cache *cache;
    const kvp_forward *fwd;
    const float *inv_freq;
    kvp_buffer *scores; /* [L * Hk, stride] */
    int64_t stride;
    int64_t s, e, n_sink; /* the chunk [s, e) and the sink tokens scored against */
    int m;                /* tokens of the pass */
    int plus;
    int seen;
    kvp_status status;
} kvzip_pass;

/* One layer of a reconstruction pass: the chunk's scores of that layer. */
static kvp_status kvzip_layer(kvzip_pass *kp, const kvp_forward_layer *fl) {
    kvp_context *ctx = kp->ctx;
    kvp_cache *cache = kp->cache;
    int Hk = cache->opt.n_kv_heads, d = cache->opt.head_dim, l = fl->layer;
    if (l != kp->seen)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: the engine showed layer %d where layer %d was due",
                          kp->name, l, kp->seen);
    if (l >= cache->opt.n_layers)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: the engine showed layer %d of a %d-layer cache",
                          kp->name, l, cache->opt.n_layers);
    kvp_buffer *q;
    kvp_tensor k;
    int Hq;
    KVP_TRY(kvp__forward_qk(ctx, kp->name, kp->fwd->rope, kp->inv_freq, fl, kp->m, d, Hk, &q, &k, &Hq));
    const kvp_cache_layer *L = &cache->layers[l];
    kvp_buffer *rnorm = q, *ccol = q; /* bound but unread without KVzip+ */
    int64_t n = kp->stride;
    if (kp->plus) {
        /* rows divided by ||h_a||, columns multiplied by ||v_t W_o,i|| */
        kvp_tensor h, wo;
        int64_t hs[2] = {kp->m, -1}, ws[2] = {-1, (int64_t)Hq * d};
        KVP_TRY(kvp__forward_tensor(ctx, kp->name, &fl->hidden, "attention inputs (KVzip+)", 2, hs, &h));
        KVP_TRY(kvp__forward_tensor(ctx, kp->name, &fl->wo, "output projection W_o (KVzip+)", 2, ws, &wo));
        int32_t hmeta[2] = {0, kp->m};
        kvp_buffer *hm;
        KVP_TRY(kvp__scratch(ctx, sizeof hmeta, &hm));
        KVP_TRY(kvp__upload(ctx, hm, 0, hmeta, sizeof hmeta));
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)kp->m, &rnorm));
        kvp_p_row_norm rn = {.H = 1, .n = kp->m, .d = (int)h.shape[1], .dtype = (int)h.dtype};
        KVP_TRY(KVP_RUN(ctx, ROW_NORM, &rn, KVP_BO(h.buffer, h.offset), KVP_B(hm), KVP_B(rnorm)));
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * (size_t)n, &ccol));
        kvp_p_wov_norm wn = {.Hq = Hq, .Hk = Hk, .d = d, .D = (int)wo.shape[0], .t0 = (int)kp->s,
                             .t1 = (int)kp->e, .v_dtype = (int)cache->opt.dtype,
                             .wo_dtype = (int)wo.dtype, .out_stride = (int)n};
        KVP_TRY(KVP_RUN(ctx, WOV_NORM, &wn, KVP_BO(L->values, L->values_offset), KVP_B(L->meta),
                        KVP_BO(wo.buffer, wo.offset), KVP_B(ccol)));
    }
    kvp_p_pass_score ps = {.Hq = Hq, .Hk = Hk, .d = d, .m = kp->m, .n_sink = (int)kp->n_sink,
                           .s = (int)kp->s, .e = (int)kp->e, .k_dtype = (int)cache->opt.dtype,
                           .s_dtype = (int)k.dtype, .row_mode = KVP_PASS_REDUCE_MAX,
                           .group_mode = KVP_PASS_REDUCE_MAX, .has_row_norm = kp->plus,
                           .has_col_scale = kp->plus, .ccol_stride = (int)n,
                           .out_stride = (int)n, .scale = (float)(1.0 / sqrt((double)d))};
    size_t off = sizeof(float) * (size_t)l * (size_t)Hk * (size_t)n;
    KVP_TRY(KVP_RUN(ctx, PASS_SCORE, &ps, KVP_B(q), KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                    KVP_BO(k.buffer, k.offset), KVP_B(rnorm), KVP_B(ccol), KVP_BO(kp->scores, off)));
    kp->seen++;
    return KVP_OK;
}

static kvp_status kvzip_observe(void *observer, const kvp_forward_layer *fl) {
    kvzip_pass *kp = observer;
    if (kp->status != KVP_OK) return kp->status;
    int mark = kvp__scratch_mark(kp->ctx);
    kp->status = kvzip_layer(kp, fl);
    kvp__scratch_release(kp->ctx, mark);
    return kp->status;
}

/* The tokens of a text through the engine's tokenizer (malloc'd). */
static kvp_status tokenize(kvp_context *ctx, const char *name, const kvp_forward *fwd,
                           const char *text, int32_t **ids, int *n) {
    *ids = NULL;
    int count = 0;
    kvp_status st = fwd->tokenize(fwd->user_data, text, NULL, 0, &count);
    if (st == KVP_OK && count > 0) {
        *ids = kvp__malloc(ctx, sizeof(int32_t) * (size_t)count);
        if (!*ids) return KVP_ERR_OUT_OF_HOST_MEMORY;
        int again = 0;
        st = fwd->tokenize(fwd->user_data, text, *ids, count, &again);
        if (st == KVP_OK && again != count) st = KVP_ERR_INTERNAL;
    }
    if (st != KVP_OK) {
        free(*ids);
        *ids = NULL;
        return kvp__error(ctx, st < KVP_ERR_INTERNAL || st > 0 ? KVP_ERR_INTERNAL : st,
                          "%s: the engine's tokenizer failed on its prompt", name);
    }
    *n = count;
    return KVP_OK;
}

kvp_status kvp__kvzip_compress_all(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                                   const kvp_forward *fwd, const kvp_kvzip_restore *restore) {
    const char *name = p->vt->info.name;
    double ratio = kvp__press_ratio(p);
    if (ratio == 0) return KVP_OK;
    int64_t n;
    KVP_TRY(kvp__cache_all_uniform(ctx, cache, name, &n));
    if (!fwd->context_tokens || fwd->n_context_tokens != n)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s reconstructs the prompt: kvp_forward.context_tokens must hold the %lld "
                          "cached tokens (got %lld)",
                          name, (long long)n, (long long)fwd->n_context_tokens);
    if (!fwd->rope || !fwd->tokenize)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the model's RoPE and tokenizer (kvp_forward.rope, .tokenize)", name);
    KVP_TRY(kvp__rope_check(ctx, fwd->rope, cache->opt.head_dim));
    int64_t p_len = fwd->template_prefix, n_sink = kvp__press_int(p, "n_sink");
    if (p_len < 0 || p_len >= n)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: the template prefix (%lld tokens) leaves no context of the %lld cached",
                          name, (long long)p_len, (long long)n);
    int L = cache->opt.n_layers, Hk = cache->opt.n_kv_heads;
    int64_t stride = n + (restore ? restore->n : 0);
    if ((int64_t)L * Hk * stride > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: %d layers x %d heads x %lld tokens is too many",
                          name, L, Hk, (long long)stride);

    kvp_status st = KVP_OK;
    int32_t *suffix = NULL, *first = NULL, *next = NULL, *ids = NULL;
    int n_suffix = 0, n_first = 0, n_next = 0;
    float *inv_freq = kvp__malloc(ctx, sizeof(float) * (size_t)(fwd->rope->head_dim / 2));
    float *init = kvp__calloc(ctx, (size_t)L * Hk * (size_t)stride, sizeof(float));
    if (!inv_freq || !init) st = KVP_ERR_OUT_OF_HOST_MEMORY;
    if (st == KVP_OK) kvp__rope_inv_freq(fwd->rope, inv_freq);
    if (st == KVP_OK && fwd->template_suffix) {
        n_suffix = fwd->n_template_suffix;
        suffix = kvp__malloc(ctx, sizeof(int32_t) * (size_t)(n_suffix ? n_suffix : 1));
        if (!suffix) st = KVP_ERR_OUT_OF_HOST_MEMORY;
        else memcpy(suffix, fwd->template_suffix, sizeof(int32_t) * (size_t)n_suffix);
    } else if (st == KVP_OK) {
        st = tokenize(ctx, name, fwd, "\n", &suffix, &n_suffix); /* no chat template */
    }
    if (st == KVP_OK) st = tokenize(ctx, name, fwd, KVZIP_PROMPT_FIRST, &first, &n_first);
    if (st == KVP_OK) st = tokenize(ctx, name, fwd, KVZIP_PROMPT_NEXT, &next, &n_next);
    int64_t max_ids = (n_first > n_next + KVZIP_PREV_POSTFIX ? n_first : n_next + KVZIP_PREV_POSTFIX) +
                      n_suffix + KVZIP_CHUNK;
    if (st == KVP_OK && !(ids = kvp__malloc(ctx, sizeof(int32_t) * (size_t)max_ids)))
        st = KVP_ERR_OUT_OF_HOST_MEMORY;

    /* score_val: 0, with 1 on the first n_sink tokens of every layer and head */
    kvp_buffer *scores = NULL;
    for (size_t r = 0; st == KVP_OK && r < (size_t)L * Hk; r++)
        for (int64_t t = 0; t < n_sink && t < n; t++) init[r * (size_t)stride + (size_t)t] = 1.0f;
    if (st == KVP_OK) st = kvp__scratch(ctx, sizeof(float) * (size_t)L * Hk * (size_t)stride, &scores);
    if (st == KVP_OK)
        st = kvp__upload(ctx, scores, 0, init, sizeof(float) * (size_t)L * Hk * (size_t)stride);

    kvzip_pass kp = {.ctx = ctx, .name = name, .cache = cache, .fwd = fwd, .inv_freq = inv_freq,
                     .scores = scores, .stride = stride,
                     .plus = (int)kvp__press_int(p, "kvzip_plus_normalization")};
    const int32_t *ctx_ids = fwd->context_tokens;
    for (int64_t s = p_len, c = 0; st == KVP_OK && s < n; s += KVZIP_CHUNK, c++) {
        int64_t e = s + KVZIP_CHUNK < n ? s + KVZIP_CHUNK : n;
        /* prompt (+ the previous chunk's last tokens), template suffix, the chunk */
        int m = 0;
        if (c == 0) {
            memcpy(ids, first, sizeof(int32_t) * (size_t)n_first);
            m = n_first;
        } else {
            memcpy(ids, next, sizeof(int32_t) * (size_t)n_next);
            m = n_next;
            /* the previous chunk is a full one (only the last can be shorter) */
            for (int64_t t = s - KVZIP_PREV_POSTFIX; t < s; t++) ids[m++] = ctx_ids[t];
        }
        memcpy(ids + m, suffix, sizeof(int32_t) * (size_t)n_suffix);
        m += n_suffix;
        memcpy(ids + m, ctx_ids + s, sizeof(int32_t) * (size_t)(e - s));
        m += (int)(e - s);
        kp.s = s;
        kp.e = e;
        kp.n_sink = n_sink < s ? n_sink : s;
        kp.m = m;
        kp.seen = 0;
        kp.status = KVP_OK;
        kvp_forward_pass pass = {.mode = KVP_FORWARD_PROBE, .pos0 = n, .n_tokens = m,
                                 .tokens = ids, .observe = kvzip_observe, .observer = &kp};
        char what[96];
        snprintf(what, sizeof what, "reconstruction of context tokens [%lld, %lld)", (long long)s,
                 (long long)e);
        st = kvp__forward_run(ctx, name, fwd, &pass, &kp.status, what);
        if (st == KVP_OK && kp.seen != L)
            st = kvp__error(ctx, KVP_ERR_INVALID_ARG,
                            "%s: the engine's pass showed %d of the cache's %d layers", name, kp.seen, L);
    }
    if (st == KVP_OK && restore) {
        /* RestoreKV: the restore tokens go through the adapter over the full cache, and stay */
        kvp_forward_pass pass = {.mode = KVP_FORWARD_APPEND, .pos0 = n, .n_tokens = restore->n,
                                 .embeddings = restore->embeddings, .adapter = restore->adapter};
        st = kvp__forward_run(ctx, name, fwd, &pass, NULL, "the restore tokens");
        int64_t after = -1;
        if (st == KVP_OK) st = kvp__cache_all_uniform(ctx, cache, name, &after);
        if (st == KVP_OK && after != stride)
            st = kvp__error(ctx, KVP_ERR_INVALID_ARG,
                            "%s: after the restore pass the cache holds %lld tokens, expected %lld",
                            name, (long long)after, (long long)stride);
        if (st != KVP_OK)
            for (int l = 0; l < L; l++) kvp_cache_truncate(cache, l, n); /* leave it as it was */
    }
    if (st == KVP_OK && ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, scores, 0, 2, (int64_t)L * Hk, stride, 1);
        st = kvp__tensor_check_finite(ctx, &t, "the reconstruction scores");
    }
    if (st == KVP_OK) {
        /* RestoreKV enlarges the ratio so that memory matches plain KVzip: min(1, r + n_r / n) */
        double r = restore ? fmin(1.0, ratio + (double)restore->n / (double)n) : ratio;
        st = kvp__kvzip_select(ctx, cache, scores, n, stride, r, (int)kvp__press_int(p, "layerwise"));
    }
    free(inv_freq);
    free(init);
    free(suffix);
    free(first);
    free(next);
    free(ids);
    return st;
}

/* Phase 1: the scores come from the reconstruction passes; there is nothing to record. */
static kvp_status kvzip_record(kvp_press *p, const kvp_press_run *run) {
    (void)p;
    (void)run;
    return KVP_OK;
}

static kvp_status kvzip_compress_all(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                                     const kvp_forward *fwd) {
    return kvp__kvzip_compress_all(p, ctx, cache, fwd, NULL);
}

static const kvp_param_info kvzip_params[] = {
    KVP_PARAM_RATIO,
    {"layerwise", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "every layer evicts the same share (else one budget over all layers)"},
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens scored 1 (attention sinks)"},
    {"kvzip_plus_normalization", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "KVzip+: rows divided by the input norm, columns times the projected value norm"},
};

const kvp_press_vtable kvp_press_kvzip = {
    .info = {.name = "kvzip",
             .summary = "attention while the model reconstructs the context; budget across layers",
             .paper = "arXiv:2505.23416",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_FORWARD | KVP_NEED_ALL_LAYERS,
             .n_params = KVP_COUNT(kvzip_params),
             .params = kvzip_params},
    .compress = kvzip_record,
    .compress_all = kvzip_compress_all,
};
