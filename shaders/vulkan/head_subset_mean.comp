/* Vulkan entry point of shaders/common/head_subset_mean.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float src[]; };
layout(std430, binding = 1) readonly buffer B1 { int heads[]; };
layout(std430, binding = 2) buffer B2 { float res[]; };
layout(push_constant) uniform PC { kvp_p_head_subset_mean p; };

#define KVP_DECLS
#include "head_subset_mean.inc"
#undef KVP_DECLS

void main()
#include "head_subset_mean.inc"
