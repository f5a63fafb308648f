/* LUKVPress (kvpress lukv_press.py; LU-KV, arXiv 2602.08585): per-(layer, kv head) budgets
 * read from a pre-computed budget curve, around the inner press's scores (default
 * expected_attention(epsilon=0.02)); the first `sink` and last `window` tokens are protected.
 * kvpress masks the evicted entries; here they are removed (a ragged layer, as adakv).
 *
 * Artefact (kvp_press_set_artefact; tools/artefacts/convert_lukv.py converts the published
 * .npy): tensor "prune_ratios", F32/F16/BF16 [99, n_layers, n_kv_heads]: row x holds the prune
 * ratio of every layer and kv head for a global compression ratio of (x + 1) %. The curve is
 * specific to a model and a scorer (the published one: Llama-3.1-8B-Instruct with
 * ExpectedAttention(epsilon=0.02), sink 4, window 1).
 *
 * Budgets (PRESSES.md 2.32): row x = clamp(round(100 r) - 1, 0, 98) (round half to even);
 * keep rates k_j = clamp(1 - rho[x, layer, j], 0, 1), ideal counts u_j = k_j n (f32);
 * total T = round(sum u_j) clamped to [Hk, Hk n]; c_j = floor(u_j), and the T - sum c_j heads
 * with the largest fractional parts get one more; c_j is clamped to [1, n]. Head j keeps its
 * c_j best tokens (ties to the earlier token, kvpress's stable sort). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

#define LUKV_ROWS 99

static kvp_status lukv_init(kvp_press *p) {
    kvp_press *ea;
    KVP_TRY(kvp_press_parse("expected_attention(epsilon=0.02)", &ea));
    kvp_status st = kvp_press_set_press(p, "press", ea);
    if (st != KVP_OK) kvp_press_destroy(ea);
    return st;
}

static kvp_status lukv_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    kvp_tensor t;
    kvp_status st = kvp_artefact_get(a, "prune_ratios", &t);
    if (st != KVP_OK)
        return kvp__error_tls(st, "lukv: the artefact needs a tensor 'prune_ratios' [99, n_layers, "
                                  "n_kv_heads] (%s)",
                              kvp_last_error());
    if (t.ndim != 3 || t.shape[0] != LUKV_ROWS || t.shape[1] < 1 || t.shape[2] < 1)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "lukv: 'prune_ratios' must be [99, n_layers, n_kv_heads], got %d "
                              "dimensions [%lld, %lld, %lld]",
                              t.ndim, (long long)t.shape[0], (long long)t.shape[1],
                              (long long)t.shape[2]);
    size_t count = (size_t)kvp__tensor_count(&t);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(kvp__load(t.dtype, t.data, i)))
            return kvp__error_tls(KVP_ERR_INVALID_ARG, "lukv: 'prune_ratios' holds NaN or Inf");
    return KVP_OK;
}

static kvp_status lukv_check(const kvp_press *p, const kvp_press_run *run) {
    kvp_tensor t;
    if (kvp_artefact_get(p->artefact, "prune_ratios", &t) != KVP_OK)
        return kvp__error(run->ctx, KVP_ERR_INTERNAL, "lukv: artefact tensor vanished");
    if (t.shape[1] != run->cache->opt.n_layers || t.shape[2] != run->Hk)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "lukv: the budget curve is for %lld layers x %lld kv heads, the cache has "
                          "%d x %d (a curve is specific to a model)",
                          (long long)t.shape[1], (long long)t.shape[2], run->cache->opt.n_layers,
                          run->Hk);
    return KVP_OK;
}

/* Tokens kept per head (c_j above); returns 1 when every head keeps all n. */
static int head_budgets(const kvp_press *p, const kvp_press_run *run, int32_t *keep) {
    kvp_tensor t;
    kvp_artefact_get(p->artefact, "prune_ratios", &t);
    int Hk = run->Hk;
    int64_t n = run->n;
    long row = (long)nearbyint(run->ratio * 100.0) - 1;
    row = row < 0 ? 0 : row > LUKV_ROWS - 1 ? LUKV_ROWS - 1 : row;
    size_t base = ((size_t)row * (size_t)t.shape[1] + (size_t)run->layer) * (size_t)Hk;
    float *ideal = malloc(sizeof(float) * 2 * (size_t)Hk);
    if (!ideal) return -1;
    float *frac = ideal + Hk, total = 0;
    int64_t sum = 0;
    for (int j = 0; j < Hk; j++) {
        float rate = 1.0f - kvp__load(t.dtype, t.data, base + (size_t)j);
        rate = rate < 0 ? 0 : rate > 1 ? 1 : rate;
        ideal[j] = rate * (float)n;
        total += ideal[j];
        keep[j] = (int32_t)floorf(ideal[j]);
        frac[j] = ideal[j] - floorf(ideal[j]);
        sum += keep[j];
    }
    int64_t target = (int64_t)nearbyintf(total);
    if (target < Hk) target = Hk;
    if (target > (int64_t)Hk * n) target = (int64_t)Hk * n;
    /* the largest remainders get one more token (ties to the lower head) */
    for (int64_t extra = target - sum < Hk ? target - sum : Hk; extra > 0; extra--) {
        int best = -1;
        for (int j = 0; j < Hk; j++)
            if (frac[j] >= 0 && (best < 0 || frac[j] > frac[best])) best = j;
        keep[best]++;
        frac[best] = -1; /* taken */
    }
    free(ideal);
    int all = 1;
    for (int j = 0; j < Hk; j++) {
        keep[j] = keep[j] < 1 ? 1 : keep[j] > n ? (int32_t)n : keep[j];
        all &= keep[j] == n;
    }
    return all;
}

