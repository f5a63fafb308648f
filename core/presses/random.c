/* RandomPress: uniform random scores, a baseline. The generator is ours (splitmix64, rng.c),
 * not torch's, so only the distribution matches kvpress. With seed >= 0 every call draws the
 * same scores (as kvpress with a seed); with seed -1 each call continues one sequence. */
#include <stdlib.h>

#include "press_impl.h"

static kvp_status random_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    uint64_t s;
    KVP_TRY(kvp__press_rng(p, run, &s));
    size_t count = (size_t)run->Hk * (size_t)run->n;
    float *host = kvp__malloc(run->ctx, count * sizeof(float));
    if (!host) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < count; i++)
        host[i] = (float)(kvp__splitmix64(&s) >> 40) * (1.0f / 16777216.0f); /* [0, 1), 24 bits */
    kvp_status st = kvp__scores_from_host(run, host, out);
    free(host);
    return st;
}

static const kvp_param_info random_params[] = {
    KVP_PARAM_RATIO,
    {"seed", KVP_PARAM_INT, -1, -1, 9007199254740992.0, 0,
     "seed of every call's scores; -1: one sequence across calls"},
};

const kvp_press_vtable kvp_press_random = {
    .info = {.name = "random",
             .summary = "uniform random scores (baseline)",
             .paper = "",
             .kind = KVP_PRESS_SCORER,
             .n_params = KVP_COUNT(random_params),
             .params = random_params},
    .score = random_score,
    .reset = kvp__press_rng_reset,
};
