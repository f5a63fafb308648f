/*
 * run: executes an op as the shared GPU plan describes it (backends/gpu/gpu_plan.h).
 *
 * Everything that can fail for reasons other than the device (a malformed plan, a
 * misaligned binding offset, a kernel that does not build, scratch that does not fit) is
 * checked before the first command is recorded, so a failed run records nothing. Each pass
 * then gets a descriptor set from the batch's pool, its parameters as push constants and a
 * dispatch; vk_access() inserts the barriers that order it after the passes and copies it
 * depends on. Nothing waits here: the batch is submitted when it is full or when the host
 * needs a result.
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
            return kvp__error(vk->ctx, KVP_ERR_INTERNAL,
                              "vulkan: pass %d of op %s is malformed", p, op);
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
    /* Descriptor offsets must honour the device's alignment; only caller memory (wrapped
     * cache layers, device tensors) can have offsets at all. */
    VkDeviceSize align = vk->info.props.limits.minStorageBufferOffsetAlignment;
    for (int i = 0; i < call->n_bindings; i++) {
        const kvp_vk_buffer *b = kvp__buffer_handle(call->bindings[i].buffer);
        size_t off = call->bindings[i].offset;
        if (align > 1 && off % align != 0)
            return kvp__error(vk->ctx, KVP_ERR_INVALID_ARG,
                              "vulkan: op %s: binding %d starts at byte offset %zu, which is not "
                              "a multiple of the device's minStorageBufferOffsetAlignment (%llu); "
                              "align cache layers and device tensors to it",
                              op, i, off, (unsigned long long)align);
        if (off >= b->size)
            return kvp__error(vk->ctx, KVP_ERR_INVALID_ARG,
                              "vulkan: op %s: binding %d starts at byte offset %zu, past the end of "
                              "its buffer (%llu bytes)",
                              op, i, off, (unsigned long long)b->size);
    }
    return KVP_OK;
}

static kvp_status ensure_scratch(kvp_vk_context *vk, const kvp_gpu_plan *plan) {
    for (int k = 0; k < plan->n_scratch; k++) {
        VkDeviceSize need = plan->scratch_bytes[k] ? plan->scratch_bytes[k] : 4;
        kvp_vk_buffer *old = vk->scratch[k];
        if (old && old->size >= need) continue;
        /* Grow by half again at least, so slowly growing inputs do not reallocate each call. */
        VkDeviceSize want = need;
        if (old && want < old->size + old->size / 2) want = old->size + old->size / 2;
        kvp_vk_buffer *nb = NULL;
        kvp_status st = kvp_vk_buffer_create(vk, want, KVP_VK_MEM_DEVICE, &nb);
        if (st != KVP_OK && want != need) st = kvp_vk_buffer_create(vk, need, KVP_VK_MEM_DEVICE, &nb);
        if (st != KVP_OK) return st;
        kvp_vk_release(vk, old); /* batches in flight may still use it */
        vk->scratch[k] = nb;
    }
    return KVP_OK;
}

static bound resolve(kvp_vk_context *vk, const kvp_op_call *call, int src) {
    const kvp_vk_buffer *b;
    VkDeviceSize off = 0;
    if (src >= 0) {
        b = kvp__buffer_handle(call->bindings[src].buffer);
        off = call->bindings[src].offset;
    } else {
        b = vk->scratch[-1 - src];
    }
    /* Our buffers are padded to 16 bytes (see kvp_vk_buffer_create): the whole rest of the
     * VkBuffer is bindable. Wrapped buffers end at the size the caller gave. */
    VkDeviceSize total = b->wrapped ? b->size : (b->size + 15) / 16 * 16;
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

kvp_status kvp_vk_run_plan(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_plan *plan) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    if (vk->lost)
        return kvp__error(ctx, KVP_ERR_DEVICE_LOST,
                          "vulkan: the device was lost; the context cannot be used any more");
    KVP_TRY(check_plan(vk, call, plan));
    VkPipeline pipe[KVP_GPU_MAX_PASSES];
    for (int p = 0; p < plan->n_passes; p++)
        KVP_TRY(kvp_vk_pipeline(vk, plan->pass[p].kernel, &pipe[p]));
    KVP_TRY(ensure_scratch(vk, plan));

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
                return kvp__error(ctx, KVP_ERR_INTERNAL,
                                  "vulkan: no descriptor set available in a fresh batch");
        }
        VkDescriptorBufferInfo info[KVP_GPU_MAX_PASS_BINDINGS];
        kvp_vk_range ranges[KVP_GPU_MAX_PASS_BINDINGS];
        for (int k = 0; k < ps->n_bindings; k++) {
            bound b = resolve(vk, call, ps->binding[k]);
            info[k] = (VkDescriptorBufferInfo){.buffer = b.buffer, .offset = b.offset, .range = b.range};
            /* Whether a kernel writes a binding is not part of the plan: every binding
             * counts as written, which orders a pass after anything touching its buffers. */
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
        vk->dfn.vkCmdBindDescriptorSets(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
                                        vk->pipeline_layout, 0, 1, &set, 0, NULL);
        if (ps->params_size > 0)
            vk->dfn.vkCmdPushConstants(s->cmd, vk->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                       (uint32_t)((ps->params_size + 3) / 4 * 4), ps->params);
        vk->dfn.vkCmdDispatch(s->cmd, ps->groups[0], ps->groups[1], ps->groups[2]);
        s->n_commands++;
        if (s->n_commands >= KVP_VK_SUBMIT_EVERY) KVP_TRY(kvp_vk_flush(vk));
    }
    return KVP_OK;
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
