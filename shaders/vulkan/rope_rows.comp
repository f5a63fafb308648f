/* Vulkan entry point of shaders/common/rope_rows.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint X[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) readonly buffer B2 { int pos[]; };
layout(std430, binding = 3) readonly buffer B3 { float cs[]; };
layout(std430, binding = 4) buffer B4 { float res[]; };
layout(push_constant) uniform PC { kvp_p_rope_rows p; };

#define KVP_DECLS
#include "rope_rows.inc"
#undef KVP_DECLS

void main()
#include "rope_rows.inc"
