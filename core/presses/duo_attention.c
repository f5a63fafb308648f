/* DuoAttentionPress (arXiv 2410.10819): "streaming" kv heads keep only sink_size initial and
 * recent_size recent tokens, "retrieval" heads keep everything. The n = round(L Hk rho) heads
 * with the lowest scores (rho = head_compression_ratio, half to even) stream; ties of equal
 * scores go to the lower flat index (layer * Hk + head). Streaming heads lose positions
 * [sink_size, n - recent_size): a real eviction, so the layer becomes ragged (kvpress masks).
 *
 * Head scores [L, Hk] come from an artefact (DuoAttention's published attention patterns,
 * tools/artefacts/convert_duo_attention.py):
 *     head_scores  [n_layers, n_kv_heads]  any float dtype; clipped to [0, 1] as kvpress does
 *     metadata     sink_size, recent_size  (decimal integers, from the pattern's config.json)
 * or, with on_the_fly_scoring, from kvp_press_calibrate on sample texts (kvpress samples 50
 * BookSum chapters): per layer, the mean pre-RoPE query of each query head and the mean
 * pre-RoPE key of each kv head over a sample's tokens, both placed at every position
 * 0 .. 499; the softmax attention a of the query at 499 over the 500 keys gives the "area
 * under the cumulative attention curve" mean_u sum_{t <= u} a_t, averaged over the heads of a
 * group and over the samples. sink_size and recent_size are then 128 and 256. The means run
 * as ops (keys are first rotated back with ROPE); the 500-position curve of each head is fixed
 * size host work. The means use the observed queries and keys as the engine computes them:
 * with per-head q/k norms (Qwen3, Gemma-3) those are normed, where kvpress's check misses the
 * norms (PRESSES.md quirk 7) and uses the raw projections.
 *
 * kvpress slices [sink_size : -recent_size]: with recent_size = 0 that is empty (Python's
 * `-0`), so nothing is evicted; reproduced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

#define DUO_CURVE_POSITIONS 500 /* kvpress's q_len of the on-the-fly scores */
#define DUO_OTF_SINK 128
#define DUO_OTF_RECENT 256

typedef struct duo_state {
    int n_layers, n_kv;
    float *scores; /* calibrated [n_layers, n_kv], or NULL */
} duo_state;

static void duo_free(void *state) {
    duo_state *s = state;
    if (!s) return;
    free(s->scores);
    free(s);
}

static kvp_status duo_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    kvp_tensor t;
    int64_t shape[2] = {-1, -1}, v;
    KVP_TRY(kvp__artefact_tensor("duo_attention", a, "head_scores", 2, shape, &t));
    if (t.shape[0] <= 0 || t.shape[1] <= 0)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "duo_attention: head_scores is empty");
    float *f = kvp__tensor_host_f32(&t);
    if (!f) return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "duo_attention: out of memory");
    int64_t bad = -1;
    for (int64_t i = 0; i < t.shape[0] * t.shape[1] && bad < 0; i++)
        if (isnan(f[i])) bad = i;
    free(f);
    if (bad >= 0)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "duo_attention: head_scores[%lld] is NaN",
                              (long long)bad);
    KVP_TRY(kvp__artefact_int("duo_attention", a, "sink_size", 0, INT32_MAX, &v));
    return kvp__artefact_int("duo_attention", a, "recent_size", 0, INT32_MAX, &v);
}

