/*
 * The press case table: every press on synthetic layers (several dtypes and sizes), on the
 * backend under test and on the CPU reference, through the public API. Scores must agree
 * (NMSE); kept sets must pass the kvpress golden rule against the CPU scores (they may only
 * differ inside ties); attention over the compressed caches must agree when the sets are equal.
 * Then cross-checks of equivalent inputs: query statistics streamed in chunks vs the queries,
 * given attention probabilities vs recomputed ones, interleaved vs half-split RoPE, and the
 * ragged cache of a head-wise press and the decoding press.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct layer_data {
    int Hq, Hk, d, n, layers, layer, D;
    float *keys, *values, *queries, *wo;
    float *hidden; /* [n, D]: the attention input of every token */
} layer_data;

static void data_make(layer_data *L, const char *name, int variant, int Hq, int Hk, int d, int n) {
    memset(L, 0, sizeof *L);
    L->Hq = Hq, L->Hk = Hk, L->d = d, L->n = n, L->layers = 3, L->layer = 1, L->D = 48;
    rng r = rng_for(name, variant);
    size_t kv = (size_t)Hk * n * d, q = (size_t)Hq * n * d;
    L->keys = malloc(kv * sizeof(float));
    L->values = malloc(kv * sizeof(float));
    L->queries = malloc(q * sizeof(float));
    L->wo = malloc((size_t)L->D * Hq * d * sizeof(float));
    fill_normal(&r, L->keys, kv, 1.0f);
    fill_normal(&r, L->values, kv, 1.0f);
    fill_normal(&r, L->queries, q, 1.0f);
    fill_normal(&r, L->wo, (size_t)L->D * Hq * d, 0.1f);
    /* structure: an outlier channel in the keys, a query mean, heavy value rows */
    for (size_t i = 0; i < kv; i += (size_t)d) L->keys[i + 1] += 3.0f * rng_uniform(&r, 0, 1);
    for (size_t i = 0; i < q; i += (size_t)d) L->queries[i + 1] += 1.5f;
    for (int i = 0; i < n / 10; i++) L->values[(size_t)rng_int(&r, 0, (int)kv - 1)] *= 4.0f;
    L->hidden = malloc((size_t)n * L->D * sizeof(float));
    fill_normal(&r, L->hidden, (size_t)n * L->D, 1.0f);
}

static void data_free(layer_data *L) {
    free(L->keys);
    free(L->values);
    free(L->queries);
    free(L->wo);
    free(L->hidden);
}

typedef struct setup {
    kvp_cache *cache;
    kvp_inputs *in;
} setup;

static setup setup_on(kvp_context *ctx, const layer_data *L, kvp_dtype dt, kvp_rope_layout layout) {
    setup s;
    kvp_cache_options o = {.n_layers = L->layers, .n_kv_heads = L->Hk, .head_dim = L->d,
                           .capacity = L->n + 16, .dtype = dt};
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &s.cache), KVP_OK);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, L->keys, 3, L->Hk, L->n, L->d);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, L->values, 3, L->Hk, L->n, L->d);
    ck_assert_int_eq(kvp_cache_append(s.cache, L->layer, &k, &v, 0), KVP_OK);
    ck_assert_int_eq(kvp_inputs_create(ctx, &s.in), KVP_OK);
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, L->queries, 3, L->Hq, L->n, L->d);
    ck_assert_int_eq(kvp_inputs_set_queries(s.in, &q, 0), KVP_OK);
    kvp_rope rope;
    kvp_rope_init(&rope, L->d);
    rope.layout = layout;
    ck_assert_int_eq(kvp_inputs_set_rope(s.in, &rope), KVP_OK);
    kvp_tensor w = kvp_tensor_host(KVP_DTYPE_F32, L->wo, 2, L->D, L->Hq * L->d, 1);
    ck_assert_int_eq(kvp_inputs_set_wo(s.in, &w), KVP_OK);
    kvp_tensor h = kvp_tensor_host(KVP_DTYPE_F32, L->hidden, 2, L->n, L->D, 1);
    ck_assert_int_eq(kvp_inputs_set_hidden(s.in, &h, 0), KVP_OK);
    return s;
}

static void setup_free(setup *s) {
    kvp_inputs_destroy(s->in);
    kvp_cache_destroy(s->cache);
}

/* kept[j * span + t] = 1 when the token at position t survives in head j (positions < span). */
static unsigned char *kept_span(const kvp_cache *c, const layer_data *L, int span, int64_t *total) {
    unsigned char *kept = calloc((size_t)L->Hk * span, 1);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)span);
    int64_t len[64];
    ck_assert_int_eq(kvp_cache_get_lengths(c, L->layer, len), KVP_OK);
    *total = 0;
    for (int j = 0; j < L->Hk; j++) {
        ck_assert_int_eq(kvp_cache_read(c, L->layer, j, NULL, NULL, pos), KVP_OK);
        for (int64_t t = 0; t < len[j]; t++) {
            ck_assert(t == 0 || pos[t] > pos[t - 1]); /* entries stay in position order */
            ck_assert(pos[t] >= 0 && pos[t] < span);
            kept[(size_t)j * span + pos[t]] = 1;
        }
        *total += len[j];
    }
    free(pos);
    return kept;
}

static unsigned char *kept_of(const kvp_cache *c, const layer_data *L, int64_t *total) {
    return kept_span(c, L, L->n, total);
}

