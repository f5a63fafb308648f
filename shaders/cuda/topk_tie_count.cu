/* CUDA entry point of shaders/common/topk_tie_count.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_tie_count(kvp_p_topk_pass p, const float *s,
                                                              const int *state, int *counts) {
#define KVP_DECLS
#include "../common/topk_tie_count.inc"
#undef KVP_DECLS
#include "../common/topk_tie_count.inc"
}
KVP_CUDA_KERNEL(topk_tie_count)
