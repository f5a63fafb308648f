/*
 * Private declarations of the CUDA backend. The host side is plain C11 over the CUDA runtime
 * API (cuda_runtime_api.h is a C header); the only C++ is the kernel wrappers in
 * shaders/cuda/<kernel>.cu, reached through the kvp_cuda_kernel records they export.
 *
 * Files: cuda_backend.c (the vtable), cuda_device.c (probe and device properties),
 * cuda_error.c (cudaError_t -> kvp_status), cuda_context.c (contexts, streams, the device
 * guard), cuda_buffer.c (device memory), cuda_exec.c (runs the shared GPU plans),
 * cuda_kernels.c (the kernel table), cuda_interop.c (include/kvpress/kvp_cuda.h).
 */
#ifndef KVP_CUDA_INTERNAL_H
#define KVP_CUDA_INTERNAL_H

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "../../core/internal.h"
#include "../../shaders/cuda/kvp_cuda_kernel.h"
#include "../gpu/gpu_plan.h"

#define KVP_CUDA_MAX_DEVICES 16

/* ---- errors (cuda_error.c) ----------------------------------------------------------------- */

/* The kvp_status a CUDA error maps to. */
kvp_status kvp_cuda_status(cudaError_t err);
/* Records "what: cudaErrorX (code): description" on ctx (or the thread's slot when ctx is
 * NULL) and returns the mapped status; clears the runtime's non-sticky last error so that
 * it is not blamed on a later launch. */
kvp_status kvp_cuda_error(kvp_context *ctx, cudaError_t err, const char *what);
/* Formats the same text into buf (for probe reasons). */
void kvp_cuda_format_error(char *buf, size_t size, cudaError_t err, const char *what);

