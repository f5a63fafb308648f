/* The press framework: creation by name, typed parameters, the specification parser, input
 * checks and the public entry points (kvp_compress, kvp_press_score, kvp_decode_step). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

extern const kvp_press_vtable *const kvp__press_registry[];
extern const int kvp__press_registry_count;

int kvp_press_list_count(void) { return kvp__press_registry_count; }

const kvp_press_info *kvp_press_list_get(int index) {
    if (index < 0 || index >= kvp__press_registry_count) return NULL;
    return &kvp__press_registry[index]->info;
}

const char *kvp_param_choices(const kvp_press_info *info, int param) {
    if (!info || param < 0 || param >= info->n_params) return NULL;
    if (info->params[param].type != KVP_PARAM_CHOICE) return NULL;
    /* Every kvp_press_info is the first member of its press's vtable. */
    for (int k = 0; k < kvp__press_registry_count; k++)
        if (&kvp__press_registry[k]->info == info) return kvp__press_registry[k]->choices[param];
    return NULL;
}

int64_t kvp_n_keep(int64_t n, double ratio) {
    /* int(n * (1 - r)) in double, in this order (PRESSES.md 5.2). */
    double keep = (double)n * (1.0 - ratio);
    if (!(keep > 0)) return 0;
    return (int64_t)keep;
}

/* ---- parameters ------------------------------------------------------------------------------ */

static int param_index(const kvp_press *p, const char *name) {
    for (int i = 0; i < p->vt->info.n_params; i++)
        if (strcmp(p->vt->info.params[i].name, name) == 0) return i;
    return -1;
}

double kvp__press_param(const kvp_press *p, const char *name) {
    int i = param_index(p, name);
    return i < 0 ? NAN : p->value[i];
}

double kvp__press_layer_ratio(const kvp_press *p, int layer) {
    if (p->vt->ratio) return p->vt->ratio(p, layer);
    int i = param_index(p, "compression_ratio");
    if (i < 0) return 0.0;
    if (p->value[i] < 0 && p->inner) return kvp__press_layer_ratio(p->inner, layer);
    return p->value[i] < 0 ? 0.0 : p->value[i];
}

double kvp__press_ratio(const kvp_press *p) { return kvp__press_layer_ratio(p, -1); }

static int holds_presses(kvp_param_type t) {
    return t == KVP_PARAM_PRESS || t == KVP_PARAM_PRESS_LIST;
}

int kvp__press_child_count(const kvp_press *p) {
    int n = 0;
    for (int i = 0; i < p->vt->info.n_params; i++)
        if (holds_presses(p->vt->info.params[i].type)) n += p->list[i].count;
    return n;
}

kvp_press *kvp__press_child(const kvp_press *p, int k) {
    for (int i = 0; i < p->vt->info.n_params; i++) {
        if (!holds_presses(p->vt->info.params[i].type)) continue;
        if (k < p->list[i].count) return p->list[i].presses[k];
        k -= p->list[i].count;
    }
    return NULL;
}

kvp_press *kvp__press_param_press(const kvp_press *p, const char *name) {
    int i = param_index(p, name);
    return i >= 0 && p->list[i].count > 0 ? p->list[i].presses[0] : NULL;
}

const kvp_param_list *kvp__press_list(const kvp_press *p, const char *name) {
    int i = param_index(p, name);
    return i >= 0 ? &p->list[i] : NULL;
}

kvp_status kvp_press_create(const char *name, kvp_press **press) {
    if (!press) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_create: press is NULL");
    *press = NULL;
    if (!name) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_create: name is NULL");
    for (int k = 0; k < kvp__press_registry_count; k++) {
        const kvp_press_vtable *vt = kvp__press_registry[k];
        if (strcmp(vt->info.name, name) != 0) continue;
        kvp_press *p = calloc(1, sizeof *p);
        if (!p) return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "kvp_press_create: out of memory");
        p->vt = vt;
        for (int i = 0; i < vt->info.n_params; i++) p->value[i] = vt->info.params[i].default_value;
        if (vt->init) {
            kvp_status st = vt->init(p);
            if (st != KVP_OK) {
                kvp_press_destroy(p);
                return st;
            }
        }
        *press = p;
        return KVP_OK;
    }
    char names[1024] = "";
    for (int k = 0; k < kvp__press_registry_count; k++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "",
                 kvp__press_registry[k]->info.name);
    }
    return kvp__error_tls(KVP_ERR_NOT_FOUND, "unknown press '%s' (known: %s)", name, names);
}

void kvp_press_destroy(kvp_press *p) {
    if (!p) return;
    for (int i = 0; i < p->vt->info.n_params; i++) {
        for (int k = 0; p->list[i].presses && k < p->list[i].count; k++)
            kvp_press_destroy(p->list[i].presses[k]);
        free(p->list[i].presses);
        free(p->list[i].values);
    }
    if (p->free_state) p->free_state(p->state);
    free(p);
}

const kvp_press_info *kvp_press_get_info(const kvp_press *p) { return p ? &p->vt->info : NULL; }

void kvp_press_reset(kvp_press *p) {
    if (!p) return;
    if (p->vt->reset) p->vt->reset(p);
    for (int k = 0; k < kvp__press_child_count(p); k++) kvp_press_reset(kvp__press_child(p, k));
}

