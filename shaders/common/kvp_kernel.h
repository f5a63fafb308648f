/*
 * The portability layer that lets one kernel body compile as OpenCL C, CUDA C++ and GLSL
 * (Vulkan compute). Kernel bodies live in shaders/common/<kernel>.inc and are written in a
 * restricted C subset:
 *
 *  - no pointers: buffers are arrays named by the wrapper (`K[i]`, `out[i]`); a GLSL
 *    anonymous buffer block makes its array a global name, OpenCL/CUDA kernel parameters too;
 *  - parameters are the struct `p` (kvp_params.h): a kernel argument in OpenCL/CUDA, a
 *    push-constant block member in GLSL;
 *  - casts through KVP_I/KVP_U/KVP_F, math through the KVP_ math macros below, bit casts
 *    through KVP_AS_FLOAT/KVP_AS_UINT, float literals with an f suffix;
 *  - 16-bit data is read from 32-bit words (buffers of `uint`), see KVP_LOAD;
 *  - workgroup-shared arrays are declared in a `#ifdef KVP_DECLS` section at the top of the
 *    .inc file (GLSL needs them at global scope, OpenCL/CUDA at kernel scope: the wrapper
 *    includes the file twice, once with KVP_DECLS defined);
 *  - helper functions are declared with KVP_FN, take scalars only and live in this header
 *    (OpenCL and GLSL cannot define functions inside the kernel the body is included in);
 *  - names must be valid in all three languages: no GLSL keywords (`out`, `in`, `input`,
 *    `output`, `sample`, `filter`, `common`, `partition`, `half`, ...), no GLSL built-in
 *    function names (`length`, `dot`, `step`, `sign`, ...) and no double underscores;
 *  - int and uint never mix implicitly (GLSL converts int to uint, never back): write
 *    KVP_I()/KVP_U() and u-suffixed literals;
 *  - barriers only in uniform control flow, and no early return before a barrier;
 *  - contractions: OpenCL bodies compile with FP_CONTRACT OFF so elementwise results match
 *    the CPU reference bit for bit; dot products use KVP_FMA explicitly.
 *
 * A wrapper (shaders/opencl/<k>.cl, shaders/vulkan/<k>.comp, shaders/cuda/<k>.cu) declares the
 * buffers and the entry point and includes the body; it is about 20 lines.
 * Workgroups are 1-D of KVP_WG invocations (a compile-time define, default 256; the plans in
 * backends/gpu/gpu_plan.c assume KVP_GPU_WG = 256). Grids may be 3-D (KVP_GROUP, KVP_GROUP_Y,
 * KVP_GROUP_Z). Every kernel keeps its shared arrays under 32 KiB (Vulkan's guaranteed
 * minimum is 16 KiB, but every desktop driver, lavapipe included, gives 32 KiB).
 */
#ifndef KVP_KERNEL_H
#define KVP_KERNEL_H

#ifndef KVP_WG
#define KVP_WG 256
#endif

/* ------------------------------------------------------------------------------ OpenCL C -- */
#if defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)
#define KVP_OPENCL 1
#pragma OPENCL FP_CONTRACT OFF
#define KVP_FN inline
#define KVP_SHARED __local
#define KVP_BARRIER() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)
#define KVP_GID KVP_I(get_global_id(0))
#define KVP_LID KVP_I(get_local_id(0))
#define KVP_GROUP KVP_I(get_group_id(0))
#define KVP_NGROUPS KVP_I(get_num_groups(0))
#define KVP_GROUP_Y KVP_I(get_group_id(1))
#define KVP_GROUP_Z KVP_I(get_group_id(2))
#define KVP_I(x) ((int)(x))
#define KVP_U(x) ((uint)(x))
#define KVP_F(x) ((float)(x))
#define KVP_AS_FLOAT(u) as_float(u)
#define KVP_AS_UINT(f) as_uint(f)
#define KVP_EXP(x) exp(x)
#define KVP_SQRT(x) sqrt(x)
#define KVP_FABS(x) fabs(x)
#define KVP_FMAX(a, b) fmax(a, b)
#define KVP_FMIN(a, b) fmin(a, b)
#define KVP_ISNAN(x) isnan(x)
#define KVP_ISINF(x) isinf(x)
#define KVP_ATOMIC_ADD(buf, i, v) atomic_add(&(buf)[i], v)
#ifdef KVP_NO_HW_FMA /* set by the backend when fma() would be emulated in software */
#define KVP_FMA(a, b, c) ((a) * (b) + (c))
#else
#define KVP_FMA(a, b, c) fma(a, b, c)
#endif
#define KVP_MINI(a, b) min(a, b)
#define KVP_MAXI(a, b) max(a, b)
#define KVP_NGROUPS_Y KVP_I(get_num_groups(1))

