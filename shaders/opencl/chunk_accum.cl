/* OpenCL entry point of shaders/common/chunk_accum.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_chunk_accum(KVP_CL_BUF(const float, q), KVP_CL_BUF(const uint, K),
                                  KVP_CL_BUF(const int, meta), KVP_CL_BUF(const float, stats),
                                  KVP_CL_BUF(float, res), const kvp_p_chunk_colsum p) {
    KVP_CL_BIND(const float, q);
    KVP_CL_BIND(const uint, K);
    KVP_CL_BIND(const int, meta);
    KVP_CL_BIND(const float, stats);
    KVP_CL_BIND(float, res);
#define KVP_DECLS
#include "chunk_accum.inc"
#undef KVP_DECLS
#include "chunk_accum.inc"
}
