/* Private definitions of the OpenCL backend: device table, per-context state, buffers,
 * programs and error mapping. One concern per file:
 *   cl_error.c   native error codes -> kvp_status + message, device-lost stickiness
 *   cl_device.c  probe and device properties (the lazily probed device table)
 *   cl_backend.c contexts, synchronisation and the backend vtable
 *   cl_buffer.c  device memory
 *   cl_program.c kernel sources, run-time builds, the per-context kernel cache
 *   cl_run.c     running an op: its GPU plan as kernel launches
 *   cl_interop.c the public kvp_opencl.h functions */
#ifndef KVP_CL_INTERNAL_H
#define KVP_CL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "../../core/internal.h"
#include "../gpu/gpu_plan.h"
#include "cl_sources.h"

#define KVP_CL_MAX_DEVICES 16
#define KVP_CL_MAX_KERNELS 64

/* One usable device found by the probe (filled once, under the registry's once-flag, and
 * read-only afterwards). */
typedef struct kvp_cl_device {
    cl_platform_id platform;
    cl_device_id device;
} kvp_cl_device;

/* The device table: count and entry (NULL when out of range). */
int kvp_cl_device_count(void);
const kvp_cl_device *kvp_cl_device_get(int index);
kvp_status kvp_cl_probe(int *n_devices, char *reason, size_t reason_size);
kvp_status kvp_cl_device_props(int index, kvp_device_props *props);
/* The registry device (an opencl one) of a native device id, or NULL. */
kvp_device *kvp_cl_find_device(cl_device_id device);

typedef struct kvp_cl_kernel {
    cl_program program;
    cl_kernel kernel;
} kvp_cl_kernel;

/* Native handles handed to context_create by kvp_context_create_opencl. */
typedef struct kvp_cl_native {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue; /* may be NULL: the backend makes its own on `context` */
} kvp_cl_native;

typedef struct kvp_cl_state {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue;
    kvp_gpu_caps caps;
    size_t max_alloc;
    kvp_cl_kernel kernels[KVP_CL_MAX_KERNELS]; /* indexed like kvp_gpu_kernels */
    cl_mem scratch[KVP_GPU_MAX_SCRATCH];
    size_t scratch_size[KVP_GPU_MAX_SCRATCH];
    /* Set after an error that means the device (or its queue) is gone: every later call
     * fails fast with KVP_ERR_DEVICE_LOST instead of touching it again. */
    int lost;
    /* Test hook (kvp__cl_test_fail_launch): the kernel launch after `fail_after` more
     * succeed returns `fail_error` instead of being queued; -1 disables. */
    long fail_after;
    cl_int fail_error;
} kvp_cl_state;

typedef struct kvp_cl_buffer {
    cl_mem mem;
    size_t size;
} kvp_cl_buffer;

static inline kvp_cl_state *kvp_cl_state_of(const kvp_context *ctx) {
    return (kvp_cl_state *)kvp__ctx_backend(ctx);
}

/* ---- errors ---- */
const char *kvp_cl_error_name(cl_int err);
/* Maps a failed OpenCL call to a status, records "call: CL_NAME (code)" (plus `detail`
 * when not NULL) on ctx and marks the context lost where the device is gone. */
kvp_status kvp_cl_fail(kvp_context *ctx, cl_int err, const char *call, const char *detail);
#define KVP_CL_CHECK(ctx, err, call)                                                          \
    do {                                                                                     \
        cl_int kvp_cl_err_ = (err);                                                          \
        if (kvp_cl_err_ != CL_SUCCESS) return kvp_cl_fail((ctx), kvp_cl_err_, (call), NULL); \
    } while (0)
/* KVP_ERR_DEVICE_LOST if the context was marked lost, else KVP_OK. */
kvp_status kvp_cl_check_alive(kvp_context *ctx);

/* ---- buffers ---- */
kvp_status kvp_cl_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle);
void kvp_cl_buffer_free(kvp_context *ctx, void *handle);
kvp_status kvp_cl_buffer_upload(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                size_t bytes);
kvp_status kvp_cl_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                  size_t bytes);
kvp_status kvp_cl_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                              size_t src_offset, size_t bytes);
/* A bare cl_mem of `bytes` (scratch and staging), with the error mapping of buffer_alloc. */
kvp_status kvp_cl_mem_create(kvp_context *ctx, size_t bytes, cl_mem *out);

/* ---- programs ---- */
/* The kernel `name` of this context, built on first use. */
kvp_status kvp_cl_kernel_get(kvp_context *ctx, const char *name, cl_kernel *out);
void kvp_cl_kernels_release(kvp_cl_state *st);

/* ---- running ops ---- */
kvp_status kvp_cl_run(kvp_context *ctx, const kvp_op_call *call);

/* Test hook: make the kernel launch after `after` more succeed fail with `error`, as if
 * clEnqueueNDRangeKernel had returned it (simulates a device lost or out of resources in
 * the middle of an op); after < 0 disables. */
void kvp__cl_test_fail_launch(kvp_context *ctx, long after, cl_int error);

/* ---- contexts ---- */
kvp_status kvp_cl_context_create(kvp_context *ctx, int device_index);
void kvp_cl_context_destroy(kvp_context *ctx);

#endif /* KVP_CL_INTERNAL_H */
