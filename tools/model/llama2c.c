/* Loader for legacy llama2.c checkpoints (the layout of karpathy's run.c):
 *   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *   (a negative vocab_size means the classifier is stored separately), then float32:
 *   token_embedding [vocab, dim], rms_att [L, dim], wq [L, H*hs, dim], wk [L, Hk*hs, dim],
 *   wv [L, Hk*hs, dim], wo [L, dim, H*hs], rms_ffn [L, dim], w1 [L, hidden, dim],
 *   w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim],
 *   freq_cis_real [seq_len, hs/2], freq_cis_imag [seq_len, hs/2], then wcls [vocab, dim]
 *   when not shared. head size hs = dim / n_heads; RoPE pairs channels (2i, 2i+1).
 * The file size must match the header exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define HEADER_BYTES 28
/* The versioned llama2.c export starts with this magic ("ak42") instead of a header. */
#define LLAMA2C_VERSIONED_MAGIC 0x616b3432u

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

int llama_model_load_llama2c(const uint8_t *data, size_t size, llama_model **out, char *err,
                             size_t err_size) {
    *out = NULL;
    if (!host_is_little_endian()) {
        snprintf(err, err_size, "llama2.c: only little-endian hosts are supported");
        return -1;
    }
    if (size < HEADER_BYTES) {
        snprintf(err, err_size, "llama2.c: file truncated (%zu bytes, the header needs %d)", size,
                 HEADER_BYTES);
        return -1;
    }
    int32_t h[7];
    memcpy(h, data, sizeof h);
    if ((uint32_t)h[0] == LLAMA2C_VERSIONED_MAGIC) {
        snprintf(err, err_size, "llama2.c: versioned export (version %d) is not supported; use "
                 "the legacy layout or GGUF", h[1]);
        return -1;
    }
    llama_config c = {0};
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    int shared = h[5] > 0;
    c.vocab_size = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
    c.seq_len = h[6];
    c.norm_eps = 1e-5f;     /* fixed in run.c */
    c.rope_theta = 10000.0; /* fixed in run.c */
    c.rope_layout = KVP_ROPE_INTERLEAVED;
    c.head_dim = c.n_heads > 0 && c.dim % c.n_heads == 0 ? c.dim / c.n_heads : 0;
    if (c.n_heads > 0 && c.dim > 0 && c.dim % c.n_heads) {
        snprintf(err, err_size, "llama2.c: dim %d is not a multiple of n_heads %d", c.dim, c.n_heads);
        return -1;
    }
    char why[256];
    if (llama_config_check(&c, why, sizeof why)) {
        snprintf(err, err_size, "llama2.c: bad header (%s)", why);
        return -1;
    }
    /* The RoPE tables sit between rms_final and the optional classifier; they are not
     * needed (RoPE is computed from theta) but are part of the layout. The size is checked
     * before anything is allocated. */
    uint64_t rope_floats = (uint64_t)c.seq_len * (uint64_t)c.head_dim; /* real + imag halves */
    uint64_t expect_floats = llama_weight_count(&c, shared) + rope_floats, expect_bytes;
    if (checked_mul(expect_floats, 4, &expect_bytes) || expect_bytes > UINT64_MAX - HEADER_BYTES) {
        snprintf(err, err_size, "llama2.c: header implies an impossible size");
        return -1;
    }
    expect_bytes += HEADER_BYTES;
    if ((uint64_t)size != expect_bytes) {
        snprintf(err, err_size, "llama2.c: file has %zu bytes but its header (dim %d, hidden %d, "
                 "%d layers, %d/%d heads, vocab %d%s, seq_len %d) implies %llu%s", size, c.dim,
                 c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
                 shared ? "" : " unshared", c.seq_len, (unsigned long long)expect_bytes,
                 (uint64_t)size < expect_bytes ? " (truncated)" : "");
        return -1;
    }
    llama_model *m;
    if (llama_model_alloc(&c, shared, &m, err, err_size)) return -1;
    /* The file order is not the arena order (llama2.c groups each kind of weight over all
     * layers), so copy tensor by tensor. */
    const uint8_t *p = data + HEADER_BYTES;
    size_t D = (size_t)c.dim, F = (size_t)c.hidden_dim, V = (size_t)c.vocab_size;
    size_t Q = (size_t)c.n_heads * (size_t)c.head_dim, KV = (size_t)c.n_kv_heads * (size_t)c.head_dim;
#define COPY(dst, n)                                      \
    do {                                                  \
        memcpy((void *)(dst), p, (n) * sizeof(float));    \
        p += (n) * sizeof(float);                         \
    } while (0)
    COPY(m->tok_embd, V * D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].attn_norm, D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].wq, Q * D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].wk, KV * D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].wv, KV * D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].wo, D * Q);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].ffn_norm, D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].w_gate, F * D);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].w_down, D * F);
    for (int l = 0; l < c.n_layers; l++) COPY(m->layers[l].w_up, F * D);
    COPY(m->out_norm, D);
    p += rope_floats * sizeof(float);
    if (!shared) COPY(m->classifier, V * D);
#undef COPY
    snprintf(m->format, sizeof m->format, "llama2.c");
    *out = m;
    return 0;
}
