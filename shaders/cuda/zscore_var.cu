/* CUDA entry point of shaders/common/zscore_var.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_zscore_var(kvp_p_zscore_pass p, const float *x,
                                                          float *part) {
#define KVP_DECLS
#include "../common/zscore_var.inc"
#undef KVP_DECLS
#include "../common/zscore_var.inc"
}
KVP_CUDA_KERNEL(zscore_var)
