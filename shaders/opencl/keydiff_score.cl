/* OpenCL entry point of shaders/common/keydiff_score.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_keydiff_score(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const int, meta),
                                    KVP_CL_BUF(const float, anchor), KVP_CL_BUF(float, res),
                                    const kvp_p_keydiff_pass p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, anchor);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "keydiff_score.inc"
#undef KVP_DECLS
#include "keydiff_score.inc"
}
