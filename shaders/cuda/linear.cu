/* CUDA entry point of shaders/common/linear.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_linear(kvp_p_linear p, const uint *x, const uint *W,
                                                      const float *b, float *y) {
#define KVP_DECLS
#include "../common/linear.inc"
#undef KVP_DECLS
#include "../common/linear.inc"
}
KVP_CUDA_KERNEL(linear)
