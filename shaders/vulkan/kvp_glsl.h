/*
 * The common start of every Vulkan wrapper (after #version and the include extension):
 * the GLSL dialect switch, the parameter structs and the portability layer.
 */
#define KVP_GLSL 1
/* `layout` is a GLSL keyword but the name of a member of kvp_p_rope and kvp_p_ea_rotate:
 * in GLSL the member is spelled kvp_layout_. The wrappers of those two kernels define the
 * same macro again before including the body, which reads p.layout. */
#define layout kvp_layout_
#include "kvp_params.h"
#undef layout
#include "kvp_kernel.h"
