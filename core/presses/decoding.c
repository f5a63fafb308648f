/* DecodingPress (kvpress decoding_press.py): compresses during decoding. Every
 * `compression_interval` calls of kvp_decode_step on a layer (or when one step brings at least
 * target_size tokens), the layer is compressed to exactly target_size tokens by the inner
 * press. The press keeps the most recent `query_buffer_size` pre-RoPE query rows of each layer
 * (what kvpress keeps as hidden states), so window scorers such as SnapKV see recent queries.
 *
 * Differences from kvpress, on purpose: the buffer counts query rows, not forward calls, and
 * always holds at least the current step's rows.
 *
 * The press holds device state: use one press per context (and per sequence), destroy it
 * before its context, and kvp_press_reset it between sequences.
 *
 * kvp__decoding_step is shared with compression_ratio_decoding, which only computes its target
 * differently. */
#include <stdlib.h>
#include <string.h>

#include "press_impl.h"

typedef struct layer_state {
    int64_t steps;
    kvp_query_ring queries;
} layer_state;

static void layer_release(void *record) { kvp__query_ring_free(&((layer_state *)record)->queries); }

static void layer_reset(void *record) {
    layer_state *ls = record;
    ls->steps = 0;
    kvp__query_ring_clear(&ls->queries);
}

void kvp__decoding_reset(kvp_press *p) { kvp__press_each_layer_state(p, layer_reset); }

kvp_status kvp__decoding_step(kvp_press *p, kvp_press_run *run, int *compressed,
                              int64_t (*target_of)(const kvp_press *p, const kvp_press_run *run)) {
    layer_state *ls = NULL;
    KVP_TRY(kvp__press_layer_state(p, run, sizeof *ls, layer_release, (void **)&ls));
    const kvp_inputs *in = run->in;
    int64_t m = 0;
    if (in && in->queries.set) {
        KVP_TRY(kvp__query_ring_add(run, &ls->queries, (int)kvp__press_int(p, "query_buffer_size")));
        m = in->queries.t.shape[1];
    }
    ls->steps++;
    int64_t target = target_of(p, run);
    if (ls->steps < kvp__press_int(p, "compression_interval") && m < target) return KVP_OK;
    if (run->n > target) {
        kvp_inputs scorer_in;
        KVP_TRY(kvp__query_ring_inputs(run, &ls->queries, &scorer_in));
        kvp_press_run inner = *run;
        inner.in = &scorer_in;
        inner.keep = target;
        inner.ratio = kvp__ratio_for_target(run->n, target);
        KVP_TRY(kvp__press_compress_run(p->inner, &inner));
        *compressed = 1;
    }
    ls->steps = 0;
    kvp__query_ring_clear(&ls->queries); /* kvpress clears its buffer after a compression */
    return KVP_OK;
}

static int64_t fixed_target(const kvp_press *p, const kvp_press_run *run) {
    (void)run;
    return kvp__press_int(p, "target_size");
}

static kvp_status decoding_step(kvp_press *p, kvp_press_run *run, int *compressed) {
    return kvp__decoding_step(p, run, compressed, fixed_target);
}

static const kvp_param_info decoding_params[] = {
    KVP_PARAM_INNER,
    {"compression_interval", KVP_PARAM_INT, 512, 1, 1e9, 0, "decoding steps between compressions"},
    {"target_size", KVP_PARAM_INT, 2048, 1, 1e9, 0, "tokens per head kept by a compression"},
    {"query_buffer_size", KVP_PARAM_INT, 256, 0, 1e9, 0,
     "recent query rows buffered for the inner scorer"},
};

const kvp_press_vtable kvp_press_decoding = {
    .info = {.name = "decoding",
             .summary = "every N decoding steps, compress to a target size with the inner press",
             .paper = "kvpress DecodingPress",
             .kind = KVP_PRESS_DECODING,
             .n_params = KVP_COUNT(decoding_params),
             .params = decoding_params},
    .decode_step = decoding_step,
    .reset = kvp__decoding_reset,
};
