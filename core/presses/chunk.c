/* ChunkPress (kvpress chunk_press.py, FINCH's chunked selection): the layer is cut into chunks
 * of chunk_length tokens; the inner press scores each chunk on its own and each chunk keeps
 * its max(1, int(len * (1 - r))) best tokens, so compression is uniform along the context.
 *
 * kvpress hands the inner press the chunk's hidden states, keys and values but the RoPE cos/sin
 * of the whole call (PRESSES.md 2.34, quirk 12): a window scorer (snapkv, tova, ...) rotates
 * the chunk's last queries as the prompt's last tokens and masks the chunk causally by its own
 * indices. With kvpress_positions (the default) the inner press sees the chunk so: a scratch
 * copy of its keys and values whose positions run up to the prompt's last position, and its
 * queries at those positions; window scorers then select exactly as in kvpress. Expected
 * Attention reads the chunk's own length as the current position and drops the chunk's first
 * n_sink queries, which no choice of positions reproduces: it differs in either mode. With
 * kvpress_positions = false each chunk is scored at its true positions (the chunk's keys and
 * queries where they are in the prompt), which is what chunked selection means.
 * Presses that read only keys and values (knorm, keydiff, lagkv, streaming_llm, ...) select as
 * in kvpress in both modes. Given attention probabilities cover the whole layer and are not
 * used (kvpress refuses them); query statistics, which summarise the whole prompt, are passed
 * on unchanged. */
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

/* The inputs of one chunk: the query rows whose positions lie in [p_lo, p_hi], copied, and
 * presented `shift` positions later. */
static kvp_status chunk_inputs(const kvp_press_run *run, int64_t p_lo, int64_t p_hi,
                               int64_t shift, kvp_inputs *out) {
    const kvp_inputs *in = run->in;
    memset(out, 0, sizeof *out);
    if (in) *out = *in; /* a view: nothing of it is freed */
    out->ctx = run->ctx;
    out->attention.set = 0;
    if (!in || !in->queries.set) return KVP_OK;
    const kvp_tensor *q = &in->queries.t;
    int64_t m = q->shape[1], a0 = p_lo - in->queries.pos0, a1 = p_hi + 1 - in->queries.pos0;
    if (a0 < 0) a0 = 0;
    if (a1 > m) a1 = m;
    out->queries.set = 0;
    if (a1 <= a0) return KVP_OK; /* no query of this chunk: a press that needs them says so */
    size_t es = kvp_dtype_size(q->dtype), row = (size_t)q->shape[2] * es, rows = (size_t)(a1 - a0);
    kvp_buffer *b;
    KVP_TRY(kvp__scratch(run->ctx, (size_t)q->shape[0] * rows * row, &b));
    for (int64_t h = 0; h < q->shape[0]; h++)
        KVP_TRY(kvp__copy(run->ctx, b, (size_t)h * rows * row, q->buffer,
                          q->offset + ((size_t)h * (size_t)m + (size_t)a0) * row, rows * row));
    out->queries.set = 1;
    out->queries.owned = NULL;
    out->queries.pos0 = in->queries.pos0 + a0 + shift;
    out->queries.t = kvp_tensor_device(q->dtype, b, 0, 3, q->shape[0], (int64_t)rows, q->shape[2]);
    return KVP_OK;
}

/* The chunk as kvpress shows it to the inner press: a scratch copy of its rows [Hk, len] whose
 * positions end at the prompt's last position `last` (a causal mask by chunk index, and the
 * rotation of the call's last rows for the chunk's last queries). */
static kvp_status shifted_chunk(const kvp_press_run *run, int64_t c, int64_t len, int64_t last,
                                int64_t *first, kvp_cache_view *view) {
    kvp_context *ctx = run->ctx;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    size_t rb = (size_t)run->d * kvp_dtype_size(run->cache->opt.dtype), rows = (size_t)run->Hk * (size_t)len;
    kvp_buffer *k, *v, *pos;
    KVP_TRY(kvp__scratch(ctx, rows * rb, &k));
    KVP_TRY(kvp__scratch(ctx, rows * rb, &v));
    KVP_TRY(kvp__scratch(ctx, rows * sizeof(int32_t), &pos));
    int32_t *p = kvp__malloc(ctx, rows * sizeof(int32_t));
    if (!p) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (size_t r = 0; r < rows; r++) p[r] = (int32_t)(last + 1 - len + (int64_t)(r % (size_t)len));
    kvp_status st = kvp__upload(ctx, pos, 0, p, rows * sizeof(int32_t));
    free(p);
    for (int j = 0; st == KVP_OK && j < run->Hk; j++) {
        size_t src = (size_t)(L->first[j] + c), dst = (size_t)j * (size_t)len;
        first[j] = (int64_t)dst;
        st = kvp__copy(ctx, k, dst * rb, L->keys, L->keys_offset + src * rb, (size_t)len * rb);
        if (st == KVP_OK)
            st = kvp__copy(ctx, v, dst * rb, L->values, L->values_offset + src * rb, (size_t)len * rb);
    }
    KVP_TRY(st);
    return kvp__cache_view(ctx, run->cache, run->layer, k, v, pos, first, first + run->Hk, view);
}

