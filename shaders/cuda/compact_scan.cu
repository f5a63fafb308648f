/* CUDA entry point of shaders/common/compact_scan.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_compact_scan(kvp_p_compact_pass p, int *counts) {
#define KVP_DECLS
#include "../common/compact_scan.inc"
#undef KVP_DECLS
#include "../common/compact_scan.inc"
}
KVP_CUDA_KERNEL(compact_scan)
