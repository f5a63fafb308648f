/* OpenCL entry point of shaders/common/attention_combine.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_attention_combine(KVP_CL_BUF(const float, part), KVP_CL_BUF(float, res),
                                        const kvp_p_attention_split p) {
    KVP_CL_BIND(const float, part);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "attention_combine.inc"
#undef KVP_DECLS
#include "attention_combine.inc"
}
