/* OpenCL entry point of shaders/common/linear.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_linear(KVP_CL_BUF(const uint, x), KVP_CL_BUF(const uint, W),
                             KVP_CL_BUF(const float, b), KVP_CL_BUF(float, y),
                             const kvp_p_linear p) {
    KVP_CL_BIND(const uint, x);
    KVP_CL_BIND(const uint, W);
    KVP_CL_BIND(const float, b);
    KVP_CL_BIND(float, y);
#define KVP_DECLS
#include "linear.inc"
#undef KVP_DECLS
#include "linear.inc"
}
