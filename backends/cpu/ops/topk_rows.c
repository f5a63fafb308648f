#include <stdlib.h>
#include <string.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_topk_rows *p;
    const float *s;
    const int32_t *k;
    int32_t *mask;
} job;

static void one_row(void *arg, int h, void *scratch) {
    const job *jb = arg;
    int n = jb->p->n;
    kvp_cpu_scored *buf = scratch;
    size_t base = (size_t)h * (size_t)n;
    for (int t = 0; t < n; t++) buf[t] = (kvp_cpu_scored){jb->s[base + (size_t)t], t};
    qsort(buf, (size_t)n, sizeof(kvp_cpu_scored), kvp_cpu_by_score);
    memset(jb->mask + base, 0, (size_t)n * sizeof(int32_t));
    for (int r = 0; r < jb->k[h] && r < n; r++) jb->mask[base + (size_t)buf[r].idx] = 1;
}

kvp_status kvp_cpu_op_topk_rows(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_topk_rows *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    return kvp_cpu_parallel(ctx, p->H, sizeof(kvp_cpu_scored) * (size_t)(p->n ? p->n : 1), one_row,
                            &jb);
}
