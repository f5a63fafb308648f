/* ChunkKVPress (arXiv 2502.00299): keeps whole contiguous chunks of chunk_length tokens, the
 * same for every head, ranked by the mean over the chunk of the inner score summed over kv
 * heads. The chunk ranking is O(n / chunk_length) work and runs on the host. */
#include <stdlib.h>

#include "press_impl.h"

static kvp_status chunkkv_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    int64_t n = run->n, C = kvp__press_int(p, "chunk_length");
    int64_t full = n / C, rest = n % C;
    if (full == 0) return kvp__press_compress_run(p->inner, run); /* as kvpress */
    kvp_buffer *scores;
    KVP_TRY(kvp__press_score(p->inner, run, &scores));
    size_t count = (size_t)run->Hk * (size_t)n;
    int64_t n_chunks = full + (rest > 0);
    float *s = kvp__malloc(ctx, count * sizeof(float));
    double *chunk = kvp__malloc(ctx, (size_t)n_chunks * sizeof(double));
    int32_t *mask = kvp__malloc(ctx, count * sizeof(int32_t));
    char *keep = kvp__calloc(ctx, (size_t)n_chunks, 1);
    kvp_status st = (s && chunk && mask && keep) ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
    if (st == KVP_OK) st = kvp__download(ctx, scores, 0, s, count * sizeof(float));
    if (st == KVP_OK) {
        for (int64_t c = 0; c < n_chunks; c++) {
            int64_t t0 = c * C, t1 = c < full ? t0 + C : n;
            double sum = 0;
            for (int64_t t = t0; t < t1; t++) {
                float over_heads = 0; /* summed over heads in f32, as torch */
                for (int j = 0; j < run->Hk; j++) over_heads += s[(size_t)j * (size_t)n + (size_t)t];
                sum += over_heads;
            }
            chunk[c] = sum / (double)(t1 - t0);
        }
        int64_t kept = (int64_t)((double)n_chunks * (1.0 - run->ratio));
        if (kept < 1) kept = 1;
        /* The `kept` best chunks; ties go to the earlier chunk. */
        for (int64_t k = 0; k < kept; k++) {
            int64_t best = -1;
            for (int64_t c = 0; c < n_chunks; c++)
                if (!keep[c] && (best < 0 || chunk[c] > chunk[best])) best = c;
            keep[best] = 1;
        }
        for (int j = 0; j < run->Hk; j++)
            for (int64_t t = 0; t < n; t++)
                mask[(size_t)j * (size_t)n + (size_t)t] = keep[t / C < full ? t / C : full];
        kvp_buffer *dmask;
        st = kvp__mask_alloc(run, run->Hk, &dmask);
        if (st == KVP_OK) st = kvp__upload(ctx, dmask, 0, mask, count * sizeof(int32_t));
        if (st == KVP_OK) st = kvp__cache_compact(ctx, run->cache, run->layer, dmask, n);
    }
    free(s);
    free(chunk);
    free(mask);
    free(keep);
    return st;
}

static const kvp_param_info chunkkv_params[] = {
    KVP_PARAM_INNER,
    KVP_PARAM_RATIO_INHERIT,
    {"chunk_length", KVP_PARAM_INT, 20, 1, 1e9, 0, "tokens per chunk"},
};

const kvp_press_vtable kvp_press_chunkkv = {
    .info = {.name = "chunkkv",
             .summary = "keep whole chunks ranked by the inner score (same for every head)",
             .paper = "arXiv:2502.00299",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(chunkkv_params),
             .params = chunkkv_params},
    .compress = chunkkv_compress,
};
