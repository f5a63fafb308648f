/*
 * Properties of the scorer presses of issue 5 on the backend under test, computed here
 * independently (in double) from their definitions in PRESSES.md: KVzap, QFilter, Cap,
 * NonCausalAttn (both paddings) and ThinK by hand; Expected Attention from offline statistics
 * equals Expected Attention on kvp_qstats_set; leverage scores are exact when the sketch spans
 * the keys, random sketches behave as documented (seeds, fresh draws, their distribution);
 * Compactor's protected tokens; choice parameters and kvp_qstats_set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/presses/press_impl.h"
#include "harness.h"

/* A one-layer f32 cache of n tokens with keys, values, pre-RoPE queries, hidden states. */
typedef struct scene {
    int Hq, Hk, d, n, D;
    float *k, *v, *q, *h;
    kvp_cache *cache;
    kvp_inputs *in;
} scene;

static void scene_make(scene *s, const char *name, int Hq, int Hk, int d, int n) {
    memset(s, 0, sizeof *s);
    s->Hq = Hq, s->Hk = Hk, s->d = d, s->n = n, s->D = 24;
    rng r = rng_for(name, n);
    s->k = malloc(sizeof(float) * (size_t)Hk * n * d);
    s->v = malloc(sizeof(float) * (size_t)Hk * n * d);
    s->q = malloc(sizeof(float) * (size_t)Hq * n * d);
    s->h = malloc(sizeof(float) * (size_t)n * s->D);
    fill_normal(&r, s->k, (size_t)Hk * n * d, 1.0f);
    fill_normal(&r, s->v, (size_t)Hk * n * d, 1.0f);
    fill_normal(&r, s->q, (size_t)Hq * n * d, 1.0f);
    fill_normal(&r, s->h, (size_t)n * s->D, 1.0f);
    for (size_t i = 0; i < (size_t)Hk * n * d; i += (size_t)d * 7) s->k[i] += 4.0f; /* outliers */
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = Hk, .head_dim = d, .capacity = n,
                           .dtype = KVP_DTYPE_F32};
    CK_OK(kvp_cache_create(H.ctx, &o, &s->cache));
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, s->k, 3, Hk, n, d);
    kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, s->v, 3, Hk, n, d);
    CK_OK(kvp_cache_append(s->cache, 0, &kt, &vt, 0));
    CK_OK(kvp_inputs_create(H.ctx, &s->in));
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, s->q, 3, Hq, n, d);
    CK_OK(kvp_inputs_set_queries(s->in, &qt, 0));
    kvp_tensor ht = kvp_tensor_host(KVP_DTYPE_F32, s->h, 2, n, s->D, 1);
    CK_OK(kvp_inputs_set_hidden(s->in, &ht, 0));
    kvp_rope rope;
    kvp_rope_init(&rope, d);
    CK_OK(kvp_inputs_set_rope(s->in, &rope));
}

/* Replaces the layer's keys (the cache is rebuilt with them and the same values). */
static void scene_set_keys(scene *s, const float *keys) {
    kvp_cache_destroy(s->cache);
    memcpy(s->k, keys, sizeof(float) * (size_t)s->Hk * s->n * s->d);
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = s->Hk, .head_dim = s->d, .capacity = s->n,
                           .dtype = KVP_DTYPE_F32};
    CK_OK(kvp_cache_create(H.ctx, &o, &s->cache));
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, s->k, 3, s->Hk, s->n, s->d);
    kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, s->v, 3, s->Hk, s->n, s->d);
    CK_OK(kvp_cache_append(s->cache, 0, &kt, &vt, 0));
}

static void scene_free(scene *s) {
    kvp_inputs_destroy(s->in);
    kvp_cache_destroy(s->cache);
    free(s->k);
    free(s->v);
    free(s->q);
    free(s->h);
}

static float *scores_of(scene *s, const char *spec, kvp_artefact *art) {
    kvp_press *p;
    ck_assert_msg(kvp_press_parse(spec, &p) == KVP_OK, "%s: %s", spec, kvp_last_error());
    if (art) CK_OK(kvp_press_set_artefact(p, art));
    float *out = malloc(sizeof(float) * (size_t)s->Hk * s->n);
    kvp_status st = kvp_press_score(H.ctx, p, s->cache, 0, s->in, out);
    ck_assert_msg(st == KVP_OK, "%s: %s", spec, kvp_context_last_error(H.ctx));
    kvp_press_destroy(p);
    return out;
}

static void expect_close(const float *got, const double *want, size_t n, double tol,
                         const char *what) {
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol * (scale + fabs(want[i])),
                      "%s: entry %zu: %.8g, expected %.8g", what, i, got[i], want[i]);
}

static double dotd(const float *a, const float *b, int d) {
    double s = 0;
    for (int c = 0; c < d; c++) s += (double)a[c] * b[c];
    return s;
}

