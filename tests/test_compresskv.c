/*
 * CompressKV: the layer-adaptive budget allocation against hand-computed values and the
 * reference code's output (COMPRESSKV.md 2.2); the token selection against a direct
 * computation in double of COMPRESSKV.md 1.3 (window attention of the layer's first SRH
 * heads, pooling, head mean, top B_l with the window), on the backend under test and on the
 * CPU reference; and every bad input: missing, malformed or mismatched artefacts, bad
 * parameters and too short prompts, each leaving the cache exactly as it was.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/presses/compresskv.h"
#include "harness.h"
#include "safetensors.h"

/* ---- the budget allocation ------------------------------------------------------------------ */

static void check_budgets(const double *e, int L, int64_t B, int64_t m, int64_t M,
                          const int64_t *want, const char *label) {
    int64_t got[KVP_COMPRESSKV_MAX_LAYERS];
    kvp_status st = kvp__compresskv_budgets(e, L, B, m, M, got);
    ck_assert_msg(st == KVP_OK, "%s: %s", label, kvp_last_error());
    for (int l = 0; l < L; l++)
        ck_assert_msg(got[l] == want[l], "%s: layer %d gets %lld, expected %lld", label, l,
                      (long long)got[l], (long long)want[l]);
}

START_TEST(test_budgets_by_hand) {
    /* spare = 4*64 - 4*32 = 128: 32 + rint(89.6) = 122, 32 + rint(12.8) = 45 (three times);
     * the sum is one over 256, taken from the least important layer, the first of the ties */
    double e1[4] = {0.7, 0.1, 0.1, 0.1};
    int64_t w1[4] = {122, 44, 45, 45};
    check_budgets(e1, 4, 64, 32, 192, w1, "one unit back");
    /* layer 0 would get 32 + 256 = 288 and is clipped to M = 192; the 96 missing units go one
     * per layer per pass to layers 1..7 (ties in order): 13 full passes, then 5 more */
    double e2[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    int64_t w2[8] = {192, 46, 46, 46, 46, 46, 45, 45};
    check_budgets(e2, 8, 64, 32, 192, w2, "clipped at M");
    /* spare = 8: 0.5, 1.5, 2.5, 3.5 round half to even to 0, 2, 2, 4 and the sum is exact
     * (rounding half away from zero would give 33, 34, 35, 36 and then 32, 33, 35, 36) */
    double e3[4] = {0.0625, 0.1875, 0.3125, 0.4375};
    int64_t w3[4] = {32, 34, 34, 36};
    check_budgets(e3, 4, 34, 32, 102, w3, "half to even");
    /* a uniform profile gives every layer B; m = B leaves no room at all */
    double e4[5] = {0.2, 0.2, 0.2, 0.2, 0.2};
    int64_t w4[5] = {96, 96, 96, 96, 96};
    check_budgets(e4, 5, 96, 32, 288, w4, "uniform");
    check_budgets(e1, 4, 32, 32, 96, (int64_t[]){32, 32, 32, 32}, "m = B");
    /* spare = 8: 3.2, 1.2, 1.2, 2.4 round to 3, 1, 1, 2; one unit missing goes to the most
     * important layer */
    double e5[4] = {0.4, 0.15, 0.15, 0.3};
    check_budgets(e5, 4, 12, 10, 36, (int64_t[]){14, 11, 11, 12}, "one unit more");
    /* spare = 12: 3.6, 1.8, 1.8, 4.8 round to 4, 2, 2, 5; one unit too many comes from the
     * least important layers, tied, the lower first */
    double e6[4] = {0.3, 0.15, 0.15, 0.4};
    check_budgets(e6, 4, 13, 10, 39, (int64_t[]){14, 11, 12, 15}, "tie of the smallest");
    /* spare = 4: 0.4, 1.2 (three times) round to 0, 1, 1, 1; the missing unit goes to the
     * first of the three tied most important layers */
    double e7[4] = {0.1, 0.3, 0.3, 0.3};
    check_budgets(e7, 4, 11, 10, 33, (int64_t[]){10, 12, 11, 11}, "tie of the largest");
}
END_TEST

/* Qwen2.5-7B-Instruct's shipped profile ("avg_score" of the reference repository's
 * Qwen2.5-7B-Instruct_layer_score.jsonl) and the budgets the reference code derives for
 * B = 256 (COMPRESSKV.md 2.2), and for B = 64 and 512 (the reference rule run on the same
 * vector with NumPy). */
static const double qwen_profile[28] = {
    0.01515269787208618,  0.0292201713122977,   0.050974610196024984, 0.033507898089162845,
    0.05195843595554325,  0.04742447892878959,  0.021108012599683704, 0.03261931239605891,
    0.05292207403016187,  0.04241306743234982,  0.025165280745620702, 0.04217719684500811,
    0.04037530737113865,  0.02747985444813808,  0.05255499784634115,  0.038505489025259645,
    0.04806220555731014,  0.043404354894800955, 0.029054725430049114, 0.033763426601212565,
    0.027943911463078216, 0.02978888628874205,  0.04996719064922988,  0.03212358570333262,
    0.029186406296480977, 0.030068802972228387, 0.03138442740926558,  0.011693191640604323};

START_TEST(test_budgets_reference) {
    int64_t b256[28] = {127, 215, 352, 242, 358, 329, 164, 237, 365, 298, 190, 297, 285, 204,
                        362, 274, 333, 304, 214, 244, 207, 219, 345, 233, 215, 221, 229, 105};
    int64_t b64[28] = {46, 58, 78, 62, 79, 74, 51, 61, 79, 70, 55, 70, 68, 57,
                       79, 67, 75, 71, 58, 62, 57, 59, 77, 61, 58, 59, 60, 41};
    int64_t b512[28] = {236, 425, 717, 482, 730, 669, 316, 470, 744, 602, 370, 599, 575, 401,
                        738, 550, 678, 615, 422, 486, 408, 432, 704, 464, 424, 436, 454, 189};
    check_budgets(qwen_profile, 28, 256, 32, 768, b256, "Qwen2.5-7B B=256");
    check_budgets(qwen_profile, 28, 64, 32, 192, b64, "Qwen2.5-7B B=64");
    check_budgets(qwen_profile, 28, 512, 32, 1536, b512, "Qwen2.5-7B B=512");
    /* the profile stored as f32 (as artefacts hold it) gives the same budgets */
    double f[28];
    for (int l = 0; l < 28; l++) f[l] = (double)(float)qwen_profile[l];
    check_budgets(f, 28, 256, 32, 768, b256, "Qwen2.5-7B B=256 (f32 profile)");
}
END_TEST

START_TEST(test_budgets_properties) {
    rng r = rng_for("budgets", 0);
    for (int it = 0; it < 500; it++) {
        int L = rng_int(&r, 1, 40);
        double e[40], sum = 0;
        for (int l = 0; l < L; l++) {
            /* sparse, peaked and flat profiles */
            e[l] = rng_int(&r, 0, 3) == 0 ? 0 : pow(rng_uniform(&r, 0, 1), 1 + it % 4);
            sum += e[l];
        }
        if (sum == 0) e[0] = sum = 1;
        for (int l = 0; l < L; l++) e[l] /= sum;
        int64_t B = rng_int(&r, 0, 600), m = rng_int(&r, 0, (int)B);
        int64_t M = B + rng_int(&r, 0, 3 * (int)B + 1), out[40], total = 0;
        ck_assert_int_eq(kvp__compresskv_budgets(e, L, B, m, M, out), KVP_OK);
        for (int l = 0; l < L; l++) {
            ck_assert(out[l] >= m && out[l] <= M);
            total += out[l];
        }
        ck_assert_int_eq(total, (int64_t)L * B);
    }
    double e[3] = {0.5, 0.5, 0}, bad[2] = {0.5, NAN}, neg[2] = {1.5, -0.5};
    int64_t out[3];
    ck_assert_int_eq(kvp__compresskv_budgets(e, 3, 10, 11, 30, out), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp__compresskv_budgets(e, 3, 10, 5, 9, out), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp__compresskv_budgets(e, 0, 10, 5, 30, out), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp__compresskv_budgets(bad, 2, 10, 5, 30, out), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp__compresskv_budgets(neg, 2, 10, 5, 30, out), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "profile entry 1") != NULL);
}
END_TEST

