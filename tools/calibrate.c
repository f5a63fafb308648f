/* kvpress-tool calibrate: writes the CompressKV artefact of a model (README, "CompressKV").
 *
 *   procedure A (--stage heads): semantic-retrieval heads from needle trials
 *                                (calibrate_heads.c) -> head_scores, head_ranking;
 *   procedure B (--stage profile): the layer eviction-error profile under a tiny uniform
 *                                budget (calibrate_profile.c) -> layer_errors, layer_profile;
 *   --stage all (default): A, then B with A's ranking.
 * --stage profile takes the ranking of an existing artefact (--heads FILE) and writes it
 * again with the profile. Everything is deterministic: the same model, text and options give
 * the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "core/presses/compresskv.h"
#include "model_cli.h"
#include "safetensors.h"
#include "tool.h"

typedef struct calib_args {
    const char *model, *tokenizer, *text, *out, *heads, *backend, *stage;
    const char *from_reference, *layer_scores;
    long long skip, n_kv_heads;
    int verbose;
    heads_options h;
    profile_options p;
} calib_args;

static void calib_usage(FILE *f) {
    fprintf(f,
            "usage: kvpress-tool calibrate -m MODEL --text FILE -o OUT.safetensors\n"
            "         [--tokenizer tok.bin] [--backend NAME] [--stage all|heads|profile]\n"
            "         [--heads ARTEFACT] [--skip-tokens N] [-v]\n"
            "  semantic-retrieval heads (procedure A):\n"
            "         [--lengths N,N,...] [--depths N] [--decode forced|greedy]\n"
            "         [--span-count indicator|multiplicity] [--max-new-tokens N]\n"
            "  layer error profile (procedure B):\n"
            "         [--profile-lengths N,N,...] [--profile-prompts N] [--profile-generate N]\n"
            "         [--profile-budget N] [--window N] [--kernel N] [--selection-heads N]\n"
            "         [--epsilon X]\n"
            "  --text: held-out text the needles' haystacks and the profile's prompts come from;\n"
            "          --skip-tokens leaves its first N tokens out (e.g. the evaluation windows)\n"
            "  --stage profile needs --heads: an artefact whose ranking the profile uses\n"
            "       kvpress-tool calibrate --from-reference HEAD_IDX.json [--layer-scores FILE]\n"
            "         [--n-kv-heads N] -o OUT.safetensors\n"
            "  converts the CompressKV repository's files (<model>_head_idx.json and\n"
            "  <model>_layer_score.jsonl) of a model calibrated there\n"
            "  defaults (scaled to a 512-token model): lengths 128..448 (8), depths 10, forced\n"
            "  decoding, indicator span count; profile prompts 128,256,384 x 8, 32 generated\n"
            "  tokens, budget 32, window 8, kernel 5, 4 selection heads, epsilon 1e-5\n");
}

static int parse_list(const char *opt, const char *s, int *out, int *count) {
    *count = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 20 || *count == CALIB_MAX_LIST || (*end && *end != ',')) {
            fprintf(stderr, "kvpress-tool calibrate: %s expects up to %d positive integers "
                    "separated by commas\n", opt, CALIB_MAX_LIST);
            return -1;
        }
        out[(*count)++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return *count ? 0 : -1;
}

static int parse_args(int argc, char **argv, calib_args *a) {
    memset(a, 0, sizeof *a);
    a->backend = "cpu";
    a->stage = "all";
    int default_lengths[] = {128, 174, 219, 265, 311, 357, 402, 448};
    memcpy(a->h.lengths, default_lengths, sizeof default_lengths);
    a->h.n_lengths = 8;
    a->h.n_depths = 10;
    a->h.max_new_tokens = 32;
    a->p.lengths[0] = 128, a->p.lengths[1] = 256, a->p.lengths[2] = 384;
    a->p.n_groups = 3;
    a->p.prompts = 8;
    a->p.generate = 32;
    a->p.budget = 32;
    a->p.window = 8;
    a->p.kernel = 5;
    a->p.selection_heads = 4;
    a->p.epsilon = 1e-5;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            calib_usage(stdout);
            return 1;
        }
        if (!strcmp(o, "-v")) {
            a->verbose = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "kvpress-tool calibrate: %s needs a value\n", o);
            return -1;
        }
        long long x;
        double d;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "--tokenizer")) a->tokenizer = v;
        else if (!strcmp(o, "--text")) a->text = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--output")) a->out = v;
        else if (!strcmp(o, "--heads")) a->heads = v;
        else if (!strcmp(o, "--from-reference")) a->from_reference = v;
        else if (!strcmp(o, "--layer-scores")) a->layer_scores = v;
        else if (!strcmp(o, "--n-kv-heads")) {
            if (cli_parse_int(o, v, 1, KVP_COMPRESSKV_MAX_HEADS, &a->n_kv_heads)) return -1;
        }
        else if (!strcmp(o, "--backend")) a->backend = v;
        else if (!strcmp(o, "--stage")) a->stage = v;
        else if (!strcmp(o, "--skip-tokens")) {
            if (cli_parse_int(o, v, 0, 1 << 30, &a->skip)) return -1;
        } else if (!strcmp(o, "--lengths")) {
            if (parse_list(o, v, a->h.lengths, &a->h.n_lengths)) return -1;
        } else if (!strcmp(o, "--depths")) {
            if (cli_parse_int(o, v, 1, 101, &x)) return -1;
            a->h.n_depths = (int)x;
        } else if (!strcmp(o, "--decode")) {
            if (strcmp(v, "forced") && strcmp(v, "greedy")) {
                fprintf(stderr, "kvpress-tool calibrate: --decode is forced or greedy\n");
                return -1;
            }
            a->h.greedy = !strcmp(v, "greedy");
        } else if (!strcmp(o, "--span-count")) {
            if (strcmp(v, "indicator") && strcmp(v, "multiplicity")) {
                fprintf(stderr, "kvpress-tool calibrate: --span-count is indicator or multiplicity\n");
                return -1;
            }
            a->h.multiplicity = !strcmp(v, "multiplicity");
        } else if (!strcmp(o, "--max-new-tokens")) {
            if (cli_parse_int(o, v, 1, 4096, &x)) return -1;
            a->h.max_new_tokens = (int)x;
        } else if (!strcmp(o, "--profile-lengths")) {
            if (parse_list(o, v, a->p.lengths, &a->p.n_groups)) return -1;
        } else if (!strcmp(o, "--profile-prompts")) {
            if (cli_parse_int(o, v, 1, 100000, &x)) return -1;
            a->p.prompts = (int)x;
        } else if (!strcmp(o, "--profile-generate")) {
            if (cli_parse_int(o, v, 1, 100000, &x)) return -1;
            a->p.generate = (int)x;
        } else if (!strcmp(o, "--profile-budget")) {
            if (cli_parse_int(o, v, 1, 1 << 20, &x)) return -1;
            a->p.budget = (int)x;
        } else if (!strcmp(o, "--window")) {
            if (cli_parse_int(o, v, 1, 1 << 20, &x)) return -1;
            a->p.window = (int)x;
        } else if (!strcmp(o, "--kernel")) {
            if (cli_parse_int(o, v, 1, 1 << 20, &x)) return -1;
            a->p.kernel = (int)x;
        } else if (!strcmp(o, "--selection-heads")) {
            if (cli_parse_int(o, v, 1, KVP_COMPRESSKV_MAX_HEADS, &x)) return -1;
            a->p.selection_heads = (int)x;
        } else if (!strcmp(o, "--epsilon")) {
            if (cli_parse_double(o, v, 0, 1, &d)) return -1;
            a->p.epsilon = d;
        } else {
            fprintf(stderr, "kvpress-tool calibrate: unknown option %s\n", o);
            return -1;
        }
    }
    if (a->from_reference || a->layer_scores || a->n_kv_heads) {
        if (!a->from_reference || !a->out || a->model || a->text) {
            fprintf(stderr, "kvpress-tool calibrate: --from-reference HEAD_IDX.json and -o convert "
                    "(no -m, no --text); --layer-scores and --n-kv-heads go with them\n");
            return -1;
        }
        return 0;
    }
    if (!a->model || !a->text || !a->out) {
        fprintf(stderr, "kvpress-tool calibrate: -m, --text and -o are required\n");
        return -1;
    }
    if (strcmp(a->stage, "all") && strcmp(a->stage, "heads") && strcmp(a->stage, "profile")) {
        fprintf(stderr, "kvpress-tool calibrate: --stage is all, heads or profile\n");
        return -1;
    }
    if (!strcmp(a->stage, "profile") != (a->heads != NULL)) {
        fprintf(stderr, "kvpress-tool calibrate: --heads ARTEFACT goes with --stage profile\n");
        return -1;
    }
    return 0;
}

/* ---- artefacts ---------------------------------------------------------------------------- */

