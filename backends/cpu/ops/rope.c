#include "../cpu_ops.h"

kvp_status kvp_cpu_op_rope(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_rope *p = params;
    const void *x = ptr[0];
    const float *cs = ptr[1];
    float *out = ptr[2];
    int half = p->d / 2, rows = p->m - p->r0;
    for (int h = 0; h < p->H; h++)
        for (int a = p->r0; a < p->m; a++) {
            size_t src = ((size_t)h * p->m + a) * p->d;
            size_t dst = ((size_t)h * rows + (a - p->r0)) * p->d;
            for (int f = 0; f < half; f++) {
                int u = p->rope_layout == KVP_LAYOUT_HALF_SPLIT ? f : 2 * f;
                int v = p->rope_layout == KVP_LAYOUT_HALF_SPLIT ? f + half : 2 * f + 1;
                float c = cs[((size_t)(a - p->r0) * half + f) * 2];
                float s = cs[((size_t)(a - p->r0) * half + f) * 2 + 1];
                /* both inputs are read before writing: out may alias x */
                float xu = kvp_cpu_load(p->dtype, x, src + u), xv = kvp_cpu_load(p->dtype, x, src + v);
                out[dst + u] = xu * c - xv * s;
                out[dst + v] = xv * c + xu * s;
            }
        }
    return KVP_OK;
}