/* The head scores [L, Hk] (a new host array), sink and recent sizes of this press. */
static kvp_status duo_source(const kvp_press *p, kvp_context *ctx, float **scores, int *L,
                             int *Hk, int64_t *sink, int64_t *recent) {
    *scores = NULL;
    *L = *Hk = 0;
    *sink = *recent = 0;
    if (kvp__press_int(p, "on_the_fly_scoring")) {
        const duo_state *s = p->state;
        if (!s || !s->scores)
            return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                              "duo_attention with on_the_fly_scoring needs kvp_press_calibrate "
                              "first (sample texts through the engine's model)");
        *L = s->n_layers;
        *Hk = s->n_kv;
        *sink = DUO_OTF_SINK;
        *recent = DUO_OTF_RECENT;
        *scores = malloc(sizeof(float) * (size_t)*L * (size_t)*Hk);
        if (!*scores) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "duo_attention: out of memory");
        memcpy(*scores, s->scores, sizeof(float) * (size_t)*L * (size_t)*Hk);
    } else {
        if (!p->artefact)
            return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                              "duo_attention needs its head patterns (kvp_press_set_artefact) or "
                              "on_the_fly_scoring with kvp_press_calibrate");
        kvp_tensor t;
        int64_t shape[2] = {-1, -1};
        kvp_status st = kvp__artefact_tensor("duo_attention", p->artefact, "head_scores", 2, shape, &t);
        if (st == KVP_OK)
            st = kvp__artefact_int("duo_attention", p->artefact, "sink_size", 0, INT32_MAX, sink);
        if (st == KVP_OK)
            st = kvp__artefact_int("duo_attention", p->artefact, "recent_size", 0, INT32_MAX, recent);
        if (st != KVP_OK) {
            kvp__error_tls_to_ctx(ctx);
            return st;
        }
        *L = (int)t.shape[0];
        *Hk = (int)t.shape[1];
        *scores = kvp__tensor_host_f32(&t);
        if (!*scores) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "duo_attention: out of memory");
        /* np.clip(head_scores, 0, 1), as kvpress loads the patterns */
        for (int64_t i = 0; i < (int64_t)*L * *Hk; i++)
            (*scores)[i] = fminf(fmaxf((*scores)[i], 0.0f), 1.0f);
    }
    int64_t s = kvp__press_int(p, "sink_size"), r = kvp__press_int(p, "recent_size");
    if (s >= 0) *sink = s;
    if (r >= 0) *recent = r;
    return KVP_OK;
}

typedef struct ranked {
    float score;
    int index;
} ranked;

/* Ascending score, then lower flat index: the heads that stream come first. */
static int by_score_up(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static kvp_status duo_check(const kvp_press *p, const kvp_press_run *run) {
    float *scores;
    int L, Hk;
    int64_t sink, recent;
    KVP_TRY(duo_source(p, run->ctx, &scores, &L, &Hk, &sink, &recent));
    free(scores);
    if (L != run->cache->opt.n_layers || Hk != run->Hk)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "duo_attention: the head scores cover %d layers x %d kv heads, the cache "
                          "has %d x %d",
                          L, Hk, run->cache->opt.n_layers, run->Hk);
    return KVP_OK;
}

static kvp_status duo_compress(kvp_press *p, const kvp_press_run *run) {
    float *scores;
    int L, Hk;
    int64_t sink, recent, n = run->n;
    KVP_TRY(duo_source(p, run->ctx, &scores, &L, &Hk, &sink, &recent));
    int total = L * Hk;
    /* round(L * Hk * rho), half to even */
    int64_t n_stream = (int64_t)rint((double)total * kvp__press_param(p, "head_compression_ratio"));
    ranked *order = malloc(sizeof(ranked) * (size_t)total);
    int32_t *keep = kvp__malloc(run->ctx, sizeof(int32_t) * (size_t)run->Hk * (size_t)n);
    if (!order || !keep) {
        free(scores);
        free(order);
        free(keep);
        return kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "duo_attention: out of memory");
    }
    for (int i = 0; i < total; i++) order[i] = (ranked){scores[i], i};
    qsort(order, (size_t)total, sizeof(ranked), by_score_up);
    /* [sink : -recent] of Python: empty when recent is 0, clamped to [0, n] */
    int64_t lo = sink < n ? sink : n, hi = recent > 0 ? (recent < n ? n - recent : 0) : 0;
    int evicted = 0;
    for (size_t i = 0; i < (size_t)run->Hk * (size_t)n; i++) keep[i] = 1;
    for (int64_t k = 0; k < n_stream && k < total; k++) {
        int l = order[k].index / Hk, j = order[k].index % Hk;
        if (l != run->layer) continue;
        for (int64_t t = lo; t < hi; t++) keep[(size_t)j * (size_t)n + (size_t)t] = 0;
        evicted |= hi > lo;
    }
    kvp_status st = evicted ? kvp__compact_host_mask(run, keep) : KVP_OK;
    free(scores);
    free(order);
    free(keep);
    return st;
}

/* ---- on-the-fly calibration ---------------------------------------------------------------- */

typedef struct duo_observer {
    kvp_context *ctx;
    const kvp_rope *rope;
    float *inv_freq;
    int64_t n_tokens;
    int Hq, Hk, d;
    int n_layers;      /* layers seen so far (all samples must show the same) */
    int seen;          /* layers seen in this pass */
    double *acc;       /* [capacity_layers, Hk] sums of the per-sample scores */
    int capacity_layers;
    kvp_status status;
} duo_observer;

