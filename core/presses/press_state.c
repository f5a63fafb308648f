/* Per-layer state of presses that remember something between calls (decoding presses, DMS),
 * and the ring of recent query rows that decoding presses hand their scorer. */
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

typedef struct layer_states {
    kvp_context *ctx; /* the device buffers of the records belong to it */
    int n_layers;
    size_t size;
    unsigned char *records;
    void (*release)(void *record);
} layer_states;

static void states_free(void *state) {
    layer_states *s = state;
    if (!s) return;
    for (int l = 0; s->release && l < s->n_layers; l++) s->release(s->records + (size_t)l * s->size);
    free(s->records);
    free(s);
}

kvp_status kvp__press_layer_state(kvp_press *p, const kvp_press_run *run, size_t size,
                                  void (*release)(void *record), void **record) {
    const char *name = p->vt->info.name;
    layer_states *s = p->state;
    if (!s) {
        s = kvp__calloc(run->ctx, 1, sizeof *s);
        if (!s) return KVP_ERR_OUT_OF_HOST_MEMORY;
        s->ctx = run->ctx;
        s->size = size;
        s->release = release;
        p->state = s;
        p->free_state = states_free;
    }
    if (s->ctx != run->ctx)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "%s: this press keeps per-layer state on the context it was first used "
                          "with; create one press per context",
                          name);
    int need = run->cache->opt.n_layers;
    if (s->n_layers < need) {
        unsigned char *grown = realloc(s->records, s->size * (size_t)need);
        if (!grown) return kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "%s: out of memory", name);
        memset(grown + s->size * (size_t)s->n_layers, 0, s->size * (size_t)(need - s->n_layers));
        s->records = grown;
        s->n_layers = need;
    }
    *record = s->records + (size_t)run->layer * s->size;
    return KVP_OK;
}

void kvp__press_each_layer_state(kvp_press *p, void (*fn)(void *record)) {
    layer_states *s = p->state;
    for (int l = 0; s && l < s->n_layers; l++) fn(s->records + (size_t)l * s->size);
}

/* ---- the ring of recent query rows ---------------------------------------------------------- */

void kvp__query_ring_free(kvp_query_ring *r) {
    kvp_buffer_free(r->ring);
    memset(r, 0, sizeof *r);
}

void kvp__query_ring_clear(kvp_query_ring *r) { r->rows = r->head = 0; }

kvp_status kvp__query_ring_add(const kvp_press_run *run, kvp_query_ring *r, int capacity) {
    const kvp_input_tensor *q = &run->in->queries;
    kvp_context *ctx = run->ctx;
    int Hq = (int)q->t.shape[0], m = (int)q->t.shape[1], d = (int)q->t.shape[2];
    int cap = capacity < m ? m : capacity;
    if (r->ring && (r->Hq != Hq || r->d != d || r->dtype != q->t.dtype || r->cap < cap ||
                    q->pos0 != r->next_pos)) {
        if (r->Hq != Hq || r->d != d || r->dtype != q->t.dtype || r->cap < cap) {
            kvp_buffer_free(r->ring);
            r->ring = NULL;
        }
        r->rows = r->head = 0; /* not contiguous with what was buffered: start over */
    }
    size_t es = kvp_dtype_size(q->t.dtype);
    if (!r->ring) {
        KVP_TRY(kvp__buffer_alloc(ctx, (size_t)Hq * (size_t)cap * (size_t)d * es, &r->ring));
        r->Hq = Hq;
        r->d = d;
        r->cap = cap;
        r->dtype = q->t.dtype;
        r->rows = r->head = 0;
    }
    /* Rows [first, m) of this step go to ring slots start, start+1, ... (wrapping once). */
    int64_t first = m > r->cap ? m - r->cap : 0, count = m - first;
    int64_t start = (r->head + r->rows) % r->cap;
    int64_t part1 = r->cap - start < count ? r->cap - start : count;
    size_t row = (size_t)d * es;
    for (int h = 0; h < Hq; h++) {
        size_t src = q->t.offset + ((size_t)h * (size_t)m + (size_t)first) * row;
        size_t dst = (size_t)h * (size_t)r->cap * row;
        KVP_TRY(kvp__copy(ctx, r->ring, dst + (size_t)start * row, q->t.buffer, src,
                          (size_t)part1 * row));
        KVP_TRY(kvp__copy(ctx, r->ring, dst, q->t.buffer, src + (size_t)part1 * row,
                          (size_t)(count - part1) * row));
    }
    int64_t overflow = r->rows + count - r->cap;
    if (overflow > 0) { /* the oldest rows were overwritten */
        r->head = (r->head + overflow) % r->cap;
        r->rows = r->cap;
    } else {
        r->rows += count;
    }
    r->next_pos = q->pos0 + m;
    return KVP_OK;
}

kvp_status kvp__query_ring_inputs(const kvp_press_run *run, const kvp_query_ring *r,
                                  kvp_inputs *out) {
    memset(out, 0, sizeof *out);
    if (run->in) *out = *run->in; /* a view: nothing of it is freed */
    out->ctx = run->ctx;
    out->attention.set = 0; /* probabilities of one step do not cover the cache */
    out->queries.set = 0;
    if (r->rows == 0) return KVP_OK;
    size_t es = kvp_dtype_size(r->dtype), row = (size_t)r->d * es;
    kvp_buffer *b;
    KVP_TRY(kvp__scratch(run->ctx, (size_t)r->Hq * (size_t)r->rows * row, &b));
    int64_t tail = r->cap - r->head < r->rows ? r->cap - r->head : r->rows;
    for (int h = 0; h < r->Hq; h++) {
        size_t dst = (size_t)h * (size_t)r->rows * row, src = (size_t)h * (size_t)r->cap * row;
        KVP_TRY(kvp__copy(run->ctx, b, dst, r->ring, src + (size_t)r->head * row, (size_t)tail * row));
        KVP_TRY(kvp__copy(run->ctx, b, dst + (size_t)tail * row, r->ring, src,
                          (size_t)(r->rows - tail) * row));
    }
    out->queries.set = 1;
    out->queries.owned = NULL;
    out->queries.pos0 = r->next_pos - r->rows;
    out->queries.t = kvp_tensor_device(r->dtype, b, 0, 3, r->Hq, r->rows, r->d);
    return KVP_OK;
}

double kvp__ratio_for_target(int64_t n, int64_t target) {
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
