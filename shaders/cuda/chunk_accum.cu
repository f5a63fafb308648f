/* CUDA entry point of shaders/common/chunk_accum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_chunk_accum(kvp_p_chunk_colsum p, const float *q,
                                                           const uint *K, const int *meta,
                                                           const float *stats, float *res) {
#define KVP_DECLS
#include "../common/chunk_accum.inc"
#undef KVP_DECLS
#include "../common/chunk_accum.inc"
}
KVP_CUDA_KERNEL(chunk_accum)
