/* Vulkan entry point of shaders/common/channel_mean_part.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint X[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) buffer B2 { float part[]; };
layout(push_constant) uniform PC { kvp_p_channel_mean_pass p; };

#define KVP_DECLS
#include "channel_mean_part.inc"
#undef KVP_DECLS

void main()
#include "channel_mean_part.inc"
