/*
 * Zero-copy CUDA integration (include/kvpress/kvp_cuda.h): a context on the application's
 * device and stream, a KV cache layer over memory the application allocated with cudaMalloc,
 * compressed in place and compared with the CPU backend on the same data.
 *
 * Without a usable CUDA device the test checks what the library says and does in that case
 * (the backend is compiled but unavailable, with a reason; the interop entry points fail
 * cleanly) and exits 77, which Meson reports as SKIP.
 */
#include <check.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvpress/kvp_cuda.h"
#include "kvpress/kvpress.h"

#define HK 2      /* kv heads */
#define HQ 4      /* query heads */
#define D 64      /* head dim */
#define N 96      /* tokens in the cache */
#define CAP 128   /* slots per head in the caller's buffers */

static kvp_backend_info cuda_info;

/* Fills cuda_info; 0 when the registry has no "cuda" entry. Called outside tests too, so it
 * does not assert. */
static int get_cuda_info(void) {
    int nb = 0;
    memset(&cuda_info, 0, sizeof cuda_info);
    if (kvp_backend_count(&nb) != KVP_OK) return 0;
    for (int i = 0; i < nb; i++) {
        kvp_backend_info b;
        if (kvp_backend_get_info(i, &b) == KVP_OK && strcmp(b.name, "cuda") == 0) {
            cuda_info = b;
            return 1;
        }
    }
    return 0;
}

/* Deterministic data (a small LCG; the test must not depend on the platform's rand). */
static uint32_t rng_state;
static float rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void *make_data(kvp_dtype dt, size_t count, float scale, uint32_t seed) {
    float *f = malloc(count * sizeof(float));
    ck_assert_ptr_nonnull(f);
    rng_state = seed;
    for (size_t i = 0; i < count; i++) f[i] = scale * rnd();
    if (dt == KVP_DTYPE_F32) return f;
    void *h = malloc(count * 2);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, f, dt, h, count), KVP_OK);
    free(f);
    return h;
}

static kvp_context *cpu_context(void) {
    kvp_device *dev = NULL;
    kvp_context *ctx = NULL;
    ck_assert_int_eq(kvp_device_by_name("cpu", &dev), KVP_OK);
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_OK);
    return ctx;
}

/* ---- without a device ----------------------------------------------------------------- */

