/* CUDA entry point of shaders/common/topk_mask.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_mask(kvp_p_topk_pass p, const float *s,
                                                         const int *state, const int *counts,
                                                         int *mask) {
#define KVP_DECLS
#include "../common/topk_mask.inc"
#undef KVP_DECLS
#include "../common/topk_mask.inc"
}
KVP_CUDA_KERNEL(topk_mask)
