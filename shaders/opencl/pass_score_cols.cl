/* OpenCL entry point of shaders/common/pass_score_cols.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_pass_score_cols(KVP_CL_BUF(const float, q),
                                      KVP_CL_BUF(const uint, K),
                                      KVP_CL_BUF(const int, meta),
                                      KVP_CL_BUF(const float, rnorm),
                                      KVP_CL_BUF(const float, ccol),
                                      KVP_CL_BUF(const float, stats),
                                      KVP_CL_BUF(float, red),
                                      const kvp_p_pass_score p) {
    KVP_CL_BIND(const float, q);
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, rnorm);
    KVP_CL_BIND(const float, ccol);
    KVP_CL_BIND(const float, stats);
    KVP_CL_BIND(float, red);
#define KVP_DECLS
#include "pass_score_cols.inc"
#undef KVP_DECLS
#include "pass_score_cols.inc"
}
