/* CUDA entry point of shaders/common/attn_colsum_accum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_attn_colsum_accum(kvp_p_attn_colsum_pass p,
                                                                 const float *q, const uint *K,
                                                                 const int *meta, const int *pos,
                                                                 const float *stats, float *res) {
#define KVP_DECLS
#include "../common/attn_colsum_accum.inc"
#undef KVP_DECLS
#include "../common/attn_colsum_accum.inc"
}
KVP_CUDA_KERNEL(attn_colsum_accum)
