/* Device memory of a CUDA context. Allocations are stream-ordered (cudaMallocAsync on the
 * context's stream) where the device supports memory pools, so that allocating scratch or a
 * repacked cache layer does not synchronise the whole device as cudaMalloc does. Copies are
 * asynchronous on the stream; a download waits for its data. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_internal.h"

kvp_status kvp_cuda_malloc(kvp_context *ctx, size_t bytes, void **ptr, int *pooled,
                           const char *what) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    *ptr = NULL;
    cudaError_t err;
    if (c->memory_pools) {
        err = cudaMallocAsync(ptr, bytes, c->stream);
        *pooled = 1;
    } else {
        err = cudaMalloc(ptr, bytes);
        *pooled = 0;
    }
    if (err != cudaSuccess) {
        *ptr = NULL;
        char call[128];
        snprintf(call, sizeof call, "%s(%zu bytes for %s)",
                 c->memory_pools ? "cudaMallocAsync" : "cudaMalloc", bytes, what);
        return kvp_cuda_error(ctx, err, call);
    }
    return KVP_OK;
}

void kvp_cuda_free(kvp_context *ctx, void *ptr, int pooled) {
    if (!ptr) return;
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    /* Stream-ordered: kernels already queued on the stream may still read the memory. */
    cudaError_t err = pooled ? cudaFreeAsync(ptr, c->stream) : cudaFree(ptr);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        kvp__log(ctx, KVP_LOG_WARN, "cuda: %s failed: %s", pooled ? "cudaFreeAsync" : "cudaFree",
                 cudaGetErrorName(err));
    }
}

kvp_status kvp_cuda_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle) {
    *handle = NULL;
    kvp_cuda_buffer *b = kvp__calloc(ctx, 1, sizeof *b);
    if (!b) return KVP_ERR_OUT_OF_HOST_MEMORY;
    kvp_cuda_guard g;
    kvp_status st = kvp_cuda_enter(ctx, &g);
    if (st == KVP_OK) {
        st = kvp_cuda_malloc(ctx, bytes, &b->ptr, &b->pooled, "a buffer");
        kvp_cuda_leave(&g);
    }
    if (st != KVP_OK) {
        free(b);
        return st;
    }
    b->size = bytes;
    b->owned = 1;
    *handle = b;
    return KVP_OK;
}

kvp_status kvp_cuda_buffer_wrap(kvp_context *ctx, void *ptr, size_t bytes, void **handle) {
    *handle = NULL;
    kvp_cuda_buffer *b = kvp__calloc(ctx, 1, sizeof *b);
    if (!b) return KVP_ERR_OUT_OF_HOST_MEMORY;
    b->ptr = ptr;
    b->size = bytes;
    b->owned = 0;
    *handle = b;
    return KVP_OK;
}

void kvp_cuda_buffer_free(kvp_context *ctx, void *handle) {
    kvp_cuda_buffer *b = handle;
    if (!b) return;
    if (b->owned) {
        kvp_cuda_guard g;
        if (kvp_cuda_enter(ctx, &g) == KVP_OK) {
            kvp_cuda_free(ctx, b->ptr, b->pooled);
            kvp_cuda_leave(&g);
        }
    }
    free(b);
}

static char *at(void *handle, size_t offset) {
    return (char *)((kvp_cuda_buffer *)handle)->ptr + offset;
}

kvp_status kvp_cuda_buffer_upload(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                  size_t bytes) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    /* The caller may reuse `src` as soon as we return. That holds for an asynchronous copy
     * from pageable memory (the runtime stages it before returning) but not from pinned or
     * device-accessible memory, which the copy engine reads later: wait for those. */
    struct cudaPointerAttributes attr;
    int pageable = cudaPointerGetAttributes(&attr, src) == cudaSuccess &&
                   attr.type == cudaMemoryTypeUnregistered;
    (void)cudaGetLastError();
    kvp_status st = KVP_OK;
    cudaError_t err = cudaMemcpyAsync(at(handle, offset), src, bytes, cudaMemcpyDefault, c->stream);
    if (err != cudaSuccess)
        st = kvp_cuda_error(ctx, err, "cudaMemcpyAsync (upload)");
    else if (!pageable && (err = cudaStreamSynchronize(c->stream)) != cudaSuccess)
        st = kvp_cuda_error(ctx, err, "cudaStreamSynchronize (upload)");
    kvp_cuda_leave(&g);
    return st;
}

kvp_status kvp_cuda_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                    size_t bytes) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    kvp_status st = KVP_OK;
    cudaError_t err = cudaMemcpyAsync(dst, at(handle, offset), bytes, cudaMemcpyDefault, c->stream);
    if (err != cudaSuccess)
        st = kvp_cuda_error(ctx, err, "cudaMemcpyAsync (download)");
    else if ((err = cudaStreamSynchronize(c->stream)) != cudaSuccess)
        /* Also where a fault of an earlier kernel on the stream surfaces. */
        st = kvp_cuda_error(ctx, err, "cudaStreamSynchronize (download)");
    kvp_cuda_leave(&g);
    return st;
}

kvp_status kvp_cuda_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                                size_t src_offset, size_t bytes) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    char *d = at(dst, dst_offset);
    const char *s = at(src, src_offset);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    kvp_status st = KVP_OK;
    uintptr_t du = (uintptr_t)d, su = (uintptr_t)s;
    int overlap = du < su + bytes && su < du + bytes;
    if (!overlap) {
        cudaError_t err = cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, c->stream);
        if (err != cudaSuccess) st = kvp_cuda_error(ctx, err, "cudaMemcpyAsync (device to device)");
    } else if (d != s) {
        /* cudaMemcpy does not allow overlapping ranges (the CPU backend's copy is a memmove):
         * go through a temporary. */
        void *tmp = NULL;
        int pooled = 0;
        st = kvp_cuda_malloc(ctx, bytes, &tmp, &pooled, "an overlapping copy");
        if (st == KVP_OK) {
            cudaError_t err = cudaMemcpyAsync(tmp, s, bytes, cudaMemcpyDeviceToDevice, c->stream);
            if (err == cudaSuccess)
                err = cudaMemcpyAsync(d, tmp, bytes, cudaMemcpyDeviceToDevice, c->stream);
            if (err != cudaSuccess)
                st = kvp_cuda_error(ctx, err, "cudaMemcpyAsync (overlapping device copy)");
            kvp_cuda_free(ctx, tmp, pooled);
        }
    }
    kvp_cuda_leave(&g);
    return st;
}
