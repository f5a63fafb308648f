/* CUDA entry point of shaders/common/topk_init.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_init(kvp_p_topk_pass p, int *hist, int *state) {
#define KVP_DECLS
#include "../common/topk_init.inc"
#undef KVP_DECLS
#include "../common/topk_init.inc"
}
KVP_CUDA_KERNEL(topk_init)
