/* The CPU reference ops: plain, obviously correct C, the oracle every other backend is tested
 * against. Reductions accumulate in double. Each op lives in ops/<name>.c. */
#ifndef KVP_CPU_OPS_H
#define KVP_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/internal.h"

/* ptr[i] = base address of binding i (its offset already applied). */
typedef kvp_status (*kvp_cpu_op_fn)(kvp_context *ctx, const void *params, void *const *ptr);

#define X(NAME, name, params, nbind) \
    kvp_status kvp_cpu_op_##name(kvp_context *ctx, const void *params, void *const *ptr);
#include "../../core/ops.def"
#undef X

/* Per-context state of the CPU backend. */
typedef struct kvp_cpu_state {
    int n_threads;
} kvp_cpu_state;

/* Threads used by a new context: KVP_CPU_THREADS, else the online cores. */
int kvp_cpu_default_threads(void);

/* Runs fn(arg, i, scratch) for every i in [0, n), each i entirely on one thread, with a
 * private scratch block of scratch_bytes per thread (allocated before anything runs). */
typedef void (*kvp_cpu_task)(void *arg, int i, void *scratch);
kvp_status kvp_cpu_parallel(kvp_context *ctx, int n, size_t scratch_bytes, kvp_cpu_task fn,
                            void *arg);

/* d elements of an array in dtype dt from `offset`, as f32 (exact for every dtype). */
void kvp_cpu_load_row(int dt, const void *base, size_t offset, int d, float *out);
/* A score with its index, and the order of TOPK over them: decreasing score, then increasing
 * index (a total order, so a selection is unique). For qsort. */
typedef struct kvp_cpu_scored {
    float s;
    int32_t idx;
} kvp_cpu_scored;
int kvp_cpu_by_score(const void *a, const void *b);
/* <a, b> accumulated in double. */
double kvp_cpu_dot(const float *a, const float *b, int d);

/* Element i of a cache/tensor array in dtype code dt. */
static inline float kvp_cpu_load(int dt, const void *base, size_t i) {
    return kvp__load((kvp_dtype)dt, base, i);
}

/* Element i of an array in dtype code dt set to x, rounded to nearest even for f16/bf16. */
static inline void kvp_cpu_store(int dt, void *base, size_t i, float x) {
    if (dt == KVP_DT_F16)
        ((uint16_t *)base)[i] = kvp__f32_to_f16(x);
    else if (dt == KVP_DT_BF16)
        ((uint16_t *)base)[i] = kvp__f32_to_bf16(x);
    else
        ((float *)base)[i] = x;
}

/* Row t of head j of a cache layer: element offset of its first value. */
static inline size_t kvp_cpu_row(const int32_t *meta, int j, int64_t t, int d) {
    return ((size_t)meta[2 * j] + (size_t)t) * (size_t)d;
}

/* Pair partner, sign of rot() and frequency index of channel c (kvp_params.h, ROPE). */
static inline void kvp_cpu_rope_pair(int layout, int d, int c, int *partner, float *sign,
                                     int *freq) {
    int half = d / 2;
    if (layout == KVP_LAYOUT_HALF_SPLIT) {
        *partner = c < half ? c + half : c - half;
        *sign = c < half ? -1.0f : 1.0f;
        *freq = c < half ? c : c - half;
    } else {
        *partner = (c & 1) ? c - 1 : c + 1;
        *sign = (c & 1) ? 1.0f : -1.0f;
        *freq = c / 2;
    }
}

#endif /* KVP_CPU_OPS_H */
