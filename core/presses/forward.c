/* Shared steps of the presses that run the model through the engine (kvp_forward), of the
 * presses whose budget spans layers (KVzip's global selection) and of the structural presses
 * (masks built on the host). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

kvp_status kvp__forward_run(kvp_context *ctx, const char *press, const kvp_forward *fwd,
                            const kvp_forward_pass *pass, const kvp_status *observer_status,
                            const char *what) {
    char err[512] = "";
    kvp_status st = fwd->run(fwd->user_data, pass, err, sizeof err);
    /* The press's own observer failed: its message is already on the context, and its status
     * wins even if the engine did not pass it on. */
    if (observer_status && *observer_status != KVP_OK) return *observer_status;
    if (st == KVP_OK) return KVP_OK;
    err[sizeof err - 1] = 0;
    if (st > 0 || st < KVP_ERR_INTERNAL) st = KVP_ERR_INTERNAL; /* not a kvp_status */
    return kvp__error(ctx, st, "%s: the engine's forward pass (%s) failed: %s: %s", press, what,
                      kvp_status_name(st), err[0] ? err : kvp_status_str(st));
}

kvp_status kvp__forward_tensor(kvp_context *ctx, const char *press, const kvp_tensor *t,
                               const char *what, int ndim, const int64_t *shape,
                               kvp_tensor *out) {
    if (t->ndim == 0)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s: the engine's forward pass did not show the %s", press, what);
    char label[160];
    snprintf(label, sizeof label, "%s: observed %s", press, what);
    KVP_TRY(kvp__tensor_check(ctx, t, label, ndim, shape));
    KVP_TRY(kvp__tensor_check_finite(ctx, t, label));
    *out = *t;
    if (t->buffer) return KVP_OK;
    size_t bytes = (size_t)kvp__tensor_count(t) * kvp_dtype_size(t->dtype);
    kvp_buffer *b;
    KVP_TRY(kvp__scratch(ctx, bytes, &b));
    KVP_TRY(kvp__upload(ctx, b, 0, t->data, bytes));
    out->data = NULL;
    out->buffer = b;
    out->offset = 0;
    return KVP_OK;
}

kvp_status kvp__forward_qk(kvp_context *ctx, const char *press, const kvp_rope *rope,
                           const float *inv_freq, const kvp_forward_layer *fl, int64_t m,
                           int d, int Hk, kvp_buffer **q_rot, kvp_tensor *keys, int *Hq) {
    int64_t qs[3] = {-1, m, d}, ks[3] = {Hk, m, d};
    kvp_tensor q;
    KVP_TRY(kvp__forward_tensor(ctx, press, &fl->queries, "queries", 3, qs, &q));
    KVP_TRY(kvp__forward_tensor(ctx, press, &fl->keys, "keys", 3, ks, keys));
    if (q.shape[0] % Hk)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: %lld observed query heads are not a multiple of the cache's %d kv heads",
                          press, (long long)q.shape[0], Hk);
    *Hq = (int)q.shape[0];
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)*Hq * (size_t)m * (size_t)d, q_rot));
    return kvp__rope_rows(ctx, rope, inv_freq, &q, fl->pos0, 0, *q_rot, 0);
}

kvp_status kvp__compact_host_mask(const kvp_press_run *run, const int32_t *keep) {
    kvp_buffer *mask;
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    KVP_TRY(kvp__upload(run->ctx, mask, 0, keep,
                        sizeof(int32_t) * (size_t)run->Hk * (size_t)run->n));
    return kvp__cache_compact(run->ctx, run->cache, run->layer, mask, run->n);
}

kvp_status kvp__cache_all_uniform(kvp_context *ctx, const kvp_cache *cache, const char *press,
                                  int64_t *n) {
    *n = -1;
    for (int l = 0; l < cache->opt.n_layers; l++) {
        KVP_TRY(kvp__cache_check_layer(ctx, cache, l));
        int64_t len;
        KVP_TRY(kvp__cache_uniform_length(ctx, cache, l, press, &len));
        if (*n >= 0 && len != *n)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s selects across layers and needs every layer to hold the same "
                              "tokens, but layer 0 holds %lld and layer %d holds %lld",
                              press, (long long)*n, l, (long long)len);
        *n = len;
    }
    if (*n <= 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: the cache holds no tokens", press);
    return KVP_OK;
}

