/* Vulkan entry point of shaders/common/attn_colsum_stats.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float q[]; };
layout(std430, binding = 1) readonly buffer B1 { uint K[]; };
layout(std430, binding = 2) readonly buffer B2 { int meta[]; };
layout(std430, binding = 3) readonly buffer B3 { int pos[]; };
layout(std430, binding = 4) buffer B4 { float part[]; };
layout(push_constant) uniform PC { kvp_p_attn_colsum_pass p; };

#define KVP_DECLS
#include "attn_colsum_stats.inc"
#undef KVP_DECLS

void main()
#include "attn_colsum_stats.inc"
