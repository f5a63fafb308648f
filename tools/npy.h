/* A reader and writer for NumPy .npy files (format 1.0-3.0, little-endian, C order). */
#ifndef KVP_TOOL_NPY_H
#define KVP_TOOL_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef enum npy_type { NPY_F32, NPY_I32, NPY_U8, NPY_I64 } npy_type;

typedef struct npy_array {
    npy_type type;
    int ndim;
    int64_t shape[8];
    int64_t count;
    void *data; /* malloc'd */
} npy_array;

/* Returns 0 on success; on failure writes a message to err. */
int npy_load(const char *path, npy_array *out, char *err, size_t err_size);
void npy_free(npy_array *a);
int npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape);

#endif
