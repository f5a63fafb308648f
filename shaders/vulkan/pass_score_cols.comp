/* Vulkan entry point of shaders/common/pass_score_cols.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float q[]; };
layout(std430, binding = 1) readonly buffer B1 { uint K[]; };
layout(std430, binding = 2) readonly buffer B2 { int meta[]; };
layout(std430, binding = 3) readonly buffer B3 { float rnorm[]; };
layout(std430, binding = 4) readonly buffer B4 { float ccol[]; };
layout(std430, binding = 5) readonly buffer B5 { float stats[]; };
layout(std430, binding = 6) buffer B6 { float red[]; };
layout(push_constant) uniform PC { kvp_p_pass_score p; };

#define KVP_DECLS
#include "pass_score_cols.inc"
#undef KVP_DECLS

void main()
#include "pass_score_cols.inc"
