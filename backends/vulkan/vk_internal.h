/*
 * Private definitions of the Vulkan backend.
 *
 * The backend talks to Vulkan only through function tables loaded at run time from the
 * system loader (libvulkan.so.1, opened with dlopen): the library then starts, and its
 * other backends work, on machines without any Vulkan installation. VK_NO_PROTOTYPES makes
 * sure no file calls a Vulkan entry point directly by accident.
 *
 * Files:
 *   vk_backend.c   loader, probe instance, device list, device props, the backend table
 *   vk_device.c    physical-device queries, memory types, logical device + function tables
 *   vk_context.c   context creation/destruction (own device or the caller's), result codes
 *   vk_submit.c    batches: command buffers, fences, descriptor pools, staging, barriers
 *   vk_buffer.c    device memory: alloc/free/upload/download/copy
 *   vk_pipeline.c  shader modules and compute pipelines (lazy, cached per context)
 *   vk_dispatch.c  run: executes the shared GPU plan of an op
 *   vk_interop.c   the public kvp_vulkan.h functions (zero-copy integration)
 */
#ifndef KVP_VK_INTERNAL_H
#define KVP_VK_INTERNAL_H

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include "../../core/internal.h"
#include "../gpu/gpu_plan.h"
#include "vk_spirv.h"

/* ---- function tables ---------------------------------------------------------------------- */

/* Entry points that need no instance. vkEnumerateInstanceVersion is NULL on 1.0 loaders. */
#define KVP_VK_GLOBAL_FNS(X)                                                                       \
    X(vkCreateInstance)                                                                            \
    X(vkEnumerateInstanceVersion)                                                                  \
    X(vkEnumerateInstanceExtensionProperties)

#define KVP_VK_INSTANCE_FNS(X)                                                                     \
    X(vkDestroyInstance)                                                                           \
    X(vkEnumeratePhysicalDevices)                                                                  \
    X(vkGetPhysicalDeviceProperties)                                                               \
    X(vkGetPhysicalDeviceProperties2)                                                              \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                    \
    X(vkGetPhysicalDeviceMemoryProperties)                                                         \
    X(vkEnumerateDeviceExtensionProperties)                                                        \
    X(vkCreateDevice)                                                                              \
    X(vkGetDeviceProcAddr)

#define KVP_VK_DEVICE_FNS(X)                                                                       \
    X(vkDestroyDevice)                                                                             \
    X(vkGetDeviceQueue)                                                                            \
    X(vkDeviceWaitIdle)                                                                            \
    X(vkCreateCommandPool)                                                                         \
    X(vkDestroyCommandPool)                                                                        \
    X(vkAllocateCommandBuffers)                                                                    \
    X(vkFreeCommandBuffers)                                                                        \
    X(vkBeginCommandBuffer)                                                                        \
    X(vkEndCommandBuffer)                                                                          \
    X(vkResetCommandBuffer)                                                                        \
    X(vkCreateFence)                                                                               \
    X(vkDestroyFence)                                                                              \
    X(vkWaitForFences)                                                                             \
    X(vkResetFences)                                                                               \
    X(vkQueueSubmit)                                                                               \
    X(vkCreateBuffer)                                                                              \
    X(vkDestroyBuffer)                                                                             \
    X(vkGetBufferMemoryRequirements)                                                               \
    X(vkAllocateMemory)                                                                            \
    X(vkFreeMemory)                                                                                \
    X(vkBindBufferMemory)                                                                          \
    X(vkMapMemory)                                                                                 \
    X(vkUnmapMemory)                                                                               \
    X(vkInvalidateMappedMemoryRanges)                                                              \
    X(vkCmdCopyBuffer)                                                                             \
    X(vkCmdPipelineBarrier)                                                                        \
    X(vkCmdBindPipeline)                                                                           \
    X(vkCmdBindDescriptorSets)                                                                     \
    X(vkCmdPushConstants)                                                                          \
    X(vkCmdDispatch)                                                                               \
    X(vkCreateShaderModule)                                                                        \
    X(vkDestroyShaderModule)                                                                       \
    X(vkCreateComputePipelines)                                                                    \
    X(vkDestroyPipeline)                                                                           \
    X(vkCreatePipelineCache)                                                                       \
    X(vkDestroyPipelineCache)                                                                      \
    X(vkCreatePipelineLayout)                                                                      \
    X(vkDestroyPipelineLayout)                                                                     \
    X(vkCreateDescriptorSetLayout)                                                                 \
    X(vkDestroyDescriptorSetLayout)                                                                \
    X(vkCreateDescriptorPool)                                                                      \
    X(vkDestroyDescriptorPool)                                                                     \
    X(vkResetDescriptorPool)                                                                       \
    X(vkAllocateDescriptorSets)                                                                    \
    X(vkUpdateDescriptorSets)

