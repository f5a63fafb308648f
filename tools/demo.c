/* kvpress-tool demo: compresses one synthetic layer with every press and prints how much of
 * the cache each keeps and how far the attention of future queries moves from the
 * uncompressed result. The layer has structure the presses can find: a query mean direction,
 * a handful of keys aligned with it (the tokens future queries will attend to), sink tokens,
 * and values of varying norm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

enum { HQ = 8, HK = 2, D = 64, N = 1024, FUTURE = 16 };

typedef struct demo_rng {
    uint64_t s;
} demo_rng;

static double uniform01(demo_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}

static float normal(demo_rng *r) {
    double u = uniform01(r) + 1e-300, v = uniform01(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

typedef struct demo_data {
    float keys[HK * N * D], values[HK * N * D], queries[HQ * N * D];
    float future[HQ * FUTURE * D]; /* post-RoPE queries of the next tokens */
} demo_data;

static void make_data(demo_data *dd, kvp_context *ctx) {
    demo_rng r = {2024};
    float dir[HQ][D];
    for (int i = 0; i < HQ; i++)
        for (int c = 0; c < D; c++) dir[i][c] = normal(&r);
    for (size_t i = 0; i < (size_t)HK * N * D; i++) {
        dd->keys[i] = 0.5f * normal(&r);
        dd->values[i] = normal(&r) * (float)(0.5 + uniform01(&r));
    }
    /* 5% of the tokens carry keys aligned with the (pre-RoPE) query direction of their group */
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    float raw[D], rot[D];
    for (int j = 0; j < HK; j++)
        for (int t = 0; t < N; t++) {
            if (t >= 4 && uniform01(&r) > 0.05) continue;
            for (int c = 0; c < D; c++) raw[c] = 2.0f * dir[j * (HQ / HK)][c] + 0.3f * normal(&r);
            /* the cache holds post-RoPE keys */
            kvp_tensor in = kvp_tensor_host(KVP_DTYPE_F32, raw, 3, 1, 1, D);
            kvp_tensor out = kvp_tensor_host(KVP_DTYPE_F32, rot, 3, 1, 1, D);
            if (kvp_rope_apply(ctx, &rope, &in, t, &out) == KVP_OK)
                memcpy(dd->keys + ((size_t)j * N + t) * D, rot, sizeof rot);
        }
    for (int i = 0; i < HQ; i++)
        for (int t = 0; t < N + FUTURE; t++)
            for (int c = 0; c < D; c++) {
                float q = dir[i][c] + 0.5f * normal(&r);
                if (t < N)
                    dd->queries[((size_t)i * N + t) * D + c] = q;
                else
                    dd->future[((size_t)i * FUTURE + t - N) * D + c] = q;
            }
    kvp_tensor f = kvp_tensor_host(KVP_DTYPE_F32, dd->future, 3, HQ, FUTURE, D);
    kvp_rope_apply(ctx, &rope, &f, N, &f);
}

/* Builds the layer, compresses it with spec (NULL: none) and writes the attention output of
 * the future queries; returns the kept fraction and the memory after repacking. */
static kvp_status run_press(kvp_context *ctx, const demo_data *dd, const char *spec, float *out,
                            double *kept, uint64_t *bytes) {
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = N + FUTURE,
                           .dtype = KVP_DTYPE_F32};
    kvp_cache *cache = NULL;
    kvp_inputs *in = NULL;
    kvp_press *press = NULL;
    kvp_status st = kvp_cache_create(ctx, &o, &cache);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, (void *)dd->keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, (void *)dd->values, 3, HK, N, D);
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, (void *)dd->queries, 3, HQ, N, D);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    if (!st) st = kvp_cache_append(cache, 0, &k, &v, 0);
    if (!st) st = kvp_inputs_create(ctx, &in);
    if (!st) st = kvp_inputs_set_queries(in, &q, 0);
    if (!st) st = kvp_inputs_set_rope(in, &rope);
    if (!st && spec) {
        st = kvp_press_parse(spec, &press);
        if (!st) st = kvp_compress(ctx, press, cache, 0, in);
        if (!st) st = kvp_cache_repack(cache, 0, 0); /* give the evicted memory back */
    }
    kvp_tensor fq = kvp_tensor_host(KVP_DTYPE_F32, (void *)dd->future, 3, HQ, FUTURE, D);
    kvp_tensor fo = kvp_tensor_host(KVP_DTYPE_F32, out, 3, HQ, FUTURE, D);
    if (!st) st = kvp_attention(ctx, cache, 0, &fq, N, 1.0f / sqrtf((float)D), &fo);
    kvp_cache_memory mem;
    if (!st) st = kvp_cache_get_memory(cache, &mem);
    if (!st) {
        *kept = (double)mem.entries / (double)(HK * N);
        *bytes = mem.allocated_bytes;
    }
    kvp_press_destroy(press);
    kvp_inputs_destroy(in);
    kvp_cache_destroy(cache);
    return st;
}

