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

/* Mean (cos, sin) of the RoPE of positions p0 .. p0 + n_future - 1 per frequency (B6: the
 * averaged rotation of Expected Attention), f32 [d/2, 2] in scratch. */
kvp_status kvp__averaged_rotation(const kvp_press_run *run, int64_t p0, int64_t n_future,
                                  kvp_buffer **out);
/* Expected Attention's scores from query statistics in device buffers: mean f32 [Hq, d] and
 * m2 f32 [Hq, d, d] (covariance = m2 * inv_count), future positions from p0. Reads the
 * press's n_sink, n_future_positions, use_covariance, use_vnorm and epsilon. */
kvp_status kvp__ea_scores(const kvp_press *p, const kvp_press_run *run, int Hq,
                          kvp_buffer *mean, kvp_buffer *m2, double inv_count, int64_t p0,
                          kvp_buffer **out);

/* ---- randomness (rng.c) ------------------------------------------------------------------- */

uint64_t kvp__splitmix64(uint64_t *state);
/* n standard normal draws rounded to f32 (Box-Muller; exactly as rng.c documents). */
void kvp__normal_fill(uint64_t *state, float *out, size_t n);
/* The generator state of one call of a press with a "seed" parameter: seed >= 0 gives the same
 * draws at every call; -1 continues one sequence across calls (a counter in p->state, which
 * kvp__press_rng_reset rewinds; use it as the press's reset). */
kvp_status kvp__press_rng(const kvp_press *p, const kvp_press_run *run, uint64_t *state);
void kvp__press_rng_reset(kvp_press *p);

/* ---- pieces shared by the scorer presses of the Compactor family ---------------------------- */

/* A device copy of the layer's meta restricted to tokens [lo, hi) of every head (a view: ops
 * then see token lo as token 0). */
kvp_status kvp__meta_view(const kvp_press_run *run, int64_t lo, int64_t hi, kvp_buffer **out);
/* The meta of a dense tensor [H, m, w] read as rows (head h starts at row h*m + r0 and holds
 * m - r0 rows). */
kvp_status kvp__meta_dense(const kvp_press_run *run, int H, int64_t m, int64_t r0,
                           kvp_buffer **out);
/* A host tensor (artefact slice) converted to f32 and uploaded into scratch. */
kvp_status kvp__upload_f32(const kvp_press_run *run, kvp_dtype dt, const void *data, size_t count,
                           kvp_buffer **out);
/* LeverageScore's z-scores of the tokens [lo, hi), written into columns [lo, hi) of out
 * f32 [Hk, n] as scale * z (+ out when accumulate). sketch_dimension k, generator state. */
kvp_status kvp__leverage_zscores(const kvp_press_run *run, int64_t lo, int64_t hi, int k,
                                 uint64_t *rng, float scale, int accumulate, kvp_buffer *out);
/* NonCausalAttn's z-scores of the tokens [lo, hi) (chunk grid starting at lo), written like
 * kvp__leverage_zscores. kvpress_pad and scaled select kvpress's quirks (non_causal_attn.c). */
kvp_status kvp__noncausal_zscores(const kvp_press_run *run, int64_t lo, int64_t hi, int chunk,
                                  int kvpress_pad, int scaled, float scale, int accumulate,
                                  kvp_buffer *out);
/* Given pre-RoPE keys (optional) must be those of the n cached tokens. */
kvp_status kvp__leverage_check(const kvp_press_run *run, const char *press);
/* The pre-RoPE queries must be those of the n cached tokens (prefill-only presses). */
kvp_status kvp__need_prefill_queries(const kvp_press_run *run, const char *press);

/* Errors for press checks. */
kvp_status kvp__need(const kvp_press_run *run, const char *press, int ok, const char *what);

#endif /* KVP_PRESS_IMPL_H */
