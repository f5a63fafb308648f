/* The OpenCL backend: contexts (our own cl_context and in-order queue per kvp_context, or the
 * caller's through kvp_context_create_opencl), synchronisation and the vtable. */
#include <stdlib.h>
#include <string.h>

#include "cl_internal.h"
#include "kvpress/kvp_opencl.h"

static void fill_caps(kvp_cl_state *st, cl_device_id dev) {
    size_t wg = 0;
    cl_uint cu = 0;
    cl_ulong max_alloc = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    st->caps.max_workgroup_size = (int)wg;
    st->caps.compute_units = (int)cu;
    st->caps.subgroup_size = 0;
    /* OpenCL bounds only the global size (a size_t): keep 32-bit group counts. */
    st->caps.max_groups[0] = 0x7fffffffu / KVP_GPU_WG;
    st->caps.max_groups[1] = 0x7fffffffu;
    st->caps.max_groups[2] = 0x7fffffffu;
    st->max_alloc = (size_t)max_alloc;
}

static kvp_status adopt_native(kvp_context *ctx, kvp_cl_state *st, const kvp_cl_native *nat) {
    st->context = nat->context;
    st->device = nat->device;
    clRetainContext(st->context);
    if (nat->queue) {
        cl_command_queue_properties props = 0;
        KVP_CL_CHECK(ctx, clGetCommandQueueInfo(nat->queue, CL_QUEUE_PROPERTIES, sizeof props,
                                                &props, NULL),
                     "clGetCommandQueueInfo");
        if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "kvp_context_create_opencl: the command queue must be in-order "
                              "(the ops of a context depend on each other)");
        st->queue = nat->queue;
        clRetainCommandQueue(st->queue);
        return KVP_OK;
    }
    cl_int err = CL_SUCCESS;
    st->queue = clCreateCommandQueue(st->context, st->device, 0, &err);
    if (err != CL_SUCCESS) st->queue = NULL;
    KVP_CL_CHECK(ctx, err, "clCreateCommandQueue");
    return KVP_OK;
}

static kvp_status create_own(kvp_context *ctx, kvp_cl_state *st, int device_index) {
    const kvp_cl_device *d = kvp_cl_device_get(device_index);
    if (!d) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "opencl: no device %d", device_index);
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)d->platform, 0};
    cl_int err = CL_SUCCESS;
    st->device = d->device;
    st->context = clCreateContext(props, 1, &d->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) st->context = NULL;
    KVP_CL_CHECK(ctx, err, "clCreateContext");
    st->queue = clCreateCommandQueue(st->context, st->device, 0, &err);
    if (err != CL_SUCCESS) st->queue = NULL;
    KVP_CL_CHECK(ctx, err, "clCreateCommandQueue");
    return KVP_OK;
}

static void release_state(kvp_cl_state *st) {
    kvp_cl_kernels_release(st);
    for (int k = 0; k < KVP_GPU_MAX_SCRATCH; k++)
        if (st->scratch[k]) clReleaseMemObject(st->scratch[k]);
    if (st->queue) clReleaseCommandQueue(st->queue);
    if (st->context) clReleaseContext(st->context);
    free(st);
}

kvp_status kvp_cl_context_create(kvp_context *ctx, int device_index) {
    kvp_cl_state *st = calloc(1, sizeof *st);
    if (!st) return kvp__error(ctx, KVP_ERR_OUT_OF_HOST_MEMORY, "opencl: out of host memory");
    st->fail_after = -1;
    kvp__ctx_set_backend(ctx, st);
    const kvp_cl_native *nat = kvp__ctx_native(ctx);
    kvp_status s = nat ? adopt_native(ctx, st, nat) : create_own(ctx, st, device_index);
    if (s != KVP_OK) {
        kvp__ctx_set_backend(ctx, NULL);
        release_state(st);
        return s;
    }
    fill_caps(st, st->device);
    return KVP_OK;
}

void kvp_cl_context_destroy(kvp_context *ctx) {
    kvp_cl_state *st = kvp_cl_state_of(ctx);
    if (!st) return;
    /* Work still queued may use our scratch and kernels: let it finish first (releases are
     * deferred by OpenCL anyway, but a caller's queue outlives us). */
    if (!st->lost) clFinish(st->queue);
    release_state(st);
    kvp__ctx_set_backend(ctx, NULL);
}

static kvp_status cl_synchronize(kvp_context *ctx) {
    KVP_TRY(kvp_cl_check_alive(ctx));
    KVP_CL_CHECK(ctx, clFinish(kvp_cl_state_of(ctx)->queue), "clFinish");
    return KVP_OK;
}

static void *cl_get_proc(const char *name) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } procs[] = {
        {"kvp_context_create_opencl", (void (*)(void))kvp_context_create_opencl},
        {"kvp_buffer_wrap_opencl", (void (*)(void))kvp_buffer_wrap_opencl},
        {"kvp_context_get_opencl", (void (*)(void))kvp_context_get_opencl},
    };
    for (size_t i = 0; name && i < sizeof procs / sizeof procs[0]; i++) {
        if (strcmp(procs[i].name, name) == 0) {
            void *p;
            memcpy(&p, &procs[i].fn, sizeof p); /* function to object pointer, POSIX-style */
            return p;
        }
    }
    return NULL;
}

static kvp_status cl_probe(int *n_devices, char *reason, size_t reason_size) {
    return kvp_cl_probe(n_devices, reason, reason_size);
}

static kvp_status cl_device_props(int index, kvp_device_props *props) {
    return kvp_cl_device_props(index, props);
}

static const kvp_backend_ops cl_backend = {
    .abi_version = KVP_BACKEND_ABI_VERSION,
    .name = "opencl",
    .probe = cl_probe,
    .device_props = cl_device_props,
    .context_create = kvp_cl_context_create,
    .context_destroy = kvp_cl_context_destroy,
    .buffer_alloc = kvp_cl_buffer_alloc,
    .buffer_free = kvp_cl_buffer_free,
    .buffer_upload = kvp_cl_buffer_upload,
    .buffer_download = kvp_cl_buffer_download,
    .buffer_copy = kvp_cl_buffer_copy,
    .buffer_wrap_host = NULL,
    .run = kvp_cl_run,
    .synchronize = cl_synchronize,
    .get_proc = cl_get_proc,
};

const kvp_backend_ops *kvp_opencl_backend(void) { return &cl_backend; }
