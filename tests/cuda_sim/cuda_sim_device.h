/*
 * The device side of the CUDA simulator (see cuda_sim.h): included before the kernel
 * wrappers, which are then compiled as ordinary C++. It provides what kvp_kernel.h's CUDA
 * branch and the wrappers use: the execution-space keywords, the built-in index variables
 * of the running simulated thread, __syncthreads, the bit casts and atomics, and a kernel
 * record whose `fn` is a kvp_sim_kernel the simulated cudaLaunchKernel can run.
 */
#ifndef KVP_CUDA_SIM_DEVICE_H
#define KVP_CUDA_SIM_DEVICE_H

#include <math.h>
#include <string.h>

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "cuda_sim.h"

/* kvp_kernel.h selects its CUDA branch on __CUDACC__. */
#define __CUDACC__ 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
/* A kernel-scope static is one object for all the threads of the block: blocks run one at
 * a time, so it behaves as shared memory. */
#define __shared__ static

#define threadIdx (kvp_sim_self->thread_idx)
#define blockIdx (kvp_sim_self->block_idx)
#define blockDim (kvp_sim_self->block_dim)
#define gridDim (kvp_sim_self->grid_dim)
#define __syncthreads() kvp_sim_syncthreads()

using std::isinf;
using std::isnan;

static inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline int __float_as_int(float f) {
    int i;
    memcpy(&i, &f, sizeof i);
    return i;
}
static inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

/* Round-to-nearest arithmetic that is never fused into an FMA (compensated sums rely on it);
 * the simulator's sources compile with -ffp-contract=off, so plain operators are exact. */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }

/* Simulated threads of a block run one at a time and switch only at barriers, so a plain
 * read-modify-write is atomic. */
template <typename T>
static inline T atomicAdd(T *p, T v) {
    T old = *p;
    *p = old + v;
    return old;
}
template <typename T>
static inline T atomicMax(T *p, T v) {
    T old = *p;
    if (v > old) *p = v;
    return old;
}
template <typename T>
static inline T atomicMin(T *p, T v) {
    T old = *p;
    if (v < old) *p = v;
    return old;
}
template <typename T>
static inline T atomicCAS(T *p, T cmp, T v) {
    T old = *p;
    if (old == cmp) *p = v;
    return old;
}
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

/* Calls a kernel with the cudaLaunchKernel argument array (pointers to each argument). */
template <typename P, typename... B, std::size_t... I>
static void kvp_sim_apply(void (*f)(P, B...), void **args, std::index_sequence<I...>) {
    f(*static_cast<P *>(args[0]), *static_cast<B *>(args[1 + I])...);
}
template <typename P, typename... B>
static void kvp_sim_call(void (*f)(P, B...), void **args) {
    kvp_sim_apply(f, args, std::index_sequence_for<B...>{});
}

#define KVP_CUDA_KERNEL(k)                                                                   \
    static void kvp_sim_run_##k(void **args) { kvp_sim_call(kvp_##k, args); }                \
    static const kvp_sim_kernel kvp_sim_kernel_##k = {                                       \
        KVP_SIM_MAGIC, #k, kvp_sim_run_##k, kvp_cuda_params_size(kvp_##k),                   \
        kvp_cuda_n_buffers(kvp_##k)};                                                        \
    extern "C" const kvp_cuda_kernel kvp_cuda_kernel_##k = {                                 \
        #k, &kvp_sim_kernel_##k, kvp_cuda_params_size(kvp_##k), kvp_cuda_n_buffers(kvp_##k), \
        KVP_WG};

#endif /* KVP_CUDA_SIM_DEVICE_H */
