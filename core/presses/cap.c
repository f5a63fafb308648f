/* CapPress (CAPKV, arXiv 2604.25975; PRESSES.md 2.12): a capacity (leverage) score of every
 * value vector under attention-like weights,
 *   w_t = exp(tau (c_t - max c)),  c_t = clamp(cos(anchor, k_t), -1, 1),
 *   A = I + sum_t (w_t + eps) v_t v_t^T,  s_t = w_t v_t^T A^-1 v_t,
 * per query head over the tokens [n_sink, n), averaged over each kv head's group; the n_sink
 * first tokens are padded with max + 1 (kvpress's choice; the paper pads with the max).
 * The anchor is the mean pre-RoPE query of the tokens >= n_sink under Expected Attention's
 * averaged rotation of the n_future_positions next positions (R mean(q) = mean(R q)).
 *
 * Recipe: CHANNEL_MEAN (query mean; or the mean of a kvp_qstats) -> EA_ROTATE ->
 * ANCHOR_COSINE (exp shift) -> GRAM (values, weights) -> CHOLESKY -> CHOL_QUADFORM ->
 * SCORE_MAP (times w) -> HEAD_REDUCE -> SCORE_PAD. kvpress solves A X = V by LU in f32; the
 * Cholesky solve is the same quantity (A is symmetric positive definite, A >= I). */
#include <math.h>
#include <stdlib.h>

#include "press_impl.h"

static kvp_status cap_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t n_sink = kvp__press_int(p, "n_sink");
    KVP_TRY(kvp__need(run, "cap", run->n > n_sink, "needs more tokens than n_sink"));
    const kvp_inputs *in = run->in;
    if (in->queries.set)
        return kvp__need(run, "cap", in->queries.pos0 + in->queries.t.shape[1] > n_sink,
                         "no query at a position >= n_sink was given");
    const kvp_qstats *s = in->qstats;
    if (s->skip_below != n_sink)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "cap: the query statistics skip positions below %lld but the press has "
                          "n_sink = %lld (create them with skip_below = n_sink)",
                          (long long)s->skip_below, (long long)n_sink);
    return kvp__need(run, "cap", s->count > 0, "the query statistics hold no query");
}

