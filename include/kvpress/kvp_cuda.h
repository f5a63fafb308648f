/*
 * libkvpress CUDA interop: run kvpress on an application's CUDA device and stream, on KV
 * cache memory the application already owns, without copies.
 *
 * Plain C; needs no CUDA header. kvp_cuda_stream is the same type as cudaStream_t (and the
 * driver API's CUstream), so a cudaStream_t can be passed as is. These functions exist only
 * in a libkvpress built with the CUDA backend (kvpress-tool info lists "cuda").
 *
 * Ordering: everything a context does is queued on its stream. A context created on the
 * application's stream is ordered with the application's own work on that stream: keys
 * written by an attention kernel before kvp_compress() are seen by it, and an attention
 * kernel queued after it sees the compacted cache. With any other stream, synchronise
 * (kvp_context_synchronize, events) before sharing memory.
 */
#ifndef KVPRESS_KVP_CUDA_H
#define KVPRESS_KVP_CUDA_H

#include "kvpress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *kvp_cuda_stream;

/* A context on CUDA device `device_index` (the CUDA ordinal, as cudaSetDevice counts,
 * i.e. after CUDA_VISIBLE_DEVICES) that queues its work on `stream`, which must belong to
 * that device and outlive the context. NULL is the legacy default stream. options may be
 * NULL (defaults). Fails with KVP_ERR_BACKEND_UNAVAILABLE when there is no usable CUDA
 * device or driver, KVP_ERR_INVALID_ARG for a bad index or a stream of another device. */
KVP_API kvp_status kvp_context_create_cuda(int device_index, kvp_cuda_stream stream,
                                           const kvp_context_options *options,
                                           kvp_context **context);

/* Wraps `bytes` of the caller's device memory at `device_ptr` (cudaMalloc, cudaMallocAsync
 * or managed memory of the context's device, 16-byte aligned) as a buffer of a CUDA
 * context, e.g. for kvp_cache_wrap_layer. kvp_buffer_free forgets the wrapper; the memory
 * stays the caller's and must outlive the buffer. */
KVP_API kvp_status kvp_buffer_wrap_cuda(kvp_context *context, void *device_ptr, size_t bytes,
                                        kvp_buffer **buffer);

/* The device address of a buffer of a CUDA context (its own or wrapped memory). */
KVP_API kvp_status kvp_buffer_get_cuda_pointer(const kvp_buffer *buffer, void **device_ptr);

/* The stream a CUDA context queues its work on. */
KVP_API kvp_status kvp_context_get_cuda_stream(const kvp_context *context,
                                               kvp_cuda_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* KVPRESS_KVP_CUDA_H */
