/* CUDA entry point of shaders/common/head_subset_mean.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_head_subset_mean(kvp_p_head_subset_mean p,
                                                                const float *src,
                                                                const int *heads, float *res) {
#define KVP_DECLS
#include "../common/head_subset_mean.inc"
#undef KVP_DECLS
#include "../common/head_subset_mean.inc"
}
KVP_CUDA_KERNEL(head_subset_mean)
