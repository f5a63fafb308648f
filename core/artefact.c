/* Trained or calibrated artefacts of presses (query statistics, Q-filters, gates, head
 * patterns, budget curves), read from safetensors files: an 8-byte little-endian header
 * length, a JSON header {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {string: string}}, then the data. Everything is validated before use:
 * header length and JSON, dtypes, shapes (with overflow-safe sizes), offsets inside the data
 * and consistent with the shape. The whole file is held in memory; tensors are views. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"

#define MAX_HEADER_BYTES (64u << 20)

typedef struct artefact_tensor {
    char *name;
    int supported;       /* f32, f16 or bf16 */
    char dtype_name[8];
    kvp_dtype dtype;
    int ndim;
    int64_t shape[4];
    size_t offset, bytes; /* within the data section */
} artefact_tensor;

struct kvp_artefact {
    unsigned char *file;
    unsigned char *aligned; /* a copy of the data section when it starts unaligned */
    size_t size;
    const unsigned char *data; /* the data section */
    size_t data_size;
    int n_tensors;
    artefact_tensor *tensors;
    int n_meta;
    char **meta_keys, **meta_values;
};

void kvp_artefact_destroy(kvp_artefact *a) {
    if (!a) return;
    for (int i = 0; i < a->n_tensors; i++) free(a->tensors[i].name);
    for (int i = 0; i < a->n_meta; i++) {
        free(a->meta_keys[i]);
        free(a->meta_values[i]);
    }
    free(a->tensors);
    free(a->meta_keys);
    free(a->meta_values);
    free(a->file);
    free(a->aligned);
    free(a);
}

