/* CUDA entry point of shaders/common/count_nonfinite.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_count_nonfinite(kvp_p_count_nonfinite p,
                                                               const uint *x, int *res) {
#define KVP_DECLS
#include "../common/count_nonfinite.inc"
#undef KVP_DECLS
#include "../common/count_nonfinite.inc"
}
KVP_CUDA_KERNEL(count_nonfinite)
