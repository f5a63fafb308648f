/* OpenCL entry point of shaders/common/qstats_mean.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_qstats_mean(KVP_CL_BUF(const float, part), KVP_CL_BUF(float, mub),
                                  const kvp_p_qstats_pass p) {
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, mub);
#define KVP_DECLS
#include "qstats_mean.inc"
#undef KVP_DECLS
#include "qstats_mean.inc"
}
