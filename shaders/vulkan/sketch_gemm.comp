/* Vulkan entry point of shaders/common/sketch_gemm.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint x[]; };
layout(std430, binding = 1) readonly buffer B1 { float phi[]; };
layout(std430, binding = 2) readonly buffer B2 { float part[]; };
layout(std430, binding = 3) buffer B3 { float res[]; };
layout(push_constant) uniform PC { kvp_p_sketch_pass p; };

#define KVP_DECLS
#include "sketch_gemm.inc"
#undef KVP_DECLS

void main()
#include "sketch_gemm.inc"
