/* Vulkan entry point of shaders/common/score_pad_max.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float s[]; };
layout(std430, binding = 1) buffer B1 { float part[]; };
layout(push_constant) uniform PC { kvp_p_score_pad_pass p; };

#define KVP_DECLS
#include "score_pad_max.inc"
#undef KVP_DECLS

void main()
#include "score_pad_max.inc"
