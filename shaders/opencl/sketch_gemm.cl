/* OpenCL entry point of shaders/common/sketch_gemm.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_sketch_gemm(KVP_CL_BUF(const uint, x), KVP_CL_BUF(const float, phi),
                                  KVP_CL_BUF(const float, part), KVP_CL_BUF(float, res),
                                  const kvp_p_sketch_pass p) {
    KVP_CL_BIND(const uint, x);
    KVP_CL_BIND(const float, phi);
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "sketch_gemm.inc"
#undef KVP_DECLS
#include "sketch_gemm.inc"
}
