/* kvpress-tool eval: NVIDIA kvpress's end-to-end evaluation (EVAL.md) on a real model.
 *
 * For every window, every suite entry at every ratio (plus the uncompressed model):
 *   1. prefill tokens [0, 384) in one pass, the press compressing each layer's cache right
 *      after that layer's attention;
 *   2. for each task, feed 64 tokens at their true positions 384..447, causal over the
 *      compressed cache: `continue` = tokens [384, 448), `copy` = tokens [128, 192);
 *   3. score the mean cross-entropy of predicting continuation token k+1 from token k.
 * Compression does not change the prefill's own activations, so by default each window is
 * prefilled once with a capture attached and every (press, ratio) replays that prefill: the
 * same kvp_cache_append / kvp_compress calls on the same data, layer by layer, without
 * recomputing the model (--no-prefill-reuse prefills with the press in the forward pass every
 * time; the numbers are identical). Between tasks the cache is cut back to the context
 * (kvp_cache_truncate), which leaves the compressed context as it was.
 * Windows are spread over threads, each with its own context and runner; results land in
 * fixed slots, so they do not depend on the thread count. */
#include "eval.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/runner.h"
#include "model_cli.h"
#include "press_json.h"
#include "tool.h"

const char *eval_task_name(eval_task t) { return t == EVAL_TASK_CONTINUE ? "continue" : "copy"; }

double eval_mean_nll(const eval_data *d, int c, int task) {
    if (d->errors[c][0] || d->n_windows == 0) return NAN;
    double s = 0;
    for (int w = 0; w < d->n_windows; w++)
        s += d->nll[((size_t)c * EVAL_TASK_COUNT + (size_t)task) * (size_t)d->n_windows + (size_t)w];
    return s / d->n_windows;
}

void eval_format_ratio(double ratio, char *buf, size_t size) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, ratio);
        if (strtod(buf, NULL) == ratio) return;
    }
}

/* ---- inputs -------------------------------------------------------------------------------- */

static int load_windows(const char *path, const llama_config *c, eval_data *d) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kvpress-tool eval: cannot open %s\n", path);
        return -1;
    }
    int cap = 0, line = 0, rc = 0;
    char buf[16384];
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (!strchr(buf, '\n') && !feof(f)) {
            fprintf(stderr, "kvpress-tool eval: %s:%d: line too long\n", path, line);
            rc = -1;
            break;
        }
        char *s = buf, *end;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\n' || *s == 0) continue;
        if (d->n_windows == cap) {
            cap = cap ? 2 * cap : 32;
            int32_t *nw = realloc(d->windows, sizeof(int32_t) * EVAL_WINDOW * (size_t)cap);
            if (!nw) {
                rc = -1;
                break;
            }
            d->windows = nw;
        }
        int32_t *w = d->windows + (size_t)d->n_windows * EVAL_WINDOW;
        int n = 0;
        for (;;) {
            long v = strtol(s, &end, 10);
            if (end == s) break;
            if (v < 0 || v >= c->vocab_size || n == EVAL_WINDOW) {
                fprintf(stderr, "kvpress-tool eval: %s:%d: %s\n", path, line,
                        n == EVAL_WINDOW ? "more than 448 tokens" : "token outside the vocabulary");
                rc = -1;
                break;
            }
            w[n++] = (int32_t)v;
            s = end;
        }
        if (rc) break;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (*s || n != EVAL_WINDOW) {
            fprintf(stderr, "kvpress-tool eval: %s:%d: expected %d token ids, got %d%s\n", path,
                    line, EVAL_WINDOW, n, *s ? " and text" : "");
            rc = -1;
            break;
        }
        d->n_windows++;
    }
    fclose(f);
    if (!rc && d->n_windows == 0) {
        fprintf(stderr, "kvpress-tool eval: %s holds no window\n", path);
        rc = -1;
    }
    return rc;
}

/* Windows from raw text: the whole text is encoded once (no BOS), then cut into consecutive
 * chunks of 447 tokens, each given a BOS; a shorter tail is dropped. */
