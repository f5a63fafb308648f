/* DecodingPress (kvpress decoding_press.py): compresses during decoding. Every
 * `compression_interval` calls of kvp_decode_step on a layer (or when one step brings at least
 * target_size tokens), the layer is compressed to exactly target_size tokens by the inner
 * press. The press keeps the most recent `query_buffer_size` pre-RoPE query rows of each layer
 * (what kvpress keeps as hidden states), so window scorers such as SnapKV see recent queries.
 *
 * Differences from kvpress, on purpose: the buffer counts query rows, not forward calls, and
 * always holds at least the current step's rows.
 *
 * The press holds device state: use one press per context (and per sequence), destroy it
 * before its context, and kvp_press_reset it between sequences. */
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

typedef struct layer_state {
    int64_t steps;
    kvp_buffer *ring;   /* [Hq, cap, d] in dtype, row r of head h at (h * cap + r) * d */
    int Hq, d, cap;
    kvp_dtype dtype;
    int64_t rows;       /* rows held (<= cap) */
    int64_t head;       /* ring index of the oldest row */
    int64_t next_pos;   /* position after the newest row */
} layer_state;

typedef struct decoding_state {
    kvp_context *ctx; /* the buffers below belong to it */
    int n_layers;
    layer_state *layers;
} decoding_state;

static void decoding_free(void *state) {
    decoding_state *s = state;
    if (!s) return;
    for (int l = 0; l < s->n_layers; l++) kvp_buffer_free(s->layers[l].ring);
    free(s->layers);
    free(s);
}

static void decoding_reset(kvp_press *p) {
    decoding_state *s = p->state;
    if (!s) return;
    for (int l = 0; l < s->n_layers; l++) {
        s->layers[l].steps = 0;
        s->layers[l].rows = 0;
        s->layers[l].head = 0;
    }
}

static kvp_status layer_state_get(kvp_press *p, const kvp_press_run *run, layer_state **out) {
    decoding_state *s = p->state;
    if (!s) {
        s = kvp__calloc(run->ctx, 1, sizeof *s);
        if (!s) return KVP_ERR_OUT_OF_HOST_MEMORY;
        s->ctx = run->ctx;
        p->state = s;
        p->free_state = decoding_free;
    }
    if (s->ctx != run->ctx)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "decoding: this press keeps per-layer state on the context it was first "
                          "used with; create one press per context");
    int need = run->cache->opt.n_layers;
    if (s->n_layers < need) {
        layer_state *nl = realloc(s->layers, sizeof *nl * (size_t)need);
        if (!nl) return kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "decoding: out of memory");
        memset(nl + s->n_layers, 0, sizeof *nl * (size_t)(need - s->n_layers));
        s->layers = nl;
        s->n_layers = need;
    }
    *out = &s->layers[run->layer];
    return KVP_OK;
}

/* Appends this step's queries to the layer's ring of recent rows. */
static kvp_status buffer_queries(kvp_press *p, const kvp_press_run *run, layer_state *ls) {
    const kvp_input_tensor *q = &run->in->queries;
    kvp_context *ctx = run->ctx;
    int Hq = (int)q->t.shape[0], m = (int)q->t.shape[1], d = (int)q->t.shape[2];
    int cap = (int)kvp__press_int(p, "query_buffer_size");
    if (cap < m) cap = m;
    if (ls->ring && (ls->Hq != Hq || ls->d != d || ls->dtype != q->t.dtype || ls->cap < cap ||
                     q->pos0 != ls->next_pos)) {
        if (ls->Hq != Hq || ls->d != d || ls->dtype != q->t.dtype || ls->cap < cap) {
            kvp_buffer_free(ls->ring);
            ls->ring = NULL;
        }
        ls->rows = ls->head = 0; /* not contiguous with what was buffered: start over */
    }
    size_t es = kvp_dtype_size(q->t.dtype);
    if (!ls->ring) {
        KVP_TRY(kvp__buffer_alloc(ctx, (size_t)Hq * (size_t)cap * (size_t)d * es, &ls->ring));
        ls->Hq = Hq;
        ls->d = d;
        ls->cap = cap;
        ls->dtype = q->t.dtype;
        ls->rows = ls->head = 0;
    }
    /* Rows [first, m) of this step go to ring slots start, start+1, ... (wrapping once). */
    int64_t first = m > ls->cap ? m - ls->cap : 0, count = m - first;
    int64_t start = (ls->head + ls->rows) % ls->cap;
    int64_t part1 = ls->cap - start < count ? ls->cap - start : count;
    size_t row = (size_t)d * es;
    for (int h = 0; h < Hq; h++) {
        size_t src = q->t.offset + ((size_t)h * (size_t)m + (size_t)first) * row;
        size_t dst = (size_t)h * (size_t)ls->cap * row;
        KVP_TRY(kvp__copy(ctx, ls->ring, dst + (size_t)start * row, q->t.buffer, src,
                          (size_t)part1 * row));
        KVP_TRY(kvp__copy(ctx, ls->ring, dst, q->t.buffer, src + (size_t)part1 * row,
                          (size_t)(count - part1) * row));
    }
    int64_t overflow = ls->rows + count - ls->cap;
    if (overflow > 0) { /* the oldest rows were overwritten */
        ls->head = (ls->head + overflow) % ls->cap;
        ls->rows = ls->cap;
    } else {
        ls->rows += count;
    }
    ls->next_pos = q->pos0 + m;
    return KVP_OK;
}

