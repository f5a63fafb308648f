/*
 * Zero-copy integration (include/kvpress/kvp_vulkan.h): contexts on the application's
 * VkDevice and kvp_buffers over the application's VkBuffers.
 */
#include <stdio.h>
#include <string.h>

#include "vk_internal.h"
#include "kvpress/kvp_vulkan.h"

/* The registry device with the same UUID as the caller's physical device. */
static kvp_device *registry_match(const uint8_t uuid[VK_UUID_SIZE]) {
    int n = 0;
    kvp_device_count(&n);
    for (int i = 0; i < n; i++) {
        kvp_device *d = NULL;
        if (kvp_device_get(i, &d) != KVP_OK || strcmp(d->props.backend, "vulkan") != 0) continue;
        VkInstance inst;
        const kvp_vk_ifn *ifn;
        const kvp_vk_physical *pd;
        if (kvp_vk_registry_device(d->index, &inst, &ifn, &pd) == KVP_OK &&
            memcmp(pd->uuid, uuid, VK_UUID_SIZE) == 0)
            return d;
    }
    return NULL;
}

KVP_API kvp_status kvp_context_create_vulkan(VkInstance instance, VkPhysicalDevice physical_device,
                                             VkDevice device, uint32_t queue_family,
                                             uint32_t queue_index,
                                             const kvp_context_options *options,
                                             kvp_context **context) {
    const char *who = "kvp_context_create_vulkan";
    if (!context) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: context is NULL", who);
    *context = NULL;
    if (!instance || !physical_device || !device)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "%s: instance, physical device and device must be given", who);
    kvp__registry_ensure();
    PFN_vkGetInstanceProcAddr gipa = kvp_vk_loader();
    if (!gipa)
        return kvp__error_tls(KVP_ERR_BACKEND_UNAVAILABLE,
                              "%s: the Vulkan backend found no usable loader or device "
                              "(see kvpress-tool info)",
                              who);
    kvp_vk_ifn ifn;
    char why[256] = "";
    kvp_status st = kvp_vk_load_instance(gipa, instance, &ifn, why, sizeof why);
    if (st != KVP_OK) return kvp__error_tls(st, "%s: %s", who, why);
    kvp_vk_devinfo info;
    st = kvp_vk_query_device(&ifn, physical_device, &info, why, sizeof why);
    if (st != KVP_OK) return kvp__error_tls(st, "%s: %s", who, why);

    uint32_t n_families = 0;
    ifn.vkGetPhysicalDeviceQueueFamilyProperties(physical_device, &n_families, NULL);
    VkQueueFamilyProperties fam[64];
    if (n_families > 64) n_families = 64;
    ifn.vkGetPhysicalDeviceQueueFamilyProperties(physical_device, &n_families, fam);
    if (queue_family >= n_families || !(fam[queue_family].queueFlags & VK_QUEUE_COMPUTE_BIT) ||
        queue_index >= fam[queue_family].queueCount)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "%s: queue %u of family %u does not exist or cannot run compute "
                              "work",
                              who, queue_index, queue_family);

    kvp_device *reg = registry_match(info.uuid);
    if (!reg)
        return kvp__error_tls(KVP_ERR_BACKEND_UNAVAILABLE,
                              "%s: %s is not among the Vulkan devices libkvpress can use "
                              "(see kvpress-tool info)",
                              who, info.props.deviceName);
    kvp_vk_native native = {instance, &ifn, physical_device, device, queue_family, queue_index};
    return kvp__context_create_native(reg, options, &native, context);
}

KVP_API kvp_status kvp_buffer_wrap_vulkan(kvp_context *ctx, VkBuffer buffer, VkDeviceSize size,
                                          kvp_buffer **buffer_out) {
    const char *who = "kvp_buffer_wrap_vulkan";
    if (!buffer_out) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: buffer_out is NULL", who);
    *buffer_out = NULL;
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: context is NULL", who);
    if (ctx->ops != kvp_vulkan_backend())
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: the context is not a Vulkan context", who);
    if (!buffer || size == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: the buffer is null or its size is 0", who);
    if ((VkDeviceSize)(size_t)size != size)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: size does not fit in size_t", who);
    kvp_vk_buffer *b = kvp__calloc(ctx, 1, sizeof *b);
    if (!b) return KVP_ERR_OUT_OF_HOST_MEMORY;
    b->buffer = buffer;
    b->size = size;
    b->wrapped = 1;
    kvp_status st = kvp__buffer_from_handle(ctx, b, (size_t)size, buffer_out);
    if (st != KVP_OK) kvp_vk_buffer_destroy(kvp_vk_ctx(ctx), b);
    return st;
}
