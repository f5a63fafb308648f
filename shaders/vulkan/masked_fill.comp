/* Vulkan entry point of shaders/common/masked_fill.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { float s[]; };
layout(std430, binding = 1) readonly buffer B1 { int mask[]; };
layout(push_constant) uniform PC { kvp_p_masked_fill p; };

#define KVP_DECLS
#include "masked_fill.inc"
#undef KVP_DECLS

void main()
#include "masked_fill.inc"
