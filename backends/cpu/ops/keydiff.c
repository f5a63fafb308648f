#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_keydiff(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_keydiff *p = params;
    const void *K = ptr[0];
    const int32_t *meta = ptr[1];
    float *out = ptr[2];
    int d = p->d;
    double *anchor = malloc(sizeof(double) * (size_t)d);
    if (!anchor) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu keydiff: out of memory");
    for (int j = 0; j < p->Hk; j++) {
        for (int c = 0; c < d; c++) anchor[c] = 0;
        for (int t = 0; t < p->n; t++) {
            size_t row = kvp_cpu_row(meta, j, t, d);
            double ss = 0;
            for (int c = 0; c < d; c++) {
                double x = kvp_cpu_load(p->k_dtype, K, row + c);
                ss += x * x;
            }
            double inv = 1.0 / fmax(sqrt(ss), 1e-12);
            for (int c = 0; c < d; c++) anchor[c] += kvp_cpu_load(p->k_dtype, K, row + c) * inv;
        }
        double an = 0;
        for (int c = 0; c < d; c++) {
            anchor[c] /= p->n;
            an += anchor[c] * anchor[c];
        }
        an = fmax(sqrt(an), 1e-8);
        for (int t = 0; t < p->n; t++) {
            size_t row = kvp_cpu_row(meta, j, t, d);
            double dot = 0, ss = 0;
            for (int c = 0; c < d; c++) {
                double x = kvp_cpu_load(p->k_dtype, K, row + c);
                dot += x * anchor[c];
                ss += x * x;
            }
            out[(size_t)j * p->n + t] = (float)(-dot / (fmax(sqrt(ss), 1e-8) * an));
        }
    }
    free(anchor);
    return KVP_OK;
}