/* Post-RoPE copy of queries [Hq, n, d] (positions 0..n-1) by the library's rope. */
static float *rotated_queries(const scene *s) {
    float *r = malloc(sizeof(float) * (size_t)s->Hq * s->n * s->d);
    kvp_rope rope;
    kvp_rope_init(&rope, s->d);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, s->q, 3, s->Hq, s->n, s->d);
    kvp_tensor rt = kvp_tensor_host(KVP_DTYPE_F32, r, 3, s->Hq, s->n, s->d);
    CK_OK(kvp_rope_apply(H.ref, &rope, &qt, 0, &rt));
    return r;
}

/* ---- artefact presses by hand ------------------------------------------------------------ */

START_TEST(test_kvzap_by_hand) {
    scene s;
    scene_make(&s, "kvzap", 4, 2, 8, 50);
    rng r = rng_for("kvzap-weights", 0);
    int hid = 5;
    float w1[5 * 24], b1[5], w2[2 * 5], b2[2], wl[2 * 24], bl[2];
    fill_normal(&r, w1, 5 * 24, 0.3f);
    fill_normal(&r, b1, 5, 0.3f);
    fill_normal(&r, w2, 10, 0.5f);
    fill_normal(&r, b2, 2, 0.1f);
    fill_normal(&r, wl, 48, 0.3f);
    fill_normal(&r, bl, 2, 0.1f);
    st_tensor mlp[] = {{"layers.0.0.weight", 2, {hid, 24}, w1}, {"layers.0.0.bias", 1, {hid}, b1},
                       {"layers.0.2.weight", 2, {2, hid}, w2}, {"layers.0.2.bias", 1, {2}, b2}};
    st_tensor lin[] = {{"layers.0.weight", 2, {2, 24}, wl}, {"layers.0.bias", 1, {2}, bl}};
    kvp_artefact *am = st_artefact(mlp, 4, NULL), *al = st_artefact(lin, 2, NULL);
    float *sm = scores_of(&s, "kvzap", am), *sl = scores_of(&s, "kvzap(model_type=linear)", al);
    double *wm = malloc(sizeof(double) * 2 * 50), *wlin = malloc(sizeof(double) * 2 * 50);
    for (int t = 0; t < 50; t++) {
        const float *h = s.h + (size_t)t * 24;
        double mid[5];
        for (int u = 0; u < hid; u++) {
            double z = dotd(w1 + u * 24, h, 24) + b1[u];
            mid[u] = 0.5 * z * (1 + erf(z / sqrt(2.0)));
        }
        for (int j = 0; j < 2; j++) {
            double o = b2[j];
            for (int u = 0; u < hid; u++) o += w2[j * hid + u] * mid[u];
            wm[j * 50 + t] = o;
            wlin[j * 50 + t] = dotd(wl + j * 24, h, 24) + bl[j];
        }
    }
    expect_close(sm, wm, 100, 1e-5, "kvzap mlp");
    expect_close(sl, wlin, 100, 1e-5, "kvzap linear");
    free(sm), free(sl), free(wm), free(wlin);
    kvp_artefact_destroy(am);
    kvp_artefact_destroy(al);
    scene_free(&s);
}
END_TEST

START_TEST(test_qfilter_by_hand) {
    scene s;
    scene_make(&s, "qfilter", 4, 2, 16, 64);
    rng r = rng_for("qfilter-filters", 0);
    float f[3 * 2 * 16];
    fill_normal(&r, f, 96, 1.0f);
    st_tensor t[] = {{"q_filters", 3, {3, 2, 16}, f}};
    kvp_artefact *a = st_artefact(t, 1, NULL);
    float *got = scores_of(&s, "qfilter", a);
    double want[2 * 64];
    for (int j = 0; j < 2; j++) /* layer 0 of the three */
        for (int t2 = 0; t2 < 64; t2++)
            want[j * 64 + t2] = -dotd(f + j * 16, s.k + ((size_t)j * 64 + t2) * 16, 16);
    expect_close(got, want, 128, 1e-5, "qfilter");
    free(got);
    kvp_artefact_destroy(a);
    scene_free(&s);
}
END_TEST

/* ExpectedAttentionStats on an artefact = Expected Attention on kvp_qstats_set with the same
 * statistics; and Expected Attention's own statistics fed back through kvp_qstats_set give
 * the scores of the queries. */
