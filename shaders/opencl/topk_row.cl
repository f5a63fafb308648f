/* OpenCL entry point of shaders/common/topk_row.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_topk_row(KVP_CL_BUF(const float, s), KVP_CL_BUF(int, mask),
                               const kvp_p_topk_pass p) {
    KVP_CL_BIND(const float, s);
    KVP_CL_BIND(int, mask);
#define KVP_DECLS
#include "topk_row.inc"
#undef KVP_DECLS
#include "topk_row.inc"
}
