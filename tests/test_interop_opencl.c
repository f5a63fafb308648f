/*
 * Zero-copy OpenCL integration: an application's own cl_context, queue and cl_mem KV cache
 * wrapped with kvp_context_create_opencl / kvp_buffer_wrap_opencl / kvp_cache_wrap_layer,
 * compressed in place, must end up exactly like the same cache compressed by the CPU
 * backend, and the application's buffers must stay the application's. Exits 77 (skip)
 * without an OpenCL device.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvpress/kvp_opencl.h"
#include "kvpress/kvpress.h"

enum { HK = 2, HQ = 4, D = 16, N = 200, CAP = 256 };

static cl_platform_id platform;
static cl_device_id device;

static int find_device(void) {
    cl_uint np = 0;
    cl_platform_id plats[8];
    if (clGetPlatformIDs(8, plats, &np) != CL_SUCCESS) return 0;
    for (cl_uint p = 0; p < np && p < 8; p++) {
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 1, &device, NULL) == CL_SUCCESS) {
            platform = plats[p];
            return 1;
        }
    }
    return 0;
}

static uint32_t seed = 12345;
static float rnd(void) {
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* Keys/values [HK, N, D] (f32), queries [HQ, N, D]. */
static float keys[HK * N * D], values[HK * N * D], queries[HQ * N * D];

static void make_inputs(kvp_context *ctx, kvp_inputs **in) {
    ck_assert_int_eq(kvp_inputs_create(ctx, in), KVP_OK);
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, queries, 3, HQ, N, D);
    ck_assert_int_eq(kvp_inputs_set_queries(*in, &q, 0), KVP_OK);
    kvp_rope rope;
    kvp_rope_init(&rope, D);
    ck_assert_int_eq(kvp_inputs_set_rope(*in, &rope), KVP_OK);
}

/* The reference: the same cache compressed by the CPU backend. */
static kvp_cache *cpu_compress(kvp_context *cpu, const char *spec, kvp_dtype dt) {
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = CAP,
                           .dtype = dt};
    kvp_cache *cache;
    ck_assert_int_eq(kvp_cache_create(cpu, &o, &cache), KVP_OK);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, values, 3, HK, N, D);
    ck_assert_int_eq(kvp_cache_append(cache, 0, &k, &v, 0), KVP_OK);
    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse(spec, &press), KVP_OK);
    kvp_inputs *in;
    make_inputs(cpu, &in);
    ck_assert_msg(kvp_compress(cpu, press, cache, 0, in) == KVP_OK, "cpu: %s",
                  kvp_context_last_error(cpu));
    kvp_inputs_destroy(in);
    kvp_press_destroy(press);
    return cache;
}

static const char *const specs[] = {
    "knorm(compression_ratio=0.5)",
    "expected_attention(compression_ratio=0.25)",
    "snapkv(compression_ratio=0.5, window_size=16)",
    "adakv(press=expected_attention(), compression_ratio=0.6)",
};

