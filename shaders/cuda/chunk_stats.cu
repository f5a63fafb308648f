/* CUDA entry point of shaders/common/chunk_stats.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_chunk_stats(kvp_p_chunk_colsum p, const float *q,
                                                           const uint *K, const int *meta,
                                                           float *stats) {
#define KVP_DECLS
#include "../common/chunk_stats.inc"
#undef KVP_DECLS
#include "../common/chunk_stats.inc"
}
KVP_CUDA_KERNEL(chunk_stats)
