/* CUDA entry point of shaders/common/score_map.inc (SCORE_MAP). */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_score_map(kvp_p_score_map p, float *s, float *w) {
#define KVP_DECLS
#include "../common/score_map.inc"
#undef KVP_DECLS
#include "../common/score_map.inc"
}
KVP_CUDA_KERNEL(score_map)
