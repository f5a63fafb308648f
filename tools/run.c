/* kvpress-tool run: text generation with a compressed KV cache.
 *
 * The prompt (with BOS) is prefilled in one pass; a --press compresses each layer's cache
 * right after that layer's attention, then the cache is repacked so that the evicted
 * entries' memory is really given back. Generation continues token by token (greedy, or
 * sampled at --temperature), and a --decoding-press compresses the cache every N generated
 * tokens. The text goes to stdout, followed by the kept tokens per layer and kv head and the
 * cache memory before and after compression. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/runner.h"
#include "model_cli.h"
#include "press_json.h"
#include "tool.h"

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: kvpress-tool run -m MODEL -p PROMPT [--tokenizer tok.bin] [--press SPEC "
            "--ratio R]\n"
            "                        [--decoding-press SPEC] [--backend NAME] [-n TOKENS]\n"
            "                        [--temperature T] [--seed S] [--cache-dtype f32|f16|bf16]\n"
            "                        [--artefact FILE] [--calibration TEXT]\n"
            "  SPEC is a press specification, e.g. 'snapkv(window_size=32)' or\n"
            "  'decoding(press=knorm, compression_interval=16, target_size=64)'.\n"
            "  --calibration TEXT: calibrate a press that learns from the model\n"
            "                      ('duo_attention(on_the_fly_scoring=true)') on 50 pieces of\n"
            "                      TEXT of up to 500 tokens before the prefill\n"
            "  --artefact: the calibrated data a press needs (e.g. compresskv's, written by\n"
            "  kvpress-tool calibrate); a wrapper hands it to the press it wraps.\n");
}

/* xorshift64*: a small deterministic generator for --seed. */
static double next_uniform(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static int sample(const float *logits, int vocab, double temperature, uint64_t *rng) {
    int best = 0;
    for (int i = 1; i < vocab; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    double total = 0;
    for (int i = 0; i < vocab; i++) total += exp((logits[i] - logits[best]) / temperature);
    double u = next_uniform(rng) * total, acc = 0;
    for (int i = 0; i < vocab; i++) {
        acc += exp((logits[i] - logits[best]) / temperature);
        if (u < acc) return i;
    }
    return best;
}

static void print_token(const tokenizer *tok, int prev, int token) {
    const char *bytes;
    size_t len = tokenizer_decode(tok, prev, token, &bytes);
    fwrite(bytes, 1, len, stdout);
}

/* lengths [n_layers, n_kv_heads] of every layer's heads. */
static int64_t *snapshot_lengths(kvp_cache *cache, const llama_config *c) {
    int64_t *lengths = calloc((size_t)c->n_layers * (size_t)c->n_kv_heads, sizeof *lengths);
    for (int l = 0; lengths && l < c->n_layers; l++)
        kvp_cache_get_lengths(cache, l, lengths + (size_t)l * (size_t)c->n_kv_heads);
    return lengths;
}

static void print_kept(const int64_t *lengths, const llama_config *c, const char *when) {
    if (!lengths) return;
    printf("kept tokens per layer and kv head (%s):\n", when);
    for (int l = 0; l < c->n_layers; l++) {
        printf("  layer %2d:", l);
        for (int h = 0; h < c->n_kv_heads; h++)
            printf(" %lld", (long long)lengths[(size_t)l * (size_t)c->n_kv_heads + (size_t)h]);
        printf("\n");
    }
}

static void print_memory(const char *label, const kvp_cache_memory *m) {
    printf("  %-34s %9.1f KiB allocated, %9.1f KiB used, %llu entries\n", label,
           (double)m->allocated_bytes / 1024.0, (double)m->used_bytes / 1024.0,
           (unsigned long long)m->entries);
}

static int parse_dtype(const char *s, kvp_dtype *out) {
    for (int d = 0; d < KVP_DTYPE_COUNT; d++)
        if (!strcmp(s, kvp_dtype_name((kvp_dtype)d))) {
            *out = (kvp_dtype)d;
            return 0;
        }
    fprintf(stderr, "kvpress-tool: --cache-dtype expects f32, f16 or bf16, got '%s'\n", s);
    return -1;
}

typedef struct run_args {
    const char *model, *prompt, *tokenizer, *press, *decoding_press, *backend, *calibration;
    const char *artefact;
    double ratio, temperature;
    int has_ratio;
    long long n, seed;
    kvp_dtype dtype;
} run_args;

static int parse_args(int argc, char **argv, run_args *a) {
    memset(a, 0, sizeof *a);
    a->backend = "cpu";
    a->n = 256;
    a->dtype = KVP_DTYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            run_usage(stdout);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "kvpress-tool run: %s needs a value\n", o);
            return -1;
        }
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a->model = v;
        else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) a->prompt = v;
        else if (!strcmp(o, "--tokenizer")) a->tokenizer = v;
        else if (!strcmp(o, "--press")) a->press = v;
        else if (!strcmp(o, "--decoding-press")) a->decoding_press = v;
        else if (!strcmp(o, "--backend")) a->backend = v;
        else if (!strcmp(o, "--calibration")) a->calibration = v;
        else if (!strcmp(o, "--artefact")) a->artefact = v;
        else if (!strcmp(o, "--ratio")) {
            if (cli_parse_double(o, v, 0, 0.999999, &a->ratio)) return -1;
            a->has_ratio = 1;
        } else if (!strcmp(o, "--temperature")) {
            if (cli_parse_double(o, v, 0, 100, &a->temperature)) return -1;
        } else if (!strcmp(o, "-n") || !strcmp(o, "--tokens")) {
            if (cli_parse_int(o, v, 0, 1 << 24, &a->n)) return -1;
        } else if (!strcmp(o, "--seed")) {
            if (cli_parse_int(o, v, 0, INT64_MAX, &a->seed)) return -1;
        } else if (!strcmp(o, "--cache-dtype")) {
            if (parse_dtype(v, &a->dtype)) return -1;
        } else {
            fprintf(stderr, "kvpress-tool run: unknown option %s\n", o);
            return -1;
        }
    }
    if (!a->model || !a->prompt) {
        fprintf(stderr, "kvpress-tool run: -m MODEL and -p PROMPT are required\n");
        return -1;
    }
    if ((a->has_ratio || a->artefact) && !a->press) {
        fprintf(stderr, "kvpress-tool run: --%s needs --press\n", a->has_ratio ? "ratio" : "artefact");
        return -1;
    }
    return 0;
}

