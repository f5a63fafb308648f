/* OpenCL entry point of shaders/common/compact_scan.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_compact_scan(KVP_CL_BUF(int, counts), const kvp_p_compact_pass p) {
    KVP_CL_BIND(int, counts);
#define KVP_DECLS
#include "compact_scan.inc"
#undef KVP_DECLS
#include "compact_scan.inc"
}
