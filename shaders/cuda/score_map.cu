/* CUDA entry point of shaders/common/score_map.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_score_map(kvp_p_score_map p, float *s,
                                                         const float *w) {
#define KVP_DECLS
#include "../common/score_map.inc"
#undef KVP_DECLS
#include "../common/score_map.inc"
}
KVP_CUDA_KERNEL(score_map)
