#include <stdlib.h>

#include "../cpu_ops.h"

/* Chunk mean and centred second moment in double, merged into the running f32 statistics
 * with the pairwise update of Chan, Golub and LeVeque. */
kvp_status kvp_cpu_op_qstats(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_qstats *p = params;
    const void *q = ptr[0];
    float *mean = ptr[1], *m2 = ptr[2];
    int d = p->d, b = p->m - p->r0;
    double *mu = malloc(sizeof(double) * (size_t)d);
    double *M = malloc(sizeof(double) * (size_t)d * d);
    double *x = malloc(sizeof(double) * (size_t)d);
    if (!mu || !M || !x) {
        free(mu);
        free(M);
        free(x);
        return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu qstats: out of memory");
    }
    for (int h = 0; h < p->H; h++) {
        for (int c = 0; c < d; c++) mu[c] = 0;
        for (int a = p->r0; a < p->m; a++)
            for (int c = 0; c < d; c++) mu[c] += kvp_cpu_load(p->dtype, q, ((size_t)h * p->m + a) * d + c);
        for (int c = 0; c < d; c++) mu[c] /= b;
        for (size_t k = 0; k < (size_t)d * d; k++) M[k] = 0;
        for (int a = p->r0; a < p->m; a++) {
            for (int c = 0; c < d; c++)
                x[c] = kvp_cpu_load(p->dtype, q, ((size_t)h * p->m + a) * d + c) - mu[c];
            for (int u = 0; u < d; u++) /* upper triangle; mirrored below */
                for (int v = u; v < d; v++) M[(size_t)u * d + v] += x[u] * x[v];
        }
        for (int u = 0; u < d; u++)
            for (int v = 0; v < u; v++) M[(size_t)u * d + v] = M[(size_t)v * d + u];
        float *hm = mean + (size_t)h * d, *hm2 = m2 + (size_t)h * d * d;
        if (p->n_prev == 0) {
            for (int c = 0; c < d; c++) hm[c] = (float)mu[c];
            for (size_t k = 0; k < (size_t)d * d; k++) hm2[k] = (float)M[k];
            continue;
        }
        double na = p->n_prev, N = na + b;
        for (int c = 0; c < d; c++) x[c] = mu[c] - hm[c]; /* delta */
        for (int u = 0; u < d; u++)
            for (int v = 0; v < d; v++)
                hm2[(size_t)u * d + v] = (float)(hm2[(size_t)u * d + v] + M[(size_t)u * d + v] +
                                                 x[u] * x[v] * na * b / N);
        for (int c = 0; c < d; c++) hm[c] = (float)(hm[c] + x[c] * b / N);
    }
    free(mu);
    free(M);
    free(x);
    return KVP_OK;
}
