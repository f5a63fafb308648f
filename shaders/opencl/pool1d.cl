/* OpenCL entry point of shaders/common/pool1d.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_pool1d(KVP_CL_BUF(const float, src), KVP_CL_BUF(float, res),
                             const kvp_p_pool1d p) {
    KVP_CL_BIND(const float, src);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "pool1d.inc"
#undef KVP_DECLS
#include "pool1d.inc"
}
