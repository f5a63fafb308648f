#include <stdlib.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_ea_logits(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_ea_logits *p = params;
    const void *K = ptr[0];
    const int32_t *meta = ptr[1];
    const float *mu = ptr[2], *sigma = ptr[3];
    float *out = ptr[4];
    int d = p->d, G = p->Hq / p->Hk;
    double *k = malloc(sizeof(double) * (size_t)d);
    if (!k) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu ea_logits: out of memory");
    for (int i = 0; i < p->Hq; i++) {
        int j = i / G;
        const float *m = mu + (size_t)i * d, *S = sigma + (size_t)i * d * d;
        for (int t = 0; t < p->t0 && t < p->n; t++) out[(size_t)i * p->n + t] = 0;
        for (int t = p->t0; t < p->n; t++) {
            size_t row = kvp_cpu_row(meta, j, t, d);
            for (int c = 0; c < d; c++) k[c] = kvp_cpu_load(p->k_dtype, K, row + c);
            double lin = 0, quad = 0;
            for (int c = 0; c < d; c++) lin += m[c] * k[c];
            if (p->use_cov)
                for (int a = 0; a < d; a++) {
                    double r = 0;
                    for (int b = 0; b < d; b++) r += S[(size_t)a * d + b] * k[b];
                    quad += k[a] * r;
                }
            out[(size_t)i * p->n + t] = (float)(lin * p->inv_sqrt_d + quad * p->inv_2d);
        }
    }
    free(k);
    return KVP_OK;
}