static kvp_status find_param(const kvp_press *p, const char *name, const kvp_param_info **out,
                             int *index) {
    if (!p) return kvp__error_tls(KVP_ERR_INVALID_ARG, "press is NULL");
    if (!name) return kvp__error_tls(KVP_ERR_INVALID_ARG, "parameter name is NULL");
    int i = param_index(p, name);
    if (i < 0) {
        char names[512] = "";
        for (int k = 0; k < p->vt->info.n_params; k++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "",
                     p->vt->info.params[k].name);
        }
        return kvp__error_tls(KVP_ERR_NOT_FOUND, "press %s has no parameter '%s' (it has: %s)",
                              p->vt->info.name, name, names);
    }
    *out = &p->vt->info.params[i];
    *index = i;
    return KVP_OK;
}

static const char *type_hint(kvp_param_type t) {
    switch (t) {
    case KVP_PARAM_PRESS: return "takes a press (kvp_press_set_press)";
    case KVP_PARAM_PRESS_LIST: return "is a list of presses (kvp_press_add_press)";
    case KVP_PARAM_FLOAT_LIST: return "is a list of numbers (kvp_press_set_floats)";
    default: return "is a number";
    }
}

/* A number for parameter pi (its range; -1 = inherit where that is the default). */
static kvp_status check_number(const kvp_press *p, const kvp_param_info *pi, double v) {
    const char *pn = p->vt->info.name, *name = pi->name;
    if (isnan(v) && isnan(pi->default_value)) return KVP_OK; /* NaN default: "not set" */
    if (isnan(v)) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: value is NaN", pn, name);
    int inherit = v == -1 && pi->default_value == -1 && pi->type != KVP_PARAM_FLOAT_LIST;
    if (!inherit && (v < pi->min_value || (pi->max_exclusive ? v >= pi->max_value : v > pi->max_value)))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s = %g is outside [%g, %g%c", pn, name, v,
                              pi->min_value, pi->max_value, pi->max_exclusive ? ')' : ']');
    return KVP_OK;
}

static kvp_status set_value(kvp_press *p, const char *name, double v, kvp_param_type given) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    const char *pn = p->vt->info.name;
    if (pi->type == KVP_PARAM_PRESS || pi->type == KVP_PARAM_PRESS_LIST ||
        pi->type == KVP_PARAM_FLOAT_LIST)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s %s", pn, name, type_hint(pi->type));
    if (isnan(v) && !isnan(pi->default_value))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: value is NaN", pn, name);
    if ((pi->type == KVP_PARAM_BOOL) != (given == KVP_PARAM_BOOL))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is %s", pn, name,
                              pi->type == KVP_PARAM_BOOL ? "a boolean" : "not a boolean");
    if (pi->type == KVP_PARAM_BOOL && v != 0 && v != 1)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is a boolean (0 or 1), got %g", pn, name,
                              v);
    if ((pi->type == KVP_PARAM_INT || pi->type == KVP_PARAM_CHOICE) && v != floor(v))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is an integer, got %g", pn, name, v);
    /* A default of -1 means "inherit" (wrappers: the inner press's ratio); -1 may be set back. */
    KVP_TRY(check_number(p, pi, v));
    p->value[i] = v;
    return KVP_OK;
}

kvp_status kvp_press_set_int(kvp_press *p, const char *name, int64_t value) {
    return set_value(p, name, (double)value, KVP_PARAM_INT);
}
kvp_status kvp_press_set_float(kvp_press *p, const char *name, double value) {
    return set_value(p, name, value, KVP_PARAM_FLOAT);
}
kvp_status kvp_press_set_bool(kvp_press *p, const char *name, int value) {
    return set_value(p, name, value ? 1.0 : 0.0, KVP_PARAM_BOOL);
}

/* The '|'-separated names of a choice parameter: the index-th into out ("" past the end). */
static int choice_name(const char *choices, int index, char *out, size_t size) {
    const char *c = choices ? choices : "";
    for (int i = 0; i < index && c; i++) {
        c = strchr(c, '|');
        if (c) c++;
    }
    size_t len = c ? strcspn(c, "|") : 0;
    if (!c || len == 0 || len >= size) {
        if (size) out[0] = 0;
        return 0;
    }
    memcpy(out, c, len);
    out[len] = 0;
    return 1;
}

kvp_status kvp_press_set_choice(kvp_press *p, const char *name, const char *choice) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    if (pi->type != KVP_PARAM_CHOICE)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is not a choice parameter",
                              p->vt->info.name, name);
    if (!choice)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: choice is NULL", p->vt->info.name, name);
    char buf[64];
    const char *choices = p->vt->choices[i];
    for (int k = 0; choice_name(choices, k, buf, sizeof buf); k++)
        if (strcmp(buf, choice) == 0) {
            p->value[i] = k;
            return KVP_OK;
        }
    return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: '%s' is not one of %s", p->vt->info.name,
                          name, choice, choices ? choices : "(none)");
}

/* The default rule for presses given to wrappers: a scorer (or a wrapper around one), not a
 * decoding press; head-wise presses only inside decoding presses. */
