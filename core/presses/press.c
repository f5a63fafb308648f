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

double kvp__press_ratio(const kvp_press *p) {
    int i = param_index(p, "compression_ratio");
    if (i < 0) return 0.0;
    if (p->value[i] < 0 && p->inner) return kvp__press_ratio(p->inner);
    return p->value[i] < 0 ? 0.0 : p->value[i];
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
    kvp_press_destroy(p->inner);
    if (p->free_state) p->free_state(p->state);
    free(p);
}

const kvp_press_info *kvp_press_get_info(const kvp_press *p) { return p ? &p->vt->info : NULL; }

void kvp_press_reset(kvp_press *p) {
    if (!p) return;
    if (p->vt->reset) p->vt->reset(p);
    kvp_press_reset(p->inner);
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

static kvp_status set_value(kvp_press *p, const char *name, double v, kvp_param_type given) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    const char *pn = p->vt->info.name;
    if (pi->type == KVP_PARAM_PRESS)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s takes a press (kvp_press_set_press)", pn,
                              name);
    if (isnan(v)) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: value is NaN", pn, name);
    if ((pi->type == KVP_PARAM_BOOL) != (given == KVP_PARAM_BOOL))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is %s", pn, name,
                              pi->type == KVP_PARAM_BOOL ? "a boolean" : "not a boolean");
    if (pi->type == KVP_PARAM_BOOL && v != 0 && v != 1)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is a boolean (0 or 1), got %g", pn, name,
                              v);
    if (pi->type == KVP_PARAM_INT && v != floor(v))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is an integer, got %g", pn, name, v);
    /* A default of -1 means "inherit" (wrappers: the inner press's ratio); -1 may be set back. */
    int inherit = v == -1 && pi->default_value == -1;
    if (!inherit && (v < pi->min_value || (pi->max_exclusive ? v >= pi->max_value : v > pi->max_value)))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s = %g is outside [%g, %g%c", pn, name, v,
                              pi->min_value, pi->max_value, pi->max_exclusive ? ')' : ']');
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

kvp_status kvp_press_set_press(kvp_press *p, const char *name, kvp_press *inner) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    if (pi->type != KVP_PARAM_PRESS)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is not a press parameter",
                              p->vt->info.name, name);
    if (!inner) return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: inner press is NULL",
                                      p->vt->info.name, name);
    if (inner == p)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: a press cannot wrap itself",
                              p->vt->info.name, name);
    /* Wrappers wrap scorers: a press with a score (or a wrapper around one). */
    const kvp_press *probe = inner;
    while (probe && !probe->vt->score) probe = probe->inner;
    if (!probe || inner->vt->info.kind == KVP_PRESS_DECODING)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %s is not a scorer press",
                              p->vt->info.name, name, inner->vt->info.name);
    if (inner->vt->info.kind == KVP_PRESS_HEADWISE && p->vt->info.kind != KVP_PRESS_DECODING)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %s (head-wise) cannot be wrapped by %s",
                              p->vt->info.name, name, inner->vt->info.name, p->vt->info.name);
    kvp_press_destroy(p->inner);
    p->inner = inner;
    return KVP_OK;
}

kvp_status kvp_press_set_artefact(kvp_press *p, kvp_artefact *a) {
    if (!p || !a) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_set_artefact: NULL argument");
    /* A wrapper passes it on to the first press of its chain that takes one. */
    kvp_press *q = p;
    while (q && !((q->vt->info.needs & KVP_NEED_ARTEFACT) && q->vt->check_artefact)) q = q->inner;
    if (!q)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "press %s%s does not take an artefact",
                              p->vt->info.name, p->inner ? " (nor the presses it wraps)" : "");
    KVP_TRY(q->vt->check_artefact(q, a));
    q->artefact = a;
    return KVP_OK;
}

