#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_merge_values *p;
    void *V;
    const int32_t *meta;
    const float *sim;
    const int32_t *target;
    const float *gate;
} job;

/* scratch: values [n, d] f32, norms [n], weights [n], sums [n, d] double, totals [n] double */
static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_merge_values *p = jb->p;
    int n = p->n, d = p->d;
    double *sum = scratch, *total = sum + (size_t)n * d;
    float *v = (float *)(total + n), *norm = v + (size_t)n * d;
    memset(sum, 0, sizeof(double) * ((size_t)n * d + (size_t)n));
    for (int t = 0; t < n; t++) {
        kvp_cpu_load_row(p->v_dtype, jb->V, kvp_cpu_row(jb->meta, j, t, d), d, v + (size_t)t * d);
        norm[t] = (float)sqrt(kvp_cpu_dot(v + (size_t)t * d, v + (size_t)t * d, d));
    }
    const float *sim = jb->sim + (size_t)j * n;
    const int32_t *target = jb->target + (size_t)j * n;
    float gate = jb->gate[j];
    for (int e = 0; e < n; e++) {
        int32_t t = target[e];
        if (t < 0 || !(sim[e] >= p->threshold) || !(sim[e] >= gate)) continue;
        double w = (double)(sim[e] > 0 ? sim[e] : 0) * norm[e] / ((double)norm[e] + norm[t] + 1e-6);
        if (w == 0) continue;
        total[t] += w;
        for (int c = 0; c < d; c++) sum[(size_t)t * d + c] += w * v[(size_t)e * d + c];
    }
    for (int k = 0; k < n; k++) {
        if (!(total[k] > 0)) continue;
        size_t row = kvp_cpu_row(jb->meta, j, k, d);
        for (int c = 0; c < d; c++)
            kvp_cpu_store(p->v_dtype, jb->V, row + (size_t)c,
                  (float)((v[(size_t)k * d + c] + sum[(size_t)k * d + c]) / (1.0 + total[k])));
    }
}

kvp_status kvp_cpu_op_merge_values(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_merge_values *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4]};
    size_t n = (size_t)p->n, d = (size_t)p->d;
    size_t scratch = sizeof(double) * (n * d + n) + sizeof(float) * (n * d + n);
    return kvp_cpu_parallel(ctx, p->Hk, scratch, one_head, &jb);
}
