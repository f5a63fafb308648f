/* CUDA entry point of shaders/common/topk_rows_mask.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_rows_mask(kvp_p_topk_pass p, const float *s,
                                                              const int *state, const int *counts,
                                                              const int *kk, int *mask) {
#define KVP_DECLS
#include "../common/topk_rows_mask.inc"
#undef KVP_DECLS
#include "../common/topk_rows_mask.inc"
}
KVP_CUDA_KERNEL(topk_rows_mask)
