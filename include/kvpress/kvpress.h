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
/* PRE-RoPE keys [n_kv_heads, tokens, head_dim] of positions pos0 .. pos0+tokens-1 (optional;
 * leverage_score and compactor read them when given, as kvpress projects them from the hidden
 * states; without them they rotate the cached keys back, which equals them up to rounding). */
KVP_API kvp_status kvp_inputs_set_keys(kvp_inputs *inputs, const kvp_tensor *keys, int64_t pos0);
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
/* Replaces the statistics by ones computed elsewhere (e.g. offline on a calibration set, like
 * the artefact of expected_attention_stats): mean [n_heads, head_dim] and covariance
 * [n_heads, head_dim, head_dim], both finite, taken as the statistics of `count` >= 1
 * queries whose last position was next_pos - 1 (the future positions Expected Attention
 * averages over start at next_pos). The covariance is used as given (whether it was divided
 * by N or N - 1 is the caller's choice); later kvp_qstats_add calls merge into it as into
 * `count` accumulated queries. On error the statistics are unchanged. */
KVP_API kvp_status kvp_qstats_set(kvp_qstats *stats, int64_t count, const float *mean,
                                  const float *cov, int64_t next_pos);

/* ------------------------------------------------------------------------------------------
 * Presses
 *
 * Presses are created by name and configured with typed parameters; wrappers take an inner
 * press through kvp_press_set_press, a chain of presses (composed) through
 * kvp_press_add_press, a list of numbers (per-layer ratios) through kvp_press_set_floats.
 * kvp_press_list describes every press and parameter.
 * ---------------------------------------------------------------------------------------- */

typedef struct kvp_press kvp_press;

typedef enum kvp_param_type {
    KVP_PARAM_INT = 0,
    KVP_PARAM_FLOAT = 1,
    KVP_PARAM_BOOL = 2,
    KVP_PARAM_PRESS = 3,       /* one press: "press=knorm(compression_ratio=0.5)" */
    KVP_PARAM_PRESS_LIST = 4,  /* an ordered list of presses: "presses=[knorm, snapkv]" */
    KVP_PARAM_FLOAT_LIST = 5,  /* a list of numbers: "compression_ratios=[0.1, 0.5]" */
    KVP_PARAM_CHOICE = 6       /* one of a few names (kvp_param_choices); value = its index */
} kvp_param_type;

/* For numbers, lists of numbers (each element) and booleans: default, range. For
 * KVP_PARAM_PRESS: default_value 1 means the press may be left unset ("none"), 0 that it is
 * required. For KVP_PARAM_PRESS_LIST: min_value is the least number of presses. */
typedef struct kvp_param_info {
    const char *name;
    kvp_param_type type;
    double default_value;
    double min_value, max_value;
    int max_exclusive;      /* 1: value must be < max_value */
    const char *help;
} kvp_param_info;

typedef enum kvp_press_kind {
    KVP_PRESS_SCORER = 0,    /* per-token score, same number of tokens kept per head */
    KVP_PRESS_WRAPPER = 1,   /* changes the selection of an inner scorer */
    KVP_PRESS_HEADWISE = 2,  /* each kv head keeps its own number of tokens (ragged) */
    KVP_PRESS_DECODING = 3,  /* compresses during decoding (kvp_decode_step) */
    KVP_PRESS_STRUCTURAL = 4 /* no per-token score: changes the cache otherwise (e.g. ThinK
                                zeroes key channels and keeps every token) */
} kvp_press_kind;

