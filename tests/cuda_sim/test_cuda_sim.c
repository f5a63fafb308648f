/*
 * The CUDA backend's own behaviour, on the CUDA simulator with two devices
 * (KVP_CUDA_SIM_DEVICES=2): what only a CUDA runtime can make happen — out of device memory,
 * a failed or faulting launch, a build without code for the device, several devices, the
 * application's current device — and what the backend must do about it.
 */
#include <check.h>
#include <threads.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda_internal.h"
#include "core/internal.h"
#include "kvpress/kvp_cuda.h"
#include "tests/cuda_sim/cuda_sim.h"

#define N 1000

static kvp_context *cuda_ctx(int index) {
    char name[16];
    snprintf(name, sizeof name, "cuda%d", index);
    kvp_device *dev = NULL;
    kvp_context *ctx = NULL;
    ck_assert_msg(kvp_device_by_name(name, &dev) == KVP_OK, "%s", kvp_last_error());
    ck_assert_msg(kvp_context_create(dev, NULL, &ctx) == KVP_OK, "%s", kvp_last_error());
    return ctx;
}

/* s = (3 s + 1) * w on the device, checked on the host: one launch through the executor. */
static kvp_status score_map(kvp_context *ctx, kvp_buffer *s, kvp_buffer *w) {
    kvp_p_score_map p = {.H = 4, .n = N / 4, .has_w = 1, .a = 3.0f, .b = 1.0f};
    return KVP_RUN(ctx, SCORE_MAP, &p, KVP_B(s), KVP_B(w));
}

static void check_score_map(kvp_context *ctx) {
    float s[N], w[N], r[N];
    for (int i = 0; i < N; i++) s[i] = (float)i, w[i] = 0.5f;
    kvp_buffer *bs = NULL, *bw = NULL;
    ck_assert_int_eq(kvp_buffer_alloc(ctx, sizeof s, &bs), KVP_OK);
    ck_assert_int_eq(kvp_buffer_alloc(ctx, sizeof w, &bw), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(ctx, bs, 0, s, sizeof s), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(ctx, bw, 0, w, sizeof w), KVP_OK);
    ck_assert_msg(score_map(ctx, bs, bw) == KVP_OK, "%s", kvp_context_last_error(ctx));
    ck_assert_int_eq(kvp_buffer_download(ctx, bs, 0, r, sizeof r), KVP_OK);
    for (int i = 0; i < N; i++) ck_assert_float_eq(r[i], (3.0f * (float)i + 1.0f) * 0.5f);
    kvp_buffer_free(bs);
    kvp_buffer_free(bw);
}

START_TEST(test_props) {
    kvp_device *dev = NULL;
    kvp_device_props p;
    ck_assert_int_eq(kvp_device_by_name("cuda1", &dev), KVP_OK);
    ck_assert_int_eq(kvp_device_get_props(dev, &p), KVP_OK);
    ck_assert_str_eq(p.backend, "cuda");
    ck_assert_ptr_nonnull(strstr(p.description, "simulator 1"));
    ck_assert_ptr_nonnull(strstr(p.driver, "sm_90"));
    ck_assert_int_eq(p.type, KVP_DEVICE_TYPE_GPU);
    ck_assert_int_eq(p.subgroup_size, 32);
    ck_assert_int_eq(p.max_workgroup_size, 1024);
    ck_assert_int_eq(p.compute_units, 4);
    ck_assert_uint_eq(p.dtype_mask, 7u);
    /* 1 GHz memory clock, double data rate, 256-bit bus. */
    ck_assert_double_eq_tol(p.peak_bandwidth_gbs, 64.0, 1e-9);
    ck_assert_ptr_eq(kvp_cuda_backend()->get_proc("kvp_buffer_wrap_cuda"),
                     (void *)kvp_buffer_wrap_cuda);
    ck_assert_ptr_null(kvp_cuda_backend()->get_proc("kvp_nothing"));
}
END_TEST

/* The simulated device 0 allocates with cudaMallocAsync, device 1 with cudaMalloc; the
 * simulator refuses launches on a stream of a device that is not current, so this also
 * checks that every call switches to the context's device. */
