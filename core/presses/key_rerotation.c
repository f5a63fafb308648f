/* KeyRerotationPress (kvpress key_rerotation_press.py): the inner press's selection, then the
 * kept keys are re-rotated so that the u-th kept token (in position order) carries RoPE
 * position u, as SinkCache and FINCH do (PRESSES.md 2.39). The layer then accepts appends from
 * position n_kept on: a caller places the next tokens right after the compressed cache.
 *
 * kvpress computes the deltas from cache indices, which equal positions after a prefill; here
 * they come from the stored positions, so a layer compressed before also re-rotates right. */
#include "press_impl.h"

static kvp_status rerotation_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    kvp_buffer *scores, *mask, *freq;
    KVP_TRY(kvp__press_score(p->inner, run, &scores));
    if (ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, scores, 0, 2, run->Hk, run->n, 1);
        KVP_TRY(kvp__tensor_check_finite(ctx, &t, "the press scores"));
    }
    int64_t m = kvp__press_keep(p, run);
    if (m >= run->n) return KVP_OK; /* nothing evicted: every delta is 0 */
    /* everything that allocates comes before the first change of the cache */
    KVP_TRY(kvp__rope_freq_buffer(ctx, run->in, &freq));
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    KVP_TRY(kvp__topk(run, scores, m, 0, mask));
    KVP_TRY(kvp__cache_compact(ctx, run->cache, run->layer, mask, run->n));
    return kvp__cache_rerotate(ctx, run->cache, run->layer, run->in->rope.layout, freq, 0);
}

static const kvp_param_info rerotation_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
};

const kvp_press_vtable kvp_press_key_rerotation = {
    .info = {.name = "key_rerotation",
             .summary = "the inner selection, kept keys re-rotated to contiguous positions",
             .paper = "kvpress KeyRerotationPress (SinkCache, FINCH)",
             .kind = KVP_PRESS_WRAPPER,
             .needs = KVP_NEED_ROPE,
             .n_params = KVP_COUNT(rerotation_params),
             .params = rerotation_params},
    .compress = rerotation_compress,
};
