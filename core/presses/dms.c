/* DMSPress (kvpress dms_press.py; the inference side of Dynamic Memory Sparsification, arXiv
 * 2506.05345, dense prefill, no trained evictors): every token whose inner score is below
 * `threshold` is evicted once it leaves a sliding window of the `sliding_window_size` most
 * recent tokens. kvp_compress applies it to a prompt (the window's tokens stay whatever their
 * score); with decoding = true, kvp_decode_step then scores each step's new tokens and evicts
 * those that leave the window with a low score. kvpress masks; here the tokens are removed,
 * each head on its own (a ragged layer, as adakv).
 *
 * The inner press scores only the new tokens of a call (kvpress passes it the call's last
 * q_len keys and values), without attention probabilities. The press is not driven by a
 * ratio: the fraction it evicts depends on the scores (kvpress reports it as a read-only
 * compression_ratio; compare kvp_cache_get_lengths before and after).
 *
 * State (decoding = true): per layer, the scores of the tokens still in the window, and the
 * head lengths after the last call, from which a step's new tokens are known. The press keeps
 * device buffers: one press per context, kvp_press_reset between sequences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

typedef struct dms_layer {
    int valid;
    kvp_buffer *window;  /* f32 [Hk, cap]: scores of the window's tokens, oldest first */
    int64_t cap, held;   /* held <= sliding_window_size columns */
    int64_t *lengths;    /* head lengths after the last call */
    int Hk;
} dms_layer;

static void dms_release(void *record) {
    dms_layer *s = record;
    kvp_buffer_free(s->window);
    free(s->lengths);
    memset(s, 0, sizeof *s);
}

static void dms_forget(void *record) { ((dms_layer *)record)->valid = 0; }

static void dms_reset(kvp_press *p) { kvp__press_each_layer_state(p, dms_forget); }

static double dms_ratio(const kvp_press *p, int layer) {
    (void)p, (void)layer;
    return NAN; /* threshold-driven: kvp_compress never skips it */
}

static kvp_status dms_check(const kvp_press *p, const kvp_press_run *run) {
    return kvp__need(run, "dms", !isnan(kvp__press_param(p, "threshold")),
                     "threshold is not set (kvpress requires one; it depends on the scorer)");
}

/* The inner press's scores of the `count` newest entries of every head: f32 [Hk, count]. */
static kvp_status score_newest(const kvp_press *p, const kvp_press_run *run, int64_t count,
                               kvp_buffer **out) {
    kvp_context *ctx = run->ctx;
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    int64_t *first = kvp__malloc(ctx, sizeof(int64_t) * 2 * (size_t)run->Hk);
    if (!first) return KVP_ERR_OUT_OF_HOST_MEMORY;
    int64_t *length = first + run->Hk;
    for (int j = 0; j < run->Hk; j++) first[j] = L->first[j] + L->length[j] - count, length[j] = count;
    kvp_cache_view view;
    kvp_status st = kvp__cache_view(ctx, run->cache, run->layer, NULL, NULL, NULL, first, length, &view);
    free(first);
    KVP_TRY(st);
    kvp_inputs in;
    memset(&in, 0, sizeof in);
    if (run->in) in = *run->in; /* a view: nothing of it is freed */
    in.ctx = ctx;
    in.attention.set = 0; /* kvpress scores without attention weights */
    kvp_press_run sub = *run;
    sub.cache = &view.cache;
    sub.in = &in;
    sub.n = count;
    sub.keep = -1;
    sub.ratio = kvp__press_ratio(p->inner);
    st = kvp__press_check_run(p->inner, &sub);
    if (st == KVP_OK) st = kvp__checked_scores(p->inner, &sub, out);
    kvp__cache_view_free(&view);
    return st;
}

/* Scores buffer [Hk, held + fresh] (the window's then the new tokens'): evicts the oldest
 * entries beyond the window whose score is below the threshold, then remembers the window. */
