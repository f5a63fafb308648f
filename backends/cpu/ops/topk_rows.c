#include <stdlib.h>
#include <string.h>

#include "../cpu_ops.h"

typedef struct scored {
    float s;
    int32_t idx;
} scored;

/* Decreasing score, then increasing index (the order of TOPK). */
static int by_score(const void *pa, const void *pb) {
    const scored *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

typedef struct job {
    const kvp_p_topk_rows *p;
    const float *s;
    const int32_t *k;
    int32_t *mask;
} job;

static void one_row(void *arg, int h, void *scratch) {
    const job *jb = arg;
    int n = jb->p->n;
    scored *buf = scratch;
    size_t base = (size_t)h * (size_t)n;
    for (int t = 0; t < n; t++) buf[t] = (scored){jb->s[base + (size_t)t], t};
    qsort(buf, (size_t)n, sizeof(scored), by_score);
    memset(jb->mask + base, 0, (size_t)n * sizeof(int32_t));
    for (int r = 0; r < jb->k[h] && r < n; r++) jb->mask[base + (size_t)buf[r].idx] = 1;
}

kvp_status kvp_cpu_op_topk_rows(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_topk_rows *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2]};
    return kvp_cpu_parallel(ctx, p->H, sizeof(scored) * (size_t)(p->n ? p->n : 1), one_row, &jb);
}
