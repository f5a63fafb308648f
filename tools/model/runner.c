/* The Llama forward pass on the host, with the KV cache, attention and presses in libkvpress
 * (see runner.h). Activations are token-major [tokens, features] for the dense math and
 * head-major [heads, tokens, head_dim] where they meet the library. */
#include "runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVP_RUNNER_MAX_KV 1024 /* the loaders' bound on n_kv_heads */

struct llama_capture {
    int n_tokens, n_layers;
    size_t k_count, q_count, h_count; /* floats per layer */
    float *keys, *values;  /* [layer, Hk, n, hd] post-RoPE keys, values */
    float *queries;        /* [layer, Hq, n, hd] pre-RoPE */
    float *hidden;         /* [layer, n, dim] attention inputs */
    int32_t *tokens;       /* [n] the prompt (presses that run the model reconstruct it) */
    int filled;
};

struct llama_runner {
    const llama_model *model;
    llama_capture *capture;
    llama_attention_observer observer;
    void *observer_user;
    kvp_context *ctx;
    kvp_cache *cache;
    kvp_rope rope;
    kvp_inputs **inputs;  /* per layer, created on the first use of a press */
    int64_t capacity;
    int64_t *head_capacity; /* [n_layers * n_kv_heads] slots of each head (repack changes them) */
    int64_t pos;          /* position of the next token */
    int64_t decode_compressions;
    const tokenizer *tok; /* for presses that tokenize (KVzip), or NULL */
    /* The pass in progress when a press runs the model: its observer and adapter. */
    const kvp_forward_pass *pass;
    kvp_status pass_status; /* the observer's failure, passed back to the press */
    /* Activations for up to `batch` tokens. */
    int batch;
    float *x, *xb, *q_tok, *k_tok, *v_tok, *q_heads, *q_rot, *k_heads, *v_heads, *att_heads,
        *att_tok, *ffn_gate, *ffn_up, *proj;
};

void llama_runner_options_init(llama_runner_options *o) {
    memset(o, 0, sizeof *o);
    o->cache_dtype = KVP_DTYPE_F32;
}

static int lib_fail(llama_runner *r, const char *what, kvp_status st, char *err, size_t err_size) {
    snprintf(err, err_size, "%s: %s: %s", what, kvp_status_name(st), kvp_context_last_error(r->ctx));
    return -1;
}

static void free_activations(llama_runner *r) {
    float **bufs[] = {&r->x, &r->xb, &r->q_tok, &r->k_tok, &r->v_tok, &r->q_heads, &r->q_rot,
                      &r->k_heads, &r->v_heads, &r->att_heads, &r->att_tok, &r->ffn_gate,
                      &r->ffn_up, &r->proj};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    r->batch = 0;
}

/* Makes room for n tokens of activations. */
static int reserve_batch(llama_runner *r, int n, char *err, size_t err_size) {
    if (n <= r->batch) return 0;
    free_activations(r);
    const llama_config *c = &r->model->cfg;
    size_t N = (size_t)n, D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    size_t Q = (size_t)c->n_heads * (size_t)c->head_dim, KV = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    struct {
        float **buf;
        size_t count;
    } plan[] = {{&r->x, N * D},        {&r->xb, N * D},        {&r->q_tok, N * Q},
                {&r->k_tok, N * KV},   {&r->v_tok, N * KV},    {&r->q_heads, N * Q},
                {&r->q_rot, N * Q},    {&r->k_heads, N * KV},  {&r->v_heads, N * KV},
                {&r->att_heads, N * Q}, {&r->att_tok, N * Q},  {&r->ffn_gate, N * F},
                {&r->ffn_up, N * F},   {&r->proj, N * D}};
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        *plan[i].buf = malloc(plan[i].count * sizeof(float));
        if (!*plan[i].buf) {
            free_activations(r);
            snprintf(err, err_size, "runner: out of memory for a batch of %d tokens", n);
            return -1;
        }
    }
    r->batch = n;
    return 0;
}

