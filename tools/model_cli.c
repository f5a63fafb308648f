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

int cli_calibration_samples(const char *path, const tokenizer *tok, int max_samples, int len,
                            int32_t **samples, int *n_samples) {
    char err[512];
    uint8_t *text = NULL;
    size_t size = 0;
    *samples = NULL;
    *n_samples = 0;
    if (read_file(path, (size_t)64 << 20, &text, &size, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool: --calibration: %s\n", err);
        return -1;
    }
    char *s = realloc(text, size + 1);
    if (!s) {
        free(text);
        fprintf(stderr, "kvpress-tool: out of memory\n");
        return -1;
    }
    s[size] = 0;
    int32_t *ids = NULL;
    int n = 0;
    int rc = tokenizer_encode(tok, s, 0, 0, &ids, &n, err, sizeof err);
    free(s);
    if (rc) {
        fprintf(stderr, "kvpress-tool: --calibration: %s\n", err);
        return -1;
    }
    int pieces = n / (len - 1);
    if (pieces > max_samples) pieces = max_samples;
    if (pieces < 1) {
        fprintf(stderr, "kvpress-tool: --calibration: %s has %d tokens, fewer than one sample of "
                "%d\n", path, n, len);
        free(ids);
        return -1;
    }
    *samples = malloc(sizeof(int32_t) * (size_t)pieces * (size_t)len);
    if (!*samples) {
        free(ids);
        fprintf(stderr, "kvpress-tool: out of memory\n");
        return -1;
    }
    for (int i = 0; i < pieces; i++) {
        (*samples)[(size_t)i * len] = tokenizer_bos(tok);
        memcpy(*samples + (size_t)i * len + 1, ids + (size_t)i * (len - 1),
               sizeof(int32_t) * (size_t)(len - 1));
    }
    free(ids);
    *n_samples = pieces;
    return 0;
}
