/* A `llama` model from a parsed GGUF file: hyper-parameters from the llama.* metadata,
 * tensors by their llama.cpp names (checked for shape and dequantised to float32), and the
 * SentencePiece-style vocabulary stored under tokenizer.ggml.*. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "model.h"

static int string_is(gguf_string s, const char *lit) {
    return s.len == strlen(lit) && !memcmp(s.data, lit, s.len);
}

static float half_to_float(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    float f;
    kvp_convert(KVP_DTYPE_F16, &h, KVP_DTYPE_F32, &f, 1);
    return f;
}

/* Copies (dequantising) a tensor into dst, checking its shape first; with dst NULL only
 * checks. ne0 is the length of a row (the input dimension of a matrix), ne1 the number of
 * rows (1 for a vector). */
static int load_tensor(const gguf_file *g, const char *name, uint64_t ne0, uint64_t ne1,
                       float *dst, char *err, size_t err_size) {
    const gguf_tensor_info *t = gguf_find_tensor(g, name);
    if (!t) {
        snprintf(err, err_size, "GGUF: missing tensor '%s'", name);
        return -1;
    }
    int want_dims = ne1 == 1 ? 1 : 2;
    int shape_ok = t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
    if (!shape_ok || (t->n_dims != want_dims && !(t->n_dims == 2 && ne1 == 1))) {
        snprintf(err, err_size, "GGUF: tensor '%s' has shape [%llu, %llu, %llu, %llu], expected "
                 "[%llu, %llu]", name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                 (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
                 (unsigned long long)ne0, (unsigned long long)ne1);
        return -1;
    }
    if (!dst) return 0;
    size_t n = (size_t)t->n_elements;
    kvp_status st = KVP_OK;
    switch (t->type) {
    case GGUF_TENSOR_F32:
        memcpy(dst, t->data, n * sizeof(float));
        break;
    case GGUF_TENSOR_F16:
    case GGUF_TENSOR_BF16:
        /* The library's converter reads 16-bit values; the file data may be unaligned, so
         * go through an aligned copy in chunks. */
        for (size_t done = 0; done < n && st == KVP_OK;) {
            uint16_t chunk[4096];
            size_t k = n - done < 4096 ? n - done : 4096;
            memcpy(chunk, t->data + done * 2, k * 2);
            st = kvp_convert(t->type == GGUF_TENSOR_F16 ? KVP_DTYPE_F16 : KVP_DTYPE_BF16, chunk,
                             KVP_DTYPE_F32, dst + done, k);
            done += k;
        }
        break;
    case GGUF_TENSOR_Q8_0:
        for (size_t b = 0; b < n / GGUF_Q8_0_BLOCK; b++) {
            const uint8_t *blk = t->data + b * GGUF_Q8_0_BLOCK_BYTES;
            float scale = half_to_float(blk);
            for (int i = 0; i < GGUF_Q8_0_BLOCK; i++)
                dst[b * GGUF_Q8_0_BLOCK + (size_t)i] = scale * (float)(int8_t)blk[2 + i];
        }
        break;
    }
    if (st != KVP_OK) {
        snprintf(err, err_size, "GGUF: tensor '%s': conversion failed", name);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i])) {
            snprintf(err, err_size, "GGUF: tensor '%s' holds a NaN or infinity at element %zu", name, i);
            return -1;
        }
    return 0;
}