int llama_runner_create(const llama_model *model, kvp_context *ctx,
                        const llama_runner_options *options, llama_runner **out, char *err,
                        size_t err_size) {
    *out = NULL;
    llama_runner_options o;
    llama_runner_options_init(&o);
    if (options) o = *options;
    const llama_config *c = &model->cfg;
    llama_runner *r = calloc(1, sizeof *r);
    if (r) r->inputs = calloc((size_t)c->n_layers, sizeof *r->inputs);
    if (!r || !r->inputs) {
        free(r);
        snprintf(err, err_size, "runner: out of memory");
        return -1;
    }
    r->model = model;
    r->ctx = ctx;
    r->capacity = o.capacity > 0 ? o.capacity : c->seq_len;
    r->head_capacity = malloc(sizeof(int64_t) * (size_t)c->n_layers * (size_t)c->n_kv_heads);
    if (!r->head_capacity) {
        snprintf(err, err_size, "runner: out of memory");
        llama_runner_free(r);
        return -1;
    }
    for (int i = 0; i < c->n_layers * c->n_kv_heads; i++) r->head_capacity[i] = r->capacity;
    kvp_rope_init(&r->rope, c->head_dim);
    r->rope.layout = c->rope_layout;
    r->rope.theta = c->rope_theta;
    kvp_cache_options co = {.n_layers = c->n_layers, .n_kv_heads = c->n_kv_heads,
                            .head_dim = c->head_dim, .capacity = r->capacity,
                            .dtype = o.cache_dtype};
    kvp_status st = kvp_cache_create(ctx, &co, &r->cache);
    if (st != KVP_OK) {
        lib_fail(r, "kvp_cache_create", st, err, err_size);
        llama_runner_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void llama_runner_free(llama_runner *r) {
    if (!r) return;
    for (int l = 0; r->inputs && l < r->model->cfg.n_layers; l++) kvp_inputs_destroy(r->inputs[l]);
    free(r->inputs);
    free(r->head_capacity);
    kvp_cache_destroy(r->cache);
    free_activations(r);
    free(r);
}

int64_t llama_runner_position(const llama_runner *r) { return r->pos; }

void llama_runner_set_observer(llama_runner *r, llama_attention_observer fn, void *user) {
    r->observer = fn;
    r->observer_user = user;
}
kvp_cache *llama_runner_cache(const llama_runner *r) { return r->cache; }
int64_t llama_runner_decode_compressions(const llama_runner *r) { return r->decode_compressions; }

int llama_runner_rewind(llama_runner *r, int64_t pos, char *err, size_t err_size) {
    if (pos < 0 || pos > r->pos) {
        snprintf(err, err_size, "runner: cannot rewind to position %lld (at %lld)", (long long)pos,
                 (long long)r->pos);
        return -1;
    }
    for (int l = 0; l < r->model->cfg.n_layers; l++) {
        kvp_status st = kvp_cache_truncate(r->cache, l, pos);
        if (st != KVP_OK) return lib_fail(r, "kvp_cache_truncate", st, err, err_size);
    }
    r->pos = pos;
    return 0;
}

/* Repacks layer l with `reserve` free slots per head and records the new capacities. */
static int repack_layer(llama_runner *r, int l, int64_t reserve, char *err, size_t err_size) {
    int Hk = r->model->cfg.n_kv_heads;
    kvp_status st = kvp_cache_repack(r->cache, l, reserve);
    if (st != KVP_OK) return lib_fail(r, "kvp_cache_repack", st, err, err_size);
    int64_t len[KVP_RUNNER_MAX_KV];
    kvp_cache_get_lengths(r->cache, l, len);
    for (int j = 0; j < Hk; j++) r->head_capacity[(size_t)l * Hk + j] = len[j] + reserve;
    return 0;
}

int llama_runner_repack(llama_runner *r, int64_t reserve, char *err, size_t err_size) {
    for (int l = 0; l < r->model->cfg.n_layers; l++)
        if (repack_layer(r, l, reserve, err, err_size)) return -1;
    return 0;
}

/* Makes room for n more tokens in every head, never leaving a head less room than it had. */
static int ensure_room(llama_runner *r, int64_t n, char *err, size_t err_size) {
    int Hk = r->model->cfg.n_kv_heads;
    for (int l = 0; l < r->model->cfg.n_layers; l++) {
        int64_t len[KVP_RUNNER_MAX_KV], room_min = INT64_MAX, room_max = 0;
        kvp_cache_get_lengths(r->cache, l, len);
        for (int j = 0; j < Hk; j++) {
            int64_t room = r->head_capacity[(size_t)l * Hk + j] - len[j];
            room_min = room < room_min ? room : room_min;
            room_max = room > room_max ? room : room_max;
        }
        if (room_min < n && repack_layer(r, l, n > room_max ? n : room_max, err, err_size))
            return -1;
    }
    return 0;
}

/* ---- dense math -------------------------------------------------------------------------- */

/* Dot product with eight independent partial sums: the compiler can keep them in one
 * vector register without reassociating a single sum, so results do not depend on flags. */
static float dot(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float tail = 0;
    for (; i < n; i++) tail += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail;
}

/* y[t, o] = sum_i W[o, i] x[t, i] for n tokens; W is [out, in]. */
static void matmul(float *y, const float *x, const float *W, int n, int in, int out) {
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * in;
        float *yt = y + (size_t)t * out;
        for (int o = 0; o < out; o++) yt[o] = dot(W + (size_t)o * in, xt, in);
    }
}

/* W x for n tokens, plus the low-rank update s B (A x) of the pass's adapter when it adapts
 * this projection ("lora.<layer>.<proj>.A" [rank, in], ".B" [out, rank], s = lora_alpha / rank;
 * kvpress's RestoreKV applies its LoRA only during the restore pass). */
static int project(llama_runner *r, int l, const char *proj, float *y, const float *x,
                   const float *W, int n, int in, int out, char *err, size_t err_size) {
    matmul(y, x, W, n, in, out);
    const kvp_artefact *a = r->pass ? r->pass->adapter : NULL;
    if (!a) return 0;
    char name[64];
    kvp_tensor A, B;
    snprintf(name, sizeof name, "lora.%d.%s.A", l, proj);
    if (kvp_artefact_get(a, name, &A) != KVP_OK) return 0; /* not adapted */
    snprintf(name, sizeof name, "lora.%d.%s.B", l, proj);
    int rank = A.ndim == 2 ? (int)A.shape[0] : 0;
    const char *alpha_s = kvp_artefact_metadata(a, "lora_alpha");
    double alpha = alpha_s ? strtod(alpha_s, NULL) : 0;
    if (kvp_artefact_get(a, name, &B) != KVP_OK || rank <= 0 || A.shape[1] != in ||
        B.ndim != 2 || B.shape[0] != out || B.shape[1] != rank || !alpha_s || !(alpha > 0)) {
        snprintf(err, err_size,
                 "runner: adapter %s of layer %d: needs A [rank, %d], B [%d, rank] and metadata "
                 "lora_alpha > 0",
                 proj, l, in, out);
        return -1;
    }
    float *Af = malloc(sizeof(float) * (size_t)rank * in), *Bf = malloc(sizeof(float) * (size_t)out * rank);
    float *t = malloc(sizeof(float) * (size_t)rank);
    int rc = Af && Bf && t ? 0 : -1;
    if (!rc && (kvp_convert(A.dtype, A.data, KVP_DTYPE_F32, Af, (size_t)rank * in) != KVP_OK ||
                kvp_convert(B.dtype, B.data, KVP_DTYPE_F32, Bf, (size_t)out * rank) != KVP_OK))
        rc = -1;
    float scale = (float)(alpha / rank);
    /* Adapters come in Hugging Face's layout, whose W_q and W_k rows pair RoPE channels
     * (i, i + d/2); weights with interleaved pairs (2i, 2i+1) take B's rows accordingly. */
    int hd = r->model->cfg.head_dim;
    int permute = (proj[0] == 'q' || proj[0] == 'k') && !proj[1] &&
                  r->model->cfg.rope_layout == KVP_ROPE_INTERLEAVED;
    for (int tok = 0; !rc && tok < n; tok++) {
        const float *xt = x + (size_t)tok * in;
        float *yt = y + (size_t)tok * out;
        for (int k = 0; k < rank; k++) t[k] = dot(Af + (size_t)k * in, xt, in);
        for (int o = 0; o < out; o++) {
            int c = o % hd, row = permute ? o - c + (c & 1) * (hd / 2) + c / 2 : o;
            yt[o] += scale * dot(Bf + (size_t)row * rank, t, rank);
        }
    }
    if (rc) snprintf(err, err_size, "runner: out of memory for the adapter of layer %d", l);
    free(Af);
    free(Bf);
    free(t);
    return rc;
}

static void rmsnorm(float *y, const float *x, const float *w, int n, int dim, float eps) {
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * dim;
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)xt[i] * xt[i];
        float scale = 1.0f / sqrtf((float)(ss / dim) + eps);
        for (int i = 0; i < dim; i++) y[(size_t)t * dim + i] = w[i] * (xt[i] * scale);
    }
}

