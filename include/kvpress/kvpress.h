/*
 * libkvpress — KV-cache compression for transformer inference, on any GPU.
 *
 * This is the whole public API. Conventions, which hold for every function:
 *
 *  - Every fallible function returns a kvp_status. KVP_OK is 0; errors are negative.
 *  - Objects come back through an out parameter (`kvp_context_create(dev, &opts, &ctx)`);
 *    on error the out parameter is set to NULL.
 *  - Destructors accept NULL and do nothing.
 *  - A context keeps a detailed message for the last error raised through it
 *    (kvp_context_last_error). Functions that fail before a context exists (registry,
 *    press configuration) leave their message in a per-thread slot (kvp_last_error).
 *  - On any error the caller's data — in particular the KV cache — is left exactly as it
 *    was. The library never calls abort() or exit().
 *  - Tensors are row-major, last index fastest, shapes written like the Python shapes of
 *    NVIDIA kvpress: keys/values [kv_heads, tokens, head_dim], queries
 *    [heads, tokens, head_dim], scores [kv_heads, tokens].
 *  - A context may be used by one thread at a time; different contexts are independent and
 *    can be used from different threads concurrently.
 */
#ifndef KVPRESS_H
#define KVPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "kvp_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(KVP_BUILDING_SHARED)
#define KVP_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define KVP_API __attribute__((visibility("default")))
#else
#define KVP_API
#endif

/* ------------------------------------------------------------------------------------------
 * Version
 * ---------------------------------------------------------------------------------------- */

/* Run-time version of the library, to compare with KVP_VERSION_NUMBER of the header. */
KVP_API int kvp_version_number(void);
KVP_API const char *kvp_version_string(void);

/* ------------------------------------------------------------------------------------------
 * Status codes
 * ---------------------------------------------------------------------------------------- */

typedef enum kvp_status {
    KVP_OK = 0,
    KVP_ERR_INVALID_ARG = -1,          /* a bad argument: NULL, shape, dtype, range, NaN/Inf */
    KVP_ERR_OUT_OF_HOST_MEMORY = -2,
    KVP_ERR_OUT_OF_DEVICE_MEMORY = -3,
    KVP_ERR_UNSUPPORTED = -4,          /* valid request this build, device or press cannot do */
    KVP_ERR_BACKEND_UNAVAILABLE = -5,  /* backend not compiled in, or no driver/device */
    KVP_ERR_DEVICE_LOST = -6,
    KVP_ERR_KERNEL_BUILD = -7,         /* a GPU kernel failed to compile or load */
    KVP_ERR_ABI_MISMATCH = -8,
    KVP_ERR_MISSING_INPUT = -9,        /* the press needs an input that was not provided */
    KVP_ERR_NOT_FOUND = -10,           /* unknown press, parameter, device or backend name */
    KVP_ERR_CAPACITY = -11,            /* the cache has no room for the appended tokens */
    KVP_ERR_INTERNAL = -12
} kvp_status;

/* "KVP_ERR_INVALID_ARG" */
KVP_API const char *kvp_status_name(kvp_status status);
/* "invalid argument" — a static string; the detailed message is in kvp_context_last_error. */
KVP_API const char *kvp_status_str(kvp_status status);

/* The message of the last error raised on this thread outside a context (registry, press
 * configuration, context creation). Never NULL; "" when there was none. */
KVP_API const char *kvp_last_error(void);

/* ------------------------------------------------------------------------------------------
 * Data types and tensors
 * ---------------------------------------------------------------------------------------- */

typedef enum kvp_dtype {
    KVP_DTYPE_F32 = 0,
    KVP_DTYPE_F16 = 1,
    KVP_DTYPE_BF16 = 2,
    KVP_DTYPE_COUNT
} kvp_dtype;

KVP_API const char *kvp_dtype_name(kvp_dtype dtype); /* "f32", "f16", "bf16"; NULL if bad */
KVP_API size_t kvp_dtype_size(kvp_dtype dtype);      /* 4, 2, 2; 0 if bad */