kvp_status kvp__kvzip_select(kvp_context *ctx, kvp_cache *cache, kvp_buffer *scores,
                             int64_t n_ctx, int64_t stride, double ratio, int layerwise) {
    int L = cache->opt.n_layers, Hk = cache->opt.n_kv_heads;
    int64_t rows = (int64_t)L * Hk;
    kvp_buffer *mask;
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * (size_t)rows * (size_t)stride, &mask));
    if (stride > n_ctx) {
        /* entries past the context (RestoreKV's restore tokens) beat every context entry */
        kvp_p_score_pad pad = {.H = (int)rows, .n = (int)stride, .lo = 0, .hi = (int)n_ctx};
        KVP_TRY(KVP_RUN(ctx, SCORE_PAD, &pad, KVP_B(scores)));
    }
    if (layerwise) {
        /* int(bsz * Hk * ctx_len * r), in double as kvpress */
        int64_t pruned = (int64_t)((double)Hk * (double)n_ctx * ratio);
        for (int l = 0; l < L; l++) {
            size_t off = sizeof(int32_t) * (size_t)l * (size_t)Hk * (size_t)stride;
            kvp_p_topk p = {.H = Hk, .n = (int)stride, .k = (int)(Hk * stride - pruned),
                            .global_mode = 1};
            KVP_TRY(KVP_RUN(ctx, TOPK, &p, KVP_BO(scores, off), KVP_BO(mask, off)));
        }
    } else {
        /* int(score_val.numel() * r): the lowest of all layers go */
        int64_t pruned = (int64_t)((double)(rows * n_ctx) * ratio);
        kvp_p_topk p = {.H = (int)rows, .n = (int)stride, .k = (int)(rows * stride - pruned),
                        .global_mode = 1};
        KVP_TRY(KVP_RUN(ctx, TOPK, &p, KVP_B(scores), KVP_B(mask)));
    }
    return kvp__cache_compact_layers(ctx, cache, mask, stride);
}

kvp_status kvp__artefact_tensor(const char *press, const kvp_artefact *a, const char *name,
                                int ndim, const int64_t *shape, kvp_tensor *out) {
    kvp_status st = kvp_artefact_get(a, name, out);
    if (st != KVP_OK) /* (the message may quote the reader's: kvp__errorv formats aside) */
        return kvp__error_tls(st == KVP_ERR_NOT_FOUND ? KVP_ERR_INVALID_ARG : st,
                              "%s: the artefact has no readable tensor '%s' (%s)", press, name,
                              kvp_last_error());
    int ok = out->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = shape[k] < 0 || out->shape[k] == shape[k];
    if (!ok) {
        char want[96] = "", got[96] = "";
        for (int k = 0; k < ndim; k++) {
            size_t len = strlen(want);
            if (shape[k] < 0)
                snprintf(want + len, sizeof want - len, "%s*", k ? ", " : "");
            else
                snprintf(want + len, sizeof want - len, "%s%lld", k ? ", " : "",
                         (long long)shape[k]);
        }
        for (int k = 0; k < out->ndim; k++) {
            size_t len = strlen(got);
            snprintf(got + len, sizeof got - len, "%s%lld", k ? ", " : "",
                     (long long)out->shape[k]);
        }
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: artefact tensor '%s' has shape [%s], expected [%s]",
                              press, name, got, want);
    }
    return KVP_OK;
}

float *kvp__tensor_host_f32(const kvp_tensor *t) {
    size_t count = (size_t)kvp__tensor_count(t);
    float *f = malloc((count ? count : 1) * sizeof(float));
    if (f && kvp_convert(t->dtype, t->data, KVP_DTYPE_F32, f, count) != KVP_OK) {
        free(f);
        f = NULL;
    }
    return f;
}

kvp_status kvp__artefact_int(const char *press, const kvp_artefact *a, const char *key,
                             int64_t lo, int64_t hi, int64_t *out) {
    const char *v = kvp_artefact_metadata(a, key);
    if (!v)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: the artefact's metadata has no '%s'", press,
                              key);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < lo || x > hi)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "%s: artefact metadata %s = '%s' is not an integer in [%lld, %lld]",
                              press, key, v, (long long)lo, (long long)hi);
    *out = x;
    return KVP_OK;
}
