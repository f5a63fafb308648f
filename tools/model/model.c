/* What the model loaders share: configuration checks, the weight arena, file reading and
 * format detection. */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int checked_mul(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size, char *err,
              size_t err_size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        snprintf(err, err_size, "%s: %lld bytes is more than this tool loads (%zu)", path,
                 (long long)st.st_size, max_bytes);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        snprintf(err, err_size, "%s: out of memory for %zu bytes", path, n);
        fclose(f);
        return -1;
    }
    if (fread(buf, 1, n, f) != n) {
        snprintf(err, err_size, "%s: read error", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data = buf;
    *size = n;
    return 0;
}

int llama_config_check(const llama_config *c, char *err, size_t err_size) {
    struct {
        const char *name;
        int value, max;
    } dims[] = {{"dim", c->dim, 1 << 16},           {"hidden_dim", c->hidden_dim, 1 << 20},
                {"n_layers", c->n_layers, 1024},     {"n_heads", c->n_heads, 1024},
                {"n_kv_heads", c->n_kv_heads, 1024}, {"head_dim", c->head_dim, 1024},
                {"vocab_size", c->vocab_size, 1 << 24}, {"seq_len", c->seq_len, 1 << 24}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].value < 1 || dims[i].value > dims[i].max) {
            snprintf(err, err_size, "model: %s = %d is outside [1, %d]", dims[i].name,
                     dims[i].value, dims[i].max);
            return -1;
        }
    if (c->n_heads % c->n_kv_heads) {
        snprintf(err, err_size, "model: %d query heads are not a multiple of %d kv heads",
                 c->n_heads, c->n_kv_heads);
        return -1;
    }
    if (c->head_dim % 2) {
        snprintf(err, err_size, "model: head_dim %d is odd (RoPE rotates pairs)", c->head_dim);
        return -1;
    }
    if ((int64_t)c->n_heads * c->head_dim > (1 << 16)) {
        snprintf(err, err_size, "model: n_heads * head_dim = %lld is too large",
                 (long long)c->n_heads * c->head_dim);
        return -1;
    }
    if (!(c->norm_eps > 0) || !(c->norm_eps < 1)) {
        snprintf(err, err_size, "model: RMSNorm epsilon %g outside (0, 1)", (double)c->norm_eps);
        return -1;
    }
    if (!(c->rope_theta > 1) || !(c->rope_theta < 1e12)) {
        snprintf(err, err_size, "model: RoPE theta %g outside (1, 1e12)", c->rope_theta);
        return -1;
    }
    return 0;
}

uint64_t llama_weight_count(const llama_config *c, int shared) {
    /* Bounded by llama_config_check (dims <= 2^16..2^24, layers <= 1024), so these products
     * fit in 64 bits. */
    uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden_dim, V = (uint64_t)c->vocab_size;
    uint64_t Q = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
    uint64_t KV = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    uint64_t per_layer = 2 * D + Q * D + 2 * KV * D + D * Q + 3 * F * D;
    return V * D + D + (shared ? 0 : V * D) + per_layer * (uint64_t)c->n_layers;
}

int llama_model_alloc(const llama_config *c, int shared, llama_model **out, char *err,
                      size_t err_size) {
    *out = NULL;
    if (llama_config_check(c, err, err_size)) return -1;
    uint64_t D = (uint64_t)c->dim, F = (uint64_t)c->hidden_dim, V = (uint64_t)c->vocab_size;
    uint64_t Q = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
    uint64_t KV = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    uint64_t total = llama_weight_count(c, shared);
    if (total > (uint64_t)SIZE_MAX / sizeof(float)) {
        snprintf(err, err_size, "model: %llu weights do not fit in memory", (unsigned long long)total);
        return -1;
    }
    llama_model *m = calloc(1, sizeof *m);
    if (m) m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (m && m->layers) m->arena = malloc((size_t)total * sizeof(float));
    if (!m || !m->layers || !m->arena) {
        snprintf(err, err_size, "model: out of memory for %llu weights", (unsigned long long)total);
        llama_model_free(m);
        return -1;
    }
    m->cfg = *c;
    m->arena_floats = (size_t)total;
    m->shared_classifier = shared;
    float *p = m->arena;
#define TAKE(n) (p += (n), p - (n))
    m->tok_embd = TAKE(V * D);
    m->out_norm = TAKE(D);
    m->classifier = shared ? m->tok_embd : TAKE(V * D);
    for (int l = 0; l < c->n_layers; l++) {
        llama_layer *L = &m->layers[l];
        L->attn_norm = TAKE(D);
        L->wq = TAKE(Q * D);
        L->wk = TAKE(KV * D);
        L->wv = TAKE(KV * D);
        L->wo = TAKE(D * Q);
        L->ffn_norm = TAKE(D);
        L->w_gate = TAKE(F * D);
        L->w_down = TAKE(D * F);
        L->w_up = TAKE(F * D);
    }
#undef TAKE
    *out = m;
    return 0;
}