/* Converts `count` elements between float dtypes on the host (round to nearest even).
 * src and dst must not overlap unless they are identical with equal dtypes. */
KVP_API kvp_status kvp_convert(kvp_dtype src_dtype, const void *src, kvp_dtype dst_dtype,
                               void *dst, size_t count);

typedef struct kvp_buffer kvp_buffer;

/* A view of a dense row-major tensor that lives either in host memory (`data`) or in a
 * device buffer of the context it is used with (`buffer` + byte `offset`). Exactly one of
 * `data` and `buffer` is set. Unused trailing dimensions are ignored (`ndim` says how many
 * are used). Build one with the helpers below. */
typedef struct kvp_tensor {
    kvp_dtype dtype;
    int ndim;
    int64_t shape[4];
    void *data;          /* host memory, or NULL */
    kvp_buffer *buffer;  /* device memory, or NULL */
    size_t offset;       /* byte offset into `buffer` */
} kvp_tensor;

static inline kvp_tensor kvp_tensor_host(kvp_dtype dtype, void *data, int ndim, int64_t d0,
                                         int64_t d1, int64_t d2) {
    kvp_tensor t;
    t.dtype = dtype;
    t.ndim = ndim;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.shape[2] = d2;
    t.shape[3] = 1;
    t.data = data;
    t.buffer = NULL;
    t.offset = 0;
    return t;
}

static inline kvp_tensor kvp_tensor_device(kvp_dtype dtype, kvp_buffer *buffer, size_t offset,
                                           int ndim, int64_t d0, int64_t d1, int64_t d2) {
    kvp_tensor t = kvp_tensor_host(dtype, NULL, ndim, d0, d1, d2);
    t.buffer = buffer;
    t.offset = offset;
    return t;
}

/* ------------------------------------------------------------------------------------------
 * Registry: backends and devices (probed lazily, once per process, thread-safe)
 * ---------------------------------------------------------------------------------------- */

typedef enum kvp_device_type {
    KVP_DEVICE_TYPE_CPU = 0,
    KVP_DEVICE_TYPE_GPU = 1,        /* discrete GPU */
    KVP_DEVICE_TYPE_IGPU = 2,       /* integrated GPU */
    KVP_DEVICE_TYPE_ACCELERATOR = 3,
    KVP_DEVICE_TYPE_OTHER = 4       /* e.g. a software rasteriser (lavapipe) or CPU OpenCL */
} kvp_device_type;

KVP_API const char *kvp_device_type_name(kvp_device_type type);

typedef struct kvp_backend_info {
    char name[16];        /* "cpu", "opencl", "vulkan", "cuda" */
    int compiled;         /* built into this library */
    int available;        /* probed successfully with at least one device */
    int device_count;
    char reason[256];     /* why it is absent or has no devices; "" when available */
} kvp_backend_info;

KVP_API kvp_status kvp_backend_count(int *count);
KVP_API kvp_status kvp_backend_get_info(int index, kvp_backend_info *info);

typedef struct kvp_device kvp_device;

typedef struct kvp_device_props {
    char name[64];            /* registry name: "cpu", "opencl0", "vulkan1", "cuda0" */
    char backend[16];
    char description[256];    /* the vendor's device name */
    char driver[128];         /* driver / platform / API version as reported */
    kvp_device_type type;
    uint64_t memory_bytes;    /* total device memory (host memory for the CPU) */
    int compute_units;        /* SMs, CUs, EUs or CPU cores */
    int max_workgroup_size;
    int subgroup_size;        /* warp/wave/subgroup width; 1 when not applicable */
    unsigned dtype_mask;      /* bit (1u << dtype) set for each cache dtype supported */
    double peak_bandwidth_gbs;/* theoretical memory bandwidth if known, else 0 */
} kvp_device_props;

