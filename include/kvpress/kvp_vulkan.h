/*
 * libkvpress — Vulkan interop: run kvpress on the application's own VkDevice and compress a
 * KV cache that lives in the application's VkBuffers, without copies.
 *
 * This is the only public header that includes <vulkan/vulkan.h>; include it only when the
 * library was built with the Vulkan backend (kvp_backend_get_info says "vulkan" is compiled).
 *
 * Requirements on the application's objects:
 *  - the instance and device use Vulkan 1.1 or newer (libkvpress needs no extension and no
 *    optional feature);
 *  - `queue_family` supports compute; libkvpress submits its work to the queue
 *    (queue_family, queue_index) from the thread that uses the context. Vulkan requires
 *    queue submissions to be externally synchronized: the application must not submit to
 *    the same queue concurrently with a libkvpress call;
 *  - every batch libkvpress submits starts with a full memory barrier and ends with one, so
 *    work the application submitted earlier to the same queue (e.g. the writes of the keys)
 *    is visible to it, and its writes are visible to work submitted later. Work on other
 *    queues must be ordered by the application (semaphores), or completed before the call;
 *  - wrapped buffers were created with VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
 *    VK_BUFFER_USAGE_TRANSFER_SRC_BIT and VK_BUFFER_USAGE_TRANSFER_DST_BIT, have memory
 *    bound, and outlive the kvp_buffer (and any cache layer wrapping it). Byte offsets into
 *    them (kvp_cache_wrap_layer, device tensors) must be multiples of the device's
 *    minStorageBufferOffsetAlignment;
 *  - the instance, device and queue outlive the context (kvp_context_destroy waits for the
 *    library's work and destroys only what the library created).
 */
#ifndef KVPRESS_VULKAN_H
#define KVPRESS_VULKAN_H

#include <vulkan/vulkan.h>

#include "kvpress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a context that runs on the application's device. `physical_device` must be one of
 * the devices kvp_device_count lists for the vulkan backend (matched by device UUID);
 * kvp_context_device returns that registry device. options may be NULL (defaults). */
KVP_API kvp_status kvp_context_create_vulkan(VkInstance instance, VkPhysicalDevice physical_device,
                                             VkDevice device, uint32_t queue_family,
                                             uint32_t queue_index,
                                             const kvp_context_options *options,
                                             kvp_context **context);

/* Wraps an application VkBuffer of `size` bytes (of the context's device) as a kvp_buffer,
 * without copying. kvp_buffer_free releases the wrapper only, never the VkBuffer. */
KVP_API kvp_status kvp_buffer_wrap_vulkan(kvp_context *context, VkBuffer buffer, VkDeviceSize size,
                                          kvp_buffer **buffer_out);

#ifdef __cplusplus
}
#endif

#endif /* KVPRESS_VULKAN_H */
