#include <math.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_zscore(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_zscore *p = params;
    const float *x = ptr[0];
    float *out = ptr[1];
    size_t count = (size_t)p->H * (size_t)p->m;
    double mean = 0, var = 0;
    for (size_t e = 0; e < count; e++) mean += x[e];
    mean /= (double)count;
    for (size_t e = 0; e < count; e++) var += ((double)x[e] - mean) * ((double)x[e] - mean);
    double sd = count > 1 ? sqrt(var / (double)(count - 1)) : 0.0;
    sd = sd > 1e-6 ? sd : 1e-6;
    for (int h = 0; h < p->H; h++)
        for (int t = 0; t < p->m; t++) {
            float *o = out + (size_t)h * p->n_out + p->off + t;
            double z = (double)p->scale * (((double)x[(size_t)h * p->m + t] - mean) / sd);
            *o = p->accumulate ? (float)((double)*o + z) : (float)z;
        }
    return KVP_OK;
}