/* All devices of all available backends, flattened: cpu first, then opencl, vulkan, cuda. */
KVP_API kvp_status kvp_device_count(int *count);
KVP_API kvp_status kvp_device_get(int index, kvp_device **device);
/* By registry name ("cpu", "vulkan0") or by backend name ("vulkan" = its first device). */
KVP_API kvp_status kvp_device_by_name(const char *name, kvp_device **device);
KVP_API kvp_status kvp_device_get_props(const kvp_device *device, kvp_device_props *props);

/* ------------------------------------------------------------------------------------------
 * Contexts
 * ---------------------------------------------------------------------------------------- */

typedef struct kvp_context kvp_context;

typedef enum kvp_log_level {
    KVP_LOG_ERROR = 0,
    KVP_LOG_WARN = 1,
    KVP_LOG_INFO = 2,
    KVP_LOG_DEBUG = 3
} kvp_log_level;

typedef void (*kvp_log_fn)(kvp_log_level level, const char *message, void *user_data);

typedef struct kvp_context_options {
    kvp_log_fn log;             /* NULL: no logging */
    void *log_user_data;
    kvp_log_level log_level;    /* messages above this level are dropped (default WARN) */
    /* Check that data entering the library (cache appends, queries, statistics, attention
     * probabilities, W_o) and press scores are finite; a NaN/Inf gives KVP_ERR_INVALID_ARG
     * and leaves the cache untouched. Default 1. Turning it off saves one pass over inputs. */
    int check_finite;
} kvp_context_options;

KVP_API void kvp_context_options_init(kvp_context_options *options);

/* options may be NULL (defaults). */
KVP_API kvp_status kvp_context_create(kvp_device *device, const kvp_context_options *options,
                                      kvp_context **context);
KVP_API void kvp_context_destroy(kvp_context *context);
KVP_API kvp_device *kvp_context_device(const kvp_context *context);
/* Detailed message of the last error raised through this context; "" if none. */
KVP_API const char *kvp_context_last_error(const kvp_context *context);
/* Waits until all work submitted through the context has finished. */
KVP_API kvp_status kvp_context_synchronize(kvp_context *context);

/* ------------------------------------------------------------------------------------------
 * Device buffers
 * ---------------------------------------------------------------------------------------- */

KVP_API kvp_status kvp_buffer_alloc(kvp_context *context, size_t bytes, kvp_buffer **buffer);
/* Wraps host memory as a buffer without copying: only on the cpu device. The memory must
 * outlive the buffer and be aligned to 16 bytes. */
KVP_API kvp_status kvp_buffer_wrap_host(kvp_context *context, void *memory, size_t bytes,
                                        kvp_buffer **buffer);
KVP_API void kvp_buffer_free(kvp_buffer *buffer);
KVP_API size_t kvp_buffer_size(const kvp_buffer *buffer);
KVP_API kvp_status kvp_buffer_upload(kvp_context *context, kvp_buffer *buffer, size_t offset,
                                     const void *src, size_t bytes);
KVP_API kvp_status kvp_buffer_download(kvp_context *context, const kvp_buffer *buffer,
                                       size_t offset, void *dst, size_t bytes);

/* ------------------------------------------------------------------------------------------
 * RoPE definition (needed by query-aware presses; the cache holds post-RoPE keys)
 * ---------------------------------------------------------------------------------------- */

typedef enum kvp_rope_layout {
    /* Hugging Face "rotate half": channel c is paired with c + d/2. */
    KVP_ROPE_HALF_SPLIT = 0,
    /* llama.cpp / llama2.c: channels 2c and 2c+1 form a pair. */
    KVP_ROPE_INTERLEAVED = 1
} kvp_rope_layout;

typedef struct kvp_rope {
    kvp_rope_layout layout;
    int head_dim;
    double theta;              /* inv_freq[c] = theta^(-2c/d) when inv_freq is NULL */
    const float *inv_freq;     /* optional [head_dim/2] (e.g. Llama-3 or YaRN rescaled) */
    float attention_scaling;   /* multiplies cos and sin; 1 for plain RoPE */
} kvp_rope;

