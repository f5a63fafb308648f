/* The public interop functions of kvp_opencl.h. */
#include <stdlib.h>

#include "cl_internal.h"
#include "kvpress/kvp_opencl.h"

static int is_opencl_context(const kvp_context *ctx) {
    return ctx && ctx->ops == kvp_opencl_backend() && kvp_cl_state_of(ctx);
}

kvp_status kvp_context_create_opencl(cl_context context, cl_device_id device,
                                     cl_command_queue queue, const kvp_context_options *options,
                                     kvp_context **ctx) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_context_create_opencl: ctx is NULL");
    *ctx = NULL;
    if (!context || !device)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_context_create_opencl: context and device are required");
    kvp_device *dev = kvp_cl_find_device(device);
    if (!dev)
        return kvp__error_tls(KVP_ERR_UNSUPPORTED,
                              "kvp_context_create_opencl: the cl_device_id is not an OpenCL "
                              "device of the registry (see kvpress-tool info)");
    if (queue) {
        cl_context qctx = NULL;
        cl_device_id qdev = NULL;
        if (clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL) !=
                CL_SUCCESS ||
            clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof qdev, &qdev, NULL) != CL_SUCCESS)
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "kvp_context_create_opencl: queue is not a valid command queue");
        if (qctx != context || qdev != device)
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "kvp_context_create_opencl: the queue belongs to another "
                                  "context or device");
    }
    kvp_cl_native native = {.context = context, .device = device, .queue = queue};
    return kvp__context_create_native(dev, options, &native, ctx);
}

kvp_status kvp_buffer_wrap_opencl(kvp_context *ctx, cl_mem mem, size_t size, kvp_buffer **buffer) {
    if (!buffer) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_wrap_opencl: buffer is NULL");
    *buffer = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_buffer_wrap_opencl: ctx is NULL");
    if (!is_opencl_context(ctx))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_buffer_wrap_opencl: the context does not run on OpenCL");
    if (!mem || size == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_buffer_wrap_opencl: mem is NULL or size 0");
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    cl_context mctx = NULL;
    size_t msize = 0;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof mctx, &mctx, NULL);
    if (err == CL_SUCCESS) err = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof msize, &msize, NULL);
    if (err != CL_SUCCESS) return kvp_cl_fail(ctx, err, "clGetMemObjectInfo", "kvp_buffer_wrap_opencl");
    if (mctx != st->context)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_buffer_wrap_opencl: the cl_mem belongs to another cl_context");
    if (size > msize)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_buffer_wrap_opencl: size %zu exceeds the cl_mem's %zu bytes", size,
                          msize);
    kvp_cl_buffer *b = malloc(sizeof *b);
    if (!b) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "opencl: out of host memory");
    b->mem = mem;
    b->size = size;
    clRetainMemObject(mem);
    kvp_status s = kvp__buffer_from_handle(ctx, b, size, buffer);
    if (s != KVP_OK) {
        clReleaseMemObject(mem);
        free(b);
    }
    return s;
}

kvp_status kvp_context_get_opencl(const kvp_context *ctx, cl_context *context,
                                  cl_device_id *device, cl_command_queue *queue) {
    if (!is_opencl_context(ctx))
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_context_get_opencl: not a context of the OpenCL backend");
    const kvp_cl_state *st = kvp_cl_state_of(ctx);
    if (context) *context = st->context;
    if (device) *device = st->device;
    if (queue) *queue = st->queue;
    return KVP_OK;
}
