/* SnapKVPress: the attention the last `window_size` prompt tokens pay to each earlier token,
 * averaged over the window, smoothed by average pooling (arXiv 2404.14469). The window itself
 * is always kept. */
#include "press_impl.h"

kvp_status kvp__snapkv_check(const kvp_press_run *run, const char *name, int64_t w,
                             int64_t kernel) {
    KVP_TRY(kvp__need(run, name, kernel % 2 == 1, "kernel_size must be odd"));
    KVP_TRY(kvp__need(run, name, run->n > w,
                      "needs more tokens than window_size"));
    const kvp_inputs *in = run->in;
    if (in->attention.set)
        return kvp__need(run, name, in->attention.t.shape[1] >= w,
                         "the attention probabilities have fewer rows than window_size");
    return kvp__need(run, name, in->queries.t.shape[1] >= w,
                     "fewer queries than window_size were given");
}

kvp_status kvp__snapkv_scores(const kvp_press_run *run, int64_t w, int64_t kernel,
                              kvp_buffer **out) {
    int Hq;
    kvp_buffer *colsum, *pooled;
    KVP_TRY(kvp__window_colsum(run, w, KVP_COLSUM_WINDOW, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, Hq, &pooled));
    kvp_p_pool1d pp = {.H = Hq, .n = (int)run->n, .len = (int)(run->n - w), .k = (int)kernel};
    KVP_TRY(KVP_RUN(run->ctx, POOL1D, &pp, KVP_B(colsum), KVP_B(pooled)));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n,
                            .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(run->ctx, HEAD_REDUCE, &hr, KVP_B(pooled), KVP_B(*out)));
    return kvp__pad(run, *out, run->Hk, 0, run->n - w);
}

static kvp_status snapkv_check(const kvp_press *p, const kvp_press_run *run) {
    return kvp__snapkv_check(run, "snapkv", kvp__press_int(p, "window_size"),
                             kvp__press_int(p, "kernel_size"));
}

static kvp_status snapkv_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    return kvp__snapkv_scores(run, kvp__press_int(p, "window_size"),
                              kvp__press_int(p, "kernel_size"), out);
}

static const kvp_param_info snapkv_params[] = {
    KVP_PARAM_RATIO,
    {"window_size", KVP_PARAM_INT, 64, 1, 1e9, 0, "observation window: the last prompt tokens"},
    {"kernel_size", KVP_PARAM_INT, 5, 1, 1e9, 0, "width of the average pooling (odd)"},
};

const kvp_press_vtable kvp_press_snapkv = {
    .info = {.name = "snapkv",
             .summary = "attention from the last window of queries, pooled",
             .paper = "arXiv:2404.14469",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(snapkv_params),
             .params = snapkv_params},
    .check = snapkv_check,
    .score = snapkv_score,
};
