/* Vulkan entry point of shaders/common/fastkvzip_gate.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint h[]; };
layout(std430, binding = 1) readonly buffer B1 { float w[]; };
layout(std430, binding = 2) buffer B2 { float res[]; };
layout(push_constant) uniform PC { kvp_p_fastkvzip_gate p; };

#define KVP_DECLS
#include "fastkvzip_gate.inc"
#undef KVP_DECLS

void main()
#include "fastkvzip_gate.inc"