int tool_demo(int argc, char **argv) {
    const char *backend = "cpu";
    double ratio = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
        else if (!strcmp(argv[i], "--ratio") && i + 1 < argc)
            ratio = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: kvpress-tool demo [--backend NAME] [--ratio R]\n");
            return 2;
        }
    }
    if (!(ratio >= 0 && ratio < 1)) {
        fprintf(stderr, "kvpress-tool demo: --ratio must be in [0, 1)\n");
        return 2;
    }
    kvp_context *ctx = tool_open(backend);
    if (!ctx) return 1;
    demo_data *dd = malloc(sizeof *dd);
    float *base = malloc(sizeof(float) * HQ * FUTURE * D), *out = malloc(sizeof(float) * HQ * FUTURE * D);
    if (!dd || !base || !out) {
        fprintf(stderr, "kvpress-tool demo: out of memory\n");
        return 1;
    }
    make_data(dd, ctx);
    kvp_device_props props;
    kvp_device_get_props(kvp_context_device(ctx), &props);
    printf("demo on %s (%s): one layer, %d query heads, %d kv heads, head_dim %d, %d tokens;\n"
           "attention of the next %d queries, compression ratio %.2f\n\n",
           props.name, props.description, HQ, HK, D, N, FUTURE, ratio);
    double kept;
    uint64_t full_bytes, bytes;
    kvp_status st = run_press(ctx, dd, NULL, base, &kept, &full_bytes);
    if (st) return tool_fail(ctx, "uncompressed layer", st);
    static const char *presses[] = {
        "random(seed=1)", "knorm", "streaming_llm", "snapkv", "pyramidkv", "tova",
        "observed_attention", "expected_attention", "keydiff", "lagkv(lag_size=64)",
        "adakv(press=expected_attention(epsilon=0.01))", "chunkkv(press=snapkv)",
        "cap", "cur", "leverage_score(seed=1)", "non_causal_attn", "compactor(seed=1)",
    };
    printf("%-46s %8s %12s %16s\n", "press", "kept", "memory", "attention error");
    printf("%-46s %7.1f%% %9.1f KiB %16s\n", "none", 100.0, (double)full_bytes / 1024, "0");
    int failures = 0;
    for (size_t i = 0; i < sizeof presses / sizeof *presses; i++) {
        char spec[256];
        size_t len = strlen(presses[i]);
        if (presses[i][len - 1] == ')')
            snprintf(spec, sizeof spec, "%.*s, compression_ratio=%g)", (int)len - 1, presses[i], ratio);
        else
            snprintf(spec, sizeof spec, "%s(compression_ratio=%g)", presses[i], ratio);
        st = run_press(ctx, dd, spec, out, &kept, &bytes);
        if (st) {
            printf("%-46s %s: %s\n", presses[i], kvp_status_name(st), kvp_context_last_error(ctx));
            failures++;
            continue;
        }
        double num = 0, den = 0;
        for (int e = 0; e < HQ * FUTURE * D; e++) {
            num += ((double)out[e] - base[e]) * ((double)out[e] - base[e]);
            den += (double)base[e] * base[e];
        }
        printf("%-46s %7.1f%% %9.1f KiB %15.4f\n", presses[i], 100 * kept, (double)bytes / 1024,
               sqrt(num / den));
    }
    printf("\nattention error = ||o - o_full|| / ||o_full|| over the future queries' outputs;\n"
           "memory = keys + values + positions after kvp_cache_repack.\n");
    free(dd);
    free(base);
    free(out);
    kvp_context_destroy(ctx);
    return failures ? 1 : 0;
}
