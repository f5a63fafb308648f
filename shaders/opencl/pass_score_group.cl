/* OpenCL entry point of shaders/common/pass_score_group.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_pass_score_group(KVP_CL_BUF(const float, red),
                                       KVP_CL_BUF(float, res),
                                       const kvp_p_pass_score p) {
    KVP_CL_BIND(const float, red);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "pass_score_group.inc"
#undef KVP_DECLS
#include "pass_score_group.inc"
}
