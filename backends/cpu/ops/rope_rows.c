#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_rope_rows *p;
    const void *X;
    const int32_t *meta, *pos;
    const float *cs;
    float *out;
} job;

static void one_head(void *arg, int h, void *scratch) {
    const job *jb = arg;
    const kvp_p_rope_rows *p = jb->p;
    int d = p->d, half = d / 2;
    float *x = scratch;
    for (int t = 0; t < p->n; t++) {
        size_t row = kvp_cpu_row(jb->meta, h, t, d);
        kvp_cpu_load_row(p->x_dtype, jb->X, row, d, x);
        int r = jb->pos[row / (size_t)d] - p->p0;
        float *o = jb->out + ((size_t)h * p->n + t) * d;
        for (int f = 0; f < half; f++) {
            int u = p->rope_layout == KVP_LAYOUT_HALF_SPLIT ? f : 2 * f;
            int v = p->rope_layout == KVP_LAYOUT_HALF_SPLIT ? f + half : 2 * f + 1;
            float c = jb->cs[((size_t)r * half + f) * 2], s = jb->cs[((size_t)r * half + f) * 2 + 1];
            o[u] = x[u] * c - x[v] * s;
            o[v] = x[v] * c + x[u] * s;
        }
    }
}

kvp_status kvp_cpu_op_rope_rows(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_rope_rows *p = params;
    const int32_t *meta = ptr[1], *pos = ptr[2];
    for (int h = 0; h < p->H; h++) /* the table must cover every position */
        for (int t = 0; t < p->n; t++) {
            int r = pos[meta[2 * h] + t] - p->p0;
            if (r < 0 || r >= p->P)
                return kvp__error(ctx, KVP_ERR_INTERNAL,
                                  "rope_rows: position %d outside the table [%d, %d)",
                                  pos[meta[2 * h] + t], p->p0, p->p0 + p->P);
        }
    job jb = {p, ptr[0], meta, pos, ptr[3], ptr[4]};
    return kvp_cpu_parallel(ctx, p->H, sizeof(float) * (size_t)p->d, one_head, &jb);
}
