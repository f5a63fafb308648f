/* OpenCL entry point of shaders/common/merge_match.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_merge_match(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const int, meta),
                                  KVP_CL_BUF(const int, keep), KVP_CL_BUF(const float, invn),
                                  KVP_CL_BUF(float, sim), KVP_CL_BUF(int, target),
                                  const kvp_p_merge_match p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, keep);
    KVP_CL_BIND(const float, invn);
    KVP_CL_BIND(float, sim);
    KVP_CL_BIND(int, target);
#define KVP_DECLS
#include "merge_match.inc"
#undef KVP_DECLS
#include "merge_match.inc"
}
