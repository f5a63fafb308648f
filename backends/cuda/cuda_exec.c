/*
 * Running an op: the shared GPU planner (backends/gpu/gpu_plan.c) turns the call into passes;
 * this file gives each pass its buffers and launches it on the context's stream. The steps
 * are those of the OpenCL and Vulkan executors (plan, scratch, then per pass: resolve the
 * kernel, resolve the bindings, check the grid, dispatch), so what the OpenCL tests prove
 * about the plans carries over; what is CUDA-specific is checked here before each launch:
 * the pass must match the kernel's signature (parameter size, number of buffers), the grid
 * must fit the device, and every pointer must be aligned for the kernels' 32-bit loads.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

void kvp_cuda_scratch_release(kvp_context *ctx) {
    kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    for (int k = 0; k < KVP_GPU_MAX_SCRATCH; k++) {
        /* Scratch comes from kvp_cuda_malloc, which pools exactly when the context does. */
        kvp_cuda_free(ctx, c->scratch[k].ptr, c->memory_pools);
        c->scratch[k].ptr = NULL;
        c->scratch[k].size = 0;
    }
}

/* Grows the context's scratch buffers to what the plan needs. Old buffers are released in
 * stream order, so passes queued earlier that still use them are unaffected. */
static kvp_status ensure_scratch(kvp_context *ctx, const kvp_gpu_plan *plan) {
    kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    if (plan->n_scratch < 0 || plan->n_scratch > KVP_GPU_MAX_SCRATCH)
        return kvp__error(ctx, KVP_ERR_INTERNAL, "cuda: plan asks for %d scratch buffers (max %d)",
                          plan->n_scratch, KVP_GPU_MAX_SCRATCH);
    for (int k = 0; k < plan->n_scratch; k++) {
        size_t need = plan->scratch_bytes[k];
        kvp_cuda_scratch *s = &c->scratch[k];
        if (need == 0 || (s->ptr && s->size >= need)) continue;
        /* Geometric growth: slowly growing sequences do not reallocate on every call. */
        size_t want = need;
        if (s->size && want < s->size + s->size / 2) want = s->size + s->size / 2;
        if (kvp__alloc_should_fail(ctx))
            return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                              "out of device memory allocating %zu bytes of scratch (simulated)",
                              need);
        void *p = NULL;
        int pooled = 0;
        size_t got = want;
        kvp_status st = kvp_cuda_malloc(ctx, want, &p, &pooled, "plan scratch");
        if (st != KVP_OK && want != need) {
            got = need;
            st = kvp_cuda_malloc(ctx, need, &p, &pooled, "plan scratch");
        }
        if (st != KVP_OK) return st;
        kvp_cuda_free(ctx, s->ptr, pooled);
        s->ptr = p;
        s->size = got;
    }
    return KVP_OK;
}

/* The device address a pass binding refers to: an op binding (buffer + byte offset) or one
 * of the context's scratch buffers. */
static kvp_status resolve_binding(kvp_context *ctx, const kvp_op_call *call,
                                  const kvp_gpu_plan *plan, const kvp_gpu_pass *pass, int slot,
                                  void **out) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    int b = pass->binding[slot];
    char *p;
    if (b >= 0) {
        if (b >= call->n_bindings)
            return kvp__error(ctx, KVP_ERR_INTERNAL,
                              "cuda: kernel %s binding %d refers to op binding %d of %d",
                              pass->kernel, slot, b, call->n_bindings);
        p = (char *)kvp_cuda_buffer_ptr(call->bindings[b].buffer) + call->bindings[b].offset;
    } else {
        int k = -1 - b;
        if (k >= plan->n_scratch || !c->scratch[k].ptr)
            return kvp__error(ctx, KVP_ERR_INTERNAL,
                              "cuda: kernel %s binding %d refers to scratch %d of %d",
                              pass->kernel, slot, k, plan->n_scratch);
        p = c->scratch[k].ptr;
    }
    /* Kernels read buffers as 32-bit words; a misaligned address would be a device fault
     * that kills the whole CUDA context, so refuse it here. Only caller memory (a wrapped
     * pointer or binding offset) can be misaligned. */
    if ((uintptr_t)p % 4 != 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "cuda: kernel %s binding %d: device address %p is not 4-byte aligned",
                          pass->kernel, slot, (void *)p);
    *out = p;
    return KVP_OK;
}

