/* CompressionRatioDecodingPress (kvpress compression_ratio_decoding_press.py): DecodingPress
 * whose target is a fraction of all the tokens seen so far: with T = the largest position of
 * this step's tokens + 1, target = max(1, int(T * (1 - target_compression_ratio))). The
 * positions are those of the step's queries when given (kvpress reads the call's position
 * ids), else those of the layer's newest entry. Everything else is decoding.c's step. */
#include "press_impl.h"

static int64_t ratio_target(const kvp_press *p, const kvp_press_run *run) {
    const kvp_inputs *in = run->in;
    int64_t seen = run->cache->layers[run->layer].next_pos; /* one past the newest entry */
    if (in && in->queries.set) seen = in->queries.pos0 + in->queries.t.shape[1];
    int64_t target = (int64_t)((double)seen * (1.0 - kvp__press_param(p, "target_compression_ratio")));
    return target < 1 ? 1 : target;
}

static kvp_status ratio_step(kvp_press *p, kvp_press_run *run, int *compressed) {
    return kvp__decoding_step(p, run, compressed, ratio_target);
}

static const kvp_param_info ratio_decoding_params[] = {
    KVP_PARAM_INNER,
    {"target_compression_ratio", KVP_PARAM_FLOAT, 0.5, 0, 1, 1,
     "fraction of all tokens seen so far that a compression removes"},
    {"compression_interval", KVP_PARAM_INT, 512, 1, 1e9, 0, "decoding steps between compressions"},
    {"query_buffer_size", KVP_PARAM_INT, 256, 0, 1e9, 0,
     "recent query rows buffered for the inner scorer"},
};

const kvp_press_vtable kvp_press_compression_ratio_decoding = {
    .info = {.name = "compression_ratio_decoding",
             .summary = "every N decoding steps, keep a fraction of all tokens seen so far",
             .paper = "kvpress CompressionRatioDecodingPress",
             .kind = KVP_PRESS_DECODING,
             .n_params = KVP_COUNT(ratio_decoding_params),
             .params = ratio_decoding_params},
    .decode_step = ratio_step,
    .reset = kvp__decoding_reset,
};
