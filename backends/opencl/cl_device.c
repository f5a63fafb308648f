/* Probing OpenCL devices through the ICD loader and describing them. The device table is the
 * backend's only process-wide state: written once by the probe (which the registry runs under
 * its once-flag) and read-only afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

/* Vendor queries (cl_nv_device_attribute_query, cl_amd_device_attribute_query). */
#define KVP_CL_DEVICE_WARP_SIZE_NV 0x4003
#define KVP_CL_DEVICE_WAVEFRONT_WIDTH_AMD 0x4043

/* The shared memory and workgroup size every kernel relies on (shaders/common). */
#define KVP_CL_MIN_LOCAL_MEM (32u * 1024u)

static struct {
    kvp_cl_device devices[KVP_CL_MAX_DEVICES];
    int count;
} table;

int kvp_cl_device_count(void) { return table.count; }

const kvp_cl_device *kvp_cl_device_get(int index) {
    return index >= 0 && index < table.count ? &table.devices[index] : NULL;
}

/* A string property, truncated to `size` (the query fails outright on a short buffer, and
 * some platforms report long version strings). */
static void info_string(cl_platform_id plat, cl_device_id dev, cl_uint what, char *out,
                        size_t size) {
    size_t need = 0;
    out[0] = 0;
    cl_int err = dev ? clGetDeviceInfo(dev, what, 0, NULL, &need)
                     : clGetPlatformInfo(plat, what, 0, NULL, &need);
    if (err != CL_SUCCESS || need == 0) return;
    char *full = malloc(need + 1);
    if (!full) return;
    err = dev ? clGetDeviceInfo(dev, what, need, full, NULL)
              : clGetPlatformInfo(plat, what, need, full, NULL);
    if (err == CL_SUCCESS) {
        full[need] = 0;
        snprintf(out, size, "%s", full);
    }
    free(full);
}

static void device_string(cl_device_id dev, cl_device_info what, char *out, size_t size) {
    info_string(NULL, dev, what, out, size);
}

static int has_extension(cl_device_id dev, const char *ext) {
    size_t size = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || !size)
        return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    int found = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, size, s, NULL) == CL_SUCCESS) {
        s[size] = 0;
        size_t n = strlen(ext);
        for (const char *p = strstr(s, ext); p && !found; p = strstr(p + 1, ext))
            found = (p == s || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0);
    }
    free(s);
    return found;
}

/* Why a device cannot run the kernels ("" when it can). */
static void check_device(cl_device_id dev, char *why, size_t size) {
    char version[128];
    cl_bool avail = CL_FALSE, compiler = CL_FALSE;
    cl_ulong local = 0;
    size_t max_wg = 0;
    int major = 0, minor = 0;
    why[0] = 0;
    device_string(dev, CL_DEVICE_VERSION, version, sizeof version);
    clGetDeviceInfo(dev, CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL);
    if (sscanf(version, "OpenCL %d.%d", &major, &minor) != 2 || major * 10 + minor < 12)
        snprintf(why, size, "needs OpenCL 1.2 (device reports '%s')", version);
    else if (!avail)
        snprintf(why, size, "device not available");
    else if (!compiler)
        snprintf(why, size, "no OpenCL C compiler for the device");
    else if (local < KVP_CL_MIN_LOCAL_MEM)
        snprintf(why, size, "%llu bytes of local memory (needs %u)", (unsigned long long)local,
                 KVP_CL_MIN_LOCAL_MEM);
    else if (max_wg < KVP_GPU_WG)
        snprintf(why, size, "workgroups of at most %zu invocations (needs %d)", max_wg,
                 KVP_GPU_WG);
}

