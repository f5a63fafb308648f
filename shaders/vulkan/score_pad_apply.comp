/* Vulkan entry point of shaders/common/score_pad_apply.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { float s[]; };
layout(std430, binding = 1) readonly buffer B1 { float part[]; };
layout(push_constant) uniform PC { kvp_p_score_pad_pass p; };

#define KVP_DECLS
#include "score_pad_apply.inc"
#undef KVP_DECLS

void main()
#include "score_pad_apply.inc"
