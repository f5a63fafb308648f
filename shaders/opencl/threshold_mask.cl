/* OpenCL entry point of shaders/common/threshold_mask.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_threshold_mask(KVP_CL_BUF(const float, s), KVP_CL_BUF(const int, off),
                                     KVP_CL_BUF(int, mask), const kvp_p_threshold_mask p) {
    KVP_CL_BIND(const float, s);
    KVP_CL_BIND(const int, off);
    KVP_CL_BIND(int, mask);
#define KVP_DECLS
#include "threshold_mask.inc"
#undef KVP_DECLS
#include "threshold_mask.inc"
}
