/* Fuzz target for the GGUF parser and the GGUF model loader (with its tokenizer): any input
 * must give a result or an error message, never a crash, an out-of-bounds access, undefined
 * behaviour or a leak. Built as a libFuzzer target with clang (-fsanitize=fuzzer,address,
 * undefined); fuzz_gguf_main.c drives the same entry point on any compiler. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    gguf_file g;
    if (gguf_parse(data, size, &g, err, sizeof err) == 0) {
        /* Walk what was parsed, through the accessors a loader uses. */
        int64_t i64;
        double f64;
        gguf_string s;
        for (uint64_t i = 0; i < g.n_kv; i++) {
            const gguf_kv *kv = &g.kv[i];
            (void)gguf_get_int(&g, kv->key, 0, INT64_MIN, INT64_MAX, &i64, err, sizeof err);
            (void)gguf_get_float(&g, kv->key, 0, &f64, err, sizeof err);
            (void)gguf_get_string(&g, kv->key, 0, &s, err, sizeof err);
            for (uint64_t k = 0; kv->type == GGUF_TYPE_ARRAY && k < kv->array_len && k < 64; k++) {
                if (kv->array_type == GGUF_TYPE_STRING) {
                    volatile char sink = kv->array_strings[k].len ? kv->array_strings[k].data[kv->array_strings[k].len - 1] : 0;
                    (void)sink;
                } else {
                    (void)gguf_array_number(kv, k);
                }
            }
        }
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const gguf_tensor_info *t = &g.tensors[i];
            if (t->n_bytes) {
                volatile uint8_t sink = t->data[0] ^ t->data[t->n_bytes - 1];
                (void)sink;
            }
        }
        gguf_free(&g);
    }
    llama_model *m = NULL;
    if (llama_model_load_gguf(data, size, &m, err, sizeof err) == 0) {
        if (m->tok) {
            int32_t *ids;
            int n;
            if (tokenizer_encode(m->tok, "Once upon a time \xe2\x9c\x93", 1, 1, &ids, &n, err, sizeof err) == 0) {
                for (int i = 0; i < n; i++) {
                    const char *bytes;
                    (void)tokenizer_decode(m->tok, i ? ids[i - 1] : -1, ids[i], &bytes);
                }
                free(ids);
            }
        }
        llama_model_free(m);
    }
    return 0;
}
