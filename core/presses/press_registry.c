/* Every press the library knows, in the order kvp_press_list_get reports them. */
#include "press_impl.h"

#define PRESSES(X)                                                                           \
    X(knorm) X(random) X(streaming_llm) X(snapkv) X(pyramidkv) X(tova)                  \
    X(observed_attention) X(expected_attention) X(keydiff) X(lagkv) X(criticalkv)       \
    X(adakv) X(chunkkv) X(decoding) X(composed) X(per_layer_compression)                \
    X(prefill_decoding) X(key_rerotation) X(chunk) X(block) X(critical_adakv) X(lukv)   \
    X(compression_ratio_decoding) X(dms) X(merging) X(cam) X(expected_attention_stats)  \
    X(cap) X(qfilter) X(cur) X(leverage_score) X(non_causal_attn) X(compactor) X(kvzap) \
    X(think) X(simlayerkv) X(duo_attention) X(fastkvzip) X(kvzip) X(restorekv)          \
    X(kvcompose) X(compresskv) X(finch)

#define DECLARE(name) extern const kvp_press_vtable kvp_press_##name;
PRESSES(DECLARE)
#undef DECLARE

const kvp_press_vtable *const kvp__press_registry[] = {
#define ENTRY(name) &kvp_press_##name,
    PRESSES(ENTRY)
#undef ENTRY
};

const int kvp__press_registry_count =
    (int)(sizeof kvp__press_registry / sizeof kvp__press_registry[0]);