static int text_windows(const char *path, const tokenizer *tok, eval_data *d) {
    uint8_t *text;
    size_t size;
    char err[512];
    if (read_file(path, (size_t)1 << 28, &text, &size, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool eval: %s\n", err);
        return -1;
    }
    char *s = malloc(size + 1);
    if (!s) {
        free(text);
        return -1;
    }
    memcpy(s, text, size);
    s[size] = 0;
    free(text);
    if (strlen(s) != size) {
        fprintf(stderr, "kvpress-tool eval: %s contains NUL bytes\n", path);
        free(s);
        return -1;
    }
    int32_t *ids;
    int n;
    int rc = tokenizer_encode(tok, s, 0, 0, &ids, &n, err, sizeof err);
    free(s);
    if (rc) {
        fprintf(stderr, "kvpress-tool eval: %s\n", err);
        return -1;
    }
    int per = EVAL_WINDOW - 1;
    d->n_windows = n / per;
    if (d->n_windows == 0) {
        fprintf(stderr, "kvpress-tool eval: %s gives %d tokens, fewer than one window\n", path, n);
        free(ids);
        return -1;
    }
    d->windows = malloc(sizeof(int32_t) * EVAL_WINDOW * (size_t)d->n_windows);
    if (!d->windows) {
        free(ids);
        return -1;
    }
    for (int w = 0; w < d->n_windows; w++) {
        d->windows[(size_t)w * EVAL_WINDOW] = tokenizer_bos(tok);
        memcpy(d->windows + (size_t)w * EVAL_WINDOW + 1, ids + (size_t)w * per, sizeof(int32_t) * (size_t)per);
    }
    free(ids);
    return 0;
}

/* Entries of suite.json at each of its ratios, after none@0. */
static int load_suite(const kvp_json *suite, eval_data *d) {
    const kvp_json *ratios = kvp__json_get(suite, "ratios"), *presses = kvp__json_get(suite, "presses");
    const kvp_json *tasks = kvp__json_get(suite, "tasks");
    if (!ratios || ratios->kind != KVP_JSON_ARRAY || !presses || presses->kind != KVP_JSON_OBJECT) {
        fprintf(stderr, "kvpress-tool eval: the suite needs \"ratios\" (array) and \"presses\" (object)\n");
        return -1;
    }
    d->n_tasks = 0;
    if (!tasks) {
        d->tasks[d->n_tasks++] = EVAL_TASK_CONTINUE;
        d->tasks[d->n_tasks++] = EVAL_TASK_COPY;
    }
    for (int i = 0; tasks && i < tasks->count; i++) {
        const kvp_json *t = tasks->items[i];
        int id = t->kind != KVP_JSON_STRING ? -1 : !strcmp(t->string, "continue") ? EVAL_TASK_CONTINUE
                 : !strcmp(t->string, "copy") ? EVAL_TASK_COPY : -1;
        if (id < 0 || d->n_tasks == EVAL_TASK_COUNT) {
            fprintf(stderr, "kvpress-tool eval: unknown or repeated task in the suite (known: "
                    "continue, copy)\n");
            return -1;
        }
        for (int k = 0; k < d->n_tasks; k++)
            if ((int)d->tasks[k] == id) {
                fprintf(stderr, "kvpress-tool eval: task %s repeated\n", eval_task_name((eval_task)id));
                return -1;
            }
        d->tasks[d->n_tasks++] = (eval_task)id;
    }
    d->n_configs = 1 + ratios->count * presses->count;
    d->configs = calloc((size_t)d->n_configs, sizeof *d->configs);
    if (!d->configs) return -1;
    snprintf(d->configs[0].key, sizeof d->configs[0].key, "none@0");
    snprintf(d->configs[0].entry, sizeof d->configs[0].entry, "none");
    int k = 1;
    /* Ratio-major, as the reference file lists them. */
    for (int r = 0; r < ratios->count; r++) {
        const kvp_json *rv = ratios->items[r];
        if (rv->kind != KVP_JSON_NUMBER || !(rv->number >= 0 && rv->number < 1)) {
            fprintf(stderr, "kvpress-tool eval: suite ratio %d is not a number in [0, 1)\n", r);
            return -1;
        }
        for (int p = 0; p < presses->count; p++, k++) {
            eval_config *c = &d->configs[k];
            char rs[32];
            eval_format_ratio(rv->number, rs, sizeof rs);
            snprintf(c->entry, sizeof c->entry, "%s", presses->keys[p]);
            snprintf(c->key, sizeof c->key, "%s@%s", presses->keys[p], rs);
            c->ratio = rv->number;
            c->spec = presses->items[p];
        }
    }
    return 0;
}

/* The store of the artefacts suite entries name, relative to the suite file's folder. */
static press_artefacts *suite_artefacts(const char *suite_path) {
    const char *slash = strrchr(suite_path, '/');
    char dir[4096] = ".";
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - suite_path), suite_path);
    if (slash == suite_path) snprintf(dir, sizeof dir, "/");
    press_artefacts *s = press_artefacts_create(dir);
    if (!s) fprintf(stderr, "kvpress-tool eval: out of memory\n");
    return s;
}

