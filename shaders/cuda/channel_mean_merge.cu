/* CUDA entry point of shaders/common/channel_mean_merge.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_channel_mean_merge(kvp_p_channel_mean_pass p,
                                                                  const float *part, float *res) {
#define KVP_DECLS
#include "../common/channel_mean_merge.inc"
#undef KVP_DECLS
#include "../common/channel_mean_merge.inc"
}
KVP_CUDA_KERNEL(channel_mean_merge)