/* Channel pairing of RoPE (kvp_params.h, ROPE): partner, sign of rot(), frequency. */
static void rope_pair(int layout, int d, int c, int *partner, double *sign, int *freq) {
    int half = d / 2;
    if (layout == KVP_ROPE_HALF_SPLIT) {
        *partner = c < half ? c + half : c - half;
        *sign = c < half ? -1.0 : 1.0;
        *freq = c < half ? c : c - half;
    } else {
        *partner = (c & 1) ? c - 1 : c + 1;
        *sign = (c & 1) ? 1.0 : -1.0;
        *freq = c / 2;
    }
}

/* RoPE of x at position pos into out (double), as the model's rotary embedding. */
static void rotate(const duo_observer *o, const float *x, int pos, double *out) {
    for (int c = 0; c < o->d; c++) {
        int u, f;
        double sg;
        rope_pair(o->rope->layout, o->d, c, &u, &sg, &f);
        float angle = (float)pos * o->inv_freq[f];
        double cs = (double)(float)(cos((double)angle) * o->rope->attention_scaling);
        double sn = (double)(float)(sin((double)angle) * o->rope->attention_scaling);
        out[c] = x[c] * cs + sg * x[u] * sn;
    }
}

/* The per-head curve scores of one layer from the mean query [Hq, d] and key [Hk, d]. */
static kvp_status layer_scores(const duo_observer *o, const float *qm, const float *km,
                               double *out) {
    enum { P = DUO_CURVE_POSITIONS };
    int G = o->Hq / o->Hk, d = o->d;
    double *q = malloc(sizeof(double) * (size_t)d), *k = malloc(sizeof(double) * (size_t)d);
    double *z = malloc(sizeof(double) * P);
    kvp_status st = q && k && z ? KVP_OK
                                : kvp__error(o->ctx, KVP_ERR_OUT_OF_HOST_MEMORY,
                                             "duo_attention: out of memory");
    for (int j = 0; j < o->Hk; j++) out[j] = 0;
    for (int i = 0; st == KVP_OK && i < o->Hq; i++) {
        int j = i / G;
        rotate(o, qm + (size_t)i * d, P - 1, q);
        double mx = -INFINITY, sum = 0, area = 0;
        for (int t = 0; t < P; t++) {
            rotate(o, km + (size_t)j * d, t, k);
            double dot = 0;
            for (int c = 0; c < d; c++) dot += q[c] * k[c];
            z[t] = dot / sqrt((double)d);
            if (z[t] > mx) mx = z[t];
        }
        for (int t = 0; t < P; t++) sum += exp(z[t] - mx);
        /* mean over u of sum_{t <= u} a_t = sum_t a_t (P - t) / P */
        for (int t = 0; t < P; t++) area += exp(z[t] - mx) / sum * (double)(P - t) / P;
        out[j] += area / G;
    }
    free(q);
    free(k);
    free(z);
    return st;
}

/* Column means of rows [H, m, d] of an f32 device buffer into host out [H, d]. */
static kvp_status row_means(kvp_context *ctx, kvp_buffer *x, int H, int64_t m, int d, float *out) {
    kvp_buffer *mean;
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)H * (size_t)d, &mean));
    kvp_p_probs_colsum p = {.H = H, .m = (int)m, .n = d, .r0 = 0, .r1 = (int)m, .row_pos0 = 0,
                            .mean_mode = KVP_COLSUM_WINDOW};
    KVP_TRY(KVP_RUN(ctx, PROBS_COLSUM, &p, KVP_B(x), KVP_B(mean)));
    return kvp__download(ctx, mean, 0, out, sizeof(float) * (size_t)H * (size_t)d);
}

/* Rows [H, m, d] through ROPE with a given (cos, sin) table per row, into f32 scratch: the
 * identity table converts to f32, the inverse one rotates post-RoPE keys back. */
