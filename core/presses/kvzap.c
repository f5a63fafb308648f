/* KVzapPress (arXiv 2601.07891; PRESSES.md 2.20): a small trained network per layer predicts
 * every token's (log) KVzip+ importance from its attention-input hidden state:
 *   linear: S_{:, t} = W h_t + b;  mlp: S_{:, t} = W2 GELU(W1 h_t + b1) + b2 (exact GELU).
 * Keys and values are not read. The hidden states must be those of the n cached tokens, in
 * order (row t scores cached token t), as in a prefill.
 *
 * Artefact (kvp_press_set_artefact): the published nvidia/KVzap-<linear|mlp>-<model> weights
 * (model.safetensors of KVzapModel), tensor names as published, for every layer l:
 *   linear:  layers.<l>.weight [n_kv_heads, hidden_size]   layers.<l>.bias [n_kv_heads]
 *   mlp:     layers.<l>.0.weight [hidden_dim, hidden_size]  layers.<l>.0.bias [hidden_dim]
 *            layers.<l>.2.weight [n_kv_heads, hidden_dim]   layers.<l>.2.bias [n_kv_heads]
 * (F32, F16 or BF16; tools/artefacts/convert_kvzap.py checks a published folder against its
 * config.json). model_type must name the artefact's kind. Weights are used in their dtype. */
#include <stdio.h>
#include <stdlib.h>

#include "press_impl.h"

enum { KVZAP_LINEAR = 0, KVZAP_MLP = 1 };

typedef struct kvzap_layer {
    kvp_tensor w1, b1, w2, b2; /* linear: w1/b1 only */
} kvzap_layer;

/* The tensors of layer l of the artefact in the given form; 0 when absent or misshapen. */
static int layer_tensors(const kvp_artefact *a, int l, int type, kvzap_layer *t) {
    char name[64];
    const char *fmt1 = type == KVZAP_MLP ? "layers.%d.0.%s" : "layers.%d.%s";
    snprintf(name, sizeof name, fmt1, l, "weight");
    if (kvp_artefact_get(a, name, &t->w1) != KVP_OK || t->w1.ndim != 2) return 0;
    snprintf(name, sizeof name, fmt1, l, "bias");
    if (kvp_artefact_get(a, name, &t->b1) != KVP_OK || t->b1.ndim != 1 ||
        t->b1.shape[0] != t->w1.shape[0])
        return 0;
    if (type == KVZAP_LINEAR) return 1;
    snprintf(name, sizeof name, "layers.%d.2.weight", l);
    if (kvp_artefact_get(a, name, &t->w2) != KVP_OK || t->w2.ndim != 2 ||
        t->w2.shape[1] != t->w1.shape[0])
        return 0;
    snprintf(name, sizeof name, "layers.%d.2.bias", l);
    return kvp_artefact_get(a, name, &t->b2) == KVP_OK && t->b2.ndim == 1 &&
           t->b2.shape[0] == t->w2.shape[0];
}

/* The artefact's kind (KVZAP_*) and layer count; -1 when it holds neither form. */
static int artefact_kind(const kvp_artefact *a, int *layers) {
    kvzap_layer t;
    for (int type = KVZAP_LINEAR; type <= KVZAP_MLP; type++) {
        int l = 0;
        while (layer_tensors(a, l, type, &t)) l++;
        if (l > 0) {
            *layers = l;
            return type;
        }
    }
    return -1;
}

static kvp_status kvzap_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    int layers = 0, type = artefact_kind(a, &layers);
    if (type < 0)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvzap: the artefact holds no KVzap model: expected layers.0.weight "
                              "and layers.0.bias (linear) or layers.0.0.weight/bias and "
                              "layers.0.2.weight/bias (mlp), with matching shapes");
    kvzap_layer first, t;
    layer_tensors(a, 0, type, &first);
    for (int l = 1; l < layers; l++) {
        layer_tensors(a, l, type, &t);
        int same = t.w1.shape[0] == first.w1.shape[0] && t.w1.shape[1] == first.w1.shape[1] &&
                   (type == KVZAP_LINEAR || t.w2.shape[0] == first.w2.shape[0]);
        if (!same)
            return kvp__error_tls(KVP_ERR_INVALID_ARG,
                                  "kvzap: layer %d of the artefact has other shapes than layer 0", l);
    }
    return KVP_OK;
}

