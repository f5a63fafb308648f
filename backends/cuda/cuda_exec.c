/*
 * Running an op: the shared GPU planner (backends/gpu/gpu_plan.c) turns the call into passes;
 * this file launches them in order on the context's stream, which also orders them (each
 * sees the writes of the previous ones). The steps are those of the OpenCL runner
 * (backends/opencl/cl_run.c): plan, scratch, bind the op's buffers (staging a range whose
 * byte offset is not a multiple of 4), launch every pass, copy staged ranges the op wrote
 * back. So what the OpenCL tests prove about the plans carries over, and what is specific to
 * CUDA is checked before each launch: the pass must match the kernel's signature (parameter
 * size, number of buffers), and the grid must fit the device. Nothing waits here; errors of
 * queued work surface at the next blocking call (download, synchronize).
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

/* Grows scratch buffer k to `bytes`. The old buffer is released in stream order, so passes
 * queued earlier that still use it are unaffected. */
static kvp_status ensure_scratch(kvp_context *ctx, int k, size_t bytes) {
    kvp_cuda_scratch *s = &kvp_cuda_ctx_of(ctx)->scratch[k];
    if (bytes == 0 || (s->ptr && s->size >= bytes)) return KVP_OK;
    /* Grow by half again at least, so that slowly growing sizes do not reallocate each call. */
    size_t want = bytes;
    if (s->size && want < s->size + s->size / 2) want = s->size + s->size / 2;
    if (kvp__alloc_should_fail(ctx))
        return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                          "out of device memory allocating %zu bytes of scratch (simulated)",
                          bytes);
    void *p = NULL;
    int pooled = 0;
    kvp_status st = kvp_cuda_malloc(ctx, want, &p, &pooled, "plan scratch");
    if (st != KVP_OK && want != bytes) {
        want = bytes;
        st = kvp_cuda_malloc(ctx, want, &p, &pooled, "plan scratch");
    }
    if (st != KVP_OK) return st;
    kvp_cuda_free(ctx, s->ptr, pooled);
    s->ptr = p;
    s->size = want;
    return KVP_OK;
}

/* An op binding as the kernels see it. */
typedef struct bound {
    char *ptr;      /* the device address passed to the kernels */
    void *staged;   /* a temporary holding the range when its address is not 4-byte aligned */
    int staged_pooled;
    char *origin;   /* where the staged range lives */
    size_t bytes;
} bound;

/* Binds op binding i. Kernels read 32-bit words; a range at an address that is not a
 * multiple of 4 (a 16-bit tensor at an odd element) is staged through an aligned temporary
 * and, if the op writes the binding, copied back afterwards. */
static kvp_status bind_op_buffer(kvp_context *ctx, const kvp_binding *bd, bound *out) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    const kvp_cuda_buffer *b = kvp__buffer_handle(bd->buffer);
    memset(out, 0, sizeof *out);
    char *p = (char *)b->ptr + bd->offset;
    if ((uintptr_t)p % 4 == 0) {
        out->ptr = p;
        return KVP_OK;
    }
    out->origin = p;
    out->bytes = b->size - bd->offset;
    size_t alloc = (out->bytes + 3) & ~(size_t)3;
    KVP_TRY(kvp_cuda_malloc(ctx, alloc ? alloc : 4, &out->staged, &out->staged_pooled,
                            "a staged binding"));
    cudaError_t err = cudaMemcpyAsync(out->staged, p, out->bytes, cudaMemcpyDeviceToDevice,
                                      c->stream);
    if (err != cudaSuccess) {
        kvp_status st = kvp_cuda_error(ctx, err, "cudaMemcpyAsync (staging)");
        kvp_cuda_free(ctx, out->staged, out->staged_pooled);
        out->staged = NULL;
        return st;
    }
    out->ptr = out->staged;
    return KVP_OK;
}