void llama_model_free(llama_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->arena);
    tokenizer_free(m->tok);
    free(m);
}

/* Within each head, half-split channel h*(d/2) + i is interleaved channel 2i + h. */
static void permute_rows(float *w, int heads, int hd, int cols, float *tmp, int to_half_split) {
    size_t row = (size_t)cols;
    for (int h = 0; h < heads; h++) {
        float *head = w + (size_t)h * (size_t)hd * row;
        memcpy(tmp, head, sizeof(float) * (size_t)hd * row);
        for (int half = 0; half < 2; half++)
            for (int i = 0; i < hd / 2; i++) {
                size_t inter = (size_t)(2 * i + half), split = (size_t)(half * (hd / 2) + i);
                size_t dst = to_half_split ? split : inter, src = to_half_split ? inter : split;
                memcpy(head + dst * row, tmp + src * row, sizeof(float) * row);
            }
    }
}

int llama_model_set_rope_layout(llama_model *m, kvp_rope_layout layout, char *err, size_t err_size) {
    if (layout != KVP_ROPE_HALF_SPLIT && layout != KVP_ROPE_INTERLEAVED) {
        snprintf(err, err_size, "model: unknown RoPE layout %d", (int)layout);
        return -1;
    }
    if (layout == m->cfg.rope_layout) return 0;
    const llama_config *c = &m->cfg;
    float *tmp = malloc(sizeof(float) * (size_t)c->head_dim * (size_t)c->dim);
    if (!tmp) {
        snprintf(err, err_size, "model: out of memory");
        return -1;
    }
    int to_half = layout == KVP_ROPE_HALF_SPLIT;
    for (int l = 0; l < c->n_layers; l++) {
        /* The arena is ours: the const in llama_layer only keeps the runner from writing. */
        permute_rows((float *)m->layers[l].wq, c->n_heads, c->head_dim, c->dim, tmp, to_half);
        permute_rows((float *)m->layers[l].wk, c->n_kv_heads, c->head_dim, c->dim, tmp, to_half);
    }
    free(tmp);
    m->cfg.rope_layout = layout;
    return 0;
}

int llama_model_load(const char *path, llama_model **out, char *err, size_t err_size) {
    *out = NULL;
    uint8_t *data;
    size_t size;
    if (read_file(path, SIZE_MAX / 2, &data, &size, err, err_size)) return -1;
    int rc;
    if (size >= 4 && !memcmp(data, "GGUF", 4))
        rc = llama_model_load_gguf(data, size, out, err, err_size);
    else
        rc = llama_model_load_llama2c(data, size, out, err, err_size);
    free(data);
    if (rc && err && err_size) {
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, err_size, "%s: %s", path, tmp);
    }
    return rc;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t bytes) {
    const unsigned char *b = data;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t llama_model_fingerprint(const llama_model *m) {
    const llama_config *c = &m->cfg;
    size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, Q = (size_t)c->n_heads * c->head_dim;
    size_t KV = (size_t)c->n_kv_heads * c->head_dim, V = (size_t)c->vocab_size;
    int32_t shape[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                        c->head_dim, c->vocab_size};
    uint64_t h = fnv1a(0xcbf29ce484222325ull, shape, sizeof shape);
    /* tensor by tensor in a fixed order, so that files storing them differently (a shared
     * classifier, another arena order) give the same fingerprint for the same weights */
    h = fnv1a(h, m->tok_embd, sizeof(float) * V * D);
    for (int l = 0; l < c->n_layers; l++) {
        const llama_layer *L = &m->layers[l];
        h = fnv1a(h, L->attn_norm, sizeof(float) * D);
        h = fnv1a(h, L->wq, sizeof(float) * Q * D);
        h = fnv1a(h, L->wk, sizeof(float) * KV * D);
        h = fnv1a(h, L->wv, sizeof(float) * KV * D);
        h = fnv1a(h, L->wo, sizeof(float) * D * Q);
        h = fnv1a(h, L->ffn_norm, sizeof(float) * D);
        h = fnv1a(h, L->w_gate, sizeof(float) * F * D);
        h = fnv1a(h, L->w_down, sizeof(float) * D * F);
        h = fnv1a(h, L->w_up, sizeof(float) * F * D);
    }
    h = fnv1a(h, m->out_norm, sizeof(float) * D);
    return fnv1a(h, m->classifier, sizeof(float) * V * D);
}