/* The kept tokens of a layer whose positions were rewritten (key re-rotation), found by their
 * values, which the press does not change: `before` holds each head's values before. */
static unsigned char *kept_by_values(const kvp_cache *c, const layer_data *L, const char *before,
                                     size_t row_bytes, int64_t *total) {
    unsigned char *kept = calloc((size_t)L->Hk * L->n, 1);
    char *now = malloc(row_bytes * (size_t)L->n);
    int64_t len[64];
    ck_assert_int_eq(kvp_cache_get_lengths(c, L->layer, len), KVP_OK);
    *total = 0;
    for (int j = 0; j < L->Hk; j++) {
        ck_assert_int_eq(kvp_cache_read(c, L->layer, j, NULL, now, NULL), KVP_OK);
        const char *head = before + (size_t)j * L->n * row_bytes;
        for (int64_t t = 0, u = 0; t < len[j]; t++, u++) { /* both in position order */
            while (u < L->n && memcmp(now + t * row_bytes, head + u * row_bytes, row_bytes)) u++;
            ck_assert_msg(u < L->n, "a kept value row is not one of the layer's");
            kept[(size_t)j * L->n + u] = 1;
        }
        *total += len[j];
    }
    free(now);
    return kept;
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* The golden rule (golden/README.md) over `rows` rows of reference scores. */
static void check_sets(const float *ref, const unsigned char *mine, int rows, int n, int64_t kept,
                       const char *label) {
    size_t count = (size_t)rows * n;
    float *sorted = malloc(count * sizeof(float));
    double maxabs = 0;
    for (size_t i = 0; i < count; i++) {
        sorted[i] = ref[i];
        maxabs = fmax(maxabs, fabs(ref[i]));
    }
    qsort(sorted, count, sizeof(float), cmp_desc);
    if (kept > 0) {
        double b = sorted[kept - 1], tol = 1e-5 * maxabs + 1e-3 * fabs(b);
        for (size_t i = 0; i < count; i++) {
            ck_assert_msg(!mine[i] || ref[i] >= b - tol, "%s: kept entry %zu scores %g < %g", label, i,
                          ref[i], b);
            ck_assert_msg(mine[i] || ref[i] <= b + tol, "%s: evicted entry %zu scores %g > %g", label,
                          i, ref[i], b);
        }
    }
    free(sorted);
}

/* Scores: NMSE over finite non-MAX entries, and the same MAX (CriticalKV/AdaKV) positions. */
static void check_scores(const float *dev, const float *ref, size_t count, const char *label) {
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        ck_assert_msg((dev[i] == FLT_MAX) == (ref[i] == FLT_MAX), "%s: MAX entry %zu differs", label, i);
        a[i] = dev[i] == FLT_MAX ? 0 : dev[i];
        b[i] = ref[i] == FLT_MAX ? 0 : ref[i];
    }
    double e = nmse(a, b, count);
    ck_assert_msg(e <= 1e-8, "%s: score NMSE %.3g", label, e);
    free(a);
    free(b);
}

static void attention_after(kvp_context *ctx, const setup *s, const layer_data *L, float *out) {
    int m = 3;
    float *q = malloc(sizeof(float) * (size_t)L->Hq * m * L->d);
    rng r = rng_for("attention-after", L->n);
    fill_normal(&r, q, (size_t)L->Hq * m * L->d, 1.0f);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, L->Hq, m, L->d);
    kvp_tensor ot = kvp_tensor_host(KVP_DTYPE_F32, out, 3, L->Hq, m, L->d);
    ck_assert_int_eq(kvp_attention(ctx, s->cache, L->layer, &qt, L->n + 10, 1.0f / sqrtf((float)L->d), &ot),
                     KVP_OK);
    free(q);
}

/* How a case's selection is compared with the CPU's: SCORED by the golden rule against the
 * reference scores; HEADWISE and AGREE (wrappers whose selection is not a per-head top-k of
 * the reported score) by agreement of the kept entries (>= 99%); EXACT identical sets.
 * ROTATED (keys re-rotated, positions rewritten): the kept tokens are found by their values,
 * then compared as SCORED; ROTATED_AGREE the same, compared as AGREE (finch per chunk). */
enum { SCORED = 0, HEADWISE = 1, EXACT = 2, AGREE = 3, ROTATED = 4, ROTATED_AGREE = 5 };

