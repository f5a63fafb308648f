/* Procedure A of CompressKV (COMPRESSKV.md 1.2 and 5.3): which query heads retrieve.
 *
 * A needle sentence (a prefix and an answer) is hidden in a haystack of held-out text at a
 * grid of context lengths and depths; the prompt ends with the needle's prefix again, so
 * that the model's next words should be the answer. For every step that produces an answer
 * token, every (layer, query head) earns the attention mass its query puts on the answer's
 * tokens inside the needle (the span A). A head's score is its mean over the counted trials;
 * each layer ranks its heads by that score.
 *
 * Two ways to produce the answer:
 *  - greedy (the reference): the model decodes greedily; a step counts when the emitted token
 *    occurs in A, and the trial counts when the response's ROUGE-1 recall of the answer's
 *    words exceeds 0.5 (lowercased words; the reference also Porter-stems);
 *  - forced (the default for models too small to retrieve, such as stories260K, which almost
 *    never reproduces a needle): the answer is fed, so every step produces an answer token
 *    and every trial counts. The attention read-out is the same; only the trajectory is the
 *    gold one instead of the model's own.
 * The attention row of a step is the one of the query that predicts the token (the last
 * prompt token for the first answer token), over every cached position, from the keys in
 * the library's cache, softmax in double. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "model/runner.h"

/* The needles: TinyStories-style sentences; the prompt repeats the prefix at its end. */
static const struct needle {
    const char *prefix, *answer;
} needles[] = {
    {"Tom had a", "red ball and a blue kite in his big toy box."},
    {"The best thing to do in the park is to", "eat a big cake with Mom and play on the swing."},
    {"Lily was sad because", "her little cat ran away and hid in the old tree."},
};
#define N_NEEDLES ((int)(sizeof needles / sizeof needles[0]))

const char *calibrate_needles_text(void) {
    return "'Tom had a' + 'red ball and a blue kite in his big toy box.'; "
           "'The best thing to do in the park is to' + 'eat a big cake with Mom and play on the "
           "swing.'; 'Lily was sad because' + 'her little cat ran away and hid in the old tree.'";
}

static int max_length(const heads_options *o) {
    int mx = 0;
    for (int i = 0; i < o->n_lengths; i++) mx = o->lengths[i] > mx ? o->lengths[i] : mx;
    return mx;
}

int calibrate_heads_text_tokens(const heads_options *o) { return N_NEEDLES * max_length(o); }

void heads_result_free(heads_result *r) {
    free(r->scores);
    free(r->ranking);
    memset(r, 0, sizeof *r);
}

/* ---- the attention read-out ------------------------------------------------------------- */

typedef struct span_reader {
    llama_runner *runner;
    int L, Hq, Hk, hd;
    int64_t span_lo, span_hi; /* positions of A */
    int64_t row_lo;           /* position of the first measured query */
    int n_rows;
    double *mass;             /* [n_rows, L, Hq] */
    int64_t *len;             /* [Hk] */
    float *keys;              /* one kv head's cached keys [capacity, hd] */
    int32_t *pos;
    double *logits;
} span_reader;

/* For every measured query of the pass: the softmax attention mass on positions of A, from
 * the keys in the runner's (f32) cache. */
static int read_span_mass(void *user, const llama_attention_view *v, char *err, size_t err_size) {
    span_reader *s = user;
    int G = s->Hq / s->Hk;
    kvp_cache *cache = llama_runner_cache(s->runner);
    int64_t *len = s->len;
    kvp_status st = kvp_cache_get_lengths(cache, v->layer, len);
    for (int g = 0; st == KVP_OK && g < s->Hk; g++) {
        if ((st = kvp_cache_read(cache, v->layer, g, s->keys, NULL, s->pos)) != KVP_OK) break;
        for (int a = 0; a < v->n; a++) {
            int64_t p = v->pos0 + a, row = p - s->row_lo;
            if (row < 0 || row >= s->n_rows) continue;
            for (int h = g * G; h < (g + 1) * G; h++) {
                const float *q = v->q + ((size_t)h * (size_t)v->n + (size_t)a) * (size_t)s->hd;
                double mx = -INFINITY, total = 0, in_span = 0;
                for (int64_t t = 0; t < len[g]; t++) {
                    if (s->pos[t] > p) {
                        s->logits[t] = -INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int c = 0; c < s->hd; c++) dot += (double)q[c] * s->keys[t * s->hd + c];
                    s->logits[t] = dot / sqrt((double)s->hd);
                    mx = fmax(mx, s->logits[t]);
                }
                for (int64_t t = 0; t < len[g]; t++) {
                    if (s->pos[t] > p) continue;
                    double e = exp(s->logits[t] - mx);
                    total += e;
                    if (s->pos[t] >= s->span_lo && s->pos[t] < s->span_hi) in_span += e;
                }
                s->mass[((size_t)row * s->L + (size_t)v->layer) * s->Hq + (size_t)h] =
                    total > 0 ? in_span / total : 0;
            }
        }
    }
    if (st != KVP_OK) {
        snprintf(err, err_size, "calibrate: reading the cache: %s", kvp_status_name(st));
        return -1;
    }
    return 0;
}

