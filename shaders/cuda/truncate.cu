/* CUDA entry point of shaders/common/truncate.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_truncate(kvp_p_truncate p, const int *pos,
                                                        int *meta) {
#define KVP_DECLS
#include "../common/truncate.inc"
#undef KVP_DECLS
#include "../common/truncate.inc"
}
KVP_CUDA_KERNEL(truncate)