static kvp_status rope_with_table(duo_observer *o, const kvp_tensor *x, int inverse,
                                  int64_t pos0, kvp_buffer **out) {
    int H = (int)x->shape[0], m = (int)x->shape[1], d = (int)x->shape[2], half = d / 2;
    size_t count = (size_t)m * (size_t)half * 2;
    float *cs = kvp__malloc(o->ctx, sizeof(float) * count);
    if (!cs) return KVP_ERR_OUT_OF_HOST_MEMORY;
    double s = o->rope->attention_scaling;
    for (int r = 0; r < m; r++)
        for (int f = 0; f < half; f++) {
            float angle = (float)(pos0 + r) * o->inv_freq[f];
            /* the forward table is (s cos, s sin); its inverse is (cos / s, -sin / s) */
            cs[((size_t)r * half + f) * 2] = inverse ? (float)(cos((double)angle) / s) : 1.0f;
            cs[((size_t)r * half + f) * 2 + 1] = inverse ? (float)(-sin((double)angle) / s) : 0.0f;
        }
    kvp_buffer *tb;
    kvp_status st = kvp__scratch(o->ctx, sizeof(float) * count, &tb);
    if (st == KVP_OK) st = kvp__upload(o->ctx, tb, 0, cs, sizeof(float) * count);
    free(cs);
    KVP_TRY(st);
    KVP_TRY(kvp__scratch(o->ctx, sizeof(float) * (size_t)H * (size_t)m * (size_t)d, out));
    kvp_p_rope p = {.H = H, .m = m, .d = d, .r0 = 0, .rope_layout = (int)o->rope->layout,
                    .dtype = (int)x->dtype};
    return KVP_RUN(o->ctx, ROPE, &p, KVP_BO(x->buffer, x->offset), KVP_B(tb), KVP_B(*out));
}

static kvp_status duo_layer_means(duo_observer *o, const kvp_forward_layer *fl,
                                  const kvp_tensor *qt, const kvp_tensor *kt);

static kvp_status duo_observe_layer(duo_observer *o, const kvp_forward_layer *fl) {
    kvp_context *ctx = o->ctx;
    if (fl->layer != o->seen)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "duo_attention: the engine showed layer %d where layer %d was due",
                          fl->layer, o->seen);
    int d = o->rope->head_dim;
    int64_t qs[3] = {-1, o->n_tokens, d}, ks[3] = {-1, o->n_tokens, d};
    kvp_tensor q, k;
    int mark = kvp__scratch_mark(ctx);
    kvp_status st = kvp__forward_tensor(ctx, "duo_attention", &fl->queries, "queries", 3, qs, &q);
    if (st == KVP_OK)
        st = kvp__forward_tensor(ctx, "duo_attention", &fl->keys, "keys", 3, ks, &k);
    if (st == KVP_OK) st = duo_layer_means(o, fl, &q, &k);
    kvp__scratch_release(ctx, mark);
    if (st == KVP_OK) o->seen++;
    return st;
}

static kvp_status duo_layer_means(duo_observer *o, const kvp_forward_layer *fl,
                                  const kvp_tensor *qt, const kvp_tensor *kt) {
    kvp_context *ctx = o->ctx;
    const kvp_tensor q = *qt, k = *kt;
    int d = o->rope->head_dim;
    int Hq = (int)q.shape[0], Hk = (int)k.shape[0];
    if (Hq % Hk || (o->Hq && (Hq != o->Hq || Hk != o->Hk)))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "duo_attention: observed %d query heads and %d kv heads (%s)", Hq, Hk,
                          Hq % Hk ? "not a multiple" : "different from earlier layers");
    o->Hq = Hq;
    o->Hk = Hk;
    o->d = d;
    if (fl->layer >= o->capacity_layers) {
        int cap = o->capacity_layers ? 2 * o->capacity_layers : 32;
        while (cap <= fl->layer) cap *= 2;
        double *acc = realloc(o->acc, sizeof(double) * (size_t)cap * (size_t)Hk);
        if (!acc) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "duo_attention: out of memory");
        memset(acc + (size_t)o->capacity_layers * Hk, 0,
               sizeof(double) * (size_t)(cap - o->capacity_layers) * (size_t)Hk);
        o->acc = acc;
        o->capacity_layers = cap;
    }
    float *means = kvp__malloc(ctx, sizeof(float) * (size_t)(Hq + Hk) * (size_t)d);
    double *s = kvp__malloc(ctx, sizeof(double) * (size_t)Hk);
    kvp_status st = means && s ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_buffer *qf = NULL, *kf = NULL;
    if (st == KVP_OK) st = rope_with_table(o, &q, 0, fl->pos0, &qf);
    if (st == KVP_OK) st = rope_with_table(o, &k, 1, fl->pos0, &kf);
    if (st == KVP_OK) st = row_means(ctx, qf, Hq, o->n_tokens, d, means);
    if (st == KVP_OK) st = row_means(ctx, kf, Hk, o->n_tokens, d, means + (size_t)Hq * d);
    if (st == KVP_OK) st = layer_scores(o, means, means + (size_t)Hq * d, s);
    if (st == KVP_OK)
        for (int j = 0; j < Hk; j++) o->acc[(size_t)fl->layer * Hk + j] += s[j];
    free(means);
    free(s);
    return st;
}

