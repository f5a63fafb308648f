/* CUDA entry point of shaders/common/accum_rows.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_accum_rows(kvp_p_accum_rows p, const float *x,
                                                          float *acc) {
#define KVP_DECLS
#include "../common/accum_rows.inc"
#undef KVP_DECLS
#include "../common/accum_rows.inc"
}
KVP_CUDA_KERNEL(accum_rows)