static kvp_status accept_default(const kvp_press *p, const kvp_param_info *pi,
                                 const kvp_press *inner) {
    const kvp_press *probe = inner;
    while (probe && !probe->vt->score) probe = probe->inner;
    if (!probe || inner->vt->info.kind == KVP_PRESS_DECODING)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %s is not a scorer press",
                              p->vt->info.name, pi->name, inner->vt->info.name);
    if (inner->vt->info.kind == KVP_PRESS_HEADWISE && p->vt->info.kind != KVP_PRESS_DECODING)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %s (head-wise) cannot be wrapped by %s",
                              p->vt->info.name, pi->name, inner->vt->info.name, p->vt->info.name);
    return KVP_OK;
}

/* Checks a press given to parameter `name` (of the type `want`); *index receives the slot. */
static kvp_status accept_child(kvp_press *p, const char *name, kvp_press *child,
                               kvp_param_type want, int *index) {
    const kvp_param_info *pi = NULL;
    KVP_TRY(find_param(p, name, &pi, index));
    const char *pn = p->vt->info.name;
    if (pi->type != want)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s %s", pn, name, type_hint(pi->type));
    if (!child) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: press is NULL", pn, name);
    if (child == p)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: a press cannot hold itself", pn, name);
    for (int k = 0; k < p->list[*index].count; k++)
        if (p->list[*index].presses[k] == child)
            return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: the press is already there", pn, name);
    return p->vt->accept ? p->vt->accept(p, pi, child) : accept_default(p, pi, child);
}

kvp_status kvp_press_set_press(kvp_press *p, const char *name, kvp_press *inner) {
    int i = 0;
    KVP_TRY(accept_child(p, name, inner, KVP_PARAM_PRESS, &i));
    kvp_param_list *l = &p->list[i];
    if (!l->presses) {
        l->presses = malloc(sizeof *l->presses);
        if (!l->presses)
            return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "kvp_press_set_press: out of memory");
    }
    if (l->count) kvp_press_destroy(l->presses[0]);
    l->presses[0] = inner;
    l->count = 1;
    if (strcmp(name, "press") == 0) p->inner = inner;
    return KVP_OK;
}

kvp_status kvp_press_add_press(kvp_press *p, const char *name, kvp_press *member) {
    int i = 0;
    KVP_TRY(accept_child(p, name, member, KVP_PARAM_PRESS_LIST, &i));
    kvp_param_list *l = &p->list[i];
    if (l->count >= 1024)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: more than 1024 presses",
                              p->vt->info.name, name);
    kvp_press **grown = realloc(l->presses, sizeof *grown * (size_t)(l->count + 1));
    if (!grown) return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "kvp_press_add_press: out of memory");
    l->presses = grown;
    l->presses[l->count++] = member;
    return KVP_OK;
}

kvp_status kvp_press_set_floats(kvp_press *p, const char *name, const double *values, int count) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    const char *pn = p->vt->info.name;
    if (pi->type != KVP_PARAM_FLOAT_LIST)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s %s", pn, name, type_hint(pi->type));
    if (count < 0 || count > 65536 || (count > 0 && !values))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %d values (0 .. 65536, values not NULL)",
                              pn, name, count);
    for (int k = 0; k < count; k++) KVP_TRY(check_number(p, pi, values[k]));
    double *copy = malloc(sizeof *copy * (size_t)(count ? count : 1));
    if (!copy) return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "kvp_press_set_floats: out of memory");
    for (int k = 0; k < count; k++) copy[k] = values[k];
    free(p->list[i].values);
    p->list[i].values = copy;
    p->list[i].count = count;
    return KVP_OK;
}

kvp_status kvp_press_get_floats(const kvp_press *p, const char *name, double *values, int capacity,
                                int *count) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    if (pi->type != KVP_PARAM_FLOAT_LIST)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s %s", p->vt->info.name, name,
                              type_hint(pi->type));
    if (!count) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_get_floats: count is NULL");
    *count = p->list[i].count;
    for (int k = 0; values && k < capacity && k < p->list[i].count; k++) values[k] = p->list[i].values[k];
    return KVP_OK;
}

/* The first press of the tree (p, then its presses in parameter order) that takes an
 * artefact. */
static kvp_press *artefact_taker(kvp_press *p) {
    if ((p->vt->info.needs & KVP_NEED_ARTEFACT) && p->vt->check_artefact) return p;
    for (int k = 0; k < kvp__press_child_count(p); k++) {
        kvp_press *q = artefact_taker(kvp__press_child(p, k));
        if (q) return q;
    }
    return NULL;
}

kvp_status kvp_press_set_artefact(kvp_press *p, kvp_artefact *a) {
    if (!p || !a) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_set_artefact: NULL argument");
    /* A wrapper passes it on to the first press it holds that takes one. */
    kvp_press *q = artefact_taker(p);
    if (!q)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press %s%s does not take an artefact",
                              p->vt->info.name,
                              kvp__press_child_count(p) ? " (nor the presses it holds)" : "");
    KVP_TRY(q->vt->check_artefact(q, a));
    q->artefact = a;
    return KVP_OK;
}

