/* OpenCL entry point of shaders/common/lagkv_fill.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_lagkv_fill(KVP_CL_BUF(float, res), const kvp_p_lagkv p) {
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "lagkv_fill.inc"
#undef KVP_DECLS
#include "lagkv_fill.inc"
}
