/* CUDA entry point of shaders/common/sketch_colsum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_sketch_colsum(kvp_p_sketch_pass p, const uint *x,
                                                             float *part) {
#define KVP_DECLS
#include "../common/sketch_colsum.inc"
#undef KVP_DECLS
#include "../common/sketch_colsum.inc"
}
KVP_CUDA_KERNEL(sketch_colsum)
