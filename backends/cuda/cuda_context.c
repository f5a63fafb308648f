/* CUDA contexts: a device ordinal and a stream per kvp_context. Every backend call makes the
 * context's device current for its duration (kvp_cuda_enter/leave), so contexts on different
 * devices can be used from any thread, and gives the thread its own context back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#ifndef KVP_CUDA_ARCHS
#define KVP_CUDA_ARCHS "?"
#endif

kvp_status kvp_cuda_enter(kvp_context *ctx, kvp_cuda_guard *guard) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    const kvp_cuda_driver *drv = kvp_cuda_driver_get();
    guard->switched = 0;
    guard->prev = -1;
    guard->prev_ctx = NULL;
    KVP_CUDA_CHECK(ctx, cudaGetDevice(&guard->prev));
    /* With the driver reachable, compare contexts: the thread may have no context at all, or
     * a context of its own on the right device, where the stream would not be valid. */
    int switch_needed = guard->prev != c->device;
    if (drv && c->primary && drv->ctx_get_current(&guard->prev_ctx) == CUDA_SUCCESS)
        switch_needed = guard->prev_ctx != c->primary;
    if (switch_needed) {
        KVP_CUDA_CHECK(ctx, cudaSetDevice(c->device));
        guard->switched = 1;
    }
    return KVP_OK;
}

void kvp_cuda_leave(const kvp_cuda_guard *guard) {
    if (!guard->switched) return;
    const kvp_cuda_driver *drv = kvp_cuda_driver_get();
    if (drv && guard->prev_ctx) {
        /* Exactly the context the thread had; the runtime's current device follows it. */
        if (drv->ctx_set_current(guard->prev_ctx) != CUDA_SUCCESS) (void)cudaGetLastError();
        return;
    }
    if (drv) {
        /* No context was current: restore the runtime's device only if its primary context
         * exists already, rather than create one on a device the thread never used. */
        CUdevice dev;
        unsigned int flags = 0;
        int active = 0;
        if (drv->device_get(&dev, guard->prev) == CUDA_SUCCESS &&
            drv->primary_ctx_get_state(dev, &flags, &active) == CUDA_SUCCESS && !active)
            return;
    }
    if (cudaSetDevice(guard->prev) != cudaSuccess) (void)cudaGetLastError();
}

/* Fails early, with the reason, when this build carries no code the device can run (e.g. a
 * build for sm_80;90 on an sm_75 card, or a kernel that cannot run KVP_WG threads), instead
 * of at the first op. Loading every kernel here also moves the module-load latency of
 * CUDA's lazy loading out of the first timed call. */
static kvp_status check_kernels(kvp_context *ctx, const kvp_cuda_device_info *info) {
    for (int i = 0; i < kvp_cuda_kernel_count(); i++) {
        const kvp_cuda_kernel *k = kvp_cuda_kernel_at(i);
        struct cudaFuncAttributes attr;
        memset(&attr, 0, sizeof attr);
        cudaError_t err = cudaFuncGetAttributes(&attr, k->fn);
        if (err != cudaSuccess) {
            char what[160];
            snprintf(what, sizeof what,
                     "cudaFuncGetAttributes(kvp_%s) on sm_%d%d (library built for sm %s, meson "
                     "option nvcc_archs)",
                     k->name, info->cc_major, info->cc_minor, KVP_CUDA_ARCHS);
            return kvp_cuda_error(ctx, err, what);
        }
        if (k->block_size != KVP_GPU_WG)
            return kvp__error(ctx, KVP_ERR_INTERNAL,
                              "cuda: kernel kvp_%s was compiled for %d threads per block, the "
                              "plans launch %d",
                              k->name, k->block_size, KVP_GPU_WG);
        if (attr.maxThreadsPerBlock < k->block_size)
            return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                              "cuda: kernel kvp_%s runs at most %d threads per block on %s, it "
                              "needs %d",
                              k->name, attr.maxThreadsPerBlock, info->props.description,
                              k->block_size);
    }
    return KVP_OK;
}

kvp_status kvp_cuda_context_create(kvp_context *ctx, int device_index) {
    const kvp_cuda_device_info *info = kvp_cuda_device_info_get(device_index);
    if (!info)
        return kvp__error(ctx, KVP_ERR_BACKEND_UNAVAILABLE, "cuda: device %d is not usable",
                          device_index);
    kvp_cuda_ctx *c = kvp__calloc(ctx, 1, sizeof *c);
    if (!c) return KVP_ERR_OUT_OF_HOST_MEMORY;
    c->device = device_index;
    c->memory_pools = info->memory_pools;
    const char *sync = getenv("KVP_CUDA_SYNC");
    c->sync_each_pass = sync && sync[0] && strcmp(sync, "0") != 0;
    c->caps.subgroup_size = info->warp_size;
    c->caps.max_workgroup_size = info->max_threads_per_block;
    c->caps.compute_units = info->props.compute_units;
    for (int k = 0; k < 3; k++) c->caps.max_groups[k] = (uint32_t)info->max_grid[k];
    kvp__ctx_set_backend(ctx, c);

    kvp_cuda_guard g;
    kvp_status st = kvp_cuda_enter(ctx, &g);
    if (st == KVP_OK) {
        st = check_kernels(ctx, info);
        /* check_kernels initialised the runtime on the device: its primary context is current. */
        const kvp_cuda_driver *drv = kvp_cuda_driver_get();
        if (st == KVP_OK && drv && drv->ctx_get_current(&c->primary) != CUDA_SUCCESS)
            c->primary = NULL;
        const kvp_cuda_native *native = kvp__ctx_native(ctx);
        if (st == KVP_OK && native) {
            /* kvp_context_create_cuda: the application's stream, which it keeps. */
            c->stream = native->stream;
            c->owns_stream = 0;
        } else if (st == KVP_OK) {
            /* Non-blocking: the library's work must not serialise with the legacy default
             * stream of the application. */
            cudaError_t err = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
            if (err != cudaSuccess)
                st = kvp_cuda_error(ctx, err, "cudaStreamCreateWithFlags");
            else
                c->owns_stream = 1;
        }
        kvp_cuda_leave(&g);
    }
    if (st != KVP_OK) {
        kvp__ctx_set_backend(ctx, NULL);
        free(c);
    }
    return st;
}

void kvp_cuda_context_destroy(kvp_context *ctx) {
    kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    if (!c) return;
    kvp_cuda_guard g;
    if (kvp_cuda_enter(ctx, &g) == KVP_OK) {
        /* Work still queued may use the scratch buffers freed below. */
        if (cudaStreamSynchronize(c->stream) != cudaSuccess) (void)cudaGetLastError();
        kvp_cuda_scratch_release(ctx);
        if (c->owns_stream && cudaStreamDestroy(c->stream) != cudaSuccess)
            (void)cudaGetLastError();
        kvp_cuda_leave(&g);
    }
    kvp__ctx_set_backend(ctx, NULL);
    free(c);
}

kvp_status kvp_cuda_synchronize(kvp_context *ctx) {
    kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    cudaError_t err = cudaStreamSynchronize(c->stream);
    kvp_status st = err == cudaSuccess ? KVP_OK : kvp_cuda_error(ctx, err, "cudaStreamSynchronize");
    kvp_cuda_leave(&g);
    return st;
}
