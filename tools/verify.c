/* kvpress-tool verify: runs every case of a directory in the format of the NVIDIA kvpress
 * reference vectors (golden/README.md) and compares with exactly the rules written there:
 *  - scores: |mine - ref| <= 1e-5 max|ref| + 1e-3 |ref| elementwise, max over a kv head's row;
 *  - kept sets: b = the n_kept-th largest reference score of the head,
 *    tol = 1e-5 max|ref| + 1e-3 |b|; kept tokens need ref >= b - tol, evicted ref <= b + tol;
 *    without reference scores the sets must be identical;
 *  - masks (head-wise): the same rule over the whole layer with the wrapped press's reference
 *    scores, or, where those are not given, at least 99% of the kept positions agree;
 *  - keys.npy / values.npy (presses that change the kept keys or values: key re-rotation,
 *    merging, ThinK's key channels): each head's compressed rows in position order,
 *    elementwise like scores over the head, when the kept set equals the reference's (a set
 *    that differs inside ties has other rows). A press that changes the keys and not the
 *    values re-rotates them and rewrites the positions: its kept tokens are found by their
 *    values and re-rotated keys.
 * A press.json may name the press's artefact ("artefact": a safetensors path relative to the
 * case folder); it is loaded and given to the press. inputs/keys_prerope.npy, when present, is
 * given as the pre-RoPE keys.
 *
 * Extensions (tests/golden/README.md): presses that select across layers run on a cache of every
 * layer of the window (the sibling layers' inputs) with kvp_compress on each and
 * kvp_compress_all; presses that run the model ("model": {"file", "tokenizer"} in press.json,
 * found in --models DIR) prefill the case's context_tokens.npy through the reference runner,
 * which lends them its model. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "model/runner.h"
#include "npy.h"
#include "press_json.h"
#include "tool.h"

#define MAX_CASES 4096

typedef struct case_list {
    char *paths[MAX_CASES];
    int count;
} case_list;

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_cases(const char *dir, case_list *cases, int depth) {
    if (depth > 16) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/press.json", dir);
    if (is_file(path) && cases->count < MAX_CASES) {
        cases->paths[cases->count++] = strdup(dir);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) find_cases(path, cases, depth + 1);
    }
    closedir(d);
}

typedef struct layer_inputs {
    npy_array keys, values, queries, hidden, wo;
    npy_array keys_prerope; /* optional (kvpress-0.5.4-ext): pre-RoPE keys [Hk, n, d] */
    int n_heads, n_kv_heads, head_dim, n_layers, layer;
    double rope_theta;
} layer_inputs;

static void inputs_free(layer_inputs *li) {
    npy_free(&li->keys);
    npy_free(&li->values);
    npy_free(&li->queries);
    npy_free(&li->hidden);
    npy_free(&li->wo);
    npy_free(&li->keys_prerope);
}

