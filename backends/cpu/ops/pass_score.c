#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_pass_score *p;
    const float *q, *rnorm, *ccol;
    const void *K, *kself;
    const int32_t *meta;
    double *r; /* [Hq, e - s] reduced over rows */
} job;

/* One query head: its keys (sinks, chunk, the pass's own) decoded once, then every row's
 * softmax over the keys it sees, reduced over the rows for the chunk columns. */
static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_pass_score *p = jb->p;
    int d = p->d, j = i / (p->Hq / p->Hk), ns = p->n_sink, ch = p->e - p->s, m = p->m;
    int cols = ns + ch + m;
    float *keys = scratch;
    double *z = (double *)(keys + (size_t)cols * d + ((size_t)cols * d) % 2);
    for (int u = 0; u < ns; u++)
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, u, d), d, keys + (size_t)u * d);
    for (int c = 0; c < ch; c++)
        kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, p->s + c, d), d,
                         keys + (size_t)(ns + c) * d);
    for (int b = 0; b < m; b++)
        kvp_cpu_load_row(p->s_dtype, jb->kself, ((size_t)j * m + b) * d, d,
                         keys + (size_t)(ns + ch + b) * d);
    double *r = jb->r + (size_t)i * ch;
    for (int c = 0; c < ch; c++) r[c] = p->row_mode == KVP_PASS_REDUCE_MAX ? -INFINITY : 0;
    for (int a = 0; a < m; a++) {
        const float *qa = jb->q + ((size_t)i * m + a) * d;
        int seen = ns + ch + a + 1; /* the pass's keys 0 .. a */
        double mx = -INFINITY, sum = 0;
        for (int u = 0; u < seen; u++) {
            z[u] = kvp_cpu_dot(qa, keys + (size_t)u * d, d) * p->scale;
            if (z[u] > mx) mx = z[u];
        }
        for (int u = 0; u < seen; u++) sum += exp(z[u] - mx);
        double row = p->has_row_norm ? jb->rnorm[a] : 1.0;
        for (int c = 0; c < ch; c++) {
            double v = exp(z[ns + c] - mx) / sum / row;
            if (p->row_mode == KVP_PASS_REDUCE_MAX)
                r[c] = v > r[c] ? v : r[c];
            else
                r[c] += v / m;
        }
    }
    if (p->has_col_scale)
        for (int c = 0; c < ch; c++) r[c] *= jb->ccol[(size_t)i * p->ccol_stride + p->s + c];
}

kvp_status kvp_cpu_op_pass_score(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_pass_score *p = params;
    int ch = p->e - p->s, G = p->Hq / p->Hk;
    size_t cols = (size_t)p->n_sink + (size_t)ch + (size_t)p->m;
    double *r = malloc(sizeof(double) * (size_t)p->Hq * (size_t)(ch ? ch : 1));
    if (!r) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu pass_score: out of memory");
    job jb = {p, ptr[0], ptr[4], ptr[5], ptr[1], ptr[3], ptr[2], r};
    size_t scratch = sizeof(float) * (cols * (size_t)p->d + 1) + sizeof(double) * cols;
    kvp_status st = kvp_cpu_parallel(ctx, p->Hq, scratch, one_head, &jb);
    float *out = ptr[6];
    for (int row = 0; st == KVP_OK && row < (p->group_mode == KVP_PASS_GROUP_NONE ? p->Hq : p->Hk);
         row++)
        for (int c = 0; c < ch; c++) {
            double v;
            if (p->group_mode == KVP_PASS_GROUP_NONE) {
                v = r[(size_t)row * ch + c];
            } else {
                v = p->group_mode == KVP_PASS_REDUCE_MAX ? -INFINITY : 0;
                for (int i = row * G; i < (row + 1) * G; i++) {
                    double x = r[(size_t)i * ch + c];
                    if (p->group_mode == KVP_PASS_REDUCE_MAX)
                        v = x > v ? x : v;
                    else
                        v += x / G;
                }
            }
            out[(size_t)row * p->out_stride + p->s + c] = (float)v;
        }
    free(r);
    return st;
}
