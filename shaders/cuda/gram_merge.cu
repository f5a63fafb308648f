/* CUDA entry point of shaders/common/gram_merge.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_gram_merge(kvp_p_gram_pass p, const float *part,
                                                          float *res) {
#define KVP_DECLS
#include "../common/gram_merge.inc"
#undef KVP_DECLS
#include "../common/gram_merge.inc"
}
KVP_CUDA_KERNEL(gram_merge)