static kvp_status cap_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    kvp_context *ctx = run->ctx;
    const kvp_inputs *in = run->in;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    int64_t n_sink = kvp__press_int(p, "n_sink");
    int d = run->d, n = (int)run->n, Hk = run->Hk, Hq;
    kvp_buffer *mean;
    int64_t p0;
    if (in->queries.set) {
        const kvp_tensor *q = &in->queries.t;
        Hq = (int)q->shape[0];
        int64_t m = q->shape[1];
        int64_t r0 = n_sink > in->queries.pos0 ? n_sink - in->queries.pos0 : 0;
        kvp_buffer *qmeta;
        KVP_TRY(kvp__meta_dense(run, Hq, m, r0, &qmeta));
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d, &mean));
        kvp_p_channel_mean cm = {.H = Hq, .n = (int)(m - r0), .d = d, .dtype = (int)q->dtype,
                                 .square = 0};
        KVP_TRY(KVP_RUN(ctx, CHANNEL_MEAN, &cm, KVP_BO(q->buffer, q->offset), KVP_B(qmeta),
                        KVP_B(mean)));
        p0 = in->queries.pos0 + m;
    } else {
        Hq = in->qstats->n_heads;
        mean = in->qstats->mean;
        p0 = in->qstats->next_pos;
    }

    /* anchor = R mean (EA_ROTATE without covariance: its m2 and sigma bindings are unused) */
    kvp_buffer *cs, *anchor;
    KVP_TRY(kvp__averaged_rotation(run, p0, kvp__press_int(p, "n_future_positions"), &cs));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d, &anchor));
    kvp_p_ea_rotate er = {.H = Hq, .d = d, .rope_layout = (int)in->rope.layout, .use_cov = 0,
                          .inv_count = 1.0f};
    KVP_TRY(KVP_RUN(ctx, EA_ROTATE, &er, KVP_B(mean), KVP_B(mean), KVP_B(cs), KVP_B(anchor),
                    KVP_B(anchor)));

    kvp_buffer *w, *A, *info, *lev;
    KVP_TRY(kvp__scores_alloc(run, Hq, &w));
    kvp_p_anchor_cosine ac = {.Hq = Hq, .Hk = Hk, .d = d, .n = n, .t0 = (int)n_sink,
                              .k_dtype = (int)run->cache->opt.dtype, .exp_shift = 1,
                              .scale = (float)kvp__press_param(p, "tau")};
    KVP_TRY(KVP_RUN(ctx, ANCHOR_COSINE, &ac, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                    KVP_B(anchor), KVP_B(w)));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d * d, &A));
    kvp_p_gram g = {.H = Hq, .Hx = Hk, .d = d, .n = n, .t0 = (int)n_sink,
                    .x_dtype = (int)run->cache->opt.dtype, .has_w = 1,
                    .eps = (float)kvp__press_param(p, "epsilon"), .diag = 1.0f};
    KVP_TRY(KVP_RUN(ctx, GRAM, &g, KVP_BO(L->values, L->values_offset), KVP_B(L->meta), KVP_B(w),
                    KVP_B(A)));
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * (size_t)Hq, &info));
    kvp_p_cholesky ch = {.H = Hq, .d = d};
    KVP_TRY(KVP_RUN(ctx, CHOLESKY, &ch, KVP_B(A), KVP_B(info)));
    int32_t *flags = kvp__malloc(ctx, sizeof(int32_t) * (size_t)Hq);
    if (!flags) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_status st = kvp__download(ctx, info, 0, flags, sizeof(int32_t) * (size_t)Hq);
    for (int i = 0; st == KVP_OK && i < Hq; i++)
        if (flags[i])
            st = kvp__error(ctx, KVP_ERR_INVALID_ARG,
                            "cap on layer %d: the capacity matrix of query head %d is not positive "
                            "definite (non-finite values or weights?)",
                            run->layer, i);
    free(flags);
    KVP_TRY(st);
    KVP_TRY(kvp__scores_alloc(run, Hq, &lev));
    kvp_p_chol_quadform qf = {.H = Hq, .Hx = Hk, .d = d, .n = n, .t0 = (int)n_sink,
                              .x_dtype = (int)run->cache->opt.dtype};
    KVP_TRY(KVP_RUN(ctx, CHOL_QUADFORM, &qf, KVP_B(A), KVP_BO(L->values, L->values_offset),
                    KVP_B(L->meta), KVP_B(lev)));
    KVP_TRY(kvp__score_map(run, lev, Hq, 1.0f, 0.0f, w));
    KVP_TRY(kvp__scores_alloc(run, Hk, out));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = Hk, .n = n, .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(ctx, HEAD_REDUCE, &hr, KVP_B(lev), KVP_B(*out)));
    return kvp__pad(run, *out, Hk, n_sink, run->n);
}

static const kvp_param_info cap_params[] = {
    KVP_PARAM_RATIO,
    {"tau", KVP_PARAM_FLOAT, 5.0, -1e30, 1e30, 0,
     "temperature of the query-key alignment weights exp(tau (cos - max cos))"},
    {"n_future_positions", KVP_PARAM_INT, 512, 1, 1e9, 0,
     "future positions whose RoPE is averaged for the query anchor"},
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0,
     "initial tokens always kept and left out of the anchor"},
    {"epsilon", KVP_PARAM_FLOAT, 1e-6, 0, 1e30, 0,
     "added to the weights in the capacity matrix"},
};

const kvp_press_vtable kvp_press_cap = {
    .info = {.name = "cap",
             .summary = "capacity (leverage) of each value under query-aligned weights",
             .paper = "arXiv:2604.25975",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_QUERY_STATS | KVP_NEED_ROPE,
             .n_params = KVP_COUNT(cap_params),
             .params = cap_params},
    .check = cap_check,
    .score = cap_score,
};
