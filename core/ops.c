/* Op metadata and the single dispatch point from the core to a backend. */
#include "internal.h"

static const struct {
    const char *name;
    int n_bindings;
    size_t params_size;
} op_table[KVP_OP_COUNT] = {
#define X(NAME, name, params, nbind) [KVP_OP_##NAME] = {#name, nbind, sizeof(params)},
#include "ops.def"
#undef X
};

const char *kvp__op_name(kvp_op op) {
    return (op >= 0 && op < KVP_OP_COUNT) ? op_table[op].name : "unknown";
}
int kvp__op_bindings(kvp_op op) { return op_table[op].n_bindings; }
size_t kvp__op_params_size(kvp_op op) { return op_table[op].params_size; }

kvp_status kvp__run(kvp_context *ctx, kvp_op op, const void *params, int n_bindings,
                    const kvp_binding *bindings) {
    if (op < 0 || op >= KVP_OP_COUNT || n_bindings != op_table[op].n_bindings ||
        n_bindings > KVP_MAX_BINDINGS)
        return kvp__error(ctx, KVP_ERR_INTERNAL, "op %s called with %d bindings (expects %d)",
                          kvp__op_name(op), n_bindings,
                          (op >= 0 && op < KVP_OP_COUNT) ? op_table[op].n_bindings : -1);
    kvp_op_call call = {.op = op, .params = params, .n_bindings = n_bindings};
    for (int i = 0; i < n_bindings; i++) {
        if (!bindings[i].buffer || bindings[i].buffer->ctx != ctx)
            return kvp__error(ctx, KVP_ERR_INTERNAL, "op %s: binding %d is not a buffer of this context",
                              op_table[op].name, i);
        call.bindings[i] = bindings[i];
    }
    return ctx->ops->run(ctx, &call);
}
