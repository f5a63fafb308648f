/* OpenCL entry point of shaders/common/fastkvzip_gate.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_fastkvzip_gate(KVP_CL_BUF(const uint, h),
                                     KVP_CL_BUF(const float, w),
                                     KVP_CL_BUF(float, res),
                                     const kvp_p_fastkvzip_gate p) {
    KVP_CL_BIND(const uint, h);
    KVP_CL_BIND(const float, w);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "fastkvzip_gate.inc"
#undef KVP_DECLS
#include "fastkvzip_gate.inc"
}