/* Reads the ranking (and scores, when present) of --heads into [L, Hq] arrays, after checking
 * that it is a valid CompressKV artefact of this model. */
static int load_heads(const char *path, const llama_model *m, float *ranking, float *scores,
                      int *has_scores, char *err, size_t err_size) {
    kvp_artefact *a = NULL;
    kvp_press *p = NULL;
    kvp_status st = kvp_artefact_load(path, &a);
    if (!st) st = kvp_press_create("compresskv", &p);
    if (!st) st = kvp_press_set_artefact(p, a);
    kvp_tensor t;
    if (!st) st = kvp_artefact_get(a, KVP_COMPRESSKV_RANKING, &t);
    const llama_config *c = &m->cfg;
    int rc = -1;
    if (st) {
        snprintf(err, err_size, "--heads %s: %s", path, kvp_last_error());
    } else if (t.shape[0] != c->n_layers || t.shape[1] != c->n_heads) {
        snprintf(err, err_size, "--heads %s ranks %lld layers x %lld heads; the model has %d x %d",
                 path, (long long)t.shape[0], (long long)t.shape[1], c->n_layers, c->n_heads);
    } else {
        size_t count = (size_t)c->n_layers * (size_t)c->n_heads;
        kvp_convert(t.dtype, t.data, KVP_DTYPE_F32, ranking, count);
        *has_scores = kvp_artefact_get(a, KVP_COMPRESSKV_SCORES, &t) == KVP_OK;
        if (*has_scores) kvp_convert(t.dtype, t.data, KVP_DTYPE_F32, scores, count);
        rc = 0;
    }
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
    return rc;
}

