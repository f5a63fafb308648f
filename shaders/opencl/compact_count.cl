/* OpenCL entry point of shaders/common/compact_count.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_compact_count(KVP_CL_BUF(const int, meta), KVP_CL_BUF(const int, mask),
                                    KVP_CL_BUF(int, counts), const kvp_p_compact_pass p) {
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const int, mask);
    KVP_CL_BIND(int, counts);
#define KVP_DECLS
#include "compact_count.inc"
#undef KVP_DECLS
#include "compact_count.inc"
}
