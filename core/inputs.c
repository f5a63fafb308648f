/* Press inputs, streaming query statistics and the RoPE helpers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- RoPE ---------------------------------------------------------------------------------- */

void kvp_rope_init(kvp_rope *rope, int head_dim) {
    if (!rope) return;
    memset(rope, 0, sizeof *rope);
    rope->layout = KVP_ROPE_HALF_SPLIT;
    rope->head_dim = head_dim;
    rope->theta = 10000.0;
    rope->attention_scaling = 1.0f;
}

void kvp__rope_inv_freq(const kvp_rope *rope, float *out) {
    int half = rope->head_dim / 2;
    for (int c = 0; c < half; c++) {
        if (rope->inv_freq) {
            out[c] = rope->inv_freq[c];
        } else {
            /* As Hugging Face computes it: the exponent and the power in f32. */
            float e = (float)(2 * c) / (float)rope->head_dim;
            out[c] = 1.0f / powf((float)rope->theta, e);
        }
    }
}

kvp_status kvp__rope_check(kvp_context *ctx, const kvp_rope *rope, int head_dim) {
    if (!rope) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE definition is NULL");
    if (rope->layout != KVP_ROPE_HALF_SPLIT && rope->layout != KVP_ROPE_INTERLEAVED)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE: unknown layout %d", (int)rope->layout);
    if (rope->head_dim <= 0 || rope->head_dim % 2)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE: head_dim %d must be positive and even",
                          rope->head_dim);
    if (head_dim > 0 && rope->head_dim != head_dim)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE: head_dim %d, but the tensors have %d",
                          rope->head_dim, head_dim);
    if (!rope->inv_freq && !(rope->theta > 0 && isfinite(rope->theta)))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE: theta must be positive and finite");
    for (int c = 0; rope->inv_freq && c < rope->head_dim / 2; c++)
        if (!isfinite(rope->inv_freq[c]))
            return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE: inv_freq[%d] is not finite", c);
    if (!isfinite(rope->attention_scaling))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "RoPE: attention_scaling is not finite");
    return KVP_OK;
}

kvp_status kvp__rope_table(kvp_context *ctx, const kvp_rope *rope, const float *inv_freq,
                           int64_t pos0, int64_t rows, kvp_buffer **out) {
    int half = rope->head_dim / 2;
    size_t count = (size_t)rows * (size_t)half * 2;
    float *cs = kvp__malloc(ctx, count * sizeof(float));
    if (!cs) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int64_t r = 0; r < rows; r++) {
        float p = (float)(pos0 + r);
        for (int f = 0; f < half; f++) {
            float angle = p * inv_freq[f]; /* f32 product, as the models compute it */
            cs[((size_t)r * half + f) * 2] = (float)cos((double)angle) * rope->attention_scaling;
            cs[((size_t)r * half + f) * 2 + 1] = (float)sin((double)angle) * rope->attention_scaling;
        }
    }
    kvp_status st = kvp__scratch(ctx, count * sizeof(float), out);
    if (st == KVP_OK) st = kvp__upload(ctx, *out, 0, cs, count * sizeof(float));
    free(cs);
    return st;
}

kvp_status kvp__rope_rows(kvp_context *ctx, const kvp_rope *rope, const float *inv_freq,
                          const kvp_tensor *x, int64_t pos0, int64_t r0, kvp_buffer *out,
                          size_t out_offset) {
    int64_t m = x->shape[1];
    kvp_buffer *cs;
    KVP_TRY(kvp__rope_table(ctx, rope, inv_freq, pos0 + r0, m - r0, &cs));
    kvp_p_rope p = {.H = (int)x->shape[0],
                    .m = (int)m,
                    .d = (int)x->shape[2],
                    .r0 = (int)r0,
                    .rope_layout = (int)rope->layout,
                    .dtype = (int)x->dtype};
    return KVP_RUN(ctx, ROPE, &p, KVP_BO(x->buffer, x->offset), KVP_B(cs),
                   KVP_BO(out, out_offset));
}

/* Puts a host tensor into a scratch buffer (device tensors are used as they are). */
static kvp_status stage_tensor(kvp_context *ctx, const kvp_tensor *t, kvp_tensor *dev) {
    *dev = *t;
    if (t->buffer) return KVP_OK;
    size_t bytes = (size_t)kvp__tensor_count(t) * kvp_dtype_size(t->dtype);
    kvp_buffer *b;
    KVP_TRY(kvp__scratch(ctx, bytes, &b));
    KVP_TRY(kvp__upload(ctx, b, 0, t->data, bytes));
    dev->data = NULL;
    dev->buffer = b;
    dev->offset = 0;
    return KVP_OK;
}

