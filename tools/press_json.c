/* Presses from JSON specifications (see press_json.h). */
#include "press_json.h"

#include <stdio.h>

kvp_press *press_from_json(const kvp_json *spec, char *err, size_t err_size) {
    const kvp_json *name = kvp__json_get(spec, "press");
    if (!name || name->kind != KVP_JSON_STRING) name = kvp__json_get(spec, "name");
    if (!name || name->kind != KVP_JSON_STRING) {
        snprintf(err, err_size, "press specification without a press name");
        return NULL;
    }
    kvp_press *p;
    if (kvp_press_create(name->string, &p) != KVP_OK) {
        snprintf(err, err_size, "%s", kvp_last_error());
        return NULL;
    }
    const kvp_json *params = kvp__json_get(spec, "params");
    for (int i = 0; params && params->kind == KVP_JSON_OBJECT && i < params->count; i++) {
        const char *key = params->keys[i];
        const kvp_json *v = params->items[i];
        kvp_status st;
        if (v->kind == KVP_JSON_OBJECT) {
            kvp_press *inner = press_from_json(v, err, err_size);
            if (!inner) {
                kvp_press_destroy(p);
                return NULL;
            }
            st = kvp_press_set_press(p, key, inner);
            if (st != KVP_OK) kvp_press_destroy(inner);
        } else if (v->kind == KVP_JSON_BOOL) {
            st = kvp_press_set_bool(p, key, (int)v->number);
        } else if (v->kind == KVP_JSON_NUMBER) {
            st = kvp_press_set_float(p, key, v->number);
        } else if (v->kind == KVP_JSON_STRING) {
            st = kvp_press_set_choice(p, key, v->string);
        } else {
            snprintf(err, err_size, "press %s: unsupported value for %s", name->string, key);
            kvp_press_destroy(p);
            return NULL;
        }
        if (st != KVP_OK) {
            snprintf(err, err_size, "%s", kvp_last_error());
            kvp_press_destroy(p);
            return NULL;
        }
    }
    return p;
}
