/* OpenCL entry point of shaders/common/accum_rows.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_accum_rows(KVP_CL_BUF(const float, x), KVP_CL_BUF(float, acc),
                                 const kvp_p_accum_rows p) {
    KVP_CL_BIND(const float, x);
    KVP_CL_BIND(float, acc);
#define KVP_DECLS
#include "accum_rows.inc"
#undef KVP_DECLS
#include "accum_rows.inc"
}
