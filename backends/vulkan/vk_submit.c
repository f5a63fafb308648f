/*
 * Batches: how the backend records and submits work.
 *
 * A context owns a ring of KVP_VK_SLOTS batch slots. Each slot has a command buffer, a fence,
 * a descriptor pool and a host-visible staging area. Ops, uploads and copies are recorded
 * into the current slot; the slot is submitted when its descriptor pool or staging area is
 * full, or when the host needs results (download, synchronize). The CPU then records into
 * the next slot while the GPU runs the previous ones; a slot is reused only after its fence
 * signalled, which is when its pool, staging area and deferred frees are recycled.
 *
 * Ordering: all batches go to one queue. Each command buffer starts with a full memory
 * barrier (so it sees everything submitted before it, ours or the application's) and ends
 * with one (so later work, and the host after the fence, sees its writes). Inside a batch,
 * vk_access() remembers the buffer ranges touched since the last barrier and records a
 * barrier only when a command would read or write what an earlier one wrote (or write what
 * an earlier one read); independent uploads and copies thus need no barriers.
 */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

kvp_status kvp_vk_slots_init(kvp_vk_context *vk) {
    VkCommandBuffer cmd[KVP_VK_SLOTS];
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = KVP_VK_SLOTS,
    };
    KVP_VK_TRY(vk, "vkAllocateCommandBuffers",
               vk->dfn.vkAllocateCommandBuffers(vk->device, &ai, cmd));
    for (int i = 0; i < KVP_VK_SLOTS; i++) vk->slots[i].cmd = cmd[i];
    for (int i = 0; i < KVP_VK_SLOTS; i++) {
        kvp_vk_slot *s = &vk->slots[i];
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        KVP_VK_TRY(vk, "vkCreateFence", vk->dfn.vkCreateFence(vk->device, &fi, NULL, &s->fence));
        VkDescriptorPoolSize size = {
            .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = KVP_VK_SETS_PER_SLOT * KVP_VK_BINDINGS,
        };
        VkDescriptorPoolCreateInfo pi = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
            .maxSets = KVP_VK_SETS_PER_SLOT,
            .poolSizeCount = 1,
            .pPoolSizes = &size,
        };
        KVP_VK_TRY(vk, "vkCreateDescriptorPool",
                   vk->dfn.vkCreateDescriptorPool(vk->device, &pi, NULL, &s->pool));
    }
    return KVP_OK;
}

static void destroy_garbage(kvp_vk_context *vk, kvp_vk_slot *s) {
    for (int i = 0; i < s->n_garbage; i++) kvp_vk_buffer_destroy(vk, s->garbage[i]);
    s->n_garbage = 0;
}

void kvp_vk_slots_destroy(kvp_vk_context *vk) {
    for (int i = 0; i < KVP_VK_SLOTS; i++) {
        kvp_vk_slot *s = &vk->slots[i];
        destroy_garbage(vk, s);
        free(s->garbage);
        s->garbage = NULL;
        kvp_vk_buffer_destroy(vk, s->staging);
        s->staging = NULL;
        if (s->pool) vk->dfn.vkDestroyDescriptorPool(vk->device, s->pool, NULL);
        if (s->fence) vk->dfn.vkDestroyFence(vk->device, s->fence, NULL);
        /* The command buffers go with the command pool. */
    }
}

/* Waits for a submitted slot and recycles what it used. */
static kvp_status retire(kvp_vk_context *vk, kvp_vk_slot *s) {
    if (s->state != KVP_VK_SLOT_SUBMITTED) return KVP_OK;
    VkResult r = vk->dfn.vkWaitForFences(vk->device, 1, &s->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return kvp_vk_error(vk, r, "vkWaitForFences");
    r = vk->dfn.vkResetFences(vk->device, 1, &s->fence);
    if (r != VK_SUCCESS) return kvp_vk_error(vk, r, "vkResetFences");
    r = vk->dfn.vkResetDescriptorPool(vk->device, s->pool, 0);
    if (r != VK_SUCCESS) return kvp_vk_error(vk, r, "vkResetDescriptorPool");
    destroy_garbage(vk, s);
    s->staging_used = 0;
    s->sets_used = 0;
    s->n_commands = 0;
    s->state = KVP_VK_SLOT_IDLE;
    return KVP_OK;
}

/* A barrier between every kind of earlier access and the kernels and copies that follow. */
static void full_barrier(kvp_vk_context *vk, VkCommandBuffer cmd, VkPipelineStageFlags src,
                         VkPipelineStageFlags dst) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT,
    };
    vk->dfn.vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

