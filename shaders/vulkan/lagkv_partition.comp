/* Vulkan entry point of shaders/common/lagkv_partition.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint K[]; };
layout(std430, binding = 1) readonly buffer B1 { uint V[]; };
layout(std430, binding = 2) readonly buffer B2 { int meta[]; };
/* The body reads back, after a barrier, what other invocations of the workgroup wrote to
 * res and tmp: without `coherent` those reads could see stale values. */
layout(std430, binding = 3) coherent buffer B3 { float res[]; };
layout(std430, binding = 4) coherent buffer B4 { float tmp[]; };
layout(push_constant) uniform PC { kvp_p_lagkv p; };

#define KVP_DECLS
#include "lagkv_partition.inc"
#undef KVP_DECLS

void main()
#include "lagkv_partition.inc"