START_TEST(test_two_devices_and_current_device) {
    ck_assert_int_eq(cudaSetDevice(1), cudaSuccess);
    kvp_context *a = cuda_ctx(0), *b = cuda_ctx(1);
    int cur = -1;
    check_score_map(a);
    ck_assert_int_eq(cudaGetDevice(&cur), cudaSuccess);
    ck_assert_int_eq(cur, 1);
    ck_assert_int_eq(cudaSetDevice(0), cudaSuccess);
    check_score_map(b);
    check_score_map(a);
    ck_assert_int_eq(cudaGetDevice(&cur), cudaSuccess);
    ck_assert_int_eq(cur, 0);
    kvp_context_destroy(b);
    kvp_context_destroy(a);
    ck_assert_int_eq(cudaGetDevice(&cur), cudaSuccess);
    ck_assert_int_eq(cur, 0);
}
END_TEST

START_TEST(test_out_of_memory) {
    kvp_context *ctx = cuda_ctx(_i);
    kvp_buffer *b = NULL;
    kvp_sim_set_memory_limit(1 << 20);
    ck_assert_int_eq(kvp_buffer_alloc(ctx, 2 << 20, &b), KVP_ERR_OUT_OF_DEVICE_MEMORY);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "cudaErrorMemoryAllocation (2)"));
    kvp_sim_set_memory_limit(0);
    /* The failed allocation must not be blamed on the next launch. */
    check_score_map(ctx);
    kvp_context_destroy(ctx);
}
END_TEST

START_TEST(test_launch_error) {
    kvp_context *ctx = cuda_ctx(0);
    kvp_buffer *s = NULL, *w = NULL;
    ck_assert_int_eq(kvp_buffer_alloc(ctx, N * 4, &s), KVP_OK);
    ck_assert_int_eq(kvp_buffer_alloc(ctx, N * 4, &w), KVP_OK);
    long before = kvp_sim_launch_count();
    kvp_sim_fail_next_launch(cudaErrorLaunchOutOfResources);
    ck_assert_int_eq(score_map(ctx, s, w), KVP_ERR_UNSUPPORTED);
    const char *msg = kvp_context_last_error(ctx);
    ck_assert_ptr_nonnull(strstr(msg, "kernel score_map"));
    ck_assert_ptr_nonnull(strstr(msg, "cudaErrorLaunchOutOfResources (701)"));
    ck_assert_int_eq(kvp_sim_launch_count(), before);
    kvp_buffer_free(s);
    kvp_buffer_free(w);
    check_score_map(ctx);
    kvp_context_destroy(ctx);
}
END_TEST

START_TEST(test_no_kernel_image) {
    kvp_device *dev = NULL;
    kvp_context *ctx = NULL;
    ck_assert_int_eq(kvp_device_by_name("cuda0", &dev), KVP_OK);
    kvp_sim_set_kernel_image(0);
    ck_assert_int_eq(kvp_context_create(dev, NULL, &ctx), KVP_ERR_KERNEL_BUILD);
    kvp_sim_set_kernel_image(1);
    ck_assert_ptr_null(ctx);
    const char *msg = kvp_last_error();
    ck_assert_ptr_nonnull(strstr(msg, "cudaErrorNoKernelImageForDevice"));
    ck_assert_ptr_nonnull(strstr(msg, "sm_90"));
    ck_assert_ptr_nonnull(strstr(msg, "nvcc_archs"));
}
END_TEST

START_TEST(test_interop_other_device) {
    ck_assert_int_eq(cudaSetDevice(1), cudaSuccess);
    cudaStream_t stream;
    void *mem = NULL;
    ck_assert_int_eq(cudaStreamCreate(&stream), cudaSuccess);
    ck_assert_int_eq(cudaMalloc(&mem, 4096), cudaSuccess);
    kvp_context *ctx = NULL;
    ck_assert_int_eq(kvp_context_create_cuda(0, (kvp_cuda_stream)stream, NULL, &ctx),
                     KVP_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(kvp_last_error(), "belongs to CUDA device 1"));
    ck_assert_int_eq(kvp_context_create_cuda(0, NULL, NULL, &ctx), KVP_OK);
    kvp_buffer *b = NULL;
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, mem, 4096, &b), KVP_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "memory of CUDA device 1"));
    kvp_context_destroy(ctx);
    /* On its own device the stream is accepted. */
    ck_assert_int_eq(kvp_context_create_cuda(1, (kvp_cuda_stream)stream, NULL, &ctx), KVP_OK);
    ck_assert_int_eq(kvp_buffer_wrap_cuda(ctx, mem, 4096, &b), KVP_OK);
    kvp_buffer_free(b);
    kvp_context_destroy(ctx);
    ck_assert_int_eq(cudaFree(mem), cudaSuccess);
    ck_assert_int_eq(cudaStreamDestroy(stream), cudaSuccess);
    ck_assert_int_eq(cudaSetDevice(0), cudaSuccess);
}
END_TEST