/* [n, heads * hd] <-> [heads, n, hd] */
static void to_heads(float *dst, const float *src, int n, int heads, int hd) {
    for (int h = 0; h < heads; h++)
        for (int t = 0; t < n; t++)
            memcpy(dst + ((size_t)h * n + t) * hd, src + ((size_t)t * heads + h) * hd,
                   (size_t)hd * sizeof(float));
}

static void from_heads(float *dst, const float *src, int n, int heads, int hd) {
    for (int h = 0; h < heads; h++)
        for (int t = 0; t < n; t++)
            memcpy(dst + ((size_t)t * heads + h) * hd, src + ((size_t)h * n + t) * hd,
                   (size_t)hd * sizeof(float));
}

/* ---- the library side -------------------------------------------------------------------- */

/* The inputs a press may read for layer l: W_o and RoPE are set once per layer, the queries
 * (pre-RoPE) and attention-input hidden states of this pass every time. */
static int press_inputs(llama_runner *r, int l, int n, float *queries, float *hidden, char *err,
                        size_t err_size) {
    const llama_config *c = &r->model->cfg;
    kvp_status st;
    if (!r->inputs[l]) {
        kvp_inputs *in;
        if ((st = kvp_inputs_create(r->ctx, &in)) != KVP_OK)
            return lib_fail(r, "kvp_inputs_create", st, err, err_size);
        kvp_tensor wo = kvp_tensor_host(KVP_DTYPE_F32, (void *)r->model->layers[l].wo, 2, c->dim,
                                        (int64_t)c->n_heads * c->head_dim, 1);
        st = kvp_inputs_set_wo(in, &wo);
        if (st == KVP_OK) st = kvp_inputs_set_rope(in, &r->rope);
        if (st != KVP_OK) {
            kvp_inputs_destroy(in);
            return lib_fail(r, "kvp_inputs (W_o, RoPE)", st, err, err_size);
        }
        r->inputs[l] = in;
    }
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, queries, 3, c->n_heads, n, c->head_dim);
    kvp_tensor h = kvp_tensor_host(KVP_DTYPE_F32, hidden, 2, n, c->dim, 1);
    if ((st = kvp_inputs_set_queries(r->inputs[l], &q, r->pos)) != KVP_OK)
        return lib_fail(r, "kvp_inputs_set_queries", st, err, err_size);
    if ((st = kvp_inputs_set_hidden(r->inputs[l], &h, r->pos)) != KVP_OK)
        return lib_fail(r, "kvp_inputs_set_hidden", st, err, err_size);
    return 0;
}

