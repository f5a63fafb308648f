/* CUDA entry point of shaders/common/attn_colsum_merge.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_attn_colsum_merge(kvp_p_attn_colsum_pass p,
                                                                 const float *part, float *stats) {
#define KVP_DECLS
#include "../common/attn_colsum_merge.inc"
#undef KVP_DECLS
#include "../common/attn_colsum_merge.inc"
}
KVP_CUDA_KERNEL(attn_colsum_merge)
