/* BlockPress (kvpress block_press.py; block-wise eviction of KeyDiff, arXiv 2504.15364): the
 * prompt is processed as if it arrived in blocks of block_size tokens. The kept set starts as
 * the first m = n_keep(n, r) tokens; for each next block, the inner press scores the kept
 * tokens together with the block and the m best stay. The layer is compacted once, at the
 * end, to the final set.
 *
 * The candidates live in a scratch layer, [kept | block] per head, in position order (kvpress
 * puts the kept tokens in score order); a press that reads only keys and values (keydiff,
 * knorm, ...) selects as in kvpress. kvpress hands its scorer "hidden states" assembled from
 * slices of different tokens (PRESSES.md 2.36, quirk 12), which queries cannot reproduce:
 * here a query-aware inner press sees the prompt's queries at their true positions. */
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

typedef struct block_layer {
    kvp_buffer *keys, *values, *pos;
    int64_t stride;          /* rows per head: m + block */
    int64_t *first, *length; /* host, per head */
} block_layer;

/* Copies rows [t0, t0 + count) of every head of the run's layer to row `at` of each head of
 * the scratch layer. */
static kvp_status take_rows(const kvp_press_run *run, const block_layer *b, int64_t t0,
                            int64_t count, int64_t at) {
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    size_t rb = (size_t)run->d * kvp_dtype_size(run->cache->opt.dtype);
    for (int j = 0; j < run->Hk; j++) {
        size_t src = (size_t)(L->first[j] + t0), dst = (size_t)(j * b->stride + at);
        KVP_TRY(kvp__copy(run->ctx, b->keys, dst * rb, L->keys, L->keys_offset + src * rb,
                          (size_t)count * rb));
        KVP_TRY(kvp__copy(run->ctx, b->values, dst * rb, L->values, L->values_offset + src * rb,
                          (size_t)count * rb));
        KVP_TRY(kvp__copy(run->ctx, b->pos, dst * sizeof(int32_t), L->pos, src * sizeof(int32_t),
                          (size_t)count * sizeof(int32_t)));
    }
    return KVP_OK;
}

/* One step: the inner press scores the scratch layer's candidates, the m best stay (compacted
 * in place, in position order). */
static kvp_status step(kvp_press *p, const kvp_press_run *run, block_layer *b, int64_t m) {
    kvp_cache_view view;
    KVP_TRY(kvp__cache_view(run->ctx, run->cache, run->layer, b->keys, b->values, b->pos, b->first,
                            b->length, &view));
    kvp_press_run sub = *run;
    sub.cache = &view.cache;
    sub.n = b->length[0];
    sub.keep = -1;
    kvp_buffer *scores, *mask;
    kvp_status st = kvp__press_check_run(p->inner, &sub);
    if (st == KVP_OK) st = kvp__press_score(p->inner, &sub, &scores);
    if (st == KVP_OK) st = kvp__mask_alloc(&sub, run->Hk, &mask);
    if (st == KVP_OK) st = kvp__topk(&sub, scores, m, 0, mask);
    if (st == KVP_OK) st = kvp__cache_compact(run->ctx, &view.cache, run->layer, mask, sub.n);
    for (int j = 0; st == KVP_OK && j < run->Hk; j++) b->length[j] = view.length[j];
    kvp__cache_view_free(&view);
    return st;
}

/* The mask [Hk, n] of the layer's entries whose positions the scratch layer kept. */
static kvp_status final_mask(const kvp_press_run *run, const block_layer *b, kvp_buffer *mask) {
    kvp_context *ctx = run->ctx;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    int64_t n = run->n;
    size_t cells = (size_t)run->Hk * (size_t)n;
    int32_t *all = kvp__malloc(ctx, sizeof(int32_t) * (size_t)n);
    int32_t *kept = kvp__malloc(ctx, sizeof(int32_t) * (size_t)b->stride);
    int32_t *host = kvp__calloc(ctx, cells, sizeof(int32_t));
    kvp_status st = all && kept && host ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int j = 0; st == KVP_OK && j < run->Hk; j++) {
        st = kvp__download(ctx, L->pos, sizeof(int32_t) * (size_t)L->first[j], all,
                           sizeof(int32_t) * (size_t)n);
        if (st == KVP_OK)
            st = kvp__download(ctx, b->pos, sizeof(int32_t) * (size_t)(j * b->stride), kept,
                               sizeof(int32_t) * (size_t)b->length[j]);
        /* both in increasing position order: one merge */
        for (int64_t t = 0, k = 0; st == KVP_OK && t < n && k < b->length[j]; t++)
            if (all[t] == kept[k]) host[(size_t)j * (size_t)n + (size_t)t] = 1, k++;
    }
    if (st == KVP_OK) st = kvp__upload(ctx, mask, 0, host, cells * sizeof(int32_t));
    free(all);
    free(kept);
    free(host);
    return st;
}

static kvp_status block_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    int64_t n = run->n, m = kvp__press_keep(p, run);
    if (m >= n) return KVP_OK;
    int64_t bs = kvp__press_int(p, "block_size");
    if (bs > n) bs = n;
    block_layer b = {.stride = m + bs};
    size_t rb = (size_t)run->d * kvp_dtype_size(run->cache->opt.dtype);
    size_t rows = (size_t)run->Hk * (size_t)b.stride;
    kvp_buffer *mask;
    KVP_TRY(kvp__scratch(ctx, rows * rb, &b.keys));
    KVP_TRY(kvp__scratch(ctx, rows * rb, &b.values));
    KVP_TRY(kvp__scratch(ctx, rows * sizeof(int32_t), &b.pos));
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    b.first = kvp__malloc(ctx, sizeof(int64_t) * 2 * (size_t)run->Hk);
    if (!b.first) return KVP_ERR_OUT_OF_HOST_MEMORY;
    b.length = b.first + run->Hk;
    for (int j = 0; j < run->Hk; j++) b.first[j] = j * b.stride, b.length[j] = m;
    kvp_status st = take_rows(run, &b, 0, m, 0);
    for (int64_t s = m; st == KVP_OK && s < n; s += bs) {
        int64_t count = n - s < bs ? n - s : bs;
        st = take_rows(run, &b, s, count, m);
        for (int j = 0; j < run->Hk; j++) b.length[j] = m + count;
        int mark = kvp__scratch_mark(ctx);
        if (st == KVP_OK) st = step(p, run, &b, m);
        kvp__scratch_release(ctx, mark);
    }
    if (st == KVP_OK) st = final_mask(run, &b, mask);
    free(b.first);
    KVP_TRY(st);
    return kvp__cache_compact(ctx, run->cache, run->layer, mask, n);
}

static const kvp_param_info block_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"block_size", KVP_PARAM_INT, 128, 1, 1e9, 0, "tokens per block"},
};

const kvp_press_vtable kvp_press_block = {
    .info = {.name = "block",
             .summary = "block-wise eviction: the kept set is re-scored with each next block",
             .paper = "arXiv:2504.15364",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(block_params),
             .params = block_params},
    .compress = block_compress,
};