static int read_config(const gguf_file *g, llama_config *c, char *err, size_t err_size) {
    gguf_string arch;
    if (gguf_get_string(g, "general.architecture", 1, &arch, err, err_size)) return -1;
    if (!string_is(arch, "llama")) {
        snprintf(err, err_size, "GGUF: architecture '%.*s' is not supported (only llama)",
                 (int)(arch.len > 64 ? 64 : arch.len), arch.data);
        return -1;
    }
    int64_t v;
    struct {
        const char *key;
        int *dst;
        int required;
    } ints[] = {{"llama.embedding_length", &c->dim, 1},
                {"llama.feed_forward_length", &c->hidden_dim, 1},
                {"llama.block_count", &c->n_layers, 1},
                {"llama.attention.head_count", &c->n_heads, 1},
                {"llama.attention.head_count_kv", &c->n_kv_heads, 0},
                {"llama.context_length", &c->seq_len, 1}};
    c->n_kv_heads = -1;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int rc = gguf_get_int(g, ints[i].key, ints[i].required, 1, 1 << 24, &v, err, err_size);
        if (rc < 0) return -1;
        if (rc == 0) *ints[i].dst = (int)v;
    }
    if (c->n_kv_heads < 0) c->n_kv_heads = c->n_heads;
    if (c->dim % c->n_heads) {
        snprintf(err, err_size, "GGUF: embedding_length %d is not a multiple of head_count %d",
                 c->dim, c->n_heads);
        return -1;
    }
    c->head_dim = c->dim / c->n_heads;
    int64_t key_len = c->head_dim, value_len = c->head_dim, rope_dims = c->head_dim;
    if (gguf_get_int(g, "llama.attention.key_length", 0, 1, 4096, &key_len, err, err_size) < 0 ||
        gguf_get_int(g, "llama.attention.value_length", 0, 1, 4096, &value_len, err, err_size) < 0 ||
        gguf_get_int(g, "llama.rope.dimension_count", 0, 1, 4096, &rope_dims, err, err_size) < 0)
        return -1;
    if (key_len != value_len) {
        snprintf(err, err_size, "GGUF: key_length %lld differs from value_length %lld",
                 (long long)key_len, (long long)value_len);
        return -1;
    }
    c->head_dim = (int)key_len;
    if (rope_dims != c->head_dim) {
        snprintf(err, err_size, "GGUF: partial RoPE (%lld of %d dimensions) is not supported",
                 (long long)rope_dims, c->head_dim);
        return -1;
    }
    double eps = 1e-5, theta = 10000.0;
    if (gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", 0, &eps, err, err_size) < 0 ||
        gguf_get_float(g, "llama.rope.freq_base", 0, &theta, err, err_size) < 0)
        return -1;
    const gguf_kv *scaling = gguf_find_kv(g, "llama.rope.scaling.type");
    if (scaling && scaling->type == GGUF_TYPE_STRING && !string_is(scaling->str, "none")) {
        snprintf(err, err_size, "GGUF: RoPE scaling '%.*s' is not supported",
                 (int)(scaling->str.len > 32 ? 32 : scaling->str.len), scaling->str.data);
        return -1;
    }
    c->norm_eps = (float)eps;
    c->rope_theta = theta;
    /* llama.cpp's converters permute Wq/Wk of `llama` models so that RoPE pairs adjacent
     * channels at run time. */
    c->rope_layout = KVP_ROPE_INTERLEAVED;
    /* The vocabulary size is that of the embedding matrix. */
    const gguf_tensor_info *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb) {
        snprintf(err, err_size, "GGUF: missing tensor 'token_embd.weight'");
        return -1;
    }
    if (emb->n_dims != 2 || emb->ne[1] > (1 << 24)) {
        snprintf(err, err_size, "GGUF: token_embd.weight must be a [dim, vocab] matrix");
        return -1;
    }
    c->vocab_size = (int)emb->ne[1];
    return 0;
}

/* The vocabulary stored in the file: tokens, scores and token types. */
static int read_tokenizer(const gguf_file *g, int vocab_size, tokenizer **out, char *err,
                          size_t err_size) {
    *out = NULL;
    const gguf_kv *tokens = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tokens) return 0; /* no tokenizer inside: the caller may give one */
    gguf_string model;
    if (gguf_get_string(g, "tokenizer.ggml.model", 1, &model, err, err_size)) return -1;
    if (!string_is(model, "llama")) {
        snprintf(err, err_size, "GGUF: tokenizer '%.*s' is not supported (only llama/SentencePiece)",
                 (int)(model.len > 32 ? 32 : model.len), model.data);
        return -1;
    }
    if (tokens->type != GGUF_TYPE_ARRAY || tokens->array_type != GGUF_TYPE_STRING) {
        snprintf(err, err_size, "GGUF: tokenizer.ggml.tokens is not an array of strings");
        return -1;
    }
    if (tokens->array_len != (uint64_t)vocab_size) {
        snprintf(err, err_size, "GGUF: %llu tokens in the vocabulary but the embedding has %d rows",
                 (unsigned long long)tokens->array_len, vocab_size);
        return -1;
    }
    const gguf_kv *scores = gguf_find_kv(g, "tokenizer.ggml.scores");
    const gguf_kv *types = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (!scores || scores->type != GGUF_TYPE_ARRAY || scores->array_len != tokens->array_len ||
        (scores->array_type != GGUF_TYPE_FLOAT32 && scores->array_type != GGUF_TYPE_FLOAT64)) {
        snprintf(err, err_size, "GGUF: tokenizer.ggml.scores is missing or not one float per token");
        return -1;
    }
    if (types && (types->type != GGUF_TYPE_ARRAY || types->array_len != tokens->array_len ||
                  types->array_type == GGUF_TYPE_STRING || types->array_type == GGUF_TYPE_FLOAT32 ||
                  types->array_type == GGUF_TYPE_FLOAT64)) {
        snprintf(err, err_size, "GGUF: tokenizer.ggml.token_type is not one integer per token");
        return -1;
    }
    int64_t ids[3] = {0, 1, 2};
    const char *id_keys[3] = {"tokenizer.ggml.unknown_token_id", "tokenizer.ggml.bos_token_id",
                              "tokenizer.ggml.eos_token_id"};
    for (int i = 0; i < 3; i++)
        if (gguf_get_int(g, id_keys[i], 0, 0, vocab_size - 1, &ids[i], err, err_size) < 0) return -1;

    /* SentencePiece writes a space as U+2581 ("\xe2\x96\x81"); pieces are rewritten with
     * plain spaces, as llama2.c's exported vocabulary has them. */
    size_t n = (size_t)vocab_size, total = 0;
    for (size_t i = 0; i < n; i++) total += (size_t)tokens->array_strings[i].len + 1;
    char *text = malloc(total ? total : 1);
    const char **pieces = malloc(sizeof *pieces * n);
    uint32_t *lengths = malloc(sizeof *lengths * n);
    float *sc = malloc(sizeof *sc * n);
    int32_t *ty = types ? malloc(sizeof *ty * n) : NULL;
    int rc = -1;
    if (!text || !pieces || !lengths || !sc || (types && !ty)) {
        snprintf(err, err_size, "GGUF: out of memory for the vocabulary");
        goto done;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        gguf_string s = tokens->array_strings[i];
        if (s.len > 1024) {
            snprintf(err, err_size, "GGUF: token %zu is %llu bytes long (limit 1024)", i,
                     (unsigned long long)s.len);
            goto done;
        }
        pieces[i] = text + pos;
        size_t len = 0;
        for (size_t k = 0; k < s.len; k++) {
            if (k + 2 < s.len && (unsigned char)s.data[k] == 0xe2 &&
                (unsigned char)s.data[k + 1] == 0x96 && (unsigned char)s.data[k + 2] == 0x81) {
                text[pos + len++] = ' ';
                k += 2;
            } else {
                text[pos + len++] = s.data[k];
            }
        }
        text[pos + len] = 0;
        lengths[i] = (uint32_t)len;
        pos += len + 1;
        double score = gguf_array_number(scores, i);
        sc[i] = fabs(score) <= 3.4e38 ? (float)score : NAN; /* out of range: rejected below */
        if (ty) {
            /* Unknown or out-of-range types decode as normal tokens. */
            double type = gguf_array_number(types, i);
            ty[i] = type >= 1 && type <= 6 ? (int32_t)type : TOKEN_NORMAL;
        }
    }
    rc = tokenizer_create(vocab_size, pieces, lengths, sc, ty, (int)ids[0], (int)ids[1],
                          (int)ids[2], out, err, err_size);
