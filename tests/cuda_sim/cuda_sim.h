/*
 * A CPU simulation of the part of the CUDA runtime the CUDA backend uses, for machines
 * without a GPU (CI, the developer machines). It runs the backend's real host code and the
 * real kernel wrappers (shaders/cuda/<k>.cu compiled as C++ against cuda_sim_device.h), so the
 * executor, the bindings of every wrapper and the buffer handling are tested end to end;
 * what it cannot test is nvcc's code generation and the GPU's memory model.
 *
 * What it checks on the way, beyond computing the results:
 *  - every launch: a known kernel, grid and block within CUDA's limits, every pointer
 *    argument inside a live device allocation of the launching device;
 *  - barrier discipline: all threads of a block reach the same __syncthreads (a kernel that
 *    returns early before a barrier, or calls one conditionally, fails the launch);
 *  - stream semantics: work is queued per stream and runs at synchronisation points, so a
 *    missing cudaStreamSynchronize shows up as stale data; pinned host memory is read when
 *    the copy runs, pageable memory when it is queued (as the real runtime stages it).
 *
 * This header is shared by the simulated runtime (cuda_sim_runtime.cpp) and the simulated
 * device side (cuda_sim_device.h).
 */
#ifndef KVP_CUDA_SIM_H
#define KVP_CUDA_SIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kvp_sim_uint3 {
    unsigned x, y, z;
} kvp_sim_uint3;

/* The built-in variables of the simulated thread that is running. */
typedef struct kvp_sim_thread {
    kvp_sim_uint3 thread_idx, block_idx, block_dim, grid_dim;
} kvp_sim_thread;

extern kvp_sim_thread *kvp_sim_self;
void kvp_sim_syncthreads(void);

#define KVP_SIM_MAGIC 0x6b767073u

/* What a simulated __global__ function is: the `fn` of its kvp_cuda_kernel record points here. */
typedef struct kvp_sim_kernel {
    unsigned magic;
    const char *name;
    void (*run)(void **args); /* runs the kernel body as the thread kvp_sim_self */
    size_t params_size;       /* bytes of the parameter block (the first argument) */
    int n_buffers;            /* pointer arguments after the parameter block */
} kvp_sim_kernel;

/* Test controls (only in the simulator build). */
void kvp_sim_set_memory_limit(size_t bytes);   /* per device; 0 = the default (8 GiB) */
void kvp_sim_fail_next_launch(int cuda_error); /* the next cudaLaunchKernel fails so */
void kvp_sim_set_kernel_image(int present);    /* 0: cudaFuncGetAttributes has no image */
long kvp_sim_launch_count(void);
int kvp_sim_primary_context(int device);        /* 1 when the device's primary context exists */
void kvp_sim_forget_primary_context(int device); /* as in a process that never used the device */

#ifdef __cplusplus
}
#endif

#endif /* KVP_CUDA_SIM_H */
