/* kvpress-tool bench: times scoring, selection, compaction and attention on one attention
 * layer of a Llama-3.1-8B shape (32 query heads, 8 kv heads, head_dim 128) and reports ms,
 * GB/s (or TFLOP/s) and the share of the device's peak bandwidth. Whole presses are timed
 * through kvp_compress; the primitive ops (top-k, compaction, attention) through the op table,
 * so no host transfer is timed. The cache is restored between repetitions, untimed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "tool.h"

enum { HQ = 32, HK = 8, D = 128 };

typedef struct bench_opts {
    int reps, warmup, prefill;
    int64_t n_list[8];
    int n_count;
    kvp_dtype dtypes[3];
    int n_dtypes;
} bench_opts;

typedef struct bench_layer {
    kvp_context *ctx;
    int64_t n;
    kvp_dtype dt;
    kvp_buffer *k, *v, *q;  /* device copies used to restore the cache */
    kvp_cache *cache;
    kvp_inputs *in;
    double peak_gbs;
} bench_layer;

static void fill_random(void *dst, size_t count, kvp_dtype dt, uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < count; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        /* roughly normal: sum of two uniforms, centred */
        float v = ((float)(s & 0xffffff) + (float)((s >> 24) & 0xffffff)) * (1.0f / 16777216.0f) - 1.0f;
        if (dt == KVP_DTYPE_F32)
            ((float *)dst)[i] = v;
        else
            kvp_convert(KVP_DTYPE_F32, &v, dt, (uint16_t *)dst + i, 1);
    }
}

static kvp_status upload_random(kvp_context *ctx, size_t count, kvp_dtype dt, uint64_t seed,
                                kvp_buffer **out) {
    size_t es = kvp_dtype_size(dt), chunk = (size_t)1 << 24;
    void *host = malloc(chunk * es);
    if (!host) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_status st = kvp_buffer_alloc(ctx, count * es, out);
    for (size_t at = 0; st == KVP_OK && at < count; at += chunk) {
        size_t m = count - at < chunk ? count - at : chunk;
        fill_random(host, m, dt, seed + at);
        st = kvp_buffer_upload(ctx, *out, at * es, host, m * es);
    }
    free(host);
    return st;
}

static kvp_status restore(bench_layer *b) {
    KVP_TRY(kvp_cache_truncate(b->cache, 0, 0));
    kvp_tensor k = kvp_tensor_device(b->dt, b->k, 0, 3, HK, b->n, D);
    kvp_tensor v = kvp_tensor_device(b->dt, b->v, 0, 3, HK, b->n, D);
    /* appended positions must increase: restart the layer's positions */
    b->cache->layers[0].next_pos = 0;
    return kvp_cache_append(b->cache, 0, &k, &v, 0);
}

static void layer_free(bench_layer *b) {
    kvp_inputs_destroy(b->in);
    kvp_cache_destroy(b->cache);
    kvp_buffer_free(b->k);
    kvp_buffer_free(b->v);
    kvp_buffer_free(b->q);
}

static kvp_status layer_make(bench_layer *b) {
    size_t kv = (size_t)HK * (size_t)b->n * D, q = (size_t)HQ * (size_t)b->n * D;
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = b->n + 16,
                           .dtype = b->dt};
    KVP_TRY(upload_random(b->ctx, kv, b->dt, 1, &b->k));
    KVP_TRY(upload_random(b->ctx, kv, b->dt, 2, &b->v));
    KVP_TRY(upload_random(b->ctx, q, b->dt, 3, &b->q));
    KVP_TRY(kvp_cache_create(b->ctx, &o, &b->cache));
    KVP_TRY(restore(b));
    KVP_TRY(kvp_inputs_create(b->ctx, &b->in));
    kvp_tensor qt = kvp_tensor_device(b->dt, b->q, 0, 3, HQ, b->n, D);
    KVP_TRY(kvp_inputs_set_queries(b->in, &qt, 0));
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    rope.theta = 500000.0;
    return kvp_inputs_set_rope(b->in, &rope);
}

