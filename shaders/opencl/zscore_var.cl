/* OpenCL entry point of shaders/common/zscore_var.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_zscore_var(KVP_CL_BUF(const float, x), KVP_CL_BUF(float, part),
                                 const kvp_p_zscore_pass p) {
    KVP_CL_BIND(const float, x);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "zscore_var.inc"
#undef KVP_DECLS
#include "zscore_var.inc"
}
