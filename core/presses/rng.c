/* The random numbers of the presses that draw them (random, cur, leverage_score, compactor).
 * Specified exactly, so that tools/golden/generate.py can hand NVIDIA kvpress the very same
 * draws (kvpress's own come from torch's generator, which C cannot reproduce):
 *  - splitmix64: state += 0x9e3779b97f4a7c15, then the usual mix;
 *  - a normal draw takes two successive outputs x, y: u1 = ((x >> 11) + 0.5) 2^-53,
 *    u2 = (y >> 11) 2^-53, z = sqrt(-2 ln u1) cos(2 pi u2) in double, rounded to f32. */
#include <math.h>
#include <stdlib.h>

#include "press_impl.h"

uint64_t kvp__splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void kvp__normal_fill(uint64_t *state, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double u1 = ((double)(kvp__splitmix64(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double u2 = (double)(kvp__splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
        out[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

typedef struct call_counter {
    uint64_t calls;
} call_counter;

kvp_status kvp__press_rng(const kvp_press *p, const kvp_press_run *run, uint64_t *state) {
    int64_t seed = kvp__press_int(p, "seed");
    if (seed >= 0) {
        *state = (uint64_t)seed;
        return KVP_OK;
    }
    /* Lazily attach the call counter (presses are created without a context). */
    kvp_press *mp = (kvp_press *)p;
    if (!mp->state) {
        mp->state = calloc(1, sizeof(call_counter));
        if (!mp->state)
            return kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory",
                              p->vt->info.name);
        mp->free_state = free;
    }
    *state = 0x5eedull + ((call_counter *)mp->state)->calls++;
    return KVP_OK;
}

void kvp__press_rng_reset(kvp_press *p) {
    if (p->state) ((call_counter *)p->state)->calls = 0;
}
