/* Vulkan entry point of shaders/common/merge_add_gather.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint V[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) readonly buffer B2 { int pairs[]; };
layout(std430, binding = 3) buffer B3 { float src[]; };
layout(push_constant) uniform PC { kvp_p_merge_add p; };

#define KVP_DECLS
#include "merge_add_gather.inc"
#undef KVP_DECLS

void main()
#include "merge_add_gather.inc"
