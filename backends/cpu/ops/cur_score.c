#include "../cpu_ops.h"

typedef struct job {
    const kvp_p_cur_score *p;
    const void *K, *V;
    const int32_t *meta;
    const float *proj;
    float *out;
} job;

/* Squared norm of a row, or of its projection proj^T x when r > 0. */
static double sq_norm(const kvp_p_cur_score *p, const float *proj, const float *x) {
    if (p->r == 0) return kvp_cpu_dot(x, x, p->d);
    double s = 0;
    for (int e = 0; e < p->r; e++) {
        double y = 0;
        for (int c = 0; c < p->d; c++) y += (double)x[c] * proj[(size_t)c * p->r + e];
        s += y * y;
    }
    return s;
}

/* Divides every entry by the sum of its window of w tokens (0 for a zero-sum window). */
static void window_normalise(double *x, int n, int w) {
    for (int b = 0; b < n; b += w) {
        int e = b + w < n ? b + w : n;
        double sum = 0;
        for (int t = b; t < e; t++) sum += x[t];
        for (int t = b; t < e; t++) x[t] = sum != 0 ? x[t] / sum : 0.0;
    }
}

static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_cur_score *p = jb->p;
    int d = p->d, n = p->n;
    double *k2 = scratch, *v2 = k2 + n;
    float *x = (float *)(v2 + n);
    for (int t = 0; t < n; t++) {
        kvp_cpu_load_row(p->dtype, jb->K, kvp_cpu_row(jb->meta, j, t, d), d, x);
        k2[t] = sq_norm(p, jb->proj, x);
        kvp_cpu_load_row(p->dtype, jb->V, kvp_cpu_row(jb->meta, j, t, d), d, x);
        v2[t] = sq_norm(p, jb->proj, x);
    }
    if (p->window > 0) {
        window_normalise(k2, n, p->window);
        window_normalise(v2, n, p->window);
    }
    double total = 0;
    for (int t = 0; t < n; t++) {
        double s = p->mode == KVP_CUR_KEY      ? k2[t]
                   : p->mode == KVP_CUR_VALUE  ? v2[t]
                   : p->mode == KVP_CUR_KV_AVG ? (k2[t] + v2[t]) / 2
                                               : k2[t] * v2[t];
        k2[t] = s;
        total += s;
    }
    float *out = jb->out + (size_t)j * n;
    for (int t = 0; t < n; t++) out[t] = t < p->n_sinks ? 1.0f : total != 0 ? (float)(k2[t] / total) : 0.0f;
}

kvp_status kvp_cpu_op_cur_score(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_cur_score *p = params;
    job jb = {p, ptr[0], ptr[1], ptr[2], ptr[3], ptr[4]};
    size_t scratch = sizeof(double) * 2 * (size_t)p->n + sizeof(float) * (size_t)p->d;
    return kvp_cpu_parallel(ctx, p->Hk, scratch, one_head, &jb);
}