kvp_status kvp_press_get(const kvp_press *p, const char *name, double *value) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    if (!value) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_get: value is NULL");
    if (pi->type != KVP_PARAM_INT && pi->type != KVP_PARAM_FLOAT && pi->type != KVP_PARAM_BOOL &&
        pi->type != KVP_PARAM_CHOICE)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s %s", p->vt->info.name, name,
                              type_hint(pi->type));
    *value = p->value[i];
    return KVP_OK;
}

/* The shortest form of v that reads back to the same double. */
static void format_number(double v, char *num, size_t size) {
    snprintf(num, size, "%.15g", v);
    if (strtod(num, NULL) != v) snprintf(num, size, "%.17g", v);
}

static void describe(const kvp_press *p, char *buf, size_t size, size_t *len) {
#define PUT(...)                                                                             \
    do {                                                                                     \
        if (*len < size) *len += (size_t)snprintf(buf + *len, size - *len, __VA_ARGS__);     \
    } while (0)
    PUT("%s(", p->vt->info.name);
    for (int i = 0; i < p->vt->info.n_params; i++) {
        const kvp_param_info *pi = &p->vt->info.params[i];
        const kvp_param_list *l = &p->list[i];
        char num[32];
        PUT("%s%s=", i ? ", " : "", pi->name);
        switch (pi->type) {
        case KVP_PARAM_PRESS:
            if (l->count)
                describe(l->presses[0], buf, size, len);
            else
                PUT("none");
            break;
        case KVP_PARAM_PRESS_LIST:
        case KVP_PARAM_FLOAT_LIST:
            PUT("[");
            for (int k = 0; k < l->count; k++) {
                if (k) PUT(", ");
                if (pi->type == KVP_PARAM_PRESS_LIST) {
                    describe(l->presses[k], buf, size, len);
                } else {
                    format_number(l->values[k], num, sizeof num);
                    PUT("%s", num);
                }
            }
            PUT("]");
            break;
        case KVP_PARAM_BOOL: PUT("%s", p->value[i] ? "true" : "false"); break;
        case KVP_PARAM_INT: PUT("%lld", (long long)p->value[i]); break;
        case KVP_PARAM_CHOICE:
            choice_name(p->vt->choices[i], (int)p->value[i], num, sizeof num);
            PUT("%s", num);
            break;
        default:
            format_number(p->value[i], num, sizeof num);
            PUT("%s", num);
            break;
        }
    }
    PUT(")");
#undef PUT
}

kvp_status kvp_press_describe(const kvp_press *p, char *buf, size_t size) {
    if (!p || !buf || !size) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_describe: NULL argument");
    size_t len = 0;
    buf[0] = 0;
    describe(p, buf, size, &len);
    return KVP_OK;
}

/* ---- the specification parser -------------------------------------------------------------- */

typedef struct spec_parser {
    const char *s;
    size_t i;
} spec_parser;

static void skip_ws(spec_parser *ps) {
    while (isspace((unsigned char)ps->s[ps->i])) ps->i++;
}

static int read_ident(spec_parser *ps, char *out, size_t size) {
    skip_ws(ps);
    size_t n = 0;
    while (isalnum((unsigned char)ps->s[ps->i]) || ps->s[ps->i] == '_') {
        if (n + 1 < size) out[n++] = ps->s[ps->i];
        ps->i++;
    }
    out[n] = 0;
    return n > 0;
}

static kvp_status parse_press(spec_parser *ps, kvp_press **out, int depth);

static int read_word(spec_parser *ps, const char *word) {
    size_t n = strlen(word);
    if (strncmp(ps->s + ps->i, word, n) != 0) return 0;
    char next = ps->s[ps->i + n];
    if (isalnum((unsigned char)next) || next == '_') return 0;
    ps->i += n;
    return 1;
}

/* "[a, b, ...]" of presses (appended to parameter `key`) or numbers. */
static kvp_status parse_list(spec_parser *ps, kvp_press *p, const kvp_param_info *pi, int depth) {
    const char *key = pi->name;
    if (ps->s[ps->i] != '[')
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: %s is a list: expected '[' at '%s'",
                              key, ps->s + ps->i);
    ps->i++;
    double numbers[256];
    int count = 0;
    skip_ws(ps);
    if (ps->s[ps->i] == ']') {
        ps->i++;
    } else {
        for (;;) {
            skip_ws(ps);
            if (pi->type == KVP_PARAM_PRESS_LIST) {
                kvp_press *member;
                KVP_TRY(parse_press(ps, &member, depth + 1));
                kvp_status st = kvp_press_add_press(p, key, member);
                if (st != KVP_OK) {
                    kvp_press_destroy(member);
                    return st;
                }
            } else {
                const char *start = ps->s + ps->i;
                char *end;
                double v = strtod(start, &end);
                if (end == start)
                    return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: bad number in %s at '%s'",
                                          key, start);
                if (count == (int)(sizeof numbers / sizeof numbers[0]))
                    return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                          "press spec: %s has more than 256 numbers", key);
                numbers[count++] = v;
                ps->i += (size_t)(end - start);
            }
            skip_ws(ps);
            if (ps->s[ps->i] == ',') {
                ps->i++;
                continue;
            }
            if (ps->s[ps->i] == ']') {
                ps->i++;
                break;
            }
            return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: expected ',' or ']' in %s at '%s'",
                                  key, ps->s + ps->i);
        }
    }
    if (pi->type == KVP_PARAM_FLOAT_LIST) return kvp_press_set_floats(p, key, numbers, count);
    return KVP_OK;
}