static const struct press_case {
    const char *spec;
    int headwise;
} presses[] = {
    {"knorm(compression_ratio=0.5)", 0},
    {"random(compression_ratio=0.5, seed=7)", 0},
    {"streaming_llm(compression_ratio=0.5)", 0},
    {"snapkv(compression_ratio=0.5, window_size=32)", 0},
    {"pyramidkv(compression_ratio=0.5, window_size=32)", 0},
    {"tova(compression_ratio=0.5)", 0},
    {"observed_attention(compression_ratio=0.5)", 0},
    {"expected_attention(compression_ratio=0.5)", 0},
    {"expected_attention(compression_ratio=0.25, n_future_positions=128, n_sink=2, "
     "use_covariance=false, epsilon=0.01)", 0},
    {"keydiff(compression_ratio=0.75)", 0},
    {"lagkv(compression_ratio=0.5, lag_size=64)", 0},
    {"criticalkv(press=snapkv(window_size=32), compression_ratio=0.5)", 0},
    {"criticalkv(press=expected_attention(use_vnorm=false), compression_ratio=0.75)", 0},
    {"adakv(press=expected_attention(epsilon=0.01), compression_ratio=0.5)", HEADWISE},
    {"adakv(press=knorm, compression_ratio=0.75, alpha_safeguard=0.1)", HEADWISE},
    {"chunkkv(press=snapkv(window_size=32), compression_ratio=0.5)", EXACT},
    {"composed(presses=[knorm(compression_ratio=0.25), keydiff(compression_ratio=0.5)])", AGREE},
    {"composed(presses=[snapkv(compression_ratio=0.25, window_size=16), "
     "adakv(press=knorm, compression_ratio=0.5)])", AGREE},
    {"per_layer_compression(press=knorm, compression_ratios=[0.1, 0.6, 0.3])", SCORED},
    {"key_rerotation(press=snapkv(window_size=32), compression_ratio=0.5)", ROTATED},
    {"chunk(press=knorm, compression_ratio=0.5, chunk_length=100)", AGREE},
    {"chunk(press=expected_attention, compression_ratio=0.75, chunk_length=128)", AGREE},
    {"chunk(press=snapkv(window_size=16), compression_ratio=0.5, chunk_length=128, "
     "kvpress_positions=false)", AGREE},
    {"chunk(press=tova, compression_ratio=0.5, chunk_length=100)", AGREE},
    {"block(press=keydiff, compression_ratio=0.5, block_size=64)", AGREE},
    {"critical_adakv(press=snapkv(window_size=32), compression_ratio=0.5)", HEADWISE},
    {"dms(press=keydiff, threshold=-0.05, sliding_window_size=64)", AGREE},
    {"merging(press=knorm, compression_ratio=0.5)", SCORED},
    {"merging(press=expected_attention(epsilon=0.01), compression_ratio=0.75, "
     "similarity_threshold=0.05, merge_fraction=0.5)", SCORED},
    {"prefill_decoding(prefilling_press=keydiff(compression_ratio=0.5), decoding_press=none)", AGREE},
    {"finch(compression_ratio=0.5, window_size=32)", ROTATED},
    {"finch(compression_ratio=0.25, window_size=16, normalize_scores=false, rerotate_keys=false)",
     SCORED},
    {"finch(compression_ratio=0.5, window_size=32, chunk_length=100)", ROTATED_AGREE},
    {"finch(compression_ratio=0.75, window_size=16, chunk_length=100, rerotate_keys=false)", AGREE},
};
#define N_PRESSES ((int)(sizeof presses / sizeof presses[0]))

