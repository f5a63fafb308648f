/* OpenCL entry point of shaders/common/chol_quadform.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_chol_quadform(KVP_CL_BUF(const float, M), KVP_CL_BUF(const uint, X),
                                    KVP_CL_BUF(const int, meta), KVP_CL_BUF(float, res),
                                    const kvp_p_chol_quadform p) {
    KVP_CL_BIND(const float, M);
    KVP_CL_BIND(const uint, X);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "chol_quadform.inc"
#undef KVP_DECLS
#include "chol_quadform.inc"
}
