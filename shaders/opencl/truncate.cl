/* OpenCL entry point of shaders/common/truncate.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_truncate(KVP_CL_BUF(const int, pos), KVP_CL_BUF(int, meta),
                               const kvp_p_truncate p) {
    KVP_CL_BIND(const int, pos);
    KVP_CL_BIND(int, meta);
#define KVP_DECLS
#include "truncate.inc"
#undef KVP_DECLS
#include "truncate.inc"
}