START_TEST(test_ea_stats_equivalences) {
    scene s;
    scene_make(&s, "ea-stats", 8, 4, 16, 120);
    int L = 2, Hq = 8, d = 16, n_sink = 4;
    rng r = rng_for("ea-stats-artefact", 0);
    size_t hd = (size_t)Hq * d, hdd = hd * d;
    float *mean = malloc(sizeof(float) * L * hd), *cov = malloc(sizeof(float) * L * hdd);
    fill_normal(&r, mean, L * hd, 1.0f);
    for (int q = 0; q < L * Hq; q++) /* symmetric positive: B B^T / d */
        for (int a = 0; a < d; a++)
            for (int b = 0; b <= a; b++) {
                float v = (a == b ? 1.0f : 0.0f) + 0.2f * rng_normal(&r);
                cov[((size_t)q * d + a) * d + b] = cov[((size_t)q * d + b) * d + a] = v;
            }
    st_tensor t[] = {{"query_mean", 3, {L, Hq, d}, mean}, {"query_cov", 4, {L, Hq, d, d}, cov}};
    kvp_artefact *a = st_artefact(t, 2, (const char *const[]){"n_sink", "4", NULL});
    float *got = scores_of(&s, "expected_attention_stats(compression_ratio=0.5)", a);
    kvp_qstats *qs;
    CK_OK(kvp_qstats_create(H.ctx, Hq, d, n_sink, &qs));
    CK_OK(kvp_qstats_set(qs, 1, mean, cov, s.n)); /* layer 0's statistics, future from n */
    kvp_inputs *in;
    CK_OK(kvp_inputs_create(H.ctx, &in));
    kvp_rope rope;
    kvp_rope_init(&rope, d);
    CK_OK(kvp_inputs_set_rope(in, &rope));
    CK_OK(kvp_inputs_set_query_stats(in, qs));
    kvp_inputs *saved = s.in;
    s.in = in;
    float *want = scores_of(&s, "expected_attention(compression_ratio=0.5)", NULL);
    double e = nmse(got, want, (size_t)s.Hk * s.n);
    ck_assert_msg(e <= 1e-12, "stats press vs qstats_set: NMSE %.3g", e);
    /* the queries' own statistics (biased, rows >= n_sink) through kvp_qstats_set */
    float *from_q;
    s.in = saved;
    from_q = scores_of(&s, "expected_attention(compression_ratio=0.5)", NULL);
    int64_t N = s.n - n_sink;
    for (int h = 0; h < Hq; h++) {
        double mu[16];
        for (int c = 0; c < d; c++) {
            mu[c] = 0;
            for (int t2 = n_sink; t2 < s.n; t2++) mu[c] += s.q[((size_t)h * s.n + t2) * d + c];
            mu[c] /= (double)N;
            mean[h * d + c] = (float)mu[c];
        }
        for (int a2 = 0; a2 < d; a2++)
            for (int b = 0; b < d; b++) {
                double c2 = 0;
                for (int t2 = n_sink; t2 < s.n; t2++)
                    c2 += (s.q[((size_t)h * s.n + t2) * d + a2] - mu[a2]) *
                          (s.q[((size_t)h * s.n + t2) * d + b] - mu[b]);
                cov[((size_t)h * d + a2) * d + b] = (float)(c2 / (double)N);
            }
    }
    CK_OK(kvp_qstats_set(qs, N, mean, cov, s.n));
    s.in = in;
    float *via_set = scores_of(&s, "expected_attention(compression_ratio=0.5)", NULL);
    s.in = saved;
    e = nmse(via_set, from_q, (size_t)s.Hk * s.n);
    ck_assert_msg(e <= 1e-9, "queries vs their statistics through kvp_qstats_set: NMSE %.3g", e);
    int64_t count;
    float back[8 * 16];
    CK_OK(kvp_qstats_get(qs, &count, back, NULL));
    ck_assert_int_eq(count, N);
    ck_assert(back[3] == mean[3]);
    free(got), free(want), free(from_q), free(via_set), free(mean), free(cov);
    kvp_inputs_destroy(in);
    kvp_qstats_destroy(qs);
    kvp_artefact_destroy(a);
    scene_free(&s);
}
END_TEST

/* ---- numerics by hand ---------------------------------------------------------------------- */

/* Solves A x = b (Gaussian elimination with partial pivoting, double) for a small d. */
static void solve(double *A, double *b, int d) {
    for (int c = 0; c < d; c++) {
        int piv = c;
        for (int i = c + 1; i < d; i++)
            if (fabs(A[i * d + c]) > fabs(A[piv * d + c])) piv = i;
        for (int k = 0; k < d; k++) {
            double t = A[c * d + k];
            A[c * d + k] = A[piv * d + k];
            A[piv * d + k] = t;
        }
        double t = b[c];
        b[c] = b[piv];
        b[piv] = t;
        for (int i = c + 1; i < d; i++) {
            double f = A[i * d + c] / A[c * d + c];
            for (int k = c; k < d; k++) A[i * d + k] -= f * A[c * d + k];
            b[i] -= f * b[c];
        }
    }
    for (int i = d - 1; i >= 0; i--) {
        for (int k = i + 1; k < d; k++) b[i] -= A[i * d + k] * b[k];
        b[i] /= A[i * d + i];
    }
}

/* CapPress from its definition (PRESSES.md 2.12) with the queries' anchor; n_future = 1 keeps
 * the averaged rotation a plain RoPE of position n. */
