/* KeyDiffPress: evict the keys most similar to the head's mean key direction
 * (arXiv 2504.15364). */
#include "press_impl.h"

static kvp_status keydiff_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    (void)p;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_keydiff k = {.Hk = run->Hk, .d = run->d, .n = (int)run->n,
                       .k_dtype = (int)run->cache->opt.dtype};
    return KVP_RUN(run->ctx, KEYDIFF, &k, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                   KVP_B(*out));
}

static const kvp_param_info keydiff_params[] = {KVP_PARAM_RATIO};

const kvp_press_vtable kvp_press_keydiff = {
    .info = {.name = "keydiff",
             .summary = "evict keys close to the mean key direction (cosine)",
             .paper = "arXiv:2504.15364",
             .kind = KVP_PRESS_SCORER,
             .n_params = KVP_COUNT(keydiff_params),
             .params = keydiff_params},
    .score = keydiff_score,
};
