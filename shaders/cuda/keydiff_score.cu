/* CUDA entry point of shaders/common/keydiff_score.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_keydiff_score(kvp_p_keydiff_pass p, const uint *K,
                                                             const int *meta, const float *anchor,
                                                             float *res) {
#define KVP_DECLS
#include "../common/keydiff_score.inc"
#undef KVP_DECLS
#include "../common/keydiff_score.inc"
}
KVP_CUDA_KERNEL(keydiff_score)
