/* OpenCL entry point of shaders/common/score_pad_apply.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_score_pad_apply(KVP_CL_BUF(float, s), KVP_CL_BUF(const float, part),
                                      const kvp_p_score_pad_pass p) {
    KVP_CL_BIND(float, s);
    KVP_CL_BIND(const float, part);
#define KVP_DECLS
#include "score_pad_apply.inc"
#undef KVP_DECLS
#include "score_pad_apply.inc"
}
