/* OpenCL entry point of shaders/common/softmax_apply.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_softmax_apply(KVP_CL_BUF(float, x), KVP_CL_BUF(const float, part),
                                    const kvp_p_softmax_pass p) {
    KVP_CL_BIND(float, x);
    KVP_CL_BIND(const float, part);
#define KVP_DECLS
#include "softmax_apply.inc"
#undef KVP_DECLS
#include "softmax_apply.inc"
}
