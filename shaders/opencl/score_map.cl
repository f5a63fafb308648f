/* OpenCL entry point of shaders/common/score_map.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_score_map(KVP_CL_BUF(float, s), KVP_CL_BUF(const float, w),
                                const kvp_p_score_map p) {
    KVP_CL_BIND(float, s);
    KVP_CL_BIND(const float, w);
#define KVP_DECLS
#include "score_map.inc"
#undef KVP_DECLS
#include "score_map.inc"
}