/* Copies inside one buffer may overlap (the CPU backend's copy is a memmove). */
START_TEST(test_overlapping_copy) {
    kvp_context *ctx = cuda_ctx(_i);
    int32_t h[N], r[N];
    for (int i = 0; i < N; i++) h[i] = i;
    kvp_buffer *b = NULL;
    ck_assert_int_eq(kvp_buffer_alloc(ctx, sizeof h, &b), KVP_OK);
    ck_assert_int_eq(kvp_buffer_upload(ctx, b, 0, h, sizeof h), KVP_OK);
    ck_assert_int_eq(kvp__copy(ctx, b, 40, b, 0, 400 * 4), KVP_OK);    /* forwards */
    ck_assert_int_eq(kvp__copy(ctx, b, 2000, b, 2040, 400 * 4), KVP_OK); /* backwards */
    ck_assert_int_eq(kvp_buffer_download(ctx, b, 0, r, sizeof r), KVP_OK);
    for (int i = 0; i < N; i++) {
        int want = i < 10 ? i : i < 410 ? i - 10 : i < 500 ? i : i < 900 ? i + 10 : i;
        ck_assert_int_eq(r[i], want);
    }
    kvp_buffer_free(b);
    kvp_context_destroy(ctx);
}
END_TEST

/* Contexts are independent: one per device, each used from its own thread at the same time,
 * each thread with another device current. Check's assertions are for the main thread only,
 * so the threads report a count of wrong results. */
static int thread_work(void *arg) {
    int dev = *(int *)arg;
    if (cudaSetDevice(1 - dev) != cudaSuccess) return 1000;
    char name[16];
    snprintf(name, sizeof name, "cuda%d", dev);
    kvp_device *d = NULL;
    kvp_context *ctx = NULL;
    if (kvp_device_by_name(name, &d) != KVP_OK || kvp_context_create(d, NULL, &ctx) != KVP_OK)
        return 1000;
    int bad = 0;
    float s[N], w[N], r[N];
    kvp_buffer *bs = NULL, *bw = NULL;
    if (kvp_buffer_alloc(ctx, sizeof s, &bs) != KVP_OK ||
        kvp_buffer_alloc(ctx, sizeof w, &bw) != KVP_OK)
        bad = 1000;
    for (int it = 0; it < 20 && !bad; it++) {
        for (int i = 0; i < N; i++) s[i] = (float)(i + it + dev), w[i] = 2.0f;
        if (kvp_buffer_upload(ctx, bs, 0, s, sizeof s) != KVP_OK ||
            kvp_buffer_upload(ctx, bw, 0, w, sizeof w) != KVP_OK ||
            score_map(ctx, bs, bw) != KVP_OK ||
            kvp_buffer_download(ctx, bs, 0, r, sizeof r) != KVP_OK) {
            bad = 1000;
            break;
        }
        for (int i = 0; i < N; i++) bad += r[i] != (3.0f * (float)(i + it + dev) + 1.0f) * 2.0f;
        int cur = -1;
        if (cudaGetDevice(&cur) != cudaSuccess || cur != 1 - dev) bad++;
    }
    kvp_buffer_free(bs);
    kvp_buffer_free(bw);
    kvp_context_destroy(ctx);
    return bad;
}

START_TEST(test_threads) {
    thrd_t t[2];
    int devs[2] = {0, 1}, res[2] = {-1, -1};
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(thrd_create(&t[i], thread_work, &devs[i]), thrd_success);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(thrd_join(t[i], &res[i]), thrd_success);
    ck_assert_int_eq(res[0], 0);
    ck_assert_int_eq(res[1], 0);
}
END_TEST

/* A thread that never used CUDA calls the library for a context on device 1: the calls must
 * not create a primary context on device 0 (the thread's default device) when they give the
 * thread its state back; that would cost hundreds of MB on a GPU the application never uses. */
