/* Vulkan entry point of shaders/common/compact_scan.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) buffer B0 { int counts[]; };
layout(push_constant) uniform PC { kvp_p_compact_pass p; };

#define KVP_DECLS
#include "compact_scan.inc"
#undef KVP_DECLS

void main()
#include "compact_scan.inc"
