/* CUDA entry point of shaders/common/rope_rows.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_rope_rows(kvp_p_rope_rows p, const uint *X,
                                                         const int *meta, const int *pos,
                                                         const float *cs, float *res) {
#define KVP_DECLS
#include "../common/rope_rows.inc"
#undef KVP_DECLS
#include "../common/rope_rows.inc"
}
KVP_CUDA_KERNEL(rope_rows)
