/* CUDA entry point of shaders/common/copy_words.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_copy_words(kvp_p_copy_words p, const uint *src,
                                                          uint *dst) {
#define KVP_DECLS
#include "../common/copy_words.inc"
#undef KVP_DECLS
#include "../common/copy_words.inc"
}
KVP_CUDA_KERNEL(copy_words)
