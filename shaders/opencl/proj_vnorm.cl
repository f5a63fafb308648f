/* OpenCL entry point of shaders/common/proj_vnorm.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_proj_vnorm(KVP_CL_BUF(const uint, V), KVP_CL_BUF(const int, meta),
                                 KVP_CL_BUF(const uint, wo), KVP_CL_BUF(float, res),
                                 const kvp_p_proj_vnorm p) {
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const uint, wo);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "proj_vnorm.inc"
#undef KVP_DECLS
#include "proj_vnorm.inc"
}
