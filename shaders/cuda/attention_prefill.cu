/* CUDA entry point of shaders/common/attention_prefill.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_attention_prefill(kvp_p_attention p, const uint *q,
                                                                 const uint *K, const uint *V,
                                                                 const int *meta, const int *pos,
                                                                 float *res) {
#define KVP_DECLS
#include "../common/attention_prefill.inc"
#undef KVP_DECLS
#include "../common/attention_prefill.inc"
}
KVP_CUDA_KERNEL(attention_prefill)
