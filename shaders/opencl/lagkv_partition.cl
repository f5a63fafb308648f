/* OpenCL entry point of shaders/common/lagkv_partition.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_lagkv_partition(KVP_CL_BUF(const uint, K), KVP_CL_BUF(const uint, V),
                                      KVP_CL_BUF(const int, meta), KVP_CL_BUF(float, res),
                                      KVP_CL_BUF(float, tmp), const kvp_p_lagkv p) {
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const uint, V);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(float, res);
    KVP_CL_BIND(float, tmp);
#define KVP_DECLS
#include "lagkv_partition.inc"
#undef KVP_DECLS
#include "lagkv_partition.inc"
}
