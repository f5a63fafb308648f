/* Vulkan entry point of shaders/common/rerotate.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { uint K[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) buffer B2 { int pos[]; };
layout(std430, binding = 3) readonly buffer B3 { float inv_freq[]; };
layout(push_constant) uniform PC { kvp_p_rerotate p; };

#define KVP_DECLS
#include "rerotate.inc"
#undef KVP_DECLS

void main()
#include "rerotate.inc"
