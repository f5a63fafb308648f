/* The KV cache: per layer, rows of keys and values grouped by kv head, the original position
 * of every row and a length per head. Every function validates everything before touching
 * device memory, so a failure leaves the cache as it was. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t row_bytes(const kvp_cache *c) {
    return (size_t)c->opt.head_dim * kvp_dtype_size(c->opt.dtype);
}

kvp_status kvp__cache_check_layer(kvp_context *ctx, const kvp_cache *cache, int layer) {
    if (!cache) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "cache is NULL");
    if (cache->ctx != ctx)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "the cache belongs to another context");
    if (layer < 0 || layer >= cache->opt.n_layers)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "layer %d out of range [0, %d)", layer,
                          cache->opt.n_layers);
    if (!cache->layers[layer].keys)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "layer %d has no memory (capacity 0 and not wrapped)", layer);
    return KVP_OK;
}

kvp_status kvp__cache_uniform_length(kvp_context *ctx, const kvp_cache *cache, int layer,
                                     const char *who, int64_t *n) {
    const kvp_cache_layer *L = &cache->layers[layer];
    *n = L->length[0];
    for (int j = 1; j < cache->opt.n_kv_heads; j++)
        if (L->length[j] != *n)
            return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                              "%s needs every kv head of layer %d to hold the same number of "
                              "tokens, but head 0 has %lld and head %d has %lld (the layer was "
                              "compressed head-wise before)",
                              who, layer, (long long)*n, j, (long long)L->length[j]);
    return KVP_OK;
}

kvp_status kvp__cache_sync_meta(kvp_context *ctx, kvp_cache *cache, int layer) {
    kvp_cache_layer *L = &cache->layers[layer];
    int H = cache->opt.n_kv_heads;
    int32_t *m = kvp__malloc(ctx, sizeof(int32_t) * 2 * (size_t)H);
    if (!m) return KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int j = 0; j < H; j++) {
        m[2 * j] = (int32_t)L->first[j];
        m[2 * j + 1] = (int32_t)L->length[j];
    }
    kvp_status st = kvp__upload(ctx, L->meta, 0, m, sizeof(int32_t) * 2 * (size_t)H);
    free(m);
    return st;
}

/* Reads the lengths back into the host mirror; `meta` is a host array of 2 * n_kv_heads int32
 * allocated by the caller before the op that changed them (so nothing can fail in between). */
static kvp_status pull_lengths(kvp_context *ctx, kvp_cache *cache, int layer, int32_t *meta) {
    kvp_cache_layer *L = &cache->layers[layer];
    int H = cache->opt.n_kv_heads;
    KVP_TRY(kvp__download(ctx, L->meta, 0, meta, sizeof(int32_t) * 2 * (size_t)H));
    for (int j = 0; j < H; j++) L->length[j] = meta[2 * j + 1];
    return KVP_OK;
}

static void layer_free_memory(kvp_cache_layer *L) {
    if (!L->wrapped) {
        kvp_buffer_free(L->keys);
        kvp_buffer_free(L->values);
    }
    kvp_buffer_free(L->pos);
    L->keys = L->values = L->pos = NULL;
    L->rows = 0;
    L->wrapped = 0;
}

/* Allocates a dense layer: head j owns rows [j*cap, (j+1)*cap). */
static kvp_status layer_alloc(kvp_context *ctx, kvp_cache *c, kvp_cache_layer *L, int64_t cap) {
    int H = c->opt.n_kv_heads;
    int64_t rows = (int64_t)H * cap;
    kvp_buffer *k = NULL, *v = NULL, *p = NULL;
    kvp_status st = kvp__buffer_alloc(ctx, (size_t)rows * row_bytes(c), &k);
    if (st == KVP_OK) st = kvp__buffer_alloc(ctx, (size_t)rows * row_bytes(c), &v);
    if (st == KVP_OK) st = kvp__buffer_alloc(ctx, (size_t)rows * sizeof(int32_t), &p);
    if (st != KVP_OK) {
        kvp_buffer_free(k);
        kvp_buffer_free(v);
        kvp_buffer_free(p);
        return st;
    }
    L->keys = k;
    L->values = v;
    L->pos = p;
    L->keys_offset = L->values_offset = 0;
    L->rows = rows;
    for (int j = 0; j < H; j++) {
        L->first[j] = (int64_t)j * cap;
        L->length[j] = 0;
        L->capacity[j] = cap;
    }
    return KVP_OK;
}

