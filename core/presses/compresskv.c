/* CompressKV (arXiv 2508.02401; COMPRESSKV.md 1.3 and 2.2): each layer scores its prompt
 * tokens with the window attention of only its first `selection_heads` semantic-retrieval
 * query heads (SRH, ranked offline by kvpress-tool calibrate), pooled and averaged into one
 * score row that every kv head of the layer shares; the layer keeps its budget B_l of them,
 * the observation window always included. B_l comes from an offline per-layer eviction-error
 * profile (layers whose output suffers most under compression get more) around the average
 * budget B = floor(n (1 - compression_ratio)), so the whole model keeps L B tokens per kv
 * head, as SnapKV does at the same ratio.
 *
 * Choices where the paper and the reference code leave room (README, "CompressKV"): token
 * ties break by lower position and layer-order ties by lower layer; the window's protection
 * is kvpress's max + 1 padding, so a budget below the window keeps its earliest tokens; the
 * bound m is capped at B so that small prompts still compress, and the bound M at the prompt
 * length n so that no budget is lost to a layer that cannot use it. */
#include "compresskv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

/* ---- the budget allocation --------------------------------------------------------------- */

typedef struct ranked_layer {
    double e;
    int layer;
} ranked_layer;

static int by_e_desc(const void *a, const void *b) {
    const ranked_layer *x = a, *y = b;
    if (x->e != y->e) return x->e > y->e ? -1 : 1;
    return x->layer - y->layer;
}

static int by_e_asc(const void *a, const void *b) {
    const ranked_layer *x = a, *y = b;
    if (x->e != y->e) return x->e < y->e ? -1 : 1;
    return x->layer - y->layer;
}

kvp_status kvp__compresskv_budgets(const double *e, int L, int64_t B, int64_t m, int64_t M,
                                   int64_t *out) {
    if (!e || !out || L < 1 || L > KVP_COMPRESSKV_MAX_LAYERS)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv budgets: %d layers (1 to %d needed)", L,
                              KVP_COMPRESSKV_MAX_LAYERS);
    if (m < 0 || m > B || B > M)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv budgets: need 0 <= m <= B <= M, got m = %lld, B = %lld, "
                              "M = %lld",
                              (long long)m, (long long)B, (long long)M);
    for (int l = 0; l < L; l++)
        if (!(e[l] >= 0) || isinf(e[l]))
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "compresskv budgets: profile entry %d is %g (finite and >= 0 "
                                  "needed)",
                                  l, e[l]);
    /* In double like the reference (NumPy float64); rint rounds half to even. */
    double spare = (double)L * (double)B - (double)L * (double)m;
    int64_t sum = 0;
    for (int l = 0; l < L; l++) {
        double b = (double)m + rint(e[l] * spare);
        if (b < (double)m) b = (double)m;
        if (b > (double)M) b = (double)M;
        out[l] = (int64_t)b;
        sum += out[l];
    }
    int64_t diff = (int64_t)L * B - sum;
    if (diff == 0) return KVP_OK;
    ranked_layer order[KVP_COMPRESSKV_MAX_LAYERS];
    for (int l = 0; l < L; l++) order[l] = (ranked_layer){e[l], l};
    qsort(order, (size_t)L, sizeof *order, diff > 0 ? by_e_desc : by_e_asc);
    /* One unit per layer per pass; L m <= L B <= L M guarantees it ends at diff = 0. */
    while (diff != 0) {
        int moved = 0;
        for (int k = 0; k < L && diff != 0; k++) {
            int64_t *b = &out[order[k].layer];
            if (diff > 0 && *b < M) {
                (*b)++;
                diff--;
                moved = 1;
            } else if (diff < 0 && *b > m) {
                (*b)--;
                diff++;
                moved = 1;
            }
        }
        if (!moved) break;
    }
    return KVP_OK;
}

/* ---- the artefact ------------------------------------------------------------------------ */

static int has_tensor(const kvp_artefact *a, const char *name) {
    for (int i = 0; i < kvp_artefact_tensor_count(a); i++)
        if (!strcmp(kvp_artefact_tensor_name(a, i), name)) return 1;
    return 0;
}

/* The head ranking tensor; L and Hq from its shape. Errors go to the thread's message. */
static kvp_status get_ranking(const kvp_artefact *a, kvp_tensor *t, int *L, int *Hq) {
    if (!has_tensor(a, KVP_COMPRESSKV_RANKING))
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv artefact: no '%s' tensor (write one with kvpress-tool "
                              "calibrate)",
                              KVP_COMPRESSKV_RANKING);
    KVP_TRY(kvp_artefact_get(a, KVP_COMPRESSKV_RANKING, t));
    if (t->ndim != 2 || t->shape[0] < 1 || t->shape[0] > KVP_COMPRESSKV_MAX_LAYERS ||
        t->shape[1] < 1 || t->shape[1] > KVP_COMPRESSKV_MAX_HEADS)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv artefact: '%s' must be [layers, query heads] with 1 to "
                              "%d layers and 1 to %d heads",
                              KVP_COMPRESSKV_RANKING, KVP_COMPRESSKV_MAX_LAYERS,
                              KVP_COMPRESSKV_MAX_HEADS);
    *L = (int)t->shape[0];
    *Hq = (int)t->shape[1];
    return KVP_OK;
}

