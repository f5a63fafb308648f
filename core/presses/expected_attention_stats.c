/* ExpectedAttentionStatsPress: Expected Attention (expected_attention.c) with the query mean
 * and covariance computed offline on a calibration set instead of from the prompt's queries
 * (PRESSES.md 2.11). The averaged RoPE still starts at the layer's next position (the prompt
 * length after a prefill, as kvpress's q_len).
 *
 * Artefact (kvp_press_set_artefact), the layout of the published
 * alessiodevoto/exp_att_stats_<model>_<dataset>_<num_samples>_<sample_seq_len>_<n_sink> files:
 *     query_mean  [n_layers, n_heads, head_dim]             F32, F16 or BF16
 *     query_cov   [n_layers, n_heads, head_dim, head_dim]   (kvpress builds it with N - 1)
 * tools/artefacts/convert_expected_attention_stats.py checks a published folder and records
 * num_samples, sample_seq_len and n_sink in the metadata; when present they must equal the
 * press's parameters (the statistics left out the first n_sink tokens of every sample). */
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

static kvp_status stats_tensors(const kvp_artefact *a, kvp_tensor *mean, kvp_tensor *cov) {
    if (kvp_artefact_get(a, "query_mean", mean) != KVP_OK ||
        kvp_artefact_get(a, "query_cov", cov) != KVP_OK)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "expected_attention_stats: the artefact needs readable tensors "
                              "'query_mean' [n_layers, n_heads, head_dim] and 'query_cov' "
                              "[n_layers, n_heads, head_dim, head_dim]");
    if (mean->ndim != 3 || cov->ndim != 4 || cov->shape[0] != mean->shape[0] ||
        cov->shape[1] != mean->shape[1] || cov->shape[2] != mean->shape[2] ||
        cov->shape[3] != mean->shape[2])
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "expected_attention_stats: query_mean and query_cov shapes do not "
                              "match ([L, H, d] and [L, H, d, d])");
    return KVP_OK;
}

static kvp_status stats_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    kvp_tensor mean, cov;
    return stats_tensors(a, &mean, &cov);
}

static kvp_status stats_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t n_sink = kvp__press_int(p, "n_sink");
    KVP_TRY(kvp__need(run, "expected_attention_stats", run->n > n_sink,
                      "needs more tokens than n_sink"));
    kvp_tensor mean, cov;
    if (stats_tensors(p->artefact, &mean, &cov) != KVP_OK) {
        kvp__error_tls_to_ctx(run->ctx);
        return KVP_ERR_INVALID_ARG;
    }
    if (run->layer >= mean.shape[0] || mean.shape[2] != run->d || mean.shape[1] < run->Hk ||
        mean.shape[1] % run->Hk)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "expected_attention_stats: statistics [%lld, %lld, %lld] do not fit layer "
                          "%d of a cache with %d kv heads of head_dim %d",
                          (long long)mean.shape[0], (long long)mean.shape[1],
                          (long long)mean.shape[2], run->layer, run->Hk, run->d);
    static const char *const keys[] = {"n_sink", "num_samples", "sample_seq_len"};
    for (int k = 0; k < 3; k++) {
        const char *v = kvp_artefact_metadata(p->artefact, keys[k]);
        if (v && strtoll(v, NULL, 10) != kvp__press_int(p, keys[k]))
            return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                              "expected_attention_stats: the statistics were computed with %s = %s, "
                              "the press has %lld",
                              keys[k], v, (long long)kvp__press_int(p, keys[k]));
    }
    return KVP_OK;
}

static kvp_status stats_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    kvp_tensor mean, cov;
    KVP_TRY(kvp_artefact_get(p->artefact, "query_mean", &mean));
    KVP_TRY(kvp_artefact_get(p->artefact, "query_cov", &cov));
    int Hq = (int)mean.shape[1];
    size_t hd = (size_t)Hq * (size_t)run->d, hdd = hd * (size_t)run->d;
    kvp_buffer *mb, *cb;
    KVP_TRY(kvp__upload_f32(run, mean.dtype,
                            (const unsigned char *)mean.data +
                                (size_t)run->layer * hd * kvp_dtype_size(mean.dtype),
                            hd, &mb));
    KVP_TRY(kvp__upload_f32(run, cov.dtype,
                            (const unsigned char *)cov.data +
                                (size_t)run->layer * hdd * kvp_dtype_size(cov.dtype),
                            hdd, &cb));
    /* The covariance is used as given: m2 = cov with a count of 1. */
    int64_t p0 = run->cache->layers[run->layer].next_pos;
    return kvp__ea_scores(p, run, Hq, mb, cb, 1.0, p0, out);
}

static const kvp_param_info stats_params[] = {
    KVP_PARAM_RATIO,
    {"n_future_positions", KVP_PARAM_INT, 512, 1, 1e9, 0,
     "future positions whose RoPE is averaged"},
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0,
     "initial tokens always kept (and left out of the calibration statistics)"},
    {"use_covariance", KVP_PARAM_BOOL, 1, 0, 1, 0, "include the query covariance term"},
    {"use_vnorm", KVP_PARAM_BOOL, 1, 0, 1, 0, "weight by the value norm: (s + epsilon) ||v||"},
    {"epsilon", KVP_PARAM_FLOAT, 0, 0, 1e30, 0, "added to the scores before the value norm"},
    {"sample_seq_len", KVP_PARAM_INT, 1000, 1, 1e9, 0,
     "characters per calibration sample (checked against the artefact's metadata)"},
    {"num_samples", KVP_PARAM_INT, 100, 1, 1e9, 0,
     "calibration samples (checked against the artefact's metadata)"},
};

const kvp_press_vtable kvp_press_expected_attention_stats = {
    .info = {.name = "expected_attention_stats",
             .summary = "expected attention from offline query statistics (artefact), times ||v||",
             .paper = "arXiv:2510.00636",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ROPE | KVP_NEED_ARTEFACT,
             .n_params = KVP_COUNT(stats_params),
             .params = stats_params},
    .check = stats_check,
    .score = stats_score,
    .check_artefact = stats_check_artefact,
};
