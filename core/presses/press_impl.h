/*
 * How a press is written. A press is a recipe of ops (core/ops.def): it never touches device
 * memory directly, so a new press needs no GPU code.
 *
 * Each press file defines one `const kvp_press_vtable kvp_press_<name>` (listed in
 * press_registry.c) with its parameters; the framework (press.c) validates parameter values,
 * checks the inputs the press declares it needs, and runs the scorer pipeline
 * (score -> per-head top-k -> compaction) unless the press brings its own `compress`.
 */
#ifndef KVP_PRESS_IMPL_H
#define KVP_PRESS_IMPL_H

#include "../internal.h"

#define KVP_MAX_PARAMS 12

/* Parameter rows shared by many presses. */
#define KVP_PARAM_RATIO                                                                       \
    {"compression_ratio", KVP_PARAM_FLOAT, 0.0, 0.0, 1.0, 1,                                  \
     "fraction of the cached tokens to evict"}
#define KVP_PARAM_RATIO_INHERIT                                                               \
    {"compression_ratio", KVP_PARAM_FLOAT, -1.0, 0.0, 1.0, 1,                                 \
     "fraction of the cached tokens to evict; -1 (default) uses the inner press's"}
#define KVP_PARAM_INNER {"press", KVP_PARAM_PRESS, 0, 0, 0, 0, "the scorer press to wrap"}
#define KVP_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* One compress/score call on one layer. */
typedef struct kvp_press_run {
    kvp_context *ctx;
    kvp_cache *cache;
    int layer;
    const kvp_inputs *in;
    int64_t n;          /* tokens per kv head (uniform) */
    int Hk, d;
    double ratio;       /* effective compression ratio of the outermost press */
    int64_t keep;       /* >= 0: keep exactly this many tokens per head (decoding target) */
} kvp_press_run;

typedef struct kvp_press_vtable {
    kvp_press_info info; /* name, summary, kind, needs, params */
    /* Checks the shapes and inputs of a run before anything is computed (optional). */
    kvp_status (*check)(const kvp_press *p, const kvp_press_run *run);
    /* Scores [Hk, n] f32 in a scratch buffer; higher = keep. NULL: no score. */
    kvp_status (*score)(const kvp_press *p, const kvp_press_run *run, kvp_buffer **scores);
    /* Tokens kept per head out of n (NULL: n_keep(n, ratio)). */
    int64_t (*budget)(const kvp_press *p, const kvp_press_run *run);
    /* A whole compression (NULL: the scorer pipeline). */
    kvp_status (*compress)(kvp_press *p, const kvp_press_run *run);
    /* Decoding presses only. */
    kvp_status (*decode_step)(kvp_press *p, kvp_press_run *run, int *compressed);
    void (*reset)(kvp_press *p);
    /* Presses that need an artefact (KVP_NEED_ARTEFACT): checks its tensors' names and
     * shapes; errors go to the thread's message (kvp__error_tls). */
    kvp_status (*check_artefact)(const kvp_press *p, const kvp_artefact *a);
    /* KVP_PARAM_CHOICE parameters: their names, '|'-separated, by parameter index
     * (.choices = {[2] = "linear|mlp"}); the value is the index of the name. */
    const char *choices[KVP_MAX_PARAMS];
    /* Presses that select across layers (KVP_NEED_ALL_LAYERS): phase 2 over the whole cache
     * (kvp_compress_all); `compress` is then phase 1 (records, changes nothing). */
    kvp_status (*compress_all)(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                               const kvp_forward *forward);
    /* Presses that learn from sample texts (kvp_press_calibrate). */
    kvp_status (*calibrate)(kvp_press *p, kvp_context *ctx, const kvp_forward *forward,
                            const int32_t *const *samples, const int64_t *lengths, int n);
} kvp_press_vtable;