static void capture_layer(llama_runner *r, int l, int n) {
    llama_capture *cap = r->capture;
    if (!cap || r->pos != 0 || n != cap->n_tokens) return;
    memcpy(cap->keys + (size_t)l * cap->k_count, r->k_heads, cap->k_count * sizeof(float));
    memcpy(cap->values + (size_t)l * cap->k_count, r->v_heads, cap->k_count * sizeof(float));
    memcpy(cap->queries + (size_t)l * cap->q_count, r->q_heads, cap->q_count * sizeof(float));
    memcpy(cap->hidden + (size_t)l * cap->h_count, r->xb, cap->h_count * sizeof(float));
    if (l == cap->n_layers - 1) cap->filled = 1;
}

/* Attention block of layer l for the n tokens whose normalised input is in r->xb; leaves
 * the heads' outputs, token-major, in r->att_tok. */
static int attention(llama_runner *r, int l, int n, kvp_press *press, char *err, size_t err_size) {
    const llama_config *c = &r->model->cfg;
    const llama_layer *L = &r->model->layers[l];
    int D = c->dim, hd = c->head_dim, Hq = c->n_heads, Hk = c->n_kv_heads;
    if (project(r, l, "q", r->q_tok, r->xb, L->wq, n, D, Hq * hd, err, err_size) ||
        project(r, l, "k", r->k_tok, r->xb, L->wk, n, D, Hk * hd, err, err_size) ||
        project(r, l, "v", r->v_tok, r->xb, L->wv, n, D, Hk * hd, err, err_size))
        return -1;
    to_heads(r->q_heads, r->q_tok, n, Hq, hd);
    to_heads(r->k_heads, r->k_tok, n, Hk, hd);
    to_heads(r->v_heads, r->v_tok, n, Hk, hd);

    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, r->q_heads, 3, Hq, n, hd);
    kvp_tensor q_rot = kvp_tensor_host(KVP_DTYPE_F32, r->q_rot, 3, Hq, n, hd);
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, r->k_heads, 3, Hk, n, hd);
    kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, r->v_heads, 3, Hk, n, hd);
    kvp_tensor out = kvp_tensor_host(KVP_DTYPE_F32, r->att_heads, 3, Hq, n, hd);
    kvp_status st;
    if ((st = kvp_rope_apply(r->ctx, &r->rope, &q, r->pos, &q_rot)) != KVP_OK)
        return lib_fail(r, "kvp_rope_apply (queries)", st, err, err_size);
    if ((st = kvp_rope_apply(r->ctx, &r->rope, &k, r->pos, &k)) != KVP_OK) /* in place */
        return lib_fail(r, "kvp_rope_apply (keys)", st, err, err_size);
    if ((st = kvp_cache_append(r->cache, l, &k, &v, r->pos)) != KVP_OK)
        return lib_fail(r, "kvp_cache_append", st, err, err_size);
    capture_layer(r, l, n);
    if ((st = kvp_attention(r->ctx, r->cache, l, &q_rot, r->pos, 1.0f / sqrtf((float)hd), &out)) != KVP_OK)
        return lib_fail(r, "kvp_attention", st, err, err_size);
    if (r->observer) {
        llama_attention_view view = {.layer = l, .n = n, .pos0 = r->pos, .q = r->q_rot,
                                     .k = r->k_heads, .v = r->v_heads, .out = r->att_heads};
        if (r->observer(r->observer_user, &view, err, err_size)) return -1;
    }

    /* A press's extra pass watches every layer (kvp_forward_layer). */
    if (r->pass && r->pass->observe) {
        kvp_forward_layer fl = {.layer = l, .pos0 = r->pos, .queries = q, .keys = k, .values = v,
                                .hidden = kvp_tensor_host(KVP_DTYPE_F32, r->xb, 2, n, D, 1),
                                .wo = kvp_tensor_host(KVP_DTYPE_F32, (void *)L->wo, 2, D, Hq * hd, 1)};
        r->pass_status = r->pass->observe(r->pass->observer, &fl);
        if (r->pass_status != KVP_OK) {
            snprintf(err, err_size, "the press's observer stopped the pass at layer %d", l);
            return -1;
        }
    }

    /* The press runs after this layer's attention, so this layer's outputs (and every later
     * layer of this pass) still saw the full cache; compression only changes what later
     * tokens see. */
    if (press) {
        if (press_inputs(r, l, n, r->q_heads, r->xb, err, err_size)) return -1;
        if (kvp_press_get_info(press)->kind == KVP_PRESS_DECODING) {
            int compressed = 0;
            if ((st = kvp_decode_step(r->ctx, press, r->cache, l, r->inputs[l], &compressed)) != KVP_OK)
                return lib_fail(r, "kvp_decode_step", st, err, err_size);
            r->decode_compressions += compressed;
        } else if ((st = kvp_compress(r->ctx, press, r->cache, l, r->inputs[l])) != KVP_OK) {
            return lib_fail(r, "kvp_compress", st, err, err_size);
        }
    }
    from_heads(r->att_tok, r->att_heads, n, Hq, hd);
    return 0;
}

