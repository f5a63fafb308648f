/* OpenCL entry point of shaders/common/ea_logits.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_ea_logits(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const int, meta),
                                KVP_CL_BUF(const float, mu), KVP_CL_BUF(const float, sigma),
                                KVP_CL_BUF(float, res), const kvp_p_ea_logits p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, mu);
    KVP_CL_BIND(const float, sigma);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "ea_logits.inc"
#undef KVP_DECLS
#include "ea_logits.inc"
}
