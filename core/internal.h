/* Private definitions shared by the core files. */
#ifndef KVP_INTERNAL_H
#define KVP_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>

#include "backend_impl.h"
#include "kvpress/kvpress.h"
#include "ops.h"

#if defined(__GNUC__) || defined(__clang__)
#define KVP_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define KVP_PRINTF(fmt_idx, arg_idx)
#endif

#define KVP_ERRMSG_SIZE 1024
#define KVP_MAX_SCRATCH 32

struct kvp_device {
    const kvp_backend_ops *ops;
    int index; /* within its backend */
    kvp_device_props props;
};

struct kvp_buffer {
    kvp_context *ctx;
    void *handle;
    size_t size;
};

struct kvp_context {
    kvp_device *device;
    const kvp_backend_ops *ops;
    void *backend_state;
    kvp_context_options options;
    char error[KVP_ERRMSG_SIZE];

    /* Scratch buffers reused across calls (a bump allocator: kvp__scratch takes the next
     * slot, growing it if needed; kvp__scratch_release rewinds to a mark). */
    kvp_buffer *scratch[KVP_MAX_SCRATCH];
    int scratch_top;

    /* Test hook: when >= 0, the allocation after this many more fails (simulated OOM). */
    long fail_alloc_after;

    /* Native handles (backend-defined) passed to the backend's context_create by an interop
     * constructor such as kvp_context_create_opencl; NULL otherwise and after creation. */
    const void *create_native;
};

/* ---- errors ------------------------------------------------------------------------------ */

/* Records a formatted message on ctx (or the thread's slot when ctx is NULL); returns st. */
kvp_status kvp__error(kvp_context *ctx, kvp_status st, const char *fmt, ...) KVP_PRINTF(3, 4);
kvp_status kvp__errorv(kvp_context *ctx, kvp_status st, const char *fmt, va_list ap);
/* Thread-local message without a context. */
kvp_status kvp__error_tls(kvp_status st, const char *fmt, ...) KVP_PRINTF(2, 3);
/* Copies the thread-local message into ctx (when a press function failed during a call). */
void kvp__error_tls_to_ctx(kvp_context *ctx);
void kvp__log(kvp_context *ctx, kvp_log_level level, const char *fmt, ...) KVP_PRINTF(3, 4);

#define KVP_TRY(expr)                                                                        \
    do {                                                                                     \
        kvp_status kvp_try_st_ = (expr);                                                     \
        if (kvp_try_st_ != KVP_OK) return kvp_try_st_;                                       \
    } while (0)

/* ---- memory ------------------------------------------------------------------------------ */

/* Host allocation that honours the simulated-failure hook; records the error on failure. */
void *kvp__malloc(kvp_context *ctx, size_t bytes);
void *kvp__calloc(kvp_context *ctx, size_t count, size_t size);
/* Device allocation through the backend (honours the hook). */
kvp_status kvp__buffer_alloc(kvp_context *ctx, size_t bytes, kvp_buffer **out);
/* Returns the hook's verdict for one more allocation (1 = fail it). */
int kvp__alloc_should_fail(kvp_context *ctx);
/* Test hook: fail the allocation after `after` more succeed (-1 disables). */
void kvp__test_fail_alloc_after(kvp_context *ctx, long after);

kvp_status kvp__scratch(kvp_context *ctx, size_t bytes, kvp_buffer **out);
static inline int kvp__scratch_mark(const kvp_context *ctx) { return ctx->scratch_top; }
static inline void kvp__scratch_release(kvp_context *ctx, int mark) { ctx->scratch_top = mark; }

kvp_status kvp__upload(kvp_context *ctx, kvp_buffer *buf, size_t off, const void *src,
                       size_t bytes);
kvp_status kvp__download(kvp_context *ctx, const kvp_buffer *buf, size_t off, void *dst,
                         size_t bytes);
kvp_status kvp__copy(kvp_context *ctx, kvp_buffer *dst, size_t dst_off, kvp_buffer *src,
                     size_t src_off, size_t bytes);

/* ---- registry ---------------------------------------------------------------------------- */

kvp_status kvp__registry_ensure(void);

/* ---- dtypes and tensors ------------------------------------------------------------------ */

float kvp__f16_to_f32(uint16_t h);
uint16_t kvp__f32_to_f16(float f);
float kvp__bf16_to_f32(uint16_t h);
uint16_t kvp__f32_to_bf16(float f);
/* Loads element i of a host array of any float dtype. */
float kvp__load(kvp_dtype dt, const void *data, size_t i);
int kvp__dtype_valid(kvp_dtype dt);

