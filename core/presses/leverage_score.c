/* LeverageScorePress (Compactor's leverage component, arXiv 2507.08143; PRESSES.md 2.17):
 * statistical leverage of each pre-RoPE key among the layer's keys, approximated with a right
 * Gaussian sketch, then z-scored over the layer:
 *   X = (K - mean_t K) Phi,  Phi ~ N(0, 1/k) of shape d x k per kv head (drawn at every call),
 *   l_t = x_t^T (X^T X + c I)^-1 x_t,  c = 0.01, retried x10 (up to 100) while the Cholesky
 *   factorisation fails, as kvpress does.
 * The pre-RoPE keys are those given with kvp_inputs_set_keys (as kvpress projects them from
 * the hidden states), else the cached keys rotated back (RoPE is a rotation times the
 * attention scaling): the RoPE definition is needed then. Leverage is sensitive to its
 * input (a relative change of 1e-6 in the keys moves z-scores by ~1e-4 on small heads), so
 * give the keys when kvpress's exact numbers matter. The sketch comes from
 * rng.c (`seed` as RandomPress), not torch's generator: results match kvpress in
 * distribution, and exactly when it is handed the same sketch (tools/golden does so).
 *
 * Recipe: [ROPE_ROWS (inverse rotation)] -> SKETCH -> GRAM (+ jitter) -> CHOLESKY ->
 * CHOL_QUADFORM -> ZSCORE. */
#include <math.h>
#include <stdlib.h>

#include "press_impl.h"

/* (cos, sin) of the inverse rotation of positions 0 .. P-1: angle -theta, scaled 1/scaling. */
static kvp_status inverse_rope_table(const kvp_press_run *run, int64_t P, kvp_buffer **out) {
    const kvp_inputs *in = run->in;
    int half = run->d / 2;
    float *neg = kvp__malloc(run->ctx, sizeof(float) * (size_t)half);
    if (!neg) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int f = 0; f < half; f++) neg[f] = -in->inv_freq[f]; /* cos(-a) = cos a, sin(-a) = -sin a */
    kvp_rope inv = in->rope;
    inv.attention_scaling = 1.0f / in->rope.attention_scaling;
    kvp_status st = kvp__rope_table(run->ctx, &inv, neg, 0, P, out);
    free(neg);
    return st;
}

kvp_status kvp__leverage_zscores(const kvp_press_run *run, int64_t lo, int64_t hi, int k,
                                 uint64_t *rng, float scale, int accumulate, kvp_buffer *out) {
    kvp_context *ctx = run->ctx;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    int Hk = run->Hk, d = run->d, m = (int)(hi - lo);
    const kvp_input_tensor *given = &run->in->prerope_keys;
    kvp_buffer *phi, *X, *G, *info, *lev, *dense;
    /* the pre-RoPE keys of the tokens [lo, hi): rows r0 .. r0 + m - 1 of [Hk, x_rows, d] */
    kvp_p_sketch sk = {.H = Hk, .n = m, .d = d, .k = k};
    kvp_binding x;
    if (given->set) {
        sk.x_dtype = (int)given->t.dtype;
        sk.x_rows = (int)given->t.shape[1];
        sk.r0 = (int)lo;
        x = KVP_BO(given->t.buffer, given->t.offset);
    } else {
        if (run->in->rope.attention_scaling == 0)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "leverage: RoPE attention_scaling is 0: the keys cannot be rotated "
                              "back (give the pre-RoPE keys with kvp_inputs_set_keys)");
        kvp_buffer *view, *table, *keys;
        int64_t P = L->next_pos;
        KVP_TRY(kvp__meta_view(run, lo, hi, &view));
        KVP_TRY(inverse_rope_table(run, P, &table));
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * m * d, &keys));
        kvp_p_rope_rows rr = {.H = Hk, .n = m, .d = d, .rope_layout = (int)run->in->rope.layout,
                              .x_dtype = (int)run->cache->opt.dtype, .p0 = 0, .P = (int)P};
        KVP_TRY(KVP_RUN(ctx, ROPE_ROWS, &rr, KVP_BO(L->keys, L->keys_offset), KVP_B(view),
                        KVP_B(L->pos), KVP_B(table), KVP_B(keys)));
        sk.x_dtype = KVP_DT_F32;
        sk.x_rows = m;
        sk.r0 = 0;
        x = KVP_B(keys);
    }

    /* the sketch Phi [Hk, d, k]: randn * (1 / sqrt(k)) in f32, as kvpress */
    size_t count = (size_t)Hk * d * k;
    float *host = kvp__malloc(ctx, count * sizeof(float));
    if (!host) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp__normal_fill(rng, host, count);
    float inv_sqrt_k = (float)(1.0 / sqrt((double)k));
    for (size_t i = 0; i < count; i++) host[i] *= inv_sqrt_k;
    kvp_status st = kvp__scratch(ctx, count * sizeof(float), &phi);
    if (st == KVP_OK) st = kvp__upload(ctx, phi, 0, host, count * sizeof(float));
    free(host);
    KVP_TRY(st);
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * m * k, &X));
    KVP_TRY(KVP_RUN(ctx, SKETCH, &sk, x, KVP_B(phi), KVP_B(X)));

    /* Cholesky of X^T X + c I with kvpress's growing jitter */
    KVP_TRY(kvp__meta_dense(run, Hk, m, 0, &dense));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * k * k, &G));
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * (size_t)Hk, &info));
    int32_t *flags = kvp__malloc(ctx, sizeof(int32_t) * (size_t)Hk);
    if (!flags) return KVP_ERR_OUT_OF_HOST_MEMORY;
    double jitter = 1e-2;
    int factored = 0;
    for (int attempt = 0; attempt < 5 && !factored && st == KVP_OK; attempt++) {
        if (attempt) jitter = fmax(1e-8, 10.0 * jitter);
        kvp_p_gram g = {.H = Hk, .Hx = Hk, .d = k, .n = m, .t0 = 0, .x_dtype = KVP_DT_F32,
                        .has_w = 0, .eps = 0.0f, .diag = (float)jitter, .compensated = 1};
        kvp_p_cholesky ch = {.H = Hk, .d = k};
        st = KVP_RUN(ctx, GRAM, &g, KVP_B(X), KVP_B(dense), KVP_B(X), KVP_B(G)); /* no weights */
        if (st == KVP_OK) st = KVP_RUN(ctx, CHOLESKY, &ch, KVP_B(G), KVP_B(info));
        if (st == KVP_OK) st = kvp__download(ctx, info, 0, flags, sizeof(int32_t) * (size_t)Hk);
        factored = 1;
        for (int j = 0; st == KVP_OK && j < Hk; j++) factored &= flags[j] == 0;
    }
    free(flags);
    KVP_TRY(st);
    if (!factored)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "leverage on layer %d: the sketched Gram matrix is not positive definite "
                          "even with a jitter of 100 (non-finite keys?)",
                          run->layer);
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * m, &lev));
    kvp_p_chol_quadform qf = {.H = Hk, .Hx = Hk, .d = k, .n = m, .t0 = 0, .x_dtype = KVP_DT_F32};
    KVP_TRY(KVP_RUN(ctx, CHOL_QUADFORM, &qf, KVP_B(G), KVP_B(X), KVP_B(dense), KVP_B(lev)));
    kvp_p_zscore z = {.H = Hk, .m = m, .n_out = (int)run->n, .off = (int)lo,
                      .accumulate = accumulate, .scale = scale};
    return KVP_RUN(ctx, ZSCORE, &z, KVP_B(lev), KVP_B(out));
}

