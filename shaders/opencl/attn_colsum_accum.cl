/* OpenCL entry point of shaders/common/attn_colsum_accum.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_attn_colsum_accum(KVP_CL_BUF(const float, q), KVP_CL_BUF(const uint, K),
                                        KVP_CL_BUF(const int, meta), KVP_CL_BUF(const int, pos),
                                        KVP_CL_BUF(const float, stats), KVP_CL_BUF(float, res),
                                        const kvp_p_attn_colsum_pass p) {
    KVP_CL_BIND(const float, q);
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, pos);
    KVP_CL_BIND(const float, stats);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "attn_colsum_accum.inc"
#undef KVP_DECLS
#include "attn_colsum_accum.inc"
}