#define KVP_VK_FN_MEMBER(name) PFN_##name name;

typedef struct kvp_vk_gfn {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    KVP_VK_GLOBAL_FNS(KVP_VK_FN_MEMBER)
} kvp_vk_gfn;

typedef struct kvp_vk_ifn {
    KVP_VK_INSTANCE_FNS(KVP_VK_FN_MEMBER)
} kvp_vk_ifn;

typedef struct kvp_vk_dfn {
    KVP_VK_DEVICE_FNS(KVP_VK_FN_MEMBER)
} kvp_vk_dfn;

/* ---- loader and probe (vk_backend.c) ------------------------------------------------------- */

/* vkGetInstanceProcAddr of the process's Vulkan loader (opened during the probe), or NULL
 * when there is none. Valid for the life of the process once the registry was probed. */
PFN_vkGetInstanceProcAddr kvp_vk_loader(void);

/* Loads the instance-level table of `instance` (any instance: ours or the caller's). */
kvp_status kvp_vk_load_instance(PFN_vkGetInstanceProcAddr gipa, VkInstance instance,
                                kvp_vk_ifn *ifn, char *why, size_t why_size);

/* The probed (registry) devices: instance, physical device and UUID of backend index i. */
typedef struct kvp_vk_physical {
    VkPhysicalDevice phys;
    uint8_t uuid[VK_UUID_SIZE];
    uint32_t queue_family;
    kvp_device_props props;
} kvp_vk_physical;

kvp_status kvp_vk_registry_device(int index, VkInstance *instance, const kvp_vk_ifn **ifn,
                                  const kvp_vk_physical **phys);
int kvp_vk_registry_count(void);

/* ---- physical devices (vk_device.c) -------------------------------------------------------- */

#define KVP_VK_MIN_API VK_API_VERSION_1_1
/* Invocations per workgroup of every kernel: the -DKVP_WG the shaders are compiled with
 * (backends/vulkan/meson.build) and the KVP_WG the shared plans assume. */
#define KVP_VK_WG 256
_Static_assert(KVP_VK_WG == KVP_GPU_WG, "the shaders' KVP_WG must be the plans' KVP_GPU_WG");

typedef struct kvp_vk_devinfo {
    VkPhysicalDeviceProperties props;
    uint8_t uuid[VK_UUID_SIZE];
    char driver_name[VK_MAX_DRIVER_NAME_SIZE];
    char driver_info[VK_MAX_DRIVER_INFO_SIZE];
    uint32_t subgroup_size;              /* 0 when unknown */
    VkSubgroupFeatureFlags subgroup_ops; /* 0 unless usable in compute shaders */
    VkDeviceSize max_alloc_size;         /* maxMemoryAllocationSize, 0 when unknown */
    uint32_t compute_units;              /* 0 when the driver does not say */
    VkPhysicalDeviceMemoryProperties memory;
    int has_portability_subset; /* VK_KHR_portability_subset must be enabled */
} kvp_vk_devinfo;

