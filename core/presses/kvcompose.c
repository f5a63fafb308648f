/* KVComposePress (arXiv 2509.05165; PRESSES.md 2.29): attention-guided scores from one extra
 * pass in which the model reads its context again, with budgets from a ranking over all
 * layers. After the prefill the engine runs the context's tokens over the cache
 * (kvp_forward, KVP_FORWARD_PROBE: the cache holds 2n tokens during the pass); in every layer
 * the attention of the pass's rows to the n context tokens is reduced over the rows with
 * agg_task and over the query heads of a kv head with agg_group (PASS_SCORE) into S [L, Hk, n].
 * Optionally S *= ||v|| (add_v_norm) and S += the mean of S over the layer's heads
 * (add_mean_across_heads).
 *
 * Budgets: sigma_{l,j} = S_{l,j} sorted in decreasing order, its first keep_token_lower_bound
 * ranks raised by 1e9. structured (the default): pi_l = agg_head over the heads of sigma_{l,j}
 * (rank by rank), raised likewise, pi_0 := max_l pi_l; the int(L n (1 - r)) largest entries of
 * all pi give each layer its count c_l, and every head of layer l keeps its own c_l best tokens
 * (KVCompose's "composite tokens": same count per head, different tokens), in position order.
 * Unstructured: the int(L Hk n (1 - r)) largest entries of all sigma give each head its count.
 * Ties go to the lower index everywhere (kvpress's argsorts are unstable).
 *
 * The extra pass and the attention run through the engine and ops; the budgets and the final
 * choice (sorts of S and a global ranking: O(L Hk n log n), no per-token vector work) run on
 * the host from the downloaded scores, and the keep mask goes back to COMPACT.
 *
 * Differences from kvpress, on purpose: add_v_norm multiplies by the norms of the n context
 * values (kvpress multiplies vectors of n and 2n entries and fails); unstructured mode leaves
 * the cache at n tokens (kvpress keeps the pass's copy of the context, unmasked, after it);
 * only the context itself is replayed (kvpress can register other prompts). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

#define AGG_MAX 0
#define AGG_MEAN 1
#define LOWER_BOUND_BOOST 1e9f

typedef struct kvc_pass {
    kvp_context *ctx;
    kvp_cache *cache;
    const kvp_forward *fwd;
    const float *inv_freq;
    kvp_buffer *scores; /* [L * Hk, n] */
    int64_t n;
    int agg_task, agg_group;
    int seen;
    kvp_status status;
} kvc_pass;

static kvp_status kvc_layer(kvc_pass *kp, const kvp_forward_layer *fl) {
    kvp_context *ctx = kp->ctx;
    kvp_cache *cache = kp->cache;
    int Hk = cache->opt.n_kv_heads, d = cache->opt.head_dim, l = fl->layer;
    if (l != kp->seen || l >= cache->opt.n_layers)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvcompose: the engine showed layer %d where layer %d of %d was due", l,
                          kp->seen, cache->opt.n_layers);
    kvp_buffer *q;
    kvp_tensor k;
    int Hq;
    KVP_TRY(kvp__forward_qk(ctx, "kvcompose", kp->fwd->rope, kp->inv_freq, fl, kp->n, d, Hk, &q, &k, &Hq));
    const kvp_cache_layer *L = &cache->layers[l];
    kvp_p_pass_score ps = {.Hq = Hq, .Hk = Hk, .d = d, .m = (int)kp->n, .n_sink = 0, .s = 0,
                           .e = (int)kp->n, .k_dtype = (int)cache->opt.dtype,
                           .s_dtype = (int)k.dtype, .row_mode = kp->agg_task,
                           .group_mode = kp->agg_group, .has_row_norm = 0, .has_col_scale = 0,
                           .ccol_stride = (int)kp->n, .out_stride = (int)kp->n,
                           .scale = (float)(1.0 / sqrt((double)d))};
    size_t off = sizeof(float) * (size_t)l * (size_t)Hk * (size_t)kp->n;
    KVP_TRY(KVP_RUN(ctx, PASS_SCORE, &ps, KVP_B(q), KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                    KVP_BO(k.buffer, k.offset), KVP_B(q), KVP_B(q), KVP_BO(kp->scores, off)));
    kp->seen++;
    return KVP_OK;
}

