#include "../cpu_ops.h"

kvp_status kvp_cpu_op_pool1d(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_pool1d *p = params;
    const float *in = ptr[0];
    float *out = ptr[1];
    int half = p->k / 2;
    for (int h = 0; h < p->H; h++)
        for (int t = 0; t < p->len; t++) {
            double acc = 0;
            for (int u = t - half; u <= t + half; u++)
                if (u >= 0 && u < p->len) acc += in[(size_t)h * p->n + u];
            out[(size_t)h * p->n + t] = (float)(acc / p->k);
        }
    return KVP_OK;
}
