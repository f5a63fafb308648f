/* OpenCL entry point of shaders/common/anchor_exp.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_anchor_exp(KVP_CL_BUF(float, res), KVP_CL_BUF(const float, part),
                                 const kvp_p_anchor_pass p) {
    KVP_CL_BIND(float, res);
    KVP_CL_BIND(const float, part);
#define KVP_DECLS
#include "anchor_exp.inc"
#undef KVP_DECLS
#include "anchor_exp.inc"
}
