/* Vulkan entry point of shaders/common/fill.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { int buf[]; };
layout(push_constant) uniform PC { kvp_p_fill p; };

#define KVP_DECLS
#include "fill.inc"
#undef KVP_DECLS

void main()
#include "fill.inc"
