/* OpenCL entry point of shaders/common/keydiff_anchor.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_keydiff_anchor(KVP_CL_BUF(const float, part), KVP_CL_BUF(float, anchor),
                                     const kvp_p_keydiff_pass p) {
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, anchor);
#define KVP_DECLS
#include "keydiff_anchor.inc"
#undef KVP_DECLS
#include "keydiff_anchor.inc"
}
