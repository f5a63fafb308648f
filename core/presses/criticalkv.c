/* CriticalKVPress (arXiv 2502.03805): a wrapper that spends the first `first_stage_ratio` of
 * the budget on the inner score, then re-weights the inner score by the L1 norm of each value
 * projected through W_o, which estimates how much the token can change the layer's output. */
#include <float.h>

#include "press_impl.h"

static kvp_status critical_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    kvp_context *ctx = run->ctx;
    KVP_TRY(kvp__press_score(p->inner, run, out));
    /* Stage 1: int((1 - r) * n * phi), in double, in this order. */
    double phi = kvp__press_param(p, "first_stage_ratio");
    int64_t m1 = (int64_t)((1.0 - run->ratio) * (double)run->n * phi);
    kvp_buffer *stage1 = NULL;
    if (m1 > 0) {
        KVP_TRY(kvp__mask_alloc(run, run->Hk, &stage1));
        KVP_TRY(kvp__topk(run, *out, m1 > run->n ? run->n : m1, 0, stage1));
    }
    /* Stage 2: (S + epsilon) * ||v W_o||_1, averaged over the group's query heads. */
    kvp_buffer *vnorm;
    KVP_TRY(kvp__projected_vnorm(run, &vnorm));
    KVP_TRY(kvp__score_map(run, *out, run->Hk, 1.0f, (float)kvp__press_param(p, "epsilon"), vnorm));
    if (!stage1) return KVP_OK;
    kvp_p_masked_fill mf = {.H = run->Hk, .n = (int)run->n, .value = FLT_MAX};
    return KVP_RUN(ctx, MASKED_FILL, &mf, KVP_B(*out), KVP_B(stage1));
}

kvp_status kvp__critical_check(const kvp_press *p, const kvp_press_run *run) {
    const kvp_tensor *wo = &run->in->wo.t;
    return kvp__need(run, p->vt->info.name, wo->shape[1] % run->d == 0 &&
                                                (wo->shape[1] / run->d) % run->Hk == 0,
                     "W_o must have n_heads * head_dim columns");
}

static const kvp_param_info critical_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"epsilon", KVP_PARAM_FLOAT, 1e-4, 0, 1e30, 0, "added to the inner score before re-weighting"},
    {"first_stage_ratio", KVP_PARAM_FLOAT, 0.5, 0, 1, 0,
     "fraction of the budget chosen by the inner score alone"},
};

const kvp_press_vtable kvp_press_criticalkv = {
    .info = {.name = "criticalkv",
             .summary = "inner score re-weighted by the W_o-projected value norm",
             .paper = "arXiv:2502.03805",
             .kind = KVP_PRESS_WRAPPER,
             .needs = KVP_NEED_WO,
             .n_params = KVP_COUNT(critical_params),
             .params = critical_params},
    .check = kvp__critical_check,
    .score = critical_score,
};
