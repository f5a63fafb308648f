/* CUDA entry point of shaders/common/pool1d.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_pool1d(kvp_p_pool1d p, const float *src,
                                                      float *res) {
#define KVP_DECLS
#include "../common/pool1d.inc"
#undef KVP_DECLS
#include "../common/pool1d.inc"
}
KVP_CUDA_KERNEL(pool1d)
