/* AdaKVPress (arXiv 2407.11550): a layer-wide top-k over the inner scores of all kv heads, so
 * each head keeps its own number of tokens, with a safeguard of alpha_safeguard * m tokens per
 * head. Unlike kvpress, which masks, the evicted entries are removed: the layer becomes ragged
 * (kvp_cache_repack then gives the memory back). */
#include <float.h>

#include "press_impl.h"

static kvp_status adakv_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    kvp_buffer *scores, *mask;
    KVP_TRY(kvp__press_score(p->inner, run, &scores));
    if (ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, scores, 0, 2, run->Hk, run->n, 1);
        KVP_TRY(kvp__tensor_check_finite(ctx, &t, "the press scores"));
    }
    int64_t m = kvp__press_keep(p, run);
    if (m >= run->n) return KVP_OK;
    int64_t safe = (int64_t)((double)m * kvp__press_param(p, "alpha_safeguard"));
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    if (safe > 0) {
        KVP_TRY(kvp__topk(run, scores, safe, 0, mask));
        kvp_p_masked_fill mf = {.H = run->Hk, .n = (int)run->n, .value = FLT_MAX};
        KVP_TRY(KVP_RUN(ctx, MASKED_FILL, &mf, KVP_B(scores), KVP_B(mask)));
    }
    /* Keeping the Hk*m best of the layer = evicting its Hk*(n - m) worst. */
    KVP_TRY(kvp__topk(run, scores, (int64_t)run->Hk * m, 1, mask));
    return kvp__cache_compact(ctx, run->cache, run->layer, mask, run->n);
}

static const kvp_param_info adakv_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"alpha_safeguard", KVP_PARAM_FLOAT, 0.2, 0, 1, 0,
     "fraction of the per-head budget every head keeps at least"},
};

const kvp_press_vtable kvp_press_adakv = {
    .info = {.name = "adakv",
             .summary = "layer-wide top-k across heads: ragged per-head budgets",
             .paper = "arXiv:2407.11550",
             .kind = KVP_PRESS_HEADWISE,
             .n_params = KVP_COUNT(adakv_params),
             .params = adakv_params},
    .compress = adakv_compress,
};
