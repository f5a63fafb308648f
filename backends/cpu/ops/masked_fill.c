#include "../cpu_ops.h"

kvp_status kvp_cpu_op_masked_fill(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_masked_fill *p = params;
    float *s = ptr[0];
    const int32_t *mask = ptr[1];
    for (size_t i = 0; i < (size_t)p->H * p->n; i++)
        if (mask[i]) s[i] = p->value;
    return KVP_OK;
}
