/* OpenCL entry point of shaders/common/copy_words.inc. */
#include "kvp_cl_wrapper.h"

KVP_CL_ENTRY void kvp_copy_words(KVP_CL_BUF(const uint, src), KVP_CL_BUF(uint, dst),
                                 const kvp_p_copy_words p) {
    KVP_CL_BIND(const uint, src);
    KVP_CL_BIND(uint, dst);
#define KVP_DECLS
#include "copy_words.inc"
#undef KVP_DECLS
#include "copy_words.inc"
}
