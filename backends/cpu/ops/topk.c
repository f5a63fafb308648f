#include <stdlib.h>
#include <string.h>

#include "../cpu_ops.h"

typedef struct scored {
    float s;
    int32_t idx;
} scored;

/* Decreasing score, then increasing index: a total order, so the selection is unique. */
static int by_score(const void *pa, const void *pb) {
    const scored *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

kvp_status kvp_cpu_op_topk(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_topk *p = params;
    const float *s = ptr[0];
    int32_t *mask = ptr[1];
    size_t total = (size_t)p->H * p->n;
    size_t len = p->global_mode ? total : (size_t)p->n;
    scored *buf = malloc(sizeof(scored) * (len ? len : 1));
    if (!buf) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu topk: out of memory");
    memset(mask, 0, total * sizeof(int32_t));
    int rows = p->global_mode ? 1 : p->H;
    for (int r = 0; r < rows; r++) {
        size_t base = (size_t)r * len;
        for (size_t i = 0; i < len; i++) buf[i] = (scored){s[base + i], (int32_t)i};
        qsort(buf, len, sizeof(scored), by_score);
        for (int k = 0; k < p->k && (size_t)k < len; k++) mask[base + (size_t)buf[k].idx] = 1;
    }
    free(buf);
    return KVP_OK;
}
