/* OpenCL entry point of shaders/common/tri_inverse.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_tri_inverse(KVP_CL_BUF(const float, L), KVP_CL_BUF(float, M),
                                  const kvp_p_chol_quadform p) {
    KVP_CL_BIND(const float, L);
    KVP_CL_BIND(float, M);
#define KVP_DECLS
#include "tri_inverse.inc"
#undef KVP_DECLS
#include "tri_inverse.inc"
}
