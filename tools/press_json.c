/* Presses from JSON specifications, and the artefacts they name (see press_json.h): numbers,
 * booleans, choices as strings, presses as objects, lists of presses or of numbers as arrays,
 * null for an optional press left unset. */
#include "press_json.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int param_type(const kvp_press *p, const char *key) {
    const kvp_press_info *info = kvp_press_get_info(p);
    for (int i = 0; i < info->n_params; i++)
        if (!strcmp(info->params[i].name, key)) return (int)info->params[i].type;
    return -1;
}

typedef struct stored_artefact {
    char *path; /* as resolved */
    kvp_artefact *artefact;
} stored_artefact;

struct press_artefacts {
    char *base_dir;
    pthread_mutex_t lock;
    stored_artefact *items;
    int count;
};

press_artefacts *press_artefacts_create(const char *base_dir) {
    press_artefacts *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (base_dir && *base_dir) {
        size_t n = strlen(base_dir) + 1;
        if (!(s->base_dir = malloc(n))) {
            free(s);
            return NULL;
        }
        memcpy(s->base_dir, base_dir, n);
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void press_artefacts_free(press_artefacts *s) {
    if (!s) return;
    for (int i = 0; i < s->count; i++) {
        free(s->items[i].path);
        kvp_artefact_destroy(s->items[i].artefact);
    }
    free(s->items);
    free(s->base_dir);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

kvp_artefact *press_artefacts_get(press_artefacts *s, const char *path, char *err,
                                  size_t err_size) {
    size_t n = (path[0] != '/' && s->base_dir ? strlen(s->base_dir) + 1 : 0) + strlen(path) + 1;
    char *full = malloc(n);
    if (!full) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (path[0] != '/' && s->base_dir)
        snprintf(full, n, "%s/%s", s->base_dir, path);
    else
        snprintf(full, n, "%s", path);
    kvp_artefact *a = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->count && !a; i++)
        if (!strcmp(s->items[i].path, full)) a = s->items[i].artefact;
    if (!a) {
        stored_artefact *grown = realloc(s->items, sizeof *grown * (size_t)(s->count + 1));
        if (!grown) {
            snprintf(err, err_size, "out of memory");
        } else {
            s->items = grown;
            if (kvp_artefact_load(full, &a) != KVP_OK) {
                snprintf(err, err_size, "%s", kvp_last_error());
            } else {
                s->items[s->count++] = (stored_artefact){full, a};
                full = NULL; /* owned by the store now */
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(full);
    return a;
}

int press_artefacts_warn_model(press_artefacts *s, uint64_t fingerprint, FILE *out) {
    char mine[32];
    snprintf(mine, sizeof mine, "%016" PRIx64, fingerprint);
    int warned = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->count; i++) {
        const char *theirs = kvp_artefact_metadata(s->items[i].artefact, "model_fingerprint");
        if (!theirs || !strcmp(theirs, mine)) continue;
        const char *model = kvp_artefact_metadata(s->items[i].artefact, "model");
        fprintf(out, "kvpress-tool: warning: %s was calibrated on other weights (%s, fingerprint "
                "%s; this model's is %s)\n", s->items[i].path, model ? model : "unnamed", theirs,
                mine);
        warned++;
    }
    pthread_mutex_unlock(&s->lock);
    return warned;
}

kvp_press *press_from_json(const kvp_json *spec, press_artefacts *artefacts, char *err,
                           size_t err_size) {
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
            kvp_press *inner = press_from_json(v, artefacts, err, err_size);
            if (!inner) {
                kvp_press_destroy(p);
                return NULL;
            }
            st = kvp_press_set_press(p, key, inner);
            if (st != KVP_OK) kvp_press_destroy(inner);
        } else if (v->kind == KVP_JSON_ARRAY && param_type(p, key) == KVP_PARAM_PRESS_LIST) {
            st = KVP_OK; /* a list of presses, appended in order */
            for (int k = 0; st == KVP_OK && k < v->count; k++) {
                kvp_press *member = press_from_json(v->items[k], artefacts, err, err_size);
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
    const kvp_json *path = kvp__json_get(spec, "artefact");
    if (path) {
        kvp_artefact *a = NULL;
        if (path->kind != KVP_JSON_STRING)
            snprintf(err, err_size, "press %s: \"artefact\" must be a file name", name->string);
        else if (!artefacts)
            snprintf(err, err_size, "press %s: artefacts cannot be given here", name->string);
        else if ((a = press_artefacts_get(artefacts, path->string, err, err_size)) &&
                 kvp_press_set_artefact(p, a) != KVP_OK) {
            snprintf(err, err_size, "press %s: %s", name->string, kvp_last_error());
            a = NULL;
        }
        if (!a) {
            kvp_press_destroy(p);
            return NULL;
        }
    }
    return p;
}
