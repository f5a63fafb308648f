/* CUDA entry point of shaders/common/cur_norms.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_cur_norms(kvp_p_cur_score p, const uint *K,
                                                         const uint *V, const int *meta,
                                                         const float *proj, float *kv2) {
#define KVP_DECLS
#include "../common/cur_norms.inc"
#undef KVP_DECLS
#include "../common/cur_norms.inc"
}
KVP_CUDA_KERNEL(cur_norms)
