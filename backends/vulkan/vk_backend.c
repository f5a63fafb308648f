/*
 * The Vulkan backend's entry point: loads the Vulkan loader at run time, creates the probe
 * instance, lists the physical devices that can run the kernels and describes them.
 *
 * The probe runs exactly once per process (under the registry's once-flag) and is the only
 * writer of `reg`; afterwards the state is read-only, which is what makes the registry
 * thread-safe. The probe instance stays alive for the life of the process: every context
 * created from a registry device makes its own logical device on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "kvpress/kvp_vulkan.h"
#include "vk_internal.h"

#define KVP_VK_MAX_DEVICES 16

static struct {
    void *lib;
    kvp_vk_gfn g;
    VkInstance instance;
    kvp_vk_ifn ifn;
    int n;
    kvp_vk_physical dev[KVP_VK_MAX_DEVICES];
} reg;

/* ---- the loader ----------------------------------------------------------------------------- */

static void *open_loader(char *why, size_t why_size) {
#if defined(_WIN32)
    HMODULE h = LoadLibraryA("vulkan-1.dll");
    if (!h) snprintf(why, why_size, "the Vulkan loader (vulkan-1.dll) was not found");
    return (void *)h;
#else
    /* The versioned name first: the unversioned one only exists with the -dev package. */
    static const char *const names[] = {
#if defined(__APPLE__)
        "libvulkan.1.dylib",
        "libvulkan.dylib",
        "libMoltenVK.dylib",
#else
        "libvulkan.so.1",
        "libvulkan.so",
#endif
    };
    char err[160] = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        /* dlerror's text lives only until the next dl call: keep the first one. */
        const char *e = dlerror();
        if (!err[0] && e) snprintf(err, sizeof err, "%s", e);
    }
    snprintf(why, why_size, "the Vulkan loader (%s) was not found: %s", names[0],
             err[0] ? err : "dlopen failed");
    return NULL;
#endif
}

static void close_loader(void *lib) {
#if defined(_WIN32)
    FreeLibrary((HMODULE)lib);
#else
    dlclose(lib);
#endif
}

static PFN_vkGetInstanceProcAddr loader_gipa(void *lib) {
    PFN_vkGetInstanceProcAddr f;
#if defined(_WIN32)
    FARPROC p = GetProcAddress((HMODULE)lib, "vkGetInstanceProcAddr");
#else
    void *p = dlsym(lib, "vkGetInstanceProcAddr");
#endif
    /* Object to function pointer: through memcpy, the only portable spelling. */
    memcpy(&f, &p, sizeof f);
    return f;
}

PFN_vkGetInstanceProcAddr kvp_vk_loader(void) { return reg.g.vkGetInstanceProcAddr; }

