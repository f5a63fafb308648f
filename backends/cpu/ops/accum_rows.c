#include "../cpu_ops.h"

kvp_status kvp_cpu_op_accum_rows(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_accum_rows *p = params;
    const float *x = ptr[0];
    float *acc = ptr[1];
    for (int h = 0; h < p->H; h++)
        for (int t = 0; t < p->n; t++) {
            float *a = acc + (size_t)h * (size_t)p->stride + (size_t)t;
            *a = (t < p->n_prev ? *a : 0.0f) + x[(size_t)h * (size_t)p->n + (size_t)t];
        }
    return KVP_OK;
}
