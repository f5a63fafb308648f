/* Builders of small model files (see model_files.h). */
#include "model_files.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_buf {
    uint8_t *p;
    size_t n, cap;
    int failed;
} out_buf;

static void put(out_buf *b, const void *src, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

void mf_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void mf_put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(out_buf *b, uint32_t v) {
    uint8_t x[4];
    mf_put_u32(x, v);
    put(b, x, 4);
}

static void put_u64(out_buf *b, uint64_t v) {
    uint8_t x[8];
    mf_put_u64(x, v);
    put(b, x, 8);
}

static void put_f32(out_buf *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(b, u);
}

static void put_str(out_buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

float mf_weight(int tensor, size_t i) {
    return (float)((int)((i * 7 + (size_t)tensor * 13) % 17) - 8) / 16.0f;
}

/* ---- the vocabulary ---- */

static const char *const pieces[MF_VOCAB] = {
    "<unk>", "<s>", "</s>", " ", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
    "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
    " a", " b", "ab", "ba", " ab", "aa", "bb", " the", "th", " th"};

static float piece_score(int i) { return i < 3 ? 0.0f : (float)-i; }

/* ---- tensors, in a canonical order shared by both formats ---- */

typedef struct tensor_desc {
    char name[48];
    int id;            /* mf_weight's tensor number */
    uint64_t ne0, ne1; /* ne1 = 1 for vectors */
} tensor_desc;

static int describe_tensors(int tied, tensor_desc *t) {
    int n = 0;
    uint64_t D = MF_DIM, F = MF_HIDDEN, Q = MF_HEADS * MF_HEAD_DIM, KV = MF_KV_HEADS * MF_HEAD_DIM;
#define ADD(nm, i, a, b)                                         \
    do {                                                         \
        snprintf(t[n].name, sizeof t[n].name, "%s", nm);         \
        t[n].id = i;                                             \
        t[n].ne0 = a;                                            \
        t[n].ne1 = b;                                            \
        n++;                                                     \
    } while (0)
    ADD("token_embd.weight", 0, D, MF_VOCAB);
    ADD("output_norm.weight", 1, D, 1);
    if (!tied) ADD("output.weight", 2, D, MF_VOCAB);
    static const char *const parts[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                         "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"};
    uint64_t shape[9][2] = {{D, 1}, {D, Q}, {D, KV}, {D, KV}, {Q, D}, {D, 1}, {D, F}, {F, D}, {D, F}};
    for (int l = 0; l < MF_LAYERS; l++)
        for (int k = 0; k < 9; k++) {
            char nm[48];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, parts[k]);
            ADD(nm, 3 + l * 9 + k, shape[k][0], shape[k][1]);
        }
#undef ADD
    return n;
}

/* ---- GGUF ---- */

void mf_gguf_options_init(mf_gguf_options *o) {
    memset(o, 0, sizeof *o);
    o->version = 3;
    o->matrix_type = 0;
    o->arch = "llama";
    o->head_count = MF_HEADS;
}

static void kv_str(out_buf *b, const char *key, const char *v) {
    put_str(b, key);
    put_u32(b, 8);
    put_str(b, v);
}

static void kv_u32(out_buf *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, 4);
    put_u32(b, v);
}

static void kv_f32(out_buf *b, const char *key, float v) {
    put_str(b, key);
    put_u32(b, 6);
    put_f32(b, v);
}

static uint16_t to_half(float f) { /* exact for the builder's values (k/16, |k| <= 8) */
    if (f == 0) return 0;
    uint16_t sign = f < 0 ? 0x8000 : 0;
    float a = fabsf(f);
    int e = 0;
    while (a >= 2) a /= 2, e++;
    while (a < 1) a *= 2, e--;
    return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)((a - 1) * 1024));
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

static size_t tensor_bytes(uint32_t type, uint64_t n) {
    return type == 0 ? n * 4 : type == 8 ? n / 32 * 34 : n * 2;
}

