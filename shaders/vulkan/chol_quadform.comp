/* Vulkan entry point of shaders/common/chol_quadform.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float M[]; };
layout(std430, binding = 1) readonly buffer B1 { uint X[]; };
layout(std430, binding = 2) readonly buffer B2 { int meta[]; };
layout(std430, binding = 3) buffer B3 { float res[]; };
layout(push_constant) uniform PC { kvp_p_chol_quadform p; };

#define KVP_DECLS
#include "chol_quadform.inc"
#undef KVP_DECLS

void main()
#include "chol_quadform.inc"