/* Reads everything the backend needs to know about a physical device. Fails (with the reason
 * in `why`) when the device cannot run the kernels: API < 1.1, workgroups < KVP_WG. */
kvp_status kvp_vk_query_device(const kvp_vk_ifn *ifn, VkPhysicalDevice pd, kvp_vk_devinfo *out,
                               char *why, size_t why_size);
/* First queue family with compute support, or -1. */
int kvp_vk_compute_family(const kvp_vk_ifn *ifn, VkPhysicalDevice pd);
/* Fills props (all but the registry name/backend) from devinfo. */
void kvp_vk_fill_props(const kvp_vk_devinfo *info, kvp_device_props *props);
/* Index of a memory type allowed by `bits` that has all `required` flags, preferring types
 * with the `preferred` flags and without the `avoided` ones; -1 if none. */
int kvp_vk_memory_type(const VkPhysicalDeviceMemoryProperties *mem, uint32_t bits,
                       VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred,
                       VkMemoryPropertyFlags avoided);

struct kvp_vk_context;
/* Creates the context's logical device on vk->phys with one queue of vk->queue_family. */
kvp_status kvp_vk_device_create(struct kvp_vk_context *vk);
/* Loads the device-level entry points of vk->device and fetches the queue. */
kvp_status kvp_vk_device_load(struct kvp_vk_context *vk, uint32_t queue_index);

/* ---- per-context state ------------------------------------------------------------------- */

/* A device buffer: ours (owned: buffer + memory), or the caller's VkBuffer (wrapped). */
typedef struct kvp_vk_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory; /* VK_NULL_HANDLE when wrapped */
    int wrapped;           /* the caller's VkBuffer: never destroyed by the library */
    VkDeviceSize size;     /* usable bytes (what the core asked for) */
    void *mapped;          /* host pointer for host-visible staging buffers */
    int coherent;          /* mapped memory needs no invalidate */
} kvp_vk_buffer;

/* Number of command buffers in flight: the CPU records one while the GPU runs the others. */
#define KVP_VK_SLOTS 3
/* Descriptor sets (one per dispatch) per batch before the batch is submitted. */
#define KVP_VK_SETS_PER_SLOT 256
/* Dispatches after which a batch is submitted even though it could take more: the GPU
 * starts on them while the CPU records the rest. */
#define KVP_VK_SUBMIT_EVERY 64
/* Largest staging area per batch; bigger uploads stream through several batches. */
#define KVP_VK_STAGING_MAX ((VkDeviceSize)16 << 20)
#define KVP_VK_STAGING_MIN ((VkDeviceSize)256 << 10)
/* Largest readback buffer; bigger downloads run in pieces. */
#define KVP_VK_READBACK_MAX ((VkDeviceSize)16 << 20)
/* Buffer ranges remembered since the last barrier before a barrier is forced. */
#define KVP_VK_MAX_HAZARDS 64

enum { KVP_VK_SLOT_IDLE = 0, KVP_VK_SLOT_RECORDING, KVP_VK_SLOT_SUBMITTED };

typedef struct kvp_vk_slot {
    VkCommandBuffer cmd;
    VkFence fence;
    int state;
    uint32_t n_commands;
    VkDescriptorPool pool;
    uint32_t sets_used;
    kvp_vk_buffer *staging; /* host-visible upload area of this batch */
    VkDeviceSize staging_used;
    kvp_vk_buffer **garbage; /* buffers freed while this batch may still use them */
    int n_garbage, cap_garbage;
} kvp_vk_slot;

typedef struct kvp_vk_range {
    VkBuffer buffer;
    VkDeviceSize begin, end;
    int write;
} kvp_vk_range;