done:
    free(text);
    free(pieces);
    free(lengths);
    free(sc);
    free(ty);
    return rc;
}

/* Every weight of the model: with m NULL, checks that each tensor exists with its shape (so
 * that nothing is allocated for a file that cannot be loaded); otherwise loads them. */
static int load_weights(const gguf_file *g, const llama_config *c, int shared, llama_model *m,
                        char *err, size_t err_size) {
    uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden_dim, V = (uint64_t)c->vocab_size;
    uint64_t Q = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
    uint64_t KV = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
#define DST(field) (m ? (float *)(field) : NULL)
    if (load_tensor(g, "token_embd.weight", D, V, DST(m->tok_embd), err, err_size) ||
        load_tensor(g, "output_norm.weight", D, 1, DST(m->out_norm), err, err_size))
        return -1;
    if (!shared && load_tensor(g, "output.weight", D, V, DST(m->classifier), err, err_size))
        return -1;
    for (int l = 0; l < c->n_layers; l++) {
        const llama_layer *L = m ? &m->layers[l] : NULL;
        struct {
            const char *suffix;
            float *dst;
            uint64_t ne0, ne1;
        } parts[] = {{"attn_norm", DST(L->attn_norm), D, 1}, {"attn_q", DST(L->wq), D, Q},
                     {"attn_k", DST(L->wk), D, KV},          {"attn_v", DST(L->wv), D, KV},
                     {"attn_output", DST(L->wo), Q, D},      {"ffn_norm", DST(L->ffn_norm), D, 1},
                     {"ffn_gate", DST(L->w_gate), D, F},     {"ffn_down", DST(L->w_down), F, D},
                     {"ffn_up", DST(L->w_up), D, F}};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[i].suffix);
            if (load_tensor(g, name, parts[i].ne0, parts[i].ne1, parts[i].dst, err, err_size))
                return -1;
        }
    }
#undef DST
    return 0;
}

int llama_model_load_gguf(const uint8_t *data, size_t size, llama_model **out, char *err,
                          size_t err_size) {
    *out = NULL;
    const uint16_t one = 1;
    uint8_t low;
    memcpy(&low, &one, 1);
    if (low != 1) {
        snprintf(err, err_size, "GGUF: only little-endian hosts are supported");
        return -1;
    }
    gguf_file g;
    if (gguf_parse(data, size, &g, err, err_size)) return -1;
    llama_config c = {0};
    llama_model *m = NULL;
    int rc = -1;
    if (read_config(&g, &c, err, err_size)) goto done;
    char why[256];
    if (llama_config_check(&c, why, sizeof why)) {
        snprintf(err, err_size, "GGUF: %s", why);
        goto done;
    }
    /* A missing output.weight means the classifier is the embedding (tied). */
    int shared = gguf_find_tensor(&g, "output.weight") == NULL;
    if (load_weights(&g, &c, shared, NULL, err, err_size) ||
        llama_model_alloc(&c, shared, &m, err, err_size) ||
        load_weights(&g, &c, shared, m, err, err_size) ||
        read_tokenizer(&g, c.vocab_size, &m->tok, err, err_size))
        goto done;
    snprintf(m->format, sizeof m->format, "GGUF v%u", g.version);
    *out = m;
    m = NULL;
    rc = 0;
done:
    llama_model_free(m);
    gguf_free(&g);
    return rc;
}
