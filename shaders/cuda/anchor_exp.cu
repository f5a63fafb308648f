/* CUDA entry point of shaders/common/anchor_exp.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_anchor_exp(kvp_p_anchor_pass p, float *res,
                                                          const float *part) {
#define KVP_DECLS
#include "../common/anchor_exp.inc"
#undef KVP_DECLS
#include "../common/anchor_exp.inc"
}
KVP_CUDA_KERNEL(anchor_exp)
