/* OpenCL entry point of shaders/common/merge_values.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_merge_values(KVP_CL_BUF(uint, V), KVP_CL_BUF(const int, meta),
                                   KVP_CL_BUF(const float, sim), KVP_CL_BUF(const int, target),
                                   KVP_CL_BUF(const float, gate), const kvp_p_merge_values p) {
    KVP_CL_BIND(uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, sim);
    KVP_CL_BIND(const int, target);
    KVP_CL_BIND(const float, gate);
#define KVP_DECLS
#include "merge_values.inc"
#undef KVP_DECLS
#include "merge_values.inc"
}
