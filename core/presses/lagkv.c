/* LagKVPress: score each partition of lag_size tokens by how much its keys and values vary
 * relative to the next partition (arXiv 2504.04704). */
#include "press_impl.h"

static kvp_status lagkv_check(const kvp_press *p, const kvp_press_run *run) {
    return kvp__need(run, "lagkv", run->n > kvp__press_int(p, "n_sink"),
                     "needs more tokens than n_sink");
}

static kvp_status lagkv_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_lagkv k = {.Hk = run->Hk,
                     .d = run->d,
                     .n = (int)run->n,
                     .n_sink = (int)kvp__press_int(p, "n_sink"),
                     .lag = (int)kvp__press_int(p, "lag_size"),
                     .dtype = (int)run->cache->opt.dtype,
                     .cross = (int)kvp__press_int(p, "cross_scoring")};
    return KVP_RUN(run->ctx, LAGKV, &k, KVP_BO(L->keys, L->keys_offset),
                   KVP_BO(L->values, L->values_offset), KVP_B(L->meta), KVP_B(*out));
}

static const kvp_param_info lagkv_params[] = {
    KVP_PARAM_RATIO,
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens always kept"},
    {"lag_size", KVP_PARAM_INT, 128, 1, 1e9, 0, "tokens per partition"},
    {"cross_scoring", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "keep the softmax scores (comparable across partitions) instead of ranks"},
};

const kvp_press_vtable kvp_press_lagkv = {
    .info = {.name = "lagkv",
             .summary = "partition-wise key/value variation against the next partition",
             .paper = "arXiv:2504.04704",
             .kind = KVP_PRESS_SCORER,
             .n_params = KVP_COUNT(lagkv_params),
             .params = lagkv_params},
    .check = lagkv_check,
    .score = lagkv_score,
};
