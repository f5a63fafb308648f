/* CUDA entry point of shaders/common/softmax_partial.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_softmax_partial(kvp_p_softmax_pass p, const float *x,
                                                               float *part) {
#define KVP_DECLS
#include "../common/softmax_partial.inc"
#undef KVP_DECLS
#include "../common/softmax_partial.inc"
}
KVP_CUDA_KERNEL(softmax_partial)
