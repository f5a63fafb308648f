/* Vulkan entry point of shaders/common/merge_values.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { uint V[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) readonly buffer B2 { float sim[]; };
layout(std430, binding = 3) readonly buffer B3 { int target[]; };
layout(std430, binding = 4) readonly buffer B4 { float gate[]; };
layout(push_constant) uniform PC { kvp_p_merge_values p; };

#define KVP_DECLS
#include "merge_values.inc"
#undef KVP_DECLS

void main()
#include "merge_values.inc"