/* ---- ROUGE-1 recall ---------------------------------------------------------------------- */

/* Lowercased alphanumeric words of s, at most max, each at most 31 bytes. */
static int words_of(const char *s, char (*words)[32], int max) {
    int n = 0;
    while (*s && n < max) {
        while (*s && !isalnum((unsigned char)*s)) s++;
        int k = 0;
        while (isalnum((unsigned char)*s)) {
            if (k < 31) words[n][k++] = (char)tolower((unsigned char)*s);
            s++;
        }
        if (k) words[n++][k] = 0;
    }
    return n;
}

double calibrate_rouge1_recall(const char *answer, const char *response) {
    char aw[64][32], rw[256][32];
    int na = words_of(answer, aw, 64), nr = words_of(response, rw, 256), hit = 0;
    unsigned char used[256] = {0};
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nr; j++)
            if (!used[j] && !strcmp(aw[i], rw[j])) {
                used[j] = 1;
                hit++;
                break;
            }
    return na ? (double)hit / na : 0;
}

/* ---- trials ----------------------------------------------------------------------------- */

typedef struct needle_tokens {
    const char *answer_text;
    int32_t *prefix, *answer;
    int n_prefix, n_answer;
} needle_tokens;

static int ends_sentence(const tokenizer *tok, int32_t id) {
    const char *piece = tokenizer_piece(tok, id);
    size_t n = piece ? strlen(piece) : 0;
    return n && piece[n - 1] == '.';
}

/* Builds the prompt of one trial; returns its length, and A's position range. */
static int build_prompt(const calib_env *env, const needle_tokens *nt, const int32_t *hay,
                        int length, int depth_pct, int32_t *prompt, int64_t *span_lo,
                        int64_t *span_hi) {
    int n_hay = length - 1 - nt->n_prefix - nt->n_answer;
    int at = (int)floor((double)n_hay * depth_pct / 100.0 + 0.5);
    /* back to just after the nearest sentence end, unless at the very end */
    if (at < n_hay) {
        while (at > 0 && !ends_sentence(env->tok, hay[at - 1])) at--;
    }
    int n = 0;
    prompt[n++] = tokenizer_bos(env->tok);
    memcpy(prompt + n, hay, sizeof(int32_t) * (size_t)at);
    n += at;
    memcpy(prompt + n, nt->prefix, sizeof(int32_t) * (size_t)nt->n_prefix);
    n += nt->n_prefix;
    *span_lo = n;
    memcpy(prompt + n, nt->answer, sizeof(int32_t) * (size_t)nt->n_answer);
    n += nt->n_answer;
    *span_hi = n;
    memcpy(prompt + n, hay + at, sizeof(int32_t) * (size_t)(n_hay - at));
    n += n_hay - at;
    memcpy(prompt + n, nt->prefix, sizeof(int32_t) * (size_t)nt->n_prefix); /* the question */
    return n + nt->n_prefix;
}

/* Count of token y among the answer's tokens. */
static int count_in_span(const needle_tokens *nt, int32_t y) {
    int c = 0;
    for (int i = 0; i < nt->n_answer; i++) c += nt->answer[i] == y;
    return c;
}

