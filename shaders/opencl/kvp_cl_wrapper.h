/* Prelude of the OpenCL entry points (shaders/opencl/<kernel>.cl): the parameter structs, the
 * portability layer and the binding convention of the OpenCL backend.
 *
 * A binding is two kernel arguments: the buffer and the offset of the bound range in 32-bit
 * elements. The core binds caller memory (wrapped caches, device tensors) at arbitrary byte
 * offsets, and sub-buffers would need CL_DEVICE_MEM_BASE_ADDR_ALIGN alignment; an offset
 * argument works for any multiple of 4 (the backend stages other offsets through scratch).
 * Arguments: binding b is (2b, 2b + 1), the parameter struct comes last. */
#ifndef KVP_CL_WRAPPER_H
#define KVP_CL_WRAPPER_H

#include "kvp_params.h"
#include "kvp_kernel.h"

#define KVP_CL_BUF(type, name) __global type *name##_base, uint name##_off
#define KVP_CL_BIND(type, name) __global type *name = name##_base + name##_off
#define KVP_CL_ENTRY __kernel __attribute__((reqd_work_group_size(KVP_WG, 1, 1)))

#endif /* KVP_CL_WRAPPER_H */
