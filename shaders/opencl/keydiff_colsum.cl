/* OpenCL entry point of shaders/common/keydiff_colsum.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_keydiff_colsum(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const int, meta),
                                     KVP_CL_BUF(const float, invn), KVP_CL_BUF(float, part),
                                     const kvp_p_keydiff_pass p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, invn);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "keydiff_colsum.inc"
#undef KVP_DECLS
#include "keydiff_colsum.inc"
}