static float silu(float x) { return x / (1.0f + expf(-x)); }

static int check_tokens(const llama_config *c, const int32_t *tokens, int n, char *err,
                        size_t err_size) {
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size) {
            snprintf(err, err_size, "runner: token %d at index %d is outside the vocabulary (%d)",
                     tokens[t], t, c->vocab_size);
            return -1;
        }
    return 0;
}

/* Every layer for n tokens whose input embeddings are in r->x; advances the position. */
static int run_layers(llama_runner *r, int n, kvp_press *press, char *err, size_t err_size) {
    const llama_config *c = &r->model->cfg;
    const llama_model *m = r->model;
    int D = c->dim, F = c->hidden_dim, Q = c->n_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const llama_layer *L = &m->layers[l];
        rmsnorm(r->xb, r->x, L->attn_norm, n, D, c->norm_eps);
        if (attention(r, l, n, press, err, err_size)) return -1;
        if (project(r, l, "o", r->proj, r->att_tok, L->wo, n, Q, D, err, err_size)) return -1;
        for (size_t i = 0; i < (size_t)n * D; i++) r->x[i] += r->proj[i];

        rmsnorm(r->xb, r->x, L->ffn_norm, n, D, c->norm_eps);
        if (project(r, l, "gate", r->ffn_gate, r->xb, L->w_gate, n, D, F, err, err_size) ||
            project(r, l, "up", r->ffn_up, r->xb, L->w_up, n, D, F, err, err_size))
            return -1;
        for (size_t i = 0; i < (size_t)n * F; i++) r->ffn_gate[i] = silu(r->ffn_gate[i]) * r->ffn_up[i];
        if (project(r, l, "down", r->proj, r->ffn_gate, L->w_down, n, F, D, err, err_size)) return -1;
        for (size_t i = 0; i < (size_t)n * D; i++) r->x[i] += r->proj[i];
    }
    r->pos += n;
    return 0;
}

