/* CUDA entry point of shaders/common/masked_fill.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_masked_fill(kvp_p_masked_fill p, float *s,
                                                           const int *mask) {
#define KVP_DECLS
#include "../common/masked_fill.inc"
#undef KVP_DECLS
#include "../common/masked_fill.inc"
}
KVP_CUDA_KERNEL(masked_fill)