static kvp_status check_rows(kvp_context *ctx, const kvp_cache_options *o, int64_t cap) {
    if (cap < 0) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "capacity %lld < 0", (long long)cap);
    /* Kernels index elements with 32-bit integers. */
    if ((int64_t)o->n_kv_heads * cap * o->head_dim > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "a layer of %d kv heads x %lld tokens x %d exceeds 2^31 elements",
                          o->n_kv_heads, (long long)cap, o->head_dim);
    return KVP_OK;
}

void kvp_cache_destroy(kvp_cache *cache) {
    if (!cache) return;
    if (cache->layers) {
        for (int l = 0; l < cache->opt.n_layers; l++) {
            kvp_cache_layer *L = &cache->layers[l];
            layer_free_memory(L);
            kvp_buffer_free(L->meta);
            free(L->first);
            free(L->length);
            free(L->capacity);
        }
        free(cache->layers);
    }
    free(cache);
}

kvp_status kvp_cache_create(kvp_context *ctx, const kvp_cache_options *o, kvp_cache **out) {
    if (!out) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_create: cache is NULL");
    *out = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_create: context is NULL");
    if (!o) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_create: options is NULL");
    if (o->n_layers <= 0 || o->n_kv_heads <= 0 || o->head_dim <= 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_cache_create: n_layers (%d), n_kv_heads (%d) and head_dim (%d) "
                          "must be positive",
                          o->n_layers, o->n_kv_heads, o->head_dim);
    if (!kvp__dtype_valid(o->dtype))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_create: invalid dtype %d",
                          (int)o->dtype);
    if (!(ctx->device->props.dtype_mask & (1u << o->dtype)))
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED, "kvp_cache_create: %s does not support %s caches",
                          ctx->device->props.name, kvp_dtype_name(o->dtype));
    /* GPU kernels move 16-bit rows as 32-bit words. */
    if (o->dtype != KVP_DTYPE_F32 && o->head_dim % 2)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_cache_create: a %s cache needs an even head_dim (got %d)",
                          kvp_dtype_name(o->dtype), o->head_dim);
    KVP_TRY(check_rows(ctx, o, o->capacity));

    kvp_cache *c = kvp__calloc(ctx, 1, sizeof *c);
    if (!c) return KVP_ERR_OUT_OF_HOST_MEMORY;
    c->ctx = ctx;
    c->opt = *o;
    c->layers = kvp__calloc(ctx, (size_t)o->n_layers, sizeof *c->layers);
    kvp_status st = c->layers ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int l = 0; st == KVP_OK && l < o->n_layers; l++) {
        kvp_cache_layer *L = &c->layers[l];
        L->first = kvp__calloc(ctx, (size_t)o->n_kv_heads, sizeof(int64_t));
        L->length = kvp__calloc(ctx, (size_t)o->n_kv_heads, sizeof(int64_t));
        L->capacity = kvp__calloc(ctx, (size_t)o->n_kv_heads, sizeof(int64_t));
        if (!L->first || !L->length || !L->capacity) st = KVP_ERR_OUT_OF_HOST_MEMORY;
        if (st == KVP_OK)
            st = kvp__buffer_alloc(ctx, sizeof(int32_t) * 2 * (size_t)o->n_kv_heads, &L->meta);
        if (st == KVP_OK && o->capacity > 0) st = layer_alloc(ctx, c, L, o->capacity);
        if (st == KVP_OK) st = kvp__cache_sync_meta(ctx, c, l);
    }
    if (st != KVP_OK) {
        kvp_cache_destroy(c);
        return st;
    }
    *out = c;
    return KVP_OK;
}