static int compress_all_layers(llama_runner *r, kvp_press *press, const int32_t *tokens, int n,
                               char *err, size_t err_size);

int llama_forward(llama_runner *r, const int32_t *tokens, int n, kvp_press *press,
                  llama_logits which, float *logits, char *err, size_t err_size) {
    const llama_config *c = &r->model->cfg;
    const llama_model *m = r->model;
    if (n <= 0) {
        snprintf(err, err_size, "runner: nothing to run (%d tokens)", n);
        return -1;
    }
    if (check_tokens(c, tokens, n, err, err_size)) return -1;
    if (which != LLAMA_LOGITS_NONE && !logits) {
        snprintf(err, err_size, "runner: logits requested without an output buffer");
        return -1;
    }
    if (reserve_batch(r, n, err, err_size)) return -1;
    int D = c->dim;
    for (int t = 0; t < n; t++)
        memcpy(r->x + (size_t)t * D, m->tok_embd + (size_t)tokens[t] * D, (size_t)D * sizeof(float));
    if (r->capture && r->pos == 0 && n == r->capture->n_tokens)
        memcpy(r->capture->tokens, tokens, sizeof(int32_t) * (size_t)n);
    if (run_layers(r, n, press, err, err_size)) return -1;

    if (which != LLAMA_LOGITS_NONE) {
        int first = which == LLAMA_LOGITS_LAST ? n - 1 : 0, rows = n - first;
        rmsnorm(r->xb, r->x + (size_t)first * D, m->out_norm, rows, D, c->norm_eps);
        matmul(logits, r->xb, m->classifier, rows, D, c->vocab_size);
    }
    /* A press that selects across layers has only recorded each layer: compress now (its
     * extra passes reuse the activations, which the logits no longer need). */
    return compress_all_layers(r, press, tokens, n, err, err_size);
}

/* ---- the runner as the model of presses that run it (kvp_forward) ---------------------------- */

void llama_runner_set_tokenizer(llama_runner *r, const tokenizer *tok) { r->tok = tok; }

