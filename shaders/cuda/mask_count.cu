/* CUDA entry point of shaders/common/mask_count.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_mask_count(kvp_p_mask_count p, const int *mask,
                                                          int *res) {
#define KVP_DECLS
#include "../common/mask_count.inc"
#undef KVP_DECLS
#include "../common/mask_count.inc"
}
KVP_CUDA_KERNEL(mask_count)
