/* CUDA entry point of shaders/common/channel_mean_part.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_channel_mean_part(kvp_p_channel_mean_pass p,
                                                                 const uint *X, const int *meta,
                                                                 float *part) {
#define KVP_DECLS
#include "../common/channel_mean_part.inc"
#undef KVP_DECLS
#include "../common/channel_mean_part.inc"
}
KVP_CUDA_KERNEL(channel_mean_part)
