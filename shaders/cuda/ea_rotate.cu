/* CUDA entry point of shaders/common/ea_rotate.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_ea_rotate(kvp_p_ea_rotate p, const float *mean,
                                                         const float *m2, const float *cs,
                                                         float *mu, float *sigma) {
#define KVP_DECLS
#include "../common/ea_rotate.inc"
#undef KVP_DECLS
#include "../common/ea_rotate.inc"
}
KVP_CUDA_KERNEL(ea_rotate)
