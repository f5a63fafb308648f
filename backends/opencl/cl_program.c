/* Kernel programs: built with clBuildProgram at first use in each context (one small program
 * per kernel, so a context only compiles the kernels its presses use) and kept until the
 * context is destroyed. Drivers keep their own binary caches (PoCL's kernel cache, NVIDIA's
 * compute cache), so a second process starts fast without a cache of ours.
 *
 * Sources come from the table embedded at build time, or, when the environment variable
 * KVP_OPENCL_KERNEL_DIR names a copy of the shaders/ directory, from <dir>/opencl/<kernel>.cl
 * with <dir>/common and <dir>/opencl as include paths (edit kernels without rebuilding). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"

#define BUILD_OPTIONS "-cl-std=CL1.2 -DKVP_WG=256"

static int kernel_index(const char *name) {
    for (int i = 0; i < kvp_gpu_kernel_count && i < KVP_CL_MAX_KERNELS; i++)
        if (strcmp(kvp_gpu_kernels[i], name) == 0) return i;
    return -1;
}

static const char *embedded_source(const char *name) {
    for (int i = 0; i < kvp_cl_source_count; i++)
        if (strcmp(kvp_cl_sources[i].name, name) == 0) return kvp_cl_sources[i].source;
    return NULL;
}

/* Reads a whole file; NULL (with the error recorded) on failure. */
static char *read_file(kvp_context *ctx, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        kvp__error(ctx, KVP_ERR_KERNEL_BUILD, "opencl: cannot read kernel source %s", path);
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) == (size_t)size) {
        buf[size] = 0;
    } else {
        free(buf);
        buf = NULL;
        kvp__error(ctx, KVP_ERR_KERNEL_BUILD, "opencl: cannot read kernel source %s", path);
    }
    fclose(f);
    return buf;
}

/* Records the failed build with the start of its log (the message buffer is 1 KiB). */
static kvp_status build_failed(kvp_context *ctx, cl_program prog, cl_int err, const char *name) {
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    char log[700] = "";
    size_t size = 0;
    if (clGetProgramBuildInfo(prog, st->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) ==
            CL_SUCCESS &&
        size > 0) {
        char *full = malloc(size + 1);
        if (full && clGetProgramBuildInfo(prog, st->device, CL_PROGRAM_BUILD_LOG, size, full,
                                          NULL) == CL_SUCCESS) {
            full[size] = 0;
            /* skip leading blank lines some compilers emit */
            const char *s = full;
            while (*s == '\n' || *s == '\r' || *s == ' ') s++;
            snprintf(log, sizeof log, "%s", s);
        }
        free(full);
    }
    return kvp__error(ctx, KVP_ERR_KERNEL_BUILD, "opencl: building kernel %s failed: %s (%d)%s%s",
                      name, kvp_cl_error_name(err), (int)err, log[0] ? "; build log: " : "", log);
}

static kvp_status build(kvp_context *ctx, const char *name, kvp_cl_kernel *out) {
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    const char *dir = getenv("KVP_OPENCL_KERNEL_DIR");
    char options[1200];
    const char *strings[2];
    cl_uint n_strings;
    char *from_disk = NULL;
    if (dir && dir[0]) {
        char path[1024];
        snprintf(path, sizeof path, "%s/opencl/%s.cl", dir, name);
        from_disk = read_file(ctx, path);
        if (!from_disk) return KVP_ERR_KERNEL_BUILD;
        strings[0] = from_disk;
        n_strings = 1;
        snprintf(options, sizeof options, "%s -I %s/common -I %s/opencl", BUILD_OPTIONS, dir, dir);
    } else {
        const char *src = embedded_source(name);
        if (!src)
            return kvp__error(ctx, KVP_ERR_KERNEL_BUILD,
                              "opencl: kernel %s has no embedded source (build inconsistency)",
                              name);
        strings[0] = kvp_cl_prelude;
        strings[1] = src;
        n_strings = 2;
        snprintf(options, sizeof options, "%s", BUILD_OPTIONS);
    }
    /* fma() is exact but emulated in software on devices without fused multiply-add (some
     * mobile GPUs): there the kernels use a multiply and an add. */
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(st->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    if (!(fp & CL_FP_FMA)) {
        size_t used = strlen(options);
        snprintf(options + used, sizeof options - used, " -DKVP_NO_HW_FMA");
    }
    cl_int err = CL_SUCCESS;
    cl_program prog = clCreateProgramWithSource(st->context, n_strings, strings, NULL, &err);
    free(from_disk);
    if (err != CL_SUCCESS) return kvp_cl_fail(ctx, err, "clCreateProgramWithSource", name);
    err = clBuildProgram(prog, 1, &st->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        kvp_status s = err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS
                           ? build_failed(ctx, prog, err, name)
                           : kvp_cl_fail(ctx, err, "clBuildProgram", name);
        clReleaseProgram(prog);
        return s;
    }
    char entry[96];
    snprintf(entry, sizeof entry, "kvp_%s", name);
    cl_kernel k = clCreateKernel(prog, entry, &err);
    if (err != CL_SUCCESS) {
        clReleaseProgram(prog);
        return kvp_cl_fail(ctx, err, "clCreateKernel", entry);
    }
    /* Every kernel is written for workgroups of exactly KVP_WG invocations; a device whose
     * registers or local memory cannot hold that many for this kernel must say so clearly
     * (the launch would fail with a bare CL_INVALID_WORK_GROUP_SIZE). */
    size_t max_wg = 0;
    cl_ulong local = 0, device_local = 0;
    clGetKernelWorkGroupInfo(k, st->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg,
                             NULL);
    clGetKernelWorkGroupInfo(k, st->device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    clGetDeviceInfo(st->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof device_local, &device_local, NULL);
    if ((max_wg && max_wg < KVP_GPU_WG) || (device_local && local > device_local)) {
        clReleaseKernel(k);
        clReleaseProgram(prog);
        return kvp__error(ctx, KVP_ERR_UNSUPPORTED,
                          "opencl: kernel %s runs at most %zu invocations per workgroup and needs "
                          "%llu bytes of local memory on this device (it needs %d invocations, "
                          "the device has %llu bytes)",
                          name, max_wg, (unsigned long long)local, KVP_GPU_WG,
                          (unsigned long long)device_local);
    }
    out->program = prog;
    out->kernel = k;
    return KVP_OK;
}

kvp_status kvp_cl_kernel_get(kvp_context *ctx, const char *name, cl_kernel *out) {
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    int i = kernel_index(name);
    if (i < 0) return kvp__error(ctx, KVP_ERR_INTERNAL, "opencl: unknown kernel %s", name);
    if (!st->kernels[i].kernel) KVP_TRY(build(ctx, name, &st->kernels[i]));
    *out = st->kernels[i].kernel;
    return KVP_OK;
}

void kvp_cl_kernels_release(kvp_cl_state *st) {
    for (int i = 0; i < KVP_CL_MAX_KERNELS; i++) {
        if (st->kernels[i].kernel) clReleaseKernel(st->kernels[i].kernel);
        if (st->kernels[i].program) clReleaseProgram(st->kernels[i].program);
        st->kernels[i].kernel = NULL;
        st->kernels[i].program = NULL;
    }
}
