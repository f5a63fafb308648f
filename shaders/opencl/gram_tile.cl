/* OpenCL entry point of shaders/common/gram_tile.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_gram_tile(KVP_CL_BUF(const uint, X), KVP_CL_BUF(const int, meta),
                                KVP_CL_BUF(const float, w), KVP_CL_BUF(float, part),
                                const kvp_p_gram_pass p) {
    KVP_CL_BIND(const uint, X);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, w);
    KVP_CL_BIND(float, part);
#define KVP_DECLS
#include "gram_tile.inc"
#undef KVP_DECLS
#include "gram_tile.inc"
}
