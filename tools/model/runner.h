/* A reference runner for Llama-family models, and the example of how an inference engine
 * integrates libkvpress.
 *
 * The dense math (embeddings, RMSNorm, projections, SwiGLU, classifier) runs on the host in
 * float32. Everything that touches the KV cache goes through the library on the chosen
 * device: RoPE (kvp_rope_apply), appending keys and values (kvp_cache_append), attention
 * over the possibly compressed, ragged cache (kvp_attention), compression right after each
 * layer's attention during a prefill (kvp_compress) and during decoding (kvp_decode_step).
 *
 * Positions are the tokens' true positions in the sequence; they keep counting after a
 * compression even though the cache then holds fewer entries. */
#ifndef KVP_TOOL_RUNNER_H
#define KVP_TOOL_RUNNER_H

#include "model.h"

typedef struct llama_runner llama_runner;

typedef struct llama_runner_options {
    int64_t capacity;    /* cache slots per kv head (0: the model's context length) */
    kvp_dtype cache_dtype;
} llama_runner_options;

void llama_runner_options_init(llama_runner_options *options);

int llama_runner_create(const llama_model *model, kvp_context *ctx,
                        const llama_runner_options *options, llama_runner **out, char *err,
                        size_t err_size);
void llama_runner_free(llama_runner *runner);

typedef enum llama_logits {
    LLAMA_LOGITS_NONE = 0, /* prefill only fills the cache */
    LLAMA_LOGITS_LAST = 1, /* logits [vocab] of the last token */
    LLAMA_LOGITS_ALL = 2   /* logits [n, vocab] of every token */
} llama_logits;

/* Runs n tokens at positions position() .. position()+n-1 in one pass (causal), appends
 * their keys and values to the cache and advances the position.
 * `press` may be NULL; a prefill press (scorer, wrapper, head-wise) compresses each layer's
 * cache right after that layer's attention, a decoding press gets kvp_decode_step for each
 * layer. Returns 0, or -1 with a message (the cache may then hold part of the tokens). */
int llama_forward(llama_runner *r, const int32_t *tokens, int n, kvp_press *press,
                  llama_logits which, float *logits, char *err, size_t err_size);

/* Drops every cached entry at position >= pos and continues from pos (0: start over). */
int llama_runner_rewind(llama_runner *r, int64_t pos, char *err, size_t err_size);
/* Gives the memory that compression freed back, keeping `reserve` free slots per head. */
int llama_runner_repack(llama_runner *r, int64_t reserve, char *err, size_t err_size);

/* Prefill capture and replay.
 *
 * Compression never changes a prefill's own activations (each layer is compressed after its
 * attention, and later layers of the pass read the full cache), so what a press receives for
 * a prompt is the same whatever press runs. An evaluation of many presses on one prompt can
 * therefore prefill once with a capture attached, which records per layer the post-RoPE keys,
 * the values, the pre-RoPE queries and the attention inputs, then replay the capture with each
 * press: the replay makes exactly the library calls of a prefill (kvp_cache_append, then the
 * press inputs and kvp_compress, layer by layer) without recomputing the model. */
typedef struct llama_capture llama_capture;

int llama_capture_create(const llama_model *model, int n_tokens, llama_capture **out, char *err,
                         size_t err_size);
void llama_capture_free(llama_capture *capture);
/* While attached, a llama_forward at position 0 of exactly n_tokens tokens records into the
 * capture (NULL detaches). */
void llama_runner_set_capture(llama_runner *r, llama_capture *capture);
/* What a capture holds for a layer: post-RoPE keys and values [n_kv_heads, n, head_dim],
 * pre-RoPE queries [n_heads, n, head_dim], attention inputs [n, dim]; NULL before a capture. */
int llama_capture_layer(const llama_capture *capture, int layer, const float **keys,
                        const float **values, const float **queries, const float **hidden);
/* Starts over at position 0 and rebuilds the cache of the captured prefill, compressing each
 * layer with `press` (may be NULL); continues at position n_tokens. */
int llama_replay(llama_runner *r, const llama_capture *capture, kvp_press *press, char *err,
                 size_t err_size);

/* Presses that run the model (KVP_NEED_FORWARD: KVzip, RestoreKV, KVCompose; DuoAttention's
 * calibration) get the runner as their kvp_forward: probes run the tokens over the cache and
 * truncate it back, appends keep them (growing the cache when it is full), separate passes
 * run on a fresh cache; low-rank adapters of a pass are applied to its projections. A
 * llama_forward or llama_replay with a press that selects across layers
 * (KVP_NEED_ALL_LAYERS) calls kvp_compress_all after the last layer, with that call's tokens
 * as the context. */
/* The tokenizer presses may use (KVzip's prompts); NULL: none. Not owned. */
void llama_runner_set_tokenizer(llama_runner *r, const tokenizer *tok);
/* Fills `out` to lend the runner to a press; `context` (may be NULL) is the prefilled prompt. */
void llama_runner_forward(llama_runner *r, const int32_t *context, int64_t n_context,
                          kvp_forward *out);
/* kvp_press_calibrate through the runner: each sample runs on a fresh cache. */
int llama_runner_calibrate(llama_runner *r, kvp_press *press, const int32_t *const *samples,
                           const int64_t *lengths, int n_samples, char *err, size_t err_size);
/* Attention observation, for calibrations that read what each layer's attention did
 * (kvpress-tool calibrate). After a layer's attention in llama_forward, and before any press
 * runs on it, the observer receives that layer's view of the pass; the layer's cache then
 * holds the pass's tokens too. Returning nonzero stops the forward with the observer's
 * message. */
typedef struct llama_attention_view {
    int layer;
    int n;             /* tokens of the pass */
    int64_t pos0;      /* position of the first */
    const float *q;    /* post-RoPE queries [n_heads, n, head_dim] */
    const float *k;    /* post-RoPE keys [n_kv_heads, n, head_dim] of the pass's tokens */
    const float *v;    /* values [n_kv_heads, n, head_dim] */
    const float *out;  /* attention outputs [n_heads, n, head_dim], before W_o */
} llama_attention_view;

typedef int (*llama_attention_observer)(void *user, const llama_attention_view *view, char *err,
                                        size_t err_size);
/* NULL detaches. */
void llama_runner_set_observer(llama_runner *r, llama_attention_observer fn, void *user);

int64_t llama_runner_position(const llama_runner *r);
kvp_cache *llama_runner_cache(const llama_runner *r);
/* How many times kvp_decode_step compressed some layer since the runner was created. */
int64_t llama_runner_decode_compressions(const llama_runner *r);

#endif
