/* Vulkan entry point of shaders/common/channel_zero.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { uint X[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) readonly buffer B2 { int keep[]; };
layout(push_constant) uniform PC { kvp_p_channel_zero p; };

#define KVP_DECLS
#include "channel_zero.inc"
#undef KVP_DECLS

void main()
#include "channel_zero.inc"