START_TEST(test_wrapped_compress_matches_cpu) {
    const char *spec = specs[_i % 4];
    kvp_dtype dt = _i < 4 ? KVP_DTYPE_F32 : KVP_DTYPE_F16;
    size_t es = kvp_dtype_size(dt);
    for (int i = 0; i < HK * N * D; i++) keys[i] = rnd(), values[i] = rnd();
    for (int i = 0; i < HQ * N * D; i++) queries[i] = rnd();

    /* The application's OpenCL objects and its cache memory: [HK, CAP, D] at offset 256. */
    cl_int err;
    cl_context clctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_command_queue queue = clCreateCommandQueue(clctx, device, 0, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    const size_t off = 256, layer_bytes = (size_t)HK * CAP * D * es;
    cl_mem kmem = clCreateBuffer(clctx, CL_MEM_READ_WRITE, off + layer_bytes, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem vmem = clCreateBuffer(clctx, CL_MEM_READ_WRITE, off + layer_bytes, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    unsigned char *kh = calloc(1, off + layer_bytes), *vh = calloc(1, off + layer_bytes);
    for (int j = 0; j < HK; j++) {
        ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, keys + (size_t)j * N * D, dt,
                                     kh + off + (size_t)j * CAP * D * es, (size_t)N * D), KVP_OK);
        ck_assert_int_eq(kvp_convert(KVP_DTYPE_F32, values + (size_t)j * N * D, dt,
                                     vh + off + (size_t)j * CAP * D * es, (size_t)N * D), KVP_OK);
    }
    ck_assert_int_eq(clEnqueueWriteBuffer(queue, kmem, CL_TRUE, 0, off + layer_bytes, kh, 0, NULL, NULL), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueWriteBuffer(queue, vmem, CL_TRUE, 0, off + layer_bytes, vh, 0, NULL, NULL), CL_SUCCESS);

    kvp_context *ctx;
    ck_assert_msg(kvp_context_create_opencl(clctx, device, queue, NULL, &ctx) == KVP_OK, "%s",
                  kvp_last_error());
    cl_context got_ctx;
    cl_command_queue got_queue;
    ck_assert_int_eq(kvp_context_get_opencl(ctx, &got_ctx, NULL, &got_queue), KVP_OK);
    ck_assert_ptr_eq(got_ctx, clctx);
    ck_assert_ptr_eq(got_queue, queue);
    kvp_buffer *kb, *vb;
    ck_assert_int_eq(kvp_buffer_wrap_opencl(ctx, kmem, off + layer_bytes, &kb), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_opencl(ctx, vmem, off + layer_bytes, &vb), KVP_OK);
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = 0,
                           .dtype = dt};
    kvp_cache *cache;
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &cache), KVP_OK);
    int64_t lengths[HK] = {N, N};
    ck_assert_int_eq(kvp_cache_wrap_layer(cache, 0, CAP, kb, off, vb, off, lengths), KVP_OK);

    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse(spec, &press), KVP_OK);
    kvp_inputs *in;
    make_inputs(ctx, &in);
    ck_assert_msg(kvp_compress(ctx, press, cache, 0, in) == KVP_OK, "%s: %s", spec,
                  kvp_context_last_error(ctx));
    kvp_inputs_destroy(in);
    kvp_press_destroy(press);

    kvp_device *cpu_dev;
    kvp_context *cpu;
    ck_assert_int_eq(kvp_device_by_name("cpu", &cpu_dev), KVP_OK);
    ck_assert_int_eq(kvp_context_create(cpu_dev, NULL, &cpu), KVP_OK);
    kvp_cache *ref = cpu_compress(cpu, spec, dt);

    int64_t len[HK], ref_len[HK];
    ck_assert_int_eq(kvp_cache_get_lengths(cache, 0, len), KVP_OK);
    ck_assert_int_eq(kvp_cache_get_lengths(ref, 0, ref_len), KVP_OK);
    /* The compaction happened in the application's own memory. */
    ck_assert_int_eq(clEnqueueReadBuffer(queue, kmem, CL_TRUE, 0, off + layer_bytes, kh, 0, NULL, NULL), CL_SUCCESS);
    for (int j = 0; j < HK; j++) {
        ck_assert_msg(len[j] == ref_len[j], "%s: head %d keeps %lld tokens, cpu %lld", spec, j,
                      (long long)len[j], (long long)ref_len[j]);
        size_t bytes = (size_t)len[j] * D * es;
        unsigned char *k1 = malloc(bytes + 1), *v1 = malloc(bytes + 1), *k2 = malloc(bytes + 1),
                      *v2 = malloc(bytes + 1);
        int32_t *p1 = malloc(sizeof(int32_t) * (size_t)(len[j] + 1)),
                *p2 = malloc(sizeof(int32_t) * (size_t)(len[j] + 1));
        ck_assert_int_eq(kvp_cache_read(cache, 0, j, k1, v1, p1), KVP_OK);
        ck_assert_int_eq(kvp_cache_read(ref, 0, j, k2, v2, p2), KVP_OK);
        ck_assert_msg(memcmp(p1, p2, sizeof(int32_t) * (size_t)len[j]) == 0,
                      "%s: head %d keeps other positions than the cpu", spec, j);
        ck_assert_msg(memcmp(k1, k2, bytes) == 0 && memcmp(v1, v2, bytes) == 0,
                      "%s: head %d: compacted rows differ from the cpu's", spec, j);
        ck_assert_msg(memcmp(kh + off + (size_t)j * CAP * D * es, k1, bytes) == 0,
                      "%s: head %d: the cl_mem does not hold the compacted keys", spec, j);
        free(k1), free(v1), free(k2), free(v2), free(p1), free(p2);
    }

    /* Attention over the compressed, wrapped cache agrees with the cpu's. */
    enum { M = 3 };
    float q[HQ * M * D], o1[HQ * M * D], o2[HQ * M * D];
    for (int i = 0; i < HQ * M * D; i++) q[i] = rnd();
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, q, 3, HQ, M, D);
    kvp_tensor ot1 = kvp_tensor_host(KVP_DTYPE_F32, o1, 3, HQ, M, D);
    kvp_tensor ot2 = kvp_tensor_host(KVP_DTYPE_F32, o2, 3, HQ, M, D);
    ck_assert_int_eq(kvp_attention(ctx, cache, 0, &qt, N - 2, 0.25f, &ot1), KVP_OK);
    ck_assert_int_eq(kvp_attention(cpu, ref, 0, &qt, N - 2, 0.25f, &ot2), KVP_OK);
    for (int i = 0; i < HQ * M * D; i++)
        ck_assert_msg(fabsf(o1[i] - o2[i]) <= 1e-4f * (1.0f + fabsf(o2[i])),
                      "attention output %d: %g vs cpu %g", i, (double)o1[i], (double)o2[i]);

    kvp_cache_destroy(ref);
    kvp_context_destroy(cpu);
    kvp_cache_destroy(cache);
    kvp_buffer_free(kb);
    kvp_buffer_free(vb);
    kvp_context_destroy(ctx);
    /* The library dropped its references; the buffers are the application's again. */
    cl_uint refs = 0;
    ck_assert_int_eq(clGetMemObjectInfo(kmem, CL_MEM_REFERENCE_COUNT, sizeof refs, &refs, NULL), CL_SUCCESS);
    ck_assert_uint_eq(refs, 1);
    clReleaseMemObject(kmem);
    clReleaseMemObject(vmem);
    clReleaseCommandQueue(queue);
    clReleaseContext(clctx);
    free(kh);
    free(vh);
}
END_TEST

