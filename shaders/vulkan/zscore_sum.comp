/* Vulkan entry point of shaders/common/zscore_sum.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float x[]; };
layout(std430, binding = 1) buffer B1 { float part[]; };
layout(push_constant) uniform PC { kvp_p_zscore_pass p; };

#define KVP_DECLS
#include "zscore_sum.inc"
#undef KVP_DECLS

void main()
#include "zscore_sum.inc"
