/*
 * Compute pipelines. Every kernel uses the same interface: descriptor set 0 holds
 * KVP_VK_BINDINGS storage buffers (binding k = the pass's k-th binding) and the kernel's
 * kvp_p_* parameter struct is a push-constant block. One descriptor-set layout and one
 * pipeline layout therefore serve every pipeline, and a pass binds its set with a single
 * call. Pipelines are created from the embedded SPIR-V the first time a kernel is
 * dispatched and cached for the life of the context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

kvp_status kvp_vk_pipelines_init(kvp_vk_context *vk) {
    VkDescriptorSetLayoutBinding b[KVP_VK_BINDINGS];
    for (uint32_t i = 0; i < KVP_VK_BINDINGS; i++) {
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    }
    VkDescriptorSetLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = KVP_VK_BINDINGS,
        .pBindings = b,
    };
    KVP_VK_TRY(vk, "vkCreateDescriptorSetLayout",
               vk->dfn.vkCreateDescriptorSetLayout(vk->device, &li, NULL, &vk->set_layout));
    VkPushConstantRange pc = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .offset = 0,
        .size = KVP_GPU_MAX_PARAMS,
    };
    VkPipelineLayoutCreateInfo pli = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &vk->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pc,
    };
    KVP_VK_TRY(vk, "vkCreatePipelineLayout",
               vk->dfn.vkCreatePipelineLayout(vk->device, &pli, NULL, &vk->pipeline_layout));
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    KVP_VK_TRY(vk, "vkCreatePipelineCache",
               vk->dfn.vkCreatePipelineCache(vk->device, &ci, NULL, &vk->pipeline_cache));
    vk->pipelines = kvp__calloc(vk->ctx, (size_t)(kvp_vk_spirv_count ? kvp_vk_spirv_count : 1),
                                sizeof *vk->pipelines);
    if (!vk->pipelines) return KVP_ERR_OUT_OF_HOST_MEMORY;
    /* Lets one device exercise both variants of a kernel (tests, or a driver whose
     * subgroup operations misbehave). Read once, per context. */
    const char *env = getenv("KVP_VULKAN_NO_SUBGROUPS");
    vk->allow_subgroups = !(env && env[0] && strcmp(env, "0") != 0);
    return KVP_OK;
}

void kvp_vk_pipelines_destroy(kvp_vk_context *vk) {
    for (int i = 0; vk->pipelines && i < kvp_vk_spirv_count; i++)
        if (vk->pipelines[i]) vk->dfn.vkDestroyPipeline(vk->device, vk->pipelines[i], NULL);
    free(vk->pipelines);
    vk->pipelines = NULL;
    if (vk->pipeline_cache) vk->dfn.vkDestroyPipelineCache(vk->device, vk->pipeline_cache, NULL);
    if (vk->pipeline_layout) vk->dfn.vkDestroyPipelineLayout(vk->device, vk->pipeline_layout, NULL);
    if (vk->set_layout) vk->dfn.vkDestroyDescriptorSetLayout(vk->device, vk->set_layout, NULL);
}

/* Whether the device (and the context's settings) allow a variant. */
static int variant_usable(const kvp_vk_context *vk, unsigned needs) {
    if (!needs) return 1;
    /* The subgroup variants stash one value per subgroup in KVP_WG / 4 slots (kvp_glsl.h).
     * SPIR-V 1.3 modules run with exactly the advertised subgroup size. */
    if (!vk->allow_subgroups || vk->info.subgroup_size < 4) return 0;
    static const struct {
        unsigned need;
        VkSubgroupFeatureFlags op;
    } map[] = {
        {KVP_VK_NEEDS_SUBGROUP_BASIC, VK_SUBGROUP_FEATURE_BASIC_BIT},
        {KVP_VK_NEEDS_SUBGROUP_ARITHMETIC, VK_SUBGROUP_FEATURE_ARITHMETIC_BIT},
        {KVP_VK_NEEDS_SUBGROUP_BALLOT, VK_SUBGROUP_FEATURE_BALLOT_BIT},
        {KVP_VK_NEEDS_SUBGROUP_SHUFFLE, VK_SUBGROUP_FEATURE_SHUFFLE_BIT},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if ((needs & map[i].need) && !(vk->info.subgroup_ops & map[i].op)) return 0;
    return 1;
}

/* The table entry to use for kernel `name`, or -1 (*known = whether the name exists). */
static int pick_variant(const kvp_vk_context *vk, const char *name, int *known) {
    *known = 0;
    for (int i = 0; i < kvp_vk_spirv_count; i++) {
        if (strcmp(kvp_vk_spirv_table[i].name, name) != 0) continue;
        *known = 1;
        if (variant_usable(vk, kvp_vk_spirv_table[i].needs)) return i;
    }
    return -1;
}

const kvp_vk_spirv *kvp_vk_kernel_variant(const kvp_vk_context *vk, const char *name) {
    int known;
    int i = pick_variant(vk, name, &known);
    return i < 0 ? NULL : &kvp_vk_spirv_table[i];
}

static kvp_status build_error(kvp_vk_context *vk, VkResult r, const char *call,
                              const kvp_vk_spirv *k) {
    /* Anything but a lost device is reported as a kernel that could not be built. */
    kvp_status st =
        kvp_vk_result_status(r) == KVP_ERR_DEVICE_LOST ? KVP_ERR_DEVICE_LOST : KVP_ERR_KERNEL_BUILD;
    if (st == KVP_ERR_DEVICE_LOST) vk->lost = st;
    return kvp__error(vk->ctx, st, "%s(kernel %s%s%s): %s (%d)", call, k->name,
                      k->variant[0] ? ", variant " : "", k->variant, kvp_vk_result_name(r), (int)r);
}

kvp_status kvp_vk_pipeline(kvp_vk_context *vk, const char *name, VkPipeline *out) {
    *out = VK_NULL_HANDLE;
    int known;
    int i = pick_variant(vk, name, &known);
    if (i < 0)
        return kvp__error(vk->ctx, KVP_ERR_UNSUPPORTED,
                          known ? "vulkan: no variant of kernel %s runs on this device"
                                : "vulkan: kernel %s is not in this build's SPIR-V table",
                          name);
    if (vk->pipelines[i]) {
        *out = vk->pipelines[i];
        return KVP_OK;
    }
    const kvp_vk_spirv *k = &kvp_vk_spirv_table[i];
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = k->size,
        .pCode = k->words,
    };
    VkShaderModule module;
    VkResult r = vk->dfn.vkCreateShaderModule(vk->device, &mi, NULL, &module);
    if (r != VK_SUCCESS) return build_error(vk, r, "vkCreateShaderModule", k);
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main",
            },
        .layout = vk->pipeline_layout,
    };
    r = vk->dfn.vkCreateComputePipelines(vk->device, vk->pipeline_cache, 1, &ci, NULL,
                                         &vk->pipelines[i]);
    vk->dfn.vkDestroyShaderModule(vk->device, module, NULL);
    if (r != VK_SUCCESS) {
        vk->pipelines[i] = VK_NULL_HANDLE;
        return build_error(vk, r, "vkCreateComputePipelines", k);
    }
    *out = vk->pipelines[i];
    return KVP_OK;
}
