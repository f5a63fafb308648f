/* OpenCL entry point of shaders/common/merge_add_apply.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_merge_add_apply(KVP_CL_BUF(uint, V), KVP_CL_BUF(const int, meta),
                                      KVP_CL_BUF(const int, pairs), KVP_CL_BUF(const float, coef),
                                      KVP_CL_BUF(const float, src), const kvp_p_merge_add p) {
    KVP_CL_BIND(uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, pairs);
    KVP_CL_BIND(const float, coef);
    KVP_CL_BIND(const float, src);
#define KVP_DECLS
#include "merge_add_apply.inc"
#undef KVP_DECLS
#include "merge_add_apply.inc"
}
