#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_ea_logits *p;
    const void *K;
    const int32_t *meta;
    const float *mu, *sigma;
    float *out;
} job;

static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_ea_logits *p = jb->p;
    int d = p->d, j = i / (p->Hq / p->Hk);
    const float *m = jb->mu + (size_t)i * d, *S = jb->sigma + (size_t)i * d * d;
    float *k = scratch;
    float *out = jb->out + (size_t)i * p->n;
    for (int t = 0; t < p->t0 && t < p->n; t++) out[t] = 0;
    for (int t = p->t0; t < p->n; t++) {
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, k);
        double lin = kvp_cpu_dot(m, k, d), quad = 0;
        if (p->use_cov)
            for (int a = 0; a < d; a++) quad += (double)k[a] * kvp_cpu_dot(S + (size_t)a * d, k, d);
        out[t] = (float)(lin * p->inv_sqrt_d + quad * p->inv_2d);
    }
}

kvp_status kvp_cpu_op_ea_logits(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_ea_logits *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4]};
    return kvp_cpu_parallel(ctx, p->Hq, sizeof(float) * (size_t)p->d, one_head, &jb);
}
