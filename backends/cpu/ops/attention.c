#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_attention(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_attention *p = params;
    const void *q = ptr[0], *K = ptr[1], *V = ptr[2];
    const int32_t *meta = ptr[3], *pos = ptr[4];
    float *out = ptr[5];
    int d = p->d, G = p->Hq / p->Hk;
    int max_len = 0;
    for (int j = 0; j < p->Hk; j++) max_len = meta[2 * j + 1] > max_len ? meta[2 * j + 1] : max_len;
    double *z = malloc(sizeof(double) * (size_t)(max_len ? max_len : 1));
    double *acc = malloc(sizeof(double) * (size_t)d);
    double *qa = malloc(sizeof(double) * (size_t)d);
    if (!z || !acc || !qa) {
        free(z);
        free(acc);
        free(qa);
        return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu attention: out of memory");
    }
    for (int i = 0; i < p->Hq; i++) {
        int j = i / G, len = meta[2 * j + 1];
        for (int a = 0; a < p->m; a++) {
            int qpos = p->q_pos0 + a;
            for (int c = 0; c < d; c++)
                qa[c] = kvp_cpu_load(p->q_dtype, q, ((size_t)i * p->m + a) * d + c);
            double mx = -INFINITY;
            for (int t = 0; t < len; t++) {
                if (pos[meta[2 * j] + t] > qpos) {
                    z[t] = -INFINITY;
                    continue;
                }
                size_t row = kvp_cpu_row(meta, j, t, d);
                double dot = 0;
                for (int c = 0; c < d; c++) dot += qa[c] * kvp_cpu_load(p->kv_dtype, K, row + c);
                z[t] = dot * p->scale;
                if (z[t] > mx) mx = z[t];
            }
            for (int c = 0; c < d; c++) acc[c] = 0;
            double sum = 0;
            if (mx != -INFINITY)
                for (int t = 0; t < len; t++) {
                    if (z[t] == -INFINITY) continue;
                    double w = exp(z[t] - mx);
                    sum += w;
                    size_t row = kvp_cpu_row(meta, j, t, d);
                    for (int c = 0; c < d; c++) acc[c] += w * kvp_cpu_load(p->kv_dtype, V, row + c);
                }
            float *o = out + ((size_t)i * p->m + a) * d;
            for (int c = 0; c < d; c++) o[c] = sum > 0 ? (float)(acc[c] / sum) : 0.0f;
        }
    }
    free(z);
    free(acc);
    free(qa);
    return KVP_OK;
}