static void list_text(const int *v, int n, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? "," : "", v[i]);
}

static int write_artefact(const calib_args *a, const llama_model *m, const float *ranking,
                          const float *scores, const heads_result *hr, const profile_result *pr,
                          char *err, size_t err_size) {
    const llama_config *c = &m->cfg;
    st_writer *w = st_writer_create();
    if (!w) {
        snprintf(err, err_size, "calibrate: out of memory");
        return -1;
    }
    char buf[1024];
    int rc = calibrate_add_tensors(w, m, ranking, pr ? pr->profile : NULL, err, err_size);
    int64_t ss[2] = {c->n_layers, c->n_heads};
    if (!rc && scores) rc = st_writer_add_f32(w, KVP_COMPRESSKV_SCORES, 2, ss, scores, err, err_size);
    if (!rc && pr) {
        int64_t es[2] = {a->p.n_groups, c->n_layers};
        rc = st_writer_add_f32(w, KVP_COMPRESSKV_ERRORS, 2, es, pr->errors, err, err_size);
    }
#define META(key, ...)                                                                       \
    do {                                                                                     \
        snprintf(buf, sizeof buf, __VA_ARGS__);                                              \
        if (!rc) rc = st_writer_add_meta(w, key, buf, err, err_size);                        \
    } while (0)
    META("model", "%s", calibrate_base_name(a->model));
    META("model_fingerprint", "%016llx", (unsigned long long)llama_model_fingerprint(m));
    META("n_layers", "%d", c->n_layers);
    META("n_heads", "%d", c->n_heads);
    META("head_dim", "%d", c->head_dim);
    META("text", "%s", calibrate_base_name(a->text));
    META("text_skip_tokens", "%lld", a->skip);
    META("tool", "kvpress-tool calibrate %s", KVP_VERSION_STRING);
    if (hr) {
        META("srh_needles", "%s", calibrate_needles_text());
        list_text(a->h.lengths, a->h.n_lengths, buf, sizeof buf);
        if (!rc) rc = st_writer_add_meta(w, "srh_lengths", buf, err, err_size);
        META("srh_depths", "%d", a->h.n_depths);
        META("srh_decode", "%s", a->h.greedy ? "greedy, ROUGE-1 recall > 0.5" : "forced");
        if (a->h.greedy) META("srh_max_new_tokens", "%d", a->h.max_new_tokens);
        META("srh_span_count", "%s", a->h.multiplicity ? "multiplicity" : "indicator");
        META("srh_trials", "%d", hr->trials);
        META("srh_counted", "%d", hr->counted);
    } else {
        META("srh_source", "%s", calibrate_base_name(a->heads));
    }
    if (pr) {
        list_text(a->p.lengths, a->p.n_groups, buf, sizeof buf);
        if (!rc) rc = st_writer_add_meta(w, "profile_lengths", buf, err, err_size);
        META("profile_prompts", "%d", a->p.prompts);
        META("profile_generate", "%d", a->p.generate);
        META("profile_budget", "%d", a->p.budget);
        META("profile_window", "%d", a->p.window);
        META("profile_kernel", "%d", a->p.kernel);
        META("profile_selection_heads", "%d", a->p.selection_heads);
        META("profile_epsilon", "%g", a->p.epsilon);
        META("profile_steps", "%d", pr->steps);
    }
#undef META
    if (!rc) rc = st_writer_save(w, a->out, err, err_size);
    st_writer_free(w);
    return rc;
}

