/* CUDA entry point of shaders/common/qstats_mean.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_qstats_mean(kvp_p_qstats_pass p, const float *part,
                                                           float *mub) {
#define KVP_DECLS
#include "../common/qstats_mean.inc"
#undef KVP_DECLS
#include "../common/qstats_mean.inc"
}
KVP_CUDA_KERNEL(qstats_mean)
