/*
 * The backend interface: what a backend (cpu, opencl, vulkan, cuda) implements. Private to
 * the library. A backend exports a single entry point, kvp_<name>_backend(), returning a
 * pointer to a static kvp_backend_ops.
 *
 * Rules (the SQLite VFS rule): members are only ever appended; abi_version changes when the
 * meaning of an existing member changes. Every fallible method returns a kvp_status and
 * records its detail with kvp__error(ctx, ...). A NULL optional method means "unsupported".
 */
#ifndef KVP_BACKEND_IMPL_H
#define KVP_BACKEND_IMPL_H

#include "kvpress/kvpress.h"
#include "ops.h"

#define KVP_BACKEND_ABI_VERSION 1

typedef struct kvp_backend_ops {
    int abi_version;
    const char *name;

    /* Called once per process (under the registry's once-flag). Sets *n_devices (0 when the
     * driver or device is absent, with the reason written to `reason`). Must never abort:
     * no driver means zero devices. */
    kvp_status (*probe)(int *n_devices, char *reason, size_t reason_size);
    kvp_status (*device_props)(int index, kvp_device_props *props);

    /* Per-context state: the backend stores its private pointer with kvp__ctx_set_backend. */
    kvp_status (*context_create)(kvp_context *ctx, int device_index);
    void (*context_destroy)(kvp_context *ctx);

    /* Device memory. A handle is backend-defined (a host pointer, cl_mem, VkBuffer record,
     * CUDA pointer record). `bytes` is never 0. */
    kvp_status (*buffer_alloc)(kvp_context *ctx, size_t bytes, void **handle);
    void (*buffer_free)(kvp_context *ctx, void *handle);
    kvp_status (*buffer_upload)(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                size_t bytes);
    kvp_status (*buffer_download)(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                  size_t bytes);
    kvp_status (*buffer_copy)(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                              size_t src_offset, size_t bytes);
    /* Optional: wrap caller host memory (cpu only). */
    kvp_status (*buffer_wrap_host)(kvp_context *ctx, void *memory, size_t bytes, void **handle);

    /* Runs one op (asynchronously on GPUs; ordered with respect to the other calls of the
     * context). Op and binding counts were validated by the core. */
    kvp_status (*run)(kvp_context *ctx, const kvp_op_call *call);
    kvp_status (*synchronize)(kvp_context *ctx);

    /* Optional escape hatch for backend-specific extras (interop functions). */
    void *(*get_proc)(const char *name);
} kvp_backend_ops;

/* Entry points of the backends compiled in (see registry.c). */
const kvp_backend_ops *kvp_cpu_backend(void);
const kvp_backend_ops *kvp_opencl_backend(void);
const kvp_backend_ops *kvp_vulkan_backend(void);
const kvp_backend_ops *kvp_cuda_backend(void);

/* For backends: their per-context state, and the handle behind a core buffer. */
void kvp__ctx_set_backend(kvp_context *ctx, void *state);
void *kvp__ctx_backend(const kvp_context *ctx);

/* For interop constructors (kvp_context_create_opencl, ...): creates a context on `device`
 * whose backend context_create sees `native` (the caller's API handles, backend-defined)
 * through kvp__ctx_native. */
kvp_status kvp__context_create_native(kvp_device *device, const kvp_context_options *options,
                                      const void *native, kvp_context **context);
const void *kvp__ctx_native(const kvp_context *ctx);
void *kvp__buffer_handle(const kvp_buffer *buf);

/* Wraps a backend handle into a core buffer (used by the interop functions). `owned`: the
 * backend frees the memory when the buffer is freed. */
kvp_status kvp__buffer_from_handle(kvp_context *ctx, void *handle, size_t bytes,
                                   kvp_buffer **out);

#endif /* KVP_BACKEND_IMPL_H */
