/* CUDA entry point of shaders/common/rope.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_rope(kvp_p_rope p, const uint *x, const float *cs,
                                                    float *res) {
#define KVP_DECLS
#include "../common/rope.inc"
#undef KVP_DECLS
#include "../common/rope.inc"
}
KVP_CUDA_KERNEL(rope)
