/* OpenCL entry point of shaders/common/cur_combine.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_cur_combine(KVP_CL_BUF(const float, kv2), KVP_CL_BUF(const float, wsum),
                                  KVP_CL_BUF(float, res), const kvp_p_cur_score p) {
    KVP_CL_BIND(const float, kv2);
    KVP_CL_BIND(const float, wsum);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "cur_combine.inc"
#undef KVP_DECLS
#include "cur_combine.inc"
}
