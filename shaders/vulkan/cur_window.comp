/* Vulkan entry point of shaders/common/cur_window.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { float kv2[]; };
layout(std430, binding = 1) buffer B1 { float wsum[]; };
layout(push_constant) uniform PC { kvp_p_cur_score p; };

#define KVP_DECLS
#include "cur_window.inc"
#undef KVP_DECLS

void main()
#include "cur_window.inc"