START_TEST(test_cap_by_hand) {
    scene s;
    scene_make(&s, "cap", 4, 2, 8, 40);
    int d = 8, n = 40, n_sink = 2, G = 2;
    double tau = 3.0, eps = 1e-6;
    float *got = scores_of(&s, "cap(compression_ratio=0.5, tau=3, n_sink=2, n_future_positions=1)", NULL);
    double *want = calloc((size_t)2 * n, sizeof(double));
    /* anchor: R_n mean(q) with R_n the RoPE of position n */
    float mq[4 * 8], anchor[4 * 8];
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < d; c++) {
            double m = 0;
            for (int t = n_sink; t < n; t++) m += s.q[((size_t)i * n + t) * d + c];
            mq[i * d + c] = (float)(m / (n - n_sink));
        }
    kvp_rope rope;
    kvp_rope_init(&rope, d);
    kvp_tensor mt = kvp_tensor_host(KVP_DTYPE_F32, mq, 3, 4, 1, d);
    kvp_tensor at = kvp_tensor_host(KVP_DTYPE_F32, anchor, 3, 4, 1, d);
    CK_OK(kvp_rope_apply(H.ref, &rope, &mt, n, &at));
    for (int i = 0; i < 4; i++) {
        int j = i / G;
        const float *a = anchor + i * d;
        double c[40], w[40], mx = -1e300;
        for (int t = n_sink; t < n; t++) {
            const float *k = s.k + ((size_t)j * n + t) * d;
            c[t] = dotd(a, k, d) / (sqrt(dotd(a, a, d)) * sqrt(dotd(k, k, d)));
            mx = fmax(mx, tau * c[t]);
        }
        double A[64];
        for (int e = 0; e < 64; e++) A[e] = (e % 9 == 0) ? 1.0 : 0.0;
        for (int t = n_sink; t < n; t++) {
            w[t] = exp(tau * c[t] - mx);
            const float *v = s.v + ((size_t)j * n + t) * d;
            for (int u = 0; u < d; u++)
                for (int x = 0; x < d; x++) A[u * d + x] += (w[t] + eps) * v[u] * v[x];
        }
        for (int t = n_sink; t < n; t++) {
            const float *v = s.v + ((size_t)j * n + t) * d;
            double Ac[64], y[8];
            memcpy(Ac, A, sizeof Ac);
            for (int u = 0; u < d; u++) y[u] = v[u];
            solve(Ac, y, d);
            double lev = 0;
            for (int u = 0; u < d; u++) lev += v[u] * y[u];
            want[j * n + t] += w[t] * lev / G;
        }
    }
    double mx = -1e300;
    for (int e = 0; e < 2 * n; e++)
        if (e % n >= n_sink) mx = fmax(mx, want[e]);
    for (int e = 0; e < 2 * n; e++)
        if (e % n < n_sink) want[e] = (float)mx + 1.0f;
    expect_close(got, want, (size_t)2 * n, 1e-4, "cap");
    free(got);
    free(want);
    scene_free(&s);
}
END_TEST

/* NonCausalAttn from its definition (PRESSES.md 2.18), with kvpress's padding and without. */
static void noncausal_ref(const scene *s, const float *qr, int C, int pad_quirks, double *out) {
    int n = s->n, d = s->d, G = s->Hq / s->Hk, Hk = s->Hk;
    double *A = calloc((size_t)s->Hq * n, sizeof(double));
    for (int i = 0; i < s->Hq; i++) {
        int j = i / G;
        for (int c0 = 0; c0 < n; c0 += C) {
            int real = n - c0 < C ? n - c0 : C, width = pad_quirks ? C : real;
            for (int a = 0; a < width; a++) {
                double z[64], mx = -1e300, sum = 0;
                for (int t = 0; t < width; t++) {
                    if (t >= real)
                        z[t] = -1e-9;
                    else if (a >= real)
                        z[t] = 0;
                    else
                        z[t] = dotd(qr + ((size_t)i * n + c0 + a) * d, s->k + ((size_t)j * n + c0 + t) * d, d);
                    mx = fmax(mx, z[t]);
                }
                for (int t = 0; t < width; t++) sum += exp(z[t] - mx);
                for (int t = 0; t < real; t++) A[(size_t)i * n + c0 + t] += exp(z[t] - mx) / sum;
            }
        }
    }
    double *sc = calloc((size_t)Hk * n, sizeof(double));
    for (int j = 0; j < Hk; j++)
        for (int t = 0; t < n; t++) {
            double m = 0;
            for (int g = 0; g < G; g++) m += A[(size_t)(j * G + g) * n + t];
            const float *v = s->v + ((size_t)j * n + t) * d;
            sc[j * n + t] = m / G * sqrt(dotd(v, v, d));
        }
    double mean = 0, var = 0;
    for (int j = 0; j < Hk; j++)
        for (int t = 0; t < n; t++) {
            double p = 0;
            for (int u = t - 1; u <= t + 1; u++) p += (u >= 0 && u < n) ? sc[j * n + u] : 0;
            out[j * n + t] = p / 3;
            mean += out[j * n + t];
        }
    mean /= Hk * n;
    for (int e = 0; e < Hk * n; e++) var += (out[e] - mean) * (out[e] - mean);
    double sd = sqrt(var / (Hk * n - 1));
    for (int e = 0; e < Hk * n; e++) out[e] = (out[e] - mean) / sd;
    free(A);
    free(sc);
}

