/* Vulkan entry point of shaders/common/keydiff_anchor.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float part[]; };
layout(std430, binding = 1) buffer B1 { float anchor[]; };
layout(push_constant) uniform PC { kvp_p_keydiff_pass p; };

#define KVP_DECLS
#include "keydiff_anchor.inc"
#undef KVP_DECLS

void main()
#include "keydiff_anchor.inc"
