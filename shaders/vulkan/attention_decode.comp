/* Vulkan entry point of shaders/common/attention_decode.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint q[]; };
layout(std430, binding = 1) readonly buffer B1 { uint K[]; };
layout(std430, binding = 2) readonly buffer B2 { uint V[]; };
layout(std430, binding = 3) readonly buffer B3 { int meta[]; };
layout(std430, binding = 4) readonly buffer B4 { int pos[]; };
layout(std430, binding = 5) buffer B5 { float dst[]; };
layout(push_constant) uniform PC { kvp_p_attention_split p; };

#define KVP_DECLS
#include "attention_decode.inc"
#undef KVP_DECLS

void main()
#include "attention_decode.inc"
