#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_wov_norm *p;
    const void *V;
    const int32_t *meta;
    const float *w; /* W_o decoded once: [D, Hq*d] */
    float *out;
} job;

/* One query head: every value row of its kv head through the head's block of W_o, L2 norm. */
static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_wov_norm *p = jb->p;
    int d = p->d, j = i / (p->Hq / p->Hk);
    size_t cols = (size_t)p->Hq * d;
    float *v = scratch;
    for (int t = p->t0; t < p->t1; t++) {
        kvp_cpu_load_row(p->v_dtype, jb->V, kvp_cpu_row(jb->meta, j, t, d), d, v);
        double total = 0;
        for (int o = 0; o < p->D; o++) {
            double y = kvp_cpu_dot(v, jb->w + (size_t)o * cols + (size_t)i * d, d);
            total += y * y;
        }
        jb->out[(size_t)i * p->out_stride + t] = (float)sqrt(total);
    }
}

kvp_status kvp_cpu_op_wov_norm(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_wov_norm *p = params;
    size_t count = (size_t)p->D * (size_t)p->Hq * (size_t)p->d;
    float *w = malloc(sizeof(float) * count);
    if (!w) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu wov_norm: out of memory");
    kvp_cpu_load_row(p->wo_dtype, ptr[2], 0, (int)count, w);
    job jb = {p, ptr[0], ptr[1], w, ptr[3]};
    kvp_status st = kvp_cpu_parallel(ctx, p->Hq, sizeof(float) * (size_t)p->d, one_head, &jb);
    free(w);
    return st;
}
