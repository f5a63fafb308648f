/* The CUDA backend's entry point: the vtable the registry finds through kvp_cuda_backend().
 * The methods live in the files named in cuda_internal.h. */
#include <string.h>

#include "cuda_internal.h"
#include "kvpress/kvp_cuda.h"

static const kvp_backend_ops cuda_backend = {
    .abi_version = KVP_BACKEND_ABI_VERSION,
    .name = "cuda",
    .probe = kvp_cuda_probe,
    .device_props = kvp_cuda_device_props,
    .context_create = kvp_cuda_context_create,
    .context_destroy = kvp_cuda_context_destroy,
    .buffer_alloc = kvp_cuda_buffer_alloc,
    .buffer_free = kvp_cuda_buffer_free,
    .buffer_upload = kvp_cuda_buffer_upload,
    .buffer_download = kvp_cuda_buffer_download,
    .buffer_copy = kvp_cuda_buffer_copy,
    .buffer_wrap_host = NULL, /* device memory only; caller device memory: kvp_buffer_wrap_cuda */
    .run = kvp_cuda_run,
    .synchronize = kvp_cuda_synchronize,
    .get_proc = kvp_cuda_get_proc,
};

const kvp_backend_ops *kvp_cuda_backend(void) { return &cuda_backend; }

/* The interop functions by name, for code that finds them at run time (a plugin build). */
void *kvp_cuda_get_proc(const char *name) {
    static const struct {
        const char *name;
        void *fn;
    } procs[] = {
        {"kvp_context_create_cuda", (void *)kvp_context_create_cuda},
        {"kvp_buffer_wrap_cuda", (void *)kvp_buffer_wrap_cuda},
        {"kvp_buffer_get_cuda_pointer", (void *)kvp_buffer_get_cuda_pointer},
        {"kvp_context_get_cuda_stream", (void *)kvp_context_get_cuda_stream},
    };
    for (size_t i = 0; name && i < sizeof procs / sizeof procs[0]; i++)
        if (strcmp(procs[i].name, name) == 0) return procs[i].fn;
    return NULL;
}
