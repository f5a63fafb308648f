/* Probing the CUDA devices. This is the backend's only process-wide state (the devices and
 * a few driver entry points): filled once by kvp_cuda_probe (called under the registry's
 * once-flag) and read-only afterwards. Probing
 * never aborts: no driver or no device means zero devices and a reason for `info`. */
#include <stdio.h>
#include <string.h>

#include "cuda_internal.h"

#ifndef KVP_CUDA_ARCHS
#define KVP_CUDA_ARCHS "?"
#endif

static struct {
    int count;
    int valid[KVP_CUDA_MAX_DEVICES];
    kvp_cuda_device_info info[KVP_CUDA_MAX_DEVICES];
} devices;

static kvp_cuda_driver driver_fns;
static int driver_ok;

const kvp_cuda_driver *kvp_cuda_driver_get(void) { return driver_ok ? &driver_fns : NULL; }

/* One driver function by name, as of the CUDA 12.0 driver API. */
static int entry_point(const char *name, void **fn) {
    *fn = NULL;
#if CUDART_VERSION >= 12050
    enum cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    cudaError_t err = cudaGetDriverEntryPointByVersion(name, fn, 12000, cudaEnableDefault, &found);
    if (err != cudaSuccess || found != cudaDriverEntryPointSuccess) {
        (void)cudaGetLastError();
        *fn = NULL;
    }
#else
    (void)name;
#endif
    return *fn != NULL;
}

static void find_driver(void) {
    void *f[4];
    driver_ok = entry_point("cuCtxGetCurrent", &f[0]) && entry_point("cuCtxSetCurrent", &f[1]) &&
                entry_point("cuDeviceGet", &f[2]) &&
                entry_point("cuDevicePrimaryCtxGetState", &f[3]);
    if (!driver_ok) return;
    /* Function pointers from the runtime's untyped table, as the CUDA samples do it. */
    memcpy(&driver_fns.ctx_get_current, &f[0], sizeof f[0]);
    memcpy(&driver_fns.ctx_set_current, &f[1], sizeof f[1]);
    memcpy(&driver_fns.device_get, &f[2], sizeof f[2]);
    memcpy(&driver_fns.primary_ctx_get_state, &f[3], sizeof f[3]);
}

static void version_text(char *buf, size_t size, int v) {
    /* CUDA encodes 13.0 as 13000. */
    snprintf(buf, size, "%d.%d", v / 1000, (v % 1000) / 10);
}

/* Why cudaGetDeviceCount failed, with what the user can do about it. */
static void explain_failure(char *reason, size_t size, cudaError_t err) {
    char native[320];
    kvp_cuda_format_error(native, sizeof native, err, "cudaGetDeviceCount");
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    char rt[16];
    version_text(rt, sizeof rt, runtime);
    if (err == cudaErrorNoDevice) {
        snprintf(reason, size, "no CUDA device found (%s)", native);
    } else if (driver == 0) {
        snprintf(reason, size, "no NVIDIA driver found (libcuda.so.1 is missing; runtime %s): %s",
                 rt, native);
    } else if (err == cudaErrorInsufficientDriver || err == cudaErrorCallRequiresNewerDriver) {
        char dv[16];
        version_text(dv, sizeof dv, driver);
        snprintf(reason, size, "the NVIDIA driver supports CUDA %s but this build needs %s: %s",
                 dv, rt, native);
    } else {
        snprintf(reason, size, "%s", native);
    }
}