static kvp_status lukv_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    int32_t *keep = kvp__malloc(ctx, sizeof(int32_t) * (size_t)run->Hk);
    if (!keep) return KVP_ERR_OUT_OF_HOST_MEMORY;
    int all = head_budgets(p, run, keep);
    kvp_buffer *scores = NULL, *mask = NULL;
    kvp_status st = all < 0 ? kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "lukv: out of memory") : KVP_OK;
    if (st == KVP_OK && !all) st = kvp__checked_scores(p->inner, run, &scores);
    if (st == KVP_OK && !all) {
        /* protected tokens: max(S) + 1 (PRESSES.md B3); the order they get is the same as
         * kvpress's max over the whole tensor + 1 */
        int64_t sink = kvp__press_int(p, "sink"), window = kvp__press_int(p, "window");
        int64_t lo = sink < run->n ? sink : run->n, hi = window > 0 ? run->n - window : run->n;
        if (hi < 0) hi = 0;
        if (lo < hi)
            st = kvp__pad(run, scores, run->Hk, lo, hi);
        else /* everything protected: equal scores, the earlier tokens win */
            st = kvp__score_map(run, scores, run->Hk, 0.0f, 1.0f, NULL);
    }
    if (st == KVP_OK && !all) st = kvp__mask_alloc(run, run->Hk, &mask);
    if (st == KVP_OK && !all) st = kvp__topk_rows(run, scores, keep, mask);
    free(keep);
    if (st != KVP_OK || all) return st;
    return kvp__cache_compact(ctx, run->cache, run->layer, mask, run->n);
}

static const kvp_param_info lukv_params[] = {
    {"press", KVP_PARAM_PRESS, 0, 0, 0, 0,
     "the scorer press to wrap (default expected_attention(epsilon=0.02))"},
    KVP_PARAM_RATIO,
    {"sink", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens protected from eviction"},
    {"window", KVP_PARAM_INT, 1, 0, 1e9, 0, "most recent tokens protected from eviction"},
};

const kvp_press_vtable kvp_press_lukv = {
    .info = {.name = "lukv",
             .summary = "per-head budgets from a pre-computed LU-KV curve (ragged)",
             .paper = "arXiv:2602.08585",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_ARTEFACT,
             .n_params = KVP_COUNT(lukv_params),
             .params = lukv_params},
    .check = lukv_check,
    .compress = lukv_compress,
    .check_artefact = lukv_check_artefact,
    .init = lukv_init,
};
