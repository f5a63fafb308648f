/*
 * The common start of every Vulkan wrapper (after #version and the include extension):
 * the GLSL dialect switch, the parameter structs and the portability layer.
 *
 * Subgroup variants. A wrapper compiled with -DKVP_SUBGROUP (a "subgroup" variant in
 * backends/vulkan/meson.build) gets whole-workgroup reductions (KVP_REDUCE_SUM, _MAX,
 * _MIN_INT) built on subgroup arithmetic: one subgroup operation, a stash of one value per
 * subgroup, a combine by subgroup 0; three barriers instead of log2(KVP_WG). Only
 * gl_SubgroupID, subgroupElect and the arithmetic operations are used, so nothing depends on
 * how invocations are laid out in subgroups. The backend picks such a variant only on
 * devices whose compute subgroups support basic and arithmetic operations and are at least
 * 4 wide (at most KVP_WG / 4 subgroups per workgroup); the portable variant elsewhere, or
 * everywhere with KVP_VULKAN_NO_SUBGROUPS=1.
 */
#ifdef KVP_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

#define KVP_GLSL 1
#include "kvp_params.h"
#include "kvp_kernel.h"

#ifdef KVP_SUBGROUP
#define KVP_SG_SLOTS (KVP_WG / 4)
shared float kvp_sg_f[KVP_SG_SLOTS];
shared int kvp_sg_i[KVP_SG_SLOTS];

/* Stash: the subgroup's result (already reduced) into the slot of the subgroup. The type of
 * the value picks the stash, which keeps the reduction macros type-generic. */
void kvp_sg_put(float v) {
    if (subgroupElect()) kvp_sg_f[gl_SubgroupID] = v;
}
void kvp_sg_put(int v) {
    if (subgroupElect()) kvp_sg_i[gl_SubgroupID] = v;
}

/* Combine (run by all of subgroup 0): slot 0 := op over the gl_NumSubgroups slots. The
 * elected invocation is the one that read slot 0, so its write follows its own read. The
 * argument only selects the type. */
void kvp_sg_sum(float t) {
    float v = 0.0f;
    for (uint s = gl_SubgroupInvocationID; s < gl_NumSubgroups; s += gl_SubgroupSize) v += kvp_sg_f[s];
    v = subgroupAdd(v);
    if (subgroupElect()) kvp_sg_f[0] = v;
}
void kvp_sg_sum(int t) {
    int v = 0;
    for (uint s = gl_SubgroupInvocationID; s < gl_NumSubgroups; s += gl_SubgroupSize) v += kvp_sg_i[s];
    v = subgroupAdd(v);
    if (subgroupElect()) kvp_sg_i[0] = v;
}
void kvp_sg_max(float t) {
    float v = -KVP_INF;
    for (uint s = gl_SubgroupInvocationID; s < gl_NumSubgroups; s += gl_SubgroupSize) v = max(v, kvp_sg_f[s]);
    v = subgroupMax(v);
    if (subgroupElect()) kvp_sg_f[0] = v;
}
void kvp_sg_max(int t) {
    int v = int(0x80000000u);
    for (uint s = gl_SubgroupInvocationID; s < gl_NumSubgroups; s += gl_SubgroupSize) v = max(v, kvp_sg_i[s]);
    v = subgroupMax(v);
    if (subgroupElect()) kvp_sg_i[0] = v;
}
void kvp_sg_min(int t) {
    int v = 0x7fffffff;
    for (uint s = gl_SubgroupInvocationID; s < gl_NumSubgroups; s += gl_SubgroupSize) v = min(v, kvp_sg_i[s]);
    v = subgroupMin(v);
    if (subgroupElect()) kvp_sg_i[0] = v;
}
float kvp_sg_get(float t) { return kvp_sg_f[0]; }
int kvp_sg_get(int t) { return kvp_sg_i[0]; }

/* Same contract as the portable macros (kvp_kernel.h): every invocation wrote arr[KVP_LID]
 * and a barrier followed (or its own write is what it reads); afterwards arr[0] holds the
 * result for everyone. Uniform control flow. */
#define KVP_SG_REDUCE(arr, op, combine)                                                      \
    kvp_sg_put(op(arr[KVP_LID]));                                                            \
    KVP_BARRIER();                                                                           \
    if (gl_SubgroupID == 0u) combine(arr[0]);                                                \
    KVP_BARRIER();                                                                           \
    if (KVP_LID == 0) arr[0] = kvp_sg_get(arr[0]);                                           \
    KVP_BARRIER();
#undef KVP_REDUCE_SUM
#undef KVP_REDUCE_MAX
#undef KVP_REDUCE_MIN_INT
#define KVP_REDUCE_SUM(arr) KVP_SG_REDUCE(arr, subgroupAdd, kvp_sg_sum)
#define KVP_REDUCE_MAX(arr) KVP_SG_REDUCE(arr, subgroupMax, kvp_sg_max)
#define KVP_REDUCE_MIN_INT(arr) KVP_SG_REDUCE(arr, subgroupMin, kvp_sg_min)
#endif /* KVP_SUBGROUP */
