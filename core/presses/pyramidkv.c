/* PyramidKVPress: SnapKV's score with a per-layer budget that shrinks linearly from the first
 * layer to the last (arXiv 2406.02069; budget formula of the KVCache-Factory code). */
#include <math.h>

#include "press_impl.h"

static kvp_status pyramid_check(const kvp_press *p, const kvp_press_run *run) {
    return kvp__snapkv_check(run, "pyramidkv", kvp__press_int(p, "window_size"),
                             kvp__press_int(p, "kernel_size"));
}

static kvp_status pyramid_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    return kvp__snapkv_scores(run, kvp__press_int(p, "window_size"),
                              kvp__press_int(p, "kernel_size"), out);
}

/* PRESSES.md 2.7, in double with half-to-even rounding (rint in the default mode). */
static int64_t pyramid_budget(const kvp_press *p, const kvp_press_run *run) {
    double n = (double)run->n, r = run->ratio, w = (double)kvp__press_int(p, "window_size");
    double beta = kvp__press_param(p, "beta");
    int L = run->cache->opt.n_layers;
    double cap = w + n * (1 - r);
    double lo = (cap - w) / beta;
    double hi = 2 * (cap - w) - lo;
    if (hi >= n - w) {
        hi = n - w;
        lo = 2 * (cap - w) - hi;
    }
    double keep;
    /* With one layer there is no pyramid (kvpress would divide by zero): use the average. */
    if (!(n >= hi && hi >= lo && lo >= w) || L < 2)
        keep = rint(n * (1 - r));
    else
        keep = rint(hi - run->layer * ((hi - lo) / (L - 1)));
    if (keep < 0) keep = 0;
    if (keep > n) keep = n;
    return (int64_t)keep;
}

static const kvp_param_info pyramid_params[] = {
    KVP_PARAM_RATIO,
    {"window_size", KVP_PARAM_INT, 64, 1, 1e9, 0, "observation window: the last prompt tokens"},
    {"kernel_size", KVP_PARAM_INT, 5, 1, 1e9, 0, "width of the average pooling (odd)"},
    {"beta", KVP_PARAM_FLOAT, 20, 1, 1e9, 0, "ratio of the largest to the smallest layer budget"},
};

const kvp_press_vtable kvp_press_pyramidkv = {
    .info = {.name = "pyramidkv",
             .summary = "SnapKV with budgets decreasing over the layers",
             .paper = "arXiv:2406.02069",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(pyramid_params),
             .params = pyramid_params},
    .check = pyramid_check,
    .score = pyramid_score,
    .budget = pyramid_budget,
};
