/* The score-based BPE tokenizer with byte fallback of llama2.c / SentencePiece Llama models.
 *
 * Encoding: an optional BOS, a leading space token when the text is not empty (SentencePiece's
 * dummy prefix), every UTF-8 character looked up as a piece (unknown characters fall back to
 * their bytes, <0xXX> pieces), then pairs merged greedily: the adjacent pair whose joined
 * piece exists with the highest score merges first (ties: leftmost), until none is left. */
#ifndef KVP_TOOL_TOKENIZER_H
#define KVP_TOOL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

/* What a token is, for decoding: control tokens (BOS, EOS) print nothing. */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };

/* Builds a tokenizer from pieces (copied). `types` may be NULL (then unk = 0, bos, eos are
 * control tokens and <0xXX> pieces are byte tokens). bos/eos may be -1 (none). */
int tokenizer_create(int vocab_size, const char *const *pieces, const uint32_t *lengths,
                     const float *scores, const int32_t *types, int unk_id, int bos_id,
                     int eos_id, tokenizer **out, char *err, size_t err_size);
/* llama2.c's tokenizer .bin: int32 max_token_length, then vocab_size entries of
 * {float score, int32 length, bytes}. vocab_size comes from the model. */
int tokenizer_load_llama2c(const uint8_t *data, size_t size, int vocab_size, tokenizer **out,
                           char *err, size_t err_size);
int tokenizer_load_llama2c_file(const char *path, int vocab_size, tokenizer **out, char *err,
                                size_t err_size);
void tokenizer_free(tokenizer *tok);

int tokenizer_vocab_size(const tokenizer *tok);
int tokenizer_bos(const tokenizer *tok);
int tokenizer_eos(const tokenizer *tok);
/* The raw piece of a token (NUL-terminated), or NULL when out of range. */
const char *tokenizer_piece(const tokenizer *tok, int token);

/* Encodes text (NUL-terminated) into a malloc'd array. */
int tokenizer_encode(const tokenizer *tok, const char *text, int add_bos, int add_eos,
                     int32_t **tokens, int *n_tokens, char *err, size_t err_size);
/* The bytes `token` stands for when it follows `prev` (after BOS the leading space is
 * dropped; <0xXX> gives that byte; control tokens give nothing). Returns the length and
 * points *bytes at storage owned by the tokenizer (valid until it is freed). */
size_t tokenizer_decode(const tokenizer *tok, int prev, int token, const char **bytes);

#endif