/* The buffered rows in time order as a device tensor [Hq, rows, d] (in scratch). */
static kvp_status linearize(const kvp_press_run *run, const layer_state *ls, kvp_tensor *out) {
    size_t es = kvp_dtype_size(ls->dtype), row = (size_t)ls->d * es;
    kvp_buffer *b;
    KVP_TRY(kvp__scratch(run->ctx, (size_t)ls->Hq * (size_t)ls->rows * row, &b));
    int64_t tail = ls->cap - ls->head < ls->rows ? ls->cap - ls->head : ls->rows;
    for (int h = 0; h < ls->Hq; h++) {
        size_t dst = (size_t)h * (size_t)ls->rows * row, src = (size_t)h * (size_t)ls->cap * row;
        KVP_TRY(kvp__copy(run->ctx, b, dst, ls->ring, src + (size_t)ls->head * row, (size_t)tail * row));
        KVP_TRY(kvp__copy(run->ctx, b, dst + (size_t)tail * row, ls->ring, src,
                          (size_t)(ls->rows - tail) * row));
    }
    *out = kvp_tensor_device(ls->dtype, b, 0, 3, ls->Hq, ls->rows, ls->d);
    return KVP_OK;
}

/* kvpress's bisection for the ratio r with int(n (1 - r)) == target, so that presses whose
 * logic depends on the ratio see the same value. */
static double ratio_for_target(int64_t n, int64_t target) {
    if (n <= target) return 0.0;
    double ratio = 1.0 - (double)target / (double)n, lo = 0.0, hi = 1.0;
    for (int it = 0; it < 20; it++) {
        int64_t kept = kvp_n_keep(n, ratio);
        if (kept == target) break;
        if (kept > target) {
            lo = ratio;
            ratio = (ratio + hi) / 2;
        } else {
            hi = ratio;
            ratio = (lo + ratio) / 2;
        }
    }
    return ratio;
}

static kvp_status decoding_step(kvp_press *p, kvp_press_run *run, int *compressed) {
    layer_state *ls = NULL;
    KVP_TRY(layer_state_get(p, run, &ls));
    const kvp_inputs *in = run->in;
    int64_t m = 0;
    if (in && in->queries.set) {
        KVP_TRY(buffer_queries(p, run, ls));
        m = in->queries.t.shape[1];
    }
    ls->steps++;
    int64_t target = kvp__press_int(p, "target_size");
    if (ls->steps < kvp__press_int(p, "compression_interval") && m < target) return KVP_OK;
    if (run->n > target) {
        kvp_inputs scorer_in;
        memset(&scorer_in, 0, sizeof scorer_in);
        if (in) scorer_in = *in; /* a view: nothing of it is freed */
        scorer_in.ctx = run->ctx;
        scorer_in.attention.set = 0; /* probabilities of one step do not cover the cache */
        scorer_in.queries.set = 0;
        if (ls->rows > 0) {
            scorer_in.queries.set = 1;
            scorer_in.queries.owned = NULL;
            scorer_in.queries.pos0 = ls->next_pos - ls->rows;
            KVP_TRY(linearize(run, ls, &scorer_in.queries.t));
        }
        kvp_press_run inner = *run;
        inner.in = &scorer_in;
        inner.keep = target;
        inner.ratio = ratio_for_target(run->n, target);
        KVP_TRY(kvp__press_compress_run(p->inner, &inner));
        *compressed = 1;
    }
    ls->steps = 0;
    ls->rows = ls->head = 0; /* kvpress clears its buffer after a compression */
    return KVP_OK;
}

static const kvp_param_info decoding_params[] = {
    KVP_PARAM_INNER,
    {"compression_interval", KVP_PARAM_INT, 512, 1, 1e9, 0, "decoding steps between compressions"},
    {"target_size", KVP_PARAM_INT, 2048, 1, 1e9, 0, "tokens per head kept by a compression"},
    {"query_buffer_size", KVP_PARAM_INT, 256, 0, 1e9, 0,
     "recent query rows buffered for the inner scorer"},
};

const kvp_press_vtable kvp_press_decoding = {
    .info = {.name = "decoding",
             .summary = "every N decoding steps, compress to a target size with the inner press",
             .paper = "kvpress DecodingPress",
             .kind = KVP_PRESS_DECODING,
             .n_params = KVP_COUNT(decoding_params),
             .params = decoding_params},
    .decode_step = decoding_step,
    .reset = decoding_reset,
};
