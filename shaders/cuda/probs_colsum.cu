/* CUDA entry point of shaders/common/probs_colsum.inc. */
#include "kvp_cuda_wrapper.cuh"

extern "C" __global__ void KVP_CUDA_BOUNDS kvp_probs_colsum(kvp_p_probs_colsum p,
                                                            const float *probs, float *res) {
#define KVP_DECLS
#include "../common/probs_colsum.inc"
#undef KVP_DECLS
#include "../common/probs_colsum.inc"
}
KVP_CUDA_KERNEL(probs_colsum)
