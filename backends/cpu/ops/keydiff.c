#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_keydiff *p;
    const void *K;
    const int32_t *meta;
    float *out;
} job;

static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_keydiff *p = jb->p;
    int d = p->d;
    double *anchor = scratch;
    float *k = (float *)(anchor + d);
    for (int c = 0; c < d; c++) anchor[c] = 0;
    for (int t = 0; t < p->n; t++) {
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, k);
        double inv = 1.0 / fmax(sqrt(kvp_cpu_dot(k, k, d)), 1e-12);
        for (int c = 0; c < d; c++) anchor[c] += k[c] * inv;
    }
    double an = 0;
    for (int c = 0; c < d; c++) {
        anchor[c] /= p->n;
        an += anchor[c] * anchor[c];
    }
    an = fmax(sqrt(an), 1e-8);
    for (int t = 0; t < p->n; t++) {
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, k);
        double dot = 0;
        for (int c = 0; c < d; c++) dot += k[c] * anchor[c];
        jb->out[(size_t)j * p->n + t] = (float)(-dot / (fmax(sqrt(kvp_cpu_dot(k, k, d)), 1e-8) * an));
    }
}

kvp_status kvp_cpu_op_keydiff(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_keydiff *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    size_t d = (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->Hk, sizeof(double) * d + sizeof(float) * d, one_head, &jb);
}
