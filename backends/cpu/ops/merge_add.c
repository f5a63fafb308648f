#include <stdlib.h>
#include <string.h>

#include "../cpu_ops.h"

typedef struct pair_ref {
    int32_t dst, index;
} pair_ref;

/* by destination, then by pair index: the pairs of one destination in their order */
static int by_destination(const void *pa, const void *pb) {
    const pair_ref *a = pa, *b = pb;
    if (a->dst != b->dst) return a->dst < b->dst ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

typedef struct job {
    const kvp_p_merge_add *p;
    void *V;
    const int32_t *meta, *pairs;
    const float *coef;
} job;

/* scratch: a row accumulator [d] double, the pairs by destination [count], sources [count, d]
 * f32 (read before any row is written), one row [d] f32 */
static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_merge_add *p = jb->p;
    int d = p->d, count = p->count;
    double *acc = scratch;
    pair_ref *order = (pair_ref *)(acc + d);
    float *src = (float *)(order + count), *row = src + (size_t)count * d;
    for (int i = 0; i < count; i++) {
        kvp_cpu_load_row(p->v_dtype, jb->V, kvp_cpu_row(jb->meta, j, jb->pairs[2 * i + 1], d), d,
                         src + (size_t)i * d);
        order[i] = (pair_ref){jb->pairs[2 * i], i};
    }
    qsort(order, (size_t)count, sizeof *order, by_destination);
    for (int g = 0; g < count;) {
        int32_t dst = order[g].dst;
        size_t at = kvp_cpu_row(jb->meta, j, dst, d);
        kvp_cpu_load_row(p->v_dtype, jb->V, at, d, row);
        for (int c = 0; c < d; c++) acc[c] = row[c];
        for (; g < count && order[g].dst == dst; g++) {
            int i = order[g].index;
            double w = jb->coef[(size_t)j * count + i];
            for (int c = 0; c < d; c++) acc[c] += w * src[(size_t)i * d + c];
        }
        for (int c = 0; c < d; c++)
            kvp_cpu_store(p->v_dtype, jb->V, at + (size_t)c, (float)acc[c]);
    }
}

kvp_status kvp_cpu_op_merge_add(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_merge_add *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3]};
    size_t d = (size_t)p->d, count = (size_t)p->count;
    size_t scratch = sizeof(double) * d + sizeof(pair_ref) * count + sizeof(float) * (count * d + d);
    return kvp_cpu_parallel(ctx, p->Hk, scratch, one_head, &jb);
}
