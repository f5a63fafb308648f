#include "../cpu_ops.h"

kvp_status kvp_cpu_op_mask_count(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_mask_count *p = params;
    const int32_t *mask = ptr[0];
    int32_t *out = ptr[1];
    for (int h = 0; h < p->H; h++) {
        int32_t count = 0;
        for (int t = 0; t < p->n; t++) count += mask[(size_t)h * (size_t)p->n + (size_t)t] != 0;
        out[h] = count;
    }
    return KVP_OK;
}
