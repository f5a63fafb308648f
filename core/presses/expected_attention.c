/* ExpectedAttentionPress (arXiv 2510.00636): future queries are modelled as a Gaussian whose
 * mean and covariance come from the prompt's queries; the expected attention
 * E[exp(q.k / sqrt d)] = exp(mu.k / sqrt d + k^T Sigma k / 2d) is normalised over the keys,
 * averaged over the query heads of each kv head and weighted by the value norm. The RoPE of
 * the future positions is averaged (PRESSES.md 2.10, 5.6).
 *
 * The statistics come either from the queries given for this call (rows at positions
 * >= n_sink), or from a kvp_qstats object filled chunk by chunk during prefill. */
#include <math.h>
#include <stdlib.h>

#include "press_impl.h"

static kvp_status ea_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t n_sink = kvp__press_int(p, "n_sink");
    KVP_TRY(kvp__need(run, "expected_attention", run->n > n_sink,
                      "needs more tokens than n_sink"));
    const kvp_inputs *in = run->in;
    if (in->queries.set) {
        int64_t last = in->queries.pos0 + in->queries.t.shape[1];
        return kvp__need(run, "expected_attention", last > n_sink,
                         "no query at a position >= n_sink was given");
    }
    const kvp_qstats *s = in->qstats;
    if (s->skip_below != n_sink)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "expected_attention: the query statistics skip positions below %lld "
                          "but the press has n_sink = %lld (create them with skip_below = n_sink)",
                          (long long)s->skip_below, (long long)n_sink);
    return kvp__need(run, "expected_attention", s->count > 0,
                     "the query statistics hold no query");
}

/* Mean (cos, sin) over the future positions p0 .. p0 + n_future - 1, per frequency. */
static kvp_status averaged_rotation(const kvp_press_run *run, int64_t p0, int64_t n_future,
                                    kvp_buffer **out) {
    const kvp_rope *rope = &run->in->rope;
    int half = run->d / 2;
    float *cs = kvp__malloc(run->ctx, sizeof(float) * 2 * (size_t)half);
    if (!cs) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int f = 0; f < half; f++) {
        double c = 0, s = 0;
        for (int64_t k = 0; k < n_future; k++) {
            float angle = (float)(p0 + k) * run->in->inv_freq[f];
            c += (double)((float)cos((double)angle) * rope->attention_scaling);
            s += (double)((float)sin((double)angle) * rope->attention_scaling);
        }
        cs[2 * f] = (float)(c / (double)n_future);
        cs[2 * f + 1] = (float)(s / (double)n_future);
    }
    kvp_status st = kvp__scratch(run->ctx, sizeof(float) * 2 * (size_t)half, out);
    if (st == KVP_OK) st = kvp__upload(run->ctx, *out, 0, cs, sizeof(float) * 2 * (size_t)half);
    free(cs);
    return st;
}

static kvp_status ea_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    kvp_context *ctx = run->ctx;
    const kvp_inputs *in = run->in;
    int64_t n_sink = kvp__press_int(p, "n_sink");
    int use_cov = (int)kvp__press_int(p, "use_covariance");
    int d = run->d;
    kvp_buffer *mean, *m2;
    int64_t count, p0;
    int Hq;

    if (in->queries.set) {
        /* Statistics of this call's queries, computed like one kvp_qstats chunk. */
        const kvp_tensor *q = &in->queries.t;
        Hq = (int)q->shape[0];
        int64_t m = q->shape[1];
        int64_t r0 = n_sink > in->queries.pos0 ? n_sink - in->queries.pos0 : 0;
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d, &mean));
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d * d, &m2));
        kvp_p_qstats qs = {.H = Hq, .m = (int)m, .d = d, .dtype = (int)q->dtype,
                           .r0 = (int)r0, .n_prev = 0};
        KVP_TRY(KVP_RUN(ctx, QSTATS, &qs, KVP_BO(q->buffer, q->offset), KVP_B(mean), KVP_B(m2)));
        count = m - r0;
        p0 = in->queries.pos0 + m;
    } else {
        const kvp_qstats *s = in->qstats;
        Hq = s->n_heads;
        mean = s->mean;
        m2 = s->m2;
        count = s->count;
        p0 = s->next_pos;
    }

    kvp_buffer *cs, *mu, *sigma;
    KVP_TRY(averaged_rotation(run, p0, kvp__press_int(p, "n_future_positions"), &cs));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * d, &mu));
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hq * (use_cov ? d * d : 1), &sigma));
    kvp_p_ea_rotate er = {.H = Hq, .d = d, .rope_layout = (int)in->rope.layout, .use_cov = use_cov,
                          .inv_count = (float)(1.0 / (double)count)};
    KVP_TRY(KVP_RUN(ctx, EA_ROTATE, &er, KVP_B(mean), KVP_B(m2), KVP_B(cs), KVP_B(mu),
                    KVP_B(sigma)));

    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    kvp_buffer *logits;
    KVP_TRY(kvp__scores_alloc(run, Hq, &logits));
    kvp_p_ea_logits el = {.Hq = Hq, .Hk = run->Hk, .d = d, .n = (int)run->n, .t0 = (int)n_sink,
                          .k_dtype = (int)run->cache->opt.dtype, .use_cov = use_cov,
                          .inv_sqrt_d = (float)(1.0 / sqrt((double)d)),
                          .inv_2d = (float)(1.0 / (2.0 * d))};
    KVP_TRY(KVP_RUN(ctx, EA_LOGITS, &el, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                    KVP_B(mu), KVP_B(sigma), KVP_B(logits)));
    kvp_p_softmax sm = {.H = Hq, .n = (int)run->n, .t0 = (int)n_sink};
    KVP_TRY(KVP_RUN(ctx, SOFTMAX, &sm, KVP_B(logits)));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n,
                            .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(ctx, HEAD_REDUCE, &hr, KVP_B(logits), KVP_B(*out)));
    if (kvp__press_int(p, "use_vnorm")) {
        kvp_buffer *vnorm;
        KVP_TRY(kvp__row_norms(run, 1, &vnorm));
        KVP_TRY(kvp__score_map(run, *out, run->Hk, 1.0f, (float)kvp__press_param(p, "epsilon"),
                               vnorm));
    }
    return kvp__pad(run, *out, run->Hk, n_sink, run->n);
}

static const kvp_param_info ea_params[] = {
    KVP_PARAM_RATIO,
    {"n_future_positions", KVP_PARAM_INT, 512, 1, 1e9, 0,
     "future positions whose RoPE is averaged"},
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0,
     "initial tokens always kept and left out of the query statistics"},
    {"use_covariance", KVP_PARAM_BOOL, 1, 0, 1, 0, "include the query covariance term"},
    {"use_vnorm", KVP_PARAM_BOOL, 1, 0, 1, 0, "weight by the value norm: (s + epsilon) ||v||"},
    {"epsilon", KVP_PARAM_FLOAT, 0, 0, 1e30, 0, "added to the scores before the value norm"},
};

const kvp_press_vtable kvp_press_expected_attention = {
    .info = {.name = "expected_attention",
             .summary = "expected attention of future queries (Gaussian model), times ||v||",
             .paper = "arXiv:2510.00636",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_QUERY_STATS | KVP_NEED_ROPE,
             .n_params = KVP_COUNT(ea_params),
             .params = ea_params},
    .check = ea_check,
    .score = ea_score,
};
