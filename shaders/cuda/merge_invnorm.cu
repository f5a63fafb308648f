/* CUDA entry point of shaders/common/merge_invnorm.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_merge_invnorm(kvp_p_merge_match p, const uint *K,
                                                             const int *meta, float *invn) {
#define KVP_DECLS
#include "../common/merge_invnorm.inc"
#undef KVP_DECLS
#include "../common/merge_invnorm.inc"
}
KVP_CUDA_KERNEL(merge_invnorm)