static kvp_status parse_arg(spec_parser *ps, kvp_press *p, int depth) {
    char key[64];
    if (!read_ident(ps, key, sizeof key))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: expected a parameter name at '%s'",
                              ps->s + ps->i);
    skip_ws(ps);
    if (ps->s[ps->i] != '=')
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: expected '=' after '%s'", key);
    ps->i++;
    const kvp_param_info *pi = NULL;
    int idx = 0;
    KVP_TRY(find_param(p, key, &pi, &idx));
    skip_ws(ps);
    if (pi->type == KVP_PARAM_PRESS_LIST || pi->type == KVP_PARAM_FLOAT_LIST)
        return parse_list(ps, p, pi, depth);
    if (pi->type == KVP_PARAM_PRESS && (read_word(ps, "none") || read_word(ps, "None"))) {
        if (pi->default_value != 1)
            return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: %s.%s needs a press",
                                  p->vt->info.name, key);
        return KVP_OK;
    }
    if (pi->type == KVP_PARAM_PRESS) {
        kvp_press *inner;
        KVP_TRY(parse_press(ps, &inner, depth + 1));
        kvp_status st = kvp_press_set_press(p, key, inner);
        if (st != KVP_OK) kvp_press_destroy(inner);
        return st;
    }
    const char *start = ps->s + ps->i;
    if (pi->type == KVP_PARAM_CHOICE && (isalpha((unsigned char)*start) || *start == '_' ||
                                         *start == '\'' || *start == '"')) {
        /* a choice by name: bare, 'quoted' or "quoted" */
        char quote = (*start == '\'' || *start == '"') ? *start : 0;
        char value[64];
        size_t n = 0;
        if (quote) ps->i++;
        while (ps->s[ps->i] && (quote ? ps->s[ps->i] != quote
                                      : (isalnum((unsigned char)ps->s[ps->i]) || ps->s[ps->i] == '_'))) {
            if (n + 1 < sizeof value) value[n++] = ps->s[ps->i];
            ps->i++;
        }
        value[n] = 0;
        if (quote) {
            if (ps->s[ps->i] != quote)
                return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: unterminated string for %s",
                                      key);
            ps->i++;
        }
        return kvp_press_set_choice(p, key, value);
    }
    if (strncmp(start, "true", 4) == 0 || strncmp(start, "True", 4) == 0) {
        ps->i += 4;
        return kvp_press_set_bool(p, key, 1);
    }
    if (strncmp(start, "false", 5) == 0 || strncmp(start, "False", 5) == 0) {
        ps->i += 5;
        return kvp_press_set_bool(p, key, 0);
    }
    char *end;
    double v = strtod(start, &end);
    if (end == start)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: bad value for %s at '%s'", key, start);
    ps->i += (size_t)(end - start);
    /* numbers are accepted for booleans too (0 or 1), as Python would */
    return set_value(p, key, v, pi->type);
}

/* A required press-valued parameter of p that is unset (or a list that is too short). */
static const kvp_param_info *unset_param(const kvp_press *p) {
    for (int i = 0; i < p->vt->info.n_params; i++) {
        const kvp_param_info *pi = &p->vt->info.params[i];
        if ((pi->type == KVP_PARAM_PRESS && pi->default_value != 1 && p->list[i].count == 0) ||
            (pi->type == KVP_PARAM_PRESS_LIST && p->list[i].count < pi->min_value))
            return pi;
    }
    return NULL;
}

static kvp_status parse_press(spec_parser *ps, kvp_press **out, int depth) {
    *out = NULL;
    if (depth > 8) return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: nested too deeply");
    char name[64];
    if (!read_ident(ps, name, sizeof name))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: expected a press name at '%s'",
                              ps->s + ps->i);
    kvp_press *p;
    KVP_TRY(kvp_press_create(name, &p));
    skip_ws(ps);
    kvp_status st = KVP_OK;
    if (ps->s[ps->i] == '(') {
        ps->i++;
        skip_ws(ps);
        if (ps->s[ps->i] == ')') {
            ps->i++;
        } else {
            for (;;) {
                st = parse_arg(ps, p, depth);
                if (st != KVP_OK) break;
                skip_ws(ps);
                if (ps->s[ps->i] == ',') {
                    ps->i++;
                    continue;
                }
                if (ps->s[ps->i] == ')') {
                    ps->i++;
                    break;
                }
                st = kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: expected ',' or ')' at '%s'",
                                    ps->s + ps->i);
                break;
            }
        }
    }
    const kvp_param_info *missing = st == KVP_OK ? unset_param(p) : NULL;
    if (missing)
        st = kvp__error_tls(KVP_ERR_MISSING_INPUT, "press spec: %s needs %s=%s", name, missing->name,
                            missing->type == KVP_PARAM_PRESS ? "<press>" : "[<press>, ...]");
    if (st != KVP_OK) {
        kvp_press_destroy(p);
        return st;
    }
    *out = p;
    return KVP_OK;
}

