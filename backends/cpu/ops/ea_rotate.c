#include "../cpu_ops.h"

kvp_status kvp_cpu_op_ea_rotate(kvp_context *ctx, const void *params, void *const *ptr) {
    (void)ctx;
    const kvp_p_ea_rotate *p = params;
    const float *mean = ptr[0], *m2 = ptr[1], *cs = ptr[2];
    float *mu = ptr[3], *sigma = ptr[4];
    int d = p->d;
    for (int h = 0; h < p->H; h++) {
        const float *hm = mean + (size_t)h * d;
        for (int a = 0; a < d; a++) {
            int pa, fa;
            float sa;
            kvp_cpu_rope_pair(p->rope_layout, d, a, &pa, &sa, &fa);
            mu[(size_t)h * d + a] =
                (float)((double)cs[2 * fa] * hm[a] + (double)sa * cs[2 * fa + 1] * hm[pa]);
        }
        if (!p->use_cov) continue;
        const float *S = m2 + (size_t)h * d * d;
        for (int a = 0; a < d; a++) {
            int pa, fa;
            float sa;
            kvp_cpu_rope_pair(p->rope_layout, d, a, &pa, &sa, &fa);
            double ra[2] = {cs[2 * fa], (double)sa * cs[2 * fa + 1]};
            int ua[2] = {a, pa};
            for (int b = 0; b < d; b++) {
                int pb, fb;
                float sb;
                kvp_cpu_rope_pair(p->rope_layout, d, b, &pb, &sb, &fb);
                double rb[2] = {cs[2 * fb], (double)sb * cs[2 * fb + 1]};
                int ub[2] = {b, pb};
                double acc = 0;
                for (int x = 0; x < 2; x++)
                    for (int y = 0; y < 2; y++)
                        acc += ra[x] * S[(size_t)ua[x] * d + ub[y]] * rb[y];
                sigma[((size_t)h * d + a) * d + b] = (float)(acc * p->inv_count);
            }
        }
    }
    return KVP_OK;
}
