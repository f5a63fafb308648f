/* Shared pieces of the model commands (see model_cli.h). */
#include "model_cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_open_model(const char *model_path, const char *tokenizer_path, int need_tokenizer,
                   llama_model **model, tokenizer **tok, int *tok_owned) {
    char err[512];
    *model = NULL;
    *tok = NULL;
    *tok_owned = 0;
    if (llama_model_load(model_path, model, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool: %s\n", err);
        return -1;
    }
    if (tokenizer_path) {
        if (tokenizer_load_llama2c_file(tokenizer_path, (*model)->cfg.vocab_size, tok, err, sizeof err)) {
            fprintf(stderr, "kvpress-tool: %s\n", err);
            llama_model_free(*model);
            *model = NULL;
            return -1;
        }
        *tok_owned = 1;
    } else {
        *tok = (*model)->tok;
    }
    if (!*tok && need_tokenizer) {
        fprintf(stderr, "kvpress-tool: %s has no tokenizer inside; give one with --tokenizer "
                "tok.bin\n", model_path);
        llama_model_free(*model);
        *model = NULL;
        return -1;
    }
    return 0;
}

int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "kvpress-tool: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "kvpress-tool: %s expects an integer in [%lld, %lld], got '%s'\n", opt, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}