kvp_status kvp_press_parse(const char *spec, kvp_press **press) {
    if (!press) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_parse: press is NULL");
    *press = NULL;
    if (!spec) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_parse: spec is NULL");
    spec_parser ps = {spec, 0};
    kvp_press *p;
    KVP_TRY(parse_press(&ps, &p, 0));
    skip_ws(&ps);
    if (spec[ps.i]) {
        kvp_press_destroy(p);
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press spec: unexpected '%s'", spec + ps.i);
    }
    *press = p;
    return KVP_OK;
}

/* ---- running a press ------------------------------------------------------------------------ */

static unsigned press_needs(const kvp_press *p) {
    unsigned needs = p->vt->info.needs;
    if (!p->vt->delegates)
        for (int k = 0; k < kvp__press_child_count(p); k++) needs |= press_needs(kvp__press_child(p, k));
    return needs;
}

/* The first press of the tree (p, and its presses unless p delegates) that lacks its
 * artefact. */
static const kvp_press *missing_artefact(const kvp_press *p) {
    /* (presses that can calibrate instead check their artefact themselves) */
    if ((p->vt->info.needs & KVP_NEED_ARTEFACT) && !p->artefact && !p->vt->calibrate) return p;
    for (int k = 0; !p->vt->delegates && k < kvp__press_child_count(p); k++) {
        const kvp_press *m = missing_artefact(kvp__press_child(p, k));
        if (m) return m;
    }
    return NULL;
}

/* A press of the tree with a required press parameter unset. */
static const kvp_press *missing_press(const kvp_press *p, const kvp_param_info **param) {
    if ((*param = unset_param(p))) return p;
    for (int k = 0; k < kvp__press_child_count(p); k++) {
        const kvp_press *m = missing_press(kvp__press_child(p, k), param);
        if (m) return m;
    }
    return NULL;
}

kvp_status kvp__press_check(const kvp_press *p, const kvp_press_run *run) {
    if (p->vt->check) KVP_TRY(p->vt->check(p, run));
    if (p->inner) KVP_TRY(kvp__press_check(p->inner, run));
    return KVP_OK;
}

kvp_status kvp__press_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **scores) {
    if (p->vt->score) return p->vt->score(p, run, scores);
    if (p->inner) return kvp__press_score(p->inner, run, scores);
    return kvp__error(run->ctx, KVP_ERR_UNSUPPORTED, "press %s has no score", p->vt->info.name);
}

int64_t kvp__press_keep(const kvp_press *p, const kvp_press_run *run) {
    if (run->keep >= 0) return run->keep;
    if (p->vt->budget) return p->vt->budget(p, run);
    return kvp_n_keep(run->n, run->ratio);
}

/* Checks the inputs every press of the chain declares it needs, and their shapes. */
static kvp_status check_inputs(const kvp_press *p, const kvp_press_run *run) {
    kvp_context *ctx = run->ctx;
    const kvp_inputs *in = run->in;
    unsigned needs = press_needs(p);
    const char *name = p->vt->info.name;
    int has_q = in && in->queries.set, has_rope = in && in->has_rope;
    if ((needs & KVP_NEED_QUERIES) && !has_q)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the pre-RoPE queries (kvp_inputs_set_queries)", name);
    if ((needs & KVP_NEED_QUERY_STATS) && !has_q && !(in && in->qstats))
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the pre-RoPE queries (kvp_inputs_set_queries) or query "
                          "statistics (kvp_inputs_set_query_stats)",
                          name);
    if ((needs & KVP_NEED_ATTENTION) && !(in && in->attention.set) && !(has_q && has_rope))
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs attention probabilities (kvp_inputs_set_attention) or the "
                          "pre-RoPE queries and the RoPE definition to recompute them",
                          name);
    if ((needs & KVP_NEED_ROPE) && !has_rope)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the RoPE definition (kvp_inputs_set_rope)", name);
    if ((needs & KVP_NEED_HIDDEN) && !(in && in->hidden.set))
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the attention input hidden states (kvp_inputs_set_hidden)", name);
    const kvp_press *no_artefact = missing_artefact(p);
    if (no_artefact)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT, "%s needs its artefact (kvp_press_set_artefact)",
                          no_artefact->vt->info.name);
    if ((needs & KVP_NEED_WO) && !(in && in->wo.set))
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s needs the output projection W_o (kvp_inputs_set_wo)", name);
    if (!in) return KVP_OK;
    int Hq = 0;
    if (in->queries.set) {
        const kvp_tensor *q = &in->queries.t;
        if (q->shape[2] != run->d)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: queries have head_dim %lld, the cache has %d", name,
                              (long long)q->shape[2], run->d);
        Hq = (int)q->shape[0];
    }
    if (in->qstats && (needs & KVP_NEED_QUERY_STATS) && !in->queries.set) {
        if (in->qstats->head_dim != run->d)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: query statistics have head_dim %d, the cache has %d", name,
                              in->qstats->head_dim, run->d);
        Hq = in->qstats->n_heads;
    }
    if (in->attention.set && (needs & KVP_NEED_ATTENTION)) {
        const kvp_tensor *a = &in->attention.t;
        if (a->shape[2] != run->n)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: attention probabilities cover %lld keys, the layer holds %lld",
                              name, (long long)a->shape[2], (long long)run->n);
        if (Hq && a->shape[0] != Hq)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: attention probabilities have %lld heads, the queries %d", name,
                              (long long)a->shape[0], Hq);
        if (!Hq) Hq = (int)a->shape[0];
    }
    if (Hq && Hq % run->Hk)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: %d query heads are not a multiple of the cache's %d kv heads", name,
                          Hq, run->Hk);
    if (in->has_rope && in->rope.head_dim != run->d && (needs & (KVP_NEED_ROPE | KVP_NEED_QUERY_STATS | KVP_NEED_ATTENTION)))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: RoPE head_dim %d, the cache has %d",
                          name, in->rope.head_dim, run->d);
    if (in->wo.set && (needs & KVP_NEED_WO)) {
        const kvp_tensor *w = &in->wo.t;
        if (!Hq) Hq = (int)(w->shape[1] / run->d);
        if (w->shape[1] != (int64_t)Hq * run->d)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: W_o has %lld columns, expected n_heads * head_dim = %lld", name,
                              (long long)w->shape[1], (long long)Hq * run->d);
    }
    return KVP_OK;
}

