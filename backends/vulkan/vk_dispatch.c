/*
 * run: executes an op as the shared GPU plan describes it (backends/gpu/gpu_plan.h).
 *
 * Everything that can fail for reasons other than the device (a malformed plan, a kernel
 * that does not build, scratch or staging memory that does not fit) is checked before the
 * first command is recorded, so a failed run records nothing. Each pass then gets a
 * descriptor set from the batch's pool, its parameters as push constants and a dispatch;
 * vk_access() inserts the barriers that order it after the passes and copies it depends on.
 * Nothing waits here: the batch is submitted when it is full or when the host needs a result.
 *
 * Misaligned bindings. A descriptor can only start at a multiple of the device's
 * minStorageBufferOffsetAlignment, but the core binds caller memory (wrapped cache layers,
 * device tensors) at any byte offset, as the other backends accept. Such a binding is
 * staged: the rest of its buffer from the offset is copied into an aligned temporary before
 * the op, bound instead, and copied back after the op when the op writes that binding
 * (kvp_gpu_plan.written). Bindings with the same buffer and offset share one temporary, so
 * aliasing behaves as without staging.
 */
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"

typedef struct bound {
    VkBuffer buffer;
    VkDeviceSize offset;
    VkDeviceSize range; /* VK_WHOLE_SIZE or a clamped range */
    VkDeviceSize end;   /* for hazard tracking */
} bound;

static kvp_status check_plan(kvp_vk_context *vk, const kvp_op_call *call,
                             const kvp_gpu_plan *plan) {
    const char *op = kvp__op_name(call->op);
    if (plan->n_passes < 0 || plan->n_passes > KVP_GPU_MAX_PASSES || plan->n_scratch < 0 ||
        plan->n_scratch > KVP_GPU_MAX_SCRATCH)
        return kvp__error(vk->ctx, KVP_ERR_INTERNAL,
                          "vulkan: the plan of op %s has %d passes and %d scratch buffers", op,
                          plan->n_passes, plan->n_scratch);
    for (int p = 0; p < plan->n_passes; p++) {
        const kvp_gpu_pass *ps = &plan->pass[p];
        if (!ps->kernel || ps->n_bindings < 0 || ps->n_bindings > KVP_GPU_MAX_PASS_BINDINGS ||
            ps->params_size > KVP_GPU_MAX_PARAMS)
            return kvp__error(vk->ctx, KVP_ERR_INTERNAL, "vulkan: pass %d of op %s is malformed", p,
                              op);
        for (int d = 0; d < 3; d++)
            if (ps->groups[d] > vk->caps.max_groups[d])
                return kvp__error(vk->ctx, KVP_ERR_INTERNAL,
                                  "vulkan: pass %d of op %s (%s) dispatches %u groups in "
                                  "dimension %d; the device allows %u",
                                  p, op, ps->kernel, ps->groups[d], d, vk->caps.max_groups[d]);
        for (int k = 0; k < ps->n_bindings; k++) {
            int src = ps->binding[k];
            int ok = src >= 0 ? src < call->n_bindings : -1 - src < plan->n_scratch;
            if (!ok)
                return kvp__error(vk->ctx, KVP_ERR_INTERNAL,
                                  "vulkan: pass %d of op %s binds source %d, which does not exist",
                                  p, op, src);
        }
    }
    for (int i = 0; i < call->n_bindings; i++) {
        const kvp_vk_buffer *b = kvp__buffer_handle(call->bindings[i].buffer);
        size_t off = call->bindings[i].offset;
        if (off >= b->size)
            return kvp__error(
                vk->ctx, KVP_ERR_INVALID_ARG,
                "vulkan: op %s: binding %d starts at byte offset %zu, past the end of "
                "its buffer (%llu bytes)",
                op, i, off, (unsigned long long)b->size);
    }
    return KVP_OK;
}

static kvp_status ensure_scratch(kvp_vk_context *vk, const kvp_op_call *call,
                                 const kvp_gpu_plan *plan) {
    VkDeviceSize max_range = vk->info.props.limits.maxStorageBufferRange;
    for (int k = 0; k < plan->n_scratch; k++) {
        VkDeviceSize need = plan->scratch_bytes[k] ? plan->scratch_bytes[k] : 4;
        /* A scratch buffer is bound whole: one larger than a descriptor can reach would be
         * silently truncated. */
        if (need > max_range)
            return kvp__error(vk->ctx, KVP_ERR_UNSUPPORTED,
                              "vulkan: op %s needs a scratch buffer of %llu bytes; this device "
                              "binds at most %llu bytes (maxStorageBufferRange)",
                              kvp__op_name(call->op), (unsigned long long)need,
                              (unsigned long long)max_range);
        kvp_vk_buffer *old = vk->scratch[k];
        if (old && old->size >= need) continue;
        /* Grow by half again at least, so slowly growing inputs do not reallocate each call. */
        VkDeviceSize want = need;
        if (old && want < old->size + old->size / 2) want = old->size + old->size / 2;
        kvp_vk_buffer *nb = NULL;
        kvp_status st = kvp_vk_buffer_create(vk, want, KVP_VK_MEM_DEVICE, &nb);
        if (st != KVP_OK && want != need)
            st = kvp_vk_buffer_create(vk, need, KVP_VK_MEM_DEVICE, &nb);
        if (st != KVP_OK) return st;
        kvp_vk_release(vk, old); /* batches in flight may still use it */
        vk->scratch[k] = nb;
    }
    return KVP_OK;
}

