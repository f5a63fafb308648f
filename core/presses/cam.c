/* CAMPress (kvpress cam_press.py; CaM, OpenReview LCTmppB165): a decoding press that, before
 * evicting, merges the values of some evicted tokens into the kept tokens that follow them
 * (PRESSES.md 2.44). Each decoding step adds the attention of the step's last query to every
 * cached token to a running sum A (per kv head, the mean over its query heads). Every
 * compression_interval steps (when the layer holds more than target_size tokens), or when a
 * step brings target_size tokens:
 *  1. the inner press scores the layer (with the buffered queries) and mu = its mean over the
 *     kv heads; the E = n - target lowest mu are evicted, the target highest kept, both sets
 *     shared by every head (two independent selections, as in kvpress);
 *  2. the `steps` evicted tokens with the highest mu (ties: the later token) merge: token e's
 *     window is the next merge_budget kept tokens after it, c_e of them; per head j,
 *     p = A[j, e] / mean of A[j, window] (NaN -> 0, inf -> 1, clamped to [0, 1]) and with
 *     probability p the value v_e / c_e is added to every value of the window;
 *  3. the layer keeps the kept tokens (and A their sums).
 * The Bernoulli draws come from the press's own generator (splitmix64, seeded by `seed`, the
 * layer and the compression count), not torch's: only their distribution matches kvpress.
 * An AdaKV inner press, which kvpress accepts but fails on (it has no score), is refused.
 *
 * Needs the pre-RoPE queries of each step and the RoPE (the last query's attention), or the
 * step's attention probabilities over the cache. The press holds device state: one press per
 * context, kvp_press_reset between sequences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

typedef struct cam_layer {
    int64_t steps, compressions;
    kvp_query_ring queries;
    kvp_buffer *attn; /* f32 [Hk, cap]: the running attention sum of every entry */
    int64_t cap, held;
} cam_layer;

static void cam_release(void *record) {
    cam_layer *s = record;
    kvp__query_ring_free(&s->queries);
    kvp_buffer_free(s->attn);
    memset(s, 0, sizeof *s);
}

static void cam_forget(void *record) {
    cam_layer *s = record;
    s->steps = 0;
    s->held = 0;
    kvp__query_ring_clear(&s->queries);
}

static void cam_reset(kvp_press *p) { kvp__press_each_layer_state(p, cam_forget); }

static kvp_status cam_accept(const kvp_press *p, const kvp_param_info *pi, const kvp_press *inner) {
    const kvp_press *probe = inner;
    while (probe && !probe->vt->score) probe = probe->inner;
    if (!probe || inner->vt->info.kind == KVP_PRESS_DECODING ||
        inner->vt->info.kind == KVP_PRESS_HEADWISE)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "%s.%s: %s is not a scorer press (CAM needs per-token scores)",
                              p->vt->info.name, pi->name, inner->vt->info.name);
    return KVP_OK;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Adds the attention of the step's last query to the running sums (grown to the layer). */
static kvp_status accumulate(const kvp_press_run *run, cam_layer *s) {
    kvp_context *ctx = run->ctx;
    int Hq;
    kvp_buffer *colsum, *a;
    KVP_TRY(kvp__window_colsum(run, 1, KVP_COLSUM_SUM, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, &a));
    kvp_p_head_reduce hr = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n, .mode = KVP_REDUCE_GROUP_MEAN};
    KVP_TRY(KVP_RUN(ctx, HEAD_REDUCE, &hr, KVP_B(colsum), KVP_B(a)));
    if (s->held > run->n) s->held = 0; /* the layer shrank behind the press's back: start over */
    if (!s->attn || s->cap < run->n) {
        int64_t cap = run->n + run->n / 2 + 64;
        kvp_buffer *grown;
        KVP_TRY(kvp__buffer_alloc(ctx, sizeof(float) * (size_t)run->Hk * (size_t)cap, &grown));
        kvp_status st = KVP_OK;
        for (int j = 0; st == KVP_OK && s->held && j < run->Hk; j++)
            st = kvp__copy(ctx, grown, sizeof(float) * (size_t)j * (size_t)cap, s->attn,
                           sizeof(float) * (size_t)j * (size_t)s->cap, sizeof(float) * (size_t)s->held);
        if (st != KVP_OK) {
            kvp_buffer_free(grown);
            return st;
        }
        kvp_buffer_free(s->attn);
        s->attn = grown;
        s->cap = cap;
    }
    kvp_p_accum_rows ar = {.H = run->Hk, .n = (int)run->n, .stride = (int)s->cap,
                           .n_prev = (int)s->held};
    KVP_TRY(KVP_RUN(ctx, ACCUM_ROWS, &ar, KVP_B(a), KVP_B(s->attn)));
    s->held = run->n;
    return KVP_OK;
}

