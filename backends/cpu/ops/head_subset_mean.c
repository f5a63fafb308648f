#include "../cpu_ops.h"

kvp_status kvp_cpu_op_head_subset_mean(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_head_subset_mean *p = params;
    const float *in = ptr[0];
    const int32_t *heads = ptr[1];
    float *out = ptr[2];
    for (int a = 0; a < p->k; a++)
        if (heads[a] < 0 || heads[a] >= p->Hq)
            return kvp__error(ctx, KVP_ERR_INTERNAL, "head_subset_mean: head %d outside [0, %d)",
                              heads[a], p->Hq);
    for (int t = 0; t < p->n; t++) {
        double acc = 0;
        for (int a = 0; a < p->k; a++) acc += in[(size_t)heads[a] * p->n + t];
        float v = (float)(acc / p->k);
        for (int j = 0; j < p->Hk; j++) out[(size_t)j * p->n + t] = v;
    }
    return KVP_OK;
}
