/*
 * Checks of the CPU reference itself against values computed by hand or by independent code:
 * the oracle of every other backend must be right. (The kvpress golden vectors check the
 * presses end to end; these pin the conventions the golden set does not reach: ties, rounding,
 * budgets, layouts, dtypes.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "harness.h"

static kvp_buffer *buf_from(const void *data, size_t bytes) {
    kvp_buffer *b;
    ck_assert_int_eq(kvp_buffer_alloc(H.ref, bytes, &b), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(H.ref, b, 0, data, bytes), KVP_OK);
    return b;
}

static void buf_read(kvp_buffer *b, void *out, size_t bytes) {
    ck_assert_int_eq(kvp_buffer_download(H.ref, b, 0, out, bytes), KVP_OK);
}

START_TEST(test_n_keep) {
    /* PRESSES.md 5.2: int(n * (1 - r)) in double */
    struct { int64_t n; double r; int64_t keep; } t[] = {
        {23, 0.4, 13}, {28, 0.4, 16}, {128, 0.2, 102}, {128, 0.8, 25}, {100, 0.7, 30},
        {10, 0.9, 0}, {10, 0.7, 3}, {4096, 0.25, 3072}, {4096, 0.5, 2048}, {4096, 0.75, 1024},
        {4096, 0.875, 512}, {384, 0.0, 384},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        ck_assert_msg(kvp_n_keep(t[i].n, t[i].r) == t[i].keep, "n_keep(%lld, %g)", (long long)t[i].n,
                      t[i].r);
}
END_TEST

START_TEST(test_dtype_conversions) {
    float in[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65520.0f, 6.1035156e-05f, 5.9604645e-08f,
                  1.0009765625f, 1.00048828125f, 3.0e-8f, INFINITY, 1e30f};
    uint16_t h[13], b[13];
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, in, KVP_DTYPE_F16, h, 13), KVP_OK);
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, in, KVP_DTYPE_BF16, b, 13), KVP_OK);
    uint16_t want_h[] = {0x0000, 0x8000, 0x3c00, 0xc100, 0x7bff, 0x7c00, 0x0400, 0x0001,
                         0x3c01, 0x3c00 /* tie to even */, 0x0001 /* rounds up */, 0x7c00, 0x7c00};
    for (int i = 0; i < 13; i++) ck_assert_msg(h[i] == want_h[i], "f16(%g) = %04x, want %04x", in[i], h[i], want_h[i]);
    ck_assert_uint_eq(b[2], 0x3f80);
    ck_assert_uint_eq(b[3], 0xc020);
    float back[13];
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F16, h, KVP_DTYPE_F32, back, 13), KVP_OK);
    ck_assert(back[7] == 5.9604645e-08f && back[4] == 65504.0f && isinf(back[5]));
    /* bf16 rounds to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 */
    float tie = 1.00390625f;
    uint16_t tb;
    kvp_convert(KVP_DTYPE_F32, &tie, KVP_DTYPE_BF16, &tb, 1);
    ck_assert_uint_eq(tb, 0x3f80);
    float nan = NAN;
    kvp_convert(KVP_DTYPE_F32, &nan, KVP_DTYPE_BF16, &tb, 1);
    ck_assert((tb & 0x7f80) == 0x7f80 && (tb & 0x7f));
}
END_TEST

START_TEST(test_topk_ties) {
    float s[2][6] = {{1, 3, 3, 2, 3, -1}, {0, 0, 0, 5, -0.0f, 0}};
    kvp_buffer *sb = buf_from(s, sizeof s), *mb = buf_from(s, sizeof s);
    int32_t m[2][6];
    kvp_p_topk p = {.H = 2, .n = 6, .k = 2, .global_mode = 0};
    ck_assert_int_eq(KVP_RUN(H.ref, TOPK, &p, KVP_B(sb), KVP_B(mb)), KVP_OK);
    buf_read(mb, m, sizeof m);
    int32_t want[2][6] = {{0, 1, 1, 0, 0, 0}, {1, 0, 0, 1, 0, 0}}; /* ties: lower index first */
    ck_assert(!memcmp(m, want, sizeof m));
    p.global_mode = 1;
    p.k = 5;
    ck_assert_int_eq(KVP_RUN(H.ref, TOPK, &p, KVP_B(sb), KVP_B(mb)), KVP_OK);
    buf_read(mb, m, sizeof m);
    /* 5, 3, 3, 3, 2 */
    int32_t want_g[2][6] = {{0, 1, 1, 1, 1, 0}, {0, 0, 0, 1, 0, 0}};
    ck_assert(!memcmp(m, want_g, sizeof m));
    kvp_buffer_free(sb);
    kvp_buffer_free(mb);
}
END_TEST