static kvp_status evict_and_slide(const kvp_press *p, const kvp_press_run *run, kvp_buffer *scores,
                                  int64_t cols, dms_layer *state) {
    kvp_context *ctx = run->ctx;
    kvp_cache_layer *L = &run->cache->layers[run->layer];
    int Hk = run->Hk;
    int64_t W = kvp__press_int(p, "sliding_window_size"), leaving = cols > W ? cols - W : 0;
    kvp_buffer *off = NULL, *mask = NULL;
    if (leaving > 0) {
        int32_t *host = kvp__malloc(ctx, sizeof(int32_t) * (size_t)Hk);
        if (!host) return KVP_ERR_OUT_OF_HOST_MEMORY;
        /* the buffer's columns are the last `cols` entries of each head */
        for (int j = 0; j < Hk; j++) host[j] = (int32_t)(L->length[j] - cols);
        kvp_status st = kvp__scratch(ctx, sizeof(int32_t) * (size_t)Hk, &off);
        if (st == KVP_OK) st = kvp__upload(ctx, off, 0, host, sizeof(int32_t) * (size_t)Hk);
        free(host);
        KVP_TRY(st);
        KVP_TRY(kvp__mask_alloc(run, Hk, &mask));
        kvp_p_threshold_mask tm = {.H = Hk, .m = (int)cols, .n = (int)run->n, .e = (int)leaving,
                                   .threshold = (float)kvp__press_param(p, "threshold")};
        KVP_TRY(KVP_RUN(ctx, THRESHOLD_MASK, &tm, KVP_B(scores), KVP_B(off), KVP_B(mask)));
    }
    /* the window's state is prepared before the cache changes */
    int64_t keep = cols - leaving;
    if (state) {
        if (!state->lengths || state->Hk != Hk) {
            free(state->lengths);
            state->lengths = kvp__malloc(ctx, sizeof(int64_t) * (size_t)Hk);
            if (!state->lengths) return KVP_ERR_OUT_OF_HOST_MEMORY;
            state->Hk = Hk;
        }
        if (!state->window || state->cap < (keep ? keep : 1)) {
            kvp_buffer_free(state->window);
            state->window = NULL;
            state->valid = 0;
            state->cap = W > keep ? W : (keep ? keep : 1);
            KVP_TRY(kvp__buffer_alloc(ctx, sizeof(float) * (size_t)Hk * (size_t)state->cap,
                                      &state->window));
        }
    }
    if (mask) KVP_TRY(kvp__cache_compact(ctx, run->cache, run->layer, mask, run->n));
    if (!state) return KVP_OK;
    state->valid = 0;
    for (int j = 0; j < Hk; j++)
        KVP_TRY(kvp__copy(ctx, state->window, sizeof(float) * (size_t)j * (size_t)state->cap, scores,
                          sizeof(float) * ((size_t)j * (size_t)cols + (size_t)leaving),
                          sizeof(float) * (size_t)keep));
    for (int j = 0; j < Hk; j++) state->lengths[j] = L->length[j];
    state->held = keep;
    state->valid = 1;
    return KVP_OK;
}

static kvp_status dms_compress(kvp_press *p, const kvp_press_run *run) {
    int64_t n;
    KVP_TRY(kvp__cache_uniform_length(run->ctx, run->cache, run->layer, "dms (prefill)", &n));
    dms_layer *state = NULL;
    if (kvp__press_int(p, "decoding"))
        KVP_TRY(kvp__press_layer_state(p, run, sizeof *state, dms_release, (void **)&state));
    kvp_buffer *scores;
    KVP_TRY(score_newest(p, run, n, &scores));
    return evict_and_slide(p, run, scores, n, state);
}

static kvp_status dms_decode(kvp_press *p, kvp_press_run *run, int *compressed) {
    kvp_context *ctx = run->ctx;
    if (!kvp__press_int(p, "decoding")) return KVP_OK; /* as kvpress: prefill only */
    KVP_TRY(dms_check(p, run));
    dms_layer *state;
    KVP_TRY(kvp__press_layer_state(p, run, sizeof *state, dms_release, (void **)&state));
    const kvp_cache_layer *L = &run->cache->layers[run->layer];
    if (!state->valid)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "dms: no prefill of layer %d to continue from (compress the prompt with "
                          "kvp_compress first, with decoding = true)",
                          run->layer);
    int64_t fresh = L->length[0] - state->lengths[0];
    for (int j = 0; j < run->Hk; j++)
        if (L->length[j] - state->lengths[j] != fresh || fresh < 0)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "dms: layer %d changed since the last call other than by appending "
                              "tokens (head %d holds %lld entries, %lld before); kvp_press_reset "
                              "and compress again",
                              run->layer, j, (long long)L->length[j], (long long)state->lengths[j]);
    if (fresh == 0) return KVP_OK;
    kvp_buffer *scores, *fresh_scores;
    KVP_TRY(score_newest(p, run, fresh, &fresh_scores));
    int64_t cols = state->held + fresh;
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)run->Hk * (size_t)cols, &scores));
    for (int j = 0; j < run->Hk; j++) {
        size_t row = sizeof(float) * (size_t)j * (size_t)cols;
        KVP_TRY(kvp__copy(ctx, scores, row, state->window, sizeof(float) * (size_t)j * (size_t)state->cap,
                          sizeof(float) * (size_t)state->held));
        KVP_TRY(kvp__copy(ctx, scores, row + sizeof(float) * (size_t)state->held, fresh_scores,
                          sizeof(float) * (size_t)j * (size_t)fresh, sizeof(float) * (size_t)fresh));
    }
    int64_t before = 0, after = 0;
    for (int j = 0; j < run->Hk; j++) before += L->length[j];
    KVP_TRY(evict_and_slide(p, run, scores, cols, state));
    for (int j = 0; j < run->Hk; j++) after += L->length[j];
    *compressed = after < before;
    return KVP_OK;
}

static const kvp_param_info dms_params[] = {
    KVP_PARAM_INNER,
    {"threshold", KVP_PARAM_FLOAT, NAN, -1e30, 1e30, 0,
     "tokens scoring below it are evicted once they leave the window (required)"},
    {"sliding_window_size", KVP_PARAM_INT, 128, 0, 1e9, 0, "recent tokens never evicted"},
    {"decoding", KVP_PARAM_BOOL, 0, 0, 1, 0, "also evict during decoding (kvp_decode_step)"},
};

const kvp_press_vtable kvp_press_dms = {
    .info = {.name = "dms",
             .summary = "evict tokens scoring below a threshold once they leave a sliding window",
             .paper = "arXiv:2506.05345",
             .kind = KVP_PRESS_HEADWISE,
             .n_params = KVP_COUNT(dms_params),
             .params = dms_params},
    .check = dms_check,
    .compress = dms_compress,
    .decode_step = dms_decode,
    .reset = dms_reset,
    .ratio = dms_ratio,
    .ragged = 1,
};
