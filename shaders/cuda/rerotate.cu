/* CUDA entry point of shaders/common/rerotate.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_rerotate(kvp_p_rerotate p, uint *K, const int *meta,
                                                        int *pos, const float *inv_freq) {
#define KVP_DECLS
#include "../common/rerotate.inc"
#undef KVP_DECLS
#include "../common/rerotate.inc"
}
KVP_CUDA_KERNEL(rerotate)
