/* GGUF parser: see gguf.h. Layout (little-endian):
 *   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   padding to `general.alignment` (default 32), then the data section.
 * A string is a u64 length followed by that many bytes (no terminator). An array value is
 * u32 element type, u64 count, then the elements. */
#include "gguf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits the format itself states (keys are short ASCII names, tensor names at most 64
 * bytes); anything longer is corruption. */
#define GGUF_MAX_KEY_LEN 65535u
#define GGUF_MAX_TENSOR_NAME_LEN 64u

typedef struct reader {
    const uint8_t *data;
    size_t size;
    size_t pos;
    char *err;
    size_t err_size;
} reader;

static int fail(reader *r, const char *fmt, ...) {
    if (r->err && r->err_size) {
        char msg[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(r->err, r->err_size, "GGUF: %s (at byte %zu of %zu)", msg, r->pos, r->size);
    }
    return -1;
}

static size_t remaining(const reader *r) { return r->size - r->pos; }

static int read_bytes(reader *r, size_t n, const uint8_t **out, const char *what) {
    *out = r->data; /* never read on failure; set so that no caller sees garbage */
    if (n > remaining(r))
        return fail(r, "file truncated: %s needs %zu bytes, %zu left", what, n, remaining(r));
    *out = r->data + r->pos;
    r->pos += n;
    return 0;
}

static uint64_t le_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t le_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_u32(reader *r, uint32_t *out, const char *what) {
    const uint8_t *p = NULL;
    if (read_bytes(r, 4, &p, what)) return -1;
    *out = le_u32(p);
    return 0;
}

static int read_u64(reader *r, uint64_t *out, const char *what) {
    const uint8_t *p = NULL;
    if (read_bytes(r, 8, &p, what)) return -1;
    *out = le_u64(p);
    return 0;
}

static int read_string(reader *r, gguf_string *out, const char *what) {
    uint64_t len;
    if (read_u64(r, &len, what)) return -1;
    if (len > remaining(r))
        return fail(r, "%s: string length %llu exceeds the %zu bytes left", what,
                    (unsigned long long)len, remaining(r));
    const uint8_t *p = NULL;
    if (read_bytes(r, (size_t)len, &p, what)) return -1;
    out->data = (const char *)p;
    out->len = len;
    return 0;
}

/* A key or tensor name: non-empty, bounded, no NUL byte; returned as a C string. */
static int read_name(reader *r, uint64_t max_len, const char *what, char **out) {
    gguf_string s;
    size_t start = r->pos;
    if (read_string(r, &s, what)) return -1;
    if (s.len == 0 || s.len > max_len) {
        r->pos = start;
        return fail(r, "%s has length %llu (must be 1..%llu)", what, (unsigned long long)s.len,
                    (unsigned long long)max_len);
    }
    if (memchr(s.data, 0, (size_t)s.len)) {
        r->pos = start;
        return fail(r, "%s contains a NUL byte", what);
    }
    char *copy = malloc((size_t)s.len + 1);
    if (!copy) return fail(r, "out of memory");
    memcpy(copy, s.data, (size_t)s.len);
    copy[s.len] = 0;
    *out = copy;
    return 0;
}

static size_t scalar_size(gguf_value_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_value_type_name(gguf_value_type t) {
    static const char *names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32",
                                  "float32", "bool", "string", "array", "uint64", "int64",
                                  "float64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

const char *gguf_tensor_type_name(uint32_t type) {
    /* ggml's numbering, so that an unsupported file names what it holds. */
    static const char *names[] = {"F32",  "F16",  "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0",
                                  "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                                  "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
                                  "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32",
                                  "I64", "F64", "IQ1_M", "BF16"};
    return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

/* Decodes one scalar at p (already bounds-checked) into kv's widened fields. */
static int decode_scalar(reader *r, gguf_value_type t, const uint8_t *p, gguf_kv *kv) {
    uint64_t u = 0;
    switch (t) {
    case GGUF_TYPE_UINT8: u = p[0]; break;
    case GGUF_TYPE_UINT16: u = (uint64_t)p[0] | (uint64_t)p[1] << 8; break;
    case GGUF_TYPE_UINT32: u = le_u32(p); break;
    case GGUF_TYPE_UINT64: u = le_u64(p); break;
    case GGUF_TYPE_BOOL:
        if (p[0] > 1) return fail(r, "boolean value %u is neither 0 nor 1", p[0]);
        u = p[0];
        break;
    case GGUF_TYPE_INT8: kv->i64 = (int8_t)p[0]; goto is_signed;
    case GGUF_TYPE_INT16: kv->i64 = (int16_t)((uint16_t)p[0] | (uint16_t)(p[1] << 8)); goto is_signed;
    case GGUF_TYPE_INT32: kv->i64 = (int32_t)le_u32(p); goto is_signed;
    case GGUF_TYPE_INT64: kv->i64 = (int64_t)le_u64(p); goto is_signed;
    case GGUF_TYPE_FLOAT32: {
        float f;
        uint32_t bits = le_u32(p);
        memcpy(&f, &bits, 4);
        kv->f64 = f;
        return 0;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t bits = le_u64(p);
        memcpy(&kv->f64, &bits, 8);
        return 0;
    }
    default: return fail(r, "internal: not a scalar type");
    }
    kv->u64 = u;
    kv->i64 = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    kv->f64 = (double)u;
    return 0;
is_signed:
    kv->is_negative = kv->i64 < 0;
    kv->u64 = kv->is_negative ? 0 : (uint64_t)kv->i64;
    kv->f64 = (double)kv->i64;
    return 0;
}

static int read_value(reader *r, gguf_kv *kv) {
    uint32_t type;
    if (read_u32(r, &type, "value type")) return -1;
    if (type >= GGUF_TYPE_COUNT) {
        r->pos -= 4;
        return fail(r, "key '%s' has unknown value type %u", kv->key, type);
    }
    kv->type = (gguf_value_type)type;
    if (type == GGUF_TYPE_STRING) return read_string(r, &kv->str, kv->key);
    if (type != GGUF_TYPE_ARRAY) {
        const uint8_t *p = NULL;
        if (read_bytes(r, scalar_size(kv->type), &p, kv->key)) return -1;
        return decode_scalar(r, kv->type, p, kv);
    }
    uint32_t at;
    if (read_u32(r, &at, "array element type")) return -1;
    if (at >= GGUF_TYPE_COUNT) {
        r->pos -= 4;
        return fail(r, "array '%s' has unknown element type %u", kv->key, at);
    }
    if (at == GGUF_TYPE_ARRAY) {
        r->pos -= 4;
        return fail(r, "array '%s' holds arrays (nested arrays are not supported)", kv->key);
    }
    kv->array_type = (gguf_value_type)at;
    if (read_u64(r, &kv->array_len, "array length")) return -1;
    if (at == GGUF_TYPE_STRING) {
        /* Every element needs at least its 8-byte length, which bounds the allocation by
         * the file size before anything is allocated. */
        if (kv->array_len > remaining(r) / 8)
            return fail(r, "array '%s' claims %llu strings, more than the file can hold",
                        kv->key, (unsigned long long)kv->array_len);
        kv->array_strings = malloc(sizeof(gguf_string) * (size_t)(kv->array_len ? kv->array_len : 1));
        if (!kv->array_strings) return fail(r, "out of memory");
        for (uint64_t i = 0; i < kv->array_len; i++)
            if (read_string(r, &kv->array_strings[i], kv->key)) return -1;
        return 0;
    }
    size_t es = scalar_size(kv->array_type);
    if (kv->array_len > remaining(r) / es)
        return fail(r, "array '%s' claims %llu elements of %zu bytes, more than the %zu bytes left",
                    kv->key, (unsigned long long)kv->array_len, es, remaining(r));
    if (read_bytes(r, (size_t)kv->array_len * es, &kv->array_data, kv->key)) return -1;
    if (kv->array_type == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < kv->array_len; i++)
            if (kv->array_data[i] > 1)
                return fail(r, "array '%s' element %llu: boolean %u is neither 0 nor 1", kv->key,
                            (unsigned long long)i, kv->array_data[i]);
    return 0;
}

double gguf_array_number(const gguf_kv *kv, uint64_t index) {
    if (kv->type != GGUF_TYPE_ARRAY || index >= kv->array_len || !kv->array_data) return NAN;
    size_t es = scalar_size(kv->array_type);
    gguf_kv tmp;
    memset(&tmp, 0, sizeof tmp);
    reader dummy = {0};
    if (decode_scalar(&dummy, kv->array_type, kv->array_data + (size_t)index * es, &tmp)) return NAN;
    return tmp.f64;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted copy of the names to find duplicates in n log n (a hostile file may hold many). */
static int check_unique(reader *r, char **names, uint64_t n, const char *what) {
    if (n < 2) return 0;
    char **sorted = malloc(sizeof(char *) * (size_t)n);
    if (!sorted) return fail(r, "out of memory");
    memcpy(sorted, names, sizeof(char *) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(char *), cmp_names);
    int rc = 0;
    for (uint64_t i = 1; i < n && !rc; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) rc = fail(r, "duplicate %s '%s'", what, sorted[i]);
    free(sorted);
    return rc;
}

static int parse_kvs(reader *r, gguf_file *f) {
    /* Entries are appended as they parse, so memory follows the file's real content
     * rather than its claimed count. */
    uint64_t cap = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        if (remaining(r) < 14) /* smallest entry: 8 + 1 key byte + 4 type + 1 value byte */
            return fail(r, "file truncated: %llu metadata entries announced, %llu read",
                        (unsigned long long)f->n_kv, (unsigned long long)i);
        if (i == cap) {
            uint64_t ncap = cap ? cap * 2 : 16;
            gguf_kv *nkv = realloc(f->kv, sizeof(gguf_kv) * (size_t)ncap);
            if (!nkv) return fail(r, "out of memory");
            f->kv = nkv;
            cap = ncap;
        }
        gguf_kv *kv = &f->kv[i];
        memset(kv, 0, sizeof *kv);
        f->n_kv_parsed = i + 1;
        if (read_name(r, GGUF_MAX_KEY_LEN, "metadata key", &kv->key)) return -1;
        if (read_value(r, kv)) return -1;
    }
    char **names = malloc(sizeof(char *) * (size_t)(f->n_kv ? f->n_kv : 1));
    if (!names) return fail(r, "out of memory");
    for (uint64_t i = 0; i < f->n_kv; i++) names[i] = f->kv[i].key;
    int rc = check_unique(r, names, f->n_kv, "metadata key");
    free(names);
    return rc;
}

/* Bytes of a tensor of n elements (ne0 along the rows) of a supported type, or -1. */
static int tensor_bytes(reader *r, gguf_tensor_info *t) {
    switch (t->type) {
    case GGUF_TENSOR_F32:
        if (t->n_elements > UINT64_MAX / 4) return fail(r, "tensor '%s' is too large", t->name);
        t->n_bytes = t->n_elements * 4;
        return 0;
    case GGUF_TENSOR_F16:
    case GGUF_TENSOR_BF16:
        if (t->n_elements > UINT64_MAX / 2) return fail(r, "tensor '%s' is too large", t->name);
        t->n_bytes = t->n_elements * 2;
        return 0;
    case GGUF_TENSOR_Q8_0:
        if (t->ne[0] % GGUF_Q8_0_BLOCK)
            return fail(r, "tensor '%s' is Q8_0 but its rows (%llu) are not a multiple of %d",
                        t->name, (unsigned long long)t->ne[0], GGUF_Q8_0_BLOCK);
        t->n_bytes = t->n_elements / GGUF_Q8_0_BLOCK * GGUF_Q8_0_BLOCK_BYTES;
        return 0;
    }
    return fail(r, "internal: unsupported tensor type");
}

static int parse_tensor_info(reader *r, gguf_tensor_info *t) {
    if (read_name(r, GGUF_MAX_TENSOR_NAME_LEN, "tensor name", &t->name)) return -1;
    uint32_t n_dims, type;
    if (read_u32(r, &n_dims, "tensor dimension count")) return -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        r->pos -= 4;
        return fail(r, "tensor '%s' has %u dimensions (must be 1..%d)", t->name, n_dims, GGUF_MAX_DIMS);
    }
    t->n_dims = (int)n_dims;
    t->n_elements = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (read_u64(r, &t->ne[d], "tensor dimension")) return -1;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX) {
            r->pos -= 8;
            return fail(r, "tensor '%s' dimension %u is %llu", t->name, d,
                        (unsigned long long)t->ne[d]);
        }
        if (t->n_elements > (uint64_t)INT64_MAX / t->ne[d])
            return fail(r, "tensor '%s' element count overflows", t->name);
        t->n_elements *= t->ne[d];
    }
    if (read_u32(r, &type, "tensor type")) return -1;
    if (type != GGUF_TENSOR_F32 && type != GGUF_TENSOR_F16 && type != GGUF_TENSOR_BF16 &&
        type != GGUF_TENSOR_Q8_0) {
        r->pos -= 4;
        return fail(r, "tensor '%s' has type %s (%u); supported: F32, F16, BF16, Q8_0", t->name,
                    gguf_tensor_type_name(type), type);
    }
    t->type = (gguf_tensor_type)type;
    if (read_u64(r, &t->offset, "tensor offset")) return -1;
    return tensor_bytes(r, t);
}

static int cmp_offsets(const void *a, const void *b) {
    const gguf_tensor_info *x = *(const gguf_tensor_info *const *)a;
    const gguf_tensor_info *y = *(const gguf_tensor_info *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Checks every tensor against the data section: alignment, bounds and no overlap. */
static int place_tensors(reader *r, gguf_file *f) {
    uint64_t data_size = r->size - f->data_offset;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor_info *t = &f->tensors[i];
        if (t->offset % f->alignment)
            return fail(r, "tensor '%s' offset %llu is not a multiple of the alignment %llu",
                        t->name, (unsigned long long)t->offset, (unsigned long long)f->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return fail(r, "tensor '%s' (%llu bytes at data offset %llu) extends past the end of "
                        "the file (data section has %llu bytes)", t->name,
                        (unsigned long long)t->n_bytes, (unsigned long long)t->offset,
                        (unsigned long long)data_size);
        t->data = r->data + f->data_offset + t->offset;
    }
    if (f->n_tensors < 2) return 0;
    gguf_tensor_info **order = malloc(sizeof *order * (size_t)f->n_tensors);
    if (!order) return fail(r, "out of memory");
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_offsets);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_tensors && !rc; i++)
        if (order[i - 1]->offset + order[i - 1]->n_bytes > order[i]->offset)
            rc = fail(r, "tensors '%s' and '%s' overlap", order[i - 1]->name, order[i]->name);
    free(order);
    return rc;
}

static int parse_tensors(reader *r, gguf_file *f) {
    uint64_t cap = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        if (remaining(r) < 33) /* 8 + 1 name byte + 4 + one 8-byte dim + 4 + 8 */
            return fail(r, "file truncated: %llu tensors announced, %llu read",
                        (unsigned long long)f->n_tensors, (unsigned long long)i);
        if (i == cap) {
            uint64_t ncap = cap ? cap * 2 : 16;
            gguf_tensor_info *nt = realloc(f->tensors, sizeof(gguf_tensor_info) * (size_t)ncap);
            if (!nt) return fail(r, "out of memory");
            f->tensors = nt;
            cap = ncap;
        }
        memset(&f->tensors[i], 0, sizeof f->tensors[i]);
        f->n_tensors_parsed = i + 1;
        if (parse_tensor_info(r, &f->tensors[i])) return -1;
    }
    char **names = malloc(sizeof(char *) * (size_t)(f->n_tensors ? f->n_tensors : 1));
    if (!names) return fail(r, "out of memory");
    for (uint64_t i = 0; i < f->n_tensors; i++) names[i] = f->tensors[i].name;
    int rc = check_unique(r, names, f->n_tensors, "tensor name");
    free(names);
    return rc;
}

