/*
 * Common prologue of the CUDA kernel wrappers. A wrapper defines
 *
 *   extern "C" __global__ void KVP_CUDA_BOUNDS kvp_<k>(kvp_p_<op> p, uint *K, float *out, ...)
 *   {
 *   #define KVP_DECLS
 *   #include "../common/<k>.inc"      // workgroup-shared arrays, at kernel scope
 *   #undef KVP_DECLS
 *   #include "../common/<k>.inc"      // the body
 *   }
 *   KVP_CUDA_KERNEL(<k>)
 *
 * The pointer parameters are named exactly as the body names its buffers; their order is the
 * order of the plan's bindings for that kernel (backends/gpu/gpu_plan.c).
 */
#ifndef KVP_CUDA_WRAPPER_CUH
#define KVP_CUDA_WRAPPER_CUH

#include <type_traits>

#include "../common/kvp_params.h"
#include "../common/kvp_kernel.h"
#include "kvp_cuda_kernel.h"

/* Every body assumes blockDim.x == KVP_WG; telling nvcc lets it budget registers for it. */
#define KVP_CUDA_BOUNDS __launch_bounds__(KVP_WG)

/* What the executor needs to know about a kernel, read off its type. */
template <typename P, typename... B>
constexpr size_t kvp_cuda_params_size(void (*)(P, B...)) {
    static_assert(std::is_trivially_copyable<P>::value, "kernel parameters must be a POD struct");
    static_assert((std::is_pointer<B>::value && ...), "bindings must be device pointers");
    return sizeof(P);
}
template <typename P, typename... B>
constexpr int kvp_cuda_n_buffers(void (*)(P, B...)) {
    return (int)sizeof...(B);
}

/* Exports the kernel's record as kvp_cuda_kernel_<k> (listed in the generated table). The
 * CPU simulator of the tests (tests/cuda_sim) defines its own version beforehand. */
#ifndef KVP_CUDA_KERNEL
#define KVP_CUDA_KERNEL(k)                                                                   \
    extern "C" const kvp_cuda_kernel kvp_cuda_kernel_##k = {                                 \
        #k, (const void *)kvp_##k, kvp_cuda_params_size(kvp_##k), kvp_cuda_n_buffers(kvp_##k), \
        KVP_WG};
#endif

#endif /* KVP_CUDA_WRAPPER_CUH */
