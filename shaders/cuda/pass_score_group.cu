/* CUDA entry point of shaders/common/pass_score_group.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_pass_score_group(kvp_p_pass_score p,
                                                                const float *red, float *res) {
#define KVP_DECLS
#include "../common/pass_score_group.inc"
#undef KVP_DECLS
#include "../common/pass_score_group.inc"
}
KVP_CUDA_KERNEL(pass_score_group)
