/* OpenCL entry point of shaders/common/head_reduce.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_head_reduce(KVP_CL_BUF(const float, src), KVP_CL_BUF(float, res),
                                  const kvp_p_head_reduce p) {
    KVP_CL_BIND(const float, src);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "head_reduce.inc"
#undef KVP_DECLS
#include "head_reduce.inc"
}
