/* CUDA entry point of shaders/common/anchor_cosine.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_anchor_cosine(kvp_p_anchor_pass p, const uint *K,
                                                             const int *meta, const float *anchor,
                                                             float *res, float *part) {
#define KVP_DECLS
#include "../common/anchor_cosine.inc"
#undef KVP_DECLS
#include "../common/anchor_cosine.inc"
}
KVP_CUDA_KERNEL(anchor_cosine)
