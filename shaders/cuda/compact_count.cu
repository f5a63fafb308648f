/* CUDA entry point of shaders/common/compact_count.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_compact_count(kvp_p_compact_pass p, const int *meta,
                                                             const int *mask, int *counts) {
#define KVP_DECLS
#include "../common/compact_count.inc"
#undef KVP_DECLS
#include "../common/compact_count.inc"
}
KVP_CUDA_KERNEL(compact_count)