/* The profile as doubles, or *present = 0 when the artefact has none. */
static kvp_status get_profile(const kvp_artefact *a, int L, double *e, int *present) {
    *present = has_tensor(a, KVP_COMPRESSKV_PROFILE);
    if (!*present) return KVP_OK;
    kvp_tensor t;
    KVP_TRY(kvp_artefact_get(a, KVP_COMPRESSKV_PROFILE, &t));
    if (t.ndim != 1 || t.shape[0] != L)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv artefact: '%s' must be [%d] (one entry per layer of '%s')",
                              KVP_COMPRESSKV_PROFILE, L, KVP_COMPRESSKV_RANKING);
    double sum = 0;
    for (int l = 0; l < L; l++) {
        e[l] = kvp__load(t.dtype, t.data, (size_t)l);
        if (!(e[l] >= 0) || isinf(e[l]))
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "compresskv artefact: '%s'[%d] is %g (finite and >= 0 needed)",
                                  KVP_COMPRESSKV_PROFILE, l, e[l]);
        sum += e[l];
    }
    if (fabs(sum - 1.0) > 1e-3)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv artefact: '%s' sums to %.6g; it must be normalised to 1",
                              KVP_COMPRESSKV_PROFILE, sum);
    return KVP_OK;
}

static kvp_status compresskv_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    const char *format = kvp_artefact_metadata(a, "format");
    if (format && strcmp(format, KVP_COMPRESSKV_FORMAT))
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "compresskv artefact: format '%s' (expected '%s')", format,
                              KVP_COMPRESSKV_FORMAT);
    kvp_tensor t;
    int L, Hq;
    KVP_TRY(get_ranking(a, &t, &L, &Hq));
    unsigned char seen[KVP_COMPRESSKV_MAX_HEADS];
    for (int l = 0; l < L; l++) {
        memset(seen, 0, (size_t)Hq);
        for (int h = 0; h < Hq; h++) {
            float v = kvp__load(t.dtype, t.data, (size_t)l * (size_t)Hq + (size_t)h);
            if (!(v >= 0 && v < (float)Hq && v == floorf(v)) || seen[(int)v])
                return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                      "compresskv artefact: row %d of '%s' is not a permutation of "
                                      "the query heads 0..%d (entry %d is %g)",
                                      l, KVP_COMPRESSKV_RANKING, Hq - 1, h, (double)v);
            seen[(int)v] = 1;
        }
    }
    double e[KVP_COMPRESSKV_MAX_LAYERS];
    int present;
    KVP_TRY(get_profile(a, L, e, &present));
    if (has_tensor(a, KVP_COMPRESSKV_SCORES)) {
        KVP_TRY(kvp_artefact_get(a, KVP_COMPRESSKV_SCORES, &t));
        if (t.ndim != 2 || t.shape[0] != L || t.shape[1] != Hq)
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "compresskv artefact: '%s' must be [%d, %d] like '%s'",
                                  KVP_COMPRESSKV_SCORES, L, Hq, KVP_COMPRESSKV_RANKING);
    }
    const char *hk = kvp_artefact_metadata(a, "n_kv_heads");
    if (hk) {
        char *end;
        long v = strtol(hk, &end, 10);
        if (*hk == 0 || *end || v < 1 || Hq % v)
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "compresskv artefact: metadata n_kv_heads '%s' does not divide "
                                  "its %d query heads",
                                  hk, Hq);
    }
    return KVP_OK;
}

/* ---- the press --------------------------------------------------------------------------- */

static kvp_status compresskv_check(const kvp_press *p, const kvp_press_run *run) {
    int64_t w = kvp__press_int(p, "window_size"), k = kvp__press_int(p, "selection_heads");
    KVP_TRY(kvp__snapkv_check(run, "compresskv", w, kvp__press_int(p, "kernel_size")));
    kvp_tensor t;
    int L, Hq;
    if (get_ranking(p->artefact, &t, &L, &Hq) != KVP_OK) {
        kvp__error_tls_to_ctx(run->ctx);
        return KVP_ERR_INVALID_ARG;
    }
    int model_L = run->cache->opt.n_layers, model_Hq = kvp__run_query_heads(run);
    if (L != model_L || Hq != model_Hq)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "compresskv: the artefact was calibrated for %d layers x %d query heads; "
                          "this model has %d layers x %d query heads",
                          L, Hq, model_L, model_Hq);
    const char *hk = kvp_artefact_metadata(p->artefact, "n_kv_heads");
    if (hk && atoi(hk) != run->Hk)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "compresskv: the artefact was calibrated for %s kv heads; the cache has %d",
                          hk, run->Hk);
    if (k > Hq)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "compresskv: selection_heads = %lld exceeds the model's %d query heads",
                          (long long)k, Hq);
    return KVP_OK;
}

