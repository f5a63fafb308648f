/* CUDA entry point of shaders/common/merge_values.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_merge_values(kvp_p_merge_values p, uint *V,
                                                            const int *meta, const float *sim,
                                                            const int *target, const float *gate) {
#define KVP_DECLS
#include "../common/merge_values.inc"
#undef KVP_DECLS
#include "../common/merge_values.inc"
}
KVP_CUDA_KERNEL(merge_values)
