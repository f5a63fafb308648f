#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_gram *p;
    const void *X;
    const int32_t *meta;
    const float *w;
    float *out;
} job;

/* One head: the upper triangle accumulated in double, mirrored, so out is exactly symmetric. */
static void one_head(void *arg, int h, void *scratch) {
    const job *jb = arg;
    const kvp_p_gram *p = jb->p;
    int d = p->d, j = h / (p->H / p->Hx);
    double *G = scratch;
    float *x = (float *)(G + (size_t)d * d);
    for (size_t e = 0; e < (size_t)d * d; e++) G[e] = 0;
    for (int t = p->t0; t < p->n; t++) {
        kvp_cpu_load_row(p->x_dtype, jb->X, kvp_cpu_row(jb->meta, j, t, d), d, x);
        double wt = p->has_w ? (double)jb->w[(size_t)h * p->n + t] + (double)p->eps : 1.0;
        for (int u = 0; u < d; u++) {
            double xu = wt * x[u];
            double *Gu = G + (size_t)u * d;
            for (int v = u; v < d; v++) Gu[v] += xu * x[v];
        }
    }
    float *out = jb->out + (size_t)h * d * d;
    for (int u = 0; u < d; u++)
        for (int v = u; v < d; v++) {
            double g = G[(size_t)u * d + v] + (u == v ? (double)p->diag : 0.0);
            out[(size_t)u * d + v] = out[(size_t)v * d + u] = (float)g;
        }
}

kvp_status kvp_cpu_op_gram(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_gram *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3]};
    size_t d = (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->H, sizeof(double) * d * d + sizeof(float) * d, one_head, &jb);
}