START_TEST(test_compact_order_and_ragged) {
    /* two heads of 4 rows (d = 2) with a gap row between them */
    float k[9 * 2], v[9 * 2];
    for (int i = 0; i < 18; i++) k[i] = (float)i, v[i] = -(float)i;
    int32_t pos[9] = {0, 1, 2, 3, -7, 10, 11, 12, 13};
    int32_t meta[4] = {0, 4, 5, 4};
    int32_t mask[2 * 4] = {1, 0, 1, 1, 0, 0, 1, 0};
    kvp_buffer *kb = buf_from(k, sizeof k), *vb = buf_from(v, sizeof v), *pb = buf_from(pos, sizeof pos),
               *mb = buf_from(meta, sizeof meta), *xb = buf_from(mask, sizeof mask);
    kvp_p_compact p = {.Hk = 2, .d = 2, .n = 4, .kv_dtype = KVP_DT_F32};
    ck_assert_int_eq(KVP_RUN(H.ref, COMPACT, &p, KVP_B(kb), KVP_B(vb), KVP_B(pb), KVP_B(mb), KVP_B(xb)),
                     KVP_OK);
    buf_read(kb, k, sizeof k);
    buf_read(pb, pos, sizeof pos);
    buf_read(mb, meta, sizeof meta);
    ck_assert_int_eq(meta[1], 3);
    ck_assert_int_eq(meta[3], 1);
    ck_assert(pos[0] == 0 && pos[1] == 2 && pos[2] == 3 && pos[5] == 12);
    ck_assert(k[2] == 4.0f && k[3] == 5.0f && k[10] == 14.0f);
    kvp_buffer_free(kb), kvp_buffer_free(vb), kvp_buffer_free(pb), kvp_buffer_free(mb), kvp_buffer_free(xb);
}
END_TEST

/* Attention of a few queries over a tiny ragged layer, against a direct double computation. */
START_TEST(test_attention_by_hand) {
    enum { HQ = 4, HK = 2, D = 4, M = 3 };
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = 12,
                           .dtype = KVP_DTYPE_F32};
    kvp_cache *c;
    ck_assert_int_eq(kvp_cache_create(H.ref, &o, &c), KVP_OK);
    rng r = rng_for("attention-by-hand", 0);
    float k[HK * 8 * D], v[HK * 8 * D], q[HQ * M * D], out[HQ * M * D];
    fill_normal(&r, k, sizeof k / 4, 1.0f);
    fill_normal(&r, v, sizeof v / 4, 1.0f);
    fill_normal(&r, q, sizeof q / 4, 1.0f);
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, k, 3, HK, 8, D);
    kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, v, 3, HK, 8, D);
    ck_assert_int_eq(kvp_cache_append(c, 0, &kt, &vt, 0), KVP_OK);
    /* evict token 2 of head 0 and tokens 0, 1 of head 1 through a compaction */
    int32_t mask[HK * 8] = {1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1};
    kvp_buffer *mb = buf_from(mask, sizeof mask);
    ck_assert_int_eq(kvp__cache_compact(H.ref, c, 0, mb, 8), KVP_OK);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, HQ, M, D);
    kvp_tensor ot = kvp_tensor_host(KVP_DTYPE_F32, out, 3, HQ, M, D);
    /* queries at positions 5, 6, 7 */
    ck_assert_int_eq(kvp_attention(H.ref, c, 0, &qt, 5, 0.5f, &ot), KVP_OK);
    for (int i = 0; i < HQ; i++)
        for (int a = 0; a < M; a++) {
            int j = i / 2;
            double w[8], sum = 0, mx = -1e300;
            for (int t = 0; t < 8; t++) {
                w[t] = -INFINITY;
                if (!mask[j * 8 + t] || t > 5 + a) continue;
                double dot = 0;
                for (int e = 0; e < D; e++) dot += (double)q[(i * M + a) * D + e] * k[(j * 8 + t) * D + e];
                w[t] = 0.5 * dot;
                mx = fmax(mx, w[t]);
            }
            for (int t = 0; t < 8; t++) sum += isinf(w[t]) ? 0 : exp(w[t] - mx);
            for (int e = 0; e < D; e++) {
                double acc = 0;
                for (int t = 0; t < 8; t++)
                    if (!isinf(w[t])) acc += exp(w[t] - mx) / sum * v[(j * 8 + t) * D + e];
                ck_assert_msg(fabs(out[(i * M + a) * D + e] - acc) < 1e-6, "attention head %d row %d", i, a);
            }
        }
    /* a query before every cached position sees nothing: zero output */
    ck_assert_int_eq(kvp_cache_truncate(c, 0, 0), KVP_OK);
    ck_assert_int_eq(kvp_attention(H.ref, c, 0, &qt, 0, 0.5f, &ot), KVP_OK);
    for (int i = 0; i < HQ * M * D; i++) ck_assert(out[i] == 0.0f);
    kvp_buffer_free(mb);
    kvp_cache_destroy(c);
}
END_TEST