static kvp_status bad(const char *what, const char *detail) {
    return kvp__error_tls(KVP_ERR_INVALID_ARG, "artefact: %s%s%s", what, detail ? ": " : "",
                          detail ? detail : "");
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A whole non-negative integer that fits in int64, from a JSON number. */
static int as_index(const kvp_json *v, int64_t *out) {
    if (!v || v->kind != KVP_JSON_NUMBER || !(v->number >= 0) || v->number > 9007199254740992.0 ||
        v->number != (double)(int64_t)v->number)
        return 0;
    *out = (int64_t)v->number;
    return 1;
}

static kvp_status parse_tensor(kvp_artefact *a, const char *name, const kvp_json *e,
                               artefact_tensor *t) {
    char what[160];
    snprintf(what, sizeof what, "tensor '%s'", name);
    if (e->kind != KVP_JSON_OBJECT) return bad(what, "entry is not an object");
    const kvp_json *dt = kvp__json_get(e, "dtype"), *sh = kvp__json_get(e, "shape"),
                   *off = kvp__json_get(e, "data_offsets");
    if (!dt || dt->kind != KVP_JSON_STRING) return bad(what, "no dtype");
    if (!sh || sh->kind != KVP_JSON_ARRAY) return bad(what, "no shape");
    if (!off || off->kind != KVP_JSON_ARRAY || off->count != 2) return bad(what, "no data_offsets");
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->string);
    size_t es = 0;
    static const struct {
        const char *name;
        kvp_dtype dtype;
        size_t size;
    } known[] = {{"F32", KVP_DTYPE_F32, 4}, {"F16", KVP_DTYPE_F16, 2}, {"BF16", KVP_DTYPE_BF16, 2}};
    static const struct {
        const char *name;
        size_t size;
    } other[] = {{"F64", 8}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2},
                 {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (!strcmp(dt->string, known[k].name)) {
            t->supported = 1;
            t->dtype = known[k].dtype;
            es = known[k].size;
        }
    for (size_t k = 0; !es && k < sizeof other / sizeof *other; k++)
        if (!strcmp(dt->string, other[k].name)) es = other[k].size;
    if (!es) return bad(what, "unknown dtype");
    if (sh->count > 4) return bad(what, "more than 4 dimensions");
    t->ndim = sh->count;
    size_t count = 1;
    for (int i = 0; i < sh->count; i++) {
        int64_t d;
        if (!as_index(sh->items[i], &d)) return bad(what, "shape entries must be integers >= 0");
        t->shape[i] = d;
        if (d && count > SIZE_MAX / (size_t)d) return bad(what, "shape overflows");
        count *= (size_t)d;
    }
    if (count > SIZE_MAX / es) return bad(what, "shape overflows");
    int64_t b, e2;
    if (!as_index(off->items[0], &b) || !as_index(off->items[1], &e2) || e2 < b)
        return bad(what, "data_offsets must be integers with begin <= end");
    if ((uint64_t)e2 > a->data_size) return bad(what, "data_offsets beyond the end of the file");
    if ((uint64_t)(e2 - b) != (uint64_t)(count * es))
        return bad(what, "data_offsets do not match the dtype and shape");
    t->offset = (size_t)b;
    t->bytes = (size_t)(e2 - b);
    if (t->supported && t->offset % (t->dtype == KVP_DTYPE_F32 ? 4 : 2))
        return bad(what, "data is not aligned to its dtype");
    return KVP_OK;
}

static kvp_status parse(kvp_artefact *a) {
    if (a->size < 8) return bad("file too short for a safetensors header", NULL);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | a->file[i];
    if (n == 0 || n > MAX_HEADER_BYTES || n > a->size - 8)
        return bad("header length is zero, too large, or beyond the end of the file", NULL);
    char *text = malloc((size_t)n + 1);
    if (!text) return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
    memcpy(text, a->file + 8, (size_t)n);
    text[n] = 0;
    if (strlen(text) != n) { /* safetensors allows trailing spaces, not NUL bytes */
        free(text);
        return bad("header holds a NUL byte", NULL);
    }
    char err[256];
    kvp_json *root = kvp__json_parse(text, err, sizeof err);
    free(text);
    if (!root) return bad("header is not JSON", err);
    kvp_status st = KVP_OK;
    a->data = a->file + 8 + n;
    a->data_size = a->size - 8 - (size_t)n;
    if ((uintptr_t)a->data % 8) { /* the header length is arbitrary: keep tensors aligned */
        a->aligned = malloc(a->data_size ? a->data_size : 1);
        if (!a->aligned) {
            kvp__json_free(root);
            return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
        }
        if (a->data_size) memcpy(a->aligned, a->data, a->data_size);
        a->data = a->aligned;
    }
    if (root->kind != KVP_JSON_OBJECT) st = bad("header is not a JSON object", NULL);
    if (st == KVP_OK) {
        a->tensors = calloc((size_t)(root->count ? root->count : 1), sizeof *a->tensors);
        if (!a->tensors) st = kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
    }
    for (int i = 0; st == KVP_OK && i < root->count; i++) {
        const char *key = root->keys[i];
        const kvp_json *v = root->items[i];
        if (!strcmp(key, "__metadata__")) {
            if (v->kind != KVP_JSON_OBJECT) {
                st = bad("__metadata__ is not an object", NULL);
                break;
            }
            a->meta_keys = calloc((size_t)(v->count ? v->count : 1), sizeof(char *));
            a->meta_values = calloc((size_t)(v->count ? v->count : 1), sizeof(char *));
            if (!a->meta_keys || !a->meta_values) {
                st = kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
                break;
            }
            for (int k = 0; k < v->count; k++) {
                if (v->items[k]->kind != KVP_JSON_STRING) {
                    st = bad("__metadata__ values must be strings", v->keys[k]);
                    break;
                }
                a->meta_keys[a->n_meta] = dup_str(v->keys[k]);
                a->meta_values[a->n_meta] = dup_str(v->items[k]->string);
                if (!a->meta_keys[a->n_meta] || !a->meta_values[a->n_meta]) {
                    st = kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
                    free(a->meta_keys[a->n_meta]);
                    free(a->meta_values[a->n_meta]);
                    break;
                }
                a->n_meta++;
            }
            continue;
        }
        for (int k = 0; k < a->n_tensors; k++)
            if (!strcmp(a->tensors[k].name, key)) st = bad("duplicate tensor name", key);
        if (st != KVP_OK) break;
        artefact_tensor *t = &a->tensors[a->n_tensors];
        st = parse_tensor(a, key, v, t);
        if (st == KVP_OK && !(t->name = dup_str(key)))
            st = kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
        if (st == KVP_OK) a->n_tensors++;
    }
    kvp__json_free(root);
    return st;
}

kvp_status kvp_artefact_load_memory(const void *data, size_t size, kvp_artefact **out) {
    if (!out) return bad("kvp_artefact_load_memory: artefact is NULL", NULL);
    *out = NULL;
    if (!data && size) return bad("kvp_artefact_load_memory: data is NULL", NULL);
    kvp_artefact *a = calloc(1, sizeof *a);
    unsigned char *copy = malloc(size ? size : 1);
    if (!a || !copy) {
        free(a);
        free(copy);
        return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
    }
    if (size) memcpy(copy, data, size);
    a->file = copy;
    a->size = size;
    kvp_status st = parse(a);
    if (st != KVP_OK) {
        kvp_artefact_destroy(a);
        return st;
    }
    *out = a;
    return KVP_OK;
}

kvp_status kvp_artefact_load(const char *path, kvp_artefact **out) {
    if (!out) return bad("kvp_artefact_load: artefact is NULL", NULL);
    *out = NULL;
    if (!path) return bad("kvp_artefact_load: path is NULL", NULL);
    FILE *f = fopen(path, "rb");
    if (!f) return kvp__error_tls(KVP_ERR_NOT_FOUND, "artefact %s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    unsigned char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    kvp_status st = KVP_OK;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        st = kvp__error_tls(KVP_ERR_INVALID_ARG, "artefact %s: cannot read its size", path);
    else if (!buf)
        st = kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact %s: out of memory (%ld bytes)",
                            path, size);
    else if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        st = kvp__error_tls(KVP_ERR_INVALID_ARG, "artefact %s: read error", path);
    fclose(f);
    if (st == KVP_OK) {
        kvp_artefact *a = calloc(1, sizeof *a);
        if (!a) {
            st = kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "artefact: out of memory");
        } else {
            a->file = buf;
            a->size = (size_t)size;
            buf = NULL;
            st = parse(a);
            if (st != KVP_OK) {
                char msg[KVP_ERRMSG_SIZE];
                snprintf(msg, sizeof msg, "%s", kvp_last_error());
                kvp__error_tls(st, "%s: %s", path, msg);
                kvp_artefact_destroy(a);
            } else {
                *out = a;
            }
        }
    }
    free(buf);
    return st;
}

