/* QFilterPress (Q-Filters, arXiv 2503.02812): learned filters f, one per layer and kv head, in
 * the post-RoPE key space; S_{j,t} = -<f_{l,j}, k_{j,t}>: keys with a large projection on the
 * filter are evicted (kvpress's sign).
 *
 * Artefact (kvp_press_set_artefact): the tensor
 *     q_filters  [n_layers, n_kv_heads, head_dim]   F32, F16 or BF16
 * exactly as in the published nthngdy/<model>_qfilt files (model.safetensors);
 * tools/artefacts/convert_qfilter.py checks one and adds our metadata. */
#include "press_impl.h"

static kvp_status qfilter_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    kvp_tensor t;
    if (kvp_artefact_get(a, "q_filters", &t) != KVP_OK)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "qfilter: the artefact has no readable tensor 'q_filters' "
                              "[n_layers, n_kv_heads, head_dim]");
    if (t.ndim != 3)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "qfilter: 'q_filters' has %d dimensions, expected 3 "
                              "[n_layers, n_kv_heads, head_dim]",
                              t.ndim);
    return KVP_OK;
}

static kvp_status qfilter_check(const kvp_press *p, const kvp_press_run *run) {
    kvp_tensor t;
    KVP_TRY(kvp_artefact_get(p->artefact, "q_filters", &t));
    if (run->layer >= t.shape[0] || t.shape[1] != run->Hk || t.shape[2] != run->d)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "qfilter: the artefact's q_filters [%lld, %lld, %lld] does not fit layer "
                          "%d of a cache with %d kv heads of head_dim %d",
                          (long long)t.shape[0], (long long)t.shape[1], (long long)t.shape[2],
                          run->layer, run->Hk, run->d);
    return KVP_OK;
}

static kvp_status qfilter_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    kvp_tensor t;
    KVP_TRY(kvp_artefact_get(p->artefact, "q_filters", &t));
    size_t per_layer = (size_t)run->Hk * (size_t)run->d;
    const unsigned char *base = t.data;
    kvp_buffer *f;
    KVP_TRY(kvp__upload_f32(run, t.dtype, base + (size_t)run->layer * per_layer * kvp_dtype_size(t.dtype),
                            per_layer, &f));
    /* -<f_j, k> is EA_LOGITS with one "query head" per kv head, the filter as its mean, no
     * covariance and a scale of -1. */
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_ea_logits el = {.Hq = run->Hk, .Hk = run->Hk, .d = run->d, .n = (int)run->n, .t0 = 0,
                          .k_dtype = (int)run->cache->opt.dtype, .use_cov = 0,
                          .inv_sqrt_d = -1.0f, .inv_2d = 0.0f};
    return KVP_RUN(run->ctx, EA_LOGITS, &el, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                   KVP_B(f), KVP_B(f), KVP_B(*out));
}

static const kvp_param_info qfilter_params[] = {KVP_PARAM_RATIO};

const kvp_press_vtable kvp_press_qfilter = {
    .info = {.name = "qfilter",
             .summary = "learned per-head filters: evict keys projecting strongly on them",
             .paper = "arXiv:2503.02812",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ARTEFACT,
             .n_params = KVP_COUNT(qfilter_params),
             .params = qfilter_params},
    .check = qfilter_check,
    .score = qfilter_score,
    .check_artefact = qfilter_check_artefact,
};
