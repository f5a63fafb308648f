/* OpenCL entry point of shaders/common/probs_colsum.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_probs_colsum(KVP_CL_BUF(const float, probs), KVP_CL_BUF(float, res),
                                   const kvp_p_probs_colsum p) {
    KVP_CL_BIND(const float, probs);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "probs_colsum.inc"
#undef KVP_DECLS
#include "probs_colsum.inc"
}
