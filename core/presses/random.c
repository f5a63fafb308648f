/* RandomPress: uniform random scores, a baseline. The generator is ours (splitmix64), not
 * torch's, so only the distribution matches kvpress. With seed >= 0 every call draws the same
 * scores (as kvpress with a seed); with seed -1 each call continues one sequence. */
#include <stdlib.h>

#include "press_impl.h"

typedef struct random_state {
    uint64_t calls;
} random_state;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static kvp_status random_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    int64_t seed = kvp__press_int(p, "seed");
    random_state *rs = p->state;
    uint64_t s = seed >= 0 ? (uint64_t)seed : 0x5eedull + (rs ? rs->calls++ : 0);
    size_t count = (size_t)run->Hk * (size_t)run->n;
    float *host = kvp__malloc(run->ctx, count * sizeof(float));
    if (!host) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < count; i++)
        host[i] = (float)(splitmix64(&s) >> 40) * (1.0f / 16777216.0f); /* [0, 1), 24 bits */
    kvp_status st = kvp__scores_from_host(run, host, out);
    free(host);
    return st;
}

static kvp_status random_check(const kvp_press *p, const kvp_press_run *run) {
    /* Lazily attach the call counter (presses are created without a context). */
    kvp_press *mp = (kvp_press *)p;
    if (!mp->state) {
        mp->state = calloc(1, sizeof(random_state));
        if (!mp->state) return kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "random: out of memory");
        mp->free_state = free;
    }
    return KVP_OK;
}

static void random_reset(kvp_press *p) {
    if (p->state) ((random_state *)p->state)->calls = 0;
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
    .check = random_check,
    .score = random_score,
    .reset = random_reset,
};
