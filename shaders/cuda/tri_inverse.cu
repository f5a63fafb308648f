/* CUDA entry point of shaders/common/tri_inverse.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_tri_inverse(kvp_p_chol_quadform p, const float *L,
                                                           float *M) {
#define KVP_DECLS
#include "../common/tri_inverse.inc"
#undef KVP_DECLS
#include "../common/tri_inverse.inc"
}
KVP_CUDA_KERNEL(tri_inverse)
