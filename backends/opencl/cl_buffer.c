/* Device memory of the OpenCL backend. Uploads and downloads are blocking (the caller may
 * reuse or read its host memory as soon as the call returns); copies are queued in order. */
#include <stdio.h>
#include <stdlib.h>

#include "cl_internal.h"

kvp_status kvp_cl_mem_create(kvp_context *ctx, size_t bytes, cl_mem *out) {
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    *out = NULL;
    KVP_TRY(kvp_cl_check_alive(ctx));
    if (bytes > st->max_alloc)
        return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                          "opencl: cannot allocate %zu bytes: the device's largest allocation is "
                          "%zu bytes (CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                          bytes, st->max_alloc);
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(st->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        char detail[64];
        snprintf(detail, sizeof detail, "%zu bytes", bytes);
        return kvp_cl_fail(ctx, err, "clCreateBuffer", detail);
    }
    *out = m;
    return KVP_OK;
}

kvp_status kvp_cl_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle) {
    *handle = NULL;
    kvp_cl_buffer *b = malloc(sizeof *b);
    if (!b) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "opencl: out of host memory");
    kvp_status s = kvp_cl_mem_create(ctx, bytes, &b->mem);
    if (s != KVP_OK) {
        free(b);
        return s;
    }
    b->size = bytes;
    *handle = b;
    return KVP_OK;
}

void kvp_cl_buffer_free(kvp_context *ctx, void *handle) {
    (void)ctx;
    kvp_cl_buffer *b = handle;
    if (!b) return;
    /* For a wrapped cl_mem this drops only the reference kvp_buffer_wrap_opencl took. */
    clReleaseMemObject(b->mem);
    free(b);
}

kvp_status kvp_cl_buffer_upload(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                size_t bytes) {
    KVP_TRY(kvp_cl_check_alive(ctx));
    kvp_cl_buffer *b = handle;
    KVP_CL_CHECK(ctx, clEnqueueWriteBuffer(kvp_cl_state_of(ctx)->queue, b->mem, CL_TRUE, offset,
                                           bytes, src, 0, NULL, NULL),
                 "clEnqueueWriteBuffer");
    return KVP_OK;
}

kvp_status kvp_cl_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                  size_t bytes) {
    KVP_TRY(kvp_cl_check_alive(ctx));
    kvp_cl_buffer *b = handle;
    KVP_CL_CHECK(ctx, clEnqueueReadBuffer(kvp_cl_state_of(ctx)->queue, b->mem, CL_TRUE, offset,
                                          bytes, dst, 0, NULL, NULL),
                 "clEnqueueReadBuffer");
    return KVP_OK;
}

kvp_status kvp_cl_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                              size_t src_offset, size_t bytes) {
    KVP_TRY(kvp_cl_check_alive(ctx));
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    kvp_cl_buffer *d = dst, *s = src;
    int overlap = d->mem == s->mem && dst_offset < src_offset + bytes &&
                  src_offset < dst_offset + bytes;
    if (!overlap) {
        KVP_CL_CHECK(ctx, clEnqueueCopyBuffer(st->queue, s->mem, d->mem, src_offset, dst_offset,
                                              bytes, 0, NULL, NULL),
                     "clEnqueueCopyBuffer");
        return KVP_OK;
    }
    /* OpenCL rejects overlapping copies within one buffer (CL_MEM_COPY_OVERLAP): go through a
     * temporary, which OpenCL frees once the queued copies are done. */
    cl_mem tmp;
    KVP_TRY(kvp_cl_mem_create(ctx, bytes, &tmp));
    cl_int err = clEnqueueCopyBuffer(st->queue, s->mem, tmp, src_offset, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueCopyBuffer(st->queue, tmp, d->mem, 0, dst_offset, bytes, 0, NULL, NULL);
    clReleaseMemObject(tmp);
    KVP_CL_CHECK(ctx, err, "clEnqueueCopyBuffer");
    return KVP_OK;
}
