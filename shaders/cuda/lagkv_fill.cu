/* CUDA entry point of shaders/common/lagkv_fill.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_lagkv_fill(kvp_p_lagkv p, float *res) {
#define KVP_DECLS
#include "../common/lagkv_fill.inc"
#undef KVP_DECLS
#include "../common/lagkv_fill.inc"
}
KVP_CUDA_KERNEL(lagkv_fill)
