/* CUDA entry point of shaders/common/cur_window.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_cur_window(kvp_p_cur_score p, const float *kv2,
                                                          float *wsum) {
#define KVP_DECLS
#include "../common/cur_window.inc"
#undef KVP_DECLS
#include "../common/cur_window.inc"
}
KVP_CUDA_KERNEL(cur_window)
