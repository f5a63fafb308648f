#include "st_writer.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t count_of(const st_tensor *t) {
    int64_t c = 1;
    for (int k = 0; k < t->ndim; k++) c *= t->shape[k];
    return c;
}

unsigned char *st_build(const st_tensor *t, int n, const char *metadata, size_t *size) {
    size_t cap = 256 + (size_t)n * 160, len = 0, data = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\": {%s}", metadata ? metadata : "");
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)count_of(&t[i]) * sizeof(float);
        len += (size_t)snprintf(h + len, cap - len, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [",
                                t[i].name);
        for (int k = 0; k < t[i].ndim; k++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", k ? ", " : "",
                                    (long long)t[i].shape[k]);
        len += (size_t)snprintf(h + len, cap - len, "], \"data_offsets\": [%zu, %zu]}", data,
                                data + bytes);
        data += bytes;
        ck_assert(len < cap);
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    ck_assert(len < cap);
    *size = 8 + len + data;
    unsigned char *b = malloc(*size);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(b + 8, h, len);
    size_t at = 8 + len;
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)count_of(&t[i]) * sizeof(float);
        memcpy(b + at, t[i].data, bytes);
        at += bytes;
    }
    free(h);
    return b;
}

kvp_artefact *st_artefact(const st_tensor *t, int n, const char *metadata) {
    size_t size;
    unsigned char *b = st_build(t, n, metadata, &size);
    kvp_artefact *a = NULL;
    kvp_status st = kvp_artefact_load_memory(b, size, &a);
    ck_assert_msg(st == KVP_OK, "st_artefact: %s", kvp_last_error());
    free(b);
    return a;
}
