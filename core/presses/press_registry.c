/* Every press the library knows, in the order kvp_press_list_get reports them. */
#include "press_impl.h"

#define PRESSES(X)                                                                           \
    X(knorm) X(random) X(streaming_llm) X(snapkv) X(pyramidkv) X(tova) X(observed_attention) \
        X(expected_attention) X(keydiff) X(lagkv) X(criticalkv) X(adakv) X(chunkkv) X(decoding) \
        X(compresskv)

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
