/* FinchPress (kvpress finch_press.py; FINCH, TACL 2024, doi 10.1162/tacl_a_00716; PRESSES.md
 * 2.25): SnapKV-like scoring whose observation window is exactly the question, optional
 * selection per chunk of the context, and the kept keys re-rotated to contiguous positions.
 *
 * Recipe (no op of its own):
 *  - score: window attention of the last window_size queries (ATTN_COLSUM, or PROBS_COLSUM on
 *    given probabilities), each row weighted by its query's position when normalize_scores
 *    (KVP_COLSUM_POSITION: kvpress multiplies row a by n - w + a, about the number of keys it
 *    sees), mean over the window, group mean over the query heads of each kv head (HEAD_REDUCE),
 *    no pooling; the window's own w entries get max + 1 (B3, SCORE_PAD);
 *  - selection: per-head top n_keep(n, r) (TOPK), or, with chunk_length, the top
 *    max(1, int(len (1 - r))) of every consecutive chunk of chunk_length tokens (TOPK on each
 *    chunk's scores: one op over all chunks when chunk_length divides n, else a scratch copy of
 *    each chunk);
 *  - compaction in position order (COMPACT), then, when rerotate_keys, the kept keys re-rotated
 *    so that the u-th kept token carries position u (REROTATE, as key_rerotation: 2.39).
 *
 * Differences from kvpress:
 *  - The delimiter belongs to the engine and its tokenizer: kvpress adds a special token
 *    (`<|finch_sep|>`), finds it in the prompt with an embedding hook, removes it and sets
 *    window_size to the number of tokens after it. Here the caller does that and gives the
 *    question length as window_size: the last window_size cached tokens are the question.
 *    window_size <= 0 (the default 0 = not given) or >= the cached tokens is an error.
 *  - kvpress asserts chunk_length > window_size / (1 - compression_ratio); here that is
 *    KVP_ERR_INVALID_ARG with a message (chunk_length 0 = no chunks, kvpress's None). A last,
 *    shorter chunk may still keep fewer tokens than its window: ties among its max + 1 entries
 *    go to the lower positions (torch's topk leaves them unspecified).
 *  - The normalisation weight is the query's position; kvpress uses its index in the cache
 *    (the same after a prefill; they differ on a layer compressed before).
 *  - Without rerotate_keys kvpress leaves the kept tokens in score order; the library's cache is
 *    always in position order (the same set).
 *  - Inside a decoding press that asks for a fixed number of tokens the selection is global
 *    (chunks would not meet the target); kvpress's FinchPress is not a ScorerPress and cannot be
 *    wrapped at all.
 * The RoPE definition is needed only when keys are re-rotated (attention probabilities alone
 * suffice otherwise). */
#include "press_impl.h"

static kvp_status finch_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t w = kvp__press_int(p, "window_size"), C = kvp__press_int(p, "chunk_length");
    KVP_TRY(kvp__need(run, "finch", w > 0,
                      "window_size (the question length: the last window_size cached tokens) "
                      "must be given and > 0"));
    KVP_TRY(kvp__need(run, "finch", w < run->n,
                      "window_size must be smaller than the number of cached tokens (the "
                      "question must follow some context)"));
    if (C > 0 && !((double)C > (double)w / (1.0 - run->ratio)))
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "finch on layer %d: chunk_length %lld must exceed window_size / (1 - "
                          "compression_ratio) = %lld / (1 - %g) = %.6g, so that a chunk keeps "
                          "more than the window",
                          run->layer, (long long)C, (long long)w, run->ratio,
                          (double)w / (1.0 - run->ratio));
    if (kvp__press_int(p, "rerotate_keys") && !(run->in && run->in->has_rope))
        return kvp__error(run->ctx, KVP_ERR_MISSING_INPUT,
                          "finch needs the RoPE definition (kvp_inputs_set_rope) to re-rotate "
                          "the kept keys (or rerotate_keys=false)");
    return kvp__snapkv_check(run, "finch", w, 1);
}

static kvp_status finch_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    int64_t w = kvp__press_int(p, "window_size");
    int mode = kvp__press_int(p, "normalize_scores") ? KVP_COLSUM_POSITION : KVP_COLSUM_WINDOW;
    int Hq;
    kvp_buffer *colsum;
    KVP_TRY(kvp__window_colsum(run, w, mode, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n,
                            .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(run->ctx, HEAD_REDUCE, &hr, KVP_B(colsum), KVP_B(*out)));
    return kvp__pad(run, *out, run->Hk, 0, run->n - w);
}

