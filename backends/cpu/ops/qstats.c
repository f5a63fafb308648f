#include "../cpu_ops.h"

/* Chunk mean and centred second moment in double, merged into the running f32 statistics
 * with the pairwise update of Chan, Golub and LeVeque. One head per task. */
typedef struct job {
    const kvp_p_qstats *p;
    const void *q;
    float *mean, *m2;
} job;

static void one_head(void *arg, int h, void *scratch) {
    const job *jb = arg;
    const kvp_p_qstats *p = jb->p;
    int d = p->d, b = p->m - p->r0;
    double *mu = scratch, *M = mu + d, *x = M + (size_t)d * d;
    float *row = (float *)(x + d);
    for (int c = 0; c < d; c++) mu[c] = 0;
    for (int a = p->r0; a < p->m; a++) {
        kvp_cpu_load_row(p->dtype, jb->q, ((size_t)h * p->m + a) * d, d, row);
        for (int c = 0; c < d; c++) mu[c] += row[c];
    }
    for (int c = 0; c < d; c++) mu[c] /= b;
    for (size_t k = 0; k < (size_t)d * d; k++) M[k] = 0;
    for (int a = p->r0; a < p->m; a++) {
        kvp_cpu_load_row(p->dtype, jb->q, ((size_t)h * p->m + a) * d, d, row);
        for (int c = 0; c < d; c++) x[c] = row[c] - mu[c];
        for (int u = 0; u < d; u++) { /* upper triangle; mirrored below */
            double xu = x[u];
            double *Mu = M + (size_t)u * d;
            for (int v = u; v < d; v++) Mu[v] += xu * x[v];
        }
    }
    for (int u = 0; u < d; u++)
        for (int v = 0; v < u; v++) M[(size_t)u * d + v] = M[(size_t)v * d + u];
    float *hm = jb->mean + (size_t)h * d, *hm2 = jb->m2 + (size_t)h * d * d;
    if (p->n_prev == 0) {
        for (int c = 0; c < d; c++) hm[c] = (float)mu[c];
        for (size_t k = 0; k < (size_t)d * d; k++) hm2[k] = (float)M[k];
        return;
    }
    double na = p->n_prev, N = na + b;
    for (int c = 0; c < d; c++) x[c] = mu[c] - hm[c]; /* delta */
    for (int u = 0; u < d; u++)
        for (int v = 0; v < d; v++)
            hm2[(size_t)u * d + v] = (float)(hm2[(size_t)u * d + v] + M[(size_t)u * d + v] +
                                             x[u] * x[v] * na * b / N);
    for (int c = 0; c < d; c++) hm[c] = (float)(hm[c] + x[c] * b / N);
}

kvp_status kvp_cpu_op_qstats(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_qstats *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    size_t d = (size_t)p->d;
    size_t scratch = sizeof(double) * (d * d + 2 * d) + sizeof(float) * d;
    return kvp_cpu_parallel(ctx, p->H, scratch, one_head, &jb);
}