kvp_status kvp_press_get(const kvp_press *p, const char *name, double *value) {
    const kvp_param_info *pi = NULL;
    int i = 0;
    KVP_TRY(find_param(p, name, &pi, &i));
    if (!value) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_press_get: value is NULL");
    if (pi->type == KVP_PARAM_PRESS)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s is a press", p->vt->info.name, name);
    *value = p->value[i];
    return KVP_OK;
}

static void describe(const kvp_press *p, char *buf, size_t size, size_t *len) {
#define PUT(...)                                                                             \
    do {                                                                                     \
        if (*len < size) *len += (size_t)snprintf(buf + *len, size - *len, __VA_ARGS__);     \
    } while (0)
    PUT("%s(", p->vt->info.name);
    for (int i = 0; i < p->vt->info.n_params; i++) {
        const kvp_param_info *pi = &p->vt->info.params[i];
        PUT("%s%s=", i ? ", " : "", pi->name);
        if (pi->type == KVP_PARAM_PRESS) {
            if (p->inner)
                describe(p->inner, buf, size, len);
            else
                PUT("none");
        } else if (pi->type == KVP_PARAM_BOOL) {
            PUT("%s", p->value[i] ? "true" : "false");
        } else if (pi->type == KVP_PARAM_INT) {
            PUT("%lld", (long long)p->value[i]);
        } else {
            /* the shortest form that reads back to the same double */
            char num[32];
            snprintf(num, sizeof num, "%.15g", p->value[i]);
            if (strtod(num, NULL) != p->value[i]) snprintf(num, sizeof num, "%.17g", p->value[i]);
            PUT("%s", num);
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
    if (pi->type == KVP_PARAM_PRESS) {
        kvp_press *inner;
        KVP_TRY(parse_press(ps, &inner, depth + 1));
        kvp_status st = kvp_press_set_press(p, key, inner);
        if (st != KVP_OK) kvp_press_destroy(inner);
        return st;
    }
    const char *start = ps->s + ps->i;
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
    if (st == KVP_OK && p->vt->info.params && !p->inner) {
        for (int i = 0; i < p->vt->info.n_params; i++)
            if (p->vt->info.params[i].type == KVP_PARAM_PRESS)
                st = kvp__error_tls(KVP_ERR_MISSING_INPUT, "press spec: %s needs %s=<press>", name,
                                    p->vt->info.params[i].name);
    }
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
    if (p->inner) needs |= press_needs(p->inner);
    return needs;
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
    for (const kvp_press *q = p; q; q = q->inner)
        if ((q->vt->info.needs & KVP_NEED_ARTEFACT) && !q->artefact)
            return kvp__error(ctx, KVP_ERR_MISSING_INPUT,
                              "%s needs its artefact (kvp_press_set_artefact)", q->vt->info.name);
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
    for (const kvp_press *q = p; q; q = q->inner)
        for (int i = 0; i < q->vt->info.n_params; i++)
            if (q->vt->info.params[i].type == KVP_PARAM_PRESS && !q->inner)
                return kvp__error(ctx, KVP_ERR_MISSING_INPUT, "%s: press %s has no inner press (%s)",
                                  who, q->vt->info.name, q->vt->info.params[i].name);
    memset(run, 0, sizeof *run);
    run->ctx = ctx;
    run->cache = (kvp_cache *)cache;
    run->layer = layer;
    run->in = inputs;
    run->Hk = cache->opt.n_kv_heads;
    run->d = cache->opt.head_dim;
    run->ratio = kvp__press_ratio(p);
    run->keep = -1;
    KVP_TRY(kvp__cache_uniform_length(ctx, cache, layer, p->vt->info.name, &run->n));
    if (run->n == 0)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: layer %d holds no tokens", who, layer);
    return KVP_OK;
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
    if (run.ratio == 0) return KVP_OK; /* as kvpress: the scorer is not even called */
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
    const kvp_press *scorer = p;
    while (scorer && !scorer->vt->score) scorer = scorer->inner;
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