static int load_inputs(const char *case_dir, layer_inputs *li, char *err, size_t err_size) {
    memset(li, 0, sizeof *li);
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/../inputs", case_dir);
    snprintf(path, sizeof path, "%s/model.json", dir);
    kvp_json *model = kvp__json_parse_file(path, err, err_size);
    if (!model) return -1;
    const char *fields[] = {"n_heads", "n_kv_heads", "head_dim", "n_layers", "layer", "rope_theta"};
    double vals[6];
    for (int i = 0; i < 6; i++) {
        const kvp_json *v = kvp__json_get(model, fields[i]);
        if (!v || v->kind != KVP_JSON_NUMBER) {
            snprintf(err, err_size, "%s: missing %s", path, fields[i]);
            kvp__json_free(model);
            return -1;
        }
        vals[i] = v->number;
    }
    kvp__json_free(model);
    li->n_heads = (int)vals[0];
    li->n_kv_heads = (int)vals[1];
    li->head_dim = (int)vals[2];
    li->n_layers = (int)vals[3];
    li->layer = (int)vals[4];
    li->rope_theta = vals[5];
    struct {
        const char *name;
        npy_array *arr;
        int ndim;
    } files[] = {{"keys", &li->keys, 3}, {"values", &li->values, 3}, {"queries", &li->queries, 3},
                 {"hidden", &li->hidden, 2}, {"wo", &li->wo, 2}};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, files[i].name);
        if (npy_load(path, files[i].arr, err, err_size)) return -1;
        if (files[i].arr->type != NPY_F32 || files[i].arr->ndim != files[i].ndim) {
            snprintf(err, err_size, "%s: expected float32 with %d dimensions", path, files[i].ndim);
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/keys_prerope.npy", dir);
    if (is_file(path) && (npy_load(path, &li->keys_prerope, err, err_size) ||
                          li->keys_prerope.type != NPY_F32 || li->keys_prerope.ndim != 3)) {
        snprintf(err, err_size, "%s: expected float32 [kv_heads, n, head_dim]", path);
        return -1;
    }
    if (li->keys.shape[0] != li->n_kv_heads || li->keys.shape[2] != li->head_dim ||
        li->queries.shape[0] != li->n_heads) {
        snprintf(err, err_size, "%s: shapes do not match model.json", dir);
        return -1;
    }
    return 0;
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Kept sets against reference scores (the tolerance rule); rows = heads compared together. */
static int check_sets_by_scores(const float *ref, const unsigned char *mine, int rows, int64_t n,
                                int64_t n_kept, char *why, size_t why_size) {
    size_t count = (size_t)rows * (size_t)n;
    float *sorted = malloc(count * sizeof(float));
    if (!sorted) return 0;
    double maxabs = 0;
    for (size_t i = 0; i < count; i++) {
        sorted[i] = ref[i];
        if (fabs(ref[i]) > maxabs) maxabs = fabs(ref[i]);
    }
    /* the n_kept-th largest: partial selection by sorting (sizes are small) */
    qsort(sorted, count, sizeof(float), cmp_desc);
    int ok = 1;
    if (n_kept > 0) {
        double b = sorted[n_kept - 1];
        double tol = 1e-5 * maxabs + 1e-3 * fabs(b);
        for (size_t i = 0; i < count && ok; i++) {
            if (mine[i] && ref[i] < b - tol) {
                snprintf(why, why_size, "kept token %zu has score %.8g < threshold %.8g - %.3g",
                         i % (size_t)n, ref[i], b, tol);
                ok = 0;
            } else if (!mine[i] && ref[i] > b + tol) {
                snprintf(why, why_size, "evicted token %zu has score %.8g > threshold %.8g + %.3g",
                         i % (size_t)n, ref[i], b, tol);
                ok = 0;
            }
        }
    }
    free(sorted);
    return ok;
}

/* Whether `key` is `orig` (a post-RoPE key at position p) re-rotated by delta positions
 * (half-split RoPE with frequencies theta^(-2f/d)), to f32 rounding. */
static int is_rerotated(const float *key, const float *orig, int d, int64_t delta, double theta) {
    int half = d / 2;
    double err = 0, norm = 0;
    for (int f = 0; f < half; f++) {
        float inv = 1.0f / powf((float)theta, (float)(2 * f) / (float)d);
        double angle = (double)((float)delta * inv), c = cos(angle), s = sin(angle);
        double u = orig[f] * c - orig[f + half] * s, v = orig[f + half] * c + orig[f] * s;
        err += (u - key[f]) * (u - key[f]) + (v - key[f + half]) * (v - key[f + half]);
        norm += u * u + v * v;
    }
    return err <= 1e-8 * norm + 1e-12;
}

/* Whether every head holds, row by row, the reference's kept tokens (values equal, keys
 * re-rotated from them); then mine = the reference's set. Tokens that occur twice (equal
 * values in layer 0, equal keys once re-rotated) cannot be told apart in the output, so this
 * is how a re-rotated set is recognised as the reference's. */
static int same_rows_as_reference(const kvp_cache *cache, int layer, const layer_inputs *li,
                                  int64_t n, const int32_t *ref, int64_t n_ref,
                                  unsigned char *mine) {
    int Hk = li->n_kv_heads, d = li->head_dim;
    int64_t lengths[256];
    float *vals = malloc(sizeof(float) * (size_t)(n_ref ? n_ref : 1) * (size_t)d);
    float *keys = malloc(sizeof(float) * (size_t)(n_ref ? n_ref : 1) * (size_t)d);
    int same = vals && keys && kvp_cache_get_lengths(cache, layer, lengths) == KVP_OK;
    for (int j = 0; j < Hk && same; j++) {
        same = lengths[j] == n_ref;
        if (same) kvp_cache_read(cache, layer, j, keys, vals, NULL);
        const float *v0 = (const float *)li->values.data + (size_t)j * (size_t)n * (size_t)d;
        const float *k0 = (const float *)li->keys.data + (size_t)j * (size_t)n * (size_t)d;
        for (int64_t r = 0; r < n_ref && same; r++) {
            int64_t t = ref[(size_t)j * (size_t)n_ref + (size_t)r];
            same = t >= 0 && t < n && !memcmp(vals + r * d, v0 + t * d, sizeof(float) * (size_t)d) &&
                   is_rerotated(keys + r * d, k0 + t * d, d, r - t, li->rope_theta);
        }
    }
    free(vals);
    free(keys);
    if (!same) return 0;
    memset(mine, 0, (size_t)Hk * (size_t)n);
    for (int j = 0; j < Hk; j++)
        for (int64_t r = 0; r < n_ref; r++) mine[(size_t)j * (size_t)n + (size_t)ref[(size_t)j * (size_t)n_ref + (size_t)r]] = 1;
    return 1;
}

/* mine[j * n + t] = 1 for the tokens t that a layer whose keys were re-rotated to positions
 * 0, 1, ... (its stored positions rewritten) holds: entry r is the next token whose value row
 * is the entry's (exactly: the cache is f32) and whose key, re-rotated by r - t, is the
 * entry's key (a token that occurs twice has the same values in layer 0, not the same key). */
static int kept_by_rows(const kvp_cache *cache, int layer, const layer_inputs *li, int64_t n,
                        unsigned char *mine, char *why, size_t why_size) {
    int Hk = li->n_kv_heads, d = li->head_dim;
    float *vals = malloc(sizeof(float) * (size_t)n * (size_t)d);
    float *keys = malloc(sizeof(float) * (size_t)n * (size_t)d);
    int64_t lengths[256];
    if (!vals || !keys || kvp_cache_get_lengths(cache, layer, lengths) != KVP_OK) {
        free(vals);
        free(keys);
        snprintf(why, why_size, "cannot read the compressed cache");
        return 0;
    }
    memset(mine, 0, (size_t)Hk * (size_t)n);
    int ok = 1;
    for (int j = 0; j < Hk && ok; j++) {
        kvp_cache_read(cache, layer, j, keys, vals, NULL);
        const float *v0 = (const float *)li->values.data + (size_t)j * (size_t)n * (size_t)d;
        const float *k0 = (const float *)li->keys.data + (size_t)j * (size_t)n * (size_t)d;
        for (int64_t r = 0, t = 0; r < lengths[j] && ok; r++, t++) {
            while (t < n && (memcmp(vals + r * d, v0 + t * d, sizeof(float) * (size_t)d) ||
                             !is_rerotated(keys + r * d, k0 + t * d, d, r - t, li->rope_theta)))
                t++;
            if (t == n) {
                snprintf(why, why_size, "head %d: entry %lld is none of the layer's tokens re-rotated",
                         j, (long long)r);
                ok = 0;
            } else {
                mine[(size_t)j * (size_t)n + (size_t)t] = 1;
            }
        }
    }
    free(vals);
    free(keys);
    return ok;
}

/* The cache's keys (which = 0) or values (1) of every head against the reference rows
 * [Hk, n_kept, d], elementwise with the scores' rule over each head. */
static int check_rows(const kvp_cache *cache, int layer, int which, int Hk, int64_t n_kept, int d,
                      const float *ref, char *why, size_t why_size) {
    float *mine = malloc(sizeof(float) * (size_t)(n_kept ? n_kept : 1) * (size_t)d);
    if (!mine) {
        snprintf(why, why_size, "out of memory");
        return 0;
    }
    int ok = 1;
    for (int j = 0; j < Hk && ok; j++) {
        kvp_cache_read(cache, layer, j, which ? NULL : mine, which ? mine : NULL, NULL);
        const float *r = ref + (size_t)j * (size_t)n_kept * (size_t)d;
        double maxabs = 0;
        for (size_t e = 0; e < (size_t)n_kept * (size_t)d; e++) maxabs = fmax(maxabs, fabs(r[e]));
        for (size_t e = 0; e < (size_t)n_kept * (size_t)d && ok; e++)
            if (!(fabs(mine[e] - r[e]) <= 1e-5 * maxabs + 1e-3 * fabs(r[e]))) {
                snprintf(why, why_size, "%s of head %d entry %zu channel %zu: %.8g, reference %.8g",
                         which ? "value" : "key", j, e / (size_t)d, e % (size_t)d, mine[e], r[e]);
                ok = 0;
            }
    }
    free(mine);
    return ok;
}

/* A press that needs more than its own layer's inputs. */
static int model_wide(const kvp_press *press) {
    return (kvp_press_get_info(press)->needs & (KVP_NEED_ALL_LAYERS | KVP_NEED_FORWARD)) != 0;
}

/* kept[j * n + t] for the layer `layer` of a cache; lengths per head. */
static int read_kept(const kvp_cache *cache, int layer, int Hk, int64_t n, unsigned char *mine,
                     int64_t *lengths, char *why, size_t why_size) {
    int32_t *positions = malloc((size_t)(n + 64) * sizeof(int32_t));
    if (!positions || kvp_cache_get_lengths(cache, layer, lengths) != KVP_OK) {
        free(positions);
        snprintf(why, why_size, "cannot read the compressed cache");
        return -1;
    }
    for (int j = 0; j < Hk; j++) {
        if (lengths[j] > n + 64 || kvp_cache_read(cache, layer, j, NULL, NULL, positions) != KVP_OK) {
            free(positions);
            snprintf(why, why_size, "head %d holds %lld entries", j, (long long)lengths[j]);
            return -1;
        }
        for (int64_t t = 0; t < lengths[j]; t++)
            if (positions[t] >= 0 && positions[t] < n) mine[(size_t)j * n + positions[t]] = 1;
    }
    free(positions);
    return 0;
}

/* What a press that works on every layer at once left in each layer, kept for the other
 * layers' cases of the same window and configuration (each runs the whole press once). */
typedef struct wide_result {
    char key[4200];             /* case folder with its layer component removed */
    int n_layers, Hk;
    int64_t n;
    unsigned char *kept;        /* [n_layers, Hk, n] */
    int64_t *lengths;           /* [n_layers, Hk] */
} wide_result;

/* The key of a case folder: ".../w0/layer3/kvzip@0.5" -> ".../w0/kvzip@0.5". */
static void wide_key(const char *dir, char *key, size_t size) {
    const char *name = strrchr(dir, '/');
    const char *layer = name;
    if (name)
        for (layer = name - 1; layer > dir && *layer != '/'; layer--) continue;
    if (!name || layer <= dir) {
        snprintf(key, size, "%s", dir);
        return;
    }
    snprintf(key, size, "%.*s%s", (int)(layer - dir), dir, name);
}

/* The results of one verify run on one device (cases are sorted by layer first, so a
 * configuration's other layers come after all the configurations of this layer). */
typedef struct wide_cache {
    wide_result *items;
    int count;
} wide_cache;

static void wide_cache_free(wide_cache *c) {
    for (int i = 0; i < c->count; i++) {
        free(c->items[i].kept);
        free(c->items[i].lengths);
    }
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* Keeps every layer of `cache` as a new result of the cache. */
static int wide_store(wide_cache *c, const char *dir, const kvp_cache *cache, int n_layers,
                      int Hk, int64_t n, char *why, size_t why_size) {
    wide_result *items = realloc(c->items, sizeof *items * (size_t)(c->count + 1));
    if (!items) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    c->items = items;
    wide_result *w = &items[c->count++];
    memset(w, 0, sizeof *w);
    w->kept = calloc((size_t)n_layers * (size_t)Hk * (size_t)n, 1);
    w->lengths = calloc((size_t)n_layers * (size_t)Hk, sizeof(int64_t));
    if (!w->kept || !w->lengths) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    for (int l = 0; l < n_layers; l++)
        if (read_kept(cache, l, Hk, n, w->kept + (size_t)l * Hk * (size_t)n,
                      w->lengths + (size_t)l * Hk, why, why_size))
            return -1;
    wide_key(dir, w->key, sizeof w->key);
    w->n_layers = n_layers;
    w->Hk = Hk;
    w->n = n;
    return 0;
}

/* The layer's result when this window and configuration already ran. */
static int wide_lookup(const wide_cache *c, const char *dir, const layer_inputs *li,
                       unsigned char *mine, int64_t *lengths) {
    char key[4200];
    wide_key(dir, key, sizeof key);
    const wide_result *w = NULL;
    for (int i = c->count - 1; i >= 0 && !w; i--)
        if (!strcmp(key, c->items[i].key)) w = &c->items[i];
    if (!w || !w->kept || li->layer >= w->n_layers || li->n_kv_heads != w->Hk ||
        li->keys.shape[1] != w->n)
        return 0;
    size_t per = (size_t)w->Hk * (size_t)w->n;
    memcpy(mine, w->kept + (size_t)li->layer * per, per);
    memcpy(lengths, w->lengths + (size_t)li->layer * w->Hk, sizeof(int64_t) * (size_t)w->Hk);
    return 1;
}

/* Every layer of the window from the sibling folders' inputs, each compressed (phase 1) with
 * its own inputs, then kvp_compress_all. */
static int run_all_layers(kvp_context *ctx, kvp_press *press, const char *dir,
                          const layer_inputs *li, const kvp_rope *rope, wide_cache *wide,
                          unsigned char *mine, int64_t *lengths, char *why, size_t why_size) {
    int64_t n = li->keys.shape[1];
    kvp_cache_options co = {.n_layers = li->n_layers, .n_kv_heads = li->n_kv_heads,
                            .head_dim = li->head_dim, .capacity = n, .dtype = KVP_DTYPE_F32};
    kvp_cache *cache = NULL;
    kvp_status st = kvp_cache_create(ctx, &co, &cache);
    int rc = -1;
    for (int l = 0; st == KVP_OK && l < li->n_layers; l++) {
        char sib[4200], err[512] = "";
        snprintf(sib, sizeof sib, "%s/../../layer%d/%s", dir, l, strrchr(dir, '/') + 1);
        layer_inputs other;
        if (load_inputs(sib, &other, err, sizeof err)) {
            snprintf(why, why_size, "layer %d: %s", l, err);
            inputs_free(&other);
            kvp_cache_destroy(cache);
            return -1;
        }
        kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, other.keys.data, 3, other.n_kv_heads, n, other.head_dim);
        kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, other.values.data, 3, other.n_kv_heads, n, other.head_dim);
        kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, other.queries.data, 3, other.n_heads,
                                        other.queries.shape[1], other.head_dim);
        kvp_tensor ht = kvp_tensor_host(KVP_DTYPE_F32, other.hidden.data, 2, other.hidden.shape[0],
                                        other.hidden.shape[1], 1);
        kvp_tensor wt = kvp_tensor_host(KVP_DTYPE_F32, other.wo.data, 2, other.wo.shape[0],
                                        other.wo.shape[1], 1);
        kvp_inputs *in = NULL;
        st = kvp_cache_append(cache, l, &kt, &vt, 0);
        if (!st) st = kvp_inputs_create(ctx, &in);
        if (!st) st = kvp_inputs_set_queries(in, &qt, 0);
        if (!st) st = kvp_inputs_set_hidden(in, &ht, 0);
        if (!st) st = kvp_inputs_set_wo(in, &wt);
        if (!st) st = kvp_inputs_set_rope(in, rope);
        if (!st) st = kvp_compress(ctx, press, cache, l, in);
        kvp_inputs_destroy(in);
        inputs_free(&other);
    }
    if (!st) st = kvp_compress_all(ctx, press, cache, NULL);
    if (st)
        snprintf(why, why_size, "compress: %s: %s", kvp_status_name(st), kvp_context_last_error(ctx));
    else if (!wide_store(wide, dir, cache, li->n_layers, li->n_kv_heads, n, why, why_size))
        rc = wide_lookup(wide, dir, li, mine, lengths) ? 0 : -1;
    kvp_cache_destroy(cache);
    return rc;
}