START_TEST(test_rope_by_hand) {
    /* d = 4: pairs (0,2),(1,3) half-split; (0,1),(2,3) interleaved; theta 100 */
    float x[4] = {1, 2, 3, 4}, out[4];
    kvp_rope rope;
    kvp_rope_init(&rope, 4);
    rope.theta = 100.0;
    kvp_tensor xt = kvp_tensor_host(KVP_DTYPE_F32, x, 3, 1, 1, 4);
    kvp_tensor ot = kvp_tensor_host(KVP_DTYPE_F32, out, 3, 1, 1, 4);
    ck_assert_int_eq(kvp_rope_apply(H.ref, &rope, &xt, 3, &ot), KVP_OK);
    double a0 = 3.0, a1 = 3.0 * pow(100.0, -0.5); /* position 3 * inv_freq */
    ck_assert(fabs(out[0] - (1 * cos(a0) - 3 * sin(a0))) < 1e-5);
    ck_assert(fabs(out[2] - (3 * cos(a0) + 1 * sin(a0))) < 1e-5);
    ck_assert(fabs(out[1] - (2 * cos(a1) - 4 * sin(a1))) < 1e-5);
    rope.layout = KVP_ROPE_INTERLEAVED;
    ck_assert_int_eq(kvp_rope_apply(H.ref, &rope, &xt, 3, &ot), KVP_OK);
    ck_assert(fabs(out[0] - (1 * cos(a0) - 2 * sin(a0))) < 1e-5);
    ck_assert(fabs(out[1] - (2 * cos(a0) + 1 * sin(a0))) < 1e-5);
    ck_assert(fabs(out[3] - (4 * cos(a1) + 3 * sin(a1))) < 1e-5);
    /* attention scaling multiplies cos and sin */
    rope.attention_scaling = 2.0f;
    ck_assert_int_eq(kvp_rope_apply(H.ref, &rope, &xt, 0, &ot), KVP_OK);
    ck_assert(fabs(out[0] - 2.0) < 1e-6 && fabs(out[3] - 8.0) < 1e-6);
}
END_TEST

/* Re-rotation (PRESSES.md 2.39): a key rotated at position p, then re-rotated by delta = t - p,
 * equals the pre-RoPE key rotated at t (up to the f32 rounding of the angles), in both layouts;
 * the stored positions become pos0 + t. */
