/* KnormPress: keep the keys with the smallest L2 norm (arXiv 2406.11430). S = -||k||. */
#include "press_impl.h"

static kvp_status knorm_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    (void)p;
    KVP_TRY(kvp__row_norms(run, 0, out));
    return kvp__score_map(run, *out, run->Hk, -1.0f, 0.0f, NULL);
}

static const kvp_param_info knorm_params[] = {KVP_PARAM_RATIO};

const kvp_press_vtable kvp_press_knorm = {
    .info = {.name = "knorm",
             .summary = "evict keys with a large L2 norm",
             .paper = "arXiv:2406.11430",
             .kind = KVP_PRESS_SCORER,
             .needs = 0,
             .n_params = KVP_COUNT(knorm_params),
             .params = knorm_params},
    .score = knorm_score,
};
