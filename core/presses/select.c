/* Steps shared by press recipes: scratch tensors, top-k selection and compaction, padding,
 * window attention and norms. */
#include <math.h>
#include <stdlib.h>

#include "press_impl.h"

kvp_status kvp__scores_alloc(const kvp_press_run *run, int rows, kvp_buffer **out) {
    return kvp__scratch(run->ctx, sizeof(float) * (size_t)rows * (size_t)run->n, out);
}

kvp_status kvp__mask_alloc(const kvp_press_run *run, int rows, kvp_buffer **out) {
    return kvp__scratch(run->ctx, sizeof(int32_t) * (size_t)rows * (size_t)run->n, out);
}

kvp_status kvp__topk(const kvp_press_run *run, kvp_buffer *scores, int64_t k, int global,
                     kvp_buffer *mask) {
    kvp_p_topk p = {.H = run->Hk, .n = (int)run->n, .k = (int)k, .global_mode = global};
    return KVP_RUN(run->ctx, TOPK, &p, KVP_B(scores), KVP_B(mask));
}

kvp_status kvp__compress_by_scores(const kvp_press_run *run, kvp_buffer *scores, int64_t keep) {
    if (keep >= run->n) return KVP_OK; /* nothing to evict */
    kvp_buffer *mask;
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    KVP_TRY(kvp__topk(run, scores, keep, 0, mask));
    return kvp__cache_compact(run->ctx, run->cache, run->layer, mask, run->n);
}

kvp_status kvp__pad(const kvp_press_run *run, kvp_buffer *scores, int rows, int64_t lo,
                    int64_t hi) {
    if (lo <= 0 && hi >= run->n) return KVP_OK;
    kvp_p_score_pad p = {.H = rows, .n = (int)run->n, .lo = (int)lo, .hi = (int)hi};
    return KVP_RUN(run->ctx, SCORE_PAD, &p, KVP_B(scores));
}

kvp_status kvp__score_map(const kvp_press_run *run, kvp_buffer *s, int rows, float a, float b,
                          kvp_buffer *w) {
    kvp_p_score_map p = {.H = rows, .n = (int)run->n, .has_w = w != NULL, .a = a, .b = b};
    return KVP_RUN(run->ctx, SCORE_MAP, &p, KVP_B(s), KVP_B(w ? w : s));
}

int kvp__run_query_heads(const kvp_press_run *run) {
    const kvp_inputs *in = run->in;
    if (!in) return 0;
    if (in->queries.set) return (int)in->queries.t.shape[0];
    if (in->qstats) return in->qstats->n_heads;
    if (in->attention.set) return (int)in->attention.t.shape[0];
    return 0;
}

kvp_status kvp__window_queries(const kvp_press_run *run, int64_t w, kvp_buffer **out,
                               int64_t *q_pos0) {
    const kvp_input_tensor *q = &run->in->queries;
    int64_t Hq = q->t.shape[0], m = q->t.shape[1];
    KVP_TRY(kvp__scratch(run->ctx, sizeof(float) * (size_t)(Hq * w * run->d), out));
    *q_pos0 = q->pos0 + m - w;
    return kvp__rope_rows(run->ctx, &run->in->rope, run->in->inv_freq, &q->t, q->pos0, m - w,
                          *out, 0);
}

kvp_status kvp__window_colsum(const kvp_press_run *run, int64_t w, int mean_mode,
                              kvp_buffer **out, int *Hq_out) {
    const kvp_inputs *in = run->in;
    kvp_context *ctx = run->ctx;
    if (in->attention.set) {
        const kvp_tensor *P = &in->attention.t;
        int Hq = (int)P->shape[0];
        int64_t m = P->shape[1];
        *Hq_out = Hq;
        KVP_TRY(kvp__scores_alloc(run, Hq, out));
        kvp_p_probs_colsum p = {.H = Hq,
                                .m = (int)m,
                                .n = (int)run->n,
                                .r0 = (int)(m - w),
                                .r1 = (int)m,
                                .row_pos0 = (int)(run->n - m),
                                .mean_mode = mean_mode};
        return KVP_RUN(ctx, PROBS_COLSUM, &p, KVP_BO(P->buffer, P->offset), KVP_B(*out));
    }
    int Hq = (int)in->queries.t.shape[0];
    *Hq_out = Hq;
    kvp_buffer *q;
    int64_t q_pos0;
    KVP_TRY(kvp__window_queries(run, w, &q, &q_pos0));
    KVP_TRY(kvp__scores_alloc(run, Hq, out));
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    kvp_p_attn_colsum p = {.Hq = Hq,
                           .Hk = run->Hk,
                           .d = run->d,
                           .w = (int)w,
                           .n = (int)run->n,
                           .q_pos0 = (int)q_pos0,
                           .k_dtype = (int)run->cache->opt.dtype,
                           .mean_mode = mean_mode,
                           /* B2: always 1/sqrt(d), computed in double, applied in f32 */
                           .scale = (float)(1.0 / sqrt((double)run->d))};
    return KVP_RUN(ctx, ATTN_COLSUM, &p, KVP_B(q), KVP_BO(L->keys, L->keys_offset),
                   KVP_B(L->meta), KVP_B(L->pos), KVP_B(*out));
}

kvp_status kvp__row_norms(const kvp_press_run *run, int which, kvp_buffer **out) {
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_row_norm p = {.H = run->Hk, .n = (int)run->n, .d = run->d,
                        .dtype = (int)run->cache->opt.dtype};
    kvp_binding x = which ? KVP_BO(L->values, L->values_offset) : KVP_BO(L->keys, L->keys_offset);
    return KVP_RUN(run->ctx, ROW_NORM, &p, x, KVP_B(L->meta), KVP_B(*out));
}

kvp_status kvp__scores_from_host(const kvp_press_run *run, const float *host, kvp_buffer **out) {
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    return kvp__upload(run->ctx, *out, 0, host, sizeof(float) * (size_t)run->Hk * (size_t)run->n);
}

kvp_status kvp__need(const kvp_press_run *run, const char *press, int ok, const char *what) {
    if (ok) return KVP_OK;
    return kvp__error(run->ctx, KVP_ERR_INVALID_ARG, "%s on layer %d (%lld tokens): %s", press,
                      run->layer, (long long)run->n, what);
}