START_TEST(test_rerotate_equals_rope_at_new_position) {
    enum { D = 16, N = 40 };
    for (int layout = 0; layout < 2; layout++) {
        float x[N * D], k[N * D], want[N * D], inv_freq[D / 2];
        int32_t pos[N], meta[2] = {0, N};
        rng r = rng_for("rerotate-by-hand", layout);
        fill_normal(&r, x, N * D, 1.0f);
        for (int f = 0; f < D / 2; f++) inv_freq[f] = 1.0f / powf(10000.0f, (float)(2 * f) / D);
        for (int t = 0; t < N; t++) pos[t] = 3 * t + (t % 4); /* increasing, gapped */
        for (int t = 0; t < N; t++)
            for (int f = 0; f < D / 2; f++) {
                int u = layout ? 2 * f : f, v = layout ? 2 * f + 1 : f + D / 2;
                double a = (double)pos[t] * inv_freq[f], b = (double)(t + 5) * inv_freq[f];
                const float *xt = x + t * D;
                k[t * D + u] = (float)(xt[u] * cos(a) - xt[v] * sin(a));
                k[t * D + v] = (float)(xt[v] * cos(a) + xt[u] * sin(a));
                want[t * D + u] = (float)(xt[u] * cos(b) - xt[v] * sin(b));
                want[t * D + v] = (float)(xt[v] * cos(b) + xt[u] * sin(b));
            }
        kvp_buffer *kb = buf_from(k, sizeof k), *mb = buf_from(meta, sizeof meta);
        kvp_buffer *pb = buf_from(pos, sizeof pos), *fb = buf_from(inv_freq, sizeof inv_freq);
        kvp_p_rerotate p = {.Hk = 1, .d = D, .n = N, .k_dtype = KVP_DT_F32, .rope_layout = layout, .pos0 = 5};
        ck_assert_int_eq(KVP_RUN(H.ref, REROTATE, &p, KVP_B(kb), KVP_B(mb), KVP_B(pb), KVP_B(fb)), KVP_OK);
        buf_read(kb, k, sizeof k);
        buf_read(pb, pos, sizeof pos);
        for (int t = 0; t < N; t++) {
            ck_assert_int_eq(pos[t], t + 5);
            for (int c = 0; c < D; c++)
                ck_assert_msg(fabsf(k[t * D + c] - want[t * D + c]) < 2e-5f, "layout %d t %d c %d: %g vs %g",
                              layout, t, c, k[t * D + c], want[t * D + c]);
        }
        kvp_buffer_free(kb), kvp_buffer_free(mb), kvp_buffer_free(pb), kvp_buffer_free(fb);
    }
}
END_TEST

