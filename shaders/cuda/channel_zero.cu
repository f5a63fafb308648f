/* CUDA entry point of shaders/common/channel_zero.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_channel_zero(kvp_p_channel_zero p, uint *X,
                                                            const int *meta, const int *keep) {
#define KVP_DECLS
#include "../common/channel_zero.inc"
#undef KVP_DECLS
#include "../common/channel_zero.inc"
}
KVP_CUDA_KERNEL(channel_zero)
