#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    size_t i;
    char *err;
    size_t err_size;
    int depth;
} parser;

static kvp_json *fail(parser *p, const char *what) {
    if (p->err && !p->err[0]) snprintf(p->err, p->err_size, "JSON: %s at offset %zu", what, p->i);
    return NULL;
}

static void ws(parser *p) {
    while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r') p->i++;
}

static kvp_json *node(kvp_json_kind kind) {
    kvp_json *v = calloc(1, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

static int append_utf8(char *out, size_t *n, unsigned cp) {
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xe0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
    return 0;
}

static char *parse_string(parser *p) {
    if (p->s[p->i] != '"') return NULL;
    p->i++;
    size_t start = p->i, n = 0;
    while (p->s[p->i] && p->s[p->i] != '"') {
        if (p->s[p->i] == '\\' && p->s[p->i + 1]) p->i++;
        p->i++;
    }
    if (p->s[p->i] != '"') return NULL;
    char *out = malloc(p->i - start + 1);
    if (!out) return NULL;
    for (size_t k = start; k < p->i; k++) {
        char c = p->s[k];
        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        c = p->s[++k];
        switch (c) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            unsigned cp = 0;
            for (int h = 0; h < 4 && p->s[k + 1]; h++) {
                char x = p->s[++k];
                cp = cp * 16 + (unsigned)(x >= 'a' ? x - 'a' + 10 : x >= 'A' ? x - 'A' + 10 : x - '0');
            }
            append_utf8(out, &n, cp);
            break;
        }
        default: out[n++] = c; break;
        }
    }
    out[n] = 0;
    p->i++;
    return out;
}

static kvp_json *parse_value(parser *p);

static int push(kvp_json *v, char *key, kvp_json *item) {
    kvp_json **items = realloc(v->items, sizeof *items * (size_t)(v->count + 1));
    if (!items) return -1;
    v->items = items;
    if (v->kind == KVP_JSON_OBJECT) {
        char **keys = realloc(v->keys, sizeof *keys * (size_t)(v->count + 1));
        if (!keys) return -1;
        v->keys = keys;
        v->keys[v->count] = key;
    }
    v->items[v->count++] = item;
    return 0;
}

static kvp_json *parse_container(parser *p, int object) {
    char close = object ? '}' : ']';
    kvp_json *v = node(object ? KVP_JSON_OBJECT : KVP_JSON_ARRAY);
    if (!v) return fail(p, "out of memory");
    p->i++;
    ws(p);
    if (p->s[p->i] == close) {
        p->i++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        if (object) {
            ws(p);
            key = parse_string(p);
            if (!key) {
                kvp__json_free(v);
                return fail(p, "expected a string key");
            }
            ws(p);
            if (p->s[p->i] != ':') {
                free(key);
                kvp__json_free(v);
                return fail(p, "expected ':'");
            }
            p->i++;
        }
        kvp_json *item = parse_value(p);
        if (!item || push(v, key, item)) {
            free(key);
            kvp__json_free(item);
            kvp__json_free(v);
            return fail(p, "bad value");
        }
        ws(p);
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == close) {
            p->i++;
            return v;
        }
        kvp__json_free(v);
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static kvp_json *parse_value(parser *p) {
    ws(p);
    if (++p->depth > 64) return fail(p, "nested too deeply");
    kvp_json *v = NULL;
    char c = p->s[p->i];
    if (c == '{' || c == '[') {
        v = parse_container(p, c == '{');
    } else if (c == '"') {
        char *s = parse_string(p);
        if (!s) return fail(p, "bad string");
        v = node(KVP_JSON_STRING);
        if (v) v->string = s;
        else free(s);
    } else if (strncmp(p->s + p->i, "true", 4) == 0 || strncmp(p->s + p->i, "false", 5) == 0) {
        int t = c == 't';
        p->i += t ? 4 : 5;
        v = node(KVP_JSON_BOOL);
        if (v) v->number = t;
    } else if (strncmp(p->s + p->i, "null", 4) == 0) {
        p->i += 4;
        v = node(KVP_JSON_NULL);
    } else if (strncmp(p->s + p->i, "NaN", 3) == 0) { /* Python's json module writes these */
        p->i += 3;
        v = node(KVP_JSON_NUMBER);
        if (v) v->number = 0.0 / 0.0;
    } else {
        char *end;
        double d = strtod(p->s + p->i, &end);
        if (end == p->s + p->i) return fail(p, "unexpected character");
        p->i = (size_t)(end - p->s);
        v = node(KVP_JSON_NUMBER);
        if (v) v->number = d;
    }
    p->depth--;
    return v;
}

kvp_json *kvp__json_parse(const char *text, char *err, size_t err_size) {
    if (err && err_size) err[0] = 0;
    parser p = {text, 0, err, err_size, 0};
    kvp_json *v = parse_value(&p);
    if (!v) return NULL;
    ws(&p);
    if (p.s[p.i]) {
        kvp__json_free(v);
        return fail(&p, "trailing characters");
    }
    return v;
}

kvp_json *kvp__json_parse_file(const char *path, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        snprintf(err, err_size, "%s: cannot read", path);
        return NULL;
    }
    fclose(f);
    text[size] = 0;
    kvp_json *v = kvp__json_parse(text, err, err_size);
    free(text);
    if (!v && err && err_size) {
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, err_size, "%s: %s", path, tmp);
    }
    return v;
}

void kvp__json_free(kvp_json *v) {
    if (!v) return;
    for (int i = 0; i < v->count; i++) {
        kvp__json_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

const kvp_json *kvp__json_get(const kvp_json *obj, const char *key) {
    if (!obj || obj->kind != KVP_JSON_OBJECT) return NULL;
    for (int i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}
