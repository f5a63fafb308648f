/* Builders of small, valid model files in memory (GGUF and llama2.c, plus a llama2.c
 * tokenizer), for the loader tests and as the fuzzer's seed. Options break them in the ways
 * the bad-input tests need; the builders record where each field sits so that tests can
 * corrupt exactly one of them. */
#ifndef KVP_TEST_MODEL_FILES_H
#define KVP_TEST_MODEL_FILES_H

#include <stddef.h>
#include <stdint.h>

/* The synthetic model: dim 32, SwiGLU 64, 2 layers, 4 query / 2 kv heads of 8, vocab 40,
 * context 64. Every weight is a multiple of 1/16 in [-0.5, 0.5], exact in F16 and BF16. */
enum { MF_DIM = 32, MF_HIDDEN = 64, MF_LAYERS = 2, MF_HEADS = 4, MF_KV_HEADS = 2, MF_HEAD_DIM = 8,
       MF_VOCAB = 40, MF_CTX = 64, MF_MAX_TENSORS = 32 };

typedef struct mf_gguf_options {
    uint32_t version;        /* 3 */
    uint32_t matrix_type;    /* GGUF tensor type of the 2-D weights: 0 F32, 1 F16, 8 Q8_0, 30 BF16 */
    int tied;                /* no output.weight */
    const char *arch;        /* "llama" */
    int head_count;          /* MF_HEADS */
    uint32_t alignment;      /* 0: no general.alignment key (32) */
    int duplicate_key;
    int duplicate_tensor;
    int nan_weight;          /* a NaN in blk.0.attn_q.weight */
    int wrong_shape;         /* blk.1.ffn_up.weight has its dimensions swapped */
    int drop_tensor;         /* blk.1.attn_v.weight is missing */
    int no_tokenizer;
} mf_gguf_options;

typedef struct mf_file {
    uint8_t *data;
    size_t size;
    /* where fields sit (byte offsets) */
    size_t off_version, off_n_tensors, off_n_kv, off_first_key, off_tokens_array_len;
    size_t off_tensor_infos, off_data;
    int n_tensors;
    size_t off_tensor_ndims[MF_MAX_TENSORS], off_tensor_ne0[MF_MAX_TENSORS],
        off_tensor_type[MF_MAX_TENSORS], off_tensor_offset[MF_MAX_TENSORS];
    /* llama2.c: end of each weight section */
    size_t n_sections, section_end[32];
} mf_file;

void mf_gguf_options_init(mf_gguf_options *o);
/* 0 on success (out->data malloc'd). */
int mf_build_gguf(const mf_gguf_options *o, mf_file *out);
/* A legacy llama2.c checkpoint of the same model (shared or separate classifier). */
int mf_build_llama2c(int shared_classifier, mf_file *out);
/* A llama2.c tokenizer with the model's MF_VOCAB pieces. */
int mf_build_tokenizer(mf_file *out);
void mf_free(mf_file *f);
/* The value the builders store at element i of weight tensor number `tensor`. */
float mf_weight(int tensor, size_t i);

void mf_put_u32(uint8_t *p, uint32_t v);
void mf_put_u64(uint8_t *p, uint64_t v);

#endif
