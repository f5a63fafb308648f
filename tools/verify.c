/* kvpress-tool verify: runs every case of a directory in the format of the NVIDIA kvpress
 * reference vectors (golden/README.md) and compares with exactly the rules written there:
 *  - scores: |mine - ref| <= 1e-5 max|ref| + 1e-3 |ref| elementwise, max over a kv head's row;
 *  - kept sets: b = the n_kept-th largest reference score of the head,
 *    tol = 1e-5 max|ref| + 1e-3 |b|; kept tokens need ref >= b - tol, evicted ref <= b + tol;
 *    without reference scores the sets must be identical;
 *  - masks (head-wise): the same rule over the whole layer with the wrapped press's reference
 *    scores, or, where those are not given, at least 99% of the kept positions agree. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "npy.h"
#include "press_json.h"
#include "tool.h"

#define MAX_CASES 4096

typedef struct case_list {
    char *paths[MAX_CASES];
    int count;
} case_list;

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
    int n_heads, n_kv_heads, head_dim, n_layers, layer;
    double rope_theta;
} layer_inputs;

static void inputs_free(layer_inputs *li) {
    npy_free(&li->keys);
    npy_free(&li->values);
    npy_free(&li->queries);
    npy_free(&li->hidden);
    npy_free(&li->wo);
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

/* Runs one case; returns 1 when it passes, with the reason in why otherwise. */
static int run_case(kvp_context *ctx, const char *dir, char *why, size_t why_size) {
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
    kvp__json_free(spec);
    if (!press) {
        snprintf(why, why_size, "%s", artefacts ? err : "out of memory");
        press_artefacts_free(artefacts);
        return 0;
    }
    layer_inputs li;
    int pass = 0;
    kvp_cache *cache = NULL;
    kvp_inputs *in = NULL;
    float *scores = NULL;
    unsigned char *mine = NULL;
    npy_array ref_scores = {0}, ref_kept = {0}, ref_mask = {0};
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
    if (has_scores) {
        if (npy_load(path, &ref_scores, err, sizeof err) || ref_scores.type != NPY_F32 ||
            ref_scores.count != (int64_t)count) {
            snprintf(why, why_size, "scores.npy: %s", err[0] ? err : "unexpected shape or type");
            goto done;
        }
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
                if (!(fabs(m - r) <= 1e-5 * maxabs + 1e-3 * fabs(r))) {
                    snprintf(why, why_size, "score of head %d token %lld: %.8g, reference %.8g", j,
                             (long long)t, m, r);
                    goto done;
                }
            }
        }
    }
    st = kvp_compress(ctx, press, cache, li.layer, in);
    if (st) {
        snprintf(why, why_size, "compress: %s: %s", kvp_status_name(st), kvp_context_last_error(ctx));
        goto done;
    }
    int64_t lengths[256];
    int32_t *positions = malloc((size_t)n * sizeof(int32_t));
    kvp_cache_get_lengths(cache, li.layer, lengths);
    for (int j = 0; positions && j < Hk; j++) {
        kvp_cache_read(cache, li.layer, j, NULL, NULL, positions);
        for (int64_t t = 0; t < lengths[j]; t++) mine[(size_t)j * n + positions[t]] = 1;
    }
    free(positions);

    snprintf(path, sizeof path, "%s/kept.npy", dir);
    if (is_file(path)) {
        if (npy_load(path, &ref_kept, err, sizeof err) || ref_kept.type != NPY_I32 ||
            ref_kept.ndim != 2 || ref_kept.shape[0] != Hk) {
            snprintf(why, why_size, "kept.npy: %s", err[0] ? err : "unexpected shape or type");
            goto done;
        }
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
    npy_free(&ref_scores);
    npy_free(&ref_kept);
    npy_free(&ref_mask);
    free(scores);
    free(mine);
    kvp_inputs_destroy(in);
    kvp_cache_destroy(cache);
    inputs_free(&li);
    kvp_press_destroy(press);
    press_artefacts_free(artefacts);
    return pass;
}

static void verify_usage(void) {
    fprintf(stderr, "usage: kvpress-tool verify DIR [--backend NAME|all] [-v]\n");
}

int tool_verify(int argc, char **argv) {
    const char *dir = NULL, *backend = "cpu";
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
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
    int total_pass = 0, total_fail = 0;
    for (int k = 0; k < nd; k++) {
        kvp_context *ctx = tool_open(names[k]);
        if (!ctx) {
            total_fail += cases.count;
            continue;
        }
        int pass = 0, fail = 0;
        for (int c = 0; c < cases.count; c++) {
            char why[1024] = "";
            const char *rel = cases.paths[c] + strlen(dir);
            while (*rel == '/') rel++;
            if (run_case(ctx, cases.paths[c], why, sizeof why)) {
                pass++;
                if (verbose) printf("[%s] PASS %s\n", names[k], rel);
            } else {
                fail++;
                printf("[%s] FAIL %s: %s\n", names[k], rel, why);
            }
        }
        if (nd > 1) printf("%s: %d passed, %d failed\n", names[k], pass, fail);
        total_pass += pass;
        total_fail += fail;
        kvp_context_destroy(ctx);
    }
    for (int c = 0; c < cases.count; c++) free(cases.paths[c]);
    printf("%d passed, %d failed\n", total_pass, total_fail);
    return total_fail ? 1 : 0;
}
