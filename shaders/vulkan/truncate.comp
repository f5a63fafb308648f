/* Vulkan entry point of shaders/common/truncate.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { int pos[]; };
layout(std430, binding = 1) buffer B1 { int meta[]; };
layout(push_constant) uniform PC { kvp_p_truncate p; };

#define KVP_DECLS
#include "truncate.inc"
#undef KVP_DECLS

void main()
#include "truncate.inc"
