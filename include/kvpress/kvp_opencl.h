/*
 * libkvpress OpenCL interop: run the library on an application's own OpenCL context and
 * queue, and use its cl_mem buffers (a KV cache, queries) without copies. The only public
 * header that includes the OpenCL headers; available when the library was built with the
 * OpenCL backend (kvp_backend_get_info reports "opencl" as compiled).
 *
 *   cl_mem keys = ..., values = ...;                 // the engine's cache of one layer
 *   kvp_context *ctx;
 *   kvp_context_create_opencl(cl_ctx, cl_dev, cl_queue, NULL, &ctx);
 *   kvp_buffer *kb, *vb;
 *   kvp_buffer_wrap_opencl(ctx, keys, keys_bytes, &kb);
 *   kvp_buffer_wrap_opencl(ctx, values, values_bytes, &vb);
 *   kvp_cache_wrap_layer(cache, layer, capacity, kb, 0, vb, 0, lengths);
 */
#ifndef KVP_OPENCL_H
#define KVP_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "kvpress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a context on the caller's OpenCL context and device. Work is queued on `queue`,
 * which must be in-order and belong to `context` and `device`; with queue = NULL the library
 * makes its own in-order queue on `context`. The library retains the three handles and
 * releases them in kvp_context_destroy. `device` must be one the registry lists
 * (kvpress-tool info): a root device of an installed platform. options may be NULL. */
KVP_API kvp_status kvp_context_create_opencl(cl_context context, cl_device_id device,
                                             cl_command_queue queue,
                                             const kvp_context_options *options,
                                             kvp_context **ctx);

/* Wraps `size` bytes of the caller's cl_mem (created on the context's cl_context) as a
 * kvp_buffer, without copying. The library retains the cl_mem while the kvp_buffer lives and
 * never frees the memory itself: kvp_buffer_free only drops that reference. */
KVP_API kvp_status kvp_buffer_wrap_opencl(kvp_context *ctx, cl_mem mem, size_t size,
                                          kvp_buffer **buffer);

/* The native handles of an OpenCL context (to queue work of one's own in order with the
 * library's). Any output may be NULL; no reference is added. */
KVP_API kvp_status kvp_context_get_opencl(const kvp_context *ctx, cl_context *context,
                                          cl_device_id *device, cl_command_queue *queue);

#ifdef __cplusplus
}
#endif

#endif /* KVP_OPENCL_H */
