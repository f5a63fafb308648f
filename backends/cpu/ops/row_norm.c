#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_row_norm *p;
    const void *X;
    const int32_t *meta;
    float *out;
} job;

static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_row_norm *p = jb->p;
    float *x = scratch;
    for (int t = 0; t < p->n; t++) {
        kvp_cpu_load_row(p->dtype, jb->X, kvp_cpu_row(jb->meta, j, t, p->d), p->d, x);
        jb->out[(size_t)j * p->n + t] = (float)sqrt(kvp_cpu_dot(x, x, p->d));
    }
}

kvp_status kvp_cpu_op_row_norm(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_row_norm *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    return kvp_cpu_parallel(ctx, p->H, sizeof(float) * (size_t)p->d, one_head, &jb);
}
