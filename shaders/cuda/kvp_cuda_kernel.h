/*
 * The record each CUDA kernel wrapper (shaders/cuda/<kernel>.cu) exports so the C host code
 * of the CUDA backend can launch it by name through cudaLaunchKernel. Plain C, shared by
 * the wrappers (C++) and backends/cuda (C).
 *
 * A kernel's arguments are its kvp_p_* parameter struct (by value) followed by one device
 * pointer per binding, in the order of the GPU plan's pass bindings. `params_size`,
 * `n_buffers` and `block_size` are derived from the kernel's own signature and compile-time
 * workgroup size (see KVP_CUDA_KERNEL in kvp_cuda_wrapper.cuh), so the executor can check
 * every pass of a plan against the kernel it launches instead of trusting both to agree.
 */
#ifndef KVP_CUDA_KERNEL_H
#define KVP_CUDA_KERNEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvp_cuda_kernel {
    const char *name;   /* the plan's kernel name: "score_map" */
    const void *fn;     /* host stub of the __global__ function, for cudaLaunchKernel */
    size_t params_size; /* sizeof the kvp_p_* struct the kernel takes first */
    int n_buffers;      /* number of pointer arguments after the parameters */
    int block_size;     /* threads per block the body was compiled for (KVP_WG) */
} kvp_cuda_kernel;

#ifdef __cplusplus
}
#endif

#endif /* KVP_CUDA_KERNEL_H */