static int fresh_thread(void *arg) {
    kvp_context *ctx = arg;
    float s[N], w[N], r[N];
    for (int i = 0; i < N; i++) s[i] = (float)i, w[i] = 1.0f;
    kvp_buffer *bs = NULL, *bw = NULL;
    int bad = 0;
    if (kvp_buffer_alloc(ctx, sizeof s, &bs) != KVP_OK ||
        kvp_buffer_alloc(ctx, sizeof w, &bw) != KVP_OK ||
        kvp_buffer_upload(ctx, bs, 0, s, sizeof s) != KVP_OK ||
        kvp_buffer_upload(ctx, bw, 0, w, sizeof w) != KVP_OK || score_map(ctx, bs, bw) != KVP_OK ||
        kvp_buffer_download(ctx, bs, 0, r, sizeof r) != KVP_OK)
        bad = 1000;
    for (int i = 0; i < N && !bad; i++) bad += r[i] != 3.0f * (float)i + 1.0f;
    kvp_buffer_free(bs);
    kvp_buffer_free(bw);
    if (kvp_sim_primary_context(0)) bad += 100;
    return bad;
}

START_TEST(test_no_context_on_unused_device) {
    kvp_context *ctx = cuda_ctx(1);
    kvp_sim_forget_primary_context(0);
    thrd_t t;
    int res = -1;
    ck_assert_int_eq(thrd_create(&t, fresh_thread, ctx), thrd_success);
    ck_assert_int_eq(thrd_join(t, &res), thrd_success);
    ck_assert_int_eq(res, 0);
    kvp_context_destroy(ctx);
    ck_assert_int_eq(cudaSetDevice(0), cudaSuccess);
}
END_TEST

/* KVP_CUDA_SYNC=1 waits after every kernel (to find the one that faults); results stay the same. */
START_TEST(test_sync_each_pass) {
    setenv("KVP_CUDA_SYNC", "1", 1);
    kvp_context *ctx = cuda_ctx(0);
    unsetenv("KVP_CUDA_SYNC");
    ck_assert_int_eq(kvp_cuda_ctx_of(ctx)->sync_each_pass, 1);
    check_score_map(ctx);
    kvp_context_destroy(ctx);
}
END_TEST

/* A fault in a kernel is sticky: the context (and every other on the device) is lost. Runs last. */
START_TEST(test_fault_is_device_lost) {
    kvp_context *ctx = cuda_ctx(0);
    kvp_buffer *s = NULL, *w = NULL;
    ck_assert_int_eq(kvp_buffer_alloc(ctx, N * 4, &s), KVP_OK);
    ck_assert_int_eq(kvp_buffer_alloc(ctx, N * 4, &w), KVP_OK);
    kvp_sim_fail_next_launch(cudaErrorIllegalAddress);
    ck_assert_int_eq(score_map(ctx, s, w), KVP_ERR_DEVICE_LOST);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "cudaErrorIllegalAddress (700)"));
    ck_assert_int_eq(kvp_context_synchronize(ctx), KVP_ERR_DEVICE_LOST);
    ck_assert_ptr_nonnull(strstr(kvp_context_last_error(ctx), "cudaStreamSynchronize"));
    float r[4];
    ck_assert_int_eq(kvp_buffer_download(ctx, s, 0, r, sizeof r), KVP_ERR_DEVICE_LOST);
    kvp_buffer_free(s);
    kvp_buffer_free(w);
    kvp_context_destroy(ctx);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cuda_sim");
    TCase *tc = tcase_create("backend");
    tcase_add_test(tc, test_props);
    tcase_add_test(tc, test_two_devices_and_current_device);
    tcase_add_loop_test(tc, test_out_of_memory, 0, 2);
    tcase_add_test(tc, test_launch_error);
    tcase_add_test(tc, test_no_kernel_image);
    tcase_add_test(tc, test_interop_other_device);
    tcase_add_loop_test(tc, test_overlapping_copy, 0, 2);
    tcase_add_test(tc, test_sync_each_pass);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_no_context_on_unused_device);
    suite_add_tcase(s, tc);
    tc = tcase_create("lost");
    tcase_add_test(tc, test_fault_is_device_lost);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