/* kvp_forward.run: one pass of a press over this runner's cache (or a fresh one). */
static kvp_status runner_pass(void *user, const kvp_forward_pass *pass, char *err,
                              size_t err_size) {
    llama_runner *r = user;
    const llama_config *c = &r->model->cfg;
    int n = pass->n_tokens;
    if (n <= 0 || (!pass->tokens && !pass->embeddings) || pass->pos0 < 0) {
        snprintf(err, err_size, "runner: a pass needs tokens or embeddings and a position >= 0");
        return KVP_ERR_INVALID_ARG;
    }
    if (pass->tokens && check_tokens(c, pass->tokens, n, err, err_size)) return KVP_ERR_INVALID_ARG;
    if (pass->mode == KVP_FORWARD_SEPARATE) {
        /* a sequence of its own: a fresh runner on the same model and context */
        llama_runner_options o = {.capacity = pass->pos0 + n, .cache_dtype = KVP_DTYPE_F32};
        kvp_cache_options co;
        kvp_cache_get_options(r->cache, &co);
        o.cache_dtype = co.dtype;
        llama_runner *tmp;
        if (llama_runner_create(r->model, r->ctx, &o, &tmp, err, err_size)) return KVP_ERR_OUT_OF_HOST_MEMORY;
        kvp_forward_pass inner = *pass;
        inner.mode = KVP_FORWARD_APPEND;
        tmp->pos = pass->pos0;
        kvp_status st = runner_pass(tmp, &inner, err, err_size);
        llama_runner_free(tmp);
        return st;
    }
    if (pass->mode != KVP_FORWARD_PROBE && pass->mode != KVP_FORWARD_APPEND) {
        snprintf(err, err_size, "runner: unknown pass mode %d", (int)pass->mode);
        return KVP_ERR_INVALID_ARG;
    }
    if (pass->pos0 < r->pos) {
        snprintf(err, err_size, "runner: a pass at position %lld would overlap the cache (next %lld)",
                 (long long)pass->pos0, (long long)r->pos);
        return KVP_ERR_INVALID_ARG;
    }
    if (r->pass) {
        snprintf(err, err_size, "runner: a pass is already running");
        return KVP_ERR_INVALID_ARG;
    }
    if (reserve_batch(r, n, err, err_size) || ensure_room(r, n, err, err_size))
        return KVP_ERR_OUT_OF_HOST_MEMORY;
    int D = c->dim;
    for (int t = 0; t < n; t++)
        memcpy(r->x + (size_t)t * D,
               pass->tokens ? r->model->tok_embd + (size_t)pass->tokens[t] * D
                            : pass->embeddings + (size_t)t * D,
               (size_t)D * sizeof(float));
    int64_t saved = r->pos;
    r->pos = pass->pos0;
    r->pass = pass;
    r->pass_status = KVP_OK;
    int rc = run_layers(r, n, NULL, err, err_size);
    kvp_status st = rc ? (r->pass_status != KVP_OK ? r->pass_status : KVP_ERR_INTERNAL) : KVP_OK;
    r->pass = NULL;
    /* a probe leaves nothing behind; a failed pass neither */
    if (rc || pass->mode == KVP_FORWARD_PROBE) {
        char e2[256];
        if (llama_runner_rewind(r, pass->pos0, e2, sizeof e2) && !rc) {
            snprintf(err, err_size, "%s", e2);
            st = KVP_ERR_INTERNAL;
        }
        r->pos = saved;
    }
    return st;
}

static kvp_status runner_tokenize(void *user, const char *text, int32_t *ids, int capacity,
                                  int *n_ids) {
    llama_runner *r = user;
    if (!r->tok) return KVP_ERR_UNSUPPORTED;
    int32_t *t;
    int n;
    char err[256];
    if (tokenizer_encode(r->tok, text, 0, 0, &t, &n, err, sizeof err)) return KVP_ERR_INVALID_ARG;
    for (int i = 0; i < n && i < capacity; i++) ids[i] = t[i];
    *n_ids = n;
    free(t);
    return KVP_OK;
}

void llama_runner_forward(llama_runner *r, const int32_t *context, int64_t n_context,
                          kvp_forward *out) {
    memset(out, 0, sizeof *out);
    out->user_data = r;
    out->run = runner_pass;
    out->tokenize = r->tok ? runner_tokenize : NULL;
    out->rope = &r->rope;
    out->context_tokens = context;
    out->n_context_tokens = n_context;
    /* these models have no chat template: KVzip then uses the tokens of "\n" */
}

static int compress_all_layers(llama_runner *r, kvp_press *press, const int32_t *tokens, int n,
                               char *err, size_t err_size) {
    if (!press || !(kvp_press_get_info(press)->needs & KVP_NEED_ALL_LAYERS)) return 0;
    kvp_forward fwd;
    llama_runner_forward(r, tokens, n, &fwd);
    kvp_status st = kvp_compress_all(r->ctx, press, r->cache, &fwd);
    return st == KVP_OK ? 0 : lib_fail(r, "kvp_compress_all", st, err, err_size);
}