static const struct shape {
    int Hq, Hk, d, n;
    kvp_dtype dt;
} shapes[] = {
    {8, 4, 32, 384, KVP_DTYPE_F32},
    {8, 2, 64, 700, KVP_DTYPE_BF16},
    {4, 4, 128, 300, KVP_DTYPE_F16},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* Synthetic artefacts of the presses that need one (the published tensor layouts). */
enum { ART_NONE, ART_QUERY_STATS, ART_Q_FILTERS, ART_KVZAP_LINEAR, ART_KVZAP_MLP };

static kvp_artefact *make_artefact(int kind, const layer_data *L, const char *name) {
    rng r = rng_for(name, kind);
    st_tensor t[16];
    float *buf[16];
    int n = 0;
#define ADD(nm, nd, a, b, c, d_, scale)                                                      \
    do {                                                                                     \
        int64_t sh_[4] = {a, b, c, d_};                                                      \
        size_t cnt_ = 1;                                                                     \
        for (int k_ = 0; k_ < nd; k_++) cnt_ *= (size_t)sh_[k_];                             \
        buf[n] = malloc(cnt_ * sizeof(float));                                               \
        fill_normal(&r, buf[n], cnt_, scale);                                                \
        t[n] = (st_tensor){nm, nd, {a, b, c, d_}, buf[n]};                                   \
        n++;                                                                                 \
    } while (0)
    static char names[16][32];
    if (kind == ART_QUERY_STATS) {
        ADD("query_mean", 3, L->layers, L->Hq, L->d, 1, 1.0f);
        ADD("query_cov", 4, L->layers, L->Hq, L->d, L->d, 0.05f);
        /* a covariance: symmetric, identity plus small noise */
        float *c = buf[1];
        for (int q = 0; q < L->layers * L->Hq; q++)
            for (int a = 0; a < L->d; a++)
                for (int b = 0; b <= a; b++) {
                    float v = a == b ? 1.0f : c[((size_t)q * L->d + a) * L->d + b];
                    c[((size_t)q * L->d + a) * L->d + b] = c[((size_t)q * L->d + b) * L->d + a] = v;
                }
    } else if (kind == ART_Q_FILTERS) {
        ADD("q_filters", 3, L->layers, L->Hk, L->d, 1, 1.0f);
    } else {
        int hidden = 24;
        for (int l = 0; l < L->layers; l++) {
            if (kind == ART_KVZAP_LINEAR) {
                snprintf(names[2 * l], 32, "layers.%d.weight", l);
                snprintf(names[2 * l + 1], 32, "layers.%d.bias", l);
                ADD(names[2 * l], 2, L->Hk, L->D, 1, 1, 0.2f);
                ADD(names[2 * l + 1], 1, L->Hk, 1, 1, 1, 0.1f);
            } else {
                snprintf(names[4 * l], 32, "layers.%d.0.weight", l);
                snprintf(names[4 * l + 1], 32, "layers.%d.0.bias", l);
                snprintf(names[4 * l + 2], 32, "layers.%d.2.weight", l);
                snprintf(names[4 * l + 3], 32, "layers.%d.2.bias", l);
                ADD(names[4 * l], 2, hidden, L->D, 1, 1, 0.2f);
                ADD(names[4 * l + 1], 1, hidden, 1, 1, 1, 0.1f);
                ADD(names[4 * l + 2], 2, L->Hk, hidden, 1, 1, 0.3f);
                ADD(names[4 * l + 3], 1, L->Hk, 1, 1, 1, 0.1f);
            }
        }
    }
#undef ADD
    kvp_artefact *a = st_artefact(t, n, NULL);
    for (int i = 0; i < n; i++) free(buf[i]);
    return a;
}

/* One press on one shape, on the device and on the CPU: scores, kept sets, attention after;
 * a structural press (no score) must leave identical caches. */
static void check_press(const char *spec, int headwise, int artefact, int structural,
                        const struct shape *sh, int index) {
    char label[256];
    snprintf(label, sizeof label, "%s [%s, n=%d, d=%d] on %s", spec, kvp_dtype_name(sh->dt), sh->n,
             sh->d, H.backend);
    layer_data L;
    data_make(&L, spec, index, sh->Hq, sh->Hk, sh->d, sh->n);
    setup dev = setup_on(H.ctx, &L, sh->dt, KVP_ROPE_HALF_SPLIT);
    setup ref = setup_on(H.ref, &L, sh->dt, KVP_ROPE_HALF_SPLIT);
    kvp_press *p;
    ck_assert_int_eq(kvp_press_parse(spec, &p), KVP_OK);
    kvp_artefact *art = artefact ? make_artefact(artefact, &L, spec) : NULL;
    if (art) CK_OK(kvp_press_set_artefact(p, art));
    size_t count = (size_t)L.Hk * L.n;
    if (structural) {
        kvp_status st = kvp_compress(H.ctx, p, dev.cache, L.layer, dev.in);
        ck_assert_msg(st == KVP_OK, "%s: compress: %s", label, kvp_context_last_error(H.ctx));
        CK_OK(kvp_compress(H.ref, p, ref.cache, L.layer, ref.in));
        ck_assert_msg(cache_checksum(dev.cache) == cache_checksum(ref.cache), "%s: caches differ",
                      label);
        kvp_press_destroy(p);
        kvp_artefact_destroy(art);
        setup_free(&dev);
        setup_free(&ref);
        data_free(&L);
        return;
    }
    float *s_dev = malloc(count * sizeof(float)), *s_ref = malloc(count * sizeof(float));
    kvp_status st = kvp_press_score(H.ctx, p, dev.cache, L.layer, dev.in, s_dev);
    if (st != KVP_ERR_UNSUPPORTED || headwise != AGREE) { /* AGREE wrappers may have none */
        ck_assert_msg(st == KVP_OK, "%s: score: %s", label, kvp_context_last_error(H.ctx));
        ck_assert_int_eq(kvp_press_score(H.ref, p, ref.cache, L.layer, ref.in, s_ref), KVP_OK);
        check_scores(s_dev, s_ref, count, label);
    }

    /* The reference scores of the selection: the wrapper's inner press for head-wise ones. */
    size_t row_bytes = (size_t)L.d * kvp_dtype_size(sh->dt);
    char *before = malloc(row_bytes * count);
    for (int j = 0; j < L.Hk; j++)
        CK_OK(kvp_cache_read(ref.cache, L.layer, j, NULL, before + (size_t)j * L.n * row_bytes, NULL));
    kvp_press_reset(p);
    st = kvp_compress(H.ctx, p, dev.cache, L.layer, dev.in);
    ck_assert_msg(st == KVP_OK, "%s: compress: %s", label, kvp_context_last_error(H.ctx));
    kvp_press_reset(p);
    ck_assert_int_eq(kvp_compress(H.ref, p, ref.cache, L.layer, ref.in), KVP_OK);
    int64_t total_dev, total_ref;
    int rotated = headwise == ROTATED || headwise == ROTATED_AGREE;
    int by_agreement = headwise == AGREE || headwise == ROTATED_AGREE;
    unsigned char *k_dev = rotated ? kept_by_values(dev.cache, &L, before, row_bytes, &total_dev)
                                   : kept_of(dev.cache, &L, &total_dev);
    unsigned char *k_ref = rotated ? kept_by_values(ref.cache, &L, before, row_bytes, &total_ref)
                                   : kept_of(ref.cache, &L, &total_ref);
    free(before);
    int64_t per_head[64];
    kvp_cache_get_lengths(ref.cache, L.layer, per_head);
    if (by_agreement) {
        /* a threshold or a per-chunk selection may differ at near-ties only */
        size_t both = 0;
        for (size_t i = 0; i < count; i++) both += k_dev[i] && k_ref[i];
        ck_assert_msg((double)both >= 0.99 * (double)total_ref && total_dev >= 0.99 * total_ref &&
                          total_ref >= 0.99 * total_dev,
                      "%s: %zu of %lld kept entries agree (%lld kept)", label, both,
                      (long long)total_ref, (long long)total_dev);
    } else {
        ck_assert_msg(total_dev == total_ref, "%s: kept %lld entries, reference %lld", label,
                      (long long)total_dev, (long long)total_ref);
    }
    if (by_agreement) {
    } else if (headwise == HEADWISE) {
        /* head-wise selections may only differ at near-ties across heads */
        size_t agree = 0;
        for (size_t i = 0; i < count; i++) agree += k_dev[i] && k_ref[i];
        ck_assert_msg((double)agree >= 0.99 * (double)total_ref, "%s: %zu of %lld kept entries agree",
                      label, agree, (long long)total_ref);
    } else if (headwise == EXACT || strncmp(spec, "random", 6) == 0 ||
               strncmp(spec, "streaming_llm", 13) == 0) {
        ck_assert_msg(!memcmp(k_dev, k_ref, count), "%s: kept sets differ", label);
    } else {
        for (int j = 0; j < L.Hk; j++)
            check_sets(s_ref + (size_t)j * L.n, k_dev + (size_t)j * L.n, 1, L.n, per_head[j], label);
    }
    if (!memcmp(k_dev, k_ref, count)) {
        size_t out_n = (size_t)L.Hq * 3 * L.d;
        float *o_dev = malloc(out_n * sizeof(float)), *o_ref = malloc(out_n * sizeof(float));
        attention_after(H.ctx, &dev, &L, o_dev);
        attention_after(H.ref, &ref, &L, o_ref);
        double e = nmse(o_dev, o_ref, out_n);
        ck_assert_msg(e <= 1e-8, "%s: attention after compression: NMSE %.3g", label, e);
        free(o_dev);
        free(o_ref);
    }
    free(k_dev);
    free(k_ref);
    free(s_dev);
    free(s_ref);
    kvp_press_destroy(p);
    kvp_artefact_destroy(art);
    setup_free(&dev);
    setup_free(&ref);
    data_free(&L);
}

START_TEST(test_press_case) {
    const struct press_case *pc = &presses[_i / N_SHAPES];
    check_press(pc->spec, pc->headwise, ART_NONE, 0, &shapes[_i % N_SHAPES], _i);
}
END_TEST

/* The presses of issue 5 (PRESSES.md 2.11-2.22), with their artefacts. Randomised presses run
 * with a seed: both contexts draw the same sketch. */
static const struct press_case_ext {
    const char *spec;
    int artefact;
    int structural;
} presses_ext[] = {
    {"expected_attention_stats(compression_ratio=0.5)", ART_QUERY_STATS, 0},
    {"cap(compression_ratio=0.5)", ART_NONE, 0},
    {"cap(compression_ratio=0.75, tau=2, n_sink=1, n_future_positions=16)", ART_NONE, 0},
    {"qfilter(compression_ratio=0.5)", ART_Q_FILTERS, 0},
    {"cur(compression_ratio=0.5)", ART_NONE, 0},
    {"cur(compression_ratio=0.75, leverage_type=kv_avg, use_random_leverage=true, seed=3)",
     ART_NONE, 0},
    {"leverage_score(compression_ratio=0.5, seed=5)", ART_NONE, 0},
    {"leverage_score(compression_ratio=0.25, sketch_dimension=8, seed=6)", ART_NONE, 0},
    {"non_causal_attn(compression_ratio=0.5, chunk_size=100)", ART_NONE, 0},
    {"non_causal_attn(compression_ratio=0.5, kvpress_padding=false, scaled=true)", ART_NONE, 0},
    {"compactor(compression_ratio=0.5, seed=9)", ART_NONE, 0},
    {"adakv(press=compactor(seed=9), compression_ratio=0.5)", ART_NONE, 0},
    {"kvzap(compression_ratio=0.5, model_type=linear)", ART_KVZAP_LINEAR, 0},
    {"kvzap(compression_ratio=0.25)", ART_KVZAP_MLP, 0},
    {"adakv(press=kvzap, compression_ratio=0.5)", ART_KVZAP_MLP, 0}, /* artefact via the wrapper */
    {"criticalkv(press=qfilter, compression_ratio=0.5)", ART_Q_FILTERS, 0},
    {"think(key_channel_compression_ratio=0.5, window_size=16)", ART_NONE, 1},
};
#define N_PRESSES_EXT ((int)(sizeof presses_ext / sizeof presses_ext[0]))

START_TEST(test_press_case_ext) {
    const struct press_case_ext *pc = &presses_ext[_i / N_SHAPES];
    check_press(pc->spec, strncmp(pc->spec, "adakv", 5) == 0, pc->artefact, pc->structural,
                &shapes[_i % N_SHAPES], 1000 + _i);
}
END_TEST

/* Expected Attention from statistics streamed in uneven chunks equals EA from the queries. */
START_TEST(test_ea_streamed_statistics) {
    layer_data L;
    data_make(&L, "ea-stats", 0, 8, 4, 64, 500);
    setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, KVP_ROPE_HALF_SPLIT);
    kvp_press *p;
    ck_assert_int_eq(kvp_press_parse("expected_attention(compression_ratio=0.5)", &p), KVP_OK);
    size_t count = (size_t)L.Hk * L.n;
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float));
    CK_OK(kvp_press_score(H.ctx, p, s.cache, L.layer, s.in, a));
    kvp_qstats *qs;
    CK_OK(kvp_qstats_create(H.ctx, L.Hq, L.d, 4, &qs));
    int cuts[] = {0, 3, 130, 131, 377, 500}; /* the first chunk lies inside the sinks */
    float *chunk = malloc(sizeof(float) * (size_t)L.Hq * L.n * L.d);
    for (int c = 0; c + 1 < (int)(sizeof cuts / sizeof *cuts); c++) {
        int m = cuts[c + 1] - cuts[c];
        for (int h = 0; h < L.Hq; h++)
            memcpy(chunk + (size_t)h * m * L.d, L.queries + ((size_t)h * L.n + cuts[c]) * L.d,
                   sizeof(float) * (size_t)m * L.d);
        kvp_tensor t = kvp_tensor_host(KVP_DTYPE_F32, chunk, 3, L.Hq, m, L.d);
        CK_OK(kvp_qstats_add(qs, &t, cuts[c]));
    }
    int64_t cnt;
    CK_OK(kvp_qstats_get(qs, &cnt, NULL, NULL));
    ck_assert_int_eq(cnt, L.n - 4);
    kvp_inputs *in;
    CK_OK(kvp_inputs_create(H.ctx, &in));
    kvp_rope rope;
    kvp_rope_init(&rope, L.d);
    CK_OK(kvp_inputs_set_rope(in, &rope));
    CK_OK(kvp_inputs_set_query_stats(in, qs));
    CK_OK(kvp_press_score(H.ctx, p, s.cache, L.layer, in, b));
    double e = nmse(b, a, count);
    ck_assert_msg(e <= 1e-10, "streamed statistics: NMSE %.3g", e);
    /* and the mean/covariance themselves against a direct computation */
    float *mean = malloc(sizeof(float) * (size_t)L.Hq * L.d);
    float *cov = malloc(sizeof(float) * (size_t)L.Hq * L.d * L.d);
    CK_OK(kvp_qstats_get(qs, NULL, mean, cov));
    for (int h = 0; h < L.Hq; h += 3)
        for (int u = 0; u < L.d; u += 7) {
            double mu = 0, c2 = 0, mv = 0;
            for (int t = 4; t < L.n; t++) mu += L.queries[((size_t)h * L.n + t) * L.d + u];
            mu /= L.n - 4;
            for (int t = 4; t < L.n; t++) mv += L.queries[((size_t)h * L.n + t) * L.d + 5];
            mv /= L.n - 4;
            for (int t = 4; t < L.n; t++)
                c2 += (L.queries[((size_t)h * L.n + t) * L.d + u] - mu) *
                      (L.queries[((size_t)h * L.n + t) * L.d + 5] - mv);
            c2 /= L.n - 4;
            ck_assert_msg(fabs(mean[h * L.d + u] - mu) < 1e-5, "mean");
            ck_assert_msg(fabs(cov[((size_t)h * L.d + u) * L.d + 5] - c2) < 1e-4, "covariance");
        }
    free(mean);
    free(cov);
    free(chunk);
    free(a);
    free(b);
    kvp_inputs_destroy(in);
    kvp_qstats_destroy(qs);
    kvp_press_destroy(p);
    setup_free(&s);
    data_free(&L);
}
END_TEST

