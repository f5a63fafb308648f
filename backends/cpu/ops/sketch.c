#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_sketch *p;
    const void *x;
    const float *phi;
    float *out;
} job;

static void one_head(void *arg, int h, void *scratch) {
    const job *jb = arg;
    const kvp_p_sketch *p = jb->p;
    int n = p->n, d = p->d, k = p->k;
    const float *phi = jb->phi + (size_t)h * d * k;
    double *mu = scratch, *acc = mu + d;
    float *x = (float *)(acc + k);
    size_t first = ((size_t)h * p->x_rows + p->r0) * d;
    for (int c = 0; c < d; c++) mu[c] = 0;
    for (int t = 0; t < n; t++) {
        kvp_cpu_load_row(p->x_dtype, jb->x, first + (size_t)t * d, d, x);
        for (int c = 0; c < d; c++) mu[c] += x[c];
    }
    for (int c = 0; c < d; c++) mu[c] /= n;
    for (int t = 0; t < n; t++) {
        kvp_cpu_load_row(p->x_dtype, jb->x, first + (size_t)t * d, d, x);
        for (int e = 0; e < k; e++) acc[e] = 0;
        for (int c = 0; c < d; c++) {
            double xc = (double)x[c] - mu[c];
            for (int e = 0; e < k; e++) acc[e] += xc * phi[(size_t)c * k + e];
        }
        for (int e = 0; e < k; e++) jb->out[((size_t)h * n + t) * k + e] = (float)acc[e];
    }
}

kvp_status kvp_cpu_op_sketch(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_sketch *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    size_t scratch = sizeof(double) * (size_t)(p->d + p->k) + sizeof(float) * (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->H, scratch, one_head, &jb);
}