/* Fills a run after validating the common arguments. */
static kvp_status begin_run(kvp_context *ctx, const kvp_press *p, const kvp_cache *cache,
                            int layer, const kvp_inputs *inputs, const char *who,
                            kvp_press_run *run) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: context is NULL", who);
    if (!p) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: press is NULL", who);
    KVP_TRY(kvp__cache_check_layer(ctx, cache, layer));
    if (inputs && inputs->ctx != ctx)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: inputs belong to another context", who);
    const kvp_param_info *unset = NULL;
    const kvp_press *incomplete = missing_press(p, &unset);
    if (incomplete)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT, "%s: press %s has no %s (%s)", who,
                          incomplete->vt->info.name,
                          unset->type == KVP_PARAM_PRESS ? "inner press" : "presses enough",
                          unset->name);
    memset(run, 0, sizeof *run);
    run->ctx = ctx;
    run->cache = (kvp_cache *)cache;
    run->layer = layer;
    run->in = inputs;
    run->Hk = cache->opt.n_kv_heads;
    run->d = cache->opt.head_dim;
    run->ratio = kvp__press_layer_ratio(p, layer);
    run->keep = -1;
    if (p->vt->ragged) {
        const kvp_cache_layer *L = &cache->layers[layer];
        for (int j = 0; j < run->Hk; j++) run->n = L->length[j] > run->n ? L->length[j] : run->n;
    } else {
        KVP_TRY(kvp__cache_uniform_length(ctx, cache, layer, p->vt->info.name, &run->n));
    }
    if (run->n == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: layer %d holds no tokens", who, layer);
    return KVP_OK;
}

kvp_status kvp__press_check_run(const kvp_press *p, const kvp_press_run *run) {
    KVP_TRY(check_inputs(p, run));
    return kvp__press_check(p, run);
}

kvp_status kvp__press_subrun(const kvp_press *p, const kvp_press_run *parent, kvp_press_run *run) {
    *run = *parent;
    run->ratio = kvp__press_layer_ratio(p, parent->layer);
    run->keep = -1;
    return kvp__cache_uniform_length(parent->ctx, parent->cache, parent->layer, p->vt->info.name,
                                     &run->n);
}

kvp_status kvp__press_compress_run(kvp_press *p, const kvp_press_run *run) {
    KVP_TRY(check_inputs(p, run));
    KVP_TRY(kvp__press_check(p, run));
    if (p->vt->compress) return p->vt->compress(p, run);
    kvp_buffer *scores = NULL;
    KVP_TRY(kvp__press_score(p, run, &scores));
    if (run->ctx->options.check_finite) {
        kvp_tensor t = kvp_tensor_device(KVP_DTYPE_F32, scores, 0, 2, run->Hk, run->n, 1);
        KVP_TRY(kvp__tensor_check_finite(run->ctx, &t,
                                         "the press scores (computed from the cached keys and values)"));
    }
    return kvp__compress_by_scores(run, scores, kvp__press_keep(p, run));
}

kvp_status kvp_compress(kvp_context *ctx, kvp_press *p, kvp_cache *cache, int layer,
                        const kvp_inputs *inputs) {
    kvp_press_run run;
    KVP_TRY(begin_run(ctx, p, cache, layer, inputs, "kvp_compress", &run));
    if (!p->vt->score && !p->vt->compress)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_compress: %s compresses during decoding; call kvp_decode_step",
                          p->vt->info.name);
    /* Inputs are checked even at ratio 0, so a missing input shows before the ratio changes. */
    KVP_TRY(check_inputs(p, &run));
    /* As kvpress: at ratio 0 the scorer is not even called. A press without a
     * compression_ratio (ThinK: key channels) decides in its own compress. */
    if (run.ratio == 0 && param_index(p, "compression_ratio") >= 0) return KVP_OK;
    int mark = kvp__scratch_mark(ctx);
    kvp_status st = kvp__press_compress_run(p, &run);
    kvp__scratch_release(ctx, mark);
    return st;
}

