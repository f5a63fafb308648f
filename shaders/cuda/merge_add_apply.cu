/* CUDA entry point of shaders/common/merge_add_apply.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_merge_add_apply(kvp_p_merge_add p, uint *V,
                                                               const int *meta, const int *pairs,
                                                               const float *coef,
                                                               const float *src) {
#define KVP_DECLS
#include "../common/merge_add_apply.inc"
#undef KVP_DECLS
#include "../common/merge_add_apply.inc"
}
KVP_CUDA_KERNEL(merge_add_apply)
