/* OpenCL entry point of shaders/common/cholesky.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_cholesky(KVP_CL_BUF(float, A), KVP_CL_BUF(int, info),
                               const kvp_p_cholesky p) {
    KVP_CL_BIND(float, A);
    KVP_CL_BIND(int, info);
#define KVP_DECLS
#include "cholesky.inc"
#undef KVP_DECLS
#include "cholesky.inc"
}
