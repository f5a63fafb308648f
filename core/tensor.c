/* Data types, host conversions and the validation of tensors passed by callers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int kvp__dtype_valid(kvp_dtype dt) { return dt >= 0 && dt < KVP_DTYPE_COUNT; }

const char *kvp_dtype_name(kvp_dtype dtype) {
    static const char *names[] = {"f32", "f16", "bf16"};
    return kvp__dtype_valid(dtype) ? names[dtype] : NULL;
}

size_t kvp_dtype_size(kvp_dtype dtype) {
    return kvp__dtype_valid(dtype) ? (dtype == KVP_DTYPE_F32 ? 4 : 2) : 0;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float kvp__bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t kvp__f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float kvp__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 is exact in f32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t kvp__f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u;            /* NaN */
    if (abs >= 0x477ff000u) return sign | 0x7c00u;           /* overflow (>= 65520) -> inf */
    if (abs < 0x38800000u) {                                 /* subnormal or zero in f16 */
        /* value = abs_f * 2^24 rounded to an integer number of 2^-24 units */
        float v = bits_f32(abs) * 16777216.0f;
        float r = nearbyintf(v); /* default rounding mode: to nearest even */
        return sign | (uint16_t)r;
    }
    uint32_t exp = (abs >> 23) - 112u;
    uint32_t man = abs & 0x7fffffu;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* carries into exp correctly */
    return sign | (uint16_t)h;
}

float kvp__load(kvp_dtype dt, const void *data, size_t i) {
    switch (dt) {
    case KVP_DTYPE_F32: return ((const float *)data)[i];
    case KVP_DTYPE_F16: return kvp__f16_to_f32(((const uint16_t *)data)[i]);
    case KVP_DTYPE_BF16: return kvp__bf16_to_f32(((const uint16_t *)data)[i]);
    default: return NAN;
    }
}

kvp_status kvp_convert(kvp_dtype src_dtype, const void *src, kvp_dtype dst_dtype, void *dst,
                       size_t count) {
    if (!kvp__dtype_valid(src_dtype) || !kvp__dtype_valid(dst_dtype))
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_convert: invalid dtype");
    if ((!src || !dst) && count)
        return kvp__error_tls(KVP_ERR_INVALID_ARG, "kvp_convert: NULL pointer");
    if (src_dtype == dst_dtype) {
        if (src != dst) memmove(dst, src, count * kvp_dtype_size(src_dtype));
        return KVP_OK;
    }
    for (size_t i = 0; i < count; i++) {
        float v = kvp__load(src_dtype, src, i);
        switch (dst_dtype) {
        case KVP_DTYPE_F32: ((float *)dst)[i] = v; break;
        case KVP_DTYPE_F16: ((uint16_t *)dst)[i] = kvp__f32_to_f16(v); break;
        case KVP_DTYPE_BF16: ((uint16_t *)dst)[i] = kvp__f32_to_bf16(v); break;
        default: break;
        }
    }
    return KVP_OK;
}

int64_t kvp__tensor_count(const kvp_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

kvp_status kvp__tensor_check(kvp_context *ctx, const kvp_tensor *t, const char *what,
                             int ndim, const int64_t *shape) {
    if (!t) return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: tensor is NULL", what);
    if (!kvp__dtype_valid(t->dtype))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: invalid dtype %d", what, (int)t->dtype);
    if (t->ndim != ndim)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: expected %d dimensions, got %d", what,
                          ndim, t->ndim);
    for (int i = 0; i < ndim; i++) {
        if (t->shape[i] <= 0)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: dimension %d is %lld (must be > 0)",
                              what, i, (long long)t->shape[i]);
        if (shape && shape[i] >= 0 && t->shape[i] != shape[i])
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: dimension %d is %lld, expected %lld", what, i,
                              (long long)t->shape[i], (long long)shape[i]);
    }
    int64_t count = kvp__tensor_count(t);
    if (count > INT32_MAX)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: %lld elements exceed the 2^31 limit of one tensor", what,
                          (long long)count);
    if ((t->data != NULL) == (t->buffer != NULL))
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "%s: exactly one of data (host) and buffer (device) must be set", what);
    if (t->buffer) {
        if (t->buffer->ctx != ctx)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s: buffer belongs to another context",
                              what);
        size_t bytes = (size_t)count * kvp_dtype_size(t->dtype);
        if (t->offset > t->buffer->size || bytes > t->buffer->size - t->offset)
            return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                              "%s: %zu bytes at offset %zu exceed the buffer size %zu", what,
                              bytes, t->offset, t->buffer->size);
    }
    return KVP_OK;
}

kvp_status kvp__tensor_count_nonfinite(kvp_context *ctx, const kvp_tensor *t, int64_t *count) {
    int64_t n = kvp__tensor_count(t);
    *count = 0;
    if (t->data) {
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(kvp__load(t->dtype, t->data, (size_t)i))) (*count)++;
        return KVP_OK;
    }
    int mark = kvp__scratch_mark(ctx);
    kvp_buffer *out;
    kvp_status st = kvp__scratch(ctx, sizeof(int32_t), &out);
    if (st == KVP_OK) {
        kvp_p_count_nonfinite p = {.count = (int)n, .dtype = (int)t->dtype};
        st = KVP_RUN(ctx, COUNT_NONFINITE, &p, KVP_BO(t->buffer, t->offset), KVP_B(out));
    }
    int32_t c = 0;
    if (st == KVP_OK) st = kvp__download(ctx, out, 0, &c, sizeof c);
    kvp__scratch_release(ctx, mark);
    *count = c;
    return st;
}

kvp_status kvp__tensor_check_finite(kvp_context *ctx, const kvp_tensor *t, const char *what) {
    if (!ctx->options.check_finite) return KVP_OK;
    int64_t bad = 0;
    KVP_TRY(kvp__tensor_count_nonfinite(ctx, t, &bad));
    if (bad)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG, "%s holds %lld NaN or infinite value%s", what,
                          (long long)bad, bad == 1 ? "" : "s");
    return KVP_OK;
}

kvp_status kvp__tensor_to_device(kvp_context *ctx, const kvp_tensor *t, kvp_dtype dtype,
                                 kvp_buffer **out) {
    *out = NULL;
    size_t count = (size_t)kvp__tensor_count(t);
    size_t bytes = count * kvp_dtype_size(dtype);
    if (t->buffer && t->dtype != dtype)
        return kvp__error(ctx, KVP_ERR_INVALID_ARG,
                          "a device tensor must already have dtype %s (it has %s)",
                          kvp_dtype_name(dtype), kvp_dtype_name(t->dtype));
    kvp_buffer *b;
    KVP_TRY(kvp__buffer_alloc(ctx, bytes, &b));
    kvp_status st;
    if (t->buffer) {
        st = kvp__copy(ctx, b, 0, t->buffer, t->offset, bytes);
    } else if (t->dtype == dtype) {
        st = kvp__upload(ctx, b, 0, t->data, bytes);
    } else {
        void *tmp = kvp__malloc(ctx, bytes);
        st = tmp ? KVP_OK : KVP_ERR_OUT_OF_HOST_MEMORY;
        if (tmp) {
            kvp_convert(t->dtype, t->data, dtype, tmp, count);
            st = kvp__upload(ctx, b, 0, tmp, bytes);
            free(tmp);
        }
    }
    if (st != KVP_OK) {
        kvp_buffer_free(b);
        return st;
    }
    *out = b;
    return KVP_OK;
}
