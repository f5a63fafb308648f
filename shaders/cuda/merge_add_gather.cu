/* CUDA entry point of shaders/common/merge_add_gather.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_merge_add_gather(kvp_p_merge_add p, const uint *V,
                                                                const int *meta, const int *pairs,
                                                                float *src) {
#define KVP_DECLS
#include "../common/merge_add_gather.inc"
#undef KVP_DECLS
#include "../common/merge_add_gather.inc"
}
KVP_CUDA_KERNEL(merge_add_gather)
