#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_proj_vnorm(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_proj_vnorm *p = params;
    const void *V = ptr[0], *W = ptr[2];
    const int32_t *meta = ptr[1];
    float *out = ptr[3];
    int d = p->d, G = p->Hq / p->Hk;
    size_t cols = (size_t)p->Hq * d;
    double *v = malloc(sizeof(double) * (size_t)d);
    if (!v) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu proj_vnorm: out of memory");
    for (int j = 0; j < p->Hk; j++)
        for (int t = 0; t < p->n; t++) {
            size_t row = kvp_cpu_row(meta, j, t, d);
            for (int c = 0; c < d; c++) v[c] = kvp_cpu_load(p->v_dtype, V, row + c);
            double total = 0;
            for (int i = j * G; i < (j + 1) * G; i++)
                for (int o = 0; o < p->D; o++) {
                    double y = 0;
                    for (int c = 0; c < d; c++)
                        y += v[c] * kvp_cpu_load(p->wo_dtype, W, (size_t)o * cols + (size_t)i * d + c);
                    total += fabs(y);
                }
            out[(size_t)j * p->n + t] = (float)(total / G);
        }
    free(v);
    return KVP_OK;
}
