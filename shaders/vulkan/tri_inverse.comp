/* Vulkan entry point of shaders/common/tri_inverse.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float L[]; };
layout(std430, binding = 1) buffer B1 { float M[]; };
layout(push_constant) uniform PC { kvp_p_chol_quadform p; };

#define KVP_DECLS
#include "tri_inverse.inc"
#undef KVP_DECLS

void main()
#include "tri_inverse.inc"