static void put_tensor_data(out_buf *b, uint32_t type, const tensor_desc *t, int nan) {
    size_t n = (size_t)(t->ne0 * t->ne1);
    if (type == 8) {
        for (size_t blk = 0; blk < n / 32; blk++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(mf_weight(t->id, blk * 32 + (size_t)i)));
            float scale = amax / 127.0f;
            uint16_t h = to_half(scale); /* not exact: the test allows for it */
            uint8_t hb[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
            put(b, hb, 2);
            for (int i = 0; i < 32; i++) {
                float v = mf_weight(t->id, blk * 32 + (size_t)i);
                int8_t q = (int8_t)lrintf(scale > 0 ? v / scale : 0);
                put(b, &q, 1);
            }
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = nan && i == 5 ? NAN : mf_weight(t->id, i);
        if (type == 0) {
            put_f32(b, v);
        } else {
            uint16_t h = type == 1 ? (isnan(v) ? 0x7e00 : to_half(v)) : to_bf16(v);
            uint8_t hb[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
            put(b, hb, 2);
        }
    }
}

int mf_build_gguf(const mf_gguf_options *o, mf_file *out) {
    memset(out, 0, sizeof *out);
    out_buf b = {0};
    tensor_desc t[MF_MAX_TENSORS];
    int nt = describe_tensors(o->tied, t);
    if (o->drop_tensor)
        for (int i = 0; i < nt; i++)
            if (!strcmp(t[i].name, "blk.1.attn_v.weight")) {
                memmove(&t[i], &t[i + 1], sizeof t[0] * (size_t)(nt - i - 1));
                nt--;
                break;
            }
    if (o->duplicate_tensor) memcpy(t[nt - 1].name, t[nt - 2].name, sizeof t[0].name);
    if (o->wrong_shape)
        for (int i = 0; i < nt; i++)
            if (!strcmp(t[i].name, "blk.1.ffn_up.weight")) {
                uint64_t x = t[i].ne0;
                t[i].ne0 = t[i].ne1;
                t[i].ne1 = x;
            }
    int n_kv = 10 + (o->alignment ? 1 : 0) + (o->duplicate_key ? 1 : 0) + (o->no_tokenizer ? 0 : 7);
    put(&b, "GGUF", 4);
    out->off_version = b.n;
    put_u32(&b, o->version);
    out->off_n_tensors = b.n;
    put_u64(&b, (uint64_t)nt);
    out->off_n_kv = b.n;
    put_u64(&b, (uint64_t)n_kv);
    out->off_first_key = b.n;
    kv_str(&b, "general.architecture", o->arch);
    kv_str(&b, "general.name", "synthetic test model");
    if (o->alignment) kv_u32(&b, "general.alignment", o->alignment);
    kv_u32(&b, "llama.context_length", MF_CTX);
    kv_u32(&b, "llama.embedding_length", MF_DIM);
    kv_u32(&b, "llama.feed_forward_length", MF_HIDDEN);
    kv_u32(&b, "llama.block_count", MF_LAYERS);
    kv_u32(&b, "llama.attention.head_count", (uint32_t)o->head_count);
    kv_u32(&b, "llama.attention.head_count_kv", MF_KV_HEADS);
    kv_u32(&b, "llama.rope.dimension_count", MF_HEAD_DIM);
    kv_f32(&b, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (o->duplicate_key) kv_u32(&b, "llama.block_count", MF_LAYERS);
    if (!o->no_tokenizer) {
        kv_str(&b, "tokenizer.ggml.model", "llama");
        put_str(&b, "tokenizer.ggml.tokens");
        put_u32(&b, 9);
        put_u32(&b, 8);
        out->off_tokens_array_len = b.n;
        put_u64(&b, MF_VOCAB);
        for (int i = 0; i < MF_VOCAB; i++) {
            /* SentencePiece spells a space U+2581 */
            char piece[32];
            size_t k = 0;
            for (const char *s = pieces[i]; *s; s++) {
                if (*s == ' ') {
                    memcpy(piece + k, "\xe2\x96\x81", 3);
                    k += 3;
                } else {
                    piece[k++] = *s;
                }
            }
            piece[k] = 0;
            put_str(&b, piece);
        }
        put_str(&b, "tokenizer.ggml.scores");
        put_u32(&b, 9);
        put_u32(&b, 6);
        put_u64(&b, MF_VOCAB);
        for (int i = 0; i < MF_VOCAB; i++) put_f32(&b, piece_score(i));
        put_str(&b, "tokenizer.ggml.token_type");
        put_u32(&b, 9);
        put_u32(&b, 5);
        put_u64(&b, MF_VOCAB);
        for (int i = 0; i < MF_VOCAB; i++) put_u32(&b, i == 0 ? 2 : i < 3 ? 3 : 1);
        kv_u32(&b, "tokenizer.ggml.bos_token_id", 1);
        kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
        kv_u32(&b, "tokenizer.ggml.unknown_token_id", 0);
    }
    uint64_t align = o->alignment ? o->alignment : 32, offset = 0;
    out->off_tensor_infos = b.n;
    out->n_tensors = nt;
    uint64_t offsets[MF_MAX_TENSORS];
    for (int i = 0; i < nt; i++) {
        int vec = t[i].ne1 == 1 && strstr(t[i].name, "norm");
        uint32_t type = vec ? 0 : o->matrix_type;
        put_str(&b, t[i].name);
        out->off_tensor_ndims[i] = b.n;
        put_u32(&b, vec ? 1 : 2);
        out->off_tensor_ne0[i] = b.n;
        put_u64(&b, t[i].ne0);
        if (!vec) put_u64(&b, t[i].ne1);
        out->off_tensor_type[i] = b.n;
        put_u32(&b, type);
        out->off_tensor_offset[i] = b.n;
        put_u64(&b, offset);
        offsets[i] = offset;
        offset += (tensor_bytes(type, t[i].ne0 * t[i].ne1) + align - 1) / align * align;
    }
    while (b.n % align) put(&b, "", 1);
    out->off_data = b.n;
    for (int i = 0; i < nt; i++) {
        int vec = t[i].ne1 == 1 && strstr(t[i].name, "norm");
        while (b.n < out->off_data + offsets[i]) put(&b, "", 1);
        put_tensor_data(&b, vec ? 0 : o->matrix_type, &t[i],
                        o->nan_weight && !strcmp(t[i].name, "blk.0.attn_q.weight"));
    }
    if (b.failed) {
        free(b.p);
        return -1;
    }
    out->data = b.p;
    out->size = b.n;
    return 0;
}

/* ---- llama2.c ---- */

int mf_build_llama2c(int shared, mf_file *out) {
    memset(out, 0, sizeof *out);
    out_buf b = {0};
    int32_t header[7] = {MF_DIM, MF_HIDDEN, MF_LAYERS, MF_HEADS, MF_KV_HEADS,
                         shared ? MF_VOCAB : -MF_VOCAB, MF_CTX};
    for (int i = 0; i < 7; i++) put_u32(&b, (uint32_t)header[i]);
    out->section_end[out->n_sections++] = b.n;
    tensor_desc t[MF_MAX_TENSORS];
    int nt = describe_tensors(0, t);
    /* llama2.c groups each kind of weight over all layers: emb, then per kind k the layers. */
    int order[MF_MAX_TENSORS], n = 0;
    order[n++] = 0; /* token_embd */
    for (int k = 0; k < 9; k++)
        for (int l = 0; l < MF_LAYERS; l++) order[n++] = 3 + l * 9 + k;
    order[n++] = 1; /* rms_final */
    for (int i = 0; i < n; i++) {
        const tensor_desc *td = NULL;
        for (int k = 0; k < nt; k++)
            if (t[k].id == order[i]) td = &t[k];
        put_tensor_data(&b, 0, td, 0);
        out->section_end[out->n_sections++] = b.n;
    }
    /* freq_cis_real and freq_cis_imag: [ctx, head_dim / 2] each */
    for (int part = 0; part < 2; part++)
        for (int p = 0; p < MF_CTX; p++)
            for (int i = 0; i < MF_HEAD_DIM / 2; i++) {
                double a = p * pow(10000.0, -2.0 * i / MF_HEAD_DIM);
                put_f32(&b, (float)(part ? sin(a) : cos(a)));
            }
    out->section_end[out->n_sections++] = b.n;
    if (!shared) put_tensor_data(&b, 0, &t[2], 0); /* output.weight */
    if (b.failed) {
        free(b.p);
        return -1;
    }
    out->data = b.p;
    out->size = b.n;
    return 0;
}

int mf_build_tokenizer(mf_file *out) {
    memset(out, 0, sizeof *out);
    out_buf b = {0};
    uint32_t max_len = 0;
    for (int i = 0; i < MF_VOCAB; i++)
        if (strlen(pieces[i]) > max_len) max_len = (uint32_t)strlen(pieces[i]);
    put_u32(&b, max_len);
    for (int i = 0; i < MF_VOCAB; i++) {
        put_f32(&b, piece_score(i));
        put_u32(&b, (uint32_t)strlen(pieces[i]));
        put(&b, pieces[i], strlen(pieces[i]));
    }
    if (b.failed) {
        free(b.p);
        return -1;
    }
    out->data = b.p;
    out->size = b.n;
    return 0;
}

void mf_free(mf_file *f) {
    free(f->data);
    f->data = NULL;
}