/* ---- the safetensors writer (tools/safetensors.c) ------------------------------------------- */

/* What the writer produces reads back through kvp_artefact_load: names, shapes, data and
 * metadata with characters JSON must escape; the same content gives the same bytes. */
START_TEST(test_safetensors_writer) {
    char err[256], path[] = "/tmp/kvp_st_XXXXXX";
    float a[6] = {1, -2, 3.5f, 4, 5, 6}, b[1] = {7}, c[24];
    for (int i = 0; i < 24; i++) c[i] = (float)i / 3;
    const char *tricky = "quote \" backslash \\ newline \n tab \t \x01 caf\xc3\xa9";
    unsigned char *img[2];
    size_t size[2];
    for (int run = 0; run < 2; run++) {
        st_writer *w = st_writer_create();
        ck_assert(!st_writer_add_meta(w, "note", tricky, err, sizeof err));
        ck_assert(!st_writer_add_f32(w, "a", 2, (int64_t[]){2, 3}, a, err, sizeof err));
        ck_assert(!st_writer_add_f32(w, "b", 1, (int64_t[]){1}, b, err, sizeof err));
        ck_assert(!st_writer_add_f32(w, "c", 4, (int64_t[]){1, 2, 3, 4}, c, err, sizeof err));
        ck_assert(st_writer_add_f32(w, "a", 1, (int64_t[]){1}, b, err, sizeof err) == -1);
        ck_assert(strstr(err, "twice") != NULL);
        ck_assert(st_writer_add_f32(w, "__metadata__", 1, (int64_t[]){1}, b, err, sizeof err) == -1);
        ck_assert(st_writer_add_f32(w, "d", 5, (int64_t[]){1, 1, 1, 1, 1}, b, err, sizeof err) == -1);
        ck_assert(st_writer_add_meta(w, "note", "again", err, sizeof err) == -1);
        ck_assert(!st_writer_to_memory(w, &img[run], &size[run], err, sizeof err));
        if (run == 0) { /* straight into an artefact, as the tests and calibrate build theirs */
            kvp_artefact *art = NULL;
            ck_assert_msg(!st_writer_to_artefact(w, &art, err, sizeof err), "%s", err);
            ck_assert_int_eq(kvp_artefact_tensor_count(art), 3);
            ck_assert_str_eq(kvp_artefact_metadata(art, "note"), tricky);
            kvp_artefact_destroy(art);
        }
        if (run == 1) {
            int fd = mkstemp(path);
            ck_assert(fd >= 0);
            close(fd);
            ck_assert_msg(!st_writer_save(w, path, err, sizeof err), "%s", err);
        }
        st_writer_free(w);
    }
    ck_assert(size[0] == size[1] && !memcmp(img[0], img[1], size[0]));
    ck_assert_uint_eq((size[0] - 8 - 4 * 31) % 8, 0); /* the header is padded to 8 bytes */
    kvp_artefact *art;
    CK_OK(kvp_artefact_load(path, &art));
    remove(path);
    ck_assert_str_eq(kvp_artefact_metadata(art, "note"), tricky);
    ck_assert_int_eq(kvp_artefact_tensor_count(art), 3);
    kvp_tensor t;
    CK_OK(kvp_artefact_get(art, "a", &t));
    ck_assert(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3 && !memcmp(t.data, a, sizeof a));
    CK_OK(kvp_artefact_get(art, "c", &t));
    ck_assert(t.ndim == 4 && t.shape[3] == 4 && !memcmp(t.data, c, sizeof c));
    kvp_artefact_destroy(art);
    free(img[0]);
    free(img[1]);
    /* an unwritable path fails cleanly and leaves nothing */
    st_writer *w = st_writer_create();
    ck_assert(!st_writer_add_f32(w, "b", 1, (int64_t[]){1}, b, err, sizeof err));
    ck_assert(st_writer_save(w, "/nonexistent-dir/x.safetensors", err, sizeof err) == -1);
    ck_assert(strstr(err, "cannot write") != NULL);
    st_writer_free(w);
}
END_TEST

