/* OpenCL entry point of shaders/common/compact_gather.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_compact_gather(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const uint, V),
                                     KVP_CL_BUF(const int, pos), KVP_CL_BUF(const int, meta),
                                     KVP_CL_BUF(const int, mask), KVP_CL_BUF(const int, counts),
                                     KVP_CL_BUF(uint, rows), const kvp_p_compact_pass p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, pos);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, mask);
    KVP_CL_BIND(const int, counts);
    KVP_CL_BIND(uint, rows);
#define KVP_DECLS
#include "compact_gather.inc"
#undef KVP_DECLS
#include "compact_gather.inc"
}
