#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

/* Softmax over the tokens of one partition of the per-token std of the channels, each channel
 * rescaled by the range it has in the next partition (kvp_params.h, LAGKV). */
static void partition_scores(const kvp_p_lagkv *p, const void *X, const int32_t *meta, int j,
                             int start, double *lo, double *hi, double *row, float *f,
                             double *out) {
    int d = p->d, lag = p->lag;
    for (int c = 0; c < d; c++) {
        lo[c] = INFINITY;
        hi[c] = -INFINITY;
    }
    for (int r = 0; r < lag; r++) {
        kvp_cpu_load_row(p->dtype, X, kvp_cpu_row(meta, j, start + lag + r, d), d, f);
        for (int c = 0; c < d; c++) {
            lo[c] = fmin(lo[c], f[c]);
            hi[c] = fmax(hi[c], f[c]);
        }
    }
    double mx = -INFINITY;
    for (int u = 0; u < lag; u++) {
        kvp_cpu_load_row(p->dtype, X, kvp_cpu_row(meta, j, start + u, d), d, f);
        double mean = 0;
        for (int c = 0; c < d; c++) {
            double v = f[c];
            row[c] = hi[c] > lo[c] ? (v - lo[c]) / (hi[c] - lo[c]) : 0.0;
            mean += row[c];
        }
        mean /= d;
        double ss = 0;
        for (int c = 0; c < d; c++) ss += (row[c] - mean) * (row[c] - mean);
        out[u] = d > 1 ? sqrt(ss / (d - 1)) : 0.0; /* unbiased std */
        mx = fmax(mx, out[u]);
    }
    double sum = 0;
    for (int u = 0; u < lag; u++) sum += exp(out[u] - mx);
    for (int u = 0; u < lag; u++) out[u] = exp(out[u] - mx) / sum;
}

typedef struct job {
    const kvp_p_lagkv *p;
    const void *K, *V;
    const int32_t *meta;
    float *out;
} job;

static void one_head(void *arg, int j, void *scratch) {
    const job *jb = arg;
    const kvp_p_lagkv *p = jb->p;
    int n = p->n, lag = p->lag, d = p->d, P = (n - p->n_sink) / lag;
    double *lo = scratch, *hi = lo + d, *row = hi + d, *sk = row + d, *sv = sk + lag;
    float *f = (float *)(sv + lag);
    float *o = jb->out + (size_t)j * n;
    for (int t = 0; t < n; t++) o[t] = 1.0f; /* sinks and the last full partition + tail */
    for (int part = 0; part + 1 < P; part++) {
        int start = p->n_sink + part * lag;
        partition_scores(p, jb->K, jb->meta, j, start, lo, hi, row, f, sk);
        partition_scores(p, jb->V, jb->meta, j, start, lo, hi, row, f, sv);
        for (int u = 0; u < lag; u++) sk[u] = (sk[u] + sv[u]) / 2;
        for (int u = 0; u < lag; u++) {
            if (p->cross) {
                o[start + u] = (float)sk[u];
                continue;
            }
            int rank = 0; /* tokens ranked below u: smaller score, or equal and earlier */
            for (int w = 0; w < lag; w++)
                if (sk[w] < sk[u] || (sk[w] == sk[u] && w < u)) rank++;
            o[start + u] = (float)rank / (float)lag;
        }
    }
}

kvp_status kvp_cpu_op_lagkv(kvp_context *ctx, const void *params, void *const *ptr) {
    const kvp_p_lagkv *p = params;
    const void *K = ptr[0], *V = ptr[1];
    const int32_t *meta = ptr[2];
    float *out = ptr[3];
    int n = p->n, lag = p->lag, n_sink = p->n_sink, d = p->d;
    if (n < n_sink + 2 * lag) {
        for (int j = 0; j < p->Hk; j++)
            for (int t = 0; t < n; t++)
                out[(size_t)j * n + t] =
                    t < n_sink ? 1.0f : (float)(t - n_sink) / (float)(n - n_sink);
        return KVP_OK;
    }
    job jb = {p, K, V, meta, out};
    size_t scratch = sizeof(double) * (size_t)(3 * d + 2 * lag) + sizeof(float) * (size_t)d;
    return kvp_cpu_parallel(ctx, p->Hk, scratch, one_head, &jb);
}