START_TEST(test_no_device_path) {
    ck_assert(get_cuda_info());
    ck_assert_msg(cuda_info.compiled, "this test is only built with the CUDA backend");
    kvp_context *ctx = (kvp_context *)&ctx; /* must be reset to NULL on failure */
    if (!cuda_info.available) {
        ck_assert_msg(cuda_info.reason[0] != 0, "an unavailable backend must say why");
        ck_assert_int_eq(cuda_info.device_count, 0);
        ck_assert_int_eq(kvp_context_create_cuda(0, NULL, NULL, &ctx), KVP_ERR_BACKEND_UNAVAILABLE);
        ck_assert_ptr_null(ctx);
        ck_assert_ptr_nonnull(strstr(kvp_last_error(), cuda_info.reason));
        kvp_device *dev = (kvp_device *)&dev;
        ck_assert_int_eq(kvp_device_by_name("cuda0", &dev), KVP_ERR_BACKEND_UNAVAILABLE);
        ck_assert_ptr_null(dev);
    } else {
        ck_assert_int_eq(kvp_context_create_cuda(cuda_info.device_count + 64, NULL, NULL, &ctx),
                         KVP_ERR_INVALID_ARG);
        ck_assert_ptr_null(ctx);
    }
    /* The interop entry points refuse what is not CUDA, device or not. */
    ck_assert_int_eq(kvp_context_create_cuda(0, NULL, NULL, NULL), KVP_ERR_INVALID_ARG);
    kvp_context *cpu = cpu_context();
    static float host[64] __attribute__((aligned(16)));
    kvp_buffer *b = (kvp_buffer *)&b;
    ck_assert_int_eq(kvp_buffer_wrap_cuda(cpu, host, sizeof host, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(NULL, host, sizeof host, &b), KVP_ERR_INVALID_ARG);
    kvp_cuda_stream s = (kvp_cuda_stream)&s;
    ck_assert_int_eq(kvp_context_get_cuda_stream(cpu, &s), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(s);
    void *p = &p;
    ck_assert_int_eq(kvp_buffer_get_cuda_pointer(NULL, &p), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(kvp_buffer_alloc(cpu, 64, &b), KVP_OK);
    ck_assert_int_eq(kvp_buffer_get_cuda_pointer(b, &p), KVP_ERR_INVALID_ARG);
    kvp_buffer_free(b);
    kvp_context_destroy(cpu);
}
END_TEST

/* ---- with a device -------------------------------------------------------------------- */

static void cuda_ok(cudaError_t err, const char *call, int line) {
    ck_assert_msg(err == cudaSuccess, "line %d: %s: %s", line, call, cudaGetErrorName(err));
}
#define CUDA_OK(call) cuda_ok((call), #call, __LINE__)

typedef struct press_case {
    const char *spec;
    int needs_queries; /* queries + RoPE */
    int exact;         /* the selection must equal the CPU's (else: >= 90% overlap) */
} press_case;

static const press_case presses[] = {
    {"knorm(compression_ratio=0.5)", 0, 1},
    {"streaming_llm(compression_ratio=0.5, n_sink=4)", 0, 1},
    {"adakv(press=knorm(), compression_ratio=0.5)", 0, 1},
    {"snapkv(compression_ratio=0.5, window_size=16)", 1, 0},
    {"expected_attention(compression_ratio=0.5, n_sink=4)", 1, 0},
};
#define N_PRESSES ((int)(sizeof presses / sizeof presses[0]))
static const kvp_dtype dtypes[] = {KVP_DTYPE_F32, KVP_DTYPE_F16, KVP_DTYPE_BF16};

/* Compresses layer 0 of `cache` (on ctx) with the press, with queries when it needs them. */
static void compress(kvp_context *ctx, kvp_cache *cache, const press_case *pc, float *queries) {
    kvp_press *press = NULL;
    ck_assert_int_eq(kvp_press_parse(pc->spec, &press), KVP_OK);
    kvp_inputs *in = NULL;
    ck_assert_int_eq(kvp_inputs_create(ctx, &in), KVP_OK);
    if (pc->needs_queries) {
        kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, queries, 3, HQ, N, D);
        ck_assert_int_eq(kvp_inputs_set_queries(in, &q, 0), KVP_OK);
        kvp_rope rope;
        kvp_rope_init(&rope, D);
        ck_assert_int_eq(kvp_inputs_set_rope(in, &rope), KVP_OK);
    }
    kvp_status st = kvp_compress(ctx, press, cache, 0, in);
    ck_assert_msg(st == KVP_OK, "%s: %s", pc->spec, kvp_context_last_error(ctx));
    kvp_inputs_destroy(in);
    kvp_press_destroy(press);
}

/* The wrapped layer lives in memory the test owns: after compression, head j's kept keys
 * must be rows 0 .. len-1 of the caller's block j (compaction in place, no copy). */
START_TEST(test_wrap_compress_matches_cpu) {
    const press_case *pc = &presses[_i / 3];
    kvp_dtype dt = dtypes[_i % 3];
    size_t es = kvp_dtype_size(dt);
    size_t row = (size_t)D * es, block = (size_t)CAP * row;
    void *k_host = make_data(dt, (size_t)HK * N * D, 1.0f, 11u + (uint32_t)_i);
    void *v_host = make_data(dt, (size_t)HK * N * D, 1.0f, 23u + (uint32_t)_i);
    float *queries = make_data(KVP_DTYPE_F32, (size_t)HQ * N * D, 1.0f, 37u + (uint32_t)_i);

    /* CPU reference. */
    kvp_context *cpu = cpu_context();
    kvp_cache_options co = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = CAP,
                            .dtype = dt};
    kvp_cache *ref = NULL;
    ck_assert_int_eq(kvp_cache_create(cpu, &co, &ref), KVP_OK);
    kvp_tensor kt = kvp_tensor_host(dt, k_host, 3, HK, N, D);
    kvp_tensor vt = kvp_tensor_host(dt, v_host, 3, HK, N, D);
    ck_assert_int_eq(kvp_cache_append(ref, 0, &kt, &vt, 0), KVP_OK);
    compress(cpu, ref, pc, queries);

    /* The application's memory and stream. */
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreate(&stream));
    void *k_dev = NULL, *v_dev = NULL;
    CUDA_OK(cudaMalloc(&k_dev, HK * block));
    CUDA_OK(cudaMalloc(&v_dev, HK * block));
    for (int j = 0; j < HK; j++) {
        CUDA_OK(cudaMemcpy((char *)k_dev + j * block, (char *)k_host + (size_t)j * N * row, N * row,
                           cudaMemcpyHostToDevice));
        CUDA_OK(cudaMemcpy((char *)v_dev + j * block, (char *)v_host + (size_t)j * N * row, N * row,
                           cudaMemcpyHostToDevice));
    }
    kvp_context *ctx = NULL;
    ck_assert_int_eq(kvp_context_create_cuda(0, (kvp_cuda_stream)stream, NULL, &ctx), KVP_OK);
    kvp_cuda_stream got = NULL;
    ck_assert_int_eq(kvp_context_get_cuda_stream(ctx, &got), KVP_OK);
    ck_assert_ptr_eq((void *)got, (void *)stream);
    kvp_buffer *kb = NULL, *vb = NULL;
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, k_dev, HK * block, &kb), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, v_dev, HK * block, &vb), KVP_OK);
    void *p = NULL;
    ck_assert_int_eq(kvp_buffer_get_cuda_pointer(kb, &p), KVP_OK);
    ck_assert_ptr_eq(p, k_dev);
    co.capacity = 0;
    kvp_cache *cache = NULL;
    ck_assert_int_eq(kvp_cache_create(ctx, &co, &cache), KVP_OK);
    int64_t lengths[HK];
    for (int j = 0; j < HK; j++) lengths[j] = N;
    ck_assert_int_eq(kvp_cache_wrap_layer(cache, 0, CAP, kb, 0, vb, 0, lengths), KVP_OK);
    compress(ctx, cache, pc, queries);

    int64_t len_ref[HK], len_gpu[HK];
    ck_assert_int_eq(kvp_cache_get_lengths(ref, 0, len_ref), KVP_OK);
    ck_assert_int_eq(kvp_cache_get_lengths(cache, 0, len_gpu), KVP_OK);
    char *kr = malloc(N * row), *kg = malloc(N * row), *kc = malloc(N * row);
    int32_t pr[N], pg[N];
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(len_gpu[j], len_ref[j]);
        int64_t len = len_ref[j];
        ck_assert_int_eq(kvp_cache_read(ref, 0, j, kr, NULL, pr), KVP_OK);
        ck_assert_int_eq(kvp_cache_read(cache, 0, j, kg, NULL, pg), KVP_OK);
        /* Zero copy: the library's view is the caller's memory. */
        CUDA_OK(cudaMemcpy(kc, (char *)k_dev + j * block, (size_t)len * row,
                           cudaMemcpyDeviceToHost));
        ck_assert_int_eq(memcmp(kc, kg, (size_t)len * row), 0);
        int same = 0;
        for (int64_t a = 0, b = 0; a < len && b < len;) {
            if (pr[a] == pg[b]) {
                /* The same token: the same key bits (compaction copies rows exactly). */
                ck_assert_int_eq(memcmp(kr + a * row, kg + b * row, row), 0);
                same++, a++, b++;
            } else if (pr[a] < pg[b]) {
                a++;
            } else {
                b++;
            }
        }
        if (pc->exact)
            ck_assert_msg(same == len, "%s %s head %d: %d of %lld positions agree", pc->spec,
                          kvp_dtype_name(dt), j, same, (long long)len);
        else
            ck_assert_msg(same * 10 >= len * 9, "%s %s head %d: %d of %lld positions agree",
                          pc->spec, kvp_dtype_name(dt), j, same, (long long)len);
    }
    free(kr), free(kg), free(kc);
    kvp_cache_destroy(cache);
    kvp_buffer_free(kb);
    kvp_buffer_free(vb);
    kvp_context_destroy(ctx);
    /* The caller's memory survives the library's objects. */
    CUDA_OK(cudaFree(k_dev));
    CUDA_OK(cudaFree(v_dev));
    CUDA_OK(cudaStreamDestroy(stream));
    kvp_cache_destroy(ref);
    kvp_context_destroy(cpu);
    free(k_host), free(v_host), free(queries);
}
END_TEST

