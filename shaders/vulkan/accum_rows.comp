/* Vulkan entry point of shaders/common/accum_rows.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float x[]; };
layout(std430, binding = 1) buffer B1 { float acc[]; };
layout(push_constant) uniform PC { kvp_p_accum_rows p; };

#define KVP_DECLS
#include "accum_rows.inc"
#undef KVP_DECLS

void main()
#include "accum_rows.inc"
