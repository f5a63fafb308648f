/* OpenCL entry point of shaders/common/head_subset_mean.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_head_subset_mean(KVP_CL_BUF(const float, src), KVP_CL_BUF(const int, heads),
                                       KVP_CL_BUF(float, res), const kvp_p_head_subset_mean p) {
    KVP_CL_BIND(const float, src);
    KVP_CL_BIND(const int, heads);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "head_subset_mean.inc"
#undef KVP_DECLS
#include "head_subset_mean.inc"
}
