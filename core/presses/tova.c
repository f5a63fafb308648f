/* TOVAPress: the attention of the last token, averaged over all query heads, so every kv head
 * evicts the same tokens (arXiv 2401.06104). The last token itself is kept. */
#include "press_impl.h"

static kvp_status tova_check(const kvp_press *p, const kvp_press_run *run) {
    (void)p;
    return kvp__snapkv_check(run, "tova", 1, 1);
}

static kvp_status tova_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    (void)p;
    int Hq;
    kvp_buffer *colsum;
    KVP_TRY(kvp__window_colsum(run, 1, KVP_COLSUM_SUM, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n,
                            .mode = KVP_REDUCE_ALL_MEAN};
    KVP_TRY(KVP_RUN(run->ctx, HEAD_REDUCE, &hr, KVP_B(colsum), KVP_B(*out)));
    return kvp__pad(run, *out, run->Hk, 0, run->n - 1);
}

static const kvp_param_info tova_params[] = {KVP_PARAM_RATIO};

const kvp_press_vtable kvp_press_tova = {
    .info = {.name = "tova",
             .summary = "attention of the last token, averaged over all heads",
             .paper = "arXiv:2401.06104",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(tova_params),
             .params = tova_params},
    .check = tova_check,
    .score = tova_score,
};
