/* OpenCL entry point of shaders/common/compact_copyback.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_compact_copyback(KVP_CL_BUF(uint, K), KVP_CL_BUF(uint, V),
                                       KVP_CL_BUF(int, pos), KVP_CL_BUF(int, meta),
                                       KVP_CL_BUF(const int, counts), KVP_CL_BUF(const uint, rows),
                                       const kvp_p_compact_pass p) {
    KVP_CL_BIND(uint, K);
    KVP_CL_BIND(uint, V);
    KVP_CL_BIND(int, pos);
    KVP_CL_BIND(int, meta);
    KVP_CL_BIND(const int, counts);
    KVP_CL_BIND(const uint, rows);
#define KVP_DECLS
#include "compact_copyback.inc"
#undef KVP_DECLS
#include "compact_copyback.inc"
}
