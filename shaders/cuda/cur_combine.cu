/* CUDA entry point of shaders/common/cur_combine.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_cur_combine(kvp_p_cur_score p, const float *kv2,
                                                           const float *wsum, float *res) {
#define KVP_DECLS
#include "../common/cur_combine.inc"
#undef KVP_DECLS
#include "../common/cur_combine.inc"
}
KVP_CUDA_KERNEL(cur_combine)
