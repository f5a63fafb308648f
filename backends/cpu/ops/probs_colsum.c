#include "../cpu_ops.h"

kvp_status kvp_cpu_op_probs_colsum(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_probs_colsum *p = params;
    const float *P = ptr[0];
    float *out = ptr[1];
    for (int h = 0; h < p->H; h++)
        for (int t = 0; t < p->n; t++) {
            double acc = 0;
            int seen = 0;
            for (int a = p->r0; a < p->r1; a++) {
                double weight = p->mean_mode == KVP_COLSUM_POSITION ? (double)(p->row_pos0 + a) : 1.0;
                acc += P[((size_t)h * p->m + a) * p->n + t] * weight;
                if (p->row_pos0 + a >= t) seen++;
            }
            if (p->mean_mode == KVP_COLSUM_VISIBLE) acc = seen ? acc / seen : 0;
            if (p->mean_mode == KVP_COLSUM_WINDOW || p->mean_mode == KVP_COLSUM_POSITION)
                acc /= (p->r1 - p->r0);
            out[(size_t)h * p->n + t] = (float)acc;
        }
    return KVP_OK;
}
