/* The README's example, compiled and run by the test suite so that it stays true. */
#include <kvpress/kvpress.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                          \
    do {                                                                                     \
        kvp_status st_ = (call);                                                             \
        if (st_ != KVP_OK) {                                                                 \
            fprintf(stderr, "%s: %s: %s\n", #call, kvp_status_name(st_),                     \
                    ctx ? kvp_context_last_error(ctx) : kvp_last_error());                   \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

/* Stand-in data; an engine passes its own tensors. */
static float *fake(long count, long seed) {
    float *x = malloc(sizeof(float) * (size_t)count);
    for (long i = 0; x && i < count; i++) x[i] = (float)((i * seed) % 1000) / 1000.0f - 0.5f;
    return x;
}

int main(void) {
    enum { N_HEADS = 32, N_KV_HEADS = 8, HEAD_DIM = 128, N = 2048 };
    kvp_context *ctx = NULL;
    kvp_device *dev;
    CHECK(kvp_device_by_name("cpu", &dev)); /* or "cuda0", "vulkan0", "opencl0" */
    CHECK(kvp_context_create(dev, NULL, &ctx));

    /* One layer's cache in bf16; the engine hands over its prefill keys/values (f32 here). */
    kvp_cache_options opt = {.n_layers = 1, .n_kv_heads = N_KV_HEADS, .head_dim = HEAD_DIM,
                             .capacity = N, .dtype = KVP_DTYPE_BF16};
    kvp_cache *cache;
    CHECK(kvp_cache_create(ctx, &opt, &cache));
    float *k = fake((long)N_KV_HEADS * N * HEAD_DIM, 7919);
    float *v = fake((long)N_KV_HEADS * N * HEAD_DIM, 31);
    float *q = fake((long)N_HEADS * N * HEAD_DIM, 104729); /* pre-RoPE queries */
    kvp_tensor keys = kvp_tensor_host(KVP_DTYPE_F32, k, 3, N_KV_HEADS, N, HEAD_DIM);
    kvp_tensor values = kvp_tensor_host(KVP_DTYPE_F32, v, 3, N_KV_HEADS, N, HEAD_DIM);
    CHECK(kvp_cache_append(cache, 0, &keys, &values, /*pos0=*/0));

    /* What Expected Attention reads besides the cache: the queries and the model's RoPE. */
    kvp_inputs *in;
    CHECK(kvp_inputs_create(ctx, &in));
    kvp_tensor queries = kvp_tensor_host(KVP_DTYPE_F32, q, 3, N_HEADS, N, HEAD_DIM);
    CHECK(kvp_inputs_set_queries(in, &queries, 0));
    kvp_rope rope;
    kvp_rope_init(&rope, HEAD_DIM);
    rope.theta = 500000.0;
    CHECK(kvp_inputs_set_rope(in, &rope));

    /* Evict half of the layer, head-wise (each kv head keeps its own number of tokens). */
    kvp_press *press;
    CHECK(kvp_press_parse("adakv(press=expected_attention(epsilon=0.01), compression_ratio=0.5)",
                          &press));
    CHECK(kvp_compress(ctx, press, cache, 0, in));
    CHECK(kvp_cache_repack(cache, 0, /*reserve for decoding=*/64));

    int64_t lengths[N_KV_HEADS];
    CHECK(kvp_cache_get_lengths(cache, 0, lengths));
    kvp_cache_memory mem;
    CHECK(kvp_cache_get_memory(cache, &mem));
    printf("kept per kv head:");
    for (int j = 0; j < N_KV_HEADS; j++) printf(" %lld", (long long)lengths[j]);
    printf("\ncache memory: %.1f MiB\n", mem.allocated_bytes / 1048576.0);

    /* Decode: the next token's post-RoPE queries attend over the compressed, ragged cache. */
    float out[N_HEADS * HEAD_DIM];
    kvp_tensor q1 = kvp_tensor_host(KVP_DTYPE_F32, q, 3, N_HEADS, 1, HEAD_DIM);
    kvp_tensor o1 = kvp_tensor_host(KVP_DTYPE_F32, out, 3, N_HEADS, 1, HEAD_DIM);
    CHECK(kvp_attention(ctx, cache, 0, &q1, /*position=*/N, 0.08838835f, &o1));

    kvp_press_destroy(press);
    kvp_inputs_destroy(in);
    kvp_cache_destroy(cache);
    kvp_context_destroy(ctx);
    free(k), free(v), free(q);
    return 0;
}
