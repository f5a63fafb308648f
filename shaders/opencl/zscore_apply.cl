/* OpenCL entry point of shaders/common/zscore_apply.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_zscore_apply(KVP_CL_BUF(const float, x), KVP_CL_BUF(const float, part),
                                   KVP_CL_BUF(float, res), const kvp_p_zscore_pass p) {
    KVP_CL_BIND(const float, x);
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "zscore_apply.inc"
#undef KVP_DECLS
#include "zscore_apply.inc"
}
