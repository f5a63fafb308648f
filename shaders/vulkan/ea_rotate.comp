/* Vulkan entry point of shaders/common/ea_rotate.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float mean[]; };
layout(std430, binding = 1) readonly buffer B1 { float m2[]; };
layout(std430, binding = 2) readonly buffer B2 { float cs[]; };
layout(std430, binding = 3) buffer B3 { float mu[]; };
layout(std430, binding = 4) buffer B4 { float sigma[]; };
layout(push_constant) uniform PC { kvp_p_ea_rotate p; };

#define KVP_DECLS
#include "ea_rotate.inc"
#undef KVP_DECLS

void main()
#include "ea_rotate.inc"