kvp_status kvp_cache_wrap_layer(kvp_cache *cache, int layer, int64_t capacity, kvp_buffer *keys,
                                size_t keys_offset, kvp_buffer *values, size_t values_offset,
                                const int64_t *lengths) {
    if (!cache) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_wrap_layer: cache is NULL");
    kvp_context *ctx = cache->ctx;
    const char *who = "kvp_cache_wrap_layer";
    if (layer < 0 || layer >= cache->opt.n_layers)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: layer %d out of range [0, %d)", who,
                          layer, cache->opt.n_layers);
    if (capacity <= 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: capacity must be positive", who);
    KVP_TRY(check_rows(ctx, &cache->opt, capacity));
    int H = cache->opt.n_kv_heads;
    size_t need = (size_t)H * (size_t)capacity * row_bytes(cache);
    const kvp_buffer *bufs[2] = {keys, values};
    size_t offs[2] = {keys_offset, values_offset};
    for (int i = 0; i < 2; i++) {
        if (!bufs[i])
            return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: %s buffer is NULL", who,
                              i ? "values" : "keys");
        if (bufs[i]->ctx != ctx)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: buffer of another context", who);
        if (offs[i] > bufs[i]->size || need > bufs[i]->size - offs[i])
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: %s buffer holds %zu bytes past offset %zu, the layer needs %zu",
                              who, i ? "values" : "keys", bufs[i]->size - (offs[i] > bufs[i]->size ? bufs[i]->size : offs[i]),
                              offs[i], need);
    }
    int64_t max_len = 0;
    for (int j = 0; lengths && j < H; j++) {
        if (lengths[j] < 0 || lengths[j] > capacity)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: length %lld of head %d outside [0, %lld]",
                              who, (long long)lengths[j], j, (long long)capacity);
        if (lengths[j] > max_len) max_len = lengths[j];
    }
    /* Positions 0 .. length-1 for the entries already there. */
    kvp_buffer *pos = NULL;
    KVP_TRY(kvp__buffer_alloc(ctx, sizeof(int32_t) * (size_t)H * (size_t)capacity, &pos));
    int32_t *p = kvp__malloc(ctx, sizeof(int32_t) * (size_t)(max_len ? max_len : 1));
    kvp_status st = p ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int64_t t = 0; p && t < max_len; t++) p[t] = (int32_t)t;
    for (int j = 0; st == KVP_OK && lengths && j < H; j++)
        st = kvp__upload(ctx, pos, sizeof(int32_t) * (size_t)j * (size_t)capacity, p,
                         sizeof(int32_t) * (size_t)lengths[j]);
    free(p);
    if (st != KVP_OK) {
        kvp_buffer_free(pos);
        return st;
    }
    kvp_cache_layer *L = &cache->layers[layer];
    layer_free_memory(L);
    L->keys = keys;
    L->values = values;
    L->keys_offset = keys_offset;
    L->values_offset = values_offset;
    L->pos = pos;
    L->wrapped = 1;
    L->rows = (int64_t)H * capacity;
    for (int j = 0; j < H; j++) {
        L->first[j] = (int64_t)j * capacity;
        L->length[j] = lengths ? lengths[j] : 0;
        L->capacity[j] = capacity;
    }
    L->next_pos = max_len;
    return kvp__cache_sync_meta(ctx, cache, layer);
}

