/* CUDA entry point of shaders/common/gram_tile.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_gram_tile(kvp_p_gram_pass p, const uint *X,
                                                         const int *meta, const float *w,
                                                         float *part) {
#define KVP_DECLS
#include "../common/gram_tile.inc"
#undef KVP_DECLS
#include "../common/gram_tile.inc"
}
KVP_CUDA_KERNEL(gram_tile)
