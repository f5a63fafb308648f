/* OpenCL entry point of shaders/common/keydiff_invnorm.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_keydiff_invnorm(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const int, meta),
                                      KVP_CL_BUF(float, invn), const kvp_p_keydiff_pass p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(float, invn);
#define KVP_DECLS
#include "keydiff_invnorm.inc"
#undef KVP_DECLS
#include "keydiff_invnorm.inc"
}
