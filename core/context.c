/* Contexts: a device, the backend's per-context state, the error message and scratch. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void kvp_context_options_init(kvp_context_options *options) {
    if (!options) return;
    memset(options, 0, sizeof *options);
    options->log_level = KVP_LOG_WARN;
    options->check_finite = 1;
}

kvp_status kvp_context_create(kvp_device *device, const kvp_context_options *options,
                              kvp_context **context) {
    return kvp__context_create_native(device, options, NULL, context);
}

kvp_status kvp__context_create_native(kvp_device *device, const kvp_context_options *options,
                                      const void *native, kvp_context **context) {
    if (!context) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_context_create: context is NULL");
    *context = NULL;
    if (!device) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_context_create: device is NULL");
    kvp_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return kvp__error_tls(KVP_ERR_OUT_OF_HOST_MEMORY, "kvp_context_create: out of memory");
    ctx->device = device;
    ctx->ops = device->ops;
    ctx->fail_alloc_after = -1;
    if (options)
        ctx->options = *options;
    else
        kvp_context_options_init(&ctx->options);
    ctx->create_native = native;
    kvp_status st = ctx->ops->context_create(ctx, device->index);
    ctx->create_native = NULL;
    if (st != KVP_OK) {
        kvp__error_tls(st, "kvp_context_create(%s): %s", device->props.name, ctx->error);
        free(ctx);
        return st;
    }
    *context = ctx;
    return KVP_OK;
}

void kvp_context_destroy(kvp_context *ctx) {
    if (!ctx) return;
    for (int i = 0; i < KVP_MAX_SCRATCH; i++) kvp_buffer_free(ctx->scratch[i]);
    ctx->ops->context_destroy(ctx);
    free(ctx);
}

kvp_device *kvp_context_device(const kvp_context *ctx) { return ctx ? ctx->device : NULL; }

const char *kvp_context_last_error(const kvp_context *ctx) {
    return ctx ? ctx->error : "kvp_context_last_error: context is NULL";
}

kvp_status kvp_context_synchronize(kvp_context *ctx) {
    if (!ctx) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_context_synchronize: context is NULL");
    return ctx->ops->synchronize(ctx);
}

void kvp__ctx_set_backend(kvp_context *ctx, void *state) { ctx->backend_state = state; }
void *kvp__ctx_backend(const kvp_context *ctx) { return ctx->backend_state; }
const void *kvp__ctx_native(const kvp_context *ctx) { return ctx->create_native; }

void kvp__test_fail_alloc_after(kvp_context *ctx, long after) { ctx->fail_alloc_after = after; }

int kvp__alloc_should_fail(kvp_context *ctx) {
    if (!ctx || ctx->fail_alloc_after < 0) return 0;
    if (ctx->fail_alloc_after == 0) return 1;
    ctx->fail_alloc_after--;
    return 0;
}

void *kvp__malloc(kvp_context *ctx, size_t bytes) {
    void *p = kvp__alloc_should_fail(ctx) ? NULL : malloc(bytes ? bytes : 1);
    if (!p)
        kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "out of host memory allocating %zu bytes",
                   bytes);
    return p;
}

void *kvp__calloc(kvp_context *ctx, size_t count, size_t size) {
    void *p = kvp__alloc_should_fail(ctx) ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "out of host memory allocating %zu x %zu bytes",
                   count, size);
    return p;
}

kvp_status kvp__scratch(kvp_context *ctx, size_t bytes, kvp_buffer **out) {
    *out = NULL;
    if (ctx->scratch_top >= KVP_MAX_SCRATCH)
        return kvp__error(ctx, KVP_ERR_INTERNAL, "scratch stack exhausted (%d buffers)",
                          KVP_MAX_SCRATCH);
    if (bytes == 0) bytes = 4;
    kvp_buffer **slot = &ctx->scratch[ctx->scratch_top];
    if (!*slot || (*slot)->size < bytes) {
        /* Grow geometrically so that slowly growing sizes do not reallocate every call. */
        size_t want = bytes;
        if (*slot && want < (*slot)->size + (*slot)->size / 2) want = (*slot)->size + (*slot)->size / 2;
        kvp_buffer *nb = NULL;
        kvp_status st = kvp__buffer_alloc(ctx, want, &nb);
        if (st != KVP_OK && want != bytes) st = kvp__buffer_alloc(ctx, bytes, &nb);
        if (st != KVP_OK) return st;
        kvp_buffer_free(*slot);
        *slot = nb;
    }
    ctx->scratch_top++;
    *out = *slot;
    return KVP_OK;
}