typedef struct kvp_vk_context {
    kvp_context *ctx;

    VkInstance instance;
    kvp_vk_ifn ifn;
    VkPhysicalDevice phys;
    kvp_vk_devinfo info;

    VkDevice device;
    int owns_device; /* 0 when the caller gave us theirs (kvp_context_create_vulkan) */
    kvp_vk_dfn dfn;
    VkQueue queue;
    uint32_t queue_family;

    VkCommandPool cmd_pool;
    kvp_vk_slot slots[KVP_VK_SLOTS];
    int cur; /* slot that records next (ring order = submission order) */
    kvp_vk_range hazards[KVP_VK_MAX_HAZARDS];
    int n_hazards;
    kvp_status lost; /* sticky: KVP_ERR_DEVICE_LOST once the device is gone */

    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipeline_layout;
    VkPipelineCache pipeline_cache;
    VkPipeline *pipelines; /* [kvp_vk_spirv_count], created on first use */

    kvp_vk_buffer *scratch[KVP_GPU_MAX_SCRATCH]; /* the plans' scratch buffers, grown on need */
    kvp_vk_buffer *readback;                     /* host-visible download area */
    kvp_gpu_caps caps;
    int allow_subgroups; /* 0 when KVP_VULKAN_NO_SUBGROUPS is set: portable kernels only */
    int warned_range;    /* the maxStorageBufferRange warning was logged */
} kvp_vk_context;

static inline kvp_vk_context *kvp_vk_ctx(const kvp_context *ctx) {
    return (kvp_vk_context *)kvp__ctx_backend(ctx);
}

/* ---- results (vk_context.c) --------------------------------------------------------------- */

const char *kvp_vk_result_name(VkResult r);
kvp_status kvp_vk_result_status(VkResult r);
/* Records "what: VK_ERROR_X (code)" on ctx and returns the mapped status; a lost device is
 * remembered so every later call of the context fails the same way. */
kvp_status kvp_vk_error(kvp_vk_context *vk, VkResult r, const char *what);

#define KVP_VK_TRY(vk, what, call)                                                                 \
    do {                                                                                           \
        VkResult kvp_vk_r_ = (call);                                                               \
        if (kvp_vk_r_ != VK_SUCCESS) return kvp_vk_error((vk), kvp_vk_r_, (what));                 \
    } while (0)

/* ---- contexts (vk_context.c) -------------------------------------------------------------- */

/* Builds the backend state on a device: creates one (device == VK_NULL_HANDLE) or uses the
 * caller's. Used by context_create for both kinds of context. */
kvp_status kvp_vk_context_init(kvp_context *ctx, VkInstance instance, const kvp_vk_ifn *ifn,
                               VkPhysicalDevice phys, VkDevice device, uint32_t queue_family,
                               uint32_t queue_index);
/* The caller's objects, handed by kvp_context_create_vulkan to context_create through
 * kvp__context_create_native. */
typedef struct kvp_vk_native {
    VkInstance instance;
    const kvp_vk_ifn *ifn;
    VkPhysicalDevice phys;
    VkDevice device;
    uint32_t queue_family, queue_index;
} kvp_vk_native;

/* context_create: on the registry device, or on the caller's objects when the context is
 * being made by kvp_context_create_vulkan (kvp__ctx_native gives a kvp_vk_native). */
kvp_status kvp_vk_context_create(kvp_context *ctx, int device_index);
void kvp_vk_context_destroy(kvp_context *ctx);

/* ---- batches (vk_submit.c) ---------------------------------------------------------------- */

kvp_status kvp_vk_slots_init(kvp_vk_context *vk);
void kvp_vk_slots_destroy(kvp_vk_context *vk);
/* The slot that is recording (begins one, waiting for its previous use, if needed). */
kvp_status kvp_vk_begin(kvp_vk_context *vk, kvp_vk_slot **slot);
/* Submits the recording slot, if it holds commands. */
kvp_status kvp_vk_flush(kvp_vk_context *vk);
/* Submits and waits for everything; retires every batch. */
kvp_status kvp_vk_wait_all(kvp_vk_context *vk);
/* Declares the buffer ranges the next command accesses (write = 1 when it may write them);
 * records a barrier first when an earlier command of the batch wrote a range that
 * overlaps one of them, or read a range that overlaps one it writes. */