/* ---- artefacts built in memory -------------------------------------------------------------- */

typedef struct model_shape {
    int L, Hq, Hk, d, n;
} model_shape;

/* An artefact for the shape: a seeded permutation per layer and, unless with_profile is 0,
 * a seeded profile (or `given`, when not NULL). */
static kvp_artefact *make_artefact_given(const model_shape *s, int with_profile, const char *seed,
                                         const float *given, float *ranking_out,
                                         double *profile_out) {
    rng r = rng_for(seed, s->L);
    float *rank = malloc(sizeof(float) * (size_t)s->L * s->Hq);
    float *prof = malloc(sizeof(float) * (size_t)s->L);
    double sum = 0;
    for (int l = 0; l < s->L; l++) {
        float *row = rank + (size_t)l * s->Hq;
        for (int h = 0; h < s->Hq; h++) row[h] = (float)h;
        for (int h = s->Hq - 1; h > 0; h--) {
            int k = rng_int(&r, 0, h);
            float t = row[h];
            row[h] = row[k];
            row[k] = t;
        }
        prof[l] = rng_uniform(&r, 0.05f, 1.0f);
        sum += prof[l];
    }
    for (int l = 0; l < s->L; l++) prof[l] = given ? given[l] : (float)(prof[l] / sum);
    if (ranking_out) memcpy(ranking_out, rank, sizeof(float) * (size_t)s->L * s->Hq);
    if (profile_out)
        for (int l = 0; l < s->L; l++) profile_out[l] = prof[l];
    char err[256], hk[16];
    st_writer *w = st_writer_create();
    int64_t shape_r[2] = {s->L, s->Hq}, shape_p[1] = {s->L};
    snprintf(hk, sizeof hk, "%d", s->Hk);
    ck_assert(!st_writer_add_meta(w, "format", KVP_COMPRESSKV_FORMAT, err, sizeof err));
    ck_assert(!st_writer_add_meta(w, "n_kv_heads", hk, err, sizeof err));
    ck_assert(!st_writer_add_f32(w, KVP_COMPRESSKV_RANKING, 2, shape_r, rank, err, sizeof err));
    if (with_profile)
        ck_assert(!st_writer_add_f32(w, KVP_COMPRESSKV_PROFILE, 1, shape_p, prof, err, sizeof err));
    kvp_artefact *a = st_load(w);
    st_writer_free(w);
    free(rank);
    free(prof);
    return a;
}

static kvp_artefact *make_artefact(const model_shape *s, int with_profile, const char *seed,
                                   float *ranking_out, double *profile_out) {
    return make_artefact_given(s, with_profile, seed, NULL, ranking_out, profile_out);
}

/* A synthetic model: L layers of keys, values and pre-RoPE queries, in a cache and inputs. */
typedef struct model_data {
    model_shape s;
    float *keys, *values, *queries; /* per layer */
    kvp_cache *cache;
    kvp_inputs **in;
} model_data;

