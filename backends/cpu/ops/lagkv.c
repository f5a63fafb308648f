#include <math.h>
#include <stdlib.h>

#include "../cpu_ops.h"

/* Softmax over the tokens of one partition of the per-token std of the channels, each channel
 * rescaled by the range it has in the next partition (kvp_params.h, LAGKV). */
static void partition_scores(const kvp_p_lagkv *p, const void *X, const int32_t *meta, int j,
                             int start, double *lo, double *hi, double *row, double *out) {
    int d = p->d, lag = p->lag;
    for (int c = 0; c < d; c++) {
        lo[c] = INFINITY;
        hi[c] = -INFINITY;
    }
    for (int r = 0; r < lag; r++) {
        size_t ref = kvp_cpu_row(meta, j, start + lag + r, d);
        for (int c = 0; c < d; c++) {
            double y = kvp_cpu_load(p->dtype, X, ref + c);
            lo[c] = fmin(lo[c], y);
            hi[c] = fmax(hi[c], y);
        }
    }
    double mx = -INFINITY;
    for (int u = 0; u < lag; u++) {
        size_t at = kvp_cpu_row(meta, j, start + u, d);
        double mean = 0;
        for (int c = 0; c < d; c++) {
            double v = kvp_cpu_load(p->dtype, X, at + c);
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
    int P = (n - n_sink) / lag;
    double *buf = malloc(sizeof(double) * (size_t)(3 * d + 2 * lag));
    if (!buf) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu lagkv: out of memory");
    double *lo = buf, *hi = lo + d, *row = hi + d, *sk = row + d, *sv = sk + lag;
    for (int j = 0; j < p->Hk; j++) {
        float *o = out + (size_t)j * n;
        for (int t = 0; t < n; t++) o[t] = 1.0f; /* sinks and the last full partition + tail */
        for (int part = 0; part + 1 < P; part++) {
            int start = n_sink + part * lag;
            partition_scores(p, K, meta, j, start, lo, hi, row, sk);
            partition_scores(p, V, meta, j, start, lo, hi, row, sv);
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
    free(buf);
    return KVP_OK;
}