static int read_alignment(reader *r, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return 0;
    if (kv->type != GGUF_TYPE_UINT32)
        return fail(r, "general.alignment has type %s (must be uint32)", gguf_value_type_name(kv->type));
    if (kv->u64 == 0 || (kv->u64 & (kv->u64 - 1)))
        return fail(r, "general.alignment %llu is not a power of two", (unsigned long long)kv->u64);
    f->alignment = kv->u64;
    return 0;
}

int gguf_parse(const uint8_t *data, size_t size, gguf_file *out, char *err, size_t err_size) {
    reader r = {data, size, 0, err, err_size};
    if (err && err_size) err[0] = 0;
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!data) return fail(&r, "no data");
    const uint8_t *magic = NULL;
    if (read_bytes(&r, 4, &magic, "magic")) return -1;
    if (memcmp(magic, "GGUF", 4)) {
        r.pos = 0;
        return fail(&r, "bad magic (not a GGUF file)");
    }
    if (read_u32(&r, &out->version, "version")) return -1;
    if (out->version != 2 && out->version != 3) {
        r.pos -= 4;
        if (out->version == 1) return fail(&r, "GGUF version 1 is not supported (only 2 and 3)");
        if ((out->version & 0xffff) == 0 && (out->version >> 24 == 2 || out->version >> 24 == 3))
            return fail(&r, "big-endian GGUF files are not supported");
        return fail(&r, "unsupported GGUF version %u (only 2 and 3)", out->version);
    }
    gguf_file *f = out;
    if (read_u64(&r, &f->n_tensors, "tensor count") || read_u64(&r, &f->n_kv, "metadata count"))
        goto error;
    if (parse_kvs(&r, f) || read_alignment(&r, f) || parse_tensors(&r, f)) goto error;
    /* The data section starts at the next multiple of the alignment after the header. */
    uint64_t pad = (f->alignment - r.pos % f->alignment) % f->alignment;
    if (pad > remaining(&r)) {
        if (f->n_tensors == 0) {
            f->data_offset = r.size;
            return 0;
        }
        fail(&r, "file truncated before the tensor data section");
        goto error;
    }
    f->data_offset = r.pos + pad;
    if (place_tensors(&r, f)) goto error;
    return 0;