typedef struct merge_plan {
    int32_t *pairs;  /* [count, 2]: window entry, evicted entry */
    float *coef;     /* [Hk, count] */
    int count;
    int32_t *keep;   /* [Hk, n] mask of the kept entries */
    float *attn;     /* [Hk, n] running sums, then those of the kept entries [Hk, target] */
} merge_plan;

static void plan_free(merge_plan *m) {
    free(m->pairs);
    free(m->coef);
    free(m->keep);
    free(m->attn);
}

typedef struct ranked {
    float mu;
    int32_t t;
} ranked;

/* decreasing mu, ties: the later token first (kvpress's stable sort of the reversed list) */
static int by_mu_later_first(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->mu != b->mu) return a->mu > b->mu ? -1 : 1;
    return (a->t < b->t) - (a->t > b->t);
}

static int by_position(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    return (a->t > b->t) - (a->t < b->t);
}

/* The merges of a compression, on the host from mu, the two selections and the sums. */
static kvp_status plan_merges(const kvp_press *p, const kvp_press_run *run, cam_layer *s,
                              const float *mu, const int32_t *evicted, const int32_t *kept,
                              int64_t target, merge_plan *m) {
    int Hk = run->Hk;
    int64_t n = run->n, budget = kvp__press_int(p, "merge_budget");
    ranked *ev = malloc(sizeof *ev * (size_t)n);
    int32_t *kp = malloc(sizeof(int32_t) * (size_t)(target ? target : 1));
    int64_t n_ev = 0, n_kp = 0;
    if (!ev || !kp) {
        free(ev);
        free(kp);
        return kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cam: out of memory");
    }
    for (int64_t t = 0; t < n; t++) {
        if (evicted[t]) ev[n_ev++] = (ranked){mu[t], (int32_t)t};
        if (kept[t]) kp[n_kp++] = (int32_t)t;
    }
    int64_t k = s->steps < n_ev ? s->steps : n_ev;
    qsort(ev, (size_t)n_ev, sizeof *ev, by_mu_later_first);
    qsort(ev, (size_t)k, sizeof *ev, by_position);
    m->pairs = malloc(sizeof(int32_t) * 2 * (size_t)(k * budget + 1));
    m->coef = malloc(sizeof(float) * (size_t)Hk * (size_t)(k * budget + 1));
    kvp_status st = m->pairs && m->coef ? KVP_OK : kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY,
                                                              "cam: out of memory");
    uint64_t seed = (uint64_t)kvp__press_int(p, "seed");
    uint64_t rng = (seed ^ 0x5eedull) + 0x9e3779b97f4a7c15ull * (uint64_t)(run->layer + 1) +
                   0xbf58476d1ce4e5b9ull * (uint64_t)s->compressions;
    m->count = 0;
    /* pairs are laid out by candidate, window entries in order; coef [Hk, count] is filled
     * after all pairs are known, so the draws are collected per candidate first */
    float *beta = st == KVP_OK ? malloc(sizeof(float) * (size_t)Hk * (size_t)(k ? k : 1)) : NULL;
    int64_t *first_pair = beta ? malloc(sizeof(int64_t) * (size_t)(k + 1)) : NULL;
    if (st == KVP_OK && !first_pair) st = kvp__error(run->ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cam: out of memory");
    for (int64_t c = 0; st == KVP_OK && c < k; c++) {
        int32_t e = ev[c].t;
        int64_t start = 0; /* kept entries <= e */
        while (start < n_kp && kp[start] <= e) start++;
        int64_t width = n_kp - start < budget ? n_kp - start : budget;
        first_pair[c] = m->count;
        for (int j = 0; j < Hk; j++) {
            const float *a = m->attn + (size_t)j * (size_t)n;
            float sum = 0;
            for (int64_t w = 0; w < width; w++) sum += a[kp[start + w]];
            float mean = sum / (float)(width > 1 ? width : 1), prob = a[e] / mean;
            if (isnan(prob)) prob = 0;
            if (isinf(prob)) prob = 1;
            prob = prob < 0 ? 0 : prob > 1 ? 1 : prob;
            float u = (float)(splitmix64(&rng) >> 40) * (1.0f / 16777216.0f);
            beta[(size_t)j * (size_t)k + (size_t)c] = width > 0 && u < prob ? 1.0f / (float)width : 0.0f;
        }
        for (int64_t w = 0; w < width; w++, m->count++) {
            m->pairs[2 * m->count] = kp[start + w];
            m->pairs[2 * m->count + 1] = e;
        }
    }
    if (st == KVP_OK) first_pair[k] = m->count;
    for (int j = 0; st == KVP_OK && j < Hk; j++)
        for (int64_t c = 0; c < k; c++)
            for (int64_t i = first_pair[c]; i < first_pair[c + 1]; i++)
                m->coef[(size_t)j * (size_t)m->count + (size_t)i] = beta[(size_t)j * (size_t)k + (size_t)c];
    free(beta);
    free(first_pair);
    free(ev);
    free(kp);
    return st;
}