kvp_status kvp_cache_append(kvp_cache *cache, int layer, const kvp_tensor *keys,
                            const kvp_tensor *values, int64_t pos0) {
    if (!cache) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_append: cache is NULL");
    kvp_context *ctx = cache->ctx;
    KVP_TRY(kvp__cache_check_layer(ctx, cache, layer));
    const kvp_cache_options *o = &cache->opt;
    kvp_cache_layer *L = &cache->layers[layer];
    int64_t shape[3] = {o->n_kv_heads, -1, o->head_dim};
    KVP_TRY(kvp__tensor_check(ctx, keys, "kvp_cache_append: keys", 3, shape));
    shape[1] = keys->shape[1];
    KVP_TRY(kvp__tensor_check(ctx, values, "kvp_cache_append: values", 3, shape));
    int64_t m = keys->shape[1];
    for (int i = 0; i < 2; i++) {
        const kvp_tensor *t = i ? values : keys;
        if (t->buffer && t->dtype != o->dtype)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "kvp_cache_append: device %s are %s but the cache is %s",
                              i ? "values" : "keys", kvp_dtype_name(t->dtype),
                              kvp_dtype_name(o->dtype));
    }
    if (pos0 < L->next_pos)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_cache_append: position %lld is not after the cached tokens of "
                          "layer %d (next position >= %lld)",
                          (long long)pos0, layer, (long long)L->next_pos);
    if (pos0 + m > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_append: positions beyond 2^31");
    for (int j = 0; j < o->n_kv_heads; j++)
        if (L->length[j] + m > L->capacity[j])
            return kvp__error(ctx, KVP_ERR_CAPACITY,
                              "kvp_cache_append: layer %d head %d holds %lld of %lld tokens, "
                              "%lld more do not fit (grow it with kvp_cache_repack)",
                              layer, j, (long long)L->length[j], (long long)L->capacity[j],
                              (long long)m);
    KVP_TRY(kvp__tensor_check_finite(ctx, keys, "kvp_cache_append: keys"));
    KVP_TRY(kvp__tensor_check_finite(ctx, values, "kvp_cache_append: values"));

    size_t rb = row_bytes(cache);
    size_t head_bytes = (size_t)m * rb;
    size_t count = (size_t)o->n_kv_heads * (size_t)m * (size_t)o->head_dim;
    void *conv[2] = {NULL, NULL};
    int32_t *pos = kvp__malloc(ctx, sizeof(int32_t) * (size_t)m);
    kvp_status st = pos ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    for (int64_t a = 0; pos && a < m; a++) pos[a] = (int32_t)(pos0 + a);
    for (int i = 0; st == KVP_OK && i < 2; i++) {
        const kvp_tensor *t = i ? values : keys;
        if (t->data && t->dtype != o->dtype) {
            conv[i] = kvp__malloc(ctx, count * kvp_dtype_size(o->dtype));
            if (!conv[i])
                st = KVP_ERR_OUT_OF_HOST_MEMORY;
            else
                kvp_convert(t->dtype, t->data, o->dtype, conv[i], count);
        }
    }
    for (int j = 0; st == KVP_OK && j < o->n_kv_heads; j++) {
        int64_t row = L->first[j] + L->length[j];
        for (int i = 0; st == KVP_OK && i < 2; i++) {
            const kvp_tensor *t = i ? values : keys;
            kvp_buffer *dst = i ? L->values : L->keys;
            size_t dst_off = (i ? L->values_offset : L->keys_offset) + (size_t)row * rb;
            size_t src_off = (size_t)j * head_bytes;
            if (t->buffer)
                st = kvp__copy(ctx, dst, dst_off, t->buffer, t->offset + src_off, head_bytes);
            else
                st = kvp__upload(ctx, dst, dst_off,
                                 (const char *)(conv[i] ? conv[i] : t->data) + src_off, head_bytes);
        }
        if (st == KVP_OK)
            st = kvp__upload(ctx, L->pos, sizeof(int32_t) * (size_t)row, pos,
                             sizeof(int32_t) * (size_t)m);
    }
    free(pos);
    free(conv[0]);
    free(conv[1]);
    if (st != KVP_OK) return st; /* lengths unchanged: the written rows are not live */
    for (int j = 0; j < o->n_kv_heads; j++) L->length[j] += m;
    st = kvp__cache_sync_meta(ctx, cache, layer);
    if (st != KVP_OK) {
        for (int j = 0; j < o->n_kv_heads; j++) L->length[j] -= m;
        return st;
    }
    L->next_pos = pos0 + m;
    return KVP_OK;
}

