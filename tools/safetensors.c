/* The safetensors writer (see safetensors.h for the layout and the contract). */
#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tensor as added: its own copies of the name and the data. */
typedef struct st_entry {
    char *name;
    int ndim;
    int64_t shape[4];
    float *data;
    size_t count;
} st_entry;

/* Tensors and metadata in the order they were added (the order they are written in). */
struct st_writer {
    st_entry *tensors;
    int n_tensors;
    char **keys, **values;
    int n_meta;
};

/* A growing string. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *ns = realloc(t->s, cap);
        if (!ns) {
            t->failed = 1;
            return;
        }
        t->s = ns;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void put_json_string(text *t, const char *s) {
    puts_(t, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\', esc[1] = (char)*c, esc[2] = 0;
            puts_(t, esc);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            puts_(t, esc);
        } else {
            put(t, (const char *)c, 1);
        }
    }
    puts_(t, "\"");
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

st_writer *st_writer_create(void) { return calloc(1, sizeof(st_writer)); }

void st_writer_free(st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->keys[i]);
        free(w->values[i]);
    }
    free(w->tensors);
    free(w->keys);
    free(w->values);
    free(w);
}

int st_writer_add_f32(st_writer *w, const char *name, int ndim, const int64_t *shape,
                      const float *data, char *err, size_t err_size) {
    if (!name || !*name || !strcmp(name, "__metadata__") || ndim < 1 || ndim > 4) {
        snprintf(err, err_size, "safetensors: bad tensor name or rank");
        return -1;
    }
    for (int i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name)) {
            snprintf(err, err_size, "safetensors: tensor '%s' added twice", name);
            return -1;
        }
    size_t count = 1;
    for (int k = 0; k < ndim; k++) {
        if (shape[k] < 0 || (shape[k] && count > ((size_t)1 << 40) / (size_t)shape[k])) {
            snprintf(err, err_size, "safetensors: tensor '%s' has a bad shape", name);
            return -1;
        }
        count *= (size_t)shape[k];
    }
    st_entry *nt = realloc(w->tensors, sizeof *nt * (size_t)(w->n_tensors + 1));
    if (!nt) goto oom;
    w->tensors = nt;
    st_entry *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dup_str(name);
    t->data = malloc(count ? count * sizeof(float) : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        goto oom;
    }
    if (count) memcpy(t->data, data, count * sizeof(float));
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++) t->shape[k] = shape[k];
    t->count = count;
    w->n_tensors++;
    return 0;
oom:
    snprintf(err, err_size, "safetensors: out of memory");
    return -1;
}

int st_writer_add_meta(st_writer *w, const char *key, const char *value, char *err,
                       size_t err_size) {
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->keys[i], key)) {
            snprintf(err, err_size, "safetensors: metadata '%s' added twice", key);
            return -1;
        }
    char **nk = realloc(w->keys, sizeof *nk * (size_t)(w->n_meta + 1));
    if (nk) w->keys = nk;
    char **nv = nk ? realloc(w->values, sizeof *nv * (size_t)(w->n_meta + 1)) : NULL;
    if (nv) w->values = nv;
    char *k = nv ? dup_str(key) : NULL, *v = k ? dup_str(value) : NULL;
    if (!v) {
        free(k);
        snprintf(err, err_size, "safetensors: out of memory");
        return -1;
    }
    w->keys[w->n_meta] = k;
    w->values[w->n_meta] = v;
    w->n_meta++;
    return 0;
}

int st_writer_to_memory(const st_writer *w, unsigned char **data, size_t *size, char *err,
                        size_t err_size) {
    *data = NULL;
    *size = 0;
    text h = {0};
    puts_(&h, "{");
    if (w->n_meta) {
        puts_(&h, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i++) {
            if (i) puts_(&h, ",");
            put_json_string(&h, w->keys[i]);
            puts_(&h, ":");
            put_json_string(&h, w->values[i]);
        }
        puts_(&h, "}");
    }
    size_t offset = 0;
    for (int i = 0; i < w->n_tensors; i++) {
        const st_entry *t = &w->tensors[i];
        char buf[160];
        if (i || w->n_meta) puts_(&h, ",");
        put_json_string(&h, t->name);
        puts_(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            snprintf(buf, sizeof buf, "%s%lld", k ? "," : "", (long long)t->shape[k]);
            puts_(&h, buf);
        }
        size_t bytes = t->count * sizeof(float);
        snprintf(buf, sizeof buf, "],\"data_offsets\":[%zu,%zu]}", offset, offset + bytes);
        puts_(&h, buf);
        offset += bytes;
    }
    puts_(&h, "}");
    while (!h.failed && h.len % 8) puts_(&h, " ");
    unsigned char *out = h.failed ? NULL : malloc(8 + h.len + offset);
    if (!out) {
        free(h.s);
        snprintf(err, err_size, "safetensors: out of memory");
        return -1;
    }
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    memcpy(out + 8, h.s, h.len);
    unsigned char *p = out + 8 + h.len;
    for (int i = 0; i < w->n_tensors; i++) {
        /* little-endian F32: the host order on every platform we build for */
        memcpy(p, w->tensors[i].data, w->tensors[i].count * sizeof(float));
        p += w->tensors[i].count * sizeof(float);
    }
    *size = 8 + h.len + offset;
    *data = out;
    free(h.s);
    return 0;
}

int st_writer_to_artefact(const st_writer *w, kvp_artefact **out, char *err, size_t err_size) {
    unsigned char *data;
    size_t size;
    *out = NULL;
    if (st_writer_to_memory(w, &data, &size, err, err_size)) return -1;
    kvp_status st = kvp_artefact_load_memory(data, size, out); /* takes its own copy */
    free(data);
    if (st != KVP_OK) {
        snprintf(err, err_size, "%s", kvp_last_error());
        return -1;
    }
    return 0;
}

int st_writer_save(const st_writer *w, const char *path, char *err, size_t err_size) {
    unsigned char *data;
    size_t size;
    if (st_writer_to_memory(w, &data, &size, err, err_size)) return -1;
    size_t tmp_len = strlen(path) + 16;
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        free(data);
        snprintf(err, err_size, "safetensors: out of memory");
        return -1;
    }
    snprintf(tmp, tmp_len, "%s.partial", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f)) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    free(data);
    return ok ? 0 : -1;
}