static kvp_status merge_and_prune(kvp_press *p, const kvp_press_run *run, cam_layer *s,
                                  int64_t target) {
    kvp_context *ctx = run->ctx;
    kvp_cache_layer *L = &run->cache->layers[run->layer];
    int Hk = run->Hk;
    int64_t n = run->n, E = n - target;
    kvp_inputs scorer_in;
    KVP_TRY(kvp__query_ring_inputs(run, &s->queries, &scorer_in));
    kvp_press_run inner = *run;
    inner.in = &scorer_in;
    inner.keep = target;
    inner.ratio = kvp__ratio_for_target(n, target);
    kvp_buffer *scores, *mu, *neg, *kept_mask, *ev_mask, *pairs = NULL, *coef = NULL;
    KVP_TRY(kvp__press_check_run(p->inner, &inner));
    KVP_TRY(kvp__checked_scores(p->inner, &inner, &scores));
    KVP_TRY(kvp__scores_alloc(run, Hk, &mu));
    KVP_TRY(kvp__scores_alloc(run, Hk, &neg));
    kvp_p_head_reduce hr = {.Hq = Hk, .Hk = Hk, .n = (int)n, .mode = KVP_REDUCE_ALL_MEAN};
    KVP_TRY(KVP_RUN(ctx, HEAD_REDUCE, &hr, KVP_B(scores), KVP_B(mu)));
    KVP_TRY(kvp__copy(ctx, neg, 0, mu, 0, sizeof(float) * (size_t)Hk * (size_t)n));
    KVP_TRY(kvp__score_map(run, neg, Hk, -1.0f, 0.0f, NULL));
    KVP_TRY(kvp__mask_alloc(run, Hk, &kept_mask));
    KVP_TRY(kvp__mask_alloc(run, Hk, &ev_mask));
    KVP_TRY(kvp__topk(run, mu, target, 0, kept_mask));
    KVP_TRY(kvp__topk(run, neg, E, 0, ev_mask));

    merge_plan m;
    memset(&m, 0, sizeof m);
    size_t cells = (size_t)Hk * (size_t)n;
    float *mu_row = kvp__malloc(ctx, sizeof(float) * (size_t)n);
    int32_t *ev_row = kvp__malloc(ctx, sizeof(int32_t) * (size_t)n);
    m.keep = kvp__malloc(ctx, sizeof(int32_t) * cells);
    m.attn = kvp__malloc(ctx, sizeof(float) * cells);
    kvp_status st = mu_row && ev_row && m.keep && m.attn ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    if (st == KVP_OK) st = kvp__download(ctx, mu, 0, mu_row, sizeof(float) * (size_t)n);
    if (st == KVP_OK) st = kvp__download(ctx, ev_mask, 0, ev_row, sizeof(int32_t) * (size_t)n);
    if (st == KVP_OK) st = kvp__download(ctx, kept_mask, 0, m.keep, sizeof(int32_t) * cells);
    for (int j = 0; st == KVP_OK && j < Hk; j++)
        st = kvp__download(ctx, s->attn, sizeof(float) * (size_t)j * (size_t)s->cap,
                           m.attn + (size_t)j * (size_t)n, sizeof(float) * (size_t)n);
    if (st == KVP_OK) st = plan_merges(p, run, s, mu_row, ev_row, m.keep, target, &m);
    free(mu_row);
    free(ev_row);
    if (st == KVP_OK && m.count > 0) {
        st = kvp__scratch(ctx, sizeof(int32_t) * 2 * (size_t)m.count, &pairs);
        if (st == KVP_OK) st = kvp__upload(ctx, pairs, 0, m.pairs, sizeof(int32_t) * 2 * (size_t)m.count);
        if (st == KVP_OK) st = kvp__scratch(ctx, sizeof(float) * (size_t)Hk * (size_t)m.count, &coef);
        if (st == KVP_OK)
            st = kvp__upload(ctx, coef, 0, m.coef, sizeof(float) * (size_t)Hk * (size_t)m.count);
    }
    /* the running sums of the kept entries, packed */
    for (int j = 0; st == KVP_OK && j < Hk; j++) {
        int64_t w = 0;
        float *row = m.attn + (size_t)j * (size_t)n;
        for (int64_t t = 0; t < n; t++)
            if (m.keep[(size_t)j * (size_t)n + (size_t)t]) row[w++] = row[t];
    }
    kvp_layer_backup backup;
    int backed = 0;
    if (st == KVP_OK) st = kvp__layer_backup(ctx, run->cache, run->layer, KVP_BACKUP_VALUES, &backup);
    backed = st == KVP_OK;
    if (st == KVP_OK && m.count > 0) {
        kvp_p_merge_add ma = {.Hk = Hk, .d = run->d, .count = m.count,
                              .v_dtype = (int)run->cache->opt.dtype};
        st = KVP_RUN(ctx, MERGE_ADD, &ma, KVP_BO(L->values, L->values_offset), KVP_B(L->meta),
                     KVP_B(pairs), KVP_B(coef));
    }
    if (st == KVP_OK) st = kvp__cache_compact(ctx, run->cache, run->layer, kept_mask, n);
    if (st != KVP_OK && backed && kvp__layer_restore(ctx, run->cache, run->layer, &backup) != KVP_OK)
        kvp__log(ctx, KVP_LOG_ERROR, "cam: the values could not be restored after a failure");
    if (backed) kvp__layer_backup_free(&backup);
    for (int j = 0; st == KVP_OK && j < Hk; j++)
        st = kvp__upload(ctx, s->attn, sizeof(float) * (size_t)j * (size_t)s->cap,
                         m.attn + (size_t)j * (size_t)n, sizeof(float) * (size_t)target);
    s->held = st == KVP_OK ? target : 0;
    s->compressions++;
    plan_free(&m);
    return st;
}