static void model_make(model_data *m, kvp_context *ctx, const model_shape *s, kvp_dtype dt,
                       const char *seed) {
    memset(m, 0, sizeof *m);
    m->s = *s;
    size_t kv = (size_t)s->Hk * s->n * s->d, q = (size_t)s->Hq * s->n * s->d;
    m->keys = malloc(sizeof(float) * kv * s->L);
    m->values = malloc(sizeof(float) * kv * s->L);
    m->queries = malloc(sizeof(float) * q * s->L);
    rng r = rng_for(seed, s->n);
    fill_normal(&r, m->keys, kv * s->L, 1.0f);
    fill_normal(&r, m->values, kv * s->L, 1.0f);
    fill_normal(&r, m->queries, q * s->L, 1.0f);
    /* structure: some keys the window queries prefer, so that the scores are not flat */
    for (size_t i = 0; i < kv * s->L; i += (size_t)s->d)
        if (rng_int(&r, 0, 9) == 0) m->keys[i] += 2.5f;
    for (size_t i = 0; i < q * s->L; i += (size_t)s->d) m->queries[i] += 1.0f;
    kvp_cache_options o = {.n_layers = s->L, .n_kv_heads = s->Hk, .head_dim = s->d,
                           .capacity = s->n + 8, .dtype = dt};
    CK_OK(kvp_cache_create(ctx, &o, &m->cache));
    m->in = calloc((size_t)s->L, sizeof *m->in);
    kvp_rope rope;
    kvp_rope_init(&rope, s->d);
    for (int l = 0; l < s->L; l++) {
        kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, m->keys + kv * l, 3, s->Hk, s->n, s->d);
        kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, m->values + kv * l, 3, s->Hk, s->n, s->d);
        CK_OK(kvp_cache_append(m->cache, l, &k, &v, 0));
        CK_OK(kvp_inputs_create(ctx, &m->in[l]));
        kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, m->queries + q * l, 3, s->Hq, s->n, s->d);
        CK_OK(kvp_inputs_set_queries(m->in[l], &qt, 0));
        CK_OK(kvp_inputs_set_rope(m->in[l], &rope));
    }
}

static void model_free(model_data *m) {
    for (int l = 0; m->in && l < m->s.L; l++) kvp_inputs_destroy(m->in[l]);
    free(m->in);
    kvp_cache_destroy(m->cache);
    free(m->keys);
    free(m->values);
    free(m->queries);
}

/* ---- the selection against a direct computation --------------------------------------------- */

/* COMPRESSKV.md 1.3 in double for one layer: score[t] for t < n (window: max + 1). */
static void direct_scores(const model_data *m, int layer, const float *ranking, int k, int w,
                          int kernel, double *score) {
    const model_shape *s = &m->s;
    int n = s->n, d = s->d, G = s->Hq / s->Hk, len = n - w;
    const float *K = m->keys + (size_t)s->Hk * n * d * layer;
    const float *Q = m->queries + (size_t)s->Hq * n * d * layer;
    double *u = calloc((size_t)n, sizeof(double)), *z = malloc(sizeof(double) * (size_t)n);
    double *qr = malloc(sizeof(double) * (size_t)d);
    for (int t = 0; t < n; t++) score[t] = 0;
    for (int a = 0; a < k; a++) {
        int h = (int)ranking[(size_t)layer * s->Hq + a], g = h / G;
        for (int t = 0; t < n; t++) u[t] = 0;
        for (int i = n - w; i < n; i++) {
            /* half-split RoPE at position i, theta 10000 */
            const float *q = Q + ((size_t)h * n + i) * d;
            for (int c = 0; c < d / 2; c++) {
                double ang = i * pow(10000.0, -2.0 * c / d);
                qr[c] = q[c] * cos(ang) - q[c + d / 2] * sin(ang);
                qr[c + d / 2] = q[c + d / 2] * cos(ang) + q[c] * sin(ang);
            }
            double mx = -INFINITY, sum = 0;
            for (int t = 0; t <= i; t++) {
                double dot = 0;
                for (int c = 0; c < d; c++) dot += qr[c] * K[((size_t)g * n + t) * d + c];
                z[t] = dot / sqrt((double)d);
                mx = fmax(mx, z[t]);
            }
            for (int t = 0; t <= i; t++) sum += exp(z[t] - mx);
            for (int t = 0; t < len; t++) u[t] += exp(z[t] - mx) / sum;
        }
        for (int t = 0; t < len; t++) {
            double acc = 0;
            for (int o = -kernel / 2; o <= kernel / 2; o++)
                if (t + o >= 0 && t + o < len) acc += u[t + o];
            score[t] += acc / kernel / k;
        }
    }
    double mx = -INFINITY;
    for (int t = 0; t < len; t++) mx = fmax(mx, score[t]);
    for (int t = len; t < n; t++) score[t] = mx + 1;
    free(u);
    free(z);
    free(qr);
}

/* The positions a layer keeps in head j, as a 0/1 array over the prompt. */
static void kept_positions(const kvp_cache *c, int layer, int head, int n, unsigned char *kept,
                           int64_t *count) {
    int64_t len[64];
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    CK_OK(kvp_cache_get_lengths(c, layer, len));
    CK_OK(kvp_cache_read(c, layer, head, NULL, NULL, pos));
    memset(kept, 0, (size_t)n);
    for (int64_t t = 0; t < len[head]; t++) kept[pos[t]] = 1;
    *count = len[head];
    free(pos);
}

static const struct selection_case {
    model_shape s;
    kvp_dtype dt;
    const char *spec;
    int k, w, kernel, uniform;
} selection_cases[] = {
    {{3, 8, 4, 16, 160}, KVP_DTYPE_F32, "compresskv(compression_ratio=0.5)", 4, 8, 5, 0},
    {{4, 8, 2, 32, 300}, KVP_DTYPE_BF16,
     "compresskv(compression_ratio=0.75, selection_heads=2, window_size=16, min_budget=8)", 2,
     16, 5, 0},
    {{2, 4, 4, 8, 90}, KVP_DTYPE_F16,
     "compresskv(compression_ratio=0.25, selection_heads=1, kernel_size=3)", 1, 8, 3, 0},
    {{3, 8, 4, 16, 200}, KVP_DTYPE_F32,
     "compresskv(compression_ratio=0.6, layer_budgets=false)", 4, 8, 5, 1},
};

