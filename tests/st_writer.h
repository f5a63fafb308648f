/* Safetensors images built in memory, for tests of presses that take artefacts. */
#ifndef KVP_TEST_ST_WRITER_H
#define KVP_TEST_ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "kvpress/kvpress.h"

typedef struct st_tensor {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data; /* written as F32 */
} st_tensor;

/* The image of a file holding the n tensors in order, with `metadata` as the __metadata__
 * object's JSON members ("\"n_sink\": \"4\"") or NULL; free() it. */
unsigned char *st_build(const st_tensor *t, int n, const char *metadata, size_t *size);
/* The same, loaded as an artefact (checked: the test fails on error). */
kvp_artefact *st_artefact(const st_tensor *t, int n, const char *metadata);

#endif