/* The window's prompt prefilled through the reference runner with the press, which runs the
 * model through it (kvp_forward); KVzip's prompt tokens are checked against the C tokenizer. */
static int run_with_model(kvp_context *ctx, kvp_press *press, const kvp_json *spec,
                          const char *dir, const char *models, const layer_inputs *li,
                          wide_cache *wide, unsigned char *mine, int64_t *lengths, char *why,
                          size_t why_size) {
    const kvp_json *m = kvp__json_get(spec, "model");
    const kvp_json *file = m ? kvp__json_get(m, "file") : NULL, *tokf = m ? kvp__json_get(m, "tokenizer") : NULL;
    if (!file || file->kind != KVP_JSON_STRING || !tokf || tokf->kind != KVP_JSON_STRING) {
        snprintf(why, why_size, "press.json names no model {\"file\", \"tokenizer\"}");
        return -1;
    }
    if (!models) {
        snprintf(why, why_size, "%s runs the model: give the models' folder with --models",
                 kvp_press_get_info(press)->name);
        return -1;
    }
    char path[4200], tpath[4200], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", models, file->string);
    snprintf(tpath, sizeof tpath, "%s/%s", models, tokf->string);
    llama_model *model = NULL;
    tokenizer *tok = NULL;
    llama_runner *r = NULL;
    npy_array ids = {0};
    kvp_json *fj = NULL;
    int32_t *got = NULL;
    int rc = -1;
    snprintf(err, sizeof err, "%s/context_tokens.npy", dir);
    char e2[512] = "";
    if (npy_load(err, &ids, e2, sizeof e2) || ids.type != NPY_I32 || ids.ndim != 1) {
        snprintf(why, why_size, "context_tokens.npy: %s", e2[0] ? e2 : "expected int32 [n]");
        goto done;
    }
    err[0] = 0;
    if (llama_model_load(path, &model, err, sizeof err) ||
        tokenizer_load_llama2c_file(tpath, model->cfg.vocab_size, &tok, err, sizeof err)) {
        snprintf(why, why_size, "%s", err);
        goto done;
    }
    /* the reference's prompts came from a Python port of the same tokenizer */
    snprintf(path, sizeof path, "%s/forward.json", dir);
    FILE *probe = fopen(path, "r");
    if (probe) {
        fclose(probe);
        fj = kvp__json_parse_file(path, err, sizeof err);
        const kvp_json *pt = fj ? kvp__json_get(fj, "prompt_tokens") : NULL;
        int n_got = 0;
        if (!pt || pt->kind != KVP_JSON_ARRAY ||
            tokenizer_encode(tok, "\n\nRepeat the previous context exactly.", 0, 0, &got, &n_got, err,
                             sizeof err)) {
            snprintf(why, why_size, "forward.json: %s", err[0] ? err : "no prompt_tokens");
            goto done;
        }
        int same = n_got == pt->count;
        for (int i = 0; same && i < n_got; i++) same = (int)pt->items[i]->number == got[i];
        if (!same) {
            snprintf(why, why_size, "the C tokenizer does not give the reference's prompt tokens");
            goto done;
        }
    }
    llama_runner_options o;
    llama_runner_options_init(&o);
    o.capacity = ids.shape[0];
    if (llama_runner_create(model, ctx, &o, &r, err, sizeof err)) {
        snprintf(why, why_size, "%s", err);
        goto done;
    }
    llama_runner_set_tokenizer(r, tok);
    if (llama_forward(r, ids.data, (int)ids.shape[0], press, LLAMA_LOGITS_NONE, NULL, err, sizeof err)) {
        snprintf(why, why_size, "%s", err);
        goto done;
    }
    if (!wide_store(wide, dir, llama_runner_cache(r), li->n_layers, li->n_kv_heads,
                    li->keys.shape[1], why, why_size))
        rc = wide_lookup(wide, dir, li, mine, lengths) ? 0 : -1;
done:
    free(got);
    kvp__json_free(fj);
    npy_free(&ids);
    llama_runner_free(r);
    tokenizer_free(tok);
    llama_model_free(model);
    return rc;
}

