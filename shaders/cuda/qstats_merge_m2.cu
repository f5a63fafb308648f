/* CUDA entry point of shaders/common/qstats_merge_m2.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_qstats_merge_m2(kvp_p_qstats_pass p,
                                                               const float *mean, const float *mub,
                                                               const float *m2part, float *m2) {
#define KVP_DECLS
#include "../common/qstats_merge_m2.inc"
#undef KVP_DECLS
#include "../common/qstats_merge_m2.inc"
}
KVP_CUDA_KERNEL(qstats_merge_m2)
