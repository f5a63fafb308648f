/* OpenCL entry point of shaders/common/channel_mean_part.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_channel_mean_part(KVP_CL_BUF(const uint, X), KVP_CL_BUF(const int, meta),
                                        KVP_CL_BUF(float, part), const kvp_p_channel_mean_pass p) {
    KVP_CL_BIND(const uint, X);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "channel_mean_part.inc"
#undef KVP_DECLS
#include "channel_mean_part.inc"
}
