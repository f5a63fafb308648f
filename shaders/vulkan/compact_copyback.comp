/* Vulkan entry point of shaders/common/compact_copyback.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { uint K[]; };
layout(std430, binding = 1) buffer B1 { uint V[]; };
layout(std430, binding = 2) buffer B2 { int pos[]; };
layout(std430, binding = 3) buffer B3 { int meta[]; };
layout(std430, binding = 4) readonly buffer B4 { int counts[]; };
layout(std430, binding = 5) readonly buffer B5 { uint rows[]; };
layout(push_constant) uniform PC { kvp_p_compact_pass p; };

#define KVP_DECLS
#include "compact_copyback.inc"
#undef KVP_DECLS

void main()
#include "compact_copyback.inc"
