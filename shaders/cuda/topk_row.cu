/* CUDA entry point of shaders/common/topk_row.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_row(kvp_p_topk_pass p, const float *s,
                                                        int *mask) {
#define KVP_DECLS
#include "../common/topk_row.inc"
#undef KVP_DECLS
#include "../common/topk_row.inc"
}
KVP_CUDA_KERNEL(topk_row)
