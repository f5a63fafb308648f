/* CUDA entry point of shaders/common/keydiff_invnorm.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_keydiff_invnorm(kvp_p_keydiff_pass p, const uint *K,
                                                               const int *meta, float *invn) {
#define KVP_DECLS
#include "../common/keydiff_invnorm.inc"
#undef KVP_DECLS
#include "../common/keydiff_invnorm.inc"
}
KVP_CUDA_KERNEL(keydiff_invnorm)
