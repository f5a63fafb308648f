/* CUDA entry point of shaders/common/zscore_apply.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_zscore_apply(kvp_p_zscore_pass p, const float *x,
                                                            const float *part, float *res) {
#define KVP_DECLS
#include "../common/zscore_apply.inc"
#undef KVP_DECLS
#include "../common/zscore_apply.inc"
}
KVP_CUDA_KERNEL(zscore_apply)
