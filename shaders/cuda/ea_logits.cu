/* CUDA entry point of shaders/common/ea_logits.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_ea_logits(kvp_p_ea_logits p, const uint *K,
                                                         const int *meta, const float *mu,
                                                         const float *sigma, float *res) {
#define KVP_DECLS
#include "../common/ea_logits.inc"
#undef KVP_DECLS
#include "../common/ea_logits.inc"
}
KVP_CUDA_KERNEL(ea_logits)
