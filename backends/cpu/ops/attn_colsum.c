#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_attn_colsum(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_attn_colsum *p = params;
    const float *q = ptr[0];
    const void *K = ptr[1];
    const int32_t *meta = ptr[2], *pos = ptr[3];
    float *out = ptr[4];
    int G = p->Hq / p->Hk;
    double *z = malloc(sizeof(double) * (size_t)p->n);
    double *acc = malloc(sizeof(double) * (size_t)p->n);
    int *seen = malloc(sizeof(int) * (size_t)p->n);
    if (!z || !acc || !seen) {
        free(z);
        free(acc);
        free(seen);
        return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu attn_colsum: out of memory");
    }
    for (int i = 0; i < p->Hq; i++) {
        int j = i / G;
        for (int t = 0; t < p->n; t++) acc[t] = 0, seen[t] = 0;
        for (int a = 0; a < p->w; a++) {
            const float *qa = q + ((size_t)i * p->w + a) * p->d;
            int qpos = p->q_pos0 + a;
            double mx = -INFINITY;
            for (int t = 0; t < p->n; t++) {
                size_t row = kvp_cpu_row(meta, j, t, p->d);
                if (pos[meta[2 * j] + t] > qpos) {
                    z[t] = -INFINITY;
                    continue;
                }
                double dot = 0;
                for (int c = 0; c < p->d; c++) dot += (double)qa[c] * kvp_cpu_load(p->k_dtype, K, row + c);
                z[t] = dot * p->scale;
                if (z[t] > mx) mx = z[t];
            }
            if (mx == -INFINITY) continue; /* this query sees nothing */
            double sum = 0;
            for (int t = 0; t < p->n; t++) sum += z[t] == -INFINITY ? 0 : exp(z[t] - mx);
            for (int t = 0; t < p->n; t++)
                if (z[t] != -INFINITY) {
                    acc[t] += exp(z[t] - mx) / sum;
                    seen[t]++;
                }
        }
        for (int t = 0; t < p->n; t++) {
            double v = acc[t];
            if (p->mean_mode == KVP_COLSUM_VISIBLE) v = seen[t] ? v / seen[t] : 0;
            if (p->mean_mode == KVP_COLSUM_WINDOW) v /= p->w;
            out[(size_t)i * p->n + t] = (float)v;
        }
    }
    free(z);
    free(acc);
    free(seen);
    return KVP_OK;
}