/* ---- the summary ------------------------------------------------------------------------- */

static void print_summary(const llama_model *m, const float *ranking, const float *scores,
                          const profile_result *pr, int k) {
    const llama_config *c = &m->cfg;
    int L = c->n_layers, Hq = c->n_heads;
    printf("layer  SRH ranking (score)%*s", Hq > 4 ? 4 * Hq - 12 : 8, "");
    if (pr) printf("profile");
    printf("\n");
    for (int l = 0; l < L; l++) {
        printf("%5d ", l);
        for (int i = 0; i < Hq; i++) {
            int h = (int)ranking[(size_t)l * Hq + i];
            printf(" %s%d", i == k ? "| " : "", h);
            if (scores && i < k) printf("(%.3f)", scores[(size_t)l * Hq + h]);
        }
        if (pr) printf("   %.4f", pr->profile[l]);
        printf("\n");
    }
    if (!pr || L > KVP_COMPRESSKV_MAX_LAYERS) return;
    /* the budgets the press derives at the evaluation's context of 384 tokens */
    double e[KVP_COMPRESSKV_MAX_LAYERS];
    for (int l = 0; l < L; l++) e[l] = pr->profile[l];
    static const double ratios[3] = {0.25, 0.5, 0.75};
    for (int i = 0; i < 3; i++) {
        int64_t B = kvp_n_keep(384, ratios[i]), b[KVP_COMPRESSKV_MAX_LAYERS];
        if (kvp__compresskv_budgets(e, L, B, B < 32 ? B : 32, 3 * B < 384 ? 3 * B : 384, b))
            continue;
        printf("budgets at n = 384, ratio %.2f (B = %lld):", ratios[i], (long long)B);
        for (int l = 0; l < L; l++) printf(" %lld", (long long)b[l]);
        printf("\n");
    }
}

/* ---- the command --------------------------------------------------------------------------- */

