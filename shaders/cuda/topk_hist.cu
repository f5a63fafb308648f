/* CUDA entry point of shaders/common/topk_hist.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_topk_hist(kvp_p_topk_pass p, const float *s,
                                                         int *hist, const int *state) {
#define KVP_DECLS
#include "../common/topk_hist.inc"
#undef KVP_DECLS
#include "../common/topk_hist.inc"
}
KVP_CUDA_KERNEL(topk_hist)
