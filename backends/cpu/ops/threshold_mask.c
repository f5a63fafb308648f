#include "../cpu_ops.h"

kvp_status kvp_cpu_op_threshold_mask(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_threshold_mask *p = params;
    const float *s = ptr[0];
    const int32_t *off = ptr[1];
    int32_t *mask = ptr[2];
    for (int h = 0; h < p->H; h++)
        for (int t = 0; t < p->n; t++) {
            int64_t u = (int64_t)t - off[h];
            int evict = u >= 0 && u < p->e && !(s[(size_t)h * (size_t)p->m + (size_t)u] >= p->threshold);
            mask[(size_t)h * (size_t)p->n + (size_t)t] = !evict;
        }
    return KVP_OK;
}