/* ------------------------------------------------------------------------------ CUDA ------ */
#elif defined(__CUDACC__)
#define KVP_CUDA 1
typedef unsigned int uint;
#define KVP_FN __device__ __forceinline__
#define KVP_SHARED __shared__
#define KVP_BARRIER() __syncthreads()
#define KVP_GID KVP_I(blockIdx.x * blockDim.x + threadIdx.x)
#define KVP_LID KVP_I(threadIdx.x)
#define KVP_GROUP KVP_I(blockIdx.x)
#define KVP_NGROUPS KVP_I(gridDim.x)
#define KVP_GROUP_Y KVP_I(blockIdx.y)
#define KVP_GROUP_Z KVP_I(blockIdx.z)
#define KVP_I(x) ((int)(x))
#define KVP_U(x) ((uint)(x))
#define KVP_F(x) ((float)(x))
#define KVP_AS_FLOAT(u) __uint_as_float(u)
#define KVP_AS_UINT(f) __float_as_uint(f)
#define KVP_EXP(x) expf(x)
#define KVP_SQRT(x) sqrtf(x)
#define KVP_FABS(x) fabsf(x)
#define KVP_FMAX(a, b) fmaxf(a, b)
#define KVP_FMIN(a, b) fminf(a, b)
#define KVP_ISNAN(x) isnan(x)
#define KVP_ISINF(x) isinf(x)
#define KVP_ATOMIC_ADD(buf, i, v) atomicAdd(&(buf)[i], v)
#define KVP_FMA(a, b, c) fmaf(a, b, c)
#define KVP_MINI(a, b) min(a, b)
#define KVP_MAXI(a, b) max(a, b)
#define KVP_NGROUPS_Y KVP_I(gridDim.y)

/* ------------------------------------------------------------------------------ GLSL ------ */
#elif defined(KVP_GLSL)
#define KVP_FN
#define KVP_SHARED shared
#define KVP_BARRIER() \
    memoryBarrierShared(); \
    memoryBarrierBuffer(); \
    barrier()
#define KVP_GID KVP_I(gl_GlobalInvocationID.x)
#define KVP_LID KVP_I(gl_LocalInvocationID.x)
#define KVP_GROUP KVP_I(gl_WorkGroupID.x)
#define KVP_NGROUPS KVP_I(gl_NumWorkGroups.x)
#define KVP_GROUP_Y KVP_I(gl_WorkGroupID.y)
#define KVP_GROUP_Z KVP_I(gl_WorkGroupID.z)
#define KVP_I(x) int(x)
#define KVP_U(x) uint(x)
#define KVP_F(x) float(x)
#define KVP_AS_FLOAT(u) uintBitsToFloat(u)
#define KVP_AS_UINT(f) floatBitsToUint(f)
#define KVP_EXP(x) exp(x)
#define KVP_SQRT(x) sqrt(x)
#define KVP_FABS(x) abs(x)
#define KVP_FMAX(a, b) max(a, b)
#define KVP_FMIN(a, b) min(a, b)
#define KVP_ISNAN(x) isnan(x)
#define KVP_ISINF(x) isinf(x)
#define KVP_ATOMIC_ADD(buf, i, v) atomicAdd((buf)[i], v)
#define KVP_FMA(a, b, c) fma(a, b, c)
#define KVP_MINI(a, b) min(a, b)
#define KVP_MAXI(a, b) max(a, b)
#define KVP_NGROUPS_Y KVP_I(gl_NumWorkGroups.y)
#else
#error "kvp_kernel.h: unknown kernel language"
#endif

#define KVP_INF KVP_AS_FLOAT(0x7f800000u)
#define KVP_FLT_MAX KVP_AS_FLOAT(0x7f7fffffu)

/* ---- 16-bit floats from 32-bit words -------------------------------------------------- */

/* IEEE half (the low 16 bits of h) to float, exact, subnormals included. */
KVP_FN float kvp_f16_to_f32(uint h) {
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu;
    uint m = h & 0x3ffu;
    if (e == 0u) {
        float v = KVP_F(m) * 5.9604644775390625e-8f; /* m * 2^-24 */
        return sign != 0u ? -v : v;
    }
    if (e == 31u) return KVP_AS_FLOAT(sign | 0x7f800000u | (m << 13));
    return KVP_AS_FLOAT(sign | ((e + 112u) << 23) | (m << 13));
}

KVP_FN float kvp_bf16_to_f32(uint h) { return KVP_AS_FLOAT((h & 0xffffu) << 16); }

/* The 16-bit half `hi` (0 = low, 1 = high) of word w, decoded for dtype dt. */
KVP_FN float kvp_half_word(uint w, int hi, int dt) {
    uint h = hi != 0 ? (w >> 16) : (w & 0xffffu);
    return dt == KVP_DT_BF16 ? kvp_bf16_to_f32(h) : kvp_f16_to_f32(h);
}