/* Half-split, theta = 10000, scaling 1, for the given head_dim. */
KVP_API void kvp_rope_init(kvp_rope *rope, int head_dim);

/* Rotates x [heads, tokens, head_dim] as if token a were at position pos0 + a; writes f32 to
 * out (same shape; may alias x only when x is f32). */
KVP_API kvp_status kvp_rope_apply(kvp_context *context, const kvp_rope *rope,
                                  const kvp_tensor *x, int64_t pos0, kvp_tensor *out);

/* ------------------------------------------------------------------------------------------
 * The KV cache
 *
 * Per layer: keys and values [kv_heads, capacity, head_dim] in one dtype, a length per kv
 * head and, for every kept entry, the original token position. Compression compacts a layer
 * in place, physically; head-wise presses leave each head with its own length (a ragged
 * cache). Entries always stay in increasing position order. kvp_cache_repack then gives the
 * unused memory back.
 * ---------------------------------------------------------------------------------------- */

typedef struct kvp_cache kvp_cache;

typedef struct kvp_cache_options {
    int n_layers;
    int n_kv_heads;
    int head_dim;          /* even for f16/bf16 caches */
    int64_t capacity;      /* slots per kv head and layer at creation (0: wrap layers later) */
    kvp_dtype dtype;
} kvp_cache_options;

KVP_API kvp_status kvp_cache_create(kvp_context *context, const kvp_cache_options *options,
                                    kvp_cache **cache);
KVP_API void kvp_cache_destroy(kvp_cache *cache);

/* Zero-copy integration: makes a layer use memory the caller owns, laid out
 * [kv_heads, capacity, head_dim] in the cache dtype, starting at the byte offsets given.
 * `lengths` (may be NULL = all 0) gives the number of valid tokens per head already there;
 * their positions are taken to be 0 .. length-1. The buffers must outlive the cache (or
 * the next wrap of that layer). Native GPU memory becomes a kvp_buffer through the
 * interop headers kvp_cuda.h, kvp_vulkan.h and kvp_opencl.h. */
KVP_API kvp_status kvp_cache_wrap_layer(kvp_cache *cache, int layer, int64_t capacity,
                                        kvp_buffer *keys, size_t keys_offset,
                                        kvp_buffer *values, size_t values_offset,
                                        const int64_t *lengths);

/* Appends `tokens` new entries to every kv head of a layer: keys and values
 * [kv_heads, tokens, head_dim] (any float dtype on the host, converted to the cache dtype;
 * the cache dtype if in a device buffer), token a at position pos0 + a. */
KVP_API kvp_status kvp_cache_append(kvp_cache *cache, int layer, const kvp_tensor *keys,
                                    const kvp_tensor *values, int64_t pos0);

/* lengths: [kv_heads] number of entries of each head of the layer. */
KVP_API kvp_status kvp_cache_get_lengths(const kvp_cache *cache, int layer, int64_t *lengths);

/* Copies one head's entries to the host: keys and values [length, head_dim] in the cache
 * dtype and positions [length]. Any of the three may be NULL. */
KVP_API kvp_status kvp_cache_read(const kvp_cache *cache, int layer, int head, void *keys,
                                  void *values, int32_t *positions);

/* Drops every entry whose position is >= position, in every head of the layer (e.g. to
 * reuse a compressed context for another question). */
KVP_API kvp_status kvp_cache_truncate(kvp_cache *cache, int layer, int64_t position);

/* Reallocates an owned layer so that each head has exactly length + reserve slots:
 * after a compression this gives the evicted memory back (ragged heads included).
 * Fails with KVP_ERR_UNSUPPORTED on a wrapped layer. */
KVP_API kvp_status kvp_cache_repack(kvp_cache *cache, int layer, int64_t reserve);

typedef struct kvp_cache_memory {
    uint64_t allocated_bytes;   /* keys + values + positions held by the library */
    uint64_t used_bytes;        /* the part occupied by live entries */
    uint64_t entries;           /* live (head, token) entries over all layers */
} kvp_cache_memory;

