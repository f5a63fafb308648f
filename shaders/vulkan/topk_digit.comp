/* Vulkan entry point of shaders/common/topk_digit.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { int hist[]; };
layout(std430, binding = 1) buffer B1 { int state[]; };
layout(push_constant) uniform PC { kvp_p_topk_pass p; };

#define KVP_DECLS
#include "topk_digit.inc"
#undef KVP_DECLS

void main()
#include "topk_digit.inc"
