/* OpenCL entry point of shaders/common/topk_mask.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_topk_mask(KVP_CL_BUF(const float, s), KVP_CL_BUF(const int, state),
                                KVP_CL_BUF(const int, counts), KVP_CL_BUF(int, mask),
                                const kvp_p_topk_pass p) {
    KVP_CL_BIND(const float, s);
    KVP_CL_BIND(const int, state);
    KVP_CL_BIND(const int, counts);
    KVP_CL_BIND(int, mask);
#define KVP_DECLS
#include "topk_mask.inc"
#undef KVP_DECLS
#include "topk_mask.inc"
}
