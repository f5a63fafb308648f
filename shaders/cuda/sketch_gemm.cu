/* CUDA entry point of shaders/common/sketch_gemm.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_sketch_gemm(kvp_p_sketch_pass p, const uint *x,
                                                           const float *phi, const float *part,
                                                           float *res) {
#define KVP_DECLS
#include "../common/sketch_gemm.inc"
#undef KVP_DECLS
#include "../common/sketch_gemm.inc"
}
KVP_CUDA_KERNEL(sketch_gemm)
