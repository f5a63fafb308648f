/* A small JSON parser (RFC 8259 values; \u escapes limited to the BMP) for the tool's
 * configuration and reference files. */
#ifndef KVP_TOOL_JSON_H
#define KVP_TOOL_JSON_H

#include <stddef.h>

typedef enum json_kind { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_kind;

typedef struct json_value json_value;
struct json_value {
    json_kind kind;
    double number;     /* JSON_NUMBER, JSON_BOOL (0/1) */
    char *string;      /* JSON_STRING */
    int count;         /* JSON_ARRAY, JSON_OBJECT */
    char **keys;       /* JSON_OBJECT */
    json_value **items;
};

/* Parses text; NULL on error (message in err). */
json_value *json_parse(const char *text, char *err, size_t err_size);
json_value *json_parse_file(const char *path, char *err, size_t err_size);
void json_free(json_value *v);
/* Member of an object, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);

#endif
