/* The safetensors writer: the one C implementation of the artefact format libkvpress reads
 * (kvp_artefact_load). kvpress-tool calibrate writes its CompressKV artefacts with it, and the
 * Check suites build the artefacts they hand to presses with it (tests/harness.h: st_artefact,
 * st_load). The Python converters of tools/artefacts have their own, tools/artefacts/
 * safetensors_io.py.
 *
 * The file is an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range plus, when there is any, a "__metadata__" object of strings (written
 * first), then the data. Tensors are written in the order they were added, and the header is
 * padded with spaces to a multiple of 8 bytes, so the same content always gives the same bytes.
 * Only F32 tensors of 1 to 4 dimensions are written.
 *
 * Usage: st_writer_create, st_writer_add_f32 / st_writer_add_meta, then any number of
 * st_writer_to_memory, st_writer_to_artefact or st_writer_save (the writer may take more
 * tensors in between), and st_writer_free. */
#ifndef KVP_TOOL_SAFETENSORS_H
#define KVP_TOOL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kvpress/kvpress.h"

typedef struct st_writer st_writer;

/* NULL when out of memory. */
st_writer *st_writer_create(void);
void st_writer_free(st_writer *w);

/* Each returns 0, or -1 with a message in err (duplicate name, bad shape, out of memory).
 * The name, value and data are copied. */
int st_writer_add_f32(st_writer *w, const char *name, int ndim, const int64_t *shape,
                      const float *data, char *err, size_t err_size);
int st_writer_add_meta(st_writer *w, const char *key, const char *value, char *err,
                       size_t err_size);

/* The whole file in a malloc'd buffer. */
int st_writer_to_memory(const st_writer *w, unsigned char **data, size_t *size, char *err,
                        size_t err_size);
/* The file loaded as an artefact (kvp_artefact_load_memory), with no file on disk in between.
 * 0, or -1 with *out NULL and a message in err: the writer's ("safetensors: ..."), or the
 * library's own (kvp_last_error()) when it refuses the file. */
int st_writer_to_artefact(const st_writer *w, kvp_artefact **out, char *err, size_t err_size);
/* Writes the file (through a temporary name in the same folder, then a rename, so that a
 * failure never leaves a truncated artefact behind). */
int st_writer_save(const st_writer *w, const char *path, char *err, size_t err_size);

#endif
