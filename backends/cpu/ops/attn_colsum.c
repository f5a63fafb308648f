#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_attn_colsum *p;
    const float *q;
    const void *K;
    const int32_t *meta, *pos;
    float *out;
} job;

/* One query head: its kv head's keys are decoded once, then every window row is a softmax. */
static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_attn_colsum *p = jb->p;
    int n = p->n, d = p->d, j = i / (p->Hq / p->Hk);
    float *kf = scratch;
    double *z = (double *)(kf + (size_t)n * d + ((size_t)n * d) % 2);
    double *acc = z + n;
    int *seen = (int *)(acc + n);
    const int32_t *pos = jb->pos + jb->meta[2 * j];
    for (int t = 0; t < n; t++) {
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, kf + (size_t)t * d);
        acc[t] = 0;
        seen[t] = 0;
    }
    for (int a = 0; a < p->w; a++) {
        const float *qa = jb->q + ((size_t)i * p->w + a) * d;
        int qpos = p->q_pos0 + a;
        double mx = -INFINITY;
        for (int t = 0; t < n; t++) {
            z[t] = pos[t] > qpos ? -INFINITY : kvp_cpu_dot(qa, kf + (size_t)t * d, d) * p->scale;
            if (z[t] > mx) mx = z[t];
        }
        if (mx == -INFINITY) continue; /* this query sees nothing */
        double sum = 0;
        for (int t = 0; t < n; t++) sum += z[t] == -INFINITY ? 0 : exp(z[t] - mx);
        /* FINCH's normalisation weights each row by its position */
        double weight = p->mean_mode == KVP_COLSUM_POSITION ? (double)qpos : 1.0;
        for (int t = 0; t < n; t++)
            if (z[t] != -INFINITY) {
                acc[t] += exp(z[t] - mx) / sum * weight;
                seen[t]++;
            }
    }
    for (int t = 0; t < n; t++) {
        double v = acc[t];
        if (p->mean_mode == KVP_COLSUM_VISIBLE) v = seen[t] ? v / seen[t] : 0;
        if (p->mean_mode == KVP_COLSUM_WINDOW || p->mean_mode == KVP_COLSUM_POSITION) v /= p->w;
        jb->out[(size_t)i * n + t] = (float)v;
    }
}

kvp_status kvp_cpu_op_attn_colsum(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_attn_colsum *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4]};
    size_t n = (size_t)p->n, scratch = sizeof(float) * (n * (size_t)p->d + 1) +
                                       sizeof(double) * 2 * n + sizeof(int) * n;
    return kvp_cpu_parallel(ctx, p->Hq, scratch, one_head, &jb);
}