kvp_status kvp_cache_get_lengths(const kvp_cache *cache, int layer, int64_t *lengths) {
    if (!cache) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_get_lengths: cache is NULL");
    kvp_context *ctx = cache->ctx;
    if (!lengths) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_get_lengths: lengths is NULL");
    if (layer < 0 || layer >= cache->opt.n_layers)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_get_lengths: layer %d out of range",
                          layer);
    memcpy(lengths, cache->layers[layer].length, sizeof(int64_t) * (size_t)cache->opt.n_kv_heads);
    return KVP_OK;
}

kvp_status kvp_cache_read(const kvp_cache *cache, int layer, int head, void *keys, void *values,
                          int32_t *positions) {
    if (!cache) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_read: cache is NULL");
    kvp_context *ctx = cache->ctx;
    KVP_TRY(kvp__cache_check_layer(ctx, cache, layer));
    if (head < 0 || head >= cache->opt.n_kv_heads)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_read: head %d out of range [0, %d)",
                          head, cache->opt.n_kv_heads);
    const kvp_cache_layer *L = &cache->layers[layer];
    size_t rb = row_bytes(cache);
    size_t row = (size_t)L->first[head], len = (size_t)L->length[head];
    if (keys) KVP_TRY(kvp__download(ctx, L->keys, L->keys_offset + row * rb, keys, len * rb));
    if (values)
        KVP_TRY(kvp__download(ctx, L->values, L->values_offset + row * rb, values, len * rb));
    if (positions)
        KVP_TRY(kvp__download(ctx, L->pos, row * sizeof(int32_t), positions, len * sizeof(int32_t)));
    return KVP_OK;
}

kvp_status kvp_cache_truncate(kvp_cache *cache, int layer, int64_t position) {
    if (!cache) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_truncate: cache is NULL");
    kvp_context *ctx = cache->ctx;
    KVP_TRY(kvp__cache_check_layer(ctx, cache, layer));
    if (position < 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_truncate: position %lld < 0",
                          (long long)position);
    kvp_cache_layer *L = &cache->layers[layer];
    if (position >= L->next_pos) return KVP_OK; /* nothing at or beyond it */
    int32_t *meta = kvp__malloc(ctx, sizeof(int32_t) * 2 * (size_t)cache->opt.n_kv_heads);
    if (!meta) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_p_truncate p = {.Hk = cache->opt.n_kv_heads,
                        .position = (int)(position > INT32_MAX ? INT32_MAX : position)};
    kvp_status st = KVP_RUN(ctx, TRUNCATE, &p, KVP_B(L->pos), KVP_B(L->meta));
    if (st == KVP_OK) st = pull_lengths(ctx, cache, layer, meta);
    free(meta);
    if (st == KVP_OK) L->next_pos = position;
    return st;
}

kvp_status kvp__cache_compact(kvp_context *ctx, kvp_cache *cache, int layer, kvp_buffer *mask,
                              int64_t n) {
    kvp_cache_layer *L = &cache->layers[layer];
    /* Everything that can fail for lack of memory happens before the cache is touched. */
    int32_t *meta = kvp__malloc(ctx, sizeof(int32_t) * 2 * (size_t)cache->opt.n_kv_heads);
    if (!meta) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_p_compact p = {.Hk = cache->opt.n_kv_heads,
                       .d = cache->opt.head_dim,
                       .n = (int)n,
                       .kv_dtype = (int)cache->opt.dtype};
    kvp_status st = KVP_RUN(ctx, COMPACT, &p, KVP_BO(L->keys, L->keys_offset),
                            KVP_BO(L->values, L->values_offset), KVP_B(L->pos), KVP_B(L->meta),
                            KVP_B(mask));
    if (st == KVP_OK) st = pull_lengths(ctx, cache, layer, meta);
    free(meta);
    return st;
}

void kvp__cache_view_free(kvp_cache_view *v) {
    free(v->layers);
    free(v->first);
    free(v->length);
    memset(v, 0, sizeof *v);
}