typedef struct timing {
    double ms;
    kvp_status st;
} timing;

/* The median of `reps` timed runs of fn after `warmup` untimed ones; `reset` (untimed) runs
 * before each. */
typedef kvp_status (*bench_fn)(bench_layer *b, void *arg);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static timing time_it(bench_layer *b, const bench_opts *o, bench_fn fn, void *arg, int reset) {
    timing t = {0, KVP_OK};
    double samples[64];
    int reps = o->reps > 64 ? 64 : o->reps;
    for (int r = -o->warmup; r < reps; r++) {
        if (reset && (t.st = restore(b)) != KVP_OK) return t;
        if ((t.st = kvp_context_synchronize(b->ctx)) != KVP_OK) return t;
        double t0 = tool_now();
        if ((t.st = fn(b, arg)) != KVP_OK) return t;
        if ((t.st = kvp_context_synchronize(b->ctx)) != KVP_OK) return t;
        if (r >= 0) samples[r] = (tool_now() - t0) * 1e3;
    }
    qsort(samples, (size_t)reps, sizeof(double), cmp_double);
    t.ms = samples[reps / 2];
    return t;
}

static kvp_status run_compress(bench_layer *b, void *arg) {
    return kvp_compress(b->ctx, (kvp_press *)arg, b->cache, 0, b->in);
}

typedef struct op_arg {
    kvp_buffer *scores, *mask, *q, *out;
    int64_t m;
} op_arg;

static kvp_status run_topk(bench_layer *b, void *arg) {
    op_arg *a = arg;
    kvp_p_topk p = {.H = HK, .n = (int)b->n, .k = (int)(b->n / 2), .global_mode = 0};
    return KVP_RUN(b->ctx, TOPK, &p, KVP_B(a->scores), KVP_B(a->mask));
}

static kvp_status run_compact(bench_layer *b, void *arg) {
    op_arg *a = arg;
    return kvp__cache_compact(b->ctx, b->cache, 0, a->mask, b->n);
}

static kvp_status run_attention(bench_layer *b, void *arg) {
    op_arg *a = arg;
    kvp_tensor q = kvp_tensor_device(b->dt, a->q, 0, 3, HQ, a->m, D);
    kvp_tensor o = kvp_tensor_device(KVP_DTYPE_F32, a->out, 0, 3, HQ, a->m, D);
    return kvp_attention(b->ctx, b->cache, 0, &q, b->n - a->m, 1.0f / sqrtf((float)D), &o);
}

static void report(const char *dev, const bench_layer *b, const char *op, timing t, double bytes,
                   double flops) {
    if (t.st != KVP_OK) {
        printf("%-10s %-5s %7lld  %-26s %s: %s\n", dev, kvp_dtype_name(b->dt), (long long)b->n, op,
               kvp_status_name(t.st), kvp_context_last_error(b->ctx));
        return;
    }
    char rate[32] = "", peak[16] = "";
    if (bytes > 0) {
        double gbs = bytes / (t.ms * 1e-3) / 1e9;
        snprintf(rate, sizeof rate, "%9.1f GB/s", gbs);
        if (b->peak_gbs > 0) snprintf(peak, sizeof peak, "%5.1f%%", 100 * gbs / b->peak_gbs);
    } else if (flops > 0) {
        snprintf(rate, sizeof rate, "%7.2f TFLOP/s", flops / (t.ms * 1e-3) / 1e12);
    }
    printf("%-10s %-5s %7lld  %-26s %10.3f %-16s %s\n", dev, kvp_dtype_name(b->dt), (long long)b->n,
           op, t.ms, rate, peak);
    fflush(stdout);
}

