/* CUDA entry point of shaders/common/qstats_merge_mean.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_qstats_merge_mean(kvp_p_qstats_pass p, float *mean,
                                                                 const float *mub) {
#define KVP_DECLS
#include "../common/qstats_merge_mean.inc"
#undef KVP_DECLS
#include "../common/qstats_merge_mean.inc"
}
KVP_CUDA_KERNEL(qstats_merge_mean)
