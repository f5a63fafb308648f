/* CUDA entry point of shaders/common/keydiff_anchor.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_keydiff_anchor(kvp_p_keydiff_pass p,
                                                              const float *part, float *anchor) {
#define KVP_DECLS
#include "../common/keydiff_anchor.inc"
#undef KVP_DECLS
#include "../common/keydiff_anchor.inc"
}
KVP_CUDA_KERNEL(keydiff_anchor)
