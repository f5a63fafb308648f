/* Safetensors images for tests: an 8-byte little-endian header length, the JSON header, then
 * the tensors' data back to back. */
#include "artefact_write.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct aw_entry {
    char name[128];
    int ndim;
    int64_t shape[4];
    float *data;
    size_t count;
} aw_entry;

struct artefact_writer {
    aw_entry *tensors;
    int n_tensors;
    char (*meta)[2][128];
    int n_meta;
};

artefact_writer *aw_new(void) {
    artefact_writer *w = calloc(1, sizeof *w);
    ck_assert_ptr_nonnull(w);
    return w;
}

void aw_free(artefact_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].data);
    free(w->tensors);
    free(w->meta);
    free(w);
}

void aw_tensor(artefact_writer *w, const char *name, int ndim, const int64_t *shape,
               const float *data) {
    w->tensors = realloc(w->tensors, sizeof(aw_entry) * (size_t)(w->n_tensors + 1));
    ck_assert_ptr_nonnull(w->tensors);
    aw_entry *e = &w->tensors[w->n_tensors++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    e->count = 1;
    for (int k = 0; k < ndim; k++) {
        e->shape[k] = shape[k];
        e->count *= (size_t)shape[k];
    }
    e->data = malloc(sizeof(float) * (e->count ? e->count : 1));
    ck_assert_ptr_nonnull(e->data);
    if (e->count) memcpy(e->data, data, sizeof(float) * e->count);
}

void aw_meta(artefact_writer *w, const char *key, const char *value) {
    w->meta = realloc(w->meta, sizeof *w->meta * (size_t)(w->n_meta + 1));
    ck_assert_ptr_nonnull(w->meta);
    snprintf(w->meta[w->n_meta][0], 128, "%s", key);
    snprintf(w->meta[w->n_meta][1], 128, "%s", value);
    w->n_meta++;
}

unsigned char *aw_image(const artefact_writer *w, size_t *size) {
    size_t cap = 4096 + 256 * (size_t)(w->n_tensors + w->n_meta), len = 0, data = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\": {");
    for (int i = 0; i < w->n_meta; i++)
        len += (size_t)snprintf(h + len, cap - len, "%s\"%s\": \"%s\"", i ? ", " : "",
                                w->meta[i][0], w->meta[i][1]);
    len += (size_t)snprintf(h + len, cap - len, "}");
    for (int i = 0; i < w->n_tensors; i++) {
        const aw_entry *e = &w->tensors[i];
        len += (size_t)snprintf(h + len, cap - len, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [",
                                e->name);
        for (int k = 0; k < e->ndim; k++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", k ? ", " : "",
                                    (long long)e->shape[k]);
        len += (size_t)snprintf(h + len, cap - len, "], \"data_offsets\": [%zu, %zu]}", data,
                                data + 4 * e->count);
        data += 4 * e->count;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    ck_assert(len < cap);
    *size = 8 + len + data;
    unsigned char *b = malloc(*size);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(b + 8, h, len);
    size_t off = 8 + len;
    for (int i = 0; i < w->n_tensors; i++) {
        memcpy(b + off, w->tensors[i].data, 4 * w->tensors[i].count);
        off += 4 * w->tensors[i].count;
    }
    free(h);
    return b;
}

kvp_artefact *aw_load(const artefact_writer *w) {
    size_t size;
    unsigned char *b = aw_image(w, &size);
    kvp_artefact *a = NULL;
    kvp_status st = kvp_artefact_load_memory(b, size, &a);
    free(b);
    ck_assert_msg(st == KVP_OK, "artefact: %s", kvp_last_error());
    return a;
}

int aw_save(const artefact_writer *w, const char *path) {
    size_t size;
    unsigned char *b = aw_image(w, &size);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(b, 1, size, f) == size ? 0 : -1;
    if (f && fclose(f)) rc = -1;
    free(b);
    return rc;
}
