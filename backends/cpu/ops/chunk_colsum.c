#include <math.h>

#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_chunk_colsum *p;
    const float *q;
    const void *K;
    const int32_t *meta;
    float *out;
} job;

/* One query head: for every chunk, the C x C logits (padding per kvpress_pad), a softmax per
 * row in double, and the column sums. Scratch: the chunk's keys and one row of logits. */
static void one_head(void *arg, int i, void *scratch) {
    const job *jb = arg;
    const kvp_p_chunk_colsum *p = jb->p;
    int d = p->d, C = p->C, n = p->n, j = i / (p->Hq / p->Hk);
    float *keys = scratch;                       /* [C, d] */
    double *z = (double *)(keys + (size_t)C * d); /* [C] */
    double *col = z + C;                         /* [C] */
    float *out = jb->out + (size_t)i * n;
    for (int c0 = 0; c0 < n; c0 += C) {
        int real = n - c0 < C ? n - c0 : C;     /* real tokens in this chunk */
        int padded = p->kvpress_pad ? C : real; /* rows and columns that take part */
        for (int t = 0; t < real; t++)
            kvp_cpu_load_row(p->k_dtype, jb->K, kvp_cpu_row(jb->meta, j, c0 + t, d), d,
                             keys + (size_t)t * d);
        for (int t = 0; t < padded; t++) col[t] = 0;
        for (int a = 0; a < padded; a++) {
            const float *qa = a < real ? jb->q + ((size_t)i * p->q_stride + c0 + a) * d : NULL;
            double mx = -INFINITY, sum = 0;
            for (int t = 0; t < padded; t++) {
                if (t >= real)
                    z[t] = -1e-9; /* a padded key column (kvpress's fill) */
                else if (!qa)
                    z[t] = 0; /* a padded query row */
                else
                    z[t] = (double)p->scale * kvp_cpu_dot(qa, keys + (size_t)t * d, d);
                mx = z[t] > mx ? z[t] : mx;
            }
            for (int t = 0; t < padded; t++) sum += exp(z[t] - mx);
            for (int t = 0; t < padded; t++) col[t] += exp(z[t] - mx) / sum;
        }
        for (int t = 0; t < real; t++) out[c0 + t] = (float)col[t];
    }
}

kvp_status kvp_cpu_op_chunk_colsum(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_chunk_colsum *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3]};
    size_t C = (size_t)p->C;
    size_t scratch = sizeof(float) * C * (size_t)p->d + sizeof(double) * 2 * C + sizeof(double);
    return kvp_cpu_parallel(ctx, p->Hq, scratch, one_head, &jb);
}