struct kvp_press {
    const kvp_press_vtable *vt;
    double value[KVP_MAX_PARAMS]; /* by index of vt->info.params */
    kvp_press *inner;             /* the KVP_PARAM_PRESS parameter of wrappers */
    kvp_artefact *artefact;       /* referenced, for presses that need one */
    void *state;                  /* per-press run-time state (decoding presses, random) */
    void (*free_state)(void *state);
};

/* Parameter value by name (must exist: a programming error otherwise returns NAN). */
double kvp__press_param(const kvp_press *p, const char *name);
static inline int64_t kvp__press_int(const kvp_press *p, const char *name) {
    return (int64_t)kvp__press_param(p, name);
}

/* The ratio a press compresses with; for wrappers whose own ratio is unset (-1) it is the
 * inner press's. */
double kvp__press_ratio(const kvp_press *p);

/* Runs the inner press's check and score (wrappers). */
kvp_status kvp__press_check(const kvp_press *p, const kvp_press_run *run);
kvp_status kvp__press_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **scores);
/* The number of tokens per head the scorer pipeline keeps for this run. */
int64_t kvp__press_keep(const kvp_press *p, const kvp_press_run *run);
/* Checks inputs and compresses the run's layer with p (score + top-k + compaction unless the
 * press has its own compress). */
kvp_status kvp__press_compress_run(kvp_press *p, const kvp_press_run *run);

/* ---- shared steps of recipes (select.c) ---------------------------------------------------- */

/* A dense f32 [rows, n] scratch tensor. */
kvp_status kvp__scores_alloc(const kvp_press_run *run, int rows, kvp_buffer **out);
/* A dense int32 [rows, n] scratch mask. */
kvp_status kvp__mask_alloc(const kvp_press_run *run, int rows, kvp_buffer **out);
/* Per-head (global = 0) or layer-wide (global = 1) top-k mask of scores [Hk, n]. */
kvp_status kvp__topk(const kvp_press_run *run, kvp_buffer *scores, int64_t k, int global,
                     kvp_buffer *mask);
/* The standard scorer compression: keep `keep` best tokens per head and compact. */
kvp_status kvp__compress_by_scores(const kvp_press_run *run, kvp_buffer *scores, int64_t keep);
/* Padding of B3: every column outside [lo, hi) becomes max(scores[:, lo:hi]) + 1. */
kvp_status kvp__pad(const kvp_press_run *run, kvp_buffer *scores, int rows, int64_t lo,
                    int64_t hi);
/* s = (a s + b) * (w ? w : 1) over [rows, n]. */
kvp_status kvp__score_map(const kvp_press_run *run, kvp_buffer *s, int rows, float a, float b,
                          kvp_buffer *w);
/* Query heads of the run's queries / statistics / attention (0 when none is given). */
int kvp__run_query_heads(const kvp_press_run *run);
/* Post-RoPE copy of the last `w` query rows: f32 [Hq, w, d] in scratch; *q_pos0 receives
 * the position of the first of them. */
kvp_status kvp__window_queries(const kvp_press_run *run, int64_t w, kvp_buffer **out,
                               int64_t *q_pos0);
/* Attention column sums of the last w query positions over the layer (SnapKV family):
 * out f32 [Hq, n], using given attention probabilities when present. */
kvp_status kvp__window_colsum(const kvp_press_run *run, int64_t w, int mean_mode,
                              kvp_buffer **out, int *Hq);
/* L2 norm of each cached key (which = 0) or value (which = 1): f32 [Hk, n] in scratch. */
kvp_status kvp__row_norms(const kvp_press_run *run, int which, kvp_buffer **out);
/* A host array of scores [Hk, n] uploaded into scratch. */
kvp_status kvp__scores_from_host(const kvp_press_run *run, const float *host, kvp_buffer **out);

/* SnapKV's score (shared with PyramidKV): window attention of the last w queries, mean over
 * the window, average pooling, group mean, window padded with max + 1. */
kvp_status kvp__snapkv_scores(const kvp_press_run *run, int64_t w, int64_t kernel,
                              kvp_buffer **out);
