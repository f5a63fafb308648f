/* CUDA entry point of shaders/common/fill.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_fill(kvp_p_fill p, int *buf) {
#define KVP_DECLS
#include "../common/fill.inc"
#undef KVP_DECLS
#include "../common/fill.inc"
}
KVP_CUDA_KERNEL(fill)