kvp_status kvp_cl_probe(int *n_devices, char *reason, size_t reason_size) {
    *n_devices = 0;
    table.count = 0;
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(reason, reason_size, "no OpenCL platform (the ICD loader found no driver%s%s)",
                 err != CL_SUCCESS ? ": " : "", err != CL_SUCCESS ? kvp_cl_error_name(err) : "");
        return KVP_OK;
    }
    cl_platform_id platforms[16];
    if (np > 16) np = 16;
    if (clGetPlatformIDs(np, platforms, NULL) != CL_SUCCESS) {
        snprintf(reason, reason_size, "clGetPlatformIDs failed");
        return KVP_OK;
    }
    char why[256] = "";
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[KVP_CL_MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, KVP_CL_MAX_DEVICES, devs, &nd) !=
            CL_SUCCESS)
            continue;
        if (nd > KVP_CL_MAX_DEVICES) nd = KVP_CL_MAX_DEVICES;
        for (cl_uint d = 0; d < nd && table.count < KVP_CL_MAX_DEVICES; d++) {
            char this_why[200];
            check_device(devs[d], this_why, sizeof this_why);
            if (this_why[0]) {
                char name[96];
                device_string(devs[d], CL_DEVICE_NAME, name, sizeof name);
                snprintf(why, sizeof why, "%s: %s", name, this_why);
                continue;
            }
            table.devices[table.count].platform = platforms[p];
            table.devices[table.count].device = devs[d];
            table.count++;
        }
    }
    *n_devices = table.count;
    if (!table.count)
        snprintf(reason, reason_size, "no usable OpenCL device%s%s", why[0] ? ": " : "", why);
    return KVP_OK;
}

kvp_status kvp_cl_device_props(int index, kvp_device_props *props) {
    const kvp_cl_device *d = kvp_cl_device_get(index);
    if (!d) return KVP_ERR_INVALID_ARG;
    memset(props, 0, sizeof *props);
    device_string(d->device, CL_DEVICE_NAME, props->description, sizeof props->description);
    char pver[64] = "", dver[48] = "";
    info_string(d->platform, NULL, CL_PLATFORM_VERSION, pver, sizeof pver);
    device_string(d->device, CL_DRIVER_VERSION, dver, sizeof dver);
    snprintf(props->driver, sizeof props->driver, "%s, driver %s", pver, dver);

    cl_device_type type = 0;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(d->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    if (type & CL_DEVICE_TYPE_GPU)
        props->type = unified ? KVP_DEVICE_TYPE_IGPU : KVP_DEVICE_TYPE_GPU;
    else if (type & CL_DEVICE_TYPE_CPU)
        props->type = KVP_DEVICE_TYPE_CPU;
    else if (type & CL_DEVICE_TYPE_ACCELERATOR)
        props->type = KVP_DEVICE_TYPE_ACCELERATOR;
    else
        props->type = KVP_DEVICE_TYPE_OTHER;

    cl_ulong mem = 0;
    cl_uint cu = 0;
    size_t wg = 0;
    clGetDeviceInfo(d->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(d->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    props->memory_bytes = mem;
    props->compute_units = (int)cu;
    props->max_workgroup_size = (int)wg;

    cl_uint width = 1;
    if (has_extension(d->device, "cl_nv_device_attribute_query"))
        clGetDeviceInfo(d->device, KVP_CL_DEVICE_WARP_SIZE_NV, sizeof width, &width, NULL);
    else if (has_extension(d->device, "cl_amd_device_attribute_query"))
        clGetDeviceInfo(d->device, KVP_CL_DEVICE_WAVEFRONT_WIDTH_AMD, sizeof width, &width, NULL);
    props->subgroup_size = width > 0 ? (int)width : 1;
    /* 16-bit caches are decoded in the kernels from 32-bit words: no cl_khr_fp16 needed. */
    props->dtype_mask = (1u << KVP_DTYPE_F32) | (1u << KVP_DTYPE_F16) | (1u << KVP_DTYPE_BF16);
    props->peak_bandwidth_gbs = 0; /* core OpenCL reports neither bus width nor memory clock */
    return KVP_OK;
}

kvp_device *kvp_cl_find_device(cl_device_id device) {
    int n = 0;
    if (kvp_device_count(&n) != KVP_OK) return NULL;
    for (int i = 0; i < n; i++) {
        kvp_device *d = NULL;
        if (kvp_device_get(i, &d) != KVP_OK) continue;
        if (d->ops != kvp_opencl_backend()) continue;
        const kvp_cl_device *cd = kvp_cl_device_get(d->index);
        if (cd && cd->device == device) return d;
    }
    return NULL;
}
