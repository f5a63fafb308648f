/* Vulkan entry point of shaders/common/qstats_m2.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint q[]; };
layout(std430, binding = 1) readonly buffer B1 { float mub[]; };
layout(std430, binding = 2) buffer B2 { float m2part[]; };
layout(push_constant) uniform PC { kvp_p_qstats_pass p; };

#define KVP_DECLS
#include "qstats_m2.inc"
#undef KVP_DECLS

void main()
#include "qstats_m2.inc"
