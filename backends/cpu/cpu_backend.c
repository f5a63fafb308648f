/* The CPU reference backend: one device (the host), buffers in host memory, ops run
 * synchronously. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_ops.h"

typedef struct cpu_buffer {
    void *ptr;
    int owned; /* 0 when it wraps caller memory */
} cpu_buffer;

static kvp_status cpu_probe(int *n_devices, char *reason, size_t reason_size) {
    (void)reason;
    (void)reason_size;
    *n_devices = 1;
    return KVP_OK;
}

static void cpu_model_name(char *out, size_t size) {
    snprintf(out, size, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ') c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(out, size, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static kvp_status cpu_device_props(int index, kvp_device_props *p) {
    (void)index;
    memset(p, 0, sizeof *p);
    cpu_model_name(p->description, sizeof p->description);
    snprintf(p->driver, sizeof p->driver, "reference C11 (libkvpress %s)", KVP_VERSION_STRING);
    p->type = KVP_DEVICE_TYPE_CPU;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    p->memory_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    p->compute_units = cores > 0 ? (int)cores : 1;
    p->max_workgroup_size = 1;
    p->subgroup_size = 1;
    p->dtype_mask = (1u << KVP_DTYPE_F32) | (1u << KVP_DTYPE_F16) | (1u << KVP_DTYPE_BF16);
    return KVP_OK;
}

static kvp_status cpu_context_create(kvp_context *ctx, int device_index) {
    (void)device_index;
    kvp_cpu_state *state = malloc(sizeof *state);
    if (!state) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu: out of memory");
    state->n_threads = kvp_cpu_default_threads();
    kvp__ctx_set_backend(ctx, state);
    return KVP_OK;
}

static void cpu_context_destroy(kvp_context *ctx) { free(kvp__ctx_backend(ctx)); }

static kvp_status cpu_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle) {
    cpu_buffer *b = malloc(sizeof *b);
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = b && rounded >= bytes ? aligned_alloc(64, rounded) : NULL;
    if (!p) {
        free(b);
        return kvp__error(ctx, KVP_ERR_OUT_OF_DEVICE_MEMORY,
                          "cpu: out of memory allocating a buffer of %zu bytes", bytes);
    }
    b->ptr = p;
    b->owned = 1;
    *handle = b;
    return KVP_OK;
}

static kvp_status cpu_buffer_wrap_host(kvp_context *ctx, void *memory, size_t bytes,
                                       void **handle) {
    (void)bytes;
    cpu_buffer *b = malloc(sizeof *b);
    if (!b) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "cpu: out of memory");
    b->ptr = memory;
    b->owned = 0;
    *handle = b;
    return KVP_OK;
}

static void cpu_buffer_free(kvp_context *ctx, void *handle) {
    (void)ctx;
    cpu_buffer *b = handle;
    if (!b) return;
    if (b->owned) free(b->ptr);
    free(b);
}

static char *cpu_ptr(void *handle, size_t offset) {
    return (char *)((cpu_buffer *)handle)->ptr + offset;
}

static kvp_status cpu_buffer_upload(kvp_context *ctx, void *handle, size_t offset,
                                    const void *src, size_t bytes) {
    (void)ctx;
    memcpy(cpu_ptr(handle, offset), src, bytes);
    return KVP_OK;
}

static kvp_status cpu_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                      size_t bytes) {
    (void)ctx;
    memcpy(dst, cpu_ptr(handle, offset), bytes);
    return KVP_OK;
}

static kvp_status cpu_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                                  size_t src_offset, size_t bytes) {
    (void)ctx;
    memmove(cpu_ptr(dst, dst_offset), cpu_ptr(src, src_offset), bytes);
    return KVP_OK;
}

static const kvp_cpu_op_fn cpu_ops[KVP_OP_COUNT] = {
#define X(NAME, name, params, nbind) [KVP_OP_##NAME] = kvp_cpu_op_##name,
#include "../../core/ops.def"
#undef X
};

static kvp_status cpu_run(kvp_context *ctx, const kvp_op_call *call) {
    void *ptr[KVP_MAX_BINDINGS];
    for (int i = 0; i < call->n_bindings; i++)
        ptr[i] = cpu_ptr(kvp__buffer_handle(call->bindings[i].buffer), call->bindings[i].offset);
    if (!cpu_ops[call->op])
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED, "cpu: op %s not implemented",
                          kvp__op_name(call->op));
    return cpu_ops[call->op](ctx, call->params, ptr);
}

static kvp_status cpu_synchronize(kvp_context *ctx) {
    (void)ctx;
    return KVP_OK;
}

static const kvp_backend_ops cpu_backend = {
    .abi_version = KVP_BACKEND_ABI_VERSION,
    .name = "cpu",
    .probe = cpu_probe,
    .device_props = cpu_device_props,
    .context_create = cpu_context_create,
    .context_destroy = cpu_context_destroy,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_upload = cpu_buffer_upload,
    .buffer_download = cpu_buffer_download,
    .buffer_copy = cpu_buffer_copy,
    .buffer_wrap_host = cpu_buffer_wrap_host,
    .run = cpu_run,
    .synchronize = cpu_synchronize,
};

const kvp_backend_ops *kvp_cpu_backend(void) { return &cpu_backend; }