/* Builds the press of every suite entry once (and loads the artefacts they name). */
static int check_presses(const eval_data *d, press_artefacts *artefacts) {
    char err[512];
    for (int k = 0; k < d->n_configs; k++) {
        if (!d->configs[k].spec) continue;
        kvp_press *p = press_from_json(d->configs[k].spec, artefacts, err, sizeof err);
        if (!p) {
            fprintf(stderr, "kvpress-tool eval: suite entry %s: %s\n", d->configs[k].entry, err);
            return -1;
        }
        kvp_press_destroy(p);
    }
    return 0;
}

/* ---- the work ------------------------------------------------------------------------------ */

typedef struct eval_shared {
    const llama_model *model;
    const tokenizer *tok; /* for presses that tokenize (KVzip's prompts); may be NULL */
    eval_data *d;
    press_artefacts *artefacts;
    const char *device;
    pthread_mutex_t lock;
    int next_window, items_done, n_items, failed;
    int reuse_prefill;
    double t0;
    int tty;
} eval_shared;

static void progress(eval_shared *s) {
    /* Called with the lock held. */
    double dt = tool_now() - s->t0;
    int done = s->items_done, total = s->n_items;
    if (s->tty) {
        int width = 40, fill = total ? done * width / total : width;
        fprintf(stderr, "\r[%.*s%*s] %d/%d  %.1f s", fill, "========================================",
                width - fill, "", done, total, dt);
        if (done == total) fputc('\n', stderr);
    } else if (total && (done * 10 / total != (done - 1) * 10 / total || done == total)) {
        fprintf(stderr, "eval: %d/%d (%.0f%%) after %.1f s\n", done, total, 100.0 * done / total, dt);
    }
}

/* -log softmax(logits)[target], in double. */
static double token_nll(const float *logits, int vocab, int target) {
    float mx = logits[0];
    for (int i = 1; i < vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) + mx - logits[target];
}

/* One press at one ratio on one window: the compressed context (replayed from the window's
 * captured prefill, or prefilled again), then every task. */
static int run_config(eval_shared *s, llama_runner *r, const llama_capture *cap, float *logits,
                      int config, int window, double *kept, char *err, size_t err_size) {
    eval_data *d = s->d;
    const eval_config *c = &d->configs[config];
    const int32_t *w = d->windows + (size_t)window * EVAL_WINDOW;
    const llama_config *mc = &s->model->cfg;
    kvp_press *press = NULL;
    if (c->spec) {
        if (!(press = press_from_json(c->spec, s->artefacts, err, err_size))) return -1;
        if (kvp_press_set_float(press, "compression_ratio", c->ratio) != KVP_OK) {
            snprintf(err, err_size, "%s", kvp_last_error());
            kvp_press_destroy(press);
            return -1;
        }
    }
    int rc;
    if (cap) {
        rc = llama_replay(r, cap, press, err, err_size);
    } else {
        rc = llama_runner_rewind(r, 0, err, err_size);
        if (!rc) rc = llama_forward(r, w, EVAL_CONTEXT, press, LLAMA_LOGITS_NONE, NULL, err, err_size);
    }
    kvp_press_destroy(press);
    if (rc) return -1;
    int64_t lengths[1024];
    for (int l = 0; l < mc->n_layers; l++) {
        kvp_cache_get_lengths(llama_runner_cache(r), l, lengths);
        double sum = 0;
        for (int h = 0; h < mc->n_kv_heads; h++) sum += (double)lengths[h];
        kept[l] = sum / mc->n_kv_heads;
    }
    for (int t = 0; t < d->n_tasks; t++) {
        const int32_t *cont = d->tasks[t] == EVAL_TASK_CONTINUE ? w + EVAL_CONTEXT : w + 128;
        if (llama_runner_rewind(r, EVAL_CONTEXT, err, err_size) ||
            llama_forward(r, cont, EVAL_CONTINUATION, NULL, LLAMA_LOGITS_ALL, logits, err, err_size))
            return -1;
        double sum = 0;
        for (int k = 0; k + 1 < EVAL_CONTINUATION; k++)
            sum += token_nll(logits + (size_t)k * (size_t)mc->vocab_size, mc->vocab_size, cont[k + 1]);
        d->nll[((size_t)config * EVAL_TASK_COUNT + d->tasks[t]) * (size_t)d->n_windows + (size_t)window] =
            sum / (EVAL_CONTINUATION - 1);
    }
    return 0;
}