KVP_API kvp_status kvp_cache_get_memory(const kvp_cache *cache, kvp_cache_memory *memory);
KVP_API kvp_status kvp_cache_get_options(const kvp_cache *cache, kvp_cache_options *options);

/* ------------------------------------------------------------------------------------------
 * Press inputs
 *
 * What a press may read besides the cache. Setters copy host tensors into the context's
 * device memory (so the caller may free them afterwards) and only reference device
 * tensors (which must stay alive until the inputs are reset or destroyed).
 * ---------------------------------------------------------------------------------------- */

typedef struct kvp_inputs kvp_inputs;
typedef struct kvp_qstats kvp_qstats;

KVP_API kvp_status kvp_inputs_create(kvp_context *context, kvp_inputs **inputs);
KVP_API void kvp_inputs_destroy(kvp_inputs *inputs);
/* Forgets every input that was set. */
KVP_API void kvp_inputs_reset(kvp_inputs *inputs);

/* PRE-RoPE queries [n_heads, tokens, head_dim] of the tokens pos0 .. pos0+tokens-1
 * (during prefill: every prompt token, pos0 = 0; a window press uses the last ones). */
KVP_API kvp_status kvp_inputs_set_queries(kvp_inputs *inputs, const kvp_tensor *queries,
                                          int64_t pos0);
/* Accumulated query statistics, in place of the queries, for Expected Attention. The
 * statistics object is referenced, not copied. */
KVP_API kvp_status kvp_inputs_set_query_stats(kvp_inputs *inputs, kvp_qstats *stats);
KVP_API kvp_status kvp_inputs_set_rope(kvp_inputs *inputs, const kvp_rope *rope);
/* Attention-layer input hidden states [tokens, hidden_size] (after the input RMSNorm). */
KVP_API kvp_status kvp_inputs_set_hidden(kvp_inputs *inputs, const kvp_tensor *hidden,
                                         int64_t pos0);
/* Attention probabilities [n_heads, tokens, n] of the last `tokens` prompt tokens over the
 * n cached keys (as from eager attention). */
KVP_API kvp_status kvp_inputs_set_attention(kvp_inputs *inputs, const kvp_tensor *probs);
/* Output projection W_o [hidden_size, n_heads * head_dim] (row = output feature). */
KVP_API kvp_status kvp_inputs_set_wo(kvp_inputs *inputs, const kvp_tensor *wo);

/* Streaming query statistics for Expected Attention: mean and (biased) covariance of the
 * pre-RoPE queries of every position >= skip_below (the press's n_sink), fed chunk by chunk
 * during a chunked prefill. Chunks combine exactly (Chan et al. pairwise update), so the
 * result does not depend on how the prompt was chunked beyond rounding. */
KVP_API kvp_status kvp_qstats_create(kvp_context *context, int n_heads, int head_dim,
                                     int64_t skip_below, kvp_qstats **stats);
KVP_API void kvp_qstats_destroy(kvp_qstats *stats);
KVP_API void kvp_qstats_reset(kvp_qstats *stats);
/* queries: PRE-RoPE [n_heads, tokens, head_dim] of positions pos0 .. pos0+tokens-1. */
KVP_API kvp_status kvp_qstats_add(kvp_qstats *stats, const kvp_tensor *queries, int64_t pos0);
/* count: rows accumulated; mean [n_heads, head_dim]; cov [n_heads, head_dim, head_dim]
 * (biased, divided by count). Any output may be NULL. */
KVP_API kvp_status kvp_qstats_get(kvp_qstats *stats, int64_t *count, float *mean, float *cov);

/* ------------------------------------------------------------------------------------------
 * Presses
 *
 * Presses are created by name and configured with typed parameters; wrappers take an inner
 * press through kvp_press_set_press. kvp_press_list describes every press and parameter.
 * ---------------------------------------------------------------------------------------- */

