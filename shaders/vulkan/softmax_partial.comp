/* Vulkan entry point of shaders/common/softmax_partial.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float x[]; };
layout(std430, binding = 1) buffer B1 { float part[]; };
layout(push_constant) uniform PC { kvp_p_softmax_pass p; };

#define KVP_DECLS
#include "softmax_partial.inc"
#undef KVP_DECLS

void main()
#include "softmax_partial.inc"