kvp_status kvp_vk_begin(kvp_vk_context *vk, kvp_vk_slot **slot) {
    *slot = NULL;
    if (vk->lost)
        return kvp__error(vk->ctx, KVP_ERR_DEVICE_LOST,
                          "vulkan: the device was lost; the context cannot be used any more");
    kvp_vk_slot *s = &vk->slots[vk->cur];
    if (s->state != KVP_VK_SLOT_RECORDING) {
        KVP_TRY(retire(vk, s));
        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        KVP_VK_TRY(vk, "vkBeginCommandBuffer", vk->dfn.vkBeginCommandBuffer(s->cmd, &bi));
        full_barrier(vk, s->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT);
        s->state = KVP_VK_SLOT_RECORDING;
        s->n_commands = 0;
        vk->n_hazards = 0;
    }
    *slot = s;
    return KVP_OK;
}

kvp_status kvp_vk_flush(kvp_vk_context *vk) {
    kvp_vk_slot *s = &vk->slots[vk->cur];
    if (s->state != KVP_VK_SLOT_RECORDING || s->n_commands == 0) return KVP_OK;
    /* Make the batch's writes available to whatever comes next, the host included. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask =
            VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT | VK_ACCESS_HOST_READ_BIT,
    };
    vk->dfn.vkCmdPipelineBarrier(
        s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
        VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0,
        NULL);
    const char *what = "vkEndCommandBuffer";
    VkResult r = vk->dfn.vkEndCommandBuffer(s->cmd);
    if (r == VK_SUCCESS) {
        what = "vkQueueSubmit";
        VkSubmitInfo si = {
            .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
            .commandBufferCount = 1,
            .pCommandBuffers = &s->cmd,
        };
        r = vk->dfn.vkQueueSubmit(vk->queue, 1, &si, s->fence);
    }
    if (r != VK_SUCCESS) {
        /* The batch never ran: drop it. Its deferred frees may still be in use by earlier
         * batches, so they wait for those (unless the device is gone). */
        kvp_status st = kvp_vk_error(vk, r, what);
        s->state = KVP_VK_SLOT_IDLE;
        s->n_commands = 0;
        s->staging_used = 0;
        s->sets_used = 0;
        if (!vk->lost) {
            for (int i = 0; i < KVP_VK_SLOTS; i++) retire(vk, &vk->slots[i]);
            destroy_garbage(vk, s);
            vk->dfn.vkResetDescriptorPool(vk->device, s->pool, 0);
        }
        return st;
    }
    s->state = KVP_VK_SLOT_SUBMITTED;
    vk->cur = (vk->cur + 1) % KVP_VK_SLOTS;
    return KVP_OK;
}

kvp_status kvp_vk_wait_all(kvp_vk_context *vk) {
    if (vk->lost)
        return kvp__error(vk->ctx, KVP_ERR_DEVICE_LOST,
                          "vulkan: the device was lost; the context cannot be used any more");
    kvp_status st = kvp_vk_flush(vk);
    /* Oldest first: vk->cur is the slot submitted longest ago (or the recording one). */
    for (int i = 0; i < KVP_VK_SLOTS; i++) {
        kvp_status r = retire(vk, &vk->slots[(vk->cur + i) % KVP_VK_SLOTS]);
        if (st == KVP_OK) st = r;
    }
    kvp_vk_slot *s = &vk->slots[vk->cur];
    /* A recording slot without commands can only hold frees of buffers no batch uses now. */
    if (st == KVP_OK && s->n_commands == 0) destroy_garbage(vk, s);
    return st;
}

void kvp_vk_access(kvp_vk_context *vk, kvp_vk_slot *slot, const kvp_vk_range *r, int n) {
    /* All ranges of the command are checked first and recorded after the barrier: a
     * barrier forgets everything before it, and must not forget this command's ranges. */
    int conflict = vk->n_hazards + n > KVP_VK_MAX_HAZARDS;
    for (int k = 0; k < n && !conflict; k++) {
        for (int i = 0; i < vk->n_hazards && !conflict; i++) {
            const kvp_vk_range *h = &vk->hazards[i];
            if (h->buffer == r[k].buffer && h->begin < r[k].end && r[k].begin < h->end &&
                (h->write || r[k].write))
                conflict = 1;
        }
    }
    if (conflict) {
        VkMemoryBarrier mb = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
            .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
            .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                             VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        };
        VkPipelineStageFlags stages =
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
        vk->dfn.vkCmdPipelineBarrier(slot->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
        vk->n_hazards = 0;
    }
    for (int k = 0; k < n && vk->n_hazards < KVP_VK_MAX_HAZARDS; k++)
        vk->hazards[vk->n_hazards++] = r[k];
}

