#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_anchor_cosine *p;
    const void *K;
    const int32_t *meta;
    const float *anchor;
    float *out;
} job;

static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_anchor_cosine *p = jb->p;
    int d = p->d, j = i / (p->Hq / p->Hk);
    const float *a = jb->anchor + (size_t)i * d;
    float *k = scratch;
    float *out = jb->out + (size_t)i * p->n;
    double an = fmax(sqrt(kvp_cpu_dot(a, a, d)), 1e-12);
    double mx = -INFINITY;
    for (int t = 0; t < p->t0 && t < p->n; t++) out[t] = 0;
    for (int t = p->t0; t < p->n; t++) {
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, k);
        double kn = fmax(sqrt(kvp_cpu_dot(k, k, d)), 1e-12);
        double c = kvp_cpu_dot(a, k, d) / (an * kn);
        c = c < -1.0 ? -1.0 : c > 1.0 ? 1.0 : c;
        out[t] = (float)((double)p->scale * c);
        mx = out[t] > mx ? out[t] : mx;
    }
    if (p->exp_shift)
        for (int t = p->t0; t < p->n; t++) out[t] = (float)exp((double)out[t] - mx);
}

kvp_status kvp_cpu_op_anchor_cosine(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_anchor_cosine *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3]};
    return kvp_cpu_parallel(ctx, p->Hq, sizeof(float) * (size_t)p->d, one_head, &jb);
}