START_TEST(test_noncausal_by_hand) {
    scene s;
    scene_make(&s, "noncausal", 4, 2, 8, 45);
    for (size_t e = 0; e < (size_t)4 * 45 * 8; e++) s.q[e] *= 0.4f; /* a softmax that is not one-hot */
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, s.q, 3, 4, 45, 8);
    CK_OK(kvp_inputs_set_queries(s.in, &qt, 0));
    float *qr = rotated_queries(&s);
    double want[2 * 45];
    for (int quirks = 0; quirks < 2; quirks++) {
        char spec[128];
        snprintf(spec, sizeof spec, "non_causal_attn(compression_ratio=0.5, chunk_size=16, kvpress_padding=%s)",
                 quirks ? "true" : "false");
        float *got = scores_of(&s, spec, NULL);
        noncausal_ref(&s, qr, 16, quirks, want);
        expect_close(got, want, 90, 2e-5, spec);
        free(got);
    }
    free(qr);
    scene_free(&s);
}
END_TEST

/* ThinK zeroes exactly floor(d * ratio) channels of every key of each head, the lowest of
 * mean_window(q^2) (group mean) * mean_t(k^2); values, lengths and positions stay. */
START_TEST(test_think_by_hand) {
    scene s;
    scene_make(&s, "think", 8, 2, 16, 70);
    float *qr = rotated_queries(&s);
    int d = 16, n = 70, w = 10, G = 4, pruned = (int)(16 * 0.3);
    uint64_t before = 0;
    kvp_press *p;
    CK_OK(kvp_press_parse("think(key_channel_compression_ratio=0.3, window_size=10)", &p));
    ck_assert_int_eq(kvp_press_get_info(p)->kind, KVP_PRESS_STRUCTURAL);
    float sc[16];
    ck_assert_int_eq(kvp_press_score(H.ctx, p, s.cache, 0, s.in, sc), KVP_ERR_UNSUPPORTED);
    before = cache_checksum(s.cache);
    CK_OK(kvp_compress(H.ctx, p, s.cache, 0, s.in));
    ck_assert(cache_checksum(s.cache) != before);
    for (int j = 0; j < 2; j++) {
        double score[16];
        for (int c = 0; c < d; c++) {
            double qn = 0, kn = 0;
            for (int g = 0; g < G; g++)
                for (int a = n - w; a < n; a++) {
                    double x = qr[((size_t)(j * G + g) * n + a) * d + c];
                    qn += x * x / w;
                }
            for (int t = 0; t < n; t++) kn += (double)s.k[((size_t)j * n + t) * d + c] * s.k[((size_t)j * n + t) * d + c];
            score[c] = qn / G * kn / n;
        }
        float keys[70 * 16], vals[70 * 16];
        int32_t pos[70];
        CK_OK(kvp_cache_read(s.cache, 0, j, keys, vals, pos));
        int zeroed = 0;
        for (int c = 0; c < d; c++) {
            int rank = 0; /* channels scoring lower */
            for (int c2 = 0; c2 < d; c2++) rank += score[c2] < score[c];
            int want_zero = rank < pruned;
            for (int t = 0; t < n; t++) {
                float kv = keys[t * d + c], orig = s.k[((size_t)j * n + t) * d + c];
                ck_assert_msg(want_zero ? kv == 0.0f : kv == orig, "head %d channel %d token %d", j, c, t);
                ck_assert(vals[t * d + c] == s.v[((size_t)j * n + t) * d + c]);
            }
            zeroed += want_zero;
        }
        ck_assert_int_eq(zeroed, pruned);
        for (int t = 0; t < n; t++) ck_assert_int_eq(pos[t], t);
    }
    /* ratio 0 (the default) changes nothing */
    kvp_press_destroy(p);
    CK_OK(kvp_press_parse("think", &p));
    before = cache_checksum(s.cache);
    CK_OK(kvp_compress(H.ctx, p, s.cache, 0, s.in));
    ck_assert(cache_checksum(s.cache) == before);
    kvp_press_destroy(p);
    free(qr);
    scene_free(&s);
}
END_TEST

/* ---- random sketches ------------------------------------------------------------------------ */

/* Exact leverage z-scores of the centred rows of x [Hk, n, d] (double, no sketch, no jitter). */
static void exact_leverage(const float *x, int Hk, int n, int d, double *z) {
    double *lev = malloc(sizeof(double) * (size_t)Hk * n);
    for (int j = 0; j < Hk; j++) {
        const float *X = x + (size_t)j * n * d;
        double mu[64] = {0}, A[64 * 64] = {0};
        for (int t = 0; t < n; t++)
            for (int c = 0; c < d; c++) mu[c] += X[(size_t)t * d + c] / (double)n;
        for (int t = 0; t < n; t++)
            for (int u = 0; u < d; u++)
                for (int v = 0; v < d; v++)
                    A[u * d + v] += (X[(size_t)t * d + u] - mu[u]) * (X[(size_t)t * d + v] - mu[v]);
        for (int t = 0; t < n; t++) {
            double Ac[64 * 64], y[64], l = 0;
            memcpy(Ac, A, sizeof(double) * (size_t)d * d);
            for (int c = 0; c < d; c++) y[c] = X[(size_t)t * d + c] - mu[c];
            double xc[64];
            memcpy(xc, y, sizeof(double) * (size_t)d);
            solve(Ac, y, d);
            for (int c = 0; c < d; c++) l += xc[c] * y[c];
            lev[j * n + t] = l;
        }
    }
    double mean = 0, var = 0;
    for (int e = 0; e < Hk * n; e++) mean += lev[e] / (Hk * n);
    for (int e = 0; e < Hk * n; e++) var += (lev[e] - mean) * (lev[e] - mean);
    for (int e = 0; e < Hk * n; e++) z[e] = (lev[e] - mean) / sqrt(var / (Hk * n - 1));
    free(lev);
}

