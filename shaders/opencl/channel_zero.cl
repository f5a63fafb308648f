/* OpenCL entry point of shaders/common/channel_zero.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_channel_zero(KVP_CL_BUF(uint, X), KVP_CL_BUF(const int, meta),
                                   KVP_CL_BUF(const int, keep), const kvp_p_channel_zero p) {
    KVP_CL_BIND(uint, X);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, keep);
#define KVP_DECLS
#include "channel_zero.inc"
#undef KVP_DECLS
#include "channel_zero.inc"
}
