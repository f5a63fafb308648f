/* CUDA entry point of shaders/common/attn_colsum_stats.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_attn_colsum_stats(kvp_p_attn_colsum_pass p,
                                                                 const float *q, const uint *K,
                                                                 const int *meta, const int *pos,
                                                                 float *part) {
#define KVP_DECLS
#include "../common/attn_colsum_stats.inc"
#undef KVP_DECLS
#include "../common/attn_colsum_stats.inc"
}
KVP_CUDA_KERNEL(attn_colsum_stats)
