/* Vulkan entry point of shaders/common/sketch_colsum.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint x[]; };
layout(std430, binding = 1) buffer B1 { float part[]; };
layout(push_constant) uniform PC { kvp_p_sketch_pass p; };

#define KVP_DECLS
#include "sketch_colsum.inc"
#undef KVP_DECLS

void main()
#include "sketch_colsum.inc"