/* One trial; adds the per-head sums to trial_sum [L, Hq] and says whether it counts. */
static int run_trial(const calib_env *env, const heads_options *o, llama_runner *r, span_reader *s,
                     const needle_tokens *nt, const int32_t *prompt, int n, double *trial_sum,
                     int *counted, float *logits, char *err, size_t err_size) {
    const llama_config *c = &env->model->cfg;
    size_t per_row = (size_t)c->n_layers * (size_t)c->n_heads;
    memset(trial_sum, 0, sizeof(double) * per_row);
    *counted = 0;
    if (llama_runner_rewind(r, 0, err, err_size)) return -1;
    if (!o->greedy) {
        /* prompt + answer[0 .. T-2] in one pass; the queries at positions n-1 .. n+T-2
         * predict answer[0 .. T-1] */
        int T = nt->n_answer, total = n + T - 1;
        int32_t *seq = malloc(sizeof(int32_t) * (size_t)total);
        if (!seq) {
            snprintf(err, err_size, "calibrate: out of memory");
            return -1;
        }
        memcpy(seq, prompt, sizeof(int32_t) * (size_t)n);
        memcpy(seq + n, nt->answer, sizeof(int32_t) * (size_t)(T - 1));
        s->row_lo = n - 1;
        s->n_rows = T;
        llama_runner_set_observer(r, read_span_mass, s);
        int rc = llama_forward(r, seq, total, NULL, LLAMA_LOGITS_NONE, NULL, err, err_size);
        llama_runner_set_observer(r, NULL, NULL);
        free(seq);
        if (rc) return -1;
        for (int t = 0; t < T; t++) {
            double w = o->multiplicity ? count_in_span(nt, nt->answer[t]) : 1;
            for (size_t i = 0; i < per_row; i++) trial_sum[i] += w * s->mass[(size_t)t * per_row + i];
        }
        *counted = 1;
        return 0;
    }
    /* greedy: prefill all but the last prompt token, then decode one token per step */
    if (n > 1 && llama_forward(r, prompt, n - 1, NULL, LLAMA_LOGITS_NONE, NULL, err, err_size))
        return -1;
    char response[1024] = "";
    size_t resp_len = 0;
    int32_t feed = prompt[n - 1], prev = prompt[n - 1];
    for (int step = 0; step < o->max_new_tokens; step++) {
        s->row_lo = llama_runner_position(r);
        s->n_rows = 1;
        llama_runner_set_observer(r, read_span_mass, s);
        int rc = llama_forward(r, &feed, 1, NULL, LLAMA_LOGITS_LAST, logits, err, err_size);
        llama_runner_set_observer(r, NULL, NULL);
        if (rc) return -1;
        int y = calibrate_argmax(logits, c->vocab_size);
        if (y == tokenizer_eos(env->tok)) break;
        const char *bytes;
        size_t len = tokenizer_decode(env->tok, prev, y, &bytes);
        if (memchr(bytes, '\n', len)) break;
        if (resp_len + len < sizeof response) {
            memcpy(response + resp_len, bytes, len);
            resp_len += len;
            response[resp_len] = 0;
        }
        int in_span = count_in_span(nt, y);
        if (in_span) {
            double w = o->multiplicity ? in_span : 1;
            for (size_t i = 0; i < per_row; i++) trial_sum[i] += w * s->mass[i];
        }
        prev = y;
        feed = y;
    }
    *counted = calibrate_rouge1_recall(nt->answer_text, response) > 0.5;
    return 0;
}

/* Heads of each layer by decreasing score, ties by lower index (a stable order). */
static void rank_heads(const float *scores, int L, int Hq, float *ranking) {
    for (int l = 0; l < L; l++) {
        const float *s = scores + (size_t)l * Hq;
        float *r = ranking + (size_t)l * Hq;
        for (int h = 0; h < Hq; h++) {
            /* position of h = heads strictly better, plus equal ones with a lower index */
            int at = 0;
            for (int k = 0; k < Hq; k++) at += s[k] > s[h] || (s[k] == s[h] && k < h);
            r[at] = (float)h;
        }
    }
}

static void free_needles(needle_tokens *nt) {
    for (int i = 0; i < N_NEEDLES; i++) {
        free(nt[i].prefix);
        free(nt[i].answer);
    }
}