int64_t kvp__tensor_count(const kvp_tensor *t);
/* Checks that t is a valid tensor of `ndim` dims with the shape given (-1 = any) and, when
 * it is on a device, that its buffer belongs to ctx and is large enough. `what` names it. */
kvp_status kvp__tensor_check(kvp_context *ctx, const kvp_tensor *t, const char *what,
                             int ndim, const int64_t *shape);
/* Number of NaN/Inf values of a tensor (host or device). */
kvp_status kvp__tensor_count_nonfinite(kvp_context *ctx, const kvp_tensor *t, int64_t *count);
/* Fails with a clear message when the context checks inputs and t holds NaN/Inf. */
kvp_status kvp__tensor_check_finite(kvp_context *ctx, const kvp_tensor *t, const char *what);
/* Copies a tensor into a new (owned) device buffer, converting host data to `dtype`
 * (device tensors must already have it). */
kvp_status kvp__tensor_to_device(kvp_context *ctx, const kvp_tensor *t, kvp_dtype dtype,
                                 kvp_buffer **out);

/* ---- the cache --------------------------------------------------------------------------- */

typedef struct kvp_cache_layer {
    kvp_buffer *keys, *values;
    size_t keys_offset, values_offset; /* nonzero only for wrapped memory */
    int wrapped;
    int64_t rows;         /* rows allocated in keys/values/pos */
    kvp_buffer *pos;      /* int32 [rows] */
    kvp_buffer *meta;     /* int32 [2 * n_kv_heads]: first row, length (device mirror) */
    int64_t *first;       /* host: first row of each head */
    int64_t *length;      /* host: length of each head */
    int64_t *capacity;    /* host: rows reserved for each head */
    int64_t next_pos;     /* positions appended next must be >= this */
} kvp_cache_layer;

struct kvp_cache {
    kvp_context *ctx;
    kvp_cache_options opt;
    kvp_cache_layer *layers;
};

kvp_status kvp__cache_check_layer(kvp_context *ctx, const kvp_cache *cache, int layer);
/* The common length of the layer's heads, or an error naming the ragged heads. */
kvp_status kvp__cache_uniform_length(kvp_context *ctx, const kvp_cache *cache, int layer,
                                     const char *who, int64_t *n);
/* Uploads the host mirror of first/length to the device meta buffer. */
kvp_status kvp__cache_sync_meta(kvp_context *ctx, kvp_cache *cache, int layer);
/* Compacts a layer by a keep mask [n_kv_heads, n] (device int32). */
kvp_status kvp__cache_compact(kvp_context *ctx, kvp_cache *cache, int layer, kvp_buffer *mask,
                              int64_t n);

/* ---- inputs ------------------------------------------------------------------------------ */

struct kvp_qstats {
    kvp_context *ctx;
    int n_heads, head_dim;
    int64_t skip_below;
    int64_t count;
    int64_t next_pos;      /* one past the largest position seen (future positions start) */
    kvp_buffer *mean;      /* f32 [H, d] */
    kvp_buffer *m2;        /* f32 [H, d, d] */
};

typedef struct kvp_input_tensor {
    int set;
    kvp_tensor t;          /* device tensor (possibly the caller's) */
    kvp_buffer *owned;     /* the copy made from host data, if any */
    int64_t pos0;
} kvp_input_tensor;

struct kvp_inputs {
    kvp_context *ctx;
    kvp_input_tensor queries, hidden, attention, wo;
    kvp_qstats *qstats;
    int has_rope;
    kvp_rope rope;
    float *inv_freq;       /* owned copy of the RoPE frequencies [head_dim / 2] */
};

/* inv_freq of a rope definition (copied or derived from theta) into out [d/2]. */
void kvp__rope_inv_freq(const kvp_rope *rope, float *out);
kvp_status kvp__rope_check(kvp_context *ctx, const kvp_rope *rope, int head_dim);
/* Uploads the (cos, sin) table of positions pos0 .. pos0 + rows - 1 to a scratch buffer in
 * the layout the ROPE op expects. */
kvp_status kvp__rope_table(kvp_context *ctx, const kvp_rope *rope, const float *inv_freq,
                           int64_t pos0, int64_t rows, kvp_buffer **out);
/* Runs the ROPE op for rows [r0, m) of a device tensor [H, m, d]; out f32 [H, m - r0, d]. */
kvp_status kvp__rope_rows(kvp_context *ctx, const kvp_rope *rope, const float *inv_freq,
                          const kvp_tensor *x, int64_t pos0, int64_t r0, kvp_buffer *out,
                          size_t out_offset);

/* ---- misc -------------------------------------------------------------------------------- */

int kvp__is_pow2(int64_t v);

#endif /* KVP_INTERNAL_H */