/* Records the outcome of one (config, window). */
static void record(eval_shared *s, int config, int window, int rc, const double *kept,
                   const char *err) {
    eval_data *d = s->d;
    pthread_mutex_lock(&s->lock);
    if (rc && !d->errors[config][0])
        snprintf(d->errors[config], sizeof d->errors[config], "window %d: %s", window, err);
    if (!rc) {
        d->windows_done[config]++;
        for (int l = 0; l < d->n_layers; l++)
            d->kept[(size_t)config * (size_t)d->n_layers + (size_t)l] += kept[l];
    }
    s->items_done++;
    progress(s);
    pthread_mutex_unlock(&s->lock);
}

/* A worker takes whole windows: the prefill (captured once when reusing it), then every
 * configuration on it. */
static void *worker(void *arg) {
    eval_shared *s = arg;
    eval_data *d = s->d;
    char err[512] = "";
    kvp_context *ctx = tool_open(s->device);
    llama_runner *r = NULL;
    llama_capture *cap = NULL;
    llama_runner_options o;
    llama_runner_options_init(&o);
    o.capacity = EVAL_CONTEXT + EVAL_CONTINUATION;
    float *logits = malloc(sizeof(float) * EVAL_CONTINUATION * (size_t)s->model->cfg.vocab_size);
    double *kept = malloc(sizeof(double) * (size_t)d->n_layers);
    int ok = ctx && logits && kept && !llama_runner_create(s->model, ctx, &o, &r, err, sizeof err) &&
             (!s->reuse_prefill || !llama_capture_create(s->model, EVAL_CONTEXT, &cap, err, sizeof err));
    if (ok) llama_runner_set_tokenizer(r, s->tok);
    if (!ok) {
        if (err[0]) fprintf(stderr, "kvpress-tool eval: %s\n", err);
        pthread_mutex_lock(&s->lock);
        s->failed = 1;
        pthread_mutex_unlock(&s->lock);
    }
    while (ok) {
        pthread_mutex_lock(&s->lock);
        int window = s->failed ? d->n_windows : s->next_window++;
        pthread_mutex_unlock(&s->lock);
        if (window >= d->n_windows) break;
        const int32_t *w = d->windows + (size_t)window * EVAL_WINDOW;
        int prefill_rc = 0;
        if (cap) {
            llama_runner_set_capture(r, cap);
            prefill_rc = llama_runner_rewind(r, 0, err, sizeof err) ||
                         llama_forward(r, w, EVAL_CONTEXT, NULL, LLAMA_LOGITS_NONE, NULL, err, sizeof err);
            llama_runner_set_capture(r, NULL);
        }
        for (int config = 0; config < d->n_configs; config++) {
            pthread_mutex_lock(&s->lock);
            int skip = d->errors[config][0] != 0; /* failed on an earlier window */
            pthread_mutex_unlock(&s->lock);
            int rc = prefill_rc;
            if (!rc && !skip) rc = run_config(s, r, cap, logits, config, window, kept, err, sizeof err);
            if (skip) {
                pthread_mutex_lock(&s->lock);
                s->items_done++;
                progress(s);
                pthread_mutex_unlock(&s->lock);
            } else {
                record(s, config, window, rc, kept, err);
            }
        }
    }
    llama_capture_free(cap);
    llama_runner_free(r);
    free(logits);
    free(kept);
    kvp_context_destroy(ctx);
    return NULL;
}

static int run_all(const llama_model *model, const tokenizer *tok, eval_data *d,
                   press_artefacts *artefacts, const char *device, int threads,
                   int reuse_prefill) {
    eval_shared s = {.model = model, .tok = tok, .d = d, .artefacts = artefacts, .device = device,
                     .reuse_prefill = reuse_prefill,
                     .n_items = d->n_configs * d->n_windows, .t0 = tool_now(),
                     .tty = isatty(2)};
    pthread_mutex_init(&s.lock, NULL);
    if (threads > d->n_windows) threads = d->n_windows;
    pthread_t tids[64];
    int started = 0;
    for (int i = 0; i < threads && i < 64; i++) {
        if (pthread_create(&tids[i], NULL, worker, &s)) break;
        started++;
    }
    if (started == 0) worker(&s); /* no threads: run here */
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&s.lock);
    fprintf(stderr, "eval: %d windows x %d configurations in %.1f s (%d thread%s, %s)\n",
            d->n_windows, d->n_configs, tool_now() - s.t0, started ? started : 1,
            started > 1 ? "s" : "", device);
    return s.failed ? -1 : 0;
}

