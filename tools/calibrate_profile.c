/* Procedure B of CompressKV (COMPRESSKV.md 2.1 and 5.4): how much each layer's attention
 * output suffers when its prompt is cut to a tiny budget.
 *
 * For each prompt of each group (groups = prompt lengths here; the reference groups by
 * LongBench dataset), the prompt is prefilled with the full cache (captured), and the same
 * prefill is replayed into a second cache that CompressKV cuts to `budget` tokens in every
 * layer (uniform budgets, the artefact's SRH selection). The model then decodes greedily with
 * the full cache; at every step and in every layer the step's keys and values are appended to
 * the compressed cache too, and the step's query attends over both caches through the library
 * (kvp_attention), each output projected by W_o:
 *     e_l += || W_o a_comp - W_o a_full || / (|| W_o a_full || + epsilon).
 * Errors never cascade: the full cache drives the model. Each group's sums are normalised over
 * the layers, the groups averaged, and the result normalised again. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "model/runner.h"

void profile_result_free(profile_result *r) {
    free(r->errors);
    free(r->profile);
    memset(r, 0, sizeof *r);
}

typedef struct error_meter {
    const llama_model *model;
    kvp_context *ctx;
    kvp_cache *compressed;
    float *att;        /* [Hq * hd] attention over the compressed cache */
    double *sums;      /* [L] of the current group */
    double epsilon;
} error_meter;

/* ||W_o x||^2 and ||W_o (x - y)||^2 of a layer, in double. */
static void projected_norms(const float *wo, int D, int in, const float *x, const float *y,
                            double *full, double *diff) {
    *full = *diff = 0;
    for (int o = 0; o < D; o++) {
        const float *row = wo + (size_t)o * (size_t)in;
        double a = 0, b = 0;
        for (int i = 0; i < in; i++) {
            a += (double)row[i] * x[i];
            b += (double)row[i] * y[i];
        }
        *full += a * a;
        *diff += (a - b) * (a - b);
    }
}

static int measure_step(void *user, const llama_attention_view *v, char *err, size_t err_size) {
    error_meter *m = user;
    const llama_config *c = &m->model->cfg;
    if (v->n != 1) {
        snprintf(err, err_size, "calibrate: the error profile measures one decode token at a time");
        return -1;
    }
    kvp_tensor k = kvp_tensor_host(KVP_DTYPE_F32, (void *)v->k, 3, c->n_kv_heads, 1, c->head_dim);
    kvp_tensor val = kvp_tensor_host(KVP_DTYPE_F32, (void *)v->v, 3, c->n_kv_heads, 1, c->head_dim);
    kvp_tensor q = kvp_tensor_host(KVP_DTYPE_F32, (void *)v->q, 3, c->n_heads, 1, c->head_dim);
    kvp_tensor out = kvp_tensor_host(KVP_DTYPE_F32, m->att, 3, c->n_heads, 1, c->head_dim);
    kvp_status st = kvp_cache_append(m->compressed, v->layer, &k, &val, v->pos0);
    if (st == KVP_OK)
        st = kvp_attention(m->ctx, m->compressed, v->layer, &q, v->pos0,
                           1.0f / sqrtf((float)c->head_dim), &out);
    if (st != KVP_OK) {
        snprintf(err, err_size, "calibrate: the compressed cache: %s: %s", kvp_status_name(st),
                 kvp_context_last_error(m->ctx));
        return -1;
    }
    /* one token: [Hq, 1, hd] is already the token-major concatenation of the heads */
    double full, diff;
    projected_norms(m->model->layers[v->layer].wo, c->dim, c->n_heads * c->head_dim, v->out, m->att,
                    &full, &diff);
    m->sums[v->layer] += sqrt(diff) / (sqrt(full) + m->epsilon);
    return 0;
}

