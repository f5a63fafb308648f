/* Vulkan entry point of shaders/common/copy_words.inc. */
#version 450
#extension GL_GOOGLE_include_directive : require
#include "kvp_glsl.h"

layout(local_size_x = KVP_WG) in;
layout(std430, binding = 0) readonly buffer B0 { uint src[]; };
layout(std430, binding = 1) buffer B1 { uint dst[]; };
layout(push_constant) uniform PC { kvp_p_copy_words p; };

#define KVP_DECLS
#include "copy_words.inc"
#undef KVP_DECLS

void main()
#include "copy_words.inc"