static kvp_status launch_pass(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_plan *plan,
                              int index) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    const kvp_gpu_pass *pass = &plan->pass[index];
    const char *op = kvp__op_name(call->op);

    const kvp_cuda_kernel *k = kvp_cuda_kernel_find(pass->kernel);
    if (!k)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                          "cuda: this build has no CUDA kernel '%s' (pass %d of op %s); add "
                          "shaders/cuda/%s.cu",
                          pass->kernel ? pass->kernel : "(null)", index, op,
                          pass->kernel ? pass->kernel : "?");
    if (pass->n_bindings != k->n_buffers || pass->params_size != k->params_size)
        return kvp__error(ctx, KVP_ERR_INTERNAL,
                          "cuda: pass %d of op %s gives kernel %s %d buffers and %zu parameter "
                          "bytes; the kernel takes %d and %zu",
                          index, op, k->name, pass->n_bindings, pass->params_size, k->n_buffers,
                          k->params_size);

    /* An empty grid is an empty pass (CUDA rejects a zero dimension). */
    if (pass->groups[0] == 0 || pass->groups[1] == 0 || pass->groups[2] == 0) return KVP_OK;
    for (int d = 0; d < 3; d++)
        if (pass->groups[d] > c->caps.max_groups[d])
            return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                              "cuda: kernel %s (op %s) needs a grid of %u x %u x %u blocks; the "
                              "device allows %u x %u x %u",
                              k->name, op, pass->groups[0], pass->groups[1], pass->groups[2],
                              c->caps.max_groups[0], c->caps.max_groups[1], c->caps.max_groups[2]);

    void *ptrs[KVP_GPU_MAX_PASS_BINDINGS];
    void *args[1 + KVP_GPU_MAX_PASS_BINDINGS];
    /* The parameter block is passed by value: cudaLaunchKernel copies params_size bytes. */
    args[0] = (void *)pass->params;
    for (int i = 0; i < pass->n_bindings; i++) {
        KVP_TRY(resolve_binding(ctx, call, plan, pass, i, &ptrs[i]));
        args[1 + i] = &ptrs[i];
    }

    dim3 grid = {pass->groups[0], pass->groups[1], pass->groups[2]};
    dim3 block = {(unsigned)k->block_size, 1, 1};
    cudaError_t err = cudaLaunchKernel(k->fn, grid, block, args, 0, c->stream);
    /* Launch errors are also reported through the last-error slot; a fault of an earlier
     * kernel may only show here. */
    if (err == cudaSuccess) err = cudaGetLastError();
    if (err == cudaSuccess && c->sync_each_pass) err = cudaStreamSynchronize(c->stream);
    if (err != cudaSuccess) {
        char what[192];
        snprintf(what, sizeof what, "kernel %s (pass %d of op %s, grid %ux%ux%u x %d)%s", k->name,
                 index, op, grid.x, grid.y, grid.z, k->block_size,
                 c->sync_each_pass ? " [KVP_CUDA_SYNC]" : "");
        return kvp_cuda_error(ctx, err, what);
    }
    return KVP_OK;
}

kvp_status kvp_cuda_run(kvp_context *ctx, const kvp_op_call *call) {
    kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    kvp_gpu_plan plan;
    memset(&plan, 0, sizeof plan);
    KVP_TRY(kvp_gpu_plan_op(ctx, call, &c->caps, &plan));
    if (plan.n_passes < 0 || plan.n_passes > KVP_GPU_MAX_PASSES)
        return kvp__error(ctx, KVP_ERR_INTERNAL, "cuda: plan of op %s has %d passes",
                          kvp__op_name(call->op), plan.n_passes);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    kvp_status st = ensure_scratch(ctx, &plan);
    for (int i = 0; st == KVP_OK && i < plan.n_passes; i++) st = launch_pass(ctx, call, &plan, i);
    kvp_cuda_leave(&g);
    return st;
}
