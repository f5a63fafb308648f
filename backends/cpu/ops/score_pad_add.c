#include <math.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_score_pad_add(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_score_pad_add *p = params;
    float *s = ptr[0];
    float mx = -INFINITY;
    for (int h = 0; h < p->H; h++)
        for (int t = p->lo; t < p->hi; t++) mx = fmaxf(mx, s[(size_t)h * p->n + t]);
    float pad = mx + p->add;
    for (int h = 0; h < p->H; h++)
        for (int t = 0; t < p->n; t++)
            if (t < p->lo || t >= p->hi) s[(size_t)h * p->n + t] = pad;
    return KVP_OK;
}
