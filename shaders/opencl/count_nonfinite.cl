/* OpenCL entry point of shaders/common/count_nonfinite.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_count_nonfinite(KVP_CL_BUF(const uint, x), KVP_CL_BUF(int, res),
                                      const kvp_p_count_nonfinite p) {
    KVP_CL_BIND(const uint, x);
    KVP_CL_BIND(int, res);
#define KVP_DECLS
#include "count_nonfinite.inc"
#undef KVP_DECLS
#include "count_nonfinite.inc"
}
