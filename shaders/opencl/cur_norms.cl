/* OpenCL entry point of shaders/common/cur_norms.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_cur_norms(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const uint, V),
                                KVP_CL_BUF(const int, meta), KVP_CL_BUF(const float, proj),
                                KVP_CL_BUF(float, kv2), const kvp_p_cur_score p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, proj);
    KVP_CL_BIND(float, kv2);
#define KVP_DECLS
#include "cur_norms.inc"
#undef KVP_DECLS
#include "cur_norms.inc"
}