typedef struct kvp_press kvp_press;

typedef enum kvp_param_type {
    KVP_PARAM_INT = 0,
    KVP_PARAM_FLOAT = 1,
    KVP_PARAM_BOOL = 2,
    KVP_PARAM_PRESS = 3
} kvp_param_type;

typedef struct kvp_param_info {
    const char *name;
    kvp_param_type type;
    double default_value;   /* unused for KVP_PARAM_PRESS */
    double min_value, max_value;
    int max_exclusive;      /* 1: value must be < max_value */
    const char *help;
} kvp_param_info;

typedef enum kvp_press_kind {
    KVP_PRESS_SCORER = 0,    /* per-token score, same number of tokens kept per head */
    KVP_PRESS_WRAPPER = 1,   /* changes the selection of an inner scorer */
    KVP_PRESS_HEADWISE = 2,  /* each kv head keeps its own number of tokens (ragged) */
    KVP_PRESS_DECODING = 3   /* compresses during decoding (kvp_decode_step) */
} kvp_press_kind;

/* Inputs a press may need (bits of kvp_press_info.needs / .optional). */
enum {
    KVP_NEED_QUERIES = 1u << 0,
    KVP_NEED_QUERY_STATS = 1u << 1,  /* satisfied by queries too */
    KVP_NEED_ROPE = 1u << 2,
    KVP_NEED_HIDDEN = 1u << 3,
    KVP_NEED_ATTENTION = 1u << 4,    /* satisfied by queries + RoPE (recomputed) */
    KVP_NEED_WO = 1u << 5,
    KVP_NEED_ARTEFACT = 1u << 6      /* a trained/calibrated artefact (kvp_press_set_artefact) */
};

typedef struct kvp_press_info {
    const char *name;
    const char *summary;
    const char *paper;
    kvp_press_kind kind;
    unsigned needs;         /* inputs the press itself needs (wrappers: plus the inner's) */
    int n_params;
    const kvp_param_info *params;
} kvp_press_info;

KVP_API int kvp_press_list_count(void);
KVP_API const kvp_press_info *kvp_press_list_get(int index);

KVP_API kvp_status kvp_press_create(const char *name, kvp_press **press);
/* Builds a press from a specification string:
 *   "snapkv(compression_ratio=0.5, window_size=64)"
 *   "adakv(press=expected_attention(epsilon=0.01), compression_ratio=0.25)"
 * A bare name is allowed ("knorm"). */
KVP_API kvp_status kvp_press_parse(const char *spec, kvp_press **press);
KVP_API void kvp_press_destroy(kvp_press *press);
KVP_API const kvp_press_info *kvp_press_get_info(const kvp_press *press);

KVP_API kvp_status kvp_press_set_int(kvp_press *press, const char *name, int64_t value);
KVP_API kvp_status kvp_press_set_float(kvp_press *press, const char *name, double value);
KVP_API kvp_status kvp_press_set_bool(kvp_press *press, const char *name, int value);
/* Sets a press-valued parameter ("press"); on success the wrapper owns `inner`. */
KVP_API kvp_status kvp_press_set_press(kvp_press *press, const char *name, kvp_press *inner);
/* Reads a numeric parameter (ints and bools come back as doubles). */
KVP_API kvp_status kvp_press_get(const kvp_press *press, const char *name, double *value);
/* Writes the canonical specification (all parameters) into buf; truncates safely. */
KVP_API kvp_status kvp_press_describe(const kvp_press *press, char *buf, size_t size);
/* Clears per-layer state (decoding presses: step counters and buffers). */
KVP_API void kvp_press_reset(kvp_press *press);

/* ------------------------------------------------------------------------------------------
 * Artefacts: trained or calibrated data some presses need (query statistics, Q-filters,
 * gates, head patterns, budget curves). The format is safetensors (a JSON header naming each
 * tensor's dtype, shape and byte range, then the data); each press documents the tensor names
 * and shapes it reads, and tools/artefacts converts the published files. Tensors of dtype
 * F32, F16 or BF16 can be read; other dtypes are listed but not readable.
 * ---------------------------------------------------------------------------------------- */