/* Work the application queued on its stream is seen by the library's work on that stream:
 * the keys are copied in asynchronously (from pinned memory) right before the compression
 * and attention, with no synchronisation in between; q and out are caller device memory. */
START_TEST(test_stream_order_and_attention) {
    const kvp_dtype dt = KVP_DTYPE_F32;
    const size_t row = D * sizeof(float), block = CAP * row;
    float *k_host = make_data(dt, (size_t)HK * N * D, 1.0f, 5u);
    float *v_host = make_data(dt, (size_t)HK * N * D, 1.0f, 6u);
    float *q_host = make_data(dt, (size_t)HQ * 3 * D, 1.0f, 7u);
    float *pinned = NULL;
    CUDA_OK(cudaMallocHost((void **)&pinned, HK * block));
    memset(pinned, 0, HK * block);
    for (int j = 0; j < HK; j++)
        memcpy((char *)pinned + j * block, k_host + (size_t)j * N * D, N * row);

    cudaStream_t stream;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    void *k_dev = NULL, *v_dev = NULL, *q_dev = NULL, *o_dev = NULL;
    CUDA_OK(cudaMalloc(&k_dev, HK * block));
    CUDA_OK(cudaMalloc(&v_dev, HK * block));
    CUDA_OK(cudaMalloc(&q_dev, HQ * 3 * row));
    CUDA_OK(cudaMalloc(&o_dev, HQ * 3 * row));
    CUDA_OK(cudaMemset(k_dev, 0, HK * block));
    for (int j = 0; j < HK; j++)
        CUDA_OK(cudaMemcpy((char *)v_dev + j * block, v_host + (size_t)j * N * D, N * row,
                           cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(q_dev, q_host, HQ * 3 * row, cudaMemcpyHostToDevice));

    kvp_context *ctx = NULL;
    ck_assert_int_eq(kvp_context_create_cuda(0, (kvp_cuda_stream)stream, NULL, &ctx), KVP_OK);
    kvp_buffer *kb = NULL, *vb = NULL, *qb = NULL, *ob = NULL;
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, k_dev, HK * block, &kb), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, v_dev, HK * block, &vb), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, q_dev, HQ * 3 * row, &qb), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, o_dev, HQ * 3 * row, &ob), KVP_OK);
    kvp_cache_options co = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = 0,
                            .dtype = dt};
    kvp_cache *cache = NULL;
    ck_assert_int_eq(kvp_cache_create(ctx, &co, &cache), KVP_OK);
    int64_t lengths[HK] = {N, N};
    ck_assert_int_eq(kvp_cache_wrap_layer(cache, 0, CAP, kb, 0, vb, 0, lengths), KVP_OK);
    /* The application writes the keys on its stream; the library must wait for it. */
    CUDA_OK(cudaMemcpyAsync(k_dev, pinned, HK * block, cudaMemcpyHostToDevice, stream));
    kvp_press *press = NULL;
    ck_assert_int_eq(kvp_press_parse("knorm(compression_ratio=0.25)", &press), KVP_OK);
    ck_assert_msg(kvp_compress(ctx, press, cache, 0, NULL) == KVP_OK, "%s",
                  kvp_context_last_error(ctx));
    kvp_tensor q = kvp_tensor_device(dt, qb, 0, 3, HQ, 3, D);
    kvp_tensor out = kvp_tensor_device(KVP_DTYPE_F32, ob, 0, 3, HQ, 3, D);
    ck_assert_msg(kvp_attention(ctx, cache, 0, &q, N - 3, 0.125f, &out) == KVP_OK, "%s",
                  kvp_context_last_error(ctx));

    /* The same on the CPU. */
    kvp_context *cpu = cpu_context();
    co.capacity = CAP;
    kvp_cache *ref = NULL;
    ck_assert_int_eq(kvp_cache_create(cpu, &co, &ref), KVP_OK);
    kvp_tensor kt = kvp_tensor_host(dt, k_host, 3, HK, N, D);
    kvp_tensor vt = kvp_tensor_host(dt, v_host, 3, HK, N, D);
    ck_assert_int_eq(kvp_cache_append(ref, 0, &kt, &vt, 0), KVP_OK);
    ck_assert_int_eq(kvp_compress(cpu, press, ref, 0, NULL), KVP_OK);
    float *o_ref = malloc(HQ * 3 * row), *o_gpu = malloc(HQ * 3 * row);
    kvp_tensor qh = kvp_tensor_host(dt, q_host, 3, HQ, 3, D);
    kvp_tensor oh = kvp_tensor_host(KVP_DTYPE_F32, o_ref, 3, HQ, 3, D);
    ck_assert_int_eq(kvp_attention(cpu, ref, 0, &qh, N - 3, 0.125f, &oh), KVP_OK);

    /* Read the caller's output buffer after the library's work on the caller's stream. */
    CUDA_OK(cudaMemcpyAsync(o_gpu, o_dev, HQ * 3 * row, cudaMemcpyDeviceToHost, stream));
    CUDA_OK(cudaStreamSynchronize(stream));
    double num = 0, den = 0;
    for (int i = 0; i < HQ * 3 * D; i++) {
        num += ((double)o_gpu[i] - o_ref[i]) * ((double)o_gpu[i] - o_ref[i]);
        den += (double)o_ref[i] * o_ref[i];
    }
    ck_assert_msg(den > 0 && num / den < 1e-7, "attention NMSE %g", den > 0 ? num / den : -1.0);
    int32_t pr[N], pg[N];
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(kvp_cache_read(ref, 0, j, NULL, NULL, pr), KVP_OK);
        ck_assert_int_eq(kvp_cache_read(cache, 0, j, NULL, NULL, pg), KVP_OK);
        ck_assert_int_eq(memcmp(pr, pg, sizeof(int32_t) * (size_t)kvp_n_keep(N, 0.25)), 0);
    }
    free(o_ref), free(o_gpu);
    kvp_press_destroy(press);
    kvp_cache_destroy(ref);
    kvp_context_destroy(cpu);
    kvp_cache_destroy(cache);
    kvp_buffer_free(kb), kvp_buffer_free(vb), kvp_buffer_free(qb), kvp_buffer_free(ob);
    kvp_context_destroy(ctx);
    CUDA_OK(cudaFree(k_dev)), CUDA_OK(cudaFree(v_dev)), CUDA_OK(cudaFree(q_dev)),
        CUDA_OK(cudaFree(o_dev));
    CUDA_OK(cudaFreeHost(pinned));
    CUDA_OK(cudaStreamDestroy(stream));
    free(k_host), free(v_host), free(q_host);
}
END_TEST