/* Observed attention / SnapKV from given probabilities equal the recomputed ones. */
START_TEST(test_given_probabilities) {
    layer_data L;
    data_make(&L, "probs", 0, 4, 2, 32, 120);
    setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, KVP_ROPE_HALF_SPLIT);
    /* causal softmax probabilities of every query, computed here in double */
    size_t pn = (size_t)L.Hq * L.n * L.n;
    float *probs = calloc(pn, sizeof(float));
    float *qr = malloc(sizeof(float) * (size_t)L.Hq * L.n * L.d);
    kvp_rope rope;
    kvp_rope_init(&rope, L.d);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, L.queries, 3, L.Hq, L.n, L.d);
    kvp_tensor rt = kvp_tensor_host(KVP_DTYPE_F32, qr, 3, L.Hq, L.n, L.d);
    CK_OK(kvp_rope_apply(H.ctx, &rope, &qt, 0, &rt));
    for (int i = 0; i < L.Hq; i++)
        for (int a = 0; a < L.n; a++) {
            int j = i / (L.Hq / L.Hk);
            double z[200], mx = -1e300, sum = 0;
            for (int t = 0; t <= a; t++) {
                double dot = 0;
                for (int c = 0; c < L.d; c++)
                    dot += (double)qr[((size_t)i * L.n + a) * L.d + c] *
                           L.keys[((size_t)j * L.n + t) * L.d + c];
                z[t] = dot / sqrt((double)L.d);
                mx = fmax(mx, z[t]);
            }
            for (int t = 0; t <= a; t++) sum += exp(z[t] - mx);
            for (int t = 0; t <= a; t++)
                probs[((size_t)i * L.n + a) * L.n + t] = (float)(exp(z[t] - mx) / sum);
        }
    const char *specs[] = {"observed_attention(compression_ratio=0.5)",
                           "snapkv(compression_ratio=0.5, window_size=16)", "tova(compression_ratio=0.5)"};
    size_t count = (size_t)L.Hk * L.n;
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float));
    kvp_inputs *given;
    CK_OK(kvp_inputs_create(H.ctx, &given));
    kvp_tensor pt = kvp_tensor_host(KVP_DTYPE_F32, probs, 3, L.Hq, L.n, L.n);
    CK_OK(kvp_inputs_set_attention(given, &pt));
    for (int k = 0; k < 3; k++) {
        kvp_press *p;
        CK_OK(kvp_press_parse(specs[k], &p));
        CK_OK(kvp_press_score(H.ctx, p, s.cache, L.layer, s.in, a));
        CK_OK(kvp_press_score(H.ctx, p, s.cache, L.layer, given, b));
        double e = nmse(b, a, count);
        ck_assert_msg(e <= 1e-9, "%s: given vs recomputed probabilities: NMSE %.3g", specs[k], e);
        kvp_press_destroy(p);
    }
    kvp_inputs_destroy(given);
    free(a);
    free(b);
    free(qr);
    free(probs);
    setup_free(&s);
    data_free(&L);
}
END_TEST

