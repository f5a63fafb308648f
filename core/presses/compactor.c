/* CompactorPress (arXiv 2507.08143; PRESSES.md 2.19): blends the leverage z-scores of the
 * pre-RoPE keys (leverage_score.c) and the non-causal chunked attention z-scores
 * (non_causal_attn.c), both computed on the tokens between the protected ones:
 *   s = blending * z_lev + z_att on [left, n - right), left = min(sink_size_start, n),
 *   right = min(sink_size_end, n - left); blending defaults to the compression ratio.
 * The protected tokens are padded with max(s) without + 1 (kvpress): they tie with the best
 * inner token, and ties go to the lower position, so the left sinks always stay while the
 * right ones may lose to an equal inner score. Prefill only. */
#include "press_impl.h"

static void ranges(const kvp_press *p, int64_t n, int64_t *left, int64_t *right) {
    int64_t s0 = kvp__press_int(p, "sink_size_start"), s1 = kvp__press_int(p, "sink_size_end");
    *left = s0 < n ? s0 : n;
    *right = s1 < n - *left ? s1 : n - *left;
}

static kvp_status compactor_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t left, right;
    ranges(p, run->n, &left, &right);
    KVP_TRY(kvp__need(run, "compactor", run->n - left - right > 0,
                      "needs more tokens than sink_size_start + sink_size_end"));
    KVP_TRY(kvp__leverage_check(run, "compactor"));
    return kvp__need_prefill_queries(run, "compactor");
}

static kvp_status compactor_score(const kvp_press *p, const kvp_press_run *run,
                                  kvp_buffer **out) {
    int64_t left, right;
    ranges(p, run->n, &left, &right);
    int64_t lo = left, hi = run->n - right;
    double blending = kvp__press_param(p, "blending");
    if (blending < 0) blending = run->ratio; /* kvpress: blending or compression_ratio */
    uint64_t rng;
    KVP_TRY(kvp__press_rng(p, run, &rng));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    KVP_TRY(kvp__leverage_zscores(run, lo, hi, (int)kvp__press_int(p, "sketch_dimension"), &rng,
                                  (float)blending, 0, *out));
    KVP_TRY(kvp__noncausal_zscores(run, lo, hi, (int)kvp__press_int(p, "chunk_size"), 1, 0, 1.0f,
                                   1, *out));
    if (lo == 0 && hi == run->n) return KVP_OK;
    kvp_p_score_pad_add pad = {.H = run->Hk, .n = (int)run->n, .lo = (int)lo, .hi = (int)hi,
                               .add = 0.0f};
    return KVP_RUN(run->ctx, SCORE_PAD_ADD, &pad, KVP_B(*out));
}

static const kvp_param_info compactor_params[] = {
    KVP_PARAM_RATIO,
    {"sink_size_start", KVP_PARAM_INT, 8, 0, 1e9, 0, "initial tokens always protected"},
    {"sink_size_end", KVP_PARAM_INT, 4, 0, 1e9, 0, "most recent tokens always protected"},
    {"chunk_size", KVP_PARAM_INT, 256, 1, 1e9, 0, "tokens per non-causal attention chunk"},
    {"sketch_dimension", KVP_PARAM_INT, 48, 1, 4096, 0, "columns of the Gaussian sketch"},
    {"blending", KVP_PARAM_FLOAT, -1, 0, 1e30, 0,
     "weight of the leverage z-scores; -1 (default) uses the compression ratio"},
    {"seed", KVP_PARAM_INT, -1, -1, 9007199254740992.0, 0,
     "seed of the sketch; -1: one sequence across calls (a fresh sketch per call)"},
};

const kvp_press_vtable kvp_press_compactor = {
    .info = {.name = "compactor",
             .summary = "blend of key leverage and non-causal chunked attention (z-scores)",
             .paper = "arXiv:2507.08143",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_QUERIES | KVP_NEED_ROPE,
             .n_params = KVP_COUNT(compactor_params),
             .params = compactor_params},
    .check = compactor_check,
    .score = compactor_score,
    .reset = kvp__press_rng_reset,
};
