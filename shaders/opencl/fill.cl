/* OpenCL entry point of shaders/common/fill.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_fill(KVP_CL_BUF(int, buf), const kvp_p_fill p) {
    KVP_CL_BIND(int, buf);
#define KVP_DECLS
#include "fill.inc"
#undef KVP_DECLS
#include "fill.inc"
}
