/* CUDA entry point of shaders/common/cholesky.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_cholesky(kvp_p_cholesky p, float *A, int *info) {
#define KVP_DECLS
#include "../common/cholesky.inc"
#undef KVP_DECLS
#include "../common/cholesky.inc"
}
KVP_CUDA_KERNEL(cholesky)
