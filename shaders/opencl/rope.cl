/* OpenCL entry point of shaders/common/rope.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_rope(KVP_CL_BUF(const uint, x), KVP_CL_BUF(const float, cs),
                           KVP_CL_BUF(float, res), const kvp_p_rope p) {
    KVP_CL_BIND(const uint, x);
    KVP_CL_BIND(const float, cs);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "rope.inc"
#undef KVP_DECLS
#include "rope.inc"
}
