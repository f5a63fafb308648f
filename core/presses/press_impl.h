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
    int64_t n;          /* tokens per kv head (uniform; the longest head for ragged presses) */
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
    /* The compression ratio of the press on `layer` (-1: the ratio kvpress reports, e.g. the
     * mean of per-layer ratios) when it is not its compression_ratio parameter; NAN for a
     * press that is not driven by a ratio (kvp_compress never skips it). NULL: the
     * parameter, or the inner press's when the parameter is -1 (inherit). */
    double (*ratio)(const kvp_press *p, int layer);
    /* Validates a press given to one of its press-valued parameters, with a message in the
     * thread's slot (NULL: the default rule, a scorer or a wrapper around one, not a
     * decoding press, head-wise presses only inside decoding presses). */
    kvp_status (*accept)(const kvp_press *p, const kvp_param_info *param, const kvp_press *child);
    /* 1: the press hands each call to one of its presses, which checks its own inputs, so
     * the inputs its presses need are not required of every call (prefill_decoding). */
    int delegates;
    /* Sets up a new press beyond the parameter defaults, e.g. a default inner press (lukv);
     * errors go to the thread's message. */
    kvp_status (*init)(kvp_press *p);
    /* 1: the press also runs on ragged layers (heads of different lengths); run->n is then
     * the longest head (DMS decoding after its head-wise prefill). */
    int ragged;
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

/* The value of a press-valued or list parameter. */
typedef struct kvp_param_list {
    int count;
    kvp_press **presses; /* KVP_PARAM_PRESS (count <= 1) and KVP_PARAM_PRESS_LIST */
    double *values;      /* KVP_PARAM_FLOAT_LIST */
} kvp_param_list;

struct kvp_press {
    const kvp_press_vtable *vt;
    double value[KVP_MAX_PARAMS];          /* numbers, by index of vt->info.params */
    kvp_param_list list[KVP_MAX_PARAMS];   /* presses and lists, by the same index */
    kvp_press *inner;             /* the press of the parameter named "press", or NULL */
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
 * inner press's. kvp__press_layer_ratio: on a given layer (per-layer ratios). */
double kvp__press_ratio(const kvp_press *p);
double kvp__press_layer_ratio(const kvp_press *p, int layer);

/* Every press held by p's press-valued parameters, in parameter then list order. */
int kvp__press_child_count(const kvp_press *p);
kvp_press *kvp__press_child(const kvp_press *p, int k);
/* The press of a KVP_PARAM_PRESS parameter (NULL when unset) and a list parameter. */
kvp_press *kvp__press_param_press(const kvp_press *p, const char *name);
const kvp_param_list *kvp__press_list(const kvp_press *p, const char *name);
/* Validates the run, checks inputs, shapes and artefacts of p as kvp_compress would, without
 * compressing (wrappers that run several presses check them all before changing the cache). */
kvp_status kvp__press_check_run(const kvp_press *p, const kvp_press_run *run);
/* A run of p on the run's layer as it is now (its current uniform length), with p's ratio
 * on that layer: wrappers that call several presses in turn start each from this. */
kvp_status kvp__press_subrun(const kvp_press *p, const kvp_press_run *parent, kvp_press_run *run);

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
/* p's scores (kvp__press_score), refused with a clear error when the context checks values
 * and one is NaN or infinite (as the scorer pipeline does). */
kvp_status kvp__checked_scores(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out);
/* CriticalKV's value norm through W_o (PROJ_VNORM): f32 [Hk, n] in scratch; and the check
 * of W_o's shape that goes with it. */
kvp_status kvp__projected_vnorm(const kvp_press_run *run, kvp_buffer **out);
kvp_status kvp__critical_check(const kvp_press *p, const kvp_press_run *run);
/* Per-head top-k with a count per head (host array k[Hk]) into mask [Hk, n]. */
kvp_status kvp__topk_rows(const kvp_press_run *run, kvp_buffer *scores, const int32_t *k,
                          kvp_buffer *mask);
/* A host array of scores [Hk, n] uploaded into scratch. */
kvp_status kvp__scores_from_host(const kvp_press_run *run, const float *host, kvp_buffer **out);

/* SnapKV's score (shared with PyramidKV): window attention of the last w queries, mean over
 * the window, average pooling, group mean, window padded with max + 1. */
kvp_status kvp__snapkv_scores(const kvp_press_run *run, int64_t w, int64_t kernel,
                              kvp_buffer **out);
kvp_status kvp__snapkv_check(const kvp_press_run *run, const char *name, int64_t w,
                             int64_t kernel);

/* ---- state kept between calls (press_state.c) ---------------------------------------------- */

/* Per-layer records of `size` bytes (zeroed when created) for presses that remember something
 * between calls; bound to the context of the first call, whose device buffers they may hold
 * (`release` frees a record's buffers when the press is destroyed). */
kvp_status kvp__press_layer_state(kvp_press *p, const kvp_press_run *run, size_t size,
                                  void (*release)(void *record), void **record);
/* Calls fn on every layer's record (kvp_press_reset). */
void kvp__press_each_layer_state(kvp_press *p, void (*fn)(void *record));

/* The most recent pre-RoPE query rows of a layer, what kvpress's decoding presses keep as
 * hidden states: a ring of `capacity` rows per head (always at least the last step's). */
typedef struct kvp_query_ring {
    kvp_buffer *ring;   /* [Hq, cap, d] in dtype, row r of head h at (h * cap + r) * d */
    int Hq, d, cap;
    kvp_dtype dtype;
    int64_t rows;       /* rows held (<= cap) */
    int64_t head;       /* ring index of the oldest row */
    int64_t next_pos;   /* position after the newest row */
} kvp_query_ring;
/* Appends the run's queries (they must be set); rows not contiguous with the held ones
 * restart the ring. */
kvp_status kvp__query_ring_add(const kvp_press_run *run, kvp_query_ring *r, int capacity);
/* The run's inputs with the held rows, in time order, as the queries (a scratch copy) and no
 * attention probabilities. */
kvp_status kvp__query_ring_inputs(const kvp_press_run *run, const kvp_query_ring *r,
                                  kvp_inputs *out);
void kvp__query_ring_clear(kvp_query_ring *r);
void kvp__query_ring_free(kvp_query_ring *r);

/* kvpress's bisection for the ratio r with n_keep(n, r) == target (0 when n <= target), so
 * that presses whose logic depends on the ratio see the same value as there. */
double kvp__ratio_for_target(int64_t n, int64_t target);

/* decoding.c's step, shared by the decoding presses that differ only in their target size:
 * buffers the step's queries, and every compression_interval steps (or when the step brings
 * target tokens) compresses the layer to target_of(p, run) tokens with p's inner press. */
kvp_status kvp__decoding_step(kvp_press *p, kvp_press_run *run, int *compressed,
                              int64_t (*target_of)(const kvp_press *p, const kvp_press_run *run));
void kvp__decoding_reset(kvp_press *p);
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
