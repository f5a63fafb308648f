/*
 * Contexts of the Vulkan backend, and how Vulkan results become kvpress statuses.
 *
 * A context made from a registry device creates its own VkDevice and queue, so contexts are
 * fully independent (each can be used from its own thread). A context made by
 * kvp_context_create_vulkan borrows the caller's device and queue and destroys neither.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

/* ---- results -------------------------------------------------------------------------------- */

#define KVP_VK_RESULTS(X)                                                                          \
    X(VK_SUCCESS, KVP_OK)                                                                          \
    X(VK_NOT_READY, KVP_ERR_INTERNAL)                                                              \
    X(VK_TIMEOUT, KVP_ERR_INTERNAL)                                                                \
    X(VK_INCOMPLETE, KVP_ERR_INTERNAL)                                                             \
    X(VK_ERROR_OUT_OF_HOST_MEMORY, KVP_ERR_OUT_OF_HOST_MEMORY)                                     \
    X(VK_ERROR_OUT_OF_DEVICE_MEMORY, KVP_ERR_OUT_OF_DEVICE_MEMORY)                                 \
    X(VK_ERROR_INITIALIZATION_FAILED, KVP_ERR_BACKEND_UNAVAILABLE)                                 \
    X(VK_ERROR_DEVICE_LOST, KVP_ERR_DEVICE_LOST)                                                   \
    X(VK_ERROR_MEMORY_MAP_FAILED, KVP_ERR_OUT_OF_HOST_MEMORY)                                      \
    X(VK_ERROR_LAYER_NOT_PRESENT, KVP_ERR_BACKEND_UNAVAILABLE)                                     \
    X(VK_ERROR_EXTENSION_NOT_PRESENT, KVP_ERR_BACKEND_UNAVAILABLE)                                 \
    X(VK_ERROR_FEATURE_NOT_PRESENT, KVP_ERR_BACKEND_UNAVAILABLE)                                   \
    X(VK_ERROR_INCOMPATIBLE_DRIVER, KVP_ERR_BACKEND_UNAVAILABLE)                                   \
    X(VK_ERROR_TOO_MANY_OBJECTS, KVP_ERR_OUT_OF_DEVICE_MEMORY)                                     \
    X(VK_ERROR_FORMAT_NOT_SUPPORTED, KVP_ERR_UNSUPPORTED)                                          \
    X(VK_ERROR_FRAGMENTED_POOL, KVP_ERR_OUT_OF_DEVICE_MEMORY)                                      \
    X(VK_ERROR_UNKNOWN, KVP_ERR_INTERNAL)                                                          \
    X(VK_ERROR_OUT_OF_POOL_MEMORY, KVP_ERR_OUT_OF_DEVICE_MEMORY)                                   \
    X(VK_ERROR_INVALID_EXTERNAL_HANDLE, KVP_ERR_INVALID_ARG)                                       \
    X(VK_ERROR_FRAGMENTATION, KVP_ERR_OUT_OF_DEVICE_MEMORY)                                        \
    X(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS, KVP_ERR_INVALID_ARG)                                \
    X(VK_ERROR_INVALID_SHADER_NV, KVP_ERR_KERNEL_BUILD)

const char *kvp_vk_result_name(VkResult r) {
    switch (r) {
#define NAME(code, status)                                                                         \
    case code: return #code;
        KVP_VK_RESULTS(NAME)
#undef NAME
    default: return "VkResult";
    }
}

kvp_status kvp_vk_result_status(VkResult r) {
    switch (r) {
#define STATUS(code, status)                                                                       \
    case code: return status;
        KVP_VK_RESULTS(STATUS)
#undef STATUS
    default: return KVP_ERR_INTERNAL;
    }
}

kvp_status kvp_vk_error(kvp_vk_context *vk, VkResult r, const char *what) {
    kvp_status st = kvp_vk_result_status(r);
    if (st == KVP_OK) st = KVP_ERR_INTERNAL; /* a call that "failed" with a success code */
    if (st == KVP_ERR_DEVICE_LOST) vk->lost = KVP_ERR_DEVICE_LOST;
    return kvp__error(vk->ctx, st, "%s: %s (%d)", what, kvp_vk_result_name(r), (int)r);
}

/* ---- creation ------------------------------------------------------------------------------- */