/* Bytes of b's VkBuffer from `off` to its end. Our buffers are padded to 16 bytes (see
 * kvp_vk_buffer_create) and the padding is bindable; wrapped ones end at the caller's size. */
static VkDeviceSize tail_bytes(const kvp_vk_buffer *b, VkDeviceSize off) {
    VkDeviceSize total = b->wrapped ? b->size : (b->size + 15) / 16 * 16;
    return total - off;
}

static bound resolve(kvp_vk_context *vk, const kvp_op_call *call, kvp_vk_buffer *const *staged,
                     int src) {
    const kvp_vk_buffer *b;
    VkDeviceSize off = 0;
    if (src >= 0 && staged[src]) {
        b = staged[src];
    } else if (src >= 0) {
        b = kvp__buffer_handle(call->bindings[src].buffer);
        off = call->bindings[src].offset;
    } else {
        b = vk->scratch[-1 - src];
    }
    VkDeviceSize total = off + tail_bytes(b, off);
    VkDeviceSize max = vk->info.props.limits.maxStorageBufferRange;
    bound r = {.buffer = b->buffer, .offset = off, .range = VK_WHOLE_SIZE, .end = total};
    if (total - off > max) {
        r.range = max / 4 * 4;
        r.end = off + r.range;
        if (!vk->warned_range) {
            vk->warned_range = 1;
            kvp__log(vk->ctx, KVP_LOG_WARN,
                     "vulkan: a buffer of %llu bytes is bound through its first %llu bytes only "
                     "(maxStorageBufferRange of this device)",
                     (unsigned long long)(total - off), (unsigned long long)r.range);
        }
    }
    return r;
}

/* Records a copy of `bytes` from (src, so) to (dst, dof) in the recording batch. */
static kvp_status record_copy(kvp_vk_context *vk, const kvp_vk_buffer *src, VkDeviceSize so,
                              const kvp_vk_buffer *dst, VkDeviceSize dof, VkDeviceSize bytes) {
    kvp_vk_slot *s;
    KVP_TRY(kvp_vk_begin(vk, &s));
    kvp_vk_range r[2] = {{src->buffer, so, so + bytes, 0}, {dst->buffer, dof, dof + bytes, 1}};
    kvp_vk_access(vk, s, r, 2);
    VkBufferCopy region = {.srcOffset = so, .dstOffset = dof, .size = bytes};
    vk->dfn.vkCmdCopyBuffer(s->cmd, src->buffer, dst->buffer, 1, &region);
    s->n_commands++;
    return KVP_OK;
}

/* Creates the aligned temporaries of the misaligned op bindings (staged[i], shared by the
 * bindings with the same buffer and offset); nothing is recorded yet. */
static kvp_status stage_create(kvp_vk_context *vk, const kvp_op_call *call,
                               kvp_vk_buffer **staged) {
    VkDeviceSize align = vk->info.props.limits.minStorageBufferOffsetAlignment;
    for (int i = 0; i < call->n_bindings; i++) {
        staged[i] = NULL;
        size_t off = call->bindings[i].offset;
        if (align <= 1 || off % align == 0) continue;
        for (int j = 0; j < i && !staged[i]; j++)
            if (staged[j] && call->bindings[j].buffer == call->bindings[i].buffer &&
                call->bindings[j].offset == off)
                staged[i] = staged[j];
        if (staged[i]) continue;
        const kvp_vk_buffer *b = kvp__buffer_handle(call->bindings[i].buffer);
        KVP_TRY(kvp_vk_buffer_create(vk, tail_bytes(b, off), KVP_VK_MEM_DEVICE, &staged[i]));
    }
    return KVP_OK;
}

/* Copies in (before = 1) or back (before = 0, written bindings only); each temporary once. */
static kvp_status stage_copy(kvp_vk_context *vk, const kvp_op_call *call, unsigned written,
                             kvp_vk_buffer *const *staged, int before) {
    for (int i = 0; i < call->n_bindings; i++) {
        int first = staged[i] != NULL;
        for (int j = 0; j < i && first; j++) first = staged[j] != staged[i];
        if (!first) continue;
        /* Written through any binding that shares the temporary. */
        int w = 0;
        for (int j = i; j < call->n_bindings; j++)
            w |= staged[j] == staged[i] && (written >> j) & 1u;
        if (!before && !w) continue;
        const kvp_vk_buffer *b = kvp__buffer_handle(call->bindings[i].buffer);
        VkDeviceSize off = call->bindings[i].offset, bytes = tail_bytes(b, off);
        if (before)
            KVP_TRY(record_copy(vk, b, off, staged[i], 0, bytes));
        else
            KVP_TRY(record_copy(vk, staged[i], 0, b, off, bytes));
    }
    return KVP_OK;
}

