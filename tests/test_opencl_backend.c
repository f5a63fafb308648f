/*
 * The OpenCL backend's own behaviour: every kernel a plan can name builds on the device, and
 * failures (device memory exhausted, a kernel that does not compile, a device lost or out of
 * resources in the middle of a compression) return the right status with a message naming
 * the native error, leave the caller's cache exactly as it was and keep the process alive.
 * Exits 77 (skip) without an OpenCL device.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/opencl/cl_internal.h"
#include "kvpress/kvp_opencl.h"

enum { HK = 2, D = 16, N = 300, CAP = 320 };

static kvp_device *dev;
static float keys[HK * N * D], values[HK * N * D];

static kvp_cache *make_cache(kvp_context *ctx) {
    kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .capacity = CAP,
                           .dtype = KVP_DTYPE_F32};
    kvp_cache *cache;
    ck_assert_int_eq(kvp_cache_create(ctx, &o, &cache), KVP_OK);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, keys, 3, HK, N, D);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, values, 3, HK, N, D);
    ck_assert_int_eq(kvp_cache_append(cache, 0, &k, &v, 0), KVP_OK);
    return cache;
}

/* The whole layer as the caller would read it back. */
static void snapshot(kvp_cache *cache, float *k, float *v, int32_t *pos, int64_t *len) {
    ck_assert_int_eq(kvp_cache_get_lengths(cache, 0, len), KVP_OK);
    for (int j = 0; j < HK; j++)
        ck_assert_int_eq(kvp_cache_read(cache, 0, j, k + (size_t)j * N * D,
                                        v + (size_t)j * N * D, pos + (size_t)j * N),
                         KVP_OK);
}

/* The kernel list of the plans, the embedded sources and the entry points agree. */
START_TEST(test_every_kernel_builds) {
    kvp_context *ctx;
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_OK);
    for (int i = 0; i < kvp_gpu_kernel_count; i++) {
        cl_kernel k = NULL;
        kvp_status st = kvp_cl_kernel_get(ctx, kvp_gpu_kernels[i], &k);
        ck_assert_msg(st == KVP_OK && k, "%s: %s", kvp_gpu_kernels[i], kvp_context_last_error(ctx));
    }
    ck_assert_int_eq(kvp_cl_source_count, kvp_gpu_kernel_count);
    kvp_context_destroy(ctx);
}
END_TEST

START_TEST(test_huge_alloc_is_out_of_device_memory) {
    kvp_context *ctx;
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_OK);
    kvp_buffer *b = (kvp_buffer *)1;
    ck_assert_int_eq(kvp_buffer_alloc(ctx, (size_t)1 << 50, &b), KVP_ERR_OUT_OF_DEVICE_MEMORY);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "bytes"));
    /* The context is still fine. */
    ck_assert_int_eq(kvp_buffer_alloc(ctx, 4096, &b), KVP_OK);
    kvp_buffer_free(b);
    kvp_context_destroy(ctx);
}
END_TEST

/* Out of memory (the core's allocation hook: device scratch and host buffers alike) at each
 * allocation of a press: the error comes back and the cache is untouched; the same context
 * then succeeds. */
START_TEST(test_oom_during_compress_leaves_cache) {
    static float k0[HK * N * D], v0[HK * N * D], k1[HK * N * D], v1[HK * N * D];
    static int32_t p0[HK * N], p1[HK * N];
    int64_t l0[HK], l1[HK];
    kvp_context *ctx;
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_OK);
    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse("keydiff(compression_ratio=0.5)", &press), KVP_OK);
    int failures = 0, device_failures = 0;
    for (long after = 0; after < 40; after++) {
        kvp_cache *cache = make_cache(ctx);
        snapshot(cache, k0, v0, p0, l0);
        kvp__test_fail_alloc_after(ctx, after);
        kvp_status st = kvp_compress(ctx, press, cache, 0, NULL);
        kvp__test_fail_alloc_after(ctx, -1);
        if (st != KVP_OK) {
            failures++;
            device_failures += st == KVP_ERR_OUT_OF_DEVICE_MEMORY;
            ck_assert(st == KVP_ERR_OUT_OF_DEVICE_MEMORY || st == KVP_ERR_OUT_OF_HOST_MEMORY);
            snapshot(cache, k1, v1, p1, l1);
            ck_assert(memcmp(l0, l1, sizeof l0) == 0);
            ck_assert(memcmp(k0, k1, sizeof k0) == 0 && memcmp(v0, v1, sizeof v0) == 0);
            ck_assert(memcmp(p0, p1, sizeof p0) == 0);
        }
        kvp_cache_destroy(cache);
    }
    ck_assert_int_gt(failures, 0);
    ck_assert_int_gt(device_failures, 0);
    kvp_cache *cache = make_cache(ctx);
    ck_assert_int_eq(kvp_compress(ctx, press, cache, 0, NULL), KVP_OK);
    kvp_cache_destroy(cache);
    kvp_press_destroy(press);
    kvp_context_destroy(ctx);
}
END_TEST