/* A sketch of 4d columns spans the keys: the sketched leverage equals the exact one (up to
 * the 0.01 jitter), whatever the draw; the keys rotated back from the cache give the scores of
 * the given pre-RoPE keys. */
START_TEST(test_leverage_exact_with_spanning_sketch) {
    scene s;
    scene_make(&s, "leverage", 4, 2, 8, 200);
    double *want = malloc(sizeof(double) * 2 * 200);
    exact_leverage(s.k, 2, 200, 8, want); /* s.k plays the pre-RoPE keys */
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, s.k, 3, 2, 200, 8);
    CK_OK(kvp_inputs_set_keys(s.in, &kt, 0));
    for (int seed = 1; seed <= 3; seed++) {
        char spec[96];
        snprintf(spec, sizeof spec, "leverage_score(compression_ratio=0.5, sketch_dimension=32, seed=%d)", seed);
        float *got = scores_of(&s, spec, NULL);
        expect_close(got, want, 400, 2e-3, spec);
        free(got);
    }
    /* the cache holding RoPE(k) and no pre-RoPE keys given: rotated back, the same scores */
    scene r;
    scene_make(&r, "leverage", 4, 2, 8, 200);
    float *rot = malloc(sizeof(float) * 2 * 200 * 8);
    kvp_rope rope;
    kvp_rope_init(&rope, 8);
    kvp_tensor rt = kvp_tensor_host(KVP_DTYPE_F32, rot, 3, 2, 200, 8);
    CK_OK(kvp_rope_apply(H.ref, &rope, &kt, 0, &rt));
    scene_set_keys(&r, rot);
    float *given = scores_of(&s, "leverage_score(compression_ratio=0.5, seed=4)", NULL);
    float *back = scores_of(&r, "leverage_score(compression_ratio=0.5, seed=4)", NULL);
    double e = nmse(back, given, 400);
    ck_assert_msg(e <= 1e-6, "keys rotated back vs given pre-RoPE keys: NMSE %.3g", e);
    free(given), free(back), free(rot), free(want);
    scene_free(&r);
    scene_free(&s);
}
END_TEST

/* seed >= 0 draws the same sketch every call; seed -1 a fresh one per call, the sequence
 * starting over after kvp_press_reset. A narrow sketch (4 of 16 dimensions) still ranks like
 * the exact leverage on average over draws. */
START_TEST(test_sketch_seeds_and_statistics) {
    scene s;
    scene_make(&s, "sketch", 4, 2, 16, 150);
    size_t cnt = 2 * 150;
    float *a = scores_of(&s, "leverage_score(compression_ratio=0.5, sketch_dimension=4, seed=7)", NULL);
    float *b = scores_of(&s, "leverage_score(compression_ratio=0.5, sketch_dimension=4, seed=7)", NULL);
    ck_assert(!memcmp(a, b, cnt * sizeof(float)));
    kvp_press *p;
    CK_OK(kvp_press_parse("leverage_score(compression_ratio=0.5, sketch_dimension=4)", &p));
    float *c1 = malloc(cnt * sizeof(float)), *c2 = malloc(cnt * sizeof(float)), *c3 = malloc(cnt * sizeof(float));
    CK_OK(kvp_press_score(H.ctx, p, s.cache, 0, s.in, c1));
    CK_OK(kvp_press_score(H.ctx, p, s.cache, 0, s.in, c2));
    ck_assert(memcmp(c1, c2, cnt * sizeof(float)) != 0);
    kvp_press_reset(p);
    CK_OK(kvp_press_score(H.ctx, p, s.cache, 0, s.in, c3));
    ck_assert(!memcmp(c1, c3, cnt * sizeof(float)));
    /* average over 24 draws against the exact leverage of the rotated-back keys */
    float *pre = malloc(sizeof(float) * cnt * 16);
    /* the pre-RoPE keys the press sees: the cached keys rotated back by their positions */
    for (int t = 0; t < 150; t++)
        for (int j = 0; j < 2; j++) {
            float tmp[16], outv[16];
            memcpy(tmp, s.k + ((size_t)j * 150 + t) * 16, sizeof tmp);
            for (int c = 0; c < 8; c++) { /* the inverse of the half-split rotation */
                float f = 1.0f / powf(10000.0f, (float)(2 * c) / 16.0f), ang = (float)t * f;
                double cs = cos((double)ang), sn = sin((double)ang);
                outv[c] = (float)(tmp[c] * cs + tmp[c + 8] * sn);
                outv[c + 8] = (float)(tmp[c + 8] * cs - tmp[c] * sn);
            }
            memcpy(pre + ((size_t)j * 150 + t) * 16, outv, sizeof outv);
        }
    double *exact = malloc(sizeof(double) * cnt), *avg = calloc(cnt, sizeof(double));
    exact_leverage(pre, 2, 150, 16, exact);
    for (int draw = 0; draw < 24; draw++) {
        CK_OK(kvp_press_score(H.ctx, p, s.cache, 0, s.in, c1));
        for (size_t e = 0; e < cnt; e++) avg[e] += c1[e] / 24.0;
    }
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t e = 0; e < cnt; e++) {
        sxy += avg[e] * exact[e];
        sxx += avg[e] * avg[e];
        syy += exact[e] * exact[e];
    }
    double corr = sxy / sqrt(sxx * syy);
    ck_assert_msg(corr > 0.8, "sketched leverage averaged over draws correlates %.3f with the exact one", corr);
    free(a), free(b), free(c1), free(c2), free(c3), free(pre), free(exact), free(avg);
    kvp_press_destroy(p);
    scene_free(&s);
}
END_TEST