START_TEST(test_pool_pad_softmax) {
    float s[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, o[10] = {0};
    kvp_buffer *sb = buf_from(s, sizeof s), *ob = buf_from(o, sizeof o);
    kvp_p_pool1d pp = {.H = 1, .n = 10, .len = 8, .k = 5};
    ck_assert_int_eq(KVP_RUN(H.ref, POOL1D, &pp, KVP_B(sb), KVP_B(ob)), KVP_OK);
    buf_read(ob, o, sizeof o);
    ck_assert(fabsf(o[0] - 6.0f / 5) < 1e-6 && fabsf(o[3] - 20.0f / 5) < 1e-6);
    ck_assert(fabsf(o[7] - (6 + 7 + 8) / 5.0f) < 1e-6 && o[8] == 0 && o[9] == 0);
    kvp_p_score_pad sp = {.H = 1, .n = 10, .lo = 2, .hi = 7};
    ck_assert_int_eq(KVP_RUN(H.ref, SCORE_PAD, &sp, KVP_B(sb)), KVP_OK);
    buf_read(sb, s, sizeof s);
    ck_assert(s[0] == 8 && s[1] == 8 && s[2] == 3 && s[6] == 7 && s[7] == 8 && s[9] == 8);
    kvp_p_softmax sm = {.H = 1, .n = 10, .t0 = 2};
    ck_assert_int_eq(KVP_RUN(H.ref, SOFTMAX, &sm, KVP_B(sb)), KVP_OK);
    buf_read(sb, s, sizeof s);
    double sum = 0;
    for (int t = 2; t < 10; t++) sum += s[t];
    ck_assert(fabs(sum - 1) < 1e-6 && s[0] == 8);
    kvp_buffer_free(sb);
    kvp_buffer_free(ob);
}
END_TEST

/* PyramidKV budgets per layer (PRESSES.md 2.7): layer 0 keeps the most; the mean is n(1 - r). */
START_TEST(test_pyramid_budgets) {
    enum { LAYERS = 32, N = 4096, D = 8 };
    kvp_cache_options o = {.n_layers = LAYERS, .n_kv_heads = 1, .head_dim = D, .capacity = N,
                           .dtype = KVP_DTYPE_F32};
    kvp_cache *c;
    ck_assert_int_eq(kvp_cache_create(H.ref, &o, &c), KVP_OK);
    float *k = malloc(sizeof(float) * N * D), *q = malloc(sizeof(float) * N * D);
    rng r = rng_for("pyramid", 0);
    fill_normal(&r, k, N * D, 1.0f);
    fill_normal(&r, q, N * D, 1.0f);
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, k, 3, 1, N, D);
    kvp_inputs *in;
    ck_assert_int_eq(kvp_inputs_create(H.ref, &in), KVP_OK);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q + (N - 64) * D, 3, 1, 64, D);
    ck_assert_int_eq(kvp_inputs_set_queries(in, &qt, N - 64), KVP_OK);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    ck_assert_int_eq(kvp_inputs_set_rope(in, &rope), KVP_OK);
    kvp_press *p;
    ck_assert_int_eq(kvp_press_parse("pyramidkv(compression_ratio=0.5, window_size=64)", &p), KVP_OK);
    double total = 0;
    int64_t first = 0, last = 0;
    for (int l = 0; l < LAYERS; l++) {
        ck_assert_int_eq(kvp_cache_append(c, l, &kt, &kt, 0), KVP_OK);
        ck_assert_int_eq(kvp_compress(H.ref, p, c, l, in), KVP_OK);
        int64_t len;
        kvp_cache_get_lengths(c, l, &len);
        total += (double)len;
        if (l == 0) first = len;
        if (l == LAYERS - 1) last = len;
    }
    ck_assert_int_eq(first, 3994); /* round(3993.6) */
    ck_assert_int_eq(last, 102);   /* round(102.4) */
    ck_assert(fabs(total / LAYERS - N * 0.5) / (N * 0.5) < 1e-3);
    kvp_press_destroy(p);
    kvp_inputs_destroy(in);
    kvp_cache_destroy(c);
    free(k);
    free(q);
}
END_TEST

/* CHOLESKY and CHOL_QUADFORM on matrices factored by hand: A = L L^T with
 * L = [[2, 0, 0], [1, 3, 0], [-1, 2, 1]]; an indefinite matrix reports its failing column;
 * x^T A^-1 x for x = L e gives ||e||^2. Also ZSCORE's unbiased std and CUR's zero windows. */