/* ---- command line -------------------------------------------------------------------------- */

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: kvpress-tool eval -m MODEL --suite FILE (--windows FILE | --text FILE)\n"
            "                         [--tokenizer tok.bin] [--backend NAME] [--threads N]\n"
            "                         [--max-windows N] [--json OUT] [--csv OUT] [--plot OUT.svg]\n"
            "                         [--reference FILE] [--rope-layout half-split|interleaved]\n"
            "                         [--no-prefill-reuse] [--not-compared ENTRY]...\n"
            "                         [--tolerance NATS]\n"
            "  --windows: one window a line, %d token ids starting with BOS\n"
            "  --text:    raw text, encoded and cut into %d-token windows starting with BOS\n"
            "  --no-prefill-reuse: prefill every (window, press, ratio) with the press in the\n"
            "               forward pass, instead of prefilling each window once and replaying\n"
            "               that prefill's cache and press inputs for every press (same numbers)\n"
            "  --not-compared ENTRY: evaluate the suite entry but leave it out of the reference\n"
            "               check (its differences are printed, marked 'not compared')\n"
            "  --rope-layout: permute Wq/Wk so that q/k use this RoPE pairing (same outputs)\n"
            "  a suite entry may name the artefact its press needs: \"artefact\": \"FILE\"\n"
            "               (relative to the suite file's folder)\n"
            "  --reference: compare with a reference result file; the exit status is 1 when\n"
            "               any number differs by more than --tolerance (default %.3f nats)\n",
            EVAL_WINDOW, EVAL_WINDOW, EVAL_TOLERANCE);
}

typedef struct eval_args {
    const char *model, *suite, *windows, *text, *tokenizer, *backend;
    const char *json, *csv, *plot, *reference, *rope_layout;
    long long threads, max_windows;
    int no_prefill_reuse;
    const char *not_compared[32];
    int n_not_compared;
    double tolerance;
} eval_args;

static int parse_args(int argc, char **argv, eval_args *a) {
    memset(a, 0, sizeof *a);
    a->backend = "cpu";
    a->tolerance = EVAL_TOLERANCE;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            eval_usage(stdout);
            return 1;
        }
        if (!strcmp(o, "--no-prefill-reuse")) {
            a->no_prefill_reuse = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "kvpress-tool eval: %s needs a value\n", o);
            return -1;
        }
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "--suite")) a->suite = v;
        else if (!strcmp(o, "--windows")) a->windows = v;
        else if (!strcmp(o, "--text")) a->text = v;
        else if (!strcmp(o, "--tokenizer")) a->tokenizer = v;
        else if (!strcmp(o, "--backend")) a->backend = v;
        else if (!strcmp(o, "--json")) a->json = v;
        else if (!strcmp(o, "--csv")) a->csv = v;
        else if (!strcmp(o, "--plot")) a->plot = v;
        else if (!strcmp(o, "--reference")) a->reference = v;
        else if (!strcmp(o, "--rope-layout")) a->rope_layout = v;
        else if (!strcmp(o, "--tolerance")) {
            char *end;
            a->tolerance = strtod(v, &end);
            if (*end || !(a->tolerance >= 0 && a->tolerance < 10)) {
                fprintf(stderr, "kvpress-tool eval: --tolerance needs nats in [0, 10)\n");
                return -1;
            }
        }
        else if (!strcmp(o, "--not-compared")) {
            if (a->n_not_compared == 32) {
                fprintf(stderr, "kvpress-tool eval: too many --not-compared\n");
                return -1;
            }
            a->not_compared[a->n_not_compared++] = v;
        }
        else if (!strcmp(o, "--threads")) {
            if (cli_parse_int(o, v, 1, 64, &a->threads)) return -1;
        } else if (!strcmp(o, "--max-windows")) {
            if (cli_parse_int(o, v, 1, 1 << 24, &a->max_windows)) return -1;
        } else {
            fprintf(stderr, "kvpress-tool eval: unknown option %s\n", o);
            return -1;
        }
    }
    if (!a->model || !a->suite || (!a->windows == !a->text)) {
        fprintf(stderr, "kvpress-tool eval: -m, --suite and one of --windows / --text are required\n");
        return -1;
    }
    return 0;
}