/* The two RoPE layouts describe the same model up to a permutation of the head channels:
 * presses that rotate queries must give the same scores on permuted data. */
START_TEST(test_rope_layouts_agree) {
    layer_data L, P;
    data_make(&L, "layouts", 0, 8, 4, 16, 200);
    data_make(&P, "layouts", 0, 8, 4, 16, 200);
    int d = L.d, half = d / 2;
    /* half-split channel f pairs with f + d/2; interleaved 2f with 2f + 1 */
    for (size_t row = 0; row < (size_t)L.Hk * L.n; row++)
        for (int f = 0; f < half; f++) {
            P.keys[row * d + 2 * f] = L.keys[row * d + f];
            P.keys[row * d + 2 * f + 1] = L.keys[row * d + f + half];
        }
    for (size_t row = 0; row < (size_t)L.Hq * L.n; row++)
        for (int f = 0; f < half; f++) {
            P.queries[row * d + 2 * f] = L.queries[row * d + f];
            P.queries[row * d + 2 * f + 1] = L.queries[row * d + f + half];
        }
    setup a = setup_on(H.ctx, &L, KVP_DTYPE_F32, KVP_ROPE_HALF_SPLIT);
    setup b = setup_on(H.ctx, &P, KVP_DTYPE_F32, KVP_ROPE_INTERLEAVED);
    const char *specs[] = {"snapkv(compression_ratio=0.5, window_size=16)", "tova(compression_ratio=0.5)",
                           "expected_attention(compression_ratio=0.5)"};
    size_t count = (size_t)L.Hk * L.n;
    float *sa = malloc(count * sizeof(float)), *sb = malloc(count * sizeof(float));
    for (int k = 0; k < 3; k++) {
        kvp_press *p;
        CK_OK(kvp_press_parse(specs[k], &p));
        CK_OK(kvp_press_score(H.ctx, p, a.cache, L.layer, a.in, sa));
        CK_OK(kvp_press_score(H.ctx, p, b.cache, L.layer, b.in, sb));
        double e = nmse(sb, sa, count);
        ck_assert_msg(e <= 1e-10, "%s: layouts disagree: NMSE %.3g", specs[k], e);
        kvp_press_destroy(p);
    }
    free(sa);
    free(sb);
    setup_free(&a);
    setup_free(&b);
    data_free(&L);
    data_free(&P);
}
END_TEST

