/* OpenCL entry point of shaders/common/topk_init.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_topk_init(KVP_CL_BUF(int, hist), KVP_CL_BUF(int, state),
                                const kvp_p_topk_pass p) {
    KVP_CL_BIND(int, hist);
    KVP_CL_BIND(int, state);
#define KVP_DECLS
#include "topk_init.inc"
#undef KVP_DECLS
#include "topk_init.inc"
}