int calibrate_profile(const calib_env *env, const float *ranking, const profile_options *o,
                      profile_result *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    const llama_config *c = &env->model->cfg;
    int L = c->n_layers, need = env->heads_tokens;
    if (o->n_groups < 1 || o->prompts < 1 || o->generate < 1 || o->budget < 1) {
        snprintf(err, err_size, "calibrate: the profile needs groups, prompts, generated tokens "
                                "and a budget of at least 1");
        return -1;
    }
    for (int g = 0; g < o->n_groups; g++) {
        int len = o->lengths[g];
        if (len <= o->budget || len <= o->window || len + o->generate > c->seq_len) {
            snprintf(err, err_size,
                     "calibrate: profile prompts of %d tokens must be longer than the budget (%d) "
                     "and the window (%d), and leave %d positions to generate within %d",
                     len, o->budget, o->window, o->generate, c->seq_len);
            return -1;
        }
        need += o->prompts * (len - 1);
    }
    if (env->n_text < need) {
        snprintf(err, err_size,
                 "calibrate: the text gives %d tokens; the haystacks and profile prompts need %d",
                 env->n_text, need);
        return -1;
    }
    int rc = -1;
    kvp_context *ctx = env->ctx;
    kvp_artefact *art = NULL;
    kvp_press *press = NULL;
    llama_runner *full = NULL, *cut = NULL;
    llama_capture *cap = NULL;
    llama_runner_options ro;
    llama_runner_options_init(&ro);
    ro.capacity = c->seq_len;
    error_meter m = {.model = env->model, .ctx = ctx, .epsilon = o->epsilon};
    m.att = malloc(sizeof(float) * (size_t)c->n_heads * (size_t)c->head_dim);
    m.sums = calloc((size_t)L, sizeof(double));
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)c->seq_len);
    out->errors = calloc((size_t)o->n_groups * (size_t)L, sizeof(float));
    out->profile = calloc((size_t)L, sizeof(float));
    double *avg = calloc((size_t)L, sizeof(double));
    if (!m.att || !m.sums || !logits || !tokens || !out->errors || !out->profile || !avg) {
        snprintf(err, err_size, "calibrate: out of memory");
        goto done;
    }
    if (!(art = calibrate_make_artefact(env->model, ranking, NULL, err, err_size))) goto done;
    kvp_status st = kvp_press_create("compresskv", &press);
    if (!st) st = kvp_press_set_int(press, "window_size", o->window);
    if (!st) st = kvp_press_set_int(press, "kernel_size", o->kernel);
    if (!st) st = kvp_press_set_int(press, "selection_heads", o->selection_heads);
    if (!st) st = kvp_press_set_bool(press, "layer_budgets", 0);
    if (!st) st = kvp_press_set_artefact(press, art);
    if (st) {
        snprintf(err, err_size, "calibrate: the simulation's press: %s", kvp_last_error());
        goto done;
    }
    if (llama_runner_create(env->model, ctx, &ro, &full, err, err_size) ||
        llama_runner_create(env->model, ctx, &ro, &cut, err, err_size))
        goto done;
    m.compressed = llama_runner_cache(cut);
    int offset = env->heads_tokens;
    for (int g = 0; g < o->n_groups; g++) {
        int len = o->lengths[g];
        memset(m.sums, 0, sizeof(double) * (size_t)L);
        llama_capture_free(cap);
        cap = NULL;
        if (llama_capture_create(env->model, len, &cap, err, err_size)) goto done;
        /* the ratio whose average budget floor(len (1 - r)) is exactly `budget` */
        double ratio = 1.0 - (o->budget + 0.5) / len;
        if (kvp_n_keep(len, ratio) != o->budget ||
            kvp_press_set_float(press, "compression_ratio", ratio) != KVP_OK) {
            snprintf(err, err_size, "calibrate: no ratio keeps %d of %d tokens", o->budget, len);
            goto done;
        }
        for (int i = 0; i < o->prompts; i++, offset += len - 1) {
            tokens[0] = tokenizer_bos(env->tok);
            memcpy(tokens + 1, env->text + offset, sizeof(int32_t) * (size_t)(len - 1));
            llama_runner_set_capture(full, cap);
            int fail = llama_runner_rewind(full, 0, err, err_size) ||
                       llama_forward(full, tokens, len, NULL, LLAMA_LOGITS_LAST, logits, err, err_size);
            llama_runner_set_capture(full, NULL);
            if (fail || llama_replay(cut, cap, press, err, err_size)) goto done;
            int y = calibrate_argmax(logits, c->vocab_size);
            for (int step = 0; step < o->generate && y != tokenizer_eos(env->tok); step++) {
                llama_runner_set_observer(full, measure_step, &m);
                fail = llama_forward(full, &y, 1, NULL, LLAMA_LOGITS_LAST, logits, err, err_size);
                llama_runner_set_observer(full, NULL, NULL);
                if (fail) goto done;
                out->steps++;
                y = calibrate_argmax(logits, c->vocab_size);
            }
        }
        double total = 0;
        for (int l = 0; l < L; l++) total += m.sums[l];
        if (!(total > 0)) {
            snprintf(err, err_size, "calibrate: no error measured for the prompts of %d tokens", len);
            goto done;
        }
        for (int l = 0; l < L; l++) {
            out->errors[(size_t)g * L + l] = (float)m.sums[l];
            avg[l] += m.sums[l] / total / o->n_groups;
        }
        if (env->verbose)
            fprintf(stderr, "calibrate: profile group of %d-token prompts done\n", len);
    }
    double total = 0;
    for (int l = 0; l < L; l++) total += avg[l];
    for (int l = 0; l < L; l++) out->profile[l] = (float)(avg[l] / total);
    rc = 0;
done:
    if (rc) profile_result_free(out);
    llama_capture_free(cap);
    llama_runner_free(full);
    llama_runner_free(cut);
    kvp_press_destroy(press);
    kvp_artefact_destroy(art);
    free(m.att);
    free(m.sums);
    free(logits);
    free(tokens);
    free(avg);
    return rc;
}
