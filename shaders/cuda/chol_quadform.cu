/* CUDA entry point of shaders/common/chol_quadform.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_chol_quadform(kvp_p_chol_quadform p, const float *M,
                                                             const uint *X, const int *meta,
                                                             float *res) {
#define KVP_DECLS
#include "../common/chol_quadform.inc"
#undef KVP_DECLS
#include "../common/chol_quadform.inc"
}
KVP_CUDA_KERNEL(chol_quadform)
