/* OpenCL entry point of shaders/common/softmax_partial.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_softmax_partial(KVP_CL_BUF(const float, x), KVP_CL_BUF(float, part),
                                      const kvp_p_softmax_pass p) {
    KVP_CL_BIND(const float, x);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "softmax_partial.inc"
#undef KVP_DECLS
#include "softmax_partial.inc"
}
