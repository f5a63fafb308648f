/* CUDA entry point of shaders/common/row_norm.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_row_norm(kvp_p_row_norm p, const uint *X,
                                                        const int *meta, float *res) {
#define KVP_DECLS
#include "../common/row_norm.inc"
#undef KVP_DECLS
#include "../common/row_norm.inc"
}
KVP_CUDA_KERNEL(row_norm)