static kvp_status duo_observe(void *observer, const kvp_forward_layer *fl) {
    duo_observer *o = observer;
    if (o->status != KVP_OK) return o->status;
    o->status = duo_observe_layer(o, fl);
    return o->status;
}

static kvp_status duo_calibrate(kvp_press *p, kvp_context *ctx, const kvp_forward *fwd,
                                const int32_t *const *samples, const int64_t *lengths, int n) {
    if (!fwd->rope)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "duo_attention calibration needs the model's RoPE (kvp_forward.rope)");
    KVP_TRY(kvp__rope_check(ctx, fwd->rope, 0));
    duo_observer o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    o.rope = fwd->rope;
    o.inv_freq = kvp__malloc(ctx, sizeof(float) * (size_t)(fwd->rope->head_dim / 2));
    if (!o.inv_freq) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp__rope_inv_freq(fwd->rope, o.inv_freq);
    kvp_status st = KVP_OK;
    for (int i = 0; st == KVP_OK && i < n; i++) {
        kvp_forward_pass pass = {.mode = KVP_FORWARD_SEPARATE, .pos0 = 0,
                                 .n_tokens = (int)lengths[i], .tokens = samples[i],
                                 .observe = duo_observe, .observer = &o};
        o.n_tokens = lengths[i];
        o.seen = 0;
        char what[64];
        snprintf(what, sizeof what, "calibration sample %d of %lld tokens", i, (long long)lengths[i]);
        st = kvp__forward_run(ctx, "duo_attention", fwd, &pass, &o.status, what);
        if (st == KVP_OK && (o.seen == 0 || (i > 0 && o.seen != o.n_layers)))
            st = kvp__error(ctx, KVP_ERR_INVALID_ARG,
                            "duo_attention: the engine showed %d layers for sample %d (%d before)",
                            o.seen, i, o.n_layers);
        o.n_layers = o.seen;
    }
    duo_state *s = NULL;
    if (st == KVP_OK) {
        s = calloc(1, sizeof *s);
        if (s) s->scores = malloc(sizeof(float) * (size_t)o.n_layers * (size_t)o.Hk);
        if (!s || !s->scores) {
            duo_free(s);
            st = kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "duo_attention: out of memory");
        }
    }
    if (st == KVP_OK) {
        s->n_layers = o.n_layers;
        s->n_kv = o.Hk;
        for (int i = 0; i < o.n_layers * o.Hk; i++) s->scores[i] = (float)(o.acc[i] / n);
        if (p->free_state) p->free_state(p->state);
        p->state = s;
        p->free_state = duo_free;
    }
    free(o.inv_freq);
    free(o.acc);
    return st;
}

static const kvp_param_info duo_params[] = {
    {"head_compression_ratio", KVP_PARAM_FLOAT, 0.0, 0, 1, 0,
     "fraction of the kv heads (of all layers) that become streaming heads"},
    {"on_the_fly_scoring", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "score heads by kvp_press_calibrate on sample texts instead of an artefact"},
    {"sink_size", KVP_PARAM_INT, -1, 0, 1e9, 0,
     "initial tokens of streaming heads; -1: the artefact's (128 on the fly)"},
    {"recent_size", KVP_PARAM_INT, -1, 0, 1e9, 0,
     "recent tokens of streaming heads; -1: the artefact's (256 on the fly)"},
};

const kvp_press_vtable kvp_press_duo_attention = {
    .info = {.name = "duo_attention",
             .summary = "streaming heads keep sinks and a recent window, retrieval heads all",
             .paper = "arXiv:2410.10819",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_ARTEFACT,
             .n_params = KVP_COUNT(duo_params),
             .params = duo_params},
    .check = duo_check,
    .compress = duo_compress,
    .check_artefact = duo_check_artefact,
    .calibrate = duo_calibrate,
};
