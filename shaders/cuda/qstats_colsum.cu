/* CUDA entry point of shaders/common/qstats_colsum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_qstats_colsum(kvp_p_qstats_pass p, const uint *q,
                                                             float *part) {
#define KVP_DECLS
#include "../common/qstats_colsum.inc"
#undef KVP_DECLS
#include "../common/qstats_colsum.inc"
}
KVP_CUDA_KERNEL(qstats_colsum)