static kvp_status kvc_observe(void *observer, const kvp_forward_layer *fl) {
    kvc_pass *kp = observer;
    if (kp->status != KVP_OK) return kp->status;
    int mark = kvp__scratch_mark(kp->ctx);
    kp->status = kvc_layer(kp, fl);
    kvp__scratch_release(kp->ctx, mark);
    return kp->status;
}

typedef struct ranked {
    float v;
    int64_t i;
} ranked;

/* Decreasing value, then increasing index. */
static int by_value_down(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static int float_down(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a < b) - (a > b);
}

/* How many of the k largest entries of values [rows, n] fall in each row. */
static void count_top(const float *values, int rows, int64_t n, int64_t k, ranked *tmp,
                      int64_t *counts) {
    size_t total = (size_t)rows * (size_t)n;
    for (size_t i = 0; i < total; i++) tmp[i] = (ranked){values[i], (int64_t)i};
    qsort(tmp, total, sizeof(ranked), by_value_down);
    memset(counts, 0, sizeof(int64_t) * (size_t)rows);
    for (int64_t i = 0; i < k && i < (int64_t)total; i++) counts[tmp[i].i / n]++;
}

/* The keep mask [L * Hk, n] from the scores S (host), per PRESSES.md 2.29 steps 4-7. */
static kvp_status kvc_select(const kvp_press *p, kvp_context *ctx, float *S, int L, int Hk,
                             int64_t n, int32_t *keep) {
    double ratio = kvp__press_ratio(p);
    int structured = (int)kvp__press_int(p, "structured");
    int agg_head = (int)kvp__press_int(p, "agg_head");
    int64_t bound = kvp__press_int(p, "keep_token_lower_bound");
    size_t rows = (size_t)L * (size_t)Hk, total = rows * (size_t)n;
    float *sigma = kvp__malloc(ctx, sizeof(float) * total);
    float *pi = kvp__malloc(ctx, sizeof(float) * (size_t)L * (size_t)n);
    ranked *tmp = kvp__malloc(ctx, sizeof(ranked) * total);
    int64_t *counts = kvp__malloc(ctx, sizeof(int64_t) * rows);
    kvp_status st = sigma && pi && tmp && counts ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    if (st == KVP_OK && kvp__press_int(p, "add_mean_across_heads")) {
        for (int l = 0; l < L; l++)
            for (int64_t t = 0; t < n; t++) {
                double m = 0;
                for (int j = 0; j < Hk; j++) m += S[((size_t)l * Hk + j) * n + t];
                float mean = (float)(m / Hk);
                for (int j = 0; j < Hk; j++) S[((size_t)l * Hk + j) * n + t] += mean;
            }
    }
    /* sigma: each head's scores in decreasing order, the first `bound` ranks raised */
    for (size_t r = 0; st == KVP_OK && r < rows; r++) {
        memcpy(sigma + r * n, S + r * n, sizeof(float) * (size_t)n);
        qsort(sigma + r * n, (size_t)n, sizeof(float), float_down);
    }
    if (st == KVP_OK && structured) {
        for (int l = 0; l < L; l++)
            for (int64_t m = 0; m < n; m++) {
                double a = agg_head == AGG_MAX ? -INFINITY : 0;
                for (int j = 0; j < Hk; j++) {
                    double v = sigma[((size_t)l * Hk + j) * n + m];
                    a = agg_head == AGG_MAX ? fmax(a, v) : a + v;
                }
                pi[(size_t)l * n + m] = (float)(agg_head == AGG_MAX ? a : a / Hk);
                if (m < bound) pi[(size_t)l * n + m] += LOWER_BOUND_BOOST;
            }
        for (int64_t m = 0; m < n; m++) /* the first layer gets the largest profile */
            for (int l = 1; l < L; l++) pi[m] = fmaxf(pi[m], pi[(size_t)l * n + m]);
        int64_t per_layer[4096];
        int64_t *c = L <= 4096 ? per_layer : kvp__malloc(ctx, sizeof(int64_t) * (size_t)L);
        if (!c) st = KVP_ERR_OUT_OF_HOST_MEMORY;
        if (st == KVP_OK) {
            count_top(pi, L, n, kvp_n_keep((int64_t)L * n, ratio), tmp, c);
            for (int l = 0; l < L; l++)
                for (int j = 0; j < Hk; j++) counts[(size_t)l * Hk + j] = c[l];
        }
        if (c != per_layer) free(c);
    } else if (st == KVP_OK) {
        for (size_t r = 0; r < rows; r++)
            for (int64_t m = 0; m < bound && m < n; m++) sigma[r * n + m] += LOWER_BOUND_BOOST;
        count_top(sigma, (int)rows, n, kvp_n_keep((int64_t)total, ratio), tmp, counts);
    }
    /* each head keeps its `counts` best tokens of S */
    for (size_t r = 0; st == KVP_OK && r < rows; r++) {
        for (int64_t t = 0; t < n; t++) tmp[t] = (ranked){S[r * n + t], t};
        qsort(tmp, (size_t)n, sizeof(ranked), by_value_down);
        for (int64_t t = 0; t < n; t++) keep[r * n + t] = 0;
        for (int64_t k = 0; k < counts[r] && k < n; k++) keep[r * n + tmp[k].i] = 1;
    }
    free(sigma);
    free(pi);
    free(tmp);
    free(counts);
    return st;
}

