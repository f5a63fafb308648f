/* Vulkan entry point of shaders/common/keydiff_colsum.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint K[]; };
layout(std430, binding = 1) readonly buffer B1 { int meta[]; };
layout(std430, binding = 2) readonly buffer B2 { float invn[]; };
layout(std430, binding = 3) buffer B3 { float part[]; };
layout(push_constant) uniform PC { kvp_p_keydiff_pass p; };

#define KVP_DECLS
#include "keydiff_colsum.inc"
#undef KVP_DECLS

void main()
#include "keydiff_colsum.inc"
