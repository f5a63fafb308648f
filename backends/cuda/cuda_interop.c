/* include/kvpress/kvp_cuda.h: contexts on a caller's stream and buffers over a caller's device
 * memory, for zero-copy integration into a CUDA inference engine. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"
#include "kvpress/kvp_cuda.h"

/* The registry's device for a CUDA ordinal (its index within the backend). */
static kvp_device *find_device(int ordinal) {
    int n = 0;
    if (kvp_device_count(&n) != KVP_OK) return NULL;
    for (int i = 0; i < n; i++) {
        kvp_device *d = NULL;
        if (kvp_device_get(i, &d) == KVP_OK && d->ops == kvp_cuda_backend() && d->index == ordinal)
            return d;
    }
    return NULL;
}

static kvp_status no_device(int ordinal) {
    int nb = 0;
    kvp_backend_count(&nb);
    for (int i = 0; i < nb; i++) {
        kvp_backend_info b;
        if (kvp_backend_get_info(i, &b) != KVP_OK || strcmp(b.name, "cuda") != 0) continue;
        if (!b.available)
            return kvp__error_tls(KVP_ERR_BACKEND_UNAVAILABLE,
                                  "kvp_context_create_cuda: the CUDA backend is unavailable: %s",
                                  b.reason);
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_context_create_cuda: no usable CUDA device %d (%d found)",
                              ordinal, b.device_count);
    }
    return kvp__error_tls(KVP_ERR_BACKEND_UNAVAILABLE,
                          "kvp_context_create_cuda: the CUDA backend is not registered");
}

/* The device a caller's stream belongs to must be the context's: kernels queued on a stream
 * of another device would run there, on pointers of this one. */
static kvp_status check_stream(int ordinal, cudaStream_t stream) {
    if (stream == NULL || stream == cudaStreamLegacy || stream == cudaStreamPerThread)
        return KVP_OK; /* the special streams exist on every device */
#if CUDART_VERSION >= 12080
    /* The stream handle knows its device: no need to change the thread's current one. */
    int dev = -1;
    cudaError_t err = cudaStreamGetDevice(stream, &dev);
    if (err == cudaErrorInvalidResourceHandle || err == cudaErrorInvalidValue) {
        char msg[320];
        kvp_cuda_format_error(msg, sizeof msg, err, "cudaStreamGetDevice");
        (void)cudaGetLastError();
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_context_create_cuda: not a usable stream: %s", msg);
    }
    if (err != cudaSuccess) return kvp_cuda_error(NULL, err, "cudaStreamGetDevice");
    if (dev != ordinal)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_context_create_cuda: the stream belongs to CUDA device %d, not "
                              "%d",
                              dev, ordinal);
#else
    (void)ordinal;
#endif
    return KVP_OK;
}

kvp_status kvp_context_create_cuda(int device_index, kvp_cuda_stream stream,
                                   const kvp_context_options *options, kvp_context **context) {
    if (!context)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_context_create_cuda: context is NULL");
    *context = NULL;
    kvp_device *dev = find_device(device_index);
    if (!dev) return no_device(device_index);
    KVP_TRY(check_stream(device_index, (cudaStream_t)stream));
    kvp_cuda_native native = {.stream = (cudaStream_t)stream};
    return kvp__context_create_native(dev, options, &native, context);
}

static int is_cuda_context(const kvp_context *ctx) {
    return ctx && ctx->ops == kvp_cuda_backend();
}

kvp_status kvp_buffer_wrap_cuda(kvp_context *ctx, void *device_ptr, size_t bytes,
                                kvp_buffer **buffer) {
    const char *who = "kvp_buffer_wrap_cuda";
    if (!buffer) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: buffer is NULL", who);
    *buffer = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: context is NULL", who);
    if (!is_cuda_context(ctx))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: the context runs on the %s backend, not cuda", who, ctx->ops->name);
    if (!device_ptr || bytes == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: pointer is NULL or size 0", who);
    if ((uintptr_t)device_ptr % 16)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: pointer %p is not 16-byte aligned", who,
                          device_ptr);
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    struct cudaPointerAttributes attr;
    memset(&attr, 0, sizeof attr);
    cudaError_t err = cudaPointerGetAttributes(&attr, device_ptr);
    kvp_cuda_leave(&g);
    if (err != cudaSuccess) return kvp_cuda_error(ctx, err, "cudaPointerGetAttributes");
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: %p is not device memory (cudaPointerGetAttributes type %d)", who,
                          device_ptr, (int)attr.type);
    if (attr.type == cudaMemoryTypeDevice && attr.device != c->device)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: %p is memory of CUDA device %d, the context runs on device %d", who,
                          device_ptr, attr.device, c->device);
    void *h = NULL;
    KVP_TRY(kvp_cuda_buffer_wrap(ctx, device_ptr, bytes, &h));
    kvp_status st = kvp__buffer_from_handle(ctx, h, bytes, buffer);
    if (st != KVP_OK) kvp_cuda_buffer_free(ctx, h);
    return st;
}

kvp_status kvp_buffer_get_cuda_pointer(const kvp_buffer *buffer, void **device_ptr) {
    if (!device_ptr)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_buffer_get_cuda_pointer: device_ptr is NULL");
    *device_ptr = NULL;
    if (!buffer)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_buffer_get_cuda_pointer: buffer is NULL");
    if (!is_cuda_context(buffer->ctx))
        return kvp__error(buffer->ctx, KVP_ERR_INVALID_ARG,
                          "kvp_buffer_get_cuda_pointer: the buffer is not CUDA memory");
    *device_ptr = kvp_cuda_buffer_ptr(buffer);
    return KVP_OK;
}

kvp_status kvp_context_get_cuda_stream(const kvp_context *ctx, kvp_cuda_stream *stream) {
    if (!stream)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_context_get_cuda_stream: stream is NULL");
    *stream = NULL;
    if (!is_cuda_context(ctx))
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_context_get_cuda_stream: not a CUDA context");
    *stream = (kvp_cuda_stream)kvp_cuda_ctx_of(ctx)->stream;
    return KVP_OK;
}
