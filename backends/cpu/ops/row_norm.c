#include <math.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_row_norm(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_row_norm *p = params;
    const void *X = ptr[0];
    const int32_t *meta = ptr[1];
    float *out = ptr[2];
    for (int j = 0; j < p->H; j++)
        for (int t = 0; t < p->n; t++) {
            size_t row = kvp_cpu_row(meta, j, t, p->d);
            double ss = 0;
            for (int c = 0; c < p->d; c++) {
                double v = kvp_cpu_load(p->dtype, X, row + c);
                ss += v * v;
            }
            out[(size_t)j * p->n + t] = (float)sqrt(ss);
        }
    return KVP_OK;
}