/* Element i of a buffer of 32-bit words holding dtype dt (KVP_DT_*), as float. The 16-bit
 * element i lives in word i/2, low half first (little-endian). */
#define KVP_LOAD(buf, i, dt)                                                                  \
    ((dt) == KVP_DT_F32 ? KVP_AS_FLOAT((buf)[(i)])                                            \
                        : kvp_half_word((buf)[(i) >> 1], (i) & 1, (dt)))

/* ---- workgroup reductions over a shared array of KVP_WG entries ------------------------- */
/* Each invocation has written arr[KVP_LID] and a barrier followed; afterwards arr[0] holds the
 * result (KVP_SEG_*: arr[s * seg] holds the result of segment s, seg a power of two). All
 * invocations must reach these (uniform control flow). */
#define KVP_REDUCE_SUM(arr)                                                                   \
    for (int kvp_s_ = KVP_WG / 2; kvp_s_ > 0; kvp_s_ >>= 1) {                                 \
        if (KVP_LID < kvp_s_) arr[KVP_LID] += arr[KVP_LID + kvp_s_];                          \
        KVP_BARRIER();                                                                        \
    }
#define KVP_REDUCE_MAX(arr)                                                                   \
    for (int kvp_s_ = KVP_WG / 2; kvp_s_ > 0; kvp_s_ >>= 1) {                                 \
        if (KVP_LID < kvp_s_) arr[KVP_LID] = KVP_FMAX(arr[KVP_LID], arr[KVP_LID + kvp_s_]);  \
        KVP_BARRIER();                                                                        \
    }
#define KVP_REDUCE_MIN_INT(arr)                                                               \
    for (int kvp_s_ = KVP_WG / 2; kvp_s_ > 0; kvp_s_ >>= 1) {                                 \
        if (KVP_LID < kvp_s_) arr[KVP_LID] = KVP_MINI(arr[KVP_LID], arr[KVP_LID + kvp_s_]);  \
        KVP_BARRIER();                                                                        \
    }
#define KVP_SEG_REDUCE_SUM(arr, seg)                                                          \
    for (int kvp_s_ = (seg) / 2; kvp_s_ > 0; kvp_s_ >>= 1) {                                  \
        if ((KVP_LID & ((seg) - 1)) < kvp_s_) arr[KVP_LID] += arr[KVP_LID + kvp_s_];          \
        KVP_BARRIER();                                                                        \
    }
#define KVP_SEG_REDUCE_MAX(arr, seg)                                                          \
    for (int kvp_s_ = (seg) / 2; kvp_s_ > 0; kvp_s_ >>= 1) {                                  \
        if ((KVP_LID & ((seg) - 1)) < kvp_s_)                                                 \
            arr[KVP_LID] = KVP_FMAX(arr[KVP_LID], arr[KVP_LID + kvp_s_]);                     \
        KVP_BARRIER();                                                                        \
    }
/* Inclusive prefix sum of an int array of KVP_WG entries (Hillis-Steele, in place). */
#define KVP_SCAN_INCLUSIVE_INT(arr)                                                           \
    for (int kvp_o_ = 1; kvp_o_ < KVP_WG; kvp_o_ <<= 1) {                                     \
        int kvp_v_ = KVP_LID >= kvp_o_ ? arr[KVP_LID - kvp_o_] : 0;                           \
        KVP_BARRIER();                                                                        \
        arr[KVP_LID] += kvp_v_;                                                               \
        KVP_BARRIER();                                                                        \
    }

/* ---- helpers shared by several bodies ------------------------------------------------- */

/* An unsigned key with the order of the float f (for radix selection): larger float, larger
 * key. -0.0 maps to the key of +0.0, so that the two compare equal as they do in C and ties
 * between them are broken by index like every other tie. NaN is not ordered (scores are
 * finite by contract). */
KVP_FN uint kvp_order_key(float f) {
    uint u = KVP_AS_UINT(f);
    if (u == 0x80000000u) u = 0u;
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

/* Merges the online-softmax pair (m2, s2) into (m1, s1): the sums of exp(x - m) of two sets,
 * each relative to its own maximum. Empty sets have m = -inf and s = 0. Returns the merged
 * sum; the merged maximum is max(m1, m2). */
KVP_FN float kvp_lse_merge(float m1, float s1, float m2, float s2) {
    float m = KVP_FMAX(m1, m2);
    if (m == -KVP_INF) return 0.0f;
    float a = m1 == -KVP_INF ? 0.0f : s1 * KVP_EXP(m1 - m);
    float b = m2 == -KVP_INF ? 0.0f : s2 * KVP_EXP(m2 - m);
    return a + b;
}

#endif /* KVP_KERNEL_H */
