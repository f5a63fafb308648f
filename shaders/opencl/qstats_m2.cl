/* OpenCL entry point of shaders/common/qstats_m2.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_qstats_m2(KVP_CL_BUF(const uint, q), KVP_CL_BUF(const float, mub),
                                KVP_CL_BUF(float, m2part), const kvp_p_qstats_pass p) {
    KVP_CL_BIND(const uint, q);
    KVP_CL_BIND(const float, mub);
    KVP_CL_BIND(float, m2part);
#define KVP_DECLS
#include "qstats_m2.inc"
#undef KVP_DECLS
#include "qstats_m2.inc"
}
