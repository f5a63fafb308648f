/* CUDA entry point of shaders/common/attention_decode.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_attention_decode(kvp_p_attention_split p,
                                                                const uint *q, const uint *K,
                                                                const uint *V, const int *meta,
                                                                const int *pos, float *dst) {
#define KVP_DECLS
#include "../common/attention_decode.inc"
#undef KVP_DECLS
#include "../common/attention_decode.inc"
}
KVP_CUDA_KERNEL(attention_decode)
