/* OpenCL entry point of shaders/common/wov_norm.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_wov_norm(KVP_CL_BUF(const uint, V),
                               KVP_CL_BUF(const int, meta),
                               KVP_CL_BUF(const uint, wo),
                               KVP_CL_BUF(float, res),
                               const kvp_p_wov_norm p) {
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const uint, wo);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "wov_norm.inc"
#undef KVP_DECLS
#include "wov_norm.inc"
}