kvp_status kvp_vk_load_instance(PFN_vkGetInstanceProcAddr gipa, VkInstance instance,
                                kvp_vk_ifn *ifn, char *why, size_t why_size) {
    memset(ifn, 0, sizeof *ifn);
#define LOAD(name) ifn->name = (PFN_##name)gipa(instance, #name);
    KVP_VK_INSTANCE_FNS(LOAD)
#undef LOAD
    /* A 1.0 instance may only offer the KHR spelling of the 1.1 query. */
    if (!ifn->vkGetPhysicalDeviceProperties2)
        ifn->vkGetPhysicalDeviceProperties2 =
            (PFN_vkGetPhysicalDeviceProperties2)gipa(instance, "vkGetPhysicalDeviceProperties2KHR");
#define CHECK(name)                                                                                \
    if (!ifn->name) {                                                                              \
        snprintf(why, why_size, "the Vulkan instance does not provide %s (needs Vulkan 1.1)",      \
                 #name);                                                                           \
        return KVP_ERR_BACKEND_UNAVAILABLE;                                                        \
    }
    KVP_VK_INSTANCE_FNS(CHECK)
#undef CHECK
    return KVP_OK;
}

/* ---- the probe ------------------------------------------------------------------------------ */

static int has_instance_extension(const char *name) {
    uint32_t n = 0;
    if (reg.g.vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return 0;
    VkExtensionProperties *ext = calloc(n, sizeof *ext);
    int found = 0;
    if (ext && reg.g.vkEnumerateInstanceExtensionProperties(NULL, &n, ext) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(ext[i].extensionName, name);
    free(ext);
    return found;
}

static kvp_status create_instance(char *why, size_t why_size) {
    uint32_t version = VK_API_VERSION_1_0;
    if (reg.g.vkEnumerateInstanceVersion) reg.g.vkEnumerateInstanceVersion(&version);
    if (version < KVP_VK_MIN_API) {
        snprintf(why, why_size, "the Vulkan loader supports %u.%u only; libkvpress needs 1.1",
                 VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
        return KVP_ERR_BACKEND_UNAVAILABLE;
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "libkvpress",
        .applicationVersion = KVP_VERSION_NUMBER,
        .pEngineName = "libkvpress",
        .engineVersion = KVP_VERSION_NUMBER,
        .apiVersion = VK_API_VERSION_1_2,
    };
    const char *ext[1];
    uint32_t n_ext = 0;
    VkInstanceCreateFlags flags = 0;
#ifdef VK_KHR_portability_enumeration
    /* Lists devices whose drivers are not fully conformant (MoltenVK) as well. */
    if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        ext[n_ext++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
#endif
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = n_ext ? ext : NULL,
    };
    VkResult r = reg.g.vkCreateInstance(&ci, NULL, &reg.instance);
    if (r != VK_SUCCESS) {
        reg.instance = VK_NULL_HANDLE;
        snprintf(why, why_size, "vkCreateInstance: %s (%d)%s", kvp_vk_result_name(r), (int)r,
                 r == VK_ERROR_INCOMPATIBLE_DRIVER ? ": no Vulkan driver (ICD) is installed" : "");
        return kvp_vk_result_status(r);
    }
    return kvp_vk_load_instance(reg.g.vkGetInstanceProcAddr, reg.instance, &reg.ifn, why, why_size);
}

/* Discrete GPUs first, software devices last, so that "vulkan" names the best device. */
static int type_rank(kvp_device_type t) {
    switch (t) {
    case KVP_DEVICE_TYPE_GPU: return 0;
    case KVP_DEVICE_TYPE_IGPU: return 1;
    case KVP_DEVICE_TYPE_ACCELERATOR: return 2;
    default: return 3;
    }
}

static void list_devices(char *why, size_t why_size) {
    uint32_t n = 0;
    VkResult r = reg.ifn.vkEnumeratePhysicalDevices(reg.instance, &n, NULL);
    VkPhysicalDevice *pds = r == VK_SUCCESS && n ? calloc(n, sizeof *pds) : NULL;
    if (pds) r = reg.ifn.vkEnumeratePhysicalDevices(reg.instance, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        snprintf(why, why_size, "vkEnumeratePhysicalDevices: %s (%d)", kvp_vk_result_name(r),
                 (int)r);
        free(pds);
        return;
    }
    if (!pds) {
        snprintf(why, why_size, "the Vulkan loader reports no physical device");
        return;
    }
    size_t used = 0;
    why[0] = 0;
    for (uint32_t i = 0; i < n && reg.n < KVP_VK_MAX_DEVICES; i++) {
        kvp_vk_devinfo info;
        char skip[256] = "";
        int family = kvp_vk_compute_family(&reg.ifn, pds[i]);
        kvp_status st = kvp_vk_query_device(&reg.ifn, pds[i], &info, skip, sizeof skip);
        if (st == KVP_OK && family < 0) {
            snprintf(skip, sizeof skip, "%s: no queue family supports compute",
                     info.props.deviceName);
            st = KVP_ERR_UNSUPPORTED;
        }
        if (st != KVP_OK) {
            /* Collect the reasons: they become the backend's reason if no device is left. */
            if (used + 3 < why_size)
                used +=
                    (size_t)snprintf(why + used, why_size - used, "%s%s", used ? "; " : "", skip);
            if (used >= why_size) used = why_size - 1;
            continue;
        }
        kvp_vk_physical *d = &reg.dev[reg.n++];
        d->phys = pds[i];
        memcpy(d->uuid, info.uuid, sizeof d->uuid);
        d->queue_family = (uint32_t)family;
        kvp_vk_fill_props(&info, &d->props);
    }
    free(pds);
    /* Insertion sort: stable, and there are only a handful of devices. */
    for (int i = 1; i < reg.n; i++) {
        kvp_vk_physical tmp = reg.dev[i];
        int j = i;
        while (j > 0 && type_rank(reg.dev[j - 1].props.type) > type_rank(tmp.props.type)) {
            reg.dev[j] = reg.dev[j - 1];
            j--;
        }
        reg.dev[j] = tmp;
    }
}

static kvp_status vk_probe(int *n_devices, char *reason, size_t reason_size) {
    *n_devices = 0;
    reg.lib = open_loader(reason, reason_size);
    if (!reg.lib) return KVP_OK;
    PFN_vkGetInstanceProcAddr gipa = loader_gipa(reg.lib);
    if (!gipa) {
        snprintf(reason, reason_size, "the Vulkan loader does not export vkGetInstanceProcAddr");
        close_loader(reg.lib);
        reg.lib = NULL;
        return KVP_OK;
    }
    reg.g.vkGetInstanceProcAddr = gipa;
#define LOAD(name) reg.g.name = (PFN_##name)gipa(VK_NULL_HANDLE, #name);
    KVP_VK_GLOBAL_FNS(LOAD)
#undef LOAD
    if (!reg.g.vkCreateInstance || !reg.g.vkEnumerateInstanceExtensionProperties ||
        create_instance(reason, reason_size) != KVP_OK) {
        if (!reason[0]) snprintf(reason, reason_size, "the Vulkan loader is unusable");
        if (reg.instance && reg.ifn.vkDestroyInstance)
            reg.ifn.vkDestroyInstance(reg.instance, NULL);
        reg.instance = VK_NULL_HANDLE;
        memset(&reg.g, 0, sizeof reg.g);
        close_loader(reg.lib);
        reg.lib = NULL;
        return KVP_OK;
    }
    list_devices(reason, reason_size);
    *n_devices = reg.n;
    if (reg.n > 0) reason[0] = 0;
    return KVP_OK;
}

static kvp_status vk_device_props(int index, kvp_device_props *props) {
    if (index < 0 || index >= reg.n)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "vulkan: device index %d out of range", index);
    *props = reg.dev[index].props;
    return KVP_OK;
}

int kvp_vk_registry_count(void) { return reg.n; }

kvp_status kvp_vk_registry_device(int index, VkInstance *instance, const kvp_vk_ifn **ifn,
                                  const kvp_vk_physical **phys) {
    if (index < 0 || index >= reg.n) return KVP_ERR_INVALID_ARG;
    *instance = reg.instance;
    *ifn = &reg.ifn;
    *phys = &reg.dev[index];
    return KVP_OK;
}

/* ---- the backend table ------------------------------------------------------------------- */

static void *vk_get_proc(const char *name) {
    void *p = NULL;
    if (!name) return NULL;
    /* Function to object pointer, through memcpy for the same reason as above. */
    if (!strcmp(name, "kvp_context_create_vulkan")) {
        kvp_status (*f)(VkInstance, VkPhysicalDevice, VkDevice, uint32_t, uint32_t,
                        const kvp_context_options *, kvp_context **) = kvp_context_create_vulkan;
        memcpy(&p, &f, sizeof p);
    } else if (!strcmp(name, "kvp_buffer_wrap_vulkan")) {
        kvp_status (*f)(kvp_context *, VkBuffer, VkDeviceSize, kvp_buffer **) =
            kvp_buffer_wrap_vulkan;
        memcpy(&p, &f, sizeof p);
    }
    return p;
}

static const kvp_backend_ops vulkan_backend = {
    .abi_version = KVP_BACKEND_ABI_VERSION,
    .name = "vulkan",
    .probe = vk_probe,
    .device_props = vk_device_props,
    .context_create = kvp_vk_context_create,
    .context_destroy = kvp_vk_context_destroy,
    .buffer_alloc = kvp_vk_buffer_alloc,
    .buffer_free = kvp_vk_buffer_free,
    .buffer_upload = kvp_vk_buffer_upload,
    .buffer_download = kvp_vk_buffer_download,
    .buffer_copy = kvp_vk_buffer_copy,
    .buffer_wrap_host = NULL,
    .run = kvp_vk_run,
    .synchronize = kvp_vk_synchronize,
    .get_proc = vk_get_proc,
};

const kvp_backend_ops *kvp_vulkan_backend(void) { return &vulkan_backend; }