/* Scores chunk [c, c + len) with the inner press and writes its top `keep` into the layer's
 * mask columns [c, c + len). */
static kvp_status one_chunk(kvp_press *p, const kvp_press_run *run, const int32_t *pos, int64_t c,
                            int64_t len, int64_t keep, kvp_buffer *mask) {
    kvp_context *ctx = run->ctx;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    int faithful = (int)kvp__press_int(p, "kvpress_positions");
    int64_t *first = kvp__malloc(ctx, sizeof(int64_t) * 2 * (size_t)run->Hk);
    if (!first) return KVP_ERR_OUT_OF_HOST_MEMORY;
    int64_t *length = first + run->Hk;
    for (int j = 0; j < run->Hk; j++) first[j] = L->first[j] + c, length[j] = len;
    /* kvpress's view: the chunk ends where the prompt ends */
    int64_t shift = faithful ? (int64_t)pos[run->n - 1] + 1 - len - pos[c] : 0;
    kvp_inputs in;
    kvp_cache_view view;
    kvp_status st = chunk_inputs(run, pos[c], pos[c + len - 1], shift, &in);
    if (st == KVP_OK && faithful)
        st = shifted_chunk(run, c, len, pos[run->n - 1], first, &view);
    else if (st == KVP_OK)
        st = kvp__cache_view(ctx, run->cache, run->layer, NULL, NULL, NULL, first, length, &view);
    free(first);
    KVP_TRY(st);
    kvp_press_run sub = *run;
    sub.cache = &view.cache;
    sub.in = &in;
    sub.n = len;
    sub.keep = -1;
    kvp_buffer *scores, *part;
    st = kvp__press_check_run(p->inner, &sub);
    if (st == KVP_OK) st = kvp__press_score(p->inner, &sub, &scores);
    if (st == KVP_OK) st = kvp__mask_alloc(&sub, run->Hk, &part);
    if (st == KVP_OK) st = kvp__topk(&sub, scores, keep, 0, part);
    for (int j = 0; st == KVP_OK && j < run->Hk; j++)
        st = kvp__copy(ctx, mask, sizeof(int32_t) * ((size_t)j * (size_t)run->n + (size_t)c), part,
                       sizeof(int32_t) * (size_t)j * (size_t)len, sizeof(int32_t) * (size_t)len);
    kvp__cache_view_free(&view);
    return st;
}

static kvp_status chunk_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    int64_t n = run->n, C = kvp__press_int(p, "chunk_length");
    kvp_buffer *mask;
    KVP_TRY(kvp__mask_alloc(run, run->Hk, &mask));
    /* chunks select by index; their queries are found by position (head 0's, as kvpress
     * slices the hidden states of the call) */
    int32_t *pos = kvp__malloc(ctx, sizeof(int32_t) * (size_t)n);
    if (!pos) return KVP_ERR_OUT_OF_HOST_MEMORY;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    kvp_status st = kvp__download(ctx, L->pos, sizeof(int32_t) * (size_t)L->first[0], pos,
                                  sizeof(int32_t) * (size_t)n);
    int64_t kept = 0;
    for (int64_t c = 0; st == KVP_OK && c < n; c += C) {
        int64_t len = n - c < C ? n - c : C;
        int64_t keep = (int64_t)((double)len * (1.0 - run->ratio)); /* int(), in double */
        if (keep < 1) keep = 1;
        kept += keep;
        int mark = kvp__scratch_mark(ctx);
        st = one_chunk(p, run, pos, c, len, keep, mask);
        kvp__scratch_release(ctx, mark);
    }
    free(pos);
    KVP_TRY(st);
    if (kept >= n) return KVP_OK;
    return kvp__cache_compact(ctx, run->cache, run->layer, mask, n);
}

static const kvp_param_info chunk_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"chunk_length", KVP_PARAM_INT, 1024, 1, 1e9, 0, "tokens per chunk"},
    {"kvpress_positions", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "score a chunk as kvpress does (its queries as the prompt's last); false: at its true "
     "positions"},
};

const kvp_press_vtable kvp_press_chunk = {
    .info = {.name = "chunk",
             .summary = "the inner press applied to each chunk of the context on its own",
             .paper = "FINCH (TACL 2024)",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(chunk_params),
             .params = chunk_params},
    .compress = chunk_compress,
};
