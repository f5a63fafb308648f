/* OpenCL entry point of shaders/common/mask_count.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_mask_count(KVP_CL_BUF(const int, mask), KVP_CL_BUF(int, res),
                                 const kvp_p_mask_count p) {
    KVP_CL_BIND(const int, mask);
    KVP_CL_BIND(int, res);
#define KVP_DECLS
#include "mask_count.inc"
#undef KVP_DECLS
#include "mask_count.inc"
}
