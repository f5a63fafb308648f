/* Vulkan entry point of shaders/common/ea_logits.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint K[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) readonly buffer B2 { float mu[]; };
layout(std430, binding = 3) readonly buffer B3 { float sigma[]; };
layout(std430, binding = 4) buffer B4 { float res[]; };
layout(push_constant) uniform PC { kvp_p_ea_logits p; };

#define KVP_DECLS
#include "ea_logits.inc"
#undef KVP_DECLS

void main()
#include "ea_logits.inc"