static kvp_status launch(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_plan *plan,
                         int index, const bound *ops_bound) {
    const kvp_cuda_ctx *c = kvp_cuda_ctx_of(ctx);
    const kvp_gpu_pass *ps = &plan->pass[index];
    const char *op = kvp__op_name(call->op);

    const kvp_cuda_kernel *k = kvp_cuda_kernel_find(ps->kernel);
    if (!k)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                          "cuda: this build has no CUDA kernel '%s' (pass %d of op %s); add "
                          "shaders/cuda/%s.cu",
                          ps->kernel ? ps->kernel : "(null)", index, op,
                          ps->kernel ? ps->kernel : "?");
    if (ps->n_bindings != k->n_buffers || ps->params_size != k->params_size)
        return kvp__error(ctx, KVP_ERR_INTERNAL,
                          "cuda: pass %d of op %s gives kernel %s %d buffers and %zu parameter "
                          "bytes; the kernel takes %d and %zu",
                          index, op, k->name, ps->n_bindings, ps->params_size, k->n_buffers,
                          k->params_size);

    /* An empty grid is an empty pass (CUDA rejects a zero dimension). */
    if (ps->groups[0] == 0 || ps->groups[1] == 0 || ps->groups[2] == 0) return KVP_OK;
    for (int d = 0; d < 3; d++)
        if (ps->groups[d] > c->caps.max_groups[d])
            return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                              "cuda: kernel %s (op %s) needs a grid of %u x %u x %u blocks; the "
                              "device allows %u x %u x %u",
                              k->name, op, ps->groups[0], ps->groups[1], ps->groups[2],
                              c->caps.max_groups[0], c->caps.max_groups[1], c->caps.max_groups[2]);

    void *ptrs[KVP_GPU_MAX_PASS_BINDINGS];
    void *args[1 + KVP_GPU_MAX_PASS_BINDINGS];
    /* The parameter block is passed by value: cudaLaunchKernel copies params_size bytes. */
    args[0] = (void *)ps->params;
    for (int i = 0; i < ps->n_bindings; i++) {
        int src = ps->binding[i];
        if (src >= 0 ? src >= call->n_bindings : (-1 - src >= plan->n_scratch))
            return kvp__error(ctx, KVP_ERR_INTERNAL,
                              "cuda: kernel %s binding %d refers to %s %d, which the op does not "
                              "have",
                              k->name, i, src >= 0 ? "op binding" : "scratch",
                              src >= 0 ? src : -1 - src);
        ptrs[i] = src >= 0 ? (void *)ops_bound[src].ptr : c->scratch[-1 - src].ptr;
        args[1 + i] = &ptrs[i];
    }

    dim3 grid = {ps->groups[0], ps->groups[1], ps->groups[2]};
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
    if (plan.n_passes < 0 || plan.n_passes > KVP_GPU_MAX_PASSES || plan.n_scratch < 0 ||
        plan.n_scratch > KVP_GPU_MAX_SCRATCH)
        return kvp__error(ctx, KVP_ERR_INTERNAL, "cuda: plan of op %s has %d passes, %d scratch",
                          kvp__op_name(call->op), plan.n_passes, plan.n_scratch);
    kvp_cuda_guard g;
    KVP_TRY(kvp_cuda_enter(ctx, &g));
    kvp_status s = KVP_OK;
    for (int k = 0; k < plan.n_scratch && s == KVP_OK; k++)
        s = ensure_scratch(ctx, k, plan.scratch_bytes[k]);

    bound b[KVP_MAX_BINDINGS];
    memset(b, 0, sizeof b);
    for (int i = 0; i < call->n_bindings && s == KVP_OK; i++)
        s = bind_op_buffer(ctx, &call->bindings[i], &b[i]);
    for (int p = 0; p < plan.n_passes && s == KVP_OK; p++) s = launch(ctx, call, &plan, p, b);
    for (int i = 0; i < call->n_bindings; i++) {
        if (!b[i].staged) continue;
        if (s == KVP_OK && (plan.written & (1u << i))) {
            cudaError_t err = cudaMemcpyAsync(b[i].origin, b[i].staged, b[i].bytes,
                                              cudaMemcpyDeviceToDevice, c->stream);
            if (err != cudaSuccess) s = kvp_cuda_error(ctx, err, "cudaMemcpyAsync (staging)");
        }
        kvp_cuda_free(ctx, b[i].staged, b[i].staged_pooled);
    }
    kvp_cuda_leave(&g);
    return s;
}