static cudaError_t query_device(int index, kvp_cuda_device_info *info) {
    struct cudaDeviceProp p;
    memset(&p, 0, sizeof p);
    cudaError_t err = cudaGetDeviceProperties(&p, index);
    if (err != cudaSuccess) return err;
    /* Attributes that newer runtimes dropped from cudaDeviceProp; 0 when not reported. */
    int mem_clock_khz = 0, bus_bits = 0, pools = 0;
    if (cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, index) != cudaSuccess)
        mem_clock_khz = 0;
    if (cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index) != cudaSuccess)
        bus_bits = 0;
    if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, index) != cudaSuccess)
        pools = 0;
    (void)cudaGetLastError();

    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    char dv[16], rt[16];
    version_text(dv, sizeof dv, driver);
    version_text(rt, sizeof rt, runtime);

    memset(info, 0, sizeof *info);
    kvp_device_props *d = &info->props;
    snprintf(d->description, sizeof d->description, "%s", p.name);
    /* The built architectures beside the device's: a mismatch is the first thing to see. */
    snprintf(d->driver, sizeof d->driver,
             "CUDA driver %s, runtime %s, sm_%d%d (kernels for sm %s), PCI %04x:%02x:%02x", dv, rt,
             p.major, p.minor, KVP_CUDA_ARCHS, (unsigned)p.pciDomainID, (unsigned)p.pciBusID,
             (unsigned)p.pciDeviceID);
    d->type = p.integrated ? KVP_DEVICE_TYPE_IGPU : KVP_DEVICE_TYPE_GPU;
    d->memory_bytes = (uint64_t)p.totalGlobalMem;
    d->compute_units = p.multiProcessorCount;
    d->max_workgroup_size = p.maxThreadsPerBlock;
    d->subgroup_size = p.warpSize;
    d->dtype_mask = (1u << KVP_DTYPE_F32) | (1u << KVP_DTYPE_F16) | (1u << KVP_DTYPE_BF16);
    /* Double data rate: two transfers per memory clock over the whole bus. */
    d->peak_bandwidth_gbs = 2.0 * (double)mem_clock_khz * 1e3 * ((double)bus_bits / 8.0) / 1e9;

    info->cc_major = p.major;
    info->cc_minor = p.minor;
    for (int k = 0; k < 3; k++) info->max_grid[k] = p.maxGridSize[k];
    info->max_threads_per_block = p.maxThreadsPerBlock;
    info->warp_size = p.warpSize;
    info->memory_pools = pools != 0;
    return cudaSuccess;
}

kvp_status kvp_cuda_probe(int *n_devices, char *reason, size_t reason_size) {
    *n_devices = 0;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        explain_failure(reason, reason_size, err);
        (void)cudaGetLastError();
        return KVP_OK;
    }
    if (count <= 0) {
        snprintf(reason, reason_size, "no CUDA device found");
        return KVP_OK;
    }
    if (count > KVP_CUDA_MAX_DEVICES) count = KVP_CUDA_MAX_DEVICES;
    find_driver();
    int usable = 0;
    char first_error[256] = "";
    for (int i = 0; i < count; i++) {
        err = query_device(i, &devices.info[i]);
        devices.valid[i] = err == cudaSuccess;
        if (devices.valid[i]) {
            usable++;
        } else if (!first_error[0]) {
            char what[64];
            snprintf(what, sizeof what, "cudaGetDeviceProperties(%d)", i);
            kvp_cuda_format_error(first_error, sizeof first_error, err, what);
            (void)cudaGetLastError();
        }
    }
    devices.count = count;
    if (!usable) snprintf(reason, reason_size, "%s", first_error);
    /* Indices are CUDA ordinals; the registry skips the ones whose properties fail. */
    *n_devices = usable ? count : 0;
    return KVP_OK;
}

const kvp_cuda_device_info *kvp_cuda_device_info_get(int index) {
    if (index < 0 || index >= devices.count || !devices.valid[index]) return NULL;
    return &devices.info[index];
}

kvp_status kvp_cuda_device_props(int index, kvp_device_props *props) {
    const kvp_cuda_device_info *info = kvp_cuda_device_info_get(index);
    if (!info)
        return kvp__error_tls(KVP_ERR_BACKEND_UNAVAILABLE, "cuda: device %d is not usable", index);
    *props = info->props;
    return KVP_OK;
}
