/* OpenCL entry point of shaders/common/attention_tile.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_attention_tile(KVP_CL_BUF(const uint, q), KVP_CL_BUF(const uint, K),
                                     KVP_CL_BUF(const uint, V), KVP_CL_BUF(const int, meta),
                                     KVP_CL_BUF(const int, pos), KVP_CL_BUF(float, dst),
                                     const kvp_p_attention_split p) {
    KVP_CL_BIND(const uint, q);
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, pos);
    KVP_CL_BIND(float, dst);
#define KVP_DECLS
#include "attention_tile.inc"
#undef KVP_DECLS
#include "attention_tile.inc"
}
