/* OpenCL entry point of shaders/common/qstats_merge_mean.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_qstats_merge_mean(KVP_CL_BUF(float, mean), KVP_CL_BUF(const float, mub),
                                        const kvp_p_qstats_pass p) {
    KVP_CL_BIND(float, mean);
    KVP_CL_BIND(const float, mub);
#define KVP_DECLS
#include "qstats_merge_mean.inc"
#undef KVP_DECLS
#include "qstats_merge_mean.inc"
}
