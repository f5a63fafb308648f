#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_merge_match *p;
    const void *K;
    const int32_t *meta, *keep;
    float *sim;
    int32_t *target;
} job;

static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_merge_match *p = jb->p;
    int n = p->n, d = p->d;
    float *u = scratch; /* every key of the head, normalised: [n, d] */
    float *row = u + (size_t)n * d;
    for (int t = 0; t < n; t++) {
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, row);
        double norm = sqrt(kvp_cpu_dot(row, row, d));
        double inv = 1.0 / (norm > 1e-6 ? norm : 1e-6);
        for (int c = 0; c < d; c++) u[(size_t)t * d + c] = (float)(row[c] * inv);
    }
    const int32_t *keep = jb->keep + (size_t)j * n;
    for (int e = 0; e < n; e++) {
        float best = 0;
        int32_t arg_best = -1;
        if (!keep[e])
            for (int k = 0; k < n; k++) {
                if (!keep[k]) continue;
                float s = (float)kvp_cpu_dot(u + (size_t)e * d, u + (size_t)k * d, d);
                if (arg_best < 0 || s > best) best = s, arg_best = k;
            }
        jb->sim[(size_t)j * n + e] = best;
        jb->target[(size_t)j * n + e] = arg_best;
    }
}

kvp_status kvp_cpu_op_merge_match(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_merge_match *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4]};
    size_t scratch = sizeof(float) * ((size_t)p->n + 1) * (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->Hk, scratch, one_head, &jb);
}
