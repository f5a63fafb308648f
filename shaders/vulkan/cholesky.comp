/* Vulkan entry point of shaders/common/cholesky.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
/* The body reads back, after a barrier, what other invocations of the workgroup wrote to
 * A: without `coherent` those reads could see stale values. */
layout(std430, binding = 0) coherent buffer B0 { float A[]; };
layout(std430, binding = 1) buffer B1 { int info[]; };
layout(push_constant) uniform PC { kvp_p_cholesky p; };

#define KVP_DECLS
#include "cholesky.inc"
#undef KVP_DECLS

void main()
#include "cholesky.inc"
