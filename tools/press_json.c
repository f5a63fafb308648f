/* Presses from JSON specifications (see press_json.h): numbers, booleans, presses as objects,
 * lists of presses or of numbers as arrays, null for an optional press left unset. */
#include "press_json.h"

#include <stdio.h>
#include <string.h>

static int param_type(const kvp_press *p, const char *key) {
    const kvp_press_info *info = kvp_press_get_info(p);
    for (int i = 0; i < info->n_params; i++)
        if (!strcmp(info->params[i].name, key)) return (int)info->params[i].type;
    return -1;
}

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
        } else if (v->kind == KVP_JSON_ARRAY && param_type(p, key) == KVP_PARAM_PRESS_LIST) {
            st = KVP_OK; /* a list of presses, appended in order */
            for (int k = 0; st == KVP_OK && k < v->count; k++) {
                kvp_press *member = press_from_json(v->items[k], err, err_size);
                if (!member) {
                    kvp_press_destroy(p);
                    return NULL;
                }
                st = kvp_press_add_press(p, key, member);
                if (st != KVP_OK) kvp_press_destroy(member);
            }
        } else if (v->kind == KVP_JSON_ARRAY) {
            double values[256];
            st = KVP_OK;
            if (v->count > 256) {
                snprintf(err, err_size, "press %s: %s has more than 256 numbers", name->string, key);
                kvp_press_destroy(p);
                return NULL;
            }
            for (int k = 0; k < v->count; k++) {
                if (v->items[k]->kind != KVP_JSON_NUMBER) {
                    snprintf(err, err_size, "press %s: %s must hold presses or numbers", name->string, key);
                    kvp_press_destroy(p);
                    return NULL;
                }
                values[k] = v->items[k]->number;
            }
            st = kvp_press_set_floats(p, key, values, v->count);
        } else if (v->kind == KVP_JSON_NULL) {
            st = KVP_OK; /* an optional press left unset */
        } else if (v->kind == KVP_JSON_BOOL) {
            st = kvp_press_set_bool(p, key, (int)v->number);
        } else if (v->kind == KVP_JSON_NUMBER) {
            st = kvp_press_set_float(p, key, v->number);
        } else if (v->kind == KVP_JSON_STRING) {
            st = kvp_press_set_choice(p, key, v->string); /* "leverage_type": "kv_avg" */
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
