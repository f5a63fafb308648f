/* OpenCL entry point of shaders/common/row_norm.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_row_norm(KVP_CL_BUF(const uint, X), KVP_CL_BUF(const int, meta),
                               KVP_CL_BUF(float, res), const kvp_p_row_norm p) {
    KVP_CL_BIND(const uint, X);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "row_norm.inc"
#undef KVP_DECLS
#include "row_norm.inc"
}