void kvp_vk_access(kvp_vk_context *vk, kvp_vk_slot *slot, const kvp_vk_range *ranges, int n);
/* A descriptor set from the slot's pool. When the pool is full, *set is VK_NULL_HANDLE and
 * the status KVP_OK: the caller submits the batch and asks the next slot. */
kvp_status kvp_vk_alloc_set(kvp_vk_context *vk, kvp_vk_slot *slot, VkDescriptorSet *set);
/* Host-visible staging space of `want` bytes (at most KVP_VK_STAGING_MAX; *got may be less)
 * in the recording slot; may submit the slot and move to the next one. */
kvp_status kvp_vk_staging(kvp_vk_context *vk, VkDeviceSize want, kvp_vk_slot **slot,
                          VkDeviceSize *offset, VkDeviceSize *got);
/* Destroys b once no submitted or recording batch can use it any more. */
void kvp_vk_release(kvp_vk_context *vk, kvp_vk_buffer *b);

/* ---- memory (vk_buffer.c) ----------------------------------------------------------------- */

typedef enum kvp_vk_mem_kind {
    KVP_VK_MEM_DEVICE = 0, /* storage buffer in device-local memory */
    KVP_VK_MEM_UPLOAD,     /* host-visible, coherent: staging for uploads */
    KVP_VK_MEM_READBACK    /* host-visible, cached when possible: staging for downloads */
} kvp_vk_mem_kind;

kvp_status kvp_vk_buffer_create(kvp_vk_context *vk, VkDeviceSize bytes, kvp_vk_mem_kind kind,
                                kvp_vk_buffer **out);
void kvp_vk_buffer_destroy(kvp_vk_context *vk, kvp_vk_buffer *b);

kvp_status kvp_vk_buffer_alloc(kvp_context *ctx, size_t bytes, void **handle);
void kvp_vk_buffer_free(kvp_context *ctx, void *handle);
kvp_status kvp_vk_buffer_upload(kvp_context *ctx, void *handle, size_t offset, const void *src,
                                size_t bytes);
kvp_status kvp_vk_buffer_download(kvp_context *ctx, void *handle, size_t offset, void *dst,
                                  size_t bytes);
kvp_status kvp_vk_buffer_copy(kvp_context *ctx, void *dst, size_t dst_offset, void *src,
                              size_t src_offset, size_t bytes);
kvp_status kvp_vk_synchronize(kvp_context *ctx);

/* ---- pipelines (vk_pipeline.c) ------------------------------------------------------------ */

/* Binding k of every kernel is storage buffer k of descriptor set 0; params are push
 * constants (KVP_GPU_MAX_PARAMS bytes). One layout serves every pipeline. */
#define KVP_VK_BINDINGS KVP_GPU_MAX_PASS_BINDINGS

kvp_status kvp_vk_pipelines_init(kvp_vk_context *vk);
void kvp_vk_pipelines_destroy(kvp_vk_context *vk);
/* The pipeline of kernel `name` (the variant that suits the device), created on first use. */
kvp_status kvp_vk_pipeline(kvp_vk_context *vk, const char *name, VkPipeline *out);
/* The table entry kvp_vk_pipeline uses for kernel `name` on this context, or NULL. */
const kvp_vk_spirv *kvp_vk_kernel_variant(const kvp_vk_context *vk, const char *name);

/* ---- dispatch (vk_dispatch.c) ------------------------------------------------------------- */

kvp_status kvp_vk_run(kvp_context *ctx, const kvp_op_call *call);
/* Executes a plan for a call (kvp_vk_run = kvp_gpu_plan_op + this). */
kvp_status kvp_vk_run_plan(kvp_context *ctx, const kvp_op_call *call, const kvp_gpu_plan *plan);

#endif /* KVP_VK_INTERNAL_H */