START_TEST(test_wrap_rejects_foreign_memory) {
    cl_int err;
    cl_context c1 = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_context c2 = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_mem other = clCreateBuffer(c2, CL_MEM_READ_WRITE, 1024, NULL, &err);
    cl_mem mine = clCreateBuffer(c1, CL_MEM_READ_WRITE, 1024, NULL, &err);
    kvp_context *ctx;
    ck_assert_int_eq(kvp_context_create_opencl(c1, device, NULL, NULL, &ctx), KVP_OK);
    kvp_buffer *b = (kvp_buffer *)1;
    ck_assert_int_eq(kvp_buffer_wrap_opencl(ctx, other, 1024, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "another cl_context"));
    ck_assert_int_eq(kvp_buffer_wrap_opencl(ctx, mine, 2048, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "exceeds"));
    /* A queue of another context is refused before any context exists. */
    cl_command_queue q2 = clCreateCommandQueue(c2, device, 0, &err);
    kvp_context *bad = (kvp_context *)1;
    ck_assert_int_eq(kvp_context_create_opencl(c1, device, q2, NULL, &bad), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(bad);
    /* A cpu context cannot wrap cl_mem. */
    kvp_device *cpu_dev;
    kvp_context *cpu;
    ck_assert_int_eq(kvp_device_by_name("cpu", &cpu_dev), KVP_OK);
    ck_assert_int_eq(kvp_context_create(cpu_dev, NULL, &cpu), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_opencl(cpu, mine, 1024, &b), KVP_ERR_INVALID_ARG);
    kvp_context_destroy(cpu);
    kvp_context_destroy(ctx);
    clReleaseCommandQueue(q2);
    clReleaseMemObject(other);
    clReleaseMemObject(mine);
    clReleaseContext(c1);
    clReleaseContext(c2);
}
END_TEST

int main(void) {
    if (!find_device()) {
        printf("SKIP: no OpenCL device\n");
        return 77;
    }
    kvp_device *d;
    if (kvp_device_by_name("opencl", &d) != KVP_OK) {
        printf("SKIP: the opencl backend has no device: %s\n", kvp_last_error());
        return 77;
    }
    Suite *s = suite_create("interop_opencl");
    TCase *tc = tcase_create("opencl");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_wrapped_compress_matches_cpu, 0, 8);
    tcase_add_test(tc, test_wrap_rejects_foreign_memory);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