int llama_runner_calibrate(llama_runner *r, kvp_press *press, const int32_t *const *samples,
                           const int64_t *lengths, int n_samples, char *err, size_t err_size) {
    kvp_forward fwd;
    llama_runner_forward(r, NULL, 0, &fwd);
    kvp_status st = kvp_press_calibrate(r->ctx, press, &fwd, samples, lengths, n_samples);
    return st == KVP_OK ? 0 : lib_fail(r, "kvp_press_calibrate", st, err, err_size);
}

/* ---- capture and replay -------------------------------------------------------------------- */

int llama_capture_create(const llama_model *m, int n_tokens, llama_capture **out, char *err,
                         size_t err_size) {
    *out = NULL;
    const llama_config *c = &m->cfg;
    llama_capture *cap = calloc(1, sizeof *cap);
    if (!cap || n_tokens <= 0) {
        free(cap);
        snprintf(err, err_size, "capture: %s", n_tokens <= 0 ? "no tokens" : "out of memory");
        return -1;
    }
    cap->n_tokens = n_tokens;
    cap->n_layers = c->n_layers;
    cap->k_count = (size_t)c->n_kv_heads * (size_t)n_tokens * (size_t)c->head_dim;
    cap->q_count = (size_t)c->n_heads * (size_t)n_tokens * (size_t)c->head_dim;
    cap->h_count = (size_t)n_tokens * (size_t)c->dim;
    size_t L = (size_t)c->n_layers;
    cap->keys = malloc(sizeof(float) * L * cap->k_count);
    cap->values = malloc(sizeof(float) * L * cap->k_count);
    cap->queries = malloc(sizeof(float) * L * cap->q_count);
    cap->hidden = malloc(sizeof(float) * L * cap->h_count);
    cap->tokens = malloc(sizeof(int32_t) * (size_t)n_tokens);
    if (!cap->keys || !cap->values || !cap->queries || !cap->hidden || !cap->tokens) {
        llama_capture_free(cap);
        snprintf(err, err_size, "capture: out of memory");
        return -1;
    }
    *out = cap;
    return 0;
}

void llama_capture_free(llama_capture *cap) {
    if (!cap) return;
    free(cap->keys);
    free(cap->values);
    free(cap->queries);
    free(cap->hidden);
    free(cap->tokens);
    free(cap);
}

int llama_capture_layer(const llama_capture *cap, int layer, const float **keys,
                        const float **values, const float **queries, const float **hidden) {
    if (!cap->filled || layer < 0 || layer >= cap->n_layers) return -1;
    *keys = cap->keys + (size_t)layer * cap->k_count;
    *values = cap->values + (size_t)layer * cap->k_count;
    *queries = cap->queries + (size_t)layer * cap->q_count;
    *hidden = cap->hidden + (size_t)layer * cap->h_count;
    return 0;
}

void llama_runner_set_capture(llama_runner *r, llama_capture *capture) {
    r->capture = capture;
    if (capture) capture->filled = 0;
}

int llama_replay(llama_runner *r, const llama_capture *cap, kvp_press *press, char *err,
                 size_t err_size) {
    const llama_config *c = &r->model->cfg;
    if (!cap->filled || cap->n_layers != c->n_layers) {
        snprintf(err, err_size, "replay: the capture holds no prefill of this model");
        return -1;
    }
    if (llama_runner_rewind(r, 0, err, err_size)) return -1;
    int n = cap->n_tokens;
    for (int l = 0; l < c->n_layers; l++) {
        kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, cap->keys + (size_t)l * cap->k_count, 3,
                                       c->n_kv_heads, n, c->head_dim);
        kvp_tensor v = kvp_tensor_host(KVP_DTYPE_F32, cap->values + (size_t)l * cap->k_count, 3,
                                       c->n_kv_heads, n, c->head_dim);
        kvp_status st = kvp_cache_append(r->cache, l, &k, &v, 0);
        if (st != KVP_OK) return lib_fail(r, "kvp_cache_append", st, err, err_size);
        if (!press) continue;
        if (press_inputs(r, l, n, cap->queries + (size_t)l * cap->q_count,
                         cap->hidden + (size_t)l * cap->h_count, err, err_size))
            return -1;
        if ((st = kvp_compress(r->ctx, press, r->cache, l, r->inputs[l])) != KVP_OK)
            return lib_fail(r, "kvp_compress", st, err, err_size);
    }
    r->pos = n;
    return compress_all_layers(r, press, cap->tokens, n, err, err_size);
}
