/* A validating parser for GGUF files (versions 2 and 3), the container format of llama.cpp.
 *
 * The parser works on a byte buffer the caller owns (the whole file in memory) and never
 * reads outside it: every count, length, type, offset and size is checked before use, with
 * overflow-safe arithmetic, so a truncated, corrupt or hostile file yields an error message
 * instead of a crash. Metadata values and tensor data are referenced in place, not copied. */
#ifndef KVP_TOOL_GGUF_H
#define KVP_TOOL_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* Metadata value types, numbered as in the file. */
typedef enum gguf_value_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_value_type;

/* The tensor types this parser accepts (ggml's numbering). */
typedef enum gguf_tensor_type {
    GGUF_TENSOR_F32 = 0,
    GGUF_TENSOR_F16 = 1,
    GGUF_TENSOR_Q8_0 = 8,
    GGUF_TENSOR_BF16 = 30
} gguf_tensor_type;

/* Q8_0 stores blocks of 32 values: an f16 scale followed by 32 int8. */
#define GGUF_Q8_0_BLOCK 32
#define GGUF_Q8_0_BLOCK_BYTES 34

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct gguf_string {
    const char *data; /* not NUL-terminated; points into the file buffer */
    uint64_t len;
} gguf_string;

typedef struct gguf_kv {
    char *key;             /* NUL-terminated copy */
    gguf_value_type type;
    /* Scalars, widened: integers and bools in i64 / u64 (both set when representable),
     * floats in f64. */
    int64_t i64;
    uint64_t u64;
    int is_negative;       /* signed integer below zero (u64 is then meaningless) */
    double f64;
    gguf_string str;       /* GGUF_TYPE_STRING */
    /* GGUF_TYPE_ARRAY: element type, count and the raw little-endian elements (numeric
     * arrays) or one gguf_string per element (string arrays). */
    gguf_value_type array_type;
    uint64_t array_len;
    const uint8_t *array_data;
    gguf_string *array_strings;
} gguf_kv;

typedef struct gguf_tensor_info {
    char *name;            /* NUL-terminated copy */
    int n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the fastest-varying dimension; unused = 1 */
    uint64_t n_elements;
    gguf_tensor_type type;
    uint64_t offset;       /* relative to the start of the data section */
    uint64_t n_bytes;
    const uint8_t *data;   /* into the file buffer; bounds already checked */
} gguf_tensor_info;

typedef struct gguf_file {
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor_info *tensors;
    uint64_t alignment;
    uint64_t data_offset;  /* start of the tensor data section in the file */
    /* Entries allocated so far (equal to the counts after a successful parse). */
    uint64_t n_kv_parsed, n_tensors_parsed;
} gguf_file;

/* Parses a GGUF file held in memory. The buffer must outlive the result. Returns 0, or -1
 * with a message in err (and *out cleared). */
int gguf_parse(const uint8_t *data, size_t size, gguf_file *out, char *err, size_t err_size);
void gguf_free(gguf_file *file);

const char *gguf_value_type_name(gguf_value_type type);
/* "F32", "Q4_K", ... or "unknown" for a ggml tensor type number. */
const char *gguf_tensor_type_name(uint32_t type);

const gguf_kv *gguf_find_kv(const gguf_file *file, const char *key);
const gguf_tensor_info *gguf_find_tensor(const gguf_file *file, const char *name);

/* Typed metadata getters: 0 on success; -1 with a message when the key is missing (and
 * `required`), has the wrong type or is out of range. When the key is absent and not
 * required, *out is left as it was and 1 is returned. Any integer type is accepted for
 * the integer getters as long as the value fits. */
int gguf_get_int(const gguf_file *file, const char *key, int required, int64_t min_value,
                 int64_t max_value, int64_t *out, char *err, size_t err_size);
int gguf_get_float(const gguf_file *file, const char *key, int required, double *out, char *err,
                   size_t err_size);
int gguf_get_string(const gguf_file *file, const char *key, int required, gguf_string *out,
                    char *err, size_t err_size);
/* A numeric array element converted to double (the caller checked index < array_len). */
double gguf_array_number(const gguf_kv *kv, uint64_t index);

#endif