static kvp_status kvzap_check(const kvp_press *p, const kvp_press_run *run) {
    int layers = 0, type = artefact_kind(p->artefact, &layers);
    int want = (int)kvp__press_int(p, "model_type");
    static const char *const names[] = {"linear", "mlp"};
    if (type != want)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "kvzap: model_type=%s but the artefact holds a %s model", names[want],
                          type < 0 ? "no" : names[type]);
    if (run->layer >= layers)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "kvzap: the artefact has %d layers, no model for layer %d", layers,
                          run->layer);
    kvzap_layer t;
    layer_tensors(p->artefact, run->layer, type, &t);
    const kvp_tensor *h = &run->in->hidden.t;
    int64_t out = type == KVZAP_MLP ? t.w2.shape[0] : t.w1.shape[0];
    if (t.w1.shape[1] != h->shape[1] || out != run->Hk)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "kvzap: the layer-%d model maps %lld features to %lld scores, the hidden "
                          "states have %lld features and the cache %d kv heads",
                          run->layer, (long long)t.w1.shape[1], (long long)out,
                          (long long)h->shape[1], run->Hk);
    if (h->shape[0] != run->n)
        return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                          "kvzap on layer %d: %lld hidden-state rows were given for %lld cached "
                          "tokens (row t scores cached token t)",
                          run->layer, (long long)h->shape[0], (long long)run->n);
    return KVP_OK;
}

/* Uploads a weight matrix in its own dtype (the op reads f32, f16 and bf16). */
static kvp_status upload_weights(const kvp_press_run *run, const kvp_tensor *w, kvp_buffer **out) {
    size_t bytes = (size_t)kvp__tensor_count(w) * kvp_dtype_size(w->dtype);
    KVP_TRY(kvp__scratch(run->ctx, bytes, out));
    return kvp__upload(run->ctx, *out, 0, w->data, bytes);
}

static kvp_status kvzap_score(const kvp_press *p, const kvp_press_run *run, kvp_buffer **out) {
    kvp_context *ctx = run->ctx;
    int type = (int)kvp__press_int(p, "model_type");
    kvzap_layer t;
    layer_tensors(p->artefact, run->layer, type, &t);
    const kvp_tensor *h = &run->in->hidden.t;
    int n = (int)run->n, D = (int)h->shape[1];
    kvp_buffer *w1, *b1;
    KVP_TRY(upload_weights(run, &t.w1, &w1));
    KVP_TRY(kvp__upload_f32(run, t.b1.dtype, t.b1.data, (size_t)t.b1.shape[0], &b1));
    KVP_TRY(kvp__scores_alloc(run, run->Hk, out));
    if (type == KVZAP_LINEAR) {
        kvp_p_linear lin = {.rows = n, .n_in = D, .n_out = run->Hk, .x_dtype = (int)h->dtype,
                            .w_dtype = (int)t.w1.dtype, .has_bias = 1, .act = KVP_ACT_NONE,
                            .out_t = 1};
        return KVP_RUN(ctx, LINEAR, &lin, KVP_BO(h->buffer, h->offset), KVP_B(w1), KVP_B(b1),
                       KVP_B(*out));
    }
    int hidden = (int)t.w1.shape[0];
    kvp_buffer *mid, *w2, *b2;
    KVP_TRY(kvp__scratch(ctx, sizeof(float) * (size_t)n * hidden, &mid));
    kvp_p_linear l1 = {.rows = n, .n_in = D, .n_out = hidden, .x_dtype = (int)h->dtype,
                       .w_dtype = (int)t.w1.dtype, .has_bias = 1, .act = KVP_ACT_GELU, .out_t = 0};
    KVP_TRY(KVP_RUN(ctx, LINEAR, &l1, KVP_BO(h->buffer, h->offset), KVP_B(w1), KVP_B(b1),
                    KVP_B(mid)));
    KVP_TRY(upload_weights(run, &t.w2, &w2));
    KVP_TRY(kvp__upload_f32(run, t.b2.dtype, t.b2.data, (size_t)t.b2.shape[0], &b2));
    kvp_p_linear l2 = {.rows = n, .n_in = hidden, .n_out = run->Hk, .x_dtype = KVP_DT_F32,
                       .w_dtype = (int)t.w2.dtype, .has_bias = 1, .act = KVP_ACT_NONE, .out_t = 1};
    return KVP_RUN(ctx, LINEAR, &l2, KVP_B(mid), KVP_B(w2), KVP_B(b2), KVP_B(*out));
}

static const kvp_param_info kvzap_params[] = {
    KVP_PARAM_RATIO,
    {"model_type", KVP_PARAM_CHOICE, KVZAP_MLP, 0, 1, 0,
     "the surrogate model of the artefact: linear or mlp"},
};

const kvp_press_vtable kvp_press_kvzap = {
    .info = {.name = "kvzap",
             .summary = "trained surrogate of KVzip+ on the hidden states (artefact)",
             .paper = "arXiv:2601.07891",
             .kind = KVP_PRESS_SCORER,
             .needs = KVP_NEED_HIDDEN | KVP_NEED_ARTEFACT,
             .n_params = KVP_COUNT(kvzap_params),
             .params = kvzap_params},
    .check = kvzap_check,
    .score = kvzap_score,
    .check_artefact = kvzap_check_artefact,
    .choices = {[1] = "linear|mlp"},
};
