/* Attention of new queries over a (possibly compressed, ragged) cache layer. */
#include <math.h>

#include "internal.h"

kvp_status kvp_attention(kvp_context *ctx, const kvp_cache *cache, int layer, const kvp_tensor *q,
                         int64_t q_pos0, float scale, kvp_tensor *out) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_attention: context is NULL");
    KVP_TRY(kvp__cache_check_layer(ctx, cache, layer));
    const kvp_cache_options *o = &cache->opt;
    int64_t qshape[3] = {-1, -1, o->head_dim};
    KVP_TRY(kvp__tensor_check(ctx, q, "kvp_attention: queries", 3, qshape));
    int64_t Hq = q->shape[0], m = q->shape[1];
    if (Hq % o->n_kv_heads)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_attention: %lld query heads are not a multiple of %d kv heads",
                          (long long)Hq, o->n_kv_heads);
    KVP_TRY(kvp__tensor_check(ctx, out, "kvp_attention: out", 3, q->shape));
    if (out->dtype != KVP_DTYPE_F32)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_attention: out must be f32");
    if (!(scale > 0.0f) || !isfinite(scale))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_attention: scale must be positive and finite");
    if (q_pos0 < 0 || q_pos0 + m > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_attention: positions outside [0, 2^31)");
    KVP_TRY(kvp__tensor_check_finite(ctx, q, "kvp_attention: queries"));

    const kvp_cache_layer *L = &cache->layers[layer];
    int mark = kvp__scratch_mark(ctx);
    kvp_status st = KVP_OK;
    kvp_buffer *qb = q->buffer, *ob = out->buffer;
    size_t qoff = q->offset, ooff = out->offset;
    size_t qbytes = (size_t)kvp__tensor_count(q) * kvp_dtype_size(q->dtype);
    size_t obytes = (size_t)kvp__tensor_count(out) * sizeof(float);
    if (!qb) {
        st = kvp__scratch(ctx, qbytes, &qb);
        if (st == KVP_OK) st = kvp__upload(ctx, qb, 0, q->data, qbytes);
        qoff = 0;
    }
    if (st == KVP_OK && !ob) {
        st = kvp__scratch(ctx, obytes, &ob);
        ooff = 0;
    }
    kvp_p_attention p = {.Hq = (int)Hq,
                         .Hk = o->n_kv_heads,
                         .d = o->head_dim,
                         .m = (int)m,
                         .q_pos0 = (int)q_pos0,
                         .q_dtype = (int)q->dtype,
                         .kv_dtype = (int)o->dtype,
                         .scale = scale};
    if (st == KVP_OK)
        st = KVP_RUN(ctx, ATTENTION, &p, KVP_BO(qb, qoff), KVP_BO(L->keys, L->keys_offset),
                     KVP_BO(L->values, L->values_offset), KVP_B(L->meta), KVP_B(L->pos),
                     KVP_BO(ob, ooff));
    if (st == KVP_OK && !out->buffer) st = kvp__download(ctx, ob, 0, out->data, obytes);
    kvp__scratch_release(ctx, mark);
    return st;
}
