#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_chol_quadform *p;
    const float *L;
    const void *X;
    const int32_t *meta;
    float *out;
} job;

static void one_head(void *arg, int h, void *scratch) {
    const job *jb = arg;
    const kvp_p_chol_quadform *p = jb->p;
    int d = p->d, j = h / (p->H / p->Hx);
    const float *L = jb->L + (size_t)h * d * d;
    double *y = scratch;
    float *x = (float *)(y + d);
    float *out = jb->out + (size_t)h * p->n;
    for (int t = 0; t < p->t0 && t < p->n; t++) out[t] = 0;
    for (int t = p->t0; t < p->n; t++) {
        kvp_cpu_load_row(p->x_dtype, jb->X, kvp_cpu_row(jb->meta, j, t, d), d, x);
        double q = 0;
        for (int i = 0; i < d; i++) { /* forward substitution L y = x */
            double s = x[i];
            for (int c = 0; c < i; c++) s -= (double)L[(size_t)i * d + c] * y[c];
            y[i] = s / (double)L[(size_t)i * d + i];
            q += y[i] * y[i];
        }
        out[t] = (float)q;
    }
}

kvp_status kvp_cpu_op_chol_quadform(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_chol_quadform *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3]};
    size_t d = (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->H, sizeof(double) * d + sizeof(float) * d, one_head, &jb);
}
