/* CUDA entry point of shaders/common/softmax_apply.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_softmax_apply(kvp_p_softmax_pass p, float *x,
                                                             const float *part) {
#define KVP_DECLS
#include "../common/softmax_apply.inc"
#undef KVP_DECLS
#include "../common/softmax_apply.inc"
}
KVP_CUDA_KERNEL(softmax_apply)