static void stage_release(kvp_vk_context *vk, const kvp_op_call *call, kvp_vk_buffer **staged) {
    for (int i = 0; i < call->n_bindings; i++) {
        if (!staged[i]) continue;
        kvp_vk_buffer *t = staged[i];
        for (int j = i; j < call->n_bindings; j++)
            if (staged[j] == t) staged[j] = NULL;
        kvp_vk_release(vk, t); /* after the batches that use it */
    }
}

static kvp_status record_passes(kvp_vk_context *vk, const kvp_op_call *call,
                                const kvp_gpu_plan *plan, const VkPipeline *pipe,
                                kvp_vk_buffer *const *staged) {
    for (int p = 0; p < plan->n_passes; p++) {
        const kvp_gpu_pass *ps = &plan->pass[p];
        if (ps->groups[0] == 0 || ps->groups[1] == 0 || ps->groups[2] == 0) continue;
        kvp_vk_slot *s;
        VkDescriptorSet set;
        KVP_TRY(kvp_vk_begin(vk, &s));
        KVP_TRY(kvp_vk_alloc_set(vk, s, &set));
        if (!set) {
            /* The batch's pool is full: submit it and continue in the next batch. */
            KVP_TRY(kvp_vk_flush(vk));
            KVP_TRY(kvp_vk_begin(vk, &s));
            KVP_TRY(kvp_vk_alloc_set(vk, s, &set));
            if (!set)
                return kvp__error(vk->ctx, KVP_ERR_INTERNAL,
                                  "vulkan: no descriptor set available in a fresh batch");
        }
        VkDescriptorBufferInfo info[KVP_GPU_MAX_PASS_BINDINGS];
        kvp_vk_range ranges[KVP_GPU_MAX_PASS_BINDINGS];
        for (int k = 0; k < ps->n_bindings; k++) {
            bound b = resolve(vk, call, staged, ps->binding[k]);
            info[k] =
                (VkDescriptorBufferInfo){.buffer = b.buffer, .offset = b.offset, .range = b.range};
            /* Which pass writes which binding is not part of the plan: every binding counts
             * as written, which orders a pass after anything touching its buffers. */
            ranges[k] = (kvp_vk_range){b.buffer, b.offset, b.end, 1};
        }
        kvp_vk_access(vk, s, ranges, ps->n_bindings);
        if (ps->n_bindings > 0) {
            /* One write covers bindings 0 .. n-1 (consecutive bindings of the same type). */
            VkWriteDescriptorSet w = {
                .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                .dstSet = set,
                .dstBinding = 0,
                .descriptorCount = (uint32_t)ps->n_bindings,
                .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .pBufferInfo = info,
            };
            vk->dfn.vkUpdateDescriptorSets(vk->device, 1, &w, 0, NULL);
        }
        vk->dfn.vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe[p]);
        vk->dfn.vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipeline_layout,
                                        0, 1, &set, 0, NULL);
        if (ps->params_size > 0)
            vk->dfn.vkCmdPushConstants(s->cmd, vk->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                       (uint32_t)((ps->params_size + 3) / 4 * 4), ps->params);
        vk->dfn.vkCmdDispatch(s->cmd, ps->groups[0], ps->groups[1], ps->groups[2]);
        s->n_commands++;
        if (s->n_commands >= KVP_VK_SUBMIT_EVERY) KVP_TRY(kvp_vk_flush(vk));
    }
    return KVP_OK;
}

kvp_status kvp_vk_run_plan(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_plan *plan) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    if (vk->lost)
        return kvp__error(ctx, KVP_ERR_DEVICE_LOST,
                          "vulkan: the device was lost; the context cannot be used any more");
    KVP_TRY(check_plan(vk, call, plan));
    VkPipeline pipe[KVP_GPU_MAX_PASSES];
    for (int p = 0; p < plan->n_passes; p++)
        KVP_TRY(kvp_vk_pipeline(vk, plan->pass[p].kernel, &pipe[p]));
    KVP_TRY(ensure_scratch(vk, call, plan));
    kvp_vk_buffer *staged[KVP_MAX_BINDINGS] = {NULL};
    kvp_status st = stage_create(vk, call, staged);
    if (st == KVP_OK) st = stage_copy(vk, call, plan->written, staged, 1);
    if (st == KVP_OK) st = record_passes(vk, call, plan, pipe, staged);
    if (st == KVP_OK) st = stage_copy(vk, call, plan->written, staged, 0);
    stage_release(vk, call, staged);
    return st;
}

kvp_status kvp_vk_run(kvp_context *ctx, const kvp_op_call *call) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    if (vk->lost)
        return kvp__error(ctx, KVP_ERR_DEVICE_LOST,
                          "vulkan: the device was lost; the context cannot be used any more");
    kvp_gpu_plan plan;
    memset(&plan, 0, sizeof plan);
    KVP_TRY(kvp_gpu_plan_op(ctx, call, &vk->caps, &plan));
    return kvp_vk_run_plan(ctx, call, &plan);
}
