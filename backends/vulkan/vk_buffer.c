/*
 * Device memory of the Vulkan backend.
 *
 * Every kvp_buffer is one VkBuffer with its own (dedicated) allocation in device-local
 * memory: caches and scratch buffers are few and large, so a sub-allocator would buy little.
 * Uploads go through the batch's host-visible staging area and a vkCmdCopyBuffer recorded
 * in order with the kernels, so an upload never overtakes a kernel that still reads the old
 * contents and needs no synchronization. Downloads copy into a host-visible readback buffer
 * and wait for the batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

static const char *kind_name(kvp_vk_mem_kind kind) {
    switch (kind) {
    case KVP_VK_MEM_DEVICE: return "device";
    case KVP_VK_MEM_UPLOAD: return "upload staging";
    default: return "readback staging";
    }
}

kvp_status kvp_vk_buffer_create(kvp_vk_context *vk, VkDeviceSize bytes, kvp_vk_mem_kind kind,
                                kvp_vk_buffer **out) {
    *out = NULL;
    kvp_context *ctx = vk->ctx;
    /* Rounded up to 16 bytes: kernels read 16-bit data as 32-bit words, and the tail word
     * of an odd count must stay inside the buffer. */
    VkDeviceSize size = (bytes + 15) / 16 * 16;
    if (size < bytes)
        return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY, "vulkan: buffer size overflow");
    if (vk->info.max_alloc_size && size > vk->info.max_alloc_size)
        return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                          "vulkan: out of device memory: a %s buffer of %llu bytes exceeds "
                          "the device's largest allocation (maxMemoryAllocationSize %llu)",
                          kind_name(kind), (unsigned long long)bytes,
                          (unsigned long long)vk->info.max_alloc_size);
    kvp_vk_buffer *b = kvp__calloc(ctx, 1, sizeof *b);
    if (!b) return KVP_ERR_OUT_OF_HOST_MEMORY;
    b->size = bytes;

    VkBufferUsageFlags usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    if (kind == KVP_VK_MEM_DEVICE) usage |= VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = usage,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vk->dfn.vkCreateBuffer(vk->device, &bi, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        free(b);
        return kvp_vk_error(vk, r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    vk->dfn.vkGetBufferMemoryRequirements(vk->device, b->buffer, &req);

    const VkPhysicalDeviceMemoryProperties *mem = &vk->info.memory;
    int type;
    if (kind == KVP_VK_MEM_DEVICE)
        type = kvp_vk_memory_type(mem, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                  VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    else if (kind == KVP_VK_MEM_UPLOAD)
        type = kvp_vk_memory_type(mem, req.memoryTypeBits,
                                  VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                      VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                  0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    else /* reads by the CPU are much faster from cached memory */
        type = kvp_vk_memory_type(mem, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                  VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                                  VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    kvp_status st = KVP_OK;
    if (type < 0) {
        st = kvp__error(ctx, KVP_ERR_UNSUPPORTED, "vulkan: no memory type for a %s buffer",
                        kind_name(kind));
    } else {
        VkMemoryPropertyFlags flags = mem->memoryTypes[type].propertyFlags;
        VkDeviceSize heap = mem->memoryHeaps[mem->memoryTypes[type].heapIndex].size;
        b->coherent = (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
        if (req.size > heap) {
            /* Some drivers over-commit instead of failing: refuse what can never fit. */
            st = kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                            "vulkan: out of device memory: a %s buffer of %llu bytes is larger "
                            "than its memory heap (%llu bytes)",
                            kind_name(kind), (unsigned long long)bytes, (unsigned long long)heap);
        } else {
            VkMemoryAllocateInfo ai = {
                .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                .allocationSize = req.size,
                .memoryTypeIndex = (uint32_t)type,
            };
            r = vk->dfn.vkAllocateMemory(vk->device, &ai, NULL, &b->memory);
            if (r != VK_SUCCESS) {
                b->memory = VK_NULL_HANDLE;
                char what[96];
                snprintf(what, sizeof what, "vkAllocateMemory(%s buffer, %llu bytes)",
                         kind_name(kind), (unsigned long long)bytes);
                st = kvp_vk_error(vk, r, what);
            }
        }
    }
    if (st == KVP_OK) {
        r = vk->dfn.vkBindBufferMemory(vk->device, b->buffer, b->memory, 0);
        if (r != VK_SUCCESS) st = kvp_vk_error(vk, r, "vkBindBufferMemory");
    }
    if (st == KVP_OK && kind != KVP_VK_MEM_DEVICE) {
        r = vk->dfn.vkMapMemory(vk->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
        if (r != VK_SUCCESS) st = kvp_vk_error(vk, r, "vkMapMemory");
    }
    if (st != KVP_OK) {
        kvp_vk_buffer_destroy(vk, b);
        return st;
    }
    *out = b;
    return KVP_OK;
}

void kvp_vk_buffer_destroy(kvp_vk_context *vk, kvp_vk_buffer *b) {
    if (!b) return;
    /* A wrapped (caller's) buffer is not ours to destroy: only the record goes. */
    if (!b->wrapped) {
        if (b->mapped) vk->dfn.vkUnmapMemory(vk->device, b->memory);
        if (b->buffer) vk->dfn.vkDestroyBuffer(vk->device, b->buffer, NULL);
        if (b->memory) vk->dfn.vkFreeMemory(vk->device, b->memory, NULL);
    }
    free(b);
}

/* ---- the backend methods --------------------------------------------------------------- */

kvp_status kvp_vk_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    kvp_vk_buffer *b = NULL;
    KVP_TRY(kvp_vk_buffer_create(vk, bytes, KVP_VK_MEM_DEVICE, &b));
    *handle = b;
    return KVP_OK;
}

void kvp_vk_buffer_free(kvp_context *ctx, void *handle) {
    /* Deferred until the batches that may still use it have finished. */
    kvp_vk_release(kvp_vk_ctx(ctx), handle);
}

kvp_status kvp_vk_buffer_upload(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                size_t bytes) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    kvp_vk_buffer *b = handle;
    const char *from = src;
    while (bytes > 0) {
        kvp_vk_slot *s;
        VkDeviceSize so, got;
        KVP_TRY(kvp_vk_staging(vk, bytes, &s, &so, &got));
        memcpy((char *)s->staging->mapped + so, from, (size_t)got);
        kvp_vk_range r = {b->buffer, offset, offset + got, 1};
        kvp_vk_access(vk, s, &r, 1);
        VkBufferCopy region = {.srcOffset = so, .dstOffset = offset, .size = got};
        vk->dfn.vkCmdCopyBuffer(s->cmd, s->staging->buffer, b->buffer, 1, &region);
        s->n_commands++;
        from += got;
        offset += (size_t)got;
        bytes -= (size_t)got;
    }
    return KVP_OK;
}

kvp_status kvp_vk_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                  size_t bytes) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    kvp_vk_buffer *b = handle;
    char *to = dst;
    while (bytes > 0) {
        VkDeviceSize piece = bytes < KVP_VK_READBACK_MAX ? bytes : KVP_VK_READBACK_MAX;
        if (!vk->readback || vk->readback->size < piece) {
            /* Not in use: every download waits for its copy before returning. */
            VkDeviceSize size = 64 << 10;
            while (size < piece) size *= 2;
            kvp_vk_buffer *nb = NULL;
            KVP_TRY(kvp_vk_buffer_create(vk, size, KVP_VK_MEM_READBACK, &nb));
            kvp_vk_buffer_destroy(vk, vk->readback);
            vk->readback = nb;
        }
        kvp_vk_slot *s;
        KVP_TRY(kvp_vk_begin(vk, &s));
        kvp_vk_range r[2] = {{b->buffer, offset, offset + piece, 0},
                             {vk->readback->buffer, 0, piece, 1}};
        kvp_vk_access(vk, s, r, 2);
        VkBufferCopy region = {.srcOffset = offset, .dstOffset = 0, .size = piece};
        vk->dfn.vkCmdCopyBuffer(s->cmd, b->buffer, vk->readback->buffer, 1, &region);
        s->n_commands++;
        KVP_TRY(kvp_vk_wait_all(vk));
        if (!vk->readback->coherent) {
            VkMappedMemoryRange range = {
                .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
                .memory = vk->readback->memory,
                .offset = 0,
                .size = VK_WHOLE_SIZE,
            };
            KVP_VK_TRY(vk, "vkInvalidateMappedMemoryRanges",
                       vk->dfn.vkInvalidateMappedMemoryRanges(vk->device, 1, &range));
        }
        memcpy(to, vk->readback->mapped, (size_t)piece);
        to += piece;
        offset += (size_t)piece;
        bytes -= (size_t)piece;
    }
    return KVP_OK;
}

kvp_status kvp_vk_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                              size_t src_offset, size_t bytes) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    kvp_vk_buffer *d = dst, *s = src;
    kvp_vk_slot *slot;
    if (d->buffer == s->buffer && dst_offset < src_offset + bytes &&
        src_offset < dst_offset + bytes) {
        /* vkCmdCopyBuffer forbids overlapping regions; the core's copies may overlap
         * (memmove semantics), so they bounce through a temporary buffer. */
        kvp_vk_buffer *tmp = NULL;
        KVP_TRY(kvp_vk_buffer_create(vk, bytes, KVP_VK_MEM_DEVICE, &tmp));
        kvp_status st = kvp_vk_begin(vk, &slot);
        if (st == KVP_OK) {
            VkBufferCopy a = {.srcOffset = src_offset, .dstOffset = 0, .size = bytes};
            kvp_vk_range ra[2] = {{s->buffer, src_offset, src_offset + bytes, 0},
                                  {tmp->buffer, 0, bytes, 1}};
            kvp_vk_access(vk, slot, ra, 2);
            vk->dfn.vkCmdCopyBuffer(slot->cmd, s->buffer, tmp->buffer, 1, &a);
            VkBufferCopy b = {.srcOffset = 0, .dstOffset = dst_offset, .size = bytes};
            kvp_vk_range rb[2] = {{tmp->buffer, 0, bytes, 0},
                                  {d->buffer, dst_offset, dst_offset + bytes, 1}};
            kvp_vk_access(vk, slot, rb, 2);
            vk->dfn.vkCmdCopyBuffer(slot->cmd, tmp->buffer, d->buffer, 1, &b);
            slot->n_commands += 2;
        }
        kvp_vk_release(vk, tmp);
        return st;
    }
    KVP_TRY(kvp_vk_begin(vk, &slot));
    kvp_vk_range r[2] = {{s->buffer, src_offset, src_offset + bytes, 0},
                         {d->buffer, dst_offset, dst_offset + bytes, 1}};
    kvp_vk_access(vk, slot, r, 2);
    VkBufferCopy region = {.srcOffset = src_offset, .dstOffset = dst_offset, .size = bytes};
    vk->dfn.vkCmdCopyBuffer(slot->cmd, s->buffer, d->buffer, 1, &region);
    slot->n_commands++;
    return KVP_OK;
}

kvp_status kvp_vk_synchronize(kvp_context *ctx) { return kvp_vk_wait_all(kvp_vk_ctx(ctx)); }