/* Builds the prefill press (with --ratio and --artefact, kept in `artefacts`) and the decoding
 * press; checks their kinds. */
static int make_presses(const run_args *a, press_artefacts *artefacts, kvp_press **prefill,
                        kvp_press **decoding) {
    *prefill = *decoding = NULL;
    if (a->press) {
        if (kvp_press_parse(a->press, prefill) != KVP_OK) {
            fprintf(stderr, "kvpress-tool run: --press: %s\n", kvp_last_error());
            return -1;
        }
        if (kvp_press_get_info(*prefill)->kind == KVP_PRESS_DECODING) {
            fprintf(stderr, "kvpress-tool run: '%s' is a decoding press; give it with "
                    "--decoding-press\n", a->press);
            return -1;
        }
        if (a->has_ratio && kvp_press_set_float(*prefill, "compression_ratio", a->ratio) != KVP_OK) {
            fprintf(stderr, "kvpress-tool run: --ratio: %s\n", kvp_last_error());
            return -1;
        }
        char err[512];
        kvp_artefact *art = NULL;
        if (a->artefact && !(art = press_artefacts_get(artefacts, a->artefact, err, sizeof err))) {
            fprintf(stderr, "kvpress-tool run: --artefact: %s\n", err);
            return -1;
        }
        if (art && kvp_press_set_artefact(*prefill, art) != KVP_OK) {
            fprintf(stderr, "kvpress-tool run: --artefact: %s\n", kvp_last_error());
            return -1;
        }
    }
    if (a->decoding_press) {
        if (kvp_press_parse(a->decoding_press, decoding) != KVP_OK) {
            fprintf(stderr, "kvpress-tool run: --decoding-press: %s\n", kvp_last_error());
            return -1;
        }
        if (kvp_press_get_info(*decoding)->kind != KVP_PRESS_DECODING) {
            fprintf(stderr, "kvpress-tool run: '%s' is not a decoding press (use "
                    "decoding(press=..., compression_interval=N, target_size=T))\n",
                    a->decoding_press);
            return -1;
        }
    }
    return 0;
}

