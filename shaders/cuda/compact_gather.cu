/* CUDA entry point of shaders/common/compact_gather.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_compact_gather(kvp_p_compact_pass p, const uint *K,
                                                              const uint *V, const int *pos,
                                                              const int *meta, const int *mask,
                                                              const int *counts, uint *rows) {
#define KVP_DECLS
#include "../common/compact_gather.inc"
#undef KVP_DECLS
#include "../common/compact_gather.inc"
}
KVP_CUDA_KERNEL(compact_gather)
