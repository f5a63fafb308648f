/* CUDA entry point of shaders/common/attention_combine.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_attention_combine(kvp_p_attention_split p,
                                                                 const float *part, float *res) {
#define KVP_DECLS
#include "../common/attention_combine.inc"
#undef KVP_DECLS
#include "../common/attention_combine.inc"
}
KVP_CUDA_KERNEL(attention_combine)
