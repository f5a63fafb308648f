/* CUDA entry point of shaders/common/keydiff_colsum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_keydiff_colsum(kvp_p_keydiff_pass p, const uint *K,
                                                              const int *meta, const float *invn,
                                                              float *part) {
#define KVP_DECLS
#include "../common/keydiff_colsum.inc"
#undef KVP_DECLS
#include "../common/keydiff_colsum.inc"
}
KVP_CUDA_KERNEL(keydiff_colsum)