/* A kernel launch failing at every point of a compression (the cl_mem is the caller's and
 * read back through the caller's own queue): CL_DEVICE_NOT_AVAILABLE is a lost device
 * (sticky), CL_OUT_OF_RESOURCES is out of device memory (the context stays usable). */
START_TEST(test_launch_failures_leave_caller_memory) {
    cl_int err;
    const kvp_cl_device *cd = kvp_cl_device_get(0);
    ck_assert_ptr_nonnull(cd);
    cl_context clctx = clCreateContext(NULL, 1, &cd->device, NULL, NULL, &err);
    cl_command_queue queue = clCreateCommandQueue(clctx, cd->device, 0, &err);
    const size_t bytes = (size_t)HK * CAP * D * 4;
    float *orig = calloc(1, bytes), *now = calloc(1, bytes);
    for (int j = 0; j < HK; j++) memcpy(orig + (size_t)j * CAP * D, keys + (size_t)j * N * D, sizeof(float) * N * D);
    cl_mem kmem = clCreateBuffer(clctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    cl_mem vmem = clCreateBuffer(clctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse("knorm(compression_ratio=0.5)", &press), KVP_OK);
    int launches_seen = 0;
    for (int kind = 0; kind < 2; kind++) {
        cl_int code = kind == 0 ? CL_DEVICE_NOT_AVAILABLE : CL_OUT_OF_RESOURCES;
        for (long after = 0;; after++) {
            ck_assert_int_eq(clEnqueueWriteBuffer(queue, kmem, CL_TRUE, 0, bytes, orig, 0, NULL, NULL), CL_SUCCESS);
            ck_assert_int_eq(clEnqueueWriteBuffer(queue, vmem, CL_TRUE, 0, bytes, orig, 0, NULL, NULL), CL_SUCCESS);
            kvp_context *ctx;
            ck_assert_int_eq(kvp_context_create_opencl(clctx, cd->device, queue, NULL, &ctx), KVP_OK);
            kvp_buffer *kb, *vb;
            ck_assert_int_eq(kvp_buffer_wrap_opencl(ctx, kmem, bytes, &kb), KVP_OK);
            ck_assert_int_eq(kvp_buffer_wrap_opencl(ctx, vmem, bytes, &vb), KVP_OK);
            kvp_cache_options o = {.n_layers = 1, .n_kv_heads = HK, .head_dim = D, .dtype = KVP_DTYPE_F32};
            kvp_cache *cache;
            ck_assert_int_eq(kvp_cache_create(ctx, &o, &cache), KVP_OK);
            int64_t lengths[HK] = {N, N}, len[HK];
            ck_assert_int_eq(kvp_cache_wrap_layer(cache, 0, CAP, kb, 0, vb, 0, lengths), KVP_OK);
            kvp__cl_test_fail_launch(ctx, after, code);
            kvp_status st = kvp_compress(ctx, press, cache, 0, NULL);
            int done = st == KVP_OK;
            if (!done) {
                ck_assert_int_eq(st, kind == 0 ? KVP_ERR_DEVICE_LOST : KVP_ERR_OUT_OF_DEVICE_MEMORY);
                const char *msg = kvp_context_last_error(ctx);
                ck_assert_msg(strstr(msg, kind == 0 ? "CL_DEVICE_NOT_AVAILABLE (-2)"
                                                    : "CL_OUT_OF_RESOURCES (-5)"),
                              "message: %s", msg);
                ck_assert_int_eq(kvp_cache_get_lengths(cache, 0, len), KVP_OK);
                ck_assert(len[0] == N && len[1] == N);
                ck_assert_int_eq(clFinish(queue), CL_SUCCESS); /* what was queued ran */
                ck_assert_int_eq(clEnqueueReadBuffer(queue, kmem, CL_TRUE, 0, bytes, now, 0, NULL, NULL), CL_SUCCESS);
                ck_assert_msg(memcmp(orig, now, bytes) == 0,
                              "launch %ld failed but the caller's keys changed", after);
                if (kind == 0) /* lost stays lost */
                    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_ERR_DEVICE_LOST);
                else /* out of resources once: the next attempt works */
                    ck_assert_int_eq(kvp_compress(ctx, press, cache, 0, NULL), KVP_OK);
                launches_seen++;
            }
            kvp_cache_destroy(cache);
            kvp_buffer_free(kb);
            kvp_buffer_free(vb);
            kvp_context_destroy(ctx);
            if (done) break;
        }
    }
    ck_assert_int_gt(launches_seen, 4);
    kvp_press_destroy(press);
    clReleaseMemObject(kmem);
    clReleaseMemObject(vmem);
    clReleaseCommandQueue(queue);
    clReleaseContext(clctx);
    free(orig);
    free(now);
}
END_TEST

