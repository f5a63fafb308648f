/*
 * Physical devices (what a device can do, which memory types to use) and logical devices
 * (creating ours, loading the device-level entry points of ours or the caller's).
 *
 * The kernels need nothing beyond Vulkan 1.1 core: 32-bit storage buffers, push constants
 * and workgroups of KVP_VK_WG invocations. 16-bit cache data is read from 32-bit words, so
 * no 16-bit storage feature is required. Subgroup operations are optional (vk_pipeline.c
 * picks a portable variant when a device lacks them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "vk_internal.h"

static int has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(ext[i].extensionName, name)) return 1;
    return 0;
}

int kvp_vk_compute_family(const kvp_vk_ifn *ifn, VkPhysicalDevice pd) {
    uint32_t n = 0;
    ifn->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = n ? calloc(n, sizeof *q) : NULL;
    if (!q) return -1;
    ifn->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int found = -1;
    for (uint32_t i = 0; i < n && found < 0; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && q[i].queueCount > 0) found = (int)i;
    free(q);
    return found;
}

kvp_status kvp_vk_query_device(const kvp_vk_ifn *ifn, VkPhysicalDevice pd, kvp_vk_devinfo *out,
                               char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    ifn->vkGetPhysicalDeviceProperties(pd, &out->props);
    const VkPhysicalDeviceProperties *p = &out->props;
    const VkPhysicalDeviceLimits *lim = &p->limits;
    if (p->apiVersion < KVP_VK_MIN_API) {
        snprintf(why, why_size, "%s: Vulkan %u.%u device (libkvpress needs 1.1)", p->deviceName,
                 VK_API_VERSION_MAJOR(p->apiVersion), VK_API_VERSION_MINOR(p->apiVersion));
        return KVP_ERR_UNSUPPORTED;
    }
    if (lim->maxComputeWorkGroupInvocations < KVP_VK_WG ||
        lim->maxComputeWorkGroupSize[0] < KVP_VK_WG) {
        snprintf(why, why_size, "%s: workgroups of %u invocations at most (kernels use %d)",
                 p->deviceName, lim->maxComputeWorkGroupInvocations, KVP_VK_WG);
        return KVP_ERR_UNSUPPORTED;
    }
    if (lim->maxPerStageDescriptorStorageBuffers < KVP_VK_BINDINGS ||
        lim->maxDescriptorSetStorageBuffers < KVP_VK_BINDINGS ||
        lim->maxPushConstantsSize < KVP_GPU_MAX_PARAMS) {
        snprintf(why, why_size,
                 "%s: %u storage buffers per stage and %u bytes of push constants (needs %d, %d)",
                 p->deviceName, lim->maxPerStageDescriptorStorageBuffers, lim->maxPushConstantsSize,
                 KVP_VK_BINDINGS, KVP_GPU_MAX_PARAMS);
        return KVP_ERR_UNSUPPORTED;
    }

    uint32_t n_ext = 0;
    VkExtensionProperties *ext = NULL;
    if (ifn->vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, NULL) == VK_SUCCESS && n_ext) {
        ext = calloc(n_ext, sizeof *ext);
        if (!ext || ifn->vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, ext) != VK_SUCCESS)
            n_ext = 0;
    }

    /* One properties2 query with every structure the device understands chained in. */
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceShaderCorePropertiesAMD amd = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    sg.pNext = &id;
    id.pNext = &m3;
    void **tail = &m3.pNext;
    int have_drv = p->apiVersion >= VK_API_VERSION_1_2 ||
                   has_extension(ext, n_ext, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    int have_nv = has_extension(ext, n_ext, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
    int have_amd = has_extension(ext, n_ext, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
    if (have_drv) {
        *tail = &drv;
        tail = &drv.pNext;
    }
    if (have_nv) {
        *tail = &nv;
        tail = &nv.pNext;
    }
    if (have_amd) {
        *tail = &amd;
        tail = &amd.pNext;
    }
    p2.pNext = &sg;
    ifn->vkGetPhysicalDeviceProperties2(pd, &p2);

    memcpy(out->uuid, id.deviceUUID, sizeof out->uuid);
    out->max_alloc_size = m3.maxMemoryAllocationSize;
    if (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) {
        out->subgroup_size = sg.subgroupSize;
        out->subgroup_ops = sg.supportedOperations;
    }
    if (have_drv) {
        snprintf(out->driver_name, sizeof out->driver_name, "%s", drv.driverName);
        snprintf(out->driver_info, sizeof out->driver_info, "%s", drv.driverInfo);
    }
    if (have_nv) out->compute_units = nv.shaderSMCount;
    if (have_amd)
        out->compute_units =
            amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
#ifdef VK_KHR_portability_subset
    out->has_portability_subset =
        has_extension(ext, n_ext, VK_KHR_PORTABILITY_SUBSET_EXTENSION_NAME);
#endif
    free(ext);
    ifn->vkGetPhysicalDeviceMemoryProperties(pd, &out->memory);
    return KVP_OK;
}

void kvp_vk_fill_props(const kvp_vk_devinfo *info, kvp_device_props *props) {
    const VkPhysicalDeviceProperties *p = &info->props;
    memset(props, 0, sizeof *props);
    snprintf(props->description, sizeof props->description, "%s", p->deviceName);
    char api[32];
    snprintf(api, sizeof api, "Vulkan %u.%u.%u", VK_API_VERSION_MAJOR(p->apiVersion),
             VK_API_VERSION_MINOR(p->apiVersion), VK_API_VERSION_PATCH(p->apiVersion));
    if (info->driver_name[0])
        snprintf(props->driver, sizeof props->driver, "%s %s, %s", info->driver_name,
                 info->driver_info, api);
    else
        snprintf(props->driver, sizeof props->driver, "driver 0x%x, %s", p->driverVersion, api);
    switch (p->deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: props->type = KVP_DEVICE_TYPE_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: props->type = KVP_DEVICE_TYPE_IGPU; break;
    default: props->type = KVP_DEVICE_TYPE_OTHER; break; /* virtual, CPU (lavapipe), other */
    }
    for (uint32_t h = 0; h < info->memory.memoryHeapCount; h++)
        if (info->memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            props->memory_bytes += info->memory.memoryHeaps[h].size;
    props->compute_units = (int)info->compute_units;
    /* A CPU implementation (lavapipe) runs its workgroups on the host's threads. */
#ifndef _WIN32
    if (p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU && props->compute_units == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        props->compute_units = cores > 0 ? (int)cores : 0;
    }
#endif
    uint32_t wg = p->limits.maxComputeWorkGroupInvocations;
    if (p->limits.maxComputeWorkGroupSize[0] < wg) wg = p->limits.maxComputeWorkGroupSize[0];
    props->max_workgroup_size = (int)wg;
    props->subgroup_size = info->subgroup_size ? (int)info->subgroup_size : 1;
    props->dtype_mask = (1u << KVP_DTYPE_F32) | (1u << KVP_DTYPE_F16) | (1u << KVP_DTYPE_BF16);
    props->peak_bandwidth_gbs = 0;
}

int kvp_vk_memory_type(const VkPhysicalDeviceMemoryProperties *mem, uint32_t bits,
                       VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                       VkMemoryPropertyFlags avoided) {
    int best = -1, best_score = -1;
    for (uint32_t i = 0; i < mem->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mem->memoryTypes[i].propertyFlags;
        if (!(bits & (1u << i)) || (f & required) != required) continue;
        /* Preferred flags weigh more than avoided ones; ties keep the driver's order. */
        int score = 2 * ((f & preferred) == preferred) + ((f & avoided) == 0);
        if (score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    return best;
}

kvp_status kvp_vk_device_create(kvp_vk_context *vk) {
    float priority = 1.0f;
    VkDeviceQueueCreateInfo q = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vk->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    const char *ext[1];
    uint32_t n_ext = 0;
#ifdef VK_KHR_portability_subset
    /* The spec requires enabling it wherever it is offered. */
    if (vk->info.has_portability_subset) ext[n_ext++] = VK_KHR_PORTABILITY_SUBSET_EXTENSION_NAME;
#endif
    VkDeviceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &q,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = n_ext ? ext : NULL,
    };
    KVP_VK_TRY(vk, "vkCreateDevice", vk->ifn.vkCreateDevice(vk->phys, &ci, NULL, &vk->device));
    vk->owns_device = 1;
    return KVP_OK;
}

kvp_status kvp_vk_device_load(kvp_vk_context *vk, uint32_t queue_index) {
    PFN_vkGetDeviceProcAddr gdpa = vk->ifn.vkGetDeviceProcAddr;
#define LOAD(name) vk->dfn.name = (PFN_##name)gdpa(vk->device, #name);
    KVP_VK_DEVICE_FNS(LOAD)
#undef LOAD
#define CHECK(name)                                                                                \
    if (!vk->dfn.name)                                                                             \
        return kvp__error(vk->ctx, KVP_ERR_BACKEND_UNAVAILABLE,                                    \
                          "vulkan: the device does not provide %s", #name);
    KVP_VK_DEVICE_FNS(CHECK)
#undef CHECK
    vk->dfn.vkGetDeviceQueue(vk->device, vk->queue_family, queue_index, &vk->queue);
    if (!vk->queue)
        return kvp__error(vk->ctx, KVP_ERR_INVALID_ARG,
                          "vulkan: the device has no queue %u in family %u", queue_index,
                          vk->queue_family);
    return KVP_OK;
}
