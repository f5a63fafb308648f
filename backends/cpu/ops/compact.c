#include <string.h>

#include "../cpu_ops.h"

kvp_status kvp_cpu_op_compact(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_compact *p = params;
    char *K = ptr[0], *V = ptr[1];
    int32_t *pos = ptr[2], *meta = ptr[3];
    const int32_t *mask = ptr[4];
    size_t rb = (size_t)p->d * (p->kv_dtype == KVP_DT_F32 ? 4 : 2);
    for (int j = 0; j < p->Hk; j++) {
        size_t first = (size_t)meta[2 * j];
        int kept = 0;
        /* Forward, in place: the destination row never passes the source row. */
        for (int t = 0; t < meta[2 * j + 1]; t++) {
            if (!mask[(size_t)j * p->n + t]) continue;
            if (kept != t) {
                memcpy(K + (first + kept) * rb, K + (first + t) * rb, rb);
                memcpy(V + (first + kept) * rb, V + (first + t) * rb, rb);
                pos[first + kept] = pos[first + t];
            }
            kept++;
        }
        meta[2 * j + 1] = kept;
    }
    return KVP_OK;
}