/* Inputs a press may need (bits of kvp_press_info.needs / .optional). */
enum {
    KVP_NEED_QUERIES = 1u << 0,
    KVP_NEED_QUERY_STATS = 1u << 1,  /* satisfied by queries too */
    KVP_NEED_ROPE = 1u << 2,
    KVP_NEED_HIDDEN = 1u << 3,
    KVP_NEED_ATTENTION = 1u << 4,    /* satisfied by queries + RoPE (recomputed) */
    KVP_NEED_WO = 1u << 5,
    KVP_NEED_ARTEFACT = 1u << 6,     /* a trained/calibrated artefact (kvp_press_set_artefact) */
    KVP_NEED_FORWARD = 1u << 7,      /* extra passes of the model (a kvp_forward: see below) */
    KVP_NEED_ALL_LAYERS = 1u << 8    /* selects across layers: kvp_compress on every layer
                                        during the prefill, then kvp_compress_all */
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
/* The names a KVP_PARAM_CHOICE parameter (index `param` of press->params) takes,
 * '|'-separated ("linear|mlp"); NULL for other parameters. */
KVP_API const char *kvp_param_choices(const kvp_press_info *press, int param);

KVP_API kvp_status kvp_press_create(const char *name, kvp_press **press);
/* Builds a press from a specification string:
 *   "snapkv(compression_ratio=0.5, window_size=64)"
 *   "adakv(press=expected_attention(epsilon=0.01), compression_ratio=0.25)"
 *   "composed(presses=[knorm(compression_ratio=0.25), keydiff(compression_ratio=0.5)])"
 *   "per_layer_compression(press=knorm, compression_ratios=[0.1, 0.5, 0.25])"
 *   "prefill_decoding(prefilling_press=knorm(compression_ratio=0.5), decoding_press=none)"
 *   "kvzap(model_type=linear)"   (a choice: bare, or quoted 'linear' / "linear")
 * A bare name is allowed ("knorm"); lists are written in brackets, an optional press that is
 * not set as `none`. kvp_press_describe writes this form back. */
KVP_API kvp_status kvp_press_parse(const char *spec, kvp_press **press);
KVP_API void kvp_press_destroy(kvp_press *press);
KVP_API const kvp_press_info *kvp_press_get_info(const kvp_press *press);

KVP_API kvp_status kvp_press_set_int(kvp_press *press, const char *name, int64_t value);
KVP_API kvp_status kvp_press_set_float(kvp_press *press, const char *name, double value);
KVP_API kvp_status kvp_press_set_bool(kvp_press *press, const char *name, int value);
/* Sets a KVP_PARAM_CHOICE parameter by the name of the choice ("mlp"); kvp_press_set_int
 * sets it by index, and kvp_press_get reads the index. */
KVP_API kvp_status kvp_press_set_choice(kvp_press *press, const char *name, const char *choice);
/* Sets a press-valued parameter ("press"); on success the wrapper owns `inner` (and frees
 * the press it replaces). */
KVP_API kvp_status kvp_press_set_press(kvp_press *press, const char *name, kvp_press *inner);
/* Appends a press to a list-of-presses parameter ("presses" of composed); on success the
 * press owns `member`. */
KVP_API kvp_status kvp_press_add_press(kvp_press *press, const char *name, kvp_press *member);
/* Sets a list-of-numbers parameter ("compression_ratios" of per_layer_compression) to
 * `count` values, each checked against the parameter's range; the values are copied. */
KVP_API kvp_status kvp_press_set_floats(kvp_press *press, const char *name,
                                        const double *values, int count);
/* Reads a list-of-numbers parameter: *count receives its length and the first `capacity`
 * values go to `values` (which may be NULL to ask for the length only). */
KVP_API kvp_status kvp_press_get_floats(const kvp_press *press, const char *name,
                                        double *values, int capacity, int *count);
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
 * to the first press it holds that takes one (lukv's budget curve, an inner press's
 * filters). The artefact is referenced, not copied: it must outlive the press. */
KVP_API kvp_status kvp_press_set_artefact(kvp_press *press, kvp_artefact *artefact);

/* Compresses one layer of the cache in place with a prefill press. Ratio 0 leaves the
 * layer untouched. On error the cache is unchanged.
 * For a press that selects across layers (KVP_NEED_ALL_LAYERS) this call only records what
 * the press needs from the layer (e.g. FastKVzip's gate scores) and leaves the layer as it
 * is; kvp_compress_all then compresses. */
KVP_API kvp_status kvp_compress(kvp_context *context, kvp_press *press, kvp_cache *cache,
                                int layer, const kvp_inputs *inputs);

/* For decoding presses: call once per layer after each decoding step (once the step's
 * tokens were appended). Every `compression_interval` steps the layer is compressed to
 * `target_size` tokens; *compressed (may be NULL) tells whether it happened. The inputs
 * are those of this step (e.g. its pre-RoPE queries, which the press buffers). Also for
 * prefill_decoding (its decoding press) and dms with decoding = true (which scores the
 * step's new tokens and evicts those that leave its window with a low score, after its
 * kvp_compress of the prompt). A press that keeps state between steps (buffers, running
 * sums) belongs to one context and one sequence: kvp_press_reset it for the next. */
KVP_API kvp_status kvp_decode_step(kvp_context *context, kvp_press *press, kvp_cache *cache,
                                   int layer, const kvp_inputs *inputs, int *compressed);

/* The score a scorer press gives every cached token of a layer, higher = keep:
 * scores [kv_heads, n] on the host. Wrappers that only change the selection
 * (adakv, chunkkv) report their inner press's score, prefill_decoding its prefill press's. */
KVP_API kvp_status kvp_press_score(kvp_context *context, kvp_press *press,
                                   const kvp_cache *cache, int layer, const kvp_inputs *inputs,
                                   float *scores);

/* The number of tokens a scorer keeps out of n at ratio r: floor(n * (1 - r)) in double
 * precision, exactly as kvpress computes it. */
KVP_API int64_t kvp_n_keep(int64_t n, double ratio);

/* ------------------------------------------------------------------------------------------
 * Presses that run the model, and presses that select across layers
 *
 * Some presses need more than one prefill shows them: KVzip and RestoreKV make the model
 * reconstruct the context, KVCompose replays it, DuoAttention calibrates on sample texts.
 * The library does not run models, so the engine lends it its own forward pass: a
 * kvp_forward callback runs tokens (or embeddings) through the model and, in every layer,
 * shows the press what that layer computed (kvp_forward_layer). Presses that need it say so
 * with KVP_NEED_FORWARD.
 *
 * Presses whose budget spans layers (KVP_NEED_ALL_LAYERS: KVzip, RestoreKV, FastKVzip,
 * KVCompose) work in two phases over one cache:
 *   1. during the prefill, kvp_compress(..., layer, inputs) on every layer records what the
 *      press needs from that layer and changes nothing;
 *   2. after the prefill (all layers cached, with the same length), kvp_compress_all runs
 *      the extra passes if any, selects across layers and compresses every layer.
 * The press keeps that state (on the context of the first call) until kvp_compress_all or
 * kvp_press_reset: use one press per context and sequence. Head-wise presses leave ragged
 * layers, as kvp_compress does. kvp_compress_all computes every layer's selection before it
 * changes any layer; on error the cache is as it was (the engine's passes excepted: a
 * failing pass must itself leave the cache as it found it).
 * ---------------------------------------------------------------------------------------- */

/* What one layer computed for the tokens of a pass (right after its attention), shown to
 * the press as the pass runs. Tensors are host tensors or device tensors of the press's
 * context, valid only during the observe call. `ndim == 0` marks a tensor the engine does
 * not provide; each press documents which ones it reads (queries and keys always). */
typedef struct kvp_forward_layer {
    int layer;
    int64_t pos0;           /* position of the pass's first token */
    kvp_tensor queries;     /* PRE-RoPE queries [n_heads, tokens, head_dim] */
    kvp_tensor keys;        /* POST-RoPE keys [n_kv_heads, tokens, head_dim], as cached */
    kvp_tensor values;      /* [n_kv_heads, tokens, head_dim] */
    kvp_tensor hidden;      /* attention input [tokens, hidden_size] (after the input norm) */
    kvp_tensor wo;          /* the layer's output projection [hidden_size, n_heads * head_dim]
                               (row = output feature), for KVzip+ */
} kvp_forward_layer;

/* Called by the engine once per layer, in layer order, during a pass. A non-OK status
 * must stop the pass, and the engine's run() must return it. */
typedef kvp_status (*kvp_forward_observe_fn)(void *observer, const kvp_forward_layer *layer);

typedef enum kvp_forward_mode {
    /* The tokens attend to the whole cache (entries at positions < pos0) and causally to
     * each other; their keys and values are appended for the pass and removed afterwards:
     * when run() returns, the cache is exactly as before. */
    KVP_FORWARD_PROBE = 0,
    /* As PROBE, but the tokens' keys and values stay in the cache (RestoreKV). */
    KVP_FORWARD_APPEND = 1,
    /* A sequence of its own starting at position pos0, on a fresh cache: neither reads nor
     * changes the press's cache (calibration texts). */
    KVP_FORWARD_SEPARATE = 2
} kvp_forward_mode;

/* One pass the press asks for. Everything it points to is owned by the library and valid
 * during run() only. */
typedef struct kvp_forward_pass {
    kvp_forward_mode mode;
    int64_t pos0;                   /* position of the first token */
    int n_tokens;
    const int32_t *tokens;          /* token ids [n_tokens], or NULL when embeddings are set */
    const float *embeddings;        /* input embeddings [n_tokens, hidden_size] instead of ids */
    /* Low-rank adapter to apply during this pass only (RestoreKV), or NULL. Tensors
     * "lora.<layer>.<proj>.A" [rank, in] and "lora.<layer>.<proj>.B" [out, rank] for proj in
     * q, k, v, o, gate, up, down (absent = not adapted); W x becomes W x + s B (A x) with
     * s = metadata "lora_alpha" / rank. Hugging Face's layout: an engine whose W_q and W_k
     * rows pair RoPE channels otherwise permutes the rows of B for q and k the same way. */
    const kvp_artefact *adapter;
    kvp_forward_observe_fn observe; /* may be NULL */
    void *observer;
} kvp_forward_pass;

/* The engine's model, lent to a press call. The engine owns everything it points to; the
 * library keeps no pointer after the call returns. */
typedef struct kvp_forward {
    void *user_data;
    /* Runs one pass through every layer of the model on the cache given to the press call
     * (modes above); calls pass->observe once per layer when set and returns its first
     * error. Other errors: any status, with a message in err (err_size bytes). */
    kvp_status (*run)(void *user_data, const kvp_forward_pass *pass, char *err,
                      size_t err_size);
    /* Token ids of a text, with no special tokens added. Writes at most `capacity` ids (ids
     * may be NULL when capacity is 0) and the full count in *n_ids. NULL for engines without
     * a tokenizer (KVzip needs one). */
    kvp_status (*tokenize)(void *user_data, const char *text, int32_t *ids, int capacity,
                           int *n_ids);
    /* The model's RoPE: presses rotate the observed queries with it (and un-rotate keys). */
    const kvp_rope *rope;
    /* The prompt that was prefilled (KVzip and RestoreKV reconstruct it, KVCompose replays
     * it): n_context_tokens ids, which must equal the cached length of every layer. */
    const int32_t *context_tokens;
    int64_t n_context_tokens;
    /* The chat template around the context (KVzip): the number of template tokens before
     * the user content at the start of the context, and the template's tokens between the
     * user content and the answer. Without a chat template: 0 and NULL (the press then uses
     * the tokens of "\n", as kvpress does). */
    int64_t template_prefix;
    const int32_t *template_suffix;
    int n_template_suffix;
} kvp_forward;

/* Phase 2 of a press that selects across layers (see above); `forward` may be NULL for
 * presses without KVP_NEED_FORWARD. A press that compresses layer by layer is refused. */
KVP_API kvp_status kvp_compress_all(kvp_context *context, kvp_press *press, kvp_cache *cache,
                                    const kvp_forward *forward);

/* Calibrates a press on sample texts through the engine's model (DuoAttention with
 * on_the_fly_scoring): each sample runs as a KVP_FORWARD_SEPARATE pass, and what the press
 * learns stays in it for later kvp_compress calls (it replaces an artefact). samples[i]
 * holds sample_lengths[i] token ids (with BOS if the model expects it). */
KVP_API kvp_status kvp_press_calibrate(kvp_context *context, kvp_press *press,
                                       const kvp_forward *forward,
                                       const int32_t *const *samples,
                                       const int64_t *sample_lengths, int n_samples);

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
