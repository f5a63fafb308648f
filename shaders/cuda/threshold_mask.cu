/* CUDA entry point of shaders/common/threshold_mask.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_threshold_mask(kvp_p_threshold_mask p,
                                                              const float *s, const int *off,
                                                              int *mask) {
#define KVP_DECLS
#include "../common/threshold_mask.inc"
#undef KVP_DECLS
#include "../common/threshold_mask.inc"
}
KVP_CUDA_KERNEL(threshold_mask)
