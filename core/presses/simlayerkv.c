/* SimLayerKVPress (arXiv 2410.13846): a "lazy" layer, whose last n_last prompt tokens attend
 * almost only to the initial and the most recent tokens, is reduced to a StreamingLLM cache
 * (the first n_initial and the last n_recent - n_last tokens); other layers keep everything.
 *
 * Laziness (PRESSES.md 2.23): A = the window attention of the last n_last queries (B2),
 * a_t = the mean of A over the query heads and the n_last rows for t < n - n_last, and
 * score = sum of a over the first n_initial entries + sum over the last n_recent entries;
 * the layer is lazy when score > lazy_threshold. Nothing happens when lazy_threshold is 1 or
 * n <= n_initial + n_recent + n_last. The attention runs as ops; the two sums and the decision
 * are O(n) host bookkeeping.
 *
 * kvpress slices with negative indices, and two settings hit Python's `x[-0:]` (the whole
 * sequence): n_recent = 0 sums every entry into the score, and n_recent = n_last keeps every
 * token after the initial ones, which kvpress then holds twice. We reproduce the score and the
 * kept set (as a set: a cache entry exists once per position, so the duplicates are not
 * reproduced; see README). */
#include <stdlib.h>

#include "press_impl.h"

static kvp_status simlayer_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t n_last = kvp__press_int(p, "n_last");
    const kvp_inputs *in = run->in;
    if (in->attention.set)
        return kvp__need(run, "simlayerkv", in->attention.t.shape[1] >= n_last,
                         "the attention probabilities have fewer rows than n_last");
    return kvp__need(run, "simlayerkv", in->queries.t.shape[1] >= n_last,
                     "fewer queries than n_last were given");
}

/* Whether the layer is lazy: the share of the last queries' attention on the initial and
 * recent tokens exceeds the threshold. */
static kvp_status simlayer_is_lazy(const kvp_press *p, const kvp_press_run *run, int *lazy) {
    int64_t n = run->n, n_last = kvp__press_int(p, "n_last");
    int64_t n_recent = kvp__press_int(p, "n_recent"), n_initial = kvp__press_int(p, "n_initial");
    int Hq;
    kvp_buffer *colsum, *mean;
    KVP_TRY(kvp__window_colsum(run, n_last, KVP_COLSUM_SUM, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, &mean));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)n, .mode = KVP_REDUCE_ALL_MEAN};
    KVP_TRY(KVP_RUN(run->ctx, HEAD_REDUCE, &hr, KVP_B(colsum), KVP_B(mean)));
    /* every row of `mean` is the mean over all query heads: read row 0 */
    float *a = kvp__malloc(run->ctx, sizeof(float) * (size_t)n);
    if (!a) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_status st = kvp__download(run->ctx, mean, 0, a, sizeof(float) * (size_t)n);
    if (st == KVP_OK) {
        int64_t len = n - n_last; /* the window's own columns are not part of a */
        /* a[-n_recent:]: the last n_recent entries, or all of them when n_recent is 0 */
        int64_t recent0 = n_recent > 0 && n_recent < len ? len - n_recent : 0;
        double score = 0;
        for (int64_t t = 0; t < n_initial && t < len; t++) score += a[t];
        for (int64_t t = recent0; t < len; t++) score += a[t];
        score /= (double)n_last; /* the column sums added the n_last rows */
        *lazy = score > kvp__press_param(p, "lazy_threshold");
    }
    free(a);
    return st;
}

static kvp_status simlayer_compress(kvp_press *p, const kvp_press_run *run) {
    int64_t n = run->n, n_last = kvp__press_int(p, "n_last");
    int64_t n_recent = kvp__press_int(p, "n_recent"), n_initial = kvp__press_int(p, "n_initial");
    if (kvp__press_param(p, "lazy_threshold") == 1.0 || n <= n_initial + n_recent + n_last)
        return KVP_OK;
    int lazy = 0;
    KVP_TRY(simlayer_is_lazy(p, run, &lazy));
    if (!lazy) return KVP_OK;
    /* keys[:, :, -(n_recent - n_last):] starts at n - (n_recent - n_last) when that is
     * negative-indexed, and at n_last - n_recent otherwise (the whole sequence when equal) */
    int64_t recent0 = n_recent > n_last ? n - (n_recent - n_last) : n_last - n_recent;
    size_t count = (size_t)run->Hk * (size_t)n;
    int32_t *keep = kvp__malloc(run->ctx, sizeof(int32_t) * count);
    if (!keep) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int j = 0; j < run->Hk; j++)
        for (int64_t t = 0; t < n; t++)
            keep[(size_t)j * (size_t)n + (size_t)t] = t < n_initial || t >= recent0;
    kvp_status st = kvp__compact_host_mask(run, keep);
    free(keep);
    return st;
}

static const kvp_param_info simlayer_params[] = {
    {"lazy_threshold", KVP_PARAM_FLOAT, 1.0, 0, 1, 0,
     "a layer is lazy when its last tokens pay more than this share of attention to the "
     "initial and recent tokens (1: never; Llama-3 0.9, Llama-2 0.65, Mistral 0.8, Qwen 0.85)"},
    {"n_last", KVP_PARAM_INT, 1, 1, 1e9, 0, "last prompt tokens whose attention is measured"},
    {"n_recent", KVP_PARAM_INT, 1024, 0, 1e9, 0, "recent tokens a lazy layer keeps"},
    {"n_initial", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial (sink) tokens a lazy layer keeps"},
};

const kvp_press_vtable kvp_press_simlayerkv = {
    .info = {.name = "simlayerkv",
             .summary = "lazy layers (attention on initial and recent tokens) keep only those",
             .paper = "arXiv:2410.13846",
             .kind = KVP_PRESS_STRUCTURAL,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(simlayer_params),
             .params = simlayer_params},
    .check = simlayer_check,
    .compress = simlayer_compress,
};