/* Threads: all cores on the cpu backend (its kernels are single-threaded), one otherwise. */
static int default_threads(const char *device) {
    if (strncmp(device, "cpu", 3)) return 1;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

int tool_eval(int argc, char **argv) {
    eval_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        if (rc < 0) eval_usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    llama_model *model = NULL;
    tokenizer *tok = NULL;
    int tok_owned = 0, status = 1;
    kvp_json *suite = NULL, *reference = NULL;
    press_artefacts *artefacts = NULL;
    eval_data d;
    memset(&d, 0, sizeof d);
    char err[512];
    if (!(suite = kvp__json_parse_file(a.suite, err, sizeof err))) {
        fprintf(stderr, "kvpress-tool eval: %s\n", err);
        goto done;
    }
    if (a.reference && !(reference = kvp__json_parse_file(a.reference, err, sizeof err))) {
        fprintf(stderr, "kvpress-tool eval: %s\n", err);
        goto done;
    }
    if (load_suite(suite, &d)) goto done;
    if (!(artefacts = suite_artefacts(a.suite))) goto done;
    if (cli_open_model(a.model, a.tokenizer, a.text != NULL, &model, &tok, &tok_owned)) goto done;
    d.n_layers = model->cfg.n_layers;
    d.tolerance = a.tolerance;
    /* Every entry is built once now: a bad specification or artefact shows before any work,
     * and artefacts calibrated on other weights are named (before --rope-layout permutes). */
    if (check_presses(&d, artefacts)) goto done;
    press_artefacts_warn_model(artefacts, llama_model_fingerprint(model), stderr);
    if (a.rope_layout) {
        int half = !strcmp(a.rope_layout, "half-split");
        if (!half && strcmp(a.rope_layout, "interleaved")) {
            fprintf(stderr, "kvpress-tool eval: --rope-layout is half-split or interleaved\n");
            goto done;
        }
        if (llama_model_set_rope_layout(model, half ? KVP_ROPE_HALF_SPLIT : KVP_ROPE_INTERLEAVED,
                                        err, sizeof err)) {
            fprintf(stderr, "kvpress-tool eval: %s\n", err);
            goto done;
        }
    }
    if (a.windows ? load_windows(a.windows, &model->cfg, &d) : text_windows(a.text, tok, &d)) goto done;
    if (a.max_windows && d.n_windows > a.max_windows) d.n_windows = (int)a.max_windows;
    d.nll = calloc((size_t)d.n_configs * EVAL_TASK_COUNT * (size_t)d.n_windows, sizeof *d.nll);
    d.kept = calloc((size_t)d.n_configs * (size_t)d.n_layers, sizeof *d.kept);
    d.windows_done = calloc((size_t)d.n_configs, sizeof *d.windows_done);
    d.errors = calloc((size_t)d.n_configs, sizeof *d.errors);
    if (!d.nll || !d.kept || !d.windows_done || !d.errors) {
        fprintf(stderr, "kvpress-tool eval: out of memory\n");
        goto done;
    }
    int threads = a.threads ? (int)a.threads : default_threads(a.backend);
    if (run_all(model, tok, &d, artefacts, a.backend, threads, !a.no_prefill_reuse)) goto done;
    eval_print_table(&d, reference);
    status = 0;
    if (a.json && eval_write_json(&d, a.json, a.model, a.backend)) status = 1;
    if (a.csv && eval_write_csv(&d, a.csv, reference)) status = 1;
    if (a.plot && eval_write_svg(&d, a.plot, a.model)) status = 1;
    if (reference) {
        int diffs = eval_compare_reference(&d, reference, a.not_compared, a.n_not_compared);
        if (diffs != 0) status = 1;
    }
done:
    free(d.configs);
    free(d.windows);
    free(d.nll);
    free(d.kept);
    free(d.windows_done);
    free(d.errors);
    kvp__json_free(suite);
    kvp__json_free(reference);
    press_artefacts_free(artefacts);
    if (tok_owned) tokenizer_free(tok);
    llama_model_free(model);
    return status;
}
