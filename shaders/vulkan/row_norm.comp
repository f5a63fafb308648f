/* Vulkan entry point of shaders/common/row_norm.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint X[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) buffer B2 { float res[]; };
layout(push_constant) uniform PC { kvp_p_row_norm p; };

#define KVP_DECLS
#include "row_norm.inc"
#undef KVP_DECLS

void main()
#include "row_norm.inc"
