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
    tcase_add_test(tc, test_pool_pad_softmax);
    tcase_add_test(tc, test_pyramid_budgets);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