/* Sources that do not compile (KVP_OPENCL_KERNEL_DIR pointing at broken kernels). */
START_TEST(test_kernel_build_failure) {
    char dir[] = "/tmp/kvp_cl_broken_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/opencl", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    for (int i = 0; i < kvp_gpu_kernel_count; i++) {
        snprintf(path, sizeof path, "%s/opencl/%s.cl", dir, kvp_gpu_kernels[i]);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "__kernel void kvp_%s(__global float *x) { x[0] = undeclared_name; }\n",
                kvp_gpu_kernels[i]);
        fclose(f);
    }
    static float k0[HK * N * D], v0[HK * N * D], k1[HK * N * D], v1[HK * N * D];
    static int32_t p0[HK * N], p1[HK * N];
    int64_t l0[HK], l1[HK];
    kvp_context *cpu, *ctx;
    kvp_device *cpu_dev;
    ck_assert_int_eq(kvp_device_by_name("cpu", &cpu_dev), KVP_OK);
    ck_assert_int_eq(kvp_context_create(cpu_dev, NULL, &cpu), KVP_OK);
    kvp_cache *ref = make_cache(cpu);
    snapshot(ref, k0, v0, p0, l0);

    setenv("KVP_OPENCL_KERNEL_DIR", dir, 1);
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_OK);
    kvp_cache *cache = make_cache(ctx); /* the host-side append needs no kernel */
    kvp_press *press;
    ck_assert_int_eq(kvp_press_parse("knorm(compression_ratio=0.5)", &press), KVP_OK);
    ck_assert_int_eq(kvp_compress(ctx, press, cache, 0, NULL), KVP_ERR_KERNEL_BUILD);
    const char *msg = kvp_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "build log") && strstr(msg, "undeclared_name"), "message: %s", msg);
    unsetenv("KVP_OPENCL_KERNEL_DIR");
    snapshot(cache, k1, v1, p1, l1);
    ck_assert(memcmp(l0, l1, sizeof l0) == 0 && memcmp(p0, p1, sizeof p0) == 0);
    ck_assert(memcmp(k0, k1, sizeof k0) == 0 && memcmp(v0, v1, sizeof v0) == 0);
    /* The embedded kernels work again (nothing broken was cached). */
    ck_assert_int_eq(kvp_compress(ctx, press, cache, 0, NULL), KVP_OK);
    kvp_cache_destroy(cache);
    kvp_cache_destroy(ref);
    kvp_press_destroy(press);
    kvp_context_destroy(ctx);
    kvp_context_destroy(cpu);
    for (int i = 0; i < kvp_gpu_kernel_count; i++) {
        snprintf(path, sizeof path, "%s/opencl/%s.cl", dir, kvp_gpu_kernels[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/opencl", dir);
    rmdir(path);
    rmdir(dir);
}
END_TEST

int main(void) {
    if (kvp_device_by_name("opencl", &dev) != KVP_OK) {
        printf("SKIP: no OpenCL device: %s\n", kvp_last_error());
        return 77;
    }
    uint32_t s = 7;
    for (int i = 0; i < HK * N * D; i++) {
        s = s * 1664525u + 1013904223u;
        keys[i] = (float)(s >> 8) / (float)(1u << 24) - 0.5f;
        values[i] = keys[i] * 3.0f;
    }
    Suite *su = suite_create("opencl_backend");
    TCase *tc = tcase_create("opencl");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_kernel_builds);
    tcase_add_test(tc, test_huge_alloc_is_out_of_device_memory);
    tcase_add_test(tc, test_oom_during_compress_leaves_cache);
    tcase_add_test(tc, test_launch_failures_leave_caller_memory);
    tcase_add_test(tc, test_kernel_build_failure);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
