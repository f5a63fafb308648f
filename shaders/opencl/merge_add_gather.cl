/* OpenCL entry point of shaders/common/merge_add_gather.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_merge_add_gather(KVP_CL_BUF(const uint, V), KVP_CL_BUF(const int, meta),
                                       KVP_CL_BUF(const int, pairs), KVP_CL_BUF(float, src),
                                       const kvp_p_merge_add p) {
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, pairs);
    KVP_CL_BIND(float, src);
#define KVP_DECLS
#include "merge_add_gather.inc"
#undef KVP_DECLS
#include "merge_add_gather.inc"
}