/* Runs one case; returns 1 when it passes, 0 with the reason in why when it fails, -1 when it
 * needs a model whose folder (--models) does not exist. *margin gets the largest score error
 * as a fraction of its tolerance (0 without reference scores). */
static int run_case(kvp_context *ctx, const char *dir, const char *models, wide_cache *wide,
                    char *why, size_t why_size, double *margin) {
    *margin = 0;
    char path[4200], err[512] = "";
    snprintf(path, sizeof path, "%s/press.json", dir);
    kvp_json *spec = kvp__json_parse_file(path, err, sizeof err);
    if (!spec) {
        snprintf(why, why_size, "%s", err);
        return 0;
    }
    /* an artefact a case names lies beside its press.json */
    press_artefacts *artefacts = press_artefacts_create(dir);
    kvp_press *press = artefacts ? press_from_json(spec, artefacts, err, sizeof err) : NULL;
    if (!press) {
        snprintf(why, why_size, "%s", artefacts ? err : "out of memory");
        press_artefacts_free(artefacts);
        kvp__json_free(spec);
        return 0;
    }
    layer_inputs li;
    int pass = 0;
    kvp_cache *cache = NULL;
    kvp_inputs *in = NULL;
    float *scores = NULL;
    unsigned char *mine = NULL;
    npy_array ref_scores = {0}, ref_kept = {0}, ref_mask = {0}, ref_rows[2] = {{0}, {0}};
    if (load_inputs(dir, &li, err, sizeof err)) {
        snprintf(why, why_size, "%s", err);
        goto done;
    }
    int Hk = li.n_kv_heads, d = li.head_dim;
    if (Hk > 256) {
        snprintf(why, why_size, "more than 256 kv heads");
        goto done;
    }
    int64_t n = li.keys.shape[1];
    kvp_cache_options co = {.n_layers = li.n_layers, .n_kv_heads = Hk, .head_dim = d,
                            .capacity = n, .dtype = KVP_DTYPE_F32};
    kvp_tensor kt = kvp_tensor_host(KVP_DTYPE_F32, li.keys.data, 3, Hk, n, d);
    kvp_tensor vt = kvp_tensor_host(KVP_DTYPE_F32, li.values.data, 3, Hk, n, d);
    kvp_tensor qt = kvp_tensor_host(KVP_DTYPE_F32, li.queries.data, 3, li.n_heads,
                                    li.queries.shape[1], d);
    kvp_tensor ht = kvp_tensor_host(KVP_DTYPE_F32, li.hidden.data, 2, li.hidden.shape[0],
                                    li.hidden.shape[1], 1);
    kvp_tensor wt = kvp_tensor_host(KVP_DTYPE_F32, li.wo.data, 2, li.wo.shape[0], li.wo.shape[1], 1);
    kvp_rope rope;
    kvp_rope_init(&rope, d);
    rope.theta = li.rope_theta;
    kvp_status st = kvp_cache_create(ctx, &co, &cache);
    if (!st) st = kvp_cache_append(cache, li.layer, &kt, &vt, 0);
    if (!st) st = kvp_inputs_create(ctx, &in);
    if (!st) st = kvp_inputs_set_queries(in, &qt, 0);
    if (!st) st = kvp_inputs_set_hidden(in, &ht, 0);
    if (!st) st = kvp_inputs_set_wo(in, &wt);
    if (!st) st = kvp_inputs_set_rope(in, &rope);
    if (!st && li.keys_prerope.data) {
        kvp_tensor pk = kvp_tensor_host(KVP_DTYPE_F32, li.keys_prerope.data, 3,
                                        li.keys_prerope.shape[0], li.keys_prerope.shape[1],
                                        li.keys_prerope.shape[2]);
        st = kvp_inputs_set_keys(in, &pk, 0);
    }
    if (st) {
        snprintf(why, why_size, "setup: %s: %s", kvp_status_name(st), kvp_context_last_error(ctx));
        goto done;
    }
    size_t count = (size_t)Hk * (size_t)n;
    scores = malloc(count * sizeof(float));
    mine = calloc(count, 1);
    if (!scores || !mine) {
        snprintf(why, why_size, "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/scores.npy", dir);
    int has_scores = is_file(path);
    int wide_press = model_wide(press);
    int forward = (kvp_press_get_info(press)->needs & KVP_NEED_FORWARD) != 0;
    if (has_scores) {
        if (npy_load(path, &ref_scores, err, sizeof err) || ref_scores.type != NPY_F32 ||
            ref_scores.count != (int64_t)count) {
            snprintf(why, why_size, "scores.npy: %s", err[0] ? err : "unexpected shape or type");
            goto done;
        }
    }
    /* presses that run the model score inside kvp_compress_all: only their kept sets compare */
    if (has_scores && !forward) {
        st = kvp_press_score(ctx, press, cache, li.layer, in, scores);
        if (st) {
            snprintf(why, why_size, "score: %s: %s", kvp_status_name(st), kvp_context_last_error(ctx));
            goto done;
        }
        const float *ref = ref_scores.data;
        for (int j = 0; j < Hk; j++) {
            double maxabs = 0;
            for (int64_t t = 0; t < n; t++) maxabs = fmax(maxabs, fabs(ref[(size_t)j * n + t]));
            for (int64_t t = 0; t < n; t++) {
                double r = ref[(size_t)j * n + t], m = scores[(size_t)j * n + t];
                double tol = 1e-5 * maxabs + 1e-3 * fabs(r);
                if (tol > 0 && fabs(m - r) / tol > *margin) *margin = fabs(m - r) / tol;
                if (!(fabs(m - r) <= tol)) {
                    snprintf(why, why_size, "score of head %d token %lld: %.8g, reference %.8g", j,
                             (long long)t, m, r);
                    goto done;
                }
            }
        }
    }
    int64_t lengths[256];
    if (wide_press && wide_lookup(wide, dir, &li, mine, lengths)) {
        /* this window and configuration already ran on every layer */
    } else if (forward) {
        if (models && !is_dir(models)) { /* shared models absent (a clone without ../shared) */
            snprintf(why, why_size, "no models folder %s", models);
            pass = -1;
            goto done;
        }
        if (run_with_model(ctx, press, spec, dir, models, &li, wide, mine, lengths, why, why_size))
            goto done;
    } else if (wide_press) {
        if (run_all_layers(ctx, press, dir, &li, &rope, wide, mine, lengths, why, why_size)) goto done;
    } else {
        st = kvp_compress(ctx, press, cache, li.layer, in);
        if (st) {
            snprintf(why, why_size, "compress: %s: %s", kvp_status_name(st), kvp_context_last_error(ctx));
            goto done;
        }
        if (read_kept(cache, li.layer, Hk, n, mine, lengths, why, why_size)) goto done;
    }
    /* presses that change the kept keys or values: the reference rows */
    const char *row_files[2] = {"keys", "values"};
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, row_files[w]);
        if (!is_file(path)) continue;
        if (npy_load(path, &ref_rows[w], err, sizeof err) || ref_rows[w].type != NPY_F32 ||
            ref_rows[w].ndim != 3 || ref_rows[w].shape[0] != Hk || ref_rows[w].shape[2] != d) {
            snprintf(why, why_size, "%s.npy: %s", row_files[w], err[0] ? err : "unexpected shape or type");
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/kept.npy", dir);
    if (is_file(path) && (npy_load(path, &ref_kept, err, sizeof err) || ref_kept.type != NPY_I32 ||
                          ref_kept.ndim != 2 || ref_kept.shape[0] != Hk)) {
        snprintf(why, why_size, "kept.npy: %s", err[0] ? err : "unexpected shape or type");
        goto done;
    }
    /* keys changed and not values, tokens evicted: the keys were re-rotated, the positions
     * rewritten (a press that keeps every token and edits keys, ThinK, keeps its positions) */
    int all_kept = 1;
    for (int j = 0; j < Hk; j++) all_kept &= lengths[j] == n;
    if (ref_rows[0].data && !ref_rows[1].data && !all_kept &&
        !(ref_kept.data && same_rows_as_reference(cache, li.layer, &li, n, ref_kept.data,
                                                  ref_kept.shape[1], mine)) &&
        !kept_by_rows(cache, li.layer, &li, n, mine, why, why_size))
        goto done;

    if (ref_kept.data) {
        int64_t n_kept = ref_kept.shape[1];
        for (int j = 0; j < Hk; j++) {
            if (lengths[j] != n_kept) {
                snprintf(why, why_size, "head %d kept %lld tokens, reference %lld", j,
                         (long long)lengths[j], (long long)n_kept);
                goto done;
            }
            if (has_scores) {
                if (!check_sets_by_scores((const float *)ref_scores.data + (size_t)j * n,
                                          mine + (size_t)j * n, 1, n, n_kept, why, why_size))
                    goto done;
            } else {
                const int32_t *rk = (const int32_t *)ref_kept.data + (size_t)j * n_kept;
                for (int64_t k = 0; k < n_kept; k++)
                    if (rk[k] < 0 || rk[k] >= n || !mine[(size_t)j * n + rk[k]]) {
                        snprintf(why, why_size, "head %d: reference keeps token %d, not kept", j, rk[k]);
                        goto done;
                    }
            }
        }
        int same = 1; /* the rows compare only where the kept sets are the reference's */
        for (int j = 0; j < Hk && same; j++) {
            const int32_t *rk = (const int32_t *)ref_kept.data + (size_t)j * n_kept;
            for (int64_t k = 0; k < n_kept && same; k++)
                same = rk[k] >= 0 && rk[k] < n && mine[(size_t)j * n + rk[k]];
        }
        for (int w = 0; w < 2 && same; w++) {
            if (!ref_rows[w].data) continue;
            if (ref_rows[w].shape[1] != n_kept) {
                snprintf(why, why_size, "%s.npy holds %lld rows per head, kept.npy %lld", row_files[w],
                         (long long)ref_rows[w].shape[1], (long long)n_kept);
                goto done;
            }
            if (!check_rows(cache, li.layer, w, Hk, n_kept, d, ref_rows[w].data, why, why_size))
                goto done;
        }
        pass = 1;
        goto done;
    }
    snprintf(path, sizeof path, "%s/mask.npy", dir);
    if (is_file(path)) {
        if (npy_load(path, &ref_mask, err, sizeof err) || ref_mask.type != NPY_U8 ||
            ref_mask.count != (int64_t)count) {
            snprintf(why, why_size, "mask.npy: %s", err[0] ? err : "unexpected shape or type");
            goto done;
        }
        const unsigned char *rm = ref_mask.data;
        int64_t ref_total = 0, mine_total = 0, agree = 0;
        for (size_t i = 0; i < count; i++) {
            ref_total += rm[i] != 0;
            mine_total += mine[i];
            agree += rm[i] && mine[i];
        }
        if (has_scores) {
            pass = mine_total == ref_total &&
                   check_sets_by_scores(ref_scores.data, mine, Hk, n, ref_total, why, why_size);
        } else if (mine_total != ref_total) {
            snprintf(why, why_size, "kept %lld entries in the layer, reference %lld",
                     (long long)mine_total, (long long)ref_total);
        } else if (agree < 0.99 * (double)ref_total) {
            snprintf(why, why_size, "%.2f%% of the kept positions agree (need 99%%)",
                     100.0 * (double)agree / (double)(ref_total ? ref_total : 1));
        } else {
            pass = 1;
        }
        goto done;
    }
    snprintf(why, why_size, "no kept.npy or mask.npy");
done:
    npy_free(&ref_rows[0]);
    npy_free(&ref_rows[1]);
    npy_free(&ref_scores);
    npy_free(&ref_kept);
    npy_free(&ref_mask);
    free(scores);
    free(mine);
    kvp_inputs_destroy(in);
    kvp_cache_destroy(cache);
    inputs_free(&li);
    kvp_press_destroy(press);
    press_artefacts_free(artefacts); /* after the press that references them */
    kvp__json_free(spec);
    return pass;
}

static void verify_usage(void) {
    fprintf(stderr, "usage: kvpress-tool verify DIR [--backend NAME|all] [--models DIR] [-v]\n"
                    "  --models: where the models named by cases that run the model are\n");
}

int tool_verify(int argc, char **argv) {
    const char *dir = NULL, *backend = "cpu", *models = NULL;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
        else if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            verbose = 1;
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            verify_usage();
            return 2;
        }
    }
    if (!dir) {
        verify_usage();
        return 2;
    }
    case_list cases = {.count = 0};
    find_cases(dir, &cases, 0);
    if (cases.count == 0) {
        fprintf(stderr, "kvpress-tool verify: no case (folder with press.json) under %s\n", dir);
        return 2;
    }
    qsort(cases.paths, (size_t)cases.count, sizeof(char *), cmp_str);
    const char *names[16];
    int nd = tool_devices(backend, names, 16);
    if (nd == 0) {
        fprintf(stderr, "kvpress-tool verify: no device for backend '%s' (see kvpress-tool info)\n",
                backend);
        return 2;
    }
    int total_pass = 0, total_fail = 0, skipped = 0;
    for (int k = 0; k < nd; k++) {
        kvp_context *ctx = tool_open(names[k]);
        if (!ctx) {
            total_fail += cases.count;
            continue;
        }
        int pass = 0, fail = 0;
        wide_cache wide = {NULL, 0};
        for (int c = 0; c < cases.count; c++) {
            char why[1024] = "";
            const char *rel = cases.paths[c] + strlen(dir);
            while (*rel == '/') rel++;
            double margin = 0;
            int result = run_case(ctx, cases.paths[c], models, &wide, why, sizeof why, &margin);
            if (result < 0) {
                skipped++;
                if (verbose) printf("[%s] SKIP %s: %s\n", names[k], rel, why);
            } else if (result) {
                pass++;
                if (verbose)
                    printf("[%s] PASS %s (worst score error %.2f of its tolerance)\n", names[k], rel,
                           margin);
            } else {
                fail++;
                printf("[%s] FAIL %s: %s\n", names[k], rel, why);
            }
        }
        wide_cache_free(&wide);
        if (nd > 1) printf("%s: %d passed, %d failed\n", names[k], pass, fail);
        total_pass += pass;
        total_fail += fail;
        kvp_context_destroy(ctx);
    }
    for (int c = 0; c < cases.count; c++) free(cases.paths[c]);
    if (skipped)
        printf("%d skipped: they run the model, and the --models folder %s does not exist\n",
               skipped, models);
    printf("%d passed, %d failed\n", total_pass, total_fail);
    return total_fail ? 1 : 0;
}
