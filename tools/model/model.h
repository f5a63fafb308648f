/* A Llama-family model in memory: configuration and float32 weights, loaded from a GGUF file
 * (F32, F16, BF16 or Q8_0 tensors, dequantised at load time) or from a legacy llama2.c
 * checkpoint. Every loader validates the whole file first; a bad file gives -1 and a message,
 * never a crash. */
#ifndef KVP_TOOL_MODEL_H
#define KVP_TOOL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kvpress/kvpress.h"
#include "tokenizer.h"

typedef struct llama_config {
    int dim;           /* residual stream width */
    int hidden_dim;    /* SwiGLU inner width */
    int n_layers;
    int n_heads;       /* query heads */
    int n_kv_heads;    /* key/value heads (grouped-query attention) */
    int head_dim;
    int vocab_size;
    int seq_len;       /* trained context length */
    float norm_eps;    /* RMSNorm epsilon */
    double rope_theta;
    kvp_rope_layout rope_layout; /* how q/k channels pair up for RoPE in these weights */
} llama_config;

/* Matrices are row-major [out, in]: y = W x reads row o for output o. */
typedef struct llama_layer {
    const float *attn_norm;  /* [dim] */
    const float *wq;         /* [n_heads * head_dim, dim] */
    const float *wk;         /* [n_kv_heads * head_dim, dim] */
    const float *wv;         /* [n_kv_heads * head_dim, dim] */
    const float *wo;         /* [dim, n_heads * head_dim] */
    const float *ffn_norm;   /* [dim] */
    const float *w_gate;     /* [hidden_dim, dim] (llama2.c w1) */
    const float *w_down;     /* [dim, hidden_dim] (w2) */
    const float *w_up;       /* [hidden_dim, dim] (w3) */
} llama_layer;

typedef struct llama_model {
    llama_config cfg;
    const float *tok_embd;   /* [vocab_size, dim] */
    const float *out_norm;   /* [dim] */
    const float *classifier; /* [vocab_size, dim]; equals tok_embd when shared */
    int shared_classifier;
    llama_layer *layers;     /* [n_layers] */
    float *arena;            /* every weight above lives in this one allocation */
    size_t arena_floats;
    tokenizer *tok;          /* the tokenizer stored in the file (GGUF), or NULL */
    char format[32];         /* "GGUF v3", "llama2.c" */
} llama_model;

/* Loads a model, recognising the format by its first bytes. */
int llama_model_load(const char *path, llama_model **out, char *err, size_t err_size);
/* The same from a file image in memory (tests, fuzzing); the buffer may be freed afterwards. */
int llama_model_load_gguf(const uint8_t *data, size_t size, llama_model **out, char *err,
                          size_t err_size);
int llama_model_load_llama2c(const uint8_t *data, size_t size, llama_model **out, char *err,
                             size_t err_size);
void llama_model_free(llama_model *model);

/* Permutes the rows of every layer's Wq and Wk so that RoPE pairs channels in `layout`
 * (interleaved: 2i with 2i+1; half-split: i with i + head_dim/2). Attention scores and every
 * model output are unchanged; only the basis of q and k within a head changes, which is
 * what a press that reads queries or keys per channel sees. */
int llama_model_set_rope_layout(llama_model *model, kvp_rope_layout layout, char *err,
                                size_t err_size);

/* FNV-1a 64 of the configuration's shape and every weight tensor in a fixed order, as loaded
 * (before any RoPE-layout permutation): it names a set of weights in calibration artefacts,
 * whichever file format holds them. */
uint64_t llama_model_fingerprint(const llama_model *model);

/* ---- shared by the loaders ---- */

/* Checks the configuration for consistency and sane bounds. */
int llama_config_check(const llama_config *cfg, char *err, size_t err_size);
/* Number of float32 weights of a model of this configuration (cfg already checked). */
uint64_t llama_weight_count(const llama_config *cfg, int shared_classifier);
/* Allocates the model and its weight arena (sized from cfg) and points every weight into
 * it, in a fixed order; the loaders then fill the arena. */
int llama_model_alloc(const llama_config *cfg, int shared_classifier, llama_model **out,
                      char *err, size_t err_size);
/* Reads a whole file into memory (at most max_bytes). */
int read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size, char *err,
              size_t err_size);
/* Multiplies with overflow check: 0 and the product, or -1. */
int checked_mul(uint64_t a, uint64_t b, uint64_t *out);

#endif
