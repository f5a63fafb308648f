/* The registry of backends and devices: the only process-wide state of the library. It is
 * probed lazily, exactly once (call_once), and read-only afterwards. */
#include <stdio.h>
#include <string.h>
#include <threads.h>

#include "internal.h"

#define KVP_MAX_BACKENDS 4
#define KVP_MAX_DEVICES 64

typedef struct backend_slot {
    const char *name;
    const kvp_backend_ops *ops; /* NULL when not compiled in */
    kvp_backend_info info;
} backend_slot;

static struct {
    backend_slot backends[KVP_MAX_BACKENDS];
    int n_backends;
    kvp_device devices[KVP_MAX_DEVICES];
    int n_devices;
} registry;

static once_flag registry_once = ONCE_FLAG_INIT;

static void add_backend(const char *name, const kvp_backend_ops *ops, const char *why_absent) {
    backend_slot *b = &registry.backends[registry.n_backends++];
    b->name = name;
    b->ops = ops;
    snprintf(b->info.name, sizeof b->info.name, "%s", name);
    b->info.compiled = ops != NULL;
    if (!ops) {
        snprintf(b->info.reason, sizeof b->info.reason, "%s", why_absent);
        return;
    }
    if (ops->abi_version != KVP_BACKEND_ABI_VERSION) {
        snprintf(b->info.reason, sizeof b->info.reason,
                 "backend ABI version %d, library expects %d", ops->abi_version,
                 KVP_BACKEND_ABI_VERSION);
        return;
    }
    int n = 0;
    char reason[256] = "";
    kvp_status st = ops->probe(&n, reason, sizeof reason);
    if (st != KVP_OK || n <= 0) {
        snprintf(b->info.reason, sizeof b->info.reason, "%s",
                 reason[0] ? reason : "no device found");
        return;
    }
    for (int i = 0; i < n && registry.n_devices < KVP_MAX_DEVICES; i++) {
        kvp_device *d = &registry.devices[registry.n_devices];
        memset(d, 0, sizeof *d);
        d->ops = ops;
        d->index = i;
        if (ops->device_props(i, &d->props) != KVP_OK) continue;
        if (strcmp(name, "cpu") == 0)
            snprintf(d->props.name, sizeof d->props.name, "cpu");
        else
            snprintf(d->props.name, sizeof d->props.name, "%s%d", name, b->info.device_count);
        snprintf(d->props.backend, sizeof d->props.backend, "%s", name);
        registry.n_devices++;
        b->info.device_count++;
    }
    b->info.available = b->info.device_count > 0;
    if (!b->info.available && !b->info.reason[0])
        snprintf(b->info.reason, sizeof b->info.reason, "no usable device");
}

static void probe_all(void) {
    add_backend("cpu", kvp_cpu_backend(), "");
#ifdef KVP_HAVE_OPENCL
    add_backend("opencl", kvp_opencl_backend(), "");
#else
    add_backend("opencl", NULL, "not compiled in (configure with -Dopencl=enabled)");
#endif
#ifdef KVP_HAVE_VULKAN
    add_backend("vulkan", kvp_vulkan_backend(), "");
#else
    add_backend("vulkan", NULL, "not compiled in (configure with -Dvulkan=enabled)");
#endif
#ifdef KVP_HAVE_CUDA
    add_backend("cuda", kvp_cuda_backend(), "");
#else
    add_backend("cuda", NULL, "not compiled in (configure with -Dcuda=enabled)");
#endif
}

kvp_status kvp__registry_ensure(void) {
    call_once(&registry_once, probe_all);
    return KVP_OK;
}

kvp_status kvp_backend_count(int *count) {
    if (!count) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_backend_count: count is NULL");
    kvp__registry_ensure();
    *count = registry.n_backends;
    return KVP_OK;
}

kvp_status kvp_backend_get_info(int index, kvp_backend_info *info) {
    if (!info) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_backend_get_info: info is NULL");
    kvp__registry_ensure();
    if (index < 0 || index >= registry.n_backends)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_backend_get_info: index %d out of range [0, %d)", index,
                              registry.n_backends);
    *info = registry.backends[index].info;
    return KVP_OK;
}

kvp_status kvp_device_count(int *count) {
    if (!count) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_device_count: count is NULL");
    kvp__registry_ensure();
    *count = registry.n_devices;
    return KVP_OK;
}

kvp_status kvp_device_get(int index, kvp_device **device) {
    if (!device) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_device_get: device is NULL");
    *device = NULL;
    kvp__registry_ensure();
    if (index < 0 || index >= registry.n_devices)
        return kvp__error_tls(KVP_ERR_INVALID_ARG,
                              "kvp_device_get: index %d out of range [0, %d)", index,
                              registry.n_devices);
    *device = &registry.devices[index];
    return KVP_OK;
}

kvp_status kvp_device_by_name(const char *name, kvp_device **device) {
    if (!device) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_device_by_name: device is NULL");
    *device = NULL;
    if (!name) return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_device_by_name: name is NULL");
    kvp__registry_ensure();
    for (int i = 0; i < registry.n_devices; i++) {
        kvp_device *d = &registry.devices[i];
        if (strcmp(d->props.name, name) == 0 || strcmp(d->props.backend, name) == 0) {
            *device = d;
            return KVP_OK;
        }
    }
    for (int i = 0; i < registry.n_backends; i++) {
        const backend_slot *b = &registry.backends[i];
        if (strncmp(name, b->name, strlen(b->name)) == 0)
            return kvp__error_tls(KVP_ERR_BACKEND_UNAVAILABLE, "device '%s': backend %s: %s",
                                  name, b->name,
                                  b->info.available ? "no device with that index"
                                                    : b->info.reason);
    }
    return kvp__error_tls(KVP_ERR_NOT_FOUND,
                          "no device named '%s' (expected cpu, openclN, vulkanN or cudaN)", name);
}

kvp_status kvp_device_get_props(const kvp_device *device, kvp_device_props *props) {
    if (!device || !props)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_device_get_props: NULL argument");
    *props = device->props;
    return KVP_OK;
}

const char *kvp_device_type_name(kvp_device_type type) {
    switch (type) {
    case KVP_DEVICE_TYPE_CPU: return "cpu";
    case KVP_DEVICE_TYPE_GPU: return "gpu";
    case KVP_DEVICE_TYPE_IGPU: return "integrated gpu";
    case KVP_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    case KVP_DEVICE_TYPE_OTHER: return "other";
    }
    return "unknown";
}
