#include "../cpu_ops.h"

kvp_status kvp_cpu_op_head_reduce(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_head_reduce *p = params;
    const float *in = ptr[0];
    float *out = ptr[1];
    int G = p->Hq / p->Hk;
    for (int j = 0; j < p->Hk; j++)
        for (int t = 0; t < p->n; t++) {
            int i0 = p->mode == KVP_REDUCE_ALL_MEAN ? 0 : j * G;
            int cnt = p->mode == KVP_REDUCE_ALL_MEAN ? p->Hq : G;
            double acc = 0;
            for (int i = i0; i < i0 + cnt; i++) acc += in[(size_t)i * p->n + t];
            out[(size_t)j * p->n + t] = (float)(acc / cnt);
        }
    return KVP_OK;
}
