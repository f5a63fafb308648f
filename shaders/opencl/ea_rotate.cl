/* OpenCL entry point of shaders/common/ea_rotate.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_ea_rotate(KVP_CL_BUF(const float, mean), KVP_CL_BUF(const float, m2),
                                KVP_CL_BUF(const float, cs), KVP_CL_BUF(float, mu),
                                KVP_CL_BUF(float, sigma), const kvp_p_ea_rotate p) {
    KVP_CL_BIND(const float, mean);
    KVP_CL_BIND(const float, m2);
    KVP_CL_BIND(const float, cs);
    KVP_CL_BIND(float, mu);
    KVP_CL_BIND(float, sigma);
#define KVP_DECLS
#include "ea_rotate.inc"
#undef KVP_DECLS
#include "ea_rotate.inc"
}
