#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_channel_mean *p;
    const void *X;
    const int32_t *meta;
    float *out;
} job;

static void one_head(void *arg, int h, void *scratch) {
    const job *jb = arg;
    const kvp_p_channel_mean *p = jb->p;
    int d = p->d;
    double *acc = scratch;
    float *x = (float *)(acc + d);
    for (int c = 0; c < d; c++) acc[c] = 0;
    for (int t = 0; t < p->n; t++) {
        kvp_cpu_load_row(p->dtype, jb->X, kvp_cpu_row(jb->meta, h, t, d), d, x);
        for (int c = 0; c < d; c++) acc[c] += p->square ? (double)x[c] * x[c] : (double)x[c];
    }
    for (int c = 0; c < d; c++) jb->out[(size_t)h * d + c] = (float)(acc[c] / p->n);
}

kvp_status kvp_cpu_op_channel_mean(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_channel_mean *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    size_t d = (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->H, sizeof(double) * d + sizeof(float) * d, one_head, &jb);
}
