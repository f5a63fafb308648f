/* OpenCL entry point of shaders/common/masked_fill.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_masked_fill(KVP_CL_BUF(float, s), KVP_CL_BUF(const int, mask),
                                  const kvp_p_masked_fill p) {
    KVP_CL_BIND(float, s);
    KVP_CL_BIND(const int, mask);
#define KVP_DECLS
#include "masked_fill.inc"
#undef KVP_DECLS
#include "masked_fill.inc"
}
