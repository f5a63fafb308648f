/* OpenCL entry point of shaders/common/cur_window.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_cur_window(KVP_CL_BUF(const float, kv2), KVP_CL_BUF(float, wsum),
                                 const kvp_p_cur_score p) {
    KVP_CL_BIND(const float, kv2);
    KVP_CL_BIND(float, wsum);
#define KVP_DECLS
#include "cur_window.inc"
#undef KVP_DECLS
#include "cur_window.inc"
}