/* A head-wise press leaves a ragged layer; repack gives the memory back and attention over the
 * ragged layer matches the CPU's. */
START_TEST(test_ragged_memory) {
    layer_data L;
    data_make(&L, "ragged", 0, 8, 4, 32, 400);
    setup s = setup_on(H.ctx, &L, KVP_DTYPE_BF16, KVP_ROPE_HALF_SPLIT);
    setup r = setup_on(H.ref, &L, KVP_DTYPE_BF16, KVP_ROPE_HALF_SPLIT);
    kvp_press *p;
    CK_OK(kvp_press_parse("adakv(press=expected_attention(epsilon=0.01), compression_ratio=0.75)", &p));
    kvp_cache_memory before, after;
    CK_OK(kvp_cache_get_memory(s.cache, &before));
    CK_OK(kvp_compress(H.ctx, p, s.cache, L.layer, s.in));
    ck_assert_int_eq(kvp_compress(H.ref, p, r.cache, L.layer, r.in), KVP_OK);
    int64_t len[8];
    CK_OK(kvp_cache_get_lengths(s.cache, L.layer, len));
    int64_t total = 0, mn = len[0], mx = len[0];
    for (int j = 0; j < L.Hk; j++) {
        total += len[j];
        mn = len[j] < mn ? len[j] : mn;
        mx = len[j] > mx ? len[j] : mx;
    }
    ck_assert_int_eq(total, L.Hk * kvp_n_keep(L.n, 0.75));
    ck_assert_msg(mn < mx, "adakv should leave heads of different lengths");
    ck_assert_int_ge(mn, (int64_t)(kvp_n_keep(L.n, 0.75) * 0.2)); /* the safeguard */
    uint64_t sum = cache_checksum(s.cache);
    CK_OK(kvp_cache_repack(s.cache, L.layer, 0));
    ck_assert_uint_eq(cache_checksum(s.cache), sum);
    CK_OK(kvp_cache_get_memory(s.cache, &after));
    ck_assert_uint_lt(after.allocated_bytes, before.allocated_bytes);
    ck_assert_uint_eq(after.entries, (uint64_t)total);
    CK_OK(kvp_cache_repack(r.cache, L.layer, 0));
    size_t out_n = (size_t)L.Hq * 3 * L.d;
    float *o_dev = malloc(out_n * sizeof(float)), *o_ref = malloc(out_n * sizeof(float));
    attention_after(H.ctx, &s, &L, o_dev);
    attention_after(H.ref, &r, &L, o_ref);
    int64_t total_r;
    unsigned char *kd = kept_of(s.cache, &L, &total), *kr = kept_of(r.cache, &L, &total_r);
    if (!memcmp(kd, kr, (size_t)L.Hk * L.n)) {
        double e = nmse(o_dev, o_ref, out_n);
        ck_assert_msg(e <= 1e-8, "ragged attention: NMSE %.3g", e);
    }
    free(kd);
    free(kr);
    free(o_dev);
    free(o_ref);
    kvp_press_destroy(p);
    setup_free(&s);
    setup_free(&r);
    data_free(&L);
}
END_TEST

