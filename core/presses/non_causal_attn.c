/* NonCausalAttnPress (Compactor's attention component, arXiv 2507.08143; PRESSES.md 2.18):
 * the prompt's queries attend non-causally inside chunks of chunk_size tokens; each key's
 * score is the attention it receives (column sum), averaged over the query heads of its group,
 * times ||v||, smoothed by AvgPool(3) and z-scored over the layer.
 *
 * kvpress's quirks are reproduced by default and can be turned off:
 *  - kvpress_padding: the last chunk is padded with zero queries and keys that take part in
 *    the softmax (padded keys absorb attention, padded queries add ~1/C to every key);
 *    false: only real tokens exist;
 *  - scaled: kvpress applies no 1/sqrt(d) to the logits; true: it is applied.
 * Prefill only, as in kvpress: the queries must be those of the n cached tokens.
 *
 * Recipe: ROPE (queries) -> CHUNK_COLSUM -> HEAD_REDUCE -> ROW_NORM (values) and SCORE_MAP ->
 * POOL1D -> ZSCORE. */
#include <math.h>

#include "press_impl.h"

kvp_status kvp__noncausal_zscores(const kvp_press_run *run, int64_t lo, int64_t hi, int chunk,
                                  int kvpress_pad, int scaled, float scale, int accumulate,
                                  kvp_buffer *out) {
    kvp_context *ctx = run->ctx;
    const kvp_inputs *in = run->in;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    const kvp_tensor *q = &in->queries.t;
    int Hq = (int)q->shape[0], Hk = run->Hk, d = run->d, m = (int)(hi - lo);
    int64_t rows = q->shape[1] - lo; /* post-RoPE query rows lo .. end */
    kvp_buffer *qr, *view, *colsum, *s, *vnorm, *pooled;
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * rows * d, &qr));
    KVP_TRY(kvp__rope_rows(ctx, &in->rope, in->inv_freq, q, in->queries.pos0, lo, qr, 0));
    KVP_TRY(kvp__meta_view(run, lo, hi, &view));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * m, &colsum));
    kvp_p_chunk_colsum cc = {.Hq = Hq, .Hk = Hk, .d = d, .n = m, .C = chunk, .q_stride = (int)rows,
                             .k_dtype = (int)run->cache->opt.dtype, .kvpress_pad = kvpress_pad,
                             .scale = scaled ? (float)(1.0 / sqrt((double)d)) : 1.0f};
    KVP_TRY(KVP_RUN(ctx, CHUNK_COLSUM, &cc, KVP_B(qr), KVP_BO(L->keys, L->keys_offset),
                    KVP_B(view), KVP_B(colsum)));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * m, &s));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = Hk, .n = m, .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(ctx, HEAD_REDUCE, &hr, KVP_B(colsum), KVP_B(s)));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * m, &vnorm));
    kvp_p_row_norm rn = {.H = Hk, .n = m, .d = d, .dtype = (int)run->cache->opt.dtype};
    KVP_TRY(KVP_RUN(ctx, ROW_NORM, &rn, KVP_BO(L->values, L->values_offset), KVP_B(view),
                    KVP_B(vnorm)));
    kvp_p_score_map sm = {.H = Hk, .n = m, .has_w = 1, .a = 1.0f, .b = 0.0f};
    KVP_TRY(KVP_RUN(ctx, SCORE_MAP, &sm, KVP_B(s), KVP_B(vnorm)));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk * m, &pooled));
    kvp_p_pool1d pp = {.H = Hk, .n = m, .len = m, .k = 3};
    KVP_TRY(KVP_RUN(ctx, POOL1D, &pp, KVP_B(s), KVP_B(pooled)));
    kvp_p_zscore z = {.H = Hk, .m = m, .n_out = (int)run->n, .off = (int)lo,
                      .accumulate = accumulate, .scale = scale};
    return KVP_RUN(ctx, ZSCORE, &z, KVP_B(pooled), KVP_B(out));
}

static kvp_status noncausal_check(const kvp_press *p, const kvp_press_run *run) {
    (void)p;
    return kvp__need_prefill_queries(run, "non_causal_attn");
}

static kvp_status noncausal_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    return kvp__noncausal_zscores(run, 0, run->n, (int)kvp__press_int(p, "chunk_size"),
                                  (int)kvp__press_int(p, "kvpress_padding"),
                                  (int)kvp__press_int(p, "scaled"), 1.0f, 0, *out);
}

static const kvp_param_info noncausal_params[] = {
    KVP_PARAM_RATIO,
    {"chunk_size", KVP_PARAM_INT, 256, 1, 1e9, 0, "tokens per non-causal attention chunk"},
    {"kvpress_padding", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "pad the last chunk as kvpress does (padded keys absorb attention, padded queries add "
     "to every key); false: only real tokens"},
    {"scaled", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "scale the logits by 1/sqrt(head_dim) (kvpress does not)"},
};

const kvp_press_vtable kvp_press_non_causal_attn = {
    .info = {.name = "non_causal_attn",
             .summary = "attention received inside non-causal chunks, times ||v||, z-scored",
             .paper = "arXiv:2507.08143",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_QUERIES | KVP_NEED_ROPE,
             .n_params = KVP_COUNT(noncausal_params),
             .params = noncausal_params},
    .check = noncausal_check,
    .score = noncausal_score,
};