static void context_free(kvp_vk_context *vk) {
    /* Everything below the command pool exists only once the device functions are loaded. */
    if (vk->cmd_pool) {
        /* Let our batches finish: their buffers and staging areas are destroyed next. On a
         * lost device the fences may never signal; waiting for the device returns at once
         * and lets the objects be destroyed. */
        if (!vk->lost) kvp_vk_wait_all(vk);
        if (vk->lost) vk->dfn.vkDeviceWaitIdle(vk->device);
        for (int k = 0; k < KVP_GPU_MAX_SCRATCH; k++) kvp_vk_buffer_destroy(vk, vk->scratch[k]);
        kvp_vk_buffer_destroy(vk, vk->readback);
        kvp_vk_pipelines_destroy(vk);
        kvp_vk_slots_destroy(vk);
        vk->dfn.vkDestroyCommandPool(vk->device, vk->cmd_pool, NULL);
    }
    if (vk->owns_device && vk->device && vk->dfn.vkDestroyDevice)
        vk->dfn.vkDestroyDevice(vk->device, NULL);
    free(vk);
}

kvp_status kvp_vk_context_init(kvp_context *ctx, VkInstance instance, const kvp_vk_ifn *ifn,
                               VkPhysicalDevice phys, VkDevice device, uint32_t queue_family,
                               uint32_t queue_index) {
    kvp_vk_context *vk = kvp__calloc(ctx, 1, sizeof *vk);
    if (!vk) return KVP_ERR_OUT_OF_HOST_MEMORY;
    vk->ctx = ctx;
    vk->instance = instance;
    vk->ifn = *ifn;
    vk->phys = phys;
    vk->queue_family = queue_family;

    char why[256] = "";
    kvp_status st = kvp_vk_query_device(ifn, phys, &vk->info, why, sizeof why);
    if (st != KVP_OK) {
        kvp__error(ctx, st, "vulkan: %s", why);
        free(vk);
        return st;
    }
    if (device) {
        vk->device = device;
        vk->owns_device = 0;
    } else {
        st = kvp_vk_device_create(vk);
    }
    if (st == KVP_OK) st = kvp_vk_device_load(vk, queue_index);

    const VkPhysicalDeviceLimits *lim = &vk->info.props.limits;
    vk->caps.subgroup_size = (int)vk->info.subgroup_size;
    vk->caps.max_workgroup_size = KVP_VK_WG;
    kvp_device_props dp;
    kvp_vk_fill_props(&vk->info, &dp);
    vk->caps.compute_units = dp.compute_units;
    for (int i = 0; i < 3; i++) vk->caps.max_groups[i] = lim->maxComputeWorkGroupCount[i];

    if (st == KVP_OK) {
        VkCommandPoolCreateInfo pci = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
            /* Each batch's command buffer is re-recorded when its slot comes round again. */
            .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
            .queueFamilyIndex = vk->queue_family,
        };
        VkResult r = vk->dfn.vkCreateCommandPool(vk->device, &pci, NULL, &vk->cmd_pool);
        if (r != VK_SUCCESS) st = kvp_vk_error(vk, r, "vkCreateCommandPool");
    }
    if (st == KVP_OK) st = kvp_vk_slots_init(vk);
    if (st == KVP_OK) st = kvp_vk_pipelines_init(vk);
    if (st != KVP_OK) {
        context_free(vk);
        return st;
    }
    kvp__ctx_set_backend(ctx, vk);
    return KVP_OK;
}

kvp_status kvp_vk_context_create(kvp_context *ctx, int device_index) {
    const kvp_vk_native *n = kvp__ctx_native(ctx);
    if (n)
        return kvp_vk_context_init(ctx, n->instance, n->ifn, n->phys, n->device, n->queue_family,
                                   n->queue_index);
    VkInstance instance;
    const kvp_vk_ifn *ifn;
    const kvp_vk_physical *pd;
    if (kvp_vk_registry_device(device_index, &instance, &ifn, &pd) != KVP_OK)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "vulkan: no device %d", device_index);
    return kvp_vk_context_init(ctx, instance, ifn, pd->phys, VK_NULL_HANDLE, pd->queue_family, 0);
}

void kvp_vk_context_destroy(kvp_context *ctx) {
    kvp_vk_context *vk = kvp_vk_ctx(ctx);
    if (!vk) return;
    context_free(vk);
    kvp__ctx_set_backend(ctx, NULL);
}