error:
    gguf_free(out);
    return -1;
}

void gguf_free(gguf_file *f) {
    if (!f) return;
    for (uint64_t i = 0; i < f->n_kv_parsed; i++) {
        free(f->kv[i].key);
        free(f->kv[i].array_strings);
    }
    for (uint64_t i = 0; i < f->n_tensors_parsed; i++) free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    for (uint64_t i = 0; f && i < f->n_kv_parsed; i++)
        if (f->kv[i].key && !strcmp(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (uint64_t i = 0; f && i < f->n_tensors_parsed; i++)
        if (f->tensors[i].name && !strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static int is_integer_type(gguf_value_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_UINT16 ||
           t == GGUF_TYPE_INT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

static const gguf_kv *lookup(const gguf_file *f, const char *key, int required, int *rc, char *err,
                             size_t err_size) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    *rc = 0;
    if (!kv) {
        *rc = required ? -1 : 1;
        if (required) snprintf(err, err_size, "GGUF: missing metadata key '%s'", key);
    }
    return kv;
}

int gguf_get_int(const gguf_file *f, const char *key, int required, int64_t min_value,
                 int64_t max_value, int64_t *out, char *err, size_t err_size) {
    int rc;
    const gguf_kv *kv = lookup(f, key, required, &rc, err, err_size);
    if (!kv) return rc;
    if (!is_integer_type(kv->type)) {
        snprintf(err, err_size, "GGUF: '%s' has type %s (expected an integer)", key,
                 gguf_value_type_name(kv->type));
        return -1;
    }
    int too_big = !kv->is_negative && kv->u64 > (uint64_t)INT64_MAX;
    if (too_big || kv->i64 < min_value || kv->i64 > max_value) {
        snprintf(err, err_size, "GGUF: '%s' = %s%llu is outside [%lld, %lld]", key,
                 kv->is_negative ? "-" : "",
                 (unsigned long long)(kv->is_negative ? (uint64_t)0 - (uint64_t)kv->i64 : kv->u64),
                 (long long)min_value, (long long)max_value);
        return -1;
    }
    *out = kv->i64;
    return 0;
}

int gguf_get_float(const gguf_file *f, const char *key, int required, double *out, char *err,
                   size_t err_size) {
    int rc;
    const gguf_kv *kv = lookup(f, key, required, &rc, err, err_size);
    if (!kv) return rc;
    if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64 && !is_integer_type(kv->type)) {
        snprintf(err, err_size, "GGUF: '%s' has type %s (expected a number)", key,
                 gguf_value_type_name(kv->type));
        return -1;
    }
    if (!isfinite(kv->f64)) {
        snprintf(err, err_size, "GGUF: '%s' is not finite", key);
        return -1;
    }
    *out = kv->f64;
    return 0;
}

int gguf_get_string(const gguf_file *f, const char *key, int required, gguf_string *out, char *err,
                    size_t err_size) {
    int rc;
    const gguf_kv *kv = lookup(f, key, required, &rc, err, err_size);
    if (!kv) return rc;
    if (kv->type != GGUF_TYPE_STRING) {
        snprintf(err, err_size, "GGUF: '%s' has type %s (expected a string)", key,
                 gguf_value_type_name(kv->type));
        return -1;
    }
    *out = kv->str;
    return 0;
}