kvp_status kvp__cache_view(kvp_context *ctx, const kvp_cache *cache, int layer, kvp_buffer *keys,
                           kvp_buffer *values, kvp_buffer *pos, const int64_t *first,
                           const int64_t *length, kvp_cache_view *v) {
    int H = cache->opt.n_kv_heads, L = cache->opt.n_layers;
    memset(v, 0, sizeof *v);
    v->layers = kvp__malloc(ctx, sizeof *v->layers * (size_t)L);
    v->first = kvp__malloc(ctx, sizeof(int64_t) * (size_t)H);
    v->length = kvp__malloc(ctx, sizeof(int64_t) * (size_t)H);
    if (!v->layers || !v->first || !v->length) {
        kvp__cache_view_free(v);
        return KVP_ERR_OUT_OF_HOST_MEMORY;
    }
    memcpy(v->layers, cache->layers, sizeof *v->layers * (size_t)L);
    kvp_cache_layer *V = &v->layers[layer];
    for (int j = 0; j < H; j++) {
        v->first[j] = first[j];
        v->length[j] = length[j];
    }
    if (keys) V->keys = keys, V->keys_offset = 0;
    if (values) V->values = values, V->values_offset = 0;
    if (pos) V->pos = pos;
    V->first = v->first;
    V->length = v->length;
    v->cache = *cache;
    v->cache.layers = v->layers;
    kvp_status st = kvp__scratch(ctx, sizeof(int32_t) * 2 * (size_t)H, &V->meta);
    if (st == KVP_OK) st = kvp__cache_sync_meta(ctx, &v->cache, layer);
    if (st != KVP_OK) kvp__cache_view_free(v);
    return st;
}

kvp_status kvp__layer_backup(kvp_context *ctx, const kvp_cache *cache, int layer, int parts,
                             kvp_layer_backup *b) {
    const kvp_cache_layer *L = &cache->layers[layer];
    int H = cache->opt.n_kv_heads;
    size_t rb = row_bytes(cache), total = 0;
    memset(b, 0, sizeof *b);
    b->parts = parts;
    b->next_pos = L->next_pos;
    b->length = kvp__malloc(ctx, sizeof(int64_t) * (size_t)H);
    b->meta = b->length ? kvp__malloc(ctx, sizeof(int32_t) * 2 * (size_t)H) : NULL;
    if (!b->meta) {
        kvp__layer_backup_free(b);
        return KVP_ERR_OUT_OF_HOST_MEMORY;
    }
    for (int j = 0; j < H; j++) {
        b->length[j] = L->length[j];
        b->meta[2 * j] = (int32_t)L->first[j];
        b->meta[2 * j + 1] = (int32_t)L->length[j];
        total += (size_t)L->length[j];
    }
    size_t n = total ? total : 1;
    kvp_status st = kvp__scratch(ctx, n * sizeof(int32_t), &b->pos);
    if (st == KVP_OK && (parts & KVP_BACKUP_KEYS)) st = kvp__scratch(ctx, n * rb, &b->keys);
    if (st == KVP_OK && (parts & KVP_BACKUP_VALUES)) st = kvp__scratch(ctx, n * rb, &b->values);
    size_t at = 0;
    for (int j = 0; st == KVP_OK && j < H; j++) {
        size_t row = (size_t)L->first[j], len = (size_t)L->length[j];
        st = kvp__copy(ctx, b->pos, at * sizeof(int32_t), L->pos, row * sizeof(int32_t),
                       len * sizeof(int32_t));
        if (st == KVP_OK && b->keys)
            st = kvp__copy(ctx, b->keys, at * rb, L->keys, L->keys_offset + row * rb, len * rb);
        if (st == KVP_OK && b->values)
            st = kvp__copy(ctx, b->values, at * rb, L->values, L->values_offset + row * rb, len * rb);
        at += len;
    }
    if (st != KVP_OK) kvp__layer_backup_free(b);
    return st;
}

