/* CUDA entry point of shaders/common/proj_vnorm.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_proj_vnorm(kvp_p_proj_vnorm p, const uint *V,
                                                          const int *meta, const uint *wo,
                                                          float *res) {
#define KVP_DECLS
#include "../common/proj_vnorm.inc"
#undef KVP_DECLS
#include "../common/proj_vnorm.inc"
}
KVP_CUDA_KERNEL(proj_vnorm)
