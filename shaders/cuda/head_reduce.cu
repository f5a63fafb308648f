/* CUDA entry point of shaders/common/head_reduce.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_head_reduce(kvp_p_head_reduce p, const float *src,
                                                           float *res) {
#define KVP_DECLS
#include "../common/head_reduce.inc"
#undef KVP_DECLS
#include "../common/head_reduce.inc"
}
KVP_CUDA_KERNEL(head_reduce)
