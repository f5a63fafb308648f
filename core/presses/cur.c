/* CURPress (CurDKV, arXiv 2509.15038; PRESSES.md 2.16): CUR-style leverage of each token from
 * the squared norms of its key and value, normalised inside local windows, combined
 * (leverage_type) and normalised over the head; the num_sinks first tokens score 1.
 * With use_random_leverage, keys and values are first projected on a d x 20 Gaussian matrix
 * G / sqrt(20), drawn at every call (ours: rng.c, `seed` as RandomPress; kvpress draws from
 * torch's generator, and its bf16 caches cannot even multiply by the f32 G). A window or head
 * whose sum is 0 scores 0 where kvpress divides 0 by 0. One op: CUR_SCORE. */
#include <math.h>
#include <stdlib.h>

#include "press_impl.h"

#define CUR_RANK 20 /* kvpress's fixed rank of the random projection */

static kvp_status cur_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    int random = (int)kvp__press_int(p, "use_random_leverage");
    kvp_buffer *proj = NULL;
    if (random) {
        uint64_t s;
        KVP_TRY(kvp__press_rng(p, run, &s));
        size_t count = (size_t)run->d * CUR_RANK;
        float *g = kvp__malloc(run->ctx, count * sizeof(float));
        if (!g) return KVP_ERR_OUT_OF_HOST_MEMORY;
        kvp__normal_fill(&s, g, count);
        float div = sqrtf((float)CUR_RANK); /* randn(d, r) / sqrt(r), in f32 */
        for (size_t i = 0; i < count; i++) g[i] /= div;
        kvp_status st = kvp__scratch(run->ctx, count * sizeof(float), &proj);
        if (st == KVP_OK) st = kvp__upload(run->ctx, proj, 0, g, count * sizeof(float));
        free(g);
        KVP_TRY(st);
    }
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_cur_score c = {.Hk = run->Hk,
                         .d = run->d,
                         .n = (int)run->n,
                         .dtype = (int)run->cache->opt.dtype,
                         .r = random ? CUR_RANK : 0,
                         .window = kvp__press_int(p, "use_local_approximation")
                                       ? (int)kvp__press_int(p, "local_window_size")
                                       : 0,
                         .mode = (int)kvp__press_int(p, "leverage_type"),
                         .n_sinks = (int)(kvp__press_int(p, "num_sinks") < run->n
                                              ? kvp__press_int(p, "num_sinks")
                                              : run->n)};
    return KVP_RUN(run->ctx, CUR_SCORE, &c, KVP_BO(L->keys, L->keys_offset),
                   KVP_BO(L->values, L->values_offset), KVP_B(L->meta), KVP_B(proj ? proj : *out),
                   KVP_B(*out));
}

static const kvp_param_info cur_params[] = {
    KVP_PARAM_RATIO,
    {"num_sinks", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens always kept (score 1)"},
    {"leverage_type", KVP_PARAM_CHOICE, 3, 0, 3, 0,
     "how key and value leverages combine: key, value, kv_avg or kv_product"},
    {"use_random_leverage", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "project keys and values on a random Gaussian d x 20 matrix first"},
    {"use_local_approximation", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "normalise the squared norms inside windows of local_window_size tokens"},
    {"local_window_size", KVP_PARAM_INT, 16, 1, 1e9, 0, "tokens per normalisation window"},
    {"seed", KVP_PARAM_INT, -1, -1, 9007199254740992.0, 0,
     "seed of the random projection; -1: one sequence across calls"},
};

const kvp_press_vtable kvp_press_cur = {
    .info = {.name = "cur",
             .summary = "CUR leverage from windowed key and value norms",
             .paper = "arXiv:2509.15038",
             .kind = KVP_PRESS_SCORER,
             .n_params = KVP_COUNT(cur_params),
             .params = cur_params},
    .score = cur_score,
    .reset = kvp__press_rng_reset,
    .choices = {[2] = "key|value|kv_avg|kv_product"},
};
