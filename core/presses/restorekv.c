/* RestoreKVPress (arXiv 2608.01247; PRESSES.md 2.27): KVzip's scoring, then, before the
 * eviction, n_r learned "restore" tokens run once over the full cache through a LoRA adapter
 * (kvp_forward, KVP_FORWARD_APPEND) and stay in the cache; the eviction ratio grows to
 * min(1, r + n_r / n) so that the memory matches plain KVzip at ratio r. The restore tokens are
 * never evicted. Later tokens (the question) go after position n + n_r.
 *
 * Artefact (tools/artefacts/convert_restorekv.py converts the published
 * higokri/RestoreKV-<model>[_plus]: restore_embeddings.safetensors and the PEFT adapter):
 *     restore_embeddings           [n_r, hidden_size]   any float dtype
 *     lora.<layer>.<proj>.A        [rank, in]           proj in q, k, v, o, gate, up, down
 *     lora.<layer>.<proj>.B        [out, rank]          (a missing proj is not adapted)
 *     metadata lora_alpha          the adapter scale is lora_alpha / rank
 * in Hugging Face's layout: an engine whose W_q and W_k rows pair RoPE channels otherwise
 * permutes the rows of B for q and k the same way (the reference runner does). The engine
 * applies the adapter during the restore pass only (kvp_forward_pass.adapter).
 * kvzip_plus_normalization selects KVzip+'s scoring; the _plus artefact goes with it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

static kvp_status restorekv_check_artefact(const kvp_press *p, const kvp_artefact *a) {
    (void)p;
    kvp_tensor t;
    int64_t shape[2] = {-1, -1};
    KVP_TRY(kvp__artefact_tensor("restorekv", a, "restore_embeddings", 2, shape, &t));
    if (t.shape[0] < 1 || t.shape[0] > 65536 || t.shape[1] < 1)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "restorekv: restore_embeddings [%lld, %lld] must hold 1 to 65536 tokens",
                              (long long)t.shape[0], (long long)t.shape[1]);
    float *f = kvp__tensor_host_f32(&t);
    if (!f) return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "restorekv: out of memory");
    int finite = 1;
    for (int64_t i = 0; i < t.shape[0] * t.shape[1]; i++) finite &= isfinite(f[i]) != 0;
    free(f);
    if (!finite)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "restorekv: restore_embeddings holds NaN or Inf");
    /* an adapter needs its scale */
    int has_lora = 0;
    for (int i = 0; i < kvp_artefact_tensor_count(a); i++)
        has_lora |= strncmp(kvp_artefact_tensor_name(a, i), "lora.", 5) == 0;
    if (has_lora && !kvp_artefact_metadata(a, "lora_alpha"))
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "restorekv: the artefact has LoRA tensors but no lora_alpha metadata");
    return KVP_OK;
}

static kvp_status restorekv_record(kvp_press *p, const kvp_press_run *run) {
    (void)p;
    (void)run;
    return KVP_OK; /* the scores come from the reconstruction passes */
}

static kvp_status restorekv_compress_all(kvp_press *p, kvp_context *ctx, kvp_cache *cache,
                                         const kvp_forward *fwd) {
    kvp_tensor t;
    int64_t shape[2] = {-1, -1};
    kvp_status st = kvp__artefact_tensor("restorekv", p->artefact, "restore_embeddings", 2, shape, &t);
    if (st != KVP_OK) {
        kvp__error_tls_to_ctx(ctx);
        return st;
    }
    float *emb = kvp__tensor_host_f32(&t);
    if (!emb) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "restorekv: out of memory");
    kvp_kvzip_restore restore = {.embeddings = emb, .n = (int)t.shape[0], .adapter = p->artefact};
    st = kvp__kvzip_compress_all(p, ctx, cache, fwd, &restore);
    free(emb);
    return st;
}

static const kvp_param_info restorekv_params[] = {
    KVP_PARAM_RATIO,
    {"layerwise", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "every layer evicts the same share (else one budget over all layers)"},
    {"n_sink", KVP_PARAM_INT, 4, 0, 1e9, 0, "initial tokens scored 1 (attention sinks)"},
    {"kvzip_plus_normalization", KVP_PARAM_BOOL, 0, 0, 1, 0,
     "KVzip+ scoring (use the _plus artefact with it)"},
};

const kvp_press_vtable kvp_press_restorekv = {
    .info = {.name = "restorekv",
             .summary = "KVzip plus learned restore tokens encoded over the full cache",
             .paper = "arXiv:2608.01247",
             .kind = KVP_PRESS_HEADWISE,
             .needs = KVP_NEED_ARTEFACT | KVP_NEED_FORWARD | KVP_NEED_ALL_LAYERS,
             .n_params = KVP_COUNT(restorekv_params),
             .params = restorekv_params},
    .compress = restorekv_record,
    .check_artefact = restorekv_check_artefact,
    .compress_all = restorekv_compress_all,
};