static int read_text_tokens(const char *path, const tokenizer *tok, long long skip,
                            int32_t **ids, int *n) {
    uint8_t *data;
    size_t size;
    char err[512];
    if (read_file(path, (size_t)1 << 28, &data, &size, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool calibrate: %s\n", err);
        return -1;
    }
    char *s = malloc(size + 1);
    if (!s) {
        free(data);
        return -1;
    }
    memcpy(s, data, size);
    s[size] = 0;
    free(data);
    int rc = strlen(s) != size ? -1 : tokenizer_encode(tok, s, 0, 0, ids, n, err, sizeof err);
    free(s);
    if (rc) {
        fprintf(stderr, "kvpress-tool calibrate: %s: %s\n", path,
                strlen(err) ? err : "the text contains NUL bytes");
        return -1;
    }
    if (skip >= *n) {
        fprintf(stderr, "kvpress-tool calibrate: --skip-tokens %lld leaves nothing of the %d tokens "
                "of %s\n", skip, *n, path);
        free(*ids);
        return -1;
    }
    memmove(*ids, *ids + skip, sizeof(int32_t) * (size_t)(*n - skip));
    *n -= (int)skip;
    return 0;
}

int tool_calibrate(int argc, char **argv) {
    calib_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        if (rc < 0) calib_usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    char err[512] = "";
    if (a.from_reference) {
        if (!calibrate_convert(a.from_reference, a.layer_scores, (int)a.n_kv_heads, a.out, err,
                               sizeof err))
            return 0;
        fprintf(stderr, "kvpress-tool %s\n", err);
        return 1;
    }
    llama_model *model = NULL;
    tokenizer *tok = NULL;
    int tok_owned = 0, status = 1, has_scores = 0;
    int32_t *text = NULL;
    int n_text = 0;
    kvp_context *ctx = NULL;
    float *ranking = NULL, *scores = NULL;
    heads_result hr = {0};
    profile_result pr = {0};
    if (cli_open_model(a.model, a.tokenizer, 1, &model, &tok, &tok_owned)) goto done;
    if (read_text_tokens(a.text, tok, a.skip, &text, &n_text)) goto done;
    const llama_config *c = &model->cfg;
    size_t count = (size_t)c->n_layers * (size_t)c->n_heads;
    ranking = malloc(sizeof(float) * count);
    scores = malloc(sizeof(float) * count);
    if (!ranking || !scores) goto done;
    if (!(ctx = tool_open(a.backend))) goto done;
    calib_env env = {.model = model, .tok = tok, .ctx = ctx, .text = text,
                     .n_text = n_text, .heads_tokens = calibrate_heads_text_tokens(&a.h),
                     .verbose = a.verbose};
    int do_heads = strcmp(a.stage, "profile") != 0, do_profile = strcmp(a.stage, "heads") != 0;
    double t0 = tool_now();
    if (do_heads) {
        if (calibrate_heads(&env, &a.h, &hr, err, sizeof err)) goto fail;
        memcpy(ranking, hr.ranking, sizeof(float) * count);
        memcpy(scores, hr.scores, sizeof(float) * count);
        has_scores = 1;
        fprintf(stderr, "calibrate: semantic-retrieval heads from %d trials (%d counted) in %.2f s\n",
                hr.trials, hr.counted, tool_now() - t0);
    } else if (load_heads(a.heads, model, ranking, scores, &has_scores, err, sizeof err)) {
        goto fail;
    }
    double t1 = tool_now();
    if (do_profile) {
        if (a.p.selection_heads > c->n_heads) {
            snprintf(err, sizeof err, "calibrate: --selection-heads %d exceeds the model's %d heads",
                     a.p.selection_heads, c->n_heads);
            goto fail;
        }
        if (calibrate_profile(&env, ranking, &a.p, &pr, err, sizeof err)) goto fail;
        fprintf(stderr, "calibrate: layer error profile from %d decode steps in %.2f s\n", pr.steps,
                tool_now() - t1);
    }
    if (write_artefact(&a, model, ranking, has_scores ? scores : NULL, do_heads ? &hr : NULL,
                       do_profile ? &pr : NULL, err, sizeof err))
        goto fail;
    print_summary(model, ranking, has_scores ? scores : NULL, do_profile ? &pr : NULL,
                  a.p.selection_heads);
    printf("wrote %s\n", a.out);
    status = 0;
    goto done;
fail:
    /* the procedures' messages start with "calibrate: " already */
    fprintf(stderr, "kvpress-tool %s%s\n", strncmp(err, "calibrate: ", 11) ? "calibrate: " : "", err);
done:
    heads_result_free(&hr);
    profile_result_free(&pr);
    free(ranking);
    free(scores);
    free(text);
    kvp_context_destroy(ctx);
    if (tok_owned) tokenizer_free(tok);
    llama_model_free(model);
    return status;
}