START_TEST(test_selection_direct) {
    const struct selection_case *sc = &selection_cases[_i];
    const model_shape *s = &sc->s;
    char label[256];
    snprintf(label, sizeof label, "%s [L=%d Hq=%d Hk=%d d=%d n=%d %s] on %s", sc->spec, s->L, s->Hq,
             s->Hk, s->d, s->n, kvp_dtype_name(sc->dt), H.backend);
    float *ranking = malloc(sizeof(float) * (size_t)s->L * s->Hq);
    double profile[64];
    kvp_artefact *a = make_artefact(s, 1, sc->spec, ranking, profile);
    kvp_press *p;
    CK_OK(kvp_press_parse(sc->spec, &p));
    CK_OK(kvp_press_set_artefact(p, a));
    model_data dev, ref;
    model_make(&dev, H.ctx, s, sc->dt, sc->spec);
    model_make(&ref, H.ref, s, sc->dt, sc->spec);

    /* budgets: the average B over the layers, shaped by the profile */
    double ratio;
    CK_OK(kvp_press_get(p, "compression_ratio", &ratio));
    int64_t B = kvp_n_keep(s->n, ratio), budgets[64], total = 0;
    int capped = 0;
    double minb, factor;
    CK_OK(kvp_press_get(p, "min_budget", &minb));
    CK_OK(kvp_press_get(p, "max_budget_factor", &factor));
    int64_t m = (int64_t)minb < B ? (int64_t)minb : B;
    if (sc->uniform)
        for (int l = 0; l < s->L; l++) budgets[l] = B;
    else
        CK_OK(kvp__compresskv_budgets(profile, s->L, B, m,
                                      fmin(floor(factor * B), (double)s->n), budgets));

    size_t count = (size_t)s->Hk * s->n;
    float *sd = malloc(sizeof(float) * count), *sr = malloc(sizeof(float) * count);
    double *direct = malloc(sizeof(double) * (size_t)s->n);
    unsigned char *kept = malloc((size_t)s->n), *kept0 = malloc((size_t)s->n);
    for (int l = 0; l < s->L; l++) {
        direct_scores(&dev, l, ranking, sc->k, sc->w, sc->kernel, direct);
        kvp_status st = kvp_press_score(H.ctx, p, dev.cache, l, dev.in[l], sd);
        ck_assert_msg(st == KVP_OK, "%s: score: %s", label, kvp_context_last_error(H.ctx));
        CK_OK(kvp_press_score(H.ref, p, ref.cache, l, ref.in[l], sr));
        ck_assert_msg(nmse(sd, sr, count) <= 1e-8, "%s: layer %d: device vs cpu scores", label, l);
        /* every kv head gets the same row, equal to the direct computation; f16/bf16 keys
         * round the logits, so the tolerance follows the dtype */
        double tol = sc->dt == KVP_DTYPE_F32 ? 1e-9 : 1e-4;
        float *row = malloc(sizeof(float) * (size_t)s->n);
        for (int t = 0; t < s->n; t++) row[t] = (float)direct[t];
        for (int j = 0; j < s->Hk; j++) {
            ck_assert_msg(!memcmp(sd, sd + (size_t)j * s->n, sizeof(float) * (size_t)s->n),
                          "%s: layer %d: kv head %d scores differ from head 0", label, l, j);
            double e = nmse(sd + (size_t)j * s->n, row, (size_t)s->n);
            ck_assert_msg(e <= tol, "%s: layer %d: scores vs direct computation: NMSE %.3g", label,
                          l, e);
        }
        free(row);

        st = kvp_compress(H.ctx, p, dev.cache, l, dev.in[l]);
        ck_assert_msg(st == KVP_OK, "%s: compress: %s", label, kvp_context_last_error(H.ctx));
        int64_t want = budgets[l] < s->n ? budgets[l] : s->n;
        /* the kept set: the same for every kv head, exactly B_l tokens, the window included,
         * and the best B_l of the direct scores up to ties (the golden rule) */
        double *sorted = malloc(sizeof(double) * (size_t)s->n), mxabs = 0;
        for (int t = 0; t < s->n; t++) sorted[t] = direct[t];
        for (int x = 1; x < s->n; x++) /* insertion sort, descending */
            for (int y = x; y > 0 && sorted[y] > sorted[y - 1]; y--) {
                double t = sorted[y];
                sorted[y] = sorted[y - 1];
                sorted[y - 1] = t;
            }
        for (int t = 0; t < s->n; t++) mxabs = fmax(mxabs, fabs(direct[t]));
        double b = sorted[want - 1], gt = 1e-5 * mxabs + 1e-3 * fabs(b) + (tol > 1e-9 ? 1e-3 : 0);
        for (int j = 0; j < s->Hk; j++) {
            int64_t c;
            kept_positions(dev.cache, l, j, s->n, kept, &c);
            ck_assert_msg(c == want, "%s: layer %d head %d keeps %lld, budget %lld", label, l, j,
                          (long long)c, (long long)want);
            if (j == 0) memcpy(kept0, kept, (size_t)s->n);
            ck_assert_msg(!memcmp(kept, kept0, (size_t)s->n),
                          "%s: layer %d: kv head %d keeps another set", label, l, j);
        }
        for (int t = 0; t < s->n; t++) {
            if (t >= s->n - sc->w && want >= sc->w)
                ck_assert_msg(kept0[t], "%s: layer %d: window token %d evicted", label, l, t);
            ck_assert_msg(!kept0[t] || direct[t] >= b - gt, "%s: layer %d: kept %d scores %g < %g",
                          label, l, t, direct[t], b);
            ck_assert_msg(kept0[t] || direct[t] <= b + gt, "%s: layer %d: evicted %d scores %g > %g",
                          label, l, t, direct[t], b);
        }
        CK_OK(kvp_compress(H.ref, p, ref.cache, l, ref.in[l]));
        total += want;
        capped |= want < budgets[l];
        free(sorted);
    }
    int64_t len_total = 0, len[64];
    for (int l = 0; l < s->L; l++) {
        CK_OK(kvp_cache_get_lengths(dev.cache, l, len));
        len_total += len[0];
    }
    ck_assert_int_eq(len_total, total);
    /* the whole model keeps L B per kv head */
    ck_assert(!capped);
    ck_assert_int_eq(total, (int64_t)s->L * B);
    free(kept);
    free(kept0);
    free(direct);
    free(sd);
    free(sr);
    free(ranking);
    model_free(&dev);
    model_free(&ref);
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
}
END_TEST

