#include <stdlib.h>
#include <string.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_topk *p;
    const float *s;
    int32_t *mask;
    size_t len;
} job;

static void one_row(void *arg, int r, void *scratch) {
    const job *jb = arg;
    kvp_cpu_scored *buf = scratch;
    size_t base = (size_t)r * jb->len;
    for (size_t i = 0; i < jb->len; i++)
        buf[i] = (kvp_cpu_scored){jb->s[base + i], (int32_t)i};
    qsort(buf, jb->len, sizeof(kvp_cpu_scored), kvp_cpu_by_score);
    memset(jb->mask + base, 0, jb->len * sizeof(int32_t));
    for (int k = 0; k < jb->p->k && (size_t)k < jb->len; k++) jb->mask[base + (size_t)buf[k].idx] = 1;
}

kvp_status kvp_cpu_op_topk(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_topk *p = params;
    size_t total = (size_t)p->H * p->n;
    job jb = {p, ptr[0], ptr[1], p->global_mode ? total : (size_t)p->n};
    return kvp_cpu_parallel(ctx, p->global_mode ? 1 : p->H,
                            sizeof(kvp_cpu_scored) * (jb.len ? jb.len : 1),
                            one_row, &jb);
}
