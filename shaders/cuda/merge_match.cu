/* CUDA entry point of shaders/common/merge_match.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_merge_match(kvp_p_merge_match p, const uint *K,
                                                           const int *meta, const int *keep,
                                                           const float *invn, float *sim,
                                                           int *target) {
#define KVP_DECLS
#include "../common/merge_match.inc"
#undef KVP_DECLS
#include "../common/merge_match.inc"
}
KVP_CUDA_KERNEL(merge_match)