static kvp_status cam_step(kvp_press *p, kvp_press_run *run, int *compressed) {
    kvp_context *ctx = run->ctx;
    const kvp_inputs *in = run->in;
    if (!in || (!in->attention.set && !(in->queries.set && in->has_rope)))
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "cam needs each step's pre-RoPE queries and the RoPE (kvp_inputs_set_queries, "
                          "kvp_inputs_set_rope), or its attention probabilities over the cache");
    if (in->attention.set && in->attention.t.shape[2] != run->n)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "cam: the attention probabilities cover %lld keys, the layer holds %lld",
                          (long long)in->attention.t.shape[2], (long long)run->n);
    if (in->queries.set && in->queries.t.shape[2] != run->d)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "cam: queries have head_dim %lld, the cache %d",
                          (long long)in->queries.t.shape[2], run->d);
    cam_layer *s;
    KVP_TRY(kvp__press_layer_state(p, run, sizeof *s, cam_release, (void **)&s));
    int64_t m = 0;
    if (in->queries.set) {
        KVP_TRY(kvp__query_ring_add(run, &s->queries, (int)kvp__press_int(p, "query_buffer_size")));
        m = in->queries.t.shape[1];
    }
    KVP_TRY(accumulate(run, s));
    s->steps++;
    int64_t target = kvp__press_int(p, "target_size");
    int due = (s->steps >= kvp__press_int(p, "compression_interval") && run->n > target) ||
              m >= target;
    if (!due) return KVP_OK;
    if (run->n > target) {
        KVP_TRY(merge_and_prune(p, run, s, target));
        *compressed = 1;
    }
    s->steps = 0;
    kvp__query_ring_clear(&s->queries);
    return KVP_OK;
}

static const kvp_param_info cam_params[] = {
    KVP_PARAM_INNER,
    {"compression_interval", KVP_PARAM_INT, 512, 1, 1e9, 0, "decoding steps between compressions"},
    {"target_size", KVP_PARAM_INT, 2048, 1, 1e9, 0, "tokens per head kept by a compression"},
    {"query_buffer_size", KVP_PARAM_INT, 256, 0, 1e9, 0,
     "recent query rows buffered for the inner scorer"},
    {"merge_budget", KVP_PARAM_INT, 32, 1, 1e9, 0,
     "kept tokens after an evicted one that its value is merged into"},
    {"seed", KVP_PARAM_INT, 0, 0, 9007199254740992.0, 0, "seed of the Bernoulli merge draws"},
};

const kvp_press_vtable kvp_press_cam = {
    .info = {.name = "cam",
             .summary = "decoding compression that merges evicted values into the next kept ones",
             .paper = "OpenReview LCTmppB165 (CaM)",
             .kind = KVP_PRESS_DECODING,
             .needs = KVP_NEED_ATTENTION,
             .n_params = KVP_COUNT(cam_params),
             .params = cam_params},
    .decode_step = cam_step,
    .reset = cam_reset,
    .accept = cam_accept,
};
