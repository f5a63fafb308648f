/* CUDA entry point of shaders/common/wov_norm.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_wov_norm(kvp_p_wov_norm p, const uint *V,
                                                        const int *meta, const uint *wo,
                                                        float *res) {
#define KVP_DECLS
#include "../common/wov_norm.inc"
#undef KVP_DECLS
#include "../common/wov_norm.inc"
}
KVP_CUDA_KERNEL(wov_norm)
