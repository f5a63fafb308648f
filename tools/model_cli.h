/* What kvpress-tool's model commands (run, eval) share: opening a model with its tokenizer
 * and reading numeric options. */
#ifndef KVP_TOOL_MODEL_CLI_H
#define KVP_TOOL_MODEL_CLI_H

#include "model/model.h"

/* Loads the model and picks its tokenizer: the --tokenizer file when given (llama2.c .bin),
 * else the one inside the model file; *tok may be NULL when neither exists and
 * `need_tokenizer` is 0. *tok is owned by the model or must be freed with tokenizer_free
 * when *tok_owned is set. Prints the error and returns -1 on failure. */
int cli_open_model(const char *model_path, const char *tokenizer_path, int need_tokenizer,
                   llama_model **model, tokenizer **tok, int *tok_owned);

/* Calibration samples for presses that learn from the model (kvp_press_calibrate: DuoAttention
 * on the fly) from a text file: up to max_samples consecutive pieces of `len` tokens, each
 * starting with BOS. *samples is one allocation (free() it), piece i at i * len. Prints the
 * error and returns -1 on failure. */
int cli_calibration_samples(const char *path, const tokenizer *tok, int max_samples, int len,
                            int32_t **samples, int *n_samples);

/* Strict number parsing for options: the whole string must be a number in [lo, hi]. */
int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out);
int cli_parse_int(const char *opt, const char *s, long long lo, long long hi, long long *out);

#endif
