#include "../cpu_ops.h"

kvp_status kvp_cpu_op_score_map(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_score_map *p = params;
    float *s = ptr[0];
    const float *w = ptr[1];
    size_t count = (size_t)p->H * p->n;
    for (size_t i = 0; i < count; i++) {
        float v = p->a * s[i] + p->b;
        s[i] = p->has_w ? v * w[i] : v;
    }
    return KVP_OK;
}