kvp_status kvp__layer_restore(kvp_context *ctx, kvp_cache *cache, int layer,
                              const kvp_layer_backup *b) {
    kvp_cache_layer *L = &cache->layers[layer];
    int H = cache->opt.n_kv_heads;
    size_t rb = row_bytes(cache), at = 0;
    for (int j = 0; j < H; j++) {
        size_t row = (size_t)L->first[j], len = (size_t)b->length[j];
        KVP_TRY(kvp__copy(ctx, L->pos, row * sizeof(int32_t), b->pos, at * sizeof(int32_t),
                          len * sizeof(int32_t)));
        if (b->keys)
            KVP_TRY(kvp__copy(ctx, L->keys, L->keys_offset + row * rb, b->keys, at * rb, len * rb));
        if (b->values)
            KVP_TRY(kvp__copy(ctx, L->values, L->values_offset + row * rb, b->values, at * rb, len * rb));
        at += len;
    }
    KVP_TRY(kvp__upload(ctx, L->meta, 0, b->meta, sizeof(int32_t) * 2 * (size_t)H));
    for (int j = 0; j < H; j++) L->length[j] = b->length[j];
    L->next_pos = b->next_pos;
    return KVP_OK;
}

void kvp__layer_backup_free(kvp_layer_backup *b) {
    free(b->length);
    free(b->meta);
    b->length = NULL;
    b->meta = NULL;
}

kvp_status kvp__cache_rerotate(kvp_context *ctx, kvp_cache *cache, int layer,
                               kvp_rope_layout layout, kvp_buffer *inv_freq, int64_t pos0) {
    kvp_cache_layer *L = &cache->layers[layer];
    int H = cache->opt.n_kv_heads, d = cache->opt.head_dim;
    int64_t longest = 0;
    for (int j = 0; j < H; j++) longest = L->length[j] > longest ? L->length[j] : longest;
    if (pos0 < 0 || pos0 + longest > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "key re-rotation: positions %lld .. %lld outside [0, 2^31)",
                          (long long)pos0, (long long)(pos0 + longest));
    kvp_p_rerotate p = {.Hk = H, .d = d, .n = (int)longest, .k_dtype = (int)cache->opt.dtype,
                        .rope_layout = (int)layout, .pos0 = (int)pos0};
    KVP_TRY(KVP_RUN(ctx, REROTATE, &p, KVP_BO(L->keys, L->keys_offset), KVP_B(L->meta),
                    KVP_B(L->pos), KVP_B(inv_freq)));
    L->next_pos = pos0 + longest;
    return KVP_OK;
}

kvp_status kvp__cache_compact_layers(kvp_context *ctx, kvp_cache *cache, kvp_buffer *mask,
                                     int64_t n) {
    int H = cache->opt.n_kv_heads;
    int32_t *meta = kvp__malloc(ctx, sizeof(int32_t) * 2 * (size_t)H);
    if (!meta) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_status st = KVP_OK;
    for (int l = 0; st == KVP_OK && l < cache->opt.n_layers; l++) {
        kvp_cache_layer *L = &cache->layers[l];
        kvp_p_compact p = {.Hk = H, .d = cache->opt.head_dim, .n = (int)n,
                           .kv_dtype = (int)cache->opt.dtype};
        size_t off = sizeof(int32_t) * (size_t)l * (size_t)H * (size_t)n;
        st = KVP_RUN(ctx, COMPACT, &p, KVP_BO(L->keys, L->keys_offset),
                     KVP_BO(L->values, L->values_offset), KVP_B(L->pos), KVP_B(L->meta),
                     KVP_BO(mask, off));
        if (st == KVP_OK) st = pull_lengths(ctx, cache, l, meta);
    }
    free(meta);
    return st;
}