static kvp_status kvc_record(kvp_press *p, const kvp_press_run *run) {
    (void)p;
    (void)run;
    return KVP_OK; /* the scores come from the replay pass */
}

static kvp_status kvc_compress_all(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                                   const kvp_forward *fwd) {
    if (kvp__press_ratio(p) == 0) return KVP_OK;
    int64_t n;
    KVP_TRY(kvp__cache_all_uniform(ctx, cache, "kvcompose", &n));
    if (!fwd->context_tokens || fwd->n_context_tokens != n)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "kvcompose replays the prompt: kvp_forward.context_tokens must hold the "
                          "%lld cached tokens (got %lld)",
                          (long long)n, (long long)fwd->n_context_tokens);
    if (!fwd->rope)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT, "kvcompose needs the model's RoPE (kvp_forward.rope)");
    KVP_TRY(kvp__rope_check(ctx, fwd->rope, cache->opt.head_dim));
    int L = cache->opt.n_layers, Hk = cache->opt.n_kv_heads;
    size_t total = (size_t)L * (size_t)Hk * (size_t)n;
    if (total > INT32_MAX || n > INT32_MAX / 2)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvcompose: %lld scores are too many", (long long)total);
    float *inv_freq = kvp__malloc(ctx, sizeof(float) * (size_t)(fwd->rope->head_dim / 2));
    float *S = kvp__malloc(ctx, sizeof(float) * total);
    int32_t *keep = kvp__malloc(ctx, sizeof(int32_t) * total);
    kvp_buffer *scores = NULL, *mask = NULL;
    kvp_status st = inv_freq && S && keep ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    if (st == KVP_OK) kvp__rope_inv_freq(fwd->rope, inv_freq);
    if (st == KVP_OK) st = kvp__scratch(ctx, sizeof(float) * total, &scores);
    if (st == KVP_OK) st = kvp__scratch(ctx, sizeof(int32_t) * total, &mask);
    kvc_pass kp = {.ctx = ctx, .cache = cache, .fwd = fwd, .inv_freq = inv_freq, .scores = scores,
                   .n = n, .agg_task = (int)kvp__press_int(p, "agg_task"),
                   .agg_group = (int)kvp__press_int(p, "agg_group")};
    if (st == KVP_OK) {
        kvp_forward_pass pass = {.mode = KVP_FORWARD_PROBE, .pos0 = n, .n_tokens = (int)n,
                                 .tokens = fwd->context_tokens, .observe = kvc_observe,
                                 .observer = &kp};
        st = kvp__forward_run(ctx, "kvcompose", fwd, &pass, &kp.status, "replay of the context");
        if (st == KVP_OK && kp.seen != L)
            st = kvp__error(ctx, KVP_ERR_INVALID_ARG,
                            "kvcompose: the engine's pass showed %d of the cache's %d layers", kp.seen, L);
    }
    for (int l = 0; st == KVP_OK && l < L && kvp__press_int(p, "add_v_norm"); l++) {
        /* S *= ||v|| of the context's values */
        int mark = kvp__scratch_mark(ctx);
        const kvp_cache_layer *CL = &cache->layers[l];
        kvp_buffer *norms;
        st = kvp__scratch(ctx, sizeof(float) * (size_t)Hk * (size_t)n, &norms);
        kvp_p_row_norm rn = {.H = Hk, .n = (int)n, .d = cache->opt.head_dim,
                             .dtype = (int)cache->opt.dtype};
        if (st == KVP_OK)
            st = KVP_RUN(ctx, ROW_NORM, &rn, KVP_BO(CL->values, CL->values_offset), KVP_B(CL->meta),
                         KVP_B(norms));
        kvp_p_score_map sm = {.H = Hk, .n = (int)n, .has_w = 1, .a = 1.0f, .b = 0.0f};
        size_t off = sizeof(float) * (size_t)l * (size_t)Hk * (size_t)n;
        if (st == KVP_OK) st = KVP_RUN(ctx, SCORE_MAP, &sm, KVP_BO(scores, off), KVP_B(norms));
        kvp__scratch_release(ctx, mark);
    }
    if (st == KVP_OK && ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, scores, 0, 2, (int64_t)L * Hk, n, 1);
        st = kvp__tensor_check_finite(ctx, &t, "kvcompose: the replay's attention scores");
    }
    if (st == KVP_OK) st = kvp__download(ctx, scores, 0, S, sizeof(float) * total);
    if (st == KVP_OK) st = kvc_select(p, ctx, S, L, Hk, n, keep);
    if (st == KVP_OK) st = kvp__upload(ctx, mask, 0, keep, sizeof(int32_t) * total);
    if (st == KVP_OK) st = kvp__cache_compact_layers(ctx, cache, mask, n);
    free(inv_freq);
    free(S);
    free(keep);
    return st;
}

