/* PerLayerCompressionPress (kvpress per_layer_compression_press.py): the inner press with a
 * different compression ratio on each layer, compression_ratios[layer]. As in kvpress the
 * ratios are not limited to [0, 1): 1 evicts every token of the layer. The ratio the press
 * reports (kvp_press_get cannot set it) is the mean of the list. */
#include <math.h>

#include "press_impl.h"

static const kvp_param_list *ratios(const kvp_press *p) {
    return kvp__press_list(p, "compression_ratios");
}

static double per_layer_ratio(const kvp_press *p, int layer) {
    const kvp_param_list *l = ratios(p);
    if (layer >= 0) return layer < l->count ? l->values[layer] : NAN; /* NAN: check reports it */
    double sum = 0;
    for (int k = 0; k < l->count; k++) sum += l->values[k];
    return l->count ? sum / l->count : 0.0;
}

static kvp_status per_layer_check(const kvp_press *p, const kvp_press_run *run) {
    const kvp_param_list *l = ratios(p);
    if (run->layer < l->count) return KVP_OK;
    return kvp__error(run->ctx, KVP_ERR_INVALID_ARG,
                      "per_layer_compression: compression_ratios has %d entries, none for layer %d "
                      "(give one ratio per layer of the model)",
                      l->count, run->layer);
}

static kvp_status per_layer_compress(kvp_press *p, const kvp_press_run *run) {
    kvp_press_run sub = *run;
    sub.ratio = ratios(p)->values[run->layer];
    if (sub.ratio == 0) return KVP_OK;
    return kvp__press_compress_run(p->inner, &sub);
}

static const kvp_param_info per_layer_params[] = {
    KVP_PARAM_INNER,
    {"compression_ratios", KVP_PARAM_FLOAT_LIST, 0, 0, 1, 0,
     "compression ratio of each layer, in layer order"},
};

const kvp_press_vtable kvp_press_per_layer_compression = {
    .info = {.name = "per_layer_compression",
             .summary = "the inner press with one compression ratio per layer",
             .paper = "kvpress PerLayerCompressionPress",
             .kind = KVP_PRESS_WRAPPER,
             .n_params = KVP_COUNT(per_layer_params),
             .params = per_layer_params},
    .check = per_layer_check,
    .compress = per_layer_compress,
    .ratio = per_layer_ratio,
};