kvp_status kvp_press_score(kvp_context *ctx, kvp_press *p, const kvp_cache *cache, int layer,
                           const kvp_inputs *inputs, float *scores) {
    kvp_press_run run;
    KVP_TRY(begin_run(ctx, p, cache, layer, inputs, "kvp_press_score", &run));
    if (!scores) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "kvp_press_score: scores is NULL");
    /* a wrapper reports its inner press's score, a router its prefill press's */
    const kvp_press *scorer = p;
    while (scorer && !scorer->vt->score)
        scorer = scorer->inner ? scorer->inner
                               : scorer->vt->delegates ? kvp__press_child(scorer, 0) : NULL;
    if (!scorer)
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED, "kvp_press_score: %s has no score",
                          p->vt->info.name);
    KVP_TRY(check_inputs(scorer, &run));
    KVP_TRY(kvp__press_check(scorer, &run));
    int mark = kvp__scratch_mark(ctx);
    kvp_buffer *s = NULL;
    kvp_status st = kvp__press_score(scorer, &run, &s);
    if (st == KVP_OK)
        st = kvp__download(ctx, s, 0, scores, sizeof(float) * (size_t)run.Hk * (size_t)run.n);
    kvp__scratch_release(ctx, mark);
    return st;
}

kvp_status kvp_decode_step(kvp_context *ctx, kvp_press *p, kvp_cache *cache, int layer,
                           const kvp_inputs *inputs, int *compressed) {
    if (compressed) *compressed = 0;
    kvp_press_run run;
    KVP_TRY(begin_run(ctx, p, cache, layer, inputs, "kvp_decode_step", &run));
    if (!p->vt->decode_step)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "kvp_decode_step: %s is a prefill press; call kvp_compress",
                          p->vt->info.name);
    int mark = kvp__scratch_mark(ctx);
    int done = 0;
    kvp_status st = p->vt->decode_step(p, &run, &done);
    kvp__scratch_release(ctx, mark);
    if (st == KVP_OK && compressed) *compressed = done;
    return st;
}

/* ---- presses over the whole cache, and calibration ------------------------------------------- */

static kvp_status check_artefacts(kvp_context *ctx, const kvp_press *p) {
    for (const kvp_press *q = p; q; q = q->inner)
        if ((q->vt->info.needs & KVP_NEED_ARTEFACT) && !q->artefact && !q->vt->calibrate)
            return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                              "%s needs its artefact (kvp_press_set_artefact)", q->vt->info.name);
    return KVP_OK;
}

static kvp_status check_forward(kvp_context *ctx, const kvp_press *p, const kvp_forward *fwd,
                                const char *who) {
    if (!(press_needs(p) & KVP_NEED_FORWARD)) return KVP_OK;
    if (!fwd || !fwd->run)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                          "%s: %s runs extra passes of the model: give a kvp_forward with run", who,
                          p->vt->info.name);
    return KVP_OK;
}

kvp_status kvp_compress_all(kvp_context *ctx, kvp_press *p, kvp_cache *cache,
                            const kvp_forward *forward) {
    const char *who = "kvp_compress_all";
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: context is NULL", who);
    if (!p) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: press is NULL", who);
    if (!cache) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: cache is NULL", who);
    if (cache->ctx != ctx)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: the cache belongs to another context", who);
    if (!(press_needs(p) & KVP_NEED_ALL_LAYERS) || !p->vt->compress_all)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: %s compresses layer by layer: call kvp_compress on each layer", who,
                          p->vt->info.name);
    KVP_TRY(check_forward(ctx, p, forward, who));
    KVP_TRY(check_artefacts(ctx, p));
    int mark = kvp__scratch_mark(ctx);
    kvp_status st = p->vt->compress_all(p, ctx, cache, forward);
    kvp__scratch_release(ctx, mark);
    return st;
}

kvp_status kvp_press_calibrate(kvp_context *ctx, kvp_press *p, const kvp_forward *forward,
                               const int32_t *const *samples, const int64_t *lengths,
                               int n_samples) {
    const char *who = "kvp_press_calibrate";
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s: context is NULL", who);
    if (!p) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: press is NULL", who);
    if (!p->vt->calibrate)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: %s does not calibrate", who,
                          p->vt->info.name);
    if (!forward || !forward->run)
        return kvp__error(ctx, KVP_ERR_MISSING_INPUT, "%s: give a kvp_forward with run", who);
    if (n_samples <= 0 || !samples || !lengths)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: no samples (n_samples = %d)", who,
                          n_samples);
    for (int i = 0; i < n_samples; i++)
        if (!samples[i] || lengths[i] <= 0 || lengths[i] > INT32_MAX)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: sample %d is empty or has a bad length (%lld)", who, i,
                              (long long)lengths[i]);
    int mark = kvp__scratch_mark(ctx);
    kvp_status st = p->vt->calibrate(p, ctx, forward, samples, lengths, n_samples);
    kvp__scratch_release(ctx, mark);
    return st;
}
