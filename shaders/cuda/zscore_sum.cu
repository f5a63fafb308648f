/* CUDA entry point of shaders/common/zscore_sum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_zscore_sum(kvp_p_zscore_pass p, const float *x,
                                                          float *part) {
#define KVP_DECLS
#include "../common/zscore_sum.inc"
#undef KVP_DECLS
#include "../common/zscore_sum.inc"
}
KVP_CUDA_KERNEL(zscore_sum)