kvp_status kvp_cache_repack(kvp_cache *cache, int layer, int64_t reserve) {
    if (!cache) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_repack: cache is NULL");
    kvp_context *ctx = cache->ctx;
    if (layer < 0 || layer >= cache->opt.n_layers)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_repack: layer %d out of range", layer);
    kvp_cache_layer *L = &cache->layers[layer];
    if (L->wrapped)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                          "kvp_cache_repack: layer %d uses caller memory (wrapped); the caller "
                          "owns its size",
                          layer);
    if (reserve < 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_cache_repack: reserve %lld < 0",
                          (long long)reserve);
    int H = cache->opt.n_kv_heads;
    int64_t rows = 0, max_cap = 0;
    for (int j = 0; j < H; j++) {
        int64_t cap = L->length[j] + reserve;
        rows += cap;
        if (cap > max_cap) max_cap = cap;
    }
    kvp_cache_options o = cache->opt;
    o.n_kv_heads = 1;
    KVP_TRY(check_rows(ctx, &o, rows));
    size_t rb = row_bytes(cache);
    kvp_buffer *k = NULL, *v = NULL, *p = NULL;
    int64_t *first = kvp__malloc(ctx, sizeof(int64_t) * (size_t)H);
    kvp_status st = first ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    if (rows == 0) rows = 1; /* keep a valid (tiny) allocation for an empty layer */
    if (st == KVP_OK) st = kvp__buffer_alloc(ctx, (size_t)rows * rb, &k);
    if (st == KVP_OK) st = kvp__buffer_alloc(ctx, (size_t)rows * rb, &v);
    if (st == KVP_OK) st = kvp__buffer_alloc(ctx, (size_t)rows * sizeof(int32_t), &p);
    int64_t row = 0;
    for (int j = 0; st == KVP_OK && j < H; j++) {
        size_t len = (size_t)L->length[j];
        size_t src = (size_t)L->first[j];
        first[j] = row;
        st = kvp__copy(ctx, k, (size_t)row * rb, L->keys, L->keys_offset + src * rb, len * rb);
        if (st == KVP_OK)
            st = kvp__copy(ctx, v, (size_t)row * rb, L->values, L->values_offset + src * rb, len * rb);
        if (st == KVP_OK)
            st = kvp__copy(ctx, p, (size_t)row * sizeof(int32_t), L->pos, src * sizeof(int32_t),
                           len * sizeof(int32_t));
        row += L->length[j] + reserve;
    }
    if (st != KVP_OK) {
        kvp_buffer_free(k);
        kvp_buffer_free(v);
        kvp_buffer_free(p);
        free(first);
        return st;
    }
    /* Commit: the old memory goes back to the device. */
    int64_t *old_first = L->first;
    L->first = first;
    st = kvp__cache_sync_meta(ctx, cache, layer);
    if (st != KVP_OK) {
        L->first = old_first;
        kvp_buffer_free(k);
        kvp_buffer_free(v);
        kvp_buffer_free(p);
        free(first);
        return st;
    }
    free(old_first);
    layer_free_memory(L);
    L->keys = k;
    L->values = v;
    L->pos = p;
    L->rows = rows;
    for (int j = 0; j < H; j++) L->capacity[j] = L->length[j] + reserve;
    (void)max_cap;
    return KVP_OK;
}

kvp_status kvp_cache_get_memory(const kvp_cache *cache, kvp_cache_memory *mem) {
    if (!cache || !mem)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_get_memory: NULL argument");
    memset(mem, 0, sizeof *mem);
    size_t rb = row_bytes(cache);
    for (int l = 0; l < cache->opt.n_layers; l++) {
        const kvp_cache_layer *L = &cache->layers[l];
        if (!L->keys) continue;
        if (!L->wrapped) mem->allocated_bytes += (uint64_t)L->rows * (2 * rb + sizeof(int32_t));
        else mem->allocated_bytes += (uint64_t)L->rows * sizeof(int32_t);
        for (int j = 0; j < cache->opt.n_kv_heads; j++) {
            mem->entries += (uint64_t)L->length[j];
            mem->used_bytes += (uint64_t)L->length[j] * (2 * rb + sizeof(int32_t));
        }
    }
    return KVP_OK;
}

kvp_status kvp_cache_get_options(const kvp_cache *cache, kvp_cache_options *options) {
    if (!cache || !options)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_cache_get_options: NULL argument");
    *options = cache->opt;
    return KVP_OK;
}
