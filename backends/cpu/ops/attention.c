#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_attention *p;
    const void *q, *K, *V;
    const int32_t *meta, *pos;
    float *out;
    int max_len;
} job;

/* One query head: the keys and values of its kv head are decoded once, then each query row
 * takes a softmax over the entries it can see (position <= its own). */
static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_attention *p = jb->p;
    int d = p->d, j = i / (p->Hq / p->Hk), len = jb->meta[2 * j + 1];
    float *kf = scratch, *vf = kf + (size_t)jb->max_len * d, *qa = vf + (size_t)jb->max_len * d;
    double *z = (double *)(qa + d + (d % 2)), *acc = z + jb->max_len;
    const int32_t *pos = jb->pos + jb->meta[2 * j];
    for (int t = 0; t < len; t++) {
        kvp_cpu_load_row(p->kv_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, kf + (size_t)t * d);
        kvp_cpu_load_row(p->kv_dtype, jb->V, kvp_cpu_row(jb->meta, j, t, d), d, vf + (size_t)t * d);
    }
    for (int a = 0; a < p->m; a++) {
        int qpos = p->q_pos0 + a;
        kvp_cpu_load_row(p->q_dtype, jb->q, ((size_t)i * p->m + a) * d, d, qa);
        double mx = -INFINITY;
        for (int t = 0; t < len; t++) {
            z[t] = pos[t] > qpos ? -INFINITY : kvp_cpu_dot(qa, kf + (size_t)t * d, d) * p->scale;
            if (z[t] > mx) mx = z[t];
        }
        for (int c = 0; c < d; c++) acc[c] = 0;
        double sum = 0;
        if (mx != -INFINITY)
            for (int t = 0; t < len; t++) {
                if (z[t] == -INFINITY) continue;
                double w = exp(z[t] - mx);
                sum += w;
                const float *v = vf + (size_t)t * d;
                for (int c = 0; c < d; c++) acc[c] += w * v[c];
            }
        float *o = jb->out + ((size_t)i * p->m + a) * d;
        for (int c = 0; c < d; c++) o[c] = sum > 0 ? (float)(acc[c] / sum) : 0.0f;
    }
}

kvp_status kvp_cpu_op_attention(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_attention *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], ptr[5], 1};
    for (int j = 0; j < p->Hk; j++)
        if (jb.meta[2 * j + 1] > jb.max_len) jb.max_len = jb.meta[2 * j + 1];
    size_t L = (size_t)jb.max_len, d = (size_t)p->d;
    size_t scratch = sizeof(float) * (2 * L * d + d + 1) + sizeof(double) * (L + d);
    return kvp_cpu_parallel(ctx, p->Hq, scratch, one_head, &jb);
}