/* With no profile, or layer_budgets=false, every layer keeps the average budget. */
START_TEST(test_uniform_without_profile) {
    model_shape s = {3, 8, 4, 16, 120};
    kvp_artefact *a = make_artefact(&s, 0, "no-profile", NULL, NULL);
    kvp_press *p;
    CK_OK(kvp_press_parse("compresskv(compression_ratio=0.5)", &p));
    CK_OK(kvp_press_set_artefact(p, a));
    model_data m;
    model_make(&m, H.ctx, &s, KVP_DTYPE_F32, "no-profile");
    for (int l = 0; l < s.L; l++) {
        CK_OK(kvp_compress(H.ctx, p, m.cache, l, m.in[l]));
        int64_t len[4];
        CK_OK(kvp_cache_get_lengths(m.cache, l, len));
        for (int j = 0; j < s.Hk; j++) ck_assert_int_eq(len[j], 60);
    }
    model_free(&m);
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */

/* One way to break an artefact of shape {L=3, Hq=8, Hk=4}. */
static kvp_artefact *make_bad(int which) {
    st_writer *w = st_writer_create();
    char err[256];
    float rank[24], prof[3] = {0.2f, 0.3f, 0.5f}, scores[24];
    for (int i = 0; i < 24; i++) rank[i] = (float)(i % 8), scores[i] = 1;
    int64_t r2[2] = {3, 8}, r3[3] = {3, 8, 1}, p1[1] = {3}, p2[1] = {2};
    const char *format = KVP_COMPRESSKV_FORMAT, *hk = "4";
    int with_rank = 1, with_prof = 1, rank3 = 0, short_prof = 0, with_scores = 0;
    switch (which) {
    case 0: with_rank = 0; break;                  /* no ranking */
    case 1: rank3 = 1; break;                      /* ranking of rank 3 */
    case 2: rank[9] = 3; break;                    /* a head twice in layer 1 */
    case 3: rank[20] = 8; break;                   /* a head out of range */
    case 4: rank[2] = 2.5f; break;                 /* not a whole number */
    case 5: rank[5] = -1; break;                   /* negative */
    case 6: short_prof = 1; break;                 /* profile of the wrong length */
    case 7: prof[1] = NAN; break;                  /* NaN in the profile */
    case 8: prof[0] = -0.2f, prof[2] = 0.9f; break; /* negative entry */
    case 9: prof[2] = 0.1f; break;                 /* sums to 0.6 */
    case 10: format = "something-else"; break;     /* another format */
    case 11: hk = "3"; break;                      /* kv heads that do not divide Hq */
    case 12: with_scores = 1; break;               /* scores of the wrong shape */
    default: break;
    }
    ck_assert(!st_writer_add_meta(w, "format", format, err, sizeof err));
    ck_assert(!st_writer_add_meta(w, "n_kv_heads", hk, err, sizeof err));
    if (with_rank)
        ck_assert(!st_writer_add_f32(w, KVP_COMPRESSKV_RANKING, rank3 ? 3 : 2, rank3 ? r3 : r2, rank,
                                     err, sizeof err));
    if (with_prof)
        ck_assert(!st_writer_add_f32(w, KVP_COMPRESSKV_PROFILE, 1, short_prof ? p2 : p1, prof, err,
                                     sizeof err));
    if (with_scores)
        ck_assert(!st_writer_add_f32(w, KVP_COMPRESSKV_SCORES, 2, (int64_t[]){8, 3}, scores, err,
                                     sizeof err));
    kvp_artefact *a = st_load(w);
    st_writer_free(w);
    return a;
}

START_TEST(test_malformed_artefacts) {
    model_shape s = {3, 8, 4, 16, 64};
    model_data m;
    model_make(&m, H.ctx, &s, KVP_DTYPE_F32, "malformed");
    uint64_t sum = cache_checksum(m.cache);
    for (int which = 0; which <= 12; which++) {
        kvp_artefact *a = make_bad(which);
        kvp_press *p;
        CK_OK(kvp_press_parse("compresskv(compression_ratio=0.5)", &p));
        kvp_status st = kvp_press_set_artefact(p, a);
        ck_assert_msg(st == KVP_ERR_INVALID_ARG, "malformed artefact %d accepted (%s)", which,
                      kvp_status_name(st));
        ck_assert_msg(strstr(kvp_last_error(), "compresskv artefact") != NULL,
                      "artefact %d: unclear message '%s'", which, kvp_last_error());
        /* the press still has no artefact */
        ck_assert_int_eq(kvp_compress(H.ctx, p, m.cache, 0, m.in[0]), KVP_ERR_MISSING_INPUT);
        ck_assert_uint_eq(cache_checksum(m.cache), sum);
        kvp_press_destroy(p);
        kvp_artefact_destroy(a);
    }
    /* and a well-formed one of the same family is accepted */
    kvp_artefact *good = make_bad(-1);
    kvp_press *p;
    CK_OK(kvp_press_parse("compresskv(compression_ratio=0.5)", &p));
    CK_OK(kvp_press_set_artefact(p, good));
    CK_OK(kvp_compress(H.ctx, p, m.cache, 0, m.in[0]));
    kvp_press_destroy(p);
    kvp_artefact_destroy(good);
    model_free(&m);
}
END_TEST

/* Calls that must fail with `want` and leave the cache as it was. */
static void expect_failure(kvp_press *p, model_data *m, int layer, kvp_status want,
                           const char *needle, const char *label) {
    uint64_t sum = cache_checksum(m->cache);
    kvp_status st = kvp_compress(H.ctx, p, m->cache, layer, m->in[layer]);
    ck_assert_msg(st == want, "%s: got %s, expected %s (%s)", label, kvp_status_name(st),
                  kvp_status_name(want), kvp_context_last_error(H.ctx));
    ck_assert_msg(strstr(kvp_context_last_error(H.ctx), needle) != NULL,
                  "%s: message '%s' does not say '%s'", label, kvp_context_last_error(H.ctx), needle);
    ck_assert_uint_eq(cache_checksum(m->cache), sum);
}

START_TEST(test_bad_input) {
    model_shape s = {3, 8, 4, 16, 64};
    model_data m;
    model_make(&m, H.ctx, &s, KVP_DTYPE_F32, "bad-input");
    kvp_press *p;
    CK_OK(kvp_press_parse("compresskv(compression_ratio=0.5)", &p));
    expect_failure(p, &m, 0, KVP_ERR_MISSING_INPUT, "artefact", "no artefact");
    float scores[4 * 64];
    ck_assert_int_eq(kvp_press_score(H.ctx, p, m.cache, 0, m.in[0], scores), KVP_ERR_MISSING_INPUT);

    /* artefacts of another model: more layers, fewer query heads, other kv heads */
    model_shape other[3] = {{4, 8, 4, 16, 64}, {3, 4, 4, 16, 64}, {3, 8, 2, 16, 64}};
    const char *says[3] = {"4 layers x 8 query heads", "3 layers x 4 query heads", "2 kv heads"};
    for (int i = 0; i < 3; i++) {
        kvp_artefact *a = make_artefact(&other[i], 1, "other", NULL, NULL);
        CK_OK(kvp_press_set_artefact(p, a));
        expect_failure(p, &m, 1, KVP_ERR_INVALID_ARG, says[i], "artefact of another model");
        kvp_press_destroy(p);
        CK_OK(kvp_press_parse("compresskv(compression_ratio=0.5)", &p));
        kvp_artefact_destroy(a);
    }

    kvp_artefact *a = make_artefact(&s, 1, "good", NULL, NULL);
    CK_OK(kvp_press_set_artefact(p, a));
    /* parameters out of range are refused when set */
    ck_assert_int_eq(kvp_press_set_int(p, "selection_heads", 0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, "max_budget_factor", 0.5), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_float(p, "compression_ratio", 1.0), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_press_set_int(p, "min_budget", -1), KVP_ERR_INVALID_ARG);
    /* ... or when they meet the model */
    CK_OK(kvp_press_set_int(p, "selection_heads", 9));
    expect_failure(p, &m, 0, KVP_ERR_INVALID_ARG, "selection_heads", "more heads than the model");
    CK_OK(kvp_press_set_int(p, "selection_heads", 8));
    CK_OK(kvp_press_set_int(p, "kernel_size", 4));
    expect_failure(p, &m, 0, KVP_ERR_INVALID_ARG, "odd", "even pooling kernel");
    CK_OK(kvp_press_set_int(p, "kernel_size", 5));
    /* too few tokens: the prompt must be longer than the window */
    CK_OK(kvp_press_set_int(p, "window_size", 64));
    expect_failure(p, &m, 0, KVP_ERR_INVALID_ARG, "window_size", "prompt no longer than the window");
    CK_OK(kvp_press_set_int(p, "window_size", 8));
    /* queries missing */
    kvp_inputs *none;
    CK_OK(kvp_inputs_create(H.ctx, &none));
    uint64_t sum = cache_checksum(m.cache);
    ck_assert_int_eq(kvp_compress(H.ctx, p, m.cache, 0, none), KVP_ERR_MISSING_INPUT);
    ck_assert_uint_eq(cache_checksum(m.cache), sum);
    kvp_inputs_destroy(none);
    /* a press that takes no artefact refuses one */
    kvp_press *snap;
    CK_OK(kvp_press_parse("snapkv", &snap));
    ck_assert_int_eq(kvp_press_set_artefact(snap, a), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(snap);
    /* and after all that the press still works */
    CK_OK(kvp_compress(H.ctx, p, m.cache, 0, m.in[0]));
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
    model_free(&m);
}
END_TEST

/* A budget smaller than the window keeps the window's earliest tokens (max + 1 ties, lower
 * position first), and a budget of at least n evicts nothing. */
START_TEST(test_small_and_large_budgets) {
    model_shape s = {2, 8, 4, 16, 40};
    kvp_artefact *a = make_artefact(&s, 0, "small", NULL, NULL);
    model_data m;
    model_make(&m, H.ctx, &s, KVP_DTYPE_F32, "small");
    kvp_press *p;
    CK_OK(kvp_press_parse("compresskv(compression_ratio=0.875, window_size=8)", &p));
    CK_OK(kvp_press_set_artefact(p, a));
    CK_OK(kvp_compress(H.ctx, p, m.cache, 0, m.in[0])); /* B = 40 * 0.125 = 5 */
    unsigned char kept[40];
    int64_t c;
    kept_positions(m.cache, 0, 0, 40, kept, &c);
    ck_assert_int_eq(c, 5);
    for (int t = 0; t < 40; t++) ck_assert_int_eq(kept[t], t >= 32 && t < 37);
    kvp_press_destroy(p);
    /* ratio 0 keeps everything */
    CK_OK(kvp_press_parse("compresskv(compression_ratio=0.0)", &p));
    CK_OK(kvp_press_set_artefact(p, a));
    uint64_t sum = cache_checksum(m.cache);
    CK_OK(kvp_compress(H.ctx, p, m.cache, 1, m.in[1]));
    ck_assert_uint_eq(cache_checksum(m.cache), sum);
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
    /* B = 64 * 0.875 = 56, spare = 2 * 56 - 2 * 32 = 48: layer 0 would get 32 + rint(43.2) =
     * 75 > 64 tokens; M is capped at n = 64, so layer 0 keeps everything and the 11 tokens it
     * cannot use go to layer 1: 32 + rint(4.8) + 11 = 48, and the model keeps 2 B = 112 */
    float prof[2] = {0.9f, 0.1f};
    model_shape s2 = {2, 8, 4, 16, 64};
    a = make_artefact_given(&s2, 1, "large", prof, NULL, NULL);
    model_data m2;
    model_make(&m2, H.ctx, &s2, KVP_DTYPE_F32, "large");
    CK_OK(kvp_press_parse("compresskv(compression_ratio=0.125)", &p));
    CK_OK(kvp_press_set_artefact(p, a));
    sum = cache_checksum(m2.cache);
    CK_OK(kvp_compress(H.ctx, p, m2.cache, 0, m2.in[0]));
    ck_assert_uint_eq(cache_checksum(m2.cache), sum);
    CK_OK(kvp_compress(H.ctx, p, m2.cache, 1, m2.in[1]));
    int64_t len[4];
    CK_OK(kvp_cache_get_lengths(m2.cache, 1, len));
    for (int j = 0; j < 4; j++) ck_assert_int_eq(len[j], 48);
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
    model_free(&m2);
    model_free(&m);
}
END_TEST

/* A wrapper hands the artefact to the press it wraps; a chain without such a press refuses. */
START_TEST(test_wrapped_press) {
    model_shape s = {3, 8, 4, 16, 64};
    kvp_artefact *a = make_artefact(&s, 1, "wrapped", NULL, NULL);
    model_data m;
    model_make(&m, H.ctx, &s, KVP_DTYPE_F32, "wrapped");
    kvp_press *p;
    CK_OK(kvp_press_parse("adakv(press=compresskv, compression_ratio=0.5)", &p));
    CK_OK(kvp_press_set_artefact(p, a));
    CK_OK(kvp_compress(H.ctx, p, m.cache, 0, m.in[0]));
    int64_t len[4], total = 0;
    CK_OK(kvp_cache_get_lengths(m.cache, 0, len));
    for (int j = 0; j < s.Hk; j++) total += len[j];
    ck_assert_int_eq(total, 4 * 32); /* adakv's layer-wide budget over compresskv's scores */
    kvp_press_destroy(p);
    CK_OK(kvp_press_parse("chunkkv(press=snapkv)", &p));
    ck_assert_int_eq(kvp_press_set_artefact(p, a), KVP_ERR_INVALID_ARG);
    ck_assert_msg(strstr(kvp_last_error(), "nor the presses it holds") != NULL, "%s",
                  kvp_last_error());
    kvp_press_destroy(p);
    model_free(&m);
    kvp_artefact_destroy(a);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("compresskv");
    TCase *b = tcase_create("budgets");
    tcase_add_test(b, test_budgets_by_hand);
    tcase_add_test(b, test_budgets_reference);
    tcase_add_test(b, test_budgets_properties);
    tcase_add_test(b, test_safetensors_writer);
    suite_add_tcase(s, b);
    TCase *sel = tcase_create("selection");
    tcase_set_timeout(sel, 600);
    tcase_add_loop_test(sel, test_selection_direct, 0,
                        (int)(sizeof selection_cases / sizeof selection_cases[0]));
    tcase_add_test(sel, test_uniform_without_profile);
    tcase_add_test(sel, test_small_and_large_budgets);
    suite_add_tcase(s, sel);
    TCase *bad = tcase_create("bad input");
    tcase_add_test(bad, test_malformed_artefacts);
    tcase_add_test(bad, test_bad_input);
    tcase_add_test(bad, test_wrapped_press);
    suite_add_tcase(s, bad);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
