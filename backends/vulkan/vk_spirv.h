/*
 * The SPIR-V of every Vulkan kernel, compiled from shaders/vulkan/<kernel>.comp by
 * glslangValidator at build time and embedded by shaders/vulkan/embed_spirv.py into the
 * generated kvp_vk_spirv.c.
 *
 * A kernel may come in several variants: the portable one (needs = 0) and variants that
 * need device features (subgroup operations). The backend takes, for each kernel, the first
 * variant of the table whose needs the device meets; the generator orders each kernel's
 * variants most demanding first, so the portable one is the fallback.
 */
#ifndef KVP_VK_SPIRV_H
#define KVP_VK_SPIRV_H

#include <stddef.h>
#include <stdint.h>

/* Bits of kvp_vk_spirv.needs. */
#define KVP_VK_NEEDS_SUBGROUP_BASIC 0x1u      /* GL_KHR_shader_subgroup_basic */
#define KVP_VK_NEEDS_SUBGROUP_ARITHMETIC 0x2u /* GL_KHR_shader_subgroup_arithmetic */
#define KVP_VK_NEEDS_SUBGROUP_BALLOT 0x4u     /* GL_KHR_shader_subgroup_ballot */
#define KVP_VK_NEEDS_SUBGROUP_SHUFFLE 0x8u    /* GL_KHR_shader_subgroup_shuffle */

typedef struct kvp_vk_spirv {
    const char *name;    /* kernel name, as in kvp_gpu_kernels[] */
    const char *variant; /* "" for the portable variant, else e.g. "subgroup" */
    unsigned needs;      /* KVP_VK_NEEDS_* */
    const uint32_t *words;
    size_t size; /* bytes */
} kvp_vk_spirv;

extern const kvp_vk_spirv kvp_vk_spirv_table[];
extern const int kvp_vk_spirv_count;

#endif /* KVP_VK_SPIRV_H */
