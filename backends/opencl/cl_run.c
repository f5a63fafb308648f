/* Running an op on OpenCL: the op's GPU plan (backends/gpu/gpu_plan.c) becomes kernel
 * launches on the context's in-order queue, which also orders the passes (each sees the
 * writes of the previous ones). Nothing waits here; errors of queued work surface at the next
 * blocking call (download, synchronize). */
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

/* A bound buffer as the kernels see it: a cl_mem and an offset in 32-bit elements. */
typedef struct bound {
    cl_mem mem;
    cl_uint word_offset;
    cl_mem staged; /* a temporary holding the range when the byte offset is not a multiple of 4 */
    size_t byte_offset, bytes;
} bound;

static kvp_status ensure_scratch(kvp_context *ctx, kvp_cl_state *st, int k, size_t bytes) {
    if (st->scratch[k] && st->scratch_size[k] >= bytes) return KVP_OK;
    /* Grow by half again at least, so that slowly growing sizes do not reallocate each call.
     * Releasing a cl_mem still used by queued kernels is safe: OpenCL defers the free. */
    size_t want = bytes;
    if (st->scratch[k] && want < st->scratch_size[k] + st->scratch_size[k] / 2)
        want = st->scratch_size[k] + st->scratch_size[k] / 2;
    if (want > st->max_alloc) want = bytes;
    cl_mem m;
    KVP_TRY(kvp_cl_mem_create(ctx, want, &m));
    if (st->scratch[k]) clReleaseMemObject(st->scratch[k]);
    st->scratch[k] = m;
    st->scratch_size[k] = want;
    return KVP_OK;
}

/* Binds op binding i. Kernels index 32-bit elements from an element offset; a byte offset
 * that is not a multiple of 4 (a 16-bit tensor at an odd element) is staged through an
 * aligned temporary and, if the op writes the binding, copied back afterwards. */
static kvp_status bind_op_buffer(kvp_context *ctx, kvp_cl_state *st, const kvp_binding *bd,
                                 bound *out) {
    kvp_cl_buffer *b = kvp__buffer_handle(bd->buffer);
    memset(out, 0, sizeof *out);
    if (bd->offset % 4 == 0) {
        if (bd->offset / 4 > 0xffffffffu)
            return kvp__error(ctx, KVP_ERR_UNSUPPORTED, "opencl: binding offset %zu too large",
                              bd->offset);
        out->mem = b->mem;
        out->word_offset = (cl_uint)(bd->offset / 4);
        return KVP_OK;
    }
    out->byte_offset = bd->offset;
    out->bytes = b->size - bd->offset;
    KVP_TRY(kvp_cl_mem_create(ctx, (out->bytes + 3) & ~(size_t)3, &out->staged));
    KVP_CL_CHECK(ctx, clEnqueueCopyBuffer(st->queue, b->mem, out->staged, bd->offset, 0, out->bytes,
                                          0, NULL, NULL),
                 "clEnqueueCopyBuffer (staging)");
    out->mem = out->staged;
    return KVP_OK;
}

static kvp_status launch(kvp_context *ctx, kvp_cl_state *st, const kvp_gpu_pass *ps,
                         const bound *ops_bound) {
    cl_kernel k;
    KVP_TRY(kvp_cl_kernel_get(ctx, ps->kernel, &k));
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < ps->n_bindings && err == CL_SUCCESS; i++) {
        int src = ps->binding[i];
        cl_mem mem;
        cl_uint off = 0;
        if (src >= 0) {
            mem = ops_bound[src].mem;
            off = ops_bound[src].word_offset;
        } else {
            mem = st->scratch[-1 - src];
        }
        err = clSetKernelArg(k, (cl_uint)(2 * i), sizeof mem, &mem);
        if (err == CL_SUCCESS) err = clSetKernelArg(k, (cl_uint)(2 * i + 1), sizeof off, &off);
    }
    if (err == CL_SUCCESS)
        err = clSetKernelArg(k, (cl_uint)(2 * ps->n_bindings), ps->params_size, ps->params);
    if (err != CL_SUCCESS) return kvp_cl_fail(ctx, err, "clSetKernelArg", ps->kernel);
    size_t local[3] = {KVP_GPU_WG, 1, 1};
    size_t global[3] = {(size_t)ps->groups[0] * KVP_GPU_WG, ps->groups[1], ps->groups[2]};
    if (st->fail_after == 0) {
        st->fail_after = -1;
        return kvp_cl_fail(ctx, st->fail_error, "clEnqueueNDRangeKernel", "simulated");
    }
    if (st->fail_after > 0) st->fail_after--;
    err = clEnqueueNDRangeKernel(st->queue, k, 3, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS) return kvp_cl_fail(ctx, err, "clEnqueueNDRangeKernel", ps->kernel);
    return KVP_OK;
}

void kvp__cl_test_fail_launch(kvp_context *ctx, long after, cl_int error) {
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    st->fail_after = after < 0 ? -1 : after;
    st->fail_error = error;
}

kvp_status kvp_cl_run(kvp_context *ctx, const kvp_op_call *call) {
    KVP_TRY(kvp_cl_check_alive(ctx));
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    kvp_gpu_plan plan;
    KVP_TRY(kvp_gpu_plan_op(ctx, call, &st->caps, &plan));
    for (int k = 0; k < plan.n_scratch; k++) KVP_TRY(ensure_scratch(ctx, st, k, plan.scratch_bytes[k]));

    bound b[KVP_MAX_BINDINGS];
    memset(b, 0, sizeof b);
    kvp_status s = KVP_OK;
    for (int i = 0; i < call->n_bindings && s == KVP_OK; i++)
        s = bind_op_buffer(ctx, st, &call->bindings[i], &b[i]);
    for (int p = 0; p < plan.n_passes && s == KVP_OK; p++) s = launch(ctx, st, &plan.pass[p], b);
    for (int i = 0; i < call->n_bindings; i++) {
        if (!b[i].staged) continue;
        if (s == KVP_OK && (plan.written & (1u << i))) {
            kvp_cl_buffer *dst = kvp__buffer_handle(call->bindings[i].buffer);
            cl_int err = clEnqueueCopyBuffer(st->queue, b[i].staged, dst->mem, 0, b[i].byte_offset,
                                             b[i].bytes, 0, NULL, NULL);
            if (err != CL_SUCCESS) s = kvp_cl_fail(ctx, err, "clEnqueueCopyBuffer (staging)", NULL);
        }
        clReleaseMemObject(b[i].staged);
    }
    return s;
}
