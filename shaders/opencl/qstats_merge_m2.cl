/* OpenCL entry point of shaders/common/qstats_merge_m2.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_qstats_merge_m2(KVP_CL_BUF(const float, mean), KVP_CL_BUF(const float, mub),
                                      KVP_CL_BUF(const float, m2part), KVP_CL_BUF(float, m2),
                                      const kvp_p_qstats_pass p) {
    KVP_CL_BIND(const float, mean);
    KVP_CL_BIND(const float, mub);
    KVP_CL_BIND(const float, m2part);
    KVP_CL_BIND(float, m2);
#define KVP_DECLS
#include "qstats_merge_m2.inc"
#undef KVP_DECLS
#include "qstats_merge_m2.inc"
}
