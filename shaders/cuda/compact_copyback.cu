/* CUDA entry point of shaders/common/compact_copyback.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_compact_copyback(kvp_p_compact_pass p, uint *K,
                                                                uint *V, int *pos, int *meta,
                                                                const int *counts,
                                                                const uint *rows) {
#define KVP_DECLS
#include "../common/compact_copyback.inc"
#undef KVP_DECLS
#include "../common/compact_copyback.inc"
}
KVP_CUDA_KERNEL(compact_copyback)