int kvp_artefact_tensor_count(const kvp_artefact *a) { return a ? a->n_tensors : 0; }

const char *kvp_artefact_tensor_name(const kvp_artefact *a, int index) {
    return a && index >= 0 && index < a->n_tensors ? a->tensors[index].name : NULL;
}

const char *kvp_artefact_metadata(const kvp_artefact *a, const char *key) {
    for (int i = 0; a && key && i < a->n_meta; i++)
        if (!strcmp(a->meta_keys[i], key)) return a->meta_values[i];
    return NULL;
}

kvp_status kvp_artefact_get(const kvp_artefact *a, const char *name, kvp_tensor *t) {
    if (!a || !name || !t) return bad("kvp_artefact_get: NULL argument", NULL);
    for (int i = 0; i < a->n_tensors; i++) {
        const artefact_tensor *e = &a->tensors[i];
        if (strcmp(e->name, name)) continue;
        if (!e->supported)
            return kvp__error_tls(KVP_ERR_UNSUPPORTED,
                                  "artefact tensor '%s' has dtype %s (F32, F16 or BF16 needed)", name,
                                  e->dtype_name);
        memset(t, 0, sizeof *t);
        t->dtype = e->dtype;
        t->ndim = e->ndim;
        for (int k = 0; k < 4; k++) t->shape[k] = k < e->ndim ? e->shape[k] : 1;
        t->data = (void *)(a->data + e->offset);
        return KVP_OK;
    }
    return kvp__error_tls(KVP_ERR_NOT_FOUND, "the artefact has no tensor '%s'", name);
}
