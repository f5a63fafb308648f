/* CUDA entry point of shaders/common/score_pad_add_apply.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_score_pad_add_apply(kvp_p_score_pad_add_pass p,
                                                                   float *s, const float *part) {
#define KVP_DECLS
#include "../common/score_pad_add_apply.inc"
#undef KVP_DECLS
#include "../common/score_pad_add_apply.inc"
}
KVP_CUDA_KERNEL(score_pad_add_apply)