kvp_status kvp__snapkv_check(const kvp_press_run *run, const char *name, int64_t w,
                             int64_t kernel);

/* ---- extra forward passes and cross-layer selection (forward.c) ----------------------------- */

/* Runs one pass through the engine. A failure of the press's own observer (its status in
 * *observer_status, its message already on ctx) wins; other failures are reported as the
 * engine's, with `what` describing the pass. */
kvp_status kvp__forward_run(kvp_context *ctx, const char *press, const kvp_forward *fwd,
                            const kvp_forward_pass *pass, const kvp_status *observer_status,
                            const char *what);
/* A tensor of an observed layer as a device tensor of ctx (host data staged in scratch);
 * checks its shape against `shape` (-1 = any) and that it is present. */
kvp_status kvp__forward_tensor(kvp_context *ctx, const char *press, const kvp_tensor *t,
                               const char *what, int ndim, const int64_t *shape,
                               kvp_tensor *out);
/* Compacts the run's layer by a keep mask built on the host (structural presses: O(Hk n)
 * bookkeeping), int32 [Hk, n], nonzero = keep. */
kvp_status kvp__compact_host_mask(const kvp_press_run *run, const int32_t *keep);
/* Artefact access for check_artefact hooks (errors to the thread's message, naming the press):
 * a tensor with `ndim` dims of the given shape (-1 = any); its values as a new f32 host array
 * (free()); an integer metadata value in [lo, hi]. */
kvp_status kvp__artefact_tensor(const char *press, const kvp_artefact *a, const char *name,
                                int ndim, const int64_t *shape, kvp_tensor *out);
float *kvp__tensor_host_f32(const kvp_tensor *t);
kvp_status kvp__artefact_int(const char *press, const kvp_artefact *a, const char *key,
                             int64_t lo, int64_t hi, int64_t *out);
/* The queries and keys of an observed layer, ready for PASS_SCORE: q_rot f32 [Hq, m, d]
 * (rotated with the model's RoPE at the pass's positions) in scratch, and the keys [Hk, m, d]
 * as a device tensor. Checks m, d and Hk against the pass and the cache. */
kvp_status kvp__forward_qk(kvp_context *ctx, const char *press, const kvp_rope *rope,
                           const float *inv_freq, const kvp_forward_layer *fl, int64_t m,
                           int d, int Hk, kvp_buffer **q_rot, kvp_tensor *keys, int *Hq);

/* KVzip's scoring (context reconstruction through the engine) and selection (kvzip.c), shared
 * with RestoreKV, whose restore tokens (when `restore` is set) are appended through the
 * adapter before the selection and are always kept. */
typedef struct kvp_kvzip_restore {
    const float *embeddings; /* [n, hidden_size] */
    int n;
    const kvp_artefact *adapter;
} kvp_kvzip_restore;
kvp_status kvp__kvzip_compress_all(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                                   const kvp_forward *fwd, const kvp_kvzip_restore *restore);

/* Checks that every layer of the cache holds n tokens in every head. */
kvp_status kvp__cache_all_uniform(kvp_context *ctx, const kvp_cache *cache, const char *press,
                                  int64_t *n);
/* KVzip's global selection (PRESSES.md 2.26 step 6) over scores [L * Hk, stride] of which
 * the first n_ctx columns of each row are scored context; columns [n_ctx, stride) (RestoreKV's
 * restore tokens) are always kept. layerwise: every layer evicts int(Hk n_ctx r) entries;
 * otherwise the int(L Hk n_ctx r) lowest of all layers go. Every layer (of `stride` tokens per
 * head) is then compacted. */
kvp_status kvp__kvzip_select(kvp_context *ctx, kvp_cache *cache, kvp_buffer *scores,
                             int64_t n_ctx, int64_t stride, double ratio, int layerwise);
/* Errors for press checks. */
kvp_status kvp__need(const kvp_press_run *run, const char *press, int ok, const char *what);

#endif /* KVP_PRESS_IMPL_H */
