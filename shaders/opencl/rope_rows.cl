/* OpenCL entry point of shaders/common/rope_rows.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_rope_rows(KVP_CL_BUF(const uint, X), KVP_CL_BUF(const int, meta),
                                KVP_CL_BUF(const int, pos), KVP_CL_BUF(const float, cs),
                                KVP_CL_BUF(float, res), const kvp_p_rope_rows p) {
    KVP_CL_BIND(const uint, X);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, pos);
    KVP_CL_BIND(const float, cs);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "rope_rows.inc"
#undef KVP_DECLS
#include "rope_rows.inc"
}
