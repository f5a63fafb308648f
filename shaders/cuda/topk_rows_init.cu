/* CUDA entry point of shaders/common/topk_rows_init.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_rows_init(kvp_p_topk_pass p, int *hist,
                                                              int *state, const int *kk) {
#define KVP_DECLS
#include "../common/topk_rows_init.inc"
#undef KVP_DECLS
#include "../common/topk_rows_init.inc"
}
KVP_CUDA_KERNEL(topk_rows_init)
