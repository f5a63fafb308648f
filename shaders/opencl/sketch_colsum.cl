/* OpenCL entry point of shaders/common/sketch_colsum.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_sketch_colsum(KVP_CL_BUF(const uint, x), KVP_CL_BUF(float, part),
                                    const kvp_p_sketch_pass p) {
    KVP_CL_BIND(const uint, x);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "sketch_colsum.inc"
#undef KVP_DECLS
#include "sketch_colsum.inc"
}
