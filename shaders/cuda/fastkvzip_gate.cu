/* CUDA entry point of shaders/common/fastkvzip_gate.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_fastkvzip_gate(kvp_p_fastkvzip_gate p, const uint *h,
                                                              const float *w, float *res) {
#define KVP_DECLS
#include "../common/fastkvzip_gate.inc"
#undef KVP_DECLS
#include "../common/fastkvzip_gate.inc"
}
KVP_CUDA_KERNEL(fastkvzip_gate)
