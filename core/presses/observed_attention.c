/* ObservedAttentionPress: the average attention each key received during prefill, under the
 * causal mask (related to H2O, arXiv 2306.14048). Uses given attention probabilities, or
 * recomputes them from the queries of every prompt token. */
#include "press_impl.h"

static kvp_status observed_check(const kvp_press *p, const kvp_press_run *run) {
    (void)p;
    const kvp_inputs *in = run->in;
    int64_t rows = in->attention.set ? in->attention.t.shape[1] : in->queries.t.shape[1];
    return kvp__need(run, "observed_attention", rows >= run->n,
                     "needs the attention probabilities (or queries) of every cached token");
}

static kvp_status observed_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    (void)p;
    int Hq;
    kvp_buffer *colsum;
    KVP_TRY(kvp__window_colsum(run, run->n, KVP_COLSUM_VISIBLE, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n,
                            .mode = KVP_REDUCE_GROUP_MEAN};
    return KVP_RUN(run->ctx, HEAD_REDUCE, &hr, KVP_B(colsum), KVP_B(*out));
}

static const kvp_param_info observed_params[] = {KVP_PARAM_RATIO};

const kvp_press_vtable kvp_press_observed_attention = {
    .info = {.name = "observed_attention",
             .summary = "average attention received during prefill (H2O-like)",
             .paper = "arXiv:2306.14048",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(observed_params),
             .params = observed_params},
    .check = observed_check,
    .score = observed_score,
};