typedef struct kvp_artefact kvp_artefact;

/* Reads and validates a whole safetensors file (sizes, offsets, dtypes, shapes). */
KVP_API kvp_status kvp_artefact_load(const char *path, kvp_artefact **artefact);
/* The same from a buffer (copied). */
KVP_API kvp_status kvp_artefact_load_memory(const void *data, size_t size,
                                            kvp_artefact **artefact);
KVP_API void kvp_artefact_destroy(kvp_artefact *artefact);
KVP_API int kvp_artefact_tensor_count(const kvp_artefact *artefact);
KVP_API const char *kvp_artefact_tensor_name(const kvp_artefact *artefact, int index);
/* A host view of a tensor, valid while the artefact lives. */
KVP_API kvp_status kvp_artefact_get(const kvp_artefact *artefact, const char *name,
                                    kvp_tensor *tensor);
/* A value of the file's __metadata__ (NULL when absent). */
KVP_API const char *kvp_artefact_metadata(const kvp_artefact *artefact, const char *key);

/* Gives a press the artefact it needs (checked now: names, shapes); a wrapper passes it on
 * to the first press of its chain that takes one. The artefact is referenced, not copied: it
 * must outlive the press. */
KVP_API kvp_status kvp_press_set_artefact(kvp_press *press, kvp_artefact *artefact);

/* Compresses one layer of the cache in place with a prefill press. Ratio 0 leaves the
 * layer untouched. On error the cache is unchanged. */
KVP_API kvp_status kvp_compress(kvp_context *context, kvp_press *press, kvp_cache *cache,
                                int layer, const kvp_inputs *inputs);

/* For decoding presses: call once per layer after each decoding step (once the step's
 * tokens were appended). Every `compression_interval` steps the layer is compressed to
 * `target_size` tokens; *compressed (may be NULL) tells whether it happened. The inputs
 * are those of this step (e.g. its pre-RoPE queries, which the press buffers). */
KVP_API kvp_status kvp_decode_step(kvp_context *context, kvp_press *press, kvp_cache *cache,
                                   int layer, const kvp_inputs *inputs, int *compressed);

/* The score a scorer press gives every cached token of a layer, higher = keep:
 * scores [kv_heads, n] on the host. Wrappers that only change the selection
 * (adakv, chunkkv) report their inner press's score. */
KVP_API kvp_status kvp_press_score(kvp_context *context, kvp_press *press,
                                   const kvp_cache *cache, int layer, const kvp_inputs *inputs,
                                   float *scores);

/* The number of tokens a scorer keeps out of n at ratio r: floor(n * (1 - r)) in double
 * precision, exactly as kvpress computes it. */
KVP_API int64_t kvp_n_keep(int64_t n, double ratio);

/* ------------------------------------------------------------------------------------------
 * Attention over the cache
 * ---------------------------------------------------------------------------------------- */

/* Grouped-query attention of `q` [n_heads, m, head_dim] (POST-RoPE; query a sits at position
 * q_pos0 + a) over the layer's cache: query a sees exactly the entries whose position is
 * <= q_pos0 + a, in each kv head's own (ragged) length. The softmax scale is `scale`
 * (usually 1/sqrt(head_dim)). Writes out [n_heads, m, head_dim] in f32; accumulation is f32
 * or better. A prefill is m = n with q_pos0 = 0 after appending the prompt's keys; a decode
 * step is m = 1..k new queries at their true positions. A query that sees no entry gets a
 * zero output. */
KVP_API kvp_status kvp_attention(kvp_context *context, const kvp_cache *cache, int layer,
                                 const kvp_tensor *q, int64_t q_pos0, float scale,
                                 kvp_tensor *out);

#ifdef __cplusplus
}
#endif

#endif /* KVPRESS_H */
