/*
 * A GPU op as a short list of kernel dispatches ("passes"), shared by the OpenCL, Vulkan and
 * CUDA backends, so the dispatch geometry and scratch needs of every op are written once.
 * A backend's `run` asks kvp_gpu_plan_op for the plan of a call, makes sure it has the
 * scratch buffers, then for each pass binds the buffers, sets the parameter block and
 * dispatches groups[0] x groups[1] x groups[2] workgroups of KVP_WG invocations of the kernel
 * named `kernel` (body shaders/common/<kernel>.inc; entry point "kvp_<kernel>").
 * Passes run in order; each sees the writes of the previous ones (backends put a full
 * memory barrier between passes).
 *
 * Conventions every backend follows:
 *  - kernels are compiled with KVP_WG = KVP_GPU_WG and dispatched as 1-D workgroups of
 *    KVP_GPU_WG invocations; groups[1] and groups[2] index rows/heads/splits;
 *  - pass.binding[b] is the b-th buffer of the kernel's wrapper (order of the .inc header);
 *    a binding that refers to an op binding carries that binding's byte offset, which the
 *    backend applies (the OpenCL backend passes it as an element offset argument);
 *  - scratch buffer k holds scratch_bytes[k] bytes of garbage on entry (the plan zeroes what
 *    must start at zero with a `fill` pass); it may be reused by the next op once this
 *    op's passes are done;
 *  - `written` has bit b set when the op writes its binding b (for staging copies).
 */
#ifndef KVP_GPU_PLAN_H
#define KVP_GPU_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/internal.h"

#define KVP_GPU_WG 256 /* KVP_WG of every kernel */
#define KVP_GPU_MAX_PASSES 16
#define KVP_GPU_MAX_PASS_BINDINGS 8
#define KVP_GPU_MAX_SCRATCH 4
#define KVP_GPU_MAX_PARAMS 64 /* bytes: fits every GPU's push-constant limit (128) */

/* Binding sources of a pass: an op binding index (>= 0) or scratch buffer k. */
#define KVP_GPU_SCRATCH(k) (-1 - (k))

typedef struct kvp_gpu_caps {
    int subgroup_size;      /* 0 when unknown */
    int max_workgroup_size;
    int compute_units;      /* SMs/CUs (0 when unknown): sizes split-K decode attention */
    uint32_t max_groups[3]; /* dispatch limits per dimension */
} kvp_gpu_caps;

typedef struct kvp_gpu_pass {
    const char *kernel;
    uint32_t groups[3];
    int n_bindings;
    int binding[KVP_GPU_MAX_PASS_BINDINGS];
    size_t params_size;
    unsigned char params[KVP_GPU_MAX_PARAMS]; /* the kernel's kvp_p_* struct */
} kvp_gpu_pass;

typedef struct kvp_gpu_plan {
    int n_passes;
    kvp_gpu_pass pass[KVP_GPU_MAX_PASSES];
    int n_scratch;
    size_t scratch_bytes[KVP_GPU_MAX_SCRATCH];
    unsigned written; /* bit b: the op writes its binding b */
} kvp_gpu_plan;

/* The plan of one op call; KVP_ERR_UNSUPPORTED (with a message) for an op or shape the GPU
 * kernels do not handle. */
kvp_status kvp_gpu_plan_op(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_caps *caps,
                           kvp_gpu_plan *plan);

/* Every kernel name a plan can use (for ahead-of-time builds and the Vulkan shader table). */
extern const char *const kvp_gpu_kernels[];
extern const int kvp_gpu_kernel_count;

#endif /* KVP_GPU_PLAN_H */
