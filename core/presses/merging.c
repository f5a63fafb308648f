/* MergingPress (kvpress merging_press.py; after Token Merging, arXiv 2210.09461, and D2O,
 * arXiv 2406.13035): the inner press's selection, but instead of discarding an evicted token,
 * its value is folded into the kept token of the same head whose key is the most similar
 * (cosine), weighted by the similarity and the relative value norms (PRESSES.md 2.40). Keys
 * are never changed.
 *
 * With merge_fraction < 1 only the evicted tokens whose similarity reaches the (1 - f)
 * quantile of their head merge; the quantile is computed as torch.quantile does (linear
 * interpolation, f32), including its quirk: failing tokens count as -inf, and a quantile
 * interpolated next to -inf is NaN, which disables the head's merges.
 *
 * Ties between equally similar kept keys go to the earlier token (kvpress: the first in its
 * score order). The values are restored if the compaction after the merge fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* torch.quantile(x, q) over `count` values (no NaN), in f32 as torch computes it. */
static float torch_quantile(float *x, int64_t count, float q) {
    qsort(x, (size_t)count, sizeof *x, cmp_float);
    float rank = q * (float)(count - 1);
    int64_t below = (int64_t)rank, above = (int64_t)ceilf(rank);
    float weight = rank - (float)below, lo = x[below], hi = x[above];
    /* torch.lerp: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w) */
    return weight < 0.5f ? lo + weight * (hi - lo) : hi - (hi - lo) * (1.0f - weight);
}

/* The per-head similarity gate of merge_fraction (-inf: every head ungated). */
static kvp_status fraction_gate(const kvp_press *p, const kvp_press_run *run, kvp_buffer *sim,
                                kvp_buffer *target, kvp_buffer *gate) {
    kvp_context *ctx = run->ctx;
    size_t cells = (size_t)run->Hk * (size_t)run->n;
    double f = kvp__press_param(p, "merge_fraction");
    float threshold = (float)kvp__press_param(p, "similarity_threshold");
    float *g = kvp__malloc(ctx, sizeof(float) * (size_t)run->Hk);
    float *s = g ? kvp__malloc(ctx, sizeof(float) * cells) : NULL;
    int32_t *t = s ? kvp__malloc(ctx, sizeof(int32_t) * cells) : NULL;
    float *row = t ? kvp__malloc(ctx, sizeof(float) * (size_t)run->n) : NULL;
    kvp_status st = row ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int j = 0; st == KVP_OK && j < run->Hk; j++) g[j] = -INFINITY;
    int any = 0;
    if (st == KVP_OK && f < 1) {
        st = kvp__download(ctx, sim, 0, s, cells * sizeof(float));
        if (st == KVP_OK) st = kvp__download(ctx, target, 0, t, cells * sizeof(int32_t));
        for (size_t i = 0; st == KVP_OK && i < cells; i++) any |= t[i] >= 0 && s[i] >= threshold;
    }
    /* kvpress gates only when some token of the layer passes the threshold */
    for (int j = 0; st == KVP_OK && any && j < run->Hk; j++) {
        int64_t count = 0;
        for (int64_t e = 0; e < run->n; e++) {
            size_t i = (size_t)j * (size_t)run->n + (size_t)e;
            if (t[i] >= 0) row[count++] = s[i] >= threshold ? s[i] : -INFINITY;
        }
        if (count > 0) g[j] = torch_quantile(row, count, (float)(1.0 - f));
    }
    if (st == KVP_OK) st = kvp__upload(ctx, gate, 0, g, sizeof(float) * (size_t)run->Hk);
    free(g);
    free(s);
    free(t);
    free(row);
    return st;
}

static kvp_status merging_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    kvp_cache_layer *L = &run->cache->layers[run->layer];
    int Hk = run->Hk;
    kvp_buffer *scores, *mask, *sim, *target, *gate;
    KVP_TRY(kvp__checked_scores(p->inner, run, &scores));
    int64_t m = kvp__press_keep(p, run);
    if (m >= run->n) return KVP_OK;
    KVP_TRY(kvp__mask_alloc(run, Hk, &mask));
    KVP_TRY(kvp__topk(run, scores, m, 0, mask));
    if (m > 0) {
        KVP_TRY(kvp__scores_alloc(run, Hk, &sim));
        KVP_TRY(kvp__mask_alloc(run, Hk, &target));
        KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)Hk, &gate));
        kvp_p_merge_match mm = {.Hk = Hk, .d = run->d, .n = (int)run->n,
                                .k_dtype = (int)run->cache->opt.dtype};
        KVP_TRY(KVP_RUN(ctx, MERGE_MATCH, &mm, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                        KVP_B(mask), KVP_B(sim), KVP_B(target)));
        KVP_TRY(fraction_gate(p, run, sim, target, gate));
    }
    kvp_layer_backup backup;
    KVP_TRY(kvp__layer_backup(ctx, run->cache, run->layer, KVP_BACKUP_VALUES, &backup));
    kvp_status st = KVP_OK;
    if (m > 0) {
        kvp_p_merge_values mv = {.Hk = Hk, .d = run->d, .n = (int)run->n,
                                 .v_dtype = (int)run->cache->opt.dtype,
                                 .threshold = (float)kvp__press_param(p, "similarity_threshold")};
        st = KVP_RUN(ctx, MERGE_VALUES, &mv, KVP_BO(L->values, L->values_offset), KVP_B(L->meta),
                     KVP_B(sim), KVP_B(target), KVP_B(gate));
    }
    if (st == KVP_OK) st = kvp__cache_compact(ctx, run->cache, run->layer, mask, run->n);
    if (st != KVP_OK && kvp__layer_restore(ctx, run->cache, run->layer, &backup) != KVP_OK)
        kvp__log(ctx, KVP_LOG_ERROR, "merging: the values could not be restored after a failure");
    kvp__layer_backup_free(&backup);
    return st;
}

static const kvp_param_info merging_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"similarity_threshold", KVP_PARAM_FLOAT, 0.0, 0, 1, 0,
     "least cosine similarity for an evicted token to merge"},
    {"merge_fraction", KVP_PARAM_FLOAT, 1.0, 0, 1, 0,
     "fraction of the evicted tokens (the most similar) that merge, in (0, 1]"},
};

static kvp_status merging_check(const kvp_press *p, const kvp_press_run *run) {
    return kvp__need(run, "merging", kvp__press_param(p, "merge_fraction") > 0,
                     "merge_fraction must be in (0, 1]");
}

const kvp_press_vtable kvp_press_merging = {
    .info = {.name = "merging",
             .summary = "evicted values folded into their most similar kept token",
             .paper = "arXiv:2210.09461, arXiv:2406.13035",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(merging_params),
             .params = merging_params},
    .check = merging_check,
    .compress = merging_compress,
};
