/* Vulkan entry point of shaders/common/topk_tie_count.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float s[]; };
layout(std430, binding = 1) readonly buffer B1 { int state[]; };
layout(std430, binding = 2) buffer B2 { int counts[]; };
layout(push_constant) uniform PC { kvp_p_topk_pass p; };

#define KVP_DECLS
#include "topk_tie_count.inc"
#undef KVP_DECLS

void main()
#include "topk_tie_count.inc"