/* Tokens a chunk of len tokens keeps: max(1, int(len (1 - r))), in double as kvpress. */
static int64_t chunk_keep(int64_t len, double r) {
    int64_t k = (int64_t)((double)len * (1.0 - r));
    return k < 1 ? 1 : k;
}

/* The per-chunk selection into mask [Hk, n]. */
static kvp_status chunk_select(const kvp_press_run *run, kvp_buffer *scores, int64_t C,
                               kvp_buffer *mask) {
    kvp_context *ctx = run->ctx;
    int64_t n = run->n;
    int Hk = run->Hk;
    if (n % C == 0) { /* [Hk, n] is [Hk n / C, C]: every chunk of every head in one op */
        kvp_p_topk tp = {.H = (int)(Hk * (n / C)), .n = (int)C,
                         .k = (int)chunk_keep(C, run->ratio), .global_mode = 0};
        return KVP_RUN(ctx, TOPK, &tp, KVP_B(scores), KVP_B(mask));
    }
    kvp_buffer *cs, *cm;
    size_t rows = (size_t)Hk * (size_t)C;
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * rows, &cs));
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * rows, &cm));
    for (int64_t c = 0; c < n; c += C) {
        size_t len = (size_t)(n - c < C ? n - c : C);
        for (int j = 0; j < Hk; j++)
            KVP_TRY(kvp__copy(ctx, cs, sizeof(float) * (size_t)j * len, scores,
                              sizeof(float) * ((size_t)j * (size_t)n + (size_t)c),
                              sizeof(float) * len));
        kvp_p_topk tp = {.H = Hk, .n = (int)len, .k = (int)chunk_keep((int64_t)len, run->ratio),
                         .global_mode = 0};
        KVP_TRY(KVP_RUN(ctx, TOPK, &tp, KVP_B(cs), KVP_B(cm)));
        for (int j = 0; j < Hk; j++)
            KVP_TRY(kvp__copy(ctx, mask, sizeof(int32_t) * ((size_t)j * (size_t)n + (size_t)c), cm,
                              sizeof(int32_t) * (size_t)j * len, sizeof(int32_t) * len));
    }
    return KVP_OK;
}

static kvp_status finch_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    int64_t n = run->n, C = kvp__press_int(p, "chunk_length");
    int chunked = C > 0 && run->keep < 0, rerotate = (int)kvp__press_int(p, "rerotate_keys");
    int64_t kept = 0;
    if (chunked)
        for (int64_t c = 0; c < n; c += C) kept += chunk_keep(n - c < C ? n - c : C, run->ratio);
    else
        kept = kvp__press_keep(p, run);
    if (kept >= n) return KVP_OK; /* nothing evicted: every re-rotation delta is 0 */
    kvp_buffer *scores, *mask, *freq = NULL;
    KVP_TRY(kvp__checked_scores(p, run, &scores));
    /* everything that allocates comes before the first change of the cache */
    if (rerotate) KVP_TRY(kvp__rope_freq_buffer(ctx, run->in, &freq));
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    if (chunked)
        KVP_TRY(chunk_select(run, scores, C, mask));
    else
        KVP_TRY(kvp__topk(run, scores, kept, 0, mask));
    KVP_TRY(kvp__cache_compact(ctx, run->cache, run->layer, mask, n));
    if (!rerotate) return KVP_OK;
    return kvp__cache_rerotate(ctx, run->cache, run->layer, run->in->rope.layout, freq, 0);
}

static const kvp_param_info finch_params[] = {
    KVP_PARAM_RATIO,
    {"window_size", KVP_PARAM_INT, 0, 0, 1e9, 0,
     "the question length: the last window_size cached tokens (kvpress finds it from its "
     "delimiter token); required"},
    {"chunk_length", KVP_PARAM_INT, 0, 0, 1e9, 0,
     "select per chunk of this many tokens (0: over the whole layer); must exceed "
     "window_size / (1 - compression_ratio)"},
    {"normalize_scores", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "weight each window row by its query's position before the mean"},
    {"rerotate_keys", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "re-rotate the kept keys to contiguous positions 0, 1, ..."},
};

const kvp_press_vtable kvp_press_finch = {
    .info = {.name = "finch",
             .summary = "attention from the question (the last window_size tokens), per chunk, "
                        "kept keys re-rotated",
             .paper = "FINCH (TACL 2024)",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(finch_params),
             .params = finch_params},
    .check = finch_check,
    .score = finch_score,
    .compress = finch_compress,
};