static kvp_status compresskv_score(const kvp_press *p, const kvp_press_run *run,
                                   kvp_buffer **out) {
    kvp_context *ctx = run->ctx;
    int64_t w = kvp__press_int(p, "window_size");
    int k = (int)kvp__press_int(p, "selection_heads");
    int Hq, L, Hq_a;
    kvp_buffer *colsum, *pooled, *heads;
    /* O_h(t) = sum over the window's queries of head h's attention to token t (not the mean:
     * the reference sums; the ranking is the same). */
    KVP_TRY(kvp__window_colsum(run, w, KVP_COLSUM_SUM, &colsum, &Hq));
    KVP_TRY(kvp__scores_alloc(run, Hq, &pooled));
    kvp_p_pool1d pp = {.H = Hq, .n = (int)run->n, .len = (int)(run->n - w),
                       .k = (int)kvp__press_int(p, "kernel_size")};
    KVP_TRY(KVP_RUN(ctx, POOL1D, &pp, KVP_B(colsum), KVP_B(pooled)));

    kvp_tensor rank;
    if (get_ranking(p->artefact, &rank, &L, &Hq_a) != KVP_OK) {
        kvp__error_tls_to_ctx(ctx);
        return KVP_ERR_INVALID_ARG;
    }
    int32_t list[KVP_COMPRESSKV_MAX_HEADS];
    for (int a = 0; a < k; a++)
        list[a] = (int32_t)kvp__load(rank.dtype, rank.data,
                                     (size_t)run->layer * (size_t)Hq_a + (size_t)a);
    KVP_TRY(kvp__scratch(ctx, sizeof(int32_t) * (size_t)k, &heads));
    KVP_TRY(kvp__upload(ctx, heads, 0, list, sizeof(int32_t) * (size_t)k));

    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    kvp_p_head_subset_mean hm = {.Hq = Hq, .Hk = run->Hk, .n = (int)run->n, .k = k};
    KVP_TRY(KVP_RUN(ctx, HEAD_SUBSET_MEAN, &hm, KVP_B(pooled), KVP_B(heads), KVP_B(*out)));
    return kvp__pad(run, *out, run->Hk, 0, run->n - w);
}

/* B_l of this layer. The artefact and the parameters were validated before, so the
 * allocation cannot fail; should it, the layer falls back to the average budget. */
static int64_t compresskv_budget(const kvp_press *p, const kvp_press_run *run) {
    int64_t B = kvp_n_keep(run->n, run->ratio);
    double e[KVP_COMPRESSKV_MAX_LAYERS];
    int present = 0, L = run->cache->opt.n_layers;
    if (!kvp__press_int(p, "layer_budgets") || get_profile(p->artefact, L, e, &present) != KVP_OK ||
        !present)
        return B;
    int64_t m = kvp__press_int(p, "min_budget");
    if (m > B) m = B;
    /* A layer cannot keep more than its n tokens: capping M at n hands what it could not use
     * to the other layers, so the model keeps exactly L B tokens whatever the profile. */
    int64_t M = (int64_t)floor(kvp__press_param(p, "max_budget_factor") * (double)B);
    if (M > run->n) M = run->n;
    if (M < B) M = B;
    int64_t budgets[KVP_COMPRESSKV_MAX_LAYERS];
    if (kvp__compresskv_budgets(e, L, B, m, M, budgets) != KVP_OK) return B;
    return budgets[run->layer];
}

static const kvp_param_info compresskv_params[] = {
    {"compression_ratio", KVP_PARAM_FLOAT, 0.0, 0.0, 1.0, 1,
     "fraction of the cached tokens to evict on average over the layers: the average budget "
     "is B = floor(n (1 - r)) tokens per layer"},
    {"window_size", KVP_PARAM_INT, 8, 1, 1e9, 0,
     "observation window: the last prompt tokens, whose attention scores the others; always kept"},
    {"kernel_size", KVP_PARAM_INT, 5, 1, 1e9, 0, "width of the average pooling (odd)"},
    {"selection_heads", KVP_PARAM_INT, 4, 1, KVP_COMPRESSKV_MAX_HEADS, 0,
     "query heads per layer that score the tokens: the first of the layer's SRH ranking"},
    {"min_budget", KVP_PARAM_INT, 32, 0, 1e9, 0,
     "smallest per-layer budget m of the allocation (capped at the average budget)"},
    {"max_budget_factor", KVP_PARAM_FLOAT, 3, 1, 1e9, 0,
     "largest per-layer budget M = floor(factor * B), at most the prompt length"},
    {"layer_budgets", KVP_PARAM_BOOL, 1, 0, 1, 0,
     "budgets from the artefact's layer profile (false, or no profile: every layer keeps B)"},
};

const kvp_press_vtable kvp_press_compresskv = {
    .info = {.name = "compresskv",
             .summary = "semantic-retrieval heads score the tokens; layer budgets from an "
                        "offline error profile",
             .paper = "arXiv:2508.02401",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_ATTENTION | KVP_NEED_ARTEFACT,
             .n_params = KVP_COUNT(compresskv_params),
             .params = compresskv_params},
    .check = compresskv_check,
    .score = compresskv_score,
    .budget = compresskv_budget,
    .check_artefact = compresskv_check_artefact,
};
