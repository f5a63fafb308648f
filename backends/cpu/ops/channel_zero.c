#include <string.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_channel_zero(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_channel_zero *p = params;
    unsigned char *X = ptr[0];
    const int32_t *meta = ptr[1], *keep = ptr[2];
    size_t es = kvp_dtype_size((kvp_dtype)p->dtype); /* 0.0 is all-zero bits in every dtype */
    for (int h = 0; h < p->H; h++)
        for (int c = 0; c < p->d; c++) {
            if (keep[(size_t)h * p->d + c]) continue;
            for (int t = 0; t < meta[2 * h + 1]; t++)
                memset(X + (kvp_cpu_row(meta, h, t, p->d) + (size_t)c) * es, 0, es);
        }
    return KVP_OK;
}