/* What kvp_buffer_wrap_cuda refuses: host memory, misaligned pointers, NULL, size 0. */
START_TEST(test_wrap_validation) {
    kvp_context *ctx = NULL;
    ck_assert_int_eq(kvp_context_create_cuda(0, NULL, NULL, &ctx), KVP_OK);
    void *dev = NULL;
    CUDA_OK(cudaMalloc(&dev, 4096));
    kvp_buffer *b = NULL;
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, (char *)dev + 4, 1024, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, dev, 0, &b), KVP_ERR_INVALID_ARG);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, NULL, 64, &b), KVP_ERR_INVALID_ARG);
    void *host = aligned_alloc(64, 4096);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, host, 4096, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "not device memory"));
    free(host);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, (char *)dev + 16, 1024, &b), KVP_OK);
    /* Round trip through the library's copy functions into the caller's memory. */
    float in[256], out[256];
    for (int i = 0; i < 256; i++) in[i] = (float)i;
    ck_assert_int_eq(kvp_buffer_upload(ctx, b, 0, in, sizeof in), KVP_OK);
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_OK);
    CUDA_OK(cudaMemcpy(out, (char *)dev + 16, sizeof out, cudaMemcpyDeviceToHost));
    ck_assert_int_eq(memcmp(in, out, sizeof in), 0);
    kvp_buffer_free(b);
    kvp_context_destroy(ctx);
    /* Freed by the caller, after the library forgot it. */
    CUDA_OK(cudaFree(dev));
}
END_TEST

int main(void) {
    Suite *s = suite_create("interop_cuda");
    TCase *tc = tcase_create("no_device");
    tcase_add_test(tc, test_no_device_path);
    suite_add_tcase(s, tc);
    get_cuda_info();
    if (cuda_info.available) {
        tc = tcase_create("device");
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, test_wrap_compress_matches_cpu, 0, N_PRESSES * 3);
        tcase_add_test(tc, test_stream_order_and_attention);
        tcase_add_test(tc, test_wrap_validation);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    /* CUDA cannot be used again in a forked child once the parent initialised it. */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed) return EXIT_FAILURE;
    if (!cuda_info.available) {
        printf("SKIP: no usable CUDA device: %s\n", cuda_info.reason);
        return 77;
    }
    return EXIT_SUCCESS;
}