static int bench_device(const char *name, const bench_opts *o) {
    kvp_context *ctx = tool_open(name);
    if (!ctx) return 1;
    kvp_device_props props;
    kvp_device_get_props(kvp_context_device(ctx), &props);
    int is_cpu = props.type == KVP_DEVICE_TYPE_CPU;
    static const char *presses[] = {"knorm", "keydiff", "streaming_llm", "tova", "snapkv",
                                    "expected_attention"};
    for (int di = 0; di < o->n_dtypes; di++)
        for (int ni = 0; ni < o->n_count; ni++) {
            bench_layer b = {.ctx = ctx, .n = o->n_list[ni], .dt = o->dtypes[di],
                             .peak_gbs = props.peak_bandwidth_gbs};
            size_t es = kvp_dtype_size(b.dt);
            double kv_bytes = 2.0 * HK * (double)b.n * D * es, q_bytes = (double)HQ * b.n * D * es;
            /* cache + its restore copies + queries + scratch: about 2.5x the layer and queries */
            double need = 2.5 * kv_bytes + 1.5 * q_bytes;
            if (props.memory_bytes && need > 0.8 * (double)props.memory_bytes) {
                printf("%-10s %-5s %7lld  skipped: needs ~%.1f GB of %.1f GB\n", name,
                       kvp_dtype_name(b.dt), (long long)b.n, need / 1e9,
                       (double)props.memory_bytes / 1e9);
                continue;
            }
            kvp_status st = layer_make(&b);
            if (st) {
                printf("%-10s %-5s %7lld  setup: %s: %s\n", name, kvp_dtype_name(b.dt), (long long)b.n,
                       kvp_status_name(st), kvp_context_last_error(ctx));
                layer_free(&b);
                continue;
            }
            for (size_t pi = 0; pi < sizeof presses / sizeof *presses; pi++) {
                char spec[128], label[64];
                snprintf(spec, sizeof spec, "%s(compression_ratio=0.5)", presses[pi]);
                snprintf(label, sizeof label, "compress %s", presses[pi]);
                kvp_press *p;
                kvp_press_parse(spec, &p);
                timing t = time_it(&b, o, run_compress, p, 1);
                kvp_press_destroy(p);
                /* bytes: the keys (and values) each press must read at least once */
                report(name, &b, label, t, 0, 0);
            }
            op_arg a = {0};
            size_t sn = (size_t)HK * (size_t)b.n;
            float *host = malloc(sn * sizeof(float));
            st = host ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
            if (!st) fill_random(host, sn, KVP_DTYPE_F32, 9);
            if (!st) st = kvp_buffer_alloc(ctx, sn * sizeof(float), &a.scores);
            if (!st) st = kvp_buffer_upload(ctx, a.scores, 0, host, sn * sizeof(float));
            if (!st) st = kvp_buffer_alloc(ctx, sn * sizeof(int32_t), &a.mask);
            free(host);
            if (!st) {
                timing t = time_it(&b, o, run_topk, &a, 0);
                report(name, &b, "top-k n/2 of [8, n] f32", t, 2.0 * sn * 4, 0);
                t = time_it(&b, o, run_compact, &a, 1);
                report(name, &b, "compact kept half of K, V", t, kv_bytes, 0);
            }
            int64_t ms[2] = {1, b.n};
            for (int k = 0; k < 2 && !st; k++) {
                a.m = ms[k];
                if (k == 1 && (b.n > 32768 || (is_cpu && !o->prefill))) {
                    printf("%-10s %-5s %7lld  %-26s skipped%s\n", name, kvp_dtype_name(b.dt),
                           (long long)b.n, "prefill attention",
                           is_cpu ? " on the reference CPU (use --prefill)" : " (n > 32768)");
                    continue;
                }
                kvp_buffer_free(a.out);
                a.out = NULL;
                st = kvp_buffer_alloc(ctx, (size_t)HQ * a.m * D * sizeof(float), &a.out);
                if (st) break;
                a.q = b.q; /* the first m query rows serve as post-RoPE queries */
                timing t = time_it(&b, o, run_attention, &a, 1);
                double causal_pairs = k ? (double)a.m * (a.m + 1) / 2 : (double)b.n;
                report(name, &b, k ? "prefill attention" : "decode attention, 1 query", t,
                       k ? 0 : kv_bytes, k ? 4.0 * HQ * D * causal_pairs : 0);
            }
            if (st)
                printf("%-10s %-5s %7lld  ops: %s: %s\n", name, kvp_dtype_name(b.dt), (long long)b.n,
                       kvp_status_name(st), kvp_context_last_error(ctx));
            kvp_buffer_free(a.scores);
            kvp_buffer_free(a.mask);
            kvp_buffer_free(a.out);
            layer_free(&b);
        }
    kvp_context_destroy(ctx);
    return 0;
}