START_TEST(test_cholesky_and_friends_by_hand) {
    float A[2 * 9] = {4, 2, -2, 2, 10, 5, -2, 5, 6, /* matrix 0: L L^T */
                      1, 2, 0, 2, 1, 0, 0, 0, 1};   /* matrix 1: indefinite at column 1 */
    int32_t info[2] = {-1, -1};
    kvp_buffer *ab = buf_from(A, sizeof A), *ib = buf_from(info, sizeof info);
    kvp_p_cholesky ch = {.H = 2, .d = 3};
    ck_assert_int_eq(KVP_RUN(H.ref, CHOLESKY, &ch, KVP_B(ab), KVP_B(ib)), KVP_OK);
    buf_read(ab, A, sizeof A);
    buf_read(ib, info, sizeof info);
    float L[9] = {2, 0, 0, 1, 3, 0, -1, 2, 1};
    for (int e = 0; e < 9; e++) ck_assert_msg(A[e] == L[e], "L[%d] = %g, want %g", e, A[e], L[e]);
    ck_assert_int_eq(info[0], 0);
    ck_assert_int_eq(info[1], 2); /* 1 - 2 * 2 < 0 at the second pivot */
    /* x = L e with e = (1, -1, 2): x^T A^-1 x = ||e||^2 = 6 */
    float x[3] = {2, -2, -1}, q = 0;
    int32_t meta[2] = {0, 1};
    kvp_buffer *xb = buf_from(x, sizeof x), *mb = buf_from(meta, sizeof meta), *qb = buf_from(&q, 4);
    kvp_p_chol_quadform qf = {.H = 1, .Hx = 1, .d = 3, .n = 1, .t0 = 0, .x_dtype = KVP_DT_F32};
    ck_assert_int_eq(KVP_RUN(H.ref, CHOL_QUADFORM, &qf, KVP_B(ab), KVP_B(xb), KVP_B(mb), KVP_B(qb)),
                     KVP_OK);
    buf_read(qb, &q, 4);
    ck_assert_msg(fabsf(q - 6.0f) < 1e-6f, "quadratic form %g, want 6", q);
    /* ZSCORE: (1, 2, 3, 4) has mean 2.5 and unbiased std sqrt(5/3) */
    float zin[4] = {1, 2, 3, 4}, zout[6] = {9, 9, 9, 9, 9, 9};
    kvp_buffer *zi = buf_from(zin, sizeof zin), *zo = buf_from(zout, sizeof zout);
    kvp_p_zscore zs = {.H = 1, .m = 4, .n_out = 6, .off = 1, .accumulate = 0, .scale = 2};
    ck_assert_int_eq(KVP_RUN(H.ref, ZSCORE, &zs, KVP_B(zi), KVP_B(zo)), KVP_OK);
    buf_read(zo, zout, sizeof zout);
    ck_assert(zout[0] == 9 && zout[5] == 9);
    ck_assert(fabs(zout[1] - 2 * (-1.5 / sqrt(5.0 / 3))) < 1e-6 && fabs(zout[4] - 2 * (1.5 / sqrt(5.0 / 3))) < 1e-6);
    /* CUR: a window of zero keys scores 0 (kvpress: 0/0), sinks 1 */
    float kv[6 * 2] = {0, 0, 0, 0, 1, 0, 0, 2, 1, 1, 3, 0}, out[6];
    int32_t cm[2] = {0, 6};
    kvp_buffer *kb = buf_from(kv, sizeof kv), *cmb = buf_from(cm, sizeof cm), *ob = buf_from(out, sizeof out);
    kvp_p_cur_score cs = {.Hk = 1, .d = 2, .n = 6, .dtype = KVP_DT_F32, .r = 0, .window = 2,
                          .mode = KVP_CUR_KEY, .n_sinks = 1};
    ck_assert_int_eq(KVP_RUN(H.ref, CUR_SCORE, &cs, KVP_B(kb), KVP_B(kb), KVP_B(cmb), KVP_B(kb), KVP_B(ob)),
                     KVP_OK);
    buf_read(ob, out, sizeof out);
    /* squared norms 0 0 | 1 4 | 2 9 -> windows 0/0 0/0 | 0.2 0.8 | 2/11 9/11; total 2 */
    ck_assert(out[0] == 1.0f && out[1] == 0.0f);
    ck_assert(fabsf(out[2] - 0.1f) < 1e-7f && fabsf(out[3] - 0.4f) < 1e-7f);
    ck_assert(fabsf(out[5] - 9.0f / 22) < 1e-7f);
    kvp_buffer_free(ab), kvp_buffer_free(ib), kvp_buffer_free(xb), kvp_buffer_free(mb);
    kvp_buffer_free(qb), kvp_buffer_free(zi), kvp_buffer_free(zo), kvp_buffer_free(kb);
    kvp_buffer_free(cmb), kvp_buffer_free(ob);
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("cpu oracle");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_n_keep);
    tcase_add_test(tc, test_dtype_conversions);
    tcase_add_test(tc, test_topk_ties);
    tcase_add_test(tc, test_compact_order_and_ragged);
    tcase_add_test(tc, test_attention_by_hand);
    tcase_add_test(tc, test_rope_by_hand);
    tcase_add_test(tc, test_rerotate_equals_rope_at_new_position);
    tcase_add_test(tc, test_pool_pad_softmax);
    tcase_add_test(tc, test_pyramid_budgets);
    tcase_add_test(tc, test_cholesky_and_friends_by_hand);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
