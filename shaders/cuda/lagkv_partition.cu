/* CUDA entry point of shaders/common/lagkv_partition.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_lagkv_partition(kvp_p_lagkv p, const uint *K,
                                                               const uint *V, const int *meta,
                                                               float *res, float *tmp) {
#define KVP_DECLS
#include "../common/lagkv_partition.inc"
#undef KVP_DECLS
#include "../common/lagkv_partition.inc"
}
KVP_CUDA_KERNEL(lagkv_partition)