/* kvp_press_calibrate on pieces of a text (DuoAttention's on-the-fly head scores). */
static int calibrate(const run_args *a, llama_runner *runner, const tokenizer *tok,
                     const llama_config *c, kvp_press *press) {
    if (!press) {
        fprintf(stderr, "kvpress-tool run: --calibration needs --press\n");
        return -1;
    }
    int len = c->seq_len < 500 ? c->seq_len : 500, n = 0;
    int32_t *samples = NULL;
    if (cli_calibration_samples(a->calibration, tok, 50, len, &samples, &n)) return -1;
    const int32_t *ptrs[50];
    int64_t lengths[50];
    for (int i = 0; i < n; i++) {
        ptrs[i] = samples + (size_t)i * len;
        lengths[i] = len;
    }
    char err[512];
    int rc = llama_runner_calibrate(runner, press, ptrs, lengths, n, err, sizeof err);
    if (rc) fprintf(stderr, "kvpress-tool run: --calibration: %s\n", err);
    else fprintf(stderr, "kvpress-tool run: calibrated on %d pieces of %d tokens\n", n, len);
    free(samples);
    return rc;
}

int tool_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        if (rc < 0) run_usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    llama_model *model = NULL;
    tokenizer *tok = NULL;
    int tok_owned = 0, status = 1;
    kvp_context *ctx = NULL;
    kvp_press *prefill = NULL, *decoding = NULL;
    llama_runner *runner = NULL;
    int32_t *prompt = NULL;
    float *logits = NULL;
    int64_t *kept_prompt = NULL, *kept_end = NULL;
    char err[512];
    press_artefacts *artefacts = press_artefacts_create(NULL);
    if (!artefacts || make_presses(&a, artefacts, &prefill, &decoding)) goto done;
    if (cli_open_model(a.model, a.tokenizer, 1, &model, &tok, &tok_owned)) goto done;
    press_artefacts_warn_model(artefacts, llama_model_fingerprint(model), stderr);
    const llama_config *c = &model->cfg;
    int n_prompt;
    if (tokenizer_encode(tok, a.prompt, 1, 0, &prompt, &n_prompt, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool run: %s\n", err);
        goto done;
    }
    if (n_prompt + a.n > c->seq_len) {
        fprintf(stderr, "kvpress-tool run: %d prompt tokens + %lld new ones exceed the model's "
                "context of %d\n", n_prompt, a.n, c->seq_len);
        goto done;
    }
    if (!(ctx = tool_open(a.backend))) goto done;
    llama_runner_options ro;
    llama_runner_options_init(&ro);
    ro.capacity = n_prompt + a.n;
    ro.cache_dtype = a.dtype;
    logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    if (!logits || llama_runner_create(model, ctx, &ro, &runner, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool run: %s\n", logits ? err : "out of memory");
        goto done;
    }
    kvp_cache *cache = llama_runner_cache(runner);
    llama_runner_set_tokenizer(runner, tok); /* presses that tokenize (KVzip's prompts) */
    if (a.calibration && calibrate(&a, runner, tok, c, prefill)) goto done;
    if (llama_forward(runner, prompt, n_prompt, prefill, LLAMA_LOGITS_LAST, logits, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool run: prefill: %s\n", err);
        goto done;
    }
    kvp_cache_memory compressed, repacked;
    kvp_cache_get_memory(cache, &compressed);
    kept_prompt = snapshot_lengths(cache, c);
    /* Give the evicted slots back, keeping room for the tokens still to come. */
    if (llama_runner_repack(runner, a.n, err, sizeof err)) {
        fprintf(stderr, "kvpress-tool run: %s\n", err);
        goto done;
    }
    kvp_cache_get_memory(cache, &repacked);

    /* The text: the prompt, then the generated tokens as they come. */
    for (int t = 1; t < n_prompt; t++) print_token(tok, prompt[t - 1], prompt[t]);
    fflush(stdout);
    uint64_t rng = (uint64_t)a.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    int prev = prompt[n_prompt - 1], generated = 0;
    double t0 = tool_now();
    for (long long i = 0; i < a.n; i++) {
        int next = sample(logits, c->vocab_size, a.temperature, &rng);
        if (next == tokenizer_eos(tok) || next == tokenizer_bos(tok)) break;
        print_token(tok, prev, next);
        fflush(stdout);
        prev = next;
        generated++;
        int32_t one = next;
        if (i + 1 < a.n &&
            llama_forward(runner, &one, 1, decoding, LLAMA_LOGITS_LAST, logits, err, sizeof err)) {
            fprintf(stderr, "\nkvpress-tool run: decoding: %s\n", err);
            goto done;
        }
    }
    double dt = tool_now() - t0;
    printf("\n\n");
    char desc[512];
    if (prefill) {
        kvp_press_describe(prefill, desc, sizeof desc);
        printf("press: %s\n", desc);
    }
    if (decoding) {
        kvp_press_describe(decoding, desc, sizeof desc);
        printf("decoding press: %s (compressed a layer %lld times)\n", desc,
               (long long)llama_runner_decode_compressions(runner));
    }
    printf("prompt: %d tokens; generated %d tokens in %.2f s on %s\n", n_prompt, generated, dt, a.backend);
    print_kept(kept_prompt, c, "after the prompt");
    if (decoding) {
        kept_end = snapshot_lengths(cache, c);
        print_kept(kept_end, c, "at the end of generation");
    }
    /* What the prompt's cache would hold without compression, per entry as stored. */
    uint64_t full_entries = (uint64_t)n_prompt * (uint64_t)c->n_layers * (uint64_t)c->n_kv_heads;
    uint64_t entry_bytes = compressed.entries ? compressed.used_bytes / compressed.entries
                                              : (uint64_t)2 * (uint64_t)c->head_dim * kvp_dtype_size(a.dtype);
    kvp_cache_memory full = {full_entries * entry_bytes, full_entries * entry_bytes, full_entries};
    printf("cache memory (%s, %s):\n", kvp_dtype_name(a.dtype), model->format);
    print_memory("prompt without compression", &full);
    print_memory("after compression (before repack)", &compressed);
    print_memory("after kvp_cache_repack", &repacked);
    if (full.used_bytes)
        printf("  saved %.1f%% of the prompt's cache\n",
               100.0 * (1.0 - (double)repacked.used_bytes / (double)full.used_bytes));
    kvp_cache_memory end;
    kvp_cache_get_memory(cache, &end);
    print_memory("at the end of generation", &end);
    status = 0;
done:
    free(kept_prompt);
    free(kept_end);
    free(logits);
    free(prompt);
    llama_runner_free(runner);
    kvp_press_destroy(prefill);
    kvp_press_destroy(decoding);
    press_artefacts_free(artefacts);
    kvp_context_destroy(ctx);
    if (tok_owned) tokenizer_free(tok);
    llama_model_free(model);
    return status;
}
