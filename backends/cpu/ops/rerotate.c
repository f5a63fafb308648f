#include <math.h>

#include "../cpu_ops.h"

/* A value rounded to the cache dtype and back (cos/sin are rounded to the model dtype). */
static float round_to(int dt, float x) {
    if (dt == KVP_DT_F16) return kvp__f16_to_f32(kvp__f32_to_f16(x));
    if (dt == KVP_DT_BF16) return kvp__bf16_to_f32(kvp__f32_to_bf16(x));
    return x;
}

typedef struct job {
    const kvp_p_rerotate *p;
    void *K;
    const int32_t *meta;
    int32_t *pos;
    const float *inv_freq;
} job;

static void one_head(void *arg, int j, void *scratch) {
    (void)scratch;
    const job *jb = arg;
    const kvp_p_rerotate *p = jb->p;
    int half = p->d / 2;
    for (int t = 0; t < jb->meta[2 * j + 1]; t++) {
        size_t row = (size_t)jb->meta[2 * j] + (size_t)t;
        int32_t new_pos = p->pos0 + t;
        float delta = (float)(new_pos - jb->pos[row]);
        size_t base = row * (size_t)p->d;
        for (int f = 0; f < half; f++) {
            float angle = delta * jb->inv_freq[f]; /* f32, as kvpress */
            float c = round_to(p->k_dtype, (float)cos((double)angle));
            float s = round_to(p->k_dtype, (float)sin((double)angle));
            int u = p->rope_layout == KVP_LAYOUT_HALF_SPLIT ? f : 2 * f;
            int v = p->rope_layout == KVP_LAYOUT_HALF_SPLIT ? f + half : 2 * f + 1;
            float xu = kvp_cpu_load(p->k_dtype, jb->K, base + (size_t)u);
            float xv = kvp_cpu_load(p->k_dtype, jb->K, base + (size_t)v);
            kvp_cpu_store(p->k_dtype, jb->K, base + (size_t)u, xu * c - xv * s);
            kvp_cpu_store(p->k_dtype, jb->K, base + (size_t)v, xv * c + xu * s);
        }
        jb->pos[row] = new_pos;
    }
}

kvp_status kvp_cpu_op_rerotate(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_rerotate *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3]};
    return kvp_cpu_parallel(ctx, p->Hk, 0, one_head, &jb);
}
