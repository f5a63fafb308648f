/* StreamingLLMPress: keep the first n_sink tokens and the most recent ones
 * (arXiv 2309.17453). The score is 1 everywhere except 0 on [n_sink, n_sink + n_pruned). */
#include <stdlib.h>

#include "press_impl.h"

static kvp_status streaming_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t n_sink = kvp__press_int(p, "n_sink");
    return kvp__need(run, "streaming_llm", run->n > n_sink,
                     "needs more tokens than n_sink");
}

static kvp_status streaming_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    int64_t n_sink = kvp__press_int(p, "n_sink");
    int64_t pruned = run->n - kvp__press_keep(p, run);
    size_t count = (size_t)run->Hk * (size_t)run->n;
    float *host = kvp__malloc(run->ctx, count * sizeof(float));
    if (!host) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int j = 0; j < run->Hk; j++)
        for (int64_t t = 0; t < run->n; t++)
            host[(size_t)j * (size_t)run->n + (size_t)t] =
                (t >= n_sink && t < n_sink + pruned) ? 0.0f : 1.0f;
    kvp_status st = kvp__scores_from_host(run, host, out);
    free(host);
    return st;
}

static const kvp_param_info streaming_params[] = {
    KVP_PARAM_RATIO,
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens always kept (attention sinks)"},
};

const kvp_press_vtable kvp_press_streaming_llm = {
    .info = {.name = "streaming_llm",
             .summary = "keep the sink tokens and a recent window",
             .paper = "arXiv:2309.17453",
             .kind = KVP_PRESS_SCORER,
             .n_params = KVP_COUNT(streaming_params),
             .params = streaming_params},
    .check = streaming_check,
    .score = streaming_score,
};
