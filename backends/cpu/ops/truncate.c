#include "../cpu_ops.h"

kvp_status kvp_cpu_op_truncate(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_truncate *p = params;
    const int32_t *pos = ptr[0];
    int32_t *meta = ptr[1];
    for (int j = 0; j < p->Hk; j++) {
        int len = 0;
        while (len < meta[2 * j + 1] && pos[meta[2 * j] + len] < p->position) len++;
        meta[2 * j + 1] = len;
    }
    return KVP_OK;
}