kvp_status kvp__leverage_check(const kvp_press_run *run, const char *press) {
    const kvp_inputs *in = run->in;
    if (!(in && in->prerope_keys.set) && !(in && in->has_rope))
        return kvp__error(run->ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the pre-RoPE keys (kvp_inputs_set_keys) or the RoPE definition "
                          "(kvp_inputs_set_rope) to rotate the cached keys back",
                          press);
    const kvp_input_tensor *k = &in->prerope_keys;
    if (k->set && (k->t.shape[0] != run->Hk || k->t.shape[1] != run->n || k->t.shape[2] != run->d))
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "%s on layer %d: the pre-RoPE keys are [%lld, %lld, %lld], expected the "
                          "%lld cached tokens [%d, %lld, %d]",
                          press, run->layer, (long long)k->t.shape[0], (long long)k->t.shape[1],
                          (long long)k->t.shape[2], (long long)run->n, run->Hk, (long long)run->n,
                          run->d);
    return KVP_OK;
}

static kvp_status leverage_check(const kvp_press *p, const kvp_press_run *run) {
    (void)p;
    return kvp__leverage_check(run, "leverage_score");
}

static kvp_status leverage_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    uint64_t rng;
    KVP_TRY(kvp__press_rng(p, run, &rng));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    return kvp__leverage_zscores(run, 0, run->n, (int)kvp__press_int(p, "sketch_dimension"), &rng,
                                 1.0f, 0, *out);
}

static const kvp_param_info leverage_params[] = {
    KVP_PARAM_RATIO,
    {"sketch_dimension", KVP_PARAM_INT, 48, 1, 4096, 0, "columns of the Gaussian sketch"},
    {"seed", KVP_PARAM_INT, -1, -1, 9007199254740992.0, 0,
     "seed of the sketch; -1: one sequence across calls (a fresh sketch per call)"},
};

const kvp_press_vtable kvp_press_leverage_score = {
    .info = {.name = "leverage_score",
             .summary = "sketched statistical leverage of the pre-RoPE keys, z-scored",
             .paper = "arXiv:2507.08143",
             .kind = KVP_PRESS_SCORER,
             .needs = 0, /* the RoPE definition, or the pre-RoPE keys: leverage_check */
             .n_params = KVP_COUNT(leverage_params),
             .params = leverage_params},
    .check = leverage_check,
    .score = leverage_score,
    .reset = kvp__press_rng_reset,
};
