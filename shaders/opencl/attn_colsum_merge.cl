/* OpenCL entry point of shaders/common/attn_colsum_merge.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_attn_colsum_merge(KVP_CL_BUF(const float, part), KVP_CL_BUF(float, stats),
                                        const kvp_p_attn_colsum_pass p) {
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, stats);
#define KVP_DECLS
#include "attn_colsum_merge.inc"
#undef KVP_DECLS
#include "attn_colsum_merge.inc"
}