#define KVP_CUDA_CHECK(ctx, call)                                                            \
    do {                                                                                     \
        cudaError_t kvp_cuda_err_ = (call);                                                  \
        if (kvp_cuda_err_ != cudaSuccess) return kvp_cuda_error((ctx), kvp_cuda_err_, #call); \
    } while (0)

/* ---- devices (cuda_device.c) ---------------------------------------------------------------- */

/* What the backend learnt about a device when it was probed (read-only afterwards). */
typedef struct kvp_cuda_device_info {
    kvp_device_props props;
    int cc_major, cc_minor;  /* compute capability */
    int max_grid[3];
    int max_threads_per_block;
    int warp_size;
    int memory_pools;        /* cudaMallocAsync is supported */
} kvp_cuda_device_info;

/* Driver functions, found through the runtime (cudaGetDriverEntryPointByVersion) so that the
 * library does not link libcuda, that let a call leave the calling thread's CUDA state as it
 * found it (see kvp_cuda_enter). NULL when the runtime cannot provide all of them. */
typedef struct kvp_cuda_driver {
    CUresult (*ctx_get_current)(CUcontext *ctx);
    CUresult (*ctx_set_current)(CUcontext ctx);
    CUresult (*device_get)(CUdevice *device, int ordinal);
    CUresult (*primary_ctx_get_state)(CUdevice device, unsigned int *flags, int *active);
} kvp_cuda_driver;

const kvp_cuda_driver *kvp_cuda_driver_get(void);

kvp_status kvp_cuda_probe(int *n_devices, char *reason, size_t reason_size);
kvp_status kvp_cuda_device_props(int index, kvp_device_props *props);
/* NULL when index is not a probed device. */
const kvp_cuda_device_info *kvp_cuda_device_info_get(int index);

/* ---- contexts (cuda_context.c) -------------------------------------------------------------- */

typedef struct kvp_cuda_scratch {
    void *ptr;
    size_t size;
} kvp_cuda_scratch;

typedef struct kvp_cuda_ctx {
    int device;              /* CUDA device ordinal */
    CUcontext primary;       /* the device's primary context (NULL: driver not reachable) */
    cudaStream_t stream;
    int owns_stream;         /* 0 for a caller's stream (kvp_context_create_cuda) */
    int memory_pools;        /* allocate with cudaMallocAsync / cudaFreeAsync */
    int sync_each_pass;      /* KVP_CUDA_SYNC=1: wait after every kernel to name the failing one */
    kvp_gpu_caps caps;       /* what the shared GPU planner may assume */
    kvp_cuda_scratch scratch[KVP_GPU_MAX_SCRATCH]; /* plan scratch buffers, grown on demand */
} kvp_cuda_ctx;

static inline kvp_cuda_ctx *kvp_cuda_ctx_of(const kvp_context *ctx) {
    return (kvp_cuda_ctx *)kvp__ctx_backend(ctx);
}

/* Makes the context's device current on the calling thread for the duration of one backend
 * call, and afterwards gives the thread back the context it had (an application's current
 * device is its own state). A thread that had no context current is not given one on a
 * device it never used: that would create a primary context there, hundreds of MB of device
 * memory. */
typedef struct kvp_cuda_guard {
    int prev;            /* the runtime's current device before the call */
    CUcontext prev_ctx;  /* the driver's current context before the call (NULL: none) */
    int switched;
} kvp_cuda_guard;

kvp_status kvp_cuda_enter(kvp_context *ctx, kvp_cuda_guard *guard);
void kvp_cuda_leave(const kvp_cuda_guard *guard);

/* What kvp_context_create_cuda hands to context_create (through kvp__ctx_native). */
typedef struct kvp_cuda_native {
    cudaStream_t stream;
} kvp_cuda_native;

kvp_status kvp_cuda_context_create(kvp_context *ctx, int device_index);
void kvp_cuda_context_destroy(kvp_context *ctx);
kvp_status kvp_cuda_synchronize(kvp_context *ctx);

/* ---- memory (cuda_buffer.c) ----------------------------------------------------------------- */

typedef struct kvp_cuda_buffer {
    void *ptr;
    size_t size;
    int owned;   /* 0 for caller memory (kvp_buffer_wrap_cuda): never freed by the library */
    int pooled;  /* allocated with cudaMallocAsync (free with cudaFreeAsync) */
} kvp_cuda_buffer;

/* Device allocation on the context's stream (device already current). */
kvp_status kvp_cuda_malloc(kvp_context *ctx, size_t bytes, void **ptr, int *pooled,
                           const char *what);
void kvp_cuda_free(kvp_context *ctx, void *ptr, int pooled);

kvp_status kvp_cuda_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle);
void kvp_cuda_buffer_free(kvp_context *ctx, void *handle);
kvp_status kvp_cuda_buffer_upload(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                  size_t bytes);
kvp_status kvp_cuda_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                    size_t bytes);
kvp_status kvp_cuda_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                                size_t src_offset, size_t bytes);
/* A record for caller memory (not owned). */
kvp_status kvp_cuda_buffer_wrap(kvp_context *ctx, void *ptr, size_t bytes, void **handle);

static inline void *kvp_cuda_buffer_ptr(const kvp_buffer *buf) {
    return ((const kvp_cuda_buffer *)kvp__buffer_handle(buf))->ptr;
}

/* ---- kernels and execution (cuda_kernels.c, cuda_exec.c) ----------------------------------- */

/* The kernel a plan names, or NULL when this build has no CUDA wrapper for it. */
const kvp_cuda_kernel *kvp_cuda_kernel_find(const char *name);
int kvp_cuda_kernel_count(void);
const kvp_cuda_kernel *kvp_cuda_kernel_at(int index);

kvp_status kvp_cuda_run(kvp_context *ctx, const kvp_op_call *call);
/* Frees the plan scratch buffers of a context (device current). */
void kvp_cuda_scratch_release(kvp_context *ctx);

/* ---- the backend (cuda_backend.c) ----------------------------------------------------------- */

void *kvp_cuda_get_proc(const char *name);

#endif /* KVP_CUDA_INTERNAL_H */
