/* Device buffers: validated wrappers around the backend's memory methods. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

kvp_status kvp__buffer_alloc(kvp_context *ctx, size_t bytes, kvp_buffer **out) {
    *out = NULL;
    kvp_buffer *b = kvp__calloc(ctx, 1, sizeof *b);
    if (!b) return KVP_ERR_OUT_OF_HOST_MEMORY;
    if (kvp__alloc_should_fail(ctx)) {
        free(b);
        return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                          "out of device memory allocating %zu bytes (simulated)", bytes);
    }
    kvp_status st = ctx->ops->buffer_alloc(ctx, bytes, &b->handle);
    if (st != KVP_OK) {
        free(b);
        return st;
    }
    b->ctx = ctx;
    b->size = bytes;
    *out = b;
    return KVP_OK;
}

kvp_status kvp_buffer_alloc(kvp_context *ctx, size_t bytes, kvp_buffer **buffer) {
    if (!buffer) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_alloc: buffer is NULL");
    *buffer = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_buffer_alloc: context is NULL");
    if (bytes == 0) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_alloc: size is 0");
    return kvp__buffer_alloc(ctx, bytes, buffer);
}

kvp_status kvp__buffer_from_handle(kvp_context *ctx, void *handle, size_t bytes,
                                   kvp_buffer **out) {
    *out = NULL;
    kvp_buffer *b = kvp__calloc(ctx, 1, sizeof *b);
    if (!b) return KVP_ERR_OUT_OF_HOST_MEMORY;
    b->ctx = ctx;
    b->handle = handle;
    b->size = bytes;
    *out = b;
    return KVP_OK;
}

kvp_status kvp_buffer_wrap_host(kvp_context *ctx, void *memory, size_t bytes,
                                kvp_buffer **buffer) {
    if (!buffer) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_wrap_host: buffer is NULL");
    *buffer = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_buffer_wrap_host: context is NULL");
    if (!memory || bytes == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_wrap_host: memory is NULL or size 0");
    if ((uintptr_t)memory % 16)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_buffer_wrap_host: memory must be 16-byte aligned");
    if (!ctx->ops->buffer_wrap_host)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                          "kvp_buffer_wrap_host: the %s backend cannot use host memory directly",
                          ctx->ops->name);
    void *h = NULL;
    KVP_TRY(ctx->ops->buffer_wrap_host(ctx, memory, bytes, &h));
    kvp_status st = kvp__buffer_from_handle(ctx, h, bytes, buffer);
    if (st != KVP_OK) ctx->ops->buffer_free(ctx, h);
    return st;
}

void kvp_buffer_free(kvp_buffer *buffer) {
    if (!buffer) return;
    buffer->ctx->ops->buffer_free(buffer->ctx, buffer->handle);
    free(buffer);
}

size_t kvp_buffer_size(const kvp_buffer *buffer) { return buffer ? buffer->size : 0; }

void *kvp__buffer_handle(const kvp_buffer *buf) { return buf->handle; }

static kvp_status check_range(kvp_context *ctx, const char *who, const kvp_buffer *buf,
                              size_t off, size_t bytes) {
    if (!buf) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: buffer is NULL", who);
    if (buf->ctx != ctx)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: buffer belongs to another context", who);
    if (off > buf->size || bytes > buf->size - off)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: range [%zu, %zu) exceeds the buffer size %zu", who, off,
                          off + bytes, buf->size);
    return KVP_OK;
}

kvp_status kvp__upload(kvp_context *ctx, kvp_buffer *buf, size_t off, const void *src,
                       size_t bytes) {
    if (bytes == 0) return KVP_OK;
    return ctx->ops->buffer_upload(ctx, buf->handle, off, src, bytes);
}

kvp_status kvp__download(kvp_context *ctx, const kvp_buffer *buf, size_t off, void *dst,
                         size_t bytes) {
    if (bytes == 0) return KVP_OK;
    return ctx->ops->buffer_download(ctx, buf->handle, off, dst, bytes);
}

kvp_status kvp__copy(kvp_context *ctx, kvp_buffer *dst, size_t dst_off, kvp_buffer *src,
                     size_t src_off, size_t bytes) {
    if (bytes == 0) return KVP_OK;
    return ctx->ops->buffer_copy(ctx, dst->handle, dst_off, src->handle, src_off, bytes);
}

kvp_status kvp_buffer_upload(kvp_context *ctx, kvp_buffer *buffer, size_t offset,
                             const void *src, size_t bytes) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_buffer_upload: context is NULL");
    KVP_TRY(check_range(ctx, "kvp_buffer_upload", buffer, offset, bytes));
    if (!src && bytes)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_upload: src is NULL");
    return kvp__upload(ctx, buffer, offset, src, bytes);
}

kvp_status kvp_buffer_download(kvp_context *ctx, const kvp_buffer *buffer, size_t offset,
                               void *dst, size_t bytes) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_buffer_download: context is NULL");
    KVP_TRY(check_range(ctx, "kvp_buffer_download", buffer, offset, bytes));
    if (!dst && bytes)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_download: dst is NULL");
    return kvp__download(ctx, buffer, offset, dst, bytes);
}
