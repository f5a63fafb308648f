/* OpenCL entry point of shaders/common/topk_hist.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_topk_hist(KVP_CL_BUF(const float, s), KVP_CL_BUF(int, hist),
                                KVP_CL_BUF(const int, state), const kvp_p_topk_pass p) {
    KVP_CL_BIND(const float, s);
    KVP_CL_BIND(int, hist);
    KVP_CL_BIND(const int, state);
#define KVP_DECLS
#include "topk_hist.inc"
#undef KVP_DECLS
#include "topk_hist.inc"
}
