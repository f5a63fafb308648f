#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_fastkvzip_gate *p;
    const void *h;
    const float *w;
    float *out;
} job;

/* sqrt(mean x^2 + eps), accumulated in double */
static double rms(const double *x, int e, float eps) {
    double ss = 0;
    for (int c = 0; c < e; c++) ss += x[c] * x[c];
    return sqrt(ss / e + eps);
}

/* One token: its hidden state decoded once, then every kv head's gate. */
static void one_token(void *arg, int t, void *scratch) {
    const job *jb = arg;
    const kvp_p_fastkvzip_gate *p = jb->p;
    int D = p->D, e = p->e, G = p->G, S = p->S, Hk = p->Hk;
    const float *wq = jb->w, *bq = wq + (size_t)Hk * G * e * D, *wk = bq + (size_t)Hk * G * e;
    const float *qn = wk + (size_t)Hk * e * D, *kn = qn + e, *kb = kn + e;
    const float *b = kb + (size_t)Hk * S * e;
    float *h = scratch;
    double *kappa = (double *)(h + D + D % 2), *u = kappa + e;
    kvp_cpu_load_row(p->h_dtype, jb->h, (size_t)t * D, D, h);
    for (int j = 0; j < Hk; j++) {
        for (int c = 0; c < e; c++) kappa[c] = kvp_cpu_dot(wk + ((size_t)j * e + c) * D, h, D);
        double kr = rms(kappa, e, p->eps);
        for (int c = 0; c < e; c++) kappa[c] = kn[c] * (kappa[c] / kr);
        double mean = 0;
        for (int g = 0; g < G; g++) {
            size_t row = ((size_t)j * G + g) * e;
            for (int c = 0; c < e; c++) u[c] = kvp_cpu_dot(wq + (row + c) * D, h, D) + bq[row + c];
            double qr = rms(u, e, p->eps);
            for (int c = 0; c < e; c++) u[c] = qn[c] * (u[c] / qr);
            double l = b[(size_t)j * G + g];
            double dot = 0;
            for (int c = 0; c < e; c++) dot += kappa[c] * u[c];
            l += p->inv_scale * dot;
            double sum = 0;
            for (int s = 0; s < S; s++) {
                double ls = 0;
                for (int c = 0; c < e; c++) ls += kb[((size_t)j * S + s) * e + c] * u[c];
                sum += exp(p->inv_scale * ls - l);
            }
            mean += 1.0 / (1.0 + sum) / G;
        }
        jb->out[(size_t)j * p->n + t] = (float)mean;
    }
}

kvp_status kvp_cpu_op_fastkvzip_gate(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_fastkvzip_gate *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    size_t scratch = sizeof(float) * ((size_t)p->D + 1) + sizeof(double) * 2 * (size_t)p->e;
    return kvp_cpu_parallel(ctx, p->n, scratch, one_token, &jb);
}
