/* OpenCL entry point of shaders/common/channel_mean_merge.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_channel_mean_merge(KVP_CL_BUF(const float, part), KVP_CL_BUF(float, res),
                                         const kvp_p_channel_mean_pass p) {
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "channel_mean_merge.inc"
#undef KVP_DECLS
#include "channel_mean_merge.inc"
}
