/* CUDA entry point of shaders/common/score_pad_max.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_score_pad_max(kvp_p_score_pad_pass p, const float *s,
                                                             float *part) {
#define KVP_DECLS
#include "../common/score_pad_max.inc"
#undef KVP_DECLS
#include "../common/score_pad_max.inc"
}
KVP_CUDA_KERNEL(score_pad_max)
