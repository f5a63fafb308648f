#include <math.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_softmax(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_softmax *p = params;
    float *x = ptr[0];
    for (int h = 0; h < p->H; h++) {
        float *r = x + (size_t)h * p->n;
        double mx = -INFINITY, sum = 0;
        for (int t = p->t0; t < p->n; t++) mx = r[t] > mx ? r[t] : mx;
        for (int t = p->t0; t < p->n; t++) sum += exp((double)r[t] - mx);
        for (int t = p->t0; t < p->n; t++) r[t] = (float)(exp((double)r[t] - mx) / sum);
    }
    return KVP_OK;
}