kvp_status kvp_vk_alloc_set(kvp_vk_context *vk, kvp_vk_slot *slot, VkDescriptorSet *set) {
    *set = VK_NULL_HANDLE;
    if (slot->sets_used >= KVP_VK_SETS_PER_SLOT) return KVP_OK;
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = slot->pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &vk->set_layout,
    };
    VkResult r = vk->dfn.vkAllocateDescriptorSets(vk->device, &ai, set);
    if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
        /* Treated as "slot full" unless the pool is fresh, where it is a real failure. */
        *set = VK_NULL_HANDLE;
        if (slot->sets_used > 0) return KVP_OK;
    }
    if (r != VK_SUCCESS) return kvp_vk_error(vk, r, "vkAllocateDescriptorSets");
    slot->sets_used++;
    return KVP_OK;
}

static VkDeviceSize round_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

kvp_status kvp_vk_staging(kvp_vk_context *vk, VkDeviceSize want, kvp_vk_slot **slot,
                          VkDeviceSize *offset, VkDeviceSize *got) {
    VkDeviceSize piece = want < KVP_VK_STAGING_MAX ? want : KVP_VK_STAGING_MAX;
    for (;;) {
        kvp_vk_slot *s;
        KVP_TRY(kvp_vk_begin(vk, &s));
        VkDeviceSize cap = s->staging ? s->staging->size : 0;
        VkDeviceSize avail = cap > s->staging_used ? cap - s->staging_used : 0;
        VkDeviceSize take = 0;
        if (avail >= piece)
            take = piece;
        else if (avail >= KVP_VK_STAGING_MIN)
            take = avail; /* part of a large upload; the caller comes back for the rest */
        else if (s->staging_used == 0) {
            /* Nothing recorded reads the old area: grow it (powers of two, bounded). */
            VkDeviceSize size = KVP_VK_STAGING_MIN;
            while (size < piece) size *= 2;
            kvp_vk_buffer *nb = NULL;
            KVP_TRY(kvp_vk_buffer_create(vk, size, KVP_VK_MEM_UPLOAD, &nb));
            kvp_vk_buffer_destroy(vk, s->staging);
            s->staging = nb;
            take = piece;
        } else {
            KVP_TRY(kvp_vk_flush(vk));
            continue;
        }
        *slot = s;
        *offset = s->staging_used;
        *got = take;
        /* 16-byte aligned pieces: the alignment copies like best on every device. */
        s->staging_used = round_up(s->staging_used + take, 16);
        if (s->staging_used > s->staging->size) s->staging_used = s->staging->size;
        return KVP_OK;
    }
}

static int slot_pending(const kvp_vk_slot *s) {
    return s->state == KVP_VK_SLOT_SUBMITTED ||
           (s->state == KVP_VK_SLOT_RECORDING && s->n_commands > 0);
}

void kvp_vk_release(kvp_vk_context *vk, kvp_vk_buffer *b) {
    if (!b) return;
    /* The newest batch that may use b: the recording one if it has commands, else the
     * last submitted one. Its fence also covers every earlier batch (submission order). */
    kvp_vk_slot *target = NULL;
    for (int i = 0; i < KVP_VK_SLOTS && !target; i++) {
        kvp_vk_slot *s = &vk->slots[(vk->cur + KVP_VK_SLOTS - i) % KVP_VK_SLOTS];
        if (slot_pending(s)) target = s;
    }
    if (!target || vk->lost) {
        kvp_vk_buffer_destroy(vk, b);
        return;
    }
    if (target->n_garbage == target->cap_garbage) {
        int cap = target->cap_garbage ? 2 * target->cap_garbage : 16;
        kvp_vk_buffer **g = realloc(target->garbage, (size_t)cap * sizeof *g);
        if (!g) {
            /* No room to defer: wait instead (frees cannot fail). */
            kvp_vk_wait_all(vk);
            kvp_vk_buffer_destroy(vk, b);
            return;
        }
        target->garbage = g;
        target->cap_garbage = cap;
    }
    target->garbage[target->n_garbage++] = b;
}
