/* CriticalAdaKVPress (kvpress criticalkv_press.py, arXiv 2502.03805): AdaKV's layer-wide
 * budgets with CriticalKV's two stages inside each head (PRESSES.md 2.31):
 *  1. S = inner score; every head's floor(m * alpha_safeguard) best become MAX (the largest
 *     f32), m = n_keep(n, r);
 *  2. head budgets: beta_j = how many of the layer's Hk * m best entries are in head j;
 *  3. stage 1: each head's int(beta_j * first_stage_ratio) best become MAX;
 *  4. stage 2: S = (S + epsilon) * ||v W_o||_1 (MAX entries may overflow to +inf), and each
 *     head's beta_j best become MAX;
 *  5. the layer keeps its Hk * m best: head j keeps beta_j tokens.
 * kvpress masks the others; here they are evicted (a ragged layer, as adakv).
 * kvpress sums the head budgets over the batch; the cache holds one sequence. Unlike kvpress
 * (quirk 11), the inner press gets its artefact like any other. */
#include <float.h>
#include <stdlib.h>

#include "press_impl.h"

static kvp_status fill_max(const kvp_press_run *run, kvp_buffer *scores, kvp_buffer *mask) {
    kvp_p_masked_fill mf = {.H = run->Hk, .n = (int)run->n, .value = FLT_MAX};
    return KVP_RUN(run->ctx, MASKED_FILL, &mf, KVP_B(scores), KVP_B(mask));
}

static kvp_status critical_adakv_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    int Hk = run->Hk;
    kvp_buffer *scores, *mask, *counts, *vnorm;
    KVP_TRY(kvp__checked_scores(p->inner, run, &scores));
    int64_t m = kvp__press_keep(p, run);
    if (m >= run->n) return KVP_OK;
    int64_t safe = (int64_t)((double)m * kvp__press_param(p, "alpha_safeguard"));
    KVP_TRY(kvp__mask_alloc(run, Hk, &mask));
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * (size_t)Hk, &counts));
    KVP_TRY(kvp__projected_vnorm(run, &vnorm));
    if (safe > 0) {
        KVP_TRY(kvp__topk(run, scores, safe, 0, mask));
        KVP_TRY(fill_max(run, scores, mask));
    }
    /* head budgets from the layer-wide top Hk * m */
    KVP_TRY(kvp__topk(run, scores, (int64_t)Hk * m, 1, mask));
    kvp_p_mask_count mc = {.H = Hk, .n = (int)run->n};
    KVP_TRY(KVP_RUN(ctx, MASK_COUNT, &mc, KVP_B(mask), KVP_B(counts)));
    int32_t *beta = kvp__malloc(ctx, sizeof(int32_t) * 2 * (size_t)Hk);
    if (!beta) return KVP_ERR_OUT_OF_HOST_MEMORY;
    int32_t *stage1 = beta + Hk;
    kvp_status st = kvp__download(ctx, counts, 0, beta, sizeof(int32_t) * (size_t)Hk);
    /* kvpress: (int64 tensor * python float) is an f32 product, truncated */
    float phi = (float)kvp__press_param(p, "first_stage_ratio");
    for (int j = 0; j < Hk; j++) stage1[j] = (int32_t)((float)beta[j] * phi);
    if (st == KVP_OK) st = kvp__topk_rows(run, scores, stage1, mask);
    if (st == KVP_OK) st = fill_max(run, scores, mask);
    if (st == KVP_OK)
        st = kvp__score_map(run, scores, Hk, 1.0f, (float)kvp__press_param(p, "epsilon"), vnorm);
    if (st == KVP_OK) st = kvp__topk_rows(run, scores, beta, mask);
    if (st == KVP_OK) st = fill_max(run, scores, mask);
    free(beta);
    KVP_TRY(st);
    KVP_TRY(kvp__topk(run, scores, (int64_t)Hk * m, 1, mask));
    return kvp__cache_compact(ctx, run->cache, run->layer, mask, run->n);
}

static const kvp_param_info critical_adakv_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"alpha_safeguard", KVP_PARAM_FLOAT, 0.2, 0, 1, 0,
     "fraction of the per-head budget every head keeps at least"},
    {"epsilon", KVP_PARAM_FLOAT, 1e-4, 0, 1e30, 0, "added to the inner score before re-weighting"},
    {"first_stage_ratio", KVP_PARAM_FLOAT, 0.5, 0, 1, 0,
     "fraction of each head's budget chosen by the inner score alone"},
};

const kvp_press_vtable kvp_press_critical_adakv = {
    .info = {.name = "critical_adakv",
             .summary = "AdaKV head budgets with CriticalKV's W_o-weighted second stage",
             .paper = "arXiv:2502.03805",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_WO,
             .n_params = KVP_COUNT(critical_adakv_params),
             .params = critical_adakv_params},
    .check = kvp__critical_check,
    .compress = critical_adakv_compress,
};
