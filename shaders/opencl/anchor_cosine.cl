/* OpenCL entry point of shaders/common/anchor_cosine.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_anchor_cosine(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const int, meta),
                                    KVP_CL_BUF(const float, anchor), KVP_CL_BUF(float, res),
                                    KVP_CL_BUF(float, part), const kvp_p_anchor_pass p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, anchor);
    KVP_CL_BIND(float, res);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "anchor_cosine.inc"
#undef KVP_DECLS
#include "anchor_cosine.inc"
}
