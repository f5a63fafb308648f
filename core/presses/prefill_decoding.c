/* PrefillDecodingPress (kvpress prefill_decoding_press.py): routes kvp_compress (the prefill)
 * to prefilling_press and kvp_decode_step to decoding_press; either may be left unset
 * ("none"), and then that phase is not compressed. kvp_press_reset resets the decoding
 * press's buffers, as kvpress does when the context ends.
 *
 * A head-wise prefill press (adakv, ...) leaves the layer ragged, and decoding presses,
 * which keep the same tokens in every head, refuse a ragged layer with a clear error (kvpress
 * masks instead, and does not remap its masks when the decoding press compacts, PRESSES.md
 * 2.43). */
#include "press_impl.h"

static double route_ratio(const kvp_press *p, int layer) {
    const kvp_press *pre = kvp__press_param_press(p, "prefilling_press");
    return pre ? kvp__press_layer_ratio(pre, layer) : 0.0;
}

static kvp_status route_accept(const kvp_press *p, const kvp_param_info *pi, const kvp_press *child) {
    int decoding = child->vt->info.kind == KVP_PRESS_DECODING;
    if (pi->name[0] == 'd' && !decoding)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %s is not a decoding press",
                              p->vt->info.name, pi->name, child->vt->info.name);
    if (pi->name[0] == 'p' && (decoding || (!child->vt->score && !child->vt->compress)))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "%s.%s: %s is not a prefill press",
                              p->vt->info.name, pi->name, child->vt->info.name);
    return KVP_OK;
}

static kvp_status route_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_press *pre = kvp__press_param_press(p, "prefilling_press");
    if (!pre) return KVP_OK;
    kvp_press_run sub;
    KVP_TRY(kvp__press_subrun(pre, run, &sub));
    if (sub.ratio == 0) return KVP_OK;
    return kvp__press_compress_run(pre, &sub);
}

static kvp_status route_decode(kvp_press *p, kvp_press_run *run, int *compressed) {
    kvp_press *dec = kvp__press_param_press(p, "decoding_press");
    if (!dec) return KVP_OK;
    return dec->vt->decode_step(dec, run, compressed);
}

static const kvp_param_info route_params[] = {
    {"prefilling_press", KVP_PARAM_PRESS, 1, 0, 0, 0, "press of the prefill (kvp_compress), or none"},
    {"decoding_press", KVP_PARAM_PRESS, 1, 0, 0, 0,
     "decoding press of kvp_decode_step, or none"},
};

const kvp_press_vtable kvp_press_prefill_decoding = {
    .info = {.name = "prefill_decoding",
             .summary = "one press for the prefill, another during decoding",
             .paper = "kvpress PrefillDecodingPress",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(route_params),
             .params = route_params},
    .compress = route_compress,
    .decode_step = route_decode,
    .ratio = route_ratio,
    .accept = route_accept,
    .delegates = 1,
};
