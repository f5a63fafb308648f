/* OpenCL entry point of shaders/common/rerotate.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_rerotate(KVP_CL_BUF(uint, K), KVP_CL_BUF(const int, meta), KVP_CL_BUF(int, pos),
                               KVP_CL_BUF(const float, inv_freq), const kvp_p_rerotate p) {
    KVP_CL_BIND(uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(int, pos);
    KVP_CL_BIND(const float, inv_freq);
#define KVP_DECLS
#include "rerotate.inc"
#undef KVP_DECLS
#include "rerotate.inc"
}