static const kvp_param_info kvc_params[] = {
    {"structured", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "every head of a layer keeps the same number of tokens (else head-wise budgets)"},
    KVP_PARAM_RATIO,
    {"agg_task", KVP_PARAM_CHOICE, AGG_MAX, 0, 1, 0,
     "reduction over the replay's rows"},
    {"agg_group", KVP_PARAM_CHOICE, AGG_MEAN, 0, 1, 0,
     "reduction over the query heads of a kv head"},
    {"agg_head", KVP_PARAM_CHOICE, AGG_MEAN, 0, 1, 0,
     "reduction over the heads of a layer for its budget"},
    {"add_v_norm", KVP_PARAM_BOOL, 0, 0, 1, 0, "multiply the scores by the value norms"},
    {"add_mean_across_heads", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "add the mean score over the layer's heads"},
    {"keep_token_lower_bound", KVP_PARAM_INT, 0, 0, 1e9, 0,
     "tokens every layer (and head) keeps at least"},
};

const kvp_press_vtable kvp_press_kvcompose = {
    .info = {.name = "kvcompose",
             .summary = "attention of a replay of the context; composite tokens, global budgets",
             .paper = "arXiv:2509.05165",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_FORWARD | KVP_NEED_ALL_LAYERS,
             .n_params = KVP_COUNT(kvc_params),
             .params = kvc_params},
    .choices = {[2] = "max|mean", [3] = "max|mean", [4] = "max|mean"},
    .compress = kvc_record,
    .compress_all = kvc_compress_all,
};