int calibrate_heads(const calib_env *env, const heads_options *o, heads_result *out, char *err,
                    size_t err_size) {
    memset(out, 0, sizeof *out);
    const llama_config *c = &env->model->cfg;
    int L = c->n_layers, Hq = c->n_heads, Lmax = max_length(o);
    if (o->n_lengths < 1 || o->n_depths < 1 || (o->greedy && o->max_new_tokens < 1)) {
        snprintf(err, err_size, "calibrate: heads need at least one length, one depth and, "
                                "greedy, one new token");
        return -1;
    }
    if (env->n_text < N_NEEDLES * Lmax) {
        snprintf(err, err_size,
                 "calibrate: the text gives %d tokens; the haystacks of %d needles at length %d "
                 "need %d",
                 env->n_text, N_NEEDLES, Lmax, N_NEEDLES * Lmax);
        return -1;
    }
    needle_tokens nt[N_NEEDLES];
    memset(nt, 0, sizeof nt);
    int max_answer = 1, rc = -1;
    for (int i = 0; i < N_NEEDLES; i++) {
        nt[i].answer_text = needles[i].answer;
        if (tokenizer_encode(env->tok, needles[i].prefix, 0, 0, &nt[i].prefix, &nt[i].n_prefix, err,
                             err_size) ||
            tokenizer_encode(env->tok, needles[i].answer, 0, 0, &nt[i].answer, &nt[i].n_answer, err,
                             err_size)) {
            free_needles(nt);
            return -1;
        }
        max_answer = nt[i].n_answer > max_answer ? nt[i].n_answer : max_answer;
        for (int k = 0; k < o->n_lengths; k++) {
            int need = o->lengths[k] + nt[i].n_prefix + (o->greedy ? o->max_new_tokens : nt[i].n_answer);
            if (o->lengths[k] - 1 - nt[i].n_prefix - nt[i].n_answer < 1 || need > c->seq_len) {
                snprintf(err, err_size,
                         "calibrate: context length %d does not fit needle %d (%d tokens) and its "
                         "question and answer in the model's %d positions",
                         o->lengths[k], i, nt[i].n_prefix + nt[i].n_answer, c->seq_len);
                free_needles(nt);
                return -1;
            }
        }
    }
    kvp_context *ctx = env->ctx;
    llama_runner *r = NULL;
    llama_runner_options ro;
    llama_runner_options_init(&ro);
    ro.capacity = c->seq_len;
    size_t per_row = (size_t)L * (size_t)Hq;
    span_reader s = {.L = L, .Hq = Hq, .Hk = c->n_kv_heads, .hd = c->head_dim};
    s.mass = malloc(sizeof(double) * per_row * (size_t)max_answer);
    s.len = malloc(sizeof(int64_t) * (size_t)c->n_kv_heads);
    s.keys = malloc(sizeof(float) * (size_t)c->seq_len * (size_t)c->head_dim);
    s.pos = malloc(sizeof(int32_t) * (size_t)c->seq_len);
    s.logits = malloc(sizeof(double) * (size_t)c->seq_len);
    double *sums = calloc(per_row, sizeof(double)), *trial = malloc(sizeof(double) * per_row);
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)c->seq_len);
    out->scores = malloc(sizeof(float) * per_row);
    out->ranking = malloc(sizeof(float) * per_row);
    if (!s.mass || !s.len || !s.keys || !s.pos || !s.logits || !sums || !trial ||
        !logits || !prompt || !out->scores || !out->ranking) {
        snprintf(err, err_size, "calibrate: out of memory");
        goto done;
    }
    if (llama_runner_create(env->model, ctx, &ro, &r, err, err_size)) goto done;
    s.runner = r;
    for (int i = 0; i < N_NEEDLES; i++)
        for (int k = 0; k < o->n_lengths; k++)
            for (int dd = 0; dd < o->n_depths; dd++) {
                /* depths spread evenly over 0..100 %, rounded like the reference grid */
                int depth = o->n_depths == 1 ? 50 : (int)floor(100.0 * dd / (o->n_depths - 1) + 0.5);
                s.span_lo = s.span_hi = 0;
                int n = build_prompt(env, &nt[i], env->text + (size_t)i * (size_t)Lmax, o->lengths[k],
                                     depth, prompt, &s.span_lo, &s.span_hi);
                int counted;
                if (run_trial(env, o, r, &s, &nt[i], prompt, n, trial, &counted, logits, err,
                              err_size))
                    goto done;
                out->trials++;
                if (counted) {
                    out->counted++;
                    for (size_t x = 0; x < per_row; x++) sums[x] += trial[x];
                }
                if (env->verbose)
                    fprintf(stderr, "calibrate: needle %d, length %d, depth %d%%: %s\n", i,
                            o->lengths[k], depth, counted ? "counted" : "not retrieved");
            }
    if (out->counted == 0) {
        snprintf(err, err_size,
                 "calibrate: none of the %d trials retrieved the needle (ROUGE-1 recall > 0.5); "
                 "the model is too small for greedy retrieval, use --decode forced",
                 out->trials);
        goto done;
    }
    for (size_t x = 0; x < per_row; x++) out->scores[x] = (float)(sums[x] / out->counted);
    rank_heads(out->scores, L, Hq, out->ranking);
    rc = 0;
done:
    if (rc) heads_result_free(out);
    free_needles(nt);
    llama_runner_free(r);
    free(s.mass);
    free(s.len);
    free(s.keys);
    free(s.pos);
    free(s.logits);
    free(sums);
    free(trial);
    free(logits);
    free(prompt);
    return rc;
}
