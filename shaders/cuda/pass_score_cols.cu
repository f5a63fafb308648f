/* CUDA entry point of shaders/common/pass_score_cols.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_pass_score_cols(kvp_p_pass_score p, const float *q,
                                                               const uint *K, const int *meta,
                                                               const float *rnorm,
                                                               const float *ccol,
                                                               const float *stats, float *red) {
#define KVP_DECLS
#include "../common/pass_score_cols.inc"
#undef KVP_DECLS
#include "../common/pass_score_cols.inc"
}
KVP_CUDA_KERNEL(pass_score_cols)
