/* OpenCL entry point of shaders/common/topk_tie_count.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_topk_tie_count(KVP_CL_BUF(const float, s), KVP_CL_BUF(const int, state),
                                     KVP_CL_BUF(int, counts), const kvp_p_topk_pass p) {
    KVP_CL_BIND(const float, s);
    KVP_CL_BIND(const int, state);
    KVP_CL_BIND(int, counts);
#define KVP_DECLS
#include "topk_tie_count.inc"
#undef KVP_DECLS
#include "topk_tie_count.inc"
}