/* The generator of the sketches (rng.c): standard normal draws. */
START_TEST(test_normal_draws) {
    size_t n = 400000;
    float *x = malloc(n * sizeof(float));
    uint64_t st = 12345;
    kvp__normal_fill(&st, x, n);
    double m = 0, v = 0, tail = 0, k4 = 0;
    for (size_t i = 0; i < n; i++) m += x[i] / (double)n;
    for (size_t i = 0; i < n; i++) {
        double c = x[i] - m;
        v += c * c / (double)n;
        k4 += c * c * c * c / (double)n;
        tail += fabs(x[i]) > 2.0;
    }
    ck_assert_msg(fabs(m) < 0.006, "mean %g", m);
    ck_assert_msg(fabs(v - 1) < 0.01, "variance %g", v);
    ck_assert_msg(fabs(k4 / (v * v) - 3) < 0.05, "kurtosis %g", k4 / (v * v));
    ck_assert_msg(fabs(tail / (double)n - 0.0455) < 0.002, "P(|z| > 2) = %g", tail / (double)n);
    /* the documented sequence: two outputs per draw, the first seeds u1 */
    uint64_t s2 = 12345;
    uint64_t x1 = kvp__splitmix64(&s2), x2 = kvp__splitmix64(&s2);
    double u1 = ((double)(x1 >> 11) + 0.5) / 9007199254740992.0, u2 = (double)(x2 >> 11) / 9007199254740992.0;
    ck_assert(x[0] == (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)));
    free(x);
}
END_TEST

/* CUR's random projection preserves squared norms on average: over draws, the scores of the
 * projected keys average to those of the keys themselves. */
START_TEST(test_cur_random_projection) {
    scene s;
    scene_make(&s, "cur", 4, 2, 32, 120);
    float *plain = scores_of(&s, "cur(compression_ratio=0.5, leverage_type=key, use_local_approximation=false)", NULL);
    kvp_press *p;
    CK_OK(kvp_press_parse("cur(compression_ratio=0.5, leverage_type=key, use_local_approximation=false, "
                          "use_random_leverage=true)", &p));
    double avg[240] = {0};
    float one[240];
    for (int draw = 0; draw < 40; draw++) {
        CK_OK(kvp_press_score(H.ctx, p, s.cache, 0, s.in, one));
        for (int e = 0; e < 240; e++) avg[e] += one[e] / 40.0;
    }
    double num = 0, den = 0;
    for (int e = 0; e < 240; e++)
        if (e % 120 >= 4) { /* sinks score 1 */
            num += (avg[e] - plain[e]) * (avg[e] - plain[e]);
            den += (double)plain[e] * plain[e];
        }
    ck_assert_msg(num / den < 0.02, "projected norms average to the norms: relative error %.3g", num / den);
    free(plain);
    kvp_press_destroy(p);
    scene_free(&s);
}
END_TEST

/* Compactor pads the protected tokens with the inner maximum, without + 1. */
START_TEST(test_compactor_padding) {
    scene s;
    scene_make(&s, "compactor", 4, 2, 8, 60);
    float *sc = scores_of(&s, "compactor(compression_ratio=0.5, sink_size_start=3, sink_size_end=2, "
                              "chunk_size=16, sketch_dimension=4, seed=1)", NULL);
    float mx = -INFINITY;
    for (int e = 0; e < 120; e++)
        if (e % 60 >= 3 && e % 60 < 58) mx = fmaxf(mx, sc[e]);
    for (int e = 0; e < 120; e++)
        if (e % 60 < 3 || e % 60 >= 58) ck_assert(sc[e] == mx);
    free(sc);
    scene_free(&s);
}
END_TEST

