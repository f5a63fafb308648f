/* A small JSON parser (RFC 8259 values; \u escapes limited to the BMP), internal to the
 * library (safetensors headers of artefacts) and shared with kvpress-tool (press.json, suite
 * and reference files). Never reads past the text's terminating NUL; nesting is bounded. */
#ifndef KVP_JSON_H
#define KVP_JSON_H

#include <stddef.h>

typedef enum kvp_json_kind { KVP_JSON_NULL, KVP_JSON_BOOL, KVP_JSON_NUMBER, KVP_JSON_STRING, KVP_JSON_ARRAY, KVP_JSON_OBJECT } kvp_json_kind;

typedef struct kvp_json kvp_json;
struct kvp_json {
    kvp_json_kind kind;
    double number;     /* KVP_JSON_NUMBER, KVP_JSON_BOOL (0/1) */
    char *string;      /* KVP_JSON_STRING */
    int count;         /* KVP_JSON_ARRAY, KVP_JSON_OBJECT */
    char **keys;       /* KVP_JSON_OBJECT */
    kvp_json **items;
};

/* Parses text; NULL on error (message in err). */
kvp_json *kvp__json_parse(const char *text, char *err, size_t err_size);
kvp_json *kvp__json_parse_file(const char *path, char *err, size_t err_size);
void kvp__json_free(kvp_json *v);
/* Member of an object, or NULL. */
const kvp_json *kvp__json_get(const kvp_json *obj, const char *key);

#endif
