/* OpenCL entry point of shaders/common/qstats_colsum.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_qstats_colsum(KVP_CL_BUF(const uint, q), KVP_CL_BUF(float, part),
                                    const kvp_p_qstats_pass p) {
    KVP_CL_BIND(const uint, q);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "qstats_colsum.inc"
#undef KVP_DECLS
#include "qstats_colsum.inc"
}
