/* Vulkan entry point of shaders/common/mask_count.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { int mask[]; };
layout(std430, binding = 1) buffer B1 { int res[]; };
layout(push_constant) uniform PC { kvp_p_mask_count p; };

#define KVP_DECLS
#include "mask_count.inc"
#undef KVP_DECLS

void main()
#include "mask_count.inc"