static void bench_usage(void) {
    fprintf(stderr,
            "usage: kvpress-tool bench [--backend NAME|all] [--n N[,N...]] [--dtype f32|f16|bf16|all]\n"
            "                          [--reps R] [--warmup W] [--prefill]\n"
            "  Llama-3.1-8B layer shape: 32 query heads, 8 kv heads, head_dim 128.\n"
            "  Defaults: every device; n = 4096,32768,131072 on GPUs and 4096 on the CPU;\n"
            "  dtypes bf16,f32; 10 repetitions (median) after 2 warm-up runs (1 and 0 on the CPU).\n");
}

int tool_bench(int argc, char **argv) {
    const char *backend = "all";
    bench_opts o = {.reps = -1, .warmup = -1, .n_count = 0, .n_dtypes = 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            backend = argv[++i];
        } else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            char *s = argv[++i];
            while (*s && o.n_count < 8) {
                char *end;
                long long n = strtoll(s, &end, 10);
                if (end == s || n < 64 || n > (1 << 24)) {
                    fprintf(stderr, "kvpress-tool bench: bad --n value\n");
                    return 2;
                }
                o.n_list[o.n_count++] = n;
                s = *end == ',' ? end + 1 : end;
            }
        } else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            const char *d = argv[++i];
            for (int t = 0; t < KVP_DTYPE_COUNT; t++)
                if (!strcmp(d, "all") || strstr(d, kvp_dtype_name((kvp_dtype)t)))
                    o.dtypes[o.n_dtypes++] = (kvp_dtype)t;
            /* "f16" is a substring of "bf16": only keep it when asked for on its own */
            if (strcmp(d, "all") && !strstr(d, "f16,") && strcmp(d, "f16") && !strstr(d, ",f16")) {
                for (int t = 0; t < o.n_dtypes; t++)
                    if (o.dtypes[t] == KVP_DTYPE_F16) o.dtypes[t] = o.dtypes[--o.n_dtypes];
            }
            if (!o.n_dtypes) {
                bench_usage();
                return 2;
            }
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            o.reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) {
            o.warmup = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--prefill")) {
            o.prefill = 1;
        } else {
            bench_usage();
            return 2;
        }
    }
    if (o.n_dtypes == 0) {
        o.dtypes[0] = KVP_DTYPE_BF16;
        o.dtypes[1] = KVP_DTYPE_F32;
        o.n_dtypes = 2;
    }
    const char *names[16];
    int nd = tool_devices(backend, names, 16);
    if (!nd) {
        fprintf(stderr, "kvpress-tool bench: no device for '%s' (see kvpress-tool info)\n", backend);
        return 2;
    }
    printf("%-10s %-5s %7s  %-26s %10s %-16s %s\n", "device", "dtype", "n", "op", "ms", "rate",
           "of peak");
    int rc = 0;
    for (int k = 0; k < nd; k++) {
        kvp_device *dev;
        kvp_device_props p;
        kvp_device_by_name(names[k], &dev);
        kvp_device_get_props(dev, &p);
        bench_opts od = o;
        int cpu = p.type == KVP_DEVICE_TYPE_CPU;
        if (od.reps < 1) od.reps = cpu ? 1 : 10;
        if (od.warmup < 0) od.warmup = cpu ? 0 : 2;
        if (!od.n_count) {
            od.n_list[0] = 4096, od.n_list[1] = 32768, od.n_list[2] = 131072;
            od.n_count = cpu ? 1 : 3;
        }
        rc |= bench_device(names[k], &od);
    }
    return rc;
}
