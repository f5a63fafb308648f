/* Vulkan entry point of shaders/common/rope.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint x[]; };
layout(std430, binding = 1) readonly buffer B1 { float cs[]; };
layout(std430, binding = 2) buffer B2 { float res[]; };
layout(push_constant) uniform PC { kvp_p_rope p; };

#define KVP_DECLS
#include "rope.inc"
#undef KVP_DECLS

void main()
#include "rope.inc"