/* ---- parameters and statistics API ---------------------------------------------------------- */

START_TEST(test_choice_parameters) {
    kvp_press *p;
    CK_OK(kvp_press_parse("cur(leverage_type='kv_avg', compression_ratio=0.5)", &p));
    double v;
    CK_OK(kvp_press_get(p, "leverage_type", &v));
    ck_assert(v == 2);
    char buf[256];
    CK_OK(kvp_press_describe(p, buf, sizeof buf));
    ck_assert_msg(strstr(buf, "leverage_type=kv_avg") != NULL, "%s", buf);
    kvp_press *q;
    CK_OK(kvp_press_parse(buf, &q)); /* the description reads back */
    CK_OK(kvp_press_get(q, "leverage_type", &v));
    ck_assert(v == 2);
    kvp_press_destroy(q);
    CK_OK(kvp_press_set_choice(p, "leverage_type", "key"));
    CK_OK(kvp_press_set_int(p, "leverage_type", 3));
    ck_assert_int_eq(kvp_press_set_choice(p, "leverage_type", "bogus"), KVP_ERR_INVALID_ARG);
    ck_assert_msg(strstr(kvp_last_error(), "key|value|kv_avg|kv_product") != NULL, "%s", kvp_last_error());
    ck_assert_int_eq(kvp_press_set_int(p, "leverage_type", 4), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_choice(p, "num_sinks", "key"), KVP_ERR_INVALID_ARG);
    CK_OK(kvp_press_get(p, "leverage_type", &v));
    ck_assert(v == 3);
    const kvp_press_info *info = kvp_press_get_info(p);
    int idx = -1;
    for (int i = 0; i < info->n_params; i++)
        if (!strcmp(info->params[i].name, "leverage_type")) idx = i;
    ck_assert_str_eq(kvp_param_choices(info, idx), "key|value|kv_avg|kv_product");
    ck_assert_ptr_null(kvp_param_choices(info, 0));
    ck_assert_int_eq(kvp_press_parse("kvzap(model_type=\"cnn\")", &q), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_parse("kvzap(model_type='mlp)", &q), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_parse("cur(num_sinks=kv_avg)", &q), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(p);
}
END_TEST

START_TEST(test_qstats_set_bad_input) {
    kvp_qstats *qs;
    CK_OK(kvp_qstats_create(H.ctx, 2, 4, 0, &qs));
    float mean[8] = {1, 2, 3, 4, 5, 6, 7, 8}, cov[32] = {0};
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 4; c++) cov[i * 16 + c * 5] = 1.0f;
    CK_OK(kvp_qstats_set(qs, 10, mean, cov, 100));
    mean[2] = NAN;
    ck_assert_int_eq(kvp_qstats_set(qs, 10, mean, cov, 100), KVP_ERR_INVALID_ARG);
    mean[2] = 3;
    cov[5] = INFINITY;
    ck_assert_int_eq(kvp_qstats_set(qs, 10, mean, cov, 100), KVP_ERR_INVALID_ARG);
    cov[5] = 1;
    ck_assert_int_eq(kvp_qstats_set(qs, 0, mean, cov, 100), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_qstats_set(qs, 10, mean, cov, -1), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_qstats_set(qs, 10, NULL, cov, 100), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_qstats_set(NULL, 10, mean, cov, 100), KVP_ERR_INVALID_ARG);
    ck_assert(kvp_context_last_error(H.ctx)[0] != 0);
    int64_t count;
    float m[8], c[32];
    CK_OK(kvp_qstats_get(qs, &count, m, c)); /* unchanged by the failures */
    ck_assert_int_eq(count, 10);
    ck_assert(m[7] == 8 && c[5] == 1 && c[6] == 0);
    /* and chunks merge into given statistics as into accumulated ones */
    float q[2 * 3 * 4];
    for (int i = 0; i < 24; i++) q[i] = (float)(i % 5) - 2.0f;
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, 2, 3, 4);
    CK_OK(kvp_qstats_add(qs, &qt, 100));
    CK_OK(kvp_qstats_get(qs, &count, m, NULL));
    ck_assert_int_eq(count, 13);
    kvp_qstats_destroy(qs);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("scorers");
    TCase *tc = tcase_create("properties");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_kvzap_by_hand);
    tcase_add_test(tc, test_qfilter_by_hand);
    tcase_add_test(tc, test_ea_stats_equivalences);
    tcase_add_test(tc, test_cap_by_hand);
    tcase_add_test(tc, test_noncausal_by_hand);
    tcase_add_test(tc, test_think_by_hand);
    tcase_add_test(tc, test_leverage_exact_with_spanning_sketch);
    tcase_add_test(tc, test_sketch_seeds_and_statistics);
    tcase_add_test(tc, test_normal_draws);
    tcase_add_test(tc, test_cur_random_projection);
    tcase_add_test(tc, test_compactor_padding);
    tcase_add_test(tc, test_choice_parameters);
    tcase_add_test(tc, test_qstats_set_bad_input);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