/* The decoding press: after each compression the layer holds target_size tokens, and between
 * compressions it grows by one token per step (kvpress: between target and target+interval-1). */
START_TEST(test_decoding_press) {
    layer_data L;
    data_make(&L, "decoding", 0, 8, 4, 32, 300);
    const char *specs[] = {"decoding(press=knorm, compression_interval=8, target_size=256)",
                           "decoding(press=snapkv(window_size=4), compression_interval=8, "
                           "target_size=256, query_buffer_size=16)"};
    for (int k = 0; k < 2; k++) {
        setup s = setup_on(H.ctx, &L, KVP_DTYPE_F32, KVP_ROPE_HALF_SPLIT);
        setup r = setup_on(H.ref, &L, KVP_DTYPE_F32, KVP_ROPE_HALF_SPLIT);
        kvp_press *p, *pr; /* the press keeps state on its context: one per context */
        CK_OK(kvp_press_parse(specs[k], &p));
        CK_OK(kvp_press_parse(specs[k], &pr));
        ck_assert_int_eq(kvp_compress(H.ctx, p, s.cache, L.layer, s.in), KVP_ERR_INVALID_ARG);
        rng g = rng_for(specs[k], 0);
        for (int step = 0; step < 20; step++) {
            /* a decode step: one new token at position n + step */
            float kv[4 * 32], q[8 * 32];
            fill_normal(&g, kv, 4 * 32, 1.0f);
            fill_normal(&g, q, 8 * 32, 1.0f);
            kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, kv, 3, 4, 1, 32);
            kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, 8, 1, 32);
            /* triggers at the 8th and 16th step: 308 -> 256, 264 -> 256 */
            int want_done = step == 7 || step == 15;
            int64_t want_len = want_done ? 256 : step < 7 ? L.n + step + 1
                                             : step < 15 ? 256 + step - 7 : 256 + step - 15;
            for (int c = 0; c < 2; c++) {
                kvp_context *ctx = c ? H.ref : H.ctx;
                setup *st = c ? &r : &s;
                if (step == 0) CK_OK(kvp_cache_repack(st->cache, L.layer, 64));
                CK_OK(kvp_cache_append(st->cache, L.layer, &kt, &kt, L.n + step));
                kvp_inputs_reset(st->in);
                kvp_rope rope;
                kvp_rope_init(&rope, 32);
                CK_OK(kvp_inputs_set_rope(st->in, &rope));
                CK_OK(kvp_inputs_set_queries(st->in, &qt, L.n + step));
                int done = -1;
                kvp_status rc = kvp_decode_step(ctx, c ? pr : p, st->cache, L.layer, st->in, &done);
                ck_assert_msg(rc == KVP_OK, "%s: %s", specs[k], kvp_context_last_error(ctx));
                ck_assert_int_eq(done, want_done);
                int64_t len[4];
                CK_OK(kvp_cache_get_lengths(st->cache, L.layer, len));
                for (int j = 0; j < 4; j++) ck_assert_int_eq(len[j], want_len);
            }
        }
        /* a press used on one context refuses another */
        ck_assert_int_eq(kvp_decode_step(H.ref, p, r.cache, L.layer, r.in, NULL), KVP_ERR_INVALID_ARG);
        int64_t td, tr;
        unsigned char *kd = kept_span(s.cache, &L, L.n + 20, &td), *kr = kept_span(r.cache, &L, L.n + 20, &tr);
        ck_assert_int_eq(td, tr);
        ck_assert(!memcmp(kd, kr, (size_t)L.Hk * (L.n + 20)));
        free(kd);
        free(kr);
        kvp_press_destroy(p);
        kvp_press_destroy(pr);
        setup_free(&s);
        setup_free(&r);
    }
    data_free(&L);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("presses");
    TCase *tc = tcase_create("case table");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_press_case, 0, N_PRESSES * N_SHAPES);
    tcase_add_loop_test(tc, test_press_case_ext, 0, N_PRESSES_EXT * N_SHAPES);
    suite_add_tcase(s, tc);
    TCase *x = tcase_create("cross-checks");
    tcase_set_timeout(x, 600);
    tcase_add_test(x, test_ea_streamed_statistics);
    tcase_add_test(x, test_given_probabilities);
    tcase_add_test(x, test_rope_layouts_agree);
    tcase_add_test(x, test_ragged_memory);
    tcase_add_test(x, test_decoding_press);
    suite_add_tcase(s, x);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
