/* The op table: op codes generated from ops.def, the call record a backend receives. */
#ifndef KVP_OPS_H
#define KVP_OPS_H

#include <stddef.h>

#include "kvpress/kvpress.h"
#include "../shaders/common/kvp_params.h"

typedef enum kvp_op {
#define X(NAME, name, params, nbind) KVP_OP_##NAME,
#include "ops.def"
#undef X
    KVP_OP_COUNT
} kvp_op;

#define KVP_MAX_BINDINGS 8

typedef struct kvp_binding {
    kvp_buffer *buffer;
    size_t offset; /* bytes; nonzero only for caller-wrapped cache memory */
} kvp_binding;

typedef struct kvp_op_call {
    kvp_op op;
    const void *params; /* points to the kvp_p_<name> struct of the op */
    int n_bindings;
    kvp_binding bindings[KVP_MAX_BINDINGS];
} kvp_op_call;

const char *kvp__op_name(kvp_op op);
int kvp__op_bindings(kvp_op op);
size_t kvp__op_params_size(kvp_op op);

/* Validates the call shape and hands it to the context's backend. */
kvp_status kvp__run(kvp_context *ctx, kvp_op op, const void *params, int n_bindings,
                    const kvp_binding *bindings);

/* KVP_RUN(ctx, ROW_NORM, &p, B(x), B(meta), B(out)) */
#define KVP_B(buf) ((kvp_binding){(buf), 0})
#define KVP_BO(buf, off) ((kvp_binding){(buf), (off)})
#define KVP_RUN(ctx, OP, params, ...)                                                        \
    kvp__run((ctx), KVP_OP_##OP, (params),                                                   \
             (int)(sizeof((kvp_binding[]){__VA_ARGS__}) / sizeof(kvp_binding)),               \
             (kvp_binding[]){__VA_ARGS__})

#endif /* KVP_OPS_H */