kvp_status kvp_rope_apply(kvp_context *ctx, const kvp_rope *rope, const kvp_tensor *x,
                          int64_t pos0, kvp_tensor *out) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_rope_apply: context is NULL");
    KVP_TRY(kvp__tensor_check(ctx, x, "kvp_rope_apply: x", 3, NULL));
    KVP_TRY(kvp__rope_check(ctx, rope, (int)x->shape[2]));
    KVP_TRY(kvp__tensor_check(ctx, out, "kvp_rope_apply: out", 3, x->shape));
    if (out->dtype != KVP_DTYPE_F32)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_rope_apply: out must be f32");
    if (pos0 < 0 || pos0 + x->shape[1] > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_rope_apply: positions outside [0, 2^31)");
    float inv_freq[1024];
    if (rope->head_dim / 2 > 1024)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED, "kvp_rope_apply: head_dim > 2048");
    kvp__rope_inv_freq(rope, inv_freq);
    int mark = kvp__scratch_mark(ctx);
    kvp_tensor xd;
    kvp_status st = stage_tensor(ctx, x, &xd);
    kvp_buffer *ob = out->buffer;
    size_t bytes = (size_t)kvp__tensor_count(out) * sizeof(float);
    if (st == KVP_OK && !ob) st = kvp__scratch(ctx, bytes, &ob);
    if (st == KVP_OK)
        st = kvp__rope_rows(ctx, rope, inv_freq, &xd, pos0, 0, ob, out->buffer ? out->offset : 0);
    if (st == KVP_OK && !out->buffer) st = kvp__download(ctx, ob, 0, out->data, bytes);
    kvp__scratch_release(ctx, mark);
    return st;
}

/* ---- inputs -------------------------------------------------------------------------------- */

kvp_status kvp_inputs_create(kvp_context *ctx, kvp_inputs **inputs) {
    if (!inputs) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_inputs_create: inputs is NULL");
    *inputs = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_create: context is NULL");
    kvp_inputs *in = kvp__calloc(ctx, 1, sizeof *in);
    if (!in) return KVP_ERR_OUT_OF_HOST_MEMORY;
    in->ctx = ctx;
    *inputs = in;
    return KVP_OK;
}

static void input_clear(kvp_input_tensor *it) {
    kvp_buffer_free(it->owned);
    memset(it, 0, sizeof *it);
}

void kvp_inputs_reset(kvp_inputs *in) {
    if (!in) return;
    input_clear(&in->queries);
    input_clear(&in->hidden);
    input_clear(&in->attention);
    input_clear(&in->wo);
    in->qstats = NULL;
    in->has_rope = 0;
    free(in->inv_freq);
    in->inv_freq = NULL;
}

void kvp_inputs_destroy(kvp_inputs *in) {
    if (!in) return;
    kvp_inputs_reset(in);
    free(in);
}

/* Validates and stores one tensor input: host data is copied to a device buffer in its own
 * dtype, device tensors are referenced. The previous value is replaced only on success. */
