/* OpenCL entry point of shaders/common/attention_prefill.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_attention_prefill(KVP_CL_BUF(const uint, q), KVP_CL_BUF(const uint, K),
                                        KVP_CL_BUF(const uint, V), KVP_CL_BUF(const int, meta),
                                        KVP_CL_BUF(const int, pos), KVP_CL_BUF(float, res),
                                        const kvp_p_attention p) {
    KVP_CL_BIND(const uint, q);
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, pos);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "attention_prefill.inc"
#undef KVP_DECLS
#include "attention_prefill.inc"
}