static kvp_status input_set(kvp_inputs *in, kvp_input_tensor *slot, const kvp_tensor *t,
                            const char *what, int ndim, int64_t pos0) {
    kvp_context *ctx = in->ctx;
    KVP_TRY(kvp__tensor_check(ctx, t, what, ndim, NULL));
    if (pos0 < 0 || pos0 + t->shape[ndim - 2] > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: positions outside [0, 2^31)", what);
    KVP_TRY(kvp__tensor_check_finite(ctx, t, what));
    kvp_input_tensor nv = {.set = 1, .t = *t, .owned = NULL, .pos0 = pos0};
    if (t->data) {
        KVP_TRY(kvp__tensor_to_device(ctx, t, t->dtype, &nv.owned));
        nv.t.data = NULL;
        nv.t.buffer = nv.owned;
        nv.t.offset = 0;
    }
    input_clear(slot);
    *slot = nv;
    return KVP_OK;
}

kvp_status kvp_inputs_set_queries(kvp_inputs *in, const kvp_tensor *q, int64_t pos0) {
    if (!in) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_set_queries: inputs is NULL");
    return input_set(in, &in->queries, q, "kvp_inputs_set_queries: queries", 3, pos0);
}

kvp_status kvp_inputs_set_hidden(kvp_inputs *in, const kvp_tensor *h, int64_t pos0) {
    if (!in) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_set_hidden: inputs is NULL");
    return input_set(in, &in->hidden, h, "kvp_inputs_set_hidden: hidden states", 2, pos0);
}

kvp_status kvp_inputs_set_attention(kvp_inputs *in, const kvp_tensor *probs) {
    if (!in) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_set_attention: inputs is NULL");
    kvp_context *ctx = in->ctx;
    if (probs && probs->dtype != KVP_DTYPE_F32)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_inputs_set_attention: attention probabilities must be f32");
    return input_set(in, &in->attention, probs, "kvp_inputs_set_attention: probabilities", 3, 0);
}

kvp_status kvp_inputs_set_wo(kvp_inputs *in, const kvp_tensor *wo) {
    if (!in) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_set_wo: inputs is NULL");
    return input_set(in, &in->wo, wo, "kvp_inputs_set_wo: W_o", 2, 0);
}

kvp_status kvp_inputs_set_query_stats(kvp_inputs *in, kvp_qstats *stats) {
    if (!in) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_set_query_stats: inputs is NULL");
    if (stats && stats->ctx != in->ctx)
        return kvp__error(in->ctx, KVP_ERR_INVALID_ARG,
                          "kvp_inputs_set_query_stats: statistics of another context");
    in->qstats = stats;
    return KVP_OK;
}

kvp_status kvp_inputs_set_rope(kvp_inputs *in, const kvp_rope *rope) {
    if (!in) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_inputs_set_rope: inputs is NULL");
    kvp_context *ctx = in->ctx;
    KVP_TRY(kvp__rope_check(ctx, rope, 0));
    float *f = kvp__malloc(ctx, sizeof(float) * (size_t)(rope->head_dim / 2));
    if (!f) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp__rope_inv_freq(rope, f);
    free(in->inv_freq);
    in->inv_freq = f;
    in->rope = *rope;
    in->rope.inv_freq = f; /* the caller's array need not outlive the inputs */
    in->has_rope = 1;
    return KVP_OK;
}

/* ---- query statistics ---------------------------------------------------------------------- */

kvp_status kvp_qstats_create(kvp_context *ctx, int n_heads, int head_dim, int64_t skip_below,
                             kvp_qstats **stats) {
    if (!stats) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_qstats_create: stats is NULL");
    *stats = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_qstats_create: context is NULL");
    if (n_heads <= 0 || head_dim <= 0 || skip_below < 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_qstats_create: n_heads (%d) and head_dim (%d) must be positive, "
                          "skip_below (%lld) >= 0",
                          n_heads, head_dim, (long long)skip_below);
    if ((int64_t)n_heads * head_dim * head_dim > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_qstats_create: statistics too large");
    kvp_qstats *s = kvp__calloc(ctx, 1, sizeof *s);
    if (!s) return KVP_ERR_OUT_OF_HOST_MEMORY;
    s->ctx = ctx;
    s->n_heads = n_heads;
    s->head_dim = head_dim;
    s->skip_below = skip_below;
    kvp_status st = kvp__buffer_alloc(ctx, sizeof(float) * (size_t)n_heads * head_dim, &s->mean);
    if (st == KVP_OK)
        st = kvp__buffer_alloc(ctx, sizeof(float) * (size_t)n_heads * head_dim * head_dim, &s->m2);
    if (st != KVP_OK) {
        kvp_qstats_destroy(s);
        return st;
    }
    *stats = s;
    return KVP_OK;
}

void kvp_qstats_destroy(kvp_qstats *s) {
    if (!s) return;
    kvp_buffer_free(s->mean);
    kvp_buffer_free(s->m2);
    free(s);
}

void kvp_qstats_reset(kvp_qstats *s) {
    if (!s) return;
    s->count = 0;
    s->next_pos = 0;
}

kvp_status kvp_qstats_add(kvp_qstats *s, const kvp_tensor *q, int64_t pos0) {
    if (!s) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_qstats_add: stats is NULL");
    kvp_context *ctx = s->ctx;
    int64_t shape[3] = {s->n_heads, -1, s->head_dim};
    KVP_TRY(kvp__tensor_check(ctx, q, "kvp_qstats_add: queries", 3, shape));
    int64_t m = q->shape[1];
    if (pos0 < 0 || pos0 + m > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_qstats_add: positions outside [0, 2^31)");
    if (s->count + m > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_qstats_add: more than 2^31 queries");
    KVP_TRY(kvp__tensor_check_finite(ctx, q, "kvp_qstats_add: queries"));
    int64_t r0 = s->skip_below > pos0 ? s->skip_below - pos0 : 0;
    if (r0 < m) {
        int mark = kvp__scratch_mark(ctx);
        kvp_tensor qd;
        kvp_status st = stage_tensor(ctx, q, &qd);
        kvp_p_qstats p = {.H = s->n_heads,
                          .m = (int)m,
                          .d = s->head_dim,
                          .dtype = (int)q->dtype,
                          .r0 = (int)r0,
                          .n_prev = (int)s->count};
        if (st == KVP_OK)
            st = KVP_RUN(ctx, QSTATS, &p, KVP_BO(qd.buffer, qd.offset), KVP_B(s->mean),
                         KVP_B(s->m2));
        kvp__scratch_release(ctx, mark);
        KVP_TRY(st);
        s->count += m - r0;
    }
    if (pos0 + m > s->next_pos) s->next_pos = pos0 + m;
    return KVP_OK;
}

kvp_status kvp_qstats_get(kvp_qstats *s, int64_t *count, float *mean, float *cov) {
    if (!s) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_qstats_get: stats is NULL");
    kvp_context *ctx = s->ctx;
    if (count) *count = s->count;
    size_t hd = (size_t)s->n_heads * s->head_dim;
    if ((mean || cov) && s->count == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_qstats_get: no query accumulated yet");
    if (mean) KVP_TRY(kvp__download(ctx, s->mean, 0, mean, hd * sizeof(float)));
    if (cov) {
        size_t n = hd * (size_t)s->head_dim;
        KVP_TRY(kvp__download(ctx, s->m2, 0, cov, n * sizeof(float)));
        float inv = 1.0f / (float)s->count;
        for (size_t i = 0; i < n; i++) cov[i] *= inv;
    }
    return KVP_OK;
}
